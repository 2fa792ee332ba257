"""The bundled Plaid emulator, driven through the real plaid-python client over HTTP."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import plaid
import pytest
import urllib3
from plaid.api.plaid_api import PlaidApi
from plaid.model.accounts_get_request import AccountsGetRequest
from plaid.model.item_access_token_invalidate_request import ItemAccessTokenInvalidateRequest
from plaid.model.item_get_request import ItemGetRequest
from plaid.model.item_public_token_exchange_request import ItemPublicTokenExchangeRequest
from plaid.model.item_remove_request import ItemRemoveRequest
from plaid.model.products import Products
from plaid.model.sandbox_item_reset_login_request import SandboxItemResetLoginRequest
from plaid.model.sandbox_public_token_create_request import SandboxPublicTokenCreateRequest
from plaid.model.transactions_get_request import TransactionsGetRequest
from plaid.model.transactions_get_request_options import TransactionsGetRequestOptions
from plaid.model.transactions_refresh_request import TransactionsRefreshRequest
from plaid.model.transactions_sync_request import TransactionsSyncRequest
from plaid.model.transactions_sync_request_options import TransactionsSyncRequestOptions

from recon.plaid.emulator import Emulator, EmulatorServer, Fault

CLIENT_ID = "test-client-id-0001"
SECRET = "test-secret-value-0001"
TODAY = date(2024, 5, 20)
ITEM = "eVBnVMp7zdTJLkRNr33Rs6zr7KNJqBFL9DrE6"
OTHER_ITEM = "bkVE1BHWMAZ9Rnr6P3BQDDWM5QfykCN9Kxa1g"
CHECKING = "BxBXxLj1m4HMXBm9WZZmCWVbPjX16EHwv99vp"
SAVINGS = "dVzbVMLjrxTnLjX4G66XUp5GLklm4oiZy88yK"
OTHER_ACCOUNT = "3gE5gnRzNyfXpBK5wEEKcymJ5albGVUqg77gr"


def fixture_data() -> dict[str, Any]:
    def txn(tid: str, account: str, amount: str, day: int, **extra: Any) -> dict[str, Any]:
        return {"transaction_id": tid.ljust(37, "0"), "account_id": account,
                "amount": Decimal(amount), "date": f"2024-05-{day:02d}", "name": f"T {tid}",
                **extra}

    return {"items": [
        {"item_id": ITEM, "institution_id": "ins_109508",
         "accounts": [
             {"account_id": CHECKING, "name": "Plaid Checking", "type": "depository",
              "subtype": "checking",
              "balances": {"current": Decimal("110.00"), "available": Decimal("100.00"),
                           "iso_currency_code": "USD"}},
             {"account_id": SAVINGS, "name": "Plaid Saving", "type": "depository",
              "subtype": "savings", "balances": {"iso_currency_code": "USD"}}],
         "transactions": [
             txn("t1", CHECKING, "12.50", 1, merchant_name="Starbucks"),
             txn("t2", CHECKING, "-2500.00", 2,
                 payment_meta={"reference_number": "REF-77", "payment_method": "ACH"}),
             txn("t3", SAVINGS, "100.00", 3),
             txn("t4", CHECKING, "12345678901234.56", 4),
             txn("t5", SAVINGS, "-40.25", 5),
             txn("t6", CHECKING, "7.00", 18, pending=True),
         ]},
        {"item_id": OTHER_ITEM, "institution_id": "ins_other",
         "accounts": [{"account_id": OTHER_ACCOUNT, "type": "depository", "subtype": "checking",
                       "balances": {"current": Decimal("5"), "iso_currency_code": "USD"}}],
         "transactions": [txn("o1", OTHER_ACCOUNT, "1.00", 1)]},
    ]}


class Recording(Emulator):
    """An Emulator that keeps every (path, status, body) it produced, for spec checks."""

    def __init__(self) -> None:
        super().__init__(fixture_data(), client_id=CLIENT_ID, secret=SECRET, today=TODAY,
                         webhook_attempts=1)
        self.seen: list[tuple[str, int, bytes]] = []

    def handle(self, path: str, headers: Any, body: bytes) -> tuple[int, bytes]:
        status, payload = super().handle(path, headers, body)
        self.seen.append((path, status, payload))
        return status, payload


@pytest.fixture
def emulator() -> Recording:
    """Served over HTTP by conftest's ``server`` fixture."""
    return Recording()


