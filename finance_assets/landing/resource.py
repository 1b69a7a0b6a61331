"""The landing zone as a Dagster resource: a local folder or ``s3://bucket/prefix``.

S3 connection settings are dagster-aws's ``S3Resource`` fields. Every field the landing zone
can use reaches the S3 clients of the driver (listing) and of the Spark tasks that open the
files (:class:`~finance_assets.landing.zone.S3Options`); a field it cannot use is rejected when
the resource is built, never silently dropped.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date
from typing import Literal

import dagster as dg
from dagster_aws.s3 import S3Resource
from pydantic import Field, model_validator

from finance_assets.landing.retry import with_retries
from finance_assets.landing.zone import LandingFile, S3Options, list_files, normalize_uri
from finance_assets.settings import ConfigError, Settings

# S3Resource field -> S3Options field: what the landing zone's clients are built with.
CARRIED = {
    "endpoint_url": "endpoint_url",
    "region_name": "region",
    "profile_name": "profile_name",
    "use_ssl": "use_ssl",
    "verify": "verify",
    "max_attempts": "max_attempts",
    "use_unsigned_session": "unsigned",
    "aws_access_key_id": "access_key_id",
    "aws_secret_access_key": "secret_access_key",
    "aws_session_token": "session_token",
}
# With native reads the engine (e.g. Databricks) opens the files with its own S3 access: these
# settings would reach the listing but not the reads, so they are refused rather than ignored.
NOT_FOR_NATIVE_READS = ("endpoint_url", "use_ssl", "verify", "use_unsigned_session")
# The environment variable each setting comes from (for messages).
VARIABLES = {
    "endpoint_url": "AWS_ENDPOINT_URL_S3",
    "use_ssl": "FINANCE_S3_USE_SSL",
    "verify": "FINANCE_S3_VERIFY",
    "use_unsigned_session": "FINANCE_S3_UNSIGNED",
}


def unusable_s3_fields(s3: S3Resource, native_reads: bool) -> list[str]:
    """The S3Resource fields set to something the landing zone cannot pass on."""
    defaults = {name: f.default for name, f in S3Resource.model_fields.items()}
    changed = [n for n in S3Resource.model_fields if getattr(s3, n) != defaults[n]]
    unusable = [n for n in changed if n not in CARRIED]
    if native_reads:
        unusable += [n for n in changed if n in NOT_FOR_NATIVE_READS]
    return unusable


class LandingResource(dg.ConfigurableResource):
    """The landing zone: a local folder or ``s3://bucket/prefix`` of dated drop folders.

    S3 connection settings are dagster-aws's; credentials, when given, come in as
    ``dg.EnvVar`` (the UI shows the variable's name, never its value), otherwise from boto3's
    usual chain (environment, profile, instance role).
    """

    uri: str = Field(description="Local folder or s3://bucket/prefix")
    s3: S3Resource = Field(default_factory=S3Resource)
    s3_retry_mode: Literal["legacy", "standard", "adaptive"] = Field(
        default="standard", description="botocore's retry mode for S3 requests"
    )
    native_reads: bool = Field(
        default=False,
        description="Let Spark read the files (binaryFile), e.g. S3 on Databricks; "
        "otherwise Spark tasks open them with Python (local paths, boto3).",
    )
    in_process_bytes: int = Field(
        default=8 * 1024 * 1024,
        ge=0,
        description="A run's files of one dataset up to this many bytes in all are read in "
        "this process and handed to Spark as Arrow (no Python worker to start); larger drops "
        "are read in Spark tasks. 0: always in Spark tasks. Not used with native reads.",
    )

    @model_validator(mode="after")
    def _usable_s3_settings(self) -> LandingResource:
        unusable = unusable_s3_fields(self.s3, self.native_reads)
        if unusable:
            how = "with native reads" if self.native_reads else "by the landing zone"
            raise ValueError(f"S3Resource fields {', '.join(unusable)} cannot be used {how}")
        return self

    @property
    def s3_options(self) -> S3Options:
        values = {name: _plain(getattr(self.s3, name)) for name in CARRIED}
        return s3_options(values, self.s3_retry_mode)

    @property
    def root(self) -> str:
        return normalize_uri(self.uri)

    def reads_in_process(self, files: Sequence[LandingFile]) -> bool:
        """Whether these files are read here rather than in Spark tasks: a day's drop is a
        few hundred kilobytes, and a Spark task that runs Python first starts a worker."""
        return not self.native_reads and sum(f.size for f in files) <= self.in_process_bytes

    def list_files(self, dataset: str, start: date, end: date) -> list[LandingFile]:
        return with_retries(
            lambda: list_files(self.uri, dataset, start, end, self.s3_options),
            what=f"listing {dataset} landing files",
        )


def _plain(value):
    """A field's value; a ``dg.EnvVar`` not resolved by a run yet is read here."""
    return value.get_value() if isinstance(value, dg.EnvVar) else value


def s3_options(values: Mapping[str, object], retry_mode: str = "standard") -> S3Options:
    """S3Options from S3Resource field values."""
    return S3Options(
        retry_mode=retry_mode, **{CARRIED[k]: v for k, v in values.items() if k in CARRIED}
    )


def s3_settings(settings: Settings) -> dict[str, object]:
    """The S3Resource fields the settings give, credentials excepted."""
    return {
        "endpoint_url": settings.s3_endpoint_url,
        "region_name": settings.s3_region,
        "profile_name": settings.s3_profile,
        "use_ssl": settings.s3_use_ssl,
        "verify": settings.s3_verify,
        "max_attempts": settings.s3_max_attempts,
        "use_unsigned_session": settings.s3_unsigned,
    }


CREDENTIALS = {
    "aws_access_key_id": "AWS_ACCESS_KEY_ID",
    "aws_secret_access_key": "AWS_SECRET_ACCESS_KEY",
    "aws_session_token": "AWS_SESSION_TOKEN",
}
"""S3Resource credential fields and the variables they are read from."""


def landing_s3_options(settings: Settings) -> S3Options:
    """How the CLI reaches the landing zone outside a run (checks, generate, land)."""
    credentials = {field: settings.secret(field) for field in CREDENTIALS}
    return s3_options({**s3_settings(settings), **credentials}, settings.s3_retry_mode)


def check_s3_settings(settings: Settings, native_reads: bool) -> None:
    """Refuse S3 settings the landing zone would not use (one line naming the variables)."""
    if not native_reads:
        return
    defaults = {name: f.default for name, f in S3Resource.model_fields.items()}
    given = s3_settings(settings)
    refused = [VARIABLES[n] for n in NOT_FOR_NATIVE_READS if given[n] != defaults[n]]
    if refused:
        raise ConfigError(
            f"{', '.join(refused)} set, but with FINANCE_SPARK_MODE={settings.spark_mode} the "
            "engine reads landing files with its own S3 access, which these settings cannot "
            "reach; unset them (or configure the engine's S3 access instead)"
        )
