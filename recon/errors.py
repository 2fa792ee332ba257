"""recon's errors, grouped by what the operator does next, and the exit-code contract.

    ReconError                      exit 1   the job failed; look at the log
    ├── ConfigError                 exit 78  fix config.yaml or the environment
    ├── InputError                  exit 65  fix the input file (ledger, annotations, bank file)
    ├── UpstreamError               exit 69  Plaid or the database is unavailable; retry later
    └── AlreadyRunningError         exit 75  another run holds the lock; nothing was done

A run that worked but found discrepancies above the alert threshold exits 3 (not an error).
Messages never contain secrets: callers pass names, paths, row numbers and reasons, not values
that might be tokens or keys.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0
    FAILED = 1
    USAGE = 2  # click's own code for a bad command line
    DISCREPANCIES_ABOVE_THRESHOLD = 3
    BAD_INPUT = 65  # EX_DATAERR
    UNAVAILABLE = 69  # EX_UNAVAILABLE
    ALREADY_RUNNING = 75  # EX_TEMPFAIL
    BAD_CONFIG = 78  # EX_CONFIG


EXIT_CODE_HELP = """Exit codes:
  0   the job worked; nothing above the alert threshold
  1   the job failed (see the log); nothing half-written was kept
  2   bad command line
  3   the job worked and found discrepancies above the alert threshold
  65  bad input data (ledger, bank or annotations file): every bad row is listed
  69  Plaid or the database was unavailable after retries
  75  another recon run holds the lock; nothing was done
  78  bad configuration (config.yaml or environment): every problem is listed"""


class ReconError(Exception):
    exit_code: ExitCode = ExitCode.FAILED


class ConfigError(ReconError):
    exit_code = ExitCode.BAD_CONFIG

    def __init__(self, problems: list[str], source: str = "config") -> None:
        self.problems = problems
        self.source = source
        lines = "\n".join(f"  - {p}" for p in problems)
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
        return f"{where}: {self.reason}"


class InputError(ReconError):
    exit_code = ExitCode.BAD_INPUT

    def __init__(self, problems: list[RowProblem] | str, source: str = "input") -> None:
        if isinstance(problems, str):
            problems = [RowProblem(source, None, None, problems)]
        self.problems = problems
        self.source = source
        shown = problems[:200]
        lines = "\n".join(f"  - {p}" for p in shown)
        more = (
            f"\n  ... and {len(problems) - len(shown)} more" if len(problems) > len(shown) else ""
        )
        super().__init__(f"{source}: {len(problems)} bad row(s)\n{lines}{more}")


class UpstreamError(ReconError):
    exit_code = ExitCode.UNAVAILABLE


class AlreadyRunningError(ReconError):
    exit_code = ExitCode.ALREADY_RUNNING


class ReportWriteError(ReconError):
    """The reports could not be written (disk full, folder missing or read-only)."""
