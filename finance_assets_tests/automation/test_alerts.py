"""Alert sinks against real receivers on loopback, and the sensors that deliver once per incident.

- webhook: a ``http.server`` on 127.0.0.1 that records each POST (and can fail on demand);
- email: an ``aiosmtpd`` SMTP server on 127.0.0.1;
- log: a JSON-lines file.
"""

import email
import json
import logging
import os
import threading
from email import policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import dagster as dg
import pytest
from aiosmtpd.controller import Controller

from finance_assets.automation.alerts import (
    Alert,
    AlertConfig,
    EmailSink,
    LogSink,
    WebhookSink,
    build_check_alert_sensor,
    build_run_failure_sensor,
    build_sinks,
    deliver,
    run_failure_alert,
)
from finance_assets.automation.freshness import EXPECTED_PARTITION, FRESHNESS_CHECK
from finance_assets.automation.tags import TRIGGER_TAG
from finance_assets.lake.partitions import RANGE_END_TAG, RANGE_START_TAG
from finance_assets.settings import ConfigError, Settings
from finance_assets_tests.support.s3_server import HOST, free_port

SECRET = "T000/B000/s3cr3t-token"
PASSWORD = "hunter2-very-secret"


# --- receivers ------------------------------------------------------------------------


class Webhook:
    """Records JSON bodies; answers with the queued statuses first, then 200."""

    def __init__(self):
        self.bodies: list[dict] = []
        self.headers: list[dict] = []
        self.statuses: list[int] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's naming
                length = int(self.headers["Content-Length"])
                body = self.rfile.read(length)
                status = receiver.statuses.pop(0) if receiver.statuses else 200
                if status == 200:
                    receiver.bodies.append(json.loads(body))
                    receiver.headers.append(dict(self.headers))
                self.send_response(status)
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer((HOST, free_port()), Handler)
        self.url = f"http://{HOST}:{self.server.server_port}/services/{SECRET}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


class Mailbox:
    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's naming
        self.messages.append(envelope)
        return "250 OK"

    def __init__(self):
        self.messages = []


@pytest.fixture
def webhook():
    with Webhook() as receiver:
        yield receiver


@pytest.fixture
def smtp():
    mailbox = Mailbox()
    controller = Controller(mailbox, hostname=HOST, port=free_port())
    controller.start()
    try:
        yield controller, mailbox
    finally:
        controller.stop()


@pytest.fixture(autouse=True)
def no_alert_settings_from_the_environment(monkeypatch):
    """Every alert setting of these tests is the test's own, whatever the shell exports."""
    for name in [n for n in os.environ if n.startswith("FINANCE_ALERT_")] + ["FINANCE_UI_URL"]:
        monkeypatch.delenv(name, raising=False)


def _config(tmp_path: Path, **overrides) -> AlertConfig:
    return AlertConfig(log_path=tmp_path / "alerts.log", **overrides)


def _settings(tmp_path: Path, **overrides) -> Settings:
    """Settings whose alerts go to ``<tmp_path>/alerts.log`` (and wherever ``overrides`` say)."""
    return Settings.load(
        landing_uri="landing",
        lake_uri=str(tmp_path / "lake"),
        alert_log=str(tmp_path / "alerts.log"),
        **overrides,
    )


ALERT = Alert(
    incident="run:abc",
    kind="run_failure",
    title="Run failed: daily_assets 2024-01-02",
    lines=("Run abc", "Failed step bronze__orders: boom"),
    url="http://127.0.0.1:3000/runs/abc",
)


def _no_sleep(_seconds):
    pass


# --- sinks ----------------------------------------------------------------------------


def test_log_sink_is_the_default_and_appends_json_lines(tmp_path):
    config = AlertConfig.from_settings(
        Settings.load(landing_uri="l", lake_uri=str(tmp_path / "lake"))
    )
    assert config.sink_names == ["log"]
    assert config.log_path == tmp_path / "alerts.log"
    sinks = build_sinks(config)
    assert deliver(ALERT, sinks, config) == {"log": "sent"}
    assert deliver(ALERT, sinks, config) == {"log": "sent"}
    lines = (tmp_path / "alerts.log").read_text().splitlines()
    assert len(lines) == 2
    record = json.loads(lines[0])
    assert record["incident"] == "run:abc" and record["title"] == ALERT.title
    assert record["time"].endswith("+00:00")


