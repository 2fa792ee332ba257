"""Aggregate passes: groups of any size found by a key, by sorting and prefix sums.

Unlike the subset-sum search (``kind: groups``, 20 rows at most), these passes never choose
among subsets: a key decides which rows belong together, and the only question is whether
their sum is the bank amount. Each runs in O(n log n) over all open rows.

- ``settlement``: the open ledger rows of one counterparty (or one description word) on a run
  of consecutive sale days sum to one bank row whose text names that counterparty, paid
  ``lag_min``..``lag_max`` business days after the last sale day. Example: Square's 214 sales of
  Friday 2026-10-30 to Sunday 2026-11-01, 9,310.55 in all, and the "SQUARE INC" deposit of
  9,068.42 on Monday 2026-11-02 (fee 242.13).
- ``reference_totals``: every open ledger row carrying a reference that one bank row names sums
  to it. Example: "STRIPE TRANSFER ST-Q4X9M2B7KD1P" and the 312 sales booked with reference
  ST-Q4X9M2B7KD1P.
- ``partial_payments``: one ledger row paid by 2..``max_parts`` bank rows naming its reference
  or counterparty within its window (exactly one such subset of its nearest bank rows sums to
  it). Example: a 9,870.40 invoice paid as 4,000.00 and 5,870.40.

In the first two, the ledger sum may exceed the bank amount by a processor's fee (within
``fee_amount`` / ``fee_percent`` of the bank amount): when an open ledger row of the same key
books exactly that fee, it joins the group (``matched``); otherwise the group is
``matched_with_difference`` and the explanation names the fee. A bank row with two groups that
fit equally well, or two bank rows claiming one ledger row, are left to later passes.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import pandas as pd

from recon.config import FeeTolerance, PartialPayments, ReferenceTotals, SettlementTotals
from recon.engine import explain, keys, references, sets
from recon.engine.candidates import expand_ranges, keyed_window_pairs, unique_pairs
from recon.engine.classify import unreversed
from recon.engine.normalise import BoolArray, IntArray, Side, fee_lines, filled, key_word
from recon.engine.passes.parts import (
    anchored_three_part_fits,
    named_and_rest_fits,
    nearest,
    possible_parts,
    replaceable,
    resolve_claims,
    round_counts,
    subset_fits,
    two_part_fits,
)
from recon.engine.scoring import (
    FloatArray,
    allowed_difference,
    pair_parts,
    per_row_minor,
    rails_differ,
    score_parts,
    total_score,
)
from recon.engine.state import DayWindow, Found, LinkBatch, MatchState
from recon.records import Status

SETTLEMENT_RULE = "settlement"
REFERENCE_RULE = "reference_total"
PARTIAL_RULE = "partial_payment"
_EMPTY = np.zeros(0, dtype=np.int64)
# Fits a processor's usual fee rate is learned from (fewer: fees left as differences refused).
_MIN_RATE_FITS = 3
# Deposits a dense window of candidates' fee rates needs (a few fall together by chance).
_MIN_DENSE_FITS = 6
# A processor's fixed fee per sale tried, in minor units (0.00 to 0.60: Stripe's 0.30, PayPal's
# 0.49), and the width in percentage points of the rate window its fits must fall into.
_PER_ROW_FEES = np.arange(61, dtype=np.int64)
_PER_ROW_WINDOW = 0.02
# At most this share (numerator, denominator) of a settled run's rows, by size, may go the
# other way than its total: refunds among a processor's sales.
_AGAINST_SHARE = (1, 5)


@dataclass
class _FeeModel:
    """What a settlement pass learns of each series' (processor's) fees: a percent of the
    sales (``rates``, in percent) and a fixed amount per sale (``per_row``, minor units)."""

    rates: dict[int, float] = field(default_factory=dict)
    per_row: dict[int, int] = field(default_factory=dict)
# A payer's name cut where the bank text ends names it from this many characters on ("KOW" for
# Kowalski) in partial payments, where the parts must also sum exactly to the ledger row.
_MIN_PREFIX_AT_END = 3
_POOLS_AT_ONCE = 512  # partial payment pools whose subset sums are held at once
# Bank rows per ledger row (the nearest) among which two parts of a partial payment are sought.
_WIDE_POOL = 64
# Rounds of the partial payments search: ledger rows that lost a claim look again.
_PARTIAL_ROUNDS = 3
# Settlement candidates are built for this many (bank row, key) pairs at once.
_PAIRS_PER_SLICE = 50_000


@dataclass
class _Groups:
    """Groups found so far: one entry per (bank row, ledger row) link, and per group its
    status, amount difference (bank minus ledger) and explanation note."""

    bank: list[IntArray]
    ledger: list[IntArray]
    status: list[str]
    difference: list[int]
    note: list[str]

    @classmethod
    def empty(cls) -> _Groups:
        return cls([], [], [], [], [])

    def add(self, bank: IntArray, ledger: IntArray, status: Status, difference: int,
            note: str) -> None:  # fmt: skip
        self.bank.append(bank)
        self.ledger.append(ledger)
        self.status.append(status.value)
        self.difference.append(difference)
        self.note.append(note)

    def found(self, state: MatchState, rule: str) -> Found:
        """The links, scored like the subset-sum groups: one match id and one amount part per
        group."""
        if not self.bank:
            return Found()
        bank, ledger = state.bank, state.ledger
        sizes = np.array([max(len(b), len(lg)) for b, lg in zip(self.bank, self.ledger,
                                                                 strict=True)])
        at = np.repeat(np.arange(len(sizes), dtype=np.int64), sizes)
        b = np.concatenate([np.broadcast_to(x, (n,)) for x, n in zip(self.bank, sizes,
                                                                       strict=True)])
        lg = np.concatenate([np.broadcast_to(x, (n,)) for x, n in zip(self.ledger, sizes,
                                                                        strict=True)])
        b, lg = b.astype(np.int64), lg.astype(np.int64)
        ids = np.array(
            [explain.match_id(bank.ids[x], ledger.ids[y])
             for x, y in zip(self.bank, self.ledger, strict=True)],
            dtype=object,
        )  # fmt: skip
        difference = np.array(self.difference, dtype=np.int64)
        totals = np.array(
            [max(abs(int(ledger.amount[y].sum())), 1) for y in self.ledger], dtype=np.float64
        )
        values = score_parts(pair_parts(bank, ledger, b, lg), ledger, 0.0)
        values["amount"] = (1.0 - np.minimum(np.abs(difference) / totals, 1.0))[at]
        return Found(
            links=LinkBatch(
                bank=b,
                ledger=lg,
                match_id=ids[at],
                status=np.array(self.status, dtype=object)[at],
                rule=filled(len(b), rule),
                score=total_score(values),
                amount_difference=difference[at],
                parts=values,
                notes=np.array(self.note, dtype=object)[at],
            )
        )


def _open(state: MatchState) -> tuple[BoolArray, BoolArray]:
    bank_open = state.bank_state.free & ~state.bank_state.held
    ledger_open = state.ledger_state.free & ~state.ledger_state.held
    return bank_open.copy(), ledger_open.copy()


def _equal_ranges(ordered: IntArray, wanted: IntArray, span: int) -> tuple[IntArray, IntArray]:
    """Where each of ``wanted`` sits in ``ordered`` (ascending, values in 0..span-1): the left
    and right ``searchsorted`` bounds, read from a count per value when the values are dense."""
    if span > 4 * (len(ordered) + len(wanted)):
        return np.searchsorted(ordered, wanted, "left"), np.searchsorted(ordered, wanted, "right")
    ends = np.cumsum(np.bincount(ordered, minlength=span))
    starts = np.r_[0, ends[:-1]]
    return starts[wanted], ends[wanted]


def _same_day_twins(state: MatchState, bank_rows: BoolArray, ledger_open: BoolArray) -> BoolArray:
    """Per bank row of ``bank_rows``: an open ledger row of its block books its amount on its
    day, of a counterparty the bank row names. That one row explains the bank row more simply
    than a group of rows that sum to it (a customer's 31,000.00 transfer and its 31,000.00
    receipt booked that day, not ten of the customer's receipts of the Friday before)."""
    from recon.engine.passes.names import named_parties  # names builds on this module's words

    bank, ledger = state.bank, state.ledger
    twins = np.zeros(len(bank), dtype=bool)
    named_b, named_party = named_parties(state)
    # Only a (bank row, counterparty it names) can have a twin: look those up among the open
    # ledger rows of a counterparty by (block, day, amount, counterparty).
    pair_at = np.flatnonzero(bank_rows[named_b])
    l_rows = np.flatnonzero(ledger_open & (ledger.party >= 0))
    if len(pair_at) == 0 or len(l_rows) == 0:
        return twins
    b, party = named_b[pair_at], named_party[pair_at]
    bank_amount, ledger_amount = keys.joint_codes(bank.amount[b], ledger.amount[l_rows])
    first_day = min(int(bank.date[b].min()), int(ledger.date[l_rows].min()))
    bank_day, ledger_day = bank.date[b] - first_day, ledger.date[l_rows] - first_day
    day_width = keys.width(bank_day, ledger_day)
    amount_width = keys.width(bank_amount, ledger_amount)
    party_width = keys.width(party, ledger.party[l_rows])

    def key(block: IntArray, day: IntArray, amount: IntArray, of: IntArray) -> IntArray:
        day_key = keys.combine(block, day, day_width)
        return keys.combine(keys.combine(day_key, amount, amount_width), of, party_width)

    bank_key = key(state.bank_block[b], bank_day, bank_amount, party)
    ledger_key = key(state.ledger_block[l_rows], ledger_day, ledger_amount, ledger.party[l_rows])
    twins[b[sets.isin(bank_key, ledger_key)]] = True
    return twins


def _percent(part: IntArray, whole: IntArray) -> FloatArray:
    """``part`` in percent of ``whole`` (of at least one minor unit)."""
    percent: FloatArray = 100.0 * part / np.maximum(np.abs(whole.astype(np.float64)), 1.0)
    return percent


def _fee_limit(side: Side, rows: IntArray, settings: FeeTolerance) -> IntArray:
    """The largest fee allowed for each bank row: max(fee_amount, fee_percent of its amount)."""
    absolute = per_row_minor(side, rows, settings.fee_amount)
    return allowed_difference(side.amount[rows], absolute, settings.fee_percent)


def _fee_note(fee: int, currency: str, fee_row: bool) -> str:
    if fee == 0:
        return ""
    where = "booked in the ledger" if fee_row else "the difference"
    return f", fee {explain.money(fee, currency)} ({where})"


def _segment_starts(keys: IntArray) -> IntArray:
    """Per element of the sorted ``keys``: the index where its run of equal keys starts."""
    if len(keys) == 0:
        return _EMPTY
    first = np.r_[True, keys[1:] != keys[:-1]]
    starts: IntArray = np.maximum.accumulate(np.where(first, np.arange(len(keys)), 0))
    return starts


def _slices(size: int, step: int) -> list[slice]:
    """``range(size)`` cut into slices of at most ``step`` (one empty slice for size 0)."""
    return [slice(start, start + step) for start in range(0, max(size, 1), step)]


def _choose(owner: IntArray, rank: IntArray, distance: FloatArray | None = None) -> BoolArray:
    """Per candidate: True when it is its owner's only candidate of the owner's best rank;
    among several, the one whose ``distance`` is under half the runner-up's (when given)."""
    return _choose_by_margin(owner, rank, distance)[0]


def _choose_by_margin(
    owner: IntArray, rank: IntArray, distance: FloatArray | None = None
) -> tuple[BoolArray, FloatArray]:
    """:func:`_choose`, and per candidate how much nearer than its owner's runner-up of the
    same rank it is (inf without a runner-up)."""
    if len(owner) == 0:
        return np.zeros(0, dtype=bool), np.zeros(0, dtype=np.float64)
    if distance is None:
        distance = np.zeros(len(owner), dtype=np.float64)
    frame = pd.DataFrame({"owner": owner, "rank": rank, "distance": distance})
    frame = frame.sort_values(["owner", "rank", "distance"], kind="stable")
    first = ~frame["owner"].duplicated().to_numpy()
    ordered_owner = frame["owner"].to_numpy()
    ordered_rank = frame["rank"].to_numpy()
    ordered_distance = frame["distance"].to_numpy()
    # The runner-up: the next candidate of the same owner and rank, if any.
    runner_up = np.r_[
        (ordered_owner[1:] == ordered_owner[:-1]) & (ordered_rank[1:] == ordered_rank[:-1]), False
    ]
    next_distance = np.r_[ordered_distance[1:], np.inf]
    clear = ~runner_up | (2 * ordered_distance < next_distance)
    at = frame.index.to_numpy()
    chosen = np.zeros(len(owner), dtype=bool)
    chosen[at[first & clear]] = True
    margin = np.full(len(owner), np.inf)
    margin[at[runner_up]] = (next_distance - ordered_distance)[runner_up]
    return chosen, margin


def _clearest_first(members: list[IntArray], owners: IntArray, margin: FloatArray,
                    size: int) -> BoolArray:  # fmt: skip
    """Per group: True when it keeps its rows, the groups taken clearest first (largest margin
    over their owner's runner-up). A group sharing a row with a clearer one is dropped, and may
    find another run in the next round once the clearer one's rows are gone; groups of equal
    margin sharing a row are all dropped (nothing tells which is right), and their rows stay
    out of the less clear ones."""
    taken = np.zeros(size, dtype=bool)
    keep = np.zeros(len(members), dtype=bool)
    for level in np.unique(margin)[::-1].tolist():
        at = np.flatnonzero(margin == level)
        rows_of = [np.r_[members[k], size + owners[k]] for k in at.tolist()]  # rows and owner
        shared = np.bincount(np.concatenate(rows_of), minlength=size + int(owners.max()) + 1)
        for k, rows in zip(at.tolist(), rows_of, strict=True):
            own = rows[:-1]
            keep[k] = bool((shared[rows] == 1).all()) and not bool(taken[own].any())
        for k in at.tolist():
            taken[members[k]] = True
    return keep


def _no_single_match(members: list[IntArray], amount: IntArray, ledger: Side) -> BoolArray:
    """Per group: True unless one of its rows alone has the bank amount (that row is the
    match, and the rest of the group sums to nothing: rows that cancel out)."""
    return np.array(
        [not bool((ledger.amount[m] == a).any()) for m, a in zip(members, amount.tolist(),
                                                                  strict=True)],
        dtype=bool,
    )  # fmt: skip


def _single_row_of_amount(
    rows: IntArray, series_of: IntArray, ledger: Side, series: IntArray, amount: IntArray,
    start: IntArray, end: IntArray,
) -> BoolArray:  # fmt: skip
    """Per candidate group (its ``series``, bank ``amount`` and days ``start``..``end``): one
    open row of the series (``rows``, their ``series_of``) has the bank amount alone within
    those days, one of the group's own or not. That row is the match, not a run of rows that
    happens to add up: ten 15.00 seats of a subscription make 150.00 as well as its one
    150.00 row does (and a run holding that row sums to it only with rows that cancel out)."""
    if len(series) == 0 or len(rows) == 0:
        return np.zeros(len(series), dtype=bool)
    candidates = pd.DataFrame({"series": series, "amount": amount, "start": start, "end": end,
                               "group": np.arange(len(series))})  # fmt: skip
    singles = pd.DataFrame({"series": series_of, "amount": ledger.amount[rows],
                            "date": ledger.date[rows]})  # fmt: skip
    pairs = candidates.merge(singles, on=["series", "amount"])
    inside = pairs[(pairs["date"] >= pairs["start"]) & (pairs["date"] <= pairs["end"])]
    found = np.zeros(len(series), dtype=bool)
    found[inside["group"].to_numpy(dtype=np.int64)] = True
    return found


def _business_days(start: IntArray, end: IntArray) -> IntArray:
    """Monday-to-Friday days from each ``start`` day to its ``end`` day (day numbers)."""
    counted: IntArray = np.busday_count(
        start.astype("datetime64[D]"), end.astype("datetime64[D]")
    ).astype(np.int64)
    return counted


def _only_one_each(owner: IntArray, other: IntArray) -> BoolArray:
    """Per pair: True when its owner has no other pair and its other side none either."""
    if len(owner) == 0:
        return np.zeros(0, dtype=bool)
    _, owner_at, owner_n = np.unique(owner, return_inverse=True, return_counts=True)
    _, other_at, other_n = np.unique(other, return_inverse=True, return_counts=True)
    alone: BoolArray = (owner_n[owner_at] == 1) & (other_n[other_at] == 1)
    return alone


def _disjoint(members: list[IntArray], size: int) -> BoolArray:
    """Per group: True when none of its rows is in another group too."""
    if not members:
        return np.zeros(0, dtype=bool)
    counts = np.bincount(np.concatenate(members), minlength=size)
    return np.array([bool((counts[m] == 1).all()) for m in members], dtype=bool)


_MIN_PREFIX = 4  # characters a cut-off word needs to name the key word it starts


def _prefixes(words: dict[str, int], shortest: int = _MIN_PREFIX) -> dict[str, int]:
    """Each proper prefix of ``shortest``+ characters of the key words, with the code of the one
    key word it starts (-1 when it starts several)."""
    prefixes: dict[str, int] = {}
    for word, code in words.items():
        for end in range(shortest, len(word)):
            prefix = word[:end]
            prefixes[prefix] = code if prefixes.get(prefix, code) == code else -1
    return prefixes


def _last_token(text: str) -> str:
    """The text's last whitespace-separated token, upper case ("" for an empty text)."""
    tokens = text.upper().split()
    return tokens[-1] if tokens else ""


def _party_words(state: MatchState, rows: IntArray) -> dict[str, int]:
    """The word each counterparty key code of ledger ``rows`` stands for (from one row of
    each: its text starts with the counterparty)."""
    ledger = state.ledger
    codes, first = np.unique(ledger.party[rows], return_index=True)
    words = [key_word(str(ledger.texts[c])) for c in ledger.text_code[rows[first]]]
    return {w: int(c) for w, c in zip(words, codes.tolist(), strict=True) if w}


# ---------------------------------------------------------------------------------------------
# Settlement totals


@dataclass(frozen=True)
class _Days:
    """The open keyed ledger rows as day totals per series (block and key), in (series, day)
    order: ``rows[row_start[i]:row_start[i + 1]]`` are day i's rows."""

    rows: IntArray  # ledger positions in (series, date) order
    series: IntArray  # per day
    day: IntArray
    row_start: IntArray  # len(days) + 1
    prefix: IntArray  # len(days) + 1: prefix[i] = sum of days before i (all series)
    first_of_series: IntArray  # per day: index of its series' first day
    gross_prefix: IntArray  # as prefix, of the rows' absolute amounts

    def total(self, first: IntArray, last: IntArray) -> IntArray:
        result: IntArray = self.prefix[last + 1] - self.prefix[first]
        return result

    def against(self, first: IntArray, last: IntArray) -> IntArray:
        """The size of the runs' rows of the sign opposite to their total (a payout's
        refunds)."""
        gross = self.gross_prefix[last + 1] - self.gross_prefix[first]
        opposite: IntArray = (gross - np.abs(self.total(first, last))) // 2
        return opposite

    def rows_in(self, first: IntArray, last: IntArray) -> IntArray:
        """How many rows the runs of days ``first[i]..last[i]`` hold."""
        count: IntArray = self.row_start[last + 1] - self.row_start[first]
        return count

    @cached_property
    def _monotone(self) -> tuple[tuple[IntArray, IntArray, IntArray], ...]:
        """For ``prefix`` and its negation: (run per day, its run's first day, key). Runs are
        days of one series whose day totals are >= 0 (for the negation: <= 0) but maybe the
        last, so the value never falls within a run; the key is the value moved per run to
        rise over all days (a run's keys above those of the runs before it)."""
        size = len(self.series)
        found = []
        for value in (self.prefix, -self.prefix):
            step = np.diff(value)
            new_run = np.r_[True, (step[:-1] < 0) | (self.series[1:] != self.series[:-1])]
            run = np.cumsum(new_run) - 1
            starts = np.flatnonzero(new_run)
            ends = np.r_[starts[1:], size] - 1
            width = value[ends] - value[starts] + 1
            base = np.r_[0, np.cumsum(width)[:-1]].astype(np.int64)
            shift = (base - value[starts])[run]
            found.append((run.astype(np.int64), starts[run].astype(np.int64), value[:size] + shift))
        return tuple(found)

    def firsts_within(
        self, first_low: IntArray, last: IntArray, amount: IntArray, limit: IntArray
    ) -> tuple[IntArray, IntArray]:
        """(query, first day) of every first day in ``first_low[i]..last[i]`` whose run to
        ``last[i]`` totals ``amount[i]`` to ``amount[i] + limit[i]``, in (query, first day)
        order. Where ``prefix`` only rises or only falls over a query's days, its firsts are
        one range, found by binary search on a key; the other queries try every first day."""
        if len(last) == 0 or len(self.series) == 0:
            return _EMPTY, _EMPTY
        # total(f, last) = prefix[last + 1] - prefix[f], in amount..amount + limit
        highest = self.prefix[last + 1] - amount
        lowest = highest - limit
        start = np.minimum(first_low, last)
        left = np.ones(len(last), dtype=bool)
        queries, firsts = [], []
        for sign, (run, run_start, key) in zip((1, -1), self._monotone, strict=True):
            fast = np.flatnonzero(left & (run[start] == run[last]))
            left[fast] = False
            # sign * prefix[f] within [low, high]: the value is sign * prefix, moved by shift
            low, high = (lowest[fast], highest[fast]) if sign == 1 else (-highest[fast],
                                                                          -lowest[fast])
            shift = key[run_start[last[fast]]] - sign * self.prefix[run_start[last[fast]]]
            begin = np.maximum(np.searchsorted(key, low + shift, "left"), first_low[fast])
            end = np.minimum(np.searchsorted(key, high + shift, "right"), last[fast] + 1)
            at, first = expand_ranges(begin.astype(np.int64), end.astype(np.int64))
            queries.append(fast[at])
            firsts.append(first)
        slow = np.flatnonzero(left)
        at, first = expand_ranges(first_low[slow], last[slow] + 1)
        at = slow[at]
        total = self.prefix[last[at] + 1] - self.prefix[first]
        within = (total >= amount[at]) & (total - amount[at] <= limit[at])
        query = np.concatenate([*queries, at[within]]).astype(np.int64)
        first = np.concatenate([*firsts, first[within]]).astype(np.int64)
        order = np.lexsort((first, query))
        return query[order], first[order]


def _days(rows: IntArray, series: IntArray, ledger: Side) -> _Days:
    order = np.lexsort((rows, ledger.date[rows], series))
    rows, series = rows[order], series[order]
    dates = ledger.date[rows]
    new_day = np.r_[True, (series[1:] != series[:-1]) | (dates[1:] != dates[:-1])]
    starts = np.flatnonzero(new_day)
    day_sum = np.add.reduceat(ledger.amount[rows], starts) if len(starts) else _EMPTY
    day_gross = np.add.reduceat(np.abs(ledger.amount[rows]), starts) if len(starts) else _EMPTY
    day_series = series[starts]
    return _Days(
        rows=rows,
        series=day_series,
        day=dates[starts],
        row_start=np.r_[starts, len(rows)].astype(np.int64),
        prefix=np.r_[0, np.cumsum(day_sum)].astype(np.int64),
        first_of_series=_segment_starts(day_series),
        gross_prefix=np.r_[0, np.cumsum(day_gross)].astype(np.int64),
    )


@dataclass(frozen=True)
class SettlementPass:
    settings: SettlementTotals

    @property
    def name(self) -> str:
        return self.settings.name

    @property
    def window(self) -> DayWindow:
        # Bank rows come lag_min..lag_max business days (at most two weekends more) after the
        # last sale day, and the first sale day up to span_days before that.
        weekends = 2 * (self.settings.lag_max // 5 + 1)
        return DayWindow(0, self.settings.lag_max + weekends + self._widest_span())

    def _widest_span(self) -> int:
        return max(self.settings.span_days, self.settings.wide_span_days or 0)

    def _max_days_back(self) -> int:
        return self.settings.lag_max + 2 * (self.settings.lag_max // 5 + 1)

    def run(self, state: MatchState) -> Found:
        bank_open, ledger_open = _open(state)
        groups = _Groups.empty()
        keys = self._keys(state)
        keyed = np.flatnonzero(ledger_open & (keys >= 0))
        words = self._key_words(state, keyed) if len(keyed) else {}
        payers = bank_open & (state.bank.amount > 0) if self.settings.deposits_only else bank_open
        payers &= ~_same_day_twins(state, payers, ledger_open)
        named = self._named(
            state, np.flatnonzero(payers), words, state.ledger_block[keyed], keys[keyed]
        )
        if named.empty:
            return Found()
        fees = _FeeModel()
        usual_lags: dict[int, float] = {}  # series -> median business days to the payout
        books_fees: set[int] = set()  # series with a fee row in some fit
        # A payout's fee row, booked on its payout day, sits among the next payout's sales:
        # that sum fits once the fee row has joined its own group. Rounds after the first
        # look again only at the keys whose rows the last round took.
        touched: set[int] | None = None
        settled: set[int] = set()
        while touched is None or touched:
            touched = self._round(
                state, bank_open, ledger_open, groups, fees, usual_lags, books_fees, words,
                named, touched, self.settings.span_days, learn=touched is None,
            )
            settled |= touched
        # Longer runs only now, of the keys settled above and at the rates and lags learned
        # there: offered with the rest, a week's run of a weekly payer and a longer one fitting
        # within the fee tolerance make each other ambiguous.
        wide = self.settings.wide_span_days
        if wide is not None and wide > self.settings.span_days:
            touched = settled
            while touched:
                touched = self._round(
                    state, bank_open, ledger_open, groups, fees, usual_lags, books_fees,
                    words, named, touched, wide, learn=False,
                )
        return groups.found(state, SETTLEMENT_RULE)

    @staticmethod
    def _named(
        state: MatchState, bank_rows: IntArray, words: dict[str, int], ledger_block: IntArray,
        ledger_key: IntArray, shortest_at_end: int = _MIN_PREFIX,
    ) -> pd.DataFrame:  # fmt: skip
        """(bank position, key code) for each key word a bank row's text (counterparty and
        description) names, among the keys of ledger rows in its block (``ledger_block`` and
        ``ledger_key``: one entry per open keyed ledger row). A word cut short names the key
        word it starts when that is the only one in the block, so a block's result never
        depends on the other blocks (partitioned runs). The text's last word, where a bank cuts
        it, may be as short as ``shortest_at_end`` characters ("SEPA CREDIT TRANSFER KOW")."""
        bank = state.bank
        present = pd.DataFrame({"block": ledger_block, "key": ledger_key}).drop_duplicates()
        word_of = {code: word for word, code in words.items()}
        by_block: dict[int, dict[str, int]] = {}
        for block, key in zip(present["block"].tolist(), present["key"].tolist(), strict=True):
            if key in word_of:
                by_block.setdefault(int(block), {})[word_of[key]] = int(key)
        # What each word of a text may stand for, per block, by kind: the key word itself, its
        # plural ("MARGIES"), a word cut short ("COGSWEL"), one cut short where the text ends
        # ("KOW"); a text's word takes its first kind found (a cut-short word starting two key
        # words stands for none).
        table_block: list[int] = []
        table_word: list[str] = []
        table_kind: list[int] = []
        table_key: list[int] = []
        for block, own in by_block.items():
            kinds: list[dict[str, int]] = [
                own, {word + "S": key for word, key in own.items()}, _prefixes(own),
            ]
            if shortest_at_end < _MIN_PREFIX:
                kinds.append(_prefixes(own, shortest_at_end))
            for kind, entries in enumerate(kinds):
                table_block.extend([block] * len(entries))
                table_word.extend(entries)
                table_kind.extend([kind] * len(entries))
                table_key.extend(entries.values())
        text_of = bank.text_code[bank_rows]
        block_of = state.bank_block[bank_rows]
        _, word_code, word_text = bank.text_words
        word_index, word_start = bank.text_word_index
        known = word_index.get_indexer(pd.Index(table_word, dtype=object))
        listed = known >= 0
        # Per (block, word): the entry of its first kind ((block, word, kind) are distinct).
        words_in_all = max(len(word_text), 1)
        entry = np.array(table_block, dtype=np.int64)[listed] * words_in_all + known[listed]
        entry_kind = np.array(table_kind, dtype=np.int64)[listed]
        entry_key = np.array(table_key, dtype=np.int64)[listed]
        order = np.lexsort((entry_kind, entry))
        entry, entry_kind, entry_key = entry[order], entry_kind[order], entry_key[order]
        first = np.r_[True, entry[1:] != entry[:-1]] if len(entry) else np.zeros(0, dtype=bool)
        entry, entry_kind, entry_key = entry[first], entry_kind[first], entry_key[first]
        # The (text, block) pairs of the bank rows in blocks with keys, and their words.
        has_keys = sets.isin(block_of, entry // words_in_all)
        width = int(state.bank_block.max(initial=0)) + 1
        pairs = sets.unique(text_of[has_keys] * width + block_of[has_keys])
        pair_text, pair_block = pairs // width, pairs % width
        at, word_at = expand_ranges(word_start[pair_text], word_start[pair_text + 1])
        wanted = pair_block[at] * words_in_all + word_code[word_at]
        hit = np.minimum(np.searchsorted(entry, wanted), max(len(entry) - 1, 0))
        found = np.flatnonzero(entry[hit] == wanted) if len(entry) else _EMPTY
        text, word = pair_text[at[found]], word_code[word_at[found]]
        text_block, word_kind = pair_block[at[found]], entry_kind[hit[found]]
        word_key = entry_key[hit[found]]
        keep = word_key >= 0
        last_kind = np.flatnonzero(keep & (word_kind == 3))
        if len(last_kind):  # cut short where the text ends: only the text's last word
            keep[last_kind] = [
                str(word_text[w]) == _last_token(str(bank.texts[t]))
                for t, w in zip(text[last_kind].tolist(), word[last_kind].tolist(), strict=True)
            ]  # fmt: skip
        # Each (text, block, key) once, then every bank row of the (text, block).
        keys_in_all = int(word_key.max(initial=0)) + 1
        named = sets.unique(
            (text[keep] * width + text_block[keep]) * keys_in_all + word_key[keep]
        )
        named_pair, named_key = named // keys_in_all, named % keys_in_all
        row_pair = text_of * width + block_of
        row, named_at = expand_ranges(*_equal_ranges(named_pair, row_pair, len(bank.texts) * width))
        b, k = bank_rows[row], named_key[named_at]
        if not bool((bank_rows[1:] > bank_rows[:-1]).all()):  # else in (bank, key) order already
            order = np.lexsort((k, b))
            b, k = b[order], k[order]
        return pd.DataFrame({"bank": b, "key": k})

    @staticmethod
    def _rates(
        days: _Days, first: IntArray, last: IntArray, fee: IntArray, fees: _FeeModel
    ) -> tuple[IntArray, FloatArray]:
        """Per candidate: its series and its fee in percent of its sales total, less the
        series' fixed fee per sale (``fees.per_row``) for each of its rows."""
        series = days.series[last]
        per_row = np.array([fees.per_row.get(int(x), 0) for x in series], dtype=np.int64)
        return series, _percent(fee - per_row * days.rows_in(first, last),
                                days.total(first, last))  # fmt: skip

    @staticmethod
    def _learn_per_row_fees(
        days: _Days, first: IntArray, last: IntArray, fee: IntArray, rank: IntArray,
        fees: _FeeModel,
    ) -> None:  # fmt: skip
        """Each processor's fixed fee per sale (a percent plus 0.30 per sale: the day's rate
        then varies with its sales' sizes): of the amounts tried, the one that puts the most of
        its candidates' remaining rates within ``_PER_ROW_WINDOW`` points of each other (its own
        deposits fall together at its percent; coincidences scatter). 0 on a tie."""
        by_difference = np.flatnonzero(rank == 2)
        if len(by_difference) == 0:
            return
        first, last, fee = first[by_difference], last[by_difference], fee[by_difference]
        series, total, rows = days.series[last], days.total(first, last), days.rows_in(first, last)
        order = np.argsort(series, kind="stable")
        series, fee, total, rows = series[order], fee[order], total[order], rows[order]
        starts = np.flatnonzero(np.r_[True, series[1:] != series[:-1]])
        ends = np.r_[starts[1:], len(series)]
        for start, end in zip(starts.tolist(), ends.tolist(), strict=True):
            if end - start < _MIN_DENSE_FITS:
                continue
            best, best_count = 0, 0
            for per_row in _PER_ROW_FEES.tolist():
                rates = np.sort(_percent(fee[start:end] - per_row * rows[start:end],
                                         total[start:end]))  # fmt: skip
                count = int((np.searchsorted(rates, rates + _PER_ROW_WINDOW, "right")
                             - np.arange(len(rates))).max())  # fmt: skip
                if count > best_count:
                    best, best_count = per_row, count
            if best:
                fees.per_row[int(series[start])] = best

    def _learn_rates(
        self, days: _Days, first: IntArray, last: IntArray, fee: IntArray, rank: IntArray,
        fees: _FeeModel,
    ) -> None:  # fmt: skip
        """Each processor's usual fee rate: the median rate of its fits with the fee left as
        the difference, when there are ``_MIN_RATE_FITS`` of them and their middle half lies
        within ``fee_rate_spread`` (a processor's fits cluster at its rate; coincidences
        within the tolerance scatter over it)."""
        by_difference = rank == 2
        if not by_difference.any():
            return
        series, rate = self._rates(
            days, first[by_difference], last[by_difference], fee[by_difference], fees
        )
        by_series = pd.Series(rate).groupby(series)
        quartiles = by_series.quantile(np.array([0.25, 0.75])).unstack()
        usual_rates = pd.DataFrame({
            "median": by_series.median(), "size": by_series.size(),
            "spread": quartiles[0.75] - quartiles[0.25],
        })  # fmt: skip
        spread = float(self.settings.fee_rate_spread)
        for code, median, size, scatter in usual_rates.itertuples():
            if size >= _MIN_RATE_FITS and scatter <= spread:
                fees.rates[int(code)] = float(median)

    def _learn_dense_rates(
        self, days: _Days, b: IntArray, first: IntArray, last: IntArray, fee: IntArray,
        rank: IntArray, fees: _FeeModel,
    ) -> None:  # fmt: skip
        """The usual rate of a processor too small for unambiguous fits (a week of sales per
        payout: several runs of days fit each deposit): the median of the densest window of
        ``fee_rate_spread`` points among all its candidates' rates, when that window holds
        candidates of at least half its deposits (``_MIN_DENSE_FITS`` at least). Its own
        deposits cluster at its rate; coincidences scatter over the tolerance."""
        by_difference = np.flatnonzero(rank == 2)
        if len(by_difference) == 0:
            return
        series, rate = self._rates(
            days, first[by_difference], last[by_difference], fee[by_difference], fees
        )
        deposit = b[by_difference]
        spread = float(self.settings.fee_rate_spread)
        order = np.lexsort((rate, series))
        series, rate, deposit = series[order], rate[order], deposit[order]
        starts = np.flatnonzero(np.r_[True, series[1:] != series[:-1]])
        ends = np.r_[starts[1:], len(series)]
        for start, end in zip(starts.tolist(), ends.tolist(), strict=True):
            code = int(series[start])
            if code in fees.rates:
                continue
            rates, deposits = rate[start:end], deposit[start:end]
            # Window [rates[i], rates[i] + spread]: its candidates' distinct deposits.
            stop = np.searchsorted(rates, rates + spread, "right")
            best, best_count = -1, 0
            for i, j in zip(range(len(rates)), stop.tolist(), strict=True):
                count = len(np.unique(deposits[i:j]))
                if count > best_count:
                    best, best_count = i, count
            needed = max(_MIN_DENSE_FITS, (len(np.unique(deposits)) + 1) // 2)
            if best >= 0 and best_count >= needed:
                fees.rates[code] = float(np.median(rates[best : int(stop[best])]))

    def _steady_fee(
        self, days: _Days, first: IntArray, last: IntArray, fee: IntArray, rank: IntArray,
        fees: _FeeModel,
    ) -> tuple[BoolArray, FloatArray]:  # fmt: skip
        """Per candidate: False for a fee left as the difference more than ``fee_rate_spread``
        points from its processor's usual rate, or of a processor without one (a processor
        charges alike every day, so a run of days that fits only at another rate is a
        coincidence within the tolerance); and how far from that rate it is (0 for the
        others)."""
        keep = np.ones(len(first), dtype=bool)
        off_rate = np.zeros(len(first), dtype=np.float64)
        by_difference = np.flatnonzero(rank == 2)
        if len(by_difference) == 0:
            return keep, off_rate
        series, rate = self._rates(
            days, first[by_difference], last[by_difference], fee[by_difference], fees
        )
        usual = np.array([fees.rates.get(int(x), np.nan) for x in series], dtype=np.float64)
        spread = float(self.settings.fee_rate_spread)
        off_rate[by_difference] = np.abs(rate - usual)
        keep[by_difference] = off_rate[by_difference] <= spread  # NaN (no usual rate): False
        return keep, off_rate

    def _keys(self, state: MatchState) -> IntArray:
        return state.ledger.party if self.settings.key == "counterparty" else state.ledger.word

    def _key_words(self, state: MatchState, rows: IntArray) -> dict[str, int]:
        """The word each key code of ``rows`` stands for (from one row of each)."""
        ledger, keys = state.ledger, self._keys(state)
        codes, first = np.unique(keys[rows], return_index=True)
        source = rows[first]
        if self.settings.key == "counterparty":  # the text starts with the counterparty
            words = [key_word(str(ledger.texts[c])) for c in ledger.text_code[source]]
        else:
            words = [key_word(str(d)) for d in ledger.description[source]]
        allowed = {key_word(name) for name in self.settings.counterparties}
        # A charge's word names nobody: "Wire fee Motion Industries" rows are no batch that
        # an "ACCOUNT MAINTENANCE FEE" debit pays.
        charge = fee_lines(words)
        return {
            w: int(c) for w, c, is_charge in zip(words, codes.tolist(), charge, strict=True)
            if w and not is_charge and (not allowed or w in allowed)
        }  # fmt: skip

    def _round(
        self, state: MatchState, bank_open: BoolArray, ledger_open: BoolArray, groups: _Groups,
        fees: _FeeModel, usual_lags: dict[int, float], books_fees: set[int],
        words: dict[str, int], named: pd.DataFrame, only: set[int] | None, span_days: int,
        *, learn: bool,
    ) -> set[int]:  # fmt: skip
        """One round over the open rows (of the keys in ``only``, when given), of runs of at
        most ``span_days``; the first (``learn``) learns the processors' fee rates and lags.
        Returns the keys whose rows it grouped."""
        settings, bank, ledger = self.settings, state.bank, state.ledger
        keys = self._keys(state)
        wanted = np.fromiter(words.values() if only is None else only, dtype=np.int64)
        l_rows = np.flatnonzero(ledger_open & (keys >= 0))
        l_rows = l_rows[sets.isin(keys[l_rows], wanted)]
        pair_b = named["bank"].to_numpy(dtype=np.int64)
        pair_key = named["key"].to_numpy(dtype=np.int64)
        still = bank_open[pair_b] & sets.isin(pair_key, wanted)
        pair_b, pair_key = pair_b[still], pair_key[still]
        if len(l_rows) == 0 or len(pair_b) == 0:
            return set()
        width = int(keys.max()) + 1
        series_of = state.ledger_block[l_rows] * width + keys[l_rows]
        days = _days(l_rows, series_of, ledger)
        pair_series = state.bank_block[pair_b] * width + pair_key

        # Last sale day: a day of that series lag_min..lag_max business days before the bank row.
        composite_width = int(days.day.max()) + self._max_days_back() + 2
        base = int(days.day.min()) - self._max_days_back() - 1
        day_key = days.series * composite_width + (days.day - base)
        bank_day = bank.date[pair_b]
        low = np.searchsorted(
            day_key, pair_series * composite_width + (bank_day - self._max_days_back() - base),
            "left",
        )
        high = np.searchsorted(day_key, pair_series * composite_width + (bank_day - base), "right")
        # Every (bank row, last day, first day) candidate, built a slice of bank rows at a time:
        # a bank row naming a busy counterparty has dozens, and only the few that fit are kept.
        found = [
            self._fits(state, days, day_key, composite_width, base, pair_b[part],
                       low[part], high[part], span_days)
            for part in _slices(len(pair_b), _PAIRS_PER_SLICE)
        ]  # fmt: skip
        b, first, last, fee, count = (np.concatenate(arrays) for arrays in zip(*found, strict=True))
        fee_row = self._fee_rows(state, days, l_rows, series_of, b, last, fee)
        rank = np.where(fee == 0, 0, np.where(fee_row >= 0, 1, 2))
        # A fee left as the difference: a processor's payout (money in) of a day's sales, not a
        # few rows, from a processor that does not book its fees (none of its fits has a fee
        # row, in this round or before).
        series = days.series[last]
        books_fees.update(sets.unique(series[rank == 1]).tolist())
        plausible = (rank < 2) | (
            (count >= settings.fee_min_rows) & (bank.amount[b] > 0)
            & ~sets.isin(series, np.fromiter(books_fees, dtype=np.int64, count=len(books_fees)))
        )  # fmt: skip
        b, first, last, fee, fee_row, rank = (
            b[plausible], first[plausible], last[plausible], fee[plausible], fee_row[plausible],
            rank[plausible],
        )
        lag = np.busday_count(
            days.day[last].astype("datetime64[D]"), bank.date[b].astype("datetime64[D]"),
            holidays=state.holidays(),
        ).astype(np.int64)
        if learn:  # usual fees and lags: from the first round's unambiguous fits
            alone = _choose(b, rank)
            self._learn_per_row_fees(days, first, last, fee, rank, fees)
            self._learn_rates(days, first[alone], last[alone], fee[alone], rank[alone], fees)
            self._learn_dense_rates(days, b, first, last, fee, rank, fees)
            by_series = pd.Series(lag[alone]).groupby(days.series[last[alone]]).median()
            usual_lags.update(
                zip(by_series.index.to_numpy(dtype=np.int64).tolist(),
                    by_series.to_numpy(dtype=np.float64).tolist(), strict=True)
            )  # fmt: skip
        steady, off_rate = self._steady_fee(days, first, last, fee, rank, fees)
        b, first, last, fee, fee_row, rank, lag = (
            b[steady], first[steady], last[steady], fee[steady], fee_row[steady], rank[steady],
            lag[steady],
        )
        # Closeness to the processor's habits: its fee rate (in spreads) and its lag (days).
        usual_lag = np.array(
            [usual_lags.get(int(x), np.nan) for x in days.series[last]], dtype=np.float64
        )
        off_lag = np.nan_to_num(np.abs(lag - usual_lag), nan=0.0)
        spread = max(float(settings.fee_rate_spread), 1e-9)
        chosen, margin = _choose_by_margin(b, rank, off_rate[steady] / spread + off_lag)
        b, first, last, fee, fee_row, margin = (
            b[chosen], first[chosen], last[chosen], fee[chosen], fee_row[chosen], margin[chosen]
        )
        members = [
            np.r_[days.rows[days.row_start[f]:days.row_start[t + 1]], [r] if r >= 0 else []]
            .astype(np.int64)
            for f, t, r in zip(first.tolist(), last.tolist(), fee_row.tolist(), strict=True)
        ]
        ok = ~_single_row_of_amount(
            l_rows, series_of, ledger, days.series[last], bank.amount[b], days.day[first],
            bank.date[b],
        )  # fmt: skip
        ok[ok] = _clearest_first([members[k] for k in np.flatnonzero(ok).tolist()], b[ok],
                                 margin[ok], len(ledger))  # fmt: skip
        added: set[int] = set()
        word_of = {code: word for word, code in words.items()}
        for k in np.flatnonzero(ok).tolist():
            bank_row, rows = int(b[k]), members[k]
            has_fee_row = int(fee_row[k]) >= 0
            difference = 0 if has_fee_row else -int(fee[k])
            status = Status.MATCHED if difference == 0 else Status.MATCHED_WITH_DIFFERENCE
            currency = str(bank.currency[bank_row])
            word = word_of.get(int(keys[rows[0]]), "")
            first_day, last_day = int(days.day[first[k]]), int(days.day[last[k]])
            span = (
                explain.day_text(first_day) if first_day == last_day
                else f"{explain.day_text(first_day)} to {explain.day_text(last_day)}"
            )  # fmt: skip
            sales = len(rows) - int(has_fee_row)
            sales_total = int(days.total(first[k : k + 1], last[k : k + 1])[0])
            note = (
                f"; {word} rows of {span} settled {explain.day_text(int(bank.date[bank_row]))}: "
                f"{sales} rows sum to {explain.money(sales_total, currency)}"
                f"{_fee_note(int(fee[k]), currency, has_fee_row)}"
            )
            groups.add(np.array([bank_row]), rows, status, difference, note)
            bank_open[bank_row] = False
            ledger_open[rows] = False
            added.add(int(keys[rows[0]]))
        return added

    def _fits(
        self, state: MatchState, days: _Days, day_key: IntArray, composite_width: int,
        base: int, pair_b: IntArray, low: IntArray, high: IntArray, span_days: int,
    ) -> tuple[IntArray, IntArray, IntArray, IntArray, IntArray]:  # fmt: skip
        """(bank row, first day, last day, fee, rows) of each run of at most ``span_days``
        sale days whose total fits its bank row: ``low``..``high`` are each bank row's
        possible last days (in ``day_key`` order)."""
        settings, bank = self.settings, state.bank
        pair_at, last = expand_ranges(low.astype(np.int64), high.astype(np.int64))
        lag = np.busday_count(
            days.day[last].astype("datetime64[D]"),
            bank.date[pair_b[pair_at]].astype("datetime64[D]"), holidays=state.holidays(),
        )
        keep = (lag >= settings.lag_min) & (lag <= settings.lag_max)
        pair_at, last = pair_at[keep], last[keep]
        # First sale day: any day of the series up to span_days before the last.
        first_low = np.searchsorted(
            day_key, days.series[last] * composite_width
            + (days.day[last] - span_days + 1 - base), "left",
        )  # fmt: skip
        first_low = np.maximum(first_low, days.first_of_series[last])
        # Per bank row once, per candidate by index: most candidates fail the fee test, so
        # the row counts and signs are only looked at for those that pass it.
        amount = bank.amount[pair_b]
        limit = _fee_limit(bank, pair_b, settings)
        cand_at, first = days.firsts_within(
            first_low.astype(np.int64), last, amount[pair_at], limit[pair_at]
        )
        at = pair_at[cand_at]
        last = last[cand_at]
        total = days.total(first, last)
        fee = total - amount[at]
        near = np.flatnonzero((fee >= 0) & (fee <= limit[at]))
        at, first, last, total, fee = at[near], first[near], last[near], total[near], fee[near]
        count = days.rows_in(first, last)
        # A processor's refunds are a small part of its sales; a partner paid and paying in
        # the same days trades both ways, and its rows summing near a deposit is chance.
        against = days.against(first, last)
        fits = (
            (count >= settings.min_rows) & (np.sign(total) == np.sign(amount[at]))
            & (against * _AGAINST_SHARE[1] <= (np.abs(total) + against) * _AGAINST_SHARE[0])
        )  # fmt: skip
        return pair_b[at[fits]], first[fits], last[fits], fee[fits], count[fits]

    def _fee_rows(
        self, state: MatchState, days: _Days, l_rows: IntArray, series_of: IntArray,
        b: IntArray, last: IntArray, fee: IntArray,
    ) -> IntArray:  # fmt: skip
        """Per candidate: an open ledger row of its series booking exactly its fee (amount
        -fee) within fee_row_days of the bank row, outside its sale days; -1 when none."""
        result = np.full(len(b), -1, dtype=np.int64)
        ledger = state.ledger
        negative = ledger.amount[l_rows] < 0
        if not negative.any() or len(b) == 0:
            return result
        fee_rows = pd.DataFrame({
            "series": series_of[negative], "amount": -ledger.amount[l_rows[negative]],
            "row": l_rows[negative],
        })  # fmt: skip
        wanted = pd.DataFrame({
            "series": days.series[last], "amount": fee, "at": np.arange(len(b)),
        })  # fmt: skip
        joined = wanted[wanted["amount"] > 0].merge(fee_rows, on=["series", "amount"])
        if joined.empty:
            return result
        at = joined["at"].to_numpy(dtype=np.int64)
        row = joined["row"].to_numpy(dtype=np.int64)
        near = np.abs(ledger.date[row] - state.bank.date[b[at]]) <= self.settings.fee_row_days
        after_sales = ledger.date[row] > days.day[last[at]]
        at, row = at[near & after_sales], row[near & after_sales]
        # One fee row per candidate (the first in position order) when several book the fee.
        order = np.lexsort((row, at))
        at, row = at[order], row[order]
        keep = np.r_[True, at[1:] != at[:-1]] if len(at) else np.zeros(0, dtype=bool)
        result[at[keep]] = row[keep]
        return result


def naming_counts(
    state: MatchState, target: IntArray, members: list[IntArray], *, target_is_bank: bool
) -> IntArray:
    """Per (target, its chosen rows of the other side): in how many of the pairs the bank row
    names the ledger row's reference (the parts of one invoice name it; another invoice of the
    same payer merely sums alike)."""
    named = naming_parts(state, target, members, target_is_bank=target_is_bank)
    return np.array([int(parts.sum()) for parts in named], dtype=np.int64)


def naming_parts(
    state: MatchState, target: IntArray, members: list[IntArray], *, target_is_bank: bool
) -> list[BoolArray]:
    """Per (target, its chosen rows of the other side): which of the pairs' bank rows name
    the ledger row's reference."""
    sizes = np.array([len(m) for m in members], dtype=np.int64)
    if sizes.sum() == 0:
        return [np.zeros(len(m), dtype=bool) for m in members]
    rows, owner = np.concatenate(members), np.repeat(target, sizes)
    bank_rows, ledger_rows = (owner, rows) if target_is_bank else (rows, owner)
    agree = references.reference_evidence(state.bank, state.ledger, bank_rows, ledger_rows)[0]
    return np.split(agree, np.cumsum(sizes)[:-1])


# ---------------------------------------------------------------------------------------------
# Reference totals


def _named_references(state: MatchState, bank_rows: IntArray) -> tuple[IntArray, IntArray]:
    """(bank position, ledger reference code) for each reference an open bank row names (in
    its texts, whole or cut off at the end; recon.engine.references)."""
    named_b, named_code = state.bank.named_pairs
    among = np.zeros(len(state.bank), dtype=bool)
    among[bank_rows] = True
    keep = among[named_b]
    return named_b[keep].astype(np.int64), named_code[keep].astype(np.int64)


def _ledger_references(state: MatchState) -> IntArray:
    """Each ledger row's reference code (as :func:`_named_references` codes them), -1 none."""
    return state.ledger.named_reference


@dataclass(frozen=True)
class ReferenceTotalPass:
    settings: ReferenceTotals

    @property
    def name(self) -> str:
        return self.settings.name

    @property
    def window(self) -> DayWindow:
        # The first rows of a reference may be span_days older than the last.
        settings = self.settings
        return DayWindow(settings.days_before, settings.days_after + settings.span_days)

    def run(self, state: MatchState) -> Found:
        bank_open, ledger_open = _open(state)
        groups = _Groups.empty()
        # The references the bank rows' texts name, then those the reference column and the
        # reference pattern give (an id too long to be searched in free text).
        self._by_source(state, _ledger_references(state),
                        *_named_references(state, np.flatnonzero(bank_open)), bank_open,
                        ledger_open, groups)  # fmt: skip
        column = np.flatnonzero(bank_open & (state.bank.reference >= 0))
        self._by_source(state, state.ledger.reference, column, state.bank.reference[column],
                        bank_open, ledger_open, groups)  # fmt: skip
        self._by_counterparty(state, bank_open, ledger_open, groups)
        return groups.found(state, REFERENCE_RULE)

    def _by_counterparty(
        self, state: MatchState, bank_open: BoolArray, ledger_open: BoolArray, groups: _Groups
    ) -> None:
        """The rows of one counterparty sharing a reference no bank row names (a payout id the
        bank cut away or never printed), paid by a deposit that names the counterparty: within
        the window after the last row, less a fee at the counterparty's usual rate (the median
        of its deposits that named their reference or fit one group only, when
        ``_MIN_RATE_FITS`` of them do), and the only such deposit of the group as the group is
        its only one. The processor's lag does not matter: the reference says which sales are
        one payout."""
        settings, bank, ledger = self.settings, state.bank, state.ledger
        references = _ledger_references(state)
        l_rows = np.flatnonzero(ledger_open & (references >= 0) & (ledger.party >= 0))
        b_rows = np.flatnonzero(bank_open & (bank.party >= 0))
        if len(l_rows) == 0 or len(b_rows) == 0:
            return
        width = int(references.max(initial=0)) + 1
        series = state.ledger_block[l_rows] * width + references[l_rows]
        order = np.lexsort((l_rows, series))
        rows, series = l_rows[order], series[order]
        starts = np.flatnonzero(np.r_[True, series[1:] != series[:-1]])
        ends = np.r_[starts[1:], len(rows)]
        party = ledger.party[rows]
        total = np.add.reduceat(ledger.amount[rows], starts)
        dates = ledger.date[rows]
        earliest, latest = np.minimum.reduceat(dates, starts), np.maximum.reduceat(dates, starts)
        eligible = np.flatnonzero(
            (np.minimum.reduceat(party, starts) == np.maximum.reduceat(party, starts))
            & (ends - starts >= max(settings.min_rows, settings.fee_min_rows))
            & (earliest >= latest - settings.span_days) & (total != 0)
        )  # fmt: skip
        parties = int(max(ledger.party.max(initial=0), bank.party.max(initial=0))) + 1
        group_key = state.ledger_block[rows[starts[eligible]]] * parties + party[starts[eligible]]
        bank_key = state.bank_block[b_rows] * parties + bank.party[b_rows]
        pairs = pd.DataFrame({"key": group_key, "g": eligible}).merge(
            pd.DataFrame({"key": bank_key, "b": b_rows}), on="key"
        )
        g = pairs["g"].to_numpy(dtype=np.int64)
        b = pairs["b"].to_numpy(dtype=np.int64)
        day, fee = bank.date[b], total[g] - bank.amount[b]
        fits = (
            (day >= latest[g]) & (day <= latest[g] + settings.days_after)
            & (np.sign(total[g]) == np.sign(bank.amount[b]))
            & (fee >= 0) & (fee <= _fee_limit(bank, b, settings))
        )  # fmt: skip
        b, g, fee = b[fits], g[fits], fee[fits]
        rate = _percent(fee, total[g])
        group_party = party[starts[g]]
        alone = _only_one_each(b, g)
        # The rates of the deposits that fit one group only, and of those that named theirs.
        learn_party = [group_party[alone & (fee > 0)]]
        learn_rate = [rate[alone & (fee > 0)]]
        for members, difference in zip(groups.ledger, groups.difference, strict=True):
            if difference < 0 and ledger.party[members[0]] >= 0:
                learn_party.append(ledger.party[members[:1]])
                learn_rate.append(_percent(np.array([-difference]),
                                           np.array([ledger.amount[members].sum()])))
        known_party, known_rate = np.concatenate(learn_party), np.concatenate(learn_rate)
        usual = np.full(parties, np.nan)
        for code in np.unique(known_party).tolist():
            own = known_party == code
            if int(own.sum()) >= _MIN_RATE_FITS:
                usual[code] = float(np.median(known_rate[own]))
        steady = (fee == 0) | (np.abs(rate - usual[group_party]) <= float(settings.fee_rate_spread))
        # A processor pays its payouts a steady number of business days after the last sale:
        # where the deposits that named their reference show it, a group waits that long (one
        # day more or less), not for whichever of its daily deposits sums alike.
        lag = _business_days(latest[g], bank.date[b])
        usual_lag = np.full(parties, np.nan)
        named_party = [ledger.party[m[0]] for m in groups.ledger]
        named_lag = [
            int(_business_days(ledger.date[m].max(keepdims=True), bank.date[x[:1]])[0])
            for m, x in zip(groups.ledger, groups.bank, strict=True)
        ]  # fmt: skip
        for code in set(named_party):
            own_lags = [x for p, x in zip(named_party, named_lag, strict=True) if p == code]
            if code >= 0 and len(own_lags) >= _MIN_RATE_FITS:
                usual_lag[code] = float(np.median(own_lags))
        on_time = ~(np.abs(lag - usual_lag[group_party]) > 1)  # NaN: no usual lag, any
        b, g, fee, on_time = b[steady], g[steady], fee[steady], on_time[steady]
        # Pairs alone at the usual rate; then, of the rest, those alone at the usual lag too.
        alone = _only_one_each(b, g)
        rest = ~sets.isin(b, b[alone]) & ~sets.isin(g, g[alone]) & on_time
        alone[np.flatnonzero(rest)[_only_one_each(b[rest], g[rest])]] = True
        for bank_row, group, group_fee in zip(
            b[alone].tolist(), g[alone].tolist(), fee[alone].tolist(), strict=True
        ):
            members = rows[starts[group] : ends[group]]
            party_word = key_word(str(ledger.texts[ledger.text_code[members[0]]]))
            self._pay(state, groups, bank_open, ledger_open, bank_row, members,
                      int(total[group]), group_fee,
                      f" (not on the bank row, which names {party_word})")  # fmt: skip

    def _by_source(
        self, state: MatchState, references: IntArray, b: IntArray, code: IntArray,
        bank_open: BoolArray, ledger_open: BoolArray, groups: _Groups,
    ) -> None:  # fmt: skip
        """Groups of the ledger rows with one of ``references`` codes (per ledger row) that
        bank row ``b[i]`` names by ``code[i]``."""
        settings, bank, ledger = self.settings, state.bank, state.ledger
        l_rows = np.flatnonzero(ledger_open & (references >= 0))
        keep = bank_open[b]
        b, code = b[keep], code[keep]
        if len(l_rows) == 0 or len(b) == 0:
            return
        width = int(max(references.max(initial=0), code.max(initial=0))) + 1
        series = state.ledger_block[l_rows] * width + references[l_rows]
        order = np.lexsort((l_rows, series))
        rows, series = l_rows[order], series[order]
        starts = np.flatnonzero(np.r_[True, series[1:] != series[:-1]])
        ends = np.r_[starts[1:], len(rows)]
        group_series = series[starts]
        total = np.add.reduceat(ledger.amount[rows], starts)
        dates = ledger.date[rows]
        earliest, latest = np.minimum.reduceat(dates, starts), np.maximum.reduceat(dates, starts)
        wanted = state.bank_block[b] * width + code
        at = np.minimum(np.searchsorted(group_series, wanted), len(group_series) - 1)
        known = group_series[at] == wanted
        b, g = b[known], at[known]
        day = bank.date[b]
        # The last row within the window, the others at most span_days before it (a payout of
        # a fortnight's sales carries its id on every sale).
        in_window = (
            (latest[g] >= day - settings.days_after) & (latest[g] <= day + settings.days_before)
            & (earliest[g] >= latest[g] - settings.span_days)
        )  # fmt: skip
        several_b, several_g = b[in_window], g[in_window]
        fee = total[g] - bank.amount[b]
        fits = (
            in_window & (ends[g] - starts[g] >= settings.min_rows)
            & (np.sign(total[g]) == np.sign(bank.amount[b]))
            & (fee >= 0) & (fee <= _fee_limit(bank, b, settings))
            & ((fee == 0) | (ends[g] - starts[g] >= settings.fee_min_rows))
        )  # fmt: skip
        b, g, fee = b[fits], g[fits], fee[fits]
        rank = np.where(fee == 0, 0, 1)
        chosen = _choose(b, rank)
        b, g, fee = b[chosen], g[chosen], fee[chosen]
        once = _choose(g, np.zeros(len(g), dtype=np.int64))  # one bank row per reference
        for bank_row, group, group_fee in zip(
            b[once].tolist(), g[once].tolist(), fee[once].tolist(), strict=True
        ):
            members = rows[starts[group] : ends[group]]
            self._pay(state, groups, bank_open, ledger_open, bank_row, members,
                      int(total[group]), group_fee, "")  # fmt: skip
        # One bank row paying several references it names (a remittance of three invoices):
        # the rows of all of them sum to it exactly.
        still = bank_open[several_b] & ledger_open[rows[starts[several_g]]]
        several_b, several_g = several_b[still], several_g[still]
        if len(several_b) == 0:
            return
        several_b, several_g = unique_pairs(several_b, several_g)
        first = np.flatnonzero(np.r_[True, several_b[1:] != several_b[:-1]])
        count = np.diff(np.r_[first, len(several_b)])
        paid = np.add.reduceat(total[several_g], first)
        payer = several_b[first]
        whole = (count >= 2) & (paid == bank.amount[payer])
        ends_at = np.r_[first[1:], len(several_b)]
        claimed = [several_g[first[k] : ends_at[k]] for k in np.flatnonzero(whole).tolist()]
        alone = _disjoint(claimed, len(group_series))
        for k, own in zip(np.flatnonzero(whole).tolist(), alone.tolist(), strict=True):
            if not own:
                continue
            bank_row = int(payer[k])
            members = np.concatenate(
                [rows[starts[x] : ends[x]] for x in several_g[first[k] : ends_at[k]].tolist()]
            )
            currency = str(bank.currency[bank_row])
            names = ", ".join(
                self._reference_text(state, int(rows[starts[x]])).removeprefix("reference ")
                for x in several_g[first[k] : ends_at[k]].tolist()
            )
            note = (
                f"; references {names}: {len(members)} rows sum to "
                f"{explain.money(int(paid[k]), currency)}"
            )
            groups.add(np.array([bank_row]), members, Status.MATCHED, 0, note)
            bank_open[bank_row] = False
            ledger_open[members] = False

    def _pay(
        self, state: MatchState, groups: _Groups, bank_open: BoolArray, ledger_open: BoolArray,
        bank_row: int, members: IntArray, total: int, fee: int, how_named: str,
    ) -> None:  # fmt: skip
        """Link the rows of one reference (summing to ``total``) to ``bank_row``, ``fee`` short
        of it, unless one of them alone has the bank amount; ``how_named`` follows the
        reference in the explanation."""
        bank = state.bank
        if not _no_single_match([members], bank.amount[[bank_row]], state.ledger)[0]:
            return
        currency = str(bank.currency[bank_row])
        note = (
            f"; {self._reference_text(state, int(members[0]))}{how_named}: {len(members)} rows "
            f"sum to {explain.money(total, currency)}{_fee_note(fee, currency, False)}"
        )
        status = Status.MATCHED if fee == 0 else Status.MATCHED_WITH_DIFFERENCE
        groups.add(np.array([bank_row]), members, status, -fee, note)
        bank_open[bank_row] = False
        ledger_open[members] = False

    @staticmethod
    def _reference_text(state: MatchState, ledger_row: int) -> str:
        """'payout ST-Q4X9M2B7KD1P' (the reference as the ledger writes it), and the fragment
        the bank row showed when it was cut off."""
        ledger = state.ledger
        return f"reference {ledger.reference_names[ledger.named_reference[ledger_row]]}"


# ---------------------------------------------------------------------------------------------
# Partial payments


def _not_yet_fitted(
    t: IntArray, b: IntArray, named: BoolArray, fitted: list[int]
) -> tuple[IntArray, IntArray, BoolArray]:
    """The (ledger row, bank row) pairs, and ``named`` of each, of the ledger rows not in
    ``fitted``."""
    keep = ~np.isin(t, np.array(fitted, dtype=np.int64))
    return t[keep], b[keep], named[keep]


@dataclass(frozen=True)
class PartialPaymentPass:
    settings: PartialPayments

    @property
    def name(self) -> str:
        return self.settings.name

    @property
    def window(self) -> DayWindow:
        return DayWindow(
            self.settings.days_before,
            max(self.settings.days_after, self.settings.named_days_after),
        )

    def run(self, state: MatchState) -> Found:
        bank, ledger = state.bank, state.ledger
        bank_open, ledger_open = _open(state)
        groups = _Groups.empty()
        # A debit and its reversal sum to nothing: they pay no invoice.
        b_rows = unreversed(state, np.flatnonzero(bank_open))
        column = b_rows[bank.reference[b_rows] >= 0]
        parties = np.flatnonzero(ledger_open & (ledger.party >= 0))
        words = _party_words(state, parties) if len(parties) else {}
        named = SettlementPass._named(
            state, b_rows, words, state.ledger_block[parties], ledger.party[parties],
            shortest_at_end=_MIN_PREFIX_AT_END,
        )
        # Each ledger row's pool: the bank rows naming its reference (in their texts, or by
        # the reference column) or its counterparty, whichever names it.
        sources = (
            (ledger.named_reference, *_named_references(state, b_rows)),
            (ledger.reference, column, bank.reference[column]),
            (ledger.party, named["bank"].to_numpy(dtype=np.int64),
             named["key"].to_numpy(dtype=np.int64)),
        )  # fmt: skip
        pairs_t, pairs_b = [], []
        reaches = (self.settings.named_days_after,) * 2 + (self.settings.days_after,)
        for (ledger_key, named_b, named_key), reach in zip(sources, reaches, strict=True):
            t, b = self._pairs(
                state, ledger_key, named_b, named_key, ledger_open, _WIDE_POOL, reach
            )
            pairs_t.append(t)
            pairs_b.append(b)
        t, b = unique_pairs(np.concatenate(pairs_t), np.concatenate(pairs_b))
        t, b = possible_parts(t, b, ledger.amount, bank.amount)
        # A transfer naming another invoice pays that one, not this one; a check is no part of
        # an invoice booked as a transfer, nor the other way round.
        keep = ~(references.reference_evidence(bank, ledger, b, t)[1]
                 | rails_differ(bank, ledger, b, t))  # fmt: skip
        t, b = t[keep], b[keep]
        near_t, near_b = nearest(t, b, ledger.date, bank.date, 2 * self.settings.max_parts)
        self._runs(state, near_t, near_b, bank_open, ledger_open, groups, wide=(t, b))
        self._with_fee_lines(state, sources[:2], bank_open, ledger_open, groups)
        self._fees_of_a_month(state, bank_open, ledger_open, groups)
        if self.settings.allow_remainder:
            self._allow_remainder(state, bank_open, ledger_open, groups)
        return groups.found(state, PARTIAL_RULE)

    def _pairs(
        self, state: MatchState, ledger_key: IntArray, named_b: IntArray, named_key: IntArray,
        ledger_open: BoolArray, cap: int, days_after: int | None = None,
    ) -> tuple[IntArray, IntArray]:  # fmt: skip
        """(ledger row, bank row) pairs of one key within the window (the bank row up to
        ``days_after`` days later, else the setting's), at most ``cap`` bank rows per ledger
        row (the nearest)."""
        settings, bank, ledger = self.settings, state.bank, state.ledger
        targets = np.flatnonzero(ledger_open & (ledger_key >= 0))
        if len(targets) == 0 or len(named_b) == 0:
            return _EMPTY, _EMPTY
        width = int(max(ledger_key.max(), named_key.max())) + 1
        # The window from the ledger row's side: swap the roles of before and after.
        return keyed_window_pairs(
            targets, state.ledger_block[targets] * width + ledger_key[targets],
            ledger.date[targets], named_b, state.bank_block[named_b] * width + named_key,
            bank.date[named_b],
            days_before=settings.days_after if days_after is None else days_after,
            days_after=settings.days_before, cap=cap,
        )  # fmt: skip

    def _runs(
        self, state: MatchState, t: IntArray, b: IntArray, bank_open: BoolArray,
        ledger_open: BoolArray, groups: _Groups,
        wide: tuple[IntArray, IntArray] = (_EMPTY, _EMPTY),
    ) -> None:  # fmt: skip
        """Each ledger row's pool (its 2 * max_parts nearest bank rows by key) holding exactly
        one subset of 2..max_parts rows summing to it: those rows pay it. Two parts are looked
        for in its whole pool (``wide``: (ledger row, bank row) pairs) too: when some fit, the
        best of them (recon.engine.passes.parts) is its payment, sure when it is the only one.
        A ledger row that lost a bank row to another's claim looks again among the rows left
        (two invoices of one payer, each paid with a round 2,000.00 part on the same day)."""
        bank, ledger = state.bank, state.ledger
        pool = wide  # as first searched: its size tells whether the search was cut
        for _ in range(_PARTIAL_ROUNDS):
            target, members, sure = self._candidates(state, t, b, *wide)
            if len(target) == 0:
                break
            named_parts = naming_parts(state, target, members, target_is_bank=False)
            named = np.array([int(x.sum()) for x in named_parts], dtype=np.int64)
            # Sure only when a part names the invoice or at most one part is round (two round
            # parts of 2,000.00 and 3,000.00 fit many invoices of a payer by chance); of
            # several invoices claiming one bank row, the one whose parts name it wins.
            sure &= (named > 0) | (round_counts(members, bank) <= 1)
            # A part that one or two other rows of the payer make up as well: several fit.
            sure &= ~replaceable(target, members, named_parts, *pool, bank, sure, _WIDE_POOL)
            ok, sure = resolve_claims(target, members, sure, named, ledger.date, len(bank))
            for k in np.flatnonzero(ok).tolist():
                ledger_row, parts = int(target[k]), members[k]
                currency = str(ledger.currency[ledger_row])
                note = (
                    f"; paid in {len(parts)} parts naming its reference or counterparty: "
                    + " + ".join(explain.money(int(a), currency) for a in bank.amount[parts])
                )
                if not sure[k]:
                    note += "; suggested: another subset of the payer's rows fits too"
                status = Status.MATCHED if sure[k] else Status.SUGGESTED
                groups.add(parts, np.array([ledger_row]), status, 0, note)
                bank_open[parts] = False
                ledger_open[ledger_row] = False
            again = np.zeros(len(ledger), dtype=bool)
            again[target[~ok]] = True
            if not again.any():
                break
            keep = again[t] & ledger_open[t] & bank_open[b]
            t, b = t[keep], b[keep]
            wide_t, wide_b = wide
            keep = again[wide_t] & ledger_open[wide_t] & bank_open[wide_b]
            wide = (wide_t[keep], wide_b[keep])

    def _with_fee_lines(
        self, state: MatchState, sources: tuple[tuple[IntArray, IntArray, IntArray], ...],
        bank_open: BoolArray, ledger_open: BoolArray, groups: _Groups,
    ) -> None:  # fmt: skip
        """A ledger row paid by a bank row naming its reference and the bank's fee of that
        day (or the day before or after) that makes up the rest, exactly: the bank account's
        line of one journal entry (10,025.00 = the wire's 10,000.00 + its 25.00 wire fee)
        against the statement's two lines. Of several such fee lines the nearest in date."""
        bank, ledger = state.bank, state.ledger
        fees = np.flatnonzero(bank_open & bank.fee_line)
        if len(fees) == 0:
            return
        pairs_t, pairs_b = [], []
        for ledger_key, named_b, named_key in sources:
            keep = bank_open[named_b]
            found = self._pairs(state, ledger_key, named_b[keep], named_key[keep], ledger_open,
                                2 * self.settings.max_parts)  # fmt: skip
            pairs_t.append(found[0])
            pairs_b.append(found[1])
        t, b = unique_pairs(np.concatenate(pairs_t), np.concatenate(pairs_b))
        t, b = possible_parts(t, b, ledger.amount, bank.amount)
        t, b = t[~bank.fee_line[b]], b[~bank.fee_line[b]]
        if len(t) == 0:
            return
        rest = ledger.amount[t] - bank.amount[b]
        # (pair, fee line) with the pair's block and rest and the fee line's block and amount
        # as one key, the fee line within a day of the bank row.
        width = int(max(np.abs(rest).max(), np.abs(bank.amount[fees]).max())) * 2 + 2
        pair, fee = keyed_window_pairs(
            np.arange(len(t), dtype=np.int64), state.bank_block[b] * width + rest + width // 2,
            bank.date[b], fees, state.bank_block[fees] * width + bank.amount[fees] + width // 2,
            bank.date[fees], days_before=1, days_after=1, cap=8,
        )  # fmt: skip
        if len(pair) == 0:
            return
        order = np.lexsort((fee, np.abs(bank.date[fee] - bank.date[b[pair]]), b[pair], t[pair]))
        for k in order.tolist():
            ledger_row, part, fee_row = int(t[pair[k]]), int(b[pair[k]]), int(fee[k])
            if not (ledger_open[ledger_row] and bank_open[part] and bank_open[fee_row]):
                continue
            currency = str(ledger.currency[ledger_row])
            paid, charged = (explain.money(int(bank.amount[row]), currency)
                             for row in (part, fee_row))  # fmt: skip
            code = int(ledger.named_reference[ledger_row])
            named = f" naming {ledger.reference_names[code]}" if code >= 0 else ""
            note = (f"; paid by {paid}{named} and the bank's fee of {charged}"
                    " (one ledger row for both)")  # fmt: skip
            groups.add(np.array([part, fee_row]), np.array([ledger_row]), Status.MATCHED, 0, note)
            bank_open[[part, fee_row]] = False
            ledger_open[ledger_row] = False

    @staticmethod
    def _fees_of_a_month(
        state: MatchState, bank_open: BoolArray, ledger_open: BoolArray, groups: _Groups
    ) -> None:
        """A ledger row booking the bank's charges of a month ("Bank charges March": its text
        says fee or charge) paid by all of that month's open fee lines of its account, two at
        least, summing to it exactly: its own month's, else (booked in the first days of the
        next) the month before's. Two such ledger rows of one account and amount pay none."""
        bank, ledger = state.bank, state.ledger
        targets = np.flatnonzero(ledger_open & ledger.fee_line & (ledger.amount < 0))
        fees = np.flatnonzero(bank_open & bank.fee_line & (bank.amount < 0))
        if len(targets) == 0 or len(fees) == 0:
            return

        def month(days: IntArray) -> IntArray:
            months: IntArray = days.astype("datetime64[D]").astype("datetime64[M]").astype(np.int64)
            return months

        # One key per (block, month): the fee lines' totals and rows.
        span = int(month(np.r_[bank.date[fees], ledger.date[targets]]).max()) + 2
        key = state.bank_block[fees] * span + month(bank.date[fees])
        order = np.argsort(key, kind="stable")
        fees, key = fees[order], key[order]
        starts = np.flatnonzero(np.r_[True, key[1:] != key[:-1]])
        ends = np.r_[starts[1:], len(key)]
        sums = np.add.reduceat(bank.amount[fees], starts)
        totals = {
            int(key[first]): (int(total), int(first), int(end))
            for first, end, total in zip(starts.tolist(), ends.tolist(), sums.tolist(), strict=True)
        }
        own = state.ledger_block[targets] * span + month(ledger.date[targets])
        chosen: dict[int, tuple[int, int, int]] = {}  # ledger row -> (key, start, end)
        for row, key_now in zip(targets.tolist(), own.tolist(), strict=True):
            for month_key in (key_now, key_now - 1):
                total, start, end = totals.get(month_key, (0, 0, 0))
                if end - start >= 2 and total == int(ledger.amount[row]):
                    chosen[row] = (month_key, start, end)
                    break
        claims = Counter(month_key for month_key, _, _ in chosen.values())
        for row, (month_key, start, end) in chosen.items():
            lines = fees[start:end]
            if claims[month_key] > 1 or not bank_open[lines].all():
                continue
            currency = str(ledger.currency[row])
            note = (f"; the bank's {len(lines)} fee lines of "
                    f"{np.datetime64(month_key % span, 'M')}, "
                    f"{explain.money(int(ledger.amount[row]), currency)} in all")  # fmt: skip
            groups.add(lines, np.array([row]), Status.MATCHED, 0, note)
            bank_open[lines] = False
            ledger_open[row] = False

    def _candidates(
        self, state: MatchState, t: IntArray, b: IntArray, wide_t: IntArray, wide_b: IntArray
    ) -> tuple[IntArray, list[IntArray], BoolArray]:
        """Per ledger row with a fitting subset: (ledger row, its chosen parts, whether sure)."""
        bank, ledger = state.bank, state.ledger
        target, members, sure = subset_fits(
            t, b, ledger.amount, bank.amount, ledger.date, bank.date, self.settings.max_parts,
            anchor=references.reference_evidence(bank, ledger, b, t)[0],
        )  # fmt: skip
        target_list, sure_list = target.tolist(), sure.tolist()
        self._two_parts(state, wide_t, wide_b, target_list, members, sure_list)
        # Per pair of the whole pool: the bank row names the ledger row's reference.
        names_it = references.reference_evidence(bank, ledger, wide_b, wide_t)[0]
        self._three_parts(state, wide_t, wide_b, names_it, target_list, members, sure_list)
        self._named_and_rest(state, wide_t, wide_b, names_it, target_list, members, sure_list)
        kept = [k for k, m in enumerate(members) if len(m)]
        target = np.array([target_list[k] for k in kept], dtype=np.int64)
        return target, [members[k] for k in kept], np.array([sure_list[k] for k in kept])

    @staticmethod
    def _three_parts(
        state: MatchState, t: IntArray, b: IntArray, names_it: BoolArray,
        target_list: list[int], members: list[IntArray], sure: list[bool],
    ) -> None:  # fmt: skip
        """For a ledger row nothing else fits: three rows of its whole pool summing to it, one
        of them naming its reference (``names_it``, per pair; a payer's first transfer names the
        invoice; the bank cut the text of the later ones). The most parts naming the
        reference, then nearest in date, then the first; sure when it is the only such
        triple."""
        bank, ledger = state.bank, state.ledger
        t, b, anchor = _not_yet_fitted(t, b, names_it, target_list)
        target, *parts = anchored_three_part_fits(t, b, anchor, ledger.amount, bank.amount)
        if len(target) == 0:
            return
        # A triple is found once per part naming the reference: one of each.
        rows = np.sort(np.stack(parts, axis=1), axis=1)
        triples = pd.DataFrame({"t": target, "a": rows[:, 0], "b": rows[:, 1], "c": rows[:, 2]})
        distinct = triples.drop_duplicates().to_numpy(dtype=np.int64)
        target, rows = distinct[:, 0], distinct[:, 1:]
        named = sum(
            (references.reference_evidence(bank, ledger, rows[:, k], target)[0]
             .astype(np.int64) for k in range(3)),
            np.zeros(len(target), dtype=np.int64),
        )  # fmt: skip
        distance = np.abs(bank.date[rows] - ledger.date[target][:, None]).sum(axis=1)
        order = np.lexsort((rows[:, 2], rows[:, 1], rows[:, 0], distance, -named, target))
        target, rows, named = target[order], rows[order], named[order]
        starts = np.flatnonzero(np.r_[True, target[1:] != target[:-1]])
        count = np.diff(np.r_[starts, len(target)])
        for start, n in zip(starts.tolist(), count.tolist(), strict=True):
            target_list.append(int(target[start]))
            members.append(rows[start].copy())
            sure.append(n == 1 or bool(named[start] > named[start + 1]))

    def _named_and_rest(
        self, state: MatchState, t: IntArray, b: IntArray, names_it: BoolArray,
        target_list: list[int], members: list[IntArray], sure: list[bool],
    ) -> None:  # fmt: skip
        """For a ledger row nothing else fits: every row of its whole pool naming its reference
        (``names_it``, per pair), and the one or two others making up the rest
        (recon.engine.passes.parts); sure when it is the only such fit."""
        bank, ledger = state.bank, state.ledger
        t, b, anchor = _not_yet_fitted(t, b, names_it, target_list)
        target, found, only = named_and_rest_fits(
            t, b, anchor, ledger.amount, bank.amount, self.settings.max_parts
        )
        target_list.extend(target.tolist())
        members.extend(found)
        sure.extend(only.tolist())

    def _allow_remainder(
        self, state: MatchState, bank_open: BoolArray, ledger_open: BoolArray, groups: _Groups
    ) -> None:
        """Bank rows naming a ledger row's reference that pay less than it (allow_remainder)."""
        named_b, named_code = _named_references(state, np.flatnonzero(bank_open))
        t, b = self._pairs(state, state.ledger.named_reference, named_b, named_code,
                           ledger_open, 2 * self.settings.max_parts)  # fmt: skip
        t, b = unique_pairs(t, b)
        self._remainders(state, t, b, bank_open, ledger_open, groups)

    @staticmethod
    def _two_parts(
        state: MatchState, t: IntArray, b: IntArray, target_list: list[int],
        members: list[IntArray], sure: list[bool],
    ) -> None:  # fmt: skip
        """Replace each ledger row's choice by the best pair of its whole pool that pays it,
        where one does: most parts naming its reference, then nearest in date (then the
        first); sure when it is the only pair, or names the reference in more parts than any
        other pair."""
        target, first, second = two_part_fits(t, b, state.ledger.amount, state.bank.amount)
        if len(target) == 0:
            return
        bank, ledger = state.bank, state.ledger
        named = (references.reference_evidence(bank, ledger, first, target)[0].astype(np.int64)
                 + references.reference_evidence(bank, ledger, second, target)[0])  # fmt: skip
        distance = (np.abs(bank.date[first] - ledger.date[target])
                    + np.abs(bank.date[second] - ledger.date[target]))  # fmt: skip
        order = np.lexsort((second, first, distance, -named, target))
        target, first, second = target[order], first[order], second[order]
        named, distance = named[order], distance[order]
        starts = np.flatnonzero(np.r_[True, target[1:] != target[:-1]])
        count = np.diff(np.r_[starts, len(target)])
        at = {row: k for k, row in enumerate(target_list)}
        chosen_named = naming_counts(
            state, np.array(target_list, dtype=np.int64), members, target_is_bank=False
        )
        for start, n in zip(starts.tolist(), count.tolist(), strict=True):
            row = int(target[start])
            pair = np.array([first[start], second[start]], dtype=np.int64)
            # The only pair, or the only one naming the reference so often.
            only = n == 1 or named[start] > named[start + 1]
            if row in at:
                # A choice among the nearest rows naming the reference in more parts stays.
                if chosen_named[at[row]] > named[start]:
                    continue
                members[at[row]], sure[at[row]] = pair, only
            else:
                target_list.append(row)
                members.append(pair)
                sure.append(only)

    def _remainders(
        self, state: MatchState, t: IntArray, b: IntArray, bank_open: BoolArray,
        ledger_open: BoolArray, groups: _Groups,
    ) -> None:  # fmt: skip
        """Bank rows naming an open ledger row's reference that together pay less than it:
        suggested, the rest named open."""
        bank, ledger = state.bank, state.ledger
        still = ledger_open[t] & bank_open[b]
        t, b = t[still], b[still]
        if len(t) == 0:
            return
        starts = np.flatnonzero(np.r_[True, t[1:] != t[:-1]])
        paid = np.add.reduceat(bank.amount[b], starts)
        owed = ledger.amount[t[starts]]
        part = (np.sign(paid) == np.sign(owed)) & (np.abs(paid) < np.abs(owed))
        ends = np.r_[starts[1:], len(t)]
        members = [b[starts[k] : ends[k]] for k in range(len(starts))]
        ok = part & _disjoint(members, len(bank))
        for k in np.flatnonzero(ok).tolist():
            ledger_row, parts = int(t[starts[k]]), members[k]
            currency = str(ledger.currency[ledger_row])
            note = (
                f"; partially paid: {explain.money(int(paid[k]), currency)} of "
                f"{explain.money(int(owed[k]), currency)} in {len(parts)} part(s), "
                f"{explain.money(int(owed[k] - paid[k]), currency)} open"
            )
            groups.add(parts, np.array([ledger_row]), Status.SUGGESTED, int(paid[k] - owed[k]),
                       note)  # fmt: skip
            bank_open[parts] = False
            ledger_open[ledger_row] = False
