"""What ``finance-assets materialize`` prints while it runs.

A Dagster logger added to each run (``run_config["loggers"]``) receives the run's events as
they happen. On every finished step it prints one line: the step's place in the run, its
assets with the rows they wrote (``dagster/row_count``), the partitions, and the seconds it
took; a check step prints its check and verdict; an op step (lake maintenance) prints the
one-line ``summary`` of its output metadata. A step that waits for another run writing the same
table (its concurrency pool) says so, and a step still running after ``heartbeat_seconds``
gets a line saying it is still at work, so a long run is never silent.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import TextIO

import dagster as dg

from finance_assets.automation.maintenance import SUMMARY

LOGGER_NAME = "finance_progress"
HEARTBEAT_SECONDS = 60.0
ROW_COUNT = "dagster/row_count"


@dataclass
class _Step:
    """What one step did so far."""

    started: float
    rows: dict[str, int] = field(default_factory=dict)
    partitions: dict[str, set[str]] = field(default_factory=dict)
    checks: dict[str, str | None] = field(default_factory=dict)  # name: None or severity
    summary: str = ""  # what an op step (not an asset) says it did, from its output metadata


def duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(int(seconds), 60)
    return f"{minutes}m {rest:02d}s"


class Progress:
    """Prints a run's progress to ``out``; one instance per ``materialize`` call."""

    def __init__(self, out: TextIO | None = None, heartbeat_seconds: float = HEARTBEAT_SECONDS):
        self.out = out or sys.stdout
        self.heartbeat_seconds = heartbeat_seconds
        self._lock = threading.Lock()
        self._steps: dict[str, _Step] = {}
        self._done = 0
        self._total = 0
        self._range = ""
        self._last_line = time.monotonic()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # --- the run --------------------------------------------------------------------

    def start_run(self, job: str, total_steps: int, span: str, partitions: int) -> None:
        """Announce a run of ``total_steps`` steps over ``partitions`` partitions, ``span``
        (``first..last``, or one key; empty when unpartitioned)."""
        with self._lock:
            self._steps, self._done, self._total = {}, 0, total_steps
            self._range = span
            span = f" {span}" if span else ""
            size = f" ({partitions} partitions)" if partitions > 1 else ""
            self._print(f"{job}{span}{size}: {total_steps} steps")
        self._stop.clear()
        self._thread = threading.Thread(target=self._heartbeat, daemon=True)
        self._thread.start()

    def end_run(self, job: str, succeeded: bool, seconds: float) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        verdict = "finished" if succeeded else "FAILED"
        with self._lock:
            self._print(
                f"{job} {verdict} in {duration(seconds)} ({self._done}/{self._total} steps)"
            )

    def logger_def(self) -> dg.LoggerDefinition:
        """The Dagster logger that feeds this object (configure it under ``LOGGER_NAME``)."""
        progress = self

        class _Handler(logging.Handler):
            def emit(self, record: logging.LogRecord) -> None:
                event = getattr(record, "dagster_event", None)
                if event is not None:
                    progress.on_event(event)

        @dg.logger(description="Prints one line per finished step of a CLI run.")
        def finance_progress(_init_context) -> logging.Logger:
            logger = logging.getLogger(f"{LOGGER_NAME}.{id(progress)}")
            logger.propagate = False
            logger.setLevel(logging.DEBUG)
            logger.handlers = [_Handler()]
            return logger

        return finance_progress

    # --- events ---------------------------------------------------------------------

    def on_event(self, event) -> None:
        kind = event.event_type_value
        with self._lock:
            if kind == "STEP_START":
                self._steps[event.step_key] = _Step(time.monotonic())
            elif kind == "ASSET_MATERIALIZATION":
                self._materialized(event)
            elif kind == "STEP_OUTPUT":
                summary = event.event_specific_data.metadata.get(SUMMARY)
                if summary is not None:
                    self._step(event.step_key).summary = str(summary.value)
            elif kind == "ASSET_CHECK_EVALUATION":
                data = event.event_specific_data
                step = self._step(event.step_key)
                name = f"{data.asset_key.to_user_string()}:{data.check_name}"
                step.checks[name] = None if data.passed else _severity(data.severity)
            elif kind in ("STEP_SUCCESS", "STEP_FAILURE", "STEP_SKIPPED"):
                self._finished(event, kind)
            elif kind == "ENGINE_EVENT" and (event.message or "").startswith("Step blocked"):
                pool = (event.message or "").rsplit(" ", 1)[-1]
                self._print(f"  waiting: {event.step_key} (another run is writing {pool})")

    def _step(self, key: str | None) -> _Step:
        return self._steps.setdefault(key or "", _Step(time.monotonic()))

    def _materialized(self, event) -> None:
        mat = event.event_specific_data.materialization
        step = self._step(event.step_key)
        asset = mat.asset_key.to_user_string()
        rows = mat.metadata.get(ROW_COUNT)
        if rows is not None:
            step.rows[asset] = int(rows.value)
        else:
            step.rows.setdefault(asset, -1)
        if mat.partition:
            step.partitions.setdefault(asset, set()).add(mat.partition)

    def _finished(self, event, kind: str) -> None:
        step = self._steps.pop(event.step_key or "", None) or _Step(time.monotonic())
        self._done += 1
        parts = [f"  [{self._done:>{len(str(self._total))}}/{self._total}]"]
        if kind == "STEP_SKIPPED":
            self._print(" ".join([*parts, f"{event.step_key}: skipped (an upstream step failed)"]))
            return
        if kind == "STEP_FAILURE":
            parts.append("FAILED")
        failed = [f"{name} ({severity})" for name, severity in step.checks.items() if severity]
        if step.rows:
            parts.append(_assets_text(step))
            if self._range and step.partitions:
                parts.append(self._range + _extra_partitions(step, self._range))
            if step.checks:
                passed = _plural(len(step.checks), "check")
                parts.append(
                    f"checks failed: {', '.join(failed)}" if failed else f"{passed} passed"
                )
        elif step.checks:
            verdict = f"failed ({', '.join(filter(None, step.checks.values()))})"
            parts.append(f"check {', '.join(step.checks)} {verdict if failed else 'passed'}")
        else:
            parts.append(step.summary or event.step_key)
        parts.append(f"({duration(time.monotonic() - step.started)})")
        if kind == "STEP_FAILURE":
            parts.append(f"- {failure_message(event)}")
        self._print(" ".join(parts))

    # --- output ---------------------------------------------------------------------

    def _print(self, line: str) -> None:
        print(line, file=self.out, flush=True)
        self._last_line = time.monotonic()

    def _heartbeat(self) -> None:
        while not self._stop.wait(min(self.heartbeat_seconds, 5.0)):
            with self._lock:
                quiet_for = time.monotonic() - self._last_line
                if not self._steps or quiet_for < self.heartbeat_seconds:
                    continue
                now = time.monotonic()
                running = ", ".join(
                    f"{key} ({duration(now - step.started)})" for key, step in self._steps.items()
                )
                self._print(f"  ... still running: {running}; {self._done}/{self._total} done")


