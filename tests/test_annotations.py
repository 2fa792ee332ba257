"""Annotations round trip: what analysts write in a workbook reaches the store and the next
report (item status / owner / notes, accepted or rejected suggestions, statement sign-offs)."""

from __future__ import annotations

import warnings
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from openpyxl import load_workbook
from sqlalchemy import Engine, select
from test_report_support import AS_OF, discrepancy, inputs, insert_run, link, result

from recon.errors import InputError
from recon.reporting import build_report
from recon.reporting.annotations import import_annotations
from recon.reporting.excel import (
    ACTION_SHEET,
    REVIEW_SHEET,
    STATEMENT_SHEET,
    TIMING_SHEET,
    write_excel,
)
from recon.store.results import save_reconciliation
from recon.store.reviews import latest_link_decisions, sign_offs_for
from recon.store.schema import discrepancies, link_reviews

DAY2 = date(2024, 3, 16)
ITEMS = [discrepancy("d-1", "unmatched_bank", 2000, bank="b1"),
         discrepancy("d-2", "unmatched_ledger", 3000, side="ledger", ledger="l2")]
SUGGESTED = [link("m-s", "b9", "l9", "suggested"), link("m-t", "b8", "l8", "suggested")]


def _run(engine: Engine, run_id: str, as_of: date, tmp_path: Path,
         account_set: str = "operating", items: list[dict[str, Any]] | None = None) -> Path:
    match_result = result(
        links=SUGGESTED,
        discrepancies=[{**d, "age_days": (as_of - d["date"]).days} for d in items or ITEMS])
    with engine.begin() as connection:
        insert_run(connection, run_id, as_of)
        carry = save_reconciliation(connection, run_id=run_id, as_of=as_of, result=match_result)
        sign_offs = sign_offs_for(connection, as_of, ["ops-usd", "ops-jpy"])
    report = build_report(replace_sign_offs(inputs(match_result, carry, as_of=as_of,
                                                   run_id=run_id, account_set=account_set),
                                            sign_offs))
    return write_excel(report, tmp_path / f"reconciliation-{as_of}-{run_id}.xlsx")


def replace_sign_offs(base: Any, sign_offs: Any) -> Any:
    from dataclasses import replace

    return replace(base, sign_offs=sign_offs)


def _workbook(path: Path, **kwargs: Any) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # data bars: an extension openpyxl drops
        return load_workbook(path, **kwargs)


def _edit(path: Path, sheet: str, item_id: str, **values: object) -> None:
    workbook = _workbook(path)
    header = [c.value for c in workbook[sheet][2]]
    row = next(r[0].row for r in workbook[sheet].iter_rows(min_row=3) if r[0].value == item_id)
    for name, value in values.items():
        workbook[sheet].cell(row=row, column=header.index(name) + 1, value=value)
    workbook.save(path)


def test_an_annotation_imported_after_one_run_appears_in_the_next_report(
    store: Engine, tmp_path: Path,
) -> None:
    first = _run(store, "run-1", AS_OF, tmp_path)
    _edit(first, ACTION_SHEET, "d-1", Status="explained", Owner="ana", Notes="fee, clears Monday")

    imported = import_annotations(store, first, expected_account_set="operating")

    assert imported.updated == ("d-1",) and imported.statuses == {"explained": 1}
    assert str(imported).startswith(f"{first.name}: 2 rows read from the reconciliation as of "
                                    "2024-03-15: 1 item updated (1 explained), 0 suggestions")
    second = _run(store, "run-2", DAY2, tmp_path)
    row = next(_workbook(second)[ACTION_SHEET].iter_rows(min_row=3, max_col=4,
                                                         values_only=True))
    assert row == ("d-1", "explained", "ana", "fee, clears Monday")
    with store.connect() as connection:
        stored = connection.execute(select(discrepancies.c.status, discrepancies.c.owner).where(
            discrepancies.c.discrepancy_id == "d-1")).one()
    assert tuple(stored) == ("explained", "ana")


