"""References learned from the ledger: which ledger references each bank row names.

Every distinct reference in the ledger's reference column, in whatever format the company
writes it ("INV-51204", "AR-3310", "INV/2019/00001", "RF18 5390 0754", "PO 55012", vendor
numbers), is a name a bank row can mention. Both sides are compared in one *compact* form:
upper case, letters and digits only, so "INV/2019/00001", "INV 2019 00001" and "INV2019-00001"
are all "INV201900001".

A bank row names a reference when a run of consecutive words of its description, counterparty,
reference (``payment_meta.reference_number``) or payment details (``payment_meta.reason``),
compacted, equals it, or its ``check_number`` holds it whole. Words split at anything but
letters and digits and between letters and digits ("INV51204" is "INV" "51204"), so a match
never starts or ends inside a word: "51204" is named by "PAYMENT 51204" and by "INV51204",
never by "9951204". The lookup is one hash lookup per run of words (starting at a digit or at a
word some reference starts with) of each distinct text: never ledger rows x bank rows. The runs
of all texts are built and looked up column-wise at once (:meth:`LedgerReferences.scan_all`);
:meth:`LedgerReferences.scan` is the same for one text.

A reference a payer retypes without its letters ("INVOICE 51204" for "INV-51204") is named by
its digits when they are searchable on their own; digits several references end with
("INV-55119", "PO 55119") name all of them.

**Strong and weak names**: a name with letters ("INV-51204"), a number right after a check word
("CHECK # 2396", which may be short), digits right after an invoice word ("INVOICE 55481":
the payer says what it pays) and a ``check_number`` field are strong; a name of digits alone
("STAPLES 53502": a store number?) is weak. Any name agrees with the ledger row that holds
it; only a bank row with a strong name contradicts a ledger row holding another reference.

**Cut off**: banks truncate descriptions, often mid-reference ("... OFFICE DEPOT INV-73"). When
a description names nothing whole, its last one to six words (runs of letters or of digits:
"ST-UY184GVD" is six), compacted, with 4+ characters and a digit, name the reference they are
the start of if exactly one such reference is held by a ledger row of the bank row's account
and currency within the window (searched per fragment length with the same keyed date-window
join the passes use; a fragment with more than ``_CUT_CAP`` distinct (reference, day)
candidates names none).

**Not searched in free text** (they would name something in every other text): references of
fewer than 4 characters, without a digit (words), all digits and fewer than 5 ("2019"), or a
date (YYYYMMDD: trace numbers are full of them). Such references still link through the
reference column (``reference`` codes), a check number, and after a check word. A reference
many ledger rows share (a payout id on each sale, a payroll run) is one code: a bank row naming
it names all of those rows, which is what the aggregate passes group by.

API (arrays on :class:`recon.engine.normalise.Side`, one code space for both sides, codes ranked
by the compact text so they never depend on row order):

- ``ledger.named_reference[i]``: the code of ledger row i's own reference, -1 none;
- ``bank.named_reference[j]``: the code of the reference bank row j names, -1 none (the
  longest when it names several; all of them are in ``bank.named_pairs``);
- ``bank.named_pairs``: (bank positions, codes), every reference every bank row names, sorted
  by position then code;
- ``bank.named_strong[j]``: bank row j names a reference strongly (see above);
- ``bank.reference_cut[j]``: the fragment ("INV73") when the reference was found cut off, "";
- ``side.reference_names[code]``: the reference as the ledger writes it, for explanations.

:func:`reference_evidence` tells, for candidate pairs, whether the bank row names the ledger
row's reference (agreement) or, strongly, only other references while the ledger row has one
(contradiction: never auto-confirmed, and scored below a pair without contradiction).
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from functools import cached_property

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from recon.engine import keys, sets
from recon.engine.candidates import keyed_window_pairs_and_counts, unique_pairs
from recon.engine.normalise import (
    ALNUM,
    LETTERS_DIGITS,
    BoolArray,
    Distinct,
    FrameTexts,
    IntArray,
    ObjArray,
    Side,
    _sorted_factorize,
    ascii_words,
    filled,
)
from recon.frames import CHECK_NUMBER, PAYMENT_DETAILS

MIN_LENGTH = 4  # compact characters a searched reference (or a cut-off fragment) needs at least
MIN_DIGITS_ONLY = 5  # an all-digit reference needs this many to be searched in free text
MAX_WORDS = 6  # words one reference may span in a bank text
CUT_WORDS = 6  # last runs of letters or digits tried as a cut-off fragment (ST-UY184GVD: 6)
CHECK_WORDS = frozenset({"CHECK", "CHK", "CHQ", "CHEQUE", "CK"})  # "CHECK # 2396"
# A number right after one of these is what the payer says it pays ("INVOICE 55481"): strong.
INVOICE_WORDS = frozenset({
    "INVOICE", "INVOICES", "INV", "INVS", "INVNO", "BILL", "RECHNUNG", "RECHNR", "RG",
    "FACTURE", "FACTURA", "FATTURA", "FAKTURA",
})  # fmt: skip
# Distinct (reference, day) candidates looked at per cut-off fragment: more is ambiguous anyway.
_CUT_CAP = 32
# Where a bank row's reference was found, as explanations say it ("named in the bank ..."):
# the order of the texts and fields :func:`learn` searches, then a cut-off description.
SOURCES = ("description", "counterparty", "reference number", "payment details",
           "check number", "description, cut off")  # fmt: skip
_DIGIT = re.compile(r"\d")
_DIGITS = re.compile(r"\d+")
_WORD = re.compile(r"[^\W\d_]+|\d+")


def words(text: str) -> list[str]:
    """Upper-case words of ``text``, split at separators and between letters and digits."""
    return _WORD.findall(text.upper())


def compact(text: str) -> str:
    """ "INV/2019/00001", "inv 2019-00001" -> "INV201900001"."""
    return "".join(words(text))


def searchable(reference: str) -> bool:
    """A compact reference distinctive enough to look for inside free text."""
    if len(reference) < MIN_LENGTH or not any(c.isdigit() for c in reference):
        return False
    if reference.isdigit():
        return len(reference) >= MIN_DIGITS_ONLY and not _looks_like_date(reference)
    return True


def _looks_like_date(digits: str) -> bool:
    """YYYYMMDD: bank texts are full of trace numbers and dates in this form."""
    if len(digits) != 8 or digits[:2] not in ("19", "20"):
        return False
    month, day = int(digits[4:6]), int(digits[6:8])
    return 1 <= month <= 12 and 1 <= day <= 31


_NOT_WORD = re.compile(r"[\W_]+")
# A word with letters and digits mixed three times or more (pyarrow's RE2: no look-arounds).
_MIXED_WORD = r"[A-Z][0-9][A-Z]|[0-9][A-Z][0-9]"
_ID_WORDS = 3  # words (at spaces and punctuation) one id may span: "ST-Q4X9M2B7KD1P"
# ASCII punctuation and spaces: str.translate drops them far faster than a regex.
_ASCII_SEPARATORS = str.maketrans(
    "", "", "".join(chr(c) for c in range(128) if not chr(c).isalnum())
)
_LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"


# The same but for the line feed that separates texts compacted together.
_ASCII_SEPARATORS_BUT_LINES = str.maketrans(
    "", "", "".join(chr(c) for c in range(128) if not chr(c).isalnum() and chr(c) != "\n")
)


def _compact_all(texts: list[str]) -> list[str]:
    """:func:`compact` of each text."""
    joined = "\n".join(texts)
    if joined.isascii() and joined.count("\n") == len(texts) - 1:
        # ASCII upper case and the separators go character by character: one pass over all.
        return joined.upper().translate(_ASCII_SEPARATORS_BUT_LINES).split("\n")
    return [
        t.upper().translate(_ASCII_SEPARATORS) if t.isascii() else _NOT_WORD.sub("", t.upper())
        for t in texts
    ]


def _searchable_mask(texts: npt.NDArray[np.str_]) -> BoolArray:
    """:func:`searchable` of each compact text, vectorised."""
    length = np.strings.str_len(texts)
    digits_only = np.strings.isdigit(texts)
    has_digit = ~np.strings.isalpha(texts)  # compact texts hold letters and digits only
    long_enough = length >= np.where(digits_only, MIN_DIGITS_ONLY, MIN_LENGTH)
    mask: BoolArray = long_enough & has_digit
    dates = np.flatnonzero(mask & digits_only & (length == 8))
    mask[dates] = [not _looks_like_date(str(t)) for t in texts[dates]]
    return mask


_EMPTY = np.zeros(0, dtype=np.int64)
_NOTHING = pa.scalar("", type=pa.large_string())  # what joins the words of a run
_MISSING = np.iinfo(np.int64).min  # not a key of the lookup (its values may be negative)


def _numpy(array: pa.Array | pa.ChunkedArray) -> npt.NDArray[np.generic]:
    return np.asarray(array.to_numpy(zero_copy_only=False))


@dataclass(frozen=True)
class Scanned:
    """What :meth:`LedgerReferences.scan_all` found, texts as indexes into the texts scanned:
    (text, ``code * 2 + strong``) for each reference a text names, each once, and (text,
    fragment) for its cut-off candidates, shortest first; both in text order."""

    name_text: IntArray
    names: IntArray
    fragment_text: IntArray
    fragments: ObjArray

    @classmethod
    def empty(cls) -> Scanned:
        return cls(_EMPTY, _EMPTY, _EMPTY, np.zeros(0, dtype=object))

    @classmethod
    def of_lists(cls, names: list[list[int]], fragments: list[list[str]]) -> Scanned:
        """From :meth:`LedgerReferences.scan` results, one per text."""
        fragment_array: ObjArray = np.empty(sum(len(f) for f in fragments), dtype=object)
        fragment_array[:] = [f for found in fragments for f in found]
        return cls(
            np.repeat(np.arange(len(names), dtype=np.int64), [len(n) for n in names]),
            np.array([n for found in names for n in found], dtype=np.int64),
            np.repeat(np.arange(len(fragments), dtype=np.int64), [len(f) for f in fragments]),
            fragment_array,
        )

    def with_names(self, name_text: IntArray, names: IntArray) -> Scanned:
        """These and more names, each (text, name) once in text order; a text that names one
        keeps no cut-off fragments (as :meth:`LedgerReferences.scan`)."""
        if len(name_text) == 0:
            return self
        pairs = unique_pairs(np.r_[self.name_text, name_text], np.r_[self.names, names])
        keep = ~np.isin(self.fragment_text, pairs[0])
        return Scanned(pairs[0], pairs[1], self.fragment_text[keep], self.fragments[keep])

    def renumbered(self, texts: IntArray) -> Scanned:
        """Text k renumbered ``texts[k]``."""
        return Scanned(texts[self.name_text], self.names, texts[self.fragment_text],
                       self.fragments)  # fmt: skip

    @classmethod
    def merged(cls, parts: list[Scanned]) -> Scanned:
        """All of ``parts`` (of distinct texts), in text order."""
        name_text = np.concatenate([p.name_text for p in parts])
        names = np.concatenate([p.names for p in parts])
        fragment_text = np.concatenate([p.fragment_text for p in parts])
        fragments: ObjArray = np.concatenate([p.fragments for p in parts])
        by_name = np.lexsort((names, name_text))
        by_fragment = np.argsort(fragment_text, kind="stable")
        return cls(name_text[by_name], names[by_name], fragment_text[by_fragment],
                   fragments[by_fragment])  # fmt: skip


@dataclass(frozen=True)
class _LookupTables:
    """:class:`LedgerReferences`' look-ups as arrays, for :meth:`LedgerReferences.scan_all`."""

    keys: pa.Array  # the lookup's texts
    values: IntArray  # their codes (negative: shared)
    starts: pa.Array
    check_words: pa.Array
    invoice_words: pa.Array
    shared_start: IntArray  # shared[k] is shared_codes[shared_start[k]:shared_start[k + 1]]
    shared_codes: IntArray
    # The same look-ups as Python sets and dicts: for a few texts, looking each up in these is
    # cheaper than pyarrow hashing every key of a table again (it does on every call).
    key_map: dict[str, int]
    check_map: dict[str, int]  # what a number after a check word may be: short references first
    start_set: frozenset[str]

    @cached_property
    def check_table(self) -> tuple[pa.Array, IntArray]:
        """:attr:`check_map` as (texts, codes) arrays, made when first asked: few numbers follow
        a check word, so most scans look each up in the dict instead."""
        return (
            pa.array(list(self.check_map), type=pa.large_string()),
            np.fromiter(self.check_map.values(), dtype=np.int64, count=len(self.check_map)),
        )

    @classmethod
    def of(cls, refs: LedgerReferences) -> _LookupTables:
        checks = {**refs.lookup, **refs.short}
        sizes = np.array([len(s) for s in refs.shared], dtype=np.int64)
        return cls(
            keys=pa.array(list(refs.lookup), type=pa.large_string()),
            values=np.fromiter(refs.lookup.values(), dtype=np.int64, count=len(refs.lookup)),
            starts=pa.array(list(refs.starts), type=pa.large_string()),  # a set: any order
            check_words=pa.array(sorted(CHECK_WORDS), type=pa.large_string()),
            invoice_words=pa.array(sorted(INVOICE_WORDS), type=pa.large_string()),
            # One more than needed: rows with no shared value index it too (masked out).
            shared_start=np.r_[0, np.cumsum(sizes), sizes.sum()].astype(np.int64),
            shared_codes=np.array([c for s in refs.shared for c in s], dtype=np.int64),
            key_map=refs.lookup, check_map=checks, start_set=refs.starts,
        )

    def lookup(self, texts: pa.Array) -> IntArray:
        """Each text's lookup value, :data:`_MISSING` when it has none."""
        if len(self.values) == 0:
            return np.full(len(texts), _MISSING, dtype=np.int64)
        if len(texts) < len(self.keys):
            found = [self.key_map.get(t, _MISSING) for t in texts.to_pylist()]
            return np.array(found, dtype=np.int64)
        at = _numpy(pc.index_in(texts, value_set=self.keys).fill_null(-1)).astype(np.int64)
        value: IntArray = np.where(at >= 0, self.values[np.maximum(at, 0)], _MISSING)
        return value

    def check_lookup(self, texts: pa.Array) -> IntArray:
        """The code a number after a check word names (short references first), -1 none."""
        if not self.check_map:
            return np.full(len(texts), -1, dtype=np.int64)
        if len(texts) < len(self.check_map):
            found = [self.check_map.get(t, -1) for t in texts.to_pylist()]
            return np.maximum(np.array(found, dtype=np.int64), -1)
        check_keys, check_values = self.check_table
        at = _numpy(pc.index_in(texts, value_set=check_keys).fill_null(-1)).astype(np.int64)
        code = np.where(at >= 0, check_values[np.maximum(at, 0)], -1)
        result: IntArray = np.maximum(code, -1)  # shared digits name none of them here
        return result

    def starts_at(self, words: pa.Array) -> BoolArray:
        """Which ``words`` a name can start with."""
        if len(words) < len(self.starts):
            return np.array([w in self.start_set for w in words.to_pylist()], dtype=bool)
        return np.asarray(
            pc.is_in(words, value_set=self.starts).to_numpy(zero_copy_only=False), dtype=bool
        )

    def width(self, values: IntArray) -> IntArray:
        """How many codes each lookup value stands for."""
        shared = np.maximum(-1 - values, 0)
        result: IntArray = np.where(
            values >= 0, 1, self.shared_start[shared + 1] - self.shared_start[shared]
        )
        return result

    def expand(self, owner: IntArray, values: IntArray) -> tuple[IntArray, IntArray]:
        """(owner, code) for each code each lookup value stands for, in value order."""
        widths = self.width(values)
        at = np.repeat(np.arange(len(values), dtype=np.int64), widths)
        offset = np.arange(len(at), dtype=np.int64) - np.repeat(np.cumsum(widths) - widths, widths)
        value = values[at]
        shared = np.maximum(-1 - value, 0)
        codes = np.where(
            value >= 0, value,
            self.shared_codes[np.minimum(self.shared_start[shared] + offset,
                                         max(len(self.shared_codes) - 1, 0))]
            if len(self.shared_codes) else value,
        )  # fmt: skip
        return owner[at], codes.astype(np.int64)


