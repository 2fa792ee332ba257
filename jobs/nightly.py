"""The nightly run: ``python -m jobs.nightly [--config FILE] [--as-of DATE]`` = ``recon run ...``.

Exit codes are recon's (``recon --help``): 0 ok, 3 discrepancies above the alert threshold,
75 another run holds the lock, others = failed.
"""

from __future__ import annotations

import sys


def main() -> None:
    from recon.cli import main as recon_main

    recon_main(["run", *sys.argv[1:]])


if __name__ == "__main__":
    main()
