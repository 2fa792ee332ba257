"""The Excel workbook, re-opened with openpyxl (and recalculated by LibreOffice where installed)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import warnings
import zipfile
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from openpyxl import load_workbook
from test_report_support import FORMULA, XSS, inputs, sample_result

from recon.errors import RowProblem
from recon.reporting import build_report
from recon.reporting.excel import (
    META_SHEET,
    TIE_OUT_SHEET,
    discrepancy_id_checksum,
    number_format,
    tie_out_cell,
    write_excel,
)

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

# The only formulas recon writes: tie-out SUMIFS / SUM / differences and the sheet index.
TEMPLATE_FORMULAS = (
    r"SUMIFS\('[A-Za-z -]+'!\$[A-Z]:\$[A-Z],'[A-Za-z -]+'!\$[A-Z]:\$[A-Z],\$A\d+,.*",
    r"[A-Z]\d+-[A-Z]\d+",
    r"SUM\([A-Z]\d+:[A-Z]\d+\)",
    r"HYPERLINK\(\"#'[A-Za-z -]+'!A1\",\"[A-Za-z -]+\"\)",
)


@pytest.fixture(scope="module")
def workbook_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("xlsx") / "reconciliation-2024-03-15.xlsx"
    rejected = (RowProblem("ledger.csv", 7, "amount", "not a number: '=1+1'"),)
    write_excel(build_report(inputs(sample_result(description=FORMULA), rejected=rejected)), path)
    return path


def test_sheets_index_and_meta(workbook_path: Path) -> None:
    workbook = load_workbook(workbook_path)
    assert workbook.sheetnames == [
        "Summary",
        "Tie-out",
        "Unmatched bank",
        "Unmatched ledger",
        "Amount mismatch",
        "Probable duplicate",
        "Reversal",
        "Pending",
        "Matches",
        "Changes",
        "Rejected rows",
        "_meta",
    ]
    assert workbook[META_SHEET].sheet_state == "hidden"
    meta = {row[0]: row[1] for row in workbook[META_SHEET].iter_rows(values_only=True)}
    assert meta["run_id"] == "run-1" and meta["account_set"] == "operating"
    assert meta["discrepancy_id_sha256"] == discrepancy_id_checksum(
        ["d-b3", "d-p1", "d-l3", "d-b4", "d-y2"]
    )
    index = [
        c.value
        for row in workbook["Summary"].iter_rows()
        for c in row
        if isinstance(c.value, str) and c.value.startswith("=HYPERLINK")
    ]
    assert '=HYPERLINK("#\'Tie-out\'!A1","Tie-out")' in index and len(index) == 10


def test_tie_out_cells_are_formulas_over_the_detail_sheets(workbook_path: Path) -> None:
    sheet = load_workbook(workbook_path)[TIE_OUT_SHEET]
    assert sheet[tie_out_cell("bank_movement", 2)].value == 192
    unmatched_bank = sheet[tie_out_cell("unmatched_bank", 2)].value
    assert unmatched_bank.startswith("=SUMIFS('Unmatched bank'!$J:$J,'Unmatched bank'!$G:$G,$A2")
    assert "'Matches'!$K:$K" in sheet[tie_out_cell("matched_with_difference_differences", 2)].value
    assert sheet[tie_out_cell("unexplained_difference", 2)].value == "=F2-P2"
    assert sheet[tie_out_cell("outstanding_total", 2)].value == "=SUM(G2:O2)"
    assert sheet[tie_out_cell("difference", 3)].number_format == "#,##0"  # JPY
    assert sheet[tie_out_cell("difference", 2)].number_format == "#,##0.00"  # USD
    assert sheet.freeze_panes == "B2" and sheet.auto_filter.ref == "A1:R3"


def test_detail_sheets_have_numbers_dates_formats_filters_and_validation(
    workbook_path: Path,
) -> None:
    workbook = load_workbook(workbook_path)
    sheet = workbook["Unmatched bank"]
    header = [c.value for c in sheet[1]]
    assert header[:4] == ["discrepancy_id", "status", "owner", "notes"]
    rows = {r[0].value: r for r in sheet.iter_rows(min_row=2)}
    jpy, usd = rows["d-y2"], rows["d-b3"]
    amount = header.index("amount")
    assert (jpy[amount].value, jpy[amount].number_format) == (5000, "#,##0")
    assert (usd[amount].value, usd[amount].number_format) == (20, "#,##0.00")
    assert Decimal(str(usd[amount].value)) == Decimal("20.00")
    assert isinstance(usd[header.index("date")].value, datetime)
    assert usd[header.index("date")].value.date() == date(2024, 3, 14)
    assert isinstance(usd[header.index("first_seen")].value, datetime)
    assert sheet.freeze_panes == "B2" and sheet.auto_filter.ref == "A1:R3"
    validations = sheet.data_validations.dataValidation
    assert any(
        v.formula1 == '"open,explained,written_off"' and "B2:B3" in str(v.sqref)
        for v in validations
    )
    assert len(sheet.conditional_formatting) >= 2
    matches = workbook["Matches"]
    assert matches["A2"].value == "m-b5" and matches["B2"].value == "suggested"
    assert matches.auto_filter.ref == "A1:M5"
    assert [number_format(c) for c in ("JPY", "USD", "KWD")] == ["#,##0", "#,##0.00", "#,##0.000"]


def _sheet_xml(path: Path) -> dict[str, str]:
    with zipfile.ZipFile(path) as archive:
        return {
            name: archive.read(name).decode("utf-8")
            for name in archive.namelist()
            if name.startswith("xl/worksheets/sheet")
        }


def test_injection_payloads_arrive_as_inert_text(tmp_path: Path) -> None:
    path = tmp_path / "r.xlsx"
    report = build_report(inputs(sample_result(description=FORMULA)))
    lines = report.sections[0].lines
    # Every payload as a description, an owner and a note of a discrepancy.
    from dataclasses import replace

    payload_lines = tuple(
        replace(lines[0], discrepancy_id=f"d-x{i}", description=text, owner=text[:100], notes=text)
        for i, text in enumerate((*INJECTIONS, XSS, "a\x00b\x1fc\ud800", "z" * 40_000))
    )
    sections = (replace(report.sections[0], lines=payload_lines), *report.sections[1:])
    write_excel(replace(report, sections=sections), path)

    formulas = [f for xml in _sheet_xml(path).values() for f in re.findall(r"<f>(.*?)</f>", xml)]
    assert formulas and all(any(re.fullmatch(t, f) for t in TEMPLATE_FORMULAS) for f in formulas)
    assert not any("http" in f or "cmd|" in f for f in formulas)

    workbook = load_workbook(path)
    sheet = workbook["Unmatched bank"]
    header = [c.value for c in sheet[1]]
    cells = {row[0].value: row for row in sheet.iter_rows(min_row=2)}
    description = header.index("description")
    for i, text in enumerate(INJECTIONS):
        cell = cells[f"d-x{i}"][description]
        assert cell.data_type == "s" and cell.value == text.replace("\r", "\n"), text
        if text[0] in "=+-@\t\r\n{#":
            assert cell.quotePrefix, text
    assert cells[f"d-x{len(INJECTIONS)}"][description].value == XSS
    assert cells[f"d-x{len(INJECTIONS) + 1}"][description].value == "a\ufffdb\ufffdc\ufffd"
    long = cells[f"d-x{len(INJECTIONS) + 2}"][description].value
    assert len(long) == 32_767 and long.endswith("[truncated]")


@pytest.mark.libreoffice
def test_libreoffice_recalculates_a_fully_explained_tie_out_to_zero(
    workbook_path: Path,
    tmp_path: Path,
) -> None:
    soffice = shutil.which("soffice") or shutil.which("libreoffice")
    if soffice is None:
        pytest.skip("LibreOffice (soffice) is not installed; the recalculation test needs it")
    source = tmp_path / "in" / "report.xlsx"
    source.parent.mkdir()
    shutil.copy(workbook_path, source)
    out = tmp_path / "out"
    subprocess.run(
        [
            soffice,
            "--headless",
            "--norestore",
            f"-env:UserInstallation=file://{tmp_path}/lo",
            "--convert-to",
            "xlsx",
            "--outdir",
            str(out),
            str(source),
        ],
        check=True,
        capture_output=True,
        timeout=180,
        env={**os.environ, "HOME": str(tmp_path)},
    )
    with warnings.catch_warnings():
        # LibreOffice adds extensions openpyxl does not know; irrelevant to the values read here.
        warnings.simplefilter("ignore", UserWarning)
        sheet = load_workbook(out / "report.xlsx", data_only=True)[TIE_OUT_SHEET]
    for row in (2, 3):
        assert sheet[tie_out_cell("difference", row)].value == pytest.approx([-6.5, 5000][row - 2])
        assert sheet[tie_out_cell("outstanding_total", row)].value == pytest.approx(
            [-6.5, 5000][row - 2]
        )
        assert sheet[tie_out_cell("unexplained_difference", row)].value == 0
    assert sheet[tie_out_cell("unmatched_ledger", 2)].value == pytest.approx(-30)
    assert sheet[tie_out_cell("matched_with_difference_differences", 2)].value == pytest.approx(0.5)


def test_clean_auto_matches_beyond_the_cap_are_left_to_the_csv(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from recon.reporting import excel

    report = build_report(inputs(sample_result()))
    clean = [
        ln for ln in report.links if ln.status == "matched" and ln.amount_difference_minor == 0
    ]
    assert len(clean) >= 2
    monkeypatch.setattr(excel, "EXCEL_MAX_CLEAN_MATCHED_ROWS", 1)
    shown, left_out = excel.workbook_links(report)
    assert left_out == len(clean) - 1
    assert all(
        ln in shown
        for ln in report.links
        if ln.status != "matched" or ln.amount_difference_minor != 0
    )
    path = excel.write_excel(report, tmp_path / "r.xlsx")
    summary = load_workbook(path)["Summary"]
    notes = [row[1] for row in summary.iter_rows(values_only=True) if row and row[0] == "Note"]
    assert notes and "not listed in the Matches sheet" in str(notes[0])
