"""Alerts: failed runs, failed blocking/ERROR checks and stale gold tables, once per incident.

Sinks (any combination, configured by environment variables, see the README's Alerts section):

- ``log`` (default): one JSON line per alert appended to ``FINANCE_ALERT_LOG``
  (default ``<lake>/../alerts.log``; ``off`` disables it);
- ``webhook``: a Slack-compatible ``{"text": ...}`` JSON POST to ``FINANCE_ALERT_WEBHOOK_URL``;
- ``email``: a plain-text message over SMTP (``FINANCE_ALERT_SMTP_*``), STARTTLS when the
  server offers it, never a password over an unencrypted connection unless told so.

Two sensors deliver them:

- ``finance_run_failure_alerts`` (a run failure sensor): one alert per failed run, naming
  the failed steps and the failed checks (a failed blocking check fails its run, so this is
  also the alert for failed blocking checks);
- ``finance_check_alerts``: looks at the checks of every run that succeeded: a failed
  ``ERROR`` check is one incident per run, a failed freshness check one incident per table
  and missing partition (re-evaluating it every day does not alert again; once it passes,
  the incident is closed).

A gold step that finds late data for a closed month sends its own alert (``closed_month``,
:func:`waiting_alert`): the values wait in silver for a reopen.

Each sensor keeps a cursor, so an incident is delivered once, not on every tick. A sink that
fails is retried with backoff (``FINANCE_ALERT_ATTEMPTS``) and then logged, without
blocking the other sinks. Secrets (the webhook URL, the SMTP password) never appear in a
log line: error messages are masked before they are logged.
"""

from __future__ import annotations

import json
import logging
import smtplib
import ssl
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from email.message import EmailMessage
from pathlib import Path

import dagster as dg

from finance_assets.automation.freshness import EXPECTED_PARTITION, FRESHNESS_CHECK
from finance_assets.automation.tags import TRIGGER_TAG
from finance_assets.lake.partitions import PARTITION_TAG, RANGE_END_TAG, RANGE_START_TAG
from finance_assets.landing.retry import is_transient, with_retries
from finance_assets.settings import Settings

log = logging.getLogger(__name__)

RUN_FAILURE_SENSOR = "finance_run_failure_alerts"
CHECK_SENSOR = "finance_check_alerts"
RUN_FAILURE, CHECK_FAILURE, FRESHNESS = "run_failure", "check_failure", "freshness"
CLOSED_MONTH = "closed_month"
MAX_OPEN_INCIDENTS = 1000
PAGE = 50
SUBJECT_PREFIX = "[finance-assets]"


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

    @classmethod
    def from_settings(cls, settings: Settings) -> AlertConfig:
        return cls(
            log_path=settings.alert_log_path,
            webhook_url=settings.secret("alert_webhook_url"),
            smtp_host=settings.alert_smtp_host,
            smtp_port=settings.alert_smtp_port,
            smtp_from=settings.alert_smtp_from,
            smtp_to=settings.alert_smtp_to,
            smtp_user=settings.alert_smtp_user,
            smtp_password=settings.secret("alert_smtp_password"),
            smtp_security=settings.alert_smtp_security,
            timeout_seconds=float(settings.alert_timeout_seconds),
            attempts=settings.alert_attempts,
            ui_url=(settings.ui_url or "").rstrip("/") or None,
        )

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


@dataclass(frozen=True)
class Alert:
    """One incident, as delivered to every sink."""

    incident: str
    kind: str
    title: str
    lines: tuple[str, ...] = ()
    url: str | None = None
    occurred_at: float = field(default_factory=time.time)

    def text(self) -> str:
        body = [f"{SUBJECT_PREFIX} {self.title}", *self.lines]
        if self.url:
            body.append(self.url)
        return "\n".join(body)


def mask(text: str, secrets: Iterable[str]) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


class LogSink:
    """Appends one JSON line per alert; the default sink."""

    name = "log"

    def __init__(self, path: Path):
        self.path = path

    def send(self, alert: Alert) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        record = {
            "time": datetime.fromtimestamp(alert.occurred_at, timezone.utc).isoformat(),
            **asdict(alert),
        }
        line = json.dumps(record, ensure_ascii=False) + "\n"
        with open(self.path, "a", encoding="utf-8") as handle:
            handle.write(line)


class WebhookError(Exception):
    def __init__(self, status: int, transient: bool):
        super().__init__(f"webhook answered HTTP {status}")
        self.status = status
        self.transient = transient


