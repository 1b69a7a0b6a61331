"""Idiomatic PySpark baseline: the script a user would write instead of this product.

Spark's own CSV reader (``spark.read.csv`` with an all-string schema, RFC 4180 quoting,
multi-line records, malformed rows kept in ``_corrupt_record``) and ``input_file_name()``;
the contract's silver rules as DataFrame expressions; silver, quarantine and three gold
tables (``daily_kpi``, ``sales_performance``, ``customer_360``) written as Parquet. No
bronze table, no Delta, no orchestrator, no checks.

It is written from the data contract alone: it imports nothing of the
product's parser or rules. Only the Spark session's settings are the product's, so both
run with the same master, driver memory and shuffle partitions.

Where the contract meets real exports:

* Files of one drop may order, spell and pad their headers differently, or carry extra
  columns. The script reads every file's header line, normalizes it (trim, lower case,
  spaces and hyphens to ``_``) and reads the files of each distinct header with one
  ``spark.read.csv`` whose all-string schema follows that header; the groups are unioned.
* ``_source_row`` is the row's position in its file (Spark keeps a file's rows in order).
* Strings are trimmed with ``trim`` (spaces), as a user would.
"""

from __future__ import annotations

import csv
import shutil
import time
from datetime import date, timedelta
from pathlib import Path

PARTITION = "partition_date"
MONEY = "decimal(18,2)"
MAX_AMOUNT = "10000000.00"

COLUMNS = {
    "orders": (
        "order_id",
        "order_date",
        "customer_id",
        "product_category",
        "order_amount",
        "order_status",
    ),
    "payments": (
        "payment_id",
        "order_id",
        "payment_date",
        "paid_amount",
        "payment_status",
        "payment_method",
    ),
    "expenses": ("expense_id", "department", "expense_date", "expense_category", "expense_amount"),
    "budgets": ("department", "month", "budget_amount"),
}
MONTHLY = {"budgets"}
KEYS = {
    "orders": ("order_id",),
    "payments": ("payment_id",),
    "expenses": ("expense_id",),
    "budgets": ("department", "month"),
}
ENUMS = {
    "order_status": ("COMPLETED", "PENDING", "CANCELLED"),
    "payment_status": ("SUCCESS", "FAILED", "REFUNDED"),
    "payment_method": ("CARD", "UPI", "BANK_TRANSFER"),
    "department": ("IT", "Sales", "HR", "Marketing", "Operations", "Finance"),
}
# (column, kind, reason) in the contract's order; the date column is followed by
# date_outside_partition.
RULES = {
    "orders": (
        ("order_id", "id", "invalid_order_id"),
        ("order_date", "date", "invalid_date"),
        ("customer_id", "customer", "invalid_customer_id"),
        ("product_category", "text", "invalid_category"),
        ("order_amount", "amount", "invalid_amount"),
        ("order_status", "enum", "invalid_status"),
    ),
    "payments": (
        ("payment_id", "payment", "invalid_payment_id"),
        ("order_id", "id", "invalid_order_id"),
        ("payment_date", "date", "invalid_date"),
        ("paid_amount", "amount", "invalid_amount"),
        ("payment_status", "enum", "invalid_status"),
        ("payment_method", "enum", "invalid_method"),
    ),
    "expenses": (
        ("expense_id", "id", "invalid_expense_id"),
        ("department", "enum", "invalid_department"),
        ("expense_date", "date", "invalid_date"),
        ("expense_category", "text", "invalid_category"),
        ("expense_amount", "amount", "invalid_amount"),
    ),
    "budgets": (
        ("department", "enum", "invalid_department"),
        ("month", "month", "invalid_date"),
        ("budget_amount", "amount", "invalid_amount"),
    ),
}
DATE_KINDS = {"date", "month"}
GOLD = ("daily_kpi", "sales_performance", "customer_360")


# --- landing files --------------------------------------------------------------------


def drop_files(landing: str, dataset: str, start: date, end: date) -> list[str]:
    """The CSV files of the range's drop folders (first-of-month folders for budgets)."""
    files = []
    day = start.replace(day=1) if dataset in MONTHLY else start
    while day <= end:
        if dataset not in MONTHLY or day.day == 1:
            files += sorted(str(p) for p in Path(landing, dataset, day.isoformat()).glob("*.csv"))
        day += timedelta(days=1)
    return files


