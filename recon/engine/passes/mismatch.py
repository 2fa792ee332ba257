"""The mismatch pass (``kind: mismatch``): the same payment, booked with a different amount.

A bank row and a ledger row of the same sign, account and currency, within ``days_window`` days,
are reported together as one ``amount_mismatch`` (best pairs by one-to-one assignment, slips
first) and not linked when their amounts differ and either

- they carry the same reference, or name the same counterparty with alike texts
  (``min_text_similarity``): any other amount; or
- the amounts are one keying slip apart (:mod:`recon.engine.slips`: transposed digits, a dropped
  digit, a decimal shift) and the rows agree on who was paid: the same reference, the same
  counterparty key, or texts at least ``slip_text_similarity`` alike. A slip is specific (few
  amounts are one slip from a given one), so weaker text than above is enough.

A bank row that an opposite open bank row of the same size cancels (a reversal) is never a
mismatch: it is reported as a reversal. With ``slips_only``, only the keying slips: specific
enough to run before the subset searches, which could otherwise make the mistyped ledger row
part of a group that sums by chance.

The explanation names both amounts and the slip. Example: a 1,234.50 payment to ACME and the
ledger's 1,243.50 for it ("transposed digits"); a 2,732.51 receipt booked as 27,325.10
("a decimal shift").
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from recon.config import MismatchRule
from recon.engine import keys
from recon.engine.assign import assign
from recon.engine.candidates import FAN_OUT_CAP, keyed_window_pairs, unique_pairs
from recon.engine.classify import unreversed
from recon.engine.normalise import IntArray
from recon.engine.scoring import pair_parts, same_sign, score_parts, total_score
from recon.engine.slips import Slip, slip_variants
from recon.engine.state import DayWindow, Found, MatchState

# Added to a slip pair's score: a slip explains the difference, another amount does not.
_SLIP_BONUS = 1.0


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
        # A bank row its own reversal cancels is a reversal, not the payment of some ledger row
        # booked with another amount (nor a slip of one).
        b_rows = unreversed(state, b_rows)
        found_b, found_l = [], []
        # Same reference, or the same counterparty key (then the texts must be alike).
        for bank_key, ledger_key in () if config.slips_only else (
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
        slip_b, slip_l, slip_kind = slip_pairs(state, b_rows, l_rows, config.days_window)
        pair_b, pair_l = unique_pairs(
            np.concatenate([*found_b, slip_b]), np.concatenate([*found_l, slip_l])
        )
        slip = _kinds_of(pair_b, pair_l, slip_b, slip_l, slip_kind)
        parts = pair_parts(bank, ledger, pair_b, pair_l)
        keep = same_sign(bank, ledger, parts) & (parts.amount_delta != 0)
        same_party = (bank.party[pair_b] >= 0) & (bank.party[pair_b] == ledger.party[pair_l])
        any_amount = parts.reference_equal | (parts.text >= config.min_text_similarity)
        slip_evidence = (
            parts.reference_equal | same_party | (parts.text >= config.slip_text_similarity)
        )
        if config.slips_only:
            any_amount = np.zeros(len(any_amount), dtype=bool)
        keep &= any_amount | ((slip != Slip.NONE) & slip_evidence)
        parts = parts.take(keep)
        slip = slip[keep]
        if len(parts) == 0:
            return Found()
        values = total_score(score_parts(parts, ledger, 0.0)) + _SLIP_BONUS * (slip != Slip.NONE)
        chosen = np.flatnonzero(assign(parts.bank, parts.ledger, values))
        return Found(mismatches=(parts.bank[chosen], parts.ledger[chosen]))


def slip_pairs(
    state: MatchState, b_rows: IntArray, l_rows: IntArray, days: int
) -> tuple[IntArray, IntArray, IntArray]:
    """(bank, ledger, Slip) for open rows in one block, within ``days`` days, whose amounts are
    one keying slip apart: each side's slip variants joined on the other side's amounts."""
    bank, ledger = state.bank, state.ledger
    found_b, found_l, found_kind = [], [], []
    for from_bank in (False, True):
        source_rows, target_rows = (b_rows, l_rows) if from_bank else (l_rows, b_rows)
        source = bank if from_bank else ledger
        target = ledger if from_bank else bank
        source_block = (state.bank_block if from_bank else state.ledger_block)[source_rows]
        target_block = (state.ledger_block if from_bank else state.bank_block)[target_rows]
        at, variant, kind = slip_variants(
            source.amount[source_rows], wanted=target.amount[target_rows]
        )
        variant_code, target_code = keys.joint_codes(variant, target.amount[target_rows])
        width = keys.width(variant_code, target_code)
        variant_key = keys.combine(source_block[at], variant_code, width)
        target_key = keys.combine(target_block, target_code, width)
        # Most variants are no amount the other side has: drop them (one hash pass) before
        # the sorted window search.
        known = pd.Series(variant_key, copy=False).isin(target_key).to_numpy()
        at, kind, variant_key = at[known], kind[known], variant_key[known]
        # The variant rows are the queries (they may repeat a row: one per variant).
        queries = np.arange(len(at), dtype=np.int64)
        query, target_at = keyed_window_pairs(
            queries, variant_key, source.date[source_rows[at]],
            np.arange(len(target_rows), dtype=np.int64), target_key, target.date[target_rows],
            days_before=days, days_after=days, cap=FAN_OUT_CAP,
            bank_tie=source.party[source_rows[at]], ledger_tie=target.party[target_rows],
        )  # fmt: skip
        source_pos, target_pos = source_rows[at[query]], target_rows[target_at]
        found_b.append(source_pos if from_bank else target_pos)
        found_l.append(target_pos if from_bank else source_pos)
        found_kind.append(kind[query])
    return np.concatenate(found_b), np.concatenate(found_l), np.concatenate(found_kind)


def _kinds_of(
    pair_b: IntArray, pair_l: IntArray, slip_b: IntArray, slip_l: IntArray, slip_kind: IntArray
) -> IntArray:
    """The Slip of each (pair_b, pair_l) found among the slip pairs (the larger when a pair was
    found as two kinds: 110 vs 11 is a decimal shift before a dropped 0), else Slip.NONE."""
    kinds = np.zeros(len(pair_b), dtype=np.int64)
    if len(slip_b) == 0 or len(pair_b) == 0:
        return kinds
    width = int(max(pair_l.max(), slip_l.max())) + 1
    pair_code = pair_b * width + pair_l
    slip_code = slip_b * width + slip_l
    order = np.lexsort((slip_kind, slip_code))
    slip_code, slip_kind = slip_code[order], slip_kind[order]
    last = np.r_[slip_code[1:] != slip_code[:-1], True]  # the largest kind of each pair
    slip_code, slip_kind = slip_code[last], slip_kind[last]
    at = np.searchsorted(slip_code, pair_code)
    found = (at < len(slip_code)) & (slip_code[np.minimum(at, len(slip_code) - 1)] == pair_code)
    kinds[found] = slip_kind[at[found]]
    return kinds

