"""Operations: schedules, landing sensor, freshness and alerting.

- ``landing_sensor`` (landing_sensor.py): new or changed landing files re-materialize
  exactly their partitions and everything downstream;
- ``finance_run_chain`` (chains.py): starts the next run of a chain (monthly after daily)
  once the previous one succeeded;
- ``daily_assets_schedule`` (schedules.py): yesterday's partitions, then their month;
- ``fresh_by_deadline`` checks, ``gold_freshness_checks`` job and ``gold_freshness_schedule``
  (freshness.py);
- ``finance_run_failure_alerts`` and ``finance_check_alerts`` (alerts.py): log, webhook and
  email sinks, once per incident;
- ``with_retries`` (retry.py): exponential backoff for transient landing-zone errors.

Everything is configured by environment variables read once here (config.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from finance_assets.partitions import Partitioning
from finance_assets.settings import Settings


@dataclass
class Operations:
    """What operations add to the code location."""

    sensors: list = field(default_factory=list)
    schedules: list = field(default_factory=list)
    # Not part of the daily and monthly jobs (definitions.py leaves them out): freshness is
    # judged on its own schedule, not inside the runs that make the data.
    asset_checks: list = field(default_factory=list)
    jobs: list = field(default_factory=list)


def build_operations(partitions: Partitioning, settings: Settings) -> Operations:
    # Imported here: these modules import asset modules, which must not import this package
    # while it is half-initialized (finance_assets.ops.retry is imported from anywhere).
    import dagster as dg

    from finance_assets.ops.alerts import (
        build_check_alert_sensor,
        build_run_failure_sensor,
        build_sinks,
    )
    from finance_assets.ops.chains import build_chain_sensor
    from finance_assets.ops.config import OpsConfig
    from finance_assets.ops.freshness import (
        build_freshness_checks,
        build_freshness_job_and_schedule,
    )
    from finance_assets.ops.landing_sensor import build_landing_sensor
    from finance_assets.ops.schedules import build_daily_schedule

    config = OpsConfig.from_env(settings)
    status = (
        dg.DefaultSensorStatus.RUNNING if config.default_running else dg.DefaultSensorStatus.STOPPED
    )
    sinks = build_sinks(config.alerts)
    freshness_job, freshness_schedule = build_freshness_job_and_schedule(config)
    return Operations(
        sensors=[
            build_landing_sensor(partitions, config),
            build_chain_sensor(30, status),
            build_run_failure_sensor(config, sinks),
            build_check_alert_sensor(config, sinks),
        ],
        schedules=[build_daily_schedule(partitions, config), freshness_schedule],
        asset_checks=[build_freshness_checks(partitions, config)],
        jobs=[freshness_job],
    )
