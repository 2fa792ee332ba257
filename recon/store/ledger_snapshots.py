"""Ledger snapshots: what the ledger said for a window at each run, so changes can be found.

Each entry carries a ``row_hash`` over its fields (not its id), so two snapshots tell which
entries appeared, disappeared or changed. Inserts go in chunks through executemany (SQLAlchemy's
insertmanyvalues batches them into multi-row INSERTs on PostgreSQL) inside the caller's
transaction: a failed run leaves no partial snapshot.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import pandas as pd
from sqlalchemy import Connection, insert, select

from recon.frames import LEDGER_COLUMNS
from recon.ledger.load import LedgerLoad
from recon.store.schema import ledger_entries, ledger_snapshots, runs

INSERT_CHUNK_ROWS = 10_000
_HASHED = ("account", "currency", "amount_minor", "date", "description", "reference",
           "counterparty")


@dataclass(frozen=True)
class SnapshotDiff:
    """Entry ids, sorted: new in the newer snapshot, gone from it, and present in both but
    different in any field."""

    appeared: tuple[str, ...]
    disappeared: tuple[str, ...]
    changed: tuple[str, ...]


def row_hash(account: str, currency: str, amount_minor: int, day: date, description: str,
             reference: str, counterparty: str) -> str:
    """32 hex digits over an entry's fields; unit-separated so no two field splits collide."""
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
    for chunk in _entry_chunks(snapshot_id, load.frame):
        connection.execute(insert(ledger_entries), chunk)
    return snapshot_id


def _entry_chunks(snapshot_id: str, frame: pd.DataFrame) -> Iterator[list[dict[str, Any]]]:
    for start in range(0, len(frame), INSERT_CHUNK_ROWS):
        part = frame.iloc[start:start + INSERT_CHUNK_ROWS]
        days = part["date"].dt.date.tolist()
        columns = zip(
            part["entry_id"].tolist(), part["account"].tolist(), part["currency"].tolist(),
            part["amount_minor"].tolist(), days, part["description"].tolist(),
            part["reference"].tolist(), part["counterparty"].tolist(),
            strict=True,
        )
        yield [
            {
                "snapshot_id": snapshot_id,
                "entry_id": entry_id,
                "account": account,
                "currency": currency,
                "amount_minor": int(amount),
                "date": day,
                "description": description,
                "reference": reference,
                "counterparty": counterparty,
                "row_hash": row_hash(account, currency, int(amount), day, description,
                                     reference, counterparty),
            }
            for entry_id, account, currency, amount, day, description, reference, counterparty
            in columns
        ]


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
