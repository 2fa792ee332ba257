"""The Excel workbook finance works in: ``reconciliation-<as_of>.xlsx``.

Written with openpyxl's write-only mode (streams rows to disk, so 1M-row reports fit in memory).
Sheets: Summary (with a hyperlinked index), Tie-out (live SUMIFS formulas over the detail
sheets, so totals follow an analyst's edits), one sheet per discrepancy kind with editable
status / owner / notes columns, Matches (suggested first), Changes, Rejected rows (when any)
and a hidden ``_meta`` sheet that identifies the run set for :mod:`recon.reporting.annotations`.

Untrusted text (descriptions, ids, notes) is always a string cell: illegal characters replaced,
truncated to Excel's cell limit, and ``quotePrefix`` set when it could be read as a formula.
The only ``<f>`` elements are the formulas written here.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ERROR_CODES
from openpyxl.formatting.rule import CellIsRule, DataBarRule
from openpyxl.styles import Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.datavalidation import DataValidation

from recon.carry import ANALYST_STATUSES, DiscrepancyRef
from recon.frames import DISCREPANCY_KINDS
from recon.money import currency_exponent, from_minor
from recon.reporting.atomic import atomic_path
from recon.reporting.model import (
    KIND_TITLES,
    LINK_ORDER,
    DiscrepancyLine,
    LinkLine,
    Report,
)
from recon.reporting.text import clean_text, needs_quote_prefix

SUMMARY_SHEET: Final = "Summary"
TIE_OUT_SHEET: Final = "Tie-out"
MATCHES_SHEET: Final = "Matches"
CHANGES_SHEET: Final = "Changes"
REJECTED_SHEET: Final = "Rejected rows"
META_SHEET: Final = "_meta"
META_FORMAT: Final = "recon-annotations-1"
EXCEL_MAX_DATA_ROWS: Final = 1_048_575  # 1,048,576 rows minus the header
# Auto-confirmed links without a difference need no review: past this many they are left to
# matches.csv, which keeps the workbook quick to write and to open at a million rows. They carry
# no difference, so the tie-out formulas are unchanged.
EXCEL_MAX_CLEAN_MATCHED_ROWS: Final = 100_000
EXCEL_SIGNIFICANT_DIGITS: Final = 15  # beyond this a number cell would lose digits

# Discrepancy sheets: (header, width). status/owner/notes are the editable columns.
DISCREPANCY_COLUMNS: Final = (
    ("discrepancy_id", 26), ("status", 12), ("owner", 16), ("notes", 36), ("kind", 18),
    ("side", 7), ("account", 14), ("currency", 8), ("date", 11), ("amount", 15),
    ("age_days", 8), ("age_bucket", 9), ("first_seen", 11), ("bank_transaction_id", 24),
    ("ledger_entry_id", 20), ("description", 40), ("explanation", 50),
    ("nearest_candidate", 22),
)
EDITABLE_COLUMNS: Final = ("status", "owner", "notes")
MATCH_COLUMNS: Final = (
    ("match_id", 26), ("status", 22), ("rule", 18), ("score", 7), ("bank_transaction_id", 24),
    ("ledger_entry_id", 20), ("account", 14), ("currency", 8), ("amount_difference", 14),
    ("date_difference_days", 9), ("tie_out_difference", 14), ("explanation", 50),
    ("alternatives", 40),
)


def _letter(columns: Sequence[tuple[str, int]], name: str) -> str:
    return str(get_column_letter([c for c, _ in columns].index(name) + 1))


D_ACCOUNT: Final = _letter(DISCREPANCY_COLUMNS, "account")
D_SIDE: Final = _letter(DISCREPANCY_COLUMNS, "side")
D_AMOUNT: Final = _letter(DISCREPANCY_COLUMNS, "amount")
D_AGE: Final = _letter(DISCREPANCY_COLUMNS, "age_days")
D_STATUS: Final = _letter(DISCREPANCY_COLUMNS, "status")
D_OWNER: Final = _letter(DISCREPANCY_COLUMNS, "owner")
D_NOTES: Final = _letter(DISCREPANCY_COLUMNS, "notes")
M_STATUS: Final = _letter(MATCH_COLUMNS, "status")
M_ACCOUNT: Final = _letter(MATCH_COLUMNS, "account")
M_TIE_OUT: Final = _letter(MATCH_COLUMNS, "tie_out_difference")

HEADER_FONT: Final = Font(bold=True)
TITLE_FONT: Final = Font(bold=True, size=14)
RED_FILL: Final = PatternFill(start_color="FFF4C7C3", end_color="FFF4C7C3", fill_type="solid")
AMBER_FILL: Final = PatternFill(start_color="FFFCE8B2", end_color="FFFCE8B2", fill_type="solid")
PERCENT_FORMAT: Final = "0.0%"
DATETIME_FORMAT: Final = "yyyy-mm-dd hh:mm"


def number_format(currency: str) -> str:
    """'#,##0' for JPY, '#,##0.00' for USD, '#,##0.000' for KWD, and so on."""
    exponent = currency_exponent(currency)
    return "#,##0" if exponent == 0 else "#,##0." + "0" * exponent


def discrepancy_sheet_title(kind: str) -> str:
    return KIND_TITLES[kind]


def discrepancy_id_checksum(ids: Iterable[str]) -> str:
    """Identifies the set of discrepancy ids a workbook was generated with."""
    digest = hashlib.sha256()
    for discrepancy_id in sorted(ids):
        digest.update(discrepancy_id.encode("utf-8", "surrogatepass") + b"\n")
    return digest.hexdigest()


class _Cells:
    """Builds cells for one write-only sheet; plain values where that is safe (fast path)."""

    def __init__(self, sheet: Any) -> None:
        self.sheet = sheet
        self._money_styles: dict[str, Any] = {}

    def text(self, value: object) -> object:
        # XML parsers turn CR into LF anyway; doing it here keeps written == read back.
        text = clean_text(value).replace("\r\n", "\n").replace("\r", "\n")
        if not text:
            return None  # no cell at all: smaller and faster than an empty string cell
        if not needs_quote_prefix(text) and text not in ERROR_CODES:
            return text
        cell = WriteOnlyCell(self.sheet, value=text)
        cell.data_type = "s"  # never a formula or an error value, whatever the text says
        cell.quotePrefix = True
        return cell

    def money(self, minor: int, currency: str) -> object:
        amount = from_minor(minor, currency)
        if len(amount.as_tuple().digits) > EXCEL_SIGNIFICANT_DIGITS:
            return self.text(f"{amount:f}")  # would lose digits as a number: keep it exact
        cell = WriteOnlyCell(self.sheet, value=amount)
        style = self._money_styles.get(currency)
        if style is None:
            cell.number_format = number_format(currency)
            self._money_styles[currency] = cell._style  # shared, never mutated afterwards
        else:
            cell._style = style  # setting number_format per cell costs a style lookup each time
        return cell

    def formula(self, formula: str, fmt: str | None = None) -> object:
        cell = WriteOnlyCell(self.sheet, value=formula)
        cell.data_type = "f"
        if fmt:
            cell.number_format = fmt
        return cell

    def styled(self, value: object, *, font: Font | None = None, fmt: str | None = None) -> object:
        cell = WriteOnlyCell(self.sheet, value=value)
        if font is not None:
            cell.font = font
        if fmt is not None:
            cell.number_format = fmt
        return cell

    def header(self, names: Iterable[str]) -> list[object]:
        return [self.styled(clean_text(name), font=HEADER_FONT) for name in names]


def _naive_utc(moment: datetime | None) -> datetime | None:
    if moment is None:
        return None
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return moment


def _table_sheet(
    workbook: Workbook, title: str, columns: Sequence[tuple[str, int]]
) -> tuple[Any, _Cells]:
    sheet = workbook.create_sheet(title)
    for index, (_, width) in enumerate(columns, start=1):
        sheet.column_dimensions[get_column_letter(index)].width = width
    sheet.freeze_panes = "B2"
    cells = _Cells(sheet)
    sheet.append(cells.header(name for name, _ in columns))
    return sheet, cells


def _finish_table(sheet: Any, columns: Sequence[tuple[str, int]], rows: int) -> None:
    sheet.auto_filter.ref = f"A1:{get_column_letter(len(columns))}{max(rows, 1) + 1}"


def write_excel(report: Report, path: Path) -> Path:
    """Write the workbook atomically to ``path``."""
    workbook = Workbook(write_only=True)
    kind_titles = [discrepancy_sheet_title(kind) for kind in DISCREPANCY_KINDS]
    sheet_names = [SUMMARY_SHEET, TIE_OUT_SHEET, *kind_titles, MATCHES_SHEET, CHANGES_SHEET]
    if report.rejected_rows:
        sheet_names.append(REJECTED_SHEET)
    links, links_truncated = workbook_links(report)

    _write_summary(workbook, report, sheet_names, links_truncated)
    _write_tie_out(workbook, report)
    for section in report.sections:
        _write_discrepancies(workbook, discrepancy_sheet_title(section.kind), section.lines)
    _write_matches(workbook, links)
    _write_changes(workbook, report)
    if report.rejected_rows:
        _write_rejected(workbook, report)
    _write_meta(workbook, report)
    with atomic_path(path) as temp:
        workbook.save(temp)
    return path


def _write_summary(
    workbook: Workbook, report: Report, sheet_names: list[str], links_truncated: int
) -> None:
    s = report.summary
    sheet = workbook.create_sheet(SUMMARY_SHEET)
    for letter, width in zip("ABCDEF", (34, 24, 14, 14, 18, 18), strict=True):
        sheet.column_dimensions[letter].width = width
    c = _Cells(sheet)
    sheet.append([c.styled(f"Bank reconciliation: {clean_text(s.account_set)}", font=TITLE_FONT)])
    sheet.append(["Run id", c.text(s.run_id)])
    sheet.append(["As of", s.as_of])
    sheet.append(["Window start", s.window_start])
    sheet.append(["Window end", s.window_end])
    sheet.append(["Generated at (UTC)", c.styled(_naive_utc(s.generated_at), fmt=DATETIME_FORMAT)])
    sheet.append(["Alert threshold exceeded", "YES" if report.threshold.exceeded else "no"])
    for reason in report.threshold.reasons:
        sheet.append(["", c.text(reason)])
    if links_truncated:
        sheet.append(["Note", f"{links_truncated} auto-matched links without a difference are "
                              "not listed in the Matches sheet; matches.csv has every link"])
    sheet.append([])
    sheet.append([c.styled("Sheets", font=HEADER_FONT)])
    for name in sheet_names[1:]:
        # Sheet names are recon's own constants, never data.
        sheet.append([c.formula(f"=HYPERLINK(\"#'{name}'!A1\",\"{name}\")")])
    sheet.append([])
    sheet.append(c.header(["Accounts", "Name", "Currency"]))
    for account in s.accounts:
        sheet.append([c.text(account.ledger_account), c.text(account.name), account.currency])
    sheet.append([])
    sheet.append(c.header(["Links by status", "Groups", "Links", "Currency", "Difference"]))
    for status in s.link_statuses:
        first = [status.title, status.groups, status.links]
        if not status.difference:
            sheet.append(first)
        for total in status.difference:
            sheet.append([*first, total.currency, c.money(total.minor, total.currency)])
            first = ["", None, None]
    sheet.append(["Bank items auto-matched", s.bank_items_auto_matched, s.bank_items])
    sheet.append(["Auto-match rate", c.styled(s.auto_match_rate, fmt=PERCENT_FORMAT)])
    sheet.append([])
    sheet.append(c.header(["Discrepancies by kind", "Count", "Open", "Currency",
                           "Total (absolute)"]))
    for kind in s.discrepancy_kinds:
        first = [kind.title, kind.count, kind.open_count]
        if not kind.total_abs:
            sheet.append(first)
        for total in kind.total_abs:
            sheet.append([*first, total.currency, c.money(total.minor, total.currency)])
            first = ["", None, None]
    sheet.append(["Oldest open item (days)", s.oldest_open_age_days])
    sheet.append(["Rejected ledger rows", s.rejected_row_count])
    sheet.append([])
    sheet.append(c.header(["Bank connection", "Item", "Last successful sync (UTC)", "Status"]))
    for item in s.item_health:
        sheet.append([c.text(item.institution), c.text(item.item_id),
                      c.styled(_naive_utc(item.last_successful_sync), fmt=DATETIME_FORMAT),
                      c.text("; ".join((item.status, *item.notes)))])
    if s.items_needing_relink:
        sheet.append(["Needs re-link", c.text(", ".join(i.institution or i.item_id
                                                      for i in s.items_needing_relink))])


TIE_OUT_COLUMNS: Final = (
    ("account", 14), ("name", 24), ("currency", 8), ("bank_movement", 16),
    ("ledger_movement", 16), ("difference", 16),
    *((KIND_TITLES[kind].lower().replace(" ", "_"), 16) for kind in DISCREPANCY_KINDS),
    *((f"{status}_differences", 16) for status in reversed(LINK_ORDER)),
    ("outstanding_total", 16), ("unexplained_difference", 18), ("plaid_balance", 16),
)


def tie_out_cell(column: str, row: int) -> str:
    """The coordinate of a tie-out cell, e.g. ``tie_out_cell("unexplained_difference", 2)``."""
    return f"{_letter(TIE_OUT_COLUMNS, column)}{row}"


def _kind_formula(kind: str, row: int) -> str:
    sheet = f"'{discrepancy_sheet_title(kind)}'"
    amount, account, side = (f"{sheet}!${col}:${col}" for col in (D_AMOUNT, D_ACCOUNT, D_SIDE))

    def by_side(value: str) -> str:
        return f'SUMIFS({amount},{account},$A{row},{side},"{value}")'

    return f"={by_side('bank')}-{by_side('ledger')}+{by_side('both')}"


def _link_formula(status: str, row: int) -> str:
    sheet = f"'{MATCHES_SHEET}'"
    return (f"=SUMIFS({sheet}!${M_TIE_OUT}:${M_TIE_OUT},{sheet}!${M_ACCOUNT}:${M_ACCOUNT},"
            f'$A{row},{sheet}!${M_STATUS}:${M_STATUS},"{status}")')


def _write_tie_out(workbook: Workbook, report: Report) -> None:
    sheet = workbook.create_sheet(TIE_OUT_SHEET)
    for index, (_, width) in enumerate(TIE_OUT_COLUMNS, start=1):
        sheet.column_dimensions[get_column_letter(index)].width = width
    sheet.freeze_panes = "B2"
    c = _Cells(sheet)
    sheet.append(c.header(name for name, _ in TIE_OUT_COLUMNS))
    first_item = _letter(TIE_OUT_COLUMNS, KIND_TITLES[DISCREPANCY_KINDS[0]].lower().replace(" ",
                                                                                          "_"))
    last_item = _letter(TIE_OUT_COLUMNS, f"{LINK_ORDER[0]}_differences")
    for row, tie in enumerate(report.tie_outs, start=2):
        fmt = number_format(tie.currency)
        bank, ledger = tie_out_cell("bank_movement", row), tie_out_cell("ledger_movement", row)
        difference, outstanding = tie_out_cell("difference", row), tie_out_cell(
            "outstanding_total", row)
        sheet.append([
            c.text(tie.account), c.text(tie.name), tie.currency,
            c.money(tie.bank_movement_minor, tie.currency),
            c.money(tie.ledger_movement_minor, tie.currency),
            c.formula(f"={bank}-{ledger}", fmt),
            *(c.formula(_kind_formula(kind, row), fmt) for kind in DISCREPANCY_KINDS),
            *(c.formula(_link_formula(status, row), fmt) for status in reversed(LINK_ORDER)),
            c.formula(f"=SUM({first_item}{row}:{last_item}{row})", fmt),
            c.formula(f"={difference}-{outstanding}", fmt),
            None if tie.plaid_balance_minor is None
            else c.money(tie.plaid_balance_minor, tie.currency),
        ])
    _finish_table(sheet, TIE_OUT_COLUMNS, len(report.tie_outs))
    last = len(report.tie_outs) + 1
    unexplained = _letter(TIE_OUT_COLUMNS, "unexplained_difference")
    if report.tie_outs:
        sheet.conditional_formatting.add(
            f"{unexplained}2:{unexplained}{last}",
            CellIsRule(operator="notEqual", formula=["0"], fill=RED_FILL),
        )
    sheet.append([])
    sheet.append([c.text("Outstanding items are live SUMIFS over the detail sheets; the plaid "
                         "balance is the bank's balance at the last sync, for reference.")])


def _write_discrepancies(workbook: Workbook, title: str, lines: Sequence[DiscrepancyLine]) -> None:
    sheet, c = _table_sheet(workbook, title, DISCREPANCY_COLUMNS)
    rows = lines[:EXCEL_MAX_DATA_ROWS]
    for line in rows:
        sheet.append([
            c.text(line.discrepancy_id), line.status, c.text(line.owner), c.text(line.notes),
            line.kind, line.side, c.text(line.account), line.currency, line.date,
            c.money(line.amount_minor, line.currency), line.age_days, line.age_bucket,
            line.first_seen, c.text(line.bank_transaction_id), c.text(line.ledger_entry_id),
            c.text(line.description), c.text(line.explanation), c.text(line.nearest_candidate),
        ])
    _finish_table(sheet, DISCREPANCY_COLUMNS, len(rows))
    last = max(len(rows), 1) + 1
    statuses = DataValidation(
        type="list", formula1='"' + ",".join(ANALYST_STATUSES) + '"', allow_blank=True,
        showErrorMessage=True, errorTitle="status", error="open, explained or written_off",
    )
    statuses.add(f"{D_STATUS}2:{D_STATUS}{last}")
    owners = DataValidation(type="textLength", operator="lessThanOrEqual", formula1="100",
                            allow_blank=True, showErrorMessage=True, error="100 characters max")
    owners.add(f"{D_OWNER}2:{D_OWNER}{last}")
    notes = DataValidation(type="textLength", operator="lessThanOrEqual", formula1="2000",
                           allow_blank=True, showErrorMessage=True, error="2000 characters max")
    notes.add(f"{D_NOTES}2:{D_NOTES}{last}")
    for validation in (statuses, owners, notes):
        sheet.data_validations.append(validation)
    ages = f"{D_AGE}2:{D_AGE}{last}"
    sheet.conditional_formatting.add(
        ages, CellIsRule(operator="greaterThan", formula=["30"], fill=RED_FILL))
    sheet.conditional_formatting.add(
        ages, CellIsRule(operator="between", formula=["8", "30"], fill=AMBER_FILL))
    sheet.conditional_formatting.add(
        f"{D_AMOUNT}2:{D_AMOUNT}{last}",
        DataBarRule(start_type="min", end_type="max", color="FF638EC6"))


def workbook_links(report: Report) -> tuple[list[LinkLine], int]:
    """The links the Matches sheet lists (every link needing review, and clean auto-matched
    ones up to EXCEL_MAX_CLEAN_MATCHED_ROWS), and how many are left to matches.csv."""
    shown: list[LinkLine] = []
    clean_matched = 0
    for link in report.links:
        if link.status == "matched" and link.amount_difference_minor == 0:
            clean_matched += 1
            if clean_matched > EXCEL_MAX_CLEAN_MATCHED_ROWS:
                continue
        shown.append(link)
    shown = shown[:EXCEL_MAX_DATA_ROWS]
    return shown, len(report.links) - len(shown)


def _write_matches(workbook: Workbook, rows: Sequence[LinkLine]) -> None:
    sheet, c = _table_sheet(workbook, MATCHES_SHEET, MATCH_COLUMNS)
    for link in rows:
        sheet.append([
            c.text(link.match_id), link.status, c.text(link.rule), round(link.score, 4),
            c.text(link.bank_transaction_id), c.text(link.ledger_entry_id), c.text(link.account),
            link.currency, c.money(link.amount_difference_minor, link.currency),
            link.date_difference_days,
            c.money(link.amount_difference_minor if link.first_of_group else 0, link.currency),
            c.text(link.explanation), c.text(link.alternatives),
        ])
    _finish_table(sheet, MATCH_COLUMNS, len(rows))
    if rows:
        last = len(rows) + 1
        sheet.conditional_formatting.add(
            f"{M_STATUS}2:{M_STATUS}{last}",
            CellIsRule(operator="equal", formula=['"suggested"'], fill=AMBER_FILL))


CHANGE_COLUMNS: Final = (
    ("change", 22), ("id", 28), ("kind", 18), ("account", 14), ("currency", 8), ("date", 11),
    ("amount", 15), ("description", 40),
)


def _write_changes(workbook: Workbook, report: Report) -> None:
    sheet, c = _table_sheet(workbook, CHANGES_SHEET, CHANGE_COLUMNS)
    changes = report.changes

    def ref_row(change: str, ref: DiscrepancyRef) -> list[object]:
        return [change, c.text(ref.discrepancy_id), ref.kind, c.text(ref.account), ref.currency,
                ref.date, c.money(ref.amount_minor, ref.currency), c.text(ref.description)]

    rows = 0
    for ref in changes.new_discrepancies:
        sheet.append(ref_row("new discrepancy", ref))
        rows += 1
    for ref in changes.resolved_discrepancies:
        sheet.append(ref_row("resolved discrepancy", ref))
        rows += 1
    for match_id in changes.matches_added:
        sheet.append(["match added", c.text(match_id)])
        rows += 1
    for match_id in changes.matches_removed:
        sheet.append(["match removed", c.text(match_id)])
        rows += 1
    _finish_table(sheet, CHANGE_COLUMNS, rows)
    sheet.append([])
    previous = changes.previous_as_of.isoformat() if changes.previous_as_of else "none"
    sheet.append([f"Compared with the reconciliation as of {previous}"])


def _write_rejected(workbook: Workbook, report: Report) -> None:
    columns = (("file", 30), ("row", 8), ("column", 18), ("reason", 60))
    sheet, c = _table_sheet(workbook, REJECTED_SHEET, columns)
    for problem in report.rejected_rows:
        sheet.append([c.text(problem.file), problem.row, c.text(problem.column or ""),
                      c.text(problem.reason)])
    _finish_table(sheet, columns, len(report.rejected_rows))


def _write_meta(workbook: Workbook, report: Report) -> None:
    sheet = workbook.create_sheet(META_SHEET)
    sheet.sheet_state = "hidden"
    c = _Cells(sheet)
    ids = [line.discrepancy_id for line in report.discrepancies]
    for key, value in (
        ("format", META_FORMAT),
        ("run_id", report.summary.run_id),
        ("as_of", report.summary.as_of.isoformat()),
        ("account_set", report.summary.account_set),
        ("discrepancy_count", str(len(ids))),
        ("discrepancy_id_sha256", discrepancy_id_checksum(ids)),
    ):
        sheet.append([key, c.text(value)])


__all__ = [
    "CHANGES_SHEET", "MATCHES_SHEET", "META_SHEET", "REJECTED_SHEET", "SUMMARY_SHEET",
    "TIE_OUT_SHEET", "discrepancy_id_checksum", "discrepancy_sheet_title", "number_format",
    "tie_out_cell", "write_excel",
]