def _assets_text(step: _Step) -> str:
    parts = []
    for asset, rows in step.rows.items():
        parts.append(asset if rows < 0 else f"{asset} {_plural(rows, 'row')}")
    return ", ".join(parts)


def _plural(count: int, noun: str) -> str:
    return f"{count:,} {noun}" + ("" if count == 1 else "s")


def _severity(severity) -> str:
    return getattr(severity, "value", str(severity))


def _extra_partitions(step: _Step, run_range: str) -> str:
    """Partitions beyond the run's own that the step brought up to date (late data)."""
    if not run_range:
        return ""
    first, _, last = run_range.partition("..")
    last = last or first
    beyond = {p for found in step.partitions.values() for p in found if not first <= p <= last}
    return f" (+{len(beyond)} earlier partitions brought up to date)" if beyond else ""


def failure_message(event) -> str:
    """What a failed step's own code said: a ``dg.Failure``'s description, else the outermost
    exception raised by the asset (not Dagster's wrapper, not a low-level root cause)."""
    data = event.step_failure_data
    if data.user_failure_data is not None and data.user_failure_data.description:
        return data.user_failure_data.description
    error = data.error
    while error is not None and error.cls_name.startswith("Dagster") and error.cause:
        error = error.cause
    return error.message.strip().splitlines()[-1] if error else "failed"
