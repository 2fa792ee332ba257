"""The whole job through recon.pipeline on generated data, the bundled emulator and SQLite/PG."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
from datetime import date, timedelta
from pathlib import Path

import pytest
import yaml
from sqlalchemy import Engine, func, select, text

from recon import pipeline
from recon.config import Config, parse_config
from recon.demo import demo_config, link_demo_banks, prepare_demo_data
from recon.errors import ExitCode
from recon.money import format_minor
from recon.plaid.tokens import generate_key
from recon.store.db import open_store
from recon.store.schema import discrepancies, matches, payee_memory, runs
from recon.synth import demo_items

REPO = Path(__file__).resolve().parents[1]
AS_OF = date(2026, 11, 20)

pytestmark = pytest.mark.slow


def _config(workdir: Path, database_url: str | None = None, **overrides: object) -> Config:
    data = yaml.safe_load((REPO / "config.yaml").read_text())
    data["reports"]["formats"] = ["xlsx", "csv", "json"]
    for dotted, value in overrides.items():
        section, key = dotted.split("__")
        data[section][key] = value
    config = demo_config(parse_config(data, environ={}).resolve_paths(REPO), workdir)
    if database_url is not None:
        config = config.model_copy(
            update={"state": config.state.model_copy(update={"database_url": database_url})}
        )
    return config


@pytest.fixture
def token_key(monkeypatch: pytest.MonkeyPatch) -> str:
    key = generate_key()
    monkeypatch.setenv("RECON_TOKEN_KEY", key)
    monkeypatch.delenv("RECON_TOKEN_KEY_FILE", raising=False)
    return key


@pytest.fixture
def demo(tmp_path: Path, token_key: str, store_url: str) -> Config:
    workdir = tmp_path / "var"
    config = _config(workdir, store_url)
    prepare_demo_data(workdir, AS_OF)
    link_demo_banks(config)
    return config


def _table_rows(engine: Engine, table: object, *columns: str) -> list[tuple[object, ...]]:
    with engine.connect() as conn:
        cols = [table.c[name] for name in columns]  # type: ignore[attr-defined]
        return [tuple(row) for row in conn.execute(select(*cols).order_by(*cols))]


def test_run_twice_same_as_of_is_idempotent(demo: Config) -> None:
    first = pipeline.run(demo, as_of=AS_OF)
    second = pipeline.run(demo, as_of=AS_OF)

    assert first.exit_code in (ExitCode.OK, ExitCode.DISCREPANCIES_ABOVE_THRESHOLD)
    assert second.exit_code == first.exit_code
    engine = open_store(demo.state.database_url)
    match_rows = _table_rows(engine, matches, "match_id", "bank_transaction_id", "ledger_entry_id")
    disc_rows = _table_rows(engine, discrepancies, "discrepancy_id", "status")
    assert match_rows and disc_rows
    assert len(match_rows) == len(set(match_rows))
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(runs)).scalar_one() == 2
        states = conn.execute(select(runs.c.state)).scalars().all()
    assert states == ["succeeded", "succeeded"]
    assert first.counts["discrepancies_by_kind"] == second.counts["discrepancies_by_kind"]
    assert first.counts["links_by_status"] == second.counts["links_by_status"]
    engine.dispose()


def test_a_run_that_died_is_marked_crashed_by_the_next(demo: Config) -> None:
    engine = open_store(demo.state.database_url)
    from recon.store.runs import start_run

    dead = start_run(
        engine,
        kind="run",
        as_of=AS_OF,
        window_start=AS_OF,
        window_end=AS_OF,
        config_hash="x",
        now=pipeline.utc_now(),
    )
    pipeline.run(demo, as_of=AS_OF)
    with engine.connect() as conn:
        state = conn.execute(select(runs.c.state).where(runs.c.run_id == dead)).scalar_one()
    assert state == "crashed"
    engine.dispose()


def test_metrics_file_is_written(demo: Config) -> None:
    pipeline.run(demo, as_of=AS_OF)
    assert demo.state.metrics_file is not None
    text_ = demo.state.metrics_file.read_text()
    assert "recon_run_duration_seconds" in text_ or "recon_" in text_
    assert "recon_last_success_timestamp_seconds" in text_


def test_backfill_interrupted_and_resumed_equals_uninterrupted(
    tmp_path: Path, token_key: str
) -> None:
    start, end = AS_OF - timedelta(days=89), AS_OF

    def prepared(name: str) -> Config:
        workdir = tmp_path / name
        config = _config(workdir, schedule__window_days=7)
        config = config.model_copy(
            update={"reports": config.reports.model_copy(update={"formats": ("json",)})}
        )
        prepare_demo_data(workdir, AS_OF)
        link_demo_banks(config)
        return config

    reference = prepared("reference")
    pipeline.backfill(reference, start=start, end=end)

    interrupted = prepared("interrupted")

    class Interrupt(Exception):
        pass

    def stop_halfway(index: int, total: int, _day: date) -> None:
        if index == total // 2:
            raise Interrupt

    with pytest.raises(Interrupt):
        pipeline.backfill(interrupted, start=start, end=end, progress=stop_halfway)
    resumed = pipeline.backfill(interrupted, start=start, end=end)
    assert len(resumed) == 90  # every day has its outcome, so the exit code covers them all
    earlier = [o for o in resumed if "reconciled earlier" in o.summary_lines[0]]
    assert 0 < len(earlier) < 90  # the first half was not redone

    ref_engine = open_store(reference.state.database_url)
    int_engine = open_store(interrupted.state.database_url)
    for table, cols in (
        (matches, ("as_of", "match_id", "bank_transaction_id", "ledger_entry_id", "status")),
        (
            discrepancies,
            ("discrepancy_id", "kind", "status", "first_seen", "last_seen", "resolved_on"),
        ),
    ):
        assert _table_rows(ref_engine, table, *cols) == _table_rows(int_engine, table, *cols)
    ref_engine.dispose()
    int_engine.dispose()


def _wait_until_matching(database_url: str, process: subprocess.Popen[str]) -> None:
    """Block until a run is in its matching step (it then holds the lock for a while)."""
    engine = open_store(database_url)
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise AssertionError(f"the run ended early: {process.communicate()}")
            with engine.connect() as conn:
                if conn.execute(
                    select(func.count()).select_from(runs).where(runs.c.state == "matching")
                ).scalar_one():
                    return
            time.sleep(0.2)
        raise AssertionError("no run reached the matching step within 120 s")
    finally:
        engine.dispose()


def test_two_runs_started_together_one_waits_out_with_75(tmp_path: Path, token_key: str) -> None:
    workdir = tmp_path / "var"
    config = _config(workdir)
    prepare_demo_data(workdir, AS_OF)
    link_demo_banks(config)
    config_file = tmp_path / "config.yaml"
    data = yaml.safe_load((REPO / "config.yaml").read_text())
    data["plaid"]["emulator_fixtures"] = str(workdir / "demo" / "plaid-fixtures.json")
    data["ledger"]["path"] = str(workdir / "demo" / "ledger.csv")
    data["reports"]["output_dir"] = str(workdir / "reports")
    data["state"].update(
        database_url=config.state.database_url,
        lock_file=str(workdir / "lock"),
        metrics_file=None,
        log_file=None,
    )
    config_file.write_text(yaml.safe_dump(data))
    env = {k: v for k, v in os.environ.items() if not k.startswith("RECON_FAULT_")}
    command = [
        sys.executable,
        "-m",
        "recon",
        "run",
        "--config",
        str(config_file),
        "--as-of",
        AS_OF.isoformat(),
    ]
    slow_env = {**env, "RECON_FAULT_POINT": "pipeline.matching", "RECON_FAULT_ACTION": "sleep:8"}
    first = subprocess.Popen(
        command, env=slow_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    _wait_until_matching(config.state.database_url, first)
    second = subprocess.run(
        command, env=env, capture_output=True, text=True, timeout=120, check=False
    )
    first_out, first_err = first.communicate(timeout=300)
    assert second.returncode == ExitCode.ALREADY_RUNNING, second.stderr
    assert "another recon run holds the lock" in second.stderr
    assert first.returncode in (0, 3), first_err[-2000:]

    killed = subprocess.Popen(
        command, env=slow_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    _wait_until_matching(config.state.database_url, killed)
    killed.kill()  # SIGKILL while it holds the lock
    killed.communicate(timeout=30)
    after = subprocess.run(
        command, env=env, capture_output=True, text=True, timeout=300, check=False
    )
    assert after.returncode in (0, 3), after.stderr[-2000:]
    engine = open_store(config.state.database_url)
    with engine.connect() as conn:
        states = conn.execute(text("select state from runs order by started_at")).scalars().all()
    assert states[-1] == "succeeded" and "crashed" in states
    engine.dispose()
    assert "reports:" in first_out


def test_run_rotates_old_tokens_and_keeps_only_ciphertext(tmp_path: Path, token_key: str) -> None:
    from recon.plaid.emulator import Emulator
    from recon.plaid.tokens import TokenVault, load_access_token

    workdir = tmp_path / "var"
    config = _config(workdir, plaid__max_token_age_hours=0.0001)  # every token is due
    prepare_demo_data(workdir, AS_OF)
    link_demo_banks(config)
    vault = TokenVault.from_env("RECON_TOKEN_KEY")
    engine = open_store(config.state.database_url)
    item_ids = [item[0] for item in demo_items()]

    def tokens() -> dict[str, str]:
        with engine.connect() as conn:
            return {i: load_access_token(conn, vault, i) for i in item_ids}

    before = tokens()
    time.sleep(0.5)
    pipeline.run(config, as_of=AS_OF)
    after = tokens()

    assert config.plaid.emulator_fixtures is not None
    emulator = Emulator.from_file(
        config.plaid.emulator_fixtures,
        client_id=pipeline.EMULATOR_CLIENT_ID,
        secret=pipeline.EMULATOR_SECRET,
        state_path=config.plaid.emulator_fixtures.with_suffix(".state.json"),
    )
    headers = {
        "PLAID-CLIENT-ID": pipeline.EMULATOR_CLIENT_ID,
        "PLAID-SECRET": pipeline.EMULATOR_SECRET,
    }
    for item_id in item_ids:
        assert before[item_id] != after[item_id]
        old_status, old_body = emulator.handle(
            "/accounts/get", headers, json.dumps({"access_token": before[item_id]}).encode()
        )
        assert old_status == 400 and b"INVALID_ACCESS_TOKEN" in old_body
        new_status, _ = emulator.handle(
            "/accounts/get", headers, json.dumps({"access_token": after[item_id]}).encode()
        )
        assert new_status == 200
    database = Path(config.state.database_url.removeprefix("sqlite:///"))
    dump = "\n".join(sqlite3.connect(database).iterdump())
    for token in (*before.values(), *after.values()):
        assert token not in dump
    assert "access-sandbox-" not in dump
    engine.dispose()


def test_two_nights_over_generated_data_carry_forward(tmp_path: Path, token_key: str) -> None:
    """Night 1, an analyst annotates the workbook, the ledger gets one new unmatched entry and
    one entry that clears an open bank item; night 2 shows both changes and the annotation."""
    from openpyxl import load_workbook

    workdir = tmp_path / "var"
    config = _config(workdir)
    prepare_demo_data(workdir, AS_OF)
    link_demo_banks(config)
    first = pipeline.run(config, as_of=AS_OF)
    workbook_path = next(p for p in first.report_paths if p.suffix == ".xlsx")

    workbook = load_workbook(workbook_path)
    sheet = workbook["Timing items"]
    header = [c.value for c in sheet[2]]
    row = next(r[0].row for r in sheet.iter_rows(min_row=3)
               if r[header.index("Line")].value == "outstanding_payment"
               and not r[header.index("Also covers")].value)
    annotated_id = sheet.cell(row=row, column=1).value
    sheet.cell(row=row, column=header.index("Status") + 1, value="explained")
    sheet.cell(row=row, column=header.index("Owner") + 1, value="ana")
    sheet.cell(row=row, column=header.index("Notes") + 1, value="cheque mailed late")
    workbook.save(workbook_path)
    pipeline.import_annotations(config, workbook_path)

    engine = open_store(config.state.database_url)
    with engine.connect() as conn:
        bank_item = conn.execute(
            select(
                discrepancies.c.discrepancy_id,
                discrepancies.c.bank_transaction_id,
                discrepancies.c.account,
                discrepancies.c.amount_minor,
                discrepancies.c.currency,
                discrepancies.c.date,
                discrepancies.c.description,
            )
            .where(
                discrepancies.c.kind == "unmatched_bank",
                discrepancies.c.currency == "USD",
                discrepancies.c.status == "open",
            )
            .order_by(discrepancies.c.date.desc(), discrepancies.c.discrepancy_id)
        ).first()
    assert bank_item is not None
    assert config.ledger.path is not None
    amount = format_minor(bank_item.amount_minor, "USD")
    with config.ledger.path.open("a", encoding="utf-8") as ledger:
        ledger.write(
            f"JE-NEW-1,{AS_OF + timedelta(days=1)},-4321.09,USD,Mystery payment,,,"
            f"1010-operating-usd\n"
        )
        ledger.write(
            f"JE-NEW-2,{bank_item.date},{amount},USD,{bank_item.description},,,"
            f"{bank_item.account}\n"
        )

    second = pipeline.run(config, as_of=AS_OF + timedelta(days=1))
    report = json.loads(next(p for p in second.report_paths if p.suffix == ".json").read_text())
    assert report["as_of"] == (AS_OF + timedelta(days=1)).isoformat()

    changes = load_workbook(next(p for p in second.report_paths if p.suffix == ".xlsx"))["Changes"]
    rows = list(changes.iter_rows(min_row=3, values_only=True))
    new_ids = {row[1] for row in rows if row[0] and "new" in str(row[0])}
    resolved_ids = {row[1] for row in rows if row[0] and "resolved" in str(row[0])}
    with engine.connect() as conn:
        new_item = conn.execute(
            select(discrepancies.c.discrepancy_id).where(
                discrepancies.c.ledger_entry_id == "JE-NEW-1"
            )
        ).scalar_one()
        annotation = conn.execute(
            select(discrepancies.c.status, discrepancies.c.owner, discrepancies.c.notes).where(
                discrepancies.c.discrepancy_id == annotated_id
            )
        ).one()
    assert new_item in new_ids
    assert bank_item.discrepancy_id in resolved_ids
    assert tuple(annotation) == ("explained", "ana", "cheque mailed late")
    second_book = load_workbook(next(p for p in second.report_paths if p.suffix == ".xlsx"))
    shown = {
        row[0]: row[1:4]
        for row in second_book["Timing items"].iter_rows(min_row=3, max_col=4, values_only=True)
    }
    assert shown.get(annotated_id) == ("explained", "ana", "cheque mailed late")
    engine.dispose()


def test_open_items_older_than_the_window_stay_open_and_keep_ageing(
    tmp_path: Path, token_key: str
) -> None:
    workdir = tmp_path / "var"
    config = _config(workdir)
    prepare_demo_data(workdir, AS_OF)
    link_demo_banks(config)
    pipeline.run(config, as_of=AS_OF)
    engine = open_store(config.state.database_url)
    later = AS_OF + timedelta(days=1)
    short_window_start = later - timedelta(days=6)
    with engine.connect() as conn:
        old_open = {
            row.discrepancy_id: row.date
            for row in conn.execute(
                select(discrepancies.c.discrepancy_id, discrepancies.c.date).where(
                    discrepancies.c.status == "open",
                    discrepancies.c.date < short_window_start,
                    discrepancies.c.kind.in_(("unmatched_bank", "unmatched_ledger")),
                )
            )
        }
    assert len(old_open) > 10

    short = config.model_copy(
        update={"schedule": config.schedule.model_copy(update={"window_days": 7})}
    )
    outcome = pipeline.run(short, as_of=later)

    with engine.connect() as conn:
        rows = conn.execute(
            select(
                discrepancies.c.discrepancy_id, discrepancies.c.status, discrepancies.c.last_seen
            ).where(discrepancies.c.discrepancy_id.in_(sorted(old_open)))
        ).all()
    assert {r.status for r in rows} == {"open"}
    assert {r.last_seen for r in rows} == {later}
    report = next(p for p in outcome.report_paths if p.name.startswith("discrepancies-"))
    reported = report.read_text()
    oldest = min(old_open, key=lambda i: old_open[i])
    assert oldest in reported
    assert (later - old_open[oldest]).days > 7
    engine.dispose()


def test_pairs_straddling_the_window_start_are_not_reported(tmp_path: Path, token_key: str) -> None:
    """A bank row inside tonight's window whose ledger entry was booked a day before the window
    (a lag) was matched last night; tonight it must not turn up as an unmatched item."""
    workdir = tmp_path / "var"
    config = _config(workdir)
    prepare_demo_data(workdir, AS_OF)
    link_demo_banks(config)
    pipeline.run(config, as_of=AS_OF)
    engine = open_store(config.state.database_url)
    with engine.connect() as conn:
        open_before = {
            row.discrepancy_id
            for row in conn.execute(
                select(discrepancies.c.discrepancy_id).where(discrepancies.c.status == "open")
            )
        }
    # Tonight's window starts in the middle of last night's: many pairs cross its start.
    short = config.model_copy(
        update={"schedule": config.schedule.model_copy(update={"window_days": 20})}
    )
    outcome = pipeline.run(short, as_of=AS_OF + timedelta(days=1))
    report = json.loads(next(p for p in outcome.report_paths if p.suffix == ".json").read_text())
    # Partners from before the window are in the movements: the completeness check still
    # explains it all. (The statements take their balances from outside the window, so they
    # also show what left it unresolved: see the README's "Reports".)
    assert {t["unexplained"] for t in report["completeness_check"]} <= {"0.00", "0"}
    with engine.connect() as conn:
        new_open = conn.execute(
            select(discrepancies.c.discrepancy_id, discrepancies.c.kind).where(
                discrepancies.c.status == "open",
                discrepancies.c.discrepancy_id.not_in(sorted(open_before)),
            )
        ).all()
    engine.dispose()
    assert new_open == []  # no new data arrived: nothing new can be open


def _add_payee_rows(workdir: Path) -> None:
    """A payee whose bank descriptor never resembles its ledger name: one link on 18 November
    whose ledger text names the descriptor (night 1 confirms it), and one on 23/24 November
    whose texts have nothing in common and whose amounts differ by 0.03 (night 2)."""
    demo_dir = workdir / "demo"
    fixtures_path = demo_dir / "plaid-fixtures.json"
    fixtures = json.loads(fixtures_path.read_text())
    item = fixtures["items"][0]
    template = item["transactions"][0]
    for tid, day, amount, name in (
        ("payee-night-1", "2026-11-18", 412.37, "ACH DEBIT ZYXCO *QRPT 8812"),
        ("payee-night-2", "2026-11-24", 287.16, "ACH DEBIT ZYXCO *QRPT 9921"),
    ):
        item["transactions"].append({**template, "transaction_id": tid, "date": day,
                                     "amount": amount, "name": name, "merchant_name": None})
    fixtures_path.write_text(json.dumps(fixtures))
    ledger_path = demo_dir / "ledger.csv"
    account = template["account_id"]
    assert account == "dVzbVMLjrxTnLjX4G66XUp5GLklm4oiZy88yK"  # 1010-operating-usd
    with ledger_path.open("a") as ledger:
        ledger.write("PAYEE-1,2026-11-18,-412.37,USD,ZYXCO QRPT report subscription,,"
                     "Qorpo Analytics,1010-operating-usd\n")
        ledger.write("PAYEE-2,2026-11-23,-287.13,USD,Quarterly market report,,"
                     "Qorpo Analytics,1010-operating-usd\n")


def test_a_payee_learned_one_night_decides_the_next(tmp_path: Path, token_key: str) -> None:
    workdir = tmp_path / "var"
    config = _config(workdir)
    prepare_demo_data(workdir, AS_OF)
    _add_payee_rows(workdir)
    link_demo_banks(config)
    pipeline.run(config, as_of=AS_OF)
    engine = open_store(config.state.database_url)
    with engine.connect() as conn:
        learned = conn.execute(
            select(payee_memory.c.descriptor, payee_memory.c.counterparty,
                   payee_memory.c.source)
            .where(payee_memory.c.bank_transaction_id == "payee-night-1")
        ).all()  # fmt: skip
        assert learned == [("ZYXCO *QRPT", "Qorpo Analytics", "auto")]
        # Every confirmed one-to-one link with a descriptor and a counterparty taught one row.
        assert conn.execute(select(func.count()).select_from(payee_memory)).scalar_one() > 50
    pipeline.run(config, as_of=AS_OF + timedelta(days=5))
    with engine.connect() as conn:
        link = conn.execute(
            select(matches.c.status, matches.c.rule, matches.c.explanation)
            .where(matches.c.bank_transaction_id == "payee-night-2")
        ).one()  # fmt: skip
    engine.dispose()
    assert link.status == "matched_with_difference"
    assert link.rule == "tolerance"
    assert link.explanation.endswith(
        "; learned payee: 'ZYXCO *QRPT' is Qorpo Analytics, from 1 confirmed link"
    )


def test_without_the_memory_the_second_night_leaves_the_pair_open(
    tmp_path: Path, token_key: str
) -> None:
    """The control for the test above: night 2 alone does not link the pair."""
    workdir = tmp_path / "var"
    config = _config(workdir)
    prepare_demo_data(workdir, AS_OF)
    _add_payee_rows(workdir)
    link_demo_banks(config)
    pipeline.run(config, as_of=AS_OF + timedelta(days=5))
    engine = open_store(config.state.database_url)
    with engine.connect() as conn:
        linked = conn.execute(
            select(func.count()).select_from(matches)
            .where(matches.c.bank_transaction_id == "payee-night-2")
        ).scalar_one()  # fmt: skip
    engine.dispose()
    assert linked == 0
