"""Where one incremental day spends its time: Spark jobs per step, and where they come from.

Generates ``--days`` of drops plus the next day, materializes the history (one backfill),
then materializes the new day in the same process (``finance-assets materialize``'s code
path) and prints, per Dagster step, its wall seconds and the Spark jobs submitted while it
ran, with the Python line that submitted each job (Spark records PySpark's call site).
Also counts py4j round trips. A development tool, not a benchmark figure:

    .venv/bin/python -m benchmarks.profile_day --days 30 --orders-per-day 200

With ``--empty expenses``, no expenses drop lands on the profiled days (an empty partition).
To see what a fresh process pays, build the history once with ``--history-only``, then profile
the next day in a new process with ``--reuse-lake`` (copy the lake first to repeat it).
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import shutil
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path


def spark_jobs(spark) -> list[dict]:
    """Every job the status store still holds: id, call site, submission and end (s)."""
    store = spark.sparkContext._jsc.sc().statusStore()
    jobs = store.jobsList(None)
    found = []
    for i in range(jobs.size()):
        job = jobs.apply(i)
        submitted = job.submissionTime()
        ended = job.completionTime()
        found.append(
            {
                "id": job.jobId(),
                "name": job.name(),
                "submitted": submitted.get().getTime() / 1000 if submitted.isDefined() else None,
                "ended": ended.get().getTime() / 1000 if ended.isDefined() else None,
            }
        )
    return sorted(found, key=lambda j: j["id"])


class Py4jCounter:
    """Counts py4j commands sent from this process."""

    def __init__(self) -> None:
        from py4j import clientserver

        self.count = 0
        self.sites: dict[str, list] = collections.defaultdict(lambda: [0, 0.0])
        self._cls = clientserver.ClientServerConnection
        self._original = self._cls.send_command
        counter = self

        def send_command(conn, command):
            counter.count += 1
            started = time.perf_counter()
            try:
                return counter._original(conn, command)
            finally:
                site = counter.sites[_product_frame()]
                site[0] += 1
                site[1] += time.perf_counter() - started

        self._cls.send_command = send_command

    def close(self) -> None:
        self._cls.send_command = self._original


def _product_frame() -> str:
    """The innermost product function on the stack (file:function)."""
    frame = sys._getframe(2)
    while frame is not None:
        name = frame.f_code.co_filename
        if "/finance_assets/" in name:
            return f"{name.rsplit('/finance_assets/', 1)[1]}:{frame.f_code.co_name}"
        frame = frame.f_back
    return "(outside the product)"


def step_windows(instance, run_id: str) -> dict[str, tuple[float, float]]:
    starts, ends = {}, {}
    for entry in instance.all_logs(run_id):
        event = entry.dagster_event
        if event is None or event.step_key is None:
            continue
        if event.event_type_value == "STEP_START":
            starts[event.step_key] = entry.timestamp
        elif event.event_type_value in ("STEP_SUCCESS", "STEP_FAILURE"):
            ends[event.step_key] = entry.timestamp
    return {k: (starts[k], ends.get(k, starts[k])) for k in starts}


def profile(landing: Path, lake: Path, day: date, spark) -> dict:
    import finance_assets.cli.runs as cli
    from benchmarks.product import recording_runs

    before = {j["id"] for j in spark_jobs(spark)}
    counter = Py4jCounter()
    t0 = time.perf_counter()
    try:
        with recording_runs() as (runs, instances):
            outcome = cli.materialize(str(landing), str(lake), day, day)
    finally:
        counter.close()
    wall = time.perf_counter() - t0
    jobs = [j for j in spark_jobs(spark) if j["id"] not in before]
    windows = {}
    for result in runs:
        windows.update(step_windows(instances[-1], result.run_id))
    steps = {}
    for key, (start, end) in sorted(windows.items(), key=lambda kv: kv[1][0]):
        mine = [j for j in jobs if j["submitted"] and start <= j["submitted"] <= end]
        sites = collections.Counter(_short(j["name"]) for j in mine)
        steps[key] = {
            "seconds": round(end - start, 2),
            "jobs": len(mine),
            "job_seconds": round(sum((j["ended"] or end) - j["submitted"] for j in mine), 2),
            "call_sites": dict(sites.most_common()),
        }
    return {
        "ok": outcome.succeeded,
        "failed_checks": outcome.failed_checks,
        "failed_steps": outcome.failed_steps,
        "wall_seconds": round(wall, 2),
        "step_seconds": round(sum(s["seconds"] for s in steps.values()), 2),
        "spark_jobs": len(jobs),
        "py4j_calls": counter.count,
        "py4j_sites": {
            site: [n, round(seconds, 2)]
            for site, (n, seconds) in sorted(counter.sites.items(), key=lambda kv: -kv[1][1])
        },
        "steps": steps,
    }


def _short(name: str) -> str:
    head, _, where = name.partition(" at ")
    return f"{head} at {where.rsplit('/', 1)[-1]}" if where else name


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--orders-per-day", type=int, default=200)
    parser.add_argument("--start", type=date.fromisoformat, default=date(2024, 1, 1))
    parser.add_argument("--work-dir", type=Path)
    parser.add_argument("--repeat", type=int, default=2, help="days profiled after the history")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--cprofile", type=Path, help="write a cProfile of the last day here")
    parser.add_argument("--history-only", action="store_true", help="materialize the history, stop")
    parser.add_argument(
        "--reuse-lake", action="store_true", help="the work dir's lake holds the history already"
    )
    parser.add_argument(
        "--empty", choices=["orders", "payments", "expenses"], help="no drop of it on profiled days"
    )
    args = parser.parse_args()

    from finance_assets.defs.resources import build_resources
    from finance_assets.lake.spark import build_session
    from finance_assets.landing.generate import GenerateConfig, generate
    from finance_assets.settings import Settings

    work = args.work_dir or Path(tempfile.mkdtemp(prefix="profile-day-"))
    landing, lake = work / "landing", work / "lake"
    end = args.start + timedelta(days=args.days - 1)
    last = end + timedelta(days=args.repeat)
    os.environ.setdefault("DAGSTER_HOME", str(work / "dagster_home"))
    if not args.reuse_lake:
        shutil.rmtree(lake, ignore_errors=True)
    if not landing.exists():
        generate(
            str(landing),
            GenerateConfig(
                start=args.start,
                end=last,
                orders_per_day=args.orders_per_day,
                empty_folders=frozenset(
                    (args.empty, end + timedelta(days=i + 1)) for i in range(args.repeat)
                )
                if args.empty
                else frozenset(),
            ),
        )
    settings = Settings.load()
    spark = build_session("local", build_resources(settings)["spark"].spark_config)
    import finance_assets.cli.runs as cli

    if not args.reuse_lake:
        t0 = time.perf_counter()
        outcome = cli.materialize(str(landing), str(lake), args.start, end)
        print(
            f"history {args.start}..{end}: {time.perf_counter() - t0:.1f} s ok={outcome.succeeded}"
        )
    if args.history_only:
        return
    reports = []
    for i in range(args.repeat):
        day = end + timedelta(days=i + 1)
        profiler = None
        if args.cprofile and i == args.repeat - 1:
            import cProfile

            profiler = cProfile.Profile()
            profiler.enable()
        report = profile(landing, lake, day, spark)
        if profiler is not None:
            profiler.disable()
            profiler.dump_stats(str(args.cprofile))
        reports.append(report)
        print(
            f"\nday {day}: wall {report['wall_seconds']} s, steps {report['step_seconds']} s, "
            f"{report['spark_jobs']} Spark jobs, {report['py4j_calls']} py4j calls, "
            f"ok={report['ok']} {report['failed_checks']}"
        )
        print("  py4j calls by product function (calls, seconds incl. Spark jobs):")
        for site, (n, seconds) in list(report["py4j_sites"].items())[:25]:
            print(f"    {n:6d} {seconds:7.2f} s  {site}")
        for key, step in report["steps"].items():
            print(f"  {step['seconds']:6.2f} s {step['jobs']:3d} jobs  {key}")
            for site, n in step["call_sites"].items():
                print(f"               {n:3d} x {site}")
    if args.json:
        args.json.write_text(json.dumps(reports, indent=1))


if __name__ == "__main__":
    main()
