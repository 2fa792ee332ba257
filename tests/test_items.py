"""Linking items, item health and the /transactions/get backfill against the real emulator."""

from __future__ import annotations

from dataclasses import asdict
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import Engine, func, select

from recon.config import Config, parse_config
from recon.errors import InputError
from recon.plaid.client import PlaidCallError, PlaidGateway
from recon.plaid.emulator import Emulator, Fault
from recon.plaid.items import (
    add_item_from_public_token,
    add_sandbox_item,
    backfill_pull,
    list_items,
)
from recon.plaid.sync import sync_item
from recon.plaid.tokens import TokenVault
from recon.store.bank import load_bank_window
from recon.store.schema import bank_transactions

NOW = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def plaid_items() -> list[dict[str, Any]]:
    return [{
        "item_id": "item-a", "institution_id": "ins_a", "institution_name": "Alpha Bank",
        "accounts": [{"account_id": "acc-a", "balances": {"current": Decimal("5.00"),
                                                          "iso_currency_code": "USD"}}],
        "transactions": [{"amount": Decimal(f"-{i}.10"), "name": f"Deposit {i}",
                          "date": date(2024, 4, 1 + i % 30).isoformat()} for i in range(12)],
    }]  # fmt: skip


@pytest.fixture
def config() -> Config:
    return parse_config({"plaid": {"sync_page_size": 5},
                         "accounts": [{"plaid_account_id": "acc-a", "ledger_account": "L"}]},
                        environ={})  # fmt: skip


def count_rows(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(bank_transactions)).scalar_one())


def test_add_item_from_public_token_and_list_health_without_secrets(
    store: Engine, emulator: Emulator, gateway: PlaidGateway, vault: TokenVault
) -> None:
    public_token = gateway.sandbox_public_token_create("ins_a")
    assert add_item_from_public_token(store, gateway, vault, public_token, now=NOW) == "item-a"
    with pytest.raises(PlaidCallError, match="INVALID_PUBLIC_TOKEN"):  # single use
        add_item_from_public_token(store, gateway, vault, public_token, now=NOW)
    [health] = list_items(store, now=NOW + timedelta(hours=3))
    assert (health.item_id, health.institution, health.status, health.accounts) == (
        "item-a", "Alpha Bank", "active", 1)
    assert health.token_age == timedelta(hours=3) and health.last_sync_at is None
    shown = repr(asdict(health))
    assert all(token not in shown for token in emulator.valid_access_tokens("item-a"))
    assert public_token not in shown


def test_update_mode_refuses_a_token_for_another_item(
    store: Engine, gateway: PlaidGateway, vault: TokenVault
) -> None:
    other = gateway.sandbox_public_token_create("ins_new")  # the emulator makes a new item
    with pytest.raises(InputError, match="not item-a"):
        add_item_from_public_token(store, gateway, vault, other, now=NOW, item_id="item-a")
    assert list_items(store, now=NOW) == []


def test_backfill_is_idempotent_and_waits_for_product_not_ready(
    store: Engine, emulator: Emulator, gateway: PlaidGateway, vault: TokenVault, config: Config
) -> None:
    add_sandbox_item(store, gateway, vault, "ins_a", now=NOW)
    emulator.inject("item-a", Fault("product_not_ready", endpoint="/transactions/get", times=2))
    start, end = date(2024, 4, 1), date(2024, 4, 30)
    first = backfill_pull(store, gateway, vault, config, start=start, end=end, item_id=None,
                          now=NOW)
    assert first == {"item-a": 12}
    again = backfill_pull(store, gateway, vault, config, start=start, end=end,
                          item_id="item-a", now=NOW)
    assert again == first and count_rows(store) == 12
    window = load_bank_window(store, start, end, config)
    assert sorted(window["amount_minor"]) == sorted(i * 100 + 10 for i in range(12))
    # A later sync sees the same ids: still no duplicates.
    assert sync_item(store, gateway, vault, "item-a", config, now=NOW).status == "ok"
    assert count_rows(store) == 12


def test_backfill_gives_up_after_bounded_product_not_ready(
    store: Engine, emulator: Emulator, gateway: PlaidGateway, vault: TokenVault, config: Config
) -> None:
    add_sandbox_item(store, gateway, vault, "ins_a", now=NOW)
    emulator.inject("item-a", Fault("product_not_ready", endpoint="/transactions/get", times=50))
    with pytest.raises(PlaidCallError, match="PRODUCT_NOT_READY"):
        backfill_pull(store, gateway, vault, config, start=date(2024, 4, 1),
                      end=date(2024, 4, 30), item_id="item-a", now=NOW)
    assert count_rows(store) == 0
