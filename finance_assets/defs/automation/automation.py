"""Jobs, schedules, sensors and freshness checks of the code location."""

from __future__ import annotations

import dagster as dg

from finance_assets.automation.alerts import (
    AlertConfig,
    build_check_alert_sensor,
    build_run_failure_sensor,
    build_sinks,
)
from finance_assets.automation.conditions import build_automation_sensor
from finance_assets.automation.freshness import (
    build_freshness_checks,
    build_freshness_job_and_schedule,
)
from finance_assets.automation.jobs import build_jobs
from finance_assets.automation.landing_sensor import build_landing_sensor
from finance_assets.automation.maintenance import (
    build_maintenance_job,
    build_maintenance_schedule,
)
from finance_assets.automation.schedules import build_daily_schedule
from finance_assets.automation.slots import build_slot_watch_sensor
from finance_assets.lake.partitions import build_partitioning
from finance_assets.settings import current_settings


@dg.definitions
def defs() -> dg.Definitions:
    settings = current_settings()
    partitions = build_partitioning(settings)
    sinks = build_sinks(AlertConfig.from_settings(settings))
    freshness_checks = build_freshness_checks(partitions, settings)
    freshness_job, freshness_schedule = build_freshness_job_and_schedule(settings)
    # Freshness is judged on its own schedule, not inside the runs that make the data.
    not_in_runs = dg.AssetSelection.checks(freshness_checks)
    maintenance = build_maintenance_job(settings)
    return dg.Definitions(
        asset_checks=[freshness_checks],
        jobs=[*build_jobs(not_in_runs), freshness_job, maintenance],
        schedules=[
            build_daily_schedule(partitions, settings),
            freshness_schedule,
            build_maintenance_schedule(maintenance, settings),
        ],
        sensors=[
            build_landing_sensor(partitions, settings),
            build_automation_sensor(settings.ops_default_running),
            build_run_failure_sensor(settings, sinks),
            build_check_alert_sensor(settings, sinks),
            build_slot_watch_sensor(),
        ],
    )
