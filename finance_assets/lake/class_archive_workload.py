"""The workload whose classes the JVM class archive keeps (``lake/class_archive.py``): run as
``python -m finance_assets.lake.class_archive_workload ARCHIVE`` in a child process, which
writes ARCHIVE as its JVM exits."""

from __future__ import annotations

import sys
import tempfile

from finance_assets.lake.class_archive import QUIET
from finance_assets.lake.spark import DRIVER_JAVA_OPTIONS, build_session, spark_config
from finance_assets.settings import Settings

TIMEOUT_S = 600


def run(archive: str) -> None:
    """What a day's run makes the JVM load: Python in Spark tasks (Arrow batches), Parquet
    written and read, a shuffle, a join; then the JVM exits, which writes the archive."""
    config = spark_config(Settings.load())
    config[DRIVER_JAVA_OPTIONS] = f"-XX:ArchiveClassesAtExit={archive} {QUIET}"
    spark = build_session("local", config)

    def same(batches):
        yield from batches

    with tempfile.TemporaryDirectory() as folder:
        frame = spark.range(1000).selectExpr(
            "id", "CAST(id % 7 AS STRING) AS day", "CAST(id / 3 AS DECIMAL(18,2)) AS amount"
        )
        frame.mapInArrow(same, frame.schema).write.partitionBy("day").parquet(f"{folder}/t")
        table = spark.read.parquet(f"{folder}/t")
        totals = table.groupBy("day").agg({"amount": "sum", "id": "count"})
        table.join(totals, "day").where("id > 10").orderBy("id").limit(5).collect()
    gateway = spark.sparkContext._gateway
    spark.stop()
    process = getattr(gateway, "proc", None)
    gateway.shutdown()
    if process is not None:  # the JVM writes the archive as it exits: wait for it
        process.stdin.close()
        process.wait(timeout=TIMEOUT_S)


if __name__ == "__main__":
    run(sys.argv[1])
