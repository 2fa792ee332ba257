"""The report model: everything finance sees, computed once, as frozen data (no I/O, no clock).

:func:`build_report` turns a :class:`ReportInputs` (the engine's MatchResult, the bank and ledger
rows it refers to, the balances at the as-of date, what the store carried forward and the item
health) into a :class:`Report` that every renderer (Excel, HTML, CSV, JSON) reads. Renderers
format; they never compute totals.

**The bank reconciliation statement** (one per account, the layout controllers know)::

    balance per bank at the as-of date           balance per books at the as-of date
    + deposits in transit                         + bank credits not in the books (interest...)
    - outstanding checks and payments             - bank charges not in the books
    + / - pending at the bank (booked already)    + / - errors, duplicate postings, differences
    - / + bank errors (duplicate charges)
    = adjusted bank balance                       = adjusted book balance

    difference = adjusted bank balance - adjusted book balance

The balances come from outside the matched rows (Plaid's balance backed out to the as-of date;
the general ledger's trial balance, or an opening balance rolled forward with the ledger), so
the difference is zero only when the books and the bank really agree. The older identity, bank
movement minus ledger movement over the window explained by the open items, is kept as a
separate *completeness check* (:class:`TieOut`): it is zero by construction unless a row was
lost between matching and reporting.

**Items by treatment.** Open items are folded before they are counted: a pending bank row and
the ledger entry booked for it are one timing item, a reversal and the debit it reverses are
one item that nets to zero. Each item has a category (:class:`Category`), which says on which
side of the statement it adjusts, with which sign, and what the controller does about it:
wait (timing), post a journal entry (entry, with a proposed entry), or ask the bank (bank).
The open count everywhere (cards, alerts, JSON, the printed summary) is the count of items.

Money stays integer minor units with its currency; each item also has its amount in the
functional currency (FX rates from config), which orders items by materiality across
currencies.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import ROUND_HALF_EVEN, Decimal
from enum import StrEnum
from typing import Any, Final

import numpy as np
import pandas as pd

from recon.carry import Annotation, CarryForward, Changes, SignOff
from recon.config import AlertThreshold, StatementConfig
from recon.errors import RowProblem
from recon.frames import MatchResult, cell_date
from recon.money import currency_exponent, from_minor
from recon.records import CONFIRMED, ItemSide, Kind, Status

KIND_TITLES: Final[Mapping[str, str]] = {
    Kind.UNMATCHED_BANK: "In the bank, not in the books",
    Kind.UNMATCHED_LEDGER: "In the books, not at the bank",
    Kind.AMOUNT_MISMATCH: "Amounts differ",
    Kind.PROBABLE_DUPLICATE: "Probable duplicate",
    Kind.REVERSAL: "Reversed at the bank",
    Kind.PENDING: "Pending at the bank",
}
STATUS_TITLES: Final[Mapping[str, str]] = {
    Status.SUGGESTED: "Suggested (needs review)",
    Status.MATCHED_WITH_DIFFERENCE: "Matched with a difference",
    Status.MATCHED: "Matched",
}
LINK_ORDER: Final = (Status.SUGGESTED, Status.MATCHED_WITH_DIFFERENCE, Status.MATCHED)
AGE_BUCKETS: Final = ("0-3", "4-7", "8-30", ">30")
CalendarDate = date  # for dataclasses that have a field named "date"


class Treatment(StrEnum):
    """What the controller does about an item."""

    TIMING = "timing"  # nothing: it clears when the bank catches up
    ENTRY = "entry"  # post the proposed journal entry
    BANK = "bank"  # ask the bank to correct it
    NONE = "none"  # nets to zero (a reversal pair): no effect, shown once


TREATMENT_TITLES: Final[Mapping[str, str]] = {
    Treatment.TIMING: "Timing: clears by itself",
    Treatment.NONE: "No effect (reversed)",
    Treatment.ENTRY: "Needs a journal entry",
    Treatment.BANK: "Ask the bank to correct",
}
# The same, as counted in a sentence: "30 clear by themselves, 37 need a journal entry".
TREATMENT_PHRASES: Final[Mapping[str, str]] = {
    Treatment.TIMING: "clear by themselves",
    Treatment.NONE: "reversed (no effect)",
    Treatment.ENTRY: "need a journal entry",
    Treatment.BANK: "to take up with the bank",
}
# The two lists finance works from: items that only need time, and items that need action.
TIMING_GROUP: Final = (Treatment.TIMING, Treatment.NONE)
ACTION_GROUP: Final = (Treatment.ENTRY, Treatment.BANK)


class Category(StrEnum):
    """A statement line: where an item adjusts the statement and what it needs."""

    DEPOSIT_IN_TRANSIT = "deposit_in_transit"
    OUTSTANDING_PAYMENT = "outstanding_payment"
    PENDING_AT_BANK = "pending_at_bank"
    BANK_ERROR = "bank_error"
    BANK_CHARGE = "bank_charge"
    INTEREST = "interest"
    UNRECORDED = "unrecorded"
    BOOK_ERROR = "book_error"
    DUPLICATE_POSTING = "duplicate_posting"
    LINK_DIFFERENCE = "link_difference"
    REVERSAL = "reversal"
    PENDING_NOT_BOOKED = "pending_not_booked"


@dataclass(frozen=True)
class CategoryInfo:
    title: str  # the statement line
    label: str  # one item of it, in a list
    side: str  # "bank" | "book" | "none": which balance the item adjusts
    treatment: Treatment
    offset: str  # JournalAccounts field of the entry's other side, "" when no entry


CATEGORIES: Final[Mapping[Category, CategoryInfo]] = {
    Category.DEPOSIT_IN_TRANSIT: CategoryInfo(
        "Add: deposits in transit",
        "Deposit in transit", "bank", Treatment.TIMING, "",
    ),
    Category.OUTSTANDING_PAYMENT: CategoryInfo(
        "Less: outstanding checks and payments",
        "Outstanding check or payment", "bank", Treatment.TIMING, "",
    ),
    Category.PENDING_AT_BANK: CategoryInfo(
        "Add/less: pending at the bank, already booked",
        "Pending at the bank, booked", "bank", Treatment.TIMING, "",
    ),
    Category.BANK_ERROR: CategoryInfo(
        "Less/add: bank errors (charged or credited twice)",
        "Bank error: charged or credited twice", "bank", Treatment.BANK, "",
    ),
    Category.INTEREST: CategoryInfo(
        "Add: interest not yet in the books",
        "Interest not in the books", "book", Treatment.ENTRY, "interest_income",
    ),
    Category.BANK_CHARGE: CategoryInfo(
        "Less: bank charges not yet in the books",
        "Bank charge not in the books", "book", Treatment.ENTRY, "bank_charges",
    ),
    Category.UNRECORDED: CategoryInfo(
        "Add/less: other bank transactions not in the books",
        "Bank transaction not in the books", "book", Treatment.ENTRY, "suspense",
    ),
    Category.BOOK_ERROR: CategoryInfo(
        "Add/less: amounts booked wrongly",
        "Amount booked wrongly", "book", Treatment.ENTRY, "suspense",
    ),
    Category.DUPLICATE_POSTING: CategoryInfo(
        "Less/add: entries posted twice",
        "Entry posted twice", "book", Treatment.ENTRY, "suspense",
    ),
    Category.LINK_DIFFERENCE: CategoryInfo(
        "Add/less: differences on matched items (fees, rounding)",
        "Difference on a matched item", "book", Treatment.ENTRY, "differences",
    ),
    Category.REVERSAL: CategoryInfo(
        "Reversed at the bank (net)",
        "Reversed at the bank", "book", Treatment.NONE, "suspense",
    ),
    Category.PENDING_NOT_BOOKED: CategoryInfo(
        "Pending at the bank, not booked (not in either balance)",
        "Pending at the bank, not booked", "none", Treatment.TIMING, "",
    ),
}
BANK_SIDE: Final = tuple(c for c, i in CATEGORIES.items() if i.side == "bank")
BOOK_SIDE: Final = tuple(c for c, i in CATEGORIES.items() if i.side == "book")


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
class Balance:
    """A balance at the as-of date (None when no source gives one) and where it came from."""

    minor: int | None
    source: str


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
    # The rows the result refers to (frames.BANK_COLUMNS / LEDGER_COLUMNS): both sides in words.
    bank: pd.DataFrame | None = None
    ledger: pd.DataFrame | None = None
    bank_balance: Mapping[str, Balance] = field(default_factory=dict)
    books_balance: Mapping[str, Balance] = field(default_factory=dict)
    statement: StatementConfig = field(default_factory=StatementConfig)
    sign_offs: Mapping[str, SignOff] = field(default_factory=dict)
    item_health: tuple[ItemHealth, ...] = ()
    rejected_rows: tuple[RowProblem, ...] = ()
    threshold: AlertThreshold = field(default_factory=AlertThreshold)


# --- rows in words ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RowView:
    """One bank transaction or ledger entry as a person reads it."""

    id: str
    date: date | None
    amount_minor: int
    currency: str
    description: str


class RowLookup:
    """Rows of a bank or ledger frame by id (vectorised: a million ids in well under a second).

    Text columns stay as the frame holds them (Arrow-backed strings under pandas 3): only the
    rows a renderer asks for become Python strings, so a million-row frame is not copied.
    """

    def __init__(self, frame: pd.DataFrame | None, id_column: str) -> None:
        if frame is None or frame.empty:
            frame = pd.DataFrame({id_column: pd.Series([], dtype=object),
                                  "date": pd.Series([], dtype="datetime64[ns]"),
                                  "amount_minor": pd.Series([], dtype="int64"),
                                  "currency": pd.Series([], dtype=object),
                                  "description": pd.Series([], dtype=object)})
        ids = frame[id_column]
        unique = ~ids.duplicated().to_numpy()
        keep = unique if not unique.all() else slice(None)
        self._index = pd.Index(ids[keep])
        # Calendar days; .item() of a datetime64[D] is a datetime.date (None for NaT).
        self._days = pd.to_datetime(frame["date"]).to_numpy().astype("datetime64[D]")[keep]
        self._amounts = frame["amount_minor"].to_numpy(dtype=np.int64)[keep]
        self._currencies = frame["currency"][keep].reset_index(drop=True)
        self._descriptions = frame["description"][keep].reset_index(drop=True)

    def positions(self, ids: Sequence[str] | np.ndarray | pd.Series) -> np.ndarray:
        if len(self._index) == 0:
            return np.full(len(ids), -1, dtype=np.int64)
        found: np.ndarray = self._index.get_indexer(pd.Index(ids))
        return found

    def views(self, positions: np.ndarray) -> list[RowView | None]:
        """The rows at ``positions`` (-1: none) in words, converted only for those rows."""
        have = np.flatnonzero(positions >= 0)
        at = positions[have]
        ids = self._index.take(at).tolist()
        currencies = self._currencies.take(at).tolist()
        descriptions = self._descriptions.take(at).tolist()
        out: list[RowView | None] = [None] * len(positions)
        for k, (i, p) in enumerate(zip(have.tolist(), at.tolist(), strict=True)):
            out[i] = RowView(id=str(ids[k]), date=self._days[p].item(),
                             amount_minor=int(self._amounts[p]), currency=str(currencies[k]),
                             description=_text(descriptions[k]))
        return out

    def get(self, row_id: str) -> RowView | None:
        if not row_id:
            return None
        return self.views(self.positions([row_id]))[0]

    def many(self, ids: Sequence[str] | np.ndarray | pd.Series) -> list[RowView | None]:
        return self.views(self.positions(ids))


# --- the report ---------------------------------------------------------------------------


@dataclass(frozen=True)
class CurrencyAmount:
    currency: str
    minor: int


@dataclass(frozen=True, slots=True)
class JournalLine:
    """One line of a proposed journal entry (debit or credit, never both)."""

    entry_id: str  # the item's id: one entry per item
    date: date
    account: str
    debit_minor: int
    credit_minor: int
    currency: str
    memo: str


@dataclass(frozen=True, slots=True)
class Item:
    """One open item as finance handles it (one or two engine discrepancies, or a link's
    difference), with both sides in words."""

    item_id: str  # a discrepancy_id (the first of the members), or a match_id for a difference
    member_ids: tuple[str, ...]  # every discrepancy_id folded into this item ("" for links)
    kind: str  # the engine's kind of the first member ("" for a link difference)
    category: Category
    treatment: Treatment
    account: str
    currency: str
    date: date | None
    amount_minor: int  # the item's size in its currency (a pair: the ledger entry's amount)
    effect_minor: int  # signed adjustment on the statement side of its category
    functional: Decimal | None  # amount in the functional currency (None: no rate)
    age_days: int
    age_bucket: str
    first_seen: CalendarDate
    status: str  # open | explained | written_off
    owner: str
    notes: str
    bank: RowView | None
    ledger: RowView | None
    other: RowView | None  # the reversal's other half, or the nearest candidate
    other_label: str  # "reversed by" / "nearest ledger entry" / "nearest bank transaction"
    explanation: str
    journal: tuple[JournalLine, ...]

    @property
    def materiality(self) -> Decimal:
        return abs(self.functional) if self.functional is not None else Decimal(0)

    @property
    def discrepancy_ids(self) -> tuple[str, ...]:
        return tuple(i for i in self.member_ids if i)


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
    first_of_group: bool  # the row that carries the group's difference
    alternatives: str  # other candidates for suggested links, in words; "" otherwise
    bank: RowView | None
    ledger: RowView | None


@dataclass(frozen=True, eq=False)
class LinkTable:
    """Every link, suggested first, as a frame (a million links are never a million objects);
    :meth:`lines` gives rows in words for what a renderer shows."""

    frame: pd.DataFrame  # LINK_COLUMNS + first_of_group + alternatives, in report order
    bank_rows: RowLookup
    ledger_rows: RowLookup

    def __len__(self) -> int:
        return len(self.frame)

    def lines(self, positions: Iterable[int] | None = None) -> list[LinkLine]:
        frame = self.frame if positions is None else self.frame.iloc[list(positions)]
        banks = self.bank_rows.many(frame["bank_transaction_id"].to_numpy())
        ledgers = self.ledger_rows.many(frame["ledger_entry_id"].to_numpy())
        names = ("match_id", "bank_transaction_id", "ledger_entry_id", "status", "rule",
                 "score", "amount_difference_minor", "date_difference_days", "account",
                 "currency", "explanation", "first_of_group", "alternatives")
        return [
            LinkLine(str(m), _text(b), _text(lg), str(s), _text(r), float(sc), int(d), int(dd),
                     _text(a), str(c), _text(e), bool(f), _text(alt), bank, ledger)
            for (m, b, lg, s, r, sc, d, dd, a, c, e, f, alt), bank, ledger in zip(
                _columns(frame, names), banks, ledgers, strict=True)
        ]  # fmt: skip

    def positions_where(self, mask: np.ndarray) -> np.ndarray:
        found: np.ndarray = np.flatnonzero(mask)
        return found


@dataclass(frozen=True)
class StatementLine:
    category: Category
    title: str
    count: int
    total_minor: int  # signed: what it adds to its side


@dataclass(frozen=True)
class Statement:
    """The bank reconciliation statement of one account at the as-of date."""

    account: str
    name: str
    currency: str
    bank_balance: Balance
    bank_lines: tuple[StatementLine, ...]
    books_balance: Balance
    book_lines: tuple[StatementLine, ...]
    sign_off: SignOff

    @property
    def adjusted_bank_minor(self) -> int | None:
        if self.bank_balance.minor is None:
            return None
        return self.bank_balance.minor + sum(line.total_minor for line in self.bank_lines)

    @property
    def adjusted_book_minor(self) -> int | None:
        if self.books_balance.minor is None:
            return None
        return self.books_balance.minor + sum(line.total_minor for line in self.book_lines)

    @property
    def difference_minor(self) -> int | None:
        bank, book = self.adjusted_bank_minor, self.adjusted_book_minor
        return None if bank is None or book is None else bank - book


@dataclass(frozen=True)
class StatusCount:
    status: str
    title: str
    groups: int
    links: int
    difference: tuple[CurrencyAmount, ...]  # sum of group differences


@dataclass(frozen=True)
class TreatmentCount:
    treatment: Treatment
    title: str
    count: int
    open_count: int
    functional_abs: Decimal  # sum of |functional amount| of the open items
    by_bucket: tuple[int, ...]  # open items per AGE_BUCKETS


@dataclass(frozen=True)
class TieOut:
    """The completeness check: bank minus ledger movement over the window, explained by the
    open items and link differences. Zero unless rows went missing between matching and the
    report; it says nothing about balances (the statement does)."""

    account: str
    name: str
    currency: str
    bank_movement_minor: int
    ledger_movement_minor: int
    items_minor: int  # what the open discrepancies explain
    links_minor: int  # what link differences explain

    @property
    def difference_minor(self) -> int:
        return self.bank_movement_minor - self.ledger_movement_minor

    @property
    def unexplained_minor(self) -> int:
        return self.difference_minor - self.items_minor - self.links_minor


@dataclass(frozen=True)
class Summary:
    run_id: str
    account_set: str
    as_of: date
    window_start: date
    window_end: date
    generated_at: datetime
    accounts: tuple[AccountInfo, ...]
    functional_currency: str
    link_statuses: tuple[StatusCount, ...]
    treatments: tuple[TreatmentCount, ...]
    item_count: int
    open_count: int  # the one open count: items (not engine rows) not explained / written off
    open_functional_abs: Decimal
    open_total_abs: tuple[CurrencyAmount, ...]
    oldest_open_age_days: int | None
    bank_items: int  # bank transactions seen in links or discrepancies (pending excluded)
    bank_items_auto_matched: int
    auto_match_rate: float | None  # bank_items_auto_matched / bank_items; None when no items
    item_health: tuple[ItemHealth, ...]
    items_needing_relink: tuple[ItemHealth, ...]
    rejected_row_count: int
    statements_tie: bool  # every statement with both balances has a zero difference
    missing_fx_rates: tuple[str, ...] = ()  # account currencies config gives no rate for


@dataclass(frozen=True)
class ThresholdCheck:
    exceeded: bool
    reasons: tuple[str, ...]


@dataclass(frozen=True, eq=False)
class Report:
    summary: Summary
    threshold: ThresholdCheck
    statements: tuple[Statement, ...]
    tie_outs: tuple[TieOut, ...]
    items: tuple[Item, ...]  # by treatment group, then materiality, largest first
    links: LinkTable  # suggested first
    suggestions: tuple[LinkLine, ...]  # every suggested link, in words
    changes: Changes
    rejected_rows: tuple[RowProblem, ...]
    discrepancy_frame: pd.DataFrame  # the engine's discrepancies, one row per id

    def items_of(self, treatments: Iterable[Treatment]) -> tuple[Item, ...]:
        wanted = set(treatments)
        return tuple(item for item in self.items if item.treatment in wanted)

    @property
    def journal(self) -> Iterator[JournalLine]:
        for item in self.items:
            yield from item.journal

    @property
    def discrepancy_ids(self) -> list[str]:
        return [i for item in self.items for i in item.discrepancy_ids]


# --- building -----------------------------------------------------------------------------


def build_report(inputs: ReportInputs) -> Report:
    bank_rows = RowLookup(inputs.bank, "transaction_id")
    ledger_rows = RowLookup(inputs.ledger, "entry_id")
    links = _link_table(inputs, bank_rows, ledger_rows)
    items = _items(inputs, links, bank_rows, ledger_rows)
    statements = _statements(inputs, items)
    summary = _summary(inputs, items, links, statements)
    suggested = links.positions_where(links.frame["status"].to_numpy() == Status.SUGGESTED)
    return Report(
        summary=summary,
        threshold=_check_threshold(inputs.threshold, items),
        statements=statements,
        tie_outs=_tie_outs(inputs, items),
        items=items,
        links=links,
        suggestions=tuple(links.lines(suggested)),
        changes=inputs.carry_forward.changes,
        rejected_rows=inputs.rejected_rows,
        discrepancy_frame=inputs.result.discrepancies.drop_duplicates("discrepancy_id"),
    )


def _text(value: Any) -> str:
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return ""
    return str(value)


def _columns(frame: pd.DataFrame, names: Iterable[str]) -> Iterator[tuple[Any, ...]]:
    """Rows as tuples of plain Python values (fast: one tolist() per column)."""
    return zip(*(frame[name].tolist() for name in names), strict=True)


def words(row: RowView | None) -> str:
    """'2026-11-02 -120.00 USD ACME SUPPLIES' (for texts the model builds)."""
    if row is None:
        return ""
    day = row.date.isoformat() if row.date else ""
    amount = f"{from_minor(row.amount_minor, row.currency):,f}"
    return f"{day} {amount} {row.currency} {row.description}".strip()


def _link_table(inputs: ReportInputs, bank_rows: RowLookup, ledger_rows: RowLookup) -> LinkTable:
    """Links by status (suggested first), each group's rows together, otherwise in the
    engine's (deterministic) order."""
    frame = inputs.result.links
    rank = np.full(len(frame), len(LINK_ORDER), dtype=np.int64)
    for index, status in enumerate(LINK_ORDER):  # column compares: no Python per row
        rank[(frame["status"] == status).to_numpy(dtype=bool)] = index
    group = pd.factorize(frame["match_id"])[0]  # codes in order of first appearance
    positions = np.lexsort((group, rank))
    sorted_frame = frame.iloc[positions].reset_index(drop=True)
    codes = group[positions]
    first = np.ones(len(sorted_frame), dtype=bool)
    if len(sorted_frame):
        first[1:] = codes[1:] != codes[:-1]
    sorted_frame["first_of_group"] = first
    suggested = (sorted_frame["status"] == Status.SUGGESTED).to_numpy(dtype=bool)
    match_ids = sorted_frame["match_id"]
    texts = _alternatives_in_words(
        inputs.result.alternatives, sorted_frame[suggested], bank_rows, ledger_rows
    )
    alternatives = np.full(len(sorted_frame), "", dtype=object)
    if texts:
        alternatives[suggested] = [texts.get(str(m), "") for m in match_ids[suggested].tolist()]
    sorted_frame["alternatives"] = alternatives
    return LinkTable(sorted_frame, bank_rows, ledger_rows)


