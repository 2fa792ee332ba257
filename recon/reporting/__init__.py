"""Discrepancy reports: the report model and its renderers (Excel, HTML, CSV, JSON).

``build_report(ReportInputs) -> Report`` computes everything; :func:`write_reports` writes the
requested formats, each file atomically (a crash never leaves half a report).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Final

from recon.reporting.atomic import remove_stale_temp_files
from recon.reporting.csvjson import (
    write_discrepancies_csv,
    write_journal_csv,
    write_matches_csv,
    write_summary_json,
)
from recon.reporting.excel import write_excel
from recon.reporting.html import write_html
from recon.reporting.model import (
    AccountInfo,
    Balance,
    ItemHealth,
    Report,
    ReportInputs,
    build_report,
)

FORMATS: Final = ("xlsx", "html", "csv", "json")


def report_file_names(report: Report, *, dated: bool = True) -> dict[str, tuple[str, ...]]:
    """File names per format. ``dated=False`` gives the ``recon match --out DIR`` contract names
    for the CSV and JSON files; the workbook and the page always carry the as-of date."""
    as_of = report.summary.as_of.isoformat()
    suffix = f"-{as_of}" if dated else ""
    return {
        "xlsx": (f"reconciliation-{as_of}.xlsx",),
        "html": (f"reconciliation-{as_of}.html",),
        "csv": (f"matches{suffix}.csv", f"discrepancies{suffix}.csv",
                f"journal-entries{suffix}.csv"),
        "json": (f"summary{suffix}.json",),
    }


def write_reports(
    report: Report, out_dir: Path, *, formats: Sequence[str] = FORMATS, dated: bool = True
) -> list[Path]:
    """Write ``formats`` (any of xlsx, html, csv, json) into ``out_dir``; returns the paths."""
    unknown = sorted(set(formats) - set(FORMATS))
    if unknown:
        raise ValueError(f"unknown report format(s): {', '.join(unknown)}")
    names = report_file_names(report, dated=dated)
    writers: dict[str, Sequence[Callable[[Report, Path], Path]]] = {
        "xlsx": (write_excel,),
        "html": (write_html,),
        "csv": (write_matches_csv, write_discrepancies_csv, write_journal_csv),
        "json": (write_summary_json,),
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    for names_of_format in names.values():
        for name in names_of_format:
            remove_stale_temp_files(out_dir / name)
    written: list[Path] = []
    for fmt in FORMATS:
        if fmt not in formats:
            continue
        for writer, name in zip(writers[fmt], names[fmt], strict=True):
            written.append(writer(report, out_dir / name))
    return written


__all__ = [
    "FORMATS", "AccountInfo", "Balance", "ItemHealth", "Report", "ReportInputs", "build_report",
    "report_file_names", "write_reports",
]