def test_webhook_sink_posts_slack_compatible_json(tmp_path, webhook):
    config = _config(tmp_path, webhook_url=webhook.url)
    assert deliver(ALERT, [WebhookSink(webhook.url, 5)], config) == {"webhook": "sent"}
    (body,) = webhook.bodies
    assert set(body) == {"text"}
    assert body["text"].startswith("[finance-assets] Run failed: daily_assets 2024-01-02")
    assert "Failed step bronze__orders: boom" in body["text"]
    assert ALERT.url in body["text"]
    assert webhook.headers[0]["Content-Type"] == "application/json"


def test_webhook_retries_server_errors_with_backoff_then_delivers_once(tmp_path, webhook):
    webhook.statuses = [503, 500]
    waits = []
    config = _config(tmp_path, webhook_url=webhook.url, attempts=3)
    outcome = deliver(ALERT, [WebhookSink(webhook.url, 5)], config, sleep=waits.append)
    assert outcome == {"webhook": "sent"}
    assert len(webhook.bodies) == 1
    assert len(waits) == 2 and waits[1] > waits[0]  # exponential


def test_webhook_failure_is_reported_without_the_secret_url(tmp_path, webhook, caplog):
    webhook.statuses = [404]
    config = _config(tmp_path, webhook_url=webhook.url)
    sinks = [WebhookSink(webhook.url, 5), LogSink(config.log_path)]
    with caplog.at_level(logging.DEBUG):
        outcome = deliver(ALERT, sinks, config, sleep=_no_sleep)
    assert outcome["webhook"].startswith("failed: WebhookError: webhook answered HTTP 404")
    assert outcome["log"] == "sent"  # one sink failing does not stop the others
    assert SECRET not in caplog.text and SECRET not in json.dumps(outcome)


def test_unreachable_webhook_is_retried_then_given_up(tmp_path, caplog):
    url = f"http://{HOST}:{free_port()}/services/{SECRET}"  # nothing listens there
    config = _config(tmp_path, webhook_url=url, attempts=2)
    with caplog.at_level(logging.WARNING):
        outcome = deliver(ALERT, [WebhookSink(url, 2)], config, sleep=_no_sleep)
    assert outcome["webhook"].startswith("failed: URLError")
    assert "attempt 1 of 2" in caplog.text
    assert SECRET not in caplog.text


def test_email_sink_sends_over_smtp(tmp_path, smtp):
    controller, mailbox = smtp
    config = _config(
        tmp_path,
        smtp_host=HOST,
        smtp_port=controller.port,
        smtp_from="pipeline@example.com",
        smtp_to=("oncall@example.com", "finance@example.com"),
    )
    assert deliver(ALERT, [EmailSink(config)], config) == {"email": "sent"}
    (envelope,) = mailbox.messages
    assert envelope.mail_from == "pipeline@example.com"
    assert envelope.rcpt_tos == ["oncall@example.com", "finance@example.com"]
    message = email.message_from_bytes(envelope.content, policy=policy.default)
    assert message["Subject"] == "[finance-assets] Run failed: daily_assets 2024-01-02"
    assert message["X-Finance-Incident"] == "run:abc"
    assert "Failed step bronze__orders: boom" in message.get_content()


def test_email_never_sends_a_password_in_clear_text(tmp_path, smtp, caplog):
    controller, mailbox = smtp
    config = _config(
        tmp_path,
        smtp_host=HOST,
        smtp_port=controller.port,
        smtp_to=("oncall@example.com",),
        smtp_user="alerts",
        smtp_password=PASSWORD,
    )
    with caplog.at_level(logging.DEBUG):
        outcome = deliver(ALERT, [EmailSink(config)], config, sleep=_no_sleep)
    assert "refusing to send the SMTP password" in outcome["email"]
    assert not mailbox.messages
    assert PASSWORD not in caplog.text and PASSWORD not in repr(config)


