"""Plaid-shaped objects: ids, tokens, exact JSON, full Transaction / AccountBase / Item bodies.

Every required key of the OpenAPI schemas is present (null where the spec allows null), so
plaid-python 46 accepts every response. Amounts stay :class:`~decimal.Decimal` and are written
with their exact decimal text.
"""

from __future__ import annotations

import base64
import json
import os
import re
import uuid
from collections.abc import Mapping
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

# base64 of random bytes with "+" and "/" mapped to letters: 62 symbols, fast to make.
_TO_ALPHANUMERIC = bytes.maketrans(b"+/", b"Kq")

# Plaid error codes -> (error_type, HTTP status, error_message, display_message).
_ERRORS: dict[str, tuple[str, int, str, str | None]] = {
    "INVALID_API_KEYS": ("INVALID_INPUT", 400, "invalid client_id or secret provided", None),
    "INVALID_ACCESS_TOKEN": ("INVALID_INPUT", 400, "could not find matching access token", None),
    "INVALID_PUBLIC_TOKEN": ("INVALID_INPUT", 400, "could not find matching public token", None),
    "INVALID_ACCOUNT_ID": (
        "INVALID_INPUT", 400, "failed to find requested account ID for requested item", None),
    "INVALID_INSTITUTION": ("INVALID_INPUT", 400, "invalid institution_id provided", None),
    "INVALID_WEBHOOK_VERIFICATION_KEY_ID": (
        "INVALID_INPUT", 400,
        "invalid key_id provided. note that key_ids are specific to Plaid environments, and "
        "verification requests must be made to the same environment that the webhook was sent "
        "from", None),
    "SANDBOX_PRODUCT_NOT_ENABLED": (
        "SANDBOX_ERROR", 400, "the requested product is not enabled for this Item", None),
    "SANDBOX_WEBHOOK_INVALID": (
        "SANDBOX_ERROR", 400,
        "the webhook for this Item is either not set up or not valid; update the Item's "
        "webhook and try again", None),
    "MISSING_FIELDS": ("INVALID_REQUEST", 400, "the following required fields are missing", None),
    "INVALID_FIELD": ("INVALID_REQUEST", 400, "a field has an invalid value", None),
    "INVALID_BODY": ("INVALID_REQUEST", 400, "body could not be parsed as JSON", None),
    "INVALID_HEADERS": (
        "INVALID_REQUEST", 400, "the PLAID-CLIENT-ID and PLAID-SECRET headers must both be set",
        None),
    "NOT_FOUND": ("INVALID_REQUEST", 404, "not found", None),
    "ITEM_LOGIN_REQUIRED": (
        "ITEM_ERROR", 400,
        "the login details of this item have changed (credentials, MFA, or required user action) "
        "and a user login is required to update this information. use Link's update mode to "
        "restore the item to a good state",
        "the login details of this item have changed (credentials, MFA, or required user action) "
        "and a user login is required to update this information."),
    "ITEM_NOT_FOUND": ("ITEM_ERROR", 400, "The Item you requested cannot be found.", None),
    "PRODUCT_NOT_READY": (
        "ITEM_ERROR", 400,
        "the requested product is not yet ready. please provide a webhook or try the request "
        "again later", None),
    "TRANSACTIONS_SYNC_MUTATION_DURING_PAGINATION": (
        "TRANSACTIONS_ERROR", 400,
        "Underlying transaction data changed since last page was fetched. Please restart "
        "pagination from last update.", None),
    "INTERNAL_SERVER_ERROR": ("API_ERROR", 500, "an unexpected error occurred", None),
    "PLANNED_MAINTENANCE": (
        "API_ERROR", 503,
        "the Plaid API is temporarily unavailable due to planned maintenance. visit "
        "https://status.plaid.com/ for more information", None),
}
_RATE_LIMIT_MESSAGE = (
    "rate limit exceeded for attempts to access this item. please try again later")
_DOC_PAGES = {
    "INVALID_INPUT": "invalid-input", "INVALID_REQUEST": "invalid-request", "ITEM_ERROR": "item",
    "API_ERROR": "api", "RATE_LIMIT_EXCEEDED": "rate-limit-exceeded",
    "TRANSACTIONS_ERROR": "transactions", "SANDBOX_ERROR": "sandbox",
}


