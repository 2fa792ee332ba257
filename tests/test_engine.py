"""Golden cases for the matching engine, one per scenario kind, plus property tests."""

from __future__ import annotations

import datetime as dt
import gc
from pathlib import Path
from typing import Any

import hypothesis.strategies as st
import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings

from recon.config import MatchingConfig, load_config
from recon.engine import reconcile
from recon.engine.groups import expected_chance_fits, fitting_subsets
from recon.frames import ALTERNATIVE_COLUMNS, DISCREPANCY_COLUMNS, LINK_COLUMNS, MatchResult

AS_OF = dt.date(2024, 3, 31)

# The golden cases run the matching config that ships in config.yaml.
MATCHING = load_config(Path(__file__).resolve().parents[1] / "config.yaml", environ={}).matching


def with_pass(matching: MatchingConfig, name: str, **changes: Any) -> MatchingConfig:
    """``matching`` with the settings of its pass ``name`` changed."""
    passes = tuple(p.model_copy(update=changes) if p.name == name else p for p in matching.passes)
    return matching.model_copy(update={"passes": passes})


# The shipped passes without the aggregate ones (settlement, reference totals, partial
# payments): what the subset-sum group search finds on its own.
SUBSET_SUM_ONLY = MATCHING.model_copy(
    update={
        "passes": tuple(
            p
            for p in MATCHING.passes
            if p.kind not in ("settlement", "reference_totals", "partial_payments", "remittances")
        )
    }
)


def bank_row(
    tid: str, amount: int, date: str, description: str = "", counterparty: str = "",
    reference: str = "", *, pending: bool = False, account: str = "1010", currency: str = "USD",
) -> dict[str, Any]:  # fmt: skip
    return {
        "transaction_id": tid, "account": account, "plaid_account_id": f"plaid-{account}",
        "currency": currency, "amount_minor": amount, "date": pd.Timestamp(date),
        "authorized_date": pd.NaT, "description": description, "counterparty": counterparty,
        "reference": reference, "pending": pending, "pending_transaction_id": "",
    }  # fmt: skip


def ledger_row(
    eid: str, amount: int, date: str, description: str = "", counterparty: str = "",
    reference: str = "", *, account: str = "1010", currency: str = "USD",
) -> dict[str, Any]:  # fmt: skip
    return {
        "entry_id": eid, "account": account, "currency": currency, "amount_minor": amount,
        "date": pd.Timestamp(date), "description": description, "reference": reference,
        "counterparty": counterparty,
    }  # fmt: skip


def run(
    bank: list[dict[str, Any]], ledger: list[dict[str, Any]], matching: MatchingConfig = MATCHING
) -> MatchResult:
    bank_frame = pd.DataFrame(bank) if bank else _empty_bank()
    ledger_frame = pd.DataFrame(ledger) if ledger else _empty_ledger()
    return reconcile(bank_frame, ledger_frame, matching, as_of=AS_OF)


def _empty_bank() -> pd.DataFrame:
    frame = pd.DataFrame([bank_row("x", 1, "2024-01-01")])
    return frame.iloc[0:0]


def _empty_ledger() -> pd.DataFrame:
    frame = pd.DataFrame([ledger_row("x", 1, "2024-01-01")])
    return frame.iloc[0:0]


def links_of(result: MatchResult) -> dict[tuple[str, str], dict[str, Any]]:
    return {
        (row["bank_transaction_id"], row["ledger_entry_id"]): row
        for row in result.links.to_dict("records")
    }


def only_discrepancy(result: MatchResult, kind: str) -> dict[str, Any]:
    rows = result.discrepancies[result.discrepancies["kind"] == kind].to_dict("records")
    assert len(rows) == 1, result.discrepancies
    return rows[0]


# -- golden cases ------------------------------------------------------------------------------


def test_exact_match_is_matched_and_explained() -> None:
    result = run(
        [bank_row("B1", 10_000, "2024-03-02", "ACME CORP", "ACME")],
        [ledger_row("L1", 10_000, "2024-03-01", "Invoice ACME", "ACME")],
    )
    assert list(result.links.columns) == list(LINK_COLUMNS)
    link = links_of(result)[("B1", "L1")]
    assert link["status"] == "matched"
    assert link["rule"] == "exact_amount"
    assert link["amount_difference_minor"] == 0
    assert link["date_difference_days"] == 1
    assert link["explanation"].startswith(
        "rule exact_amount: same amount, bank 1 day after ledger; score parts amount 1.00, "
        "date 0.50,"
    )
    assert result.discrepancies.empty
    assert list(result.discrepancies.columns) == list(DISCREPANCY_COLUMNS)


def test_reference_match_wins_over_same_amount_decoy() -> None:
    result = run(
        [bank_row("B1", 50_000, "2024-03-05", "WIRE GLOBEX INV-7781", "Globex")],
        [
            ledger_row("L-decoy", 50_000, "2024-03-05", "Globex invoice", "Globex"),
            ledger_row("L-ref", 50_000, "2024-03-08", "Globex invoice", "Globex", "7781"),
        ],
    )
    link = links_of(result)[("B1", "L-ref")]
    assert link["rule"] == "exact_reference"
    assert link["status"] == "matched"
    assert "reference 1.00" in link["explanation"]
    unmatched = only_discrepancy(result, "unmatched_ledger")
    assert unmatched["ledger_entry_id"] == "L-decoy"


def test_identical_payroll_payments_are_suggested_with_alternatives() -> None:
    result = run(
        [
            bank_row("B1", -250_000, "2024-03-05", "PAYROLL", "ADP"),
            bank_row("B2", -250_000, "2024-03-05", "PAYROLL", "ADP"),
        ],
        [
            ledger_row("L1", -250_000, "2024-03-05", "Payroll", "ADP"),
            ledger_row("L2", -250_000, "2024-03-05", "Payroll", "ADP"),
        ],
    )
    assert set(result.links["status"]) == {"suggested"}
    assert len(result.links) == 2
    assert (
        "suggested: 2 other candidates within 0.05 of this score"
        in result.links["explanation"].iloc[0]
    )
    assert list(result.alternatives.columns) == list(ALTERNATIVE_COLUMNS)
    pairs = set(zip(result.alternatives["bank_transaction_id"],
                    result.alternatives["ledger_entry_id"], strict=True))  # fmt: skip
    linked = set(zip(result.links["bank_transaction_id"], result.links["ledger_entry_id"],
                     strict=True))  # fmt: skip
    all_pairs = {(b, x) for b in ("B1", "B2") for x in ("L1", "L2")}
    assert pairs == all_pairs - linked
    assert set(result.alternatives["match_id"]) == set(result.links["match_id"])


