"""Save the engine's frames on fixed data, or check that a change left them identical.

    python benchmarks/compare_results.py --save DIR    # before a change (e.g. on main)
    python benchmarks/compare_results.py --check DIR   # after it: exit 1 on any difference
    python benchmarks/compare_results.py --check DIR --data demo,100k   # a subset

The data: ``demo`` is the demo data set (recon.synth.demo_dataset, as of 2026-11-20) written to a
Plaid JSON bank file and a ledger CSV and read back the way ``recon match`` reads them; ``100k``
and ``1m`` are the engine benchmark's data (benchmarks/bench_engine.py) at those ledger sizes.
Each is reconciled with the matching section of the repository's config.yaml, and the three
frames of the result (links, discrepancies, alternatives) are pickled into DIR, or compared with
the ones there: same columns, dtypes and values, row for row. Keep DIR outside the repository:
the 1m frames take a few hundred MB.
"""

from __future__ import annotations

import argparse
import importlib.util
import pickle
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import pandas as pd

from recon import synth
from recon.config import Config, load_config
from recon.engine import reconcile
from recon.frames import MatchResult
from recon.plaid.emulator.objects import dumps

REPO = Path(__file__).resolve().parents[1]
DEMO_AS_OF = date(2026, 11, 20)
FRAMES = ("links", "discrepancies", "alternatives")


def _bench_engine() -> Any:
    spec = importlib.util.spec_from_file_location(
        "bench_engine", REPO / "benchmarks" / "bench_engine.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_engine"] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def demo_result(config: Config) -> MatchResult:
    """The demo data through the file readers ``recon match`` uses, then the engine."""
    from recon.bankfile import read_bank_file
    from recon.ledger import load_ledger

    data = synth.demo_dataset(DEMO_AS_OF)
    fixtures = synth.to_plaid_fixtures(data, synth.demo_accounts(), items=synth.demo_items())
    transactions = [t for item in fixtures["items"] for t in item["transactions"]]
    with tempfile.TemporaryDirectory() as folder:
        bank_path, ledger_path = Path(folder) / "bank.json", Path(folder) / "ledger.csv"
        bank_path.write_bytes(dumps({"transactions": transactions}))
        synth.write_ledger_csv(data.ledger, ledger_path)
        bank = read_bank_file(bank_path, config)
        as_of = bank["date"].max().date()
        ledger = load_ledger(
            config.ledger.model_copy(update={"path": ledger_path}), config.accounts,
            window_start=date.min, window_end=as_of,
        )  # fmt: skip
    bank = bank[bank["date"] <= pd.Timestamp(as_of)]
    return reconcile(bank, ledger.frame, config.matching, as_of=as_of)


def bench_result(config: Config, rows: int) -> MatchResult:
    bench = _bench_engine()
    data = bench.generate(
        bench.ACCOUNTS, start=bench.START, end=bench.END, seed=bench.SEED, ledger_rows=rows
    )
    return reconcile(data.bank, data.ledger, config.matching, as_of=bench.END)


DATA: dict[str, Callable[[Config], MatchResult]] = {
    "demo": demo_result,
    "100k": lambda config: bench_result(config, 100_000),
    "1m": lambda config: bench_result(config, 1_000_000),
}


def differences(name: str, got: pd.DataFrame, want: pd.DataFrame) -> list[str]:
    """What differs between two frames, in a few lines (empty when identical)."""
    if list(got.columns) != list(want.columns):
        return [f"{name}: columns {list(got.columns)} != {list(want.columns)}"]
    problems = [
        f"{name}.{c}: dtype {got[c].dtype} != {want[c].dtype}"
        for c in got.columns
        if got[c].dtype != want[c].dtype
    ]
    if len(got) != len(want):
        return [*problems, f"{name}: {len(got)} rows != {len(want)} rows"]
    for column in got.columns:
        a, b = got[column].reset_index(drop=True), want[column].reset_index(drop=True)
        same = (a == b) | (a.isna() & b.isna())
        if not bool(same.all()):
            first = int((~same).to_numpy().nonzero()[0][0])
            problems.append(
                f"{name}.{column}: {int((~same).sum())} rows differ, first at row {first}: "
                f"{a[first]!r} != {b[first]!r}"
            )
    return problems


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    action = parser.add_mutually_exclusive_group(required=True)
    action.add_argument("--save", type=Path, metavar="DIR", help="write the frames into DIR")
    action.add_argument("--check", type=Path, metavar="DIR", help="compare with DIR's frames")
    parser.add_argument("--data", default=",".join(DATA), help="comma-separated: demo,100k,1m")
    args = parser.parse_args()
    config = load_config(REPO / "config.yaml", environ={})
    failed = False
    for name in args.data.split(","):
        started = time.perf_counter()
        result = DATA[name](config)
        seconds = time.perf_counter() - started
        frames = {frame: getattr(result, frame) for frame in FRAMES}
        sizes = ", ".join(f"{len(f):,} {n}" for n, f in frames.items())
        if args.save:
            args.save.mkdir(parents=True, exist_ok=True)
            with (args.save / f"{name}.pickle").open("wb") as handle:
                pickle.dump(frames, handle, protocol=pickle.HIGHEST_PROTOCOL)
            print(f"{name}: saved {sizes} ({seconds:.1f} s)")
            continue
        with (args.check / f"{name}.pickle").open("rb") as handle:
            saved = pickle.load(handle)
        problems = [p for f in FRAMES for p in differences(f, frames[f], saved[f])]
        print(f"{name}: {'IDENTICAL' if not problems else 'DIFFERENT'} ({sizes}; {seconds:.1f} s)")
        for problem in problems:
            print(f"  {problem}")
        failed |= bool(problems)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
