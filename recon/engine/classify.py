"""What is left after the passes: each open row's kind (unmatched, probable duplicate,
reversal, pending), why, and its nearest candidate; and the amount mismatches."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pandas as pd

from recon.config import MatchingConfig, MatchRule
from recon.engine import explain, keys, sets
from recon.engine.assign import assign
from recon.engine.candidates import keyed_window_pairs, order_by
from recon.engine.normalise import (
    BANK_BOILERPLATE,
    RAIL_TRANSFER,
    BoolArray,
    IntArray,
    ObjArray,
    Side,
    filled,
    name_words,
)
from recon.engine.references import reference_evidence
from recon.engine.state import MatchState
from recon.records import ItemSide, Kind

_NEAREST_CAP = 8


def nearest(
    rows: IntArray, side: Side, side_block: IntArray,
    other: Side, other_rows: IntArray, other_block: IntArray,
) -> IntArray:  # fmt: skip
    """For each of ``rows``, the other-side position nearest by amount, then date (-1: none).

    Only rows of the same block (account and currency) count.
    """
    result = np.full(len(rows), -1, dtype=np.int64)
    if len(rows) == 0 or len(other_rows) == 0:
        return result
    floor = min(int(side.amount[rows].min()), int(other.amount[other_rows].min()))
    span = max(int(side.amount[rows].max()), int(other.amount[other_rows].max())) - floor + 1
    if (int(max(side_block.max(), other_block.max())) + 1) * span >= 2**62:
        raise ValueError("amounts too large for the nearest-candidate search")
    comp = other_block[other_rows] * span + (other.amount[other_rows] - floor)
    order = order_by(comp, other.date[other_rows], other_rows)
    comp_sorted, rows_sorted = comp[order], other_rows[order]
    own = side_block[rows] * span + (side.amount[rows] - floor)
    at = np.searchsorted(comp_sorted, own, "left")
    below = np.clip(at - 1, 0, len(comp_sorted) - 1)
    above = np.clip(at, 0, len(comp_sorted) - 1)
    same_block_below = (at > 0) & (comp_sorted[below] // span == own // span)
    same_block_above = (at < len(comp_sorted)) & (comp_sorted[above] // span == own // span)
    gap_below = np.where(same_block_below, own - comp_sorted[below], np.iinfo(np.int64).max)
    gap_above = np.where(same_block_above, comp_sorted[above] - own, np.iinfo(np.int64).max)
    use_above = gap_above <= gap_below
    has = same_block_below | same_block_above
    target_amount = np.where(use_above, comp_sorted[above], comp_sorted[below])
    # Among other rows with that (block, amount), the nearest date; composite is already sorted
    # by (amount key, date, position).
    first = np.searchsorted(comp_sorted, target_amount, "left")
    last = np.searchsorted(comp_sorted, target_amount, "right")
    dates_sorted = other.date[rows_sorted]
    for_date = side.date[rows]
    # Dense rank of each (block, amount) value, then a (rank, date) composite to search the date.
    rank = np.cumsum(np.r_[True, comp_sorted[1:] != comp_sorted[:-1]]) - 1
    day0 = min(int(dates_sorted.min()), int(for_date.min()))
    shift = (rank << 22) | (dates_sorted - day0)
    probe = (rank[np.minimum(first, len(rank) - 1)] << 22) | (for_date - day0)
    pos = np.clip(np.searchsorted(shift, probe, "left"), first, np.maximum(last - 1, first))
    pos = np.minimum(pos, len(rank) - 1)
    prev = np.minimum(np.clip(pos - 1, first, np.maximum(last - 1, first)), len(rank) - 1)
    closer_prev = np.abs(dates_sorted[prev] - for_date) <= np.abs(dates_sorted[pos] - for_date)
    best = np.where(closer_prev, prev, pos)
    result[has] = rows_sorted[best[has]]
    return result


def _size_keys(bank: Side, block: IntArray, search: str) -> IntArray:
    """Per bank row, one key for its (block, amount size): a debit and a credit of one size in
    one account and currency share it."""
    size = np.abs(bank.amount)
    modulus = int(size.max(initial=0)) + 1
    if (int(block.max(initial=0)) + 1) * modulus >= 2**62:
        raise ValueError(f"amounts too large for the {search} search")
    keys: IntArray = block * modulus + size
    return keys


def reversals(
    bank: Side, rows: IntArray, block: IntArray, window_days: int
) -> tuple[IntArray, IntArray]:
    """Pairs (money-out row, money-in row) of equal size within the window, one-to-one."""
    out_rows = rows[bank.amount[rows] < 0]
    in_rows = rows[bank.amount[rows] > 0]
    key = _size_keys(bank, block, "reversal")
    o, i = keyed_window_pairs(
        out_rows, key[out_rows], bank.date[out_rows], in_rows, key[in_rows], bank.date[in_rows],
        days_before=window_days, days_after=window_days, cap=_NEAREST_CAP,
    )  # fmt: skip
    if len(o) == 0:
        return o, i
    # An unrelated debit of a credit's size is no reversal of it, nor is a payment to a partner
    # and a receipt from it ("FURIKOMI OUT KK KOBAYASHI", "TRANSFER IN KK KOBAYASHI"): the
    # texts are the same ("CARD REFUND X" twice), or one says it reverses something ("ACH
    # REVERSAL ACME CORP", "RETURNED ITEM CHARGEBACK" after a "DEPOSIT").
    same_text = bank.clean_code[o] == bank.clean_code[i]
    related = same_text | _says_reversal(bank, o) | _says_reversal(bank, i)
    o, i = o[related], i[related]
    if len(o) == 0:
        return o, i
    score = 1.0 / (1.0 + np.abs(bank.date[o] - bank.date[i]).astype(np.float64))
    chosen = assign(o, i, score)
    return o[chosen], i[chosen]


# Words with which a bank says a row undoes another.
_REVERSAL_WORDS = frozenset(
    {"REVERSAL", "REVERSED", "REVERSE", "RETURN", "RETURNED", "RTN", "CHARGEBACK", "CORRECTION",
     "ADJUSTMENT", "ADJ", "REFUND", "VOID", "VOIDED", "CANCEL", "CANCELLED", "CANCELED",
     "STORNO", "RUECKBUCHUNG", "RÜCKBUCHUNG", "RETOUR", "RECALL"}
)  # fmt: skip


def _says_reversal(bank: Side, rows: IntArray) -> BoolArray:
    """Per row: its text says it undoes another (:data:`_REVERSAL_WORDS`)."""
    codes = bank.text_code[rows]
    says = {code: bool(set(name_words(str(bank.texts[code]))) & _REVERSAL_WORDS)
            for code in np.unique(codes).tolist()}  # fmt: skip
    return np.array([says[code] for code in codes.tolist()], dtype=bool)


def returns(
    bank: Side, rows: IntArray, linked: BoolArray, block: IntArray, window_days: int
) -> tuple[IntArray, IntArray]:
    """(open money-in row, linked money-out row) pairs: a credit of a linked debit's size within
    the window (business days) whose text shares a name with it (an ACH return of a payment
    the books hold: "ACH RETURN R01 ACME SUPPLY" after "ACH DEBIT ACME SUPPLY"), one debit per
    credit, the nearest in date."""
    credits = rows[bank.amount[rows] > 0]
    debits = np.flatnonzero(linked & (bank.amount < 0))
    empty = np.zeros(0, dtype=np.int64)
    if len(credits) == 0 or len(debits) == 0:
        return empty, empty
    key = _size_keys(bank, block, "return")
    c, d = keyed_window_pairs(
        credits, key[credits], bank.date[credits], debits, key[debits], bank.date[debits],
        days_before=0, days_after=window_days + 2 * (window_days // 5 + 1), cap=_NEAREST_CAP,
    )  # fmt: skip
    # Returns come within so many business days: weekends do not count.
    business = np.busday_count(
        bank.date[d].astype("datetime64[D]"), bank.date[c].astype("datetime64[D]")
    )
    c, d = c[business <= window_days], d[business <= window_days]
    words = {code: set(name_words(str(bank.texts[code]))) - BANK_BOILERPLATE
             for code in np.unique(bank.text_code[np.r_[c, d]]).tolist()}  # fmt: skip
    named = np.array([bool(words[x] & words[y]) for x, y in
                      zip(bank.text_code[c].tolist(), bank.text_code[d].tolist(), strict=True)],
                     dtype=bool)  # fmt: skip
    c, d = c[named], d[named]
    order = np.lexsort((d, bank.date[c] - bank.date[d], c))
    c, d = c[order], d[order]
    first = np.r_[True, c[1:] != c[:-1]] if len(c) else np.zeros(0, dtype=bool)
    return c[first], d[first]


def unreversed(state: MatchState, rows: IntArray) -> IntArray:
    """The bank ``rows`` that no opposite bank row among them cancels (a debit and its
    reversal): the passes that link another amount leave reversals to the classification."""
    out, back = reversals(state.bank, rows, state.bank_block, state.matching.reversal_window_days)
    kept: IntArray = np.setdiff1d(rows, np.concatenate([out, back]))
    return kept


def duplicates(
    side: Side, rows: IntArray, linked: BoolArray, block: IntArray, window_days: int
) -> tuple[IntArray, IntArray]:
    """(leftover row, its linked twin): same block, amount, counterparty, description,
    reference and check number."""
    twins = np.flatnonzero(linked)
    if len(rows) == 0 or len(twins) == 0:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty
    # One key per (block, amount, text after rapidfuzz's normalisation, reference, check
    # number): the nearest twins are looked for among rows alike in all of them, so that other
    # linked rows of the amount (a day's many 20.00 subscriptions) cannot crowd a copy's twin
    # out of the nearest few.
    both = np.r_[rows, twins]
    codes = np.zeros(len(both), dtype=np.int64)
    for column in (block, side.amount, side.clean_code, side.reference, side.check):
        values = pd.factorize(column[both])[0].astype(np.int64)
        joined = keys.combine(codes, values, int(values.max(initial=0)) + 1)
        codes = pd.factorize(joined)[0].astype(np.int64)
    x, y = keyed_window_pairs(
        rows, codes[: len(rows)], side.date[rows], twins, codes[len(rows) :], side.date[twins],
        days_before=window_days, days_after=window_days, cap=_NEAREST_CAP,
    )  # fmt: skip
    # One twin per leftover row: the nearest in date, then the lowest position.
    order = np.lexsort((y, np.abs(side.date[x] - side.date[y]), x))
    x, y = x[order], y[order]
    first = np.r_[True, x[1:] != x[:-1]] if len(x) else np.zeros(0, dtype=bool)
    return x[first], y[first]


@dataclass(frozen=True)
class OpenItems:
    """Open items of one side (``rows``: positions), or amount mismatches (``rows``: bank
    positions, ``other_rows``: their ledger rows)."""

    side: ItemSide
    rows: IntArray
    kind: ObjArray  # recon.records.Kind values
    explanation: ObjArray
    nearest_id: ObjArray  # the nearest other-side item's id, "" if none
    other_rows: IntArray | None = None


def classify(state: MatchState, as_of: dt.date) -> tuple[OpenItems, OpenItems, OpenItems]:
    """The amount mismatches, then every bank row and every ledger row the passes left open.

    A row that is several things is reported as the last of: unmatched, probable duplicate,
    reversal, pending. Pending bank rows are open whatever the passes did. A ledger copy of a
    linked row booked less than ``clearing_days`` before ``as_of`` may still clear: unmatched.
    """
    bank, ledger, matching = state.bank, state.ledger, state.matching
    bank_partner, ledger_partner = state.bank_state.partner, state.ledger_state.partner
    left_bank = np.flatnonzero(state.bank_state.free)
    left_ledger = np.flatnonzero(state.ledger_state.free)
    bank_rows = np.concatenate([left_bank, np.flatnonzero(bank.pending)])
    window = matching.duplicate_window_days

    bank_near = nearest(
        bank_rows, bank, state.bank_block, ledger, np.arange(len(ledger), dtype=np.int64),
        state.ledger_block,
    )  # fmt: skip
    before, after = _equal_amount_window(matching)
    bank_near_text, bank_near_id = explain.nearest_texts(
        "ledger entry", bank, bank_rows, ledger, bank_near, ledger_partner, bank,
        equal_reach=(-before, after),
        references_differ=_references_differ(state, bank_rows, bank_near),
        linkable=~bank.pending[bank_rows],
    )  # fmt: skip
    bank_kind = filled(len(bank_rows), Kind.UNMATCHED_BANK.value)
    bank_why = filled(len(bank_rows), explain.NO_LEDGER_MATCH)
    copies, twins = duplicates(bank, left_bank, bank_partner >= 0, state.bank_block, window)
    charged = _charges_of_the_days_transfers(bank, state.bank_block, copies)
    copies, twins = copies[~charged], twins[~charged]
    at, why = _duplicate_texts("bank transaction", bank, bank_rows, copies, twins, bank_partner,
                               ledger)  # fmt: skip
    bank_kind[at], bank_why[at] = Kind.PROBABLE_DUPLICATE.value, why
    out, back = reversals(bank, left_bank, state.bank_block, matching.reversal_window_days)
    reversed_by = dict(zip(out.tolist(), back.tolist(), strict=True))
    reversed_by.update(zip(back.tolist(), out.tolist(), strict=True))
    for i in _positions_of(bank_rows, np.array(list(reversed_by), dtype=np.int64)).tolist():
        b = int(bank_rows[i])
        other = reversed_by[b]
        bank_kind[i] = Kind.REVERSAL.value
        bank_why[i] = explain.reversal_text(
            str(bank.ids[other]), int(bank.amount[other]), str(bank.currency[b]),
            int(bank.date[b] - bank.date[other]),
        )  # fmt: skip
    # A credit returning a debit the books hold (the debit is linked): a reversal too.
    returned, debit = returns(bank, left_bank[~np.isin(left_bank, out) & ~np.isin(left_bank, back)],
                              bank_partner >= 0, state.bank_block,
                              matching.reversal_window_days)  # fmt: skip
    debit_of = dict(zip(returned.tolist(), debit.tolist(), strict=True))
    for i in _positions_of(bank_rows, returned).tolist():
        b = int(bank_rows[i])
        other = debit_of[b]
        bank_kind[i] = Kind.REVERSAL.value
        bank_why[i] = explain.return_text(
            str(bank.ids[other]), int(bank.amount[other]), str(bank.currency[b]),
            int(bank.date[b] - bank.date[other]), str(ledger.ids[bank_partner[other]]),
        )  # fmt: skip
    pending = bank.pending[bank_rows]
    bank_kind[pending] = Kind.PENDING.value
    bank_why[pending] = explain.PENDING

    ledger_near = nearest(
        left_ledger, ledger, state.ledger_block, bank, np.flatnonzero(~bank.pending),
        state.bank_block,
    )  # fmt: skip
    ledger_near_text, ledger_near_id = explain.nearest_texts(
        "bank transaction", ledger, left_ledger, bank, ledger_near, bank_partner, ledger,
        equal_reach=(-after, before),
        references_differ=_references_differ(state, ledger_near, left_ledger),
    )  # fmt: skip
    ledger_kind = filled(len(left_ledger), Kind.UNMATCHED_LEDGER.value)
    ledger_why = filled(len(left_ledger), explain.NO_BANK_MATCH)
    copies, twins = duplicates(ledger, left_ledger, ledger_partner >= 0, state.ledger_block, window)
    # Several copies of one linked row booked in the last days may still clear (seats of one
    # subscription the bank has not charged yet): in transit. One copy is a double posting.
    last_day = (np.datetime64(as_of, "D") - np.datetime64(0, "D")).astype(np.int64)
    recent = ledger.date[copies] > last_day - matching.clearing_days
    _, twin_code, copies_of_twin = np.unique(twins, return_inverse=True, return_counts=True)
    settled = ~(recent & (copies_of_twin[twin_code] >= 2))
    copies, twins = copies[settled], twins[settled]
    at, why = _duplicate_texts("ledger entry", ledger, left_ledger, copies, twins, ledger_partner,
                               bank)  # fmt: skip
    ledger_kind[at], ledger_why[at] = Kind.PROBABLE_DUPLICATE.value, why
    return (
        _mismatches(state),
        OpenItems(ItemSide.BANK, bank_rows, bank_kind, explain.joined(bank_why, bank_near_text),
                  bank_near_id),
        OpenItems(ItemSide.LEDGER, left_ledger, ledger_kind,
                  explain.joined(ledger_why, ledger_near_text), ledger_near_id),
    )  # fmt: skip


def _equal_amount_window(matching: MatchingConfig) -> tuple[int, int]:
    """(days before, days after) of the widest window of the rules that link equal amounts."""
    rules = [p for p in matching.passes if isinstance(p, MatchRule) and p.kind == "amount"]
    return (max((r.days_before for r in rules), default=0),
            max((r.days_after for r in rules), default=-1))  # fmt: skip


def _references_differ(state: MatchState, b: IntArray, lg: IntArray) -> BoolArray:
    """Per (bank row, ledger row) pair, -1 for none on either side: the bank row names another
    reference than the ledger row's."""
    differ = np.zeros(len(b), dtype=bool)
    both = np.flatnonzero((b >= 0) & (lg >= 0))
    if len(both):
        differ[both] = reference_evidence(state.bank, state.ledger, b[both], lg[both])[1]
    return differ


