"""Engine internals against plain references: 2 x 2 assignment by brute force, id order."""

from __future__ import annotations

import itertools
import re

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from recon.engine import sets
from recon.engine.assign import assign
from recon.engine.candidates import keyed_window_pairs
from recon.engine.explain import match_id, pair_match_ids
from recon.engine.groups import (
    _fit_possible,
    _pair_ranges,
    _sorted_subset_sums,
    _subset_sums,
    fitting_subsets,
)
from recon.engine.normalise import (
    DEFAULT_REFERENCE_PATTERN,
    Distinct,
    FrameTexts,
    _cannot_match,
    _check_number,
    _check_numbers_in,
    _default_pattern_groups,
    _sorted_factorize,
    few_texts_column,
    id_order,
    text_column,
)
from recon.engine.output import Coded, _texts
from recon.engine.partitions import _spelled
from recon.engine.passes.aggregate import _clearest_first, _Days, _segment_starts


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


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 12), st.integers(0, 12), st.integers(0, 5)), max_size=60,
             unique_by=lambda p: (p[0], p[1]))
)  # fmt: skip
def test_greedy_in_rounds_is_the_one_by_one_greedy(pairs: list[tuple[int, int, int]]) -> None:
    from recon.engine.assign import _greedy

    bank = np.array([b for b, _, _ in pairs], dtype=np.int64)
    ledger = np.array([x for _, x, _ in pairs], dtype=np.int64)
    score = np.array([s / 5 for _, _, s in pairs])  # few distinct scores: many ties
    expected, used_bank, used_ledger = set(), set(), set()
    for i in sorted(range(len(pairs)), key=lambda i: (-score[i], bank[i], ledger[i])):
        if bank[i] not in used_bank and ledger[i] not in used_ledger:
            expected.add(i)
            used_bank.add(bank[i])
            used_ledger.add(ledger[i])
    assert set(_greedy(bank, ledger, score).tolist()) == expected


def test_greedy_finishes_a_long_chain_one_by_one() -> None:
    from recon.engine.assign import _GREEDY_ROUNDS, _greedy

    # b0-l0 < l0-b1 < b1-l1 < ...: each round takes only the best pair left; 300 pairs need
    # more rounds than _GREEDY_ROUNDS, and the rest is finished one by one, the same way.
    n = 150
    bank = np.array([k for k in range(n) for _ in range(2)], dtype=np.int64)
    ledger = np.array([x for k in range(n) for x in (k, k + 1)], dtype=np.int64)
    score = np.arange(2 * n, dtype=np.float64) / (2 * n)
    picked = _greedy(bank, ledger, score)
    assert n > _GREEDY_ROUNDS
    # One by one from the best: (149, 150), (148, 149), ...: every bank row takes l(k+1).
    assert sorted(zip(bank[picked].tolist(), ledger[picked].tolist(), strict=True)) == [
        (k, k + 1) for k in range(n)
    ]


