"""recon.synth: deterministic synthetic data whose ground truth adds up."""

from __future__ import annotations

import csv
import re
from collections.abc import Mapping
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from recon.frames import BANK_COLUMNS, LEDGER_COLUMNS
from recon.money import currency_exponent, parse_amount, plaid_amount_to_minor
from recon.synth import (
    LEDGER_CSV_COLUMNS,
    SCENARIOS,
    TRUTH_COLUMNS,
    SynthAccount,
    SynthData,
    demo_accounts,
    demo_dataset,
    demo_items,
    generate,
    to_plaid_fixtures,
    write_ledger_csv,
)

AS_OF = date(2025, 3, 31)
ONE_TO_ONE = ("exact", "reference", "decoy", "date_lag", "mangled_text")


@pytest.fixture(scope="module")
def demo() -> SynthData:
    return demo_dataset(AS_OF)


def _links(data: SynthData, scenario: str) -> pd.DataFrame:
    """Truth links of one scenario joined with both sides' amounts, dates and currencies."""
    truth = data.truth[data.truth["scenario"] == scenario]
    truth = truth[(truth["bank_transaction_id"] != "") & (truth["ledger_entry_id"] != "")]
    bank = data.bank[["transaction_id", "amount_minor", "date", "currency", "account"]]
    ledger = data.ledger[["entry_id", "amount_minor", "date", "currency", "account"]]
    return truth.merge(bank, left_on="bank_transaction_id", right_on="transaction_id").merge(
        ledger, left_on="ledger_entry_id", right_on="entry_id", suffixes=("_bank", "_ledger")
    )


def test_same_seed_same_frames_other_seed_other_frames() -> None:
    accounts = demo_accounts()
    kwargs: dict[str, Any] = {
        "start": date(2025, 1, 1),
        "end": date(2025, 2, 15),
        "ledger_rows": 3000,
    }
    first = generate(accounts, seed=11, **kwargs)
    second = generate(accounts, seed=11, **kwargs)
    other = generate(accounts, seed=12, **kwargs)
    pd.testing.assert_frame_equal(first.bank, second.bank)
    pd.testing.assert_frame_equal(first.ledger, second.ledger)
    pd.testing.assert_frame_equal(first.truth, second.truth)
    assert not first.bank["transaction_id"].equals(other.bank["transaction_id"])
    assert not first.ledger["amount_minor"].equals(other.ledger["amount_minor"])


def test_column_contracts_and_dtypes(demo: SynthData) -> None:
    assert tuple(demo.bank.columns) == BANK_COLUMNS
    assert tuple(demo.ledger.columns) == LEDGER_COLUMNS
    assert tuple(demo.truth.columns) == TRUTH_COLUMNS
    for frame in (demo.bank, demo.ledger):
        assert frame["amount_minor"].dtype == np.int64
        assert frame["date"].dtype == "datetime64[ns]"
        assert (frame["date"] == frame["date"].dt.normalize()).all()
        assert frame["date"].min() >= pd.Timestamp("2025-02-25")
        assert frame["date"].max() <= pd.Timestamp(AS_OF)
        assert (frame["amount_minor"] != 0).all()
        for column in frame.columns:
            if pd.api.types.is_string_dtype(frame[column]):
                assert frame[column].notna().all(), column
    assert demo.bank["authorized_date"].dtype == "datetime64[ns]"
    assert demo.bank["pending"].dtype == np.bool_
    authorized = demo.bank.dropna(subset=["authorized_date"])
    assert len(authorized) > 0
    assert (authorized["authorized_date"] <= authorized["date"]).all()
    assert demo.bank["transaction_id"].str.fullmatch(r"[A-Za-z0-9]{37}").all()
    assert demo.bank["transaction_id"].is_unique
    assert demo.ledger["entry_id"].str.fullmatch(r"JE-\d{6}").all()
    assert demo.ledger["entry_id"].is_unique
    # ledger file order is date order, and ids follow it
    assert demo.ledger["date"].is_monotonic_increasing
    assert demo.ledger["entry_id"].is_monotonic_increasing
    assert len(demo.ledger) == 2000
    assert 0.8 * len(demo.ledger) <= len(demo.bank) <= len(demo.ledger)


def test_accounts_and_currencies_follow_the_account_list(demo: SynthData) -> None:
    expected = {(a.ledger_account, a.plaid_account_id, a.currency) for a in demo_accounts()}
    seen = set(demo.bank[["account", "plaid_account_id", "currency"]].itertuples(index=False))
    assert seen == expected
    ledger_seen = set(demo.ledger[["account", "currency"]].itertuples(index=False))
    assert ledger_seen == {(a, c) for a, _, c in expected}


