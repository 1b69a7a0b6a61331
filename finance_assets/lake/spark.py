"""The one Spark session of a process (its Dagster resource is ``lake/resources.py``).

``mode`` picks the engine with no change to asset code (same resource key, same assets):

- ``local`` (default): the Spark driver runs in this process. The master is
  ``FINANCE_SPARK_MASTER``: ``local[N]`` (embedded, sized for a small machine) or
  ``spark://host:port`` (a standalone cluster; executors on other processes or machines);
- ``connect``: a Spark Connect server at ``FINANCE_SPARK_CONNECT_URL`` (``sc://host:port``);
  nothing but a gRPC client runs here;
- ``databricks``: Databricks Connect, workspace, credentials and compute (a cluster id or
  serverless) from the standard ``DATABRICKS_*`` environment variables; or, when this
  process itself runs on Databricks compute, the runtime's own session.

Sessions are created once per process and shared by every asset of a run and every test,
because starting a JVM (or a remote session) costs seconds. This module imports neither
Dagster nor the definitions, so a command can start the JVM before it imports them.

Misconfiguration raises :class:`SparkConfigError`, whose message names the setting to fix
and never contains a credential (tokens in URLs or error texts are masked).
"""

from __future__ import annotations

import contextlib
import os
import re
import socket
import sys
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from finance_assets.lake import class_archive
from finance_assets.lake.java import require_java
from finance_assets.settings import ConfigError, Settings

MODES = ("local", "connect", "databricks")
MODE_VAR = "FINANCE_SPARK_MODE"
MASTER_VAR = "FINANCE_SPARK_MASTER"
CONNECT_URL_VAR = "FINANCE_SPARK_CONNECT_URL"
SPARK_CONF_VAR = "FINANCE_SPARK_CONF"
DEFAULT_CONNECT_PORT = 15002
CONNECT_PROBE_TIMEOUT_S = 10.0

DATABRICKS_HOST = "DATABRICKS_HOST"
DATABRICKS_TOKEN = "DATABRICKS_TOKEN"
DATABRICKS_CLIENT_ID = "DATABRICKS_CLIENT_ID"
DATABRICKS_CLIENT_SECRET = "DATABRICKS_CLIENT_SECRET"
DATABRICKS_PROFILE = "DATABRICKS_CONFIG_PROFILE"
DATABRICKS_CLUSTER_ID = "DATABRICKS_CLUSTER_ID"
DATABRICKS_SERVERLESS = "DATABRICKS_SERVERLESS_COMPUTE_ID"
DATABRICKS_RUNTIME = "DATABRICKS_RUNTIME_VERSION"

# The delta-rs lake hands Spark the exact data files it read from the Delta log. Above 32
# paths Spark would list them in a Spark job of its own (about 2 s each time a frame is made,
# e.g. a month of payment-order files); on the driver it is a stat per file.
FILE_LIST_SETTINGS = {"spark.sql.sources.parallelPartitionDiscovery.threshold": "1000000"}

DRIVER_JAVA_OPTIONS = "spark.driver.extraJavaOptions"
# A local driver lives for one run, mostly planning small queries. C2, the JVM's optimising
# compiler, would spend one of two cores compiling code that the run leaves behind before it
# pays back: C1 alone compiles in a fraction of the time. C1 alone also gets C1's small code
# cache (48 MB), which a process running a second day fills ("CodeCache is full. Compiler has
# been disabled."), leaving every later query interpreted: the tiered size is kept. A user's
# own driver options come after these, so e.g. -XX:TieredStopAtLevel=4 brings C2 back.
QUICK_COMPILER = "-XX:TieredStopAtLevel=1 -XX:ReservedCodeCacheSize=240m"

LOCAL_DEFAULTS = {
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.parquet.outputTimestampType": "TIMESTAMP_MICROS",
    "spark.sql.adaptive.enabled": "true",
    "spark.sql.execution.arrow.pyspark.enabled": "true",
    "spark.sql.warehouse.dir": os.path.join(os.getcwd(), "spark-warehouse"),
    **FILE_LIST_SETTINGS,
}

