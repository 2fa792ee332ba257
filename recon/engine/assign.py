"""One-to-one assignment: maximum-score matching over each connected component.

Components of one bank row and one ledger row (nearly all of them) and stars (one row on one
side) are decided vectorised; the rest go through scipy's linear_sum_assignment, one small dense
problem per component. Costs rank "more pairs" above "better pairs" (a missed pair costs more
than the worst candidate), then the total score.
"""

from __future__ import annotations

import itertools

import numpy as np
from scipy.optimize import linear_sum_assignment
from scipy.sparse import coo_array
from scipy.sparse.csgraph import connected_components

from recon.engine import sets
from recon.engine.normalise import BoolArray, IntArray, sort_order
from recon.engine.scoring import FloatArray

_INFEASIBLE = 1e6
# Above this many rows on one side a component is decided greedily (best score first): dense
# assignment is cubic, and such components only arise from long runs of identical amounts.
MAX_EXACT_COMPONENT = 300


def components(bank: IntArray, ledger: IntArray) -> IntArray:
    """Component label of each pair in the bipartite candidate graph (labels are 0..k-1)."""
    if len(bank) == 0:
        return np.zeros(0, dtype=np.int64)
    bank_local, bank_nodes = _dense_numbers(bank)
    ledger_local, ledger_nodes = _dense_numbers(ledger)
    n = bank_nodes + ledger_nodes
    graph = coo_array((np.ones(len(bank)), (bank_local, ledger_local + bank_nodes)), shape=(n, n))
    _, labels = connected_components(graph, directed=False)
    return np.asarray(labels[bank_local], dtype=np.int64)


def _dense_numbers(values: IntArray) -> tuple[IntArray, int]:
    """Each value's rank among the distinct values (non-negative ints: positions, labels), and
    their count: what ``np.unique(values, return_inverse=True)`` gives, without sorting."""
    present = np.zeros(int(values.max()) + 1, dtype=bool)
    present[values] = True
    rank = np.cumsum(present) - 1
    return rank[values], int(rank[-1]) + 1


def assign(bank: IntArray, ledger: IntArray, score: FloatArray) -> BoolArray:
    """A mask of the chosen pairs: no bank or ledger position chosen twice, total score maximal.

    Pairs must be unique. Ties go to the lower positions (positions follow (date, id) order), so the
    result depends on content only.
    """
    chosen = np.zeros(len(bank), dtype=bool)
    if len(bank) == 0:
        return chosen
    # A pair whose two rows have no other candidate is a component of its own, and chosen (most
    # pairs are): only the others need the component labels and the sort below.
    alone = (np.bincount(bank)[bank] == 1) & (np.bincount(ledger)[ledger] == 1)
    chosen[alone] = True
    rest = np.flatnonzero(~alone)
    if len(rest) < len(bank):
        chosen[rest[assign(bank[rest], ledger[rest], score[rest])]] = True
        return chosen
    label = components(bank, ledger)
    bank_count = _distinct_per_label(label, bank)
    ledger_count = _distinct_per_label(label, ledger)
    simple = (bank_count == 1) | (ledger_count == 1)  # a single pair or a star
    chosen[_best_of_stars(bank, ledger, score, label, simple)] = True

    square = (bank_count == 2) & (ledger_count == 2)
    chosen[_two_by_two(bank, ledger, score, label, square)] = True
    hard_component = ~(simple | square)
    small = hard_component & (np.maximum(bank_count, ledger_count) <= _BATCH_SIDE)
    chosen[_small_components(bank, ledger, score, label, small)] = True
    hard = np.flatnonzero((hard_component & ~small)[label])
    if len(hard):
        hard = hard[np.argsort(label[hard], kind="stable")]
        bounds = np.flatnonzero(np.r_[True, np.diff(label[hard]) != 0, True])
        # Row and column of each pair in its component's dense matrix, for all at once.
        row_of = _local_rank(label[hard], bank[hard])
        col_of = _local_rank(label[hard], ledger[hard])
        # Per component, looked up once for all (tens of thousands of small components at 1M).
        labels = label[hard[bounds[:-1]]]
        rows, cols = bank_count[labels].tolist(), ledger_count[labels].tolist()
        picked_parts: list[IntArray] = []
        for k, (start, stop) in enumerate(itertools.pairwise(bounds.tolist())):
            members = hard[start:stop]
            if max(rows[k], cols[k]) > MAX_EXACT_COMPONENT:
                picked = _greedy(bank[members], ledger[members], score[members])
            else:
                picked = _solve(
                    row_of[start:stop], col_of[start:stop], score[members], (rows[k], cols[k])
                )
            picked_parts.append(members[picked])
        chosen[np.concatenate(picked_parts)] = True
    return chosen