def api(url: str, client_id: str = CLIENT_ID, secret: str = SECRET) -> PlaidApi:
    config = plaid.Configuration(host=url, api_key={"clientId": client_id, "secret": secret})
    return PlaidApi(plaid.ApiClient(config))


@pytest.fixture
def client(server: EmulatorServer) -> PlaidApi:
    return api(server.url)


def link(client: PlaidApi, institution_id: str = "ins_109508") -> str:
    public = client.sandbox_public_token_create(SandboxPublicTokenCreateRequest(
        institution_id=institution_id, initial_products=[Products("transactions")]))
    exchanged = client.item_public_token_exchange(
        ItemPublicTokenExchangeRequest(public_token=public.public_token))
    return str(exchanged.access_token)


@pytest.fixture
def token(client: PlaidApi) -> str:
    return link(client)


def sync_request(token: str, cursor: str = "", count: int = 100,
                 account_id: str | None = None) -> TransactionsSyncRequest:
    kwargs: dict[str, Any] = {"access_token": token, "count": count}
    if cursor:
        kwargs["cursor"] = cursor
    if account_id:
        kwargs["options"] = TransactionsSyncRequestOptions(account_id=account_id)
    return TransactionsSyncRequest(**kwargs)


@dataclass
class SyncRun:
    added: list[str] = field(default_factory=list)
    modified: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    pages: int = 0
    cursor: str = ""
    raw_added: list[Any] = field(default_factory=list)


def sync_all(client: PlaidApi, token: str, cursor: str = "", count: int = 100,
             account_id: str | None = None) -> SyncRun:
    run = SyncRun()
    while True:
        page = client.transactions_sync(sync_request(token, cursor, count, account_id))
        run.pages += 1
        run.added += [t.transaction_id for t in page.added]
        run.raw_added += page.added
        run.modified += [t.transaction_id for t in page.modified]
        run.removed += [r.transaction_id for r in page.removed]
        cursor = page.next_cursor
        if not page.has_more:
            run.cursor = cursor
            return run


def error_of(excinfo: pytest.ExceptionInfo[plaid.ApiException]) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(excinfo.value.body)
    return body


def ids(emulator: Emulator, item_id: str = ITEM) -> set[str]:
    return {t["transaction_id"] for t in emulator.current_transactions(item_id)}


# --- sync semantics -------------------------------------------------------------------------------

def test_first_sync_returns_every_transaction(client: PlaidApi, token: str,
                                              emulator: Emulator) -> None:
    run = sync_all(client, token)
    assert set(run.added) == ids(emulator) and len(run.added) == 6
    assert run.modified == [] and run.removed == []
    page = client.transactions_sync(sync_request(token, run.cursor))
    assert page.transactions_update_status.value == "HISTORICAL_UPDATE_COMPLETE"
    assert (page.added, page.modified, page.removed, page.has_more) == ([], [], [], False)
    assert len(page.next_cursor) <= 256


def test_paging_with_count_two_gives_each_transaction_once(client: PlaidApi, token: str,
                                                            emulator: Emulator) -> None:
    run = sync_all(client, token, count=2)
    assert run.pages == 3
    assert sorted(run.added) == sorted(ids(emulator))


