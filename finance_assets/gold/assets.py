"""Gold assets: thin wrappers that read silver, call a transform and replace their partitions.

Late payments: ``sales_performance`` for an order day joins that day's orders with *all*
silver payments, so it is right whenever it runs after the payments it should see (a range
run materializes payments first). A payment landing days after its order changes older
order days; ``silver/payments`` records those order days in its materialization metadata
and the ``late_payments_sensor`` re-materializes exactly them, then ``customer_360``.
"""

from datetime import timedelta

import dagster as dg
from pyspark.sql import DataFrame

from finance_assets.bronze.assets import table_path
from finance_assets.datasets import BUDGETS, EXPENSES, ORDERS, PARTITION_COLUMN, PAYMENTS
from finance_assets.gold import transforms
from finance_assets.lake.delta import Lake, PartitionRange
from finance_assets.metadata import table_metadata
from finance_assets.partitions import Partitioning, materialized_range
from finance_assets.resources.spark import SparkResource
from finance_assets.resources.storage import LakeResource
from finance_assets.silver.assets import silver_key

DAILY_KPI = dg.AssetKey(["gold", "daily_kpi"])
SALES_PERFORMANCE = dg.AssetKey(["gold", "sales_performance"])
CUSTOMER_360 = dg.AssetKey(["gold", "customer_360"])
UNMATCHED_PAYMENTS = dg.AssetKey(["gold", "unmatched_payments"])
FINANCIAL_SUMMARY = dg.AssetKey(["gold", "financial_summary"])
MONTHLY_FINANCIAL_REPORT = dg.AssetKey(["gold", "monthly_financial_report"])
BUDGET_VS_ACTUAL = dg.AssetKey(["gold", "budget_vs_actual"])

GOLD_KEYS = (
    DAILY_KPI,
    SALES_PERFORMANCE,
    CUSTOMER_360,
    UNMATCHED_PAYMENTS,
    FINANCIAL_SUMMARY,
    MONTHLY_FINANCIAL_REPORT,
    BUDGET_VS_ACTUAL,
)

LATE_PAYMENT_DAYS = "late_payment_order_days"

SAME = dg.IdentityPartitionMapping()
EVERY = dg.AllPartitionMapping()
DAYS_OF_MONTH = dg.TimeWindowPartitionMapping()

ORDERS_KEY, PAYMENTS_KEY = silver_key(ORDERS), silver_key(PAYMENTS)
EXPENSES_KEY, BUDGETS_KEY = silver_key(EXPENSES), silver_key(BUDGETS)


def _dep(key: dg.AssetKey, mapping: dg.PartitionMapping) -> dg.AssetDep:
    return dg.AssetDep(key, partition_mapping=mapping)


class Gold:
    """What a gold asset body needs: the session, the lake and the run's date range."""

    def __init__(self, context: dg.AssetExecutionContext, spark: SparkResource, lake: LakeResource):
        self.context = context
        self.spark = spark.spark_session
        self.lake: Lake = lake.lake()
        self.days = materialized_range(context, PARTITION_COLUMN)

    def silver(self, key: dg.AssetKey, whole_table: bool = False) -> DataFrame:
        return self.lake.read(self.spark, table_path(key), None if whole_table else self.days)

    def replace(self, key: dg.AssetKey, frame: DataFrame, column: str) -> dg.MaterializeResult:
        where = PartitionRange(column, self.days.start, self.days.end)
        result = self.lake.replace_partitions(frame, table_path(key), where)
        written = self.lake.read(self.spark, table_path(key), where)
        return dg.MaterializeResult(metadata=table_metadata(result, written))


def _gold_asset(key: dg.AssetKey, partitions_def, deps: list[dg.AssetDep], description: str):
    return dg.asset(
        key=key,
        group_name="gold",
        description=description,
        partitions_def=partitions_def,
        backfill_policy=dg.BackfillPolicy.single_run(),
        deps=deps,
        kinds={"spark", "delta"},
    )


