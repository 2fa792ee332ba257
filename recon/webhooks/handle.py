"""What a verified webhook changes in the state store, in one transaction with its log entry.

======================================  ===================================================
webhook                                 effect
======================================  ===================================================
TRANSACTIONS SYNC_UPDATES_AVAILABLE     a sync of the item is queued (or folded into its job)
ITEM ERROR, USER_PERMISSION_REVOKED,    the item ``needs_relink``, with the error code
USER_ACCOUNT_REVOKED
ITEM LOGIN_REPAIRED                     a ``needs_relink`` item is ``active`` again
ITEM PENDING_EXPIRATION                 ``consent_expires_at`` = ``consent_expiration_time``
ITEM PENDING_DISCONNECT                 ``consent_expires_at`` = ``disconnect_time``
anything else                           logged only (``/transactions/sync`` covers the legacy
                                        transactions webhooks; the rest need no action here)
======================================  ===================================================

A webhook for an item recon does not know, or one that was removed, changes nothing but the log.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import IntegrityError

from recon.store import bank as bank_store
from recon.webhooks import queue
from recon.webhooks.verify import Verified

log = logging.getLogger(__name__)

_RELINK_CODES = frozenset({"ERROR", "USER_PERMISSION_REVOKED", "USER_ACCOUNT_REVOKED"})
_EXPIRY_FIELDS = {"PENDING_EXPIRATION": "consent_expiration_time",
                  "PENDING_DISCONNECT": "disconnect_time"}
_HEALTHY_STATUSES = ("active", "needs_relink")
_MAX_ID_CHARS = 64


class Replayed(Exception):
    """This exact signed request was processed before."""


class MalformedWebhook(ValueError):
    """A verified body that is not a webhook recon can read."""


@dataclass(frozen=True)
class Webhook:
    webhook_type: str
    webhook_code: str
    item_id: str | None
    fields: Mapping[str, Any]


def read_webhook(document: Mapping[str, Any]) -> Webhook:
    """The fields recon acts on, checked; MalformedWebhook names the field that is wrong."""
    kind, code = document.get("webhook_type"), document.get("webhook_code")
    if not isinstance(kind, str) or not kind or len(kind) > 40:
        raise MalformedWebhook("webhook_type is missing or not a string")
    if not isinstance(code, str) or not code or len(code) > 60:
        raise MalformedWebhook("webhook_code is missing or not a string")
    item_id = document.get("item_id")
    if item_id is not None and (not isinstance(item_id, str) or len(item_id) > _MAX_ID_CHARS):
        raise MalformedWebhook("item_id is not a string of at most 64 characters")
    if kind in ("TRANSACTIONS", "ITEM") and not item_id:
        raise MalformedWebhook(f"a {kind} webhook needs an item_id")
    field = _EXPIRY_FIELDS.get(code) if kind == "ITEM" else None
    if field is not None:
        _timestamp(document.get(field), field)
    return Webhook(kind, code, item_id or None, document)


def _timestamp(value: object, field: str) -> datetime:
    if not isinstance(value, str):
        raise MalformedWebhook(f"{field} is missing or not a date-time")
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise MalformedWebhook(f"{field} is not an ISO 8601 date-time") from None
    if moment.tzinfo is None:
        raise MalformedWebhook(f"{field} has no time zone")
    return moment.astimezone(UTC)


def apply_webhook(engine: Engine, webhook: Webhook, verified: Verified, *, now: datetime) -> str:
    """Act on a verified webhook and log it, atomically; returns the outcome.

    Outcomes: ``queued`` (a new sync job), ``folded`` (into the item's job), ``item_updated``,
    ``unknown_item``, ``ignored``. Raises :class:`Replayed` (and changes nothing) when this
    exact JWT was processed before.
    """
    try:
        with engine.begin() as conn:
            if queue.seen_before(conn, verified.jwt_sha256):
                raise Replayed
            outcome = _act(conn, webhook, now)
            queue.record_event(
                conn, jwt_sha256=verified.jwt_sha256, received_at=now,
                issued_at=verified.issued_at, key_id=verified.key_id,
                webhook_type=webhook.webhook_type, webhook_code=webhook.webhook_code,
                item_id=webhook.item_id, outcome=outcome,
            )
    except IntegrityError:
        raise Replayed from None  # the same JWT, processed concurrently by another request
    return outcome


def _act(conn: Connection, webhook: Webhook, now: datetime) -> str:
    if webhook.item_id is None:
        return "ignored"
    item = bank_store.get_item(conn, webhook.item_id)
    if item is None:
        return "unknown_item"
    kind, code = webhook.webhook_type, webhook.webhook_code
    if kind == "TRANSACTIONS" and code == "SYNC_UPDATES_AVAILABLE":
        if item.status == "removed":
            return "ignored"
        return "queued" if queue.enqueue_sync(conn, item.item_id, now=now) else "folded"
    if kind != "ITEM" or item.status not in _HEALTHY_STATUSES:
        return "ignored"
    if code in _RELINK_CODES:
        error = webhook.fields.get("error")
        error_code = error.get("error_code") if isinstance(error, Mapping) else None
        reason = error_code if isinstance(error_code, str) and error_code else code
        bank_store.record_sync_failure(conn, item.item_id, reason, now=now,
                                       status="needs_relink")
        return "item_updated"
    if code == "LOGIN_REPAIRED":
        if item.status == "needs_relink":
            bank_store.set_item_status(conn, item.item_id, "active", now=now)
        return "item_updated"
    field = _EXPIRY_FIELDS.get(code)
    if field is not None:
        expires = _timestamp(webhook.fields.get(field), field)
        bank_store.set_consent_expiry(conn, item.item_id, expires, now=now)
        return "item_updated"
    return "ignored"
