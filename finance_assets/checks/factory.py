"""Turn schemas and reconciliation rules into partition-aware Dagster asset checks.

A check is a body that judges a :class:`CheckScope` (the partitions a run wrote). It runs
either inside the step that wrote its asset (:class:`InStepCheck`: a schema is judged with the
rows as they are written, see :func:`prepare_write`, or on the frames just written while they
are still cached, without reading the table again) or as a check step of its own
(:func:`table_check`), for rules that compare the asset with other tables.
"""

import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, timedelta

import dagster as dg
import pandera.pyspark as pa
import pyarrow
from pyspark.sql import DataFrame
from pyspark.sql import types as T

from finance_assets.checks.evaluate import (
    RowRule,
    evaluate,
    evaluate_collected,
    evaluate_empty,
    with_rule_flags,
)
from finance_assets.checks.names import CHECK_SECONDS, SCHEMA
from finance_assets.lake.delta import Lake, PartitionRange, PartitionSet, Where
from finance_assets.lake.partitions import PARTITION_TAG, RANGE_END_TAG, RANGE_START_TAG
from finance_assets.lake.resources import LakeResource, SparkResource
from finance_assets.lake.tables import Table

EVENTS_PER_PAGE = 10_000
"""The most event records Dagster's storage hands back at once."""
CLOCK_SKEW_S = 300.0
"""How far the clock of the process that created a run may be ahead of the run worker's."""


def run_range(
    context: dg.AssetCheckExecutionContext,
    key: dg.AssetKey,
    partitions_def: dg.TimeWindowPartitionsDefinition | None,
    column: str | None,
) -> Where | None:
    """The dates of ``key`` the current run materialized (its range, and any partition its
    step brought up to date beyond it), or None to judge the whole table."""
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
    run = PartitionRange(column, start, end)
    extra = {d for d in _materialized_partitions(context, key) if not run.contains(d)}
    return PartitionSet.of(column, [*run.days(), *extra]) if extra else run


def _materialized_partitions(context: dg.AssetCheckExecutionContext, key: dg.AssetKey) -> set:
    """The partitions of ``key`` this run materialized. Only ``key``'s materializations since
    the run was created are fetched (a backfill's thousands of other events are not read);
    storage ids are no bound, since SQLite storage numbers each run's events apart."""
    instance, run_id = context.instance, context.run.run_id
    record = instance.get_run_record_by_id(run_id)
    if record is None:
        return set()
    since = dg.AssetRecordsFilter(
        asset_key=key, after_timestamp=record.create_timestamp.timestamp() - CLOCK_SKEW_S
    )
    found, cursor = set(), None
    while True:
        page = instance.fetch_materializations(since, limit=EVENTS_PER_PAGE, cursor=cursor)
        found |= {
            date.fromisoformat(r.partition_key)
            for r in page.records
            if r.run_id == run_id and r.partition_key
        }
        if not page.has_more:
            return found
        cursor = page.cursor


class CheckScope:
    """What a check body gets: the Spark session, the lake, the run's dates and, inside the
    writing step, the frames just written (by table path) and ``facts`` the step found out
    while writing that a check needs (e.g. the landing files bronze parsed, the gold write's
    plan), ``empty``: the tables (by path) the step wrote no rows to, with the schema it
    wrote, so that their checks are judged without a Spark job, and ``collected``: the rows a
    write brought back to this process (a day's), with the columns its checks asked for
    (see :func:`prepare_write`).

    ``spark`` is the session, or a function that returns it: then the session is asked for
    only when a check first needs it, and checks judged from the Delta log alone never wait
    for a Spark start."""

    def __init__(
        self,
        context,
        spark,
        lake: Lake,
        where,
        written=None,
        facts=None,
        empty=None,
        collected=None,
    ):
        self.context = context
        self._spark = spark
        self.lake: Lake = lake
        self.where: Where | None = where
        self.written: dict = dict(written or {})
        self.facts: dict = dict(facts or {})
        self.empty: dict[str, T.StructType] = dict(empty or {})
        self.collected: dict[str, pyarrow.Table] = {
            path: rows for path, rows in (collected or {}).items() if rows is not None
        }

    @property
    def spark(self):
        if callable(self._spark):
            self._spark = self._spark()
        return self._spark

    def written_schema(self, table: str) -> T.StructType:
        """The columns the step wrote to ``table``: its frame's, else the Delta log's."""
        if table in self.written:
            return self.written[table].schema
        return self.lake.schema(table)

    def read(self, table: str, where: Where | None = None):
        if table in self.written and where is None:
            return self.written[table]
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
        where = run_range(context, key, partitions_def, partition_column)
        return body(CheckScope(context, spark.spark_session, lake.lake(), where))

    return _check


