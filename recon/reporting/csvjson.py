"""matches.csv, discrepancies.csv and summary.json: the machine-readable contract.

Amounts are plain decimal text with the currency's decimals (``-1234.50``, JPY ``1200``).
Every field is quoted and text that a spreadsheet would read as a formula gets a leading ``'``
(OWASP CSV injection): these files are opened in Excel too.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import IO, Any, Final

from recon.money import format_minor
from recon.reporting.atomic import atomic_text
from recon.reporting.model import CurrencyAmount, Report
from recon.reporting.text import csv_text

MATCH_CSV_COLUMNS: Final = (
    "match_id", "bank_transaction_id", "ledger_entry_id", "status", "rule", "score",
    "amount_difference", "date_difference_days", "account", "currency", "explanation",
)
DISCREPANCY_CSV_COLUMNS: Final = (
    "discrepancy_id", "kind", "side", "bank_transaction_id", "ledger_entry_id", "account",
    "date", "amount", "currency", "age_days", "explanation", "first_seen", "status", "owner",
    "notes", "nearest_candidate", "description",
)
SUMMARY_FORMAT_VERSION: Final = 1


def _write_csv(path: Path, header: Sequence[str], rows: Iterable[Sequence[str]]) -> Path:
    with atomic_text(path, newline="") as handle:
        writer = csv.writer(handle, quoting=csv.QUOTE_ALL)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def write_matches_csv(report: Report, path: Path) -> Path:
    rows = (
        (
            csv_text(link.match_id), csv_text(link.bank_transaction_id),
            csv_text(link.ledger_entry_id), link.status, csv_text(link.rule),
            f"{link.score:.4f}", format_minor(link.amount_difference_minor, link.currency),
            str(link.date_difference_days), csv_text(link.account), link.currency,
            csv_text(link.explanation),
        )
        for link in report.links
    )
    return _write_csv(path, MATCH_CSV_COLUMNS, rows)


def write_discrepancies_csv(report: Report, path: Path) -> Path:
    rows = (
        (
            csv_text(line.discrepancy_id), line.kind, line.side,
            csv_text(line.bank_transaction_id), csv_text(line.ledger_entry_id),
            csv_text(line.account), line.date.isoformat() if line.date else "",
            format_minor(line.amount_minor, line.currency), line.currency, str(line.age_days),
            csv_text(line.explanation), line.first_seen.isoformat(), line.status,
            csv_text(line.owner), csv_text(line.notes), csv_text(line.nearest_candidate),
            csv_text(line.description),
        )
        for line in report.discrepancies
    )
    return _write_csv(path, DISCREPANCY_CSV_COLUMNS, rows)


def _amounts(totals: Iterable[CurrencyAmount]) -> dict[str, str]:
    return {t.currency: format_minor(t.minor, t.currency) for t in totals}


def summary_document(report: Report) -> dict[str, Any]:
    """The JSON summary: counts, amounts as decimal strings keyed by currency, threshold flag."""
    s = report.summary
    return {
        "format_version": SUMMARY_FORMAT_VERSION,
        "run_id": s.run_id,
        "account_set": s.account_set,
        "as_of": s.as_of.isoformat(),
        "window": {"start": s.window_start.isoformat(), "end": s.window_end.isoformat()},
        "generated_at": s.generated_at.isoformat(),
        "threshold": {"exceeded": report.threshold.exceeded,
                      "reasons": list(report.threshold.reasons)},
        "links": {
            c.status: {"groups": c.groups, "links": c.links,
                       "difference": _amounts(c.difference)}
            for c in s.link_statuses
        },
        "discrepancies": {
            "count": s.discrepancy_count,
            "open_count": s.open_count,
            "open_amount": _amounts(s.open_total_abs),
            "oldest_open_age_days": s.oldest_open_age_days,
            "by_kind": {
                k.kind: {"count": k.count, "open_count": k.open_count,
                         "amount": _amounts(k.total_abs)}
                for k in s.discrepancy_kinds
            },
        },
        "auto_match_rate": None if s.auto_match_rate is None else round(s.auto_match_rate, 6),
        "bank_items": s.bank_items,
        "bank_items_auto_matched": s.bank_items_auto_matched,
        "tie_out": [
            {
                "account": t.account,
                "currency": t.currency,
                "bank_movement": format_minor(t.bank_movement_minor, t.currency),
                "ledger_movement": format_minor(t.ledger_movement_minor, t.currency),
                "outstanding": format_minor(t.outstanding_minor, t.currency),
                "unexplained_difference": format_minor(t.unexplained_minor, t.currency),
                "plaid_balance": None if t.plaid_balance_minor is None
                else format_minor(t.plaid_balance_minor, t.currency),
            }
            for t in report.tie_outs
        ],
        "changes": {
            "previous_as_of": report.changes.previous_as_of.isoformat()
            if report.changes.previous_as_of else None,
            "new_discrepancies": len(report.changes.new_discrepancies),
            "resolved_discrepancies": len(report.changes.resolved_discrepancies),
            "matches_added": len(report.changes.matches_added),
            "matches_removed": len(report.changes.matches_removed),
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
