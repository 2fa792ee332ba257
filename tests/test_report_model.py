"""The report model, CSV/JSON contract files, file names and atomic writes."""

from __future__ import annotations

import csv
import json
import os
from decimal import Decimal
from pathlib import Path

import pytest
from test_report_support import (
    AS_OF,
    FORMULA,
    discrepancy,
    inputs,
    link,
    result,
    sample_result,
)

from recon.config import AlertThreshold
from recon.reporting import build_report, write_reports
from recon.reporting.atomic import atomic_path, atomic_text
from recon.reporting.csvjson import DISCREPANCY_CSV_COLUMNS, MATCH_CSV_COLUMNS
from recon.reporting.model import age_bucket
from recon.reporting.text import EXCEL_CELL_LIMIT, clean_text


def test_tie_out_is_fully_explained_for_the_sample_period() -> None:
    report = build_report(inputs(sample_result()))
    usd, jpy = report.tie_outs
    assert (usd.difference_minor, usd.outstanding_minor, usd.unexplained_minor) == (-650, -650, 0)
    assert usd.by_kind_minor["unmatched_ledger"] == -3000
    assert usd.by_kind_minor["amount_mismatch"] == -200
    assert usd.link_difference_minor["matched_with_difference"] == 50
    assert (jpy.unexplained_minor, jpy.plaid_balance_minor) == (0, None)
    assert usd.plaid_balance_minor == 1_234_567


def test_unexplained_difference_shows_when_movements_do_not_tie() -> None:
    base = inputs(sample_result())
    report = build_report(type(base)(**{**base.__dict__,
                                        "bank_movement_minor": {"ops-usd": 19_300}}))
    assert report.tie_outs[0].unexplained_minor == 100


def test_sections_are_sorted_by_materiality_and_links_put_suggested_first() -> None:
    match_result = result(
        links=[link("m-a", "b1", "l1"), link("m-z", "b2", "l2", "suggested")],
        discrepancies=[
            discrepancy("d-small-old", "unmatched_bank", 1_000, bank="b3", age=40),  # 10 x 40
            discrepancy("d-big-new", "unmatched_bank", 30_000, bank="b4", age=0),  # 300 x 1
            discrepancy("d-mid", "unmatched_bank", 5_000, bank="b5", age=5),  # 50 x 5
            discrepancy("d-jpy", "unmatched_bank", 20_000, bank="b6", age=1, currency="JPY",
                        account="ops-jpy"),  # JPY 20000 x 1
        ],
    )
    report = build_report(inputs(match_result))
    lines = report.sections[0].lines
    assert [line.discrepancy_id for line in lines] == ["d-jpy", "d-small-old", "d-big-new",
                                                       "d-mid"]
    assert lines[1].materiality == Decimal("400.00")
    assert [line.age_bucket for line in lines] == ["0-3", ">30", "0-3", "4-7"]
    assert [lk.status for lk in report.links] == ["suggested", "matched"]


@pytest.mark.parametrize(("age", "bucket"), [(0, "0-3"), (3, "0-3"), (4, "4-7"), (7, "4-7"),
                                             (8, "8-30"), (30, "8-30"), (31, ">30")])
def test_age_buckets(age: int, bucket: str) -> None:
    assert age_bucket(age) == bucket


def test_summary_counts_rates_freshness_and_threshold() -> None:
    threshold = AlertThreshold(
        count=2, total_amount={"USD": Decimal("40"), "JPY": Decimal("4000")}, oldest_age_days=30
    )
    report = build_report(inputs(sample_result(), threshold=threshold))
    s = report.summary
    assert s.discrepancy_count == 5 and s.open_count == 5
    kinds = {k.kind: k for k in s.discrepancy_kinds}
    assert kinds["unmatched_bank"].count == 2 and kinds["unmatched_bank"].by_bucket == (1, 0, 0, 1)
    statuses = {c.status: c for c in s.link_statuses}
    assert (statuses["matched"].groups, statuses["suggested"].links) == (2, 1)
    # b1, b2, y1 confirmed; b5 suggested, b3, b4, y2 open (pending excluded): 3 of 7
    assert (s.bank_items_auto_matched, s.bank_items) == (3, 7)
    assert [i.item_id for i in s.items_needing_relink] == ["item-2"]
    assert report.threshold.exceeded
    assert report.threshold.reasons == (
        "4 open discrepancies (threshold 2)",
        "open amount 5,000 JPY (threshold 4,000)",
        "open amount 52.00 USD (threshold 40)",
        "oldest open item is 40 days old (threshold 30)",
    )
    assert not build_report(inputs(sample_result())).threshold.exceeded


