"""The one gateway to Plaid: plaid-python calls with timeouts, one retry policy, exact amounts.

Every call goes through :meth:`PlaidGateway._call`, which

- passes an explicit ``_request_timeout`` (plaid-python has none by default, so a stalled
  connection would hang the nightly run for ever);
- retries 429, 5xx, timeouts and connection errors with capped exponential backoff and full
  jitter (``config.plaid.retry``), and never retries 4xx item or input errors;
- turns every failure into :class:`PlaidCallError` with the Plaid ``error_code`` and endpoint,
  never the request (so never the access token or the secret).

Responses are read raw (``_preload_content=False``: the SDK still builds and sends the request)
and parsed with ``json.loads(..., parse_float=Decimal)``, because plaid-python would turn amounts
into binary floats. urllib3's own retries are switched off so this is the only retry policy.
``Configuration.debug`` is never enabled: it prints the secret header and the token to stdout.
"""

from __future__ import annotations

import json
import logging
import random
import time
from collections.abc import Callable, Mapping
from datetime import date
from decimal import Decimal
from typing import Any, TypeVar

import plaid
import urllib3
from plaid.api.plaid_api import PlaidApi
from plaid.model.accounts_get_request import AccountsGetRequest
from plaid.model.item_access_token_invalidate_request import ItemAccessTokenInvalidateRequest
from plaid.model.item_get_request import ItemGetRequest
from plaid.model.item_public_token_exchange_request import ItemPublicTokenExchangeRequest
from plaid.model.item_webhook_update_request import ItemWebhookUpdateRequest
from plaid.model.products import Products
from plaid.model.sandbox_public_token_create_request import SandboxPublicTokenCreateRequest
from plaid.model.sandbox_public_token_create_request_options import (
    SandboxPublicTokenCreateRequestOptions,
)
from plaid.model.transactions_get_request import TransactionsGetRequest
from plaid.model.transactions_get_request_options import TransactionsGetRequestOptions
from plaid.model.transactions_sync_request import TransactionsSyncRequest
from plaid.model.webhook_verification_key_get_request import WebhookVerificationKeyGetRequest

from recon.config import PlaidConfig, RetryPolicy
from recon.errors import UpstreamError

log = logging.getLogger(__name__)

T = TypeVar("T")

# Codes that need the user to re-link the item (Link update mode); retrying is pointless.
RELINK_CODES = frozenset({"ITEM_LOGIN_REQUIRED", "ITEM_NOT_FOUND", "INVALID_ACCESS_TOKEN"})
MUTATION_DURING_PAGINATION = "TRANSACTIONS_SYNC_MUTATION_DURING_PAGINATION"


class PlaidCallError(UpstreamError):
    """A Plaid call that failed, classified. The message names the endpoint and error code only."""

    def __init__(
        self, error_code: str, http_status: int | None, retryable: bool, *, endpoint: str = ""
    ) -> None:
        self.error_code = error_code
        self.http_status = http_status
        self.retryable = retryable
        self.endpoint = endpoint
        status = f"HTTP {http_status}" if http_status is not None else "no HTTP response"
        kind = "transient" if retryable else "permanent"
        super().__init__(f"Plaid {endpoint or 'call'} failed: {error_code} ({status}, {kind})")

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild_call_error,
                (self.error_code, self.http_status, self.retryable, self.endpoint))


def _rebuild_call_error(
    error_code: str, http_status: int | None, retryable: bool, endpoint: str
) -> PlaidCallError:
    return PlaidCallError(error_code, http_status, retryable, endpoint=endpoint)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"non-finite number {name} in a Plaid response")


def parse_body(raw: bytes | str) -> Any:
    """Plaid JSON with exact amounts: numbers with a fraction become Decimal, never float."""
    return json.loads(raw, parse_float=Decimal, parse_constant=_reject_constant)


def classify_api_exception(exc: plaid.ApiException, endpoint: str) -> PlaidCallError:
    status = int(exc.status) if exc.status else None
    code = None
    body = exc.body
    if isinstance(body, bytes):
        body = body.decode("utf-8", errors="replace")
    if isinstance(body, str) and body:
        try:
            parsed = json.loads(body)
        except ValueError:
            parsed = None
        if isinstance(parsed, dict) and isinstance(parsed.get("error_code"), str):
            code = parsed["error_code"]
    if code is None:
        code = f"HTTP_{status}" if status else "NO_RESPONSE"
    retryable = status is not None and (status == 429 or status >= 500)
    if code == "CREDITS_EXHAUSTED":  # a 429 that waiting does not fix
        retryable = False
    return PlaidCallError(code, status, retryable, endpoint=endpoint)


