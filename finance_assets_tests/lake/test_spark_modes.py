"""Spark modes up to the network boundary: configuration, session construction, errors.

No Databricks workspace is reachable from here, so databricks mode is tested with a stand-in
``databricks.connect`` module that only records what the product hands to
``DatabricksSession.builder`` (the network boundary) and can fail the way the real one does.
Every error must name the setting to fix and never contain a credential.
"""

from __future__ import annotations

import logging
import subprocess
import sys
import time
import types
from datetime import date
from pathlib import Path

import dagster as dg
import pytest

from finance_assets.defs.resources import LAKE, LANDING, SPARK, build_resources
from finance_assets.lake.delta import PartitionRange, SparkDeltaLake
from finance_assets.lake.resources import LakeResource, SparkResource, UnityCatalogLakeResource
from finance_assets.lake.spark import (
    CONNECT_SESSION_DEFAULTS,
    DATABRICKS_SESSION_DEFAULTS,
    SparkConfigError,
    build_session,
    databricks_target,
    mask_secrets,
    parse_connect_url,
    probe_standalone_master,
    session_config,
)
from finance_assets.settings import ConfigError, Settings
from finance_assets_tests.support.spark_servers import clean_env, console_script, free_port

TOKEN = "dapi0123456789abcdef0123456789abcd"
SECRET = "oauth-client-secret-value-42"
DATABRICKS_VARS = (
    "DATABRICKS_HOST",
    "DATABRICKS_TOKEN",
    "DATABRICKS_CLIENT_ID",
    "DATABRICKS_CLIENT_SECRET",
    "DATABRICKS_CONFIG_PROFILE",
    "DATABRICKS_CLUSTER_ID",
    "DATABRICKS_SERVERLESS_COMPUTE_ID",
    "DATABRICKS_RUNTIME_VERSION",
)
HOST = "https://dbc-1234abcd-5678.cloud.databricks.com"


def _settings(**changes) -> Settings:
    return Settings.load(**{"landing_uri": "landing", "lake_uri": "lake", **changes})


@pytest.fixture
def databricks_env(monkeypatch):
    """A clean slate of DATABRICKS_* variables; returns a setter."""
    for name in DATABRICKS_VARS:
        monkeypatch.delenv(name, raising=False)

    def set_env(**values: str) -> None:
        for name, value in values.items():
            monkeypatch.setenv(name, value)

    return set_env


# --- one resource key, one asset code, three modes ----------------------------------------


@pytest.mark.parametrize(
    ("mode", "extra", "engine"),
    [
        ("local", {}, "delta-rs"),
        ("connect", {"spark_connect_url": "sc://127.0.0.1:15002"}, "delta-rs"),
        ("databricks", {}, "spark-delta"),
    ],
)
def test_every_mode_has_the_same_resource_keys_and_types(mode, extra, engine):
    resources = build_resources(_settings(spark_mode=mode, **extra))

    assert set(resources) == {SPARK, LAKE, LANDING}
    assert isinstance(resources[SPARK], SparkResource)
    assert resources[SPARK].mode == mode
    assert isinstance(resources[LAKE], LakeResource)
    assert resources[LAKE].engine == engine


def test_local_mode_configures_the_whole_session_and_remote_modes_only_sql_settings():
    local = build_resources(_settings(spark_master="spark://127.0.0.1:7077"))[SPARK].spark_config
    assert local["spark.master"] == "spark://127.0.0.1:7077"
    assert local["spark.sql.session.timeZone"] == "UTC"
    assert local["spark.pyspark.python"]  # executors run an interpreter with this package

    connect = build_resources(_settings(spark_mode="connect", spark_connect_url="sc://h:1"))
    assert connect[SPARK].spark_config == CONNECT_SESSION_DEFAULTS
    databricks = build_resources(_settings(spark_mode="databricks"))
    assert databricks[SPARK].spark_config == DATABRICKS_SESSION_DEFAULTS
    assert session_config("connect") == CONNECT_SESSION_DEFAULTS


