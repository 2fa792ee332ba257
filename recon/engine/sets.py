"""Set operations on integer arrays (codes, positions, composite keys), by sorting.

numpy's ``np.unique`` (values only) and ``np.isin`` hash their input; on a million int64 keys
with many distinct values that hash table is slower than a sort by two orders of magnitude.
These give the same results by one sort and a binary search.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]


def unique(values: IntArray) -> IntArray:
    """``np.unique(values)``: the distinct values, ascending."""
    ordered: IntArray = np.sort(values)
    if len(ordered) < 2:
        return ordered
    distinct: IntArray = ordered[np.r_[True, ordered[1:] != ordered[:-1]]]
    return distinct


def isin(values: IntArray, among: IntArray) -> BoolArray:
    """``np.isin(values, among)``: whether each of ``values`` is one of ``among``."""
    if len(values) == 0 or len(among) == 0:
        return np.zeros(len(values), dtype=bool)
    ordered = np.sort(among)
    at = np.minimum(np.searchsorted(ordered, values), len(ordered) - 1)
    found: BoolArray = ordered[at] == values
    return found
