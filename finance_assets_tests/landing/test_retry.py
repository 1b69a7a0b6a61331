"""Transient landing-zone errors are retried with exponential backoff; real errors are not."""

import errno
from datetime import date

import dagster as dg
import pytest

from finance_assets.automation.landing_sensor import LANDING_SENSOR
from finance_assets.contract import DATASETS
from finance_assets.definitions import load_definitions
from finance_assets.lake import tables
from finance_assets.landing.resource import LandingResource
from finance_assets.landing.retry import backoff_delays, is_transient, with_retries
from finance_assets.settings import Settings


class Flaky:
    """Fails with ``error`` the first ``failures`` calls, then returns ``"ok"``."""

    def __init__(self, failures: int, error: Exception):
        self.failures, self.error, self.calls = failures, error, 0

    def __call__(self):
        self.calls += 1
        if self.calls <= self.failures:
            raise self.error
        return "ok"


@pytest.mark.parametrize(
    "error",
    [
        OSError(errno.EIO, "Input/output error"),
        OSError(errno.ESTALE, "Stale file handle"),
        TimeoutError("timed out"),
        ConnectionResetError("reset by peer"),
    ],
)
def test_transient_errors_are_retried_with_growing_waits(error):
    waits = []
    flaky = Flaky(2, error)
    assert with_retries(flaky, attempts=4, base_delay=1.0, sleep=waits.append) == "ok"
    assert flaky.calls == 3
    assert len(waits) == 2 and 0.8 <= waits[0] <= 1.2 and 1.6 <= waits[1] <= 2.4


@pytest.mark.parametrize(
    "error",
    [FileNotFoundError("no such folder"), PermissionError("denied"), ValueError("a bug")],
)
def test_real_errors_are_raised_at_once(error):
    flaky = Flaky(1, error)
    with pytest.raises(type(error)):
        with_retries(flaky, attempts=4, sleep=lambda _: None)
    assert flaky.calls == 1
    assert not is_transient(error)


def test_gives_up_after_the_last_attempt():
    flaky = Flaky(10, TimeoutError("still down"))
    with pytest.raises(TimeoutError, match="still down"):
        with_retries(flaky, attempts=3, sleep=lambda _: None)
    assert flaky.calls == 3


def test_backoff_is_exponential_and_capped():
    delays = backoff_delays(6, base_delay=1.0, max_delay=5.0, jitter=0.0)
    assert delays == [1.0, 2.0, 4.0, 5.0, 5.0]


def test_the_landing_sensor_rides_out_a_transient_listing_error(tmp_path, monkeypatch):
    landing = tmp_path / "landing"
    (landing / "orders" / "2024-01-02").mkdir(parents=True)
    (landing / "orders" / "2024-01-02" / "a.csv").write_text("order_id\n1\n")
    monkeypatch.setattr("finance_assets.landing.retry.time.sleep", lambda _: None)
    real = LandingResource.list_files
    flaky = Flaky(2, OSError(errno.EIO, "NFS hiccup"))

    def list_files(self, dataset, start, end):
        if dataset == "orders":
            flaky()
        return real(self, dataset, start, end)

    monkeypatch.setattr(LandingResource, "list_files", list_files)
    defs = load_definitions(
        Settings(
            landing_uri=str(landing),
            lake_uri=str(tmp_path / "lake"),
            partitions_start=date(2024, 1, 1),
            partitions_end=date(2024, 1, 31),
        )
    )
    with (
        dg.instance_for_test() as instance,
        dg.build_sensor_context(
            instance=instance,
            definitions=defs,
            resources={"landing": LandingResource(uri=str(landing))},
        ) as context,
    ):
        result = defs.resolve_sensor_def(LANDING_SENSOR)(context)
    assert flaky.calls == 3
    assert "recorded 1 existing drop folder" in result.skip_reason.skip_message


def test_bronze_steps_retry_with_exponential_backoff():
    """Bronze reads the landing zone: a step that still fails is retried by Dagster."""
    defs = load_definitions(Settings(landing_uri="landing", lake_uri="lake"))
    for dataset in DATASETS.values():
        policy = defs.get_assets_def(tables.bronze(dataset).key).op.retry_policy
        assert policy is not None, f"bronze/{dataset.name} has no RetryPolicy"
        assert policy.max_retries >= 3
        assert policy.backoff == dg.Backoff.EXPONENTIAL
