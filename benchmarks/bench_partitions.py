"""Partitioned execution: the engine on ``local``, ``processes`` and ``dask`` at scale.

    python benchmarks/bench_partitions.py                        # 1M ledger rows (~0.9M bank)
    python benchmarks/bench_partitions.py --rows 5000000         # 5M
    python benchmarks/bench_partitions.py --executors dask --store postgresql://postgres@127.0.0.1/db

Each executor runs in a process of its own (so its peak RSS is its own) on the same generated
data (recon.synth, the engine benchmark's six accounts in USD, JPY, EUR and GBP over 92 days,
seed 20250101): generate, then ``recon.execution.reconcile_with`` (split into (account,
currency) partitions, reconcile them on the workers, merge), timed as a whole. ``processes``
and ``dask`` use 2 workers (a Dask ``LocalCluster`` of 2 processes). ``--store`` (an empty
database) has every partition committed to that state store as it is done, then times the
coordinator's save of the merged result (the run's PostgreSQL load).

Prints, per executor: the wall time of the reconciliation, the coordinator's peak RSS, each
worker's peak RSS and the partitions' own times, and a digest of the result frames: every
executor must print the same digest (the same links, open items and alternatives, byte for
byte). Last, one JSON line with every figure.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench_engine import ACCOUNTS, END, SEED, START

REPO = Path(__file__).resolve().parents[1]


def _child(rows: int, executor: str, workers: int, store: str | None) -> dict[str, Any]:
    from recon.config import ExecutionConfig, load_config
    from recon.execution import reconcile_with
    from recon.partitions import frame_bytes
    from recon.store.db import open_store
    from recon.synth import generate

    matching = load_config(REPO / "config.yaml").matching
    started = time.perf_counter()
    data = generate(ACCOUNTS, start=START, end=END, seed=SEED, ledger_rows=rows)
    generated = time.perf_counter() - started
    if store is not None:
        open_store(store).dispose()  # the schema, before the clock starts
    started = time.perf_counter()
    run = reconcile_with(ExecutionConfig(executor=executor, workers=workers),  # type: ignore[arg-type]
                         data.bank, data.ledger, matching, as_of=END, store_url=store)
    seconds = time.perf_counter() - started
    digest = hashlib.sha256()
    for frame in (run.result.links, run.result.discrepancies, run.result.alternatives):
        digest.update(frame_bytes(frame))
    stored = _save(store, run.result) if store is not None else {}
    return {
        **stored,
        "executor": executor, "workers": workers if executor != "local" else 1,
        "bank_rows": len(data.bank), "ledger_rows": len(data.ledger),
        "generate_seconds": round(generated, 1), "reconcile_seconds": round(seconds, 1),
        "coordinator_peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "worker_peak_rss_mb": _peaks(run.reports),
        "partitions": [{"partition": r.partition, "rows": r.rows, "seconds": round(r.seconds, 1)}
                       for r in run.reports],
        "links": len(run.result.links), "open_items": len(run.result.discrepancies),
        "steps_seconds": {k: round(v, 1) for k, v in run.seconds.items()},
        "partition_seconds_total": round(sum(r.seconds for r in run.reports), 1),
        "result_digest": digest.hexdigest()[:16],
    }  # fmt: skip


def _save(store: str, result: Any) -> dict[str, Any]:
    """What the store holds for the partitions, then the coordinator's save of the merged
    result (links, open items, carry-forward) and the removal of the partition rows: the
    run's own PostgreSQL load after matching."""
    from datetime import UTC, datetime

    from sqlalchemy import func, select

    from recon.store.db import open_store
    from recon.store.partitions import clear_night
    from recon.store.results import save_reconciliation
    from recon.store.runs import start_run
    from recon.store.schema import partition_results as table

    engine = open_store(store)
    try:
        with engine.connect() as connection:
            count, size = connection.execute(select(
                func.count(), func.sum(func.length(table.c.links) + func.length(
                    table.c.discrepancies) + func.length(table.c.alternatives)))).one()
        run_id = start_run(engine, kind="run", as_of=END, window_start=START, window_end=END,
                           config_hash="bench", now=datetime.now(UTC))
        started = time.perf_counter()
        with engine.begin() as connection:
            save_reconciliation(connection, run_id=run_id, as_of=END, result=result)
            clear_night(connection, END)
        saved = time.perf_counter() - started
    finally:
        engine.dispose()
    return {"partition_rows_in_store": count, "partition_mb_in_store": round((size or 0) / 2**20),
            "save_seconds": round(saved, 1)}


def _peaks(reports: list[Any]) -> list[int]:
    """Each worker process's peak RSS in MB (its largest report: a peak only grows)."""
    peaks: dict[str, int] = {}
    for report in reports:
        peaks[report.worker] = max(peaks.get(report.worker, 0), report.peak_rss_kb)
    return sorted(round(kb / 1024) for kb in peaks.values())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="ledger rows")
    parser.add_argument("--executors", default="local,processes,dask")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--store", default=None, help="state store URL for the partitions")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(_child(args.rows, args.child, args.workers, args.store)))
        return
    figures = []
    for executor in args.executors.split(","):
        command = [sys.executable, __file__, "--rows", str(args.rows), "--workers",
                   str(args.workers), "--child", executor]
        if args.store:
            command += ["--store", args.store]
        done = subprocess.run(command, capture_output=True, text=True, cwd=REPO, check=False)
        if done.returncode != 0:
            print(f"{executor}: FAILED\n{done.stderr[-3000:]}")
            continue
        figure = json.loads(done.stdout.strip().splitlines()[-1])
        figures.append(figure)
        slowest = max(p["seconds"] for p in figure["partitions"])
        print(f"{executor:>9} x{figure['workers']}: {figure['reconcile_seconds']:7.1f} s, "
              f"coordinator peak {figure['coordinator_peak_rss_mb']:,} MB, workers' peak "
              f"{figure['worker_peak_rss_mb']} MB, {len(figure['partitions'])} partition(s), "
              f"slowest {slowest:.1f} s, all partitions {figure['partition_seconds_total']} s, "
              f"steps {figure['steps_seconds']}, digest {figure['result_digest']}", flush=True)
        if "save_seconds" in figure:
            print(f"{'':>13} store: {figure['partition_rows_in_store']} partition rows, "
                  f"{figure['partition_mb_in_store']:,} MB; the merged result saved in "
                  f"{figure['save_seconds']} s", flush=True)
    same = len({f["result_digest"] for f in figures}) == 1
    print("same result on every executor:", "yes" if same else "NO")
    print(json.dumps({"rows": args.rows, "same_result": same, "runs": figures}))
    if not same:
        sys.exit(1)


if __name__ == "__main__":
    main()
