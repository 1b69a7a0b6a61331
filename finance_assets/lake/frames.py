"""Small frames of values held in this process (a run's months, an empty result), handed to
Spark as Arrow; and small frames of the lake kept in one partition.

``spark.createDataFrame`` of Python rows sends them pickled, and a Python worker unpickles
them when the frame is read: in a fresh process the first such read starts the worker,
seconds for a handful of values. As Arrow the JVM reads them itself, locally and over Spark
Connect alike.
"""

from __future__ import annotations

from collections.abc import Sequence

import pyarrow as pa
from pyspark.sql import DataFrame, DataFrameReader, SparkSession
from pyspark.sql import types as T
from pyspark.sql.classic.dataframe import DataFrame as ClassicDataFrame
from pyspark.sql.pandas.types import to_arrow_schema

ONE_PARTITION_ROWS = 64_000
"""Rows a single task handles faster than Spark plans and runs a shuffle for them."""
ONE_PARTITION_BYTES = 16 * 1024 * 1024
"""The same for a frame known only by the bytes Spark measured (a cached write)."""


def local_frame(spark: SparkSession, rows: Sequence[Sequence], schema: T.StructType) -> DataFrame:
    """A frame of ``rows`` (tuples in the order of ``schema``'s fields)."""
    arrow_schema = to_arrow_schema(schema, timezone="UTC")
    columns = list(zip(*rows, strict=True)) if rows else [() for _ in arrow_schema]
    arrays = [pa.array(list(c), f.type) for c, f in zip(columns, arrow_schema, strict=True)]
    return spark.createDataFrame(pa.Table.from_arrays(arrays, schema=arrow_schema), schema)


def empty_frame(spark: SparkSession, schema: T.StructType) -> DataFrame:
    """A frame of no rows with ``schema``."""
    return local_frame(spark, [], schema)


def in_one_partition(frame: DataFrame, rows: int | None = None) -> DataFrame:
    """``frame`` in one partition when it is known to be small: by its ``rows``, or else by
    the size Spark has measured of it (a cached frame once written). Aggregations, joins and
    windows over a single partition need no shuffle, so a day's few thousand rows go through
    a query in one Spark job instead of one per stage. A frame of unknown size, or of a remote
    session (which has no plan statistics to ask), keeps its partitions."""
    if rows is None:
        if not isinstance(frame, ClassicDataFrame):
            return frame
        size = int(str(frame._jdf.queryExecution().optimizedPlan().stats().sizeInBytes()))
        small = size <= ONE_PARTITION_BYTES
    else:
        small = rows <= ONE_PARTITION_ROWS
    return frame.coalesce(1) if small else frame


def read_parquet(reader: DataFrameReader, paths: Sequence[str]) -> DataFrame:
    """``reader.parquet(*paths)``, the paths crossing to the JVM together (see
    :func:`_java_strings`)."""
    jreader = getattr(reader, "_jreader", None)
    strings = None if jreader is None else _java_strings(reader._spark, paths)
    if strings is None:
        return reader.parquet(*paths)
    return reader._df(jreader.parquet(strings))


def select_columns(frame: DataFrame, names: Sequence[str]) -> DataFrame:
    """``frame.select(*names)``, the names crossing to the JVM together (see
    :func:`_java_strings`)."""
    rest = _java_strings(frame.sparkSession, names[1:]) if names else None
    if not isinstance(frame, ClassicDataFrame) or rest is None:
        return frame.select(*names)
    return ClassicDataFrame(frame._jdf.select(names[0], rest), frame.sparkSession)


def select_expressions(frame: DataFrame, expressions: Sequence[str]) -> DataFrame:
    """``frame.selectExpr(*expressions)``, the expressions crossing to the JVM together (see
    :func:`_java_strings`)."""
    strings = _java_strings(frame.sparkSession, expressions)
    if not isinstance(frame, ClassicDataFrame) or strings is None:
        return frame.selectExpr(*expressions)
    return ClassicDataFrame(frame._jdf.selectExpr(strings), frame.sparkSession)


def _java_strings(spark: SparkSession, values: Sequence[str]):
    """``values`` as a Scala sequence in the JVM of a local session, in three round trips.
    PySpark hands a list to the JVM one py4j round trip per element (py4j fills a Java list
    element by element): a read of history's files or a wide select spent seconds a day on
    that alone. None for a remote session (it sends its plan whole) or values that cannot
    be joined by line breaks."""
    jvm = getattr(spark, "_jvm", None)
    if jvm is None or not values or any("\n" in v for v in values):
        return None
    listed = jvm.java.util.regex.Pattern.compile("\n").splitAsStream("\n".join(values)).toList()
    return jvm.PythonUtils.toSeq(listed)
