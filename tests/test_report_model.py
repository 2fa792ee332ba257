"""The report model (statement, items by treatment, rows in words), the CSV/JSON contract files,
file names and atomic writes."""

from __future__ import annotations

import csv
import json
import os
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pandas as pd
import pytest
from test_report_support import (
    AS_OF,
    FORMULA,
    SAMPLE_BOOKS_BALANCE,
    bank_frame,
    bank_row,
    discrepancy,
    inputs,
    ledger_frame,
    ledger_row,
    link,
    result,
    sample_bank,
    sample_ledger,
    sample_result,
)

from recon.config import AlertThreshold, StatementConfig
from recon.frames import LINK_COLUMNS
from recon.records import DISCREPANCY_COLUMNS
from recon.reporting import build_report, write_reports
from recon.reporting.atomic import atomic_path, atomic_text
from recon.reporting.csvjson import (
    DISCREPANCY_CSV_COLUMNS,
    JOURNAL_CSV_COLUMNS,
    MATCH_CSV_COLUMNS,
    csv_id,
)
from recon.reporting.model import Balance, Category, Treatment, age_bucket
from recon.reporting.reviews import apply_link_decisions
from recon.reporting.text import EXCEL_CELL_LIMIT, clean_text
from recon.store.reviews import LinkDecision


def _lines(statement: object, side: str) -> dict[str, int]:
    return {line.category.value: line.total_minor
            for line in getattr(statement, f"{side}_lines")}


def test_the_statement_ties_when_the_books_and_the_bank_agree() -> None:
    report = build_report(inputs(sample_result()))
    usd, jpy = report.statements
    assert (usd.bank_balance.minor, usd.books_balance.minor) == (118_700, 119_850)
    assert _lines(usd, "bank")["deposit_in_transit"] == 3_000  # l3, booked, not at the bank yet
    book = _lines(usd, "book")
    assert (book["unrecorded"], book["book_error"], book["link_difference"]) == (2_000, -200, 50)
    assert "pending_not_booked" not in book  # p1 is in neither balance
    assert usd.adjusted_bank_minor == usd.adjusted_book_minor == 121_700
    assert (usd.difference_minor, jpy.difference_minor) == (0, 0)
    assert report.summary.statements_tie
    # The completeness check is kept, separately: zero by construction here.
    assert [t.unexplained_minor for t in report.tie_outs] == [0, 0]


def test_a_posting_missing_from_the_books_shows_as_a_difference() -> None:
    books = {**SAMPLE_BOOKS_BALANCE, "ops-usd": Balance(119_850 - 4_950, "trial balance")}
    report = build_report(inputs(sample_result(), books=books))
    assert report.statements[0].difference_minor == 4_950
    assert not report.summary.statements_tie
    no_balance = {**SAMPLE_BOOKS_BALANCE, "ops-usd": Balance(None, "none")}
    missing = build_report(inputs(sample_result(), books=no_balance)).statements[0]
    assert missing.difference_minor is None and missing.adjusted_bank_minor == 121_700


