"""Stage timings and row counts for every run, and progress bars on a terminal.

:class:`Stages` times each stage of a run with a monotonic clock, counts the rows it handled
and logs one ``stage finished`` line per stage (always: cron's log shows them too); the
pipeline stores the figures on the run and in the Prometheus metrics file. When the command runs
on a terminal (and not with ``--json-logs``) a :class:`ProgressDisplay` draws a bar per stage
with rich: sync pages, ledger rows read, matching, report writing, and the days of a backfill.

While the bars are live, rich moves what is written to stderr above them; recon's log handler
writes to the stderr it was given when logging was set up, so :class:`ProgressDisplay` points it
at rich's stand-in for as long as the bars are shown (and back afterwards).
"""

from __future__ import annotations

import contextlib
import logging
import sys
import time
from collections.abc import Iterator
from types import TracebackType
from typing import IO, Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)

log = logging.getLogger(__name__)

STAGE_LABELS = {
    "sync": "sync pages",
    "pull": "pull pages",
    "load": "ledger rows read",
    "match": "matching",
    "save": "saving results",
    "report": "report writing",
}


class ProgressDisplay:
    """Progress bars on stderr, one task per key (a stage, or the days of a backfill)."""

    def __init__(self, console: Console) -> None:
        console.soft_wrap = True  # a log line printed above the bars stays one line
        self._progress = Progress(
            SpinnerColumn(),
            TextColumn("{task.description:<22}"),
            BarColumn(bar_width=32),
            TextColumn("{task.fields[detail]}"),
            TimeElapsedColumn(),
            console=console,
        )
        self._tasks: dict[str, TaskID] = {}
        self._swapped: list[tuple[logging.StreamHandler[Any], IO[str]]] = []

    @classmethod
    def for_terminal(cls, *, enabled: bool = True) -> ProgressDisplay | None:
        """A display when stderr is a terminal and ``enabled``; None otherwise. A real tty is
        required: FORCE_COLOR in a cron or CI environment must not draw bars into a log file."""
        if not enabled or not sys.stderr.isatty():
            return None
        console = Console(stderr=True)
        return cls(console) if console.is_terminal else None

    def __enter__(self) -> ProgressDisplay:
        real_stderr = sys.stderr
        self._progress.start()  # from here sys.stderr is rich's proxy that prints above the bars
        for handler in logging.getLogger().handlers:
            if (isinstance(handler, logging.StreamHandler)
                    and not isinstance(handler, logging.FileHandler)
                    and handler.stream is real_stderr):
                handler.setStream(sys.stderr)
                self._swapped.append((handler, real_stderr))
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 traceback: TracebackType | None) -> None:
        for handler, stream in self._swapped:
            handler.setStream(stream)
        self._swapped.clear()
        self._progress.stop()

    def begin(self, key: str, label: str, total: int | None, detail: str = "") -> None:
        """A fresh bar for ``key`` (a stage that runs again, e.g. each day of a backfill, gets
        a new bar in place of its old one); ``total`` None shows activity without an end."""
        old = self._tasks.pop(key, None)
        if old is not None:
            self._progress.remove_task(old)
        self._tasks[key] = self._progress.add_task(label, total=total, detail=detail)

    def advance(self, key: str, steps: int, detail: str, total: int | None = None) -> None:
        if total is None:
            self._progress.update(self._tasks[key], advance=steps, detail=detail)
        else:
            self._progress.update(self._tasks[key], advance=steps, detail=detail, total=total)

    def complete(self, key: str, detail: str) -> None:
        task = self._tasks[key]
        total = self._progress.tasks[self._index(task)].total
        done = self._progress.tasks[self._index(task)].completed
        final = total if total is not None else max(done, 1)
        self._progress.update(task, total=final, completed=final, detail=detail)

    def _index(self, task: TaskID) -> int:
        return next(i for i, t in enumerate(self._progress.tasks) if t.id == task)


class Stage:
    """One stage while it runs: what it has done so far."""

    def __init__(self, name: str, display: ProgressDisplay | None, total: int | None,
                 unit: str) -> None:
        self.name = name
        self.rows = 0
        self.steps = 0
        self.unit = unit
        self._display = display
        if display is not None:
            display.begin(name, STAGE_LABELS.get(name, name), total, self._detail())

    def _detail(self) -> str:
        text = f"{self.rows:,} rows" if self.rows or not self.unit else ""
        if self.unit:
            text = f"{self.steps:,} {self.unit}" + (f", {text}" if text else "")
        return text

    def advance(self, *, steps: int = 1, rows: int = 0, total: int | None = None) -> None:
        """``steps`` more of the stage's unit done (pages, formats), handling ``rows`` rows;
        ``total``: the steps in all, when only known now."""
        self.steps += steps
        self.rows += rows
        if self._display is not None:
            self._display.advance(self.name, steps, self._detail(), total)

    def done(self, *, rows: int | None = None) -> None:
        """The stage is complete; ``rows`` sets its row count when it is only known now."""
        if rows is not None:
            self.rows = rows
        if self._display is not None:
            self._display.complete(self.name, self._detail())


class Stages:
    """Durations (monotonic clock: a wall-clock step cannot skew them) and row counts per stage
    of one run; ``stages("sync")`` is a context manager yielding the :class:`Stage`."""

    def __init__(self, display: ProgressDisplay | None = None) -> None:
        self.display = display
        self.seconds: dict[str, float] = {}
        self.rows: dict[str, int] = {}

    @contextlib.contextmanager
    def __call__(self, name: str, *, total: int | None = None, unit: str = "") -> Iterator[Stage]:
        stage = Stage(name, self.display, total, unit)
        started = time.monotonic()
        finished = False
        try:
            yield stage
            finished = True
        finally:
            elapsed = time.monotonic() - started
            self.seconds[name] = round(self.seconds.get(name, 0.0) + elapsed, 4)
            self.rows[name] = self.rows.get(name, 0) + stage.rows
            if finished:
                stage.done()
            log.info("stage finished" if finished else "stage stopped", extra={
                "stage": name, "seconds": round(elapsed, 3), "rows": stage.rows,
                **({"steps": stage.steps, "unit": stage.unit} if stage.unit else {})})
