"""Parse one landing CSV file into bronze records, losing nothing.

The contract's file rules (UTF-8 with optional BOM, RFC 4180 quoting with embedded commas,
quotes and newlines, LF or CRLF, free column order, extra columns, blank lines that are not
rows) are handled here with Python's C ``csv`` module, streaming line by line, so a file of
any size needs memory for one record at a time. Every non-blank record after the header
becomes exactly one ``BronzeRecord``:

- a record with the header's field count carries the required columns as the original
  strings (``None`` for a column the file lacks) and any extra columns in ``rescued``;
- any other record, or one with bytes that are not UTF-8, keeps its raw text in
  ``corrupt`` so silver can quarantine it as ``malformed_row``.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import BinaryIO

# A 1 MB field is legal input; the csv module's default limit is 128 KiB.
csv.field_size_limit(1 << 30)

_SEPARATORS = re.compile(r"[\s\-]+")
_LINE_END = re.compile(r"(\r\n|\r|\n)$")


def normalize_header(name: str) -> str:
    """Header matching rule: trim, lower-case, spaces and hyphens become underscores."""
    return _SEPARATORS.sub("_", name.strip().lower())


@dataclass(frozen=True)
class BronzeRecord:
    """One data row of a landing file, values as the original strings."""

    source_row: int
    values: tuple[str | None, ...]
    rescued: str | None
    corrupt: str | None


@dataclass(frozen=True)
class Header:
    """Where each required column sits in a file, and which columns are extra."""

    width: int
    required_positions: tuple[int | None, ...]
    extra_columns: tuple[tuple[str, int], ...]

    @classmethod
    def from_fields(cls, fields: list[str], required: tuple[str, ...]) -> Header:
        positions: dict[str, int] = {}
        extras: list[tuple[str, int]] = []
        used: set[str] = set()
        suffixes: dict[str, int] = {}
        for index, raw_name in enumerate(fields):
            name = normalize_header(raw_name) or f"_c{index}"
            if name in required and name not in positions:
                positions[name] = index
            else:
                name = _unique(name, used, suffixes)
                extras.append((name, index))
            used.add(name)
        return cls(
            width=len(fields),
            required_positions=tuple(positions.get(c) for c in required),
            extra_columns=tuple(extras),
        )

    @property
    def missing_columns(self) -> bool:
        return any(p is None for p in self.required_positions)


def _unique(name: str, used: set[str], suffixes: dict[str, int]) -> str:
    """``name``, or ``name_2``, ``name_3``, ... : the first not used yet. ``suffixes``
    remembers where to resume per name (``used`` only grows), so a header of thousands of
    equal names stays linear."""
    if name not in used:
        return name
    n = suffixes.get(name, 2)
    while f"{name}_{n}" in used:
        n += 1
    suffixes[name] = n + 1
    return f"{name}_{n}"


class _LineTap:
    """Feeds lines to ``csv.reader`` and remembers the raw text of the current record."""

    def __init__(self, lines: Iterable[str]):
        self._lines = iter(lines)
        self.taken: list[str] = []

    def __iter__(self) -> _LineTap:
        return self

    def __next__(self) -> str:
        line = next(self._lines)
        self.taken.append(line)
        return line

    def pop_raw(self) -> str:
        raw = "".join(self.taken)
        self.taken.clear()
        return raw


def _text_lines(stream: BinaryIO) -> io.TextIOWrapper:
    # surrogateescape keeps undecodable bytes visible so the record can be marked corrupt
    # instead of silently altered or crashing the whole file.
    return io.TextIOWrapper(stream, encoding="utf-8-sig", errors="surrogateescape", newline="")


def _has_bad_bytes(text: str) -> bool:
    return any("\udc80" <= ch <= "\udcff" for ch in text)


def _printable(raw: str) -> str:
    """The raw record as valid UTF-8 text, undecodable bytes shown as U+FFFD."""
    text = _LINE_END.sub("", raw)
    if _has_bad_bytes(text):
        text = text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    return text


def _records(stream: BinaryIO) -> Iterator[tuple[list[str], str]]:
    """Yield (fields, raw text) for every non-blank CSV record."""
    tap = _LineTap(_text_lines(stream))
    # strict: an unterminated quote or text after a closing quote is a corrupt record,
    # not a guess at what was meant.
    reader = csv.reader(tap, strict=True)
    while True:
        try:
            fields = next(reader)
        except StopIteration:
            tap.pop_raw()
            return
        except csv.Error:
            fields = None
        raw = tap.pop_raw()
        if raw.strip():
            yield (fields if fields is not None else []), raw


def parse_records(stream: BinaryIO, required: tuple[str, ...]) -> Iterator[BronzeRecord]:
    """Every data record of a CSV file, in file order, numbered from 1."""
    records = _records(stream)
    first = next(records, None)
    if first is None:
        return
    header_fields, _ = first
    header = Header.from_fields([_printable(f) for f in header_fields], required)
    for row_number, (fields, raw) in enumerate(records, start=1):
        yield _to_record(row_number, fields, raw, header)


def _to_record(row_number: int, fields: list[str], raw: str, header: Header) -> BronzeRecord:
    if len(fields) != header.width or _has_bad_bytes(raw):
        return BronzeRecord(
            row_number, (None,) * len(header.required_positions), None, _printable(raw)
        )
    values = tuple(None if p is None else fields[p] for p in header.required_positions)
    rescued = (
        json.dumps({name: fields[i] for name, i in header.extra_columns}, ensure_ascii=False)
        if header.extra_columns
        else None
    )
    return BronzeRecord(row_number, values, rescued, None)


def parse_bytes(data: bytes, required: tuple[str, ...]) -> list[BronzeRecord]:
    """Convenience for tests and small inputs."""
    return list(parse_records(io.BytesIO(data), required))
