"""Reading analysts' annotations (status, owner, notes) back from a report workbook.

The workbook's hidden ``_meta`` sheet names the run set it was generated from (run id, as-of
date, account set, a checksum of the discrepancy ids). The import refuses, with every problem
listed by sheet, row and column, a workbook from another run set, a re-run date, an id that is
not in that reconciliation, an edited id and invalid values; otherwise it applies all changes in
one transaction. A resolved item is never reopened by a stale ``open`` in the workbook.
"""

from __future__ import annotations

import zipfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any, Final

from openpyxl import load_workbook
from openpyxl.utils import get_column_letter
from openpyxl.utils.exceptions import InvalidFileException
from sqlalchemy import Engine, bindparam, select, update

from recon.carry import ANALYST_STATUSES, RESOLVED
from recon.errors import InputError, RowProblem
from recon.frames import DISCREPANCY_KINDS
from recon.ledger.xlsx_source import is_formula
from recon.limits import check_xlsx
from recon.reporting.excel import (
    META_FORMAT,
    META_SHEET,
    discrepancy_id_checksum,
    discrepancy_sheet_title,
)
from recon.store.schema import discrepancies, discrepancy_sightings

MAX_OWNER: Final = 100
MAX_NOTES: Final = 2_000
_CHUNK: Final = 2_000


@dataclass(frozen=True)
class AnnotationImport:
    run_id: str
    as_of: date
    account_set: str
    rows_read: int
    updated: tuple[str, ...]  # discrepancy ids whose status, owner or notes changed


@dataclass(frozen=True)
class _Row:
    sheet: str
    row: int
    kind: str
    discrepancy_id: str
    status: str | None  # None: the cell is empty, keep the stored status
    owner: str | None
    notes: str | None


@dataclass(frozen=True)
class _Meta:
    run_id: str
    as_of: date
    account_set: str
    checksum: str


