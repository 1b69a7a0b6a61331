"""Split a seed-style monolithic CSV into landing drop folders by business date.

The seed system delivered one file per dataset holding every date (``orders_raw.csv``).
Landing such a file puts each row into the drop folder of its business date (the first of
the month for budgets), as if the upstream system had sent a file a day. Rows keep their
original header and field text, so bronze sees what the source sent; only the CSV quoting
is redone. Every date is checked before anything is written: a row whose date cannot be
read stops the landing with an error naming the file, the data row and the value, so no
row is silently lost or filed under the wrong day.
"""

from __future__ import annotations

import csv
import io
import re
import tempfile
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any, TextIO

from finance_assets.contract import DATASETS, Dataset
from finance_assets.landing.zone import (
    S3Options,
    is_s3,
    join_uri,
    normalize_uri,
    open_binary,
    write_bytes,
)

MAX_OPEN_PARTITIONS = 64

_DAY = re.compile(r"^(\d{4})([-/])(\d{2})\2(\d{2})$")
_MONTH = re.compile(r"^(\d{4})-(\d{2})(?:-01)?$")


def land_file(
    source: str | Path, dataset: str, landing_uri: str, s3: S3Options | None = None
) -> dict[str, int]:
    """Split ``source`` into ``<landing>/<dataset>/<partition>/<source stem>.csv`` files.

    Returns the number of data rows written per partition folder name, in date order.
    Re-landing the same file replaces its earlier output instead of adding to it.
    """
    spec = _dataset(dataset)
    name = str(source)
    _check_dates(name, spec, s3)
    root = normalize_uri(str(landing_uri))
    with tempfile.TemporaryDirectory(prefix="land-") as spool_dir:
        spool = _PartitionSpool(Path(spool_dir))
        with _open_text(name, s3) as stream:
            reader = csv.reader(stream)
            spool.header = next(reader)
            date_index = _date_index(name, spec, spool.header)
            for _, row in _data_rows(reader):
                spool.append(_partition(spec, row[date_index]).isoformat(), row)
        spool.close()
        for folder, path in spool.files():
            uri = join_uri(root, spec.name, folder, f"{_stem(name)}.csv")
            write_bytes(uri, path.read_bytes(), s3)
        return spool.counts()


def _dataset(name: str) -> Dataset:
    if name not in DATASETS:
        raise ValueError(f"Unknown dataset {name!r}; expected one of {', '.join(DATASETS)}")
    return DATASETS[name]


def _stem(source: str) -> str:
    """The source file's name without folders and extension (``orders_raw``)."""
    return Path(source.rstrip("/").rsplit("/", 1)[-1]).stem


def _open_text(source: str, s3: S3Options | None) -> TextIO:
    """The source as text: UTF-8 with or without a BOM, line endings left to the csv module."""
    if is_s3(source):
        return io.TextIOWrapper(open_binary(source, s3), encoding="utf-8-sig", newline="")
    return open(source, encoding="utf-8-sig", newline="")  # noqa: SIM115 - the caller closes it


def normalize_header(name: str) -> str:
    """A header name as bronze matches it: trimmed, lower-case, runs of spaces/``-`` as ``_``."""
    return re.sub(r"[\s\-]+", "_", name.strip().lower())


def _date_index(source: str, spec: Dataset, header: list[str]) -> int:
    names = [normalize_header(name) for name in header]
    if spec.date_column not in names:
        raise ValueError(
            f"{source}: the header has no {spec.date_column} column "
            f"(found: {', '.join(header) or 'nothing'})"
        )
    return names.index(spec.date_column)


def _data_rows(reader: Iterator[list[str]]) -> Iterator[tuple[int, list[str]]]:
    """(1-based data row number, fields) for every row that is not a blank line."""
    number = 0
    for row in reader:
        if not row or (len(row) == 1 and not row[0].strip()):
            continue
        number += 1
        yield number, row


def parse_partition_date(value: str, monthly: bool) -> date | None:
    """The drop folder date a row's date text belongs to, or None when it is not a date.

    Days are ``YYYY-MM-DD`` or ``YYYY/MM/DD``; budget months ``YYYY-MM`` or ``YYYY-MM-01``
    and map to the first of the month.
    """
    text = value.strip()
    try:
        if monthly:
            match = _MONTH.match(text)
            return date(int(match[1]), int(match[2]), 1) if match else None
        match = _DAY.match(text)
        return date(int(match[1]), int(match[3]), int(match[4])) if match else None
    except ValueError:
        return None


def _partition(spec: Dataset, value: str) -> date:
    parsed = parse_partition_date(value, spec.is_monthly)
    if parsed is None:
        raise ValueError(f"not a date: {value!r}")
    return parsed


def _check_dates(source: str, spec: Dataset, s3: S3Options | None) -> None:
    """Read the whole file once and fail on the first row whose date cannot be read."""
    expected = "YYYY-MM or YYYY-MM-01" if spec.is_monthly else "YYYY-MM-DD or YYYY/MM/DD"
    with _open_text(source, s3) as stream:
        reader = csv.reader(stream)
        header = next(reader, None)
        if header is None:
            raise ValueError(f"{source}: the file is empty; expected a header row")
        date_index = _date_index(source, spec, header)
        for number, row in _data_rows(reader):
            value = row[date_index] if date_index < len(row) else None
            if value is None or parse_partition_date(value, spec.is_monthly) is None:
                shown = "no value" if value is None else repr(value)
                raise ValueError(
                    f"{source}: data row {number}: {spec.date_column} has {shown}, "
                    f"expected {expected}; nothing was landed"
                )


class _PartitionSpool:
    """One temporary CSV per partition, so a large source is split without holding it in memory.

    Files are written UTF-8 with LF line endings and the source's header row. At most
    ``MAX_OPEN_PARTITIONS`` files are open at once; older ones are closed and reopened.
    """

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.header: list[str] = []
        self._open: dict[str, tuple[TextIO, Any]] = {}
        self._rows: dict[str, int] = {}

    def _path(self, partition: str) -> Path:
        return self.folder / f"{partition}.csv"

    def _writer(self, partition: str) -> Any:
        if partition in self._open:
            handle, writer = self._open.pop(partition)
        else:
            if len(self._open) >= MAX_OPEN_PARTITIONS:
                oldest = next(iter(self._open))
                self._open.pop(oldest)[0].close()
            is_new = partition not in self._rows
            handle = open(self._path(partition), "a", encoding="utf-8", newline="")  # noqa: SIM115
            writer = csv.writer(handle, lineterminator="\n")
            if is_new:
                writer.writerow(self.header)
                self._rows[partition] = 0
        self._open[partition] = (handle, writer)
        return writer

    def append(self, partition: str, row: list[str]) -> None:
        self._writer(partition).writerow(row)
        self._rows[partition] += 1

    def close(self) -> None:
        for handle, _ in self._open.values():
            handle.close()
        self._open.clear()

    def files(self) -> Iterator[tuple[str, Path]]:
        for partition in sorted(self._rows):
            yield partition, self._path(partition)

    def counts(self) -> dict[str, int]:
        return {partition: self._rows[partition] for partition in sorted(self._rows)}