def _mismatches(state: MatchState) -> OpenItems:
    """One open item per mismatched pair; its amount is what does not reconcile (bank minus
    ledger), its nearest candidate the ledger row."""
    bank, ledger = state.bank, state.ledger
    empty = np.zeros(0, dtype=np.int64)
    b = np.concatenate([empty, *(pair[0] for pair in state.mismatches)])
    lg = np.concatenate([empty, *(pair[1] for pair in state.mismatches)])
    texts = [
        explain.mismatch_text(
            int(bank.amount[x]),
            int(ledger.amount[y]),
            str(bank.currency[x]),
            _mismatch_evidence(state, x, y),
            int(bank.date[x] - ledger.date[y]),
        )
        for x, y in zip(b.tolist(), lg.tolist(), strict=True)
    ]
    return OpenItems(
        ItemSide.BOTH, b, filled(len(b), Kind.AMOUNT_MISMATCH.value),
        np.array(texts, dtype=object), ledger.ids[lg], other_rows=lg,
    )  # fmt: skip


def _mismatch_evidence(state: MatchState, b: int, lg: int) -> str:
    """What ties a mismatched pair, in words: the reference, the counterparty, or the texts."""
    bank, ledger = state.bank, state.ledger
    if bank.check[b] >= 0 and bank.check[b] == ledger.check[lg]:
        return f"same check number {bank.check[b]}"
    if bank.reference[b] >= 0 and bank.reference[b] == ledger.reference[lg]:
        return "same reference"
    if bank.party[b] >= 0 and bank.party[b] == ledger.party[lg]:
        return "same counterparty"
    return "alike texts"