def test_items_are_grouped_by_treatment_with_one_open_count_everywhere() -> None:
    match_result = result(discrepancies=[
        # A pending card charge and the ledger entry booked for it: one timing item.
        discrepancy("d-pend", "pending", -2_500, bank="pb", age=1, description="CARD"),
        discrepancy("d-book", "unmatched_ledger", -2_500, side="ledger", ledger="lb", age=1),
        # A debit and its reversal: one item that nets to zero.
        discrepancy("d-rev1", "reversal", -9_000, bank="r1", age=6),
        discrepancy("d-rev2", "reversal", 9_000, bank="r2", age=4),
        discrepancy("d-fee", "unmatched_bank", -1_500, bank="f1", description="MONTHLY FEE"),
        discrepancy("d-int", "unmatched_bank", 321, bank="i1", description="INTEREST PAYMENT"),
        discrepancy("d-dup", "probable_duplicate", -4_000, bank="dup", description="UBER"),
        discrepancy("d-twice", "probable_duplicate", 800, side="ledger", ledger="lt"),
        discrepancy("d-chk", "unmatched_ledger", -70_000, side="ledger", ledger="chk"),
    ])
    bank = bank_frame([bank_row("pb", -2_500, "CARD", age=1, pending=True),
                       bank_row("r1", -9_000, age=6), bank_row("r2", 9_000, age=4),
                       bank_row("f1", -1_500, "MONTHLY FEE"), bank_row("i1", 321, "INTEREST"),
                       bank_row("dup", -4_000, "UBER")])
    ledger = ledger_frame([ledger_row("lb", -2_500, "Card", age=1), ledger_row("lt", 800),
                           ledger_row("chk", -70_000, "Check #1001")])
    threshold = AlertThreshold(count=5)
    report = build_report(inputs(match_result, bank=bank, ledger=ledger, threshold=threshold))
    by_id = {item.item_id: item for item in report.items}
    assert set(by_id) == {"d-pend", "d-rev1", "d-fee", "d-int", "d-dup", "d-twice", "d-chk"}
    pending = by_id["d-pend"]
    assert pending.member_ids == ("d-pend", "d-book") and pending.treatment == Treatment.TIMING
    assert pending.category == Category.PENDING_AT_BANK and pending.effect_minor == -2_500
    assert pending.bank is not None and pending.ledger is not None
    reversal = by_id["d-rev1"]
    assert reversal.treatment == Treatment.NONE and reversal.effect_minor == 0
    assert reversal.other is not None and reversal.other.id == "r2"
    assert by_id["d-fee"].category == Category.BANK_CHARGE
    assert by_id["d-int"].category == Category.INTEREST
    assert by_id["d-dup"].category == Category.BANK_ERROR
    assert by_id["d-dup"].treatment == Treatment.BANK and by_id["d-dup"].effect_minor == 4_000
    assert by_id["d-twice"].category == Category.DUPLICATE_POSTING
    assert by_id["d-twice"].effect_minor == -800
    assert by_id["d-chk"].category == Category.OUTSTANDING_PAYMENT
    assert report.summary.open_count == 7 == len(report.items)
    assert report.threshold.reasons == ("7 open items (threshold 5)",)
    counts = {t.treatment: t.open_count for t in report.summary.treatments}
    assert counts == {Treatment.TIMING: 2, Treatment.NONE: 1, Treatment.ENTRY: 3,
                      Treatment.BANK: 1}


def test_materiality_is_in_the_functional_currency_and_age_is_separate() -> None:
    match_result = result(discrepancies=[
        discrepancy("d-jpy", "unmatched_bank", 7_133, bank="y", account="ops-jpy",
                    currency="JPY", age=40),
        discrepancy("d-usd", "unmatched_ledger", 263_061, side="ledger", ledger="u", age=1),
        discrepancy("d-usd-small", "unmatched_ledger", 2_630, side="ledger", ledger="s", age=90),
    ])
    report = build_report(inputs(match_result))
    timing = report.items_of([Treatment.TIMING])
    assert [i.item_id for i in timing] == ["d-usd", "d-usd-small"]
    jpy = next(i for i in report.items if i.item_id == "d-jpy")
    assert jpy.functional == Decimal("47.79")  # 7,133 x 0.0067, to the cent
    assert jpy.age_days == 40 and jpy.age_bucket == ">30"
    assert report.summary.missing_fx_rates == ()
    # Without a rate the item has no functional amount: it goes last, and the report says so.
    no_rate = replace(inputs(match_result), statement=replace_rates({}))
    unrated = build_report(no_rate)
    assert unrated.summary.missing_fx_rates == ("JPY",)
    assert next(i for i in unrated.items if i.item_id == "d-jpy").functional is None
    assert [i.item_id for i in unrated.items][-1] == "d-jpy"


def replace_rates(rates: dict[str, Decimal]) -> StatementConfig:
    return StatementConfig(functional_currency="USD", fx_rates=rates)


def test_every_row_shows_both_sides_and_the_nearest_candidate_in_words() -> None:
    report = build_report(inputs(sample_result()))
    unrecorded = next(i for i in report.items if i.item_id == "d-b3")
    assert unrecorded.bank is not None and unrecorded.bank.amount_minor == 2_000
    assert unrecorded.bank.description == "Card payment ACME"
    assert unrecorded.other is not None and unrecorded.other.id == "l3"
    assert unrecorded.other_label == "nearest ledger entry"
    assert unrecorded.other.description == "Invoice 77"
    mismatch = next(i for i in report.items if i.item_id == "d-b4")
    assert mismatch.bank is not None and mismatch.ledger is not None
    assert (mismatch.bank.amount_minor, mismatch.ledger.amount_minor) == (1_000, 1_200)
    suggestion = report.suggestions[0]
    assert suggestion.match_id == "m-b5" and suggestion.bank is not None
    assert suggestion.ledger is not None and suggestion.ledger.description == "Coffee"
    assert suggestion.alternatives.startswith("ledger ")  # the shared bank side is left out
    assert "Northwind invoice" in suggestion.alternatives
    assert "(score 0.70)" in suggestion.alternatives
    link_lines = report.links.lines()
    assert [line.status for line in link_lines][:1] == ["suggested"]
    assert all(line.bank is not None and line.ledger is not None for line in link_lines)


