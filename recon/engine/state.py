"""The match state the passes share, and what a pass returns.

:class:`MatchState` holds both sides' arrays and, per side, which rows are still free, which are
held out of later passes, and which row each linked row is linked with. A pass reads it and
returns a :class:`Found` (links with their scores and alternatives, amount mismatches, rows to
hold); only :meth:`MatchState.record` changes the state, so every pass records its links one
way and a pass can be run and checked on a hand-built state.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
import numpy.typing as npt
import pandas as pd

from recon.config import MatchingConfig, MatchRule
from recon.engine import explain, references, sets
from recon.engine.holidays import quiet_weekdays
from recon.engine.normalise import (
    BoolArray,
    Distinct,
    FrameTexts,
    IntArray,
    ObjArray,
    Side,
    prepare,
)
from recon.engine.payees import PayeeMemory
from recon.engine.scoring import FloatArray
from recon.records import Status

# Score part names, in the order explanations list them.
PART_NAMES = ("amount", "date", "text", "reference", "priority")
_EMPTY = np.zeros(0, dtype=np.int64)


@dataclass(frozen=True)
class DayWindow:
    """How far a pass looks: the bank date may be ``before`` days earlier than the ledger date,
    or ``after`` days later."""

    before: int
    after: int

    @property
    def reach(self) -> int:
        return max(self.before, self.after)


@dataclass(frozen=True)
class LinkBatch:
    """Links a pass made, one entry per (bank row, ledger row); a group is several entries with
    one match id."""

    bank: IntArray  # bank positions
    ledger: IntArray  # ledger positions
    match_id: ObjArray
    status: ObjArray  # recon.records.Status values
    rule: ObjArray  # what made the link, as the links frame says it
    score: FloatArray
    amount_difference: IntArray  # bank minus ledger, of the whole group
    parts: dict[str, FloatArray]  # PART_NAMES -> score parts, for the explanation
    notes: ObjArray  # appended to the explanation ("" or "; ...")

    def __len__(self) -> int:
        return len(self.bank)


@dataclass(frozen=True)
class AlternativeBatch:
    """Other candidates of suggested links: the pair (``bank``, ``ledger``) competes with the
    link of ``match_id``, whose first pair is (``winner_bank``, ``winner_ledger``)."""

    match_id: ObjArray
    bank: IntArray
    ledger: IntArray
    score: FloatArray
    winner_bank: IntArray
    winner_ledger: IntArray

    def __len__(self) -> int:
        return len(self.bank)


@dataclass(frozen=True)
class Found:
    """What one pass found: nothing changes until the state records it."""

    links: LinkBatch | None = None
    alternatives: AlternativeBatch | None = None
    # Pairs whose amounts disagree (bank positions, ledger positions): reported, not linked.
    mismatches: tuple[IntArray, IntArray] = (_EMPTY, _EMPTY)
    # Rows kept out of the passes that follow (bank positions, ledger positions).
    held: tuple[IntArray, IntArray] = (_EMPTY, _EMPTY)


@dataclass
class SideState:
    """Where each row of one side stands."""

    free: BoolArray  # neither linked nor reported as a mismatch (pending bank rows: never free)
    held: BoolArray  # a copy of a linked row: kept out of later passes, reported at the end
    partner: IntArray  # the other side's position it is linked with, -1 if none
    # Another candidate of a suggested link: that link may yet be resolved with this row, so a
    # later pass does not confirm a link of this row.
    contested: BoolArray

    @classmethod
    def of(cls, free: BoolArray) -> SideState:
        size = len(free)
        return cls(free, np.zeros(size, dtype=bool), np.full(size, -1, dtype=np.int64),
                   np.zeros(size, dtype=bool))  # fmt: skip

    def open(self) -> IntArray:
        """Positions a pass may still use: free and not held."""
        rows: IntArray = np.flatnonzero(self.free & ~self.held)
        return rows


@dataclass
class MatchState:
    """Both sides, where their rows stand, and everything recorded so far."""

    bank: Side
    ledger: Side
    matching: MatchingConfig
    bank_block: IntArray  # account and currency of each bank row, as one code
    ledger_block: IntArray
    bank_state: SideState
    ledger_state: SideState
    # The row's amount occurs once among its side's rows of its account and currency: a link
    # between two such rows needs no other evidence to be confirmed.
    bank_amount_unique: BoolArray
    ledger_amount_unique: BoolArray
    # The row's amount is a round sum that its counterparty has on another row of the account
    # within a week: the same text and amount then fit either row.
    ledger_round_recurs: BoolArray
    payees: PayeeMemory = field(default_factory=PayeeMemory)
    links: list[LinkBatch] = field(default_factory=list)
    alternatives: list[AlternativeBatch] = field(default_factory=list)
    mismatches: list[tuple[IntArray, IntArray]] = field(default_factory=list)
    # (bank position, ledger counterparty code) a bank text names: recon.engine.passes.names.
    named_parties: tuple[IntArray, IntArray] | None = None
    # Weekdays the bank posted as on a weekend (recon.engine.holidays), once they are asked for.
    bank_holidays: npt.NDArray[np.datetime64] | None = None

    def holidays(self) -> npt.NDArray[np.datetime64]:
        """:func:`~recon.engine.holidays.quiet_weekdays` of the posted bank rows, computed once."""
        if self.bank_holidays is None:
            posted = self.bank.date[~self.bank.pending]
            self.bank_holidays = quiet_weekdays(posted)
        return self.bank_holidays

    @classmethod
    def prepare(
        cls, bank: pd.DataFrame, ledger: pd.DataFrame, matching: MatchingConfig,
        payees: PayeeMemory | None = None,
    ) -> MatchState:  # fmt: skip
        """Both frames as arrays in (date, id) order; every posted bank row and ledger row free."""
        texts = (FrameTexts(bank), FrameTexts(ledger))  # read by both steps, converted once
        bank_side, ledger_side = prepare(bank, ledger, matching.reference_pattern, payees, texts)
        bank_block, ledger_block = blocks(bank_side, ledger_side, same_account=True,
                                          same_currency=True)
        rules = [p for p in matching.passes if isinstance(p, MatchRule)]
        bank_side, ledger_side = references.learn(
            texts[0], texts[1], bank_side, ledger_side, bank_block, ledger_block,
            days_before=max((r.days_before for r in rules), default=0),
            days_after=max((r.days_after for r in rules), default=0),
        )
        return cls(
            bank_side, ledger_side, matching, bank_block, ledger_block,
            SideState.of(~bank_side.pending), SideState.of(np.ones(len(ledger_side), dtype=bool)),
            _unique_in_block(bank_block, bank_side.amount),
            _unique_in_block(ledger_block, ledger_side.amount),
            _round_recurs(ledger_block, ledger_side, texts[1].distinct("counterparty")),
            payees or PayeeMemory(),
        )  # fmt: skip

    def record(self, found: Found) -> None:
        """Apply what a pass found: linked rows are no longer free and know their partner,
        mismatched rows are no longer free, held rows sit out the passes that follow."""
        if found.links is not None and len(found.links):
            links = unconfirm_contradicted(self.bank, self.ledger, found.links)
            links = unconfirm_contested(self, links)
            b, lg = links.bank, links.ledger
            self.bank_state.free[b] = False
            self.ledger_state.free[lg] = False
            self.bank_state.partner[b] = lg
            self.ledger_state.partner[lg] = b
            self.links.append(links)
        if found.alternatives is not None and len(found.alternatives):
            self.alternatives.append(found.alternatives)
            other = found.alternatives
            self.bank_state.contested[other.bank[other.bank != other.winner_bank]] = True
            self.ledger_state.contested[other.ledger[other.ledger != other.winner_ledger]] = True
        b, lg = found.mismatches
        if len(b):
            self.bank_state.free[b] = False
            self.ledger_state.free[lg] = False
            self.mismatches.append(found.mismatches)
        held_bank, held_ledger = found.held
        self.bank_state.held[held_bank] = True
        self.ledger_state.held[held_ledger] = True


ROUND_SUM = 10_000  # minor units: a multiple of 100.00, or of 10,000 yen, is a round sum
_RECUR_DAYS = 7


def _round_recurs(block: IntArray, side: Side, counterparty: Distinct) -> BoolArray:
    """Per row: its amount is a round sum and another row of its block and counterparty (the
    whole name: two employees share a first name) has it within a week (:func:`recurring`).
    ``counterparty``: the frame's counterparty column (in input order), factorised."""
    recurs = np.zeros(len(block), dtype=bool)
    rows = np.flatnonzero((side.amount % ROUND_SUM == 0) & (side.amount != 0))
    party = counterparty.codes[side.input_row[rows]]
    named_code = np.r_[counterparty.uniques != "", False]  # code -1 (missing) picks False
    named = named_code[party]
    rows, party = rows[named], party[named]
    recurs[recurring(rows, block[rows], party, side.amount[rows], side.date[rows])] = True
    return recurs


