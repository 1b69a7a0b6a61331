"""The whole pipeline against a real Spark Connect server gives the tables local mode gives.

The server is PySpark's own (``sbin/start-connect-server.sh`` from the installed wheel), on
127.0.0.1. The pipeline runs as ``finance-assets materialize`` in a subprocess with
``FINANCE_SPARK_MODE=connect``: this test process already holds a local SparkContext, and a
Connect client in the same process would switch PySpark into remote mode for every test.
The test's drops are small: the client parses them and sends the rows as Arrow (the
standalone-cluster test parses on executors).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest

from finance_assets_tests.support.spark_servers import (
    END,
    GOLD_AND_SILVER,
    START,
    _alive,
    clean_env,
    compare_lakes,
    is_loopback,
    listening_addresses,
    reference_run,
    run_materialize,
    spark_connect_server,
)

pytestmark = [pytest.mark.slow, pytest.mark.cluster]


@pytest.fixture(scope="module")
def connect_server(tmp_path_factory):
    with spark_connect_server(tmp_path_factory.mktemp("spark-connect-server")) as server:
        yield server
    assert not _alive(server.pid), "the Spark Connect server outlived its fixture"


@pytest.fixture(scope="module")
def connect_run(connect_server, tmp_path_factory, spark):
    landing, reference = reference_run(tmp_path_factory)
    root = tmp_path_factory.mktemp("spark-connect-run")
    env = clean_env(FINANCE_SPARK_MODE="connect", FINANCE_SPARK_CONNECT_URL=connect_server.url)
    # No Java for the client: a Connect client needs none, and any attempt to start a local
    # Spark would fail instead of silently computing locally.
    env.pop("JAVA_HOME", None)
    env["PATH"] = str(Path(sys.executable).parent)
    started = time.monotonic()
    result = run_materialize(landing, root / "lake", START, END, env, cwd=root)
    print(f"connect-mode materialize: {time.monotonic() - started:.0f} s")
    return result, reference, root / "lake"


def test_pipeline_over_spark_connect_matches_local_mode(connect_run):
    result, reference, lake = connect_run
    output = f"stdout:\n{result.stdout}\nstderr:\n{result.stderr[-6000:]}"
    assert result.returncode == 0, output
    assert "All blocking checks passed." in result.stdout, output

    problems = compare_lakes(reference, lake, GOLD_AND_SILVER, frozenset())
    assert problems == [], "\n".join(problems)


def test_connect_server_listens_on_loopback_only(connect_server):
    listening = listening_addresses(connect_server.pid)
    assert any(port == connect_server.port for _, port in listening), listening
    exposed = [(a, p) for a, p in listening if not is_loopback(a)]
    assert exposed == [], f"Spark Connect server listens beyond loopback: {exposed}"
