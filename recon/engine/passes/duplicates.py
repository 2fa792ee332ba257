"""The hold pass (``kind: hold_duplicates``): copies of linked rows sit out the passes after it.

A second delivery of a linked bank row (same account, amount, counterparty and description,
within ``duplicate_window_days``) would otherwise be offered to the looser passes that follow
and linked with some other entry; held, it is reported as a probable duplicate. Example: a
49.99 "NETFLIX.COM" charge delivered twice on 4 March, the first linked by ``exact_amount``:
the second is held, not linked by the difference pass to a 52.00 entry.
"""

from __future__ import annotations

from dataclasses import dataclass

from recon.config import HoldDuplicates
from recon.engine.classify import duplicates
from recon.engine.state import DayWindow, Found, MatchState


@dataclass(frozen=True)
class HoldDuplicatesPass:
    settings: HoldDuplicates
    days: int  # matching.duplicate_window_days: the same copies are reported as duplicates

    @property
    def name(self) -> str:
        return self.settings.name

    @property
    def window(self) -> DayWindow:
        return DayWindow(self.days, self.days)

    def run(self, state: MatchState) -> Found:
        held = []
        for side, side_state, block in (
            (state.bank, state.bank_state, state.bank_block),
            (state.ledger, state.ledger_state, state.ledger_block),
        ):
            copies, _ = duplicates(
                side, side_state.open(), side_state.partner >= 0, block, self.days
            )
            held.append(copies)
        return Found(held=(held[0], held[1]))
