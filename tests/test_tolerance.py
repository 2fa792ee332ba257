"""Tolerance semantics, tested at the boundary: |bank - ledger| <= max(absolute, percent of the
larger amount), limits inclusive, both in whole minor units rounded down, per currency."""

from __future__ import annotations

from decimal import Decimal

import numpy as np
import pytest

from recon.engine.groups import fitting_subsets
from recon.engine.scoring import minor_tolerance, search_percent, within_tolerance
from tests.test_engine import bank_row, ledger_row, links_of, run


def inside(bank: int, ledger: int, absolute: str, percent: str, currency: str = "USD",
           percent_of: str = "larger") -> bool:  # fmt: skip
    limit = np.array([minor_tolerance(Decimal(absolute), currency)], dtype=np.int64)
    found = within_tolerance(
        np.array([bank], dtype=np.int64), np.array([ledger], dtype=np.int64), limit,
        Decimal(percent), percent_of,  # type: ignore[arg-type]
    )  # fmt: skip
    return bool(found[0])


@pytest.mark.parametrize(
    ("currency", "bank", "at_limit", "over"),
    [
        # 0.1 percent of 1,000.00 is 1.00 (the percent wins over 0.05).
        ("USD", 100_000, 100_100, 100_101),
        ("EUR", -100_000, -99_900, -99_899),
        # JPY has no minor unit: 0.05 yen is 0; 0.1 percent of 100,000 yen is 100 yen.
        ("JPY", 100_000, 100_100, 100_101),
        ("JPY", 1_000, 1_001, 1_002),  # 0.1 percent of 1,001 yen: 1 yen (rounded down)
        # KWD has three decimals: 0.05 is 50 fils; 0.1 percent of 10.000 is 10 fils.
        ("KWD", 10_000, 10_050, 10_051),
    ],
)
def test_exactly_at_the_limit_is_in_one_minor_unit_over_is_out(
    currency: str, bank: int, at_limit: int, over: int
) -> None:
    assert inside(bank, at_limit, "0.05", "0.1", currency)
    assert inside(at_limit, bank, "0.05", "0.1", currency)  # symmetric: the larger side
    assert not inside(bank, over, "0.05", "0.1", currency)
    assert not inside(over, bank, "0.05", "0.1", currency)


def test_the_absolute_limit_wins_for_small_amounts() -> None:
    assert inside(1_000, 1_005, "0.05", "0.1")  # 0.1 percent of 10.05 is 0.01; 0.05 wins
    assert not inside(1_000, 1_006, "0.05", "0.1")


def test_the_percent_is_of_the_larger_amount_unless_a_side_is_named() -> None:
    # 999.00 against 1,000.00: 0.1 percent of 1,000.00 is 1.00 (in), of 999.00 only 0.99.
    assert inside(99_900, 100_000, "0", "0.1")
    assert inside(100_000, 99_900, "0", "0.1")
    assert not inside(99_900, 100_000, "0", "0.1", percent_of="bank")
    assert inside(99_900, 100_000, "0", "0.1", percent_of="ledger")
    assert not inside(100_000, 99_900, "0", "0.1", percent_of="ledger")


@pytest.mark.parametrize("percent", ["0.1", "1.0", "33.3", "99.99"])
def test_the_candidate_band_holds_every_pair_the_tolerance_allows(percent: str) -> None:
    """The search band (a percent of the bank amount) never misses a pair the rule allows."""
    rng = np.random.default_rng(6)
    bank = rng.integers(1, 10**7, 2_000)
    ledger = bank + rng.integers(-(10**6), 10**6, 2_000)
    ledger = np.where(ledger == 0, 1, ledger)
    zero = np.zeros(len(bank), dtype=np.int64)
    allowed = within_tolerance(bank, ledger, zero, Decimal(percent), "larger")
    band = within_tolerance(bank, ledger, zero, search_percent(Decimal(percent), "larger"), "bank")
    assert not (allowed & ~band).any()


def test_the_tolerance_rule_links_at_the_limit_and_not_one_cent_over() -> None:
    at_limit = run(
        [bank_row("B1", 100_000, "2024-03-05", "Globex Corporation", "Globex")],
        [ledger_row("L1", 100_100, "2024-03-04", "Globex Corporation", "Globex")],
    )
    assert links_of(at_limit)[("B1", "L1")]["rule"] == "tolerance"
    over = run(
        [bank_row("B1", 100_000, "2024-03-05", "Globex Corporation", "Globex")],
        [ledger_row("L1", 100_101, "2024-03-04", "Globex Corporation", "Globex")],
    )
    assert links_of(over)[("B1", "L1")]["rule"] == "difference"  # a fee, not a tolerance


