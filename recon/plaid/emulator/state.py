"""The in-memory Plaid: items, accounts, transactions, tokens, sync cursors and scripted faults.

Every item keeps an append-only change log (add / modify / remove events, each with the full
transaction state after the event). A sync cursor names a position in that log; a sync from
position p returns the *net* changes after p, so an id added and removed after p is not returned
and an id added and modified after p appears once, in ``added``, with its latest state.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import logging
import random
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

from recon.plaid.emulator.faults import DropConnection, Fault
from recon.plaid.emulator.objects import (
    PlaidApiError,
    dumps,
    fill_account,
    fill_transaction,
    iso_datetime,
    item_body,
    new_id,
    new_request_id,
    new_token,
    rate_limit_error,
    to_decimal,
)
from recon.plaid.emulator.webhooks import WebhookSender

log = logging.getLogger(__name__)

EventKind = Literal["add", "modify", "remove"]
Change = tuple[Literal["added", "modified", "removed"], str, str, dict[str, Any] | None]

DEFAULT_INSTITUTION_ID = "ins_109508"
_INSTITUTION_NAMES = {DEFAULT_INSTITUTION_ID: "First Platypus Bank"}
_SYNC_COUNT_DEFAULT = 100
_MAX_COUNT = 500
_SANDBOX_CREATE_MAX = 10
_SANDBOX_CREATE_MAX_AGE_DAYS = 14
_LINK_TOKEN_LIFETIME = timedelta(hours=4)
_CURSOR_VERSION = "v1"
# Endpoints that read item data and therefore fail while the item needs a new login.
_NEEDS_LOGIN = frozenset({"/transactions/sync", "/transactions/get", "/transactions/refresh",
                          "/accounts/get"})
# The required key that a "malformed" fault leaves out of a 200 body.
_MALFORMED_DROPS = {"/transactions/sync": "next_cursor", "/transactions/get": "total_transactions",
                    "/accounts/get": "accounts", "/item/get": "item",
                    "/item/public_token/exchange": "access_token",
                    "/item/access_token/invalidate": "new_access_token",
                    "/link/token/create": "link_token",
                    "/sandbox/public_token/create": "public_token",
                    "/sandbox/item/reset_login": "reset_login"}
# /sandbox/item/fire_webhook codes (the spec's enum) and the webhook_type each is sent with. The
# codes of products an emulated item does not have answer SANDBOX_PRODUCT_NOT_ENABLED.
_FIREABLE = {"DEFAULT_UPDATE": "TRANSACTIONS", "SYNC_UPDATES_AVAILABLE": "TRANSACTIONS",
             "NEW_ACCOUNTS_AVAILABLE": "ITEM", "LOGIN_REPAIRED": "ITEM",
             "PENDING_DISCONNECT": "ITEM", "USER_PERMISSION_REVOKED": "ITEM",
             "USER_ACCOUNT_REVOKED": "ITEM"}
_NOT_ENABLED = frozenset({"SMS_MICRODEPOSITS_VERIFICATION", "AUTHORIZATION_GRANTED",
                          "RECURRING_TRANSACTIONS_UPDATE", "PRODUCT_READY", "ERROR"})
# Webhooks Plaid sends on its own (not through fire_webhook), by code: their webhook_type.
_WEBHOOK_TYPES = {**_FIREABLE, "TRANSACTIONS_REMOVED": "TRANSACTIONS", "ERROR": "ITEM",
                  "PENDING_EXPIRATION": "ITEM", "WEBHOOK_UPDATE_ACKNOWLEDGED": "ITEM"}
_EXPIRY_NOTICE = timedelta(days=7)  # PENDING_EXPIRATION / PENDING_DISCONNECT come 7 days ahead


@dataclass(frozen=True)
class _Event:
    seq: int
    kind: EventKind
    transaction_id: str
    account_id: str
    state: dict[str, Any] | None  # the transaction after the event; None for a removal


@dataclass
class _QueuedFault:
    fault: Fault
    remaining: int


@dataclass
class _Item:
    item_id: str
    institution_id: str
    institution_name: str | None
    accounts: dict[str, dict[str, Any]]
    created_at: datetime
    transactions: dict[str, dict[str, Any]] = field(default_factory=dict)
    added_seq: dict[str, int] = field(default_factory=dict)
    log: list[_Event] = field(default_factory=list)
    # Running per-account sums of Plaid amounts, for balances the fixture does not give.
    posted_sum: dict[str, Decimal] = field(default_factory=dict)
    pending_sum: dict[str, Decimal] = field(default_factory=dict)
    faults: list[_QueuedFault] = field(default_factory=list)
    login_required: bool = False
    linked: bool = False
    removed: bool = False
    webhook: str | None = None
    sync_called: bool = False  # SYNC_UPDATES_AVAILABLE fires only after a first sync
    net_cache: tuple[tuple[int, int, str | None], list[Change]] | None = None


@dataclass(frozen=True)
class _Cursor:
    item_id: str
    account_id: str | None
    start: int                 # log position the pagination run started from
    end: int | None            # log length when the run started; None for a final cursor
    offset: int = 0            # how many net changes of the run were already returned
    page: int = 1              # 1-based number of the page this cursor asks for

    def encode(self) -> str:
        fields = [_CURSOR_VERSION, self.item_id, self.account_id or "", str(self.start),
                  "" if self.end is None else str(self.end), str(self.offset), str(self.page)]
        return base64.b64encode(":".join(fields).encode("ascii")).decode("ascii")

    @classmethod
    def decode(cls, text: str) -> _Cursor:
        try:
            raw = base64.b64decode(text.encode("ascii"), validate=True).decode("ascii")
            version, item_id, account_id, start, end, offset, page = raw.split(":")
            if version != _CURSOR_VERSION:
                raise ValueError(version)
            cursor = cls(item_id, account_id or None, int(start), int(end) if end else None,
                         int(offset), int(page))
        except (ValueError, UnicodeError, binascii.Error):
            raise PlaidApiError("INVALID_FIELD", "cursor is invalid") from None
        if min(cursor.start, cursor.offset, cursor.page - 1, cursor.end or 0) < 0:
            raise PlaidApiError("INVALID_FIELD", "cursor is invalid")
        return cursor


Handler = Callable[[dict[str, Any]], dict[str, Any]]


class Emulator:
    """Thread-safe in-memory Plaid: items, accounts, transactions, tokens, cursors, scripted faults.

    ``handle`` answers one HTTP request; the other public methods script the data and the faults
    from tests and demos. ``today`` pins the emulator's date (default: the current UTC date).
    ``webhook_url`` is the webhook of items linked without one of their own; ``webhooks`` signs
    and delivers them.
    """

    def __init__(self, fixtures: Mapping[str, Any], *, client_id: str, secret: str,
                 today: date | None = None, state_path: Path | None = None,
                 webhook_url: str | None = None, webhook_attempts: int = 3,
                 webhook_retry_seconds: float = 0.5) -> None:
        self._client_id = client_id
        self._secret = secret
        self._fixed_today = today
        self._default_webhook = webhook_url
        self.webhooks = WebhookSender(attempts=webhook_attempts,
                                      retry_seconds=webhook_retry_seconds)
        self._lock = threading.RLock()
        self._items: dict[str, _Item] = {}
        self._access_tokens: dict[str, str] = {}   # token -> item_id, in issue order
        self._public_tokens: dict[str, str] = {}   # token -> item_id (one-time)
        self._txn_items: dict[str, str] = {}       # transaction_id -> item_id
        self._routes: dict[str, Handler] = {
            "/transactions/sync": self._transactions_sync,
            "/transactions/get": self._transactions_get,
            "/transactions/refresh": self._transactions_refresh,
            "/accounts/get": self._accounts_get,
            "/item/get": self._item_get,
            "/item/remove": self._item_remove,
            "/item/public_token/exchange": self._public_token_exchange,
            "/item/access_token/invalidate": self._access_token_invalidate,
            "/link/token/create": self._link_token_create,
            "/sandbox/public_token/create": self._sandbox_public_token_create,
            "/sandbox/item/reset_login": self._sandbox_reset_login,
            "/sandbox/transactions/create": self._sandbox_transactions_create,
            "/sandbox/item/fire_webhook": self._sandbox_item_fire_webhook,
            "/item/webhook/update": self._item_webhook_update,
            "/webhook_verification_key/get": self._webhook_verification_key_get,
        }
        for fixture in fixtures.get("items", []):
            self._load_item(fixture)
        # A real bank remembers the tokens it issued across restarts. With a state_path the
        # emulator does too, keeping only SHA-256 hashes of the tokens (never the tokens).
        self._state_path = state_path
        self._remembered: dict[str, str] = {}  # sha256(token) -> item_id
        if state_path is not None and state_path.exists():
            saved = json.loads(state_path.read_text(encoding="utf-8"))
            self._remembered = {h: i for h, i in saved.get("access_token_sha256", {}).items()
                                if i in self._items}
            for item_id in saved.get("linked", []):
                if item_id in self._items:
                    self._items[item_id].linked = True

    @classmethod
    def from_file(cls, path: Path, *, client_id: str, secret: str,
                  today: date | None = None, state_path: Path | None = None,
                  webhook_url: str | None = None) -> Emulator:
        """Load fixtures from JSON; numbers are read as Decimal so amounts stay exact."""
        fixtures = json.loads(Path(path).read_text(encoding="utf-8"), parse_float=Decimal)
        if not isinstance(fixtures, dict):
            raise ValueError(f"{path}: fixtures must be a JSON object with an 'items' list")
        return cls(fixtures, client_id=client_id, secret=secret, today=today,
                   state_path=state_path, webhook_url=webhook_url)

    def _persist_tokens(self) -> None:
        """Write the hashes of the valid tokens and the linked items (atomically)."""
        if self._state_path is None:
            return
        hashes = dict(self._remembered)
        hashes.update({_token_hash(t): i for t, i in self._access_tokens.items()})
        state = {"access_token_sha256": hashes,
                 "linked": sorted(i for i, item in self._items.items() if item.linked)}
        tmp = self._state_path.with_name(self._state_path.name + ".tmp")
        tmp.write_text(json.dumps(state, sort_keys=True), encoding="utf-8")
        tmp.replace(self._state_path)

    def _forget_token(self, token: str) -> None:
        self._access_tokens.pop(token, None)
        self._remembered.pop(_token_hash(token), None)

    # --- HTTP entry point -----------------------------------------------------------------------

    def handle(self, path: str, headers: Mapping[str, str], body: bytes) -> tuple[int, bytes]:
        """One HTTP request (POST path) -> (status, JSON body bytes).

        Raises :class:`DropConnection` when a scripted fault wants the socket closed unanswered.
        """
        request_id = new_request_id()
        try:
            payload = self._dispatch(path, headers, body)
        except PlaidApiError as error:
            log.debug("emulator %s -> %d %s", path, error.status, error.error_code)
            return error.status, dumps(error.body(request_id))
        payload["request_id"] = request_id
        drop_key = payload.pop("_malformed", None)
        if isinstance(drop_key, str):
            payload.pop(drop_key, None)
        log.debug("emulator %s -> 200", path)
        return 200, dumps(payload)

    def _dispatch(self, path: str, headers: Mapping[str, str], body: bytes) -> dict[str, Any]:
        route = self._routes.get(path)
        if route is None:
            raise PlaidApiError("NOT_FOUND")
        request = _parse_body(body)
        self._authenticate(headers, request)
        with self._lock:
            fault = self._take_fault(path, request)
        if fault is not None and fault.kind == "slow":
            time.sleep(fault.delay_seconds)
        if fault is not None and fault.kind == "drop_connection":
            raise DropConnection
        with self._lock:
            payload = route(request)
        if fault is not None and fault.kind == "malformed":
            payload["_malformed"] = _MALFORMED_DROPS.get(path, "request_id")
        return payload

    def _authenticate(self, headers: Mapping[str, str], request: Mapping[str, Any]) -> None:
        lowered = {key.lower(): value for key, value in headers.items()}
        header_id, header_secret = lowered.get("plaid-client-id"), lowered.get("plaid-secret")
        client_id = header_id if header_id is not None else request.get("client_id")
        secret = header_secret if header_secret is not None else request.get("secret")
        if client_id is None or secret is None:
            if (header_id is None) != (header_secret is None):
                raise PlaidApiError("INVALID_HEADERS")
            missing = [name for name, value in (("client_id", client_id), ("secret", secret))
                       if value is None]
            raise PlaidApiError("MISSING_FIELDS", "the following required fields are missing: "
                                + ", ".join(missing))
        if not (isinstance(client_id, str) and isinstance(secret, str)
                and hmac.compare_digest(client_id.encode(), self._client_id.encode())
                and hmac.compare_digest(secret.encode(), self._secret.encode())):
            raise PlaidApiError("INVALID_API_KEYS")

    # --- faults ---------------------------------------------------------------------------------

    def _fault_target(self, path: str, request: Mapping[str, Any]) -> _Item | None:
        """The item a request is about, if it can be told without raising."""
        item_id: str | None = None
        if isinstance(request.get("access_token"), str):
            item_id = self._access_tokens.get(request["access_token"])
        elif path == "/item/public_token/exchange" and isinstance(request.get("public_token"),
                                                                    str):
            item_id = self._public_tokens.get(request["public_token"])
        return self._items.get(item_id) if item_id else None

    def _take_fault(self, path: str, request: Mapping[str, Any]) -> Fault | None:
        """Use up the first queued fault for this item and endpoint; raise the error faults."""
        item = self._fault_target(path, request)
        if item is None:
            return None
        queued = next((q for q in item.faults if q.fault.endpoint == path), None)
        if queued is None:
            return None
        fault = queued.fault
        if fault.kind == "mutation_during_pagination" and self._sync_page(request) != (
                fault.at_page or 2):
            return None
        queued.remaining -= 1
        if queued.remaining <= 0 or fault.kind == "item_login_required":
            item.faults.remove(queued)
        error = self._fault_error(item, fault, path, request)
        if error is not None:
            raise error
        return fault

    def _fault_error(self, item: _Item, fault: Fault, path: str,
                     request: Mapping[str, Any]) -> PlaidApiError | None:
        match fault.kind:
            case "rate_limit":
                return rate_limit_error(path)
            case "internal_error":
                return PlaidApiError("INTERNAL_SERVER_ERROR")
            case "planned_maintenance":
                return PlaidApiError("PLANNED_MAINTENANCE")
            case "invalid_access_token":
                return PlaidApiError("INVALID_ACCESS_TOKEN")
            case "product_not_ready":
                return PlaidApiError("PRODUCT_NOT_READY")
            case "item_login_required":
                item.login_required = True
                return PlaidApiError("ITEM_LOGIN_REQUIRED")
            case "mutation_during_pagination":
                options = request.get("options")
                account_id = options.get("account_id") if isinstance(options, dict) else None
                self._add(item, {"name": "Late posting", "amount": Decimal("4.20"),
                                 "account_id": account_id if account_id in item.accounts
                                 else None, "payment_channel": "other"})
                return PlaidApiError("TRANSACTIONS_SYNC_MUTATION_DURING_PAGINATION")
            case _:
                return None

    @staticmethod
    def _sync_page(request: Mapping[str, Any]) -> int:
        text = request.get("cursor")
        if not isinstance(text, str) or not text or text == "now":
            return 1
        try:
            return _Cursor.decode(text).page
        except PlaidApiError:
            return 1

    # --- request helpers ------------------------------------------------------------------------

    def _today(self) -> date:
        return self._fixed_today or datetime.now(UTC).date()

    def _item_for_token(self, request: Mapping[str, Any], path: str) -> _Item:
        token = _required_str(request, "access_token")
        item_id = self._access_tokens.get(token) or self._remembered.get(_token_hash(token))
        if item_id is None:
            raise PlaidApiError("INVALID_ACCESS_TOKEN")
        self._access_tokens[token] = item_id
        item = self._items[item_id]
        if item.login_required and path in _NEEDS_LOGIN:
            raise PlaidApiError("ITEM_LOGIN_REQUIRED")
        return item

    def _account_body(self, item: _Item, account: Mapping[str, Any]) -> dict[str, Any]:
        body = dict(account)
        balances = dict(account["balances"])
        account_id = account["account_id"]
        posted = item.posted_sum.get(account_id, Decimal(0))
        pending = item.pending_sum.get(account_id, Decimal(0))
        owed = account["type"] in ("credit", "loan")
        if balances["current"] is None:
            # Plaid amounts are positive for money out: a deposit balance falls, a debt grows.
            balances["current"] = posted if owed else -posted
        if balances["available"] is None:
            if not owed:
                balances["available"] = balances["current"] - pending
            elif balances["limit"] is not None:
                balances["available"] = balances["limit"] - balances["current"] - pending
        body["balances"] = balances
        return body

    def _accounts(self, item: _Item, only: list[str] | None = None) -> list[dict[str, Any]]:
        return [self._account_body(item, account) for account_id, account in item.accounts.items()
                if only is None or account_id in only]

    def _item_json(self, item: _Item, *, with_consent: bool = False) -> dict[str, Any]:
        error = (PlaidApiError("ITEM_LOGIN_REQUIRED").body(new_request_id())
                 if item.login_required else None)
        return item_body(item_id=item.item_id, institution_id=item.institution_id,
                         institution_name=item.institution_name, error=error,
                         created_at=item.created_at if with_consent else None,
                         webhook=item.webhook)

    # --- data changes (every change goes through the log) ---------------------------------------

    def _record(self, item: _Item, kind: EventKind, txn: dict[str, Any]) -> None:
        transaction_id = txn["transaction_id"]
        old = item.transactions.get(transaction_id)
        if old is not None:
            self._count(item, old, -1)
        if kind == "remove":
            del item.transactions[transaction_id]
            state = None
        else:
            item.transactions[transaction_id] = txn
            self._count(item, txn, +1)
            state = txn
        if kind == "add":
            item.added_seq[transaction_id] = len(item.log) + 1
            self._txn_items[transaction_id] = item.item_id
        item.log.append(_Event(len(item.log) + 1, kind, transaction_id, txn["account_id"], state))

    @staticmethod
    def _count(item: _Item, txn: Mapping[str, Any], sign: int) -> None:
        sums = item.pending_sum if txn["pending"] else item.posted_sum
        account_id = txn["account_id"]
        sums[account_id] = sums.get(account_id, Decimal(0)) + sign * txn["amount"]

    def _add(self, item: _Item, partial: Mapping[str, Any]) -> str:
        transaction_id = partial.get("transaction_id") or new_id()
        if transaction_id in self._txn_items:
            raise ValueError(f"duplicate transaction_id {transaction_id}")
        account_id = partial.get("account_id") or next(iter(item.accounts))
        if account_id not in item.accounts:
            raise ValueError(f"account {account_id} is not an account of item {item.item_id}")
        currency = item.accounts[account_id]["balances"]["iso_currency_code"]
        txn = fill_transaction(partial, transaction_id=transaction_id, account_id=account_id,
                               currency=currency, today=self._today())
        self._record(item, "add", txn)
        return transaction_id

    def _post_pending(self, item: _Item) -> list[tuple[str, str]]:
        today = self._today()
        pairs = []
        for pending in [t for t in item.transactions.values() if t["pending"]]:
            self._record(item, "remove", pending)
            posted = {key: value for key, value in pending.items() if key != "transaction_id"}
            posted_date = max(date.fromisoformat(pending["date"]), today)
            posted.update(pending=False, pending_transaction_id=pending["transaction_id"],
                          date=posted_date.isoformat(),
                          authorized_date=pending["authorized_date"] or pending["date"])
            pairs.append((pending["transaction_id"], self._add(item, posted)))
        return pairs

    def _load_item(self, fixture: Mapping[str, Any]) -> None:
        item_id = str(fixture.get("item_id") or new_id())
        if item_id in self._items:
            raise ValueError(f"duplicate item_id {item_id}")
        institution_id = str(fixture.get("institution_id") or DEFAULT_INSTITUTION_ID)
        accounts = [fill_account(a) for a in fixture.get("accounts") or [{}]]
        item = _Item(
            item_id=item_id, institution_id=institution_id,
            institution_name=fixture.get("institution_name")
            or _INSTITUTION_NAMES.get(institution_id, f"Institution {institution_id}"),
            accounts={a["account_id"]: a for a in accounts},
            created_at=datetime.now(UTC).replace(microsecond=0))
        self._items[item_id] = item
        for txn in fixture.get("transactions") or []:
            self._add(item, txn)

    def _generate_item(self, institution_id: str) -> _Item:
        """A new item for an institution the fixtures do not know: one checking account with a
        few weeks of transactions, two of them still pending."""
        rng = random.Random(institution_id)
        today = self._today()
        self._load_item({"institution_id": institution_id,
                         "accounts": [{"name": "Plaid Checking", "type": "depository",
                                       "subtype": "checking",
                                       "balances": {"iso_currency_code": "USD"}}]})
        item = list(self._items.values())[-1]
        names = ["Uber", "Starbucks", "United Airlines", "Touchstone Climbing", "KFC",
                 "Madison Bicycle Shop", "SparkFun", "McDonald's"]
        for index, name in enumerate(names):
            cents = rng.randint(500, 50_000)
            self._add(item, {
                "name": name, "merchant_name": name,
                "amount": Decimal(cents).scaleb(-2),
                "date": (today - timedelta(days=3 * (len(names) - index))).isoformat(),
                "pending": index >= len(names) - 2, "payment_channel": "in store"})
        self._add(item, {"name": "ACME PAYROLL", "amount": Decimal("-2500.00"),
                         "date": (today - timedelta(days=15)).isoformat(),
                         "payment_channel": "other",
                         "payment_meta": {"payment_method": "ACH", "payer": "ACME"}})
        return item

    # --- sync -----------------------------------------------------------------------------------

    def _net_changes(self, item: _Item, start: int, end: int,
                     account_id: str | None) -> list[Change]:
        """Net changes of the log slice (start, end], ordered by each id's last change."""
        key = (start, end, account_id)
        if item.net_cache is not None and item.net_cache[0] == key:
            return item.net_cache[1]
        first_kind: dict[str, EventKind] = {}
        last: dict[str, _Event] = {}
        for event in item.log[start:end]:
            if account_id is not None and event.account_id != account_id:
                continue
            first_kind.setdefault(event.transaction_id, event.kind)
            last.pop(event.transaction_id, None)
            last[event.transaction_id] = event
        changes: list[Change] = []
        for transaction_id, event in last.items():
            new = first_kind[transaction_id] == "add"
            if event.kind == "remove":
                if not new:
                    changes.append(("removed", transaction_id, event.account_id, None))
            else:
                changes.append(("added" if new else "modified", transaction_id,
                                event.account_id, event.state))
        item.net_cache = (key, changes)
        return changes

    def _transactions_sync(self, request: dict[str, Any]) -> dict[str, Any]:
        item = self._item_for_token(request, "/transactions/sync")
        item.sync_called = True
        count = _optional_int(request, "count", _SYNC_COUNT_DEFAULT, 1, _MAX_COUNT)
        options = _optional_object(request, "options")
        account_id = options.get("account_id")
        if account_id is not None and account_id not in item.accounts:
            raise PlaidApiError("INVALID_ACCOUNT_ID")
        include_original = bool(options.get("include_original_description"))
        text = request.get("cursor")
        if text is not None and not isinstance(text, str):
            raise PlaidApiError("INVALID_FIELD", "cursor must be a string")
        log_length = len(item.log)
        if not text:
            cursor = _Cursor(item.item_id, account_id, 0, None)
        elif text == "now":
            cursor = _Cursor(item.item_id, account_id, log_length, None)
        else:
            cursor = _Cursor.decode(text)
            if cursor.item_id != item.item_id:
                raise PlaidApiError("INVALID_FIELD", "cursor not associated with access_token")
            if cursor.account_id != account_id:
                raise PlaidApiError("INVALID_FIELD",
                                    "cursor not associated with options.account_id")
            if max(cursor.start, cursor.end or 0) > log_length:
                raise PlaidApiError("INVALID_FIELD", "cursor is invalid")
            if cursor.end is not None and cursor.end != log_length:
                raise PlaidApiError("TRANSACTIONS_SYNC_MUTATION_DURING_PAGINATION")
        end = log_length if cursor.end is None else cursor.end
        changes = self._net_changes(item, cursor.start, end, account_id)
        page = changes[cursor.offset:cursor.offset + count]
        has_more = cursor.offset + count < len(changes)
        next_cursor = (_Cursor(item.item_id, account_id, cursor.start, end,
                               cursor.offset + count, cursor.page + 1) if has_more
                       else _Cursor(item.item_id, account_id, end, None))
        added: list[dict[str, Any]] = []
        modified: list[dict[str, Any]] = []
        removed: list[dict[str, str]] = []
        for kind, transaction_id, txn_account, state in page:
            if kind == "removed":
                removed.append({"transaction_id": transaction_id, "account_id": txn_account})
            else:
                assert state is not None
                (added if kind == "added" else modified).append(
                    _transaction_json(state, include_original))
        return {
            "transactions_update_status": "HISTORICAL_UPDATE_COMPLETE",
            "accounts": self._accounts(item, [account_id] if account_id else None),
            "added": added, "modified": modified, "removed": removed,
            "next_cursor": next_cursor.encode(), "has_more": has_more,
        }

    # --- other endpoints ------------------------------------------------------------------------

    def _transactions_get(self, request: dict[str, Any]) -> dict[str, Any]:
        item = self._item_for_token(request, "/transactions/get")
        start = _required_date(request, "start_date")
        end = _required_date(request, "end_date")
        if start > end:
            raise PlaidApiError("INVALID_FIELD", "start_date must be on or before end_date")
        options = _optional_object(request, "options")
        count = _optional_int(options, "count", _SYNC_COUNT_DEFAULT, 1, _MAX_COUNT)
        offset = _optional_int(options, "offset", 0, 0, None)
        account_ids = self._account_ids_option(item, options)
        include_original = bool(options.get("include_original_description"))
        matching = [t for t in item.transactions.values()
                    if start.isoformat() <= t["date"] <= end.isoformat()
                    and (account_ids is None or t["account_id"] in account_ids)]
        # Reverse chronological, ties broken by reverse arrival: a stable order for paging.
        matching.sort(key=lambda t: (t["date"], item.added_seq[t["transaction_id"]]),
                      reverse=True)
        return {
            "accounts": self._accounts(item, account_ids),
            "transactions": [_transaction_json(t, include_original)
                             for t in matching[offset:offset + count]],
            "total_transactions": len(matching),
            "item": self._item_json(item),
        }

    @staticmethod
    def _account_ids_option(item: _Item, options: Mapping[str, Any]) -> list[str] | None:
        account_ids = options.get("account_ids")
        if account_ids is None:
            return None
        if not isinstance(account_ids, list) or not all(isinstance(a, str) for a in account_ids):
            raise PlaidApiError("INVALID_FIELD", "options.account_ids must be a list of strings")
        if any(a not in item.accounts for a in account_ids):
            raise PlaidApiError("INVALID_ACCOUNT_ID")
        return account_ids

    def _transactions_refresh(self, request: dict[str, Any]) -> dict[str, Any]:
        item = self._item_for_token(request, "/transactions/refresh")
        since = len(item.log)
        self._refresh(item)
        self._transactions_webhooks(item, since)
        return {}

    def _refresh(self, item: _Item) -> None:
        """Plaid's user_transactions_dynamic refresh: every pending transaction posts, and one
        earlier posted transaction's amount grows by 1.00."""
        earlier_posted = [t for t in item.transactions.values() if not t["pending"]]
        self._post_pending(item)
        if earlier_posted:
            target = earlier_posted[-1]
            self._modify(item, target["transaction_id"], {"amount": target["amount"] + 1})

    def _accounts_get(self, request: dict[str, Any]) -> dict[str, Any]:
        item = self._item_for_token(request, "/accounts/get")
        options = _optional_object(request, "options")
        account_ids = self._account_ids_option(item, options)
        return {"accounts": self._accounts(item, account_ids), "item": self._item_json(item)}

    def _item_get(self, request: dict[str, Any]) -> dict[str, Any]:
        item = self._item_for_token(request, "/item/get")
        created = item.created_at.strftime("%Y-%m-%dT%H:%M:%SZ")
        return {
            "item": self._item_json(item, with_consent=True),
            "status": {"transactions": {"last_successful_update": created,
                                        "last_failed_update": None},
                       "investments": None, "last_webhook": None},
        }

    def _item_remove(self, request: dict[str, Any]) -> dict[str, Any]:
        item = self._item_for_token(request, "/item/remove")
        item.removed = True
        item.faults.clear()
        for token in [t for t, owner in self._access_tokens.items() if owner == item.item_id]:
            self._forget_token(token)
        self._remembered = {h: i for h, i in self._remembered.items() if i != item.item_id}
        self._persist_tokens()
        return {}

    def _public_token_exchange(self, request: dict[str, Any]) -> dict[str, Any]:
        public_token = _required_str(request, "public_token")
        item_id = self._public_tokens.pop(public_token, None)
        if item_id is None or self._items[item_id].removed:
            raise PlaidApiError("INVALID_PUBLIC_TOKEN")
        item = self._items[item_id]
        item.login_required = False
        access_token = new_token("access")
        self._access_tokens[access_token] = item_id
        self._persist_tokens()
        return {"access_token": access_token, "item_id": item_id}

    def _access_token_invalidate(self, request: dict[str, Any]) -> dict[str, Any]:
        item = self._item_for_token(request, "/item/access_token/invalidate")
        self._forget_token(request["access_token"])
        new_access_token = new_token("access")
        self._access_tokens[new_access_token] = item.item_id
        self._persist_tokens()
        return {"new_access_token": new_access_token}

    def _link_token_create(self, request: dict[str, Any]) -> dict[str, Any]:
        _required_str(request, "client_name")
        _required_str(request, "language")
        countries = request.get("country_codes")
        if not isinstance(countries, list) or not countries:
            raise PlaidApiError("MISSING_FIELDS",
                                "the following required fields are missing: country_codes")
        user = request.get("user")
        if not (isinstance(user, dict) and user.get("client_user_id")) and not request.get(
                "user_id"):
            raise PlaidApiError("MISSING_FIELDS",
                                "the following required fields are missing: user.client_user_id")
        if request.get("access_token") is not None:
            self._item_for_token(request, "/link/token/create")
        expiration = datetime.now(UTC).replace(microsecond=0) + _LINK_TOKEN_LIFETIME
        return {"link_token": new_token("link"),
                "expiration": expiration.strftime("%Y-%m-%dT%H:%M:%SZ")}

    def _sandbox_public_token_create(self, request: dict[str, Any]) -> dict[str, Any]:
        institution_id = _required_str(request, "institution_id")
        products = request.get("initial_products")
        if not isinstance(products, list) or not products:
            raise PlaidApiError("MISSING_FIELDS",
                                "the following required fields are missing: initial_products")
        candidates = [i for i in self._items.values()
                      if i.institution_id == institution_id and not i.removed]
        # A login-required item is re-linked first (update mode), then fixture items in order.
        item = (next((i for i in candidates if i.login_required), None)
                or next((i for i in candidates if not i.linked), None)
                or self._generate_item(institution_id))
        item.linked = True
        options = _optional_object(request, "options")
        webhook = options.get("webhook", self._default_webhook)
        if webhook is not None and not isinstance(webhook, str):
            raise PlaidApiError("INVALID_FIELD", "options.webhook must be a string")
        item.webhook = webhook or None
        public_token = new_token("public")
        self._public_tokens[public_token] = item.item_id
        return {"public_token": public_token}

    def _sandbox_reset_login(self, request: dict[str, Any]) -> dict[str, Any]:
        item = self._item_for_token(request, "/sandbox/item/reset_login")
        item.login_required = True
        self._send_webhook(item, "ERROR")
        return {"reset_login": True}

    def _sandbox_transactions_create(self, request: dict[str, Any]) -> dict[str, Any]:
        item = self._item_for_token(request, "/sandbox/transactions/create")
        entries = request.get("transactions")
        if not isinstance(entries, list) or not entries:
            raise PlaidApiError("MISSING_FIELDS",
                                "the following required fields are missing: transactions")
        if len(entries) > _SANDBOX_CREATE_MAX:
            raise PlaidApiError("INVALID_FIELD", "transactions may hold at most 10 entries")
        today = self._today()
        earliest = today - timedelta(days=_SANDBOX_CREATE_MAX_AGE_DAYS)
        account_id = next((a for a, acc in item.accounts.items() if acc["type"] == "depository"),
                          next(iter(item.accounts)))
        parsed = []
        for entry in entries:
            if not isinstance(entry, dict):
                raise PlaidApiError("INVALID_FIELD", "transactions must be objects")
            transacted = _required_date(entry, "date_transacted")
            posted = _required_date(entry, "date_posted")
            if not (earliest <= transacted <= today and earliest <= posted <= today):
                raise PlaidApiError("INVALID_FIELD", "transaction dates must be today or up to "
                                    "14 days in the past")
            if "amount" not in entry:
                raise PlaidApiError("MISSING_FIELDS",
                                    "the following required fields are missing: amount")
            try:
                amount = to_decimal(entry["amount"], "amount")
            except ValueError:
                raise PlaidApiError("INVALID_FIELD", "amount must be a number") from None
            parsed.append({"account_id": account_id, "amount": amount,
                           "name": _required_str(entry, "description"),
                           "date": posted.isoformat(), "authorized_date": transacted.isoformat(),
                           "iso_currency_code": entry.get("iso_currency_code") or "USD"})
        since = len(item.log)
        for partial in parsed:
            self._add(item, partial)
        self._transactions_webhooks(item, since)
        return {}

    def _sandbox_item_fire_webhook(self, request: dict[str, Any]) -> dict[str, Any]:
        item = self._item_for_token(request, "/sandbox/item/fire_webhook")
        code = _required_str(request, "webhook_code")
        webhook_type = request.get("webhook_type")
        if webhook_type is not None and not isinstance(webhook_type, str):
            raise PlaidApiError("INVALID_FIELD", "webhook_type must be a string")
        if code in _NOT_ENABLED or (code in _FIREABLE and webhook_type not in (
                None, _FIREABLE[code])):
            raise PlaidApiError("SANDBOX_PRODUCT_NOT_ENABLED")
        if code not in _FIREABLE:
            raise PlaidApiError("INVALID_FIELD", "webhook_code is not a valid value")
        if item.webhook is None:
            raise PlaidApiError("SANDBOX_WEBHOOK_INVALID")
        if code == "LOGIN_REPAIRED":
            item.login_required = False
        self._send_webhook(item, code)
        return {"webhook_fired": True}

    def _item_webhook_update(self, request: dict[str, Any]) -> dict[str, Any]:
        item = self._item_for_token(request, "/item/webhook/update")
        webhook = request.get("webhook")
        if webhook is not None and not isinstance(webhook, str):
            raise PlaidApiError("INVALID_FIELD", "webhook must be a string or null")
        item.webhook = webhook or None
        if item.webhook is not None:
            self._send_webhook(item, "WEBHOOK_UPDATE_ACKNOWLEDGED")
        return {"item": self._item_json(item)}

    def _webhook_verification_key_get(self, request: dict[str, Any]) -> dict[str, Any]:
        jwk = self.webhooks.jwk(_required_str(request, "key_id"))
        if jwk is None:
            raise PlaidApiError("INVALID_WEBHOOK_VERIFICATION_KEY_ID")
        return {"key": jwk}

    # --- webhooks -------------------------------------------------------------------------------

    def _transactions_webhooks(self, item: _Item, since: int) -> None:
        """What Plaid sends after new transaction data: SYNC_UPDATES_AVAILABLE (once the item was
        synced at least once), DEFAULT_UPDATE, and TRANSACTIONS_REMOVED when ids went away."""
        events = item.log[since:]
        if not events:
            return
        if item.sync_called:
            self._send_webhook(item, "SYNC_UPDATES_AVAILABLE")
        added = sum(1 for event in events if event.kind == "add")
        self._send_webhook(item, "DEFAULT_UPDATE", new_transactions=added)
        removed = [event.transaction_id for event in events if event.kind == "remove"]
        if removed:
            self._send_webhook(item, "TRANSACTIONS_REMOVED", removed_transactions=removed)

    def _send_webhook(self, item: _Item, code: str, **fields: Any) -> None:
        if item.webhook is None:
            return
        self.webhooks.send(item.webhook, self._webhook_body(item, code, **fields))

    def _webhook_body(self, item: _Item, code: str, **fields: Any) -> dict[str, Any]:
        """A webhook body with every key its schema in the spec requires."""
        body: dict[str, Any] = {"webhook_type": _WEBHOOK_TYPES[code], "webhook_code": code,
                                "item_id": item.item_id}
        soon = iso_datetime(datetime.now(UTC) + _EXPIRY_NOTICE)
        match code:
            case "SYNC_UPDATES_AVAILABLE":
                body.update(initial_update_complete=True, historical_update_complete=True)
            case "DEFAULT_UPDATE":
                body.update(new_transactions=fields.get("new_transactions", 0), error=None)
            case "TRANSACTIONS_REMOVED":
                body.update(removed_transactions=fields["removed_transactions"], error=None)
            case "ERROR":
                error = PlaidApiError("ITEM_LOGIN_REQUIRED").body(new_request_id())
                del error["request_id"]  # not part of an error inside a webhook
                body.update(error=error | {"status": 400})
            case "USER_PERMISSION_REVOKED":
                body.update(error={
                    "error_type": "ITEM_ERROR", "error_code": "USER_PERMISSION_REVOKED",
                    "error_code_reason": None, "display_message": None, "status": 400,
                    "error_message": "the holder of this account has revoked their permission "
                                     "for your application to access it"})
            case "USER_ACCOUNT_REVOKED":
                body.update(account_id=next(iter(item.accounts)))
            case "PENDING_EXPIRATION":
                body.update(consent_expiration_time=soon)
            case "PENDING_DISCONNECT":
                body.update(reason="INSTITUTION_MIGRATION", disconnect_time=soon)
            case "NEW_ACCOUNTS_AVAILABLE":
                body.update(error=None)
            case "WEBHOOK_UPDATE_ACKNOWLEDGED":
                body.update(new_webhook_url=item.webhook, error=None)
        body["environment"] = "sandbox"
        return body

    # --- scripting API --------------------------------------------------------------------------

    def send_webhook(self, item_id: str, code: str) -> None:
        """Send one of the item's webhooks now, as Plaid would on its own (e.g.
        PENDING_EXPIRATION, which ``/sandbox/item/fire_webhook`` cannot fire)."""
        with self._lock:
            item = self._item(item_id)
            if item.webhook is None:
                raise ValueError(f"item {item_id} has no webhook")
            self._send_webhook(item, code)

    @property
    def item_ids(self) -> list[str]:
        with self._lock:
            return [i.item_id for i in self._items.values() if not i.removed]

    def _item(self, item_id: str) -> _Item:
        try:
            return self._items[item_id]
        except KeyError:
            raise KeyError(f"unknown item {item_id}") from None

    def inject(self, item_id: str, fault: Fault) -> None:
        """Queue a fault for the item; faults are consumed in order (see :class:`Fault`)."""
        with self._lock:
            self._item(item_id).faults.append(_QueuedFault(fault, fault.times))

    def add_transaction(self, item_id: str, txn: Mapping[str, Any]) -> str:
        """Add a (possibly partial) transaction; returns its transaction_id."""
        with self._lock:
            return self._add(self._item(item_id), txn)

    def modify_transaction(self, transaction_id: str, **changes: Any) -> None:
        with self._lock:
            self._modify(self._item(self._txn_item_id(transaction_id)), transaction_id, changes)

    def _modify(self, item: _Item, transaction_id: str, changes: Mapping[str, Any]) -> None:
        if {"transaction_id", "account_id"} & changes.keys():
            raise ValueError("a modification cannot change transaction_id or account_id")
        current = item.transactions[transaction_id]
        currency = item.accounts[current["account_id"]]["balances"]["iso_currency_code"]
        merged = fill_transaction({**current, **changes}, transaction_id=transaction_id,
                                  account_id=current["account_id"], currency=currency,
                                  today=self._today())
        self._record(item, "modify", merged)

    def remove_transaction(self, transaction_id: str) -> None:
        with self._lock:
            item = self._item(self._txn_item_id(transaction_id))
            self._record(item, "remove", item.transactions[transaction_id])

    def _txn_item_id(self, transaction_id: str) -> str:
        item_id = self._txn_items.get(transaction_id)
        if item_id is None or transaction_id not in self._items[item_id].transactions:
            raise KeyError(f"unknown or removed transaction {transaction_id}")
        return item_id

    def post_pending(self, item_id: str) -> list[tuple[str, str]]:
        """Post every pending transaction: returns (pending_id, posted_id) pairs."""
        with self._lock:
            return self._post_pending(self._item(item_id))

    def current_transactions(self, item_id: str) -> list[dict[str, Any]]:
        """What a perfect sync of the item ends with (full objects, amounts Decimal)."""
        with self._lock:
            return [dict(t) for t in self._item(item_id).transactions.values()]

    def set_login_required(self, item_id: str) -> None:
        with self._lock:
            self._item(item_id).login_required = True

    def valid_access_tokens(self, item_id: str) -> list[str]:
        """For tests only: the access tokens that currently open the item."""
        with self._lock:
            return [t for t, owner in self._access_tokens.items() if owner == item_id]


