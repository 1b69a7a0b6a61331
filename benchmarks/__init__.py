"""Benchmarks: figures measured side by side with baselines (``finance-assets bench``).

Nothing heavy is imported here: the plain PySpark baseline imports this package and must
never load Dagster.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from datetime import date
from pathlib import Path


def _scales(text: str) -> tuple[int, ...]:
    try:
        values = tuple(int(x) for x in text.split(",") if x.strip())
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{text!r} is not a list like 1,4,16") from exc
    if any(v < 1 for v in values):
        raise argparse.ArgumentTypeError(f"{text!r}: every value must be a positive integer")
    return values


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text} must be at least 1")
    return value


def _cmd_bench(args) -> int:
    from benchmarks.run import BenchConfig, main, report_saved

    if args.report:
        return report_saved(Path(args.report), [Path(p) for p in args.markdown])

    config = BenchConfig(
        days=args.days,
        orders_per_day=args.orders_per_day,
        start=args.start,
        scales=args.scales,
        scale_days=args.scale_days,
        scale_orders_per_day=args.scale_orders_per_day,
        history_days=args.history_days,
        warm_repeats=args.warm_repeats,
        work_dir=Path(args.work_dir),
        out=Path(args.out),
        skip_baselines=args.skip_baselines,
        skip_incremental=args.skip_incremental,
        empty_dataset=args.empty_dataset,
        markdown=[Path(p) for p in args.markdown],
        seed=args.seed,
        command="finance-assets " + shlex.join(sys.argv[1:]),
    )
    return main(config)


def register_commands(commands) -> None:
    """Add the ``bench`` subcommand to the CLI's subparsers."""
    bench = commands.add_parser(
        "bench",
        help="benchmark a backfill against plain PySpark and DuckDB, print the figures",
        description=(
            "Generate drops (default: one year at 50,000 orders a day, plus the next two days), "
            "materialize the year as one backfill, run the idiomatic PySpark, same-parser "
            "PySpark and DuckDB baselines on the same files, time the next day on lakes of "
            "several history lengths (fresh process, then warm), time a day without one "
            "dataset's drop (an empty partition), and measure peak memory "
            "of the product at 1x, 4x and 16x of a small scale. Each engine runs in its own "
            "process. Prints a table, each target met or not, and writes JSON."
        ),
    )
    bench.add_argument("--days", type=_positive, default=365, help="days in the backfill")
    bench.add_argument(
        "--orders-per-day", type=_positive, default=50_000, help="orders a day (default 50,000)"
    )
    bench.add_argument(
        "--start",
        type=date.fromisoformat,
        default=date(2024, 1, 1),
        metavar="YYYY-MM-DD",
        help="first day, an ISO date such as 2024-01-31 (default 2024-01-01)",
    )
    bench.add_argument(
        "--scales",
        type=_scales,
        default=(1, 4, 16),
        help="memory-scaling multipliers of --scale-orders-per-day ('' to skip)",
    )
    bench.add_argument(
        "--scale-days", type=_positive, default=7, help="days of each memory-scaling run"
    )
    bench.add_argument(
        "--scale-orders-per-day",
        type=_positive,
        default=2_000,
        help="orders a day of the 1x memory-scaling run",
    )
    bench.add_argument(
        "--history-days",
        type=_scales,
        default=(30, 182),
        help="shorter history lengths (days) to time the same next day on, besides --days "
        "(comma-separated; the days just before it, backfilled into a lake of its own first)",
    )
    bench.add_argument(
        "--warm-repeats",
        type=int,
        default=1,
        help="times the incremental day is run again in the same, warm process",
    )
    bench.add_argument("--work-dir", default="data/bench", help="generated data and outputs")
    bench.add_argument("--out", default="data/bench/bench.json", help="results as JSON")
    bench.add_argument("--skip-baselines", action="store_true", help="product only")
    bench.add_argument(
        "--skip-incremental",
        action="store_true",
        help="do not time the incremental day (nor the empty partition)",
    )
    bench.add_argument(
        "--empty-dataset",
        choices=["orders", "payments", "expenses"],
        default="expenses",
        help="the dataset without a drop on the day after the incremental day (default expenses)",
    )
    bench.add_argument(
        "--markdown",
        action="append",
        default=[],
        metavar="FILE",
        help="rewrite the results block of this Markdown file (repeatable)",
    )
    bench.add_argument("--seed", type=int, default=7, help="random seed of the generated drops")
    bench.add_argument(
        "--report",
        metavar="JSON",
        help="run nothing: report the results saved in this file again (with --markdown)",
    )
    bench.set_defaults(handler=_cmd_bench)
