"""Gold assets: thin wrappers that read their inputs, call the table's transform and replace
their partitions.

Every gold table is declared once in ``finance_assets.gold.tables``. A table whose inputs are
read for the run's dates is built by :func:`gold_asset`; the ``custom`` ones below are
incremental: each records in its commit the versions of the inputs it was built from, and on
the next run also rebuilds the partitions those inputs changed since (a late payment's order
day, an orphan payment's day once its order arrived, the months they belong to), so a run
leaves every gold figure exact without reading history. Partitions rebuilt beyond the run's
own are recorded as materializations of this run.
"""

from collections.abc import Iterator
from datetime import date, datetime, timedelta, timezone

import dagster as dg
from pyspark import StorageLevel
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from finance_assets.automation.alerts import AlertConfig, build_sinks, deliver, waiting_alert
from finance_assets.automation.conditions import FOLLOWS_ITS_INPUTS
from finance_assets.checks.catalog import WRITE_PLAN, gold_checks
from finance_assets.checks.factory import CheckScope, evaluate_in_step, prepare_write
from finance_assets.contract import DATASETS, PARTITION_COLUMN
from finance_assets.gold import transforms
from finance_assets.gold.audit import (
    RESTATEMENTS_PARTITION,
    WritePlan,
    changes_markdown,
    frame_to_write,
    plan_write,
    restatement_rows,
)
from finance_assets.gold.tables import (
    CUSTOMER_360,
    EVERY,
    FINANCIAL_SUMMARY,
    MONTHLY_FINANCIAL_REPORT,
    SALES_PERFORMANCE,
    SILVER_EXPENSES,
    SILVER_ORDERS,
    SILVER_PAYMENTS,
    UNMATCHED_PAYMENTS,
    GoldTable,
    Input,
    gold_table,
    gold_tables,
)
from finance_assets.lake import closing
from finance_assets.lake.delta import Lake, PartitionRange, PartitionSet, Where, WriteResult
from finance_assets.lake.metadata import table_metadata
from finance_assets.lake.partitions import (
    Partitioning,
    current_partitioning,
    log_extra_partitions,
    materialized_range,
    month_of,
    next_month,
)
from finance_assets.lake.resources import LakeResource, SparkResource
from finance_assets.lake.tables import PAYMENT_ORDERS, RESTATEMENTS, Table, by_path
from finance_assets.settings import current_settings
from finance_assets.silver.matching import ORDER_DATE

LATE_PAYMENT_DAYS = "late_payment_order_days"
EXTRA_PARTITIONS = "partitions_brought_up_to_date"
RESTATED_VALUES = "restated_values"
RESTATED_MONEY = "restated_money"
WAITING_FOR_REOPEN = "waiting_for_reopen"
COLUMN_LINEAGE = "dagster/column_lineage"
ARROW_CHANGED_BYTES = 64 * 1024 * 1024
"""Changed files of sales_performance (added and removed) of at most this many bytes are read
on the driver to find the customers losing an order day; more are compared in Spark."""


