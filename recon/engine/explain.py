"""Stable ids and human explanations."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

import numpy as np
import pandas as pd

from recon.engine.normalise import IntArray, ObjArray, filled
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
    sha256 = hashlib.sha256  # inlined: this runs once per link, a million times a night
    size = ID_LENGTH // 2  # hex of the first bytes == first hex digits, without hexing them all
    return [
        sha256(f"B:{b}\x1fL:{x}".encode()).digest()[:size].hex()
        for b, x in zip(bank_ids, ledger_ids, strict=True)
    ]


def discrepancy_id(kind: str, side: str, bank_id: str, ledger_id: str) -> str:
    return short_hash(f"{kind}\x1f{side}\x1fB:{bank_id}\x1fL:{ledger_id}")


def money(minor: int, currency: str) -> str:
    return format_minor(int(minor), currency)


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
) -> ObjArray:
    """'rule exact_amount: same amount, same day; score parts amount 1.00, ...' per link.

    Built once per distinct explanation: a million links in well under a second.
    """
    n = len(rule)
    if n == 0:
        return np.zeros(0, dtype=object)
    amount_words = filled(n, "same amount")
    differs = np.flatnonzero(amount_delta != 0)
    amount_words[differs] = [
        amount_text(int(d), str(c))
        for d, c in zip(amount_delta[differs], currency[differs], strict=True)
    ]
    date_codes, date_uniques = pd.factorize(date_delta)
    date_words = np.array([days_text(int(d)) for d in date_uniques] + [""], dtype=object)[
        date_codes
    ]
    # Links repeat a few thousand distinct explanations (rule, amount and date words, rounded
    # parts, note): build each once and map it back to every link that has it.
    hundredths = {
        name: np.clip(np.rint(values * 100), 0, 100).astype(np.int64)
        for name, values in parts.items()
    }
    key = np.zeros(n, dtype=np.int64)
    for codes in (
        pd.factorize(rule)[0], pd.factorize(amount_words)[0], date_codes,
        pd.factorize(notes)[0], *hundredths.values(),
    ):  # fmt: skip
        key, _ = pd.factorize(key * (int(codes.max(initial=0)) + 2) + codes + 1)
        key = key.astype(np.int64)
    _, first = np.unique(key, return_index=True)
    texts = []
    for i in first.tolist():
        scores = ", ".join(
            f"{'rule priority' if name == 'priority' else name} {_HUNDREDTHS[values[i]]}"
            for name, values in hundredths.items()
        )
        texts.append(
            f"rule {rule[i]}: {amount_words[i]}, {date_words[i]}; score parts {scores}{notes[i]}"
        )
    result: ObjArray = np.array(texts, dtype=object)[key]
    return result
