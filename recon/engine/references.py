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


def _digits_alias(reference: str) -> str:
    """The digits a payer keeps when retyping ("INV51204" -> "51204"), or "" when none apply."""
    stripped = reference.lstrip("ABCDEFGHIJKLMNOPQRSTUVWXYZ")
    if stripped == reference or not stripped.isdigit() or not searchable(stripped):
        return ""
    return stripped


@dataclass(frozen=True)
class LedgerReferences:
    """The ledger's references in compact form: a code per row and a lookup for bank texts."""

    row_code: IntArray  # per ledger row (input order), -1 none
    compact: ObjArray  # code -> compact reference (sorted, so codes follow the text)
    names: ObjArray  # code -> the reference as the ledger writes it
    searchable: BoolArray  # code -> looked for inside free text
    lookup: dict[str, tuple[int, ...]]  # compact text (or digits alias) -> codes it names
    max_words: int

    @classmethod
    def of(cls, references: ObjArray) -> LedgerReferences:
        codes, uniques = pd.factorize(references)
        spelled = np.asarray(uniques, dtype=object)
        compacted = np.array([compact(str(u)) for u in spelled], dtype=object)
        distinct = sorted(set(compacted.tolist()) - {""})
        code_of = {text: code for code, text in enumerate(distinct)}
        unique_code = np.array([code_of.get(c, -1) for c in compacted] + [-1], dtype=np.int64)
        row_code = unique_code[codes]
        names = filled(len(distinct), "")
        # The smallest spelling of each compact reference: independent of row order.
        for spelling, code in sorted(zip(spelled.tolist(), unique_code[:-1].tolist(), strict=True)):
            if code >= 0 and not names[code]:
                names[code] = spelling.strip()
        is_searchable = np.array([searchable(text) for text in distinct], dtype=bool)
        # A retyped reference's digits may belong to several references ("INV-55119" and
        # "PO 55119"): it names all of them, and the passes' other tests tell them apart.
        owners: dict[str, list[int]] = {}
        for code, text in enumerate(distinct):
            if is_searchable[code]:
                owners.setdefault(text, []).append(code)
            alias = _digits_alias(text)
            if alias:
                owners.setdefault(alias, []).append(code)
        lookup = {text: tuple(codes) for text, codes in owners.items()}
        spans = [len(words(n)) for n, ok in zip(names, is_searchable, strict=True) if ok]
        return cls(
            row_code.astype(np.int64), np.array(distinct, dtype=object), names, is_searchable,
            lookup, min(max(spans, default=1), MAX_WORDS),
        )  # fmt: skip

    def named_in(self, text: str) -> list[int]:
        """Codes of the searchable references ``text`` names, longest first, each once."""
        found: list[tuple[int, int]] = []
        lookup, most = self.lookup, self.max_words
        tokens = words(text)
        for i in range(len(tokens)):
            run = ""
            for token in tokens[i : i + most]:
                run += token
                codes = lookup.get(run)
                if codes is not None:
                    found.extend((-len(run), code) for code in codes)
        return list(dict.fromkeys(code for _, code in sorted(found)))

    def whole_field(self, text: str) -> list[int]:
        """Codes of the reference a check number field holds whole, searchable or not."""
        compacted = compact(text)
        if not compacted:
            return []
        found = int(np.searchsorted(self.compact, compacted))
        if found < len(self.compact) and self.compact[found] == compacted:
            return [found]
        return list(self.lookup.get(compacted, ()))


