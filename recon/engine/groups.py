"""Many-to-one and one-to-many groups by a bounded, exact subset-sum search.

A target (a bank deposit, or a ledger invoice) is grouped with leftover rows of the other side
from the same account and currency, within the group date window, that name the same party (the
counterparty or the first meaningful word of the description) or carry the same reference
(the nearest in date, ``max_candidates`` per key at most). A pool with more open rows than
``max_candidates`` (config allows at most 40) waits until other groups shrink it, since its fit
could not be shown unique. Every subset of 2 to ``max_group_size`` rows whose sum is within
``amount_tolerance`` of the target counts. The search enumerates subset sums in integer minor
units (meet in the middle: two halves of 2**(n/2) sums), so it is exact; pools without any fit
(most of them) are told in batches first (at most 2**12 sums per pool) and never searched one
by one. It stops taking new targets when its one-by-one searches have enumerated
``max_subset_sums`` sums: a work budget (the engine runs per (account, currency) partition, so
one budget per partition), so the result is the same on any machine.

:func:`find_day_groups` pools otherwise, for bank rows that name nobody: ledger rows of one
booking day and one first description word (several customers' checks paid in as one DEPOSIT,
a payroll provider's debit for the day's "Net pay ..." rows); a fit in a day's pool of more
than ``SURE_POOL_ROWS`` rows is only suggested.

A target is grouped when exactly one subset fits; targets with a few fitting subsets become
suggestions, and those with many (dense pools of look-alike sales) stay open rather than be
guessed. A unique fit in a pool large enough that some subset would fit by chance
(``max_chance_fits``; same-reference pools excepted) is only suggested.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pandas as pd

from recon.config import GroupSearch
from recon.engine import explain, sets
from recon.engine.candidates import expand_ranges, keyed_window_pairs, unique_pairs
from recon.engine.normalise import BoolArray, IntArray, Side, key_word
from recon.engine.scoring import per_row_minor, rails_differ

_HALF = 20  # 2**20 subset sums per half at most
# An ambiguous group is suggested (with its alternatives) only when this few subsets fit.
MAX_SUGGESTED_OPTIONS = 3
# A fit in a larger pool is only suggested: expected_chance_fits counts subsets of any size,
# and among so many rows the few small subsets near a target fit by chance more often.
SURE_POOL_ROWS = 24
_MAX_SOLUTIONS = 16  # enough to tell "exactly one" from "several" and to list the options


@dataclass(frozen=True)
class Group:
    """Rows of one side (``members``) whose sum fits a row of the other side (``target``)."""

    target_is_bank: bool
    target: int
    members: IntArray  # positions on the other side, ascending
    options: tuple[IntArray, ...]  # the other fitting subsets (empty when the fit is unique)
    # Subsets of the pool expected to fit by chance alone (0 for same-reference pools, whose
    # shared reference is the evidence).
    chance_fits: float = 0.0
    # What pooled the members when that was not a shared party or reference (the explanation
    # says it): "ledger rows booked on 2026-10-29 described 'CHECK ...'".
    pool: str = ""
    # Why the fit is never auto-confirmed, "" when nothing speaks against it ("in a pool this
    # large only pairs are searched": a larger subset may fit as well).
    unsure: str = ""


_TABLE_BITS = 12  # pools up to this size: every subset sum at once, no halves


def _row_subset_sums(amounts: IntArray) -> IntArray:
    """Row p, column m: the sum of the items of row p whose bits are set in m, for a (pools, n)
    matrix; one doubling per item (2**n additions in all, no n x 2**n table)."""
    rows, n = amounts.shape
    sums = np.zeros((rows, 1 << n), dtype=np.int64)
    for item in range(n):  # subsets holding item k: those without it, plus it
        half = 1 << item
        np.add(sums[:, :half], amounts[:, item : item + 1], out=sums[:, half : 2 * half])
    return sums


def _subset_sums(amounts: IntArray) -> tuple[IntArray, IntArray]:
    """Sums and bit masks of all 2**n subsets."""
    sums = _row_subset_sums(amounts.astype(np.int64)[None, :])[0]
    return sums, np.arange(len(sums), dtype=np.int64)


def _sorted_subset_sums(amounts: IntArray) -> tuple[IntArray, IntArray]:
    """Sums and bit masks of all 2**n subsets, by sum, ties by mask.

    Each item doubles the sorted list by merging it with itself shifted by the item (a stable
    sort of two sorted runs is one merge): 2**(n+1) steps in all, no sort of 2**n sums. Sum
    and mask are packed into one int64 (``(sum - lowest) << n | mask``) when they fit.
    """
    n = len(amounts)
    lowest = int(amounts[amounts < 0].sum())
    if (int(np.abs(amounts).sum()) + 1).bit_length() + n > 62:
        sums, masks = _subset_sums(amounts)
        order = sets.order(sums)
        return sums[order], masks[order]
    packed = np.full(1, -lowest << n, dtype=np.int64)
    for item, amount in enumerate(amounts.tolist()):
        packed = np.sort(
            np.concatenate([packed, packed + ((amount << n) | (1 << item))]), kind="stable"
        )
    return (packed >> n) + lowest, packed & ((1 << n) - 1)


def search_cost(n: int) -> int:
    """Subset sums :func:`fitting_subsets` enumerates for ``n`` amounts."""
    if n <= _TABLE_BITS:
        return 1 << n
    split = min((n + 1) // 2, _HALF)
    return (1 << split) + (1 << (n - split))


@dataclass
class _Budget:
    """The subset sums one direction of the search may still enumerate."""

    sums_left: int

    def left(self) -> bool:
        return self.sums_left > 0

    def spend(self, sums: int) -> bool:
        """Take ``sums`` from the budget; False (nothing taken) when they do not fit."""
        if sums > self.sums_left:
            self.sums_left = 0  # later, smaller searches would make the cut depend on sizes
            return False
        self.sums_left -= sums
        return True


def expected_chance_fits(amounts: IntArray, target: int, tolerance: int) -> float:
    """How many subsets of ``amounts`` would sum to target +- tolerance by chance alone.

    The 2**n subset sums spread like a normal curve (mean: half the total; variance: a quarter
    of the sum of squares); this is 2**n times its density at the target, times the width of
    the window. A unique fit in a pool where this is near 1 is likely a coincidence.
    """
    values = amounts.astype(np.float64)
    spread = math.sqrt(float(np.dot(values, values))) / 2
    if spread == 0:
        return 0.0
    z = (target - float(values.sum()) / 2) / spread
    density = math.exp(-z * z / 2) / (math.sqrt(2 * math.pi) * spread)
    return float(2.0 ** len(amounts) * density * (2 * tolerance + 1))


def _popcount(masks: IntArray) -> IntArray:
    counts: IntArray = np.bitwise_count(masks).astype(np.int64)
    return counts


def fitting_subsets(
    amounts: IntArray, target: int, tolerance: int, max_size: int
) -> list[IntArray]:
    """Index arrays of subsets (2..max_size items) summing to target +- tolerance, exactly.

    At most ``_MAX_SOLUTIONS`` are returned, fewest items first, then lowest indices.
    """
    return SubsetSearch(amounts).fits(target, tolerance, max_size)


class SubsetSearch:
    """:func:`fitting_subsets` of one list of amounts for any number of targets: its subset
    sums are enumerated (and sorted) once, on the first search that needs them."""

    def __init__(self, amounts: IntArray) -> None:
        self.amounts = amounts

    @cached_property
    def _table(self) -> IntArray:
        return _subset_sums(self.amounts)[0]

    @cached_property
    def _halves(self) -> tuple[int, IntArray, IntArray, IntArray, IntArray]:
        """(first half's size, its sums and masks, the second half's sums and masks by sum)."""
        n = len(self.amounts)
        split = min((n + 1) // 2, _HALF)  # even halves: 2 * 2**(n/2) sums, not 2**20 + ...
        return split, *_subset_sums(self.amounts[:split]), *_sorted_subset_sums(
            self.amounts[split:]
        )

    def fits(self, target: int, tolerance: int, max_size: int) -> list[IntArray]:
        n = len(self.amounts)
        if n <= _TABLE_BITS:  # every subset sum at once: no halves to sort and search
            sums = self._table
            hits = np.flatnonzero((sums >= target - tolerance) & (sums <= target + tolerance))
            if len(hits) <= 64 * _MAX_SOLUTIONS:  # else the halves' search stops early: use it
                return _smallest(hits, n, max_size)
        split, sums_a, masks_a, sums_b, masks_b = self._halves
        lo = np.searchsorted(sums_b, target - tolerance - sums_a, "left")
        # The first sum at or above the window's low end: a hit when it is within the window
        # too (one search for every sum of the first half, the second only for the few hits).
        nearest = sums_b[np.minimum(lo, len(sums_b) - 1)]
        hits = np.flatnonzero((lo < len(sums_b)) & (nearest <= target + tolerance - sums_a))
        hi = np.searchsorted(sums_b, target + tolerance - sums_a[hits], "right")
        found: list[int] = []
        for i, stop in zip(hits.tolist(), hi.tolist(), strict=True):
            for j in range(int(lo[i]), stop):
                found.append(int(masks_a[i]) | (int(masks_b[j]) << split))
            if len(found) > 64 * _MAX_SOLUTIONS:
                break
        return _smallest(np.array(found, dtype=np.int64), n, max_size)


def _smallest(masks: IntArray, n: int, max_size: int) -> list[IntArray]:
    """The first ``_MAX_SOLUTIONS`` of the subset masks of 2..max_size items, fewest items first,
    then lowest mask; as index arrays."""
    if len(masks) == 0:
        return []
    sizes = _popcount(masks)
    keep = (sizes >= 2) & (sizes <= max_size)
    masks, sizes = masks[keep], sizes[keep]
    masks = masks[np.lexsort((masks, sizes))][:_MAX_SOLUTIONS]
    bits = (masks[:, None] >> np.arange(n, dtype=np.int64)) & 1
    return [np.flatnonzero(row) for row in bits]


def _candidates(
    target: Side, other: Side, target_rows: IntArray, other_rows: IntArray,
    target_block: IntArray, other_block: IntArray, config: GroupSearch, target_is_bank: bool,
    by_reference_only: bool = False,
) -> tuple[IntArray, IntArray]:
    """(target position, other position) pairs that share a party word or a reference."""
    # The window is written from the bank's point of view (bank date minus ledger date).
    before, after = (
        (config.days_before, config.days_after)
        if target_is_bank
        else (config.days_after, config.days_before)
    )
    parts_t, parts_o = [], []
    keys = [(target.reference, other.reference)]
    if not by_reference_only:
        keys += [
            (target.party, other.party), (target.party, other.word), (target.word, other.party),
            (target.word, other.word),
        ]  # fmt: skip
    for target_key, other_key in keys:
        modulus = max(int(target_key.max(initial=0)), int(other_key.max(initial=0))) + 2
        t_rows = target_rows[target_key[target_rows] >= 0]
        o_rows = other_rows[other_key[other_rows] >= 0]
        t, o = keyed_window_pairs(
            t_rows, target_block[t_rows] * modulus + target_key[t_rows], target.date[t_rows],
            o_rows, other_block[o_rows] * modulus + other_key[o_rows], other.date[o_rows],
            days_before=before, days_after=after,
            cap=config.max_candidates,
        )  # fmt: skip
        parts_t.append(t)
        parts_o.append(o)
    t, o = unique_pairs(np.concatenate(parts_t), np.concatenate(parts_o))
    # A check and a transfer are never one payment.
    keep = ~(rails_differ(target, other, t, o) if target_is_bank
             else rails_differ(other, target, o, t))  # fmt: skip
    return t[keep], o[keep]


def find_groups(
    bank: Side,
    ledger: Side,
    bank_free: BoolArray,
    ledger_free: BoolArray,
    bank_block: IntArray,
    ledger_block: IntArray,
    config: GroupSearch,
) -> list[Group]:
    """Groups for bank targets first (payouts), then ledger targets (split payments).

    With ``config.reference_only``, only pools of rows that carry the target's reference are
    searched.

    ``bank_free`` / ``ledger_free`` are updated in place as rows join groups. Targets are taken
    in position ((date, id)) order, so the result depends on the rows' content only.
    """
    groups: list[Group] = []
    for target_is_bank in (True, False):
        target, other = (bank, ledger) if target_is_bank else (ledger, bank)
        target_free, other_free = (bank_free, ledger_free) if target_is_bank else (
            ledger_free, bank_free)
        target_block, other_block = (bank_block, ledger_block) if target_is_bank else (
            ledger_block, bank_block)
        t_rows, o_rows = np.flatnonzero(target_free), np.flatnonzero(other_free)
        if len(t_rows) == 0 or len(o_rows) == 0:
            continue
        # Each direction's search gets half the budget: payouts cannot starve split payments.
        budget = _Budget(config.max_subset_sums // 2)
        tolerance_at = np.zeros(len(target), dtype=np.int64)  # per target position
        tolerance_at[t_rows] = per_row_minor(target, t_rows, config.amount_tolerance)
        # Pools of rows carrying the target's reference (a payout id on the deposit and on each
        # sale) first: exact and small. Then pools by party word or reference for the rest.
        for by_reference_only in (True,) if config.reference_only else (True, False):
            t_rows, o_rows = np.flatnonzero(target_free), np.flatnonzero(other_free)
            t, o = _candidates(
                target, other, t_rows, o_rows, target_block, other_block, config,
                target_is_bank, by_reference_only,
            )  # fmt: skip
            groups += _search(
                target_is_bank, target, other, t, o, target_free, other_free, tolerance_at,
                config, budget, by_reference_only,
            )  # fmt: skip
    return groups


def _reachable(
    amounts: IntArray, starts: IntArray, target: IntArray, tolerance: IntArray
) -> BoolArray:
    """Per pool (``amounts[starts[i]:starts[i+1]]``): False when no subset of 2+ of its rows can
    sum to ``target[i]`` +- ``tolerance[i]``, told from bounds, for all pools at once.

    Most pools fail this: their rows together fall short of the target, or (all of one sign)
    any two of them exceed it. Rows leaving a pool only tighten both bounds, so a pool found
    hopeless here stays hopeless and is never searched.
    """
    pool = np.repeat(np.arange(len(starts)), np.diff(np.r_[starts, len(amounts)]))
    low, high = target - tolerance, target + tolerance
    positives = np.bincount(pool, np.maximum(amounts, 0), minlength=len(starts))
    negatives = np.bincount(pool, np.minimum(amounts, 0), minlength=len(starts))
    reachable: BoolArray = (high >= negatives) & (low <= positives)
    # Within each pool in ascending amount: the two smallest and the two largest.
    ordered = amounts[np.lexsort((amounts, pool))]
    ends = np.r_[starts[1:], len(amounts)]
    sizes = ends - starts
    two = sizes >= 2
    first, second = starts[two], starts[two] + 1
    last, before_last = ends[two] - 1, ends[two] - 2
    all_positive = ordered[first] >= 0
    all_negative = ordered[last] <= 0
    smallest_two = ordered[first] + ordered[second]
    largest_two = ordered[last] + ordered[before_last]
    reachable[two] &= ~(all_positive & (high[two] < smallest_two))
    reachable[two] &= ~(all_negative & (low[two] > largest_two))
    return reachable


_BATCH_SUMS = 1 << 22  # subset sums held at once when checking pools in batches
# Pools up to this size are checked in batches (halves of up to 10 rows; above that, one batched
# search of 2**12-sum halves costs more than the search it would spare).
_HALVES_CHECKED = 20


def _fit_possible(
    amounts: IntArray, starts: IntArray, target: IntArray, tolerance: IntArray, max_size: int,
    among: BoolArray,
) -> BoolArray:  # fmt: skip
    """Per pool (``amounts[starts[i]:starts[i+1]]``): False when no subset of 2..``max_size`` of
    its rows sums to ``target[i]`` +- ``tolerance[i]``; only pools in ``among`` are checked.

    Most pools have no fit: told here for all pools of one size at once, they are never
    searched one by one. Exact for pools of up to ``_TABLE_BITS`` rows; for larger ones (up to
    ``_HALVES_CHECKED``) a sum of one subset of each half in the window counts as possible,
    whatever its size; larger pools count as possible. Rows only ever leave a pool, so a pool
    without a fit stays without one.
    """
    sizes = np.diff(np.r_[starts, len(amounts)])
    possible = np.ones(len(starts), dtype=bool)
    for n in range(2, min(_HALVES_CHECKED, int(sizes.max(initial=0))) + 1):
        pools = np.flatnonzero((sizes == n) & among)
        if len(pools) == 0:
            continue
        members = amounts[(starts[pools][:, None] + np.arange(n)).ravel()].reshape(-1, n)
        low, high = target[pools] - tolerance[pools], target[pools] + tolerance[pools]
        count = _popcount(np.arange(2**n, dtype=np.int64)) if n <= _TABLE_BITS else None
        step = max(1, _BATCH_SUMS >> min(n, n - n // 2))
        for first in range(0, len(pools), step):
            part = slice(first, first + step)
            if count is None:
                possible[pools[part]] = _halves_fit(members[part], low[part], high[part])
                continue
            sums = _row_subset_sums(members[part])
            fits = (sums >= low[part, None]) & (sums <= high[part, None])
            possible[pools[part]] = (fits & (count >= 2) & (count <= max_size)).any(axis=1)
    return possible


def _halves_fit(members: IntArray, low: IntArray, high: IntArray) -> BoolArray:
    """Per row of ``members`` (pools of one size): whether a subset sum of its first half plus
    one of its second half falls in [low, high]. One sort and search for all rows: each row's
    sums are lifted into a band of their own, so no search crosses into another row's band."""
    half = members.shape[1] // 2
    first = _row_subset_sums(members[:, :half])
    second = np.sort(_row_subset_sums(members[:, half:]), axis=1)
    # Every sum and every query of a row lies within +-reach of the row's lift.
    reach = int(np.abs(members).sum(axis=1).max()) + max(int(np.abs(low).max()),
                                                         int(np.abs(high).max()))
    band = 2 * reach + 1
    if band * (len(members) + 1) >= 2**62:  # too wide to lift: every pool is searched
        return np.ones(len(members), dtype=bool)
    lift = (np.arange(len(members), dtype=np.int64) * band)[:, None]
    flat = (second + lift).ravel()
    below = np.searchsorted(flat, (low[:, None] - first + lift).ravel(), "left")
    above = np.searchsorted(flat, (high[:, None] - first + lift).ravel(), "right")
    found: BoolArray = np.asarray((above > below).reshape(first.shape).any(axis=1))
    return found


