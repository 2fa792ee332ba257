"""The pool searches of recon.engine.passes.parts against brute force."""

from __future__ import annotations

from itertools import combinations

import numpy as np
import pytest

from recon.engine.passes.parts import all_but_fits, named_and_rest_fits


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
