"""Every emulator response body, success or error, conforms to Plaid's OpenAPI spec."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date, timedelta
from decimal import Decimal

import plaid
import pytest
from plaid.api.plaid_api import PlaidApi
from plaid.model.accounts_get_request import AccountsGetRequest
from plaid.model.country_code import CountryCode
from plaid.model.custom_sandbox_transaction import CustomSandboxTransaction
from plaid.model.item_access_token_invalidate_request import ItemAccessTokenInvalidateRequest
from plaid.model.item_get_request import ItemGetRequest
from plaid.model.item_remove_request import ItemRemoveRequest
from plaid.model.item_webhook_update_request import ItemWebhookUpdateRequest
from plaid.model.link_token_create_request import LinkTokenCreateRequest
from plaid.model.link_token_create_request_user import LinkTokenCreateRequestUser
from plaid.model.products import Products
from plaid.model.sandbox_item_fire_webhook_request import SandboxItemFireWebhookRequest
from plaid.model.sandbox_item_reset_login_request import SandboxItemResetLoginRequest
from plaid.model.sandbox_transactions_create_request import SandboxTransactionsCreateRequest
from plaid.model.transactions_get_request import TransactionsGetRequest
from plaid.model.transactions_refresh_request import TransactionsRefreshRequest
from plaid.model.webhook_verification_key_get_request import WebhookVerificationKeyGetRequest
from plaid_spec import assert_conforms, load_spec, schema_errors, webhook_errors
from test_emulator import (
    ITEM,
    SAVINGS,
    TODAY,
    Recording,
    api,
    link,
    sync_all,
    sync_request,
)

from recon.plaid.emulator import EmulatorServer, Fault

ENDPOINTS = {"/transactions/sync", "/transactions/get", "/transactions/refresh", "/accounts/get",
             "/item/get", "/item/remove", "/item/public_token/exchange",
             "/item/access_token/invalidate", "/link/token/create",
             "/sandbox/public_token/create", "/sandbox/item/reset_login",
             "/sandbox/transactions/create", "/sandbox/item/fire_webhook",
             "/item/webhook/update", "/webhook_verification_key/get"}
# Where the emulator's webhooks go in these tests: nothing listens there, the bodies are kept.
NOWHERE = "http://127.0.0.1:9/webhook"


@pytest.fixture(scope="module")
def spec() -> dict[str, object]:
    return load_spec()  # parsed once per session (functools.cache + a pickle under the temp dir)


@pytest.fixture
def recorded(spec: dict[str, object]) -> Iterator[tuple[Recording, PlaidApi]]:
    emulator = Recording()
    with EmulatorServer(emulator) as server:
        yield emulator, api(server.url)


def exercise_every_endpoint(emulator: Recording, client: PlaidApi) -> None:
    token = link(client)
    client.link_token_create(LinkTokenCreateRequest(
        client_name="recon", language="en", country_codes=[CountryCode("US")],
        user=LinkTokenCreateRequestUser(client_user_id="finance-1"),
        products=[Products("transactions")]))
    first = sync_all(client, token, count=2)
    emulator.modify_transaction("t1".ljust(37, "0"), amount=Decimal("99.99"))
    client.sandbox_transactions_create(SandboxTransactionsCreateRequest(
        access_token=token, transactions=[CustomSandboxTransaction(
            date_transacted=TODAY, date_posted=TODAY, amount=5.0, description="Created")]))
    client.transactions_refresh(TransactionsRefreshRequest(access_token=token))
    emulator.remove_transaction("t3".ljust(37, "0"))
    sync_all(client, token, cursor=first.cursor)  # added, modified and removed all non-empty
    sync_all(client, token, account_id=SAVINGS)
    client.transactions_get(TransactionsGetRequest(
        access_token=token, start_date=TODAY - timedelta(days=60), end_date=TODAY))
    client.accounts_get(AccountsGetRequest(access_token=token))
    client.sandbox_item_reset_login(SandboxItemResetLoginRequest(access_token=token))
    client.item_get(ItemGetRequest(access_token=token))  # item.error is a PlaidError here
    token = link(client)  # relink clears the login error
    client.item_get(ItemGetRequest(access_token=token))
    client.item_webhook_update(ItemWebhookUpdateRequest(access_token=token, webhook=NOWHERE))
    client.sandbox_item_fire_webhook(SandboxItemFireWebhookRequest(
        access_token=token, webhook_code="SYNC_UPDATES_AVAILABLE"))
    client.webhook_verification_key_get(WebhookVerificationKeyGetRequest(
        key_id=emulator.webhooks.current_key_id))
    token = client.item_access_token_invalidate(
        ItemAccessTokenInvalidateRequest(access_token=token)).new_access_token
    client.item_remove(ItemRemoveRequest(access_token=token))


def test_every_success_body_conforms(recorded: tuple[Recording, PlaidApi]) -> None:
    emulator, client = recorded
    exercise_every_endpoint(emulator, client)
    successes = [(path, body) for path, status, body in emulator.seen if status == 200]
    assert {path for path, _ in successes} == ENDPOINTS
    for path, body in successes:
        assert_conforms(path, 200, body)
    syncs = [json.loads(body) for path, body in successes if path == "/transactions/sync"]
    assert any(s["added"] and s["modified"] and s["removed"] for s in syncs)
    assert any(json.loads(body)["item"]["error"] for path, body in successes
               if path == "/item/get")


def test_every_error_body_conforms(recorded: tuple[Recording, PlaidApi]) -> None:
    emulator, client = recorded
    token = link(client)
    for kind in ("rate_limit", "internal_error", "planned_maintenance",
                 "mutation_during_pagination", "item_login_required"):
        emulator.inject(ITEM, Fault(kind, at_page=2))
        with pytest.raises(plaid.ApiException):
            sync_all(client, token, count=2)
    with pytest.raises(plaid.ApiException):
        client.transactions_sync(sync_request("access-sandbox-unknown"))
    with pytest.raises(plaid.ApiException):  # the item has no webhook yet
        client.sandbox_item_fire_webhook(SandboxItemFireWebhookRequest(
            access_token=token, webhook_code="SYNC_UPDATES_AVAILABLE"))
    with pytest.raises(plaid.ApiException):
        client.sandbox_item_fire_webhook(SandboxItemFireWebhookRequest(
            access_token=token, webhook_code="PRODUCT_READY"))
    with pytest.raises(plaid.ApiException):
        client.webhook_verification_key_get(WebhookVerificationKeyGetRequest(key_id="no-such"))
    with pytest.raises(plaid.ApiException):
        link(api(client.api_client.configuration.host, secret="wrong-secret-000"))
    emulator.handle("/no/such/path", {}, b"{}")
    emulator.handle("/item/get", {}, b"[")
    errors = [(path, status, body) for path, status, body in emulator.seen if status != 200]
    codes = {json.loads(body)["error_code"] for _, _, body in errors}
    assert codes >= {"SANDBOX_WEBHOOK_INVALID", "SANDBOX_PRODUCT_NOT_ENABLED",
                     "INVALID_WEBHOOK_VERIFICATION_KEY_ID", "TRANSACTIONS_SYNC_LIMIT",
                     "INTERNAL_SERVER_ERROR", "PLANNED_MAINTENANCE",
                     "TRANSACTIONS_SYNC_MUTATION_DURING_PAGINATION", "ITEM_LOGIN_REQUIRED",
                     "INVALID_ACCESS_TOKEN", "INVALID_API_KEYS", "NOT_FOUND", "INVALID_BODY"}
    assert {status for _, status, _ in errors} >= {400, 404, 429, 500, 503}
    for path, status, body in errors:
        spec_path = path if path in ENDPOINTS else "/item/get"
        assert_conforms(spec_path, status, body)


def test_validator_catches_a_missing_required_key(recorded: tuple[Recording, PlaidApi]) -> None:
    emulator, client = recorded
    token = link(client)
    emulator.inject(ITEM, Fault("malformed"))
    raw = client.transactions_sync(sync_request(token), _preload_content=False).data
    assert schema_errors("/transactions/sync", 200, raw) == [
        ": 'next_cursor' is a required property"]


def test_dates_and_date_times_have_the_spec_formats(recorded: tuple[Recording, PlaidApi]) -> None:
    _, client = recorded
    token = link(client)
    item = json.loads(client.item_get(ItemGetRequest(access_token=token),
                                      _preload_content=False).data)["item"]
    assert item["created_at"].endswith("Z")
    txn = json.loads(client.transactions_sync(sync_request(token),
                                              _preload_content=False).data)["added"][0]
    assert date.fromisoformat(txn["date"]) <= TODAY
    bad = dict(json.loads(client.item_get(ItemGetRequest(access_token=token),
                                          _preload_content=False).data))
    bad["item"]["created_at"] = "2024-05-20"  # a date where a date-time belongs
    assert schema_errors("/item/get", 200, json.dumps(bad))


WEBHOOK_SCHEMAS = {
    "SYNC_UPDATES_AVAILABLE": "SyncUpdatesAvailableWebhook",
    "DEFAULT_UPDATE": "DefaultUpdateWebhook",
    "TRANSACTIONS_REMOVED": "TransactionsRemovedWebhook",
    "ERROR": "ItemErrorWebhook",
    "LOGIN_REPAIRED": "ItemLoginRepairedWebhook",
    "PENDING_EXPIRATION": "PendingExpirationWebhook",
    "PENDING_DISCONNECT": "PendingDisconnectWebhook",
    "USER_PERMISSION_REVOKED": "UserPermissionRevokedWebhook",
    "USER_ACCOUNT_REVOKED": "UserAccountRevokedWebhook",
    "NEW_ACCOUNTS_AVAILABLE": "NewAccountsAvailableWebhook",
    "WEBHOOK_UPDATE_ACKNOWLEDGED": "WebhookUpdateAcknowledgedWebhook",
}


def test_every_webhook_body_conforms(recorded: tuple[Recording, PlaidApi]) -> None:
    emulator, client = recorded
    token = link(client)
    client.item_webhook_update(ItemWebhookUpdateRequest(access_token=token, webhook=NOWHERE))
    sync_all(client, token)  # SYNC_UPDATES_AVAILABLE fires only after a first sync
    client.transactions_refresh(TransactionsRefreshRequest(access_token=token))  # posts t6
    for code in ("SYNC_UPDATES_AVAILABLE", "DEFAULT_UPDATE", "NEW_ACCOUNTS_AVAILABLE",
                 "PENDING_DISCONNECT", "USER_PERMISSION_REVOKED", "USER_ACCOUNT_REVOKED"):
        client.sandbox_item_fire_webhook(SandboxItemFireWebhookRequest(
            access_token=token, webhook_code=code))
    client.sandbox_item_reset_login(SandboxItemResetLoginRequest(access_token=token))
    client.sandbox_item_fire_webhook(SandboxItemFireWebhookRequest(
        access_token=token, webhook_code="LOGIN_REPAIRED"))
    emulator.send_webhook(ITEM, "PENDING_EXPIRATION")
    emulator.webhooks.wait_idle()
    bodies = [delivery.body for delivery in emulator.webhooks.deliveries]
    codes = [json.loads(body)["webhook_code"] for body in bodies]
    assert set(codes) == set(WEBHOOK_SCHEMAS)
    for body in bodies:
        document = json.loads(body)
        assert document["item_id"] == ITEM and document["environment"] == "sandbox"
        assert body == json.dumps(document, indent=2).encode()  # Plaid's 2-space layout
        errors = webhook_errors(WEBHOOK_SCHEMAS[document["webhook_code"]], body)
        assert not errors, f"{document['webhook_code']} breaks the spec: {errors}"
    removed = next(json.loads(b) for b in bodies if b"TRANSACTIONS_REMOVED" in b)
    assert removed["removed_transactions"] == ["t6".ljust(37, "0")]  # the pending one posted
