"""The step every one-to-one pass ends with: score the candidate pairs, choose the best
one-to-one assignment, and suggest (rather than confirm) a link whose runner-up is close."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from recon.engine import explain, sets
from recon.engine.assign import assign
from recon.engine.candidates import expand_ranges, unique_pairs
from recon.engine.normalise import BoolArray, IntArray, Side, filled, name_word_pairs
from recon.engine.scoring import (
    TEXTS_ALIKE,
    FloatArray,
    PairParts,
    score_parts,
    total_score,
)
from recon.engine.state import PART_NAMES, ROUND_SUM, AlternativeBatch, Found, LinkBatch, MatchState
from recon.records import Status

# Text similarity (0..100) at which the texts of a link count as agreeing: below it, a link
# needs a shared reference or an amount unique in its account to be confirmed.
EVIDENCE_TEXT = 50.0


def one_to_one(
    state: MatchState, parts: PairParts, *, priority: float, rule: str, status: Status
) -> Found:
    """Links from candidate ``parts``: each row at most once, the total score maximal.

    A link gets ``status``; a ``matched`` link whose amounts differ becomes
    ``matched_with_difference``, and any link with another candidate of either of its rows
    scoring within ``ambiguity_margin`` of it becomes ``suggested``, with those candidates as
    its alternatives. A link is only confirmed on positive evidence: the bank row names the
    ledger row's reference, the texts agree (``EVIDENCE_TEXT``), or the amount is unique in
    the account on both sides; amount and date alone make it ``suggested``. ``priority`` (1
    for the first rule, falling for later ones) is a score part.

    Pairs with evidence of their own are assigned before the others (:func:`_evidence_first`),
    and a link on amount and date alone among several look-alikes is not made
    (:func:`_guesses`).
    """
    # A pair whose references contradict is no candidate: it loses to any other, and alone it
    # leaves both rows open (groups with a contradiction are made suggested: MatchState.record).
    parts = parts.take(~parts.reference_contradicts)
    if len(parts) == 0:
        return Found()
    bank, ledger = state.bank, state.ledger
    part_values = score_parts(parts, ledger, priority)
    score = total_score(part_values)
    margin = state.matching.ambiguity_margin
    chosen_mask, evident = _evidence_first(parts, score, bank, ledger)
    chosen = np.flatnonzero(chosen_mask)
    chosen = chosen[~_guesses(parts, chosen, evident, score, margin)]
    if len(chosen) == 0:
        return Found()
    b, lg = parts.bank[chosen], parts.ledger[chosen]
    ids = np.array(explain.pair_match_ids(bank.ids[b], ledger.ids[lg]), dtype=object)

    # Ambiguity guard: any other candidate of either row within the margin of the winner.
    bank_alt, bank_alt_w = _runners_up(parts.bank, len(bank), chosen, score, margin)
    ledger_alt, ledger_alt_w = _runners_up(parts.ledger, len(ledger), chosen, score, margin)
    alt_winner, alt_rows = unique_pairs(
        np.concatenate([bank_alt_w, ledger_alt_w]), np.concatenate([bank_alt, ledger_alt])
    )
    ambiguous = np.zeros(len(chosen), dtype=bool)
    ambiguous[alt_winner] = True

    statuses = filled(len(chosen), status.value)
    differs = parts.amount_delta[chosen] != 0
    statuses[(statuses == Status.MATCHED) & differs] = Status.MATCHED_WITH_DIFFERENCE.value
    statuses[ambiguous] = Status.SUGGESTED.value
    # Amount and date alone among unrelated texts are coincidence, not agreement.
    evidence = (
        parts.reference_equal[chosen] | (parts.text[chosen] >= EVIDENCE_TEXT)
        | (state.bank_amount_unique[b] & state.ledger_amount_unique[lg])
    )  # fmt: skip
    unsupported = ~evidence & ~ambiguous & (statuses != Status.SUGGESTED.value)
    statuses[unsupported] = Status.SUGGESTED.value
    # A round sum (4,500.00) near an invoice it does not name is a payment on account or a
    # part of another invoice, not that invoice less a fee or a rounding.
    round_part = (
        (statuses == Status.MATCHED_WITH_DIFFERENCE.value) & ~parts.reference_equal[chosen]
        & (bank.amount[b] % ROUND_SUM == 0)
    )  # fmt: skip
    statuses[round_part] = Status.SUGGESTED.value
    # A round sum the payer has on another row within a week fits that row as well.
    round_recurs = (
        (statuses == Status.MATCHED.value) & ~parts.reference_equal[chosen]
        & state.ledger_round_recurs[lg]
    )  # fmt: skip
    statuses[round_recurs] = Status.SUGGESTED.value
    alt_counts = np.bincount(alt_winner, minlength=len(chosen))
    notes = explain.reference_notes(bank, ledger, b, lg, parts.reference_equal[chosen])
    learned = np.flatnonzero(parts.learned[chosen])
    if len(learned):
        notes[learned] = [
            explain.learned_payee_note(state.payees, str(text)) + str(note)
            for text, note in zip(bank.description[b[learned]], notes[learned], strict=True)
        ]
    notes[unsupported] += explain.NO_EVIDENCE
    notes[round_part] += explain.ROUND_PART
    notes[round_recurs] += explain.ROUND_RECURS
    notes[ambiguous] += np.array(
        [explain.ambiguity_note(int(n), margin) for n in alt_counts[ambiguous]], dtype=object
    )
    links = LinkBatch(
        bank=b,
        ledger=lg,
        match_id=ids,
        status=statuses,
        rule=filled(len(chosen), rule),
        score=score[chosen],
        amount_difference=parts.amount_delta[chosen],
        parts={name: part_values[name][chosen] for name in PART_NAMES},
        notes=notes,
    )
    alternatives = AlternativeBatch(
        match_id=ids[alt_winner],
        bank=parts.bank[alt_rows],
        ledger=parts.ledger[alt_rows],
        score=score[alt_rows],
        winner_bank=b[alt_winner],
        winner_ledger=lg[alt_winner],
    )
    return Found(links=links, alternatives=alternatives)


def _evidence_first(
    parts: PairParts, score: FloatArray, bank: Side, ledger: Side
) -> tuple[BoolArray, BoolArray]:
    """The chosen pairs, and which pairs have evidence of their own (the reference named,
    texts alike, or a name shared: :func:`shares_name`): first the best assignment of the pairs
    with evidence, then the best of the other pairs among the rows left.

    Assignment prefers more pairs to better ones, so in one round a row with nothing to tell
    its partner (a payroll debit whose text names no employee) would take the ledger row that
    another bank row names, and push that row onto a stranger of the same amount.
    """
    evident = parts.reference_equal | (parts.text >= TEXTS_ALIKE)
    weak = np.flatnonzero(~evident)
    evident[weak] = shares_name(bank, ledger, parts.bank[weak], parts.ledger[weak])
    chosen = np.zeros(len(parts), dtype=bool)
    first = np.flatnonzero(evident)
    chosen[first[assign(parts.bank[first], parts.ledger[first], score[first])]] = True
    bank_taken = np.zeros(len(bank), dtype=bool)
    bank_taken[parts.bank[chosen]] = True
    ledger_taken = np.zeros(len(ledger), dtype=bool)
    ledger_taken[parts.ledger[chosen]] = True
    rest = np.flatnonzero(~evident & ~bank_taken[parts.bank] & ~ledger_taken[parts.ledger])
    chosen[rest[assign(parts.bank[rest], parts.ledger[rest], score[rest])]] = True
    return chosen, evident


# A link resting on amount and date alone with this many other candidates as close is a guess.
GUESS_ALTERNATIVES = 2


def _guesses(
    parts: PairParts, chosen: IntArray, evident: BoolArray, score: FloatArray, margin: float
) -> BoolArray:
    """Per chosen pair: a guess, to be left open. Nothing ties its rows (no reference named,
    no name shared, texts unalike) and at least ``GUESS_ALTERNATIVES`` other candidates of its
    rows score within the margin: one of a day's many payroll debits of one amount whose text
    names no employee. Such a link is wrong far more often than right, and the rows are
    better reported open than as a suggestion the analyst would have to undo."""
    weak = ~evident[chosen] & (parts.text[chosen] < EVIDENCE_TEXT)
    if not weak.any():
        return weak
    bank_alt, bank_w = _runners_up(parts.bank, int(parts.bank.max()) + 1, chosen, score, margin)
    ledger_alt, ledger_w = _runners_up(
        parts.ledger, int(parts.ledger.max()) + 1, chosen, score, margin
    )
    # Distinct other pairs per winner: a pair sharing both rows counts once.
    winners, _ = unique_pairs(
        np.concatenate([bank_w, ledger_w]), np.concatenate([bank_alt, ledger_alt])
    )
    counts = np.bincount(winners, minlength=len(chosen))
    guess: BoolArray = weak & (counts >= GUESS_ALTERNATIVES)
    return guess


# A name word both texts hold ("PATTERSON"), at least this long: shorter words are initials,
# currency codes and abbreviations that many unrelated texts share.
_NAME_WORD = 4
# A bank text cut off inside a name ("PAYROLL INDN:JOR") names who starts with its last word.
_CUT_NAME = 3


def shares_name(bank: Side, ledger: Side, b: IntArray, lg: IntArray) -> BoolArray:
    """Per pair: the bank text holds a name word of the ledger text (4 letters or more), or ends
    in the start of one (3 letters or more, cut off by the bank). Fuzzy similarity of a short
    name within a long text is low ("PAYROLL DIR DEP PATTERSON" against "Net pay Patterson,
    Mary"), yet the name is what tells the same amounts paid the same day apart.

    Column-wise over the distinct pairs of texts: the words of the pairs' texts are coded in one
    code space (:func:`recon.engine.normalise.name_word_pairs`), and each pair's bank words and
    cut name are looked up among its ledger text's words and their starts."""
    if len(b) == 0:
        return np.zeros(0, dtype=bool)
    width = len(ledger.texts)
    pair_codes, pairs = pd.factorize(bank.text_code[b] * width + ledger.text_code[lg])
    pairs = np.asarray(pairs, dtype=np.int64)
    pair_bank, bank_codes = pd.factorize(pairs // width)
    pair_ledger, ledger_codes = pd.factorize(pairs % width)
    bank_texts = [str(t).upper() for t in bank.texts[bank_codes]]
    text, word, words = name_word_pairs(
        bank_texts + [str(t) for t in ledger.texts[ledger_codes]]
    )  # fmt: skip
    word_count = max(len(words), 1)
    on_ledger = text >= len(bank_texts)
    ledger_text, ledger_word = text[on_ledger] - len(bank_texts), word[on_ledger]
    # A bank text's name words: 4 characters or more, not a number.
    name_word = np.array([len(w) >= _NAME_WORD and not w.isdigit() for w in words.tolist()],
                         dtype=bool)  # fmt: skip
    named = ~on_ledger & name_word[word]
    bank_text, bank_word = text[named], word[named]  # in text order
    per_text = np.bincount(bank_text, minlength=len(bank_texts))
    first = np.r_[0, np.cumsum(per_text)[:-1]].astype(np.int64)
    pair, at = expand_ranges(first[pair_bank], first[pair_bank] + per_text[pair_bank])
    found = np.zeros(len(pairs), dtype=bool)
    held = sets.isin(
        pair_ledger[pair] * word_count + bank_word[at], ledger_text * word_count + ledger_word
    )  # fmt: skip
    found[pair[held]] = True
    # The bank text's cut name, a proper start of a word of the ledger text.
    cut_code, cuts = pd.factorize(np.array([cut_word(t) for t in bank_texts], dtype=object))
    cut_of = {str(c): k for k, c in enumerate(cuts.tolist()) if c}
    starts = [
        [cut_of[w[:k]] for k in range(_CUT_NAME, len(w)) if w[:k] in cut_of]
        for w in words.tolist()
    ]
    start_count = np.array([len(s) for s in starts], dtype=np.int64)
    start_cut = np.array([c for s in starts for c in s], dtype=np.int64)
    first = np.r_[0, np.cumsum(start_count)[:-1]].astype(np.int64)
    entry, at = expand_ranges(first[ledger_word], first[ledger_word] + start_count[ledger_word])
    cut_count = max(len(cuts), 1)
    has_cut = np.array([bool(c) for c in cuts.tolist()], dtype=bool)
    ask = np.flatnonzero(~found & has_cut[cut_code[pair_bank]])
    found[ask] = sets.isin(
        pair_ledger[ask] * cut_count + cut_code[pair_bank[ask]],
        ledger_text[entry] * cut_count + start_cut[at],
    )  # fmt: skip
    result: BoolArray = found[pair_codes]
    return result


_LAST_WORD = re.compile(r"(?<![0-9A-Z])[A-Z]+$")


def cut_word(text: str) -> str:
    """The letters a text ends in (a name the bank may have cut short), upper case; "" when
    shorter than a cut name can be."""
    found = _LAST_WORD.search(text.upper())
    return found.group(0) if found and len(found.group(0)) >= _CUT_NAME else ""


def word_starts(words: list[str]) -> list[str]:
    """Every start of each word that a cut name could be (3 letters up to one short of it)."""
    return [w[:k] for w in words for k in range(_CUT_NAME, len(w)) if w[:k].isalpha()]


def _runners_up(
    own: IntArray, size: int, chosen: IntArray, score: FloatArray, margin: float
) -> tuple[IntArray, IntArray]:
    """Pairs sharing a row with a chosen pair and scoring within ``margin`` of it.

    Returns (pair index, index into ``chosen`` of the winner it competes with).
    """
    winner_at = np.full(size, -1, dtype=np.int64)
    winner_at[own[chosen]] = np.arange(len(chosen))
    winner = winner_at[own]
    has_winner = winner >= 0
    winner_score = np.where(has_winner, score[chosen][np.maximum(winner, 0)], np.inf)
    runner = has_winner & (score >= winner_score - margin)
    runner[chosen] = False
    at = np.flatnonzero(runner)
    return at, winner[at]