def test_payout_groups_sales_minus_fee() -> None:
    result = run(
        [bank_row("B1", 97_000, "2024-03-10", "STRIPE PAYOUT", "Stripe")],
        [
            ledger_row("S1", 40_000, "2024-03-08", "Stripe sale", "Stripe"),
            ledger_row("S2", 35_000, "2024-03-08", "Stripe sale", "Stripe"),
            ledger_row("S3", 25_000, "2024-03-09", "Stripe sale", "Stripe"),
            ledger_row("F1", -3_000, "2024-03-09", "Stripe fee", "Stripe"),
        ],
        SUBSET_SUM_ONLY,
    )
    links = result.links
    assert set(links["ledger_entry_id"]) == {"S1", "S2", "S3", "F1"}
    assert set(links["bank_transaction_id"]) == {"B1"}
    assert links["match_id"].nunique() == 1
    assert set(links["status"]) == {"matched"}
    assert set(links["rule"]) == {"group"}
    assert set(links["amount_difference_minor"]) == {0}
    assert "group of 4 (1 bank : 4 ledger) sums to 970.00; rows of STRIPE" in (
        links["explanation"].iloc[0]
    )
    assert result.discrepancies.empty


def test_payout_sharing_a_reference_is_grouped_before_a_look_alike_takes_a_sale() -> None:
    # B2 (an unrelated card refund) has S2's amount on S2's day: the exact-amount rule would
    # link them and break the payout, unless same-reference pools are grouped first.
    result = run(
        [
            bank_row("B1", 97_000, "2024-03-10", "SHOPIFY PAYOUT PO1234", reference="po_1234"),
            bank_row("B2", 35_000, "2024-03-08", "CARD REFUND MERCHANT"),
        ],
        [
            ledger_row("S1", 40_000, "2024-03-08", "Shopify sale ch_1", "Shopify", "po_1234"),
            ledger_row("S2", 35_000, "2024-03-08", "Shopify sale ch_2", "Shopify", "po_1234"),
            ledger_row("S3", 25_000, "2024-03-09", "Shopify sale ch_3", "Shopify", "po_1234"),
            ledger_row("F1", -3_000, "2024-03-09", "Shopify fees", "Shopify", "po_1234"),
        ],
    )
    group = result.links[result.links["bank_transaction_id"] == "B1"]
    assert set(group["ledger_entry_id"]) == {"S1", "S2", "S3", "F1"}
    assert set(group["status"]) == {"matched"}
    assert "B2" not in set(result.links["bank_transaction_id"])
    assert only_discrepancy(result, "unmatched_bank")["bank_transaction_id"] == "B2"


def test_all_rows_sharing_the_payout_reference_form_the_group() -> None:
    # {S1, S2, S3} alone also sums to the deposit, but the refunded sale pair (S4, R4) carries
    # the same payout id: the whole same-reference pool is the payout, not a guess between two.
    ref = "po_77"
    result = run(
        [bank_row("B1", 60_000, "2024-03-10", "STRIPE PAYOUT PO77", reference=ref)],
        [
            ledger_row("S1", 10_000, "2024-03-08", "Stripe sale", "Stripe", ref),
            ledger_row("S2", 20_000, "2024-03-08", "Stripe sale", "Stripe", ref),
            ledger_row("S3", 30_000, "2024-03-09", "Stripe sale", "Stripe", ref),
            ledger_row("S4", 5_000, "2024-03-09", "Stripe sale", "Stripe", ref),
            ledger_row("R4", -5_000, "2024-03-09", "Stripe refund", "Stripe", ref),
        ],
    )
    assert set(result.links["ledger_entry_id"]) == {"S1", "S2", "S3", "S4", "R4"}
    assert set(result.links["status"]) == {"matched"}
    assert result.discrepancies.empty


def test_unique_fit_that_chance_would_give_is_only_suggested() -> None:
    # Powers of two: every target up to 163.83 has exactly one fitting subset, so uniqueness
    # says nothing here; 14 rows give 16,384 sums over that range, about one per cent.
    bank = [bank_row("B1", 0x1555, "2024-03-10", "ACME CORP PAYMENT", "Acme")]
    ledger = [ledger_row(f"L{k:02}", 1 << k, "2024-03-08", "Acme invoice", "Acme")
              for k in range(14)]  # fmt: skip
    links = run(bank, ledger, with_pass(MATCHING, "groups", max_chance_rows=7)).links
    assert set(links["ledger_entry_id"]) == {f"L{k:02}" for k in range(0, 14, 2)}
    assert set(links["status"]) == {"suggested"}
    assert "subsets would fit by chance" in links["explanation"].iloc[0]
    # A group of seven rows that chance would give is a coincidence more often than not: the
    # shipped groups pass (max_chance_rows 6) leaves the rows open.
    assert "group" not in set(run(bank, ledger).links["rule"])


def test_expected_chance_fits() -> None:
    powers = np.array([1 << k for k in range(14)], dtype=np.int64)
    assert expected_chance_fits(powers, 0x1555, 0) > 1.0
    sales = np.array([40_000, 35_000, 25_000, 18_000, 12_500, -3_000], dtype=np.int64)
    assert expected_chance_fits(sales, int(sales.sum()), 0) < 0.05  # the whole pool fits
    assert expected_chance_fits(np.zeros(3, dtype=np.int64), 0, 0) == 0.0


