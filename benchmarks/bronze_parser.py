"""Bronze parsing speed: the strict Python parser against the Arrow parser, same files.

Generates drops (by default 7 days at 50,000 orders a day with the default dirty rate),
then parses every file with each parser in this one process (no Spark) and prints rows
per second for both, checks that they give identical rows, and counts the files that
took the fast path. ``--spark`` also times the whole bronze step in local Spark on 2 cores
with each parser: parse in Spark tasks, stamp, write the Delta partitions and read them
back, as the bronze asset does (without Dagster).

    .venv/bin/python benchmarks/bronze_parser.py [--days 7] [--orders-per-day 50000]
        [--dirty-rate 0.02] [--repeat 3] [--spark] [--workdir /tmp/x]
"""

from __future__ import annotations

import argparse
import io
import shutil
import tempfile
import time
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pyarrow as pa

from finance_assets.bronze import arrow_parser, transforms
from finance_assets.contract import DATASETS
from finance_assets.landing.generate import GenerateConfig, generate

START = date(2024, 3, 1)


def load(landing: Path) -> list[tuple[str, date, tuple[str, ...], bytes]]:
    files = []
    for path in sorted(landing.rglob("*.csv")):
        dataset = DATASETS[path.relative_to(landing).parts[0]]
        day = date.fromisoformat(path.parent.name)
        files.append((path.resolve().as_uri(), day, dataset.columns, path.read_bytes()))
    return files


def python_parse(uri, day, columns, data) -> list[pa.RecordBatch]:
    schema = arrow_parser.bronze_arrow_schema(columns)
    return list(transforms._parse_stream(io.BytesIO(data), uri, day, columns, schema))


def arrow_parse(uri, day, columns, data, report=None) -> list[pa.RecordBatch]:
    return list(arrow_parser.parse_file(io.BytesIO(data), uri, day, columns, report=report))


def best_seconds(parse, files, repeat: int) -> tuple[float, int]:
    best, rows = float("inf"), 0
    for _ in range(repeat):
        started = time.perf_counter()
        rows = sum(b.num_rows for f in files for b in parse(*f))
        best = min(best, time.perf_counter() - started)
    return best, rows


def spark_seconds(workdir: Path, landing: Path, days: int, repeat: int) -> dict[str, float]:
    """Seconds (best of ``repeat``) of the bronze step for every dataset, per parser: what the
    bronze asset does (parse in Spark tasks, stamp, replace the Delta partitions, read them
    back for the files without rows), in local Spark on 2 cores, without Dagster."""
    from finance_assets.contract import PARTITION_COLUMN
    from finance_assets.defs.bronze.assets import rows_per_file
    from finance_assets.lake import tables
    from finance_assets.lake.delta import DeltaRsLake, PartitionRange
    from finance_assets.lake.spark import build_session, local_spark_config
    from finance_assets.landing.zone import list_files

    spark = build_session("local", local_spark_config("local[2]", "2g", 2))
    where = PartitionRange(PARTITION_COLUMN, START.replace(day=1), START + timedelta(days - 1))
    listed = [
        (dataset, list_files(str(landing), name, where.start, where.end))
        for name, dataset in DATASETS.items()
    ]
    best: dict[str, float] = {}
    for _ in range(max(1, repeat)):
        for parser in ("python", "arrow"):
            lake = DeltaRsLake(str(workdir / f"lake-{parser}"))
            started = time.perf_counter()
            for dataset, files in listed:
                parsed = transforms.read_landing(spark, files, dataset, parser=parser)
                stamped = transforms.with_ingestion_stamp(
                    parsed, dataset, datetime.now(timezone.utc), "bench"
                )
                table = tables.bronze(dataset)
                result = lake.replace_partitions(stamped, table.path, where)
                rows_per_file(lake, table, result, where)
            seconds = time.perf_counter() - started
            best[parser] = min(best.get(parser, seconds), seconds)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--days", type=int, default=7)
    parser.add_argument("--orders-per-day", type=int, default=50_000)
    parser.add_argument("--dirty-rate", type=float, default=GenerateConfig.dirty_rate)
    parser.add_argument("--seed", type=int, default=GenerateConfig.seed)
    parser.add_argument("--repeat", type=int, default=3, help="best of N timings")
    parser.add_argument("--spark", action="store_true", help="also time the Spark bronze read")
    parser.add_argument("--workdir", type=Path)
    args = parser.parse_args()

    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="bronze-parser-"))
    landing = workdir / "landing"
    shutil.rmtree(landing, ignore_errors=True)
    config = GenerateConfig(
        start=START,
        end=START + timedelta(days=args.days - 1),
        orders_per_day=args.orders_per_day,
        dirty_rate=args.dirty_rate,
        seed=args.seed,
    )
    started = time.perf_counter()
    generate(str(landing), config)
    files = load(landing)
    size = sum(len(f[3]) for f in files)
    print(
        f"generated {len(files)} files, {size / 1e6:.1f} MB ({args.days} days at "
        f"{args.orders_per_day:,} orders a day, dirty rate {args.dirty_rate}) "
        f"in {time.perf_counter() - started:.1f} s"
    )

    fast_files = fast_rows = strict_rows = 0
    fallbacks: dict[str, int] = {}
    for uri, day, columns, data in files:
        report = arrow_parser.ParseReport()
        got = pa.Table.from_batches(
            arrow_parse(uri, day, columns, data, report),
            schema=arrow_parser.bronze_arrow_schema(columns),
        )
        expected = pa.Table.from_batches(python_parse(uri, day, columns, data), schema=got.schema)
        if not got.equals(expected):
            raise SystemExit(f"the parsers disagree on {uri}")
        fast_files += report.fast
        fast_rows += report.fast_rows
        strict_rows += report.strict_rows
        if report.fallback:
            fallbacks[report.fallback] = fallbacks.get(report.fallback, 0) + 1
    print(f"identical bronze rows from both parsers on all {len(files)} files")
    print(
        f"fast path: {fast_files}/{len(files)} files ({fast_files / len(files):.1%}), "
        f"{fast_rows / max(1, fast_rows + strict_rows):.1%} of rows"
        + (f"; fell back: {fallbacks}" if fallbacks else "")
    )

    timings = {}
    for name, parse in (("python", python_parse), ("arrow", arrow_parse)):
        seconds, rows = best_seconds(parse, files, args.repeat)
        timings[name] = seconds
        print(
            f"{name:>6} parser: {rows:>10,} rows in {seconds:6.2f} s = "
            f"{rows / seconds:>12,.0f} rows/s ({size / seconds / 1e6:6.1f} MB/s)"
        )
    print(f"speed-up: {timings['python'] / timings['arrow']:.1f}x (best of {args.repeat})")

    if args.spark:
        total = fast_rows + strict_rows
        for name, seconds in spark_seconds(workdir, landing, args.days, args.repeat).items():
            print(
                f"spark bronze step, {name:>6} parser: {total:>10,} rows in {seconds:6.2f} s "
                f"= {total / seconds:>10,.0f} rows/s (local[2], best of {args.repeat})"
            )


if __name__ == "__main__":
    main()
