"""The bank row's counterparty: merchant_name, else a counterparty's name, else the transfer's
other party in Plaid's payment_meta (payee of money out, payer or ordering party of money in),
the same in the bank file reader and in what Plaid sync stores."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from recon.bankfile import read_bank_file
from recon.config import Config
from recon.engine import reconcile
from recon.plaid.normalise import counterparty_of
from tests.test_engine import AS_OF, MATCHING, ledger_row, links_of

META = {"payee": "JOHN SANCHEZ", "payer": "ACME ROBOTICS INC", "by_order_of": "Initech LLC"}

# (Plaid amount: positive is money out, payment_meta, merchant_name) -> counterparty
CASES = [
    ("1788.33", META, None, "JOHN SANCHEZ"),  # a payroll debit: the employee paid
    ("-1788.33", META, None, "ACME ROBOTICS INC"),  # money in: who paid it
    ("-1788.33", {"by_order_of": "Initech LLC"}, None, "Initech LLC"),  # a wire's orderer
    ("1788.33", {"payer": "ACME ROBOTICS INC"}, None, ""),  # money out: the payer is us
    ("1788.33", META, "Gusto", "Gusto"),  # merchant_name wins
]


def _transaction(amount: str, meta: dict[str, Any], merchant: str | None,
                 account: Any) -> dict[str, Any]:
    return {
        "transaction_id": "T1", "account_id": account.plaid_account_id, "date": "2024-03-15",
        "amount": float(amount), "iso_currency_code": account.currency,
        "name": "ACH ORIG PAYROLL INDN:", "merchant_name": merchant,
        "payment_meta": {"reference_number": None, "ppd_id": None, **meta},
    }  # fmt: skip


@pytest.mark.parametrize(("amount", "meta", "merchant", "expected"), CASES)
def test_the_bank_file_reader_reads_the_transfer_party(
    tmp_path: Path, config: Config, amount: str, meta: dict[str, Any], merchant: str | None,
    expected: str,
) -> None:  # fmt: skip
    path = tmp_path / "bank.json"
    path.write_text(json.dumps([_transaction(amount, meta, merchant, config.accounts[0])]))
    assert read_bank_file(path, config)["counterparty"].tolist() == [expected]


@pytest.mark.parametrize(("amount", "meta", "merchant", "expected"), CASES)
def test_plaid_sync_stores_the_transfer_party(
    config: Config, amount: str, meta: dict[str, Any], merchant: str | None, expected: str
) -> None:
    transaction = _transaction(amount, meta, merchant, config.accounts[0])
    transaction["amount"] = Decimal(amount)
    assert counterparty_of(transaction) == expected


def test_a_payroll_debit_naming_no_one_links_its_payee(tmp_path: Path, config: Config) -> None:
    # Three employees with the same net pay on one day; the bank text names nobody, but Plaid's
    # payment_meta names whom each debit paid.
    account = config.accounts[0]
    names = ["Laura Ortiz", "John Sanchez", "Joshua Powell"]
    bank = [dict(_transaction("2620.83", {"payee": name.upper()}, None, account),
                 transaction_id=f"T{i}") for i, name in enumerate(names)]
    path = tmp_path / "bank.json"
    path.write_text(json.dumps(bank))
    frame = read_bank_file(path, config)
    last_first = [", ".join(reversed(name.split())) for name in names]
    ledger = [ledger_row(f"L{i}", -262_083, "2024-03-15", f"Net pay {text}", name,
                         "PR-20240315", account=account.ledger_account,
                         currency=account.currency)
              for i, (text, name) in enumerate(zip(last_first, names, strict=True))]
    result = reconcile(frame, pd.DataFrame(ledger), MATCHING, as_of=AS_OF)
    links = links_of(result)
    assert set(links) == {("T0", "L0"), ("T1", "L1"), ("T2", "L2")}
    assert {link["status"] for link in links.values()} == {"matched"}
