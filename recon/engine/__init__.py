"""The matching engine: pure, vectorised, deterministic.

``reconcile(bank, ledger, matching, as_of=...)`` takes the frames described in
:mod:`recon.frames` and returns a :class:`recon.frames.MatchResult`. It never reads files, the
network, the database or the clock.
"""

from recon.engine.core import FAN_OUT_CAP, reconcile

__all__ = ["FAN_OUT_CAP", "reconcile"]
