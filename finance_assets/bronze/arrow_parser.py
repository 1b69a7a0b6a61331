"""Parse one landing CSV file into bronze record batches with ``pyarrow.csv``.

The result is exactly what the strict Python parser (``csv_parser``, the reference) gives
for the same bytes, field for field: the required columns as the original strings,
``_source_row`` numbering the non-blank records after the header, extra columns as the
same JSON text in ``_rescued_data``, and the raw text of a record with the wrong field
count in ``_corrupt_record``. Arrow parses the fields in C++ and the bronze columns are
assembled with Arrow compute; Python only touches the header and the rows Arrow rejects.

A file is read in segments of about ``SEGMENT_BYTES`` that end on a record boundary, so a
file of any size needs memory for one segment. Each segment takes the fast path only when
Arrow provably reads it the way the strict parser does:

- every quote is part of an RFC 4180 quoted field: the quotes pair up, an opening quote
  starts a field and a closing quote ends it (followed by a comma, a line end, the end of
  the file or the quote that escapes it). Otherwise the strict parser would see a quote
  inside an unquoted field, text after a closing quote or a quote left open, which Arrow
  reads differently, so the segment goes to the strict parser;
- the data rows are valid UTF-8 and hold no NUL byte (the strict parser marks a row with
  undecodable bytes corrupt, and ``csv`` before Python 3.11 rejects NUL);
- the header has at least two columns (with one column a whitespace-only line would be a
  valid Arrow row but a blank line to the strict parser);
- Arrow reports every rejected row with its row number (a consistency check).

Blank lines are skipped by Arrow (empty lines) or come back as one-field invalid rows that
are whitespace only; neither is a row nor counted. The first segment that fails a check and
everything after it is parsed by ``csv_parser.parse_records``, fed the header's bytes again
and numbered on from where the fast path stopped: a segment that passed the checks ends
where the strict parser is between records, so the two never disagree on where a record
starts.
"""

from __future__ import annotations

import csv
import io
import json
import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date
from typing import BinaryIO

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from finance_assets.bronze import csv_parser
from finance_assets.bronze.csv_parser import BronzeRecord, Header, parse_records
from finance_assets.contract import PARTITION_COLUMN

BATCH_ROWS = 8192
SEGMENT_BYTES = 4 * 1024 * 1024
# One segment is parsed as one Arrow block.
_MAX_BLOCK = (1 << 31) - 2

_BOM = b"\xef\xbb\xbf"
_LF, _CR, _QUOTE, _COMMA = 10, 13, 34, 44
# Bytes that may stand next to a quote on its outer side: the field or record edge, or the
# quote that escapes it.
_FIELD_EDGE = np.zeros(256, dtype=bool)
_FIELD_EDGE[[_COMMA, _LF, _CR, _QUOTE]] = True

# json.dumps(..., ensure_ascii=False) escapes exactly these characters, this way.
_JSON_NEEDS_ESCAPE = r'[\x00-\x1f"\\]'
_JSON_CONTROL_ESCAPES = tuple(
    (chr(c), {8: "\\b", 9: "\\t", 10: "\\n", 12: "\\f", 13: "\\r"}.get(c, f"\\u{c:04x}"))
    for c in range(0x20)
)

log = logging.getLogger(__name__)


def bronze_arrow_schema(columns: tuple[str, ...]) -> pa.Schema:
    """The parsed bronze columns: the required columns as strings, then lineage."""
    return pa.schema(
        [pa.field(c, pa.string()) for c in columns]
        + [
            pa.field("_source_file", pa.string(), nullable=False),
            pa.field("_source_row", pa.int64(), nullable=False),
            pa.field("_rescued_data", pa.string()),
            pa.field("_corrupt_record", pa.string()),
            pa.field(PARTITION_COLUMN, pa.date32(), nullable=False),
        ]
    )


