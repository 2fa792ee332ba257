"""Rule passes (``kind: reference | amount | tolerance``): one bank row with one ledger row.

A rule finds candidates by blocking, never N x M: ``reference`` pairs rows that carry the same
reference, ``amount`` rows with the same amount, ``tolerance`` rows whose amounts are within the
rule's tolerance; always in the same account and currency (unless the rule says otherwise) and
within the rule's date window. A candidate then passes the rule's tests (amount within
tolerance, same sign, dates in the window, and the rule's text conditions) and the best
one-to-one assignment of the survivors is linked. Example: ``exact_amount`` (kind ``amount``,
days 1 before, 4 after) links a 100.00 deposit on 3 March with a 100.00 receipt booked on
1 March.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from recon.config import MatchRule
from recon.engine import explain, keys, sets
from recon.engine.candidates import (
    FAN_OUT_CAP,
    date_band_pairs,
    keyed_window_pairs,
    keyed_window_pairs_and_counts,
    unique_pairs,
)
from recon.engine.classify import unreversed
from recon.engine.normalise import BoolArray, IntArray, ObjArray, Side, name_words
from recon.engine.one_to_one import EVIDENCE_TEXT, cut_word, one_to_one, word_starts
from recon.engine.passes.names import named_parties, names_another_party, names_party
from recon.engine.scoring import (
    PairParts,
    allowed_difference,
    pair_parts,
    per_row_minor,
    same_sign,
    search_percent,
    within_tolerance,
)
from recon.engine.slips import keying_errors
from recon.engine.state import (
    ROUND_SUM,
    DayWindow,
    Found,
    LinkBatch,
    MatchState,
    blocks,
    recurring,
    suggested,
)
from recon.records import Status

_MAX_WORDS = 8  # name words per text used as join keys (8 words: 8 + 28 keys)


@dataclass(frozen=True)
class RulePass:
    """One configured rule; ``priority`` (1 for the first rule, falling for later ones) is part
    of its links' score."""

    rule: MatchRule
    priority: float

    @property
    def name(self) -> str:
        return self.rule.name

    @property
    def window(self) -> DayWindow:
        return DayWindow(self.rule.days_before, self.rule.days_after)

    def run(self, state: MatchState) -> Found:
        bank, ledger = state.bank, state.ledger
        b_rows = state.bank_state.open()
        if self.rule.kind == "tolerance":  # another amount: a reversed debit is a reversal
            b_rows = unreversed(state, b_rows)
        if self.rule.authorized_only:
            b_rows = b_rows[bank.authorized[b_rows] != bank.date[b_rows]]
        b, lg = candidates(self.rule, bank, ledger, b_rows, state.ledger_state.open())
        parts = pair_parts(bank, ledger, b, lg, authorized=self.rule.bank_date == "authorized")
        ok = satisfies(self.rule, parts, bank, ledger)
        if self.rule.named_party and self.rule.min_text_similarity is not None:
            short = np.flatnonzero(~ok & satisfies(self.rule, parts, bank, ledger, texts=False))
            ok[short] = names_party(state, parts.bank[short], parts.ledger[short])
        parts = parts.take(ok)
        if self.rule.kind == "amount":
            parts = parts.take(~_another_party(state, parts))
        if self.rule.kind == "tolerance":  # another amount and another payer: no link at all
            named = names_another_party(state, parts.bank, parts.ledger)
            parts = parts.take(parts.reference_equal | ~named)
        found = one_to_one(
            state, parts, priority=self.priority, rule=self.rule.name,
            status=Status(self.rule.status),
        )  # fmt: skip
        if found.links is not None:
            links = _unconfirm_round_sent_twice(state, found.links)
            if self.rule.kind == "tolerance":
                links = _unconfirm_likely_by_chance(state, links, self.window)
            found = replace(found, links=links)
        return found


def _unconfirm_round_sent_twice(state: MatchState, links: LinkBatch) -> LinkBatch:
    """``links`` with each ``matched`` link sharing no reference made ``suggested`` when its bank
    row is money in, a round sum that another bank row of the account naming the same payer
    holds within a week (two 1,000.00 transfers of Woodgrove Bank): either may pay this
    ledger row, and the other a part of another of its invoices. The bank side of the
    ledger's ``ledger_round_recurs``; money out is the company's own doing (a payroll's equal
    net pays each name their employee)."""
    matched = (links.status == Status.MATCHED.value) & (links.parts["reference"] == 0)
    if not matched.any():
        return links
    at = np.flatnonzero(matched)
    twice = at[_round_sent_twice(state)[links.bank[at]]]
    if len(twice) == 0:
        return links
    return suggested(links, twice, explain.ROUND_SENT_TWICE)


