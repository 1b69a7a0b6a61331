"""The Dagster code location: every asset, check, job and resource of finance-assets."""

from __future__ import annotations

import dagster as dg

from finance_assets.analytics import build_analytics
from finance_assets.bronze.assets import bronze_key, build_bronze
from finance_assets.checks import build_checks
from finance_assets.datasets import DATASETS
from finance_assets.gold.assets import (
    BUDGET_VS_ACTUAL,
    CUSTOMER_360,
    DAILY_KPI,
    FINANCIAL_SUMMARY,
    MONTHLY_FINANCIAL_REPORT,
    SALES_PERFORMANCE,
    UNMATCHED_PAYMENTS,
    build_gold,
)
from finance_assets.ops import build_operations
from finance_assets.partitions import build_partitioning
from finance_assets.resources import build_resources
from finance_assets.sensors import late_payments_sensor
from finance_assets.settings import Settings
from finance_assets.silver.assets import build_silver, quarantine_key, silver_key

DAILY_JOB = "daily_assets"
MONTHLY_JOB = "monthly_assets"


def _dataset_keys(monthly: bool) -> list[dg.AssetKey]:
    keys = []
    for dataset in DATASETS.values():
        if dataset.is_monthly == monthly:
            keys += [bronze_key(dataset), silver_key(dataset), quarantine_key(dataset)]
    return keys


DAILY_KEYS = [
    *_dataset_keys(monthly=False),
    DAILY_KPI,
    SALES_PERFORMANCE,
    UNMATCHED_PAYMENTS,
    CUSTOMER_360,
]
MONTHLY_KEYS = [
    *_dataset_keys(monthly=True),
    FINANCIAL_SUMMARY,
    MONTHLY_FINANCIAL_REPORT,
    BUDGET_VS_ACTUAL,
]


def build_definitions(settings: Settings) -> dg.Definitions:
    """All definitions for one deployment's settings."""
    partitions = build_partitioning(settings)
    assets = [*build_bronze(partitions), *build_silver(partitions), *build_gold(partitions)]
    operations = build_operations(partitions, settings)
    # Freshness is judged on its own schedule by the operations sensors, not inside a run.
    not_in_runs = dg.AssetSelection.checks(*operations.asset_checks)
    jobs = [
        dg.define_asset_job(
            DAILY_JOB,
            selection=dg.AssetSelection.assets(*DAILY_KEYS) - not_in_runs,
            description="Bronze, silver and gold for daily data, with their checks.",
        ),
        dg.define_asset_job(
            MONTHLY_JOB,
            selection=dg.AssetSelection.assets(*MONTHLY_KEYS) - not_in_runs,
            description="Budgets and the monthly gold tables, with their checks.",
        ),
    ]
    return dg.Definitions(
        assets=[*assets, *build_analytics(partitions, settings)],
        asset_checks=[*build_checks(partitions, settings), *operations.asset_checks],
        jobs=[*jobs, *operations.jobs],
        schedules=operations.schedules,
        sensors=[late_payments_sensor, *operations.sensors],
        resources=build_resources(settings),
        # One process per run: every step shares the run's single Spark session.
        executor=dg.in_process_executor,
    )


defs = build_definitions(Settings.from_env())