def _name_starts(names: list[str]) -> set[str]:
    """The first word (:func:`words`) of each name and its first run of digits. ASCII names are
    split column-wise (:func:`recon.engine.normalise.ascii_words`), others by the regexes."""
    plain = np.array([name.isascii() for name in names], dtype=bool)
    split = ascii_words([names[k] for k in np.flatnonzero(plain).tolist()], LETTERS_DIGITS)
    first = np.zeros(len(split.words), dtype=bool)
    first[_first_of_owner(np.arange(len(split.words), dtype=np.int64), split.owner)] = True
    first[_first_of_owner(np.flatnonzero(split.digits), split.owner)] = True
    starts = set(pc.unique(split.words.filter(pa.array(first))).to_pylist())
    for k in np.flatnonzero(~plain).tolist():
        for found in (_WORD.search(names[k].upper()), _DIGITS.search(names[k])):
            if found is not None:
                starts.add(found.group())
    return starts


def _first_of_owner(at: IntArray, owner: IntArray) -> IntArray:
    """The first of ``at`` (ascending word positions) of each owner (``owner`` per word)."""
    owners = owner[at]
    first: IntArray = at[np.r_[True, owners[1:] != owners[:-1]][: len(at)]]
    return first


def _strongest(text: IntArray, code: IntArray, strong: BoolArray) -> tuple[IntArray, IntArray]:
    """(text, ``code * 2 + strong``) for each distinct (text, code), strong when any is."""
    if len(text) == 0:
        return _EMPTY, _EMPTY
    order = np.lexsort((code, text))
    text, code, strong = text[order], code[order], strong[order]
    first = np.flatnonzero(np.r_[True, (text[1:] != text[:-1]) | (code[1:] != code[:-1])])
    any_strong = np.maximum.reduceat(strong.astype(np.int64), first)
    return text[first], code[first] * 2 + any_strong