def test_group_search_stops_at_its_work_budget() -> None:
    bank = [bank_row("B1", 97_000, "2024-03-10", "STRIPE PAYOUT", "Stripe")]
    ledger = [
        ledger_row("S1", 40_000, "2024-03-08", "Stripe sale", "Stripe"),
        ledger_row("S2", 35_000, "2024-03-08", "Stripe sale", "Stripe"),
        ledger_row("S3", 25_000, "2024-03-09", "Stripe sale", "Stripe"),
        ledger_row("F1", -3_000, "2024-03-09", "Stripe fee", "Stripe"),
    ]
    # Half the budget per direction: 2 * 16 sums (4 candidates) is just enough, 2 * 15 is not.
    for budget, grouped in ((32, True), (30, False)):
        matching = with_pass(SUBSET_SUM_ONLY, "groups", max_subset_sums=budget)
        result = reconcile(pd.DataFrame(bank), pd.DataFrame(ledger), matching, as_of=AS_OF)
        assert (set(result.links["rule"]) == {"group"}) is grouped
        assert (len(result.links) == 4) is grouped


def test_invoice_paid_in_three_transfers() -> None:
    result = run(
        [
            # At most one round part: sums of round amounts fit by chance (only suggested).
            bank_row("B1", 51_240, "2024-03-21", "Umbrella part 1", "Umbrella"),
            bank_row("B2", 18_760, "2024-03-22", "Umbrella part 2", "Umbrella"),
            bank_row("B3", 10_000, "2024-03-23", "Umbrella part 3", "Umbrella"),
        ],
        [ledger_row("L1", 80_000, "2024-03-20", "Umbrella invoice", "Umbrella")],
        SUBSET_SUM_ONLY,
    )
    links = result.links
    assert set(links["bank_transaction_id"]) == {"B1", "B2", "B3"}
    assert set(links["ledger_entry_id"]) == {"L1"}
    assert links["match_id"].nunique() == 1
    assert set(links["status"]) == {"matched"}
    assert "group of 3 (3 bank : 1 ledger) sums to 800.00; rows of UMBRELLA" in (
        links["explanation"].iloc[0]
    )


def test_group_with_two_fitting_subsets_is_suggested() -> None:
    result = run(
        [bank_row("B1", 30_000, "2024-03-10", "STRIPE PAYOUT", "Stripe")],
        [
            ledger_row("S1", 10_000, "2024-03-08", "Stripe sale", "Stripe"),
            ledger_row("S2", 20_000, "2024-03-08", "Stripe sale", "Stripe"),
            ledger_row("S3", 20_000, "2024-03-09", "Stripe sale", "Stripe"),
        ],
        SUBSET_SUM_ONLY,  # remittance_totals takes the whole of 03-08: the subset search alone
    )
    assert set(result.links["status"]) == {"suggested"}
    assert len(result.links) == 2
    assert not result.alternatives.empty
    assert set(result.alternatives["match_id"]) == set(result.links["match_id"])


def test_wire_fee_is_matched_with_difference() -> None:
    # A 20.00 wire fee on 2,500.00: more than the flat 5.00, within 1 percent.
    result = run(
        [bank_row("B1", 248_000, "2024-03-12", "WIRE IN GLOBEX", "Globex")],
        [ledger_row("L1", 250_000, "2024-03-11", "Globex invoice", "Globex")],
    )
    link = links_of(result)[("B1", "L1")]
    assert link["status"] == "matched_with_difference"
    assert link["rule"] == "difference"
    assert link["amount_difference_minor"] == -2_000
    assert link["explanation"].startswith(
        "rule difference: amount differs by 20.00, bank 1 day after ledger"
    )


def test_a_japanese_banks_transfer_fee_deducted_from_a_small_invoice() -> None:
    # Tanaka paid 33,000 yen less the 660-yen furikomi fee (2%): over 0.5 percent, and 660
    # over "50.00", which in yen is 50 yen; deducted_fees allows 1,000 yen (amount_by_currency).
    yen = {"currency": "JPY"}
    bank = [bank_row("B1", 32_340, "2024-03-05", "FURIKOMI KK TANAKA SHOJI", **yen)]
    ledger = [ledger_row("L1", 33_000, "2024-03-04", "Receipt JP-INV-3101 Tanaka Shoji K.K.",
                         "Tanaka Shoji K.K.", "JP-INV-3101", **yen)]  # fmt: skip
    link = links_of(run(bank, ledger))[("B1", "L1")]
    assert (link["status"], link["rule"]) == ("matched_with_difference", "deducted_fees")
    assert link["amount_difference_minor"] == -660
    # 1,200 yen short is more than a transfer fee: not a fee difference.
    short = [bank[0] | {"amount_minor": 31_800}]
    assert ("B1", "L1") not in links_of(run(short, ledger))


def test_transposed_digits_are_an_amount_mismatch_naming_both() -> None:
    result = run(
        [bank_row("B1", 123_456, "2024-03-12", "Initech payment", "Initech")],
        [ledger_row("L1", 124_356, "2024-03-11", "Initech payment", "Initech")],
    )
    assert result.links.empty
    item = only_discrepancy(result, "amount_mismatch")
    assert item["side"] == "both"
    assert (item["bank_transaction_id"], item["ledger_entry_id"]) == ("B1", "L1")
    assert item["explanation"] == (
        "bank 1234.56 vs ledger 1243.56 (differs by 9.00: transposed digits), same counterparty, "
        "1 day apart"
    )
    assert len(result.discrepancies) == 1


def test_probable_duplicate_bank_row() -> None:
    result = run(
        [
            bank_row("B1", -4_999, "2024-03-16", "Netflix", "Netflix"),
            bank_row("B2", -4_999, "2024-03-16", "Netflix", "Netflix"),
        ],
        [ledger_row("L1", -4_999, "2024-03-16", "Netflix", "Netflix")],
    )
    assert len(result.links) == 1
    item = only_discrepancy(result, "probable_duplicate")
    linked_bank = result.links["bank_transaction_id"].iloc[0]
    assert item["bank_transaction_id"] == ({"B1", "B2"} - {linked_bank}).pop()
    assert item["explanation"].startswith(
        f"same amount, counterparty and description as bank transaction {linked_bank} "
        "(same day), which is matched with L1"
    )


def test_reversal_pair() -> None:
    result = run(
        [
            bank_row("B1", -3_000, "2024-03-17", "CARD REFUND X", "Shop"),
            bank_row("B2", 3_000, "2024-03-19", "CARD REFUND X", "Shop"),
        ],
        [],
    )
    items = result.discrepancies
    assert list(items["kind"]) == ["reversal", "reversal"]
    by_id = {row["bank_transaction_id"]: row for row in items.to_dict("records")}
    assert by_id["B1"]["explanation"].startswith("reversed by bank transaction B2 (30.00, 2 days")
    assert by_id["B2"]["explanation"].startswith("reversed by bank transaction B1 (-30.00")
    assert by_id["B1"]["explanation"].endswith("no ledger entry with this account and currency")


