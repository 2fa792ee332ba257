"""reconcile(): the passes in order, each on what the previous ones left.

1. One pass per rule, in priority order (like "match passes"): candidates by blocking, the rule's
   tests, scores, an optimal one-to-one assignment, the ambiguity guard. Right after the rules
   that require a reference, groups of rows sharing a reference (a payout and its sales).
2. Groups (subset sums) among the leftovers.
3. The difference pass (fees: matched_with_difference).
4. Amount mismatches (same reference or counterparty and date, different amount).
5. Classification of the rest: pending, reversal, probable duplicate, unmatched.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal

import numpy as np
import pandas as pd

from recon.config import MatchingConfig, MatchRule
from recon.engine import explain
from recon.engine.assign import assign
from recon.engine.candidates import (
    date_band_pairs,
    keyed_window_pairs,
    keyed_window_pairs_and_counts,
    unique_pairs,
)
from recon.engine.classify import duplicates, nearest, reversals
from recon.engine.groups import find_groups
from recon.engine.normalise import (
    BoolArray,
    IntArray,
    ObjArray,
    Side,
    filled,
    name_words,
    prepare,
    sort_order,
)
from recon.engine.scoring import (
    FloatArray,
    PairParts,
    allowed_difference,
    pair_parts,
    per_row_minor,
    score_parts,
    total_score,
)
from recon.frames import (
    ALTERNATIVE_COLUMNS,
    DISCREPANCY_COLUMNS,
    LINK_COLUMNS,
    MatchResult,
)

# Candidates kept per bank row per search: bounds memory when many rows share an amount.
FAN_OUT_CAP = 8
_MAX_WORDS = 8  # name words per text used as join keys (8 words: 8 + 28 keys)
_PART_NAMES = ("amount", "date", "text", "reference", "priority")


@dataclass
class _Collected:
    links: list[dict[str, np.ndarray]] = field(default_factory=list)
    alternatives: list[dict[str, np.ndarray]] = field(default_factory=list)
    discrepancies: list[dict[str, object]] = field(default_factory=list)


def _blocks(bank: Side, ledger: Side, same_account: bool, same_currency: bool) -> tuple[
    IntArray, IntArray
]:
    width = int(max(bank.currency_code.max(initial=0), ledger.currency_code.max(initial=0))) + 1

    def code(side: Side) -> IntArray:
        account = side.account_code if same_account else np.zeros(len(side), dtype=np.int64)
        currency = side.currency_code if same_currency else np.zeros(len(side), dtype=np.int64)
        return account * width + currency

    return code(bank), code(ledger)


def _joint_codes(left: IntArray, right: IntArray) -> tuple[IntArray, IntArray]:
    codes, _ = pd.factorize(np.concatenate([left, right]))
    codes = codes.astype(np.int64)
    return codes[: len(left)], codes[len(left) :]


def _combine(block: IntArray, key: IntArray, width: int) -> IntArray:
    return block * width + key


def _percent_superset(rule: MatchRule) -> Decimal:
    """A percent of the bank amount that covers ``percent of the ledger amount``."""
    percent = rule.amount_tolerance_percent
    if rule.percent_of == "bank" or percent == 0:
        return percent
    if percent >= 100:
        return Decimal(10_000)
    return percent * 100 / (100 - percent) + Decimal("0.0001")


def _rule_candidates(
    rule: MatchRule, bank: Side, ledger: Side, bank_free: BoolArray, ledger_free: BoolArray
) -> tuple[IntArray, IntArray]:
    bank_block, ledger_block = _blocks(bank, ledger, rule.same_account, rule.same_currency)
    b_rows, l_rows = np.flatnonzero(bank_free), np.flatnonzero(ledger_free)
    bank_date = bank.authorized if rule.bank_date == "authorized" else bank.date
    exact = rule.amount_tolerance == 0 and rule.amount_tolerance_percent == 0
    if rule.require_reference_match:
        b_rows = b_rows[bank.reference[b_rows] >= 0]
        l_rows = l_rows[ledger.reference[l_rows] >= 0]
        width = int(max(bank.reference.max(initial=0), ledger.reference.max(initial=0))) + 1
        return keyed_window_pairs(
            b_rows, _combine(bank_block[b_rows], bank.reference[b_rows], width), bank_date[b_rows],
            l_rows, _combine(ledger_block[l_rows], ledger.reference[l_rows], width),
            ledger.date[l_rows], days_before=rule.days_before, days_after=rule.days_after,
            cap=FAN_OUT_CAP,
        )  # fmt: skip
    if exact:
        bank_amount, ledger_amount = _joint_codes(bank.amount[b_rows], ledger.amount[l_rows])
        width = int(max(bank_amount.max(initial=0), ledger_amount.max(initial=0))) + 1
        bank_key = _combine(bank_block[b_rows], bank_amount, width)
        ledger_key = _combine(ledger_block[l_rows], ledger_amount, width)
        window = {"days_before": rule.days_before, "days_after": rule.days_after}
        b, lg, counts = keyed_window_pairs_and_counts(
            b_rows, bank_key, bank_date[b_rows], l_rows, ledger_key, ledger.date[l_rows],
            cap=FAN_OUT_CAP, bank_tie=bank.party[b_rows], ledger_tie=ledger.party[l_rows],
            **window,
        )  # fmt: skip
        crowded = counts > FAN_OUT_CAP
        if not crowded.any():
            return b, lg
        # Many rows share this amount (payroll, subscriptions): the cap above keeps the nearest
        # in date, which need not include the true partner. Also pair rows of such an amount
        # that share a name word ("JONES THOMAS" / "Thomas Jones"), capped per word.
        ledger_crowded = np.isin(ledger_key, np.unique(bank_key[crowded]))
        wb, wl = _shared_word_pairs(
            bank, b_rows[crowded], bank_key[crowded], bank_date[b_rows[crowded]],
            ledger, l_rows[ledger_crowded], ledger_key[ledger_crowded], window,
        )  # fmt: skip
        return unique_pairs(np.concatenate([b, wb]), np.concatenate([lg, wl]))
    tolerance = allowed_difference(
        bank.amount[b_rows],
        per_row_minor(bank, b_rows, rule.amount_tolerance),
        _percent_superset(rule),
    )
    return date_band_pairs(
        b_rows, bank_block[b_rows], bank_date[b_rows], bank.amount[b_rows], tolerance,
        l_rows, ledger_block[l_rows], ledger.date[l_rows], ledger.amount[l_rows],
        days_before=rule.days_before, days_after=rule.days_after, cap=FAN_OUT_CAP,
    )  # fmt: skip


def _word_keys(words: list[str]) -> list[str]:
    """Each word, and each pair of words: "JONES THOMAS" is rarer than "JONES" or "THOMAS"."""
    words = words[:_MAX_WORDS]
    return words + [f"{a} {b}" for i, a in enumerate(words) for b in words[i + 1 :]]


def _word_rows(side: Side, rows: IntArray) -> tuple[IntArray, ObjArray]:
    """(index into ``rows``, key) for every name word and word pair of each row's text."""
    codes, uniques = pd.factorize(side.text_code[rows])
    words = [_word_keys(name_words(text)) for text in side.texts[uniques]]
    counts = np.array([len(w) for w in words], dtype=np.int64)
    flat = np.array([w for ws in words for w in ws], dtype=object)
    starts = np.r_[0, np.cumsum(counts)[:-1]].astype(np.int64)
    per_row = counts[codes]
    index = np.repeat(np.arange(len(rows), dtype=np.int64), per_row)
    offset = np.arange(int(per_row.sum()), dtype=np.int64) - np.repeat(
        np.cumsum(per_row) - per_row, per_row
    )
    word_at: ObjArray = flat[np.repeat(starts[codes], per_row) + offset]
    return index, word_at


