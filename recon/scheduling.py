"""The long-running scheduler alternative to cron / systemd timers (APScheduler 3.x).

- The cron expression is read in the configured IANA time zone (wall-clock time), with one fix
  for DST: on a fall-back day a wall-clock time in the repeated hour fires only on its first
  pass (:class:`WallClockCronTrigger`), so a 01:30 job runs once, not twice. On a spring-forward
  day a time that does not exist (02:30 in New York) fires once, an hour later in wall time
  (03:30 EDT, the same instant as 02:30 EST), as APScheduler does.
- ``coalesce=True``, ``max_instances=1`` and an explicit ``misfire_grace_time`` (APScheduler's
  default is 1 second, which silently drops a run after a slow start or a suspended VM). A run
  later than the grace time is skipped and reported (EVENT_JOB_MISSED -> log + alert).
- Memory job store only: jobs are defined in code at start-up. Persistent job stores pickle jobs
  and are unsafe to share between processes (notes D-5); they are refused. The run lock in
  :mod:`recon.lock` still guards against a second scheduler or a concurrent manual run.
- The job computes its ``as_of`` date (yesterday) in the configured time zone when it fires.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from types import FrameType
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from apscheduler.events import (
    EVENT_JOB_ERROR,
    EVENT_JOB_EXECUTED,
    EVENT_JOB_MAX_INSTANCES,
    EVENT_JOB_MISSED,
    EVENT_SCHEDULER_STARTED,
    JobExecutionEvent,
    JobSubmissionEvent,
    SchedulerEvent,
)
from apscheduler.jobstores.memory import MemoryJobStore
from apscheduler.schedulers.base import BaseScheduler
from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.cron import CronTrigger

from recon.config import Config, ScheduleConfig
from recon.errors import ConfigError, ReconError

log = logging.getLogger(__name__)

NIGHTLY_JOB_ID = "recon-nightly"


class _HasExitCode(Protocol):
    @property
    def exit_code(self) -> int: ...


RunFunction = Callable[..., _HasExitCode]  # recon.pipeline.run(config, *, as_of=...)


class WallClockCronTrigger(CronTrigger):  # type: ignore[misc]  # APScheduler has no type hints
    """A cron trigger that fires at most once per wall-clock time on DST fall-back days."""

    def get_next_fire_time(
        self, previous_fire_time: datetime | None, now: datetime
    ) -> datetime | None:
        candidate: datetime | None = super().get_next_fire_time(previous_fire_time, now)
        while candidate is not None and is_repeated_wall_time(candidate):
            candidate = super().get_next_fire_time(candidate, candidate)
        return candidate


def is_repeated_wall_time(moment: datetime) -> bool:
    """True for the second occurrence of a wall-clock time (fold=1 in a fall-back hour)."""
    return moment.fold == 1 and moment.replace(fold=0).utcoffset() != moment.utcoffset()


def business_date(moment: datetime, timezone: str) -> date:
    """The calendar date of an instant in the configured time zone."""
    if moment.tzinfo is None:
        raise ValueError("business_date needs a timezone-aware datetime")
    return moment.astimezone(ZoneInfo(timezone)).date()


def nightly_job(config: Config, run: RunFunction | None = None) -> Callable[[], int]:
    """The scheduled job: ``run(config, as_of=<yesterday in the schedule's zone>)`` -> exit code.

    The as-of date is the last complete day when the job fires (the same rule as
    ``recon.pipeline.default_as_of``, so cron and the scheduler reconcile the same day). ``run``
    defaults to :func:`recon.pipeline.run`, imported when the job fires. A ReconError (the
    pipeline has already logged and alerted it) becomes its exit code; anything else propagates
    to the scheduler, which logs EVENT_JOB_ERROR and alerts.
    """

    def job() -> int:
        as_of = business_date(datetime.now(UTC), config.schedule.timezone) - timedelta(days=1)
        runner = run
        if runner is None:
            from recon.pipeline import run as pipeline_run

            runner = pipeline_run
        try:
            exit_code = int(runner(config, as_of=as_of).exit_code)
        except ReconError as exc:
            exit_code = int(exc.exit_code)
        log.info("scheduled run finished",
                 extra={"as_of": as_of.isoformat(), "exit_code": exit_code})
        return exit_code

    return job


def ensure_memory_jobstores(scheduler: BaseScheduler) -> None:
    """Refuse persistent job stores (they pickle jobs and break with several processes)."""
    stores: dict[str, Any] = getattr(scheduler, "_jobstores", {})
    persistent = sorted(alias for alias, store in stores.items()
                        if not isinstance(store, MemoryJobStore))
    if persistent:
        raise ConfigError(
            [f"scheduler job store {alias!r}: only the memory job store is allowed; "
             "persistence comes from cron/systemd and the run lock, not from APScheduler"
             for alias in persistent],
            "scheduler",
        )


def build_scheduler(
    schedule: ScheduleConfig,
    job: Callable[[], object],
    *,
    scheduler_cls: type[BaseScheduler] = BlockingScheduler,
    on_missed: Callable[[datetime], object] | None = None,
    on_error: Callable[[datetime], object] | None = None,
) -> BaseScheduler:
    """A scheduler (not started) with the nightly job; ``on_missed``/``on_error`` get the
    scheduled run time of a missed or crashed run (for alerts)."""
    timezone = ZoneInfo(schedule.timezone)
    scheduler = scheduler_cls(
        timezone=timezone,
        jobstores={"default": MemoryJobStore()},
        # In job_defaults, where APScheduler reads them (not as scheduler kwargs: issue #146).
        job_defaults={
            "coalesce": True,
            "max_instances": 1,
            "misfire_grace_time": schedule.misfire_grace_seconds,
        },
    )
    trigger = WallClockCronTrigger.from_crontab(schedule.cron, timezone=timezone)
    scheduler.add_job(job, trigger, id=NIGHTLY_JOB_ID, name="recon nightly run",
                      replace_existing=True)
    scheduler.add_listener(
        _make_listener(scheduler, on_missed, on_error),
        EVENT_JOB_MISSED | EVENT_JOB_ERROR | EVENT_JOB_EXECUTED | EVENT_JOB_MAX_INSTANCES
        | EVENT_SCHEDULER_STARTED,
    )
    ensure_memory_jobstores(scheduler)
    return scheduler


def _make_listener(
    scheduler: BaseScheduler,
    on_missed: Callable[[datetime], object] | None,
    on_error: Callable[[datetime], object] | None,
) -> Callable[[SchedulerEvent], None]:
    def listener(event: SchedulerEvent) -> None:
        if event.code == EVENT_SCHEDULER_STARTED:
            job = scheduler.get_job(NIGHTLY_JOB_ID)
            next_run = job.next_run_time if job is not None else None
            log.info("scheduler started", extra={
                "next_run": next_run.astimezone(UTC).isoformat() if next_run else None})
            return
        if isinstance(event, JobSubmissionEvent):  # max instances reached
            log.warning("scheduled run skipped: the previous run is still going",
                        extra={"job": event.job_id})
            return
        if not isinstance(event, JobExecutionEvent):
            return
        scheduled = event.scheduled_run_time.astimezone(UTC)
        fields = {"job": event.job_id, "scheduled_for": scheduled.isoformat()}
        if event.code == EVENT_JOB_MISSED:
            log.error("scheduled run missed: it started later than misfire_grace_seconds allows",
                      extra=fields)
            _notify(on_missed, scheduled)
        elif event.code == EVENT_JOB_ERROR:
            error = type(event.exception).__name__ if event.exception else "unknown"
            log.error("scheduled run crashed", extra={**fields, "error": error})
            _notify(on_error, scheduled)
        else:
            log.info("scheduled run done", extra={**fields, "exit_code": event.retval})

    return listener


def _notify(callback: Callable[[datetime], object] | None, scheduled: datetime) -> None:
    if callback is None:
        return
    try:
        callback(scheduled)
    except Exception as exc:  # a failing alert must not stop the scheduler
        log.error("scheduler notification failed", extra={"error": type(exc).__name__})


def serve_until_signalled(scheduler: BaseScheduler) -> None:
    """Run a BlockingScheduler in the foreground until SIGTERM or SIGINT.

    On a signal no new run starts, a run in progress is waited for, then this returns.
    """
    ensure_memory_jobstores(scheduler)
    stoppers: list[threading.Thread] = []

    def stop(signum: int, _frame: FrameType | None) -> None:
        if not scheduler.running or stoppers:
            return  # already stopping
        log.info("scheduler stopping; waiting for a running job to finish",
                 extra={"signal": signal.Signals(signum).name})
        # Not in the handler itself: the signal may have interrupted the main thread while it
        # held a scheduler lock that the finishing job needs, and waiting here would deadlock.
        stopper = threading.Thread(target=scheduler.shutdown, kwargs={"wait": True},
                                   name="recon-scheduler-stop")
        stoppers.append(stopper)
        stopper.start()

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        scheduler.start()  # blocks until shutdown
        for stopper in stoppers:
            stopper.join()  # the run in progress has finished
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    log.info("scheduler stopped")


def run_scheduler(config: Config, job: Callable[[], object] | None = None) -> None:
    """``recon schedule``: the nightly job on the configured cron, alerts on missed/crashed runs."""
    from recon.alerts import build_failure_alert, build_missed_run_alert, send_alerts

    def alert_missed(scheduled: datetime) -> None:
        send_alerts(config.alerts, build_missed_run_alert(
            scheduled_for=scheduled.isoformat(), job_id=NIGHTLY_JOB_ID))

    def alert_crashed(scheduled: datetime) -> None:
        send_alerts(config.alerts, build_failure_alert(
            run_id="-", exit_code=1, reason="the scheduled run raised an unexpected error "
            "(see the scheduler log)", as_of=business_date(scheduled, config.schedule.timezone)))

    scheduler = build_scheduler(
        config.schedule, job if job is not None else nightly_job(config),
        on_missed=alert_missed, on_error=alert_crashed,
    )
    serve_until_signalled(scheduler)
