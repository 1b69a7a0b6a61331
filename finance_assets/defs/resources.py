"""Resources are chosen here, once per deployment, under the same keys everywhere.

The Spark mode decides the engine and how Delta tables are written:

| mode         | session                       | lake engine   | lake                         |
|--------------|-------------------------------|---------------|------------------------------|
| local        | driver here, local[N]/spark://| delta-rs      | folder every executor sees   |
| connect      | Spark Connect client          | delta-rs      | folder server and client see |
| databricks   | Databricks Connect            | spark-delta   | s3://... path or UC tables   |
"""

from __future__ import annotations

import dagster as dg
from dagster_aws.s3 import S3Resource

from finance_assets.lake.resources import LakeResource, UnityCatalogLakeResource
from finance_assets.lake.spark import (
    CONNECT_URL_VAR,
    SparkResource,
    check_spark_settings,
    spark_config,
)
from finance_assets.landing.resource import LandingResource
from finance_assets.settings import Settings, current_settings

SPARK, LAKE, LANDING = "spark", "lake", "landing"


def _connect_url(settings: Settings) -> str | dg.EnvVar | None:
    # A URL from the environment goes in as dg.EnvVar: Dagster resolves it when the run
    # starts and shows only the variable's name in the UI, so a token in it stays hidden.
    url = settings.secret("spark_connect_url")
    if url and url == Settings.load().secret("spark_connect_url"):
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


@dg.definitions
def defs() -> dg.Definitions:
    return dg.Definitions(resources=build_resources(current_settings()))
