"""Issue "Hardening" 6 (scenario D-1): a nightly `recon run` and a `recon backfill` over
overlapping days, started together. The nightly run holds the lock (it pauses at the matching
fault point), the backfill exits 75 at once having written nothing, and after both (and a
re-run of the backfill) the store equals the same two commands run one after the other."""

from __future__ import annotations

import dataclasses
import time
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from recon import pipeline
from recon.store.schema import runs
from reliability.harness import (
    AS_OF,
    StoreState,
    Workdir,
    assert_db_healthy,
    assert_lock_free,
    child_env,
    copy_workdir,
    store_state,
)

pytestmark = [pytest.mark.reliability, pytest.mark.slow]

BACKFILL_START = AS_OF - timedelta(days=1)
BACKFILL = ("backfill", "--start", BACKFILL_START.isoformat(), "--end", AS_OF.isoformat())
HOLD_SECONDS = 15  # how long the nightly run sits in matching, holding the lock


def _state(work: Workdir) -> StoreState:
    engine = work.engine()
    try:
        return store_state(engine)
    finally:
        engine.dispose()


def _wait_until_matching(work: Workdir, deadline_seconds: float) -> None:
    """Poll the runs table until the nightly run is in matching (so it holds the lock)."""
    engine = work.engine()
    try:
        stop = time.monotonic() + deadline_seconds
        while time.monotonic() < stop:
            with engine.connect() as conn:
                if "matching" in conn.execute(select(runs.c.state)).scalars().all():
                    return
            time.sleep(0.2)
        raise AssertionError("the nightly run never reached matching")
    finally:
        engine.dispose()


def test_nightly_run_and_backfill_together_one_waits_out_and_the_state_is_sequential(
    prepared: Workdir, tmp_path: Path
) -> None:
    work = copy_workdir(prepared, tmp_path / "concurrent" / "var", formats=("json",))
    nightly = work.start(*work.run_args(), env=child_env(
        RECON_FAULT_POINT="pipeline.matching", RECON_FAULT_ACTION=f"sleep:{HOLD_SECONDS}"))
    try:
        _wait_until_matching(work, deadline_seconds=120)
        before = _state(work)
        loser = work.recon(*BACKFILL)
        during = _state(work)
        assert nightly.poll() is None, "the nightly run must still hold the lock"
    finally:
        _stdout, stderr = nightly.communicate(timeout=300)
    assert nightly.returncode in (0, 3), stderr[-3000:]
    assert loser.returncode == 75, loser.stderr[-3000:]
    assert "Traceback" not in loser.stderr
    assert "lock" in loser.stderr.lower() or "already running" in loser.stderr.lower()
    assert len(loser.stderr.strip().splitlines()[-1]) < 400  # one clear line, not a dump
    assert during == before  # the loser wrote nothing, not even a run row
    assert "reports" not in loser.stdout

    rerun = work.recon(*BACKFILL)
    assert rerun.returncode in (0, 3), rerun.stderr[-3000:]

    sequential = copy_workdir(prepared, tmp_path / "sequential" / "var", formats=("json",))
    assert pipeline.run(sequential.config, as_of=AS_OF).exit_code in (0, 3)
    pipeline.backfill(sequential.config, start=BACKFILL_START, end=AS_OF)
    got, expected = _state(work), _state(sequential)
    for name in (f.name for f in dataclasses.fields(StoreState)):
        assert getattr(got, name) == getattr(expected, name), name
    assert_lock_free(work)
    assert_db_healthy(work)
