"""Runs at the same time, into the same lake.

Two ``finance-assets materialize`` processes start together on the same lake and Dagster
instance: on the same range, every table must afterwards equal what a single run produces
(Delta commits are atomic, each run replaces whole partitions, and each table's writes take
turns through its concurrency pool), with no duplicated key; a run that still loses a commit
race may fail, provided its message says so. On different days of the same tables, both must
succeed and the lake equal one run over both days. Below the CLI, two commits racing on the
same table: on other partitions both succeed, on the same ones the loser fails cleanly.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import dagster as dg
import pytest
from deltalake import DeltaTable

from finance_assets.automation.slots import SLOT_WATCH_SENSOR, hand_over_free_slots
from finance_assets.cli import main
from finance_assets.cli.instance import SlotWatch, open_instance
from finance_assets.definitions import load_definitions
from finance_assets.lake.arrow import read_table
from finance_assets.landing.generate import GenerateConfig, generate
from finance_assets_tests.support.lake_snapshot import snapshot

START, END = "2024-01-01", "2024-01-01"
RUNS_TIMEOUT_S = 900  # two one-day runs take two to five minutes, even on a busy machine
CONFLICT = re.compile(r"conflict|concurrent|commit failed|version \d+ already exists", re.I)


def child_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FINANCE_")}
    env.pop("DAGSTER_HOME", None)
    env.update(FINANCE_SPARK_SHUFFLE_PARTITIONS="2", FINANCE_SPARK_DRIVER_MEMORY="1g")
    return env


def run_together(tmp_path: Path, ranges: list[tuple[str, str]], lake: Path, landing: Path):
    """Start one ``finance-assets materialize`` process per range at once, on the same lake
    and Dagster instance (the working folder's ``.dagster_home``); (exit codes, outputs)."""
    processes = []
    for n, (start, end) in enumerate(ranges):
        log = open(tmp_path / f"run-{n}.log", "wb")  # noqa: SIM115 - closed below
        argv = ["materialize", "--landing", str(landing), "--lake", str(lake)]
        argv += ["--start", start, "--end", end]
        process = subprocess.Popen(
            [sys.executable, "-m", "finance_assets.cli", *argv],
            cwd=tmp_path,
            env=child_env(),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        processes.append((process, log))
    outcomes = []
    deadline = time.monotonic() + RUNS_TIMEOUT_S
    try:
        for process, _ in processes:
            outcomes.append(process.wait(timeout=max(1.0, deadline - time.monotonic())))
    except subprocess.TimeoutExpired:
        outcomes = None
    finally:
        for process, log in processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=60)
            log.close()
    logs = [(tmp_path / f"run-{n}.log").read_text(errors="replace") for n in range(len(ranges))]
    if outcomes is None:
        tails = "\n".join(f"--- run {n} ends:\n{text[-3000:]}" for n, text in enumerate(logs))
        pytest.fail(f"the runs did not finish within {RUNS_TIMEOUT_S} s\n{tails}")
    print(f"\nconcurrent runs exited with {outcomes}")
    for n, text in enumerate(logs):
        waits = [line for line in text.splitlines() if line.strip().startswith("waiting:")]
        print(f"run {n} waited for another run {len(waits)} time(s): {waits[:3]}")
    return outcomes, logs


@pytest.mark.slow
def test_same_partitions_twice_at_once_equal_a_single_run(spark, tmp_path: Path) -> None:
    """Both runs write the same partitions: each table's writes take turns (its concurrency
    pool); should a commit still race, the loser says a concurrent run won. Either way the
    lake equals one run's, no row lost or doubled."""
    landing = tmp_path / "landing"
    generate(str(landing), GenerateConfig(date(2024, 1, 1), date(2024, 1, 1), orders_per_day=25))

    single = tmp_path / "lake-single"
    args = ["--landing", str(landing), "--start", START, "--end", END]
    assert main(["materialize", *args, "--lake", str(single)]) == 0
    expected = snapshot(single)

    lake = tmp_path / "lake-shared"
    outcomes, logs = run_together(tmp_path, [(START, END), (START, END)], lake, landing)
    for n, (code, text) in enumerate(zip(outcomes, logs, strict=True)):
        if code:
            errors = [line for line in text.splitlines() if CONFLICT.search(line)]
            print(f"run {n} failed; conflict lines: {errors[:5]}")

    assert 0 in outcomes, "at least one of the two runs must succeed:\n" + "\n".join(
        t[-3000:] for t in logs
    )
    for code, text in zip(outcomes, logs, strict=True):
        if code:
            assert CONFLICT.search(text), (
                f"a failed run must say it lost a commit race:\n{text[-3000:]}"
            )
    assert snapshot(lake) == expected
    for name in expected:
        versions = DeltaTable(str(lake / name)).history()
        assert versions, name


@pytest.mark.slow
def test_different_days_of_the_same_tables_at_once_both_succeed(spark, tmp_path: Path) -> None:
    """Two runs of different days of the same tables at the same time both succeed, and the
    lake then equals one run over both days."""
    landing = tmp_path / "landing"
    first, second = date(2024, 1, 1), date(2024, 1, 2)
    generate(str(landing), GenerateConfig(first, second, orders_per_day=25))

    single = tmp_path / "lake-single"
    argv = ["materialize", "--landing", str(landing), "--lake", str(single)]
    assert main([*argv, "--start", str(first), "--end", str(second)]) == 0
    expected = snapshot(single)

    lake = tmp_path / "lake-shared"
    days = [(str(first), str(first)), (str(second), str(second))]
    outcomes, logs = run_together(tmp_path, days, lake, landing)

    assert outcomes == [0, 0], "both runs must succeed:\n" + "\n".join(t[-3000:] for t in logs)
    assert snapshot(lake) == expected


@pytest.mark.slow
def test_a_run_waits_while_another_run_writes_the_same_table(
    spark, tmp_path: Path, monkeypatch
) -> None:
    """A run holds the pool slot of bronze/orders: a CLI run of the same table says it waits,
    writes nothing to that table until the slot is free, then finishes."""
    import threading

    from finance_assets.cli.instance import open_instance
    from finance_assets.cli.progress import Progress
    from finance_assets.cli.runs import materialize
    from finance_assets.contract import ORDERS
    from finance_assets.lake import tables

    landing, lake, home = tmp_path / "landing", tmp_path / "lake", tmp_path / "home"
    generate(str(landing), GenerateConfig(date(2024, 1, 1), date(2024, 1, 1), orders_per_day=10))
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    instance = open_instance(home)
    storage = instance.event_log_storage
    pool = tables.bronze(ORDERS).pool
    storage.initialize_concurrency_limit_to_default(pool)
    assert storage.claim_concurrency_slot(pool, "another-run", "bronze__orders_raw").is_claimed

    waiting = threading.Event()

    class Output:
        def __init__(self):
            self.lines: list[str] = []

        def write(self, text: str) -> None:
            self.lines.append(text)
            if text.strip().startswith("waiting: bronze__orders_raw"):
                waiting.set()

        def flush(self) -> None:
            pass

    out = Output()
    outcomes = []
    day = date(2024, 1, 1)
    thread = threading.Thread(
        target=lambda: outcomes.append(
            materialize(str(landing), str(lake), day, day, progress=Progress(out))
        )
    )
    thread.start()
    try:
        assert waiting.wait(timeout=900), "".join(out.lines)
        assert "(another run is writing lake:bronze/orders)" in "".join(out.lines)
        assert not (lake / "bronze" / "orders" / "_delta_log").exists()
    finally:
        storage.free_concurrency_slots_for_run("another-run")
        thread.join(timeout=1200)
    (outcome,) = outcomes
    assert outcome.exit_code == 0, outcome
    assert read_table(str(lake / "bronze" / "orders")).num_rows > 0


def _race(spark, tmp_path: Path, monkeypatch, days: dict[str, int]):
    """Two writers replace one day each of a table holding 2024-01-01 and 02: both stage their
    files and load the table at the same version, then commit at the same moment (a barrier
    in front of their first commit). Returns (errors by writer, rows of the table after)."""
    import threading

    import deltalake

    from finance_assets.lake.delta import DeltaRsLake, PartitionRange

    lake = DeltaRsLake(str(tmp_path / "lake"))

    def frame(writer: str, days: tuple[int, ...]):
        rows = [(date(2024, 1, d), writer, n) for d in days for n in range(3)]
        return spark.createDataFrame(rows, "date date, writer string, n int")

    def where(first: int, last: int) -> PartitionRange:
        return PartitionRange("date", date(2024, 1, first), date(2024, 1, last))

    lake.replace_partitions(frame("initial", (1, 2)), "gold/race", where(1, 2))

    barrier = threading.Barrier(2, timeout=120)
    original = deltalake.DeltaTable.create_write_transaction
    first_attempt = threading.local()

    def commit_together(self, *args, **kwargs):
        if not getattr(first_attempt, "done", False):
            first_attempt.done = True
            barrier.wait()  # both loaded the same table version; now both commit
        return original(self, *args, **kwargs)

    monkeypatch.setattr(deltalake.DeltaTable, "create_write_transaction", commit_together)
    errors: dict[str, BaseException] = {}

    def write(writer: str) -> None:
        day = days[writer]
        try:
            lake.replace_partitions(frame(writer, (day,)), "gold/race", where(day, day))
        except BaseException as exc:  # recorded and asserted below
            errors[writer] = exc

    threads = [threading.Thread(target=write, args=(w,)) for w in days]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    monkeypatch.undo()
    return errors, read_table(lake.table_uri("gold/race")).to_pylist()


def test_two_commits_racing_on_the_same_partitions_one_wins_cleanly(
    spark, tmp_path: Path, monkeypatch
) -> None:
    """delta-rs rejects the loser; its error says a concurrent run replaced the same
    partitions and nothing of its write was committed. The table holds exactly one writer's
    rows, never both."""
    errors, rows = _race(spark, tmp_path, monkeypatch, {"A": 1, "B": 1})

    assert len(errors) == 1, f"exactly one writer must lose the race, got {errors}"
    ((loser, error),) = errors.items()
    print(f"\nlosing writer {loser}: {type(error).__name__}: {str(error).splitlines()[0]}")
    assert CONFLICT.search(str(error)), str(error)
    assert "gold/race" in str(error) and "not committed" in str(error)
    on_day_one = [r for r in rows if r["date"] == date(2024, 1, 1)]
    assert {r["writer"] for r in on_day_one} == ({"A", "B"} - {loser})
    assert len(on_day_one) == 3, "one writer's rows, no duplicates, nothing partial"
    assert sorted(r["writer"] for r in rows if r["date"] == date(2024, 1, 2)) == ["initial"] * 3


def test_two_commits_racing_on_other_partitions_both_succeed(
    spark, tmp_path: Path, monkeypatch
) -> None:
    """Different days of the same table at the same moment: the loser's commit is retried on
    top of the winner's, so both days hold their new rows, once."""
    errors, rows = _race(spark, tmp_path, monkeypatch, {"A": 1, "B": 2})

    assert not errors, errors
    by_day = sorted((r["date"].day, r["writer"], r["n"]) for r in rows)
    assert by_day == [(1, "A", n) for n in range(3)] + [(2, "B", n) for n in range(3)]


def test_a_step_queued_while_its_slot_was_freed_is_handed_the_slot(tmp_path: Path) -> None:
    """The lost hand-over: run A frees a table's slot just before run B's step joins the
    queue, so freeing gave it to nobody and B would wait for ever on a free slot. The CLI's
    slot watch hands it over; a slot that is held stays held."""
    instance = open_instance(tmp_path / "home")
    storage = instance.event_log_storage
    pool = "lake:silver/payments"
    storage.initialize_concurrency_limit_to_default(pool)
    assert storage.claim_concurrency_slot(pool, "run-a", "validate_payments").is_claimed
    storage.free_concurrency_slot_for_step("run-a", "validate_payments")
    storage.add_pending_step(pool, "run-b", "validate_payments")  # queued after the freeing
    assert not storage.claim_concurrency_slot(pool, "run-b", "validate_payments").is_claimed

    assert hand_over_free_slots(instance) == [pool]
    assert storage.claim_concurrency_slot(pool, "run-b", "validate_payments").is_claimed
    assert not storage.claim_concurrency_slot(pool, "run-c", "validate_payments").is_claimed
    assert hand_over_free_slots(instance) == []  # B holds it: C waits its turn
    assert not storage.claim_concurrency_slot(pool, "run-c", "validate_payments").is_claimed
    storage.free_concurrency_slot_for_step("run-b", "validate_payments")
    assert storage.claim_concurrency_slot(pool, "run-c", "validate_payments").is_claimed


def test_the_daemons_slot_watch_sensor_hands_a_free_slot_over(tmp_path: Path) -> None:
    """Runs the daemon launches have no CLI slot watch: the sensor hands the slot over."""
    sensor = load_definitions().get_sensor_def(SLOT_WATCH_SENSOR)
    assert sensor.default_status == dg.DefaultSensorStatus.RUNNING
    instance = open_instance(tmp_path / "home")
    storage = instance.event_log_storage
    pool = "lake:gold/daily_kpi"
    storage.initialize_concurrency_limit_to_default(pool)
    storage.add_pending_step(pool, "run-b", "daily_kpi")  # a free slot, nobody handed it
    assert not storage.claim_concurrency_slot(pool, "run-b", "daily_kpi").is_claimed

    result = sensor(dg.build_sensor_context(instance=instance))
    assert "1 pool" in result.skip_message
    assert storage.claim_concurrency_slot(pool, "run-b", "daily_kpi").is_claimed
    result = sensor(dg.build_sensor_context(instance=instance))
    assert result.skip_message == "no step waits on a free slot"


def test_the_slot_watch_hands_over_while_a_run_executes(tmp_path: Path) -> None:
    instance = open_instance(tmp_path / "home")
    storage = instance.event_log_storage
    pool = "lake:gold/customer_360"
    storage.initialize_concurrency_limit_to_default(pool)
    storage.add_pending_step(pool, "run-b", "customer_360")  # a free slot, nobody handed it
    with SlotWatch(instance, seconds=0.05):
        deadline = time.monotonic() + 30
        while not storage.claim_concurrency_slot(pool, "run-b", "customer_360").is_claimed:
            assert time.monotonic() < deadline, "the watch never handed the free slot over"
            time.sleep(0.05)
