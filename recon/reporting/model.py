"""The report model: everything finance sees, computed once, as frozen data (no I/O, no clock).

:func:`build_report` turns a :class:`ReportInputs` (the engine's MatchResult, what the store
carried forward, the window's movement totals and the item health) into a :class:`Report` that
every renderer (Excel, HTML, CSV, JSON) reads. Renderers format; they never compute totals.

Money stays integer minor units with its currency; ordering by materiality uses Decimal major
units so that JPY and USD items compare fairly.

The tie-out per account says why bank and ledger movements over the window differ::

    bank movement - ledger movement
      = + unmatched bank items + pending bank items + probable duplicates / reversals (by side)
        - unmatched ledger items
        + amount mismatches (bank minus ledger)
        + differences carried by links (matched, matched_with_difference, suggested)
        + unexplained difference   (0.00 when everything is explained)

A discrepancy's effect is ``+amount`` on the bank side, ``-amount`` on the ledger side and
``+amount`` for side ``both`` (the engine reports a pair's amount as bank minus ledger). The bank
movement is expected to include pending transactions, since they are reported as pending items.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Final

import pandas as pd

from recon.carry import CarryForward, DiscrepancyRef
from recon.config import AlertThreshold
from recon.errors import RowProblem
from recon.frames import DISCREPANCY_KINDS, MatchResult, cell_date
from recon.money import from_minor

KIND_TITLES: Final[Mapping[str, str]] = {
    "unmatched_bank": "Unmatched bank",
    "unmatched_ledger": "Unmatched ledger",
    "amount_mismatch": "Amount mismatch",
    "probable_duplicate": "Probable duplicate",
    "reversal": "Reversal",
    "pending": "Pending",
}
STATUS_TITLES: Final[Mapping[str, str]] = {
    "suggested": "Suggested (needs review)",
    "matched_with_difference": "Matched with difference",
    "matched": "Matched",
}
LINK_ORDER: Final = ("suggested", "matched_with_difference", "matched")  # suggested first
AGE_BUCKETS: Final = ("0-3", "4-7", "8-30", ">30")
# Kinds that do not count towards the alert threshold: pending items clear by themselves.
NOT_ALERTING: Final = frozenset({"pending"})
CONFIRMED: Final = frozenset({"matched", "matched_with_difference"})
CalendarDate = date  # for dataclasses that have a field named "date"


def age_bucket(age_days: int) -> str:
    if age_days <= 3:
        return "0-3"
    if age_days <= 7:
        return "4-7"
    if age_days <= 30:
        return "8-30"
    return ">30"


# --- inputs -------------------------------------------------------------------------------


@dataclass(frozen=True)
class AccountInfo:
    ledger_account: str
    name: str
    currency: str


@dataclass(frozen=True)
class ItemHealth:
    institution: str
    item_id: str
    last_successful_sync: datetime | None
    status: str  # active | needs_relink | token_lost | removed
    notes: tuple[str, ...] = ()  # webhook side: dead-lettered syncs, expiring consent


@dataclass(frozen=True)
class ReportInputs:
    run_id: str
    as_of: date
    window_start: date
    window_end: date
    generated_at: datetime
    account_set: str
    accounts: tuple[AccountInfo, ...]
    result: MatchResult
    carry_forward: CarryForward
    bank_movement_minor: Mapping[str, int]  # by ledger account: sum over the window, house sign
    ledger_movement_minor: Mapping[str, int]  # by ledger account: sum over the window
    plaid_balance_minor: Mapping[str, int | None] = field(default_factory=dict)
    item_health: tuple[ItemHealth, ...] = ()
    rejected_rows: tuple[RowProblem, ...] = ()
    threshold: AlertThreshold = field(default_factory=AlertThreshold)


# --- the report ---------------------------------------------------------------------------


@dataclass(frozen=True)
class CurrencyAmount:
    currency: str
    minor: int


@dataclass(frozen=True, slots=True)
class DiscrepancyLine:
    discrepancy_id: str
    kind: str
    side: str
    bank_transaction_id: str
    ledger_entry_id: str
    account: str
    currency: str
    date: date | None
    amount_minor: int
    age_days: int
    age_bucket: str
    description: str
    explanation: str
    nearest_candidate: str
    first_seen: CalendarDate
    status: str
    owner: str
    notes: str
    materiality: Decimal  # abs(amount in major units) * max(age, 1)


@dataclass(frozen=True, slots=True)
class LinkLine:
    match_id: str
    bank_transaction_id: str
    ledger_entry_id: str
    status: str
    rule: str
    score: float  # a similarity score, not money
    amount_difference_minor: int  # for the whole group, repeated on every row
    date_difference_days: int
    account: str
    currency: str
    explanation: str
    first_of_group: bool  # the row that carries the group's difference in the tie-out
    alternatives: str  # other candidates for suggested links, "" otherwise


@dataclass(frozen=True)
class KindSection:
    kind: str
    title: str
    lines: tuple[DiscrepancyLine, ...]  # by materiality, largest first
    total_abs: tuple[CurrencyAmount, ...]


@dataclass(frozen=True)
class StatusCount:
    status: str
    title: str
    groups: int
    links: int
    difference: tuple[CurrencyAmount, ...]  # sum of group differences


@dataclass(frozen=True)
class KindCount:
    kind: str
    title: str
    count: int
    open_count: int  # status open (not explained / written off)
    total_abs: tuple[CurrencyAmount, ...]
    by_bucket: tuple[int, ...]  # counts per AGE_BUCKETS


@dataclass(frozen=True)
class TieOut:
    account: str
    name: str
    currency: str
    bank_movement_minor: int
    ledger_movement_minor: int
    # Signed effect of each kind of outstanding item (see the module docstring).
    by_kind_minor: Mapping[str, int]
    # Sum of group differences per link status.
    link_difference_minor: Mapping[str, int]
    plaid_balance_minor: int | None

    @property
    def difference_minor(self) -> int:
        return self.bank_movement_minor - self.ledger_movement_minor

    @property
    def outstanding_minor(self) -> int:
        return sum(self.by_kind_minor.values()) + sum(self.link_difference_minor.values())

    @property
    def unexplained_minor(self) -> int:
        return self.difference_minor - self.outstanding_minor


@dataclass(frozen=True)
class Summary:
    run_id: str
    account_set: str
    as_of: date
    window_start: date
    window_end: date
    generated_at: datetime
    accounts: tuple[AccountInfo, ...]
    link_statuses: tuple[StatusCount, ...]
    discrepancy_kinds: tuple[KindCount, ...]
    discrepancy_count: int
    open_count: int
    open_total_abs: tuple[CurrencyAmount, ...]
    oldest_open_age_days: int | None
    bank_items: int  # bank transactions seen in links or discrepancies (pending excluded)
    bank_items_auto_matched: int
    auto_match_rate: float | None  # bank_items_auto_matched / bank_items; None when no items
    item_health: tuple[ItemHealth, ...]
    items_needing_relink: tuple[ItemHealth, ...]
    rejected_row_count: int


@dataclass(frozen=True)
class ThresholdCheck:
    exceeded: bool
    reasons: tuple[str, ...]


@dataclass(frozen=True)
class ChangesSection:
    previous_as_of: date | None
    new_discrepancies: tuple[DiscrepancyRef, ...]
    resolved_discrepancies: tuple[DiscrepancyRef, ...]
    matches_added: tuple[str, ...]
    matches_removed: tuple[str, ...]


@dataclass(frozen=True)
class Report:
    summary: Summary
    threshold: ThresholdCheck
    tie_outs: tuple[TieOut, ...]
    sections: tuple[KindSection, ...]  # one per kind in DISCREPANCY_KINDS order, empty ones too
    links: tuple[LinkLine, ...]  # suggested first
    changes: ChangesSection
    rejected_rows: tuple[RowProblem, ...]

    @property
    def discrepancies(self) -> Iterable[DiscrepancyLine]:
        for section in self.sections:
            yield from section.lines


# --- building -----------------------------------------------------------------------------


def build_report(inputs: ReportInputs) -> Report:
    lines = _discrepancy_lines(inputs)
    sections = tuple(
        KindSection(
            kind=kind,
            title=KIND_TITLES[kind],
            lines=tuple(sorted(
                (line for line in lines if line.kind == kind),
                key=lambda line: (-line.materiality, line.discrepancy_id),
            )),
            total_abs=_totals((line.currency, abs(line.amount_minor))
                              for line in lines if line.kind == kind),
        )
        for kind in DISCREPANCY_KINDS
    )
    links = _link_lines(inputs.result)
    summary = _summary(inputs, sections, links)
    changes = inputs.carry_forward.changes
    return Report(
        summary=summary,
        threshold=_check_threshold(inputs.threshold, lines),
        tie_outs=_tie_outs(inputs, lines, links),
        sections=sections,
        links=links,
        changes=ChangesSection(
            previous_as_of=changes.previous_as_of,
            new_discrepancies=changes.new_discrepancies,
            resolved_discrepancies=changes.resolved_discrepancies,
            matches_added=changes.matches_added,
            matches_removed=changes.matches_removed,
        ),
        rejected_rows=inputs.rejected_rows,
    )


def _text(value: Any) -> str:
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return ""
    return str(value)


def _columns(frame: pd.DataFrame, names: Iterable[str]) -> Iterable[tuple[Any, ...]]:
    """Rows as tuples of plain Python values (fast: one tolist() per column)."""
    return zip(*(frame[name].tolist() for name in names), strict=True)


def _discrepancy_lines(inputs: ReportInputs) -> list[DiscrepancyLine]:
    annotations = inputs.carry_forward.annotations
    names = ("discrepancy_id", "kind", "side", "bank_transaction_id", "ledger_entry_id",
             "account", "date", "amount_minor", "currency", "age_days", "description",
             "explanation", "nearest_candidate")
    lines = []
    for (did, kind, side, bank_id, ledger_id, account, day, amount, currency, age, description,
         explanation, nearest) in _columns(inputs.result.discrepancies, names):
        did = str(did)
        age_days = int(age)
        amount_minor = int(amount)
        note = annotations.get(did)
        lines.append(DiscrepancyLine(
            discrepancy_id=did,
            kind=str(kind),
            side=str(side),
            bank_transaction_id=_text(bank_id),
            ledger_entry_id=_text(ledger_id),
            account=_text(account),
            currency=str(currency),
            date=cell_date(day),
            amount_minor=amount_minor,
            age_days=age_days,
            age_bucket=age_bucket(age_days),
            description=_text(description),
            explanation=_text(explanation),
            nearest_candidate=_text(nearest),
            first_seen=note.first_seen if note else inputs.as_of,
            status=note.status if note else "open",
            owner=(note.owner or "") if note else "",
            notes=(note.notes or "") if note else "",
            materiality=abs(from_minor(amount_minor, str(currency))) * max(age_days, 1),
        ))
    return lines


def _alternatives_by_match(frame: pd.DataFrame) -> dict[str, str]:
    grouped: dict[str, list[str]] = defaultdict(list)
    for match_id, bank_id, ledger_id, score in _columns(
        frame, ("match_id", "bank_transaction_id", "ledger_entry_id", "score")
    ):
        ids = "/".join(i for i in (_text(bank_id), _text(ledger_id)) if i)
        grouped[str(match_id)].append(f"{ids} ({float(score):.2f})")
    return {match_id: "; ".join(sorted(items)) for match_id, items in grouped.items()}


def _link_lines(result: MatchResult) -> tuple[LinkLine, ...]:
    alternatives = _alternatives_by_match(result.alternatives)
    order = {status: index for index, status in enumerate(LINK_ORDER)}
    names = ("match_id", "bank_transaction_id", "ledger_entry_id", "status", "rule", "score",
             "amount_difference_minor", "date_difference_days", "account", "currency",
             "explanation")
    rows = sorted(
        _columns(result.links, names),
        key=lambda r: (order.get(str(r[3]), len(order)), str(r[0]), _text(r[1]), _text(r[2])),
    )
    lines = []
    previous_match = None
    for (match_id, bank_id, ledger_id, status, rule, score, difference, days, account,
         currency, explanation) in rows:
        match_id = str(match_id)
        lines.append(LinkLine(
            match_id=match_id,
            bank_transaction_id=_text(bank_id),
            ledger_entry_id=_text(ledger_id),
            status=str(status),
            rule=_text(rule),
            score=float(score),
            amount_difference_minor=int(difference),
            date_difference_days=int(days),
            account=_text(account),
            currency=str(currency),
            explanation=_text(explanation),
            first_of_group=match_id != previous_match,
            alternatives=alternatives.get(match_id, "") if status == "suggested" else "",
        ))
        previous_match = match_id
    return tuple(lines)


def _totals(pairs: Iterable[tuple[str, int]]) -> tuple[CurrencyAmount, ...]:
    totals: dict[str, int] = defaultdict(int)
    for currency, minor in pairs:
        totals[currency] += minor
    return tuple(CurrencyAmount(c, totals[c]) for c in sorted(totals))


def discrepancy_effect(side: str, amount_minor: int) -> int:
    """How one discrepancy explains (bank movement - ledger movement)."""
    return -amount_minor if side == "ledger" else amount_minor


def _tie_outs(
    inputs: ReportInputs, lines: list[DiscrepancyLine], links: tuple[LinkLine, ...]
) -> tuple[TieOut, ...]:
    by_kind: dict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys(DISCREPANCY_KINDS, 0))
    for line in lines:
        by_kind[line.account][line.kind] += discrepancy_effect(line.side, line.amount_minor)
    by_status: dict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys(LINK_ORDER, 0))
    for link in links:
        if link.first_of_group:
            by_status[link.account][link.status] += link.amount_difference_minor
    return tuple(
        TieOut(
            account=account.ledger_account,
            name=account.name,
            currency=account.currency,
            bank_movement_minor=int(inputs.bank_movement_minor.get(account.ledger_account, 0)),
            ledger_movement_minor=int(inputs.ledger_movement_minor.get(account.ledger_account, 0)),
            by_kind_minor=dict(by_kind[account.ledger_account]),
            link_difference_minor=dict(by_status[account.ledger_account]),
            plaid_balance_minor=inputs.plaid_balance_minor.get(account.ledger_account),
        )
        for account in inputs.accounts
    )


def _summary(
    inputs: ReportInputs, sections: tuple[KindSection, ...], links: tuple[LinkLine, ...]
) -> Summary:
    groups: dict[str, set[str]] = defaultdict(set)
    link_counts: dict[str, int] = defaultdict(int)
    differences: dict[str, list[tuple[str, int]]] = defaultdict(list)
    bank_ids: set[str] = set()
    confirmed_bank_ids: set[str] = set()
    for link in links:
        groups[link.status].add(link.match_id)
        link_counts[link.status] += 1
        if link.first_of_group:
            differences[link.status].append((link.currency, link.amount_difference_minor))
        if link.bank_transaction_id:
            bank_ids.add(link.bank_transaction_id)
            if link.status in CONFIRMED:
                confirmed_bank_ids.add(link.bank_transaction_id)
    kind_counts = []
    open_lines: list[DiscrepancyLine] = []
    all_count = 0
    for section in sections:
        buckets = dict.fromkeys(AGE_BUCKETS, 0)
        open_in_kind = 0
        for line in section.lines:
            buckets[line.age_bucket] += 1
            if line.bank_transaction_id and line.kind != "pending":
                bank_ids.add(line.bank_transaction_id)
            if line.status == "open":
                open_in_kind += 1
                open_lines.append(line)
        all_count += len(section.lines)
        kind_counts.append(KindCount(
            kind=section.kind, title=section.title, count=len(section.lines),
            open_count=open_in_kind, total_abs=section.total_abs,
            by_bucket=tuple(buckets[b] for b in AGE_BUCKETS),
        ))
    relink = tuple(item for item in inputs.item_health if item.status != "active")
    return Summary(
        run_id=inputs.run_id,
        account_set=inputs.account_set,
        as_of=inputs.as_of,
        window_start=inputs.window_start,
        window_end=inputs.window_end,
        generated_at=inputs.generated_at,
        accounts=inputs.accounts,
        link_statuses=tuple(
            StatusCount(status, STATUS_TITLES[status], len(groups[status]), link_counts[status],
                        _totals(differences[status]))
            for status in LINK_ORDER
        ),
        discrepancy_kinds=tuple(kind_counts),
        discrepancy_count=all_count,
        open_count=len(open_lines),
        open_total_abs=_totals((line.currency, abs(line.amount_minor)) for line in open_lines),
        oldest_open_age_days=max((line.age_days for line in open_lines), default=None),
        bank_items=len(bank_ids),
        bank_items_auto_matched=len(confirmed_bank_ids),
        auto_match_rate=len(confirmed_bank_ids) / len(bank_ids) if bank_ids else None,
        item_health=inputs.item_health,
        items_needing_relink=relink,
        rejected_row_count=len(inputs.rejected_rows),
    )


def _check_threshold(threshold: AlertThreshold, lines: list[DiscrepancyLine]) -> ThresholdCheck:
    """Open items (not explained or written off, not pending) against the configured limits."""
    alerting = [line for line in lines if line.status == "open" and line.kind not in NOT_ALERTING]
    reasons = []
    if threshold.count is not None and len(alerting) > threshold.count:
        reasons.append(f"{len(alerting)} open discrepancies (threshold {threshold.count})")
    limits = threshold.total_amount or {}
    for total in _totals((line.currency, abs(line.amount_minor)) for line in alerting):
        amount = from_minor(total.minor, total.currency)
        limit = limits.get(total.currency)
        if limit is not None and amount > limit:
            reasons.append(f"open amount {amount:,} {total.currency} (threshold {limit:,})")
    if threshold.oldest_age_days is not None and alerting:
        oldest = max(line.age_days for line in alerting)
        if oldest > threshold.oldest_age_days:
            reasons.append(f"oldest open item is {oldest} days old "
                           f"(threshold {threshold.oldest_age_days})")
    return ThresholdCheck(exceeded=bool(reasons), reasons=tuple(reasons))
