"""Prometheus text output: parsed back with a strict parser of the exposition format."""

from __future__ import annotations

import os
import re
import stat
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from recon.metrics import OpenDiscrepancies, RunMetrics, read_last_success, write_metrics

pytestmark = pytest.mark.timeout(30)

_NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
_LABEL_VALUE = r'"(?:[^"\\\n]|\\\\|\\"|\\n)*"'
_LABEL = rf"[a-zA-Z_][a-zA-Z0-9_]*={_LABEL_VALUE}"
_SAMPLE = re.compile(
    rf"^(?P<name>{_NAME})(?:\{{(?P<labels>{_LABEL}(?:,{_LABEL})*)\}})? "
    r"(?P<value>[+-]?(?:[0-9]+(?:\.[0-9]*)?(?:[eE][+-]?[0-9]+)?|Inf|NaN))$"
)
_LABEL_PAIR = re.compile(rf"([a-zA-Z_][a-zA-Z0-9_]*)=({_LABEL_VALUE})")


@dataclass(frozen=True)
class Sample:
    name: str
    labels: dict[str, str]
    value: str  # the exact text, so Decimal amounts can be compared exactly


def _unescape(quoted: str) -> str:
    body = quoted[1:-1]
    return re.sub(r"\\(.)", lambda m: {"n": "\n"}.get(m.group(1), m.group(1)), body)


def parse_exposition(text: str) -> tuple[dict[str, str], dict[str, str], list[Sample]]:
    """Strict: every line is HELP, TYPE or a sample; TYPE precedes its samples; no duplicates."""
    assert text.endswith("\n")
    helps: dict[str, str] = {}
    types: dict[str, str] = {}
    samples: list[Sample] = []
    seen: set[tuple[str, tuple[tuple[str, str], ...]]] = set()
    for line in text.splitlines():
        if line.startswith("# HELP "):
            name, help_text = line[7:].split(" ", 1)
            assert re.fullmatch(_NAME, name) and name not in helps
            helps[name] = help_text
        elif line.startswith("# TYPE "):
            name, kind = line[7:].split(" ")
            assert kind in {"gauge", "counter", "histogram", "summary", "untyped"}
            assert name not in types, f"TYPE twice for {name}"
            types[name] = kind
        else:
            match = _SAMPLE.match(line)
            assert match, f"not a valid sample line: {line!r}"
            name = match["name"]
            assert name in types, f"sample before its TYPE: {name}"
            labels = {k: _unescape(v) for k, v in _LABEL_PAIR.findall(match["labels"] or "")}
            key = (name, tuple(sorted(labels.items())))
            assert key not in seen, f"duplicate series {key}"
            seen.add(key)
            samples.append(Sample(name, labels, match["value"]))
    return helps, types, samples


def _value(samples: list[Sample], name: str, **labels: str) -> str:
    found = [s.value for s in samples if s.name == name and s.labels == labels]
    assert len(found) == 1, (name, labels, found)
    return found[0]


def _metrics(exit_code: int, finished: datetime, **overrides: object) -> RunMetrics:
    values: dict[str, object] = {
        "run_id": "run-1",
        "state": "succeeded" if exit_code in (0, 3) else "failed",
        "exit_code": exit_code,
        "finished_at": finished,
        "step_seconds": {"sync": 12.5, "match": 3.25, "report": 1.0},
        "transactions_synced": 1234,
        "match_rate": 0.975,
        "open_discrepancies": (
            OpenDiscrepancies("missing_in_ledger", "USD", 3, Decimal("12345678901234567.89")),
            OpenDiscrepancies("amount_mismatch", "JPY", 2, Decimal("1500")),
            OpenDiscrepancies('weird "kind"\\\nx', "KWD", 1, Decimal("0.125")),
        ),
        "oldest_open_age_days": 17,
        "items_needing_relink": 1,
    }
    values.update(overrides)
    return RunMetrics(**values)  # type: ignore[arg-type]


def test_success_file_parses_and_holds_exact_values(tmp_path: Path) -> None:
    path = tmp_path / "metrics" / "recon.prom"
    finished = datetime(2025, 3, 9, 7, 45, 0, tzinfo=UTC)
    write_metrics(path, _metrics(0, finished))

    helps, types, samples = parse_exposition(path.read_text())
    assert set(types.values()) == {"gauge"}
    assert set(helps) == set(types)
    assert all(name.startswith("recon_") for name in types)

    assert _value(samples, "recon_run_info", run_id="run-1", state="succeeded") == "1"
    assert _value(samples, "recon_run_exit_code") == "0"
    assert _value(samples, "recon_run_success") == "1"
    assert float(_value(samples, "recon_run_duration_seconds")) == 16.75
    assert _value(samples, "recon_step_duration_seconds", step="sync") == "12.5"
    assert _value(samples, "recon_transactions_synced") == "1234"
    assert _value(samples, "recon_match_rate") == "0.975"
    assert _value(samples, "recon_open_discrepancies",
                  kind="missing_in_ledger", currency="USD") == "3"
    # Amounts are written from the Decimal text: no float rounding of 17 significant digits.
    assert _value(samples, "recon_open_discrepancy_amount",
                  kind="missing_in_ledger", currency="USD") == "12345678901234567.89"
    assert _value(samples, "recon_open_discrepancy_amount",
                  kind="amount_mismatch", currency="JPY") == "1500"
    # Label escaping round-trips a quote, a backslash and a newline.
    assert _value(samples, "recon_open_discrepancies",
                  kind='weird "kind"\\\nx', currency="KWD") == "1"
    assert _value(samples, "recon_oldest_open_discrepancy_age_days") == "17"
    assert _value(samples, "recon_items_needing_relink") == "1"
    assert float(_value(samples, "recon_last_success_timestamp_seconds")) == finished.timestamp()
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o644
    assert os.listdir(path.parent) == ["recon.prom"]  # no temp file left behind