def _alternatives_in_words(
    frame: pd.DataFrame, links: pd.DataFrame, bank_rows: RowLookup, ledger_rows: RowLookup
) -> dict[str, str]:
    """Per suggested match, its other candidates in words (the side they share is left out)."""
    own_bank = dict(zip(links["match_id"], links["bank_transaction_id"].map(_text), strict=True))
    own_ledger = dict(zip(links["match_id"], links["ledger_entry_id"].map(_text), strict=True))
    # Every candidate row looked up at once: one index probe per side, not one per row.
    bank_views = bank_rows.many(frame["bank_transaction_id"].map(_text).to_numpy(dtype=object))
    ledger_views = ledger_rows.many(frame["ledger_entry_id"].map(_text).to_numpy(dtype=object))
    grouped: dict[str, list[str]] = defaultdict(list)
    for (match_id, bank_id, ledger_id, score), bank, ledger in zip(_columns(
        frame, ("match_id", "bank_transaction_id", "ledger_entry_id", "score")
    ), bank_views, ledger_views, strict=True):  # fmt: skip
        bank_id, ledger_id = _text(bank_id), _text(ledger_id)
        sides = [f"bank {words(bank) or bank_id}"
                 if bank_id and bank_id != own_bank.get(match_id) else "",
                 f"ledger {words(ledger) or ledger_id}"
                 if ledger_id and ledger_id != own_ledger.get(match_id) else ""]
        grouped[str(match_id)].append(" / ".join(s for s in sides if s)
                                      + f" (score {float(score):.2f})")
    return {match_id: "; ".join(sorted(texts)) for match_id, texts in grouped.items()}