class GoldRun:
    """What a gold asset body needs: the session, the lake, the run's date range and where
    alerts go."""

    def __init__(
        self,
        context: dg.AssetExecutionContext,
        spark: SparkResource,
        lake: LakeResource,
        alerts: AlertConfig,
    ):
        self.context = context
        self.spark = spark.spark_session
        self.lake: Lake = lake.lake()
        self.days = materialized_range(context, PARTITION_COLUMN)
        self.alerts = alerts

    def read(self, table: Table, whole_table: bool = False) -> DataFrame:
        return self.lake.read(self.spark, table.path, None if whole_table else self.days)

    def read_input(self, source: Input) -> DataFrame:
        return self.read(source.table, whole_table=source.scope == EVERY)

    def calendar(self, table: GoldTable) -> DataFrame:
        frame = transforms.month_frame if table.cadence == "monthly" else transforms.day_frame
        return frame(self.spark, self.days.start, self.days.end)

    def publish(
        self,
        table: GoldTable,
        frame: DataFrame,
        where: Where | None,
        inputs=None,
        extra=(),
        why: str = "",
        metadata=None,
    ) -> Iterator:
        """Write ``frame`` over ``where`` (None: the whole table), then judge it with the
        table's checks while it is still cached. ``extra``: dates beyond the run's own.

        Every gold write goes through here: values it changes in partitions already published
        are recorded in ``gold/restatements``, and partitions of closed months are left as
        they are (changes to them wait for a reopen and fail a blocking check)."""
        frame = frame.persist(StorageLevel.MEMORY_AND_DISK)
        checks = gold_checks(table)
        try:
            closed = closing.closed_months(self.lake) if where is not None else {}
            plan = plan_write(self.spark, self.lake, table, frame, where, closed)
            if plan.waiting:
                # Record the input versions of the last complete build, so the next run after
                # the reopen rebuilds what waits here.
                inputs = self.lake.inputs(table.table.path)
            result = self._write(table, frame, plan, inputs, checks)
            self._record_restatements(table, plan)
            if plan.waiting:
                self._alert_waiting(plan)
            logged = log_extra_partitions(
                self.context,
                table.table.key,
                self.context.assets_def.partitions_def,
                [d for d in extra if d not in plan.kept],
                why,
            )
            if logged:
                self.context.log.info(
                    f"{table.name}: also brought up to date {len(logged)} partition(s) "
                    f"({why}): " + ", ".join(logged[:20])
                )
            yield dg.MaterializeResult(
                metadata={
                    **_written_metadata(result, frame),
                    **_audit_metadata(table, plan),
                    COLUMN_LINEAGE: column_lineage(table),
                    EXTRA_PARTITIONS: dg.MetadataValue.json(logged),
                    **(metadata or {}),
                }
            )
            collected = {table.table.path: result.collected} if result else {}
            yield from self.check(table, where, {table.table.path: frame}, plan, collected, checks)
        finally:
            frame.unpersist()

    def _write(
        self, table: GoldTable, frame: DataFrame, plan: WritePlan, inputs, checks
    ) -> WriteResult | None:
        path = table.table.path
        if plan.where is None and table.partition_column is None:
            flagged, unstored = prepare_write(checks, frame)
            return self.lake.replace_table(flagged, path, inputs=inputs, unstored=unstored)
        if plan.where is None:
            self.context.log.warning(
                f"{table.name}: every partition of this run is in a closed month; none rewritten"
            )
            return None
        flagged, unstored = prepare_write(checks, frame_to_write(plan, frame))
        return self.lake.replace_partitions(
            flagged,
            path,
            plan.where,
            inputs=inputs,
            notes=plan.notes,
            unstored=unstored,
            few_rows=plan.few_rows,
        )

    def _record_restatements(self, table: GoldTable, plan: WritePlan) -> None:
        """Append the values this write restated to ``gold/restatements``."""
        if not plan.restated:
            return
        rows = restatement_rows(plan.restated, self.context.run.run_id, datetime.now(timezone.utc))
        result = self.lake.append_rows(rows, RESTATEMENTS.path, [RESTATEMENTS_PARTITION])
        self.context.log.warning(
            f"{table.name}: restated {len(plan.restated)} published value(s), "
            f"{plan.restated_money} of money in total (see gold/restatements)"
        )
        self.context.log_event(
            dg.AssetMaterialization(
                asset_key=RESTATEMENTS.key,
                metadata={
                    "gold_table": table.name,
                    RESTATED_VALUES: len(plan.restated),
                    RESTATED_MONEY: dg.MetadataValue.text(str(plan.restated_money)),
                    "delta_version": result.version,
                    "dagster/uri": result.table_uri,
                },
            )
        )

    def _alert_waiting(self, plan: WritePlan) -> None:
        """Tell every alert sink that late data for a closed month waits for a reopen."""
        alert = waiting_alert(
            plan.table.name,
            [f"{m:%Y-%m}" for m in plan.waiting_months],
            plan.waiting_message(),
            self.context.run.run_id,
            self.alerts,
        )
        self.context.log.error(plan.waiting_message())
        outcome = deliver(alert, build_sinks(self.alerts), self.alerts, self.context.log)
        self.context.log.info(f"Alert {alert.incident}: {outcome}")

    def check(
        self,
        table: GoldTable,
        where: Where | None,
        written=None,
        plan: WritePlan | None = None,
        collected=None,
        checks=None,
    ) -> Iterator:
        facts = {WRITE_PLAN: plan} if plan is not None else {}
        scope = CheckScope(
            self.context, self.spark, self.lake, where, written, facts, collected=collected
        )
        checks = gold_checks(table) if checks is None else checks
        yield from evaluate_in_step(self.context, table.table.key, checks, scope)

    def replace(self, table: GoldTable, frame: DataFrame) -> Iterator:
        yield from self.publish(table, frame, self.days.on(table.partition_column))

    def changed_since_built(self, table: GoldTable, source: Table, column: str, version):
        """Values of ``column`` in the partitions of ``source`` that changed since ``table``
        was last built from it; None when that cannot be known (then everything counts)."""
        since = self.lake.inputs(table.table.path).get(source.path, -1)
        changes = self.lake.changes(source.path, since, version)
        if changes is None:
            return None
        return {v for v in changes.partition_values(column) if v is not None}

    def all_values(self, source: Table, column: str) -> set[date]:
        everything = PartitionRange.everything(column)
        return set(self.lake.partition_row_counts(source.path, everything))