class WebhookSink:
    """POSTs ``{"text": ...}`` (Slack incoming-webhook format) to a URL."""

    name = "webhook"

    def __init__(self, url: str, timeout: float):
        self.url = url
        self.timeout = timeout
        # Loopback receivers must not go through a proxy configured in the environment.
        self._opener = urllib.request.build_opener(
            urllib.request.ProxyHandler({})
            if urllib.parse.urlparse(url).hostname in ("127.0.0.1", "localhost", "::1")
            else urllib.request.ProxyHandler()
        )

    def payload(self, alert: Alert) -> bytes:
        return json.dumps({"text": alert.text()}).encode()

    def send(self, alert: Alert) -> None:
        request = urllib.request.Request(
            self.url,
            data=self.payload(alert),
            method="POST",
            headers={"Content-Type": "application/json", "User-Agent": "finance-assets-alerts"},
        )
        try:
            with self._opener.open(request, timeout=self.timeout) as response:
                response.read()
        except urllib.error.HTTPError as exc:
            raise WebhookError(exc.code, exc.code == 429 or exc.code >= 500) from None


class EmailSink:
    """Sends a plain-text email over SMTP."""

    name = "email"

    def __init__(self, config: AlertConfig):
        self.config = config

    def message(self, alert: Alert) -> EmailMessage:
        message = EmailMessage()
        message["Subject"] = f"{SUBJECT_PREFIX} {alert.title}"
        message["From"] = self.config.smtp_from
        message["To"] = ", ".join(self.config.smtp_to)
        message["X-Finance-Incident"] = alert.incident
        message.set_content(alert.text())
        return message

    def send(self, alert: Alert) -> None:
        c = self.config
        security = c.smtp_security
        if security == "auto" and c.smtp_port == 465:
            security = "ssl"
        context = ssl.create_default_context()
        if security == "ssl":
            client = smtplib.SMTP_SSL(
                c.smtp_host, c.smtp_port, timeout=c.timeout_seconds, context=context
            )
        else:
            client = smtplib.SMTP(c.smtp_host, c.smtp_port, timeout=c.timeout_seconds)
        with client:
            client.ehlo()
            encrypted = security == "ssl"
            if security == "starttls" or (security == "auto" and client.has_extn("starttls")):
                client.starttls(context=context)
                client.ehlo()
                encrypted = True
            if c.smtp_user and c.smtp_password:
                if not encrypted and security != "none":
                    raise smtplib.SMTPException(
                        "refusing to send the SMTP password over an unencrypted connection "
                        "(the server offers no STARTTLS; set FINANCE_ALERT_SMTP_SECURITY=none "
                        "to allow it)"
                    )
                client.login(c.smtp_user, c.smtp_password)
            client.send_message(self.message(alert))


def _retryable(exc: BaseException) -> bool:
    if isinstance(exc, WebhookError):
        return exc.transient
    if isinstance(exc, urllib.error.URLError):
        return True
    if isinstance(exc, (smtplib.SMTPServerDisconnected, smtplib.SMTPConnectError)):
        return True
    if isinstance(exc, smtplib.SMTPResponseException):
        return 400 <= exc.smtp_code < 500  # 4xx: temporary failure
    return is_transient(exc)


def build_sinks(config: AlertConfig) -> list:
    sinks: list = []
    if config.log_path is not None:
        sinks.append(LogSink(config.log_path))
    if config.webhook_url:
        sinks.append(WebhookSink(config.webhook_url, config.timeout_seconds))
    if config.smtp_host and config.smtp_to:
        sinks.append(EmailSink(config))
    return sinks


def deliver(
    alert: Alert,
    sinks: Sequence,
    config: AlertConfig,
    logger: logging.Logger | None = None,
    sleep=None,
) -> dict[str, str]:
    """Send ``alert`` to every sink; returns ``{sink: "sent" | "failed: <masked reason>"}``."""
    logger = logger or log
    outcome = {}
    for sink in sinks:
        try:
            with_retries(
                lambda s=sink: s.send(alert),
                attempts=config.attempts,
                base_delay=1.0,
                max_delay=10.0,
                retry_if=_retryable,
                what=f"alert delivery to the {sink.name} sink",
                sleep=sleep,
                logger=_MaskingLogger(logger, config.secrets),
            )
            outcome[sink.name] = "sent"
        except Exception as exc:
            reason = mask(f"{type(exc).__name__}: {exc}", config.secrets)
            outcome[sink.name] = f"failed: {reason}"
            logger.error(f"Alert {alert.incident} not delivered to the {sink.name} sink: {reason}")
    return outcome


class _MaskingLogger:
    """Forwards ``warning`` calls with secrets masked (used by with_retries)."""

    def __init__(self, logger, secrets: list[str]):
        self._logger = logger
        self._secrets = secrets

    def warning(self, message: str, *args) -> None:
        text = message % args if args else message
        self._logger.warning(mask(text, self._secrets))


