"""The ``runs`` table: one row per job run, a small state machine with a heartbeat.

States: started -> syncing -> loading -> matching -> saving -> reporting -> succeeded, or
failed (the job caught an error) or crashed (a later run found it unfinished). Only the holder of
the single-instance lock starts runs, so any unfinished run found at start is a crashed one.
"""

from __future__ import annotations

import json
import os
import socket
import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import Engine, select, update

from recon import __version__
from recon.store.schema import runs

TERMINAL_STATES = ("succeeded", "failed", "crashed")


def mark_crashed_runs(engine: Engine, *, now: datetime) -> list[str]:
    """Mark every unfinished run as crashed; returns their ids. Call while holding the lock."""
    with engine.begin() as conn:
        stale = [
            row.run_id
            for row in conn.execute(
                select(runs.c.run_id).where(runs.c.state.not_in(TERMINAL_STATES))
            )
        ]
        if stale:
            conn.execute(
                update(runs)
                .where(runs.c.run_id.in_(stale))
                .values(
                    state="crashed",
                    finished_at=now,
                    error="the process stopped before the run finished (found by a later run)",
                )
            )
    return stale


def start_run(
    engine: Engine,
    *,
    kind: str,
    as_of: date | None,
    window_start: date | None,
    window_end: date | None,
    config_hash: str,
    now: datetime,
) -> str:
    run_id = str(uuid.uuid4())
    with engine.begin() as conn:
        conn.execute(
            runs.insert().values(
                run_id=run_id,
                kind=kind,
                as_of=as_of,
                window_start=window_start,
                window_end=window_end,
                state="started",
                heartbeat_at=now,
                started_at=now,
                pid=os.getpid(),
                hostname=socket.gethostname(),
                timings_json="{}",
                counts_json="{}",
                config_hash=config_hash,
                code_version=__version__,
            )
        )
    return run_id


def set_state(engine: Engine, run_id: str, state: str, *, now: datetime) -> None:
    with engine.begin() as conn:
        conn.execute(
            update(runs).where(runs.c.run_id == run_id).values(state=state, heartbeat_at=now)
        )


def finish_run(
    engine: Engine,
    run_id: str,
    *,
    state: str,
    now: datetime,
    timings: dict[str, float],
    counts: dict[str, Any],
    exit_code: int,
    error: str | None = None,
) -> None:
    with engine.begin() as conn:
        conn.execute(
            update(runs)
            .where(runs.c.run_id == run_id)
            .values(
                state=state,
                heartbeat_at=now,
                finished_at=now,
                exit_code=exit_code,
                error=error,
                timings_json=json.dumps(timings, sort_keys=True),
                counts_json=json.dumps(counts, sort_keys=True, default=str),
            )
        )


def backfill_days_done(engine: Engine, backfill_key: str) -> dict[date, tuple[str, int]]:
    """As-of days an earlier attempt of the same backfill already reconciled successfully, with
    that run's id and exit code (a resumed backfill exits as an uninterrupted one would)."""
    with engine.connect() as conn:
        rows = conn.execute(
            select(runs.c.as_of, runs.c.run_id, runs.c.exit_code, runs.c.counts_json)
            .where(runs.c.kind == "backfill", runs.c.state == "succeeded")
            .order_by(runs.c.started_at)
        ).all()
    return {
        row.as_of: (str(row.run_id), int(row.exit_code or 0))
        for row in rows
        if row.as_of is not None and json.loads(row.counts_json).get("backfill") == backfill_key
    }