def normalized_header(path: str) -> tuple[str, ...]:
    """The file's column names as the contract matches them."""
    with open(path, encoding="utf-8-sig", newline="") as f:
        names = next(csv.reader(f), [])
    return tuple(n.strip().lower().replace(" ", "_").replace("-", "_") for n in names)


def read_csv(spark, dataset: str, files: list[str]):
    """Every data row of ``files`` with the required columns (as strings), the raw line
    of a malformed row, whether its file lacks a required column, file, row and date."""
    from pyspark.sql import functions as F
    from pyspark.sql import types as T
    from pyspark.sql.window import Window

    groups: dict[tuple[str, ...], list[str]] = {}
    for path in files:
        groups.setdefault(normalized_header(path), []).append(path)
    frames = []
    for header, paths in groups.items():
        schema = T.StructType(
            [T.StructField(f"c{i}", T.StringType()) for i in range(len(header))]
            + [T.StructField("_corrupt_record", T.StringType())]
        )
        raw = spark.read.csv(
            paths,
            schema=schema,
            header=True,
            multiLine=True,
            escape='"',
            mode="PERMISSIVE",
            columnNameOfCorruptRecord="_corrupt_record",
        )
        wanted = COLUMNS[dataset]
        frames.append(
            raw.select(
                *[
                    (
                        F.col(f"c{header.index(c)}") if c in header else F.lit(None).cast("string")
                    ).alias(c)
                    for c in wanted
                ],
                "_corrupt_record",
                F.lit(not set(wanted) <= set(header)).alias("_missing_column"),
                F.input_file_name().alias("_source_file"),
                F.monotonically_increasing_id().alias("_read_order"),
            )
        )
    rows = frames[0]
    for frame in frames[1:]:
        rows = rows.unionByName(frame)
    in_file = Window.partitionBy("_source_file").orderBy("_read_order")
    folder = F.regexp_extract("_source_file", r"/([0-9]{4}-[0-9]{2}-[0-9]{2})/[^/]*$", 1)
    return rows.select(
        *[c for c in rows.columns if c != "_read_order"],
        F.row_number().over(in_file).alias("_source_row"),
        F.to_date(folder).alias(PARTITION),
    )


# --- silver rules ---------------------------------------------------------------------


def _calendar_date(iso):
    from pyspark.sql import functions as F

    parsed = F.try_to_timestamp(iso, F.lit("yyyy-MM-dd")).cast("date")
    return F.when(F.year(parsed) >= 1, parsed)


def typed_value(column: str, kind: str):
    """The column's typed value, null when the value breaks the rule."""
    from pyspark.sql import functions as F

    t = F.coalesce(F.trim(F.col(column)), F.lit(""))
    upper = F.upper(t)
    if kind == "id":
        return F.when(t.rlike("^[0-9]{1,18}$") & (t.try_cast("bigint") > 0), t.try_cast("bigint"))
    if kind == "customer":
        return F.when(upper.rlike("^C[0-9]+$"), upper)
    if kind == "payment":
        return F.when(upper.rlike("^P[0-9]{1,18}$"), upper)
    if kind == "date":
        iso = F.regexp_replace(t, "/", "-")
        ok = t.rlike("^([0-9]{4}-[0-9]{2}-[0-9]{2}|[0-9]{4}/[0-9]{2}/[0-9]{2})$")
        return F.when(ok, _calendar_date(iso))
    if kind == "month":
        iso = F.when(F.length(t) == 7, F.concat(t, F.lit("-01"))).otherwise(t)
        return F.when(t.rlike("^[0-9]{4}-[0-9]{2}(-01)?$"), _calendar_date(iso))
    if kind == "amount":
        value = t.try_cast("decimal(38,2)")
        ok = t.rlike(r"^-?[0-9]+([.][0-9]{1,2})?$") & (value > 0)
        return F.when(ok & (value <= F.lit(MAX_AMOUNT).cast("decimal(38,2)")), value.cast(MONEY))
    if kind == "text":
        return F.when(F.length(t) > 0, t)
    if kind == "enum":
        spelled = None
        for name in ENUMS[column]:
            spelled = (F if spelled is None else spelled).when(upper == name.upper(), F.lit(name))
        return spelled
    raise ValueError(kind)


