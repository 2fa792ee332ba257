"""Bank-file benchmark: time and peak memory of reading a large Plaid JSON (`recon match --bank`).

    python benchmarks/bench_bankfile.py --workdir /tmp/recon-bankfile             # 1M rows
    python benchmarks/bench_bankfile.py --workdir /tmp/recon-bankfile --rows 100000

The first run writes WORKDIR/bank-ROWS.json (keep WORKDIR outside the repository): recon.synth's
bank side at 1M ledger rows (92 days, the engine benchmark's six accounts), repeated with new
ids up to ROWS transactions, each filled to a complete Plaid Transaction object by the emulator
(about 945 bytes each, as /transactions/get returns them), inside {"transactions": [...]}.
Then a fresh child process imports recon, and times `recon.bankfile.read_bank_file` alone; its
peak RSS (VmHWM of the child itself) includes the interpreter and recon's imports (~160 MB).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from datetime import date
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))

_CHILD = """
import json, sys, time
from pathlib import Path
import yaml
from recon.bankfile import read_bank_file
from recon.config import parse_config
data = yaml.safe_load(Path(sys.argv[2]).read_text())
data["accounts"] = json.loads(sys.argv[3])
config = parse_config(data, environ={})
started = time.perf_counter()
frame = read_bank_file(Path(sys.argv[1]), config)
seconds = time.perf_counter() - started
# VmHWM: this process's own peak (ru_maxrss would include the parent's, inherited at fork).
status = Path("/proc/self/status").read_text()
peak = int(next(l.split()[1] for l in status.splitlines() if l.startswith("VmHWM:"))) / 1024
print(json.dumps({"rows": len(frame), "seconds": round(seconds, 2), "peak_rss_mb": round(peak)}))
"""


def write_bank_json(path: Path, rows: int) -> None:
    from bench_engine import ACCOUNTS, END, SEED, START

    from recon.plaid.emulator.objects import dumps, fill_transaction
    from recon.synth import generate, to_plaid_fixtures

    data = generate(ACCOUNTS, start=START, end=END, seed=SEED, ledger_rows=1_000_000)
    items = [("bench-item", "ins_bench", "Bench Bank", [a.plaid_account_id for a in ACCOUNTS])]
    transactions = to_plaid_fixtures(data, ACCOUNTS, items=items)["items"][0]["transactions"]
    today = date(2025, 4, 3)
    temp = path.with_suffix(".tmp")
    written = 0
    with temp.open("wb") as handle:
        handle.write(b'{"transactions": [')
        copy = 0
        while written < rows:
            for txn in transactions:
                if written == rows:
                    break
                suffix = f"-r{copy}" if copy else ""
                full = fill_transaction(txn, transaction_id=txn["transaction_id"] + suffix,
                                        account_id=txn["account_id"], currency=None, today=today)
                if copy and full.get("pending_transaction_id"):
                    full["pending_transaction_id"] += suffix
                handle.write((b"," if written else b"") + dumps(full))
                written += 1
            copy += 1
        handle.write(b"]}")
    os.replace(temp, path)


def accounts_json() -> str:
    from bench_engine import ACCOUNTS

    return json.dumps([{"plaid_account_id": a.plaid_account_id, "ledger_account": a.ledger_account,
                        "currency": a.currency, "name": a.name} for a in ACCOUNTS])


def measure(path: Path) -> dict[str, Any]:
    result = subprocess.run(
        [sys.executable, "-c", _CHILD, str(path), str(REPO / "config.yaml"), accounts_json()],
        capture_output=True, text=True, check=True)
    measured: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    return measured


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workdir", type=Path, required=True, help="where the JSON is kept")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    path = args.workdir / f"bank-{args.rows}.json"
    if not path.exists():
        started = time.perf_counter()
        write_bank_json(path, args.rows)
        print(f"wrote {path} ({path.stat().st_size / 1e6:.0f} MB) in "
              f"{time.perf_counter() - started:.0f} s")
    size_mb = path.stat().st_size / 1e6
    for _ in range(args.repeat):
        figures = measure(path)
        print(json.dumps({"file_mb": round(size_mb), **figures}))


if __name__ == "__main__":
    main()
