"""Delta Lake tables under ``<lake>``: replace partitions atomically, read only what is needed,
and say what changed since a given version.

Two engines, one interface, so asset code never knows which one runs:

- ``DeltaRsLake`` (local Spark, standalone clusters, Spark Connect without Delta jars):
  Spark executors write Parquet files in parallel into a staging folder, the files are
  moved into the table folder, and delta-rs commits them to the Delta log in one
  transaction that also removes the replaced partitions. A write of a few days (a day's
  run) is collected as Arrow instead and written here by PyArrow, laid out as Spark would.
  Each add action carries min/max and null-count statistics read from the Parquet footers,
  so a read by date or by key (an order id) opens only the files that can hold it. A crash
  before the commit leaves only unreferenced files, which no reader sees.
- ``SparkDeltaLake`` (Databricks, or any Spark with Delta Lake): native Delta writes with
  ``replaceWhere``; the engine does its own data skipping.

Incremental gold needs to know what changed in an input since it last read it:
:meth:`DeltaRsLake.changes` reads the Delta log's commits after a version and returns the
files added and removed by data changes (compaction is not a change). A table records the
input versions it was built from in its own commit (``inputs`` in the commit metadata); the
commits of lake maintenance (``lake/maintenance.py``: compaction, vacuum) record nothing and
are walked past.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import time
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from pathlib import Path
from typing import Protocol

import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T
from pyspark.sql.pandas.types import from_arrow_schema, to_arrow_schema

from finance_assets.lake.delta_logs import delta_log
from finance_assets.lake.frames import (
    empty_frame,
    in_one_partition,
    read_parquet,
    select_columns,
)
from finance_assets.lake.maintenance import (
    MAINTENANCE_OPERATIONS,
    Compaction,
    Vacuum,
    compact_delta_rs,
    compact_spark,
    vacuum_delta_rs,
    vacuum_spark,
)
from finance_assets.landing.zone import is_s3, local_path

HIVE_NULL = "__HIVE_DEFAULT_PARTITION__"
NOTE_PREFIX = "finance."
INPUTS = "finance.inputs"
"""Commit metadata key: the versions of the input tables a write was computed from."""


def _notes(notes: Mapping[str, str] | None) -> dict[str, str]:
    """Commit metadata from writers: every key must be a ``finance.`` one."""
    for key in notes or {}:
        if not key.startswith(NOTE_PREFIX):
            raise ValueError(f"commit note {key!r} must start with {NOTE_PREFIX!r}")
    return dict(notes or {})


MAX_STRING_STAT = 64
SMALL_WRITE_PARTITIONS = 31
"""A write covering at most this many partitions (dates, or a monthly table's months: a day's
or a month's run) goes through one task: no shuffle, one file per partition. Larger ones
(backfills) repartition by date."""
ARROW_WRITE_PARTITIONS = 7
"""A write of at most this many partitions (a day's run and the few days late data reopened,
or a month of a monthly table) whose partition columns are dates is collected as Arrow and
written by PyArrow here: Spark's writer spends a few tenths of a second a write in its output
committer, more than a day's rows cost."""
ARROW_WRITE_ROWS = 64_000
"""A table replaced whole whose current version holds at most this many rows (customer_360 of
a small business) is written through Arrow too."""
MAX_RECORDS_PER_FILE = "spark.sql.files.maxRecordsPerFile"
ROW_NUMBER = "__row_number"
MAX_COMMIT_ATTEMPTS = 20
"""Commits retried when concurrent runs keep writing other partitions of the same table."""


def _value(text: str | None):
    """A partition value as stored in the Delta log, as a Python value."""
    if text is None or text == HIVE_NULL:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        return text


@dataclass(frozen=True)
class PartitionRange:
    """An inclusive range of values of a table's date partition column, less ``keep``: values
    inside the range that a write must leave as they are."""

    column: str
    start: date
    end: date
    keep: tuple[date, ...] = ()
    monthly: bool = False
    """Whether the column holds the first days of months (a monthly table's partitions)."""

    def contains(self, value) -> bool:
        return value is not None and self.start <= value <= self.end and value not in self.keep

    @property
    def size(self) -> int:
        """How many partition values the range can hold: dates, or months when ``monthly``."""
        if self.monthly:
            return sum(1 for d in self.days() if d.day == 1)
        return (self.end - self.start).days + 1 - len(self.keep)

    def days(self) -> list[date]:
        """Every day of the range, less ``keep``."""
        count = (self.end - self.start).days + 1
        every = (date.fromordinal(self.start.toordinal() + i) for i in range(count))
        return [d for d in every if d not in self.keep]

    @classmethod
    def everything(cls, column: str) -> PartitionRange:
        return cls(column, date.min, date.max)

    def on(self, column: str) -> PartitionRange:
        """The same dates, of another column."""
        return replace(self, column=column)

    def spark_filter(self):
        inside = F.col(self.column).between(F.lit(self.start), F.lit(self.end))
        return inside & ~F.col(self.column).isin(list(self.keep)) if self.keep else inside

    def sql(self) -> str:
        where = f"{self.column} >= '{self.start}' AND {self.column} <= '{self.end}'"
        if self.keep:
            where += f" AND {self.column} NOT IN ({', '.join(repr(str(d)) for d in self.keep)})"
        return where

    def delta_filters(self) -> list[tuple[str, str, object]]:
        filters: list[tuple[str, str, object]] = [
            (self.column, ">=", self.start.isoformat()),
            (self.column, "<=", self.end.isoformat()),
        ]
        if self.keep:
            filters.append((self.column, "not in", [d.isoformat() for d in self.keep]))
        return filters


@dataclass(frozen=True)
class PartitionSet:
    """Some values of a table's date partition column (not necessarily consecutive)."""

    column: str
    values: tuple[date, ...]

    @classmethod
    def of(cls, column: str, values: Iterable[date]) -> PartitionSet:
        return cls(column, tuple(sorted(set(values))))

    @property
    def start(self) -> date:
        return self.values[0]

    @property
    def end(self) -> date:
        return self.values[-1]

    def contains(self, value) -> bool:
        return value in self.values

    @property
    def size(self) -> int:
        return len(self.values)

    def days(self) -> list[date]:
        return list(self.values)

    def on(self, column: str) -> PartitionSet:
        """The same dates, of another column."""
        return PartitionSet(column, self.values)

    def spark_filter(self):
        return F.col(self.column).isin(list(self.values))

    def sql(self) -> str:
        return f"{self.column} IN ({', '.join(repr(str(d)) for d in self.values)})"

    def delta_filters(self) -> list[tuple[str, str, object]]:
        return [(self.column, "in", [d.isoformat() for d in self.values])]


Where = PartitionRange | PartitionSet


@dataclass(frozen=True)
class WriteResult:
    """What one write did: where, which table version it made, how many rows it wrote."""

    table_uri: str
    version: int
    rows: int
    files: tuple[str, ...] = ()
    collected: pa.Table | None = field(default=None, compare=False, repr=False)
    """The rows as written, with the ``unstored`` columns, when the write brought them to this
    process (a day's few dates, written through Arrow); else None."""


@dataclass(frozen=True)
class FileRef:
    """One data file of a table and its partition values."""

    path: str
    partition_values: Mapping[str, object] = field(default_factory=dict)
    rows: int | None = None
    """Its rows, from the Delta log's statistics (None: not recorded)."""
    size: int | None = None
    """Its bytes, from the Delta log (None: not recorded)."""


@dataclass(frozen=True)
class Changes:
    """Files that data changes added and removed after a version, up to ``version``."""

    version: int
    added: tuple[FileRef, ...] = ()
    removed: tuple[FileRef, ...] = ()

    def partition_values(self, column: str) -> set:
        """Values of ``column`` whose files were added or removed (``None`` included)."""
        return {f.partition_values.get(column) for f in (*self.added, *self.removed)}

    @property
    def empty(self) -> bool:
        return not self.added and not self.removed


class Lake(Protocol):
    root: str

    def table_uri(self, table: str) -> str: ...
    def exists(self, table: str) -> bool: ...
    def version(self, table: str) -> int | None: ...
    def replace_partitions(
        self,
        df: DataFrame,
        table: str,
        where: Where,
        partition_by: Sequence[str] | None = None,
        inputs: Mapping[str, int | None] | None = None,
        notes: Mapping[str, str] | None = None,
        unstored: Sequence[str] = (),
        few_rows: bool = False,
    ) -> WriteResult: ...
    def replace_table(
        self,
        df: DataFrame,
        table: str,
        inputs: Mapping[str, int | None] | None = None,
        unstored: Sequence[str] = (),
    ) -> WriteResult: ...
    def empty_partitions(
        self,
        schema: T.StructType,
        table: str,
        where: Where,
        partition_by: Sequence[str] | None = None,
        inputs: Mapping[str, int | None] | None = None,
    ) -> WriteResult: ...
    def read(
        self,
        spark: SparkSession,
        table: str,
        where: Where | None = None,
        within: Mapping[str, tuple] | None = None,
        version: int | None = None,
    ) -> DataFrame: ...
    def schema(self, table: str) -> T.StructType: ...
    def read_arrow(
        self, table: str, where: Where | None = None, columns: Sequence[str] | None = None
    ) -> pa.Table: ...
    def partition_row_counts(self, table: str, where: Where) -> dict[date, int]: ...
    def inputs(self, table: str, version: int | None = None) -> dict[str, int]: ...
    def notes(self, table: str) -> dict[str, str]: ...
    def row_count(self, table: str, version: int | None = None) -> int: ...
    def bounds(self, table: str, column: str, where: Where | None = None) -> tuple | None: ...
    def changes(
        self, table: str, since: int | None, until: int | None = None
    ) -> Changes | None: ...
    def files(
        self,
        table: str,
        where: Where | None = None,
        within: Mapping[str, tuple] | None = None,
        version: int | None = None,
    ) -> list[FileRef]: ...
    def read_files(
        self, spark: SparkSession, table: str, files: Sequence[FileRef]
    ) -> DataFrame: ...
    def read_files_arrow(
        self, table: str, files: Sequence[FileRef], columns: Sequence[str] | None = None
    ) -> pa.Table: ...
    def append_rows(
        self, rows: pa.Table, table: str, partition_by: Sequence[str] = ()
    ) -> WriteResult: ...
    def compact(self, table: str, where: Where | None = None) -> Compaction: ...
    def vacuum(self, table: str, retention_hours: int, dry_run: bool = False) -> Vacuum: ...


class VacuumedFilesError(FileNotFoundError):
    """Data files a read needs were deleted by a vacuum: the version they belong to is older
    than the retention (``FINANCE_VACUUM_RETENTION_HOURS``)."""

    def __init__(self, table: str, missing: Sequence[str], version: int | None = None):
        self.table, self.missing, self.version = table, tuple(missing), version
        what = f"version {version} of {table}" if version is not None else f"files of {table}"
        super().__init__(
            f"{what} can no longer be read: {len(missing)} of its data files were deleted by "
            f"a vacuum (e.g. {Path(missing[0]).name}); time travel reaches back only "
            "FINANCE_VACUUM_RETENTION_HOURS"
        )


class ConcurrentWriteError(RuntimeError):
    """Another run replaced some of the same partitions of a table while this write was being
    prepared. Nothing of this write was committed: the table holds the other run's rows, none
    lost and none doubled."""

    def __init__(self, table: str, where: Where | None, clash: str | None):
        what = "the whole table" if where is None else f"{where.start}..{where.end}"
        super().__init__(
            f"{table}: a concurrent run committed the same partitions first ({clash}); this "
            f"run's write of {what} was not committed (no row lost or duplicated). Run it "
            "again once the other run has finished."
        )


class DeltaRsLake:
    """Delta tables on a local or shared file system, committed by delta-rs.

    Concurrent writers: a commit that loses a race against a commit to *other* partitions of
    the same table is retried on top of it (both succeed); against a commit to the same
    partitions it fails with :class:`ConcurrentWriteError`, never a silent duplicate.
    """

    def __init__(self, root: str):
        if is_s3(root):
            raise ValueError(
                f"FINANCE_LAKE_URI={root!r}: the delta-rs engine writes through Spark executors "
                "to a file system path; use a local or mounted folder, or the 'databricks' "
                "Spark mode for a lake on S3."
            )
        self.root = str(local_path(root).resolve())

    # --- where tables are -------------------------------------------------------------

    def table_uri(self, table: str) -> str:
        return str(Path(self.root, table))

    def exists(self, table: str) -> bool:
        return Path(self.table_uri(table), "_delta_log").is_dir()

    def version(self, table: str) -> int | None:
        return self._log(table).version() if self.exists(table) else None

    def _log(self, table: str, version: int | None = None):
        """The table's Delta log at ``version``, default the latest (see ``delta_logs``)."""
        return delta_log(self.table_uri(table), version)

    # --- writing ----------------------------------------------------------------------

    def replace_partitions(
        self,
        df: DataFrame,
        table: str,
        where: Where,
        partition_by: Sequence[str] | None = None,
        inputs: Mapping[str, int | None] | None = None,
        notes: Mapping[str, str] | None = None,
        unstored: Sequence[str] = (),
        few_rows: bool = False,
    ) -> WriteResult:
        """Replace the partitions of ``where`` with ``df`` in one commit; ``inputs`` and
        ``notes`` (``finance.*`` keys) go into the commit's metadata. ``unstored``: columns of
        ``df`` computed with the rows (a check's verdicts) but not written; the result's
        ``collected`` holds them when the rows came back to this process. ``few_rows``: the
        caller knows ``df`` is small enough to write through Arrow, however many partitions
        it spans."""
        partitions = list(partition_by or [where.column])
        return self._write(df, table, partitions, where, inputs, notes, unstored, few_rows)

    def replace_table(
        self,
        df: DataFrame,
        table: str,
        inputs: Mapping[str, int | None] | None = None,
        unstored: Sequence[str] = (),
    ) -> WriteResult:
        """Replace the whole table with ``df`` (``unstored`` as for :meth:`replace_partitions`).
        A table that holds at most ``ARROW_WRITE_ROWS`` rows is written through Arrow: a merge
        changes a few of them."""
        few = self.exists(table) and self.row_count(table) <= ARROW_WRITE_ROWS
        return self._write(df, table, [], None, inputs, unstored=unstored, few_rows=few)

    def empty_partitions(
        self,
        schema: T.StructType,
        table: str,
        where: Where,
        partition_by: Sequence[str] | None = None,
        inputs: Mapping[str, int | None] | None = None,
    ) -> WriteResult:
        """Replace ``where`` with no rows: one commit, no Spark job."""
        return self._commit(schema, [], table, list(partition_by or [where.column]), where, inputs)

    def append_rows(
        self, rows: pa.Table, table: str, partition_by: Sequence[str] = ()
    ) -> WriteResult:
        """Append a few rows held on this machine (an audit record, a control row): delta-rs
        writes and commits them, no Spark job. The table is created on first use."""
        from deltalake import write_deltalake

        uri = self.table_uri(table)
        write_deltalake(uri, rows, mode="append", partition_by=list(partition_by) or None)
        return WriteResult(uri, self.version(table), rows.num_rows)

    def _write(
        self, df, table, partition_by, where, inputs, notes=None, unstored=(), few_rows=False
    ) -> WriteResult:
        actions, collected = self._stage_files(
            df, Path(self.table_uri(table)), partition_by, where, unstored, few_rows
        )
        stored = _without(df.schema, unstored)
        result = self._commit(stored, actions, table, partition_by, where, inputs, notes)
        return replace(result, collected=collected)

    def _commit(
        self, spark_schema, actions, table, partition_by, where, inputs, notes=None
    ) -> WriteResult:
        from deltalake import Schema
        from deltalake.exceptions import CommitFailedError
        from deltalake.transaction import CommitProperties, create_table_with_add_actions

        table_dir = Path(self.table_uri(table))
        schema = to_arrow_schema(spark_schema, timezone="UTC")
        custom_metadata = {INPUTS: json.dumps(dict(inputs or {}), sort_keys=True), **_notes(notes)}
        commit = CommitProperties(custom_metadata=custom_metadata)
        # delta-rs would rebase a lost race itself, but it ignores files a compaction rewrote
        # (dataChange false) and would keep the compacted copy of a replaced partition: every
        # race comes back here instead, and is retried from a fresh snapshot.
        no_rebase = CommitProperties(custom_metadata=custom_metadata, max_commit_retries=0)
        if not self.exists(table):
            try:
                create_table_with_add_actions(
                    str(table_dir),
                    Schema.from_arrow(schema),
                    actions,
                    mode="error",
                    partition_by=partition_by or None,
                    commit_properties=commit,
                )
                return self._result(table, actions)
            except Exception:
                if not self.exists(table):
                    raise
        for attempt in range(1, MAX_COMMIT_ATTEMPTS + 1):
            current = self._log(table)  # brought up to date: a retry commits on the latest
            read_version = current.version()
            try:
                current.create_write_transaction(
                    actions,
                    mode="overwrite",
                    schema=schema,
                    partition_by=partition_by or None,
                    partition_filters=where.delta_filters() if where else None,
                    commit_properties=no_rebase,
                )
                return self._result(table, actions)
            except CommitFailedError as exc:
                clash = self._concurrent_clash(table, read_version, where)
                if clash is None and attempt < MAX_COMMIT_ATTEMPTS:
                    continue  # other partitions were written meanwhile: commit on top of them
                raise ConcurrentWriteError(table, where, clash) from exc
        raise AssertionError("unreachable")  # pragma: no cover

    def _concurrent_clash(self, table: str, read_version: int, where: Where | None) -> str | None:
        """What commits made after ``read_version`` did to the partitions of ``where`` (None:
        they touched only other partitions, or changed no data (maintenance), so this write
        can be committed on top of them)."""
        log = Path(self.table_uri(table), "_delta_log")
        version, touched = read_version + 1, set()
        while (log / f"{version:020d}.json").exists():
            for line in (log / f"{version:020d}.json").read_text().splitlines():
                action = json.loads(line)
                if "metaData" in action or "protocol" in action:
                    return f"version {version} changed the table's schema or protocol"
                for kind in ("add", "remove"):
                    body = action.get(kind)
                    if body and body.get("dataChange", True):
                        values = body.get("partitionValues") or {}
                        touched.add(_value(values.get(where.column)) if where else None)
            version += 1
        if version == read_version + 1:
            return "no newer commit was found"
        if where is None:
            return f"versions {read_version + 1}..{version - 1} rewrote it" if touched else None
        clashing = sorted(str(v) for v in touched if v is None or where.contains(v))
        if not clashing:
            return None
        shown = ", ".join(clashing[:10]) + (" ..." if len(clashing) > 10 else "")
        return f"versions {read_version + 1}..{version - 1} replaced {where.column} {shown}"

    def _result(self, table: str, actions) -> WriteResult:
        rows = sum(json.loads(a.stats)["numRecords"] for a in actions)
        version = self._log(table).version()
        files = tuple(str(Path(self.table_uri(table), a.path)) for a in actions)
        return WriteResult(self.table_uri(table), version, rows, files)

    def _stage_files(
        self,
        df: DataFrame,
        table_dir: Path,
        partition_by: list[str],
        where: Where | None,
        unstored: Sequence[str] = (),
        few_rows: bool = False,
    ) -> tuple[list, pa.Table | None]:
        """Write ``df``'s data files (less its ``unstored`` columns) into the table folder,
        uncommitted (no reader sees them yet): their add actions, and the rows when they were
        collected here. A day's few dates, or ``few_rows`` known to be few, through Arrow; more
        through Spark's writer."""
        if few_rows or _arrow_sized(df.schema, partition_by, where):
            collected = df.toArrow()
            actions = _write_arrow(
                collected.drop_columns(list(unstored)),
                to_arrow_schema(_without(df.schema, unstored), timezone="UTC"),
                table_dir,
                partition_by,
                int(df.sparkSession.conf.get(MAX_RECORDS_PER_FILE, "0") or 0),
            )
            return actions, collected
        if unstored:
            df = df.drop(*unstored)
        small = where is not None and where.size <= SMALL_WRITE_PARTITIONS
        staging = Path(self.root, "_staging", uuid.uuid4().hex)
        try:
            if partition_by and not small and _dated(df.schema, partition_by):
                _write_in_tasks(df, staging, partition_by)
            else:
                _spark_writer(df, partition_by, small).parquet(str(staging))
            actions = []
            for file in sorted(staging.rglob("*.parquet")):
                if file.name.startswith((".", "_")):
                    continue
                metadata = pq.read_metadata(file)
                if metadata.num_rows == 0:
                    continue
                relative = file.relative_to(staging)
                target = table_dir / relative
                target.parent.mkdir(parents=True, exist_ok=True)
                os.replace(file, target)
                actions.append(_add_action(table_dir, relative, metadata))
            return actions, None
        finally:
            shutil.rmtree(staging, ignore_errors=True)

    # --- maintenance ------------------------------------------------------------------

    def compact(self, table: str, where: Where | None = None) -> Compaction:
        """Rewrite the small files of each partition (of ``where``) into larger ones, in a
        commit that changes no data (see ``lake/maintenance.py``)."""
        filters = where.delta_filters() if where is not None else None
        return compact_delta_rs(table, self.table_uri(table), filters)

    def vacuum(self, table: str, retention_hours: int, dry_run: bool = False) -> Vacuum:
        """Delete the files no version younger than ``retention_hours`` references."""
        return vacuum_delta_rs(table, self.table_uri(table), retention_hours, dry_run)

    # --- reading ----------------------------------------------------------------------

    def _add_actions(self, table: str, version: int | None = None) -> pa.Table:
        return pa.table(self._log(table, version).get_add_actions(flatten=True))

    def _actions(
        self,
        table: str,
        version: int | None = None,
        where: Where | None = None,
        statistics: Iterable[str] = (),
    ) -> list[dict]:
        """The add actions of the table's files in the partitions of ``where``: path, rows,
        bytes, partition values and the ``statistics`` named (``min.x``, ``max.x``). A year's
        table logs thousands of files with statistics of every column; only the fields asked
        of the files chosen become Python values."""
        actions = self._add_actions(table, version)
        if where is not None:
            actions = actions.take(pa.array(_rows_in(actions, where), pa.int64()))
        names = actions.column_names
        wanted = ["path", "num_records", "size_bytes", *statistics]
        wanted += [name for name in names if name.startswith("partition.")]
        return actions.select([name for name in dict.fromkeys(wanted) if name in names]).to_pylist()

    def files(
        self,
        table: str,
        where: Where | None = None,
        within: Mapping[str, tuple] | None = None,
        version: int | None = None,
    ) -> list[FileRef]:
        """The table's data files that can hold rows of ``where`` whose columns lie ``within``
        the given (low, high) bounds: partition values decide first, then each file's min/max
        statistics (data skipping)."""
        if not self.exists(table):
            return []
        within = within or {}
        statistics = [f"{bound}.{column}" for column in within for bound in ("min", "max")]
        chosen = []
        for action in self._actions(table, version, where, statistics):
            partition = _partition_of(action)
            if all(_overlaps(action, partition, c, b) for c, b in within.items()):
                path = str(Path(self.table_uri(table), action["path"]))
                chosen.append(
                    FileRef(path, partition, action.get("num_records"), action.get("size_bytes"))
                )
        return chosen

    def bounds(self, table: str, column: str, where: Where | None = None) -> tuple | None:
        """(min, max) of ``column`` over the files of ``where``, from the Delta log's
        statistics; None when no file has them (or there is no file)."""
        if not self.exists(table):
            return None
        low = high = None
        for action in self._actions(table, None, where, [f"min.{column}", f"max.{column}"]):
            file_low, file_high = action.get(f"min.{column}"), action.get(f"max.{column}")
            if file_low is None or file_high is None:
                if action.get("num_records"):
                    return None  # a file without statistics: bounds unknown
                continue
            low = file_low if low is None else min(low, file_low)
            high = file_high if high is None else max(high, file_high)
        return None if low is None else (low, high)

    def read(
        self,
        spark: SparkSession,
        table: str,
        where: Where | None = None,
        within: Mapping[str, tuple] | None = None,
        version: int | None = None,
    ) -> DataFrame:
        """The rows of ``where`` (and, with ``within``, only those whose columns lie between
        the given bounds), reading only the files that can hold them."""
        if not self.exists(table):
            raise FileNotFoundError(
                f"Delta table {self.table_uri(table)} does not exist yet: "
                "materialize its asset first."
            )
        frame = self.read_files(spark, table, self.files(table, where, within, version), version)
        for column, (low, high) in (within or {}).items():
            frame = frame.where(F.col(column).between(F.lit(low), F.lit(high)))
        return frame

    def read_files(
        self,
        spark: SparkSession,
        table: str,
        files: Sequence[FileRef],
        version: int | None = None,
    ) -> DataFrame:
        """Rows of these data files (files of older versions too, until they are vacuumed)."""
        schema = self.spark_schema(table, version)
        paths = [f.path for f in files]
        if not paths:
            return empty_frame(spark, schema)
        reader = spark.read.schema(schema).option("basePath", self.table_uri(table))
        try:
            frame = read_parquet(reader, paths)
        except Exception:
            missing = [p for p in paths if not Path(p).exists()]
            if missing:  # Spark's own error is a JVM stack trace naming one path
                raise VacuumedFilesError(table, missing, version) from None
            raise
        rows = [f.rows for f in files]
        known = None if None in rows else sum(rows)
        return in_one_partition(select_columns(frame, schema.fieldNames()), known)

    def schema(self, table: str) -> T.StructType:
        """The table's columns as Spark types, from the Delta log (no JVM call)."""
        return self.spark_schema(table)

    def spark_schema(self, table: str, version: int | None = None) -> T.StructType:
        dt = self._log(table, version)
        return from_arrow_schema(pa.schema(dt.schema().to_arrow()), prefer_timestamp_ntz=False)

    def read_arrow(
        self, table: str, where: Where | None = None, columns: Sequence[str] | None = None
    ) -> pa.Table:
        """Rows of ``where`` read by PyArrow on this machine, without Spark (metadata, checks
        of a few rows)."""
        if not self.exists(table):
            return pa.table({})
        return self.read_files_arrow(table, self.files(table, where), columns)

    def read_files_arrow(
        self, table: str, files: Sequence[FileRef], columns: Sequence[str] | None = None
    ) -> pa.Table:
        """Rows of these data files read by PyArrow on this machine, without Spark."""
        dt = self._log(table)
        schema = pa.schema(dt.schema().to_arrow())
        partitioning = dt.metadata().partition_columns
        dataset = ds.dataset(
            [f.path for f in files],
            schema=schema,
            format="parquet",
            partitioning=ds.partitioning(
                pa.schema([schema.field(c) for c in partitioning]), flavor="hive"
            )
            if partitioning
            else None,
            partition_base_dir=self.table_uri(table),
        )
        return dataset.to_table(columns=list(columns) if columns else None)

    def partition_row_counts(self, table: str, where: Where) -> dict[date, int]:
        """Rows per partition from the Delta log's file statistics: no data is read."""
        counts: dict[date, int] = {}
        if not self.exists(table):
            return counts
        actions = self._add_actions(table)
        column = f"partition.{where.column}"
        for day, rows in zip(
            actions.column(column).to_pylist(),
            actions.column("num_records").to_pylist(),
            strict=True,
        ):
            day = _value(day) if isinstance(day, str) else day
            if where.contains(day):
                counts[day] = counts.get(day, 0) + int(rows)
        return counts

    def row_count(self, table: str, version: int | None = None) -> int:
        """Rows of the whole table (at ``version``), from the Delta log's statistics."""
        if not self.exists(table):
            return 0
        return sum(self._add_actions(table, version).column("num_records").to_pylist())

    # --- what changed -----------------------------------------------------------------

    def inputs(self, table: str, version: int | None = None) -> dict[str, int]:
        """The input versions a commit (default: the latest) was computed from; for a
        maintenance commit, those of the data commit before it."""
        info = self._commit_info(table, version)
        if not info.get(INPUTS):
            return {}
        return {k: int(v) for k, v in json.loads(info[INPUTS]).items() if v is not None}

    def notes(self, table: str) -> dict[str, str]:
        """The notes (``finance.*`` keys other than inputs) of the table's latest data commit
        (maintenance commits are walked past)."""
        info = self._commit_info(table)
        return {k: v for k, v in info.items() if k.startswith(NOTE_PREFIX) and k != INPUTS}

    def _commit_info(self, table: str, version: int | None = None) -> dict:
        """The commitInfo of the latest data commit at or before ``version`` (default: the
        latest): a compaction or vacuum changes no data and records no inputs or notes, so it
        is walked past. {} when there is none (or its log entry was cleaned up)."""
        version = self.version(table) if version is None else version
        while version is not None and version >= 0:
            info = self._commit_info_at(table, version)
            if info.get("operation") not in MAINTENANCE_OPERATIONS:
                return info
            version -= 1
        return {}

    def _commit_info_at(self, table: str, version: int) -> dict:
        commit = Path(self.table_uri(table), "_delta_log", f"{version:020d}.json")
        if not commit.exists():
            return {}
        for line in commit.read_text().splitlines():
            info = json.loads(line).get("commitInfo")
            if info:
                return info
        return {}

    def changes(self, table: str, since: int | None, until: int | None = None) -> Changes | None:
        """Files added and removed by data changes after version ``since`` up to ``until``
        (default: now); None when that cannot be known (no such table, no version to start
        from, log entries cleaned up)."""
        latest = self.version(table)
        current = latest if until is None else until
        if latest is None or since is None or since > current or current > latest:
            return None
        added: dict[str, FileRef] = {}
        removed: dict[str, FileRef] = {}
        log = Path(self.table_uri(table), "_delta_log")
        for version in range(since + 1, current + 1):
            commit = log / f"{version:020d}.json"
            if not commit.exists():
                return None
            for line in commit.read_text().splitlines():
                action = json.loads(line)
                for kind, into, other in (("add", added, removed), ("remove", removed, added)):
                    body = action.get(kind)
                    # A compaction's files hold the rows of the files it replaced: skipping
                    # them keeps added less removed equal to the rows data changes brought.
                    if not body or not body.get("dataChange", True):
                        continue
                    path = str(Path(self.table_uri(table), body["path"]))
                    if other.pop(path, None) is None:  # added then removed: no net change
                        values = body.get("partitionValues") or {}
                        partition = {k: _value(v) for k, v in values.items()}
                        into[path] = FileRef(path, partition, _rows(body), body.get("size"))
        return Changes(current, tuple(added.values()), tuple(removed.values()))


def _rows(action: dict) -> int | None:
    """The rows a log entry's statistics give its file (None: no statistics)."""
    stats = action.get("stats")
    return json.loads(stats).get("numRecords") if stats else None


def _rows_in(actions: pa.Table, where: Where) -> list[int]:
    """The positions of the add actions whose file lies in a partition of ``where``."""
    column = f"partition.{where.column}"
    if column in actions.column_names:
        values = actions.column(column).to_pylist()
    else:
        values = [None] * actions.num_rows
    return [
        i
        for i, value in enumerate(values)
        if where.contains(_value(value) if isinstance(value, str) else value)
    ]


def _partition_of(action: dict) -> dict:
    """An add action's partition values, as Python values."""
    return {
        k.removeprefix("partition."): _value(v) if isinstance(v, str) else v
        for k, v in action.items()
        if k.startswith("partition.")
    }


def _overlaps(action: dict, partition: dict, column: str, bounds: tuple) -> bool:
    """Whether a file can hold a row whose ``column`` lies within ``bounds`` (low, high)."""
    low, high = bounds
    if column in partition:
        value = partition[column]
        return value is not None and low <= value <= high
    file_low, file_high = action.get(f"min.{column}"), action.get(f"max.{column}")
    if file_low is None or file_high is None:
        return True
    return file_low <= high and low <= file_high


def file_statistics(metadata: pq.FileMetaData) -> dict:
    """Delta ``stats`` of a Parquet file from its footer: row count, and per column the
    null count and, for ids, dates and short strings, the min and max."""
    stats: dict = {"numRecords": metadata.num_rows, "minValues": {}, "maxValues": {}}
    nulls: dict[str, int] = {}
    schema = metadata.schema.to_arrow_schema()
    for index, name in enumerate(metadata.schema.names):
        arrow_type = schema.field(name).type
        low = high = None
        complete = True
        for group in range(metadata.num_row_groups):
            column = metadata.row_group(group).column(index).statistics
            if column is None or not column.has_null_count:
                complete = False
                break
            nulls[name] = nulls.get(name, 0) + column.null_count
            if column.has_min_max:
                low = column.min if low is None else min(low, column.min)
                high = column.max if high is None else max(high, column.max)
        if not complete:
            nulls.pop(name, None)
            continue
        bounds = _json_bounds(arrow_type, low, high)
        if bounds:
            stats["minValues"][name], stats["maxValues"][name] = bounds
    stats["nullCount"] = nulls
    return stats


def _json_bounds(arrow_type: pa.DataType, low, high):
    if low is None or high is None:
        return None
    if pa.types.is_integer(arrow_type):
        return int(low), int(high)
    if pa.types.is_date32(arrow_type):
        return low.isoformat(), high.isoformat()
    if pa.types.is_string(arrow_type) and max(len(low), len(high)) <= MAX_STRING_STAT:
        return low, high
    return None


def _add_action(table_dir: Path, relative: Path, metadata: pq.FileMetaData):
    """The Delta add action of a data file written into the table folder."""
    from deltalake.transaction import AddAction

    return AddAction(
        path=relative.as_posix(),
        size=(table_dir / relative).stat().st_size,
        partition_values=_partition_values(relative),
        modification_time=int(time.time() * 1000),
        data_change=True,
        stats=json.dumps(file_statistics(metadata)),
    )


def _without(schema: T.StructType, columns: Sequence[str]) -> T.StructType:
    return T.StructType([f for f in schema.fields if f.name not in set(columns)])


def _arrow_sized(schema: T.StructType, partition_by: Sequence[str], where: Where | None) -> bool:
    """Whether a write goes through :func:`_write_arrow`: a few partitions, each a date."""
    return (
        where is not None and where.size <= ARROW_WRITE_PARTITIONS and _dated(schema, partition_by)
    )


def _dated(schema: T.StructType, partition_by: Sequence[str]) -> bool:
    """Whether every partition column is a date (folder names PyArrow writes as Spark does)."""
    types = {f.name: f.dataType for f in schema.fields}
    return all(isinstance(types.get(c), T.DateType) for c in partition_by)


def _write_arrow(
    rows: pa.Table,
    schema: pa.Schema,
    table_dir: Path,
    partition_by: Sequence[str],
    max_rows_per_file: int = 0,
):
    """Write ``rows`` into ``table_dir``, one file per partition (or per ``max_rows_per_file``
    rows, Spark's ``spark.sql.files.maxRecordsPerFile``), laid out and described as Spark's
    writer would (Hive folders, snappy, decimals as integers): the add actions."""
    rows = rows.cast(schema)
    actions = []
    keys = list(partition_by)
    for values, part in _partitions(rows, keys):
        part = part.drop_columns(keys)
        folders = [f"{c}={HIVE_NULL if v is None else v.isoformat()}" for c, v in values.items()]
        step = max_rows_per_file if max_rows_per_file > 0 else max(part.num_rows, 1)
        for number, offset in enumerate(range(0, part.num_rows, step)):
            name = f"part-{number:05d}-{uuid.uuid4()}.c000.snappy.parquet"
            actions.append(_write_file(part.slice(offset, step), table_dir, Path(*folders, name)))
    return actions


def _spark_writer(df: DataFrame, partition_by: Sequence[str], small: bool):
    if partition_by and small:
        # A few partitions' worth (a day's run): one task writes them, no shuffle.
        writer = df.coalesce(1).write.partitionBy(*partition_by)
    elif partition_by:
        # One task per partition value: a day becomes one file, not one per upstream task.
        writer = df.repartition(*[F.col(c) for c in partition_by]).write.partitionBy(*partition_by)
    else:
        writer = df.coalesce(1).write if small else df.write
    # "error" rather than its alias "errorifexists": Spark Connect's client accepts only
    # append, overwrite, error and ignore.
    return writer.mode("error")


def _write_in_tasks(df: DataFrame, staging: Path, partition_by: Sequence[str]) -> None:
    """Write ``df`` into ``staging`` as Spark's partitioned writer would, each Spark task
    writing its partitions' files with PyArrow (:func:`_write_arrow`). A backfill writes a
    file per date (per payment day and order day: thousands a year for
    ``silver/payment_orders``) of a few rows each, and Spark's writer spends about 10 ms on
    each file whatever its rows."""
    write = functools.partial(
        _write_task_files,
        schema=to_arrow_schema(df.schema, timezone="UTC"),
        staging=str(staging),
        partition_by=list(partition_by),
        max_rows_per_file=int(df.sparkSession.conf.get(MAX_RECORDS_PER_FILE, "0") or 0),
    )
    tasks = df.repartition(*[F.col(c) for c in partition_by])
    tasks.mapInArrow(write, "files long").agg(F.sum("files")).collect()


def _write_task_files(
    batches, schema: pa.Schema, staging: str, partition_by: list[str], max_rows_per_file: int
):
    """In a Spark task: write its rows' partitions under ``staging``; yields how many files."""
    batches = list(batches)
    written = 0
    if any(batch.num_rows for batch in batches):
        rows = pa.Table.from_batches(batches)
        written = len(_write_arrow(rows, schema, Path(staging), partition_by, max_rows_per_file))
    yield pa.RecordBatch.from_pydict({"files": [written]})


def _partitions(rows: pa.Table, keys: list[str]) -> Iterable[tuple[dict, pa.Table]]:
    """Each distinct value of ``keys`` (nulls included) and its rows, in one pass."""
    if not keys:
        yield {}, rows
        return
    numbered = rows.select(keys).append_column(ROW_NUMBER, pa.array(range(rows.num_rows)))
    groups = numbered.group_by(keys).aggregate([(ROW_NUMBER, "list")])
    numbers = groups.column(f"{ROW_NUMBER}_list")
    for i, values in enumerate(groups.select(keys).to_pylist()):
        yield values, rows.take(numbers[i].values)


def _write_file(rows: pa.Table, table_dir: Path, relative: Path):
    target = table_dir / relative
    target.parent.mkdir(parents=True, exist_ok=True)
    collected: list[pq.FileMetaData] = []
    pq.write_table(
        rows,
        target,
        compression="snappy",
        store_decimal_as_integer=True,
        metadata_collector=collected,
    )
    return _add_action(table_dir, relative, collected[0])


def _partition_values(relative: Path) -> dict[str, str | None]:
    values: dict[str, str | None] = {}
    for part in relative.parts[:-1]:
        key, _, value = part.partition("=")
        values[key] = None if value == HIVE_NULL else value
    return values


class SparkDeltaLake:
    """Native Delta Lake through Spark (Databricks, or Spark with the Delta extensions).

    Tables live at ``<root>/<layer>/<name>`` (any location the engine can write, e.g.
    ``s3://bucket/lake``), or, with ``catalog_schema`` (``catalog.schema``), are Unity Catalog
    managed tables named ``catalog.schema.<layer>_<name>`` (``gold/daily_kpi`` becomes
    ``catalog.schema.gold_daily_kpi``). The engine skips files by its own statistics; what
    changed between versions is not tracked here (``changes`` is None), so incremental gold
    falls back to recomputing from its inputs.
    """

    def __init__(self, root: str, catalog_schema: str | None = None):
        self.root = root.rstrip("/")
        self.catalog_schema = catalog_schema
        self._spark: SparkSession | None = None

    def table_uri(self, table: str) -> str:
        if self.catalog_schema:
            return f"{self.catalog_schema}.{table.replace('/', '_')}"
        return f"{self.root}/{table}"

    def _spark_name(self, table: str) -> str:
        if self.catalog_schema:
            return ".".join(f"`{part}`" for part in self.table_uri(table).split("."))
        return f"delta.`{self.table_uri(table)}`"

    def _session(self, spark: SparkSession | None = None) -> SparkSession:
        if spark is not None:
            self._spark = spark
        if self._spark is None:
            # SparkSession.active() works for classic, Spark Connect and Databricks Connect.
            self._spark = SparkSession.active()
        return self._spark

    def exists(self, table: str) -> bool:
        spark = self._session()
        if self.catalog_schema:
            return bool(spark.catalog.tableExists(self.table_uri(table)))
        try:
            spark.sql(f"DESCRIBE DETAIL {self._spark_name(table)}").collect()
            return True
        except Exception:
            return False

    def version(self, table: str) -> int | None:
        if not self.exists(table):
            return None
        last = self._session().sql(f"DESCRIBE HISTORY {self._spark_name(table)} LIMIT 1").first()
        return int(last["version"])

    def _save(self, writer, table: str) -> None:
        if self.catalog_schema:
            writer.saveAsTable(self.table_uri(table))
        else:
            writer.save(self.table_uri(table))

    def replace_partitions(
        self,
        df: DataFrame,
        table: str,
        where: Where,
        partition_by: Sequence[str] | None = None,
        inputs: Mapping[str, int | None] | None = None,
        notes: Mapping[str, str] | None = None,
        unstored: Sequence[str] = (),
        few_rows: bool = False,
    ) -> WriteResult:
        metadata = {INPUTS: dict(inputs or {}), **_notes(notes)}
        if unstored:
            df = df.drop(*unstored)
        writer = (
            df.write.format("delta")
            .mode("overwrite")
            .option("replaceWhere", where.sql())
            .option("userMetadata", json.dumps(metadata))
            .partitionBy(*(partition_by or [where.column]))
        )
        self._save(writer, table)
        return self._result(self._session(df.sparkSession), table)

    def replace_table(
        self,
        df: DataFrame,
        table: str,
        inputs: Mapping[str, int | None] | None = None,
        unstored: Sequence[str] = (),
    ) -> WriteResult:
        if unstored:
            df = df.drop(*unstored)
        writer = (
            df.write.format("delta")
            .mode("overwrite")
            .option("overwriteSchema", "true")
            .option("userMetadata", json.dumps({INPUTS: dict(inputs or {})}))
        )
        self._save(writer, table)
        return self._result(self._session(df.sparkSession), table)

    def empty_partitions(
        self,
        schema: T.StructType,
        table: str,
        where: Where,
        partition_by: Sequence[str] | None = None,
        inputs: Mapping[str, int | None] | None = None,
    ) -> WriteResult:
        empty = empty_frame(self._session(), schema)
        return self.replace_partitions(empty, table, where, partition_by, inputs)

    def append_rows(
        self, rows: pa.Table, table: str, partition_by: Sequence[str] = ()
    ) -> WriteResult:
        spark = self._session()
        writer = spark.createDataFrame(rows).write.format("delta").mode("append")
        if partition_by:
            writer = writer.partitionBy(*partition_by)
        self._save(writer, table)
        return self._result(spark, table)

    def _result(self, spark: SparkSession, table: str) -> WriteResult:
        last = spark.sql(f"DESCRIBE HISTORY {self._spark_name(table)} LIMIT 1").first()
        rows = int((last["operationMetrics"] or {}).get("numOutputRows", 0))
        return WriteResult(self.table_uri(table), int(last["version"]), rows)

    def read(
        self,
        spark: SparkSession,
        table: str,
        where: Where | None = None,
        within: Mapping[str, tuple] | None = None,
        version: int | None = None,
    ) -> DataFrame:
        spark = self._session(spark)
        reader = spark.read
        if version is not None:
            reader = reader.option("versionAsOf", version)
        if self.catalog_schema:
            frame = reader.table(self.table_uri(table))
        else:
            frame = reader.format("delta").load(self.table_uri(table))
        if where is not None:
            frame = frame.where(where.spark_filter())
        for column, (low, high) in (within or {}).items():
            frame = frame.where(F.col(column).between(F.lit(low), F.lit(high)))
        return frame

    def schema(self, table: str) -> T.StructType:
        return self.read(self._session(), table).schema

    def read_arrow(
        self, table: str, where: Where | None = None, columns: Sequence[str] | None = None
    ) -> pa.Table:
        frame = self.read(self._session(), table, where)
        return frame.select(*(columns or frame.columns)).toArrow()

    def partition_row_counts(self, table: str, where: Where) -> dict[date, int]:
        if not self.exists(table):
            return {}
        rows = self.read(self._session(), table, where).groupBy(where.column).count().collect()
        return {r[where.column]: int(r["count"]) for r in rows}

    def row_count(self, table: str, version: int | None = None) -> int:
        if not self.exists(table):
            return 0
        return self.read(self._session(), table, version=version).count()

    def inputs(self, table: str, version: int | None = None) -> dict[str, int]:
        return {}

    def notes(self, table: str) -> dict[str, str]:
        return {}

    def bounds(self, table: str, column: str, where: Where | None = None) -> tuple | None:
        return None

    def changes(self, table: str, since: int | None, until: int | None = None) -> Changes | None:
        return None

    def files(
        self,
        table: str,
        where: Where | None = None,
        within: Mapping[str, tuple] | None = None,
        version: int | None = None,
    ) -> list[FileRef]:
        raise NotImplementedError("spark-delta tables are read by predicate, not by file")

    def read_files(
        self,
        spark: SparkSession,
        table: str,
        files: Sequence[FileRef],
        version: int | None = None,
    ) -> DataFrame:
        raise NotImplementedError("spark-delta tables are read by predicate, not by file")

    def compact(self, table: str, where: Where | None = None) -> Compaction:
        """``OPTIMIZE`` (of the partitions of ``where``)."""
        predicate = where.sql() if where is not None else None
        return compact_spark(self._session(), table, self._spark_name(table), predicate)

    def vacuum(self, table: str, retention_hours: int, dry_run: bool = False) -> Vacuum:
        """``VACUUM ... RETAIN n HOURS`` (``DRY RUN`` on a dry run)."""
        name = self._spark_name(table)
        return vacuum_spark(self._session(), table, name, retention_hours, dry_run)
