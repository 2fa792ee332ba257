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
from collections.abc import Callable

import pandas as pd

from recon.config import MatchingConfig
from recon.engine.classify import classify
from recon.engine.output import match_result
from recon.engine.partitions import Partition, cut, merge
from recon.engine.passes import build_passes
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
    called after each pass with (pass name, passes done, passes in all), e.g. for a progress bar.
    ``payees``: what earlier nights' confirmed links taught (recon.engine.payees); a bank row
    whose descriptor names the ledger row's counterparty counts as texts that agree.
    """
    partitions = cut(bank, ledger, matching, id_order=False)
    if not partitions:
        partitions = [Partition(("", ""), bank, ledger)]
    keys, states = [], []
    while partitions:  # a partition's frames are let go once its arrays are built
        partition = partitions.pop(0)
        keys.append(partition.key)
        states.append(MatchState.prepare(partition.bank, partition.ledger, matching, payees))
    passes = build_passes(matching)
    for done, step in enumerate(passes, start=1):
        for state in states:
            state.record(step.run(state))
        if on_pass is not None:
            on_pass(step.name, done, len(passes))
    if len(states) == 1:
        return match_result(states[0], classify(states[0]), as_of)
    return merge([(key, match_result(state, classify(state), as_of))
                  for key, state in zip(keys, states, strict=True)])
