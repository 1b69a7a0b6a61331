"""``finance-assets materialize``: every asset for a day range and the months it touches."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from datetime import date

import dagster as dg

from finance_assets.automation.jobs import DAILY_JOB, MONTHLY_JOB
from finance_assets.automation.tags import TRIGGER_TAG
from finance_assets.cli.instance import open_instance
from finance_assets.contract import DATASETS
from finance_assets.definitions import load_definitions
from finance_assets.lake.partitions import RANGE_END_TAG, RANGE_START_TAG
from finance_assets.lake.spark import check_spark_reachable
from finance_assets.lake.tables import DASHBOARD
from finance_assets.landing.zone import LandingMissing, S3Options, require_dataset_folders
from finance_assets.settings import Settings

CLI = "cli"


class CliError(Exception):
    """A problem the user can fix; printed without a traceback, exit code 2."""


@dataclass
class RunOutcome:
    """What a materialization did, and which checks failed."""

    succeeded: bool = True
    failed_checks: list[str] = field(default_factory=list)
    failed_steps: list[str] = field(default_factory=list)
    row_counts: dict[str, int] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)
    check_messages: dict[str, str] = field(default_factory=dict)
    """What each failed check said (its description), by the name in ``failed_checks``."""


def deployment_settings(landing: str, lake: str, start: date, end: date) -> Settings:
    """The environment's settings for this landing zone and lake, with partitions that
    include ``[start, end]``."""
    base = Settings.load(landing_uri=landing, lake_uri=lake)
    return base.with_overrides(
        partitions_start=start if start < base.partitions_start else None,
        partitions_end=end if base.partitions_end and end > base.partitions_end else None,
    )


def run_job(
    defs: dg.Definitions,
    job_name: str,
    first_key: str,
    last_key: str,
    instance: dg.DagsterInstance,
    verbose: bool,
    replace_empty: bool = False,
):
    job = defs.resolve_job_def(job_name)
    run_config: dict = {"loggers": _console(verbose)}
    if replace_empty:
        run_config["ops"] = {
            node.name: {"config": {"replace_empty_partitions": True}}
            for node in job.graph.nodes
            if node.name.startswith("bronze__")
        }
    return job.execute_in_process(
        instance=instance,
        tags={RANGE_START_TAG: first_key, RANGE_END_TAG: last_key, TRIGGER_TAG: CLI},
        raise_on_error=False,
        run_config=run_config,
    )


def _console(verbose: bool) -> dict:
    return {"console": {"config": {"log_level": "INFO" if verbose else "WARNING"}}}


def collect(result, outcome: RunOutcome) -> None:
    for evaluation in result.get_asset_check_evaluations():
        if not evaluation.passed:
            name = f"{evaluation.asset_key.to_user_string()}:{evaluation.check_name}"
            severity = getattr(evaluation.severity, "value", str(evaluation.severity))
            outcome.failed_checks.append(f"{name} ({severity})")
            if evaluation.description:
                outcome.check_messages[f"{name} ({severity})"] = evaluation.description
    for event in result.get_asset_materialization_events():
        mat = event.materialization
        rows = mat.metadata.get("dagster/row_count")
        if rows is not None:
            outcome.row_counts[mat.asset_key.to_user_string()] = rows.value
    for event in result.all_events:
        if event.event_type_value == "STEP_FAILURE":
            outcome.failed_steps.append(f"{event.step_key}: {failure_message(event)}")
    outcome.succeeded = outcome.succeeded and result.success


def failure_message(event) -> str:
    """What the step's own code said: a ``dg.Failure``'s description, else the outermost
    exception raised by the asset (not Dagster's wrapper, not a low-level root cause)."""
    data = event.step_failure_data
    if data.user_failure_data is not None and data.user_failure_data.description:
        return data.user_failure_data.description
    error = data.error
    while error is not None and error.cls_name.startswith("Dagster") and error.cause:
        error = error.cause
    return error.message.strip().splitlines()[-1] if error else "failed"


def materialize(
    landing: str,
    lake: str,
    start: date,
    end: date,
    verbose: bool = False,
    replace_empty: bool = False,
) -> RunOutcome:
    """Materialize every asset for every day in [start, end] and every month it touches.

    A landing root or dataset folder that does not exist stops it before anything is written
    (:class:`CliError`); a day whose drop files are gone keeps its bronze rows unless
    ``replace_empty``.
    """
    if end < start:
        raise CliError(f"--end {end} is before --start {start}")
    settings = deployment_settings(landing, lake, start, end)
    defs = load_definitions(settings)  # a setting that cannot work fails here, before any I/O
    check_spark_reachable(settings)
    try:
        require_dataset_folders(
            landing, DATASETS, S3Options(settings.s3_endpoint_url, settings.s3_region)
        )
    except (LandingMissing, PermissionError) as exc:
        raise CliError(f"{exc}; nothing was written") from None
    instance = open_instance(settings.instance_home)
    outcome = RunOutcome()
    daily = run_job(
        defs, DAILY_JOB, start.isoformat(), end.isoformat(), instance, verbose, replace_empty
    )
    collect(daily, outcome)
    if not outcome.succeeded:
        outcome.skipped.append(MONTHLY_JOB)
        return outcome
    first_month, last_month = start.replace(day=1), end.replace(day=1)
    monthly = run_job(
        defs,
        MONTHLY_JOB,
        first_month.isoformat(),
        last_month.isoformat(),
        instance,
        verbose,
        replace_empty,
    )
    collect(monthly, outcome)
    if not outcome.succeeded:
        outcome.skipped.append(DASHBOARD.key.to_user_string())
        return outcome
    dashboard = defs.resolve_implicit_global_asset_job_def().execute_in_process(
        asset_selection=[DASHBOARD.key],
        instance=instance,
        tags={TRIGGER_TAG: CLI},
        raise_on_error=False,
        run_config={"loggers": _console(verbose)},
    )
    collect(dashboard, outcome)
    return outcome


def report(outcome: RunOutcome) -> int:
    for key in sorted(outcome.row_counts):
        print(f"  {key:<34} {outcome.row_counts[key]:>10,} rows")
    if outcome.failed_steps:
        print("Failed steps:", file=sys.stderr)
        for step in outcome.failed_steps:
            print(f"  {step}", file=sys.stderr)
    if outcome.skipped:
        print(
            f"Not run because an earlier run failed: {', '.join(outcome.skipped)}", file=sys.stderr
        )
    blocking = [c for c in outcome.failed_checks if c.endswith("(ERROR)")]
    warnings = [c for c in outcome.failed_checks if c not in blocking]
    if warnings:
        print("Checks with warnings (not blocking):")
        for check in warnings:
            print(f"  {check}")
    if blocking:
        print("Failed blocking checks:", file=sys.stderr)
        for check in blocking:
            print(f"  {check}", file=sys.stderr)
            if check in outcome.check_messages:
                print(f"    {outcome.check_messages[check]}", file=sys.stderr)
    if blocking or not outcome.succeeded:
        return 1
    print("All blocking checks passed.")
    return 0
