"""Named crash points for the hardening suite.

Production code calls :func:`fault_point` at the moments where a crash is most dangerous (just
before, inside and after the commit of a sync; between a token rotation and its write). It does
nothing unless the environment variable ``RECON_FAULT_POINT`` names that point, in which case the
process kills itself with SIGKILL: no ``finally`` blocks, no atexit handlers, no flushed buffers,
exactly like a power cut or the OOM killer.
"""

from __future__ import annotations

import os
import signal

FAULT_POINT_ENV = "RECON_FAULT_POINT"


def fault_point(name: str) -> None:
    if os.environ.get(FAULT_POINT_ENV) == name:
        os.kill(os.getpid(), signal.SIGKILL)
