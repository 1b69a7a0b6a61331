"""The one-pass evaluator finds exactly what Pandera's own Spark validation finds."""

from datetime import date
from decimal import Decimal

import pandera.pyspark as pa
from pyspark.sql import functions as F

from finance_assets.checks.evaluate import evaluate
from finance_assets.checks.schemas import SILVER, gold_schemas

ORDER = {
    "order_id": 1,
    "order_date": date(2024, 1, 1),
    "customer_id": "C1",
    "product_category": "Books",
    "order_amount": Decimal("10.00"),
    "order_status": "COMPLETED",
    "_source_file": "file:///l/orders/2024-01-01/a.csv",
    "_source_row": 1,
    "partition_date": date(2024, 1, 1),
}


def _frame(spark, schema: pa.DataFrameSchema, rows: list[dict]):
    from pyspark.sql import types as T

    struct = T.StructType([T.StructField(n, c.dtype.type, True) for n, c in schema.columns.items()])
    return spark.createDataFrame([tuple(r[n] for n in schema.columns) for r in rows], struct)


def _pandera_failures(schema: pa.DataFrameSchema, frame) -> set[tuple[str, str]]:
    errors = schema.validate(frame).pandera.errors
    found = set()
    for by_type in errors.values():
        for failures in by_type.values():
            for failure in failures:
                found.add((failure["column"], failure["check"]))
    return found


def _ours(report) -> set[str]:
    return {rule.split(":")[0] for rule in report.failures}


def test_clean_rows_pass_both(spark):
    frame = _frame(spark, SILVER["orders"], [ORDER, {**ORDER, "order_id": 2}])
    assert evaluate(frame, SILVER["orders"]).passed
    assert not _pandera_failures(SILVER["orders"], frame)


def test_both_flag_the_same_columns(spark):
    bad = [
        {**ORDER, "order_amount": Decimal("-1.00")},
        {**ORDER, "order_id": 2, "order_status": "LOST"},
        {**ORDER, "order_id": 3, "customer_id": "X9"},
        {**ORDER, "order_id": None},
    ]
    frame = _frame(spark, SILVER["orders"], [ORDER, *bad])
    report = evaluate(frame, SILVER["orders"])
    pandera_columns = {column for column, _ in _pandera_failures(SILVER["orders"], frame)}
    assert (
        _ours(report)
        == pandera_columns
        == {
            "order_amount",
            "order_status",
            "customer_id",
            "order_id",
        }
    )
    assert report.failures["order_status:isin"] == 1


def test_wrong_type_is_reported(spark):
    frame = _frame(spark, SILVER["orders"], [ORDER]).withColumn(
        "order_amount",
        F.col("order_amount").cast("double"),
    )
    report = evaluate(frame, SILVER["orders"])
    assert "order_amount" in report.wrong_types and not report.passed


def test_declared_unique_columns_are_enforced(spark):
    schema = gold_schemas()["financial_summary"]
    row = {
        "month": date(2024, 1, 1),
        "year": 2024,
        "month_number": 1,
        "total_revenue": Decimal("1.00"),
        "total_expenses": Decimal("0.00"),
        "net_profit": Decimal("1.00"),
        "expense_ratio_pct": Decimal("0.00"),
        "orders_paid": 1,
    }
    report = evaluate(_frame(spark, schema, [row, row]), schema)
    assert report.failures == {"month:unique": 1}
