"""Raw ledger rows to the ledger frame, collecting every problem in one pass.

Column-wise (pandas string ops, numpy) so a million rows take seconds: dates, currencies and
accounts repeat, so each distinct value is checked once; amounts go through
:mod:`recon.ledger.amounts`. Problems are gathered per check as masks and turned into
:class:`RowProblem` objects only for the flagged rows.

Problems that make the whole source unreadable (a missing column, a card-security column) are
*fatal*: no row can be trusted, so they are raised whatever ``on_invalid`` says.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
from pandas.api.types import infer_dtype

from recon.config import AccountMapping, LedgerConfig
from recon.errors import ConfigError, RowProblem
from recon.frames import LEDGER_COLUMNS
from recon.ledger.amounts import ParsedAmounts, known_exponents, parse_amounts
from recon.ledger.table import MAX_FIELD_CHARS, RawTable, cell_text
from recon.limits import YEARS
from recon.logs import mask_card_numbers

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
# recon.logs' card-number pattern needs 13 digits with single separators, so at least 13
# consecutive bytes from "0-9 -" in the UTF-8 text (other characters never encode to those).
_CARD_RUN_BYTES = bytes(1 if chr(b) in "0123456789 -" else 0 for b in range(256))
_CARD_RUN = b"\x01" * 13
# Column names that say "card security data" (PCI DSS forbids storing it): refused outright.
_CARD_DATA_TOKENS = frozenset({"cvv", "cvv2", "cvc", "cvc2", "cav2", "cvn", "csc", "cid2"})
_CARD_DATA_JOINED = re.compile(r"track[12]|trackdata|^track$|magstripe|securitycode|"
                               r"cardverification|pinblock")
# Widths of the state store's columns (recon.store.schema.ledger_entries).
_MAX_CHARS = {"entry_id": 200, "reference": 200, "counterparty": 200, "account": 100}

_SHOWN_CHARS = 60


@dataclass(frozen=True)
class Validated:
    frame: pd.DataFrame  # LEDGER_COLUMNS: the good rows inside the window
    problems: tuple[RowProblem, ...]  # every bad row, sorted by row
    fatal: bool  # the source as a whole cannot be used


def validate(
    raw: RawTable,
    config: LedgerConfig,
    accounts: Sequence[AccountMapping],
    *,
    window_start: date,
    window_end: date,
) -> Validated:
    mapping = config.columns
    wanted = mapped_columns(config)
    if mapping.account is None and config.default_account is None:
        raise ConfigError(["ledger.default_account: needed when ledger.columns.account is not "
                           "mapped"])
    header_problems = _header_problems(raw, wanted)
    if header_problems:
        return Validated(_empty_frame(), tuple(header_problems), fatal=True)

    checker = _Checker(raw)
    texts = {name: checker.text_column(name) if raw.trimmed else
             _strip(checker.text_column(name)) for name in wanted}

    entry_ids = texts[mapping.entry_id]
    checker.flag(entry_ids == "", mapping.entry_id, "entry id is empty")
    _check_duplicates(checker, entry_ids, mapping.entry_id)

    dates = _parse_dates(checker, raw.columns[mapping.date], mapping.date, raw.date_format)

    account_defaults = {a.ledger_account: a.currency for a in accounts}
    if mapping.account is None:
        account = pd.Series(np.full(len(entry_ids), config.default_account, dtype=object))
    else:
        account = texts[mapping.account]
        if config.default_account is not None:
            account = account.mask(account == "", config.default_account)
        else:
            checker.flag(account == "", mapping.account, "account is empty")
    known_account = account.isin(list(account_defaults)).to_numpy(dtype=np.bool_)
    account_column = mapping.account or "account"
    checker.flag_each(~known_account & (account != "").to_numpy(dtype=np.bool_), account_column,
                      account, lambda value: f"account {_shown(value)} is not in the "
                      f"configured accounts")

    default_currency = account.map(account_defaults).fillna("").astype(object)
    if mapping.currency is None:
        currency = default_currency
    else:
        cells = pd.Series(list(map(str.upper, texts[mapping.currency].to_numpy(dtype=object))),
                          dtype=object)
        currency = cells.mask(cells == "", default_currency)
    exponents = known_exponents(currency)
    checker.flag_each((exponents < 0) & (currency != "").to_numpy(dtype=np.bool_),
                      mapping.currency or "currency", currency,
                      lambda value: f"unknown currency {_shown(value)}")
    priced = exponents >= 0

    amount = _amounts(checker, config, texts, currency, exponents, priced)

    for column_name, limit in _MAX_CHARS.items():
        source_column = getattr(mapping, column_name)
        known_short = raw.max_cell_chars is not None and raw.max_cell_chars <= limit
        if source_column is not None and not known_short:
            too_long = _lengths(texts[source_column]) > limit
            checker.flag(too_long, source_column, f"longer than {limit} characters")

    in_window = (dates >= np.datetime64(window_start, "ns")) & (
        dates <= np.datetime64(window_end, "ns"))
    keep = np.flatnonzero(~checker.bad_rows() & in_window)

    def optional(name: str | None) -> pd.Series:
        if name is None:
            return pd.Series([""] * len(keep), dtype=object)
        return texts[name].iloc[keep].reset_index(drop=True)

    frame = pd.DataFrame({
        "entry_id": _as_str(entry_ids.iloc[keep]),
        "account": _as_str(account.iloc[keep]),
        "currency": _as_str(currency.iloc[keep]),
        "amount_minor": pd.Series(amount[keep], dtype="int64"),
        "date": pd.Series(dates[keep], dtype="datetime64[ns]"),
        "description": _as_str(_mask_cards(optional(mapping.description))),
        "reference": _as_str(optional(mapping.reference)),
        "counterparty": _as_str(optional(mapping.counterparty)),
    }, columns=list(LEDGER_COLUMNS))
    return Validated(frame, checker.sorted_problems(wanted), fatal=False)


def mapped_columns(config: LedgerConfig) -> list[str]:
    """The source columns the mapping names, in mapping order, without repeats."""
    mapping = config.columns
    names = [mapping.entry_id, mapping.date, mapping.amount, mapping.debit, mapping.credit,
             mapping.currency, mapping.description, mapping.reference, mapping.counterparty,
             mapping.account]
    return list(dict.fromkeys(name for name in names if name is not None))


def card_data_columns(header: Sequence[str]) -> list[str]:
    refused = []
    for name in header:
        tokens = re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_").split("_")
        if _CARD_DATA_TOKENS.intersection(tokens) or _CARD_DATA_JOINED.search("".join(tokens)):
            refused.append(name)
    return refused


def _header_problems(raw: RawTable, wanted: list[str]) -> list[RowProblem]:
    problems = []
    refused = card_data_columns(raw.header)
    if refused:
        problems.append(RowProblem(
            raw.source, raw.header_row, None,
            f"column(s) {', '.join(map(repr, refused))} look like card security data (CVV/CVC, "
            "magnetic track): recon refuses to read such a file; export it without them"))
    missing = [name for name in wanted if name not in raw.header]
    if missing:
        problems.append(RowProblem(
            raw.source, raw.header_row, None,
            f"missing column(s) {', '.join(map(repr, missing))}; the header has "
            f"{', '.join(map(repr, raw.header[:30]))}"))
    repeated = [name for name in wanted if raw.header.count(name) > 1]
    if repeated:
        problems.append(RowProblem(
            raw.source, raw.header_row, None,
            f"column(s) {', '.join(map(repr, repeated))} appear more than once in the header"))
    return problems


class _Checker:
    """Collects problems as (mask, column, reason) and knows which rows are bad."""

    def __init__(self, raw: RawTable) -> None:
        self.raw = raw
        self.count = len(raw.row_numbers)
        self._bad = np.zeros(self.count, dtype=np.bool_)
        self._problems: list[RowProblem] = list(raw.problems)
        if raw.problems:
            flagged = [p.row for p in raw.problems if p.row is not None]
            self._bad |= np.isin(raw.row_numbers, np.asarray(flagged, dtype=np.int64))

    def text_column(self, name: str) -> pd.Series:
        """The column as str values; flags control characters and oversized fields."""
        column = self.raw.columns[name]
        if self.raw.control_free:  # the source proved it: str cells, no control character
            if self.raw.max_cell_chars is None or self.raw.max_cell_chars > MAX_FIELD_CHARS:
                self._flag_long(column, name)
            return column
        if infer_dtype(column, skipna=False) != "string":
            column = pd.Series(list(map(cell_text, column.to_numpy(dtype=object))),
                               dtype=object)
        values = column.to_numpy(dtype=object)
        # One regex scan over the whole column first: rows are looked at only on a hit.
        if _CONTROL.search("\n".join(values)):
            has_control = np.fromiter(map(bool, map(_CONTROL.search, values)),
                                      dtype=np.bool_, count=len(values))
            self.flag_each(has_control, name, column,
                           lambda value: f"contains a control character "
                           f"({_control_name(value)}); not a text field")
        self._flag_long(column, name)
        return column

    def _flag_long(self, column: pd.Series, name: str) -> None:
        if max(map(len, column.to_numpy(dtype=object)), default=0) > MAX_FIELD_CHARS:
            self.flag(_lengths(column) > MAX_FIELD_CHARS, name,
                      f"longer than {MAX_FIELD_CHARS} characters")

    def flag(self, mask: pd.Series | npt.NDArray[np.bool_], column: str, reason: str) -> None:
        positions = np.flatnonzero(np.asarray(mask, dtype=np.bool_))
        self._add(positions, column, (reason for _ in positions))

    def flag_each(
        self,
        mask: npt.NDArray[np.bool_],
        column: str,
        values: pd.Series,
        reason: Callable[[Any], str],
    ) -> None:
        positions = np.flatnonzero(mask)
        self._add(positions, column, (reason(values.iat[int(p)]) for p in positions))

    def flag_reasons(self, reasons: dict[int, str], positions: npt.NDArray[np.int64],
                     column: str) -> None:
        """Reasons keyed by index into ``positions`` (a subset of the rows)."""
        ordered = sorted(reasons)
        self._add(positions[np.asarray(ordered, dtype=np.int64)], column,
                  (reasons[i] for i in ordered))

    def _add(self, positions: npt.NDArray[np.int64], column: str, reasons: Iterator[str]) -> None:
        if positions.size == 0:
            return
        self._bad[positions] = True
        numbers = self.raw.row_numbers[positions]
        for number, reason in zip(numbers, reasons, strict=False):
            self._problems.append(RowProblem(self.raw.source, int(number), column,
                                             mask_card_numbers(reason)))

    def bad_rows(self) -> npt.NDArray[np.bool_]:
        return self._bad

    def sorted_problems(self, column_order: list[str]) -> tuple[RowProblem, ...]:
        rank = {name: i for i, name in enumerate(column_order)}
        return tuple(sorted(self._problems, key=lambda p: (
            p.row if p.row is not None else 0, rank.get(p.column or "", -1))))


def _check_duplicates(checker: _Checker, entry_ids: pd.Series, column: str) -> None:
    if len(set(entry_ids.to_numpy(dtype=object))) == len(entry_ids):
        return  # the usual case, found with one set instead of pandas' two hash passes
    duplicated = (entry_ids.duplicated(keep=False) & (entry_ids != "")).to_numpy(dtype=np.bool_)
    positions = np.flatnonzero(duplicated)
    if positions.size == 0:
        return
    rows_by_id: dict[str, list[int]] = {}
    for position in positions:
        rows_by_id.setdefault(str(entry_ids.iat[int(position)]),
                              []).append(int(checker.raw.row_numbers[position]))

    def reason(value: str) -> str:
        rows = rows_by_id[value]
        listed = ", ".join(map(str, rows[:10])) + (", ..." if len(rows) > 10 else "")
        return f"entry id {_shown(value)} appears {len(rows)} times (rows {listed})"

    checker.flag_each(duplicated, column, entry_ids, reason)


def _parse_dates(
    checker: _Checker, cells: pd.Series, column: str, date_format: str
) -> npt.NDArray[np.datetime64]:
    """Each distinct value once: real dates as they are, text strictly by the declared format."""
    codes, uniques = pd.factorize(cells.astype(object), use_na_sentinel=True)
    parsed = np.empty(len(uniques) + 1, dtype="datetime64[ns]")
    parsed[-1] = np.datetime64("NaT")  # factorize's -1 for missing values
    reasons: dict[int, str] = {}
    for index, value in enumerate(uniques):
        day, reason = _one_date(value, date_format)
        parsed[index] = np.datetime64("NaT") if day is None else np.datetime64(day, "ns")
        if reason is not None:
            reasons[index] = reason
    missing_reason = "date is empty"
    codes_array = np.asarray(codes, dtype=np.int64)
    bad = np.isin(codes_array, np.asarray(list(reasons), dtype=np.int64)) | (codes_array < 0)
    checker.flag_each(bad, column, pd.Series(codes_array),
                      lambda code: reasons.get(int(code), missing_reason))
    return parsed[codes_array]


def _one_date(value: object, date_format: str) -> tuple[date | None, str | None]:
    if isinstance(value, datetime):
        day = value.date()
    elif isinstance(value, date):
        day = value
    elif value is None or (isinstance(value, str) and not value.strip()):
        return None, "date is empty"
    else:
        text = cell_text(value).strip()
        try:
            day = datetime.strptime(text, date_format).date()  # noqa: DTZ007 - a calendar day
        except ValueError as exc:
            detail = "" if "does not match format" in str(exc) else f" ({exc})"
            return None, f"date {_shown(text)} is not a date in the format {date_format}{detail}"
    if not YEARS[0] <= day.year <= YEARS[1]:
        return None, f"date {day.isoformat()} is outside the years {YEARS[0]}-{YEARS[1]}"
    return day, None


def _amounts(
    checker: _Checker,
    config: LedgerConfig,
    texts: dict[str, pd.Series],
    currency: pd.Series,
    exponents: npt.NDArray[np.int64],
    priced: npt.NDArray[np.bool_],
) -> npt.NDArray[np.int64]:
    """Signed minor units in house sign (0 where invalid); rows without a currency are skipped."""
    mapping = config.columns
    positions = np.flatnonzero(priced)
    if mapping.amount is not None:
        value = _parse_column(checker, config, texts[mapping.amount], currency, exponents,
                              positions, mapping.amount)
    else:
        assert mapping.debit is not None and mapping.credit is not None
        debit_text = texts[mapping.debit]
        credit_text = texts[mapping.credit]
        both_empty = (debit_text == "") & (credit_text == "")
        checker.flag(both_empty, mapping.debit, "debit and credit are both empty")
        filled = np.flatnonzero(priced & ~both_empty.to_numpy(dtype=np.bool_))
        debit = _parse_column(checker, config, debit_text.mask(debit_text == "", "0"), currency,
                              exponents, filled, mapping.debit)
        credit = _parse_column(checker, config, credit_text.mask(credit_text == "", "0"),
                               currency, exponents, filled, mapping.credit)
        value = debit - credit
    return value if config.positive_is == "money_in" else -value


def _parse_column(
    checker: _Checker,
    config: LedgerConfig,
    texts: pd.Series,
    currency: pd.Series,
    exponents: npt.NDArray[np.int64],
    positions: npt.NDArray[np.int64],
    column: str,
) -> npt.NDArray[np.int64]:
    result = np.zeros(len(texts), dtype=np.int64)
    parsed: ParsedAmounts = parse_amounts(
        texts.iloc[positions],
        exponents[positions],
        currency.iloc[positions],
        decimal_separator=config.csv.decimal_separator if config.source == "csv" else ".",
        thousands_separator=config.csv.thousands_separator if config.source == "csv" else None,
    )
    result[positions] = parsed.minor
    checker.flag_reasons(parsed.reasons, positions, column)
    return result


def _as_str(series: pd.Series) -> pd.Series:
    return pd.Series(series.to_numpy(dtype=object), dtype="str")


# The helpers below iterate numpy object arrays: iterating a Series costs a call per element.


def _mask_cards(descriptions: pd.Series) -> pd.Series:
    """mask_card_numbers on the cells that could hold a card number; the others as they are.

    Candidates are found on the whole column at once: its UTF-8 bytes, joined by NUL, mapped to
    1 for "0-9 -" and 0 otherwise, searched for a run of 13 ones.
    """
    values = descriptions.to_numpy(dtype=object)
    if values.size == 0:
        return descriptions
    joined = "\x00".join(values).encode("utf-8", errors="surrogatepass")
    runs = joined.translate(_CARD_RUN_BYTES)
    if runs.find(_CARD_RUN) < 0:
        return descriptions
    separators = np.flatnonzero(np.frombuffer(joined, dtype=np.uint8) == 0)
    if separators.size != values.size - 1:  # a cell holds a NUL itself: look at every cell
        candidates = np.arange(values.size)
    else:
        hits = np.asarray([m.start() for m in re.finditer(re.escape(_CARD_RUN), runs)],
                          dtype=np.int64)
        candidates = np.unique(np.searchsorted(separators, hits))
    masked = values.copy()
    for position in candidates:
        masked[position] = mask_card_numbers(values[position])
    return pd.Series(masked, dtype=object)


def _strip(column: pd.Series) -> pd.Series:
    return pd.Series(list(map(str.strip, column.to_numpy(dtype=object))), dtype=object)


def _lengths(column: pd.Series) -> npt.NDArray[np.int64]:
    return np.fromiter(map(len, column.to_numpy(dtype=object)), dtype=np.int64,
                       count=len(column))


def _shown(value: str) -> str:
    """A cell value for a message: quoted, and cut short if long."""
    if len(value) > _SHOWN_CHARS:
        return repr(value[:_SHOWN_CHARS]) + f"... ({len(value)} characters)"
    return repr(value)


def _control_name(value: str) -> str:
    found = _CONTROL.search(value)
    return "none" if found is None else f"\\x{ord(found.group(0)):02x}"


def _empty_frame() -> pd.DataFrame:
    return pd.DataFrame({
        "entry_id": pd.Series([], dtype="str"),
        "account": pd.Series([], dtype="str"),
        "currency": pd.Series([], dtype="str"),
        "amount_minor": pd.Series([], dtype="int64"),
        "date": pd.Series([], dtype="datetime64[ns]"),
        "description": pd.Series([], dtype="str"),
        "reference": pd.Series([], dtype="str"),
        "counterparty": pd.Series([], dtype="str"),
    }, columns=list(LEDGER_COLUMNS))
