"""matches.csv, discrepancies.csv, journal-entries.csv and summary.json: the machine contract.

Amounts are plain decimal text with the currency's decimals (``-1234.50``, JPY ``1200``).
Every field is quoted. Text that a spreadsheet would read as a formula gets a leading ``'``
(OWASP CSV injection), and so does an id that it would turn into a number or a date
(``1994629787702547``, ``16899102199236e5``): these files are opened in Excel too. A machine
reader strips one leading ``'`` from such fields.

The columns of matches.csv and discrepancies.csv are the record fields of
:mod:`recon.records` (``*_minor`` money as decimal text without the suffix), followed by what
the report adds.
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Iterable, Sequence
from decimal import Decimal
from pathlib import Path
from typing import IO, Any, Final

import numpy as np
import pandas as pd

from recon.money import format_minor
from recon.records import DISCREPANCY_COLUMNS, LINK_COLUMNS
from recon.reporting.atomic import atomic_text
from recon.reporting.model import CurrencyAmount, Report, Statement, change_totals
from recon.reporting.text import csv_text


def _csv_name(column: str) -> str:
    return column.removesuffix("_minor")


MATCH_CSV_COLUMNS: Final = tuple(_csv_name(c) for c in LINK_COLUMNS)
DISCREPANCY_CSV_COLUMNS: Final = (
    *(_csv_name(c) for c in DISCREPANCY_COLUMNS),
    "first_seen", "status", "owner", "notes", "item_id", "category", "treatment",
    "functional_amount",
)  # fmt: skip
JOURNAL_CSV_COLUMNS: Final = (
    "entry_id", "date", "account", "debit", "credit", "currency", "memo",
)  # fmt: skip
ID_COLUMNS: Final = frozenset({"match_id", "bank_transaction_id", "ledger_entry_id",
                               "discrepancy_id", "nearest_candidate", "item_id", "entry_id"})
SUMMARY_FORMAT_VERSION: Final = 2
# Text a spreadsheet reads as a number, a date or a time: digits with signs, separators,
# exponents or a percent sign (e.g. 1994629787702547, 16899102199236e5, 2024-01-02, 1:30).
NUMBER_LIKE: Final = re.compile(r"[\d.,eE+\-/:% ]*\d[\d.,eE+\-/:% ]*")


_PLAIN_START: Final = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_")


def csv_id(value: object) -> str:
    """An id cell: like :func:`csv_text`, and prefixed with ``'`` when it looks like a number."""
    if isinstance(value, str) and value[:1] in _PLAIN_START and value.isprintable():
        return value  # starts with a letter: neither a formula nor a number (most ids)
    text = csv_text(value)
    if not text.startswith("'") and NUMBER_LIKE.fullmatch(text):
        return "'" + text
    return text


def _write_csv(path: Path, header: Sequence[str], rows: Iterable[Sequence[str]]) -> Path:
    with atomic_text(path, newline="") as handle:
        writer = csv.writer(handle, quoting=csv.QUOTE_ALL)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def _formatted(minor: pd.Series, currency: pd.Series) -> list[str]:
    """format_minor per row, computed once per distinct (amount, currency)."""
    keys = pd.MultiIndex.from_arrays([minor.to_numpy(dtype=np.int64), currency.to_numpy()])
    codes, uniques = pd.factorize(keys)
    texts = np.array([format_minor(int(m), str(c)) for m, c in uniques], dtype=object)
    out: list[str] = texts[codes].tolist()
    return out


_NUMBER_BYTES: Final = np.zeros(256, dtype=bool)
_NUMBER_BYTES[list(b"0123456789.,eE+-/:% ")] = True
_DIGIT_BYTES: Final = np.zeros(256, dtype=bool)
_DIGIT_BYTES[list(b"0123456789")] = True
_TRIGGER_BYTES: Final = np.zeros(256, dtype=bool)
_TRIGGER_BYTES[list(b"=+-@\t\r\n")] = True


def _id_column(values: np.ndarray) -> np.ndarray:
    """:func:`csv_id` of a million ids at once: a byte matrix finds the few that need it."""
    try:
        raw = np.asarray(values.astype(str), dtype="S")
    except UnicodeEncodeError:  # a non-ASCII id: the general path
        return np.array([csv_id(v) for v in values.tolist()], dtype=object)
    out = values.astype(object)
    if raw.dtype.itemsize == 0 or len(raw) == 0:
        return out
    matrix = raw.view(np.uint8).reshape(len(raw), raw.dtype.itemsize)
    padding = matrix == 0
    number_like = np.all(_NUMBER_BYTES[matrix] | padding, axis=1) & np.any(
        _DIGIT_BYTES[matrix], axis=1)
    control = np.any(((matrix < 32) | (matrix == 127)) & ~padding, axis=1)
    special = number_like | control | _TRIGGER_BYTES[matrix[:, 0]]
    out[special] = [csv_id(v) for v in out[special].tolist()]
    return out


