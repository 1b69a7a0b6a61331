"""Freshness of the gold tables: the latest complete partition exists by a deadline.

One asset check, ``fresh_by_deadline``, per gold table:

- daily tables (daily_kpi, sales_performance, unmatched_payments, customer_360): once
  today's ``FINANCE_FRESHNESS_DEADLINE`` (default ``06:00``) has passed in
  ``FINANCE_TIMEZONE``, yesterday's partition must have been materialized; before it, the
  day before yesterday's;
- monthly tables (financial_summary, monthly_financial_report, budget_vs_actual): once
  ``FINANCE_FRESHNESS_MONTHLY_DEADLINE`` (default ``1 06:00``: the 1st at 06:00) has passed,
  last month's partition must have been materialized.

When the deployment's partitions end before the expected partition (a fixed
``FINANCE_PARTITIONS_END`` in the past: a closed, historical deployment), nothing is due and
the check passes, saying so. The check reads the Dagster instance only (no Spark), runs
in the ``gold_freshness_checks`` job on the ``gold_freshness_schedule`` at each deadline,
and fails with ``FINANCE_FRESHNESS_SEVERITY`` (default ``WARN``: amber in the UI, never
blocking). Every failure is an alert (see alerts.py), once per table and missing partition.

Why not Dagster's other freshness APIs: ``build_time_partition_freshness_checks`` is
superseded in Dagster 1.13 and warns at load time, and ``FreshnessPolicy.cron`` judges the
time of the latest materialization of *any* partition (a backfill of last year would make a
table look fresh while yesterday is missing), so it cannot say "yesterday's partition
exists".
"""

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import dagster as dg

from finance_assets.gold.tables import gold_tables
from finance_assets.lake.partitions import Partitioning, month_of
from finance_assets.settings import Settings

FRESHNESS_CHECK = "fresh_by_deadline"
FRESHNESS_JOB = "gold_freshness_checks"
FRESHNESS_SCHEDULE = "gold_freshness_schedule"
EXPECTED_PARTITION = "expected_partition"


@dataclass(frozen=True)
class Expectation:
    """Which partition must exist now, and since when."""

    partition_key: str | None
    deadline: datetime
    reason: str = ""


def last_daily_deadline(now: datetime, at: time, timezone: str) -> datetime:
    local = now.astimezone(ZoneInfo(timezone))
    today = datetime.combine(local.date(), at, tzinfo=ZoneInfo(timezone))
    return today if local >= today else today - timedelta(days=1)


def last_monthly_deadline(now: datetime, day: int, at: time, timezone: str) -> datetime:
    tz = ZoneInfo(timezone)
    local = now.astimezone(tz)
    this_month = datetime.combine(local.date().replace(day=day), at, tzinfo=tz)
    if local >= this_month:
        return this_month
    previous = month_of(local.date().replace(day=1) - timedelta(days=1))
    return datetime.combine(previous.replace(day=day), at, tzinfo=tz)


def expected_partition(
    partitions_def: dg.TimeWindowPartitionsDefinition,
    monthly: bool,
    now: datetime,
    config: Settings,
) -> Expectation:
    """The latest complete partition that must exist at ``now``: yesterday, or last month."""
    if monthly:
        day, at = config.freshness_monthly_deadline
        deadline = last_monthly_deadline(now, day, at, config.timezone)
        expected: date = month_of(deadline.date().replace(day=1) - timedelta(days=1))
    else:
        deadline = last_daily_deadline(now, config.freshness_deadline, config.timezone)
        expected = deadline.date() - timedelta(days=1)
    first = partitions_def.get_first_partition_key()
    last = partitions_def.get_last_partition_key()
    if first is None or last is None or expected < date.fromisoformat(first):
        return Expectation(None, deadline, "No partition is due yet.")
    if expected > date.fromisoformat(last):
        return Expectation(None, deadline, f"Nothing is due: the partitions end at {last}.")
    return Expectation(expected.isoformat(), deadline)


def gold_keys() -> list[dg.AssetKey]:
    return [t.table.key for t in gold_tables()]


