"""Every asset check fails on a real table corrupted the way it guards against, and passes
on clean data; a failed blocking check stops the assets downstream of it."""

import shutil
from datetime import date
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace

import dagster as dg
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from deltalake import DeltaTable, write_deltalake
from pyspark.sql import SparkSession, Window
from pyspark.sql import functions as F

from finance_assets.checks import names, reconcile
from finance_assets.checks.catalog import bronze_checks, gold_checks, silver_checks
from finance_assets.checks.factory import CheckScope
from finance_assets.cli import materialize
from finance_assets.contract import DATASETS
from finance_assets.definitions import load_definitions
from finance_assets.defs.bronze.assets import rows_per_file
from finance_assets.defs.silver.assets import quarantine_thresholds
from finance_assets.gold.tables import gold_tables
from finance_assets.lake import tables
from finance_assets.lake.arrow import read_table
from finance_assets.lake.delta import DeltaRsLake, PartitionRange, WriteResult
from finance_assets.landing.zone import list_files
from finance_assets.settings import Settings

ORDERS = (
    "order_id,order_date,customer_id,product_category,order_amount,order_status\n"
    "{day}1,2024-01-0{day},C1,Books,100.00,COMPLETED\n"
    "{day}2,2024-01-0{day},C2,Toys,40.00,PENDING\n"
)
PAYMENTS = (
    "payment_id,order_id,payment_date,paid_amount,payment_status,payment_method\n"
    "P{day}1,{day}1,2024-01-0{day},100.00,SUCCESS,CARD\n"
    "P{day}2,{day}2,2024-01-0{day},10.00,FAILED,UPI\n"
)
EXPENSES = (
    "expense_id,department,expense_date,expense_category,expense_amount\n"
    "{day}1,IT,2024-01-0{day},Cloud,30.00\n"
)
BUDGETS = "department,month,budget_amount\nIT,2024-01,50.00\n"
DAYS = ("2024-01-01", "2024-01-02")


def _write(landing: Path, dataset: str, folder: str, text: str) -> None:
    (landing / dataset / folder).mkdir(parents=True, exist_ok=True)
    (landing / dataset / folder / "drop.csv").write_text(text)


