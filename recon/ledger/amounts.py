"""Amount text to integer minor units for a whole column at once, by recon.money's rules.

:func:`recon.money.parse_amount` is the definition; this module is its vectorised form for
million-row ledgers. A strict regular expression recognises the common, clean spellings
(``-1234.50``, ``1,234.50`` with a configured thousands separator) and converts them with numpy.
Every text that the fast path does not accept outright (non-ASCII, odd separators, too many
decimals, very long numbers) is handed to ``parse_amount`` itself, so the verdict and the
message are parse_amount's. The fast path only accepts text that parse_amount accepts with the
same value; tests compare the two on a tricky sample list.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from operator import methodcaller

import numpy as np
import numpy.typing as npt
import pandas as pd

from recon.money import CURRENCY_EXPONENTS, MoneyError, parse_amount

# Python's str.strip() removes these ASCII characters (str.isspace); the fast path strips the
# same ones. Text with non-ASCII white space goes to the slow path, where str.strip() handles it.
_ASCII_WHITESPACE = " \t\n\r\x0b\x0c\x1c\x1d\x1e\x1f"

# 14 digits times 10**4 (the largest exponent) stays far inside int64.
_FAST_MAX_DIGITS = 14

# The largest amount recon stores, in minor units: sums of many such amounts still fit int64.
MAX_ABS_MINOR = 10**17

_LONG_TEXT = 64


@dataclass(frozen=True)
class ParsedAmounts:
    """Per row: the minor units (0 where invalid), whether the text is valid, and why not."""

    minor: npt.NDArray[np.int64]
    valid: npt.NDArray[np.bool_]
    reasons: dict[int, str]  # position -> reason, for the invalid rows


def fast_pattern(decimal_separator: str, thousands_separator: str | None) -> str:
    """The clean spellings: sign, digits (optionally grouped by threes), fraction."""
    dec = re.escape(decimal_separator)
    integer = "[0-9]+"
    if thousands_separator:
        sep = re.escape(thousands_separator)
        integer = f"(?:[0-9]{{1,3}}(?:{sep}[0-9]{{3}})+|[0-9]+)"
    return f"[+-]?(?:{integer}(?:{dec}[0-9]*)?|{dec}[0-9]+)"


def parse_amounts(
    texts: pd.Series,
    exponents: npt.NDArray[np.int64],
    currencies: pd.Series,
    *,
    decimal_separator: str = ".",
    thousands_separator: str | None = None,
) -> ParsedAmounts:
    """Parse a column of amount text; ``exponents`` and ``currencies`` are per row.

    ``texts`` must hold str values. ``currencies`` holds the (known, upper-case) currency code of
    each row and ``exponents`` its ISO 4217 exponent; rows whose currency is unknown must be
    left out by the caller (their decimals cannot be judged).
    """
    count = len(texts)
    minor = np.zeros(count, dtype=np.int64)
    valid = np.zeros(count, dtype=np.bool_)
    reasons: dict[int, str] = {}
    if count == 0:
        return ParsedAmounts(minor, valid, reasons)
    # Element-wise str methods and one compiled regex over plain object arrays: the same work
    # pandas' .str accessor does for Python strings, without its per-call missing-value scans.
    values = texts.to_numpy(dtype=object)
    stripped = list(map(methodcaller("strip", _ASCII_WHITESPACE), values))
    pattern = re.compile(fast_pattern(decimal_separator, thousands_separator))
    fast = np.fromiter(map(bool, map(pattern.fullmatch, stripped)), dtype=np.bool_, count=count)
    plain = list(map(methodcaller("replace", thousands_separator, ""), stripped)) \
        if thousands_separator else stripped
    separator_at = np.fromiter(map(methodcaller("find", decimal_separator), plain),
                               dtype=np.int64, count=count)
    lengths = np.fromiter(map(len, plain), dtype=np.int64, count=count)
    signed = np.fromiter(map(methodcaller("startswith", ("+", "-")), plain), dtype=np.bool_,
                         count=count)
    fraction_digits = np.where(separator_at >= 0, lengths - separator_at - 1, 0)
    digit_count = lengths - (separator_at >= 0) - signed
    fast &= digit_count <= _FAST_MAX_DIGITS

    fast_positions = np.flatnonzero(fast)
    if fast_positions.size:
        digits = np.array([plain[i].replace(decimal_separator, "") for i in fast_positions],
                          dtype=object)
        unscaled = pd.to_numeric(digits).astype(np.int64)
        shift = exponents[fast_positions] - fraction_digits[fast_positions]
        up = np.power(10, np.clip(shift, 0, None), dtype=np.int64)
        down = np.power(10, np.clip(-shift, 0, None), dtype=np.int64)
        # Extra fraction digits are fine only when they are zeros (1.230 USD is 123 cents).
        exact = unscaled % down == 0
        scaled = unscaled // down * up
        in_range = np.abs(scaled) <= MAX_ABS_MINOR
        accepted = exact & in_range
        minor[fast_positions[accepted]] = scaled[accepted]
        valid[fast_positions[accepted]] = True

    currency_list = currencies.to_numpy(dtype=object)
    for position in np.flatnonzero(~valid):
        value, reason = _parse_one(
            str(values[position]),
            str(currency_list[position]),
            decimal_separator,
            thousands_separator,
        )
        if reason is None:
            minor[position] = value
            valid[position] = True
        else:
            reasons[int(position)] = reason
    return ParsedAmounts(minor, valid, reasons)


def _parse_one(
    text: str, currency: str, decimal_separator: str, thousands_separator: str | None
) -> tuple[int, str | None]:
    """parse_amount for one text, with the range rule, as (minor, None) or (0, reason)."""
    try:
        value = parse_amount(
            text,
            currency,
            decimal_separator=decimal_separator,
            thousands_separator=thousands_separator,
        )
    except MoneyError as exc:
        if len(text) > _LONG_TEXT:
            return 0, f"amount is not a plain decimal number ({len(text)} characters)"
        return 0, str(exc)
    if abs(value) > MAX_ABS_MINOR:
        shown = text.strip() if len(text) <= _LONG_TEXT else f"({len(text)} characters)"
        return 0, f"amount {shown} is out of range (more than {MAX_ABS_MINOR} minor units)"
    return value, None


def known_exponents(currencies: pd.Series) -> npt.NDArray[np.int64]:
    """ISO 4217 exponent per row; -1 where the currency is unknown."""
    codes, uniques = pd.factorize(currencies, use_na_sentinel=True)
    table = np.array([CURRENCY_EXPONENTS.get(str(code), -1) for code in uniques] + [-1],
                     dtype=np.int64)
    # factorize marks missing values with -1, which indexes the trailing -1 above.
    return table[codes]