def recurring(
    rows: IntArray, block: IntArray, party: IntArray, amount: IntArray, date: IntArray
) -> IntArray:
    """Of ``rows`` (each with its block, party, amount and date; a row may come more than
    once, with another party), those that another of them matches in block, party and
    amount within ``_RECUR_DAYS`` days: a payer's round sum that recurs within a week."""
    if len(rows) < 2:
        return np.zeros(0, dtype=np.int64)
    order = np.lexsort((date, amount, party, block))
    rows, block, party, amount, date = (x[order] for x in (rows, block, party, amount, date))
    near = (
        (block[1:] == block[:-1]) & (party[1:] == party[:-1]) & (amount[1:] == amount[:-1])
        & (date[1:] - date[:-1] <= _RECUR_DAYS) & (rows[1:] != rows[:-1])
    )  # fmt: skip
    return np.unique(np.r_[rows[1:][near], rows[:-1][near]])


def _unique_in_block(block: IntArray, amount: IntArray) -> BoolArray:
    """Whether each row's (block, amount) occurs once."""
    order = sets.order(block, amount)
    same_as_next = (block[order][1:] == block[order][:-1]) & (
        amount[order][1:] == amount[order][:-1]
    )
    repeated = np.zeros(len(order), dtype=bool)
    repeated[1:] |= same_as_next
    repeated[:-1] |= same_as_next
    unique: BoolArray = np.empty(len(order), dtype=bool)
    unique[order] = ~repeated
    return unique


