"""Run metrics as a Prometheus text file (node_exporter textfile-collector style).

One file, rewritten at the end of every run: written to a temporary name in the same folder
(without the ``.prom`` suffix, so the collector ignores it), fsynced, then ``os.replace``d, so a
scrape never sees half a file. ``recon_last_success_timestamp_seconds`` survives failed runs: it
is read back from the previous file, which makes "time since the last good run" alertable.

Money values are written from their Decimal text, never through a float, so the file holds the
exact amount (Prometheus itself parses it into a float64 when it scrapes).
"""

from __future__ import annotations

import contextlib
import math
import os
import re
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from recon.money import from_minor

if TYPE_CHECKING:
    from recon.plaid.sync import SyncOutcome
    from recon.reporting.model import Report

PREFIX = "recon_"
_LAST_SUCCESS = f"{PREFIX}last_success_timestamp_seconds"
_LAST_SUCCESS_LINE = re.compile(rf"^{_LAST_SUCCESS}\s+([0-9]+(?:\.[0-9]+)?)\s*$", re.M)


@dataclass(frozen=True)
class OpenDiscrepancies:
    """Open items of one kind in one currency; ``amount`` is the sum of absolute amounts."""

    kind: str
    currency: str
    count: int
    amount: Decimal


@dataclass(frozen=True)
class RunMetrics:
    run_id: str
    state: str  # e.g. "succeeded", "failed", "already_running"
    exit_code: int
    finished_at: datetime  # timezone-aware
    step_seconds: Mapping[str, float] = field(default_factory=dict)
    transactions_synced: int = 0
    match_rate: float | None = None  # matched / total, 0..1; None when there was nothing to match
    open_discrepancies: Sequence[OpenDiscrepancies] = ()
    oldest_open_age_days: int | None = None
    items_needing_relink: int = 0
    stage_rows: Mapping[str, int] = field(default_factory=dict)
    sync_queue_jobs: int | None = None  # webhook sync jobs waiting (queued or running)
    sync_dead_letters: int | None = None  # webhook syncs given up on, not yet resolved

    @property
    def succeeded(self) -> bool:
        # Exit 3 is a working run that found discrepancies above the threshold.
        return self.exit_code in (0, 3)


def metrics_for_run(
    *,
    run_id: str,
    as_of: date,
    timings: Mapping[str, float],
    counts: Mapping[str, Any],
    result: object,
    report: Report | None,
    sync_outcomes: Sequence[SyncOutcome],
    exit_code: int,
    failed: bool,
    now: datetime,
    sync_queue: tuple[int, int] | None = None,
) -> RunMetrics:
    """The pipeline's view of a run, as metrics. Open discrepancies come from the report (so
    they honour annotations: explained / written-off items are not open); a failed run that
    built no report has none. ``as_of`` and ``result`` are accepted for the pipeline's call but
    the report already carries what is needed from them. ``sync_queue`` is (jobs waiting, open
    dead letters) of the webhook sync queue, when they could be read."""
    del as_of, result
    open_by_key: dict[tuple[str, str], tuple[int, int]] = {}
    match_rate: float | None = None
    oldest: int | None = None
    if report is not None:
        for line in report.discrepancies:
            if line.status != "open":
                continue
            count, minor = open_by_key.get((line.kind, line.currency), (0, 0))
            open_by_key[(line.kind, line.currency)] = (count + 1, minor + abs(line.amount_minor))
        match_rate = report.summary.auto_match_rate
        oldest = report.summary.oldest_open_age_days
    relink = sum(1 for outcome in sync_outcomes if outcome.status == "needs_relink")
    if report is not None:
        relink = max(relink, len(report.summary.items_needing_relink))
    return RunMetrics(
        run_id=run_id,
        state="failed" if failed else "succeeded",
        exit_code=int(exit_code),
        finished_at=now,
        step_seconds=dict(timings),
        transactions_synced=int(counts.get("transactions_synced", 0)),
        match_rate=match_rate,
        open_discrepancies=tuple(
            OpenDiscrepancies(kind, currency, count, from_minor(minor, currency))
            for (kind, currency), (count, minor) in sorted(open_by_key.items())
        ),
        oldest_open_age_days=oldest,
        items_needing_relink=relink,
        stage_rows={str(k): int(v) for k, v in (counts.get("stage_rows") or {}).items()},
        sync_queue_jobs=sync_queue[0] if sync_queue is not None else None,
        sync_dead_letters=sync_queue[1] if sync_queue is not None else None,
    )


