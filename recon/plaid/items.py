"""Linking items, their health, and the one-off ``/transactions/get`` backfill.

Public and link tokens are single-use and short-lived: they are exchanged at once and never
stored. Only the access token is kept, encrypted (:mod:`recon.plaid.tokens`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, func, select

from recon.config import Config
from recon.errors import InputError
from recon.plaid.client import PlaidCallError, PlaidGateway
from recon.plaid.normalise import RejectedTransaction, transaction_to_row
from recon.plaid.tokens import TokenVault, load_access_token, store_access_token
from recon.store import bank as bank_store
from recon.store.schema import accounts

log = logging.getLogger(__name__)

PRODUCT_NOT_READY_ATTEMPTS = 5


@dataclass(frozen=True)
class ItemHealth:
    """What ``recon items list`` shows: no token, no secret."""

    item_id: str
    institution: str
    status: str
    last_sync_at: datetime | None
    last_sync_error: str | None
    token_age: timedelta | None
    accounts: int
    consent_expires_at: datetime | None = None  # from PENDING_EXPIRATION / PENDING_DISCONNECT


def _link(
    engine: Engine, gateway: PlaidGateway, vault: TokenVault, public_token: str, *,
    now: datetime, expected_item_id: str | None,
) -> str:
    item_id, access_token = gateway.exchange_public_token(public_token)
    if expected_item_id is not None and item_id != expected_item_id:
        # Update mode re-links a known item; a different item means the wrong bank login.
        raise InputError(
            f"the public token belongs to item {item_id}, not {expected_item_id}; nothing stored",
            source="recon items add",
        )
    details = gateway.accounts_get(access_token)
    item = details.get("item") or {}
    with engine.begin() as conn:
        bank_store.upsert_item(
            conn, item_id=item_id, institution_id=_opt_text(item.get("institution_id")),
            institution_name=_opt_text(item.get("institution_name")), now=now,
        )
        store_access_token(conn, vault, item_id, access_token, now=now)
        bank_store.upsert_accounts(conn, item_id, list(details["accounts"]), now=now)
        # A (re-)link renews the consent: Plaid's own expiry replaces a webhook's warning.
        bank_store.set_consent_expiry(
            conn, item_id, _opt_time(item.get("consent_expiration_time")), now=now)
    log.info("item linked", extra={"item_id": item_id, "accounts": len(details["accounts"])})
    return item_id


def _opt_text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _opt_time(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None


def add_item_from_public_token(
    engine: Engine,
    gateway: PlaidGateway,
    vault: TokenVault,
    public_token: str,
    *,
    now: datetime,
    item_id: str | None = None,
) -> str:
    """Exchange a public token from Link and store the item; returns its item_id.

    With ``item_id`` (update mode, e.g. after a lost token) the exchanged item must be that one;
    its token is replaced, status set back to active, and its cursor and history are kept.
    """
    return _link(engine, gateway, vault, public_token, now=now, expected_item_id=item_id)


def add_sandbox_item(
    engine: Engine, gateway: PlaidGateway, vault: TokenVault, institution_id: str, *,
    now: datetime, webhook: str | None = None,
) -> str:
    """Sandbox/emulator only: create a public token for an institution and link it; Plaid sends
    the item's webhooks to ``webhook``."""
    public_token = gateway.sandbox_public_token_create(institution_id, webhook=webhook)
    return _link(engine, gateway, vault, public_token, now=now, expected_item_id=None)


def list_items(engine: Engine, *, now: datetime) -> list[ItemHealth]:
    with engine.connect() as conn:
        counts: dict[str, int] = {
            str(item): int(n)
            for item, n in conn.execute(
                select(accounts.c.item_id, func.count()).group_by(accounts.c.item_id)
            )
        }
        rows = bank_store.list_item_rows(conn)
    result = []
    for row in rows:
        created = bank_store.as_utc(row.token_created_at)
        result.append(
            ItemHealth(
                item_id=row.item_id,
                institution=row.institution_name or row.institution_id or "",
                status=row.status,
                last_sync_at=bank_store.as_utc(row.last_sync_at),
                last_sync_error=row.last_sync_error,
                token_age=(now - created) if created is not None else None,
                accounts=int(counts.get(row.item_id, 0)),
                consent_expires_at=bank_store.as_utc(row.consent_expires_at),
            )
        )
    return result


def _transactions_page(
    gateway: PlaidGateway, access_token: str, *, start: date, end: date, offset: int, count: int,
) -> dict[str, Any]:
    """One /transactions/get page; PRODUCT_NOT_READY is waited for a bounded number of times."""
    for attempt in range(1, PRODUCT_NOT_READY_ATTEMPTS + 1):
        try:
            return gateway.transactions_get(
                access_token, start=start, end=end, count=count, offset=offset
            )
        except PlaidCallError as exc:
            if exc.error_code != "PRODUCT_NOT_READY" or attempt == PRODUCT_NOT_READY_ATTEMPTS:
                raise
            gateway.pause(attempt)
    raise AssertionError("unreachable")  # pragma: no cover


def backfill_pull(
    engine: Engine,
    gateway: PlaidGateway,
    vault: TokenVault,
    config: Config,
    *,
    start: date,
    end: date,
    item_id: str | None,
    now: datetime,
    on_page: Callable[[str, int], None] | None = None,
) -> dict[str, int]:
    """Upsert every transaction dated start..end from ``/transactions/get`` (offset paging).

    Idempotent (upserts by transaction_id); the sync cursor is not touched. One item, or every
    active item when ``item_id`` is None. Returns item_id -> transactions stored. Removals are
    not visible to /transactions/get, so nothing is tombstoned here.
    """
    if start > end:
        raise InputError(f"backfill start {start} is after end {end}", source="backfill")
    with engine.connect() as conn:
        if item_id is not None:
            item_ids = [item_id]
        else:
            item_ids = [r.item_id for r in bank_store.list_item_rows(conn) if r.status == "active"]
    stored: dict[str, int] = {}
    for current in item_ids:
        with engine.connect() as conn:
            access_token = load_access_token(conn, vault, current)
        rows: dict[str, dict[str, Any]] = {}
        plaid_accounts: list[Any] = []
        offset = 0
        rejected = 0
        while True:
            page = _transactions_page(gateway, access_token, start=start, end=end, offset=offset,
                                      count=config.plaid.sync_page_size)
            plaid_accounts = list(page["accounts"])
            batch = page["transactions"]
            for txn in batch:
                try:
                    row = transaction_to_row(txn, item_id=current)
                except RejectedTransaction as exc:
                    rejected += 1
                    log.warning("transaction rejected", extra={
                        "item_id": current, "transaction_id": exc.transaction_id,
                        "reason": exc.reason})
                    continue
                rows[row["transaction_id"]] = row
            offset += len(batch)
            if on_page is not None:
                on_page(current, len(batch))
            if not batch or offset >= int(page["total_transactions"]):
                break
        with engine.begin() as conn:
            bank_store.upsert_accounts(conn, current, plaid_accounts, now=now)
            bank_store.upsert_bank_transactions(conn, list(rows.values()), now=now)
        stored[current] = len(rows)
        log.info("backfill pulled", extra={
            "item_id": current, "transactions": len(rows), "rejected": rejected})
    return stored
