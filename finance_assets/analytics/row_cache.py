"""Rows of a lake table read once per partition and kept between dashboard runs.

The dashboard's customer pages explain lifetime figures down to every source row, so each
run would scan every partition of ``silver/orders``, ``silver/payment_orders``,
``silver/payments`` and the quarantine: the cost of a day would grow with the history. Delta
never rewrites a data file in place, so a partition whose data files are the ones it had last
time holds the same rows. A :class:`RowCache` keeps, per partition folder, what a question
found there, under a key made of the folder's file names, what was asked of it and the code
asking; a run reads only the partitions whose key changed (the new day, the days a late
payment or a re-run touched). The cache is a convenience: a missing, stale or unreadable one
is read again from the lake.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pyarrow as pa
import pyarrow.ipc as ipc

from finance_assets.analytics.engine import LakeQuery

_PARTITION = re.compile(r"/partition_date=(\d{4}-\d{2}-\d{2})/(.+)$")
_KEYS = b"finance-assets-partition-keys"


def files_by_partition(paths: list[str]) -> dict[date, list[str]]:
    """Data files by partition day, each named by its path below the partition folder (a
    lake copied elsewhere keeps its keys). A file outside a ``partition_date=`` folder is an
    error: the cached tables are partitioned by day."""
    found: dict[date, list[str]] = {}
    for path in paths:
        match = _PARTITION.search(path.replace("\\", "/"))
        if match is None:
            raise ValueError(f"{path} is not in a partition_date= folder")
        found.setdefault(date.fromisoformat(match[1]), []).append(match[2])
    return {day: sorted(names) for day, names in sorted(found.items())}


@dataclass(frozen=True)
class RowCache:
    """Keeps answers per partition in ``folder`` (None: keeps nothing, reads every time).
    ``code`` names the code asking: another release's answers are not reused."""

    folder: Path | None
    code: str = ""

    def rows(
        self,
        query: LakeQuery,
        name: str,
        table: tuple[str, str],
        asked: Callable[[date, list[str]], Hashable | None],
        fetch: Callable[[list[date]], list[dict]],
    ) -> list[dict]:
        """The records ``fetch`` finds, partition by partition, in partition order.

        ``asked(day, files)`` says what is wanted of a partition (None: nothing, the partition
        is skipped); ``fetch(days)`` reads those partitions and returns records carrying
        ``partition_date``, in the order the caller wants them within a partition, and only
        what was asked of each partition (what is asked of one must not change what another
        returns). The answers of partitions not asked this time are kept while the partition
        is there."""
        keys: dict[date, str] = {}
        partitions = files_by_partition(query.files(*table))
        for day, files in partitions.items():
            wanted = asked(day, files)
            if wanted is not None:
                keys[day] = self._key(name, table, files, wanted)
        known = self._load(name)
        kept = {day: found for day, (key, found) in known.items() if keys.get(day) == key}
        missing = [day for day in keys if day not in kept]
        if not missing:
            return [r for day in keys for r in kept[day]]
        read: dict[date, list[dict]] = {day: [] for day in missing}
        for record in fetch(missing):
            read[record["partition_date"]].append(record)
        answers = {day: known[day] for day in known if day in partitions and day not in keys}
        found = {day: kept[day] if day in kept else read[day] for day in keys}
        answers.update({day: (keys[day], found[day]) for day in keys})
        self._store(name, answers)
        return [r for day in keys for r in found[day]]

    def _key(self, name: str, table: tuple[str, str], files: list[str], wanted: Hashable) -> str:
        text = repr((self.code, name, table, files, wanted))
        return hashlib.sha256(text.encode()).hexdigest()

    def _path(self, name: str) -> Path | None:
        return None if self.folder is None else self.folder / f"{name}.arrow"

    def _load(self, name: str) -> dict[date, tuple[str, list[dict]]]:
        path = self._path(name)
        if path is None or not path.is_file():
            return {}
        try:
            with pa.memory_map(str(path)) as source:
                table = ipc.open_file(source).read_all()
            keys = json.loads((table.schema.metadata or {})[_KEYS])
            found: dict[date, tuple[str, list[dict]]] = {
                date.fromisoformat(day): (key, []) for day, key in keys.items()
            }
            for record in table.to_pylist():
                found[record["partition_date"]][1].append(record)
        except (OSError, KeyError, ValueError, TypeError, pa.ArrowException):
            return {}  # unreadable: read the lake again
        return found

    def _store(self, name: str, answers: dict[date, tuple[str, list[dict]]]) -> None:
        path = self._path(name)
        if path is None:
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        records = [r for _, found in answers.values() for r in found]
        keys = {day.isoformat(): key for day, (key, _) in answers.items()}
        table = pa.Table.from_pylist(records).replace_schema_metadata(
            {_KEYS: json.dumps(keys).encode()}
        )
        handle, temporary = tempfile.mkstemp(prefix=f".{name}-", suffix=".arrow", dir=path.parent)
        try:
            with os.fdopen(handle, "wb") as out, ipc.new_file(out, table.schema) as writer:
                writer.write_table(table)
            os.replace(temporary, path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
