"""The product engine for the benchmark: ``finance-assets materialize``, step by step.

Runs exactly what the CLI runs (``finance_assets.cli.runs``: the daily run, the monthly
run, and whatever else it runs) and keeps every Dagster run result it collects, to read
per-step wall time from the step events: bronze (``bronze__*``), silver (``validate_*``,
``silver__*`` such as the payment matching), gold (``gold__*``), ``checks`` (steps that
only evaluate asset checks) and ``other`` (any other asset, e.g. the dashboard). The local
Spark session is started first, with the product's own configuration, so its start-up is
timed on its own; the runs then reuse it. With ``warm_repeats``, the same range is then
materialized again in the same process (imports, definitions and JVM already there), as a
long-lived code server or the landing sensor would run it."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from datetime import date

LAYER_PREFIXES = (
    ("bronze", ("bronze__",)),
    ("silver", ("validate_", "silver__")),
    ("gold", ("gold__",)),
)


def layer_of(step_key: str, checks_only: bool = False) -> str:
    """``checks`` for a step that only evaluated asset checks; bronze, silver or gold for
    the medallion assets' steps; ``other`` for any other step (e.g. a dashboard)."""
    if checks_only:
        return "checks"
    for layer, prefixes in LAYER_PREFIXES:
        if step_key.startswith(prefixes):
            return layer
    return "other"


def _timed_events(result, instance) -> list[tuple[float | None, object]]:
    """(timestamp, DagsterEvent) of a run: from the instance's event log when it is known
    (it has timestamps), else the result's events without timestamps."""
    if instance is not None:
        try:
            entries = instance.all_logs(result.run_id)
            return [(e.timestamp, e.dagster_event) for e in entries if e.dagster_event]
        except Exception:  # an instance without the run's logs: fall back
            pass
    return [(None, event) for event in result.all_events]


def step_seconds(
    results, instance=None
) -> tuple[dict[str, float], set[str], set[str], list[float]]:
    """Per step: wall seconds (STEP_SUCCESS duration, or start to failure); the steps that
    materialized an asset; the steps that evaluated asset checks; and each run's wall
    seconds from its first to its last event."""
    seconds: dict[str, float] = {}
    materializing: set[str] = set()
    checking: set[str] = set()
    runs: list[float] = []
    for result in results:
        started: dict[str, float] = {}
        events = _timed_events(result, instance)
        stamps = [t for t, _ in events if t is not None]
        if stamps:
            runs.append(max(stamps) - min(stamps))
        for stamp, event in events:
            kind, key = event.event_type_value, event.step_key
            if key is None:
                continue
            if kind == "STEP_START" and stamp is not None:
                started[key] = stamp
            elif kind == "ASSET_MATERIALIZATION":
                materializing.add(key)
            elif kind == "ASSET_CHECK_EVALUATION":
                checking.add(key)
            elif kind == "STEP_SUCCESS":
                seconds[key] = seconds.get(key, 0.0) + event.event_specific_data.duration_ms / 1000
            elif kind == "STEP_FAILURE" and key in started and stamp is not None:
                seconds[key] = seconds.get(key, 0.0) + stamp - started[key]
    return seconds, materializing, checking, runs


def layer_rows(row_counts: dict[str, int]) -> dict[str, int]:
    """Rows per layer. Silver and quarantine count only the contract's datasets (the
    derived ``silver/payment_orders`` is not a silver row of its own: it would break
    ``bronze = silver + quarantine``)."""
    from finance_assets.contract import DATASETS
    from finance_assets.lake import tables

    def total(keys) -> int:
        return sum(row_counts.get(key, 0) for key in keys)

    def keys(kind) -> list[str]:
        return [kind(dataset).key.to_user_string() for dataset in DATASETS.values()]

    return {
        "bronze": total(keys(tables.bronze)),
        "silver": total(keys(tables.silver)),
        "quarantine": total(keys(tables.quarantine)),
        "gold": total(k for k in row_counts if k.startswith("gold/")),
    }


def first_step_started(results, instance=None) -> float | None:
    """Epoch seconds at which the first step of these runs started (None if unknown)."""
    stamps = [
        stamp
        for result in results
        for stamp, event in _timed_events(result, instance)
        if stamp is not None and event.event_type_value == "STEP_START"
    ]
    return min(stamps) if stamps else None


