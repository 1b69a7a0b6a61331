"""Every setting of finance-assets, read from the environment in this one place.

``Settings`` is a typed, validated object (pydantic-settings). Nothing else in the package reads
environment variables: entry points (the Dagster code location, the CLI, tests) build a
``Settings`` (``Settings.load()``) and hand it on. A bad value is one line naming the variable,
the value and what is expected (:class:`ConfigError`); secrets are never echoed.
"""

from __future__ import annotations

import contextlib
import contextvars
import getpass
import re
from collections.abc import Iterator
from datetime import date, time
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AliasChoices, BeforeValidator, Field, SecretStr, ValidationError
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

DEFAULT_DATA_DIR = Path("data")
DEFAULT_DAGSTER_HOME = Path(".dagster_home")
DELTA_DEFAULT_RETENTION_HOURS = 168
"""Delta Lake's own minimum age of a replaced file before a vacuum may delete it (7 days)."""


class ConfigError(ValueError):
    """A setting the user can fix; the message names it and never holds a secret."""


# --- value parsers: each raises ValueError with what is expected ---------------------------


def _spark_conf(text: object) -> dict[str, str]:
    """``key=value`` Spark settings separated by ``;`` or newlines."""
    if isinstance(text, dict):
        return {str(k): str(v) for k, v in text.items()}
    conf: dict[str, str] = {}
    for item in re.split(r"[;\n]", str(text or "")):
        key, sep, value = (part.strip() for part in item.partition("="))
        if not key and not value:
            continue
        if not sep or not key.startswith("spark."):
            shown = key[:60] if sep else "an entry without '='"
            raise ValueError(
                f"{shown!r} is not a spark.*=value pair; write e.g. "
                "'spark.executor.memory=2g;spark.cores.max=8'"
            )
        conf[key] = value
    return conf


def _time_of_day(value: object) -> time:
    if isinstance(value, time):
        return value
    match = re.fullmatch(r"(\d{1,2}):(\d{2})", str(value).strip())
    if not match or int(match[1]) > 23 or int(match[2]) > 59:
        raise ValueError("expected a time of day HH:MM, e.g. 06:00")
    return time(int(match[1]), int(match[2]))


def _monthly_deadline(value: object) -> tuple[int, time]:
    if isinstance(value, tuple):
        return value
    parts = str(value).split()
    if len(parts) != 2 or not parts[0].isdigit() or not 1 <= int(parts[0]) <= 28:
        raise ValueError("expected '<day of month 1-28> HH:MM', e.g. '1 06:00'")
    return int(parts[0]), _time_of_day(parts[1])


_CRON_FIELD = re.compile(r"^[\d*/,\-]+$")


def _cron(value: object) -> str:
    text = str(value).strip()
    fields = text.split()
    if len(fields) != 5 or not all(_CRON_FIELD.match(f) for f in fields):
        raise ValueError("expected a 5-field cron string, e.g. '0 2 * * *'")
    return text


def _iso_date(value: object) -> date:
    if isinstance(value, date):
        return value
    text = str(value).strip()
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
        raise ValueError("expected a date YYYY-MM-DD, e.g. 2024-01-01")
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ValueError("expected a real calendar date YYYY-MM-DD") from None


def _timezone(value: object) -> str:
    text = str(value).strip()
    try:
        ZoneInfo(text)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError("expected an IANA time zone, e.g. UTC or Europe/Paris") from None
    return text


def _memory(value: object) -> str:
    text = str(value).strip().lower()
    if not re.fullmatch(r"\d+[kmgt]?", text):
        raise ValueError("expected a JVM memory size, e.g. 4g or 512m")
    return text


def _addresses(value: object) -> tuple[str, ...]:
    if isinstance(value, (tuple, list)):
        return tuple(value)
    return tuple(a.strip() for a in str(value or "").split(",") if a.strip())


def _upper(value: object) -> str:
    return str(value).strip().upper()


def _lower(value: object) -> str:
    return str(value).strip().lower()


def _env(*names: str) -> AliasChoices:
    return AliasChoices(*names)


