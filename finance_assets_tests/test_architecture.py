"""The package's shape: imports flow one way, the wheel holds only the product, and a gold
table is one spec and one function."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from datetime import date
from pathlib import Path

import dagster as dg
import pytest
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from finance_assets.gold import tables as gold_tables
from finance_assets.gold.tables import SILVER_ORDERS, GoldTable, Input
from finance_assets.lake.columns import count, day

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def test_imports_follow_the_layers_and_form_no_loop():
    """landing -> lake -> bronze -> silver -> gold -> checks/analytics -> automation -> defs ->
    definitions -> cli, and nothing upward (the contract is in pyproject.toml)."""
    result = subprocess.run(
        [str(BIN / "lint-imports"), "--config", str(REPO / "pyproject.toml")],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "1 kept, 0 broken" in result.stdout


@pytest.mark.slow
def test_the_wheel_holds_only_the_product(tmp_path):
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "-w",
            str(tmp_path),
            str(REPO),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    (wheel,) = tmp_path.glob("finance_assets-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    packages = {n.split("/", 1)[0] for n in names if not n.split("/", 1)[0].endswith(".dist-info")}
    assert packages == {"finance_assets"}, packages
    assert "finance_assets/analytics/sql/monthly_pnl.sql" in names
    assert "finance_assets/defs/gold/assets.py" in names  # the defs folder (no __init__ files)
    assert not [n for n in names if "test" in n.split("/")[-1] or "bench" in n]


def _orders_per_day(days: DataFrame, orders: DataFrame) -> DataFrame:
    """A toy table: how many valid orders each day has."""
    counted = orders.groupBy(F.col("order_date").alias("date")).agg(F.count("*").alias("orders"))
    return days.join(counted, "date", "left").select(
        "date", F.coalesce("orders", F.lit(0).cast("long")).alias("orders")
    )


TOY = GoldTable(
    name="orders_per_day",
    description="Valid orders per day.",
    cadence="daily",
    partition_column="date",
    key=("date",),
    columns={"date": day(), "orders": count().fed_by("silver/orders.order_id")},
    transform=_orders_per_day,
    inputs=(Input(SILVER_ORDERS, "orders"),),
    calendar="days",
)


def test_a_new_gold_table_is_one_spec_and_one_function(spark, tmp_path, monkeypatch):
    from finance_assets.automation.jobs import DAILY_JOB
    from finance_assets.cli import materialize
    from finance_assets.definitions import load_definitions
    from finance_assets.lake.arrow import read_table
    from finance_assets.landing.generate import GenerateConfig, generate
    from finance_assets.settings import Settings

    monkeypatch.setattr(gold_tables, "GOLD_TABLES", (*gold_tables.GOLD_TABLES, TOY))
    defs = load_definitions(Settings.load(landing_uri="l", lake_uri="k"))
    key = dg.AssetKey(["gold", "orders_per_day"])
    graph = defs.resolve_asset_graph()
    assert graph.get(key).partitions_def is not None
    assert dg.AssetCheckKey(key, "pandera_schema") in graph.asset_check_keys
    assert key in defs.resolve_job_def(DAILY_JOB).asset_layer.selected_asset_keys

    landing, lake = tmp_path / "landing", tmp_path / "lake"
    generate(
        str(landing), GenerateConfig(start=date(2024, 1, 1), end=date(2024, 1, 2), orders_per_day=4)
    )
    outcome = materialize(str(landing), str(lake), date(2024, 1, 1), date(2024, 1, 2))
    assert outcome.succeeded, outcome.failed_steps
    toy = {
        r["date"]: r["orders"] for r in read_table(str(lake / "gold/orders_per_day")).to_pylist()
    }
    silver = read_table(str(lake / "silver/orders"), columns=["order_date"]).column(0).to_pylist()
    assert toy == {d: silver.count(d) for d in (date(2024, 1, 1), date(2024, 1, 2))}
    assert "gold/orders_per_day:pandera_schema (ERROR)" not in outcome.failed_checks