# --- items --------------------------------------------------------------------------------


@dataclass
class _Row:
    """One engine discrepancy with its rows, before folding."""

    discrepancy_id: str
    kind: str
    side: str
    account: str
    currency: str
    date: date | None
    amount_minor: int
    age_days: int
    description: str
    explanation: str
    bank: RowView | None
    ledger: RowView | None
    nearest: RowView | None
    nearest_label: str


def _engine_rows(
    inputs: ReportInputs, bank_rows: RowLookup, ledger_rows: RowLookup
) -> list[_Row]:
    frame = inputs.result.discrepancies
    names = ("discrepancy_id", "kind", "side", "bank_transaction_id", "ledger_entry_id",
             "account", "date", "amount_minor", "currency", "age_days", "description",
             "explanation", "nearest_candidate")
    bank_views = bank_rows.many(frame["bank_transaction_id"].map(_text).to_numpy())
    ledger_views = ledger_rows.many(frame["ledger_entry_id"].map(_text).to_numpy())
    nearest_ids = frame["nearest_candidate"].map(_text).to_numpy()
    # The nearest candidate is on the other side: a ledger entry for a bank row and back.
    near_ledger = ledger_rows.many(nearest_ids)
    near_bank = bank_rows.many(nearest_ids)
    rows = []
    for (did, kind, side, _bank_id, _ledger_id, account, day, amount, currency, age,
         description, explanation, _nearest), bank, ledger, in_ledger, in_bank in zip(
            _columns(frame, names), bank_views, ledger_views, near_ledger, near_bank,
            strict=True):  # fmt: skip
        on_bank_side = side == ItemSide.BANK
        near = in_ledger if on_bank_side else in_bank
        label = "nearest ledger entry" if on_bank_side else "nearest bank transaction"
        if side == ItemSide.BOTH:
            near, label = None, ""
        rows.append(_Row(
            discrepancy_id=str(did), kind=str(kind), side=str(side), account=_text(account),
            currency=str(currency), date=cell_date(day), amount_minor=int(amount),
            age_days=int(age), description=_text(description), explanation=_text(explanation),
            bank=bank, ledger=ledger, nearest=near, nearest_label=label if near else "",
        ))  # fmt: skip
    return rows


