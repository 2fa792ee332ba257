"""The vectorised amount parser applies exactly recon.money.parse_amount's rules."""

from __future__ import annotations

import csv
import tempfile
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from recon.config import AccountMapping, ColumnMapping, CsvOptions, LedgerConfig
from recon.ledger import load_ledger
from recon.ledger.amounts import MAX_ABS_MINOR, fast_pattern, parse_amounts
from recon.money import CURRENCY_EXPONENTS, MoneyError, format_minor, parse_amount

TRICKY = [
    "12.50", "-12.50", "+12.50", "0", "-0.00", "007.10", "1.", ".5", "-.5", "12.345", "12.340",
    "1.2300", "NaN", "nan", "Infinity", "-inf", "1e3", "1E3", "١٢٣.٤٥", "1_000.00", "(12.34)",
    "1,234.56", "1.234,56", "1 234,56", "1'234.56", "", "   ", " 12.50 ", "\t12.50\n",
    "\u00a012.50", "12.50\u2003", "+", "-", ".", "..5", "1..5", "1.2.3", "--1", "+-1", "12,5",
    "1,23", "1,2345", ",123", "1,234,567.891", "12,345,678", "123456789012345678901234",
    "99999999999999.99", "0.001", "100.0", "1.000", "٣", "１２", "12.5x", "x12.5", "0x10",
    "1,234.", "1.234.", "1 234", "12 34", "-1,234,567", "1,,234", "1.234.567,89",
]
SEPARATORS = [(".", None), (".", ","), (",", "."), (",", " "), (".", "'"), (",", None)]
CURRENCIES = ["USD", "JPY", "KWD", "CLF"]


def _reference(text: str, currency: str, decimal: str, thousands: str | None) -> int | None:
    try:
        value = parse_amount(text, currency, decimal_separator=decimal,
                             thousands_separator=thousands)
    except MoneyError:
        return None
    return value if abs(value) <= MAX_ABS_MINOR else None


@pytest.mark.parametrize(("decimal", "thousands"), SEPARATORS)
@pytest.mark.parametrize("currency", CURRENCIES)
def test_vectorised_parser_agrees_with_parse_amount(
    decimal: str, thousands: str | None, currency: str
) -> None:
    texts = pd.Series(TRICKY, dtype=object)
    exponents = np.full(len(TRICKY), CURRENCY_EXPONENTS[currency], dtype=np.int64)
    parsed = parse_amounts(texts, exponents, pd.Series([currency] * len(TRICKY), dtype=object),
                           decimal_separator=decimal, thousands_separator=thousands)
    for position, text in enumerate(TRICKY):
        expected = _reference(text, currency, decimal, thousands)
        if expected is None:
            assert not parsed.valid[position], text
            assert position in parsed.reasons, text
        else:
            assert parsed.valid[position], text
            assert parsed.minor[position] == expected, text


@pytest.mark.parametrize(("decimal", "thousands"), SEPARATORS)
def test_fast_path_accepts_only_what_parse_amount_accepts(
    decimal: str, thousands: str | None
) -> None:
    """The regex fast path must never accept text that parse_amount refuses."""
    pattern = fast_pattern(decimal, thousands)
    accepted = pd.Series(TRICKY, dtype=object).str.fullmatch(pattern).fillna(False)
    assert accepted.sum() >= 5  # the fast path is really exercised
    for text, fast in zip(TRICKY, accepted, strict=True):
        if fast:
            parse_amount(text, "CLF", decimal_separator=decimal, thousands_separator=thousands)


def test_reasons_are_parse_amounts_messages() -> None:
    texts = pd.Series(["1e3", "12.345", "١٢٣"], dtype=object)
    parsed = parse_amounts(texts, np.array([2, 2, 2]), pd.Series(["USD"] * 3, dtype=object))
    assert parsed.reasons == {
        0: "amount '1e3' is not a plain decimal number",
        1: "amount 12.345 has more decimals than USD allows (2)",
        2: "amount '١٢٣' contains non-ASCII characters",
    }


