"""A payment landing days after its order reaches sales_performance and customer_360 in the
same run: the run that materializes the payment's day also brings its order's day up to date,
and says so."""

from datetime import date
from decimal import Decimal
from pathlib import Path

import dagster as dg

from finance_assets.cli import materialize
from finance_assets.cli.instance import open_instance
from finance_assets.gold.tables import SALES_PERFORMANCE
from finance_assets.lake.arrow import read_table
from finance_assets.settings import Settings

ORDERS = "order_id,order_date,customer_id,product_category,order_amount,order_status\n"
PAYMENTS = "payment_id,order_id,payment_date,paid_amount,payment_status,payment_method\n"


def _drop(landing: Path, dataset: str, day: str, text: str) -> None:
    folder = landing / dataset / day
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{dataset}.csv").write_text(text)


def _rows(lake: Path, table: str) -> dict:
    rows = read_table(str(lake / "gold" / table)).to_pylist()
    key = "order_id" if table == "sales_performance" else "customer_id"
    return {r[key]: r for r in rows}


def test_a_late_payment_updates_its_order_day_in_the_same_run(spark, tmp_path):
    landing, lake = tmp_path / "landing", tmp_path / "lake"
    for dataset in ("expenses", "budgets"):
        (landing / dataset).mkdir(parents=True)
    _drop(landing, "orders", "2024-01-01", ORDERS + "1,2024-01-01,C1,Books,100.00,COMPLETED\n")
    _drop(landing, "payments", "2024-01-01", PAYMENTS + "P1,1,2024-01-01,30.00,SUCCESS,CARD\n")
    assert materialize(str(landing), str(lake), date(2024, 1, 1), date(2024, 1, 1)).succeeded
    assert _rows(lake, "sales_performance")[1]["pending_amount"] == Decimal("70.00")

    # Day 3 brings the rest of order 1's money; only day 3 is materialized.
    _drop(landing, "orders", "2024-01-03", ORDERS + "2,2024-01-03,C2,Toys,5.00,PENDING\n")
    _drop(landing, "payments", "2024-01-03", PAYMENTS + "P2,1,2024-01-03,70.00,SUCCESS,UPI\n")
    assert materialize(str(landing), str(lake), date(2024, 1, 3), date(2024, 1, 3)).succeeded

    order = _rows(lake, "sales_performance")[1]
    assert order["total_paid"] == Decimal("100.00")
    assert order["pending_amount"] == Decimal("0.00")
    assert order["last_payment_date"] == date(2024, 1, 3)
    assert _rows(lake, "customer_360")["C1"]["outstanding_amount"] == Decimal("0.00")

    # The run recorded the order day it brought up to date, as a materialization of it.
    instance = open_instance(Settings.load().instance_home)
    record = instance.fetch_materializations(
        dg.AssetRecordsFilter(
            asset_key=SALES_PERFORMANCE.table.key, asset_partitions=["2024-01-01"]
        ),
        limit=1,
    ).records[0]
    run = instance.get_run_by_id(record.run_id)
    assert run.tags["dagster/asset_partition_range_start"] == "2024-01-03"
    day3 = instance.fetch_materializations(
        dg.AssetRecordsFilter(
            asset_key=SALES_PERFORMANCE.table.key, asset_partitions=["2024-01-03"]
        ),
        limit=1,
    ).records[0]
    late = day3.asset_materialization.metadata["late_payment_order_days"].value
    assert late == ["2024-01-01"]


def test_a_customer_losing_an_order_day_gets_the_same_books_from_either_engine(
    spark, tmp_path, monkeypatch
):
    """Day 1 re-ingested without C2's order: C2's first order moves to day 2. The customers
    losing an order day are found on the driver (a day's few changed files) or in Spark (more
    than ``ARROW_CHANGED_BYTES``); either way customer_360 equals a rebuild of the same days."""
    import shutil

    from finance_assets.defs.gold import assets
    from finance_assets.gold import transforms
    from finance_assets_tests.support.lake_snapshot import snapshot

    landing, lake = tmp_path / "landing", tmp_path / "lake"
    for dataset in ("expenses", "budgets", "payments"):
        (landing / dataset).mkdir(parents=True)
    day1 = "1,2024-01-01,C1,Books,100.00,COMPLETED\n2,2024-01-01,C2,Toys,5.00,PENDING\n"
    _drop(landing, "orders", "2024-01-01", ORDERS + day1)
    _drop(landing, "orders", "2024-01-02", ORDERS + "3,2024-01-02,C2,Toys,7.00,PENDING\n")
    assert materialize(str(landing), str(lake), date(2024, 1, 1), date(2024, 1, 2)).succeeded
    assert _rows(lake, "customer_360")["C2"]["first_order_date"] == date(2024, 1, 1)
    in_spark = tmp_path / "in_spark"
    shutil.copytree(lake, in_spark)

    _drop(landing, "orders", "2024-01-01", ORDERS + "1,2024-01-01,C1,Books,100.00,COMPLETED\n")
    spark_calls = []
    spark_rule = transforms.customers_losing_order_days
    monkeypatch.setattr(
        transforms,
        "customers_losing_order_days",
        lambda *frames: spark_calls.append(1) or spark_rule(*frames),
    )
    assert materialize(str(landing), str(lake), date(2024, 1, 1), date(2024, 1, 1)).succeeded
    assert spark_calls == []  # day 1's two changed files (one removed, one added): the driver
    monkeypatch.setattr(assets, "ARROW_CHANGED_BYTES", 0)
    assert materialize(str(landing), str(in_spark), date(2024, 1, 1), date(2024, 1, 1)).succeeded
    assert spark_calls == [1]

    c2 = _rows(lake, "customer_360")["C2"]
    assert (c2["total_orders"], c2["first_order_date"]) == (1, date(2024, 1, 2))
    assert snapshot(lake) == snapshot(in_spark)
    rebuilt = tmp_path / "rebuilt"
    assert materialize(str(landing), str(rebuilt), date(2024, 1, 1), date(2024, 1, 2)).succeeded
    assert snapshot(lake) == snapshot(rebuilt)