def records_to_batch(
    records: list[BronzeRecord],
    uri: str,
    day: date,
    width: int,
    schema: pa.Schema,
    row_offset: int = 0,
) -> pa.RecordBatch:
    """Strict-parser records as one batch; ``row_offset`` is added to ``_source_row``."""
    n = len(records)
    value_columns = [[r.values[i] for r in records] for i in range(width)]
    arrays = [pa.array(v, pa.string()) for v in value_columns] + [
        pa.array([uri] * n, pa.string()),
        pa.array([r.source_row + row_offset for r in records], pa.int64()),
        pa.array([r.rescued for r in records], pa.string()),
        pa.array([r.corrupt for r in records], pa.string()),
        pa.array([day] * n, pa.date32()),
    ]
    return pa.RecordBatch.from_arrays(arrays, schema=schema)


@dataclass
class ParseReport:
    """How a file was parsed: rows per path and, if it fell back, why and from which row."""

    fast_rows: int = 0
    strict_rows: int = 0
    fallback: str | None = None
    fallback_row: int | None = None

    @property
    def fast(self) -> bool:
        return self.fallback is None


def parse_file(
    source: BinaryIO | bytes,
    uri: str,
    day: date,
    columns: tuple[str, ...],
    *,
    report: ParseReport | None = None,
    segment_bytes: int = SEGMENT_BYTES,
) -> Iterator[pa.RecordBatch]:
    """Batches of the file's bronze rows (schema ``bronze_arrow_schema(columns)``), in file
    order, identical to the strict parser's; ``report`` (if given) says which path ran."""
    report = report if report is not None else ParseReport()
    out = _Output(uri, day, columns)
    segments = _Segments(source, max(1, segment_bytes))
    header: Header | None = None
    header_raw = b""
    next_row = 1
    for segment in segments:
        reason = _unsafe_bytes(segment)
        body = segment
        if reason is None and header is None:
            found = _read_header(segment)
            if found is None:
                continue  # blank lines only, the header is further on
            fields, end = found
            if fields is None:
                reason = "header"
            else:
                header = Header.from_fields([csv_parser._printable(f) for f in fields], columns)
                header_raw, body = segment[:end], segment[end:]
                if header.width < 2:
                    reason = "narrow_header"
        if reason is None:
            assert header is not None
            parsed = _arrow_rows(body, header)
            if isinstance(parsed, str):
                reason = parsed
            else:
                for batch in out.batches(parsed, header, next_row):
                    report.fast_rows += batch.num_rows
                    yield batch
                next_row += parsed.count
                continue
        # The strict parser takes over from the start of this segment (the header's bytes
        # first when it was already read, so that it reads the same header).
        report.fallback, report.fallback_row = reason, next_row
        log.debug("%s: strict parser from data row %d (%s)", uri, next_row, reason)
        rest = segments.rest()
        parts = [b"\n", header_raw, body] if header is not None else [b"\n", segment]
        stream = io.BufferedReader(_Chain([*parts, *rest[0]], rest[1]), buffer_size=1 << 20)
        for batch in out.record_batches(parse_records(stream, columns), next_row - 1):
            report.strict_rows += batch.num_rows
            yield batch
        return


# --- reading segments ----------------------------------------------------------------------


class _Segments:
    """The file's bytes (after a UTF-8 BOM) in pieces that each end on a record boundary.

    A cut is placed after the last line end that has an even number of quotes before it.
    If the quoting is not strict the cut may be in the wrong place, but such a segment
    never takes the fast path, and the strict parser resumes from its start instead.
    """

    def __init__(self, source: BinaryIO | bytes, size: int):
        self._size = size
        if isinstance(source, bytes | bytearray | memoryview):
            self._buffer, self._stream, self._eof = bytes(source), None, True
        else:
            self._buffer, self._stream, self._eof = b"", source, False

    def _fill(self, want: int) -> None:
        parts, have = [self._buffer], len(self._buffer)
        while have < want and not self._eof:
            assert self._stream is not None
            chunk = self._stream.read(want - have)
            if not chunk:
                self._eof = True
                break
            parts.append(chunk)
            have += len(chunk)
        if len(parts) > 1:
            self._buffer = b"".join(parts)

    def __iter__(self) -> Iterator[bytes]:
        self._fill(max(self._size, len(_BOM)))
        if self._buffer.startswith(_BOM):
            self._buffer = self._buffer[len(_BOM) :]
        while self._buffer or not self._eof:
            cut = _cut(self._buffer, self._eof)
            if cut is None:  # a record longer than the buffer: read on, doubling it
                self._fill(len(self._buffer) + max(len(self._buffer), self._size))
                continue
            segment, self._buffer = self._buffer[:cut], self._buffer[cut:]
            yield segment
            self._fill(self._size)

    def rest(self) -> tuple[list[bytes], BinaryIO | None]:
        """What has not been handed out yet: buffered bytes and the unread stream."""
        return [self._buffer], (None if self._eof else self._stream)