def _pairs(
    left: list[_Row], right: list[_Row], fits: Any, distance: Any
) -> list[tuple[_Row, _Row]]:
    """One-to-one pairs (left, right) that ``fits``, the closest by ``distance`` first."""
    by_key: dict[Any, list[_Row]] = defaultdict(list)
    for row in right:
        by_key[fits(row, None)].append(row)
    candidates = []
    for a in left:
        for b in by_key.get(fits(a, True), ()):
            if a is not b:
                candidates.append((distance(a, b), a.discrepancy_id, b.discrepancy_id, a, b))
    candidates.sort(key=lambda c: c[:3])
    used: set[str] = set()
    pairs = []
    for _, a_id, b_id, a, b in candidates:
        if a_id not in used and b_id not in used:
            used.update((a_id, b_id))
            pairs.append((a, b))
    return pairs


def _days_apart(a: _Row, b: _Row) -> int:
    if a.date is None or b.date is None:
        return 10**6
    return abs((a.date - b.date).days)


def _functional(minor: int, currency: str, statement: StatementConfig) -> Decimal | None:
    rate = statement.rate(currency)
    if rate is None:
        return None
    exponent = currency_exponent(statement.functional_currency)
    value = from_minor(minor, currency) * rate
    return value.quantize(Decimal(1).scaleb(-exponent), rounding=ROUND_HALF_EVEN)