def _search(
    target_is_bank: bool, target: Side, other: Side, t: IntArray, o: IntArray,
    target_free: BoolArray, other_free: BoolArray, tolerance_at: IntArray,
    config: GroupSearch, budget: _Budget, by_reference: bool,
) -> list[Group]:  # fmt: skip
    """Groups from candidate pools ``t`` -> ``o`` (pairs sorted by target), in rounds.

    A target whose fit is unique (and whose pool was searched in full) is grouped at once; an
    ambiguous one waits, since the unique groups may take the rows that made it ambiguous. When
    a round settles nothing, the waiting targets with a few fitting subsets become suggestions
    listing them; those with many stay open: in a dense pool a guessed subset is mostly wrong,
    and a wrong group costs many wrong links.
    """
    groups: list[Group] = []
    if len(t) == 0:
        return groups
    bounds = np.flatnonzero(np.r_[True, t[1:] != t[:-1], True])
    starts, stops = bounds[:-1], bounds[1:]
    # Small pools first (cheap, and the likeliest to have one clear answer), then position order.
    by_size = np.lexsort((t[starts], stops - starts))
    searched = config.max_candidates
    amounts, goal, pool_tolerance = other.amount[o], target.amount[t[starts]], tolerance_at[
        t[starts]
    ]
    reachable = _reachable(amounts, starts, goal, pool_tolerance)
    check = reachable.copy()
    if by_reference:  # pools that are their target as a whole are grouped without a search
        check &= np.abs(np.add.reduceat(amounts, starts) - goal) > pool_tolerance
    reachable &= _fit_possible(
        amounts, starts, goal, pool_tolerance, config.max_group_size, check
    )
    waiting = [
        (start, stop)
        for start, stop, ok in zip(
            starts[by_size].tolist(), stops[by_size].tolist(), reachable[by_size].tolist(),
            strict=True,
        )
        if stop - start >= 2 and ok
    ]
    final = False  # True for the last round: ambiguous fits become suggestions
    # A waiting target's pool is often the same in the next round: its fits are kept.
    kept_fits: dict[tuple[bytes, int, int], list[IntArray]] = {}
    while waiting and budget.left():
        still = []
        for start, stop in waiting:
            if not budget.left():
                break
            row = int(t[start])
            if not target_free[row]:
                continue
            tolerance = int(tolerance_at[row])
            members = o[start:stop]
            members = members[other_free[members]]
            if len(members) < 2:
                continue
            if len(members) > searched:
                # Too many look-alikes to search them all: a subset of the nearest could be
                # found, but not shown to be the only fit, so it could never be grouped.
                still.append((start, stop))
                continue
            if by_reference and len(members) <= config.max_group_size and abs(
                int(other.amount[members].sum()) - int(target.amount[row])
            ) <= tolerance:
                # All open rows carrying its reference sum to the target: that is the group.
                target_free[row] = False
                other_free[members] = False
                groups.append(Group(target_is_bank, row, np.sort(members), ()))
                continue
            # Nearest in date first: of several fits, the one listed first uses the nearest.
            distance = np.abs(other.date[members] - target.date[row])
            members = members[np.lexsort((members, distance))]
            if not budget.spend(search_cost(len(members))):
                break
            key = (members.tobytes(), int(target.amount[row]), tolerance)
            if key not in kept_fits:
                kept_fits[key] = fitting_subsets(
                    other.amount[members], key[1], tolerance, config.max_group_size
                )
            fits = kept_fits[key]
            if not fits:
                continue
            if len(fits) > 1:
                if final and len(fits) <= MAX_SUGGESTED_OPTIONS:
                    options = tuple(np.sort(members[f]) for f in fits[1:])
                else:
                    still.append((start, stop))
                    continue
            else:
                options = ()
            chosen = np.sort(members[fits[0]])
            target_free[row] = False
            other_free[chosen] = False
            chance = 0.0 if by_reference else expected_chance_fits(
                other.amount[members], int(target.amount[row]), tolerance
            )
            groups.append(Group(target_is_bank, row, chosen, options, chance))
        if final:
            break
        final = len(still) == len(waiting)
        waiting = still
    return groups


