"""Typed records at the engine's boundary: what a link, an open item and an alternative are.

The engine works on arrays and returns frames (:class:`recon.frames.MatchResult`), because that is
where speed lives. Everything after it (the store, the report model and every renderer) takes the
names, order and meaning of those frames' columns from the records below, and the values of
``status`` and ``kind`` from :class:`Status` and :class:`Kind`. Change a column here or nowhere.

``links``, ``discrepancies`` and ``alternatives`` turn a frame into records, one row at a time, for
code that works on a few thousand rows; bulk writers take the column tuples instead.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, fields
from datetime import date
from enum import StrEnum
from typing import Any, Final

import pandas as pd


class Status(StrEnum):
    """How sure recon is of a link."""

    MATCHED = "matched"  # auto-confirmed
    MATCHED_WITH_DIFFERENCE = "matched_with_difference"  # confirmed, amounts differ (a fee)
    SUGGESTED = "suggested"  # needs a human


class Kind(StrEnum):
    """What an open item is. The order is the order of the report's sections."""

    UNMATCHED_BANK = "unmatched_bank"
    UNMATCHED_LEDGER = "unmatched_ledger"
    AMOUNT_MISMATCH = "amount_mismatch"
    PROBABLE_DUPLICATE = "probable_duplicate"
    REVERSAL = "reversal"
    PENDING = "pending"


class ItemSide(StrEnum):
    """Which side an open item is on; ``both`` for a pair whose amounts disagree."""

    BANK = "bank"
    LEDGER = "ledger"
    BOTH = "both"


CONFIRMED: Final = frozenset({Status.MATCHED, Status.MATCHED_WITH_DIFFERENCE})


@dataclass(frozen=True, slots=True)
class Link:
    """One bank transaction linked with one ledger entry (a group is several links, one id)."""

    match_id: str  # stable: derived from the ids in the group
    bank_transaction_id: str
    ledger_entry_id: str
    status: Status
    rule: str  # the pass that made the link
    score: float  # 0..1, higher is better (a float: it is not money)
    amount_difference_minor: int  # bank minus ledger, for the group (same on each of its rows)
    date_difference_days: int  # bank date minus ledger date
    account: str
    currency: str
    explanation: str


@dataclass(frozen=True, slots=True)
class Discrepancy:
    """One open item: a row nothing matched, or a pair whose amounts disagree."""

    discrepancy_id: str  # stable across runs: derived from kind, side and ids
    kind: Kind
    side: ItemSide
    bank_transaction_id: str  # "" when not applicable
    ledger_entry_id: str  # "" when not applicable
    account: str
    date: date
    amount_minor: int  # the open amount; for amount_mismatch, bank minus ledger
    currency: str
    age_days: int
    description: str
    explanation: str
    nearest_candidate: str  # id of the nearest other-side item, "" if none


@dataclass(frozen=True, slots=True)
class Alternative:
    """Another candidate a human should consider for a suggested link."""

    match_id: str  # the suggested link it competes with
    bank_transaction_id: str
    ledger_entry_id: str
    score: float


def columns(record: type[Any]) -> tuple[str, ...]:
    """The frame columns of a record type, in field order."""
    return tuple(f.name for f in fields(record))


LINK_COLUMNS: Final = columns(Link)
DISCREPANCY_COLUMNS: Final = columns(Discrepancy)
ALTERNATIVE_COLUMNS: Final = columns(Alternative)


def links(frame: pd.DataFrame) -> Iterator[Link]:
    """The rows of a links frame as records."""
    for row in frame[list(LINK_COLUMNS)].itertuples(index=False, name=None):
        (match_id, bank_id, ledger_id, status, rule, score, difference, days, account, currency,
         explanation) = row  # fmt: skip
        yield Link(
            str(match_id), str(bank_id), str(ledger_id), Status(status), str(rule), float(score),
            int(difference), int(days), str(account), str(currency), str(explanation),
        )  # fmt: skip


def discrepancies(frame: pd.DataFrame) -> Iterator[Discrepancy]:
    """The rows of a discrepancies frame as records."""
    for row in frame[list(DISCREPANCY_COLUMNS)].itertuples(index=False, name=None):
        (discrepancy_id, kind, side, bank_id, ledger_id, account, day, amount, currency, age,
         description, explanation, nearest) = row  # fmt: skip
        yield Discrepancy(
            str(discrepancy_id), Kind(kind), ItemSide(side), str(bank_id), str(ledger_id),
            str(account), pd.Timestamp(day).date(), int(amount), str(currency), int(age),
            str(description), str(explanation), str(nearest),
        )  # fmt: skip


def alternatives(frame: pd.DataFrame) -> Iterator[Alternative]:
    """The rows of an alternatives frame as records."""
    for match_id, bank_id, ledger_id, score in frame[list(ALTERNATIVE_COLUMNS)].itertuples(
        index=False, name=None
    ):
        yield Alternative(str(match_id), str(bank_id), str(ledger_id), float(score))