class PlaidApiError(Exception):
    """An error response: HTTP status plus Plaid's error fields (never carries a token)."""

    def __init__(self, error_code: str, message: str | None = None, *,
                 error_type: str | None = None, status: int | None = None) -> None:
        known = _ERRORS.get(error_code)
        if known is None and (error_type is None or status is None):
            raise ValueError(f"unknown Plaid error code {error_code}")
        default_type, default_status, default_message, display = known or ("", 0, "", None)
        self.error_code = error_code
        self.error_type = error_type or default_type
        self.status = status or default_status
        self.error_message = message or default_message
        self.display_message = display
        super().__init__(f"{self.error_type}/{error_code}: {self.error_message}")

    def body(self, request_id: str) -> dict[str, Any]:
        page = _DOC_PAGES.get(self.error_type, "")
        return {
            "error_type": self.error_type,
            "error_code": self.error_code,
            "error_code_reason": None,
            "error_message": self.error_message,
            "display_message": self.display_message,
            "request_id": request_id,
            "causes": [],
            "status": None,
            "documentation_url": f"https://plaid.com/docs/errors/{page}/#{self.error_code.lower()}",
            "suggested_action": None,
        }


def rate_limit_error(endpoint: str) -> PlaidApiError:
    code = {
        "/transactions/sync": "TRANSACTIONS_SYNC_LIMIT",
        "/transactions/get": "TRANSACTIONS_LIMIT",
        "/transactions/refresh": "TRANSACTIONS_REFRESH_LIMIT",
        "/accounts/get": "ACCOUNTS_LIMIT",
        "/item/get": "ITEM_GET_LIMIT",
    }.get(endpoint, "RATE_LIMIT")
    return PlaidApiError(code, _RATE_LIMIT_MESSAGE, error_type="RATE_LIMIT_EXCEEDED", status=429)


# --- identifiers -------------------------------------------------------------------------------

def new_id() -> str:
    """A Plaid-shaped identifier: 37 case-sensitive alphanumerics."""
    return base64.b64encode(os.urandom(28)).translate(_TO_ALPHANUMERIC)[:37].decode("ascii")


def new_request_id() -> str:
    return base64.b64encode(os.urandom(12)).translate(_TO_ALPHANUMERIC)[:15].decode("ascii")


def new_token(kind: str) -> str:
    """``access-sandbox-<uuid4>``, ``public-sandbox-<uuid4>``, ``link-sandbox-<uuid4>``."""
    return f"{kind}-sandbox-{uuid.uuid4()}"


