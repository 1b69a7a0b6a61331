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
