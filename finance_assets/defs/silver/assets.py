"""Silver and quarantine assets: typed, validated rows, and every rejected row with a reason.

One pass classifies a partition's bronze rows and writes both tables. The two assets can be
materialized on their own too (the other one is left as it was; the blocking
``bronze_rows_reconcile`` check then proves they still add up to bronze).
"""

import dagster as dg
from pyspark import StorageLevel
from pyspark.sql import functions as F

from finance_assets.contract import DATASETS, PARTITION_COLUMN, Dataset
from finance_assets.lake import tables
from finance_assets.lake.metadata import table_metadata
from finance_assets.lake.partitions import Partitioning, current_partitioning, materialized_range
from finance_assets.lake.resources import LakeResource
from finance_assets.lake.spark import SparkResource
from finance_assets.silver.rules import REASON, classify, quarantine_rows, silver_rows

MAX_FILE_PROBLEMS_LOGGED = 20


def build_silver_asset(dataset: Dataset, partitions: Partitioning) -> dg.AssetsDefinition:
    silver, rejected = tables.silver(dataset), tables.quarantine(dataset)
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
        partitions_def=partitions.of(dataset.cadence),
        backfill_policy=dg.BackfillPolicy.single_run(),
        can_subset=True,
    )
    def validate(context: dg.AssetExecutionContext, spark: SparkResource, lake: LakeResource):
        session = spark.spark_session
        store = lake.lake()
        where = materialized_range(context, PARTITION_COLUMN)
        selected = context.selected_asset_keys
        bronze = store.read(session, tables.bronze(dataset).path, where)
        classified = classify(bronze, dataset).persist(StorageLevel.MEMORY_AND_DISK)
        try:
            if silver.key in selected:
                written = store.replace_partitions(
                    silver_rows(classified, dataset), silver.path, where
                )
                yield dg.MaterializeResult(
                    asset_key=silver.key,
                    metadata=table_metadata(written, store.read(session, silver.path, where)),
                )
            if rejected.key in selected:
                written = store.replace_partitions(
                    quarantine_rows(classified, dataset), rejected.path, where
                )
                quarantined = store.read(session, rejected.path, where)
                by_partition = _reason_counts_by_partition(quarantined)
                reasons = _totals(by_partition)
                _log_file_problems(context, quarantined, reasons)
                yield dg.MaterializeResult(
                    asset_key=rejected.key,
                    metadata={
                        **table_metadata(written, quarantined),
                        "rows_by_reason": dg.MetadataValue.json(reasons),
                        "rows_by_partition_and_reason": dg.MetadataValue.json(by_partition),
                    },
                )
        finally:
            classified.unpersist()

    return validate


def _reason_counts_by_partition(quarantined) -> dict[str, dict[str, int]]:
    """{partition date: {reason: rows}} for the partitions just written."""
    counts: dict[str, dict[str, int]] = {}
    for r in quarantined.groupBy(PARTITION_COLUMN, REASON).count().collect():
        counts.setdefault(r[PARTITION_COLUMN].isoformat(), {})[r[REASON]] = int(r["count"])
    return dict(sorted(counts.items()))


def _totals(by_partition: dict[str, dict[str, int]]) -> dict[str, int]:
    totals: dict[str, int] = {}
    for reasons in by_partition.values():
        for reason, rows in reasons.items():
            totals[reason] = totals.get(reason, 0) + rows
    return dict(sorted(totals.items()))


def _log_file_problems(context: dg.AssetExecutionContext, quarantined, reasons) -> None:
    """Summarize rejects at WARNING; name each file, reason and first row at INFO."""
    if not reasons:
        return
    problems = (
        quarantined.groupBy("_source_file", REASON)
        .agg(F.count(F.lit(1)).alias("rows"), F.min("_source_row").alias("first_row"))
        .orderBy(F.desc("rows"), "_source_file")
        .limit(MAX_FILE_PROBLEMS_LOGGED)
        .collect()
    )
    for p in problems:
        context.log.info(
            f"{p['_source_file']}: {p['rows']} row(s) quarantined as {p[REASON]} "
            f"(first at data row {p['first_row']})"
        )
    summary = ", ".join(f"{reason} {rows}" for reason, rows in reasons.items())
    context.log.warning(
        f"{sum(reasons.values())} row(s) quarantined ({summary}); "
        "list them with `finance-assets quarantine`"
    )


def build_silver(partitions: Partitioning) -> list[dg.AssetsDefinition]:
    return [build_silver_asset(d, partitions) for d in DATASETS.values()]


@dg.definitions
def defs() -> dg.Definitions:
    return dg.Definitions(assets=build_silver(current_partitioning()))
