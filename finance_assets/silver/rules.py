"""Silver validation rules: every bronze row is either typed into silver or quarantined.

Each dataset's rules are an ordered list of (reason, column that is true when the row
passes). A row's ``_reason`` is the first rule it fails, in the contract's order, so each
rejected row has exactly one reason. All rules are plain Spark column expressions,
evaluated together in one pass over the data.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from dataclasses import dataclass
from functools import reduce
from itertools import chain

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from finance_assets.datasets import (
    BUDGETS,
    DEPARTMENTS,
    EXPENSES,
    MAX_AMOUNT,
    ORDER_STATUSES,
    ORDERS,
    PARTITION_COLUMN,
    PAYMENT_METHODS,
    PAYMENT_STATUSES,
    PAYMENTS,
    Dataset,
)

MALFORMED_ROW = "malformed_row"
MISSING_COLUMN = "missing_column"
DUPLICATE = "duplicate"
REASON = "_reason"
LINEAGE_COLUMNS = ("_source_file", "_source_row", PARTITION_COLUMN)

MONEY = "decimal(18,2)"
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


@dataclass(frozen=True)
class Field:
    """A silver column: its typed value (null when invalid) and the reason when it is."""

    name: str
    value: Callable[[], Column]
    reason: str


@dataclass(frozen=True)
class DatasetRules:
    dataset: Dataset
    fields: tuple[Field, ...]
    date_field: str

    def field_names(self) -> list[str]:
        return [f.name for f in self.fields]


def _fields(*specs: tuple[str, Callable[[], Column], str]) -> tuple[Field, ...]:
    return tuple(Field(name, value, reason) for name, value, reason in specs)


RULES: dict[str, DatasetRules] = {
    "orders": DatasetRules(
        ORDERS,
        _fields(
            ("order_id", lambda: positive_id("order_id"), "invalid_order_id"),
            ("order_date", lambda: calendar_date("order_date"), "invalid_date"),
            ("customer_id", lambda: prefixed_id("customer_id", "C"), "invalid_customer_id"),
            ("product_category", lambda: non_empty("product_category"), "invalid_category"),
            ("order_amount", lambda: amount("order_amount"), "invalid_amount"),
            ("order_status", lambda: canonical("order_status", ORDER_STATUSES), "invalid_status"),
        ),
        date_field="order_date",
    ),
    "payments": DatasetRules(
        PAYMENTS,
        _fields(
            ("payment_id", lambda: prefixed_id("payment_id", "P", 18), "invalid_payment_id"),
            ("order_id", lambda: positive_id("order_id"), "invalid_order_id"),
            ("payment_date", lambda: calendar_date("payment_date"), "invalid_date"),
            ("paid_amount", lambda: amount("paid_amount"), "invalid_amount"),
            (
                "payment_status",
                lambda: canonical("payment_status", PAYMENT_STATUSES),
                "invalid_status",
            ),
            (
                "payment_method",
                lambda: canonical("payment_method", PAYMENT_METHODS),
                "invalid_method",
            ),
        ),
        date_field="payment_date",
    ),
    "expenses": DatasetRules(
        EXPENSES,
        _fields(
            ("expense_id", lambda: positive_id("expense_id"), "invalid_expense_id"),
            ("department", lambda: canonical("department", DEPARTMENTS), "invalid_department"),
            ("expense_date", lambda: calendar_date("expense_date"), "invalid_date"),
            ("expense_category", lambda: non_empty("expense_category"), "invalid_category"),
            ("expense_amount", lambda: amount("expense_amount"), "invalid_amount"),
        ),
        date_field="expense_date",
    ),
    "budgets": DatasetRules(
        BUDGETS,
        _fields(
            ("department", lambda: canonical("department", DEPARTMENTS), "invalid_department"),
            ("month", lambda: first_of_month("month"), "invalid_date"),
            ("budget_amount", lambda: amount("budget_amount"), "invalid_amount"),
        ),
        date_field="month",
    ),
}

DATE_OUTSIDE_PARTITION = "date_outside_partition"


def reason_codes(dataset: Dataset) -> list[str]:
    """Every reason a row of ``dataset`` can be rejected for, in rule order."""
    rules = RULES[dataset.name]
    codes = [MALFORMED_ROW, MISSING_COLUMN]
    for field in rules.fields:
        codes.append(field.reason)
        if field.name == rules.date_field:
            codes.append(DATE_OUTSIDE_PARTITION)
    return [*dict.fromkeys(codes), DUPLICATE]


def _typed_column(field: Field) -> str:
    return f"__typed_{field.name}"


def classify(bronze: DataFrame, dataset: Dataset) -> DataFrame:
    """Bronze rows with their typed values and ``_reason`` (null for rows that pass)."""
    rules = RULES[dataset.name]
    typed = bronze.select(
        "*", *[field.value().alias(_typed_column(field)) for field in rules.fields]
    )
    reason = F.when(F.col("_corrupt_record").isNotNull(), F.lit(MALFORMED_ROW)).when(
        reduce(operator.or_, [F.col(c).isNull() for c in dataset.columns]), F.lit(MISSING_COLUMN)
    )
    for field in rules.fields:
        value = F.col(_typed_column(field))
        reason = reason.when(value.isNull(), F.lit(field.reason))
        if field.name == rules.date_field:
            reason = reason.when(value != F.col(PARTITION_COLUMN), F.lit(DATE_OUTSIDE_PARTITION))
    return _mark_duplicates(typed.withColumn(REASON, reason), rules)


def _mark_duplicates(classified: DataFrame, rules: DatasetRules) -> DataFrame:
    passing = F.col(REASON).isNull()
    keys = [F.col(_typed_column(f)) for f in rules.fields if f.name in rules.dataset.key]
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
    rules = RULES[dataset.name]
    return classified.where(F.col(REASON).isNull()).select(
        *[F.col(_typed_column(f)).alias(f.name) for f in rules.fields], *LINEAGE_COLUMNS
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