@settings(max_examples=150, deadline=None)
@given(
    pairs=st.lists(st.tuples(st.integers(0, 3), st.integers(0, 3), st.integers(0, 100)),
                   min_size=5, max_size=11, unique_by=lambda p: (p[0], p[1])),
    components=st.integers(1, 3),
)  # fmt: skip
def test_components_up_to_four_by_four_solved_together_are_optimal(
    pairs: list[tuple[int, int, int]], components: int
) -> None:
    bank, ledger, score = [], [], []
    for k in range(components):  # disjoint copies: several batched components in one call
        for b, x, s in pairs:
            bank.append(4 * k + b)
            ledger.append(4 * k + x)
            score.append(s / 100)
    chosen = assign(np.array(bank, dtype=np.int64), np.array(ledger, dtype=np.int64),
                    np.array(score))  # fmt: skip
    picked = np.flatnonzero(chosen)
    assert len(set(np.array(bank)[picked])) == len(picked)
    assert len(set(np.array(ledger)[picked])) == len(picked)
    n = len(pairs)
    for k in range(components):
        part = slice(k * n, (k + 1) * n)
        got = (int(chosen[part].sum()), round(float(np.array(score[part])[chosen[part]].sum()), 6))
        assert got == _best(bank[part], ledger[part], score[part])


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 5), st.integers(0, 5), st.integers(0, 100)), max_size=8,
             unique_by=lambda p: (p[0], p[1]))
)  # fmt: skip
def test_assignment_is_optimal_with_lone_pairs_and_components_mixed(
    pairs: list[tuple[int, int, int]],
) -> None:
    bank = [b for b, _, _ in pairs]
    ledger = [x for _, x, _ in pairs]
    score = [s / 100 for _, _, s in pairs]
    chosen = assign(np.array(bank, dtype=np.int64), np.array(ledger, dtype=np.int64),
                    np.array(score))  # fmt: skip
    picked = np.flatnonzero(chosen)
    assert len(set(np.array(bank)[picked])) == len(picked)
    assert len(set(np.array(ledger)[picked])) == len(picked)
    got = (len(picked), round(float(np.array(score)[chosen].sum()) if len(pairs) else 0.0, 6))
    assert got == _best(bank, ledger, score)


@given(st.lists(st.text(st.characters(blacklist_characters="\x00"), max_size=20)))
def test_id_order_sorts_like_python(ids: list[str]) -> None:
    order = id_order(np.array(ids, dtype=object))
    assert [ids[i] for i in order] == sorted(ids)
    assert sorted(order.tolist()) == list(range(len(ids)))


@pytest.mark.parametrize("values", [
    ["a", None, np.nan, "b"], [None, None], [], ["x", 1.5, 2], ["a", pd.NA, pd.NaT],
])  # fmt: skip
def test_text_column_reads_missing_values_as_empty_and_others_as_their_str(
    values: list[object],
) -> None:
    column = pd.Series(values, dtype=object)
    expected = column.fillna("").astype(str).tolist()
    assert text_column(column).tolist() == expected
    assert text_column(column.astype("string")).tolist() == expected
    assert few_texts_column(column).tolist() == expected
    assert few_texts_column(column.astype("string")).tolist() == expected


# A pyarrow text column holds UTF-8 only: no lone surrogate ("\ud800") can be in one.
_UTF8_CHARACTERS = st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00")


@given(st.lists(st.one_of(st.text(_UTF8_CHARACTERS, max_size=4),
                         st.none(), st.sampled_from(["", " ", "a", "é", "A"])), max_size=40))
def test_pyarrow_text_columns_read_and_factorise_as_str_objects(values: list[str | None]) -> None:
    """FrameTexts factorises a pyarrow text column by pyarrow: the same column, codes and
    distinct values as pandas' factorisation of its str objects."""
    arrow_frame = pd.DataFrame({"text": pd.Series(values, dtype="str")})
    assert isinstance(arrow_frame["text"].dtype, pd.StringDtype)
    expected = Distinct.of(text_column(pd.Series(values, dtype=object)))
    for first in ("column", "distinct"):  # either may be asked for first
        texts = FrameTexts(arrow_frame)
        if first == "column":
            texts.column("text")
        distinct = texts.distinct("text")
        assert distinct.codes.tolist() == expected.codes.tolist()
        assert distinct.uniques.tolist() == expected.uniques.tolist()
        assert texts.column("text").tolist() == text_column(arrow_frame["text"]).tolist()


def test_id_order_keeps_equal_ids_in_input_order() -> None:
    ids = np.array(["JE-2", "JE-10", "JE-2", "é", "e", "JE-1"], dtype=object)
    assert id_order(ids).tolist() == [5, 1, 0, 2, 4, 3]


_REFERENCE_LETTERS = "INVOPREFinvopref-#: 0123456789ıİſKéx"


