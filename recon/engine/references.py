"""References learned from the ledger: which ledger references each bank row names.

Every distinct reference in the ledger's reference column, in whatever format the company
writes it ("INV-51204", "AR-3310", "INV/2019/00001", "RF18 5390 0754", "PO 55012", vendor
numbers), is a name a bank row can mention. Both sides are compared in one *compact* form:
upper case, letters and digits only, so "INV/2019/00001", "INV 2019 00001" and "INV2019-00001"
are all "INV201900001".

A bank row names a reference when a run of consecutive words of its description, counterparty,
reference (``payment_meta.reference_number``), ``check_number`` or payment details
(``payment_meta.reason``), compacted, equals it. Words split at anything but letters and
digits and between letters and digits ("INV51204" is "INV" "51204"), so a match never starts or
ends inside a word: "51204" is named by "PAYMENT 51204" and by "INV51204", never by "9951204".
The lookup is one hash lookup per word run of each distinct text: never ledger rows x bank rows.

A reference a payer retypes without its letters ("INVOICE 51204" for "INV-51204") is named by
its digits when they are 5 or more and no other reference has the same digits.

**Cut off**: banks truncate descriptions, often mid-reference ("... OFFICE DEPOT INV-73"). The
last one to three words of a description, compacted, with 4+ characters and a digit, name the
reference they are the start of when exactly one such reference is held by a ledger row of the
bank row's account and currency within ``window`` days (searched per fragment length with the
same keyed date-window join the passes use).

**Not searched** (they would name something in every other text): references of fewer than 4
characters, without a digit (words), or all digits and fewer than 5 ("2019", "1042" in free
text). Such references still link through the reference column (``reference`` codes) and
through a whole ``check_number`` or ``reference`` field that equals them. A reference many
ledger rows share (a payout id on each sale) is one code: a bank row naming it names all of
those rows, which is what the aggregate passes group by.

API (arrays on :class:`recon.engine.normalise.Side`, one code space for both sides, codes ranked
by the compact text so they never depend on row order):

- ``ledger.named_reference[i]``: the code of ledger row i's own reference, -1 none;
- ``bank.named_reference[j]``: the code of the reference bank row j names, -1 none (the
  longest when it names several; all of them are in ``bank.named_pairs``);
- ``bank.named_pairs``: (bank positions, codes), every reference every bank row names;
- ``bank.reference_cut[j]``: the fragment ("INV73") when the reference was found cut off, "";
- ``side.reference_names[code]``: the reference as the ledger writes it, for explanations.

:func:`reference_evidence` tells, for candidate pairs, whether the bank row names the ledger
row's reference (agreement) or names only other references while the ledger row has one
(contradiction: never auto-confirmed, and scored below a pair without contradiction).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd

from recon.engine import keys
from recon.engine.candidates import keyed_window_pairs_and_counts, unique_pairs
from recon.engine.normalise import BoolArray, IntArray, ObjArray, Side, filled
from recon.frames import CHECK_NUMBER, PAYMENT_DETAILS

MIN_LENGTH = 4  # compact characters a searched reference (or a cut-off fragment) needs at least
MIN_DIGITS_ONLY = 5  # an all-digit reference needs this many to be searched in free text
MAX_WORDS = 6  # words one reference may span in a bank text
CUT_WORDS = 3  # last words of a description tried as a cut-off fragment
CHECK_WORDS = frozenset({"CHECK", "CHK", "CHQ", "CHEQUE", "CK"})  # "CHECK # 2396"
# Distinct (reference, day) candidates looked at per cut-off fragment: more is ambiguous anyway.
_CUT_CAP = 32
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


_NOT_WORD = r"[\W_]+"
_DATE = r"^(?:19|20)\d\d(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])$"


def _searchable_mask(texts: pd.Series) -> BoolArray:
    """:func:`searchable` of each compact text, vectorised."""
    length = texts.str.len().to_numpy()
    digits_only = texts.str.isdigit().to_numpy(dtype=bool)
    has_digit = texts.str.contains(r"\d", regex=True).to_numpy(dtype=bool)
    date_like = texts.str.contains(_DATE, regex=True).to_numpy(dtype=bool)
    mask: BoolArray = (
        (length >= MIN_LENGTH) & has_digit
        & (~digits_only | ((length >= MIN_DIGITS_ONLY) & ~date_like))
    )  # fmt: skip
    return mask


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
    starts: frozenset[str]  # the first word of a searchable reference that starts with letters
    max_words: int

    @classmethod
    def of(cls, references: ObjArray) -> LedgerReferences:
        codes, uniques = pd.factorize(references)
        spelled = pd.Series(np.asarray(uniques, dtype=object), dtype=object)
        compacted = spelled.str.upper().str.replace(_NOT_WORD, "", regex=True)
        present = (compacted != "").to_numpy()
        values = compacted.to_numpy(dtype=object)
        distinct_u, inverse = np.unique(values[present].astype(str), return_inverse=True)
        unique_code = np.full(len(values) + 1, -1, dtype=np.int64)
        unique_code[np.flatnonzero(present)] = inverse
        row_code = unique_code[np.where(codes < 0, len(values), codes)]
        distinct = pd.Series(distinct_u.astype(object), dtype=object)
        # The smallest spelling of each compact reference: independent of row order.
        spellings = spelled.str.strip().to_numpy(dtype=object)[present]
        spelling_codes = unique_code[:-1][present]
        by_text = np.argsort(spellings.astype(str), kind="stable")
        by_code = by_text[np.argsort(spelling_codes[by_text], kind="stable")]
        names = filled(len(distinct), "")
        names[spelling_codes[by_code[::-1]]] = spellings[by_code[::-1]]  # the first one wins
        is_searchable = _searchable_mask(distinct)
        lookup: dict[str, int] = dict(
            zip(distinct[is_searchable].tolist(), np.flatnonzero(is_searchable).tolist(),
                strict=True)
        )  # fmt: skip
        # A retyped reference keeps its digits: "INVOICE 51204" for "INV-51204".
        alias = distinct.str.replace(r"^[A-Z]+", "", regex=True)
        has_alias = (alias != distinct).to_numpy() & _searchable_mask(alias)
        has_alias = has_alias & alias.str.isdigit().to_numpy(dtype=bool)
        alias_code = np.flatnonzero(has_alias)
        alias_text = alias.to_numpy(dtype=object)[alias_code]
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
        searchable_names = distinct[is_searchable]
        first = searchable_names.str.extract(r"^([^\W\d_]+)", expand=False).dropna()
        spans = pd.Series(names[is_searchable], dtype=object).str.count(r"[^\W\d_]+|\d+")
        short = dict(
            zip(distinct[~is_searchable].tolist(), np.flatnonzero(~is_searchable).tolist(),
                strict=True)
        )  # fmt: skip
        return cls(
            row_code.astype(np.int64), distinct.to_numpy(dtype=object), names, is_searchable,
            lookup, shared, short, frozenset(first.tolist()),
            min(max(int(spans.max()) if len(spans) else 1, 1), MAX_WORDS),
        )  # fmt: skip

    def scan(self, text: str, *, tails: bool) -> tuple[list[int], list[str]]:
        """The references ``text`` names, longest first, each once, as ``code * 2 + strong``
        (:func:`decode`); and, when asked and it names none, its cut-off fragment candidates
        (:data:`CUT_WORDS`).

        A name with letters ("INV51204") is strong evidence, so is a number right after a
        check word ("CHECK # 2396", looked up among short references too); digits alone
        ("STAPLES 53502": a store number?) only ever agree, they never contradict.
        """
        lookup, shared, starts, most = self.lookup, self.shared, self.starts, self.max_words
        tokens = _WORD.findall(text.upper())
        found: dict[int, tuple[int, bool]] = {}
        for i, first in enumerate(tokens):
            if i and first.isdigit() and tokens[i - 1] in CHECK_WORDS:
                code = self.short.get(first, lookup.get(first))
                if code is not None and code >= 0:
                    found[code] = (-len(first), True)
            if not (first[0].isdigit() or first in starts):
                continue
            run = ""
            for token in tokens[i : i + most]:
                run += token
                code = lookup.get(run)
                if code is None:
                    continue
                strong = not run.isdigit()
                for c in (code,) if code >= 0 else shared[-1 - code]:
                    length, was_strong = found.get(c, (0, False))
                    found[c] = (min(length, -len(run)), was_strong or strong)
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
    values: ObjArray, found: list[list[Any]], size: int
) -> tuple[IntArray, ObjArray]:
    """(row, item) for each item found per distinct value, for every row holding the value;
    ``found[k]`` belongs to the k-th value of ``pd.factorize(values)``."""
    value_codes, _ = pd.factorize(values)
    counts = np.array([len(f) for f in found] + [0], dtype=np.int64)
    flat = np.empty(int(counts.sum()), dtype=object)
    flat[:] = [item for items in found for item in items]
    starts = np.r_[0, np.cumsum(counts)[:-1]].astype(np.int64)
    value_codes = np.where(value_codes < 0, len(found), value_codes)
    per_row = counts[value_codes]
    row = np.repeat(np.arange(size, dtype=np.int64), per_row)
    offset = np.arange(int(per_row.sum()), dtype=np.int64) - np.repeat(
        np.cumsum(per_row) - per_row, per_row
    )
    items: ObjArray = flat[np.repeat(starts[value_codes], per_row) + offset]
    return row, items


def bank_names(
    ledger_refs: LedgerReferences,
    descriptions: ObjArray,
    free_texts: Iterable[ObjArray],
    fields: Iterable[ObjArray],
) -> tuple[IntArray, IntArray, IntArray, ObjArray]:
    """Every (bank row, code) named, rows in input order: ``descriptions`` and ``free_texts``
    are searched for word runs, ``fields`` (check numbers) must hold a reference whole.

    Returns (rows, ``code * 2 + strong`` values: :func:`decode`) with each (row, value) once,
    and (rows, fragments): the cut-off fragment candidates of descriptions that name nothing.
    """
    size = len(descriptions)
    _, uniques = pd.factorize(descriptions)
    scanned = [ledger_refs.scan(str(u), tails=True) for u in uniques]
    row, code = _per_row(descriptions, [s[0] for s in scanned], size)
    fragment_rows, fragments = _per_row(descriptions, [s[1] for s in scanned], size)
    rows, codes = [row], [code]
    for texts in free_texts:
        _, uniques = pd.factorize(texts)
        row, code = _per_row(texts, [ledger_refs.scan(str(u), tails=False)[0] for u in uniques],
                             size)  # fmt: skip
        rows.append(row)
        codes.append(code)
    for texts in fields:
        _, uniques = pd.factorize(texts)
        row, code = _per_row(texts, [ledger_refs.whole_field(str(u)) for u in uniques], size)
        rows.append(row)
        codes.append(code)
    pair_rows, pair_codes = unique_pairs(
        np.concatenate(rows), np.concatenate(codes).astype(np.int64)
    )
    return pair_rows, pair_codes, fragment_rows, fragments


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
    triple = np.unique(triple)
    l_day = triple % width + day0
    l_code = (triple // width) % len(ledger_refs.compact)
    l_block = triple // width // len(ledger_refs.compact)
    ref_bytes = np.array([t.encode() for t in ledger_refs.compact.tolist()], dtype=object)
    frag_bytes = np.array([f.encode() for f in fragments.tolist()], dtype=object)
    frag_len = np.array([len(f) for f in frag_bytes.tolist()], dtype=np.int64)
    ref_len = np.array([len(r) for r in ref_bytes.tolist()], dtype=np.int64)
    out_rows, out_codes, out_fragments = [], [], []
    for length in np.unique(frag_len).tolist():
        asking = np.flatnonzero(frag_len == length)
        longer = np.flatnonzero(ref_len[l_code] > length)
        if len(longer) == 0:
            continue
        prefix = np.array([r[:length] for r in ref_bytes[l_code[longer]].tolist()], dtype=object)
        wanted = pd.Series(prefix).isin(frag_bytes[asking]).to_numpy()
        longer, prefix = longer[wanted], prefix[wanted]
        if len(longer) == 0:
            continue
        bank_key, ledger_key = keys.joint_codes(frag_bytes[asking], prefix)
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
    row has one, and it is none of them."""
    if len(b) == 0:
        nothing = np.zeros(0, dtype=bool)
        return nothing, nothing
    own = ledger.named_reference[lg]
    primary = bank.named_reference[b]
    agree = (own >= 0) & (primary == own)
    rows, codes = bank.named_pairs
    several = np.zeros(len(bank), dtype=bool)
    several[rows[1:][rows[1:] == rows[:-1]]] = True
    check = np.flatnonzero(several[b] & ~agree & (own >= 0))
    if len(check):
        width = int(max(int(codes.max(initial=0)), int(own.max(initial=0)))) + 1
        named = rows * width + codes
        agree[check] = np.isin(b[check] * width + own[check], named)
    strong = bank.named_strong[b] if len(bank.named_strong) else np.zeros(len(b), dtype=bool)
    contradict = strong & (own >= 0) & ~agree
    return agree, contradict


