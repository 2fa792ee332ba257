"""The Excel workbook, re-opened with openpyxl and recalculated by LibreOffice where installed."""

from __future__ import annotations

import re
import warnings
import zipfile
from dataclasses import replace
from pathlib import Path

import pytest
from openpyxl import load_workbook
from test_report_support import (
    FORMULA,
    XSS,
    inputs,
    libreoffice_convert,
    sample_result,
    statement_differences,
)

from recon.errors import RowProblem
from recon.reporting import build_report
from recon.reporting.excel import (
    ACTION_SHEET,
    META_SHEET,
    STATEMENT_SHEET,
    TIMING_SHEET,
    discrepancy_id_checksum,
    number_format,
    write_excel,
)
from recon.reporting.model import Category

INJECTIONS = (
    FORMULA,
    "=cmd|' /C calc'!A0",
    "+1+2",
    "-2+3",
    "@SUM(1)",
    "\t=1",
    "\r=1",
    "\n=1",
    "{=1+1}",
    "#N/A",
    "'=1",
)

# The only formulas recon writes: statement lines over the item sheets, sums, differences,
# subtotals of the item sheets.
TEMPLATE_FORMULAS = (
    r"ROUND\(SUMIFS\('(Timing items|Needs action)'!\$[A-Z]+:\$[A-Z]+,'(Timing items|Needs "
    r"action)'!\$[A-Z]+:\$[A-Z]+,\$B\$\d+,'(Timing items|Needs action)'!\$[A-Z]+:\$[A-Z]+,"
    r"\"[a-z_]+\"\),\d\)",
    r"ROUND\(SUM\(B\d+:B\d+\),\d\)",
    r"ROUND\(B\d+-B\d+,\d\)",
    r"SUBTOTAL\(9,[A-Z]+\d+:[A-Z]+\d+\)",
)


def _load(path: Path, **kwargs: object) -> object:
    with warnings.catch_warnings():
        # XlsxWriter's data bars are an extension openpyxl does not read; irrelevant here.
        warnings.simplefilter("ignore", UserWarning)
        return load_workbook(path, **kwargs)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def workbook_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("xlsx") / "reconciliation-2024-03-15.xlsx"
    rejected = (RowProblem("ledger.csv", 7, "amount", "not a number: '=1+1'"),)
    write_excel(build_report(inputs(sample_result(description=FORMULA), rejected=rejected)), path)
    return path


def _statement_rows(sheet: object) -> dict[str, list[object]]:
    rows: dict[str, list[object]] = {}
    for row in sheet.iter_rows():  # type: ignore[attr-defined]
        label = row[0].value
        if isinstance(label, str):
            rows.setdefault(label.strip(), []).append(row[1].value)
    return rows


def test_sheets_index_and_meta(workbook_path: Path) -> None:
    workbook = _load(workbook_path)
    assert workbook.sheetnames == [  # type: ignore[attr-defined]
        "Statement", "Summary", "Timing items", "Needs action", "Review suggestions",
        "Matches", "Journal entries", "Changes", "Rejected rows", "_meta",
    ]
    assert workbook[META_SHEET].sheet_state == "hidden"  # type: ignore[index]
    meta = {row[0]: row[1] for row in workbook[META_SHEET].iter_rows(values_only=True)}  # type: ignore[index]
    assert meta["run_id"] == "run-1" and meta["account_set"] == "operating"
    assert meta["format"] == "recon-annotations-2"
    assert meta["discrepancy_id_sha256"] == discrepancy_id_checksum(
        ["d-b3", "d-p1", "d-l3", "d-b4", "d-y2"]
    )
    links = [c.hyperlink.location for row in workbook["Summary"].iter_rows()  # type: ignore[index]
             for c in row if c.hyperlink is not None]
    assert "'Statement'!A1" in links and "'Needs action'!A1" in links and len(links) == 8


