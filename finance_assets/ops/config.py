"""Operations settings: sensor, schedule, freshness and alert configuration from the environment.

Read once, when the code location loads (like ``finance_assets.settings``). Secrets (the
SMTP password, the webhook URL, which embeds a token for Slack) are only ever held here and
handed to the sink that uses them; they never reach a log line, a run tag or a cursor.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from datetime import time
from pathlib import Path

from finance_assets.settings import Settings

BOOTSTRAP_MODES = ("skip", "all")
SEVERITIES = ("WARN", "ERROR")


class OpsConfigError(ValueError):
    """An operations variable has a value we cannot use; the message names the variable."""


def _env(name: str, default: str | None = None) -> str | None:
    value = os.environ.get(name)
    return value.strip() if value not in (None, "") and value.strip() else default


def _int(name: str, default: int, minimum: int = 0) -> int:
    raw = _env(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise OpsConfigError(f"{name}={raw!r} is not a whole number") from None
    if value < minimum:
        raise OpsConfigError(f"{name}={value} must be at least {minimum}")
    return value


def _choice(name: str, default: str, choices: tuple[str, ...]) -> str:
    raw = _env(name) or default
    value = raw.upper() if choices == SEVERITIES else raw.lower()
    if value not in choices:
        raise OpsConfigError(f"{name}={raw!r} is not one of: {', '.join(choices)}")
    return value


def _bool(name: str, default: bool) -> bool:
    raw = _env(name)
    if raw is None:
        return default
    if raw.lower() in ("1", "true", "yes", "on"):
        return True
    if raw.lower() in ("0", "false", "no", "off"):
        return False
    raise OpsConfigError(f"{name}={raw!r} is not true or false")


_CRON_FIELD = re.compile(r"^[\d*/,\-]+$")


def _cron(name: str, default: str) -> str:
    value = _env(name, default)
    fields = value.split()
    if len(fields) != 5 or not all(_CRON_FIELD.match(f) for f in fields):
        raise OpsConfigError(f"{name}={value!r} is not a 5-field cron string like '0 2 * * *'")
    return value


def parse_time_of_day(name: str, value: str) -> time:
    match = re.fullmatch(r"(\d{1,2}):(\d{2})", value)
    if not match or int(match[1]) > 23 or int(match[2]) > 59:
        raise OpsConfigError(f"{name}={value!r} is not a time of day like 06:00")
    return time(int(match[1]), int(match[2]))


def parse_monthly_deadline(name: str, value: str) -> tuple[int, time]:
    """``"<day of month> HH:MM"``, e.g. ``"1 06:00"``; the day is 1 to 28."""
    parts = value.split()
    if len(parts) != 2 or not parts[0].isdigit() or not 1 <= int(parts[0]) <= 28:
        raise OpsConfigError(f"{name}={value!r} is not '<day 1-28> HH:MM', e.g. '1 06:00'")
    return int(parts[0]), parse_time_of_day(name, parts[1])


@dataclass(frozen=True)
class AlertConfig:
    """Where alerts go. The log sink is on by default; webhook and email when configured."""

    log_path: Path | None = None
    webhook_url: str | None = field(default=None, repr=False)
    smtp_host: str | None = None
    smtp_port: int = 25
    smtp_from: str | None = None
    smtp_to: tuple[str, ...] = ()
    smtp_user: str | None = None
    smtp_password: str | None = field(default=None, repr=False)
    smtp_security: str = "auto"  # auto | starttls | ssl | none
    timeout_seconds: float = 10.0
    attempts: int = 3
    ui_url: str | None = None

    @property
    def sink_names(self) -> list[str]:
        names = []
        if self.log_path is not None:
            names.append("log")
        if self.webhook_url:
            names.append("webhook")
        if self.smtp_host and self.smtp_to:
            names.append("email")
        return names

    @property
    def secrets(self) -> list[str]:
        """Values to mask if they ever appear in an error message."""
        return [s for s in (self.webhook_url, self.smtp_password) if s]


def default_alert_log(settings: Settings) -> Path:
    """``<lake>/../alerts.log`` for a local lake, else ``alerts.log`` in the working folder."""
    lake = settings.lake_uri
    if "://" in lake and not lake.startswith("file://"):
        return Path("alerts.log").resolve()
    if lake.startswith("file://"):
        from finance_assets.landing.zone import local_path

        lake_path = local_path(lake)
    else:
        lake_path = Path(lake)
    return lake_path.resolve().parent / "alerts.log"


def _alert_config(settings: Settings) -> AlertConfig:
    log_setting = _env("FINANCE_ALERT_LOG")
    if log_setting and log_setting.lower() in ("off", "none", "-"):
        log_path = None
    else:
        log_path = Path(log_setting).expanduser() if log_setting else default_alert_log(settings)
    smtp_to = tuple(
        a.strip() for a in (_env("FINANCE_ALERT_SMTP_TO") or "").split(",") if a.strip()
    )
    security = (_env("FINANCE_ALERT_SMTP_SECURITY") or "auto").lower()
    if security not in ("auto", "starttls", "ssl", "none"):
        raise OpsConfigError(
            f"FINANCE_ALERT_SMTP_SECURITY={security!r} is not one of: auto, starttls, ssl, none"
        )
    host = _env("FINANCE_ALERT_SMTP_HOST")
    if host and not smtp_to:
        raise OpsConfigError("FINANCE_ALERT_SMTP_HOST is set but FINANCE_ALERT_SMTP_TO is not")
    webhook = _env("FINANCE_ALERT_WEBHOOK_URL")
    if webhook and not webhook.startswith(("http://", "https://")):
        raise OpsConfigError("FINANCE_ALERT_WEBHOOK_URL must be an http:// or https:// URL")
    return AlertConfig(
        log_path=log_path,
        webhook_url=webhook,
        smtp_host=host,
        smtp_port=_int("FINANCE_ALERT_SMTP_PORT", 25, minimum=1),
        smtp_from=_env("FINANCE_ALERT_SMTP_FROM", "finance-assets@localhost"),
        smtp_to=smtp_to,
        smtp_user=_env("FINANCE_ALERT_SMTP_USER"),
        smtp_password=os.environ.get("FINANCE_ALERT_SMTP_PASSWORD") or None,
        smtp_security=security,
        timeout_seconds=float(_int("FINANCE_ALERT_TIMEOUT_SECONDS", 10, minimum=1)),
        attempts=_int("FINANCE_ALERT_ATTEMPTS", 3, minimum=1),
        ui_url=(_env("FINANCE_UI_URL") or "").rstrip("/") or None,
    )


@dataclass(frozen=True)
class OpsConfig:
    """Everything operations reads from the environment (see docs/operating.md)."""

    timezone: str = "UTC"
    landing_sensor_interval_seconds: int = 60
    landing_sensor_bootstrap: str = "skip"
    daily_schedule_cron: str = "0 2 * * *"
    freshness_daily_deadline: time = time(6, 0)
    freshness_monthly_deadline: tuple[int, time] = (1, time(6, 0))
    freshness_severity: str = "WARN"
    alert_sensor_interval_seconds: int = 30
    default_running: bool = True
    alerts: AlertConfig = field(default_factory=AlertConfig)

    @classmethod
    def from_env(cls, settings: Settings) -> OpsConfig:
        return cls(
            timezone=settings.timezone,
            landing_sensor_interval_seconds=_int(
                "FINANCE_LANDING_SENSOR_INTERVAL_SECONDS", 60, minimum=5
            ),
            landing_sensor_bootstrap=_choice("FINANCE_SENSOR_BOOTSTRAP", "skip", BOOTSTRAP_MODES),
            daily_schedule_cron=_cron("FINANCE_DAILY_SCHEDULE_CRON", "0 2 * * *"),
            freshness_daily_deadline=parse_time_of_day(
                "FINANCE_FRESHNESS_DEADLINE", _env("FINANCE_FRESHNESS_DEADLINE", "06:00")
            ),
            freshness_monthly_deadline=parse_monthly_deadline(
                "FINANCE_FRESHNESS_MONTHLY_DEADLINE",
                _env("FINANCE_FRESHNESS_MONTHLY_DEADLINE", "1 06:00"),
            ),
            freshness_severity=_choice("FINANCE_FRESHNESS_SEVERITY", "WARN", SEVERITIES),
            alert_sensor_interval_seconds=_int(
                "FINANCE_ALERT_SENSOR_INTERVAL_SECONDS", 30, minimum=5
            ),
            default_running=_bool("FINANCE_OPS_DEFAULT_RUNNING", True),
            alerts=_alert_config(settings),
        )
