"""Incremental ``/transactions/sync``: every page pulled, then applied with its cursor atomically.

For one item (plaid-notes §4.1):

1. read the committed cursor (None = never synced: the whole history is pulled);
2. refresh accounts and balances with one ``/accounts/get``;
3. pull every page (``count = config.plaid.sync_page_size``) into memory. On
   ``TRANSACTIONS_SYNC_MUTATION_DURING_PAGINATION`` the pages are discarded and the pull restarts
   from the *starting* cursor, at most ``config.plaid.max_sync_restarts`` times;
4. in ONE database transaction: upsert accounts, upsert added and modified transactions by
   transaction_id, tombstone removed ones (kept for audit, excluded from matching), store the new
   cursor and the item's sync status. A crash anywhere before the commit replays the same update
   from the old cursor next time; upserts make the replay harmless.

Pending -> posted arrives as ``removed`` (the pending id) plus ``added`` (the posted id with
``pending_transaction_id``), so the transaction is stored once, as posted, and the pending row is
tombstoned. A cursor Plaid rejects as ``INVALID_FIELD`` (e.g. "cursor not associated with
access_token") is reset to "" and the full history is pulled again; upserts make that safe.
Removals that happened while the cursor was lost are not replayed by Plaid, so such rows stay
live until a backfill shows them gone (documented limitation of a reset).

``ITEM_LOGIN_REQUIRED``, ``ITEM_NOT_FOUND`` and ``INVALID_ACCESS_TOKEN`` mark the item
``needs_relink``; other items carry on. Logs carry counts and item ids only.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import Engine, Row

from recon.config import Config
from recon.faults import fault_point
from recon.plaid.client import (
    MUTATION_DURING_PAGINATION,
    RELINK_CODES,
    PlaidCallError,
    PlaidGateway,
)
from recon.plaid.normalise import RejectedTransaction, transaction_to_row
from recon.plaid.tokens import TokenError, TokenVault, load_access_token
from recon.store import bank as bank_store

log = logging.getLogger(__name__)

SyncStatus = Literal["ok", "needs_relink", "failed"]
SYNCABLE_STATUSES = ("active", "needs_relink")
# Called after each /transactions/sync page with the item id and the page's changes.
OnPage = Callable[[str, int], None]


@dataclass(frozen=True)
class SyncOutcome:
    item_id: str
    status: SyncStatus
    added: int = 0
    modified: int = 0
    removed: int = 0
    error_code: str | None = None
    rejected: int = 0  # transactions refused by normalise (e.g. unofficial currency)
    unknown_removed: int = 0  # removed ids recon never stored (ignored)
    restarts: int = 0  # pagination restarts after a mutation during pagination


@dataclass
class _Update:
    """Everything one complete pull returned, reduced to the final state per transaction."""

    cursor: str
    added: int = 0
    modified: int = 0
    removed_ids: list[str] = field(default_factory=list)
    rows: dict[str, dict[str, Any]] = field(default_factory=dict)
    rejected: int = 0
    restarts: int = 0

    def take_page(self, page: Mapping[str, Any], item_id: str) -> None:
        self.added += len(page["added"])
        self.modified += len(page["modified"])
        for txn in [*page["added"], *page["modified"]]:
            try:
                row = transaction_to_row(txn, item_id=item_id)
            except RejectedTransaction as exc:
                self.rejected += 1
                log.warning("transaction rejected", extra={
                    "item_id": item_id, "transaction_id": exc.transaction_id,
                    "reason": exc.reason})
                continue
            self.rows[row["transaction_id"]] = row
        for removed in page["removed"]:
            transaction_id = str(removed["transaction_id"])
            self.removed_ids.append(transaction_id)
            staged = self.rows.get(transaction_id)
            if staged is not None:  # added and removed within this update: store it tombstoned
                staged["removed_at"] = True


def _pull(
    gateway: PlaidGateway, access_token: str, start_cursor: str, item_id: str, config: Config,
    on_page: OnPage | None = None,
) -> _Update:
    """All pages from start_cursor to has_more=false; restarts on mutation during pagination."""
    restarts = 0
    while True:
        update = _Update(cursor=start_cursor, restarts=restarts)
        cursor = start_cursor
        try:
            while True:
                page = gateway.transactions_sync(
                    access_token, cursor=cursor, count=config.plaid.sync_page_size
                )
                update.take_page(page, item_id)
                if on_page is not None:
                    on_page(item_id, len(page["added"]) + len(page["modified"])
                            + len(page["removed"]))
                cursor = str(page["next_cursor"])
                if not page["has_more"]:
                    update.cursor = cursor
                    return update
        except PlaidCallError as exc:
            if exc.error_code != MUTATION_DURING_PAGINATION or (
                restarts >= config.plaid.max_sync_restarts
            ):
                raise
            restarts += 1
            log.info("sync restarting: data changed during pagination",
                     extra={"item_id": item_id, "restart": restarts})
            gateway.pause(restarts)


def _apply(engine: Engine, item_id: str, update: _Update,
           accounts: list[Mapping[str, Any]], now: datetime) -> tuple[int, int]:
    """Accounts, rows, tombstones, cursor and item status in one transaction."""
    fault_point("sync.before_commit")
    with engine.begin() as conn:
        bank_store.upsert_accounts(conn, item_id, accounts, now=now)
        rows = [
            {**row, "removed_at": now if row.get("removed_at") else None}
            for row in update.rows.values()
        ]
        bank_store.upsert_bank_transactions(conn, rows, now=now)
        superseded = [
            row["pending_transaction_id"] for row in rows
            if row["pending_transaction_id"] and not row["pending"]
        ]
        bank_store.tombstone_superseded_pending(conn, superseded, now=now)
        removed_only = [tid for tid in update.removed_ids if tid not in update.rows]
        tombstoned, unknown = bank_store.tombstone_transactions(conn, removed_only, now=now)
        bank_store.set_cursor(conn, item_id, update.cursor, now=now)
        bank_store.record_sync_success(conn, item_id, now=now)
        fault_point("sync.inside_commit")
    fault_point("sync.after_commit")
    return tombstoned, unknown


def sync_item(
    engine: Engine,
    gateway: PlaidGateway,
    vault: TokenVault,
    item_id: str,
    config: Config,
    *,
    now: datetime,
    on_page: OnPage | None = None,
) -> SyncOutcome:
    """Bring one item's stored transactions up to date with Plaid (see the module docstring)."""
    try:
        with engine.connect() as conn:
            if bank_store.get_item(conn, item_id) is None:
                return SyncOutcome(item_id, "failed", error_code="ITEM_UNKNOWN")
            start_cursor = bank_store.get_cursor(conn, item_id) or ""
            access_token = load_access_token(conn, vault, item_id)
    except TokenError:
        log.error("sync failed: access token unusable", extra={"item_id": item_id})
        return _failed(engine, item_id, "TOKEN_UNUSABLE", now)
    try:
        accounts = list(gateway.accounts_get(access_token)["accounts"])
        try:
            update = _pull(gateway, access_token, start_cursor, item_id, config, on_page)
        except PlaidCallError as exc:
            if exc.error_code != "INVALID_FIELD" or not start_cursor:
                raise
            log.warning("sync cursor rejected; full resync from an empty cursor",
                        extra={"item_id": item_id})
            update = _pull(gateway, access_token, "", item_id, config, on_page)
    except PlaidCallError as exc:
        if exc.error_code in RELINK_CODES:
            log.warning("item needs re-linking", extra={
                "item_id": item_id, "error_code": exc.error_code})
            with engine.begin() as conn:
                bank_store.record_sync_failure(
                    conn, item_id, exc.error_code, now=now, status="needs_relink")
            return SyncOutcome(item_id, "needs_relink", error_code=exc.error_code)
        log.error("sync failed", extra={"item_id": item_id, "error_code": exc.error_code})
        return _failed(engine, item_id, exc.error_code, now)
    tombstoned, unknown = _apply(engine, item_id, update, accounts, now)
    outcome = SyncOutcome(
        item_id, "ok", added=update.added, modified=update.modified,
        removed=len(update.removed_ids), rejected=update.rejected, unknown_removed=unknown,
        restarts=update.restarts,
    )
    log.info("item synced", extra={
        "item_id": item_id, "added": outcome.added, "modified": outcome.modified,
        "removed": outcome.removed, "tombstoned": tombstoned, "unknown_removed": unknown,
        "rejected": outcome.rejected, "restarts": outcome.restarts})
    return outcome


