"""``finance-assets maintain``: compact every lake table's small files and delete the files
replaced longer ago than the retention, now (the ``lake_maintenance`` job, run in this process
and recorded in the CLI's Dagster instance, so it waits for any run writing the same table)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

EXIT_OK, EXIT_FAILED = 0, 1

EPILOG = """\
examples:
  finance-assets maintain --dry-run
  finance-assets maintain
  finance-assets maintain --retention-hours 24

Each table is compacted (small files of a partition rewritten into one; the rows and what
incremental gold sees as changed stay the same) and vacuumed: files that no version younger
than the retention references are deleted. Time travel (sql --as-of/--version, explain
--as-of) cannot read a version whose files were deleted. The retention defaults to
FINANCE_VACUUM_RETENTION_HOURS (168 h, Delta's own minimum); a shorter one is taken as the
explicit choice it is and said so. --dry-run compacts nothing and lists what would be deleted.
Exit 0 when every table was maintained, 1 when a table's step failed, 2 on a usage or
configuration error (nothing done)."""


def _hours(text: str) -> int:
    if not text.strip().isdigit():
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of hours (0 or more)")
    return int(text)


def add_parser(commands) -> None:
    parser = commands.add_parser(
        "maintain",
        help="compact small files and delete replaced files older than the retention",
        description="Compact and vacuum every table of the lake (the lake_maintenance job).",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--lake", help="lake folder (default: FINANCE_LAKE_URI, then data/lake)")
    parser.add_argument(
        "--retention-hours",
        type=_hours,
        metavar="N",
        help="delete files replaced more than N hours ago "
        "(default: FINANCE_VACUUM_RETENTION_HOURS, else 168)",
    )
    parser.add_argument(
        "--dry-run", action="store_true", help="list what would be deleted; change nothing"
    )
    parser.add_argument(
        "--verbose", action="store_true", help="also show Dagster's run log (on stderr)"
    )
    parser.set_defaults(handler=cmd_maintain)


def cmd_maintain(args) -> int:
    from finance_assets.automation.maintenance import MAINTENANCE_JOB
    from finance_assets.cli.instance import open_instance, release_dead_runs
    from finance_assets.cli.progress import Progress
    from finance_assets.cli.runs import CliError, CliRun, RunOutcome
    from finance_assets.definitions import load_definitions
    from finance_assets.lake.maintenance import retention_warning
    from finance_assets.settings import Settings

    settings = Settings.load(lake_uri=args.lake, vacuum_retention_hours=args.retention_hours)
    lake, hours = settings.lake_uri, settings.vacuum_retention_hours
    if "://" not in lake and not Path(lake).is_dir():
        raise CliError(f"no lake at {lake!r}: give --lake or set FINANCE_LAKE_URI")
    defs = load_definitions(settings)
    job = defs.resolve_job_def(MAINTENANCE_JOB)
    config = {"retention_hours": hours, "dry_run": args.dry_run}
    run_config = {"ops": {node.name: {"config": config} for node in job.graph.nodes}}
    instance = open_instance(settings.instance_home)
    outcome = RunOutcome(released_runs=release_dead_runs(instance))
    dry = ", dry run: nothing is changed" if args.dry_run else ""
    print(f"Maintaining {len(job.graph.nodes)} tables of {lake} (retention {hours} h{dry})")
    warning = retention_warning(hours)
    if warning:
        print(f"finance-assets maintain: warning: {warning}", file=sys.stderr)
    cli = CliRun(instance, settings, args.verbose, Progress())
    result = cli.op_job(defs, MAINTENANCE_JOB, run_config, outcome)
    done = [
        result.output_for_node(node.name)
        for node in job.graph.nodes
        if result.is_node_success(node.name)
    ]
    print(_totals(done, args.dry_run))
    if not result.success:
        print("Failed steps:", file=sys.stderr)
        for step in outcome.failed_steps:
            print(f"  {step}", file=sys.stderr)
        return EXIT_FAILED
    return EXIT_OK


def _totals(done: list[dict], dry_run: bool) -> str:
    """One line: what the tables' steps did together."""
    from finance_assets.lake.maintenance import human_size

    vacuumed = sum(d.get("files_vacuumed", 0) for d in done)
    size = human_size(sum(d.get("bytes_vacuumed") or 0 for d in done))
    if dry_run:
        return f"Would delete {vacuumed} files ({size}) in {len(done)} tables; nothing changed."
    removed = sum(d.get("files_compacted", 0) for d in done)
    added = sum(d.get("files_written", 0) for d in done)
    return (
        f"Compacted {removed} files into {added} and deleted {vacuumed} files ({size}) "
        f"in {len(done)} tables."
    )
