"""Bank transactions from a file, for `recon match` (no Plaid, no state store).

Accepted: Plaid transaction JSON — a list of Transaction objects, an object with a
``transactions`` list (``/transactions/get``), or a ``/transactions/sync`` response (``added``
and ``modified``; ``removed`` ids are dropped) — or a CSV whose header uses Plaid's field names:
``transaction_id, account_id, date, amount, iso_currency_code, name`` and optionally
``authorized_date, merchant_name, reference_number, check_number, pending,
pending_transaction_id``. Amounts keep Plaid's sign (positive = money out of the account), exactly
as the API sends them. The frame has the optional column ``check_number`` besides BANK_COLUMNS.

JSON is decoded by msgspec straight into typed structs holding only the fields recon uses (a
Plaid transaction has some 40 more), amounts as exact Decimals from the number's text: a 1 GB
file of a million transactions needs neither a dict per transaction nor a float anywhere. Only
a file that does not fit those types is decoded again generically, to list every bad row.

Fail closed: every transaction is kept or listed as a problem, never silently merged. The same
``transaction_id`` twice is refused unless both are the same transaction (a duplicate delivery),
and a sync response's ``modified`` version replaces its ``added`` one. A transaction without an
id is a problem of its own row. A file with no transaction at all raises NothingCheckedError:
matching nothing is not "all clear".
"""

from __future__ import annotations

import csv
import gc
from collections.abc import Iterable, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import msgspec
import numpy as np
import numpy.typing as npt
import pandas as pd

from recon.config import Config
from recon.errors import InputError, NothingCheckedError, RowProblem
from recon.frames import BANK_COLUMNS, CHECK_NUMBER, PAYMENT_DETAILS
from recon.limits import YEARS, check_file_size
from recon.logs import card_characters, mask_card_numbers, may_hold_card_number
from recon.money import MoneyError, normalise_currency, parse_plain_decimal, plaid_amount_to_minor

CSV_REQUIRED = ("transaction_id", "account_id", "date", "amount", "iso_currency_code", "name")
_REFERENCE_CHARS = 200
# Optional bank frame columns this reader fills (recon.frames): where references hide.
_EXTRA_COLUMNS = (CHECK_NUMBER, PAYMENT_DETAILS)
_CHECK_CHARS = 32


class _PaymentMeta(msgspec.Struct, gc=False):
    reference_number: str | None = None
    reason: str | None = None  # the payer's remittance text (ACH addenda, SEPA remittance)
    payee: str | None = None  # who a transfer out went to
    payer: str | None = None  # who a transfer in came from
    by_order_of: str | None = None  # who ordered a wire in


class _Counterparty(msgspec.Struct, gc=False):
    name: str | None = None


class Transaction(msgspec.Struct, gc=False):
    """The fields of a Plaid Transaction that recon uses (every other field is skipped)."""

    transaction_id: str | None = None
    account_id: str | None = None
    date: str | None = None
    authorized_date: str | None = None
    amount: Decimal | None = None
    iso_currency_code: str | None = None
    unofficial_currency_code: str | None = None
    name: str | None = None
    merchant_name: str | None = None
    counterparties: list[_Counterparty] | None = None
    payment_meta: _PaymentMeta | None = None
    check_number: str | None = None
    pending: bool | None = None
    pending_transaction_id: str | None = None


class _Removed(msgspec.Struct, gc=False):
    transaction_id: str | None = None


class _Envelope(msgspec.Struct, gc=False):
    transactions: list[Transaction] | None = None
    added: list[Transaction] | None = None
    modified: list[Transaction] | None = None
    removed: list[_Removed] | None = None


_TYPED = msgspec.json.Decoder(list[Transaction] | _Envelope)
_GENERIC = msgspec.json.Decoder(float_hook=Decimal)
_SHAPE = ("expected a list of transactions, {transactions: [...]} or a /transactions/sync "
          "response")

Numbered = list[tuple[int, Transaction]]


def read_bank_file(path: Path, config: Config) -> pd.DataFrame:
    """The file's transactions as a bank frame (frames.BANK_COLUMNS, and the optional check_number
    and payment_details); every bad row is listed."""
    # A million structs and their tuples would set off full collections again and again
    # (none of them can form a cycle): the collector waits until the frame is built.
    collecting = gc.isenabled()
    gc.disable()
    try:
        return _read_bank_file(path, config)
    finally:
        if collecting:
            gc.enable()


