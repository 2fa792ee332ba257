"""The pool searches of recon.engine.passes.parts against brute force."""

from __future__ import annotations

from itertools import combinations
from types import SimpleNamespace
from typing import cast

import numpy as np
import pytest

from recon.engine.normalise import Side
from recon.engine.passes.parts import all_but_fits, named_and_rest_fits, replaceable


def _pool(seed: int, size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    # Few distinct amounts and days, so that many sets tie.
    amounts = rng.choice([100, 150, 200, 250, 300], size=size).astype(np.int64)
    back = rng.integers(0, 4, size=size).astype(np.int64)  # days before the target's date
    named = rng.random(size) < 0.3
    return amounts, back, named


@pytest.mark.parametrize("seed", range(12))
def test_all_but_fits_finds_each_run_less_up_to_two_rows_that_sums_to_the_target(
    seed: int,
) -> None:
    amounts, back, named = _pool(seed, 9)
    target_amount = np.array([int(amounts.sum()) - int(amounts[seed % 9])], dtype=np.int64)
    target_date = np.array([100], dtype=np.int64)
    part_date = 100 - back
    t = np.zeros(len(amounts), dtype=np.int64)
    p = np.arange(len(amounts), dtype=np.int64)
    found_t, members, only = all_but_fits(t, p, named, target_amount, target_date, amounts,
                                          part_date, 3)  # fmt: skip
    expected = set()
    for days in sorted(set(back.tolist())):
        run = [i for i in range(len(amounts)) if back[i] <= days]
        for k in (0, 1, 2):
            for left_out in combinations(run, k):
                rows = frozenset(run) - set(left_out)
                if (len(rows) >= 3 and sum(int(amounts[i]) for i in rows) == target_amount[0]
                        and any(named[i] for i in rows)):
                    expected.add(rows)
    if not expected:
        assert len(found_t) == 0
        return
    assert list(found_t) == [0]
    assert frozenset(members[0].tolist()) in expected
    assert bool(only[0]) == (len(expected) == 1)


@pytest.mark.parametrize("seed", range(12))
def test_named_and_rest_fits_takes_every_named_part_and_one_or_two_others(seed: int) -> None:
    amounts, _, named = _pool(seed, 10)
    named[0] = True
    unnamed = np.flatnonzero(~named)
    extra = [int(unnamed[seed % len(unnamed)])]
    target_amount = np.array([int(amounts[named].sum()) + int(amounts[extra].sum())],
                             dtype=np.int64)  # fmt: skip
    t = np.zeros(len(amounts), dtype=np.int64)
    p = np.arange(len(amounts), dtype=np.int64)
    found_t, members, only = named_and_rest_fits(t, p, named, target_amount, amounts, 6)
    named_rows = set(np.flatnonzero(named).tolist())
    others = sorted(set(range(len(amounts))) - named_rows)
    expected = set()
    for k in (1, 2):
        if len(named_rows) + k > 6:
            continue
        for rest in combinations(others, k):
            if sum(int(amounts[i]) for i in named_rows | set(rest)) == target_amount[0]:
                expected.add(frozenset(named_rows | set(rest)))
    assert expected, "the test's own fit is always there"
    assert list(found_t) == [0]
    assert frozenset(members[0].tolist()) in expected
    assert bool(only[0]) == (len(expected) == 1)


def side_of(amounts: np.ndarray) -> Side:
    """The fields of a Side that the checks of parts read: amounts in US dollars."""
    return cast(Side, SimpleNamespace(
        amount=amounts, currency=np.array(["USD"] * len(amounts), dtype=object),
        currency_code=np.zeros(len(amounts), dtype=np.int64),
    ))  # fmt: skip


@pytest.mark.parametrize("seed", range(12))
def test_replaceable_finds_an_unnamed_part_that_one_or_two_other_pool_rows_make_up(
    seed: int,
) -> None:
    rng = np.random.default_rng(seed)
    # Amounts where some picks are made up by others and some are not (seeds 0-2, 5: not).
    amounts = rng.choice([100, 170, 270, 440, 530, 1_000, 1_370], size=6).astype(np.int64)
    side = side_of(amounts)
    chosen = np.sort(rng.choice(6, size=2, replace=False)).astype(np.int64)
    named = np.array([seed % 2 == 0, False])
    t = np.zeros(6, dtype=np.int64)
    p = np.arange(6, dtype=np.int64)
    found = replaceable(np.array([0]), [chosen], [named], t, p, side, np.array([True]), 64)
    others = [int(amounts[i]) for i in range(6) if i not in chosen.tolist()]
    made_up = {*others, *(a + b for a, b in combinations(others, 2))}
    expected = any(int(amounts[i]) in made_up for i, n in zip(chosen, named, strict=True)
                   if not n)  # fmt: skip
    assert bool(found[0]) == expected


def test_replaceable_doubts_a_round_part_when_the_pool_was_cut_at_the_cap() -> None:
    amounts = np.array([400_000, 286_324, 12_345, 23_456], dtype=np.int64)
    side = side_of(amounts)
    t, p = np.zeros(4, dtype=np.int64), np.arange(4, dtype=np.int64)
    fit, named = [np.array([0, 1])], [np.array([False, True])]
    asked = np.array([True])
    assert not replaceable(np.array([0]), fit, named, t, p, side, asked, 5)[0]
    assert replaceable(np.array([0]), fit, named, t, p, side, asked, 4)[0]  # cut: 4 of 4+
    named = [np.array([True, False])]  # only the round part names the invoice
    assert not replaceable(np.array([0]), fit, named, t, p, side, asked, 4)[0]
