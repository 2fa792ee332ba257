"""python -m tests.bankworld.cases [--holdout | --all] [--verbose]: pass/fail per case."""

from __future__ import annotations

import argparse
import sys

from . import load_cases, run_case


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.bankworld.cases",
                                     description="Run the translated reconciliation cases "
                                                 "through recon's real config and file path.")
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--holdout", action="store_true", help="only the hold-out cases")
    group.add_argument("--all", action="store_true", help="the tuning and hold-out cases")
    parser.add_argument("--verbose", "-v", action="store_true",
                        help="also print each case's source and behaviour")
    parser.add_argument("ids", nargs="*", help="run only these case ids")
    args = parser.parse_args()
    cases = load_cases(holdout=None if args.all or args.ids else args.holdout)
    if args.ids:
        cases = [c for c in cases if c.id in set(args.ids)]
    passed = 0
    for case in cases:
        outcome = run_case(case)
        passed += outcome.passed
        mark = "PASS" if outcome.passed else "FAIL"
        held = " (held-out)" if case.holdout else ""
        print(f"{mark}  {case.id}{held}")
        if args.verbose:
            s = case.source
            print(f"      {s['repo']} {s['file']} {s['test']}\n      {case.behaviour}")
        for problem in outcome.problems:
            print(f"      - {problem}")
    print(f"\n{passed} of {len(cases)} cases pass")
    return 0


if __name__ == "__main__":
    sys.exit(main())
