"""Match quality on variant worlds: the default profile with some habits of another company.

    python benchmarks/bench_variants.py                  # 100k rows, every variant
    python benchmarks/bench_variants.py --rows 20000 --variant instalments

A profile fixes how a company spreads its payments out; the engine is tuned on the default
one. Each variant changes a few of those habits (``tests.bankworld.generator.Habits``), taken
from how firms really pay: invoices paid in up to five instalments a week apart, receipts
entered at the month's close, remittances of up to twelve invoices. The rows are otherwise the
default world's (same seed). For each: precision / recall / auto precision, and the figures of
the patterns the variant changes. Nothing is tuned on these numbers; they show what breaks
when a habit moves.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.bankworld import score as sc  # noqa: E402
from tests.bankworld.generator import Habits, generate  # noqa: E402
from tests.bankworld.run import run_recon  # noqa: E402
from tests.bankworld.writer import write_world  # noqa: E402

VARIANTS: dict[str, tuple[Habits, tuple[str, ...]]] = {
    "default": (Habits(), ("split_receipt", "late_booking", "early_booking", "remittance")),
    "instalments": (Habits(split_parts=(2, 5), split_gap_days=(1, 7)), ("split_receipt",)),
    "month_end_close": (
        Habits(late_booking_days=(4, 30), early_booking_days=(4, 20)),
        ("late_booking", "early_booking"),
    ),
    "large_remittances": (Habits(remittance_invoices=(2, 12)), ("remittance",)),
}


def measure(rows: int, habits: Habits, patterns: tuple[str, ...]) -> str:
    with tempfile.TemporaryDirectory(prefix="recon-variant-") as folder:
        write_world(generate(rows, habits=habits), Path(folder))
        out = run_recon(Path(folder))
        scored = sc.score(sc.load_truth(Path(folder)), sc.prediction_from_result(out.result),
                          examples=0)  # fmt: skip
    o = scored.overall
    lines = [f"  precision {o['precision']:.4f}  recall {o['recall']:.4f}  auto precision "
             f"{o['auto_precision']:.4f}  wrong auto links {o['wrong_auto_links']}  "
             f"engine {out.seconds['engine']:.1f} s"]  # fmt: skip
    for pattern in patterns:
        row = scored.patterns.loc[pattern]
        lines.append(f"  {pattern:<16} {int(row['links']):>6} links  found {1 - row['missed']:.3f}"
                     f"  auto {row['auto']:.3f}  wrong auto {int(row['wrong_auto'])}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--variant", choices=sorted(VARIANTS), action="append")
    args = parser.parse_args(argv)
    for name in args.variant or list(VARIANTS):
        habits, patterns = VARIANTS[name]
        print(f"=== {name}, {args.rows:,} rows: {habits}")
        print(measure(args.rows, habits, patterns))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