def _best_of_stars(
    bank: IntArray, ledger: IntArray, score: FloatArray, label: IntArray, star: BoolArray
) -> IntArray:
    """The best pair of every star component (one row on one side): highest score, ties to the
    lower positions."""
    members = np.flatnonzero(star[label])
    if len(members) == 0:
        return members
    order = np.lexsort((ledger[members], bank[members], -score[members], label[members]))
    members = members[order]
    first = np.r_[True, label[members][1:] != label[members][:-1]]
    picked: IntArray = members[first]
    return picked


def _two_by_two(
    bank: IntArray, ledger: IntArray, score: FloatArray, label: IntArray, square: BoolArray
) -> IntArray:
    """Chosen pairs of every 2 x 2 component at once (most of the non-trivial ones).

    Such a component has 3 or 4 pairs, so at least one of its two perfect matchings (first bank
    row with first ledger row and second with second, or crosswise) exists; the one with the
    larger total wins, the straight one on a tie (lower positions first).
    """
    members = np.flatnonzero(square[label])
    if len(members) == 0:
        return members
    members = members[sort_order([label[members], bank[members], ledger[members]])]
    lab = label[members]
    row = _local_rank(lab, bank[members])
    col = _local_rank(lab, ledger[members])
    slot, count = _dense_numbers(lab)
    # Pair index (into ``members``) and score of each of the four cells, -1 / -inf if absent.
    cell = np.full((count, 4), -1, dtype=np.int64)
    cell[slot, row * 2 + col] = np.arange(len(members))
    value = np.where(cell >= 0, score[members][np.maximum(cell, 0)], -np.inf)
    straight = value[:, 0] + value[:, 3]
    cross = value[:, 1] + value[:, 2]
    use_straight = straight >= cross
    first = np.where(use_straight, cell[:, 0], cell[:, 1])
    second = np.where(use_straight, cell[:, 3], cell[:, 2])
    picked: IntArray = members[np.concatenate([first, second])]
    return picked


_BATCH_SIDE = 4  # components up to 4 x 4 are solved together, by trying all 24 permutations
_PERMUTATIONS = np.array(list(itertools.permutations(range(_BATCH_SIDE))), dtype=np.int64)


def _small_components(
    bank: IntArray, ledger: IntArray, score: FloatArray, label: IntArray, small: BoolArray
) -> IntArray:
    """Chosen pairs of every component with at most 4 rows a side, all at once.

    Each component becomes a 4 x 4 cost matrix (padding and absent pairs infeasible) and every
    permutation is priced: the cheapest is what linear_sum_assignment finds (most pairs, then
    best total score), ties going to the first permutation in lexicographic order: large
    inputs have tens of thousands of such components, too many for one scipy call each.
    """
    members = np.flatnonzero(small[label])
    if len(members) == 0:
        return members
    lab = label[members]
    row = _local_rank(lab, bank[members])
    col = _local_rank(lab, ledger[members])
    slot, count = _dense_numbers(lab)
    side = _BATCH_SIDE
    cost = np.full((count, side, side), _INFEASIBLE)
    cost[slot, row, col] = 2.0 - score[members]
    pair_at = np.full((count, side, side), -1, dtype=np.int64)
    pair_at[slot, row, col] = members
    rows = np.arange(side)
    totals = cost[:, rows, _PERMUTATIONS].sum(axis=2)  # (components, permutations)
    best = _PERMUTATIONS[np.argmin(totals, axis=1)]  # (components, side): column of each row
    picked = pair_at[np.arange(count)[:, None], rows[None, :], best].ravel()
    result: IntArray = picked[picked >= 0]
    return result


