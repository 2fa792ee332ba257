"""What every ledger source hands to validation: the rows it could read, as raw cell values."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import Decimal

import numpy as np
import numpy.typing as npt
import pandas as pd

from recon.errors import RowProblem

# Longest text field recon accepts; longer ones are refused (C-1: a runaway quoted field).
MAX_FIELD_CHARS = 100_000


@dataclass(frozen=True)
class RawTable:
    """Rows as the source gave them, before any interpretation.

    ``columns`` holds the wanted columns that exist, aligned with ``row_numbers`` (1-based, as a
    spreadsheet shows them). CSV cells are str; XLSX and SQL cells keep their type (datetime,
    Decimal, int, float, str or None) until validation turns them into text or dates.
    ``problems`` are rows (or cells) the source could not read: broken quoting, a wrong number
    of fields, undecodable bytes, a formula without a cached value.
    ``control_free`` (every cell is a str without a control character), ``max_cell_chars`` (no
    cell is longer) and ``trimmed`` (no cell starts or ends with white space) are what a source
    proved from the raw bytes; validation then skips those scans.
    """

    source: str
    header: tuple[str, ...]
    columns: dict[str, pd.Series]
    row_numbers: npt.NDArray[np.int64]
    problems: tuple[RowProblem, ...]
    content_hash: str
    total_rows: int
    date_format: str
    header_row: int | None  # where the header is (CSV 1, XLSX as configured, SQL none)
    control_free: bool = False
    max_cell_chars: int | None = None  # None: unknown
    trimmed: bool = False


def cell_text(value: object) -> str:
    """A typed cell (XLSX, SQL) as the text a person would type for it; never via binary float.

    A float cell is written with its shortest round-trip digits, so 0.1 is "0.1" and a value
    that is not what it looks like (0.30000000000000004) keeps all its digits and is rejected
    by the amount rules instead of being rounded.
    """
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float):
        return format(Decimal(repr(value)), "f")
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, date | time):
        return value.isoformat()
    return str(value)


def typed_column(values: Sequence[object]) -> pd.Series:
    """Cells of one column as an object Series (no dtype inference: nothing is guessed)."""
    array = np.empty(len(values), dtype=object)
    array[:] = values
    return pd.Series(array, dtype=object)
