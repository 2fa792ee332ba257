"""Input frames -> columnar arrays the other engine steps index by position.

Rows are sorted by date, then id, so every position, every tie-break and every output depends
on content only, never on the order the rows arrived in (and rows that can pair sit near each
other in memory). Text keys (account+currency blocks,
references, counterparty keys) are factorised jointly over both sides into int64 codes so the
candidate joins compare integers, not strings.
"""

from __future__ import annotations

import bisect
import re
import unicodedata
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from rapidfuzz import utils as fuzz_utils

from recon.engine import sets
from recon.engine.payees import PayeeMemory, counterparty_key, descriptor_key
from recon.frames import BANK_COLUMNS, CHECK_NUMBER, LEDGER_COLUMNS, PARTNER_ONLY

IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]
ObjArray = npt.NDArray[np.object_]

NO_CODE = -1
# Where the engine's large pyarrow arrays are allocated: pyarrow's default pool (mimalloc) asks
# for huge pages, which the kernel can be several times slower to fault in than plain pages.
ARROW_POOL = pa.system_memory_pool()
# config.yaml's reference pattern (recon.config's default): texts that cannot match it are skipped.
DEFAULT_REFERENCE_PATTERN = r"\b(?:INV|INVOICE|PO|REF)[-#: ]?\s*([A-Z0-9][A-Z0-9-]{2,})\b"
# Words that say nothing about who the counterparty is ("ACME CORP" and "Acme Inc" are one firm).
_FILLER_WORDS = frozenset(
    {"THE", "INC", "LLC", "LTD", "CORP", "CORPORATION", "CO", "COMPANY", "GMBH", "PLC", "SA",
     "AG", "BV", "KK", "PAYMENT", "PAYMENTS", "ACH", "WIRE", "TRANSFER", "POS", "DEBIT",
     "CREDIT", "CARD", "PURCHASE", "DEPOSIT", "FROM", "TO"}
)  # fmt: skip


@dataclass(frozen=True)
class Side:
    """One side (bank or ledger) as arrays; position i is the i-th row in (date, id) order."""

    ids: ObjArray
    account: ObjArray
    currency: ObjArray
    account_code: IntArray  # account, factorised over both sides
    currency_code: IntArray
    amount: IntArray  # minor units, house sign
    date: IntArray  # days since 1970-01-01 (posted date for the bank)
    authorized: IntArray  # bank: authorized date or the posted date when missing; ledger: date
    description: ObjArray
    # The distinct descriptions, and per row the code of its own: work done per description
    # (how the money moved) is done once per distinct one.
    description_code: IntArray
    descriptions: ObjArray
    text_code: IntArray  # index into texts and text_clean: equal texts share a code
    # Each distinct text, counterparty + " " + description (similarity normalises case and
    # punctuation); per row only the code: gathering a million strings is slow.
    texts: ObjArray
    text_clean: ObjArray  # each distinct text through rapidfuzz's default_process, once
    # What text similarity compares (per distinct text): the bank's text_clean without numbers,
    # filler words and bank boilerplate, with words cut short completed (:func:`truncation_aware`);
    # the ledger's text_clean.
    text_match: ObjArray
    reference: IntArray  # reference code (column, else extracted from the description), -1 none
    party: IntArray  # counterparty key code, -1 none
    word: IntArray  # first meaningful word of the description, same code space as party
    check: IntArray  # check number (leading zeros dropped), -1 none
    check_said: BoolArray  # the row says it is a check (not only a number in its reference)
    pending: BoolArray
    partner_only: BoolArray  # loaded from before the window only as a partner (PARTNER_ONLY)
    input_row: IntArray  # the row's index in the frame it came from
    # Learned payees (recon.engine.payees), one code space for both sides, -1 none: the bank
    # row's learned counterparty, the ledger row's counterparty. Equal codes: texts agree.
    payee: IntArray
    # References learned from the ledger (recon.engine.references, which fills these): the code
    # of the reference a row names (ledger: its own), every (position, code) a bank row names,
    # whether a bank row names one strongly (with letters or as a check number: only such a name
    # contradicts), the cut-off fragment it was found by ("" if whole), where it was found
    # (references.SOURCES), and each code's ledger spelling.
    named_reference: IntArray
    named_pairs: tuple[IntArray, IntArray] = field(
        default=(np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64))
    )
    named_strong: BoolArray = field(default_factory=lambda: np.zeros(0, dtype=bool))
    reference_cut: ObjArray = field(default_factory=lambda: np.zeros(0, dtype=object))
    reference_source: ObjArray = field(default_factory=lambda: np.zeros(0, dtype=object))
    reference_names: ObjArray = field(default_factory=lambda: np.zeros(0, dtype=object))
    # Bank: a reference in the company's own format that no ledger row holds ("INV-1001" where
    # the ledger knows INV-1002), as the bank's reference field writes it; "" none.
    other_reference: ObjArray = field(default_factory=lambda: np.zeros(0, dtype=object))

    def __len__(self) -> int:
        return len(self.ids)

    @cached_property
    def named_pair_keys(self) -> tuple[BoolArray, IntArray]:
        """Which rows name several references, and :attr:`named_pairs` as one ascending key
        each (``position << 32 | code``): for recon.engine.references.reference_evidence,
        asked once per pass and more."""
        rows, codes = self.named_pairs
        several = np.zeros(len(self), dtype=bool)
        several[rows[1:][rows[1:] == rows[:-1]]] = True
        return several, (rows << 32) | codes

    @cached_property
    def clean_code(self) -> IntArray:
        """Per row, a code of its text after rapidfuzz's normalisation (:attr:`text_clean`):
        rows whose texts differ only in case or punctuation share it."""
        codes = pd.factorize(pd.Series(self.text_clean, dtype=object))[0].astype(np.int64)
        per_row: IntArray = codes[self.text_code]
        return per_row

    @cached_property
    def fee_line(self) -> BoolArray:
        """Per row: its description says it is a bank's charge (:func:`fee_lines`)."""
        per_text = fee_lines([str(t) for t in self.descriptions])
        return per_text[self.description_code] if len(self) else np.zeros(0, dtype=bool)

    @cached_property
    def rail(self) -> npt.NDArray[np.int8]:
        """Per row, how its description says the money moved (:func:`rails`; saying both
        says neither), or a check where it says nothing and the row names a check number as
        one (Plaid's check_number)."""
        per_text = rails([str(t) for t in self.descriptions])
        rail = per_text[self.description_code] if len(self) else np.zeros(0, dtype=np.int8)
        rail = np.where((rail == 0) & self.check_said & (self.check >= 0), RAIL_CHECK, rail)
        return np.where(rail == RAIL_CHECK | RAIL_TRANSFER, 0, rail).astype(np.int8)

    @cached_property
    def text_words(self) -> tuple[IntArray, IntArray, ObjArray]:
        """:func:`name_words` of each distinct text as (text code, word code, words), each
        (text, word) once: computed once, for the passes that look for names in texts."""
        return name_word_pairs([str(t) for t in self.texts])

    @cached_property
    def text_keys(self) -> dict[Callable[[str], list[str]], dict[int, list[str]]]:
        """Per function of a text (join keys: recon.engine.passes.rules), its value for each
        distinct text code asked for so far: texts recur from pass to pass."""
        return {}

    @cached_property
    def text_word_index(self) -> tuple[pd.Index, IntArray]:
        """The words of :attr:`text_words` as an index (to look words up), and where each
        text's words start in it (text ``t``'s are ``text_start[t]:text_start[t + 1]``)."""
        text_code, _, words = self.text_words
        starts: IntArray = np.searchsorted(text_code, np.arange(len(self.texts) + 1))
        # Object dtype like the words looked up in it: a text dtype index would be converted,
        # and its hash table built again, on every look-up.
        return pd.Index(words, dtype=object), starts.astype(np.int64)