def test_incremental_sync_returns_exactly_the_net_changes(client: PlaidApi, token: str,
                                                          emulator: Emulator) -> None:
    first = sync_all(client, token)
    t1, t3 = "t1".ljust(37, "0"), "t3".ljust(37, "0")
    new_id = emulator.add_transaction(ITEM, {"amount": Decimal("3.10"), "name": "New"})
    emulator.modify_transaction(t1, amount=Decimal("13.75"))
    emulator.remove_transaction(t3)
    # Added then removed after the cursor: never reported. Added then modified: once, latest.
    ghost = emulator.add_transaction(ITEM, {"amount": Decimal("1"), "name": "Ghost"})
    emulator.remove_transaction(ghost)
    changed = emulator.add_transaction(ITEM, {"amount": Decimal("2"), "name": "Draft"})
    emulator.modify_transaction(changed, name="Final")

    second = sync_all(client, token, cursor=first.cursor)
    assert sorted(second.added) == sorted([new_id, changed])
    assert second.modified == [t1] and second.removed == [t3]
    final = next(t for t in second.raw_added if t.transaction_id == changed)
    assert final.name == "Final"


def test_pending_to_posted_is_a_removal_plus_an_addition(client: PlaidApi, token: str,
                                                         emulator: Emulator) -> None:
    first = sync_all(client, token)
    [(pending_id, posted_id)] = emulator.post_pending(ITEM)
    second = sync_all(client, token, cursor=first.cursor)
    assert second.removed == [pending_id] and second.added == [posted_id]
    posted = second.raw_added[0]
    assert posted.pending is False and posted.pending_transaction_id == pending_id


def test_refresh_posts_pending_and_bumps_one_amount(client: PlaidApi, token: str,
                                                    emulator: Emulator) -> None:
    first = sync_all(client, token)
    before = {t["transaction_id"]: t["amount"] for t in emulator.current_transactions(ITEM)}
    client.transactions_refresh(TransactionsRefreshRequest(access_token=token))
    second = sync_all(client, token, cursor=first.cursor)
    after = {t["transaction_id"]: t["amount"] for t in emulator.current_transactions(ITEM)}
    assert second.removed == ["t6".ljust(37, "0")] and len(second.added) == 1
    [bumped] = second.modified
    assert after[bumped] == before[bumped] + Decimal("1.00")


def test_per_account_streams_are_separate(client: PlaidApi, token: str,
                                          emulator: Emulator) -> None:
    savings = sync_all(client, token, account_id=SAVINGS)
    assert set(savings.added) == {"t3".ljust(37, "0"), "t5".ljust(37, "0")}
    emulator.add_transaction(ITEM, {"account_id": CHECKING, "amount": Decimal("1")})
    assert sync_all(client, token, cursor=savings.cursor, account_id=SAVINGS).added == []
    with pytest.raises(plaid.ApiException) as excinfo:  # an account cursor on the item stream
        client.transactions_sync(sync_request(token, savings.cursor))
    assert error_of(excinfo)["error_code"] == "INVALID_FIELD"


def test_cursor_of_another_item_is_rejected(client: PlaidApi, token: str) -> None:
    other = sync_all(client, link(client, "ins_other"))
    with pytest.raises(plaid.ApiException) as excinfo:
        client.transactions_sync(sync_request(token, other.cursor))
    body = error_of(excinfo)
    assert excinfo.value.status == 400
    assert (body["error_type"], body["error_code"]) == ("INVALID_REQUEST", "INVALID_FIELD")
    assert body["error_message"] == "cursor not associated with access_token"


def test_data_change_during_pagination_fails_the_next_page(client: PlaidApi, token: str,
                                                           emulator: Emulator) -> None:
    page = client.transactions_sync(sync_request(token, count=2))
    assert page.has_more
    emulator.add_transaction(ITEM, {"amount": Decimal("9.99")})
    with pytest.raises(plaid.ApiException) as excinfo:
        client.transactions_sync(sync_request(token, page.next_cursor, count=2))
    body = error_of(excinfo)
    assert (excinfo.value.status, body["error_type"], body["error_code"]) == (
        400, "TRANSACTIONS_ERROR", "TRANSACTIONS_SYNC_MUTATION_DURING_PAGINATION")
    assert sorted(sync_all(client, token, count=2).added) == sorted(ids(emulator))