# Session settings a remote session needs for the same results as a local one. Only runtime
# SQL settings can be set on a session someone else started; sizing stays the server's.
CONNECT_SESSION_DEFAULTS = {
    "spark.sql.session.timeZone": "UTC",
    # Parquet that delta-rs commits must use the Delta protocol's microsecond timestamps.
    "spark.sql.parquet.outputTimestampType": "TIMESTAMP_MICROS",
    **FILE_LIST_SETTINGS,
}
# Databricks writes Delta natively; serverless compute accepts only a few settings.
DATABRICKS_SESSION_DEFAULTS = {"spark.sql.session.timeZone": "UTC"}


class SparkConfigError(ConfigError):
    """A Spark mode is misconfigured; the message names the setting to fix, never a secret."""


def local_spark_config(
    master: str,
    driver_memory: str,
    shuffle_partitions: int,
    python: str | None = None,
    java_options: str | None = None,
) -> dict[str, Any]:
    """Configuration of a session whose driver runs here (``local[N]`` or ``spark://``);
    ``java_options``: the driver JVM's (the class archive's, ``lake/class_archive.py``)."""
    python = python or sys.executable
    return {
        DRIVER_JAVA_OPTIONS: " ".join(o for o in (java_options, QUICK_COMPILER) if o),
        **LOCAL_DEFAULTS,
        "spark.master": master,
        "spark.driver.memory": driver_memory,
        "spark.sql.shuffle.partitions": str(shuffle_partitions),
        "spark.default.parallelism": str(max(shuffle_partitions, 2)),
        # Python workers (local or on a cluster's executors) must run an interpreter that
        # has this package and pyarrow installed; override with PYSPARK_PYTHON or
        # FINANCE_SPARK_CONF="spark.pyspark.python=..." when executors have another path.
        "spark.pyspark.python": python,
        "spark.pyspark.driver.python": sys.executable,
    }


def session_config(mode: str) -> dict[str, str]:
    """Runtime settings applied to a remote (connect or databricks) session after it starts."""
    if mode == "connect":
        return dict(CONNECT_SESSION_DEFAULTS)
    if mode == "databricks":
        return dict(DATABRICKS_SESSION_DEFAULTS)
    raise SparkConfigError(_bad_mode(mode))


def _bad_mode(mode: str) -> str:
    return f"{MODE_VAR}={mode!r} is not one of: {', '.join(MODES)}."


# --- Spark Connect -----------------------------------------------------------------------


@dataclass(frozen=True)
class ConnectTarget:
    """Where a Spark Connect URL points. ``display`` is safe to print; ``url`` may hold a token."""

    url: str = field(repr=False)
    host: str
    port: int

    @property
    def display(self) -> str:
        return f"sc://{self.host}:{self.port}"


def parse_connect_url(url: str | None) -> ConnectTarget:
    """Check ``FINANCE_SPARK_CONNECT_URL`` without contacting anything."""
    if not url:
        raise SparkConfigError(
            f"{MODE_VAR}=connect needs {CONNECT_URL_VAR}, the Spark Connect server's URL "
            "(e.g. sc://spark-connect.internal:15002)."
        )
    scheme, sep, rest = url.partition("://")
    authority = rest.split("/", 1)[0]
    if "@" in authority:  # sc://user:password@host is not a Spark Connect URL form
        authority = authority.rsplit("@", 1)[1]
    if not sep or scheme != "sc":
        shown = f"{scheme}://" if sep else "a URL without a scheme"
        raise SparkConfigError(
            f"{CONNECT_URL_VAR} must start with sc:// (got {shown}); "
            "write it as sc://host:port, e.g. sc://127.0.0.1:15002."
        )
    host, _, port_text = authority.rpartition(":") if ":" in authority else (authority, "", "")
    host = host.strip("[]")
    if not host:
        raise SparkConfigError(f"{CONNECT_URL_VAR} has no host; write it as sc://host:port.")
    try:
        port = int(port_text) if port_text else DEFAULT_CONNECT_PORT
    except ValueError:
        raise SparkConfigError(
            f"{CONNECT_URL_VAR} has a port that is not a number; write it as sc://host:port."
        ) from None
    if not 0 < port < 65536:
        raise SparkConfigError(f"{CONNECT_URL_VAR} port {port} is out of range (1-65535).")
    return ConnectTarget(url=url, host=host, port=port)


def probe_connect_server(target: ConnectTarget, timeout: float = CONNECT_PROBE_TIMEOUT_S) -> None:
    """Fail fast and clearly when nothing listens there (the gRPC client retries for minutes)."""
    try:
        with socket.create_connection((target.host, target.port), timeout=timeout):
            pass
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise SparkConfigError(
            f"The Spark Connect server at {target.display} ({CONNECT_URL_VAR}) is not "
            f"reachable: {reason}. Start the server, or fix {CONNECT_URL_VAR}."
        ) from None