def test_extra_spark_settings_come_from_finance_spark_conf(monkeypatch):
    monkeypatch.setenv(
        "FINANCE_SPARK_CONF",
        "spark.executor.memory=512m; spark.executor.extraJavaOptions=-Da=b -Dc=d\n"
        "spark.pyspark.python=/opt/python/bin/python3",
    )
    settings = Settings.load()
    assert settings.extra_spark_conf == {
        "spark.executor.memory": "512m",
        "spark.executor.extraJavaOptions": "-Da=b -Dc=d",
        "spark.pyspark.python": "/opt/python/bin/python3",
    }
    config = build_resources(settings.with_overrides(spark_mode="local"))[SPARK].spark_config
    assert config["spark.executor.memory"] == "512m"
    assert config["spark.pyspark.python"] == "/opt/python/bin/python3"


def test_a_bad_finance_spark_conf_entry_names_the_variable(monkeypatch):
    monkeypatch.setenv("FINANCE_SPARK_CONF", "executor.memory 2g")
    with pytest.raises(ValueError, match="FINANCE_SPARK_CONF"):
        Settings.load()


def test_definitions_load_in_databricks_mode_without_credentials(databricks_env):
    """The webserver and daemon load the code location; only runs need workspace access."""
    from finance_assets.definitions import load_definitions

    defs = load_definitions(_settings(spark_mode="databricks", lake_uri="s3://bucket/lake"))
    assert defs.resolve_asset_graph().get(dg.AssetKey(["gold", "daily_kpi"]))


# --- configuration errors name the setting -------------------------------------------------


def test_an_unknown_mode_names_finance_spark_mode():
    with pytest.raises(ConfigError, match="FINANCE_SPARK_MODE='cluster'"):
        build_resources(_settings(spark_mode="cluster"))


def test_connect_mode_without_a_url_names_finance_spark_connect_url():
    with pytest.raises(SparkConfigError, match="FINANCE_SPARK_CONNECT_URL"):
        build_resources(_settings(spark_mode="connect"))


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        (f"https://spark.example.com:443/;token={TOKEN}", "must start with sc://"),
        (f"spark.example.com:15002/;token={TOKEN}", "must start with sc://"),
        (f"sc://:15002/;token={TOKEN}", "has no host"),
        (f"sc://spark.example.com:port/;token={TOKEN}", "port that is not a number"),
        (f"sc://spark.example.com:99999/;token={TOKEN}", "out of range"),
    ],
)
def test_a_malformed_connect_url_is_rejected_without_showing_its_token(url, problem):
    with pytest.raises(SparkConfigError, match=problem) as raised:
        parse_connect_url(url)
    assert "FINANCE_SPARK_CONNECT_URL" in str(raised.value)
    assert TOKEN not in str(raised.value)


def test_a_connect_url_defaults_to_port_15002_and_hides_its_parameters():
    target = parse_connect_url(f"sc://spark.example.com/;token={TOKEN};use_ssl=true")
    assert (target.host, target.port) == ("spark.example.com", 15002)
    assert target.display == "sc://spark.example.com:15002"
    assert TOKEN not in repr(target)


def test_an_unreachable_connect_server_fails_fast_naming_the_url_setting(caplog):
    url = f"sc://127.0.0.1:{free_port()}/;token={TOKEN}"  # nothing listens there
    caplog.set_level(logging.DEBUG)
    started = time.monotonic()
    with pytest.raises(SparkConfigError) as raised:
        build_session("connect", dict(CONNECT_SESSION_DEFAULTS), url)
    message = str(raised.value)
    assert time.monotonic() - started < 15  # the gRPC client alone retries for minutes
    assert "not reachable" in message and "FINANCE_SPARK_CONNECT_URL" in message
    assert TOKEN not in message and TOKEN not in caplog.text