def _cadence(source: Table) -> str:
    if source.layer == "gold":
        return gold_table(source.name).cadence
    if source == PAYMENT_ORDERS:
        return "daily"
    return DATASETS[source.name].cadence


def _mapping(table: GoldTable, source: Input) -> dg.PartitionMapping:
    """Identity within a cadence, the days of the month from daily into monthly tables, and
    every partition where a table honestly reads any of an input's partitions."""
    if source.scope == EVERY:
        return dg.AllPartitionMapping()
    if _cadence(source.table) != table.cadence:
        return dg.TimeWindowPartitionMapping()
    return dg.IdentityPartitionMapping()


def _deps(table: GoldTable) -> list[dg.AssetDep]:
    """The tables it reads (not itself: the monthly report reads its previous month)."""
    return [
        dg.AssetDep(s.table.key, partition_mapping=_mapping(table, s))
        for s in table.inputs
        if s.table != table.table
    ]


def column_lineage(table: GoldTable) -> dg.TableColumnLineage:
    """Which input columns feed each column (``Column.fed_by`` in the registry)."""
    deps_by_column = {}
    for name, column in table.columns.items():
        deps = []
        for source in dict.fromkeys(column.sources):
            path, _, input_column = source.rpartition(".")
            deps.append(dg.TableColumnDep(asset_key=by_path(path).key, column_name=input_column))
        if deps:
            deps_by_column[name] = deps
    return dg.TableColumnLineage(deps_by_column=deps_by_column)


def column_schema(table: GoldTable) -> dg.TableSchema:
    return dg.TableSchema(
        columns=[
            dg.TableColumn(
                name,
                column.dtype,
                constraints=dg.TableColumnConstraints(nullable=column.nullable),
            )
            for name, column in table.columns.items()
        ]
    )


def _gold_asset_decorator(table: GoldTable, partitions: Partitioning):
    return dg.asset(
        key=table.table.key,
        group_name="gold",
        description=table.description,
        partitions_def=partitions.of(table.cadence),
        backfill_policy=dg.BackfillPolicy.single_run(),
        deps=_deps(table),
        kinds={"spark", "delta"},
        metadata={
            COLUMN_LINEAGE: column_lineage(table),
            "dagster/column_schema": column_schema(table),
        },
        check_specs=[check.spec(table.table.key) for check in gold_checks(table)],
        pool=table.table.pool,
        # Monthly tables follow the days they read; daily ones run with those days.
        automation_condition=FOLLOWS_ITS_INPUTS if table.cadence == "monthly" else None,
    )


def _written_metadata(result: WriteResult | None, frame: DataFrame) -> dict:
    if result is None:
        return {"written": "nothing: every partition of the run is in a closed month"}
    return table_metadata(result, frame.schema)


def _audit_metadata(table: GoldTable, plan: WritePlan) -> dict:
    """How many published values this write restated and by how much money; what waits."""
    if table.partition_column is None:
        return {}
    metadata: dict = {
        RESTATED_VALUES: len(plan.restated),
        RESTATED_MONEY: dg.MetadataValue.text(str(plan.restated_money)),
    }
    if plan.restated:
        metadata["restatements"] = dg.MetadataValue.md(
            changes_markdown(plan.restated, table.partition_column)
        )
    if plan.kept:
        metadata[WAITING_FOR_REOPEN] = dg.MetadataValue.json(
            {
                "closed_months": [a.describe() for a in plan.closed.values()],
                "months_waiting": [f"{m:%Y-%m}" for m in plan.waiting_months],
                "values_waiting": len(plan.waiting),
                "sample": [c.describe(table.partition_column) for c in plan.waiting[:20]],
            }
        )
    return metadata


