"""Settings read from the environment, in one place.

Every entry point (Dagster definitions, CLI, tests) builds a `Settings` and hands it on,
so nothing deeper in the package reads environment variables on its own.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field, replace
from datetime import date
from pathlib import Path

DEFAULT_DATA_DIR = Path("data")
DEFAULT_PARTITIONS_START = date(2024, 1, 1)


def _env(name: str, default: str | None = None) -> str | None:
    value = os.environ.get(name)
    return value if value not in (None, "") else default


def _spark_conf(text: str | None) -> dict[str, str]:
    """``FINANCE_SPARK_CONF``: extra Spark settings, ``key=value`` pairs separated by ``;``."""
    conf: dict[str, str] = {}
    for item in re.split(r"[;\n]", text or ""):
        key, sep, value = (part.strip() for part in item.partition("="))
        if not key and not value:
            continue
        if not sep or not key.startswith("spark."):
            raise ValueError(
                f"FINANCE_SPARK_CONF: {key[:60]!r} is not a spark.*=value pair; write e.g. "
                "FINANCE_SPARK_CONF='spark.executor.memory=2g;spark.cores.max=8'"
            )
        conf[key] = value
    return conf


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
    # Unity Catalog (databricks mode only): tables become <catalog>.<schema>.<layer>_<name>.
    databricks_catalog: str | None = None
    databricks_schema: str | None = None
    s3_endpoint_url: str | None = None
    s3_region: str | None = None
    extra_spark_conf: dict[str, str] = field(default_factory=dict)
    quarantine_warn_rate: float = 0.05
    quarantine_error_rate: float = 0.5
    quarantine_min_rows: int = 100

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
            databricks_catalog=_env("FINANCE_DATABRICKS_CATALOG"),
            databricks_schema=_env("FINANCE_DATABRICKS_SCHEMA"),
            extra_spark_conf=_spark_conf(_env("FINANCE_SPARK_CONF")),
            s3_endpoint_url=_env("AWS_ENDPOINT_URL_S3", _env("AWS_ENDPOINT_URL")),
            s3_region=_env("AWS_REGION", _env("AWS_DEFAULT_REGION")),
            quarantine_warn_rate=float(_env("FINANCE_QUARANTINE_WARN_RATE", "0.05")),
            quarantine_error_rate=float(_env("FINANCE_QUARANTINE_ERROR_RATE", "0.5")),
            quarantine_min_rows=int(_env("FINANCE_QUARANTINE_MIN_ROWS", "100")),
        )

    def with_overrides(self, **changes) -> Settings:
        return replace(self, **{k: v for k, v in changes.items() if v is not None})
