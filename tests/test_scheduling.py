"""The scheduler stepped through DST changes and late starts with time-machine (never freezegun:
it drops ``fold`` and hangs APScheduler in the repeated hour). Every test has a timeout."""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import time_machine
from apscheduler.executors.debug import DebugExecutor
from apscheduler.jobstores.base import BaseJobStore
from apscheduler.schedulers.base import BaseScheduler

from recon.config import ScheduleConfig, parse_config
from recon.errors import ConfigError
from recon.scheduling import (
    NIGHTLY_JOB_ID,
    build_scheduler,
    ensure_memory_jobstores,
    is_repeated_wall_time,
    nightly_job,
)

pytestmark = pytest.mark.timeout(30)

NEW_YORK = ZoneInfo("America/New_York")


class SteppedScheduler(BaseScheduler):  # type: ignore[misc]
    """No thread and no timer: the test advances the clock and calls ``_process_jobs``.
    Jobs run synchronously (DebugExecutor) so the misfire check sees the stepped clock."""

    def shutdown(self, wait: bool = True) -> None:
        super().shutdown(wait)

    def wakeup(self) -> None:
        pass

    def _create_default_executor(self) -> DebugExecutor:
        return DebugExecutor()


@dataclass
class Simulation:
    fired_at: list[datetime]  # the (stepped) wall clock when the job body ran
    as_of: list[date]
    missed: list[datetime]


def simulate(
    cron: str,
    start: datetime,
    end: datetime,
    *,
    grace_seconds: int = 3600,
    lateness: Callable[[datetime], timedelta] = lambda _due: timedelta(0),
) -> Simulation:
    """Run the scheduler's own loop (wake at the time it asks for, process jobs) from start to
    end; ``lateness(due)`` delays a wake-up, like a suspended VM or a clock jump."""
    config = parse_config(
        {"schedule": {"cron": cron, "timezone": "America/New_York",
                      "misfire_grace_seconds": grace_seconds}},
        environ={},
    )
    sim = Simulation([], [], [])

    @dataclass(frozen=True)
    class Outcome:
        exit_code: int = 0

    def fake_run(_config: object, *, as_of: date) -> Outcome:
        sim.fired_at.append(datetime.now(UTC))
        sim.as_of.append(as_of)
        return Outcome()

    scheduler = build_scheduler(config.schedule, nightly_job(config, fake_run),
                                scheduler_cls=SteppedScheduler, on_missed=sim.missed.append)
    with time_machine.travel(start, tick=False) as clock:
        scheduler.start()
        while True:
            job = scheduler.get_job(NIGHTLY_JOB_ID)
            due = job.next_run_time.astimezone(UTC)
            wake = due + lateness(due)
            if wake >= end:
                break
            clock.move_to(wake)
            scheduler._process_jobs()
    scheduler.shutdown()
    return sim


def _local(moment: datetime) -> str:
    return moment.astimezone(NEW_YORK).strftime("%Y-%m-%d %H:%M %Z")


def test_spring_forward_0230_runs_once_a_day_for_ten_days() -> None:
    sim = simulate("30 2 * * *", datetime(2025, 3, 4, 5, 0, tzinfo=UTC),
                   datetime(2025, 3, 14, 5, 0, tzinfo=UTC))
    assert [_local(t) for t in sim.fired_at] == [
        "2025-03-04 02:30 EST", "2025-03-05 02:30 EST", "2025-03-06 02:30 EST",
        "2025-03-07 02:30 EST", "2025-03-08 02:30 EST",
        "2025-03-09 03:30 EDT",  # 02:30 does not exist that night: once, an hour later
        "2025-03-10 02:30 EDT", "2025-03-11 02:30 EDT", "2025-03-12 02:30 EDT",
        "2025-03-13 02:30 EDT",
    ]
    assert sim.as_of == [date(2025, 3, d) for d in range(3, 13)]  # the day before each run
    assert sim.missed == []


