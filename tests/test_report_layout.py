"""What finance sees on the demo: the page laid out in a real Chromium on a 1440 px screen and a
390 px phone, printed to PDF, and the workbook recalculated by LibreOffice, before and after a
ledger row goes missing from the export."""

from __future__ import annotations

import base64
import csv
import hashlib
import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import yaml
from test_report_support import libreoffice_convert, statement_differences

from recon import pipeline
from recon.config import Config, parse_config
from recon.demo import demo_config, link_demo_banks, prepare_demo_data
from recon.plaid.tokens import generate_key

REPO = Path(__file__).resolve().parents[1]
AS_OF = date(2026, 11, 20)
LINES_PER_ROW = 6  # "no row taller than a few lines"

MEASURE = """
(function () {
  function box(el) { var b = el.getBoundingClientRect(); return {left: b.left, right: b.right,
    width: b.width, height: b.height}; }
  var r = {viewport: window.innerWidth, pageWidth: document.documentElement.scrollWidth,
           tables: [], rows: [], statusHeaders: [], cells: 0, clippedCells: []};
  Array.prototype.forEach.call(document.querySelectorAll("section table"), function (t) {
    var wrap = t.parentElement;
    r.tables.push({id: t.id || t.className, table: box(t), wrapScroll: wrap.scrollWidth,
                   wrapClient: wrap.clientWidth,
                   sticky: t.tHead ? getComputedStyle(t.tHead.rows[0].cells[0]).position : ""});
  });
  Array.prototype.forEach.call(document.querySelectorAll("table.items"), function (t) {
    var lh = parseFloat(getComputedStyle(t.tBodies[0].rows[0].cells[0]).lineHeight);
    Array.prototype.forEach.call(t.tBodies[0].rows, function (row) {
      r.rows.push({table: t.id, height: row.getBoundingClientRect().height, line: lh});
      Array.prototype.forEach.call(row.cells, function (cell) {
        r.cells += 1;
        if (cell.scrollWidth > cell.clientWidth + 1) { r.clippedCells.push(t.id); }
      });
    });
    Array.prototype.forEach.call(t.tHead.rows[0].cells, function (th) {
      if (th.textContent === "Status") {
        r.statusHeaders.push({table: t.id, right: box(th).right});
      }
    });
  });
  var out = document.createElement("pre"); out.id = "layout";
  out.textContent = JSON.stringify(r); document.body.appendChild(out);
}());
"""


def _sha(script: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(script.encode()).digest()).decode() + "'"


def _chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        pytest.skip("Chromium is not installed (apt-get install chromium); the layout tests "
                    "need it")
    return found


def _chromium_args(profile: Path) -> list[str]:
    return [_chromium(), "--headless", "--no-sandbox", "--disable-gpu",
            "--disable-dev-shm-usage", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--no-first-run",
            "--hide-scrollbars", f"--user-data-dir={profile}",
            "--host-resolver-rules=MAP * ~NOTFOUND"]


def _config(workdir: Path) -> Config:
    data = yaml.safe_load((REPO / "config.yaml").read_text())
    return demo_config(parse_config(data, environ={}).resolve_paths(REPO), workdir)


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Config, Path]]:
    """The demo reconciled once: its config and the folder of its reports."""
    workdir = tmp_path_factory.mktemp("demo") / "var"
    with pytest.MonkeyPatch.context() as patch:
        # The key stays set for the module: the last test runs the job again with it.
        patch.setenv("RECON_TOKEN_KEY", generate_key())
        patch.delenv("RECON_TOKEN_KEY_FILE", raising=False)
        config = _config(workdir)
        prepare_demo_data(workdir, AS_OF)
        link_demo_banks(config)
        pipeline.run(config, as_of=AS_OF)
        yield config, config.reports.output_dir


# Headless Chromium will not make a window narrower than 500 px, so the page is measured in a
# frame of the wanted width (a same-origin file frame: the host page reads what it measured).
FRAME = """<!DOCTYPE html><html><body style="margin:0">
<iframe id="report" src="{src}" style="width:{width}px;height:900px;border:0"></iframe>
<script>document.getElementById("report").addEventListener("load", function () {{
  var found = this.contentDocument.getElementById("layout");
  var out = document.createElement("pre"); out.id = "measured";
  out.textContent = found ? found.textContent : "missing"; document.body.appendChild(out);
}});</script></body></html>"""


def _layout(html_path: Path, width: int, tmp_path: Path) -> dict[str, Any]:
    html = html_path.read_text(encoding="utf-8")
    html = html.replace("script-src ", f"script-src {_sha(MEASURE)} ", 1)
    html = html.replace("</body>", f"<script>{MEASURE}</script></body>")
    page = tmp_path / f"layout-{width}.html"
    page.write_text(html, encoding="utf-8")
    host = tmp_path / f"frame-{width}.html"
    host.write_text(FRAME.format(src=page.name, width=width), encoding="utf-8")
    completed = subprocess.run(
        [*_chromium_args(tmp_path / f"profile-{width}"), "--allow-file-access-from-files",
         f"--window-size={width + 40},1000", "--virtual-time-budget=5000", "--dump-dom",
         host.as_uri()],
        capture_output=True, text=True, timeout=180, check=True,
    )
    found = re.search(r'<pre id="measured">(.*?)</pre>', completed.stdout, re.S)
    assert found and found.group(1) != "missing", completed.stdout[-2000:]
    layout: dict[str, Any] = json.loads(found.group(1).replace("&quot;", '"')
                                        .replace("&amp;", "&"))
    return layout