def _distinct_per_label(label: IntArray, node: IntArray) -> IntArray:
    width = int(node.max()) + 1
    keys = np.sort(label * width + node)
    distinct = keys[np.r_[True, keys[1:] != keys[:-1]]]  # np.unique, without its slower hash
    return np.bincount(distinct // width, minlength=int(label.max()) + 1)


def _local_rank(label: IntArray, node: IntArray) -> IntArray:
    """0, 1, 2... for the distinct nodes of each label, in node order (a dense rank per label)."""
    if len(node) == 0:
        return np.zeros(0, dtype=np.int64)
    order = sort_order([label, node])  # equal keys get one rank, in any order
    sorted_label, sorted_node = label[order], node[order]
    new_label = np.r_[True, sorted_label[1:] != sorted_label[:-1]]
    new_node = new_label | np.r_[True, sorted_node[1:] != sorted_node[:-1]]
    dense = np.cumsum(new_node) - 1
    base = np.maximum.accumulate(np.where(new_label, dense, 0))
    rank = np.empty(len(node), dtype=np.int64)
    rank[order] = dense - base
    return rank


def _solve(
    row_of: IntArray, col_of: IntArray, score: FloatArray, shape: tuple[int, int]
) -> IntArray:
    """Indices (into the given arrays) of the optimal pairs of one component.

    ``row_of`` / ``col_of`` number the component's bank and ledger rows 0..n-1 in position order;
    ``shape`` is (bank rows, ledger rows) of the component.
    """
    cost = np.full(shape, _INFEASIBLE)
    cost[row_of, col_of] = 2.0 - score  # in [1, 2]: any pair beats leaving both rows open
    pair_index = np.full(shape, -1, dtype=np.int64)
    pair_index[row_of, col_of] = np.arange(len(row_of))
    r, c = linear_sum_assignment(cost)
    picked: IntArray = pair_index[r, c]
    return picked[picked >= 0]


_GREEDY_ROUNDS = 64


def _greedy(bank: IntArray, ledger: IntArray, score: FloatArray) -> IntArray:
    """Best score first, ties by positions; each row used once.

    The same pairs as taking them one by one in that order, found in rounds: a pair that comes
    first for both its rows (in that strict order) is taken, as the one-by-one greedy would
    take it; the pairs of taken rows drop out; repeat. A few rounds of array operations
    instead of a Python step per pair.
    """
    alive = np.lexsort((ledger, bank, -score))  # pair indices, best first
    picked: list[IntArray] = []
    for _ in range(_GREEDY_ROUNDS):
        if len(alive) == 0:
            break
        at_bank, at_ledger = bank[alive], ledger[alive]
        first_for_bank = np.zeros(len(alive), dtype=bool)
        first_for_bank[np.unique(at_bank, return_index=True)[1]] = True
        first_for_ledger = np.zeros(len(alive), dtype=bool)
        first_for_ledger[np.unique(at_ledger, return_index=True)[1]] = True
        taken = alive[first_for_bank & first_for_ledger]
        picked.append(taken)
        gone = sets.isin(at_bank, bank[taken]) | sets.isin(at_ledger, ledger[taken])
        alive = alive[~gone]
    # A chain of ever better pairs yields one pair a round: finish such a rest one by one.
    used_bank: set[int] = set()
    used_ledger: set[int] = set()
    rest: list[int] = []
    for i in alive.tolist():
        b, x = int(bank[i]), int(ledger[i])
        if b not in used_bank and x not in used_ledger:
            used_bank.add(b)
            used_ledger.add(x)
            rest.append(i)
    picked.append(np.array(rest, dtype=np.int64))
    result: IntArray = np.concatenate(picked)
    return result
