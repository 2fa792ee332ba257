"""Set operations on integer arrays (codes, positions, composite keys), by sorting.

numpy's ``np.unique`` (values only) and ``np.isin`` hash their input; on a million int64 keys
with many distinct values that hash table is slower than a sort by two orders of magnitude.
These give the same results by one sort and a binary search, or, for values of a small range
(codes), by one flag per value of the range.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]


def unique(values: IntArray) -> IntArray:
    """``np.unique(values)``: the distinct values, ascending."""
    if len(values) < 2:
        return np.sort(values)
    low = int(values.min())
    span = int(values.max()) - low + 1
    if span <= 4 * len(values):
        present = np.zeros(span, dtype=bool)
        present[values - low] = True
        distinct_codes: IntArray = np.flatnonzero(present) + low
        return distinct_codes
    ordered: IntArray = np.sort(values)
    distinct: IntArray = ordered[np.r_[True, ordered[1:] != ordered[:-1]]]
    return distinct


def isin(values: IntArray, among: IntArray) -> BoolArray:
    """``np.isin(values, among)``: whether each of ``values`` is one of ``among``."""
    if len(values) == 0 or len(among) == 0:
        return np.zeros(len(values), dtype=bool)
    low = min(int(values.min()), int(among.min()))
    span = max(int(values.max()), int(among.max())) - low + 1
    if span <= 4 * (len(values) + len(among)):
        # Codes of a small range: one flag per value of the range, no sort.
        table = np.zeros(span, dtype=bool)
        table[among - low] = True
        flagged: BoolArray = table[values - low]
        return flagged
    ordered = np.sort(among)
    at = np.minimum(np.searchsorted(ordered, values), len(ordered) - 1)
    found: BoolArray = ordered[at] == values
    return found


def order(*columns: npt.NDArray[np.integer] | BoolArray) -> IntArray:
    """``np.lexsort(columns[::-1])``: the stable order that sorts rows by ``columns`` (integer
    or bool, most significant first), ties in row order.

    When the columns' value ranges and the row number fit in 63 bits together, they are packed
    into one int64, row number last, and sorted by value: numpy's vectorised sort of one int64
    array is several times faster than a stable argsort or a lexsort, and the row number makes
    every value distinct, so the order is the stable one.
    """
    size = len(columns[0])
    if size < 2:
        return np.arange(size, dtype=np.int64)
    row_bits = (size - 1).bit_length()
    lows = [int(c.min()) for c in columns]
    widths = [(int(c.max()) - low).bit_length() for c, low in zip(columns, lows, strict=True)]
    if row_bits + sum(widths) > 62:
        lexsorted: IntArray = np.lexsort(columns[::-1]).astype(np.int64)
        return lexsorted
    packed = np.zeros(size, dtype=np.int64)
    for column, low, width in zip(columns, lows, widths, strict=True):
        packed <<= width
        packed |= column.astype(np.int64) - low
    packed <<= row_bits
    packed |= np.arange(size, dtype=np.int64)
    packed.sort()
    packed &= (1 << row_bits) - 1
    return packed
