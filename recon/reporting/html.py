"""The self-contained HTML report: ``reconciliation-<as_of>.html``.

One file, inline CSS and JS, no network (a Content-Security-Policy forbids it; the script is
allowed by its hash, not by 'unsafe-inline'). Jinja2 autoescapes every template; data reaches
the page only as escaped text or quoted attribute values, never as markup, URLs or template
source.

The page opens on the bank reconciliation statement of each account, then the open items by
treatment (each side in words), the suggestions to review, the changes since the previous run,
the matches and the completeness check. Tables keep their headers in view and scroll on their
own; under 600 px each row becomes a card. Printed, the statements come first (one per page)
and the match list is left out. Huge reports stay usable: each list shows at most
:data:`HTML_MAX_ROWS` rows (the most material first) and says where the rest is.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any, Final

import jinja2
from markupsafe import Markup

from recon.money import from_minor
from recon.reporting.atomic import atomic_text
from recon.reporting.model import (
    ACTION_GROUP,
    AGE_BUCKETS,
    CATEGORIES,
    TIMING_GROUP,
    TREATMENT_TITLES,
    Item,
    Report,
    Treatment,
    change_totals,
)
from recon.reporting.text import clean_text

HTML_MAX_ROWS: Final = 2_000
TEMPLATE: Final = "report.html.j2"
TREATMENT_COLOURS: Final = {
    Treatment.TIMING: "#1f77b4", Treatment.NONE: "#9aa4ad", Treatment.ENTRY: "#d62728",
    Treatment.BANK: "#9467bd",
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
    """1,234.50 / (1,234.50) for a negative amount, as on a printed statement."""
    amount = from_minor(minor, currency)
    return f"({-amount:,f})" if amount < 0 else f"{amount:,f}"


def decimal_money(value: Decimal | None) -> str:
    if value is None:
        return "-"
    return f"({-value:,f})" if value < 0 else f"{value:,f}"


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
class _ItemList:
    key: str
    title: str
    note: str
    items: tuple[Item, ...]
    total: int

    @property
    def hidden(self) -> int:
        return self.total - len(self.items)


def _chart(report: Report) -> dict[str, Any]:
    counts = {t: dict.fromkeys(AGE_BUCKETS, 0) for t in Treatment}
    for item in report.items:
        if item.status == "open":
            counts[item.treatment][item.age_bucket] += 1
    width, height, left, top, bottom = 460, 200, 10, 10, 22
    baseline = height - bottom
    slot = (width - left) / len(AGE_BUCKETS)
    tallest = max((sum(counts[t][b] for t in Treatment) for b in AGE_BUCKETS), default=0)
    scale = (baseline - top - 12) / tallest if tallest else 0.0
    bars, labels = [], []
    for index, bucket in enumerate(AGE_BUCKETS):
        x = left + index * slot + slot * 0.2
        y = float(baseline)
        total = 0
        for treatment in Treatment:
            count = counts[treatment][bucket]
            if not count:
                continue
            bar_height = count * scale
            y -= bar_height
            total += count
            bars.append({"x": f"{x:.1f}", "y": f"{y:.1f}", "width": f"{slot * 0.6:.1f}",
                         "height": f"{bar_height:.1f}", "colour": TREATMENT_COLOURS[treatment],
                         "label": f"{TREATMENT_TITLES[treatment]}, {bucket} days: {count}"})
        centre = f"{x + slot * 0.3:.1f}"
        labels.append({"x": centre, "y": str(height - 6), "text": f"{bucket} days"})
        labels.append({"x": centre, "y": f"{y - 3:.1f}", "text": str(total)})
    return {
        "width": width, "height": height, "left": left, "baseline": baseline,
        "bars": bars, "labels": labels,
        "legend": [{"colour": TREATMENT_COLOURS[t], "title": TREATMENT_TITLES[t]}
                   for t in Treatment],
    }


def _item_lists(report: Report) -> list[_ItemList]:
    lists = []
    for key, title, note, group in (
        ("timing", "Timing items: no entry needed",
         "They clear when the bank catches up, or net to zero.", TIMING_GROUP),
        ("action", "Needs action",
         "Post the proposed entry, or ask the bank to correct its error.", ACTION_GROUP),
    ):
        items = report.items_of(group)
        lists.append(_ItemList(key, title, note, items[:HTML_MAX_ROWS], len(items)))
    return lists


def render_html(report: Report) -> str:
    environment = template_environment()
    script = _asset("report.js")
    changes = report.changes
    links_shown = min(len(report.links), HTML_MAX_ROWS)
    context = {
        "csp": content_security_policy(script),
        # recon's own static assets, never data: the only Markup in the report.
        "css": Markup(_asset("report.css")),  # noqa: S704
        "script": Markup(script),  # noqa: S704
        "s": report.summary,
        "fc": report.summary.functional_currency,
        "generated_at": timestamp(report.summary.generated_at),
        "threshold": report.threshold,
        "buckets": AGE_BUCKETS,
        "chart": _chart(report),
        "statements": report.statements,
        "tie_outs": report.tie_outs,
        "categories": CATEGORIES,
        "changes": changes,
        "new_totals": change_totals(changes.new_discrepancies),
        "resolved_totals": change_totals(changes.resolved_discrepancies),
        "change_rows": (
            [("new", ref, "") for ref in changes.new_discrepancies]
            + [("resolved", ref, ref.how) for ref in changes.resolved_discrepancies]
            + [("amount changed", ref, f"was {money(ref.previous_amount_minor or 0, ref.currency)}")
               for ref in changes.amount_changes]
            + [("status changed", ref,
                f"{ref.previous_status} {ref.previous_owner or ''} -> {ref.status} "
                f"{ref.owner or ''}") for ref in changes.status_changes]
        )[:HTML_MAX_ROWS],
        "item_lists": _item_lists(report),
        "suggestions": report.suggestions[:HTML_MAX_ROWS],
        "suggestions_total": len(report.suggestions),
        "links": report.links.lines(range(links_shown)),
        "links_total": len(report.links),
        "links_hidden": len(report.links) - links_shown,
        "rejected_rows": report.rejected_rows[:HTML_MAX_ROWS],
        "money": money, "decimal_money": decimal_money, "percent": percent, "day": day,
        "timestamp": timestamp, "age_class": age_class,
    }
    # Lone surrogates and control characters would make the file invalid UTF-8 or break parsers.
    return clean_text(environment.get_template(TEMPLATE).render(context), limit=2**62)


def write_html(report: Report, path: Path) -> Path:
    with atomic_text(path) as handle:
        handle.write(render_html(report))
    return path
