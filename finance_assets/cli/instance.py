"""The Dagster instance CLI runs are recorded in, shared with ``make dev``'s UI.

``DAGSTER_HOME`` when set, else ``.dagster_home`` in the current folder (the checkout's, which
git ignores). A new instance folder gets a ``dagster.yaml`` that turns telemetry off and lets
one run at a time write a given table (concurrency pools).

A CLI run executes inside the ``finance-assets`` process. If that process dies (killed, out of
memory, the machine rebooted) its run stays "started" and keeps the pool slot of the table it
was writing, so every later run of that table would wait forever. Each CLI run is therefore
tagged with the host, process id and process start time that run it, and the next CLI run on
the same instance marks such orphans failed and frees their slots (:func:`release_dead_runs`).

The embedded instance (a ``dagster.yaml`` that does not choose a storage) is opened with
Dagster's SQLite storage whose event log writes a batch of asset events at once
(:mod:`finance_assets.cli.event_log`); an instance that chooses its storage keeps it.

A step queued for a table's slot while the slot was being freed can miss the hand-over and
wait for ever on a free slot (``automation/slots.py``). While a CLI run executes,
:func:`hand_over_free_slots` gives such free slots to their queues every few seconds
(:class:`SlotWatch`).
"""

from __future__ import annotations

import fcntl
import os
import socket
import threading
from pathlib import Path

import dagster as dg
from dagster._core.instance.config import dagster_instance_config
from dagster._core.instance.ref import InstanceRef

from finance_assets.automation.slots import hand_over_free_slots
from finance_assets.cli.event_log import enable_event_batches, storage_override

DAGSTER_YAML = """\
# The Dagster instance of this deployment: `make demo`, `finance-assets materialize` and
# `make dev` (the UI) record their runs here.
telemetry:
  enabled: false
concurrency:
  runs:
    max_concurrent_runs: 4
  pools:
    # Every step that writes a lake table holds that table's pool (lake:<layer>/<table>):
    # two runs never write the same table at the same time; the second one waits.
    granularity: op
    default_limit: 1
"""

HOST_TAG = "finance/host"
PID_TAG = "finance/pid"
PROCESS_START_TAG = "finance/process_start"
_UNFINISHED = [dg.DagsterRunStatus.STARTED, dg.DagsterRunStatus.STARTING]
_STORAGE_KEYS = {"storage", "run_storage", "event_log_storage", "schedule_storage"}


def ensure_home(home: Path) -> Path:
    """Create the instance folder and its ``dagster.yaml`` if they are missing."""
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    if not config.exists():
        staged = home / f".dagster.yaml.{os.getpid()}"
        staged.write_text(DAGSTER_YAML)
        os.replace(staged, config)  # whole or absent, for a process reading it meanwhile
    return home


def open_instance(home: Path) -> dg.DagsterInstance:
    """Open (creating on first use) the instance in ``home``. Two commands started at once
    on a new instance would both create its SQLite tables, and one would fail: the first to
    take the lock creates them, the other opens them."""
    ensure_home(home)
    with open(home / ".instance.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            config, _ = dagster_instance_config(str(home))
            if _STORAGE_KEYS & set(config):
                return dg.DagsterInstance.from_config(str(home))
            enable_event_batches()
            ref = InstanceRef.from_dir(str(home), overrides=storage_override(str(home)))
            return dg.DagsterInstance.from_ref(ref)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def process_tags() -> dict[str, str]:
    """Run tags naming the process that executes a CLI run (see :func:`release_dead_runs`)."""
    return {
        HOST_TAG: socket.gethostname(),
        PID_TAG: str(os.getpid()),
        PROCESS_START_TAG: _process_start(os.getpid()) or "",
    }


def release_dead_runs(instance: dg.DagsterInstance) -> list[str]:
    """Mark failed the unfinished CLI runs of this host whose process is gone, and free the
    pool slots they held. Returns their run ids."""
    runs = instance.get_runs(
        filters=dg.RunsFilter(statuses=_UNFINISHED, tags={HOST_TAG: socket.gethostname()})
    )
    released = []
    for run in runs:
        if _still_running(run.tags):
            continue
        instance.report_run_failed(
            run,
            f"The finance-assets process that ran it (pid {run.tags.get(PID_TAG)}) is gone; "
            "marked failed by a later CLI run, its concurrency slots freed.",
        )
        if instance.event_log_storage.supports_global_concurrency_limits:
            instance.event_log_storage.free_concurrency_slots_for_run(run.run_id)
        released.append(run.run_id)
    return released


def _still_running(tags) -> bool:
    try:
        pid = int(tags.get(PID_TAG, ""))
    except ValueError:
        return True  # not a run this code tagged: leave it alone
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # another user's process holds that pid now
    started = tags.get(PROCESS_START_TAG)
    # A pid in use by a process started at another moment is a new process: ours is gone.
    return not started or _process_start(pid) in (None, started)


def _process_start(pid: int) -> str | None:
    """When the process started (clock ticks since boot, Linux), to tell a reused pid apart."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            return stat.read().rsplit(b")", 1)[1].split()[19].decode()
    except (OSError, IndexError):
        return None


class SlotWatch:
    """While a run executes: :func:`hand_over_free_slots` every ``seconds``, so that no
    step waits on a slot that is free."""

    def __init__(self, instance: dg.DagsterInstance, seconds: float = 5.0):
        self.instance = instance
        self.seconds = seconds
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="slot-watch", daemon=True)

    def __enter__(self) -> SlotWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def _watch(self) -> None:
        while not self._stop.wait(self.seconds):
            try:
                hand_over_free_slots(self.instance)
            except Exception:  # noqa: BLE001 - a busy database: the next round tries again
                continue