def test_a_copy_is_a_duplicate_among_many_linked_rows_of_its_amount() -> None:
    # Ten other 20.00 subscriptions charged the same day are linked too; Dropbox's charge came
    # twice, and its copy is a probable duplicate, however many rows share the amount.
    names = ["Notion", "Slack", "Zoom", "Figma", "Miro", "Canva", "Loom", "Linear", "Asana",
             "Trello"]  # fmt: skip
    bank = [bank_row(f"B{k:02d}", -2_000, "2024-03-02", name.upper(), name)
            for k, name in enumerate(names)]  # fmt: skip
    ledger = [ledger_row(f"L{k:02d}", -2_000, "2024-03-02", f"{name} subscription", name)
              for k, name in enumerate(names)]  # fmt: skip
    bank += [bank_row(f"Z{k}", -2_000, "2024-03-02", "DROPBOX*IR7WJ69U", "Dropbox")
             for k in (1, 2)]  # fmt: skip
    ledger += [ledger_row("LZ", -2_000, "2024-03-01", "Dropbox subscription", "Dropbox")]
    items = run(bank, ledger).discrepancies
    assert list(items["kind"]) == ["probable_duplicate"]
    assert set(items["bank_transaction_id"]) < {"Z1", "Z2"}


def test_seats_of_a_subscription_booked_in_the_last_days_are_in_transit() -> None:
    # Four GitHub seats booked on 30 March (as of 31 March), one charged so far: the other three
    # may still clear. A second posting of one row the same day is a probable duplicate, and so
    # are several copies a week old, which had time to clear.
    seat = ("GitHub subscription Apr 2024", "GitHub")
    bank = [bank_row("B1", -4_900, "2024-03-30", "GITHUB, INC.", "GitHub")]
    ledger = [ledger_row(f"L{k}", -4_900, "2024-03-30", *seat) for k in range(1, 5)]
    kinds = run(bank, ledger).discrepancies["kind"]
    assert list(kinds) == ["unmatched_ledger"] * 3
    assert list(run(bank, ledger[:2]).discrepancies["kind"]) == ["probable_duplicate"]
    week_old = [row | {"date": pd.Timestamp("2024-03-22")} for row in ledger]
    bank_week_old = [bank[0] | {"date": pd.Timestamp("2024-03-22")}]
    assert list(run(bank_week_old, week_old).discrepancies["kind"]) == ["probable_duplicate"] * 3


def test_a_days_wire_fees_of_one_amount_are_no_duplicates_when_as_many_wires_went_out() -> None:
    # Two wires went out on 4 March and the bank charged 25.00 for each; the books hold one of
    # the fees so far. The other fee line is a bank charge to book, not a copy of the first;
    # on 6 March one wire went out and the fee came twice: a probable duplicate.
    fee = ("WIRE TRANSFER FEE", "")
    bank = [
        bank_row("B1", -1_200_000, "2024-03-04", "WIRE TRF OUT BLUE SHIELD OF CA"),
        bank_row("B2", -830_000, "2024-03-04", "WIRE TRF OUT COMCAST BUSINESS"),
        bank_row("F1", -2_500, "2024-03-04", *fee),
        bank_row("F2", -2_500, "2024-03-04", *fee),
        bank_row("B3", -410_000, "2024-03-06", "WIRE TRF OUT OFFICE DEPOT"),
        bank_row("F3", -2_500, "2024-03-06", *fee),
        bank_row("F4", -2_500, "2024-03-06", *fee),
    ]
    ledger = [
        ledger_row("L1", -1_200_000, "2024-03-04", "Blue Shield of California", "Blue Shield"),
        ledger_row("L2", -830_000, "2024-03-04", "Comcast Business", "Comcast"),
        ledger_row("L3", -2_500, "2024-03-04", "Wire fee Blue Shield", "First Platypus Bank"),
        ledger_row("L4", -410_000, "2024-03-06", "Office Depot", "Office Depot"),
        ledger_row("L5", -2_500, "2024-03-06", "Wire fee Office Depot", "First Platypus Bank"),
    ]
    items = run(bank, ledger).discrepancies
    kinds = dict(zip(items["bank_transaction_id"], items["kind"], strict=True))
    assert sorted(kinds.values()) == ["probable_duplicate", "unmatched_bank"]
    assert kinds.keys() < {"F1", "F2", "F3", "F4"}
    assert {b for b, k in kinds.items() if k == "unmatched_bank"} < {"F1", "F2"}


def test_a_monthly_charge_is_not_paid_by_a_weeks_wire_fee_rows() -> None:
    # Five wire fees booked from the statement sum to the month's 95.00 maintenance charge.
    # "fee" is no payee's name: each fee row is its own fee line's, and the charge stays open.
    fees = [("F1", -1_500, "2024-03-27", "Blue Shield"), ("F2", -2_000, "2024-03-27", "Comcast"),
            ("F3", -2_500, "2024-03-28", "Office Depot"), ("F4", -1_500, "2024-03-28", "Sysco"),
            ("F5", -2_000, "2024-03-28", "Cintas")]  # fmt: skip
    bank = [bank_row(f"B{tid}", amount, day, "OUTGOING WIRE FEE") for tid, amount, day, _ in fees]
    bank.append(bank_row("BM", -9_500, "2024-03-29", "ACCOUNT MAINTENANCE FEE"))
    ledger = [ledger_row(f"L{tid}", amount, day, f"Wire fee {name}", "First Platypus Bank")
              for tid, amount, day, name in fees]  # fmt: skip
    result = run(bank, ledger)
    assert sorted(links_of(result)) == [(f"B{tid}", f"L{tid}") for tid, *_ in fees]
    assert list(result.discrepancies["bank_transaction_id"]) == ["BM"]