def test_an_unreachable_standalone_master_fails_fast_naming_finance_spark_master():
    started = time.monotonic()
    with pytest.raises(SparkConfigError, match="No Spark master answers .*FINANCE_SPARK_MASTER"):
        probe_standalone_master(f"spark://127.0.0.1:{free_port()}")
    assert time.monotonic() - started < 15
    with pytest.raises(SparkConfigError, match="FINANCE_SPARK_MASTER=.* is not spark://host:port"):
        probe_standalone_master("spark://spark-master")
    probe_standalone_master("local[2]")  # nothing to check for an embedded master


def test_a_connect_url_from_the_environment_is_never_part_of_the_resource_config(monkeypatch):
    url = f"sc://spark.example.com:443/;token={TOKEN};use_ssl=true"
    monkeypatch.setenv("FINANCE_SPARK_CONNECT_URL", url)
    resource = build_resources(Settings.load().with_overrides(spark_mode="connect"))[SPARK]
    assert TOKEN not in repr(resource)
    assert isinstance(resource.connect_url, dg.EnvVar)


def test_the_cli_reports_connect_misconfiguration_without_a_traceback_or_a_token(tmp_path):
    """Missing or unreachable URL: exit 2 before any run starts, no traceback, token hidden."""
    base = clean_env(FINANCE_SPARK_MODE="connect")
    argv = [console_script(), "materialize", "--landing", str(tmp_path / "landing")]
    argv += ["--lake", str(tmp_path / "lake"), "--start", "2024-01-01", "--end", "2024-01-01"]

    missing = subprocess.run(argv, env=base, capture_output=True, text=True, timeout=300)
    assert missing.returncode == 2, missing.stderr
    assert "finance-assets: error:" in missing.stderr
    assert "FINANCE_SPARK_CONNECT_URL" in missing.stderr
    assert "Traceback" not in missing.stderr

    unreachable = {
        **base,
        "FINANCE_SPARK_CONNECT_URL": f"sc://127.0.0.1:{free_port()}/;token={TOKEN}",
    }
    (tmp_path / "landing").mkdir()
    failed = subprocess.run(argv, env=unreachable, capture_output=True, text=True, timeout=300)
    assert failed.returncode == 2, failed.stderr
    assert "finance-assets: error:" in failed.stderr and "is not reachable" in failed.stderr
    assert "FINANCE_SPARK_CONNECT_URL" in failed.stderr and "Traceback" not in failed.stderr
    assert TOKEN not in failed.stdout + failed.stderr


# --- databricks mode: configuration -------------------------------------------------------


def test_databricks_with_token_and_cluster(databricks_env):
    databricks_env(DATABRICKS_HOST=HOST, DATABRICKS_TOKEN=TOKEN, DATABRICKS_CLUSTER_ID="0123-abc")
    target = databricks_target()
    assert (target.host, target.token, target.cluster_id) == (HOST, TOKEN, "0123-abc")
    assert not target.serverless
    assert TOKEN not in repr(target)


def test_databricks_serverless_with_a_service_principal(databricks_env):
    databricks_env(
        DATABRICKS_HOST=HOST,
        DATABRICKS_CLIENT_ID="sp-id",
        DATABRICKS_CLIENT_SECRET=SECRET,
        DATABRICKS_SERVERLESS_COMPUTE_ID="auto",
    )
    target = databricks_target()
    assert target.serverless and target.token is None and target.cluster_id is None


def test_databricks_profile_needs_no_host_or_token(databricks_env):
    databricks_env(DATABRICKS_CONFIG_PROFILE="prod")
    assert databricks_target().profile == "prod"


def test_on_databricks_compute_the_runtime_session_is_used(databricks_env):
    databricks_env(DATABRICKS_RUNTIME_VERSION="15.4")
    assert databricks_target().in_runtime