def _shared_word_pairs(
    bank: Side, b_rows: IntArray, bank_key: IntArray, bank_date: IntArray,
    ledger: Side, l_rows: IntArray, ledger_key: IntArray, window: dict[str, int],
) -> tuple[IntArray, IntArray]:  # fmt: skip
    """Pairs with equal key, inside the window, whose texts share a name word or word pair."""
    bi, bw = _word_rows(bank, b_rows)
    li, lw = _word_rows(ledger, l_rows)
    bank_word, ledger_word = _joint_codes_text(bw, lw)
    width = int(max(bank_word.max(initial=0), ledger_word.max(initial=0))) + 1
    return keyed_window_pairs(
        b_rows[bi], _combine(bank_key[bi], bank_word, width), bank_date[bi],
        l_rows[li], _combine(ledger_key[li], ledger_word, width), ledger.date[l_rows[li]],
        days_before=window["days_before"], days_after=window["days_after"], cap=FAN_OUT_CAP,
    )  # fmt: skip


def _joint_codes_text(left: ObjArray, right: ObjArray) -> tuple[IntArray, IntArray]:
    codes, _ = pd.factorize(np.concatenate([left, right]))
    codes = codes.astype(np.int64)
    return codes[: len(left)], codes[len(left) :]


def _same_sign(bank: Side, ledger: Side, parts: PairParts) -> BoolArray:
    same: BoolArray = np.sign(bank.amount[parts.bank]) == np.sign(ledger.amount[parts.ledger])
    return same


def _regex_mask(pattern: str, texts: ObjArray) -> BoolArray:
    compiled = re.compile(pattern)
    codes, uniques = pd.factorize(texts)
    hits = np.array([bool(compiled.search(u)) for u in uniques] + [False], dtype=bool)
    mask: BoolArray = hits[codes]
    return mask