def _round_sent_twice(state: MatchState) -> BoolArray:
    """Per bank row: money in, a round sum (``ROUND_SUM``) that another bank row of its block
    naming a payer it names holds within a week (:func:`~recon.engine.state.recurring`)."""
    bank = state.bank
    twice = np.zeros(len(bank), dtype=bool)
    named_b, party = named_parties(state)
    amount = bank.amount[named_b]
    keep = (amount % ROUND_SUM == 0) & (amount > 0)
    b, party, amount = named_b[keep], party[keep], amount[keep]
    twice[recurring(b, state.bank_block[b], party, amount, bank.date[b])] = True
    return twice


# A difference this likely by chance (other rows of the payer expected as close) proves nothing.
_MAX_CHANCE = 0.05


def _unconfirm_likely_by_chance(
    state: MatchState, links: LinkBatch, window: DayWindow
) -> LinkBatch:
    """``links`` with each confirmed link whose amounts differ, sharing no reference, made
    ``suggested`` when a row of the payer that close to the bank amount is likely by chance:
    the payer's ledger rows of the account in the window times the chance that one falls
    within the difference (twice the difference over the amount) is over ``_MAX_CHANCE``. A
    payer with 200 receipts in the week has one within 2.33 of a 2,702.33 credit by chance."""
    bank, ledger = state.bank, state.ledger
    b, lg = links.bank, links.ledger
    confirmed = links.status != Status.SUGGESTED.value
    differ = confirmed & (links.amount_difference != 0) & (links.parts["reference"] == 0)
    differ &= ledger.party[lg] >= 0
    if not differ.any():
        return links
    at = np.flatnonzero(differ)
    rows = _payer_rows_near(state, b[at], lg[at], window)
    chance = (
        rows
        * (2 * np.abs(links.amount_difference[at]) + 1)
        / np.maximum(np.abs(bank.amount[b[at]]), 1)
    )
    doubtful = at[chance > _MAX_CHANCE]
    if len(doubtful) == 0:
        return links
    notes = [explain.payer_crowd_note(int(n)) for n in rows[chance > _MAX_CHANCE]]
    return suggested(links, doubtful, notes)


def _payer_rows_near(state: MatchState, b: IntArray, lg: IntArray, window: DayWindow) -> IntArray:
    """Per link: the ledger rows of its ledger row's account and counterparty dated within the
    window of its bank row (linked or not: how crowded the payer is)."""
    ledger = state.ledger
    has = np.flatnonzero(ledger.party >= 0)
    width = int(ledger.party.max()) + 1
    span = 2**20  # days: keys of (block, party) apart by more than any date
    key = (state.ledger_block[has] * width + ledger.party[has]) * span
    sorted_keys = np.sort(key + ledger.date[has])
    own = (state.ledger_block[lg] * width + ledger.party[lg]) * span
    date = state.bank.date[b]
    low = np.searchsorted(sorted_keys, own + date - window.after, side="left")
    high = np.searchsorted(sorted_keys, own + date + window.before, side="right")
    counts: IntArray = (high - low).astype(np.int64)
    return counts


def _another_party(state: MatchState, parts: PairParts) -> BoolArray:
    """Pairs whose bank row names another counterparty than the ledger row's, with nothing
    else tying them (no shared reference, texts that do not agree): the same amount is then a
    coincidence, and the bank row is left for what its text names."""
    weak = ~parts.reference_equal & (parts.text < EVIDENCE_TEXT)
    against = np.zeros(len(parts), dtype=bool)
    if weak.any():
        at = np.flatnonzero(weak)
        against[at] = names_another_party(state, parts.bank[at], parts.ledger[at])
    return against