@dataclass(frozen=True)
class LedgerReferences:
    """The ledger's references in compact form: a code per row and a lookup for bank texts."""

    row_code: IntArray  # per ledger row (input order), -1 none
    compact: ObjArray  # code -> compact reference (sorted, so codes follow the text)
    names: ObjArray  # code -> the reference as the ledger writes it
    searchable: BoolArray  # code -> looked for inside free text
    # compact text (or digits alias) -> its code, or -1 - k for the codes ``shared[k]`` (digits
    # that several references end with: "INV-55119" and "PO 55119")
    lookup: dict[str, int]
    shared: list[tuple[int, ...]]
    short: dict[str, int]  # the other references: only whole fields and check numbers name them
    starts: frozenset[str]  # the words a name can start with
    longest: int  # compact characters of the longest searchable reference

    @classmethod
    def of(cls, references: ObjArray) -> LedgerReferences:
        return cls.of_distinct(Distinct.of(references))

    @classmethod
    def of_distinct(cls, references: Distinct) -> LedgerReferences:
        """:meth:`of` the ledger's reference column, factorised."""
        codes, uniques = references.codes, references.uniques
        spelled = [str(u).strip() for u in uniques]
        values = np.array([*_compact_all(spelled), ""], dtype=object)
        present = np.flatnonzero(values[:-1] != "")
        # Sorted like np.unique: hashed first, then only the distinct values sorted.
        inverse, texts = _sorted_factorize(values[present])
        distinct = texts.astype(str)
        unique_code = np.full(len(values), -1, dtype=np.int64)
        unique_code[present] = inverse
        row_code = unique_code[np.where(codes < 0, len(values) - 1, codes)]
        # The smallest spelling of each compact reference: independent of row order.
        spellings = np.array(spelled, dtype=object)[present]
        spelling_codes = unique_code[present]
        names = filled(len(distinct), "")
        names[spelling_codes] = spellings
        spelling_count = np.bincount(spelling_codes, minlength=len(distinct))
        several = np.flatnonzero(spelling_count[spelling_codes] > 1)
        for at in sorted(several.tolist(), key=lambda i: str(spellings[i]), reverse=True):
            names[spelling_codes[at]] = spellings[at]  # the smallest spelling is set last
        is_searchable = _searchable_mask(distinct)
        lookup: dict[str, int] = dict(
            zip(texts[is_searchable].tolist(), np.flatnonzero(is_searchable).tolist(),
                strict=True)
        )  # fmt: skip
        # A retyped reference keeps its digits: "INVOICE 51204" for "INV-51204".
        alias = np.strings.lstrip(distinct, _LETTERS)
        prefix_length = np.strings.str_len(distinct) - np.strings.str_len(alias)
        has_alias = (prefix_length > 0) & np.strings.isdigit(alias) & _searchable_mask(alias)
        alias_code = np.flatnonzero(has_alias)
        alias_text = alias[alias_code].astype(object)
        taken = np.array([text in lookup for text in alias_text.tolist()], dtype=bool)
        alone = ~pd.Series(alias_text).duplicated(keep=False).to_numpy() & ~taken
        lookup.update(zip(alias_text[alone].tolist(), alias_code[alone].tolist(), strict=True))
        owners: dict[str, list[int]] = {}
        for text, code in zip(alias_text[~alone].tolist(), alias_code[~alone].tolist(),
                              strict=True):  # fmt: skip
            owners.setdefault(text, [] if lookup.get(text) is None else [lookup[text]])
            owners[text].append(code)
        shared: list[tuple[int, ...]] = []
        for text, own in sorted(owners.items()):
            lookup[text] = -1 - len(shared)
            shared.append(tuple(sorted(own)))
        # The first word of each reference as written ("INV" of "INV-51204", "2025" of
        # "2025-054121") and of its digits ("55119" of "PO 55119"): where a name can start.
        first = _name_starts(names[is_searchable | has_alias].tolist())
        short = dict(
            zip(texts[~is_searchable].tolist(), np.flatnonzero(~is_searchable).tolist(),
                strict=True)
        )  # fmt: skip
        longest = int(np.strings.str_len(distinct[is_searchable]).max(initial=0))
        return cls(
            row_code.astype(np.int64), texts, names, is_searchable, lookup, shared, short,
            frozenset(first), longest,
        )  # fmt: skip

    def scan(self, text: str, *, tails: bool) -> tuple[list[int], list[str]]:
        """The references ``text`` names, longest first, each once, as ``code * 2 + strong``
        (:func:`decode`); and, when asked and it names none, its cut-off fragment candidates
        (:data:`CUT_WORDS`).

        A name with letters ("INV51204") is strong evidence, so is a number right after a
        check word ("CHECK # 2396", looked up among short references too); digits alone
        ("STAPLES 53502": a store number?) only ever agree, they never contradict.
        """
        if _DIGIT.search(text) is None:  # every name and fragment holds a digit
            return [], []
        lookup, shared, starts, longest = self.lookup, self.shared, self.starts, self.longest
        tokens = _WORD.findall(text.upper())
        found: dict[int, tuple[int, bool]] = {}
        for i, first in enumerate(tokens):
            if i and first.isdigit() and tokens[i - 1] in CHECK_WORDS:
                code = self.short.get(first, lookup.get(first))
                if code is not None and code >= 0:
                    found[code] = (-len(first), True)
            if first not in starts:
                continue
            run = ""
            for token in tokens[i : i + MAX_WORDS]:
                run += token
                if len(run) > longest:
                    break
                code = lookup.get(run)
                if code is None:
                    continue
                strong = not run.isdigit() or (i > 0 and tokens[i - 1] in INVOICE_WORDS)
                for c in (code,) if code >= 0 else shared[-1 - code]:
                    length, was_strong = found.get(c, (0, False))
                    found[c] = (min(length, -len(run)), was_strong or strong)
        for run, code in self._ids_in(text):
            length, _ = found.get(code, (0, True))
            found[code] = (min(length, -len(run)), True)
        if found:
            order = sorted((length, code) for code, (length, _) in found.items())
            return [code * 2 + found[code][1] for _, code in order], []
        if not tails or not tokens:
            return [], []
        fragments = []
        tail = ""
        for token in reversed(tokens[-CUT_WORDS:]):
            tail = token + tail
            if len(tail) >= MIN_LENGTH and not tail.isalpha():  # words are letters or digits
                fragments.append(tail)
        return [], fragments

    def scan_all(self, texts: list[str], *, tails: bool) -> Scanned:
        """:meth:`scan` of each of ``texts``, as flat arrays.

        ASCII texts (nearly all) are scanned together: their bytes are split into words at once
        (:func:`recon.engine.normalise.ascii_words`), and the runs of words are joined and
        looked up column-wise (pyarrow) instead of by a Python loop per text. Other texts go
        through :meth:`scan` (Unicode case and digit rules).
        """
        plain = np.array([t.isascii() for t in texts], dtype=bool)
        at_plain = np.flatnonzero(plain)
        # The ASCII texts as one pyarrow array, for both column-wise scans.
        plain_texts = pa.array([texts[k] for k in at_plain.tolist()], type=pa.large_string())
        parts = [self._scan_ascii(plain_texts, tails=tails)]
        parts[0] = parts[0].renumbered(at_plain)
        other = np.flatnonzero(~plain)
        if len(other):
            found = [self.scan(texts[k], tails=tails) for k in other.tolist()]
            parts.append(Scanned.of_lists([f[0] for f in found], [f[1] for f in found])
                         .renumbered(other))  # fmt: skip
        ids = self._scan_ids(texts, at_plain, plain_texts, other)
        return Scanned.merged(parts).with_names(*ids)

    @cached_property
    def _ids(self) -> dict[str, int]:
        """Compact reference -> code of the searchable references with letters and digits mixed
        (:data:`_MIXED_WORD`): ids like a processor's payout id "ST-Q4X9M2B7KD1P", whose runs of
        letters or digits the word runs of :meth:`scan_all` cannot span (more than
        ``MAX_WORDS``). A text both find names it once."""
        searchable = np.flatnonzero(self.searchable)
        texts = self.compact[searchable].tolist()
        mixed = np.asarray(
            pc.match_substring_regex(pa.array(texts, type=pa.large_string()), _MIXED_WORD)
            .to_numpy(zero_copy_only=False), dtype=bool,
        )  # fmt: skip
        return dict(zip((texts[k] for k in np.flatnonzero(mixed).tolist()),
                        searchable[mixed].tolist(), strict=True))  # fmt: skip

    def _ids_in(self, text: str) -> list[tuple[str, int]]:
        """(compact run, code) of each of :meth:`_ids` that 1..``_ID_WORDS`` of ``text``'s
        words (split at spaces and punctuation only), joined, spell."""
        ids = self._ids
        if not ids:
            return []
        words = _NOT_WORD.split(text.upper())
        found = []
        for first in range(len(words)):
            run = ""
            for word in words[first : first + _ID_WORDS]:
                run += word
                code = ids.get(run)
                if code is not None:
                    found.append((run, code))
        return found

    def _scan_ids(
        self, texts: list[str], at_plain: IntArray, plain_texts: pa.Array, other: IntArray
    ) -> tuple[IntArray, IntArray]:
        """(text, ``code * 2 + 1``) for each of :meth:`_ids` each text names (strong: an id
        holds letters); only texts with letters and digits mixed in one word are looked at.
        ``plain_texts`` are the ASCII ``texts`` (at ``at_plain``), ``other`` the others."""
        if not self._ids or not texts:
            return _EMPTY, _EMPTY
        mixed = np.asarray(
            pc.match_substring_regex(pc.ascii_upper(plain_texts), _MIXED_WORD)
            .to_numpy(zero_copy_only=False), dtype=bool,
        )  # fmt: skip
        owners, codes = [], []
        # ASCII texts all at once: their words are the runs of letters and digits; every run of
        # 1.._ID_WORDS words is joined and looked up column-wise.
        at_plain = at_plain[mixed]
        split = ascii_words(plain_texts.filter(pa.array(mixed)), ALNUM)
        ids = self._id_table
        first = np.arange(len(split.words), dtype=np.int64)
        run = split.words
        for extra in range(_ID_WORDS):
            if extra:
                nxt = first + extra
                same = nxt < len(split.words)
                same[same] = split.owner[nxt[same]] == split.owner[first[same]]
                first = first[same]
                run = pc.binary_join_element_wise(
                    run.filter(pa.array(same)), split.words.take(pa.array(first + extra)),
                    _NOTHING,
                )  # fmt: skip
            found = _numpy(pc.index_in(run, value_set=ids[0]).fill_null(-1)).astype(np.int64)
            hit = found >= 0
            owners.append(at_plain[split.owner[first[hit]]])
            codes.append(ids[1][found[hit]])
        mixed_word = re.compile(_MIXED_WORD)
        for k in other.tolist():
            if mixed_word.search(texts[k].upper()) is None:
                continue
            named = [code for _, code in self._ids_in(texts[k])]
            owners.append(np.full(len(named), k, dtype=np.int64))
            codes.append(np.array(named, dtype=np.int64))
        return np.concatenate(owners), np.concatenate(codes) * 2 + 1

    @cached_property
    def _id_table(self) -> tuple[pa.Array, IntArray]:
        """:meth:`_ids` as (texts, codes) arrays, for look-ups column-wise."""
        return (
            pa.array(list(self._ids), type=pa.large_string()),
            np.fromiter(self._ids.values(), dtype=np.int64, count=len(self._ids)),
        )

    @cached_property
    def _tables(self) -> _LookupTables:
        return _LookupTables.of(self)

    def _scan_ascii(self, texts: pa.Array, *, tails: bool) -> Scanned:
        """:meth:`scan_all` of ASCII texts."""
        if len(texts) == 0:
            return Scanned.empty()
        tables = self._tables
        split = ascii_words(texts, LETTERS_DIGITS)
        owner, tokens, length, digits = split.owner, split.words, split.length, split.digits
        size = len(tokens)
        found_text, found_code, found_strong = [], [], []
        # A number right after a check word, looked up among short references too.
        after = np.flatnonzero(digits[1:] & (owner[1:] == owner[:-1])) + 1
        check_word = np.asarray(
            pc.is_in(tokens.take(pa.array(after - 1)), value_set=tables.check_words)
            .to_numpy(zero_copy_only=False), dtype=bool,
        )  # fmt: skip
        after = after[check_word]
        code = tables.check_lookup(tokens.take(pa.array(after)))
        hit = code >= 0
        found_text.append(owner[after[hit]])
        found_code.append(code[hit])
        found_strong.append(np.ones(int(hit.sum()), dtype=bool))
        # Runs of 1..MAX_WORDS words starting at a word a name can start with; digits alone
        # are weak unless an invoice word comes right before them.
        start = np.flatnonzero(tables.starts_at(tokens))
        run = tokens.take(pa.array(start))
        run_length = length[start]
        after_invoice_word = np.zeros(len(start), dtype=bool)
        inside = np.flatnonzero(start > 0)
        inside = inside[owner[start[inside] - 1] == owner[start[inside]]]
        after_invoice_word[inside] = np.asarray(
            pc.is_in(tokens.take(pa.array(start[inside] - 1)), value_set=tables.invoice_words)
            .to_numpy(zero_copy_only=False), dtype=bool,
        )  # fmt: skip
        run_weak = digits[start] & ~after_invoice_word
        # Every run first (each extends the one before it), then one look-up of them all.
        runs, run_owner, weak_runs = [], [], []
        for extra in range(MAX_WORDS):
            if extra:
                nxt = start + extra
                same = nxt < size
                same[same] = owner[nxt[same]] == owner[start[same]]
                start, nxt = start[same], nxt[same]
                run = pc.binary_join_element_wise(
                    run.filter(pa.array(same)), tokens.take(pa.array(nxt)), _NOTHING
                )
                run_length = run_length[same] + length[nxt]
                run_weak = run_weak[same] & digits[nxt]
            short_enough = run_length <= self.longest
            if not short_enough.all():
                start, run_length, run_weak = (
                    start[short_enough], run_length[short_enough], run_weak[short_enough]
                )
                run = run.filter(pa.array(short_enough))
            if len(start) == 0:
                break
            runs.append(run)
            run_owner.append(owner[start])
            weak_runs.append(run_weak)
        if runs:
            value = tables.lookup(pa.concat_arrays(runs))
            hits = np.flatnonzero(value != _MISSING)
            texts_hit, codes = tables.expand(np.concatenate(run_owner)[hits], value[hits])
            found_text.append(texts_hit)
            found_code.append(codes)
            found_strong.append(
                np.repeat(~np.concatenate(weak_runs)[hits], tables.width(value[hits]))
            )
        name_text, names = _strongest(
            np.concatenate(found_text), np.concatenate(found_code), np.concatenate(found_strong)
        )
        if not tails:
            return Scanned(name_text, names, _EMPTY, np.zeros(0, dtype=object))
        # Cut-off fragments: the last 1..CUT_WORDS words of texts that name nothing.
        last = np.r_[np.flatnonzero(owner[1:] != owner[:-1]), size - 1] if size else _EMPTY
        last = last[~sets.isin(owner[last], name_text)]
        tail = tokens.take(pa.array(last))
        tail_length = length[last]
        tail_digits = digits[last]
        first = last
        fragment_text, fragments, order = [], [], []
        for words_back in range(CUT_WORDS):
            if words_back:
                first = first - 1
                same = first >= 0
                same[same] = owner[first[same]] == owner[last[same]]
                last, first = last[same], first[same]
                tail = pc.binary_join_element_wise(
                    tokens.take(pa.array(first)), tail.filter(pa.array(same)), _NOTHING
                )
                tail_length = tail_length[same] + length[first]
                tail_digits = tail_digits[same] | digits[first]
            kept = np.flatnonzero((tail_length >= MIN_LENGTH) & tail_digits)
            fragment_text.append(owner[last[kept]])
            fragments.append(np.asarray(tail.take(pa.array(kept)).to_pylist(), dtype=object))
            order.append(np.full(len(kept), words_back, dtype=np.int64))
        text_of = np.concatenate(fragment_text)
        by_text = np.lexsort((np.concatenate(order), text_of))
        all_fragments: ObjArray = np.concatenate(fragments)[by_text]
        return Scanned(name_text, names, text_of[by_text], all_fragments)

    def whole_field(self, text: str) -> list[int]:
        """The reference a check number field holds whole, searchable or not, as
        ``code * 2 + 1`` (strong: :func:`decode`)."""
        compacted = compact(text)
        code = self.short.get(compacted, self.lookup.get(compacted)) if compacted else None
        if code is None:
            return []
        return [2 * c + 1 for c in ((code,) if code >= 0 else self.shared[-1 - code])]


