"""Bronze: landing files to rows with ingestion lineage, values kept as the original strings.

Files are listed on the driver and parsed inside Spark tasks, each task opening its
files itself (local path or S3). The same code path therefore works on
local Spark, a standalone cluster, Spark Connect and Databricks, and no large drop ever
passes through the driver. A small drop (a day's files, ``in_process``) is parsed by the
same functions in this process and handed to Spark as Arrow: a Spark task that runs Python
would first start a Python worker, seconds for a few hundred kilobytes of CSV.

Tasks parse with ``arrow_parser`` (``pyarrow.csv``), which gives exactly the rows of the
strict Python parser (``csv_parser``) and hands it any part of a file it cannot read
exactly the same way. ``parser="python"`` runs the strict parser alone (the reference).
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from datetime import date, datetime

import pyarrow as pa
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import types as T

from finance_assets.bronze import arrow_parser
from finance_assets.bronze.csv_parser import parse_records
from finance_assets.contract import PARTITION_COLUMN, Dataset
from finance_assets.lake.frames import empty_frame, select_expressions
from finance_assets.landing.zone import LandingFile, S3Options, open_binary

BATCH_ROWS = arrow_parser.BATCH_ROWS
BYTES_PER_TASK = 64 * 1024 * 1024
MIN_TASKS = 2


def parsed_schema(dataset: Dataset) -> T.StructType:
    """Columns produced by parsing, before ingestion stamps are added."""
    fields = [T.StructField(c, T.StringType()) for c in dataset.columns]
    fields += [
        T.StructField("_source_file", T.StringType(), nullable=False),
        T.StructField("_source_row", T.LongType(), nullable=False),
        T.StructField("_rescued_data", T.StringType()),
        T.StructField("_corrupt_record", T.StringType()),
        T.StructField(PARTITION_COLUMN, T.DateType(), nullable=False),
    ]
    return T.StructType(fields)


def bronze_schema(dataset: Dataset) -> T.StructType:
    """The bronze table's columns: parsed columns plus when and by which run they landed."""
    parsed = parsed_schema(dataset)
    return T.StructType(
        [
            *parsed.fields[:-1],
            T.StructField("_ingested_at", T.TimestampType(), nullable=False),
            T.StructField("_run_id", T.StringType(), nullable=False),
            parsed.fields[-1],
        ]
    )


def _arrow_schema(dataset: Dataset) -> pa.Schema:
    return arrow_parser.bronze_arrow_schema(dataset.columns)


PARSERS = ("arrow", "python")


def _check_parser(parser: str) -> None:
    if parser not in PARSERS:
        raise ValueError(f"unknown bronze parser {parser!r}, expected one of {PARSERS}")


