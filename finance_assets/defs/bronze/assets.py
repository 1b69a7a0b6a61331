"""Bronze assets: every row of every landing file, as the original strings, with lineage."""

import re
from dataclasses import replace
from datetime import datetime, timezone

import dagster as dg
from pydantic import Field

from finance_assets.bronze.transforms import bronze_schema, read_landing, with_ingestion_stamp
from finance_assets.checks import reconcile
from finance_assets.checks.catalog import bronze_checks
from finance_assets.checks.factory import (
    CheckScope,
    check_specs,
    evaluate_in_step,
    prepare_write,
)
from finance_assets.contract import DATASETS, PARTITION_COLUMN, Dataset
from finance_assets.lake import tables
from finance_assets.lake.metadata import table_metadata
from finance_assets.lake.partitions import Partitioning, current_partitioning, materialized_range
from finance_assets.lake.resources import LakeResource, SparkResource
from finance_assets.landing.resource import LandingResource

MAX_EMPTY_FILES_LOGGED = 50
# How a Python worker's PermissionError / FileNotFoundError reads in Spark's error text.
_PERMANENT_IN_TASK = re.compile(r"^(PermissionError|FileNotFoundError): .+$", re.M)


class BronzeConfig(dg.Config):
    """How a bronze materialization treats partitions that have no drop files."""

    replace_empty_partitions: bool = Field(
        default=False,
        description=(
            "Replace a partition that has no drop files with nothing. By default such a "
            "partition keeps the rows already ingested (a pruned landing zone must not "
            "empty bronze); set this to empty a day on purpose."
        ),
    )


def build_bronze_asset(dataset: Dataset, partitions: Partitioning) -> dg.AssetsDefinition:
    table = tables.bronze(dataset)
    partitions_def = partitions.of(dataset.cadence)
    checks = bronze_checks(dataset)

    @dg.asset(
        key=table.key,
        group_name="bronze",
        description=(
            f"Every data row of every {dataset.name} drop file, values as the original "
            "strings, with source file, row number, ingestion time and run id. Rows that "
            "could not be parsed keep their raw text in _corrupt_record."
        ),
        partitions_def=partitions_def,
        backfill_policy=dg.BackfillPolicy.single_run(),
        # Bronze is the only layer that reads the landing zone: a step that still fails after
        # the client-level retries (a share or endpoint that stays unreachable) is retried.
        retry_policy=dg.RetryPolicy(
            max_retries=3, delay=10, backoff=dg.Backoff.EXPONENTIAL, jitter=dg.Jitter.PLUS_MINUS
        ),
        deps=[
            dg.AssetDep(
                tables.landing(dataset).key, partition_mapping=dg.IdentityPartitionMapping()
            )
        ],
        kinds={"spark", "delta"},
        pool=table.pool,
        check_specs=check_specs(checks),
    )
    def bronze(
        context: dg.AssetExecutionContext,
        config: BronzeConfig,
        spark: SparkResource,
        lake: LakeResource,
        landing: LandingResource,
    ) -> dg.MaterializeResult:
        store = lake.lake()
        session = lake.session_on_demand(spark)
        requested = materialized_range(context, PARTITION_COLUMN)
        files = [
            f
            for f in _list_landing(landing, dataset, requested)
            if not dataset.is_monthly or f.partition_date.day == 1
        ]
        kept = (
            {}
            if config.replace_empty_partitions
            else _without_files(store, table, files, requested)
        )
        if kept:
            context.log.warning(
                f"{len(kept)} {dataset.name} partition(s) have no drop files but hold "
                f"{sum(kept.values()):,} ingested row(s); kept as they are: "
                f"{', '.join(str(d) for d in sorted(kept)[:MAX_EMPTY_FILES_LOGGED])}. "
                "Set replace_empty_partitions (--replace-empty) to empty them."
            )
        where = replace(requested, keep=tuple(sorted(kept)))
        context.log.info(
            f"Ingesting {len(files)} {dataset.name} file(s) for {where.start}..{where.end}"
        )
        schema = bronze_schema(dataset)
        in_process = landing.reads_in_process(files)
        if not files:  # nothing to parse: one commit, no Spark job
            result = store.empty_partitions(schema, table.path, where)
        else:
            try:
                parsed = read_landing(
                    session(),
                    files,
                    dataset,
                    landing.s3_options,
                    landing.native_reads,
                    in_process=in_process,
                )
                stamp = datetime.now(timezone.utc)
                rows = with_ingestion_stamp(parsed, dataset, stamp, context.run.run_id)
                flagged, unstored = prepare_write(checks[table.key], rows)
                result = store.replace_partitions(flagged, table.path, where, unstored=unstored)
            except Exception as exc:
                unreadable = unreadable_file(exc)
                if unreadable is None:
                    raise
                raise dg.Failure(description=unreadable, allow_retries=False) from exc
        per_file = rows_per_file(store, table, result, where) if files else {}
        empty = [f.uri for f in files if not per_file.get(f.uri)]
        for uri in empty[:MAX_EMPTY_FILES_LOGGED]:
            context.log.warning(f"{uri}: no data rows (an empty or header-only file)")
        facts = {
            reconcile.LANDING_FILES: files,
            reconcile.ROWS_PER_FILE: per_file,
            reconcile.S3: landing.s3_options,
            reconcile.NATIVE_READS: landing.native_reads,
            reconcile.IN_PROCESS: in_process,
        }
        wrote_nothing = {} if files else {table.path: schema}  # its checks need no Spark job
        scope = CheckScope(
            context,
            session,
            store,
            where,
            facts=facts,
            empty=wrote_nothing,
            collected={table.path: result.collected},
        )
        return dg.MaterializeResult(
            check_results=list(evaluate_in_step(context, table.key, checks[table.key], scope)),
            metadata={
                **table_metadata(result, schema),
                "files": len(files),
                "files_without_rows": len(empty),
                "rows_per_file": dg.MetadataValue.json(per_file),
                "landing_uri": landing.root,
                "kept_partitions": dg.MetadataValue.json([str(d) for d in sorted(kept)]),
                "kept_rows": sum(kept.values()),
            },
        )

    return bronze


