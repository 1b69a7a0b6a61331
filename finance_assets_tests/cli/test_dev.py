"""``make dev`` stops on Ctrl-C or SIGTERM within seconds, leaving no process behind.

``make dev`` is started as a terminal starts a foreground job (its own process group), serves
the code location of this ``dg`` project on a free loopback port, and runs one bronze
partition launched over GraphQL, so a run worker and its Spark JVM exist. Then either Ctrl-C
(SIGINT to the whole process group, as a terminal sends it) or SIGTERM to ``make`` alone (as a
process manager sends it), and every process it started, found by a marker in its
environment, must be gone within :data:`STOP_DEADLINE_S`.
"""

from __future__ import annotations

import os
import signal
import time
from datetime import date
from pathlib import Path

import pytest

from finance_assets.landing.generate import GenerateConfig, generate
from finance_assets_tests.support.dagster_dev import (
    LOCATION,
    DevServer,
    clean_environment,
    cmdline,
    is_jvm,
    make_dev_command,
    wait_for,
)

DAY = date(2024, 1, 2)
# dev's own clean-up: SIGTERM, then SIGKILL after 5 s; a little more for the kernel to reap.
STOP_DEADLINE_S = 8
JVM_TIMEOUT_S = 240

pytestmark = pytest.mark.slow


def _environment(tmp_path: Path) -> dict[str, str]:
    landing = tmp_path / "landing"
    generate(str(landing), GenerateConfig(start=DAY, end=DAY, orders_per_day=2))
    return clean_environment(
        DAGSTER_HOME=str(tmp_path / "dagster_home"),
        FINANCE_LANDING_URI=str(landing),
        FINANCE_LAKE_URI=str(tmp_path / "lake"),
        FINANCE_PARTITIONS_START=DAY.isoformat(),
        FINANCE_PARTITIONS_END=DAY.isoformat(),
        FINANCE_ALERT_LOG="off",
    )


def _send(dev: DevServer, how: str) -> None:
    if how == "ctrl-c":
        os.killpg(dev.process.pid, signal.SIGINT)
    else:
        os.kill(dev.process.pid, signal.SIGTERM)


@pytest.mark.parametrize("how", ["ctrl-c", "sigterm-to-make"])
def test_make_dev_stops_every_process_it_started(tmp_path, how):
    with DevServer(make_dev_command, _environment(tmp_path), tmp_path / "logs") as dev:
        assert dev.locations == [LOCATION]
        started = dev.processes()
        assert any(" dev " in f"{cmdline(pid)} " and "/dg " in cmdline(pid) for pid in started), (
            "dg dev is not running:\n" + dev.describe(started)
        )
        # The instance the UI serves is the one given in DAGSTER_HOME, set up by dev.
        assert (tmp_path / "dagster_home" / "dagster.yaml").is_file()

        run_id = dev.launch("daily_assets", [["bronze", "orders_raw"]], DAY.isoformat())
        jvms = wait_for(
            f"the Spark JVM of run {run_id}",
            lambda: [pid for pid in dev.processes() if is_jvm(pid)],
            JVM_TIMEOUT_S,
            dev.tail,
        )
        assert dev.run(run_id)["status"] in ("STARTING", "STARTED"), dev.run(run_id)
        before = dev.processes()

        signalled = time.monotonic()
        _send(dev, how)
        left = before
        while left and time.monotonic() - signalled < STOP_DEADLINE_S:
            time.sleep(0.1)
            left = dev.processes()
        took = time.monotonic() - signalled

        assert not left, (
            f"{len(left)} of {len(before)} processes still running {took:.1f} s after {how} "
            f"(JVMs were {jvms}):\n{dev.describe(left)}\n{dev.tail()}"
        )
        assert dev.process.wait(timeout=STOP_DEADLINE_S) != 0
