"""Incremental sync: real plaid-python, the real emulator over HTTP, SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from conftest import PLAID_CLIENT_ID, PLAID_SECRET
from sqlalchemy import Engine, select

from recon.config import Config, parse_config
from recon.frames import BANK_COLUMNS, CHECK_NUMBER
from recon.money import plaid_amount_to_minor
from recon.plaid.client import PlaidCallError, PlaidGateway, make_gateway
from recon.plaid.emulator import Emulator, EmulatorServer, Fault
from recon.plaid.items import add_sandbox_item
from recon.plaid.normalise import RejectedTransaction, transaction_to_row
from recon.plaid.sync import sync_all, sync_item
from recon.plaid.tokens import TokenVault
from recon.store import bank as bank_store
from recon.store.bank import account_balances, load_bank_window
from recon.store.db import open_store
from recon.store.schema import bank_transactions, items

NOW = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)


def fixture_item(item_id: str, institution_id: str, account_id: str, n: int) -> dict[str, Any]:
    return {
        "item_id": item_id,
        "institution_id": institution_id,
        "accounts": [{"account_id": account_id, "name": "Operating",
                      "balances": {"current": Decimal("1234.56"), "available": None,
                                   "iso_currency_code": "USD"}}],
        "transactions": [
            {"amount": Decimal(f"{i + 1}.{i % 100:02d}"), "name": f"Payment {i}",
             "merchant_name": "ACME" if i % 2 else None,
             "date": date(2024, 5, 1 + i % 28).isoformat(),
             "payment_meta": {"reference_number": f"INV-{i:04d}"}}
            for i in range(n)
        ],
    }


def make_config(page_size: int = 5, **plaid: Any) -> Config:
    return parse_config(
        {
            "plaid": {"sync_page_size": page_size, "timeout_seconds": 5,
                      "retry": {"max_attempts": 5, "base_delay_seconds": 0.01}, **plaid},
            "accounts": [
                {"plaid_account_id": "acc-a", "ledger_account": "1010-op"},
                {"plaid_account_id": "acc-b", "ledger_account": "1020-pay"},
            ],
        },
        environ={},
    )


@pytest.fixture
def plaid_items() -> list[dict[str, Any]]:
    return [
        fixture_item("item-a", "ins_a", "acc-a", 23), fixture_item("item-b", "ins_b", "acc-b", 7)
    ]


@pytest.fixture
def config() -> Config:
    return make_config()


@pytest.fixture
def linked_sqlite(tmp_path: Path, gateway: PlaidGateway, vault: TokenVault) -> Iterator[Engine]:
    """For the transport-level retry cases, where the database kind does not matter."""
    engine = open_store(f"sqlite:///{tmp_path / 'retry.db'}")
    add_sandbox_item(engine, gateway, vault, "ins_a", now=NOW)
    yield engine
    engine.dispose()


def live_rows(engine: Engine, item_id: str) -> dict[str, tuple[int, bool]]:
    t = bank_transactions
    with engine.connect() as conn:
        rows = conn.execute(
            select(t.c.transaction_id, t.c.amount_minor, t.c.pending).where(
                t.c.item_id == item_id, t.c.removed_at.is_(None))
        ).all()
    return {r.transaction_id: (r.amount_minor, r.pending) for r in rows}


def all_rows(engine: Engine, item_id: str) -> dict[str, Any]:
    with engine.connect() as conn:
        rows = conn.execute(
            select(bank_transactions).where(bank_transactions.c.item_id == item_id)).all()
    return {r.transaction_id: r for r in rows}


def oracle(emulator: Emulator, item_id: str) -> dict[str, tuple[int, bool]]:
    return {
        t["transaction_id"]: (plaid_amount_to_minor(t["amount"], t["iso_currency_code"]),
                              bool(t["pending"]))
        for t in emulator.current_transactions(item_id)
    }


def cursor_of(engine: Engine, item_id: str) -> str | None:
    with engine.connect() as conn:
        return bank_store.get_cursor(conn, item_id)


def test_first_sync_stores_exactly_the_emulator_set_with_exact_amounts(
    linked: Engine, emulator: Emulator, gateway: PlaidGateway, vault: TokenVault, config: Config
) -> None:
    big = emulator.add_transaction("item-a", {"amount": Decimal("98765432109.87"),
                                              "name": "Big wire", "date": "2024-05-20"})
    outcome = sync_item(linked, gateway, vault, "item-a", config, now=NOW)
    assert outcome.status == "ok" and outcome.added == 24 and outcome.error_code is None
    assert live_rows(linked, "item-a") == oracle(emulator, "item-a")
    assert live_rows(linked, "item-a")[big] == (-9876543210987, False)
    assert cursor_of(linked, "item-a")
    with linked.connect() as conn:
        item = bank_store.get_item(conn, "item-a")
    assert item is not None and item.status == "active" and item.last_sync_error is None
    assert bank_store.as_utc(item.last_sync_at) == NOW


def test_rate_limited_three_times_then_success_has_no_duplicates(
    linked: Engine, emulator: Emulator, gateway: PlaidGateway, vault: TokenVault, config: Config
) -> None:
    emulator.inject("item-a", Fault("rate_limit", times=3))
    outcome = sync_item(linked, gateway, vault, "item-a", config, now=NOW)
    assert outcome.status == "ok"
    assert len(all_rows(linked, "item-a")) == 23
    assert live_rows(linked, "item-a") == oracle(emulator, "item-a")


def test_mutation_at_page_three_restarts_from_the_start_cursor(
    linked: Engine, emulator: Emulator, gateway: PlaidGateway, vault: TokenVault, config: Config
) -> None:
    emulator.inject("item-a", Fault("mutation_during_pagination", at_page=3))
    outcome = sync_item(linked, gateway, vault, "item-a", config, now=NOW)
    assert outcome.status == "ok" and outcome.restarts == 1
    expected = oracle(emulator, "item-a")
    assert len(expected) == 24  # the fault really added a transaction mid-pagination
    assert live_rows(linked, "item-a") == expected
    assert len(all_rows(linked, "item-a")) == 24


def test_mutation_restarts_are_bounded_and_nothing_is_committed(
    linked: Engine, emulator: Emulator, gateway: PlaidGateway, vault: TokenVault
) -> None:
    config = make_config(max_sync_restarts=1)
    emulator.inject("item-a", Fault("mutation_during_pagination", at_page=2, times=5))
    outcome = sync_item(linked, gateway, vault, "item-a", config, now=NOW)
    assert outcome.status == "failed"
    assert outcome.error_code == "TRANSACTIONS_SYNC_MUTATION_DURING_PAGINATION"
    assert all_rows(linked, "item-a") == {}
    assert cursor_of(linked, "item-a") is None
    with linked.connect() as conn:
        item = bank_store.get_item(conn, "item-a")
    assert item is not None and item.last_sync_error == outcome.error_code
    assert item.last_sync_at is None


def test_pending_that_posts_is_stored_once_as_posted(
    linked: Engine, emulator: Emulator, gateway: PlaidGateway, vault: TokenVault, config: Config
) -> None:
    pending_id = emulator.add_transaction(
        "item-a", {"amount": Decimal("42.00"), "name": "Hotel hold", "pending": True,
                   "date": "2024-05-29"})
    assert sync_item(linked, gateway, vault, "item-a", config, now=NOW).status == "ok"
    assert live_rows(linked, "item-a")[pending_id] == (-4200, True)
    [(old_id, posted_id)] = emulator.post_pending("item-a")
    assert old_id == pending_id
    outcome = sync_item(linked, gateway, vault, "item-a", config, now=NOW)
    assert outcome.added == 1 and outcome.removed == 1
    live = live_rows(linked, "item-a")
    assert posted_id in live and pending_id not in live
    assert live == oracle(emulator, "item-a")
    rows = all_rows(linked, "item-a")
    assert rows[pending_id].removed_at is not None  # tombstoned, kept for audit
    assert rows[posted_id].pending_transaction_id == pending_id and not rows[posted_id].pending
    window = load_bank_window(linked, date(2024, 5, 1), date(2024, 5, 31), config)
    assert pending_id not in set(window["transaction_id"])
    assert (window["transaction_id"] == posted_id).sum() == 1


def test_removed_transaction_is_tombstoned_and_left_out_of_the_window(
    linked: Engine, emulator: Emulator, gateway: PlaidGateway, vault: TokenVault, config: Config
) -> None:
    sync_item(linked, gateway, vault, "item-a", config, now=NOW)
    victim = sorted(oracle(emulator, "item-a"))[0]
    emulator.remove_transaction(victim)
    outcome = sync_item(linked, gateway, vault, "item-a", config, now=NOW)
    assert outcome.removed == 1 and outcome.unknown_removed == 0
    assert all_rows(linked, "item-a")[victim].removed_at is not None
    assert live_rows(linked, "item-a") == oracle(emulator, "item-a")
    window = load_bank_window(linked, date(2024, 1, 1), date(2024, 12, 31), config)
    assert victim not in set(window["transaction_id"])


def test_removed_id_never_stored_is_ignored_and_counted(linked: Engine) -> None:
    with linked.begin() as conn:
        assert bank_store.tombstone_transactions(conn, ["nope-1", "nope-2"], now=NOW) == (0, 2)


def test_login_required_on_one_item_marks_it_and_the_other_still_syncs(
    linked: Engine, emulator: Emulator, gateway: PlaidGateway, vault: TokenVault, config: Config
) -> None:
    emulator.set_login_required("item-a")
    outcomes = {o.item_id: o for o in sync_all(linked, gateway, vault, config, now=NOW)}
    assert outcomes["item-a"].status == "needs_relink"
    assert outcomes["item-a"].error_code == "ITEM_LOGIN_REQUIRED"
    assert outcomes["item-b"].status == "ok"
    assert live_rows(linked, "item-b") == oracle(emulator, "item-b")
    assert live_rows(linked, "item-a") == {}
    with linked.connect() as conn:
        item_a = bank_store.get_item(conn, "item-a")
    assert item_a is not None and item_a.status == "needs_relink"
    assert item_a.last_sync_error == "ITEM_LOGIN_REQUIRED"


def test_incremental_syncs_converge_to_the_emulator_after_every_change(
    linked: Engine, emulator: Emulator, gateway: PlaidGateway, vault: TokenVault, config: Config
) -> None:
    sync_item(linked, gateway, vault, "item-a", config, now=NOW)
    ids = sorted(oracle(emulator, "item-a"))
    emulator.modify_transaction(ids[0], amount=Decimal("12.50"))
    emulator.remove_transaction(ids[1])
    emulator.add_transaction("item-a", {"amount": Decimal("-500.00"), "name": "Deposit",
                                        "date": "2024-05-30"})
    emulator.add_transaction("item-a", {"amount": Decimal("3.10"), "pending": True,
                                        "date": "2024-05-30"})
    first = sync_item(linked, gateway, vault, "item-a", config, now=NOW)
    assert (first.added, first.modified, first.removed) == (2, 1, 1)
    assert live_rows(linked, "item-a") == oracle(emulator, "item-a")
    assert live_rows(linked, "item-a")[ids[0]] == (-1250, False)
    emulator.post_pending("item-a")
    emulator.modify_transaction(ids[2], amount=Decimal("7.77"))
    sync_item(linked, gateway, vault, "item-a", config, now=NOW)
    assert live_rows(linked, "item-a") == oracle(emulator, "item-a")
    again = sync_item(linked, gateway, vault, "item-a", config, now=NOW)
    assert (again.added, again.modified, again.removed) == (0, 0, 0)
    assert live_rows(linked, "item-a") == oracle(emulator, "item-a")


@pytest.mark.parametrize(
    "fault",
    [
        Fault("internal_error", times=2),
        Fault("planned_maintenance", times=2),
        Fault("drop_connection", times=2),
        Fault("malformed", times=1),
        Fault("slow", delay_seconds=1.5),
        Fault("rate_limit", endpoint="/accounts/get", times=2),
        Fault("internal_error", endpoint="/accounts/get"),
    ],
    ids=lambda f: f"{f.kind}-{f.endpoint}",
)
def test_transient_failures_are_retried(
    linked_sqlite: Engine, emulator: Emulator, server: EmulatorServer, vault: TokenVault,
    fault: Fault,
) -> None:
    config = make_config(timeout_seconds=0.5)
    delays: list[float] = []
    gateway = make_gateway(config.plaid, host=server.url, client_id=PLAID_CLIENT_ID,
                           secret=PLAID_SECRET, sleep=delays.append)
    emulator.inject("item-a", fault)
    outcome = sync_item(linked_sqlite, gateway, vault, "item-a", config, now=NOW)
    assert outcome.status == "ok"
    assert live_rows(linked_sqlite, "item-a") == oracle(emulator, "item-a")
    assert len(delays) == fault.times
    assert all(0 <= d <= config.plaid.retry.max_delay_seconds for d in delays)


def test_retries_are_bounded_then_the_item_fails_and_keeps_its_cursor(
    linked: Engine, emulator: Emulator, gateway: PlaidGateway, vault: TokenVault, config: Config
) -> None:
    sync_item(linked, gateway, vault, "item-a", config, now=NOW)
    before = cursor_of(linked, "item-a")
    emulator.add_transaction("item-a", {"amount": Decimal("1.00"), "date": "2024-05-30"})
    emulator.inject("item-a", Fault("internal_error", times=config.plaid.retry.max_attempts))
    outcome = sync_item(linked, gateway, vault, "item-a", config, now=NOW)
    assert (outcome.status, outcome.error_code) == ("failed", "INTERNAL_SERVER_ERROR")
    assert cursor_of(linked, "item-a") == before
    assert sync_item(linked, gateway, vault, "item-a", config, now=NOW).status == "ok"
    assert live_rows(linked, "item-a") == oracle(emulator, "item-a")


def test_invalid_access_token_is_not_retried(
    linked: Engine, emulator: Emulator, server: EmulatorServer, vault: TokenVault, config: Config
) -> None:
    delays: list[float] = []
    gateway = make_gateway(config.plaid, host=server.url, client_id=PLAID_CLIENT_ID,
                           secret=PLAID_SECRET, sleep=delays.append)
    emulator.inject("item-a", Fault("invalid_access_token", endpoint="/accounts/get"))
    outcome = sync_item(linked, gateway, vault, "item-a", config, now=NOW)
    assert (outcome.status, outcome.error_code) == ("needs_relink", "INVALID_ACCESS_TOKEN")
    assert delays == []


def test_cursor_rejected_as_invalid_field_resets_to_a_full_resync(
    linked: Engine, emulator: Emulator, gateway: PlaidGateway, vault: TokenVault, config: Config
) -> None:
    sync_item(linked, gateway, vault, "item-a", config, now=NOW)
    sync_item(linked, gateway, vault, "item-b", config, now=NOW)
    foreign = cursor_of(linked, "item-b")
    assert foreign is not None
    with linked.begin() as conn:  # a cursor that belongs to another item: Plaid says INVALID_FIELD
        bank_store.set_cursor(conn, "item-a", foreign, now=NOW)
    emulator.add_transaction("item-a", {"amount": Decimal("9.99"), "date": "2024-05-30"})
    outcome = sync_item(linked, gateway, vault, "item-a", config, now=NOW)
    assert outcome.status == "ok" and outcome.added == 24
    assert live_rows(linked, "item-a") == oracle(emulator, "item-a")
    assert cursor_of(linked, "item-a") != foreign


def test_error_text_names_code_and_endpoint_but_never_token_or_secret(
    linked: Engine, emulator: Emulator, gateway: PlaidGateway, vault: TokenVault
) -> None:
    token = emulator.valid_access_tokens("item-a")[0]
    emulator.inject("item-a", Fault("internal_error", times=10))
    with pytest.raises(PlaidCallError) as caught:
        gateway.transactions_sync(token, cursor="", count=5)
    text = str(caught.value) + repr(caught.value.args)
    assert "INTERNAL_SERVER_ERROR" in text and "/transactions/sync" in text
    assert token not in text and PLAID_SECRET not in text and PLAID_CLIENT_ID not in text
    assert caught.value.retryable and caught.value.http_status == 500


def test_unofficial_currency_is_rejected_naming_the_transaction(
    linked: Engine, emulator: Emulator, gateway: PlaidGateway, vault: TokenVault, config: Config
) -> None:
    crypto = emulator.add_transaction("item-a", {"amount": Decimal("0.5"),
                                                 "unofficial_currency_code": "BTC"})
    outcome = sync_item(linked, gateway, vault, "item-a", config, now=NOW)
    assert outcome.status == "ok" and outcome.rejected == 1
    assert crypto not in all_rows(linked, "item-a")
    [txn] = [t for t in emulator.current_transactions("item-a") if t["transaction_id"] == crypto]
    with pytest.raises(RejectedTransaction, match=crypto):
        transaction_to_row(txn, item_id="item-a")


def test_card_numbers_are_masked_in_texts_and_raw_json() -> None:
    txn = {"transaction_id": "t1", "account_id": "acc-a", "amount": Decimal("10.00"),
           "iso_currency_code": "USD", "unofficial_currency_code": None, "date": "2024-05-02",
           "name": "REFUND CARD 4111 1111 1111 1111", "merchant_name": "Shop 5500-0000-0000-0004",
           "pending": False, "pending_transaction_id": None,
           "payment_meta": {"reference_number": "4111111111111111"}}
    row = transaction_to_row(txn, item_id="item-a")
    stored = " ".join(str(v) for v in row.values())
    assert "4111 1111 1111 1111" not in stored and "4111111111111111" not in stored
    assert "5500-0000-0000-0004" not in stored
    assert "************1111" in row["name"] and row["merchant_name"].endswith("0004")
    assert row["amount_minor"] == -1000 and '"10.00"' in row["raw_json"]


def test_bank_window_has_the_contract_columns_and_types(
    linked: Engine, emulator: Emulator, gateway: PlaidGateway, vault: TokenVault, config: Config
) -> None:
    emulator.add_transaction("item-a", {"amount": Decimal("5.00"), "pending": True,
                                        "date": "2024-05-30", "authorized_date": "2024-05-29"})
    emulator.add_transaction("item-a", {"amount": Decimal("6.00"), "date": "2024-07-01"})
    emulator.add_transaction("item-a", {"amount": Decimal("7.00"), "date": "2024-05-30",
                                        "name": "CHECK PAID", "check_number": "1043"})
    sync_all(linked, gateway, vault, config, now=NOW)
    window = load_bank_window(linked, date(2024, 5, 1), date(2024, 5, 31), config)
    assert tuple(window.columns) == (*BANK_COLUMNS, CHECK_NUMBER)
    assert window.loc[window["description"] == "CHECK PAID", CHECK_NUMBER].tolist() == ["1043"]
    window = window[window["description"] != "CHECK PAID"]
    assert str(window["amount_minor"].dtype) == "int64"
    assert str(window["date"].dtype) == "datetime64[ns]"
    assert str(window["authorized_date"].dtype) == "datetime64[ns]"
    assert window["pending"].sum() == 1
    assert set(window["account"]) == {"1010-op", "1020-pay"}
    assert len(window) == 23 + 7 + 1  # July is outside the window
    assert window["date"].max() <= datetime(2024, 5, 31)
    assert (window["counterparty"] == "ACME").any() and (window["reference"] != "").sum() == 30
    only_a = make_config().model_copy(update={"accounts": make_config().accounts[:1]})
    assert set(load_bank_window(linked, date(2024, 5, 1), date(2024, 5, 31), only_a)["account"]
               ) == {"1010-op"}
    empty = load_bank_window(linked, date(2020, 1, 1), date(2020, 1, 2), config)
    assert tuple(empty.columns) == (*BANK_COLUMNS, CHECK_NUMBER)
    assert str(empty["amount_minor"].dtype) == "int64"


def test_account_balances_are_minor_units_per_ledger_account(
    linked: Engine, gateway: PlaidGateway, vault: TokenVault, config: Config
) -> None:
    sync_item(linked, gateway, vault, "item-a", config, now=NOW)
    balances = account_balances(linked, config)
    assert balances["1010-op"][:2] == (123456, "USD")
    assert balances["1010-op"][2] == NOW
    assert balances["1020-pay"][0] == 123456  # linked (accounts stored), balance known


def test_sync_all_reports_a_token_lost_item_without_calling_plaid(
    linked: Engine, emulator: Emulator, gateway: PlaidGateway, vault: TokenVault, config: Config
) -> None:
    with linked.begin() as conn:
        bank_store.set_item_status(conn, "item-a", "token_lost", now=NOW, error_code="TOKEN_LOST")
        conn.execute(items.update().where(items.c.item_id == "item-b").values(status="removed"))
    outcomes = sync_all(linked, gateway, vault, config, now=NOW)
    assert [(o.item_id, o.status, o.error_code) for o in outcomes] == [
        ("item-a", "needs_relink", "TOKEN_LOST")]
