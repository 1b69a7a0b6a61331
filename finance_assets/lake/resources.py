"""The lake as a Dagster resource: its root and the engine that commits Delta tables."""

from __future__ import annotations

import dagster as dg
from pydantic import Field

from finance_assets.lake.delta import DeltaRsLake, Lake, SparkDeltaLake


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