def classify_transport_error(exc: Exception, endpoint: str) -> PlaidCallError:
    if isinstance(exc, urllib3.exceptions.TimeoutError) or (
        isinstance(exc, urllib3.exceptions.MaxRetryError)
        and isinstance(exc.reason, urllib3.exceptions.TimeoutError)
    ):
        return PlaidCallError("TIMEOUT", None, True, endpoint=endpoint)
    return PlaidCallError("CONNECTION_ERROR", None, True, endpoint=endpoint)


class PlaidGateway:
    """plaid-python's PlaidApi behind one timeout, one retry policy and one error type."""

    def __init__(
        self,
        api: PlaidApi,
        *,
        timeout_seconds: float,
        retry: RetryPolicy,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
    ) -> None:
        self._api = api
        self._timeout = (timeout_seconds, timeout_seconds)  # (connect, read)
        self._retry = retry
        self._sleep = sleep
        self._rng = rng or random.Random()  # jitter only; not security-relevant

    # --- retry policy --------------------------------------------------------------------

    def backoff_delay(self, attempt: int) -> float:
        """Full jitter: uniform(0, min(max_delay, base * 2**(attempt-1))), attempt >= 1."""
        cap = min(
            self._retry.max_delay_seconds,
            self._retry.base_delay_seconds * (2 ** max(0, attempt - 1)),
        )
        return self._rng.uniform(0, cap)

    def pause(self, attempt: int) -> None:
        """Back off before the attempt-th repetition of something (also used by callers)."""
        self._sleep(self.backoff_delay(attempt))

    def _call(self, endpoint: str, request: Callable[[], T], *, retry: bool = True) -> T:
        attempts = self._retry.max_attempts if retry else 1
        for attempt in range(1, attempts + 1):
            try:
                return request()
            except plaid.ApiException as exc:
                error = classify_api_exception(exc, endpoint)
            except (urllib3.exceptions.HTTPError, ConnectionError) as exc:
                error = classify_transport_error(exc, endpoint)
            except (plaid.ApiTypeError, plaid.ApiValueError, ValueError):
                # A 200 whose body is not the JSON we need: fail cleanly, keep the cursor.
                error = PlaidCallError("MALFORMED_RESPONSE", 200, True, endpoint=endpoint)
            if not error.retryable or attempt == attempts:
                raise error from None
            delay = self.backoff_delay(attempt)
            log.warning(
                "Plaid call failed, retrying",
                extra={"endpoint": endpoint, "error_code": error.error_code,
                       "attempt": attempt, "delay_s": round(delay, 3)},
            )
            self._sleep(delay)
        raise AssertionError("unreachable")  # pragma: no cover

    def _json(
        self, endpoint: str, send: Callable[..., Any], body: Any, *, retry: bool = True,
        required: tuple[str, ...] = (),
    ) -> dict[str, Any]:
        def once() -> dict[str, Any]:
            response = send(body, _request_timeout=self._timeout, _preload_content=False)
            try:
                raw = response.data
            finally:
                response.release_conn()
            parsed = parse_body(raw)
            if not isinstance(parsed, dict) or any(key not in parsed for key in required):
                raise ValueError("response lacks required keys")
            return parsed

        return self._call(endpoint, once, retry=retry)

    # --- endpoints -----------------------------------------------------------------------

    def transactions_sync(self, access_token: str, *, cursor: str, count: int) -> dict[str, Any]:
        """One /transactions/sync page. An empty cursor is omitted (the SDK refuses None)."""
        request = (
            TransactionsSyncRequest(access_token=access_token, cursor=cursor, count=count)
            if cursor
            else TransactionsSyncRequest(access_token=access_token, count=count)
        )
        return self._json(
            "/transactions/sync", self._api.transactions_sync, request,
            required=("added", "modified", "removed", "next_cursor", "has_more"),
        )

    def transactions_get(
        self, access_token: str, *, start: date, end: date, count: int, offset: int
    ) -> dict[str, Any]:
        request = TransactionsGetRequest(
            access_token=access_token, start_date=start, end_date=end,
            options=TransactionsGetRequestOptions(count=count, offset=offset),
        )
        return self._json(
            "/transactions/get", self._api.transactions_get, request,
            required=("transactions", "total_transactions", "accounts"),
        )

    def accounts_get(self, access_token: str) -> dict[str, Any]:
        return self._json(
            "/accounts/get", self._api.accounts_get, AccountsGetRequest(access_token=access_token),
            required=("accounts", "item"),
        )

    def item_get(self, access_token: str) -> dict[str, Any]:
        return self._json(
            "/item/get", self._api.item_get, ItemGetRequest(access_token=access_token),
            required=("item",),
        )

    def exchange_public_token(self, public_token: str) -> tuple[str, str]:
        """-> (item_id, access_token). Not retried: a public token is single-use."""
        body = self._json(
            "/item/public_token/exchange", self._api.item_public_token_exchange,
            ItemPublicTokenExchangeRequest(public_token=public_token), retry=False,
            required=("access_token", "item_id"),
        )
        return _text(body, "item_id", "/item/public_token/exchange"), _text(
            body, "access_token", "/item/public_token/exchange")

    def sandbox_public_token_create(self, institution_id: str, *, webhook: str | None = None
                                    ) -> str:
        """A sandbox item's public token; ``webhook`` is where Plaid sends that item's webhooks."""
        request = SandboxPublicTokenCreateRequest(
            institution_id=institution_id, initial_products=[Products("transactions")]
        )
        if webhook is not None:
            request.options = SandboxPublicTokenCreateRequestOptions(webhook=webhook)
        body = self._json(
            "/sandbox/public_token/create", self._api.sandbox_public_token_create, request,
            required=("public_token",),
        )
        return _text(body, "public_token", "/sandbox/public_token/create")

    def item_webhook_update(self, access_token: str, webhook: str) -> None:
        """Point the item's webhooks at ``webhook`` (Plaid then sends WEBHOOK_UPDATE_ACKNOWLEDGED
        there)."""
        self._json(
            "/item/webhook/update", self._api.item_webhook_update,
            ItemWebhookUpdateRequest(access_token=access_token, webhook=webhook),
            required=("item",),
        )

    def webhook_verification_key_get(self, key_id: str, *, retry: bool = True
                                      ) -> dict[str, Any]:
        """The JWK that verifies webhooks signed with ``key_id`` (the JWT header's kid)."""
        body = self._json(
            "/webhook_verification_key/get", self._api.webhook_verification_key_get,
            WebhookVerificationKeyGetRequest(key_id=key_id), retry=retry, required=("key",),
        )
        key = body["key"]
        if not isinstance(key, dict):
            raise PlaidCallError("MALFORMED_RESPONSE", 200, False,
                                 endpoint="/webhook_verification_key/get")
        return key

    def invalidate_access_token(self, access_token: str) -> str:
        """-> the new access token. Never retried: the old token may already be dead."""
        body = self._json(
            "/item/access_token/invalidate", self._api.item_access_token_invalidate,
            ItemAccessTokenInvalidateRequest(access_token=access_token), retry=False,
            required=("new_access_token",),
        )
        return _text(body, "new_access_token", "/item/access_token/invalidate")


def _text(body: Mapping[str, Any], key: str, endpoint: str) -> str:
    value = body.get(key)
    if not isinstance(value, str) or not value:
        raise PlaidCallError("MALFORMED_RESPONSE", 200, False, endpoint=endpoint)
    return value


def make_gateway(
    plaid_config: PlaidConfig,
    *,
    host: str,
    client_id: str,
    secret: str,
    sleep: Callable[[float], None] = time.sleep,
) -> PlaidGateway:
    """A gateway for ``host`` (no trailing slash) with the config's timeout and retry policy."""
    configuration = plaid.Configuration(
        host=host.rstrip("/"), api_key={"clientId": client_id, "secret": secret}
    )
    configuration.retries = False  # urllib3 must not retry behind our back: one policy, here
    api = PlaidApi(plaid.ApiClient(configuration))
    return PlaidGateway(
        api, timeout_seconds=plaid_config.timeout_seconds, retry=plaid_config.retry, sleep=sleep
    )