def _column(frame: pd.DataFrame, name: str) -> np.ndarray:
    values = frame[name]
    if name in ID_COLUMNS:
        return _id_column(values.to_numpy())
    # Texts repeat (statuses, rules, accounts, explanations): each distinct one cleaned once.
    codes, uniques = pd.factorize(values, use_na_sentinel=False)
    clean = csv_text if values.dtype == object else str
    cleaned: np.ndarray = np.array([clean(u) for u in uniques], dtype=object)[codes]
    return cleaned


def _q(text: str) -> str:
    return '"' + text.replace('"', '""') + '"'


def write_matches_csv(report: Report, path: Path) -> Path:
    """matches.csv. At a million links each row is its three ids plus one of a few thousand
    distinct tails (status, rule, score, difference, days, account, currency, explanation):
    every distinct tail is formatted once."""
    frame = report.links.frame
    tail_names = LINK_COLUMNS[3:]
    key = np.zeros(len(frame), dtype=np.int64)
    for name in tail_names:
        codes = pd.factorize(frame[name], use_na_sentinel=False)[0]
        key = pd.factorize(key * (int(codes.max(initial=0)) + 1) + codes)[0].astype(np.int64)
    first = np.unique(key, return_index=True)[1]  # factorize codes: the first row of each
    firsts = frame.iloc[first]
    arrays = {name: firsts[name].to_numpy() for name in tail_names}
    tails = []
    for row in range(len(first)):
        values = {name: arrays[name][row] for name in tail_names}
        cells = []
        for name in tail_names:
            value = values[name]
            if name == "amount_difference_minor":
                cells.append(format_minor(int(value), str(values["currency"])))
            elif name == "score":
                cells.append(f"{float(value):.4f}")
            elif isinstance(value, str):
                cells.append(csv_text(value))
            else:
                cells.append(str(value))
        tails.append("," + ",".join(_q(c) for c in cells) + "\r\n")
    tail_text = np.array(tails, dtype=object)
    header = ",".join(f'"{name}"' for name in MATCH_CSV_COLUMNS)
    chunk = 100_000  # the ids become Python strings a chunk at a time
    with atomic_text(path, newline="") as handle:
        handle.write(header + "\r\n")
        for start in range(0, len(frame), chunk):
            part = frame.iloc[start : start + chunk]
            ids = [_id_column(part[name].to_numpy(dtype=object)) for name in LINK_COLUMNS[:3]]
            tail_of = tail_text[key[start : start + chunk]]
            handle.write("".join([
                f"{_q(m)},{_q(b)},{_q(lg)}{tail}"
                for m, b, lg, tail in zip(*ids, tail_of, strict=True)
            ]))  # fmt: skip
    return path


def write_discrepancies_csv(report: Report, path: Path) -> Path:
    """One row per engine discrepancy (as the contract says), with the item it belongs to."""
    frame = report.discrepancy_frame
    names = list(DISCREPANCY_COLUMNS)
    formatted = {}
    for values in zip(*(frame[n].tolist() for n in names), strict=True):
        row = dict(zip(names, values, strict=True))
        day = row["date"]
        formatted[str(row["discrepancy_id"])] = tuple(
            csv_id(value) if name in ID_COLUMNS
            else format_minor(int(value), str(row["currency"])) if name == "amount_minor"
            else ("" if pd.isna(day) else pd.Timestamp(day).date().isoformat()) if name == "date"
            else str(int(value)) if name == "age_days"
            else csv_text(value)
            for name, value in row.items()
        )

    def rows() -> Iterable[Sequence[str]]:
        for item in report.items:
            extra = (item.first_seen.isoformat(), item.status, csv_text(item.owner),
                     csv_text(item.notes), csv_id(item.item_id), item.category.value,
                     item.treatment.value,
                     "" if item.functional is None else f"{item.functional:f}")
            for member in item.discrepancy_ids:
                yield (*formatted[member], *extra)

    return _write_csv(path, DISCREPANCY_CSV_COLUMNS, rows())


def write_journal_csv(report: Report, path: Path) -> Path:
    rows = (
        (csv_id(j.entry_id), j.date.isoformat(), csv_text(j.account),
         format_minor(j.debit_minor, j.currency) if j.debit_minor else "",
         format_minor(j.credit_minor, j.currency) if j.credit_minor else "",
         j.currency, csv_text(j.memo))
        for j in report.journal
    )  # fmt: skip
    return _write_csv(path, JOURNAL_CSV_COLUMNS, rows)


