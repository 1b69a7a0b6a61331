"""A payment landing days after its order reaches sales_performance and customer_360."""

from datetime import date
from decimal import Decimal
from pathlib import Path

import dagster as dg

from finance_assets.cli import materialize
from finance_assets.definitions import load_definitions
from finance_assets.gold.assets import CUSTOMER_360, SALES_PERFORMANCE
from finance_assets.lake.arrow import read_table
from finance_assets.sensors import LATE_PAYMENTS, TRIGGER_TAG, late_payments_sensor
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


def test_late_payment_is_picked_up_by_the_sensor(spark, tmp_path, monkeypatch):
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
    (tmp_path / "dagster_home").mkdir()
    landing, lake = tmp_path / "landing", tmp_path / "lake"
    _drop(landing, "orders", "2024-01-01", ORDERS + "1,2024-01-01,C1,Books,100.00,COMPLETED\n")
    _drop(landing, "payments", "2024-01-01", PAYMENTS + "P1,1,2024-01-01,30.00,SUCCESS,CARD\n")
    assert materialize(str(landing), str(lake), date(2024, 1, 1), date(2024, 1, 1)).succeeded
    assert _rows(lake, "sales_performance")[1]["pending_amount"] == Decimal("70.00")

    # Day 3 brings the rest of order 1's money; only day 3 is materialized.
    _drop(landing, "orders", "2024-01-03", ORDERS + "2,2024-01-03,C2,Toys,5.00,PENDING\n")
    _drop(landing, "payments", "2024-01-03", PAYMENTS + "P2,1,2024-01-03,70.00,SUCCESS,UPI\n")
    assert materialize(str(landing), str(lake), date(2024, 1, 3), date(2024, 1, 3)).succeeded
    assert _rows(lake, "sales_performance")[1]["pending_amount"] == Decimal("70.00")

    instance = dg.DagsterInstance.get()
    defs = load_definitions(
        Settings(landing_uri=str(landing), lake_uri=str(lake), partitions_end=date(2024, 1, 31))
    )
    result = late_payments_sensor(dg.build_sensor_context(instance=instance, definitions=defs))
    (request,) = result.run_requests
    assert request.tags["dagster/asset_partition_range_start"] == "2024-01-01"
    assert request.tags["dagster/asset_partition_range_end"] == "2024-01-01"
    assert set(request.asset_selection) == {SALES_PERFORMANCE, CUSTOMER_360}

    job = defs.resolve_implicit_global_asset_job_def()
    run = job.execute_in_process(
        instance=instance, asset_selection=request.asset_selection, tags=request.tags
    )
    assert run.success
    order = _rows(lake, "sales_performance")[1]
    assert order["total_paid"] == Decimal("100.00")
    assert order["pending_amount"] == Decimal("0.00")
    assert order["last_payment_date"] == date(2024, 1, 3)
    assert _rows(lake, "customer_360")["C1"]["outstanding_amount"] == Decimal("0.00")

    # The sensor's own re-run does not cascade into another request.
    again = late_payments_sensor(
        dg.build_sensor_context(instance=instance, definitions=defs, cursor=result.cursor)
    )
    assert not again.run_requests
    assert run.dagster_run.tags[TRIGGER_TAG] == LATE_PAYMENTS
