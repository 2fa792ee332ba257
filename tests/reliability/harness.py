"""The harness of the hardening suite: one prepared demo dataset and one fault-free reference
run per module, a fresh copy of the prepared work folder per scenario, and the end-of-scenario
checks every scenario ends with (nothing lost, nothing duplicated, cursor, reports, lock, DB)."""

from __future__ import annotations

import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import Engine, select, text

from recon import pipeline
from recon.config import Config, load_config
from recon.demo import link_demo_banks, prepare_demo_data
from recon.lock import single_instance
from recon.plaid.tokens import generate_key
from recon.store.db import open_store
from recon.store.schema import (
    bank_transactions,
    discrepancies,
    items,
    ledger_entries,
    ledger_snapshots,
    matches,
    runs,
    sync_cursors,
)

REPO = Path(__file__).resolve().parents[2]
AS_OF = date(2026, 11, 20)
TOKEN_KEY_ENV = "RECON_TOKEN_KEY"
TOKEN_KEY = generate_key()
ALL_FORMATS = ("xlsx", "html", "csv", "json")
FINAL_RUN_STATES = ("succeeded", "failed", "crashed")

Rows = list[tuple[Any, ...]]


def child_env(**extra: str) -> dict[str, str]:
    """The environment of a `recon` child: no inherited RECON_* overrides or fault points."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RECON_", "PLAID_"))}
    env[TOKEN_KEY_ENV] = TOKEN_KEY
    env.update(extra)
    return env


def config_data(root: Path, *, formats: tuple[str, ...] = ALL_FORMATS,
                database_url: str | None = None) -> dict[str, Any]:
    """The repository's config.yaml with every path pointed into the work folder ``root``."""
    data: dict[str, Any] = yaml.safe_load((REPO / "config.yaml").read_text())
    data["plaid"]["emulator_fixtures"] = str(root / "demo" / "plaid-fixtures.json")
    data["plaid"]["retry"] = {"max_attempts": 3, "base_delay_seconds": 0.01,
                              "max_delay_seconds": 0.05}
    data["plaid"]["timeout_seconds"] = 5
    data["ledger"]["path"] = str(root / "demo" / "ledger.csv")
    data["reports"]["output_dir"] = str(root / "reports")
    data["reports"]["formats"] = list(formats)
    data["state"].update(
        database_url=database_url or f"sqlite:///{root / 'recon.db'}",
        lock_file=str(root / "recon.lock"),
        metrics_file=str(root / "metrics" / "recon.prom"),
        log_file=str(root / "log" / "recon.log"),
    )
    return data


@dataclass
class Workdir:
    """One scenario's copy of the prepared demo: its config file, config and state store."""

    root: Path
    config_file: Path
    config: Config

    @classmethod
    def create(cls, root: Path, *, formats: tuple[str, ...] = ALL_FORMATS,
               database_url: str | None = None,
               tweak: Callable[[dict[str, Any]], None] | None = None) -> Workdir:
        data = config_data(root, formats=formats, database_url=database_url)
        if tweak is not None:
            tweak(data)
        config_file = root / "config.yaml"
        config_file.write_text(yaml.safe_dump(data))
        return cls(root, config_file, load_config(config_file))

    @property
    def url(self) -> str:
        return self.config.state.database_url

    @property
    def reports_dir(self) -> Path:
        return self.config.reports.output_dir

    def recon(self, *args: str, env: dict[str, str] | None = None, timeout: float = 300,
              preexec_fn: Callable[[], None] | None = None) -> subprocess.CompletedProcess[str]:
        """`python -m recon ARGS --config FILE` as a real child process (fd-level capture)."""
        return subprocess.run(
            [sys.executable, "-m", "recon", *args, "--config", str(self.config_file)],
            env=env or child_env(), capture_output=True, text=True, timeout=timeout,
            check=False, preexec_fn=preexec_fn, cwd=self.root,
        )

    def run_args(self) -> list[str]:
        return ["run", "--as-of", AS_OF.isoformat()]

    def start(self, *args: str, env: dict[str, str] | None = None,
              preexec_fn: Callable[[], None] | None = None) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [sys.executable, "-m", "recon", *(args or self.run_args()), "--config",
             str(self.config_file)],
            env=env or child_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            preexec_fn=preexec_fn, cwd=self.root,
        )

    def run(self, **fault_env: str) -> subprocess.CompletedProcess[str]:
        return self.recon(*self.run_args(), env=child_env(**fault_env))

    def engine(self) -> Engine:
        return open_store(self.url)


