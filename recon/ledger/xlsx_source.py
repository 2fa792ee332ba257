"""XLSX ledgers: openpyxl in read-only mode, cached values only, defusedxml required.

An untrusted workbook can hold formulas (we read the value Excel last computed, never evaluate
anything) and hostile XML (defusedxml, which openpyxl uses when it is installed, refuses entity
expansion). A formula cell without a cached value reads as empty; a second, formula-text pass
over the rows that have empty wanted cells tells those apart from really empty cells.
"""

from __future__ import annotations

import hashlib
import zipfile
from collections.abc import Collection
from pathlib import Path
from typing import Any

import numpy as np
import openpyxl
from openpyxl.xml import DEFUSEDXML

from recon.config import XlsxOptions
from recon.errors import InputError, RowProblem
from recon.ledger.table import RawTable, typed_column
from recon.limits import check_xlsx

# Excel's own sheet limit; a "sheet" with more rows did not come from Excel (C-6).
MAX_XLSX_ROWS = 1_048_576


def read_xlsx_table(path: Path, options: XlsxOptions, wanted: Collection[str]) -> RawTable:
    source = str(path)
    if not DEFUSEDXML:  # pragma: no cover - defusedxml is a dependency of recon
        raise InputError("refusing to read an XLSX file without defusedxml installed",
                         source=source)
    check_xlsx(path)  # bombs and oversized workbooks stop here, before openpyxl allocates
    try:
        with path.open("rb") as handle:
            content_hash = hashlib.file_digest(handle, "sha256").hexdigest()
    except OSError as exc:
        raise InputError(f"cannot read the ledger file: {exc.strerror}", source=source) from None

    rows = _sheet_rows(path, options, data_only=True)
    try:
        header_cells = next(rows)
    except StopIteration:
        raise InputError([RowProblem(source, options.header_row, None,
                                     "the header row is empty")], source=source) from None
    header = tuple("" if cell is None else str(cell).strip() for cell in header_cells)
    positions = {name: header.index(name) for name in wanted if name in header}

    cells: dict[str, list[object]] = {name: [] for name in positions}
    row_numbers: list[int] = []
    rows_with_empty_cells: list[int] = []
    for offset, values in enumerate(rows, start=1):
        number = options.header_row + offset
        if number > MAX_XLSX_ROWS:
            raise InputError([RowProblem(source, number, None,
                                         f"more than {MAX_XLSX_ROWS} rows: refused")],
                             source=source)
        if all(value is None or value == "" for value in values):
            continue  # a blank row
        row_numbers.append(number)
        has_empty = False
        for name, index in positions.items():
            value = values[index] if index < len(values) else None
            has_empty = has_empty or value is None
            cells[name].append(value)
        if has_empty:
            rows_with_empty_cells.append(number)

    problems: list[RowProblem] = []
    if rows_with_empty_cells:
        problems = _formulas_without_values(path, options, source, positions,
                                            set(rows_with_empty_cells))
    return RawTable(
        source=source,
        header=header,
        columns={name: typed_column(values) for name, values in cells.items()},
        row_numbers=np.asarray(row_numbers, dtype=np.int64),
        problems=tuple(problems),
        content_hash=content_hash,
        total_rows=len(row_numbers),
        date_format=options.date_format,
        header_row=options.header_row,
    )


def _sheet_rows(path: Path, options: XlsxOptions, *, data_only: bool) -> Any:
    """Rows of the configured sheet from the header row on, as tuples of values."""
    source = str(path)
    try:
        workbook = openpyxl.load_workbook(path, read_only=True, data_only=data_only)
    except (zipfile.BadZipFile, KeyError, ValueError, OSError) as exc:
        raise InputError(f"not a readable XLSX workbook ({type(exc).__name__})",
                         source=source) from None
    try:
        if options.sheet is None:
            sheet = _shown_sheet(workbook, source)
        elif options.sheet in workbook.sheetnames:
            sheet = workbook[options.sheet]
        else:
            raise InputError(
                f"no sheet named {options.sheet!r} (sheets: {', '.join(workbook.sheetnames)})",
                source=source,
            )
        # The stored dimension can be wrong; read to the real last row.
        sheet.reset_dimensions()
        yield from sheet.iter_rows(min_row=options.header_row, values_only=True)
    finally:
        workbook.close()


def _shown_sheet(workbook: Any, source: str) -> Any:
    """The sheet Excel opens on (the active one) when no sheet is named. A hidden sheet (an old
    export someone tucked away) is never read unless the config names it."""
    visible = [ws for ws in workbook.worksheets if ws.sheet_state == "visible"]
    if not visible:
        raise InputError("every sheet is hidden; name the ledger sheet in ledger.xlsx.sheet",
                         source=source)
    active = workbook.active
    return active if active is not None and active.sheet_state == "visible" else visible[0]


def _formulas_without_values(
    path: Path,
    options: XlsxOptions,
    source: str,
    positions: dict[str, int],
    candidate_rows: set[int],
) -> list[RowProblem]:
    problems: list[RowProblem] = []
    rows = _sheet_rows(path, options, data_only=False)
    next(rows, None)  # header
    for offset, values in enumerate(rows, start=1):
        number = options.header_row + offset
        if number not in candidate_rows:
            continue
        for name, index in positions.items():
            value = values[index] if index < len(values) else None
            if is_formula(value):
                problems.append(RowProblem(
                    source, number, name,
                    "formula without a cached value (open and save the file in Excel so the "
                    "value is computed)",
                ))
    return problems


def is_formula(value: object) -> bool:
    if isinstance(value, str):
        return value.startswith("=")
    # Array and data-table formulas come back as objects that carry the formula text.
    return type(value).__name__ in {"ArrayFormula", "DataTableFormula"}
