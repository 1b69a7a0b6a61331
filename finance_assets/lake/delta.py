"""Delta Lake tables under ``<lake>``: replace partitions atomically, read them back into Spark.

Two engines, one interface, so asset code never knows which one runs:

- ``DeltaRsLake`` (local Spark, standalone clusters, Spark Connect without Delta jars):
  Spark executors write Parquet files in parallel into a staging folder, the files are
  moved into the table folder, and delta-rs commits them to the Delta log in one
  transaction that also removes the replaced partitions. Nothing passes through the driver
  but file names and Parquet footers. A crash before the commit leaves only unreferenced
  files, which no reader sees.
- ``SparkDeltaLake`` (Databricks, or any Spark with Delta Lake): native Delta writes with
  ``replaceWhere``.
"""

from __future__ import annotations

import json
import os
import shutil
import time
import uuid
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Protocol

import pyarrow as pa
import pyarrow.parquet as pq
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T
from pyspark.sql.pandas.types import from_arrow_schema, to_arrow_schema

from finance_assets.landing.zone import is_s3, local_path


@dataclass(frozen=True)
class PartitionRange:
    """An inclusive range of values of a table's date partition column, less ``keep``: values
    inside the range that a write must leave as they are."""

    column: str
    start: date
    end: date
    keep: tuple[date, ...] = ()

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
class WriteResult:
    """What one write did: where, which table version it made, how many rows it holds."""

    table_uri: str
    version: int
    rows: int


class Lake(Protocol):
    root: str

    def table_uri(self, table: str) -> str: ...
    def exists(self, table: str) -> bool: ...
    def replace_partitions(
        self, df: DataFrame, table: str, where: PartitionRange
    ) -> WriteResult: ...
    def replace_table(self, df: DataFrame, table: str) -> WriteResult: ...
    def read(
        self, spark: SparkSession, table: str, where: PartitionRange | None = None
    ) -> DataFrame: ...
    def partition_row_counts(
        self, spark: SparkSession, table: str, where: PartitionRange
    ) -> dict[date, int]: ...


class DeltaRsLake:
    """Delta tables on a local or shared file system, committed by delta-rs."""

    def __init__(self, root: str):
        if is_s3(root):
            raise ValueError(
                f"FINANCE_LAKE_URI={root!r}: the delta-rs engine writes through Spark executors "
                "to a file system path; use a local or mounted folder, or the 'databricks' "
                "Spark mode for a lake on S3."
            )
        self.root = str(local_path(root).resolve())

    def table_uri(self, table: str) -> str:
        return str(Path(self.root, table))

    def exists(self, table: str) -> bool:
        return Path(self.table_uri(table), "_delta_log").is_dir()

    def replace_partitions(self, df: DataFrame, table: str, where: PartitionRange) -> WriteResult:
        return self._write(df, table, where.column, where)

    def replace_table(self, df: DataFrame, table: str) -> WriteResult:
        return self._write(df, table, None, None)

    def _write(self, df, table, partition_column, where) -> WriteResult:
        from deltalake import DeltaTable, Schema
        from deltalake.transaction import create_table_with_add_actions

        table_dir = Path(self.table_uri(table))
        schema = to_arrow_schema(df.schema, timezone="UTC")
        actions = self._stage_files(df, table_dir, partition_column)
        partition_by = [partition_column] if partition_column else None
        if not self.exists(table):
            try:
                create_table_with_add_actions(
                    str(table_dir),
                    Schema.from_arrow(schema),
                    actions,
                    mode="error",
                    partition_by=partition_by,
                )
                return self._result(table, actions)
            except Exception:
                if not self.exists(table):
                    raise
        DeltaTable(str(table_dir)).create_write_transaction(
            actions,
            mode="overwrite",
            schema=schema,
            partition_by=partition_by,
            partition_filters=where.delta_filters() if where else None,
        )
        return self._result(table, actions)

    def _result(self, table: str, actions) -> WriteResult:
        from deltalake import DeltaTable

        rows = sum(json.loads(a.stats)["numRecords"] for a in actions)
        return WriteResult(self.table_uri(table), DeltaTable(self.table_uri(table)).version(), rows)

    def _stage_files(self, df: DataFrame, table_dir: Path, partition_column: str | None):
        from deltalake.transaction import AddAction

        staging = Path(self.root, "_staging", uuid.uuid4().hex)
        if partition_column:
            # One task per date partition: a day becomes one file, not one per upstream task.
            writer = df.repartition(F.col(partition_column)).write.partitionBy(partition_column)
        else:
            writer = df.write
        # "error" rather than its alias "errorifexists": Spark Connect's client accepts only
        # append, overwrite, error and ignore.
        writer = writer.mode("error")
        try:
            writer.parquet(str(staging))
            actions = []
            for file in sorted(staging.rglob("*.parquet")):
                if file.name.startswith((".", "_")):
                    continue
                rows = pq.read_metadata(file).num_rows
                if rows == 0:
                    continue
                relative = file.relative_to(staging)
                target = table_dir / relative
                target.parent.mkdir(parents=True, exist_ok=True)
                os.replace(file, target)
                actions.append(
                    AddAction(
                        path=relative.as_posix(),
                        size=target.stat().st_size,
                        partition_values=_partition_values(relative),
                        modification_time=int(time.time() * 1000),
                        data_change=True,
                        stats=json.dumps({"numRecords": rows}),
                    )
                )
            return actions
        finally:
            shutil.rmtree(staging, ignore_errors=True)

    def read(
        self, spark: SparkSession, table: str, where: PartitionRange | None = None
    ) -> DataFrame:
        from deltalake import DeltaTable

        if not self.exists(table):
            raise FileNotFoundError(
                f"Delta table {self.table_uri(table)} does not exist yet: "
                "materialize its asset first."
            )
        dt = DeltaTable(self.table_uri(table))
        schema = from_arrow_schema(pa.schema(dt.schema().to_arrow()), prefer_timestamp_ntz=False)
        pruning = where.delta_filters() if where else None
        files = [str(local_path(u)) for u in dt.file_uris(file_pruning_predicate=pruning)]
        if not files:
            return spark.createDataFrame([], schema)
        frame = spark.read.schema(schema).option("basePath", self.table_uri(table)).parquet(*files)
        return frame.select(*schema.fieldNames())

    def partition_row_counts(
        self, spark: SparkSession, table: str, where: PartitionRange
    ) -> dict[date, int]:
        """Rows per partition from the Delta log's file statistics: no data is read."""
        from deltalake import DeltaTable

        if not self.exists(table):
            return {}
        actions = pa.table(DeltaTable(self.table_uri(table)).get_add_actions(flatten=True))
        column = f"partition.{where.column}"
        counts: dict[date, int] = {}
        for day, rows in zip(
            actions.column(column).to_pylist(),
            actions.column("num_records").to_pylist(),
            strict=True,
        ):
            day = date.fromisoformat(day) if isinstance(day, str) else day
            if where.start <= day <= where.end and day not in where.keep:
                counts[day] = counts.get(day, 0) + int(rows)
        return counts