def prepare_workdir(root: Path, *, database_url: str | None = None) -> Workdir:
    """Generated demo data, the emulator's fixtures and the demo banks linked (nothing synced)."""
    prepare_demo_data(root, AS_OF)
    work = Workdir.create(root, database_url=database_url)
    link_demo_banks(work.config)
    return work


def copy_workdir(source: Workdir, root: Path, *, formats: tuple[str, ...] = ALL_FORMATS,
                 tweak: Callable[[dict[str, Any]], None] | None = None) -> Workdir:
    shutil.copytree(source.root, root)
    for stale in (root / "reports", root / "log", root / "metrics"):
        shutil.rmtree(stale, ignore_errors=True)
    return Workdir.create(root, formats=formats, tweak=tweak)


# --------------------------------------------------------------------------- the observed state


@dataclass(frozen=True)
class StoreState:
    bank: Rows  # live bank transactions
    tombstoned: Rows
    bank_row_count: int
    cursors: dict[str, str]
    item_status: dict[str, str]
    ledger: Rows  # the ledger rows of the newest succeeded run's snapshot
    matches: Rows
    discrepancies: Rows
    run_states: list[str]


def _rows(conn: Any, query: Any) -> Rows:
    return sorted((tuple(row) for row in conn.execute(query)), key=repr)


def store_state(engine: Engine) -> StoreState:
    b = bank_transactions
    with engine.connect() as conn:
        live = _rows(conn, select(b.c.transaction_id, b.c.item_id, b.c.account_id,
                                  b.c.amount_minor, b.c.currency, b.c.date, b.c.pending,
                                  b.c.name).where(b.c.removed_at.is_(None)))
        dead = _rows(conn, select(b.c.transaction_id).where(b.c.removed_at.is_not(None)))
        count = conn.execute(text("SELECT count(*) FROM bank_transactions")).scalar_one()
        cursors = {r.item_id: r.cursor for r in conn.execute(select(sync_cursors))}
        status = {r.item_id: r.status for r in conn.execute(select(items))}
        newest = conn.execute(
            select(ledger_snapshots.c.snapshot_id)
            .join(runs, runs.c.run_id == ledger_snapshots.c.run_id)
            .where(runs.c.state == "succeeded", runs.c.as_of == AS_OF)
            .order_by(runs.c.started_at.desc()).limit(1)).scalar()
        le = ledger_entries
        ledger = _rows(conn, select(le.c.entry_id, le.c.account, le.c.currency,
                                    le.c.amount_minor, le.c.date, le.c.description)
                       .where(le.c.snapshot_id == newest))
        m = matches
        match_rows = _rows(conn, select(m.c.as_of, m.c.match_id, m.c.bank_transaction_id,
                                        m.c.ledger_entry_id, m.c.status, m.c.rule,
                                        m.c.amount_difference_minor))
        d = discrepancies
        disc_rows = _rows(conn, select(d.c.discrepancy_id, d.c.kind, d.c.side,
                                       d.c.bank_transaction_id, d.c.ledger_entry_id,
                                       d.c.amount_minor, d.c.status, d.c.first_seen,
                                       d.c.last_seen, d.c.resolved_on))
        states = list(conn.execute(select(runs.c.state).order_by(runs.c.started_at)).scalars())
    return StoreState(live, dead, int(count), cursors, status, ledger, match_rows, disc_rows,
                      states)


_TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\d[T ]\d\d:\d\d(:\d\d(\.\d+)?)?([+-]\d\d:?\d\d|Z| UTC)?")
# Excel date-time serials (generation and last-sync times); money never has 6+ decimals.
_XLSX_DATETIME = re.compile(r"<v>4\d{4}\.\d{6,}</v>")
_RUN_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


# "Changes since the previous run" depends on which runs came before (a re-run after a fault
# compares with the run before it, the reference with none): not part of the comparison.
_HTML_CHANGES = re.compile(r'<section id="changes">.*?</section>', re.S)
_JSON_CHANGES = re.compile(r'"changes": \{(?:[^{}]|\{[^{}]*\})*\}')
_XLSX_CHANGES_RANGE = re.compile(r"'?Changes'?![$A-Z0-9:]+")


def _normalised(content: str) -> str:
    """Report text without the run metadata (run id, generation time, durations) and without
    the changes since the previous run."""
    if "<t>Compared with " in content:  # the workbook's Changes sheet
        return "<changes>"
    content = _JSON_CHANGES.sub('"changes": {}', _HTML_CHANGES.sub("<changes>", content))
    content = _XLSX_CHANGES_RANGE.sub("'Changes'!<range>", content)
    content = _XLSX_DATETIME.sub("<v><time></v>", content)
    return _TIMESTAMP.sub("<time>", _RUN_ID.sub("<run>", content))


