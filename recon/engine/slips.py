"""Keying slips: two amounts that are one typing error apart.

A slip is told from the two amounts' digits in integer minor units (so 1,234.50 is 123450):

- ``transposed digits``: two neighbouring digits swapped (1,234.50 vs 1,243.50);
- ``dropped digit``: one digit left out (1,234.50 vs 124.50, or vs 123.50, "1,23.50");
- ``decimal shift``: the same digits 10 or 100 times larger or smaller (1,234.50 vs 123.45
  or 12,345.00).

A shortened amount never starts with 0 (that is not how anyone types it), and the sign plays no
part (the caller compares amounts of the same sign). :func:`slip_variants` lists, for many
amounts at once, every amount one slip away, so a pass can find slip pairs by an equality join
instead of comparing every pair.
"""

from __future__ import annotations

from enum import IntEnum

import numpy as np

from recon.engine import sets
from recon.engine.normalise import BoolArray, IntArray

_MAX_DIGITS = 18  # int64 minor units hold 18 full digits
_POWERS = np.array([10**k for k in range(_MAX_DIGITS + 1)], dtype=np.int64)


class Slip(IntEnum):
    """What kind of keying slip turns one amount into the other (0: none)."""

    NONE = 0
    TRANSPOSED = 1
    DROPPED = 2
    SHIFTED = 3

    @property
    def words(self) -> str:
        return _WORDS[self]


_WORDS = {
    Slip.NONE: "",
    Slip.TRANSPOSED: "transposed digits",
    Slip.DROPPED: "a dropped digit",
    Slip.SHIFTED: "a decimal shift",
}


def _digit_count(magnitude: IntArray) -> IntArray:
    """Digits of each magnitude (0 counts as one digit)."""
    count: IntArray = np.searchsorted(_POWERS, magnitude, side="right").astype(np.int64)
    return np.maximum(count, 1)


