"""What carries from night to night: analysts' annotations and the changes since the last run.

Plain data, without the store: the store (:mod:`recon.store.results`) builds these from its
tables, and the report model reads them, so reporting never imports the store.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Final

from recon.frames import MatchResult
from recon.records import Discrepancy, discrepancies

OPEN: Final = "open"
RESOLVED: Final = "resolved"
ANALYST_STATUSES: Final = ("open", "explained", "written_off")


@dataclass(frozen=True)
class Annotation:
    """What the store knows about a reported discrepancy beyond this run's result."""

    first_seen: date
    status: str  # open | explained | written_off (a reported item is never "resolved")
    owner: str | None
    notes: str | None


@dataclass(frozen=True)
class DiscrepancyRef:
    """A discrepancy named in "changes since the last run"."""

    discrepancy_id: str
    kind: str
    account: str
    currency: str
    amount_minor: int
    date: date | None
    description: str
    bank_transaction_id: str = ""
    ledger_entry_id: str = ""
    how: str = ""  # for a resolved one: matched late | explained | written off | ...
    previous_amount_minor: int | None = None  # for an amount change
    previous_status: str | None = None  # for a status or owner change
    previous_owner: str | None = None
    status: str | None = None
    owner: str | None = None


@dataclass(frozen=True)
class Changes:
    """This reconciliation compared with the previous run that saved results for the same
    accounts (a same-day re-run included), not with the previous as-of date."""

    previous_run_id: str | None
    previous_as_of: date | None
    new_discrepancies: tuple[DiscrepancyRef, ...]
    resolved_discrepancies: tuple[DiscrepancyRef, ...]
    matches_added: tuple[str, ...]  # match ids present now but not in the previous run
    matches_removed: tuple[str, ...]  # match ids of the previous run that are gone now
    amount_changes: tuple[DiscrepancyRef, ...] = ()
    status_changes: tuple[DiscrepancyRef, ...] = ()


@dataclass(frozen=True)
class SignOff:
    """Who prepared and who reviewed an account's statement (from the workbook)."""

    prepared_by: str | None = None
    prepared_on: date | None = None
    reviewed_by: str | None = None
    reviewed_on: date | None = None


@dataclass(frozen=True)
class CarryForward:
    as_of: date
    annotations: Mapping[str, Annotation]  # by discrepancy_id, for every reported discrepancy
    changes: Changes

    @classmethod
    def without_history(cls, as_of: date, result: MatchResult) -> CarryForward:
        """For ``recon match`` (no state store): every item is new and open today."""
        by_id = {d.discrepancy_id: _ref(d) for d in discrepancies(result.discrepancies)}
        refs = tuple(by_id.values())
        return cls(
            as_of=as_of,
            annotations={r.discrepancy_id: Annotation(as_of, OPEN, None, None) for r in refs},
            changes=Changes(None, None, refs, (), (), ()),
        )


def _ref(item: Discrepancy) -> DiscrepancyRef:
    return DiscrepancyRef(
        discrepancy_id=item.discrepancy_id,
        kind=item.kind.value,
        account=item.account,
        currency=item.currency,
        amount_minor=item.amount_minor,
        date=item.date,
        description=item.description,
        bank_transaction_id=item.bank_transaction_id,
        ledger_entry_id=item.ledger_entry_id,
    )
