"""Lake maintenance: compact a table's small files, and delete the files of replaced versions
once they are older than the retention the user sets.

Every run replaces partitions: the files it replaces stay on disk (time travel can still read
them) and appends (the restatements log) add a small file each. Maintenance of one table is:

- **compact**: rewrite the small files of each partition into fewer, larger ones (delta-rs
  ``optimize.compact``; ``OPTIMIZE`` on Databricks). The commit changes no data
  (``dataChange: false``): readers see the same rows, incremental gold does not count the
  rewritten partitions as changed, and the input versions a table recorded stay readable
  (``Lake.inputs`` walks past maintenance commits). Every new file carries min/max
  statistics, so reads keep skipping files.
- **vacuum**: delete the files no version younger than ``retention_hours`` references
  (delta-rs ``vacuum``; ``VACUUM ... RETAIN n HOURS`` on Databricks). Time travel
  (``finance-assets sql --as-of/--version``, ``explain --as-of``) cannot read a version whose
  files were deleted. A retention below Delta's default (168 hours) turns off Delta's own
  safety check (``enforce_retention_duration``), so it only happens when the user asked for
  it (``FINANCE_VACUUM_RETENTION_HOURS`` or ``--retention-hours``).

Both engines implement ``Lake.compact`` and ``Lake.vacuum``; :func:`maintain` does both for
one table. Run it under the table's concurrency pool (``automation/maintenance.py`` does), so
no run writes the table meanwhile; a data write that races a compaction anyway is retried on
top of it (``DeltaRsLake._commit``), and a compaction that loses the race to a data write is
not committed (delta-rs checks for conflicts) and tried again on the new version.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from finance_assets.settings import DELTA_DEFAULT_RETENTION_HOURS

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

COMPACT_ATTEMPTS = 3
"""Compactions tried when data writes keep committing to the table meanwhile."""
MAINTENANCE_OPERATIONS = frozenset({"OPTIMIZE", "VACUUM START", "VACUUM END"})
"""Operations of commits that change no data (their ``commitInfo.operation``)."""
ORPHAN_MIN_HOURS = 1
"""Files no commit ever referenced (a write that crashed before its commit) are deleted only
with a retention of at least this long: a write in progress in another process has moved its
files into the table folder seconds before it commits them."""
SPARK_RETENTION_CHECK = "spark.databricks.delta.retentionDurationCheck.enabled"


@dataclass(frozen=True)
class Compaction:
    """What compacting a table did: files (and bytes) it replaced by fewer, larger ones."""

    table: str
    files_removed: int = 0
    files_added: int = 0
    bytes_removed: int | None = 0
    bytes_added: int | None = 0
    version: int | None = None
    """The table's version after it (the compaction's commit, when it made one)."""
    note: str = ""

    def describe(self) -> str:
        if self.note:
            return f"compaction {self.note}"
        if not self.files_removed:
            return "nothing to compact"
        sizes = ""
        if self.bytes_removed is not None and self.bytes_added is not None:
            sizes = f" ({human_size(self.bytes_removed)} -> {human_size(self.bytes_added)})"
        return f"compacted {self.files_removed} files into {self.files_added}{sizes}"


@dataclass(frozen=True)
class Vacuum:
    """What vacuuming a table did (``dry_run``: would do): the files it deleted."""

    table: str
    retention_hours: int
    dry_run: bool
    files: tuple[str, ...] = ()
    bytes_deleted: int | None = 0

    @property
    def files_deleted(self) -> int:
        return len(self.files)

    def describe(self) -> str:
        if not self.files:
            return "nothing to delete"
        verb = "would delete" if self.dry_run else "deleted"
        size = f" ({human_size(self.bytes_deleted)})" if self.bytes_deleted is not None else ""
        return f"{verb} {self.files_deleted} files{size}"


class MaintainedLake(Protocol):
    """What maintenance needs of a lake (``lake.delta.Lake`` implements it)."""

    def exists(self, table: str) -> bool: ...
    def compact(self, table: str, where: Any = None) -> Compaction: ...
    def vacuum(self, table: str, retention_hours: int, dry_run: bool = False) -> Vacuum: ...


@dataclass(frozen=True)
class Maintenance:
    """Maintenance of one table: its compaction (None on a dry run) and its vacuum."""

    table: str
    compaction: Compaction | None = None
    vacuum: Vacuum | None = None
    skipped: str = ""
    warnings: tuple[str, ...] = field(default=())

    def describe(self) -> str:
        if self.skipped:
            return f"{self.table}: skipped ({self.skipped})"
        parts = [done.describe() for done in (self.compaction, self.vacuum) if done is not None]
        return f"{self.table}: " + "; ".join(parts)

    def metadata(self) -> dict[str, Any]:
        """Plain values for Dagster metadata and JSON output."""
        out: dict[str, Any] = {"table": self.table}
        if self.skipped:
            out["skipped"] = self.skipped
        if self.compaction is not None:
            c = self.compaction
            out.update(
                files_compacted=c.files_removed,
                files_written=c.files_added,
                bytes_compacted=c.bytes_removed,
                bytes_written=c.bytes_added,
            )
        if self.vacuum is not None:
            v = self.vacuum
            out.update(
                files_vacuumed=v.files_deleted,
                bytes_vacuumed=v.bytes_deleted,
                retention_hours=v.retention_hours,
                dry_run=v.dry_run,
            )
        return out


def below_default(retention_hours: int) -> bool:
    """Whether a retention turns off Delta's own minimum (the user's explicit choice)."""
    return retention_hours < DELTA_DEFAULT_RETENTION_HOURS


def retention_warning(retention_hours: int) -> str | None:
    """What a retention below Delta's default costs, or None."""
    if not below_default(retention_hours):
        return None
    return (
        f"retention {retention_hours} h is below Delta's default of "
        f"{DELTA_DEFAULT_RETENTION_HOURS} h: time travel (--as-of, --version) reaches back "
        f"only {retention_hours} h, and a reader still reading an older version may fail"
    )


