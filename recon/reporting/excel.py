"""The Excel workbook finance works in: ``reconciliation-<as_of>.xlsx``.

Written with XlsxWriter in constant-memory mode (rows stream to disk, so a million-row report
fits in memory and writes in seconds). Every formula is written with its computed value, so a
previewer that does not recalculate shows the same figures as Excel.

Sheets:

- **Statement**: the bank reconciliation statement per account (one printed page each). Its
  lines are ``ROUND(SUMIFS(...))`` over the item sheets, so they follow an analyst's edits;
  the balances are values with their source beside them; prepared-by / reviewed-by cells are
  read back by ``recon annotations import``. The completeness check sits below each statement.
- **Summary**: the one open count, counts by treatment and link status, a hyperlinked index,
  bank connections.
- **Timing items** and **Needs action**: open items by treatment, both sides in words, with
  editable status / owner / notes columns and (for items needing an entry) the proposed entry.
- **Review suggestions**: every suggested link in words, with accept / reject and reviewer
  columns that the import applies.
- **Matches**, **Journal entries**, **Changes**, **Rejected rows** (when any) and a hidden
  ``_meta`` sheet that identifies the run for the import.

Untrusted text (descriptions, ids, notes) is always a string cell: illegal characters replaced,
truncated to Excel's cell limit, and ``quotePrefix`` set when it could be read as a formula.
The only formulas are the ones written here. Every sheet prints landscape (the statement
portrait), fit to one page wide, with its header rows repeated and the account set and as-of
date in the page header; negative amounts show in parentheses.
"""

from __future__ import annotations

import hashlib
import os
import re
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, Final

import xlsxwriter
from xlsxwriter.format import Format
from xlsxwriter.worksheet import Worksheet

from recon.carry import ANALYST_STATUSES, DiscrepancyRef
from recon.money import currency_exponent, from_minor
from recon.reporting.atomic import atomic_path
from recon.reporting.model import (
    ACTION_GROUP,
    CATEGORIES,
    TIMING_GROUP,
    Category,
    Item,
    LinkLine,
    Report,
    RowView,
    Statement,
    Treatment,
    change_totals,
)
from recon.reporting.text import EXCEL_CELL_LIMIT, clean_text, needs_quote_prefix

STATEMENT_SHEET: Final = "Statement"
SUMMARY_SHEET: Final = "Summary"
TIMING_SHEET: Final = "Timing items"
ACTION_SHEET: Final = "Needs action"
REVIEW_SHEET: Final = "Review suggestions"
MATCHES_SHEET: Final = "Matches"
JOURNAL_SHEET: Final = "Journal entries"
CHANGES_SHEET: Final = "Changes"
REJECTED_SHEET: Final = "Rejected rows"
META_SHEET: Final = "_meta"
META_FORMAT: Final = "recon-annotations-2"
EXCEL_MAX_DATA_ROWS: Final = 1_048_574  # 1,048,576 rows minus the totals and header rows
# Auto-confirmed links without a difference need no review: past this many they are left to
# matches.csv, which keeps the workbook quick to write and to open at a million rows.
EXCEL_MAX_CLEAN_MATCHED_ROWS: Final = 25_000
EXCEL_SIGNIFICANT_DIGITS: Final = 15  # beyond this a number cell would lose digits
_EXACT_AS_NUMBER: Final = 10**EXCEL_SIGNIFICANT_DIGITS  # |minor| below this: no digit is lost
ITEM_SHEETS: Final[dict[str, tuple[Treatment, ...]]] = {
    TIMING_SHEET: TIMING_GROUP,
    ACTION_SHEET: ACTION_GROUP,
}
DECISION_VALUES: Final = ("accept", "reject")

# Item sheets. Row 1 holds totals, row 2 the headers, data from row 3. The editable columns
# and the id are what the import reads; "Line" (a category code), "Account" and "Effect on
# statement" are what the statement's SUMIFS read.
ITEM_COLUMNS: Final = (
    ("Item id", 18), ("Status", 12), ("Owner", 14), ("Notes", 30), ("What it is", 34),
    ("Account", 18), ("Date", 11), ("Age (days)", 7), ("Amount", 14), ("Currency", 6),
    ("Amount ({fc})", 14), ("Effect on statement", 14), ("Bank transaction", 44),
    ("Ledger entry", 44), ("Other / nearest candidate", 44), ("Why", 50),
    ("Proposed entry", 44), ("First seen", 11), ("Also covers", 18), ("Line", 18),
)
REVIEW_COLUMNS: Final = (
    ("Match id", 18), ("Decision", 10), ("Reviewer", 14), ("Bank transaction", 46),
    ("Ledger entry", 46), ("Difference", 12), ("Currency", 6), ("Days apart", 7),
    ("Score", 6), ("Why suggested", 50), ("Other candidates", 50), ("Account", 18),
    ("Bank transaction id", 22), ("Ledger entry id", 22),
)
MATCH_COLUMNS: Final = (
    ("Match id", 18), ("Status", 18), ("Bank date", 11), ("Bank amount", 14),
    ("Bank description", 36), ("Ledger date", 11), ("Ledger amount", 14),
    ("Ledger description", 36), ("Currency", 6), ("Difference", 12), ("Days apart", 7),
    ("Rule", 14), ("Score", 6), ("Account", 18), ("Bank transaction id", 22),
    ("Ledger entry id", 22), ("Explanation", 50),
)
JOURNAL_COLUMNS: Final = (
    ("Entry (item id)", 18), ("Date", 11), ("Account", 28), ("Debit", 14), ("Credit", 14),
    ("Currency", 6), ("Memo", 60),
)
CHANGE_COLUMNS: Final = (
    ("Change", 26), ("Id", 18), ("Kind", 18), ("Account", 18), ("Date", 11), ("Amount", 14),
    ("Currency", 6), ("Before", 22), ("Now", 22), ("Description", 40),
)
REJECTED_COLUMNS: Final = (("File", 30), ("Row", 8), ("Column", 18), ("Reason", 60))
FIRST_DATA_ROW: Final = 2  # zero-based: totals row 0, header row 1