def test_demo_accounts_match_config_yaml() -> None:
    import yaml

    config = yaml.safe_load(Path(__file__).parents[1].joinpath("config.yaml").read_text())
    from_config = {
        (a["plaid_account_id"], a["ledger_account"], a["currency"]) for a in config["accounts"]
    }
    assert {
        (a.plaid_account_id, a.ledger_account, a.currency) for a in demo_accounts()
    } == from_config
    assert tuple(config["ledger"]["columns"].values()) == LEDGER_CSV_COLUMNS


def test_every_scenario_is_present_and_every_row_is_explained(demo: SynthData) -> None:
    assert set(demo.truth["scenario"]) == set(SCENARIOS)
    counts = demo.truth["scenario"].value_counts()
    assert (counts >= 2).all(), counts
    truth_bank = set(demo.truth["bank_transaction_id"]) - {""}
    truth_ledger = set(demo.truth["ledger_entry_id"]) - {""}
    assert truth_bank == set(demo.bank["transaction_id"])
    assert truth_ledger == set(demo.ledger["entry_id"])
    assert not (
        (demo.truth["bank_transaction_id"] == "") & (demo.truth["ledger_entry_id"] == "")
    ).any()
    assert not demo.truth.duplicated(["bank_transaction_id", "ledger_entry_id"]).any()


@pytest.mark.parametrize("scenario", ONE_TO_ONE)
def test_one_to_one_pairs_agree_in_amount_account_and_date_window(
    demo: SynthData, scenario: str
) -> None:
    links = _links(demo, scenario)
    assert len(links) > 0
    assert (links["amount_minor_bank"] == links["amount_minor_ledger"]).all()
    assert (links["account_bank"] == links["account_ledger"]).all()
    lag = (links["date_bank"] - links["date_ledger"]).dt.days
    assert lag.between(-1, 4).all()
    assert links.groupby("group_id").size().max() == 1
    if scenario == "date_lag":
        assert (~lag.between(0, 2)).all()


def test_decoys_share_amounts(demo: SynthData) -> None:
    links = _links(demo, "decoy")
    same_day_same_amount = links.groupby(["account_ledger", "date_ledger", "amount_minor_ledger"])
    assert same_day_same_amount.size().max() >= 8  # a payroll run of identical salaries


def test_a_decoy_payee_is_paid_at_most_once_a_week_per_account() -> None:
    # 300k rows: ~3,500 payroll payments to one payroll account, enough to wrap the roster.
    data = generate(demo_accounts(), start=date(2025, 1, 1), end=date(2025, 4, 1), seed=3,
                    ledger_rows=300_000)  # fmt: skip
    truth = data.truth[data.truth["scenario"] == "decoy"]
    ledger = data.ledger.set_index("entry_id").loc[truth["ledger_entry_id"]]
    assert len(ledger) > 3_600  # more payments than the roster has names
    days = ledger.sort_values("date").groupby(["account", "counterparty"])["date"]
    gaps = days.diff().dropna().dt.days
    assert len(gaps) > 0
    assert gaps.min() >= 7  # payroll names come back after weeks, subscriptions after 30 days


def test_payout_deposit_equals_sales_minus_fee_line(demo: SynthData) -> None:
    links = _links(demo, "payout")
    for _, group in links.groupby("group_id"):
        assert group["bank_transaction_id"].nunique() == 1
        assert 5 <= len(group) <= 20
        assert group["amount_minor_bank"].iloc[0] == group["amount_minor_ledger"].sum()
        assert (group["amount_minor_ledger"] < 0).sum() == 1  # the processor's fee line
        lag = (group["date_bank"] - group["date_ledger"]).dt.days
        assert lag.between(0, 3).all()


def test_payout_id_is_on_the_deposit_and_on_every_line(demo: SynthData) -> None:
    truth = demo.truth[demo.truth["scenario"] == "payout"]
    bank = demo.bank.set_index("transaction_id")["reference"]
    ledger = demo.ledger.set_index("entry_id")["reference"]
    for _, group in truth.groupby("group_id"):
        payout_ids = set(bank[group["bank_transaction_id"]]) | set(ledger[group["ledger_entry_id"]])
        assert len(payout_ids) == 1
        assert next(iter(payout_ids)).startswith("po_")


def test_split_payments_sum_to_the_invoice(demo: SynthData) -> None:
    links = _links(demo, "split")
    for _, group in links.groupby("group_id"):
        assert group["ledger_entry_id"].nunique() == 1
        assert 2 <= len(group) <= 3
        assert group["amount_minor_bank"].sum() == group["amount_minor_ledger"].iloc[0]


def test_wire_fee_is_ledger_minus_bank_and_at_most_25(demo: SynthData) -> None:
    links = _links(demo, "fee")
    assert len(links) >= 2
    fee = links["amount_minor_ledger"] - links["amount_minor_bank"]
    cap = links["currency_bank"].map(lambda c: 25 * 10 ** currency_exponent(c))
    assert (fee > 0).all()
    assert (fee <= cap).all()