def _journal(
    item_id: str, category: Category, account: str, currency: str, effect: int, as_of: date,
    memo: str, statement: StatementConfig,
) -> tuple[JournalLine, ...]:  # fmt: skip
    """Cash account against the category's offset: money in debits cash, money out credits it."""
    info = CATEGORIES[category]
    if info.treatment not in (Treatment.ENTRY, Treatment.NONE) or effect == 0:
        return ()
    offset = getattr(statement.journal_accounts, info.offset)
    size = abs(effect)
    debit, credit = (account, offset) if effect > 0 else (offset, account)
    return (
        JournalLine(item_id, as_of, debit, size, 0, currency, memo),
        JournalLine(item_id, as_of, credit, 0, size, currency, memo),
    )


def _bank_only_category(row: _Row, fee: re.Pattern[str], interest: re.Pattern[str]) -> Category:
    text = row.bank.description if row.bank else row.description
    if row.amount_minor < 0 and fee.search(text):
        return Category.BANK_CHARGE
    if row.amount_minor > 0 and interest.search(text):
        return Category.INTEREST
    return Category.UNRECORDED


def _items(
    inputs: ReportInputs, links: LinkTable, bank_rows: RowLookup, ledger_rows: RowLookup
) -> tuple[Item, ...]:
    statement = inputs.statement
    annotations = inputs.carry_forward.annotations
    rows = _engine_rows(inputs, bank_rows, ledger_rows)
    fee = re.compile(statement.fee_pattern)
    interest = re.compile(statement.interest_pattern)

    pending = [r for r in rows if r.kind == Kind.PENDING]
    booked = [r for r in rows if r.kind == Kind.UNMATCHED_LEDGER]
    pending_pairs = _pairs(
        pending, booked,
        lambda r, _: (r.account, r.currency, r.amount_minor),
        lambda a, b: _days_apart(a, b) if _days_apart(a, b) <= statement.pending_pair_days
        else 10**6,
    )  # fmt: skip
    pending_pairs = [(a, b) for a, b in pending_pairs
                     if _days_apart(a, b) <= statement.pending_pair_days]
    reversal_rows = [r for r in rows if r.kind == Kind.REVERSAL]
    reversal_pairs = _pairs(
        [r for r in reversal_rows if r.amount_minor < 0],
        [r for r in reversal_rows if r.amount_minor > 0],
        lambda r, left: (r.account, r.currency, -r.amount_minor if left else r.amount_minor),
        _days_apart,
    )  # fmt: skip
    folded: set[str] = set()
    items: list[Item] = []

    def add(members: Sequence[_Row], category: Category, *, amount: int, effect: int,
            bank: RowView | None, ledger: RowView | None, other: RowView | None,
            other_label: str, explanation: str) -> None:  # fmt: skip
        first = members[0]
        note: Annotation | None = annotations.get(first.discrepancy_id)
        info = CATEGORIES[category]
        age = max(m.age_days for m in members)
        memo = f"{info.label}: {first.description}"[:200]
        items.append(Item(
            item_id=first.discrepancy_id,
            member_ids=tuple(m.discrepancy_id for m in members),
            kind=first.kind, category=category, treatment=info.treatment,
            account=first.account, currency=first.currency, date=first.date,
            amount_minor=amount, effect_minor=effect,
            functional=_functional(amount, first.currency, statement),
            age_days=age, age_bucket=age_bucket(age),
            first_seen=note.first_seen if note else inputs.as_of,
            status=note.status if note else "open",
            owner=(note.owner or "") if note else "",
            notes=(note.notes or "") if note else "",
            bank=bank, ledger=ledger, other=other, other_label=other_label,
            explanation=explanation,
            journal=_journal(first.discrepancy_id, category, first.account, first.currency,
                             effect, inputs.as_of, memo, statement),
        ))  # fmt: skip
        folded.update(m.discrepancy_id for m in members)

    for bank_row, ledger_row in pending_pairs:
        add([bank_row, ledger_row], Category.PENDING_AT_BANK,
            amount=ledger_row.amount_minor, effect=ledger_row.amount_minor,
            bank=bank_row.bank, ledger=ledger_row.ledger, other=None, other_label="",
            explanation="pending at the bank and already booked: clears when the bank posts it")
    for debit, credit in reversal_pairs:
        net = debit.amount_minor + credit.amount_minor
        add([debit, credit], Category.REVERSAL, amount=abs(debit.amount_minor), effect=net,
            bank=debit.bank, ledger=None, other=credit.bank, other_label="reversed by",
            explanation="reversed at the bank: nothing to book" if net == 0
            else "partly reversed at the bank: the rest is not in the books")
    for row in rows:
        if row.discrepancy_id in folded:
            continue
        if row.kind == Kind.PENDING:
            category, effect = Category.PENDING_NOT_BOOKED, 0
        elif row.kind == Kind.UNMATCHED_LEDGER:
            category = (Category.OUTSTANDING_PAYMENT if row.amount_minor < 0
                        else Category.DEPOSIT_IN_TRANSIT)
            effect = row.amount_minor
        elif row.kind == Kind.AMOUNT_MISMATCH:
            category, effect = Category.BOOK_ERROR, row.amount_minor
        elif row.kind == Kind.PROBABLE_DUPLICATE and row.side == ItemSide.BANK:
            category, effect = Category.BANK_ERROR, -row.amount_minor
        elif row.kind == Kind.PROBABLE_DUPLICATE:
            category, effect = Category.DUPLICATE_POSTING, -row.amount_minor
        else:  # unmatched bank, or half of a reversal whose other half was not found
            category, effect = _bank_only_category(row, fee, interest), row.amount_minor
        add([row], category, amount=row.amount_minor, effect=effect, bank=row.bank,
            ledger=row.ledger, other=row.nearest, other_label=row.nearest_label,
            explanation=row.explanation)
    items.extend(_link_differences(inputs, links))
    group = {t: (0 if t in TIMING_GROUP else 1) for t in Treatment}
    items.sort(key=lambda i: (group[i.treatment], -i.materiality, i.item_id))
    return tuple(items)


