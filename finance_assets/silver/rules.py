"""Silver validation rules: every bronze row is either typed into silver or quarantined.

Each dataset's fields and their rules come from ``finance_assets.contract``; here each rule
kind becomes a Spark expression giving the typed value, or null when the rule fails. A row's
``_reason`` is the first rule it fails, in the contract's order, so each rejected row has
exactly one reason. All rules are evaluated together in one pass over the data.
"""

from __future__ import annotations

import operator
from functools import reduce
from itertools import chain

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from finance_assets.contract import (
    DATE_OUTSIDE_PARTITION,
    DUPLICATE,
    LINEAGE_COLUMNS,
    MALFORMED_ROW,
    MAX_AMOUNT,
    MISSING_COLUMN,
    MONEY,
    PARTITION_COLUMN,
    Dataset,
    Field,
)

REASON = "_reason"

# \z, not $: in Java regex $ also matches before a final line terminator.
_ID = r"^[0-9]{1,18}\z"
_AMOUNT = r"^-?[0-9]+(\.[0-9]{1,2})?\z"
_DATE = r"^([0-9]{4}-[0-9]{2}-[0-9]{2}|[0-9]{4}/[0-9]{2}/[0-9]{2})\z"
_MONTH = r"^[0-9]{4}-[0-9]{2}(-01)?\z"
# Unicode whitespace, as Python's str.strip() sees it (Java's \s alone is ASCII only).
_SPACE = r"[\s\p{Z}\x1c-\x1f\x85]"
_EDGE_SPACE = rf"(?U)^{_SPACE}+|{_SPACE}+\z"


def trimmed(name: str) -> Column:
    """The field with leading and trailing whitespace removed."""
    return F.regexp_replace(F.col(name), _EDGE_SPACE, "")


def positive_id(name: str) -> Column:
    text = trimmed(name)
    value = text.try_cast("bigint")
    return F.when(text.rlike(_ID) & (value > 0), value)


def prefixed_id(name: str, prefix: str, max_digits: int | None = None) -> Column:
    digits = "+" if max_digits is None else f"{{1,{max_digits}}}"
    text = F.upper(trimmed(name))
    return F.when(text.rlike(f"^{prefix}[0-9]{digits}\\z"), text)


def _real_date(iso: Column) -> Column:
    """The calendar date ``iso`` (yyyy-MM-dd) spells, else null. Year 0000 is not one,
    although Spark's proleptic calendar would parse it as 1 BC."""
    value = F.try_to_date(iso, "yyyy-MM-dd")
    return F.when(F.year(value) >= 1, value)


def calendar_date(name: str) -> Column:
    text = trimmed(name)
    return F.when(text.rlike(_DATE), _real_date(F.regexp_replace(text, "/", "-")))


def first_of_month(name: str) -> Column:
    text = trimmed(name)
    iso = F.when(F.length(text) == 7, F.concat(text, F.lit("-01"))).otherwise(text)
    return F.when(text.rlike(_MONTH), _real_date(iso))


def amount(name: str) -> Column:
    """Exact decimal of the text, or null unless it is in (0, 10,000,000.00]."""
    text = trimmed(name)
    value = F.when(text.rlike(_AMOUNT), text.try_cast("decimal(38,2)"))
    in_range = (value > 0) & (value <= F.lit(MAX_AMOUNT).cast("decimal(38,2)"))
    return F.when(in_range, value.cast(MONEY))


def non_empty(name: str) -> Column:
    text = trimmed(name)
    return F.when(F.length(text) > 0, text)


def canonical(name: str, allowed: tuple[str, ...]) -> Column:
    """The allowed spelling of a case-insensitive enumeration value, or null."""
    lookup = F.create_map(*chain.from_iterable((F.lit(v.upper()), F.lit(v)) for v in allowed))
    return lookup[F.upper(trimmed(name))]


def typed_value(field: Field) -> Column:
    """The field's typed value, null when it breaks its rule."""
    name = field.column
    if field.kind == "positive_id":
        return positive_id(name)
    if field.kind == "prefixed_id":
        return prefixed_id(name, field.prefix, field.max_digits)
    if field.kind == "date":
        return calendar_date(name)
    if field.kind == "month":
        return first_of_month(name)
    if field.kind == "amount":
        return amount(name)
    if field.kind == "text":
        return non_empty(name)
    return canonical(name, field.allowed)


def _typed_column(field: Field) -> str:
    return f"__typed_{field.column}"


def classify(bronze: DataFrame, dataset: Dataset) -> DataFrame:
    """Bronze rows with their typed values and ``_reason`` (null for rows that pass)."""
    typed = bronze.select(
        "*", *[typed_value(field).alias(_typed_column(field)) for field in dataset.fields]
    )
    reason = F.when(F.col("_corrupt_record").isNotNull(), F.lit(MALFORMED_ROW)).when(
        reduce(operator.or_, [F.col(c).isNull() for c in dataset.columns]), F.lit(MISSING_COLUMN)
    )
    for field in dataset.fields:
        value = F.col(_typed_column(field))
        reason = reason.when(value.isNull(), F.lit(field.reason))
        if field.column == dataset.date_column:
            reason = reason.when(value != F.col(PARTITION_COLUMN), F.lit(DATE_OUTSIDE_PARTITION))
    return _mark_duplicates(typed.withColumn(REASON, reason), dataset)


def _mark_duplicates(classified: DataFrame, dataset: Dataset) -> DataFrame:
    passing = F.col(REASON).isNull()
    keys = [F.col(_typed_column(dataset.field(column))) for column in dataset.key]
    # Rows that already failed a rule take no part: they must not shadow a later valid row.
    first_wins = Window.partitionBy(F.col(PARTITION_COLUMN), passing, *keys).orderBy(
        "_source_file", "_source_row"
    )
    rank = F.when(passing, F.row_number().over(first_wins))
    return classified.withColumn(
        REASON, F.when(passing & (rank > 1), F.lit(DUPLICATE)).otherwise(F.col(REASON))
    )


def silver_rows(classified: DataFrame, dataset: Dataset) -> DataFrame:
    """Rows that passed every rule, with typed columns and lineage."""
    return classified.where(F.col(REASON).isNull()).select(
        *[F.col(_typed_column(f)).alias(f.column) for f in dataset.fields], *LINEAGE_COLUMNS
    )


def quarantine_rows(classified: DataFrame, dataset: Dataset) -> DataFrame:
    """Rejected rows with their raw strings, reason and lineage."""
    return classified.where(F.col(REASON).isNotNull()).select(
        *dataset.columns,
        REASON,
        "_corrupt_record",
        "_rescued_data",
        *LINEAGE_COLUMNS,
    )
