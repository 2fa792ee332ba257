"""Issue "Hardening" 1: SIGKILL of a real `recon run` at named fault points and at random
moments, then a normal re-run: the end state equals the fault-free reference run."""

from __future__ import annotations

import random
import signal
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select, update

from recon.pipeline import EMULATOR_CLIENT_ID, EMULATOR_SECRET, plaid_session
from recon.plaid.emulator import Emulator
from recon.plaid.items import add_item_from_public_token
from recon.plaid.tokens import TokenVault
from recon.store.schema import items
from reliability.harness import (
    AS_OF,
    TOKEN_KEY_ENV,
    Reference,
    Workdir,
    assert_like_reference,
    store_state,
    temp_report_files,
)

pytestmark = [pytest.mark.reliability, pytest.mark.slow]

KILLED = -signal.SIGKILL


def _killed_then_rerun(work: Workdir, point: str) -> None:
    killed = work.run(RECON_FAULT_POINT=point)
    assert killed.returncode == KILLED, (point, killed.stderr[-2000:])
    rerun = work.run()
    assert rerun.returncode in (0, 3), rerun.stderr[-3000:]


@pytest.mark.parametrize("point", ["sync.before_commit", "sync.inside_commit"])
def test_kill_before_the_sync_commit_leaves_nothing_and_the_rerun_converges(
    scenario: Workdir, reference: Reference, point: str
) -> None:
    killed = scenario.run(RECON_FAULT_POINT=point)
    assert killed.returncode == KILLED
    engine = scenario.engine()
    state = store_state(engine)
    engine.dispose()
    # The first item's update was rolled back with its cursor: no rows, no cursor, no report.
    assert state.bank == [] and state.cursors == {}
    assert state.run_states == ["syncing"]
    assert not scenario.reports_dir.exists()
    rerun = scenario.run()
    assert rerun.returncode in (0, 3), rerun.stderr[-3000:]
    assert_like_reference(scenario, reference)


@pytest.mark.parametrize("point", ["sync.after_commit", "pipeline.matching"])
def test_kill_after_the_sync_commit_then_rerun_converges(
    scenario: Workdir, reference: Reference, point: str
) -> None:
    _killed_then_rerun(scenario, point)
    assert_like_reference(scenario, reference)
    engine = scenario.engine()
    assert store_state(engine).run_states == ["crashed", "succeeded"]
    engine.dispose()


@pytest.mark.parametrize("report_file", [
    f"reconciliation-{AS_OF}.xlsx", f"reconciliation-{AS_OF}.html",
    f"discrepancies-{AS_OF}.csv", f"summary-{AS_OF}.json",
])
def test_kill_while_writing_each_report_file_leaves_no_half_report(
    scenario: Workdir, reference: Reference, report_file: str
) -> None:
    killed = scenario.run(RECON_FAULT_POINT=f"reporting.before_replace:{report_file}")
    assert killed.returncode == KILLED
    # The file being written exists only under its temporary name; earlier files are complete.
    assert not (scenario.reports_dir / report_file).exists()
    assert any(name.startswith(f".{report_file}.") for name in temp_report_files(
        scenario.reports_dir))
    rerun = scenario.run()
    assert rerun.returncode in (0, 3), rerun.stderr[-3000:]
    assert_like_reference(scenario, reference)


def test_kill_in_the_middle_of_a_token_rotation_is_detected_and_relinking_recovers(
    scenario: Workdir, reference: Reference
) -> None:
    """A-5: Plaid answered the invalidate with a new token and the process died before storing
    it. The old token is dead: the next run must say so (needs re-linking), not loop or
    silently skip, and re-linking the item restores the reference state."""
    engine = scenario.engine()
    with engine.connect() as conn:
        item_id = conn.execute(select(items.c.item_id).order_by(items.c.item_id)).scalars().first()
    assert item_id is not None
    with engine.begin() as conn:  # make just this item's token due for rotation
        conn.execute(update(items).where(items.c.item_id == item_id)
                     .values(token_created_at=datetime(2020, 1, 1, tzinfo=UTC)))
    killed = scenario.run(RECON_FAULT_POINT="tokens.after_invalidate")
    assert killed.returncode == KILLED
    after_kill = scenario.run()
    assert after_kill.returncode == 69, after_kill.stderr[-3000:]
    assert item_id in after_kill.stdout + after_kill.stderr
    state = store_state(engine)
    assert state.item_status[item_id] in ("needs_relink", "token_lost")
    assert item_id not in state.cursors  # nothing synced with a token we do not have
    assert {row[1] for row in state.bank} == set(state.cursors)  # other item synced

    # The operator re-links the item in Link update mode (same item id, history kept).
    emulator_fixtures = scenario.config.plaid.emulator_fixtures
    assert emulator_fixtures is not None
    with plaid_session(scenario.config) as plaid:
        assert isinstance(plaid.emulator, Emulator)
        institution = next(i.institution_id for i in _items(engine) if i.item_id == item_id)
        plaid.emulator.set_login_required(item_id)  # Link opens update mode for this item
        public_token = plaid.gateway.sandbox_public_token_create(institution)
        add_item_from_public_token(engine, plaid.gateway, TokenVault.from_env(TOKEN_KEY_ENV),
                                   public_token, now=datetime.now(UTC), item_id=item_id)
    engine.dispose()
    rerun = scenario.run()
    assert rerun.returncode in (0, 3), rerun.stderr[-3000:]
    assert_like_reference(scenario, reference)
    assert EMULATOR_SECRET not in rerun.stderr and EMULATOR_CLIENT_ID not in rerun.stderr


def _items(engine: object) -> list[object]:
    with engine.connect() as conn:  # type: ignore[attr-defined]
        return list(conn.execute(select(items.c.item_id, items.c.institution_id)))


def test_sigkill_at_random_moments_then_rerun_converges(
    scenario: Workdir, reference: Reference, tmp_path: Path
) -> None:
    rng = random.Random(20261120)  # fixed seed: CI sees the same kill moments every time
    for _round in range(2):
        child = scenario.start()
        time.sleep(rng.uniform(1.0, 7.0))
        child.send_signal(signal.SIGKILL)
        child.communicate(timeout=60)
    rerun = scenario.run()
    assert rerun.returncode in (0, 3), rerun.stderr[-3000:]
    assert_like_reference(scenario, reference)
