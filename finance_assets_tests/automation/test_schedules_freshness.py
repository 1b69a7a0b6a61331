"""The daily schedule targets yesterday in the configured time zone; gold freshness checks."""

import os
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

import dagster as dg
import pytest

from finance_assets.automation.conditions import AUTOMATION_SENSOR
from finance_assets.automation.freshness import (
    FRESHNESS_CHECK,
    FRESHNESS_JOB,
    FRESHNESS_SCHEDULE,
    expected_partition,
)
from finance_assets.automation.jobs import DAILY_JOB, MONTHLY_JOB
from finance_assets.automation.schedules import DAILY_SCHEDULE
from finance_assets.automation.tags import TRIGGER_TAG
from finance_assets.definitions import load_definitions
from finance_assets.gold.tables import (
    BUDGET_VS_ACTUAL,
    DAILY_KPI,
    FINANCIAL_SUMMARY,
    SALES_PERFORMANCE,
    gold_tables,
)
from finance_assets.lake.tables import DASHBOARD
from finance_assets.settings import ConfigError, Settings

GOLD_KEYS = {t.table.key for t in gold_tables()}
MONTHLY_GOLD = {t.table.key for t in gold_tables() if t.cadence == "monthly"}


@pytest.fixture(autouse=True)
def only_the_tests_own_settings(monkeypatch):
    """Settings come from the environment: none the shell exports takes part in these tests."""
    for name in [n for n in os.environ if n.startswith("FINANCE_")]:
        monkeypatch.delenv(name)


def _defs(**overrides) -> dg.Definitions:
    return load_definitions(Settings.load(landing_uri="landing", lake_uri="lake", **overrides))


def _evaluate_schedule(defs: dg.Definitions, when: datetime, instance) -> object:
    schedule = defs.resolve_schedule_def(DAILY_SCHEDULE)
    context = dg.build_schedule_context(
        instance=instance, scheduled_execution_time=when, repository_def=defs.get_repository_def()
    )
    return schedule.evaluate_tick(context)


def _automation_requests(defs: dg.Definitions, instance, cursor=None):
    """One tick of the automation conditions: requested (asset key, partition) pairs, cursor."""
    result = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=cursor)
    requested = set()
    for asset_result in result.results:
        subset = asset_result.true_subset
        if subset.is_partitioned:
            keys = subset.expensively_compute_partition_keys()
            requested |= {(asset_result.key, key) for key in keys}
        elif subset.size:
            requested.add((asset_result.key, None))
    return requested, result.cursor


def test_daily_schedule_runs_yesterday_and_its_month_follows():
    defs = _defs(
        timezone="Europe/Berlin",
        partitions_start=date(2024, 1, 1),
        partitions_end=date(2024, 6, 30),
    )
    schedule = defs.resolve_schedule_def(DAILY_SCHEDULE)
    assert schedule.cron_schedule == "0 2 * * *"
    assert schedule.execution_timezone == "Europe/Berlin"
    assert schedule.job_name == DAILY_JOB
    # The daily job makes no monthly table: those are the automation sensor's.
    daily_job = defs.resolve_job_def(DAILY_JOB)
    assert not MONTHLY_GOLD & daily_job.asset_layer.selected_asset_keys
    assert defs.resolve_sensor_def(AUTOMATION_SENSOR)
    with dg.instance_for_test() as instance:
        first, cursor = _automation_requests(defs, instance)
        assert not first  # nothing was updated yet
        # 01:00 UTC on Feb 1 is 02:00 in Berlin: yesterday there is Jan 31.
        when = datetime(2024, 2, 1, 2, 0, tzinfo=ZoneInfo("Europe/Berlin"))
        (request,) = _evaluate_schedule(defs, when, instance).run_requests
        assert request.partition_key == "2024-01-31"
        assert request.run_key == "schedule:2024-01-31"
        # One run, nothing chained to it: no tag of ours but who started it.
        ours = {k: v for k, v in request.tags.items() if not k.startswith("dagster/")}
        assert ours == {TRIGGER_TAG: "schedule"}
        assert request.asset_selection is None  # the whole daily job

        # Stand in for that run: its materializations are what the monthly tables react to.
        for key in daily_job.asset_layer.selected_asset_keys:
            instance.report_runless_asset_event(
                dg.AssetMaterialization(asset_key=key, partition=request.partition_key)
            )
        requested, cursor = _automation_requests(defs, instance, cursor)
        # On the 1st, the month that just ended is completed, and the dashboard redrawn.
        assert {(key, "2024-01-01") for key in MONTHLY_GOLD} <= requested
        assert (DASHBOARD.key, None) in requested
        # Only monthly tables and the dashboard follow: the days were the schedule's run.
        assert {key for key, _ in requested} <= MONTHLY_GOLD | {DASHBOARD.key}
        # A table that reads only its own month's days is not redone for other months.
        budgets = {p for key, p in requested if key == BUDGET_VS_ACTUAL.table.key}
        assert budgets == {"2024-01-01"}
        assert not _automation_requests(defs, instance, cursor)[0]  # handled once