def escape_label_value(value: str) -> str:
    """Prometheus text format: backslash, double quote and line feed are escaped."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _labels(labels: Mapping[str, str]) -> str:
    if not labels:
        return ""
    inner = ",".join(f'{k}="{escape_label_value(v)}"' for k, v in sorted(labels.items()))
    return "{" + inner + "}"


def _number(value: int | float | Decimal) -> str:
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError("metric amounts must be finite")
        return format(value, "f")
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        if math.isinf(value):
            return "+Inf" if value > 0 else "-Inf"
        return repr(value)
    return str(int(value))


class _Exposition:
    def __init__(self) -> None:
        self._lines: list[str] = []

    def gauge(
        self,
        name: str,
        help_text: str,
        samples: Iterable[tuple[Mapping[str, str], int | float | Decimal]],
    ) -> None:
        full = PREFIX + name
        self._lines.append(f"# HELP {full} {help_text}")
        self._lines.append(f"# TYPE {full} gauge")
        for labels, value in samples:
            self._lines.append(f"{full}{_labels(labels)} {_number(value)}")

    def text(self) -> str:
        return "\n".join(self._lines) + "\n"


def read_last_success(path: Path) -> float | None:
    """The last-success timestamp kept in a previous metrics file, if there is one."""
    try:
        match = _LAST_SUCCESS_LINE.search(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError):
        return None
    return float(match.group(1)) if match else None


def render_metrics(metrics: RunMetrics, *, last_success: float | None) -> str:
    finished = metrics.finished_at.timestamp()
    if metrics.succeeded:
        last_success = finished
    out = _Exposition()
    out.gauge("run_info", "The last run (value always 1).",
              [({"run_id": metrics.run_id, "state": metrics.state}, 1)])
    out.gauge("run_exit_code", "Exit code of the last run (0 ok, 3 above threshold, else failed).",
              [({}, metrics.exit_code)])
    out.gauge("run_success", "1 if the last run completed (exit 0 or 3), else 0.",
              [({}, 1 if metrics.succeeded else 0)])
    out.gauge("run_finished_timestamp_seconds", "When the last run finished (Unix time).",
              [({}, finished)])
    out.gauge("run_duration_seconds", "Wall time of the last run, all steps.",
              [({}, float(sum(metrics.step_seconds.values())))])
    out.gauge("step_duration_seconds", "Wall time of each step of the last run.",
              [({"step": step}, float(seconds))
               for step, seconds in sorted(metrics.step_seconds.items())])
    out.gauge("stage_rows", "Rows each step of the last run handled (sync: transactions "
              "received; load: ledger rows read; match: rows matched; save and report: links "
              "and discrepancies).",
              [({"step": step}, rows) for step, rows in sorted(metrics.stage_rows.items())])
    out.gauge("transactions_synced", "Bank transactions added, modified or removed by the sync.",
              [({}, metrics.transactions_synced)])
    if metrics.match_rate is not None:
        out.gauge("match_rate", "Share of items matched in the last run (0..1).",
                  [({}, float(metrics.match_rate))])
    by_key = sorted(metrics.open_discrepancies, key=lambda d: (d.kind, d.currency))
    out.gauge("open_discrepancies", "Open discrepancies by kind and currency.",
              [({"kind": d.kind, "currency": d.currency}, d.count) for d in by_key])
    out.gauge("open_discrepancy_amount",
              "Sum of absolute open amounts by kind, in the currency's major unit.",
              [({"kind": d.kind, "currency": d.currency}, d.amount) for d in by_key])
    if metrics.oldest_open_age_days is not None:
        out.gauge("oldest_open_discrepancy_age_days", "Age of the oldest open discrepancy.",
                  [({}, metrics.oldest_open_age_days)])
    out.gauge("items_needing_relink", "Plaid Items that need a user to re-link them.",
              [({}, metrics.items_needing_relink)])
    if metrics.sync_queue_jobs is not None and metrics.sync_dead_letters is not None:
        out.gauge("sync_queue_jobs", "Webhook sync jobs waiting in the queue.",
                  [({}, metrics.sync_queue_jobs)])
        out.gauge("sync_dead_letters", "Webhook syncs given up after their last retry and not "
                  "yet resolved by a successful sync.", [({}, metrics.sync_dead_letters)])
    if last_success is not None:
        out.gauge("last_success_timestamp_seconds", "When a run last completed (Unix time).",
                  [({}, last_success)])
    return out.text()


def write_metrics(path: Path, metrics: RunMetrics) -> None:
    """Atomically replace ``path`` with the metrics of this run."""
    text = render_metrics(metrics, last_success=read_last_success(path))
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temp_name, 0o644)  # the collector usually runs as another user
        os.replace(temp_name, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp_name)
        raise
