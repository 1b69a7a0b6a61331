"""Plain PySpark baseline: the contract's bronze, silver and gold with no orchestrator.

What a careful engineer would write as one PySpark script: parse the landing files, write
bronze, classify every row into silver or quarantine, compute the gold tables, writing
every layer as Parquet under ``<out>`` and reading each layer back for the next, as the
product does with Delta. Bronze reuses the product's CSV parsing approach (files parsed
inside Spark tasks by ``finance_assets.bronze``, which does not import Dagster); the silver
rules and gold tables are the SQL of ``contract_sql``, written independently of the
product's transforms. The Spark session is configured as the product's local session
(same master, driver memory, shuffle partitions, AQE, Arrow).

It must never import Dagster: the point is to measure what the orchestration costs.
"""

from __future__ import annotations

import shutil
import sys
import time
from datetime import date
from pathlib import Path

from benchmarks.phases import drop_files, phase, silver_phase
from finance_assets_tests.support import oracle as C

PARTITION = "partition_date"
_TRIM = "[" + "".join(f"\\x{{{ord(c):x}}}" for c in C.WHITESPACE) + "]"
TRIM_PATTERN = f"^{_TRIM}+|{_TRIM}+\\z"


def start_session():
    """The local session, configured like the product's (without importing it)."""
    import os

    from pyspark.sql import SparkSession

    from finance_assets.settings import Settings

    settings = Settings.load()
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    conf = {
        "spark.master": settings.spark_master,
        "spark.driver.memory": settings.spark_driver_memory,
        "spark.sql.shuffle.partitions": str(settings.spark_shuffle_partitions),
        "spark.default.parallelism": str(max(settings.spark_shuffle_partitions, 2)),
        "spark.ui.enabled": "false",
        "spark.ui.showConsoleProgress": "false",
        "spark.sql.session.timeZone": "UTC",
        "spark.sql.adaptive.enabled": "true",
        "spark.sql.execution.arrow.pyspark.enabled": "true",
        "spark.pyspark.python": sys.executable,
        "spark.pyspark.driver.python": sys.executable,
    }
    builder = SparkSession.builder.appName("finance-assets-pyspark-baseline")
    for key, value in conf.items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    return spark


def _write(df, path: Path, partitioned: bool) -> None:
    from pyspark.sql import functions as F

    if partitioned:
        df = df.repartition(F.col(PARTITION))
        df.write.mode("overwrite").partitionBy(PARTITION).parquet(str(path))
    else:
        df.write.mode("overwrite").parquet(str(path))


def _has_rows(path: Path) -> bool:
    """Whether Spark wrote any data file there (an empty frame leaves only _SUCCESS)."""
    return any(p for p in path.rglob("*.parquet") if not p.name.startswith((".", "_")))


def _count(path: Path) -> int:
    """Rows written, from the Parquet footers (no data is read)."""
    import pyarrow.dataset as ds

    if not path.exists():
        return 0
    return ds.dataset(str(path), format="parquet", partitioning="hive").count_rows()


def run(landing: str, out: str, start: date, end: date, spark=None) -> dict:
    """Bronze, silver, quarantine and gold for [start, end]; timings and row counts."""
    from pyspark import StorageLevel
    from pyspark.sql import functions as F

    from finance_assets.bronze.transforms import read_landing
    from finance_assets.contract import DATASETS

    out_dir = Path(out)
    shutil.rmtree(out_dir, ignore_errors=True)
    out_dir.mkdir(parents=True)
    layers: dict[str, dict] = {}
    t0 = time.perf_counter()
    spark = spark or start_session()
    spark_start = time.perf_counter() - t0

    t0 = time.perf_counter()
    bronze_rows = files = 0
    for dataset in C.COLUMNS:
        found = drop_files(landing, dataset, start, end)
        files += len(found)
        parsed = read_landing(spark, found, DATASETS[dataset])
        _write(parsed, out_dir / "bronze" / dataset, partitioned=True)
        bronze_rows += _count(out_dir / "bronze" / dataset)
    layers["bronze"] = phase(t0, bronze_rows, bronze_rows, files=files)

    t0 = time.perf_counter()
    silver_rows = quarantine_rows = 0
    for dataset, columns in C.COLUMNS.items():
        bronze_path = out_dir / "bronze" / dataset
        if not _has_rows(bronze_path):
            continue
        bronze = spark.read.parquet(str(bronze_path))
        trimmed = bronze.select(
            "*", *[F.regexp_replace(F.col(c), TRIM_PATTERN, "").alias(f"t_{c}") for c in columns]
        )
        trimmed.createOrReplaceTempView(f"trimmed_{dataset}")
        rules = C.RULES[dataset]
        values = ", ".join(f"{C.typed(r, C.SPARK)} AS v_{r.column}" for r in rules)
        keys = ", ".join(f"v_{k}" for k in C.KEYS[dataset])
        classified = spark.sql(
            f"""WITH v AS (SELECT *, {values} FROM trimmed_{dataset}),
            r AS (SELECT *, {C.reason(dataset, "_corrupt_record IS NOT NULL")} AS first_reason
                  FROM v)
            SELECT *, CASE WHEN first_reason IS NULL AND row_number() OVER (
                        PARTITION BY partition_date, first_reason IS NULL, {keys}
                        ORDER BY _source_file, _source_row) > 1
                      THEN 'duplicate' ELSE first_reason END AS _reason
            FROM r"""
        ).persist(StorageLevel.MEMORY_AND_DISK)
        try:
            silver = classified.where("_reason IS NULL").select(
                *[F.col(f"v_{r.column}").alias(r.column) for r in rules],
                "_source_file",
                "_source_row",
                PARTITION,
            )
            quarantine = classified.where("_reason IS NOT NULL").select(
                *columns,
                "_reason",
                "_corrupt_record",
                "_rescued_data",
                "_source_file",
                "_source_row",
                PARTITION,
            )
            _write(silver, out_dir / "silver" / dataset, partitioned=True)
            _write(quarantine, out_dir / "quarantine" / dataset, partitioned=True)
        finally:
            classified.unpersist()
        silver_rows += _count(out_dir / "silver" / dataset)
        quarantine_rows += _count(out_dir / "quarantine" / dataset)
    layers["silver"] = silver_phase(t0, bronze_rows, silver_rows, quarantine_rows)

    t0 = time.perf_counter()
    for dataset, rules in C.RULES.items():
        path = out_dir / "silver" / dataset
        if _has_rows(path):
            frame = spark.read.parquet(str(path))
        else:  # no rows at all: an empty frame with the typed columns
            typed = ", ".join(f"{C.typed(r, C.SPARK)} AS {r.column}" for r in rules)
            strings = ", ".join(f"CAST(NULL AS STRING) AS t_{c}" for c in C.COLUMNS[dataset])
            frame = spark.sql(f"SELECT {typed} FROM (SELECT {strings}) WHERE false")
        frame.createOrReplaceTempView(f"silver_{dataset}")
    gold_rows = {}
    for table in C.GOLD_TABLES:
        path = out_dir / "gold" / table
        _write(spark.sql(C.gold_sql(table, C.SPARK, start, end)), path, partitioned=False)
        if table == "sales_performance":
            spark.read.parquet(str(path)).createOrReplaceTempView("gold_sales_performance")
        gold_rows[table] = _count(path)
    layers["gold"] = phase(t0, silver_rows, sum(gold_rows.values()), tables=gold_rows)
    return {
        "engine": "pyspark",
        "spark_start_seconds": spark_start,
        "layers": layers,
        "input_rows": bronze_rows,
    }