# --- what an alert says -------------------------------------------------------------


def _partition_text(tags: dict) -> str:
    if PARTITION_TAG in tags:
        return tags[PARTITION_TAG]
    if RANGE_START_TAG in tags:
        start, end = tags[RANGE_START_TAG], tags.get(RANGE_END_TAG, tags[RANGE_START_TAG])
        return start if start == end else f"{start}..{end}"
    return ""


def _run_url(config: AlertConfig, run_id: str) -> str | None:
    return f"{config.ui_url}/runs/{run_id}" if config.ui_url else None


@dataclass(frozen=True)
class CheckOutcome:
    asset: str
    check: str
    passed: bool
    severity: str
    description: str
    expected_partition: str | None

    @property
    def label(self) -> str:
        return f"{self.asset}:{self.check}"


def check_outcomes(instance: dg.DagsterInstance, run_id: str) -> list[CheckOutcome]:
    """Every asset check evaluation of a run."""
    connection = instance.get_records_for_run(
        run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION
    )
    outcomes = []
    for record in connection.records:
        event = record.event_log_entry.dagster_event
        evaluation = event.event_specific_data if event else None
        if evaluation is None:
            continue
        expected = evaluation.metadata.get(EXPECTED_PARTITION)
        outcomes.append(
            CheckOutcome(
                asset=evaluation.asset_key.to_user_string(),
                check=evaluation.check_name,
                passed=evaluation.passed,
                severity=getattr(evaluation.severity, "value", str(evaluation.severity)),
                description=evaluation.description or "",
                expected_partition=expected.value if expected is not None else None,
            )
        )
    return outcomes


def run_failure_alert(
    instance: dg.DagsterInstance,
    run: dg.DagsterRun,
    step_failures: Sequence[str],
    config: AlertConfig,
    failure_message: str | None = None,
) -> Alert:
    tags = dict(run.tags)
    partition = _partition_text(tags)
    title = f"Run failed: {run.job_name}" + (f" {partition}" if partition else "")
    lines = [f"Run {run.run_id}"]
    if TRIGGER_TAG in tags:
        lines[0] += f" (started by {tags[TRIGGER_TAG]})"
    lines += [f"Failed step {s}" for s in step_failures]
    if not step_failures and failure_message:
        lines.append(failure_message)
    failed_checks = [c for c in check_outcomes(instance, run.run_id) if not c.passed]
    for c in failed_checks:
        lines.append(f"Failed check {c.label} ({c.severity}): {c.description}".rstrip(": "))
    return Alert(
        incident=f"run:{run.run_id}",
        kind=RUN_FAILURE,
        title=title,
        lines=tuple(lines),
        url=_run_url(config, run.run_id),
    )


def waiting_alert(
    table: str, months: Sequence[str], message: str, run_id: str, config: AlertConfig
) -> Alert:
    """Late data for a closed month: it is in silver, the gold values wait for a reopen.
    Sent by the gold step itself, once per run and table."""
    return Alert(
        incident=f"{CLOSED_MONTH}:{run_id}:{table}",
        kind=CLOSED_MONTH,
        title=f"Closed month {', '.join(months)}: late data for gold/{table} waits for a reopen",
        lines=(message,),
        url=_run_url(config, run_id),
    )


def _error_text(event: dg.DagsterEvent) -> str:
    data = event.step_failure_data
    error = data.error if data else None
    while error is not None and error.cause is not None:
        error = error.cause  # the user code's exception, not Dagster's wrapper
    if error is None:
        return event.message or "failed"
    message = error.message.strip().splitlines()
    return message[-1] if message else error.cls_name or "failed"


def _status(settings: Settings) -> dg.DefaultSensorStatus:
    running = settings.ops_default_running
    return dg.DefaultSensorStatus.RUNNING if running else dg.DefaultSensorStatus.STOPPED


def build_run_failure_sensor(settings: Settings, sinks: Sequence) -> dg.SensorDefinition:
    config = AlertConfig.from_settings(settings)

    @dg.run_failure_sensor(
        name=RUN_FAILURE_SENSOR,
        minimum_interval_seconds=settings.alert_sensor_interval_seconds,
        default_status=_status(settings),
        description=(
            "One alert per failed run (its failed steps and failed checks) "
            f"to: {', '.join(config.sink_names) or 'no sink'}."
        ),
    )
    def run_failure_alerts(context: dg.RunFailureSensorContext):
        steps = [f"{e.step_key}: {_error_text(e)}" for e in context.get_step_failure_events()]
        alert = run_failure_alert(
            context.instance,
            context.dagster_run,
            steps,
            config,
            failure_message=context.failure_event.message,
        )
        outcome = deliver(alert, sinks, config, context.log)
        context.log.info(f"Alert {alert.incident}: {outcome}")

    return run_failure_alerts