def _cut(buffer: bytes, eof: bool) -> int | None:
    """Where the last complete record in ``buffer`` ends, judged by quote parity."""
    if eof:
        return len(buffer)
    if b'"' not in buffer:
        end = buffer.rfind(b"\n") + 1
        if end:
            return end
        # A lone CR ends a line too; not the last byte, which may be the CR of a CRLF.
        end = buffer.rfind(b"\r", 0, len(buffer) - 1) + 1
        return end or None
    data = np.frombuffer(buffer, dtype=np.uint8)
    quotes = np.flatnonzero(data == _QUOTE)
    # A CR followed by an LF has the LF's parity, so the LF is found first.
    for byte, limit in ((_LF, len(buffer)), (_CR, len(buffer) - 1)):
        ends = np.flatnonzero(data[:limit] == byte)
        outside = ends[(np.searchsorted(quotes, ends) & 1) == 0]
        if len(outside):
            return int(outside[-1]) + 1
    return None


class _Chain(io.RawIOBase):
    """Byte strings followed by a stream, as one raw stream."""

    def __init__(self, parts: Iterable[bytes], stream: BinaryIO | None):
        self._parts = [memoryview(p) for p in parts if p]
        self._stream = stream

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        while self._parts:
            part = self._parts[0]
            n = min(len(buffer), len(part))
            buffer[:n] = part[:n]
            if n == len(part):
                self._parts.pop(0)
            else:
                self._parts[0] = part[n:]
            return n
        if self._stream is None:
            return 0
        data = self._stream.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


# --- when the fast path is exact -----------------------------------------------------------


def _unsafe_bytes(segment: bytes) -> str | None:
    """Why Arrow might read the segment differently from the strict parser, or None."""
    if b"\x00" in segment:
        return "nul_byte"
    if b'"' in segment and not _strict_quotes(segment):
        return "quoting"
    # Arrow's block size is an int32, and a field as long as csv's field size limit is an
    # error to the strict parser (a corrupt record) but not to Arrow.
    if len(segment) >= min(_MAX_BLOCK, csv.field_size_limit()):
        return "segment_too_large"
    return None


def _strict_quotes(segment: bytes) -> bool:
    """True when every quote in the segment opens or closes an RFC 4180 quoted field.

    With the quotes paired in order, the first of each pair must start a field (after a
    comma, a line end or the segment start) or follow the closing quote it escapes, and
    the second must end the field (before a comma, a line end or the end of the data) or
    precede the quote it escapes. The segment starts between records, so then the strict
    parser and Arrow read every quote the same way.
    """
    data = np.frombuffer(segment, dtype=np.uint8)
    quotes = np.flatnonzero(data == _QUOTE)
    if len(quotes) % 2:
        return False
    opening, closing = quotes[0::2], quotes[1::2]
    before = _FIELD_EDGE[data[np.maximum(opening - 1, 0)]] | (opening == 0)
    last = len(data) - 1
    after = _FIELD_EDGE[data[np.minimum(closing + 1, last)]] | (closing == last)
    return bool(before.all() and after.all())


def _read_header(segment: bytes) -> tuple[list[str] | None, int] | None:
    """The first non-blank record as the strict parser reads it, and the offset of its end.

    None when the segment holds only blank lines; the fields are None when the record is
    not strict CSV.
    """
    text = io.TextIOWrapper(
        io.BytesIO(segment), encoding="utf-8", errors="surrogateescape", newline=""
    )
    tap = csv_parser._LineTap(text)
    reader = csv.reader(tap, strict=True)
    end = 0
    while True:
        try:
            fields = next(reader)
        except StopIteration:
            return None
        except csv.Error:
            fields = None
        raw = tap.pop_raw()
        end += len(raw.encode("utf-8", "surrogateescape"))
        if raw.strip():
            return fields, end


