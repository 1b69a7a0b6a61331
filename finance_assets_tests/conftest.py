"""Shared fixtures: one local Spark session per test process, small data, temp lakes."""

from __future__ import annotations

import os
import tempfile
import warnings

# Set before Spark starts: its Python workers inherit the environment of the JVM.
os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
os.environ.setdefault("FINANCE_SPARK_SHUFFLE_PARTITIONS", "2")
os.environ.setdefault("FINANCE_SPARK_DRIVER_MEMORY", "2g")
# CLI runs record themselves in a Dagster instance: the tests' own, never the checkout's.
os.environ["DAGSTER_HOME"] = tempfile.mkdtemp(prefix="finance-assets-tests-dagster-")

import pytest  # noqa: E402

warnings.filterwarnings("ignore", category=FutureWarning, module="pyspark")

# The modules that take minutes (whole pipelines in real processes), longest first: with
# `pytest -n 2` they start before the short ones, so no worker is left with one at the end.
LONG_MODULES = (
    "contract/test_run_order.py",
    "deployment/test_docker_deploy.py",
    "reliability/test_concurrent.py",
    "benchmarks/test_baselines.py",
    "lake/test_spark_cluster.py",
    "contract/test_generated_range.py",
    "analytics/test_explain.py",
    "ui/test_browser.py",
    "reliability/test_s3_faults.py",
    "lake/test_spark_connect.py",
    "defs/test_backfills.py",
    "defs/test_landing_safety.py",
    "reliability/test_hostile.py",
    "landing/test_zone_s3.py",
    "reliability/test_kill.py",
    "cli/test_runs.py",
    "defs/test_column_lineage.py",
    "lake/test_maintenance.py",
    "checks/test_reconcile.py",
    "contract/test_gold_contract.py",
)
# Modules that share a session-wide fixture run in one worker, so it is built once.
SHARED_FIXTURE_GROUPS = {
    "analytics/test_explain.py": "audit_lake",
    "analytics/test_drilldown.py": "audit_lake",
    "gold/test_audit.py": "audit_lake",
    "cli/test_closing.py": "audit_lake",
}


def _module(nodeid: str) -> str:
    return nodeid.split("::", 1)[0].removeprefix("finance_assets_tests/")


def pytest_collection_modifyitems(items):
    """The long modules first (the tests of a module keep their order)."""

    def rank(item) -> int:
        name = _module(item.nodeid)
        return LONG_MODULES.index(name) if name in LONG_MODULES else len(LONG_MODULES)

    items.sort(key=rank)


@pytest.hookimpl(tryfirst=True)
def pytest_xdist_make_scheduler(config, log):
    """Each worker of ``pytest -n`` runs whole modules (a module's fixtures are built once),
    the modules of one shared session fixture together, in collection order."""
    from xdist.scheduler import LoadScopeScheduling

    class ModuleScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            module = _module(nodeid)
            return SHARED_FIXTURE_GROUPS.get(module, module)

    return ModuleScheduling(config, log)


@pytest.fixture(scope="session")
def spark():
    """The process-wide SparkSession, shared with every Dagster run the tests start."""
    from finance_assets.lake import class_archive
    from finance_assets.lake.spark import build_session, local_spark_config

    archive = class_archive.java_options()  # the one make test built, when it is there
    session = build_session("local", local_spark_config("local[2]", "2g", 2, None, archive))
    yield session


@pytest.fixture
def lake_dir(tmp_path):
    return tmp_path / "lake"


@pytest.fixture
def landing_dir(tmp_path):
    return tmp_path / "landing"


@pytest.fixture(autouse=True)
def environment_is_left_as_found():
    """A test that leaves DAGSTER_HOME changed breaks every later run in the process."""
    before = os.environ.get("DAGSTER_HOME")
    yield
    assert os.environ.get("DAGSTER_HOME") == before, "this test leaked DAGSTER_HOME"


@pytest.fixture(scope="session")
def audit_lake(spark, tmp_path_factory):
    """A small lake that went through a late payment, a close, a run against the closed
    month and a reopen (``support/audit_lake.py``); shared by the audit tests."""
    from finance_assets_tests.support.audit_lake import build

    return build(tmp_path_factory.mktemp("audit"))
