"""Kill -9 in the middle of a gold write, then rerun: Delta's atomic commit keeps every table
consistent (no partial, no duplicated partition) and the rerun restores a clean state.

The killed run is a real ``finance-assets materialize`` process in its own process group.
To kill it at the most dangerous moment, deterministically, it runs with a small hook
around ``DeltaRsLake._stage_files``: after the first gold table's Parquet files have been
moved into the table folder, but before delta-rs commits them, the hook drops a marker
file and waits; the test then SIGKILLs the whole process group (driver, JVM, Python
workers). The lake already holds a complete run of the same range, so the killed run was
*replacing* committed partitions. The killed run also held the concurrency pool slot of the
table it was writing: the rerun, in the same Dagster instance, must free it and succeed.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import dagster as dg
import pytest
from deltalake import DeltaTable

from finance_assets.cli import main
from finance_assets.lake.arrow import read_table
from finance_assets.landing.generate import GenerateConfig, generate
from finance_assets.landing.zone import local_path
from finance_assets_tests.support.lake_snapshot import snapshot

START, END = "2024-01-01", "2024-01-03"
WAIT_FOR_MARKER_S = 600
RERUN_TIMEOUT_S = 900

HOOK = r"""
import os, sys, time
from pathlib import Path
from finance_assets.lake import delta

marker = Path(os.environ["KILL_TEST_MARKER"])
original = delta.DeltaRsLake._stage_files

def stage_then_wait(self, df, table_dir, *args, **kwargs):
    actions = original(self, df, table_dir, *args, **kwargs)
    if "gold" in Path(table_dir).parts and not marker.exists():
        marker.write_text(str(table_dir))
        time.sleep(3600)  # killed here: files moved into the table, nothing committed
    return actions

delta.DeltaRsLake._stage_files = stage_then_wait
from finance_assets.cli import main
sys.exit(main(sys.argv[1:]))
"""


def unreferenced_parquet(table_dir: Path) -> list[Path]:
    uris = DeltaTable(str(table_dir)).file_uris()
    referenced = {local_path(u).resolve() for u in uris}
    return [p for p in table_dir.rglob("*.parquet") if p.resolve() not in referenced]


def child_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FINANCE_")}
    env.pop("DAGSTER_HOME", None)
    env.update(FINANCE_SPARK_SHUFFLE_PARTITIONS="2", FINANCE_SPARK_DRIVER_MEMORY="1g", **extra)
    return env


def group_alive(pgid: int) -> bool:
    """Whether any live (non-zombie) process is still in the process group."""
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as f:
                fields = f.read().rsplit(b")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != b"Z":
            return True
    return False


def kill_group(process: subprocess.Popen) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=60)
    deadline = time.monotonic() + 30
    while group_alive(process.pid) and time.monotonic() < deadline:
        time.sleep(0.2)


@pytest.mark.slow
def test_kill_during_gold_write_then_rerun(spark, tmp_path: Path) -> None:
    landing, lake = tmp_path / "landing", tmp_path / "lake"
    generate(str(landing), GenerateConfig(date(2024, 1, 1), date(2024, 1, 3), orders_per_day=30))
    argv = ["materialize", "--landing", str(landing), "--lake", str(lake)]
    argv += ["--start", START, "--end", END]

    assert main(argv) == 0
    before = snapshot(lake)
    assert any(name.startswith("gold/") for name in before)

    marker = tmp_path / "in-gold-write"
    log = tmp_path / "killed-run.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-c", HOOK, *argv],
            cwd=tmp_path,
            env=child_env(KILL_TEST_MARKER=str(marker)),
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        try:
            deadline = time.monotonic() + WAIT_FOR_MARKER_S
            while not marker.exists():
                assert process.poll() is None, (
                    f"the run ended (exit {process.returncode}) before a gold write:\n"
                    + log.read_text(errors="replace")[-3000:]
                )
                assert time.monotonic() < deadline, "no gold write started in time"
                time.sleep(0.05)
        finally:
            kill_group(process)
    assert process.returncode == -signal.SIGKILL
    assert not group_alive(process.pid), "a process of the killed run survived"

    # The kill landed mid-write: Parquet files sit in the table folder, uncommitted.
    killed_table = Path(marker.read_text())
    orphans = unreferenced_parquet(killed_table)
    assert orphans, f"expected uncommitted files in {killed_table}"

    # Readers see exactly the last committed state: nothing partial, nothing doubled.
    assert snapshot(lake) == before

    # The killed run still holds its table's pool slot in the instance it ran in; a rerun
    # there must release it (the process is gone) instead of waiting for it forever.
    home = tmp_path / ".dagster_home"
    killed = _runs_holding_slots(home)
    assert killed, "the killed run should still hold a pool slot"
    rerun = subprocess.run(
        [sys.executable, "-m", "finance_assets.cli", *argv],
        cwd=tmp_path,
        env=child_env(),
        capture_output=True,
        text=True,
        timeout=RERUN_TIMEOUT_S,
    )
    output = rerun.stdout + rerun.stderr
    assert rerun.returncode == 0, (
        "the rerun must succeed with every blocking check passing:\n" + (output[-3000:])
    )
    assert "of a finance-assets process that is gone" in rerun.stderr, output[-3000:]
    assert not _runs_holding_slots(home), "the killed run's slots must be free"
    instance = dg.DagsterInstance.from_config(str(home))
    assert {instance.get_run_by_id(r).status for r in killed} == {dg.DagsterRunStatus.FAILURE}
    after = snapshot(lake)
    assert after == before
    assert_unique_gold_keys(lake)
    # The killed run's files stay on disk, unreferenced, until a VACUUM removes them.
    assert set(orphans) <= set(unreferenced_parquet(killed_table))


def _runs_holding_slots(home: Path) -> set[str]:
    """Runs of the instance at ``home`` that hold a concurrency pool slot."""
    instance = dg.DagsterInstance.from_config(str(home))
    storage = instance.event_log_storage
    return {
        slot.run_id
        for pool in storage.get_concurrency_keys()
        for slot in storage.get_concurrency_info(pool).claimed_slots
    }


GOLD_KEYS = {
    "gold/daily_kpi": ["date"],
    "gold/sales_performance": ["order_id", "order_date"],
    "gold/customer_360": ["customer_id"],
    "gold/unmatched_payments": ["payment_id", "payment_date"],
    "gold/financial_summary": ["month"],
    "gold/monthly_financial_report": ["month"],
    "gold/budget_vs_actual": ["department", "month"],
}


def assert_unique_gold_keys(lake: Path) -> None:
    for name, keys in GOLD_KEYS.items():
        rows = read_table(lake / name, columns=keys).to_pylist()
        found = [tuple(r[k] for k in keys) for r in rows]
        assert found, name
        assert len(found) == len(set(found)), f"{name}: duplicated {keys}"
