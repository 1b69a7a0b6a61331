"""``finance-assets materialize``: every asset for a day range and the months it touches.

The runs execute in this process (``execute_in_process``) and are recorded in the CLI's Dagster
instance. While they run, :mod:`finance_assets.cli.progress` prints one line per finished step;
a run that fails (a failed blocking check fails its run) is alerted through the configured
sinks exactly as the daemon's run failure sensor would (``automation/alerts.py``).
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import asdict, dataclass, field
from datetime import date

import dagster as dg

from finance_assets.automation.alerts import (
    AlertConfig,
    build_sinks,
    deliver,
    mask,
    run_failure_alert,
)
from finance_assets.automation.jobs import DAILY_JOB, MONTHLY_JOB
from finance_assets.automation.tags import TRIGGER_TAG
from finance_assets.cli.instance import (
    SlotWatch,
    open_instance,
    process_tags,
    release_dead_runs,
)
from finance_assets.cli.progress import LOGGER_NAME, Progress, failure_message
from finance_assets.contract import DATASETS
from finance_assets.definitions import load_definitions
from finance_assets.defs.gold.assets import EXTRA_PARTITIONS, LATE_PAYMENT_DAYS
from finance_assets.lake.partitions import RANGE_END_TAG, RANGE_START_TAG
from finance_assets.lake.spark import check_spark_reachable, start_session_early
from finance_assets.lake.tables import DASHBOARD
from finance_assets.landing.resource import landing_s3_options
from finance_assets.landing.zone import LandingMissing, require_dataset_folders
from finance_assets.settings import Settings

CLI = "cli"
EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2

__all__ = ["CliError", "RunOutcome", "failure_message", "materialize", "report"]


class CliError(Exception):
    """A problem the user can fix; printed without a traceback, exit code 2."""


@dataclass
class RunSummary:
    """One Dagster run the command started."""

    job: str
    run_id: str
    partitions: str
    status: str
    seconds: float


@dataclass
class RunOutcome:
    """What a materialization did, and which checks failed."""

    succeeded: bool = True
    failed_checks: list[str] = field(default_factory=list)
    passed_checks: list[str] = field(default_factory=list)
    failed_steps: list[str] = field(default_factory=list)
    row_counts: dict[str, int] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)
    runs: list[RunSummary] = field(default_factory=list)
    brought_up_to_date: dict[str, list[str]] = field(default_factory=dict)
    late_payment_days: list[str] = field(default_factory=list)
    released_runs: list[str] = field(default_factory=list)
    alerts: dict[str, dict[str, str]] = field(default_factory=dict)
    check_messages: dict[str, str] = field(default_factory=dict)
    """What each failed check said (its description), by the name in ``failed_checks``."""

    @property
    def blocking_failures(self) -> list[str]:
        return [c for c in self.failed_checks if c.endswith("(ERROR)")]

    @property
    def exit_code(self) -> int:
        return EXIT_FAILED if self.blocking_failures or not self.succeeded else EXIT_OK

    def summary(self) -> dict:
        """The machine-readable summary ``--json`` prints."""
        return {
            "status": "succeeded" if self.exit_code == EXIT_OK else "failed",
            "exit_code": self.exit_code,
            "runs": [asdict(r) for r in self.runs],
            "rows": dict(sorted(self.row_counts.items())),
            "failed_checks": [_check_entry(c, self.check_messages) for c in self.failed_checks],
            "passed_checks": len(self.passed_checks),
            "failed_steps": self.failed_steps,
            "skipped": self.skipped,
            "late_payment_days": self.late_payment_days,
            "brought_up_to_date": self.brought_up_to_date,
            "released_runs": self.released_runs,
            "alerts": self.alerts,
        }


def _check_entry(label: str, messages: dict[str, str]) -> dict:
    name, _, severity = label.rpartition(" (")
    severity = severity.rstrip(")")
    entry = {"check": name, "severity": severity, "blocking": severity == "ERROR"}
    return {**entry, "message": messages[label]} if label in messages else entry


def deployment_settings(landing: str, lake: str, start: date, end: date) -> Settings:
    """The environment's settings for this landing zone and lake, with partitions that
    include ``[start, end]``."""
    base = Settings.load(landing_uri=landing, lake_uri=lake)
    return base.with_overrides(
        partitions_start=start if start < base.partitions_start else None,
        partitions_end=end if base.partitions_end and end > base.partitions_end else None,
    )


@dataclass(frozen=True)
class Span:
    """The partitions a run covers: first and last key, and how many there are."""

    first: str
    last: str
    partitions: int

    @property
    def text(self) -> str:
        return self.first if self.first == self.last else f"{self.first}..{self.last}"


@dataclass
class CliRun:
    """How the command runs its jobs: where they are recorded and what they print."""

    instance: dg.DagsterInstance
    settings: Settings
    verbose: bool = False
    progress: Progress | None = None
    replace_empty: bool = False

    def job(self, defs: dg.Definitions, job_name: str, first: str, last: str, outcome) -> bool:
        """Run ``job_name`` over the partitions ``first..last``; True when it succeeded."""
        job = defs.resolve_job_def(job_name)
        run_config: dict = {}
        if self.replace_empty:
            run_config["ops"] = {
                node.name: {"config": {"replace_empty_partitions": True}}
                for node in job.graph.nodes
                if node.name.startswith("bronze__")
            }
        keys = job.partitions_def.get_partition_keys_in_range(dg.PartitionKeyRange(first, last))
        span = Span(first, last, len(keys))
        tags = {RANGE_START_TAG: first, RANGE_END_TAG: last}
        steps = len(job.graph.nodes)
        return self._execute(job, job_name, steps, span, outcome, tags, run_config).success

    def assets(self, defs: dg.Definitions, keys: list[dg.AssetKey], label: str, outcome) -> bool:
        """Materialize unpartitioned ``keys`` in one run."""
        job = defs.resolve_implicit_global_asset_job_def()
        return self._execute(job, label, len(keys), None, outcome, asset_selection=keys).success

    def op_job(
        self, defs: dg.Definitions, job_name: str, run_config: dict, outcome
    ) -> dg.ExecuteInProcessResult:
        """Run the unpartitioned op job ``job_name`` (lake maintenance) once."""
        job = defs.resolve_job_def(job_name)
        steps = len(job.graph.nodes)
        return self._execute(job, job_name, steps, None, outcome, run_config=run_config)

    def _execute(
        self,
        job,
        label: str,
        steps: int,
        span: Span | None,
        outcome,
        tags=None,
        run_config=None,
        **kwargs,
    ) -> dg.ExecuteInProcessResult:
        loggers = console_logging(self.verbose)
        if self.progress is not None:
            job = job.with_logger_defs({**job.loggers, LOGGER_NAME: self.progress.logger_def()})
            loggers[LOGGER_NAME] = {}
            text, size = (span.text, span.partitions) if span else ("", 0)
            self.progress.start_run(label, steps, text, size)
        started = time.monotonic()
        with SlotWatch(self.instance):
            result = job.execute_in_process(
                instance=self.instance,
                tags={**(tags or {}), TRIGGER_TAG: CLI, **process_tags()},
                raise_on_error=False,
                run_config={**(run_config or {}), "loggers": loggers},
                **kwargs,
            )
        seconds = time.monotonic() - started
        if self.progress is not None:
            self.progress.end_run(label, result.success, seconds)
        status = "succeeded" if result.success else "failed"
        partitions = span.text if span else ""
        outcome.runs.append(RunSummary(label, result.run_id, partitions, status, round(seconds, 1)))
        collect(result, outcome)
        if not result.success:
            self.alert(result, outcome)
        return result

    def alert(self, result, outcome: RunOutcome) -> None:
        """The daemon's run failure alert, for a run this command started."""
        config = AlertConfig.from_settings(self.settings)
        sinks = build_sinks(config)
        run = self.instance.get_run_by_id(result.run_id)
        if not sinks or run is None:
            return
        steps = [
            f"{e.step_key}: {failure_message(e)}"
            for e in result.all_events
            if e.event_type_value == "STEP_FAILURE"
        ]
        failure = next(
            (e.message for e in result.all_events if e.event_type_value == "PIPELINE_FAILURE"),
            None,
        )
        alert = run_failure_alert(self.instance, run, steps, config, failure_message=failure)
        outcome.alerts[alert.incident] = deliver(alert, sinks, config, _StderrLog(config))


