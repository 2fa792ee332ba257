"""Repository for Plaid state: items, accounts, sync cursors and bank transactions.

SQLAlchemy Core over the tables in :mod:`recon.store.schema`. Every write takes a
:class:`~sqlalchemy.Connection` so the caller decides the transaction (the sync applies a whole
update and its cursor in one). Upserts use the dialect's ``INSERT ... ON CONFLICT DO UPDATE``,
which SQLite and PostgreSQL both support. Nothing is deleted: removed transactions get
``removed_at`` (a tombstone), kept for audit and excluded from matching.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pandas as pd
from sqlalchemy import Connection, Engine, Row, Table, and_, func, select, update
from sqlalchemy.dialects import postgresql, sqlite

from recon.config import AccountMapping, Config
from recon.frames import BANK_COLUMNS, CHECK_NUMBER, keep_recent_or_carried, mark_partners
from recon.money import MoneyError, to_minor
from recon.store.schema import (
    account_balance_snapshots,
    accounts,
    bank_transactions,
    items,
    sync_cursors,
)

log = logging.getLogger(__name__)

# Rows per INSERT batch: large enough to be fast, small enough for SQLite's parameter limit.
_BATCH = 500
# Rows per driver executemany call (no parameter limit there): bounds the converted copies.
_DRIVER_BATCH = 5_000
ITEM_STREAM = ""  # sync_cursors.stream for the item-wide cursor


def as_utc(moment: datetime | None) -> datetime | None:
    """SQLite hands back naive datetimes; everything recon writes is UTC."""
    if moment is None:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _chunks(rows: Sequence[Any], size: int = _BATCH) -> Iterator[Sequence[Any]]:
    for start in range(0, len(rows), size):
        yield rows[start : start + size]


def _upsert(
    conn: Connection,
    table: Table,
    rows: Sequence[Mapping[str, Any]],
    *,
    key: Sequence[str],
    keep: Iterable[str] = (),
) -> None:
    """Insert rows, or update every column except ``key`` and ``keep`` where the key exists."""
    if not rows:
        return
    stmt = _upsert_statement(conn.dialect.name, table, key=key, keep=keep, columns=list(rows[0]))
    for chunk in _chunks(rows):
        conn.execute(stmt, list(chunk))


def _upsert_statement(
    dialect: str,
    table: Table,
    *,
    key: Sequence[str],
    keep: Iterable[str] = (),
    columns: Sequence[str] | None = None,
) -> Any:
    """INSERT ... ON CONFLICT (key) DO UPDATE of ``columns`` (default: all) except key/keep."""
    if dialect == "postgresql":
        stmt: Any = postgresql.insert(table)
    elif dialect == "sqlite":
        stmt = sqlite.insert(table)
    else:  # pragma: no cover - recon supports exactly these two
        raise NotImplementedError(f"upsert is not implemented for {dialect}")
    skip = set(key) | set(keep)
    updated = [name for name in (columns or table.c.keys()) if name not in skip]
    return stmt.on_conflict_do_update(
        index_elements=list(key), set_={name: stmt.excluded[name] for name in updated}
    )


# --- items -----------------------------------------------------------------------------------


def upsert_item(
    conn: Connection,
    *,
    item_id: str,
    institution_id: str | None,
    institution_name: str | None,
    now: datetime,
    status: str = "active",
) -> None:
    """Create the item, or refresh its institution and status (token and sync state are kept)."""
    _upsert(
        conn,
        items,
        [
            {
                "item_id": item_id,
                "institution_id": institution_id,
                "institution_name": institution_name,
                "status": status,
                "created_at": now,
                "updated_at": now,
            }
        ],
        key=["item_id"],
        keep=["created_at"],
    )


def get_item(conn: Connection, item_id: str) -> Row[Any] | None:
    return conn.execute(select(items).where(items.c.item_id == item_id)).first()


def list_item_rows(conn: Connection) -> list[Row[Any]]:
    return list(conn.execute(select(items).order_by(items.c.item_id)))


def set_item_token(
    conn: Connection,
    item_id: str,
    *,
    ciphertext: bytes,
    key_id: str,
    created_at: datetime | None,
    now: datetime,
    expected_ciphertext: bytes | None = None,
) -> bool:
    """Store an encrypted access token; with ``expected_ciphertext`` only if it is unchanged.

    ``created_at`` None keeps the token's age (a key rotation re-encrypts the same token).
    Returns whether a row was updated.
    """
    values: dict[str, Any] = {
        "access_token_ciphertext": ciphertext,
        "token_key_id": key_id,
        "updated_at": now,
    }
    if created_at is not None:
        values["token_created_at"] = created_at
    condition = items.c.item_id == item_id
    if expected_ciphertext is not None:
        condition = and_(condition, items.c.access_token_ciphertext == expected_ciphertext)
    result = conn.execute(update(items).where(condition).values(**values))
    return result.rowcount == 1


def set_item_status(
    conn: Connection,
    item_id: str,
    status: str,
    *,
    now: datetime,
    error_code: str | None = None,
) -> None:
    conn.execute(
        update(items)
        .where(items.c.item_id == item_id)
        .values(status=status, last_sync_error=error_code, updated_at=now)
    )


def set_consent_expiry(
    conn: Connection, item_id: str, expires_at: datetime | None, *, now: datetime
) -> None:
    """When the item stops working unless re-linked; None when nothing is known to expire."""
    conn.execute(
        update(items)
        .where(items.c.item_id == item_id)
        .values(consent_expires_at=expires_at, updated_at=now)
    )


def record_sync_success(conn: Connection, item_id: str, *, now: datetime) -> None:
    """A completed sync: the item works again (active), last_sync_at is the success time."""
    conn.execute(
        update(items)
        .where(items.c.item_id == item_id)
        .values(status="active", last_sync_at=now, last_sync_error=None, updated_at=now)
    )


def record_sync_failure(
    conn: Connection, item_id: str, error_code: str, *, now: datetime, status: str | None = None
) -> None:
    """A failed sync: keep last_sync_at (the last success), record the Plaid error code only."""
    values: dict[str, Any] = {"last_sync_error": error_code[:64], "updated_at": now}
    if status is not None:
        values["status"] = status
    conn.execute(update(items).where(items.c.item_id == item_id).values(**values))


# --- accounts --------------------------------------------------------------------------------


def _balance_minor(value: Any, currency: str | None, account_id: str) -> int | None:
    if value is None or currency is None:
        return None
    try:
        return to_minor(Decimal(value) if not isinstance(value, Decimal) else value, currency)
    except (MoneyError, ArithmeticError, TypeError, ValueError):
        log.warning("balance not stored: not exact in its currency", extra={
            "account_id": account_id})
        return None


def upsert_accounts(
    conn: Connection, item_id: str, plaid_accounts: Sequence[Mapping[str, Any]], *, now: datetime
) -> int:
    """Plaid AccountBase dicts (amounts Decimal) -> accounts rows with minor-unit balances."""
    rows = []
    for account in plaid_accounts:
        balances = account.get("balances") or {}
        currency = balances.get("iso_currency_code")
        currency = str(currency).upper() if currency else None
        account_id = str(account["account_id"])
        rows.append(
            {
                "account_id": account_id,
                "item_id": item_id,
                "name": account.get("name"),
                "mask": (account.get("mask") or None) and str(account["mask"])[:8],
                "type": _text(account.get("type"), 40),
                "subtype": _text(account.get("subtype"), 40),
                "currency": currency,
                "balance_current_minor": _balance_minor(
                    balances.get("current"), currency, account_id),
                "balance_available_minor": _balance_minor(
                    balances.get("available"), currency, account_id),
                "balance_as_of": now,
                "updated_at": now,
            }
        )
    _upsert(conn, accounts, rows, key=["account_id"])
    _upsert(
        conn,
        account_balance_snapshots,
        [
            {
                "account_id": row["account_id"],
                "fetched_at": now,
                "currency": row["currency"],
                "balance_current_minor": row["balance_current_minor"],
                "balance_available_minor": row["balance_available_minor"],
            }
            for row in rows
        ],
        key=["account_id", "fetched_at"],
    )
    return len(rows)


def _text(value: Any, limit: int) -> str | None:
    return None if value is None else str(value)[:limit]


# --- bank transactions -----------------------------------------------------------------------


_OPTIONAL_COLUMNS = frozenset({"removed_at", "check_number"})


def upsert_bank_transactions(
    conn: Connection, rows: Sequence[Mapping[str, Any]], *, now: datetime
) -> int:
    """Insert or update rows keyed by transaction_id (first_seen_at is kept on update).

    Each row carries the bank_transactions columns except first_seen_at/updated_at; ``removed_at``
    (a row added and removed within one update is stored tombstoned) and ``check_number`` are
    optional.
    """
    if not rows:
        return 0
    dialect = conn.dialect
    stmt = _upsert_statement(dialect.name, bank_transactions, key=["transaction_id"],
                             keep=["first_seen_at"])
    compiled = stmt.compile(dialect=dialect)
    names = list(compiled.positiontup or ()) if compiled.positional else list(compiled.params)
    if sorted(names) != sorted(bank_transactions.c.keys()):  # pragma: no cover - a schema change
        raise AssertionError("upsert statement does not bind every bank_transactions column")
    # SQLAlchemy's bind processors (SQLite keeps dates as text), applied here because the rows
    # go straight to the driver's executemany: per-row parameter handling in Connection.execute
    # cost more than the database itself at 100k rows.
    processors: dict[str, Callable[[Any], Any]] = {}
    for column in bank_transactions.columns:
        processor = column.type.dialect_impl(dialect).bind_processor(dialect)
        if processor is not None:
            processors[column.name] = processor
    constants = {name: processors[name](now) if name in processors else now
                 for name in ("first_seen_at", "updated_at")}
    varying = [(index, name, processors.get(name)) for index, name in enumerate(names)
               if name not in constants]
    template = [constants.get(name) for name in names]
    for chunk in _chunks(rows, _DRIVER_BATCH):
        params: list[Any] = []
        for row in chunk:
            values = template.copy()
            for index, name, convert in varying:
                value = row.get(name) if name in _OPTIONAL_COLUMNS else row[name]
                values[index] = value if convert is None or value is None else convert(value)
            params.append(
                tuple(values) if compiled.positional else dict(zip(names, values, strict=True)))
        conn.exec_driver_sql(compiled.string, params)
    return len(rows)


def tombstone_transactions(
    conn: Connection, transaction_ids: Iterable[str], *, now: datetime
) -> tuple[int, int]:
    """Mark removed ids; returns (tombstoned now, unknown ids ignored).

    An id already tombstoned keeps its first removal time and counts as neither.
    """
    ids = sorted(set(transaction_ids))
    tombstoned = unknown = 0
    for chunk in _chunks(ids):
        known = set(
            conn.execute(
                select(bank_transactions.c.transaction_id).where(
                    bank_transactions.c.transaction_id.in_(chunk)
                )
            ).scalars()
        )
        unknown += len(chunk) - len(known)
        if known:
            result = conn.execute(
                update(bank_transactions)
                .where(
                    bank_transactions.c.transaction_id.in_(sorted(known)),
                    bank_transactions.c.removed_at.is_(None),
                )
                .values(removed_at=now, updated_at=now)
            )
            tombstoned += result.rowcount
    return tombstoned, unknown


def tombstone_superseded_pending(
    conn: Connection, pending_ids: Iterable[str], *, now: datetime
) -> int:
    """Tombstone live pending rows whose posted version has arrived (pending_transaction_id).

    Plaid removes the pending id in the same update; this guards against an upstream that does
    not, so a transaction is never counted twice (pending and posted).
    """
    count = 0
    for chunk in _chunks(sorted(set(pending_ids))):
        result = conn.execute(
            update(bank_transactions)
            .where(
                bank_transactions.c.transaction_id.in_(chunk),
                bank_transactions.c.pending.is_(True),
                bank_transactions.c.removed_at.is_(None),
            )
            .values(removed_at=now, updated_at=now)
        )
        count += result.rowcount
    return count


# --- cursors ---------------------------------------------------------------------------------


def get_cursor(conn: Connection, item_id: str) -> str | None:
    """The committed cursor of the item-wide stream; None when the item was never synced."""
    value = conn.execute(
        select(sync_cursors.c.cursor).where(
            sync_cursors.c.item_id == item_id, sync_cursors.c.stream == ITEM_STREAM
        )
    ).scalar()
    return None if value is None else str(value)


def set_cursor(conn: Connection, item_id: str, cursor: str, *, now: datetime) -> None:
    _upsert(
        conn,
        sync_cursors,
        [{"item_id": item_id, "stream": ITEM_STREAM, "cursor": cursor, "updated_at": now}],
        key=["item_id", "stream"],
    )


# --- reading for the engine ------------------------------------------------------------------


@dataclass(frozen=True)
class BankWindow:
    """The bank rows a night matches: live rows dated ``start``..``end``, where rows before
    ``context_start`` are kept only when they are ``carried`` open items, and rows before
    ``window_start`` that are not carried are marked PARTNER_ONLY (recon.pipeline explains why).
    Plain values: it travels to partition workers as JSON."""

    start: date
    end: date
    context_start: date
    window_start: date
    carried: frozenset[str]

    def to_json(self) -> str:
        return json.dumps({
            "start": self.start.isoformat(), "end": self.end.isoformat(),
            "context_start": self.context_start.isoformat(),
            "window_start": self.window_start.isoformat(), "carried": sorted(self.carried),
        })  # fmt: skip

    @classmethod
    def from_json(cls, text: str) -> BankWindow:
        data = json.loads(text)
        return cls(
            date.fromisoformat(data["start"]), date.fromisoformat(data["end"]),
            date.fromisoformat(data["context_start"]), date.fromisoformat(data["window_start"]),
            frozenset(data["carried"]),
        )  # fmt: skip


def load_bank_rows(
    engine: Engine, window: BankWindow, accounts: Sequence[AccountMapping]
) -> pd.DataFrame:
    """The night's bank frame of ``accounts``: :func:`load_bank_window`, then the carried and
    partner-only rules of ``window``."""
    bank = _load_bank_window(engine, window.start, window.end, accounts)
    if window.start < window.context_start:
        bank = keep_recent_or_carried(bank, "transaction_id", window.carried,
                                      pd.Timestamp(window.context_start))  # fmt: skip
    return mark_partners(bank, "transaction_id", window.carried, window.window_start)


def load_bank_window(engine: Engine, start: date, end: date, config: Config) -> pd.DataFrame:
    """Live bank rows dated start..end (inclusive) of the accounts mapped in config.accounts.

    Columns are :data:`recon.frames.BANK_COLUMNS` and CHECK_NUMBER; tombstoned rows are
    excluded, pending rows are included with ``pending=True``. Sorted by date, then
    transaction_id.
    """
    return _load_bank_window(engine, start, end, config.accounts)


def _load_bank_window(
    engine: Engine, start: date, end: date, accounts: Sequence[AccountMapping]
) -> pd.DataFrame:
    ledger_account = {m.plaid_account_id: m.ledger_account for m in accounts}
    t = bank_transactions
    records: list[dict[str, Any]] = []
    if ledger_account:
        query = (
            select(
                t.c.transaction_id, t.c.account_id, t.c.currency, t.c.amount_minor, t.c.date,
                t.c.authorized_date, t.c.name, t.c.merchant_name, t.c.reference, t.c.pending,
                t.c.pending_transaction_id, t.c.check_number,
            )
            .where(
                t.c.account_id.in_(sorted(ledger_account)),
                t.c.removed_at.is_(None),
                t.c.date >= start,
                t.c.date <= end,
            )
            .order_by(t.c.date, t.c.transaction_id)
        )
        with engine.connect() as conn:
            records = [dict(row._mapping) for row in conn.execute(query)]
    return _bank_frame_from_rows(records, accounts)


def bank_frame_from_rows(rows: Sequence[Mapping[str, Any]], config: Config) -> pd.DataFrame:
    """bank_transactions rows (as stored, or from normalise.transaction_to_row) -> bank frame.

    Rows of accounts not mapped in config.accounts are dropped.
    """
    return _bank_frame_from_rows(rows, config.accounts)


def _bank_frame_from_rows(
    rows: Sequence[Mapping[str, Any]], accounts: Sequence[AccountMapping]
) -> pd.DataFrame:
    ledger_account = {m.plaid_account_id: m.ledger_account for m in accounts}
    records = [
        {
            "transaction_id": row["transaction_id"],
            "account": ledger_account[row["account_id"]],
            "plaid_account_id": row["account_id"],
            "currency": row["currency"],
            "amount_minor": row["amount_minor"],
            "date": row["date"],
            "authorized_date": row["authorized_date"],
            "description": row["name"],
            "counterparty": row["merchant_name"] or "",
            "reference": row["reference"] or "",
            "pending": bool(row["pending"]),
            "pending_transaction_id": row["pending_transaction_id"] or "",
            CHECK_NUMBER: row.get("check_number") or "",
        }
        for row in rows
        if row["account_id"] in ledger_account
    ]
    return _bank_frame(records)


def _bank_frame(records: list[dict[str, Any]]) -> pd.DataFrame:
    def column(name: str) -> list[Any]:
        return [record[name] for record in records]

    data: dict[str, pd.Series[Any]] = {}
    for name in (*BANK_COLUMNS, CHECK_NUMBER):
        if name == "amount_minor":
            data[name] = pd.Series(column(name), dtype="int64")
        elif name in ("date", "authorized_date"):
            data[name] = pd.Series(pd.to_datetime(column(name)), dtype="datetime64[ns]")
        elif name == "pending":
            data[name] = pd.Series(column(name), dtype="bool")
        else:
            data[name] = pd.Series(column(name), dtype="object")
    return pd.DataFrame(data, columns=[*BANK_COLUMNS, CHECK_NUMBER])


def account_balances(
    engine: Engine, config: Config
) -> dict[str, tuple[int | None, str, datetime | None]]:
    """ledger_account -> (current balance in minor units or None, currency, as-of time).

    Every mapped account is present; one that Plaid never reported has (None, the mapping's
    currency, None).
    """
    mapped = {m.plaid_account_id: m for m in config.accounts}
    result: dict[str, tuple[int | None, str, datetime | None]] = {
        m.ledger_account: (None, m.currency, None) for m in config.accounts
    }
    if not mapped:
        return result
    with engine.connect() as conn:
        rows = conn.execute(
            select(
                accounts.c.account_id, accounts.c.currency, accounts.c.balance_current_minor,
                accounts.c.balance_as_of,
            ).where(accounts.c.account_id.in_(sorted(mapped)))
        )
        for row in rows:
            mapping = mapped[row.account_id]
            result[mapping.ledger_account] = (
                row.balance_current_minor,
                row.currency or mapping.currency,
                as_utc(row.balance_as_of),
            )
    return result


@dataclass(frozen=True)
class BankBalanceAt:
    """A Plaid balance backed out to the end of an as-of date (see :func:`bank_balances_at`)."""

    currency: str
    reported_minor: int | None  # Plaid's current balance (posted transactions only)
    reported_at: datetime | None
    after_minor: int  # posted transactions dated after the as-of date, house sign
    after_count: int

    @property
    def balance_minor(self) -> int | None:
        return None if self.reported_minor is None else self.reported_minor - self.after_minor


def bank_balances_at(engine: Engine, config: Config, as_of: date) -> dict[str, BankBalanceAt]:
    """ledger_account -> the latest Plaid current balance, less what posted after ``as_of``.

    Plaid's ``current`` balance excludes pending transactions, so only posted rows are backed
    out; the latest snapshot is used because it was taken with the transactions in the store.
    """
    mapped = {m.plaid_account_id: m for m in config.accounts}
    result = {m.ledger_account: BankBalanceAt(m.currency, None, None, 0, 0)
              for m in config.accounts}
    if not mapped:
        return result
    s, t = account_balance_snapshots, bank_transactions
    with engine.connect() as conn:
        latest = (
            select(s.c.account_id, func.max(s.c.fetched_at).label("fetched_at"))
            .where(s.c.account_id.in_(sorted(mapped)))
            .group_by(s.c.account_id)
            .subquery()
        )
        snapshots = conn.execute(
            select(s.c.account_id, s.c.currency, s.c.balance_current_minor, s.c.fetched_at).join(
                latest,
                and_(s.c.account_id == latest.c.account_id,
                     s.c.fetched_at == latest.c.fetched_at),
            )
        )
        after = {
            row.account_id: (int(row.total or 0), int(row.n))
            for row in conn.execute(
                select(t.c.account_id, func.sum(t.c.amount_minor).label("total"),
                       func.count().label("n"))
                .where(t.c.account_id.in_(sorted(mapped)), t.c.removed_at.is_(None),
                       t.c.pending.is_(False), t.c.date > as_of)
                .group_by(t.c.account_id)
            )
        }
        for row in snapshots:
            mapping = mapped[row.account_id]
            total, count = after.get(row.account_id, (0, 0))
            result[mapping.ledger_account] = BankBalanceAt(
                row.currency or mapping.currency, row.balance_current_minor,
                as_utc(row.fetched_at), total, count,
            )
    return result
