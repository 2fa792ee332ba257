"""Ledger snapshots: what the ledger said for a window at each run, so changes can be found.

Each entry carries a ``row_hash`` over its fields (not its id), so two snapshots tell which
entries appeared, disappeared or changed. The entries are written inside the caller's
transaction (a failed run leaves no partial snapshot) by the fastest bulk path of the database:
COPY on PostgreSQL (psycopg 3), one executemany of plain tuples on SQLite, SQLAlchemy's
executemany in chunks elsewhere. Every run stores its own copy, even when the ledger file is
unchanged: a snapshot belongs to one run (``ledger_snapshots.run_id``) and its rows depend on
the window and the account mapping as well as on the file, so sharing rows between runs would
need a column saying which snapshot a run reuses (a schema change).
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Connection, insert, select

from recon.frames import LEDGER_COLUMNS
from recon.ledger.load import LedgerLoad
from recon.store.schema import ledger_entries, ledger_snapshots, runs

INSERT_CHUNK_ROWS = 10_000
_COPY_CHUNK_ROWS = 100_000
_ENTRY_COLUMNS = ("snapshot_id", "entry_id", "account", "currency", "amount_minor", "date",
                  "description", "reference", "counterparty", "row_hash")
_TEXT_COLUMNS = ("entry_id", "account", "currency", "description", "reference", "counterparty")
# COPY's text format: these characters are written as backslash escapes.
_COPY_ESCAPES = (("\\", "\\\\"), ("\t", "\\t"), ("\n", "\\n"), ("\r", "\\r"))
_NOT_COPY_SPECIAL = bytes(b for b in range(256) if b not in b"\\\t\n\r")


@dataclass(frozen=True)
class SnapshotDiff:
    """Entry ids, sorted: new in the newer snapshot, gone from it, and present in both but
    different in any field."""

    appeared: tuple[str, ...]
    disappeared: tuple[str, ...]
    changed: tuple[str, ...]


def row_hash(account: str, currency: str, amount_minor: int, day: date, description: str,
             reference: str, counterparty: str) -> str:
    """32 hex digits over an entry's fields; unit-separated so no two field splits collide.

    The definition of the stored ``row_hash``: BLAKE2b (16-byte digest) of the UTF-8 text
    ``account␟currency␟amount_minor␟YYYY-MM-DD␟description␟reference␟counterparty`` (␟ is
    U+001F). It must never change, or every entry of older snapshots would look changed;
    save_snapshot computes the same for whole columns (tests compare the two).
    """
    canonical = "\x1f".join((account, currency, str(amount_minor), day.isoformat(), description,
                             reference, counterparty))
    return hashlib.blake2b(canonical.encode("utf-8"), digest_size=16).hexdigest()


def save_snapshot(
    connection: Connection,
    *,
    run_id: str,
    load: LedgerLoad,
    window_start: date,
    window_end: date,
    now: datetime,
) -> str:
    """Store the loaded ledger as a new snapshot of ``run_id`` (which must exist); its id."""
    snapshot_id = str(uuid.uuid4())
    connection.execute(insert(ledger_snapshots).values(
        snapshot_id=snapshot_id,
        run_id=run_id,
        source=load.source,
        content_hash=load.content_hash,
        window_start=window_start,
        window_end=window_end,
        row_count=len(load.frame),
        rejected_count=len(load.rejected),
        created_at=now,
    ))
    if load.frame.empty:
        return snapshot_id
    columns = _entry_columns(snapshot_id, load.frame)
    if connection.dialect.name == "postgresql" and connection.dialect.driver == "psycopg":
        _copy_entries(connection, columns)
    elif connection.dialect.name == "sqlite":
        _executemany_entries(connection, columns)
    else:
        for start in range(0, len(load.frame), INSERT_CHUNK_ROWS):
            rows = zip(*(values[start:start + INSERT_CHUNK_ROWS] for values in columns.values()),
                       strict=True)
            connection.execute(insert(ledger_entries),
                               [dict(zip(_ENTRY_COLUMNS, row, strict=True)) for row in rows])
    return snapshot_id


def _entry_columns(snapshot_id: str, frame: pd.DataFrame) -> dict[str, list[Any]]:
    """The ledger_entries columns as lists (dates as ISO text, which every backend accepts)."""
    text = {name: frame[name].to_numpy(dtype=object).tolist() for name in _TEXT_COLUMNS}
    amounts = frame["amount_minor"].to_numpy(dtype=np.int64).tolist()
    # A ledger has few distinct days: each is written once (as day.isoformat(), like row_hash).
    codes, uniques = pd.factorize(frame["date"])
    day_texts = np.asarray([day.date().isoformat() for day in uniques], dtype=object)
    days = day_texts[codes].tolist()
    # row_hash for the whole column: the same text and digest as row_hash(), one pass.
    canonical = map("\x1f".join, zip(text["account"], text["currency"], map(str, amounts), days,
                                     text["description"], text["reference"],
                                     text["counterparty"], strict=True))
    hashes = [hashlib.blake2b(line.encode("utf-8"), digest_size=16).hexdigest()
              for line in canonical]
    return {
        "snapshot_id": [snapshot_id] * len(frame),
        "entry_id": text["entry_id"],
        "account": text["account"],
        "currency": text["currency"],
        "amount_minor": amounts,
        "date": days,
        "description": text["description"],
        "reference": text["reference"],
        "counterparty": text["counterparty"],
        "row_hash": hashes,
    }


def _executemany_entries(connection: Connection, columns: dict[str, list[Any]]) -> None:
    """One executemany of plain tuples on the connection's own DB-API cursor (SQLite)."""
    compiled = insert(ledger_entries).compile(dialect=connection.dialect)
    order = compiled.positiontup or []
    driver = connection.connection.driver_connection
    assert driver is not None
    cursor = driver.cursor()
    try:
        cursor.executemany(str(compiled), zip(*(columns[name] for name in order), strict=True))
    finally:
        cursor.close()


