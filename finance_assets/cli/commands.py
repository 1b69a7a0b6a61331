"""``generate``, ``land``, ``quarantine`` and ``demo``."""

from __future__ import annotations

import sys
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from finance_assets.analytics.engine import LakeNotFoundError, require_lake
from finance_assets.analytics.summary import print_gold_summary
from finance_assets.automation.freshness import FRESHNESS_JOB
from finance_assets.automation.tags import TRIGGER_TAG
from finance_assets.checks import quarantine_report as quarantine
from finance_assets.cli.instance import open_instance, process_tags
from finance_assets.cli.progress import Progress
from finance_assets.cli.runs import (
    CLI,
    CliError,
    console_logging,
    deployment_settings,
    materialize,
    report,
)
from finance_assets.definitions import load_definitions
from finance_assets.landing.generate import GenerateConfig, generate
from finance_assets.landing.land import land_file
from finance_assets.landing.resource import landing_s3_options
from finance_assets.settings import Settings


def cmd_generate(args) -> int:
    settings = Settings.load(landing_uri=args.landing)
    if args.end < args.start:
        raise CliError(f"--end {args.end} is before --start {args.start}")
    try:
        config = GenerateConfig(
            start=args.start,
            end=args.end,
            orders_per_day=args.orders_per_day,
            dirty_rate=args.dirty_rate,
            files_per_folder=args.files_per_folder,
            seed=args.seed,
        )
    except ValueError as exc:
        raise CliError(str(exc)) from None
    try:
        counts = generate(settings.landing_uri, config, landing_s3_options(settings))
    except OSError as exc:
        raise CliError(f"cannot write sample drops into {settings.landing_uri}: {exc}") from None
    for dataset, rows in counts.items():
        print(f"  {dataset:<10} {rows:>10,} rows")
    return 0


def cmd_land(args) -> int:
    settings = Settings.load(landing_uri=args.landing)
    try:
        written = land_file(
            args.file, args.dataset, settings.landing_uri, landing_s3_options(settings)
        )
    except (ValueError, FileNotFoundError) as exc:
        raise CliError(str(exc)) from exc
    print(f"Landed {sum(written.values()):,} rows into {len(written)} {args.dataset} folder(s)")
    return 0


def cmd_quarantine(args) -> int:
    """List rejected rows (file, row, reason), or count them by dataset, partition and reason."""
    try:
        lake = require_lake(Settings.load(lake_uri=args.lake).lake_uri)
    except LakeNotFoundError as exc:
        raise CliError(str(exc)) from None
    datasets = [args.dataset] if args.dataset else list(quarantine.DATASETS)
    rows = quarantine.rejected_rows(lake, datasets, args.start, args.end, args.reason)
    if args.summary:
        columns = ("dataset", "partition_date", "_reason", "rows")
        quarantine.write(quarantine.summarize(rows), columns, args.format)
    else:
        quarantine.write(
            rows[: args.limit] if args.limit else rows, quarantine.COLUMNS, args.format
        )
    if not rows:
        print("No quarantined rows match.", file=sys.stderr)
    return 0


def demo_range(timezone: str, today: date | None = None) -> tuple[date, date]:
    """The demo's days: from the first of last month to yesterday (in ``timezone``), so the
    UI's default partition window shows them and the freshness checks pass."""
    today = today or datetime.now(ZoneInfo(timezone)).date()
    end = today - timedelta(days=1)
    start = (end.replace(day=1) - timedelta(days=1)).replace(day=1)
    return start, end


def cmd_demo(args) -> int:
    """Generate sample drops (the days missing), materialize them and print a gold summary."""
    landing, lake = Path(args.data_dir, "landing"), Path(args.data_dir, "lake")
    start, end = demo_range(Settings.load().timezone)
    if not (landing / "orders" / end.isoformat()).exists():
        print(f"Generating sample drops for {start}..{end} into {landing}")
        generate(
            str(landing), GenerateConfig(start=start, end=end, orders_per_day=args.orders_per_day)
        )
    print(f"Materializing {start}..{end} into {lake}")
    outcome = materialize(str(landing), str(lake), start, end, args.verbose, progress=Progress())
    status = report(outcome)
    if outcome.succeeded:
        settings = deployment_settings(str(landing), str(lake), start, end)
        _evaluate_freshness(settings, args.verbose)
        print_gold_summary(str(lake))
        print(
            f"\nRuns, partitions and checks are recorded in {settings.instance_home}. "
            "See them in the Dagster UI: make dev (or finance-assets dev), "
            "then open http://127.0.0.1:3000"
        )
    return status


def _evaluate_freshness(settings: Settings, verbose: bool) -> None:
    """Run the freshness checks once, so the UI shows them evaluated right after the demo."""
    job = load_definitions(settings).resolve_job_def(FRESHNESS_JOB)
    result = job.execute_in_process(
        instance=open_instance(settings.instance_home),
        raise_on_error=False,
        tags={TRIGGER_TAG: CLI, **process_tags()},
        run_config={"loggers": console_logging(verbose)},
    )
    stale = [e for e in result.get_asset_check_evaluations() if not e.passed]
    print(
        f"\nFreshness: {len(stale)} stale gold table(s)" if stale else "\nFreshness: all gold fresh"
    )
