"""A day whose drop did not land costs no Spark job, and its checks can still fail.

Bronze and silver of expenses are materialized for a day with an empty expenses folder
(real Dagster, real local Spark, real Delta tables). The steps write empty partitions and
judge their checks from the schema they wrote and the Delta log: no Spark job runs. A
transform that writes a wrong type must still fail the schema check of the empty partition.
"""

from __future__ import annotations

import socket
from datetime import date, timedelta

import dagster as dg
import pytest
from pyspark.sql import functions as F
from pyspark.sql import types as T

from finance_assets.contract import DATASETS, PARTITION_COLUMN
from finance_assets.lake import tables
from finance_assets.lake.delta import PartitionRange
from finance_assets.landing.generate import GenerateConfig, generate
from finance_assets.settings import Settings

DAY = date(2024, 1, 2)
EXPENSES = DATASETS["expenses"]


def _last_job_id(spark) -> int:
    """The id of the newest Spark job this session ran (-1 before the first)."""
    jobs = spark.sparkContext._jsc.sc().statusStore().jobsList(None)
    return max((jobs.apply(i).jobId() for i in range(jobs.size())), default=-1)


def _materialize(tmp_path, spark, days=(DAY,), spark_on=None) -> dg.ExecuteInProcessResult:
    """Bronze and silver (with quarantine) of expenses for ``days`` in order (the result of
    the last), from drops from the first of them to DAY, whose folder is empty; ``spark_on``:
    the Spark resource of some days instead of the settings' one."""
    from finance_assets.defs.bronze.assets import build_bronze_asset
    from finance_assets.defs.resources import build_resources
    from finance_assets.defs.silver.assets import build_silver_asset
    from finance_assets.lake.partitions import build_partitioning

    landing, lake = tmp_path / "landing", tmp_path / "lake"
    generate(
        str(landing),
        GenerateConfig(days[0], DAY, orders_per_day=5, empty_folders={("expenses", DAY)}),
    )
    settings = Settings.load(landing_uri=str(landing), lake_uri=str(lake))
    partitions = build_partitioning(settings)
    assets = [
        build_bronze_asset(EXPENSES, partitions),
        build_silver_asset(EXPENSES, partitions, settings),
    ]
    landing_asset = dg.AssetSpec(("landing", "expenses"), partitions_def=partitions.daily)
    for day in days:
        result = dg.materialize(
            [*assets, landing_asset],
            selection=dg.AssetSelection.assets(*[key for a in assets for key in a.keys]),
            partition_key=day.isoformat(),
            resources={
                **build_resources(settings),
                **({"spark": spark_on[day]} if day in (spark_on or {}) else {}),
            },
            raise_on_error=False,
        )
    return result


def _checks(result: dg.ExecuteInProcessResult) -> dict[str, dg.AssetCheckEvaluation]:
    return {
        f"{e.asset_key.to_user_string()}:{e.check_name}": e
        for e in result.get_asset_check_evaluations()
    }


def test_an_empty_partition_runs_no_spark_job_and_passes_its_checks(spark, tmp_path) -> None:
    before = _last_job_id(spark)
    result = _materialize(tmp_path, spark)

    assert result.success
    assert _last_job_id(spark) == before, "an empty partition must not start a Spark job"
    checks = _checks(result)
    assert set(checks) == {
        "bronze/expenses_raw:pandera_schema",
        "bronze/expenses_raw:landing_records_reconcile",
        "silver/expenses:pandera_schema",
        "silver/expenses:key_unique_across_partitions",
        "silver/expenses:bronze_rows_reconcile",
        "silver/expenses:quarantine_rate",
        "quarantine/expenses_rejected:pandera_schema",
    }
    assert all(c.passed for c in checks.values()), checks
    schema = checks["silver/expenses:pandera_schema"].metadata
    assert schema["rows_checked"].value == 0
    assert checks["bronze/expenses_raw:landing_records_reconcile"].metadata[
        "files_checked"
    ].value == (0)


