"""Scripted faults that tests and demos inject into the emulator, one queue per item."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

FaultKind = Literal[
    "rate_limit",
    "internal_error",
    "planned_maintenance",
    "mutation_during_pagination",
    "item_login_required",
    "invalid_access_token",
    "slow",
    "drop_connection",
    "malformed",
    # Extension beyond the agreed list: PRODUCT_NOT_READY (400, ITEM_ERROR). Real Plaid returns it
    # only from /transactions/get, so use it with endpoint="/transactions/get".
    "product_not_ready",
]


@dataclass(frozen=True)
class Fault:
    """One scripted misbehaviour of the emulator for one item.

    Faults are queued per item and consumed in order: a request for ``endpoint`` on the item
    takes the first queued fault for that endpoint and uses up one of its ``times``.

    - ``rate_limit``: 429 RATE_LIMIT_EXCEEDED (code TRANSACTIONS_SYNC_LIMIT on /transactions/sync,
      the endpoint's own limit code elsewhere, RATE_LIMIT when Plaid documents none).
    - ``internal_error``: 500 API_ERROR/INTERNAL_SERVER_ERROR.
    - ``planned_maintenance``: 503 API_ERROR/PLANNED_MAINTENANCE.
    - ``mutation_during_pagination``: when page ``at_page`` (1-based, default 2) of a
      /transactions/sync pagination run is requested, a real transaction is added to the item and
      the request fails with 400 TRANSACTIONS_SYNC_MUTATION_DURING_PAGINATION; requests for other
      pages pass through without using the fault up.
    - ``item_login_required``: marks the item login-required (like /sandbox/item/reset_login)
      until a new public token is exchanged for it; ``times`` does not apply.
    - ``invalid_access_token``: 400 INVALID_INPUT/INVALID_ACCESS_TOKEN; the token stays valid.
    - ``slow``: sleeps ``delay_seconds`` and then answers normally.
    - ``drop_connection``: closes the socket without sending a response.
    - ``malformed``: 200 with a body that lacks a required key.
    - ``product_not_ready``: 400 ITEM_ERROR/PRODUCT_NOT_READY.
    """

    kind: FaultKind
    endpoint: str = "/transactions/sync"
    times: int = 1
    at_page: int | None = None
    delay_seconds: float = 0.0

    def __post_init__(self) -> None:
        if self.times < 1:
            raise ValueError("Fault.times must be at least 1")
        if self.at_page is not None and self.at_page < 1:
            raise ValueError("Fault.at_page is 1-based")
        if self.delay_seconds < 0:
            raise ValueError("Fault.delay_seconds must not be negative")


class DropConnection(Exception):
    """Raised by :meth:`Emulator.handle` when the HTTP layer must close the socket unanswered."""
