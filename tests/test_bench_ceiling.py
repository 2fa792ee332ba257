"""benchmarks/bench_ceiling.py counts fitting subsets exactly (against brute force)."""

from __future__ import annotations

import importlib.util
from itertools import combinations
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_ceiling.py"


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_ceiling", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("size", [1, 2, 3, 4, 5])
def test_other_subsets_counts_what_brute_force_counts(size: int) -> None:
    bench = _load()
    rng = np.random.default_rng(size)
    # Few distinct amounts, so that many subsets tie (repeated values included).
    amounts = rng.choice([100, 250, 300, 450, 500, 700], size=14).astype(np.int64)
    for chosen in ([0, 1, 2, 3, 4][:size], [5, 7, 9, 11, 13][:size]):
        total = int(amounts[chosen].sum())
        brute = sum(sum(c) == total for c in combinations(amounts.tolist(), size))
        assert bench.other_subsets(amounts, size, total) == brute - 1
