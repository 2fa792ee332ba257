"""Bank transactions from a file, for `recon match` (no Plaid, no state store).

Accepted: Plaid transaction JSON — a list of Transaction objects, an object with a
``transactions`` list (``/transactions/get``), or a ``/transactions/sync`` response (``added``
and ``modified``; ``removed`` ids are dropped) — or a CSV whose header uses Plaid's field names:
``transaction_id, account_id, date, amount, iso_currency_code, name`` and optionally
``authorized_date, merchant_name, reference_number, pending, pending_transaction_id``. Amounts
keep Plaid's sign (positive = money out of the account), exactly as the API sends them.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any

import pandas as pd

from recon.config import Config
from recon.errors import InputError, RowProblem
from recon.money import MoneyError, parse_plain_decimal
from recon.plaid.normalise import RejectedTransaction, transaction_to_row
from recon.store.bank import bank_frame_from_rows

CSV_REQUIRED = ("transaction_id", "account_id", "date", "amount", "iso_currency_code", "name")


def read_bank_file(path: Path, config: Config) -> pd.DataFrame:
    """The file's transactions as a bank frame (frames.BANK_COLUMNS); every bad row is listed."""
    if path.suffix.lower() == ".csv":
        transactions, problems = _read_csv(path)
    else:
        transactions, problems = _read_json(path)
    rows: list[dict[str, Any]] = []
    for index, txn in transactions:
        try:
            rows.append(transaction_to_row(txn, item_id="file"))
        except RejectedTransaction as exc:
            problems.append(RowProblem(str(path), index, None, exc.reason))
    mapped = {m.plaid_account_id for m in config.accounts}
    for index, row in zip((i for i, _ in transactions), rows, strict=False):
        if row["account_id"] not in mapped:
            problems.append(
                RowProblem(
                    str(path),
                    index,
                    "account_id",
                    f"account {row['account_id']!r} is not in config accounts",
                )
            )
    if problems:
        raise InputError(problems, source=str(path))
    return bank_frame_from_rows(rows, config)


def _read_json(path: Path) -> tuple[list[tuple[int, Mapping[str, Any]]], list[RowProblem]]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"), parse_float=Decimal)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(
            f"not a readable JSON file ({type(exc).__name__})", source=str(path)
        ) from None
    items: Iterable[Any]
    removed: set[str] = set()
    if isinstance(data, list):
        items = data
    elif isinstance(data, dict) and isinstance(data.get("transactions"), list):
        items = data["transactions"]
    elif isinstance(data, dict) and isinstance(data.get("added"), list):
        items = [*data["added"], *(data.get("modified") or [])]
        removed = {
            str(r.get("transaction_id")) for r in data.get("removed") or [] if isinstance(r, dict)
        }
    else:
        raise InputError(
            "expected a list of transactions, {transactions: [...]} or a "
            "/transactions/sync response",
            source=str(path),
        )
    good: list[tuple[int, Mapping[str, Any]]] = []
    problems: list[RowProblem] = []
    latest: dict[str, tuple[int, Mapping[str, Any]]] = {}
    for index, txn in enumerate(items, start=1):
        if not isinstance(txn, dict):
            problems.append(RowProblem(str(path), index, None, "not a transaction object"))
        elif txn.get("transaction_id") not in removed:
            latest[str(txn.get("transaction_id"))] = (index, txn)  # modified wins over added
    good.extend(latest.values())
    return good, problems


def _read_csv(path: Path) -> tuple[list[tuple[int, Mapping[str, Any]]], list[RowProblem]]:
    problems: list[RowProblem] = []
    good: list[tuple[int, Mapping[str, Any]]] = []
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            missing = [c for c in CSV_REQUIRED if c not in (reader.fieldnames or [])]
            if missing:
                raise InputError(
                    [RowProblem(str(path), 1, c, "required column is missing") for c in missing],
                    source=str(path),
                )
            for line, record in enumerate(reader, start=2):
                try:
                    amount = parse_plain_decimal(record["amount"])
                except MoneyError as exc:
                    problems.append(RowProblem(str(path), line, "amount", str(exc)))
                    continue
                reference = record.get("reference_number") or None
                good.append(
                    (
                        line,
                        {
                            "transaction_id": record["transaction_id"],
                            "account_id": record["account_id"],
                            "date": record["date"],
                            "authorized_date": record.get("authorized_date") or None,
                            "amount": amount,
                            "iso_currency_code": record["iso_currency_code"],
                            "unofficial_currency_code": None,
                            "name": record["name"],
                            "merchant_name": record.get("merchant_name") or None,
                            "payment_meta": {"reference_number": reference},
                            "pending": (record.get("pending") or "").strip().lower()
                            in ("true", "1"),
                            "pending_transaction_id": record.get("pending_transaction_id") or None,
                        },
                    )
                )
    except (UnicodeDecodeError, csv.Error) as exc:
        raise InputError(
            f"not a readable UTF-8 CSV file ({type(exc).__name__})", source=str(path)
        ) from None
    return good, problems
