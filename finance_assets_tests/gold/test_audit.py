"""Restatements: a late payment changes published figures of its order day, and the run that
changed them records each value in ``gold/restatements`` and says so in its metadata; the
books as they were before it can still be read (``--as-of``, ``--version``)."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from decimal import Decimal

import dagster as dg

from finance_assets.cli.instance import open_instance
from finance_assets.gold.tables import SALES_PERFORMANCE
from finance_assets.settings import Settings
from finance_assets_tests.support.audit_lake import LATE_DAY, ORDER_DAY, PAID

FIGURES = ("total_paid", "pending_amount", "overpaid_amount", "successful_payment_count")


def _materializations(partition: str):
    """The recorded materializations of a sales_performance partition, newest first."""
    instance = open_instance(Settings.load().instance_home)
    return instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=SALES_PERFORMANCE.table.key, asset_partitions=[partition]),
        limit=10,
    ).records


def _restatements(audit_lake, run_id: str) -> dict[str, dict]:
    rows = audit_lake.table("gold/restatements")
    return {r["column_name"]: r for r in rows if r["run_id"] == run_id}


def _first_restating_run(audit_lake) -> str:
    """The run of the first late payment: the oldest restatement's."""
    rows = audit_lake.table("gold/restatements")
    return min(rows, key=lambda r: r["restated_at"])["run_id"]


def test_a_late_payment_restates_exactly_the_order_figures_it_changed(audit_lake):
    assert audit_lake.steps["late"].code == 0, audit_lake.steps["late"].err
    before = audit_lake.sales["first"][audit_lake.order_id]
    after = audit_lake.sales["late"][audit_lake.order_id]
    assert after["total_paid"] == before["total_paid"] + PAID

    restated = _restatements(audit_lake, _first_restating_run(audit_lake))
    expected = {c for c in FIGURES if before[c] != after[c]}
    assert set(restated) == expected
    for column, row in restated.items():
        assert row["gold_table"] == "sales_performance"
        assert row["partition_value"] == ORDER_DAY
        assert row["key_value"] == str(audit_lake.order_id)
        assert row["old_value"] == Decimal(before[column])
        assert row["new_value"] == Decimal(after[column])
        assert row["change"] == row["new_value"] - row["old_value"]
        assert row["is_money"] == (column != "successful_payment_count")
        assert audit_lake.before_late <= row["restated_at"] <= datetime.now(timezone.utc)


def test_the_run_that_restated_says_how_many_values_and_how_much_money(audit_lake):
    run_id = _first_restating_run(audit_lake)
    restated = _restatements(audit_lake, run_id)
    # The step's own materialization (of the run's day) carries the audit metadata.
    metadata = next(
        r.asset_materialization.metadata
        for r in _materializations(LATE_DAY.isoformat())
        if r.run_id == run_id
    )
    money = sum((abs(r["change"]) for r in restated.values() if r["is_money"]), Decimal(0))
    assert metadata["restated_values"].value == len(restated) > 0
    assert Decimal(metadata["restated_money"].value) == money == 2 * PAID
    assert str(audit_lake.order_id) in metadata["restatements"].value


def _sql_json(audit_lake, name: str, *travel: str) -> list[dict]:
    query = "SELECT order_id, total_paid, pending_amount FROM gold.sales_performance ORDER BY 1"
    step = audit_lake.cli(
        name, "sql", "--lake", audit_lake.uri, "--format", "json", *travel, "--query", query
    )
    assert step.code == 0, step.err
    return json.loads(step.out, parse_float=Decimal)


def _as_published(sales: dict) -> list[dict]:
    return [
        {"order_id": o, "total_paid": r["total_paid"], "pending_amount": r["pending_amount"]}
        for o, r in sorted(sales.items())
    ]


def test_sql_as_of_reproduces_the_table_before_the_late_payment(audit_lake):
    as_of = audit_lake.before_late.isoformat()
    then = _sql_json(audit_lake, "sql_as_of", "--as-of", as_of)
    ordered = [r for r in then if r["order_id"] in audit_lake.sales["first"]]
    assert ordered == _as_published(audit_lake.sales["first"])
    now = _sql_json(audit_lake, "sql_now")
    assert now != then  # the late payments changed the order since

    version = f"sales_performance={audit_lake.sales_version_before_late}"
    assert _sql_json(audit_lake, "sql_version", "--version", version) == then


def test_time_travel_errors_are_clear(audit_lake):
    step = audit_lake.cli(
        "bad_as_of", "sql", "--lake", audit_lake.uri, "--as-of", "yesterday", "--query", "SELECT 1"
    )
    assert step.code == 2 and "--as-of 'yesterday' is not a date or time" in step.err
    step = audit_lake.cli(
        "bad_version",
        "sql",
        "--lake",
        audit_lake.uri,
        "--version",
        "daily_kpi=999",
        "--query",
        "SELECT * FROM daily_kpi",
    )
    assert step.code == 2 and "has no version 999" in step.err
