"""The HTML report: inert data, CSP, self-contained, capped sections, and real Chromium."""

from __future__ import annotations

import base64
import hashlib
import re
import shutil
import subprocess
from dataclasses import replace
from html.parser import HTMLParser
from pathlib import Path

import pytest
from test_report_support import TEMPLATE_INJECTION, XSS, discrepancy, inputs, result, sample_result

from recon.reporting import build_report
from recon.reporting.html import HTML_MAX_ROWS, render_html, template_environment, write_html

TEMPLATES = Path(__file__).resolve().parents[1] / "reports" / "templates"


class _Elements(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.elements: list[tuple[str, list[tuple[str, str | None]]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, attrs))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def _parse(html: str) -> _Elements:
    parser = _Elements()
    parser.feed(html)
    return parser


def _page(description: str = XSS + " " + TEMPLATE_INJECTION) -> str:
    return render_html(build_report(inputs(sample_result(description=description))))


def test_data_is_escaped_never_markup_never_a_template() -> None:
    html = _page()
    parsed = _parse(html)
    tags = [tag for tag, _ in parsed.elements]
    assert tags.count("script") == 1  # recon's own script only
    assert "img" not in tags
    assert not [name for _, attrs in parsed.elements for name, _ in attrs if name.startswith("on")]
    assert not [value for _, attrs in parsed.elements for name, value in attrs
                if name in ("href", "src") and value and not value.startswith("#")]
    assert XSS + " " + TEMPLATE_INJECTION in "".join(parsed.text)  # shown literally
    assert "49" not in "".join(parsed.text).split(XSS)[1][:20]


def test_csp_forbids_the_network_and_allows_only_the_inline_script_by_hash() -> None:
    html = _page()
    csp = next(dict(attrs)["content"] for tag, attrs in _parse(html).elements
               if tag == "meta" and dict(attrs).get("http-equiv") == "Content-Security-Policy")
    assert csp is not None and "default-src 'none'" in csp and "img-src data:" in csp
    script = re.search(r"<script>(.*)</script>", html, re.S)
    assert script is not None
    digest = base64.b64encode(hashlib.sha256(script.group(1).encode()).digest()).decode()
    assert f"script-src 'sha256-{digest}'" in csp
    assert "unsafe-inline" not in csp.split("script-src")[1].split(";")[0]
    assert not re.search(r"(src|href)=\"(https?:|//)", html)


def test_every_template_is_autoescaped_and_never_marks_data_safe() -> None:
    environment = template_environment()
    for name in environment.list_templates(filter_func=lambda n: n.endswith(".j2")):
        assert environment.autoescape is True or environment.autoescape(name), name
        source = (TEMPLATES / name).read_text(encoding="utf-8")
        assert "|safe" not in source.replace(" ", "") and "autoescape false" not in source
        # every attribute value is quoted
        assert not re.search(r"=\{\{", source), name


def test_the_statement_comes_first_then_items_in_words() -> None:
    html = _page("Card payment ACME")
    parsed = _parse(html)
    text = " ".join(parsed.text)
    assert html.index("<h2>Bank reconciliation statements</h2>") < html.index("<h2>Summary</h2>")
    assert "Balance per bank at 2024-03-15" in text and "Adjusted book balance" in text
    assert "1,187.00" in text and "1,217.00" in text and "106,200" in text  # JPY, no decimals
    assert "(2.00)" in text  # negatives in parentheses
    assert "The books and the bank agree." in text
    assert "Tartan Bank" in text and "needs_relink" in text
    assert "Card payment ACME" in text and "Invoice 77" in text  # both sides in words
    assert "nearest ledger entry:" in text
    assert "Dr 1999 Suspense" in text  # the proposed entry
    rects = [attrs for tag, attrs in parsed.elements if tag == "rect"]
    assert len(rects) == 5  # one bar segment per (age bucket, treatment) with open items
    assert "@media print" in html and "@media (max-width: 600px)" in html
    ids = {dict(attrs).get("id") for _, attrs in parsed.elements}
    assert {"t-timing", "t-action", "t-review", "t-matches", "global-search"} <= ids
    labels = {dict(attrs).get("data-label") for tag, attrs in parsed.elements if tag == "td"}
    assert {"Status", "Bank transaction", "Ledger entry", "Why"} <= labels  # cards on a phone


def test_huge_lists_are_capped_and_say_where_the_rest_is(tmp_path: Path) -> None:
    many = [discrepancy(f"d-{i:05d}", "unmatched_bank", 100 + i, bank=f"b{i}")
            for i in range(HTML_MAX_ROWS + 25)]
    report = build_report(inputs(result(discrepancies=many)))
    html = write_html(report, tmp_path / "r.html").read_text(encoding="utf-8")
    body = html.split('id="t-action"')[1].split("</table>")[0]
    assert body.count("<tr") == HTML_MAX_ROWS + 1
    assert "the other 25 are in the Excel workbook and discrepancies.csv" in html
    assert "d-02024" in body and "d-00000" not in body  # the most material are kept


SELF_TEST = """
(function () {
  var out = document.createElement("pre"); out.id = "self-test"; var r = {};
  function visible(id) { return Array.prototype.filter.call(
    document.getElementById(id).tBodies[0].rows, function (x) { return !x.hidden; }); }
  function ids(id) { return visible(id).map(function (x) {
    return x.cells[0].querySelector(".id").title; }); }
  var table = document.getElementById("t-action");
  var amount = table.tHead.rows[0].cells[3];
  amount.click();
  r.sortedAsc = ids("t-action");
  amount.click();
  r.sortedDesc = ids("t-action");
  var filter = document.querySelector('input.table-filter[data-table="t-action"]');
  filter.value = "tokyo"; filter.dispatchEvent(new Event("input"));
  r.filtered = ids("t-action");
  filter.value = ""; filter.dispatchEvent(new Event("input"));
  var search = document.getElementById("global-search");
  search.value = "invoice 77"; search.dispatchEvent(new Event("input"));
  r.searchTiming = visible("t-timing").length;
  r.searchAction = visible("t-action").length;
  r.searchMatches = visible("t-matches").length;
  r.resources = performance.getEntriesByType("resource").length;
  r.errors = window.__errors;
  out.textContent = JSON.stringify(r);
  document.body.appendChild(out);
}());
"""
ERROR_TRAP = ("window.__errors = []; window.addEventListener('error', function (e) { "
              "window.__errors.push(String(e.message)); }); document.addEventListener("
              "'securitypolicyviolation', function (e) { window.__errors.push('csp: ' + "
              "e.violatedDirective); });")


def _sha(script: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(script.encode()).digest()).decode() + "'"


@pytest.mark.chromium
def test_sorting_filtering_and_search_work_in_headless_chromium(tmp_path: Path) -> None:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.skip("Chromium is not installed (apt-get install chromium); the browser test "
                    "needs it")
    html = _page()
    # A test-only copy: an error trap first, a self-test last, both allowed by their hashes.
    html = html.replace("script-src ", f"script-src {_sha(ERROR_TRAP)} {_sha(SELF_TEST)} ")
    html = html.replace("<style>", f"<script>{ERROR_TRAP}</script><style>", 1)
    html = html.replace("</body>", f"<script>{SELF_TEST}</script></body>")
    page = tmp_path / "report.html"
    page.write_text(html, encoding="utf-8")
    completed = subprocess.run(
        [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--no-first-run", f"--user-data-dir={tmp_path / 'profile'}",
         "--host-resolver-rules=MAP * ~NOTFOUND", "--virtual-time-budget=3000",
         "--dump-dom", page.as_uri()],
        capture_output=True, text=True, timeout=120, check=True,
    )
    found = re.search(r'<pre id="self-test">(.*?)</pre>', completed.stdout, re.S)
    assert found, completed.stdout[-2000:]
    import json

    outcome = json.loads(found.group(1).replace("&quot;", '"').replace("&amp;", "&"))
    assert outcome["errors"] == []
    assert outcome["resources"] == 0
    assert outcome["sortedAsc"] == ["d-b4", "m-b2", "d-b3", "d-y2"]  # by amount in minor units
    assert outcome["sortedDesc"] == ["d-y2", "d-b3", "m-b2", "d-b4"]
    assert outcome["filtered"] == ["d-y2"]
    # d-l3 itself, and d-b3 whose nearest ledger entry it is.
    assert (outcome["searchTiming"], outcome["searchAction"], outcome["searchMatches"]) == (
        1, 1, 0)


def test_report_without_discrepancies_renders(tmp_path: Path) -> None:
    report = build_report(inputs(result()))
    report = replace(report, rejected_rows=())
    html = render_html(report)
    assert "None." in html and "Within the alert threshold." in html
    assert "The books and the bank disagree" in html  # the balances are the sample's