def _cell_text(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def _read_meta(workbook: Any, source: str) -> _Meta:
    if META_SHEET not in workbook.sheetnames:
        raise InputError(f"sheet {META_SHEET!r} is missing: not a recon report workbook", source)
    values: dict[str, str] = {}
    for row in workbook[META_SHEET].iter_rows(min_row=1, max_col=2, values_only=True):
        if row and row[0] is not None:
            values[str(row[0])] = "" if row[1] is None else str(row[1])
    problems = [RowProblem(f"{source} [{META_SHEET}]", None, key, "missing")
                for key in ("format", "run_id", "as_of", "account_set", "discrepancy_id_sha256")
                if not values.get(key)]
    if not problems and values["format"] != META_FORMAT:
        problems.append(RowProblem(f"{source} [{META_SHEET}]", None, "format",
                                   f"unsupported workbook format {values['format']!r}"))
    try:
        as_of = date.fromisoformat(values.get("as_of", ""))
    except ValueError:
        problems.append(RowProblem(f"{source} [{META_SHEET}]", None, "as_of", "not a date"))
    if problems:
        raise InputError(problems, source)
    return _Meta(values["run_id"], as_of, values["account_set"], values["discrepancy_id_sha256"])


def _header_index(header: Sequence[Any]) -> dict[str, int]:
    names = {str(v).strip().lower(): i for i, v in enumerate(header) if v is not None}
    if "note" in names and "notes" not in names:
        names["notes"] = names["note"]
    return names


def _read_rows(workbook: Any, source: str, problems: list[RowProblem]) -> list[_Row]:
    rows: list[_Row] = []
    for kind in DISCREPANCY_KINDS:
        title = discrepancy_sheet_title(kind)
        where = f"{source} [{title}]"
        if title not in workbook.sheetnames:
            problems.append(RowProblem(where, None, None, "sheet is missing"))
            continue
        iterator: Iterator[tuple[Any, ...]] = workbook[title].iter_rows(values_only=True)
        header = next(iterator, ())
        columns = _header_index(header)
        missing = [c for c in ("discrepancy_id", "status", "owner", "notes") if c not in columns]
        if missing:
            problems.append(RowProblem(where, 1, None, f"missing column(s) {', '.join(missing)}"))
            continue

        def column(name: str, columns: dict[str, int] = columns) -> str:
            return f"{get_column_letter(columns[name] + 1)} ({name})"

        for number, values in enumerate(iterator, start=2):
            def get(name: str, values: tuple[Any, ...] = values,
                    columns: dict[str, int] = columns) -> Any:
                index = columns[name]
                return values[index] if index < len(values) else None

            discrepancy_id = _cell_text(get("discrepancy_id"))
            status, owner, notes = (_cell_text(get(n)) for n in ("status", "owner", "notes"))
            if discrepancy_id is None:
                if status or owner or notes:
                    problems.append(RowProblem(where, number, column("discrepancy_id"),
                                               "annotation without a discrepancy id"))
                continue
            if status is not None and status not in ANALYST_STATUSES:
                problems.append(RowProblem(where, number, column("status"),
                                           f"status must be one of {', '.join(ANALYST_STATUSES)}"))
            if owner is not None and len(owner) > MAX_OWNER:
                problems.append(RowProblem(where, number, column("owner"),
                                           f"owner is longer than {MAX_OWNER} characters"))
            if notes is not None and len(notes) > MAX_NOTES:
                problems.append(RowProblem(where, number, column("notes"),
                                           f"notes are longer than {MAX_NOTES} characters"))
            rows.append(_Row(title, number, kind, discrepancy_id, status, owner, notes))
    return rows


_ANNOTATED = ("status", "owner", "notes")


def _formulas_without_values(path: Path, source: str, rows: Sequence[_Row]) -> list[RowProblem]:
    """Empty annotation cells that are really formulas Excel never computed (a file saved by a
    tool that does not calculate): refused, never imported as an empty value."""
    empty = {(row.sheet, row.row, name) for row in rows for name in _ANNOTATED
             if getattr(row, name) is None}
    if not empty:
        return []
    problems: list[RowProblem] = []
    workbook = load_workbook(path, read_only=True, data_only=False)
    try:
        for title in sorted({sheet for sheet, _row, _name in empty}):
            iterator: Iterator[tuple[Any, ...]] = workbook[title].iter_rows(values_only=True)
            columns = _header_index(next(iterator, ()))
            for number, values in enumerate(iterator, start=2):
                for name in _ANNOTATED:
                    index = columns[name]
                    value = values[index] if index < len(values) else None
                    if (title, number, name) in empty and is_formula(value):
                        problems.append(RowProblem(
                            f"{source} [{title}]", number,
                            f"{get_column_letter(index + 1)} ({name})",
                            "formula without a cached value (open and save the file in Excel "
                            "so the value is computed, or type the text)"))
    finally:
        workbook.close()
    return problems


def _chunks(values: Sequence[str]) -> Iterator[Sequence[str]]:
    for start in range(0, len(values), _CHUNK):
        yield values[start : start + _CHUNK]


def import_annotations(
    engine: Engine, path: Path, *, expected_account_set: str | None = None
) -> AnnotationImport:
    """Validate the workbook's annotations against the store and apply them atomically."""
    source = path.name
    check_xlsx(path, source=source, unreadable="cannot read the workbook")  # bombs stop here
    try:
        workbook = load_workbook(path, read_only=True, data_only=True)
    except (InvalidFileException, zipfile.BadZipFile, KeyError, OSError) as exc:
        raise InputError(f"cannot read the workbook ({type(exc).__name__})", source) from None
    try:
        meta = _read_meta(workbook, source)
        if expected_account_set is not None and meta.account_set != expected_account_set:
            raise InputError([RowProblem(
                f"{source} [{META_SHEET}]", None, "account_set",
                f"the workbook belongs to account set {meta.account_set!r}, "
                f"not {expected_account_set!r}")], source)
        problems: list[RowProblem] = []
        rows = _read_rows(workbook, source, problems)
    finally:
        workbook.close()
    problems += _formulas_without_values(path, source, rows)

    seen: dict[str, _Row] = {}
    for row in rows:
        if row.discrepancy_id in seen:
            first = seen[row.discrepancy_id]
            problems.append(RowProblem(f"{source} [{row.sheet}]", row.row, "A (discrepancy_id)",
                                       f"duplicate id (also on {first.sheet!r} row {first.row})"))
        else:
            seen[row.discrepancy_id] = row

    with engine.begin() as connection:
        ids = sorted(seen)
        stored: dict[str, Any] = {}
        sighted: dict[str, str] = {}
        for chunk in _chunks(ids):
            stored.update((r.discrepancy_id, r) for r in connection.execute(
                select(discrepancies.c.discrepancy_id, discrepancies.c.kind,
                       discrepancies.c.status, discrepancies.c.owner, discrepancies.c.notes)
                .where(discrepancies.c.discrepancy_id.in_(chunk))))
            sighted.update((r.discrepancy_id, r.run_id) for r in connection.execute(
                select(discrepancy_sightings.c.discrepancy_id, discrepancy_sightings.c.run_id)
                .where(discrepancy_sightings.c.as_of == meta.as_of,
                       discrepancy_sightings.c.discrepancy_id.in_(chunk))))
        for row in seen.values():
            where = f"{source} [{row.sheet}]"
            record = stored.get(row.discrepancy_id)
            if record is None or row.discrepancy_id not in sighted:
                problems.append(RowProblem(where, row.row, "A (discrepancy_id)",
                                           f"not a discrepancy of the reconciliation as of "
                                           f"{meta.as_of.isoformat()} (edited id?)"))
            elif sighted[row.discrepancy_id] != meta.run_id:
                problems.append(RowProblem(where, row.row, "A (discrepancy_id)",
                                           f"{meta.as_of.isoformat()} was reconciled again after "
                                           "this workbook was made; annotate the newer report"))
            elif record.kind != row.kind:
                problems.append(RowProblem(where, row.row, "A (discrepancy_id)",
                                           f"the id is a {record.kind} item, not this sheet's"))
        if not problems and discrepancy_id_checksum(seen) != meta.checksum:
            problems.append(RowProblem(f"{source} [{META_SHEET}]", None, "discrepancy_id_sha256",
                                       "the discrepancy ids differ from the report's "
                                       "(rows were removed or ids edited)"))
        if problems:
            raise InputError(problems, source)

        updates: list[dict[str, str | None]] = []
        updated_ids: list[str] = []
        for row in seen.values():
            record = stored[row.discrepancy_id]
            status = record.status if row.status is None else row.status
            if record.status == RESOLVED and status == "open":
                status = RESOLVED  # the item has cleared since; a stale "open" must not reopen it
            if (status, row.owner, row.notes) != (record.status, record.owner, record.notes):
                updated_ids.append(row.discrepancy_id)
                updates.append({"b_id": row.discrepancy_id, "v_status": status,
                                "v_owner": row.owner, "v_notes": row.notes})
        if updates:
            connection.execute(
                update(discrepancies)
                .where(discrepancies.c.discrepancy_id == bindparam("b_id"))
                .values(status=bindparam("v_status"), owner=bindparam("v_owner"),
                        notes=bindparam("v_notes")),
                updates,
            )
    return AnnotationImport(
        run_id=meta.run_id,
        as_of=meta.as_of,
        account_set=meta.account_set,
        rows_read=len(rows),
        updated=tuple(sorted(updated_ids)),
    )