def column_letter(index: int) -> str:
    """0 -> A, 25 -> Z, 26 -> AA."""
    letters = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


def _index(columns: Sequence[tuple[str, int]], name: str) -> int:
    return [c for c, _ in columns].index(name)


I_ID, I_STATUS, I_OWNER, I_NOTES = (_index(ITEM_COLUMNS, n) for n in
                                    ("Item id", "Status", "Owner", "Notes"))
I_ACCOUNT, I_AGE, I_EFFECT, I_LINE = (_index(ITEM_COLUMNS, n) for n in
                                      ("Account", "Age (days)", "Effect on statement", "Line"))
I_FUNCTIONAL = _index(ITEM_COLUMNS, "Amount ({fc})")
I_ALSO = _index(ITEM_COLUMNS, "Also covers")
R_DECISION, R_REVIEWER = _index(REVIEW_COLUMNS, "Decision"), _index(REVIEW_COLUMNS, "Reviewer")


def number_format(currency: str) -> str:
    """'#,##0;(#,##0)' for JPY, '#,##0.00;(#,##0.00)' for USD, three decimals for KWD."""
    exponent = currency_exponent(currency)
    body = "#,##0" if exponent == 0 else "#,##0." + "0" * exponent
    return f"{body};({body})"


def discrepancy_id_checksum(ids: Iterable[str]) -> str:
    """Identifies the set of discrepancy ids a workbook was generated with."""
    digest = hashlib.sha256()
    for discrepancy_id in sorted(ids):
        digest.update(discrepancy_id.encode("utf-8", "surrogatepass") + b"\n")
    return digest.hexdigest()


def _naive_utc(moment: datetime | None) -> datetime | None:
    if moment is None:
        return None
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return moment


def _header_text(text: str) -> str:
    # "&" starts a code in Excel page headers.
    return clean_text(text, limit=80).replace("&", "&&")


_EXCEL_EPOCH: Final = date(1899, 12, 30)  # day 0 of Excel's 1900 date system, as used here
_XML_ESCAPES: Final = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;"})
_LETTERS: Final = tuple(column_letter(c) for c in range(64))


class _DataRows:
    """The data rows of one big sheet, as the sheet XML XlsxWriter would write for them.

    XlsxWriter spends most of a million-row report in its per-cell Python; these rows are
    built here with the same cell markup (inline strings, numbers, dates as serial numbers, the
    workbook's own formats) and put into the sheet's ``<sheetData>`` after the workbook is
    written (:func:`_splice`). It takes the subset of the Worksheet ``write_*`` calls that the
    data rows use, so the row writers are the same for both. Rows come in increasing order.
    """

    def __init__(self, sheet: Worksheet, columns: int) -> None:
        self.sheet = sheet
        self.columns = columns
        self.rows: list[str] = []
        self.last_row = -1
        self._cells: list[str] = []
        self._row = -1
        self._styles: dict[int, str] = {}

    def _style(self, fmt: Format | None) -> str:
        if fmt is None:
            return ""
        found = self._styles.get(id(fmt))
        if found is None:
            # Registers the format with the workbook (XlsxWriter's own lookup) and names it.
            found = self._styles[id(fmt)] = f' s="{fmt._get_xf_index()}"'
        return found

    def _cell(self, row: int, col: int) -> str:
        if row != self._row:
            self._flush()
            self._row = row
        return f"{_LETTERS[col]}{row + 1}"

    def _flush(self) -> None:
        if self._cells:
            self.rows.append(f'<row r="{self._row + 1}">{"".join(self._cells)}</row>')
            self.last_row = self._row
            self._cells = []

    def write_string(self, row: int, col: int, text: str, fmt: Format | None = None) -> None:
        ref = self._cell(row, col)
        preserve = ' xml:space="preserve"' if text[0] in " \t\n" or text[-1] in " \t\n" else ""
        self._cells.append(f'<c r="{ref}"{self._style(fmt)} t="inlineStr"><is><t{preserve}>'
                           f"{text.translate(_XML_ESCAPES)}</t></is></c>")

    def write_number(self, row: int, col: int, value: float | Decimal,
                     fmt: Format | None = None) -> None:  # fmt: skip
        ref = self._cell(row, col)
        number = f"{value:f}" if isinstance(value, Decimal) else repr(value)
        self._cells.append(f'<c r="{ref}"{self._style(fmt)}><v>{number}</v></c>')

    def write_datetime(self, row: int, col: int, value: date, fmt: Format | None = None) -> None:
        self.write_number(row, col, (value - _EXCEL_EPOCH).days, fmt)

    def write_blank(self, row: int, col: int, _value: None, fmt: Format | None = None) -> None:
        if fmt is not None:
            self._cells.append(f'<c r="{self._cell(row, col)}"{self._style(fmt)}/>')

    def finish(self) -> None:
        self._flush()