@given(st.text(st.sampled_from(_REFERENCE_LETTERS), max_size=24))
def test_texts_skipped_without_a_search_have_no_reference(text: str) -> None:
    compiled = re.compile(DEFAULT_REFERENCE_PATTERN, re.IGNORECASE)
    if _cannot_match(text):
        assert compiled.search(text) is None
        assert compiled.search(text.strip().upper()) is None


def test_non_ascii_texts_are_always_searched() -> None:
    # Case-insensitive matching is wider than upper() for some letters (dotless i matches I):
    # a non-ASCII text is never skipped.
    assert re.search(DEFAULT_REFERENCE_PATTERN, "ınv-12345", re.IGNORECASE) is not None
    assert not _cannot_match("ınv-12345")
    assert _cannot_match("BILL-12345")
    assert not _cannot_match("bill ref 12345")


@given(st.lists(st.text(st.characters(blacklist_characters="\x00"), max_size=6), max_size=30))
def test_sorted_factorize_matches_pandas(values: list[str]) -> None:
    array = np.array(values, dtype=object)
    codes, uniques = _sorted_factorize(array)
    expected_codes, expected_uniques = pd.factorize(array, sort=True)
    assert codes.tolist() == expected_codes.tolist()
    assert list(uniques) == list(expected_uniques)


def _brute_force_fits(amounts: list[int], target: int, tolerance: int, max_size: int) -> list[
    list[int]
]:
    fits = [
        list(subset)
        for size in range(2, min(max_size, len(amounts)) + 1)
        for subset in itertools.combinations(range(len(amounts)), size)
        if abs(sum(amounts[i] for i in subset) - target) <= tolerance
    ]
    # Fewest items first, then the lowest bit mask.
    fits.sort(key=lambda s: (len(s), sum(1 << i for i in s)))
    return fits[:16]


@settings(max_examples=150, deadline=None)
@given(
    amounts=st.lists(st.integers(-30, 30), max_size=10),  # 2**10 subsets: no early stop
    target=st.integers(-60, 60),
    tolerance=st.integers(0, 3),
    max_size=st.integers(2, 20),
)
def test_fitting_subsets_match_brute_force(
    amounts: list[int], target: int, tolerance: int, max_size: int
) -> None:
    got = fitting_subsets(np.array(amounts, dtype=np.int64), target, tolerance, max_size)
    assert [g.tolist() for g in got] == _brute_force_fits(amounts, target, tolerance, max_size)


@settings(max_examples=30, deadline=None)
@given(
    # 13+ rows: searched by halves; distinct, sparse sums, so no early stop.
    amounts=st.lists(
        st.integers(-(10**6), 10**6).filter(bool), min_size=13, max_size=14, unique=True
    ),
    chosen=st.lists(st.integers(0, 12), min_size=2, max_size=6, unique=True),
    tolerance=st.integers(0, 2),
)
def test_fitting_subsets_by_halves_match_brute_force(
    amounts: list[int], chosen: list[int], tolerance: int
) -> None:
    target = sum(amounts[i] for i in chosen)
    got = fitting_subsets(np.array(amounts, dtype=np.int64), target, tolerance, 20)
    assert [g.tolist() for g in got] == _brute_force_fits(amounts, target, tolerance, 20)


@settings(max_examples=100, deadline=None)
@given(
    amounts=st.lists(
        st.one_of(st.integers(-(10**6), 10**6), st.integers(-(10**17), 10**17)), max_size=10
    )
)
def test_sorted_subset_sums_are_the_sums_sorted_ties_by_mask(amounts: list[int]) -> None:
    """Merged item by item (or, for sums too wide to pack, sorted at once): the same order."""
    values = np.array(amounts, dtype=np.int64)
    sums, masks = _subset_sums(values)
    order = sets.order(sums)
    got_sums, got_masks = _sorted_subset_sums(values)
    assert got_sums.tolist() == sums[order].tolist()
    assert got_masks.tolist() == masks[order].tolist()


