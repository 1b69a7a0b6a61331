"""The same partitions materialized twice at the same time, into the same lake.

Two ``finance-assets materialize`` processes start together on the same range and lake.
Afterwards every table must equal what a single run produces (Delta commits are atomic and
each run replaces whole partitions), with no duplicated key. A run that loses a commit race
may fail, provided its message says so clearly; the test prints what happened.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest
from deltalake import DeltaTable

from finance_assets.cli import main
from finance_assets.lake.arrow import read_table
from finance_assets.landing.generate import GenerateConfig, generate
from finance_assets_tests.support.lake_snapshot import snapshot

START, END = "2024-01-01", "2024-01-01"
CONFLICT = re.compile(r"conflict|concurrent|commit failed|version \d+ already exists", re.I)


def child_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FINANCE_")}
    env.pop("DAGSTER_HOME", None)
    env.update(FINANCE_SPARK_SHUFFLE_PARTITIONS="2", FINANCE_SPARK_DRIVER_MEMORY="1g")
    return env


@pytest.mark.slow
def test_same_partitions_twice_at_once_equal_a_single_run(spark, tmp_path: Path) -> None:
    landing = tmp_path / "landing"
    generate(str(landing), GenerateConfig(date(2024, 1, 1), date(2024, 1, 1), orders_per_day=25))
    args = ["--landing", str(landing), "--start", START, "--end", END]

    single = tmp_path / "lake-single"
    assert main(["materialize", *args, "--lake", str(single)]) == 0
    expected = snapshot(single)

    lake = tmp_path / "lake-shared"
    processes = []
    for n in range(2):
        log = open(tmp_path / f"run-{n}.log", "wb")  # noqa: SIM115 - closed below
        processes.append(
            (
                subprocess.Popen(
                    [
                        sys.executable,
                        "-m",
                        "finance_assets.cli",
                        "materialize",
                        *args,
                        "--lake",
                        str(lake),
                    ],
                    cwd=tmp_path,
                    env=child_env(),
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    start_new_session=True,
                ),
                log,
            )
        )
    outcomes = []
    try:
        for process, log in processes:
            outcomes.append(process.wait(timeout=1200))
            log.close()
    finally:
        for process, _ in processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=60)
    logs = [(tmp_path / f"run-{n}.log").read_text(errors="replace") for n in range(2)]
    print(f"\nconcurrent runs exited with {outcomes}")
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


def test_two_commits_racing_on_the_same_partitions_one_wins_cleanly(
    spark, tmp_path: Path, monkeypatch
) -> None:
    """Force the race the two processes above may or may not hit: both writers stage their
    files, load the table at the same version, then commit at the same moment. delta-rs must
    reject the loser with a clear conflict, and the table must hold exactly one writer's
    rows, never both."""
    import threading
    from datetime import date as day

    import deltalake

    from finance_assets.lake.delta import DeltaRsLake, PartitionRange

    lake = DeltaRsLake(str(tmp_path / "lake"))
    where = PartitionRange("date", day(2024, 1, 1), day(2024, 1, 2))

    def frame(writer: str):
        rows = [(day(2024, 1, d), writer, n) for d in (1, 2) for n in range(3)]
        return spark.createDataFrame(rows, "date date, writer string, n int")

    lake.replace_partitions(frame("initial"), "gold/race", where)

    barrier = threading.Barrier(2, timeout=120)
    original = deltalake.DeltaTable.create_write_transaction

    def commit_together(self, *args, **kwargs):
        barrier.wait()  # both loaded the same table version; now both commit
        return original(self, *args, **kwargs)

    monkeypatch.setattr(deltalake.DeltaTable, "create_write_transaction", commit_together)
    errors: dict[str, BaseException] = {}

    def write(writer: str) -> None:
        try:
            lake.replace_partitions(frame(writer), "gold/race", where)
        except BaseException as exc:  # recorded and asserted below
            errors[writer] = exc

    threads = [threading.Thread(target=write, args=(w,)) for w in ("A", "B")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    monkeypatch.undo()

    assert len(errors) == 1, f"exactly one writer must lose the race, got {errors}"
    ((loser, error),) = errors.items()
    print(f"\nlosing writer {loser}: {type(error).__name__}: {str(error).splitlines()[0]}")
    assert CONFLICT.search(str(error)), str(error)
    rows = read_table(lake.table_uri("gold/race")).to_pylist()
    winners = {r["writer"] for r in rows}
    assert winners == ({"A", "B"} - {loser}), winners
    assert len(rows) == 6, "one writer's rows, no duplicates, nothing partial"