def build_gold(partitions: Partitioning) -> list[dg.AssetsDefinition]:
    daily, monthly = partitions.daily, partitions.monthly

    @_gold_asset(
        DAILY_KPI,
        daily,
        [_dep(ORDERS_KEY, SAME), _dep(PAYMENTS_KEY, SAME), _dep(EXPENSES_KEY, SAME)],
        "One row per day: revenue (SUCCESS payments by payment date), expenses, profit, "
        "valid orders and their non-cancelled value, payment attempts by outcome and the "
        "payment success rate.",
    )
    def daily_kpi(context: dg.AssetExecutionContext, spark: SparkResource, lake: LakeResource):
        g = Gold(context, spark, lake)
        days = transforms.day_frame(g.spark, g.days.start, g.days.end)
        frame = transforms.daily_kpi(
            days, g.silver(ORDERS_KEY), g.silver(PAYMENTS_KEY), g.silver(EXPENSES_KEY)
        )
        return g.replace(DAILY_KPI, frame, "date")

    @_gold_asset(
        SALES_PERFORMANCE,
        daily,
        [_dep(ORDERS_KEY, SAME), _dep(PAYMENTS_KEY, EVERY)],
        "One row per valid order (partitioned by order date) with the money collected for it "
        "from SUCCESS payments of any day, what is still pending and what was overpaid.",
    )
    def sales_performance(
        context: dg.AssetExecutionContext, spark: SparkResource, lake: LakeResource
    ):
        g = Gold(context, spark, lake)
        all_orders = g.silver(ORDERS_KEY, whole_table=True)
        frame = transforms.sales_performance(
            g.silver(ORDERS_KEY), g.silver(PAYMENTS_KEY, whole_table=True)
        )
        result = g.replace(SALES_PERFORMANCE, frame, "order_date")
        stale = transforms.order_days_paid_late(
            g.silver(PAYMENTS_KEY), all_orders, g.days.start, g.days.end
        )
        days = sorted(r["order_date"].isoformat() for r in stale.collect())
        return dg.MaterializeResult(
            metadata={**result.metadata, LATE_PAYMENT_DAYS: dg.MetadataValue.json(days)}
        )

    @_gold_asset(
        CUSTOMER_360,
        daily,
        [_dep(SALES_PERFORMANCE, EVERY)],
        "One row per customer as of the latest day materialized: orders, order value, money "
        "collected, outstanding and overpaid balances, first and last order date.",
    )
    def customer_360(context: dg.AssetExecutionContext, spark: SparkResource, lake: LakeResource):
        g = Gold(context, spark, lake)
        frame = transforms.customer_360(g.silver(SALES_PERFORMANCE, whole_table=True))
        result = g.lake.replace_table(frame, table_path(CUSTOMER_360))
        written = g.lake.read(g.spark, table_path(CUSTOMER_360))
        return dg.MaterializeResult(metadata=table_metadata(result, written))

    @_gold_asset(
        UNMATCHED_PAYMENTS,
        daily,
        [_dep(PAYMENTS_KEY, SAME), _dep(ORDERS_KEY, EVERY)],
        "Valid payments (by payment date) whose order_id matches no valid order. They count "
        "as revenue and are listed here so the money is never untraceable.",
    )
    def unmatched_payments(
        context: dg.AssetExecutionContext, spark: SparkResource, lake: LakeResource
    ):
        g = Gold(context, spark, lake)
        frame = transforms.unmatched_payments(
            g.silver(PAYMENTS_KEY), g.silver(ORDERS_KEY, whole_table=True)
        )
        return g.replace(UNMATCHED_PAYMENTS, frame, "payment_date")

    @_gold_asset(
        FINANCIAL_SUMMARY,
        monthly,
        [
            _dep(PAYMENTS_KEY, DAYS_OF_MONTH),
            _dep(EXPENSES_KEY, DAYS_OF_MONTH),
            _dep(ORDERS_KEY, EVERY),
        ],
        "One row per month: total revenue, total expenses, net profit, expense ratio and the "
        "number of distinct valid orders with a SUCCESS payment that month.",
    )
    def financial_summary(
        context: dg.AssetExecutionContext, spark: SparkResource, lake: LakeResource
    ):
        g = Gold(context, spark, lake)
        months = transforms.month_frame(g.spark, g.days.start, g.days.end)
        frame = transforms.financial_summary(
            months,
            g.silver(PAYMENTS_KEY),
            g.silver(EXPENSES_KEY),
            g.silver(ORDERS_KEY, whole_table=True),
        )
        return g.replace(FINANCIAL_SUMMARY, frame, "month")

    @_gold_asset(
        MONTHLY_FINANCIAL_REPORT,
        monthly,
        [_dep(PAYMENTS_KEY, DAYS_OF_MONTH), _dep(EXPENSES_KEY, DAYS_OF_MONTH)],
        "One row per month: revenue, expenses, profit and month-over-month revenue growth "
        "(null for the first month or when the previous month was never materialized).",
    )
    def monthly_financial_report(
        context: dg.AssetExecutionContext, spark: SparkResource, lake: LakeResource
    ):
        g = Gold(context, spark, lake)
        months = transforms.month_frame(g.spark, g.days.start, g.days.end)
        frame = transforms.monthly_financial_report(
            months, g.silver(PAYMENTS_KEY), g.silver(EXPENSES_KEY), _previous_month(g)
        )
        return g.replace(MONTHLY_FINANCIAL_REPORT, frame, "month")

    @_gold_asset(
        BUDGET_VS_ACTUAL,
        monthly,
        [_dep(BUDGETS_KEY, SAME), _dep(EXPENSES_KEY, DAYS_OF_MONTH)],
        "One row per department and month with a budget or an expense: budget, actual "
        "spend, variance (actual - budget), variance % and whether it overspent.",
    )
    def budget_vs_actual(
        context: dg.AssetExecutionContext, spark: SparkResource, lake: LakeResource
    ):
        g = Gold(context, spark, lake)
        frame = transforms.budget_vs_actual(g.silver(BUDGETS_KEY), g.silver(EXPENSES_KEY))
        return g.replace(BUDGET_VS_ACTUAL, frame, "month")

    return [
        daily_kpi,
        sales_performance,
        customer_360,
        unmatched_payments,
        financial_summary,
        monthly_financial_report,
        budget_vs_actual,
    ]


def _previous_month(g: Gold) -> DataFrame:
    """The report's row for the month before this run, if that month was ever materialized."""
    table = table_path(MONTHLY_FINANCIAL_REPORT)
    month = (g.days.start - timedelta(days=1)).replace(day=1)
    if not g.lake.exists(table):
        return (
            transforms.month_frame(g.spark, month, month)
            .limit(0)
            .selectExpr("month", "CAST(NULL AS DECIMAL(18,2)) AS revenue")
        )
    return g.lake.read(g.spark, table, PartitionRange("month", month, month)).select(
        "month", "revenue"
    )
