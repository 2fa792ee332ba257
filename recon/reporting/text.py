"""Untrusted text (bank descriptions, ledger ids, notes) made inert for every report format.

- control characters and lone surrogates become U+FFFD (openpyxl refuses them, and they break
  CSV and HTML consumers);
- text longer than Excel's per-cell limit is truncated with a visible marker;
- :func:`needs_quote_prefix` says when a spreadsheet would read the text as a formula (OWASP CSV
  injection triggers); XLSX sets ``quotePrefix`` on such cells, CSV prefixes ``'``.
"""

from __future__ import annotations

import re
from typing import Final

EXCEL_CELL_LIMIT: Final = 32_767
TRUNCATION_MARKER: Final = " …[truncated]"
REPLACEMENT: Final = "\ufffd"

# Characters XML 1.0 forbids (openpyxl's ILLEGAL_CHARACTERS_RE) plus DEL and lone surrogates.
_ILLEGAL: Final = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff\ufffe\uffff]")
FORMULA_TRIGGERS: Final = ("=", "+", "-", "@", "\t", "\r", "\n", "\x00")


def clean_text(value: object, *, limit: int = EXCEL_CELL_LIMIT) -> str:
    """Text safe to store in any report cell: illegal characters replaced, length capped."""
    if value is None:
        return ""
    text = value if isinstance(value, str) else str(value)
    text = _ILLEGAL.sub(REPLACEMENT, text)
    if len(text) > limit:
        text = text[: limit - len(TRUNCATION_MARKER)] + TRUNCATION_MARKER
    return text


def needs_quote_prefix(text: str) -> bool:
    """True when a spreadsheet could interpret the text as a formula or an error value."""
    # "#" (error values like #N/A) and "{" (array formulas such as {=1+1}) are read specially too.
    return text.startswith((*FORMULA_TRIGGERS, "#", "{"))


def csv_text(value: object) -> str:
    """A CSV field: cleaned, and prefixed with ``'`` when it starts with a formula trigger."""
    text = clean_text(value)
    return "'" + text if text.startswith(FORMULA_TRIGGERS) else text