def _splice(path: Path, data_rows: Sequence[_DataRows]) -> None:
    """Put each :class:`_DataRows` into its sheet of the written workbook at ``path``."""
    by_part = {f"xl/worksheets/sheet{d.sheet.index + 1}.xml": d for d in data_rows if d.rows}
    if not by_part:
        return
    spliced = path.with_name(path.name + ".splice")
    with zipfile.ZipFile(path) as source, zipfile.ZipFile(spliced, "w") as target:
        for info in source.infolist():
            part = source.read(info.filename)
            rows = by_part.get(info.filename)
            if rows is None:
                target.writestr(info, part, compress_type=zipfile.ZIP_DEFLATED)
                continue
            head, tail = part.decode("utf-8").split("</sheetData>", 1)
            last = f"{_LETTERS[rows.columns - 1]}{max(rows.last_row + 1, 2)}"
            head = re.sub(r'<dimension ref="[^"]*"/>', f'<dimension ref="A1:{last}"/>', head,
                          count=1)
            with target.open(info, "w") as out:
                out.write(head.encode("utf-8"))
                for start in range(0, len(rows.rows), 5_000):
                    out.write("".join(rows.rows[start : start + 5_000]).encode("utf-8"))
                out.write(("</sheetData>" + tail).encode("utf-8"))
    os.replace(spliced, path)


class _Book:
    """The workbook and its shared formats."""

    def __init__(self, path: Path, report: Report) -> None:
        self.workbook = xlsxwriter.Workbook(
            str(path), {"constant_memory": True, "strings_to_numbers": False,
                        "strings_to_formulas": False, "strings_to_urls": False},
        )  # fmt: skip
        self.report = report
        add = self.workbook.add_format
        self.bold = add({"bold": True})
        self.title = add({"bold": True, "font_size": 14})
        self.header = add({"bold": True, "bg_color": "#E8ECF1", "bottom": 1,
                           "text_wrap": True, "valign": "top"})
        self.wrap = add({"text_wrap": True, "valign": "top"})
        self.quoted = add({"quote_prefix": True, "valign": "top"})
        self.top = add({"valign": "top"})
        self.date = add({"num_format": "yyyy-mm-dd", "valign": "top"})
        self.datetime = add({"num_format": "yyyy-mm-dd hh:mm", "valign": "top"})
        self.percent = add({"num_format": "0.0%"})
        self.editable = add({"bg_color": "#FFF9E6", "valign": "top", "text_wrap": True,
                             "border": 1, "border_color": "#D9DEE4"})
        self.editable_date = add({"bg_color": "#FFF9E6", "num_format": "yyyy-mm-dd",
                                  "border": 1, "border_color": "#D9DEE4"})
        self.red = add({"bg_color": "#F4C7C3"})
        self.amber = add({"bg_color": "#FCE8B2"})
        # Statement notes stay on one line: LibreOffice does not grow a row for wrapped text
        # written without a row height, so a wrapped note ran into the line below.
        self.note = add({"font_color": "#5B6775", "valign": "top"})
        self._money: dict[tuple[str, bool, bool], Format] = {}
        self.data_rows: list[_DataRows] = []

    def data(self, sheet: Worksheet, columns: Sequence[tuple[str, int]]) -> _DataRows:
        rows = _DataRows(sheet, len(columns))
        self.data_rows.append(rows)
        return rows

    def money_format(self, currency: str, *, bold: bool = False, total: bool = False) -> Format:
        key = (currency, bold, total)
        found = self._money.get(key)
        if found is None:
            spec: dict[str, Any] = {"num_format": number_format(currency), "valign": "top"}
            if bold:
                spec["bold"] = True
            if total:
                spec.update(top=1, bold=True)
            found = self._money[key] = self.workbook.add_format(spec)
        return found

    def sheet(
        self, title: str, columns: Sequence[tuple[str, int]], *, landscape: bool = True,
        header_row: int | None = None,
    ) -> Worksheet:  # fmt: skip
        sheet = self.workbook.add_worksheet(title)
        for index, (_, width) in enumerate(columns):
            sheet.set_column(index, index, width)
        s = self.report.summary
        if landscape:
            sheet.set_landscape()
        sheet.set_paper(9)  # A4; Letter users print fit-to-width the same
        sheet.fit_to_pages(1, 0)
        sheet.set_margins(left=0.4, right=0.4, top=0.6, bottom=0.6)
        sheet.set_header(f"&L{_header_text(s.account_set)}&C{_header_text(title)}"
                         f"&RAs of {s.as_of.isoformat()}")
        sheet.set_footer("&LGenerated " + s.generated_at.strftime("%Y-%m-%d %H:%M")
                         + " UTC&RPage &P of &N")
        if header_row is not None:
            sheet.repeat_rows(header_row)
            sheet.freeze_panes(header_row + 1, 1)
        return sheet

    def text(self, sheet: Worksheet | _DataRows, row: int, col: int, value: object,
             fmt: Format | None = None) -> None:  # fmt: skip
        if isinstance(value, str) and value.isprintable() and len(value) < EXCEL_CELL_LIMIT:
            text = value  # nothing to clean: the common case, without the regex
        else:
            # XML parsers turn CR into LF anyway; doing it here keeps written == read back.
            text = clean_text(value).replace("\r\n", "\n").replace("\r", "\n")
        if not text:
            if fmt is not None:
                sheet.write_blank(row, col, None, fmt)
            return
        if needs_quote_prefix(text):
            sheet.write_string(row, col, text, self.quoted)
        else:
            sheet.write_string(row, col, text, fmt or self.top)

    def money(self, sheet: Worksheet | _DataRows, row: int, col: int, minor: int, currency: str,
              *, bold: bool = False) -> None:  # fmt: skip
        amount = from_minor(minor, currency)
        if abs(minor) >= _EXACT_AS_NUMBER and len(amount.as_tuple().digits) > (
                EXCEL_SIGNIFICANT_DIGITS):
            self.text(sheet, row, col, f"{amount:f}")  # would lose digits as a number
            return
        sheet.write_number(row, col, amount, self.money_format(currency, bold=bold))

    def day(self, sheet: Worksheet | _DataRows, row: int, col: int, value: date | None) -> None:
        if value is not None:
            sheet.write_datetime(row, col, value, self.date)

    def headers(self, sheet: Worksheet, row: int, columns: Sequence[tuple[str, int]]) -> None:
        fc = self.report.summary.functional_currency
        for index, (name, _) in enumerate(columns):
            sheet.write_string(row, index, name.replace("{fc}", fc), self.header)


