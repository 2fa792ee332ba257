"""load_ledger: read the configured ledger source, validate every row, apply the policy."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date

import pandas as pd

from recon.config import AccountMapping, LedgerConfig
from recon.errors import ConfigError, InputError, NothingCheckedError, RowProblem
from recon.ledger.csv_source import read_csv_table
from recon.ledger.sql_source import read_sql_table
from recon.ledger.table import RawTable
from recon.ledger.validate import mapped_columns, validate
from recon.ledger.xlsx_source import read_xlsx_table

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LedgerLoad:
    """The ledger rows of one window, and every row that was refused.

    ``frame`` has exactly :data:`recon.frames.LEDGER_COLUMNS` (amount_minor int64 in house sign,
    date datetime64[ns]) and only rows dated inside the window. ``rejected`` is empty unless the
    policy is ``quarantine``. ``total_rows`` counts the data rows the source gave (for SQL: the
    rows inside the window, since the window is applied by the database).
    """

    frame: pd.DataFrame
    rejected: tuple[RowProblem, ...]
    source: str
    content_hash: str
    total_rows: int


def load_ledger(
    config: LedgerConfig,
    accounts: Sequence[AccountMapping],
    *,
    window_start: date,
    window_end: date,
    environ: Mapping[str, str] = os.environ,
) -> LedgerLoad:
    """Read and validate the ledger; raise InputError listing every bad row under ``fail``.

    Nothing is written anywhere: the caller stores the result (``save_snapshot``) only after
    this returns. Problems that make the whole source unusable (missing columns, card security
    data) raise InputError whatever the policy.
    """
    if window_end < window_start:
        raise ValueError(f"window ends ({window_end}) before it starts ({window_start})")
    raw = _read(config, window_start=window_start, window_end=window_end, environ=environ)
    if raw.total_rows == 0:  # a header-only export: matching it would report "all clear"
        raise NothingCheckedError(f"{raw.source}: the ledger has no data rows; nothing was "
                                  "reconciled")
    checked = validate(raw, config, accounts, window_start=window_start, window_end=window_end)
    if checked.fatal or (checked.problems and config.on_invalid == "fail"):
        raise InputError(list(checked.problems), source=raw.source)
    if checked.problems:
        log.warning(
            "ledger rows quarantined",
            extra={"source": raw.source, "rejected": len(checked.problems),
                   "total_rows": raw.total_rows},
        )
    return LedgerLoad(
        frame=checked.frame,
        rejected=checked.problems,
        source=raw.source,
        content_hash=raw.content_hash,
        total_rows=raw.total_rows,
    )


def _read(
    config: LedgerConfig,
    *,
    window_start: date,
    window_end: date,
    environ: Mapping[str, str],
) -> RawTable:
    wanted = mapped_columns(config)
    if config.source == "sql":
        assert config.sql is not None  # LedgerConfig guarantees it
        return read_sql_table(config.sql, wanted, date_column=config.columns.date,
                              window_start=window_start, window_end=window_end, environ=environ)
    if config.path is None:
        raise ConfigError([f"ledger.path: needed for a {config.source} ledger"])
    if config.source == "csv":
        return read_csv_table(config.path, config.csv, wanted)
    return read_xlsx_table(config.path, config.xlsx, wanted)
