"""Resources are chosen here, once per environment, under the same keys everywhere.

The Spark mode decides the engine and how Delta tables are written:

| mode         | session                       | lake engine   | lake                         |
|--------------|-------------------------------|---------------|------------------------------|
| local        | driver here, local[N]/spark://| delta-rs      | folder every executor sees   |
| connect      | Spark Connect client          | delta-rs      | folder server and client see |
| databricks   | Databricks Connect            | spark-delta   | s3://... path or UC tables   |
"""

from __future__ import annotations

import os

import dagster as dg
from dagster_aws.s3 import S3Resource
from pydantic import Field

from finance_assets.lake.delta import Lake, SparkDeltaLake
from finance_assets.resources.spark import (
    CONNECT_URL_VAR,
    MODE_VAR,
    MODES,
    SparkConfigError,
    SparkResource,
    local_spark_config,
    parse_connect_url,
    probe_connect_server,
    probe_standalone_master,
    session_config,
)
from finance_assets.resources.storage import LakeResource, LandingResource
from finance_assets.settings import Settings

SPARK, LAKE, LANDING = "spark", "lake", "landing"
CATALOG_VAR, SCHEMA_VAR = "FINANCE_DATABRICKS_CATALOG", "FINANCE_DATABRICKS_SCHEMA"


class UnityCatalogLakeResource(LakeResource):
    """Native Delta tables registered in Unity Catalog as ``<catalog>.<schema>.<layer>_<name>``."""

    catalog: str = Field(description="Unity Catalog catalog")
    schema_name: str = Field(description="Unity Catalog schema in that catalog")

    def lake(self) -> Lake:
        return SparkDeltaLake(self.uri, catalog_schema=f"{self.catalog}.{self.schema_name}")


def check_spark_settings(settings: Settings) -> None:
    """Configuration errors that need no network, raised when definitions load."""
    if settings.spark_mode not in MODES:
        raise SparkConfigError(
            f"{MODE_VAR}={settings.spark_mode!r} is not one of: {', '.join(MODES)}."
        )
    if settings.spark_mode == "connect":
        parse_connect_url(settings.spark_connect_url)
    uc = {CATALOG_VAR: settings.databricks_catalog, SCHEMA_VAR: settings.databricks_schema}
    if any(uc.values()):
        if settings.spark_mode != "databricks":
            raise SparkConfigError(
                f"{CATALOG_VAR} / {SCHEMA_VAR} (Unity Catalog tables) need "
                f"{MODE_VAR}=databricks; unset them for {settings.spark_mode} mode."
            )
        missing = [name for name, value in uc.items() if not value]
        if missing:
            raise SparkConfigError(
                f"Unity Catalog tables need both {CATALOG_VAR} and {SCHEMA_VAR}; "
                f"{missing[0]} is not set."
            )


def check_spark_reachable(settings: Settings) -> None:
    """A Spark Connect server or standalone master that does not answer, found before a run
    starts. (Runs launched from the UI find out in their first step, which is retried.)"""
    if settings.spark_mode == "connect":
        probe_connect_server(parse_connect_url(settings.spark_connect_url))
    elif settings.spark_mode == "local":
        probe_standalone_master(settings.spark_master)


def spark_config(settings: Settings) -> dict[str, str]:
    """The whole local configuration, or the runtime settings of a remote session."""
    if settings.spark_mode == "local":
        config = local_spark_config(
            settings.spark_master, settings.spark_driver_memory, settings.spark_shuffle_partitions
        )
    else:
        config = session_config(settings.spark_mode)
    config.update(settings.extra_spark_conf)
    return config


def _connect_url(settings: Settings) -> str | None:
    # A URL from the environment goes in as dg.EnvVar: Dagster resolves it when the run
    # starts and shows only the variable's name in the UI, so a token in it stays hidden.
    url = settings.spark_connect_url
    if url and url == os.environ.get(CONNECT_URL_VAR):
        return dg.EnvVar(CONNECT_URL_VAR)
    return url


def lake_resource(settings: Settings) -> LakeResource:
    if settings.spark_mode != "databricks":
        # Any Spark without Delta jars: executors write Parquet, delta-rs commits.
        return LakeResource(uri=settings.lake_uri, engine="delta-rs")
    if settings.databricks_catalog and settings.databricks_schema:
        return UnityCatalogLakeResource(
            uri=settings.lake_uri,
            engine="spark-delta",
            catalog=settings.databricks_catalog,
            schema_name=settings.databricks_schema,
        )
    return LakeResource(uri=settings.lake_uri, engine="spark-delta")


def build_resources(settings: Settings) -> dict[str, object]:
    """The resources for ``settings``: local by default, Spark Connect or Databricks by mode."""
    check_spark_settings(settings)
    return {
        SPARK: SparkResource(
            mode=settings.spark_mode,
            connect_url=_connect_url(settings),
            spark_config=spark_config(settings),
        ),
        LAKE: lake_resource(settings),
        LANDING: LandingResource(
            uri=settings.landing_uri,
            s3=S3Resource(
                endpoint_url=settings.s3_endpoint_url,
                region_name=settings.s3_region,
                max_attempts=8,
            ),
            # Databricks reads s3:// itself (instance profile or external location).
            native_reads=settings.spark_mode == "databricks",
        ),
    }