# --- request parsing ----------------------------------------------------------------------------

def _parse_body(body: bytes) -> dict[str, Any]:
    try:
        request = json.loads(body.decode("utf-8"), parse_float=Decimal)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise PlaidApiError("INVALID_BODY") from None
    if not isinstance(request, dict):
        raise PlaidApiError("INVALID_BODY", "body must be a JSON object")
    return request


def _required_str(request: Mapping[str, Any], name: str) -> str:
    value = request.get(name)
    if value is None or value == "":
        raise PlaidApiError("MISSING_FIELDS", f"the following required fields are missing: {name}")
    if not isinstance(value, str):
        raise PlaidApiError("INVALID_FIELD", f"{name} must be a string")
    return value


def _required_date(request: Mapping[str, Any], name: str) -> date:
    text = _required_str(request, name)
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise PlaidApiError("INVALID_FIELD", f"{name} must be a YYYY-MM-DD date") from None


def _optional_int(request: Mapping[str, Any], name: str, default: int, low: int,
                  high: int | None) -> int:
    value = request.get(name, default)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int) or value < low or (
            high is not None and value > high):
        bounds = f"between {low} and {high}" if high is not None else f"at least {low}"
        raise PlaidApiError("INVALID_FIELD", f"{name} must be an integer {bounds}")
    return value


def _optional_object(request: Mapping[str, Any], name: str) -> dict[str, Any]:
    value = request.get(name)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise PlaidApiError("INVALID_FIELD", f"{name} must be an object")
    return value


def _transaction_json(state: Mapping[str, Any], include_original: bool) -> dict[str, Any]:
    txn = dict(state)
    txn["original_description"] = (state.get("original_description") or state["name"]
                                    if include_original else None)
    return txn


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