def _failed(engine: Engine, item_id: str, error_code: str, now: datetime) -> SyncOutcome:
    with engine.begin() as conn:
        bank_store.record_sync_failure(conn, item_id, error_code, now=now)
    return SyncOutcome(item_id, "failed", error_code=error_code)


def sync_listed_item(
    engine: Engine, gateway: PlaidGateway, vault: TokenVault, row: Row[Any], config: Config, *,
    now: datetime, on_page: OnPage | None = None,
) -> SyncOutcome | None:
    """Sync the item of an ``items`` row; None for a removed item. An item whose token is lost
    is reported ``needs_relink`` without calling Plaid. Items already ``needs_relink`` are tried
    again (the user may have fixed the login in Link update mode, which keeps the token)."""
    if row.status == "removed":
        return None
    if row.status not in SYNCABLE_STATUSES or row.access_token_ciphertext is None:
        return SyncOutcome(row.item_id, "needs_relink", error_code="TOKEN_LOST")
    return sync_item(engine, gateway, vault, row.item_id, config, now=now, on_page=on_page)


def sync_all(
    engine: Engine, gateway: PlaidGateway, vault: TokenVault, config: Config, *, now: datetime,
    on_page: OnPage | None = None,
) -> list[SyncOutcome]:
    """Sync every linked item in item_id order; one item's failure does not stop the others
    (see :func:`sync_listed_item` for removed items and lost tokens)."""
    with engine.connect() as conn:
        rows = bank_store.list_item_rows(conn)
    outcomes: list[SyncOutcome] = []
    for row in rows:
        outcome = sync_listed_item(engine, gateway, vault, row, config, now=now, on_page=on_page)
        if outcome is not None:
            outcomes.append(outcome)
    return outcomes
