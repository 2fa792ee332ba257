"""Named fault points for the hardening suite.

Production code calls :func:`fault_point` at the moments where a crash is most dangerous (just
before, inside and after the commit of a sync; between a token rotation and its write; while
matching; while writing the reports). It does nothing unless the environment variable
``RECON_FAULT_POINT`` names that point. Then ``RECON_FAULT_ACTION`` says what happens:

- ``kill`` (the default): the process kills itself with SIGKILL — no ``finally`` blocks, no atexit
  handlers, no flushed buffers, exactly like a power cut or the OOM killer;
- ``sleep:SECONDS``: the process pauses there (to hold the lock while a test starts a rival run);
- ``dberror``: the database driver fails there (SQLAlchemy's OperationalError), as when the
  state store goes away in the middle of a run.

With ``RECON_FAULT_ONCE`` naming a file, the fault fires only while that file does not exist
(it is created as the fault fires): a worker killed once, whose retry then goes through.
"""

from __future__ import annotations

import os
import signal
import time

FAULT_POINT_ENV = "RECON_FAULT_POINT"
FAULT_ACTION_ENV = "RECON_FAULT_ACTION"
FAULT_ONCE_ENV = "RECON_FAULT_ONCE"


def fault_point(name: str) -> None:
    if os.environ.get(FAULT_POINT_ENV) != name:
        return
    once = os.environ.get(FAULT_ONCE_ENV)
    if once:
        try:
            os.close(os.open(once, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
        except FileExistsError:
            return
    action = os.environ.get(FAULT_ACTION_ENV, "kill")
    if action.startswith("sleep:"):
        time.sleep(float(action.removeprefix("sleep:")))
    elif action == "dberror":
        from sqlalchemy.exc import OperationalError

        raise OperationalError(f"fault point {name}", None,
                               ConnectionError("the state store went away (injected)"))
    else:
        os.kill(os.getpid(), signal.SIGKILL)
