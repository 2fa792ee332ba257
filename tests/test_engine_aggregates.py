"""Golden tests of the aggregate passes (settlement totals, reference totals, partial payments),
one per pattern of issue 14: groups of any size found by a key, not by a subset search."""

from __future__ import annotations

import datetime as dt
from itertools import pairwise
from typing import Any

import numpy as np
import pandas as pd

from recon.config import PartialPayments
from tests.test_engine import MATCHING, bank_row, ledger_row, run, with_pass

# 2026-10-30 is a Friday; 2026-11-02 a Monday.
FRIDAY, SATURDAY, SUNDAY, MONDAY, TUESDAY = (
    "2026-10-30", "2026-10-31", "2026-11-01", "2026-11-02", "2026-11-03",
)  # fmt: skip


def sales(
    prefix: str, day: str, amounts: list[int], counterparty: str, reference: str = ""
) -> list[dict[str, Any]]:
    return [
        ledger_row(f"{prefix}{i:03d}", amount, day, f"{counterparty} sale {i}", counterparty,
                   reference or f"SO-{prefix}{i}")
        for i, amount in enumerate(amounts)
    ]  # fmt: skip


def amounts(count: int, start: int) -> list[int]:
    """Distinct, irregular sale amounts in cents."""
    return [start + 137 * i + (i * i * 53) % 991 for i in range(count)]


def links_of(result: Any, rule: str) -> pd.DataFrame:
    frame: pd.DataFrame = result.links
    return frame[frame["rule"] == rule]


def test_payout_with_ids_groups_every_sale_carrying_the_payout_id() -> None:
    payout = "ST-Q4X9M2B7KD1P"
    sold = amounts(40, 2_000)
    fee = 4_120
    ledger = sales("S", FRIDAY, sold, "Stripe", payout)
    ledger += [ledger_row("SX", 5_000, FRIDAY, "Stripe sale", "Stripe", "ST-OTHERPAYOUT")]
    bank = [bank_row("B1", sum(sold) - fee, MONDAY, f"STRIPE TRANSFER {payout}", "Stripe",
                     payout)]  # fmt: skip
    result = run(bank, ledger)
    links = links_of(result, "reference_total")
    assert set(links["ledger_entry_id"]) == {row["entry_id"] for row in ledger[:40]}
    assert set(links["status"]) == {"matched_with_difference"}
    assert set(links["amount_difference_minor"]) == {-fee}
    assert links["match_id"].nunique() == 1
    explanation = links["explanation"].iloc[0]
    assert f"reference {payout}: 40 rows sum to" in explanation
    assert "fee 41.20 (the difference)" in explanation


def test_payout_by_day_over_a_weekend_with_the_fee_row_in_the_ledger() -> None:
    # Square pays Friday-to-Sunday's sales on Monday (Friday + 1 business day; the weekend's
    # sales roll to Monday) and books its fee on the payout day: the fee row joins the group.
    friday, saturday, sunday = amounts(6, 1_500), amounts(5, 2_500), amounts(4, 900)
    total = sum(friday) + sum(saturday) + sum(sunday)
    fee = 3_117
    ledger = (
        sales("F", FRIDAY, friday, "Square") + sales("A", SATURDAY, saturday, "Square")
        + sales("U", SUNDAY, sunday, "Square")
        + [ledger_row("FEE", -fee, MONDAY, "Square processing fees", "Square")]
        + sales("T", TUESDAY, amounts(12, 700), "Square")  # the next payout's sales
    )  # fmt: skip
    bank = [bank_row("B1", total - fee, MONDAY, "SQUARE INC SQ261102 MA8XL69J", "Square")]
    result = run(bank, ledger)
    links = links_of(result, "settlement")
    expected = {r["entry_id"] for r in ledger if r["entry_id"][0] in "FAU"}
    assert set(links["ledger_entry_id"]) == expected  # the fee row too, Tuesday's sales not
    assert set(links["status"]) == {"matched"}
    assert set(links["amount_difference_minor"]) == {0}
    # The fee row, dated on the payout day, falls within the run of days: the sum is exact.
    assert f"SQUARE rows of {FRIDAY} to {MONDAY} settled {MONDAY}: 16 rows" in (
        links["explanation"].iloc[0]
    )


def test_payouts_by_day_with_the_fee_as_the_difference_at_a_steady_rate() -> None:
    # PayPal keeps 3.5% of each day's sales; nothing in the books but the sales.
    days = ["2026-11-02", "2026-11-03", "2026-11-04", "2026-11-05"]
    ledger: list[dict[str, Any]] = []
    bank = []
    for k, day in enumerate(days):
        sold = amounts(12, 1_000 + 300 * k)
        ledger += sales(f"P{k}", day, sold, "PayPal")
        paid = sum(sold) - sum(sold) * 35 // 1000
        pay_day = str((pd.Timestamp(day) + pd.offsets.BDay(1)).date())
        bank.append(bank_row(f"B{k}", paid, pay_day, f"PAYPAL DES:TRANSFER ID:{k}", "PayPal"))
    result = run(bank, ledger)
    links = links_of(result, "settlement")
    assert len(links) == 48
    assert set(links["status"]) == {"matched_with_difference"}
    assert links["match_id"].nunique() == 4
    for k in range(4):
        own = links[links["bank_transaction_id"] == f"B{k}"]
        assert set(own["ledger_entry_id"]) == {f"P{k}{i:03d}" for i in range(12)}
        assert "(the difference)" in own["explanation"].iloc[0]


def test_a_fee_far_from_the_processors_usual_rate_is_not_left_as_a_difference() -> None:
    days = ["2026-11-02", "2026-11-03", "2026-11-04", "2026-11-05", "2026-11-06", "2026-11-09"]
    ledger: list[dict[str, Any]] = []
    bank = []
    for k, day in enumerate(days):
        sold = amounts(12, 1_000 + 300 * k)
        ledger += sales(f"P{k}", day, sold, "PayPal")
        rate = 35 if k < 5 else 5  # the last deposit is 0.5% short: not PayPal's 3.5% fee
        paid = sum(sold) - sum(sold) * rate // 1000
        pay_day = str((pd.Timestamp(day) + pd.offsets.BDay(1)).date())
        bank.append(bank_row(f"B{k}", paid, pay_day, f"PAYPAL DES:TRANSFER ID:{k}", "PayPal"))
    links = links_of(run(bank, ledger), "settlement")
    assert set(links["bank_transaction_id"]) == {"B0", "B1", "B2", "B3", "B4"}


def test_payroll_batch_one_debit_for_every_employees_net_pay() -> None:
    staff = ["Ada Lovelace", "Alan Turing", "Grace Hopper", "Edsger Dijkstra", "Barbara Liskov"]
    pay = [245_012, 198_733, 310_470, 187_655, 264_120]
    ledger = [
        ledger_row(f"N{i}", -amount, "2026-11-13", f"Gusto net pay {name}", name, "PR-20261113")
        for i, (name, amount) in enumerate(zip(staff, pay, strict=True))
    ]
    bank = [bank_row("B1", -sum(pay), "2026-11-13", "GUSTO DES:NET 261113 ID:8H2K CCD")]
    links = links_of(run(bank, ledger), "settlement")
    assert set(links["ledger_entry_id"]) == {f"N{i}" for i in range(5)}
    assert set(links["status"]) == {"matched"}
    assert "GUSTO rows of 2026-11-13 settled 2026-11-13: 5 rows" in links["explanation"].iloc[0]