def probe_standalone_master(master: str, timeout: float = CONNECT_PROBE_TIMEOUT_S) -> None:
    """For ``spark://host:port[,host:port]``: fail fast unless some master answers.

    Without this, a driver retries registering for a minute and then fails obscurely.
    """
    if not master.startswith("spark://"):
        return
    tried = []
    for address in master[len("spark://") :].split(","):
        host, _, port = address.strip().rpartition(":")
        if not host or not port.isdigit():
            raise SparkConfigError(
                f"{MASTER_VAR}={master!r} is not spark://host:port (e.g. spark://spark-master:7077)."
            )
        try:
            with socket.create_connection((host, int(port)), timeout=timeout):
                return
        except OSError as exc:
            tried.append(f"{host}:{port} ({exc.strerror or type(exc).__name__})")
    raise SparkConfigError(
        f"No Spark master answers at {', '.join(tried)} ({MASTER_VAR}). Start the cluster, "
        f"or fix {MASTER_VAR}."
    )


def _connect_session(url: str | None, conf: Mapping[str, str]):
    from pyspark.sql import SparkSession

    target = parse_connect_url(url)
    probe_connect_server(target)
    try:
        session = SparkSession.builder.remote(target.url).getOrCreate()
    except Exception as exc:
        raise SparkConfigError(
            f"Could not open a Spark Connect session at {target.display} ({CONNECT_URL_VAR}): "
            f"{_masked(exc, [target.url])}"
        ) from None
    _apply_conf(session, conf, f"the Spark Connect server at {target.display}", [target.url])
    return session


# --- Databricks ----------------------------------------------------------------------------


@dataclass(frozen=True)
class DatabricksTarget:
    """What databricks mode connects to, read from the environment. The token is never shown."""

    host: str | None = None
    token: str | None = field(default=None, repr=False)
    profile: str | None = None
    cluster_id: str | None = None
    serverless: bool = False
    in_runtime: bool = False

    @property
    def compute(self) -> str:
        if self.in_runtime:
            return "this Databricks compute"
        if self.cluster_id:
            return f"cluster {self.cluster_id}"
        if self.serverless:
            return "serverless compute"
        return "the compute set in the profile"

    @property
    def workspace(self) -> str:
        if self.host:
            return self.host
        return f"profile {self.profile}" if self.profile else "the workspace"


def databricks_target(settings: Settings | None = None) -> DatabricksTarget:
    """Check the ``DATABRICKS_*`` settings without contacting anything."""
    settings = settings or Settings.load()

    def get(value) -> str | None:
        if value is not None and hasattr(value, "get_secret_value"):
            value = value.get_secret_value()
        return (value or "").strip() or None

    if get(settings.databricks_runtime_version):  # running on Databricks: the runtime's session
        return DatabricksTarget(in_runtime=True)
    host, token = get(settings.databricks_host), get(settings.databricks_token)
    profile = get(settings.databricks_profile)
    cluster_id = get(settings.databricks_cluster_id)
    serverless_id = get(settings.databricks_serverless_compute_id)
    oauth = bool(get(settings.databricks_client_id) and get(settings.databricks_client_secret))

    if host:
        scheme, sep, rest = host.partition("://")
        if (sep and scheme.lower() != "https") or not (rest if sep else host) or " " in host:
            raise SparkConfigError(
                f"{DATABRICKS_HOST} must be the workspace URL, "
                "e.g. https://dbc-1234abcd-5678.cloud.databricks.com."
            )
    if not profile:
        missing = [] if host else [DATABRICKS_HOST]
        if not token and not oauth:
            missing.append(
                f"{DATABRICKS_TOKEN} (or {DATABRICKS_CLIENT_ID} and {DATABRICKS_CLIENT_SECRET} "
                "for a service principal)"
            )
        if missing:
            raise SparkConfigError(
                f"{MODE_VAR}=databricks needs {' and '.join(missing)} to be set, or "
                f"{DATABRICKS_PROFILE} naming a profile in ~/.databrickscfg."
            )
    if serverless_id and serverless_id.lower() != "auto":
        raise SparkConfigError(
            f"{DATABRICKS_SERVERLESS} must be 'auto' (serverless compute) or unset; "
            f"to use a cluster set {DATABRICKS_CLUSTER_ID} instead."
        )
    if cluster_id and serverless_id:
        raise SparkConfigError(
            f"Set either {DATABRICKS_CLUSTER_ID} (a cluster) or "
            f"{DATABRICKS_SERVERLESS}=auto (serverless compute), not both."
        )
    if not cluster_id and not serverless_id and not profile:
        raise SparkConfigError(
            f"{MODE_VAR}=databricks needs compute: set {DATABRICKS_CLUSTER_ID} to a cluster's id, "
            f"or {DATABRICKS_SERVERLESS}=auto for serverless compute."
        )
    return DatabricksTarget(
        host=host,
        token=token,
        profile=profile,
        cluster_id=cluster_id,
        serverless=bool(serverless_id),
    )