def candidates(
    rule: MatchRule, bank: Side, ledger: Side, b_rows: IntArray, l_rows: IntArray
) -> tuple[IntArray, IntArray]:
    """(bank position, ledger position) pairs the rule's blocking allows, among the given rows."""
    bank_block, ledger_block = blocks(
        bank, ledger, same_account=rule.same_account, same_currency=rule.same_currency
    )
    bank_date = bank.authorized if rule.bank_date == "authorized" else bank.date
    if rule.kind == "reference":
        return _reference_pairs(rule, bank, ledger, b_rows, l_rows, bank_block, ledger_block)
    if rule.kind == "amount":
        bank_amount, ledger_amount = keys.joint_codes(bank.amount[b_rows], ledger.amount[l_rows])
        width = keys.width(bank_amount, ledger_amount)
        bank_key = keys.combine(bank_block[b_rows], bank_amount, width)
        ledger_key = keys.combine(ledger_block[l_rows], ledger_amount, width)
        window = DayWindow(rule.days_before, rule.days_after)
        b, lg, counts = keyed_window_pairs_and_counts(
            b_rows, bank_key, bank_date[b_rows], l_rows, ledger_key, ledger.date[l_rows],
            cap=FAN_OUT_CAP, bank_tie=bank.party[b_rows], ledger_tie=ledger.party[l_rows],
            days_before=window.before, days_after=window.after,
        )  # fmt: skip
        crowded = counts > FAN_OUT_CAP
        if not crowded.any():
            return b, lg
        # A crowded amount (payroll) may lose its partner to the cap: also pair by name word.
        ledger_crowded = sets.isin(ledger_key, bank_key[crowded])
        wb, wl = _shared_word_pairs(
            bank, b_rows[crowded], bank_key[crowded], bank_date[b_rows[crowded]],
            ledger, l_rows[ledger_crowded], ledger_key[ledger_crowded], window,
        )  # fmt: skip
        return unique_pairs(np.concatenate([b, wb]), np.concatenate([lg, wl]))
    tolerance = allowed_difference(
        bank.amount[b_rows],
        per_row_minor(bank, b_rows, rule.amount_tolerance),
        search_percent(rule.amount_tolerance_percent, rule.percent_of),
    )
    return date_band_pairs(
        b_rows, bank_block[b_rows], bank_date[b_rows], bank.amount[b_rows], tolerance,
        l_rows, ledger_block[l_rows], ledger.date[l_rows], ledger.amount[l_rows],
        days_before=rule.days_before, days_after=rule.days_after, cap=FAN_OUT_CAP,
    )  # fmt: skip


def _reference_pairs(
    rule: MatchRule, bank: Side, ledger: Side, b_rows: IntArray, l_rows: IntArray,
    bank_block: IntArray, ledger_block: IntArray,
) -> tuple[IntArray, IntArray]:  # fmt: skip
    """Pairs sharing a reference: the reference column (or the configured pattern) on both
    sides, or a ledger reference the bank row names (recon.engine.references).

    An exact rule also joins on the amount: a reference many rows share (a payroll run) would
    otherwise fill the capped candidates with rows of other amounts.
    """
    bank_date = bank.authorized if rule.bank_date == "authorized" else bank.date
    exact = rule.amount_tolerance == 0 and rule.amount_tolerance_percent == 0
    named_b, named_code = bank.named_pairs
    is_open = np.zeros(len(bank), dtype=bool)
    is_open[b_rows] = True
    keep = is_open[named_b]
    named_b, named_code = named_b[keep], named_code[keep]
    coded_b = b_rows[bank.reference[b_rows] >= 0]
    coded_l = l_rows[ledger.reference[l_rows] >= 0]
    named_l = l_rows[ledger.named_reference[l_rows] >= 0]
    found_b, found_l = [], []
    for b, b_code, lg, l_code in (
        (coded_b, bank.reference[coded_b], coded_l, ledger.reference[coded_l]),
        (named_b, named_code, named_l, ledger.named_reference[named_l]),
    ):
        width = keys.width(b_code, l_code)
        b_key = keys.combine(bank_block[b], b_code, width)
        l_key = keys.combine(ledger_block[lg], l_code, width)
        if exact:
            b_key, l_key = keys.joint_codes(
                keys.combine(b_key, bank.amount[b] + 2**40, 2**41),
                keys.combine(l_key, ledger.amount[lg] + 2**40, 2**41),
            )
        window = DayWindow(rule.days_before, rule.days_after)
        pair_b, pair_l, counts = keyed_window_pairs_and_counts(
            b, b_key, bank_date[b], lg, l_key, ledger.date[lg], cap=FAN_OUT_CAP,
            bank_tie=bank.party[b], ledger_tie=ledger.party[lg],
            days_before=window.before, days_after=window.after,
        )  # fmt: skip
        found_b.append(pair_b)
        found_l.append(pair_l)
        crowded = counts > FAN_OUT_CAP
        if crowded.any():  # a payroll run: the capped candidates may miss the partner
            l_crowded = sets.isin(l_key, b_key[crowded])
            wb, wl = _shared_word_pairs(
                bank, b[crowded], b_key[crowded], bank_date[b[crowded]],
                ledger, lg[l_crowded], l_key[l_crowded], window,
            )  # fmt: skip
            found_b.append(wb)
            found_l.append(wl)
    return unique_pairs(np.concatenate(found_b), np.concatenate(found_l))