def gold_asset(
    table: GoldTable, partitions: Partitioning, alerts: AlertConfig
) -> dg.AssetsDefinition:
    """The asset of a gold table whose inputs are read for the run's dates."""

    @_gold_asset_decorator(table, partitions)
    def _gold(context: dg.AssetExecutionContext, spark: SparkResource, lake: LakeResource):
        run = GoldRun(context, spark, lake, alerts)
        frames = {source.param: run.read_input(source) for source in table.inputs}
        if table.calendar:
            frames[table.calendar] = run.calendar(table)
        yield from run.replace(table, table.transform(**frames))

    return _gold


def _where(column: str, days: set[date], run: PartitionRange) -> Where:
    """The run's own range when nothing outside it changed, else exactly these values."""
    if days <= set(run.days()):
        return PartitionRange(column, run.start, run.end)
    return PartitionSet.of(column, days)


def sales_performance_asset(partitions: Partitioning, alerts: AlertConfig) -> dg.AssetsDefinition:
    table = SALES_PERFORMANCE

    @_gold_asset_decorator(table, partitions)
    def sales_performance(
        context: dg.AssetExecutionContext, spark: SparkResource, lake: LakeResource
    ):
        """Order days of the run, plus every order day whose orders or matched payments
        changed since the table was last built (late payments for older orders)."""
        run = GoldRun(context, spark, lake, alerts)
        versions = {
            SILVER_ORDERS.path: run.lake.version(SILVER_ORDERS.path),
            PAYMENT_ORDERS.path: run.lake.version(PAYMENT_ORDERS.path),
        }
        days = set(run.days.days())
        for source, column in ((SILVER_ORDERS, PARTITION_COLUMN), (PAYMENT_ORDERS, ORDER_DATE)):
            changed = run.changed_since_built(table, source, column, versions[source.path])
            days |= run.all_values(SILVER_ORDERS, PARTITION_COLUMN) if changed is None else changed
        orders = run.lake.read(
            run.spark,
            SILVER_ORDERS.path,
            _where(PARTITION_COLUMN, days, run.days),
            version=versions[SILVER_ORDERS.path],
        )
        links = run.lake.read(
            run.spark,
            PAYMENT_ORDERS.path,
            PartitionSet.of(ORDER_DATE, days),
            version=versions[PAYMENT_ORDERS.path],
        )
        frame = table.transform(orders, links)
        where = _where(table.partition_column, days, run.days)
        extra = days - set(run.days.days())
        late = {LATE_PAYMENT_DAYS: dg.MetadataValue.json(sorted(str(d) for d in extra))}
        yield from run.publish(table, frame, where, versions, extra, "late payments", late)

    return sales_performance


def customer_360_asset(partitions: Partitioning, alerts: AlertConfig) -> dg.AssetsDefinition:
    table = CUSTOMER_360

    @_gold_asset_decorator(table, partitions)
    def customer_360(context: dg.AssetExecutionContext, spark: SparkResource, lake: LakeResource):
        """Merged with what changed in sales_performance since it was last built; rebuilt from
        all of sales_performance only the first time (or when those changes are unknown)."""
        run = GoldRun(context, spark, lake, alerts)
        path, sales_path = table.table.path, SALES_PERFORMANCE.table.path
        version = run.lake.version(sales_path)
        since = run.lake.inputs(path).get(sales_path) if run.lake.exists(path) else None
        changes = run.lake.changes(sales_path, since, version)
        frame, how = None, "merged"
        if changes is not None and changes.empty:
            context.log.info("sales_performance has not changed since customer_360 was built")
            yield dg.MaterializeResult(metadata={"update": "unchanged"})
            yield from run.check(table, None)
            return
        if changes is not None:
            frame = _merged_customers(run, changes, version)
        if frame is None:
            sales = run.lake.read(run.spark, sales_path, version=version)
            frame, how = table.transform(sales), "rebuilt"
        inputs = {sales_path: version}
        yield from run.publish(table, frame, None, inputs, metadata={"update": how})

    return customer_360


