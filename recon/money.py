"""Money: Decimal at the edges, integer minor units inside, never float.

Every amount that enters recon goes through :func:`parse_amount` (text from a ledger file),
:func:`to_minor` (a Decimal) or :func:`plaid_amount_to_minor` (a Plaid transaction amount), and
leaves through :func:`from_minor` / :func:`format_minor`. The Plaid sign flip happens here and
nowhere else: Plaid says positive = money out of the account, recon says positive = money in.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

# ISO 4217 minor-unit exponents. Currencies not listed here are rejected rather than guessed.
CURRENCY_EXPONENTS: dict[str, int] = {
    # zero-decimal
    "BIF": 0, "CLP": 0, "DJF": 0, "GNF": 0, "ISK": 0, "JPY": 0, "KMF": 0, "KRW": 0, "PYG": 0,
    "RWF": 0, "UGX": 0, "UYI": 0, "VND": 0, "VUV": 0, "XAF": 0, "XOF": 0, "XPF": 0,
    # three-decimal
    "BHD": 3, "IQD": 3, "JOD": 3, "KWD": 3, "LYD": 3, "OMR": 3, "TND": 3,
    # four-decimal
    "CLF": 4, "UYW": 4,
    # two-decimal (the common ones)
    "AED": 2, "ARS": 2, "AUD": 2, "BRL": 2, "CAD": 2, "CHF": 2, "CNY": 2, "COP": 2, "CZK": 2,
    "DKK": 2, "EGP": 2, "EUR": 2, "GBP": 2, "HKD": 2, "HUF": 2, "IDR": 2, "ILS": 2, "INR": 2,
    "MXN": 2, "MYR": 2, "NGN": 2, "NOK": 2, "NZD": 2, "PEN": 2, "PHP": 2, "PKR": 2, "PLN": 2,
    "RON": 2, "SAR": 2, "SEK": 2, "SGD": 2, "THB": 2, "TRY": 2, "TWD": 2, "UAH": 2, "USD": 2,
    "ZAR": 2,
}  # fmt: skip

# A plain decimal number: optional sign, ASCII digits, optional fraction. No exponent, no NaN,
# no Infinity, no underscores, no non-ASCII digits (str.isdigit() accepts those; we do not).
_PLAIN_DECIMAL = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)")


# The largest bank amount in minor units: what the int64 columns of frames and tables hold.
MAX_BANK_MINOR = 2**63 - 1


class MoneyError(ValueError):
    """An amount or currency that recon refuses to interpret. The message says why."""


def currency_exponent(currency: str) -> int:
    """The number of minor-unit digits of an ISO 4217 currency code (case-insensitive)."""
    code = currency.strip().upper()
    try:
        return CURRENCY_EXPONENTS[code]
    except KeyError:
        raise MoneyError(f"unknown currency {currency!r}") from None


def normalise_currency(currency: str) -> str:
    """Upper-case a currency code after checking that recon knows its exponent."""
    currency_exponent(currency)
    return currency.strip().upper()


def to_minor(amount: Decimal, currency: str) -> int:
    """Exact conversion of a Decimal to integer minor units; refuses to round."""
    if not amount.is_finite():
        raise MoneyError(f"amount {amount} is not a finite number")
    exponent = currency_exponent(currency)
    scaled = amount.scaleb(exponent)
    if scaled != scaled.to_integral_value():
        raise MoneyError(
            f"amount {amount} has more decimals than {currency.upper()} allows ({exponent})"
        )
    return int(scaled)


def from_minor(minor: int, currency: str) -> Decimal:
    """Integer minor units back to a Decimal with exactly the currency's decimals."""
    exponent = currency_exponent(currency)
    return Decimal(int(minor)).scaleb(-exponent)


def format_minor(minor: int, currency: str) -> str:
    """Plain text with the currency's decimals, e.g. ``-1234.50`` (no grouping, no symbol)."""
    return f"{from_minor(minor, currency):f}"


def parse_amount(
    text: str,
    currency: str,
    *,
    decimal_separator: str = ".",
    thousands_separator: str | None = None,
) -> int:
    """Parse ledger text into minor units, strictly.

    Accepts an optional sign, ASCII digits, the configured decimal separator and (if configured)
    the thousands separator between digit groups. Rejects NaN, Infinity, exponents, non-ASCII
    digits, empty text and more decimals than the currency allows.
    """
    raw = text.strip()
    if not raw:
        raise MoneyError("amount is empty")
    if not raw.isascii():
        raise MoneyError(f"amount {text!r} contains non-ASCII characters")
    normalised = raw
    if thousands_separator:
        if thousands_separator == decimal_separator:
            raise MoneyError("thousands and decimal separators must differ")
        normalised = _strip_thousands(normalised, thousands_separator, decimal_separator, text)
    if decimal_separator != ".":
        if "." in normalised:
            raise MoneyError(f"amount {text!r} uses '.' but the decimal separator is "
                             f"{decimal_separator!r}")
        normalised = normalised.replace(decimal_separator, ".")
    return to_minor(parse_plain_decimal(normalised, shown=text), currency)


def parse_plain_decimal(text: str, *, shown: str | None = None) -> Decimal:
    """``[+-]digits[.digits]`` in ASCII, nothing else (no exponent, NaN, Infinity, grouping)."""
    raw = text.strip()
    if not raw.isascii() or not _PLAIN_DECIMAL.fullmatch(raw):
        raise MoneyError(f"amount {shown if shown is not None else text!r} is not a plain "
                         "decimal number")
    try:
        return Decimal(raw)
    except InvalidOperation:  # pragma: no cover - the regex already guarantees a valid literal
        raise MoneyError(f"amount {text!r} is not a plain decimal number") from None


def _strip_thousands(value: str, sep: str, decimal_sep: str, original: str) -> str:
    if sep not in value:
        return value
    sign = value[0] if value[0] in "+-" else ""
    body = value[len(sign):]
    integer, _, fraction = body.partition(decimal_sep)
    groups = integer.split(sep)
    if not groups[0] or len(groups[0]) > 3 or any(len(g) != 3 for g in groups[1:]):
        raise MoneyError(f"amount {original!r} has misplaced thousands separators")
    joined = sign + "".join(groups)
    return f"{joined}{decimal_sep}{fraction}" if decimal_sep in body else joined


def plaid_amount_to_minor(amount: Decimal | int | str, currency: str) -> int:
    """Plaid's amount (positive = money out) to recon's house sign (positive = money in).

    Plaid amounts are JSON numbers; recon parses response bodies with ``parse_float=Decimal`` or
    passes the number's text, so no binary float is involved. Floats are refused outright.
    """
    if isinstance(amount, float):
        raise MoneyError("a float amount reached the money module; parse JSON with Decimal")
    value = Decimal(amount) if not isinstance(amount, Decimal) else amount
    # Checked before scaling: 1E+999999999 must not become a billion-digit integer first.
    if value.is_finite() and value and value.adjusted() + currency_exponent(currency) > 18:
        raise MoneyError(f"amount {value} is out of range (more than {MAX_BANK_MINOR} minor "
                         "units)")
    # Plaid sends doubles: 12.5 for 12.50. Quantising is exact only when no precision is lost.
    minor = -to_minor(value, currency)
    if abs(minor) > MAX_BANK_MINOR:
        raise MoneyError(f"amount {value} is out of range (more than {MAX_BANK_MINOR} minor units)")
    return minor


def minor_to_plaid_amount(minor: int, currency: str) -> Decimal:
    """recon's house sign back to a Plaid amount (used by the emulator and synthetic data)."""
    return -from_minor(minor, currency)
