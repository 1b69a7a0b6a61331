"""The one Spark session of a process, as a Dagster resource.

``mode`` picks the engine with no change to asset code:

- ``local`` (default): embedded Spark sized for a small machine;
- ``connect``: a Spark Connect server at ``connect_url`` (``sc://host:port``);
- ``databricks``: Databricks Connect, host/token/cluster from the standard
  ``DATABRICKS_*`` environment variables.

Local sessions are created once per process and shared by every asset of a run and every
test, because starting a JVM costs seconds.
"""

from __future__ import annotations

import os
import sys
from typing import Any

from dagster_pyspark import LazyPySparkResource
from pydantic import Field

from finance_assets.java import require_java

LOCAL_DEFAULTS = {
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.parquet.outputTimestampType": "TIMESTAMP_MICROS",
    "spark.sql.adaptive.enabled": "true",
    "spark.sql.execution.arrow.pyspark.enabled": "true",
    "spark.driver.extraJavaOptions": "-Dlog4j2.level=WARN",
    "spark.sql.warehouse.dir": os.path.join(os.getcwd(), "spark-warehouse"),
}


class SparkConfigError(ValueError):
    """The Spark mode is missing a setting; the message names the setting to fix."""


def local_spark_config(master: str, driver_memory: str, shuffle_partitions: int) -> dict[str, Any]:
    return {
        **LOCAL_DEFAULTS,
        "spark.master": master,
        "spark.driver.memory": driver_memory,
        "spark.sql.shuffle.partitions": str(shuffle_partitions),
        "spark.default.parallelism": str(max(shuffle_partitions, 2)),
        # Python workers must run the interpreter that has this package installed.
        "spark.pyspark.python": sys.executable,
        "spark.pyspark.driver.python": sys.executable,
    }


class SparkResource(LazyPySparkResource):
    """A lazily created SparkSession; the same resource key in every environment."""

    mode: str = Field(default="local", description="local, connect or databricks")
    connect_url: str | None = Field(default=None, description="sc://host:port for mode=connect")

    @property
    def spark_session(self):
        if self._spark_session is None:
            self._spark_session = build_session(self.mode, self.spark_config, self.connect_url)
        return self._spark_session


def build_session(mode: str, spark_config: dict[str, Any], connect_url: str | None = None):
    """Create (or reuse) the process's SparkSession for the chosen mode."""
    from pyspark.sql import SparkSession

    if mode == "local":
        require_java()
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
        builder = SparkSession.builder
        for key, value in spark_config.items():
            builder = builder.config(key, value)
        session = builder.getOrCreate()
        session.sparkContext.setLogLevel("ERROR")
        return session
    if mode == "connect":
        if not connect_url:
            raise SparkConfigError(
                "Spark mode 'connect' needs FINANCE_SPARK_CONNECT_URL (e.g. sc://127.0.0.1:15002)."
            )
        return SparkSession.builder.remote(connect_url).getOrCreate()
    if mode == "databricks":
        return _databricks_session()
    raise SparkConfigError(
        f"FINANCE_SPARK_MODE={mode!r} is not one of: local, connect, databricks."
    )


def _databricks_session():
    missing = [v for v in ("DATABRICKS_HOST", "DATABRICKS_TOKEN") if not os.environ.get(v)]
    if missing:
        raise SparkConfigError(f"Spark mode 'databricks' needs {', '.join(missing)} to be set.")
    try:
        from databricks.connect import DatabricksSession
    except ImportError as exc:
        raise SparkConfigError(
            "Spark mode 'databricks' needs the databricks-connect package "
            "(pip install databricks-connect) in place of pyspark."
        ) from exc
    builder = DatabricksSession.builder
    if os.environ.get("DATABRICKS_CLUSTER_ID"):
        return builder.getOrCreate()
    return builder.serverless(True).getOrCreate()