def _satisfies(rule: MatchRule, parts: PairParts, bank: Side, ledger: Side) -> BoolArray:
    base = bank.amount[parts.bank] if rule.percent_of == "bank" else ledger.amount[parts.ledger]
    allowed = allowed_difference(
        base, per_row_minor(bank, parts.bank, rule.amount_tolerance),
        rule.amount_tolerance_percent,
    )  # fmt: skip
    ok = (np.abs(parts.amount_delta) <= allowed) & _same_sign(bank, ledger, parts)
    ok &= (parts.date_delta >= -rule.days_before) & (parts.date_delta <= rule.days_after)
    if rule.require_reference_match:
        ok &= parts.reference_equal
    if rule.description_regex is not None:
        ok &= _regex_mask(rule.description_regex, bank.description[parts.bank])
    if rule.min_text_similarity is not None:
        ok &= parts.text >= rule.min_text_similarity
    return ok


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


def _looks_like_keying_error(bank_amount: int, ledger_amount: int) -> bool:
    """Same digits in another order (transposed digits): a typo, not a fee."""
    return bank_amount != ledger_amount and sorted(str(abs(bank_amount))) == sorted(
        str(abs(ledger_amount))
    )


class _Engine:
    def __init__(self, bank: Side, ledger: Side, matching: MatchingConfig) -> None:
        self.bank, self.ledger, self.matching = bank, ledger, matching
        self.bank_free = ~bank.pending
        self.ledger_free = np.ones(len(ledger), dtype=bool)
        self.bank_block, self.ledger_block = _blocks(bank, ledger, True, True)
        self.out = _Collected()
        # Which row each position is linked with (for "already matched" explanations).
        self.bank_partner = np.full(len(bank), -1, dtype=np.int64)
        self.ledger_partner = np.full(len(ledger), -1, dtype=np.int64)
        # Open rows that copy a linked row: reported as probable duplicates, not matched further.
        self.bank_held = np.zeros(len(bank), dtype=bool)
        self.ledger_held = np.zeros(len(ledger), dtype=bool)

    # -- one-to-one passes -------------------------------------------------------------------
    def link_pass(self, parts: PairParts, priority: float, rule: str, status: str) -> None:
        if len(parts) == 0:
            return
        part_values = score_parts(parts, self.ledger, priority)
        score = total_score(part_values)
        chosen_mask = assign(parts.bank, parts.ledger, score)
        chosen = np.flatnonzero(chosen_mask)
        b, lg = parts.bank[chosen], parts.ledger[chosen]
        ids = np.array(explain.pair_match_ids(self.bank.ids[b], self.ledger.ids[lg]), dtype=object)

        # Ambiguity guard: any other candidate of either row within the margin of the winner.
        margin = self.matching.ambiguity_margin
        bank_alt, bank_alt_w = _runners_up(parts.bank, len(self.bank), chosen, score, margin)
        ledger_alt, ledger_alt_w = _runners_up(
            parts.ledger, len(self.ledger), chosen, score, margin
        )
        alt_rows = np.concatenate([bank_alt, ledger_alt])
        alt_winner = np.concatenate([bank_alt_w, ledger_alt_w])
        alt_winner, alt_rows = unique_pairs(alt_winner, alt_rows)
        ambiguous = np.zeros(len(chosen), dtype=bool)
        ambiguous[alt_winner] = True

        statuses = filled(len(chosen), status)
        differs = parts.amount_delta[chosen] != 0
        statuses[(statuses == "matched") & differs] = "matched_with_difference"
        statuses[ambiguous] = "suggested"
        alt_counts = np.bincount(alt_winner, minlength=len(chosen))
        notes = filled(len(chosen), "")
        notes[ambiguous] = [
            f"; suggested: {n} other candidate{'s' if n != 1 else ''} within "
            f"{margin:.2f} of this score"
            for n in alt_counts[ambiguous]
        ]
        chosen_parts = {name: part_values[name][chosen] for name in _PART_NAMES}
        self._record_links(
            b, lg, ids, statuses, filled(len(chosen), rule), score[chosen],
            parts.amount_delta[chosen], self.bank.date[b] - self.ledger.date[lg], chosen_parts,
            notes,
        )  # fmt: skip
        self.out.alternatives.append({
            "match_id": ids[alt_winner],
            "bank_transaction_id": self.bank.ids[parts.bank[alt_rows]],
            "ledger_entry_id": self.ledger.ids[parts.ledger[alt_rows]],
            "score": score[alt_rows],
            "_winner_bank": b[alt_winner],
            "_winner_ledger": lg[alt_winner],
            "_bank": parts.bank[alt_rows],
            "_ledger": parts.ledger[alt_rows],
        })  # fmt: skip
        self.bank_free[b] = False
        self.ledger_free[lg] = False
        self.bank_partner[b] = lg
        self.ledger_partner[lg] = b

    def _record_links(
        self, b: IntArray, lg: IntArray, ids: ObjArray, statuses: ObjArray, rules: ObjArray,
        score: FloatArray, amount_difference: IntArray, date_difference: IntArray,
        parts: dict[str, FloatArray], notes: ObjArray,
    ) -> None:  # fmt: skip
        currency = self.bank.currency[b]
        explanation = explain.link_explanations(
            rules, amount_difference, date_difference, currency, parts, notes
        )
        self.out.links.append({
            "match_id": ids,
            "bank_transaction_id": self.bank.ids[b],
            "ledger_entry_id": self.ledger.ids[lg],
            "status": statuses,
            "rule": rules,
            "score": score,
            "amount_difference_minor": amount_difference,
            "date_difference_days": date_difference,
            "account": self.bank.account[b],
            "currency": currency,
            "explanation": explanation,
            "_account": self.bank.account_code[b],
            "_currency": self.bank.currency_code[b],
            "_bank": b,
            "_ledger": lg,
        })  # fmt: skip

    def rule_passes(self) -> None:
        rules = self.matching.rules
        first_loose = next(
            (i for i, rule in enumerate(rules) if not rule.require_reference_match), None
        )
        for index, rule in enumerate(rules):
            if index == first_loose:
                # A deposit and the sales that all carry its payout id, summing to it exactly,
                # are grouped before the rules that ignore references: those would otherwise
                # take a sale or the fee line for a look-alike row and break up the payout.
                self.group_pass(reference_only=True)
            b, lg = _rule_candidates(rule, self.bank, self.ledger, self.bank_free, self.ledger_free)
            parts = pair_parts(
                self.bank, self.ledger, b, lg, authorized=rule.bank_date == "authorized"
            )
            parts = parts.take(_satisfies(rule, parts, self.bank, self.ledger))
            self.link_pass(parts, 1.0 - index / len(rules), rule.name, rule.status)

    def hold_duplicates(self) -> None:
        """Keep exact copies of already linked rows out of the looser passes that follow.

        A second delivery of a linked bank row (same amount, text and day) would otherwise be
        offered to the group and difference passes and linked to some other entry.
        """
        window = self.matching.duplicate_window_days
        for side, free, partner, block, held in (
            (self.bank, self.bank_free, self.bank_partner, self.bank_block, self.bank_held),
            (self.ledger, self.ledger_free, self.ledger_partner, self.ledger_block,
             self.ledger_held),
        ):  # fmt: skip
            copies, _ = duplicates(side, np.flatnonzero(free), partner >= 0, block, window)
            held[copies] = True

    def difference_pass(self) -> None:
        config = self.matching.difference
        b_rows = np.flatnonzero(self.bank_free & ~self.bank_held)
        l_rows = np.flatnonzero(self.ledger_free & ~self.ledger_held)
        tolerance = allowed_difference(
            self.bank.amount[b_rows], per_row_minor(self.bank, b_rows, config.amount),
            config.percent,
        )  # fmt: skip
        b, lg = date_band_pairs(
            b_rows, self.bank_block[b_rows], self.bank.date[b_rows], self.bank.amount[b_rows],
            tolerance, l_rows, self.ledger_block[l_rows], self.ledger.date[l_rows],
            self.ledger.amount[l_rows], days_before=config.days_before,
            days_after=config.days_after, cap=FAN_OUT_CAP,
        )  # fmt: skip
        parts = pair_parts(self.bank, self.ledger, b, lg)
        keep = _same_sign(self.bank, self.ledger, parts)
        keep &= parts.text >= config.min_text_similarity
        kept = np.flatnonzero(keep)  # the digit test is Python: only for pairs still in play
        keep[kept] = ~np.array(
            [_looks_like_keying_error(int(x), int(y)) for x, y in
             zip(self.bank.amount[b[kept]], self.ledger.amount[lg[kept]], strict=True)],
            dtype=bool,
        )  # fmt: skip
        self.link_pass(parts.take(keep), 0.0, "difference", "matched_with_difference")

    # -- groups ------------------------------------------------------------------------------
    def group_pass(self, *, reference_only: bool = False) -> None:
        bank_open = self.bank_free & ~self.bank_held
        ledger_open = self.ledger_free & ~self.ledger_held
        groups = find_groups(
            self.bank, self.ledger, bank_open, ledger_open,
            self.bank_block, self.ledger_block, self.matching.groups,
            reference_only=reference_only,
        )  # fmt: skip
        self.bank_free &= bank_open | self.bank_held
        self.ledger_free &= ledger_open | self.ledger_held
        if not groups:
            return
        link_b, link_l, link_group, notes, statuses, group_ids = [], [], [], [], [], []
        differences, target_amounts = [], []
        alternatives: list[tuple[IntArray, IntArray, int]] = []
        for index, group in enumerate(groups):
            size = len(group.members)
            target = np.full(size, group.target, dtype=np.int64)
            # Members are distinct positions, so each side's distinct rows need no np.unique.
            if group.target_is_bank:
                b, lg = target, group.members
                bank_rows, ledger_rows = target[:1], group.members
            else:
                b, lg = group.members, target
                bank_rows, ledger_rows = group.members, target[:1]
            group_ids.append(
                explain.match_id(self.bank.ids[bank_rows], self.ledger.ids[ledger_rows])
            )
            bank_sum = int(self.bank.amount[bank_rows].sum())
            ledger_sum = int(self.ledger.amount[ledger_rows].sum())
            difference = bank_sum - ledger_sum
            by_chance = group.chance_fits > self.matching.groups.max_chance_fits
            status = "matched" if not group.options and not by_chance else "suggested"
            if status == "matched" and difference != 0:
                status = "matched_with_difference"
            shape = f"{len(bank_rows)} bank : {len(ledger_rows)} ledger"
            total = explain.money(bank_sum, str(self.bank.currency[b[0]]))
            note = f"; group of {size} ({shape}) sums to {total}"
            if by_chance:
                note += (
                    f"; suggested: in a pool of this size {group.chance_fits:.2f} subsets"
                    " would fit by chance"
                )
            if group.options:
                note += f"; {len(group.options)} other subset(s) also fit"
                for option in group.options:
                    other = np.full(len(option), group.target, dtype=np.int64)
                    alternatives.append(
                        (other, option, index) if group.target_is_bank else (option, other, index)
                    )
            link_b.append(b)
            link_l.append(lg)
            link_group.append(np.full(size, index, dtype=np.int64))
            notes.append(note)
            statuses.append(status)
            differences.append(difference)
            target_amounts.append(max(abs(bank_sum), abs(ledger_sum), 1))
        # One scoring and one explanation call for every group's links together.
        b, lg, at = np.concatenate(link_b), np.concatenate(link_l), np.concatenate(link_group)
        difference_of = np.array(differences, dtype=np.int64)
        parts = pair_parts(self.bank, self.ledger, b, lg)
        values = score_parts(parts, self.ledger, 0.0)
        closeness = 1.0 - np.minimum(
            np.abs(difference_of) / np.array(target_amounts, dtype=np.float64), 1.0
        )
        values["amount"] = closeness[at]
        score = total_score(values)
        ids = np.array(group_ids, dtype=object)
        n = len(b)
        self._record_links(
            b, lg, ids[at], np.array(statuses, dtype=object)[at],
            filled(n, "group"), score, difference_of[at],
            self.bank.date[b] - self.ledger.date[lg], values, np.array(notes, dtype=object)[at],
        )  # fmt: skip
        if alternatives:
            group_score = np.bincount(at, weights=score) / np.bincount(at)
            first = np.r_[0, np.cumsum([len(x) for x in link_b])[:-1]]
            winner_b, winner_l = np.minimum.reduceat(b, first), np.minimum.reduceat(lg, first)
            ab = np.concatenate([x[0] for x in alternatives])
            al = np.concatenate([x[1] for x in alternatives])
            owner = np.concatenate([np.full(len(x[0]), x[2], dtype=np.int64) for x in alternatives])
            self.out.alternatives.append({
                "match_id": ids[owner],
                "bank_transaction_id": self.bank.ids[ab],
                "ledger_entry_id": self.ledger.ids[al],
                "score": group_score[owner],
                "_winner_bank": winner_b[owner],
                "_winner_ledger": winner_l[owner],
                "_bank": ab,
                "_ledger": al,
            })  # fmt: skip
        self.bank_partner[b] = lg
        self.ledger_partner[lg] = b

    # -- discrepancies -----------------------------------------------------------------------
    def mismatch_pass(self) -> list[tuple[int, int]]:
        config = self.matching.mismatch
        b_rows = np.flatnonzero(self.bank_free & ~self.bank_held)
        l_rows = np.flatnonzero(self.ledger_free & ~self.ledger_held)
        found_b, found_l = [], []
        for bank_key, ledger_key in (
            (self.bank.reference, self.ledger.reference), (self.bank.party, self.ledger.party),
        ):  # fmt: skip
            br = b_rows[bank_key[b_rows] >= 0]
            lr = l_rows[ledger_key[l_rows] >= 0]
            width = int(max(bank_key.max(initial=0), ledger_key.max(initial=0))) + 1
            b, lg = keyed_window_pairs(
                br, _combine(self.bank_block[br], bank_key[br], width), self.bank.date[br],
                lr, _combine(self.ledger_block[lr], ledger_key[lr], width), self.ledger.date[lr],
                days_before=config.days_window, days_after=config.days_window, cap=FAN_OUT_CAP,
            )  # fmt: skip
            found_b.append(b)
            found_l.append(lg)
        pair_b, pair_l = unique_pairs(np.concatenate(found_b), np.concatenate(found_l))
        parts = pair_parts(self.bank, self.ledger, pair_b, pair_l)
        keep = _same_sign(self.bank, self.ledger, parts) & (parts.amount_delta != 0)
        keep &= parts.reference_equal | (parts.text >= config.min_text_similarity)
        parts = parts.take(keep)
        if len(parts) == 0:
            return []
        values = score_parts(parts, self.ledger, 0.0)
        chosen = np.flatnonzero(assign(parts.bank, parts.ledger, total_score(values)))
        result: list[tuple[int, int]] = []
        for i in chosen.tolist():
            bank_at, ledger_at = int(parts.bank[i]), int(parts.ledger[i])
            self.bank_free[bank_at] = False
            self.ledger_free[ledger_at] = False
            result.append((bank_at, ledger_at))
        return result