def _link_differences(inputs: ReportInputs, links: LinkTable) -> list[Item]:
    """A group's difference (bank minus ledger), e.g. a wire fee: one item per group."""
    frame = links.frame
    has = frame["first_of_group"].to_numpy() & (
        frame["amount_difference_minor"].to_numpy() != 0)
    items = []
    for line in links.lines(np.flatnonzero(has)):
        difference = line.amount_difference_minor
        age = ((inputs.as_of - line.bank.date).days
               if line.bank is not None and line.bank.date is not None else 0)
        unconfirmed = line.status == Status.SUGGESTED
        explanation = ("difference on a suggested link (not yet reviewed): " if unconfirmed
                       else "difference on a matched group: ") + line.explanation
        memo = f"Difference on matched item: {line.bank.description if line.bank else ''}"
        items.append(Item(
            item_id=line.match_id, member_ids=("",), kind="", category=Category.LINK_DIFFERENCE,
            treatment=Treatment.ENTRY, account=line.account, currency=line.currency,
            date=line.bank.date if line.bank else None, amount_minor=difference,
            effect_minor=difference,
            functional=_functional(difference, line.currency, inputs.statement),
            age_days=age, age_bucket=age_bucket(age), first_seen=inputs.as_of,
            status="open", owner="", notes="", bank=line.bank, ledger=line.ledger, other=None,
            other_label="", explanation=explanation,
            journal=_journal(line.match_id, Category.LINK_DIFFERENCE, line.account,
                             line.currency, difference, inputs.as_of, memo[:200],
                             inputs.statement),
        ))  # fmt: skip
    return items