@dataclass(frozen=True)
class DayPools:
    """Open ledger rows pooled by (block, booking day, first description word): ``rows`` in
    pool order, pool ``p`` being ``rows[starts[p]:starts[p + 1]]``."""

    rows: IntArray
    starts: IntArray
    block: IntArray  # per pool
    date: IntArray  # per pool


def _day_pools(ledger: Side, rows: IntArray, block: IntArray, largest: int) -> DayPools:
    """Pools of 2..``largest`` rows sharing block, booking day and first word."""
    rows = rows[ledger.word[rows] >= 0]
    order = np.lexsort((rows, ledger.word[rows], ledger.date[rows], block[rows]))
    rows = rows[order]
    key_changes = (
        (np.diff(block[rows]) != 0) | (np.diff(ledger.date[rows]) != 0)
        | (np.diff(ledger.word[rows]) != 0)
    )  # fmt: skip
    bounds = np.flatnonzero(np.r_[True, key_changes, True])
    starts, sizes = bounds[:-1], np.diff(bounds)
    keep = (sizes >= 2) & (sizes <= largest)
    starts, sizes = starts[keep], sizes[keep]
    _, members = expand_ranges(starts, starts + sizes)
    kept = rows[members]
    new_starts = np.cumsum(sizes) - sizes
    return DayPools(kept, new_starts, block[kept[new_starts]], ledger.date[kept[new_starts]])


