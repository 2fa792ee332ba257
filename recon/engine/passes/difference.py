"""The difference pass (``kind: difference``): a link whose amounts differ by a fee.

A bank row and a ledger row of the same sign, account and currency, dated within the window,
whose amounts differ by at most max(``amount``, ``percent`` of the larger of the two amounts)
(limits inclusive, in whole minor units rounded down: recon.engine.scoring states the rule)
and whose texts agree (``min_text_similarity``) or whose bank row names the ledger row's
reference are linked as ``matched_with_difference``, unless the bank row names another
counterparty and not the reference (it pays someone else), the two amounts are one keying
slip apart (left for the mismatch pass) or the bank row is cancelled by an opposite bank row
of the same size (a reversal, reported as such). Example: a 2,480.00 incoming wire for a 2,500.00
invoice of the same customer (a 20.00 wire fee, within 1 percent).

With ``deducted_only``, only money in that arrived short is linked (a wire fee deducted by the
sender's or an intermediary bank); with ``named_party``, a bank row naming the ledger row's
counterparty (recon.engine.passes.names) counts as alike texts: "INCOMING WIRE COGSWELL COGS"
for the 2,500.00 invoice of Cogswell Cogs, 2,473.00 received (27.00 deducted). Such a link is
confirmed only on the usual evidence (reference named, texts agree, unique amount). With
``reference_only``, only pairs whose bank row names the ledger row's reference: "FEDWIRE CREDIT
VIA SOYLENT CORP REF INV-113557", 11,966.00 for INV-113557's 12,000.00, linked before the
mismatch and group passes can take either row.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from recon.config import DifferenceTolerance
from recon.engine.candidates import FAN_OUT_CAP, date_band_pairs
from recon.engine.classify import unreversed
from recon.engine.one_to_one import one_to_one
from recon.engine.passes.names import names_another_party, names_party
from recon.engine.scoring import (
    allowed_difference,
    pair_parts,
    per_row_minor,
    reference_parts,
    search_percent,
    within_tolerance,
)
from recon.engine.slips import keying_errors
from recon.engine.state import DayWindow, Found, MatchState
from recon.records import Status


@dataclass(frozen=True)
class DifferencePass:
    settings: DifferenceTolerance

    @property
    def name(self) -> str:
        return self.settings.name

    @property
    def window(self) -> DayWindow:
        return DayWindow(self.settings.days_before, self.settings.days_after)

    def run(self, state: MatchState) -> Found:
        config, bank, ledger = self.settings, state.bank, state.ledger
        # A debit its own reversal cancels is a reversal, not a payment less a fee.
        b_rows, l_rows = unreversed(state, state.bank_state.open()), state.ledger_state.open()
        by_currency = config.amount_by_currency
        tolerance = allowed_difference(
            bank.amount[b_rows], per_row_minor(bank, b_rows, config.amount, by_currency),
            search_percent(config.percent, config.percent_of),
        )  # fmt: skip
        b, lg = date_band_pairs(
            b_rows, state.bank_block[b_rows], bank.date[b_rows], bank.amount[b_rows], tolerance,
            l_rows, state.ledger_block[l_rows], ledger.date[l_rows], ledger.amount[l_rows],
            days_before=config.days_before, days_after=config.days_after, cap=FAN_OUT_CAP,
        )  # fmt: skip
        # The tests that read no text first, texts compared only for the pairs they leave (the
        # reference-only pass keeps about one pair in a hundred). A pair naming other references
        # than the ledger row's is no candidate (one_to_one leaves it out).
        equal, contradicts = reference_parts(bank, ledger, b, lg)
        plausible = (np.sign(bank.amount[b]) == np.sign(ledger.amount[lg])) & ~contradicts
        plausible &= within_tolerance(
            bank.amount[b], ledger.amount[lg], per_row_minor(bank, b, config.amount, by_currency),
            config.percent, config.percent_of,
        )  # fmt: skip
        if config.deducted_only:  # money in that arrived short
            plausible &= (ledger.amount[lg] > 0) & (bank.amount[b] < ledger.amount[lg])
        if config.reference_only:
            plausible &= equal
        b, lg = b[plausible], lg[plausible]
        parts = pair_parts(bank, ledger, b, lg)
        keep = (parts.text >= config.min_text_similarity) | parts.reference_equal
        if config.named_party:
            keep |= names_party(state, parts.bank, parts.ledger)
        # A bank row naming another counterparty (and not the reference) pays someone else.
        keep &= parts.reference_equal | ~names_another_party(state, parts.bank, parts.ledger)
        keep &= ~keying_errors(bank.amount[b], ledger.amount[lg], keep)
        return one_to_one(
            state, parts.take(keep), priority=0.0, rule=self.name,
            status=Status.MATCHED_WITH_DIFFERENCE,
        )  # fmt: skip