def test_the_tolerance_rule_in_yen() -> None:
    result = run(
        [bank_row("B1", 500_000, "2024-03-05", "Tanaka Shoji", "Tanaka Shoji", currency="JPY",
                  account="1030")],
        [ledger_row("L1", 500_500, "2024-03-05", "Tanaka Shoji", "Tanaka Shoji", currency="JPY",
                    account="1030"),
         ledger_row("L2", 600_601, "2024-03-05", "Sato Trading", "Sato Trading", currency="JPY",
                    account="1030")],
    )  # fmt: skip
    assert links_of(result)[("B1", "L1")]["rule"] == "tolerance"  # 500 yen: 0.1 percent
    over = run(
        [bank_row("B1", 500_000, "2024-03-05", "Tanaka Shoji", "Tanaka Shoji", currency="JPY",
                  account="1030")],
        [ledger_row("L1", 500_501, "2024-03-05", "Tanaka Shoji", "Tanaka Shoji", currency="JPY",
                    account="1030")],
    )  # fmt: skip
    assert links_of(over)[("B1", "L1")]["rule"] == "difference"  # 501 yen: over 0.1 percent


def test_the_difference_pass_at_its_limit() -> None:
    """Fees: max(5.00, 1 percent of the larger amount), inclusive."""
    at_limit = run(
        [bank_row("B1", 48_000, "2024-03-05", "WIRE IN UMBRELLA CORP", "Umbrella Corp")],
        [ledger_row("L1", 48_500, "2024-03-04", "Umbrella Corp invoice", "Umbrella Corp")],
    )
    link = links_of(at_limit)[("B1", "L1")]
    assert (link["rule"], link["status"]) == ("difference", "matched_with_difference")
    over = run(
        [bank_row("B1", 48_000, "2024-03-05", "WIRE IN UMBRELLA CORP", "Umbrella Corp")],
        [ledger_row("L1", 48_501, "2024-03-04", "Umbrella Corp invoice", "Umbrella Corp")],
    )
    assert not any(row["rule"] == "difference" for row in links_of(over).values())


def test_a_group_sum_within_its_absolute_tolerance_inclusive() -> None:
    amounts = np.array([1_000, 2_000, 3_000], dtype=np.int64)
    assert len(fitting_subsets(amounts, 6_005, 5, 3)) == 1  # off by exactly 5: in
    assert len(fitting_subsets(amounts, 6_006, 5, 3)) == 0  # one over: out


def _crowded_payer(count: int) -> list[dict[str, object]]:
    """A payer's receipts of the week, far from 2,702.33 and from each other."""
    return [
        ledger_row(f"W{i:02d}", 50_000 + 9_973 * i, f"2024-03-{4 + i % 5:02d}",
                   f"Receipt INV-{70000 + i} Stark Industries", "Stark Industries")
        for i in range(count)
    ]  # fmt: skip


def test_a_difference_to_one_of_a_crowded_payers_many_receipts_is_only_suggested() -> None:
    # 2.33 off one receipt of a payer with 40 receipts that week: 40 x 4.67 / 2,702.33 = 0.07
    # such receipts are expected by chance alone, so the difference proves nothing.
    bank = [bank_row("B1", 270_233, "2024-03-08", "ACH CREDIT STARK INDUS")]
    receipt = ledger_row("L1", 270_000, "2024-03-06", "Receipt INV-90069 Stark Industries",
                         "Stark Industries", "INV-90069")  # fmt: skip
    link = links_of(run(bank, [receipt, *_crowded_payer(40)]))[("B1", "L1")]
    assert link["rule"] == "tolerance"
    assert link["status"] == "suggested"
    assert "the payer has 41 rows in these days" in link["explanation"]
    # The same payer with three receipts that week: the difference is the likelier story.
    alone = links_of(run(bank, [receipt, *_crowded_payer(3)]))[("B1", "L1")]
    assert alone["status"] == "matched_with_difference"


def test_the_tolerance_rule_does_not_link_a_bank_row_naming_another_payer() -> None:
    # "INDUSTRIES" makes the texts alike; the bank text names Stark, the receipt is Wonka's.
    bank = [bank_row("B1", 753_778, "2024-03-05", "ORIG CO NAME:STARK INDUS")]
    ledger = [
        ledger_row("L1", 753_171, "2024-03-06", "Receipt INV-112791 Wonka Industries",
                   "Wonka Industries", "INV-112791"),
        ledger_row("L2", 12_000, "2024-02-20", "Receipt INV-112001 Stark Industries",
                   "Stark Industries", "INV-112001"),
    ]  # fmt: skip
    assert ("B1", "L1") not in links_of(run(bank, ledger))
    ledger[1] = ledger_row("L2", 12_000, "2024-02-20", "Receipt INV-112001 Acme", "Acme Corp")
    assert links_of(run(bank, ledger))[("B1", "L1")]["rule"] == "tolerance"
