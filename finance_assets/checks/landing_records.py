"""Count the data records of landing files without either bronze parser.

Bronze must hold exactly one row per non-blank data record of its landing files. To prove it,
the records are counted here a second, independent way: not with Python's ``csv`` module (the
strict parser) nor with ``pyarrow.csv`` (the fast one), but by following the quotes byte by
byte with the contract's CSV rules (RFC 4180 quoting; LF, CRLF or CR line ends; a quote
opens a quoted field only at the start of a field; text after a closing quote, or a file that
ends inside quotes, makes the record corrupt, and it ends with its line or the file; blank
records and the header are not data records).

Most blocks of a file quote regularly (every quote opens a field, closes one or doubles a
quote), and there a record ends at every line end outside quotes: NumPy finds those ends and
the blank records between them without a Python loop. A block with a stray quote is
followed line by line with the full rules instead. Counting runs where the bronze parse
ran: inside Spark tasks, each task reading its files itself (local or S3), or for a small
drop in this process.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator, Sequence
from typing import BinaryIO

import numpy as np
import pyarrow as pa
from pyspark.sql import SparkSession

from finance_assets.bronze.transforms import parse_task_count, spark_path_to_uri
from finance_assets.landing.zone import LandingFile, S3Options, open_binary

BLOCK_BYTES = 4 << 20
BOM = b"\xef\xbb\xbf"
QUOTE, COMMA, LF, CR = 34, 44, 10, 13
# Python's str.strip() removes these ASCII characters; other whitespace is not ASCII.
_ASCII_SPACE = bytes([9, 10, 11, 12, 13, 28, 29, 30, 31, 32])
_SOLID = np.array([b < 128 and b not in _ASCII_SPACE for b in range(256)], dtype=bool)
_FIELD_EDGE = np.isin(np.arange(256), (COMMA, LF, CR, QUOTE))
_FIELD_END = re.compile(rb"[,\r\n]")
_LINES = re.compile(rb"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+")


class _Record:
    """What is known of the record being read: whether it holds a character that is not
    whitespace (``solid``); until then its raw bytes, which may be whitespace that is not
    ASCII."""

    def __init__(self) -> None:
        self.solid = False
        self.raw = bytearray()

    def add(self, chunk: bytes) -> None:
        if self.solid or not chunk:
            return
        if _SOLID[np.frombuffer(chunk, dtype=np.uint8)].any():
            self.solid, self.raw = True, bytearray()
        else:
            self.raw += chunk

    def non_blank(self) -> bool:
        return self.solid or bool(self.raw.decode("utf-8", "surrogateescape").strip())


class RecordCounter:
    """Feed a file's bytes in blocks that end at a line feed (:func:`blocks`), then read
    :attr:`data_records`."""

    def __init__(self) -> None:
        self.records = 0  # non-blank records, the header included
        self.in_quotes = False
        self.current = _Record()
        self.started = False

    @property
    def data_records(self) -> int:
        return max(self.records - 1, 0)

    def feed(self, block: bytes, last: bool = False) -> None:
        if not self.started:
            self.started = True
            block = block.removeprefix(BOM)
        if not block:
            return
        data = np.frombuffer(block, dtype=np.uint8)
        quotes = np.flatnonzero(data == QUOTE)
        if _quoted_regularly(data, quotes, self.in_quotes, last):
            self._feed_regular(block, data, quotes)
        else:
            self._feed_lines(block)

    def finish(self) -> int:
        """The data records of the file (a record still open at the end counts)."""
        self._end_record()
        return self.data_records

    def _end_record(self) -> None:
        if self.current.non_blank():
            self.records += 1
        self.current = _Record()

    def _feed_regular(self, block: bytes, data: np.ndarray, quotes: np.ndarray) -> None:
        """Every quote opens, closes or doubles: a record ends at each line end outside
        quotes (CR LF being one)."""
        in_quotes_after = self.in_quotes ^ bool(len(quotes) % 2)
        ends = np.flatnonzero((data == LF) | (data == CR))
        ends = ends[~_crlf_first_half(data, ends)]
        ends = ends[(np.searchsorted(quotes, ends) + self.in_quotes) % 2 == 0]
        self.in_quotes = in_quotes_after
        if not len(ends):
            self.current.add(block)
            return
        self.current.add(block[: ends[0] + 1])
        self._end_record()
        starts = ends + 1  # of every record after the first; the last one may be open
        whole = len(ends) - 1
        if whole:
            bounds = starts[starts < len(data)]
            solid = np.logical_or.reduceat(_SOLID[data], bounds)[:whole]
            self.records += int(solid.sum())
            for i in np.flatnonzero(~solid):  # only whitespace that may not be ASCII
                text = block[starts[i] : starts[i + 1]].decode("utf-8", "surrogateescape")
                self.records += bool(text.strip())
        self.current.add(block[starts[-1] :])

    def _feed_lines(self, block: bytes) -> None:
        """The full rules, line by line: a record continues past its line only inside
        quotes; text after a closing quote ends it with its line."""
        for match in _LINES.finditer(block):
            line = match.group()
            self.current.add(line)
            self.in_quotes = _still_quoted(line, self.in_quotes)
            if not self.in_quotes:
                self._end_record()


def _crlf_first_half(data: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """Which line-end bytes are the CR of a CR LF pair."""
    following = np.minimum(ends + 1, len(data) - 1)
    return (data[ends] == CR) & (data[following] == LF) & (ends + 1 < len(data))


def _quoted_regularly(data: np.ndarray, quotes: np.ndarray, in_quotes: bool, last: bool) -> bool:
    """Whether every quote of the block opens a field (at its start), closes one (before a
    comma, a line end or the end of the file) or is the second of a doubled quote."""
    if not len(quotes):
        return True
    opening = (np.arange(len(quotes)) + in_quotes) % 2 == 0
    before = data[np.maximum(quotes - 1, 0)]
    at_start = quotes == 0
    opens_well = at_start | _FIELD_EDGE[before]
    after_index = quotes + 1
    at_end = after_index >= len(data)
    after = data[np.minimum(after_index, len(data) - 1)]
    closes_well = (at_end & last) | (~at_end & _FIELD_EDGE[after])
    return bool(np.all(np.where(opening, opens_well, closes_well)))


def _still_quoted(line: bytes, in_quotes: bool) -> bool:
    """Whether a record is still inside a quoted field after this line (the CSV state
    machine of the contract; a line ending outside quotes, or a broken quote, ends it)."""
    start_of_field = not in_quotes
    i, n = 0, len(line)
    while i < n:
        if in_quotes:
            j = line.find(b'"', i)
            if j < 0:
                return True
            if j + 1 < n and line[j + 1] == QUOTE:
                i = j + 2  # a doubled quote: still inside
                continue
            in_quotes, start_of_field, i = False, False, j + 1
            if i < n and line[i] not in (COMMA, LF, CR):
                return False  # text after a closing quote: a corrupt record, ends here
            continue
        if start_of_field and line[i] == QUOTE:
            in_quotes, i = True, i + 1
            continue
        found = _FIELD_END.search(line, i)
        if found is None or line[found.start()] != COMMA:
            return False
        start_of_field, i = True, found.start() + 1
    return in_quotes


def blocks(stream: BinaryIO, size: int = BLOCK_BYTES) -> Iterator[tuple[bytes, bool]]:
    """(block, is the last) over a stream, each block but the last ending at a line feed."""
    rest = b""
    while True:
        chunk = stream.read(size)
        if not chunk:
            if rest:
                yield rest, True
            return
        data = rest + chunk
        cut = data.rfind(b"\n") + 1
        if cut:
            yield data[:cut], False
            rest = data[cut:]
        else:
            rest = data


def count_data_records(stream: BinaryIO, block_bytes: int = BLOCK_BYTES) -> int:
    """Non-blank data records of one landing file (header and blank records not counted)."""
    counter = RecordCounter()
    for block, last in blocks(stream, block_bytes):
        counter.feed(block, last)
    return counter.finish()


def landing_record_counts(
    spark: SparkSession,
    files: Sequence[LandingFile],
    s3: S3Options | None,
    native: bool = False,
    in_process: bool = False,
) -> dict[str, int]:
    """{file URI: data records} for landing files, counted in Spark tasks where the files are
    (each task opens its files itself; ``native``: the engine reads the bytes, as bronze does
    on Databricks), or here (``in_process``: a small drop)."""
    if not files:
        return {}
    if in_process and not native:
        counts = {}
        for f in files:
            with open_binary(f.uri, s3) as stream:
                counts[f.uri] = count_data_records(stream)
        return counts
    if native:
        raw = spark.read.format("binaryFile").load([f.uri for f in files]).select("path", "content")
        counted = raw.mapInArrow(_count_contents, COUNT_SCHEMA)
    else:
        listing = spark.createDataFrame([(f.uri,) for f in files], "uri string")
        counted = listing.repartition(parse_task_count(list(files))).mapInArrow(
            _count_opened(s3), COUNT_SCHEMA
        )
    return {row["uri"]: int(row["records"]) for row in counted.collect()}


COUNT_SCHEMA = "uri string, records bigint"


def _count_opened(s3: S3Options | None):
    def count(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        for batch in batches:
            uris = batch.column(0).to_pylist()
            counts = []
            for uri in uris:
                with open_binary(uri, s3) as stream:
                    counts.append(count_data_records(stream))
            yield _counts_batch(uris, counts)

    return count


def _count_contents(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    for batch in batches:
        uris = [spark_path_to_uri(p) for p in batch.column("path").to_pylist()]
        counts = [count_data_records(io.BytesIO(c)) for c in batch.column("content").to_pylist()]
        yield _counts_batch(uris, counts)


def _counts_batch(uris: list[str], counts: list[int]) -> pa.RecordBatch:
    return pa.RecordBatch.from_arrays(
        [pa.array(uris, pa.string()), pa.array(counts, pa.int64())], names=["uri", "records"]
    )