class _StderrLog:
    """Where alert delivery problems are told: standard error, secrets masked."""

    def __init__(self, config: AlertConfig):
        self.secrets = config.secrets

    def warning(self, message: str, *args) -> None:
        self._say(message % args if args else message)

    error = warning

    def _say(self, text: str) -> None:
        print(f"finance-assets: alert: {mask(text, self.secrets)}", file=sys.stderr)


def console_logging(verbose: bool) -> dict:
    """Dagster's console log: the whole run log with ``--verbose``, else warnings only."""
    return {"console": {"config": {"log_level": "INFO" if verbose else "WARNING"}}}


def collect(result, outcome: RunOutcome) -> None:
    for evaluation in result.get_asset_check_evaluations():
        name = f"{evaluation.asset_key.to_user_string()}:{evaluation.check_name}"
        if evaluation.passed:
            outcome.passed_checks.append(name)
            continue
        severity = getattr(evaluation.severity, "value", str(evaluation.severity))
        outcome.failed_checks.append(f"{name} ({severity})")
        if evaluation.description:
            outcome.check_messages[f"{name} ({severity})"] = evaluation.description
    for event in result.get_asset_materialization_events():
        mat = event.materialization
        key = mat.asset_key.to_user_string()
        rows = mat.metadata.get("dagster/row_count")
        if rows is not None:
            outcome.row_counts[key] = rows.value
        late = _listed(mat, LATE_PAYMENT_DAYS)
        if late:
            outcome.late_payment_days = sorted({*outcome.late_payment_days, *late})
        beyond = _listed(mat, EXTRA_PARTITIONS)
        if beyond:
            found = outcome.brought_up_to_date.get(key, [])
            outcome.brought_up_to_date[key] = sorted({*found, *beyond})
    for event in result.all_events:
        if event.event_type_value == "STEP_FAILURE":
            outcome.failed_steps.append(f"{event.step_key}: {failure_message(event)}")
    outcome.succeeded = outcome.succeeded and result.success