def _charges_of_the_days_transfers(bank: Side, block: IntArray, copies: IntArray) -> BoolArray:
    """Per copy: it is a bank's charge for a transfer, and its day has as many transfers as
    charges like it.

    Two "WIRE TRANSFER FEE -25.00" lines on a day of two wires are each wire's fee, not one
    fee delivered twice; on a day of one wire, the second one is a probable duplicate."""
    for_transfer: BoolArray = bank.fee_line & (bank.rail == RAIL_TRANSFER)
    charge: BoolArray = for_transfer[copies]
    if not charge.any():
        return charge
    offset = bank.date - int(bank.date.min(initial=0))
    day = keys.combine(block, offset, keys.width(offset))
    transfers_on = pd.Series(day[(bank.rail == RAIL_TRANSFER) & ~bank.fee_line]).value_counts()
    alike = pd.MultiIndex.from_arrays([day, bank.amount, bank.clean_code]).factorize()[0]
    charges_alike = pd.Series(alike[for_transfer]).value_counts()
    charges = charges_alike.reindex(alike[copies]).fillna(0).to_numpy()
    transfers = transfers_on.reindex(day[copies]).fillna(0).to_numpy()
    busy: BoolArray = charge & (charges <= transfers)
    return busy


def _positions_of(rows: IntArray, found: IntArray) -> IntArray:
    """Indices into ``rows`` of the rows in ``found``."""
    positions: IntArray = np.flatnonzero(sets.isin(rows, found))
    return positions


def _duplicate_texts(
    label: str, side: Side, rows: IntArray, copies: IntArray, twins: IntArray,
    partner: IntArray, other: Side,
) -> tuple[IntArray, ObjArray]:  # fmt: skip
    """(indices into ``rows``, explanation) of the rows that copy a linked row of their side."""
    twin_of = dict(zip(copies.tolist(), twins.tolist(), strict=True))
    at = _positions_of(rows, copies)
    texts = np.empty(len(at), dtype=object)
    for k, row in enumerate(rows[at].tolist()):
        twin = twin_of[row]
        texts[k] = explain.duplicate_text(
            label, str(side.ids[twin]), int(side.date[row] - side.date[twin]),
            str(other.ids[partner[twin]]),
        )  # fmt: skip
    return at, texts
