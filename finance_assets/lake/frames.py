"""Small frames of values held in this process (a run's months, an empty result), handed to
Spark as Arrow.

``spark.createDataFrame`` of Python rows sends them pickled, and a Python worker unpickles
them when the frame is read: in a fresh process the first such read starts the worker,
seconds for a handful of values. As Arrow the JVM reads them itself, locally and over Spark
Connect alike.
"""

from __future__ import annotations

from collections.abc import Sequence

import pyarrow as pa
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import types as T
from pyspark.sql.pandas.types import to_arrow_schema


def local_frame(spark: SparkSession, rows: Sequence[Sequence], schema: T.StructType) -> DataFrame:
    """A frame of ``rows`` (tuples in the order of ``schema``'s fields)."""
    arrow_schema = to_arrow_schema(schema, timezone="UTC")
    columns = list(zip(*rows, strict=True)) if rows else [() for _ in arrow_schema]
    arrays = [pa.array(list(c), f.type) for c, f in zip(columns, arrow_schema, strict=True)]
    return spark.createDataFrame(pa.Table.from_arrays(arrays, schema=arrow_schema), schema)


def empty_frame(spark: SparkSession, schema: T.StructType) -> DataFrame:
    """A frame of no rows with ``schema``."""
    return local_frame(spark, [], schema)
