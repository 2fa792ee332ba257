"""Payees learned from confirmed matches: which bank descriptor names which ledger counterparty.

Each night the pipeline stores, for every auto-confirmed or analyst-confirmed one-to-one link,
the bank row's descriptor (:func:`descriptor_key`) and the ledger row's counterparty; the next
night it loads them as a :class:`PayeeMemory` and passes it to the engine (an input like the
rows: the engine reads no store). A bank row whose descriptor the memory knows, paired with a
ledger row of that counterparty, counts as texts that agree (similarity 100): "ACH DEBIT GOOGLE
*GSUI 8812" agrees with "Google Workspace" once a link of the two was confirmed. A descriptor
learned with several counterparties says nothing and is not used.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

# A word holding a digit (an id, a date, a trace, check or card number, an amount), or
# punctuation alone: "ACH DEBIT GOOGLE *GSUI 8812" and "... 9921" name one payee, and so do
# "WIRE TRF OUT 3283 MOUSER" and "WIRE TRF OUT 1571 MOUSER".
_NOISE_WORDS = re.compile(r"(?<!\S)(?:\S*\d\S*|[^\w\s]+)(?!\S)")
_LETTER = re.compile(r"[^\W\d_]")
MAX_DESCRIPTOR_CHARS = 200


# Leading words that say how the money moved, not to whom ("ACH DEBIT", "WIRE TRF OUT").
_CHANNEL_WORDS = frozenset(
    {"ACH", "DEBIT", "CREDIT", "POS", "PURCHASE", "CARD", "CHECKCARD", "WIRE", "TRF", "OUT", "IN",
     "INCOMING", "OUTGOING", "FEDWIRE", "VIA", "TRANSFER", "TO", "FROM", "SEPA", "CT", "DD",
     "ONLINE", "PAYMENT", "BILL", "PAY", "RECURRING", "PREAUTHORIZED", "DIRECT", "DEPOSIT",
     "WITHDRAWAL", "FURIKOMI", "MOBILE", "REMOTE", "ELECTRONIC", "EFT", "XFER", "-"}
)  # fmt: skip


def descriptor_key(description: str) -> str:
    """The descriptor a bank description is remembered by: upper case, single spaces, without
    the words that hold digits (ids, dates, numbers) and the leading words that only name the
    channel: "ACH DEBIT GOOGLE *GSUI 8812" -> "GOOGLE *GSUI". "" when no letter is left."""
    words = _NOISE_WORDS.sub(" ", description.upper()).split()
    start = 0
    while start < len(words) and words[start] in _CHANNEL_WORDS:
        start += 1
    text = " ".join(words[start:] if start < len(words) else words)
    if not _LETTER.search(text):  # no letter: nothing names a payee
        return ""
    return text[:MAX_DESCRIPTOR_CHARS]


def counterparty_key(counterparty: str) -> str:
    """How two spellings of one ledger counterparty are compared: case and spaces ignored."""
    return " ".join(counterparty.split()).casefold()


@dataclass(frozen=True)
class LearnedPayee:
    """One descriptor's counterparty and how many confirmed links taught it."""

    counterparty: str  # as the ledger spells it (the most frequent spelling)
    links: int


@dataclass(frozen=True)
class PayeeMemory:
    """descriptor_key -> the one counterparty confirmed links taught; conflicting descriptors
    (several counterparties) are left out, and listed in ``conflicting``."""

    payees: dict[str, LearnedPayee] = field(default_factory=dict)
    conflicting: frozenset[str] = frozenset()

    @classmethod
    def from_links(cls, learned: Iterable[tuple[str, str, int]]) -> PayeeMemory:
        """From (descriptor_key, counterparty, confirmed links) rows, in any order."""
        by_descriptor: dict[str, dict[str, tuple[int, dict[str, int]]]] = {}
        for descriptor, counterparty, links in learned:
            if not descriptor or not counterparty_key(counterparty) or links <= 0:
                continue
            parties = by_descriptor.setdefault(descriptor, {})
            total, spellings = parties.get(counterparty_key(counterparty), (0, {}))
            spellings[counterparty] = spellings.get(counterparty, 0) + links
            parties[counterparty_key(counterparty)] = (total + links, spellings)
        payees: dict[str, LearnedPayee] = {}
        conflicting = set()
        for descriptor, parties in by_descriptor.items():
            if len(parties) > 1:
                conflicting.add(descriptor)
                continue
            total, spellings = next(iter(parties.values()))
            spelling = min(spellings, key=lambda s: (-spellings[s], s))
            payees[descriptor] = LearnedPayee(spelling, total)
        return cls(payees, frozenset(conflicting))

    def __len__(self) -> int:
        return len(self.payees)

    def to_json(self) -> str:
        """The memory as JSON text, the same for the same memory (partitions carry it)."""
        return json.dumps({
            "payees": {d: [p.counterparty, p.links] for d, p in sorted(self.payees.items())},
            "conflicting": sorted(self.conflicting),
        }, sort_keys=True, ensure_ascii=False)  # fmt: skip

    @classmethod
    def from_json(cls, text: str) -> PayeeMemory:
        data = json.loads(text)
        return cls(
            {d: LearnedPayee(str(c), int(n)) for d, (c, n) in data["payees"].items()},
            frozenset(data["conflicting"]),
        )