def _without_files(store, table: tables.Table, files: list, requested) -> dict:
    """Partitions of the range that hold rows but have no drop file now: {date: rows}."""
    with_files = {f.partition_date for f in files}
    held = store.partition_row_counts(table.path, requested)
    return {day: rows for day, rows in held.items() if rows and day not in with_files}


def _list_landing(landing: LandingResource, dataset: Dataset, where) -> list:
    """The drop files of the range; a landing zone that is not there fails without retries."""
    try:
        return landing.list_files(dataset.name, where.start, where.end)
    except (FileNotFoundError, PermissionError) as exc:
        raise dg.Failure(description=str(exc), allow_retries=False) from exc


def unreadable_file(exc: Exception) -> str | None:
    """The message of a landing file that cannot be read however often one tries (denied
    or gone), raised here or inside a Spark task; None for any other error."""
    if isinstance(exc, (PermissionError, FileNotFoundError)):
        return f"{type(exc).__name__}: {exc}"
    found = _PERMANENT_IN_TASK.search(str(exc))
    return found.group(0) if found else None


def rows_per_file(store, table: tables.Table, result, where) -> dict[str, int]:
    """Bronze rows per landing file among the partitions just written, read from the new
    files' ``_source_file`` column (no Spark job)."""
    if result.files:
        import pyarrow.dataset as ds

        column = ds.dataset(list(result.files), format="parquet").to_table(columns=["_source_file"])
    else:
        column = store.read_arrow(table.path, where, ["_source_file"])
    if column.num_rows == 0:
        return {}
    counts = column.group_by("_source_file").aggregate([("_source_file", "count")])
    return dict(
        zip(
            counts.column("_source_file").to_pylist(),
            counts.column("_source_file_count").to_pylist(),
            strict=True,
        )
    )


def build_bronze(partitions: Partitioning) -> list[dg.AssetsDefinition]:
    return [build_bronze_asset(d, partitions) for d in DATASETS.values()]


@dg.definitions
def defs() -> dg.Definitions:
    return dg.Definitions(assets=build_bronze(current_partitioning()))
