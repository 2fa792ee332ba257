"""Match quality and speed on data recon did not generate: the bankworld generator.

    python benchmarks/bench_world.py                           # 5k and 100k, both profiles
    python benchmarks/bench_world.py --rows 5000 100000 1000000 --profile default
    python benchmarks/bench_world.py --rows 5000 --cli         # also through `recon match`
    python benchmarks/bench_world.py --oracle                  # scores the truth: all 1.000

For each profile and size: generates a world with tests/bankworld (seeded: the same files on
every machine), writes its files into a scratch folder (``--keep DIR`` keeps them), then in a
fresh process (so that the peak memory is that run's alone; the world is built in another)
runs recon's real file path
(bank file reader, ledger loader through the world's config.yaml, engine; each timed on its
own) and scores the result against the truth. Prints the figures and writes them as JSON.
``--cli`` also runs the ``recon match`` command itself on the files and scores its
matches.csv / discrepancies.csv (minutes at a million rows: it writes the workbook too).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.bankworld import build  # noqa: E402
from tests.bankworld import score as sc  # noqa: E402

RATIOS = ("precision", "recall", "auto_precision", "auto_recall", "open_right_kind",
          "open_kept_out")


def child(folder: Path, examples: int, oracle: bool) -> dict[str, Any]:
    """Runs in its own process: recon on the folder, then the score."""
    from tests.bankworld.run import run_recon

    truth = sc.load_truth(folder)
    if oracle:
        scored = sc.score(truth, sc.truth_as_prediction(truth))
        return {"seconds": {}, "overall": scored.overall, "report": sc.report(scored),
                "score": scored.to_json(), "peak_rss_mb": _rss_mb()}
    out = run_recon(folder)
    rss_loaded = _rss_mb()  # the engine runs after loading; ru_maxrss only grows
    started = time.perf_counter()
    scored = sc.score(truth, sc.prediction_from_result(out.result), bank=out.bank,
                      ledger=out.ledger, examples=examples)
    seconds = dict(out.seconds, score=time.perf_counter() - started)
    return {"seconds": seconds, "overall": scored.overall, "score": scored.to_json(),
            "report": sc.report(scored), "peak_rss_mb": _rss_mb(),
            "peak_rss_mb_before_engine": rss_loaded,
            "bank_rows": len(out.bank), "ledger_rows": len(out.ledger)}


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def via_cli(folder: Path, as_of: str) -> dict[str, Any]:
    out = folder / "recon-match"
    started = time.perf_counter()
    completed = subprocess.run(
        [sys.executable, "-m", "recon", "match", "--config", str(folder / "config.yaml"),
         "--bank", str(folder / "bank.json"), "--ledger", str(folder / "ledger.csv"),
         "--out", str(out), "--as-of", as_of], capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - started
    if completed.returncode not in (0, 3):  # 3: worked, discrepancies above the threshold
        raise SystemExit(f"recon match failed ({completed.returncode}):\n{completed.stderr}")
    scored = sc.score(sc.load_truth(folder), sc.prediction_from_files(out), examples=0)
    return {"seconds": seconds, "exit_code": completed.returncode, "overall": scored.overall}


def build_child(folder: Path, rows: int, profile: str) -> dict[str, Any]:
    """Runs in its own process, so that the parent never holds a world."""
    started = time.perf_counter()
    build(rows, folder, profile)
    return {"seconds": time.perf_counter() - started, "peak_rss_mb": _rss_mb()}


def _child(*arguments: str) -> dict[str, Any]:
    completed = subprocess.run([sys.executable, __file__, *arguments], capture_output=True,
                               text=True, check=False)
    if completed.returncode != 0:
        raise SystemExit(f"{' '.join(arguments)} failed:\n{completed.stderr}")
    result: dict[str, Any] = json.loads(completed.stdout)
    return result


def run_one(profile: str, rows: int, args: argparse.Namespace, scratch: Path) -> dict[str, Any]:
    folder = scratch / f"{profile}-{rows}"
    built = _child("--build", str(folder), "--rows", str(rows), "--profile", profile)
    meta = json.loads((folder / "world.json").read_text(encoding="utf-8"))
    result = _child("--child", str(folder), "--examples", str(args.examples),
                    *(["--oracle"] if args.oracle else []))
    result.update(profile=profile, rows=rows, generate_and_write_seconds=built["seconds"],
                  generate_peak_rss_mb=built["peak_rss_mb"],
                  world=meta["counts"], as_of=meta["as_of"], folder=str(folder),
                  bank_file_mb=(folder / "bank.json").stat().st_size / 2**20,
                  ledger_file_mb=(folder / "ledger.csv").stat().st_size / 2**20)
    if args.cli:
        result["cli"] = via_cli(folder, meta["as_of"])
    return result


def summary(results: list[dict[str, Any]]) -> str:
    head = (f"{'profile':<8} {'rows':>9} {'bank':>8} {'gen+write':>9} {'bank rd':>8} "
            f"{'ledger':>7} {'engine':>7} {'peak MB':>8} {'prec':>6} {'recall':>6} "
            f"{'a.prec':>6} {'a.rec':>6} {'open':>6}")
    lines = [head, "-" * len(head)]
    for r in results:
        s, o = r["seconds"], r["overall"]
        lines.append(
            f"{r['profile']:<8} {r['world']['ledger_rows']:>9,} {r['world']['bank_rows']:>8,} "
            f"{r['generate_and_write_seconds']:>8.1f}s {s.get('bank_load', 0):>7.1f}s "
            f"{s.get('ledger_load', 0):>6.1f}s {s.get('engine', 0):>6.1f}s "
            f"{r['peak_rss_mb']:>8,.0f} {o['precision']:>6.3f} {o['recall']:>6.3f} "
            f"{o['auto_precision']:>6.3f} {o['auto_recall']:>6.3f} {o['open_right_kind']:>6.3f}")
        if "cli" in r:
            c = r["cli"]["overall"]
            lines.append(f"{'  recon match (CSV files)':<38} {r['cli']['seconds']:>6.1f}s"
                         f"{'':>25} {c['precision']:>6.3f} {c['recall']:>6.3f} "
                         f"{c['auto_precision']:>6.3f} {c['auto_recall']:>6.3f} "
                         f"{c['open_right_kind']:>6.3f}")
    return "\n".join(lines)


def family_table(results: list[dict[str, Any]], key: str, title: str) -> str:
    """Recall (auto + suggested) / auto share per family or pattern, one column per run."""
    names = sorted({n for r in results for n in r["score"][key]})
    runs = [f"{r['profile'][:4]} {r['world']['ledger_rows'] // 1000}k" for r in results]
    lines = [f"{title:<24} " + " ".join(f"{run:>16}" for run in runs),
             f"{'(recall / auto)':<24} " + " ".join(f"{'':>16}" for _ in runs)]
    for name in names:
        cells = []
        for r in results:
            row = r["score"][key].get(name)
            cells.append(f"{'-':>16}" if row is None else
                         f"{1 - row['missed']:>8.3f} /{row['auto']:>6.3f}")
        lines.append(f"{name:<24} " + " ".join(cells))
    return "\n".join(lines)


def open_table(results: list[dict[str, Any]]) -> str:
    names = sorted({n for r in results for n in r["score"]["opens"]})
    runs = [f"{r['profile'][:4]} {r['world']['ledger_rows'] // 1000}k" for r in results]
    lines = [f"{'open items (right kind)':<24} " + " ".join(f"{run:>10}" for run in runs)]
    for name in names:
        cells = []
        for r in results:
            row = r["score"]["opens"].get(name)
            cells.append(f"{'-':>10}" if row is None else f"{row['right_kind']:>10.3f}")
        lines.append(f"{name:<24} " + " ".join(cells))
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[5000, 100_000])
    parser.add_argument("--profile", choices=["default", "holdout", "both"], default="both")
    parser.add_argument("--json", type=Path, help="write every figure here (default: print)")
    parser.add_argument("--keep", type=Path, help="write the worlds here and keep them")
    parser.add_argument("--examples", type=int, default=3, help="missed/wrong links shown")
    parser.add_argument("--cli", action="store_true", help="also run `recon match` itself")
    parser.add_argument("--oracle", action="store_true", help="score the truth itself")
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--build", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.build:
        print(json.dumps(build_child(args.build, args.rows[0], args.profile)))
        return 0
    if args.child:
        print(json.dumps(child(args.child, args.examples, args.oracle)))
        return 0
    profiles = ["default", "holdout"] if args.profile == "both" else [args.profile]
    with tempfile.TemporaryDirectory(prefix="bench-world-") as temporary:
        scratch = args.keep or Path(temporary)
        results = []
        for profile in profiles:
            for rows in sorted(args.rows):
                result = run_one(profile, rows, args, scratch)
                results.append(result)
                print(f"done: {profile} {rows:,} rows", file=sys.stderr)
    print(summary(results))
    print()
    print(family_table(results, "families", "per family"))
    print()
    print(family_table(results, "patterns", "per pattern"))
    print()
    print(open_table(results))
    for profile in profiles:
        largest = [r for r in results if r["profile"] == profile][-1]
        print(f"\n=== {profile}, {largest['world']['ledger_rows']:,} ledger rows ===")
        print(largest["report"])
    document = [{k: v for k, v in r.items() if k != "report"} for r in results]
    if args.json:
        args.json.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    else:
        print(json.dumps([{k: r[k] for k in ("profile", "rows", "seconds", "overall",
                                             "peak_rss_mb")} for r in document]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
