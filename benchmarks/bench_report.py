"""Report writing at scale: the reports of a real engine result at 1,000,000 ledger entries.

    python benchmarks/bench_report.py [--rows 1000000] [--out DIR]

Generates the engine benchmark's data (recon.synth, 92 days, six accounts in USD, JPY, EUR and
GBP, seed 20250101; about 0.9 x as many bank rows), matches it with recon.engine (not timed
here: bench_engine.py times it), then times what a nightly run does after matching: the report
model (``build_report``: statements, items by treatment, rows in words) and each writer (xlsx,
html, csv, json), with the process's peak RSS. The balances are the ones the data implies (an
opening balance plus every posted bank row / every ledger row), so the statements tie out.

Target (printed as PASS/FAIL): all reports together within 30 s at 1M ledger rows.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from bench_engine import ACCOUNTS, END, SEED, START, matching_config

from recon.carry import CarryForward
from recon.config import StatementConfig
from recon.reporting import build_report, write_reports
from recon.reporting.model import AccountInfo, Balance, ItemHealth, ReportInputs
from recon.synth import generate

TARGET_SECONDS = 30.0
FX_RATES = {"JPY": Decimal("0.0067"), "EUR": Decimal("1.08"), "GBP": Decimal("1.27")}
OPENING = 10**10  # minor units before the first day, both sides (they agreed then)


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def timed(label: str, action: Callable[[], Any], figures: dict[str, float]) -> Any:
    start = time.perf_counter()
    value = action()
    figures[label] = round(time.perf_counter() - start, 2)
    print(f"{label:<14} {figures[label]:8.1f} s   peak RSS {peak_rss_mib():8.0f} MiB", flush=True)
    return value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000, help="ledger rows")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    out = args.out or Path(tempfile.mkdtemp(prefix="bench-report-"))
    setup: dict[str, float] = {}
    data = timed("generate", lambda: generate(ACCOUNTS, start=START, end=END, seed=SEED,
                                              ledger_rows=args.rows), setup)
    from recon.engine import reconcile

    result = timed("match", lambda: reconcile(data.bank, data.ledger, matching_config(),
                                              as_of=END), setup)
    posted = data.bank[~data.bank["pending"]].groupby("account")["amount_minor"].sum()
    booked = data.ledger.groupby("account")["amount_minor"].sum()
    inputs = ReportInputs(
        run_id="bench", as_of=END, window_start=START, window_end=END,
        generated_at=datetime.now(UTC), account_set="bench",
        accounts=tuple(AccountInfo(a.ledger_account, a.name, a.currency) for a in ACCOUNTS),
        result=result, carry_forward=CarryForward.without_history(END, result),
        bank_movement_minor=data.bank.groupby("account")["amount_minor"].sum().to_dict(),
        ledger_movement_minor=booked.to_dict(),
        bank=data.bank, ledger=data.ledger,
        bank_balance={a: Balance(OPENING + int(v), "bench") for a, v in posted.items()},
        books_balance={a: Balance(OPENING + int(v), "bench") for a, v in booked.items()},
        statement=StatementConfig(functional_currency="USD", fx_rates=FX_RATES),
        item_health=(ItemHealth("Bank", "item-1", datetime.now(UTC), "active"),),
    )
    figures: dict[str, float] = {}
    report = timed("build_report", lambda: build_report(inputs), figures)
    for fmt in ("xlsx", "html", "csv", "json"):
        timed(f"write {fmt}", lambda fmt=fmt: write_reports(report, out, formats=[fmt]), figures)
    total = round(sum(figures.values()), 2)
    print(f"ledger rows {len(data.ledger):,}  bank rows {len(data.bank):,}  links "
          f"{len(result.links):,}  discrepancies {len(result.discrepancies):,}  items "
          f"{len(report.items):,}  -> {out}")
    for path in sorted(out.iterdir()):
        print(f"  {path.name:<40} {path.stat().st_size / 2**20:8.1f} MiB")
    differences = {s.account: s.difference_minor for s in report.statements}
    verdict = "PASS" if total <= TARGET_SECONDS else "FAIL"
    print(f"all reports {total:.1f} s (target <= {TARGET_SECONDS:.0f} s: {verdict}); "
          f"peak RSS {peak_rss_mib():.0f} MiB; statement differences {differences}")
    print(json.dumps({"rows": args.rows, "bank_rows": len(data.bank),
                      "links": len(result.links), "discrepancies": len(result.discrepancies),
                      "items": len(report.items), "seconds": figures, "reports_seconds": total,
                      "setup_seconds": setup, "peak_rss_mib": round(peak_rss_mib()),
                      "target_seconds": TARGET_SECONDS, "pass": verdict == "PASS"}))
    sys.exit(0)


if __name__ == "__main__":
    main()
