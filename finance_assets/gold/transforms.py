"""Gold: financial KPIs from silver, as pure functions of Spark DataFrames.

Business rules (contract section 4):
- a payment row carries its final state: SUCCESS means the money was collected, FAILED and
  REFUNDED mean it was not;
- revenue is the sum of SUCCESS payments by payment date, including payments whose order
  is unknown (those are also listed in ``unmatched_payments``);
- CANCELLED orders owe nothing;
- money is ``decimal(18,2)`` throughout; percentages are rounded half-up to 2 places and
  null when their denominator is 0 or missing.
"""

from __future__ import annotations

from datetime import date

import pyarrow as pa
from pyspark.sql import Column, DataFrame, SparkSession, Window
from pyspark.sql import functions as F
from pyspark.sql import types as T

from finance_assets.contract import MONEY
from finance_assets.lake.frames import local_frame

SUCCESS, FAILED, REFUNDED, CANCELLED = "SUCCESS", "FAILED", "REFUNDED", "CANCELLED"


def zero() -> Column:
    return F.lit(0).cast(MONEY)


def money(column: Column) -> Column:
    return column.cast(MONEY)


def total(column: Column) -> Column:
    """Exact sum of a money column, 0.00 when there is nothing to add."""
    return money(F.coalesce(F.sum(column), zero()))


def percent(numerator: Column, denominator: Column) -> Column:
    """100 * numerator / denominator rounded half-up (away from zero) to 2 places.

    Computed in integer hundredths so it is exact: Spark's decimal division rounds to 6
    places first, and rounding that again to 2 places can be off by a cent.
    """
    n = (numerator.cast("decimal(38,2)") * 100).cast("long")
    d = (denominator.cast("decimal(38,2)") * 100).cast("long")
    # round_half_up(10000 * |n| / |d|) == floor((20000 * |n| + |d|) / (2 * |d|))
    dividend = F.abs(n) * 20000 + F.abs(d)
    divisor = F.abs(d) * 2
    exact_multiple = (dividend - dividend % divisor).cast("decimal(38,0)")
    hundredths = (exact_multiple / divisor.cast("decimal(38,0)")).cast("decimal(38,0)")
    signed = F.when((n < 0) != (d < 0), -hundredths).otherwise(hundredths)
    return F.when(F.coalesce(d, F.lit(0)) != 0, (signed / 100).cast("decimal(18,2)"))


def day_frame(spark: SparkSession, start: date, end: date, column: str = "date") -> DataFrame:
    """One row per day of the inclusive range."""
    return spark.sql(
        f"SELECT explode(sequence(DATE'{start}', DATE'{end}', INTERVAL 1 DAY)) AS {column}"
    )


def dates_frame(spark: SparkSession, values: list[date], column: str) -> DataFrame:
    """One row per date of ``values``."""
    schema = T.StructType([T.StructField(column, T.DateType())])
    return local_frame(spark, [(v,) for v in values], schema)


def month_frame(spark: SparkSession, start: date, end: date) -> DataFrame:
    """One row per month (its first day) of the inclusive range."""
    return spark.sql(
        f"SELECT explode(sequence(DATE'{start}', DATE'{end}', INTERVAL 1 MONTH)) AS month"
    )


def _is(column: str, value: str) -> Column:
    return F.col(column) == F.lit(value)


def daily_kpi(
    days: DataFrame, orders: DataFrame, payments: DataFrame, expenses: DataFrame
) -> DataFrame:
    """Revenue, expenses, profit, order and payment activity for every day in ``days``."""
    collected = payments.groupBy(F.col("payment_date").alias("date")).agg(
        total(F.when(_is("payment_status", SUCCESS), F.col("paid_amount"))).alias("revenue"),
        F.count(F.lit(1)).alias("payment_attempts"),
        F.count(F.when(_is("payment_status", SUCCESS), 1)).alias("successful_payments"),
        F.count(F.when(_is("payment_status", FAILED), 1)).alias("failed_payments"),
        F.count(F.when(_is("payment_status", REFUNDED), 1)).alias("refunded_payments"),
    )
    spent = expenses.groupBy(F.col("expense_date").alias("date")).agg(
        total(F.col("expense_amount")).alias("expenses")
    )
    ordered = orders.groupBy(F.col("order_date").alias("date")).agg(
        F.count(F.lit(1)).alias("orders_count"),
        total(F.when(~_is("order_status", CANCELLED), F.col("order_amount"))).alias("order_value"),
    )
    joined = (
        days.join(collected, "date", "left")
        .join(spent, "date", "left")
        .join(ordered, "date", "left")
    )
    counts = (
        "orders_count",
        "payment_attempts",
        "successful_payments",
        "failed_payments",
        "refunded_payments",
    )
    filled = joined.withColumns(
        {
            **{c: F.coalesce(F.col(c), F.lit(0).cast("long")) for c in counts},
            **{c: F.coalesce(F.col(c), zero()) for c in ("revenue", "expenses", "order_value")},
        }
    )
    return filled.select(
        "date",
        "revenue",
        "expenses",
        money(F.col("revenue") - F.col("expenses")).alias("profit"),
        "orders_count",
        "order_value",
        "payment_attempts",
        "successful_payments",
        "failed_payments",
        "refunded_payments",
        percent(F.col("successful_payments"), F.col("payment_attempts")).alias(
            "payment_success_rate_pct"
        ),
    )