def iso_datetime(moment: datetime) -> str:
    """A full ISO-8601 timestamp in UTC with a ``Z`` suffix."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# --- exact JSON ---------------------------------------------------------------------------------

# Decimals travel through json.dumps as a marker string that cannot occur in real text (it starts
# with a NUL, which the encoder escapes as \u0000), then the quotes and marker are stripped.
_DECIMAL_MARK = "\x00dec:"
_DECIMAL_TEXT = re.compile(r'"\\u0000dec:(-?[0-9]+(?:\.[0-9]+)?)"')


def _encode_default(value: object) -> object:
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError("non-finite amount cannot be written as JSON")
        return f"{_DECIMAL_MARK}{value:f}"
    if isinstance(value, datetime):
        return iso_datetime(value)
    if isinstance(value, date):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def dumps(payload: Mapping[str, Any]) -> bytes:
    """JSON bytes with every Decimal written as its exact decimal text (a JSON number)."""
    text = json.dumps(payload, default=_encode_default, ensure_ascii=False, allow_nan=False)
    return _DECIMAL_TEXT.sub(r"\1", text).encode("utf-8")


def to_decimal(value: object, field: str) -> Decimal:
    """A JSON number (parsed with ``parse_float=Decimal``, or an int) as a Decimal; no floats."""
    if isinstance(value, bool) or not isinstance(value, (int, Decimal, str, float)):
        raise ValueError(f"{field} must be a number")
    if isinstance(value, float):
        # A caller passed a float in a fixture mapping: take its shortest repr, never its
        # binary expansion.
        value = repr(value)
    number = Decimal(value)
    if not number.is_finite():
        raise ValueError(f"{field} must be finite")
    return number


# --- object fillers -----------------------------------------------------------------------------

_PAYMENT_META_KEYS = ("reference_number", "ppd_id", "payee", "by_order_of", "payer",
                      "payment_method", "payment_processor", "reason")
_LOCATION_KEYS = ("address", "city", "region", "postal_code", "country", "lat", "lon",
                  "store_number")
_PFC_ICON = "https://plaid-category-icons.plaid.com/PFC_{}.png"


def fill_transaction(partial: Mapping[str, Any], *, transaction_id: str, account_id: str,
                     currency: str | None, today: date) -> dict[str, Any]:
    """A complete Transaction object from a partial one (missing fields get Plaid's defaults)."""
    txn: dict[str, Any] = dict(partial)
    txn["transaction_id"] = transaction_id
    txn["account_id"] = txn.get("account_id") or account_id
    if "amount" not in txn:
        raise ValueError("a transaction needs an amount")
    txn["amount"] = to_decimal(txn["amount"], "amount")
    for key in ("date", "authorized_date"):
        if isinstance(txn.get(key), date):
            txn[key] = txn[key].isoformat()
    txn["date"] = str(txn.get("date") or today.isoformat())
    date.fromisoformat(txn["date"])
    if txn.get("authorized_date") is not None:
        date.fromisoformat(str(txn["authorized_date"]))
    if txn.get("unofficial_currency_code"):
        txn["iso_currency_code"] = None
    else:
        txn["unofficial_currency_code"] = None
        txn["iso_currency_code"] = txn.get("iso_currency_code") or currency or "USD"
    txn["name"] = str(txn.get("name") or txn.get("merchant_name") or "Transaction")
    txn["pending"] = bool(txn.get("pending", False))
    channel = txn.get("payment_channel") or "other"
    txn["payment_channel"] = channel
    txn["payment_meta"] = {key: (txn.get("payment_meta") or {}).get(key)
                           for key in _PAYMENT_META_KEYS} | dict(txn.get("payment_meta") or {})
    location = {key: (txn.get("location") or {}).get(key) for key in _LOCATION_KEYS}
    for key in ("lat", "lon"):
        if location[key] is not None:
            location[key] = to_decimal(location[key], f"location.{key}")
    txn["location"] = dict(txn.get("location") or {}) | location
    merchant = txn.get("merchant_name")
    if "counterparties" not in txn:
        txn["counterparties"] = [] if not merchant else [{
            "name": merchant, "type": "merchant", "website": None, "logo_url": None,
            "entity_id": None, "confidence_level": "LOW",
        }]
    if "personal_finance_category" not in txn:
        primary, detailed = (("TRANSFER_IN", "TRANSFER_IN_DEPOSIT") if txn["amount"] < 0
                             else ("GENERAL_MERCHANDISE",
                                   "GENERAL_MERCHANDISE_OTHER_GENERAL_MERCHANDISE"))
        txn["personal_finance_category"] = {
            "primary": primary, "detailed": detailed, "confidence_level": "LOW", "version": "v1"}
    pfc = txn["personal_finance_category"]
    txn.setdefault("personal_finance_category_icon_url",
                   _PFC_ICON.format(pfc["primary"] if pfc else "OTHER"))
    txn.setdefault("transaction_type", {"online": "digital", "in store": "place"}.get(
        channel, "special"))
    for key in ("authorized_date", "authorized_datetime", "datetime", "pending_transaction_id",
                "account_owner", "transaction_code", "merchant_name", "merchant_entity_id",
                "check_number", "logo_url", "website", "category", "category_id",
                "business_finance_category", "original_description"):
        txn.setdefault(key, None)
    return txn


def fill_account(partial: Mapping[str, Any]) -> dict[str, Any]:
    """A complete AccountBase; balances left out of the fixture stay ``None`` here and are
    computed from transactions when a response is built (see ``Emulator``)."""
    account: dict[str, Any] = dict(partial)
    account["account_id"] = account.get("account_id") or new_id()
    balances = dict(account.get("balances") or {})
    for key in ("available", "current", "limit"):
        if balances.get(key) is not None:
            balances[key] = to_decimal(balances[key], f"balances.{key}")
        else:
            balances[key] = None
    if balances.get("unofficial_currency_code"):
        balances["iso_currency_code"] = None
    else:
        balances["unofficial_currency_code"] = None
        balances["iso_currency_code"] = balances.get("iso_currency_code") or "USD"
    account["balances"] = balances
    account.setdefault("mask", account["account_id"][-4:])
    account["name"] = str(account.get("name") or "Plaid Checking")
    account.setdefault("official_name", None)
    account["type"] = account.get("type") or "depository"
    account.setdefault("subtype", "checking" if account["type"] == "depository" else None)
    return account


def item_body(*, item_id: str, institution_id: str | None, institution_name: str | None,
              error: Mapping[str, Any] | None, created_at: datetime | None,
              webhook: str | None = None) -> dict[str, Any]:
    """An Item (plus ``created_at`` for ItemWithConsentFields when given)."""
    item: dict[str, Any] = {
        "item_id": item_id,
        "institution_id": institution_id,
        "institution_name": institution_name,
        "webhook": webhook,
        "auth_method": None,
        "error": dict(error) if error is not None else None,
        "available_products": ["balance"],
        "billed_products": ["transactions"],
        "products": ["transactions"],
        "consented_products": ["transactions"],
        "consent_expiration_time": None,
        "update_type": "background",
    }
    if created_at is not None:
        item["created_at"] = iso_datetime(created_at)
    return item
