"""Keying slips (transposed digits, a dropped digit, a decimal shift): the digit rule, and the
mismatch pass that reports such pairs as amount_mismatch naming both rows and the slip."""

from __future__ import annotations

import random

import numpy as np
import pytest

from recon.engine.slips import Slip, slip_between, slip_variants
from tests.test_engine import (
    MATCHING,
    bank_row,
    ledger_row,
    links_of,
    only_discrepancy,
    run,
)


@pytest.mark.parametrize(
    ("first", "second", "slip"),
    [
        (123_450, 124_350, Slip.TRANSPOSED),  # 1,234.50 vs 1,243.50
        (123_450, 213_450, Slip.TRANSPOSED),
        (123_450, 12_450, Slip.DROPPED),  # 1,234.50 vs 124.50
        (123_450, 12_350, Slip.DROPPED),  # 1,234.50 vs "1,23.50"
        (123_450, 12_345, Slip.SHIFTED),  # 1,234.50 vs 123.45
        (123_450, 1_234_500, Slip.SHIFTED),  # 1,234.50 vs 12,345.00
        (123_450, 12_345_000, Slip.SHIFTED),  # two places
        (110, 11, Slip.SHIFTED),  # a dropped trailing 0 is a decimal shift
        (-123_450, -124_350, Slip.TRANSPOSED),  # the sign plays no part
        (123_450, 123_450, Slip.NONE),
        (123_450, 132_540, Slip.NONE),  # two swaps
        (123_450, 123_405, Slip.TRANSPOSED),
        (123_450, 125_430, Slip.NONE),  # swap of digits not next to each other
        (123_450, 123_460, Slip.NONE),  # another digit
        (1_005, 105, Slip.DROPPED),
        (1_005, 15, Slip.NONE),  # two digits dropped
    ],
)
def test_slip_between(first: int, second: int, slip: Slip) -> None:
    assert slip_between(first, second) == slip
    assert slip_between(second, first) == slip


def test_variants_are_exactly_the_slips_from_each_amount() -> None:
    """The vectorised variants against the plain statement, on random amounts: every variant
    is a slip of its kind, and every single-slip amount reachable from the amount is listed."""
    rng = random.Random(14)
    amounts = [rng.randrange(1, 10 ** rng.randrange(1, 10)) for _ in range(400)]
    amounts += [100, 1_001, 110, 5, 99_900, 10**16 + 7]
    at, variant, kind = slip_variants(np.array(amounts + [-a for a in amounts], dtype=np.int64))
    for i, amount in enumerate(amounts):
        mine = {int(v): int(k) for j, v, k in zip(at, variant, kind, strict=True) if j == i}
        negative = {-int(v) for j, v in zip(at, variant, strict=True) if j == i + len(amounts)}
        assert negative == set(mine)
        digits = str(amount)
        expected = {amount * 10, amount * 100}
        if len(digits) >= 17:  # times 100 could leave int64: no variants
            assert not mine
            continue
        for p in range(len(digits) - 1):
            swapped = digits[:p] + digits[p + 1] + digits[p] + digits[p + 2 :]
            if swapped != digits and swapped[0] != "0":
                expected.add(int(swapped))
        for p in range(len(digits)):
            dropped = digits[:p] + digits[p + 1 :]
            if dropped and dropped[0] != "0":
                expected.add(int(dropped))
        assert set(mine) == expected
        for value, slip in mine.items():
            assert slip_between(amount, value) == slip


@pytest.mark.parametrize(
    ("bank_minor", "ledger_minor", "words"),
    [
        (123_450, 124_350, "transposed digits"),
        (123_450, 12_450, "a dropped digit"),
        (12_450, 123_450, "a dropped digit"),
        (123_450, 12_345, "a decimal shift"),
        (123_450, 1_234_500, "a decimal shift"),
    ],
)
def test_a_slip_with_the_same_counterparty_is_an_amount_mismatch(
    bank_minor: int, ledger_minor: int, words: str
) -> None:
    """A truncated bank text that names the counterparty only by its first word is enough when
    the amounts are one slip apart."""
    result = run(
        [bank_row("B1", -bank_minor, "2024-03-12", "ACH DEBIT GRANITE T", "")],
        [ledger_row("L1", -ledger_minor, "2024-03-11", "Payment to Granite Telecom PO 57431",
                    "Granite Telecom")],
    )  # fmt: skip
    assert result.links.empty
    item = only_discrepancy(result, "amount_mismatch")
    assert (item["bank_transaction_id"], item["ledger_entry_id"]) == ("B1", "L1")
    assert f": {words}), same counterparty, 1 day apart" in item["explanation"]
    assert item["explanation"].startswith("bank -")


