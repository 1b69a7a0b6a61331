"""The landing sensor requests runs for exactly the partitions whose files changed.

Sensor ticks are evaluated as the daemon would (real instance, real code location, real
landing folder); only the last test executes the requested runs with Spark.
"""

import os
import shutil
import time
from datetime import date
from pathlib import Path

import dagster as dg
import pytest

from finance_assets.automation.landing_sensor import LANDING_SENSOR, decode_cursor
from finance_assets.automation.tags import TRIGGER_TAG
from finance_assets.cli import materialize
from finance_assets.definitions import load_definitions
from finance_assets.lake.partitions import RANGE_END_TAG, RANGE_START_TAG
from finance_assets.landing.resource import LandingResource
from finance_assets.settings import Settings

ORDERS = "order_id,order_date,customer_id,product_category,order_amount,order_status\n"
PAYMENTS = "payment_id,order_id,payment_date,paid_amount,payment_status,payment_method\n"
EXPENSES = "expense_id,department,expense_date,expense_category,expense_amount\n"
BUDGETS = "department,month,budget_amount\n"

PAYMENTS_DAILY = {
    "bronze/payments_raw",
    "silver/payments",
    "quarantine/payments_rejected",
    "silver/payment_orders",
    "gold/daily_kpi",
    "gold/sales_performance",
    "gold/unmatched_payments",
    "gold/customer_360",
}
PAYMENTS_MONTHLY = {"gold/financial_summary", "gold/monthly_financial_report"}
ORDERS_DAILY = {
    "bronze/orders_raw",
    "silver/orders",
    "quarantine/orders_rejected",
    "silver/payment_orders",
    "gold/daily_kpi",
    "gold/sales_performance",
    "gold/unmatched_payments",
    "gold/customer_360",
}
BUDGETS_MONTHLY = {
    "bronze/budgets_raw",
    "silver/budgets",
    "quarantine/budgets_rejected",
    "gold/budget_vs_actual",
}


def _drop(landing: Path, dataset: str, day: str, text: str, name: str | None = None) -> Path:
    folder = landing / dataset / day
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / (name or f"{dataset}.csv")
    path.write_text(text)
    return path


def _seed(landing: Path) -> None:
    for day in ("2024-01-01", "2024-01-02", "2024-01-03", "2024-01-04", "2024-01-05"):
        _drop(landing, "orders", day, ORDERS + f"{day[-1]},{day},C1,Books,10.00,COMPLETED\n")
        _drop(landing, "expenses", day, EXPENSES + f"{day[-1]},IT,{day},Cloud,5.00\n")
    _drop(landing, "payments", "2024-01-02", PAYMENTS + "P1,1,2024-01-02,10.00,SUCCESS,CARD\n")
    _drop(landing, "budgets", "2024-01-01", BUDGETS + "IT,2024-01,100.00\n")


class Harness:
    """A code location over a landing folder, an instance, and the sensor's cursor."""

    def __init__(self, landing: Path, lake: Path, instance: dg.DagsterInstance):
        self.landing = landing
        self.instance = instance
        settings = Settings(
            landing_uri=str(landing),
            lake_uri=str(lake),
            partitions_start=date(2024, 1, 1),
            partitions_end=date(2024, 3, 31),
        )
        self.defs = load_definitions(settings)
        self.resource = LandingResource(uri=str(landing))
        self.cursors: dict[str, str | None] = {}

    def tick(self, sensor_name: str = LANDING_SENSOR) -> dg.SensorResult:
        """One evaluation, as the daemon does it: the last cursor in, the new cursor kept."""
        sensor = self.defs.resolve_sensor_def(sensor_name)
        with dg.build_sensor_context(
            instance=self.instance,
            definitions=self.defs,
            cursor=self.cursors.get(sensor_name),
            resources={"landing": self.resource},
        ) as context:
            result = sensor(context)
        self.cursors[sensor_name] = result.cursor
        return result


def _runs(result: dg.SensorResult) -> list[tuple[set[str], str, str]]:
    """Each requested run as (assets, first partition, last partition)."""
    runs = []
    for request in result.run_requests or []:
        start = request.partition_key or request.tags.get(RANGE_START_TAG)
        end = request.partition_key or request.tags.get(RANGE_END_TAG)
        runs.append(({k.to_user_string() for k in request.asset_selection}, start, end))
    return runs


@pytest.fixture
def harness(tmp_path, monkeypatch):
    monkeypatch.delenv("FINANCE_SENSOR_BOOTSTRAP", raising=False)
    landing = tmp_path / "landing"
    _seed(landing)
    with dg.instance_for_test() as instance:
        yield Harness(landing, tmp_path / "lake", instance)