def test_scripted_mutation_fault_adds_data_seen_by_the_restarted_run(
        client: PlaidApi, token: str, emulator: Emulator) -> None:
    emulator.inject(ITEM, Fault("mutation_during_pagination", at_page=2))
    before = ids(emulator)
    first = client.transactions_sync(sync_request(token, count=2))
    with pytest.raises(plaid.ApiException) as excinfo:
        client.transactions_sync(sync_request(token, first.next_cursor, count=2))
    assert error_of(excinfo)["error_code"] == "TRANSACTIONS_SYNC_MUTATION_DURING_PAGINATION"
    restarted = sync_all(client, token, count=2)
    assert set(restarted.added) == ids(emulator) and len(ids(emulator)) == len(before) + 1


# --- faults -------------------------------------------------------------------------------------

@pytest.mark.parametrize(("kind", "endpoint", "status", "code"), [
    ("rate_limit", "/transactions/sync", 429, "TRANSACTIONS_SYNC_LIMIT"),
    ("rate_limit", "/item/get", 429, "ITEM_GET_LIMIT"),
    ("internal_error", "/transactions/sync", 500, "INTERNAL_SERVER_ERROR"),
    ("planned_maintenance", "/transactions/sync", 503, "PLANNED_MAINTENANCE"),
    ("invalid_access_token", "/transactions/sync", 400, "INVALID_ACCESS_TOKEN"),
    ("product_not_ready", "/transactions/get", 400, "PRODUCT_NOT_READY"),
])
def test_error_faults_reach_the_sdk_then_clear(client: PlaidApi, token: str, emulator: Emulator,
                                               kind: Any, endpoint: str, status: int,
                                               code: str) -> None:
    emulator.inject(ITEM, Fault(kind, endpoint=endpoint, times=2))

    def call() -> object:
        if endpoint == "/item/get":
            return client.item_get(ItemGetRequest(access_token=token))
        if endpoint == "/transactions/get":
            return client.transactions_get(TransactionsGetRequest(
                access_token=token, start_date=date(2024, 5, 1), end_date=TODAY))
        return client.transactions_sync(sync_request(token))

    for _ in range(2):
        with pytest.raises(plaid.ApiException) as excinfo:
            call()
        assert excinfo.value.status == status and error_of(excinfo)["error_code"] == code
    if status >= 500:
        assert isinstance(excinfo.value, plaid.exceptions.ServiceException)
    call()  # the fault is used up


def test_login_required_fault_persists_until_relinked(client: PlaidApi, token: str,
                                                      emulator: Emulator) -> None:
    emulator.inject(ITEM, Fault("item_login_required"))
    for _ in range(2):
        with pytest.raises(plaid.ApiException) as excinfo:
            client.transactions_sync(sync_request(token))
        assert error_of(excinfo)["error_code"] == "ITEM_LOGIN_REQUIRED"
    item = client.item_get(ItemGetRequest(access_token=token)).item
    assert item.error.error_code == "ITEM_LOGIN_REQUIRED"
    assert link(client) in emulator.valid_access_tokens(ITEM)  # update mode: same item
    assert len(sync_all(client, token).added) == 6


def test_reset_login_blocks_sync(client: PlaidApi, token: str) -> None:
    reset = client.sandbox_item_reset_login(SandboxItemResetLoginRequest(access_token=token))
    assert reset.reset_login is True
    with pytest.raises(plaid.ApiException) as excinfo:
        client.transactions_sync(sync_request(token))
    assert (excinfo.value.status, error_of(excinfo)["error_type"]) == (400, "ITEM_ERROR")