def _merged_customers(run: GoldRun, changes, version: int) -> DataFrame | None:
    """customer_360 with ``changes`` of sales_performance applied; None when the rows they
    removed are gone (vacuumed) and the table must be rebuilt."""
    sales = SALES_PERFORMANCE.table.path
    try:
        added = run.lake.read_files(run.spark, sales, changes.added)
        removed = run.lake.read_files(run.spark, sales, changes.removed)
        losing = _customers_losing_order_days(run, changes, added, removed)
    except Exception as exc:  # a removed file that is gone: Spark says "path does not exist"
        if "does not exist" not in str(exc) and not isinstance(exc, FileNotFoundError):
            raise
        return None
    current = run.lake.read(run.spark, CUSTOMER_360.table.path)
    moved = transforms.customer_changes(added, removed)
    if not losing:
        return transforms.apply_customer_changes(current, moved)
    # Customers who lost an order day: their first or last date may move inward.
    lost = F.col("customer_id").isin(losing)
    recomputed = transforms.customer_360(
        run.lake.read(run.spark, sales, version=version).where(lost)
    )
    kept = transforms.apply_customer_changes(current.where(~lost), moved.where(~lost))
    return kept.unionByName(recomputed)


def _customers_losing_order_days(
    run: GoldRun, changes, added: DataFrame, removed: DataFrame
) -> list[str]:
    """Customers with an order day only among the removed rows. A day's few changed files
    (their bytes from the Delta log) are read on the driver, more are compared in Spark."""
    sizes = [f.size for f in (*changes.added, *changes.removed)]
    if None in sizes or sum(sizes) > ARROW_CHANGED_BYTES:
        added.cache()  # both are read again by the merge
        removed.cache()
        return [r[0] for r in transforms.customers_losing_order_days(added, removed).collect()]
    sales, columns = SALES_PERFORMANCE.table.path, ["customer_id", "order_date"]
    return transforms.customers_losing_order_days_in_arrow(
        run.lake.read_files_arrow(sales, changes.added, columns),
        run.lake.read_files_arrow(sales, changes.removed, columns),
    )


def unmatched_payments_asset(partitions: Partitioning, alerts: AlertConfig) -> dg.AssetsDefinition:
    table = UNMATCHED_PAYMENTS

    @_gold_asset_decorator(table, partitions)
    def unmatched_payments(
        context: dg.AssetExecutionContext, spark: SparkResource, lake: LakeResource
    ):
        """Payment days of the run, plus those whose matching changed since (an orphan
        payment whose order arrived leaves the list of its payment day)."""
        run = GoldRun(context, spark, lake, alerts)
        version = run.lake.version(PAYMENT_ORDERS.path)
        changed = run.changed_since_built(table, PAYMENT_ORDERS, PARTITION_COLUMN, version)
        days = set(run.days.days())
        days |= run.all_values(PAYMENT_ORDERS, PARTITION_COLUMN) if changed is None else changed
        links = run.lake.read(
            run.spark,
            PAYMENT_ORDERS.path,
            _where(PARTITION_COLUMN, days, run.days),
            version=version,
        )
        frame = table.transform(links)
        where = _where(table.partition_column, days, run.days)
        extra = days - set(run.days.days())
        why = "orders arrived for earlier payments"
        yield from run.publish(table, frame, where, {PAYMENT_ORDERS.path: version}, extra, why)

    return unmatched_payments