@pytest.mark.parametrize(
    ("env", "names"),
    [
        ({"DATABRICKS_TOKEN": TOKEN, "DATABRICKS_CLUSTER_ID": "c"}, ["DATABRICKS_HOST"]),
        ({"DATABRICKS_HOST": HOST, "DATABRICKS_CLUSTER_ID": "c"}, ["DATABRICKS_TOKEN"]),
        ({}, ["DATABRICKS_HOST", "DATABRICKS_TOKEN", "DATABRICKS_CONFIG_PROFILE"]),
        (
            {"DATABRICKS_HOST": HOST, "DATABRICKS_TOKEN": TOKEN},
            ["DATABRICKS_CLUSTER_ID", "DATABRICKS_SERVERLESS_COMPUTE_ID=auto"],
        ),
        (
            {
                "DATABRICKS_HOST": HOST,
                "DATABRICKS_TOKEN": TOKEN,
                "DATABRICKS_CLUSTER_ID": "c",
                "DATABRICKS_SERVERLESS_COMPUTE_ID": "auto",
            },
            ["either DATABRICKS_CLUSTER_ID", "not both"],
        ),
        (
            {
                "DATABRICKS_HOST": HOST,
                "DATABRICKS_TOKEN": TOKEN,
                "DATABRICKS_SERVERLESS_COMPUTE_ID": "yes",
            },
            ["DATABRICKS_SERVERLESS_COMPUTE_ID must be 'auto'"],
        ),
        (
            {
                "DATABRICKS_HOST": "http://dbc.example.com",
                "DATABRICKS_TOKEN": TOKEN,
                "DATABRICKS_CLUSTER_ID": "c",
            },
            ["DATABRICKS_HOST must be the workspace URL"],
        ),
    ],
)
def test_databricks_misconfiguration_names_the_variable_and_never_the_token(
    databricks_env, env, names
):
    databricks_env(**env)
    with pytest.raises(SparkConfigError) as raised:
        databricks_target()
    for name in names:
        assert name in str(raised.value)
    assert TOKEN not in str(raised.value)


# --- databricks mode: session construction at the network boundary -------------------------


class _Recorder:
    """Stands in for ``databricks.connect``: records the builder calls, returns a fake session."""

    def __init__(self, fail_with: Exception | None = None):
        self.calls: list[tuple] = []
        self.conf: dict[str, str] = {}
        self.fail_with = fail_with
        recorder = self

        class Builder:
            def __getattr__(self, name):
                def record(*args):
                    recorder.calls.append((name, *args))
                    return self

                return record

            def getOrCreate(self):
                recorder.calls.append(("getOrCreate",))
                if recorder.fail_with is not None:
                    raise recorder.fail_with
                return types.SimpleNamespace(
                    conf=types.SimpleNamespace(set=recorder.conf.__setitem__)
                )

        class NewBuilder:  # like the real classproperty: a new Builder on every access
            def __get__(self, instance, owner):
                return Builder()

        self.module = types.ModuleType("databricks.connect")
        self.module.DatabricksSession = type("DatabricksSession", (), {"builder": NewBuilder()})


@pytest.fixture
def fake_databricks_connect(monkeypatch):
    def install(fail_with: Exception | None = None) -> _Recorder:
        recorder = _Recorder(fail_with)
        package = types.ModuleType("databricks")
        package.__path__ = []
        package.connect = recorder.module
        monkeypatch.setitem(sys.modules, "databricks", package)
        monkeypatch.setitem(sys.modules, "databricks.connect", recorder.module)
        return recorder

    return install


def test_databricks_cluster_session_gets_host_token_and_cluster(
    databricks_env, fake_databricks_connect
):
    databricks_env(DATABRICKS_HOST=HOST, DATABRICKS_TOKEN=TOKEN, DATABRICKS_CLUSTER_ID="0123-abc")
    recorder = fake_databricks_connect()

    build_session("databricks", session_config("databricks"))

    assert recorder.calls == [
        ("host", HOST),
        ("token", TOKEN),
        ("clusterId", "0123-abc"),
        ("getOrCreate",),
    ]
    assert recorder.conf == {"spark.sql.session.timeZone": "UTC"}


