"""The whole pipeline on a standalone Spark cluster gives the tables local mode gives.

One master and two workers (1 core, 1 GiB each) from PySpark's own distribution
(``bin/spark-class org.apache.spark.deploy.master.Master`` / ``...worker.Worker``), all on
127.0.0.1. The driver is ``finance-assets materialize`` in a subprocess with
``FINANCE_SPARK_MASTER=spark://...`` (this test process already holds a local
SparkContext); bronze parsing, Parquet writes and every query run on the two executors.
"""

from __future__ import annotations

import time

import pytest

from finance_assets_tests.support.spark_servers import (
    END,
    GOLD_AND_SILVER,
    START,
    _alive,
    cluster_env,
    compare_lakes,
    is_loopback,
    listening_addresses,
    reference_run,
    run_materialize,
    standalone_cluster,
)

pytestmark = [pytest.mark.slow, pytest.mark.cluster]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("spark-cluster")
    with standalone_cluster(workdir, workers=2) as running:
        yield running
    left = [pid for pid in running.pids if _alive(pid)]
    assert left == [], f"cluster processes outlived the fixture: {left}"


@pytest.fixture(scope="module")
def cluster_run(cluster, tmp_path_factory, spark):
    landing, reference = reference_run(tmp_path_factory)
    root = tmp_path_factory.mktemp("spark-cluster-run")
    started = time.monotonic()
    result = run_materialize(landing, root / "lake", START, END, cluster_env(cluster), cwd=root)
    print(f"cluster-mode materialize: {time.monotonic() - started:.0f} s")
    return result, reference, root / "lake"


def test_pipeline_on_a_standalone_cluster_matches_local_mode(cluster_run, cluster):
    result, reference, lake = cluster_run
    output = f"stdout:\n{result.stdout}\nstderr:\n{result.stderr[-6000:]}"
    assert result.returncode == 0, output
    assert "All blocking checks passed." in result.stdout, output

    problems = compare_lakes(reference, lake, GOLD_AND_SILVER)
    assert problems == [], "\n".join(problems)


def test_the_work_ran_on_both_workers(cluster_run, cluster):
    result, _, _ = cluster_run
    assert result.returncode == 0
    apps = cluster.registered_apps()
    assert len(apps) == 1, apps  # the CLI's one session, across its daily and monthly runs
    workdir = cluster.master_log.parent.parent
    for worker in ("worker-0", "worker-1"):
        executors = list((workdir / worker / apps[0]).glob("*/stderr"))
        assert executors, f"{worker} ran no executor for {apps[0]}"


def test_cluster_listens_on_loopback_only(cluster):
    for pid in cluster.pids:
        listening = listening_addresses(pid)
        assert listening, f"process {pid} listens nowhere"
        exposed = [(a, p) for a, p in listening if not is_loopback(a)]
        assert exposed == [], f"process {pid} listens beyond loopback: {exposed}"