def maintain(
    lake: MaintainedLake,
    table: str,
    retention_hours: int,
    dry_run: bool = False,
    where: Any = None,
) -> Maintenance:
    """Compact ``table`` (only the partitions of ``where``, when given; not on a dry run),
    then vacuum it with ``retention_hours``."""
    if retention_hours < 0:
        raise ValueError(f"retention_hours={retention_hours}: must be at least 0")
    if not lake.exists(table):
        return Maintenance(table, skipped="no such table yet")
    warning = retention_warning(retention_hours)
    compaction = None if dry_run else lake.compact(table, where)
    vacuum = lake.vacuum(table, retention_hours, dry_run=dry_run)
    return Maintenance(table, compaction, vacuum, warnings=(warning,) if warning else ())


# --- delta-rs ------------------------------------------------------------------------------


def compact_delta_rs(
    table: str, uri: str, filters: list[tuple[str, str, Any]] | None = None
) -> Compaction:
    """Compact the table at ``uri`` (the partitions ``filters`` select, default all) with
    delta-rs. A data write that commits first makes delta-rs refuse the compaction
    (nothing is lost); it is tried again on the new version."""
    from deltalake import DeltaTable
    from deltalake.exceptions import CommitFailedError

    for _ in range(COMPACT_ATTEMPTS):
        dt = DeltaTable(uri)
        try:
            metrics = dt.optimize.compact(partition_filters=filters)
        except CommitFailedError:
            continue
        return Compaction(
            table,
            files_removed=int(metrics.get("numFilesRemoved", 0)),
            files_added=int(metrics.get("numFilesAdded", 0)),
            bytes_removed=_total_size(metrics.get("filesRemoved")),
            bytes_added=_total_size(metrics.get("filesAdded")),
            version=DeltaTable(uri).version(),
        )
    return Compaction(
        table,
        version=DeltaTable(uri).version(),
        note=f"not committed: data writes kept committing first ({COMPACT_ATTEMPTS} attempts)",
    )


def vacuum_delta_rs(table: str, uri: str, retention_hours: int, dry_run: bool) -> Vacuum:
    """Delete (``dry_run``: list) the files of the table at ``uri`` that no version younger
    than ``retention_hours`` references."""
    from deltalake import DeltaTable

    options = {
        "retention_hours": retention_hours,
        "enforce_retention_duration": not below_default(retention_hours),
        "full": retention_hours >= ORPHAN_MIN_HOURS,
    }
    listed = DeltaTable(uri).vacuum(dry_run=True, **options)
    sizes = {path: _file_size(Path(uri), path) for path in listed}
    if dry_run:
        return Vacuum(table, retention_hours, True, tuple(listed), sum(sizes.values()))
    deleted = DeltaTable(uri).vacuum(dry_run=False, **options)
    known = sum(sizes[p] for p in deleted if p in sizes)
    return Vacuum(table, retention_hours, False, tuple(deleted), known)


def _total_size(summary: Any) -> int | None:
    """``totalSize`` of delta-rs's file summary (a JSON text or a dict)."""
    if isinstance(summary, str):
        summary = json.loads(summary)
    if not isinstance(summary, dict):
        return None
    return int(summary.get("totalSize") or 0)


def _file_size(root: Path, path: str) -> int:
    file = Path(path) if os.path.isabs(path) else root / path
    try:
        return file.stat().st_size
    except OSError:
        return 0


# --- Spark with Delta Lake (Databricks) ----------------------------------------------------


def compact_spark(
    spark: SparkSession, table: str, name: str, predicate: str | None = None
) -> Compaction:
    """``OPTIMIZE`` of a native Delta table (``name`` as Spark SQL names it; ``predicate``:
    the partitions to compact, as SQL)."""
    sql = f"OPTIMIZE {name}" + (f" WHERE {predicate}" if predicate else "")
    row = spark.sql(sql).first()
    metrics = row["metrics"] if row is not None else None
    if metrics is None:
        return Compaction(table)
    return Compaction(
        table,
        files_removed=int(metrics["numFilesRemoved"]),
        files_added=int(metrics["numFilesAdded"]),
        bytes_removed=int(metrics["filesRemoved"]["totalSize"] or 0),
        bytes_added=int(metrics["filesAdded"]["totalSize"] or 0),
    )


def vacuum_spark(
    spark: SparkSession, table: str, name: str, retention_hours: int, dry_run: bool
) -> Vacuum:
    """``VACUUM ... RETAIN n HOURS`` of a native Delta table; the files come from its
    ``DRY RUN`` (Spark reports no sizes)."""
    if below_default(retention_hours):
        spark.conf.set(SPARK_RETENTION_CHECK, "false")
    statement = f"VACUUM {name} RETAIN {retention_hours} HOURS"
    listed = tuple(str(r[0]) for r in spark.sql(f"{statement} DRY RUN").collect())
    if not dry_run:
        spark.sql(statement).collect()
    return Vacuum(table, retention_hours, dry_run, listed, None)


def human_size(count: int | None) -> str:
    """Bytes as B, KB, MB or GB."""
    if count is None:
        return "size unknown"
    value = float(count)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GB"  # pragma: no cover