def _column(frame: pd.DataFrame, name: str) -> ObjArray:
    if name not in frame.columns:
        return filled(len(frame), "")
    values = frame[name]
    if isinstance(values.dtype, pd.StringDtype):
        return values.to_numpy(dtype=object, na_value="")
    return values.fillna("").astype(str).to_numpy(dtype=object)


def learn(
    bank_frame: pd.DataFrame,
    ledger_frame: pd.DataFrame,
    bank: Side,
    ledger: Side,
    bank_block: IntArray,
    ledger_block: IntArray,
    *,
    days_before: int,
    days_after: int,
) -> tuple[Side, Side]:
    """Both sides with the references they name filled in (see the module docstring).

    The frames are the ones :func:`recon.engine.normalise.prepare` built the sides from;
    ``*_block`` are the sides' account-and-currency codes; the window (bank date ``days_before``
    earlier to ``days_after`` later than the ledger date) bounds the cut-off search.
    """
    ledger_refs = LedgerReferences.of(_column(ledger_frame, "reference"))
    ledger_code = ledger_refs.row_code[ledger.input_row]
    to_position = np.empty(len(bank), dtype=np.int64)
    to_position[bank.input_row] = np.arange(len(bank), dtype=np.int64)
    rows, values, fragment_rows, fragments = bank_names(
        ledger_refs,
        _column(bank_frame, "description"),
        [_column(bank_frame, "counterparty"), _column(bank_frame, "reference"),
         _column(bank_frame, PAYMENT_DETAILS)],
        [_column(bank_frame, CHECK_NUMBER)],
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
    named = np.full(len(bank), -1, dtype=np.int64)
    if len(all_rows):
        sorted_rows = all_rows[order]
        starts = np.r_[True, sorted_rows[1:] != sorted_rows[:-1]]
        named[sorted_rows[starts]] = all_codes[order][starts]
    named_strong = np.zeros(len(bank), dtype=bool)
    named_strong[np.concatenate([rows[strong], cut_rows[cut_strong]])] = True
    pair_rows, pair_codes = unique_pairs(all_rows, all_codes)
    return (
        replace(
            bank, named_reference=named, named_pairs=(pair_rows, pair_codes),
            named_strong=named_strong, reference_cut=reference_cut,
            reference_names=ledger_refs.names,
        ),
        replace(ledger, named_reference=ledger_code, reference_names=ledger_refs.names),
    )  # fmt: skip


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