def check_alerts_for_run(
    instance: dg.DagsterInstance,
    run: dg.DagsterRun,
    open_incidents: dict[str, float],
    config: AlertConfig,
) -> list[Alert]:
    """Alerts for a successful run's failed ERROR checks and new freshness failures.

    Updates ``open_incidents``: a failed freshness check opens ``freshness:<asset>:<partition>``
    (alerted once), a passing one closes every open incident of its table.
    """
    failed_error: list[CheckOutcome] = []
    stale: list[CheckOutcome] = []
    for c in check_outcomes(instance, run.run_id):
        if c.check == FRESHNESS_CHECK:
            if c.passed:
                prefix = f"{FRESHNESS}:{c.asset}:"
                for incident in [i for i in open_incidents if i.startswith(prefix)]:
                    del open_incidents[incident]
                continue
            incident = f"{FRESHNESS}:{c.asset}:{c.expected_partition}"
            if incident not in open_incidents:
                open_incidents[incident] = time.time()
                stale.append(c)
        elif not c.passed and c.severity == "ERROR":
            failed_error.append(c)
    alerts = []
    if stale:
        alerts.append(
            Alert(
                incident=";".join(f"{FRESHNESS}:{c.asset}:{c.expected_partition}" for c in stale),
                kind=FRESHNESS,
                title=(
                    f"Stale gold: {', '.join(c.asset for c in stale)}"
                    if len(stale) <= 3
                    else f"Stale gold: {len(stale)} tables"
                ),
                lines=tuple(c.description for c in stale),
                url=_run_url(config, run.run_id),
            )
        )
    if failed_error:
        alerts.append(
            Alert(
                incident=f"checks:{run.run_id}",
                kind=CHECK_FAILURE,
                title=f"Failed checks in {run.job_name} {_partition_text(dict(run.tags))}".rstrip(),
                lines=tuple(
                    f"{c.label} ({c.severity}): {c.description}".rstrip(": ") for c in failed_error
                ),
                url=_run_url(config, run.run_id),
            )
        )
    return alerts


def _encode_check_cursor(after: int, open_incidents: dict[str, float]) -> str:
    newest = sorted(open_incidents.items(), key=lambda kv: kv[1])[-MAX_OPEN_INCIDENTS:]
    return json.dumps({"after": after, "open": dict(newest)})


def build_check_alert_sensor(settings: Settings, sinks: Sequence) -> dg.SensorDefinition:
    config = AlertConfig.from_settings(settings)

    @dg.sensor(
        name=CHECK_SENSOR,
        minimum_interval_seconds=settings.alert_sensor_interval_seconds,
        default_status=_status(settings),
        description=(
            "Alerts on failed ERROR checks in successful runs (failed runs are alerted by "
            f"{RUN_FAILURE_SENSOR}) and on stale gold tables (freshness), once per incident, "
            f"to: {', '.join(config.sink_names) or 'no sink'}."
        ),
    )
    def check_alerts(context: dg.SensorEvaluationContext):
        instance = context.instance
        state = json.loads(context.cursor) if context.cursor else None
        if state is None:
            latest = instance.fetch_run_status_changes(
                dg.DagsterEventType.RUN_SUCCESS, limit=1, ascending=False
            ).records
            after = latest[0].storage_id if latest else 0
            return dg.SensorResult(
                skip_reason="First tick: watching runs that succeed from now on.",
                cursor=_encode_check_cursor(after, {}),
            )
        after, open_incidents = state["after"], dict(state["open"])
        records = instance.fetch_run_status_changes(
            dg.RunStatusChangeRecordsFilter(
                event_type=dg.DagsterEventType.RUN_SUCCESS, after_storage_id=after
            ),
            limit=PAGE,
            ascending=True,
        ).records
        delivered = 0
        for record in records:
            run = instance.get_run_by_id(record.run_id)
            if run is not None:
                for alert in check_alerts_for_run(instance, run, open_incidents, config):
                    outcome = deliver(alert, sinks, config, context.log)
                    context.log.info(f"Alert {alert.incident}: {outcome}")
                    delivered += 1
            after = record.storage_id
        cursor = _encode_check_cursor(after, open_incidents)
        if not delivered:
            return dg.SensorResult(skip_reason="No new failed checks.", cursor=cursor)
        return dg.SensorResult(cursor=cursor)

    return check_alerts
