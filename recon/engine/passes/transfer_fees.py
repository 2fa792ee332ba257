"""The transfer fee pass (``kind: transfer_fees``): a wire's fee, booked on another day.

Books often enter a bank's wire fees from the statement, at the month's end or when they
reconcile, with the wire's reference: "Wire fee Blue Shield", -25.00, reference PO 57319,
booked on 29 March. The bank charged it with the wire, on 4 March, as "OUTGOING WIRE FEE".
An amount rule looks near 29 March and finds the fee of another wire there. This pass finds
the fee line through the wire: the ledger row of the transfer with the fee row's reference
is linked already (the reference passes run first), so its bank row tells the day; the fee
line is an open bank charge (its text says fee, charge, commission...) of the fee row's
amount in the same account, from that day to ``fee_days`` later. Both rows must be charges.

The reference names the wire, and the wire's day the fee line, so a link is ``matched``
(``suggested`` when another fee line of the amount is as near: the bank's fee lines of one
day and amount are alike). Example: the fee row above and the -25.00 "OUTGOING WIRE FEE" of
4 March: matched, "the fee of the transfer PO 57319 names (bank transaction W1, 2024-03-04)".
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from recon.config import TransferFees
from recon.engine import explain, keys
from recon.engine.candidates import FAN_OUT_CAP, keyed_window_pairs
from recon.engine.normalise import IntArray
from recon.engine.one_to_one import one_to_one
from recon.engine.scoring import pair_parts
from recon.engine.state import DayWindow, Found, MatchState
from recon.records import Status


@dataclass(frozen=True)
class TransferFeePass:
    settings: TransferFees

    @property
    def name(self) -> str:
        return self.settings.name

    @property
    def window(self) -> DayWindow:
        return DayWindow(self.settings.days_before, self.settings.days_after)

    def run(self, state: MatchState) -> Found:
        bank, ledger = state.bank, state.ledger
        fee_rows = state.ledger_state.open()
        fee_rows = fee_rows[ledger.fee_line[fee_rows] & (ledger.named_reference[fee_rows] >= 0)]
        fee_lines = state.bank_state.open()
        fee_lines = fee_lines[bank.fee_line[fee_lines]]
        if len(fee_rows) == 0 or len(fee_lines) == 0:
            return Found()
        fee_rows, transfers = _transfers_of(state, fee_rows)
        if len(fee_rows) == 0:
            return Found()
        # Fee lines of the fee row's account and amount, on the transfer's bank day or up to
        # fee_days later: the fee row stands at the transfer's day for the window search.
        row_of, amount_of = pd.factorize(
            np.r_[bank.amount[fee_lines], ledger.amount[fee_rows]], sort=False
        )
        width = len(amount_of) + 1
        b, at = keyed_window_pairs(
            fee_lines, keys.combine(state.bank_block[fee_lines], row_of[: len(fee_lines)], width),
            bank.date[fee_lines],
            np.arange(len(fee_rows), dtype=np.int64),
            keys.combine(state.ledger_block[fee_rows], row_of[len(fee_lines):], width),
            bank.date[transfers], days_before=0, days_after=self.settings.fee_days,
            cap=FAN_OUT_CAP,
        )  # fmt: skip
        lg, wire = fee_rows[at], transfers[at]
        near = (bank.date[b] - ledger.date[lg] >= -self.settings.days_before) & (
            bank.date[b] - ledger.date[lg] <= self.settings.days_after
        )
        b, lg, wire = b[near], lg[near], wire[near]
        # One candidate per (fee line, fee row): the nearest transfer.
        order = np.lexsort((bank.date[b] - bank.date[wire], lg, b))
        b, lg, wire = b[order], lg[order], wire[order]
        if len(b) == 0:
            return Found()
        first = np.r_[True, (b[1:] != b[:-1]) | (lg[1:] != lg[:-1])]
        b, lg, wire = b[first], lg[first], wire[first]
        # The reference names the transfer, and the transfer the day: evidence to confirm; the
        # date score reads the days from the transfer, not from the booking.
        parts = replace(
            pair_parts(bank, ledger, b, lg), reference_equal=np.ones(len(b), dtype=bool),
            nearest_days=bank.date[b] - bank.date[wire],
        )  # fmt: skip
        found = one_to_one(state, parts, priority=1.0, rule=self.name, status=Status.MATCHED)
        if found.links is None or len(found.links) == 0:
            return found
        wire_of = dict(zip(zip(b.tolist(), lg.tolist(), strict=True), wire.tolist(), strict=True))
        notes = np.array(
            [
                _note(state, wire_of[(x, y)], y)
                for x, y in zip(found.links.bank.tolist(), found.links.ledger.tolist(), strict=True)
            ],
            dtype=object,
        )
        return replace(found, links=replace(found.links, notes=found.links.notes + notes))


def _transfers_of(state: MatchState, fee_rows: IntArray) -> tuple[IntArray, IntArray]:
    """(fee row, bank row of a transfer): each linked ledger row that is no charge and has the
    fee row's reference in its block, through its bank partner (the nearest to the fee row's
    date, where there are several)."""
    ledger = state.ledger
    partner = state.ledger_state.partner
    linked = np.flatnonzero((partner >= 0) & ~ledger.fee_line & (ledger.named_reference >= 0))
    width = keys.width(ledger.named_reference)
    fee_key = keys.combine(state.ledger_block[fee_rows], ledger.named_reference[fee_rows], width)
    wire_key = keys.combine(state.ledger_block[linked], ledger.named_reference[linked], width)
    joined = pd.DataFrame({"key": fee_key, "fee": fee_rows}).merge(
        pd.DataFrame({"key": wire_key, "wire": partner[linked]}), on="key"
    )
    fee, wire = joined["fee"].to_numpy(dtype=np.int64), joined["wire"].to_numpy(dtype=np.int64)
    # A reference the books use twice (a bill's and a customer invoice's number) reaches two
    # transfers: the fee is of the one nearest its booking.
    apart = np.abs(ledger.date[fee] - state.bank.date[wire])
    nearest = apart == pd.Series(apart).groupby(fee).transform("min").to_numpy()
    return fee[nearest], wire[nearest]


def _note(state: MatchState, wire: int, fee_row: int) -> str:
    bank, ledger = state.bank, state.ledger
    reference = str(ledger.reference_names[ledger.named_reference[fee_row]])
    return (
        f"; the fee of the transfer {reference} names (bank transaction {bank.ids[wire]}, "
        f"{explain.day_text(int(bank.date[wire]))})"
    )