def test_statement_lines_are_rounded_formulas_with_cached_values(workbook_path: Path) -> None:
    formulas = _statement_rows(_load(workbook_path)[STATEMENT_SHEET])  # type: ignore[index]
    cached = _statement_rows(_load(workbook_path, data_only=True)[STATEMENT_SHEET])  # type: ignore[index]
    dit = formulas["Add: deposits in transit"][0]
    assert isinstance(dit, str) and dit.startswith("=ROUND(SUMIFS('Timing items'!$L:$L,")
    assert dit.endswith(',"deposit_in_transit"),2)')
    assert formulas["Adjusted bank balance"][0] == "=ROUND(SUM(B5:B9),2)"
    assert cached["Add: deposits in transit"] == [30, 0]
    assert cached["Balance per bank at 2024-03-15"] == [1187, 106200]
    assert cached["Adjusted bank balance"] == cached["Adjusted book balance"] == [1217, 106200]
    assert cached["Difference (adjusted bank - adjusted book)"] == [0, 0]
    assert cached["Bank movement over the window"] == [192, 6200]
    assert cached["Unexplained"] == [0, 0]


def test_page_setup_prints_landscape_fit_to_width_with_headers(workbook_path: Path) -> None:
    workbook = _load(workbook_path)
    for name in (TIMING_SHEET, ACTION_SHEET, "Matches", "Journal entries"):
        sheet = workbook[name]  # type: ignore[index]
        assert sheet.page_setup.orientation == "landscape", name
        assert sheet.sheet_properties.pageSetUpPr.fitToPage, name
        # fitToWidth 1 is the file format's default (left out); 0 pages tall = as many as needed
        assert sheet.page_setup.fitToWidth in (None, 1) and sheet.page_setup.fitToHeight == 0, name
        assert sheet.print_title_rows == "$2:$2", name
        assert "As of 2024-03-15" in sheet.oddHeader.right.text, name
        assert sheet.freeze_panes == "B3", name
    statement = workbook[STATEMENT_SHEET]  # type: ignore[index]
    assert statement.page_setup.orientation != "landscape"
    assert len(statement.row_breaks.brk) == 1  # one printed page per account


def test_item_sheets_have_words_formats_totals_filters_and_validation(workbook_path: Path) -> None:
    workbook = _load(workbook_path)
    sheet = workbook[ACTION_SHEET]  # type: ignore[index]
    header = [c.value for c in sheet[2]]
    assert header[:6] == ["Item id", "Status", "Owner", "Notes", "What it is", "Account"]
    rows = {r[0].value: r for r in sheet.iter_rows(min_row=3)}
    mismatch = rows["d-b4"]
    col = {name: header.index(name) for name in header}
    assert mismatch[col["Amount"]].value == -2 and mismatch[col["Currency"]].value == "USD"
    assert mismatch[col["Amount"]].number_format == number_format("USD") == "#,##0.00;(#,##0.00)"
    assert "10.00 USD" in mismatch[col["Bank transaction"]].value
    assert "12.00 USD" in mismatch[col["Ledger entry"]].value
    assert mismatch[col["Line"]].value == Category.BOOK_ERROR
    assert "Dr 1999 Suspense 2.00" in mismatch[col["Proposed entry"]].value
    assert rows["d-y2"][col["Amount"]].number_format == "#,##0;(#,##0)"  # JPY
    assert rows["d-y2"][col["Amount (USD)"]].value == pytest.approx(33.5)
    assert sheet["K1"].value.startswith("=SUBTOTAL(9,K3:K")
    assert sheet.auto_filter.ref.startswith("A2:")
    validations = {str(v.sqref): v for v in sheet.data_validations.dataValidation}
    assert any(v.formula1 == '"open,explained,written_off"' for v in validations.values())
    timing = workbook[TIMING_SHEET]  # type: ignore[index]
    assert [r[0].value for r in timing.iter_rows(min_row=3)] == ["d-l3", "d-p1"]


