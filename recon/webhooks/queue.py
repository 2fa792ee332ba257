"""The durable sync queue, its dead letters and the log of verified webhooks (state store).

One ``sync_jobs`` row per item at most, so the queue is idempotent per item: a webhook for an
item whose job is still queued only counts as one more request; one that arrives while the job
runs sets ``rerun``, and the job is queued again when that run ends (the running sync may have
paged past the new data's moment already). A job is ``running`` only while a worker holds the
single-instance run lock, so a ``running`` job seen by the next lock holder belongs to a worker
that died: it is retried like a failure (the attempt already counted).

Failures are retried after ``base * 2**(attempts-1)`` seconds (capped, with jitter); after
``max_attempts`` the job moves to ``sync_dead_letters``, where it stays visible until a later
sync of the item succeeds. Every write takes a Connection: the caller owns the transaction.
"""

from __future__ import annotations

import random
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, case, delete, func, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite

from recon.config import SyncQueueConfig
from recon.store.bank import as_utc
from recon.store.schema import items, sync_dead_letters, sync_jobs, webhook_events

WORKER_CRASHED = "WORKER_CRASHED"


@dataclass(frozen=True)
class Job:
    """A job a worker has claimed (its state is now ``running``)."""

    item_id: str
    requests: int
    attempts: int
    first_requested_at: datetime


@dataclass(frozen=True)
class QueuedJob:
    """A job as ``recon items list`` shows it."""

    item_id: str
    state: str
    requests: int
    attempts: int
    not_before: datetime
    last_error: str | None


@dataclass(frozen=True)
class DeadLetter:
    item_id: str
    requests: int
    attempts: int
    last_error: str
    first_requested_at: datetime
    parked_at: datetime


def _insert(conn: Connection) -> Any:
    if conn.dialect.name == "postgresql":
        return postgresql.insert(sync_jobs)
    return sqlite.insert(sync_jobs)


def enqueue_sync(conn: Connection, item_id: str, *, now: datetime) -> bool:
    """Ask for a sync of the item; True when this made a new job, False when it folded into
    the item's existing one (queued: one more request; running: run again when it ends)."""
    stmt = _insert(conn).values(
        item_id=item_id, state="queued", requests=1, attempts=0, rerun=False, not_before=now,
        first_requested_at=now, last_requested_at=now, started_at=None, last_error=None,
    )
    stmt = stmt.on_conflict_do_update(
        index_elements=["item_id"],
        set_={
            "requests": sync_jobs.c.requests + 1,
            "last_requested_at": now,
            "rerun": case((sync_jobs.c.state == "running", True), else_=sync_jobs.c.rerun),
        },
    ).returning(sync_jobs.c.requests)
    return int(conn.execute(stmt).scalar_one()) == 1


def claim_next(
    conn: Connection, *, now: datetime, skip: Collection[str] = ()
) -> Job | None:
    """The due queued job that has waited longest (not one of the ``skip`` items), now
    ``running`` with one more attempt."""
    due = select(sync_jobs).where(sync_jobs.c.state == "queued", sync_jobs.c.not_before <= now)
    if skip:
        due = due.where(sync_jobs.c.item_id.not_in(sorted(skip)))
    row = conn.execute(
        due.order_by(sync_jobs.c.not_before, sync_jobs.c.item_id).limit(1)
    ).first()
    if row is None:
        return None
    claimed = conn.execute(
        update(sync_jobs)
        .where(sync_jobs.c.item_id == row.item_id, sync_jobs.c.state == "queued")
        .values(state="running", attempts=sync_jobs.c.attempts + 1, started_at=now)
    )
    if claimed.rowcount != 1:  # pragma: no cover - only the lock holder claims
        return None
    first = as_utc(row.first_requested_at)
    assert first is not None
    return Job(row.item_id, int(row.requests), int(row.attempts) + 1, first)


