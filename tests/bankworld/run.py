"""Run recon's real file path on a folder: bank file reader, ledger loader, engine.

The same steps as ``recon match`` (``recon.pipeline.match_files``) up to the engine's result,
without writing the reports (at a million rows the workbook alone takes minutes): read the bank
file through the config's account mapping, load the ledger through the config's column mapping
with the window ending at the as-of date, keep bank rows up to that date, reconcile. Each step is
timed on its own.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import pandas as pd

from recon.bankfile import read_bank_file
from recon.config import load_config
from recon.engine import reconcile
from recon.frames import MatchResult
from recon.ledger import load_ledger

from .writer import read_world_meta


@dataclass
class RunOutput:
    result: MatchResult
    bank: pd.DataFrame  # the bank frame recon matched
    ledger: pd.DataFrame  # the ledger frame recon matched
    as_of: date
    seconds: dict[str, float] = field(default_factory=dict)


def run_recon(folder: Path, as_of: date | None = None) -> RunOutput:
    """recon on ``folder``'s config.yaml, bank.json and ledger.csv (as_of: world.json's)."""
    config = load_config(folder / "config.yaml")
    if as_of is None and (folder / "world.json").exists():
        as_of = date.fromisoformat(read_world_meta(folder)["as_of"])
    seconds: dict[str, float] = {}
    started = time.perf_counter()
    bank = read_bank_file(folder / "bank.json", config)
    seconds["bank_load"] = time.perf_counter() - started
    if as_of is None:
        as_of = bank["date"].max().date()
    started = time.perf_counter()
    ledger = load_ledger(config.ledger.model_copy(update={"path": folder / "ledger.csv"}),
                         config.accounts, window_start=date.min, window_end=as_of)
    seconds["ledger_load"] = time.perf_counter() - started
    bank = bank[bank["date"] <= pd.Timestamp(as_of)]
    started = time.perf_counter()
    result = reconcile(bank, ledger.frame, config.matching, as_of=as_of)
    seconds["engine"] = time.perf_counter() - started
    return RunOutput(result, bank, ledger.frame, as_of, seconds)