def test_databricks_serverless_session_with_a_profile(databricks_env, fake_databricks_connect):
    databricks_env(DATABRICKS_CONFIG_PROFILE="prod", DATABRICKS_SERVERLESS_COMPUTE_ID="auto")
    recorder = fake_databricks_connect()

    build_session("databricks", {})

    assert recorder.calls == [("profile", "prod"), ("serverless", True), ("getOrCreate",)]


def test_databricks_resource_builds_its_session_lazily(databricks_env, fake_databricks_connect):
    databricks_env(DATABRICKS_HOST=HOST, DATABRICKS_TOKEN=TOKEN, DATABRICKS_CLUSTER_ID="c")
    recorder = fake_databricks_connect()
    resource = build_resources(_settings(spark_mode="databricks"))[SPARK]
    assert recorder.calls == []  # nothing contacted when definitions load

    assert resource.spark_session is resource.spark_session  # one session, created once
    assert [c[0] for c in recorder.calls].count("getOrCreate") == 1


def test_a_failing_databricks_connection_is_reported_without_credentials(
    databricks_env, fake_databricks_connect, caplog
):
    databricks_env(
        DATABRICKS_HOST=HOST,
        DATABRICKS_TOKEN=TOKEN,
        DATABRICKS_CLIENT_SECRET=SECRET,
        DATABRICKS_CLUSTER_ID="0123-abc",
    )
    fake_databricks_connect(
        ConnectionError(
            f"failed to connect to {HOST} with Authorization: Bearer {TOKEN} "
            f"(secret {SECRET}); sc://x/;token={TOKEN}"
        )
    )
    caplog.set_level(logging.DEBUG)

    with pytest.raises(SparkConfigError) as raised:
        build_session("databricks", {})

    message = str(raised.value)
    assert "cluster 0123-abc" in message and "DATABRICKS_HOST" in message
    assert "ConnectionError" in message
    assert TOKEN not in message and SECRET not in message and TOKEN not in caplog.text
    # The original exception (which holds the token) is not chained into logs or Dagster.
    assert raised.value.__cause__ is None and raised.value.__suppress_context__


def test_databricks_mode_without_databricks_connect_says_what_to_install(
    databricks_env, monkeypatch
):
    databricks_env(DATABRICKS_HOST=HOST, DATABRICKS_TOKEN=TOKEN, DATABRICKS_CLUSTER_ID="c")
    monkeypatch.setitem(sys.modules, "databricks.connect", None)  # import fails
    with pytest.raises(SparkConfigError, match="databricks-connect"):
        build_session("databricks", {})


def test_masking_removes_tokens_in_every_usual_shape():
    text = f"token={TOKEN}; Bearer {TOKEN}; {TOKEN}; x-secret {SECRET}"
    masked = mask_secrets(text, [SECRET])
    assert TOKEN not in masked and SECRET not in masked


# --- Unity Catalog table names --------------------------------------------------------------


def test_unity_catalog_settings_name_tables_catalog_schema_layer_name():
    settings = _settings(
        spark_mode="databricks", databricks_catalog="main", databricks_schema="finance"
    )
    lake_resource = build_resources(settings)[LAKE]
    assert isinstance(lake_resource, UnityCatalogLakeResource)
    lake = lake_resource.lake()
    assert isinstance(lake, SparkDeltaLake)
    assert lake.table_uri("gold/daily_kpi") == "main.finance.gold_daily_kpi"
    assert lake.table_uri("bronze/orders") == "main.finance.bronze_orders"