def test_csv_and_json_follow_the_contract_and_neutralise_formulas(tmp_path: Path) -> None:
    report = build_report(inputs(sample_result(description=FORMULA)))
    paths = write_reports(report, tmp_path, formats=["csv", "json"], dated=False)
    assert [p.name for p in paths] == ["matches.csv", "discrepancies.csv", "summary.json"]

    with (tmp_path / "matches.csv").open(newline="", encoding="utf-8") as handle:
        matches = list(csv.DictReader(handle))
    assert tuple(matches[0]) == MATCH_CSV_COLUMNS
    assert matches[0]["status"] == "suggested"
    assert {m["amount_difference"] for m in matches} == {"0.00", "0.50", "0"}

    raw = (tmp_path / "discrepancies.csv").read_text(encoding="utf-8")
    assert raw.splitlines()[0].startswith('"discrepancy_id","kind"')  # every field quoted
    with (tmp_path / "discrepancies.csv").open(newline="", encoding="utf-8") as handle:
        rows = {r["discrepancy_id"]: r for r in csv.DictReader(handle)}
    assert tuple(next(iter(rows.values()))) == DISCREPANCY_CSV_COLUMNS
    assert rows["d-b3"]["description"] == "'" + FORMULA
    assert (rows["d-b3"]["amount"], rows["d-y2"]["amount"]) == ("20.00", "5000")
    assert rows["d-b4"]["amount"] == "-2.00"  # a negative number is not text, no prefix
    assert rows["d-l3"]["date"] == "2024-03-03" and rows["d-l3"]["age_days"] == "12"

    summary = json.loads((tmp_path / "summary.json").read_text(encoding="utf-8"))
    assert summary["run_id"] == "run-1" and summary["as_of"] == AS_OF.isoformat()
    assert summary["discrepancies"]["open_amount"] == {"JPY": "5000", "USD": "57.00"}
    assert summary["tie_out"][0]["unexplained_difference"] == "0.00"
    assert summary["threshold"] == {"exceeded": False, "reasons": []}


def test_nightly_file_names_carry_the_date(tmp_path: Path) -> None:
    report = build_report(inputs(sample_result()))
    paths = write_reports(report, tmp_path, formats=["xlsx", "html", "csv", "json"])
    assert sorted(p.name for p in paths) == [
        "discrepancies-2024-03-15.csv", "matches-2024-03-15.csv",
        "reconciliation-2024-03-15.html", "reconciliation-2024-03-15.xlsx",
        "summary-2024-03-15.json"]
    assert sorted(os.listdir(tmp_path)) == sorted(p.name for p in paths)
    with pytest.raises(ValueError, match="pdf"):
        write_reports(report, tmp_path, formats=["pdf"])


def test_an_atomic_write_that_fails_midway_leaves_the_old_file_and_no_temp(tmp_path: Path) -> None:
    target = tmp_path / "summary.json"
    target.write_text("old", encoding="utf-8")

    with pytest.raises(RuntimeError), atomic_text(target) as handle:
        handle.write("half a rep")
        raise RuntimeError("disk full")

    assert target.read_text(encoding="utf-8") == "old"
    assert os.listdir(tmp_path) == ["summary.json"]


def test_a_failing_report_writer_leaves_no_partial_report(tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    report = build_report(inputs(sample_result()))

    with pytest.raises(OSError), atomic_path(tmp_path / "x.bin") as temp:
        temp.write_bytes(b"partial")
        raise OSError("no space left on device")
    assert os.listdir(tmp_path) == []

    # The workbook is complete on disk but the process fails before the rename (fsync raises):
    # nothing named like the report remains, and neither does the temporary file.
    def failing_fsync(path: Path) -> None:
        raise OSError("I/O error")

    monkeypatch.setattr("recon.reporting.atomic._fsync_file", failing_fsync)
    with pytest.raises(OSError):
        write_reports(report, tmp_path, formats=["xlsx", "html", "csv", "json"])
    assert os.listdir(tmp_path) == []


def test_clean_text_replaces_illegal_characters_and_truncates() -> None:
    assert clean_text("a\x00b\x1bc\ud800d") == "a\ufffdb\ufffdc\ufffdd"
    assert clean_text("tab\tand\nnewline") == "tab\tand\nnewline"
    long = clean_text("x" * 40_000)
    assert len(long) == EXCEL_CELL_LIMIT and long.endswith("[truncated]")
