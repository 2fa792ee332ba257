"""recon's errors, grouped by what the operator does next, and the exit-code contract.

    ReconError                      exit 1   the job failed; look at the log
    ├── ConfigError                 exit 78  fix config.yaml or the environment
    ├── InputError                  exit 65  fix the input file (ledger, annotations, bank file)
    ├── NothingCheckedError         exit 66  the input held nothing to reconcile: never "all clear"
    ├── UpstreamError               exit 69  Plaid or the database is unavailable; retry later
    ├── AlreadyRunningError         exit 75  another run holds the lock; nothing was done
    └── DateRangeError              exit 2   a date on the command line outside what recon handles

A run that worked but found discrepancies above the alert threshold exits 3 (not an error).
Messages never contain secrets: callers pass names, paths, row numbers and reasons, not values
that might be tokens or keys. Text that came from outside (a cell, a file name) is shown with its
control characters escaped (:func:`escape_control`), so it can never forge a line of the log.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import IntEnum
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # imported where used: the pure engine imports this module, never SQLAlchemy
    from sqlalchemy.exc import DBAPIError

# Problems shown on the terminal; the whole list goes to a file (see InputError.full_list_path).
SCREEN_PROBLEMS = 20
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def escape_control(text: str) -> str:
    """Control characters (newline, escape, ...) as visible ``\\xNN`` escapes."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group(0)):02x}", text)


class ExitCode(IntEnum):
    OK = 0
    FAILED = 1
    USAGE = 2  # click's own code for a bad command line
    DISCREPANCIES_ABOVE_THRESHOLD = 3
    BAD_INPUT = 65  # EX_DATAERR
    NOTHING_CHECKED = 66  # EX_NOINPUT
    UNAVAILABLE = 69  # EX_UNAVAILABLE
    ALREADY_RUNNING = 75  # EX_TEMPFAIL
    BAD_CONFIG = 78  # EX_CONFIG


EXIT_CODE_HELP = """Exit codes:
  0   the job worked; nothing above the alert threshold
  1   the job failed (see the log); nothing half-written was kept
  2   bad command line
  3   the job worked and found discrepancies above the alert threshold
  65  bad input data (ledger, bank or annotations file): every bad row is listed
  66  nothing was checked (an empty bank feed or ledger, an account without bank data)
  69  Plaid or the database was unavailable after retries
  75  another recon run holds the lock; nothing was done
  78  bad configuration (config.yaml or environment): every problem is listed"""


class ReconError(Exception):
    exit_code: ExitCode = ExitCode.FAILED


class ConfigError(ReconError):
    exit_code = ExitCode.BAD_CONFIG

    def __init__(self, problems: list[str], source: str = "config") -> None:
        self.problems = [escape_control(p) for p in problems]
        self.source = source
        lines = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(f"{source}: {len(problems)} problem(s)\n{lines}")


@dataclass(frozen=True)
class RowProblem:
    """One rejected input row: where it is and why. ``row`` is 1-based as a spreadsheet shows it."""

    file: str
    row: int | None
    column: str | None
    reason: str

    def __str__(self) -> str:
        where = self.file
        if self.row is not None:
            where += f", row {self.row}"
        if self.column:
            where += f", column {self.column!r}"
        return escape_control(f"{where}: {self.reason}")


class InputError(ReconError):
    """Bad rows. The message lists the first :data:`SCREEN_PROBLEMS`; the CLI writes the whole
    list to a file and sets :attr:`full_list_path` so the message can say where."""

    exit_code = ExitCode.BAD_INPUT

    def __init__(self, problems: list[RowProblem] | str, source: str = "input") -> None:
        if isinstance(problems, str):
            problems = [RowProblem(source, None, None, problems)]
        self.problems = problems
        self.source = escape_control(source)
        self.full_list_path: str | None = None
        super().__init__(self.source)

    def __str__(self) -> str:
        shown = self.problems[:SCREEN_PROBLEMS]
        lines = "\n".join(f"  - {p}" for p in shown)
        more = ""
        if len(self.problems) > len(shown):
            where = f" (full list in {self.full_list_path})" if self.full_list_path else ""
            more = f"\n  ... and {len(self.problems) - len(shown)} more{where}"
        return f"{self.source}: {len(self.problems)} bad row(s)\n{lines}{more}"

    def full_list(self) -> str:
        return "".join(f"{p}\n" for p in self.problems)


class NothingCheckedError(ReconError):
    """The input held nothing to reconcile; reporting "all clear" would hide that."""

    exit_code = ExitCode.NOTHING_CHECKED


class DateRangeError(ReconError):
    """A date given on the command line that recon cannot reconcile (exit 2, like click)."""

    exit_code = ExitCode.USAGE


class UpstreamError(ReconError):
    exit_code = ExitCode.UNAVAILABLE


class AlreadyRunningError(ReconError):
    exit_code = ExitCode.ALREADY_RUNNING


class ReportWriteError(ReconError):
    """The reports could not be written (disk full, folder missing or read-only)."""


def exit_code_of(exc: BaseException) -> ExitCode:
    """The exit code for an error, the same wherever it is recorded or returned."""
    from sqlalchemy.exc import DBAPIError

    if isinstance(exc, ReconError):
        return exc.exit_code
    if isinstance(exc, DBAPIError):  # the state store went away or stayed locked: retry later
        return ExitCode.UNAVAILABLE
    return ExitCode.FAILED


def store_unavailable_message(exc: DBAPIError) -> str:
    """One line for a state-store failure: the driver's error class and first line, no SQL."""
    reason = f"{type(exc.orig).__name__}: {exc.orig}".splitlines()[0]
    return escape_control(f"the state store is unavailable ({reason})")