@settings(max_examples=200, deadline=None)
@given(
    amounts=st.lists(st.integers(-50, 50), max_size=12),
    windows=st.lists(st.tuples(st.integers(-100, 100), st.integers(0, 20)), min_size=1,
                     max_size=4),
)
def test_pair_ranges_are_the_pairs_whose_sum_is_in_the_window(
    amounts: list[int], windows: list[tuple[int, int]]
) -> None:
    values = np.array(sorted(amounts), dtype=np.int64)
    low = np.array([w[0] for w in windows], dtype=np.int64)
    high = low + np.array([w[1] for w in windows], dtype=np.int64)
    begin, end = _pair_ranges(values, low, high)
    for q in range(len(windows)):
        got = [(i, j) for i in range(len(values)) for j in range(begin[q, i], end[q, i])]
        want = [
            (i, j) for i, j in itertools.combinations(range(len(values)), 2)
            if low[q] <= values[i] + values[j] <= high[q]
        ]  # fmt: skip
        assert got == want


def _any_fit(amounts: list[int], target: int, tolerance: int, sizes: range) -> bool:
    return any(
        abs(sum(subset) - target) <= tolerance
        for size in sizes
        for subset in itertools.combinations(amounts, size)
    )


@settings(max_examples=100, deadline=None)
@given(
    pools=st.lists(
        st.tuples(
            st.one_of(
                st.lists(st.integers(-(10**6), 10**6), min_size=2, max_size=12),
                # Larger pools, checked by halves; sparse sums, so most targets have no fit.
                st.lists(st.integers(-(10**9), 10**9), min_size=13, max_size=16),
            ),
            st.integers(-(10**6), 10**6),  # the target, unless a real subset's sum is asked
            st.integers(0, 50),
            st.booleans(),
        ),
        min_size=1, max_size=6,
    ),
    max_size=st.integers(2, 20),
)  # fmt: skip
def test_fit_possible_never_drops_a_pool_that_has_a_fit(
    pools: list[tuple[list[int], int, int, bool]], max_size: int
) -> None:
    """Pools of up to 12 rows are decided exactly; larger ones (checked by halves) are kept when
    a subset of any size fits, so never dropped with a fit. Half the targets are a real
    subset's sum."""
    targets = [sum(a[: 2 + abs(t) % (len(a) - 1)]) if real else t for a, t, _, real in pools]
    amounts = np.array([x for a, *_ in pools for x in a], dtype=np.int64)
    starts = np.cumsum([0] + [len(a) for a, *_ in pools[:-1]]).astype(np.int64)
    possible = _fit_possible(
        amounts, starts, np.array(targets, dtype=np.int64),
        np.array([tol for _, _, tol, _ in pools], dtype=np.int64), max_size,
        np.ones(len(pools), dtype=bool),
    )  # fmt: skip
    for (values, _, tol, _), target, kept in zip(pools, targets, possible.tolist(), strict=True):
        if len(values) <= 12:
            assert kept == _any_fit(values, target, tol, range(2, min(max_size, len(values)) + 1))
        else:
            assert kept == _any_fit(values, target, tol, range(len(values) + 1))