def filled(length: int, text: str) -> ObjArray:
    """An object array holding the one ``text`` object ``length`` times.

    ``np.full(length, text, dtype=object)`` goes through a '<U' array and makes a new str per
    element, each of which factorize then hashes anew.
    """
    array: ObjArray = np.empty(length, dtype=object)
    array.fill(text)
    return array


# Letters a bank's SEPA or ACH character set lacks, as German and Nordic banks print them
# ("Müller" is MUELLER, "Größe" GROESSE); other accents are dropped ("Électrique": ELECTRIQUE),
# and so are apostrophes, which most banks leave out ("O'Brien" is OBRIEN, "Macy's" MACYS).
_APOSTROPHES = ("'", "\u2019", "\u2018")
_FOLD = str.maketrans({
    "ä": "ae", "ö": "oe", "ü": "ue", "Ä": "Ae", "Ö": "Oe", "Ü": "Ue", "ß": "ss", "ẞ": "SS",
    "æ": "ae", "Æ": "Ae", "ø": "o", "Ø": "O", "œ": "oe", "Œ": "Oe", "ł": "l", "Ł": "L",
    "đ": "d", "Đ": "D", "ð": "d", "Ð": "D", "þ": "th", "Þ": "Th", "ı": "i",
    **dict.fromkeys(_APOSTROPHES, ""),
})  # fmt: skip


def _as_printed(text: str) -> bool:
    """True when a bank prints ``text`` as it is: ASCII without apostrophes."""
    return text.isascii() and "'" not in text


def ascii_fold(text: str) -> str:
    """``text`` with its Latin letters in ASCII: umlauts as two letters, other accents and
    apostrophes dropped; characters of other scripts stay as they are."""
    decomposed = unicodedata.normalize("NFKD", text.translate(_FOLD))
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def _days(values: pd.Series) -> IntArray:
    dates = pd.to_datetime(values).to_numpy(dtype="datetime64[D]")
    return dates.astype(np.int64)


def text_column(values: pd.Series) -> ObjArray:
    """A column as str objects, missing values as ""."""
    if isinstance(values.dtype, pd.StringDtype):  # already text: skip fillna + astype
        return values.to_numpy(dtype=object, na_value="")
    if values.dtype == object and pd.api.types.infer_dtype(values, skipna=True) in (
        "string", "empty",
    ):  # str objects and missing values: no round trip through a text dtype
        present = values.fillna("") if bool(values.isna().any()) else values
        return present.to_numpy(dtype=object, copy=True)
    return values.fillna("").astype(str).to_numpy(dtype=object)


def few_texts_column(values: pd.Series) -> ObjArray:
    """:func:`text_column` of a column of a few distinct texts (accounts, currencies): a pyarrow
    text column is factorised where it is (no Python object per row) and each row takes its
    text's one str object."""
    if not isinstance(values.dtype, pd.StringDtype):
        return text_column(values)
    codes, uniques = pd.factorize(values)
    texts = np.array([*(str(u) for u in uniques), ""], dtype=object)
    column: ObjArray = texts[codes]  # code -1 (missing) picks the trailing ""
    return column


def id_order(ids: ObjArray) -> IntArray:
    """The stable order that sorts ``ids`` (str) like ``sorted``, fast for a million ids.

    UTF-8 bytes sort like the code points they encode, so the ids' bytes, zero-padded and read
    as big-endian 64-bit words, sort by ``np.lexsort`` on integers instead of on strings.
    """
    if len(ids) < 2 or bool((ids[1:] >= ids[:-1]).all()):  # already in order (ledger exports)
        return np.arange(len(ids), dtype=np.int64)
    first = _first_eight_bytes(ids)
    words = _id_words(ids) if first is None else None
    if words is not None:
        first = words[:, 0].astype(np.uint64)
    assert first is not None
    order: IntArray = np.argsort(first, kind="stable").astype(np.int64)
    ordered = first[order]
    if bool((ordered[1:] != ordered[:-1]).all()):  # random ids: the first 8 bytes decide
        return order
    if words is None:
        words = _id_words(ids)
    order = np.lexsort(words.T[::-1].astype(np.uint64)).astype(np.int64)
    return order


