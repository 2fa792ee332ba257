"""SQL ledgers: a table or a query, with the window pushed into WHERE as bound parameters.

The database URL comes from the environment variable named in the config (it holds a
password); messages name the variable or show the URL without its password. Table and column
names go through SQLAlchemy's identifier quoting, never through string formatting.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Mapping
from datetime import date
from typing import Any

import numpy as np
from sqlalchemy import (
    Connection,
    bindparam,
    column,
    create_engine,
    inspect,
    select,
    table,
    text,
)
from sqlalchemy.exc import ArgumentError, NoSuchTableError, OperationalError, ProgrammingError
from sqlalchemy.sql import Executable

from recon.config import SqlOptions
from recon.errors import ConfigError, UpstreamError
from recon.ledger.table import RawTable, cell_text, typed_column
from recon.store.db import describe_url, normalise_url

# Dates that a database returns as text (SQLite) are read as ISO dates; SqlOptions has no format.
SQL_TEXT_DATE_FORMAT = "%Y-%m-%d"


def sql_source_name(options: SqlOptions) -> str:
    return f"table {options.table}" if options.table is not None else "ledger query"


def read_sql_table(
    options: SqlOptions,
    wanted: Collection[str],
    *,
    date_column: str,
    window_start: date,
    window_end: date,
    environ: Mapping[str, str],
) -> RawTable:
    url = environ.get(options.url_env, "")
    if not url:
        raise ConfigError([f"ledger.sql.url_env: the environment variable {options.url_env} "
                           f"is not set"])
    try:
        engine = create_engine(normalise_url(url), hide_parameters=True)
    except (ArgumentError, ImportError) as exc:
        raise ConfigError([f"ledger.sql.url_env: {options.url_env} does not hold a usable "
                           f"database URL ({type(exc).__name__})"]) from None
    try:
        with engine.connect() as connection:
            header, keys, rows = _fetch(connection, options, wanted, date_column, window_start,
                                  window_end)
    except OperationalError as exc:
        raise UpstreamError(f"cannot read the ledger from {describe_url(url)}: "
                            f"{type(exc.orig).__name__}") from None
    finally:
        engine.dispose()

    positions = {name: keys.index(name) for name in wanted if name in keys}
    columns = {name: typed_column([row[index] for row in rows])
               for name, index in positions.items()}
    return RawTable(
        source=sql_source_name(options),
        header=header,
        columns=columns,
        row_numbers=np.arange(1, len(rows) + 1, dtype=np.int64),
        problems=(),
        content_hash=_canonical_hash(keys, rows),
        total_rows=len(rows),
        date_format=SQL_TEXT_DATE_FORMAT,
        header_row=None,
    )


def window_statement(
    connection: Connection,
    options: SqlOptions,
    wanted: Collection[str],
    date_column: str,
) -> tuple[tuple[str, ...], Executable | None]:
    """The header and the SELECT for the window (None when the wanted date column is missing)."""
    if options.query is not None:
        return (), text(options.query)
    assert options.table is not None  # SqlOptions guarantees table or query
    schema, _, name = options.table.rpartition(".")
    try:
        described = inspect(connection).get_columns(name, schema=schema or None)
    except NoSuchTableError:
        raise ConfigError([f"ledger.sql.table: no table {options.table!r} in the ledger "
                           f"database"]) from None
    header = tuple(str(col["name"]) for col in described)
    present = [name for name in header if name in wanted]
    if date_column not in header:
        return header, None
    ledger = table(name, *(column(col) for col in present), schema=schema or None)
    statement = (
        select(*ledger.c)
        .where(ledger.c[date_column] >= bindparam("start"))
        .where(ledger.c[date_column] <= bindparam("end"))
    )
    return header, statement


def _fetch(
    connection: Connection,
    options: SqlOptions,
    wanted: Collection[str],
    date_column: str,
    window_start: date,
    window_end: date,
) -> tuple[tuple[str, ...], tuple[str, ...], list[tuple[Any, ...]]]:
    """The source's column names, the selected column names and the rows in the window."""
    header, statement = window_statement(connection, options, wanted, date_column)
    if statement is None:
        return header, (), []  # validation reports the missing date column
    # SQLite keeps dates as ISO text; other databases get real dates.
    is_sqlite = connection.dialect.name == "sqlite"
    params: dict[str, Any] = {
        "start": window_start.isoformat() if is_sqlite else window_start,
        "end": window_end.isoformat() if is_sqlite else window_end,
    }
    try:
        result = connection.execute(statement, params)
    except ProgrammingError as exc:
        raise ConfigError([f"ledger.sql: the ledger query failed ({type(exc.orig).__name__})"]
                          ) from None
    keys = tuple(str(key) for key in result.keys())  # noqa: SIM118 - a Result, not a dict
    return (header or keys), keys, [tuple(row) for row in result]


def _canonical_hash(header: tuple[str, ...], rows: list[tuple[Any, ...]]) -> str:
    """sha256 of the rows as text, sorted: the same data gives the same hash in any order."""
    digest = hashlib.sha256("\x1f".join(header).encode())
    for line in sorted("\x1f".join(cell_text(cell) for cell in row) for row in rows):
        digest.update(b"\x1e")
        digest.update(line.encode("utf-8", errors="surrogatepass"))
    return digest.hexdigest()
