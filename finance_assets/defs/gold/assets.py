"""Gold assets: thin wrappers that read their inputs, call the table's transform and replace
their partitions.

Every gold table is declared once in ``finance_assets.gold.tables``. A table whose inputs are
read for the run's dates is built by :func:`gold_asset`; the ``custom`` ones are below.

Late payments: ``sales_performance`` for an order day joins that day's orders with *all*
silver payments, so it is right whenever it runs after the payments it should see (a range
run materializes payments first). A payment landing days after its order changes older
order days; ``sales_performance`` records those order days in its materialization metadata
(``late_payment_order_days``) and the ``late_payments_sensor`` re-materializes exactly them,
then ``customer_360``.
"""

from datetime import timedelta

import dagster as dg
from pyspark.sql import DataFrame

from finance_assets.automation.conditions import FOLLOWS_ITS_INPUTS
from finance_assets.automation.late_payments import LATE_PAYMENT_DAYS
from finance_assets.contract import DATASETS, PARTITION_COLUMN
from finance_assets.gold import transforms
from finance_assets.gold.tables import (
    CUSTOMER_360,
    EVERY,
    MONTHLY_FINANCIAL_REPORT,
    SALES_PERFORMANCE,
    SILVER_EXPENSES,
    SILVER_ORDERS,
    SILVER_PAYMENTS,
    GoldTable,
    Input,
    gold_table,
    gold_tables,
)
from finance_assets.lake.delta import Lake, PartitionRange
from finance_assets.lake.metadata import table_metadata
from finance_assets.lake.partitions import Partitioning, current_partitioning, materialized_range
from finance_assets.lake.resources import LakeResource
from finance_assets.lake.spark import SparkResource
from finance_assets.lake.tables import Table


class GoldRun:
    """What a gold asset body needs: the session, the lake and the run's date range."""

    def __init__(self, context: dg.AssetExecutionContext, spark: SparkResource, lake: LakeResource):
        self.context = context
        self.spark = spark.spark_session
        self.lake: Lake = lake.lake()
        self.days = materialized_range(context, PARTITION_COLUMN)

    def read(self, table: Table, whole_table: bool = False) -> DataFrame:
        return self.lake.read(self.spark, table.path, None if whole_table else self.days)

    def read_input(self, source: Input) -> DataFrame:
        return self.read(source.table, whole_table=source.scope == EVERY)

    def calendar(self, table: GoldTable) -> DataFrame:
        frame = transforms.month_frame if table.cadence == "monthly" else transforms.day_frame
        return frame(self.spark, self.days.start, self.days.end)

    def replace(self, table: GoldTable, frame: DataFrame) -> dg.MaterializeResult:
        where = PartitionRange(table.partition_column, self.days.start, self.days.end)
        result = self.lake.replace_partitions(frame, table.table.path, where)
        written = self.lake.read(self.spark, table.table.path, where)
        return dg.MaterializeResult(metadata=table_metadata(result, written))


def _cadence(source: Table) -> str:
    if source.layer == "gold":
        return gold_table(source.name).cadence
    return DATASETS[source.name].cadence


def _mapping(table: GoldTable, source: Input) -> dg.PartitionMapping:
    """Identity within a cadence, the days of the month from daily into monthly tables, and
    every partition where a table honestly reads a whole input."""
    if source.scope == EVERY:
        return dg.AllPartitionMapping()
    if _cadence(source.table) != table.cadence:
        return dg.TimeWindowPartitionMapping()
    return dg.IdentityPartitionMapping()


def _gold_asset_decorator(table: GoldTable, partitions: Partitioning, deps: list[dg.AssetDep]):
    return dg.asset(
        key=table.table.key,
        group_name="gold",
        description=table.description,
        partitions_def=partitions.of(table.cadence),
        backfill_policy=dg.BackfillPolicy.single_run(),
        deps=deps,
        kinds={"spark", "delta"},
        # Monthly tables follow the days they read; daily ones run with those days.
        automation_condition=FOLLOWS_ITS_INPUTS if table.cadence == "monthly" else None,
    )


def _deps(table: GoldTable, sources) -> list[dg.AssetDep]:
    return [dg.AssetDep(s.table.key, partition_mapping=_mapping(table, s)) for s in sources]


