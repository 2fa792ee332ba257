"""Input limits for every file recon reads from outside (ledger CSV/XLSX, bank JSON/CSV,
annotation workbooks), checked while streaming, before memory grows.

A hostile or broken file must fail with exit 65 in bounded time and memory, never take
gigabytes first. The limits are far above any real export (Excel itself stops at 1,048,576 rows,
16,384 columns and 32,767 characters a cell) and are the same on every machine:

- file size (:func:`check_file_size`), before a byte is read;
- XLSX (:func:`check_xlsx`): the uncompressed size of the parts (from the archive directory,
  then again while inflating, since the directory can lie),
  rows, cells in one row and in the workbook, characters of one shared string and of all of
  them. The worksheets and the shared strings are streamed through expat (no DTD, no entities)
  in 1 MiB pieces before openpyxl sees the file, so openpyxl only ever opens a bounded workbook;
- amounts: :data:`recon.money.MAX_ABS_MINOR`, in :func:`recon.money.to_minor`;
- dates: the years in :data:`YEARS`;
- JSON nesting: the decoder's recursion limit, reported as bad input.
"""

from __future__ import annotations

import os
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path
from xml.parsers import expat

from recon.errors import InputError, RowProblem


@dataclass(frozen=True)
class InputLimits:
    max_file_bytes: int = 4 * 1024**3
    max_uncompressed_bytes: int = 2 * 1024**3  # all parts of one XLSX, inflated
    max_rows: int = 1_048_576  # Excel's own sheet limit
    max_columns: int = 16_384  # Excel's own column limit: cells in one row
    max_cells: int = 50_000_000  # in one workbook
    max_cell_chars: int = 32_767  # Excel's own limit for the text of one cell
    max_shared_chars: int = 500_000_000  # all shared strings of one workbook


LIMITS = InputLimits()
# Years a date in an input file may have (pandas' nanosecond dates end in 2262).
YEARS = (1900, 2199)
_CHUNK = 1024 * 1024
_SHEET_PART = re.compile(r"^xl/worksheets/[^/]+\.xml$")
_SHARED_PART = "xl/sharedStrings.xml"


def check_file_size(path: Path, limits: InputLimits = LIMITS) -> None:
    try:
        size = os.stat(path).st_size
    except OSError as exc:
        raise InputError(f"cannot read the file: {exc.strerror}", source=str(path)) from None
    if size > limits.max_file_bytes:
        raise InputError(f"the file is {size} bytes, more than the {limits.max_file_bytes} "
                         "recon reads", source=str(path))


class _Exceeded(Exception):
    def __init__(self, reason: str, row: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.row = row


def check_xlsx(path: Path, limits: InputLimits = LIMITS, *, source: str | None = None,
               unreadable: str = "not a readable XLSX workbook") -> None:
    """Raise InputError (exit 65) when the workbook is over a limit; memory stays flat."""
    source = source or str(path)
    check_file_size(path, limits)
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise InputError(f"{unreadable} ({type(exc).__name__})", source=source) from None
    with archive:
        infos = archive.infolist()
        declared = sum(info.file_size for info in infos)
        try:
            if declared > limits.max_uncompressed_bytes:
                raise _Exceeded(f"its parts inflate to {declared} bytes, more than the "
                                f"{limits.max_uncompressed_bytes} recon reads")
            scan = _Scan(limits)
            for info in infos:
                if info.filename == _SHARED_PART:
                    scan.feed(archive, info, shared=True)
                elif _SHEET_PART.match(info.filename):
                    scan.feed(archive, info, shared=False)
        except _Exceeded as exc:
            raise InputError([RowProblem(source, exc.row, None, f"refused: {exc.reason}")],
                             source=source) from None
        except (zipfile.BadZipFile, expat.ExpatError, EOFError, OSError) as exc:
            raise InputError(f"{unreadable} ({type(exc).__name__})", source=source) from None


class _Scan:
    """Counts rows, cells and shared-string characters with expat, element by element."""

    def __init__(self, limits: InputLimits) -> None:
        self.limits = limits
        self.inflated = 0
        self.cells = 0
        self.shared_chars = 0

    def feed(self, archive: zipfile.ZipFile, info: zipfile.ZipInfo, *, shared: bool) -> None:
        parser = expat.ParserCreate(namespace_separator=" ")
        parser.buffer_text = False
        parser.StartDoctypeDeclHandler = self._no_dtype  # no DTD: no entity tricks
        limits = self.limits
        state = {"rows": 0, "row_cells": 0, "string_chars": 0, "in_text": False}

        def start(name: str, _attributes: object) -> None:
            local = name.rsplit(" ", 1)[-1]
            if shared:
                if local == "si":
                    state["string_chars"] = 0
                elif local == "t":
                    state["in_text"] = True
                return
            if local == "c":
                state["row_cells"] += 1
                self.cells += 1
                if state["row_cells"] > limits.max_columns:
                    raise _Exceeded(f"a row has more than {limits.max_columns} cells",
                                    state["rows"])
                if self.cells > limits.max_cells:
                    raise _Exceeded(f"more than {limits.max_cells} cells")
            elif local == "row":
                state["rows"] += 1
                state["row_cells"] = 0
                if state["rows"] > limits.max_rows:
                    raise _Exceeded(f"more than {limits.max_rows} rows in {info.filename}")

        def end(name: str) -> None:
            if shared and name.rsplit(" ", 1)[-1] == "t":
                state["in_text"] = False

        def text(data: str) -> None:
            if not state["in_text"]:
                return
            state["string_chars"] += len(data)
            self.shared_chars += len(data)
            if state["string_chars"] > limits.max_cell_chars:
                raise _Exceeded(f"a shared string is longer than {limits.max_cell_chars} "
                                "characters (Excel's limit for a cell)")
            if self.shared_chars > limits.max_shared_chars:
                raise _Exceeded(f"the shared strings hold more than {limits.max_shared_chars} "
                                "characters")

        parser.StartElementHandler = start
        if shared:
            parser.EndElementHandler = end
            parser.CharacterDataHandler = text
        with archive.open(info) as part:
            while chunk := part.read(_CHUNK):
                self.inflated += len(chunk)
                if self.inflated > limits.max_uncompressed_bytes:
                    raise _Exceeded(f"its parts inflate to more than "
                                    f"{limits.max_uncompressed_bytes} bytes")
                parser.Parse(chunk, False)
            parser.Parse(b"", True)

    @staticmethod
    def _no_dtype(*_args: object) -> None:
        raise _Exceeded("the XML holds a document type declaration (refused: entity expansion)")
