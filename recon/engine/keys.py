"""Composite integer keys: several code columns as one int64 per row, so that a join or a
sort compares one integer instead of several columns (or strings)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from recon.engine.normalise import IntArray, ObjArray


def combine(high: IntArray, low: IntArray, width: int) -> IntArray:
    """``high * width + low``: equal exactly when both parts are, for ``0 <= low < width``."""
    combined: IntArray = high * width + low
    return combined


def width(*columns: IntArray) -> int:
    """A width for :func:`combine` that fits every value of ``columns`` (non-negative codes)."""
    return max(int(column.max(initial=0)) for column in columns) + 1


def joint_codes(left: IntArray | ObjArray, right: IntArray | ObjArray) -> tuple[IntArray, IntArray]:
    """Codes 0..k-1 for the values of both arrays, in one code space (equal values, equal codes)."""
    codes, _ = pd.factorize(np.concatenate([left, right]))
    codes = codes.astype(np.int64)
    return codes[: len(left)], codes[len(left) :]
