"""Silver and quarantine assets: typed, validated rows, and every rejected row with a reason.

One pass classifies a partition's bronze rows and writes both tables, then judges them: their
schemas, silver keys against other partitions, and from the Delta log, the blocking
``bronze_rows_reconcile`` (every bronze row in silver or quarantine) and ``quarantine_rate``.
The two assets can be materialized on their own too (the other one is left as it was; the
reconciliation then proves they still add up to bronze).
"""

import dagster as dg
import pyarrow as pa
import pyarrow.dataset as ds
from pyspark import StorageLevel
from pyspark.sql import DataFrame
from pyspark.sql import types as T

from finance_assets.checks.catalog import silver_checks
from finance_assets.checks.factory import (
    CheckScope,
    check_specs,
    evaluate_in_step,
    prepare_write,
)
from finance_assets.checks.reconcile import QuarantineThresholds
from finance_assets.contract import DATASETS, PARTITION_COLUMN, Dataset
from finance_assets.lake import tables
from finance_assets.lake.frames import empty_frame
from finance_assets.lake.metadata import table_metadata
from finance_assets.lake.partitions import Partitioning, current_partitioning, materialized_range
from finance_assets.lake.resources import LakeResource, SparkResource
from finance_assets.settings import Settings, current_settings
from finance_assets.silver.rules import REASON, classify, quarantine_rows, silver_rows

MAX_FILE_PROBLEMS_LOGGED = 20


def build_silver_asset(
    dataset: Dataset, partitions: Partitioning, settings: Settings
) -> dg.AssetsDefinition:
    silver, rejected = tables.silver(dataset), tables.quarantine(dataset)
    checks = silver_checks(dataset, quarantine_thresholds(settings))
    same_partition = [
        dg.AssetDep(tables.bronze(dataset).key, partition_mapping=dg.IdentityPartitionMapping())
    ]

    @dg.multi_asset(
        name=f"validate_{dataset.name}",
        specs=[
            dg.AssetSpec(
                silver.key,
                group_name="silver",
                description=(
                    f"Valid {dataset.name}: trimmed, typed (decimal(18,2) money, dates, ids), "
                    "enumerations in canonical spelling, one row per key and partition."
                ),
                deps=same_partition,
                kinds={"spark", "delta"},
            ),
            dg.AssetSpec(
                rejected.key,
                group_name="quarantine",
                description=(
                    f"Rejected {dataset.name} rows, raw strings, each with the first rule it "
                    "failed as _reason and its source file and row."
                ),
                deps=same_partition,
                kinds={"spark", "delta"},
            ),
        ],
        check_specs=check_specs(checks),
        partitions_def=partitions.of(dataset.cadence),
        backfill_policy=dg.BackfillPolicy.single_run(),
        can_subset=True,
        # One step writes both tables; the silver table's pool stands for the pair.
        pool=silver.pool,
    )
    def validate(context: dg.AssetExecutionContext, spark: SparkResource, lake: LakeResource):
        store = lake.lake()
        session = lake.session_on_demand(spark)
        where = materialized_range(context, PARTITION_COLUMN)
        selected = context.selected_asset_keys
        bronze_rows = store.partition_row_counts(tables.bronze(dataset).path, where)
        empty = not any(bronze_rows.values())
        classified = None
        if not empty:
            bronze = store.read(session(), tables.bronze(dataset).path, where)
            classified = classify(bronze, dataset).persist(StorageLevel.MEMORY_AND_DISK)
        frames, schemas, collected = {}, {}, {}
        try:
            if silver.key in selected:
                result, frame, schema = _write(
                    store,
                    silver,
                    silver_rows,
                    classified,
                    dataset,
                    where,
                    session,
                    checks[silver.key],
                )
                frames[silver.path], schemas[silver.path] = frame, schema
                collected[silver.path] = result.collected
                yield dg.MaterializeResult(
                    asset_key=silver.key, metadata=table_metadata(result, schema)
                )
            if rejected.key in selected:
                result, frame, schema = _write(
                    store,
                    rejected,
                    quarantine_rows,
                    classified,
                    dataset,
                    where,
                    session,
                    checks[rejected.key],
                )
                frames[rejected.path], schemas[rejected.path] = frame, schema
                collected[rejected.path] = result.collected
                by_partition = _reason_counts_by_partition(store, rejected, result, where)
                reasons = _totals(by_partition)
                _log_file_problems(context, store, rejected, result, where, reasons)
                yield dg.MaterializeResult(
                    asset_key=rejected.key,
                    metadata={
                        **table_metadata(result, schema),
                        "rows_by_reason": dg.MetadataValue.json(reasons),
                        "rows_by_partition_and_reason": dg.MetadataValue.json(by_partition),
                    },
                )
            if empty:  # no rows written: the checks judge the schemas committed
                scope = CheckScope(context, session, store, where, empty=schemas)
            else:
                scope = CheckScope(context, session, store, where, frames, collected=collected)
            for key, found in checks.items():
                yield from evaluate_in_step(context, key, found, scope)
        finally:
            if classified is not None:
                classified.unpersist()

    return validate


