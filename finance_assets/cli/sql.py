"""``finance-assets sql``: run a named analysis, or free SQL, against the lake."""

from __future__ import annotations

import argparse
import json
import sys

from finance_assets.analytics.engine import (
    AnalyticsError,
    MissingTableError,
    TimeTravel,
    default_lake,
)

EXIT_OK, EXIT_DATA, EXIT_USAGE = 0, 1, 2

EPILOG = """\
examples:
  finance-assets sql --list
  finance-assets sql monthly_pnl
  finance-assets sql overspending --param threshold_pct=10 --format csv
  finance-assets sql top_customers_by_paid --param limit=5 --format json
  finance-assets sql --query "SELECT month, revenue FROM monthly_financial_report"
  finance-assets sql monthly_pnl --as-of 2024-05-01T17:30:00
  finance-assets sql --version sales_performance=3 --query "SELECT * FROM sales_performance"

Gold tables are named gold.<table> (or plain <table>); silver tables silver.<dataset>,
quarantined rows quarantine.<dataset>; gold.restatements and control.closed_months hold the
audit trail. Delta tables are read with delta-rs and queried by DuckDB (no Spark, no network).
--as-of reads every table as it was at that time (local time unless an offset is given);
--version TABLE=N reads that table at version N and the others as they were when it was
written (N alone: the one gold table a named analysis reads)."""


def add_parser(commands) -> None:
    parser = commands.add_parser(
        "sql",
        help="run a named SQL analysis (or free SQL) against the lake",
        description="Run a named, versioned SQL analysis over the gold tables, or free SQL.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("name", nargs="?", help="analysis name (see --list)")
    parser.add_argument("--lake", help="lake folder (default: FINANCE_LAKE_URI, then data/lake)")
    parser.add_argument(
        "--param",
        "-p",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="analysis parameter; repeat for several",
    )
    parser.add_argument(
        "--format",
        "-f",
        choices=["table", "csv", "json"],
        default="table",
        help="output format (default: table)",
    )
    parser.add_argument("--list", action="store_true", help="list the analyses and exit")
    parser.add_argument("--query", "-q", metavar="SQL", help="run this SQL instead of an analysis")
    parser.add_argument("--show-sql", action="store_true", help="print the analysis' SQL and exit")
    add_time_travel(parser)
    parser.set_defaults(handler=run_command)


def add_time_travel(parser) -> None:
    """``--as-of`` and ``--version``: read the lake as it was (Delta time travel)."""
    travel = parser.add_mutually_exclusive_group()
    travel.add_argument(
        "--as-of",
        metavar="TIMESTAMP",
        help="read every table as it was then (ISO 8601, e.g. 2024-05-01T17:30:00 or ...Z)",
    )
    travel.add_argument(
        "--version",
        metavar="[TABLE=]N",
        help="read TABLE at Delta version N, the other tables as they were when it was written",
    )


def _analysis_table(name: str) -> tuple[str, str] | None:
    """The gold table a named analysis reads, when it reads exactly one."""
    from finance_assets.analytics.catalog import get

    gold = [tuple(r.split(".", 1)) for r in get(name).reads if r.startswith("gold.")]
    return gold[0] if len(gold) == 1 else None


def _params(pairs: list[str]) -> dict[str, str]:
    params: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise AnalyticsError(f"--param {pair!r} is not KEY=VALUE")
        params[key.strip()] = value.strip()
    return params


def _list(fmt: str) -> str:
    from finance_assets.analytics.catalog import analyses

    catalog = analyses().values()
    if fmt == "json":
        return json.dumps(
            [
                {
                    "name": a.name,
                    "version": a.version,
                    "description": a.description,
                    "reads": list(a.reads),
                    "params": [
                        {"name": p.name, "type": p.type, "default": p.default, "help": p.help}
                        for p in a.params
                    ],
                }
                for a in catalog
            ],
            indent=2,
        )
    lines = []
    for a in catalog:
        lines.append(f"{a.name} (v{a.version}) reads {', '.join(a.reads)}")
        lines.append(f"    {a.description}")
        lines += [f"    --param {p.describe()}" for p in a.params]
    return "\n".join(lines)


def run_command(args) -> int:
    """The ``sql`` subcommand: prints the result and returns the exit code."""
    from finance_assets.analytics import catalog
    from finance_assets.analytics.output import render

    try:
        if args.list:
            print(_list(args.format))
            return EXIT_OK
        if args.query and args.name:
            raise AnalyticsError("give an analysis NAME or --query, not both")
        if args.query:
            if args.param:
                raise AnalyticsError("--param only applies to named analyses")
            travel = TimeTravel.parse(args.as_of, args.version)
            result = catalog.run_query(args.query, args.lake or default_lake(), travel)
        elif args.name:
            if args.show_sql:
                print(catalog.get(args.name).sql.rstrip())
                return EXIT_OK
            travel = TimeTravel.parse(args.as_of, args.version, _analysis_table(args.name))
            result = catalog.run_analysis(
                args.name, args.lake or default_lake(), _params(args.param), travel
            )
        else:
            raise AnalyticsError("give an analysis NAME, --query SQL or --list")
    except MissingTableError as exc:
        print(f"finance-assets sql: error: {exc}", file=sys.stderr)
        return EXIT_DATA
    except AnalyticsError as exc:
        print(f"finance-assets sql: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    print(render(result, args.format))
    return EXIT_OK
