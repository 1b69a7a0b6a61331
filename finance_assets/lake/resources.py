"""The Spark session and the lake as Dagster resources: the session's mode, the lake's root
and the engine that commits Delta tables."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import dagster as dg
from dagster_pyspark import LazyPySparkResource
from pydantic import Field

from finance_assets.lake.delta import DeltaRsLake, Lake, SparkDeltaLake
from finance_assets.lake.spark import CONNECT_URL_VAR, build_session

if TYPE_CHECKING:
    from pyspark.sql import SparkSession


class SparkResource(LazyPySparkResource):
    """A lazily created SparkSession; the same resource key in every environment."""

    mode: str = Field(default="local", description="local, connect or databricks")
    connect_url: str | None = Field(
        default=None,
        description=f"sc://host:port for mode=connect (given as the {CONNECT_URL_VAR} "
        "environment variable, so a token in it is never shown)",
    )

    @property
    def spark_session(self):
        if self._spark_session is None:
            self._spark_session = build_session(self.mode, self.spark_config, self.connect_url)
        return self._spark_session


class LakeResource(dg.ConfigurableResource):
    """The Delta lake root and which engine commits to it.

    ``delta-rs`` lets Spark executors write Parquet and commits with delta-rs (any Spark,
    no Delta jars); ``spark-delta`` uses the engine's native Delta support (Databricks).
    """

    uri: str = Field(description="Local folder (delta-rs) or any Delta location (spark-delta)")
    engine: str = Field(default="delta-rs", description="delta-rs or spark-delta")

    @property
    def commits_through_spark(self) -> bool:
        """Whether the engine needs the Spark session even for work that reads no rows
        (compaction and vacuum are Spark SQL on spark-delta, delta-rs alone otherwise)."""
        return self.engine == "spark-delta"

    def session_on_demand(self, spark: SparkResource) -> Callable[[], SparkSession]:
        """``spark``'s session as a function, for a step that may need none (a day without a
        drop works from the Delta log alone, and does not wait for a JVM to start). An engine
        that reads even the Delta log through Spark gets its session now."""

        def session() -> SparkSession:
            return spark.spark_session

        if self.commits_through_spark:
            session()
        return session

    def lake(self) -> Lake:
        if self.engine == "delta-rs":
            return DeltaRsLake(self.uri)
        if self.engine == "spark-delta":
            return SparkDeltaLake(self.uri)
        raise ValueError(f"lake engine {self.engine!r} is not one of: delta-rs, spark-delta")


class UnityCatalogLakeResource(LakeResource):
    """Native Delta tables registered in Unity Catalog as ``<catalog>.<schema>.<layer>_<name>``."""

    catalog: str = Field(description="Unity Catalog catalog")
    schema_name: str = Field(description="Unity Catalog schema in that catalog")

    def lake(self) -> Lake:
        return SparkDeltaLake(self.uri, catalog_schema=f"{self.catalog}.{self.schema_name}")
