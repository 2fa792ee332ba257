"""The command line: help everywhere, exit codes, and the `recon match` file contract."""

from __future__ import annotations

import csv
import json
from datetime import date
from pathlib import Path

import pytest
from click.testing import CliRunner

from recon import synth
from recon.cli import cli
from recon.errors import ExitCode
from recon.plaid.emulator.objects import dumps

REPO = Path(__file__).resolve().parents[1]
AS_OF = date(2026, 11, 20)


def _commands(group: object, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    found = [prefix]
    for name, command in getattr(group, "commands", {}).items():
        found.extend(_commands(command, (*prefix, name)))
    return found


@pytest.mark.parametrize("path", _commands(cli), ids=lambda p: " ".join(p) or "recon")
def test_every_command_has_help(path: tuple[str, ...]) -> None:
    result = CliRunner().invoke(cli, [*path, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.output


def test_top_level_help_documents_the_exit_codes() -> None:
    output = CliRunner().invoke(cli, ["--help"]).output
    for code in ExitCode:
        assert f"  {int(code)} " in output or f"  {int(code)}  " in output


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("files")
    data = synth.demo_dataset(AS_OF)
    fixtures = synth.to_plaid_fixtures(data, synth.demo_accounts(), items=synth.demo_items())
    transactions = [t for item in fixtures["items"] for t in item["transactions"]]
    bank = folder / "bank.json"
    bank.write_bytes(dumps({"transactions": transactions}))
    ledger = folder / "ledger.csv"
    synth.write_ledger_csv(data.ledger, ledger)
    return bank, ledger


def test_match_writes_the_contract_files(files: tuple[Path, Path], tmp_path: Path) -> None:
    bank, ledger = files
    out = tmp_path / "out"
    result = CliRunner().invoke(
        cli,
        [
            "match",
            "--config",
            str(REPO / "config.yaml"),
            "--bank",
            str(bank),
            "--ledger",
            str(ledger),
            "--out",
            str(out),
            "--as-of",
            AS_OF.isoformat(),
        ],
    )
    assert result.exit_code in (ExitCode.OK, ExitCode.DISCREPANCIES_ABOVE_THRESHOLD), result.output

    with (out / "matches.csv").open(newline="") as handle:
        matches = list(csv.DictReader(handle))
    assert {
        "match_id",
        "bank_transaction_id",
        "ledger_entry_id",
        "status",
        "rule",
        "score",
        "amount_difference",
        "date_difference_days",
    } <= set(matches[0])
    assert {m["status"] for m in matches} <= {"matched", "matched_with_difference", "suggested"}
    assert len(matches) > 1000
    with (out / "discrepancies.csv").open(newline="") as handle:
        discrepancies = list(csv.DictReader(handle))
    assert {
        "discrepancy_id",
        "kind",
        "side",
        "bank_transaction_id",
        "ledger_entry_id",
        "account",
        "date",
        "amount",
        "currency",
        "age_days",
        "explanation",
    } <= set(discrepancies[0])
    summary = json.loads((out / "summary.json").read_text())
    assert summary["as_of"] == AS_OF.isoformat()
    assert (out / f"reconciliation-{AS_OF}.xlsx").exists()
    assert (out / f"reconciliation-{AS_OF}.html").exists()


def test_match_refuses_a_bad_bank_file_with_its_row(
    files: tuple[Path, Path], tmp_path: Path
) -> None:
    _bank, ledger = files
    bank = tmp_path / "bank.csv"
    bank.write_text(
        "transaction_id,account_id,date,amount,iso_currency_code,name\n"
        "t1,dVzbVMLjrxTnLjX4G66XUp5GLklm4oiZy88yK,2026-11-02,1e3,USD,x\n"
    )
    result = CliRunner().invoke(
        cli,
        [
            "match",
            "--config",
            str(REPO / "config.yaml"),
            "--bank",
            str(bank),
            "--ledger",
            str(ledger),
            "--out",
            str(tmp_path / "out"),
        ],
    )
    assert result.exit_code == ExitCode.BAD_INPUT
    assert "bank.csv, row 2, column 'amount'" in result.output
    assert not (tmp_path / "out").exists()


def test_check_config_missing_file_is_a_config_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["check-config", str(tmp_path / "nope.yaml")])
    assert result.exit_code == ExitCode.BAD_CONFIG
    assert "cannot read the file" in result.output
