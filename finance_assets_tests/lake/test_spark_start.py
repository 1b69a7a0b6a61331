"""A command starts its local session early, on a thread of its own: the first step that asks
for the session gets that one session, configured as the resource would configure it."""

from __future__ import annotations

import json
import subprocess
import sys

from finance_assets.lake.spark import start_session_early
from finance_assets.settings import Settings
from finance_assets_tests.support.spark_servers import clean_env

STARTED_THEN_ASKED = """
import json
import threading

from pyspark import SparkContext

from finance_assets.lake.spark import build_session, spark_config, start_session_early
from finance_assets.settings import Settings

settings = Settings.load()
remote = [
    start_session_early(settings.with_overrides(spark_mode="connect")),
    start_session_early(settings.with_overrides(spark_master="spark://127.0.0.1:7077")),
]
early = start_session_early(settings)
assert early is not None
assert start_session_early(settings) is early  # one start per process
asked = build_session("local", spark_config(settings))  # what the first step does
early.wait()
print(json.dumps({
    "remote": [r is not None for r in remote],
    "seconds": early.seconds,
    "same_context": asked.sparkContext is SparkContext._active_spark_context,
    "contexts": 1 if SparkContext._active_spark_context is not None else 0,
    "time_zone": asked.conf.get("spark.sql.session.timeZone"),
    "file_listing": asked.conf.get("spark.sql.sources.parallelPartitionDiscovery.threshold"),
    "master": asked.sparkContext.master,
    "rows": asked.range(5).count(),
    "threads": sorted(t.name for t in threading.enumerate() if t.name == "spark-start"),
}))
"""


def _python(script: str, tmp_path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", script],
        env=clean_env(FINANCE_SPARK_MASTER="local[1]"),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_a_session_started_early_is_the_one_the_first_step_gets(tmp_path):
    result = _python(STARTED_THEN_ASKED, tmp_path)
    assert result.returncode == 0, result.stderr[-6000:]
    found = json.loads(result.stdout.strip().splitlines()[-1])
    assert found["remote"] == [False, False]  # remote sessions open when first asked
    assert found["seconds"] > 0
    assert found["same_context"] and found["contexts"] == 1
    assert found["master"] == "local[1]"
    assert found["time_zone"] == "UTC"
    assert found["file_listing"] == "1000000"
    assert found["rows"] == 5
    assert found["threads"] == []  # the thread ended once the session was open


STARTED_BY_THE_COMMAND = """
import json
import sys

from finance_assets import cli
from finance_assets.lake import spark

cli.start_spark_early()
imported = sorted(m for m in sys.modules if m.split(".")[0].startswith("dagster"))
started = spark._early_start is not None
spark._early_start.wait()
print(json.dumps({"dagster_modules": imported, "started": started}))
"""

COMMAND_WITHOUT_A_LAKE = """
import sys

from finance_assets import cli
from finance_assets.lake import spark

code = cli.main(["materialize", "--start", "2024-01-01", "--end", "2024-01-01", "--quiet"])
assert code == 2, code  # a usage error: --landing and --lake missing
assert spark._early_start is not None  # the session was started before anything else
"""


def test_materialize_starts_the_session_before_dagster_is_imported(tmp_path):
    """The JVM starts while the command imports Dagster and the definitions (seconds of a
    fresh process): what starts it imports neither."""
    result = _python(STARTED_BY_THE_COMMAND, tmp_path)
    assert result.returncode == 0, result.stderr[-6000:]
    found = json.loads(result.stdout.strip().splitlines()[-1])
    assert found == {"dagster_modules": [], "started": True}
    result = _python(COMMAND_WITHOUT_A_LAKE, tmp_path)
    assert result.returncode == 0, result.stderr[-6000:]
    assert "--landing and --lake not given" in result.stderr


def test_nothing_is_started_early_when_the_session_is_open(spark):
    assert start_session_early(Settings.load()) is None