def test_first_tick_records_existing_files_and_requests_nothing(harness):
    result = harness.tick()
    assert not result.run_requests
    assert "recorded 12 existing drop folder(s)" in result.skip_reason.skip_message
    assert len(decode_cursor(result.cursor)) == 12
    again = harness.tick()
    assert not again.run_requests
    assert "No new or changed" in again.skip_reason.skip_message


def test_bootstrap_all_requests_history_as_one_range_per_cadence(harness, monkeypatch):
    monkeypatch.setenv("FINANCE_SENSOR_BOOTSTRAP", "all")
    harness = Harness(harness.landing, harness.landing.parent / "lake", harness.instance)
    result = harness.tick()
    runs = _runs(result)
    assert [(s, e) for _, s, e in runs] == [
        ("2024-01-01", "2024-01-01"),  # orders, expenses (no payments that day)
        ("2024-01-02", "2024-01-02"),  # + payments
        ("2024-01-03", "2024-01-05"),  # orders, expenses: one range run
        ("2024-01-01", "2024-01-01"),  # January's budgets and budget_vs_actual
    ]
    assert runs[2][0] == ORDERS_DAILY | {
        "bronze/expenses_raw",
        "silver/expenses",
        "quarantine/expenses_rejected",
    }
    assert runs[3][0] == BUDGETS_MONTHLY
    assert {r.tags[TRIGGER_TAG] for r in result.run_requests} == {"landing"}


def test_late_file_for_an_old_day_requests_that_day_and_nothing_else(harness):
    harness.tick()
    _drop(
        harness.landing, "payments", "2024-01-03", PAYMENTS + "P2,1,2024-01-03,1.00,SUCCESS,UPI\n"
    )
    result = harness.tick()
    (request,) = result.run_requests
    assert request.partition_key == "2024-01-03"
    assert RANGE_START_TAG not in request.tags
    # Monthly gold and the dashboard follow by their automation condition, not in this run.
    assert _runs(result) == [(PAYMENTS_DAILY, "2024-01-03", "2024-01-03")]
    assert not harness.tick().run_requests  # seen now


def test_separate_days_are_separate_runs_and_consecutive_days_one_range(harness):
    harness.tick()
    for day in ("2024-01-02", "2024-01-03", "2024-01-05"):
        _drop(
            harness.landing,
            "orders",
            day,
            ORDERS + f"9{day[-1]},{day},C2,Toys,1.00,PENDING\n",
            "late.csv",
        )
    result = harness.tick()
    assert _runs(result) == [
        (ORDERS_DAILY, "2024-01-02", "2024-01-03"),  # 2024-01-04 is never re-materialized
        (ORDERS_DAILY, "2024-01-05", "2024-01-05"),
    ]
    assert result.run_requests[0].tags[RANGE_START_TAG] == "2024-01-02"
    assert result.run_requests[0].tags[RANGE_END_TAG] == "2024-01-03"


def test_changed_and_removed_files_are_noticed(harness):
    harness.tick()
    path = harness.landing / "expenses" / "2024-01-04" / "expenses.csv"
    path.write_text(EXPENSES + "4,IT,2024-01-04,Cloud,6.00\n")  # same name, new content
    os.utime(path, ns=(time.time_ns(), time.time_ns() + 1_000_000))
    (request,) = harness.tick().run_requests
    assert request.partition_key == "2024-01-04"
    assert {k.path[-1] for k in request.asset_selection} >= {"expenses", "daily_kpi"}

    (harness.landing / "orders" / "2024-01-05" / "orders.csv").unlink()
    (request,) = harness.tick().run_requests
    assert request.partition_key == "2024-01-05"  # the partition is rebuilt without the file


def test_a_budget_drop_only_rebuilds_the_month(harness):
    harness.tick()
    _drop(harness.landing, "budgets", "2024-02-01", BUDGETS + "IT,2024-02,100.00\n")
    assert _runs(harness.tick()) == [(BUDGETS_MONTHLY, "2024-02-01", "2024-02-01")]


def test_a_dataset_that_vanishes_is_not_taken_as_deleted(harness):
    first = harness.tick()
    shutil.move(harness.landing / "orders", harness.landing.parent / "orders_elsewhere")
    result = harness.tick()
    assert not result.run_requests
    assert decode_cursor(result.cursor) == decode_cursor(first.cursor)


def test_folders_outside_the_partitions_are_ignored(harness):
    harness.tick()
    _drop(harness.landing, "orders", "2023-12-31", ORDERS)  # before the first partition
    _drop(harness.landing, "orders", "2030-01-01", ORDERS)  # after the last
    assert not harness.tick().run_requests