def test_slow_fault_trips_the_client_timeout(client: PlaidApi, token: str,
                                             emulator: Emulator) -> None:
    emulator.inject(ITEM, Fault("slow", delay_seconds=0.6))
    with pytest.raises(urllib3.exceptions.ReadTimeoutError):
        client.transactions_sync(sync_request(token), _request_timeout=0.2)
    assert len(sync_all(client, token).added) == 6


def test_dropped_connection_is_a_protocol_error(client: PlaidApi, token: str,
                                                emulator: Emulator) -> None:
    emulator.inject(ITEM, Fault("drop_connection"))
    with pytest.raises(urllib3.exceptions.ProtocolError):
        client.transactions_sync(sync_request(token))
    assert len(sync_all(client, token).added) == 6


def test_malformed_body_is_rejected_by_the_sdk(client: PlaidApi, token: str,
                                               emulator: Emulator) -> None:
    emulator.inject(ITEM, Fault("malformed"))
    with pytest.raises(TypeError, match="next_cursor"):
        client.transactions_sync(sync_request(token))


# --- auth and tokens ------------------------------------------------------------------------------

def test_wrong_secret_is_invalid_api_keys(server: EmulatorServer) -> None:
    with pytest.raises(plaid.ApiException) as excinfo:
        link(api(server.url, secret="wrong-secret-000"))
    assert (excinfo.value.status, error_of(excinfo)["error_code"]) == (400, "INVALID_API_KEYS")


def test_missing_credentials_and_bad_json_and_unknown_path(emulator: Emulator) -> None:
    status, body = emulator.handle("/item/get", {}, b'{"access_token": "x"}')
    assert (status, json.loads(body)["error_code"]) == (400, "MISSING_FIELDS")
    status, body = emulator.handle("/item/get", {"PLAID-CLIENT-ID": CLIENT_ID}, b"{}")
    assert (status, json.loads(body)["error_code"]) == (400, "INVALID_HEADERS")
    auth = {"PLAID-CLIENT-ID": CLIENT_ID, "PLAID-SECRET": SECRET}
    status, body = emulator.handle("/item/get", auth, b"{not json")
    assert (status, json.loads(body)["error_code"]) == (400, "INVALID_BODY")
    status, body = emulator.handle("/no/such/endpoint", auth, b"{}")
    assert (status, json.loads(body)["error_code"]) == (404, "NOT_FOUND")
    body_auth = json.dumps({"client_id": CLIENT_ID, "secret": SECRET, "access_token": "nope"})
    status, body = emulator.handle("/item/get", {}, body_auth.encode())
    assert (status, json.loads(body)["error_code"]) == (400, "INVALID_ACCESS_TOKEN")


def test_invalidate_rotates_the_token(client: PlaidApi, token: str, emulator: Emulator) -> None:
    first = sync_all(client, token)
    new = client.item_access_token_invalidate(
        ItemAccessTokenInvalidateRequest(access_token=token)).new_access_token
    assert new.startswith("access-sandbox-") and emulator.valid_access_tokens(ITEM) == [new]
    with pytest.raises(plaid.ApiException) as excinfo:
        client.accounts_get(AccountsGetRequest(access_token=token))
    assert error_of(excinfo)["error_code"] == "INVALID_ACCESS_TOKEN"
    assert sync_all(client, new, cursor=first.cursor).added == []  # the cursor survives


def test_item_remove_revokes_every_token(client: PlaidApi, token: str,
                                         emulator: Emulator) -> None:
    client.item_remove(ItemRemoveRequest(access_token=token))
    assert emulator.valid_access_tokens(ITEM) == [] and ITEM not in emulator.item_ids
    with pytest.raises(plaid.ApiException) as excinfo:
        client.item_get(ItemGetRequest(access_token=token))
    assert error_of(excinfo)["error_code"] == "INVALID_ACCESS_TOKEN"


def test_unknown_institution_gets_a_generated_item(client: PlaidApi, emulator: Emulator) -> None:
    token = link(client, "ins_999999")
    item_id = client.item_get(ItemGetRequest(access_token=token)).item.item_id
    assert item_id not in (ITEM, OTHER_ITEM) and len(item_id) == 37
    assert sorted(sync_all(client, token).added) == sorted(ids(emulator, item_id))


