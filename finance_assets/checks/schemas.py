"""Pandera schemas of every bronze, silver, quarantine and gold table, built from the
registries.

Bronze and quarantine keep the contract's columns as strings, silver columns come from the
contract's field kinds (``finance_assets.contract``), gold columns
from the gold table specs (``finance_assets.gold.tables``). ``checks/evaluate.py`` turns a
schema into one Spark aggregation, and ``checks/factory.py`` turns that into asset checks.
"""

from __future__ import annotations

from collections.abc import Mapping

import pandera.pyspark as pa
from pyspark.sql import types as T

from finance_assets.checks.evaluate import RowRule, sql_literal, sql_name
from finance_assets.contract import DATASETS, PARTITION_COLUMN, Dataset, Field
from finance_assets.gold.tables import GoldTable, gold_tables
from finance_assets.lake.columns import Column, amount, day, identifier, one_of, text
from finance_assets.landing.zone import DATE_FOLDER

_TYPES = {
    "string": T.StringType(),
    "bigint": T.LongType(),
    "int": T.IntegerType(),
    "date": T.DateType(),
    "boolean": T.BooleanType(),
    "decimal(18,2)": T.DecimalType(18, 2),
    "timestamp": T.TimestampType(),
}


def pandera_column(column: Column) -> pa.Column:
    checks = []
    if column.ge is not None:
        checks.append(pa.Check.ge(column.ge))
    if column.gt is not None:
        checks.append(pa.Check.gt(column.gt))
    if column.le is not None:
        checks.append(pa.Check.le(column.le))
    if column.isin:
        checks.append(pa.Check.isin(list(column.isin)))
    if column.pattern:
        checks.append(pa.Check.str_matches(column.pattern))
    if column.min_length is not None:
        checks.append(pa.Check.str_length(column.min_length, None))
    return pa.Column(_TYPES[column.dtype], checks=checks, nullable=column.nullable)


def schema(name: str, columns: Mapping[str, Column], unique=()) -> pa.DataFrameSchema:
    return pa.DataFrameSchema(
        {c: pandera_column(spec) for c, spec in columns.items()},
        name=name,
        unique=list(unique) or None,
    )


def silver_column(field: Field) -> Column:
    """A contract field's typed silver column."""
    if field.kind == "positive_id":
        return identifier()
    if field.kind == "prefixed_id":
        digits = f"{{1,{field.max_digits}}}" if field.max_digits else "+"
        return text(pattern=rf"^{field.prefix}[0-9]{digits}$")
    if field.kind in ("date", "month"):
        return day()
    if field.kind == "amount":
        return amount()
    if field.kind == "text":
        return text(min_length=1)
    return one_of(field.allowed)


def lineage_columns() -> dict[str, Column]:
    return {
        "_source_file": text(min_length=1),
        "_source_row": Column("bigint", ge=1),
        PARTITION_COLUMN: day(),
    }


def bronze_table_schema(dataset: Dataset) -> pa.DataFrameSchema:
    """Bronze: every contract column as the original string (null where a file lacks it or
    the row is corrupt), the raw text of extra columns and corrupt rows, and complete lineage:
    file, a 1-based row number, ingestion time and run."""
    raw = {c: Column("string", nullable=True) for c in dataset.columns}
    return schema(
        f"bronze/{dataset.name}",
        {
            **raw,
            "_rescued_data": Column("string", nullable=True),
            "_corrupt_record": Column("string", nullable=True),
            **lineage_columns(),
            "_ingested_at": Column("timestamp"),
            "_run_id": text(min_length=1),
        },
    )


DROP_FOLDER_DATE = (
    f"try_to_date(regexp_extract({sql_name('_source_file')}, "
    f"{sql_literal(f'/({DATE_FOLDER})/[^/]+$')}, 1), 'yyyy-MM-dd')"
)
"""The date of the drop folder a row's file lies in (null when it is not one), in Spark SQL."""

PARTITION_IS_DROP_FOLDER = RowRule(
    f"{PARTITION_COLUMN}:drop_folder_date",
    (PARTITION_COLUMN, "_source_file"),
    f"{sql_name(PARTITION_COLUMN)} = {DROP_FOLDER_DATE}",
)
"""A bronze row belongs to the partition of the folder its file was dropped in."""


def silver_schema(dataset: Dataset) -> pa.DataFrameSchema:
    columns = {f.column: silver_column(f) for f in dataset.fields}
    return schema(f"silver/{dataset.name}", {**columns, **lineage_columns()})


def quarantine_schema(dataset: Dataset) -> pa.DataFrameSchema:
    raw = {c: Column("string", nullable=True) for c in dataset.columns}
    return schema(
        f"quarantine/{dataset.name}",
        {
            **raw,
            "_reason": one_of(dataset.reason_codes()),
            "_corrupt_record": Column("string", nullable=True),
            "_rescued_data": Column("string", nullable=True),
            **lineage_columns(),
        },
    )


def gold_schema(table: GoldTable) -> pa.DataFrameSchema:
    return schema(f"gold/{table.name}", table.columns, table.key_columns_checked)


BRONZE: dict[str, pa.DataFrameSchema] = {n: bronze_table_schema(d) for n, d in DATASETS.items()}
SILVER: dict[str, pa.DataFrameSchema] = {n: silver_schema(d) for n, d in DATASETS.items()}
QUARANTINE: dict[str, pa.DataFrameSchema] = {n: quarantine_schema(d) for n, d in DATASETS.items()}


def gold_schemas() -> dict[str, pa.DataFrameSchema]:
    return {t.name: gold_schema(t) for t in gold_tables()}