def _automation_requests(harness: Harness, cursor=None):
    """One tick of the automation conditions: (requested (asset, partition) pairs, cursor)."""
    result = dg.evaluate_automation_conditions(
        defs=harness.defs, instance=harness.instance, cursor=cursor
    )
    requested = set()
    for asset_result in result.results:
        subset, name = asset_result.true_subset, asset_result.key.to_user_string()
        if subset.is_partitioned:
            requested |= {(name, key) for key in subset.expensively_compute_partition_keys()}
        elif subset.size:
            requested.add((name, None))
    return requested, result.cursor


def test_monthly_gold_follows_the_days_it_reads_once_their_run_succeeded(harness):
    _, cursor = _automation_requests(harness)  # the first tick only records the state
    job = harness.defs.resolve_job_def("daily_assets")
    # Stand in for the daily run: its materializations are what the condition reacts to.
    for key in job.asset_layer.selected_asset_keys:
        harness.instance.report_runless_asset_event(
            dg.AssetMaterialization(asset_key=key, partition="2024-01-04")
        )
    requested, cursor = _automation_requests(harness, cursor)
    monthly = {(a, p) for a, p in requested if p == "2024-01-01"}
    assert monthly == {
        ("gold/financial_summary", "2024-01-01"),
        ("gold/monthly_financial_report", "2024-01-01"),
        ("gold/budget_vs_actual", "2024-01-01"),
    }
    assert ("analytics/dashboard", None) in requested
    assert not any(p == "2024-02-01" for _, p in requested)  # an untouched month stays as it is
    again, _ = _automation_requests(harness, cursor)
    assert not again  # handled once


@pytest.mark.slow
def test_a_late_file_re_materializes_exactly_its_partitions(spark, tmp_path, monkeypatch):
    """End to end: only the late day's daily assets, its month, and unpartitioned tails run."""
    monkeypatch.delenv("FINANCE_SENSOR_BOOTSTRAP", raising=False)
    landing, lake = tmp_path / "landing", tmp_path / "lake"
    _drop(landing, "orders", "2024-01-01", ORDERS + "1,2024-01-01,C1,Books,100.00,COMPLETED\n")
    _drop(landing, "orders", "2024-01-02", ORDERS + "2,2024-01-02,C2,Toys,50.00,COMPLETED\n")
    _drop(landing, "payments", "2024-01-02", PAYMENTS + "P1,1,2024-01-02,40.00,SUCCESS,CARD\n")
    for dataset in ("expenses", "budgets"):  # present, with nothing dropped yet
        (landing / dataset).mkdir()
    with dg.instance_for_test() as instance:
        assert materialize(str(landing), str(lake), date(2024, 1, 1), date(2024, 1, 2)).succeeded
        h = Harness(landing, lake, instance)
        h.tick()  # bootstrap: everything seen
        before = {r.run_id for r in instance.get_runs()}

        # A late orders file for the first day: a new order, paid nothing yet.
        _drop(
            landing,
            "orders",
            "2024-01-01",
            ORDERS + "3,2024-01-01,C1,Books,7.00,PENDING\n",
            "late.csv",
        )
        (request,) = h.tick().run_requests
        job = h.defs.resolve_implicit_global_asset_job_def()
        _, cursor = _automation_requests(h)  # first tick: earlier runs are history
        run = job.execute_in_process(
            instance=instance,
            asset_selection=request.asset_selection,
            partition_key=request.partition_key,
            tags=request.tags,
        )
        assert run.success
        follow_ups, _ = _automation_requests(h, cursor)
        for key, partition in sorted(follow_ups, key=str):
            run = job.execute_in_process(
                instance=instance,
                asset_selection=[dg.AssetKey.from_user_string(key)],
                partition_key=partition,
            )
            assert run.success

        materialized = set()
        for run in instance.get_runs():
            if run.run_id in before:
                continue
            for event in instance.get_records_for_run(
                run.run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION
            ).records:
                mat = event.asset_materialization
                materialized.add((mat.asset_key.to_user_string(), mat.partition))
    expected = {(key, "2024-01-01") for key in ORDERS_DAILY} | {
        ("gold/financial_summary", "2024-01-01")
    }  # financial_summary counts the orders paid; the other monthly tables may follow too
    assert expected <= materialized
    extra = materialized - expected
    assert all(
        (key.startswith("gold/") and partition == "2024-01-01")
        or (partition is None and not key.startswith(("bronze", "silver", "quarantine")))
        for key, partition in extra
    ), extra  # only January's monthly gold and the dashboard beside the late day

    from deltalake import DeltaTable

    orders = DeltaTable(str(lake / "gold" / "sales_performance")).to_pyarrow_table().to_pylist()
    assert sorted(r["order_id"] for r in orders) == [1, 2, 3]
