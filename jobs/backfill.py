"""A backfill: ``python -m jobs.backfill --start DATE --end DATE [...]`` = ``recon backfill ...``.

It takes the same lock as the nightly run, so it never overlaps one (it exits 75 instead).
"""

from __future__ import annotations

import sys


def main() -> None:
    from recon.cli import main as recon_main

    recon_main(["backfill", *sys.argv[1:]])


if __name__ == "__main__":
    main()