def find_day_groups(
    bank: Side,
    ledger: Side,
    bank_free: BoolArray,
    ledger_free: BoolArray,
    bank_block: IntArray,
    ledger_block: IntArray,
    config: GroupSearch,
    paid_one_by_one: BoolArray | None = None,
) -> list[Group]:
    """Bank rows naming nobody, each the sum of ledger rows of one booking day and one kind.

    A bank row (``bank_free`` holds the open ones that name no counterparty in their text) that
    names no party, payee, reference or check number of the ledger is searched against pools
    of open ledger rows that share a booking day in the group window and the first word of
    their description. First whole pools: a bank row that all of one pool's rows (3 at least,
    any number) sum to exactly, the only such pool in its window and it the only such bank row
    of that pool, is grouped with them (a payroll provider's one debit for every employee's
    "Net pay ..." row of the day). Then subsets, for deposits (money in: ``DEPOSIT``, ``REMOTE
    DEPOSIT CAPTURE``, several customers' checks paid in at once) among pools of receipts: a
    deposit is grouped when exactly one subset of all its pools fits; with 2 to
    ``MAX_SUGGESTED_OPTIONS`` fits it is suggested with the others as alternatives. Pools
    larger than ``max_candidates`` wait: among so many look-alike receipts a fit says little,
    but the groups of a round may shrink them for the next; in those still larger, only pairs
    are sought (:func:`_pairs_in_large_pools`). Targets are taken fewest fits first, then in
    position order; a fit whose rows an earlier target took is dropped. Rows of a kind the bank
    pays one at a time (``paid_one_by_one``: customers' transfers, "Receipt ...") join no
    subset: several of them never arrive as one deposit, and their sums fit by chance.
    """
    names_party = np.isin(bank.party, ledger.party[ledger.party >= 0])
    names_reference = np.isin(bank.reference, ledger.reference[ledger.reference >= 0])
    targets = np.flatnonzero(
        bank_free & ~names_party & ~names_reference & (bank.payee < 0)
        & (bank.named_reference < 0) & (bank.check < 0)
    )  # fmt: skip
    if len(targets) == 0:
        return []
    groups = _whole_pools(bank, ledger, targets, bank_free, ledger_free, bank_block,
                          ledger_block, config)  # fmt: skip
    deposits = targets[bank.amount[targets] > 0]
    # Most (deposit, pool) searches of a round are the last round's again: pools the groups
    # of a round left alone hold the same rows.
    searched: dict[tuple[bytes, int, int], tuple[list[IntArray], float]] = {}
    pooled = ledger_free.copy() if paid_one_by_one is None else ledger_free & ~paid_one_by_one
    while True:
        deposits = deposits[bank_free[deposits]]
        pooled &= ledger_free
        receipts = np.flatnonzero(pooled & (ledger.amount > 0))
        pools = _day_pools(ledger, receipts, ledger_block, config.max_candidates)
        # (target, pool) pairs: same block, the pool's day within the window of the target's.
        t, p = keyed_window_pairs(
            deposits, bank_block[deposits], bank.date[deposits],
            np.arange(len(pools.starts), dtype=np.int64), pools.block, pools.date,
            days_before=config.days_before, days_after=config.days_after,
            cap=len(pools.starts),
        )  # fmt: skip
        found = _day_search(bank, ledger, t, p, pools, bank_free, ledger_free, config, searched)
        if not found:
            break
        groups += found
    return groups + _pairs_in_large_pools(
        bank, ledger, deposits[bank_free[deposits]], bank_free, pooled & ledger_free,
        bank_block, ledger_block, config,
    )  # fmt: skip


