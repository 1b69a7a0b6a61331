"""The ``lake_maintenance`` job: compact and vacuum every table of the lake, each in a step that
holds the concurrency pool of the step that writes the table, so it never runs while that
table is being written (a run that starts writing it meanwhile waits for it, and the other way
round). What it does is ``lake/maintenance.py``; this module decides which tables and when.

The tables: bronze, silver (with ``silver/payment_orders``), quarantine, gold and the
restatements log. The restatements log is appended to by every gold step, each under its own
table's pool; compaction and vacuum never conflict with an append (an append removes nothing,
and a vacuum deletes only files a commit removed or, past an hour, files no commit ever
referenced), so it is maintained under a pool of its own.

The schedule ``lake_maintenance_schedule`` runs the job weekly (Sundays at 04:00 in
``FINANCE_TIMEZONE``) and is STOPPED by default: start it in the UI (Automation) or with
``dagster schedule start lake_maintenance_schedule``. ``finance-assets maintain`` runs the same
job now.
"""

import dagster as dg
from pydantic import Field

from finance_assets.contract import DATASETS
from finance_assets.gold.tables import gold_tables
from finance_assets.lake import tables
from finance_assets.lake.maintenance import maintain
from finance_assets.lake.resources import LakeResource, SparkResource
from finance_assets.lake.tables import PAYMENT_ORDERS, RESTATEMENTS, Table
from finance_assets.settings import Settings

MAINTENANCE_JOB = "lake_maintenance"
MAINTENANCE_SCHEDULE = "lake_maintenance_schedule"
MAINTENANCE_CRON = "0 4 * * 0"
"""Sundays at 04:00: after the daily run (02:00 by default), before the working week."""
SUMMARY = "summary"
"""Output metadata entry with the step's one-line account (printed by the CLI's progress)."""


def maintained_tables() -> list[Table]:
    """Every Delta table the pipeline writes (not the control table of closed months, a few
    rows appended by hand, nor the dashboard, which is not a Delta table)."""
    found: list[Table] = []
    for dataset in DATASETS.values():
        found += [tables.bronze(dataset), tables.silver(dataset), tables.quarantine(dataset)]
    found.append(PAYMENT_ORDERS)
    found += [t.table for t in gold_tables()]
    found.append(RESTATEMENTS)
    return found


def step_name(table: Table) -> str:
    return f"maintain__{table.layer}__{table.name}"


class MaintenanceConfig(dg.Config):
    """How one table is maintained (defaults: the deployment's settings)."""

    retention_hours: int | None = Field(
        default=None,
        ge=0,
        description="delete files replaced longer ago (default FINANCE_VACUUM_RETENTION_HOURS)",
    )
    dry_run: bool = Field(
        default=False, description="list what the vacuum would delete; compact and delete nothing"
    )


def maintenance_op(table: Table, default_retention_hours: int) -> dg.OpDefinition:
    @dg.op(
        name=step_name(table),
        pool=table.pool,
        description=f"Compact {table.path} and delete its files replaced long enough ago.",
        tags={"kind": "delta"},
    )
    def _maintain(
        context: dg.OpExecutionContext,
        config: MaintenanceConfig,
        lake: LakeResource,
        spark: SparkResource,
    ) -> dg.Output[dict]:
        if lake.commits_through_spark:
            _ = spark.spark_session  # OPTIMIZE and VACUUM run as Spark SQL on this engine
        retention = (
            default_retention_hours if config.retention_hours is None else config.retention_hours
        )
        done = maintain(lake.lake(), table.path, retention, config.dry_run)
        for warning in done.warnings:  # the user's explicit choice: said, not alarmed
            context.log.info(f"{table.path}: {warning}")
        context.log.info(done.describe())
        facts = done.metadata()
        metadata = {k: v for k, v in facts.items() if v is not None}
        return dg.Output(facts, metadata={**metadata, SUMMARY: done.describe()})

    return _maintain


def build_maintenance_job(settings: Settings) -> dg.JobDefinition:
    steps = [maintenance_op(t, settings.vacuum_retention_hours) for t in maintained_tables()]

    @dg.job(
        name=MAINTENANCE_JOB,
        description=(
            "Compact every lake table's small files and delete the files replaced more than "
            "FINANCE_VACUUM_RETENTION_HOURS ago (time travel cannot reach past that); each "
            "table waits for any run writing it."
        ),
    )
    def lake_maintenance():
        for step in steps:
            step()

    return lake_maintenance


def build_maintenance_schedule(job: dg.JobDefinition, settings: Settings) -> dg.ScheduleDefinition:
    return dg.ScheduleDefinition(
        name=MAINTENANCE_SCHEDULE,
        cron_schedule=MAINTENANCE_CRON,
        execution_timezone=settings.timezone,
        job=job,
        # Deleting files is never switched on by surprise: an operator turns it on.
        default_status=dg.DefaultScheduleStatus.STOPPED,
        description=(
            "Weekly lake maintenance (Sundays 04:00, FINANCE_TIMEZONE), retention "
            f"{settings.vacuum_retention_hours} h. Stopped until an operator starts it."
        ),
    )
