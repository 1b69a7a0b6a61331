"""The jobs: every daily asset of a day range, and every monthly asset of a month range.

Dagster runs one partitions definition per run, so materializing days and their months is two
runs: ``daily_assets`` first, then ``monthly_assets``.
"""

from __future__ import annotations

import dagster as dg

from finance_assets.contract import DATASETS
from finance_assets.gold.tables import gold_tables
from finance_assets.lake import tables

DAILY_JOB = "daily_assets"
MONTHLY_JOB = "monthly_assets"


def cadence_keys(cadence: str) -> list[dg.AssetKey]:
    """Bronze, silver, quarantine and gold asset keys of one cadence."""
    keys = []
    for dataset in DATASETS.values():
        if dataset.cadence == cadence:
            keys += [
                tables.bronze(dataset).key,
                tables.silver(dataset).key,
                tables.quarantine(dataset).key,
            ]
    if cadence == "daily":
        keys.append(tables.PAYMENT_ORDERS.key)
    return keys + [t.table.key for t in gold_tables() if t.cadence == cadence]


def build_jobs(not_in_runs: dg.AssetSelection) -> list[dg.UnresolvedAssetJobDefinition]:
    """``not_in_runs``: checks evaluated on their own schedule (freshness), not by these jobs."""
    return [
        dg.define_asset_job(
            DAILY_JOB,
            selection=dg.AssetSelection.assets(*cadence_keys("daily")) - not_in_runs,
            description="Bronze, silver and gold for daily data, with their checks.",
        ),
        dg.define_asset_job(
            MONTHLY_JOB,
            selection=dg.AssetSelection.assets(*cadence_keys("monthly")) - not_in_runs,
            description="Budgets and the monthly gold tables, with their checks.",
        ),
    ]