def test_entries_are_proposed_for_items_that_need_one_and_balance() -> None:
    match_result = result(discrepancies=[
        discrepancy("d-fee", "unmatched_bank", -1_500, bank="f1", description="SERVICE FEE"),
        discrepancy("d-int", "unmatched_bank", 321, bank="i1", description="INTEREST"),
    ], links=[link("m-w", "w1", "lw", "matched_with_difference", difference=-2_500)])
    report = build_report(inputs(match_result, bank=bank_frame([
        bank_row("f1", -1_500, "SERVICE FEE"), bank_row("i1", 321, "INTEREST"),
        bank_row("w1", 97_500, "WIRE")]), ledger=ledger_frame([ledger_row("lw", 100_000)])))
    journal = list(report.journal)
    fee = [(j.account, j.debit_minor, j.credit_minor) for j in journal if j.entry_id == "d-fee"]
    assert fee == [("6100 Bank charges", 1_500, 0), ("ops-usd", 0, 1_500)]
    interest = [(j.account, j.debit_minor, j.credit_minor) for j in journal
                if j.entry_id == "d-int"]
    assert interest == [("ops-usd", 321, 0), ("4100 Interest income", 0, 321)]
    wire = [(j.account, j.debit_minor) for j in journal if j.entry_id == "m-w"]
    assert wire == [("6150 Payment differences", 2_500), ("ops-usd", 0)]
    assert sum(j.debit_minor for j in journal) == sum(j.credit_minor for j in journal)


def test_suggestions_accepted_become_matches_and_rejected_ones_reopen_their_rows() -> None:
    match_result = result(links=[link("m-a", "ba", "la", "suggested"),
                                 link("m-r", "br", "lr", "suggested")],
                          alternatives=[{"match_id": "m-r", "bank_transaction_id": "br",
                                         "ledger_entry_id": "lx", "score": 0.5}])
    bank = bank_frame([bank_row("ba", 100), bank_row("br", -250, "ACME")])
    ledger = ledger_frame([ledger_row("la", 100), ledger_row("lr", -250)])
    when = datetime(2024, 3, 16, 9, 0, tzinfo=UTC)
    decisions = {
        "m-a": LinkDecision("m-a", "ba", "la", "accepted", "Alice", when, "run-1", AS_OF),
        "m-r": LinkDecision("m-r", "br", "lr", "rejected", "Bob", when, "run-1", AS_OF),
    }
    applied = apply_link_decisions(match_result, decisions, bank, ledger, AS_OF)
    assert applied.links[["match_id", "status"]].values.tolist() == [["m-a", "matched"]]
    assert "accepted by Alice on 2024-03-16" in applied.links["explanation"].iloc[0]
    opened = applied.discrepancies.set_index("kind")
    assert set(opened.index) == {"unmatched_bank", "unmatched_ledger"}
    assert opened.loc["unmatched_bank", "bank_transaction_id"] == "br"
    assert "rejected by Bob" in opened.loc["unmatched_ledger", "explanation"]
    assert tuple(applied.discrepancies.columns) == DISCREPANCY_COLUMNS
    assert applied.alternatives.empty


@pytest.mark.parametrize(("age", "bucket"), [(0, "0-3"), (3, "0-3"), (4, "4-7"), (7, "4-7"),
                                             (8, "8-30"), (30, "8-30"), (31, ">30")])
def test_age_buckets(age: int, bucket: str) -> None:
    assert age_bucket(age) == bucket