def decode(values: IntArray) -> tuple[IntArray, BoolArray]:
    """(codes, strong) of ``code * 2 + strong`` values."""
    return values >> 1, (values & 1).astype(bool)


def _per_row(
    value_codes: IntArray, distinct: int, owner: IntArray, items: npt.NDArray[np.generic]
) -> tuple[IntArray, npt.NDArray[np.generic]]:
    """(row, item) for each item found per distinct value, for every row holding the value,
    rows in order; ``value_codes`` are the rows' codes of ``pd.factorize`` (``distinct``
    values, -1 missing) and ``items[i]`` belongs to value ``owner[i]`` (``owner`` ascending)."""
    counts = np.bincount(owner, minlength=distinct + 1).astype(np.int64)
    counts[distinct:] = 0  # the trailing count: rows with a missing value
    starts = np.r_[0, np.cumsum(counts)[:-1]].astype(np.int64)
    value_codes = np.where(value_codes < 0, distinct, value_codes)
    per_row = counts[value_codes]
    row = np.repeat(np.arange(len(value_codes), dtype=np.int64), per_row)
    offset = np.arange(int(per_row.sum()), dtype=np.int64) - np.repeat(
        np.cumsum(per_row) - per_row, per_row
    )
    return row, items[np.repeat(starts[value_codes], per_row) + offset]