def has_due_jobs(conn: Connection, *, now: datetime) -> bool:
    """Whether a worker has something to do (queued and due, or left running by a dead one)."""
    due = (sync_jobs.c.state == "running") | (
        (sync_jobs.c.state == "queued") & (sync_jobs.c.not_before <= now))
    return conn.execute(select(func.count()).select_from(sync_jobs).where(due)).scalar_one() > 0


def finish_ok(conn: Connection, item_id: str, *, now: datetime) -> bool:
    """The job's sync succeeded. Returns True when a webhook arrived meanwhile and the job was
    queued again, False when it is done (deleted)."""
    done = conn.execute(
        delete(sync_jobs).where(
            sync_jobs.c.item_id == item_id, sync_jobs.c.state == "running",
            sync_jobs.c.rerun.is_(False),
        )
    )
    resolve_dead_letters(conn, item_id, now=now)
    if done.rowcount == 1:
        return False
    conn.execute(
        update(sync_jobs)
        .where(sync_jobs.c.item_id == item_id, sync_jobs.c.state == "running")
        .values(state="queued", rerun=False, attempts=0, requests=1, not_before=now,
                first_requested_at=sync_jobs.c.last_requested_at, started_at=None,
                last_error=None)
    )
    return True


def drop(conn: Connection, item_id: str) -> None:
    """Remove the item's job without retrying: the item needs a user (re-link) or is gone."""
    conn.execute(delete(sync_jobs).where(sync_jobs.c.item_id == item_id))


def backoff_seconds(policy: SyncQueueConfig, attempts: int, rng: random.Random) -> float:
    """Delay before attempt ``attempts + 1``: half to all of base * 2**(attempts-1), capped."""
    cap = min(policy.max_delay_seconds, policy.base_delay_seconds * 2 ** max(0, attempts - 1))
    return rng.uniform(cap / 2, cap)


def finish_failed(
    conn: Connection, job: Job, error_code: str, *, now: datetime, policy: SyncQueueConfig,
    rng: random.Random,
) -> DeadLetter | None:
    """Queue the job again after a backoff, or park it when it has used up its attempts."""
    code = error_code[:64]
    if job.attempts >= policy.max_attempts:
        conn.execute(insert(sync_dead_letters).values(
            item_id=job.item_id, requests=job.requests, attempts=job.attempts, last_error=code,
            first_requested_at=job.first_requested_at, parked_at=now, resolved_at=None,
        ))
        drop(conn, job.item_id)
        return DeadLetter(job.item_id, job.requests, job.attempts, code, job.first_requested_at,
                          now)
    delay = timedelta(seconds=backoff_seconds(policy, job.attempts, rng))
    conn.execute(
        update(sync_jobs)
        .where(sync_jobs.c.item_id == job.item_id)
        .values(state="queued", rerun=False, not_before=now + delay, started_at=None,
                last_error=code)
    )
    return None


def interrupted_jobs(conn: Connection) -> list[Job]:
    """Jobs left ``running``: only a worker that died (or lost the lock) leaves them so."""
    rows = conn.execute(
        select(sync_jobs).where(sync_jobs.c.state == "running").order_by(sync_jobs.c.item_id)
    ).all()
    jobs = []
    for row in rows:
        first = as_utc(row.first_requested_at)
        assert first is not None
        jobs.append(Job(row.item_id, int(row.requests), int(row.attempts), first))
    return jobs


def settle_after_full_sync(
    conn: Connection, item_id: str, *, synced_from: datetime, now: datetime
) -> int:
    """A full sync of the item that started at ``synced_from`` succeeded: queued jobs asked for
    before it are satisfied (deleted) and its dead letters resolved. Returns jobs settled."""
    settled = conn.execute(
        delete(sync_jobs).where(
            sync_jobs.c.item_id == item_id, sync_jobs.c.state == "queued",
            sync_jobs.c.last_requested_at <= synced_from,
        )
    )
    resolve_dead_letters(conn, item_id, now=now)
    return int(settled.rowcount)


