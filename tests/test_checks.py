"""The check pass: a bank row and a ledger row with the same check number match regardless of
the usual day window, up to 180 days after the ledger date; another amount is a mismatch."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from recon.bankfile import read_bank_file
from recon.config import Config
from recon.engine import reconcile
from recon.frames import CHECK_NUMBER
from tests.test_engine import (
    AS_OF,
    MATCHING,
    bank_row,
    ledger_row,
    links_of,
    only_discrepancy,
    run,
)


def test_a_check_cleared_months_later_matches_by_its_number() -> None:
    result = run(
        [bank_row("B1", -97_355, "2024-03-20", "CHECK # 1036", "")],
        [
            ledger_row("L1", -97_355, "2023-12-02", "Check 1036 Avnet Inc", "Avnet Inc", "1036"),
            ledger_row("L2", -97_355, "2024-03-19", "Check 1037 Avnet Inc", "Avnet Inc", "1037"),
        ],
    )  # fmt: skip
    link = links_of(result)[("B1", "L1")]
    assert link["status"] == "matched"
    assert link["rule"] == "checks"
    assert link["explanation"].startswith("rule checks: same amount, bank 109 days after ledger")
    assert "; check number 1036" in link["explanation"]
    assert only_discrepancy(result, "unmatched_ledger")["ledger_entry_id"] == "L2"


def test_the_check_number_is_evidence_whatever_the_ledgers_reference_format() -> None:
    # The ledger books check 1238 as "CHK-1238" (not the bare number the bank's check number
    # field holds), and another -1,900.00 the same week: the number alone confirms the link.
    result = run(
        [bank_row("B1", -190_000, "2024-02-18", "CHECK 1238", "")],
        [
            ledger_row("L1", -190_000, "2024-02-11", "Chq #1238 Staples Business Advantage",
                       "Staples Business Advantage", "CHK-1238"),
            ledger_row("L2", -190_000, "2024-02-14", "Rent February", "Harbor Properties",
                       "RENT-2024-02"),
        ],
    )  # fmt: skip
    link = links_of(result)[("B1", "L1")]
    assert (link["rule"], link["status"]) == ("checks", "matched")


def test_plaid_check_number_column_wins_over_the_text() -> None:
    bank = pd.DataFrame([bank_row("B1", -50_000, "2024-03-21", "CHK 9999", "")])
    bank[CHECK_NUMBER] = ["001132"]
    ledger = pd.DataFrame([ledger_row("L1", -50_000, "2024-01-05", "Konica Minolta", "",
                                      "CHK 1132")])  # fmt: skip
    result = reconcile(bank, ledger, MATCHING, as_of=AS_OF)
    assert list(links_of(result)) == [("B1", "L1")]


def test_older_than_180_days_or_another_number_is_not_a_check_match() -> None:
    result = run(
        [
            bank_row("B1", -20_000, "2024-03-20", "CHECK 2001", ""),
            bank_row("B2", -30_000, "2024-03-20", "CHECK 2002", ""),
        ],
        [
            ledger_row("L1", -20_000, "2023-09-01", "Check 2001 Acme", "Acme", "2001"),  # 201 d
            ledger_row("L2", -30_000, "2024-01-01", "Check 2003 Acme", "Acme", "2003"),
        ],
    )
    assert result.links.empty


def test_a_check_with_another_amount_is_an_amount_mismatch() -> None:
    result = run(
        [bank_row("B1", -174_984, "2024-03-06", "CHK 1004", "")],
        [ledger_row("L1", -147_984, "2024-01-01", "Check 1004 Zendesk Inc", "Zendesk Inc",
                    "1004")],
    )  # fmt: skip
    assert result.links.empty
    item = only_discrepancy(result, "amount_mismatch")
    assert (item["bank_transaction_id"], item["ledger_entry_id"]) == ("B1", "L1")
    assert item["explanation"] == (
        "bank -1749.84 vs ledger -1479.84 (differs by 270.00: transposed digits), same check "
        "number 1004, 65 days apart"
    )


def test_a_bare_number_in_a_ledger_reference_needs_the_same_amount() -> None:
    """A ledger reference "1004" may be an invoice number: with another amount (and no slip)
    it is not taken for the check."""
    result = run(
        [bank_row("B1", -174_984, "2024-03-06", "CHK 1004", "")],
        [ledger_row("L1", -50_000, "2024-02-01", "Invoice paid", "Initech", "1004")],
    )
    assert not (result.discrepancies["kind"] == "amount_mismatch").any()


def test_the_bank_file_reader_keeps_plaid_check_number(tmp_path: Path, config: Config) -> None:
    account = config.accounts[0]
    transaction = {
        "transaction_id": "T1", "account_id": account.plaid_account_id, "date": "2024-03-06",
        "amount": 12.5, "iso_currency_code": account.currency, "name": "CHECK PAID",
        "check_number": "1043",
    }  # fmt: skip
    path = tmp_path / "bank.json"
    path.write_text(json.dumps([transaction]))
    frame = read_bank_file(path, config)
    assert frame[CHECK_NUMBER].tolist() == ["1043"]
    csv_path = tmp_path / "bank.csv"
    csv_path.write_text(
        "transaction_id,account_id,date,amount,iso_currency_code,name,check_number\n"
        f"T1,{account.plaid_account_id},2024-03-06,12.50,{account.currency},CHECK PAID,1043\n"
    )
    assert read_bank_file(csv_path, config)[CHECK_NUMBER].tolist() == ["1043"]


@pytest.mark.parametrize(
    ("bank_text", "ledger_reference", "ledger_text"),
    [
        ("CHECK 1043", "1043", "Rent"),
        ("CHK #1043", "#1043", "Rent"),
        ("CHECK NO. 1043", "CHK-001043", "Rent"),
        ("CK 1043", "No. 1043", "Rent"),
        ("CHQ:1043", "", "Cheque 1043 rent"),
        ("DEBIT", "", "Check number 1043 rent"),  # the number from Plaid's check_number
        ("CHECK 1043", "", "Scheck Nr. 1043 Miete"),  # a German ledger
        ("CHECK 1043", "Scheck-Nr. 1043", "Miete"),
        ("DEBIT", "", "Chèque n° 1043 loyer"),  # a French ledger
        ("CHECK PAID #1043", "1043", "Rent"),
        ("CHECK CASHED 1043", "1043", "Rent"),
        ("SHARE DRAFT 1043", "1043", "Rent"),  # a credit union's checks are share drafts
        ("DRAFT #001043", "", "Draft 1043 rent"),
    ],
)
def test_check_number_formats(bank_text: str, ledger_reference: str, ledger_text: str) -> None:
    bank = pd.DataFrame([bank_row("B1", -45_000, "2024-03-20", bank_text, "")])
    bank[CHECK_NUMBER] = ["1043" if bank_text == "DEBIT" else ""]
    ledger = pd.DataFrame([ledger_row("L1", -45_000, "2024-01-02", ledger_text, "Landlord",
                                      ledger_reference)])  # fmt: skip
    result = reconcile(bank, ledger, MATCHING, as_of=AS_OF)
    assert links_of(result)[("B1", "L1")]["rule"] == "checks"


def test_words_that_only_start_like_check_name_no_check() -> None:
    result = run(
        [bank_row("B1", -45_000, "2024-03-20", "CHECKING TRANSFER 1043", "")],
        [ledger_row("L1", -45_000, "2023-12-02", "STOCK 1043", "Broker", "1043")],
    )
    assert result.links.empty
