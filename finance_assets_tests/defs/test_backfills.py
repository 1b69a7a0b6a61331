"""A range materialized as one run per job equals the same partitions materialized one by one.

Range: ``finance_assets.cli.materialize`` (what a single-run backfill does: one Dagster run,
one Spark job per asset, for all three days; then one run for the month).

One by one: ``daily_assets`` for each day in order, then ``monthly_assets``. Payments that
arrive after their order day are brought to their order's day by the run of the payment's day
itself (``sales_performance`` rebuilds the order days whose matched payments changed), so
nothing else has to run.

Every Delta table of both lakes must hold the same rows, ignoring ``_ingested_at`` and
``_run_id``, which differ by design, and the restatements log, which one by one fills with
the values later days changed.
"""

from datetime import date
from decimal import Decimal
from pathlib import Path

import dagster as dg
import pytest
from deltalake import DeltaTable

from finance_assets.automation.jobs import DAILY_JOB, MONTHLY_JOB
from finance_assets.cli import materialize
from finance_assets.definitions import load_definitions
from finance_assets.landing.generate import GenerateConfig, generate
from finance_assets.settings import Settings
from finance_assets_tests.support.lake_snapshot import AUDIT_LOGS

START, END = date(2024, 1, 1), date(2024, 1, 3)
DAYS = ["2024-01-01", "2024-01-02", "2024-01-03"]
IGNORED = {"_ingested_at", "_run_id"}
LAYERS = ("bronze", "silver", "quarantine", "gold")


def _tables(lake: Path) -> dict[str, Path]:
    return {
        f"{layer}/{table.name}": table
        for layer in LAYERS
        if (lake / layer).is_dir()
        for table in sorted((lake / layer).iterdir())
        if (table / "_delta_log").is_dir() and f"{layer}/{table.name}" not in AUDIT_LOGS
    }


def _normalized(value):
    return format(value, "f") if isinstance(value, Decimal) else value


def _rows(table: Path) -> list[tuple]:
    rows = DeltaTable(str(table)).to_pyarrow_table().to_pylist()
    normalized = [
        tuple(sorted((k, _normalized(v)) for k, v in row.items() if k not in IGNORED))
        for row in rows
    ]
    return sorted(normalized, key=repr)


def _run_one_by_one(landing: Path, lake: Path, instance: dg.DagsterInstance) -> None:
    settings = Settings(
        landing_uri=str(landing), lake_uri=str(lake), partitions_start=START, partitions_end=END
    )
    defs = load_definitions(settings)
    for day in DAYS:
        result = defs.resolve_job_def(DAILY_JOB).execute_in_process(
            partition_key=day, instance=instance
        )
        assert result.success, day
    monthly = defs.resolve_job_def(MONTHLY_JOB).execute_in_process(
        partition_key="2024-01-01", instance=instance
    )
    assert monthly.success


@pytest.mark.slow
def test_range_run_equals_partitions_one_by_one(spark, tmp_path, monkeypatch):
    home = tmp_path / "dagster_home"
    home.mkdir()
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    monkeypatch.setenv("FINANCE_PARTITIONS_START", START.isoformat())
    landing = tmp_path / "landing"
    generate(str(landing), GenerateConfig(start=START, end=END, orders_per_day=12, seed=11))

    ranged = tmp_path / "lake_range"
    outcome = materialize(str(landing), str(ranged), START, END)
    assert outcome.succeeded, outcome

    # The CLI ran the range as one run per job: single-run backfill policy.
    instance = dg.DagsterInstance.get()
    runs = instance.get_runs()
    by_job = {}
    for run in runs:
        by_job.setdefault(run.job_name, []).append(run)
    assert len(by_job[DAILY_JOB]) == 1 and len(by_job[MONTHLY_JOB]) == 1, by_job.keys()
    daily_run = by_job[DAILY_JOB][0]
    assert daily_run.tags["dagster/asset_partition_range_start"] == DAYS[0]
    assert daily_run.tags["dagster/asset_partition_range_end"] == DAYS[-1]

    single = tmp_path / "lake_single"
    _run_one_by_one(landing, single, instance)

    ranged_tables, single_tables = _tables(ranged), _tables(single)
    assert set(ranged_tables) == set(single_tables)
    assert {"gold/sales_performance", "gold/customer_360", "gold/daily_kpi"} <= set(ranged_tables)
    for name in sorted(ranged_tables):
        expected, actual = _rows(ranged_tables[name]), _rows(single_tables[name])
        assert actual == expected, f"{name}: {len(actual)} rows one by one, {len(expected)} ranged"
    # Not vacuous: late payments exist in this sample, so earlier order days had to be rebuilt.
    sales = {dict(r)["order_id"]: dict(r) for r in _rows(ranged_tables["gold/sales_performance"])}
    assert any(
        r["last_payment_date"] and r["last_payment_date"] > r["order_date"] for r in sales.values()
    )