def _partition_values(relative: Path) -> dict[str, str | None]:
    values: dict[str, str | None] = {}
    for part in relative.parts[:-1]:
        key, _, value = part.partition("=")
        values[key] = None if value == "__HIVE_DEFAULT_PARTITION__" else value
    return values


class SparkDeltaLake:
    """Native Delta Lake through Spark (Databricks, or Spark with the Delta extensions).

    Tables live at ``<root>/<layer>/<name>`` (any location the engine can write, e.g.
    ``s3://bucket/lake``), or, with ``catalog_schema`` (``catalog.schema``), are Unity Catalog
    managed tables named ``catalog.schema.<layer>_<name>`` (``gold/daily_kpi`` becomes
    ``catalog.schema.gold_daily_kpi``).
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

    def _save(self, writer, table: str) -> None:
        if self.catalog_schema:
            writer.saveAsTable(self.table_uri(table))
        else:
            writer.save(self.table_uri(table))

    def replace_partitions(self, df: DataFrame, table: str, where: PartitionRange) -> WriteResult:
        writer = (
            df.write.format("delta")
            .mode("overwrite")
            .option("replaceWhere", where.sql())
            .partitionBy(where.column)
        )
        self._save(writer, table)
        return self._result(self._session(df.sparkSession), table)

    def replace_table(self, df: DataFrame, table: str) -> WriteResult:
        writer = df.write.format("delta").mode("overwrite").option("overwriteSchema", "true")
        self._save(writer, table)
        return self._result(self._session(df.sparkSession), table)

    def _result(self, spark: SparkSession, table: str) -> WriteResult:
        last = spark.sql(f"DESCRIBE HISTORY {self._spark_name(table)} LIMIT 1").first()
        rows = int((last["operationMetrics"] or {}).get("numOutputRows", 0))
        return WriteResult(self.table_uri(table), int(last["version"]), rows)

    def read(
        self, spark: SparkSession, table: str, where: PartitionRange | None = None
    ) -> DataFrame:
        spark = self._session(spark)
        if self.catalog_schema:
            frame = spark.read.table(self.table_uri(table))
        else:
            frame = spark.read.format("delta").load(self.table_uri(table))
        return frame.where(where.spark_filter()) if where else frame

    def partition_row_counts(
        self, spark: SparkSession, table: str, where: PartitionRange
    ) -> dict[date, int]:
        if not self.exists(table):
            return {}
        rows = self.read(spark, table, where).groupBy(where.column).count().collect()
        return {r[where.column]: int(r["count"]) for r in rows}


def empty_like(spark: SparkSession, schema: T.StructType) -> DataFrame:
    return spark.createDataFrame([], schema)
