"""Engine internals against plain references: 2 x 2 assignment by brute force, id order."""

from __future__ import annotations

import itertools

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from recon.engine.assign import assign
from recon.engine.normalise import id_order


def _best(bank: list[int], ledger: list[int], score: list[float]) -> tuple[int, float]:
    """(most pairs, then highest total) over every one-to-one subset, by enumeration."""
    best = (0, 0.0)
    for size in range(1, len(bank) + 1):
        for subset in itertools.combinations(range(len(bank)), size):
            rows = [bank[i] for i in subset]
            cols = [ledger[i] for i in subset]
            if len(set(rows)) == size and len(set(cols)) == size:
                best = max(best, (size, round(sum(score[i] for i in subset), 6)))
    return best


@settings(max_examples=200, deadline=None)
@given(
    cells=st.lists(st.sampled_from([(0, 0), (0, 1), (1, 0), (1, 1)]), min_size=3, max_size=4,
                   unique=True),
    scores=st.lists(st.integers(0, 100), min_size=4, max_size=4),
    components=st.integers(1, 3),
)  # fmt: skip
def test_two_by_two_components_take_the_best_perfect_matching(
    cells: list[tuple[int, int]], scores: list[int], components: int
) -> None:
    bank, ledger, score = [], [], []
    for k in range(components):  # copies on disjoint rows: several components in one call
        for (r, c), s in zip(cells, scores, strict=False):
            bank.append(2 * k + r)
            ledger.append(2 * k + c)
            score.append(s / 100)
    chosen = assign(np.array(bank), np.array(ledger), np.array(score))
    picked = np.flatnonzero(chosen)
    assert len(set(np.array(bank)[picked])) == len(picked)
    assert len(set(np.array(ledger)[picked])) == len(picked)
    n = len(cells)
    expected = _best(bank[:n], ledger[:n], score[:n])
    got = (int(chosen[:n].sum()), round(float(np.array(score[:n])[chosen[:n]].sum()), 6))
    assert got == expected
    assert int(chosen.sum()) == components * expected[0]


@given(st.lists(st.text(st.characters(blacklist_characters="\x00"), max_size=20)))
def test_id_order_sorts_like_python(ids: list[str]) -> None:
    order = id_order(np.array(ids, dtype=object))
    assert [ids[i] for i in order] == sorted(ids)
    assert sorted(order.tolist()) == list(range(len(ids)))


def test_id_order_keeps_equal_ids_in_input_order() -> None:
    ids = np.array(["JE-2", "JE-10", "JE-2", "é", "e", "JE-1"], dtype=object)
    assert id_order(ids).tolist() == [5, 1, 0, 2, 4, 3]