@dataclass(frozen=True)
class InStepCheck:
    """A check evaluated by the step that writes its asset, on the frames it just wrote."""

    name: str
    description: str
    body: CheckBody
    blocking: bool = True
    prepare: Callable[[DataFrame], tuple[DataFrame, tuple[str, ...]]] | None = None
    """Columns the check needs computed with the rows as they are written (not stored): the
    frame with them, and their names."""

    def spec(self, key: dg.AssetKey) -> dg.AssetCheckSpec:
        return dg.AssetCheckSpec(
            self.name, asset=key, description=self.description, blocking=self.blocking
        )


def check_specs(checks: dict[dg.AssetKey, list[InStepCheck]]) -> list[dg.AssetCheckSpec]:
    return [check.spec(key) for key, found in checks.items() for check in found]


def prepare_write(
    checks: Sequence[InStepCheck], frame: DataFrame
) -> tuple[DataFrame, tuple[str, ...]]:
    """``frame`` with the columns ``checks`` judge a write by (see ``InStepCheck.prepare``),
    and their names: the lake computes them with the rows but does not store them."""
    added: tuple[str, ...] = ()
    for check in checks:
        if check.prepare is not None:
            frame, names = check.prepare(frame)
            added += names
    return frame, added


def evaluate_in_step(
    context: dg.AssetExecutionContext,
    key: dg.AssetKey,
    checks: list[InStepCheck],
    scope: CheckScope,
) -> Iterator[dg.AssetCheckResult]:
    """The results of the checks of ``key`` that this step was asked to run."""
    selected = context.selected_asset_check_keys
    for check in checks:
        if dg.AssetCheckKey(key, check.name) not in selected:
            continue
        started = time.perf_counter()
        result = check.body(scope)
        yield dg.AssetCheckResult(
            asset_key=key,
            check_name=check.name,
            passed=result.passed,
            severity=result.severity,
            description=result.description,
            # What the check cost its step (the benchmarks add these up).
            metadata={**result.metadata, CHECK_SECONDS: round(time.perf_counter() - started, 3)},
        )


def schema_check(
    table: Table,
    schema: pa.DataFrameSchema,
    blocking: bool = True,
    rules: Sequence[RowRule] = (),
) -> InStepCheck:
    """The table's Pandera schema and row ``rules`` (ERROR and blocking when ``blocking``,
    else WARN), judged on the rows the step just wrote."""
    severity = dg.AssetCheckSeverity.ERROR if blocking else dg.AssetCheckSeverity.WARN

    def body(scope: CheckScope) -> dg.AssetCheckResult:
        if table.path in scope.empty:  # no rows written: the schema alone can fail
            report = evaluate_empty(scope.empty[table.path], schema)
        elif table.path in scope.collected:  # the rules were judged as the rows were written
            written = scope.written_schema(table.path)
            report = evaluate_collected(scope.collected[table.path], written, schema, rules)
        else:
            report = evaluate(scope.read(table.path), schema, rules)
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

    also = "".join(f", {rule.name}" for rule in rules)
    return InStepCheck(
        SCHEMA,
        f"Pandera schema {schema.name}: columns, types (decimal money), nullability, "
        f"ranges and enumerations{also} of the partitions just written.",
        body,
        blocking,
        prepare=lambda frame: with_rule_flags(frame, schema, rules),
    )