def _discrepancy(
    kind: str, side: str, bank_id: str, ledger_id: str, account: str, date: int, amount: int,
    currency: str, as_of: dt.date, description: str, explanation: str, nearest_id: str,
) -> dict[str, object]:  # fmt: skip
    day = dt.date(1970, 1, 1) + dt.timedelta(days=int(date))
    return {
        "discrepancy_id": explain.discrepancy_id(kind, side, bank_id, ledger_id),
        "kind": kind,
        "side": side,
        "bank_transaction_id": bank_id,
        "ledger_entry_id": ledger_id,
        "account": account,
        "date": pd.Timestamp(day),
        "amount_minor": int(amount),
        "currency": currency,
        "age_days": (as_of - day).days,
        "description": description,
        "explanation": explanation,
        "nearest_candidate": nearest_id,
    }


def _per_distinct(keys: list[tuple[int, str]], text: Callable[[int, str], str]) -> ObjArray:
    """``text(*key)`` for each key, computed once per distinct key (amounts repeat a lot)."""
    cache: dict[tuple[int, str], str] = {}
    out = np.empty(len(keys), dtype=object)
    for i, key in enumerate(keys):
        found = cache.get(key)
        if found is None:
            found = cache[key] = text(*key)
        out[i] = found
    return out


def _nearest_texts(
    label: str, side: Side, rows: IntArray, other: Side, near: IntArray, partner: IntArray,
    partner_side: Side,
) -> tuple[ObjArray, ObjArray]:  # fmt: skip
    """'nearest ledger entry L1: amount differs by 40.00, 2 days apart, ...' per row, and its id.

    Built column-wise (texts per distinct amount and day gap) for a few hundred thousand rows.
    """
    n = len(rows)
    texts = filled(n, f"no {label} with this account and currency")
    near_ids = filled(n, "")
    has = np.flatnonzero(near >= 0)
    if len(has) == 0:
        return texts, near_ids
    r, x = rows[has], near[has]
    other_id = other.ids[x]
    delta = side.amount[r] - other.amount[x]
    days = side.date[r] - other.date[x]
    currency = side.currency[r].tolist()
    amount_words = _per_distinct(
        list(zip(delta.tolist(), currency, strict=True)), explain.amount_text
    )
    day_codes, day_uniques = pd.factorize(days)
    apart_words = np.array([explain.apart_text(int(d)) for d in day_uniques], dtype=object)[
        day_codes
    ]
    owner = partner[x]
    tail = filled(len(has), ", outside every rule's date window")
    differs = np.flatnonzero((owner < 0) & (delta != 0))
    tail[differs] = _per_distinct(
        list(zip(np.abs(delta[differs]).tolist(), [currency[i] for i in differs.tolist()],
                 strict=True)),
        lambda minor, code: f", no rule allows a {explain.money(minor, code)} difference",
    )  # fmt: skip
    taken = np.flatnonzero(owner >= 0)
    tail[taken] = ", already matched with " + partner_side.ids[owner[taken]]

    def column(values: np.ndarray) -> pd.Series:
        return pd.Series(values, dtype=object)

    text = (
        f"nearest {label} " + column(other_id) + ": " + column(amount_words) + ", "
        + column(apart_words) + column(tail)
    )  # fmt: skip
    texts[has] = text.to_numpy(dtype=object)
    near_ids[has] = other_id
    return texts, near_ids