_WHOLE_POOL_ROWS = 3  # fewer rows summing to an amount could be chance
_LARGEST_PAIR_POOL = 2_000  # pairs of a pool: n**2 / 2 sums
_PAIR_QUERY_ITEMS = 1 << 20  # (deposit, pool item) searches held at once


def _pairs_in_large_pools(
    bank: Side, ledger: Side, deposits: IntArray, bank_free: BoolArray, ledger_free: BoolArray,
    bank_block: IntArray, ledger_block: IntArray, config: GroupSearch,
) -> list[Group]:  # fmt: skip
    """Deposits paying two receipts of a pool too large for the subset search: the only pair of
    all the deposit's large pools that sums to it, exactly, is suggested (a larger subset may
    fit as well, unseen; never auto-confirmed), unless pairs fitting by chance are expected."""
    receipts = np.flatnonzero(ledger_free & (ledger.amount > 0))
    pools = _day_pools(ledger, receipts, ledger_block, _LARGEST_PAIR_POOL)
    sizes = np.diff(np.r_[pools.starts, len(pools.rows)])
    large = np.flatnonzero(sizes > config.max_candidates)
    if len(large) == 0 or len(deposits) == 0:
        return []
    t, w = keyed_window_pairs(
        deposits, bank_block[deposits], bank.date[deposits],
        np.arange(len(large), dtype=np.int64), pools.block[large], pools.date[large],
        days_before=config.days_before, days_after=config.days_after, cap=len(large),
    )  # fmt: skip
    if len(t) == 0:
        return []
    fits_of: dict[int, list[tuple[IntArray, float, int]]] = {}
    # Per pool, all its deposits at once: pairs are counted and found by searching the pool's
    # amounts in ascending order, never by enumerating its n**2 / 2 pair sums.
    pool_of = large[w]
    by_pool = np.argsort(pool_of, kind="stable")
    t, pool_of = t[by_pool], pool_of[by_pool]
    bounds = np.flatnonzero(np.r_[True, pool_of[1:] != pool_of[:-1], True])
    for start, stop in zip(bounds[:-1].tolist(), bounds[1:].tolist(), strict=True):
        pool = int(pool_of[start])
        members = pools.rows[pools.starts[pool] : pools.starts[pool] + sizes[pool]]
        members = members[np.argsort(ledger.amount[members], kind="stable")]
        amounts = ledger.amount[members]
        step = max(1, _PAIR_QUERY_ITEMS // len(members))
        for part in range(start, stop, step):
            rows = t[part : min(part + step, stop)]
            goal = bank.amount[rows]
            # Chance: pair sums per minor unit near the goal (within 1%), times the one unit hit.
            width = np.maximum(goal // 100, 100)
            begin, end = _pair_ranges(amounts, goal - width, goal + width)
            chance = (end - begin).sum(axis=1) / (2 * width + 1)
            begin, end = _pair_ranges(amounts, goal, goal)
            query, first = np.nonzero(end > begin)
            for at, i in zip(query.tolist(), first.tolist(), strict=True):
                fits_of.setdefault(int(rows[at]), []).extend(
                    (np.sort(members[[i, j]]), float(chance[at]), int(sizes[pool]))
                    for j in range(int(begin[at, i]), int(end[at, i]))
                )  # fmt: skip
    groups = []
    for row in sorted(fits_of):
        fits = fits_of[row]
        if len(fits) != 1 or fits[0][1] > config.max_chance_fits or not bank_free[row]:
            continue
        chosen, chance, pool_size = fits[0]
        if ledger_free[chosen].all():
            bank_free[row] = False
            ledger_free[chosen] = False
            text = _pool_text(ledger, chosen).replace(
                "ledger rows", f"2 of the {pool_size} ledger rows", 1
            )
            unsure = "in a pool this large only pairs are searched"
            groups.append(Group(True, row, chosen, (), chance, text, unsure))
    return groups


def _pair_ranges(
    amounts: IntArray, low: IntArray, high: IntArray
) -> tuple[IntArray, IntArray]:
    """For each query q and item i of ``amounts`` (ascending): the items j > i with
    ``low[q] <= amounts[i] + amounts[j] <= high[q]``, as ``begin[q, i]:end[q, i]``."""
    after = np.arange(1, len(amounts) + 1, dtype=np.int64)
    begin = np.maximum(np.searchsorted(amounts, low[:, None] - amounts, "left"), after)
    end = np.maximum(np.searchsorted(amounts, high[:, None] - amounts, "right"), begin)
    return begin, end


def _whole_pools(
    bank: Side, ledger: Side, targets: IntArray, bank_free: BoolArray, ledger_free: BoolArray,
    bank_block: IntArray, ledger_block: IntArray, config: GroupSearch,
) -> list[Group]:  # fmt: skip
    """Targets that all rows of one (day, first word) pool sum to exactly, one to one."""
    rows = np.flatnonzero(ledger_free)
    pools = _day_pools(ledger, rows, ledger_block, len(rows))
    sizes = np.diff(np.r_[pools.starts, len(pools.rows)])
    whole = np.flatnonzero(sizes >= _WHOLE_POOL_ROWS)
    if len(whole) == 0:
        return []
    totals = np.add.reduceat(ledger.amount[pools.rows], pools.starts)[whole]
    # One code per (block, amount) on both sides: equal codes, equal amounts in one block.
    codes, _ = pd.factorize(pd.MultiIndex.from_arrays([
        np.r_[bank_block[targets], pools.block[whole]], np.r_[bank.amount[targets], totals],
    ]))  # fmt: skip
    t, w = keyed_window_pairs(
        targets, codes[: len(targets)].astype(np.int64), bank.date[targets],
        np.arange(len(whole), dtype=np.int64), codes[len(targets) :].astype(np.int64),
        pools.date[whole], days_before=config.days_before, days_after=config.days_after,
        cap=len(whole),
    )  # fmt: skip
    once = (np.bincount(t, minlength=len(bank))[t] == 1) & (
        np.bincount(w, minlength=len(whole))[w] == 1
    )
    groups = []
    for row, pool in zip(t[once].tolist(), whole[w[once]].tolist(), strict=True):
        members = np.sort(pools.rows[pools.starts[pool] : pools.starts[pool] + sizes[pool]])
        bank_free[row] = False
        ledger_free[members] = False
        groups.append(Group(True, row, members, (), 0.0, _pool_text(ledger, members, whole=True)))
    return groups


def _pool_text(ledger: Side, members: IntArray, whole: bool = False) -> str:
    first = int(members[0])
    day = explain.day_text(int(ledger.date[first]))
    word = key_word(str(ledger.description[first]))
    rows = f"all {len(members)} ledger rows" if whole else "ledger rows"
    return f"{rows} booked on {day} described '{word} ...'"


def _day_search(
    bank: Side, ledger: Side, t: IntArray, p: IntArray, pools: DayPools, bank_free: BoolArray,
    ledger_free: BoolArray, config: GroupSearch,
    searched: dict[tuple[bytes, int, int], tuple[list[IntArray], float]],
) -> list[Group]:  # fmt: skip
    """The fits of each (target, pool) pair, resolved per target as :func:`find_day_groups`
    says: the chance of a fit is the sum over all the target's pools (each could have held
    one). ``searched`` keeps each (pool rows, goal, tolerance)'s fits and chance for later
    rounds."""
    if len(t) == 0:
        return []
    sizes = np.diff(np.r_[pools.starts, len(pools.rows)])
    # One searchable pool per pair, its rows laid end to end, for the batched bound checks.
    pair_sizes = sizes[p]
    pair_starts = np.cumsum(pair_sizes) - pair_sizes
    members = pools.rows[expand_ranges(pools.starts[p], pools.starts[p] + pair_sizes)[1]]
    amounts = ledger.amount[members]
    goal = bank.amount[t]
    tolerance = per_row_minor(bank, t, config.amount_tolerance)
    possible = _reachable(amounts, pair_starts, goal, tolerance)
    possible &= _fit_possible(
        amounts, pair_starts, goal, tolerance, config.max_group_size, possible
    )
    fits_of: dict[int, list[tuple[IntArray, int]]] = {}
    chance_of: dict[int, float] = {}
    # A pool is searched for many deposits: its subset sums are enumerated once.
    pool_searches: dict[bytes, SubsetSearch] = {}
    for pair in np.flatnonzero(possible).tolist():
        start, stop = int(pair_starts[pair]), int(pair_starts[pair] + pair_sizes[pair])
        pool_rows = members[start:stop]
        key = (pool_rows.tobytes(), int(goal[pair]), int(tolerance[pair]))
        if key not in searched:
            search = pool_searches.get(key[0])
            if search is None:
                search = pool_searches[key[0]] = SubsetSearch(ledger.amount[pool_rows])
            searched[key] = (
                search.fits(key[1], key[2], config.max_group_size),
                expected_chance_fits(ledger.amount[pool_rows], key[1], key[2]),
            )
        found, chance = searched[key]
        row = int(t[pair])
        chance_of[row] = chance_of.get(row, 0.0) + chance
        fits_of.setdefault(row, []).extend((np.sort(pool_rows[f]), stop - start) for f in found)
    groups: list[Group] = []
    order = sorted(fits_of, key=lambda row: (len(fits_of[row]), row))
    for row in order:
        fits = fits_of[row]
        if len(fits) > MAX_SUGGESTED_OPTIONS or not bank_free[row]:
            continue
        free = [(rows, size) for rows, size in fits if ledger_free[rows].all()]
        if not free:
            continue
        chosen, pool_size = free[0]
        bank_free[row] = False
        ledger_free[chosen] = False
        options = tuple(rows for rows, _ in free[1:])
        unsure = (f"a fit among {pool_size} rows of one day may be chance"
                  if pool_size > SURE_POOL_ROWS else "")  # fmt: skip
        groups.append(Group(True, row, chosen, options, chance_of[row],
                            _pool_text(ledger, chosen), unsure))  # fmt: skip
    return groups
