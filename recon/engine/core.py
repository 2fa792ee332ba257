"""reconcile(): prepare both sides, run the configured passes in order, classify what is left.

Each pass works on what the passes before it left open (recon.engine.passes): with the shipped
config, the rules one-to-one (exact reference, then checks by their number, payouts grouped by
their shared reference, exact amount, tolerance, fuzzy text), then copies of linked rows held
out, then groups by a subset-sum search, the difference pass (fees: matched_with_difference) and
the mismatch pass (same payment, another amount, keying slips). The rest is classified: pending,
reversal, probable duplicate, unmatched, each with its nearest candidate.

Each (ledger account, currency) partition is reconciled on its own (recon.engine.partitions):
nothing learned from one partition's rows decides another's, so a partition reconciled alone,
on another worker, gives what it gives here.
"""

from __future__ import annotations

import datetime as dt
import gc
from collections.abc import Callable

import pandas as pd

from recon.config import MatchingConfig
from recon.engine.classify import classify
from recon.engine.output import match_result
from recon.engine.partitions import cut, merge
from recon.engine.passes import Pass, build_passes
from recon.engine.payees import PayeeMemory
from recon.engine.state import MatchState
from recon.frames import MatchResult


def reconcile(
    bank: pd.DataFrame,
    ledger: pd.DataFrame,
    matching: MatchingConfig,
    *,
    as_of: dt.date,
    on_pass: Callable[[str, int, int], None] | None = None,
    payees: PayeeMemory | None = None,
) -> MatchResult:
    """Match bank transactions to ledger entries; explain every link and every open item.

    Pure and deterministic: the same rows in any order give identical frames. ``on_pass`` is
    called after each pass of each partition with (pass name, steps done, steps in all: passes
    times partitions), e.g. for a progress bar. ``payees``: what earlier nights' confirmed links
    taught (recon.engine.payees); a bank row whose descriptor names the ledger row's
    counterparty counts as texts that agree.
    """
    # The engine makes millions of objects, none of them in a cycle worth collecting: the
    # collector's full passes over them wait until the result is made (as in recon.bankfile).
    collecting = gc.isenabled()
    gc.disable()
    try:
        return _reconcile(bank, ledger, matching, as_of, on_pass, payees)
    finally:
        if collecting:
            gc.enable()


def _reconcile(
    bank: pd.DataFrame, ledger: pd.DataFrame, matching: MatchingConfig, as_of: dt.date,
    on_pass: Callable[[str, int, int], None] | None, payees: PayeeMemory | None,
) -> MatchResult:  # fmt: skip
    partitions = cut(bank, ledger, matching, id_order=False)
    passes = build_passes(matching)
    steps = len(passes) * max(len(partitions), 1)
    if len(partitions) <= 1:
        return _reconcile_partition(bank, ledger, matching, as_of, payees, passes,
                                    _progress(on_pass, 0, steps))  # fmt: skip
    # One partition after another: only one partition's arrays are held at a time.
    results = [
        (p.key, _reconcile_partition(p.bank, p.ledger, matching, as_of, payees, passes,
                                     _progress(on_pass, i * len(passes), steps)))
        for i, p in enumerate(partitions)
    ]  # fmt: skip
    return merge(results)


def _reconcile_partition(
    bank: pd.DataFrame, ledger: pd.DataFrame, matching: MatchingConfig, as_of: dt.date,
    payees: PayeeMemory | None, passes: list[Pass], on_pass: Callable[[str, int], None],
) -> MatchResult:  # fmt: skip
    state = MatchState.prepare(bank, ledger, matching, payees)
    for done, step in enumerate(passes, start=1):
        state.record(step.run(state))
        on_pass(step.name, done)
    return match_result(state, classify(state, as_of), as_of)


def _progress(
    on_pass: Callable[[str, int, int], None] | None, before: int, steps: int
) -> Callable[[str, int], None]:
    """A partition's pass callback: its passes counted after the ``before`` steps of the
    partitions before it."""
    if on_pass is None:
        return lambda _name, _done: None
    return lambda name, done: on_pass(name, before + done, steps)