def test_fall_back_0130_runs_once_on_the_repeated_hour_day() -> None:
    sim = simulate("30 1 * * *", datetime(2025, 10, 28, 4, 0, tzinfo=UTC),
                   datetime(2025, 11, 7, 5, 0, tzinfo=UTC))
    local = [_local(t) for t in sim.fired_at]
    assert len(local) == 10
    assert local[5] == "2025-11-02 01:30 EDT"  # the first 01:30 only; not again at 01:30 EST
    assert [t.split()[0] for t in local] == [f"2025-{d}" for d in (
        "10-28", "10-29", "10-30", "10-31", "11-01", "11-02", "11-03", "11-04", "11-05", "11-06")]
    assert all(t.endswith("01:30 EDT") for t in local[:6])
    assert all(t.endswith("01:30 EST") for t in local[6:])
    assert sim.as_of == [date(2025, 10, 27) + timedelta(days=n) for n in range(10)]


def test_fall_back_0230_runs_once() -> None:
    sim = simulate("30 2 * * *", datetime(2025, 10, 28, 4, 0, tzinfo=UTC),
                   datetime(2025, 11, 7, 5, 0, tzinfo=UTC))
    local = [_local(t) for t in sim.fired_at]
    assert len(local) == 10
    assert local[5] == "2025-11-02 02:30 EST"
    assert len({t.split()[0] for t in local}) == 10


def test_late_start_within_grace_runs_exactly_once() -> None:
    # Every wake-up comes 10 minutes after the fire time (the clock jumped past it).
    sim = simulate("30 2 * * *", datetime(2025, 3, 4, 5, 0, tzinfo=UTC),
                   datetime(2025, 3, 7, 5, 0, tzinfo=UTC),
                   lateness=lambda _due: timedelta(minutes=10))
    assert [_local(t) for t in sim.fired_at] == [
        "2025-03-04 02:40 EST", "2025-03-05 02:40 EST", "2025-03-06 02:40 EST"]
    assert sim.missed == []


def test_late_start_beyond_grace_is_missed_and_reported() -> None:
    late_day = datetime(2025, 3, 5, 7, 30, tzinfo=UTC)  # 02:30 EST on 5 March
    sim = simulate("30 2 * * *", datetime(2025, 3, 4, 5, 0, tzinfo=UTC),
                   datetime(2025, 3, 7, 5, 0, tzinfo=UTC), grace_seconds=300,
                   lateness=lambda due: timedelta(minutes=10) if due == late_day else timedelta())
    assert [_local(t) for t in sim.fired_at] == ["2025-03-04 02:30 EST", "2025-03-06 02:30 EST"]
    assert sim.missed == [late_day]


def test_suspended_for_days_runs_once_then_resumes() -> None:
    # Asleep from 4 March 02:00 to 7 March 03:00: three fire times passed; coalesce -> one run,
    # and only if the newest of them is within the grace time (03:00 is 30 min after 02:30).
    resume = datetime(2025, 3, 7, 8, 0, tzinfo=UTC)
    asleep = {datetime(2025, 3, 4, 7, 30, tzinfo=UTC)}
    sim = simulate("30 2 * * *", datetime(2025, 3, 4, 5, 0, tzinfo=UTC),
                   datetime(2025, 3, 9, 5, 0, tzinfo=UTC),
                   lateness=lambda due: resume - due if due in asleep else timedelta())
    assert [_local(t) for t in sim.fired_at] == [
        "2025-03-07 03:00 EST", "2025-03-08 02:30 EST"]
    assert sim.as_of == [date(2025, 3, 6), date(2025, 3, 7)]
    assert sim.missed == []


def test_is_repeated_wall_time() -> None:
    first = datetime(2025, 11, 2, 1, 30, tzinfo=NEW_YORK)
    second = first.replace(fold=1)
    assert (first.utcoffset(), second.utcoffset()) == (timedelta(hours=-4), timedelta(hours=-5))
    assert not is_repeated_wall_time(first)
    assert is_repeated_wall_time(second)
    assert not is_repeated_wall_time(datetime(2025, 11, 3, 1, 30, fold=1, tzinfo=NEW_YORK))