def satisfies(
    rule: MatchRule, parts: PairParts, bank: Side, ledger: Side, *, texts: bool = True
) -> BoolArray:
    """Which candidate pairs pass the rule's tests: amount within tolerance (recon.engine.scoring
    states the rule: inclusive, percent of the larger side by default, the larger limit), same
    sign, dates within the window, the same reference for ``reference`` rules, the description
    regex and (unless ``texts`` is False) the text similarity floor when the rule sets them."""
    ok = within_tolerance(
        bank.amount[parts.bank], ledger.amount[parts.ledger],
        per_row_minor(bank, parts.bank, rule.amount_tolerance), rule.amount_tolerance_percent,
        rule.percent_of,
    )  # fmt: skip
    ok &= same_sign(bank, ledger, parts)
    ok &= (parts.date_delta >= -rule.days_before) & (parts.date_delta <= rule.days_after)
    if rule.kind == "reference":
        ok &= parts.reference_equal
    if rule.description_regex is not None:
        ok &= _regex_mask(rule.description_regex, bank.description[parts.bank])
    if texts and rule.min_text_similarity is not None:
        ok &= parts.text >= rule.min_text_similarity
    if rule.kind == "tolerance":  # the same digits reordered is a typo: the mismatch pass's
        ok &= ~keying_errors(bank.amount[parts.bank], ledger.amount[parts.ledger], ok)
    return ok


def _regex_mask(pattern: str, texts: ObjArray) -> BoolArray:
    compiled = re.compile(pattern)
    codes, uniques = pd.factorize(texts)
    hits = np.array([bool(compiled.search(u)) for u in uniques] + [False], dtype=bool)
    mask: BoolArray = hits[codes]
    return mask


def _word_keys(words: list[str]) -> list[str]:
    """Each word, and each pair of words: "JONES THOMAS" is rarer than "JONES" or "THOMAS"."""
    words = words[:_MAX_WORDS]
    return words + [f"{a} {b}" for i, a in enumerate(words) for b in words[i + 1 :]]


def _bank_keys(text: str) -> list[str]:
    """A bank text's name words and word pairs, and the name it may end cut short in."""
    cut = cut_word(text)
    return _word_keys(name_words(text)) + ([f"^{cut}"] if cut else [])


def _ledger_keys(text: str) -> list[str]:
    """A ledger text's name words and word pairs, and every start of a name word that a bank
    text cut short could end in ("JOR" of JORDAN)."""
    words = name_words(text)
    return _word_keys(words) + [f"^{start}" for start in word_starts(words[:_MAX_WORDS])]


def _word_rows(
    side: Side, rows: IntArray, keys_of: Callable[[str], list[str]]
) -> tuple[IntArray, ObjArray, IntArray]:
    """(index into ``rows``, position in the keys) for every key ``keys_of`` gives each row's
    text, and the keys of the rows' distinct texts one after the other (a key once per text
    holding it, not once per row)."""
    codes, uniques = pd.factorize(side.text_code[rows])
    known = side.text_keys.setdefault(keys_of, {})
    words = []
    for code in uniques.tolist():
        keys = known.get(code)
        if keys is None:
            keys = known[code] = keys_of(str(side.texts[code]))
        words.append(keys)
    counts = np.array([len(w) for w in words], dtype=np.int64)
    flat = np.array([w for ws in words for w in ws], dtype=object)
    starts = np.r_[0, np.cumsum(counts)[:-1]].astype(np.int64)
    per_row = counts[codes]
    index = np.repeat(np.arange(len(rows), dtype=np.int64), per_row)
    offset = np.arange(int(per_row.sum()), dtype=np.int64) - np.repeat(
        np.cumsum(per_row) - per_row, per_row
    )
    return index, flat, np.repeat(starts[codes], per_row) + offset


def _shared_word_pairs(
    bank: Side, b_rows: IntArray, bank_key: IntArray, bank_date: IntArray,
    ledger: Side, l_rows: IntArray, ledger_key: IntArray, window: DayWindow,
) -> tuple[IntArray, IntArray]:  # fmt: skip
    """Pairs with equal key, inside the window, whose texts share a name word or word pair, or
    whose bank text ends in the start of a name word of the ledger text (cut short)."""
    bi, bank_keys, bank_at = _word_rows(bank, b_rows, _bank_keys)
    li, ledger_keys, ledger_at = _word_rows(ledger, l_rows, _ledger_keys)
    # Coded once per distinct text's key, then taken per row: equal keys, equal codes.
    bank_code, ledger_code = keys.joint_codes(bank_keys, ledger_keys)
    bank_word, ledger_word = bank_code[bank_at], ledger_code[ledger_at]
    width = keys.width(bank_word, ledger_word)
    return keyed_window_pairs(
        b_rows[bi], keys.combine(bank_key[bi], bank_word, width), bank_date[bi],
        l_rows[li], keys.combine(ledger_key[li], ledger_word, width), ledger.date[l_rows[li]],
        days_before=window.before, days_after=window.after, cap=FAN_OUT_CAP,
    )  # fmt: skip
