"""The bulk paths of the sync: raw_json's one-pass encoding and the driver-level upsert."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, select

from recon.logs import mask_card_numbers
from recon.plaid.normalise import raw_json
from recon.store import bank as bank_store
from recon.store.schema import bank_transactions

NOW = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)
LATER = datetime(2024, 6, 2, 8, 30, tzinfo=UTC)


def reference_raw_json(txn: Any) -> str:
    """The original definition: mask every text value except *_id ones, then encode."""

    def masked(value: Any, key: str = "") -> Any:
        if isinstance(value, dict):
            return {k: masked(v, k) for k, v in value.items()}
        if isinstance(value, list):
            return [masked(v, key) for v in value]
        if isinstance(value, str) and not key.endswith("_id"):
            return mask_card_numbers(value)
        return value

    def default(value: Any) -> Any:
        if isinstance(value, Decimal):
            return str(value)
        raise TypeError(type(value).__name__)

    return json.dumps(masked(txn), default=default, sort_keys=True, ensure_ascii=False)


# Texts built from the characters that decide whether a run is card-number-like, plus the ones
# JSON escapes (a control character becomes \u00XX, i.e. gains digits, in the encoded text).
card_ish_text = st.text(alphabet="0123456789 -x\x01\n\"é", max_size=40)


@settings(max_examples=300, deadline=None)
@given(name=card_ish_text, address=card_ish_text, party=card_ish_text, account_id=card_ish_text)
# "\x01" is encoded as "\u0001": a 16-digit card number after it is a 20-digit run in the JSON text.
@example(name="\x014111111111111111", address="", party="", account_id="")
@example(name="\ud800 4111 1111 1111 1111", address="é", party="", account_id="")  # lone surrogate
def test_raw_json_is_the_masked_encoding_for_any_text(
    name: str, address: str, party: str, account_id: str
) -> None:
    txn = {"transaction_id": "t1", "account_id": account_id, "amount": Decimal("-12.30"),
           "name": name, "location": {"address": address, "lat": None},
           "counterparties": [{"name": party, "entity_id": account_id}],
           "category": [name, address], "pending": False}
    assert raw_json(txn) == reference_raw_json(txn)


def test_card_numbers_deep_in_the_object_are_masked_and_ids_kept() -> None:
    txn = {"transaction_id": "t-4111111111111111", "account_id": "acc",
           "amount": Decimal("1.00"), "name": "plain",
           "location": {"address": "card 4111-1111-1111-1111 at till"},
           "counterparties": [{"name": "5500 0000 0000 0004", "entity_id": "9999999999999"}]}
    stored = raw_json(txn)
    assert "4111-1111-1111-1111" not in stored and "5500 0000 0000 0004" not in stored
    assert "************1111" in stored and "************0004" in stored
    assert '"t-4111111111111111"' in stored and '"9999999999999"' in stored
    assert '"amount": "1.00"' in stored


def test_text_without_card_numbers_is_stored_unchanged() -> None:
    txn = {"transaction_id": "t1", "name": "Invoice 2024-05-01 ref 123456789012",
           "amount": Decimal("-0.10"), "date": "2024-05-01"}
    assert json.loads(raw_json(txn)) == {**txn, "amount": "-0.10"}


def bank_row(transaction_id: str, **changes: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "transaction_id": transaction_id, "item_id": "item-a", "account_id": "acc-a",
        "amount_minor": -1234, "currency": "USD", "date": date(2024, 5, 2),
        "authorized_date": None, "name": "Payment", "merchant_name": None, "reference": None,
        "pending": False, "pending_transaction_id": None, "raw_json": "{}",
    }
    return row | changes


def stored_rows(engine: Engine) -> dict[str, dict[str, Any]]:
    with engine.connect() as conn:
        return {row.transaction_id: dict(row._mapping)
                for row in conn.execute(select(bank_transactions))}


def test_upsert_round_trips_every_column_and_updates_keep_first_seen(
    store: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(bank_store, "_DRIVER_BATCH", 2)  # several executemany calls
    with store.begin() as conn:
        bank_store.upsert_item(conn, item_id="item-a", institution_id=None,
                               institution_name=None, now=NOW)
        count = bank_store.upsert_bank_transactions(conn, [
            bank_row("t1"),
            bank_row("t2", authorized_date=date(2024, 5, 1), merchant_name="ACME",
                     reference="INV-1", pending=True),
            bank_row("t3", removed_at=NOW, pending_transaction_id="t2", name="Zürich café"),
        ], now=NOW)
    assert count == 3
    first = stored_rows(store)
    assert first["t2"]["authorized_date"] == date(2024, 5, 1) and first["t2"]["pending"] is True
    assert first["t1"]["date"] == date(2024, 5, 2) and first["t1"]["pending"] is False
    assert first["t1"]["removed_at"] is None and first["t1"]["authorized_date"] is None
    assert bank_store.as_utc(first["t3"]["removed_at"]) == NOW
    assert first["t3"]["name"] == "Zürich café" and first["t3"]["pending_transaction_id"] == "t2"
    assert bank_store.as_utc(first["t1"]["first_seen_at"]) == NOW

    with store.begin() as conn:
        bank_store.upsert_bank_transactions(
            conn, [bank_row("t1", amount_minor=999, date=date(2024, 5, 3)), bank_row("t4")],
            now=LATER)
    second = stored_rows(store)
    assert set(second) == {"t1", "t2", "t3", "t4"}
    assert second["t1"]["amount_minor"] == 999 and second["t1"]["date"] == date(2024, 5, 3)
    assert bank_store.as_utc(second["t1"]["first_seen_at"]) == NOW
    assert bank_store.as_utc(second["t1"]["updated_at"]) == LATER
    assert bank_store.as_utc(second["t4"]["first_seen_at"]) == LATER
    assert second["t2"] == first["t2"]


def test_upsert_of_no_rows_writes_nothing(store: Engine) -> None:
    with store.begin() as conn:
        assert bank_store.upsert_bank_transactions(conn, [], now=NOW) == 0
    assert stored_rows(store) == {}
