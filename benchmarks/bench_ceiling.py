"""How much of a bankworld check deposit any engine can tell: a bound on recall.

    python benchmarks/bench_ceiling.py                        # 100k and 1M rows, default profile
    python benchmarks/bench_ceiling.py --rows 1000000 --sample 300

A check deposit ("REMOTE DEPOSIT CAPTURE", 4,310.27) pays one to five "Check received ..."
ledger rows booked on one day, and names none of them: the sum is all there is. For a sample
of the world's deposits this counts the *other* subsets of the same number of checks, among
the checks booked that same day, that sum to the deposit to the cent. Where there are some,
nothing in the files tells the true checks from them. The pool is only the deposit's own
booking day and the count only subsets of its own size, so the ambiguity is understated and
the bounds are generous.

Figures per deposit size: how many of the sampled deposits have another fitting subset, and
the median number of them. Then two bounds on the share of check-deposit links any engine can
make right: ``identifiable`` (deposits with no other fitting subset) and ``best guess`` (an
engine that also picks one of the k+1 fitting subsets at random where there are k others, right
1/(k+1) of the time; a wrong pick costs as many wrong links). Last, what the best guess leaves
missed, as a share of all the world's true links: recall cannot exceed 1 minus that.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.bankworld.generator import generate  # noqa: E402

IntArray = npt.NDArray[np.int64]


def other_subsets(amounts: IntArray, size: int, total: int) -> int:
    """How many subsets of ``size`` elements of ``amounts`` sum to ``total``, less one (the
    true subset is among them)."""
    return max(_subsets(amounts, size, total) - 1, 0)


def _subsets(a: IntArray, size: int, total: int) -> int:
    if size == 1:
        return int((a == total).sum())
    if size == 2:
        return _pairs(a, total)
    if size == 3:
        return sum(_pairs(a[i + 1 :], total - int(a[i])) for i in range(len(a)))
    if size == 4:
        return _quads(a, total)
    if size == 5:
        return sum(_quads(a[i + 1 :], total - int(a[i])) for i in range(len(a)))
    raise ValueError(f"deposits of {size} checks are not counted")


def _pairs(a: IntArray, total: int) -> int:
    """Pairs i < j with a[i] + a[j] == total."""
    values, counts = np.unique(a, return_counts=True)
    want = total - values
    at = np.searchsorted(values, want)
    found = (at < len(values)) & (values[np.minimum(at, len(values) - 1)] == want)
    partner = np.where(found, counts[np.minimum(at, len(values) - 1)], 0)
    same = values * 2 == total
    ordered = np.where(same, counts * (counts - 1), counts * partner)
    return int(ordered.sum()) // 2


def _quads(a: IntArray, total: int) -> int:
    """4-subsets summing to ``total``: pairs of disjoint pairs, each 4-set found 3 times."""
    n = len(a)
    if n < 4:
        return 0
    first, second = np.triu_indices(n, 1)
    sums = a[first] + a[second]
    order = np.argsort(sums, kind="stable")
    sums, first, second = sums[order], first[order], second[order]
    low = np.searchsorted(sums, total - sums, "left")
    high = np.searchsorted(sums, total - sums, "right")
    count = 0
    for p in np.flatnonzero(high > low).tolist():
        q = np.arange(low[p], high[p])
        q = q[q > p]
        disjoint = (
            (first[q] != first[p]) & (first[q] != second[p])
            & (second[q] != first[p]) & (second[q] != second[p])
        )  # fmt: skip
        count += int(disjoint.sum())
    return count // 3


def measure(rows: int, sample: int, seed: int) -> dict[str, object]:
    world = generate(rows)
    ledger = world.ledger.set_index("entry_id")
    checks = ledger[ledger["description"].str.startswith("Check received")]
    by_day = {day: part["amount_minor"].to_numpy(dtype=np.int64)
              for day, part in checks.groupby("date")}  # fmt: skip
    links = world.truth_links
    deposits = (
        links[links["pattern"] == "check_deposit"].groupby("bank_transaction_id")["ledger_entry_id"]
        .apply(list)
    )  # fmt: skip
    picked = deposits.iloc[
        np.random.default_rng(seed).choice(len(deposits), min(sample, len(deposits)), False)
    ]
    found = []
    for entries in picked.tolist():
        rows_of = ledger.loc[entries]
        day = rows_of["date"].iloc[0]
        total = int(rows_of["amount_minor"].sum())
        others = other_subsets(by_day[day], len(entries), total)
        found.append((len(entries), len(by_day[day]), others))
    frame = pd.DataFrame(found, columns=["checks", "pool", "others"])
    links_n = int(frame["checks"].sum())
    identifiable = float((frame["checks"] * (frame["others"] == 0)).sum()) / links_n
    best_guess = float((frame["checks"] / (frame["others"] + 1)).sum()) / links_n
    family = int((links["pattern"] == "check_deposit").sum())
    missed_share = family * (1 - best_guess) / len(links)
    table = frame.groupby("checks").agg(
        deposits=("pool", "size"), pool=("pool", "median"),
        ambiguous=("others", lambda s: float((s > 0).mean())), others=("others", "median"),
    )  # fmt: skip
    return {"rows": rows, "sampled": len(frame), "table": table, "identifiable": identifiable,
            "best_guess": best_guess, "family_links": family, "true_links": len(links),
            "recall_ceiling": 1 - missed_share}  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--sample", type=int, default=200, help="deposits counted per world")
    parser.add_argument("--seed", type=int, default=1, help="which deposits are sampled")
    args = parser.parse_args(argv)
    for rows in args.rows:
        m = measure(rows, args.sample, args.seed)
        print(f"=== default profile, {rows:,} rows: {m['sampled']} of the check deposits ===")
        print(m["table"].to_string(float_format=lambda v: f"{v:.2f}"))
        print(f"check-deposit links identifiable: {m['identifiable']:.3f}, "
              f"at best by guessing: {m['best_guess']:.3f} "
              f"({m['family_links']:,} of {m['true_links']:,} true links)")
        print(f"so no engine's recall exceeds {m['recall_ceiling']:.4f} on this world\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