IsoDate = Annotated[date, BeforeValidator(_iso_date)]
TimeOfDay = Annotated[time, BeforeValidator(_time_of_day)]


class Settings(BaseSettings):
    """Where the data lives, how the engine runs, and how the deployment is operated."""

    model_config = SettingsConfigDict(
        frozen=True, extra="ignore", populate_by_name=True, env_ignore_empty=True
    )

    # --- data -------------------------------------------------------------------------
    landing_uri: str = Field(
        str(DEFAULT_DATA_DIR / "landing"),
        validation_alias=_env("FINANCE_LANDING_URI", "landing_uri"),
        description="landing folder or s3://bucket/prefix",
    )
    lake_uri: str = Field(
        str(DEFAULT_DATA_DIR / "lake"),
        validation_alias=_env("FINANCE_LAKE_URI", "lake_uri"),
        description="lake folder",
    )
    landing_in_process_bytes: int = Field(
        8 * 1024 * 1024,
        ge=0,
        validation_alias=_env("FINANCE_LANDING_IN_PROCESS_BYTES", "landing_in_process_bytes"),
    )
    """A run's drop files of one dataset up to this size in all are read in this process and
    handed to Spark as Arrow; larger drops are read in Spark tasks (0: always in tasks)."""
    partitions_start: IsoDate = Field(
        date(2024, 1, 1), validation_alias=_env("FINANCE_PARTITIONS_START", "partitions_start")
    )
    partitions_end: IsoDate | None = Field(
        None, validation_alias=_env("FINANCE_PARTITIONS_END", "partitions_end")
    )
    timezone: Annotated[str, BeforeValidator(_timezone)] = Field(
        "UTC", validation_alias=_env("FINANCE_TIMEZONE", "timezone")
    )

    # --- engine -----------------------------------------------------------------------
    spark_mode: Annotated[Literal["local", "connect", "databricks"], BeforeValidator(_lower)] = (
        Field("local", validation_alias=_env("FINANCE_SPARK_MODE", "spark_mode"))
    )
    spark_master: str = Field(
        "local[2]", validation_alias=_env("FINANCE_SPARK_MASTER", "spark_master")
    )
    spark_driver_memory: Annotated[str, BeforeValidator(_memory)] = Field(
        "4g", validation_alias=_env("FINANCE_SPARK_DRIVER_MEMORY", "spark_driver_memory")
    )
    spark_shuffle_partitions: int = Field(
        4,
        ge=1,
        validation_alias=_env("FINANCE_SPARK_SHUFFLE_PARTITIONS", "spark_shuffle_partitions"),
    )
    spark_connect_url: SecretStr | None = Field(
        None, validation_alias=_env("FINANCE_SPARK_CONNECT_URL", "spark_connect_url")
    )
    extra_spark_conf: Annotated[dict[str, str], NoDecode, BeforeValidator(_spark_conf)] = Field(
        default_factory=dict, validation_alias=_env("FINANCE_SPARK_CONF", "extra_spark_conf")
    )
    java_home: str | None = Field(None, validation_alias=_env("JAVA_HOME", "java_home"))
    spark_class_archive: str | None = Field(
        None, validation_alias=_env("FINANCE_SPARK_CLASS_ARCHIVE", "spark_class_archive")
    )
    """Local Spark's JVM class archive (``lake/class_archive.py``): a file, or ``off``."""
    pyspark_python: str | None = Field(
        None, validation_alias=_env("PYSPARK_PYTHON", "pyspark_python")
    )
    databricks_catalog: str | None = Field(
        None, validation_alias=_env("FINANCE_DATABRICKS_CATALOG", "databricks_catalog")
    )
    databricks_schema: str | None = Field(
        None, validation_alias=_env("FINANCE_DATABRICKS_SCHEMA", "databricks_schema")
    )
    databricks_host: str | None = Field(None, validation_alias=_env("DATABRICKS_HOST"))
    databricks_token: SecretStr | None = Field(None, validation_alias=_env("DATABRICKS_TOKEN"))
    databricks_client_id: str | None = Field(None, validation_alias=_env("DATABRICKS_CLIENT_ID"))
    databricks_client_secret: SecretStr | None = Field(
        None, validation_alias=_env("DATABRICKS_CLIENT_SECRET")
    )
    databricks_profile: str | None = Field(None, validation_alias=_env("DATABRICKS_CONFIG_PROFILE"))
    databricks_cluster_id: str | None = Field(None, validation_alias=_env("DATABRICKS_CLUSTER_ID"))
    databricks_serverless_compute_id: str | None = Field(
        None, validation_alias=_env("DATABRICKS_SERVERLESS_COMPUTE_ID")
    )
    databricks_runtime_version: str | None = Field(
        None, validation_alias=_env("DATABRICKS_RUNTIME_VERSION")
    )

    # --- S3 landing zone (the standard AWS variables where there is one) ----------------
    s3_endpoint_url: str | None = Field(
        None, validation_alias=_env("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL", "s3_endpoint_url")
    )
    s3_region: str | None = Field(
        None, validation_alias=_env("AWS_REGION", "AWS_DEFAULT_REGION", "s3_region")
    )
    s3_profile: str | None = Field(None, validation_alias=_env("AWS_PROFILE", "s3_profile"))
    s3_max_attempts: int = Field(
        8, ge=1, validation_alias=_env("AWS_MAX_ATTEMPTS", "s3_max_attempts")
    )
    s3_retry_mode: Annotated[Literal["legacy", "standard", "adaptive"], BeforeValidator(_lower)] = (
        Field("standard", validation_alias=_env("AWS_RETRY_MODE", "s3_retry_mode"))
    )
    s3_use_ssl: bool = Field(True, validation_alias=_env("FINANCE_S3_USE_SSL", "s3_use_ssl"))
    s3_verify: bool | None = Field(
        None,
        validation_alias=_env("FINANCE_S3_VERIFY", "s3_verify"),
        description="false: do not verify the endpoint's TLS certificate",
    )
    s3_unsigned: bool = Field(
        False,
        validation_alias=_env("FINANCE_S3_UNSIGNED", "s3_unsigned"),
        description="anonymous requests (a public bucket)",
    )
    aws_access_key_id: SecretStr | None = Field(
        None, validation_alias=_env("AWS_ACCESS_KEY_ID", "aws_access_key_id")
    )
    aws_secret_access_key: SecretStr | None = Field(
        None, validation_alias=_env("AWS_SECRET_ACCESS_KEY", "aws_secret_access_key")
    )
    aws_session_token: SecretStr | None = Field(
        None, validation_alias=_env("AWS_SESSION_TOKEN", "aws_session_token")
    )

    # --- data quality -----------------------------------------------------------------
    quarantine_warn_rate: float = Field(
        0.05, ge=0, le=1, validation_alias=_env("FINANCE_QUARANTINE_WARN_RATE")
    )
    quarantine_error_rate: float = Field(
        0.5, ge=0, le=1, validation_alias=_env("FINANCE_QUARANTINE_ERROR_RATE")
    )
    quarantine_min_rows: int = Field(
        100, ge=0, validation_alias=_env("FINANCE_QUARANTINE_MIN_ROWS")
    )

    # --- operations -------------------------------------------------------------------
    sensor_bootstrap: Annotated[Literal["skip", "all"], BeforeValidator(_lower)] = Field(
        "skip", validation_alias=_env("FINANCE_SENSOR_BOOTSTRAP", "sensor_bootstrap")
    )
    landing_sensor_interval_seconds: int = Field(
        60, ge=5, validation_alias=_env("FINANCE_LANDING_SENSOR_INTERVAL_SECONDS")
    )
    daily_schedule_cron: Annotated[str, BeforeValidator(_cron)] = Field(
        "0 2 * * *", validation_alias=_env("FINANCE_DAILY_SCHEDULE_CRON")
    )
    freshness_deadline: TimeOfDay = Field(
        time(6, 0), validation_alias=_env("FINANCE_FRESHNESS_DEADLINE")
    )
    freshness_monthly_deadline: Annotated[
        tuple[int, time], NoDecode, BeforeValidator(_monthly_deadline)
    ] = Field((1, time(6, 0)), validation_alias=_env("FINANCE_FRESHNESS_MONTHLY_DEADLINE"))
    freshness_severity: Annotated[Literal["WARN", "ERROR"], BeforeValidator(_upper)] = Field(
        "WARN", validation_alias=_env("FINANCE_FRESHNESS_SEVERITY")
    )
    ops_default_running: bool = Field(True, validation_alias=_env("FINANCE_OPS_DEFAULT_RUNNING"))
    vacuum_retention_hours: int = Field(
        DELTA_DEFAULT_RETENTION_HOURS,
        ge=0,
        validation_alias=_env("FINANCE_VACUUM_RETENTION_HOURS", "vacuum_retention_hours"),
        description=(
            "lake maintenance deletes files replaced more than this many hours ago; time "
            "travel cannot reach versions older than that (default 168 = 7 days, Delta's own)"
        ),
    )
    alert_sensor_interval_seconds: int = Field(
        30, ge=5, validation_alias=_env("FINANCE_ALERT_SENSOR_INTERVAL_SECONDS")
    )
    alert_log: str | None = Field(None, validation_alias=_env("FINANCE_ALERT_LOG"))
    alert_webhook_url: SecretStr | None = Field(
        None, validation_alias=_env("FINANCE_ALERT_WEBHOOK_URL")
    )
    alert_smtp_host: str | None = Field(None, validation_alias=_env("FINANCE_ALERT_SMTP_HOST"))
    alert_smtp_port: int = Field(
        25, ge=1, le=65535, validation_alias=_env("FINANCE_ALERT_SMTP_PORT")
    )
    alert_smtp_from: str = Field(
        "finance-assets@localhost", validation_alias=_env("FINANCE_ALERT_SMTP_FROM")
    )
    alert_smtp_to: Annotated[tuple[str, ...], NoDecode, BeforeValidator(_addresses)] = Field(
        (), validation_alias=_env("FINANCE_ALERT_SMTP_TO")
    )
    alert_smtp_user: str | None = Field(None, validation_alias=_env("FINANCE_ALERT_SMTP_USER"))
    alert_smtp_password: SecretStr | None = Field(
        None, validation_alias=_env("FINANCE_ALERT_SMTP_PASSWORD")
    )
    alert_smtp_security: Annotated[
        Literal["auto", "starttls", "ssl", "none"], BeforeValidator(_lower)
    ] = Field("auto", validation_alias=_env("FINANCE_ALERT_SMTP_SECURITY"))
    alert_attempts: int = Field(3, ge=1, validation_alias=_env("FINANCE_ALERT_ATTEMPTS"))
    alert_timeout_seconds: int = Field(
        10, ge=1, validation_alias=_env("FINANCE_ALERT_TIMEOUT_SECONDS")
    )
    ui_url: str | None = Field(None, validation_alias=_env("FINANCE_UI_URL"))
    user: str | None = Field(
        None,
        validation_alias=_env("FINANCE_USER"),
        description="who closes and reopens months (default: the operating-system user)",
    )
    source_date_epoch: int | None = Field(
        None, ge=0, validation_alias=_env("SOURCE_DATE_EPOCH"), description="reproducible builds"
    )

    # --- the Dagster instance of CLI runs -----------------------------------------------
    dagster_home: Path | None = Field(None, validation_alias=_env("DAGSTER_HOME", "dagster_home"))

    @classmethod
    def load(cls, **overrides: Any) -> Settings:
        """Settings from the environment (and ``overrides``), or :class:`ConfigError`."""
        try:
            settings = cls(**{k: v for k, v in overrides.items() if v is not None})
        except ValidationError as exc:
            raise ConfigError(describe_error(exc)) from None
        settings.check_consistency()
        return settings

    def with_overrides(self, **changes: Any) -> Settings:
        """A copy with these fields replaced (``None`` leaves a field as it is)."""
        return self.model_copy(update={k: v for k, v in changes.items() if v is not None})

    def check_consistency(self) -> None:
        """Rules that involve several settings."""
        if self.partitions_end and self.partitions_end < self.partitions_start:
            raise ConfigError(
                f"FINANCE_PARTITIONS_END={self.partitions_end} is before "
                f"FINANCE_PARTITIONS_START={self.partitions_start}"
            )
        if self.quarantine_error_rate < self.quarantine_warn_rate:
            raise ConfigError(
                "FINANCE_QUARANTINE_ERROR_RATE must be at least FINANCE_QUARANTINE_WARN_RATE"
            )
        if self.alert_smtp_host and not self.alert_smtp_to:
            raise ConfigError("FINANCE_ALERT_SMTP_HOST is set but FINANCE_ALERT_SMTP_TO is not")
        webhook = self.secret("alert_webhook_url")
        if webhook and not webhook.startswith(("http://", "https://")):
            raise ConfigError("FINANCE_ALERT_WEBHOOK_URL must be an http:// or https:// URL")

    def secret(self, name: str) -> str | None:
        """The plain value of a secret setting (hand it only to what uses it)."""
        value = getattr(self, name)
        return value.get_secret_value() if value is not None else None

    @property
    def alert_log_path(self) -> Path | None:
        """``FINANCE_ALERT_LOG``, ``off`` for none; by default ``<lake>/../alerts.log``."""
        if self.alert_log and self.alert_log.lower() in ("off", "none", "-"):
            return None
        if self.alert_log:
            return Path(self.alert_log).expanduser()
        lake = self.lake_uri
        if "://" in lake and not lake.startswith("file://"):
            return Path("alerts.log").resolve()
        return Path(lake.removeprefix("file://")).resolve().parent / "alerts.log"

    @property
    def acting_user(self) -> str:
        """Who is acting, for the audit trail: ``FINANCE_USER``, else the OS user."""
        if self.user and self.user.strip():
            return self.user.strip()
        try:
            return getpass.getuser()
        except (KeyError, OSError):
            return "unknown"

    @property
    def instance_home(self) -> Path:
        """The Dagster instance folder of CLI runs: ``DAGSTER_HOME``, else ``.dagster_home``."""
        return (self.dagster_home or DEFAULT_DAGSTER_HOME).expanduser().resolve()


