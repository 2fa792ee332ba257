"""Single-instance lock: real processes racing for it, SIGKILLed holders, lost PG sessions."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text

from recon.config import StateConfig
from recon.errors import AlreadyRunningError, ExitCode
from recon.lock import PostgresAdvisoryLock, advisory_key, single_instance
from recon.store.db import normalise_url

pytestmark = pytest.mark.timeout(60)

# A holder: wait for the start file (so both processes try at the same moment), take the lock,
# say so on stdout, keep it until the release file exists. A loser exits with the error's code.
_HOLDER = r"""
import sys, time
from pathlib import Path
from sqlalchemy import create_engine
from recon.config import StateConfig
from recon.errors import AlreadyRunningError
from recon.lock import single_instance

url, lock_file, start, release, name = sys.argv[1:6]
while not Path(start).exists():
    time.sleep(0.005)
engine = create_engine(url)
try:
    with single_instance(StateConfig(lock_file=Path(lock_file)), engine, name=name) as lock:
        print("acquired", flush=True)
        while not Path(release).exists():
            time.sleep(0.01)
        lock.check()
except AlreadyRunningError as exc:
    print(exc, file=sys.stderr, flush=True)
    sys.exit(int(exc.exit_code))
print("released", flush=True)
"""


class Contenders:
    def __init__(self, tmp_path: Path, url: str, name: str) -> None:
        self.tmp_path = tmp_path
        self.url = url
        self.name = name
        self.lock_file = tmp_path / "var" / "recon.lock"
        self.start = tmp_path / "start"
        self.release = tmp_path / "release"
        self.procs: list[subprocess.Popen[str]] = []

    def spawn(self) -> subprocess.Popen[str]:
        proc = subprocess.Popen(
            [sys.executable, "-c", _HOLDER, self.url, str(self.lock_file), str(self.start),
             str(self.release), self.name],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        self.procs.append(proc)
        return proc

    def cleanup(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
            proc.communicate(timeout=10)


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'state.db'}"


@pytest.fixture(params=["file", pytest.param("postgres", marks=pytest.mark.postgres)])
def lock_url(request: pytest.FixtureRequest, sqlite_url: str) -> str:
    if request.param == "file":
        return sqlite_url
    return normalise_url(str(request.getfixturevalue("postgres_admin_url")))


@pytest.fixture
def contenders(tmp_path: Path, lock_url: str) -> Iterator[Contenders]:
    # A per-test lock name so parallel test runs on one PostgreSQL never share a key.
    group = Contenders(tmp_path, lock_url, f"test-{tmp_path.name}")
    yield group
    group.cleanup()


def test_two_processes_started_together_exactly_one_runs(contenders: Contenders) -> None:
    first, second = contenders.spawn(), contenders.spawn()
    contenders.start.touch()

    # The loser does not wait for the winner: it exits 75 while the winner still holds the lock.
    while first.poll() is None and second.poll() is None:
        time.sleep(0.01)
    loser, winner = (first, second) if first.poll() is not None else (second, first)
    assert winner.poll() is None, "both processes exited: neither kept the lock"
    loser_out, loser_err = loser.communicate(timeout=10)
    assert loser.returncode == ExitCode.ALREADY_RUNNING == 75
    assert loser_out == ""
    assert "another recon run holds the lock (pid " in loser_err
    assert f"pid {winner.pid}," in loser_err
    assert "nothing was done" in loser_err

    contenders.release.touch()
    winner_out, _ = winner.communicate(timeout=10)
    assert winner.returncode == 0
    assert winner_out.split() == ["acquired", "released"]


def test_sigkilled_holder_frees_the_lock(contenders: Contenders) -> None:
    contenders.start.touch()
    holder = contenders.spawn()
    assert holder.stdout is not None
    assert holder.stdout.readline().strip() == "acquired"

    blocked = contenders.spawn()
    assert blocked.wait(timeout=30) == 75

    holder.send_signal(signal.SIGKILL)
    assert holder.wait(timeout=10) == -signal.SIGKILL

    # The OS (flock) or the server (session end) frees the lock; PostgreSQL notices the closed
    # socket asynchronously, so a new run may need a few tries.
    contenders.release.touch()
    for _ in range(200):
        successor = contenders.spawn()
        out, _err = successor.communicate(timeout=30)
        if successor.returncode == 0:
            break
        assert successor.returncode == 75
        time.sleep(0.05)
    assert successor.returncode == 0
    assert out.split() == ["acquired", "released"]


def test_file_lock_records_the_holder_and_is_reusable(tmp_path: Path, sqlite_url: str) -> None:
    state = StateConfig(lock_file=tmp_path / "nested" / "recon.lock")
    engine = create_engine(sqlite_url)
    with single_instance(state, engine) as lock:
        assert '"pid": ' in state.lock_file.read_text()
        lock.check()
        with pytest.raises(AlreadyRunningError) as busy, single_instance(state, engine):
            pytest.fail("a second holder in the same process got the lock")
        assert busy.value.exit_code == 75
    # Released: the holder text is cleared and the lock can be taken again.
    assert state.lock_file.read_text() == ""
    with single_instance(state, engine) as lock:
        lock.check()


def test_file_lock_check_detects_a_deleted_lock_file(tmp_path: Path, sqlite_url: str) -> None:
    state = StateConfig(lock_file=tmp_path / "recon.lock")
    with single_instance(state, create_engine(sqlite_url)) as lock:
        state.lock_file.unlink()
        with pytest.raises(AlreadyRunningError, match="was removed"):
            lock.check()
        state.lock_file.write_text("")  # a new file (new inode), as a second run would create
        with pytest.raises(AlreadyRunningError, match="was replaced"):
            lock.check()


def test_advisory_key_is_stable_and_fits_bigint() -> None:
    assert advisory_key("recon-run") == advisory_key("recon-run")
    assert advisory_key("recon-run") != advisory_key("recon-backfill")
    assert -(2**63) <= advisory_key("recon-run") < 2**63
    # Pinned: a key that changed between releases would let an old and a new version run at once.
    assert advisory_key("recon-run") == 4462036069165732380


@pytest.fixture
def pg_engine(postgres_admin_url: str) -> Iterator[Engine]:
    engine = create_engine(normalise_url(postgres_admin_url))
    yield engine
    engine.dispose()


@pytest.mark.postgres
def test_pg_lock_terminated_connection_is_detected(
    pg_engine: Engine, tmp_path: Path
) -> None:
    state = StateConfig(lock_file=tmp_path / "unused.lock")
    name = f"test-{tmp_path.name}"
    with single_instance(state, pg_engine, name=name) as lock:
        lock.check()
        assert isinstance(lock, PostgresAdvisoryLock)
        backend_pid = lock.backend_pid
        with pg_engine.connect() as admin:
            holder = admin.execute(
                text("SELECT application_name FROM pg_stat_activity WHERE pid = :p"),
                {"p": backend_pid},
            ).scalar_one()
            assert holder.startswith("recon pid=")
            assert admin.execute(
                text("SELECT pg_terminate_backend(:p)"), {"p": backend_pid}
            ).scalar_one()
        with pytest.raises(AlreadyRunningError, match="lost the run lock"):
            lock.check()
        # The server freed the lock with the session: a new run can take it at once.
        with single_instance(state, pg_engine, name=name) as successor:
            successor.check()
    assert not state.lock_file.exists()  # PostgreSQL mode never touches the lock file


@pytest.mark.postgres
def test_pg_lock_busy_and_released(pg_engine: Engine, tmp_path: Path) -> None:
    state = StateConfig(lock_file=tmp_path / "unused.lock")
    name = f"test-{tmp_path.name}"
    with single_instance(state, pg_engine, name=name):
        with (pytest.raises(AlreadyRunningError, match=r"\(pid \d+, since "),
              single_instance(state, pg_engine, name=name)):
            pytest.fail("a second holder got the advisory lock")
        with single_instance(state, pg_engine, name=f"{name}-other") as other:
            other.check()  # a different name is a different lock
    with pg_engine.connect() as conn:
        key = advisory_key(name) & 0xFFFFFFFFFFFFFFFF
        left = conn.execute(
            text("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'"
                 " AND classid = :hi AND objid = :lo"),
            {"hi": key >> 32, "lo": key & 0xFFFFFFFF},
        ).scalar_one()
    assert left == 0


def test_a_loser_waits_briefly_for_the_holder_to_write_who_it_is(tmp_path: Path) -> None:
    """The holder writes its pid just after taking the lock; a process that loses the race by
    microseconds must not report 'pid unknown' (CI saw it once in seven runs)."""
    import fcntl
    import json
    import os
    import threading

    from recon.lock import _file_lock

    path = tmp_path / "recon.lock"
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # held, nothing written yet

        def write_holder() -> None:
            time.sleep(0.05)
            holder = {"pid": 4242, "since": "2026-11-29T03:00:00+00:00"}
            os.pwrite(fd, (json.dumps(holder) + "\n").encode(), 0)

        writer = threading.Thread(target=write_holder)
        writer.start()
        try:
            with (
                pytest.raises(AlreadyRunningError, match=r"\(pid 4242, since 2026-11-29T03:00"),
                _file_lock(path),
            ):
                pass
        finally:
            writer.join()
    finally:
        os.close(fd)
