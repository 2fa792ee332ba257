"""Engine benchmark: speed, memory and match quality against synthetic ground truth.

    python benchmarks/bench_engine.py                 # 100k and 1M ledger rows (~0.9M bank)
    python benchmarks/bench_engine.py --rows 300000   # 30k and 300k
    python benchmarks/bench_engine.py --quick         # 2k and 20k: a smoke run
    python benchmarks/bench_engine.py --oracle        # score the ground truth itself (checks the
                                                      # metric code; precision/recall must be 1.0)

Each size runs in a process of its own so its peak RSS (ru_maxrss) is its own. In that process:
generate the data (recon.synth, 92 days, six accounts in USD, JPY, EUR and GBP), run
``recon.engine.reconcile`` (``--repeat`` times, the sizes taking turns, best time counts), then a
simple greedy baseline on the same frames, then score both. Prints readable tables and, last,
one JSON line with every figure.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import resource
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import IO, Any

import numpy as np
import pandas as pd

from recon.config import MatchingConfig, load_config
from recon.money import currency_exponent
from recon.synth import SynthAccount, SynthData, demo_accounts, generate

REPO = Path(__file__).resolve().parents[1]
START = date(2025, 1, 1)
END = START + timedelta(days=91)  # 92 days
SEED = 20250101
ACCOUNTS = (
    *demo_accounts(),
    SynthAccount("Ew3kR8nYq2LpZ5vT7xB4cM9dF1gH6jK0sAoUi", "1040-berlin-eur", "EUR", "Berlin EUR"),
    SynthAccount("Hn6tV1bQw9ErY3uI5oP7aS2dF4gJ8kL0zXcMv", "1050-collections-usd", "USD",
                 "Collections USD"),
    SynthAccount("Lc2xZ7vB5nM1qW8eR4tY6uI9oP3aS0dFgHjKl", "1060-london-gbp", "GBP", "London GBP"),
)
AUTO_STATUSES = ("matched", "matched_with_difference")
TARGET_RATIO = 12.0
TARGET_SECONDS_1M = 20.0
TARGET_RSS_MB = 3072.0
# The discrepancy kinds a perfect engine reports for items that must stay unlinked.
EXPECTED_KIND = {
    ("unmatched_bank", "bank"): {"unmatched_bank"},
    ("unmatched_ledger", "ledger"): {"unmatched_ledger"},
    ("duplicate", "bank"): {"probable_duplicate"},
    ("duplicate", "ledger"): {"probable_duplicate"},
    ("pending", "bank"): {"pending"},
    ("pending", "ledger"): {"unmatched_ledger", "pending"},
    ("reversal", "bank"): {"reversal"},
}


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


# --- the greedy baseline ----------------------------------------------------------------------


def greedy_baseline(bank: pd.DataFrame, ledger: pd.DataFrame, *, days: int = 3) -> pd.DataFrame:
    """What a naive tool does: for each ledger entry in file order, take the first unmatched
    bank row (in bank file order) in the same account and currency within +-0.01 and +-days."""
    keys = pd.concat([bank[["account", "currency"]], ledger[["account", "currency"]]])
    codes, uniques = pd.MultiIndex.from_frame(keys).factorize()
    bank_code = codes[: len(bank)].astype(np.int64)
    ledger_code = codes[len(bank):].astype(np.int64)
    tolerance = [10 ** currency_exponent(c) // 100 for _, c in uniques]  # 0.01 in minor units
    bank_amount = bank["amount_minor"].to_numpy(np.int64)
    bank_day = bank["date"].to_numpy("datetime64[D]").astype(np.int64)
    order = np.lexsort((np.arange(len(bank)), bank_day, bank_amount, bank_code))
    sorted_code, sorted_amount = bank_code[order], bank_amount[order]
    boundary = np.flatnonzero(np.diff(sorted_code) | np.diff(sorted_amount)) + 1
    starts = np.concatenate([[0], boundary]).tolist()
    ends = np.concatenate([boundary, [len(order)]]).tolist()
    spans = {
        (c, a): (s, e)
        for c, a, s, e in zip(sorted_code[starts].tolist(), sorted_amount[starts].tolist(),
                              starts, ends, strict=True)
    }
    sday = bank_day[order].tolist()
    spos = order.tolist()
    used = bytearray(len(order))
    pairs_l: list[int] = []
    pairs_b: list[int] = []
    ledger_day = ledger["date"].to_numpy("datetime64[D]").astype(np.int64).tolist()
    for index, (code, amount, day) in enumerate(zip(
            ledger_code.tolist(), ledger["amount_minor"].tolist(), ledger_day, strict=True)):
        tol = tolerance[code]
        best = -1
        for candidate_amount in range(amount - tol, amount + tol + 1):
            span = spans.get((code, candidate_amount))
            if span is None:
                continue
            for j in range(span[0], span[1]):
                if sday[j] < day - days:
                    continue
                if sday[j] > day + days:
                    break
                if not used[j]:
                    if best < 0 or spos[j] < spos[best]:
                        best = j
                    break
        if best >= 0:
            used[best] = 1
            pairs_l.append(index)
            pairs_b.append(spos[best])
    return pd.DataFrame({
        "bank_transaction_id": bank["transaction_id"].to_numpy()[pairs_b],
        "ledger_entry_id": ledger["entry_id"].to_numpy()[pairs_l],
        "status": "matched",
        "rule": "greedy",
    })


# --- scoring --------------------------------------------------------------------------------------


def _pair_key(bank_ids: pd.Series, ledger_ids: pd.Series) -> pd.Series:
    return bank_ids.astype(str) + "|" + ledger_ids.astype(str)


def score(data: SynthData, links: pd.DataFrame, discrepancies: pd.DataFrame | None,
          *, examples: int = 3) -> dict[str, Any]:
    """Precision/recall of links against truth, overall and per scenario.

    A duplicate delivery (or double posting) is interchangeable with its original: linking the
    copy instead of the original is correct, linking both is one right and one wrong link.
    """
    truth = data.truth
    is_link = (truth["bank_transaction_id"] != "") & (truth["ledger_entry_id"] != "")
    true_links = truth[is_link]
    # Canonical ids: a duplicate copy stands for the original it copies.
    canonical: dict[str, str] = {}
    for _, group in truth[truth["scenario"] == "duplicate"].groupby("group_id"):
        linked = group[(group["bank_transaction_id"] != "") & (group["ledger_entry_id"] != "")]
        extra = group.drop(linked.index)
        if len(linked) == 1 and len(extra) == 1:
            row, copy = linked.iloc[0], extra.iloc[0]
            if copy["bank_transaction_id"]:
                canonical[copy["bank_transaction_id"]] = row["bank_transaction_id"]
            else:
                canonical[copy["ledger_entry_id"]] = row["ledger_entry_id"]
    links = links.reset_index(drop=True)
    bank_ids = links["bank_transaction_id"].map(lambda i: canonical.get(i, i))
    ledger_ids = links["ledger_entry_id"].map(lambda i: canonical.get(i, i))
    key = _pair_key(bank_ids, ledger_ids)
    truth_key = _pair_key(true_links["bank_transaction_id"], true_links["ledger_entry_id"])
    truth_scenario = pd.Series(true_links["scenario"].to_numpy(), index=truth_key.to_numpy())
    correct = key.isin(truth_key) & ~key.duplicated()
    auto = links["status"].isin(AUTO_STATUSES)
    n_truth = len(true_links)
    n_pred, n_auto = len(links), int(auto.sum())
    found = set(key[correct])
    found_auto = set(key[correct & auto])

    def ratio(a: float, b: float) -> float | None:
        return round(a / b, 4) if b else None

    overall = {
        "truth_links": n_truth,
        "links": n_pred,
        "auto_links": n_auto,
        "precision": ratio(int(correct.sum()), n_pred),
        "recall": ratio(int(correct.sum()), n_truth),  # = share matched or suggested
        "auto_precision": ratio(int((correct & auto).sum()), n_auto),
        "auto_recall": ratio(int((correct & auto).sum()), n_truth),
    }

    # item -> scenario, for blaming wrong links on the scenarios whose items they touch
    bank_scenario = dict(zip(truth["bank_transaction_id"], truth["scenario"], strict=True))
    ledger_scenario = dict(zip(truth["ledger_entry_id"], truth["scenario"], strict=True))
    wrong = links[~correct]
    wrong_touching: dict[str, int] = defaultdict(int)
    wrong_auto_touching: dict[str, int] = defaultdict(int)
    wrong_examples: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row, is_auto in zip(wrong.itertuples(index=False), auto[~correct].tolist(), strict=True):
        touched = {bank_scenario.get(row.bank_transaction_id, "?"),
                   ledger_scenario.get(row.ledger_entry_id, "?")}
        for scenario in touched:
            wrong_touching[scenario] += 1
            if is_auto:
                wrong_auto_touching[scenario] += 1
                if len(wrong_examples[scenario]) < examples:
                    wrong_examples[scenario].append(
                        {"bank": row.bank_transaction_id, "ledger": row.ledger_entry_id,
                         "status": row.status, "rule": getattr(row, "rule", "")})

    linked_bank = set(links.loc[auto, "bank_transaction_id"])
    linked_ledger = set(links.loc[auto, "ledger_entry_id"])
    any_bank = set(links["bank_transaction_id"])
    any_ledger = set(links["ledger_entry_id"])
    flagged: dict[tuple[str, str], set[str]] = defaultdict(set)
    mismatch_pairs: set[str] = set()
    if discrepancies is not None and len(discrepancies):
        for row in discrepancies.itertuples(index=False):
            if row.bank_transaction_id:
                flagged[("bank", row.bank_transaction_id)].add(row.kind)
            if row.ledger_entry_id:
                flagged[("ledger", row.ledger_entry_id)].add(row.kind)
            if row.kind == "amount_mismatch":
                mismatch_pairs.add(f"{row.bank_transaction_id}|{row.ledger_entry_id}")

    per_scenario: dict[str, dict[str, Any]] = {}
    miss_examples: dict[str, list[str]] = defaultdict(list)
    for scenario, rows in truth.groupby("scenario"):
        link_rows = rows[(rows["bank_transaction_id"] != "") & (rows["ledger_entry_id"] != "")]
        keys = _pair_key(link_rows["bank_transaction_id"], link_rows["ledger_entry_id"]).tolist()
        n_links = len(keys)
        n_auto_ok = sum(k in found_auto for k in keys)
        n_any_ok = sum(k in found for k in keys)
        for k in keys:
            if k not in found and len(miss_examples[str(scenario)]) < examples:
                miss_examples[str(scenario)].append(k)
        entry: dict[str, Any] = {
            "truth_links": n_links,
            "auto_ok": ratio(n_auto_ok, n_links),
            "suggested_ok": ratio(n_any_ok - n_auto_ok, n_links),
            "missed": ratio(n_links - n_any_ok, n_links),
            "wrong_links_touching": wrong_touching.get(str(scenario), 0),
            "wrong_auto_links_touching": wrong_auto_touching.get(str(scenario), 0),
        }
        if scenario == "mismatch" and discrepancies is not None:
            flagged_pairs = sum(k in mismatch_pairs for k in keys)
            entry["flagged_amount_mismatch"] = ratio(flagged_pairs, n_links)
        singles = rows[(rows["bank_transaction_id"] == "") | (rows["ledger_entry_id"] == "")]
        if len(singles):
            left_alone = 0
            right_kind = 0
            for row in singles.itertuples(index=False):
                side = "bank" if row.bank_transaction_id else "ledger"
                item = row.bank_transaction_id or row.ledger_entry_id
                auto_linked = linked_bank if side == "bank" else linked_ledger
                # A duplicate copy and its original are interchangeable: whichever of the two
                # is left unlinked must be reported (as a probable duplicate).
                twins = [item, canonical[item]] if item in canonical else [item]
                left_alone += any(x not in auto_linked for x in twins)
                expected = EXPECTED_KIND.get((str(scenario), side), set())
                right_kind += any(flagged.get((side, x), set()) & expected for x in twins)
            entry["unlinked_items"] = len(singles)
            entry["not_auto_linked"] = ratio(left_alone, len(singles))
            if discrepancies is not None:
                entry["right_discrepancy_kind"] = ratio(right_kind, len(singles))
        per_scenario[str(scenario)] = entry
    del any_bank, any_ledger, truth_scenario
    return {"overall": overall, "scenarios": per_scenario,
            "wrong_auto_examples": dict(wrong_examples), "missed_examples": dict(miss_examples)}


def describe_examples(data: SynthData, result: dict[str, Any], limit: int) -> list[str]:
    """Human-readable lines for wrong auto links and missed links (for the engine author)."""
    bank = data.bank.set_index("transaction_id")
    ledger = data.ledger.set_index("entry_id")

    def side(frame: pd.DataFrame, item: str) -> str:
        if item not in frame.index:
            return f"{item} (not in input)"
        row = frame.loc[item]
        return (f"{item[:10]} {row['date']:%m-%d} {row['amount_minor']:>10} {row['account']} "
                f"{row['description'][:40]!r}")

    lines: list[str] = []
    truth = data.truth
    for scenario, items in result["wrong_auto_examples"].items():
        for example in items[:limit]:
            partner = truth.loc[truth["bank_transaction_id"] == example["bank"], "ledger_entry_id"]
            lines.append(f"  WRONG {scenario:<16} {example['status']}/{example['rule']}: "
                         f"bank {side(bank, example['bank'])}")
            lines.append(f"        linked to ledger {side(ledger, example['ledger'])}")
            if len(partner) and partner.iloc[0]:
                lines.append(f"        truth    ledger {side(ledger, partner.iloc[0])}")
    for scenario, keys in result["missed_examples"].items():
        for key in keys[:limit]:
            bank_id, ledger_id = key.split("|")
            lines.append(f"  MISSED {scenario:<15} bank {side(bank, bank_id)}")
            lines.append(f"        ledger {side(ledger, ledger_id)}")
    return lines


# --- one size, in its own process -------------------------------------------------------------


def matching_config() -> MatchingConfig:
    return load_config(REPO / "config.yaml", environ={}).matching


def worker(rows: int, seed: int, oracle: bool, examples: int) -> None:
    """One size, driven over stdin by :func:`run_sizes`: "run" times one engine run and prints
    its seconds; "finish" runs the baseline and the scoring and prints every figure."""
    started = time.perf_counter()
    data = generate(ACCOUNTS, start=START, end=END, seed=seed, ledger_rows=rows)
    generate_s = time.perf_counter() - started
    rss_before = peak_rss_mb()
    matching = matching_config()
    if not oracle:
        # Imported here (the oracle mode works without the engine) and before the clock starts:
        # loading scipy and rapidfuzz from a cold disk cache took ~0.7 s, not engine time.
        from recon.engine import reconcile
    engine_runs: list[float] = []
    # The process's CPU time (all its threads): what other processes on a shared machine take
    # shows less in it than in the wall time.
    engine_cpu: list[float] = []
    first = None
    rss_engine = rss_before
    print("ready", flush=True)
    for command in sys.stdin:
        if command.strip() != "run":
            break
        if oracle:
            engine_runs.append(0.0)
            engine_cpu.append(0.0)
        else:
            started, cpu_started = time.perf_counter(), time.process_time()
            result = reconcile(data.bank, data.ledger, matching, as_of=END)
            engine_runs.append(time.perf_counter() - started)
            engine_cpu.append(time.process_time() - cpu_started)
            if first is None:
                first = result
                rss_engine = peak_rss_mb()  # one run's peak: later runs also hold this result
            elif not (result.links.equals(first.links)
                      and result.discrepancies.equals(first.discrepancies)):
                raise SystemExit("the engine gave different results on the same data")
            del result
        print(json.dumps({"seconds": engine_runs[-1]}), flush=True)
    if oracle or first is None:
        truth = data.truth
        links = truth[(truth["bank_transaction_id"] != "") & (truth["ledger_entry_id"] != "")]
        links = links.assign(status="matched", rule="oracle")
        discrepancies = None
    else:
        links, discrepancies = first.links, first.discrepancies
    baseline_runs: list[float] = []
    for _ in range(max(1, len(engine_runs))):  # best of as many runs, for a fair ratio
        started = time.perf_counter()
        baseline_links = greedy_baseline(data.bank, data.ledger)
        baseline_runs.append(time.perf_counter() - started)
    engine_quality = score(data, links, discrepancies, examples=examples)
    baseline_quality = score(data, baseline_links, None, examples=examples)
    print(json.dumps({
        "ledger_rows": len(data.ledger),
        "bank_rows": len(data.bank),
        "generate_seconds": round(generate_s, 3),
        "engine_seconds": round(min(engine_runs, default=0.0), 3),
        "engine_runs_seconds": [round(t, 3) for t in engine_runs],
        "engine_cpu_seconds": round(min(engine_cpu, default=0.0), 3),
        "baseline_seconds": round(min(baseline_runs), 3),
        "peak_rss_mb_before_engine": round(rss_before, 1),
        "peak_rss_mb": round(rss_engine, 1),
        "engine": engine_quality,
        "baseline": baseline_quality,
        "examples": describe_examples(data, engine_quality, examples),
    }), flush=True)


def run_sizes(sizes: list[int], seed: int, oracle: bool, examples: int,
              repeat: int) -> list[dict[str, Any]]:
    """Every size in a process of its own (its peak RSS is its own), their engine runs taken in
    turns (small, large, small, large...): on a shared machine a slow spell then slows both
    sizes alike instead of skewing the ratio between them."""
    with contextlib.ExitStack() as stack:
        workers = []
        for rows in sizes:
            command = [sys.executable, str(Path(__file__).resolve()), "--worker", "--rows",
                       str(rows), "--seed", str(seed), "--examples", str(examples)]
            if oracle:
                command.append("--oracle")
            errors = stack.enter_context(tempfile.TemporaryFile(mode="w+"))
            process = stack.enter_context(subprocess.Popen(
                command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=errors,
                text=True, cwd=REPO))
            workers.append(_Worker(rows, process, errors))
            workers[-1].reply()  # "ready": one size generates its data at a time
        for turn in range(max(1, repeat)):
            for worker_ in workers:
                print(f"engine run {turn + 1} of {repeat}, {worker_.rows} ledger rows ...",
                      file=sys.stderr, flush=True)
                worker_.send("run")
                worker_.reply()
        results = []
        for worker_ in workers:
            worker_.send("finish")  # the worker scores and reports
            results.append(json.loads(worker_.reply()))
        return results


@dataclass
class _Worker:
    rows: int
    process: subprocess.Popen[str]
    errors: IO[str]

    def send(self, command: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(command + "\n")
        self.process.stdin.flush()

    def reply(self) -> str:
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line:
            self.process.wait()
            self.errors.seek(0)
            sys.stderr.write(self.errors.read())
            raise SystemExit(
                f"worker for {self.rows} rows failed with exit code {self.process.returncode}")
        return line


# --- report ---------------------------------------------------------------------------------------


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value)


def print_report(results: list[dict[str, Any]], examples: bool) -> dict[str, Any]:
    runs = len(results[0].get("engine_runs_seconds", [])) or 1
    print(f"\n== speed and memory (each size in a process of its own, runs taken in turns; "
          f"times: best of {runs} runs) ==")
    print(f"{'ledger':>9} {'bank':>9} {'generate s':>11} {'engine s':>9} {'engine CPU s':>13} "
          f"{'baseline s':>11} {'engine/base':>11} {'peak RSS MB':>12}")
    for r in results:
        speed = r["engine_seconds"] / r["baseline_seconds"] if r["baseline_seconds"] else None
        print(f"{r['ledger_rows']:>9} {r['bank_rows']:>9} {r['generate_seconds']:>11.2f} "
              f"{r['engine_seconds']:>9.2f} {r.get('engine_cpu_seconds', 0.0):>13.2f} "
              f"{r['baseline_seconds']:>11.2f} {_fmt(speed):>11} {r['peak_rss_mb']:>12.0f}")
    small, large = results[0], results[-1]
    row_ratio = large["ledger_rows"] / small["ledger_rows"]
    time_ratio = (large["engine_seconds"] / small["engine_seconds"]
                  if small["engine_seconds"] else None)
    print(f"rows x{row_ratio:.0f} -> engine time x{_fmt(time_ratio)} "
          f"(target <= x{TARGET_RATIO:.0f} for x10 rows)")

    print("\n== quality vs ground truth (engine | greedy baseline) ==")
    header = ("precision", "recall", "auto_precision", "auto_recall", "links", "auto_links")
    print(f"{'ledger':>9} " + " ".join(f"{h:>22}" for h in header))
    for r in results:
        e, b = r["engine"]["overall"], r["baseline"]["overall"]
        cells = [f"{_fmt(e[h])} | {_fmt(b[h])}" for h in header]
        print(f"{r['ledger_rows']:>9} " + " ".join(f"{c:>22}" for c in cells))

    print(f"\n== per scenario, {large['ledger_rows']} ledger rows (engine; baseline auto_ok) ==")
    cols = ("truth_links", "auto_ok", "suggested_ok", "missed", "wrong_auto_links_touching",
            "unlinked_items", "not_auto_linked", "right_discrepancy_kind",
            "flagged_amount_mismatch")
    short = ("links", "auto_ok", "sugg_ok", "missed", "wrong_auto", "singles", "kept_out",
             "right_kind", "mismatch")
    print(f"{'scenario':<17}" + "".join(f"{s:>11}" for s in short) + f"{'base_auto':>11}"
          + f"{'base_wrong':>11}")
    for scenario, entry in large["engine"]["scenarios"].items():
        base = large["baseline"]["scenarios"][scenario]
        print(f"{scenario:<17}" + "".join(f"{_fmt(entry.get(c)):>11}" for c in cols)
              + f"{_fmt(base['auto_ok']):>11}{_fmt(base['wrong_auto_links_touching']):>11}")
    if examples and large["examples"]:
        print("\n== examples (wrong auto links, missed links) ==")
        print("\n".join(large["examples"]))

    summary: dict[str, Any] = {
        "sizes": [_without_examples(r) for r in results],
        "row_ratio": row_ratio,
        "time_ratio": round(time_ratio, 3) if time_ratio else None,
        "targets": {
            "time_ratio_ok": time_ratio is not None and time_ratio <= TARGET_RATIO * row_ratio / 10,
            "largest_seconds_ok": large["ledger_rows"] < 1_000_000
            or large["engine_seconds"] <= TARGET_SECONDS_1M,
            "largest_rss_ok": large["peak_rss_mb"] <= TARGET_RSS_MB,
        },
        "vs_baseline": {
            "precision_delta": _delta(large, "precision"),
            "recall_delta": _delta(large, "recall"),
            "auto_precision_delta": _delta(large, "auto_precision"),
            "time_ratio_engine_over_baseline": round(
                large["engine_seconds"] / large["baseline_seconds"], 3)
            if large["baseline_seconds"] else None,
        },
    }
    print("\n== targets ==")
    for name, ok in summary["targets"].items():
        print(f"{name:<22} {'PASS' if ok else 'FAIL'}")
    return summary


def _without_examples(result: dict[str, Any]) -> dict[str, Any]:
    slim = {k: v for k, v in result.items() if k != "examples"}
    for side in ("engine", "baseline"):
        slim[side] = {k: v for k, v in result[side].items() if not k.endswith("_examples")}
    return slim


def _delta(result: dict[str, Any], metric: str) -> float | None:
    engine, baseline = result["engine"]["overall"][metric], result["baseline"]["overall"][metric]
    return None if engine is None or baseline is None else round(engine - baseline, 4)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="largest ledger size")
    parser.add_argument("--quick", action="store_true", help="20k rows: a smoke run")
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--oracle", action="store_true", help="score the truth (checks metrics)")
    parser.add_argument("--examples", type=int, default=3, help="examples per scenario")
    parser.add_argument("--repeat", type=int, default=3,
                        help="engine runs per size; the best time counts (default 3)")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.rows, args.seed, args.oracle, args.examples)
        return
    largest = 20_000 if args.quick else args.rows
    results = run_sizes([largest // 10, largest], args.seed, args.oracle, args.examples,
                        args.repeat)
    summary = print_report(results, examples=args.examples > 0)
    print(json.dumps(summary, sort_keys=True))


if __name__ == "__main__":
    main()