def test_a_wire_fee_booked_at_month_end_is_the_fee_line_of_its_wires_day() -> None:
    # The books enter the wire fees from the statement on 29 March, with each wire's
    # reference. Blue Shield's fee was charged with its wire on 4 March; the -25.00 fee line of
    # 28 March is Comcast's, which the books have not entered: it stays open.
    bank = [
        bank_row("W1", -1_200_000, "2024-03-04", "WIRE TRF OUT BLUE SHIELD OF CA PO 57319"),
        bank_row("F1", -2_500, "2024-03-04", "OUTGOING WIRE FEE"),
        bank_row("W2", -830_000, "2024-03-28", "WIRE TRF OUT COMCAST BUSINESS PO 57400"),
        bank_row("F2", -2_500, "2024-03-28", "OUTGOING WIRE FEE"),
        bank_row("W3", -410_000, "2024-03-12", "WIRE TRF OUT OFFICE DEPOT BL1234"),
        bank_row("F3", -3_000, "2024-03-12", "INTL WIRE FEE"),
    ]
    ledger = [
        ledger_row("L1", -1_200_000, "2024-03-01", "Blue Shield of California", "Blue Shield",
                   "PO 57319"),
        ledger_row("L2", -830_000, "2024-03-27", "Comcast Business", "Comcast", "PO 57400"),
        ledger_row("L3", -410_000, "2024-03-11", "Office Depot", "Office Depot", "BL1234"),
        ledger_row("LF1", -2_500, "2024-03-29", "Wire fee Blue Shield of California",
                   "First Platypus Bank", "PO 57319"),
        ledger_row("LF3", -3_000, "2024-03-29", "Wire fee Office Depot", "First Platypus Bank",
                   "BL1234"),
    ]
    result = run(bank, ledger)
    links = links_of(result)
    assert {("F1", "LF1"), ("F3", "LF3")} < links.keys()
    fee = links[("F1", "LF1")]
    assert fee["status"] == "matched" and fee["rule"] == "transfer_fees"
    assert "the fee of the transfer PO 57319 names (bank transaction W1, 2024-03-04)" in (
        fee["explanation"]
    )
    assert list(zip(result.discrepancies["kind"], result.discrepancies["bank_transaction_id"],
                    strict=True)) == [("unmatched_bank", "F2")]  # fmt: skip


def test_two_transfers_alike_but_for_the_banks_reference_are_no_duplicates() -> None:
    # Nakamura paid 26,000 yen twice on one day, the same text: one transfer carries the bank's
    # reference, the other none, so they are two payments (the second pays part of an
    # invoice); an exact copy, reference included, is still a probable duplicate.
    text, party = "TRANSFER IN NAKAMURA KOGYO KK", "NAKAMURA KOGYO KK"
    yen = {"currency": "JPY"}
    bank = [
        bank_row("B1", 2_600_000, "2024-03-11", text, party, "202403110724707", **yen),
        bank_row("B2", 2_600_000, "2024-03-11", text, party, **yen),
        bank_row("B3", 1_100_000, "2024-03-15", "TRANSFER IN NAKAMURA KOGYO", "", "JP-INV-3388",
                 **yen),
        bank_row("B4", 1_161_146, "2024-03-17", "FURIKOMI NAKAMURA KOGYO KK", party, **yen),
    ]
    ledger = [
        ledger_row("L1", 2_600_000, "2024-03-11", "Payment received JP-INV-3301",
                   "Nakamura Kogyo Co Ltd", "JP-INV-3301", **yen),
        ledger_row("L2", 4_861_146, "2024-03-11", "Receipt JP-INV-3388 Nakamura Kogyo Co Ltd",
                   "Nakamura Kogyo Co Ltd", "JP-INV-3388", **yen),
    ]
    result = run(bank, ledger)
    parts = {b for b, lg in links_of(result) if lg == "L2"}
    assert len(parts) == 3 and {"B3", "B4"} < parts
    assert "probable_duplicate" not in set(result.discrepancies["kind"])
    copy = bank_row("B5", 2_600_000, "2024-03-11", text, party, "202403110724707", **yen)
    kinds = run([*bank, copy], ledger).discrepancies["kind"]
    assert list(kinds) == ["probable_duplicate"]


def test_an_unrelated_debit_of_a_credits_size_is_no_reversal_of_it() -> None:
    # Tailspin's wire of 2,400.00 arrived twice; the copy is a probable duplicate, not a
    # reversal of the 2,400.00 paid to Blue Shield two days later.
    bank = [
        bank_row("B1", 240_000, "2024-03-04", "WIRE TRF IN TAILSPIN"),
        bank_row("B2", 240_000, "2024-03-04", "WIRE TRF IN TAILSPIN"),
        bank_row("B3", -240_000, "2024-03-06", "ONLINE PAYMENT TO BLUE SHIELD OF CA"),
    ]
    ledger = [ledger_row("L1", 240_000, "2024-03-04", "Receipt Tailspin Toys", "Tailspin Toys")]
    items = run(bank, ledger).discrepancies
    kinds = dict(zip(items["bank_transaction_id"], items["kind"], strict=True))
    assert sorted(kinds.values()) == ["probable_duplicate", "unmatched_bank"]
    assert kinds["B3"] == "unmatched_bank"
    # A text saying it undoes something pairs without a shared name: a deposited check
    # returned unpaid.
    returned = [
        bank_row("D1", 50_000, "2024-03-04", "DEPOSIT"),
        bank_row("D2", -50_000, "2024-03-07", "RETURNED ITEM CHARGEBACK"),
    ]
    items = run(returned, []).discrepancies
    assert list(items["kind"]) == ["reversal", "reversal"]
    # A payment to a partner and a receipt from it of one size are two payments.
    partner = [
        bank_row("K1", -1_000_000, "2024-03-03", "FURIKOMI OUT KK KOBAYASHI TRADING"),
        bank_row("K2", 1_000_000, "2024-03-04", "TRANSFER IN KK KOBAYASHI TRADING"),
    ]
    assert "reversal" not in set(run(partner, []).discrepancies["kind"])


def test_pending_is_never_matched() -> None:
    result = run(
        [bank_row("B1", -777, "2024-03-20", "Coffee", "Cafe", pending=True)],
        [ledger_row("L1", -777, "2024-03-20", "Coffee", "Cafe")],
    )
    assert result.links.empty
    item = only_discrepancy(result, "pending")
    assert item["bank_transaction_id"] == "B1"
    assert item["nearest_candidate"] == "L1"
    assert item["age_days"] == 11
    assert item["explanation"] == (
        "pending at the bank: reported, never matched until it posts; nearest ledger entry L1: "
        "same amount, same day"
    )


