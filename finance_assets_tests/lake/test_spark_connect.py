"""The whole pipeline against a real Spark Connect server gives the tables local mode gives.

The server is PySpark's own (``sbin/start-connect-server.sh`` from the installed wheel), on
127.0.0.1. The pipeline runs as ``finance-assets materialize`` in a subprocess with
``FINANCE_SPARK_MODE=connect``: this test process already holds a local SparkContext, and a
Connect client in the same process would switch PySpark into remote mode for every test.
The pipeline's drops are small: the client parses them and sends the rows as Arrow. A large
drop is parsed by Python tasks on the server; a test parses the same drops both ways over
Connect and compares the rows.
"""

from __future__ import annotations

import subprocess
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


def client_env(connect_server) -> dict[str, str]:
    """A Connect client's environment. No Java: a client needs none, and any attempt to start
    a local Spark would fail instead of silently computing locally."""
    env = clean_env(FINANCE_SPARK_MODE="connect", FINANCE_SPARK_CONNECT_URL=connect_server.url)
    env.pop("JAVA_HOME", None)
    env["PATH"] = str(Path(sys.executable).parent)
    return env


@pytest.fixture(scope="module")
def connect_run(connect_server, tmp_path_factory, spark):
    landing, reference = reference_run(tmp_path_factory)
    root = tmp_path_factory.mktemp("spark-connect-run")
    env = client_env(connect_server)
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


PARSE_BOTH_WAYS = """
import sys
from datetime import date

from pyspark.sql import SparkSession

from finance_assets.bronze.transforms import read_landing
from finance_assets.contract import DATASETS
from finance_assets.landing.zone import list_files

spark = SparkSession.builder.remote(sys.argv[1]).getOrCreate()
landing, start, end = sys.argv[2], date.fromisoformat(sys.argv[3]), date.fromisoformat(sys.argv[4])
for dataset in DATASETS.values():
    files = list_files(landing, dataset.name, start, end)
    rows = {}
    for where, in_process in (("server tasks", False), ("client", True)):
        frame = read_landing(spark, files, dataset, in_process=in_process)
        rows[where] = sorted((tuple(r) for r in frame.collect()), key=repr)
    verdict = "same" if rows["server tasks"] == rows["client"] else "DIFFER"
    print(dataset.name, len(files), "files", len(rows["client"]), "rows", verdict)
"""


def test_drops_parsed_by_connect_server_tasks_give_the_rows_the_client_parses(
    connect_server, tmp_path_factory
):
    """A drop above ``FINANCE_LANDING_IN_PROCESS_BYTES`` is parsed by Python tasks on the
    server (mapInArrow over Connect), a small one in the client: the same rows, every
    dataset of the test's drops (dirty rows included)."""
    landing, _ = reference_run(tmp_path_factory)
    argv = [connect_server.url, str(landing), START.isoformat(), END.isoformat()]
    result = subprocess.run(
        [sys.executable, "-c", PARSE_BOTH_WAYS, *argv],
        env=client_env(connect_server),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-6000:]
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 4, result.stdout
    for line in lines:
        name, files, _, rows, _, verdict = line.split()
        assert int(files) > 0 and int(rows) > 0, line
        assert verdict == "same", line


WRITE_A_BACKFILL = """
import sys
from datetime import date, timedelta
from decimal import Decimal

from deltalake import DeltaTable
from pyspark.sql import SparkSession

from finance_assets.lake.delta import DeltaRsLake, PartitionRange

spark = SparkSession.builder.remote(sys.argv[1]).getOrCreate()
first = date(2024, 1, 1)
rows = [
    (i, Decimal(i) / 100, first + timedelta(days=i % 40), first + timedelta(days=i % 7))
    for i in range(200)
]
frame = spark.createDataFrame(
    rows, "id long, amount decimal(18,2), payment_date date, order_date date"
)
backfill = PartitionRange("payment_date", first, first + timedelta(days=39))
lake = DeltaRsLake(sys.argv[2])
lake.replace_partitions(frame, "t", backfill, partition_by=["payment_date", "order_date"])
table = DeltaTable(lake.table_uri("t")).to_pyarrow_table()
read = sorted(
    zip(*(table[c].to_pylist() for c in ("id", "amount", "payment_date", "order_date")))
)
print(len(lake.files("t")), "files", "same" if read == sorted(rows) else "DIFFER")
"""


def test_a_backfills_write_by_connect_server_tasks_keeps_every_row(
    connect_server, tmp_path_factory
):
    """A write of more partitions than a day's run is written by PyArrow in the server's
    tasks: over Connect too, every row lands in its payment day's and order day's folder."""
    lake = tmp_path_factory.mktemp("connect-backfill-write")
    result = subprocess.run(
        [sys.executable, "-c", WRITE_A_BACKFILL, connect_server.url, str(lake)],
        env=client_env(connect_server),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-6000:]
    files, _, verdict = result.stdout.split()
    # 200 rows, each its own (payment day, order day) pair: one file per partition
    assert (verdict, int(files)) == ("same", 200), result.stdout
