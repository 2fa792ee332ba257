from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from recon.money import (
    CURRENCY_EXPONENTS,
    MoneyError,
    format_minor,
    from_minor,
    parse_amount,
    plaid_amount_to_minor,
    to_minor,
)


@pytest.mark.parametrize(
    ("text", "currency", "minor"),
    [("12.34", "USD", 1234), ("-0.01", "USD", -1), ("100", "JPY", 100), ("1.234", "KWD", 1234),
     ("1.000", "IQD", 1000), ("+5", "usd", 500), ("0.10", "EUR", 10), ("-0.00", "USD", 0)],
)
def test_parse_amount_accepts_plain_decimals(text: str, currency: str, minor: int) -> None:
    assert parse_amount(text, currency) == minor


@pytest.mark.parametrize(
    "text",
    ["NaN", "Infinity", "-inf", "1e3", "١٢٣.٤٥", "1_000.00", "12.345", "", "  ", "(12.34)",
     "1,234.56", "12.3.4", "0x10", "１２"],
)
def test_parse_amount_rejects_anything_else(text: str) -> None:
    with pytest.raises(MoneyError):
        parse_amount(text, "USD")


def test_thousands_and_decimal_comma() -> None:
    assert parse_amount("1.234.567,89", "EUR", decimal_separator=",", thousands_separator=".") == (
        123456789
    )
    assert parse_amount("1,234.56", "USD", thousands_separator=",") == 123456
    with pytest.raises(MoneyError, match="misplaced"):
        parse_amount("12,34.56", "USD", thousands_separator=",")


def test_zero_decimal_currency_refuses_fractions() -> None:
    with pytest.raises(MoneyError, match="JPY"):
        parse_amount("100.5", "JPY")


def test_unknown_currency_is_refused() -> None:
    with pytest.raises(MoneyError, match="unknown currency"):
        parse_amount("1.00", "XYZ")


def test_plaid_sign_flip_is_exact() -> None:
    assert plaid_amount_to_minor(Decimal("12345678901234567.89"), "USD") == -1234567890123456789
    assert plaid_amount_to_minor(Decimal("-0.1"), "USD") == 10
    with pytest.raises(MoneyError, match="float"):
        plaid_amount_to_minor(0.1, "USD")  # type: ignore[arg-type]


@given(minor=st.integers(min_value=-(10**15), max_value=10**15),
       currency=st.sampled_from(sorted(CURRENCY_EXPONENTS)))
def test_format_parse_round_trip_for_every_exponent(minor: int, currency: str) -> None:
    assert parse_amount(format_minor(minor, currency), currency) == minor
    assert to_minor(from_minor(minor, currency), currency) == minor