def _copy_entries(connection: Connection, columns: dict[str, list[Any]]) -> None:
    """COPY ... FROM STDIN in text format through psycopg 3, in the caller's transaction."""
    preparer = connection.dialect.identifier_preparer
    statement = (
        f"COPY {preparer.format_table(ledger_entries)} "
        f"({', '.join(preparer.quote(name) for name in _ENTRY_COLUMNS)}) FROM STDIN"
    )
    fields = [_copy_text(values) if name in _TEXT_COLUMNS else list(map(str, values))
              for name, values in columns.items()]
    driver = connection.connection.driver_connection
    assert driver is not None
    with driver.cursor() as cursor, cursor.copy(statement) as copy:
        for block in _copy_blocks(fields):
            copy.write(block)


def _copy_text(values: list[str]) -> list[str]:
    """Text values escaped for COPY; untouched (one scan) when none holds a special char."""
    joined = "".join(values).encode("utf-8", errors="surrogatepass")
    if not joined.translate(None, _NOT_COPY_SPECIAL):
        return values
    escaped = []
    for value in values:
        for special, replacement in _COPY_ESCAPES:
            value = value.replace(special, replacement)
        escaped.append(value)
    return escaped


def _copy_blocks(fields: list[list[str]]) -> Iterator[bytes]:
    rows = len(fields[0])
    for start in range(0, rows, _COPY_CHUNK_ROWS):
        lines = map("\t".join, zip(*(values[start:start + _COPY_CHUNK_ROWS]
                                      for values in fields), strict=True))
        yield ("\n".join(lines) + "\n").encode("utf-8")


def latest_snapshot_id(connection: Connection, *, before_run_id: str | None = None) -> str | None:
    """The newest snapshot; with ``before_run_id``, the newest from a run that started before
    that run did (the one a run compares its own snapshot with)."""
    query = (
        select(ledger_snapshots.c.snapshot_id)
        .order_by(ledger_snapshots.c.created_at.desc(), ledger_snapshots.c.snapshot_id.desc())
        .limit(1)
    )
    if before_run_id is not None:
        started = (
            select(runs.c.started_at).where(runs.c.run_id == before_run_id).scalar_subquery()
        )
        query = query.join_from(ledger_snapshots, runs,
                                ledger_snapshots.c.run_id == runs.c.run_id).where(
            runs.c.started_at < started)
    return connection.execute(query).scalar_one_or_none()


def load_snapshot(connection: Connection, snapshot_id: str) -> pd.DataFrame:
    """A stored snapshot as a ledger frame (LEDGER_COLUMNS), ordered by entry id."""
    table = ledger_entries
    rows = connection.execute(
        select(*(table.c[name] for name in LEDGER_COLUMNS))
        .where(table.c.snapshot_id == snapshot_id)
        .order_by(table.c.entry_id)
    ).all()
    data = list(zip(*rows, strict=True)) if rows else [()] * len(LEDGER_COLUMNS)
    values = dict(zip(LEDGER_COLUMNS, data, strict=True))
    text = ("entry_id", "account", "currency", "description", "reference", "counterparty")
    frame = pd.DataFrame({name: pd.Series(list(values[name]), dtype="str") for name in text})
    frame["amount_minor"] = pd.Series(list(values["amount_minor"]), dtype="int64")
    frame["date"] = pd.Series(pd.to_datetime(list(values["date"])), dtype="datetime64[ns]")
    return frame[list(LEDGER_COLUMNS)]


def diff_snapshots(connection: Connection, old_id: str | None, new_id: str) -> SnapshotDiff:
    """Which entries appeared, disappeared or changed from ``old_id`` (None: nothing) to
    ``new_id``."""
    new = _hashes(connection, new_id)
    old = _hashes(connection, old_id) if old_id is not None else {}
    return SnapshotDiff(
        appeared=tuple(sorted(new.keys() - old.keys())),
        disappeared=tuple(sorted(old.keys() - new.keys())),
        changed=tuple(sorted(k for k in new.keys() & old.keys() if new[k] != old[k])),
    )


def _hashes(connection: Connection, snapshot_id: str) -> dict[str, str]:
    rows = connection.execute(
        select(ledger_entries.c.entry_id, ledger_entries.c.row_hash)
        .where(ledger_entries.c.snapshot_id == snapshot_id)
    )
    return {str(entry_id): str(digest) for entry_id, digest in rows}
