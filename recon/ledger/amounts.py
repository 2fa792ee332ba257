"""Amount text to integer minor units for a whole column at once, by recon.money's rules.

:func:`recon.money.parse_amount` is the definition; this module is its vectorised form for
million-row ledgers. The plainest spelling (``-1234.50``) is recognised and converted for the
whole column with numpy, on the text as a matrix of code points; a strict regular expression
then recognises the other clean spellings (``1,234.50`` with a configured thousands separator).
Every text that the fast path does not accept outright (non-ASCII, odd separators, too many
decimals, very long numbers) is handed to ``parse_amount`` itself, so the verdict and the
message are parse_amount's. The fast path only accepts text that parse_amount accepts with the
same value; tests compare the two on tricky sample lists.
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
_NOT_ASCII_WHITESPACE = bytes(b for b in range(256) if chr(b) not in _ASCII_WHITESPACE)

# 14 digits times 10**4 (the largest exponent) stays far inside int64.
_FAST_MAX_DIGITS = 14

# The largest amount recon stores, in minor units: sums of many such amounts still fit int64.
MAX_ABS_MINOR = 10**17

_LONG_TEXT = 64

# The numpy pass looks at texts up to this long (a sign, 14 digits, a separator) in blocks.
_PLAIN_WIDTH = 16
_PLAIN_BLOCK_ROWS = 65_536


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
    values = texts.to_numpy(dtype=object)
    stripped = values
    if _has_ascii_whitespace(values):
        stripped = np.asarray(list(map(methodcaller("strip", _ASCII_WHITESPACE), values)),
                              dtype=object)
    unscaled = np.zeros(count, dtype=np.int64)
    fraction_digits = np.zeros(count, dtype=np.int64)
    # The plainest spelling ("-1234.50", no grouping) for the whole column with numpy; the
    # grouped ones with the regular expression; what neither accepts goes to parse_amount.
    fast = _plain_decimals(stripped, decimal_separator, unscaled, fraction_digits)
    rest = np.flatnonzero(~fast)
    if rest.size:
        accepted = _pattern_decimals(stripped[rest], decimal_separator, thousands_separator)
        for index, (value, fraction) in accepted.items():
            unscaled[rest[index]] = value
            fraction_digits[rest[index]] = fraction
            fast[rest[index]] = True

    fast_positions = np.flatnonzero(fast)
    if fast_positions.size:
        shift = exponents[fast_positions] - fraction_digits[fast_positions]
        up = np.power(10, np.clip(shift, 0, None), dtype=np.int64)
        down = np.power(10, np.clip(-shift, 0, None), dtype=np.int64)
        # Extra fraction digits are fine only when they are zeros (1.230 USD is 123 cents).
        number = unscaled[fast_positions]
        exact = number % down == 0
        scaled = number // down * up
        in_range = np.abs(scaled) <= MAX_ABS_MINOR
        accepted_rows = exact & in_range
        minor[fast_positions[accepted_rows]] = scaled[accepted_rows]
        valid[fast_positions[accepted_rows]] = True

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


def _has_ascii_whitespace(values: npt.NDArray[np.object_]) -> bool:
    """Whether any text holds a character of _ASCII_WHITESPACE (one pass over the column)."""
    joined = "".join(values).encode("utf-8", errors="surrogatepass")
    return bool(joined.translate(None, _NOT_ASCII_WHITESPACE))


def _plain_decimals(
    stripped: npt.NDArray[np.object_],
    decimal_separator: str,
    unscaled: npt.NDArray[np.int64],
    fraction_digits: npt.NDArray[np.int64],
) -> npt.NDArray[np.bool_]:
    """Rows spelled ``[+-]?[0-9]*(D[0-9]*)?`` with 1 to 14 digits: a subset of the fast pattern.

    Works on the text as a matrix of code points, in blocks of rows; fills ``unscaled`` (the
    digits as one integer, signed) and ``fraction_digits`` for the accepted rows.
    """
    accepted = np.zeros(stripped.size, dtype=np.bool_)
    lengths = np.fromiter(map(len, stripped), dtype=np.int64, count=stripped.size)
    short = np.flatnonzero((lengths > 0) & (lengths <= _PLAIN_WIDTH))
    if short.size == 0:
        return accepted
    width = int(lengths[short].max())
    separator = ord(decimal_separator)
    for start in range(0, short.size, _PLAIN_BLOCK_ROWS):
        rows = short[start:start + _PLAIN_BLOCK_ROWS]
        block = stripped[rows].astype(f"U{width}")
        row_lengths = lengths[rows]
        # numpy drops trailing NULs: a text that ends in one is not what the matrix shows.
        ok = np.strings.str_len(block) == row_lengths
        codes = block.view(np.uint32).reshape(rows.size, width)
        first = codes[:, 0]
        negative = first == ord("-")
        signed = negative | (first == ord("+"))
        magnitude = np.zeros(rows.size, dtype=np.int64)
        digit_count = np.zeros(rows.size, dtype=np.int64)
        fraction = np.zeros(rows.size, dtype=np.int64)
        separators = np.zeros(rows.size, dtype=np.int64)
        for column in range(width):
            code = codes[:, column]
            digit = code - ord("0")  # uint32: anything below "0" wraps to a large number
            is_digit = digit < 10
            is_separator = code == separator
            beyond = column >= row_lengths
            ok &= is_digit | is_separator | beyond | (signed if column == 0 else False)
            magnitude = np.where(is_digit, magnitude * 10 + digit.astype(np.int64), magnitude)
            digit_count += is_digit
            fraction += is_digit & (separators > 0)
            separators += is_separator
        ok &= (separators <= 1) & (digit_count >= 1) & (digit_count <= _FAST_MAX_DIGITS)
        chosen = rows[ok]
        unscaled[chosen] = np.where(negative[ok], -magnitude[ok], magnitude[ok])
        fraction_digits[chosen] = fraction[ok]
        accepted[chosen] = True
    return accepted


def _pattern_decimals(
    stripped: npt.NDArray[np.object_], decimal_separator: str, thousands_separator: str | None
) -> dict[int, tuple[int, int]]:
    """{index: (digits as an integer, fraction digits)} for texts the fast pattern accepts."""
    pattern = re.compile(fast_pattern(decimal_separator, thousands_separator))
    accepted: dict[int, tuple[int, int]] = {}
    for index, text in enumerate(stripped):
        if not pattern.fullmatch(text):
            continue
        plain = text.replace(thousands_separator, "") if thousands_separator else text
        whole, _, fraction = plain.partition(decimal_separator)
        if len(whole.lstrip("+-")) + len(fraction) > _FAST_MAX_DIGITS:
            continue
        # int() of "[+-]?[0-9]+" (what the pattern leaves): exact, unlike floats.
        accepted[index] = (int(whole + fraction), len(fraction))
    return accepted


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