def blocks(
    bank: Side, ledger: Side, *, same_account: bool, same_currency: bool
) -> tuple[IntArray, IntArray]:
    """Per row, one code for what must agree: the account and/or currency (0 when neither)."""
    width = int(max(bank.currency_code.max(initial=0), ledger.currency_code.max(initial=0))) + 1

    def code(side: Side) -> IntArray:
        account = side.account_code if same_account else np.zeros(len(side), dtype=np.int64)
        currency = side.currency_code if same_currency else np.zeros(len(side), dtype=np.int64)
        return account * width + currency

    return code(bank), code(ledger)


def unconfirm_contradicted(bank: Side, ledger: Side, links: LinkBatch) -> LinkBatch:
    """``links`` with every link (all rows of its match id) that pairs a bank row naming one
    reference with a ledger row holding another, that bank row naming no ledger row of the
    link, made ``suggested``, saying why: contradicting references are never confirmed,
    whatever else agrees (recon.engine.references)."""
    agree, contradicts = references.reference_evidence(bank, ledger, links.bank, links.ledger)
    confirmed = links.status != Status.SUGGESTED.value
    # A bank row naming one of its group's references agrees with the group: one transfer
    # paying three invoices often names only the first. A part of an invoice naming another
    # invoice does not become right because another part names this one.
    against = contradicts & confirmed
    if against.any():
        agree &= _among(links.match_id, links.match_id[against])
        ids, rows = links.match_id, links.bank
        agreeing = set(zip(ids[agree].tolist(), rows[agree].tolist(), strict=True))
        at = np.flatnonzero(against)
        asked = zip(ids[at].tolist(), rows[at].tolist(), strict=True)
        against[at] = [pair not in agreeing for pair in asked]
    if not against.any():
        return links
    demoted = _among(links.match_id, links.match_id[against]) & confirmed
    at = np.flatnonzero(against)
    notes = explain.contradiction_notes(bank, ledger, links.bank[at], links.ledger[at])
    return suggested(links, demoted, notes, note_at=at)


def unconfirm_contested(state: MatchState, links: LinkBatch) -> LinkBatch:
    """``links`` with every link (all rows of its match id) holding a row that an earlier pass
    named as another candidate of a suggested link made ``suggested``: that link may yet be
    resolved with this row (two 2,000.00 wires of one payer on one day, one paying an invoice
    and one a part of another), so nothing settles which of the two links is right."""
    confirmed = links.status != Status.SUGGESTED.value
    contested = confirmed & (
        state.bank_state.contested[links.bank] | state.ledger_state.contested[links.ledger]
    )
    if not contested.any():
        return links
    demoted = _among(links.match_id, links.match_id[contested]) & confirmed
    return suggested(links, demoted, explain.CONTESTED)


def suggested(
    links: LinkBatch, at: IntArray | BoolArray, notes: str | ObjArray | list[str],
    note_at: IntArray | BoolArray | None = None,
) -> LinkBatch:  # fmt: skip
    """``links`` with the entries ``at`` made ``suggested``, and ``notes`` (why) added to the
    explanations of the entries ``note_at`` (``at`` when not given)."""
    status = links.status.copy()
    status[at] = Status.SUGGESTED.value
    noted = links.notes.copy()
    noted[at if note_at is None else note_at] += notes
    return replace(links, status=status, notes=noted)


def _among(values: ObjArray, wanted: ObjArray) -> BoolArray:
    """Which ``values`` are in ``wanted`` (a hash look-up: ids are strings)."""
    among: BoolArray = pd.Series(values, dtype=object).isin(wanted).to_numpy(dtype=bool)
    return among
