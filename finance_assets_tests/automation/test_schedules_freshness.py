"""The daily schedule targets yesterday in the configured time zone; gold freshness checks."""

from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

import dagster as dg
import pytest

from finance_assets.automation.jobs import DAILY_JOB
from finance_assets.definitions import load_definitions
from finance_assets.gold.assets import (
    BUDGET_VS_ACTUAL,
    DAILY_KPI,
    FINANCIAL_SUMMARY,
    GOLD_KEYS,
    MONTHLY_FINANCIAL_REPORT,
    SALES_PERFORMANCE,
)
from finance_assets.ops.chains import CHAIN_TAG, decode_chain
from finance_assets.ops.config import OpsConfig, OpsConfigError
from finance_assets.automation.freshness import (
    FRESHNESS_CHECK,
    FRESHNESS_JOB,
    FRESHNESS_SCHEDULE,
    expected_partition,
)
from finance_assets.automation.schedules import DAILY_SCHEDULE
from finance_assets.settings import Settings

MONTHLY_GOLD = {FINANCIAL_SUMMARY, MONTHLY_FINANCIAL_REPORT, BUDGET_VS_ACTUAL}


def _defs(**overrides) -> dg.Definitions:
    return load_definitions(Settings(landing_uri="landing", lake_uri="lake", **overrides))


def _evaluate_schedule(defs: dg.Definitions, when: datetime, instance) -> object:
    schedule = defs.resolve_schedule_def(DAILY_SCHEDULE)
    context = dg.build_schedule_context(
        instance=instance, scheduled_execution_time=when, repository_def=defs.get_repository_def()
    )
    return schedule.evaluate_tick(context)


def test_daily_schedule_runs_yesterday_then_its_month(monkeypatch):
    monkeypatch.delenv("FINANCE_DAILY_SCHEDULE_CRON", raising=False)
    defs = _defs(timezone="Europe/Berlin", partitions_start=date(2024, 1, 1))
    schedule = defs.resolve_schedule_def(DAILY_SCHEDULE)
    assert schedule.cron_schedule == "0 2 * * *"
    assert schedule.execution_timezone == "Europe/Berlin"
    assert schedule.job_name == DAILY_JOB
    with dg.instance_for_test() as instance:
        # 01:00 UTC on Feb 1 is 02:00 in Berlin: yesterday there is Jan 31.
        when = datetime(2024, 2, 1, 2, 0, tzinfo=ZoneInfo("Europe/Berlin"))
        (request,) = _evaluate_schedule(defs, when, instance).run_requests
    assert request.partition_key == "2024-01-31"
    (monthly,) = decode_chain(request.tags[CHAIN_TAG])
    assert (monthly.start, monthly.end) == ("2024-01-01", "2024-01-01")
    assert set(monthly.asset_keys) >= MONTHLY_GOLD


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
    with pytest.raises(OpsConfigError, match="FINANCE_DAILY_SCHEDULE_CRON"):
        _defs()


def _config(**overrides) -> OpsConfig:
    return OpsConfig(**overrides)


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
    config = _config(timezone="America/New_York", freshness_daily_deadline=time(6, 0))
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


def test_freshness_job_and_schedule_evaluate_only_the_freshness_checks(monkeypatch):
    monkeypatch.setenv("FINANCE_FRESHNESS_DEADLINE", "07:15")
    monkeypatch.setenv("FINANCE_FRESHNESS_MONTHLY_DEADLINE", "3 09:00")
    defs = _defs(timezone="Europe/Paris")
    job = defs.resolve_job_def(FRESHNESS_JOB)
    assert not job.asset_layer.selected_asset_keys
    selected = job.asset_layer.asset_graph.asset_check_keys
    assert {dg.AssetCheckKey(k, FRESHNESS_CHECK) for k in GOLD_KEYS} <= set(selected)
    schedule = defs.resolve_schedule_def(FRESHNESS_SCHEDULE)
    assert list(schedule.cron_schedule) == ["15 7 * * *", "0 9 3 * *"]
    assert schedule.execution_timezone == "Europe/Paris"


def test_freshness_checks_pass_only_where_the_expected_partition_exists(monkeypatch):
    # A midnight deadline: at any time of day, yesterday's partition is due.
    monkeypatch.setenv("FINANCE_FRESHNESS_DEADLINE", "00:00")
    monkeypatch.setenv("FINANCE_FRESHNESS_MONTHLY_DEADLINE", "1 00:00")
    today = datetime.now(timezone.utc).date()
    yesterday = (today - timedelta(days=1)).isoformat()
    defs = _defs(partitions_start=today - timedelta(days=70))
    with dg.instance_for_test() as instance:
        instance.report_runless_asset_event(
            dg.AssetMaterialization(asset_key=DAILY_KPI, partition=yesterday)
        )
        # The day before yesterday is not enough for sales_performance.
        instance.report_runless_asset_event(
            dg.AssetMaterialization(
                asset_key=SALES_PERFORMANCE,
                partition=(today - timedelta(days=2)).isoformat(),
            )
        )
        result = defs.resolve_job_def(FRESHNESS_JOB).execute_in_process(instance=instance)
    assert result.success  # freshness never fails the run; it fails the checks
    outcome = {e.asset_key: e for e in result.get_asset_check_evaluations()}
    assert set(outcome) == set(GOLD_KEYS)
    assert outcome[DAILY_KPI].passed
    stale = outcome[SALES_PERFORMANCE]
    assert not stale.passed
    assert stale.severity == dg.AssetCheckSeverity.WARN
    assert stale.metadata["expected_partition"].value == yesterday
    last_month = (today.replace(day=1) - timedelta(days=1)).replace(day=1).isoformat()
    assert outcome[FINANCIAL_SUMMARY].metadata["expected_partition"].value == last_month


def test_freshness_severity_is_configurable(monkeypatch):
    monkeypatch.setenv("FINANCE_FRESHNESS_SEVERITY", "error")
    assert OpsConfig.from_env(Settings(landing_uri="l", lake_uri="k")).freshness_severity == "ERROR"
    monkeypatch.setenv("FINANCE_FRESHNESS_SEVERITY", "fatal")
    with pytest.raises(OpsConfigError, match="FINANCE_FRESHNESS_SEVERITY"):
        OpsConfig.from_env(Settings(landing_uri="l", lake_uri="k"))


def test_materialization_jobs_never_evaluate_freshness():
    """Freshness is judged at the deadline, not by the run that is making the data."""
    defs = _defs()
    for job_name in (DAILY_JOB, "monthly_assets"):
        job = defs.resolve_job_def(job_name)
        selected = job.asset_layer.asset_graph.asset_check_keys
        assert not {k for k in selected if k.name == FRESHNESS_CHECK}, job_name