def test_all_three_sinks_from_the_environment(tmp_path, monkeypatch, webhook, smtp):
    controller, mailbox = smtp
    monkeypatch.setenv("FINANCE_ALERT_LOG", str(tmp_path / "ops" / "alerts.jsonl"))
    monkeypatch.setenv("FINANCE_ALERT_WEBHOOK_URL", webhook.url)
    monkeypatch.setenv("FINANCE_ALERT_SMTP_HOST", HOST)
    monkeypatch.setenv("FINANCE_ALERT_SMTP_PORT", str(controller.port))
    monkeypatch.setenv("FINANCE_ALERT_SMTP_TO", "oncall@example.com")
    settings = Settings.load(landing_uri="l", lake_uri="k")
    config = AlertConfig.from_settings(settings)
    assert config.sink_names == ["log", "webhook", "email"]
    assert SECRET not in repr(config) and SECRET not in repr(settings)
    assert deliver(ALERT, build_sinks(config), config) == {
        "log": "sent",
        "webhook": "sent",
        "email": "sent",
    }
    assert (tmp_path / "ops" / "alerts.jsonl").exists()
    assert len(webhook.bodies) == 1 and len(mailbox.messages) == 1


def test_smtp_host_without_recipients_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("FINANCE_ALERT_SMTP_HOST", "localhost")
    monkeypatch.setenv("FINANCE_ALERT_SMTP_PASSWORD", PASSWORD)
    with pytest.raises(ConfigError, match="FINANCE_ALERT_SMTP_TO") as raised:
        Settings.load(landing_uri="l", lake_uri="k")
    assert PASSWORD not in str(raised.value)


# --- sensors: once per incident -------------------------------------------------------