@contextlib.contextmanager
def recording_runs() -> Iterator[tuple[list, list]]:
    """While inside: every Dagster run result ``finance_assets.cli.runs`` collects, and every
    instance it opens (their event logs hold the step timestamps)."""
    import finance_assets.cli.runs as cli

    results, instances = [], []
    original_collect, original_instance = cli.collect, cli.open_instance

    def recording(result, outcome):  # every run the CLI makes passes through here
        results.append(result)
        return original_collect(result, outcome)

    def recorded_instance(home):
        instance = original_instance(home)
        instances.append(instance)
        return instance

    cli.collect, cli.open_instance = recording, recorded_instance
    try:
        yield results, instances
    finally:
        cli.collect, cli.open_instance = original_collect, original_instance


def _recorded_materialize(landing: str, lake: str, start: date, end: date) -> dict:
    """``finance-assets materialize``'s code path, with every run result and the instance
    it logged to kept: the figures of one materialization."""
    import finance_assets.cli.runs as cli

    with recording_runs() as (results, instances):
        called_at, t0 = time.time(), time.perf_counter()
        outcome = cli.materialize(landing, lake, start, end)
        seconds = time.perf_counter() - t0
    instance = instances[-1] if instances else None
    steps, materializing, checking, run_seconds = step_seconds(results, instance)
    first_step = first_step_started(results, instance)
    return {
        **summarize(outcome, steps, materializing, checking),
        "runs": len(results),
        "runs_seconds": run_seconds,
        "orchestration_seconds": (sum(run_seconds) - sum(steps.values())) if run_seconds else None,
        "materialize_seconds": seconds,
        "first_step_at": first_step,
        "before_first_step_seconds": None if first_step is None else first_step - called_at,
    }


def summarize(outcome, steps: dict, materializing: set, checking: set) -> dict:
    """Rows and seconds per layer, and whether every blocking check passed."""
    rows = layer_rows(outcome.row_counts)
    by_layer: dict[str, float] = {}
    for key, seconds in steps.items():
        layer = layer_of(key, checks_only=key in checking and key not in materializing)
        by_layer[layer] = by_layer.get(layer, 0.0) + seconds
    silver_rows = rows["silver"]
    layers = {
        "bronze": {"rows_in": rows["bronze"], "rows_out": rows["bronze"]},
        "silver": {
            "rows_in": rows["bronze"],
            "rows_out": rows["silver"] + rows["quarantine"],
            "silver": silver_rows,
            "quarantine": rows["quarantine"],
        },
        "gold": {"rows_in": silver_rows, "rows_out": rows["gold"]},
    }
    for layer, info in layers.items():
        info["seconds"] = by_layer.get(layer, 0.0)
    for extra in ("checks", "other"):  # no rows of their own: time only
        if extra in by_layer:
            layers[extra] = {"seconds": by_layer[extra], "rows_in": None, "rows_out": None}
    blocking = [c for c in outcome.failed_checks if c.endswith("(ERROR)")]
    return {
        "ok": bool(outcome.succeeded and not blocking),
        "failed_checks": outcome.failed_checks,
        "failed_steps": outcome.failed_steps,
        "step_seconds": sum(steps.values()),
        "steps": dict(sorted(steps.items())),
        "layers": layers,
        "input_rows": rows["bronze"],
        "row_counts": outcome.row_counts,
    }


def run(landing: str, lake: str, start: date, end: date, warm_repeats: int = 0) -> dict:
    """Materialize [start, end] as the CLI does; then, ``warm_repeats`` times, the same range
    again in this process (``result["warm"]``: the last repeat's figures)."""
    t0 = time.perf_counter()
    from pyspark import SparkContext

    from finance_assets import cli

    open_before = SparkContext._active_spark_context is not None
    cli.start_spark_early()  # as ``finance-assets materialize`` does, before its imports
    import finance_assets.cli.runs  # noqa: F401  (timed: the CLI's imports)
    from finance_assets.lake.spark import start_session_early
    from finance_assets.settings import Settings

    import_seconds = time.perf_counter() - t0
    # As in the CLI, the session starts on a thread of its own while the command imports and
    # sets the run up; the start it made (one per process) says how long the session took.
    materialized = _recorded_materialize(landing, lake, start, end)
    early = start_session_early(Settings.load())
    # No early start: a session open already (nothing to start), or a remote one.
    nothing_started = 0.0 if open_before else None
    spark_start = early.wait().seconds if early is not None else nothing_started
    result = {
        "engine": "product",
        "import_seconds": import_seconds,
        "spark_start_seconds": spark_start,
        **materialized,
    }
    for _ in range(warm_repeats):
        result["warm"] = _recorded_materialize(landing, lake, start, end)
    return result