def file_parser(dataset: Dataset, s3: S3Options | None, parser: str = "arrow"):
    """A ``mapInArrow`` function turning batches of (uri, partition_date) into parsed rows."""
    _check_parser(parser)
    columns = dataset.columns
    schema = _arrow_schema(dataset)

    def parse(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        for batch in batches:
            for uri, day in zip(
                batch.column(0).to_pylist(), batch.column(1).to_pylist(), strict=True
            ):
                yield from _parse_file(uri, day, columns, schema, s3, parser)

    return parse


def _parse_file(uri, day, columns, schema, s3, parser="arrow") -> Iterator[pa.RecordBatch]:
    with open_binary(uri, s3) as stream:
        if parser == "python":
            yield from _parse_stream(stream, uri, day, columns, schema)
        else:
            yield from arrow_parser.parse_file(stream, uri, day, columns)


def _parse_stream(stream, uri, day, columns, schema) -> Iterator[pa.RecordBatch]:
    """The strict Python parser's batches: the reference the Arrow parser must match."""
    rows: list = []
    for record in parse_records(stream, columns):
        rows.append(record)
        if len(rows) >= BATCH_ROWS:
            yield _to_batch(rows, uri, day, len(columns), schema)
            rows = []
    if rows:
        yield _to_batch(rows, uri, day, len(columns), schema)


def content_parser(dataset: Dataset, days: dict[str, date], parser: str = "arrow"):
    """A ``mapInArrow`` function over Spark's ``binaryFile`` rows (path, content)."""
    _check_parser(parser)
    columns = dataset.columns
    schema = _arrow_schema(dataset)

    def parse(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        for batch in batches:
            paths = batch.column("path").to_pylist()
            for path, content in zip(paths, batch.column("content").to_pylist(), strict=True):
                uri = spark_path_to_uri(path)
                if parser == "python":
                    stream = io.BytesIO(content)
                    yield from _parse_stream(stream, uri, days[uri], columns, schema)
                else:
                    yield from arrow_parser.parse_file(content, uri, days[uri], columns)

    return parse


def spark_path_to_uri(path: str) -> str:
    """Spark writes local paths as ``file:/x``; the lineage uses ``file:///x``."""
    if path.startswith("file:") and not path.startswith("file://"):
        return "file://" + path[len("file:") :]
    return path


def _to_batch(records, uri, day, width, schema) -> pa.RecordBatch:
    return arrow_parser.records_to_batch(records, uri, day, width, schema)


def read_landing(
    spark: SparkSession,
    files: list[LandingFile],
    dataset: Dataset,
    s3: S3Options | None = None,
    native: bool = False,
    parser: str = "arrow",
    in_process: bool = False,
) -> DataFrame:
    """Parse landing files into rows; each Spark task parses whole files.

    ``native``: the engine reads the bytes itself (Spark's ``binaryFile`` source, e.g. S3 on
    Databricks through its instance profile); otherwise tasks open the files (local or boto3).
    ``parser``: ``"arrow"`` (the fast path, falling back where it must) or ``"python"``
    (the strict parser alone). ``in_process``: parse here instead (a small drop), the same
    rows.
    """
    _check_parser(parser)
    if not files:
        return empty_frame(spark, parsed_schema(dataset))
    if in_process and not native:
        return spark.createDataFrame(parse_here(files, dataset, s3, parser), parsed_schema(dataset))
    if native:
        days = {f.uri: f.partition_date for f in files}
        raw = spark.read.format("binaryFile").load([f.uri for f in files]).select("path", "content")
        return raw.mapInArrow(content_parser(dataset, days, parser), parsed_schema(dataset))
    listing = spark.createDataFrame(
        [(f.uri, f.partition_date) for f in files],
        T.StructType([T.StructField("uri", T.StringType()), T.StructField("day", T.DateType())]),
    ).repartition(parse_task_count(files))
    return listing.mapInArrow(file_parser(dataset, s3, parser), parsed_schema(dataset))


def parse_here(
    files: list[LandingFile], dataset: Dataset, s3: S3Options | None, parser: str = "arrow"
) -> pa.Table:
    """The parsed rows of ``files``, parsed in this process, in file order."""
    schema = _arrow_schema(dataset)
    parse = file_parser(dataset, s3, parser)
    listing = pa.record_batch(
        [
            pa.array([f.uri for f in files], pa.string()),
            pa.array([f.partition_date for f in files], pa.date32()),
        ],
        names=["uri", "day"],
    )
    return pa.Table.from_batches(list(parse(iter([listing]))), schema=schema)


def parse_task_count(files: list[LandingFile]) -> int:
    """Enough tasks to keep every core busy, each parsing about BYTES_PER_TASK of CSV."""
    by_size = -(-sum(f.size for f in files) // BYTES_PER_TASK)
    return max(1, min(len(files), max(MIN_TASKS, by_size)))


def with_ingestion_stamp(
    parsed: DataFrame, dataset: Dataset, ingested_at: datetime, run_id: str
) -> DataFrame:
    """Add when the rows were ingested and by which run, in the bronze column order."""
    stamps = {
        "_ingested_at": f"TIMESTAMP'{ingested_at.isoformat()}' AS _ingested_at",
        "_run_id": f"'{run_id}' AS _run_id",
    }
    columns = bronze_schema(dataset).fieldNames()
    return select_expressions(parsed, [stamps.get(c, f"`{c}`") for c in columns])