# --- /transactions/get and /accounts/get --------------------------------------------------------

def test_transactions_get_pages_in_reverse_date_order(client: PlaidApi, token: str) -> None:
    seen: list[Any] = []
    while True:
        response = client.transactions_get(TransactionsGetRequest(
            access_token=token, start_date=date(2024, 5, 2), end_date=date(2024, 5, 18),
            options=TransactionsGetRequestOptions(count=2, offset=len(seen))))
        seen += response.transactions
        if len(seen) >= response.total_transactions:
            break
    assert response.total_transactions == 5  # 2nd..18th inclusive: t2 .. t6, not t1
    assert [t.date for t in seen] == sorted((t.date for t in seen), reverse=True)
    assert seen[0].date == date(2024, 5, 18) and seen[-1].date == date(2024, 5, 2)
    assert response.item.item_id == ITEM


def test_accounts_get_keeps_fixture_balances_and_computes_missing(client: PlaidApi,
                                                                  token: str) -> None:
    accounts = {a.account_id: a for a in
                client.accounts_get(AccountsGetRequest(access_token=token)).accounts}
    assert (accounts[CHECKING].balances.current, accounts[CHECKING].balances.available) == (
        110.0, 100.0)
    # Savings: 100.00 out and 40.25 in (Plaid sign), so the balance is -59.75.
    assert accounts[SAVINGS].balances.current == -59.75


def test_amounts_round_trip_with_their_exact_text(client: PlaidApi, token: str) -> None:
    raw = client.transactions_sync(sync_request(token), _preload_content=False).data
    assert b'"amount": 12345678901234.56' in raw
    assert b'"amount": 12.5' in raw  # a Decimal keeps its own digits, never a float artefact
    parsed = json.loads(raw, parse_float=Decimal)
    assert {t["amount"] for t in parsed["added"]} >= {Decimal("12345678901234.56")}


def test_sandbox_transactions_create_lands_on_the_depository_account(
        client: PlaidApi, token: str, emulator: Emulator) -> None:
    from plaid.model.custom_sandbox_transaction import CustomSandboxTransaction
    from plaid.model.sandbox_transactions_create_request import SandboxTransactionsCreateRequest

    first = sync_all(client, token)
    client.sandbox_transactions_create(SandboxTransactionsCreateRequest(
        access_token=token, transactions=[CustomSandboxTransaction(
            date_transacted=TODAY - timedelta(days=2), date_posted=TODAY - timedelta(days=1),
            amount=42.1, description="Coffee beans")]))
    [created] = sync_all(client, token, cursor=first.cursor).raw_added
    assert (created.account_id, created.name, created.date) == (
        CHECKING, "Coffee beans", TODAY - timedelta(days=1))
    assert next(t["amount"] for t in emulator.current_transactions(ITEM)
                if t["transaction_id"] == created.transaction_id) == Decimal("42.1")
    with pytest.raises(plaid.ApiException) as excinfo:  # older than 14 days
        client.sandbox_transactions_create(SandboxTransactionsCreateRequest(
            access_token=token, transactions=[CustomSandboxTransaction(
                date_transacted=TODAY - timedelta(days=30), date_posted=TODAY,
                amount=1.0, description="Too old")]))
    assert error_of(excinfo)["error_code"] == "INVALID_FIELD"


def test_logs_never_show_tokens_or_secrets(client: PlaidApi, token: str,
                                           caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("DEBUG", logger="recon.plaid.emulator")
    sync_all(client, token)
    with pytest.raises(plaid.ApiException):
        link(api(client.api_client.configuration.host, secret="wrong-secret-000"))
    assert caplog.records
    assert token not in caplog.text and SECRET not in caplog.text and CLIENT_ID not in caplog.text