def write_excel(report: Report, path: Path) -> Path:
    """Write the workbook atomically to ``path``."""
    with atomic_path(path) as temp:
        book = _Book(temp, report)
        links, links_left_out = workbook_links(report)
        _write_statement(book, report)
        _write_summary(book, report, links_left_out)
        for title, treatments in ITEM_SHEETS.items():
            _write_items(book, title, report.items_of(treatments))
        _write_review(book, report.suggestions)
        _write_matches(book, links, report)
        _write_journal(book, report)
        _write_changes(book, report)
        if report.rejected_rows:
            _write_rejected(book, report)
        _write_meta(book, report)
        for rows in book.data_rows:
            rows.finish()
        book.workbook.close()
        _splice(temp, book.data_rows)
    return path


# --- statement ------------------------------------------------------------------------------


def item_sheet_of(category: Category) -> str:
    treatment = CATEGORIES[category].treatment
    return next(title for title, group in ITEM_SHEETS.items() if treatment in group)


def _sumifs(category: Category, account_cell: str) -> str:
    sheet = f"'{item_sheet_of(category)}'"
    effect, account, line = (f"{sheet}!${column_letter(c)}:${column_letter(c)}"
                             for c in (I_EFFECT, I_ACCOUNT, I_LINE))
    return f'SUMIFS({effect},{account},{account_cell},{line},"{category.value}")'


@dataclass(frozen=True)
class StatementCells:
    """Where one account's statement figures are (zero-based rows, column B)."""

    account_row: int
    bank_balance_row: int
    adjusted_bank_row: int
    books_balance_row: int
    adjusted_book_row: int
    difference_row: int
    prepared_row: int
    reviewed_row: int


def statement_cells(report: Report) -> list[StatementCells]:
    """The layout of the Statement sheet (the import reads the sign-off cells from it)."""
    cells, row = [], 0
    for statement in report.statements:
        account_row = row + 1
        bank_row = account_row + 3
        adjusted_bank = bank_row + len(statement.bank_lines) + 1
        books_row = adjusted_bank + 2
        adjusted_book = books_row + len(statement.book_lines) + 1
        difference = adjusted_book + 2
        prepared = difference + 2
        cells.append(StatementCells(account_row, bank_row, adjusted_bank, books_row,
                                    adjusted_book, difference, prepared, prepared + 1))
        row = prepared + 11  # the completeness check and a gap follow
    return cells


def _round(minor: int, currency: str) -> Decimal:
    return from_minor(minor, currency)


def _write_statement(book: _Book, report: Report) -> None:
    sheet = book.sheet(STATEMENT_SHEET, (("", 50), ("", 16), ("", 12), ("", 62)),
                       landscape=False)
    sheet.hide_gridlines(2)
    s = report.summary
    layout = statement_cells(report)
    breaks = []
    for statement, cells, tie in zip(report.statements, layout, report.tie_outs, strict=True):
        _write_one_statement(book, sheet, statement, cells, tie, s.as_of)
        breaks.append(cells.reviewed_row + 10)
    sheet.set_h_pagebreaks(breaks[:-1])
    sheet.print_area(0, 0, max([c.reviewed_row + 9 for c in layout], default=1), 3)