def test_an_empty_day_of_an_existing_table_commits_its_schema_without_analysing_rules(
    spark, tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Once silver and quarantine exist, a day without a drop takes their columns from the
    Delta log: the rules' plan, which a fresh process would pay a Spark analysis for, is not
    built, and the tables keep their schemas."""
    import finance_assets.defs.silver.assets as silver
    from finance_assets.lake.delta import DeltaRsLake

    analysed = []
    monkeypatch.setattr(silver, "classify", _counting(silver.classify, analysed))
    result = _materialize(tmp_path, spark, days=(DAY - timedelta(days=1), DAY))

    assert result.success
    assert len(analysed) == 1, "only the day with a drop classifies bronze"
    checks = _checks(result)
    assert all(c.passed for c in checks.values()), checks
    assert checks["silver/expenses:pandera_schema"].metadata["rows_checked"].value == 0
    lake = DeltaRsLake(str(tmp_path / "lake"))
    the_day = PartitionRange(PARTITION_COLUMN, DAY, DAY)
    for table in (tables.silver(EXPENSES).path, tables.quarantine(EXPENSES).path):
        assert lake.partition_row_counts(table, the_day) == {}
        assert lake.schema(table) == lake.spark_schema(table, version=0)


def test_a_day_without_a_drop_never_asks_for_the_spark_session(spark, tmp_path) -> None:
    """Once the tables exist, bronze and silver of a day whose folder is empty work from the
    Delta log alone, checks included: given a Spark Connect address nobody listens on, they
    still succeed. The first step of a fresh process does not wait for a JVM to start."""
    from finance_assets.lake.resources import SparkResource

    nobody = SparkResource(
        mode="connect", connect_url=f"sc://127.0.0.1:{_closed_port()}", spark_config={}
    )
    result = _materialize(tmp_path, spark, (DAY - timedelta(days=1), DAY), {DAY: nobody})

    assert result.success, [e.message for e in result.all_events if e.is_failure]
    checks = _checks(result)
    assert len(checks) == 7
    assert all(c.passed for c in checks.values()), checks


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _counting(function, calls: list):
    def counted(*args, **kwargs):
        calls.append(args)
        return function(*args, **kwargs)

    return counted


def _text_row_numbers(original):
    """bronze_schema, but ``_source_row`` as text: a bronze write of the wrong type."""

    def schema(dataset):
        return T.StructType(
            [
                T.StructField(f.name, T.StringType(), f.nullable) if f.name == "_source_row" else f
                for f in original(dataset).fields
            ]
        )

    return schema


def _double_amounts(original):
    """silver_rows, but ``expense_amount`` as a double: money that is not decimal(18,2)."""

    def rows(classified, dataset):
        return original(classified, dataset).withColumn(
            "expense_amount", F.col("expense_amount").cast("double")
        )

    return rows


@pytest.mark.parametrize(
    ("module", "name", "broken", "check", "column"),
    [
        ("bronze", "bronze_schema", _text_row_numbers, "bronze/expenses_raw", "_source_row"),
        ("silver", "silver_rows", _double_amounts, "silver/expenses", "expense_amount"),
    ],
)
def test_a_wrong_type_in_an_empty_partition_fails_its_schema_check(
    spark, tmp_path, monkeypatch: pytest.MonkeyPatch, module, name, broken, check, column
) -> None:
    import finance_assets.defs.bronze.assets as bronze
    import finance_assets.defs.silver.assets as silver

    target = {"bronze": bronze, "silver": silver}[module]
    monkeypatch.setattr(target, name, broken(getattr(target, name)))
    checks = _checks(_materialize(tmp_path, spark))

    schema = checks[f"{check}:pandera_schema"]
    assert not schema.passed
    assert set(schema.metadata["wrong_types"].value) == {column}
    assert schema.metadata["rows_checked"].value == 0
    assert not [k for k, c in checks.items() if not c.passed and k != f"{check}:pandera_schema"]


@pytest.mark.parametrize("name", sorted(DATASETS))
def test_an_empty_silver_write_has_the_schema_of_classified_bronze(spark, name) -> None:
    """The schema of no rows (analysed once per bronze schema) is exactly what classifying
    bronze gives, for silver and quarantine: types and nullability."""
    from finance_assets.bronze.transforms import bronze_schema
    from finance_assets.defs.silver.assets import _classified_schema
    from finance_assets.lake.frames import empty_frame
    from finance_assets.silver.rules import classify, quarantine_rows, silver_rows

    dataset = DATASETS[name]
    bronze = empty_frame(spark, bronze_schema(dataset))
    for rows_of in (silver_rows, quarantine_rows):
        expected = rows_of(classify(bronze, dataset), dataset).schema
        for _ in range(2):  # analysed, then remembered
            empty = empty_frame(spark, _classified_schema(bronze, dataset))
            assert rows_of(empty, dataset).schema == expected
