"""Issue 17 "Fail closed": hostile files, misconfiguration and outages never destroy state, hide
a problem or crash. One test (or a few) per defect of the issue, numbered as there; each failed
on the code before the fix."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import stat
import subprocess
import sys
import time
import zipfile
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import openpyxl
import pytest
import yaml
from click.testing import CliRunner
from sqlalchemy import select
from test_alerts import WebhookInbox, webhook_server

from recon import pipeline
from recon.cli import cli
from recon.config import load_config, parse_config
from recon.errors import ConfigError, InputError
from recon.logs import Redactor
from recon.plaid.tokens import generate_key, key_id_for
from recon.store.schema import runs
from reliability.harness import (
    AS_OF,
    REPO,
    TOKEN_KEY,
    Reference,
    Workdir,
    child_env,
    copy_workdir,
    store_state,
)

__all__ = ["webhook_server"]  # the alert tests' local webhook receiver, used as a fixture here

pytestmark = [pytest.mark.reliability]

OPERATING = "dVzbVMLjrxTnLjX4G66XUp5GLklm4oiZy88yK"
PAYROLL = "9vLqmWE3aNT6pbe4Kxrj8GzYw1oXM5cQnRdJk"
LEDGER_HEADER = ["entry_id", "date", "amount", "currency", "description", "reference",
                 "counterparty", "account"]
WEBHOOK_ENV = "RECON_TEST_ALERT_WEBHOOK"
MAX_BOMB_RSS_MB = 300


# --------------------------------------------------------------------------- file-match helpers


def _txn(transaction_id: str | None, amount: Any = "12.50", *, day: str = "2026-11-19",
         account: str = OPERATING) -> dict[str, Any]:
    txn: dict[str, Any] = {"account_id": account, "date": day, "amount": amount,
                           "iso_currency_code": "USD", "name": "Office supplies"}
    if transaction_id is not None:
        txn["transaction_id"] = transaction_id
    return txn


def _bank_json(path: Path, transactions: list[dict[str, Any]]) -> Path:
    # Amounts are written as JSON numbers from their text (Plaid sends numbers).
    body = json.dumps(transactions)
    for txn in transactions:
        amount = txn.get("amount")
        if isinstance(amount, str):
            body = body.replace(f'"amount": "{amount}"', f'"amount": {amount}', 1)
    path.write_text(body)
    return path


def _ledger_csv(path: Path, rows: list[list[str]]) -> Path:
    lines = [",".join(LEDGER_HEADER)] + [",".join(row) for row in rows]
    path.write_text("\n".join(lines) + "\n")
    return path


def _ledger_row(entry_id: str, amount: str = "-12.50", day: str = "2026-11-19") -> list[str]:
    return [entry_id, day, amount, "USD", "Office supplies", "", "Acme", "1010-operating-usd"]


def _match_config(root: Path, tweak: Callable[[dict[str, Any]], None] | None = None) -> Path:
    data: dict[str, Any] = yaml.safe_load((REPO / "config.yaml").read_text())
    data["state"] = {"database_url": f"sqlite:///{root / 'unused.db'}",
                     "lock_file": str(root / "recon.lock"), "metrics_file": None,
                     "log_file": None}
    if tweak is not None:
        tweak(data)
    path = root / "config.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def _recon(*args: str, cwd: Path, env: dict[str, str] | None = None
           ) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "recon", *args], cwd=cwd,
                          env=env or child_env(), capture_output=True, text=True, timeout=300,
                          check=False)


# ru_maxrss survives fork and exec: a child of this (large) pytest process would report this
# process's peak. So a small launcher runs `recon` and reports the grandchild's own ru_maxrss.
_LAUNCHER = """
import json, os, subprocess, sys
child = subprocess.Popen(sys.argv[1:], stdout=subprocess.DEVNULL)
_pid, status, usage = os.wait4(child.pid, 0)
print(json.dumps({"code": os.waitstatus_to_exitcode(status), "maxrss_kb": usage.ru_maxrss}))
"""


def _recon_measured(*args: str, cwd: Path) -> tuple[int, str, float]:
    """Run `recon ARGS` and return (exit code, stderr, recon's own peak RSS in MB)."""
    launched = subprocess.run(
        [sys.executable, "-c", _LAUNCHER, sys.executable, "-m", "recon", *args], cwd=cwd,
        env=child_env(), capture_output=True, text=True, timeout=600, check=False)
    measured = json.loads(launched.stdout.strip().splitlines()[-1])
    return int(measured["code"]), launched.stderr, measured["maxrss_kb"] / 1024


def _match(tmp_path: Path, bank: Path, ledger: Path, *extra: str,
           config: Path | None = None) -> subprocess.CompletedProcess[str]:
    config = config or _match_config(tmp_path)
    return _recon("match", "--config", str(config), "--bank", str(bank), "--ledger",
                  str(ledger), "--out", str(tmp_path / "out"), *extra, cwd=tmp_path)


def _assert_refused(result: subprocess.CompletedProcess[str], code: int, *fragments: str) -> None:
    assert result.returncode == code, (result.returncode, result.stderr[-3000:])
    assert "Traceback" not in result.stderr, result.stderr[-3000:]
    for fragment in fragments:
        assert fragment in result.stderr, (fragment, result.stderr[-3000:])


# --------------------------------------------------------------------------- 1: the lock path


@pytest.mark.slow
def test_1_lock_file_pointing_at_the_database_is_refused_and_the_store_survives(
    scenario: Workdir,
) -> None:
    database = Path(scenario.url.removeprefix("sqlite:///"))
    before = database.read_bytes()
    result = scenario.recon(*scenario.run_args(),
                            env=child_env(RECON_STATE__LOCK_FILE=str(database)))
    _assert_refused(result, 78, "state.lock_file")
    assert database.read_bytes() == before  # tokens, cursors and history all still there
    engine = scenario.engine()
    try:
        assert store_state(engine).item_status  # the linked items are still in the store
    finally:
        engine.dispose()


@pytest.mark.slow
def test_1_lock_file_pointing_at_the_config_or_through_a_symlink_is_refused(
    scenario: Workdir,
) -> None:
    config_text = scenario.config_file.read_text()
    config = load_config(scenario.config_file,
                         environ={"RECON_STATE__LOCK_FILE": str(scenario.config_file)})
    with pytest.raises(ConfigError, match=r"state\.lock_file"):
        pipeline.run(config, as_of=AS_OF)
    assert scenario.config_file.read_text() == config_text

    precious = scenario.root / "precious.txt"
    precious.write_text("finance's notes\n")
    scenario.config.state.lock_file.unlink(missing_ok=True)
    scenario.config.state.lock_file.symlink_to(precious)
    with pytest.raises(ConfigError, match=r"state\.lock_file"):
        pipeline.run(scenario.config, as_of=AS_OF)
    assert precious.read_text() == "finance's notes\n"

    # A file that holds something other than a recon lock record is not ours to truncate.
    scenario.config.state.lock_file.unlink()
    scenario.config.state.lock_file.write_text("not a lock file\n")
    with pytest.raises(ConfigError, match=r"state\.lock_file"):
        pipeline.run(scenario.config, as_of=AS_OF)
    assert scenario.config.state.lock_file.read_text() == "not a lock file\n"


# --------------------------------------------------------------------------- 2: XLSX bombs


def _xlsx_bomb(path: Path, *, sheet_chunks: Iterator[bytes], shared: Iterator[bytes] | None
               ) -> Path:
    """A minimal workbook written part by part (so the bomb never sits in this process)."""
    rels = ('<?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats.org/'
            'package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.'
            'openxmlformats.org/officeDocument/2006/relationships/officeDocument" '
            'Target="xl/workbook.xml"/></Relationships>')
    shared_rel = ('<Relationship Id="rId2" Type="http://schemas.openxmlformats.org/'
                  'officeDocument/2006/relationships/sharedStrings" Target="sharedStrings.xml"/>'
                  if shared is not None else "")
    wb_rels = ('<?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats.org/'
               'package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.'
               'openxmlformats.org/officeDocument/2006/relationships/worksheet" '
               f'Target="worksheets/sheet1.xml"/>{shared_rel}</Relationships>')
    workbook = ('<?xml version="1.0"?><workbook xmlns="http://schemas.openxmlformats.org/'
                'spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/'
                'officeDocument/2006/relationships"><sheets><sheet name="Ledger" sheetId="1" '
                'r:id="rId1"/></sheets></workbook>')
    shared_type = ('<Override PartName="/xl/sharedStrings.xml" ContentType="application/'
                   'vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/>'
                   if shared is not None else "")
    types = ('<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/'
             'content-types"><Default Extension="rels" ContentType="application/vnd.'
             'openxmlformats-package.relationships+xml"/><Default Extension="xml" '
             'ContentType="application/xml"/><Override PartName="/xl/workbook.xml" '
             'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.'
             'main+xml"/><Override PartName="/xl/worksheets/sheet1.xml" ContentType="'
             'application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
             f'{shared_type}</Types>')
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        archive.writestr("[Content_Types].xml", types)
        archive.writestr("_rels/.rels", rels)
        archive.writestr("xl/workbook.xml", workbook)
        archive.writestr("xl/_rels/workbook.xml.rels", wb_rels)
        with archive.open("xl/worksheets/sheet1.xml", "w", force_zip64=True) as part:
            for chunk in sheet_chunks:
                part.write(chunk)
        if shared is not None:
            with archive.open("xl/sharedStrings.xml", "w", force_zip64=True) as part:
                for chunk in shared:
                    part.write(chunk)
    return path


_SHEET_HEAD = (b'<?xml version="1.0"?><worksheet xmlns="http://schemas.openxmlformats.org/'
               b'spreadsheetml/2006/main"><sheetData>')
_SHEET_TAIL = b"</sheetData></worksheet>"


def _header_row() -> bytes:
    cells = "".join(f'<c t="inlineStr"><is><t>{name}</t></is></c>' for name in LEDGER_HEADER)
    return f'<row r="1">{cells}</row>'.encode()


def _empty_cells_sheet(cells: int) -> Iterator[bytes]:
    yield _SHEET_HEAD + _header_row() + b'<row r="2">'
    chunk = b"<c/>" * 1_000_000
    for _ in range(cells // 1_000_000):
        yield chunk
    yield b"</row>" + _SHEET_TAIL


def _huge_shared_string(chars: int) -> Iterator[bytes]:
    yield (b'<?xml version="1.0"?><sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/'
           b'2006/main" count="1" uniqueCount="1"><si><t>')
    chunk = b"A" * (16 * 1024 * 1024)
    for _ in range(chars // len(chunk)):
        yield chunk
    yield b"</t></si></sst>"


def _shared_string_sheet() -> Iterator[bytes]:
    yield (_SHEET_HEAD + _header_row() + b'<row r="2"><c r="A2" t="s"><v>0</v></c></row>'
           + _SHEET_TAIL)


def _xlsx_match_config(root: Path) -> Path:
    def tweak(data: dict[str, Any]) -> None:
        data["ledger"]["source"] = "xlsx"
    return _match_config(root, tweak)


@pytest.mark.slow
@pytest.mark.parametrize("bomb", ["empty_cells", "shared_string"])
def test_2_xlsx_decompression_bombs_are_refused_early_in_little_memory(
    tmp_path: Path, bomb: str
) -> None:
    if bomb == "empty_cells":  # 20M empty cells: ~80 MB of XML in an ~80 KB file
        ledger = _xlsx_bomb(tmp_path / "bomb.xlsx", sheet_chunks=_empty_cells_sheet(20_000_000),
                            shared=None)
    else:  # one shared string of 1 GiB in a ~1 MB file
        ledger = _xlsx_bomb(tmp_path / "bomb.xlsx", sheet_chunks=_shared_string_sheet(),
                            shared=_huge_shared_string(1024 * 1024 * 1024))
    assert ledger.stat().st_size < 2 * 1024 * 1024
    bank = _bank_json(tmp_path / "bank.json", [_txn("t1")])
    config = _xlsx_match_config(tmp_path)
    started = time.monotonic()
    code, stderr, peak_mb = _recon_measured(
        "match", "--config", str(config), "--bank", str(bank), "--ledger", str(ledger),
        "--out", str(tmp_path / "out"), cwd=tmp_path)
    elapsed = time.monotonic() - started
    print(f"{bomb}: exit {code}, peak RSS {peak_mb:.0f} MB, {elapsed:.1f} s")
    assert code == 65, stderr[-3000:]
    assert "Traceback" not in stderr
    assert str(ledger) in stderr
    assert peak_mb < MAX_BOMB_RSS_MB, peak_mb
    assert not (tmp_path / "out").exists()


# --------------------------------------------------------------------------- 3: hidden sheet


def test_3_a_hidden_first_sheet_is_never_read_as_the_ledger(tmp_path: Path) -> None:
    workbook = openpyxl.Workbook()
    stale = workbook.active
    assert stale is not None
    stale.title = "old export"
    stale.append(LEDGER_HEADER)
    for number in range(5):
        stale.append(_ledger_row(f"STALE-{number}", amount="-99.00"))
    stale.sheet_state = "hidden"
    current = workbook.create_sheet("ledger")
    current.append(LEDGER_HEADER)
    current.append(_ledger_row("CURRENT-1"))
    workbook.active = 1
    ledger = tmp_path / "ledger.xlsx"
    workbook.save(ledger)
    bank = _bank_json(tmp_path / "bank.json", [_txn("t1")])
    result = _match(tmp_path, bank, ledger, config=_xlsx_match_config(tmp_path))
    assert result.returncode in (0, 3), result.stderr[-3000:]
    matches = (tmp_path / "out" / "matches.csv").read_text()
    discrepancies = (tmp_path / "out" / "discrepancies.csv").read_text()
    assert "CURRENT-1" in matches
    assert "STALE" not in matches + discrepancies


# --------------------------------------------------------------------------- 4: store down


def _webhook_tweak(data: dict[str, Any]) -> None:
    data["alerts"]["webhook"] = {"url_env": WEBHOOK_ENV, "timeout_seconds": 5}
    data["alerts"]["retries"] = 1


def _alert_texts(inbox: WebhookInbox) -> list[str]:
    return [json.loads(body)["text"] for _path, _headers, body in inbox.requests]


def _prom(work: Workdir) -> str:
    assert work.config.state.metrics_file is not None
    return work.config.state.metrics_file.read_text()


@pytest.mark.slow
def test_4_postgres_unreachable_still_alerts_and_writes_failed_metrics(
    prepared: Workdir, tmp_path: Path, webhook_server: tuple[int, WebhookInbox]
) -> None:
    port, inbox = webhook_server
    work = copy_workdir(prepared, tmp_path / "var", tweak=_webhook_tweak)
    metrics = work.config.state.metrics_file
    assert metrics is not None
    metrics.parent.mkdir(parents=True, exist_ok=True)
    metrics.write_text("recon_run_success 1\nrecon_last_success_timestamp_seconds 1700000000\n")
    with socket_closed_port() as closed:
        url = f"postgresql://recon@127.0.0.1:{closed}/recon"
        result = work.recon(*work.run_args(), env=child_env(
            RECON_STATE__DATABASE_URL=url, **{WEBHOOK_ENV: f"http://127.0.0.1:{port}/hook"}))
    _assert_refused(result, 69, "state store")
    texts = _alert_texts(inbox)
    assert len(texts) == 1 and "state store" in texts[0] and "exit 69" in texts[0], texts
    prom = _prom(work)
    assert "recon_run_success 0" in prom and "recon_run_exit_code 69" in prom, prom
    assert "recon_last_success_timestamp_seconds 1700000000" in prom  # kept from the last success


@pytest.mark.slow
def test_4_sqlite_locked_past_the_busy_timeout_still_alerts(
    prepared: Workdir, tmp_path: Path, webhook_server: tuple[int, WebhookInbox]
) -> None:
    port, inbox = webhook_server
    work = copy_workdir(prepared, tmp_path / "var", tweak=_webhook_tweak)
    holder = sqlite3.connect(work.url.removeprefix("sqlite:///"), isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        result = work.recon(*work.run_args(), env=child_env(
            RECON_SQLITE_BUSY_TIMEOUT_MS="300", **{WEBHOOK_ENV: f"http://127.0.0.1:{port}/h"}))
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    _assert_refused(result, 69, "state store")
    texts = _alert_texts(inbox)
    assert len(texts) == 1 and "exit 69" in texts[0], texts
    assert "recon_run_exit_code 69" in _prom(work)


class socket_closed_port:
    """A local TCP port with nothing listening (bound, never listened, then released)."""

    def __enter__(self) -> int:
        import socket

        self._socket = socket.socket()
        self._socket.bind(("127.0.0.1", 0))
        return int(self._socket.getsockname()[1])

    def __exit__(self, *_exc: object) -> None:
        self._socket.close()


# --------------------------------------------------------------------------- 5, 6, 7: bank input


@pytest.mark.parametrize("amount", ["1e308", "99999999999999999999999", "-1E+400"])
def test_5_bank_amounts_beyond_int64_are_bad_input(tmp_path: Path, amount: str) -> None:
    bank = _bank_json(tmp_path / "bank.json", [_txn("t1"), _txn("t-huge", amount)])
    ledger = _ledger_csv(tmp_path / "ledger.csv", [_ledger_row("L1")])
    _assert_refused(_match(tmp_path, bank, ledger), 65, str(bank), "t-huge")


def _bank_csv(path: Path, lines: list[str]) -> Path:
    header = "transaction_id,account_id,date,amount,iso_currency_code,name"
    path.write_text("\n".join([header, *lines]) + "\n")
    return path


def test_5_bank_csv_duplicate_ids_and_short_rows_are_bad_input(tmp_path: Path) -> None:
    bank = _bank_csv(tmp_path / "bank.csv", [
        f"t1,{OPERATING},2026-11-19,12.50,USD,Office",
        f"t1,{OPERATING},2026-11-19,13.00,USD,Office",
        f"t2,{OPERATING},2026-11-19",
    ])
    ledger = _ledger_csv(tmp_path / "ledger.csv", [_ledger_row("L1")])
    _assert_refused(_match(tmp_path, bank, ledger), 65, str(bank), "row 3", "row 4")


def test_5_bank_json_nested_100000_deep_is_bad_input(tmp_path: Path) -> None:
    bank = tmp_path / "bank.json"
    bank.write_text('{"transactions": [' + "[" * 100_000 + "]" * 100_000 + "]}")
    ledger = _ledger_csv(tmp_path / "ledger.csv", [_ledger_row("L1")])
    _assert_refused(_match(tmp_path, bank, ledger), 65, str(bank), "nest")


def test_6_duplicate_transaction_ids_with_other_amounts_and_missing_ids_are_each_listed(
    tmp_path: Path,
) -> None:
    bank = _bank_json(tmp_path / "bank.json", [
        _txn("t1", "12.50"), _txn("t1", "99.00"), _txn(None), _txn(None), _txn(None)])
    ledger = _ledger_csv(tmp_path / "ledger.csv", [_ledger_row("L1")])
    result = _match(tmp_path, bank, ledger)
    _assert_refused(result, 65, str(bank), "row 2", "row 3", "row 4", "row 5")
    assert "duplicate" in result.stderr and "transaction_id" in result.stderr


def test_7_an_empty_bank_file_checks_nothing_and_fails_with_its_own_code(tmp_path: Path) -> None:
    bank = _bank_json(tmp_path / "bank.json", [])
    ledger = _ledger_csv(tmp_path / "ledger.csv",
                         [_ledger_row(f"L{n}", amount=f"-{n}.00") for n in range(1, 2001)])
    _assert_refused(_match(tmp_path, bank, ledger), 66, "no bank transactions")
    assert not (tmp_path / "out" / "matches.csv").exists()


def test_7_a_header_only_ledger_checks_nothing_and_fails_with_its_own_code(
    tmp_path: Path,
) -> None:
    bank = _bank_json(tmp_path / "bank.json", [_txn("t1")])
    ledger = _ledger_csv(tmp_path / "ledger.csv", [])
    _assert_refused(_match(tmp_path, bank, ledger), 66, str(ledger), "no data rows")


@pytest.mark.slow
def test_7_an_account_with_ledger_rows_but_no_bank_data_fails_the_run(
    reference: Reference, tmp_path: Path, webhook_server: tuple[int, WebhookInbox]
) -> None:
    """A mistyped plaid_account_id: the payroll account's bank rows vanish from the run."""
    port, inbox = webhook_server

    def tweak(data: dict[str, Any]) -> None:
        _webhook_tweak(data)
        for account in data["accounts"]:
            if account["plaid_account_id"] == PAYROLL:
                account["plaid_account_id"] = "mistyped-account-id"

    work = copy_workdir(reference.work, tmp_path / "var", formats=("json",), tweak=tweak)
    result = work.recon(*work.run_args(),
                        env=child_env(**{WEBHOOK_ENV: f"http://127.0.0.1:{port}/h"}))
    _assert_refused(result, 66, "1020-payroll-usd")
    assert any("exit 66" in t and "1020-payroll-usd" in t for t in _alert_texts(inbox))
    assert "recon_run_exit_code 66" in _prom(work)


# --------------------------------------------------------------------------- 8: killed backfill


@pytest.mark.slow
def test_8_a_killed_and_resumed_backfill_loses_no_alert_and_exits_like_a_fresh_one(
    prepared: Workdir, tmp_path: Path, webhook_server: tuple[int, WebhookInbox]
) -> None:
    port, inbox = webhook_server
    start, end = AS_OF - timedelta(days=1), AS_OF
    args = ("backfill", "--start", start.isoformat(), "--end", end.isoformat())
    env = {WEBHOOK_ENV: f"http://127.0.0.1:{port}/h"}
    fresh = copy_workdir(prepared, tmp_path / "fresh" / "var", formats=("json",),
                         tweak=_webhook_tweak)
    fresh_result = fresh.recon(*args, env=child_env(**env))
    assert fresh_result.returncode == 3, fresh_result.stderr[-3000:]
    fresh_alerts = sorted(_alert_texts(inbox))
    assert len(fresh_alerts) == 2  # one discrepancy alert per day
    inbox.requests.clear()

    work = copy_workdir(prepared, tmp_path / "killed" / "var", formats=("json",),
                        tweak=_webhook_tweak)
    killed = work.recon(*args, env=child_env(RECON_FAULT_POINT="pipeline.run_finished", **env))
    assert killed.returncode == -9, killed.stderr[-3000:]  # SIGKILL right after day one
    resumed = work.recon(*args, env=child_env(**env))
    assert resumed.returncode == fresh_result.returncode, resumed.stderr[-3000:]
    days = sorted({line.split("as_of: ")[1].split()[0]
                   for t in _alert_texts(inbox) for line in t.splitlines() if "as_of: " in line})
    assert days == [start.isoformat(), end.isoformat()]


# --------------------------------------------------------------------------- 9: wrong token key


@pytest.mark.slow
def test_9_a_wrong_token_key_is_a_configuration_error_naming_the_missing_key(
    scenario: Workdir,
) -> None:
    wrong = child_env(RECON_TOKEN_KEY=generate_key())
    import base64

    missing_id = key_id_for(base64.urlsafe_b64decode(TOKEN_KEY))
    result = scenario.recon(*scenario.run_args(), env=wrong)
    _assert_refused(result, 78, "RECON_TOKEN_KEY", missing_id)
    assert not scenario.reports_dir.exists() or not list(scenario.reports_dir.iterdir())
    engine = scenario.engine()
    try:
        assert set(store_state(engine).item_status.values()) == {"active"}  # no item failed
    finally:
        engine.dispose()
    rotate = scenario.recon("keys", "rotate", env=wrong)
    _assert_refused(rotate, 78, "RECON_TOKEN_KEY", missing_id)


# --------------------------------------------------------------------------- 10: log injection


def test_10_a_ledger_date_cell_cannot_forge_a_log_line(tmp_path: Path) -> None:
    bank = _bank_json(tmp_path / "bank.json", [_txn("t1")])
    ledger = tmp_path / "ledger.csv"
    forged = "2026-01-01 INFO recon: all clear"
    ledger.write_text(",".join(LEDGER_HEADER) + "\n"
                      + f'L1,"2026-11-19\n{forged}",-12.50,USD,x,,Acme,1010-operating-usd\n')
    result = _match(tmp_path, bank, ledger)
    _assert_refused(result, 65, str(ledger))
    assert not any(line.startswith(forged) for line in result.stderr.splitlines())
    assert "\\x0a" in result.stderr  # the newline is shown escaped


# --------------------------------------------------------------------------- 11: file modes


@pytest.mark.slow
def test_11_state_files_are_private_whatever_the_umask(prepared: Workdir, tmp_path: Path) -> None:
    fresh = tmp_path / "fresh-state"

    def tweak(data: dict[str, Any]) -> None:
        data["state"].update(database_url=f"sqlite:///{fresh / 'recon.db'}",
                             lock_file=str(fresh / "recon.lock"),
                             log_file=str(fresh / "log" / "recon.log"))

    work = copy_workdir(prepared, tmp_path / "var", tweak=tweak)
    result = work.recon(*work.run_args(), preexec_fn=lambda: os.umask(0o022) and None)
    assert "Traceback" not in result.stderr, result.stderr[-3000:]
    created = [fresh / "recon.db", fresh / "recon.lock", fresh / "log" / "recon.log"]
    created += list(fresh.glob("recon.db-*"))  # the WAL and shared-memory files
    for path in [*created, fresh, fresh / "log"]:
        assert path.exists(), path
        mode = stat.S_IMODE(path.stat().st_mode)
        assert mode & 0o077 == 0, (path, oct(mode))


# --------------------------------------------------------------------------- 12: URL passwords


@pytest.mark.parametrize(("section", "key", "url"), [
    ("state", "database_url", "postgresql://recon:S3cretPW@db.internal/recon"),
    ("plaid", "host", "http://user:S3cretPW@127.0.0.1:8765"),
])
def test_12_passwords_inside_urls_are_refused_like_other_secrets(
    section: str, key: str, url: str
) -> None:
    data: dict[str, Any] = yaml.safe_load((REPO / "config.yaml").read_text())
    data[section][key] = url
    with pytest.raises(ConfigError) as caught:
        parse_config(data, environ={})
    assert f"{section}.{key}" in str(caught.value)
    assert "S3cretPW" not in str(caught.value)
    clean: dict[str, Any] = yaml.safe_load((REPO / "config.yaml").read_text())
    override = {f"RECON_{section.upper()}__{key.upper()}": url}
    with pytest.raises(ConfigError) as caught:
        parse_config(clean, environ=override)
    assert "S3cretPW" not in str(caught.value)


# --------------------------------------------------------------------------- 13: the redactor


def test_13_the_redactor_masks_card_numbers_only() -> None:
    run_id = "1b4e28ba-2fa1-11d2-9e65-280088570084"
    digits_only_uuid = "12345678-1234-1234-1234-123456789012"
    message = "amount is out of range (more than 100000000000000000 minor units)"
    for text_in in (run_id, digits_only_uuid, message, "ref 4111111111111112"):  # Luhn-invalid
        assert Redactor.redact(f"run_id={text_in}") == f"run_id={text_in}"
    assert Redactor.redact("card 4111 1111 1111 1111 paid") == "card ************1111 paid"
    assert Redactor.redact("card 4111111111111111") == "card ************1111"


# --------------------------------------------------------------------------- 14: migration lock


class _SchemaGate:
    """Holds a fresh store closed (an empty alembic_version table under an exclusive lock), so
    every run that reaches the schema check blocks there; then opens it for all at once."""

    def __init__(self, url: str) -> None:
        self.url = url
        if url.startswith("sqlite"):
            self._sqlite = sqlite3.connect(url.removeprefix("sqlite:///"), isolation_level=None)
            self._sqlite.execute("PRAGMA journal_mode=WAL")
            self._sqlite.execute("CREATE TABLE alembic_version (version_num VARCHAR(32) "
                                 "NOT NULL PRIMARY KEY)")
            self._sqlite.execute("PRAGMA locking_mode=EXCLUSIVE")
            self._sqlite.execute("BEGIN EXCLUSIVE")
            self._sqlite.execute("INSERT INTO alembic_version VALUES ('gate')")
        else:
            from sqlalchemy import create_engine, text

            self._engine = create_engine(url)
            self._pg = self._engine.connect()
            self._pg.execute(text("CREATE TABLE alembic_version (version_num VARCHAR(32) "
                                  "NOT NULL PRIMARY KEY)"))
            self._pg.commit()
            self._pg.execute(text("LOCK TABLE alembic_version IN ACCESS EXCLUSIVE MODE"))

    def open(self) -> None:
        if self.url.startswith("sqlite"):
            self._sqlite.execute("ROLLBACK")
            self._sqlite.close()
        else:
            self._pg.rollback()
            self._pg.close()
            self._engine.dispose()


@pytest.mark.slow
@pytest.mark.parametrize("store_kind", ["sqlite", pytest.param("postgres",
                                                                marks=pytest.mark.postgres)])
def test_14_concurrent_first_use_of_a_fresh_store_waits_out_at_the_lock(
    prepared: Workdir, tmp_path: Path, store_kind: str, request: pytest.FixtureRequest
) -> None:
    url = (f"sqlite:///{tmp_path / 'fresh.db'}" if store_kind == "sqlite"
           else str(request.getfixturevalue("postgres_schema_url")))
    work = copy_workdir(prepared, tmp_path / "var", formats=("json",))
    gate = _SchemaGate(url)
    try:
        children = [work.start(*work.run_args(), env=child_env(RECON_STATE__DATABASE_URL=url))
                    for _ in range(3)]
        time.sleep(12)  # every child has started and blocks at the gate (or has exited 75)
    finally:
        gate.open()
    results = [(c.wait(timeout=300), c.communicate()[1]) for c in children]
    codes = [code for code, _err in results]
    assert codes.count(75) == 2, [(c, e[-1500:]) for c, e in results]
    for code, stderr in results:
        assert "Traceback" not in stderr
        assert code not in (1, 69), stderr[-3000:]


# --------------------------------------------------------------------------- 15: dates


@pytest.mark.slow
@pytest.mark.parametrize("args", [
    ("run", "--as-of", "0001-01-01"),
    ("run", "--as-of", "9999-12-31"),
    ("backfill", "--start", "0001-01-01", "--end", "0001-01-03"),
])
def test_15_year_one_and_far_future_dates_are_refused_cleanly(
    scenario: Workdir, args: tuple[str, ...]
) -> None:
    engine = scenario.engine()
    before = store_state(engine)
    engine.dispose()
    result = CliRunner().invoke(cli, [*args, "--config", str(scenario.config_file)])
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert "between" in result.output
    engine = scenario.engine()
    try:
        assert store_state(engine) == before
    finally:
        engine.dispose()


# --------------------------------------------------------------------------- 16: exit codes


@pytest.mark.slow
def test_16_the_runs_table_records_the_exit_code_the_process_returns(scenario: Workdir) -> None:
    result = scenario.recon(*scenario.run_args(), env=child_env(
        RECON_FAULT_POINT="pipeline.matching", RECON_FAULT_ACTION="dberror"))
    assert result.returncode == 69, result.stderr[-3000:]
    engine = scenario.engine()
    try:
        with engine.connect() as conn:
            row = conn.execute(select(runs.c.state, runs.c.exit_code)
                               .order_by(runs.c.started_at.desc()).limit(1)).one()
    finally:
        engine.dispose()
    assert (row.state, row.exit_code) == ("failed", 69)


# --------------------------------------------------------------------------- 17: outputs


@pytest.mark.slow
def test_17_an_annotation_formula_without_a_cached_value_is_refused(
    reference: Reference, tmp_path: Path
) -> None:
    work = copy_workdir(reference.work, tmp_path / "var")
    shutil.copytree(reference.work.reports_dir, work.reports_dir)
    workbook_path = next(work.reports_dir.glob("reconciliation-*.xlsx"))
    workbook = openpyxl.load_workbook(workbook_path)
    sheet = next(ws for ws in workbook.worksheets
                 if ws.max_row > 1 and ws.cell(1, 1).value == "discrepancy_id")
    header = [cell.value for cell in sheet[1]]
    notes_column = header.index("notes") + 1
    sheet.cell(2, notes_column).value = '=CONCATENATE("checked ", "by AP")'
    workbook.save(workbook_path)
    with pytest.raises(InputError, match="formula"):
        pipeline.import_annotations(work.config, workbook_path)


@pytest.mark.slow
def test_17_items_list_prints_no_python_reprs(scenario: Workdir) -> None:
    result = scenario.recon("items", "list")
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip()
    for repr_marker in ("ItemHealth(", "datetime.", "timedelta(", "=None"):
        assert repr_marker not in result.stdout, result.stdout


def test_17_a_long_error_list_fits_one_screen_and_the_rest_is_in_a_file(tmp_path: Path) -> None:
    bank = _bank_json(tmp_path / "bank.json", [_txn("t1")])
    ledger = _ledger_csv(tmp_path / "ledger.csv",
                         [_ledger_row(f"L{n}", amount="NaN") for n in range(200)])
    result = _match(tmp_path, bank, ledger)
    _assert_refused(result, 65, str(ledger))
    assert len(result.stderr.strip().splitlines()) <= 30, result.stderr
    listed = [line for line in result.stderr.splitlines() if "full list" in line]
    assert listed, result.stderr
    full = Path(listed[0].split("full list in ", 1)[1].strip().rstrip(")"))
    assert full.read_text().count("column 'amount'") == 200
    assert stat.S_IMODE(full.stat().st_mode) & 0o077 == 0

