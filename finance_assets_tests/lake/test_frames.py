"""Small frames made here reach Spark as Arrow: exact values, and no Python worker to read
them (a frame of pickled Python rows starts one, seconds in a fresh process)."""

from datetime import date, datetime, timezone
from decimal import Decimal

from pyspark.sql import types as T

from finance_assets.lake.frames import empty_frame, local_frame

SCHEMA = T.StructType(
    [
        T.StructField("day", T.DateType(), nullable=False),
        T.StructField("amount", T.DecimalType(18, 2)),
        T.StructField("name", T.StringType()),
        T.StructField("at", T.TimestampType()),
        T.StructField("count", T.LongType()),
    ]
)
ROWS = [
    (date(2024, 1, 31), Decimal("12345678901234.56"), 'é, "quoted"', None, 3),
    (date(2024, 2, 29), None, None, datetime(2024, 2, 29, 23, 59, tzinfo=timezone.utc), None),
]


def reads_python_rows(frame) -> bool:
    """Whether reading ``frame`` runs Python in Spark tasks."""
    lineage = frame._jdf.queryExecution().toRdd().toDebugString()
    plan = frame._jdf.queryExecution().executedPlan().toString()
    return "PythonRDD" in lineage or "Python" in plan or "ArrowEvalPython" in plan


def test_a_local_frame_holds_exactly_its_rows_and_runs_no_python(spark):
    frame = local_frame(spark, ROWS, SCHEMA)
    assert frame.schema == SCHEMA
    got = [tuple(r) for r in frame.collect()]
    assert got[0] == ROWS[0]
    assert got[1][:3] == ROWS[1][:3] and got[1][4] is None
    assert got[1][3].replace(tzinfo=timezone.utc) == ROWS[1][3]  # session time zone is UTC
    assert not reads_python_rows(frame)
    assert reads_python_rows(spark.createDataFrame(ROWS, SCHEMA))  # what it replaces


def test_an_empty_frame_has_the_schema_and_no_rows(spark):
    frame = empty_frame(spark, SCHEMA)
    assert frame.schema == SCHEMA and frame.collect() == []
    assert not reads_python_rows(frame)
