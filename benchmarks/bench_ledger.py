"""Ledger loading speed and memory: a 1,000,000-row CSV through load_ledger.

    python benchmarks/bench_ledger.py [--rows N] [--snapshot] [--postgres URL]

Writes the CSV into a temporary folder, then loads it in a fresh Python process (so the peak
resident memory, ru_maxrss, is the loader's alone) and prints rows, seconds and peak MiB. With
--snapshot the same process also stores the result with save_snapshot into a SQLite store and,
when a PostgreSQL URL is given (--postgres, default $RECON_TEST_POSTGRES_URL), into a fresh
schema there (dropped afterwards).
Target: a few seconds and well under 1.5 GB for a million rows; the snapshot in seconds.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ACCOUNTS = [("p-usd", "1010-operating-usd", "USD"), ("p-jpy", "1030-tokyo-jpy", "JPY"),
            ("p-kwd", "1040-kuwait-kwd", "KWD")]


def write_ledger(path: Path, rows: int) -> None:
    rng = random.Random(20250101)
    exponents = {"USD": 2, "JPY": 0, "KWD": 3}
    with path.open("w", encoding="utf-8", newline="") as handle:
        handle.write("entry_id,date,amount,currency,description,reference,counterparty,account\n")
        for index in range(rows):
            _, account, currency = ACCOUNTS[index % 7 % 3]
            minor = rng.randint(-5_000_000, 5_000_000)
            exponent = exponents[currency]
            sign = "-" if minor < 0 else ""
            whole, fraction = divmod(abs(minor), 10**exponent) if exponent else (abs(minor), 0)
            amount = f"{sign}{whole}" + (f".{fraction:0{exponent}d}" if exponent else "")
            day = 1 + index % 28
            handle.write(f"E{index:08d},2025-01-{day:02d},{amount},{currency},"
                         f'"Payment {index}, invoice INV-{index}",INV-{index},'
                         f"Customer {index % 5000},{account}\n")


CHILD = """
import json, resource, sys, time
from datetime import date, datetime, UTC
from pathlib import Path
from recon.config import AccountMapping, ColumnMapping, LedgerConfig
from recon.ledger import load_ledger

path, snapshot, postgres_url = Path(sys.argv[1]), sys.argv[2] == "1", sys.argv[4]
accounts = [AccountMapping(plaid_account_id=p, ledger_account=a, currency=c)
            for p, a, c in json.loads(sys.argv[3])]
config = LedgerConfig(path=path, columns=ColumnMapping(currency="currency",
                      reference="reference", counterparty="counterparty"))
start, cpu_start = time.perf_counter(), time.process_time()
load = load_ledger(config, accounts, window_start=date(2025, 1, 1), window_end=date(2025, 1, 31))
seconds = time.perf_counter() - start
result = {"rows": len(load.frame), "load_seconds": round(seconds, 2),
          # CPU time too: on a shared machine wall time also measures the neighbours.
          "load_cpu_seconds": round(time.process_time() - cpu_start, 2),
          "peak_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)}
def time_snapshot(url):
    from recon.store.db import open_store
    from recon.store.ledger_snapshots import save_snapshot
    from recon.store.schema import runs
    engine = open_store(url)
    now = datetime.now(UTC)
    start, cpu_start = time.perf_counter(), time.process_time()
    with engine.begin() as connection:
        connection.execute(runs.insert().values(run_id="bench", kind="run", state="saving",
            heartbeat_at=now, started_at=now, config_hash="bench", code_version="bench"))
        save_snapshot(connection, run_id="bench", load=load, window_start=date(2025, 1, 1),
                      window_end=date(2025, 1, 31), now=now)
    seconds = round(time.perf_counter() - start, 2)
    engine.dispose()
    return {"seconds": seconds, "client_cpu_seconds": round(time.process_time() - cpu_start, 2)}

if snapshot:
    result["snapshot_sqlite"] = time_snapshot(f"sqlite:///{path.parent / 'state.db'}")
    if postgres_url:
        import uuid
        from sqlalchemy import create_engine, text
        from recon.store.db import normalise_url
        schema = f"bench_{uuid.uuid4().hex[:12]}"
        admin = create_engine(normalise_url(postgres_url))
        with admin.begin() as connection:
            connection.execute(text(f'CREATE SCHEMA "{schema}"'))
        try:
            sep = "&" if "?" in postgres_url else "?"
            result["snapshot_postgres"] = time_snapshot(
                f"{normalise_url(postgres_url)}{sep}options=-csearch_path%3D{schema}")
        finally:
            with admin.begin() as connection:
                connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
            admin.dispose()
    result["peak_mib_with_snapshot"] = round(
        resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
print(json.dumps(result))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--snapshot", action="store_true", help="also time save_snapshot")
    parser.add_argument("--postgres", default=os.environ.get("RECON_TEST_POSTGRES_URL", ""),
                        help="PostgreSQL URL for the snapshot timing (a schema is created)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "ledger.csv"
        started = time.perf_counter()
        write_ledger(path, args.rows)
        print(f"wrote {args.rows} rows ({path.stat().st_size / 2**20:.0f} MiB) in "
              f"{time.perf_counter() - started:.1f} s")
        output = subprocess.run(
            [sys.executable, "-c", CHILD, str(path), "1" if args.snapshot else "0",
             json.dumps(ACCOUNTS), args.postgres],
            check=True, capture_output=True, text=True,
        ).stdout
        result = json.loads(output.strip().splitlines()[-1])
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
