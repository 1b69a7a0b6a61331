"""The daily schedule: yesterday's partition of every daily asset.

At ``FINANCE_DAILY_SCHEDULE_CRON`` (default ``0 2 * * *``) in ``FINANCE_TIMEZONE`` it runs
``daily_assets`` for yesterday (in that time zone). The monthly assets of yesterday's month
follow by their automation condition once that run has updated the days they read (so on the
1st, the month that just ended is completed).
"""

from datetime import date, timedelta
from zoneinfo import ZoneInfo

import dagster as dg

from finance_assets.automation.jobs import DAILY_JOB
from finance_assets.automation.tags import TRIGGER_TAG
from finance_assets.lake.partitions import Partitioning
from finance_assets.settings import Settings

DAILY_SCHEDULE = "daily_assets_schedule"
SCHEDULE = "schedule"


def yesterday(scheduled_time, timezone: str) -> date:
    return scheduled_time.astimezone(ZoneInfo(timezone)).date() - timedelta(days=1)


def build_daily_schedule(partitions: Partitioning, settings: Settings) -> dg.ScheduleDefinition:
    @dg.schedule(
        name=DAILY_SCHEDULE,
        cron_schedule=settings.daily_schedule_cron,
        execution_timezone=settings.timezone,
        job_name=DAILY_JOB,
        default_status=(
            dg.DefaultScheduleStatus.RUNNING
            if settings.ops_default_running
            else dg.DefaultScheduleStatus.STOPPED
        ),
        description=(
            "Yesterday's partition of every daily asset (in FINANCE_TIMEZONE); the monthly "
            "assets of its month follow by their automation condition."
        ),
    )
    def daily_schedule(context: dg.ScheduleEvaluationContext):
        key = yesterday(context.scheduled_execution_time, settings.timezone).isoformat()
        if not partitions.daily.has_partition_key(key):
            return dg.SkipReason(f"{key} is not a partition of this deployment")
        return dg.RunRequest(
            run_key=f"{SCHEDULE}:{key}", partition_key=key, tags={TRIGGER_TAG: SCHEDULE}
        )

    return daily_schedule