def classify(rows, dataset: str):
    """Every row with its typed values (``v_<column>``) and ``_reason`` (null: silver)."""
    from pyspark.sql import functions as F
    from pyspark.sql.window import Window

    rules = RULES[dataset]
    valued = rows.select("*", *[typed_value(c, kind).alias(f"v_{c}") for c, kind, _ in rules])
    reason = F.when(F.col("_corrupt_record").isNotNull(), "malformed_row").when(
        F.col("_missing_column"), "missing_column"
    )
    for column, kind, code in rules:
        reason = reason.when(F.col(f"v_{column}").isNull(), code)
        if kind in DATE_KINDS:
            reason = reason.when(F.col(f"v_{column}") != F.col(PARTITION), "date_outside_partition")
    first = valued.withColumn("_reason", reason)
    accepted_first = Window.partitionBy(
        PARTITION, F.col("_reason").isNull(), *[f"v_{k}" for k in KEYS[dataset]]
    ).orderBy("_source_file", "_source_row")
    duplicate = F.col("_reason").isNull() & (F.row_number().over(accepted_first) > 1)
    return first.withColumn(
        "_reason", F.when(duplicate, F.lit("duplicate")).otherwise(F.col("_reason"))
    )


# --- gold -----------------------------------------------------------------------------


def _zero(column):
    from pyspark.sql import functions as F

    return F.coalesce(column, F.lit(0)).cast(MONEY)


def daily_kpi(spark, orders, payments, expenses, start: date, end: date):
    from pyspark.sql import functions as F

    days = spark.sql(
        f"SELECT explode(sequence(DATE'{start}', DATE'{end}', INTERVAL 1 DAY)) AS date"
    )
    status = F.col("payment_status")
    pay = payments.groupBy(F.col("payment_date").alias("date")).agg(
        F.sum(F.when(status == "SUCCESS", F.col("paid_amount"))).alias("revenue"),
        F.count("*").alias("payment_attempts"),
        F.count(F.when(status == "SUCCESS", 1)).alias("successful_payments"),
        F.count(F.when(status == "FAILED", 1)).alias("failed_payments"),
        F.count(F.when(status == "REFUNDED", 1)).alias("refunded_payments"),
    )
    spent = expenses.groupBy(F.col("expense_date").alias("date")).agg(
        F.sum("expense_amount").alias("expenses")
    )
    placed = orders.groupBy(F.col("order_date").alias("date")).agg(
        F.count("*").alias("orders_count"),
        F.sum(F.when(F.col("order_status") != "CANCELLED", F.col("order_amount"))).alias(
            "order_value"
        ),
    )
    joined = days.join(pay, "date", "left").join(spent, "date", "left").join(placed, "date", "left")
    counts = ("payment_attempts", "successful_payments", "failed_payments", "refunded_payments")
    rate = F.round(
        F.col("successful_payments").cast("decimal(12,0)")
        * 100
        / F.col("payment_attempts").cast("decimal(12,0)"),
        2,
    ).cast(MONEY)
    return joined.select(
        "date",
        _zero(F.col("revenue")).alias("revenue"),
        _zero(F.col("expenses")).alias("expenses"),
        (_zero(F.col("revenue")) - _zero(F.col("expenses"))).cast(MONEY).alias("profit"),
        F.coalesce("orders_count", F.lit(0)).alias("orders_count"),
        _zero(F.col("order_value")).alias("order_value"),
        *[F.coalesce(c, F.lit(0)).alias(c) for c in counts],
        F.when(F.col("payment_attempts") > 0, rate).alias("payment_success_rate_pct"),
    )


def sales_performance(orders, payments):
    from pyspark.sql import functions as F

    paid = (
        payments.where(F.col("payment_status") == "SUCCESS")
        .groupBy("order_id")
        .agg(
            F.sum("paid_amount").alias("paid"),
            F.count("*").alias("successful_payment_count"),
            F.max("payment_date").alias("last_payment_date"),
        )
    )
    total = _zero(F.col("paid"))
    cancelled = F.col("order_status") == "CANCELLED"
    return orders.join(paid, "order_id", "left").select(
        "order_id",
        "customer_id",
        "order_date",
        "product_category",
        "order_status",
        "order_amount",
        total.alias("total_paid"),
        F.coalesce("successful_payment_count", F.lit(0)).alias("successful_payment_count"),
        "last_payment_date",
        F.when(cancelled, F.lit(0).cast(MONEY))
        .otherwise(F.greatest(F.col("order_amount") - total, F.lit(0)).cast(MONEY))
        .alias("pending_amount"),
        F.greatest(total - F.col("order_amount"), F.lit(0)).cast(MONEY).alias("overpaid_amount"),
        (~cancelled & (total >= F.col("order_amount"))).alias("is_fully_paid"),
        F.year("order_date").alias("order_year"),
        F.month("order_date").alias("order_month"),
        F.quarter("order_date").alias("order_quarter"),
        F.weekofyear("order_date").alias("order_week"),
    )