def test_mismatch_is_a_digit_transposition(demo: SynthData) -> None:
    links = _links(demo, "mismatch")
    assert len(links) >= 2
    for bank, ledger in zip(links["amount_minor_bank"], links["amount_minor_ledger"], strict=True):
        assert bank != ledger
        assert sorted(str(bank)) == sorted(str(ledger))
        assert abs(bank - ledger) > 2500  # beyond any fee tolerance


def test_duplicates_reversals_and_non_links(demo: SynthData) -> None:
    truth = demo.truth
    bank = demo.bank.set_index("transaction_id")
    ledger = demo.ledger.set_index("entry_id")
    for _, group in truth[truth["scenario"] == "duplicate"].groupby("group_id"):
        assert len(group) == 2
        linked = group[(group["bank_transaction_id"] != "") & (group["ledger_entry_id"] != "")]
        assert len(linked) == 1
        extra = group.drop(linked.index).iloc[0]
        if extra["bank_transaction_id"]:
            copy = bank.loc[extra["bank_transaction_id"]]
            original = bank.loc[linked["bank_transaction_id"].iloc[0]]
        else:
            copy = ledger.loc[extra["ledger_entry_id"]]
            original = ledger.loc[linked["ledger_entry_id"].iloc[0]]
        assert copy.equals(original)  # the same row, delivered twice under another id
    for _, group in truth[truth["scenario"] == "reversal"].groupby("group_id"):
        assert (group["ledger_entry_id"] == "").all()
        amounts = bank.loc[group["bank_transaction_id"], "amount_minor"]
        assert len(amounts) == 2
        assert amounts.sum() == 0
    for scenario, side in (
        ("unmatched_bank", "ledger_entry_id"),
        ("unmatched_ledger", "bank_transaction_id"),
    ):
        rows = truth[truth["scenario"] == scenario]
        assert len(rows) >= 3
        assert (rows[side] == "").all()


def test_pending_rows_are_never_truth_links(demo: SynthData) -> None:
    bank = demo.bank
    pending = bank[bank["pending"]]
    assert len(pending) >= 4
    assert (pending["pending_transaction_id"] == "").all()
    pending_truth = demo.truth[demo.truth["bank_transaction_id"].isin(pending["transaction_id"])]
    assert (pending_truth["ledger_entry_id"] == "").all()
    twins = bank[bank["pending_transaction_id"] != ""]
    assert len(twins) >= 2
    by_id = bank.set_index("transaction_id")
    for twin in twins.itertuples():
        original = by_id.loc[twin.pending_transaction_id]
        assert bool(original["pending"])
        assert original["amount_minor"] == twin.amount_minor
        assert original["date"] <= twin.date
        assert not twin.pending


def test_jpy_amounts_are_whole_yen_and_plausible(demo: SynthData) -> None:
    jpy = demo.bank[demo.bank["currency"] == "JPY"]
    usd = demo.bank[demo.bank["currency"] == "USD"]
    assert len(jpy) > 100
    # yen amounts are about 150 per dollar, i.e. 1.5 minor units per US cent
    ratio = jpy["amount_minor"].abs().median() / usd["amount_minor"].abs().median()
    assert 0.5 < ratio < 5
    fixtures = to_plaid_fixtures(demo, demo_accounts(), items=demo_items())
    for item in fixtures["items"]:
        for txn in item["transactions"]:
            if txn["iso_currency_code"] == "JPY":
                assert txn["amount"] == txn["amount"].to_integral_value()
                assert txn["amount"].as_tuple().exponent == 0


def _bank_row_from_plaid(
    txn: Mapping[str, Any], ledger_account: Mapping[str, str]
) -> dict[str, Any]:
    """The emu_api.md mapping from a Plaid Transaction to recon's bank row."""
    counterparties = txn.get("counterparties") or []
    counterparty = txn.get("merchant_name") or (counterparties[0]["name"] if counterparties else "")
    authorized = txn.get("authorized_date")
    return {
        "transaction_id": txn["transaction_id"],
        "account": ledger_account[txn["account_id"]],
        "plaid_account_id": txn["account_id"],
        "currency": txn["iso_currency_code"],
        "amount_minor": plaid_amount_to_minor(txn["amount"], txn["iso_currency_code"]),
        "date": pd.Timestamp(txn["date"]),
        "authorized_date": pd.Timestamp(authorized) if authorized else pd.NaT,
        "description": txn["name"],
        "counterparty": counterparty,
        "reference": (txn.get("payment_meta") or {}).get("reference_number") or "",
        "pending": txn["pending"],
        "pending_transaction_id": txn.get("pending_transaction_id") or "",
    }


