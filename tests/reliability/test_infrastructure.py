"""Issue "Hardening" 3: the database locked or killed under the job, a full disk while writing
a report, a read-only report folder. Each: a documented exit code, nothing half-written, and a
re-run that equals the reference."""

from __future__ import annotations

import resource
import signal
import sqlite3
import time
import uuid

import pytest
from sqlalchemy import create_engine, text

from recon.store.db import normalise_url
from reliability.harness import (
    AS_OF,
    Reference,
    Workdir,
    assert_like_reference,
    child_env,
    store_state,
    temp_report_files,
)

pytestmark = [pytest.mark.reliability, pytest.mark.slow]


def _wait_for_state(work: Workdir, state: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        connection = sqlite3.connect(work.url.removeprefix("sqlite:///"), timeout=5)
        try:
            found = connection.execute("SELECT count(*) FROM runs WHERE state = ?",
                                       (state,)).fetchone()[0]
        except sqlite3.OperationalError:
            found = 0
        finally:
            connection.close()
        if found:
            return
        time.sleep(0.2)
    raise AssertionError(f"no run reached {state!r}")


def test_database_is_locked_by_another_writer(scenario: Workdir, reference: Reference) -> None:
    engine = scenario.engine()
    before = store_state(engine)
    engine.dispose()
    holder = sqlite3.connect(scenario.url.removeprefix("sqlite:///"), isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        result = scenario.recon(*scenario.run_args(),
                                env=child_env(RECON_SQLITE_BUSY_TIMEOUT_MS="300"))
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert result.returncode == 69, result.stderr[-3000:]
    assert "database is locked" in result.stderr or "OperationalError" in result.stderr
    assert "Traceback" not in result.stderr
    engine = scenario.engine()
    after = store_state(engine)
    engine.dispose()
    assert after.bank == before.bank and after.cursors == before.cursors
    rerun = scenario.run()
    assert rerun.returncode in (0, 3), rerun.stderr[-3000:]
    assert_like_reference(scenario, reference)


def test_disk_full_while_writing_the_report(scenario: Workdir, reference: Reference) -> None:
    """RLIMIT_FSIZE (SIGXFSZ ignored, so writes fail with EFBIG) applied to the child when it
    reaches the report step: the workbook cannot be written."""
    def ignore_sigxfsz() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)

    child = scenario.start(*scenario.run_args(), preexec_fn=ignore_sigxfsz, env=child_env(
        RECON_FAULT_POINT="pipeline.reporting", RECON_FAULT_ACTION="sleep:3"))
    _wait_for_state(scenario, "reporting")
    limit = 64 * 1024
    resource.prlimit(child.pid, resource.RLIMIT_FSIZE, (limit, limit))
    _out, err = child.communicate(timeout=120)
    assert child.returncode not in (0, 3, -signal.SIGKILL), err[-3000:]
    assert "File too large" in err or "EFBIG" in err or "Errno 27" in err, err[-3000:]
    assert not (scenario.reports_dir / f"reconciliation-{AS_OF}.xlsx").exists()
    assert temp_report_files(scenario.reports_dir) == []
    rerun = scenario.run()
    assert rerun.returncode in (0, 3), rerun.stderr[-3000:]
    assert_like_reference(scenario, reference)


def test_postgres_connections_killed_mid_run(
    prepared: Workdir, reference: Reference, postgres_schema_url: str, tmp_path: object
) -> None:
    """pg_terminate_backend on every connection of the run (lock connection included) while it
    matches: the run stops with a documented code and the re-run equals the reference."""
    from pathlib import Path

    from reliability.harness import prepare_workdir

    assert isinstance(tmp_path, Path)
    app = f"recon-rel-{uuid.uuid4().hex[:8]}"
    url = f"{postgres_schema_url}&application_name={app}"
    work = prepare_workdir(tmp_path / "var", database_url=url)  # links into the PG schema
    child = work.start(*work.run_args(), env=child_env(
        RECON_FAULT_POINT="pipeline.matching", RECON_FAULT_ACTION="sleep:4"))
    admin = create_engine(normalise_url(postgres_schema_url))
    deadline = time.monotonic() + 120
    with admin.connect() as conn:
        while time.monotonic() < deadline:
            state = conn.execute(text("SELECT state FROM runs ORDER BY started_at DESC LIMIT 1"))
            if state.scalar() == "matching":
                break
            conn.rollback()
            time.sleep(0.2)
        # The run's pool connections carry `app`; the lock's own connection names its holder
        # ("recon pid=N ..."), so that one is killed by the child's pid.
        killed = conn.execute(text(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE application_name = :app OR application_name LIKE :lock"),
            {"app": app, "lock": f"recon pid={child.pid} %"}).scalar_one()
    admin.dispose()
    assert killed >= 2  # the lock connection and at least one pool connection
    _out, err = child.communicate(timeout=120)
    assert child.returncode == 75, err[-3000:]
    assert "lost the run lock" in err
    assert "Traceback" not in err
    rerun = work.run()
    assert rerun.returncode in (0, 3), rerun.stderr[-3000:]
    assert_like_reference(work, reference, reports=False)


def test_read_only_report_folder(scenario: Workdir, reference: Reference) -> None:
    """The report folder is a file system mounted read-only, simulated by a folder the child
    cannot write (we run as root in CI, so a chmod would not stop it: a regular file sits where
    the folder should be)."""
    engine = scenario.engine()
    before = store_state(engine)
    engine.dispose()
    scenario.reports_dir.parent.mkdir(parents=True, exist_ok=True)
    scenario.reports_dir.write_text("not a folder")
    result = scenario.run()
    assert result.returncode not in (0, 3), result.stderr[-3000:]
    assert str(scenario.reports_dir) in result.stderr
    assert "Traceback" not in result.stderr
    engine = scenario.engine()
    assert store_state(engine).run_states[-1] == "failed"
    engine.dispose()
    assert before.run_states == []
    scenario.reports_dir.unlink()
    rerun = scenario.run()
    assert rerun.returncode in (0, 3), rerun.stderr[-3000:]
    assert_like_reference(scenario, reference)

