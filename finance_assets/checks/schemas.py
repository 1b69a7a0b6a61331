"""Pandera schemas of every silver, quarantine and gold table, built from the registries.

Silver columns come from the contract's field kinds (``finance_assets.contract``), gold columns
from the gold table specs (``finance_assets.gold.tables``). ``checks/evaluate.py`` turns a
schema into one Spark aggregation, and ``checks/factory.py`` turns that into asset checks.
"""

from __future__ import annotations

from collections.abc import Mapping

import pandera.pyspark as pa
from pyspark.sql import types as T

from finance_assets.contract import DATASETS, PARTITION_COLUMN, Dataset, Field
from finance_assets.gold.tables import GoldTable, gold_tables
from finance_assets.lake.columns import Column, amount, day, identifier, one_of, text

_TYPES = {
    "string": T.StringType(),
    "bigint": T.LongType(),
    "int": T.IntegerType(),
    "date": T.DateType(),
    "boolean": T.BooleanType(),
    "decimal(18,2)": T.DecimalType(18, 2),
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


SILVER: dict[str, pa.DataFrameSchema] = {n: silver_schema(d) for n, d in DATASETS.items()}
QUARANTINE: dict[str, pa.DataFrameSchema] = {n: quarantine_schema(d) for n, d in DATASETS.items()}


def gold_schemas() -> dict[str, pa.DataFrameSchema]:
    return {t.name: gold_schema(t) for t in gold_tables()}
