"""Report writing at scale: 1,000,000 ledger entries (~950k links, ~50k discrepancies).

    /tmp/venv/bin/python benchmarks/bench_report.py [--entries 1000000] [--out DIR]

Builds a synthetic MatchResult of realistic shape, then measures build_report and each writer
(xlsx, html, csv + json) separately, with the process's peak RSS. HTML sections are capped at
recon.reporting.html.HTML_MAX_ROWS rows each (the rest are in the workbook and the CSVs).
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

from recon.carry import CarryForward
from recon.frames import ALTERNATIVE_COLUMNS, DISCREPANCY_KINDS, MatchResult
from recon.reporting import build_report, write_reports
from recon.reporting.model import AccountInfo, ItemHealth, ReportInputs

AS_OF = date(2024, 3, 15)


def synthetic_result(entries: int, seed: int = 7) -> MatchResult:
    rng = np.random.default_rng(seed)
    n_links = int(entries * 0.95)
    n_disc = entries - n_links
    accounts = np.array(["ops-usd", "ops-eur", "payroll-usd", "ops-jpy"])
    currencies = np.array(["USD", "EUR", "USD", "JPY"])
    link_account = rng.integers(0, 4, n_links)
    statuses = rng.choice(["matched", "matched_with_difference", "suggested"], n_links,
                          p=[0.93, 0.05, 0.02])
    group = np.arange(n_links) // 1  # one-to-one; every 50th group gets two ledger rows below
    group[1::50] = group[0::50][: len(group[1::50])]
    match_ids = np.char.add("m-", group.astype(str))
    links = pd.DataFrame({
        "match_id": match_ids,
        "bank_transaction_id": np.char.add("txn-", group.astype(str)),
        "ledger_entry_id": np.char.add("JE-", np.arange(n_links).astype(str)),
        "status": statuses,
        "rule": np.where(statuses == "matched", "exact", "within_fee"),
        "score": rng.uniform(0.6, 1.0, n_links).round(4),
        "amount_difference_minor": np.where(statuses == "matched", 0,
                                            rng.integers(-500, 500, n_links)),
        "date_difference_days": rng.integers(-3, 4, n_links),
        "account": accounts[link_account],
        "currency": currencies[link_account],
        "explanation": "amount equal, date within 3 days, reference matches",
    })
    disc_account = rng.integers(0, 4, n_disc)
    ages = rng.integers(0, 90, n_disc)
    kinds = rng.choice(np.array(DISCREPANCY_KINDS), n_disc)
    sides = np.where(kinds == "unmatched_ledger", "ledger",
                     np.where(kinds == "amount_mismatch", "both", "bank"))
    discrepancies = pd.DataFrame({
        "discrepancy_id": np.char.add("d-", np.arange(n_disc).astype(str)),
        "kind": kinds,
        "side": sides,
        "bank_transaction_id": np.where(sides != "ledger",
                                        np.char.add("txn-x", np.arange(n_disc).astype(str)), ""),
        "ledger_entry_id": np.where(sides != "bank",
                                    np.char.add("JE-x", np.arange(n_disc).astype(str)), ""),
        "account": accounts[disc_account],
        "date": pd.Timestamp(AS_OF) - pd.to_timedelta(ages, unit="D"),
        "amount_minor": rng.integers(-5_000_000, 5_000_000, n_disc),
        "currency": currencies[disc_account],
        "age_days": ages,
        "description": np.char.add("POS PURCHASE MERCHANT #", np.arange(n_disc).astype(str)),
        "explanation": "no ledger entry within 5 days and 1.00",
        "nearest_candidate": "JE-123",
    })
    suggested = links[links["status"] == "suggested"]
    alternatives = pd.DataFrame({
        "match_id": suggested["match_id"].to_numpy(),
        "bank_transaction_id": suggested["bank_transaction_id"].to_numpy(),
        "ledger_entry_id": np.char.add(suggested["ledger_entry_id"].to_numpy().astype(str), "-alt"),
        "score": 0.65,
    }, columns=list(ALTERNATIVE_COLUMNS))
    return MatchResult(links=links, discrepancies=discrepancies, alternatives=alternatives)


def timed(label: str, action: Callable[[], object], figures: dict[str, float]) -> object:
    start = time.perf_counter()
    value = action()
    figures[label] = time.perf_counter() - start
    print(f"{label:<14} {figures[label]:8.1f} s   peak RSS {peak_rss_mib():8.0f} MiB", flush=True)
    return value


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    out = args.out or Path(tempfile.mkdtemp(prefix="bench-report-"))
    figures: dict[str, float] = {}
    result = timed("synthesise", lambda: synthetic_result(args.entries), figures)
    assert isinstance(result, MatchResult)
    accounts = (AccountInfo("ops-usd", "Operating", "USD"), AccountInfo("ops-eur", "EU", "EUR"),
                AccountInfo("payroll-usd", "Payroll", "USD"), AccountInfo("ops-jpy", "JP", "JPY"))
    inputs = ReportInputs(
        run_id="bench", as_of=AS_OF, window_start=AS_OF - timedelta(days=90), window_end=AS_OF,
        generated_at=datetime.now(UTC), account_set="bench", accounts=accounts, result=result,
        carry_forward=CarryForward.without_history(AS_OF, result),
        bank_movement_minor={}, ledger_movement_minor={},
        item_health=(ItemHealth("Bank", "item-1", datetime.now(UTC), "active"),),
    )
    report = timed("build_report", lambda: build_report(inputs), figures)
    for fmt in ("xlsx", "html", "csv", "json"):
        timed(f"write {fmt}", lambda fmt=fmt: write_reports(report, out, formats=[fmt]), figures)
    print(f"links {len(result.links):,}  discrepancies {len(result.discrepancies):,}  -> {out}")
    for path in sorted(out.iterdir()):
        print(f"  {path.name:<36} {path.stat().st_size / 2**20:8.1f} MiB")
    print(f"peak RSS {peak_rss_mib():.0f} MiB; total {sum(figures.values()):.1f} s")


if __name__ == "__main__":
    main()
