"""The check pass (``kind: check``): a paid check, found by its number.

A bank row with a check number (Plaid's ``check_number``, or "CHECK 1043" / "CHK #1043" in its
description) and a ledger row with the same number (a reference that is the number, or "Check
1043" in its description), of the same sign, account and currency, the bank row dated from
``days_before`` days before to ``days_after`` days after the ledger row (a check clears when the
payee deposits it: days or months later). The same amount is a ``matched`` link; another amount
is an ``amount_mismatch`` naming both, when the ledger row says it is a check or the amounts are
one keying slip apart (a bare number in a ledger reference may be something else). Example:
"CHK 1004" for -1,749.84 on 6 January and the ledger's "Check 1004 Zendesk Inc", -1,749.84,
written on 1 January: matched.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from recon.config import CheckRule
from recon.engine import keys
from recon.engine.assign import assign
from recon.engine.candidates import FAN_OUT_CAP, keyed_window_pairs
from recon.engine.one_to_one import one_to_one
from recon.engine.scoring import pair_parts, same_sign, score_parts, total_score
from recon.engine.slips import Slip, slip_between
from recon.engine.state import DayWindow, Found, MatchState
from recon.records import Status


@dataclass(frozen=True)
class CheckPass:
    settings: CheckRule

    @property
    def name(self) -> str:
        return self.settings.name

    @property
    def window(self) -> DayWindow:
        return DayWindow(self.settings.days_before, self.settings.days_after)

    def run(self, state: MatchState) -> Found:
        config, bank, ledger = self.settings, state.bank, state.ledger
        b_rows, l_rows = state.bank_state.open(), state.ledger_state.open()
        b_rows = b_rows[bank.check[b_rows] >= 0]
        l_rows = l_rows[ledger.check[l_rows] >= 0]
        width = keys.width(bank.check, ledger.check)
        b, lg = keyed_window_pairs(
            b_rows, keys.combine(state.bank_block[b_rows], bank.check[b_rows], width),
            bank.date[b_rows],
            l_rows, keys.combine(state.ledger_block[l_rows], ledger.check[l_rows], width),
            ledger.date[l_rows], days_before=config.days_before, days_after=config.days_after,
            cap=FAN_OUT_CAP,
        )  # fmt: skip
        parts = pair_parts(bank, ledger, b, lg)
        parts = parts.take(same_sign(bank, ledger, parts))
        # The check number both rows carry is their shared reference, whatever else the ledger's
        # reference column says ("CHK-1238" for check 1238): evidence enough to confirm.
        parts = replace(parts, reference_equal=np.ones(len(parts), dtype=bool))
        equal = parts.amount_delta == 0
        found = one_to_one(
            state, parts.take(equal), priority=1.0, rule=self.name, status=Status.MATCHED
        )
        if found.links is not None and len(found.links):
            numbers = bank.check[found.links.bank]
            notes = np.array([f"; check number {n}" for n in numbers.tolist()], dtype=object)
            found = replace(found, links=replace(found.links, notes=notes + found.links.notes))
        # Another amount: the rows neither side linked above.
        linked_bank = np.zeros(len(bank), dtype=bool)
        linked_ledger = np.zeros(len(ledger), dtype=bool)
        if found.links is not None:
            linked_bank[found.links.bank] = True
            linked_ledger[found.links.ledger] = True
        other = parts.take(~equal)
        other = other.take(~linked_bank[other.bank] & ~linked_ledger[other.ledger])
        slips = np.array(
            [slip_between(int(x), int(y)) != Slip.NONE for x, y in
             zip(bank.amount[other.bank], ledger.amount[other.ledger], strict=True)],
            dtype=bool,
        )  # fmt: skip
        other = other.take(ledger.check_said[other.ledger] | slips.reshape(-1))
        if len(other) == 0:
            return found
        chosen = np.flatnonzero(
            assign(other.bank, other.ledger, total_score(score_parts(other, ledger, 1.0)))
        )
        return replace(found, mismatches=(other.bank[chosen], other.ledger[chosen]))

