"""``finance-assets``: materialize the pipeline, generate or land drops, run the demo."""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

DEMO_START, DEMO_END = date(2024, 1, 1), date(2024, 2, 29)


class CliError(Exception):
    """A problem the user can fix; printed without a traceback."""


@dataclass
class RunOutcome:
    """What a materialization did, and which checks failed."""

    succeeded: bool = True
    failed_checks: list[str] = field(default_factory=list)
    failed_steps: list[str] = field(default_factory=list)
    row_counts: dict[str, int] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{text!r} is not a YYYY-MM-DD date") from exc


def _instance():
    import dagster as dg

    return (
        dg.DagsterInstance.get()
        if os.environ.get("DAGSTER_HOME")
        else dg.DagsterInstance.ephemeral()
    )


def _run_job(
    defs,
    job_name: str,
    first_key: str,
    last_key: str,
    instance,
    verbose: bool,
    replace_empty: bool = False,
):
    from finance_assets.sensors import RANGE_END_TAG, RANGE_START_TAG

    job = defs.resolve_job_def(job_name)
    run_config: dict = {
        "loggers": {"console": {"config": {"log_level": "INFO" if verbose else "WARNING"}}}
    }
    if replace_empty:
        run_config["ops"] = {
            node.name: {"config": {"replace_empty_partitions": True}}
            for node in job.graph.nodes
            if node.name.startswith("bronze__")
        }
    return job.execute_in_process(
        instance=instance,
        tags={RANGE_START_TAG: first_key, RANGE_END_TAG: last_key},
        raise_on_error=False,
        run_config=run_config,
    )


def _collect(result, outcome: RunOutcome) -> None:
    for evaluation in result.get_asset_check_evaluations():
        if not evaluation.passed:
            name = f"{evaluation.asset_key.to_user_string()}:{evaluation.check_name}"
            severity = getattr(evaluation.severity, "value", str(evaluation.severity))
            outcome.failed_checks.append(f"{name} ({severity})")
    for event in result.get_asset_materialization_events():
        mat = event.materialization
        rows = mat.metadata.get("dagster/row_count")
        if rows is not None:
            outcome.row_counts[mat.asset_key.to_user_string()] = rows.value
    for event in result.all_events:
        if event.event_type_value == "STEP_FAILURE":
            outcome.failed_steps.append(f"{event.step_key}: {_failure_message(event)}")
    outcome.succeeded = outcome.succeeded and result.success


def _failure_message(event) -> str:
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
    from finance_assets.datasets import DATASETS
    from finance_assets.definitions import DAILY_JOB, MONTHLY_JOB, build_definitions
    from finance_assets.landing.zone import LandingMissing, S3Options, require_dataset_folders
    from finance_assets.resources import check_spark_reachable
    from finance_assets.settings import Settings

    if end < start:
        raise CliError(f"--end {end} is before --start {start}")
    base = Settings.from_env()
    settings = base.with_overrides(
        landing_uri=landing,
        lake_uri=lake,
        partitions_start=min(base.partitions_start, start),
        partitions_end=max(end, date.today()),
    )
    try:
        require_dataset_folders(
            landing, DATASETS, S3Options(settings.s3_endpoint_url, settings.s3_region)
        )
    except (LandingMissing, PermissionError) as exc:
        raise CliError(f"{exc}; nothing was written") from None
    defs = build_definitions(settings)
    check_spark_reachable(settings)
    instance = _instance()
    outcome = RunOutcome()
    daily = _run_job(
        defs, DAILY_JOB, start.isoformat(), end.isoformat(), instance, verbose, replace_empty
    )
    _collect(daily, outcome)
    if not outcome.succeeded:
        outcome.skipped.append(MONTHLY_JOB)
        return outcome
    first_month, last_month = start.replace(day=1), end.replace(day=1)
    monthly = _run_job(
        defs,
        MONTHLY_JOB,
        first_month.isoformat(),
        last_month.isoformat(),
        instance,
        verbose,
        replace_empty,
    )
    _collect(monthly, outcome)
    from finance_assets.analytics import DASHBOARD_KEY

    if DASHBOARD_KEY in defs.resolve_all_asset_keys():
        if not outcome.succeeded:
            outcome.skipped.append(DASHBOARD_KEY.to_user_string())
            return outcome
        dashboard = defs.resolve_implicit_global_asset_job_def().execute_in_process(
            asset_selection=[DASHBOARD_KEY],
            instance=instance,
            raise_on_error=False,
            run_config={
                "loggers": {"console": {"config": {"log_level": "INFO" if verbose else "WARNING"}}}
            },
        )
        _collect(dashboard, outcome)
    return outcome


def _report(outcome: RunOutcome) -> int:
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
    if blocking or not outcome.succeeded:
        return 1
    print("All blocking checks passed.")
    return 0


def _landing_and_lake(args) -> tuple[str, str]:
    landing = args.landing or os.environ.get("FINANCE_LANDING_URI")
    lake = args.lake or os.environ.get("FINANCE_LAKE_URI")
    missing = [n for n, v in (("--landing", landing), ("--lake", lake)) if not v]
    if missing:
        raise CliError(
            f"{' and '.join(missing)} not given (or set FINANCE_LANDING_URI / FINANCE_LAKE_URI)"
        )
    return landing, lake


def cmd_materialize(args) -> int:
    landing, lake = _landing_and_lake(args)
    print(f"Materializing {args.start}..{args.end} from {landing} into {lake}")
    return _report(
        materialize(landing, lake, args.start, args.end, args.verbose, args.replace_empty)
    )


