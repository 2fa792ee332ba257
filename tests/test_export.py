"""`recon export`: a real night reconciled through the pipeline (bundled emulator, CSV ledger),
exported as Parquet and CSV, with canary values in every field that is pseudonymized."""

from __future__ import annotations

import csv
import json
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner
from sqlalchemy import update

from recon import pipeline
from recon.cli import cli
from recon.config import Config, parse_config
from recon.export import Pseudonymizer
from recon.plaid.emulator.objects import dumps
from recon.plaid.tokens import generate_key
from recon.store.db import open_store
from recon.store.schema import discrepancies

AS_OF = date(2026, 11, 20)
ACCOUNT = "CanaryAccountId7Hq2Lr5Wv8Xn3Kz6Bt9Yp"
CANARIES = {
    "payee": "CanaryPayee Zq7",
    "counterparty": "CanaryMerchant Xv3",
    "account_owner": "CanaryOwner Jw9",
    "account_id": ACCOUNT,
    "mask": "QzXk",
    "bank_description": "CANARYSHOP WK5 CARD PURCHASE",
    "ledger_description": "CanaryLedgerText Rt8",
    "ledger_counterparty": "CanaryLedgerParty Pm2",
}
KIND_OF = {"payee": "party", "counterparty": "party", "account_owner": "party",
           "account_id": "account", "mask": "mask", "bank_description": "text",
           "ledger_description": "text", "ledger_counterparty": "party"}


def _txn(tid: str, amount: str, name: str, **extra: Any) -> dict[str, Any]:
    return {"transaction_id": tid.ljust(37, "0"), "account_id": ACCOUNT,
            "amount": Decimal(amount), "date": AS_OF.isoformat(), "name": name, **extra}


@pytest.fixture
def night(tmp_path: Path, store_url: str, monkeypatch: pytest.MonkeyPatch) -> Config:
    """A reconciled night: one matched pair, one bank row and one ledger row left open, with
    the canaries in every pseudonymizable field of both sides."""
    monkeypatch.setenv("RECON_TOKEN_KEY", generate_key())
    monkeypatch.setenv("RECON_EXPORT_KEY", generate_key())
    fixtures = tmp_path / "plaid.json"
    fixtures.write_bytes(dumps({"items": [{
        "item_id": "CanaryItem".ljust(37, "0"), "institution_id": "ins_109508",
        "accounts": [{"account_id": ACCOUNT, "mask": CANARIES["mask"], "name": "Operating",
                      "type": "depository", "subtype": "checking",
                      "balances": {"current": Decimal("1000.00"), "iso_currency_code": "USD"}}],
        "transactions": [
            _txn("canarymatch", "-250.00", f"PAYMENT INV-1001 {CANARIES['bank_description']}",
                 merchant_name=CANARIES["counterparty"], account_owner=CANARIES["account_owner"],
                 payment_meta={"payee": CANARIES["payee"]}),
            _txn("canaryopen", "12.34", CANARIES["bank_description"],
                 merchant_name=CANARIES["counterparty"], account_owner=CANARIES["account_owner"],
                 payment_meta={"payee": CANARIES["payee"]}),
        ]}]}))
    ledger = tmp_path / "ledger.csv"
    with ledger.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["entry_id", "date", "amount", "currency", "description", "reference",
                         "counterparty", "account"])
        writer.writerow(["L-1", AS_OF.isoformat(), "250.00", "USD",
                         CANARIES["ledger_description"], "INV-1001",
                         CANARIES["ledger_counterparty"], "1010-operating"])
        writer.writerow(["L-2", AS_OF.isoformat(), "99.00", "USD",
                         CANARIES["ledger_description"], "", CANARIES["ledger_counterparty"],
                         "1010-operating"])
    config = parse_config({
        "plaid": {"emulator_fixtures": str(fixtures)},
        "accounts": [{"plaid_account_id": ACCOUNT, "ledger_account": "1010-operating",
                      "currency": "USD"}],
        "ledger": {"path": str(ledger), "columns": {
            "entry_id": "entry_id", "date": "date", "amount": "amount", "currency": "currency",
            "description": "description", "reference": "reference",
            "counterparty": "counterparty", "account": "account"}},
        "matching": {"passes": [{"kind": "reference", "name": "exact_reference",
                                 "days_before": 3, "days_after": 3}]},
        "reports": {"output_dir": str(tmp_path / "reports"), "formats": ["csv"]},
        "export": {"output_dir": str(tmp_path / "exports")},
        "state": {"database_url": store_url, "lock_file": str(tmp_path / "recon.lock"),
                  "metrics_file": None, "log_file": None},
    }, environ={})
    pipeline.add_item(config, public_token=None, institution_id="ins_109508")
    pipeline.run(config, as_of=AS_OF)
    engine = open_store(store_url)
    with engine.begin() as conn:  # an analyst's notes quote the payee (as notes do)
        conn.execute(update(discrepancies).values(
            owner=CANARIES["account_owner"], notes=f"called {CANARIES['payee']} about it"))
    engine.dispose()
    return config


