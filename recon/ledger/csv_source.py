"""CSV ledgers: read strictly with the csv module, every cell as text, nothing guessed.

The csv module (``strict=True``) rather than pandas' reader: pandas silently pads short rows,
glues text after a closing quote onto the field and renames duplicate headers, while recon must
report each of those as a problem with its line. Rows are collected in chunks into object
Series of the wanted columns only, so memory stays proportional to what recon keeps.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
import re
from collections.abc import Collection
from itertools import islice
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from recon.config import CsvOptions
from recon.errors import ConfigError, InputError, RowProblem
from recon.ledger.table import RawTable, typed_column

_CHUNK_ROWS = 100_000
_MAX_DECODE_PROBLEMS = 1_000
# Lone surrogates: what surrogateescape turns undecodable bytes into.
_UNDECODABLE = re.compile("[\udc80-\udcff]")


def read_csv_table(path: Path, options: CsvOptions, wanted: Collection[str]) -> RawTable:
    source = str(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read the ledger file: {exc.strerror}", source=source) from None
    content_hash = hashlib.sha256(raw).hexdigest()
    text, bad_lines = _decode(raw, options.encoding, source)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=options.delimiter, strict=True)
    problems: list[RowProblem] = []

    try:
        header_cells = next(reader)
    except StopIteration:
        raise InputError("the file is empty (no header row)", source=source) from None
    except csv.Error as exc:
        raise InputError(
            [RowProblem(source, 1, None, f"line {reader.line_num}: header row is not valid CSV "
                                         f"({exc})")],
            source=source,
        ) from None
    header = tuple(cell.strip() for cell in header_cells)
    width = len(header)
    positions = {name: header.index(name) for name in wanted if name in header}

    if not bad_lines:
        clean = _read_clean(reader, width, positions)
        if clean is not None:
            columns, count = clean
            return RawTable(
                source=source,
                header=header,
                columns=columns,
                row_numbers=np.arange(2, count + 2, dtype=np.int64),
                problems=(),
                content_hash=content_hash,
                total_rows=count,
                date_format=options.date_format,
                header_row=1,
            )
        # Something is off: read again, row by row, to say exactly what and where.
        reader = csv.reader(io.StringIO(text, newline=""), delimiter=options.delimiter,
                            strict=True)
        next(reader)

    chunks: list[dict[str, pd.Series]] = []
    chunk_rows: list[list[str]] = []
    row_numbers: list[int] = []
    record = 1  # the header is row 1, as a spreadsheet shows it
    total_rows = 0
    last_line = reader.line_num
    while True:
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            record += 1
            total_rows += 1
            problems.append(
                RowProblem(source, record, None,
                           f"{_lines(last_line + 1, reader.line_num)}: broken quoting ({exc})")
            )
            last_line = reader.line_num
            continue
        record += 1
        first_line, last_line = last_line + 1, reader.line_num
        if not row:  # a blank line: a blank spreadsheet row, not a record
            continue
        total_rows += 1
        if len(row) != width:
            problems.append(
                RowProblem(source, record, None,
                           f"{_lines(first_line, last_line)}: has {len(row)} fields, the header "
                           f"has {width}")
            )
            continue
        if bad_lines and any(_UNDECODABLE.search(cell) for cell in row):
            problems.append(_undecodable_problem(source, record, header, row, options.encoding,
                                                 bad_lines, first_line, last_line))
            continue
        chunk_rows.append(row)
        row_numbers.append(record)
        if len(chunk_rows) >= _CHUNK_ROWS:
            chunks.append(_chunk_columns(chunk_rows, positions))
            chunk_rows = []
    if chunk_rows or not chunks:
        chunks.append(_chunk_columns(chunk_rows, positions))

    columns = {
        name: pd.concat([chunk[name] for chunk in chunks], ignore_index=True)
        if len(chunks) > 1 else chunks[0][name]
        for name in positions
    }
    return RawTable(
        source=source,
        header=header,
        columns=columns,
        row_numbers=np.asarray(row_numbers, dtype=np.int64),
        problems=tuple(problems),
        content_hash=content_hash,
        total_rows=total_rows,
        date_format=options.date_format,
        header_row=1,
    )


def _read_clean(
    reader: Any, width: int, positions: dict[str, int]
) -> tuple[dict[str, pd.Series], int] | None:
    """The fast path for a well-formed file: whole chunks at C speed, no per-row Python code.

    None as soon as a chunk has a CSV error, a blank line or a row of the wrong width; the
    caller then reads the file row by row to report each problem.
    """
    chunks: list[dict[str, pd.Series]] = []
    count = 0
    while True:
        try:
            rows = list(islice(reader, _CHUNK_ROWS))
        except csv.Error:
            return None
        if not rows:
            break
        if set(map(len, rows)) != {width}:
            return None
        chunks.append(_chunk_columns(rows, positions))
        count += len(rows)
    if not chunks:
        chunks.append(_chunk_columns([], positions))
    columns = {
        name: pd.concat([chunk[name] for chunk in chunks], ignore_index=True)
        if len(chunks) > 1 else chunks[0][name]
        for name in positions
    }
    return columns, count


def _chunk_columns(rows: list[list[str]], positions: dict[str, int]) -> dict[str, pd.Series]:
    if not rows:
        return {name: typed_column([]) for name in positions}
    transposed = list(zip(*rows, strict=True))
    return {name: typed_column(transposed[index]) for name, index in positions.items()}


def _lines(first: int, last: int) -> str:
    return f"line {last}" if first >= last else f"lines {first}-{last}"


def _decode(raw: bytes, encoding: str, source: str) -> tuple[str, dict[int, int]]:
    """Text of the file, and {line: first undecodable byte offset} for lines that have some.

    Undecodable bytes become lone surrogates (surrogateescape) so that the rest of the file can
    still be read and each affected row reported, instead of one traceback for the file.
    """
    try:
        codec = codecs.lookup(encoding)
    except LookupError:
        raise ConfigError([f"ledger.csv.encoding: unknown encoding {encoding!r}"]) from None
    skipped = 0  # bytes of a UTF-8 byte-order mark, so offsets stay offsets in the file
    if codec.name == "utf-8" and raw.startswith(codecs.BOM_UTF8):
        skipped = len(codecs.BOM_UTF8)
        raw = raw[skipped:]
    try:
        return raw.decode(codec.name), {}
    except UnicodeDecodeError:
        pass
    bad_lines: dict[int, int] = {}
    view = memoryview(raw)
    offset = 0
    line, counted_to = 1, 0
    while len(bad_lines) < _MAX_DECODE_PROBLEMS:
        try:
            str(view[offset:], codec.name)
            break
        except UnicodeDecodeError as exc:
            bad = offset + exc.start
            line += raw.count(b"\n", counted_to, bad)
            counted_to = bad
            bad_lines.setdefault(line, bad + skipped)
            offset = offset + exc.end
    return raw.decode(codec.name, errors="surrogateescape"), bad_lines


def _undecodable_problem(
    source: str,
    record: int,
    header: tuple[str, ...],
    row: list[str],
    encoding: str,
    bad_lines: dict[int, int],
    first_line: int,
    last_line: int,
) -> RowProblem:
    column = next(name for name, cell in zip(header, row, strict=True)
                  if _UNDECODABLE.search(cell))
    offsets = [bad_lines[line] for line in range(first_line, last_line + 1) if line in bad_lines]
    where = f", byte offset {offsets[0]}" if offsets else ""
    return RowProblem(source, record, column,
                      f"{_lines(first_line, last_line)}{where}: bytes that are not valid "
                      f"{encoding}")
