"""The whole ``recon match`` at scale: a Plaid JSON of ~900k transactions and a 1M-row ledger CSV.

    python benchmarks/bench_match.py [--rows 1000000] [--data DIR]

Generates, once, into DIR (default: a folder under the system temp dir, never the repository):
``bank.json`` (a ``/transactions/get`` response: ``accounts`` and every ``transactions``
object complete with all of Plaid's fields, as the API sends them: ~945 MB at 1M rows),
``ledger.csv`` (~107 MB at 1M rows) and a ``config.yaml`` for their six accounts, from the
engine benchmark's data (recon.synth, seed 20250101). Then runs ``recon match`` on them in a
child process, exactly as a user would (with ``--statement-balance`` per account), and reports
its wall time, its peak RSS (``wait4``), and what each step took (the ``match finished`` log
line: reading the bank file, reading the ledger, matching, balances, the report model, the
report files).

Targets (printed as PASS/FAIL): at most 60 s and 3 GB peak for 1M ledger rows.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import yaml
from bench_engine import ACCOUNTS, END, SEED, START
from bench_report import FX_RATES

from recon.money import format_minor
from recon.plaid.emulator.objects import dumps, fill_account, fill_transaction
from recon.synth import generate, to_plaid_fixtures, write_ledger_csv

REPO = Path(__file__).resolve().parents[1]
TARGET_SECONDS = 60.0
TARGET_RSS_MB = 3072.0
OPENING_UNITS = 100_000_000  # both sides' balance before the first day, in currency units


def _items() -> list[tuple[str, str, str, list[str]]]:
    return [("bench-item", "ins_bench", "Bench Bank", [a.plaid_account_id for a in ACCOUNTS])]


def generate_files(rows: int, data: Path) -> list[str]:
    """Write bank.json, ledger.csv and config.yaml; return the --statement-balance options."""
    data.mkdir(parents=True, exist_ok=True)
    synth = generate(ACCOUNTS, start=START, end=END, seed=SEED, ledger_rows=rows)
    openings = {a.ledger_account: OPENING_UNITS * 10**_exponent(a.currency) for a in ACCOUNTS}
    fixtures = to_plaid_fixtures(synth, ACCOUNTS, items=_items(), opening_minor=openings)
    item = fixtures["items"][0]
    currency = {a.plaid_account_id: a.currency for a in ACCOUNTS}
    temp = data / "bank.json.tmp"
    with temp.open("wb") as handle:
        accounts = [fill_account(a) for a in item["accounts"]]
        # One object, written as it goes: the transactions never sit in memory as JSON.
        handle.write(dumps({"accounts": accounts})[:-1] + b', "transactions": [')
        for index, txn in enumerate(item["transactions"]):
            full = fill_transaction(txn, transaction_id=txn["transaction_id"],
                                    account_id=txn["account_id"],
                                    currency=currency[txn["account_id"]], today=END)
            handle.write((b",\n" if index else b"\n") + dumps(full))
        handle.write(b'\n], "total_transactions": ' + str(len(item["transactions"])).encode()
                     + b', "request_id": "bench"}\n')
    temp.replace(data / "bank.json")
    write_ledger_csv(synth.ledger, data / "ledger.csv")
    write_config(data)
    posted = synth.bank[~synth.bank["pending"]].groupby("account")["amount_minor"].sum()
    options = []
    for a in ACCOUNTS:
        balance = openings[a.ledger_account] + int(posted.get(a.ledger_account, 0))
        options.append(f"{a.ledger_account}={format_minor(balance, a.currency)}")
    (data / "statement-balances.json").write_text(json.dumps(options), encoding="utf-8")
    return options


def write_config(data: Path) -> None:
    """config.yaml for the six accounts, from the repository's (rewritten on every run, so the
    benchmark follows the current configuration format)."""
    config = yaml.safe_load((REPO / "config.yaml").read_text(encoding="utf-8"))
    config["accounts"] = [{"plaid_account_id": a.plaid_account_id,
                           "ledger_account": a.ledger_account, "currency": a.currency,
                           "name": a.name} for a in ACCOUNTS]
    config["statement"]["fx_rates"] = {k: str(v) for k, v in FX_RATES.items()}
    config["statement"]["opening_balances"] = {
        a.ledger_account: {"date": (START - timedelta(days=1)).isoformat(),
                           "amount": str(OPENING_UNITS)}
        for a in ACCOUNTS}
    (data / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")


def _exponent(currency: str) -> int:
    from recon.money import currency_exponent

    return currency_exponent(currency)


def run_match(data: Path, options: list[str]) -> dict[str, Any]:
    out = data / "out"
    shutil.rmtree(out, ignore_errors=True)  # only this run's files are reported
    command = [sys.executable, "-m", "recon", "--log-level", "INFO", "--json-logs", "match",
               "--config", str(data / "config.yaml"), "--bank", str(data / "bank.json"),
               "--ledger", str(data / "ledger.csv"), "--out", str(out)]
    for option in options:
        command += ["--statement-balance", option]
    started = time.perf_counter()
    with tempfile.TemporaryFile() as logs:
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=logs, cwd=REPO)
        stdout = process.stdout.read() if process.stdout else b""
        _, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - started
        logs.seek(0)
        log_lines = logs.read().decode("utf-8", "replace").splitlines()
    steps: dict[str, float] = {}
    for line in log_lines:
        if '"match finished"' in line:
            steps = json.loads(line).get("timings", {})
    return {"seconds": round(seconds, 1), "peak_rss_mb": round(usage.ru_maxrss / 1024),
            "exit_code": os.waitstatus_to_exitcode(status), "steps": steps,
            "stdout": stdout.decode("utf-8", "replace").splitlines()[-12:]
            + [line for line in log_lines if '"level": "ERROR"' in line][-3:],
            "files": {p.name: round(p.stat().st_size / 2**20, 1)
                      for p in sorted(out.iterdir())} if out.exists() else {}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000, help="ledger rows")
    parser.add_argument("--data", type=Path, default=None,
                        help="where the generated files go (outside the repository)")
    args = parser.parse_args()
    data = args.data or Path(tempfile.gettempdir()) / f"recon-bench-match-{args.rows}"
    options_file = data / "statement-balances.json"
    if options_file.exists() and (data / "bank.json").exists():
        options = json.loads(options_file.read_text(encoding="utf-8"))
        write_config(data)
    else:
        started = time.perf_counter()
        options = generate_files(args.rows, data)
        print(f"generated the files in {time.perf_counter() - started:.0f} s", flush=True)
    sizes = {name: round((data / name).stat().st_size / 2**20) for name in
             ("bank.json", "ledger.csv")}
    print(f"bank.json {sizes['bank.json']:,} MiB, ledger.csv {sizes['ledger.csv']:,} MiB "
          f"in {data}", flush=True)
    figures = run_match(data, options)
    for line in figures["stdout"]:
        print("  | " + line)
    for step, seconds in figures["steps"].items():
        print(f"  {step:<14} {seconds:8.1f} s")
    finished = figures["exit_code"] in (0, 3)  # 3: it worked and found discrepancies
    ok_time = finished and figures["seconds"] <= TARGET_SECONDS
    ok_rss = finished and figures["peak_rss_mb"] <= TARGET_RSS_MB
    print(f"recon match: {figures['seconds']:.1f} s (target <= {TARGET_SECONDS:.0f} s: "
          f"{'PASS' if ok_time else 'FAIL'}), peak RSS {figures['peak_rss_mb']:,} MB (target <= "
          f"{TARGET_RSS_MB:.0f} MB: {'PASS' if ok_rss else 'FAIL'}), exit code "
          f"{figures['exit_code']}")
    print(json.dumps({"rows": args.rows, "files_mib": sizes, **{k: v for k, v in
                      figures.items() if k != "stdout"}, "pass": ok_time and ok_rss}))


if __name__ == "__main__":
    main()