def env_name(settings_cls: type[BaseSettings], field: str) -> str:
    """The environment variable a field is read from (its first alias)."""
    alias = settings_cls.model_fields[field].validation_alias
    if isinstance(alias, AliasChoices):
        return str(alias.choices[0])
    return str(alias or field).upper()


def _field_of(name: str) -> str | None:
    """The field a variable (or field) name stands for."""
    if name in Settings.model_fields:
        return name
    return next((f for f in Settings.model_fields if env_name(Settings, f) == name), None)


def describe_error(exc: ValidationError) -> str:
    """One line per bad value: the variable, the value (never a secret's) and what is expected."""
    lines = []
    for error in exc.errors():
        loc = str(error["loc"][0]) if error["loc"] else ""
        field = _field_of(loc)
        name = env_name(Settings, field) if field else loc
        secret = field is not None and "SecretStr" in str(Settings.model_fields[field].annotation)
        message = str(error["msg"]).removeprefix("Value error, ")
        shown = "" if secret or field in _MASKED_VALUES else f"={error.get('input')!r}"
        lines.append(f"{name}{shown}: {message}")
    return "; ".join(lines)


# Values that may hold credentials (Spark settings can carry keys): never echoed.
_MASKED_VALUES = {"extra_spark_conf"}


_ACTIVE: contextvars.ContextVar[Settings | None] = contextvars.ContextVar(
    "finance_assets_settings", default=None
)


def current_settings() -> Settings:
    """The settings definitions are built for: those in :func:`use_settings`, else the
    environment's."""
    return _ACTIVE.get() or Settings.load()


@contextlib.contextmanager
def use_settings(settings: Settings) -> Iterator[Settings]:
    """Build definitions (``finance_assets.definitions.load_definitions``) for ``settings``."""
    token = _ACTIVE.set(settings)
    try:
        yield settings
    finally:
        _ACTIVE.reset(token)
