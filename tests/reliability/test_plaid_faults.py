"""Issue "Hardening" 2: Plaid faults scripted into an emulator this test process controls;
pipeline.run in-process with small retry delays. Every recovered run equals the reference."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update

from recon import pipeline
from recon.errors import ExitCode
from recon.money import plaid_amount_to_minor
from recon.pipeline import EMULATOR_CLIENT_ID, EMULATOR_SECRET
from recon.plaid.emulator import Emulator, EmulatorServer, Fault
from recon.store.schema import bank_transactions, items, sync_cursors
from reliability.harness import (
    AS_OF,
    Reference,
    Workdir,
    assert_like_reference,
    copy_workdir,
    store_state,
)

pytestmark = [pytest.mark.reliability, pytest.mark.slow]

OPERATING_ITEM = "eVBnVMp7zdTJLkRNr33Rs6zr7KNJqBFLwZcVx"  # 1,204 transactions
TOKYO_ITEM = "Kp4wQz8XmN2rT6yLc9vB1sJd7hGf3aEk5oUiR"  # 622 transactions


class Emulated:
    def __init__(self, work: Workdir, emulator: Emulator) -> None:
        self.work = work
        self.emulator = emulator

    def run(self) -> pipeline.RunOutcome:
        return pipeline.run(self.work.config, as_of=AS_OF)


def _emulated(prepared: Workdir, root: Path, **plaid: Any) -> Iterator[Emulated]:
    fixtures = prepared.root / "demo" / "plaid-fixtures.json"
    emulator = Emulator.from_file(
        fixtures, client_id=EMULATOR_CLIENT_ID, secret=EMULATOR_SECRET,
        state_path=prepared.root / "demo" / "plaid-fixtures.state.json")
    with EmulatorServer(emulator) as server:
        def point_at_server(data: dict[str, Any]) -> None:
            data["plaid"].update(host=server.url, **plaid)

        work = copy_workdir(prepared, root, tweak=point_at_server)
        yield Emulated(work, emulator)


@pytest.fixture
def emulated(prepared: Workdir, tmp_path: Path) -> Iterator[Emulated]:
    yield from _emulated(prepared, tmp_path / "var", timeout_seconds=1, retry={
        "max_attempts": 6, "base_delay_seconds": 0.01, "max_delay_seconds": 0.05})


@pytest.fixture
def paged(prepared: Workdir, tmp_path: Path) -> Iterator[Emulated]:
    """Small pages, so one update spans many requests."""
    yield from _emulated(prepared, tmp_path / "var", sync_page_size=50, timeout_seconds=2)


def test_transient_faults_are_retried_and_the_result_equals_the_reference(
    emulated: Emulated, reference: Reference
) -> None:
    """429, 500, 503, a read timeout and a dropped connection, spread over pages and items."""
    # Queued faults are served one per request, back to back: 5 failures < max_attempts 6.
    for fault in (Fault("rate_limit", times=2), Fault("internal_error"),
                  Fault("planned_maintenance"),
                  Fault("rate_limit", endpoint="/accounts/get")):
        emulated.emulator.inject(OPERATING_ITEM, fault)
    for fault in (Fault("drop_connection"), Fault("slow", delay_seconds=1.5),
                  Fault("drop_connection")):
        emulated.emulator.inject(TOKYO_ITEM, fault)
    outcome = emulated.run()
    assert outcome.exit_code in (ExitCode.OK, ExitCode.DISCREPANCIES_ABOVE_THRESHOLD)
    assert_like_reference(emulated.work, reference)


@pytest.mark.parametrize("kind", ["internal_error", "rate_limit", "malformed"])
def test_a_persistent_fault_on_one_item_fails_it_alone_and_a_rerun_recovers(
    emulated: Emulated, reference: Reference, kind: Any
) -> None:
    emulated.emulator.inject(OPERATING_ITEM, Fault(kind, times=50))
    outcome = emulated.run()
    assert outcome.exit_code == ExitCode.UNAVAILABLE
    assert any(OPERATING_ITEM in line for line in outcome.summary_lines)
    engine = emulated.work.engine()
    state = store_state(engine)
    engine.dispose()
    assert OPERATING_ITEM not in state.cursors  # nothing of the failed pull committed
    assert {row[1] for row in state.bank} == {TOKYO_ITEM}  # the other item synced
    assert state.item_status[OPERATING_ITEM] == "active"  # transient: no re-link demanded
    emulated.emulator._item(OPERATING_ITEM).faults.clear()  # the bank recovers
    outcome = emulated.run()
    assert outcome.exit_code in (ExitCode.OK, ExitCode.DISCREPANCIES_ABOVE_THRESHOLD)
    assert_like_reference(emulated.work, reference)


@pytest.mark.parametrize("kind", ["item_login_required", "invalid_access_token"])
def test_a_dead_login_on_one_item_of_two_is_isolated_flagged_and_not_rotated(
    emulated: Emulated, kind: Any
) -> None:
    engine = emulated.work.engine()
    with engine.connect() as conn:
        ciphertext_before = conn.execute(select(items.c.access_token_ciphertext).where(
            items.c.item_id == OPERATING_ITEM)).scalar_one()
    emulated.emulator.inject(OPERATING_ITEM, Fault(kind, times=50))
    outcome = emulated.run()
    assert outcome.exit_code == ExitCode.UNAVAILABLE  # partial failure, visible to cron
    state = store_state(engine)
    assert state.item_status[OPERATING_ITEM] == "needs_relink"
    assert state.item_status[TOKYO_ITEM] == "active"
    assert set(state.cursors) == {TOKYO_ITEM}
    assert {row[1] for row in state.bank} == {TOKYO_ITEM}
    with engine.connect() as conn:
        assert conn.execute(select(items.c.access_token_ciphertext).where(
            items.c.item_id == OPERATING_ITEM)).scalar_one() == ciphertext_before
    engine.dispose()
    assert any("re-link" in line and OPERATING_ITEM in line for line in outcome.summary_lines)


def _oracle(emulator: Emulator) -> list[tuple[str, int]]:
    """The emulator's current transactions, less pending ones a posted transaction supersedes
    (the demo data keeps a few such pairs; recon stores only the posted one)."""
    current = [t for item_id in (OPERATING_ITEM, TOKYO_ITEM)
               for t in emulator.current_transactions(item_id)]
    superseded = {t["pending_transaction_id"] for t in current if t.get("pending_transaction_id")}
    return sorted(
        (t["transaction_id"], plaid_amount_to_minor(t["amount"], t["iso_currency_code"]))
        for t in current if t["transaction_id"] not in superseded)


def _live(work: Workdir) -> list[tuple[str, int]]:
    engine = work.engine()
    b = bank_transactions
    with engine.connect() as conn:
        rows = sorted((str(r[0]), int(r[1])) for r in conn.execute(
            select(b.c.transaction_id, b.c.amount_minor).where(b.c.removed_at.is_(None))))
    engine.dispose()
    return rows


def test_mutation_during_pagination_restarts_and_converges_to_the_emulator(
    paged: Emulated,
) -> None:
    paged.emulator.inject(OPERATING_ITEM, Fault("mutation_during_pagination", at_page=3))
    outcome = paged.run()
    assert outcome.exit_code in (ExitCode.OK, ExitCode.DISCREPANCIES_ABOVE_THRESHOLD)
    assert _live(paged.work) == _oracle(paged.emulator)  # the added transaction too, once
    second = paged.run()  # nothing left over: the committed cursor is the head
    assert second.counts["transactions_synced"] == 0


def test_pending_to_posted_split_across_pages_is_applied_atomically(paged: Emulated) -> None:
    paged.run()
    posted = paged.emulator.post_pending(OPERATING_ITEM)
    assert posted, "the demo data has pending transactions"
    outcome = paged.run()
    assert outcome.exit_code in (ExitCode.OK, ExitCode.DISCREPANCIES_ABOVE_THRESHOLD)
    live = dict(_live(paged.work))
    for pending_id, posted_id in posted:
        assert pending_id not in live and posted_id in live
    assert _live(paged.work) == _oracle(paged.emulator)


def test_the_same_transactions_delivered_twice_are_stored_once(
    emulated: Emulated, reference: Reference
) -> None:
    """A replay from an older cursor (here: from the beginning) delivers everything again."""
    emulated.run()
    engine = emulated.work.engine()
    with engine.begin() as conn:
        conn.execute(update(sync_cursors).values(cursor=""))
    engine.dispose()
    outcome = emulated.run()
    assert outcome.counts["transactions_synced"] == reference.state.bank_row_count
    assert_like_reference(emulated.work, reference)