def test_summary_counts_rates_freshness_and_threshold() -> None:
    threshold = AlertThreshold(count=2, total_amount={"USD": Decimal("50")}, oldest_age_days=30)
    report = build_report(inputs(sample_result(), threshold=threshold))
    s = report.summary
    statuses = {c.status: (c.groups, c.links) for c in s.link_statuses}
    assert statuses == {"suggested": (1, 1), "matched_with_difference": (1, 1), "matched": (2, 2)}
    # b1 b2 b5 y1 linked, b3 b4 y2 open; the pending p1 is not a bank item yet.
    assert (s.bank_items, s.bank_items_auto_matched) == (7, 3)
    assert s.open_count == 6  # 5 discrepancies + the matched-with-difference group's 0.50
    assert [i.status for i in s.items_needing_relink] == ["needs_relink"]
    assert report.threshold.exceeded
    assert report.threshold.reasons[0] == "6 open items (threshold 2)"
    assert "oldest open item is 40 days old (threshold 30)" in report.threshold.reasons


def test_csv_and_json_follow_the_contract_and_keep_ids_and_formulas_inert(tmp_path: Path) -> None:
    match_result = sample_result(description=FORMULA)
    extra = discrepancy("1994629787702547", "unmatched_bank", 100, bank="16899102199236e5")
    match_result = replace(match_result, discrepancies=pd.concat(
        [match_result.discrepancies, result(discrepancies=[extra]).discrepancies],
        ignore_index=True))
    report = build_report(inputs(match_result))
    paths = write_reports(report, tmp_path, formats=["csv", "json"], dated=False)
    assert [p.name for p in paths] == ["matches.csv", "discrepancies.csv", "journal-entries.csv",
                                       "summary.json"]
    with (tmp_path / "matches.csv").open(newline="", encoding="utf-8") as handle:
        matches = list(csv.DictReader(handle))
    assert tuple(matches[0]) == MATCH_CSV_COLUMNS
    assert tuple(c.removesuffix("_minor") for c in LINK_COLUMNS) == MATCH_CSV_COLUMNS
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
    assert rows["d-l3"]["category"] == "deposit_in_transit"
    assert rows["d-l3"]["treatment"] == "timing"
    assert rows["d-y2"]["functional_amount"] == "33.50"
    # Ids a spreadsheet would turn into numbers stay text.
    numeric = rows["'1994629787702547"]
    assert numeric["bank_transaction_id"] == "'16899102199236e5"
    assert csv_id("JE-000123") == "JE-000123" and csv_id("2024-01-02") == "'2024-01-02"

    with (tmp_path / "journal-entries.csv").open(newline="", encoding="utf-8") as handle:
        journal = list(csv.DictReader(handle))
    assert tuple(journal[0]) == JOURNAL_CSV_COLUMNS
    assert {(j["entry_id"], j["account"], j["debit"], j["credit"]) for j in journal} >= {
        ("d-b3", "ops-usd", "20.00", ""), ("d-b3", "1999 Suspense", "", "20.00")}

    summary = json.loads((tmp_path / "summary.json").read_text(encoding="utf-8"))
    assert summary["run_id"] == "run-1" and summary["as_of"] == AS_OF.isoformat()
    assert summary["items"]["open_count"] == report.summary.open_count
    assert summary["statements"][0]["difference"] == "-1.00"  # the extra item is not booked
    assert summary["statements"][1]["difference"] == "0"
    assert summary["completeness_check"][0]["unexplained"] == "-1.00"
    # Without a store every item is new; the totals are absolute amounts per currency.
    assert summary["changes"]["new"] == 6
    assert summary["changes"]["new_amount"] == {"JPY": "5000", "USD": "58.00"}
    assert summary["threshold"] == {"exceeded": False, "reasons": []}


def test_nightly_file_names_carry_the_date(tmp_path: Path) -> None:
    report = build_report(inputs(sample_result()))
    paths = write_reports(report, tmp_path, formats=["xlsx", "html", "csv", "json"])
    assert sorted(p.name for p in paths) == [
        "discrepancies-2024-03-15.csv", "journal-entries-2024-03-15.csv",
        "matches-2024-03-15.csv", "reconciliation-2024-03-15.html",
        "reconciliation-2024-03-15.xlsx", "summary-2024-03-15.json"]
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


def test_the_report_model_works_without_rows_in_words() -> None:
    bare = replace(inputs(sample_result()), bank=None, ledger=None)
    report = build_report(bare)
    assert report.statements[0].difference_minor == 0
    assert all(i.bank is None for i in report.items if i.category != Category.LINK_DIFFERENCE)
    assert sample_bank().shape[0] == 8 and sample_ledger().shape[0] == 6
