"""The mismatch pass (``kind: mismatch``): the same payment, booked with a different amount.

A bank row and a ledger row of the same sign, account and currency, within ``days_window`` days,
that carry the same reference, or name the same counterparty with alike texts
(``min_text_similarity``), but whose amounts differ, are reported together as one
``amount_mismatch`` (best pairs by one-to-one assignment) and not linked. Example: a 1,234.50
payment to ACME and the ledger's 1,243.50 for it (transposed digits).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from recon.config import MismatchRule
from recon.engine import keys
from recon.engine.assign import assign
from recon.engine.candidates import FAN_OUT_CAP, keyed_window_pairs, unique_pairs
from recon.engine.scoring import pair_parts, same_sign, score_parts, total_score
from recon.engine.state import DayWindow, Found, MatchState


@dataclass(frozen=True)
class MismatchPass:
    settings: MismatchRule

    @property
    def name(self) -> str:
        return self.settings.name

    @property
    def window(self) -> DayWindow:
        return DayWindow(self.settings.days_window, self.settings.days_window)

    def run(self, state: MatchState) -> Found:
        config, bank, ledger = self.settings, state.bank, state.ledger
        b_rows, l_rows = state.bank_state.open(), state.ledger_state.open()
        found_b, found_l = [], []
        # Same reference, or the same counterparty key (then the texts must be alike).
        for bank_key, ledger_key in (
            (bank.reference, ledger.reference), (bank.party, ledger.party),
        ):  # fmt: skip
            br = b_rows[bank_key[b_rows] >= 0]
            lr = l_rows[ledger_key[l_rows] >= 0]
            width = keys.width(bank_key, ledger_key)
            b, lg = keyed_window_pairs(
                br, keys.combine(state.bank_block[br], bank_key[br], width), bank.date[br],
                lr, keys.combine(state.ledger_block[lr], ledger_key[lr], width), ledger.date[lr],
                days_before=config.days_window, days_after=config.days_window, cap=FAN_OUT_CAP,
            )  # fmt: skip
            found_b.append(b)
            found_l.append(lg)
        pair_b, pair_l = unique_pairs(np.concatenate(found_b), np.concatenate(found_l))
        parts = pair_parts(bank, ledger, pair_b, pair_l)
        keep = same_sign(bank, ledger, parts) & (parts.amount_delta != 0)
        keep &= parts.reference_equal | (parts.text >= config.min_text_similarity)
        parts = parts.take(keep)
        if len(parts) == 0:
            return Found()
        values = score_parts(parts, ledger, 0.0)
        chosen = np.flatnonzero(assign(parts.bank, parts.ledger, total_score(values)))
        return Found(mismatches=(parts.bank[chosen], parts.ledger[chosen]))