def test_failed_run_keeps_the_previous_last_success(tmp_path: Path) -> None:
    path = tmp_path / "recon.prom"
    good = datetime(2025, 3, 8, 7, 0, 0, tzinfo=UTC)
    write_metrics(path, _metrics(3, good))  # exit 3 is a completed run
    assert read_last_success(path) == good.timestamp()

    failed_at = datetime(2025, 3, 9, 7, 0, 0, tzinfo=UTC)
    write_metrics(path, _metrics(69, failed_at, match_rate=None, oldest_open_age_days=None))
    _helps, _types, samples = parse_exposition(path.read_text())
    assert _value(samples, "recon_run_success") == "0"
    assert _value(samples, "recon_run_exit_code") == "69"
    assert float(_value(samples, "recon_run_finished_timestamp_seconds")) == failed_at.timestamp()
    assert float(_value(samples, "recon_last_success_timestamp_seconds")) == good.timestamp()
    assert not [s for s in samples if s.name in (
        "recon_match_rate", "recon_oldest_open_discrepancy_age_days")]

    # Still kept after a second failure, and set again by the next success.
    write_metrics(path, _metrics(1, failed_at))
    assert read_last_success(path) == good.timestamp()
    later = datetime(2025, 3, 10, 7, 0, 0, tzinfo=UTC)
    write_metrics(path, _metrics(0, later))
    assert read_last_success(path) == later.timestamp()


def test_first_run_failing_has_no_last_success(tmp_path: Path) -> None:
    path = tmp_path / "recon.prom"
    write_metrics(path, _metrics(1, datetime(2025, 3, 9, tzinfo=UTC)))
    _helps, types, _samples = parse_exposition(path.read_text())
    assert "recon_last_success_timestamp_seconds" not in types
    assert read_last_success(path) is None


def test_write_is_atomic_replace(tmp_path: Path) -> None:
    path = tmp_path / "recon.prom"
    path.write_text("# old content\n")
    reader = path.open()  # a scrape that opened the old file keeps reading the old file
    write_metrics(path, _metrics(0, datetime(2025, 3, 9, tzinfo=UTC)))
    assert reader.read() == "# old content\n"
    reader.close()
    assert path.read_text().startswith("# HELP recon_run_info ")


def test_non_finite_amount_is_refused(tmp_path: Path) -> None:
    bad = _metrics(0, datetime(2025, 3, 9, tzinfo=UTC),
                   open_discrepancies=(OpenDiscrepancies("x", "USD", 1, Decimal("NaN")),))
    with pytest.raises(ValueError, match="finite"):
        write_metrics(tmp_path / "recon.prom", bad)
    assert not (tmp_path / "recon.prom").exists()
    assert os.listdir(tmp_path) == []


def test_grafana_dashboard_uses_only_metrics_recon_writes(tmp_path: Path) -> None:
    import json

    dashboard = json.loads(
        (Path(__file__).resolve().parents[1] / "jobs" / "grafana-dashboard.json").read_text()
    )
    path = tmp_path / "recon.prom"
    write_metrics(path, _metrics(0, datetime(2025, 3, 9, tzinfo=UTC)))
    _helps, written, _samples = parse_exposition(path.read_text())
    used = {
        name
        for panel in dashboard["panels"]
        for target in panel["targets"]
        for name in re.findall(r"\brecon_[a-z_]+", target["expr"])
    }
    assert used, "the dashboard queries no recon metric"
    assert used <= set(written), used - set(written)
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids))


def test_metrics_for_run_counts_open_items_exactly() -> None:
    from types import SimpleNamespace

    from recon.metrics import metrics_for_run

    def line(kind: str, currency: str, minor: int, status: str = "open") -> SimpleNamespace:
        return SimpleNamespace(kind=kind, currency=currency, amount_minor=minor, status=status)

    report = SimpleNamespace(
        items=[line("unmatched_bank", "USD", -1005), line("unmatched_bank", "USD", 2),
                       line("unmatched_bank", "USD", 999_999, status="explained"),
                       line("amount_mismatch", "JPY", 1500), line("amount_mismatch", "KWD", 1)],
        summary=SimpleNamespace(auto_match_rate=0.5, oldest_open_age_days=9,
                                items_needing_relink=(object(),)),
    )
    outcomes = [SimpleNamespace(status="needs_relink"), SimpleNamespace(status="ok")]
    metrics = metrics_for_run(
        run_id="r", as_of=datetime(2025, 3, 9).date(), timings={"sync": 1.5},
        counts={"transactions_synced": 7}, result=None, report=report,  # type: ignore[arg-type]
        sync_outcomes=outcomes, exit_code=0, failed=False,  # type: ignore[arg-type]
        now=datetime(2025, 3, 9, tzinfo=UTC),
    )
    assert list(metrics.open_discrepancies) == [
        OpenDiscrepancies("amount_mismatch", "JPY", 1, Decimal("1500")),
        OpenDiscrepancies("amount_mismatch", "KWD", 1, Decimal("0.001")),
        OpenDiscrepancies("unmatched_bank", "USD", 2, Decimal("10.07")),
    ]
    assert (metrics.match_rate, metrics.oldest_open_age_days, metrics.items_needing_relink,
            metrics.transactions_synced, metrics.state) == (0.5, 9, 1, 7, "succeeded")