def _write_one_statement(
    book: _Book, sheet: Worksheet, statement: Statement, cells: StatementCells, tie: Any,
    as_of: date,
) -> None:  # fmt: skip
    currency = statement.currency
    digits = currency_exponent(currency)
    money = book.money_format(currency)
    total = book.money_format(currency, total=True)
    row = cells.account_row - 1
    sheet.write_string(row, 0, "Bank reconciliation statement", book.title)
    book.text(sheet, cells.account_row, 0, statement.name, book.bold)
    book.text(sheet, cells.account_row, 1, statement.account, book.bold)
    sheet.write_string(cells.account_row + 1, 0, f"As of {as_of.isoformat()}, in {currency}")
    account_cell = f"$B${cells.account_row + 1}"

    def balance(row: int, label: str, value: int | None, source: str) -> None:
        sheet.write_string(row, 0, label, book.bold)
        if value is None:
            sheet.write_string(row, 1, "not available", book.bold)
        else:
            sheet.write_number(row, 1, _round(value, currency),
                               book.money_format(currency, bold=True))
        book.text(sheet, row, 3, source, book.note)

    def lines(first: int, items: Sequence[Any]) -> None:
        for offset, line in enumerate(items):
            row = first + offset
            sheet.write_string(row, 0, "    " + line.title)
            sheet.write_formula(row, 1, f"=ROUND({_sumifs(line.category, account_cell)},"
                                        f"{digits})", money, _round(line.total_minor, currency))
            sheet.write_string(row, 3, f"{line.count} item{'s' if line.count != 1 else ''} "
                                        f"on '{item_sheet_of(line.category)}'", book.note)

    def adjusted(row: int, label: str, first: int, last: int, value: int | None) -> None:
        sheet.write_string(row, 0, label, book.bold)
        if value is None:
            sheet.write_string(row, 1, "not available", book.bold)
            return
        formula = f"=ROUND(SUM(B{first + 1}:B{last + 1}),{digits})"
        sheet.write_formula(row, 1, formula, total, _round(value, currency))

    bank_row = cells.bank_balance_row
    balance(bank_row, f"Balance per bank at {as_of.isoformat()}",
            statement.bank_balance.minor, statement.bank_balance.source)
    lines(bank_row + 1, statement.bank_lines)
    adjusted(cells.adjusted_bank_row, "Adjusted bank balance", bank_row,
             cells.adjusted_bank_row - 1, statement.adjusted_bank_minor)
    books_row = cells.books_balance_row
    balance(books_row, f"Balance per books at {as_of.isoformat()}",
            statement.books_balance.minor, statement.books_balance.source)
    lines(books_row + 1, statement.book_lines)
    adjusted(cells.adjusted_book_row, "Adjusted book balance", books_row,
             cells.adjusted_book_row - 1, statement.adjusted_book_minor)
    sheet.write_string(cells.difference_row, 0, "Difference (adjusted bank - adjusted book)",
                       book.bold)
    if statement.difference_minor is None:
        sheet.write_string(cells.difference_row, 1, "not available", book.bold)
        sheet.write_string(cells.difference_row, 3,
                           "a balance is missing: the statement cannot be proven", book.note)
    else:
        sheet.write_formula(
            cells.difference_row, 1,
            f"=ROUND(B{cells.adjusted_bank_row + 1}-B{cells.adjusted_book_row + 1},{digits})",
            total, _round(statement.difference_minor, currency),
        )  # fmt: skip
        sheet.conditional_format(cells.difference_row, 1, cells.difference_row, 1, {
            "type": "cell", "criteria": "!=", "value": 0, "format": book.red})
        sheet.write_string(cells.difference_row, 3,
                           "0 when the books and the bank agree" if statement.difference_minor
                           == 0 else "the books and the bank disagree: find the cause",
                           book.note)
    sign = statement.sign_off
    for row, label, who, when in (
        (cells.prepared_row, "Prepared by", sign.prepared_by, sign.prepared_on),
        (cells.reviewed_row, "Reviewed by", sign.reviewed_by, sign.reviewed_on),
    ):
        sheet.write_string(row, 0, label + " (name, then date in column C)", book.bold)
        book.text(sheet, row, 1, who or "", book.editable)
        if when is not None:
            sheet.write_datetime(row, 2, when, book.editable_date)
        else:
            sheet.write_blank(row, 2, None, book.editable_date)
    row = cells.reviewed_row + 2
    sheet.write_string(row, 0, f"Completeness check, {tie.name}", book.bold)
    sheet.write_string(row, 3, "every bank and ledger row of the window is matched or listed:",
                       book.note)
    sheet.write_string(row + 1, 3, "0 unless rows went missing between matching and this report",
                       book.note)
    check = (("Bank movement over the window", tie.bank_movement_minor),
             ("Less: ledger movement over the window", -tie.ledger_movement_minor),
             ("Less: explained by open items", -tie.items_minor),
             ("Less: explained by differences on matched items", -tie.links_minor))
    for offset, (label, value) in enumerate(check, start=1):
        sheet.write_string(row + offset, 0, "    " + label)
        sheet.write_number(row + offset, 1, _round(value, currency), money)
    last = row + len(check)
    sheet.write_string(last + 1, 0, "Unexplained", book.bold)
    sheet.write_formula(last + 1, 1, f"=ROUND(SUM(B{row + 2}:B{last + 1}),{digits})", total,
                        _round(tie.unexplained_minor, currency))


# --- summary --------------------------------------------------------------------------------


def _write_summary(book: _Book, report: Report, links_left_out: int) -> None:
    sheet = book.sheet(SUMMARY_SHEET, (("", 40), ("", 16), ("", 14), ("", 16), ("", 18)))
    s = report.summary
    fc = book.money_format(s.functional_currency)
    row = 0

    def line(*values: object, fmt: Format | None = None) -> None:
        nonlocal row
        for col, value in enumerate(values):
            if isinstance(value, bool):
                sheet.write_string(row, col, "yes" if value else "no", fmt or book.top)
            elif isinstance(value, int | float | Decimal):
                sheet.write_number(row, col, value, fmt)
            elif isinstance(value, datetime):
                sheet.write_datetime(row, col, value, book.datetime)
            elif isinstance(value, date):
                book.day(sheet, row, col, value)
            elif value is not None:
                book.text(sheet, row, col, value, fmt)
        row += 1

    line(f"Bank reconciliation: {s.account_set}", fmt=book.title)
    line("As of", s.as_of)
    line("Window", f"{s.window_start} to {s.window_end}")
    line("Run id", s.run_id)
    line("Generated at (UTC)", _naive_utc(s.generated_at))
    line("Every statement ties (difference 0)", s.statements_tie)
    line("Open items", s.open_count, fmt=book.bold)
    line(f"Open amount ({s.functional_currency}, absolute)", s.open_functional_abs, fmt=fc)
    line("Oldest open item (days)", s.oldest_open_age_days)
    line("Alert threshold exceeded", report.threshold.exceeded)
    for reason in report.threshold.reasons:
        line("", reason)
    if links_left_out:
        line("Note", f"{links_left_out:,} auto-matched links without a difference are not on "
                     "the Matches sheet; matches.csv has every link")
    row += 1
    line("Sheets", fmt=book.bold)
    names = [STATEMENT_SHEET, *ITEM_SHEETS, REVIEW_SHEET, MATCHES_SHEET, JOURNAL_SHEET,
             CHANGES_SHEET] + ([REJECTED_SHEET] if report.rejected_rows else [])
    for name in names:  # recon's own sheet names, never data
        sheet.write_url(row, 0, f"internal:'{name}'!A1", string=name)
        row += 1
    row += 1
    line("Items by treatment", "Items", "Open", f"Open {s.functional_currency}",
         fmt=book.header)
    for t in s.treatments:
        sheet.write_number(row, 3, t.functional_abs, fc)
        line(t.title, t.count, t.open_count)
    row += 1
    line("Links by status", "Groups", "Links", "Currency", "Difference", fmt=book.header)
    for status in s.link_statuses:
        line(status.title, status.groups, status.links)
        for amount in status.difference:
            book.money(sheet, row, 4, amount.minor, amount.currency)
            line("", None, None, amount.currency)
    line("Bank transactions auto-matched", s.bank_items_auto_matched, s.bank_items)
    if s.auto_match_rate is not None:
        line("Auto-match rate", s.auto_match_rate, fmt=book.percent)
    line("Rejected ledger rows", s.rejected_row_count)
    row += 1
    line("Bank connection", "Item", "Last sync (UTC)", "Status", fmt=book.header)
    for item in s.item_health:
        line(item.institution, item.item_id, _naive_utc(item.last_successful_sync),
             "; ".join((item.status, *item.notes)))