def test_job_defaults_and_persistent_job_stores_are_refused() -> None:
    schedule = ScheduleConfig(cron="30 2 * * *", timezone="America/New_York",
                              misfire_grace_seconds=1800)
    scheduler = build_scheduler(schedule, lambda: None, scheduler_cls=SteppedScheduler)
    scheduler.start()  # job defaults are applied when the job is really added
    job = scheduler.get_job(NIGHTLY_JOB_ID)
    assert (job.coalesce, job.max_instances, job.misfire_grace_time) == (True, 1, 1800)
    ensure_memory_jobstores(scheduler)

    class PersistentStore(BaseJobStore):  # type: ignore[misc]
        def lookup_job(self, job_id: str) -> Any: ...
        def get_due_jobs(self, now: datetime) -> list[Any]: return []
        def get_next_run_time(self) -> None: ...
        def get_all_jobs(self) -> list[Any]: return []
        def add_job(self, job: Any) -> None: ...
        def update_job(self, job: Any) -> None: ...
        def remove_job(self, job_id: str) -> None: ...
        def remove_all_jobs(self) -> None: ...

    scheduler.add_jobstore(PersistentStore(), "shared")
    with pytest.raises(ConfigError, match="only the memory job store is allowed"):
        ensure_memory_jobstores(scheduler)
    scheduler.shutdown()


_SERVE = r"""
import logging, sys, time
from datetime import datetime, timezone
from pathlib import Path
import time_machine
from recon.config import parse_config
from recon.scheduling import run_scheduler

logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(message)s")
marker = Path(sys.argv[1])
config = parse_config({"schedule": {"cron": "* * * * *", "timezone": "UTC"}}, environ={})

def job():
    marker.write_text("started")
    print("job started", file=sys.stderr, flush=True)
    time.sleep(1.0)
    marker.write_text("finished")
    return 0

# Half a second before a minute boundary, ticking: the first run starts almost at once.
with time_machine.travel(datetime(2025, 3, 9, 12, 0, 59, 500000, tzinfo=timezone.utc), tick=True):
    run_scheduler(config, job)
print("exited cleanly", file=sys.stderr, flush=True)
"""


def _serve(tmp_path: Path) -> tuple[subprocess.Popen[str], Path]:
    marker = tmp_path / "job-state"
    proc = subprocess.Popen([sys.executable, "-c", _SERVE, str(marker)],
                            stderr=subprocess.PIPE, text=True)
    return proc, marker


def _read_until(proc: subprocess.Popen[str], text: str) -> None:
    assert proc.stderr is not None
    while line := proc.stderr.readline():
        if text in line:
            return
    pytest.fail(f"the scheduler exited before logging {text!r}")


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_signal_waits_for_the_running_job_then_exits_cleanly(
    tmp_path: Path, signum: signal.Signals
) -> None:
    proc, marker = _serve(tmp_path)
    _read_until(proc, "job started")
    proc.send_signal(signum)
    _out, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err
    assert marker.read_text() == "finished"  # the run in progress was not cut off
    assert "scheduler stopped" in err
    assert "exited cleanly" in err


def test_no_freezegun_in_scheduler_code_or_tests() -> None:
    # freezegun drops `fold` and hangs APScheduler in the repeated DST hour (notes E-6).
    root = Path(__file__).resolve().parents[1]
    for source in (root / "recon" / "scheduling.py", Path(__file__)):
        lines = source.read_text().splitlines()
        assert not [line for line in lines
                    if line.lstrip().startswith(("import freezegun", "from freezegun"))]


def test_nightly_job_turns_recon_errors_into_exit_codes() -> None:
    from recon.errors import AlreadyRunningError

    config = parse_config({"schedule": {"timezone": "Asia/Tokyo"}}, environ={})
    seen: list[date] = []

    def busy(_config: object, *, as_of: date) -> Any:
        seen.append(as_of)
        raise AlreadyRunningError("another recon run holds the lock")

    def broken(_config: object, *, as_of: date) -> Any:
        raise RuntimeError("a bug")

    # 2025-03-09 16:00 UTC is 01:00 on 10 March in Tokyo: the as-of day is 9 March there.
    with time_machine.travel(datetime(2025, 3, 9, 16, 0, tzinfo=UTC), tick=False):
        assert nightly_job(config, busy)() == 75
        with pytest.raises(RuntimeError):  # left to the scheduler: EVENT_JOB_ERROR + alert
            nightly_job(config, broken)()
    assert seen == [date(2025, 3, 9)]
