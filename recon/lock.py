"""Single-instance lock for recon runs (cron, scheduler and manual backfills share it).

PostgreSQL state store: a session-level ``pg_try_advisory_lock`` taken on a connection that is
checked out for the whole run and used for nothing else. The server frees the lock when that
session ends, so a crashed or SIGKILLed holder never leaves it behind.

Any other store (SQLite): ``fcntl.flock(LOCK_EX | LOCK_NB)`` on ``state.lock_file``. The kernel
frees a flock when the holder's file descriptor closes, including on SIGKILL. ``flock`` and not
``lockf``: POSIX record locks are dropped when *any* descriptor of the file is closed.

A lock can be lost while the run goes on (the PostgreSQL connection is killed, the lock file is
deleted). :meth:`Lock.check` detects that; the pipeline calls it right before each commit so a
run that lost its lock never interleaves commits with the new holder (notes D-6).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import json
import logging
import os
import socket
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from recon.config import StateConfig
from recon.errors import AlreadyRunningError, UpstreamError
from recon.safefile import open_private
from recon.store.db import sqlite_database_path

log = logging.getLogger(__name__)

_MAX_HOLDER_TEXT = 63  # PostgreSQL truncates application_name to NAMEDATALEN - 1 bytes


class Lock(Protocol):
    """A held single-instance lock."""

    @property
    def description(self) -> str:
        """Where the lock lives, for log lines (never a secret)."""
        ...

    def check(self) -> None:
        """Raise AlreadyRunningError if the lock was lost since it was taken."""
        ...


def advisory_key(name: str) -> int:
    """A stable signed 64-bit key for ``pg_advisory_lock`` (the same in every process)."""
    digest = hashlib.sha256(f"recon:{name}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def _holder_text(since: datetime) -> str:
    return f"recon pid={os.getpid()} since={since.isoformat(timespec='seconds')}"


def _busy_error(pid: object, since: object) -> AlreadyRunningError:
    return AlreadyRunningError(
        f"another recon run holds the lock (pid {pid}, since {since}); nothing was done"
    )


@contextlib.contextmanager
def single_instance(
    state: StateConfig, engine: Engine, *, name: str = "recon-run"
) -> Iterator[Lock]:
    """Hold the run lock for the body of the ``with``; raise AlreadyRunningError when busy.

    Raises UpstreamError when the PostgreSQL server cannot be reached to take the lock.
    """
    if engine.dialect.name == "postgresql":
        with _postgres_lock(engine, name) as pg_lock:
            yield pg_lock
    else:
        database = sqlite_database_path(state.database_url)
        with _file_lock(state.lock_file, protected=() if database is None else (database,)) as (
            file_lock
        ):
            yield file_lock


# --- PostgreSQL ---------------------------------------------------------------------------


class PostgresAdvisoryLock:
    def __init__(self, connection: Connection, key: int, name: str) -> None:
        self._connection = connection
        self.key = key
        self.name = name
        pid = connection.execute(text("SELECT pg_backend_pid()")).scalar_one()
        self.backend_pid = int(pid)

    @property
    def description(self) -> str:
        return f"PostgreSQL advisory lock {self.name!r} (backend {self.backend_pid})"

    def check(self) -> None:
        # The key is split into classid (high 32 bits) and objid (low 32 bits) in pg_locks.
        unsigned = self.key & 0xFFFFFFFFFFFFFFFF
        try:
            held = self._connection.execute(
                text(
                    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted"
                    " AND pid = pg_backend_pid() AND classid = :hi AND objid = :lo"
                    " AND objsubid = 1"
                ),
                {"hi": unsigned >> 32, "lo": unsigned & 0xFFFFFFFF},
            ).scalar_one()
        except SQLAlchemyError as exc:
            raise AlreadyRunningError(
                f"lost the run lock: its database connection failed ({type(exc).__name__});"
                " stopping before commit so no other run's work is overwritten"
            ) from None
        if held == 0:
            raise AlreadyRunningError(
                "lost the run lock: it was released on the server; stopping before commit"
            )


def _holder_of(connection: Connection, key: int) -> tuple[object, object]:
    unsigned = key & 0xFFFFFFFFFFFFFFFF
    try:
        row = connection.execute(
            text(
                "SELECT a.application_name, a.backend_start FROM pg_locks l"
                " JOIN pg_stat_activity a ON a.pid = l.pid"
                " WHERE l.locktype = 'advisory' AND l.granted AND l.classid = :hi"
                " AND l.objid = :lo AND l.objsubid = 1"
            ),
            {"hi": unsigned >> 32, "lo": unsigned & 0xFFFFFFFF},
        ).first()
    except SQLAlchemyError:
        return "unknown", "unknown"
    if row is None:
        return "unknown", "unknown"
    application_name = str(row[0] or "")
    fields = dict(part.split("=", 1) for part in application_name.split() if "=" in part)
    return fields.get("pid", "unknown"), fields.get("since", row[1])


@contextlib.contextmanager
def _postgres_lock(engine: Engine, name: str) -> Iterator[PostgresAdvisoryLock]:
    key = advisory_key(name)
    try:
        # AUTOCOMMIT: the session lock outlives transactions, and the connection must not sit
        # "idle in transaction" for the whole run.
        connection = engine.connect().execution_options(isolation_level="AUTOCOMMIT")
    except DBAPIError as exc:
        raise UpstreamError(
            f"the state store is unreachable: cannot take the run lock ({type(exc).__name__})"
        ) from None
    try:
        acquired = connection.execute(
            text("SELECT pg_try_advisory_lock(:key)"), {"key": key}
        ).scalar_one()
        if not acquired:
            pid, since = _holder_of(connection, key)
            raise _busy_error(pid, since)
        since = datetime.now(UTC)
        # Tell a second instance (and a DBA looking at pg_stat_activity) who holds the lock.
        connection.execute(
            text("SELECT set_config('application_name', :v, false)"),
            {"v": _holder_text(since)[:_MAX_HOLDER_TEXT]},
        )
        lock = PostgresAdvisoryLock(connection, key, name)
    except DBAPIError as exc:
        connection.invalidate()
        connection.close()
        raise UpstreamError(
            f"the state store failed while taking the run lock ({type(exc).__name__})"
        ) from None
    except BaseException:
        connection.close()
        raise
    log.info("run lock taken", extra={"lock": lock.description})
    try:
        yield lock
    finally:
        try:
            connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": key})
        except SQLAlchemyError as exc:
            # The session is gone, and the server released the lock with it.
            log.warning("run lock connection already closed", extra={"error": type(exc).__name__})
            connection.invalidate()
        connection.close()


# --- lock file ----------------------------------------------------------------------------


class FileLock:
    def __init__(self, path: Path, fd: int) -> None:
        self.path = path
        self._fd = fd

    @property
    def description(self) -> str:
        return f"lock file {self.path}"

    def check(self) -> None:
        # If someone deleted or replaced the file, a new process can lock the new inode.
        try:
            ours = os.fstat(self._fd)
            on_disk = os.stat(self.path)
        except OSError:
            raise AlreadyRunningError(
                f"lost the run lock: {self.path} was removed; stopping before commit"
            ) from None
        if (ours.st_dev, ours.st_ino) != (on_disk.st_dev, on_disk.st_ino):
            raise AlreadyRunningError(
                f"lost the run lock: {self.path} was replaced; stopping before commit"
            )


def _read_holder(fd: int, attempts: int = 50) -> tuple[object, object]:
    """The holder's pid and start time from the lock file.

    The holder writes them just after taking the lock: a process that lost the race by
    microseconds can find the file still empty, so an empty or partial file is read again for
    up to half a second.
    """
    for attempt in range(attempts):
        try:
            raw = os.pread(fd, 4096, 0)
            info = json.loads(raw.decode("utf-8"))
            return info.get("pid", "unknown"), info.get("since", "unknown")
        except (OSError, ValueError, AttributeError):
            if attempt + 1 < attempts:
                time.sleep(0.01)
    return "unknown", "unknown"


def _is_lock_record(head: bytes) -> bool:
    """What a recon lock file holds: nothing, or the holder's one-line JSON record."""
    return head.startswith(b'{"pid": ') and head.count(b"\n") <= 1


@contextlib.contextmanager
def _file_lock(path: Path, *, protected: tuple[Path, ...] = ()) -> Iterator[FileLock]:
    fd = open_private(path, os.O_RDWR | os.O_CREAT, setting="state.lock_file",
                      protected=protected, looks_like=_is_lock_record, what="lock file")
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise
            pid, since = _read_holder(fd)
            raise _busy_error(pid, since) from None
        since = datetime.now(UTC)
        holder = {"pid": os.getpid(), "host": socket.gethostname(),
                  "since": since.isoformat(timespec="seconds")}
        os.ftruncate(fd, 0)
        os.pwrite(fd, (json.dumps(holder) + "\n").encode("utf-8"), 0)
        lock = FileLock(path, fd)
        log.info("run lock taken", extra={"lock": lock.description})
        try:
            yield lock
        finally:
            # The file stays (unlinking it races with a process that already opened it).
            with contextlib.suppress(OSError):
                os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
