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

from finance_assets.cli import materialize
from finance_assets.definitions import build_definitions
from finance_assets.ops.chains import CHAIN_SENSOR, CHAIN_TAG, Step, decode_chain
from finance_assets.ops.landing_sensor import LANDING_SENSOR, decode_cursor
from finance_assets.resources.storage import LandingResource
from finance_assets.sensors import RANGE_END_TAG, RANGE_START_TAG, TRIGGER_TAG
from finance_assets.settings import Settings

ORDERS = "order_id,order_date,customer_id,product_category,order_amount,order_status\n"
PAYMENTS = "payment_id,order_id,payment_date,paid_amount,payment_status,payment_method\n"
EXPENSES = "expense_id,department,expense_date,expense_category,expense_amount\n"
BUDGETS = "department,month,budget_amount\n"

PAYMENTS_DAILY = {
    "bronze/payments",
    "silver/payments",
    "quarantine/payments",
    "gold/daily_kpi",
    "gold/sales_performance",
    "gold/unmatched_payments",
    "gold/customer_360",
}
PAYMENTS_MONTHLY = {"gold/financial_summary", "gold/monthly_financial_report"}
ORDERS_DAILY = {
    "bronze/orders",
    "silver/orders",
    "quarantine/orders",
    "gold/daily_kpi",
    "gold/sales_performance",
    "gold/unmatched_payments",
    "gold/customer_360",
}
BUDGETS_MONTHLY = {
    "bronze/budgets",
    "silver/budgets",
    "quarantine/budgets",
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
        self.defs = build_definitions(settings)
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


def _steps(request: dg.RunRequest) -> list[Step]:
    """The whole chain a request starts: its own step, then the ones in its tag."""
    tags = request.tags
    start = request.partition_key or tags.get(RANGE_START_TAG)
    end = request.partition_key or tags.get(RANGE_END_TAG)
    first = Step(tuple(sorted(k.to_user_string() for k in request.asset_selection)), start, end)
    return [first, *decode_chain(tags.get(CHAIN_TAG))]


def _partitioned(steps: list[Step]) -> list[tuple[set[str], str, str]]:
    """Steps with a partition range; the unpartitioned tail (e.g. the dashboard) aside."""
    return [(set(s.assets), s.start, s.end) for s in steps if s.start is not None]


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
    (request,) = harness.tick().run_requests
    steps = _partitioned(_steps(request))
    assert [(s, e) for _, s, e in steps] == [
        ("2024-01-01", "2024-01-01"),  # orders, expenses (no payments that day)
        ("2024-01-02", "2024-01-02"),  # + payments
        ("2024-01-03", "2024-01-05"),  # orders, expenses: one range run
        ("2024-01-01", "2024-01-01"),  # January: every monthly asset
    ]
    assert steps[2][0] == ORDERS_DAILY | {
        "bronze/expenses",
        "silver/expenses",
        "quarantine/expenses",
    }
    assert request.tags[TRIGGER_TAG] == "landing"


def test_late_file_for_an_old_day_requests_that_day_its_month_and_nothing_else(harness):
    harness.tick()
    _drop(
        harness.landing, "payments", "2024-01-03", PAYMENTS + "P2,1,2024-01-03,1.00,SUCCESS,UPI\n"
    )
    (request,) = harness.tick().run_requests
    assert request.partition_key == "2024-01-03"
    assert RANGE_START_TAG not in request.tags
    steps = _steps(request)
    assert _partitioned(steps) == [
        (PAYMENTS_DAILY, "2024-01-03", "2024-01-03"),
        (PAYMENTS_MONTHLY, "2024-01-01", "2024-01-01"),
    ]
    # Anything unpartitioned downstream (the dashboard) comes last, once.
    tail = [s for s in steps if s.start is None]
    assert len(tail) <= 1 and all(
        not a.startswith(("bronze", "silver")) for s in tail for a in s.assets
    )
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
    (request,) = harness.tick().run_requests
    assert _partitioned(_steps(request)) == [
        (ORDERS_DAILY, "2024-01-02", "2024-01-03"),
        (ORDERS_DAILY, "2024-01-05", "2024-01-05"),
        ({"gold/financial_summary"}, "2024-01-01", "2024-01-01"),
    ]
    assert request.tags[RANGE_START_TAG] == "2024-01-02"
    assert request.tags[RANGE_END_TAG] == "2024-01-03"  # 2024-01-04 is never re-materialized


def test_changed_and_removed_files_are_noticed(harness):
    harness.tick()
    path = harness.landing / "expenses" / "2024-01-04" / "expenses.csv"
    path.write_text(EXPENSES + "4,IT,2024-01-04,Cloud,6.00\n")  # same name, new content
    os.utime(path, ns=(time.time_ns(), time.time_ns() + 1_000_000))
    (request,) = harness.tick().run_requests
    assert request.partition_key == "2024-01-04"
    assert {k.path[-1] for k in request.asset_selection} >= {"expenses", "daily_kpi"}
    assert "gold/budget_vs_actual" in {a for s in _steps(request) for a in s.assets}

    (harness.landing / "orders" / "2024-01-05" / "orders.csv").unlink()
    (request,) = harness.tick().run_requests
    assert request.partition_key == "2024-01-05"  # the partition is rebuilt without the file


def test_a_budget_drop_only_rebuilds_the_month(harness):
    harness.tick()
    _drop(harness.landing, "budgets", "2024-02-01", BUDGETS + "IT,2024-02,100.00\n")
    (request,) = harness.tick().run_requests
    assert _partitioned(_steps(request)) == [(BUDGETS_MONTHLY, "2024-02-01", "2024-02-01")]


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


def _succeed(instance: dg.DagsterInstance, tags: dict[str, str]) -> str:
    """A finished, successful run with these tags (a no-op job on the same instance)."""

    @dg.op
    def noop():
        return None

    @dg.job(tags=tags)
    def stand_in():
        noop()

    return stand_in.execute_in_process(instance=instance).run_id


def test_the_chain_sensor_starts_the_next_step_only_after_success(harness):
    harness.tick()
    _drop(
        harness.landing, "payments", "2024-01-04", PAYMENTS + "P3,1,2024-01-04,1.00,SUCCESS,UPI\n"
    )
    (request,) = harness.tick().run_requests
    rest = decode_chain(request.tags[CHAIN_TAG])

    assert not harness.tick(CHAIN_SENSOR).run_requests  # nothing finished yet
    run_id = _succeed(harness.instance, dict(request.tags))
    (follow_up,) = harness.tick(CHAIN_SENSOR).run_requests
    assert follow_up.partition_key == rest[0].start == "2024-01-01"
    assert {k.to_user_string() for k in follow_up.asset_selection} == PAYMENTS_MONTHLY
    assert follow_up.tags["finance/parent_run"] == run_id
    assert decode_chain(follow_up.tags.get(CHAIN_TAG)) == rest[1:]
    assert not harness.tick(CHAIN_SENSOR).run_requests  # once


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
        pending = [request]
        h.tick(CHAIN_SENSOR)  # first tick: earlier runs are history
        while pending:
            request = pending.pop()
            run = job.execute_in_process(
                instance=instance,
                asset_selection=request.asset_selection,
                partition_key=request.partition_key,
                tags=request.tags,
            )
            assert run.success
            pending += h.tick(CHAIN_SENSOR).run_requests

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
    }
    assert expected <= materialized
    extra = materialized - expected
    assert all(
        partition is None and not key.startswith(("bronze", "silver", "quarantine"))
        for key, partition in extra
    ), extra

    from deltalake import DeltaTable

    orders = DeltaTable(str(lake / "gold" / "sales_performance")).to_pyarrow_table().to_pylist()
    assert sorted(r["order_id"] for r in orders) == [1, 2, 3]
