"""A Plaid Transaction (parsed with Decimal amounts) -> a bank_transactions row.

The mapping (shared with the emulator and the synthetic data generator):

- ``name`` -> description (stored as ``name``);
- counterparty = ``merchant_name``, else the first ``counterparties[].name``, else the
  transfer's other party in ``payment_meta`` (``payee`` of money out, ``payer`` or
  ``by_order_of`` of money in), else "" (stored in the ``merchant_name`` column, which is what
  the bank frame's ``counterparty`` reads);
- ``payment_meta.reference_number`` -> reference; ``check_number`` as it is;
- ``amount`` -> ``amount_minor`` through :func:`recon.money.plaid_amount_to_minor` (the one sign
  flip: house sign + = money in);
- ``pending`` and ``pending_transaction_id`` as they are.

Card-number-like digit runs in the texts and in the stored raw JSON are masked (last four kept)
before anything is stored. A transaction in an unofficial currency (crypto etc.) or without a
usable currency or amount is rejected with :class:`RejectedTransaction` naming its id.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import date
from decimal import Decimal
from typing import Any

from recon.errors import ReconError
from recon.logs import mask_card_numbers
from recon.money import MoneyError, normalise_currency, plaid_amount_to_minor


class RejectedTransaction(ReconError):
    """A Plaid transaction recon cannot store; the message names its transaction_id."""

    def __init__(self, transaction_id: str, reason: str) -> None:
        self.transaction_id = transaction_id
        self.reason = reason
        super().__init__(f"Plaid transaction {transaction_id}: {reason}; row rejected")


def counterparty_of(txn: Mapping[str, Any]) -> str:
    merchant = txn.get("merchant_name")
    if isinstance(merchant, str) and merchant:
        return merchant
    for party in txn.get("counterparties") or ():
        if isinstance(party, Mapping) and isinstance(party.get("name"), str) and party["name"]:
            return str(party["name"])
    meta = txn.get("payment_meta")
    if not isinstance(meta, Mapping):
        return ""
    amount = txn.get("amount")
    money_out = isinstance(amount, (Decimal, int)) and not isinstance(amount, bool) and amount > 0
    for key in ("payee",) if money_out else ("payer", "by_order_of"):
        value = meta.get(key)
        if isinstance(value, str) and value:
            return value
    return ""


def reference_of(txn: Mapping[str, Any]) -> str:
    meta = txn.get("payment_meta")
    if isinstance(meta, Mapping) and isinstance(meta.get("reference_number"), str):
        return str(meta["reference_number"])
    return ""


def _check_number(txn: Mapping[str, Any]) -> str | None:
    number = txn.get("check_number")
    return str(number)[:32] if isinstance(number, (str, int)) and str(number) else None


def transaction_to_row(txn: Mapping[str, Any], *, item_id: str) -> dict[str, Any]:
    """The bank_transactions columns of one Plaid transaction (the store adds timestamps)."""
    transaction_id = txn.get("transaction_id")
    if not isinstance(transaction_id, str) or not transaction_id:
        raise RejectedTransaction("(no id)", "transaction_id is missing")
    unofficial = txn.get("unofficial_currency_code")
    if unofficial:
        raise RejectedTransaction(
            transaction_id, f"unofficial currency {str(unofficial)[:12]!r} is not supported"
        )
    currency_code = txn.get("iso_currency_code")
    if not isinstance(currency_code, str) or not currency_code:
        raise RejectedTransaction(transaction_id, "no iso_currency_code")
    amount = txn.get("amount")
    if isinstance(amount, bool) or not isinstance(amount, (Decimal, int)):
        raise RejectedTransaction(transaction_id, "amount is not an exact number")
    try:
        currency = normalise_currency(currency_code)
        amount_minor = plaid_amount_to_minor(amount, currency)
    except MoneyError as exc:
        raise RejectedTransaction(transaction_id, str(exc)) from None
    try:
        posted = date.fromisoformat(str(txn["date"]))
        authorized_raw = txn.get("authorized_date")
        authorized = date.fromisoformat(str(authorized_raw)) if authorized_raw else None
    except (KeyError, ValueError):
        raise RejectedTransaction(transaction_id, "date is missing or not YYYY-MM-DD") from None
    account_id = txn.get("account_id")
    if not isinstance(account_id, str) or not account_id:
        raise RejectedTransaction(transaction_id, "account_id is missing")
    name = txn.get("name")
    reference = reference_of(txn)
    return {
        "transaction_id": transaction_id,
        "item_id": item_id,
        "account_id": account_id,
        "amount_minor": amount_minor,
        "currency": currency,
        "date": posted,
        "authorized_date": authorized,
        "name": mask_card_numbers(name if isinstance(name, str) else ""),
        "merchant_name": mask_card_numbers(counterparty_of(txn)) or None,
        "reference": mask_card_numbers(reference)[:200] or None,
        "check_number": _check_number(txn),
        "pending": bool(txn.get("pending")),
        "pending_transaction_id": txn.get("pending_transaction_id") or None,
        "raw_json": raw_json(txn),
    }


# A card-number-like run is 13+ digits with single spaces or dashes between them, so it holds
# 13 consecutive characters from "0123456789 -". json.dumps(ensure_ascii=False) writes those
# characters verbatim, so a card number in any text value leaves such a stretch in the encoded
# object. Mapping the 12 characters to "0" and looking for 13 zeros finds every stretch (and some
# harmless extras) several times faster than a regular expression scan.
_CARD_CHARACTERS_TO_ZERO = bytes.maketrans(b"0123456789 -", b"0" * 12)
_THIRTEEN_CARD_CHARACTERS = b"0" * 13


def _may_hold_card_number(encoded: str) -> bool:
    # UTF-8 bytes of other characters are all >= 0x80, so they never map to "0".
    data = encoded.encode("utf-8", "surrogatepass")  # lone surrogates can come from JSON
    return _THIRTEEN_CARD_CHARACTERS in data.translate(_CARD_CHARACTERS_TO_ZERO)


def raw_json(txn: Mapping[str, Any]) -> str:
    """The transaction as received, for audit: every text value card-masked, amounts exact."""
    encoded = _RAW_ENCODER.encode(txn)
    if not _may_hold_card_number(encoded):
        return encoded  # the common case: one encoding pass, no walk over the object
    return _RAW_ENCODER.encode(_masked(txn))


def _masked(value: Any, key: str = "") -> Any:
    if isinstance(value, Mapping):
        return {k: _masked(v, str(k)) for k, v in value.items()}
    if isinstance(value, list):
        return [_masked(v, key) for v in value]
    # Identifiers are opaque: masking a digit run inside one would break the audit trail.
    if isinstance(value, str) and not key.endswith("_id"):
        return mask_card_numbers(value)
    return value


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)  # exact decimal text (a JSON string: json has no Decimal number)
    if isinstance(value, date):
        return value.isoformat()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


_RAW_ENCODER = json.JSONEncoder(default=_json_default, sort_keys=True, ensure_ascii=False)