def collected_by_order(payments: DataFrame) -> DataFrame:
    """Per order: money collected, number of successful payments, last collection date."""
    return (
        payments.where(_is("payment_status", SUCCESS))
        .groupBy("order_id")
        .agg(
            total(F.col("paid_amount")).alias("total_paid"),
            F.count(F.lit(1)).alias("successful_payment_count"),
            F.max("payment_date").alias("last_payment_date"),
        )
    )


def sales_performance(orders: DataFrame, payments: DataFrame) -> DataFrame:
    """One row per valid order with what was collected for it and what is still owed."""
    relevant = payments.join(orders.select("order_id"), "order_id", "left_semi")
    joined = orders.join(collected_by_order(relevant), "order_id", "left")
    paid = F.coalesce(F.col("total_paid"), zero())
    amount = F.col("order_amount")
    cancelled = _is("order_status", CANCELLED)
    return joined.select(
        "order_id",
        "customer_id",
        "order_date",
        "product_category",
        "order_status",
        "order_amount",
        paid.alias("total_paid"),
        F.coalesce(F.col("successful_payment_count"), F.lit(0)).alias("successful_payment_count"),
        "last_payment_date",
        F.when(cancelled, zero())
        .otherwise(money(F.greatest(amount - paid, zero())))
        .alias("pending_amount"),
        money(F.greatest(paid - amount, zero())).alias("overpaid_amount"),
        (~cancelled & (paid >= amount)).alias("is_fully_paid"),
        F.year("order_date").alias("order_year"),
        F.month("order_date").alias("order_month"),
        F.quarter("order_date").alias("order_quarter"),
        F.weekofyear("order_date").alias("order_week"),
    )


CUSTOMER_TOTALS = (
    "total_orders",
    "total_order_value",
    "total_paid",
    "outstanding_amount",
    "overpaid_amount",
)
CUSTOMER_360_COLUMNS = ("customer_id", *CUSTOMER_TOTALS, "first_order_date", "last_order_date")


def customer_360(sales: DataFrame) -> DataFrame:
    """One row per customer: orders, value, collected, outstanding, first and last order."""
    return sales.groupBy("customer_id").agg(
        F.count(F.lit(1)).alias("total_orders"),
        total(F.when(~_is("order_status", CANCELLED), F.col("order_amount"))).alias(
            "total_order_value"
        ),
        total(F.col("total_paid")).alias("total_paid"),
        total(F.col("pending_amount")).alias("outstanding_amount"),
        total(F.col("overpaid_amount")).alias("overpaid_amount"),
        F.min("order_date").alias("first_order_date"),
        F.max("order_date").alias("last_order_date"),
    )


def customer_changes(added: DataFrame, removed: DataFrame) -> DataFrame:
    """Per customer touched by a change of ``sales_performance``: how much each total moved
    (rows added minus rows removed) and the first and last order date among the rows added."""
    plus = customer_360(added).alias("plus")
    minus = customer_360(removed).alias("minus")
    joined = plus.join(minus, "customer_id", "full_outer")
    moved = {
        name: F.coalesce(F.col(f"plus.{name}"), F.lit(0))
        - F.coalesce(F.col(f"minus.{name}"), F.lit(0))
        for name in CUSTOMER_TOTALS
    }
    return joined.select(
        "customer_id",
        *[(money(e) if name != "total_orders" else e).alias(name) for name, e in moved.items()],
        F.col("plus.first_order_date").alias("first_order_date"),
        F.col("plus.last_order_date").alias("last_order_date"),
    )


def apply_customer_changes(current: DataFrame, changes: DataFrame) -> DataFrame:
    """``customer_360`` after ``changes``: totals moved, order dates widened, customers with no
    order left dropped. (A customer who lost an order day is recomputed instead: see
    ``customers_losing_order_days``.)"""
    old, new = current.alias("old"), changes.alias("new")
    joined = old.join(new, "customer_id", "full_outer")
    totals = {
        name: F.coalesce(F.col(f"old.{name}"), F.lit(0))
        + F.coalesce(F.col(f"new.{name}"), F.lit(0))
        for name in CUSTOMER_TOTALS
    }
    merged = joined.select(
        "customer_id",
        *[(money(e) if name != "total_orders" else e).alias(name) for name, e in totals.items()],
        F.least("old.first_order_date", "new.first_order_date").alias("first_order_date"),
        F.greatest("old.last_order_date", "new.last_order_date").alias("last_order_date"),
    )
    return merged.where(F.col("total_orders") > 0).select(*CUSTOMER_360_COLUMNS)


def customers_losing_order_days(added: DataFrame, removed: DataFrame) -> DataFrame:
    """Customers with an order day among the rows removed that none of the rows added has:
    their first or last order date may move inward, which a merge cannot tell."""
    days = ["customer_id", "order_date"]
    lost = removed.select(*days).distinct().join(added.select(*days).distinct(), days, "left_anti")
    return lost.select("customer_id").distinct()


