"""Resources are chosen here, once per environment, under the same keys everywhere."""

from __future__ import annotations

from dagster_aws.s3 import S3Resource

from finance_assets.resources.spark import SparkResource, local_spark_config
from finance_assets.resources.storage import LakeResource, LandingResource
from finance_assets.settings import Settings

SPARK, LAKE, LANDING = "spark", "lake", "landing"


def build_resources(settings: Settings) -> dict[str, object]:
    """The resources for ``settings``: local by default, Spark Connect or Databricks by mode."""
    spark_config = (
        local_spark_config(
            settings.spark_master, settings.spark_driver_memory, settings.spark_shuffle_partitions
        )
        if settings.spark_mode == "local"
        else {}
    )
    spark_config.update(settings.extra_spark_conf)
    return {
        SPARK: SparkResource(
            mode=settings.spark_mode,
            connect_url=settings.spark_connect_url,
            spark_config=spark_config,
        ),
        LAKE: LakeResource(
            uri=settings.lake_uri,
            engine="spark-delta" if settings.spark_mode == "databricks" else "delta-rs",
        ),
        LANDING: LandingResource(
            uri=settings.landing_uri,
            s3=S3Resource(
                endpoint_url=settings.s3_endpoint_url,
                region_name=settings.s3_region,
                max_attempts=8,
            ),
        ),
    }