def financial_summary_asset(partitions: Partitioning, alerts: AlertConfig) -> dg.AssetsDefinition:
    table = FINANCIAL_SUMMARY

    @_gold_asset_decorator(table, partitions)
    def financial_summary(
        context: dg.AssetExecutionContext, spark: SparkResource, lake: LakeResource
    ):
        """Months of the run, plus the months of payments whose matching changed since (the
        orders paid in a month count only payments of known orders)."""
        run = GoldRun(context, spark, lake, alerts)
        version = run.lake.version(PAYMENT_ORDERS.path)
        changed = run.changed_since_built(table, PAYMENT_ORDERS, PARTITION_COLUMN, version)
        if changed is None:
            changed = run.all_values(PAYMENT_ORDERS, PARTITION_COLUMN)
        months = {month_of(d) for d in run.days.days()} | {month_of(d) for d in changed}
        days = PartitionSet.of(PARTITION_COLUMN, _days_of(months))
        frame = table.transform(
            transforms.dates_frame(run.spark, sorted(months), "month"),
            run.lake.read(run.spark, SILVER_PAYMENTS.path, days),
            run.lake.read(run.spark, SILVER_EXPENSES.path, days),
            run.lake.read(run.spark, PAYMENT_ORDERS.path, days, version=version),
        )
        run_months = {month_of(d) for d in run.days.days()}
        where = _where("month", months, PartitionRange("month", min(run_months), max(run_months)))
        inputs, why = {PAYMENT_ORDERS.path: version}, "orders arrived for payments"
        yield from run.publish(table, frame, where, inputs, months - run_months, why)

    return financial_summary


def _days_of(months: set[date]) -> list[date]:
    days = []
    for month in months:
        day = month
        while day < next_month(month):
            days.append(day)
            day += timedelta(days=1)
    return days


def monthly_financial_report_asset(
    partitions: Partitioning, alerts: AlertConfig
) -> dg.AssetsDefinition:
    table = MONTHLY_FINANCIAL_REPORT

    @_gold_asset_decorator(table, partitions)
    def monthly_financial_report(
        context: dg.AssetExecutionContext, spark: SparkResource, lake: LakeResource
    ):
        """The run's months, and the month after them when it is already published: its
        month-over-month growth reads the revenue of the run's last month."""
        run = GoldRun(context, spark, lake, alerts)
        following = next_month(run.days.end)
        extra = [following] if _published_month(run, following) else []
        last_day = next_month(following) - timedelta(days=1) if extra else run.days.end
        days = PartitionRange(PARTITION_COLUMN, run.days.start, last_day)
        frame = table.transform(
            transforms.month_frame(run.spark, month_of(days.start), month_of(days.end)),
            run.lake.read(run.spark, SILVER_PAYMENTS.path, days),
            run.lake.read(run.spark, SILVER_EXPENSES.path, days),
            _previous_month(run),
        )
        where = PartitionRange(table.partition_column, days.start, days.end, monthly=True)
        why = "its month-over-month growth reads the month before"
        yield from run.publish(table, frame, where, extra=extra, why=why)

    return monthly_financial_report


def _published_month(run: GoldRun, month: date) -> bool:
    """Whether the report already holds ``month`` (from the Delta log, no Spark job)."""
    path = MONTHLY_FINANCIAL_REPORT.table.path
    if not run.lake.exists(path):
        return False
    where = PartitionSet.of("month", [month])
    return bool(run.lake.partition_row_counts(path, where))


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
    UNMATCHED_PAYMENTS.name: unmatched_payments_asset,
    FINANCIAL_SUMMARY.name: financial_summary_asset,
    MONTHLY_FINANCIAL_REPORT.name: monthly_financial_report_asset,
}


def build_gold(partitions: Partitioning, alerts: AlertConfig) -> list[dg.AssetsDefinition]:
    return [
        CUSTOM[t.name](partitions, alerts) if t.custom else gold_asset(t, partitions, alerts)
        for t in gold_tables()
    ]


def restatements_spec() -> dg.AssetSpec:
    """``gold/restatements``: written by every partitioned gold asset as it replaces
    published partitions (see ``GoldRun.publish``), so it has no step of its own."""
    return dg.AssetSpec(
        key=RESTATEMENTS.key,
        group_name="gold",
        description=(
            "Every published gold value that a later run changed (a late payment, a re-run "
            "with a rule fix): table, partition, key, column, old and new value, run id and "
            "time, partitioned by the day of the restatement. Appended by the gold asset that "
            "made the change, in the same step."
        ),
        deps=[t.table.key for t in gold_tables() if t.partition_column is not None],
        kinds={"delta"},
    )


@dg.definitions
def defs() -> dg.Definitions:
    alerts = AlertConfig.from_settings(current_settings())
    assets = [*build_gold(current_partitioning(), alerts), restatements_spec()]
    return dg.Definitions(assets=assets)
