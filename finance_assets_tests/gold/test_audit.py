"""Restatements: a late payment changes published figures of its order day, and the run that
changed them records each value in ``gold/restatements`` and says so in its metadata; the
books as they were before it can still be read (``--as-of``, ``--version``)."""

from __future__ import annotations

import json
from datetime import date, datetime, timezone
from decimal import Decimal

import dagster as dg

from finance_assets.cli.instance import open_instance
from finance_assets.gold import audit
from finance_assets.gold.tables import SALES_PERFORMANCE
from finance_assets.lake.delta import DeltaRsLake, PartitionRange
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


def _sales_rows(spark, rows):
    schema = (
        "order_date date, order_id bigint, order_amount decimal(18,2), "
        "total_paid decimal(18,2), successful_payment_count bigint, "
        "pending_amount decimal(18,2), overpaid_amount decimal(18,2)"
    )
    return spark.createDataFrame(
        [
            (date.fromisoformat(d), k, *(None if v is None else _figure(v) for v in f))
            for d, k, *f in rows
        ],
        schema,
    )


def _figure(value):
    return value if isinstance(value, int) else Decimal(value)


def test_a_few_days_compared_in_arrow_give_the_changes_spark_finds(spark, tmp_path):
    """The published rows of a few days against a re-run's: a changed figure, a figure that
    was missing, a row gone, a row added, a row unchanged, and a changed day outside the days
    compared. Arrow (a day's run) and Spark (a long range) report the same changes."""
    lake = DeltaRsLake(str(tmp_path / "lake"))
    path = SALES_PERFORMANCE.table.path
    published = _sales_rows(
        spark,
        [
            ("2024-01-01", 1, "100.00", "50.00", 1, "50.00", "0.00"),
            ("2024-01-01", 2, "40.00", "0.00", 0, "40.00", "0.00"),
            ("2024-01-02", 3, "10.00", None, 0, "10.00", "0.00"),
            ("2024-01-02", 4, "20.00", "20.00", 1, "0.00", "0.00"),
            ("2024-01-03", 5, "1.00", "1.00", 1, "0.00", "0.00"),
        ],
    )
    days = PartitionRange("order_date", date(2024, 1, 1), date(2024, 1, 3))
    lake.replace_partitions(published, path, days)
    rerun = _sales_rows(
        spark,
        [
            ("2024-01-01", 1, "100.00", "100.00", 2, "0.00", "0.00"),
            ("2024-01-01", 2, "40.00", "0.00", 0, "40.00", "0.00"),
            ("2024-01-02", 3, "10.00", "5.00", 1, "5.00", "0.00"),
            ("2024-01-02", 6, "7.00", "0.00", 0, "7.00", "0.00"),
            ("2024-01-03", 5, "1.00", "2.00", 2, "0.00", "1.00"),
        ],
    )
    compared = {date(2024, 1, 1), date(2024, 1, 2)}
    counts = lake.partition_row_counts(path, days)
    in_arrow = audit._changes(spark, lake, SALES_PERFORMANCE, rerun, compared, counts)
    spark_only = sorted(
        audit._changes_in_spark(spark, lake, SALES_PERFORMANCE, rerun, compared, counts),
        key=lambda c: (c.partition, c.key, c.column),
    )

    def shown(changes):
        return [(str(c.partition), c.key, c.column, c.old, c.new, c.is_money) for c in changes]

    d = Decimal
    expected = [
        ("2024-01-01", "1", "pending_amount", d("50.00"), d("0.00"), True),
        ("2024-01-01", "1", "successful_payment_count", d("1.00"), d("2.00"), False),
        ("2024-01-01", "1", "total_paid", d("50.00"), d("100.00"), True),
        ("2024-01-02", "3", "pending_amount", d("10.00"), d("5.00"), True),
        ("2024-01-02", "3", "successful_payment_count", d("0.00"), d("1.00"), False),
        ("2024-01-02", "3", "total_paid", None, d("5.00"), True),
        *(("2024-01-02", "4", m, d(v), None, money) for m, v, money in _GONE),
        *(("2024-01-02", "6", m, None, d(v), money) for m, v, money in _ADDED),
    ]
    assert shown(in_arrow) == sorted(expected)
    assert shown(spark_only) == shown(in_arrow)


_GONE = [
    ("order_amount", "20.00", True),
    ("overpaid_amount", "0.00", True),
    ("pending_amount", "0.00", True),
    ("successful_payment_count", "1.00", False),
    ("total_paid", "20.00", True),
]
_ADDED = [
    ("order_amount", "7.00", True),
    ("overpaid_amount", "0.00", True),
    ("pending_amount", "7.00", True),
    ("successful_payment_count", "0.00", False),
    ("total_paid", "0.00", True),
]


def test_a_write_of_few_published_rows_and_few_new_days_comes_back_through_arrow(
    spark, tmp_path, monkeypatch
):
    """A day's run re-writes the days of its late payments (more than a week of them): with
    few rows published there and few new days, the plan writes them through Arrow; more new
    days, or more rows than ``ARROW_WRITE_ROWS`` published, go through Spark's writer."""
    lake = DeltaRsLake(str(tmp_path / "lake"))
    path = SALES_PERFORMANCE.table.path
    first, published_days = date(2024, 1, 1), 10
    rows = [
        (str(date.fromordinal(first.toordinal() + i)), i, "1.00", "1.00", 1, "0.00", "0.00")
        for i in range(published_days)
    ]
    published = PartitionRange("order_date", first, date(2024, 1, published_days))
    lake.replace_partitions(_sales_rows(spark, rows), path, published)
    frame = _sales_rows(spark, rows)

    def plan(last_day: int):
        where = PartitionRange("order_date", first, date(2024, 1, last_day))
        return audit.plan_write(spark, lake, SALES_PERFORMANCE, frame, where, {})

    assert plan(published_days + 1).few_rows  # 10 published days and the new one
    assert plan(published_days + audit.ARROW_WRITE_PARTITIONS).few_rows
    assert not plan(published_days + audit.ARROW_WRITE_PARTITIONS + 1).few_rows
    monkeypatch.setattr(audit, "ARROW_WRITE_ROWS", published_days - 1)
    assert not plan(published_days + 1).few_rows