def reconcile(
    bank: pd.DataFrame, ledger: pd.DataFrame, matching: MatchingConfig, *, as_of: dt.date
) -> MatchResult:
    """Match bank transactions to ledger entries; explain every link and every open item.

    Pure and deterministic: the same rows in any order give identical frames.
    """
    bank_side, ledger_side = prepare(bank, ledger, matching.reference_pattern)
    engine = _Engine(bank_side, ledger_side, matching)
    engine.rule_passes()
    engine.hold_duplicates()
    engine.group_pass()
    engine.difference_pass()
    mismatches = engine.mismatch_pass()
    return _result(engine, mismatches, as_of)


def _result(engine: _Engine, mismatches: list[tuple[int, int]], as_of: dt.date) -> MatchResult:
    bank, ledger, matching = engine.bank, engine.ledger, engine.matching
    rows: list[dict[str, object]] = []
    for b, lg in mismatches:
        currency = str(bank.currency[b])
        delta = int(bank.amount[b] - ledger.amount[lg])
        rows.append(_discrepancy(
            # The amount of a mismatch is what does not reconcile: bank minus ledger.
            "amount_mismatch", "both", str(bank.ids[b]), str(ledger.ids[lg]),
            str(bank.account[b]), int(bank.date[b]), delta, currency, as_of,
            str(bank.description[b]),
            f"bank {explain.money(int(bank.amount[b]), currency)} vs ledger "
            f"{explain.money(int(ledger.amount[lg]), currency)} (differs by "
            f"{explain.money(abs(delta), currency)}), same "
            f"{'reference' if bank.reference[b] >= 0 and bank.reference[b] == ledger.reference[lg] else 'counterparty'}"  # noqa: E501
            f", {explain.apart_text(int(bank.date[b] - ledger.date[lg]))}",
            str(ledger.ids[lg]),
        ))  # fmt: skip

    bank_linked = engine.bank_partner >= 0
    ledger_linked = engine.ledger_partner >= 0
    left_bank = np.flatnonzero(engine.bank_free)
    left_ledger = np.flatnonzero(engine.ledger_free)
    pending = np.flatnonzero(bank.pending)

    reversal_out, reversal_in = reversals(
        bank, left_bank, engine.bank_block, matching.reversal_window_days
    )
    reversal_partner = dict(zip(reversal_out.tolist(), reversal_in.tolist(), strict=True))
    reversal_partner.update(zip(reversal_in.tolist(), reversal_out.tolist(), strict=True))
    dup_bank = dict(zip(*(a.tolist() for a in duplicates(
        bank, left_bank, bank_linked, engine.bank_block, matching.duplicate_window_days)),
        strict=True))  # fmt: skip
    dup_ledger = dict(zip(*(a.tolist() for a in duplicates(
        ledger, left_ledger, ledger_linked, engine.ledger_block, matching.duplicate_window_days)),
        strict=True))  # fmt: skip

    all_ledger = np.arange(len(ledger), dtype=np.int64)
    posted_bank = np.flatnonzero(~bank.pending)
    bank_rows = np.concatenate([left_bank, pending])
    bank_near = nearest(bank_rows, bank, engine.bank_block, ledger, all_ledger, engine.ledger_block)
    ledger_near = nearest(
        left_ledger, ledger, engine.ledger_block, bank, posted_bank, engine.bank_block
    )

    bank_near_text, bank_near_id = _nearest_texts(
        "ledger entry", bank, bank_rows, ledger, bank_near, engine.ledger_partner, bank
    )
    bank_kind = filled(len(bank_rows), "unmatched_bank")
    bank_why = filled(len(bank_rows), "no ledger entry matched")
    # Later kinds win where a row is several: duplicate, then reversal, then pending.
    at, why = _duplicate_texts(
        "bank transaction", bank, bank_rows, dup_bank, engine.bank_partner, ledger
    )
    bank_kind[at], bank_why[at] = "probable_duplicate", why
    # Few rows are reversals: their texts are built one by one.
    for i in _positions_of(bank_rows, reversal_partner).tolist():
        b, other = int(bank_rows[i]), reversal_partner[int(bank_rows[i])]
        bank_kind[i] = "reversal"
        bank_why[i] = (f"reversed by bank transaction {bank.ids[other]} "
                       f"({explain.money(int(bank.amount[other]), str(bank.currency[b]))}, "
                       f"{explain.apart_text(int(bank.date[b] - bank.date[other]))})")
    pending_at = bank.pending[bank_rows]
    bank_kind[pending_at] = "pending"
    bank_why[pending_at] = "pending at the bank: reported, never matched until it posts"
    ledger_near_text, ledger_near_id = _nearest_texts(
        "bank transaction", ledger, left_ledger, bank, ledger_near, engine.bank_partner, ledger
    )
    ledger_kind = filled(len(left_ledger), "unmatched_ledger")
    ledger_why = filled(len(left_ledger), "no bank transaction matched")
    at, why = _duplicate_texts(
        "ledger entry", ledger, left_ledger, dup_ledger, engine.ledger_partner, bank
    )
    ledger_kind[at], ledger_why[at] = "probable_duplicate", why
    no_id = filled(len(bank_rows), "")
    columns = [
        _discrepancy_columns(
            bank_kind, "bank", bank.ids[bank_rows], no_id, bank, bank_rows, as_of,
            _joined(bank_why, bank_near_text), bank_near_id,
        ),
        _discrepancy_columns(
            ledger_kind, "ledger", filled(len(left_ledger), ""),
            ledger.ids[left_ledger], ledger, left_ledger, as_of,
            _joined(ledger_why, ledger_near_text), ledger_near_id,
        ),
    ]  # fmt: skip
    frames = [pd.DataFrame(rows, columns=list(DISCREPANCY_COLUMNS))] if rows else []
    frames += [pd.DataFrame(c, columns=list(DISCREPANCY_COLUMNS)) for c in columns]

    return MatchResult(
        links=_links_frame(engine.out.links),
        discrepancies=_discrepancy_frame(frames),
        alternatives=_alternatives_frame(engine.out.alternatives),
    )


