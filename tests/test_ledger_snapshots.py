"""Ledger snapshots on SQLite and PostgreSQL: round trip, latest, and what changed."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pandas as pd
import pytest
from sqlalchemy import Engine, func, select

from recon.errors import RowProblem
from recon.frames import LEDGER_COLUMNS
from recon.ledger import LedgerLoad
from recon.store.ledger_snapshots import (
    diff_snapshots,
    latest_snapshot_id,
    load_snapshot,
    row_hash,
    save_snapshot,
)
from recon.store.schema import ledger_entries, runs

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


def test_row_hash_is_pinned() -> None:
    """Stored hashes of older snapshots are compared with new ones: the value must not drift."""
    assert row_hash("1010-operating-usd", "USD", -250, date(2025, 1, 3), "two", "INV-1",
                    "Acme ünïcode") == "471c5fd0e0b99251ffd43b1f61d231a1"


AWKWARD = ["tab\there", "line\nbreak", "back\\slash", "carriage\rreturn", "\\N", "ünïcode ✓",
           "", "\\\t\n\r mixed"]


def test_awkward_text_round_trips_and_stored_hashes_match_row_hash(store: Engine) -> None:
    rows = [(f"W{i}", i - 3, "2025-01-10", text) for i, text in enumerate(AWKWARD)]
    frame = _frame(rows)
    frame["reference"] = pd.Series(AWKWARD, dtype="str")
    with store.begin() as connection:
        _run(connection, "run-1", T0)
        snapshot = save_snapshot(connection, run_id="run-1", load=_load(frame), now=T0, **WINDOW)
    with store.connect() as connection:
        pd.testing.assert_frame_equal(load_snapshot(connection, snapshot), frame)
        stored = dict(connection.execute(
            select(ledger_entries.c.entry_id, ledger_entries.c.row_hash)
            .where(ledger_entries.c.snapshot_id == snapshot)).all())
    expected = {entry_id: row_hash("1010-operating-usd", "USD", amount,
                                   date.fromisoformat(day), text, text, "Acme ünïcode")
                for entry_id, amount, day, text in rows}
    assert stored == expected


def test_a_failed_transaction_leaves_no_snapshot_rows(store: Engine) -> None:
    rows = [(f"E{i:05d}", i, "2025-01-10", f"row {i}") for i in range(500)]
    with store.begin() as connection:
        _run(connection, "run-1", T0)
    with pytest.raises(RuntimeError), store.begin() as connection:
        save_snapshot(connection, run_id="run-1", load=_load(_frame(rows)), now=T0, **WINDOW)
        raise RuntimeError("the run failed after the snapshot")
    with store.connect() as connection:
        assert connection.execute(select(func.count()).select_from(ledger_entries)
                                  ).scalar_one() == 0
        assert latest_snapshot_id(connection) is None


def test_an_empty_ledger_is_an_empty_snapshot(store: Engine) -> None:
    with store.begin() as connection:
        _run(connection, "run-1", T0)
        snapshot = save_snapshot(connection, run_id="run-1", load=_load(_frame([])), now=T0,
                                 **WINDOW)
    with store.connect() as connection:
        assert load_snapshot(connection, snapshot).empty
        assert diff_snapshots(connection, None, snapshot).appeared == ()
