"""The one-pass evaluator finds exactly what Pandera's own Spark validation finds."""

import collections
from datetime import date, datetime
from decimal import Decimal

import pandera.pyspark as pa
from pyspark.sql import functions as F

from finance_assets.checks.evaluate import SAMPLE_ROWS, RowRule, evaluate
from finance_assets.checks.schemas import BRONZE, PARTITION_IS_DROP_FOLDER, SILVER, gold_schemas

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


BRONZE_BUDGET = {
    "department": "IT",
    "month": "2024-01",
    "budget_amount": "100.00",
    "_rescued_data": None,
    "_corrupt_record": None,
    "_source_file": "s3://bucket/landing/budgets/2024-01-01/budgets.csv",
    "_source_row": 1,
    "_ingested_at": datetime(2024, 1, 2, 3, 4, 5),
    "_run_id": "run-1",
    "partition_date": date(2024, 1, 1),
}


def test_bronze_schema_and_the_drop_folder_rule_in_one_pass(spark):
    from pyspark.sql import types as T

    from finance_assets.bronze.transforms import bronze_schema
    from finance_assets.contract import DATASETS

    # Nullable everywhere, so rows the writer would refuse can be judged too.
    struct = T.StructType(
        [T.StructField(f.name, f.dataType) for f in bronze_schema(DATASETS["budgets"]).fields]
    )
    rows = [
        BRONZE_BUDGET,
        {**BRONZE_BUDGET, "department": None, "_corrupt_record": "IT;2024-01"},  # kept as is
        {**BRONZE_BUDGET, "partition_date": date(2024, 2, 1)},  # not its folder's date
        {**BRONZE_BUDGET, "_source_file": "file:///l/budgets/2024-02-30/a.csv"},  # no date
        {**BRONZE_BUDGET, "_source_file": "file:///l/budgets/a.csv"},  # not in a drop folder
        {**BRONZE_BUDGET, "_source_row": 0, "_run_id": None, "_ingested_at": None},
    ]
    frame = spark.createDataFrame([tuple(r[f] for f in struct.fieldNames()) for r in rows], struct)
    clean = frame.limit(2)
    schema = BRONZE["budgets"]

    assert evaluate(clean, schema, [PARTITION_IS_DROP_FOLDER]).passed
    assert evaluate(frame, schema).failures == {
        "_source_row:greater_than_or_equal_to": 1,
        "_run_id:not_null": 1,
        "_ingested_at:not_null": 1,
    }
    report = evaluate(frame, schema, [PARTITION_IS_DROP_FOLDER])
    assert report.failures["partition_date:drop_folder_date"] == 3
    assert report.rows == 6 and len(report.samples) == 4


def test_a_row_rule_on_missing_columns_is_left_to_the_missing_column_report(spark):
    frame = spark.createDataFrame([(1,)], "x int")
    rule = RowRule("y:positive", ("y",), "y > 0")
    report = evaluate(frame, BRONZE["budgets"], [rule])
    assert "y:positive" not in report.failures and "_source_file" in report.missing_columns


def test_a_write_of_no_rows_is_judged_from_its_schema_as_a_frame_would_be(spark):
    """The same report as the one-pass evaluator on an empty frame: passes with the right
    types; a wrong type or a missing column fails."""
    from finance_assets.checks.evaluate import evaluate_empty

    schema = SILVER["orders"]
    right = _frame(spark, schema, []).schema
    wrong = _frame(spark, schema, []).withColumn(
        "order_amount", F.col("order_amount").cast("double")
    )
    missing = _frame(spark, schema, []).drop("customer_id")
    for frame in (_frame(spark, schema, []), wrong, missing):
        assert evaluate_empty(frame.schema, schema) == evaluate(frame, schema)
    assert evaluate_empty(right, schema).passed
    assert evaluate_empty(right, schema).rows == 0
    report = evaluate_empty(wrong.schema, schema)
    assert not report.passed
    assert report.wrong_types == {"order_amount": "double (expected decimal(18,2))"}
    assert evaluate_empty(missing.schema, schema).missing_columns == ["customer_id"]


def test_sql_literals_give_the_value_and_type_the_dataframe_api_gives(spark):
    """Rules cross to Spark as SQL text: each literal must read back as ``F.lit`` would."""
    from finance_assets.checks.evaluate import sql_literal

    values = [
        "it's a \\d{4} path\\",
        "",
        0,
        -7,
        2**40,
        10000000.0,
        0.1,
        Decimal("10000000.00"),
        Decimal("-0.01"),
        date(2024, 2, 29),
        datetime(2024, 1, 2, 3, 4, 5, 600000),
        True,
        False,
    ]
    frame = spark.range(1)
    by_sql = frame.selectExpr(*[f"{sql_literal(v)} AS v{i}" for i, v in enumerate(values)])
    by_api = frame.select(*[F.lit(v).alias(f"v{i}") for i, v in enumerate(values)])
    assert by_sql.first() == by_api.first()
    assert list(by_sql.first()) == values
    assert [f.dataType for f in by_sql.schema] == [f.dataType for f in by_api.schema]


