"""Stable ids, and every word the engine writes: link explanations and their notes, and why
each open item is open (with its nearest candidate)."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable

import numpy as np
import numpy.typing as npt
import pandas as pd

from recon.engine.normalise import BoolArray, IntArray, ObjArray, Side, filled
from recon.engine.payees import PayeeMemory, descriptor_key
from recon.engine.slips import Slip, slip_between
from recon.money import format_minor

ID_LENGTH = 16
_HUNDREDTHS = np.array([f"{i / 100:.2f}" for i in range(101)], dtype=object)


def short_hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:ID_LENGTH]


def match_id(bank_ids: Iterable[str], ledger_ids: Iterable[str]) -> str:
    """Derived from the sorted member ids only, so it is the same night after night."""
    members = sorted(f"B:{b}" for b in bank_ids) + sorted(f"L:{x}" for x in ledger_ids)
    return short_hash("\x1f".join(members))


def pair_match_ids(bank_ids: ObjArray, ledger_ids: ObjArray) -> list[str]:
    """match_id of one-to-one links, fast path of :func:`match_id`."""
    sha256 = hashlib.sha256  # looked up once: this runs once per link
    size = ID_LENGTH // 2  # hex of the first bytes == first hex digits, without hexing them all
    return [
        sha256(f"B:{b}\x1fL:{x}".encode()).digest()[:size].hex()
        for b, x in zip(bank_ids, ledger_ids, strict=True)
    ]


def discrepancy_id(kind: str, side: str, bank_id: str, ledger_id: str) -> str:
    return short_hash(f"{kind}\x1f{side}\x1fB:{bank_id}\x1fL:{ledger_id}")


def money(minor: int, currency: str) -> str:
    return format_minor(int(minor), currency)


def day_text(day: int) -> str:
    """A day number (days since 1970-01-01) as an ISO date."""
    return str(np.datetime64(day, "D"))


def days_text(days: int) -> str:
    if days == 0:
        return "same day"
    unit = "day" if abs(days) == 1 else "days"
    return f"bank {abs(days)} {unit} {'after' if days > 0 else 'before'} ledger"


def apart_text(days: int) -> str:
    if days == 0:
        return "same day"
    return f"{abs(days)} day{'s' if abs(days) != 1 else ''} apart"


def amount_text(delta: int, currency: str) -> str:
    return "same amount" if delta == 0 else f"amount differs by {money(abs(delta), currency)}"


def link_explanations(
    rule: ObjArray,
    amount_delta: IntArray,
    date_delta: IntArray,
    currency: ObjArray,
    parts: dict[str, np.ndarray],
    notes: ObjArray,
) -> tuple[IntArray, ObjArray]:
    """'rule exact_amount: same amount, same day; score parts amount 1.00, ...' per link, as
    (code per link, the distinct texts).

    Built once per distinct explanation: links repeat a few thousand of them.
    """
    n = len(rule)
    if n == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=object)
    amount_words = filled(n, "same amount")
    amount_codes = np.zeros(n, dtype=np.int64)  # equal codes: equal words
    differs = np.flatnonzero(amount_delta != 0)
    if len(differs):  # each distinct (difference, currency) worded once
        currency_codes, currencies = pd.factorize(currency[differs])
        pair_codes, pairs = pd.factorize(amount_delta[differs] * len(currencies) + currency_codes)
        pairs = np.asarray(pairs, dtype=np.int64)
        worded = [
            amount_text(int(d), str(currencies[c]))
            for d, c in zip((pairs // len(currencies)).tolist(),
                            (pairs % len(currencies)).tolist(), strict=True)
        ]  # fmt: skip
        amount_words[differs] = np.array(worded, dtype=object)[pair_codes]
        amount_codes[differs] = pair_codes + 1
    date_codes, date_uniques = pd.factorize(date_delta)
    date_words = np.array([days_text(int(d)) for d in date_uniques] + [""], dtype=object)[
        date_codes
    ]
    # The rounded parts, each distinct combination written once.
    hundredths = {
        name: np.clip(np.rint(values * 100), 0, 100).astype(np.int64)
        for name, values in parts.items()
    }
    combination = np.zeros(n, dtype=np.int64)
    for values in hundredths.values():
        combination = combination * 101 + values
    score_codes, combinations = pd.factorize(combination)
    score_texts = []
    for combined in np.asarray(combinations, dtype=np.int64).tolist():
        digits = []
        for _ in hundredths:
            combined, value = divmod(combined, 101)
            digits.append(value)
        score_texts.append(", ".join(
            f"{'rule priority' if name == 'priority' else name} {_HUNDREDTHS[value]}"
            for name, value in zip(hundredths, reversed(digits), strict=True)
        ))  # fmt: skip
    # Links repeat a few thousand distinct explanations (rule, amount and date words, rounded
    # parts, note): build each once and map it back to every link that has it.
    key = np.zeros(n, dtype=np.int64)
    for codes in (
        pd.factorize(rule)[0], amount_codes, date_codes, pd.factorize(notes)[0], score_codes,
    ):  # fmt: skip
        key, _ = pd.factorize(key * (int(codes.max(initial=0)) + 2) + codes + 1)
        key = key.astype(np.int64)
    _, first = np.unique(key, return_index=True)
    texts = [
        f"rule {rule[i]}: {amount_words[i]}, {date_words[i]}; score parts "
        f"{score_texts[score_codes[i]]}{notes[i]}"
        for i in first.tolist()
    ]
    return key, np.array(texts, dtype=object)


def ambiguity_note(others: int, margin: float) -> str:
    return (
        f"; suggested: {others} other candidate{'s' if others != 1 else ''} within "
        f"{margin:.2f} of this score"
    )


def group_note(
    size: int, bank_rows: int, ledger_rows: int, total_minor: int, currency: str,
    chance_fits: float | None, other_options: int, pool_key: str = "",
) -> str:  # fmt: skip
    """'; group of 5 (1 bank : 5 ledger) sums to 970.00', what pooled its rows when that was
    not a shared party or reference, and why it is only suggested."""
    note = (
        f"; group of {size} ({bank_rows} bank : {ledger_rows} ledger) sums to "
        f"{money(total_minor, currency)}"
    )
    if pool_key:
        note += f"; {pool_key}"
    if chance_fits is not None:
        note += f"; suggested: in a pool of this size {chance_fits:.2f} subsets would fit by chance"
    if other_options:
        note += f"; {other_options} other subset(s) also fit"
    return note


ROUND_PART = "; suggested: a round sum that names no invoice is more likely a part payment"
ROUND_RECURS = "; suggested: the payer has this round sum on another row within a week"
ROUND_SENT_TWICE = "; suggested: the payer sent this round sum twice within a week"


def payer_crowd_note(rows: int) -> str:
    return (
        f"; suggested: the payer has {rows} rows in these days, so one this close in amount "
        "is likely by chance"
    )


CONTESTED = (
    "; suggested: a row of it is another candidate of a link suggested earlier, which may be "
    "resolved with it"
)
NO_EVIDENCE = (
    "; suggested: only amount and date agree (texts differ, no shared reference, the amount "
    "is not unique in the account)"
)


def learned_payee_note(payees: PayeeMemory, description: str) -> str:
    """"; learned payee: 'GOOGLE *GSUI' is Google Workspace, from 14 confirmed links"."""
    descriptor = descriptor_key(description)
    payee = payees.payees[descriptor]
    links = f"{payee.links} confirmed link{'s' if payee.links != 1 else ''}"
    return f"; learned payee: '{descriptor}' is {payee.counterparty}, from {links}"


NO_LEDGER_MATCH = "no ledger entry matched"
NO_BANK_MATCH = "no bank transaction matched"
PENDING = "pending at the bank: reported, never matched until it posts"


def mismatch_text(
    bank_minor: int, ledger_minor: int, currency: str, evidence: str, days: int
) -> str:
    """'bank 1234.56 vs ledger 1243.56 (differs by 9.00: transposed digits), same reference, ...'

    ``evidence`` says what ties the two rows ("same reference", "same counterparty", "alike
    texts"); the keying slip, when the amounts are one slip apart, follows the difference.
    """
    slip = slip_between(bank_minor, ledger_minor)
    return (
        f"bank {money(bank_minor, currency)} vs ledger {money(ledger_minor, currency)} (differs "
        f"by {money(abs(bank_minor - ledger_minor), currency)}"
        f"{': ' + slip.words if slip != Slip.NONE else ''}), {evidence}, {apart_text(days)}"
    )


def reversal_text(other_id: str, other_minor: int, currency: str, days: int) -> str:
    return (
        f"reversed by bank transaction {other_id} ({money(other_minor, currency)}, "
        f"{apart_text(days)})"
    )


def return_text(debit_id: str, debit_minor: int, currency: str, days: int, partner_id: str) -> str:
    return (
        f"returns bank transaction {debit_id} ({money(debit_minor, currency)}, "
        f"{apart_text(days)}), which is matched with {partner_id}"
    )


def duplicate_text(label: str, twin_id: str, days: int, partner_id: str) -> str:
    return (
        f"same amount, counterparty and description as {label} {twin_id} "
        f"({apart_text(days)}), which is matched with {partner_id}"
    )


def joined(why: ObjArray, near_text: ObjArray) -> ObjArray:
    """'why; nearest ...' per row."""
    texts: ObjArray = (
        pd.Series(why, dtype=object) + "; " + pd.Series(near_text, dtype=object)
    ).to_numpy(dtype=object)
    return texts


def nearest_texts(
    label: str, side: Side, rows: IntArray, other: Side, near: IntArray, partner: IntArray,
    partner_side: Side, *, equal_reach: tuple[int, int] = (0, -1),
    references_differ: BoolArray | None = None, linkable: BoolArray | None = None,
) -> tuple[ObjArray, ObjArray]:  # fmt: skip
    """'nearest ledger entry L1: amount differs by 40.00, 2 days apart, ...' per row, and its id.

    ``near`` is each row's nearest other-side position (-1: none) and ``partner`` says which
    ``partner_side`` row each other-side row is linked with. A nearest row of the same amount,
    open too, is said to be outside every rule's window unless its day gap (this side's date
    minus the other's) is within ``equal_reach`` (the widest window of the rules linking equal
    amounts); then the references differing (``references_differ``, per row) or amount and
    date alone are what left both open. Rows no rule may link (``linkable`` False: pending)
    say nothing of why. Built column-wise (texts per distinct amount and day gap) for a few
    hundred thousand rows.
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
    amount_words = _per_distinct(list(zip(delta.tolist(), currency, strict=True)), amount_text)
    day_codes, day_uniques = pd.factorize(days)
    apart_words = np.array([apart_text(int(d)) for d in day_uniques], dtype=object)[day_codes]
    owner = partner[x]
    tail = filled(len(has), ", outside every rule's date window")
    both_open = (owner < 0) & (delta == 0) & (days >= equal_reach[0]) & (days <= equal_reach[1])
    tail[both_open] = ", open too: amount and date alone did not tie them"
    if references_differ is not None:
        tail[both_open & references_differ[has]] = ", open too: their references differ"
    if linkable is not None:
        tail[(owner < 0) & ~linkable[has]] = ""
    differs = np.flatnonzero((owner < 0) & (delta != 0))
    tail[differs] = _per_distinct(
        list(zip(np.abs(delta[differs]).tolist(), [currency[i] for i in differs.tolist()],
                 strict=True)),
        lambda minor, code: f", no rule allows a {money(minor, code)} difference",
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


def reference_notes(
    bank: Side, ledger: Side, b: IntArray, lg: IntArray, equal: npt.NDArray[np.bool_]
) -> ObjArray:
    """'; reference INV-51204 named in the bank description' (or how it was found cut off)
    for links whose bank row names the ledger row's reference; "" for the others."""
    notes = filled(len(b), "")
    own = ledger.named_reference[lg] if len(ledger.named_reference) else np.full(len(lg), -1)
    named = np.flatnonzero(equal & (own >= 0))
    if len(named) == 0:
        return notes
    names = pd.Series(ledger.reference_names[own[named]], dtype=object)
    cut = pd.Series(bank.reference_cut[b[named]], dtype=object)
    source = pd.Series(bank.reference_source[b[named]], dtype=object).replace("", "text")
    whole = "; reference " + names + " named in the bank " + source
    shortened = "; reference cut off: '" + cut + "' is the start of " + names
    notes[named] = np.where(cut != "", shortened, whole).astype(object)
    return notes


def contradiction_notes(bank: Side, ledger: Side, b: IntArray, lg: IntArray) -> ObjArray:
    """'; suggested: the bank transaction names INV-66019, the ledger entry is INV-51204'."""
    if len(b) == 0:
        return np.zeros(0, dtype=object)
    named = bank.named_reference[b]
    other = bank.other_reference[b] if len(bank.other_reference) else filled(len(b), "")
    bank_names = pd.Series(
        np.where(named >= 0, bank.reference_names[np.maximum(named, 0)], other), dtype=object
    )
    ledger_names = pd.Series(ledger.reference_names[ledger.named_reference[lg]], dtype=object)
    text = (
        "; suggested: the bank transaction names reference " + bank_names
        + ", the ledger entry's is " + ledger_names
    )  # fmt: skip
    result: ObjArray = text.to_numpy(dtype=object)
    return result