@given(st.lists(st.integers(-(10**9), 10**9), max_size=17))
def test_subset_sums_index_is_the_mask(amounts: list[int]) -> None:
    sums, masks = _subset_sums(np.array(amounts, dtype=np.int64))
    assert masks.tolist() == list(range(2 ** len(amounts)))
    for mask in (0, 1, 2 ** len(amounts) - 1, (2 ** len(amounts)) // 3):
        if mask < len(sums):
            assert sums[mask] == sum(a for i, a in enumerate(amounts) if mask >> i & 1)


@given(st.lists(st.tuples(st.text(max_size=12), st.text(max_size=12)), max_size=10))
def test_pair_match_ids_are_the_match_ids_of_one_to_one_links(
    pairs: list[tuple[str, str]],
) -> None:
    bank = np.array([b for b, _ in pairs], dtype=object)
    ledger = np.array([x for _, x in pairs], dtype=object)
    assert pair_match_ids(bank, ledger) == [match_id([b], [x]) for b, x in pairs]


@settings(max_examples=150, deadline=None)
@given(
    bank=st.lists(st.tuples(st.integers(0, 3), st.integers(0, 9)), min_size=1, max_size=8),
    ledger=st.one_of(
        st.lists(st.tuples(st.integers(0, 3), st.integers(0, 9)), max_size=8),
        st.lists(st.tuples(st.integers(0, 3), st.integers(0, 9)), min_size=33, max_size=60),
    ),
    before=st.integers(0, 3),
    after=st.integers(0, 3),
)
def test_keyed_window_pairs_are_every_pair_with_one_key_inside_the_window(
    bank: list[tuple[int, int]], ledger: list[tuple[int, int]], before: int, after: int
) -> None:
    """Against brute force, with a cap no row reaches; half the ledger sides are over four
    times the bank side, where they are first cut down to the bank side's keys."""
    def columns(rows: list[tuple[int, int]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        keys = np.array([k for k, _ in rows], dtype=np.int64)
        days = np.array([d for _, d in rows], dtype=np.int64)
        return np.arange(len(rows), dtype=np.int64) * 10, keys, days

    b, lg = keyed_window_pairs(
        *columns(bank), *columns(ledger), days_before=before, days_after=after, cap=1000
    )
    expected = {
        (i * 10, j * 10)
        for i, (bank_key, bank_day) in enumerate(bank)
        for j, (ledger_key, ledger_day) in enumerate(ledger)
        if bank_key == ledger_key and -before <= bank_day - ledger_day <= after
    }
    got = list(zip(b.tolist(), lg.tolist(), strict=True))
    assert len(got) == len(set(got))
    assert set(got) == expected


@given(st.lists(st.tuples(st.integers(0, 2), st.integers(-3, 3)), max_size=40))
def test_amount_unique_in_block_is_a_count_of_one(rows: list[tuple[int, int]]) -> None:
    from collections import Counter

    from recon.engine.state import _unique_in_block

    block = np.array([b for b, _ in rows], dtype=np.int64)
    amount = np.array([a for _, a in rows], dtype=np.int64)
    counts = Counter(rows)
    assert _unique_in_block(block, amount).tolist() == [counts[row] == 1 for row in rows]


_INTS = st.lists(st.integers(-(2**40), 2**40) | st.integers(-3, 3), max_size=60)


@given(_INTS, _INTS)
@settings(max_examples=200, deadline=None)
def test_sorted_set_operations_agree_with_numpy(values: list[int], among: list[int]) -> None:
    left, right = np.array(values, dtype=np.int64), np.array(among, dtype=np.int64)
    assert sets.unique(left).tolist() == np.unique(left).tolist()
    assert sets.isin(left, right).tolist() == np.isin(left, right).tolist()


_REFERENCE_PIECES = ["INV", "inv", "Invoice", "PO", "po#", "REF:", "ref -", "\v", "\x1c", " ", "-",
                     "#", ":", "12", "A1-", "ABC", "x", "é", "ſ", "K", "ı", "2025-0001", "_", "\t"]


@given(st.lists(st.lists(st.sampled_from(_REFERENCE_PIECES), max_size=8).map("".join),
                max_size=30))
@settings(max_examples=300, deadline=None)
def test_references_found_at_once_are_what_pythons_re_finds(texts: list[str]) -> None:
    pattern = re.compile(DEFAULT_REFERENCE_PATTERN, re.IGNORECASE)
    expected = []
    for text in texts:
        found = pattern.search(text)
        expected.append(found.group(1).upper() if found and found.group(1) else "")
    assert _default_pattern_groups(texts).tolist() == expected


_CHECK_PIECES = ["CHECK", "check", "Chk", "CK", "ck", "CHEQUE", "CHQ", "chq.", "No.", "NO", "nr",
                 "NUMBER", "num", "#", ":", ".", "/", "-", " ", "\t", "\v", "\x1c", "\x1f", "\n",
                 "1043", "0", "1234567890123", "7", "A", "x", "_", "é", "\u212a", "\u0660",
                 "\u00a0", "CHECKNO", "NUMBERS"]


@given(st.lists(st.lists(st.sampled_from(_CHECK_PIECES), max_size=8).map("".join), max_size=30))
@settings(max_examples=400, deadline=None)
def test_check_numbers_found_at_once_are_what_pythons_re_finds(texts: list[str]) -> None:
    for whole in (True, False):
        expected = [_check_number(text, whole=whole) for text in texts]
        assert _check_numbers_in(texts, whole=whole).tolist() == expected


def test_check_numbers_of_texts_pythons_re_reads_otherwise_are_found() -> None:
    # Kelvin sign (case-folds to k), Arabic-Indic digits and \x1c (whitespace to Python only).
    texts = ["CHEC\u212a 12", "CHK \u0661\u0662", "CHK\x1c77", "chq\v5", "nothing 12", "CK-9"]
    assert _check_numbers_in(texts, whole=False).tolist() == [12, 12, 77, 5, -1, 9]
    assert _check_numbers_in(["\x1c#12\v", "CHECK\u00a012", "12 X"], whole=True).tolist() == [
        12, 12, -1,
    ]


@given(
    st.lists(st.tuples(st.integers(0, 2), st.integers(-40, 40)), min_size=1, max_size=25),
    st.lists(st.tuples(st.integers(0, 24), st.integers(0, 24), st.integers(-60, 60),
                       st.integers(-3, 12)), max_size=40),
)
@settings(max_examples=400, deadline=None)
def test_first_days_within_the_fee_are_those_trying_every_first_day_finds(
    day_sums: list[tuple[int, int]], queries: list[tuple[int, int, int, int]]
) -> None:
    """Series of days (some rising, some falling, some mixed, some flat) and queries of a last
    day, the days before it to try, an amount and a fee limit."""
    series = np.array(sorted(s for s, _ in day_sums), dtype=np.int64)
    sums = np.array([v for _, v in day_sums], dtype=np.int64)
    size = len(series)
    days = _Days(rows=np.arange(size, dtype=np.int64), series=series,
                 day=np.arange(size, dtype=np.int64), row_start=np.arange(size + 1),
                 prefix=np.r_[0, np.cumsum(sums)].astype(np.int64),
                 first_of_series=_segment_starts(series),
                 gross_prefix=np.r_[0, np.cumsum(np.abs(sums))].astype(np.int64))  # fmt: skip
    last = np.array([q[0] % size for q in queries], dtype=np.int64)
    back = np.array([q[1] for q in queries], dtype=np.int64)
    first_low = np.maximum(last - back, days.first_of_series[last]) if len(queries) else last
    amount = np.array([q[2] for q in queries], dtype=np.int64)
    limit = np.array([q[3] for q in queries], dtype=np.int64)
    expected = [
        (i, f) for i in range(len(queries)) for f in range(int(first_low[i]), int(last[i]) + 1)
        if 0 <= int(days.total(np.array([f]), last[i : i + 1])[0]) - amount[i] <= limit[i]
    ]
    query, first = days.firsts_within(first_low, last, amount, limit)
    assert list(zip(query.tolist(), first.tolist(), strict=True)) == expected


_CELLS = st.one_of(st.text(max_size=6), st.none(), st.just(float("nan")), st.integers(0, 9),
                   st.just("\udc80"), st.just("é\x00"))


def _objects(values: list[object]) -> np.ndarray:
    array = np.empty(len(values), dtype=object)
    array[:] = values
    return array


@given(st.integers(0, 6).flatmap(
    lambda rows: st.lists(st.lists(_CELLS, min_size=rows, max_size=rows), min_size=1, max_size=4)
))
@settings(max_examples=300, deadline=None)
def test_text_columns_made_by_pyarrow_are_what_pandas_makes(columns: list[list[object]]) -> None:
    arrays = {f"c{i}": _objects(values) for i, values in enumerate(columns)}
    try:
        expected = pd.DataFrame(arrays)
    except UnicodeEncodeError:  # a lone surrogate: pandas cannot make the column either way
        with pytest.raises(UnicodeEncodeError):
            pd.DataFrame(_texts(arrays))
        return
    made = pd.DataFrame(_texts(arrays))
    assert made.dtypes.tolist() == expected.dtypes.tolist()
    assert made.equals(expected)


@given(st.lists(st.text(max_size=8), min_size=1, max_size=4).flatmap(
    lambda texts: st.tuples(st.just(texts), st.lists(st.integers(0, len(texts) - 1), max_size=6))
))
@settings(max_examples=200, deadline=None)
def test_a_coded_text_column_makes_the_column_of_its_texts(
    coded: tuple[list[str], list[int]],
) -> None:
    texts, codes = coded
    values = Coded(np.array(codes, dtype=np.int64), _objects(list(texts)))
    rows = np.arange(len(codes), dtype=np.int64)[::-1]
    made = pd.DataFrame(_texts({"c": values[rows]}))
    expected = pd.DataFrame({"c": _objects([texts[c] for c in codes][::-1])})
    assert made.dtypes.tolist() == expected.dtypes.tolist()
    assert made.equals(expected)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.integers(-5, 5), st.integers(-(2**40), 2**40), st.booleans()),
                max_size=40))  # fmt: skip