def test_a_slip_with_alike_texts_is_an_amount_mismatch() -> None:
    result = run(
        [bank_row("B1", 88_116, "2024-03-10", "INCOMING WIRE WAYNE ENTERPRISE REF 87519", "")],
        [ledger_row("L1", 881_160, "2024-03-10", "Receipt INV-58733 Wayne Enterprises",
                    "Wayne Enterprises")],
    )  # fmt: skip
    item = only_discrepancy(result, "amount_mismatch")
    assert item["explanation"] == (
        "bank 881.16 vs ledger 8811.60 (differs by 7930.44: a decimal shift), alike texts, "
        "same day"
    )


def test_a_slip_between_unrelated_rows_is_not_a_mismatch() -> None:
    result = run(
        [bank_row("B1", 123_450, "2024-03-12", "INTEREST PAYMENT", "")],
        [ledger_row("L1", 124_350, "2024-03-11", "Card sale order 771023", "Stripe")],
    )
    assert not (result.discrepancies["kind"] == "amount_mismatch").any()


def test_a_transposition_within_the_tolerance_is_a_mismatch_not_a_link() -> None:
    """6,367.27 vs 6,367.72 is within 0.1 percent, but the same digits reordered are a typo."""
    result = run(
        [bank_row("B1", 636_727, "2024-03-07", "ACH CREDIT ZORG INDUSTRIES INV-58690", "")],
        [ledger_row("L1", 636_772, "2024-03-05", "Customer payment Zorg Industries INV-58690",
                    "Zorg Industries", "INV-58690")],
    )  # fmt: skip
    assert not links_of(result)
    item = only_discrepancy(result, "amount_mismatch")
    assert "(differs by 0.45: transposed digits), same reference, 2 days apart" in (
        item["explanation"]
    )


def test_a_slip_pair_wins_over_another_amount_of_the_same_counterparty() -> None:
    """Two candidates of one counterparty: the one a slip explains is the mismatch."""
    result = run(
        [bank_row("B1", -245_899, "2024-03-11", "WIRE TRF OUT ROCKWELL", "Rockwell Automation")],
        [
            ledger_row("L-other", -250_000, "2024-03-11", "AP payment Rockwell Automation",
                       "Rockwell Automation"),
            ledger_row("L-slip", -2_458_990, "2024-03-10", "AP payment Rockwell Automation",
                       "Rockwell Automation"),
        ],
    )  # fmt: skip
    mismatches = result.discrepancies[result.discrepancies["kind"] == "amount_mismatch"]
    assert mismatches["ledger_entry_id"].tolist() == ["L-slip"]


def test_a_reversed_bank_row_is_a_reversal_not_a_slip() -> None:
    result = run(
        [
            bank_row("B1", -4_779, "2024-03-03", "POS PURCHASE STAPLES 75475", ""),
            bank_row("B2", 4_779, "2024-03-04", "REVERSAL POS PURCHASE STAPLES 75475", ""),
        ],
        [ledger_row("L1", 479, "2024-03-01", "Refund Staples", "Staples")],
    )
    kinds = dict(zip(result.discrepancies["bank_transaction_id"],
                     result.discrepancies["kind"], strict=False))  # fmt: skip
    assert kinds["B1"] == kinds["B2"] == "reversal"


