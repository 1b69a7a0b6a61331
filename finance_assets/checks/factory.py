"""Turn schemas and reconciliation rules into partition-aware Dagster asset checks."""

from collections.abc import Callable
from datetime import timedelta

import dagster as dg
import pandera.pyspark as pa

from finance_assets.checks.evaluate import evaluate
from finance_assets.checks.names import SCHEMA
from finance_assets.lake.delta import Lake, PartitionRange
from finance_assets.lake.partitions import PARTITION_TAG, RANGE_END_TAG, RANGE_START_TAG
from finance_assets.lake.resources import LakeResource
from finance_assets.lake.spark import SparkResource
from finance_assets.lake.tables import Table


def run_range(
    context: dg.AssetCheckExecutionContext,
    partitions_def: dg.TimeWindowPartitionsDefinition | None,
    column: str | None,
) -> PartitionRange | None:
    """The dates the current run materialized, or None to judge the whole table."""
    tags = context.run.tags
    if partitions_def is None or column is None:
        return None
    if RANGE_START_TAG in tags:
        first, last = tags[RANGE_START_TAG], tags[RANGE_END_TAG]
    elif PARTITION_TAG in tags:
        first = last = tags[PARTITION_TAG]
    else:
        return None
    start = partitions_def.time_window_for_partition_key(first).start.date()
    end = partitions_def.time_window_for_partition_key(last).end.date() - timedelta(days=1)
    return PartitionRange(column, start, end)


class CheckScope:
    """What a check body gets: the Spark session, the lake and the run's date range."""

    def __init__(self, context, spark: SparkResource, lake: LakeResource, where):
        self.context = context
        self.spark = spark.spark_session
        self.lake: Lake = lake.lake()
        self.where: PartitionRange | None = where

    def read(self, table: str, where: PartitionRange | None = None):
        return self.lake.read(self.spark, table, where or self.where)


CheckBody = Callable[[CheckScope], dg.AssetCheckResult]


def table_check(
    key: dg.AssetKey,
    name: str,
    description: str,
    body: CheckBody,
    partitions_def=None,
    partition_column: str | None = None,
    blocking: bool = True,
    additional_deps: list[dg.AssetKey] | None = None,
) -> dg.AssetChecksDefinition:
    """An asset check on ``key`` whose body judges the partitions this run wrote."""

    @dg.asset_check(
        asset=key,
        name=name,
        description=description,
        blocking=blocking,
        additional_deps=additional_deps or [],
    )
    def _check(
        context: dg.AssetCheckExecutionContext, spark: SparkResource, lake: LakeResource
    ) -> dg.AssetCheckResult:
        where = run_range(context, partitions_def, partition_column)
        return body(CheckScope(context, spark, lake, where))

    return _check


def schema_check(
    table: Table,
    schema: pa.DataFrameSchema,
    partitions_def=None,
    partition_column: str | None = None,
    blocking: bool = True,
) -> dg.AssetChecksDefinition:
    """The table's Pandera schema as an asset check (ERROR and blocking when ``blocking``)."""
    severity = dg.AssetCheckSeverity.ERROR if blocking else dg.AssetCheckSeverity.WARN

    def body(scope: CheckScope) -> dg.AssetCheckResult:
        report = evaluate(scope.read(table.path), schema)
        return dg.AssetCheckResult(
            passed=report.passed,
            severity=severity,
            description=None if report.passed else f"{schema.name} failed its schema",
            metadata={
                "check": SCHEMA,
                "rows_checked": report.rows,
                "failing_rows": report.failing_rows,
                "failures_by_rule": dg.MetadataValue.json(report.failures),
                "missing_columns": dg.MetadataValue.json(report.missing_columns),
                "wrong_types": dg.MetadataValue.json(report.wrong_types),
                "sample_failing_rows": dg.MetadataValue.json(report.samples),
                "range": str(scope.where.start) + ".." + str(scope.where.end)
                if scope.where
                else "whole table",
            },
        )

    return table_check(
        table.key,
        SCHEMA,
        f"Pandera schema {schema.name}: columns, types (decimal money), nullability, "
        "ranges and enumerations of the partitions just written.",
        body,
        partitions_def,
        partition_column,
        blocking,
    )