def report_texts(reports_dir: Path) -> dict[str, str]:
    """Every final report file (temp files excluded) as normalised text; XLSX parts unzipped."""
    texts: dict[str, str] = {}
    if not reports_dir.exists():
        return texts
    for path in sorted(reports_dir.iterdir()):
        if path.name.startswith("."):
            continue
        if path.suffix == ".xlsx":
            with zipfile.ZipFile(path) as archive:
                for name in sorted(archive.namelist()):
                    if name.startswith("docProps/"):  # creation time of the workbook
                        continue
                    data = archive.read(name).decode("utf-8", "replace")
                    texts[f"{path.name}!{name}"] = _normalised(data)
        else:
            texts[path.name] = _normalised(path.read_text(encoding="utf-8"))
    return texts


def temp_report_files(reports_dir: Path) -> list[str]:
    if not reports_dir.exists():
        return []
    return sorted(p.name for p in reports_dir.iterdir() if p.name.startswith("."))


@dataclass(frozen=True)
class Reference:
    work: Workdir
    state: StoreState
    reports: dict[str, str]


def reference_run(prepared: Workdir, root: Path) -> Reference:
    work = copy_workdir(prepared, root)
    outcome = pipeline.run(work.config, as_of=AS_OF)
    assert outcome.exit_code in (0, 3), outcome.summary_lines
    engine = work.engine()
    try:
        state = store_state(engine)
    finally:
        engine.dispose()
    return Reference(work, state, report_texts(work.reports_dir))


# --------------------------------------------------------------------------- end-of-scenario checks


def assert_lock_free(work: Workdir) -> None:
    engine = work.engine()
    try:
        with single_instance(work.config.state, engine):
            pass
    finally:
        engine.dispose()


def assert_db_healthy(work: Workdir) -> None:
    if not work.url.startswith("sqlite"):
        return
    connection = sqlite3.connect(work.url.removeprefix("sqlite:///"))
    try:
        assert connection.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        assert connection.execute("PRAGMA foreign_key_check").fetchall() == []
    finally:
        connection.close()


def assert_store_equals(state: StoreState, expected: StoreState) -> None:
    ids = [row[0] for row in state.bank]
    assert len(ids) == len(set(ids))
    assert state.bank == expected.bank  # nothing lost, nothing duplicated, same amounts
    assert state.tombstoned == expected.tombstoned
    assert state.bank_row_count == expected.bank_row_count
    assert state.cursors == expected.cursors  # the last fully committed cursor
    assert state.ledger == expected.ledger and state.ledger  # every accepted row exactly once
    assert state.matches == expected.matches
    # A run of the same day that saw other data (one bank missing) leaves its discrepancies
    # resolved on that day by the re-run (their lifecycle is kept for audit); the open ones are
    # exactly the reference's.
    assert [d for d in state.discrepancies if d[-1] is None] == expected.discrepancies


def assert_like_reference(work: Workdir, reference: Reference, *, reports: bool = True) -> None:
    """The common end of every scenario that finished with a successful (re-)run."""
    engine = work.engine()
    try:
        state = store_state(engine)
    finally:
        engine.dispose()
    assert_store_equals(state, reference.state)
    assert state.run_states[-1] == "succeeded"
    assert set(state.run_states) <= set(FINAL_RUN_STATES)  # no run left "running"
    if reports:
        got = report_texts(work.reports_dir)
        expected = {k: v for k, v in reference.reports.items()
                    if k.split("!")[0].rsplit(".", 1)[-1] in work.config.reports.formats}
        assert sorted(got) == sorted(expected)
        for name in expected:
            assert got[name] == expected[name], name
    assert_lock_free(work)
    assert_db_healthy(work)


def assert_failed_cleanly(work: Workdir, before: StoreState, result: Any, code: int,
                          *, message: str) -> None:
    """A run that failed: the documented exit code, a clear message, nothing half-written."""
    assert result.returncode == code, result.stderr[-3000:]
    assert message in result.stderr, result.stderr[-3000:]
    assert "Traceback" not in result.stderr
    engine = work.engine()
    try:
        after = store_state(engine)
    finally:
        engine.dispose()
    assert after.bank == before.bank and after.cursors == before.cursors
    assert after.ledger == before.ledger and after.matches == before.matches
    assert after.run_states[-1] == "failed"
    assert temp_report_files(work.reports_dir) == []
    assert_lock_free(work)
    assert_db_healthy(work)


def summary_json(work: Workdir) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(
        (work.reports_dir / f"summary-{AS_OF}.json").read_text())
    return document
