"""Annotations round trip: status, owner and notes edited in a workbook reach the next report."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from openpyxl import load_workbook
from sqlalchemy import Engine, select
from test_report_support import AS_OF, discrepancy, inputs, insert_run, result

from recon.errors import InputError
from recon.reporting import build_report
from recon.reporting.annotations import import_annotations
from recon.reporting.excel import write_excel
from recon.store.results import save_reconciliation
from recon.store.schema import discrepancies

DAY2 = date(2024, 3, 16)
ITEMS = [discrepancy("d-1", "unmatched_bank", 2000, bank="b1"),
         discrepancy("d-2", "unmatched_ledger", 3000, side="ledger", ledger="l2")]


def _run(engine: Engine, run_id: str, as_of: date, tmp_path: Path,
         account_set: str = "operating") -> Path:
    match_result = result(discrepancies=[{**d, "age_days": (as_of - d["date"]).days}
                                         for d in ITEMS])
    with engine.begin() as connection:
        insert_run(connection, run_id, as_of)
        carry = save_reconciliation(connection, run_id=run_id, as_of=as_of, result=match_result)
    report = build_report(inputs(match_result, carry, as_of=as_of, run_id=run_id,
                                 account_set=account_set))
    return write_excel(report, tmp_path / f"reconciliation-{as_of}-{run_id}.xlsx")


def _edit(path: Path, sheet: str, row: int, **values: str) -> None:
    workbook = load_workbook(path)
    header = [c.value for c in workbook[sheet][1]]
    for name, value in values.items():
        workbook[sheet].cell(row=row, column=header.index(name) + 1, value=value)
    workbook.save(path)


def test_an_annotation_imported_after_one_run_appears_in_the_next_report(
    store: Engine, tmp_path: Path,
) -> None:
    first = _run(store, "run-1", AS_OF, tmp_path)
    _edit(first, "Unmatched bank", 2, status="explained", owner="ana", notes="fee, clears Monday")

    imported = import_annotations(store, first, expected_account_set="operating")

    assert imported.updated == ("d-1",) and imported.rows_read == 2
    second = _run(store, "run-2", DAY2, tmp_path)
    row = next(load_workbook(second)["Unmatched bank"].iter_rows(min_row=2, max_col=4,
                                                                 values_only=True))
    assert row == ("d-1", "explained", "ana", "fee, clears Monday")
    with store.connect() as connection:
        stored = connection.execute(select(discrepancies.c.status, discrepancies.c.owner).where(
            discrepancies.c.discrepancy_id == "d-1")).one()
    assert tuple(stored) == ("explained", "ana")


def test_a_workbook_from_another_account_set_is_refused(store: Engine, tmp_path: Path) -> None:
    path = _run(store, "run-1", AS_OF, tmp_path, account_set="treasury")
    with pytest.raises(InputError, match=r"\[_meta\].*account set 'treasury', not 'operating'"):
        import_annotations(store, path, expected_account_set="operating")


def test_a_workbook_of_a_date_that_was_re_run_is_refused(store: Engine, tmp_path: Path) -> None:
    stale = _run(store, "run-1", AS_OF, tmp_path)
    _run(store, "run-2", AS_OF, tmp_path)
    with pytest.raises(InputError, match="reconciled again"):
        import_annotations(store, stale)


def test_a_tampered_id_and_bad_values_are_refused_by_sheet_row_and_column(
    store: Engine, tmp_path: Path,
) -> None:
    path = _run(store, "run-1", AS_OF, tmp_path)
    _edit(path, "Unmatched bank", 2, discrepancy_id="d-999")
    _edit(path, "Unmatched ledger", 2, status="done", owner="x" * 101)

    with pytest.raises(InputError) as caught:
        import_annotations(store, path)

    message = str(caught.value)
    assert "[Unmatched bank], row 2, column 'A (discrepancy_id)': not a discrepancy" in message
    assert "[Unmatched ledger], row 2, column 'B (status)': status must be one of" in message
    assert "[Unmatched ledger], row 2, column 'C (owner)': owner is longer than 100" in message
    with store.connect() as connection:
        assert set(connection.execute(select(discrepancies.c.status)).scalars()) == {"open"}


def test_a_removed_row_is_refused_by_the_checksum(store: Engine, tmp_path: Path) -> None:
    path = _run(store, "run-1", AS_OF, tmp_path)
    workbook = load_workbook(path)
    workbook["Unmatched ledger"].delete_rows(2)
    workbook.save(path)
    with pytest.raises(InputError, match="discrepancy ids differ"):
        import_annotations(store, path)


def test_a_file_that_is_not_a_report_workbook_is_refused(store: Engine, tmp_path: Path) -> None:
    path = tmp_path / "notes.xlsx"
    path.write_bytes(b"not a zip")
    with pytest.raises(InputError, match="cannot read the workbook"):
        import_annotations(store, path)