def customer_360(sales):
    from pyspark.sql import functions as F

    value = F.when(F.col("order_status") != "CANCELLED", F.col("order_amount"))
    return sales.groupBy("customer_id").agg(
        F.count("*").alias("total_orders"),
        _zero(F.sum(value)).alias("total_order_value"),
        _zero(F.sum("total_paid")).alias("total_paid"),
        _zero(F.sum("pending_amount")).alias("outstanding_amount"),
        _zero(F.sum("overpaid_amount")).alias("overpaid_amount"),
        F.min("order_date").alias("first_order_date"),
        F.max("order_date").alias("last_order_date"),
    )


# --- the script -----------------------------------------------------------------------


def _count(path: Path) -> int:
    """Rows written, from the Parquet footers."""
    import pyarrow.dataset as ds

    if not any(path.rglob("*.parquet")):
        return 0
    return ds.dataset(str(path), format="parquet", partitioning="hive").count_rows()


def _silver_and_quarantine(spark, landing: str, out: Path, start: date, end: date) -> dict:
    from pyspark import StorageLevel
    from pyspark.sql import functions as F

    counts = {"input": 0, "silver": 0, "quarantine": 0, "files": 0}
    for dataset, columns in COLUMNS.items():
        files = drop_files(landing, dataset, start, end)
        counts["files"] += len(files)
        if not files:
            continue
        classified = classify(read_csv(spark, dataset, files), dataset)
        classified = classified.persist(StorageLevel.MEMORY_AND_DISK)
        try:
            silver = classified.where(F.col("_reason").isNull()).select(
                *[F.col(f"v_{c}").alias(c) for c in columns],
                "_source_file",
                "_source_row",
                PARTITION,
            )
            quarantine = classified.where(F.col("_reason").isNotNull()).select(
                *columns, "_reason", "_corrupt_record", "_source_file", "_source_row", PARTITION
            )
            for layer, frame in (("silver", silver), ("quarantine", quarantine)):
                path = out / layer / dataset
                frame.write.mode("overwrite").partitionBy(PARTITION).parquet(str(path))
                rows = _count(path)
                counts[layer] += rows
                counts["input"] += rows
        finally:
            classified.unpersist()
    return counts


def _gold(spark, out: Path, start: date, end: date) -> dict[str, int]:
    def silver(dataset: str):
        return spark.read.parquet(str(out / "silver" / dataset))

    orders, payments, expenses = silver("orders"), silver("payments"), silver("expenses")
    written = {}
    frames = {
        "daily_kpi": lambda: daily_kpi(spark, orders, payments, expenses, start, end),
        "sales_performance": lambda: sales_performance(orders, payments),
        "customer_360": lambda: customer_360(
            spark.read.parquet(str(out / "gold" / "sales_performance"))
        ),
    }
    for table in GOLD:
        path = out / "gold" / table
        frames[table]().write.mode("overwrite").parquet(str(path))
        written[table] = _count(path)
    return written


def run(landing: str, out: str, start: date, end: date, spark=None) -> dict:
    """Silver, quarantine and three gold tables for [start, end]; timings and row counts."""
    from benchmarks.pyspark_baseline import start_session

    out_dir = Path(out)
    shutil.rmtree(out_dir, ignore_errors=True)
    out_dir.mkdir(parents=True)
    t0 = time.perf_counter()
    spark = spark or start_session()
    spark_start = time.perf_counter() - t0

    t0 = time.perf_counter()
    counts = _silver_and_quarantine(spark, landing, out_dir, start, end)
    silver_seconds = time.perf_counter() - t0
    t0 = time.perf_counter()
    gold_rows = _gold(spark, out_dir, start, end)
    gold_seconds = time.perf_counter() - t0
    return {
        "engine": "idiomatic",
        "spark_start_seconds": spark_start,
        "layers": {
            "silver": {
                "seconds": silver_seconds,
                "rows_in": counts["input"],
                "rows_out": counts["silver"] + counts["quarantine"],
                "silver": counts["silver"],
                "quarantine": counts["quarantine"],
                "files": counts["files"],
                "note": "CSV read included (no bronze table)",
            },
            "gold": {
                "seconds": gold_seconds,
                "rows_in": counts["silver"],
                "rows_out": sum(gold_rows.values()),
                "tables": gold_rows,
            },
        },
        "input_rows": counts["input"],
    }