def _listed(materialization, name: str) -> list[str]:
    value = materialization.metadata.get(name)
    return list(value.value) if value is not None and value.value else []


def materialize(
    landing: str,
    lake: str,
    start: date,
    end: date,
    verbose: bool = False,
    replace_empty: bool = False,
    progress: Progress | None = None,
) -> RunOutcome:
    """Materialize every asset for every day in [start, end] and every month it touches.

    A landing root or dataset folder that does not exist stops it before anything is written
    (:class:`CliError`); a day whose drop files are gone keeps its bronze rows unless
    ``replace_empty``. ``progress`` prints the runs' steps as they finish.
    """
    if end < start:
        raise CliError(f"--end {end} is before --start {start}")
    settings = deployment_settings(landing, lake, start, end)
    defs = load_definitions(settings)  # a setting that cannot work fails here, before any I/O
    check_spark_reachable(settings)
    try:
        require_dataset_folders(landing, DATASETS, landing_s3_options(settings))
    except (LandingMissing, PermissionError) as exc:
        raise CliError(f"{exc}; nothing was written") from None
    start_session_early(settings)  # the JVM starts while the runs are set up, if not yet started
    instance = open_instance(settings.instance_home)
    outcome = RunOutcome(released_runs=release_dead_runs(instance))
    if outcome.released_runs:
        print(
            f"Marked failed {len(outcome.released_runs)} run(s) of a finance-assets process "
            f"that is gone ({', '.join(outcome.released_runs)}); the tables they held are free.",
            file=sys.stderr,
        )
    cli = CliRun(instance, settings, verbose, progress, replace_empty)
    if not cli.job(defs, DAILY_JOB, start.isoformat(), end.isoformat(), outcome):
        outcome.skipped.append(MONTHLY_JOB)
        return outcome
    first_month, last_month = start.replace(day=1), end.replace(day=1)
    if not cli.job(defs, MONTHLY_JOB, first_month.isoformat(), last_month.isoformat(), outcome):
        outcome.skipped.append(DASHBOARD.key.to_user_string())
        return outcome
    cli.assets(defs, [DASHBOARD.key], DASHBOARD.key.to_user_string(), outcome)
    return outcome


def report(outcome: RunOutcome, output: str = "text") -> int:
    """Tell how the materialization went (``text``, ``quiet``: failures only, ``json``: one
    JSON object on standard output); returns the exit code."""
    if output == "json":
        print(json.dumps(outcome.summary(), indent=2, default=str))
        return outcome.exit_code
    if output != "quiet":
        for key in sorted(outcome.row_counts):
            print(f"  {key:<34} {outcome.row_counts[key]:>10,} rows")
        if outcome.late_payment_days:
            print(
                f"Late payments: order days brought up to date: {_few(outcome.late_payment_days)}"
            )
    if outcome.failed_steps:
        print("Failed steps:", file=sys.stderr)
        for step in outcome.failed_steps:
            print(f"  {step}", file=sys.stderr)
    if outcome.skipped:
        print(
            f"Not run because an earlier run failed: {', '.join(outcome.skipped)}", file=sys.stderr
        )
    blocking = outcome.blocking_failures
    warnings = [c for c in outcome.failed_checks if c not in blocking]
    if warnings and output != "quiet":
        print("Checks with warnings (not blocking):")
        for check in warnings:
            print(f"  {check}")
    if blocking:
        print("Failed blocking checks:", file=sys.stderr)
        for check in blocking:
            print(f"  {check}", file=sys.stderr)
            if check in outcome.check_messages:
                print(f"    {outcome.check_messages[check]}", file=sys.stderr)
    for incident, sinks in outcome.alerts.items():
        sent = ", ".join(f"{sink} {result}" for sink, result in sinks.items())
        print(f"Alert {incident}: {sent}", file=sys.stderr)
    if outcome.exit_code == EXIT_OK and output != "quiet":
        print("All blocking checks passed.")
    return outcome.exit_code


def _few(days: list[str], shown: int = 10) -> str:
    more = f" and {len(days) - shown} more" if len(days) > shown else ""
    return ", ".join(days[:shown]) + more
