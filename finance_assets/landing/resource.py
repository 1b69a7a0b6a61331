"""The landing zone as a Dagster resource: a local folder or ``s3://bucket/prefix``."""

from __future__ import annotations

from datetime import date

import dagster as dg
from dagster_aws.s3 import S3Resource
from pydantic import Field

from finance_assets.landing.retry import with_retries
from finance_assets.landing.zone import LandingFile, S3Options, list_files, normalize_uri


class LandingResource(dg.ConfigurableResource):
    """The landing zone: a local folder or ``s3://bucket/prefix`` of dated drop folders.

    S3 connection settings are dagster-aws's; credentials come from the standard AWS
    environment variables and are never part of the configuration.
    """

    uri: str = Field(description="Local folder or s3://bucket/prefix")
    s3: S3Resource = Field(default_factory=S3Resource)
    native_reads: bool = Field(
        default=False,
        description="Let Spark read the files (binaryFile), e.g. S3 on Databricks; "
        "otherwise Spark tasks open them with Python (local paths, boto3).",
    )

    @property
    def s3_options(self) -> S3Options:
        return S3Options(endpoint_url=self.s3.endpoint_url, region=self.s3.region_name)

    @property
    def root(self) -> str:
        return normalize_uri(self.uri)

    def list_files(self, dataset: str, start: date, end: date) -> list[LandingFile]:
        return with_retries(
            lambda: list_files(self.uri, dataset, start, end, self.s3_options),
            what=f"listing {dataset} landing files",
        )
