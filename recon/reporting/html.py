"""The self-contained HTML report: ``reconciliation-<as_of>.html``.

One file, inline CSS and JS, no network (a Content-Security-Policy forbids it; the script is
allowed by its hash, not by 'unsafe-inline'). Jinja2 autoescapes every template; data reaches
the page only as escaped text or quoted attribute values, never as markup, URLs or template
source. Huge reports stay usable in a browser: each discrepancy section shows at most
:data:`HTML_MAX_ROWS` items (the most material) and the matches table the first
:data:`HTML_MAX_ROWS` links (suggested first); the page says how many more are in the Excel
workbook and the CSV files.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import cache
from pathlib import Path
from typing import Any, Final

import jinja2
from markupsafe import Markup

from recon.frames import DISCREPANCY_KINDS
from recon.money import from_minor
from recon.reporting.atomic import atomic_text
from recon.reporting.model import (
    AGE_BUCKETS,
    KIND_TITLES,
    LINK_ORDER,
    STATUS_TITLES,
    DiscrepancyLine,
    Report,
)
from recon.reporting.text import clean_text

HTML_MAX_ROWS: Final = 2_000
TEMPLATE: Final = "report.html.j2"
KIND_COLOURS: Final = {
    "unmatched_bank": "#1f77b4", "unmatched_ledger": "#ff7f0e", "amount_mismatch": "#d62728",
    "probable_duplicate": "#9467bd", "reversal": "#8c564b", "pending": "#7f7f7f",
}


def _checkout_templates() -> Path:
    # reports/templates/ in a source checkout; an installed wheel ships it as recon.templates.
    return Path(__file__).resolve().parents[2] / "reports" / "templates"


@cache
def template_environment() -> jinja2.Environment:
    """Autoescape on for every template name (including ``.html.j2``), strict undefined."""
    loaders: list[jinja2.BaseLoader] = []
    # PackageLoader raises ValueError when the package data is not installed (editable checkout).
    with contextlib.suppress(ValueError):
        loaders.append(jinja2.PackageLoader("recon", "templates"))
    loaders.append(jinja2.FileSystemLoader(str(_checkout_templates())))
    return jinja2.Environment(
        loader=jinja2.ChoiceLoader(loaders),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=False,
    )


def _asset(name: str) -> str:
    loader = template_environment().loader
    assert loader is not None
    source, _, _ = loader.get_source(template_environment(), name)
    return source


def script_hash(script: str) -> str:
    digest = hashlib.sha256(script.encode("utf-8")).digest()
    return "'sha256-" + base64.b64encode(digest).decode("ascii") + "'"


def content_security_policy(script: str) -> str:
    return (f"default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
            f"script-src {script_hash(script)}; base-uri 'none'; form-action 'none'")


def money(minor: int, currency: str) -> str:
    return f"{from_minor(minor, currency):,f}"


def percent(ratio: float | None) -> str:
    return "-" if ratio is None else f"{ratio * 100:.1f}%"


def day(value: date | None) -> str:
    return value.isoformat() if value else ""


def timestamp(value: datetime | None) -> str:
    if value is None:
        return "never"
    if value.tzinfo is not None:
        value = value.astimezone(UTC)
    return value.strftime("%Y-%m-%d %H:%M")


def age_class(age_days: int) -> str:
    return "old" if age_days > 30 else "mid" if age_days > 7 else "new"


@dataclass(frozen=True)
class _SectionView:
    kind: str
    title: str
    lines: tuple[DiscrepancyLine, ...]
    total: int

    @property
    def hidden(self) -> int:
        return self.total - len(self.lines)


def _chart(report: Report) -> dict[str, Any]:
    counts = {kind: dict.fromkeys(AGE_BUCKETS, 0) for kind in DISCREPANCY_KINDS}
    for line in report.discrepancies:
        if line.status == "open":
            counts[line.kind][line.age_bucket] += 1
    width, height, left, top, bottom = 460, 200, 10, 10, 22
    baseline = height - bottom
    slot = (width - left) / len(AGE_BUCKETS)
    tallest = max((sum(counts[k][b] for k in DISCREPANCY_KINDS) for b in AGE_BUCKETS), default=0)
    scale = (baseline - top - 12) / tallest if tallest else 0.0
    bars, labels = [], []
    for index, bucket in enumerate(AGE_BUCKETS):
        x = left + index * slot + slot * 0.2
        y = float(baseline)
        total = 0
        for kind in DISCREPANCY_KINDS:
            count = counts[kind][bucket]
            if not count:
                continue
            bar_height = count * scale
            y -= bar_height
            total += count
            bars.append({"x": f"{x:.1f}", "y": f"{y:.1f}", "width": f"{slot * 0.6:.1f}",
                         "height": f"{bar_height:.1f}", "colour": KIND_COLOURS[kind],
                         "label": f"{KIND_TITLES[kind]}, {bucket} days: {count}"})
        centre = f"{x + slot * 0.3:.1f}"
        labels.append({"x": centre, "y": str(height - 6), "text": f"{bucket} days"})
        labels.append({"x": centre, "y": f"{y - 3:.1f}", "text": str(total)})
    return {
        "width": width, "height": height, "left": left, "baseline": baseline,
        "bars": bars, "labels": labels,
        "legend": [{"colour": KIND_COLOURS[k], "title": KIND_TITLES[k]} for k in DISCREPANCY_KINDS],
    }


def render_html(report: Report) -> str:
    environment = template_environment()
    script = _asset("report.js")
    changes = report.changes
    change_rows = [("new", ref) for ref in changes.new_discrepancies] + [
        ("resolved", ref) for ref in changes.resolved_discrepancies]
    match_changes = [("match added", m) for m in changes.matches_added] + [
        ("match removed", m) for m in changes.matches_removed]
    shown_changes = change_rows[:HTML_MAX_ROWS]
    shown_match_changes = match_changes[: max(0, HTML_MAX_ROWS - len(shown_changes))]
    context = {
        "csp": content_security_policy(script),
        # recon's own static assets, never data: the only Markup in the report.
        "css": Markup(_asset("report.css")),  # noqa: S704
        "script": Markup(script),  # noqa: S704
        "s": report.summary,
        "generated_at": timestamp(report.summary.generated_at),
        "threshold": report.threshold,
        "buckets": AGE_BUCKETS,
        "chart": _chart(report),
        "kinds": DISCREPANCY_KINDS,
        "kind_titles": KIND_TITLES,
        "link_statuses": tuple(reversed(LINK_ORDER)),
        "status_titles": STATUS_TITLES,
        "tie_outs": report.tie_outs,
        "changes": changes,
        "change_rows": shown_changes,
        "match_changes": shown_match_changes,
        "changes_hidden": len(change_rows) + len(match_changes) - len(shown_changes)
        - len(shown_match_changes),
        "sections": [
            _SectionView(s.kind, s.title, s.lines[:HTML_MAX_ROWS], len(s.lines))
            for s in report.sections
        ],
        "links": report.links[:HTML_MAX_ROWS],
        "links_total": len(report.links),
        "links_hidden": max(0, len(report.links) - HTML_MAX_ROWS),
        "rejected_rows": report.rejected_rows[:HTML_MAX_ROWS],
        "money": money, "percent": percent, "day": day, "timestamp": timestamp,
        "age_class": age_class,
    }
    # Lone surrogates and control characters would make the file invalid UTF-8 or break parsers.
    return clean_text(environment.get_template(TEMPLATE).render(context), limit=2**62)


def write_html(report: Report, path: Path) -> Path:
    with atomic_text(path) as handle:
        handle.write(render_html(report))
    return path