# --- the fast path -------------------------------------------------------------------------


@dataclass(frozen=True)
class _Rows:
    """One segment's rows as Arrow read them, and where the rejected rows go."""

    table: pa.Table  # the rows with the header's field count, columns c0..c<width-1>
    count: int  # bronze rows: valid + corrupt
    take_valid: pa.Array | None  # per bronze row, its row in ``table`` (null: corrupt)
    corrupt: pa.Array | None  # per bronze row, its raw text (null: valid)


def _arrow_rows(body: bytes, header: Header) -> _Rows | str:
    """The segment's data rows read by Arrow, or why the fast path cannot be sure of them."""
    if not body.isascii():
        try:
            body.decode("utf-8")
        except UnicodeDecodeError:
            return "not_utf8"
    if not body:
        return _Rows(pa.table({}), 0, None, None)
    if body.startswith(_BOM):
        body = b"\n" + body  # Arrow drops a BOM at the start of its input; the rows keep it
    rejected: list[tuple[int | None, int, str]] = []

    def on_invalid(row) -> str:
        rejected.append((row.number, row.actual_columns, row.text))
        return "skip"

    names = [f"c{i}" for i in range(header.width)]
    try:
        table = pacsv.read_csv(
            pa.BufferReader(body),
            read_options=pacsv.ReadOptions(
                column_names=names, use_threads=False, block_size=len(body) + 1
            ),
            parse_options=pacsv.ParseOptions(
                delimiter=",",
                quote_char='"',
                double_quote=True,
                escape_char=False,
                newlines_in_values=True,
                ignore_empty_lines=True,
                invalid_row_handler=on_invalid,
            ),
            convert_options=pacsv.ConvertOptions(
                column_types=dict.fromkeys(names, pa.string()),
                null_values=[],
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
                check_utf8=False,  # checked above, the way the strict parser decodes
            ),
        )
    except (pa.ArrowException, UnicodeDecodeError) as exc:
        log.debug("Arrow could not read a segment: %s", exc)
        return "arrow_error"
    return _place_rejected(table, rejected)


def _place_rejected(table: pa.Table, rejected: list[tuple[int | None, int, str]]) -> _Rows | str:
    """Interleave Arrow's valid rows with the rows it rejected, by Arrow's row numbers
    (1-based over non-empty lines); whitespace-only lines are blank, not rows."""
    if not rejected:
        return _Rows(table, table.num_rows, None, None)
    numbers = [number for number, _, _ in rejected]
    total = table.num_rows + len(rejected)
    if any(n is None for n in numbers):
        return "arrow_row_numbers"
    at = np.asarray(numbers, dtype=np.int64)
    if at[0] < 1 or at[-1] > total or (len(at) > 1 and np.any(np.diff(at) <= 0)):
        return "arrow_row_numbers"
    blank = np.fromiter(
        (fields == 1 and not text.strip() for _, fields, text in rejected),
        dtype=bool,
        count=len(rejected),
    )
    is_rejected = np.zeros(total, dtype=bool)
    is_rejected[at - 1] = True
    keep = np.ones(total, dtype=bool)
    keep[at[blank] - 1] = False
    corrupt_rows = is_rejected[keep]
    count = len(corrupt_rows)
    valid_index = np.cumsum(~corrupt_rows) - 1
    corrupt_index = np.cumsum(corrupt_rows) - 1
    texts = pa.array([text for (_, _, text), b in zip(rejected, blank, strict=True) if not b])
    return _Rows(
        table,
        count,
        pa.array(valid_index, pa.int64(), mask=corrupt_rows),
        texts.take(pa.array(corrupt_index, pa.int64(), mask=~corrupt_rows)),
    )


# --- assembling bronze batches -------------------------------------------------------------


