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

from recon.engine.normalise import BoolArray, IntArray
from recon.engine.scoring import FloatArray

_INFEASIBLE = 1e6
# Above this many rows on one side a component is decided greedily (best score first): dense
# assignment is cubic, and such components only arise from long runs of identical amounts.
MAX_EXACT_COMPONENT = 300


def components(bank: IntArray, ledger: IntArray) -> IntArray:
    """Component label of each pair in the bipartite candidate graph (labels are 0..k-1)."""
    if len(bank) == 0:
        return np.zeros(0, dtype=np.int64)
    bank_nodes, bank_local = np.unique(bank, return_inverse=True)
    ledger_nodes, ledger_local = np.unique(ledger, return_inverse=True)
    n = len(bank_nodes) + len(ledger_nodes)
    graph = coo_array(
        (np.ones(len(bank)), (bank_local, ledger_local + len(bank_nodes))), shape=(n, n)
    )
    _, labels = connected_components(graph, directed=False)
    return np.asarray(labels[bank_local], dtype=np.int64)


def assign(bank: IntArray, ledger: IntArray, score: FloatArray) -> BoolArray:
    """A mask of the chosen pairs: no bank or ledger position chosen twice, total score maximal.

    Pairs must be unique. Ties go to the lower positions (positions follow id order), so the
    result depends on content only.
    """
    chosen = np.zeros(len(bank), dtype=bool)
    if len(bank) == 0:
        return chosen
    label = components(bank, ledger)
    # Best pair first within each component; ties broken by positions.
    order = np.lexsort((ledger, bank, -score, label))
    label_sorted = label[order]
    first = np.r_[True, label_sorted[1:] != label_sorted[:-1]]
    bank_count = _distinct_per_label(label, bank)
    ledger_count = _distinct_per_label(label, ledger)
    simple = (bank_count == 1) | (ledger_count == 1)  # a single pair or a star
    chosen[order[first & simple[label_sorted]]] = True

    hard = np.flatnonzero(~simple[label])
    if len(hard):
        hard = hard[np.argsort(label[hard], kind="stable")]
        bounds = np.flatnonzero(np.r_[True, np.diff(label[hard]) != 0, True])
        # Row and column of each pair in its component's dense matrix, for all at once.
        row_of = _local_rank(label[hard], bank[hard])
        col_of = _local_rank(label[hard], ledger[hard])
        for start, stop in itertools.pairwise(bounds.tolist()):
            members = hard[start:stop]
            label_of = label[members[0]]
            if max(bank_count[label_of], ledger_count[label_of]) > MAX_EXACT_COMPONENT:
                picked = _greedy(bank[members], ledger[members], score[members])
            else:
                picked = _solve(row_of[start:stop], col_of[start:stop], score[members])
            chosen[members[picked]] = True
    return chosen


def _distinct_per_label(label: IntArray, node: IntArray) -> IntArray:
    width = int(node.max()) + 1
    distinct = np.unique(label * width + node)
    return np.bincount(distinct // width, minlength=int(label.max()) + 1)


def _local_rank(label: IntArray, node: IntArray) -> IntArray:
    """0, 1, 2... for the distinct nodes of each label, in node order (a dense rank per label)."""
    order = np.lexsort((node, label))
    sorted_label, sorted_node = label[order], node[order]
    new_label = np.r_[True, sorted_label[1:] != sorted_label[:-1]]
    new_node = new_label | np.r_[True, sorted_node[1:] != sorted_node[:-1]]
    dense = np.cumsum(new_node) - 1
    base = np.maximum.accumulate(np.where(new_label, dense, 0))
    rank = np.empty(len(node), dtype=np.int64)
    rank[order] = dense - base
    return rank


def _solve(row_of: IntArray, col_of: IntArray, score: FloatArray) -> IntArray:
    """Indices (into the given arrays) of the optimal pairs of one component.

    ``row_of`` / ``col_of`` number the component's bank and ledger rows 0..n-1 in position order.
    """
    shape = (int(row_of.max()) + 1, int(col_of.max()) + 1)
    cost = np.full(shape, _INFEASIBLE)
    cost[row_of, col_of] = 2.0 - score  # in [1, 2]: any pair beats leaving both rows open
    pair_index = np.full(shape, -1, dtype=np.int64)
    pair_index[row_of, col_of] = np.arange(len(row_of))
    r, c = linear_sum_assignment(cost)
    picked: IntArray = pair_index[r, c]
    return picked[picked >= 0]


def _greedy(bank: IntArray, ledger: IntArray, score: FloatArray) -> IntArray:
    """Best score first, ties by positions; each row used once."""
    used_bank: set[int] = set()
    used_ledger: set[int] = set()
    picked: list[int] = []
    for i in np.lexsort((ledger, bank, -score)).tolist():
        b, x = int(bank[i]), int(ledger[i])
        if b not in used_bank and x not in used_ledger:
            used_bank.add(b)
            used_ledger.add(x)
            picked.append(i)
    return np.array(picked, dtype=np.int64)