def bank_names(
    ledger_refs: LedgerReferences,
    free_texts: Iterable[ObjArray],
    fields: Iterable[ObjArray],
    size: int,
) -> tuple[IntArray, IntArray, IntArray]:
    """Every (bank row, code) named, rows in input order: ``free_texts`` are searched for word
    runs, ``fields`` (check numbers) must hold a reference whole.

    Returns (rows, codes, length of the compact match) with each (row, code) once.
    """
    rows: list[IntArray] = []
    codes: list[IntArray] = []
    for texts, whole in [(t, False) for t in free_texts] + [(f, True) for f in fields]:
        value_codes, uniques = pd.factorize(texts)
        found = [
            (ledger_refs.whole_field(str(u)) if whole else ledger_refs.named_in(str(u)))
            for u in uniques
        ]
        counts = np.array([len(f) for f in found] + [0], dtype=np.int64)
        flat = np.array([c for f in found for c in f], dtype=np.int64)
        starts = np.r_[0, np.cumsum(counts)[:-1]].astype(np.int64)
        value_codes = np.where(value_codes < 0, len(uniques), value_codes)
        per_row = counts[value_codes]
        row = np.repeat(np.arange(size, dtype=np.int64), per_row)
        offset = np.arange(int(per_row.sum()), dtype=np.int64) - np.repeat(
            np.cumsum(per_row) - per_row, per_row
        )
        rows.append(row)
        codes.append(flat[np.repeat(starts[value_codes], per_row) + offset])
    if not rows:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, empty
    pair_rows, pair_codes = unique_pairs(np.concatenate(rows), np.concatenate(codes))
    lengths = np.array([len(ledger_refs.compact[c]) for c in pair_codes.tolist()], dtype=np.int64)
    return pair_rows, pair_codes, lengths


def cut_fragments(descriptions: ObjArray) -> tuple[IntArray, ObjArray]:
    """(row, fragment) for the last 1..3 words of each description, compacted, that could be
    the start of a searchable reference: 4+ characters with a digit."""
    value_codes, uniques = pd.factorize(descriptions)
    per_value: list[list[str]] = []
    for text in uniques:
        tokens = words(str(text))
        tails = ["".join(tokens[-k:]) for k in range(1, min(CUT_WORDS, len(tokens)) + 1)]
        per_value.append(
            [
                t
                for t in dict.fromkeys(tails)
                if len(t) >= MIN_LENGTH and any(c.isdigit() for c in t)
            ]
        )
    counts = np.array([len(f) for f in per_value] + [0], dtype=np.int64)
    flat = np.array([t for f in per_value for t in f], dtype=object)
    starts = np.r_[0, np.cumsum(counts)[:-1]].astype(np.int64)
    value_codes = np.where(value_codes < 0, len(uniques), value_codes)
    per_row = counts[value_codes]
    row = np.repeat(np.arange(len(descriptions), dtype=np.int64), per_row)
    offset = np.arange(int(per_row.sum()), dtype=np.int64) - np.repeat(
        np.cumsum(per_row) - per_row, per_row
    )
    fragments: ObjArray = flat[np.repeat(starts[value_codes], per_row) + offset]
    return row, fragments


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
    or it names references, the ledger row has one, and it is none of them."""
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
    contradict = (primary >= 0) & (own >= 0) & ~agree
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
    description = _column(bank_frame, "description")
    rows, codes, lengths = bank_names(
        ledger_refs,
        [description, _column(bank_frame, "counterparty"), _column(bank_frame, "reference"),
         _column(bank_frame, PAYMENT_DETAILS)],
        [_column(bank_frame, CHECK_NUMBER)],
        len(bank),
    )  # fmt: skip
    rows = to_position[rows]
    # Cut-off fragments only where the description names nothing whole.
    fragment_rows, fragments = cut_fragments(description)
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
    all_rows = np.concatenate([rows, cut_rows])
    all_codes = np.concatenate([codes, cut_codes])
    all_lengths = np.concatenate([lengths, np.zeros(len(cut_rows), dtype=np.int64)])
    order = np.lexsort((all_codes, -all_lengths, all_rows))
    all_rows, all_codes = all_rows[order], all_codes[order]
    first = np.r_[True, all_rows[1:] != all_rows[:-1]] if len(all_rows) else np.zeros(0, bool)
    named = np.full(len(bank), -1, dtype=np.int64)
    named[all_rows[first]] = all_codes[first]
    pair_rows, pair_codes = unique_pairs(all_rows, all_codes)
    return (
        replace(
            bank, named_reference=named, named_pairs=(pair_rows, pair_codes),
            reference_cut=reference_cut, reference_names=ledger_refs.names,
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
