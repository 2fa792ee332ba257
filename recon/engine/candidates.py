"""Candidate pairs by blocking: equal keys (or an amount band) and a date window, never N x M.

Both searches sort one side once and binary-search the other side's bounds (numpy.searchsorted),
then expand the [lo, hi) ranges into pair arrays without Python loops. Fan-out is capped per bank
row (``cap``) so thousands of rows sharing an amount (payroll, subscriptions) stay bounded; the
cap keeps the rows nearest in date (or amount), centred on the bank row's rank among its equals
so that twin rows do not all crowd the same few candidates.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import pandas as pd

from recon.engine import sets
from recon.engine.normalise import IntArray

# Candidates kept per bank row per search: bounds memory when many rows share an amount.
FAN_OUT_CAP = 8
# Date offsets live in the low bits of a composite key; 2**22 days is ~11,000 years.
_DATE_BITS = 22
_DATE_PAD = 1024  # > the widest window (366 days), so shifted dates never go negative
_MAX_COMPOSITE = 2**62
# Above this size ratio of the ledger side to the bank side, the ledger side is first cut down to
# the keys the bank side has.
_FILTER_RATIO = 4


def expand_ranges(starts: IntArray, stops: IntArray) -> tuple[IntArray, IntArray]:
    """(range number, value) for every value of the ranges [starts[i], stops[i])."""
    counts = np.maximum(stops - starts, 0)
    total = int(counts.sum())
    rows = np.repeat(np.arange(len(starts), dtype=np.int64), counts)
    offsets = np.arange(total, dtype=np.int64) - np.repeat(np.cumsum(counts) - counts, counts)
    return rows, np.repeat(starts, counts) + offsets


def _rank_among_equals(keys: IntArray, tie: IntArray) -> IntArray:
    """0, 1, 2... for rows with the same key, in (tie, position) order: a vectorised cumcount."""
    if len(keys) == 0:
        return np.zeros(0, dtype=np.int64)
    order = order_by(keys, tie, np.arange(len(keys)))
    sorted_keys = keys[order]
    starts = np.r_[True, sorted_keys[1:] != sorted_keys[:-1]]
    group_start = np.maximum.accumulate(np.where(starts, np.arange(len(keys)), 0))
    rank = np.empty(len(keys), dtype=np.int64)
    rank[order] = np.arange(len(keys)) - group_start
    return rank


def order_by(key: IntArray, tie: IntArray, position: IntArray) -> IntArray:
    """``np.lexsort((position, tie, key))``. When the rows already come in (tie, position) order
    (both ascending: ties all zero, or dates of rows in position order), one stable sort of
    ``key`` gives the same order at a third of the work."""
    if bool((tie[1:] >= tie[:-1]).all()) and bool((position[1:] >= position[:-1]).all()):
        return sets.order(key)
    return sets.order(key, tie, position)


def _cap_ranges(
    lo: IntArray, hi: IntArray, centre: IntArray, cap: int
) -> tuple[IntArray, IntArray]:
    width = hi - lo
    wide = width > cap
    start = np.clip(centre - cap // 2, lo, np.maximum(hi - cap, lo))
    return np.where(wide, start, lo), np.where(wide, start + cap, hi)


def keyed_window_pairs(
    bank_pos: IntArray,
    bank_key: IntArray,
    bank_date: IntArray,
    ledger_pos: IntArray,
    ledger_key: IntArray,
    ledger_date: IntArray,
    *,
    days_before: int,
    days_after: int,
    cap: int,
    bank_tie: IntArray | None = None,
    ledger_tie: IntArray | None = None,
) -> tuple[IntArray, IntArray]:
    """Pairs with equal key and ``-days_before <= bank_date - ledger_date <= days_after``.

    Keys are non-negative int64 (rows without a key must be filtered out by the caller).
    ``*_tie`` (e.g. counterparty codes) order rows that share key and date, so that when the cap
    applies, rows naming the same party line up. Returns (bank positions, ledger positions).
    """
    pairs = keyed_window_pairs_and_counts(
        bank_pos, bank_key, bank_date, ledger_pos, ledger_key, ledger_date,
        days_before=days_before, days_after=days_after, cap=cap, bank_tie=bank_tie,
        ledger_tie=ledger_tie,
    )  # fmt: skip
    return pairs[0], pairs[1]


def keyed_window_pairs_and_counts(
    bank_pos: IntArray,
    bank_key: IntArray,
    bank_date: IntArray,
    ledger_pos: IntArray,
    ledger_key: IntArray,
    ledger_date: IntArray,
    *,
    days_before: int,
    days_after: int,
    cap: int,
    bank_tie: IntArray | None = None,
    ledger_tie: IntArray | None = None,
) -> tuple[IntArray, IntArray, IntArray]:
    """:func:`keyed_window_pairs`, plus how many candidates each row has, from one search."""
    if bank_tie is None or ledger_tie is None:
        bank_tie = np.zeros(len(bank_pos), dtype=np.int64)
        ledger_tie = np.zeros(len(ledger_pos), dtype=np.int64)
    empty = np.zeros(0, dtype=np.int64)
    if len(ledger_pos) > _FILTER_RATIO * len(bank_pos):
        # A few rows against many (leftovers against every linked row): only the many whose key
        # the few have can pair. Dropping the rest (one hash pass) spares sorting them all.
        keep = pd.Series(ledger_key, copy=False).isin(bank_key).to_numpy()
        ledger_pos, ledger_key = ledger_pos[keep], ledger_key[keep]
        ledger_date, ledger_tie = ledger_date[keep], ledger_tie[keep]
    if len(bank_pos) == 0 or len(ledger_pos) == 0:
        return empty, empty, np.zeros(len(bank_pos), dtype=np.int64)
    # Any numbering of the keys gives the same result: only rows with one key are compared.
    codes, _ = pd.factorize(np.concatenate([bank_key, ledger_key]))
    codes = codes.astype(np.int64)
    bank_g, ledger_g = codes[: len(bank_key)], codes[len(bank_key) :]
    day0 = min(int(bank_date.min()), int(ledger_date.min())) - _DATE_PAD
    span = max(int(bank_date.max()), int(ledger_date.max())) - day0 + _DATE_PAD
    if span >= 2**_DATE_BITS:
        raise ValueError("dates span more than 11,000 years")

    def composite(group: IntArray, day: IntArray) -> IntArray:
        return (group << _DATE_BITS) | (day - day0)

    ledger_comp = composite(ledger_g, ledger_date)
    order = order_by(ledger_comp, ledger_tie, ledger_pos)
    sorted_comp = ledger_comp[order]
    own = composite(bank_g, bank_date)
    # Queries in ascending order make searchsorted walk the sorted side forwards (several times
    # faster than random probes); shifting every date by one constant keeps that order.
    query_order = sets.order(own)
    day = bank_date[query_order]
    group = bank_g[query_order]

    def bound(shifted_day: IntArray, side: Literal["left", "right"]) -> IntArray:
        found = np.empty(len(own), dtype=np.int64)
        found[query_order] = np.searchsorted(sorted_comp, composite(group, shifted_day), side)
        return found

    lo = bound(day - days_after, "left")
    hi = bound(day + days_before, "right")
    counts: IntArray = (hi - lo).astype(np.int64)
    # Only capped rows read the centre. Rows of one key and date share their range, so a
    # capped row's equals are all capped: its rank among them is its rank among capped rows.
    centre = bound(day, "left")
    wide = np.flatnonzero(counts > cap)
    centre[wide] += _rank_among_equals(own[wide], bank_tie[wide])
    lo, hi = _cap_ranges(lo.astype(np.int64), hi.astype(np.int64), centre, cap)
    rows, at = expand_ranges(lo, hi)
    return bank_pos[rows], ledger_pos[order[at]], counts


def band_pairs(
    bank_pos: IntArray,
    bank_group: IntArray,
    bank_amount: IntArray,
    bank_tolerance: IntArray,
    ledger_pos: IntArray,
    ledger_group: IntArray,
    ledger_amount: IntArray,
    *,
    cap: int,
) -> tuple[IntArray, IntArray]:
    """Pairs with equal group and ``|ledger_amount - bank_amount| <= bank_tolerance``.

    Groups are non-negative int64 (e.g. a code for account, currency and date). Returns (bank
    positions, ledger positions); at most ``cap`` per bank row, the nearest in amount.
    """
    empty = np.zeros(0, dtype=np.int64)
    if len(bank_pos) == 0 or len(ledger_pos) == 0:
        return empty, empty
    groups, inverse = np.unique(ledger_group, return_inverse=True)
    ledger_g = inverse.astype(np.int64)
    found = np.searchsorted(groups, bank_group)
    known = (found < len(groups)) & (groups[np.minimum(found, len(groups) - 1)] == bank_group)
    bank_pos, bank_amount = bank_pos[known], bank_amount[known]
    bank_tolerance = bank_tolerance[known]
    bank_g = found[known].astype(np.int64)
    if len(bank_pos) == 0:
        return empty, empty
    widest = int(bank_tolerance.max())
    floor = min(int(bank_amount.min()) - widest, int(ledger_amount.min()))
    span = max(int(bank_amount.max()) + widest, int(ledger_amount.max())) - floor + 1
    if len(groups) * span >= _MAX_COMPOSITE:
        raise ValueError("amounts too large for the amount-band search")
    ledger_comp = ledger_g * span + (ledger_amount - floor)
    order = sets.order(ledger_comp)
    sorted_comp = ledger_comp[order]
    base = bank_g * span - floor
    lo = np.searchsorted(sorted_comp, base + bank_amount - bank_tolerance, "left")
    hi = np.searchsorted(sorted_comp, base + bank_amount + bank_tolerance, "right")
    centre = np.searchsorted(sorted_comp, base + bank_amount, "left")
    lo, hi = _cap_ranges(lo.astype(np.int64), hi.astype(np.int64), centre.astype(np.int64), cap)
    rows, at = expand_ranges(lo, hi)
    return bank_pos[rows], ledger_pos[order[at]]


def date_band_pairs(
    bank_pos: IntArray,
    bank_block: IntArray,
    bank_date: IntArray,
    bank_amount: IntArray,
    bank_tolerance: IntArray,
    ledger_pos: IntArray,
    ledger_block: IntArray,
    ledger_date: IntArray,
    ledger_amount: IntArray,
    *,
    days_before: int,
    days_after: int,
    cap: int,
) -> tuple[IntArray, IntArray]:
    """Same block, amount within the bank row's tolerance, date within the window.

    One amount-band search per day offset, so the fan-out is bounded by amount and date together.
    """
    bank_parts, ledger_parts = [], []
    ledger_group = (ledger_block << _DATE_BITS) | (ledger_date - _day_floor(bank_date, ledger_date))
    day0 = _day_floor(bank_date, ledger_date)
    for delta in range(-days_before, days_after + 1):  # delta = bank date - ledger date
        bank_group = (bank_block << _DATE_BITS) | (bank_date - delta - day0)
        b, ledger = band_pairs(
            bank_pos, bank_group, bank_amount, bank_tolerance,
            ledger_pos, ledger_group, ledger_amount, cap=cap,
        )  # fmt: skip
        bank_parts.append(b)
        ledger_parts.append(ledger)
    if not bank_parts:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty
    return np.concatenate(bank_parts), np.concatenate(ledger_parts)


def _day_floor(bank_date: IntArray, ledger_date: IntArray) -> int:
    lows = [int(a.min()) for a in (bank_date, ledger_date) if len(a)]
    return (min(lows) if lows else 0) - _DATE_PAD


def unique_pairs(left: IntArray, right: IntArray) -> tuple[IntArray, IntArray]:
    """Distinct (left, right) pairs of non-negative ints, sorted by left then right.

    The same as ``np.unique(np.stack([left, right]), axis=1)``, through one int64 key: sorting
    int64 is many times faster than numpy's row-wise unique.
    """
    if len(left) == 0:
        return left.astype(np.int64), right.astype(np.int64)
    width = int(right.max()) + 1
    if (int(left.max()) + 1) * width >= _MAX_COMPOSITE:
        raise ValueError("positions too large to pair")
    keys = np.sort(left.astype(np.int64) * width + right)
    keys = keys[np.r_[True, keys[1:] != keys[:-1]]]  # sort + diff: faster than np.unique's hash
    return keys // width, keys % width
