"""Draining the sync queue: one job at a time, under the single-instance run lock.

The caller holds the lock (the same one as the nightly run and backfills, so a queued sync never
overlaps them). Each job is claimed (``running``, one more attempt) in its own transaction, the
item is synced exactly as the nightly run syncs it (all pages and the cursor in one commit), and
the job is finished in another transaction. A worker killed between the claim and the finish
leaves the job ``running``; the next drain treats it as a failed attempt (``WORKER_CRASHED``).
Nothing is lost either way: the sync commits atomically and replays from the last cursor.
"""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection, Engine

from recon.config import Config
from recon.errors import AlreadyRunningError
from recon.lock import Lock
from recon.plaid.client import PlaidGateway
from recon.plaid.sync import OnPage, SyncOutcome, sync_listed_item
from recon.plaid.tokens import TokenVault
from recon.store import bank as bank_store
from recon.webhooks import queue

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class JobResult:
    """What became of one claimed job.

    ``outcome``: ``synced`` (done), ``requeued`` (synced, and a webhook came in meanwhile),
    ``retry`` (failed; queued again after a backoff), ``dead_letter`` (failed for the last
    time), ``dropped`` (the item needs re-linking or was removed: retrying cannot help).
    """

    item_id: str
    outcome: str
    attempts: int
    error_code: str | None = None
    sync: SyncOutcome | None = None


def drain(
    config: Config,
    engine: Engine,
    gateway: PlaidGateway,
    vault: TokenVault,
    lock: Lock,
    *,
    clock: Callable[[], datetime],
    rng: random.Random | None = None,
    on_page: OnPage | None = None,
) -> list[JobResult]:
    """Run every due job once: a job that fails here waits for the next drain, whatever its
    backoff, and one queued again by a webhook that came in during its sync too."""
    rng = rng or random.Random()  # backoff jitter only; not security-relevant
    policy = config.webhooks.queue
    results: list[JobResult] = []
    with engine.begin() as conn:
        for stale in queue.interrupted_jobs(conn):
            parked = queue.finish_failed(conn, stale, queue.WORKER_CRASHED, now=clock(),
                                         policy=policy, rng=rng)
            log.warning("sync job interrupted by a worker that died", extra={
                "item_id": stale.item_id, "attempts": stale.attempts,
                "dead_letter": parked is not None})
            results.append(JobResult(stale.item_id, "dead_letter" if parked else "retry",
                                     stale.attempts, queue.WORKER_CRASHED))
    ran: set[str] = set()
    while True:
        lock.check()  # never start a sync after losing the lock to another run
        with engine.begin() as conn:
            job = queue.claim_next(conn, now=clock(), skip=ran)
        if job is None:
            return results
        ran.add(job.item_id)
        with engine.connect() as conn:
            row = bank_store.get_item(conn, job.item_id)
        try:
            outcome = None if row is None else sync_listed_item(
                engine, gateway, vault, row, config, now=clock(), on_page=on_page)
        except Exception as exc:  # the job fails, the worker and the other jobs carry on
            log.exception("queued sync failed unexpectedly", extra={"item_id": job.item_id})
            outcome = SyncOutcome(job.item_id, "failed", error_code=type(exc).__name__)
        with engine.begin() as conn:
            result = _finish(conn, job, outcome, clock(), config, rng)
        log.log(logging.WARNING if result.outcome == "dead_letter" else logging.INFO,
                "queued sync finished", extra={
                    "item_id": job.item_id, "outcome": result.outcome,
                    "attempts": job.attempts, "error_code": result.error_code,
                    "added": outcome.added if outcome else 0,
                    "modified": outcome.modified if outcome else 0,
                    "removed": outcome.removed if outcome else 0})
        results.append(result)


def _finish(conn: Connection, job: queue.Job, outcome: SyncOutcome | None, now: datetime,
            config: Config, rng: random.Random) -> JobResult:
    if outcome is None:
        queue.drop(conn, job.item_id)
        return JobResult(job.item_id, "dropped", job.attempts, "ITEM_REMOVED")
    if outcome.status == "ok":
        again = queue.finish_ok(conn, job.item_id, now=now)
        return JobResult(job.item_id, "requeued" if again else "synced", job.attempts,
                         sync=outcome)
    if outcome.status == "needs_relink":
        queue.drop(conn, job.item_id)
        return JobResult(job.item_id, "dropped", job.attempts, outcome.error_code, outcome)
    code = outcome.error_code or "FAILED"
    parked = queue.finish_failed(conn, job, code, now=now, policy=config.webhooks.queue, rng=rng)
    return JobResult(job.item_id, "dead_letter" if parked else "retry", job.attempts, code,
                     outcome)


class QueueWorker:
    """A thread that drains the queue whenever it is woken and every ``poll_seconds``.

    ``drain_once`` takes the run lock itself; while another run holds it the jobs wait (the
    nightly run syncs every item anyway) and the worker tries again at the next poll.
    """

    def __init__(self, drain_once: Callable[[], object], *, poll_seconds: float) -> None:
        self._drain_once = drain_once
        self._poll_seconds = poll_seconds
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="recon-sync-queue", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def wake(self) -> None:
        self._wake.set()

    def stop(self, timeout: float = 60.0) -> None:
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self._drain_once()
            except AlreadyRunningError:
                log.info("sync queue waits: another recon run holds the lock")
            except Exception:
                log.exception("sync queue drain failed; trying again at the next poll")
            self._wake.wait(self._poll_seconds)
            self._wake.clear()


def drain_when_due(
    config: Config, engine: Engine, gateway: PlaidGateway, vault: TokenVault, *,
    clock: Callable[[], datetime],
) -> list[JobResult]:
    """One pass of ``recon webhooks serve``'s worker: when jobs are due, take the run lock
    (AlreadyRunningError while another run holds it), drain, and forget webhook events older
    than ``event_retention_days``. With nothing due it only reads, so it never waits on a
    writer such as the nightly run."""
    from recon.lock import single_instance

    with engine.connect() as conn:
        if not queue.has_due_jobs(conn, now=clock()):
            return []
    with single_instance(config.state, engine) as lock:
        results = drain(config, engine, gateway, vault, lock, clock=clock)
    retention = timedelta(days=config.webhooks.event_retention_days)
    with engine.begin() as conn:
        queue.prune_events(conn, before=clock() - retention)
    return results
