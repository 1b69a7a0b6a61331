"""Silver and quarantine assets: typed, validated rows, and every rejected row with a reason."""

import dagster as dg
from pyspark import StorageLevel
from pyspark.sql import functions as F

from finance_assets.bronze.assets import bronze_key, table_path
from finance_assets.datasets import DATASETS, PARTITION_COLUMN, Dataset
from finance_assets.metadata import table_metadata
from finance_assets.partitions import Partitioning, materialized_range
from finance_assets.resources.spark import SparkResource
from finance_assets.resources.storage import LakeResource
from finance_assets.silver.rules import REASON, classify, quarantine_rows, silver_rows

MAX_FILE_PROBLEMS_LOGGED = 20


def silver_key(dataset: Dataset) -> dg.AssetKey:
    return dg.AssetKey(["silver", dataset.name])


def quarantine_key(dataset: Dataset) -> dg.AssetKey:
    return dg.AssetKey(["quarantine", dataset.name])


def build_silver_asset(dataset: Dataset, partitions: Partitioning) -> dg.AssetsDefinition:
    partitions_def = partitions.monthly if dataset.is_monthly else partitions.daily
    same_partition = [
        dg.AssetDep(bronze_key(dataset), partition_mapping=dg.IdentityPartitionMapping())
    ]

    @dg.multi_asset(
        name=f"validate_{dataset.name}",
        specs=[
            dg.AssetSpec(
                silver_key(dataset),
                group_name="silver",
                description=(
                    f"Valid {dataset.name}: trimmed, typed (decimal(18,2) money, dates, ids), "
                    "enumerations in canonical spelling, one row per key and partition."
                ),
                deps=same_partition,
                kinds={"spark", "delta"},
            ),
            dg.AssetSpec(
                quarantine_key(dataset),
                group_name="silver",
                description=(
                    f"Rejected {dataset.name} rows, raw strings, each with the first rule it "
                    "failed as _reason and its source file and row."
                ),
                deps=same_partition,
                kinds={"spark", "delta"},
            ),
        ],
        partitions_def=partitions_def,
        backfill_policy=dg.BackfillPolicy.single_run(),
    )
    def validate(context: dg.AssetExecutionContext, spark: SparkResource, lake: LakeResource):
        session = spark.spark_session
        store = lake.lake()
        where = materialized_range(context, PARTITION_COLUMN)
        bronze = store.read(session, table_path(bronze_key(dataset)), where)
        classified = classify(bronze, dataset).persist(StorageLevel.MEMORY_AND_DISK)
        try:
            silver_result = store.replace_partitions(
                silver_rows(classified, dataset), table_path(silver_key(dataset)), where
            )
            quarantine_result = store.replace_partitions(
                quarantine_rows(classified, dataset), table_path(quarantine_key(dataset)), where
            )
        finally:
            classified.unpersist()

        quarantined = store.read(session, table_path(quarantine_key(dataset)), where)
        by_partition = _reason_counts_by_partition(quarantined)
        reasons = _totals(by_partition)
        _log_file_problems(context, quarantined, reasons)
        yield dg.MaterializeResult(
            asset_key=silver_key(dataset),
            metadata=table_metadata(
                silver_result, store.read(session, table_path(silver_key(dataset)), where)
            ),
        )
        yield dg.MaterializeResult(
            asset_key=quarantine_key(dataset),
            metadata={
                **table_metadata(quarantine_result, quarantined),
                "rows_by_reason": dg.MetadataValue.json(reasons),
                "rows_by_partition_and_reason": dg.MetadataValue.json(by_partition),
            },
        )

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
