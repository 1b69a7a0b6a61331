"""``finance-assets explain``: the silver rows behind a gold figure, and that they add up."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from finance_assets.analytics.engine import (
    AnalyticsError,
    TimeTravel,
    default_lake,
    table_location,
)
from finance_assets.cli.sql import add_time_travel

EXIT_OK, EXIT_DEFECT, EXIT_USAGE = 0, 1, 2

EPILOG = """\
examples:
  finance-assets explain daily_kpi --partition 2024-01-05 --column revenue
  finance-assets explain sales_performance --partition 2024-01-05 --key 1042 --column total_paid
  finance-assets explain monthly_financial_report --partition 2024-01 --column profit
  finance-assets explain budget_vs_actual --partition 2024-01 --key Sales --column variance
  finance-assets explain customer_360 --key C1042 --column outstanding_amount --format json
  finance-assets explain daily_kpi --partition 2024-01-05 --column revenue --as-of 2024-01-06

Lists the silver rows that make up the published value, each with its _source_file and
_source_row, and says whether they add up to it exactly (exit 0) or by how much they do not
(exit 1: a defect). Quarantined rows that would have counted are listed apart. Exit 2: an
unknown table, column, partition or key, or no lake there. The keys: sales_performance
order_id, unmatched_payments payment_id, budget_vs_actual department, customer_360
customer_id (not partitioned)."""


def add_parser(commands) -> None:
    parser = commands.add_parser(
        "explain",
        help="list the silver rows behind a gold figure and show they add up to it",
        description="Explain a published gold figure down to its source rows.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("table", help="gold table, e.g. daily_kpi")
    parser.add_argument("--partition", "-p", help="its day YYYY-MM-DD or month YYYY-MM")
    parser.add_argument("--key", "-k", help="the row's key, for tables with several rows a day")
    parser.add_argument("--column", "-c", required=True, help="the figure, e.g. revenue")
    parser.add_argument("--lake", help="lake folder (default: FINANCE_LAKE_URI, then data/lake)")
    parser.add_argument(
        "--format",
        "-f",
        choices=["table", "csv", "json"],
        default="table",
        help="table (default), csv or json; every row with its _source_file and _source_row",
    )
    add_time_travel(parser)
    parser.set_defaults(handler=run_command)


def run_command(args) -> int:
    from finance_assets.analytics.explain import explain, figure_for
    from finance_assets.analytics.explain_output import render

    lake = args.lake or default_lake()
    try:
        figure = figure_for(args.table, args.column, args.partition, args.key)
        if not Path(table_location(lake, "gold", figure.table), "_delta_log").is_dir():
            raise AnalyticsError(
                f"no gold/{figure.table} table in the lake {lake!r}: materialize it first or "
                "point --lake (FINANCE_LAKE_URI) at a lake that has it"
            )
        travel = TimeTravel.parse(args.as_of, args.version, ("gold", figure.table))
        explanation = explain(lake, figure, travel)
    except AnalyticsError as exc:
        print(f"finance-assets explain: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    print(render(explanation, args.format))
    return EXIT_OK if explanation.ties else EXIT_DEFECT