def test_unmatched_bank_fee_names_nearest_candidate() -> None:
    result = run(
        [
            bank_row("B1", -4_000, "2024-03-15", "SERVICE FEE", "First Bank"),
            bank_row("B2", -9_000, "2024-03-10", "Office chairs", "Staples"),
        ],
        [ledger_row("L1", -9_000, "2024-03-13", "Chairs", "Staples")],
    )
    item = only_discrepancy(result, "unmatched_bank")
    assert item["bank_transaction_id"] == "B1"
    assert item["nearest_candidate"] == "L1"
    assert item["age_days"] == 16
    assert item["explanation"] == (
        "no ledger entry matched; nearest ledger entry L1: amount differs by 50.00, 2 days apart, "
        "already matched with B2"
    )


def test_unmatched_ledger_outstanding_check() -> None:
    result = run(
        [bank_row("B1", -80_000, "2024-03-25", "CHECK 1002", "")],
        [ledger_row("CHK1001", -120_000, "2024-03-02", "Check 1001 rent", "Landlord")],
    )
    item = only_discrepancy(result, "unmatched_ledger")
    assert item["ledger_entry_id"] == "CHK1001"
    assert item["age_days"] == 29
    assert item["nearest_candidate"] == "B1"
    assert item["explanation"] == (
        "no bank transaction matched; nearest bank transaction B1: amount differs by 400.00, "
        "23 days apart, no rule allows a 400.00 difference"
    )


def test_zero_decimal_jpy() -> None:
    result = run(
        [
            bank_row("B1", 5_000, "2024-03-05", "Tokyo client", "Sato", account="1030",
                     currency="JPY"),
            bank_row("B2", 7_000, "2024-03-05", "Osaka client", "Ito", account="1030",
                     currency="JPY"),
        ],
        [
            ledger_row("L1", 5_000, "2024-03-04", "Tokyo client", "Sato", account="1030",
                       currency="JPY"),
            ledger_row("L2", 7_050, "2024-03-05", "Osaka client", "Ito", account="1030",
                       currency="JPY"),
        ],
    )  # fmt: skip
    assert links_of(result)[("B1", "L1")]["status"] == "matched"
    link = links_of(result)[("B2", "L2")]
    assert link["status"] == "matched_with_difference"
    assert link["explanation"].startswith("rule difference: amount differs by 50, same day")


def test_never_crosses_account_or_currency() -> None:
    result = run(
        [bank_row("B1", 10_000, "2024-03-05", "ACME", "ACME", account="1010")],
        [
            ledger_row("L1", 10_000, "2024-03-05", "ACME", "ACME", account="1020"),
            ledger_row("L2", 10_000, "2024-03-05", "ACME", "ACME", currency="EUR"),
        ],
    )
    assert result.links.empty
    assert only_discrepancy(result, "unmatched_bank")["nearest_candidate"] == ""


def test_ids_are_stable_content_hashes() -> None:
    first = run([bank_row("B1", 1, "2024-03-01")], [ledger_row("L1", 1, "2024-03-01")])
    again = run([bank_row("B1", 1, "2024-03-01")], [ledger_row("L1", 1, "2024-03-01")])
    assert first.links["match_id"].iloc[0] == again.links["match_id"].iloc[0]
    assert len(first.links["match_id"].iloc[0]) == 16


def test_subset_search_is_exact_above_twenty_candidates() -> None:
    amounts = np.array([10**k % 9973 + 1 for k in range(30)], dtype=np.int64)
    target = int(amounts[3] + amounts[17] + amounts[28])
    fits = fitting_subsets(amounts, target, 0, 5)
    assert fits, "the planted subset must be found"
    assert all(int(amounts[f].sum()) == target for f in fits)
    assert any(list(f) == [3, 17, 28] for f in fits)


# -- properties --------------------------------------------------------------------------------

ACCOUNTS = ("1010", "1020")
CURRENCIES = ("USD", "JPY")
NAMES = ("ACME", "Globex", "Initech", "Stripe", "Umbrella")


@st.composite
def books(draw: st.DrawFn) -> tuple[pd.DataFrame, pd.DataFrame]:
    n_bank = draw(st.integers(0, 14))
    n_ledger = draw(st.integers(0, 14))
    amount = st.sampled_from([-5_000, -2_500, -1_000, 1_000, 1_500, 2_500, 4_000, 5_000, 7_777])
    day = st.integers(1, 20)
    bank = [
        bank_row(
            f"B{i}",
            draw(amount) + draw(st.sampled_from([0, 0, 0, 3, -200])),
            f"2024-03-{draw(day):02d}",
            draw(st.sampled_from(NAMES)) + " payment",
            draw(st.sampled_from(NAMES)),
            pending=draw(st.booleans()) and i % 4 == 0,
            account=draw(st.sampled_from(ACCOUNTS)),
            currency=draw(st.sampled_from(CURRENCIES)),
        )
        for i in range(n_bank)
    ]
    ledger = [
        ledger_row(
            f"L{i}",
            draw(amount),
            f"2024-03-{draw(day):02d}",
            draw(st.sampled_from(NAMES)) + " invoice",
            draw(st.sampled_from(NAMES)),
            account=draw(st.sampled_from(ACCOUNTS)),
            currency=draw(st.sampled_from(CURRENCIES)),
        )
        for i in range(n_ledger)
    ]
    bank_frame = pd.DataFrame(bank) if bank else _empty_bank()
    ledger_frame = pd.DataFrame(ledger) if ledger else _empty_ledger()
    return bank_frame, ledger_frame


PROPERTY_SETTINGS = settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


