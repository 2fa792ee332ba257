"""A sync process killed with SIGKILL mid-sync loses nothing and duplicates nothing on re-run.

The sync runs in a real child process (``python -c``) against the emulator served by this test
process; it is killed either at a named fault point (RECON_FAULT_POINT) or at a random moment.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from decimal import Decimal
from typing import Any

import pytest
from conftest import PLAID_CLIENT_ID, PLAID_SECRET, VAULT_KEY_ENV
from sqlalchemy import Engine, func, select

from recon.config import Config, parse_config
from recon.money import plaid_amount_to_minor
from recon.plaid.emulator import Emulator, EmulatorServer, Fault
from recon.store import bank as bank_store
from recon.store.schema import bank_transactions

# Each case starts real Python processes (a few seconds each on a shared machine).
pytestmark = [pytest.mark.slow, pytest.mark.reliability]
CONFIG: dict[str, Any] = {
    "plaid": {"sync_page_size": 3, "timeout_seconds": 5,
              "retry": {"max_attempts": 3, "base_delay_seconds": 0.01}},
}

CHILD = """
import json, sys
from datetime import UTC, datetime
from recon.config import Config, parse_config
from recon.plaid.client import make_gateway
from recon.plaid.sync import sync_item
from recon.plaid.tokens import TokenVault
from recon.store.db import open_store
args = json.loads(sys.argv[1])
config = parse_config(args["config"], environ={})
engine = open_store(args["url"])
gateway = make_gateway(config.plaid, host=args["host"], client_id=args["client_id"],
                       secret=args["secret"], sleep=lambda _s: None)
vault = TokenVault.from_env(args["key_env"])
outcome = sync_item(engine, gateway, vault, "item-a", config, now=datetime.now(UTC))
print(outcome.status, outcome.added, outcome.modified, outcome.removed, flush=True)
"""


@pytest.fixture
def plaid_items() -> list[dict[str, Any]]:
    return [{
        "item_id": "item-a", "institution_id": "ins_a",
        "accounts": [{"account_id": "acc-a", "balances": {"current": Decimal("1.00"),
                                                          "iso_currency_code": "USD"}}],
        "transactions": [{"amount": Decimal(f"{i}.{i:02d}"), "date": "2024-05-10",
                          "name": f"Txn {i}"} for i in range(1, 40)],
    }]  # fmt: skip


@pytest.fixture
def config() -> Config:
    return parse_config(CONFIG, environ={})


def start_child(store_url: str, server: EmulatorServer, key: str,
                fault_point: str | None) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if k != "RECON_FAULT_POINT"}
    env[VAULT_KEY_ENV] = key
    if fault_point:
        env["RECON_FAULT_POINT"] = fault_point
    args = {"config": CONFIG, "url": store_url, "host": server.url, "client_id": PLAID_CLIENT_ID,
            "secret": PLAID_SECRET, "key_env": VAULT_KEY_ENV}
    return subprocess.Popen([sys.executable, "-c", CHILD, json.dumps(args)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def run_child(store_url: str, server: EmulatorServer, key: str,
              fault_point: str | None = None) -> tuple[int, str]:
    child = start_child(store_url, server, key, fault_point)
    out, err = child.communicate(timeout=120)
    return child.returncode, out + err


def live(engine: Engine) -> dict[str, int]:
    t = bank_transactions
    with engine.connect() as conn:
        return dict(conn.execute(  # type: ignore[arg-type]
            select(t.c.transaction_id, t.c.amount_minor).where(t.c.removed_at.is_(None))).all())


def total_rows(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(bank_transactions)).scalar_one())


def oracle(emulator: Emulator) -> dict[str, int]:
    return {t["transaction_id"]: plaid_amount_to_minor(t["amount"], t["iso_currency_code"])
            for t in emulator.current_transactions("item-a")}


def cursor(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return bank_store.get_cursor(conn, "item-a")


def assert_converged(engine: Engine, emulator: Emulator) -> None:
    expected = oracle(emulator)
    assert live(engine) == expected
    # The committed cursor is exactly at the emulator's head: a further sync has nothing to add.
    assert cursor(engine)


@pytest.mark.parametrize("point", ["sync.before_commit", "sync.inside_commit"])
def test_kill_before_the_commit_keeps_the_old_state_and_a_rerun_converges(
    linked: Engine, store_url: str, server: EmulatorServer, emulator: Emulator, vault_key: str,
    point: str,
) -> None:
    code, output = run_child(store_url, server, vault_key, point)
    assert code == -signal.SIGKILL, output
    assert total_rows(linked) == 0 and cursor(linked) is None  # nothing half-written
    code, output = run_child(store_url, server, vault_key)
    assert code == 0 and output.startswith("ok 39 0 0"), output
    assert_converged(linked, emulator)
    assert total_rows(linked) == 39


def test_kill_after_the_commit_keeps_rows_and_cursor_together(
    linked: Engine, store_url: str, server: EmulatorServer, emulator: Emulator, vault_key: str
) -> None:
    assert run_child(store_url, server, vault_key)[0] == 0
    first_cursor = cursor(linked)
    ids = sorted(oracle(emulator))
    emulator.remove_transaction(ids[0])
    emulator.modify_transaction(ids[1], amount=Decimal("0.01"))
    emulator.add_transaction("item-a", {"amount": Decimal("2.00"), "date": "2024-05-30"})
    code, output = run_child(store_url, server, vault_key, "sync.after_commit")
    assert code == -signal.SIGKILL, output
    assert cursor(linked) != first_cursor
    assert_converged(linked, emulator)
    code, output = run_child(store_url, server, vault_key)
    assert code == 0 and output.startswith("ok 0 0 0"), output  # nothing replayed twice
    assert_converged(linked, emulator)


def test_sigkill_at_random_moments_then_rerun_converges(
    linked: Engine, store_url: str, server: EmulatorServer, emulator: Emulator, vault_key: str
) -> None:
    rng = random.Random(20240601)
    # Slow pages stretch the sync over ~1.5 s so a random kill lands inside it.
    emulator.inject("item-a", Fault("slow", delay_seconds=0.1, times=1000))
    for round_number in range(3):
        emulator.add_transaction("item-a", {"amount": Decimal(f"{round_number + 1}.50"),
                                            "date": "2024-05-30"})
        emulator.remove_transaction(sorted(oracle(emulator))[round_number])
        before_live, before_cursor = live(linked), cursor(linked)
        child = start_child(store_url, server, vault_key, None)
        time.sleep(rng.uniform(0.3, 1.5))
        child.send_signal(signal.SIGKILL)
        child.communicate(timeout=60)
        # Atomic: either the old state with the old cursor, or the whole update with the new one.
        if cursor(linked) == before_cursor:
            assert live(linked) == before_live
        else:
            assert live(linked) == oracle(emulator)
        code, output = run_child(store_url, server, vault_key)
        assert code == 0 and output.startswith("ok"), output
        assert_converged(linked, emulator)
