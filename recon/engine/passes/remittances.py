"""The remittances pass (``kind: remittances``): one bank row paying several ledger rows.

A customer's transfer paying several of its invoices (a remittance), named or not: the bank
row names the payer (its counterparty, whole or cut off) or some of the invoices' references,
and 2..``max_parts`` of that payer's open ledger rows (or of the rows whose references it
names) within the window sum to it exactly. Unlike ``remittance_totals`` (all of a customer's
rows of a few days), the payer's other open rows of those days may stay out. Example:
"SEPA CREDIT BAKKER TECHNIEK BV REMIT 3 INV RF64 5390 0764 90" and Bakker Techniek's three
receipts of 860.00, 590.00 and 1,900.00, among its other open receipts of the week.

The search is recon.engine.passes.parts's: two invoices among all of the payer's rows in the
window, three when one of them is named, more among the rows nearest the transfer's date. A
fit is confirmed when it is the only one and unlikely by chance (``max_chance_fits``), or
names more of the invoices than any other, and it names an invoice or has at most one round
amount (a multiple of 100.00: round amounts recur, and several of them sum to many a
transfer); otherwise suggested. A fit holding a row one keying slip away from the transfer
is no fit: that row was mistyped (an amount mismatch). With ``deposits_only`` (shipped), only
money in: card
purchases of one merchant can sum to another of its debits by chance.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from recon.config import Remittances
from recon.engine import explain, references
from recon.engine.candidates import keyed_window_pairs, unique_pairs
from recon.engine.classify import unreversed
from recon.engine.groups import MAX_SUGGESTED_OPTIONS, expected_chance_fits
from recon.engine.normalise import BoolArray, IntArray
from recon.engine.passes.aggregate import _Groups, _open, naming_counts, naming_parts
from recon.engine.passes.names import named_parties
from recon.engine.passes.parts import (
    all_but_fits,
    anchored_three_part_fits,
    nearest,
    possible_parts,
    replaceable,
    resolve_claims,
    round_counts,
    subset_fits,
    two_part_fits,
)
from recon.engine.scoring import rails_differ
from recon.engine.slips import Slip, slip_between
from recon.engine.state import DayWindow, Found, MatchState
from recon.records import Status

REMITTANCE_RULE = "remittance"
_EMPTY = np.zeros(0, dtype=np.int64)
_WIDE_POOL = 64  # ledger rows per bank row (the nearest) searched for two or three invoices
_ROUNDS = 3  # a bank row that lost a claimed row looks again among the rows left
_ALL_BUT_MIN = 3  # invoices a transfer paying "all but one or two" pays at least


@dataclass(frozen=True)
class RemittancePass:
    settings: Remittances

    @property
    def name(self) -> str:
        return self.settings.name

    @property
    def window(self) -> DayWindow:
        return DayWindow(self.settings.days_before, self.settings.days_after)

    def run(self, state: MatchState) -> Found:
        bank, ledger = state.bank, state.ledger
        bank_open, ledger_open = _open(state)
        groups = _Groups.empty()
        payers = unreversed(state, np.flatnonzero(bank_open))
        if self.settings.deposits_only:
            payers = payers[bank.amount[payers] > 0]
        t, p = self._pools(state, payers, ledger_open)
        t, p = possible_parts(t, p, bank.amount, ledger.amount)
        keep = ~rails_differ(bank, ledger, t, p)  # a transfer pays no "Check received" row
        t, p = t[keep], p[keep]
        for _ in range(_ROUNDS):
            found, lost = self._round(state, t, p, bank_open, ledger_open, groups)
            if not found or not lost.any():
                break
            keep = lost[t] & bank_open[t] & ledger_open[p]
            t, p = t[keep], p[keep]
        return groups.found(state, REMITTANCE_RULE)

    def _pools(
        self, state: MatchState, payers: IntArray, ledger_open: BoolArray
    ) -> tuple[IntArray, IntArray]:
        """(bank row, ledger row) pairs: the open ledger rows of a counterparty the bank row
        names, or carrying a reference it names, within the window (the nearest
        ``_WIDE_POOL``)."""
        bank, ledger = state.bank, state.ledger
        is_payer = np.zeros(len(bank), dtype=bool)
        is_payer[payers] = True
        named_b, named_party = named_parties(state)
        ref_b, ref_code = bank.named_pairs
        found_t, found_p = [], []
        for b, code, ledger_code in (
            (named_b, named_party, ledger.party),
            (ref_b.astype(np.int64), ref_code.astype(np.int64), ledger.named_reference),
        ):
            keep = is_payer[b]
            b, code = b[keep], code[keep]
            rows = np.flatnonzero(ledger_open & (ledger_code >= 0))
            if len(b) == 0 or len(rows) == 0:
                continue
            width = int(max(code.max(), ledger_code.max())) + 1
            pair_b, pair_l = keyed_window_pairs(
                b, state.bank_block[b] * width + code, bank.date[b],
                rows, state.ledger_block[rows] * width + ledger_code[rows], ledger.date[rows],
                days_before=self.settings.days_before, days_after=self.settings.days_after,
                cap=_WIDE_POOL,
            )  # fmt: skip
            found_t.append(pair_b)
            found_p.append(pair_l)
        if not found_t:
            return _EMPTY, _EMPTY
        return unique_pairs(np.concatenate(found_t), np.concatenate(found_p))

    def _round(
        self, state: MatchState, t: IntArray, p: IntArray, bank_open: BoolArray,
        ledger_open: BoolArray, groups: _Groups,
    ) -> tuple[bool, BoolArray]:  # fmt: skip
        """One search over the pools; whether it linked any, and which bank rows lost."""
        bank, ledger = state.bank, state.ledger
        lost = np.zeros(len(bank), dtype=bool)
        target, members, sure = self._choices(state, t, p)
        # A transfer one keying slip away from one of the rows (3,667.00 for a receipt booked
        # as 367.00) is that row mistyped, an amount_mismatch, not that row and a round one;
        # unless the transfer names the reference of another of the rows.
        plain = np.array(
            [self._no_slip_or_names_another(state, x, rows)
             for x, rows in zip(target.tolist(), members, strict=True)],
            dtype=bool,
        )  # fmt: skip
        target, sure = target[plain], sure[plain]
        members = [rows for rows, keep in zip(members, plain.tolist(), strict=True) if keep]
        if len(target) == 0:
            return False, lost
        named_parts = naming_parts(state, target, members, target_is_bank=True)
        named = np.array([int(x.sum()) for x in named_parts], dtype=np.int64)
        # Several round invoices (1,300.00 + 1,700.00) sum to many transfers: not sure unless
        # an invoice is named.
        sure &= (named > 0) | (round_counts(members, ledger) <= 1)
        # An invoice that one or two other rows of the payer make up as well: several fit.
        sure &= ~replaceable(target, members, named_parts, t, p, ledger, sure, _WIDE_POOL)
        ok, sure = resolve_claims(target, members, sure, named, bank.date, len(ledger))
        for k in np.flatnonzero(ok).tolist():
            bank_row, rows = int(target[k]), members[k]
            currency = str(bank.currency[bank_row])
            note = (
                f"; pays {len(rows)} ledger rows of the payer or references it names: "
                + " + ".join(explain.money(int(a), currency) for a in ledger.amount[rows])
            )
            if not sure[k]:
                note += "; suggested: another set of the payer's rows fits too"
            groups.add(np.array([bank_row]), rows, Status.MATCHED if sure[k] else
                       Status.SUGGESTED, 0, note)  # fmt: skip
            bank_open[bank_row] = False
            ledger_open[rows] = False
        lost[target[~ok]] = True
        return bool(ok.any()), lost

    @staticmethod
    def _no_slip_or_names_another(state: MatchState, bank_row: int, rows: IntArray) -> bool:
        amount = int(state.bank.amount[bank_row])
        slipped = np.array([slip_between(amount, int(a)) is not Slip.NONE
                            for a in state.ledger.amount[rows]], dtype=bool)  # fmt: skip
        if not slipped.any():
            return True
        named = references.reference_evidence(
            state.bank, state.ledger, np.full(len(rows), bank_row, dtype=np.int64), rows
        )[0]
        return bool((named & ~slipped).any())

    def _choices(
        self, state: MatchState, t: IntArray, p: IntArray
    ) -> tuple[IntArray, list[IntArray], BoolArray]:
        """Per bank row with a fitting set: (bank row, its ledger rows, whether sure). Two rows
        of the whole pool first, then any subset of the nearest rows, then three rows of the
        whole pool one of which it names."""
        settings, bank, ledger = self.settings, state.bank, state.ledger
        choice: dict[int, tuple[IntArray, bool]] = {}
        # Sets of 3+ from the nearest rows: sure only when unlikely by chance.
        near_t, near_p = nearest(t, p, bank.date, ledger.date, 2 * settings.max_parts)
        target, members, only = subset_fits(
            near_t, near_p, bank.amount, ledger.amount, bank.date, ledger.date,
            settings.max_parts,
            anchor=references.reference_evidence(bank, ledger, near_t, near_p)[0],
        )  # fmt: skip
        pools = pd.Series(near_p).groupby(near_t).agg(list).to_dict() if len(near_t) else {}
        for row, rows, alone in zip(target.tolist(), members, only.tolist(), strict=True):
            chance = expected_chance_fits(ledger.amount[np.array(pools[row])],
                                          int(bank.amount[row]), 0)  # fmt: skip
            choice[row] = (rows, alone and chance <= settings.max_chance_fits)
        self._best(state, two_part_fits(t, p, bank.amount, ledger.amount), choice, replace=True)
        names_it = references.reference_evidence(bank, ledger, t, p)[0]  # per pair of the pool
        three = anchored_three_part_fits(t, p, names_it, bank.amount, ledger.amount)
        self._best(state, three, choice, replace=False)
        # Then, for a transfer nothing above fits: the payer's rows of its last days, all but
        # one or two (a disputed invoice held back), one of them named.
        rest = ~np.isin(t, np.array(sorted(choice), dtype=np.int64))
        target, members, only = all_but_fits(
            t[rest], p[rest], names_it[rest], bank.amount, bank.date, ledger.amount,
            ledger.date, _ALL_BUT_MIN,
        )  # fmt: skip
        for row, rows, alone in zip(target.tolist(), members, only.tolist(), strict=True):
            choice[row] = (rows, alone)
        rows_of = sorted(choice)
        return (np.array(rows_of, dtype=np.int64), [choice[r][0] for r in rows_of],
                np.array([choice[r][1] for r in rows_of], dtype=bool))  # fmt: skip

    @staticmethod
    def _best(
        state: MatchState, fits: tuple[IntArray, ...], choice: dict[int, tuple[IntArray, bool]],
        *, replace: bool,
    ) -> None:  # fmt: skip
        """Per bank row: the fit naming most of its rows' references, then nearest in date,
        then the first; sure when it is the only fit or names more than any other. Two rows
        (``replace``) win over a subset of the nearest rows; three rows only fill a gap."""
        target, parts = fits[0], np.sort(np.stack(fits[1:], axis=1), axis=1)
        if len(target) == 0:
            return
        distinct = np.unique(np.column_stack([target, parts]), axis=0)
        target, parts = distinct[:, 0], distinct[:, 1:]
        bank, ledger = state.bank, state.ledger
        named = sum(
            (references.reference_evidence(bank, ledger, target, parts[:, k])[0]
             .astype(np.int64) for k in range(parts.shape[1])),
            np.zeros(len(target), dtype=np.int64),
        )  # fmt: skip
        distance = np.abs(ledger.date[parts] - bank.date[target][:, None]).sum(axis=1)
        keys = [parts[:, k] for k in range(parts.shape[1] - 1, -1, -1)]
        order = np.lexsort((*keys, distance, -named, target))
        target, parts, named = target[order], parts[order], named[order]
        starts = np.flatnonzero(np.r_[True, target[1:] != target[:-1]])
        count = np.diff(np.r_[starts, len(target)])
        chosen = sorted(choice)
        chosen_named = dict(zip(chosen, naming_counts(
            state, np.array(chosen, dtype=np.int64), [choice[r][0] for r in chosen],
            target_is_bank=True,
        ).tolist(), strict=True))  # fmt: skip
        for start, n in zip(starts.tolist(), count.tolist(), strict=True):
            row = int(target[start])
            # A choice naming more of its rows' references than this fit stays.
            if chosen_named.get(row, -1) > named[start]:
                continue
            if n > MAX_SUGGESTED_OPTIONS:  # look-alike rows: a guess would mostly be wrong
                if replace:
                    choice.pop(row, None)
                continue
            if row in choice and not replace:
                continue
            choice[row] = (parts[start].copy(), n == 1 or bool(named[start] > named[start + 1]))
