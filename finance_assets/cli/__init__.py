"""``finance-assets``: materialize the pipeline, generate or land drops, query the lake."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import date
from importlib import metadata
from pathlib import Path

from finance_assets.settings import ConfigError

__all__ = ["build_parser", "main", "materialize"]


def __getattr__(name: str):
    # Dagster and Spark are imported when a command needs them, not for --help.
    if name in ("materialize", "CliError", "RunOutcome", "report"):
        import importlib

        return getattr(importlib.import_module("finance_assets.cli.runs"), name)
    raise AttributeError(name)


DATASET_NAMES = ["orders", "payments", "expenses", "budgets"]


class Parser(argparse.ArgumentParser):
    """argparse, but a bad argument is one line (no usage block), exit code 2."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date YYYY-MM-DD") from None


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text} must be at least 1")
    return value


def _port(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number 1-65535")
    return int(text)


def _rate(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"{text} must be between 0 and 1")
    return value


def _version() -> str:
    try:
        return metadata.version("finance-assets")
    except metadata.PackageNotFoundError:
        return "unknown"


def cmd_materialize(args) -> int:
    from finance_assets.cli.progress import Progress
    from finance_assets.cli.runs import CliError, materialize, report
    from finance_assets.settings import Settings

    settings = Settings.load(landing_uri=args.landing, lake_uri=args.lake)
    missing = [
        flag
        for flag, field in (("--landing", "landing_uri"), ("--lake", "lake_uri"))
        if field not in settings.model_fields_set
    ]
    if missing:
        raise CliError(
            f"{' and '.join(missing)} not given (or set FINANCE_LANDING_URI / FINANCE_LAKE_URI)"
        )
    output = "json" if args.json else "quiet" if args.quiet else "text"
    if output == "text":
        print(
            f"Materializing {args.start}..{args.end} from {settings.landing_uri} "
            f"into {settings.lake_uri}"
        )
    outcome = materialize(
        settings.landing_uri,
        settings.lake_uri,
        args.start,
        args.end,
        args.verbose,
        args.replace_empty,
        progress=Progress() if output == "text" else None,
    )
    return report(outcome, output)


def start_spark_early() -> None:
    """Start the local JVM of a ``materialize`` or ``demo`` before the commands import Dagster
    and the definitions (seconds of a fresh process, spent on the other core meanwhile). The
    session's settings come from the environment alone; settings that do not load are
    reported by the command itself."""
    from finance_assets.lake.spark import start_session_early
    from finance_assets.settings import Settings

    try:
        start_session_early(Settings.load())
    except ConfigError:
        return


def _range(parser: argparse.ArgumentParser, required: bool) -> None:
    parser.add_argument(
        "--start",
        type=_date,
        required=required,
        metavar="YYYY-MM-DD",
        help="first day, an ISO date such as 2024-01-31",
    )
    parser.add_argument(
        "--end",
        type=_date,
        required=required,
        metavar="YYYY-MM-DD",
        help="last day, inclusive, an ISO date such as 2024-01-31",
    )


def _materialize_parser(commands) -> None:
    run = commands.add_parser(
        "materialize",
        help="materialize every asset for a date range, with all checks",
        description=(
            "Materialize bronze, silver and gold for every day in the range, then every month "
            "it touches, with every check, printing one line per finished step. Exit 0 when "
            "every blocking check passed, 1 when a step or blocking check failed (the failure "
            "is alerted like a daemon run's), 2 on a usage or configuration error (nothing "
            "written)."
        ),
    )
    run.add_argument(
        "--landing", help="landing folder or s3://bucket/prefix (default: FINANCE_LANDING_URI)"
    )
    run.add_argument("--lake", help="lake folder (default: FINANCE_LAKE_URI)")
    _range(run, required=True)
    shown = run.add_mutually_exclusive_group()
    shown.add_argument(
        "--verbose", action="store_true", help="also show Dagster's run log (on stderr)"
    )
    shown.add_argument(
        "--quiet", action="store_true", help="print nothing but errors; the exit code tells"
    )
    shown.add_argument(
        "--json",
        action="store_true",
        help="print one JSON summary at the end (status, runs, rows per asset, failed checks, "
        "late-payment days brought up to date, exit code) instead of progress",
    )
    run.add_argument(
        "--replace-empty",
        action="store_true",
        help="empty partitions whose drop files are gone (by default their bronze rows are kept)",
    )
    run.set_defaults(handler=cmd_materialize)


def _data_parsers(commands) -> None:
    from finance_assets.cli import commands as c

    gen = commands.add_parser(
        "generate",
        help="write realistic sample drops",
        description="Write deterministic sample drops (dirt included) into a landing zone.",
    )
    gen.add_argument(
        "--landing", help="landing folder or s3://bucket/prefix (default: FINANCE_LANDING_URI)"
    )
    _range(gen, required=True)
    gen.add_argument("--orders-per-day", type=_count, default=40, help="orders a day (default 40)")
    gen.add_argument(
        "--dirty-rate", type=_rate, default=0.02, help="share of broken rows, 0..1 (default 0.02)"
    )
    gen.add_argument(
        "--files-per-folder", type=_count, default=2, help="files per drop folder (default 2)"
    )
    gen.add_argument("--seed", type=int, default=7, help="random seed: same seed, same bytes")
    gen.set_defaults(handler=c.cmd_generate)

    land = commands.add_parser(
        "land",
        help="split a monolithic CSV into drop folders",
        description="Split a seed-style CSV with every date (orders_raw.csv) into drop folders.",
    )
    land.add_argument("file", help="the CSV file to split")
    land.add_argument("--dataset", required=True, choices=DATASET_NAMES, help="what the file holds")
    land.add_argument(
        "--landing", help="landing folder or s3://bucket/prefix (default: FINANCE_LANDING_URI)"
    )
    land.set_defaults(handler=c.cmd_land)

    quarantine = commands.add_parser(
        "quarantine",
        help="list rejected rows with file, row and reason",
        description="List quarantined rows, or count them by dataset, partition and reason.",
    )
    quarantine.add_argument("--lake", help="lake folder (default: FINANCE_LAKE_URI or data/lake)")
    quarantine.add_argument("--dataset", choices=DATASET_NAMES, help="one dataset")
    _range(quarantine, required=False)
    quarantine.add_argument("--reason", help="only this reason code, e.g. invalid_amount")
    quarantine.add_argument(
        "--limit", type=_count, help="at most this many rows (default: all)", default=None
    )
    quarantine.add_argument(
        "--summary", action="store_true", help="counts by dataset, partition and reason"
    )
    quarantine.add_argument(
        "--format",
        choices=["table", "csv", "json"],
        default="table",
        help="output format (default: table)",
    )
    quarantine.set_defaults(handler=c.cmd_quarantine)

    demo = commands.add_parser(
        "demo",
        help="generate sample data ending yesterday, materialize it, show gold",
        description=(
            "Generate two months of sample drops ending yesterday (once), materialize them into "
            "this checkout's Dagster instance and print a gold summary."
        ),
    )
    demo.add_argument(
        "--data-dir", default="data", help="where landing/ and lake/ go (default: data)"
    )
    demo.add_argument("--orders-per-day", type=_count, default=40, help="orders a day (default 40)")
    demo.add_argument(
        "--verbose", action="store_true", help="also show Dagster's run log (on stderr)"
    )
    demo.set_defaults(handler=c.cmd_demo)


def _dev_parser(commands) -> None:
    from finance_assets.cli.dev import cmd_dev

    dev = commands.add_parser(
        "dev",
        help="start the Dagster UI on this checkout's instance (dg dev)",
        description=(
            "Run `dg dev` with DAGSTER_HOME set to the instance the CLI records runs in "
            "(the one `finance-assets demo` filled); Ctrl-C stops every process it started. "
            "Example: finance-assets dev --port 3001 -- --log-level debug"
        ),
    )
    dev.add_argument("--host", help="the webserver's host (default 127.0.0.1)")
    dev.add_argument("--port", type=_port, help="the webserver's port (default 3000)")
    dev.add_argument("dg_args", nargs=argparse.REMAINDER, help="after --: more options for dg dev")
    dev.set_defaults(handler=cmd_dev)


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="finance-assets", description=__doc__)
    parser.add_argument(
        "--version",
        action="version",
        version=f"%(prog)s {_version()}",
        help="print the version and exit",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _materialize_parser(commands)
    _data_parsers(commands)
    _dev_parser(commands)
    from finance_assets.cli import closing, explain, maintain, sql

    sql.add_parser(commands)
    explain.add_parser(commands)
    closing.add_parsers(commands)
    maintain.add_parser(commands)
    _bench_parser(commands)
    return parser


def _bench_parser(commands) -> None:
    """``bench``, when running from a source checkout: the benchmarks ship with the
    checkout (next to the package), not with the wheel."""
    checkout = Path(__file__).resolve().parents[2]
    if (checkout / "benchmarks" / "__init__.py").is_file() and str(checkout) not in sys.path:
        sys.path.append(str(checkout))
    try:
        import benchmarks
    except ImportError:
        return
    benchmarks.register_commands(commands)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] in (["materialize"], ["demo"]):
        start_spark_early()
    from finance_assets.cli.runs import CliError

    args = build_parser().parse_args(argv)
    try:
        return args.handler(args)
    except (CliError, ConfigError) as exc:
        message = str(exc).replace("\n", " ")
        print(f"finance-assets: error: {message}", file=sys.stderr)
        if getattr(args, "json", False):
            print(json.dumps({"status": "error", "exit_code": 2, "error": message}))
        return 2


if __name__ == "__main__":
    sys.exit(main())
