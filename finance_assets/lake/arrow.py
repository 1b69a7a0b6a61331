"""Read a Delta table's current snapshot as Arrow, without Spark.

The snapshot's file list comes from delta-rs; PyArrow scans the Parquet files itself.
delta-rs's own PyArrow scan (``DeltaTable.to_pyarrow_table``) can abort the interpreter at
exit ("terminate called without an active exception") with deltalake 1.6 and pyarrow 26,
which would turn a successful command into exit code 134.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.dataset as ds
from deltalake import DeltaTable


def read_table(
    table: str | Path | DeltaTable,
    partitions: list[tuple[str, str, object]] | None = None,
    columns: list[str] | None = None,
) -> pa.Table:
    """The table's rows; ``partitions`` are (column, op, value) filters on partition columns."""
    return dataset(table, partitions).to_table(columns=columns)


def dataset(
    table: str | Path | DeltaTable, partitions: list[tuple[str, str, object]] | None = None
) -> ds.Dataset:
    """The table's current snapshot as a lazy PyArrow dataset (for DuckDB and friends)."""
    dt = table if isinstance(table, DeltaTable) else DeltaTable(str(table))
    schema = pa.schema(dt.schema().to_arrow())
    partition_columns = dt.metadata().partition_columns
    files = dt.file_uris(file_pruning_predicate=partitions)
    partitioning = (
        ds.partitioning(pa.schema([schema.field(c) for c in partition_columns]), flavor="hive")
        if partition_columns
        else None
    )
    return ds.dataset(
        files,
        schema=schema,
        format="parquet",
        partitioning=partitioning,
        partition_base_dir=dt.table_uri.removeprefix("file://"),
    )
