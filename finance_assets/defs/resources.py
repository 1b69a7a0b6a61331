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

from finance_assets.lake.resources import LakeResource, SparkResource, UnityCatalogLakeResource
from finance_assets.lake.spark import (
    CONNECT_URL_VAR,
    check_spark_settings,
    spark_config,
)
from finance_assets.landing.resource import (
    CREDENTIALS,
    LandingResource,
    check_s3_settings,
    s3_settings,
)
from finance_assets.settings import Settings, current_settings

SPARK, LAKE, LANDING = "spark", "lake", "landing"


def _secret(settings: Settings, name: str, variable: str) -> str | dg.EnvVar | None:
    # A secret from the environment goes in as dg.EnvVar: Dagster resolves it when the run
    # starts and shows only the variable's name in the UI and in run configuration, so the
    # value is never part of what Dagster records.
    value = settings.secret(name)
    if value and value == Settings.load().secret(name):
        return dg.EnvVar(variable)
    return value


def _connect_url(settings: Settings) -> str | dg.EnvVar | None:
    return _secret(settings, "spark_connect_url", CONNECT_URL_VAR)


def landing_resource(settings: Settings) -> LandingResource:
    # Databricks reads s3:// itself (instance profile or external location).
    native = settings.spark_mode == "databricks"
    check_s3_settings(settings, native)
    credentials = {
        field: _secret(settings, field, variable) for field, variable in CREDENTIALS.items()
    }
    return LandingResource(
        uri=settings.landing_uri,
        s3=S3Resource(
            **s3_settings(settings), **{k: v for k, v in credentials.items() if v is not None}
        ),
        s3_retry_mode=settings.s3_retry_mode,
        native_reads=native,
        in_process_bytes=settings.landing_in_process_bytes,
    )


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
        LANDING: landing_resource(settings),
    }


@dg.definitions
def defs() -> dg.Definitions:
    return dg.Definitions(resources=build_resources(current_settings()))