@pytest.fixture(scope="module")
def clean_lake(spark, tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("checks")
    landing, lake = root / "landing", root / "lake"
    for day in (1, 2):
        folder = f"2024-01-0{day}"
        _write(landing, "orders", folder, ORDERS.format(day=day))
        _write(landing, "payments", folder, PAYMENTS.format(day=day))
        _write(landing, "expenses", folder, EXPENSES.format(day=day))
    _write(landing, "budgets", "2024-01-01", BUDGETS)
    outcome = materialize(str(landing), str(lake), date(2024, 1, 1), date(2024, 1, 2))
    assert outcome.succeeded and not outcome.failed_checks, outcome
    return lake


@pytest.fixture
def lake(clean_lake, tmp_path) -> Path:
    copy = tmp_path / "lake"
    shutil.copytree(clean_lake, copy)
    # Bronze names its landing files by their real path: the copy sees the same files.
    (tmp_path / "landing").symlink_to(clean_lake.parent / "landing")
    return copy


def _settings(lake: Path, **overrides) -> Settings:
    return Settings(
        landing_uri=str(lake.parent / "landing"),
        lake_uri=str(lake),
        partitions_end=date(2024, 1, 31),
    ).with_overrides(**overrides)


def _in_step_checks(settings: Settings) -> dict:
    """Checks judged by the step that writes their asset, by (asset path, check name)."""
    found = {}
    thresholds = quarantine_thresholds(settings)
    for dataset in DATASETS.values():
        written = {**bronze_checks(dataset), **silver_checks(dataset, thresholds)}
        for key, checks in written.items():
            found.update({(tuple(key.path), c.name): c for c in checks})
    for table in gold_tables():
        found.update({(tuple(table.table.key.path), c.name): c for c in gold_checks(table)})
    return found


def _partition_column(asset: list[str]) -> str | None:
    if asset[0] != "gold":
        return "partition_date"
    return next(t.partition_column for t in gold_tables() if t.name == asset[-1])


def run_check(lake: Path, asset: list[str], check: str, **settings) -> dg.AssetCheckEvaluation:
    """Run one asset check on its own over the fixture's partitions: a check step of its own
    through a job, a check judged inside its asset's step by calling it on the lake."""
    monthly = asset[-1] in {
        "budgets",
        "financial_summary",
        "monthly_financial_report",
        "budget_vs_actual",
    }
    first, last = ("2024-01-01", "2024-01-01") if monthly else DAYS
    in_step = _in_step_checks(_settings(lake, **settings)).get((tuple(asset), check))
    if in_step is not None:
        column = _partition_column(asset)
        where = (
            PartitionRange(column, date.fromisoformat(first), _end(first, last, monthly))
            if column
            else None
        )
        store = DeltaRsLake(str(lake))
        facts = _bronze_facts(lake, store, asset, where) if asset[0] == "bronze" else None
        scope = CheckScope(None, SparkSession.active(), store, where, facts=facts)
        result = in_step.body(scope)
        return SimpleNamespace(
            passed=result.passed,
            severity=result.severity,
            description=result.description,
            metadata={
                k: v if hasattr(v, "value") else SimpleNamespace(value=v)
                for k, v in result.metadata.items()
            },
        )
    key = dg.AssetCheckKey(dg.AssetKey(asset), check)
    job = dg.define_asset_job("one_check", selection=dg.AssetSelection.checks(key))
    defs = dg.Definitions.merge(
        load_definitions(_settings(lake, **settings)), dg.Definitions(jobs=[job])
    )
    result = defs.resolve_job_def("one_check").execute_in_process(
        tags={
            "dagster/asset_partition_range_start": first,
            "dagster/asset_partition_range_end": last,
        },
        raise_on_error=False,
    )
    (evaluation,) = result.get_asset_check_evaluations()
    return evaluation


def _bronze_facts(lake: Path, store: DeltaRsLake, asset: list[str], where) -> dict:
    """What the bronze step hands its checks: the landing files of the range and the rows
    bronze holds per file."""
    dataset = DATASETS[asset[-1].removesuffix("_raw")]
    table = tables.bronze(dataset)
    landing = str(lake.parent / "landing")
    nothing_written = WriteResult(store.table_uri(table.path), 0, 0)
    return {
        reconcile.LANDING_FILES: list_files(landing, dataset.name, where.start, where.end),
        reconcile.ROWS_PER_FILE: rows_per_file(store, table, nothing_written, where),
        reconcile.S3: None,
        reconcile.NATIVE_READS: False,
    }


def _end(first: str, last: str, monthly: bool) -> date:
    if monthly:
        return date(2024, 1, 31)
    return date.fromisoformat(last)


def corrupt(lake: Path, table: str, change) -> None:
    """Rewrite a Delta table through delta-rs with ``change`` applied to its rows."""
    path = str(lake / table)
    dt = DeltaTable(path)
    rows = read_table(dt)
    write_deltalake(
        path, change(rows), mode="overwrite", partition_by=dt.metadata().partition_columns or None
    )


def set_first(column: str, value):
    def change(rows: pa.Table) -> pa.Table:
        values = rows.column(column).to_pylist()
        values[0] = value
        index = rows.schema.get_field_index(column)
        return rows.set_column(
            index, rows.schema.field(index), pa.array(values, rows.schema.field(index).type)
        )

    return change


def append_copy_of_first(of_day: date | None = None, **changes):
    """A copy of the first row (of ``of_day``'s partition when given: a table's file order
    is not its partitions' order) with ``changes`` applied."""

    def change(rows: pa.Table) -> pa.Table:
        source = rows
        if of_day is not None:
            source = rows.filter(pc.equal(rows.column("partition_date"), pa.scalar(of_day)))
        extra = (
            source.slice(0, 1).to_pylist()[0]
            if source.num_rows
            else dict.fromkeys(rows.schema.names)
        )
        extra.update(changes)
        return pa.concat_tables([rows, pa.Table.from_pylist([extra], schema=rows.schema)])

    return change


def drop_first(rows: pa.Table) -> pa.Table:
    return rows.slice(1)


def move_first_to_the_other_day(rows: pa.Table) -> pa.Table:
    """The first row into the partition of the other fixture day than its drop folder's."""
    first = rows.column("partition_date")[0].as_py()
    other = date(2024, 1, 2) if first == date(2024, 1, 1) else date(2024, 1, 1)
    return set_first("partition_date", other)(rows)


CORRUPTIONS = [
    # (asset, check, table, corruption)
    (["bronze", "orders_raw"], names.SCHEMA, "bronze/orders", set_first("_source_row", 0)),
    (["bronze", "orders_raw"], names.SCHEMA, "bronze/orders", set_first("_run_id", "")),
    (["bronze", "payments_raw"], names.SCHEMA, "bronze/payments", move_first_to_the_other_day),
    (["bronze", "orders_raw"], names.LANDING_RECORDS_RECONCILE, "bronze/orders", drop_first),
    (
        ["bronze", "expenses_raw"],
        names.LANDING_RECORDS_RECONCILE,
        "bronze/expenses",
        append_copy_of_first(),
    ),
    (
        ["silver", "orders"],
        names.SCHEMA,
        "silver/orders",
        set_first("order_amount", Decimal("-5.00")),
    ),
    (["silver", "payments"], names.SCHEMA, "silver/payments", set_first("payment_status", "LOST")),
    (["silver", "expenses"], names.SCHEMA, "silver/expenses", set_first("department", "Legal")),
    (["silver", "budgets"], names.SCHEMA, "silver/budgets", set_first("budget_amount", None)),
    (
        ["quarantine", "orders_rejected"],
        names.SCHEMA,
        "quarantine/orders",
        append_copy_of_first(
            _reason="made_up",
            _source_file="file:///x.csv",
            _source_row=1,
            partition_date=date(2024, 1, 1),
        ),
    ),
    (
        ["gold", "daily_kpi"],
        names.SCHEMA,
        "gold/daily_kpi",
        set_first("payment_success_rate_pct", Decimal("150.00")),
    ),
    (
        ["gold", "sales_performance"],
        names.SCHEMA,
        "gold/sales_performance",
        set_first("pending_amount", Decimal("-1.00")),
    ),
    (["gold", "customer_360"], names.SCHEMA, "gold/customer_360", append_copy_of_first()),
    (
        ["gold", "unmatched_payments"],
        names.SCHEMA,
        "gold/unmatched_payments",
        append_copy_of_first(
            payment_id="X1",
            order_id=9,
            payment_date=date(2024, 1, 1),
            paid_amount=Decimal("1.00"),
            payment_status="SUCCESS",
            payment_method="CARD",
        ),
    ),
    (
        ["gold", "financial_summary"],
        names.SCHEMA,
        "gold/financial_summary",
        set_first("month_number", 13),
    ),
    (
        ["gold", "monthly_financial_report"],
        names.SCHEMA,
        "gold/monthly_financial_report",
        set_first("revenue", Decimal("-1.00")),
    ),
    (
        ["gold", "budget_vs_actual"],
        names.SCHEMA,
        "gold/budget_vs_actual",
        set_first("department", "Legal"),
    ),
    (["silver", "orders"], names.BRONZE_RECONCILES, "silver/orders", drop_first),
    (
        ["silver", "orders"],
        names.KEY_UNIQUE_ACROSS_PARTITIONS,
        "silver/orders",
        append_copy_of_first(partition_date=date(2024, 1, 2), _source_row=99),
    ),
    (
        ["silver", "payment_orders"],
        names.PAYMENTS_HAVE_ORDERS,
        "silver/payment_orders",
        append_copy_of_first(payment_id="P999", order_id=999, order_date=None),
    ),
    (
        ["gold", "daily_kpi"],
        names.REVENUE_TIES_TO_PAYMENTS,
        "gold/daily_kpi",
        set_first("revenue", Decimal("99.99")),
    ),
    (
        ["gold", "monthly_financial_report"],
        names.MONTHS_TIE_TO_DAYS,
        "gold/monthly_financial_report",
        set_first("expenses", Decimal("1.00")),
    ),
    (
        ["gold", "financial_summary"],
        names.MONTHS_TIE_TO_DAYS,
        "gold/financial_summary",
        set_first("total_revenue", Decimal("1.00")),
    ),
    (
        ["gold", "budget_vs_actual"],
        names.ACTUAL_TIES_TO_EXPENSES,
        "gold/budget_vs_actual",
        set_first("actual_amount", Decimal("1.00")),
    ),
    (
        ["gold", "customer_360"],
        names.CUSTOMERS_TIE_TO_ORDERS,
        "gold/customer_360",
        set_first("total_paid", Decimal("0.01")),
    ),
]


@pytest.mark.parametrize(
    ("asset", "check", "table", "change"),
    CORRUPTIONS,
    ids=[f"{'/'.join(a)}:{c}" for a, c, _, _ in CORRUPTIONS],
)
def test_check_passes_on_clean_data_and_fails_on_corruption(lake, asset, check, table, change):
    assert run_check(lake, asset, check).passed
    corrupt(lake, table, change)
    evaluation = run_check(lake, asset, check)
    assert not evaluation.passed
    assert evaluation.description


def test_schema_failure_names_rule_rows_and_source(lake):
    corrupt(lake, "silver/orders", set_first("order_amount", Decimal("-5.00")))
    metadata = run_check(lake, ["silver", "orders"], names.SCHEMA).metadata
    assert metadata["failures_by_rule"].value == {"order_amount:greater_than": 1}
    assert metadata["failing_rows"].value == 1
    (sample,) = metadata["sample_failing_rows"].value
    assert sample["_source_file"].endswith("drop.csv") and sample["_source_row"] >= 1


def test_bronze_partition_must_be_the_drop_folders_date(lake):
    corrupt(lake, "bronze/payments", move_first_to_the_other_day)
    metadata = run_check(lake, ["bronze", "payments_raw"], names.SCHEMA).metadata
    assert metadata["failures_by_rule"].value == {"partition_date:drop_folder_date": 1}


def test_landing_record_count_is_reported_per_file(lake):
    """Bronze lost a row of one file: that file is named with its record and row counts,
    the other file of the range matches."""
    clean = run_check(lake, ["bronze", "orders_raw"], names.LANDING_RECORDS_RECONCILE)
    assert clean.passed and clean.metadata["files_checked"].value == 2
    assert all(n == {"landing_records": 2, "bronze_rows": 2} for n in _per_file(clean).values())
    lost_from = read_table(str(lake / "bronze/orders")).column("_source_file")[0].as_py()
    corrupt(lake, "bronze/orders", drop_first)

    evaluation = run_check(lake, ["bronze", "orders_raw"], names.LANDING_RECORDS_RECONCILE)

    assert not evaluation.passed
    assert evaluation.metadata["mismatched_files"].value == {
        lost_from: {"landing_records": 2, "bronze_rows": 1}
    }
    assert lost_from in evaluation.description
    assert len(_per_file(evaluation)) == 2


def _per_file(evaluation) -> dict:
    return evaluation.metadata["per_file"].value


def test_quarantine_rate_warns_then_errors_by_threshold(lake):
    corrupt(
        lake,
        "quarantine/orders",
        append_copy_of_first(
            _reason="invalid_amount",
            _source_file="file:///x.csv",
            _source_row=1,
            partition_date=date(2024, 1, 1),
        ),
    )
    corrupt(lake, "bronze/orders", append_copy_of_first(date(2024, 1, 1), _source_row=3))
    asset = ["silver", "orders"]
    warned = run_check(lake, asset, names.QUARANTINE_RATE, quarantine_min_rows=1)
    assert not warned.passed and warned.severity == dg.AssetCheckSeverity.WARN  # 1/3 < 50%
    errored = run_check(
        lake, asset, names.QUARANTINE_RATE, quarantine_min_rows=1, quarantine_error_rate=0.2
    )
    assert errored.severity == dg.AssetCheckSeverity.ERROR
    assert errored.metadata["partitions_above_error"].value == {"2024-01-01": 0.3333}


def test_failed_blocking_check_stops_downstream_assets(spark, lake, tmp_path):
    """A partition rejected wholesale trips the quarantine-rate ERROR and gold never runs."""
    landing = tmp_path / "landing"
    _write(
        landing, "orders", "2024-01-03", ORDERS.format(day=3).replace("Books,100.00", "Books,1$")
    )
    _write(landing, "payments", "2024-01-03", PAYMENTS.format(day=3))
    _write(landing, "expenses", "2024-01-03", EXPENSES.format(day=3))
    defs = load_definitions(
        _settings(lake, landing_uri=str(landing), quarantine_min_rows=1, quarantine_error_rate=0.4)
    )
    result = defs.resolve_job_def("daily_assets").execute_in_process(
        partition_key="2024-01-03", raise_on_error=False
    )
    failed = [e for e in result.get_asset_check_evaluations() if not e.passed]
    assert any(
        e.check_name == names.QUARANTINE_RATE and e.asset_key.path == ["silver", "orders"]
        for e in failed
    )
    materialized = {e.asset_key.path[-1] for e in result.get_asset_materialization_events()}
    assert "orders" in materialized  # silver/quarantine were written
    assert {"daily_kpi", "sales_performance", "customer_360"}.isdisjoint(materialized)
    assert "unmatched_payments" not in materialized  # it reads silver/orders too
    rows = read_table(str(lake / "gold/daily_kpi"))
    assert pc.sum(pc.equal(rows.column("date"), pa.scalar(date(2024, 1, 3)))).as_py() in (0, None)


def _judge_one_day(lake: Path, asset: list[str], check: str, day: date):
    in_step = _in_step_checks(_settings(lake))[(tuple(asset), check)]
    where = PartitionRange(_partition_column(asset), day, day)
    scope = CheckScope(None, SparkSession.active(), DeltaRsLake(str(lake)), where)
    return in_step.body(scope)


def test_a_key_of_the_day_judged_is_found_in_another_partition(lake):
    """Judging one day, the key check looks in the other partitions whose key statistics can
    hold the day's keys, and only there."""
    asset, check, second = (
        ["silver", "orders"],
        names.KEY_UNIQUE_ACROSS_PARTITIONS,
        date(2024, 1, 2),
    )
    assert _judge_one_day(lake, asset, check, second).passed
    corrupt(lake, "silver/orders", append_copy_of_first(partition_date=second, _source_row=99))
    result = _judge_one_day(lake, asset, check, second)
    assert not result.passed
    assert result.metadata["repeated_keys"].value == 1


def test_repeated_keys_among_the_rows_a_step_brought_back_are_found_without_spark(spark, lake):
    """When no other partition's key statistics overlap the range just written, the key check
    judges the rows the step collected: no Spark job, the same verdict and sample as Spark's."""
    corrupt(lake, "silver/orders", append_copy_of_first(partition_date=date(2024, 1, 2)))
    store = DeltaRsLake(str(lake))
    where = PartitionRange("partition_date", date(2024, 1, 1), date(2024, 1, 2))
    body = reconcile.key_unique_across_partitions(DATASETS["orders"])
    collected = {"silver/orders": store.read_arrow("silver/orders", where)}
    before = _jobs_run(spark)
    in_arrow = body(CheckScope(None, spark, store, where, collected=collected))
    assert _jobs_run(spark) == before
    in_spark = body(CheckScope(None, spark, store, where))
    assert _jobs_run(spark) > before
    assert not in_arrow.passed
    assert in_arrow.metadata["repeated_keys"].value == 1
    assert (in_arrow.description, in_arrow.metadata) == (in_spark.description, in_spark.metadata)


def test_customer_totals_are_held_against_what_changed_since_the_previous_build(spark, lake):
    """customer_360 rebuilt on the same sales_performance version it already reflected, one
    customer's total_paid a cent off: the check compares it with its previous version plus
    the (no) rows added and removed since, not with the whole table, and fails."""
    store = DeltaRsLake(str(lake))
    path = tables.gold("customer_360").path
    first = F.row_number().over(Window.orderBy("customer_id")) == 1
    frame = store.read(spark, path).withColumn(
        "total_paid",
        F.when(first, F.col("total_paid") + F.lit(Decimal("0.01"))).otherwise(F.col("total_paid")),
    )
    frame = spark.createDataFrame(frame.toArrow(), frame.schema)  # read before replacing
    store.replace_table(frame, path, inputs=store.inputs(path))

    evaluation = run_check(lake, ["gold", "customer_360"], names.CUSTOMERS_TIE_TO_ORDERS)
    assert not evaluation.passed
    compared = evaluation.metadata["compared"].value
    assert compared.startswith("changes of sales_performance versions"), compared
    assert set(evaluation.metadata["mismatches"].value) == {"total_paid"}


def _jobs_run(spark) -> int:
    """Spark jobs this session has run so far."""
    return spark.sparkContext._jsc.sc().statusStore().jobsList(None).size()


@pytest.mark.parametrize(
    ("check", "column"),
    [
        (reconcile.revenue_ties_to_payments, "date"),
        (reconcile.months_tie_to_days("monthly_financial_report", "revenue", "expenses"), "month"),
        (reconcile.actual_ties_to_expenses, "month"),
        (reconcile.payments_have_orders, "partition_date"),
        (reconcile.customers_tie_to_orders, None),
    ],
    ids=["revenue_ties", "months_tie_to_days", "actual_ties", "payments_have_orders", "customers"],
)
def test_a_reconciliation_of_gold_with_silver_is_one_spark_job(
    spark, lake, monkeypatch, check, column
):
    """Each side is a row per day or month (or one row of totals): the comparison needs no
    shuffle, so a check step over many rows is one Spark job, however the tables were
    computed."""
    monkeypatch.setattr(reconcile, "ARROW_CHECK_ROWS", 0)
    where = PartitionRange(column, date(2024, 1, 1), date(2024, 1, 31)) if column else None
    scope = CheckScope(None, spark, DeltaRsLake(str(lake)), where)
    before = _jobs_run(spark)
    assert check(scope).passed
    assert _jobs_run(spark) - before == 1


TIES = [
    # (check, partition column, table, corruption)
    (
        reconcile.revenue_ties_to_payments,
        "date",
        "gold/daily_kpi",
        set_first("revenue", Decimal("99.99")),
    ),
    (
        reconcile.revenue_ties_to_payments,
        "date",
        "silver/expenses",
        append_copy_of_first(expense_id=77, expense_date=date(2024, 1, 3)),
    ),
    (
        reconcile.months_tie_to_days("financial_summary", "total_revenue", "total_expenses"),
        "month",
        "gold/financial_summary",
        set_first("total_expenses", Decimal("0.00")),
    ),
    (
        reconcile.actual_ties_to_expenses,
        "month",
        "silver/expenses",
        append_copy_of_first(expense_id=78, expense_amount=Decimal("0.01")),
    ),
    (
        reconcile.payments_have_orders,
        "partition_date",
        "silver/payment_orders",
        append_copy_of_first(payment_id="P998", order_id=998, order_date=None),
    ),
]


@pytest.mark.parametrize(
    ("check", "column", "table", "change"),
    TIES,
    ids=["daily_kpi", "a_day_only_in_silver", "a_month", "actual", "orphans"],
)
def test_a_reconciliation_of_few_rows_is_summed_in_arrow_as_spark_sums_it(
    spark, lake, monkeypatch, check, column, table, change
):
    """A day's or a month's rows are read and summed by PyArrow, without a Spark job, and
    judged exactly as Spark judges them: same verdict, same figures, same mismatches."""
    corrupt(lake, table, change)
    where = PartitionRange(column, date(2024, 1, 1), date(2024, 1, 31))
    before = _jobs_run(spark)
    in_arrow = check(CheckScope(None, spark, DeltaRsLake(str(lake)), where))
    assert _jobs_run(spark) == before
    monkeypatch.setattr(reconcile, "ARROW_CHECK_ROWS", 0)
    in_spark = check(CheckScope(None, spark, DeltaRsLake(str(lake)), where))
    assert _jobs_run(spark) - before == 1
    assert not in_arrow.passed
    assert (in_arrow.passed, in_arrow.description) == (in_spark.passed, in_spark.description)
    assert in_arrow.metadata == in_spark.metadata
