"""Writers for the synthetic data: the emulator's Plaid fixture document and the ledger CSV."""

from __future__ import annotations

import csv
import os
import tempfile
import zlib
from collections.abc import Mapping, Sequence
from datetime import date
from pathlib import Path
from typing import Any, Final

import numpy as np
import pandas as pd

from recon.money import format_minor, from_minor, minor_to_plaid_amount
from recon.synth.scenarios import PlaidItem, SynthAccount, SynthData, scale

# Header of the generated ledger CSV: the column names config.yaml's ledger.columns maps.
LEDGER_CSV_COLUMNS: Final = (
    "entry_id", "date", "amount", "currency", "description", "reference", "counterparty",
    "account",
)  # fmt: skip


def _iso_or_none(value: Any) -> str | None:
    return None if pd.isna(value) else pd.Timestamp(value).date().isoformat()


def to_plaid_fixtures(
    data: SynthData,
    accounts: Sequence[SynthAccount],
    *,
    items: Sequence[PlaidItem],
    opening_minor: Mapping[str, int] | None = None,
) -> dict[str, Any]:
    """The emulator's fixture document for ``data.bank``: items, AccountBase and Transaction.

    Amounts are Decimal in Plaid's sign (positive = money out); balances are consistent with the
    transactions (current = an opening balance plus every posted amount, available = current
    plus the pending amounts). The opening balance per ledger account comes from
    ``opening_minor``, else one high enough that the account never goes overdrawn. Write it
    with the emulator's exact-decimal JSON writer.
    """
    openings = opening_minor or {}
    by_id = {a.plaid_account_id: a for a in accounts}
    bank = data.bank
    out_items: list[dict[str, Any]] = []
    for item_id, institution_id, institution_name, account_ids in items:
        unknown = [a for a in account_ids if a not in by_id]
        if unknown:
            raise ValueError(f"item {institution_name}: unknown plaid_account_id(s) {unknown}")
        rows = bank[bank["plaid_account_id"].isin(list(account_ids))]
        out_items.append(
            {
                "item_id": item_id,
                "institution_id": institution_id,
                "institution_name": institution_name,
                "accounts": [
                    _account_base(by_id[a], rows[rows["plaid_account_id"] == a],
                                  openings.get(by_id[a].ledger_account))
                    for a in account_ids
                ],
                "transactions": [_plaid_transaction(row) for row in rows.itertuples(index=False)],
            }
        )
    return {"items": out_items}


def _account_base(
    account: SynthAccount, rows: pd.DataFrame, opening: int | None = None
) -> dict[str, Any]:
    posted = rows[~rows["pending"]].sort_values("date", kind="stable")
    if opening is None:
        running = posted["amount_minor"].cumsum()
        lowest = int(running.min()) if len(running) else 0
        floor = int(scale(np.array([2_500_000], dtype=np.int64), account.currency)[0])
        # An opening balance high enough that the account never went overdrawn in the window.
        opening = floor + max(0, -lowest)
    current = opening + int(posted["amount_minor"].sum())
    pending = int(rows.loc[rows["pending"], "amount_minor"].sum())
    return {
        "account_id": account.plaid_account_id,
        "balances": {
            "available": from_minor(current + pending, account.currency),
            "current": from_minor(current, account.currency),
            "limit": None,
            "iso_currency_code": account.currency,
            "unofficial_currency_code": None,
        },
        "mask": f"{zlib.crc32(account.plaid_account_id.encode()) % 10_000:04d}",
        "name": account.name,
        "official_name": account.name,
        "type": "depository",
        "subtype": "checking",
    }


def _plaid_transaction(row: Any) -> dict[str, Any]:
    card = not pd.isna(row.authorized_date)
    return {
        "transaction_id": row.transaction_id,
        "account_id": row.plaid_account_id,
        "amount": minor_to_plaid_amount(int(row.amount_minor), row.currency),
        "iso_currency_code": row.currency,
        "unofficial_currency_code": None,
        "date": _iso_or_none(row.date),
        "authorized_date": _iso_or_none(row.authorized_date),
        "name": row.description,
        "merchant_name": row.counterparty or None,
        "payment_meta": {"reference_number": row.reference or None},
        "pending": bool(row.pending),
        "pending_transaction_id": row.pending_transaction_id or None,
        "payment_channel": "in store" if card else "other",
    }


def write_ledger_csv(ledger: pd.DataFrame, path: Path) -> None:
    """The ledger as the CSV config.yaml's ``ledger:`` section reads, written atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    dates = ledger["date"].dt.strftime("%Y-%m-%d").tolist()
    amounts = [
        format_minor(int(m), c)
        for m, c in zip(ledger["amount_minor"].tolist(), ledger["currency"].tolist(), strict=True)
    ]
    handle = tempfile.NamedTemporaryFile(  # noqa: SIM115 - closed below, renamed on success
        "w",
        encoding="utf-8",
        newline="",
        dir=path.parent,
        prefix=f".{path.name}.",
        suffix=".tmp",
        delete=False,
    )
    try:
        with handle:
            writer = csv.writer(handle)
            writer.writerow(LEDGER_CSV_COLUMNS)
            writer.writerows(
                zip(
                    ledger["entry_id"].tolist(),
                    dates,
                    amounts,
                    ledger["currency"].tolist(),
                    ledger["description"].tolist(),
                    ledger["reference"].tolist(),
                    ledger["counterparty"].tolist(),
                    ledger["account"].tolist(),
                    strict=True,
                )
            )
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(handle.name, path)
    except BaseException:
        Path(handle.name).unlink(missing_ok=True)
        raise


def write_trial_balance(
    ledger: pd.DataFrame, opening_minor: Mapping[str, int], as_of: date, path: Path
) -> None:
    """The general ledger's balance per account at ``as_of`` (``account,date,balance``): the
    opening balance plus every ledger row up to that day, as a trial balance export has it."""
    currency = ledger.groupby("account")["currency"].first().to_dict()
    upto = ledger[ledger["date"] <= pd.Timestamp(as_of)]
    sums = upto.groupby("account")["amount_minor"].sum().to_dict()
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(path.name + ".tmp")
    with temp.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(("account", "date", "balance"))
        for account, opening in sorted(opening_minor.items()):
            balance = opening + int(sums.get(account, 0))
            writer.writerow((account, as_of.isoformat(),
                             format_minor(balance, currency.get(account, "USD"))))
    temp.replace(path)