def test_order_is_the_stable_lexsort_order(rows: list[tuple[int, int, bool]]) -> None:
    columns = [np.array([r[k] for r in rows], dtype=dtype)
               for k, dtype in ((0, np.int64), (1, np.int64), (2, bool))]  # fmt: skip
    assert sets.order(*columns).tolist() == np.lexsort(columns[::-1]).tolist()
    assert sets.order(columns[0]).tolist() == np.argsort(columns[0], kind="stable").tolist()


def test_order_falls_back_to_lexsort_when_the_columns_do_not_fit_in_one_integer() -> None:
    wide = np.array([2**62, -(2**62), 0, 2**62], dtype=np.int64)
    assert sets.order(wide, np.array([1, 0, 0, 0])).tolist() == [1, 2, 3, 0]


def test_of_two_runs_claiming_a_day_the_clearer_keeps_it_and_ties_keep_none() -> None:
    # Deposit 0 has one run that fits (no runner-up); deposit 1's chosen run, barely ahead of
    # its runner-up, takes a row of it: deposit 0 keeps its rows, deposit 1 waits for the next
    # round. Deposits 2 and 3, equally clear, claim the same row: neither gets it, and the less
    # clear deposit 4 cannot take it either.
    members = [np.array([0, 1]), np.array([1, 2]), np.array([5, 6]), np.array([6, 7]),
               np.array([6, 9])]  # fmt: skip
    owners = np.array([10, 11, 12, 13, 14])
    margin = np.array([np.inf, 0.1, 2.0, 2.0, 0.5])
    kept = _clearest_first(members, owners, margin, 10)
    assert kept.tolist() == [True, False, False, False, False]
    assert _clearest_first([np.array([3]), np.array([4])], owners[:2], margin[:2], 10).all()


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(st.none(), st.sampled_from(["usd", " EUR", "EUR ", "eur", "", "JPY"]),
                          st.text(max_size=4)), max_size=30),
       st.booleans())  # fmt: skip
def test_partition_keys_spelled_per_distinct_value_are_those_spelled_per_row(
    values: list[str | None], arrow: bool
) -> None:
    column = pd.Series(values, dtype="str" if arrow else object)
    codes, names = _spelled(column, lambda texts: texts.str.strip().str.upper())
    per_row = column.fillna("").astype(str).str.strip().str.upper()
    expected_codes, expected_names = pd.factorize(per_row, sort=True)
    assert codes.tolist() == expected_codes.tolist()
    assert names == [str(n) for n in expected_names]