def test_injection_payloads_arrive_as_inert_text(tmp_path: Path) -> None:
    path = tmp_path / "r.xlsx"
    report = build_report(inputs(sample_result(description=FORMULA)))
    first = next(i for i in report.items if i.item_id == "d-b3")
    payload_items = tuple(
        replace(first, item_id=f"d-x{i}", member_ids=(f"d-x{i}",), explanation=text,
                owner=text[:100], notes=text)
        for i, text in enumerate((*INJECTIONS, XSS, "a\x00b\x1fc\ud800", "z" * 40_000))
    )
    write_excel(replace(report, items=payload_items), path)

    with zipfile.ZipFile(path) as archive:
        xml = "".join(archive.read(n).decode() for n in archive.namelist()
                      if n.startswith("xl/worksheets/"))
    formulas = re.findall(r"<f>(.*?)</f>", xml)
    assert formulas
    assert all(any(re.fullmatch(t, f.replace("&quot;", '"')) for t in TEMPLATE_FORMULAS)
               for f in formulas), formulas
    assert not any("http" in f or "cmd|" in f for f in formulas)

    sheet = _load(path)[ACTION_SHEET]  # type: ignore[index]
    header = [c.value for c in sheet[2]]
    cells = {row[0].value: row for row in sheet.iter_rows(min_row=3)}
    why, notes = header.index("Why"), header.index("Notes")
    for i, text in enumerate(INJECTIONS):
        cell = cells[f"d-x{i}"][why]
        assert cell.data_type == "s" and cell.value == text.replace("\r", "\n"), text
        if text[0] in "=+-@\t\r\n{#":
            assert cell.quotePrefix, text
        assert cells[f"d-x{i}"][notes].value == text.replace("\r", "\n")
    assert cells[f"d-x{len(INJECTIONS)}"][why].value == XSS
    assert cells[f"d-x{len(INJECTIONS) + 1}"][why].value == "a\ufffdb\ufffdc\ufffd"
    long = cells[f"d-x{len(INJECTIONS) + 2}"][why].value
    assert len(long) == 32_767 and long.endswith("[truncated]")


@pytest.mark.libreoffice
def test_libreoffice_recalculates_the_statement_and_follows_an_edit(
    workbook_path: Path, tmp_path: Path
) -> None:
    recalculated = libreoffice_convert(workbook_path, tmp_path / "out", "csv", tmp_path / "lo")
    assert statement_differences(recalculated) == ["0.00", "0"]
    # Delete the deposit in transit from the Timing items sheet: the statement's SUMIFS follow.
    edited = tmp_path / "edited" / "edited.xlsx"
    edited.parent.mkdir()
    workbook = _load(workbook_path)
    timing = workbook[TIMING_SHEET]  # type: ignore[index]
    row = next(r[0].row for r in timing.iter_rows(min_row=3) if r[0].value == "d-l3")
    timing.delete_rows(row)
    workbook.save(edited)  # type: ignore[attr-defined]
    again = libreoffice_convert(edited, tmp_path / "out2", "csv", tmp_path / "lo")
    assert statement_differences(again) == ["(30.00)", "0"]


def test_clean_auto_matches_beyond_the_cap_are_left_to_the_csv(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from recon.reporting import excel

    report = build_report(inputs(sample_result()))
    frame = report.links.frame
    clean = int(((frame["status"] == "matched") & (frame["amount_difference_minor"] == 0)).sum())
    confirmed = int((frame["status"] != "suggested").sum())
    assert clean >= 2
    monkeypatch.setattr(excel, "EXCEL_MAX_CLEAN_MATCHED_ROWS", 1)
    shown, left_out = excel.workbook_links(report)
    assert left_out == clean - 1 and len(shown) == confirmed - left_out
    assert all(frame["status"].iloc[p] != "suggested" for p in shown)  # on Review suggestions
    path = excel.write_excel(report, tmp_path / "r.xlsx")
    summary = _load(path)["Summary"]  # type: ignore[index]
    notes = [row[1] for row in summary.iter_rows(values_only=True) if row and row[0] == "Note"]
    assert notes and "not on the Matches sheet" in str(notes[0])
    matches = _load(path)["Matches"]  # type: ignore[index]
    header = [c.value for c in matches[2]]
    assert header[:5] == ["Match id", "Status", "Bank date", "Bank amount", "Bank description"]
    assert matches.max_row == 2 + len(shown)
