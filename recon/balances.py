"""The two balances a bank reconciliation statement starts from, at the as-of date.

- **Balance per bank**: Plaid's current balance (posted transactions only) with the transactions
  posted after the as-of date backed out (nightly runs); in file mode a ``--statement-balance``
  given on the command line, or the ``balance`` column of a bank CSV (the running balance after
  each row, as bank statement exports carry it).
- **Balance per books**: the general ledger's own balance, from a trial balance file
  (``statement.books_balance_file``: ``account,date,balance``) where it has a row for the as-of
  date, or for a SQL ledger from ``statement.books_balance_query``; otherwise an opening balance
  from config rolled forward with the ledger rows after its date. Only the first two are
  independent of the ledger export, so only they can show a posting that is missing from the
  export; the statement says which one it used.

Each balance comes with its source in words, which the statement prints under the figure.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Iterable, Mapping, Sequence
from datetime import date
from decimal import Decimal
from pathlib import Path

import pandas as pd
from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError

from recon.config import AccountMapping, Config
from recon.errors import ConfigError, InputError, RowProblem, UpstreamError
from recon.money import MoneyError, from_minor, parse_plain_decimal, to_minor
from recon.reporting.model import Balance
from recon.store.bank import BankBalanceAt
from recon.store.db import normalise_url

TRIAL_BALANCE_COLUMNS = ("account", "date", "balance")


def format_minor(minor: int, currency: str) -> str:
    """1,234,567.89: a balance as people read it (source texts only)."""
    return f"{from_minor(minor, currency):,f}"


def read_trial_balance(
    path: Path, accounts: Sequence[AccountMapping]
) -> dict[tuple[str, date], int]:
    """(ledger account, date) -> balance in minor units; every bad row is listed."""
    currency = {a.ledger_account: a.currency for a in accounts}
    source = str(path)
    balances: dict[tuple[str, date], int] = {}
    problems: list[RowProblem] = []
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            missing = [c for c in TRIAL_BALANCE_COLUMNS if c not in (reader.fieldnames or [])]
            if missing:
                raise InputError(
                    [RowProblem(source, 1, c, "required column is missing") for c in missing],
                    source=source,
                )
            for line, record in enumerate(reader, start=2):
                account = (record["account"] or "").strip()
                if account not in currency:
                    continue  # the trial balance lists every GL account; recon needs its own
                try:
                    day = date.fromisoformat((record["date"] or "").strip())
                except ValueError:
                    problems.append(RowProblem(source, line, "date", "not a YYYY-MM-DD date"))
                    continue
                try:
                    amount = parse_plain_decimal((record["balance"] or "").strip())
                    minor = to_minor(amount, currency[account])
                except MoneyError as exc:
                    problems.append(RowProblem(source, line, "balance", str(exc)))
                    continue
                if (account, day) in balances:
                    problems.append(RowProblem(source, line, "account",
                                               f"{account} on {day} is listed twice"))
                balances[(account, day)] = minor
    except OSError as exc:
        raise InputError(f"cannot read the trial balance: {exc.strerror}", source=source) from None
    except (UnicodeDecodeError, csv.Error) as exc:
        raise InputError(f"not a readable UTF-8 CSV file ({type(exc).__name__})",
                         source=source) from None
    if problems:
        raise InputError(problems, source=source)
    return balances


def earliest_opening(config: Config) -> date | None:
    """The day after the earliest opening balance: the ledger must be loaded from there."""
    days = [o.date for o in config.statement.opening_balances.values()]
    return min(days) if days else None


def query_books_balances(
    config: Config, as_of: date, environ: Mapping[str, str] = os.environ
) -> dict[str, int]:
    """``statement.books_balance_query`` run for each account on the SQL ledger's database."""
    query = config.statement.books_balance_query
    options = config.ledger.sql
    if query is None or options is None:
        return {}
    url = environ.get(options.url_env, "")
    if not url:
        raise ConfigError([f"ledger.sql.url_env: the environment variable {options.url_env} "
                           "is not set (statement.books_balance_query needs it)"])
    engine = create_engine(normalise_url(url), hide_parameters=True)
    result: dict[str, int] = {}
    try:
        with engine.connect() as connection:
            for mapping in config.accounts:
                value = connection.execute(text(query), {"account": mapping.ledger_account,
                                                         "as_of": as_of}).scalar()
                if value is None:
                    continue
                try:
                    amount = parse_plain_decimal(str(value))
                    result[mapping.ledger_account] = to_minor(amount, mapping.currency)
                except MoneyError as exc:
                    raise InputError(f"statement.books_balance_query for "
                                     f"{mapping.ledger_account}: {exc}",
                                     source="books_balance_query") from None
    except OperationalError as exc:
        raise UpstreamError(f"cannot ask the ledger database for balances: "
                            f"{type(exc.orig).__name__}") from None
    finally:
        engine.dispose()
    return result


