"""Searching a pool of rows for the few that sum to one row of the other side.

Used by the partial payments pass (one ledger row, the bank rows naming its reference or its
payer: an invoice paid in parts) and the remittances pass (one bank row, the ledger rows of
the payer it names: a transfer paying several invoices). Both sides are given as amounts and
dates indexed by position, so one search serves both directions: ``t`` is the row paid or
paying (the target), ``p`` a row of its pool (a part).

Only rows of the target's sign and smaller than it can be parts. Two parts are found by a join
over the whole pool (each part's complement looked up among the others: O(pool) per target),
so a busy payer with dozens of rows in the window still has its two parts found; subsets of
three or more parts are searched among the ``2 * max_parts`` rows nearest the target's date
(every subset sum of a small pool).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Any, TypeVar

import numpy as np
import pandas as pd

from recon.engine.groups import MAX_SUGGESTED_OPTIONS, _popcount, _row_subset_sums
from recon.engine.normalise import BoolArray, IntArray, Side
from recon.engine.scoring import per_row_minor

_EMPTY = np.zeros(0, dtype=np.int64)
_POOLS_AT_ONCE = 512  # pools whose subset sums are held at once
FitT = TypeVar("FitT", bound=tuple[Any, ...])


def possible_parts(
    t: IntArray, p: IntArray, target_amount: IntArray, part_amount: IntArray
) -> tuple[IntArray, IntArray]:
    """The (target, part) pairs whose part can be a part of the target: the same sign, and
    less than all of it."""
    amount, whole = part_amount[p], target_amount[t]
    keep = (np.sign(amount) == np.sign(whole)) & (np.abs(amount) < np.abs(whole))
    return t[keep], p[keep]


def nearest(
    t: IntArray, p: IntArray, target_date: IntArray, part_date: IntArray, size: int
) -> tuple[IntArray, IntArray]:
    """Per target, its ``size`` parts nearest in date (then in position), in (target, part
    date, part) order."""
    if len(t) == 0:
        return t, p
    distance = np.abs(part_date[p] - target_date[t])
    order = np.lexsort((p, distance, t))
    t, p = t[order], p[order]
    starts = np.flatnonzero(np.r_[True, t[1:] != t[:-1]])
    rank = np.arange(len(t)) - np.repeat(starts, np.diff(np.r_[starts, len(t)]))
    keep = rank < size
    t, p = t[keep], p[keep]
    order = np.lexsort((p, part_date[p], t))
    return t[order], p[order]


def two_part_fits(
    t: IntArray, p: IntArray, target_amount: IntArray, part_amount: IntArray
) -> tuple[IntArray, IntArray, IntArray]:
    """(target, first part, second part) for every two parts of a target's pool (``t``, ``p``:
    unique pairs) that sum to it exactly, the first part the lower position."""
    if len(t) == 0:
        return _EMPTY, _EMPTY, _EMPTY
    amount = part_amount[p]
    pool = pd.DataFrame({"t": t, "p": p, "amount": amount})
    wanted = pd.DataFrame({"t": t, "first": p, "amount": target_amount[t] - amount})
    fits = wanted.merge(pool, on=["t", "amount"])
    fits = fits[fits["first"].to_numpy() < fits["p"].to_numpy()]
    return (fits["t"].to_numpy(dtype=np.int64), fits["first"].to_numpy(dtype=np.int64),
            fits["p"].to_numpy(dtype=np.int64))  # fmt: skip


def subset_fits(
    t: IntArray, p: IntArray, target_amount: IntArray, part_amount: IntArray,
    target_date: IntArray, part_date: IntArray, max_parts: int,
    anchor: BoolArray | None = None,
) -> tuple[IntArray, list[IntArray], BoolArray]:  # fmt: skip
    """Per target whose pool (``t``, ``p`` in (target, ...) order, a few parts each) holds a
    subset of 2..max_parts parts summing to it, and not more than ``MAX_SUGGESTED_OPTIONS``
    such subsets: (target, the subset with the most anchor parts (per pair: ``anchor``, e.g.
    the part names the target's reference), then fewest parts, then nearest in date, then
    first; whether it is the only fitting subset or has more anchor parts than any other)."""
    if anchor is None:
        anchor = np.zeros(len(t), dtype=bool)
    targets: list[int] = []
    members: list[IntArray] = []
    only: list[bool] = []
    if len(t) == 0:
        return _EMPTY, members, np.zeros(0, dtype=bool)
    starts = np.flatnonzero(np.r_[True, t[1:] != t[:-1]])
    sizes = np.diff(np.r_[starts, len(t)])
    for n in range(2, int(sizes.max(initial=0)) + 1):
        pools = starts[sizes == n]
        parts = _popcount(np.arange(1 << n, dtype=np.int64))
        for chunk in range(0, len(pools), _POOLS_AT_ONCE):
            first = pools[chunk : chunk + _POOLS_AT_ONCE]
            at = first[:, None] + np.arange(n)
            sums = _row_subset_sums(part_amount[p[at]])
            fits = (sums == target_amount[t[first]][:, None]) & (parts >= 2) & (
                parts <= max_parts
            )
            count = fits.sum(axis=1)
            # Many fits (look-alike rows): a guess would mostly be wrong; left open.
            for pool in np.flatnonzero((count >= 1) & (count <= MAX_SUGGESTED_OPTIONS)).tolist():
                masks = np.flatnonzero(fits[pool])
                rows = p[at[pool]]
                bits = (masks[:, None] >> np.arange(n)) & 1
                distance = bits @ np.abs(part_date[rows] - target_date[t[first[pool]]])
                named = bits @ anchor[at[pool]].astype(np.int64)
                order = np.lexsort((masks, distance, bits.sum(axis=1), -named))
                best = masks[order[0]]
                targets.append(int(t[first[pool]]))
                members.append(rows[(best >> np.arange(n)) & 1 == 1])
                only.append(len(masks) == 1 or bool(named[order[0]] > named[order[1]]))
    return np.array(targets, dtype=np.int64), members, np.array(only, dtype=bool)


def anchored_three_part_fits(
    t: IntArray, p: IntArray, anchor: BoolArray, target_amount: IntArray,
    part_amount: IntArray,
) -> tuple[IntArray, IntArray, IntArray, IntArray]:  # fmt: skip
    """(target, anchor part, second part, third part) for every three distinct parts of a
    target's pool (``t``, ``p``: unique pairs) summing to it, one of them an anchor (per pair:
    ``anchor``, e.g. the part names the target's reference), the other two in position order.
    The anchor makes a wide pool safe: O(anchors x pool) per target, and few chance fits."""
    if not anchor.any():
        return _EMPTY, _EMPTY, _EMPTY, _EMPTY
    at = np.flatnonzero(anchor)
    anchors = pd.DataFrame({"t": t[at], "anchor": p[at],
                            "left": target_amount[t[at]] - part_amount[p[at]]})  # fmt: skip
    pool = pd.DataFrame({"t": t, "second": p, "amount": part_amount[p]})
    seconds = anchors.merge(pool, on="t")
    seconds = seconds[seconds["second"].to_numpy() != seconds["anchor"].to_numpy()]
    seconds = seconds.assign(amount=seconds["left"] - seconds["amount"])
    fits = seconds.merge(pool.rename(columns={"second": "third"}), on=["t", "amount"])
    third, second = fits["third"].to_numpy(dtype=np.int64), fits["second"].to_numpy(dtype=np.int64)
    fits = fits[(second < third) & (third != fits["anchor"].to_numpy())]
    columns = ("t", "anchor", "second", "third")
    found = tuple(fits[c].to_numpy(dtype=np.int64) for c in columns)
    return found[0], found[1], found[2], found[3]


def named_and_rest_fits(
    t: IntArray, p: IntArray, anchor: BoolArray, target_amount: IntArray,
    part_amount: IntArray, max_parts: int,
) -> tuple[IntArray, list[IntArray], BoolArray]:  # fmt: skip
    """Per target whose pool (``t``, ``p``: unique pairs) holds parts naming it (``anchor``,
    e.g. the part names the target's reference): every such part, and the one or two others
    of its pool that make up the rest exactly (none when the named parts sum to it, two or
    more of them). An invoice paid in five instalments, three naming it: the three, and the
    two the bank cut the name from. O(pool) per target (a join on the amount still needed).
    Returns (target, its parts, whether that is its only fit); the fewest parts first."""
    if not anchor.any():
        return _EMPTY, [], np.zeros(0, dtype=bool)
    frame = pd.DataFrame({"t": t, "p": p, "amount": part_amount[p]})
    named = frame[anchor]
    per = named.groupby("t").agg(count=("p", "size"), total=("amount", "sum"))
    rest = target_amount[per.index.to_numpy()] - per["total"].to_numpy()
    whole = target_amount[per.index.to_numpy()]
    per = per.assign(rest=rest)
    # The rest is of the target's sign and less than it, or nothing (the named parts suffice).
    count = per["count"].to_numpy()
    done = per[(rest == 0) & (count >= 2) & (count <= max_parts)]
    per = per[(np.sign(rest) == np.sign(whole)) & (rest != 0)]
    others = frame[~anchor]
    left = per[["rest", "count"]].reset_index()
    one = left[left["count"] + 1 <= max_parts].merge(
        others, left_on=["t", "rest"], right_on=["t", "amount"]
    )
    pairs = left[left["count"] + 2 <= max_parts].merge(others, on="t")
    pairs = pairs.assign(amount=pairs["rest"] - pairs["amount"]).rename(columns={"p": "first"})
    pairs = pairs.merge(others.rename(columns={"p": "second"}), on=["t", "amount"])
    pairs = pairs[pairs["first"].to_numpy() < pairs["second"].to_numpy()]
    fits: list[tuple[int, int, tuple[int, ...]]] = [(int(x), 0, ()) for x in done.index]
    fits += [(int(x), 1, (int(y),)) for x, y in zip(one["t"], one["p"], strict=True)]
    fits += [
        (int(x), 2, (int(y), int(z)))
        for x, y, z in zip(pairs["t"], pairs["first"], pairs["second"], strict=True)
    ]
    named_t, named_p = named["t"].to_numpy(dtype=np.int64), named["p"].to_numpy(dtype=np.int64)
    order = np.argsort(named_t, kind="stable")
    named_t, named_p = named_t[order], named_p[order]
    starts = np.flatnonzero(np.r_[True, named_t[1:] != named_t[:-1]])
    named_of = dict(zip(named_t[starts].tolist(), np.split(named_p, starts[1:]), strict=True))
    return _first_of_each(fits, lambda fit: np.r_[named_of[fit[0]], fit[2]].astype(np.int64))


def all_but_fits(
    t: IntArray, p: IntArray, anchor: BoolArray, target_amount: IntArray,
    target_date: IntArray, part_amount: IntArray, part_date: IntArray, min_parts: int,
) -> tuple[IntArray, list[IntArray], BoolArray]:  # fmt: skip
    """Per target whose pool (``t``, ``p``: unique pairs) holds a part naming it (``anchor``):
    the parts booked on its day or up to some days before, all of them or all but one or two,
    that sum to it exactly, at least ``min_parts`` of them and a named one among them. A
    customer paying every open invoice of the last days but the disputed one. The runs are the
    days back from the target's date; what a run's sum exceeds the target by is looked up
    among its parts (one, or two by a join on the amount still needed): O(pool x days).
    Returns (target, its parts, whether that is its only fit); the fewest exclusions first."""
    back = target_date[t] - part_date[p]
    keep = back >= 0
    t, p, anchor, back = t[keep], p[keep], anchor[keep], back[keep]
    named_targets = np.unique(t[anchor])
    keep = np.isin(t, named_targets)
    if not keep.any():
        return _EMPTY, [], np.zeros(0, dtype=bool)
    t, p, anchor, back = t[keep], p[keep], anchor[keep], back[keep]
    order = np.lexsort((p, back, t))
    t, p, anchor, back = t[order], p[order], anchor[order], back[order]
    amount = part_amount[p]
    starts = np.flatnonzero(np.r_[True, t[1:] != t[:-1]])
    pos = np.arange(len(t)) - np.repeat(starts, np.diff(np.r_[starts, len(t)]))
    running = pd.Series(amount).groupby(t).cumsum().to_numpy()
    named_seen = pd.Series(anchor.astype(np.int64)).groupby(t).cumsum().to_numpy()
    # A run ends at the last part of each day back.
    ends = np.r_[(t[1:] != t[:-1]) | (back[1:] != back[:-1]), True]
    runs = pd.DataFrame({
        "t": t[ends], "end": pos[ends], "size": pos[ends] + 1,
        "excess": running[ends] - target_amount[t[ends]], "named_count": named_seen[ends],
    })  # fmt: skip
    whole = target_amount[runs["t"].to_numpy()]
    runs = runs[(runs["named_count"].to_numpy() > 0) & (runs["size"].to_numpy() >= min_parts)
                & (np.sign(runs["excess"].to_numpy()) != -np.sign(whole))]  # fmt: skip
    parts = pd.DataFrame({"t": t, "pos": pos, "p": p, "amount": amount,
                          "is_named": anchor.astype(np.int64)})  # fmt: skip
    fits: list[tuple[int, int, int, tuple[int, ...]]] = []
    exact = runs[runs["excess"].to_numpy() == 0]
    fits += [(int(x), 0, int(e), ()) for x, e in zip(exact["t"], exact["end"], strict=True)]
    # What is left out must leave a part naming the target in the set.
    over = runs[(runs["excess"].to_numpy() != 0) & (runs["size"].to_numpy() > min_parts)]
    one = over.merge(parts, left_on=["t", "excess"], right_on=["t", "amount"])
    one = one[(one["pos"].to_numpy() <= one["end"].to_numpy())
              & (one["named_count"].to_numpy() > one["is_named"].to_numpy())]  # fmt: skip
    fits += [(int(x), 1, int(e), (int(q),))
             for x, e, q in zip(one["t"], one["end"], one["p"], strict=True)]  # fmt: skip
    two = over[over["size"].to_numpy() > min_parts + 1].merge(parts, on="t")
    two = two[two["pos"].to_numpy() <= two["end"].to_numpy()]
    two = two.assign(need=two["excess"] - two["amount"]).drop(columns="amount")
    two = two.merge(parts, left_on=["t", "need"], right_on=["t", "amount"], suffixes=("", "_b"))
    two = two[(two["pos"].to_numpy() < two["pos_b"].to_numpy())
              & (two["pos_b"].to_numpy() <= two["end"].to_numpy())
              & (two["named_count"].to_numpy()
                 > two["is_named"].to_numpy() + two["is_named_b"].to_numpy())]  # fmt: skip
    fits += [(int(x), 2, int(e), (int(a), int(b)))
             for x, e, a, b in zip(two["t"], two["end"], two["p"], two["p_b"], strict=True)]
    first_of = dict(zip(t[starts].tolist(), starts.tolist(), strict=True))

    def members_of(fit: tuple[int, int, int, tuple[int, ...]]) -> IntArray:
        target, _, end, left_out = fit
        run = p[first_of[target]:first_of[target] + end + 1]
        kept: IntArray = run[~np.isin(run, np.array(left_out, dtype=np.int64))]
        return kept

    return _first_of_each(fits, members_of)


def _first_of_each(
    fits: Sequence[FitT], members_of: Callable[[FitT], IntArray]
) -> tuple[IntArray, list[IntArray], BoolArray]:
    """Of ``fits`` (tuples starting with the target, then what makes one preferred, lower
    first): each target's first, as (target, its parts by ``members_of``, whether it was the
    target's only fit)."""
    targets: list[int] = []
    members: list[IntArray] = []
    only: list[bool] = []
    for fit in sorted(fits):
        if targets and targets[-1] == fit[0]:
            only[-1] = False
            continue
        targets.append(int(fit[0]))
        members.append(members_of(fit))
        only.append(True)
    return np.array(targets, dtype=np.int64), members, np.array(only, dtype=bool)


def resolve_claims(
    target: IntArray, members: list[IntArray], sure: BoolArray, named: IntArray,
    target_date: IntArray, part_count: int,
) -> tuple[BoolArray, BoolArray]:  # fmt: skip
    """Which of the targets' chosen parts to take when several targets claim one part: the
    claim with more parts naming its target's reference (``named``) wins, then a sure claim,
    then the earlier target; and which stay sure (a claim that had a rival only when it names
    the reference in more parts than every rival)."""
    ok = np.zeros(len(members), dtype=bool)
    if not members:
        return ok, sure
    sizes = np.array([len(m) for m in members], dtype=np.int64)
    claim = np.repeat(np.arange(len(members), dtype=np.int64), sizes)
    rows = np.concatenate(members)
    counts = np.bincount(rows, minlength=part_count)
    contested = np.zeros(len(members), dtype=bool)
    contested[claim[counts[rows] > 1]] = True
    taken = np.zeros(part_count, dtype=bool)
    taken_targets: set[int] = set()
    for k in np.lexsort((target, target_date[target], ~sure, -named)).tolist():
        if taken[members[k]].any() or int(target[k]) in taken_targets:
            continue
        ok[k] = True
        taken[members[k]] = True
        taken_targets.add(int(target[k]))
    rival_named = np.full(len(members), -1, dtype=np.int64)
    for k in np.flatnonzero(contested).tolist():
        rivals = np.unique(claim[np.isin(rows, members[k])])
        rivals = rivals[rivals != k]
        if len(rivals):
            rival_named[k] = int(named[rivals].max())
    return ok, sure & (~contested | (named > rival_named))


def round_counts(members: list[IntArray], side: Side) -> IntArray:
    """Per chosen set of ``side``'s rows: how many of its parts are round (a multiple of 100.00
    in each part's currency). Round amounts recur (4,000.00 paid on account by many payers): a
    set of several round parts fits many targets by chance."""
    if not members:
        return _EMPTY
    sizes = np.array([len(m) for m in members], dtype=np.int64)
    rows = np.concatenate(members)
    hundred = per_row_minor(side, rows, Decimal(100))
    is_round = (side.amount[rows] % np.maximum(hundred, 1)) == 0
    claim = np.repeat(np.arange(len(members), dtype=np.int64), sizes)
    counts: IntArray = np.bincount(claim, weights=is_round, minlength=len(members)).astype(
        np.int64
    )
    return counts


def replaceable(
    target: IntArray, members: list[IntArray], named: list[BoolArray], t: IntArray,
    p: IntArray, side: Side, asked: BoolArray, cap: int,
) -> BoolArray:  # fmt: skip
    """Per chosen set of ``side``'s rows (``asked`` ones only): one of its parts that does not
    name the target (``named``: per part) has the amount of another row of the target's pool
    (``t``, ``p``: pairs), or of two other rows together; or the pool holds ``cap`` rows or
    more, so that its search was likely cut there, and such a part is round (the payer's rows
    left out hold round sums too). The set is then
    one of several that fit: a payer's 4,000.00 transfer with its 2,863.24 transfer naming an
    invoice fits as well as its 3,000.00 and 1,000.00 transfers of that week."""
    found = np.zeros(len(target), dtype=bool)
    if not asked.any() or len(t) == 0:
        return found
    order = np.argsort(t, kind="stable")
    pool_t, pool_p = t[order], p[order]
    starts = np.searchsorted(pool_t, target, side="left")
    ends = np.searchsorted(pool_t, target, side="right")
    cut = ends - starts >= cap
    for k in np.flatnonzero(asked).tolist():
        rows = members[k]
        unnamed = rows[~named[k]]
        if len(unnamed) == 0:
            continue
        if cut[k] and round_counts([unnamed], side)[0] > 0:
            found[k] = True
            continue
        others = pool_p[starts[k] : ends[k]]
        found[k] = _made_up(side.amount[unnamed].tolist(),
                            side.amount[others[~np.isin(others, rows)]].tolist())  # fmt: skip
    return found


def _made_up(wanted: list[int], others: list[int]) -> bool:
    """Whether some wanted amount is one of ``others``, or the sum of two of them."""
    counts: dict[int, int] = {}
    for amount in others:
        counts[amount] = counts.get(amount, 0) + 1
    for amount in wanted:
        if amount in counts:
            return True
        for first in counts:
            rest = amount - first
            if rest in counts and (rest != first or counts[first] > 1):
                return True
    return False