def _id_words(ids: ObjArray) -> npt.NDArray[np.uint64]:
    """Each id's UTF-8 bytes, zero-padded, as big-endian 64-bit words (one row per id)."""
    encoded = [str(i).encode("utf-8", "surrogatepass") for i in ids]
    width = max(8, -(-max(len(e) for e in encoded) // 8) * 8)
    words: npt.NDArray[np.uint64] = (
        np.array(encoded, dtype=f"S{width}").view(">u8").reshape(len(ids), width // 8)
    )
    return words


def _first_eight_bytes(ids: ObjArray) -> npt.NDArray[np.uint64] | None:
    """The first 8 UTF-8 bytes of each id (zero-padded) as a big-endian number, read from one
    pyarrow array of them; None when pyarrow cannot encode them (a lone surrogate)."""
    try:
        array = pa.array(ids, type=pa.large_string())
    except (pa.ArrowException, UnicodeEncodeError):
        return None
    _, offset_buffer, data_buffer = array.buffers()
    if data_buffer is None or data_buffer.size == 0 or array.null_count:
        return None
    offsets = np.frombuffer(offset_buffer, dtype=np.int64)[: len(ids) + 1]
    data = np.frombuffer(data_buffer, dtype=np.uint8)
    value = np.zeros(len(ids), dtype=np.uint64)
    for k in range(8):
        at = offsets[:-1] + k
        byte = np.where(at < offsets[1:], data[np.minimum(at, len(data) - 1)], 0)
        value = (value << np.uint64(8)) | byte.astype(np.uint64)
    return value


def sort_order(columns: list[IntArray]) -> IntArray:
    """The order that sorts rows by ``columns`` (most significant first), as ``np.lexsort`` of
    them reversed would (:func:`recon.engine.sets.order`)."""
    return sets.order(*columns)


def _map_unique(values: ObjArray, function: Callable[[str], str]) -> ObjArray:
    """``function`` applied once per distinct value (merchant names repeat a lot)."""
    codes, uniques = pd.factorize(values)
    mapped = np.array([function(u) for u in uniques] + [""], dtype=object)
    return mapped[codes]  # code -1 (missing) picks the trailing ""


@dataclass(frozen=True)
class Distinct:
    """A text column as codes into its distinct values: factorised once, used by every step."""

    codes: IntArray
    uniques: ObjArray

    @classmethod
    def of(cls, values: ObjArray) -> Distinct:
        codes, uniques = pd.factorize(values)
        return cls(codes.astype(np.int64), np.asarray(uniques, dtype=object))

    def ascii_folded(self) -> Distinct:
        """The values spelt in ASCII as banks print them (:func:`ascii_fold`); values that
        fold alike share a code."""
        plain = np.fromiter((_as_printed(u) for u in self.uniques), dtype=bool,
                            count=len(self.uniques))  # fmt: skip
        if plain.all():
            return self
        folded = self.uniques.copy()
        folded[~plain] = [ascii_fold(u) for u in self.uniques[~plain]]
        codes, uniques = pd.factorize(folded)
        return Distinct(codes.astype(np.int64)[self.codes], np.asarray(uniques, dtype=object))

    def map(self, function: Callable[[str], str], rows: IntArray) -> ObjArray:
        """``function`` of the value of each of ``rows``, computed once per distinct value."""
        codes = self.codes[rows]
        needed = np.flatnonzero(np.bincount(codes, minlength=len(self.uniques)))
        mapped = filled(len(self.uniques), "")
        mapped[needed] = [function(u) for u in self.uniques[needed]]
        result: ObjArray = mapped[codes]
        return result


class FrameTexts:
    """One frame's text columns as str objects (:func:`text_column`; a column the frame lacks
    reads as "" in every row) and their distinct values (:class:`Distinct`): converted and
    factorised once for every step that reads them (normalising, reference learning)."""

    def __init__(self, frame: pd.DataFrame) -> None:
        self.frame = frame
        self._columns: dict[str, ObjArray] = {}
        self._distinct: dict[str, Distinct] = {}

    def column(self, name: str) -> ObjArray:
        if name not in self._columns:
            if name not in self.frame.columns:
                self._columns[name] = filled(len(self.frame), "")
            elif _arrow_text(self.frame[name]) is not None:  # each distinct text one str object
                distinct = self.distinct(name)
                self._columns[name] = distinct.uniques[distinct.codes]
            else:
                self._columns[name] = text_column(self.frame[name])
        return self._columns[name]

    def distinct(self, name: str) -> Distinct:
        if name not in self._distinct:
            arrow = _arrow_text(self.frame[name]) if name in self.frame.columns else None
            self._distinct[name] = (
                Distinct.of(self.column(name)) if arrow is None else _arrow_distinct(arrow)
            )
        return self._distinct[name]


def _arrow_text(values: pd.Series) -> pa.Array | None:
    """The pyarrow strings behind a text column, None when it is held otherwise."""
    if not isinstance(values.dtype, pd.StringDtype) or values.dtype.storage != "pyarrow":
        return None
    arrow = pa.array(values.array)
    return arrow if pa.types.is_large_string(arrow.type) or pa.types.is_string(arrow.type) else None


def _arrow_distinct(arrow: pa.Array) -> Distinct:
    """:meth:`Distinct.of` the column's :func:`text_column`, factorised by pyarrow (missing
    values read as ""; codes in order of first appearance, as pandas numbers them): no str
    object per row, one per distinct text."""
    encoded = pc.dictionary_encode(arrow.fill_null(""), memory_pool=ARROW_POOL)
    codes = np.asarray(encoded.indices.to_numpy(zero_copy_only=False), dtype=np.int64)
    uniques = np.asarray(encoded.dictionary.to_numpy(zero_copy_only=False), dtype=object)
    return Distinct(codes, uniques)


def _extract_references(description: Distinct, reference: Distinct, pattern: str) -> ObjArray:
    """The reference column, or the first group of ``pattern`` found in the description.

    The column goes through ``pattern`` too, so that "INV-20240" in the ledger's reference column
    and "... INV-20240" in a bank description both become "20240".
    """
    compiled = re.compile(pattern, re.IGNORECASE)
    skippable = pattern == DEFAULT_REFERENCE_PATTERN

    def normalise(text: str) -> str:
        text = text.strip().upper()
        if skippable and _cannot_match(text):
            return text
        found = compiled.search(text)
        return found.group(1).upper() if found and found.group(1) else text

    def extract(text: str) -> str:
        if skippable and _cannot_match(text):
            return ""
        found = compiled.search(text)
        return found.group(1).upper() if found and found.group(1) else ""

    if skippable:  # the shipped pattern: all texts searched at once
        codes, uniques = reference.codes, reference.uniques
        stripped = np.array([str(u).strip().upper() for u in uniques] + [""], dtype=object)
        found = _default_pattern_groups(stripped.tolist())
        result: ObjArray = np.where(found == "", stripped, found)[codes]
    else:
        mapped_values = np.array([normalise(str(u)) for u in reference.uniques] + [""],
                                 dtype=object)  # fmt: skip
        result = mapped_values[reference.codes]
    missing = np.flatnonzero(result == "")
    if len(missing):
        if skippable:
            needed = np.flatnonzero(
                np.bincount(description.codes[missing], minlength=len(description.uniques))
            )
            mapped = filled(len(description.uniques), "")
            mapped[needed] = _default_pattern_groups(description.uniques[needed].tolist())
            result[missing] = mapped[description.codes[missing]]
        else:
            result[missing] = description.map(extract, missing)
    return result


# DEFAULT_REFERENCE_PATTERN for RE2 (pyarrow), case-insensitive. On ASCII text without the
# whitespace only Python counts as \s (\v, \x1c-\x1f) it finds what Python's re finds.
_DEFAULT_PATTERN_RE2 = "(?i)" + DEFAULT_REFERENCE_PATTERN.replace("([A-Z0-9]", "(?P<ref>[A-Z0-9]")
_PYTHON_ONLY_SPACE = "[\x0b\x1c-\x1f]"


def _default_pattern_groups(texts: list[str]) -> ObjArray:
    """The first group of DEFAULT_REFERENCE_PATTERN in each text, upper case ("" none): one
    pyarrow (RE2) extraction for all texts it reads alike, Python's re for the others."""
    array = pa.array(texts, type=pa.large_string())
    found = pc.struct_field(pc.extract_regex(array, _DEFAULT_PATTERN_RE2), [0])
    result: ObjArray = np.asarray(
        pc.utf8_upper(found).fill_null("").to_numpy(zero_copy_only=False), dtype=object
    )
    odd = pc.or_(
        pc.invert(pc.string_is_ascii(array)), pc.match_substring_regex(array, _PYTHON_ONLY_SPACE)
    )  # fmt: skip
    compiled = re.compile(DEFAULT_REFERENCE_PATTERN, re.IGNORECASE)
    for k in np.flatnonzero(np.asarray(odd.to_numpy(zero_copy_only=False), dtype=bool)).tolist():
        match = compiled.search(texts[k])
        result[k] = match.group(1).upper() if match and match.group(1) else ""
    return result


def _cannot_match(text: str) -> bool:
    """True when ``text`` has no match of the default reference pattern, told without a search.

    Every match of that pattern starts with INV, PO or REF (any case), so an ASCII text whose
    upper case holds none of them has none. Non-ASCII texts always need the search
    (case-insensitive matching of non-ASCII letters is not plain ``upper()``).
    """
    if not text.isascii():
        return False
    upper = text.upper()
    return "INV" not in upper and "PO" not in upper and "REF" not in upper


# The words a check number follows: CHECK, CHK, CK, CHEQUE, CHQ, a credit union's (SHARE)
# DRAFT, and a ledger's own language's (German Scheck, French chèque), optionally with what
# became of it (PAID, CASHED...) and NO / NUMBER / NR / N° and punctuation ("CHECK 1043",
# "CHK #1043", "CHK-001043", "Check No. 1043", "CHQ:1043", "Scheck-Nr. 1043", "Chèque n° 1043",
# "CHECK PAID #1043", "SHARE DRAFT 1043").
_CHECK_WORDS = (
    r"(?:CHECK|CHK|CK|CH[EÈ]QUE|CHQ|SCHECK|(?:SHARE[\s-]*)?DRAFT)\.?"
    r"(?:\s+(?:PAID|CASHED|CLEARED|POSTED|PRESENTED)(?!\w))?"
    r"(?:[\s#:./-]*(?:NO|NUMBER|NR|NUM|N[°º])(?!\w)\.?)?"
    r"[\s#:./-]*"
)
_CHECK_IN_TEXT = re.compile(
    rf"(?<![0-9A-Z]){_CHECK_WORDS}(\d{{1,12}})(?![0-9A-Z])", re.IGNORECASE
)
# A ledger reference that is a check number: "1043", "#1043", "No. 1043", "CHK-1043".
_CHECK_REFERENCE = re.compile(
    rf"\s*(?:{_CHECK_WORDS}|(?:NO|NR)\.?\s*|#\s*)?(\d{{1,12}})\s*", re.IGNORECASE
)


def _check_number(text: str, *, whole: bool) -> int:
    """The check number ``text`` names (all of it when ``whole``, else inside it), or -1."""
    found = _CHECK_REFERENCE.fullmatch(text) if whole else _CHECK_IN_TEXT.search(text)
    return int(found.group(1)) if found else NO_CODE


# RE2 (pyarrow) forms of the check patterns, without the look-arounds RE2 lacks: on ASCII text
# without the whitespace only Python counts as \s, every text _CHECK_IN_TEXT finds a number in
# matches _MAY_NAME_CHECK, and _WHOLE_CHECK matches exactly the texts _CHECK_REFERENCE does.
_CHECK_WORDS_RE2 = (
    r"(?:CHECK|CHK|CK|CHEQUE|CHQ|SCHECK|(?:SHARE[\s-]*)?DRAFT)\.?"
    r"(?:\s+(?:PAID|CASHED|CLEARED|POSTED|PRESENTED)\b)?"
    r"(?:[\s#:./-]*(?:NO|NUMBER|NR|NUM)\b\.?)?[\s#:./-]*"
)
_MAY_NAME_CHECK = rf"(?i){_CHECK_WORDS_RE2}[0-9]"
_WHOLE_CHECK = rf"(?i)^\s*(?:{_CHECK_WORDS_RE2}|(?:NO|NR)\.?\s*|#\s*)?[0-9]{{1,12}}\s*$"


# How the money moved, as a description says it in its first two words (RE2, case-insensitive,
# ASCII word boundaries; later words are often names: "Acme Wire Products", "Swift Couriers"):
# a check ("Check received ...", "CHECK 1043", a deposit of checks the bank scanned) or an
# electronic transfer ("ACH CREDIT", "INCOMING WIRE", "SEPA CT", a NACHA "DES:" line...). A
# description saying both says neither. "CHECK CARD" is a debit card.
RAIL_CHECK, RAIL_TRANSFER = 1, 2
_LEAD = r"(?i)^\W*(?:\S+\s+)?"  # the first word, or the second
_CHECK_RAIL = (
    _LEAD + r"(?:CHECKS?|CHK|CHEQUES?|CHQ|SCHECK)\b|REMOTE DEPOSIT|MOBILE DEPOSIT|DEPOSITED ITEM"
)
_NOT_A_CHECK = r"(?i)\bCHE(?:CK|QUE)[\s-]*(?:CA?RD|IN|OUT)\b"
_TRANSFER_RAIL = (
    _LEAD + r"(?:ACH|WIRES?|FEDWIRE|SEPA|SWIFT|FURIKOMI|ZELLE|BACS|CHAPS|TRANSFERS?|TRF|"
    r"UEBERWEISUNG|UBERWEISUNG|VIREMENT|BONIFICO|TRANSFERENCIA|OVERBOEKING)\b|"
    r"\bDES:|^\W*ORIG CO NAME"
)


# A bank's own charge, as its description says it ("WIRE TRANSFER FEE", "INTL WIRE FEE",
# "FURIKOMI TESURYO", "SERVICE CHARGE", "Überweisungsgebühr" spelt without its umlaut...).
_FEE_LINE = (
    r"(?i)\b(?:FEES?|CHARGES?|CHGS?|COMMISSION|TESURYO|TESUURYOU|GEBUEHR(?:EN)?|FRAIS|SPESE|"
    r"COMISION|KOSTEN)\b|GEB(?:UE|Ü)HR"
)


def _says(texts: pa.Array, pattern: str) -> BoolArray:
    """Per text: RE2 ``pattern`` matches somewhere in it."""
    found = pc.match_substring_regex(texts, pattern)
    return np.asarray(found.to_numpy(zero_copy_only=False), dtype=bool)


def fee_lines(texts: list[str]) -> BoolArray:
    """Per text: it is a bank's charge (:data:`_FEE_LINE`)."""
    if not texts:
        return np.zeros(0, dtype=bool)
    return _says(pa.array(texts, type=pa.large_string()), _FEE_LINE)


def rails(texts: list[str]) -> npt.NDArray[np.int8]:
    """Per text: RAIL_CHECK, RAIL_TRANSFER, both (their sum) or 0."""
    if not texts:
        return np.zeros(0, dtype=np.int8)
    array = pa.array(texts, type=pa.large_string())
    check = _says(array, _CHECK_RAIL) & ~_says(array, _NOT_A_CHECK)
    transfer = _says(array, _TRANSFER_RAIL)
    return (check * RAIL_CHECK + transfer * RAIL_TRANSFER).astype(np.int8)


def _may_match(texts: list[str], re2_pattern: str) -> IntArray:
    """The positions of ``texts`` a check pattern may match: those ``re2_pattern`` matches, and
    every text RE2 would read otherwise than Python's re (non-ASCII, \\v, \\x1c-\\x1f)."""
    try:
        array = pa.array(texts, type=pa.large_string())
    except UnicodeEncodeError:  # a lone surrogate: not UTF-8, so every text goes to Python
        return np.arange(len(texts), dtype=np.int64)
    may = pc.or_(
        pc.or_(pc.invert(pc.string_is_ascii(array)),
               pc.match_substring_regex(array, _PYTHON_ONLY_SPACE)),
        pc.match_substring_regex(array, re2_pattern),
    )  # fmt: skip
    return np.flatnonzero(np.asarray(may.to_numpy(zero_copy_only=False), dtype=bool))


def _check_numbers_in(texts: list[str], *, whole: bool) -> IntArray:
    """:func:`_check_number` of each text; the search only where a check can be."""
    found = np.full(len(texts), NO_CODE, dtype=np.int64)
    for k in _may_match(texts, _WHOLE_CHECK if whole else _MAY_NAME_CHECK).tolist():
        found[k] = _check_number(texts[k], whole=whole)
    return found


def _check_numbers(
    column: Distinct | None, column_says_check: bool, description: Distinct
) -> tuple[IntArray, BoolArray]:
    """Per row: the check number in ``column`` (a bank's check_number, or a ledger reference
    that is only a number), else one the description names ("CHECK 1043"), else -1; and
    whether the row says it is a check (``column_says_check``, a word like CHECK in the column,
    or a number found in the description), not merely carries a number."""
    size = len(description.codes)
    numbers = np.full(size, NO_CODE, dtype=np.int64)
    said = np.zeros(size, dtype=bool)
    if column is not None:
        codes = column.codes
        texts = [str(u) for u in column.uniques]
        found = np.r_[_check_numbers_in(texts, whole=True), NO_CODE]
        # Whether the column says check matters only where it holds a check number.
        worded = np.zeros(len(texts) + 1, dtype=bool)
        for k in np.flatnonzero(found != NO_CODE).tolist():
            worded[k] = column_says_check or bool(_CHECK_IN_TEXT.search(texts[k]))
        numbers = found[codes]
        said = worded[codes] & (numbers != NO_CODE)
    in_text = np.r_[
        _check_numbers_in([str(u) for u in description.uniques], whole=False), NO_CODE
    ][description.codes]
    missing = numbers == NO_CODE
    numbers[missing] = in_text[missing]
    said |= (in_text != NO_CODE) & (in_text == numbers)
    return numbers, said


# The first word (split at anything but ASCII letters and digits) of 3+ characters that is neither
# a filler word nor all digits; one regex search per distinct text instead of a Python loop.
_FILLER_ARRAY = pa.array(sorted(_FILLER_WORDS), type=pa.large_string())
_FILLER_ALTERNATION = "|".join(sorted(_FILLER_WORDS, key=len, reverse=True))
_KEY_WORD = re.compile(
    rf"(?<![0-9A-Z])(?!(?:{_FILLER_ALTERNATION})(?![0-9A-Z]))(?![0-9]+(?![0-9A-Z]))[0-9A-Z]{{3,}}"
)


def _first_word(text: str) -> str:
    found = _KEY_WORD.search(text.upper())
    return found.group(0) if found else ""


def key_word(text: str) -> str:
    """The first meaningful word of ``text`` (what party and word codes are made of), upper
    case; "" when it has none."""
    return _first_word(text)


def name_words(text: str) -> list[str]:
    """Every distinct meaningful word of ``text`` (what names a person or a firm), sorted."""
    return sorted(set(_KEY_WORD.findall(text.upper())))


# Byte classes of ASCII text for :func:`ascii_words`: 0 separates words, and a word is a run of
# bytes of one class. LETTERS_DIGITS splits letters from digits ("INV51204" is "INV" "51204");
# ALNUM keeps them together.
_BYTE = np.arange(256)
_IS_LETTER = ((_BYTE >= 65) & (_BYTE <= 90)) | ((_BYTE >= 97) & (_BYTE <= 122))
_IS_DIGIT = (_BYTE >= 48) & (_BYTE <= 57)
_ASCII_UPPER = bytes.maketrans(b"abcdefghijklmnopqrstuvwxyz", b"ABCDEFGHIJKLMNOPQRSTUVWXYZ")
LETTERS_DIGITS = np.where(_IS_LETTER, 1, np.where(_IS_DIGIT, 2, 0)).astype(np.uint8)
ALNUM = (_IS_LETTER | _IS_DIGIT).astype(np.uint8)


@dataclass(frozen=True)
class Words:
    """The words of several texts, in order: ``words[i]`` (upper case) is of text ``owner[i]``."""

    owner: IntArray
    words: pa.Array
    length: IntArray
    digits: BoolArray  # all digits


def ascii_words(
    texts: list[str] | pa.Array, classes: npt.NDArray[np.uint8], *, upper: bool = True
) -> Words:
    """The words of ASCII ``texts`` (str, or a pyarrow large_string array not sliced): runs
    of bytes of one non-zero class (``classes``, per byte value), upper case unless told.
    Works on the texts' bytes with numpy, never on a Python string per word."""
    array = texts if isinstance(texts, pa.Array) else pa.array(texts, type=pa.large_string())
    assert array.type == pa.large_string() and array.offset == 0
    _, offset_buffer, data_buffer = array.buffers()
    offsets = np.frombuffer(offset_buffer, dtype=np.int64)[: len(texts) + 1]
    if data_buffer is None or offsets[-1] == offsets[0]:
        empty = np.zeros(0, dtype=np.int64)
        return Words(empty, pa.array([], type=pa.large_string()), empty, empty.astype(bool))
    data = np.frombuffer(data_buffer, dtype=np.uint8)[offsets[0] : offsets[-1]]
    offsets = offsets - offsets[0]
    # bytes.translate looks bytes up in a table (and drops bytes) several times faster than
    # numpy indexing.
    raw = data.tobytes()
    kind = np.frombuffer(raw.translate(classes.tobytes()), dtype=np.uint8)
    text_start = np.zeros(len(data) + 1, dtype=bool)
    text_start[offsets] = True
    changes = np.r_[True, kind[1:] != kind[:-1]] | text_start[:-1]
    in_word = kind != 0
    starts = np.flatnonzero(in_word & changes)
    # Each word's last byte: the next byte is of another class or text.
    ends = np.flatnonzero(in_word & np.r_[changes[1:], True]) + 1
    length = (ends - starts).astype(np.int64)
    word_offsets = np.r_[0, np.cumsum(length)].astype(np.int64)
    # Every byte of a word class is in exactly one word: they are the words' bytes, in order.
    separators = bytes(np.flatnonzero(classes == 0).astype(np.uint8))
    words = pa.LargeStringArray.from_buffers(
        len(starts), pa.py_buffer(word_offsets),
        pa.py_buffer(raw.translate(_ASCII_UPPER if upper else None, separators)),
    )  # fmt: skip
    first_word = np.searchsorted(starts, offsets)
    owner = np.repeat(np.arange(len(texts), dtype=np.int64), np.diff(first_word))
    digits = np.asarray(pc.ascii_is_decimal(words).to_numpy(zero_copy_only=False), dtype=bool)
    return Words(owner, words, length, digits)


def name_word_pairs(texts: list[str]) -> tuple[IntArray, IntArray, ObjArray]:
    """:func:`name_words` of each of ``texts``, flat: (text index, word code, words) with each
    (text, word) once, in (text, word code) order.

    A key word is a whole run of ASCII letters and digits (of the upper-case text) of 3+
    characters that is neither a filler word nor all digits: ASCII texts are split by
    :func:`ascii_words` and filtered column-wise (upper case can make ASCII letters of other
    characters: "ﬁ" is "FI", so other texts go through :func:`name_words`).
    """
    plain = np.array([t.isascii() for t in texts], dtype=bool)
    at_plain = np.flatnonzero(plain)
    found = ascii_words([texts[k] for k in at_plain.tolist()], ALNUM)
    word = (found.length >= 3) & ~found.digits & ~np.asarray(
        pc.is_in(found.words, value_set=_FILLER_ARRAY).to_numpy(zero_copy_only=False), dtype=bool
    )  # fmt: skip
    owners = [at_plain[found.owner[word]]]
    words = [found.words.filter(pa.array(word))]
    for k in np.flatnonzero(~plain).tolist():
        named = name_words(texts[k])
        owners.append(np.full(len(named), k, dtype=np.int64))
        words.append(pa.array(named, type=pa.large_string()))
    encoded = pa.concat_arrays(words).dictionary_encode()
    codes = np.asarray(encoded.indices.to_numpy(zero_copy_only=False), dtype=np.int64)
    uniques = np.asarray(encoded.dictionary.to_numpy(zero_copy_only=False), dtype=object)
    width = max(len(uniques), 1)
    pair = sets.unique(np.concatenate(owners) * width + codes)
    return pair // width, pair % width, uniques


def _sorted_factorize(values: ObjArray) -> tuple[IntArray, ObjArray]:
    """``pd.factorize(values, sort=True)`` for str values: hash first, then sort the distinct
    values with Python's ``sorted`` (several times faster than pandas' object-array sort)."""
    codes, uniques = pd.factorize(values)
    uniques = np.asarray(uniques, dtype=object)
    order = np.array(sorted(range(len(uniques)), key=uniques.__getitem__), dtype=np.int64)
    rank = np.empty(len(order), dtype=np.int64)
    rank[order] = np.arange(len(order), dtype=np.int64)
    return rank[codes], uniques[order]


def _sorted_codes(
    values: ObjArray, empty_is_none: bool, *, in_value_order: bool = True
) -> IntArray:
    """Codes of ``values``, in value order (:func:`_sorted_factorize`); "" becomes NO_CODE when
    asked. ``in_value_order=False`` for codes that are only compared for equality (never
    ordered by): they skip sorting the distinct values, and their numbering (which follows the
    input order) never shows in a result.
    """
    if in_value_order:
        codes, uniques = _sorted_factorize(values)
    else:
        codes, uniques = pd.factorize(values)
        codes, uniques = codes.astype(np.int64), np.asarray(uniques, dtype=object)
    if empty_is_none:
        empty = np.flatnonzero(uniques == "")
        if len(empty):
            codes[codes == empty[0]] = NO_CODE
    return codes


def _codes(
    values_by_side: tuple[ObjArray, ObjArray], empty_is_none: bool, *, in_value_order: bool = True
) -> tuple[IntArray, ...]:
    """Each side's codes in one code space (:func:`_sorted_codes`)."""
    codes = _sorted_codes(
        np.concatenate(values_by_side), empty_is_none, in_value_order=in_value_order
    )
    split = len(values_by_side[0])
    return codes[:split], codes[split:]


def _party_and_word_codes(
    *sides: tuple[ObjArray, IntArray, ObjArray, IntArray],
) -> tuple[tuple[IntArray, IntArray], tuple[IntArray, IntArray]]:
    """(party codes, word codes) per side, in one code space, -1 for none.

    ``word`` is the first key word of a row's description; ``party`` that of its counterparty,
    or the word when the counterparty has none. Each side gives (description words, each row's
    description code, counterparty words, each row's counterparty code): the words are coded
    once per distinct text, then each row takes its codes by position.
    """
    arrays = [array for words, _, party_words, _ in sides for array in (words, party_words)]
    codes = _sorted_codes(np.concatenate(arrays), empty_is_none=True)
    parties, words, start = [], [], 0
    for description_words, description_codes, counterparty_words, counterparty_codes in sides:
        word_of = codes[start : start + len(description_words)]
        start += len(description_words)
        party_of = codes[start : start + len(counterparty_words)]
        start += len(counterparty_words)
        word = word_of[description_codes]
        party = party_of[counterparty_codes]
        parties.append(np.where(party == NO_CODE, word, party))
        words.append(word)
    return (parties[0], parties[1]), (words[0], words[1])


# A description's first key word names the counterparty of its rows that lack one when the
# feed names one counterparty on at least this many of its rows, and on at least half of them.
_FEED_NAMES_AT_LEAST = 3


def _counterparties_from_feed(
    description: Distinct, counterparty: Distinct, description_words: ObjArray
) -> Distinct:
    """The bank's counterparty column, with the rows that have none given the one the feed
    names on the other rows of their description's first key word (Plaid names a processor
    on most of its payouts, not all: "FISERV MERCH DEP 8812" is Clover's on every row where
    Plaid says so). A word the feed names with two counterparties names none."""
    word_code, _ = pd.factorize(description_words)
    row_word = word_code[description.codes]
    row_named = (counterparty.uniques != "")[counterparty.codes]
    has_word = row_word >= 0
    words = max(int(word_code.max(initial=-1)) + 1, 1)
    rows_of_word = np.bincount(row_word[has_word], minlength=words)
    named = has_word & row_named
    pairs = np.unique(row_word[named] * len(counterparty.uniques) + counterparty.codes[named])
    pair_word, pair_party = pairs // len(counterparty.uniques), pairs % len(counterparty.uniques)
    parties_of_word = np.bincount(pair_word, minlength=words)
    named_rows_of_word = np.bincount(row_word[named], minlength=words)
    party_of_word = np.full(words, NO_CODE, dtype=np.int64)
    party_of_word[pair_word] = pair_party
    learned = (
        (parties_of_word == 1)
        & (named_rows_of_word >= _FEED_NAMES_AT_LEAST)
        & (2 * named_rows_of_word >= rows_of_word)
    )
    fill = np.flatnonzero(has_word & ~row_named)
    fill = fill[learned[row_word[fill]]]
    if len(fill) == 0:
        return counterparty
    codes = counterparty.codes.copy()
    codes[fill] = party_of_word[row_word[fill]]
    return Distinct(codes, counterparty.uniques)


def _text_distinct(counterparty: Distinct, description: Distinct) -> Distinct:
    """The text (counterparty + " " + description), built once per distinct pair of the two.

    Integer pairs hash much faster than strings. Two pairs can spell the same text; they then get
    two codes for one text, which only costs a repeated similarity, never a different one.
    """
    width = len(description.uniques)
    codes, pairs = pd.factorize(counterparty.codes * width + description.codes)
    pairs = np.asarray(pairs, dtype=np.int64)
    texts: ObjArray = counterparty.uniques[pairs // width] + " " + description.uniques[
        pairs % width
    ]
    return Distinct(codes.astype(np.int64), texts)


# Words banks add to every description of a kind (how the money moved, field labels of the ACH
# and wire formats): they say nothing about who paid, and no ledger text carries them.
BANK_BOILERPLATE = frozenset(
    {"ACH", "WIRE", "TRF", "XFER", "TRANSFER", "OUT", "IN", "INCOMING", "OUTGOING", "DEBIT",
     "CREDIT", "POS", "PURCHASE", "DES", "ID", "INDN", "CO", "ORIG", "NAME", "ENTRY", "DESCR",
     "SEC", "CCD", "PPD", "WEB", "TEL", "IND", "TRACE", "FEDWIRE", "VIA", "REF", "SEPA", "CT",
     "REMI", "ONLINE", "DEPOSIT", "CHECKCARD", "RECURRING", "PREAUTHORIZED", "BNF", "OBI",
     "ORG", "TRN", "FROM", "TO", "BY"}
)  # fmt: skip
PREFIX_MIN = 3  # a bank word this long that starts a ledger word counts as that word


_FILLER_LOWER = frozenset(w.lower() for w in _FILLER_WORDS)


def truncation_aware(bank_texts: ObjArray, ledger_names: ObjArray) -> ObjArray:
    """Bank texts (already lower case, words split by spaces) made comparable with ledger texts.

    Dropped: words holding a digit (store numbers, trace ids and references say nothing about
    who the counterparty is; references are weighed on their own), filler words ("inc",
    "payment": every other text has them) and bank boilerplate (unless that leaves fewer than
    two words: "incoming wire fee" as just "fee" would be a subset of every fee's text). A
    letters-only word that no ledger counterparty name has but that starts words of them (a
    description cut at 18-32 characters: "blue shie") is replaced by the most common of those
    words ("shield"): "WIRE TRF OUT BLUE SHIE" reads "blue shield", a subset of "Blue Shield of
    California". Work is per distinct word; per text, a look-up per word.
    """
    counts = Counter(" ".join(ledger_names.tolist()).split())
    vocabulary = sorted(w for w in counts if w.isalpha())
    boilerplate = {w.lower() for w in BANK_BOILERPLATE}

    def replaced(word: str) -> str | None:
        """The word as compared: "" for boilerplate, None when dropped, else what it reads."""
        if word in boilerplate:
            return ""  # dropped unless too little is left
        if word in _FILLER_LOWER or not word.isalpha():
            return None
        if len(word) >= PREFIX_MIN and word not in counts:
            at = bisect.bisect_left(vocabulary, word)
            best, best_count = "", 0
            while at < len(vocabulary) and vocabulary[at].startswith(word):
                if counts[vocabulary[at]] > best_count:
                    best, best_count = vocabulary[at], counts[vocabulary[at]]
                at += 1
            if best:
                return best
        return word

    texts = bank_texts.tolist()
    plain = np.array([t.isascii() for t in texts], dtype=bool)
    result = filled(len(texts), "")
    at_plain = np.flatnonzero(plain)
    result[at_plain] = _rewritten_ascii([texts[k] for k in at_plain.tolist()], replaced)
    others = np.flatnonzero(~plain).tolist()
    replacement = {
        word: replaced(word) for word in set(" ".join(texts[k] for k in others).split())
    }  # fmt: skip
    for k in others:
        result[k] = _rewritten(texts[k], replacement)
    return result


# What str.split() splits ASCII text at (it counts \x1c-\x1f as whitespace too).
_NOT_SPACE = np.array([0 if chr(b).isspace() else 1 for b in range(256)], dtype=np.uint8)


def _rewritten_ascii(texts: list[str], replaced: Callable[[str], str | None]) -> ObjArray:
    """:func:`_rewritten` of each ASCII text, ``replaced`` called once per distinct word: the
    words split on the texts' bytes (:func:`ascii_words`), each text's kept words joined by
    pyarrow."""
    split = ascii_words(texts, _NOT_SPACE, upper=False)
    encoded = split.words.dictionary_encode()
    codes = np.asarray(encoded.indices.to_numpy(zero_copy_only=False), dtype=np.int64)
    mapped = [replaced(w) for w in encoded.dictionary.to_pylist()]
    # Per distinct word: 0 kept (as it reads), 1 boilerplate, 2 dropped.
    kind = np.array([2 if m is None else 1 if m == "" else 0 for m in mapped], dtype=np.int64)
    shown = pa.array(
        [m if m else w for w, m in zip(encoded.dictionary.to_pylist(), mapped, strict=True)],
        type=pa.large_string(),
    )
    word_kind = kind[codes]
    size = len(texts)
    owner = split.owner
    kept = np.bincount(owner[word_kind == 0], minlength=size)
    listed = np.bincount(owner[word_kind != 2], minlength=size)
    # Boilerplate stays when dropping it would leave fewer than two words.
    restore = (kept < 2) & (kept < listed)
    chosen = np.flatnonzero((word_kind == 0) | ((word_kind == 1) & restore[owner]))
    counts = np.bincount(owner[chosen], minlength=size)
    offsets = pa.array(np.r_[0, np.cumsum(counts)].astype(np.int64), type=pa.int64())
    lists = pa.LargeListArray.from_arrays(offsets, shown.take(pa.array(codes[chosen])))
    joined: ObjArray = np.asarray(
        pc.binary_join(lists, pa.scalar(" ", type=pa.large_string()))
        .to_numpy(zero_copy_only=False), dtype=object,
    )  # fmt: skip
    return joined


def _rewritten(text: str, replacement: dict[str, str | None]) -> str:
    words = [w for w in (replacement.get(w, w) for w in text.split()) if w is not None]
    kept = [w for w in words if w]
    if len(kept) < 2 and len(kept) < len(words):
        original = [w for w in text.split() if replacement.get(w, w) is not None]
        return " ".join(w or o for w, o in zip(words, original, strict=True))
    return " ".join(kept)


def _payee_codes(
    bank_description: Distinct, ledger_counterparty: Distinct, payees: PayeeMemory | None
) -> tuple[IntArray, IntArray]:
    """Per row: the bank row's learned counterparty and the ledger row's counterparty, as
    codes in one space (-1: nothing learned / no counterparty the memory knows)."""
    none_bank = np.full(len(bank_description.codes), NO_CODE, dtype=np.int64)
    none_ledger = np.full(len(ledger_counterparty.codes), NO_CODE, dtype=np.int64)
    if not payees:
        return none_bank, none_ledger
    learned = [payees.payees.get(descriptor_key(str(u))) for u in bank_description.uniques]
    names = sorted({counterparty_key(p.counterparty) for p in learned if p is not None})
    known = {name: code for code, name in enumerate(names)}
    bank_codes = np.array(
        [known.get(counterparty_key(p.counterparty), NO_CODE) if p else NO_CODE
         for p in learned] + [NO_CODE], dtype=np.int64,
    )  # fmt: skip
    ledger_codes = np.array(
        [known.get(counterparty_key(str(u)), NO_CODE) for u in ledger_counterparty.uniques]
        + [NO_CODE], dtype=np.int64,
    )  # fmt: skip
    return bank_codes[bank_description.codes], ledger_codes[ledger_counterparty.codes]


def prepare(
    bank: pd.DataFrame,
    ledger: pd.DataFrame,
    reference_pattern: str,
    payees: PayeeMemory | None = None,
    frame_texts: tuple[FrameTexts, FrameTexts] | None = None,
) -> tuple[Side, Side]:
    """Validate the column contracts and build both sides' arrays, each in (date, id) order;
    ``payees`` (learned from earlier nights' confirmed links) gives ``payee``; ``frame_texts``:
    the frames' text columns, when the caller reads them too.

    The text work (factorising, regexes) runs on the rows in the order they came, and only its
    results are put in (date, id) order: strings visited in input order sit mostly in memory
    order, and hashing them so is faster than in a random order. Codes are only
    ever compared for equality or taken from value-sorted factorisations, so which order built
    them never shows in a result.
    """
    for name, frame, columns in (
        ("bank", bank, BANK_COLUMNS),
        ("ledger", ledger, LEDGER_COLUMNS),
    ):
        missing = [c for c in columns if c not in frame.columns]
        if missing:
            raise ValueError(f"{name} frame lacks columns: {', '.join(missing)}")
    if frame_texts is None:
        frame_texts = (FrameTexts(bank), FrameTexts(ledger))
    bank_dates, ledger_dates = _days(bank["date"]), _days(ledger["date"])
    orders, sorted_ids = [], []
    for name, frame, id_column, dates in (
        ("bank", bank, "transaction_id", bank_dates), ("ledger", ledger, "entry_id", ledger_dates)
    ):
        ids = text_column(frame[id_column])  # read once: not kept in frame_texts
        order = id_order(ids)
        by_id = ids[order]
        if len(ids) > 1 and bool((by_id[1:] == by_id[:-1]).any()):
            raise ValueError(f"{name} frame has duplicate {id_column} values")
        # (date, id) order: rows that can pair (same days) sit near each other, so gathering
        # a candidate's fields touches nearby memory instead of all of a million-row column.
        order = order[sets.order(dates[order])]
        orders.append(order)
        sorted_ids.append(ids[order])

    raw: dict[str, dict[str, ObjArray]] = {}
    party_names: dict[str, ObjArray] = {}
    texts: dict[str, Distinct] = {}
    distinct: dict[str, tuple[Distinct, Distinct]] = {}  # (description, counterparty)
    # Key words per distinct description and counterparty: (words, codes into them) per side.
    key_words: dict[str, tuple[ObjArray, IntArray, ObjArray, IntArray]] = {}
    checks: dict[str, IntArray] = {}
    check_said: dict[str, BoolArray] = {}
    for name, frame, side_texts in (
        ("bank", bank, frame_texts[0]), ("ledger", ledger, frame_texts[1])
    ):
        cols = {c: few_texts_column(frame[c]) for c in ("account", "currency")}
        cols.update({c: side_texts.column(c) for c in ("description", "counterparty")})
        cols["currency"] = _map_unique(cols["currency"], lambda c: c.strip().upper())
        description = side_texts.distinct("description").ascii_folded()
        counterparty = side_texts.distinct("counterparty").ascii_folded()
        reference = side_texts.distinct("reference")
        description_words = np.array([_first_word(u) for u in description.uniques], dtype=object)
        if name == "bank":
            counterparty = _counterparties_from_feed(description, counterparty, description_words)
        party_names[name] = counterparty.uniques
        distinct[name] = (description, counterparty)
        if name == "bank":
            check_column = (
                side_texts.distinct(CHECK_NUMBER) if CHECK_NUMBER in frame.columns else None
            )
            checks[name], check_said[name] = _check_numbers(check_column, True, description)
        else:  # the ledger's check number is its reference, or one named in its description
            checks[name], check_said[name] = _check_numbers(reference, False, description)
        cols["reference"] = _extract_references(description, reference, reference_pattern)
        texts[name] = _text_distinct(counterparty, description)
        key_words[name] = (
            description_words,
            description.codes,
            np.array([_first_word(u) for u in counterparty.uniques], dtype=object),
            counterparty.codes,
        )
        raw[name] = cols

    def pair(column: str, empty_is_none: bool, in_value_order: bool = True) -> tuple[IntArray, ...]:
        return _codes(
            (raw["bank"][column], raw["ledger"][column]), empty_is_none,
            in_value_order=in_value_order,
        )  # fmt: skip

    account_codes = pair("account", False)
    currency_codes = pair("currency", False)
    # References are only ever compared for equality (and joined on).
    reference_codes = pair("reference", True, in_value_order=False)
    party_codes, word_codes = _party_and_word_codes(key_words["bank"], key_words["ledger"])
    payee_codes = _payee_codes(distinct["bank"][0], distinct["ledger"][1], payees)

    authorized = pd.to_datetime(bank["authorized_date"])
    bank_authorized = np.where(
        authorized.isna().to_numpy(), bank_dates, _days(authorized.fillna(bank["date"]))
    ).astype(np.int64)

    cleaned = [
        np.array([fuzz_utils.default_process(t) for t in texts[name].uniques], dtype=object)
        for name in ("bank", "ledger")
    ]
    names = np.array([fuzz_utils.default_process(str(n)) for n in party_names["ledger"]],
                     dtype=object)  # fmt: skip
    matched_texts = [truncation_aware(cleaned[0], names), cleaned[1]]
    described = [side_texts.distinct("description") for side_texts in frame_texts]
    sides = []
    for k, (frame, dates, alt_dates) in enumerate(
        ((bank, bank_dates, bank_authorized), (ledger, ledger_dates, ledger_dates))
    ):
        order = orders[k]
        cols = raw["bank" if k == 0 else "ledger"]
        text = texts["bank" if k == 0 else "ledger"]
        text_clean = cleaned[k]
        pending = (
            frame["pending"].fillna(False).astype(bool).to_numpy()
            if k == 0
            else np.zeros(len(frame), dtype=bool)
        )
        partner_only = (
            frame[PARTNER_ONLY].fillna(False).astype(bool).to_numpy()
            if PARTNER_ONLY in frame.columns
            else np.zeros(len(frame), dtype=bool)
        )
        sides.append(
            Side(
                ids=sorted_ids[k],
                account=cols["account"][order],
                currency=cols["currency"][order],
                account_code=account_codes[k][order],
                currency_code=currency_codes[k][order],
                amount=frame["amount_minor"].to_numpy(dtype=np.int64)[order],
                date=dates[order],
                authorized=alt_dates[order],
                description=cols["description"][order],
                description_code=described[k].codes[order],
                descriptions=described[k].uniques,
                text_code=text.codes[order],
                texts=text.uniques,
                text_clean=text_clean,
                text_match=matched_texts[k],
                reference=reference_codes[k][order],
                party=party_codes[k][order],
                word=word_codes[k][order],
                check=checks["bank" if k == 0 else "ledger"][order],
                check_said=check_said["bank" if k == 0 else "ledger"][order],
                pending=pending[order],
                partner_only=partner_only[order],
                input_row=order,
                named_reference=np.full(len(order), NO_CODE, dtype=np.int64),
                reference_cut=filled(len(order), ""),
                payee=payee_codes[k][order],
            )
        )
    return sides[0], sides[1]
