"""Silver and quarantine assets: typed, validated rows, and every rejected row with a reason."""

import dagster as dg
from pyspark import StorageLevel
from pyspark.sql import functions as F

from finance_assets.bronze.assets import bronze_key, table_path
from finance_assets.checks.names import BRONZE_RECONCILES
from finance_assets.datasets import DATASETS, PARTITION_COLUMN, Dataset
from finance_assets.lake.delta import Lake, PartitionRange
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
        check_specs=[
            dg.AssetCheckSpec(
                BRONZE_RECONCILES,
                asset=silver_key(dataset),
                additional_deps=[quarantine_key(dataset), bronze_key(dataset)],
                blocking=True,
                description="For every partition: bronze rows = silver rows + quarantine rows.",
            )
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
        reasons = _reason_counts(quarantined)
        _log_file_problems(context, quarantined)
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
            },
        )
        yield reconcile(store, session, dataset, where)

    return validate


def _reason_counts(quarantined) -> dict[str, int]:
    rows = quarantined.groupBy(REASON).count().collect()
    return dict(sorted((r[REASON], int(r["count"])) for r in rows))


def _log_file_problems(context: dg.AssetExecutionContext, quarantined) -> None:
    """Name each file with rejected rows, its reasons and first offending row numbers."""
    problems = (
        quarantined.groupBy("_source_file", REASON)
        .agg(F.count(F.lit(1)).alias("rows"), F.min("_source_row").alias("first_row"))
        .orderBy(F.desc("rows"))
        .limit(MAX_FILE_PROBLEMS_LOGGED)
        .collect()
    )
    for p in problems:
        context.log.warning(
            f"{p['_source_file']}: {p['rows']} row(s) quarantined as {p[REASON]} "
            f"(first at data row {p['first_row']})"
        )


def reconcile(store: Lake, session, dataset: Dataset, where: PartitionRange) -> dg.AssetCheckResult:
    """Compare per-partition row counts from the Delta logs of bronze, silver and quarantine."""
    bronze = store.partition_row_counts(session, table_path(bronze_key(dataset)), where)
    silver = store.partition_row_counts(session, table_path(silver_key(dataset)), where)
    rejected = store.partition_row_counts(session, table_path(quarantine_key(dataset)), where)
    days = sorted(set(bronze) | set(silver) | set(rejected))
    mismatches = {
        day.isoformat(): {
            "bronze": bronze.get(day, 0),
            "silver": silver.get(day, 0),
            "quarantine": rejected.get(day, 0),
        }
        for day in days
        if bronze.get(day, 0) != silver.get(day, 0) + rejected.get(day, 0)
    }
    return dg.AssetCheckResult(
        check_name=BRONZE_RECONCILES,
        asset_key=silver_key(dataset),
        passed=not mismatches,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={
            "bronze_rows": sum(bronze.values()),
            "silver_rows": sum(silver.values()),
            "quarantine_rows": sum(rejected.values()),
            "partitions_checked": len(days),
            "mismatched_partitions": dg.MetadataValue.json(mismatches),
        },
    )


def build_silver(partitions: Partitioning) -> list[dg.AssetsDefinition]:
    return [build_silver_asset(d, partitions) for d in DATASETS.values()]
