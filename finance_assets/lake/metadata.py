"""Materialization metadata shared by every table asset."""

from __future__ import annotations

import dagster as dg
from pyspark.sql import DataFrame

from finance_assets.lake.delta import WriteResult

PREVIEW_ROWS = 5


def column_schema(frame: DataFrame) -> dg.TableSchema:
    return dg.TableSchema(
        columns=[
            dg.TableColumn(f.name, f.dataType.simpleString(), constraints=_nullable(f.nullable))
            for f in frame.schema.fields
        ]
    )


def _nullable(nullable: bool) -> dg.TableColumnConstraints:
    return dg.TableColumnConstraints(nullable=nullable)


def preview_markdown(frame: DataFrame, rows: int = PREVIEW_ROWS) -> str:
    """A small Markdown table of the first rows written."""
    names = frame.columns
    lines = ["| " + " | ".join(names) + " |", "|" + "---|" * len(names)]
    for row in frame.limit(rows).collect():
        lines.append("| " + " | ".join(_cell(row[n]) for n in names) + " |")
    return "\n".join(lines)


def _cell(value) -> str:
    text = "" if value is None else str(value)
    return text.replace("|", "\\|").replace("\n", " ")[:60]


def table_metadata(result: WriteResult, written: DataFrame) -> dict[str, object]:
    """Row count, Delta version, location, columns and a preview of what was written."""
    return {
        "dagster/row_count": result.rows,
        "dagster/uri": result.table_uri,
        "delta_version": result.version,
        "dagster/column_schema": column_schema(written),
        "preview": dg.MetadataValue.md(preview_markdown(written)),
    }
