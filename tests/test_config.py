from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from pydantic import ValidationError

from recon.cli import cli
from recon.config import DifferenceTolerance, MatchingConfig, load_config, parse_config
from recon.errors import ConfigError, ExitCode

REPO_CONFIG = Path(__file__).resolve().parents[1] / "config.yaml"


def _repo_data() -> dict:
    return yaml.safe_load(REPO_CONFIG.read_text())


def test_shipped_config_is_valid_and_frozen() -> None:
    config = load_config(REPO_CONFIG, environ={})
    assert config.plaid.environment == "emulator"
    assert [p.name for p in config.matching.passes][:10] == [
        "exact_reference", "reference_totals", "settlement_totals", "batch_totals",
        "remittance_totals", "checks", "reference_groups", "late_reference", "transfer_fees",
        "exact_amount",
    ]
    with pytest.raises(ValidationError):  # frozen
        config.plaid.timeout_seconds = 1  # type: ignore[misc]
    # relative paths are resolved against the config file's folder
    assert config.reports.output_dir == REPO_CONFIG.parent / "var/reports"
    assert config.state.database_url == f"sqlite:///{REPO_CONFIG.parent / 'var/recon.db'}"


def test_three_mistakes_are_all_reported_with_their_key_paths(tmp_path: Path) -> None:
    data = _repo_data()
    data["plaid"]["timeout_seconds"] = -5
    data["schedule"]["timezone"] = "Mars/Olympus_Mons"
    data["matching"]["passes"][2]["days_after"] = "soon"
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(data))

    result = CliRunner().invoke(cli, ["check-config", str(path)])

    assert result.exit_code == ExitCode.BAD_CONFIG
    assert "3 problem(s)" in result.output
    assert "plaid.timeout_seconds: Input should be greater than 0" in result.output
    assert "schedule.timezone: unknown IANA time zone 'Mars/Olympus_Mons'" in result.output
    assert "matching.passes[2].days_after:" in result.output


def test_shipped_matching_is_the_code_default() -> None:
    assert load_config(REPO_CONFIG, environ={}).matching == MatchingConfig()
    assert parse_config({}, environ={}).matching == MatchingConfig()


def test_matching_passes_name_their_kind_and_keep_their_shape() -> None:
    data = _repo_data()
    passes = data["matching"]["passes"]
    exact_amount = next(i for i, p in enumerate(passes) if p["name"] == "exact_amount")
    passes[0] = {"name": "no_kind"}
    passes[1]["kind"] = "payouts"
    passes[exact_amount]["amount_tolerance"] = "0.10"  # an exact-amount rule with a tolerance
    with pytest.raises(ConfigError) as excinfo:
        parse_config(data, environ={})
    problems = excinfo.value.problems
    assert any(p.startswith("matching.passes[0]: Unable to extract tag") for p in problems)
    assert any(p.startswith("matching.passes[1]: Input tag 'payouts'") for p in problems)
    assert (
        f"matching.passes[{exact_amount}]: kind 'amount' compares amounts exactly: use kind "
        "'tolerance'"
    ) in problems


def test_duplicate_pass_names_are_refused() -> None:
    data = _repo_data()
    passes = data["matching"]["passes"]
    fuzzy = next(i for i, p in enumerate(passes) if p["name"] == "fuzzy_text")
    passes[fuzzy - 1]["name"] = passes[fuzzy]["name"]
    with pytest.raises(ConfigError) as excinfo:
        parse_config(data, environ={})
    assert "matching: pass names must be unique: fuzzy_text" in excinfo.value.problems


def test_a_fee_passes_amount_by_currency_names_known_currencies() -> None:
    data = _repo_data()
    fees = next(p for p in data["matching"]["passes"] if p["name"] == "deducted_fees")
    fees["amount_by_currency"] = {"jpy": "800"}
    config = parse_config(data, environ={})
    shipped = next(p for p in config.matching.passes if p.name == "deducted_fees")
    assert isinstance(shipped, DifferenceTolerance)
    assert shipped.amount_by_currency == {"JPY": 800}
    fees["amount_by_currency"] = {"YEN": "800"}
    with pytest.raises(ConfigError) as excinfo:
        parse_config(data, environ={})
    assert any("unknown ISO 4217 currency 'YEN'" in p for p in excinfo.value.problems)


def test_the_sections_passes_replaced_are_refused_by_name() -> None:
    with pytest.raises(ConfigError) as excinfo:
        parse_config({"matching": {"rules": [{"name": "exact"}], "groups": {}}}, environ={})
    assert excinfo.value.problems == [
        "matching: rules, groups: replaced by one ordered list, 'passes' (see the shipped "
        "config.yaml)"
    ]


def test_check_config_ok_exits_zero() -> None:
    result = CliRunner().invoke(cli, ["check-config", str(REPO_CONFIG)])
    assert result.exit_code == 0, result.output
    assert "OK" in result.output


def test_plaintext_secret_is_refused_without_echoing_it() -> None:
    data = _repo_data()
    data["plaid"]["secret"] = "s3cr3t-value-pasted-here"
    with pytest.raises(ConfigError) as excinfo:
        parse_config(data, environ={})
    text = str(excinfo.value)
    assert "plaid.secret: looks like a secret" in text
    assert "s3cr3t-value-pasted-here" not in text


def test_unknown_key_is_reported() -> None:
    data = _repo_data()
    data["reports"]["output_folder"] = "x"
    with pytest.raises(ConfigError) as excinfo:
        parse_config(data, environ={})
    assert "reports.output_folder: Extra inputs are not permitted" in str(excinfo.value)


def test_environment_overrides_nested_values() -> None:
    config = parse_config(
        _repo_data(),
        environ={
            "RECON_STATE__DATABASE_URL": "postgresql://postgres@127.0.0.1/test",
            "RECON_PLAID__TIMEOUT_SECONDS": "12.5",
            "RECON_TOKEN_KEY": "not-an-override",
        },
    )
    assert config.state.database_url == "postgresql://postgres@127.0.0.1/test"
    assert config.plaid.timeout_seconds == 12.5


def test_bad_override_is_reported_with_its_path() -> None:
    with pytest.raises(ConfigError) as excinfo:
        parse_config(_repo_data(), environ={"RECON_PLAID__SYNC_PAGE_SIZE": "900"})
    assert "plaid.sync_page_size: Input should be less than or equal to 500" in str(excinfo.value)


def test_invalid_yaml_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text("plaid:\n  host: [unclosed\n")
    with pytest.raises(ConfigError) as excinfo:
        load_config(path)
    assert "line 3" in str(excinfo.value) or "line 2" in str(excinfo.value)


def test_fingerprint_changes_with_the_rules() -> None:
    first = parse_config(_repo_data(), environ={})
    data = _repo_data()
    data["matching"]["ambiguity_margin"] = 0.2
    assert parse_config(data, environ={}).fingerprint() != first.fingerprint()


def test_absolute_paths_are_kept_and_relative_ones_resolved(tmp_path: Path) -> None:
    data = _repo_data()
    data["ledger"]["path"] = "/srv/ledger/export.csv"
    data["plaid"]["emulator_fixtures"] = "fixtures.json"
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(data))
    config = load_config(path, environ={})
    assert config.ledger.path == Path("/srv/ledger/export.csv")
    assert config.plaid.emulator_fixtures == tmp_path / "fixtures.json"