def bank_names(
    ledger_refs: LedgerReferences,
    texts: Sequence[Distinct],
    fields: Sequence[Distinct],
) -> tuple[IntArray, IntArray, IntArray, IntArray, ObjArray]:
    """Every (bank row, code) named, rows in input order: ``texts`` (the description first)
    are searched for word runs, ``fields`` (check numbers) must hold a reference whole.

    Returns (rows, ``code * 2 + strong`` values: :func:`decode`, source: the index into
    ``texts`` + ``fields`` of the first one naming it) with each (row, code) once, strong when
    any source names it strongly; and (rows, fragments): the cut-off fragment candidates of
    descriptions that name nothing.
    """
    codes, uniques = texts[0].codes, texts[0].uniques
    scanned = ledger_refs.scan_all([str(u) for u in uniques], tails=True)
    row, value = _per_row(codes, len(uniques), scanned.name_text, scanned.names)
    fragment_rows, fragment_items = _per_row(
        codes, len(uniques), scanned.fragment_text, scanned.fragments
    )
    fragments: ObjArray = fragment_items.astype(object, copy=False)
    rows, values, sources = [row], [value], [np.zeros(len(row), dtype=np.int64)]
    for source, column in enumerate([*texts[1:], *fields], start=1):
        codes, uniques = column.codes, column.uniques
        if source < len(texts):
            found = ledger_refs.scan_all([str(u) for u in uniques], tails=False)
            owner, items = found.name_text, found.names
        else:
            lists = [ledger_refs.whole_field(str(u)) for u in uniques]
            owner = np.repeat(np.arange(len(lists), dtype=np.int64), [len(f) for f in lists])
            items = np.array([v for found_here in lists for v in found_here], dtype=np.int64)
        row, value = _per_row(codes, len(uniques), owner, items)
        rows.append(row)
        values.append(value)
        sources.append(np.full(len(row), source, dtype=np.int64))
    all_rows = np.concatenate(rows)
    all_values = np.concatenate(values).astype(np.int64)
    all_sources = np.concatenate(sources)
    codes, strong = decode(all_values)
    order = np.lexsort((all_sources, codes, all_rows))
    all_rows, codes, strong, all_sources = (
        all_rows[order], codes[order], strong[order], all_sources[order]
    )
    first = np.r_[True, (all_rows[1:] != all_rows[:-1]) | (codes[1:] != codes[:-1])]
    starts = np.flatnonzero(first[: len(all_rows)])
    any_strong = (
        np.maximum.reduceat(strong.astype(np.int64), starts)
        if len(starts) else np.zeros(0, dtype=np.int64)
    )  # fmt: skip
    return (
        all_rows[starts], codes[starts] * 2 + any_strong, all_sources[starts],
        fragment_rows, fragments,
    )  # fmt: skip