def test_a_reversed_bank_row_is_a_reversal_not_another_amount_of_its_payee() -> None:
    # The payee's open ledger row (another amount, the same counterparty and alike texts) would
    # be an amount mismatch with the debit, were the debit not cancelled by its reversal.
    result = run(
        [
            bank_row("B1", -29_669, "2024-03-03", "ACH DEBIT ACME SUPPLY 4411", "Acme Supply"),
            bank_row("B2", 29_669, "2024-03-05", "ACH REVERSAL ACME SUPPLY 4411", "Acme Supply"),
        ],
        [ledger_row("L1", -82_962, "2024-03-01", "Acme Supply", "Acme Supply")],
    )
    kinds = dict(zip(result.discrepancies["bank_transaction_id"],
                     result.discrepancies["kind"], strict=False))  # fmt: skip
    assert kinds["B1"] == kinds["B2"] == "reversal"
    assert "amount_mismatch" not in set(result.discrepancies["kind"])


@pytest.mark.parametrize("ledger_amount", [-29_700, -29_790])  # within tolerance; a fee
def test_a_reversed_bank_row_is_not_linked_with_another_amount(ledger_amount: int) -> None:
    # 0.31 and 1.21 from the debit, the same payee: the tolerance and difference passes would
    # link them, were the debit not cancelled by its reversal.
    result = run(
        [
            bank_row("B1", -29_669, "2024-03-03", "ACH DEBIT ACME SUPPLY 4411", "Acme Supply"),
            bank_row("B2", 29_669, "2024-03-05", "ACH REVERSAL ACME SUPPLY 4411", "Acme Supply"),
        ],
        [ledger_row("L1", ledger_amount, "2024-03-02", "Acme Supply", "Acme Supply")],
    )
    assert result.links.empty
    kinds = dict(zip(result.discrepancies["bank_transaction_id"],
                     result.discrepancies["kind"], strict=False))  # fmt: skip
    assert kinds["B1"] == kinds["B2"] == "reversal"


def test_an_exact_amount_still_links_a_debit_that_is_returned() -> None:
    # The books paid it: the debit links; the return stays open.
    result = run(
        [
            bank_row("B1", -29_669, "2024-03-03", "ACH DEBIT ACME SUPPLY 4411", "Acme Supply"),
            bank_row("B2", 29_669, "2024-03-05", "ACH RETURN R01 ACME SUPPLY", "Acme Supply"),
        ],
        [ledger_row("L1", -29_669, "2024-03-03", "Acme Supply", "Acme Supply")],
    )
    assert set(links_of(result)) == {("B1", "L1")}


def test_variants_among_wanted_amounts_are_the_unfiltered_ones_filtered() -> None:
    amounts = np.array([123_450, -12_345, 110, 7], dtype=np.int64)
    wanted = np.array([124_350, -1_234_500, 11, 70, 999], dtype=np.int64)
    every = set(zip(*(a.tolist() for a in slip_variants(amounts)), strict=True))
    some = set(zip(*(a.tolist() for a in slip_variants(amounts, wanted)), strict=True))
    assert some == {v for v in every if v[1] in set(wanted.tolist())}
    assert {v[1] for v in some} == {124_350, -1_234_500, 11, 70}
    assert not slip_variants(amounts, np.zeros(0, dtype=np.int64))[0].size


def test_the_keying_slips_pass_reports_slips_only() -> None:
    # keying_slips runs before the subset search: a slip (1,234.50 booked as 1,243.50) is
    # reported there; another amount of the same payee (1,300.00) waits for the mismatch pass.
    bank = [
        bank_row("B1", 123_450, "2024-03-12", "ACH CREDIT INITECH LLC", "Initech"),
        bank_row("B2", 120_000, "2024-03-12", "ACH CREDIT GLOBEX CORP", "Globex"),
    ]
    ledger = [
        ledger_row("L1", 124_350, "2024-03-11", "Initech payment", "Initech"),
        ledger_row("L2", 130_000, "2024-03-11", "Globex payment", "Globex"),
    ]
    slips_only = MATCHING.model_copy(update={"passes": tuple(
        p for p in MATCHING.passes if p.name != "mismatch")})  # fmt: skip
    reported = run(bank, ledger, slips_only).discrepancies
    mismatches = reported[reported["kind"] == "amount_mismatch"]
    assert list(zip(mismatches["bank_transaction_id"], mismatches["ledger_entry_id"],
                    strict=True)) == [("B1", "L1")]  # fmt: skip
    every = run(bank, ledger).discrepancies
    assert set(every.loc[every["kind"] == "amount_mismatch", "ledger_entry_id"]) == {"L1", "L2"}