def test_schedule_time_zone_decides_what_yesterday_is(monkeypatch):
    monkeypatch.setenv("FINANCE_DAILY_SCHEDULE_CRON", "30 5 * * *")
    defs = _defs(timezone="Pacific/Auckland", partitions_start=date(2024, 1, 1))
    assert defs.resolve_schedule_def(DAILY_SCHEDULE).cron_schedule == "30 5 * * *"
    # 2024-03-09 17:30 UTC is already 2024-03-10 06:30 in Auckland.
    when = datetime(2024, 3, 9, 17, 30, tzinfo=timezone.utc)
    with dg.instance_for_test() as instance:
        (request,) = _evaluate_schedule(defs, when, instance).run_requests
    assert request.partition_key == "2024-03-09"


def test_schedule_skips_days_outside_the_partitions():
    defs = _defs(partitions_start=date(2024, 1, 1), partitions_end=date(2024, 1, 31))
    with dg.instance_for_test() as instance:
        result = _evaluate_schedule(defs, datetime(2024, 3, 1, 2, tzinfo=timezone.utc), instance)
    assert not result.run_requests
    assert "not a partition" in result.skip_message


def test_bad_cron_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("FINANCE_DAILY_SCHEDULE_CRON", "at two")
    message = "FINANCE_DAILY_SCHEDULE_CRON='at two': expected a 5-field cron string"
    with pytest.raises(ConfigError, match=message):
        _defs()
    # The code location the UI loads reads the environment itself: the same one line,
    # not the loader's wrapper around it.
    with pytest.raises(ConfigError, match=message):
        load_definitions()


def _config(**overrides) -> Settings:
    return Settings.load(landing_uri="landing", lake_uri="lake", **overrides)


def _daily():
    return dg.DailyPartitionsDefinition(start_date="2024-01-01")


def _monthly():
    return dg.MonthlyPartitionsDefinition(start_date="2024-01-01")


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        (datetime(2024, 5, 10, 5, 59, tzinfo=timezone.utc), "2024-05-08"),  # before 06:00
        (datetime(2024, 5, 10, 6, 0, tzinfo=timezone.utc), "2024-05-09"),  # deadline passed
        (datetime(2024, 5, 10, 23, 0, tzinfo=timezone.utc), "2024-05-09"),
    ],
)
def test_daily_tables_expect_yesterday_after_the_deadline(now, expected):
    assert expected_partition(_daily(), False, now, _config()).partition_key == expected


def test_deadline_is_in_the_configured_time_zone():
    config = _config(timezone="America/New_York", freshness_deadline=time(6, 0))
    # 10:30 UTC is 05:30 in New York (EST): that day's 06:00 deadline has not passed there.
    now = datetime(2024, 1, 10, 10, 30, tzinfo=timezone.utc)
    daily = dg.DailyPartitionsDefinition(start_date="2024-01-01", timezone="America/New_York")
    assert expected_partition(daily, False, now, config).partition_key == "2024-01-08"
    later = now + timedelta(hours=1)
    assert expected_partition(daily, False, later, config).partition_key == "2024-01-09"


def test_monthly_tables_expect_last_month_after_the_monthly_deadline():
    config = _config(freshness_monthly_deadline=(2, time(9, 0)))
    before = datetime(2024, 5, 2, 8, 59, tzinfo=timezone.utc)
    after = datetime(2024, 5, 2, 9, 0, tzinfo=timezone.utc)
    assert expected_partition(_monthly(), True, before, config).partition_key == "2024-03-01"
    assert expected_partition(_monthly(), True, after, config).partition_key == "2024-04-01"