def _databricks_session(conf: Mapping[str, str]):
    settings = Settings.load()
    target = databricks_target(settings)
    if target.in_runtime:
        from pyspark.sql import SparkSession

        session = SparkSession.builder.getOrCreate()
        _apply_conf(session, conf, target.compute, [])
        return session
    try:
        from databricks.connect import DatabricksSession
    except ImportError:
        raise SparkConfigError(
            f"{MODE_VAR}=databricks needs the databricks-connect package in place of pyspark "
            "(pip uninstall pyspark; pip install 'databricks-connect==<your runtime>.*')."
        ) from None
    builder = DatabricksSession.builder
    if target.profile:
        builder = builder.profile(target.profile)
    if target.host:
        builder = builder.host(target.host)
    if target.token:
        builder = builder.token(target.token)
    if target.cluster_id:
        builder = builder.clusterId(target.cluster_id)
    elif target.serverless:
        builder = builder.serverless(True)
    secrets = [target.token or "", settings.secret("databricks_client_secret") or ""]
    try:
        session = builder.getOrCreate()
    except Exception as exc:
        raise SparkConfigError(
            f"Could not start a Databricks Connect session on {target.compute} of "
            f"{target.workspace}: {_masked(exc, secrets)} Check {DATABRICKS_HOST}, the "
            f"credentials ({DATABRICKS_TOKEN} or {DATABRICKS_PROFILE}) and "
            f"{DATABRICKS_CLUSTER_ID} / {DATABRICKS_SERVERLESS}."
        ) from None
    _apply_conf(session, conf, f"{target.compute} of {target.workspace}", secrets)
    return session


# --- shared -------------------------------------------------------------------------------

_TOKEN_PATTERNS = [
    re.compile(r"(token=)[^;&\s\"']+", re.IGNORECASE),
    re.compile(r"(Bearer\s+)[A-Za-z0-9._~+/=-]+", re.IGNORECASE),
    re.compile(r"\b(dapi|dose|dkea)[0-9a-f]{16,}(-\d+)?\b"),  # Databricks token formats
]


def mask_secrets(text: str, secrets: list[str] | tuple[str, ...] = ()) -> str:
    """``text`` with every known secret and token-looking value replaced by ``***``."""
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, "***")
    for pattern in _TOKEN_PATTERNS:
        text = pattern.sub(lambda m: (m.group(1) if m.lastindex else "") + "***", text)
    return text


def _masked(exc: BaseException, secrets: list[str]) -> str:
    lines = str(exc).strip().splitlines()
    first = lines[0] if lines else ""
    return f"{type(exc).__name__}: {mask_secrets(first, secrets)[:500]}"


def _apply_conf(session, conf: Mapping[str, str], where: str, secrets: list[str]) -> None:
    for key, value in conf.items():
        try:
            session.conf.set(key, value)
        except Exception as exc:
            raise SparkConfigError(
                f"{where} refused the Spark setting {key} (from {SPARK_CONF_VAR} or the "
                f"defaults): {_masked(exc, secrets)}"
            ) from None


def build_session(mode: str, spark_config: dict[str, Any], connect_url: str | None = None):
    """Create (or reuse) the process's SparkSession for the chosen mode.

    ``spark_config`` is the whole configuration of a local session; for remote modes it
    holds runtime settings applied to the session once it is open.
    """
    if mode == "local":
        from pyspark.sql import SparkSession

        require_java()
        if SparkSession.getActiveSession() is None:
            probe_standalone_master(str(spark_config.get("spark.master", "")))
        # Local Python workers start from the JVM's environment, not from spark.pyspark.python.
        os.environ.setdefault("PYSPARK_PYTHON", str(spark_config.get("spark.pyspark.python")))
        builder = SparkSession.builder
        for key, value in spark_config.items():
            builder = builder.config(key, value)
        session = builder.getOrCreate()
        session.sparkContext.setLogLevel("ERROR")  # classic sessions only: no sparkContext remotely
        return session
    if mode == "connect":
        return _connect_session(connect_url, spark_config)
    if mode == "databricks":
        return _databricks_session(spark_config)
    raise SparkConfigError(_bad_mode(mode))