def test_a_decoy_day_whose_sum_does_not_match_stays_open() -> None:
    sold = amounts(14, 1_800)
    # 10% short: beyond the fee tolerance (6%), and no fee row in the books.
    bank = [bank_row("B1", sum(sold) * 9 // 10, MONDAY, "SQUARE INC SQ261102", "Square")]
    result = run(bank, sales("F", FRIDAY, sold, "Square"))
    assert links_of(result, "settlement").empty
    assert links_of(result, "reference_total").empty


PARTS = [
    bank_row("B1", 400_000, "2026-11-03", "ACH CREDIT ACME CORP INV-51204", "Acme Corp"),
    bank_row("B2", 587_040, "2026-11-07", "ACH CREDIT ACME CORP INV-5", "Acme Corp"),
]
def test_payout_of_small_sales_whose_fees_are_a_ninth_of_them_groups_by_its_id() -> None:
    # A coffee shop's 40 sales of 3.50 to 9.00 at 2.9% + 0.30 each: the fee is 8% of the payout.
    payout = "ST-C0FFEE5HOP1X"
    sold = [350 + 13 * i + (i * i * 7) % 97 for i in range(40)]
    fee = sum((amount * 29 + 500) // 1000 + 30 for amount in sold)
    assert fee * 100 > 7 * (sum(sold) - fee)
    ledger = sales("S", FRIDAY, sold, "Stripe", payout)
    bank = [bank_row("B1", sum(sold) - fee, MONDAY, f"STRIPE TRANSFER {payout}", "Stripe",
                     payout)]  # fmt: skip
    links = links_of(run(bank, ledger), "reference_total")
    assert set(links["ledger_entry_id"]) == {row["entry_id"] for row in ledger}
    assert set(links["status"]) == {"matched_with_difference"}
    assert set(links["amount_difference_minor"]) == {-fee}


INVOICE = ledger_row("L1", 987_040, "2026-11-02", "Invoice INV-51204 Acme Corp", "Acme Corp",
                     "INV-51204")  # fmt: skip


def test_partial_payments_pay_one_invoice_in_two_parts() -> None:
    links = links_of(run(PARTS, [INVOICE]), "partial_payment")
    assert set(links["bank_transaction_id"]) == {"B1", "B2"}
    assert set(links["ledger_entry_id"]) == {"L1"}
    assert set(links["status"]) == {"matched"}
    assert "paid in 2 parts naming its reference or counterparty: 4000.00 + 5870.40" in (
        links["explanation"].iloc[0]
    )


def test_a_partial_remainder_is_suggested_only_when_allowed() -> None:
    first_part_only = PARTS[:1]
    refused = run(first_part_only, [INVOICE])
    assert links_of(refused, "partial_payment").empty
    matching = with_pass(MATCHING, "partial_payments", allow_remainder=True)
    assert isinstance(
        next(p for p in matching.passes if p.name == "partial_payments"), PartialPayments
    )
    allowed = run(first_part_only, [INVOICE], matching)
    links = links_of(allowed, "partial_payment")
    assert set(links["status"]) == {"suggested"}
    assert "partially paid: 4000.00 of 9870.40 in 1 part(s), 5870.40 open" in (
        links["explanation"].iloc[0]
    )


def test_one_transfer_paying_the_invoices_it_names() -> None:
    ledger = [
        ledger_row("I1", 120_050, "2026-11-02", "Invoice INV-51204", "Initech LLC", "INV-51204"),
        ledger_row("I2", 80_000, "2026-11-03", "Invoice INV-51290", "Initech LLC", "INV-51290"),
        ledger_row("I3", 45_075, "2026-11-03", "Invoice INV-51311", "Initech LLC", "INV-51311"),
    ]
    bank = [bank_row("B1", 245_125, "2026-11-05",
                     "ACH CREDIT INITECH LLC INV-51204 INV-51290 INV-51311")]  # fmt: skip
    links = links_of(run(bank, ledger), "reference_total")
    assert set(links["ledger_entry_id"]) == {"I1", "I2", "I3"}
    assert set(links["status"]) == {"matched"}
    assert "references INV-51204, INV-51290, INV-51311: 3 rows sum to 2451.25" in (
        links["explanation"].iloc[0]
    )


def test_a_transfer_paying_all_the_open_invoices_of_its_days_but_a_disputed_one() -> None:
    # Initech pays eight of the nine invoices of 2-4 November in one transfer naming the first;
    # INV-51208 (4,120.00) is disputed and held back. No subset search reaches eight parts,
    # and not all of the days' rows are paid: what the run exceeds the transfer by is one row.
    amounts = [120_050, 80_015, 45_075, 96_130, 412_000, 61_245, 73_310, 150_070, 38_490]
    ledger = [
        ledger_row(f"I{k}", amount, f"2026-11-0{2 + k // 3}", f"Invoice INV-5120{k}",
                   "Initech LLC", f"INV-5120{k}")
        for k, amount in enumerate(amounts)
    ]  # fmt: skip
    paid = sum(amounts) - 412_000
    bank = [bank_row("B1", paid, "2026-11-05", "ACH CREDIT INITECH LLC REMIT 8 INV INV-51200")]
    links = links_of(run(bank, ledger), "remittance")
    assert set(links["ledger_entry_id"]) == {f"I{k}" for k in range(9)} - {"I4"}
    assert set(links["status"]) == {"matched"}


def test_a_payer_cut_to_three_letters_at_the_end_of_the_text_names_it() -> None:
    bank = [
        bank_row("B1", 100_000, "2026-11-02", "SEPA CT KOWALSKI SP Z"),
        bank_row("B2", 172_071, "2026-11-05", "SEPA CREDIT TRANSFER KOW"),
    ]
    ledger = [ledger_row("L1", 272_071, "2026-11-02", "Receipt RF56 5390 0764 40",
                         "Kowalski Sp. z o.o.", "RF56 5390 0764 40")]  # fmt: skip
    links = links_of(run(bank, ledger), "partial_payment")
    assert set(links["bank_transaction_id"]) == {"B1", "B2"}
    assert set(links["status"]) == {"matched"}
    # Three letters inside the text are not taken for a cut name.
    inside = [bank[0], bank_row("B2", 172_071, "2026-11-05", "SEPA KOW CREDIT TRANSFER")]
    assert links_of(run(inside, ledger), "partial_payment").empty


def test_one_transfer_paying_a_customers_open_rows_of_a_few_days() -> None:
    ledger = [
        ledger_row("R1", 86_000, "2026-11-02", "Payment received INV/2025/01940",
                   "Bakker Techniek B.V.", "INV/2025/01940"),
        ledger_row("R2", 59_000, "2026-11-03", "Payment received RF64 5390 0764 90",
                   "Bakker Techniek B.V.", "RF64 5390 0764 90"),
        ledger_row("R3", 190_000, "2026-11-03", "Payment received RF37 5390 0764 91",
                   "Bakker Techniek B.V.", "RF37 5390 0764 91"),
    ]  # fmt: skip
    bank = [bank_row("B1", 335_000, "2026-11-04",
                     "SEPA CREDIT BAKKER TECHNIEK BV END TO END REMIT 3 INV")]  # fmt: skip
    links = links_of(run(bank, ledger), "settlement")
    assert set(links["ledger_entry_id"]) == {"R1", "R2", "R3"}
    assert set(links["status"]) == {"matched"}
    # The same rows as debits summing to one card payment: not a remittance.
    debits = [ledger_row(f"D{i}", -r["amount_minor"], "2026-11-03", "Fuel - Chevron", "Chevron")
              for i, r in enumerate(ledger)]  # fmt: skip
    card = [bank_row("B2", -335_000, "2026-11-04", "CHEVRON 1890778", "Chevron")]
    assert links_of(run(card, debits), "settlement").empty
    any_sign = with_pass(MATCHING, "remittance_totals", deposits_only=False)
    assert len(links_of(run(card, debits, any_sign), "settlement")) == 3


def busy_payer(count: int) -> list[dict[str, Any]]:
    """A payer's other open transfers of the fortnight, none two of which sum to 9,870.40."""
    return [
        bank_row(f"X{i:02d}", 41_117 + 7_919 * i, f"2026-11-{2 + i % 4:02d}",
                 "ACH CREDIT ACME CORP")
        for i in range(count)
    ]  # fmt: skip


def test_partial_payments_find_two_parts_among_a_busy_payers_many_transfers() -> None:
    # 24 other open transfers of the payer in the invoice's first days: the second part is not
    # among the invoice's twelve nearest rows, and is found all the same.
    bank = [
        *busy_payer(24),
        bank_row("B1", 400_000, "2026-11-03", "ACH CREDIT ACME CORP"),
        bank_row("B2", 587_040, "2026-11-07", "ACH CREDIT ACME CO"),
    ]
    links = links_of(run(bank, [INVOICE]), "partial_payment")
    assert set(links["bank_transaction_id"]) == {"B1", "B2"}
    assert set(links["status"]) == {"matched"}


def test_partial_payments_find_three_parts_one_naming_the_invoice_in_a_wide_pool() -> None:
    bank = [
        *busy_payer(24),
        bank_row("P1", 400_000, "2026-11-02", "ACH CREDIT ACME CORP INV-51204"),
        bank_row("P2", 300_000, "2026-11-07", "ACH CREDIT ACME CO"),
        bank_row("P3", 287_040, "2026-11-12", "ACH CREDIT ACM"),
    ]
    links = links_of(run(bank, [INVOICE]), "partial_payment")
    assert set(links["bank_transaction_id"]) == {"P1", "P2", "P3"}
    assert set(links["status"]) == {"matched"}


def test_instalments_naming_the_invoice_a_month_apart_pay_it() -> None:
    # Acme pays INV-51204 in three monthly instalments, each naming it: the third comes 40 days
    # after the invoice, beyond the 14 days a part naming only the payer may take.
    bank = [
        bank_row("P1", 329_000, "2026-11-02", "ACH CREDIT ACME CORP INV-51204"),
        bank_row("P2", 329_000, "2026-11-22", "ACH CREDIT ACME CORP INV-51204"),
        bank_row("P3", 329_040, "2026-12-12", "ACH CREDIT ACME CORP INV-51204"),
    ]
    links = links_of(run(bank, [INVOICE]), "partial_payment")
    assert set(links["bank_transaction_id"]) == {"P1", "P2", "P3"}
    assert set(links["status"]) == {"matched"}
    # A part naming only the payer is no part 40 days on: the rows stay open.
    unnamed = [*bank[:2], bank_row("P3", 329_040, "2026-12-12", "ACH CREDIT ACME CORP")]
    assert links_of(run(unnamed, [INVOICE]), "partial_payment").empty


def test_five_instalments_three_naming_the_invoice_and_two_cut_short_pay_it() -> None:
    # Among 24 other transfers of the payer: three instalments name INV-51204, the bank cut
    # the name from two. The named three and the two that make up the rest pay the invoice.
    bank = [
        *busy_payer(24),
        bank_row("P1", 200_000, "2026-11-02", "ACH CREDIT ACME CORP INV-51204"),
        bank_row("P2", 212_345, "2026-11-06", "ACH CREDIT ACME CO"),
        bank_row("P3", 187_040, "2026-11-09", "ACH CREDIT ACME CORP INV-51204"),
        bank_row("P4", 174_655, "2026-11-12", "ACH CREDIT ACME C"),
        bank_row("P5", 213_000, "2026-11-30", "ACH CREDIT ACME CORP INV-51204"),
    ]
    links = links_of(run(bank, [INVOICE]), "partial_payment")
    assert set(links["bank_transaction_id"]) == {"P1", "P2", "P3", "P4", "P5"}
    assert set(links["status"]) == {"matched"}


def test_instalments_whose_rest_two_pairs_make_up_are_only_suggested() -> None:
    # Two instalments name the invoice; among the payer's many transfers, 3,000.00 + 870.40
    # and 2,500.00 + 1,370.40 both make up the rest. Which pair paid it the files do not
    # tell: suggested.
    bank = [
        *busy_payer(24),
        bank_row("P1", 300_000, "2026-11-02", "ACH CREDIT ACME CORP INV-51204"),
        bank_row("P2", 300_000, "2026-11-20", "ACH CREDIT ACME CORP INV-51204"),
        bank_row("A1", 300_000, "2026-11-05", "ACH CREDIT ACME CO"),
        bank_row("A2", 87_040, "2026-11-06", "ACH CREDIT ACME CO"),
        bank_row("B1", 250_000, "2026-11-07", "ACH CREDIT ACME CO"),
        bank_row("B2", 137_040, "2026-11-08", "ACH CREDIT ACME CO"),
    ]
    links = links_of(run(bank, [INVOICE]), "partial_payment")
    assert {"P1", "P2"} < set(links["bank_transaction_id"])
    assert set(links["status"]) == {"suggested"}


def test_partial_payments_prefer_the_parts_naming_the_invoice_to_a_pair_that_fits_too() -> None:
    # 3,034.14 + 4,000.00 also sum to the invoice; the three parts two of which name it pay it.
    bank = [
        bank_row("P1", 300_000, "2026-11-02", "ACH CREDIT ACME CORP IND ID:INV-51204"),
        bank_row("P2", 100_000, "2026-11-04", "ACH DEPOSIT ACME CORP INV-51204"),
        bank_row("P3", 303_414, "2026-11-06", "ACH CREDIT ACME CO"),
        bank_row("X1", 400_000, "2026-11-14", "ACH CREDIT ACME CORP"),
    ]
    invoice = ledger_row("L1", 703_414, "2026-11-02", "Invoice INV-51204 Acme Corp", "Acme Corp",
                         "INV-51204")  # fmt: skip
    links = links_of(run(bank, [invoice]), "partial_payment")
    assert set(links["bank_transaction_id"]) == {"P1", "P2", "P3"}
    assert set(links["status"]) == {"matched"}


def test_a_round_part_of_a_split_invoice_is_not_taken_for_a_receipt_twelve_days_before() -> None:
    # Acme's 4,000.00 receipt of 22 October is the same amount and payer as the first part:
    # fuzzy_text (same amount within two weeks, the payer named) would link them, but it runs
    # after the partial payments pass, which pays INV-51204 with both parts.
    bank = [
        bank_row("P1", 400_000, "2026-11-03", "ACH CREDIT ACME CORP"),
        bank_row("P2", 303_414, "2026-11-06", "ACH CREDIT ACME CORP INV-51204"),
    ]
    ledger = [
        ledger_row("L1", 703_414, "2026-11-02", "Invoice INV-51204 Acme Corp", "Acme Corp",
                   "INV-51204"),
        ledger_row("L2", 400_000, "2026-10-22", "Receipt INV-51150 Acme Corp", "Acme Corp",
                   "INV-51150"),
    ]
    result = run(bank, ledger)
    links = links_of(result, "partial_payment")
    assert set(links["bank_transaction_id"]) == {"P1", "P2"}
    assert "L2" not in set(result.links["ledger_entry_id"])


def test_two_invoices_each_paid_with_a_round_part_of_the_same_day() -> None:
    # Either 2,000.00 transfer completes either invoice: both invoices are paid, one 2,000.00
    # each (the rows are alike, so which one is a guess: suggested).
    bank = [
        bank_row("R1", 200_000, "2026-11-02", "ACH CREDIT ACME CORP"),
        bank_row("R2", 200_000, "2026-11-02", "ACH CREDIT ACME CORP"),
        bank_row("A2", 528_579, "2026-11-05", "ACH CREDIT ACME CO"),
        bank_row("B2", 343_494, "2026-11-06", "ACH CREDIT ACME C"),
    ]
    ledger = [
        ledger_row("LA", 728_579, "2026-11-02", "Invoice INV-55371", "Acme Corp", "INV-55371"),
        ledger_row("LB", 543_494, "2026-11-02", "Invoice INV-55358", "Acme Corp", "INV-55358"),
    ]
    links = links_of(run(bank, ledger), "partial_payment")
    by_invoice = links.groupby("ledger_entry_id")["bank_transaction_id"].agg(set).to_dict()
    assert by_invoice["LA"] - {"R1", "R2"} == {"A2"} and len(by_invoice["LA"]) == 2
    assert by_invoice["LB"] - {"R1", "R2"} == {"B2"} and len(by_invoice["LB"]) == 2
    assert by_invoice["LA"] & by_invoice["LB"] == set()


def test_a_part_is_not_taken_by_another_payers_receipt_of_the_same_round_amount() -> None:
    # Globex's 4,000.00 receipt (texts unlike, no reference) would take the round part by
    # amount alone; the bank text names Acme Corp, so the part is left for Acme's invoice.
    other = ledger_row("G1", 400_000, "2026-11-02", "Receipt INV-60001 Globex", "Globex Corp",
                       "INV-60001")  # fmt: skip
    parts = [
        bank_row("B1", 400_000, "2026-11-03", "ACH CREDIT ACME CORP"),
        bank_row("B2", 587_040, "2026-11-07", "ACH CREDIT ACME CORP INV-51204"),
    ]
    result = run(parts, [INVOICE, other])
    links = links_of(result, "partial_payment")
    assert set(links["bank_transaction_id"]) == {"B1", "B2"}
    assert "G1" not in set(result.links["ledger_entry_id"])


def test_a_part_naming_another_invoice_is_left_to_that_invoice() -> None:
    # Two 1,000.00 transfers of Acme fit INV-51204 (3,000.00 + 1,000.00 + 3,208.87). The one
    # nearer to it names INV-51188: it pays that invoice, so INV-51204 takes the other.
    bank = [
        bank_row("A1", 300_000, "2026-11-02", "ACH CREDIT ACME CORP INV-51204"),
        bank_row("B1", 100_000, "2026-11-03", "ACH CREDIT ACME CORP INV-51188"),
        bank_row("A2", 100_000, "2026-11-07", "ACH CREDIT ACME CORP"),
        bank_row("A3", 320_887, "2026-11-12", "ACH CREDIT ACME CO"),
    ]
    ledger = [
        ledger_row("LA", 720_887, "2026-11-02", "Invoice INV-51204", "Acme Corp", "INV-51204"),
        ledger_row("LB", 549_402, "2026-11-03", "Invoice INV-51188", "Acme Corp", "INV-51188"),
    ]
    result = run(bank, ledger)
    links = links_of(result, "partial_payment")
    assert set(links["bank_transaction_id"]) == {"A1", "A2", "A3"}
    assert set(links["ledger_entry_id"]) == {"LA"}
    assert "B1" not in set(result.links["bank_transaction_id"])


def test_a_payment_booked_with_its_wire_fee_is_paid_by_the_wire_and_the_fee_line() -> None:
    # The books hold the bank account's line of one journal entry: 10,025.00 for the wire and
    # its fee; the statement has the wire (naming the PO) and the bank's 25.00 fee line.
    bank = [
        bank_row("B1", -1_000_000, "2024-03-05", "WIRE TRF OUT SYSCO FOODS PO 57319"),
        bank_row("F1", -2_500, "2024-03-05", "WIRE TRANSFER FEE"),
        bank_row("F2", -2_500, "2024-03-06", "MONTHLY SERVICE FEE"),
    ]
    ledger = [ledger_row("L1", -1_002_500, "2024-03-04", "Wire to Sysco Foods PO 57319",
                         "Sysco Foods", "PO 57319")]  # fmt: skip
    result = run(bank, ledger)
    links = links_of(result, "partial_payment")
    assert set(links["bank_transaction_id"]) == {"B1", "F1"}
    assert set(links["status"]) == {"matched"}
    assert ("paid by -10000.00 naming PO 57319 and the bank's fee of -25.00 (one ledger row for "
            "both)") in links["explanation"].iloc[0]
    assert list(result.discrepancies["bank_transaction_id"]) == ["F2"]
    # A fee line that does not make up the rest exactly joins nothing.
    other = [bank[0], bank[1] | {"amount_minor": -3_000}]
    assert links_of(run(other, ledger), "partial_payment").empty


def test_a_months_bank_charges_booked_as_one_row_are_paid_by_its_fee_lines() -> None:
    bank = [
        bank_row("F1", -2_500, "2024-03-05", "WIRE TRANSFER FEE"),
        bank_row("F2", -4_500, "2024-03-12", "INTL WIRE FEE"),
        bank_row("F3", -1_500, "2024-03-29", "MONTHLY SERVICE FEE"),
        bank_row("F4", -2_500, "2024-04-02", "WIRE TRANSFER FEE"),
    ]
    for booked in ("2024-03-31", "2024-04-03"):  # at the month's end, or early the next
        ledger = [ledger_row("L1", -8_500, booked, "Bank charges March", "First Platypus Bank")]
        result = run(bank, ledger)
        links = links_of(result, "partial_payment")
        assert set(links["bank_transaction_id"]) == {"F1", "F2", "F3"}, booked
        assert set(links["status"]) == {"matched"}
        assert "the bank's 3 fee lines of 2024-03, -85.00 in all" in links["explanation"].iloc[0]
        assert list(result.discrepancies["bank_transaction_id"]) == ["F4"]
    # Not all of the month's fee lines: nothing (a sum of some of them could be chance).
    ledger = [ledger_row("L1", -7_000, "2024-03-31", "Bank charges March", "First Platypus Bank")]
    assert links_of(run(bank, ledger), "partial_payment").empty


def test_a_debit_and_its_reversal_are_no_parts_of_an_invoice() -> None:
    # The reversal's credit has the second part's amount: without it, the invoice would have
    # two fits, and only a suggestion.
    bank = [
        *PARTS,
        bank_row("V1", -587_040, "2026-11-04", "ACH DEBIT ACME CORP"),
        bank_row("V2", 587_040, "2026-11-05", "ACH REVERSAL ACME CORP"),
    ]
    result = run(bank, [INVOICE])
    links = links_of(result, "partial_payment")
    assert set(links["bank_transaction_id"]) == {"B1", "B2"}
    assert set(links["status"]) == {"matched"}
    kinds = dict(zip(result.discrepancies["bank_transaction_id"],
                     result.discrepancies["kind"], strict=False))  # fmt: skip
    assert kinds["V1"] == kinds["V2"] == "reversal"


BAKKER = "Bakker Techniek B.V."


def test_a_transfer_pays_three_of_its_payers_invoices_among_its_other_open_rows() -> None:
    # Bakker's fourth open receipt of those days (1,234.56, paid by another transfer not yet
    # in the bank) keeps "all of its rows" from summing: the three that do are found.
    ledger = [
        ledger_row("I1", 86_000, "2026-11-02", "Payment received INV/2026/01940", BAKKER,
                   "INV/2026/01940"),
        ledger_row("I2", 59_000, "2026-11-03", "Payment received RF64 5390 0764 90", BAKKER,
                   "RF64 5390 0764 90"),
        ledger_row("I3", 190_000, "2026-11-03", "Receipt RF37 5390 0764 91", BAKKER,
                   "RF37 5390 0764 91"),
        ledger_row("I4", 123_456, "2026-11-03", "Receipt RF12 5390 0764 99", BAKKER,
                   "RF12 5390 0764 99"),
    ]  # fmt: skip
    bank = [bank_row("B1", 335_000, "2026-11-05",
                     "SEPA CREDIT BAKKER TECHNIEK BV END TO END REMIT 3 INV RF64 5390 0764 90")]
    result = run(bank, ledger)
    links = links_of(result, "remittance")
    assert set(links["ledger_entry_id"]) == {"I1", "I2", "I3"}
    assert set(links["status"]) == {"matched"}
    assert "pays 3 ledger rows of the payer or references it names: 860.00 + 590.00 + 1900.00" in (
        links["explanation"].iloc[0]
    )
    assert "I4" not in set(result.links["ledger_entry_id"])


def test_a_transfer_naming_no_invoice_pays_two_of_its_payers_rows() -> None:
    # Garcia's third receipt, booked the same day, is not paid by it: not all of the days' rows.
    ledger = [
        ledger_row("I1", 48_502, "2026-11-04", "Receipt INV/2026/01939", "Garcia Robotica S.L.",
                   "INV/2026/01939"),
        ledger_row("I2", 154_169, "2026-11-03", "Payment received INV/2026/01938",
                   "Garcia Robotica S.L.", "INV/2026/01938"),
        ledger_row("I3", 79_847, "2026-11-04", "Payment received INV/2026/01937",
                   "Garcia Robotica S.L.", "INV/2026/01937"),
    ]  # fmt: skip
    bank = [bank_row("B1", 234_016, "2026-11-05", "SEPA CREDIT GARCIA ROBOTICA SL END TO END")]
    links = links_of(run(bank, ledger), "remittance")
    assert set(links["ledger_entry_id"]) == {"I2", "I3"}
    assert set(links["status"]) == {"matched"}


def test_a_transfer_pays_the_rows_whose_references_it_names_not_a_pair_that_fits_too() -> None:
    # I4 + I5 sum to the transfer as well; I1 to I3, two of which it names, are what it pays.
    ledger = [
        ledger_row("I1", 86_000, "2026-11-02", "Payment received INV/2026/01940", BAKKER,
                   "INV/2026/01940"),
        ledger_row("I2", 59_000, "2026-11-03", "Payment received INV/2026/01941", BAKKER,
                   "INV/2026/01941"),
        ledger_row("I3", 190_000, "2026-11-03", "Receipt RF37 5390 0764 91", BAKKER,
                   "RF37 5390 0764 91"),
        ledger_row("I4", 211_234, "2026-11-04", "Receipt RF12 5390 0764 99", BAKKER,
                   "RF12 5390 0764 99"),
        ledger_row("I5", 123_766, "2026-11-04", "Receipt RF45 5390 0765 02", BAKKER,
                   "RF45 5390 0765 02"),
    ]  # fmt: skip
    bank = [bank_row("B1", 335_000, "2026-11-05",
                     "SEPA CREDIT BAKKER TECHNIEK BV INV/2026/01940 INV/2026/01941")]
    links = links_of(run(bank, ledger), "remittance")
    assert set(links["ledger_entry_id"]) == {"I1", "I2", "I3"}
    assert set(links["status"]) == {"matched"}


def test_a_transfer_of_another_payer_pays_nothing_of_this_one() -> None:
    ledger = [
        ledger_row("I1", 86_000, "2026-11-02", "Payment received INV/2026/01940", BAKKER,
                   "INV/2026/01940"),
        ledger_row("I2", 59_000, "2026-11-03", "Payment received INV/2026/01941", BAKKER,
                   "INV/2026/01941"),
    ]  # fmt: skip
    bank = [bank_row("B1", 145_000, "2026-11-05", "SEPA CREDIT NOVAK SRO END TO END")]
    result = run(bank, [*ledger, ledger_row("N1", 1, "2026-11-01", "Novak", "Novak s.r.o.")])
    assert links_of(result, "remittance").empty


def _daily_payouts() -> tuple[list[dict[str, Any]], list[dict[str, Any]], dict[str, list[str]]]:
    """A processor paying each business day's sales the next business day (Monday: Friday's;
    Tuesday: Saturday's to Monday's) at 2.9 percent. One Monday sells what the Friday before
    did, plus 0.50, and the Tuesday after pays 0.60 more fee: Friday to Sunday then fits that
    Tuesday's deposit a little better than its own Saturday to Monday."""
    rng = np.random.default_rng(0)
    start, friday, monday = dt.date(2024, 3, 4), dt.date(2024, 3, 8), dt.date(2024, 3, 11)
    days = [start + dt.timedelta(days=k) for k in range(19)]
    sold = {day: rng.integers(2_000, 9_000, 12 if day.weekday() < 5 else 9) for day in days}
    sold[monday] = sold[friday].copy()
    sold[monday][0] += 50
    ledger = [ledger_row(f"L{day.isoformat()}-{i:02d}", int(a), day.isoformat(),
                         f"PayPal checkout {day.day}{i:02d}", "PayPal")
              for day in days for i, a in enumerate(sold[day])]  # fmt: skip
    bank, paid = [], {}
    for day in days:
        covered = [day - dt.timedelta(days=2), day - dt.timedelta(days=1), day] if (
            day.weekday() == 0) else [day]  # fmt: skip
        pay = day + dt.timedelta(days=3 if day.weekday() == 4 else 1)
        if day.weekday() >= 5 or covered[0] < start or pay not in sold:
            continue
        total = sum(int(sold[d].sum()) for d in covered)
        fee = round(total * 0.029) + (60 if day == monday else 0)
        bank.append(bank_row(f"B{pay.isoformat()}", total - fee, pay.isoformat(),
                             "PAYPAL TRANSFER", "PayPal"))  # fmt: skip
        paid[f"B{pay.isoformat()}"] = [r["entry_id"] for r in ledger
                                       if r["date"].date() in covered]
    return bank, ledger, paid


def test_a_deposit_that_clearly_pays_a_day_keeps_it_from_a_near_tie_of_another() -> None:
    # The Tuesday deposit chose Friday to Sunday by a hair; the Monday deposit chose Friday
    # clearly (Monday's own sales would be a day early). Monday's claim wins, and Tuesday looks
    # again among the days left: Saturday to Monday.
    bank, ledger, paid = _daily_payouts()
    links = links_of(run(bank, ledger), "settlement")
    found = {b: sorted(g["ledger_entry_id"]) for b, g in links.groupby("bank_transaction_id")}
    assert found == {b: sorted(rows) for b, rows in paid.items()}


CUSTOMERS = ["Adventure Works", "Los Pollos Hermanos", "Northwind Traders", "Initech LLC",
             "Wayne Enterprises", "Tyrell Corporation"]  # fmt: skip


def checks_received(
    day: str, cents: list[int], first_invoice: int = 57_620
) -> list[dict[str, Any]]:
    """One customer check receipt per amount, booked on ``day`` (no bank row names them)."""
    return [
        ledger_row(f"C{i}", amount, day,
                   f"Check received {CUSTOMERS[i % 6]} INV-{first_invoice + i}",
                   CUSTOMERS[i % 6], f"INV-{first_invoice + i}")
        for i, amount in enumerate(cents)
    ]  # fmt: skip


def test_a_deposit_naming_nobody_groups_the_checks_of_one_day() -> None:
    # Three of Thursday's four checks paid in on Friday as one remote deposit; the fourth waits
    # for a later deposit and stays open.
    cents = [51_234, 38_017, 90_355, 12_071]
    ledger = checks_received("2026-10-29", cents)
    bank = [bank_row("B1", sum(cents[:3]), FRIDAY, "REMOTE DEPOSIT CAPTURE")]
    result = run(bank, ledger)
    links = links_of(result, "group")
    assert set(links["ledger_entry_id"]) == {"C0", "C1", "C2"}
    assert set(links["status"]) == {"matched"}
    assert "ledger rows booked on 2026-10-29 described 'CHECK ...'" in links["explanation"].iloc[0]
    assert "C3" not in set(result.links["ledger_entry_id"])


def test_receipts_of_a_kind_mostly_paid_one_by_one_are_no_deposit_of_several() -> None:
    # Twenty-four "Receipt ..." rows are each paid by a transfer naming its invoice; three more
    # are open on Thursday, two of which sum to a transfer whose text was cut before any name.
    # Customers' transfers never arrive as one bank row: the fit is chance. Checks of the same
    # day still group (the test above).
    ledger, bank = [], []
    for i in range(24):
        day = f"2026-10-{5 + i % 20:02d}"
        ledger.append(ledger_row(f"R{i}", 40_000 + 731 * i, day, f"Receipt INV-{70_100 + i}",
                                 CUSTOMERS[i % 6], f"INV-{70_100 + i}"))
        bank.append(bank_row(f"T{i}", 40_000 + 731 * i, day, f"ACH CREDIT INV-{70_100 + i}"))
    open_rows = [51_234, 38_017, 90_355]
    ledger += [ledger_row(f"O{i}", amount, "2026-10-29", f"Receipt INV-{70_200 + i}",
                          CUSTOMERS[i], f"INV-{70_200 + i}") for i, amount in enumerate(open_rows)]
    bank.append(bank_row("B1", open_rows[0] + open_rows[1], FRIDAY, "SEPA CREDIT TRANSF"))
    result = run(bank, ledger)
    assert "B1" not in set(result.links["bank_transaction_id"])


def test_a_deposit_of_checks_with_two_fitting_subsets_is_only_suggested() -> None:
    # 700.00 is 400.00 + 300.00, or 400.00 + 250.00 + 50.00.
    ledger = checks_received("2026-10-29", [40_000, 30_000, 25_000, 5_000])
    result = run([bank_row("B1", 70_000, FRIDAY, "DEPOSIT")], ledger)
    links = links_of(result, "group")
    assert set(links["ledger_entry_id"]) == {"C0", "C1"}
    assert set(links["status"]) == {"suggested"}
    assert "1 other subset(s) also fit" in links["explanation"].iloc[0]
    assert set(result.alternatives["ledger_entry_id"]) == {"C0", "C2", "C3"}


def test_a_deposit_naming_a_customer_is_no_deposit_of_other_customers_checks() -> None:
    cents = [51_234, 38_017, 90_355]
    ledger = checks_received("2026-10-29", cents)
    bank = [bank_row("B1", sum(cents[:2]), FRIDAY, "ACH DEPOSIT NORTHWIND TRADERS")]
    assert links_of(run(bank, ledger), "group").empty


def test_money_out_naming_nobody_is_not_grouped_with_one_days_payments() -> None:
    cents = [-6_692, -1_084, -4_633, -3_148]
    ledger = [ledger_row(f"M{i}", amount, "2026-10-29", "Meals - DoorDash")
              for i, amount in enumerate(cents)]  # fmt: skip
    bank = [bank_row("B1", sum(cents[:3]), FRIDAY, "ONLINE PAYMENT TO")]
    assert links_of(run(bank, ledger), "group").empty


def test_a_deposit_among_more_checks_of_its_day_than_can_be_told_apart_stays_open() -> None:
    cents = amounts(45, 20_000)
    ledger = checks_received("2026-10-29", cents)
    result = run([bank_row("B1", cents[3] + cents[17], FRIDAY, "DEPOSIT")], ledger)
    assert links_of(result, "group").empty


def test_a_deposit_of_checks_among_twenty_five_of_its_day_is_found_and_only_suggested() -> None:
    # The only subset of Thursday's 25 checks summing to the deposit; in a pool this large a
    # subset of a few rows fits by chance more often than the estimate says: suggested.
    cents = amounts(25, 20_000)
    ledger = checks_received("2026-10-29", cents)
    result = run([bank_row("B1", cents[3] + cents[11] + cents[17], FRIDAY, "DEPOSIT")], ledger)
    links = links_of(result, "group")
    assert set(links["ledger_entry_id"]) == {"C3", "C11", "C17"}
    assert set(links["status"]) == {"suggested"}
    assert "suggested: a fit among 25 rows of one day may be chance" in (
        links["explanation"].iloc[0]
    )


def card_purchases(day: str, count: int) -> list[dict[str, Any]]:
    """Bank rows of everyday card spending (nothing in the books): what makes a feed busy."""
    stamp = day.replace("-", "")
    return [bank_row(f"K{stamp}{i:02d}", -(1_013 + 71 * i), day, f"COFFEE {i:02d}")
            for i in range(count)]  # fmt: skip


def test_a_payout_after_a_bank_holiday_is_one_business_day_late_not_two() -> None:
    # PayPal keeps 3.5% and pays each day's sales one business day later; weekend and holiday
    # sales roll to the next business day. Monday 16 February 2026 is a bank holiday (the feed
    # shows it: only card purchases post, as on a weekend): Friday's sales are paid on Tuesday,
    # and Saturday's to Tuesday's on Wednesday. Sunday and Monday's sales happen to sum to
    # Tuesday's deposit at 3.6%: counted as a business day, Monday would make that run look
    # on time and Friday's late.
    holiday = ["2026-02-16"]
    ledger: list[dict[str, Any]] = []
    bank: list[dict[str, Any]] = []
    days = [str(d) for d in np.arange(np.datetime64("2026-02-02"), np.datetime64("2026-02-19"))]
    sold_on: dict[str, list[int]] = {}
    for k, day in enumerate(days):
        working = bool(np.is_busday(np.datetime64(day), holidays=holiday))
        bank += card_purchases(day, 60 if working else 15)
        sold_on[day] = amounts(12 if np.is_busday(np.datetime64(day)) else 5, 1_000 + 97 * k)
    friday_paid = sum(sold_on["2026-02-13"]) * 965 // 1000
    # Sunday + Monday at 3.6%: Monday's last sale makes up the sum.
    want = friday_paid * 1000 // 964
    sold_on["2026-02-16"][-1] += want - sum(sold_on["2026-02-15"]) - sum(sold_on["2026-02-16"])
    paid_on: dict[str, list[str]] = {}
    for day in days:
        rolled = np.busday_offset(np.datetime64(day), 0, roll="forward", holidays=holiday)
        pay_day = str(np.busday_offset(rolled, 1, holidays=holiday))
        paid_on.setdefault(pay_day, []).append(day)
    for pay_day, sale_days in paid_on.items():
        if pay_day > days[-1]:
            continue
        total = sum(sum(sold_on[d]) for d in sale_days)
        bank.append(bank_row(f"P{pay_day}", total * 965 // 1000, pay_day,
                             f"PAYPAL TRANSFER {pay_day}", "PayPal"))  # fmt: skip
    for day in days:
        ledger += sales(f"S{day}-", day, sold_on[day], "PayPal")
    links = links_of(run(bank, ledger), "settlement")
    tuesday = links[links["bank_transaction_id"] == "P2026-02-17"]
    assert set(tuesday["ledger_entry_id"]) == {f"S2026-02-13-{i:03d}" for i in range(12)}
    wednesday = links[links["bank_transaction_id"] == "P2026-02-18"]
    assert {e.rsplit("-", 1)[0] for e in wednesday["ledger_entry_id"]} == {
        "S2026-02-14", "S2026-02-15", "S2026-02-16", "S2026-02-17"
    }


def test_a_debit_naming_nobody_that_all_of_a_days_rows_of_one_kind_sum_to() -> None:
    # The payroll provider's debit names neither the provider the books know nor any employee:
    # the day's "Net pay ..." rows, all of them, sum to it exactly.
    staff = ["Ada Lovelace", "Alan Turing", "Grace Hopper", "Edsger Dijkstra", "Barbara Liskov"]
    pay = [245_012, 198_733, 310_470, 187_655, 264_120]
    ledger = [
        ledger_row(f"N{i}", -amount, "2026-11-12", f"Net pay {name}", name, "PR-20261112")
        for i, (name, amount) in enumerate(zip(staff, pay, strict=True))
    ]
    ledger.append(ledger_row("R1", -120_000, "2026-11-12", "Rent November", "Acme Realty"))
    bank = [bank_row("B1", -sum(pay), "2026-11-13", "ADP WAGE PAY 261113 XX4821")]
    links = links_of(run(bank, ledger), "group")
    assert set(links["ledger_entry_id"]) == {f"N{i}" for i in range(5)}
    assert set(links["status"]) == {"matched"}
    assert "all 5 ledger rows booked on 2026-11-12 described 'NET ...'" in (
        links["explanation"].iloc[0]
    )


def test_a_day_whose_rows_of_one_kind_sum_to_two_debits_naming_nobody_is_left_open() -> None:
    pay = [245_012, 198_733, 310_470]
    ledger = [ledger_row(f"N{i}", -amount, "2026-11-12", f"Net pay {i}")
              for i, amount in enumerate(pay)]  # fmt: skip
    bank = [bank_row("B1", -sum(pay), "2026-11-13", "ADP WAGE PAY 261113 XX4821"),
            bank_row("B2", -sum(pay), "2026-11-13", "WITHDRAWAL")]  # fmt: skip
    assert links_of(run(bank, ledger), "group").empty


def test_a_deposit_of_two_checks_among_too_many_for_a_subset_search_is_suggested() -> None:
    # 45 checks of 100.00 to 9,100.00: few pairs sum near any one amount.
    cents = np.random.default_rng(7).integers(10_000, 910_000, 45).tolist()
    ledger = checks_received("2026-10-29", cents)
    result = run([bank_row("B1", cents[3] + cents[17], FRIDAY, "DEPOSIT")], ledger)
    links = links_of(result, "group")
    assert set(links["ledger_entry_id"]) == {"C3", "C17"}
    assert set(links["status"]) == {"suggested"}
    assert ("2 of the 45 ledger rows booked on 2026-10-29 described 'CHECK ...'; suggested: in a "
            "pool this large only pairs are searched") in links["explanation"].iloc[0]


def test_a_deposit_of_checks_with_round_amounts_is_only_suggested() -> None:
    # Sums of round amounts (1,000.00 + 2,500.00) fit many deposits by chance.
    cents = [100_000, 250_000, 41_327, 12_071]
    ledger = checks_received("2026-10-29", cents)
    result = run([bank_row("B1", sum(cents[:3]), FRIDAY, "DEPOSIT")], ledger)
    links = links_of(result, "group")
    assert set(links["ledger_entry_id"]) == {"C0", "C1", "C2"}
    assert set(links["status"]) == {"suggested"}
    assert "suggested: 2 of its amounts are round" in links["explanation"].iloc[0]


def test_a_transfer_equal_to_a_receipt_of_its_day_is_not_a_settlement() -> None:
    # A busy customer's ten receipts of Friday happen to sum to 31,000.00; Monday brings a
    # 31,000.00 transfer naming the customer and a 31,000.00 receipt booked that day. The one
    # receipt explains the transfer; the sum of Friday's receipts is a chance fit.
    friday = amounts(9, 300_000)
    friday.append(3_100_000 - sum(friday))
    ledger = sales("F", FRIDAY, friday, "Stark Industries")
    ledger.append(ledger_row("R1", 3_100_000, MONDAY, "Receipt INV-76197 Stark Industries",
                             "Stark Industries", "INV-76197"))
    bank = [bank_row("B1", 3_100_000, MONDAY, "FEDWIRE CREDIT VIA STARK INDUSTRIES",
                     "Stark Industries")]  # fmt: skip
    result = run(bank, ledger)
    assert links_of(result, "settlement").empty
    links = result.links
    assert list(links["ledger_entry_id"]) == ["R1"]
    assert links["status"].iloc[0] == "matched"


def test_a_fee_of_a_percent_plus_a_fixed_amount_per_sale_is_learned() -> None:
    # Stripe-like pricing, 2.9% + 0.30 per sale, no payout id: a day of many small sales pays
    # a larger share in fees than a day of few large ones, so no single rate fits every day.
    rng = np.random.default_rng(20261205)
    pay_days = pd.bdate_range("2026-09-01", periods=13)
    ledger: list[dict[str, Any]] = []
    bank = []
    for k, (day, pay_day) in enumerate(pairwise(pay_days)):
        size = rng.uniform(800, 9_000)  # the day's typical sale, in cents
        sold = [max(100, int(a)) for a in rng.lognormal(np.log(size), 0.6, rng.integers(15, 60))]
        ledger += sales(f"D{k:02d}-", str(day.date()), sold, "Stripe")
        fee = sum(a * 29 // 1000 + 30 for a in sold)
        bank.append(bank_row(f"B{k:02d}", sum(sold) - fee, str(pay_day.date()),
                             "STRIPE TRANSFER", "Stripe"))  # fmt: skip
    result = run(bank, ledger)
    links = links_of(result, "settlement")
    assert len(links) == len(ledger)
    assert links["bank_transaction_id"].nunique() == 12
    assert set(links["status"]) == {"matched_with_difference"}
    for k in range(12):
        own = links[links["bank_transaction_id"] == f"B{k:02d}"]
        assert own["ledger_entry_id"].str.startswith(f"D{k:02d}-").all()


def test_a_payout_of_several_weeks_of_sales_carrying_its_id() -> None:
    # A small shop's processor pays out twice a month: sales of the 2nd to the 17th, each
    # booked with the payout id, arrive on the 19th less the fee.
    payout = "ST-76XA05FYBTD7"
    ledger = [
        ledger_row(f"S{day:02d}", 2_000 + 37 * day, f"2026-11-{day:02d}", "JP web order",
                   "Stripe Japan", payout)
        for day in range(2, 18)
    ]  # fmt: skip
    total = sum(row["amount_minor"] for row in ledger)
    bank = [bank_row("B1", total - total * 36 // 1000, "2026-11-19",
                     f"FURIKOMI STRIPE JAPAN {payout}", "Stripe Japan")]  # fmt: skip
    links = links_of(run(bank, ledger), "reference_total")
    assert set(links["ledger_entry_id"]) == {row["entry_id"] for row in ledger}
    assert set(links["status"]) == {"matched_with_difference"}


def test_a_payout_without_plaids_counterparty_takes_the_one_its_descriptor_has_elsewhere() -> None:
    # Clover's deposits read "FISERV MERCH DEP ..."; Plaid names Clover on most of them, not on
    # the last one: that one is Clover's all the same.
    days = ["2026-11-02", "2026-11-03", "2026-11-04", "2026-11-05"]
    ledger: list[dict[str, Any]] = []
    bank = []
    for k, day in enumerate(days):
        sold = amounts(12, 1_100 + 250 * k)
        ledger += sales(f"C{k}", day, sold, "Clover")
        paid = sum(sold) - sum(sold) * 25 // 1000
        pay_day = str((pd.Timestamp(day) + pd.offsets.BDay(1)).date())
        named = "Clover" if k < 3 else ""
        bank.append(bank_row(f"B{k}", paid, pay_day, f"FISERV MERCH DEP 55{k}81", named))
    result = run(bank, ledger)
    links = links_of(result, "settlement")
    own = links[links["bank_transaction_id"] == "B3"]
    assert set(own["ledger_entry_id"]) == {f"C3{i:03d}" for i in range(12)}
    assert set(own["status"]) == {"matched_with_difference"}


def test_a_descriptor_the_feed_names_with_two_counterparties_names_neither() -> None:
    from recon.engine.normalise import Distinct, _counterparties_from_feed

    description = Distinct.of(np.array(
        ["ZELLE FROM 1", "ZELLE FROM 2", "ZELLE FROM 3", "ZELLE FROM 4", "ZELLE FROM 5",
         "FISERV DEP 1", "FISERV DEP 2", "FISERV DEP 3", "FISERV DEP 4"], dtype=object))
    counterparty = Distinct.of(np.array(
        ["Ann Lee", "Ann Lee", "Ann Lee", "Bob Ray", "", "Clover", "Clover", "Clover", ""],
        dtype=object))  # fmt: skip
    words = np.array(["ZELLE"] * 5 + ["FISERV"] * 4, dtype=object)
    words = words[pd.factorize(description.uniques)[0]]
    filled = _counterparties_from_feed(description, counterparty, words)
    names = filled.uniques[filled.codes]
    assert list(names[:5]) == ["Ann Lee", "Ann Lee", "Ann Lee", "Bob Ray", ""]
    assert list(names[5:]) == ["Clover"] * 4


def _payouts_without_ids(lag_days: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Four payouts of a processor whose books carry the payout id on each sale, paid
    ``lag_days`` business days later at 2.5%, the bank text cut before the id."""
    ledger: list[dict[str, Any]] = []
    bank = []
    for k, day in enumerate(["2026-11-02", "2026-11-03", "2026-11-04", "2026-11-05"]):
        sold = amounts(14, 1_300 + 410 * k)
        ledger += sales(f"K{k}", day, sold, "Klarna", f"KL-7Q{k}X4M9PZ")
        paid = sum(sold) - sum(sold) * 25 // 1000
        pay_day = str((pd.Timestamp(day) + pd.offsets.BDay(lag_days)).date())
        bank.append(bank_row(f"B{k}", paid, pay_day, "KLARNA BANK AB SETTLEMENT"))
    return bank, ledger


def test_a_payout_whose_id_the_bank_cut_away_pays_the_sales_carrying_one_id() -> None:
    # Paid a week after the sales, beyond any settlement lag: the payout id on the sales says
    # which ones one deposit pays, and the deposit names Klarna at its usual rate.
    bank, ledger = _payouts_without_ids(lag_days=5)
    result = run(bank, ledger)
    links = links_of(result, "reference_total")
    for k in range(4):
        own = links[links["bank_transaction_id"] == f"B{k}"]
        assert set(own["ledger_entry_id"]) == {f"K{k}{i:03d}" for i in range(14)}
        assert set(own["status"]) == {"matched_with_difference"}
        assert f"reference KL-7Q{k}X4M9PZ (not on the bank row, which names KLARNA)" in (
            own["explanation"].iloc[0]
        )


def test_a_deposit_two_groups_of_its_counterparty_fit_pays_neither() -> None:
    bank, ledger = _payouts_without_ids(lag_days=5)
    # A fifth payout whose sales sum to the second's: its deposit fits either group.
    twin = [dict(row, entry_id=f"T{row['entry_id']}", reference="KL-TWIN00001")
            for row in ledger if row["reference"] == "KL-7Q1X4M9PZ"]  # fmt: skip
    result = run(bank, ledger + twin)
    links = links_of(result, "reference_total")
    assert "B1" not in set(links["bank_transaction_id"])
    assert not set(links["ledger_entry_id"]) & {row["entry_id"] for row in twin}


def test_a_partner_paid_and_paying_in_the_same_days_is_no_processor() -> None:
    # Mueller buys and sells: its receipts less what it was paid sum exactly to its transfer,
    # but a run of days that goes both ways by a third is chance, not a payout.
    ledger = sales("R", MONDAY, amounts(9, 40_000), "Mueller Maschinenbau")
    ledger += [ledger_row(f"P{i}", -amount, TUESDAY, "AP payment", "Mueller Maschinenbau",
                          f"PO 5512{i}") for i, amount in enumerate((61_200, 48_350, 39_900))]
    total = sum(row["amount_minor"] for row in ledger)
    bank = [bank_row("B1", total, "2026-11-05", "SEPA CREDIT MUELLER MASCHINENBAU")]
    result = run(bank, ledger)
    assert links_of(result, "settlement").empty


def test_a_payout_with_a_few_refunds_among_its_sales_is_settled() -> None:
    sold = amounts(14, 2_500)
    ledger = sales("S", MONDAY, sold, "Square")
    ledger += [ledger_row("RF", -1_900, MONDAY, "POS refund", "Square")]
    bank = [bank_row("B1", sum(sold) - 1_900, TUESDAY, "SQUARE INC SQ261103 MA8XL69J")]
    result = run(bank, ledger)
    assert len(links_of(result, "settlement")) == 15


def test_a_bank_spelling_umlauts_in_two_letters_names_the_ledgers_party() -> None:
    # SEPA's character set has no umlauts: the bank prints Müller as MUELLER, Größ as GROESS.
    from recon.engine.normalise import ascii_fold

    assert ascii_fold("Müller Größmann Électrique Åkeri Søren") == (
        "Mueller Groessmann Electrique Akeri Soren"
    )
    ledger = [ledger_row(f"L{i}", 45_000 + 13 * i, MONDAY, "Payment received", name, "")
              for i, name in enumerate(["Müller Maschinenbau GmbH", "Rößler Antriebe KG"] * 2)]
    bank = [bank_row("B0", 45_000, "2026-11-10", "SEPA CREDIT MUELLER MASCHINENBAU GMBH"),
            bank_row("B1", 45_013, "2026-11-10", "SEPA CREDIT ROESSLER ANTRIEBE KG"),
            bank_row("B2", 45_026, "2026-11-10", "SEPA CREDIT MUELLER MASCHINENBAU GMBH"),
            bank_row("B3", 45_039, "2026-11-10", "SEPA CREDIT ROESSLER ANTRIEBE KG")]
    result = run(bank, ledger)
    links = result.links.set_index("bank_transaction_id")
    assert {b: links.loc[b, "ledger_entry_id"] for b in links.index} == {
        "B0": "L0", "B1": "L1", "B2": "L2", "B3": "L3"
    }
    assert set(links["rule"]) == {"fuzzy_text"}


def test_a_bank_leaving_out_apostrophes_names_the_ledgers_party() -> None:
    # Most banks drop the apostrophe: O'Brien is OBRIEN, D'Angelo DANGELO (not "O BRIEN").
    from recon.engine.normalise import ascii_fold

    assert ascii_fold("O'Brien D\u2019Angelo Macy's") == "OBrien DAngelo Macys"
    ledger = [ledger_row(f"L{i}", 45_000 + 13 * i, MONDAY, "Payment received", name, "")
              for i, name in enumerate(["O'Brien Engineering Ltd", "D'Angelo Tooling"] * 2)]
    bank = [bank_row("B0", 45_000, "2026-11-10", "SEPA CT OBRIEN"),
            bank_row("B1", 45_013, "2026-11-10", "ACH CREDIT DANGELO"),
            bank_row("B2", 45_026, "2026-11-10", "SEPA CT OBRIEN"),
            bank_row("B3", 45_039, "2026-11-10", "ACH CREDIT DANGELO")]
    links = run(bank, ledger).links.set_index("bank_transaction_id")
    assert {b: links.loc[b, "ledger_entry_id"] for b in links.index} == {
        "B0": "L0", "B1": "L1", "B2": "L2", "B3": "L3"
    }


def test_a_transfer_one_keying_slip_from_a_receipt_is_a_mismatch_not_a_remittance() -> None:
    # 2,002.59 received; the books hold 202.59 (a dropped digit) and a round 1,800.00 of the
    # same payer that sum to it by chance.
    ledger = [ledger_row("L1", 180_000, MONDAY, "Receipt INV-115262 Hooli", "Hooli XYZ Inc",
                         "INV-115262"),
              ledger_row("L2", 20_259, MONDAY, "Payment received INV-128500", "Hooli XYZ Inc",
                         "INV-128500"),
              ledger_row("L3", 55_555, MONDAY, "Receipt INV-128501 Hooli", "Hooli XYZ Inc",
                         "INV-128501")]  # fmt: skip
    bank = [bank_row("B1", 200_259, TUESDAY, "ACH CREDIT HOOLI XYZ INC", "Hooli XYZ Inc")]
    result = run(bank, ledger)
    assert links_of(result, "remittance").empty
    mismatch = result.discrepancies[result.discrepancies["kind"] == "amount_mismatch"]
    assert set(mismatch["ledger_entry_id"]) == {"L2"}


def test_a_transfer_naming_one_invoice_pays_it_and_a_row_one_slip_from_the_transfer() -> None:
    # 13,000.00 names INV-55726 (10,000.00); the payer's 3,000.00 is one dropped digit from the
    # transfer, but the named invoice says the two are paid together.
    ledger = [ledger_row("L1", 1_000_000, MONDAY, "Customer payment Gekko INV-55726",
                         "Gekko and Co", "INV-55726"),
              ledger_row("L2", 300_000, MONDAY, "Payment received INV-55727", "Gekko and Co",
                         "INV-55727"),
              ledger_row("L3", 204_392, MONDAY, "Receipt INV-55690 Gekko", "Gekko and Co",
                         "INV-55690")]  # fmt: skip
    bank = [bank_row("B1", 1_300_000, TUESDAY, "ACH DEPOSIT GEKKO AND CO REMIT 2 INV INV-55726")]
    links = links_of(run(bank, ledger), "remittance")
    assert set(links["ledger_entry_id"]) == {"L1", "L2"}


def test_a_small_processors_fortnight_of_sales_is_settled_after_its_daily_payouts() -> None:
    # Mollie pays each of four days' sales the next business day at 2.5% (the rate learned
    # there), then, its volume down, a fortnight of sales in one payout: a run longer than
    # span_days, found only in the last round over what is left.
    ledger: list[dict[str, Any]] = []
    bank = []
    for k, day in enumerate(["2026-11-02", "2026-11-03", "2026-11-04", "2026-11-05"]):
        sold = amounts(12, 1_500 + 370 * k)
        ledger += sales(f"D{k}", day, sold, "Mollie")
        pay_day = str((pd.Timestamp(day) + pd.offsets.BDay(1)).date())
        bank.append(bank_row(f"B{k}", sum(sold) - sum(sold) * 25 // 1000, pay_day,
                             "MOLLIE PAYOUT"))  # fmt: skip
    fortnight = pd.bdate_range("2026-11-16", "2026-11-27")
    for k, day in enumerate(fortnight):
        ledger += sales(f"F{k}", str(day.date()), amounts(2, 2_100 + 530 * k), "Mollie")
    total = sum(row["amount_minor"] for row in ledger if row["entry_id"].startswith("F"))
    bank.append(bank_row("BF", total - total * 25 // 1000, "2026-11-30", "MOLLIE PAYOUT"))
    settled = links_of(run(bank, ledger), "settlement")
    assert set(settled.loc[settled["bank_transaction_id"] == "BF", "ledger_entry_id"]) == {
        row["entry_id"] for row in ledger if row["entry_id"].startswith("F")}
    assert len(set(settled["bank_transaction_id"])) == 5
    narrow = with_pass(MATCHING, "settlement_totals", wide_span_days=None)
    assert "BF" not in set(links_of(run(bank, ledger, narrow), "settlement")["bank_transaction_id"])


def test_a_part_that_two_other_transfers_of_the_payer_make_up_is_only_suggested() -> None:
    # 4,000.00 + 5,870.40 (naming the invoice) pays it; so do 3,000.00 + 1,000.00 + 5,870.40,
    # a week on, beyond the invoice's nearest rows. Which transfers paid it is a guess.
    bank = [
        *busy_payer(24),
        bank_row("B1", 400_000, "2026-11-03", "ACH CREDIT ACME CORP"),
        bank_row("B2", 587_040, "2026-11-07", "ACH CREDIT ACME CORP INV-51204"),
        bank_row("R1", 300_000, "2026-11-09", "ACH CREDIT ACME CORP"),
        bank_row("R2", 100_000, "2026-11-10", "ACH CREDIT ACME CORP"),
    ]
    links = links_of(run(bank, [INVOICE]), "partial_payment")
    assert {"B2"} <= set(links["bank_transaction_id"])
    assert set(links["status"]) == {"suggested"}
    # Without the two that make it up, the 4,000.00 is the only transfer that fits.
    alone = links_of(run(bank[:-2], [INVOICE]), "partial_payment")
    assert set(alone["bank_transaction_id"]) == {"B1", "B2"}
    assert set(alone["status"]) == {"matched"}


def test_a_part_alike_to_another_candidate_of_a_suggested_link_is_only_suggested() -> None:
    # Two 2,000.00 wires of Acme on one day: one pays the 2,000.00 receipt, the other a part of
    # INV-58934. exact_amount can only suggest which pays the receipt; the split's 2,000.00 is
    # then no surer.
    bank = [
        bank_row("W1", 200_000, "2026-11-02", "FEDWIRE CREDIT VIA ACME CORP"),
        bank_row("W2", 200_000, "2026-11-02", "INCOMING WIRE ACME CORP REF 4543"),
        bank_row("W3", 243_378, "2026-11-06", "ACH CREDIT ACME CORP", reference="INV-58934"),
    ]
    ledger = [
        ledger_row("R", 200_000, "2026-11-02", "Payment received Acme Corp", "Acme Corp"),
        ledger_row("I", 443_378, "2026-11-02", "Invoice INV-58934 Acme Corp", "Acme Corp",
                   "INV-58934"),
    ]  # fmt: skip
    result = run(bank, ledger)
    receipt = links_of(result, "exact_amount")
    assert len(receipt) == 1 and receipt["status"].iloc[0] == "suggested"
    split = links_of(result, "partial_payment")
    assert set(split["ledger_entry_id"]) == {"I"} and len(split) == 2
    assert set(split["status"]) == {"suggested"}
    assert "another candidate of a link suggested earlier" in split["explanation"].iloc[0]


def test_a_charge_that_one_row_of_the_payee_has_alone_is_not_a_run_of_look_alike_rows() -> None:
    # Ten 15.00 seats of Canva booked over four days add up to 150.00, as does the one 150.00
    # Canva row booked the day before the charge: that row is the charge's.
    seats = [ledger_row(f"S{i}", -1_500, f"2026-11-{2 + i % 4:02d}",
                        "Canva subscription Nov 2026", "Canva") for i in range(10)]  # fmt: skip
    plan = ledger_row("P1", -15_000, "2026-11-08", "Canva subscription Nov 2026", "Canva")
    bank = [bank_row("B1", -15_000, "2026-11-09", "CANVA* 58745443", "Canva")]
    result = run(bank, [*seats, plan])
    links = result.links
    assert set(links.loc[links["bank_transaction_id"] == "B1", "ledger_entry_id"]) == {"P1"}
    # Without the one row, the seats' run may still be the charge.
    assert not links_of(run(bank, seats), "settlement").empty