def books_balances(
    config: Config, ledger: pd.DataFrame, as_of: date, environ: Mapping[str, str] = os.environ
) -> dict[str, Balance]:
    """Balance per books of every mapped account at the end of ``as_of``.

    ``ledger`` must hold every row after each account's opening date (frames.LEDGER_COLUMNS).
    """
    trial: Mapping[tuple[str, date], int] = {}
    path = config.statement.books_balance_file
    if path is not None:
        trial = read_trial_balance(path, config.accounts)
    queried = query_books_balances(config, as_of, environ)
    sums = _sums_after(config, ledger, as_of)
    result: dict[str, Balance] = {}
    for mapping in config.accounts:
        account, currency = mapping.ledger_account, mapping.currency
        if (account, as_of) in trial:
            result[account] = Balance(trial[(account, as_of)],
                                      f"trial balance {path.name if path else ''} at {as_of}")
            continue
        if account in queried:
            result[account] = Balance(queried[account],
                                      f"general ledger balance at {as_of} (books_balance_query)")
            continue
        opening = config.statement.opening_balances.get(account)
        if opening is None:
            result[account] = Balance(None, "no trial balance row and no opening balance in "
                                            "config (statement.opening_balances)")
            continue
        start = to_minor(Decimal(opening.amount), currency)
        total, count = sums.get(account, (0, 0))
        result[account] = Balance(
            start + total,
            f"opening balance {format_minor(start, currency)} at the end of {opening.date} "
            f"(config) + {count:,} ledger rows to {as_of} ({format_minor(total, currency)}); "
            "computed from the ledger export",
        )
    return result


def _sums_after(
    config: Config, ledger: pd.DataFrame, as_of: date
) -> dict[str, tuple[int, int]]:
    """account -> (sum, count) of ledger rows after its opening date, up to ``as_of``."""
    if ledger.empty or not config.statement.opening_balances:
        return {}
    opening = pd.Series({a: pd.Timestamp(o.date)
                         for a, o in config.statement.opening_balances.items()})
    after = ledger["date"] > ledger["account"].map(opening)
    kept = ledger[after.fillna(False).astype(bool) & (ledger["date"] <= pd.Timestamp(as_of))]
    grouped = kept.groupby("account")["amount_minor"].agg(["sum", "count"])
    return {str(a): (int(r["sum"]), int(r["count"])) for a, r in grouped.iterrows()}


def plaid_bank_balances(balances: Mapping[str, BankBalanceAt], as_of: date) -> dict[str, Balance]:
    """Balance per bank from the stored Plaid balances, backed out to ``as_of``."""
    result = {}
    for account, found in balances.items():
        if found.reported_minor is None or found.reported_at is None:
            result[account] = Balance(None, "Plaid has not reported a balance for the account")
            continue
        reported = format_minor(found.reported_minor, found.currency)
        text = (f"Plaid current balance {reported} at "
                f"{found.reported_at.strftime('%Y-%m-%d %H:%M')} UTC")
        if found.after_count:
            text += (f", less {found.after_count:,} transactions posted after {as_of} "
                     f"({format_minor(found.after_minor, found.currency)})")
        result[account] = Balance(found.balance_minor, text)
    return result


def parse_statement_balances(
    values: Iterable[str], accounts: Sequence[AccountMapping]
) -> dict[str, Balance]:
    """``ACCOUNT=AMOUNT`` options (ledger account or Plaid account id) -> balance per bank."""
    by_name = {a.ledger_account: a for a in accounts} | {a.plaid_account_id: a for a in accounts}
    result: dict[str, Balance] = {}
    problems: list[str] = []
    for value in values:
        name, sep, amount = value.partition("=")
        mapping = by_name.get(name.strip())
        if not sep or mapping is None:
            problems.append(f"--statement-balance {value!r}: expected ACCOUNT=AMOUNT with a "
                            "ledger account or Plaid account id from config accounts")
            continue
        try:
            minor = to_minor(parse_plain_decimal(amount.strip()), mapping.currency)
        except MoneyError as exc:
            problems.append(f"--statement-balance {value!r}: {exc}")
            continue
        result[mapping.ledger_account] = Balance(minor, "statement balance given to recon match")
    if problems:
        raise InputError("; ".join(problems), source="--statement-balance")
    return result


def csv_column_balances(
    path: Path, accounts: Sequence[AccountMapping], as_of: date
) -> dict[str, Balance]:
    """From a bank CSV with a ``balance`` column: the running balance of each account's last
    row (in file order) dated on or before ``as_of``. Empty when the file has no such column."""
    if path.suffix.lower() != ".csv":
        return {}
    by_id = {a.plaid_account_id: a for a in accounts}
    latest: dict[str, tuple[date, int]] = {}
    problems: list[RowProblem] = []
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        if "balance" not in (reader.fieldnames or []):
            return {}
        for line, record in enumerate(reader, start=2):
            mapping = by_id.get((record.get("account_id") or "").strip())
            text = (record.get("balance") or "").strip()
            if mapping is None or not text:
                continue
            try:
                day = date.fromisoformat((record.get("date") or "").strip())
                minor = to_minor(parse_plain_decimal(text), mapping.currency)
            except (ValueError, MoneyError) as exc:
                problems.append(RowProblem(str(path), line, "balance", str(exc)))
                continue
            previous = latest.get(mapping.ledger_account)
            if day <= as_of and (previous is None or day >= previous[0]):
                latest[mapping.ledger_account] = (day, minor)
    if problems:
        raise InputError(problems, source=str(path))
    return {account: Balance(minor, f"balance column of {path.name} on {day}")
            for account, (day, minor) in latest.items()}