def _amounts(totals: Iterable[CurrencyAmount]) -> dict[str, str]:
    return {t.currency: format_minor(t.minor, t.currency) for t in totals}


def _maybe(minor: int | None, currency: str) -> str | None:
    return None if minor is None else format_minor(minor, currency)


def _statement(statement: Statement) -> dict[str, Any]:
    c = statement.currency
    return {
        "account": statement.account,
        "currency": c,
        "balance_per_bank": _maybe(statement.bank_balance.minor, c),
        "balance_per_bank_source": statement.bank_balance.source,
        "bank_side": {line.category.value: {"count": line.count,
                                            "amount": format_minor(line.total_minor, c)}
                      for line in statement.bank_lines},
        "adjusted_bank_balance": _maybe(statement.adjusted_bank_minor, c),
        "balance_per_books": _maybe(statement.books_balance.minor, c),
        "balance_per_books_source": statement.books_balance.source,
        "book_side": {line.category.value: {"count": line.count,
                                            "amount": format_minor(line.total_minor, c)}
                      for line in statement.book_lines},
        "adjusted_book_balance": _maybe(statement.adjusted_book_minor, c),
        "difference": _maybe(statement.difference_minor, c),
    }


def _decimal(value: Decimal) -> str:
    return f"{value:f}"


def summary_document(report: Report) -> dict[str, Any]:
    """The JSON summary: counts, amounts as decimal strings keyed by currency, threshold flag."""
    s = report.summary
    changes = report.changes
    return {
        "format_version": SUMMARY_FORMAT_VERSION,
        "run_id": s.run_id,
        "account_set": s.account_set,
        "as_of": s.as_of.isoformat(),
        "window": {"start": s.window_start.isoformat(), "end": s.window_end.isoformat()},
        "generated_at": s.generated_at.isoformat(),
        "functional_currency": s.functional_currency,
        "missing_fx_rates": list(s.missing_fx_rates),
        "threshold": {"exceeded": report.threshold.exceeded,
                      "reasons": list(report.threshold.reasons)},
        "statements_tie": s.statements_tie,
        "statements": [_statement(statement) for statement in report.statements],
        "links": {
            c.status: {"groups": c.groups, "links": c.links,
                       "difference": _amounts(c.difference)}
            for c in s.link_statuses
        },
        "items": {
            "count": s.item_count,
            "open_count": s.open_count,
            "open_amount": _amounts(s.open_total_abs),
            "open_amount_functional": _decimal(s.open_functional_abs),
            "oldest_open_age_days": s.oldest_open_age_days,
            "by_treatment": {
                t.treatment.value: {"count": t.count, "open_count": t.open_count,
                                    "open_amount_functional": _decimal(t.functional_abs)}
                for t in s.treatments
            },
        },
        "auto_match_rate": None if s.auto_match_rate is None else round(s.auto_match_rate, 6),
        "bank_items": s.bank_items,
        "bank_items_auto_matched": s.bank_items_auto_matched,
        "completeness_check": [
            {
                "account": t.account,
                "currency": t.currency,
                "bank_movement": format_minor(t.bank_movement_minor, t.currency),
                "ledger_movement": format_minor(t.ledger_movement_minor, t.currency),
                "explained_by_items": format_minor(t.items_minor, t.currency),
                "explained_by_link_differences": format_minor(t.links_minor, t.currency),
                "unexplained": format_minor(t.unexplained_minor, t.currency),
            }
            for t in report.tie_outs
        ],
        "changes": {
            "previous_run_id": changes.previous_run_id,
            "previous_as_of": changes.previous_as_of.isoformat()
            if changes.previous_as_of else None,
            "new": len(changes.new_discrepancies),
            "new_amount": _amounts(change_totals(changes.new_discrepancies)),
            "resolved": len(changes.resolved_discrepancies),
            "resolved_amount": _amounts(change_totals(changes.resolved_discrepancies)),
            "amount_changed": len(changes.amount_changes),
            "status_changed": len(changes.status_changes),
            "matches_added": len(changes.matches_added),
            "matches_removed": len(changes.matches_removed),
        },
        "items_needing_relink": [
            {"institution": i.institution, "item_id": i.item_id, "status": i.status}
            for i in s.items_needing_relink
        ],
        "rejected_ledger_rows": s.rejected_row_count,
    }


def write_summary_json(report: Report, path: Path) -> Path:
    with atomic_text(path) as handle:
        _dump(summary_document(report), handle)
    return path


def _dump(document: dict[str, Any], handle: IO[str]) -> None:
    json.dump(document, handle, indent=2, ensure_ascii=False, sort_keys=False)
    handle.write("\n")