def slip_variants(
    amount: IntArray, wanted: IntArray | None = None
) -> tuple[IntArray, IntArray, IntArray]:
    """Every amount one slip away from each of ``amount`` that the slip makes *from* it.

    Returns (index into ``amount``, variant with the amount's sign, Slip) for: each swap of two
    different neighbouring digits, each dropped digit, and the amount times 10 and 100. The
    other directions (a digit added, the amount divided by 10) are the same relation seen from
    the other amount: a caller that wants both directions also takes the variants of the other
    side. Amounts of 17 or more digits have none (times 100 could overflow). With ``wanted``
    (signed amounts), only variants among them are returned: a million amounts have some
    fifteen million variants, of which few are amounts the other side has.
    """
    magnitude = np.abs(amount).astype(np.int64)
    sign = np.sign(amount).astype(np.int64)
    digits = _digit_count(magnitude)
    usable = (magnitude > 0) & (digits < _MAX_DIGITS - 1)
    index_parts, value_parts, kind_parts = [], [], []

    wanted_sorted = None if wanted is None else sets.unique(wanted)

    def add(mask: IntArray | np.ndarray, values: IntArray, kind: Slip) -> None:
        at = np.flatnonzero(mask & usable)
        signed = values[at] * sign[at]
        if wanted_sorted is not None:
            if len(wanted_sorted) == 0:
                at, signed = at[:0], signed[:0]
            else:
                found = np.minimum(np.searchsorted(wanted_sorted, signed), len(wanted_sorted) - 1)
                keep = wanted_sorted[found] == signed
                at, signed = at[keep], signed[keep]
        index_parts.append(at)
        value_parts.append(signed)
        kind_parts.append(np.full(len(at), int(kind), dtype=np.int64))

    for k in range(_MAX_DIGITS - 1):  # digit k counts from the right, k = 0 the last
        low_digit = (magnitude // _POWERS[k]) % 10
        high_digit = (magnitude // _POWERS[k + 1]) % 10
        # Swap digits k and k+1 (both present, different, no leading 0 afterwards).
        swap_ok = (k + 1 < digits) & (low_digit != high_digit)
        swap_ok &= ~((k + 2 == digits) & (low_digit == 0))
        swapped = magnitude + (high_digit - low_digit) * (_POWERS[k] - _POWERS[k + 1])
        add(swap_ok, swapped, Slip.TRANSPOSED)
        # Drop digit k: the digits above it move down one place.
        dropped = (magnitude // _POWERS[k + 1]) * _POWERS[k] + magnitude % _POWERS[k]
        drop_ok = (k < digits) & (digits >= 2)
        # Dropping the leading digit must not leave a leading 0 (nor drop to nothing).
        drop_ok &= ~((k + 1 == digits) & (_digit_below(magnitude, k) == 0))
        # Dropping one digit of a run of equal digits gives one variant, not several.
        drop_ok &= ~((k + 1 < digits) & (low_digit == high_digit))
        add(drop_ok & (dropped * 10 != magnitude), dropped, Slip.DROPPED)
        add(drop_ok & (dropped * 10 == magnitude), dropped, Slip.SHIFTED)  # a trailing 0
    add(np.ones(len(amount), dtype=bool), magnitude * 10, Slip.SHIFTED)
    add(np.ones(len(amount), dtype=bool), magnitude * 100, Slip.SHIFTED)
    if not index_parts:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, empty
    return np.concatenate(index_parts), np.concatenate(value_parts), np.concatenate(kind_parts)


def _digit_below(magnitude: IntArray, k: int) -> IntArray:
    """Digit k-1 of each magnitude: the one that leads after dropping digit k (k >= 1; for
    k = 0 the amount has one digit and keeps none, which ``digits >= 2`` already excludes)."""
    if k == 0:
        return np.ones(len(magnitude), dtype=np.int64)
    below: IntArray = (magnitude // _POWERS[k - 1]) % 10
    return below


def slip_between(first: int, second: int) -> Slip:
    """The keying slip that turns one amount into the other, or Slip.NONE.

    The plain-Python statement of the rule :func:`slip_variants` vectorises (tests compare the
    two).
    """
    a, b = str(abs(first)), str(abs(second))
    if a == b or first == 0 or second == 0:
        return Slip.NONE
    if len(a) == len(b):
        spots = [i for i in range(len(a)) if a[i] != b[i]]
        if len(spots) == 2 and spots[1] == spots[0] + 1 and a[spots[0]] == b[spots[1]] and (
            a[spots[1]] == b[spots[0]]
        ):
            return Slip.TRANSPOSED
        return Slip.NONE
    longer, shorter = (a, b) if len(a) > len(b) else (b, a)
    if longer in (shorter + "0", shorter + "00"):
        return Slip.SHIFTED
    if len(longer) == len(shorter) + 1 and any(
        longer[:i] + longer[i + 1 :] == shorter for i in range(len(longer))
    ):
        return Slip.DROPPED
    return Slip.NONE


def looks_like_keying_error(bank_amount: int, ledger_amount: int) -> bool:
    """Same digits in another order (transposed digits, near or far): a typo, not a fee or a
    rounding difference."""
    return bank_amount != ledger_amount and sorted(str(abs(bank_amount))) == sorted(
        str(abs(ledger_amount))
    )


def keying_errors(bank_amount: IntArray, ledger_amount: IntArray, among: BoolArray) -> BoolArray:
    """Which pairs (only those ``among`` selects are tested: the test is Python) are
    :func:`looks_like_keying_error`; the tolerance and difference passes leave those to the
    mismatch pass."""
    errors = np.zeros(len(bank_amount), dtype=bool)
    tested = np.flatnonzero(among & (bank_amount != ledger_amount))
    errors[tested] = [
        looks_like_keying_error(int(x), int(y))
        for x, y in zip(bank_amount[tested], ledger_amount[tested], strict=True)
    ]
    return errors
