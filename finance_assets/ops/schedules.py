"""The daily schedule: yesterday's partition of every daily asset, then its month.

At ``FINANCE_DAILY_SCHEDULE_CRON`` (default ``0 2 * * *``) in ``FINANCE_TIMEZONE`` it runs
``daily_assets`` for yesterday (in that time zone) and then, as a chained run once the daily
run succeeded, every monthly asset for the month containing yesterday (so on the 1st, the
month that just ended is completed).
"""

from datetime import date, timedelta
from zoneinfo import ZoneInfo

import dagster as dg

from finance_assets.ops.chains import CHAIN_TAG, Step, encode_chain, month_of, user_strings
from finance_assets.ops.config import OpsConfig
from finance_assets.partitions import Partitioning
from finance_assets.sensors import TRIGGER_TAG

DAILY_SCHEDULE = "daily_assets_schedule"
DAILY_JOB = "daily_assets"  # defined in finance_assets.definitions
SCHEDULE = "schedule"


def yesterday(scheduled_time, timezone: str) -> date:
    return scheduled_time.astimezone(ZoneInfo(timezone)).date() - timedelta(days=1)


def monthly_asset_keys(graph, partitions: Partitioning) -> frozenset[str]:
    return user_strings(
        key
        for key in graph.materializable_asset_keys
        if graph.get(key).partitions_def == partitions.monthly
    )


def build_daily_schedule(partitions: Partitioning, config: OpsConfig) -> dg.ScheduleDefinition:
    @dg.schedule(
        name=DAILY_SCHEDULE,
        cron_schedule=config.daily_schedule_cron,
        execution_timezone=config.timezone,
        job_name=DAILY_JOB,
        default_status=(
            dg.DefaultScheduleStatus.RUNNING
            if config.default_running
            else dg.DefaultScheduleStatus.STOPPED
        ),
        description=(
            "Yesterday's partition of every daily asset (in FINANCE_TIMEZONE), then the "
            "monthly assets for the month containing yesterday, once the daily run succeeded."
        ),
    )
    def daily_schedule(context: dg.ScheduleEvaluationContext):
        day = yesterday(context.scheduled_execution_time, config.timezone)
        key = day.isoformat()
        if not partitions.daily.has_partition_key(key):
            return dg.SkipReason(f"{key} is not a partition of this deployment")
        rest = []
        month = month_of(day).isoformat()
        monthly = monthly_asset_keys(context.repository_def.asset_graph, partitions)
        if monthly and partitions.monthly.has_partition_key(month):
            rest.append(Step(tuple(sorted(monthly)), month, month))
        tags = {TRIGGER_TAG: SCHEDULE}
        if rest:
            tags[CHAIN_TAG] = encode_chain(rest)
        return dg.RunRequest(run_key=f"{SCHEDULE}:{key}", partition_key=key, tags=tags)

    return daily_schedule
