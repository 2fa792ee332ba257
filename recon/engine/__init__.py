"""The matching engine: pure, vectorised, deterministic.

``reconcile(bank, ledger, matching, as_of=...)`` takes the frames described in
:mod:`recon.frames` and returns a :class:`recon.frames.MatchResult`. It never reads files, the
network, the database or the clock. The matching steps are passes (:mod:`recon.engine.passes`)
run in the order ``matching.passes`` gives; ``reach_days`` says how far before a window the
partners of its rows can lie.
"""

from recon.engine.core import reconcile
from recon.engine.passes import Pass, build_passes, reach_days
from recon.engine.state import DayWindow, Found, MatchState

__all__ = ["DayWindow", "Found", "MatchState", "Pass", "build_passes", "reach_days", "reconcile"]