@PROPERTY_SETTINGS
@given(books())
def test_property_invariants(data: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    bank, ledger = data
    result = reconcile(bank, ledger, MATCHING, as_of=AS_OF)
    links = result.links
    bank_by_id = bank.set_index("transaction_id")
    ledger_by_id = ledger.set_index("entry_id")

    # No transaction in two matches, and every open item is open once.
    bank_match = links.groupby("bank_transaction_id")["match_id"].nunique()
    ledger_match = links.groupby("ledger_entry_id")["match_id"].nunique()
    assert (bank_match <= 1).all() and (ledger_match <= 1).all()
    assert not links.duplicated(["bank_transaction_id", "ledger_entry_id"]).any()
    open_bank = set(result.discrepancies["bank_transaction_id"]) - {""}
    open_ledger = set(result.discrepancies["ledger_entry_id"]) - {""}
    assert not open_bank & set(links["bank_transaction_id"])
    assert not open_ledger & set(links["ledger_entry_id"])
    # Every row is accounted for exactly once: linked or open.
    assert open_bank | set(links["bank_transaction_id"]) == set(bank["transaction_id"])
    assert open_ledger | set(links["ledger_entry_id"]) == set(ledger["entry_id"])

    # Pending rows are never linked.
    pending = set(bank.loc[bank["pending"], "transaction_id"])
    assert not pending & set(links["bank_transaction_id"])

    for _, group in links.groupby("match_id"):
        bank_rows = bank_by_id.loc[sorted(set(group["bank_transaction_id"]))]
        ledger_rows = ledger_by_id.loc[sorted(set(group["ledger_entry_id"]))]
        difference = int(bank_rows["amount_minor"].sum() - ledger_rows["amount_minor"].sum())
        assert set(group["amount_difference_minor"]) == {difference}
        # Never across account or currency.
        assert bank_rows["account"].nunique() == 1 and bank_rows["currency"].nunique() == 1
        assert set(ledger_rows["account"]) == set(bank_rows["account"])
        assert set(ledger_rows["currency"]) == set(bank_rows["currency"])
        if set(group["rule"]) == {"group"}:
            assert difference == 0  # the shipped groups' amount_tolerance is 0
        if set(group["status"]) == {"matched"}:
            assert difference == 0
        # Differences stay within the shipped difference tolerance (5.00 or 1%), or the
        # deducted fees' (50.00 or 0.5%, money in arriving short).
        larger = max(abs(int(ledger_rows["amount_minor"].sum())), 1)
        usd = bank_rows["currency"].iloc[0] == "USD"
        if set(group["rule"]) <= {"deducted_fees", "named_fees"}:
            # 50.00 in USD, 1,000 in yen (amount_by_currency), or 0.5 percent.
            assert difference < 0 < int(ledger_rows["amount_minor"].sum())
            assert abs(difference) <= max(5_000 if usd else 1_000, larger * 5 // 1000)
        else:
            assert abs(difference) <= max(500 if usd else 5, larger // 100)


@PROPERTY_SETTINGS
@given(books(), st.randoms(use_true_random=False))
def test_property_shuffled_rows_give_identical_frames(
    data: tuple[pd.DataFrame, pd.DataFrame], random: Any
) -> None:
    bank, ledger = data
    expected = reconcile(bank, ledger, MATCHING, as_of=AS_OF)
    bank_order = list(range(len(bank)))
    ledger_order = list(range(len(ledger)))
    random.shuffle(bank_order)
    random.shuffle(ledger_order)
    got = reconcile(
        bank.iloc[bank_order].reset_index(drop=True),
        ledger.iloc[ledger_order].reset_index(drop=True),
        MATCHING,
        as_of=AS_OF,
    )
    pd.testing.assert_frame_equal(got.links, expected.links)
    pd.testing.assert_frame_equal(got.discrepancies, expected.discrepancies)
    pd.testing.assert_frame_equal(got.alternatives, expected.alternatives)


def test_duplicate_ids_are_refused() -> None:
    with pytest.raises(ValueError, match="duplicate transaction_id"):
        run([bank_row("B1", 1, "2024-03-01"), bank_row("B1", 2, "2024-03-01")], [])


# -- reference normalisation, crowded amounts, duplicates held back, dense groups ---------------


def test_reference_column_and_reference_in_description_agree() -> None:
    result = run(
        [bank_row("B1", 50_000, "2024-03-05", "ACH CREDIT GLOBEX INV-7781", "")],
        [
            ledger_row("L-decoy", 50_000, "2024-03-05", "Payment received - Globex", "Globex"),
            ledger_row("L-ref", 50_000, "2024-03-08", "Payment received - Globex", "Globex",
                       "INV-7781"),
        ],
    )  # fmt: skip
    link = links_of(result)[("B1", "L-ref")]
    assert link["rule"] == "exact_reference"
    assert link["status"] == "matched"


def test_transposed_digits_found_through_the_reference_column() -> None:
    result = run(
        [bank_row("B1", 291_685, "2024-03-12", "ACH CREDIT CONTOSO LTD INV-20240", "")],
        [ledger_row("L1", 219_685, "2024-03-11", "Payment received", "Contoso Ltd", "INV-20240")],
    )
    item = only_discrepancy(result, "amount_mismatch")
    assert (item["bank_transaction_id"], item["ledger_entry_id"]) == ("B1", "L1")
    assert item["explanation"] == (
        "bank 2916.85 vs ledger 2196.85 (differs by 720.00: transposed digits), same reference, "
        "1 day apart"
    )


PEOPLE = (
    ("Thomas", "Jones"), ("Sarah", "Anderson"), ("Yuki", "Nguyen"), ("Maria", "Garcia"),
    ("David", "Chen"), ("Aiko", "Jackson"), ("Joseph", "Lopez"), ("Barbara", "Martin"),
    ("William", "Brown"), ("Jennifer", "Smith"), ("Olga", "Ivanova"), ("Kwame", "Mensah"),
)  # fmt: skip


def test_more_same_amount_twins_than_the_fan_out_cap_pair_up_by_name() -> None:
    from recon.engine.candidates import FAN_OUT_CAP

    assert len(PEOPLE) > FAN_OUT_CAP
    # Ledger ids sort in reverse name order, bank ids in name order: nearest-by-rank pairing
    # alone would put most true partners outside each row's capped candidates.
    bank = [
        bank_row(f"B{i:02d}", -250_000, "2024-03-06", f"PAYROLL DIRECT DEP {last.upper()} "
                 f"{first.upper()} PPD")
        for i, (first, last) in enumerate(PEOPLE)
    ]  # fmt: skip
    ledger = [
        ledger_row(f"L{len(PEOPLE) - i:02d}", -250_000, "2024-03-05", f"Salary - {first} {last}",
                   f"{first} {last}", "PR-20240305")
        for i, (first, last) in enumerate(PEOPLE)
    ]  # fmt: skip
    result = run(bank, ledger)
    expected = {(f"B{i:02d}", f"L{len(PEOPLE) - i:02d}") for i in range(len(PEOPLE))}
    assert set(links_of(result)) == expected
    assert set(result.links["status"]) == {"matched"}
    assert result.discrepancies.empty


def test_copy_of_a_linked_bank_row_is_not_matched_with_a_difference() -> None:
    result = run(
        [
            bank_row("B1", -4_999, "2024-03-16", "NETFLIX.COM", "Netflix"),
            bank_row("B2", -4_999, "2024-03-16", "NETFLIX.COM", "Netflix"),
        ],
        [
            ledger_row("L1", -4_999, "2024-03-16", "Netflix", "Netflix"),
            ledger_row("L2", -5_999, "2024-03-15", "Netflix", "Netflix"),
        ],
    )
    assert set(result.links["ledger_entry_id"]) == {"L1"}
    assert len(result.links) == 1
    copy = only_discrepancy(result, "probable_duplicate")
    assert copy["bank_transaction_id"] == ({"B1", "B2"} - set(result.links["bank_transaction_id"])
                                           ).pop()  # fmt: skip
    assert only_discrepancy(result, "unmatched_ledger")["ledger_entry_id"] == "L2"


def test_group_target_with_many_fitting_subsets_stays_open() -> None:
    result = run(
        [bank_row("B1", 30_000, "2024-03-10", "STRIPE PAYOUT", "Stripe")],
        [ledger_row(f"S{i}", 10_000, "2024-03-08", "Stripe sale", "Stripe") for i in range(6)],
    )
    assert result.links.empty  # 20 three-sale subsets fit: a guess would be wrong 19 times in 20
    assert only_discrepancy(result, "unmatched_bank")["bank_transaction_id"] == "B1"


@settings(max_examples=50, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 30), st.integers(0, 30)), max_size=60))
def test_unique_pairs_matches_numpy_row_unique(pairs: list[tuple[int, int]]) -> None:
    from recon.engine.candidates import unique_pairs

    left = np.array([p[0] for p in pairs], dtype=np.int64)
    right = np.array([p[1] for p in pairs], dtype=np.int64)
    got_left, got_right = unique_pairs(left, right)
    expected = np.unique(np.stack([left, right]), axis=1) if pairs else np.zeros((2, 0))
    assert got_left.tolist() == expected[0].tolist()
    assert got_right.tolist() == expected[1].tolist()


