"""CSV ledgers: every cell as text, nothing guessed, every malformed row reported.

Two readers. The fast one (pandas' C reader) is used only for a file that a byte-level scan
has proved well-formed: every quote opens or closes a field, every record has the header's
number of fields, no blank line, no lone carriage return, no NUL or other control byte, no
field near the size limits. On such a file the C reader and the strict reader give the same
cells, and the row count is checked once more. Anything else (or any doubt) goes to the strict
reader, the csv module with ``strict=True``: pandas' reader silently pads short rows, glues text
after a closing quote onto the field and renames duplicate headers, while recon must report each
of those as a problem with its line.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
import re
from collections.abc import Collection
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from recon.config import CsvOptions
from recon.errors import ConfigError, InputError, RowProblem
from recon.ledger.table import MAX_FIELD_CHARS, RawTable, typed_column
from recon.limits import LIMITS, check_file_size

_CHUNK_ROWS = 100_000
_MAX_DECODE_PROBLEMS = 1_000
# Lone surrogates: what surrogateescape turns undecodable bytes into.
_UNDECODABLE = re.compile("[\udc80-\udcff]")


def read_csv_table(path: Path, options: CsvOptions, wanted: Collection[str]) -> RawTable:
    source = str(path)
    check_file_size(path)  # the whole file is read into memory below
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read the ledger file: {exc.strerror}", source=source) from None
    content_hash = hashlib.sha256(raw).hexdigest()
    fast = _read_fast(raw, options, wanted, source, content_hash)
    if fast is not None:
        return fast
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
    if width > LIMITS.max_columns:
        raise InputError([RowProblem(source, 1, None, f"the header has {width} columns, more "
                                     f"than the {LIMITS.max_columns} recon reads")],
                         source=source)
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
            # The csv module's own limit on one field: say so plainly, not "broken quoting".
            reason = (f"a field is longer than {csv.field_size_limit()} characters"
                      if "field larger than field limit" in str(exc)
                      else f"broken quoting ({exc})")
            problems.append(
                RowProblem(source, record, None,
                           f"{_lines(last_line + 1, reader.line_num)}: {reason}")
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


# The bytes validation calls control characters (validate._CONTROL), NUL included.
_CONTROL_BYTES = [*range(0x00, 0x09), 0x0B, 0x0C, *range(0x0E, 0x20), 0x7F]
_NOT_CONTROL_BYTES = bytes(sorted(set(range(256)) - set(_CONTROL_BYTES)))
_SCAN_BLOCK_BYTES = 1 << 22


@dataclass(frozen=True)
class _Structure:
    """What the scan proved about a well-formed file."""

    records: int  # header included
    width: int
    max_field_bytes: int  # an upper bound on every cell's length in characters too
    trimmed: bool  # no cell starts or ends with white space


def _read_fast(
    raw: bytes, options: CsvOptions, wanted: Collection[str], source: str, content_hash: str
) -> RawTable | None:
    """The file through pandas' C reader, or None when it is not provably well-formed."""
    delimiter = options.delimiter.encode("utf-8", errors="replace")
    if len(delimiter) != 1 or delimiter in b'"\r\n' or delimiter[0] in _CONTROL_BYTES:
        return None
    try:
        codec = codecs.lookup(options.encoding)
    except LookupError:
        return None  # the strict reader raises the ConfigError
    if codec.name == "utf-8":
        data = raw[len(codecs.BOM_UTF8):] if raw.startswith(codecs.BOM_UTF8) else raw
        if not data.isascii():
            try:
                data.decode("utf-8")
            except UnicodeDecodeError:
                return None  # the strict reader reports each undecodable row
    else:
        try:
            data = raw.decode(codec.name).encode("utf-8")
        except (UnicodeDecodeError, UnicodeEncodeError):
            return None
    structure = _scan_structure(data, delimiter[0])
    if structure is None:
        return None
    header = _header(data, options.delimiter)
    if header is None or len(header) != structure.width:
        return None
    positions = {name: header.index(name) for name in wanted if name in header}
    count = structure.records - 1
    columns: dict[str, pd.Series] = {}
    if positions:
        indices = sorted(set(positions.values()))
        try:
            frame = pd.read_csv(
                io.BytesIO(data), sep=options.delimiter, engine="c", header=0,
                usecols=indices, dtype=object, keep_default_na=False, na_filter=False,
                skip_blank_lines=False, quotechar='"', doublequote=True, encoding="utf-8",
            )
        except (ValueError, UnicodeDecodeError, pd.errors.ParserError):
            return None
        if len(frame) != count or frame.shape[1] != len(indices):
            return None
        for name, index in positions.items():
            values = frame.iloc[:, indices.index(index)].to_numpy(dtype=object)
            columns[name] = pd.Series(values, dtype=object)
        del frame
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
        control_free=True,
        max_cell_chars=structure.max_field_bytes,
        trimmed=structure.trimmed,
    )