def _positions_of(rows: IntArray, found: dict[int, int]) -> IntArray:
    """Indices into ``rows`` of the rows that are keys of ``found``."""
    keys = np.fromiter(found, dtype=np.int64, count=len(found))
    positions: IntArray = np.flatnonzero(np.isin(rows, keys))
    return positions


def _duplicate_texts(
    label: str, side: Side, rows: IntArray, twin_of: dict[int, int], partner: IntArray,
    other: Side,
) -> tuple[IntArray, ObjArray]:  # fmt: skip
    """(indices into ``rows``, explanation) of the rows that copy a linked row of their side."""
    at = _positions_of(rows, twin_of)
    texts = np.empty(len(at), dtype=object)
    for k, row in enumerate(rows[at].tolist()):
        twin = twin_of[row]
        texts[k] = (
            f"same amount, counterparty and description as {label} {side.ids[twin]} "
            f"({explain.apart_text(int(side.date[row] - side.date[twin]))}),"
            f" which is matched with {other.ids[partner[twin]]}"
        )
    return at, texts


def _joined(why: ObjArray, near_text: ObjArray) -> ObjArray:
    joined: ObjArray = (
        pd.Series(why, dtype=object) + "; " + pd.Series(near_text, dtype=object)
    ).to_numpy(dtype=object)
    return joined


