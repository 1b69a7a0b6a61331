"""Settings read from the environment, in one place.

Every entry point (Dagster definitions, CLI, tests) builds a `Settings` and hands it on,
so nothing deeper in the package reads environment variables on its own.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from datetime import date
from pathlib import Path

DEFAULT_DATA_DIR = Path("data")
DEFAULT_PARTITIONS_START = date(2024, 1, 1)


def _env(name: str, default: str | None = None) -> str | None:
    value = os.environ.get(name)
    return value if value not in (None, "") else default


@dataclass(frozen=True)
class Settings:
    """Where the data lives and how the engine runs."""

    landing_uri: str
    lake_uri: str
    partitions_start: date = DEFAULT_PARTITIONS_START
    partitions_end: date | None = None
    timezone: str = "UTC"
    spark_mode: str = "local"
    spark_master: str = "local[2]"
    spark_driver_memory: str = "4g"
    spark_shuffle_partitions: int = 4
    spark_connect_url: str | None = None
    s3_endpoint_url: str | None = None
    s3_region: str | None = None
    extra_spark_conf: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_env(cls) -> Settings:
        start = _env("FINANCE_PARTITIONS_START")
        end = _env("FINANCE_PARTITIONS_END")
        return cls(
            landing_uri=_env("FINANCE_LANDING_URI", str(DEFAULT_DATA_DIR / "landing")),
            lake_uri=_env("FINANCE_LAKE_URI", str(DEFAULT_DATA_DIR / "lake")),
            partitions_start=date.fromisoformat(start) if start else DEFAULT_PARTITIONS_START,
            partitions_end=date.fromisoformat(end) if end else None,
            timezone=_env("FINANCE_TIMEZONE", "UTC"),
            spark_mode=_env("FINANCE_SPARK_MODE", "local"),
            spark_master=_env("FINANCE_SPARK_MASTER", "local[2]"),
            spark_driver_memory=_env("FINANCE_SPARK_DRIVER_MEMORY", "4g"),
            spark_shuffle_partitions=int(_env("FINANCE_SPARK_SHUFFLE_PARTITIONS", "4")),
            spark_connect_url=_env("FINANCE_SPARK_CONNECT_URL"),
            s3_endpoint_url=_env("AWS_ENDPOINT_URL_S3", _env("AWS_ENDPOINT_URL")),
            s3_region=_env("AWS_REGION", _env("AWS_DEFAULT_REGION")),
        )

    def with_overrides(self, **changes) -> Settings:
        return replace(self, **{k: v for k, v in changes.items() if v is not None})