# --- item sheets ----------------------------------------------------------------------------


def side_words(row: RowView | None) -> str:
    if row is None:
        return ""
    day = row.date.isoformat() if row.date else ""
    amount = f"{from_minor(row.amount_minor, row.currency):,f}"
    return f"{day}  {amount} {row.currency}  {row.description}  [{row.id}]"


def entry_words(item: Item) -> str:
    return "; ".join(
        f"{'Dr' if j.debit_minor else 'Cr'} {j.account} "
        f"{from_minor(j.debit_minor or j.credit_minor, j.currency):,f}"
        for j in item.journal
    )


def _write_items(book: _Book, title: str, items: Sequence[Item]) -> None:
    sheet = book.sheet(title, ITEM_COLUMNS, header_row=1)
    fc = book.report.summary.functional_currency
    rows = items[:EXCEL_MAX_DATA_ROWS]
    last = FIRST_DATA_ROW + max(len(rows), 1) - 1
    sheet.write_string(0, 0, f"{len(rows):,} items", book.bold)
    sheet.write_string(0, I_FUNCTIONAL - 1, "Total", book.bold)
    col = column_letter(I_FUNCTIONAL)
    sheet.write_formula(
        0, I_FUNCTIONAL, f"=SUBTOTAL(9,{col}{FIRST_DATA_ROW + 1}:{col}{last + 1})",
        book.money_format(fc, total=True), sum((i.functional or Decimal(0) for i in rows),
                                               Decimal(0)),
    )  # fmt: skip
    book.headers(sheet, 1, ITEM_COLUMNS)  # constant memory: rows are written in order
    functional = book.money_format(fc)
    data = book.data(sheet, ITEM_COLUMNS)
    for row, item in enumerate(rows, start=FIRST_DATA_ROW):
        info = CATEGORIES[item.category]
        is_discrepancy = item.category != Category.LINK_DIFFERENCE
        book.text(data, row, I_ID, item.item_id)
        if is_discrepancy:
            data.write_string(row, I_STATUS, item.status, book.editable)
            book.text(data, row, I_OWNER, item.owner, book.editable)
            book.text(data, row, I_NOTES, item.notes, book.editable)
        else:
            data.write_string(row, I_STATUS, "-", book.top)
        book.text(data, row, 4, info.label, book.wrap)
        book.text(data, row, I_ACCOUNT, item.account)
        book.day(data, row, 6, item.date)
        data.write_number(row, I_AGE, item.age_days)
        book.money(data, row, 8, item.amount_minor, item.currency)
        data.write_string(row, 9, item.currency)
        if item.functional is not None:
            data.write_number(row, I_FUNCTIONAL, item.functional, functional)
        book.money(data, row, I_EFFECT, item.effect_minor, item.currency)
        book.text(data, row, 12, side_words(item.bank), book.wrap)
        book.text(data, row, 13, side_words(item.ledger), book.wrap)
        other = f"{item.other_label}: {side_words(item.other)}" if item.other else ""
        book.text(data, row, 14, other, book.wrap)
        book.text(data, row, 15, item.explanation, book.wrap)
        book.text(data, row, 16, entry_words(item), book.wrap)
        book.day(data, row, 17, item.first_seen)
        book.text(data, row, I_ALSO, "; ".join(item.discrepancy_ids[1:]))
        data.write_string(row, I_LINE, item.category.value)
    sheet.autofilter(1, 0, last, len(ITEM_COLUMNS) - 1)
    sheet.data_validation(FIRST_DATA_ROW, I_STATUS, last, I_STATUS, {
        "validate": "list", "source": list(ANALYST_STATUSES), "ignore_blank": True,
        "error_title": "Status", "error_message": "open, explained or written_off"})
    sheet.data_validation(FIRST_DATA_ROW, I_OWNER, last, I_OWNER, {
        "validate": "length", "criteria": "<=", "value": 100, "ignore_blank": True,
        "error_message": "100 characters max"})
    sheet.data_validation(FIRST_DATA_ROW, I_NOTES, last, I_NOTES, {
        "validate": "length", "criteria": "<=", "value": 2000, "ignore_blank": True,
        "error_message": "2000 characters max"})
    sheet.conditional_format(FIRST_DATA_ROW, I_AGE, last, I_AGE, {
        "type": "cell", "criteria": ">", "value": 30, "format": book.red})
    sheet.conditional_format(FIRST_DATA_ROW, I_AGE, last, I_AGE, {
        "type": "cell", "criteria": "between", "minimum": 8, "maximum": 30,
        "format": book.amber})
    sheet.conditional_format(FIRST_DATA_ROW, I_FUNCTIONAL, last, I_FUNCTIONAL, {
        "type": "data_bar", "bar_color": "#638EC6",
        "data_bar_2010": False})  # no x14 extension: every reader (openpyxl too) takes it