def test_each_kind_of_rule_is_judged_on_both_sides_of_its_bound(spark):
    """Every kind of rule the schemas use, just inside and just outside its bound."""
    schema = SILVER["payments"]
    payment = {
        "payment_id": "P1",
        "order_id": 1,
        "payment_date": date(2024, 1, 1),
        "paid_amount": Decimal("0.01"),
        "payment_status": "SUCCESS",
        "payment_method": "CARD",
        "_source_file": "f",
        "_source_row": 1,
        "partition_date": date(2024, 1, 1),
    }
    passing = [
        payment,
        {**payment, "payment_id": "P" + "9" * 18, "paid_amount": Decimal("10000000.00")},
    ]
    failing = [
        ({**payment, "payment_id": "P" + "9" * 19}, "payment_id:str_matches"),
        ({**payment, "payment_id": "p1"}, "payment_id:str_matches"),
        ({**payment, "paid_amount": Decimal("0.00")}, "paid_amount:greater_than"),
        (
            {**payment, "paid_amount": Decimal("10000000.01")},
            "paid_amount:less_than_or_equal_to",
        ),
        ({**payment, "payment_status": "success"}, "payment_status:isin"),
        ({**payment, "order_id": 0}, "order_id:greater_than"),
        ({**payment, "_source_file": ""}, "_source_file:str_length"),
        ({**payment, "_source_row": 0}, "_source_row:greater_than_or_equal_to"),
        ({**payment, "payment_method": None}, "payment_method:not_null"),
    ]
    assert evaluate(_frame(spark, schema, passing), schema).passed
    report = evaluate(_frame(spark, schema, passing + [row for row, _ in failing]), schema)
    assert report.failures == dict(collections.Counter(rule for _, rule in failing))
    assert report.rows == len(passing) + len(failing)
    assert len(report.samples) == SAMPLE_ROWS


def _judged_as_written(frame, schema, rules=()):
    """The report from the rows collected with their rule flags, as a day's write gives it."""
    from finance_assets.checks.evaluate import evaluate_collected, with_rule_flags

    flagged, flags = with_rule_flags(frame, schema, rules)
    rows = flagged.toArrow()
    assert set(flags) <= set(rows.column_names) and flags
    return evaluate_collected(rows, frame.schema, schema, rules)


def _same_report(ours, theirs) -> None:
    assert (ours.rows, ours.failures, ours.missing_columns, ours.wrong_types) == (
        theirs.rows,
        theirs.failures,
        theirs.missing_columns,
        theirs.wrong_types,
    )
    assert sorted(map(repr, ours.samples)) == sorted(map(repr, theirs.samples))


def test_rules_judged_with_the_written_rows_report_what_a_pass_over_them_reports(spark):
    """Nulls, values out of range or set, repeated keys, a row rule, timestamps in the
    samples, a wrong type: the flags collected with the rows give the same report."""
    from pyspark.sql import types as T

    from finance_assets.bronze.transforms import bronze_schema
    from finance_assets.contract import DATASETS

    orders = [
        ORDER,
        {**ORDER, "order_amount": Decimal("-1.00")},
        {**ORDER, "order_id": 2, "order_status": "LOST", "customer_id": None},
        {**ORDER, "order_id": 3, "customer_id": "X9"},
        {**ORDER, "order_id": None},
        {**ORDER, "order_id": 2},
    ]
    frame = _frame(spark, SILVER["orders"], orders)
    report = _judged_as_written(frame, SILVER["orders"])
    assert report.failures["order_id:not_null"] == 1 and report.failures["order_status:isin"] == 1
    _same_report(report, evaluate(frame, SILVER["orders"]))
    clean = _frame(spark, SILVER["orders"], [ORDER, {**ORDER, "order_id": 2}])
    assert _judged_as_written(clean, SILVER["orders"]).passed

    budget = {
        "department": "IT",
        "month": date(2024, 1, 1),
        "budget_amount": Decimal("10.00"),
        "actual_amount": Decimal("12.00"),
        "variance": Decimal("-2.00"),
        "variance_pct": None,
        "is_overspent": True,
    }
    keyed = gold_schemas()["budget_vs_actual"]
    months = _frame(
        spark,
        keyed,
        [budget, budget, budget, {**budget, "department": None}, {**budget, "department": None}],
    )
    report = _judged_as_written(months, keyed)
    assert report.failures["department+month:unique"] == 2
    _same_report(report, evaluate(months, keyed))

    wrong = frame.withColumn("order_amount", F.col("order_amount").cast("double"))
    _same_report(_judged_as_written(wrong, SILVER["orders"]), evaluate(wrong, SILVER["orders"]))

    struct = T.StructType(
        [T.StructField(f.name, f.dataType) for f in bronze_schema(DATASETS["budgets"]).fields]
    )
    budgets = [
        BRONZE_BUDGET,
        {**BRONZE_BUDGET, "partition_date": date(2024, 2, 1)},
        {**BRONZE_BUDGET, "_source_file": "file:///l/budgets/a.csv"},
        {**BRONZE_BUDGET, "_source_row": 0, "_run_id": None},
    ]
    bronze = spark.createDataFrame(
        [tuple(r[f] for f in struct.fieldNames()) for r in budgets], struct
    )
    rules = [PARTITION_IS_DROP_FOLDER]
    report = _judged_as_written(bronze, BRONZE["budgets"], rules)
    assert report.failures["partition_date:drop_folder_date"] == 2
    _same_report(report, evaluate(bronze, BRONZE["budgets"], rules))