def _discrepancy_columns(
    kind: ObjArray, side_name: str, bank_ids: ObjArray, ledger_ids: ObjArray, side: Side,
    rows: IntArray, as_of: dt.date, explanation: ObjArray, nearest_id: ObjArray,
) -> dict[str, np.ndarray]:  # fmt: skip
    """Column-wise :func:`_discrepancy` for the open rows ``rows`` of one side."""
    days = side.date[rows]
    ids = [
        explain.discrepancy_id(k, side_name, b, x)
        for k, b, x in zip(kind, bank_ids, ledger_ids, strict=True)
    ]
    return {
        "discrepancy_id": np.array(ids, dtype=object),
        "kind": kind,
        "side": filled(len(rows), side_name),
        "bank_transaction_id": bank_ids,
        "ledger_entry_id": ledger_ids,
        "account": side.account[rows],
        "date": days.astype("datetime64[D]").astype("datetime64[ns]"),
        "amount_minor": side.amount[rows],
        "currency": side.currency[rows],
        "age_days": (as_of - dt.date(1970, 1, 1)).days - days,
        "description": side.description[rows],
        "explanation": explanation,
        "nearest_candidate": nearest_id,
    }


def _sorted(frame: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """Sort by ``keys`` (first = most significant) via integer codes: fast for text columns."""
    codes = [pd.factorize(frame[key].to_numpy(), sort=True)[0] for key in reversed(keys)]
    order = np.lexsort(codes) if len(frame) else np.zeros(0, dtype=np.int64)
    return frame.iloc[order].reset_index(drop=True)


def _order(parts: list[dict[str, np.ndarray]], keys: list[str]) -> IntArray:
    """Row order by integer keys (positions follow (date, id) order; codes follow text order)."""
    if not parts:
        return np.zeros(0, dtype=np.int64)
    return sort_order([np.concatenate([p[key] for p in parts]).astype(np.int64) for key in keys])


def _links_frame(parts: list[dict[str, np.ndarray]]) -> pd.DataFrame:
    order = _order(parts, ["_account", "_currency", "_bank", "_ledger"])
    columns = {
        name: np.concatenate([p[name] for p in parts])[order] if parts
        else np.zeros(0, dtype=object)
        for name in LINK_COLUMNS
    }  # fmt: skip
    frame = pd.DataFrame(columns, columns=list(LINK_COLUMNS))
    frame = frame.astype({
        "score": "float64", "amount_difference_minor": "int64", "date_difference_days": "int64",
    })  # fmt: skip
    return frame


def _discrepancy_frame(frames: list[pd.DataFrame]) -> pd.DataFrame:
    frames = [f for f in frames if len(f)]
    frame = (
        pd.concat(frames, ignore_index=True) if frames
        else pd.DataFrame(columns=list(DISCREPANCY_COLUMNS))
    )  # fmt: skip
    frame = frame.astype({"amount_minor": "int64", "age_days": "int64"})
    frame["date"] = pd.to_datetime(frame["date"]).astype("datetime64[ns]")
    return _sorted(frame, ["account", "currency", "kind", "date", "discrepancy_id"])


def _alternatives_frame(parts: list[dict[str, np.ndarray]]) -> pd.DataFrame:
    order = _order(parts, ["_winner_bank", "_winner_ledger", "_bank", "_ledger"])
    columns = {
        name: np.concatenate([p[name] for p in parts])[order] if parts
        else np.zeros(0, dtype=object)
        for name in ALTERNATIVE_COLUMNS
    }  # fmt: skip
    frame = pd.DataFrame(columns, columns=list(ALTERNATIVE_COLUMNS)).astype({"score": "float64"})
    return frame
