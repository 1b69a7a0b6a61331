"""What share of materialization time the asset checks take, at about 1M input rows a day.

Generates one day of drops, materializes it once (daily and monthly runs, every check),
and splits step time into asset work and checks: check steps, plus the checks judged inside
an asset's step (their ``check_seconds`` metadata), bronze's among them. Prints figures;
run it on a quiet machine:

    .venv/bin/python benchmarks/check_overhead.py [--orders-per-day 450000] [--workdir /tmp/x]
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from datetime import date
from pathlib import Path

import dagster as dg

from finance_assets.automation.jobs import DAILY_JOB, MONTHLY_JOB
from finance_assets.checks.names import CHECK_SECONDS
from finance_assets.definitions import load_definitions
from finance_assets.lake.spark import build_session, local_spark_config
from finance_assets.landing.generate import GenerateConfig, generate
from finance_assets.settings import Settings

DAY = date(2024, 3, 1)
ASSET_STEP_PREFIXES = ("bronze__", "validate_", "gold__")


def in_step_check_seconds(result) -> dict[str, float]:
    """Seconds each check evaluated inside its asset's step took there, by asset:check."""
    found = {}
    for evaluation in result.get_asset_check_evaluations():
        seconds = evaluation.metadata.get(CHECK_SECONDS)
        if seconds is not None:
            name = f"{evaluation.asset_key.to_user_string()}:{evaluation.check_name}"
            found[name] = float(seconds.value)
    return found


def step_seconds(result) -> dict[str, float]:
    return {
        e.step_key: e.event_specific_data.duration_ms / 1000
        for e in result.all_events
        if e.event_type_value == "STEP_SUCCESS"
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--orders-per-day", type=int, default=450_000)
    parser.add_argument("--workdir", type=Path)
    parser.add_argument("--out", type=Path, default=Path("artifacts/check_overhead.json"))
    args = parser.parse_args()
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="check-overhead-"))
    landing, lake = workdir / "landing", workdir / "lake"
    shutil.rmtree(workdir, ignore_errors=True)

    rows = generate(
        str(landing),
        GenerateConfig(start=DAY, end=DAY, orders_per_day=args.orders_per_day, dirty_rate=0.01),
    )
    input_rows = sum(rows.values())
    settings = Settings.load().with_overrides(
        landing_uri=str(landing), lake_uri=str(lake), partitions_end=date(2024, 12, 31)
    )
    build_session(
        "local",
        local_spark_config(
            settings.spark_master, settings.spark_driver_memory, settings.spark_shuffle_partitions
        ),
    )
    defs = load_definitions(settings)
    instance = dg.DagsterInstance.ephemeral()
    steps: dict[str, float] = {}
    in_step: dict[str, float] = {}
    started = time.perf_counter()
    for job, key in ((DAILY_JOB, DAY.isoformat()), (MONTHLY_JOB, DAY.replace(day=1).isoformat())):
        result = defs.resolve_job_def(job).execute_in_process(
            instance=instance,
            partition_key=key,
            run_config={"loggers": {"console": {"config": {"log_level": "ERROR"}}}},
        )
        assert result.success, f"{job} failed"
        steps.update(step_seconds(result))
        in_step.update(in_step_check_seconds(result))
    wall = time.perf_counter() - started

    # Checks judged inside an asset's step count as checks, not as the asset's own work.
    in_step_time = sum(in_step.values())
    asset_time = sum(s for k, s in steps.items() if k.startswith(ASSET_STEP_PREFIXES))
    asset_time -= in_step_time
    check_time = sum(s for k, s in steps.items() if not k.startswith(ASSET_STEP_PREFIXES))
    check_time += in_step_time
    share = check_time / (asset_time + check_time)
    bronze_steps = sum(s for k, s in steps.items() if k.startswith("bronze__"))
    bronze_checks = sum(s for k, s in in_step.items() if k.startswith("bronze/"))
    report = {
        "input_rows": input_rows,
        "rows_by_dataset": rows,
        "wall_seconds": round(wall, 1),
        "asset_step_seconds": round(asset_time, 1),
        "check_step_seconds": round(check_time, 1),
        "check_share": round(share, 4),
        "in_step_check_seconds": round(in_step_time, 1),
        "bronze_step_seconds": round(bronze_steps, 1),
        "bronze_check_seconds": round(bronze_checks, 1),
        "in_step_checks": {
            k: round(v, 2) for k, v in sorted(in_step.items(), key=lambda kv: -kv[1])
        },
        "steps": {k: round(v, 2) for k, v in sorted(steps.items(), key=lambda kv: -kv[1])},
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2))
    print(f"input rows            {input_rows:>12,}")
    print(f"asset steps           {asset_time:>12.1f} s   (their in-step checks not counted)")
    print(f"checks                {check_time:>12.1f} s   ({in_step_time:.1f} s of it in steps)")
    print(f"bronze checks         {bronze_checks:>12.1f} s   of {bronze_steps:.1f} s bronze steps")
    print(f"checks share of time  {share:>12.1%}   (target <= 15%)")
    print(f"wall (both runs)      {wall:>12.1f} s")
    print("slowest steps:")
    for key, seconds in list(report["steps"].items())[:12]:
        print(f"  {key:<48} {seconds:>7.2f} s")
    print("slowest checks inside steps:")
    for key, seconds in list(report["in_step_checks"].items())[:12]:
        print(f"  {key:<48} {seconds:>7.2f} s")


if __name__ == "__main__":
    main()
