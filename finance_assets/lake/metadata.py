"""Materialization metadata shared by every table asset, computed without another Spark job:
the row count comes from the commit, the preview from the first file written."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import dagster as dg
import pyarrow.parquet as pq
from pyspark.sql import types as T

from finance_assets.lake.delta import HIVE_NULL, WriteResult

PREVIEW_ROWS = 5


def column_schema(schema: T.StructType) -> dg.TableSchema:
    return dg.TableSchema(
        columns=[
            dg.TableColumn(
                f.name,
                f.dataType.simpleString(),
                constraints=dg.TableColumnConstraints(nullable=f.nullable),
            )
            for f in schema.fields
        ]
    )


def preview_rows(
    files: Sequence[str], names: Sequence[str], rows: int = PREVIEW_ROWS
) -> list[dict]:
    """The first rows of the first data file, partition values taken from its path."""
    for path in files:
        batch = next(pq.ParquetFile(path).iter_batches(batch_size=rows), None)
        if batch is None:
            continue
        partition = {}
        for part in Path(path).parent.parts:
            key, sep, value = part.partition("=")
            if sep:
                partition[key] = None if value == HIVE_NULL else value
        return [{n: {**partition, **row}.get(n) for n in names} for row in batch.to_pylist()]
    return []


def preview_markdown(files: Sequence[str], names: Sequence[str]) -> str:
    """A small Markdown table of the first rows written."""
    lines = ["| " + " | ".join(names) + " |", "|" + "---|" * len(names)]
    for row in preview_rows(files, names):
        lines.append("| " + " | ".join(_cell(row[n]) for n in names) + " |")
    return "\n".join(lines)


def _cell(value) -> str:
    text = "" if value is None else str(value)
    return text.replace("|", "\\|").replace("\n", " ")[:60]


def table_metadata(result: WriteResult, schema: T.StructType) -> dict[str, object]:
    """Row count, Delta version, location, columns and a preview of what was written."""
    return {
        "dagster/row_count": result.rows,
        "dagster/uri": result.table_uri,
        "delta_version": result.version,
        "dagster/column_schema": column_schema(schema),
        "preview": dg.MetadataValue.md(preview_markdown(result.files, schema.fieldNames())),
    }