class _Output:
    """Builds one file's bronze batches."""

    def __init__(self, uri: str, day: date, columns: tuple[str, ...]):
        self.uri, self.day, self.columns = uri, day, columns
        self.schema = bronze_arrow_schema(columns)
        self._constants: dict[int, tuple[pa.Array, pa.Array]] = {}

    def batches(self, rows: _Rows, header: Header, first_row: int) -> Iterator[pa.RecordBatch]:
        """The fast path's rows, numbered from ``first_row``."""
        n = rows.count
        if not n:
            return
        columns = []
        for position in header.required_positions:
            if position is None:
                columns.append(pa.nulls(n, pa.string()))
            else:
                columns.append(_taken(rows.table.column(position), rows.take_valid))
        columns.append(pa.array(np.arange(first_row, first_row + n, dtype=np.int64)))
        if header.extra_columns:
            columns.append(_taken(_rescued_json(rows.table, header.extra_columns), rows.take_valid))
        else:
            columns.append(pa.nulls(n, pa.string()))
        columns.append(rows.corrupt if rows.corrupt is not None else pa.nulls(n, pa.string()))
        parsed = pa.Table.from_arrays(columns, names=[str(i) for i in range(len(columns))])
        width = len(self.columns)
        for batch in parsed.to_batches(max_chunksize=BATCH_ROWS):
            source_file, partition = self._constant_columns(batch.num_rows)
            arrays = batch.columns
            yield pa.RecordBatch.from_arrays(
                [*arrays[:width], source_file, *arrays[width:], partition], schema=self.schema
            )

    def record_batches(
        self, records: Iterable[BronzeRecord], row_offset: int
    ) -> Iterator[pa.RecordBatch]:
        """The strict parser's records, their row numbers shifted by ``row_offset``."""
        rows: list[BronzeRecord] = []
        width = len(self.columns)
        for record in records:
            rows.append(record)
            if len(rows) >= BATCH_ROWS:
                yield records_to_batch(rows, self.uri, self.day, width, self.schema, row_offset)
                rows = []
        if rows:
            yield records_to_batch(rows, self.uri, self.day, width, self.schema, row_offset)

    def _constant_columns(self, n: int) -> tuple[pa.Array, pa.Array]:
        if n not in self._constants:
            encoded = self.uri.encode("utf-8")
            offsets = np.arange(n + 1, dtype=np.int32) * np.int32(len(encoded))
            source_file = pa.Array.from_buffers(
                pa.string(), n, [None, pa.py_buffer(offsets), pa.py_buffer(encoded * n)]
            )
            days = (self.day - date(1970, 1, 1)).days
            partition = pa.array(np.full(n, days, dtype=np.int32)).view(pa.date32())
            self._constants = {n: (source_file, partition)}
        return self._constants[n]


def _taken(values: pa.Array | pa.ChunkedArray, index: pa.Array | None):
    return values if index is None else values.take(index)


def _rescued_json(table: pa.Table, extras: tuple[tuple[str, int], ...]) -> pa.Array:
    """``json.dumps({name: value, ...}, ensure_ascii=False)`` for every row, vectorized."""
    parts: list = []
    for i, (name, position) in enumerate(extras):
        parts.append(("{" if i == 0 else ", ") + json.dumps(name, ensure_ascii=False) + ": ")
        parts.append(_json_string(table.column(position)))
    parts.append("}")
    return pc.binary_join_element_wise(*parts, "")


def _json_string(values: pa.Array | pa.ChunkedArray) -> pa.Array:
    """Each value as a JSON string literal, escaped as ``json.dumps`` does."""
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    quoted = pc.binary_join_element_wise('"', values, '"', "")
    needs = pc.match_substring_regex(values, _JSON_NEEDS_ESCAPE)
    if not pc.any(needs).as_py():
        return quoted
    escaped = pc.replace_substring(values.filter(needs), "\\", "\\\\")
    escaped = pc.replace_substring(escaped, '"', '\\"')
    if pc.any(pc.match_substring_regex(escaped, r"[\x00-\x1f]")).as_py():
        for char, replacement in _JSON_CONTROL_ESCAPES:
            if pc.any(pc.match_substring(escaped, char)).as_py():
                escaped = pc.replace_substring(escaped, char, replacement)
    escaped = pc.binary_join_element_wise('"', escaped, '"', "")
    return pc.replace_with_mask(quoted, needs, escaped)
