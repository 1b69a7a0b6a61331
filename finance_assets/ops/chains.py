"""Run chains: a sequence of runs where each starts only after the previous one succeeded.

Dagster runs one partitions definition per run, so "re-materialize these days, then their
months" is two or more runs, and the monthly run must not start before the daily run has
written silver. A run that starts a chain carries the remaining steps in the
``finance/chain`` tag; when it succeeds, ``finance_run_chain`` requests the next step with
the rest of the chain. When a run fails, its chain stops there (and the run-failure alert
names the steps that were not run).

A step is a set of asset keys with one partition range (or none, for unpartitioned assets).
Steps cover consecutive partitions with the same assets only, so a chain never
re-materializes a partition nobody asked for.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta

import dagster as dg

from finance_assets.sensors import RANGE_END_TAG, RANGE_START_TAG, TRIGGER_TAG

CHAIN_TAG = "finance/chain"
BATCH_TAG = "finance/batch"
PARENT_RUN_TAG = "finance/parent_run"
CHAIN_SENSOR = "finance_run_chain"
FIRST_TICK_LOOKBACK_SECONDS = 24 * 3600
PAGE = 100


@dataclass(frozen=True)
class Step:
    """One run: these assets over the inclusive partition range [start, end] (keys as strings)."""

    assets: tuple[str, ...]
    start: str | None = None
    end: str | None = None

    @property
    def asset_keys(self) -> list[dg.AssetKey]:
        return [dg.AssetKey.from_user_string(a) for a in self.assets]

    def describe(self) -> str:
        where = (
            ""
            if self.start is None
            else f" {self.start}" + (f"..{self.end}" if self.end != self.start else "")
        )
        return f"{len(self.assets)} asset(s){where}"

    def run_request(
        self, rest: Sequence[Step], run_key: str, tags: Mapping[str, str]
    ) -> dg.RunRequest:
        all_tags = dict(tags)
        if rest:
            all_tags[CHAIN_TAG] = encode_chain(rest)
        partition_key = None
        if self.start is not None and self.start == self.end:
            partition_key = self.start
        elif self.start is not None:
            all_tags[RANGE_START_TAG] = self.start
            all_tags[RANGE_END_TAG] = self.end
        return dg.RunRequest(
            run_key=run_key,
            asset_selection=self.asset_keys,
            partition_key=partition_key,
            tags=all_tags,
        )


def encode_chain(steps: Sequence[Step]) -> str:
    """Compact JSON: each distinct asset set once, then (set index, start, end) per step."""
    sets: list[list[str]] = []
    rows = []
    for step in steps:
        assets = sorted(step.assets)
        if assets not in sets:
            sets.append(assets)
        rows.append([sets.index(assets), step.start, step.end])
    return json.dumps({"assets": sets, "steps": rows}, separators=(",", ":"))


def decode_chain(text: str | None) -> list[Step]:
    if not text:
        return []
    data = json.loads(text)
    sets = data["assets"]
    return [Step(tuple(sets[i]), start, end) for i, start, end in data["steps"]]


def consecutive_steps(
    needs: Mapping[date, frozenset[str]],
    next_key: Callable[[date], date],
    key_format: Callable[[date], str] = date.isoformat,
) -> list[Step]:
    """Group partitions into steps: consecutive partitions with the same assets share a run.

    ``needs`` maps a partition's start date to the assets it needs; ``next_key(d)`` is the
    partition after ``d``. Partitions that are not consecutive never share a step.
    """
    steps: list[Step] = []
    run_start = run_end = None
    run_assets: frozenset[str] | None = None
    for day in sorted(needs):
        assets = needs[day]
        if run_assets == assets and next_key(run_end) == day:
            run_end = day
            continue
        if run_assets is not None:
            steps.append(
                Step(tuple(sorted(run_assets)), key_format(run_start), key_format(run_end))
            )
        run_start = run_end = day
        run_assets = assets
    if run_assets is not None:
        steps.append(Step(tuple(sorted(run_assets)), key_format(run_start), key_format(run_end)))
    return steps


def next_day(day: date) -> date:
    return day + timedelta(days=1)


def next_month(day: date) -> date:
    return (day.replace(day=1) + timedelta(days=32)).replace(day=1)


def month_of(day: date) -> date:
    return day.replace(day=1)


def user_strings(keys: Iterable[dg.AssetKey]) -> frozenset[str]:
    return frozenset(k.to_user_string() for k in keys)


def chain_request(
    steps: Sequence[Step], run_key: str, tags: Mapping[str, str]
) -> dg.RunRequest | None:
    """The run request for the first step, carrying the rest of the chain."""
    if not steps:
        return None
    return steps[0].run_request(steps[1:], run_key, tags)


def build_chain_sensor(interval_seconds: int, default_status: dg.DefaultSensorStatus):
    @dg.sensor(
        name=CHAIN_SENSOR,
        minimum_interval_seconds=interval_seconds,
        default_status=default_status,
        asset_selection=dg.AssetSelection.all().materializable(),
        description=(
            "Continues run chains: when a run tagged finance/chain succeeds, requests the next "
            "step (e.g. the monthly gold tables after the daily run that feeds them). A failed "
            "run stops its chain."
        ),
    )
    def run_chain_sensor(context: dg.SensorEvaluationContext):
        instance = context.instance
        after = int(context.cursor) if context.cursor else None
        records_filter = dg.RunStatusChangeRecordsFilter(
            event_type=dg.DagsterEventType.RUN_SUCCESS,
            after_storage_id=after,
            # First tick: runs of the last day only, never the whole history. Re-requesting
            # a step is harmless: run keys make each request happen once.
            after_timestamp=None
            if after is not None
            else time.time() - FIRST_TICK_LOOKBACK_SECONDS,
        )
        records = instance.fetch_run_status_changes(records_filter, limit=PAGE, ascending=True)
        requests = []
        for record in records.records:
            run = instance.get_run_by_id(record.run_id)
            steps = decode_chain(run.tags.get(CHAIN_TAG)) if run else []
            if not steps:
                continue
            tags = {
                PARENT_RUN_TAG: run.run_id,
                **{k: run.tags[k] for k in (TRIGGER_TAG, BATCH_TAG) if k in run.tags},
            }
            context.log.info(
                f"Run {run.run_id} succeeded; next in its chain: {steps[0].describe()}"
                + (f", then {len(steps) - 1} more" if len(steps) > 1 else "")
            )
            requests.append(steps[0].run_request(steps[1:], f"chain:{run.run_id}", tags))
        cursor = str(records.records[-1].storage_id) if records.records else context.cursor
        if cursor is None:
            cursor = str(_latest_success_storage_id(instance) or 0)
        return dg.SensorResult(run_requests=requests, cursor=cursor)

    return run_chain_sensor


def _latest_success_storage_id(instance: dg.DagsterInstance) -> int | None:
    records = instance.fetch_run_status_changes(
        dg.DagsterEventType.RUN_SUCCESS, limit=1, ascending=False
    ).records
    return records[0].storage_id if records else None