def test_fixtures_map_back_to_the_bank_rows(demo: SynthData) -> None:
    accounts = demo_accounts()
    fixtures = to_plaid_fixtures(demo, accounts, items=demo_items())
    assert [i["institution_id"] for i in fixtures["items"]] == ["ins_109508", "ins_109511"]
    ledger_account = {a.plaid_account_id: a.ledger_account for a in accounts}
    rows = [
        _bank_row_from_plaid(txn, ledger_account)
        for item in fixtures["items"]
        for txn in item["transactions"]
    ]
    for item in fixtures["items"]:
        for txn in item["transactions"]:
            assert isinstance(txn["amount"], Decimal)
    rebuilt = pd.DataFrame(rows, columns=list(BANK_COLUMNS))
    rebuilt = rebuilt.astype(
        {
            "amount_minor": "int64",
            "pending": "bool",
            "date": "datetime64[ns]",
            "authorized_date": "datetime64[ns]",
        }
    )
    expected = demo.bank.sort_values("transaction_id").reset_index(drop=True)
    rebuilt = rebuilt.sort_values("transaction_id").reset_index(drop=True)
    pd.testing.assert_frame_equal(rebuilt, expected, check_dtype=False)


def test_fixture_balances_are_consistent(demo: SynthData) -> None:
    accounts = demo_accounts()
    fixtures = to_plaid_fixtures(demo, accounts, items=demo_items())
    currency = {a.plaid_account_id: a.currency for a in accounts}
    for item in fixtures["items"]:
        assert re.fullmatch(r"[A-Za-z0-9]{37}", item["item_id"])
        for account in item["accounts"]:
            balances = account["balances"]
            code = currency[account["account_id"]]
            assert balances["iso_currency_code"] == code
            assert balances["current"] > 0
            assert balances["current"].as_tuple().exponent == -currency_exponent(code)
            rows = demo.bank[demo.bank["plaid_account_id"] == account["account_id"]]
            pending_minor = int(rows.loc[rows["pending"], "amount_minor"].sum())
            assert pending_minor != 0
            difference = balances["available"] - balances["current"]
            assert difference == Decimal(pending_minor).scaleb(-currency_exponent(code))


def test_to_plaid_fixtures_refuses_unknown_accounts(demo: SynthData) -> None:
    with pytest.raises(ValueError, match="unknown plaid_account_id"):
        to_plaid_fixtures(demo, demo_accounts(), items=[("x" * 37, "ins_1", "Nowhere", ["nope"])])


def test_ledger_csv_round_trips_minor_units(demo: SynthData, tmp_path: Path) -> None:
    path = tmp_path / "out" / "ledger.csv"
    write_ledger_csv(demo.ledger, path)
    assert sorted(p.name for p in path.parent.iterdir()) == ["ledger.csv"]  # no temp left
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        assert tuple(reader.fieldnames or ()) == LEDGER_CSV_COLUMNS
        rows = list(reader)
    assert len(rows) == len(demo.ledger)
    for row, entry in zip(rows, demo.ledger.itertuples(), strict=True):
        assert row["entry_id"] == entry.entry_id
        assert row["date"] == entry.date.strftime("%Y-%m-%d")
        assert parse_amount(row["amount"], row["currency"]) == entry.amount_minor
        assert (row["description"], row["reference"], row["counterparty"], row["account"]) == (
            entry.description,
            entry.reference,
            entry.counterparty,
            entry.account,
        )
        if row["currency"] == "JPY":
            assert "." not in row["amount"]
        else:
            assert re.fullmatch(r"-?\d+\.\d\d", row["amount"])


def test_ledger_csv_failure_leaves_the_old_file(demo: SynthData, tmp_path: Path) -> None:
    path = tmp_path / "ledger.csv"
    path.write_text("old\n")
    broken = demo.ledger.assign(currency="XXX")  # format_minor refuses an unknown currency
    with pytest.raises(ValueError, match="unknown currency"):
        write_ledger_csv(broken, path)
    assert path.read_text() == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["ledger.csv"]


def test_generate_counts_and_refusals() -> None:
    accounts = (SynthAccount("a" * 37, "2000-eur", "EUR", "Euro account"),)
    data = generate(
        accounts, start=date(2025, 1, 1), end=date(2025, 1, 31), seed=3, ledger_rows=1500
    )
    assert len(data.ledger) == 1500
    assert set(data.truth["scenario"]) == set(SCENARIOS)  # payroll falls back to any account
    with pytest.raises(ValueError, match="too small"):
        generate(accounts, start=date(2025, 1, 1), end=date(2025, 1, 31), seed=3, ledger_rows=50)
    with pytest.raises(ValueError, match="at least one account"):
        generate((), start=date(2025, 1, 1), end=date(2025, 1, 31), seed=3, ledger_rows=1500)
    with pytest.raises(ValueError, match="before start"):
        generate(accounts, start=date(2025, 2, 1), end=date(2025, 1, 31), seed=3, ledger_rows=1500)