def _scan_structure(data: bytes, delimiter: int) -> _Structure | None:
    """Prove with numpy (no per-byte Python) that the strict reader would read ``data`` without
    a single problem and that pandas' C reader reads the same cells; None when in doubt.

    Quotes pair up in order; a byte is inside a quoted field when an odd number of quotes
    precede it. An opening quote must start a field or follow a quote (a doubled quote); a
    closing quote must end a field or precede one. The file is scanned in blocks so that the
    working arrays stay small: what a block needs from the ones before is carried along.
    """
    size = len(data)
    if size == 0:
        return None
    view = np.frombuffer(data, dtype=np.uint8)
    quote, newline, carriage_return = ord('"'), ord("\n"), ord("\r")
    field_ends = np.array([delimiter, newline, carriage_return], dtype=np.uint8)
    field_starts = np.array([delimiter, newline, quote], dtype=np.uint8)
    quote_parity = 0  # quotes before the block, mod 2
    fields_open = 0  # fields of the current record that ended before the block
    last_bound = -1  # the last field boundary before the block
    width = 0
    records = 0
    max_field = 0
    trimmed = True
    for offset in range(0, size, _SCAN_BLOCK_BYTES):
        if data[offset:offset + _SCAN_BLOCK_BYTES].translate(None, _NOT_CONTROL_BYTES):
            return None  # control bytes: the strict reader and validation deal with those
        block = view[offset:offset + _SCAN_BLOCK_BYTES]
        special = block == quote
        special |= block == delimiter
        special |= block == newline
        special |= block == carriage_return
        local = np.flatnonzero(special)
        kinds = block[local]
        positions = local + offset
        is_quote = kinds == quote
        quotes_before = np.cumsum(is_quote, dtype=np.uint8) - is_quote + quote_parity
        # uint8 wraps at 256; the parity survives that.
        outside = ((quotes_before & 1) == 0) & ~is_quote
        quotes = positions[is_quote]
        opening = (quotes_before[is_quote] & 1) == 0
        quote_parity = (quote_parity + quotes.size) & 1
        if quotes.size:
            opens = quotes[opening]
            before = view[np.maximum(opens - 1, 0)]
            closes = quotes[~opening]
            after = view[np.minimum(closes + 1, size - 1)]
            if not ((opens == 0) | np.isin(before, field_starts)).all() or \
                    not ((closes + 1 == size) | np.isin(after, field_ends) |
                         (after == quote)).all():
                return None
        is_return = kinds == carriage_return
        if is_return.any():
            returns = positions[is_return]
            # Only as part of CRLF between fields; inside a quoted field the readers may differ.
            if not outside[is_return].all() or returns[-1] + 1 >= size or \
                    (view[returns + 1] != newline).any():
                return None
        boundary = outside & ((kinds == delimiter) | (kinds == newline))
        bounds = positions[boundary]
        ends_record = np.flatnonzero(kinds[boundary] == newline)
        if offset + _SCAN_BLOCK_BYTES >= size and data[-1:] != b"\n":
            bounds = np.append(bounds, size)  # the last record has no line end
            ends_record = np.append(ends_record, bounds.size - 1)
        if bounds.size == 0:
            continue
        if ends_record.size:
            fields = np.diff(ends_record, prepend=-1)
            fields[0] += fields_open
            if width == 0:
                width = int(fields[0])
            # One field per record could hide blank lines, which the readers count differently.
            if width < 2 or (fields != width).any():
                return None
            records += int(ends_record.size)
            fields_open = int(bounds.size - ends_record[-1] - 1)
        else:
            fields_open += int(bounds.size)
        starts = np.empty_like(bounds)
        starts[0] = last_bound + 1
        starts[1:] = bounds[:-1] + 1
        last_bound = int(bounds[-1])
        max_field = max(max_field, int((bounds - starts).max()))
        if max_field > MAX_FIELD_CHARS:
            return None  # the strict reader's field limit and the length rule decide
        trimmed = trimmed and _no_padding(view, starts, bounds)
    if quote_parity or fields_open or records == 0:
        return None
    return _Structure(records=records, width=width, max_field_bytes=max_field, trimmed=trimmed)


def _no_padding(
    view: npt.NDArray[np.uint8], starts: npt.NDArray[np.int64], ends: npt.NDArray[np.int64]
) -> bool:
    """True when no field's text starts or ends with white space (str.strip would keep it).

    Looks at the first and last byte of each field's text (inside its quotes, before a CR).
    Any non-ASCII byte there counts as possible white space (U+00A0 and friends).
    """
    filled = ends > starts
    starts, ends = starts[filled], ends[filled]
    last = ends - 1
    last -= view[last] == ord("\r")
    quoted = view[starts] == ord('"')
    first = starts + quoted
    last -= quoted
    edges = np.concatenate((view[first[first <= last]], view[last[first <= last]]))
    # ASCII white space (str.isspace) that a control-free file can hold; then non-ASCII.
    padding = np.isin(edges, np.frombuffer(b" \t\n\r", dtype=np.uint8)) | (edges >= 0x80)
    return not padding.any()


def _header(data: bytes, delimiter: str) -> tuple[str, ...] | None:
    """The first record's cells, stripped, by the strict reader (a header may be quoted)."""
    head = data[: data.find(b"\n", 0, 1 << 20) + 1 or len(data)]
    try:
        reader = csv.reader(io.StringIO(head.decode("utf-8"), newline=""),
                            delimiter=delimiter, strict=True)
        return tuple(cell.strip() for cell in next(reader))
    except (csv.Error, StopIteration, UnicodeDecodeError):
        return None


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
