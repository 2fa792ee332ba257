"""Score parts of candidate pairs, and the rule tests they are judged by.

A score is a float in 0..1 (it ranks pairs; it is never money). Its parts are kept so the
explanation can say why a pair won: amount closeness, date closeness, text similarity,
reference equality and rule priority.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import ROUND_CEILING, Decimal
from typing import Literal

import numpy as np
import numpy.typing as npt
import pandas as pd
from rapidfuzz import fuzz, process

from recon.engine import sets
from recon.engine.normalise import RAIL_CHECK, RAIL_TRANSFER, BoolArray, IntArray, Side
from recon.engine.references import reference_evidence
from recon.money import currency_exponent

FloatArray = npt.NDArray[np.float64]

# Text outweighs date: rows that share an amount (payroll, subscriptions) are told apart by the
# names in their texts, and a bank posting a day late is common; same-day, other-name is not.
WEIGHTS: dict[str, float] = {
    "amount": 0.20,
    "date": 0.10,
    "text": 0.45,
    "reference": 0.10,
    "priority": 0.15,
}


# Texts at least this alike agree without help (the lowest text floor the shipped rules use).
TEXTS_ALIKE = 70.0


def pair_text_similarity(bank: Side, ledger: Side, b: IntArray, lg: IntArray) -> FloatArray:
    """rapidfuzz token_set_ratio (0..100, case and punctuation ignored) of ``bank.text[b]`` and
    ``ledger.text[lg]``, computed once per distinct pair of texts on ``text_match``: the texts
    put through rapidfuzz's ``default_process``, the bank's without bank boilerplate and with
    words cut short completed (recon.engine.normalise.truncation_aware)."""
    if len(b) == 0:
        return np.zeros(0, dtype=np.float64)
    width = len(ledger.text_match)
    pair_codes, pairs = pd.factorize(bank.text_code[b] * width + ledger.text_code[lg])
    pairs = np.asarray(pairs, dtype=np.int64)
    scores = process.cpdist(
        list(bank.text_match[pairs // width]), list(ledger.text_match[pairs % width]),
        scorer=fuzz.token_set_ratio, processor=None, workers=2,
    )  # fmt: skip
    similarity: FloatArray = np.asarray(scores, dtype=np.float64)[pair_codes]
    return similarity


@dataclass(frozen=True)
class PairParts:
    """Candidate pairs (bank position, ledger position) with what they are judged and scored by."""

    bank: IntArray
    ledger: IntArray
    amount_delta: IntArray  # bank minus ledger, minor units
    date_delta: IntArray  # bank date (as the rule reads it) minus ledger date, days
    # Days from the ledger date to the nearer of the bank's posted and authorized dates: what
    # the date score reads (a card purchase is booked on its swipe day, posted a day or two on).
    nearest_days: IntArray
    text: FloatArray  # 0..100; 100 where a learned payee agrees
    reference_equal: BoolArray  # the bank row names the ledger row's reference
    # The bank row names other references than the ledger row's own: evidence against.
    reference_contradicts: BoolArray
    # The bank descriptor's learned payee is the ledger row's counterparty and the texts alone
    # are less than TEXTS_ALIKE alike: the memory supplied the agreement (explanations say so).
    learned: BoolArray

    def take(self, mask: BoolArray | IntArray) -> PairParts:
        return PairParts(
            self.bank[mask], self.ledger[mask], self.amount_delta[mask], self.date_delta[mask],
            self.nearest_days[mask], self.text[mask], self.reference_equal[mask],
            self.reference_contradicts[mask], self.learned[mask],
        )  # fmt: skip

    def __len__(self) -> int:
        return len(self.bank)


def pair_parts(
    bank: Side, ledger: Side, b: IntArray, lg: IntArray, *, authorized: bool = False
) -> PairParts:
    """The parts of each pair; a learned payee that agrees counts as texts that agree (100)."""
    bank_date = bank.authorized[b] if authorized else bank.date[b]
    equal, contradicts = reference_parts(bank, ledger, b, lg)
    learned = (bank.payee[b] >= 0) & (bank.payee[b] == ledger.payee[lg])
    own_text = pair_text_similarity(bank, ledger, b, lg)
    return PairParts(
        bank=b,
        ledger=lg,
        amount_delta=bank.amount[b] - ledger.amount[lg],
        date_delta=bank_date - ledger.date[lg],
        nearest_days=np.minimum(
            np.abs(bank.date[b] - ledger.date[lg]), np.abs(bank.authorized[b] - ledger.date[lg])
        ),
        text=np.where(learned, 100.0, own_text),
        reference_equal=equal,
        reference_contradicts=contradicts,
        learned=learned & (own_text < TEXTS_ALIKE),
    )


def reference_parts(
    bank: Side, ledger: Side, b: IntArray, lg: IntArray
) -> tuple[BoolArray, BoolArray]:
    """Per pair, :class:`PairParts`' ``reference_equal`` and ``reference_contradicts``: the bank
    row names the ledger row's reference (or both hold the same one), and it names others but
    not that one. No text is compared: a pass can drop pairs by them first."""
    reference = bank.reference[b]
    named, contradicts = reference_evidence(bank, ledger, b, lg)
    equal = named | ((reference >= 0) & (reference == ledger.reference[lg]))
    return equal, (contradicts & ~equal) | rails_differ(bank, ledger, b, lg)


def rails_differ(bank: Side, ledger: Side, b: IntArray, lg: IntArray) -> BoolArray:
    """Per pair: one side says a check, the other an electronic transfer ("Check received
    Wayne Enterprises" is not paid by "ACH CREDIT WAYNE ENTERPRISE"): never the same payment."""
    differ: BoolArray = (bank.rail[b] | ledger.rail[lg]) == (RAIL_CHECK | RAIL_TRANSFER)
    return differ


def same_sign(bank: Side, ledger: Side, parts: PairParts) -> BoolArray:
    """Money moves the same way on both sides (a receipt never pays a bill)."""
    same: BoolArray = np.sign(bank.amount[parts.bank]) == np.sign(ledger.amount[parts.ledger])
    return same


def score_parts(parts: PairParts, ledger: Side, priority: float) -> dict[str, FloatArray]:
    """Each part in 0..1; ``priority`` is 1 for the first rule, falling for later ones."""
    base = np.maximum(np.abs(ledger.amount[parts.ledger]), 1).astype(np.float64)
    return {
        "amount": 1.0 - np.minimum(np.abs(parts.amount_delta) / base, 1.0),
        "date": 1.0 / (1.0 + parts.nearest_days.astype(np.float64)),
        "text": parts.text / 100.0,
        # 1 when the bank row names the ledger row's reference, -1 when it names another.
        "reference": parts.reference_equal.astype(np.float64)
        - parts.reference_contradicts.astype(np.float64),
        "priority": np.full(len(parts), priority, dtype=np.float64),
    }


def total_score(parts: dict[str, FloatArray]) -> FloatArray:
    total = np.zeros(len(next(iter(parts.values()))), dtype=np.float64)
    for name, values in parts.items():
        total += WEIGHTS[name] * values
    rounded: FloatArray = np.round(total, 6)  # so ties are ties, whatever the summation order
    return rounded


# Tolerances (every pass that allows a difference: kind tolerance, difference; groups use the
# absolute part alone). One rule, stated once:
#
#     |bank - ledger| <= max(absolute, percent / 100 * base)        (limits inclusive)
#
# with base = the larger of |bank| and |ledger| (``percent_of: larger``, the default; ``bank``
# or ``ledger`` take that side instead), and both limits in whole minor units of the
# currency, rounded down: 0.05 is 5 cents in USD and 0 yen in JPY; 0.1 percent of 999.00 USD
# is 0.99. "Whichever is larger": the absolute limit covers small amounts, the percent large
# ones. Example: with 0.05 and 0.1 percent, 1,000.00 against 1,001.00 is in (1.00 of 1,001.00
# allowed), 1,000.00 against 1,001.02 is out (1.01 allowed, rounded down from 1.00102).
PercentOf = Literal["bank", "ledger", "larger"]


def minor_tolerance(amount: Decimal, currency: str) -> int:
    """An absolute tolerance in the currency's minor units, rounded down (0.05 JPY -> 0)."""
    return int(amount.scaleb(currency_exponent(currency)).to_integral_value(rounding="ROUND_FLOOR"))


def allowed_difference(
    base_amount: IntArray, absolute_minor: IntArray, percent: Decimal
) -> IntArray:
    """max(absolute, percent of |base|, rounded down) in minor units, exact integer arithmetic."""
    numerator, denominator = (percent / 100).as_integer_ratio()
    magnitude = np.abs(base_amount)
    if numerator and max(int(magnitude.max(initial=0)), 1) * numerator < 2**62:
        by_percent = magnitude * numerator // denominator
    elif numerator:  # enormous amounts: Python integers, still exact
        by_percent = np.array(
            [int(m) * numerator // denominator for m in magnitude], dtype=np.int64
        )
    else:
        by_percent = np.zeros(len(base_amount), dtype=np.int64)
    allowed: IntArray = np.maximum(absolute_minor, by_percent).astype(np.int64)
    return allowed


def per_row_minor(
    side: Side, rows: IntArray, amount: Decimal, by_currency: Mapping[str, Decimal] | None = None
) -> IntArray:
    """``amount`` (or ``by_currency``'s for the row's currency) in each row's currency minor
    units."""
    if len(rows) == 0:
        return np.zeros(0, dtype=np.int64)
    codes = side.currency_code[rows]
    lookup: dict[int, int] = {}
    for code in sets.unique(codes).tolist():
        currency = str(side.currency[rows[np.flatnonzero(codes == code)[0]]])
        lookup[int(code)] = minor_tolerance((by_currency or {}).get(currency, amount), currency)
    table = np.zeros(int(codes.max()) + 1, dtype=np.int64)
    for code, value in lookup.items():
        table[code] = value
    return table[codes]


def tolerance_base(
    bank_amount: IntArray, ledger_amount: IntArray, percent_of: PercentOf
) -> IntArray:
    """The amount a percent tolerance is a percent of: |bank|, |ledger| or the larger."""
    if percent_of == "bank":
        return np.abs(bank_amount)
    if percent_of == "ledger":
        return np.abs(ledger_amount)
    larger: IntArray = np.maximum(np.abs(bank_amount), np.abs(ledger_amount))
    return larger


def within_tolerance(
    bank_amount: IntArray, ledger_amount: IntArray, absolute_minor: IntArray, percent: Decimal,
    percent_of: PercentOf,
) -> BoolArray:  # fmt: skip
    """|bank - ledger| <= max(absolute, percent of the base), per pair (the rule above)."""
    allowed = allowed_difference(
        tolerance_base(bank_amount, ledger_amount, percent_of), absolute_minor, percent
    )
    inside: BoolArray = np.abs(bank_amount - ledger_amount) <= allowed
    return inside


def search_percent(percent: Decimal, percent_of: PercentOf) -> Decimal:
    """A percent of the bank amount whose band holds every ledger amount the tolerance can
    allow: a candidate search by the bank amount alone misses none (then the pairs are judged
    by :func:`within_tolerance`). A percent p of a ledger amount up to |bank| / (1 - p)."""
    if percent_of == "bank" or percent == 0:
        return percent
    if percent >= 100:
        return Decimal(10_000)
    widened = percent * 100 / (100 - percent)
    return widened.quantize(Decimal("0.0001"), rounding=ROUND_CEILING) + Decimal("0.0001")