def test_suggestions_are_accepted_or_rejected_and_the_statement_signed(
    store: Engine, tmp_path: Path,
) -> None:
    path = _run(store, "run-1", AS_OF, tmp_path)
    workbook = _workbook(path)
    review = workbook[REVIEW_SHEET]
    rows = {r[0].value: r[0].row for r in review.iter_rows(min_row=3)}
    review.cell(row=rows["m-s"], column=2, value="accept")
    review.cell(row=rows["m-s"], column=3, value="Bob")
    review.cell(row=rows["m-t"], column=2, value="reject")
    review.cell(row=rows["m-t"], column=3, value="Bob")
    statement = workbook[STATEMENT_SHEET]
    prepared = next(r for r in statement.iter_rows() if str(r[0].value).startswith("Prepared"))
    prepared[1].value, prepared[2].value = "Carol", date(2024, 3, 16)
    workbook.save(path)

    imported = import_annotations(store, path)

    assert (imported.accepted, imported.rejected, imported.sign_offs) == (1, 1, 1)
    with store.connect() as connection:
        decisions = latest_link_decisions(connection)
        reviews = connection.execute(select(link_reviews.c.match_id, link_reviews.c.decision,
                                            link_reviews.c.reviewer,
                                            link_reviews.c.bank_transaction_id)).all()
        signed = sign_offs_for(connection, AS_OF, ["ops-usd"])
    assert {m: d.decision for m, d in decisions.items()} == {"m-s": "accepted",
                                                             "m-t": "rejected"}
    assert sorted(tuple(r) for r in reviews) == [("m-s", "accepted", "Bob", "b9"),
                                                 ("m-t", "rejected", "Bob", "b8")]
    assert signed["ops-usd"].prepared_by == "Carol"
    again = _run(store, "run-2", AS_OF, tmp_path)
    statement = _workbook(again)[STATEMENT_SHEET]
    prepared = next(r for r in statement.iter_rows() if str(r[0].value).startswith("Prepared"))
    assert prepared[1].value == "Carol"


def test_a_workbook_from_another_account_set_is_refused(store: Engine, tmp_path: Path) -> None:
    path = _run(store, "run-1", AS_OF, tmp_path, account_set="treasury")
    with pytest.raises(InputError, match=r"\[_meta\].*account set 'treasury', not 'operating'"):
        import_annotations(store, path, expected_account_set="operating")


def test_a_workbook_made_before_a_same_date_re_run_is_applied_by_id(
    store: Engine, tmp_path: Path,
) -> None:
    stale = _run(store, "run-1", AS_OF, tmp_path)
    _run(store, "run-2", AS_OF, tmp_path, items=ITEMS[1:])  # d-1 has resolved since
    _edit(stale, TIMING_SHEET, "d-2", Owner="ana")
    _edit(stale, ACTION_SHEET, "d-1", Status="written_off")

    imported = import_annotations(store, stale)

    assert imported.updated == ("d-2",) and imported.skipped == 1
    assert "1 skipped (resolved or no longer suggested since)" in str(imported)
    with store.connect() as connection:
        statuses = dict(connection.execute(select(discrepancies.c.discrepancy_id,
                                                  discrepancies.c.status)).all())
    assert statuses == {"d-1": "resolved", "d-2": "open"}


def test_a_tampered_id_and_bad_values_are_refused_by_sheet_row_and_column(
    store: Engine, tmp_path: Path,
) -> None:
    path = _run(store, "run-1", AS_OF, tmp_path)
    _edit(path, ACTION_SHEET, "d-1", **{"Item id": "d-999"})
    _edit(path, TIMING_SHEET, "d-2", Status="done", Owner="x" * 101)

    with pytest.raises(InputError) as caught:
        import_annotations(store, path)

    message = str(caught.value)
    assert "[Needs action], row 3, column 'A (Item id)': d-999 is not a discrepancy" in message
    assert "[Timing items], row 3, column 'B (Status)': status must be one of" in message
    assert "[Timing items], row 3, column 'C (Owner)': owner is longer than 100" in message
    with store.connect() as connection:
        assert set(connection.execute(select(discrepancies.c.status)).scalars()) == {"open"}


def test_a_removed_row_is_refused_by_the_checksum(store: Engine, tmp_path: Path) -> None:
    path = _run(store, "run-1", AS_OF, tmp_path)
    workbook = _workbook(path)
    workbook[TIMING_SHEET].delete_rows(3)
    workbook.save(path)
    with pytest.raises(InputError, match="item ids differ"):
        import_annotations(store, path)


def test_a_file_that_is_not_a_report_workbook_is_refused(store: Engine, tmp_path: Path) -> None:
    path = tmp_path / "notes.xlsx"
    path.write_bytes(b"not a zip")
    with pytest.raises(InputError, match="cannot read the workbook"):
        import_annotations(store, path)