def _alerts(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_a_failed_run_alerts_once_with_its_steps_and_checks(tmp_path, webhook):
    settings = _settings(tmp_path, alert_webhook_url=webhook.url, ui_url="http://127.0.0.1:3000/")
    config = AlertConfig.from_settings(settings)
    sensor = build_run_failure_sensor(settings, build_sinks(config))
    daily = dg.DailyPartitionsDefinition(start_date="2024-01-01")

    @dg.asset(
        partitions_def=daily,
        check_specs=[dg.AssetCheckSpec("rows_reconcile", asset="table", blocking=True)],
    )
    def table():
        yield dg.MaterializeResult()
        yield dg.AssetCheckResult(passed=False, description="bronze 10 != silver 9 + 0")

    @dg.asset(partitions_def=daily, deps=[table])
    def downstream():
        return None

    defs = dg.Definitions(assets=[table, downstream])
    with dg.instance_for_test() as instance:
        result = defs.resolve_implicit_global_asset_job_def().execute_in_process(
            instance=instance,
            raise_on_error=False,
            partition_key="2024-01-02",
            tags={TRIGGER_TAG: "landing"},
        )
        assert not result.success  # a failed blocking check fails the run
        (failure,) = instance.fetch_run_status_changes(
            dg.DagsterEventType.RUN_FAILURE, limit=1
        ).records
        context = dg.build_run_status_sensor_context(
            sensor_name=sensor.name,
            dagster_instance=instance,
            dagster_run=result.dagster_run,
            dagster_event=failure.event_log_entry.dagster_event,
        ).for_run_failure()
        sensor(context)
    (record,) = _alerts(config.log_path)
    assert record["incident"] == f"run:{result.run_id}"
    assert record["kind"] == "run_failure"
    assert record["title"] == "Run failed: __ASSET_JOB 2024-01-02"
    # Exactly: who started it, the failed step, the failed check; nothing about other runs
    # (monthly gold follows by its automation condition, there is no chain to report).
    assert record["lines"] == [
        f"Run {result.run_id} (started by landing)",
        "Failed step table: table: rows_reconcile",
        "Failed check table:rows_reconcile (ERROR): bronze 10 != silver 9 + 0",
    ]
    assert record["url"] == f"http://127.0.0.1:3000/runs/{result.run_id}"
    (body,) = webhook.bodies
    assert body["text"].startswith("[finance-assets] Run failed: __ASSET_JOB 2024-01-02\n")


def test_a_failed_range_run_names_its_range(tmp_path):
    config = _config(tmp_path)
    run = dg.DagsterRun(
        job_name="daily_assets",
        run_id="range-run",
        tags={RANGE_START_TAG: "2024-01-02", RANGE_END_TAG: "2024-01-05", TRIGGER_TAG: "cli"},
    )
    with dg.instance_for_test() as instance:
        alert = run_failure_alert(instance, run, [], config, failure_message="Run was killed")
    assert alert.title == "Run failed: daily_assets 2024-01-02..2024-01-05"
    assert alert.lines == ("Run range-run (started by cli)", "Run was killed")
    assert alert.url is None  # no FINANCE_UI_URL, no link


def _check_defs() -> dg.Definitions:
    class Outcome(dg.Config):
        fresh: dict[str, bool]
        ok: bool

    specs = [dg.AssetCheckSpec(FRESHNESS_CHECK, asset=a) for a in ("daily_kpi", "summary")]
    specs.append(dg.AssetCheckSpec("revenue_ties", asset="daily_kpi"))

    @dg.multi_asset_check(specs=specs, name="checks")
    def checks(config: Outcome):
        for asset, passed in config.fresh.items():
            yield dg.AssetCheckResult(
                asset_key=asset,
                check_name=FRESHNESS_CHECK,
                passed=passed,
                severity=dg.AssetCheckSeverity.WARN,
                description=f"{asset} partition 2024-05-09 was due",
                metadata={EXPECTED_PARTITION: "2024-05-09"},
            )
        yield dg.AssetCheckResult(
            asset_key="daily_kpi",
            check_name="revenue_ties",
            passed=config.ok,
            severity=dg.AssetCheckSeverity.ERROR,
            description="revenue 10.00 != payments 11.00",
        )

    @dg.asset
    def daily_kpi():
        return None

    @dg.asset
    def summary():
        return None

    return dg.Definitions(
        assets=[daily_kpi, summary],
        asset_checks=[checks],
        jobs=[dg.define_asset_job("check_job", selection=dg.AssetSelection.all_asset_checks())],
    )


def test_failed_checks_and_stale_tables_alert_once_per_incident(tmp_path):
    settings = _settings(tmp_path)
    config = AlertConfig.from_settings(settings)
    assert config.sink_names == ["log"]
    sensor = build_check_alert_sensor(settings, build_sinks(config))
    defs = _check_defs()
    job = defs.resolve_job_def("check_job")
    cursor = None

    def tick():
        nonlocal cursor
        with dg.build_sensor_context(instance=instance, cursor=cursor) as context:
            result = sensor(context)
        cursor = result.cursor
        return result

    def run(fresh, ok=True):
        job.execute_in_process(
            instance=instance,
            run_config={"ops": {"checks": {"config": {"fresh": fresh, "ok": ok}}}},
        )

    with dg.instance_for_test() as instance:
        run({"daily_kpi": False, "summary": True}, ok=False)  # before the sensor ran: history
        tick()
        assert _alerts(config.log_path) == []

        run({"daily_kpi": False, "summary": True}, ok=False)
        tick()
        stale, failed = _alerts(config.log_path)
        assert stale["kind"] == "freshness"
        assert stale["incident"] == "freshness:daily_kpi:2024-05-09"
        assert stale["title"] == "Stale gold: daily_kpi"
        assert failed["kind"] == "check_failure"
        assert failed["lines"] == [
            "daily_kpi:revenue_ties (ERROR): revenue 10.00 != payments 11.00"
        ]

        # The next evaluations of the same missing partition: no new alert, on any tick.
        run({"daily_kpi": False, "summary": True})
        tick()
        tick()
        assert len(_alerts(config.log_path)) == 2

        # Fixed, then stale again: a new incident.
        run({"daily_kpi": True, "summary": True})
        tick()
        run({"daily_kpi": False, "summary": False})
        tick()
        alerts = _alerts(config.log_path)
        assert len(alerts) == 3
        assert alerts[-1]["incident"] == (
            "freshness:daily_kpi:2024-05-09;freshness:summary:2024-05-09"
        )
