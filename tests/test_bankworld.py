"""The independent test-data generator (tests/bankworld) and its scorer.

The generator is the measuring stick of the matching work, so these tests pin what makes it a
fair one: the same seed writes the same bytes, the files load through recon's real readers and
the config it writes, Plaid's schema accepts the bank file, every row recon loads is accounted
for in the truth, groups add up, and the scorer gives 1.0 to the truth and less to anything else.
"""

from __future__ import annotations

import csv
import hashlib
import json
from collections import Counter
from pathlib import Path

import pandas as pd
import pytest
from bankworld import FAMILY, REPO_CONFIG, build, generate, profile_named, write_world
from bankworld import score as sc
from bankworld.generator import Habits
from bankworld.run import RunOutput, run_recon
from bankworld.writer import matching_section
from openapi_schema_validator import OAS30Validator, oas30_format_checker
from plaid_spec import load_spec, schema_errors

from recon.config import load_config

ROWS = 5000


@pytest.fixture(scope="module", params=["default", "holdout"])
def world_dir(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp(f"world-{request.param}")
    build(ROWS, folder, request.param)
    return folder


@pytest.fixture(scope="module")
def recon_run(world_dir: Path) -> tuple[Path, RunOutput]:
    return world_dir, run_recon(world_dir)


def _digests(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


@pytest.mark.parametrize("profile", ["default", "holdout"])
def test_same_seed_writes_the_same_files_and_another_seed_does_not(
        profile: str, tmp_path: Path) -> None:
    build(2000, tmp_path / "a", profile)
    build(2000, tmp_path / "b", profile)
    build(2000, tmp_path / "c", profile, seed=12345)
    first = _digests(tmp_path / "a")
    assert first == _digests(tmp_path / "b")
    changed = {name for name, digest in _digests(tmp_path / "c").items()
               if first[name] != digest}
    assert {"bank.json", "ledger.csv", "truth_links.csv", "truth_open.csv"} <= changed


def test_the_config_carries_the_repository_matching_section_verbatim(world_dir: Path) -> None:
    section = matching_section(REPO_CONFIG)
    assert section.startswith("matching:\n") and "passes:" in section
    assert section in (world_dir / "config.yaml").read_text(encoding="utf-8")
    repo = load_config(REPO_CONFIG)
    assert load_config(world_dir / "config.yaml").matching == repo.matching


def test_the_bank_file_conforms_to_plaids_schema(world_dir: Path) -> None:
    body = (world_dir / "bank.json").read_text(encoding="utf-8")
    document = json.loads(body)
    if "added" in document:  # the default profile: a /transactions/sync response
        errors = schema_errors("/transactions/sync", 200, body)
        assert not errors, errors[:5]
        transactions = document["added"] + document["modified"]
        assert document["removed"] and document["modified"]
    else:  # the hold-out profile: {"transactions": [...]}, newest first
        validator = OAS30Validator({"$ref": "#/components/schemas/Transaction",
                                    "components": load_spec()["components"]},
                                   format_checker=oas30_format_checker)
        transactions = document["transactions"]
        errors = [e.message for t in transactions for e in validator.iter_errors(t)]
        assert not errors, errors[:5]
        dates = [t["date"] for t in transactions]
        assert dates == sorted(dates, reverse=True)
    # What real feeds hold: checks, pending rows naming nothing, posted rows naming their
    # pending one, cleaned merchant names that are often null, counterparties, payment_meta.
    assert any(t["check_number"] for t in transactions)
    assert any(t["pending"] for t in transactions)
    assert any(t["pending_transaction_id"] for t in transactions)
    merchants = [t["merchant_name"] for t in transactions]
    assert 0.2 < merchants.count(None) / len(merchants) < 0.9
    assert any(t["counterparties"] for t in transactions)
    assert any(t["payment_meta"]["reference_number"] for t in transactions)
    assert any(t["payment_meta"]["ppd_id"] for t in transactions)
    assert any("DES:" in t["name"] and "INDN:" in t["name"] for t in transactions)
    assert any(t["authorized_date"] and t["authorized_date"] != t["date"] for t in transactions)


def test_every_loaded_row_is_accounted_for_in_the_truth(recon_run: tuple[Path, RunOutput]) -> None:
    folder, out = recon_run
    truth = sc.load_truth(folder)
    bank_ids = set(out.bank["transaction_id"])
    ledger_ids = set(out.ledger["entry_id"])
    linked_bank = set(truth.links["bank_transaction_id"])
    linked_ledger = set(truth.links["ledger_entry_id"])
    open_bank = set(truth.opens["bank_transaction_id"]) - {""}
    open_ledger = set(truth.opens["ledger_entry_id"]) - {""}
    assert linked_bank | open_bank == bank_ids
    assert linked_ledger | open_ledger == ledger_ids
    assert not linked_bank & open_bank
    assert not linked_ledger & open_ledger
    meta = json.loads((folder / "world.json").read_text(encoding="utf-8"))
    assert abs(meta["counts"]["ledger_rows"] - ROWS) / ROWS < 0.03
    assert len(out.ledger) == meta["counts"]["ledger_rows"]


def test_groups_add_up_and_fees_are_the_difference(recon_run: tuple[Path, RunOutput]) -> None:
    folder, out = recon_run
    truth = sc.load_truth(folder)
    bank = out.bank.set_index("transaction_id")["amount_minor"]
    ledger = out.ledger.set_index("entry_id")["amount_minor"]
    links = truth.links.assign(bank_amount=truth.links["bank_transaction_id"].map(bank),
                               ledger_amount=truth.links["ledger_entry_id"].map(ledger))
    for pattern, part in links.groupby("pattern"):
        if pattern == "split_receipt":  # one ledger row paid by several bank rows
            sums = part.groupby("ledger_entry_id").agg(b=("bank_amount", "sum"),
                                                       l_=("ledger_amount", "first"))
        else:
            sums = part.groupby("bank_transaction_id").agg(b=("bank_amount", "first"),
                                                           l_=("ledger_amount", "sum"))
        difference = sums["b"] - sums["l_"]
        if pattern in ("payout_id_net_fee", "payout_day_net_fee"):
            assert (difference < 0).all(), pattern  # the processor kept its fee
        elif pattern == "wire_fee_deducted":  # the payer's bank kept 10.00-35.00
            assert (-difference).between(1000, 3500).all()
        elif pattern == "furikomi_fee_deducted":  # the payer deducted the transfer fee
            assert (-difference).isin([440, 660, 770, 880]).all()
        elif pattern == "pending_posted":
            assert (difference == 0).all()  # the books hold the posted amount
        else:
            assert (difference == 0).all(), pattern
    sizes = links[links["pattern"].str.startswith("payout")].groupby(
        "bank_transaction_id").size()
    # A payout pays 15 to thousands of sales; a processor holds smaller balances until its
    # next payout, so only a processor's last payout of the period may be smaller.
    assert (sizes < 15).sum() <= 6 and sizes.median() >= 15


def test_the_patterns_of_the_issue_are_all_there(recon_run: tuple[Path, RunOutput]) -> None:
    folder, _ = recon_run
    truth = sc.load_truth(folder)
    found = set(truth.links["pattern"]) | set(truth.opens["pattern"])
    rare = {"ar_reference_cut", "deposit_in_transit", "in_transit", "pending_stale"}
    assert set(FAMILY) - rare - {"payout_id", "payout_id_net_fee", "payout_day",
                                 "payout_day_net_fee"} <= found
    assert {"payout_id", "payout_day"} & found and {"payout_id_net_fee",
                                                    "payout_day_net_fee"} & found
    ledger_rows = json.loads((folder / "world.json").read_text())["counts"]["ledger_rows"]
    payout_share = (truth.links["family"] == "payout").sum() / ledger_rows
    assert 0.35 < payout_share < 0.65
    assert truth.links["truncated"].mean() > 0.05


def test_descriptions_are_cut_at_the_profiles_lengths() -> None:
    for name in ("default", "holdout"):
        profile = profile_named(name)
        world = generate(3000, profile)
        low, high = profile.truncate
        cut = world.bank.loc[world.bank["transaction_id"].isin(
            world.truth_links.loc[world.truth_links["truncated"] == 1, "bank_transaction_id"]),
            "name"]
        assert len(cut) > 20
        assert cut.str.len().between(low - 6, high).all()  # rstrip may take trailing spaces


def test_payouts_are_paid_on_business_days_one_to_three_days_after_the_sales(
        tmp_path: Path) -> None:
    world = generate(20_000)
    bank = world.bank.set_index("transaction_id")
    ledger = world.ledger.set_index("entry_id")
    payouts = world.truth_links[world.truth_links["pattern"].str.startswith("payout")]
    sales = ledger.loc[payouts["ledger_entry_id"], "amount_minor"].to_numpy() > 0
    payouts = payouts[sales]  # the fee rows are dated on the payout day
    pay_day = world.start + bank.loc[payouts["bank_transaction_id"], "date"].to_numpy().astype(
        "timedelta64[D]")
    sale_day = world.start + ledger.loc[payouts["ledger_entry_id"], "date"].to_numpy().astype(
        "timedelta64[D]")
    assert pd.Series(pd.to_datetime(pay_day)).dt.day_of_week.max() <= 4
    lag = (pay_day - sale_day).astype(int)
    assert lag.min() >= 1 and lag.max() <= 14  # weekly payouts of small processors wait longer
    assert Counter(lag.tolist()).most_common(1)[0][0] in (1, 2, 3, 4, 5)


# ---------------------------------------------------------------------------------------------
# The scorer


def test_the_truth_scores_one_everywhere(world_dir: Path) -> None:
    truth = sc.load_truth(world_dir)
    result = sc.score(truth, sc.truth_as_prediction(truth))
    for name in ("precision", "recall", "auto_precision", "auto_recall", "open_right_kind",
                 "open_kept_out", "truncated_recall", "recall_outside_payouts"):
        assert result.overall[name] == 1.0, name
    assert (result.patterns["auto"] == 1.0).all()
    assert (result.families["missed"] == 0.0).all()
    assert ((result.patterns["groups_whole"] == 1.0) | result.patterns["groups_whole"].isna()).all()
    assert (result.opens["right_kind"] == 1.0).all() and (result.opens["kept_out"] == 1.0).all()
    assert result.overall["wrong_auto_links"] == 0 and not result.examples


def test_a_broken_result_scores_lower_by_exactly_what_it_broke(world_dir: Path) -> None:
    truth = sc.load_truth(world_dir)
    perfect = sc.truth_as_prediction(truth)
    links = perfect.links.copy()
    n = len(links)
    dropped = links.index[::10]  # a tenth of the true links missed
    links = links.drop(dropped)
    suggested = links.index[::7]
    links.loc[suggested, "status"] = "suggested"
    # Five wrong auto-confirmed links: a bank row linked to another row's ledger entry.
    wrong = links.iloc[:5].copy()
    wrong["ledger_entry_id"] = links["ledger_entry_id"].iloc[-5:].to_numpy()
    wrong["status"] = "matched"
    links = pd.concat([links, wrong], ignore_index=True)
    opens = perfect.discrepancies.iloc[1:]  # one expected open item not reported
    result = sc.score(truth, sc.Prediction(links, opens), examples=2)
    o = result.overall
    assert o["recall"] == pytest.approx((n - len(dropped)) / n)
    assert o["auto_recall"] == pytest.approx((n - len(dropped) - len(suggested)) / n)
    assert o["precision"] == pytest.approx((n - len(dropped)) / (n - len(dropped) + 5))
    assert o["auto_precision"] < 1.0 and o["wrong_auto_links"] == 5
    assert o["open_right_kind"] == pytest.approx(1 - 1 / len(truth.opens))
    assert any(name.startswith("missed ") for name in result.examples)
    assert "wrong auto-confirmed links" in result.examples
    assert "precision" in sc.report(result)


def test_a_duplicate_copy_stands_for_its_original(world_dir: Path) -> None:
    truth = sc.load_truth(world_dir)
    copies = truth.opens[(truth.opens["side"] == "bank") & (truth.opens["twin_of"] != "")]
    assert len(copies) > 0
    copy, original = copies.iloc[0]["bank_transaction_id"], copies.iloc[0]["twin_of"]
    perfect = sc.truth_as_prediction(truth)
    links = perfect.links.copy()
    links.loc[links["bank_transaction_id"] == original, "bank_transaction_id"] = copy
    result = sc.score(truth, sc.Prediction(links, perfect.discrepancies))
    assert result.overall["precision"] == 1.0 and result.overall["recall"] == 1.0
    both = pd.concat([perfect.links, links[links["bank_transaction_id"] == copy]])
    result = sc.score(truth, sc.Prediction(both, perfect.discrepancies))
    assert result.overall["recall"] == 1.0 and result.overall["wrong_auto_links"] == 1
    assert result.opens.loc["duplicate_bank", "kept_out"] < 1.0


def test_recon_match_csv_output_scores_like_the_frames(recon_run: tuple[Path, RunOutput],
                                                      tmp_path: Path) -> None:
    folder, out = recon_run
    result = out.result
    truth = sc.load_truth(folder)
    # matches.csv / discrepancies.csv as recon writes them: every field quoted, ids that a
    # spreadsheet would read as a formula guarded with a leading quote.
    links = result.links.copy()
    links.loc[links.index[:3], "bank_transaction_id"] = "-" + links["bank_transaction_id"][:3]
    for name, frame, columns in (
            ("matches.csv", links, ["match_id", "bank_transaction_id", "ledger_entry_id",
                                    "status", "rule"]),
            ("discrepancies.csv", result.discrepancies,
             ["discrepancy_id", "kind", "side", "bank_transaction_id", "ledger_entry_id"])):
        with (tmp_path / name).open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle, quoting=csv.QUOTE_ALL)
            writer.writerow(columns)
            for row in frame[columns].astype(str).itertuples(index=False):
                writer.writerow(["'" + v if v.startswith("-") else v for v in row])
    from_files = sc.prediction_from_files(tmp_path)
    assert from_files.links["bank_transaction_id"].tolist() == \
        links["bank_transaction_id"].astype(str).tolist()
    from_frames = sc.prediction_from_result(result.__class__(
        links, result.discrepancies, result.alternatives))
    assert sc.score(truth, from_files).overall == sc.score(truth, from_frames).overall


def test_scoring_recon_counts_what_recon_returned(recon_run: tuple[Path, RunOutput]) -> None:
    folder, out = recon_run
    result = out.result
    scored = sc.score(sc.load_truth(folder), sc.prediction_from_result(result),
                      bank=out.bank, ledger=out.ledger)
    o = scored.overall
    assert o["links"] == len(result.links)
    assert o["auto_links"] == int(result.links["status"].isin(sc.CONFIRMED).sum())
    for name in ("precision", "recall", "auto_precision", "open_right_kind"):
        assert 0.0 <= o[name] <= 1.0
    assert scored.patterns["links"].sum() == o["true_links"]


def test_write_world_into_an_existing_folder_replaces_the_files(tmp_path: Path) -> None:
    world = generate(1500)
    write_world(world, tmp_path)
    before = _digests(tmp_path)
    write_world(world, tmp_path)
    assert _digests(tmp_path) == before


def test_rows_nothing_tells_apart_are_interchangeable() -> None:
    world = generate(30_000)
    truth = sc.Truth(world.truth_links, world.truth_open, world.truth_same)
    same = truth.same[truth.same["side"] == "ledger"]
    counts = truth.links["ledger_entry_id"].value_counts()
    pairs = [(a, b) for a, b in zip(same["id"], same["same_as"], strict=True)
             if counts.get(a) == 1 and counts.get(b) == 1]
    assert pairs, "the world has no two interchangeable linked ledger rows"
    a, b = pairs[0]
    perfect = sc.truth_as_prediction(truth)
    links = perfect.links.copy()
    rows_a = links["ledger_entry_id"] == a
    rows_b = links["ledger_entry_id"] == b
    links.loc[rows_a, "ledger_entry_id"], links.loc[rows_b, "ledger_entry_id"] = b, a
    result = sc.score(truth, sc.Prediction(links, perfect.discrepancies))
    assert result.overall["precision"] == 1.0 and result.overall["auto_recall"] == 1.0
    doubled = pd.concat([links, links[rows_a]], ignore_index=True)
    result = sc.score(truth, sc.Prediction(doubled, perfect.discrepancies))
    assert result.overall["wrong_auto_links"] == 1


def _perfect_with_swapped_banks(truth: sc.Truth, a: str, b: str) -> bool:
    """The truth's own links with bank rows ``a`` and ``b`` swapped score perfectly."""
    perfect = sc.truth_as_prediction(truth)
    links = perfect.links.copy()
    rows_a = links["bank_transaction_id"] == a
    rows_b = links["bank_transaction_id"] == b
    links.loc[rows_a, "bank_transaction_id"], links.loc[rows_b, "bank_transaction_id"] = b, a
    overall = sc.score(truth, sc.Prediction(links, perfect.discrepancies)).overall
    return bool(overall["precision"] == 1.0 and overall["recall"] == 1.0)


def test_wire_fee_lines_of_one_day_and_amount_stand_for_each_other() -> None:
    # The bank prints "WIRE TRANSFER FEE" or "INTL WIRE FEE" for the fee of any wire: swapping
    # two such lines of one account, day and amount between their fee rows is no error.
    world = generate(30_000)
    truth = sc.Truth(world.truth_links, world.truth_open, world.truth_same)
    bank = world.bank.set_index("transaction_id")
    fees = truth.links[truth.links["pattern"] == "wire_fee_booked"]
    rows = bank.loc[fees["bank_transaction_id"]]
    key = rows[["account_key", "date", "amount_minor"]].astype(str).agg("|".join, axis=1)
    worded = rows.assign(key=key.to_numpy()).groupby("key")["name"].nunique()
    alike = worded[worded > 1].index
    assert len(alike), "no day has two booked wire fees of one amount in different words"
    pair = fees[key.isin([alike[0]]).to_numpy()].head(2)
    a, b = pair["bank_transaction_id"].tolist()
    assert bank.loc[a, "name"] != bank.loc[b, "name"]
    assert _perfect_with_swapped_banks(truth, a, b)


def test_payroll_debits_cut_before_the_name_stand_for_each_other() -> None:
    # "ACH ORIG PAYROLL IN" and "ACME ROBOTICS INC DES:PA", one day's 3,700.00 each: the bank
    # cut both before the employee's name, so either pays either net-pay row.
    world = generate(30_000)
    truth = sc.Truth(world.truth_links, world.truth_open, world.truth_same)
    bank = world.bank.set_index("transaction_id")
    pay = truth.links[truth.links["pattern"] == "payroll_item"].set_index("bank_transaction_id")
    same = truth.same[(truth.same["side"] == "bank") & truth.same["id"].isin(pay.index)]
    worded = same[[bank.loc[a, "name"] != bank.loc[b, "name"]
                   for a, b in zip(same["id"], same["same_as"], strict=True)]]
    assert len(worded), "no two payroll debits cut before the name in different words"
    a, b = worded["id"].iloc[0], worded["same_as"].iloc[0]
    employee = pay.loc[a, "ledger_entry_id"]
    assert world.ledger.set_index("entry_id").loc[employee, "counterparty"].split()[-1].upper() \
        not in bank.loc[a, "name"]
    assert _perfect_with_swapped_banks(truth, a, b)


def test_habits_make_a_variant_world_and_the_defaults_keep_the_profiles_own() -> None:
    plain = generate(20_000)
    same = generate(20_000, habits=Habits())
    assert plain.ledger.equals(same.ledger) and plain.truth_links.equals(same.truth_links)
    varied = generate(20_000, habits=Habits(split_parts=(4, 4), remittance_invoices=(9, 9)))
    links = varied.truth_links
    parts = links[links["pattern"] == "split_receipt"].groupby("ledger_entry_id").size()
    invoices = links[links["pattern"] == "remittance"].groupby("bank_transaction_id").size()
    assert set(parts) == {4} and set(invoices) == {9}