@dataclass
class EarlyStart:
    """The process's local session, being started on a thread of its own."""

    thread: threading.Thread
    seconds: float | None = None
    """How long the session took to start, once it has."""

    def wait(self) -> EarlyStart:
        self.thread.join()
        return self


_early_start: EarlyStart | None = None
_early_lock = threading.Lock()


def start_session_early(settings: Settings) -> EarlyStart | None:
    """Start this process's local session on a thread of its own, so that the JVM starts while
    a command loads its definitions and sets its runs up; the first step that asks for the
    session waits for it (the session builder holds a lock), then finds it open. The same
    start for every call of a process; None when there is nothing to start early: a remote
    session or a standalone master (opened, or probed, when first asked), or a session that
    is already open. A failure is left to that first step, which meets it and reports it."""
    global _early_start
    from pyspark import SparkContext

    local = settings.spark_mode == "local" and settings.spark_master.startswith("local")
    with _early_lock:
        if _early_start is not None:
            return _early_start
        if not local or SparkContext._active_spark_context is not None:
            return None
        config = spark_config(settings)
        import pyspark.sql  # noqa: F401  (imported here, not by two threads at once)

        def start() -> None:
            began = time.perf_counter()
            with contextlib.suppress(Exception):  # the first step starts it again, says why
                build_session("local", config)
            started.seconds = time.perf_counter() - began

        started = EarlyStart(threading.Thread(target=start, name="spark-start", daemon=True))
        started.thread.start()
        _early_start = started
        return started


# --- settings -------------------------------------------------------------------------------

CATALOG_VAR, SCHEMA_VAR = "FINANCE_DATABRICKS_CATALOG", "FINANCE_DATABRICKS_SCHEMA"


def check_spark_settings(settings: Settings) -> None:
    """Configuration errors that need no network, raised when definitions load."""
    if settings.spark_mode == "connect":
        parse_connect_url(settings.secret("spark_connect_url"))
    uc = {CATALOG_VAR: settings.databricks_catalog, SCHEMA_VAR: settings.databricks_schema}
    if any(uc.values()):
        if settings.spark_mode != "databricks":
            raise SparkConfigError(
                f"{CATALOG_VAR} / {SCHEMA_VAR} (Unity Catalog tables) need "
                f"{MODE_VAR}=databricks; unset them for {settings.spark_mode} mode."
            )
        missing = [name for name, value in uc.items() if not value]
        if missing:
            raise SparkConfigError(
                f"Unity Catalog tables need both {CATALOG_VAR} and {SCHEMA_VAR}; "
                f"{missing[0]} is not set."
            )


def check_spark_reachable(settings: Settings) -> None:
    """A Spark Connect server or standalone master that does not answer, found before a run
    starts. (Runs launched from the UI find out in their first step, which is retried.)"""
    if settings.spark_mode == "connect":
        probe_connect_server(parse_connect_url(settings.secret("spark_connect_url")))
    elif settings.spark_mode == "local":
        probe_standalone_master(settings.spark_master)


def spark_config(settings: Settings) -> dict[str, str]:
    """The whole local configuration, or the runtime settings of a remote session."""
    if settings.spark_mode == "local":
        config = local_spark_config(
            settings.spark_master,
            settings.spark_driver_memory,
            settings.spark_shuffle_partitions,
            settings.pyspark_python,
            class_archive.java_options(settings),
        )
    else:
        config = session_config(settings.spark_mode)
    extra = dict(settings.extra_spark_conf)
    if DRIVER_JAVA_OPTIONS in config and DRIVER_JAVA_OPTIONS in extra:
        # The JVM takes the last of a repeated flag: the user's options override ours.
        extra[DRIVER_JAVA_OPTIONS] = f"{config[DRIVER_JAVA_OPTIONS]} {extra[DRIVER_JAVA_OPTIONS]}"
    config.update(extra)
    return config