# --- links ----------------------------------------------------------------------------------


def workbook_links(report: Report) -> tuple[list[int], int]:
    """Positions of the confirmed links the Matches sheet lists (every one with a difference,
    and clean auto-matched ones up to EXCEL_MAX_CLEAN_MATCHED_ROWS), and how many confirmed
    links are left to matches.csv. Suggested links are on the Review suggestions sheet."""
    frame = report.links.frame
    confirmed = (frame["status"] != "suggested").to_numpy(dtype=bool)
    clean = ((frame["status"] == "matched") & (frame["amount_difference_minor"] == 0)).to_numpy(
        dtype=bool)
    keep = confirmed & (~clean | (clean.cumsum() <= EXCEL_MAX_CLEAN_MATCHED_ROWS))
    positions = [int(p) for p in keep.nonzero()[0][:EXCEL_MAX_DATA_ROWS]]
    return positions, int(confirmed.sum()) - len(positions)


def _write_review(book: _Book, suggestions: Sequence[LinkLine]) -> None:
    sheet = book.sheet(REVIEW_SHEET, REVIEW_COLUMNS, header_row=1)
    sheet.write_string(0, 0, f"{len(suggestions):,} suggested links: choose accept or reject "
                             "and put your name in Reviewer, then run recon annotations import",
                       book.bold)
    book.headers(sheet, 1, REVIEW_COLUMNS)
    data = book.data(sheet, REVIEW_COLUMNS)
    for row, link in enumerate(suggestions, start=FIRST_DATA_ROW):
        book.text(data, row, 0, link.match_id)
        data.write_blank(row, R_DECISION, None, book.editable)
        data.write_blank(row, R_REVIEWER, None, book.editable)
        book.text(data, row, 3, side_words(link.bank), book.wrap)
        book.text(data, row, 4, side_words(link.ledger), book.wrap)
        book.money(data, row, 5, link.amount_difference_minor, link.currency)
        data.write_string(row, 6, link.currency)
        data.write_number(row, 7, link.date_difference_days)
        data.write_number(row, 8, round(link.score, 2))
        book.text(data, row, 9, link.explanation, book.wrap)
        book.text(data, row, 10, link.alternatives, book.wrap)
        book.text(data, row, 11, link.account)
        book.text(data, row, 12, link.bank_transaction_id)
        book.text(data, row, 13, link.ledger_entry_id)
    last = FIRST_DATA_ROW + max(len(suggestions), 1) - 1
    sheet.autofilter(1, 0, last, len(REVIEW_COLUMNS) - 1)
    sheet.data_validation(FIRST_DATA_ROW, R_DECISION, last, R_DECISION, {
        "validate": "list", "source": list(DECISION_VALUES), "ignore_blank": True,
        "error_title": "Decision", "error_message": "accept or reject"})


def _write_matches(book: _Book, positions: list[int], report: Report) -> None:
    sheet = book.sheet(MATCHES_SHEET, MATCH_COLUMNS, header_row=1)
    left_out = int((report.links.frame["status"] != "suggested").sum()) - len(positions)
    sheet.write_string(0, 0, f"{len(positions):,} confirmed links" + (
        f" ({left_out:,} clean auto-matched links more are in matches.csv)" if left_out else "")
        + "; suggested links are on 'Review suggestions'", book.bold)  # fmt: skip
    book.headers(sheet, 1, MATCH_COLUMNS)
    data = book.data(sheet, MATCH_COLUMNS)
    row = FIRST_DATA_ROW
    chunk = 20_000  # rows in words for a chunk at a time: bounded memory at a million links
    for start in range(0, len(positions), chunk):
        for link in report.links.lines(positions[start : start + chunk]):
            book.text(data, row, 0, link.match_id)
            data.write_string(row, 1, link.status)
            for col, side in ((2, link.bank), (5, link.ledger)):
                if side is not None:
                    book.day(data, row, col, side.date)
                    book.money(data, row, col + 1, side.amount_minor, side.currency)
                    book.text(data, row, col + 2, side.description)
            data.write_string(row, 8, link.currency)
            book.money(data, row, 9, link.amount_difference_minor, link.currency)
            data.write_number(row, 10, link.date_difference_days)
            book.text(data, row, 11, link.rule)
            data.write_number(row, 12, round(link.score, 4))
            book.text(data, row, 13, link.account)
            book.text(data, row, 14, link.bank_transaction_id)
            book.text(data, row, 15, link.ledger_entry_id)
            book.text(data, row, 16, link.explanation)
            row += 1
    last = max(row - 1, FIRST_DATA_ROW)
    sheet.autofilter(1, 0, last, len(MATCH_COLUMNS) - 1)
    sheet.conditional_format(FIRST_DATA_ROW, 1, last, 1, {
        "type": "cell", "criteria": "==", "value": '"suggested"', "format": book.amber})