def test_the_demo_statements_tie_out(demo_run: tuple[Config, Path]) -> None:
    _, reports = demo_run
    summary = json.loads((reports / f"summary-{AS_OF}.json").read_text(encoding="utf-8"))
    assert [s["difference"] for s in summary["statements"]] == ["0.00", "0.00", "0"]
    assert summary["statements_tie"] is True
    assert all(s["balance_per_books_source"].startswith("trial balance")
               for s in summary["statements"])
    assert all(s["balance_per_bank_source"].startswith("Plaid current balance")
               for s in summary["statements"])
    assert summary["items"]["open_count"] > 0


@pytest.mark.chromium
def test_on_a_1440_px_screen_rows_are_short_and_the_status_column_is_in_view(
    demo_run: tuple[Config, Path], tmp_path: Path
) -> None:
    layout = _layout(demo_run[1] / f"reconciliation-{AS_OF}.html", 1440, tmp_path)
    assert layout["viewport"] == 1440
    assert layout["pageWidth"] <= 1440  # no horizontal scroll of the page
    tall = [r for r in layout["rows"] if r["height"] > LINES_PER_ROW * r["line"] + 12]
    assert layout["rows"] and not tall, tall[:3]
    assert {h["table"] for h in layout["statusHeaders"]} >= {"t-timing", "t-action"}
    assert all(h["right"] <= 1440 for h in layout["statusHeaders"])
    for table in layout["tables"]:
        assert table["wrapScroll"] <= table["wrapClient"] + 1, table  # no sideways scrolling
        assert table["table"]["right"] <= 1440, table
    assert all(t["sticky"] == "sticky" for t in layout["tables"] if t["id"].startswith("t-"))
    assert not layout["clippedCells"]


@pytest.mark.chromium
def test_on_a_390_px_phone_nothing_is_clipped_or_wider_than_the_screen(
    demo_run: tuple[Config, Path], tmp_path: Path
) -> None:
    layout = _layout(demo_run[1] / f"reconciliation-{AS_OF}.html", 390, tmp_path)
    assert layout["viewport"] == 390
    assert layout["pageWidth"] <= 390
    for table in layout["tables"]:
        assert table["table"]["right"] <= 390 + 1, table
        assert table["wrapScroll"] <= table["wrapClient"] + 1, table
    assert layout["cells"] > 0 and not layout["clippedCells"]


@pytest.mark.chromium
def test_printed_the_statements_come_first_and_the_match_list_is_left_out(
    demo_run: tuple[Config, Path], tmp_path: Path
) -> None:
    if shutil.which("pdfinfo") is None or shutil.which("pdftotext") is None:
        pytest.skip("poppler-utils (pdfinfo, pdftotext) are not installed")
    pdf = tmp_path / "report.pdf"
    subprocess.run(
        [*_chromium_args(tmp_path / "profile"), "--no-pdf-header-footer",
         f"--print-to-pdf={pdf}", (demo_run[1] / f"reconciliation-{AS_OF}.html").as_uri()],
        capture_output=True, timeout=180, check=True,
    )
    info = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True, check=True)
    pages = int(re.search(r"Pages:\s+(\d+)", info.stdout).group(1))  # type: ignore[union-attr]
    first = subprocess.run(["pdftotext", "-f", "1", "-l", "1", "-layout", str(pdf), "-"],
                           capture_output=True, text=True, check=True).stdout
    everything = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True,
                                text=True, check=True).stdout
    assert "Bank reconciliation statements" in first and "Balance per bank" in first
    assert "Difference" in first and "Adjusted book balance" in first
    assert "Matches (" not in everything  # the match list is for the screen only
    assert 4 <= pages <= 20, pages  # three statements, then the open items


@pytest.mark.libreoffice
@pytest.mark.slow
def test_libreoffice_difference_is_zero_on_the_demo_and_not_when_a_ledger_row_is_missing(
    demo_run: tuple[Config, Path], tmp_path: Path
) -> None:
    config, reports = demo_run
    workbook = reports / f"reconciliation-{AS_OF}.xlsx"
    before = libreoffice_convert(workbook, tmp_path / "before", "csv", tmp_path / "lo")
    assert statement_differences(before) == ["0.00", "0.00", "0"]

    # A receipt posted in the general ledger (so in its trial balance) but left out of the
    # ledger export recon reads: the bank's deposit becomes an item the books lack, while the
    # books' balance still has it.
    assert config.ledger.path is not None
    with config.ledger.path.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    header = rows[0]
    account, amount = header.index("account"), header.index("amount")
    dropped = next(i for i, row in enumerate(rows[1:], start=1)
                   if row[account] == "1010-operating-usd" and float(row[amount]) > 100)
    with config.ledger.path.open("w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows(rows[:dropped] + rows[dropped + 1:])
    outcome = pipeline.run(config, as_of=AS_OF)
    assert outcome.report_paths
    after = libreoffice_convert(workbook, tmp_path / "after", "csv", tmp_path / "lo")
    operating, payroll, tokyo = statement_differences(after)
    assert operating != "0.00" and (payroll, tokyo) == ("0.00", "0")