def test_amounts_beyond_the_range_are_refused() -> None:
    texts = pd.Series(["1" + "0" * 16, "1" + "0" * 15], dtype=object)
    parsed = parse_amounts(texts, np.array([2, 2]), pd.Series(["USD", "USD"], dtype=object))
    assert list(parsed.valid) == [False, True]
    assert "out of range" in parsed.reasons[0]


def _grouped(text: str, decimal: str, thousands: str | None) -> str:
    sign = "-" if text.startswith("-") else ""
    integer, _, fraction = text.lstrip("-").partition(".")
    if thousands:
        head = len(integer) % 3 or 3
        groups = [integer[:head]] + [integer[i:i + 3] for i in range(head, len(integer), 3)]
        integer = thousands.join(groups)
    return sign + integer + (decimal + fraction if fraction else "")


@settings(max_examples=40, deadline=None)
@given(
    rows=st.lists(
        st.tuples(st.integers(min_value=-(10**13), max_value=10**13),
                  st.sampled_from(["JPY", "USD", "EUR", "KWD", "BHD"])),
        min_size=1, max_size=30,
    ),
    separators=st.sampled_from([(".", None), (".", ","), (",", "."), (",", " ")]),
)
def test_format_then_load_round_trips_minor_units(
    rows: list[tuple[int, str]], separators: tuple[str, str | None]
) -> None:
    decimal, thousands = separators
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "ledger.csv"
        with path.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle, delimiter=";")
            writer.writerow(["entry_id", "date", "amount", "currency", "account"])
            for index, (minor, currency) in enumerate(rows):
                text = _grouped(format_minor(minor, currency), decimal, thousands)
                writer.writerow([f"E{index}", "2025-03-01", text, currency, "cash"])
        config = LedgerConfig(
            path=path,
            columns=ColumnMapping(currency="currency", description=None),
            csv=CsvOptions(delimiter=";", decimal_separator=decimal,  # type: ignore[arg-type]
                           thousands_separator=thousands),  # type: ignore[arg-type]
        )
        load = load_ledger(config, [AccountMapping(plaid_account_id="p", ledger_account="cash")],
                           window_start=date(2025, 3, 1), window_end=date(2025, 3, 1))
    assert load.frame["amount_minor"].tolist() == [minor for minor, _ in rows]
    assert load.frame["currency"].tolist() == [currency for _, currency in rows]


# Spellings at the edges of the numpy pass (plain digits, one separator, up to 14 digits).
PLAIN_EDGES = [
    "12\x00", "\x0012", "1.5\x00", "1\x005", "99999999999999", "999999999999999",
    "-99999999999999", "-9999999999999.9", "99999999999999.0", "+.5", "5.", "-5.", "+0",
    "00000000000000001", "0000000000000.1", "1234567890123.45", "１", "1٣", "\udc80",
    "1.5.", ".", "+.", "-.", "5-", "5+", "1 5", "12345678901234567",
]


@pytest.mark.parametrize(("decimal", "thousands"), SEPARATORS)
@pytest.mark.parametrize("currency", ["USD", "JPY", "KWD"])
def test_numpy_pass_agrees_with_parse_amount_at_its_edges(
    decimal: str, thousands: str | None, currency: str
) -> None:
    texts = pd.Series(PLAIN_EDGES, dtype=object)
    exponents = np.full(len(PLAIN_EDGES), CURRENCY_EXPONENTS[currency], dtype=np.int64)
    parsed = parse_amounts(texts, exponents,
                           pd.Series([currency] * len(PLAIN_EDGES), dtype=object),
                           decimal_separator=decimal, thousands_separator=thousands)
    for position, text in enumerate(PLAIN_EDGES):
        expected = _reference(text, currency, decimal, thousands)
        assert bool(parsed.valid[position]) == (expected is not None), repr(text)
        if expected is not None:
            assert parsed.minor[position] == expected, repr(text)