def test_without_unity_catalog_databricks_tables_are_delta_paths_under_the_lake():
    lake = build_resources(_settings(spark_mode="databricks", lake_uri="s3://bucket/lake"))[LAKE]
    assert type(lake) is LakeResource
    assert lake.lake().table_uri("gold/daily_kpi") == "s3://bucket/lake/gold/daily_kpi"


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"databricks_catalog": "main"}, "FINANCE_DATABRICKS_SCHEMA is not set"),
        (
            {"databricks_catalog": "main", "databricks_schema": "f", "spark_mode": "local"},
            "need FINANCE_SPARK_MODE=databricks",
        ),
    ],
)
def test_unity_catalog_misconfiguration_names_the_variable(changes, message):
    settings = _settings(**{"spark_mode": "databricks", **changes})
    with pytest.raises(SparkConfigError, match=message):
        build_resources(settings)


class _Writer:
    def __init__(self, log):
        self.log = log

    def __getattr__(self, name):
        def record(*args):
            self.log.append((name, *args))
            return self

        return record


class _Spark:
    """Just enough of a session for SparkDeltaLake: sql(), read.table(), catalog."""

    def __init__(self, log):
        self.log = log
        self.read = _Writer(log)
        self.catalog = types.SimpleNamespace(tableExists=lambda name: log.append(("exists", name)))

    def sql(self, text):
        self.log.append(("sql", text))
        row = {"version": 3, "operationMetrics": {"numOutputRows": "7"}}
        return types.SimpleNamespace(first=lambda: row)


def test_spark_delta_lake_writes_and_reads_unity_catalog_tables_by_name():
    log: list[tuple] = []
    spark = _Spark(log)
    frame = types.SimpleNamespace(write=_Writer(log), sparkSession=spark)
    lake = SparkDeltaLake("s3://ignored", catalog_schema="main.finance")
    where = PartitionRange("date", date(2024, 1, 1), date(2024, 1, 31))

    result = lake.replace_partitions(frame, "gold/daily_kpi", where, inputs={"silver/payments": 4})

    assert log == [
        ("format", "delta"),
        ("mode", "overwrite"),
        ("option", "replaceWhere", "date >= '2024-01-01' AND date <= '2024-01-31'"),
        ("option", "userMetadata", '{"finance.inputs": {"silver/payments": 4}}'),
        ("partitionBy", "date"),
        ("saveAsTable", "main.finance.gold_daily_kpi"),
        ("sql", "DESCRIBE HISTORY `main`.`finance`.`gold_daily_kpi` LIMIT 1"),
    ]
    assert (result.table_uri, result.version, result.rows) == ("main.finance.gold_daily_kpi", 3, 7)

    log.clear()
    lake.read(spark, "silver/orders")
    lake.exists("gold/customer_360")
    assert log == [
        ("table", "main.finance.silver_orders"),
        ("exists", "main.finance.gold_customer_360"),
    ]


def test_spark_delta_lake_on_paths_saves_to_the_table_folder():
    log: list[tuple] = []
    spark = _Spark(log)
    frame = types.SimpleNamespace(write=_Writer(log), sparkSession=spark)
    lake = SparkDeltaLake("s3://bucket/lake/")

    lake.replace_table(frame, "gold/customer_360")

    assert ("save", "s3://bucket/lake/gold/customer_360") in log
    assert ("sql", "DESCRIBE HISTORY delta.`s3://bucket/lake/gold/customer_360` LIMIT 1") in log


def test_docs_describe_every_mode_and_setting():
    docs = Path(__file__).resolve().parents[2] / "docs"
    modes = (docs / "spark-modes.md").read_text(encoding="utf-8")
    guide = (docs / "databricks.md").read_text(encoding="utf-8")
    for word in ("FINANCE_SPARK_MODE", "FINANCE_SPARK_CONNECT_URL", "FINANCE_SPARK_MASTER"):
        assert word in modes
    for word in (
        "databricks-connect",
        "DATABRICKS_HOST",
        "DATABRICKS_CLUSTER_ID",
        "DATABRICKS_SERVERLESS_COMPUTE_ID",
        "instance profile",
        "FINANCE_DATABRICKS_CATALOG",
    ):
        assert word in guide