def _write(store, table, rows_of, classified, dataset, where, start_spark, checks):
    """Replace ``where`` of ``table`` with its rows of ``classified``: (write result, the frame
    written, its schema). With no bronze rows there (``classified`` None), one commit of no
    rows and no frame. The rows are written with the columns their ``checks`` ask for."""
    if classified is None:
        schema = _schema_of_no_rows(store, table, rows_of, dataset, where, start_spark)
        return store.empty_partitions(schema, table.path, where), None, schema
    frame = rows_of(classified, dataset)
    flagged, unstored = prepare_write(checks, frame)
    result = store.replace_partitions(flagged, table.path, where, unstored=unstored)
    return result, frame, frame.schema


def _schema_of_no_rows(store, table, rows_of, dataset, where, start_spark) -> T.StructType:
    """The columns an empty write commits and its schema check judges: the table's own once it
    exists (from the Delta log: a day without a drop costs a fresh process no Spark analysis;
    no rows change a table's columns, and a transform that changes a type fails the schema
    check of its first write of rows), else those classifying bronze gives."""
    if store.exists(table.path):
        return store.schema(table.path)
    spark = start_spark()
    bronze = store.read(spark, tables.bronze(dataset).path, where)
    return rows_of(empty_frame(spark, _classified_schema(bronze, dataset)), dataset).schema


_CLASSIFIED_SCHEMAS: dict[tuple[str, str], T.StructType] = {}


def _classified_schema(bronze: DataFrame, dataset: Dataset) -> T.StructType:
    """The columns ``classify`` gives rows of bronze's schema, analysed by Spark once per
    process and bronze schema: building the rules' plan costs more than writing no rows."""
    key = (dataset.name, bronze.schema.json())
    if key not in _CLASSIFIED_SCHEMAS:
        _CLASSIFIED_SCHEMAS[key] = classify(bronze, dataset).schema
    return _CLASSIFIED_SCHEMAS[key]


def _quarantined(store, table, result, where, columns) -> pa.Table:
    """Columns of the quarantine rows just written, read from the new files (no Spark job)."""
    if result.files:
        return ds.dataset(list(result.files), format="parquet", partitioning="hive").to_table(
            columns=columns
        )
    return store.read_arrow(table.path, where, columns)


def _reason_counts_by_partition(store, table, result, where) -> dict[str, dict[str, int]]:
    """{partition date: {reason: rows}} for the partitions just written."""
    rows = _quarantined(store, table, result, where, [PARTITION_COLUMN, REASON])
    counts: dict[str, dict[str, int]] = {}
    if rows.num_rows == 0:
        return counts
    grouped = rows.group_by([PARTITION_COLUMN, REASON]).aggregate([(REASON, "count")])
    for day, reason, n in zip(*(grouped.column(i).to_pylist() for i in range(3)), strict=True):
        counts.setdefault(str(day), {})[reason] = int(n)
    return dict(sorted(counts.items()))


def _totals(by_partition: dict[str, dict[str, int]]) -> dict[str, int]:
    totals: dict[str, int] = {}
    for reasons in by_partition.values():
        for reason, rows in reasons.items():
            totals[reason] = totals.get(reason, 0) + rows
    return dict(sorted(totals.items()))


def _log_file_problems(context, store, table, result, where, reasons) -> None:
    """Summarize rejects at WARNING; name each file, reason and first row at INFO, in one
    message (each message is an event the instance stores)."""
    if not reasons:
        return
    rows = _quarantined(store, table, result, where, ["_source_file", REASON, "_source_row"])
    grouped = rows.group_by(["_source_file", REASON]).aggregate(
        [("_source_row", "count"), ("_source_row", "min")]
    )
    problems = sorted(
        grouped.to_pylist(), key=lambda p: (-p["_source_row_count"], p["_source_file"])
    )
    context.log.info(
        "\n".join(
            f"{p['_source_file']}: {p['_source_row_count']} row(s) quarantined as {p[REASON]} "
            f"(first at data row {p['_source_row_min']})"
            for p in problems[:MAX_FILE_PROBLEMS_LOGGED]
        )
    )
    summary = ", ".join(f"{reason} {rows}" for reason, rows in reasons.items())
    context.log.warning(
        f"{sum(reasons.values())} row(s) quarantined ({summary}); "
        "list them with `finance-assets quarantine`"
    )


def quarantine_thresholds(settings: Settings) -> QuarantineThresholds:
    return QuarantineThresholds(
        warn=settings.quarantine_warn_rate,
        error=settings.quarantine_error_rate,
        min_rows=settings.quarantine_min_rows,
    )


def build_silver(partitions: Partitioning, settings: Settings) -> list[dg.AssetsDefinition]:
    return [build_silver_asset(d, partitions, settings) for d in DATASETS.values()]


@dg.definitions
def defs() -> dg.Definitions:
    return dg.Definitions(assets=build_silver(current_partitioning(), current_settings()))
