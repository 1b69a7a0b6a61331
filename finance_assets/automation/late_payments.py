"""Sensors that keep gold consistent when data arrives out of order."""

from __future__ import annotations

import dagster as dg

from finance_assets.automation.tags import TRIGGER_TAG
from finance_assets.gold import tables as gold
from finance_assets.lake.partitions import RANGE_END_TAG, RANGE_START_TAG

LATE_PAYMENTS = "late_payments"
LATE_PAYMENT_DAYS = "late_payment_order_days"
SALES_PERFORMANCE = gold.SALES_PERFORMANCE.table.key
CUSTOMER_360 = gold.CUSTOMER_360.table.key


def late_payment_request(days: list[str], storage_id: int) -> dg.RunRequest | None:
    """One run re-materializing sales_performance on the affected order days, and customer_360."""
    if not days:
        return None
    return dg.RunRequest(
        run_key=f"{LATE_PAYMENTS}-{storage_id}",
        asset_selection=[SALES_PERFORMANCE, CUSTOMER_360],
        tags={RANGE_START_TAG: min(days), RANGE_END_TAG: max(days), TRIGGER_TAG: LATE_PAYMENTS},
    )


@dg.sensor(
    name="late_payments_sensor",
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.RUNNING,
    asset_selection=[SALES_PERFORMANCE, CUSTOMER_360],
    description=(
        "Payments often land days after their order. When sales_performance is materialized, "
        "it records older order days whose orders just received payments; this sensor "
        "re-materializes exactly those days of sales_performance, and customer_360."
    ),
)
def late_payments_sensor(context: dg.SensorEvaluationContext):
    after = int(context.cursor) if context.cursor else None
    records = context.instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=SALES_PERFORMANCE, after_storage_id=after),
        limit=100,
        ascending=True,
    ).records
    requests = []
    for record in records:
        run = context.instance.get_run_by_id(record.run_id)
        if run and run.tags.get(TRIGGER_TAG) == LATE_PAYMENTS:
            continue  # its own re-runs must not cascade backwards
        materialization = record.asset_materialization
        value = materialization.metadata.get(LATE_PAYMENT_DAYS) if materialization else None
        request = late_payment_request(list(value.value) if value else [], record.storage_id)
        if request:
            requests.append(request)
    cursor = str(records[-1].storage_id) if records else context.cursor
    return dg.SensorResult(run_requests=requests, cursor=cursor)