def cmd_generate(args) -> int:
    from finance_assets.landing.generate import GenerateConfig, generate

    landing = args.landing or os.environ.get("FINANCE_LANDING_URI")
    if not landing:
        raise CliError("--landing not given (or set FINANCE_LANDING_URI)")
    config = GenerateConfig(
        start=args.start,
        end=args.end,
        orders_per_day=args.orders_per_day,
        dirty_rate=args.dirty_rate,
        files_per_folder=args.files_per_folder,
        seed=args.seed,
    )
    counts = generate(landing, config, _s3_options())
    for dataset, rows in counts.items():
        print(f"  {dataset:<10} {rows:>10,} rows")
    return 0


def cmd_land(args) -> int:
    from finance_assets.landing.land import land_file

    landing = args.landing or os.environ.get("FINANCE_LANDING_URI")
    if not landing:
        raise CliError("--landing not given (or set FINANCE_LANDING_URI)")
    try:
        written = land_file(args.file, args.dataset, landing, _s3_options())
    except (ValueError, FileNotFoundError) as exc:
        raise CliError(str(exc)) from exc
    print(f"Landed {sum(written.values()):,} rows into {len(written)} {args.dataset} folder(s)")
    return 0


def cmd_quarantine(args) -> int:
    """List rejected rows (file, row, reason), or count them by dataset, partition and reason."""
    from finance_assets.checks import quarantine_report as report

    lake = args.lake or os.environ.get("FINANCE_LAKE_URI") or "data/lake"
    datasets = [args.dataset] if args.dataset else list(report.DATASETS)
    rows = report.rejected_rows(lake, datasets, args.start, args.end, args.reason)
    if args.summary:
        columns = ("dataset", "partition_date", "_reason", "rows")
        report.write(report.summarize(rows), columns, args.format)
    else:
        report.write(rows[: args.limit] if args.limit else rows, report.COLUMNS, args.format)
    if not rows:
        print("No quarantined rows match.", file=sys.stderr)
    return 0


def cmd_demo(args) -> int:
    """Generate sample drops (once), materialize them and print a short gold summary."""
    from finance_assets.landing.generate import GenerateConfig, generate

    landing = Path(args.data_dir, "landing")
    lake = Path(args.data_dir, "lake")
    if not (landing / "orders").exists():
        print(f"Generating sample drops for {DEMO_START}..{DEMO_END} into {landing}")
        generate(str(landing), GenerateConfig(start=DEMO_START, end=DEMO_END))
    print(f"Materializing {DEMO_START}..{DEMO_END} into {lake}")
    outcome = materialize(str(landing), str(lake), DEMO_START, DEMO_END, args.verbose)
    status = _report(outcome)
    if outcome.succeeded:
        from finance_assets.summary import print_gold_summary

        print_gold_summary(str(lake))
    return status


def _s3_options():
    from finance_assets.landing.zone import S3Options
    from finance_assets.settings import Settings

    settings = Settings.from_env()
    return S3Options(endpoint_url=settings.s3_endpoint_url, region=settings.s3_region)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="finance-assets", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser("materialize", help="materialize every asset for a date range")
    run.add_argument("--landing", help="landing folder or s3://bucket/prefix")
    run.add_argument("--lake", help="lake folder")
    run.add_argument("--start", type=_date, required=True)
    run.add_argument("--end", type=_date, required=True)
    run.add_argument("--verbose", action="store_true", help="show Dagster's run log")
    run.add_argument(
        "--replace-empty",
        action="store_true",
        help="empty partitions whose drop files are gone (by default their bronze rows are kept)",
    )
    run.set_defaults(handler=cmd_materialize)

    gen = commands.add_parser("generate", help="write realistic sample drops")
    gen.add_argument("--landing", help="landing folder or s3://bucket/prefix")
    gen.add_argument("--start", type=_date, required=True)
    gen.add_argument("--end", type=_date, required=True)
    gen.add_argument("--orders-per-day", type=int, default=40)
    gen.add_argument("--dirty-rate", type=float, default=0.02)
    gen.add_argument("--files-per-folder", type=int, default=2)
    gen.add_argument("--seed", type=int, default=7)
    gen.set_defaults(handler=cmd_generate)

    land = commands.add_parser("land", help="split a monolithic CSV into drop folders")
    land.add_argument("file")
    land.add_argument(
        "--dataset", required=True, choices=["orders", "payments", "expenses", "budgets"]
    )
    land.add_argument("--landing", help="landing folder or s3://bucket/prefix")
    land.set_defaults(handler=cmd_land)

    quarantine = commands.add_parser(
        "quarantine", help="list rejected rows with file, row and reason"
    )
    quarantine.add_argument("--lake", help="lake folder (default: FINANCE_LAKE_URI or data/lake)")
    quarantine.add_argument(
        "--dataset", choices=["orders", "payments", "expenses", "budgets"], help="one dataset"
    )
    quarantine.add_argument("--start", type=_date, help="first partition date")
    quarantine.add_argument("--end", type=_date, help="last partition date")
    quarantine.add_argument("--reason", help="only this reason code")
    quarantine.add_argument("--limit", type=int, default=0, help="at most this many rows")
    quarantine.add_argument("--summary", action="store_true", help="counts by partition, reason")
    quarantine.add_argument("--format", choices=["table", "csv", "json"], default="table")
    quarantine.set_defaults(handler=cmd_quarantine)

    demo = commands.add_parser("demo", help="generate sample data, materialize it, show gold")
    demo.add_argument("--data-dir", default="data")
    demo.add_argument("--verbose", action="store_true")
    demo.set_defaults(handler=cmd_demo)

    from finance_assets import analytics, bench

    analytics.register_commands(commands)
    bench.register_commands(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.handler(args)
    except CliError as exc:
        print(f"finance-assets: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
