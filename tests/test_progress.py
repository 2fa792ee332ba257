"""Stage timings and row counts in the logs and metrics; progress bars only on a terminal."""

from __future__ import annotations

import io
import json
import logging
import re
import sys
from pathlib import Path

import pytest
from rich.console import Console
from sqlalchemy import select
from test_export import AS_OF, night

from recon import pipeline
from recon.config import Config
from recon.logs import setup_logging
from recon.metrics import metrics_for_run, render_metrics
from recon.progress import ProgressDisplay, Stages
from recon.store.db import open_store
from recon.store.schema import runs

__all__ = ["night"]  # the reconciled night of test_export, used as a fixture here


def test_every_stage_logs_its_duration_and_rows(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="recon.progress")
    stages = Stages()
    with stages("sync", unit="pages") as stage:
        stage.advance(rows=500)
        stage.advance(rows=120)
    with pytest.raises(RuntimeError), stages("match") as stage:
        stage.rows = 7
        raise RuntimeError("matching failed")
    with stages("sync", unit="pages") as stage:
        stage.advance(rows=3)
    records = [r for r in caplog.records if r.name == "recon.progress"]
    assert [(r.getMessage(), r.stage, r.rows) for r in records] == [  # type: ignore[attr-defined]
        ("stage finished", "sync", 620), ("stage stopped", "match", 7),
        ("stage finished", "sync", 3)]
    assert (records[0].steps, records[0].unit) == (2, "pages")  # type: ignore[attr-defined]
    assert all(r.seconds >= 0 for r in records)  # type: ignore[attr-defined]
    assert stages.rows == {"sync": 623, "match": 7}
    assert set(stages.seconds) == {"sync", "match"}


def test_stage_rows_reach_the_prometheus_metrics() -> None:
    from datetime import UTC, date, datetime

    metrics = metrics_for_run(
        run_id="r1", as_of=date(2026, 11, 20), timings={"sync": 1.5, "load": 0.25},
        counts={"stage_rows": {"sync": 620, "load": 2000}}, result=None, report=None,
        sync_outcomes=[], exit_code=0, failed=False, now=datetime(2026, 11, 21, tzinfo=UTC),
        sync_queue=(2, 1))
    text = render_metrics(metrics, last_success=None)
    assert 'recon_step_duration_seconds{step="sync"} 1.5' in text
    assert 'recon_stage_rows{step="load"} 2000' in text
    assert 'recon_stage_rows{step="sync"} 620' in text
    assert "recon_sync_queue_jobs 2" in text and "recon_sync_dead_letters 1" in text


def test_no_bars_when_stderr_is_not_a_terminal_or_logs_are_json(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FORCE_COLOR", "1")  # set in many CI and cron environments
    monkeypatch.setattr(sys, "stderr", io.StringIO())
    assert ProgressDisplay.for_terminal() is None

    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    monkeypatch.setattr(sys, "stderr", Tty())
    assert ProgressDisplay.for_terminal(enabled=False) is None  # --json-logs
    assert isinstance(ProgressDisplay.for_terminal(), ProgressDisplay)


def test_bars_show_each_stage_and_logs_print_above_them(tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    screen = io.StringIO()
    monkeypatch.setattr(sys, "stderr", screen)
    setup_logging(level="INFO", stream=sys.stderr)
    display = ProgressDisplay(Console(file=screen, force_terminal=True, width=110))
    try:
        with display:
            stages = Stages(display)
            display.begin("backfill", "backfill days", 2)
            for day in (1, 2):
                with stages("sync", unit="pages") as stage:
                    stage.advance(rows=500)
                with stages("load") as stage:
                    stage.done(rows=2000)
                with stages("report", total=2, unit="formats") as stage:
                    stage.advance()
                    logging.getLogger("recon.test").info("a log line while the bars are live")
                    stage.advance()
                display.advance("backfill", 1, f"{day}/2 days")
    finally:
        setup_logging(level="INFO")
    text = screen.getvalue()
    for label in ("backfill days", "sync pages", "ledger rows read", "report writing"):
        assert label in text
    assert "1 pages, 500 rows" in text and "2,000 rows" in text and "2/2 days" in text
    assert "2 formats" in text
    shown = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", text)  # what the terminal shows
    lines = [line for line in shown.splitlines() if "a log line while the bars are live" in line]
    assert len(lines) == 2  # one per day: whole lines, above the bars, never wrapped
    assert all(line.startswith("ts=") and line.endswith('bars are live"') for line in lines)


def test_a_run_records_stage_timings_and_rows_everywhere(
        night: Config, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="recon.progress")
    metrics_file = tmp_path / "metrics" / "recon.prom"
    config = night.model_copy(update={"state": night.state.model_copy(
        update={"metrics_file": metrics_file})})
    screen = io.StringIO()
    display = ProgressDisplay(Console(file=screen, force_terminal=True, width=120))
    with display:
        outcome = pipeline.run(config, as_of=AS_OF, display=display)

    stages = ("sync", "load", "match", "save", "report")
    logged = {r.stage: r for r in caplog.records  # type: ignore[attr-defined]
              if r.name == "recon.progress" and r.getMessage() == "stage finished"}
    assert set(logged) == set(stages)
    assert logged["load"].rows == 2  # type: ignore[attr-defined]  # ledger rows read
    assert logged["match"].rows == 4  # type: ignore[attr-defined]  # 2 bank + 2 ledger rows
    assert logged["save"].rows == 3  # type: ignore[attr-defined]  # 1 link + 2 discrepancies
    assert outcome.counts["stage_rows"] == {s: logged[s].rows for s in stages}  # type: ignore[attr-defined]

    engine = open_store(config.state.database_url)
    with engine.connect() as conn:
        timings = json.loads(conn.execute(select(runs.c.timings_json)
                                          .where(runs.c.run_id == outcome.run_id)).scalar_one())
    engine.dispose()
    assert set(timings) == set(stages)
    text = metrics_file.read_text()
    for stage in stages:
        assert f'recon_step_duration_seconds{{step="{stage}"}}' in text
        assert f'recon_stage_rows{{step="{stage}"}} {logged[stage].rows}' in text  # type: ignore[attr-defined]
    assert "recon_sync_queue_jobs 0" in text and "recon_sync_dead_letters 0" in text
    for label in ("sync pages", "ledger rows read", "matching", "saving results",
                  "report writing", "1 formats"):
        assert label in screen.getvalue()
    assert f"{len(config.matching.passes)} passes, 4 rows" in screen.getvalue()  # one per pass