def test_nothing_is_due_after_a_fixed_end_or_before_the_start():
    ended = dg.DailyPartitionsDefinition(start_date="2024-01-01", end_date="2024-02-01")
    now = datetime(2026, 1, 1, 12, tzinfo=timezone.utc)
    closed = expected_partition(ended, False, now, _config())
    assert closed.partition_key is None
    assert closed.reason == "Nothing is due: the partitions end at 2024-01-31."
    future = dg.DailyPartitionsDefinition(start_date="2030-01-01")
    assert expected_partition(future, False, now, _config()).partition_key is None
    # An end in the future does not matter.
    capped = dg.DailyPartitionsDefinition(start_date="2024-01-01", end_date="2030-01-01")
    assert expected_partition(capped, False, now, _config()).partition_key == "2025-12-31"


def test_freshness_job_and_schedule_evaluate_only_the_freshness_checks():
    defs = _defs(
        timezone="Europe/Paris", freshness_deadline="07:15", freshness_monthly_deadline="3 09:00"
    )
    job = defs.resolve_job_def(FRESHNESS_JOB)
    assert not job.asset_layer.selected_asset_keys
    selected = job.asset_layer.asset_graph.asset_check_keys
    assert {dg.AssetCheckKey(k, FRESHNESS_CHECK) for k in GOLD_KEYS} <= set(selected)
    schedule = defs.resolve_schedule_def(FRESHNESS_SCHEDULE)
    assert list(schedule.cron_schedule) == ["15 7 * * *", "0 9 3 * *"]
    assert schedule.execution_timezone == "Europe/Paris"


def test_freshness_checks_pass_only_where_the_expected_partition_exists():
    today = datetime.now(timezone.utc).date()
    yesterday = (today - timedelta(days=1)).isoformat()
    # A midnight deadline: at any time of day, yesterday's partition is due.
    defs = _defs(
        partitions_start=today - timedelta(days=70),
        freshness_deadline="00:00",
        freshness_monthly_deadline="1 00:00",
    )
    with dg.instance_for_test() as instance:
        instance.report_runless_asset_event(
            dg.AssetMaterialization(asset_key=DAILY_KPI.table.key, partition=yesterday)
        )
        # The day before yesterday is not enough for sales_performance.
        instance.report_runless_asset_event(
            dg.AssetMaterialization(
                asset_key=SALES_PERFORMANCE.table.key,
                partition=(today - timedelta(days=2)).isoformat(),
            )
        )
        result = defs.resolve_job_def(FRESHNESS_JOB).execute_in_process(instance=instance)
    assert result.success  # freshness never fails the run; it fails the checks
    outcome = {e.asset_key: e for e in result.get_asset_check_evaluations()}
    assert set(outcome) == GOLD_KEYS
    assert outcome[DAILY_KPI.table.key].passed
    stale = outcome[SALES_PERFORMANCE.table.key]
    assert not stale.passed
    assert stale.severity == dg.AssetCheckSeverity.WARN
    assert stale.metadata["expected_partition"].value == yesterday
    last_month = (today.replace(day=1) - timedelta(days=1)).replace(day=1).isoformat()
    summary = outcome[FINANCIAL_SUMMARY.table.key]
    assert summary.metadata["expected_partition"].value == last_month


def test_freshness_severity_is_configurable(monkeypatch):
    monkeypatch.setenv("FINANCE_FRESHNESS_SEVERITY", "error")
    assert _config().freshness_severity == "ERROR"
    # ... and it is the severity the stale tables fail with.
    defs = _defs(partitions_start=datetime.now(timezone.utc).date() - timedelta(days=70))
    with dg.instance_for_test() as instance:
        result = defs.resolve_job_def(FRESHNESS_JOB).execute_in_process(instance=instance)
    assert result.success  # ERROR, not blocking: the checks fail, not the run
    evaluations = result.get_asset_check_evaluations()
    assert {e.asset_key for e in evaluations} == GOLD_KEYS
    assert {(e.passed, e.severity) for e in evaluations} == {(False, dg.AssetCheckSeverity.ERROR)}
    monkeypatch.setenv("FINANCE_FRESHNESS_SEVERITY", "fatal")
    with pytest.raises(ConfigError, match="(?i)FINANCE_FRESHNESS_SEVERITY='fatal'"):
        _config()


def test_materialization_jobs_never_evaluate_freshness():
    """Freshness is judged at the deadline, not by the run that is making the data."""
    defs = _defs()
    for job_name in (DAILY_JOB, MONTHLY_JOB):
        job = defs.resolve_job_def(job_name)
        selected = job.asset_layer.asset_graph.asset_check_keys
        assert not {k for k in selected if k.name == FRESHNESS_CHECK}, job_name