def resolve_dead_letters(conn: Connection, item_id: str, *, now: datetime) -> None:
    conn.execute(
        update(sync_dead_letters)
        .where(sync_dead_letters.c.item_id == item_id, sync_dead_letters.c.resolved_at.is_(None))
        .values(resolved_at=now)
    )


def queued_jobs(conn: Connection) -> list[QueuedJob]:
    rows = conn.execute(select(sync_jobs).order_by(sync_jobs.c.item_id)).all()
    result = []
    for row in rows:
        not_before = as_utc(row.not_before)
        assert not_before is not None
        result.append(QueuedJob(row.item_id, row.state, int(row.requests), int(row.attempts),
                                not_before, row.last_error))
    return result


def open_dead_letters(conn: Connection) -> list[DeadLetter]:
    """Dead letters not resolved by a later successful sync, oldest first."""
    rows = conn.execute(
        select(sync_dead_letters)
        .where(sync_dead_letters.c.resolved_at.is_(None))
        .order_by(sync_dead_letters.c.parked_at, sync_dead_letters.c.dead_letter_id)
    ).all()
    letters = []
    for row in rows:
        first, parked = as_utc(row.first_requested_at), as_utc(row.parked_at)
        assert first is not None and parked is not None
        letters.append(DeadLetter(row.item_id, int(row.requests), int(row.attempts),
                                  row.last_error, first, parked))
    return letters


def queue_depth(conn: Connection) -> int:
    return int(conn.execute(select(func.count()).select_from(sync_jobs)).scalar_one())


# --- the log of verified webhooks ---------------------------------------------------------------


def seen_before(conn: Connection, jwt_sha256: str) -> bool:
    found = conn.execute(
        select(webhook_events.c.event_id).where(webhook_events.c.jwt_sha256 == jwt_sha256)
    ).first()
    return found is not None


def record_event(
    conn: Connection, *, jwt_sha256: str, received_at: datetime, issued_at: datetime,
    key_id: str, webhook_type: str, webhook_code: str, item_id: str | None, outcome: str,
) -> None:
    """Log one verified webhook. The JWT's hash is unique: a second insert is a replay and
    fails with IntegrityError, rolling back everything the caller did in the transaction."""
    conn.execute(insert(webhook_events).values(
        jwt_sha256=jwt_sha256, received_at=received_at, issued_at=issued_at,
        key_id=key_id[:100], webhook_type=webhook_type[:40], webhook_code=webhook_code[:60],
        item_id=item_id, outcome=outcome,
    ))


def prune_events(conn: Connection, *, before: datetime) -> int:
    """Forget webhook events received before ``before`` (long after their 5-minute replay
    window: their JWTs are refused as stale anyway)."""
    result = conn.execute(delete(webhook_events).where(webhook_events.c.received_at < before))
    return int(result.rowcount)


# --- what needs attention, per item (recon items list, the report's item health) ----------------


def _utc_text(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC")


def attention(conn: Connection, *, now: datetime) -> dict[str, list[str]]:
    """Item id -> short notes: dead-lettered syncs, queued syncs that keep failing, and consent
    that expires (or expired) unless the item is re-linked."""
    notes: dict[str, list[str]] = {}
    for letter in open_dead_letters(conn):
        notes.setdefault(letter.item_id, []).append(
            f"webhook sync gave up after {letter.attempts} tries ({letter.last_error}) at "
            f"{_utc_text(letter.parked_at)}; the next successful sync clears this")
    for job in queued_jobs(conn):
        if job.last_error:
            notes.setdefault(job.item_id, []).append(
                f"webhook sync failing ({job.last_error}), try {job.attempts + 1} at "
                f"{_utc_text(job.not_before)}")
    rows = conn.execute(select(items.c.item_id, items.c.consent_expires_at)
                        .where(items.c.consent_expires_at.is_not(None))).all()
    for item_id, expires in rows:
        moment = as_utc(expires)
        assert moment is not None
        verb = "expired" if moment <= now else "expires"
        notes.setdefault(item_id, []).append(
            f"consent {verb} {_utc_text(moment)}: re-link in Link update mode")
    return notes