def customers_losing_order_days_in_arrow(added: pa.Table, removed: pa.Table) -> list[str]:
    """:func:`customers_losing_order_days` for a day's few changed rows, on the driver
    (``customer_id`` and ``order_date`` of the rows added and removed): the customers, sorted."""
    days = ["customer_id", "order_date"]
    lost = removed.select(days).join(added.select(days), days, join_type="left anti")
    return sorted(set(lost.column("customer_id").to_pylist()))


def unmatched_payments(links: DataFrame) -> DataFrame:
    """Valid payments whose order_id matches no valid order (no order day in the matching)."""
    return links.where(F.col("order_date").isNull()).select(
        "payment_id", "order_id", "payment_date", "paid_amount", "payment_status", "payment_method"
    )


def _monthly_money(payments: DataFrame, expenses: DataFrame) -> tuple[DataFrame, DataFrame]:
    revenue = payments.groupBy(F.trunc("payment_date", "month").alias("month")).agg(
        total(F.when(_is("payment_status", SUCCESS), F.col("paid_amount"))).alias("revenue")
    )
    spent = expenses.groupBy(F.trunc("expense_date", "month").alias("month")).agg(
        total(F.col("expense_amount")).alias("expenses")
    )
    return revenue, spent


def _monthly_base(months: DataFrame, payments: DataFrame, expenses: DataFrame) -> DataFrame:
    revenue, spent = _monthly_money(payments, expenses)
    base = months.join(revenue, "month", "left").join(spent, "month", "left")
    return base.withColumns(
        {
            "revenue": F.coalesce(F.col("revenue"), zero()),
            "expenses": F.coalesce(F.col("expenses"), zero()),
            "year": F.year("month"),
            "month_number": F.month("month"),
        }
    ).withColumn("profit", money(F.col("revenue") - F.col("expenses")))


def financial_summary(
    months: DataFrame, payments: DataFrame, expenses: DataFrame, links: DataFrame
) -> DataFrame:
    """Monthly revenue, expenses, net profit, expense ratio and orders paid (distinct valid
    orders with a SUCCESS payment dated that month, from the payments' matching)."""
    paid_orders = (
        links.where(_is("payment_status", SUCCESS) & F.col("order_date").isNotNull())
        .groupBy(F.trunc("payment_date", "month").alias("month"))
        .agg(F.countDistinct("order_id").alias("orders_paid"))
    )
    base = _monthly_base(months, payments, expenses).join(paid_orders, "month", "left")
    return base.select(
        "month",
        "year",
        "month_number",
        F.col("revenue").alias("total_revenue"),
        F.col("expenses").alias("total_expenses"),
        F.col("profit").alias("net_profit"),
        percent(F.col("expenses"), F.col("revenue")).alias("expense_ratio_pct"),
        F.coalesce(F.col("orders_paid"), F.lit(0)).alias("orders_paid"),
    )


def monthly_financial_report(
    months: DataFrame, payments: DataFrame, expenses: DataFrame, earlier: DataFrame
) -> DataFrame:
    """Monthly P&L with month-over-month revenue growth.

    ``earlier`` holds (month, revenue) of months already in the report; growth for a month
    uses its previous month from this run or, failing that, from ``earlier``, and is null
    when the previous month was never materialized.
    """
    current = _monthly_base(months, payments, expenses)
    history = earlier.select("month", "revenue").join(current.select("month"), "month", "left_anti")
    revenue_by_month = current.select("month", "revenue").unionByName(history)
    in_order = Window.orderBy("month")
    previous = revenue_by_month.select(
        "month",
        F.when(
            F.lag("month").over(in_order) == F.add_months("month", -1),
            F.lag("revenue").over(in_order),
        ).alias("previous_revenue"),
    )
    joined = current.join(previous, "month", "left")
    return joined.select(
        "month",
        "year",
        "month_number",
        "revenue",
        "expenses",
        "profit",
        percent(F.col("revenue") - F.col("previous_revenue"), F.col("previous_revenue")).alias(
            "mom_revenue_growth_pct"
        ),
    )


def budget_vs_actual(budgets: DataFrame, expenses: DataFrame) -> DataFrame:
    """Per department and month with a budget or an expense: budget, actual and variance."""
    actual = expenses.groupBy("department", F.trunc("expense_date", "month").alias("month")).agg(
        total(F.col("expense_amount")).alias("actual_amount")
    )
    budget = budgets.select("department", "month", "budget_amount")
    joined = budget.join(actual, ["department", "month"], "full_outer")
    budget_amount = F.coalesce(F.col("budget_amount"), zero())
    actual_amount = F.coalesce(F.col("actual_amount"), zero())
    variance = money(actual_amount - budget_amount)
    return joined.select(
        "department",
        "month",
        budget_amount.alias("budget_amount"),
        actual_amount.alias("actual_amount"),
        variance.alias("variance"),
        percent(variance, budget_amount).alias("variance_pct"),
        (variance > 0).alias("is_overspent"),
    )