def _write_journal(book: _Book, report: Report) -> None:
    sheet = book.sheet(JOURNAL_SHEET, JOURNAL_COLUMNS, header_row=1)
    lines = list(report.journal)
    sheet.write_string(0, 0, f"{len({j.entry_id for j in lines}):,} proposed entries", book.bold)
    book.headers(sheet, 1, JOURNAL_COLUMNS)
    data = book.data(sheet, JOURNAL_COLUMNS)
    for row, j in enumerate(lines, start=FIRST_DATA_ROW):
        book.text(data, row, 0, j.entry_id)
        book.day(data, row, 1, j.date)
        book.text(data, row, 2, j.account)
        if j.debit_minor:
            book.money(data, row, 3, j.debit_minor, j.currency)
        if j.credit_minor:
            book.money(data, row, 4, j.credit_minor, j.currency)
        data.write_string(row, 5, j.currency)
        book.text(data, row, 6, j.memo)
    last = FIRST_DATA_ROW + max(len(lines), 1) - 1
    sheet.autofilter(1, 0, last, len(JOURNAL_COLUMNS) - 1)


def _write_changes(book: _Book, report: Report) -> None:
    sheet = book.sheet(CHANGES_SHEET, CHANGE_COLUMNS, header_row=1)
    changes = report.changes
    previous = (f"the run of {changes.previous_as_of} ({changes.previous_run_id})"
                if changes.previous_run_id else "nothing (first run)")
    totals = "; ".join(
        f"{label} {len(refs)}: " + (", ".join(
            f"{from_minor(t.minor, t.currency):,f} {t.currency}" for t in change_totals(refs))
            or "-")
        for label, refs in (("new", changes.new_discrepancies),
                            ("resolved", changes.resolved_discrepancies)))  # fmt: skip
    sheet.write_string(0, 0, f"Compared with {previous}", book.bold)
    sheet.write_string(0, 3, totals + " (absolute amounts)")
    book.headers(sheet, 1, CHANGE_COLUMNS)
    row = FIRST_DATA_ROW

    def ref_row(change: str, ref: DiscrepancyRef, before: str = "", now: str = "") -> None:
        nonlocal row
        sheet.write_string(row, 0, change)
        book.text(sheet, row, 1, ref.discrepancy_id)
        sheet.write_string(row, 2, ref.kind)
        book.text(sheet, row, 3, ref.account)
        book.day(sheet, row, 4, ref.date)
        book.money(sheet, row, 5, ref.amount_minor, ref.currency)
        sheet.write_string(row, 6, ref.currency)
        book.text(sheet, row, 7, before)
        book.text(sheet, row, 8, now)
        book.text(sheet, row, 9, ref.description)
        row += 1

    for ref in changes.new_discrepancies:
        ref_row("new", ref)
    for ref in changes.resolved_discrepancies:
        ref_row("resolved: " + ref.how, ref)
    for ref in changes.amount_changes:
        before = f"{from_minor(ref.previous_amount_minor or 0, ref.currency):,f}"
        ref_row("amount changed", ref, before, f"{from_minor(ref.amount_minor, ref.currency):,f}")
    for ref in changes.status_changes:
        ref_row("status or owner changed", ref,
                f"{ref.previous_status} {ref.previous_owner or ''}".strip(),
                f"{ref.status} {ref.owner or ''}".strip())
    for match_id in changes.matches_added:
        sheet.write_string(row, 0, "match added")
        book.text(sheet, row, 1, match_id)
        row += 1
    for match_id in changes.matches_removed:
        sheet.write_string(row, 0, "match removed")
        book.text(sheet, row, 1, match_id)
        row += 1
    sheet.autofilter(1, 0, max(row - 1, FIRST_DATA_ROW), len(CHANGE_COLUMNS) - 1)


def _write_rejected(book: _Book, report: Report) -> None:
    sheet = book.sheet(REJECTED_SHEET, REJECTED_COLUMNS, header_row=1)
    sheet.write_string(0, 0, f"{len(report.rejected_rows):,} ledger rows were refused",
                       book.bold)
    book.headers(sheet, 1, REJECTED_COLUMNS)
    for row, problem in enumerate(report.rejected_rows, start=FIRST_DATA_ROW):
        book.text(sheet, row, 0, problem.file)
        if problem.row is not None:
            sheet.write_number(row, 1, problem.row)
        book.text(sheet, row, 2, problem.column or "")
        book.text(sheet, row, 3, problem.reason, book.wrap)
    sheet.autofilter(1, 0, FIRST_DATA_ROW + max(len(report.rejected_rows), 1) - 1,
                     len(REJECTED_COLUMNS) - 1)


def _write_meta(book: _Book, report: Report) -> None:
    sheet = book.workbook.add_worksheet(META_SHEET)
    sheet.hide()
    ids = report.discrepancy_ids
    for row, (key, value) in enumerate((
        ("format", META_FORMAT),
        ("run_id", report.summary.run_id),
        ("as_of", report.summary.as_of.isoformat()),
        ("account_set", report.summary.account_set),
        ("discrepancy_count", str(len(ids))),
        ("discrepancy_id_sha256", discrepancy_id_checksum(ids)),
    )):  # fmt: skip
        sheet.write_string(row, 0, key)
        book.text(sheet, row, 1, value)


__all__ = [
    "ACTION_SHEET", "CHANGES_SHEET", "JOURNAL_SHEET", "MATCHES_SHEET", "META_SHEET",
    "REJECTED_SHEET", "REVIEW_SHEET", "STATEMENT_SHEET", "SUMMARY_SHEET", "TIMING_SHEET",
    "discrepancy_id_checksum", "number_format", "statement_cells", "write_excel",
]
