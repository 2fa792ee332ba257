"""Ledger snapshots on SQLite and PostgreSQL: round trip, latest, and what changed."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pandas as pd
from sqlalchemy import Engine

from recon.errors import RowProblem
from recon.frames import LEDGER_COLUMNS
from recon.ledger import LedgerLoad
from recon.store.ledger_snapshots import (
    diff_snapshots,
    latest_snapshot_id,
    load_snapshot,
    save_snapshot,
)
from recon.store.schema import runs

WINDOW = {"window_start": date(2025, 1, 1), "window_end": date(2025, 1, 31)}
T0 = datetime(2025, 2, 1, 2, 30, tzinfo=UTC)


def _frame(rows: list[tuple[str, int, str, str]]) -> pd.DataFrame:
    """(entry_id, amount_minor, date, description) rows of a USD ledger."""
    return pd.DataFrame({
        "entry_id": pd.Series([r[0] for r in rows], dtype="str"),
        "account": pd.Series(["1010-operating-usd"] * len(rows), dtype="str"),
        "currency": pd.Series(["USD"] * len(rows), dtype="str"),
        "amount_minor": pd.Series([r[1] for r in rows], dtype="int64"),
        "date": pd.Series(pd.to_datetime([r[2] for r in rows]), dtype="datetime64[ns]"),
        "description": pd.Series([r[3] for r in rows], dtype="str"),
        "reference": pd.Series(["INV-1"] * len(rows), dtype="str"),
        "counterparty": pd.Series(["Acme ünïcode"] * len(rows), dtype="str"),
    }, columns=list(LEDGER_COLUMNS))


def _load(frame: pd.DataFrame, rejected: int = 0) -> LedgerLoad:
    problems = tuple(RowProblem("l.csv", i + 2, "amount", "bad") for i in range(rejected))
    return LedgerLoad(frame=frame, rejected=problems, source="l.csv", content_hash="ab" * 32,
                      total_rows=len(frame) + rejected)


def _run(connection: Any, run_id: str, started: datetime) -> None:
    connection.execute(runs.insert().values(
        run_id=run_id, kind="run", state="loading", heartbeat_at=started, started_at=started,
        config_hash="test", code_version="test"))


FIRST = [("A", 100, "2025-01-02", "one"), ("B", -250, "2025-01-03", "two"),
         ("C", 999, "2025-01-04", "three")]
SECOND = [("A", 100, "2025-01-02", "one"), ("B", -251, "2025-01-03", "two"),
          ("D", 5, "2025-01-05", "four")]


def test_snapshots_round_trip_and_diff(store: Engine) -> None:
    with store.begin() as connection:
        assert latest_snapshot_id(connection) is None
        _run(connection, "run-1", T0)
        first = save_snapshot(connection, run_id="run-1", load=_load(_frame(FIRST), 1), now=T0,
                              **WINDOW)
    with store.begin() as connection:
        _run(connection, "run-2", T0 + timedelta(days=1))
        previous = latest_snapshot_id(connection, before_run_id="run-2")
        second = save_snapshot(connection, run_id="run-2", load=_load(_frame(SECOND)),
                               now=T0 + timedelta(days=1), **WINDOW)
    assert previous == first
    with store.connect() as connection:
        assert latest_snapshot_id(connection) == second
        assert latest_snapshot_id(connection, before_run_id="run-1") is None
        pd.testing.assert_frame_equal(load_snapshot(connection, first), _frame(FIRST))
        pd.testing.assert_frame_equal(load_snapshot(connection, second), _frame(SECOND))
        diff = diff_snapshots(connection, first, second)
        assert (diff.appeared, diff.disappeared, diff.changed) == (("D",), ("C",), ("B",))
        from_nothing = diff_snapshots(connection, None, first)
        assert from_nothing.appeared == ("A", "B", "C")
        assert from_nothing.disappeared == from_nothing.changed == ()


def test_every_field_counts_as_a_change(store: Engine) -> None:
    base = ("A", 100, "2025-01-02", "one")
    variants = {"amount": ("A", 101, "2025-01-02", "one"),
                "date": ("A", 100, "2025-01-03", "one"),
                "description": ("A", 100, "2025-01-02", "one!")}
    with store.begin() as connection:
        _run(connection, "run-1", T0)
        old = save_snapshot(connection, run_id="run-1", load=_load(_frame([base])), now=T0,
                            **WINDOW)
        for variant in variants.values():
            new = save_snapshot(connection, run_id="run-1", load=_load(_frame([variant])),
                                now=T0, **WINDOW)
            assert diff_snapshots(connection, old, new).changed == ("A",)
        same = save_snapshot(connection, run_id="run-1", load=_load(_frame([base])), now=T0,
                             **WINDOW)
        assert diff_snapshots(connection, old, same).changed == ()


def test_a_large_snapshot_is_stored_in_chunks(store: Engine) -> None:
    rows = [(f"E{i:06d}", i, "2025-01-10", f"row {i}") for i in range(12_000)]
    with store.begin() as connection:
        _run(connection, "run-1", T0)
        snapshot = save_snapshot(connection, run_id="run-1", load=_load(_frame(rows)), now=T0,
                                 **WINDOW)
    with store.connect() as connection:
        loaded = load_snapshot(connection, snapshot)
    assert len(loaded) == 12_000
    assert loaded["amount_minor"].sum() == sum(range(12_000))