# --- statement, completeness check, summary -----------------------------------------------


def _statements(inputs: ReportInputs, items: tuple[Item, ...]) -> tuple[Statement, ...]:
    totals: dict[tuple[str, Category], list[int]] = defaultdict(lambda: [0, 0])
    for item in items:
        entry = totals[(item.account, item.category)]
        entry[0] += 1
        entry[1] += item.effect_minor

    def lines(account: str, categories: Sequence[Category]) -> tuple[StatementLine, ...]:
        return tuple(
            StatementLine(c, CATEGORIES[c].title, *totals.get((account, c), (0, 0)))
            for c in categories
        )

    missing = Balance(None, "not available")
    return tuple(
        Statement(
            account=a.ledger_account, name=a.name, currency=a.currency,
            bank_balance=inputs.bank_balance.get(a.ledger_account, missing),
            bank_lines=lines(a.ledger_account, BANK_SIDE),
            books_balance=inputs.books_balance.get(a.ledger_account, missing),
            book_lines=lines(a.ledger_account, BOOK_SIDE),
            sign_off=inputs.sign_offs.get(a.ledger_account, SignOff()),
        )
        for a in inputs.accounts
    )


def discrepancy_effect(side: str, amount_minor: int) -> int:
    """How one engine discrepancy explains (bank movement - ledger movement) over the window."""
    return -amount_minor if side == ItemSide.LEDGER else amount_minor


def _tie_outs(inputs: ReportInputs, items: tuple[Item, ...]) -> tuple[TieOut, ...]:
    explained: dict[str, int] = defaultdict(int)
    frame = inputs.result.discrepancies
    for account, side, amount in _columns(frame, ("account", "side", "amount_minor")):
        explained[_text(account)] += discrepancy_effect(str(side), int(amount))
    by_links: dict[str, int] = defaultdict(int)
    for item in items:
        if item.category == Category.LINK_DIFFERENCE:
            by_links[item.account] += item.amount_minor
    return tuple(
        TieOut(
            account=a.ledger_account, name=a.name, currency=a.currency,
            bank_movement_minor=int(inputs.bank_movement_minor.get(a.ledger_account, 0)),
            ledger_movement_minor=int(inputs.ledger_movement_minor.get(a.ledger_account, 0)),
            items_minor=explained[a.ledger_account], links_minor=by_links[a.ledger_account],
        )
        for a in inputs.accounts
    )


