"""Settings from the environment: a bad value is one line naming the variable and the value;
a secret's value is never part of it."""

import os
from datetime import time

import pytest

from finance_assets.settings import ConfigError, Settings

PASSWORD = "hunter2-very-secret"
TOKEN = "T000/B000/s3cr3t-token"


@pytest.fixture(autouse=True)
def only_the_tests_own_settings(monkeypatch):
    """Nothing the shell exports (an SMTP host, a cron...) takes part in these tests."""
    for name in [n for n in os.environ if n.startswith("FINANCE_")]:
        monkeypatch.delenv(name)


def _error(monkeypatch, **environment: str) -> str:
    """The message of the ConfigError that ``Settings.load()`` raises in this environment."""
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as raised:
        Settings.load()
    message = str(raised.value)
    assert "\n" not in message, message  # one line, no traceback or pydantic dump
    return message


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        ("FINANCE_SPARK_SHUFFLE_PARTITIONS", "abc", "integer"),
        ("FINANCE_SPARK_SHUFFLE_PARTITIONS", "0", "greater than or equal to 1"),
        ("FINANCE_PARTITIONS_START", "2024-1-1", "expected a date YYYY-MM-DD"),
        ("FINANCE_PARTITIONS_START", "2024-02-30", "expected a real calendar date"),
        ("FINANCE_FRESHNESS_DEADLINE", "25:00", "expected a time of day HH:MM"),
        ("FINANCE_FRESHNESS_SEVERITY", "LOUD", "'WARN' or 'ERROR'"),
        ("FINANCE_DAILY_SCHEDULE_CRON", "every day at 2", "expected a 5-field cron string"),
        ("FINANCE_DAILY_SCHEDULE_CRON", "0 2 * *", "expected a 5-field cron string"),
        ("FINANCE_TIMEZONE", "Mars/Olympus", "expected an IANA time zone"),
    ],
)
def test_a_bad_value_names_the_variable_the_value_and_what_is_expected(
    monkeypatch, variable, value, expected
):
    message = _error(monkeypatch, **{variable: value})
    assert message.startswith(f"{variable}={value!r}: "), message
    assert expected in message


def test_every_bad_value_is_named_at_once(monkeypatch):
    message = _error(
        monkeypatch, FINANCE_SPARK_SHUFFLE_PARTITIONS="abc", FINANCE_FRESHNESS_DEADLINE="25:00"
    )
    assert "FINANCE_SPARK_SHUFFLE_PARTITIONS='abc'" in message
    assert "FINANCE_FRESHNESS_DEADLINE='25:00'" in message


def test_good_values_are_parsed(monkeypatch):
    monkeypatch.setenv("FINANCE_SPARK_SHUFFLE_PARTITIONS", "8")
    monkeypatch.setenv("FINANCE_FRESHNESS_DEADLINE", "7:15")
    monkeypatch.setenv("FINANCE_FRESHNESS_SEVERITY", "error")
    monkeypatch.setenv("FINANCE_DAILY_SCHEDULE_CRON", "30 5 * * 1-5")
    settings = Settings.load()
    assert settings.spark_shuffle_partitions == 8
    assert settings.freshness_deadline == time(7, 15)
    assert settings.freshness_severity == "ERROR"
    assert settings.daily_schedule_cron == "30 5 * * 1-5"


def test_the_monthly_deadline_is_read_from_the_environment(monkeypatch):
    monkeypatch.setenv("FINANCE_FRESHNESS_MONTHLY_DEADLINE", "3 09:00")
    assert Settings.load().freshness_monthly_deadline == (3, time(9, 0))
    monkeypatch.setenv("FINANCE_FRESHNESS_MONTHLY_DEADLINE", "31 09:00")
    message = _error(monkeypatch)
    assert message.startswith("FINANCE_FRESHNESS_MONTHLY_DEADLINE='31 09:00': expected")


# --- secrets ----------------------------------------------------------------------------


def test_the_smtp_password_is_never_in_an_error(monkeypatch):
    monkeypatch.setenv("FINANCE_ALERT_SMTP_PASSWORD", PASSWORD)
    # Beside a bad value of its own sink...
    message = _error(monkeypatch, FINANCE_ALERT_SMTP_PORT="smtp")
    assert message.startswith("FINANCE_ALERT_SMTP_PORT='smtp': ")
    assert PASSWORD not in message
    # ... in a rule about the sink's settings...
    monkeypatch.delenv("FINANCE_ALERT_SMTP_PORT")
    message = _error(monkeypatch, FINANCE_ALERT_SMTP_HOST="mail.example.com")
    assert "FINANCE_ALERT_SMTP_TO" in message and PASSWORD not in message
    # ... and when the password itself is what is wrong.
    monkeypatch.delenv("FINANCE_ALERT_SMTP_HOST")
    with pytest.raises(ConfigError, match="FINANCE_ALERT_SMTP_PASSWORD") as raised:
        Settings.load(alert_smtp_password=12345678)
    assert "12345678" not in str(raised.value)


@pytest.mark.parametrize("url", [f"ftp://hooks.example.com/{TOKEN}", f"hooks.slack.com/{TOKEN}"])
def test_a_webhook_url_that_is_not_http_is_named_without_its_token(monkeypatch, url):
    message = _error(monkeypatch, FINANCE_ALERT_WEBHOOK_URL=url)
    assert message.startswith("FINANCE_ALERT_WEBHOOK_URL")
    assert "http" in message
    assert TOKEN not in message and url not in message


def test_a_good_secret_is_not_shown_by_the_settings(monkeypatch):
    monkeypatch.setenv("FINANCE_ALERT_SMTP_PASSWORD", PASSWORD)
    monkeypatch.setenv("FINANCE_ALERT_WEBHOOK_URL", f"https://hooks.example.com/{TOKEN}")
    settings = Settings.load()
    assert PASSWORD not in repr(settings) and TOKEN not in repr(settings)
    assert settings.secret("alert_smtp_password") == PASSWORD  # handed only to the sink


def test_a_secret_given_by_its_variable_name_is_not_echoed():
    with pytest.raises(ConfigError, match="FINANCE_ALERT_SMTP_PASSWORD") as raised:
        Settings.load(FINANCE_ALERT_SMTP_PASSWORD=12345678)
    assert "12345678" not in str(raised.value)
