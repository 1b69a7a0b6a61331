"""Partitions: daily for daily data, monthly for budgets and monthly gold tables."""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import dagster as dg

from finance_assets.contract import Cadence
from finance_assets.lake.delta import PartitionRange
from finance_assets.settings import Settings, current_settings

RANGE_START_TAG = "dagster/asset_partition_range_start"
RANGE_END_TAG = "dagster/asset_partition_range_end"
PARTITION_TAG = "dagster/partition"


@dataclass(frozen=True)
class Partitioning:
    """The two partitions definitions of one deployment."""

    daily: dg.DailyPartitionsDefinition
    monthly: dg.MonthlyPartitionsDefinition

    def of(self, cadence: Cadence) -> dg.TimeWindowPartitionsDefinition:
        return self.monthly if cadence == "monthly" else self.daily


def build_partitioning(settings: Settings) -> Partitioning:
    return _partitioning(settings.partitions_start, settings.partitions_end, settings.timezone)


@functools.cache
def _partitioning(start: date, end: date | None, timezone: str) -> Partitioning:
    daily_end = (end + timedelta(days=1)).isoformat() if end else None
    month_end = next_month(end).isoformat() if end else None
    return Partitioning(
        daily=dg.DailyPartitionsDefinition(
            start_date=start.isoformat(),
            end_date=daily_end,
            timezone=timezone,
            end_offset=0 if end else 1,
        ),
        monthly=dg.MonthlyPartitionsDefinition(
            start_date=start.replace(day=1).isoformat(),
            end_date=month_end,
            timezone=timezone,
            end_offset=0 if end else 1,
        ),
    )


def current_partitioning() -> Partitioning:
    """The partitions of the settings definitions are being built for."""
    return build_partitioning(current_settings())


def next_day(day: date) -> date:
    return day + timedelta(days=1)


def next_month(day: date) -> date:
    return (day.replace(day=1) + timedelta(days=32)).replace(day=1)


def month_of(day: date) -> date:
    return day.replace(day=1)


def materialized_range(context: dg.AssetExecutionContext, column: str) -> PartitionRange:
    """The inclusive range of dates covered by the partitions of this run (``monthly`` for a
    monthly asset, whose partition values are the first days of months)."""
    window = context.partition_time_window
    return PartitionRange(
        column,
        _to_date(window.start),
        _to_date(window.end) - timedelta(days=1),
        monthly=isinstance(context.assets_def.partitions_def, dg.MonthlyPartitionsDefinition),
    )


def _to_date(moment: datetime) -> date:
    return moment.date()


def log_extra_partitions(
    context: dg.AssetExecutionContext,
    key: dg.AssetKey,
    partitions_def: dg.PartitionsDefinition,
    days: Iterable[date],
    why: str,
) -> list[str]:
    """Record materializations of partitions a step wrote beyond its run's own (late data
    brought forward), so the UI shows them updated by this run. Returns their keys."""
    keys = []
    for day in sorted(set(days)):
        partition = day.isoformat()
        if partitions_def.has_partition_key(partition):
            context.log_event(
                dg.AssetMaterialization(asset_key=key, partition=partition, metadata={"why": why})
            )
            keys.append(partition)
    return keys
