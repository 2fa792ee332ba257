"""The long-running scheduler: ``python -m jobs.scheduler [--config FILE]`` = ``recon schedule``.

An alternative to cron / the systemd timer (use one, not both). Stops cleanly on SIGTERM/SIGINT,
waiting for a run in progress.
"""

from __future__ import annotations

import sys


def main() -> None:
    from recon.cli import main as recon_main

    recon_main(["schedule", *sys.argv[1:]])


if __name__ == "__main__":
    main()