def _totals(pairs: Iterable[tuple[str, int]]) -> tuple[CurrencyAmount, ...]:
    totals: dict[str, int] = defaultdict(int)
    for currency, minor in pairs:
        totals[currency] += minor
    return tuple(CurrencyAmount(c, totals[c]) for c in sorted(totals))


def change_totals(refs: Iterable[Any]) -> tuple[CurrencyAmount, ...]:
    """Absolute amounts of changed items (DiscrepancyRef) per currency."""
    return _totals((ref.currency, abs(int(ref.amount_minor))) for ref in refs)


def is_open(item: Item) -> bool:
    return item.status == "open"


def _summary(
    inputs: ReportInputs, items: tuple[Item, ...], links: LinkTable,
    statements: tuple[Statement, ...],
) -> Summary:  # fmt: skip
    frame = links.frame
    first = frame["first_of_group"].to_numpy(dtype=bool)
    differs = first & (frame["amount_difference_minor"].to_numpy() != 0)
    link_statuses = []
    for status in LINK_ORDER:
        of_status = (frame["status"] == status).to_numpy(dtype=bool)
        with_difference = frame[of_status & differs]  # a few rows: the groups with a difference
        differences = with_difference.groupby("currency")["amount_difference_minor"].sum()
        link_statuses.append(StatusCount(
            status, STATUS_TITLES[status], int((of_status & first).sum()), int(of_status.sum()),
            tuple(CurrencyAmount(str(c), int(v)) for c, v in differences.items() if v),
        ))  # fmt: skip
    confirmed = frame["status"].isin(list(CONFIRMED)).to_numpy(dtype=bool)
    discrepancies = inputs.result.discrepancies
    unlinked = discrepancies.loc[discrepancies["kind"] != Kind.PENDING, "bank_transaction_id"]
    bank_items = _distinct_ids(frame["bank_transaction_id"], unlinked)
    auto_matched = _distinct_ids(frame["bank_transaction_id"][confirmed])
    open_items = [i for i in items if is_open(i)]
    treatments = []
    for treatment in Treatment:
        of_kind = [i for i in items if i.treatment == treatment]
        open_of_kind = [i for i in of_kind if is_open(i)]
        buckets = dict.fromkeys(AGE_BUCKETS, 0)
        for item in open_of_kind:
            buckets[item.age_bucket] += 1
        treatments.append(TreatmentCount(
            treatment, TREATMENT_TITLES[treatment], len(of_kind), len(open_of_kind),
            sum((i.materiality for i in open_of_kind), Decimal(0)),
            tuple(buckets[b] for b in AGE_BUCKETS),
        ))  # fmt: skip
    relink = tuple(item for item in inputs.item_health if item.status != "active")
    statement_differences = [s.difference_minor for s in statements]
    return Summary(
        run_id=inputs.run_id,
        account_set=inputs.account_set,
        as_of=inputs.as_of,
        window_start=inputs.window_start,
        window_end=inputs.window_end,
        generated_at=inputs.generated_at,
        accounts=inputs.accounts,
        functional_currency=inputs.statement.functional_currency,
        link_statuses=tuple(link_statuses),
        treatments=tuple(treatments),
        item_count=len(items),
        open_count=len(open_items),
        open_functional_abs=sum((i.materiality for i in open_items), Decimal(0)),
        open_total_abs=_totals((i.currency, abs(i.amount_minor)) for i in open_items),
        oldest_open_age_days=max((i.age_days for i in open_items), default=None),
        bank_items=bank_items,
        bank_items_auto_matched=auto_matched,
        auto_match_rate=auto_matched / bank_items if bank_items else None,
        item_health=inputs.item_health,
        items_needing_relink=relink,
        rejected_row_count=len(inputs.rejected_rows),
        statements_tie=all(d == 0 for d in statement_differences if d is not None),
        missing_fx_rates=tuple(sorted({a.currency for a in inputs.accounts
                                       if inputs.statement.rate(a.currency) is None})),
    )


def _distinct_ids(*columns: pd.Series) -> int:
    """How many distinct non-empty ids the columns hold together (hashed once, in C)."""
    uniques = pd.Series(pd.unique(pd.concat(columns, ignore_index=True)))
    return int((uniques.fillna("") != "").sum())


def _check_threshold(threshold: AlertThreshold, items: tuple[Item, ...]) -> ThresholdCheck:
    """Open items (the same count as everywhere else) against the configured limits."""
    alerting = [i for i in items if is_open(i)]
    reasons = []
    if threshold.count is not None and len(alerting) > threshold.count:
        reasons.append(f"{len(alerting)} open items (threshold {threshold.count})")
    limits = threshold.total_amount or {}
    for total in _totals((i.currency, abs(i.amount_minor)) for i in alerting):
        amount = from_minor(total.minor, total.currency)
        limit = limits.get(total.currency)
        if limit is not None and amount > limit:
            reasons.append(f"open amount {amount:,} {total.currency} (threshold {limit:,})")
    if threshold.oldest_age_days is not None and alerting:
        oldest = max(i.age_days for i in alerting)
        if oldest > threshold.oldest_age_days:
            reasons.append(f"oldest open item is {oldest} days old "
                           f"(threshold {threshold.oldest_age_days})")
    return ThresholdCheck(exceeded=bool(reasons), reasons=tuple(reasons))
