"""The step every one-to-one pass ends with: score the candidate pairs, choose the best
one-to-one assignment, and suggest (rather than confirm) a link whose runner-up is close."""

from __future__ import annotations

import numpy as np

from recon.engine import explain
from recon.engine.assign import assign
from recon.engine.candidates import unique_pairs
from recon.engine.normalise import IntArray, filled
from recon.engine.scoring import FloatArray, PairParts, score_parts, total_score
from recon.engine.state import PART_NAMES, AlternativeBatch, Found, LinkBatch, MatchState
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
    """
    # A pair whose references contradict is no candidate: it loses to any other, and alone it
    # leaves both rows open (groups with a contradiction are made suggested: MatchState.record).
    parts = parts.take(~parts.reference_contradicts)
    if len(parts) == 0:
        return Found()
    bank, ledger = state.bank, state.ledger
    part_values = score_parts(parts, ledger, priority)
    score = total_score(part_values)
    chosen = np.flatnonzero(assign(parts.bank, parts.ledger, score))
    b, lg = parts.bank[chosen], parts.ledger[chosen]
    ids = np.array(explain.pair_match_ids(bank.ids[b], ledger.ids[lg]), dtype=object)

    # Ambiguity guard: any other candidate of either row within the margin of the winner.
    margin = state.matching.ambiguity_margin
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
    alt_counts = np.bincount(alt_winner, minlength=len(chosen))
    notes = explain.reference_notes(bank, ledger, b, lg, parts.reference_equal[chosen])
    learned = np.flatnonzero(parts.learned[chosen])
    if len(learned):
        notes[learned] = [
            explain.learned_payee_note(state.payees, str(text)) + str(note)
            for text, note in zip(bank.description[b[learned]], notes[learned], strict=True)
        ]
    notes[unsupported] += explain.NO_EVIDENCE
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
