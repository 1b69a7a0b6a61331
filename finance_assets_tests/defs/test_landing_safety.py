"""Nothing is overwritten by absence: a wrong landing path, a missing dataset folder or a pruned
landing zone never replaces good partitions with empty ones (operator safety)."""

from __future__ import annotations

import shutil
from datetime import date
from pathlib import Path

import pytest
from deltalake import DeltaTable

from finance_assets.cli import main
from finance_assets.contract import DATASETS
from finance_assets.lake.arrow import read_table
from finance_assets.landing.generate import GenerateConfig, generate

START, END = date(2024, 1, 1), date(2024, 1, 3)
PRUNED = date(2024, 1, 2)
TABLES = [
    *(f"{layer}/{name}" for layer in ("bronze", "silver", "quarantine") for name in DATASETS),
    "gold/daily_kpi",
    "gold/sales_performance",
    "gold/customer_360",
    "gold/unmatched_payments",
    "gold/financial_summary",
    "gold/monthly_financial_report",
    "gold/budget_vs_actual",
]


INGESTION_STAMPS = {"_ingested_at", "_run_id"}


def _rows(lake: Path, table: str, day: date | None = None, keep_stamps=False) -> list[tuple]:
    rows = read_table(str(lake / table)).to_pylist()
    if day is not None:
        rows = [r for r in rows if r["partition_date"] == day]
    for row in rows:  # each test works on a copy of the landing zone, in its own folder
        if row.get("_source_file"):
            row["_source_file"] = row["_source_file"].split("/landing/", 1)[1]
    return sorted(
        tuple(
            sorted((k, repr(v)) for k, v in r.items() if keep_stamps or k not in INGESTION_STAMPS)
        )
        for r in rows
    )


def _versions(lake: Path) -> dict[str, int]:
    return {t: DeltaTable(str(lake / t)).version() for t in TABLES}


def _materialize(landing: Path, lake: Path, *extra: str) -> int:
    return main(
        [
            "materialize",
            "--landing",
            str(landing),
            "--lake",
            str(lake),
            "--start",
            START.isoformat(),
            "--end",
            END.isoformat(),
            *extra,
        ]
    )


@pytest.fixture(scope="module")
def ingested_once(spark, tmp_path_factory):
    """A landing zone of three days, materialized once for the module."""
    root = tmp_path_factory.mktemp("ingested")
    landing, lake = root / "landing", root / "lake"
    generate(str(landing), GenerateConfig(start=START, end=END, orders_per_day=8, dirty_rate=0.1))
    assert _materialize(landing, lake) == 0
    return landing, lake


@pytest.fixture
def ingested(ingested_once, tmp_path):
    """A copy of the materialized landing zone and lake for one test: (landing, lake)."""
    landing, lake = tmp_path / "landing", tmp_path / "lake"
    shutil.copytree(ingested_once[0], landing)
    shutil.copytree(ingested_once[1], lake)
    return landing, lake


@pytest.mark.parametrize("wrong", ["missing-root", "missing-dataset"])
def test_a_wrong_landing_path_stops_before_anything_is_written(ingested, tmp_path, capsys, wrong):
    landing, lake = ingested
    if wrong == "missing-root":
        target, named = tmp_path / "no-such-landing", str(tmp_path / "no-such-landing")
    else:
        shutil.rmtree(landing / "expenses")
        target, named = landing, "expenses"
    before = _versions(lake)
    capsys.readouterr()

    assert _materialize(target, lake) == 2

    err = capsys.readouterr().err
    assert named in err and "nothing was written" in err
    assert "Traceback" not in err
    assert _versions(lake) == before


def test_a_pruned_landing_zone_leaves_every_table_as_it_was(ingested, capsys):
    landing, lake = ingested
    before = {t: _rows(lake, t) for t in TABLES}
    pruned_bronze = {n: _rows(lake, f"bronze/{n}", PRUNED, keep_stamps=True) for n in DATASETS}
    assert pruned_bronze["orders"]
    for name in DATASETS:
        shutil.rmtree(landing / name / PRUNED.isoformat(), ignore_errors=True)

    assert _materialize(landing, lake) == 0

    # The pruned day's bronze rows were kept untouched (same ingestion stamps); every table,
    # rebuilt from bronze, holds the same values as before.
    assert {n: _rows(lake, f"bronze/{n}", PRUNED, keep_stamps=True) for n in DATASETS} == (
        pruned_bronze
    )
    assert {t: _rows(lake, t) for t in TABLES} == before
    assert "kept as they are" in capsys.readouterr().err


def test_an_intentionally_emptied_day_is_emptied_with_the_flag(ingested):
    landing, lake = ingested
    orders_before = read_table(str(lake / "bronze/orders")).to_pylist()
    assert any(r["partition_date"] == PRUNED for r in orders_before)
    shutil.rmtree(landing / "orders" / PRUNED.isoformat())

    assert _materialize(landing, lake, "--replace-empty") == 0

    for table in ("bronze/orders", "silver/orders", "quarantine/orders"):
        days = read_table(str(lake / table), columns=["partition_date"]).column(0).to_pylist()
        assert PRUNED not in days, table
        assert START in days, table  # the other days are still there
    kpi = {r["date"]: r for r in read_table(str(lake / "gold/daily_kpi")).to_pylist()}
    assert kpi[PRUNED]["orders_count"] == 0
    assert kpi[START]["orders_count"] > 0
    assert not [
        r
        for r in read_table(str(lake / "gold/sales_performance")).to_pylist()
        if r["order_date"] == PRUNED
    ]