def export(config: Config, out: Path, *, pseudonymize: bool) -> dict[str, Path]:
    result = pipeline.export(config, as_of=AS_OF, out_dir=out, pseudonymize=pseudonymize,
                             formats=("parquet", "csv"))
    return {path.name: path for path in result.paths}


def every_text(paths: dict[str, Path]) -> list[str]:
    """Every cell, header and metadata value of every file, as text, plus the raw bytes of
    each file (Parquet footers hold column statistics in clear)."""
    texts: list[str] = []
    for path in paths.values():
        raw = path.read_bytes()
        texts.append(raw.decode("utf-8", errors="replace"))
        if path.suffix == ".parquet":
            table = pq.read_table(path)
            texts += [str(value) for column in table.columns for value in column.to_pylist()]
            texts += [k.decode() + "=" + v.decode()
                      for k, v in (table.schema.metadata or {}).items()]
            metadata = pq.ParquetFile(path).metadata
            for group in range(metadata.num_row_groups):
                for index in range(metadata.num_columns):
                    stats = metadata.row_group(group).column(index).statistics
                    if stats is not None and stats.has_min_max:
                        texts += [str(stats.min), str(stats.max)]
    return texts


def rows_of(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def test_no_clear_value_of_a_pseudonymized_field_appears_anywhere(
        night: Config, tmp_path: Path) -> None:
    clear = every_text(export(night, tmp_path / "clear", pseudonymize=False))
    for name, canary in CANARIES.items():  # the canaries are really there to be found
        assert any(canary in text for text in clear), name

    files = export(night, tmp_path / "pseudo", pseudonymize=True)
    assert sorted(files) == [
        f"recon-export-{AS_OF}-discrepancies.csv", f"recon-export-{AS_OF}-discrepancies.parquet",
        f"recon-export-{AS_OF}-links.csv", f"recon-export-{AS_OF}-links.parquet"]
    texts = every_text(files)
    for name, canary in CANARIES.items():
        leaks = [text[:80] for text in texts if canary.lower() in text.lower()]
        assert not leaks, f"{name} leaked: {leaks}"


def test_pseudonyms_are_stable_keyed_and_carry_the_key_id(
        night: Config, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first = export(night, tmp_path / "one", pseudonymize=True)
    second = export(night, tmp_path / "two", pseudonymize=True)
    links = f"recon-export-{AS_OF}-links"
    one, two = rows_of(first[f"{links}.csv"]), rows_of(second[f"{links}.csv"])
    assert one == two and len(one) == 1
    [link] = one

    import os

    key = Pseudonymizer(__import__("base64").urlsafe_b64decode(os.environ["RECON_EXPORT_KEY"]))
    assert link["pseudonym_key_id"] == key.key_id
    assert link["bank_payee"] == key("party", CANARIES["payee"])
    assert link["bank_counterparty"] == key("party", CANARIES["counterparty"])
    assert link["bank_account_owner"] == key("party", CANARIES["account_owner"])
    assert link["bank_account_id"] == key("account", ACCOUNT)
    assert link["bank_account_mask"] == key("mask", CANARIES["mask"])
    assert link["ledger_counterparty"] == key("party", CANARIES["ledger_counterparty"])
    assert link["bank_payee"].startswith(key.key_id + ":") and len(link["bank_payee"]) == 73
    # amounts, dates, statuses and ids stay clear
    assert (link["status"], link["bank_amount"], link["ledger_amount"], link["bank_date"]) == (
        "matched", "250.00", "250.00", AS_OF.isoformat())
    assert link["ledger_entry_id"] == "L-1" and "explanation" not in link

    table = pq.read_table(first[f"{links}.parquet"])
    metadata = table.schema.metadata
    assert metadata[b"recon.pseudonym_key_id"].decode() == key.key_id
    assert "bank_payee" in json.loads(metadata[b"recon.pseudonymized_columns"])
    assert str(table.schema.field("bank_amount").type) == "decimal128(38, 4)"
    assert table.column("bank_amount").to_pylist() == [Decimal("250.0000")]
    assert table.column("bank_payee").to_pylist() == [link["bank_payee"]]

    monkeypatch.setenv("RECON_EXPORT_KEY", f"{generate_key()},{os.environ['RECON_EXPORT_KEY']}")
    rotated = rows_of(export(night, tmp_path / "rotated", pseudonymize=True)[f"{links}.csv"])
    [other] = rotated
    assert other["pseudonym_key_id"] != link["pseudonym_key_id"]
    for column in ("bank_payee", "bank_counterparty", "bank_account_id", "bank_account_mask",
                   "bank_description", "ledger_description"):
        assert other[column] != link[column] and other[column].startswith(
            other["pseudonym_key_id"] + ":")
    assert other["bank_amount"] == link["bank_amount"]


def test_the_discrepancies_export_keeps_kinds_and_amounts_clear(
        night: Config, tmp_path: Path) -> None:
    files = export(night, tmp_path / "pseudo", pseudonymize=True)
    rows = rows_of(files[f"recon-export-{AS_OF}-discrepancies.csv"])
    by_side = {row["side"]: row for row in rows}
    assert set(by_side) == {"bank", "ledger"}
    assert by_side["bank"]["kind"] == "unmatched_bank"
    assert by_side["bank"]["amount"] == "-12.34"
    assert by_side["ledger"]["amount"] == "99.00"
    assert by_side["ledger"]["ledger_entry_id"] == "L-2"
    assert {"owner", "notes", "explanation", "nearest_candidate"}.isdisjoint(rows[0])
    assert by_side["bank"]["description"] == by_side["bank"]["bank_description"] != ""
    parquet = pq.read_table(files[f"recon-export-{AS_OF}-discrepancies.parquet"])
    assert sorted(parquet.column("kind").to_pylist()) == sorted(r["kind"] for r in rows)


def test_the_cli_exports_and_refuses_without_a_key(
        night: Config, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import yaml

    config_file = tmp_path / "config.yaml"
    config_file.write_text(yaml.safe_dump(json.loads(night.model_dump_json())))
    runner = CliRunner()
    done = runner.invoke(cli, ["export", "--config", str(config_file), "--pseudonymize",
                               "--format", "csv"])
    assert done.exit_code == 0, done.output
    assert "exported 1 link(s) and 2 discrepancy row(s), pseudonym key id" in done.output
    assert len(list((tmp_path / "exports").glob("*.csv"))) == 2
    monkeypatch.delenv("RECON_EXPORT_KEY")
    refused = runner.invoke(cli, ["export", "--config", str(config_file), "--pseudonymize"])
    assert refused.exit_code == 78
    assert "RECON_EXPORT_KEY: not set" in refused.output