def test_a_return_of_a_payment_the_books_hold_is_a_reversal() -> None:
    # The debit is linked with its ledger row; its ACH return, six calendar days (four business
    # days) later, names the same payee: a reversal, not an unexplained credit.
    result = run(
        [
            bank_row("B1", -66_452, "2024-03-01", "ACH DEBIT PARKER H", "Parker Hannifin"),
            bank_row("B2", 66_452, "2024-03-07", "ACH RETURN R01 PARKER HANNIFIN"),
        ],
        [ledger_row("L1", -66_452, "2024-03-01", "AP payment Parker Hannifin", "Parker Hannifin")],
    )
    assert set(links_of(result)) == {("B1", "L1")}
    item = only_discrepancy(result, "reversal")
    assert item["bank_transaction_id"] == "B2"
    assert item["explanation"].startswith(
        "returns bank transaction B1 (-664.52, 6 days apart), which is matched with L1"
    )


def test_a_credit_of_a_linked_debits_size_from_another_payee_is_no_return() -> None:
    result = run(
        [
            bank_row("B1", -66_452, "2024-03-01", "ACH DEBIT PARKER H", "Parker Hannifin"),
            bank_row("B2", 66_452, "2024-03-04", "ACH CREDIT INITECH LLC"),
        ],
        [ledger_row("L1", -66_452, "2024-03-01", "AP payment Parker Hannifin", "Parker Hannifin")],
    )
    assert "reversal" not in set(result.discrepancies["kind"])


def test_a_group_pooled_by_a_shared_reference_names_it() -> None:
    # The deposit names its payout id, which every sale carries; another Stripe sale without it
    # stays out.
    payout = "ST-Q4X9M2B7KD1P"
    result = run(
        [bank_row("B1", 97_000, "2024-03-10", f"STRIPE PAYOUT {payout}", "Stripe")],
        [
            ledger_row("S1", 40_000, "2024-03-08", "Stripe sale", "Stripe", payout),
            ledger_row("S2", 35_000, "2024-03-08", "Stripe sale", "Stripe", payout),
            ledger_row("S3", 25_000, "2024-03-09", "Stripe sale", "Stripe", payout),
            ledger_row("F1", -3_000, "2024-03-09", "Stripe fee", "Stripe", payout),
            ledger_row("S4", 5_000, "2024-03-09", "Stripe sale", "Stripe", "ST-OTHERPAYOUT"),
        ],
        SUBSET_SUM_ONLY,
    )
    links = result.links
    assert set(links["ledger_entry_id"]) == {"S1", "S2", "S3", "F1"}
    assert f"sums to 970.00; rows carrying reference {payout}" in links["explanation"].iloc[0]


@pytest.mark.parametrize("collecting", [True, False])
def test_reconcile_leaves_the_garbage_collector_as_it_found_it(collecting: bool) -> None:
    """The engine holds the collector off while it runs, and gives it back as it was, also
    when it raises."""
    was = gc.isenabled()
    try:
        (gc.enable if collecting else gc.disable)()
        seen: list[bool] = []
        reconcile(pd.DataFrame([bank_row("b1", 100, "2024-01-02")]),
                  pd.DataFrame([ledger_row("l1", 100, "2024-01-02")]), MATCHING, as_of=AS_OF,
                  on_pass=lambda *_: seen.append(gc.isenabled()))  # fmt: skip
        assert seen and not any(seen)
        assert gc.isenabled() is collecting
        with pytest.raises(ValueError):
            reconcile(pd.DataFrame([bank_row("b1", 1, "2024-01-02")] * 2), _empty_ledger(),
                      MATCHING, as_of=AS_OF)  # fmt: skip
        assert gc.isenabled() is collecting
    finally:
        (gc.enable if was else gc.disable)()
