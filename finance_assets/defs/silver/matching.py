"""``silver/payment_orders``: each payment matched once to the day of its order."""

import dagster as dg

from finance_assets.contract import ORDERS, PARTITION_COLUMN, PAYMENTS
from finance_assets.lake import tables
from finance_assets.lake.delta import PartitionRange, PartitionSet
from finance_assets.lake.metadata import table_metadata
from finance_assets.lake.partitions import (
    Partitioning,
    current_partitioning,
    log_extra_partitions,
    materialized_range,
)
from finance_assets.lake.resources import LakeResource, SparkResource
from finance_assets.silver.matching import (
    PARTITION_BY,
    order_index,
    payment_days_to_rematch,
    payment_orders,
)

SILVER_ORDERS, SILVER_PAYMENTS = tables.silver(ORDERS), tables.silver(PAYMENTS)
PAYMENT_ORDERS = tables.PAYMENT_ORDERS
REMATCHED_DAYS = "rematched_payment_days"


def build_payment_orders(partitions: Partitioning) -> dg.AssetsDefinition:
    @dg.asset(
        key=PAYMENT_ORDERS.key,
        group_name="silver",
        description=(
            "Every valid payment with the date of the valid order it pays (null while no such "
            "order is known), partitioned by payment day and order day. Payments of earlier "
            "days whose order arrived (or vanished) since are matched again in the same run."
        ),
        partitions_def=partitions.daily,
        backfill_policy=dg.BackfillPolicy.single_run(),
        deps=[
            dg.AssetDep(SILVER_PAYMENTS.key, partition_mapping=dg.IdentityPartitionMapping()),
            dg.AssetDep(SILVER_ORDERS.key, partition_mapping=dg.AllPartitionMapping()),
        ],
        kinds={"spark", "delta"},
        pool=PAYMENT_ORDERS.pool,
    )
    def payment_orders_asset(
        context: dg.AssetExecutionContext, spark: SparkResource, lake: LakeResource
    ):
        session, store = spark.spark_session, lake.lake()
        run = materialized_range(context, PARTITION_COLUMN)
        orders_version = store.version(SILVER_ORDERS.path)
        rematch: set = set()
        if store.exists(PAYMENT_ORDERS.path):
            since = store.inputs(PAYMENT_ORDERS.path).get(SILVER_ORDERS.path, -1)
            changes = store.changes(SILVER_ORDERS.path, since, orders_version)
            found = payment_days_to_rematch(store, changes) if changes else None
            if found is None:  # nothing known of what changed: match every payment day again
                everything = PartitionRange.everything(PARTITION_COLUMN)
                found = set(store.partition_row_counts(PAYMENT_ORDERS.path, everything))
            rematch = {d for d in found if not run.contains(d)}
        where = PartitionSet.of(PARTITION_COLUMN, [*run.days(), *rematch]) if rematch else run
        payments = store.read(session, SILVER_PAYMENTS.path, where)
        bounds = store.bounds(SILVER_PAYMENTS.path, "order_id", where)
        orders = store.read(
            session,
            SILVER_ORDERS.path,
            within={"order_id": bounds} if bounds else None,
            version=orders_version,
        )
        frame = payment_orders(payments, order_index(orders))
        result = store.replace_partitions(
            frame,
            PAYMENT_ORDERS.path,
            where,
            partition_by=PARTITION_BY,
            inputs={SILVER_ORDERS.path: orders_version},
        )
        if rematch:
            context.log.info(
                f"Matched again {len(rematch)} earlier payment day(s) whose orders changed: "
                + ", ".join(str(d) for d in sorted(rematch)[:20])
            )
        log_extra_partitions(
            context, PAYMENT_ORDERS.key, partitions.daily, rematch, "orders of these days changed"
        )
        return dg.MaterializeResult(
            metadata={
                **table_metadata(result, frame.schema),
                REMATCHED_DAYS: dg.MetadataValue.json(sorted(str(d) for d in rematch)),
            }
        )

    return payment_orders_asset


@dg.definitions
def defs() -> dg.Definitions:
    return dg.Definitions(assets=[build_payment_orders(current_partitioning())])