def cut_names(
    ledger_refs: LedgerReferences,
    fragment_rows: IntArray,
    fragments: ObjArray,
    bank_block: IntArray,
    bank_date: IntArray,
    ledger_block: IntArray,
    ledger_date: IntArray,
    ledger_code: IntArray,
    *,
    days_before: int,
    days_after: int,
) -> tuple[IntArray, IntArray, ObjArray]:
    """(bank row, code, fragment) for fragments that start exactly one reference held in the
    bank row's block within the window (bank date ``days_before`` earlier to ``days_after``
    later than the ledger date). Positions index the arrays given (any one order per side)."""
    empty = np.zeros(0, dtype=np.int64)
    if len(fragment_rows) == 0 or len(ledger_refs.compact) == 0:
        return empty, empty, np.zeros(0, dtype=object)
    # Ledger rows as distinct (block, code, day): a payout's many sales are one candidate.
    held = np.flatnonzero((ledger_code >= 0) & ledger_refs.searchable[np.maximum(ledger_code, 0)])
    width = int(ledger_date.max(initial=0)) - int(ledger_date.min(initial=0)) + 1
    day0 = int(ledger_date.min(initial=0))
    triple = (ledger_block[held] * len(ledger_refs.compact) + ledger_code[held]) * width + (
        ledger_date[held] - day0
    )
    triple = sets.unique(triple)
    l_day = triple % width + day0
    l_code = (triple // width) % len(ledger_refs.compact)
    l_block = triple // width // len(ledger_refs.compact)
    compact = pa.array(ledger_refs.compact.tolist(), type=pa.large_string())
    ref_len = _numpy(pc.utf8_length(compact)).astype(np.int64)
    # Each distinct fragment once: its text, length and key (its rank among those as long).
    fragment_code, fragment_values = pd.factorize(fragments)
    fragment_texts = pa.array(fragment_values.tolist(), type=pa.large_string())
    text_len = _numpy(pc.utf8_length(fragment_texts)).astype(np.int64)
    frag_len = text_len[fragment_code]
    rank = np.zeros(len(fragment_texts), dtype=np.int64)
    out_rows, out_codes, out_fragments = [], [], []
    for length in np.unique(text_len).tolist():
        asking = np.flatnonzero(frag_len == length)
        of_length = np.flatnonzero(text_len == length)
        rank[of_length] = np.arange(len(of_length), dtype=np.int64)
        # The fragment (its rank) each reference longer than it starts with, -1 none: found
        # once per distinct reference.
        codes_longer = np.flatnonzero(ref_len > length)
        starts_with = _numpy(pc.index_in(
            pc.utf8_slice_codeunits(compact.take(pa.array(codes_longer)), 0, length),
            value_set=fragment_texts.take(pa.array(of_length)),
        ).fill_null(-1)).astype(np.int64)  # fmt: skip
        fragment_of_code = np.full(len(ledger_refs.compact), -1, dtype=np.int64)
        fragment_of_code[codes_longer] = starts_with
        longer = np.flatnonzero(fragment_of_code[l_code] >= 0)
        if len(longer) == 0:
            continue
        bank_key, ledger_key = rank[fragment_code[asking]], fragment_of_code[l_code[longer]]
        key_width = keys.width(bank_key, ledger_key)
        bank_rows = fragment_rows[asking]
        b, at, counts = keyed_window_pairs_and_counts(
            asking, keys.combine(bank_block[bank_rows], bank_key, key_width),
            bank_date[bank_rows],
            longer, keys.combine(l_block[longer], ledger_key, key_width), l_day[longer],
            days_before=days_before, days_after=days_after, cap=_CUT_CAP,
        )  # fmt: skip
        if len(b) == 0:
            continue
        # Exactly one distinct reference among the (uncapped) candidates.
        fragment_at, code = unique_pairs(b, l_code[at])
        distinct = np.bincount(fragment_at, minlength=len(fragments))
        capped = np.zeros(len(fragments), dtype=bool)
        capped[asking] = counts > _CUT_CAP
        one = (distinct[fragment_at] == 1) & ~capped[fragment_at]
        out_rows.append(fragment_rows[fragment_at[one]])
        out_codes.append(code[one])
        out_fragments.append(fragments[fragment_at[one]])
    if not out_rows:
        return empty, empty, np.zeros(0, dtype=object)
    return np.concatenate(out_rows), np.concatenate(out_codes), np.concatenate(out_fragments)


def reference_evidence(
    bank: Side, ledger: Side, b: IntArray, lg: IntArray
) -> tuple[BoolArray, BoolArray]:
    """(agree, contradict) per candidate pair: the bank row names the ledger row's reference;
    or it names references (one of them strongly: with letters, or a check number), the ledger
    row has one, and it is none of them; or the bank's reference field holds a reference in the
    company's format that no ledger row holds (:func:`other_references`) while the ledger row
    has one."""
    if len(b) == 0:
        nothing = np.zeros(0, dtype=bool)
        return nothing, nothing
    own = ledger.named_reference[lg]
    primary = bank.named_reference[b]
    agree = (own >= 0) & (primary == own)
    several, named = bank.named_pair_keys
    check = np.flatnonzero(several[b] & ~agree & (own >= 0))
    if len(check):  # then named holds pairs: several rows name some
        wanted = (b[check] << 32) | own[check]
        at = np.minimum(np.searchsorted(named, wanted), len(named) - 1)
        agree[check] = named[at] == wanted
    strong = bank.named_strong[b] if len(bank.named_strong) else np.zeros(len(b), dtype=bool)
    if len(bank.other_reference):
        strong = strong | (bank.other_reference[b] != "")
    contradict = strong & (own >= 0) & ~agree
    return agree, contradict


def learn(
    bank_texts: FrameTexts,
    ledger_texts: FrameTexts,
    bank: Side,
    ledger: Side,
    bank_block: IntArray,
    ledger_block: IntArray,
    *,
    days_before: int,
    days_after: int,
) -> tuple[Side, Side]:
    """Both sides with the references they name filled in (see the module docstring).

    The texts are those of the frames :func:`recon.engine.normalise.prepare` built the sides
    from;
    ``*_block`` are the sides' account-and-currency codes; the window (bank date ``days_before``
    earlier to ``days_after`` later than the ledger date) bounds the cut-off search.
    """
    ledger_refs = LedgerReferences.of_distinct(ledger_texts.distinct("reference"))
    ledger_code = ledger_refs.row_code[ledger.input_row]
    to_position = np.empty(len(bank), dtype=np.int64)
    to_position[bank.input_row] = np.arange(len(bank), dtype=np.int64)
    reference_field = bank_texts.distinct("reference")
    rows, values, sources, fragment_rows, fragments = bank_names(
        ledger_refs,
        [bank_texts.distinct("description"), bank_texts.distinct("counterparty"),
         reference_field, bank_texts.distinct(PAYMENT_DETAILS)],
        [bank_texts.distinct(CHECK_NUMBER)],
    )  # fmt: skip
    codes, strong = decode(values)
    lengths = np.array([len(ledger_refs.compact[c]) for c in codes.tolist()], dtype=np.int64)
    rows = to_position[rows]
    # Cut-off fragments only where nothing names a reference whole.
    fragment_rows = to_position[fragment_rows]
    named_whole = np.zeros(len(bank), dtype=bool)
    named_whole[rows] = True
    keep = ~named_whole[fragment_rows]
    cut_rows, cut_codes, cut_texts = cut_names(
        ledger_refs, fragment_rows[keep], fragments[keep], bank_block, bank.date,
        ledger_block, ledger.date, ledger_code, days_before=days_before, days_after=days_after,
    )  # fmt: skip
    # A row with several fragments naming different references names none of them.
    if len(cut_rows):
        cut_rows, cut_codes, cut_texts = _one_per_row(cut_rows, cut_codes, cut_texts)
    reference_cut = filled(len(bank), "")
    reference_cut[cut_rows] = cut_texts
    cut_strong = np.array([not t.isdigit() for t in cut_texts.tolist()], dtype=bool)
    all_rows = np.concatenate([rows, cut_rows])
    all_codes = np.concatenate([codes, cut_codes])
    all_lengths = np.concatenate([lengths, np.zeros(len(cut_rows), dtype=np.int64)])
    order = np.lexsort((all_codes, -all_lengths, all_rows))
    all_sources = np.concatenate([sources, np.full(len(cut_rows), len(SOURCES) - 1)])
    named = np.full(len(bank), -1, dtype=np.int64)
    named_in = np.full(len(bank), -1, dtype=np.int64)
    if len(all_rows):
        sorted_rows = all_rows[order]
        starts = np.r_[True, sorted_rows[1:] != sorted_rows[:-1]]
        named[sorted_rows[starts]] = all_codes[order][starts]
        named_in[sorted_rows[starts]] = all_sources[order][starts]
    reference_source = filled(len(bank), "")
    reference_source[named_in >= 0] = np.array(SOURCES, dtype=object)[named_in[named_in >= 0]]
    named_strong = np.zeros(len(bank), dtype=bool)
    named_strong[np.concatenate([rows[strong], cut_rows[cut_strong]])] = True
    pair_rows, pair_codes = unique_pairs(all_rows, all_codes)
    other = other_references(reference_field, ledger_refs)[bank.input_row]
    other[named >= 0] = ""
    return (
        replace(
            bank, named_reference=named, named_pairs=(pair_rows, pair_codes),
            named_strong=named_strong, reference_cut=reference_cut,
            reference_source=reference_source,
            reference_names=ledger_refs.names, other_reference=other,
        ),
        replace(ledger, named_reference=ledger_code, reference_names=ledger_refs.names),
    )  # fmt: skip


_PREFIX = re.compile(r"[A-Z]{2,}")


def other_references(values: Distinct, ledger_refs: LedgerReferences) -> ObjArray:
    """Per value of a bank's reference field: the value when it is a reference in the
    company's own format that no ledger row holds, nor starts (the bank may cut it short), nor
    ends in the digits of (a payer retyping INV/2025/00540 as "INV/2025 202500540"), else "".
    The format is a ledger reference's letters before its first digit ("INV" of INV-1002)
    followed by at least three digits, so a bank's own ids (a wire's FT2501020001234, a trace
    number) never count."""
    known = [str(t) for t in ledger_refs.compact.tolist()]  # sorted already
    is_prefix = _format_prefixes(ledger_refs.compact, known)
    codes, distinct = values.codes, values.uniques
    known_digits: set[str] | None = None  # built when a value gets that far
    found_other = filled(len(distinct) + 1, "")  # the last: missing values (code -1)
    for k, value in enumerate(str(v) for v in distinct):
        text = compact(value)
        head = _PREFIX.match(text)
        if head is None or not is_prefix(head.group(0)):
            continue
        digits = text[head.end():]
        if not digits.isdigit() or len(digits) < 3 or _starts_some(known, text):
            continue
        if known_digits is None:
            known_digits = {d for d in _digits_of(known) if len(d) >= 4}
        if not any(digits[-n:] in known_digits for n in range(4, len(digits) + 1)):  # retyped
            found_other[k] = value.strip()
    result: ObjArray = found_other[codes]
    return result


def _format_prefixes(compact_refs: ObjArray, known: list[str]) -> Callable[[str], bool]:
    """Whether letters are a reference format's prefix: some reference's letters (2+) before
    a digit. ``known``: the compact references, sorted."""
    if "".join(known).isascii():
        # Only A-Z and 0-9: the references of prefix P are those from P + "0" up to P + ":".
        def starts_a_number(head: str) -> bool:
            at = bisect.bisect_left(known, head + "0")
            return at < len(known) and known[at] < head + ":"

        return starts_a_number
    compact_u = compact_refs.astype(str)
    after_letters = np.strings.lstrip(compact_u, _LETTERS)
    letters = np.strings.str_len(compact_u) - np.strings.str_len(after_letters)
    # _PREFIX followed by a digit: letters (2+) then a digit.
    formatted = (letters >= 2) & np.strings.isdigit(np.strings.slice(after_letters, 0, 1))
    prefixes = set(np.strings.slice(compact_u[formatted], 0, letters[formatted]).tolist())
    return prefixes.__contains__


_NO_ASCII_LETTERS = str.maketrans("", "", _LETTERS)


def _digits_of(compacted: list[str]) -> list[str]:
    """The digits of each compact text, in order (an ASCII one holds only A-Z and digits)."""
    joined = "\n".join(compacted)
    if joined.isascii():  # compact texts hold no line feeds: one pass over all
        return joined.translate(_NO_ASCII_LETTERS).split("\n") if compacted else []
    return ["".join(filter(str.isdigit, text)) for text in compacted]


def _starts_some(ordered: list[str], text: str) -> bool:
    """Whether ``text`` is one of ``ordered`` (sorted) or the start of one: a reference the
    bank cut short is no other reference."""
    at = bisect.bisect_left(ordered, text)
    return at < len(ordered) and ordered[at].startswith(text)


def _one_per_row(
    rows: IntArray, codes: IntArray, texts: ObjArray
) -> tuple[IntArray, IntArray, ObjArray]:
    """Rows whose fragments all point at one reference, with the longest such fragment."""
    lengths = np.array([len(t) for t in texts.tolist()], dtype=np.int64)
    order = np.lexsort((-lengths, rows))
    rows, codes, texts = rows[order], codes[order], texts[order]
    pair_rows, _ = unique_pairs(rows, codes)
    distinct = np.bincount(pair_rows, minlength=int(rows.max()) + 1)
    first = np.r_[True, rows[1:] != rows[:-1]]
    keep = first & (distinct[rows] == 1)
    return rows[keep], codes[keep], texts[keep]