def gold_asset(table: GoldTable, partitions: Partitioning) -> dg.AssetsDefinition:
    """The asset of a gold table whose inputs are read for the run's dates."""

    @_gold_asset_decorator(table, partitions, _deps(table, table.inputs))
    def _gold(context: dg.AssetExecutionContext, spark: SparkResource, lake: LakeResource):
        run = GoldRun(context, spark, lake)
        frames = {source.param: run.read_input(source) for source in table.inputs}
        if table.calendar:
            frames[table.calendar] = run.calendar(table)
        return run.replace(table, table.transform(**frames))

    return _gold


def sales_performance_asset(partitions: Partitioning) -> dg.AssetsDefinition:
    table = SALES_PERFORMANCE
    sources = (Input(SILVER_ORDERS, "orders"), Input(SILVER_PAYMENTS, "payments", EVERY))

    @_gold_asset_decorator(table, partitions, _deps(table, sources))
    def sales_performance(
        context: dg.AssetExecutionContext, spark: SparkResource, lake: LakeResource
    ):
        run = GoldRun(context, spark, lake)
        all_orders = run.read(SILVER_ORDERS, whole_table=True)
        frame = table.transform(
            run.read(SILVER_ORDERS), run.read(SILVER_PAYMENTS, whole_table=True)
        )
        result = run.replace(table, frame)
        stale = transforms.order_days_paid_late(
            run.read(SILVER_PAYMENTS), all_orders, run.days.start, run.days.end
        )
        days = sorted(r["order_date"].isoformat() for r in stale.collect())
        return dg.MaterializeResult(
            metadata={**result.metadata, LATE_PAYMENT_DAYS: dg.MetadataValue.json(days)}
        )

    return sales_performance


def customer_360_asset(partitions: Partitioning) -> dg.AssetsDefinition:
    table = CUSTOMER_360
    sales = dg.AssetDep(SALES_PERFORMANCE.table.key, partition_mapping=dg.AllPartitionMapping())

    @_gold_asset_decorator(table, partitions, [sales])
    def customer_360(context: dg.AssetExecutionContext, spark: SparkResource, lake: LakeResource):
        run = GoldRun(context, spark, lake)
        frame = table.transform(run.read(SALES_PERFORMANCE.table, whole_table=True))
        result = run.lake.replace_table(frame, table.table.path)
        written = run.lake.read(run.spark, table.table.path)
        return dg.MaterializeResult(metadata=table_metadata(result, written))

    return customer_360


def monthly_financial_report_asset(partitions: Partitioning) -> dg.AssetsDefinition:
    table = MONTHLY_FINANCIAL_REPORT
    sources = (Input(SILVER_PAYMENTS, "payments"), Input(SILVER_EXPENSES, "expenses"))

    @_gold_asset_decorator(table, partitions, _deps(table, sources))
    def monthly_financial_report(
        context: dg.AssetExecutionContext, spark: SparkResource, lake: LakeResource
    ):
        run = GoldRun(context, spark, lake)
        frame = table.transform(
            run.calendar(table),
            run.read(SILVER_PAYMENTS),
            run.read(SILVER_EXPENSES),
            _previous_month(run),
        )
        return run.replace(table, frame)

    return monthly_financial_report


def _previous_month(run: GoldRun) -> DataFrame:
    """The report's row for the month before this run, if that month was ever materialized."""
    path = MONTHLY_FINANCIAL_REPORT.table.path
    month = (run.days.start - timedelta(days=1)).replace(day=1)
    if not run.lake.exists(path):
        return (
            transforms.month_frame(run.spark, month, month)
            .limit(0)
            .selectExpr("month", "CAST(NULL AS DECIMAL(18,2)) AS revenue")
        )
    return run.lake.read(run.spark, path, PartitionRange("month", month, month)).select(
        "month", "revenue"
    )


CUSTOM = {
    SALES_PERFORMANCE.name: sales_performance_asset,
    CUSTOMER_360.name: customer_360_asset,
    MONTHLY_FINANCIAL_REPORT.name: monthly_financial_report_asset,
}


def build_gold(partitions: Partitioning) -> list[dg.AssetsDefinition]:
    return [
        CUSTOM[t.name](partitions) if t.custom else gold_asset(t, partitions) for t in gold_tables()
    ]


@dg.definitions
def defs() -> dg.Definitions:
    return dg.Definitions(assets=build_gold(current_partitioning()))