def _read_bank_file(path: Path, config: Config) -> pd.DataFrame:
    source = str(path)
    check_file_size(path)
    if path.suffix.lower() == ".csv":
        transactions, problems = _read_csv(path)
    else:
        transactions, problems = _read_json(path)
    transactions = _unique(transactions, source, problems)
    frame = _frame(transactions, config, source, problems)
    if problems:
        raise InputError(sorted(problems, key=lambda p: p.row or 0), source=source)
    if frame.empty:
        raise NothingCheckedError(f"{source}: no bank transactions in the file; nothing was "
                                  "reconciled")
    return frame


# --------------------------------------------------------------------------- JSON


def _read_json(path: Path) -> tuple[Numbered, list[RowProblem]]:
    source = str(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read the file: {exc.strerror}", source=source) from None
    try:
        document = _TYPED.decode(data)
    except msgspec.ValidationError:
        return _read_json_generic(data, source)  # some row has a wrong type: list them all
    except (msgspec.DecodeError, RecursionError) as exc:
        raise InputError(_json_reason(exc), source=source) from None
    del data
    if isinstance(document, list):
        return list(enumerate(document, start=1)), []
    if document.transactions is not None:
        return list(enumerate(document.transactions, start=1)), []
    if document.added is None:
        raise InputError(_SHAPE, source=source)
    return _sync_response(document.added, document.modified or [],
                          [r.transaction_id for r in document.removed or []], source)


def _json_reason(exc: Exception) -> str:
    if isinstance(exc, RecursionError):
        return "not a readable JSON file (nested too deeply)"
    return f"not a readable JSON file ({str(exc)[:200]})"


def _read_json_generic(data: bytes, source: str) -> tuple[Numbered, list[RowProblem]]:
    """Every row checked on its own, so each bad one is listed with its number."""
    try:
        document = _GENERIC.decode(data)
    except (msgspec.DecodeError, RecursionError) as exc:
        raise InputError(_json_reason(exc), source=source) from None
    problems: list[RowProblem] = []

    def typed(items: Any, section: str) -> list[tuple[int, Transaction]]:
        if not isinstance(items, list):
            raise InputError(_SHAPE, source=source)
        good: list[tuple[int, Transaction]] = []
        for index, item in enumerate(items, start=1):
            try:
                good.append((index, msgspec.convert(item, Transaction)))
            except msgspec.ValidationError as exc:
                where = str(exc).replace("$", section or "the transaction")
                problems.append(RowProblem(source, index, None, where))
        return good

    if isinstance(document, list):
        return typed(document, ""), problems
    if not isinstance(document, dict):
        raise InputError(_SHAPE, source=source)
    if "transactions" in document:
        return typed(document["transactions"], ""), problems
    if "added" not in document:
        raise InputError(_SHAPE, source=source)
    removed = [r.get("transaction_id") for r in document.get("removed") or []
               if isinstance(r, dict)]
    added = [t for _i, t in typed(document["added"], "added")]
    modified = [t for _i, t in typed(document.get("modified") or [], "modified")]
    rows, more = _sync_response(added, modified, removed, source)
    return rows, problems + more


def _sync_response(added: Sequence[Transaction], modified: Sequence[Transaction],
                   removed: Iterable[str | None], source: str
                   ) -> tuple[Numbered, list[RowProblem]]:
    """added then modified, numbered in that order; a modified version replaces its added one
    (that is what a sync update means); removed ids are dropped."""
    gone = {r for r in removed if r}
    replaced = {t.transaction_id for t in modified if t.transaction_id}
    rows: Numbered = []
    for index, txn in enumerate([*added, *modified], start=1):
        if txn.transaction_id in gone:
            continue
        if index <= len(added) and txn.transaction_id in replaced:
            continue
        rows.append((index, txn))
    return rows, []


# --------------------------------------------------------------------------- CSV


def _read_csv(path: Path) -> tuple[Numbered, list[RowProblem]]:
    source = str(path)
    problems: list[RowProblem] = []
    good: Numbered = []
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.reader(handle, strict=True)
            header = [name.strip() for name in next(reader, [])]
            missing = [c for c in CSV_REQUIRED if c not in header]
            if missing:
                raise InputError(
                    [RowProblem(source, 1, c, "required column is missing") for c in missing],
                    source=source,
                )
            for line, cells in enumerate(reader, start=2):
                if not cells:
                    continue  # a blank line
                if len(cells) != len(header):
                    problems.append(RowProblem(source, line, None, f"has {len(cells)} fields, "
                                               f"the header has {len(header)}"))
                    continue
                record = dict(zip(header, cells, strict=True))
                try:
                    amount = parse_plain_decimal(record["amount"])
                except MoneyError as exc:
                    problems.append(RowProblem(source, line, "amount", str(exc)))
                    continue
                good.append((line, Transaction(
                    transaction_id=record["transaction_id"] or None,
                    account_id=record["account_id"] or None,
                    date=record["date"] or None,
                    authorized_date=record.get("authorized_date") or None,
                    amount=amount,
                    iso_currency_code=record["iso_currency_code"] or None,
                    name=record["name"],
                    merchant_name=record.get("merchant_name") or None,
                    payment_meta=_PaymentMeta(record.get("reference_number") or None,
                                              record.get("reason") or None),
                    check_number=record.get("check_number") or None,
                    pending=(record.get("pending") or "").strip().lower() in ("true", "1"),
                    pending_transaction_id=record.get("pending_transaction_id") or None,
                )))
    except (UnicodeDecodeError, csv.Error) as exc:
        raise InputError(
            f"not a readable UTF-8 CSV file ({type(exc).__name__})", source=source
        ) from None
    return good, problems


# --------------------------------------------------------------------------- checks and frame


def _unique(rows: Numbered, source: str, problems: list[RowProblem]) -> Numbered:
    """One row per transaction_id: an exact repeat (a duplicate delivery) is dropped, the same
    id with other content is refused on every row that carries it."""
    first: dict[str, tuple[int, Transaction]] = {}
    kept: Numbered = []
    for index, txn in rows:
        key = txn.transaction_id
        if key is None:
            kept.append((index, txn))  # reported by _frame: every row without an id, alone
            continue
        seen = first.get(key)
        if seen is None:
            first[key] = (index, txn)
            kept.append((index, txn))
        elif seen[1] != txn:
            problems.append(RowProblem(source, index, "transaction_id",
                                       f"duplicate transaction_id {key!r} (row {seen[0]}) with "
                                       "different content"))
    return kept


def _frame(rows: Numbered, config: Config, source: str,
           problems: list[RowProblem]) -> pd.DataFrame:
    ledger_account = {m.plaid_account_id: m.ledger_account for m in config.accounts}
    columns: dict[str, list[Any]] = {name: [] for name in (*BANK_COLUMNS, *_EXTRA_COLUMNS)}
    numbers: list[int] = []
    currencies: dict[str, str] = {}  # as sent -> checked ISO code (a handful of codes)
    for index, txn in rows:
        reason, field = _problem(txn, ledger_account)
        if reason is None:
            try:
                code = txn.iso_currency_code or ""
                currency = currencies.get(code) or currencies.setdefault(
                    code, normalise_currency(code))
                minor = plaid_amount_to_minor(txn.amount or Decimal(0), currency)
            except MoneyError as exc:
                reason, field = str(exc), "amount"
        if reason is not None:
            shown = txn.transaction_id or "(no id)"
            problems.append(RowProblem(source, index, field, f"transaction {shown}: {reason}"))
            continue
        numbers.append(index)
        columns["transaction_id"].append(txn.transaction_id)
        columns["account"].append(ledger_account[txn.account_id or ""])
        columns["plaid_account_id"].append(txn.account_id)
        columns["currency"].append(currency)
        columns["amount_minor"].append(minor)
        columns["date"].append(txn.date)
        columns["authorized_date"].append(txn.authorized_date)
        columns["description"].append(txn.name or "")
        columns["counterparty"].append(_counterparty(txn))
        reference = (txn.payment_meta.reference_number if txn.payment_meta else None) or ""
        columns["reference"].append(reference[:_REFERENCE_CHARS])
        reason = (txn.payment_meta.reason if txn.payment_meta else None) or ""
        columns[PAYMENT_DETAILS].append(reason[:_REFERENCE_CHARS])
        columns[CHECK_NUMBER].append((txn.check_number or "")[:_CHECK_CHARS])
        columns["pending"].append(bool(txn.pending))
        columns["pending_transaction_id"].append(txn.pending_transaction_id or "")
    for name in ("description", "counterparty", "reference", PAYMENT_DETAILS):
        _mask_cards(columns[name])
    frame = pd.DataFrame({
        name: (pd.Series(values, dtype="int64") if name == "amount_minor"
               else pd.Series(values, dtype="bool") if name == "pending"
               else pd.Series(values, dtype="object"))
        for name, values in columns.items()
    }, columns=[*BANK_COLUMNS, *_EXTRA_COLUMNS])
    bad = np.zeros(len(frame), dtype=bool)
    for name in ("date", "authorized_date"):
        frame[name], wrong = _dates(frame[name], required=name == "date")
        for position in np.flatnonzero(wrong & ~bad):
            shown = str(frame.at[position, "transaction_id"])
            problems.append(RowProblem(source, numbers[position], name,
                                       f"transaction {shown}: {name} is not YYYY-MM-DD in the "
                                       f"years {YEARS[0]}-{YEARS[1]}"))
        bad |= wrong
    return frame[~bad].reset_index(drop=True) if bad.any() else frame


def _dates(texts: pd.Series, *, required: bool) -> tuple[pd.Series, npt.NDArray[np.bool_]]:
    """YYYY-MM-DD texts to datetime64 (vectorised); which rows are wrong (absent is wrong only
    where ``required``)."""
    absent = texts.isna().to_numpy()
    parsed = pd.to_datetime(texts, format="%Y-%m-%d", errors="coerce")
    valid = parsed.notna().to_numpy() & (texts.str.len().to_numpy(na_value=0) == 10)
    years = parsed.dt.year.to_numpy(na_value=0)
    valid &= (years >= YEARS[0]) & (years <= YEARS[1])
    wrong = ~valid & (~absent | required)
    return parsed.where(pd.Series(valid, index=parsed.index)).astype("datetime64[ns]"), wrong


def _mask_cards(texts: list[str]) -> None:
    """Mask card numbers in place. One pass over all the texts at C speed finds the few that
    may hold one (13 characters in a row from "0123456789 -"); only those meet the regex."""
    joined = "\n".join(texts)
    if not may_hold_card_number(joined):
        return
    if joined.count("\n") != len(texts) - 1:  # a text holds a line break: text by text
        texts[:] = [mask_card_numbers(t) if may_hold_card_number(t) else t for t in texts]
        return
    flags = np.frombuffer(card_characters(joined), dtype=np.uint8)
    breaks = np.flatnonzero(flags == ord("\n"))  # the "\n" between texts is left as it is
    zeros = np.flatnonzero(flags == ord("0"))
    # A run of 13 zeros starts where the zero 12 places later is exactly 12 bytes further on.
    starts = zeros[:-12][zeros[12:] - zeros[:-12] == 12]
    for index in np.unique(np.searchsorted(breaks, starts)):
        texts[index] = mask_card_numbers(texts[index])


def _problem(txn: Transaction, ledger_account: dict[str, str]) -> tuple[str | None, str | None]:
    """Why a transaction cannot be reconciled (and the field to blame), or (None, None). Dates
    are checked column-wise afterwards (:func:`_dates`)."""
    if not txn.transaction_id:
        return "transaction_id is missing", "transaction_id"
    if txn.unofficial_currency_code:
        return (f"unofficial currency {txn.unofficial_currency_code[:12]!r} is not supported",
                "unofficial_currency_code")
    if not txn.iso_currency_code:
        return "no iso_currency_code", "iso_currency_code"
    if txn.amount is None:
        return "amount is missing", "amount"
    if not txn.account_id:
        return "account_id is missing", "account_id"
    if txn.account_id not in ledger_account:
        return f"account {txn.account_id!r} is not in config accounts", "account_id"
    return None, None


def _counterparty(txn: Transaction) -> str:
    """merchant_name, else the first counterparty's name, else the transfer's other party in
    payment_meta: the payee of money out (a payroll debit's employee), the payer or ordering
    party of money in (Plaid's amount is positive for money out)."""
    if txn.merchant_name:
        return txn.merchant_name
    for party in txn.counterparties or ():
        if party.name:
            return party.name
    meta = txn.payment_meta
    if meta is None:
        return ""
    if txn.amount is not None and txn.amount > 0:
        return meta.payee or ""
    return meta.payer or meta.by_order_of or ""