def freshness_check_keys() -> list[dg.AssetCheckKey]:
    return [dg.AssetCheckKey(key, FRESHNESS_CHECK) for key in gold_keys()]


def _describe_deadlines(config: Settings) -> str:
    day, at = config.freshness_monthly_deadline
    return (
        f"daily tables: yesterday's partition by {config.freshness_deadline:%H:%M}; "
        f"monthly tables: last month's by day {day} {at:%H:%M} ({config.timezone})"
    )


def build_freshness_checks(partitions: Partitioning, config: Settings) -> dg.AssetChecksDefinition:
    severity = dg.AssetCheckSeverity(config.freshness_severity)

    @dg.multi_asset_check(
        name="gold_freshness",
        specs=[
            dg.AssetCheckSpec(
                FRESHNESS_CHECK,
                asset=key,
                description=f"The latest complete partition exists: {_describe_deadlines(config)}.",
            )
            for key in gold_keys()
        ],
        can_subset=True,
    )
    def gold_freshness(context: dg.AssetCheckExecutionContext):
        now = datetime.now(tz=ZoneInfo("UTC"))
        monthly_keys = {t.table.key for t in gold_tables() if t.cadence == "monthly"}
        for check_key in sorted(context.selected_asset_check_keys, key=str):
            asset_key = check_key.asset_key
            monthly = asset_key in monthly_keys
            partitions_def = partitions.monthly if monthly else partitions.daily
            expectation = expected_partition(partitions_def, monthly, now, config)
            yield evaluate(context.instance, asset_key, expectation, now, severity)

    return gold_freshness


def evaluate(
    instance: dg.DagsterInstance,
    asset_key: dg.AssetKey,
    expectation: Expectation,
    now: datetime,
    severity: dg.AssetCheckSeverity,
) -> dg.AssetCheckResult:
    metadata: dict = {"deadline": dg.MetadataValue.timestamp(expectation.deadline)}
    if expectation.partition_key is None:
        return dg.AssetCheckResult(
            asset_key=asset_key,
            check_name=FRESHNESS_CHECK,
            passed=True,
            severity=severity,
            description=expectation.reason,
            metadata=metadata,
        )
    key = expectation.partition_key
    metadata[EXPECTED_PARTITION] = key
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=asset_key, asset_partitions=[key]), limit=1
    ).records
    if records:
        metadata["materialized_at"] = dg.MetadataValue.timestamp(records[0].timestamp)
        description = f"Partition {key} exists (due by {expectation.deadline:%Y-%m-%d %H:%M %Z})."
    else:
        overdue = (now - expectation.deadline).total_seconds()
        metadata["overdue_minutes"] = round(overdue / 60, 1)
        description = (
            f"Partition {key} of {asset_key.to_user_string()} was due by "
            f"{expectation.deadline:%Y-%m-%d %H:%M %Z} and has not been materialized."
        )
    return dg.AssetCheckResult(
        asset_key=asset_key,
        check_name=FRESHNESS_CHECK,
        passed=bool(records),
        severity=severity,
        description=description,
        metadata=metadata,
    )


def _cron_at(at: time, day_of_month: str = "*") -> str:
    return f"{at.minute} {at.hour} {day_of_month} * *"


def build_freshness_job_and_schedule(config: Settings):
    job = dg.define_asset_job(
        FRESHNESS_JOB,
        selection=dg.AssetSelection.checks(*freshness_check_keys()),
        description="Evaluates the gold freshness checks (no Spark, reads the instance only).",
    )
    crons = [_cron_at(config.freshness_deadline)]
    day, at = config.freshness_monthly_deadline
    if at != config.freshness_deadline:
        crons.append(_cron_at(at, str(day)))
    schedule = dg.ScheduleDefinition(
        name=FRESHNESS_SCHEDULE,
        cron_schedule=crons if len(crons) > 1 else crons[0],
        execution_timezone=config.timezone,
        job=job,
        default_status=(
            dg.DefaultScheduleStatus.RUNNING
            if config.ops_default_running
            else dg.DefaultScheduleStatus.STOPPED
        ),
        description=f"Gold freshness at each deadline: {_describe_deadlines(config)}.",
    )
    return job, schedule
