"""Real Spark servers for tests, started from PySpark's own distribution, on loopback only.

- ``spark_connect_server``: ``sbin/start-connect-server.sh`` (the Spark Connect jar ships in
  the wheel's ``jars/``, so no ``--packages`` download is needed), its gRPC port bound to
  127.0.0.1 with ``spark.connect.grpc.binding.address`` and every other port (driver RPC,
  block manager) with ``SPARK_LOCAL_IP``.
- ``standalone_cluster``: one master and N workers with ``bin/spark-class
  org.apache.spark.deploy.master.Master`` / ``...deploy.worker.Worker`` (the wheel has no
  ``start-master.sh``), all on 127.0.0.1.

Every process is started in its own process group and is stopped on exit (normal stop,
then SIGTERM to the group, then SIGKILL), also when starting fails. Logs, pid files and
work directories live under the caller's temporary directory.

Also here: running ``finance-assets materialize`` in a subprocess and comparing the Delta
tables two runs wrote.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import re
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import pyspark

HOST = "127.0.0.1"
START_TIMEOUT_S = 240.0  # a loaded 2-core machine can take minutes to start three JVMs
STOP_TIMEOUT_S = 30.0
RUN_TIMEOUT_S = 900.0

# Quiet servers, except the lines that say where they listen and who registered.
LOG4J2 = """\
rootLogger.level = warn
rootLogger.appenderRef.stderr.ref = console
appender.console.type = Console
appender.console.name = console
appender.console.target = SYSTEM_ERR
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = %d{HH:mm:ss} %p %c{1}: %m%n%ex
logger.connect.name = org.apache.spark.sql.connect.service.SparkConnectServer
logger.connect.level = info
logger.master.name = org.apache.spark.deploy.master.Master
logger.master.level = info
logger.worker.name = org.apache.spark.deploy.worker.Worker
logger.worker.level = info
"""


def spark_home() -> Path:
    """PySpark's own distribution: ``bin/``, ``sbin/`` and ``jars/`` ship inside the wheel."""
    return Path(pyspark.__file__).resolve().parent


def free_port(host: str = HOST) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without settings that would leak into a child's Spark."""
    dropped = ("FINANCE_", "SPARK_", "PYSPARK_", "DATABRICKS_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(dropped)}
    env.update(extra)
    return env


def _server_env(workdir: Path, ident: str) -> dict[str, str]:
    conf = workdir / "conf"
    conf.mkdir(parents=True, exist_ok=True)
    (conf / "log4j2.properties").write_text(LOG4J2, encoding="utf-8")
    return clean_env(
        SPARK_HOME=str(spark_home()),
        SPARK_CONF_DIR=str(conf),
        SPARK_LOG_DIR=str(workdir / "logs"),
        SPARK_PID_DIR=str(workdir / "pids"),
        SPARK_IDENT_STRING=ident,
        SPARK_LOCAL_IP=HOST,  # every JVM port on loopback, not only the ones named below
        SPARK_DAEMON_MEMORY="512m",
        PYSPARK_PYTHON=sys.executable,  # Python workers must import finance_assets and pyarrow
    )


# --- processes ----------------------------------------------------------------------------


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie (exited, not yet reaped) is not alive
        return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][0] != "Z"
    except (OSError, IndexError):
        return True


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True


def _wait_until(predicate, timeout: float, interval: float = 0.2) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()


def _stop_group(
    pgid: int,
    pid: int | None = None,
    process: subprocess.Popen | None = None,
    timeout: float = STOP_TIMEOUT_S,
) -> None:
    """SIGTERM the process group (and ``pid``), wait, then SIGKILL whatever is left.

    ``process``, our own child, is reaped while waiting: a zombie still counts as a member
    of its process group.
    """

    def gone() -> bool:
        if process is not None:
            process.poll()
        return not _group_alive(pgid) and (pid is None or not _alive(pid))

    for sig in (signal.SIGTERM, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, sig)
        if pid is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, sig)
        if _wait_until(gone, timeout):
            return


def _reap(process: subprocess.Popen) -> None:
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=STOP_TIMEOUT_S)


def _tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return f"(no log at {path})"


def _log_match(path: Path, pattern: re.Pattern[str]) -> re.Match[str] | None:
    try:
        return pattern.search(path.read_text(errors="replace"))
    except OSError:
        return None


def listening_addresses(pid: int) -> set[tuple[str, int]]:
    """The TCP (address, port) pairs process ``pid`` listens on, from /proc (Linux)."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        with contextlib.suppress(OSError):
            target = os.readlink(fd)
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    found = set()
    for table, family in (("tcp", socket.AF_INET), ("tcp6", socket.AF_INET6)):
        path = Path(f"/proc/{pid}/net/{table}")
        if not path.exists():
            continue
        for line in path.read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] != "0A" or fields[9] not in inodes:  # 0A = LISTEN
                continue
            address_hex, port_hex = fields[1].split(":")
            raw = bytes.fromhex(address_hex)
            raw = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
            found.add((socket.inet_ntop(family, raw), int(port_hex, 16)))
    return found


def is_loopback(address: str) -> bool:
    ip = ipaddress.ip_address(address)
    mapped = getattr(ip, "ipv4_mapped", None)
    return ip.is_loopback or (mapped is not None and mapped.is_loopback)


# --- Spark Connect server ------------------------------------------------------------------

_CONNECT_STARTED = re.compile(r"Spark Connect server started at: (\S+):(\d+)")


@dataclass
class ConnectServer:
    url: str
    port: int
    pid: int
    log: Path


@contextlib.contextmanager
def spark_connect_server(
    workdir: Path, timeout: float = START_TIMEOUT_S, attempts: int = 3
) -> Iterator[ConnectServer]:
    """A Spark Connect server (``local[2]`` inside) on 127.0.0.1; stopped on exit."""
    workdir.mkdir(parents=True, exist_ok=True)
    sbin = spark_home() / "sbin"
    last_error = ""
    for _ in range(attempts):
        ident = f"finance-tests-{uuid.uuid4().hex[:8]}"
        env = _server_env(workdir, ident)
        port = free_port()
        command = [
            str(sbin / "start-connect-server.sh"),
            "--master",
            "local[2]",
            "--driver-memory",
            "1g",
            "--conf",
            f"spark.connect.grpc.binding.address={HOST}",
            "--conf",
            f"spark.connect.grpc.binding.port={port}",
            "--conf",
            f"spark.driver.bindAddress={HOST}",
            "--conf",
            f"spark.driver.host={HOST}",
            "--conf",
            "spark.ui.enabled=false",
            "--conf",
            f"spark.pyspark.python={sys.executable}",
            "--conf",
            "spark.sql.shuffle.partitions=2",
            "--conf",
            "spark.sql.session.timeZone=UTC",
        ]
        launcher_log = workdir / f"{ident}-launcher.log"
        began = time.monotonic()
        with launcher_log.open("wb") as out:
            launcher = subprocess.Popen(
                command,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,  # the daemonized server stays in this group
            )
        pgid, pid = launcher.pid, None
        log = None
        try:
            launcher.wait(timeout=timeout)  # the script returns once the server is launched
            pid_file = Path(env["SPARK_PID_DIR"]) / (
                f"spark-{ident}-org.apache.spark.sql.connect.service.SparkConnectServer-1.pid"
            )
            if not pid_file.exists():
                raise RuntimeError(f"no pid file: {_tail(launcher_log)}")
            pid = int(pid_file.read_text().strip())
            logs = sorted(Path(env["SPARK_LOG_DIR"]).glob(f"spark-{ident}-*.out"))
            log = logs[0] if logs else launcher_log
            started = None

            def ready(log: Path = log, pid: int = pid) -> bool:
                nonlocal started
                started = _log_match(log, _CONNECT_STARTED)
                return started is not None or not _alive(pid)

            _wait_until(ready, timeout, interval=0.5)
            if started is None:
                raise RuntimeError(
                    f"Spark Connect server did not start (port {port}):\n{_tail(log)}"
                )
            actual_port = int(started.group(2))
            print(f"Spark Connect server up in {time.monotonic() - began:.0f} s")
            server = ConnectServer(f"sc://{HOST}:{actual_port}", actual_port, pid, log)
        except BaseException as exc:
            _stop_connect(env, pgid, pid, launcher)
            if isinstance(exc, RuntimeError):
                last_error = str(exc)
                continue
            raise
        try:
            yield server
        finally:
            _stop_connect(env, pgid, pid, launcher)
        return
    raise RuntimeError(f"Spark Connect server failed {attempts} times; last: {last_error}")


def _stop_connect(env, pgid: int, pid: int | None, launcher: subprocess.Popen) -> None:
    stop = spark_home() / "sbin" / "stop-connect-server.sh"
    with contextlib.suppress(subprocess.TimeoutExpired, OSError):
        subprocess.run(
            [str(stop)], env=env, capture_output=True, timeout=STOP_TIMEOUT_S, check=False
        )
    if pid is not None:
        _wait_until(lambda: not _alive(pid), STOP_TIMEOUT_S)
    _stop_group(pgid, pid, launcher)
    _reap(launcher)


# --- standalone cluster --------------------------------------------------------------------

_MASTER_STARTED = re.compile(r"Starting Spark master at (spark://\S+)")
_WORKER_REGISTERED = re.compile(r"Registering worker ")
_APP_REGISTERED = re.compile(r"Registered app (.+?) with ID (app-\S+)")


@dataclass
class StandaloneCluster:
    master_url: str
    master_log: Path
    processes: list[subprocess.Popen] = field(default_factory=list)

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self.processes]

    def registered_apps(self) -> list[str]:
        text = self.master_log.read_text(errors="replace")
        return [m.group(2) for m in _APP_REGISTERED.finditer(text)]


def _spark_class(main_class: str, args: list[str], env, log: Path) -> subprocess.Popen:
    with log.open("wb") as out:
        return subprocess.Popen(
            [str(spark_home() / "bin" / "spark-class"), main_class, *args],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # executors the worker launches join its group
        )


@contextlib.contextmanager
def standalone_cluster(
    workdir: Path,
    workers: int = 2,
    cores_per_worker: int = 1,
    memory_per_worker: str = "1g",
    timeout: float = START_TIMEOUT_S,
) -> Iterator[StandaloneCluster]:
    """One master and ``workers`` workers on 127.0.0.1; every process stopped on exit."""
    workdir.mkdir(parents=True, exist_ok=True)
    env = _server_env(workdir, f"finance-tests-{uuid.uuid4().hex[:8]}")
    env["SPARK_MASTER_OPTS"] = "-Dspark.master.rest.enabled=false"
    logs = workdir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    master_log = logs / "master.log"
    cluster = StandaloneCluster(master_url="", master_log=master_log)
    began = time.monotonic()
    try:
        master = _spark_class(
            "org.apache.spark.deploy.master.Master",
            ["--host", HOST, "--port", str(free_port()), "--webui-port", str(free_port())],
            env,
            master_log,
        )
        cluster.processes.append(master)
        started = None

        def master_ready() -> bool:
            nonlocal started
            started = _log_match(master_log, _MASTER_STARTED)
            return started is not None or master.poll() is not None

        _wait_until(master_ready, timeout, interval=0.5)
        if started is None:
            raise RuntimeError(f"Spark master did not start:\n{_tail(master_log)}")
        cluster.master_url = started.group(1)
        for n in range(workers):
            work_dir = workdir / f"worker-{n}"
            work_dir.mkdir(exist_ok=True)
            args = ["--host", HOST, "--port", str(free_port()), "--webui-port", str(free_port())]
            args += ["--cores", str(cores_per_worker), "--memory", memory_per_worker]
            args += ["--work-dir", str(work_dir), cluster.master_url]
            cluster.processes.append(
                _spark_class(
                    "org.apache.spark.deploy.worker.Worker", args, env, logs / f"worker-{n}.log"
                )
            )

        def workers_ready() -> bool:
            text = master_log.read_text(errors="replace")
            dead = [p for p in cluster.processes if p.poll() is not None]
            return len(_WORKER_REGISTERED.findall(text)) >= workers or bool(dead)

        _wait_until(workers_ready, timeout, interval=0.5)
        registered = len(_WORKER_REGISTERED.findall(master_log.read_text(errors="replace")))
        print(f"standalone cluster up in {time.monotonic() - began:.0f} s")
        if registered < workers:
            worker_logs = "\n".join(_tail(logs / f"worker-{n}.log", 15) for n in range(workers))
            raise RuntimeError(
                f"{registered} of {workers} workers registered:\n{_tail(master_log)}\n{worker_logs}"
            )
        yield cluster
    finally:
        # Workers first (they stop their executors), then the master.
        for process in reversed(cluster.processes):
            _stop_group(process.pid, process.pid, process)
            _reap(process)


def cluster_env(cluster: StandaloneCluster, **extra: str) -> dict[str, str]:
    """Environment of a ``finance-assets`` driver whose executors run on ``cluster``."""
    return clean_env(
        FINANCE_SPARK_MODE="local",
        FINANCE_SPARK_MASTER=cluster.master_url,
        FINANCE_SPARK_DRIVER_MEMORY="1g",
        FINANCE_SPARK_SHUFFLE_PARTITIONS="2",
        # Small executors: two workers of 1 core and 1g each.
        FINANCE_SPARK_CONF="spark.executor.memory=512m;spark.cores.max=2",
        SPARK_LOCAL_IP=HOST,  # the driver listens on loopback too
        PYSPARK_PYTHON=sys.executable,
        # Executors parse the drops and count their records, however small the drops are.
        FINANCE_LANDING_IN_PROCESS_BYTES="0",
        **extra,
    )


# --- running the pipeline and comparing lakes ----------------------------------------------


def console_script() -> str:
    script = Path(sys.executable).parent / "finance-assets"
    assert script.exists(), f"the finance-assets console script is not installed at {script}"
    return str(script)


def run_materialize(
    landing: Path,
    lake: Path,
    start: date,
    end: date,
    env: dict[str, str],
    cwd: Path,
    timeout: float = RUN_TIMEOUT_S,
) -> subprocess.CompletedProcess:
    """``finance-assets materialize`` in a fresh process group; killed whole on timeout."""
    argv = [console_script(), "materialize", "--landing", str(landing), "--lake", str(lake)]
    argv += ["--start", start.isoformat(), "--end", end.isoformat()]
    process = subprocess.Popen(
        argv,
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
        start_new_session=True,
    )
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    except BaseException:
        _stop_group(process.pid, process.pid, process)
        process.communicate()
        raise
    finally:
        _stop_group(process.pid)  # a JVM the CLI started must not outlive it
    return subprocess.CompletedProcess(argv, process.returncode, stdout, stderr)


def delta_tables(lake: Path, layers: tuple[str, ...]) -> dict[str, Path]:
    return {
        f"{layer}/{table.name}": table
        for layer in layers
        for table in sorted((lake / layer).iterdir())
        if (table / "_delta_log").is_dir()
    }


def table_rows(path: Path) -> list[tuple]:
    from deltalake import DeltaTable

    table = DeltaTable(str(path)).to_pyarrow_table()
    names = sorted(table.column_names)
    return sorted(
        (tuple((n, row[n]) for n in names) for row in table.to_pylist()),
        key=repr,
    )


def table_schema(path: Path) -> dict[str, tuple[str, bool]]:
    """Column name to (Arrow type, nullable)."""
    from deltalake import DeltaTable

    schema = DeltaTable(str(path)).to_pyarrow_table().schema
    return {f.name: (str(f.type), f.nullable) for f in schema}


def compare_lakes(
    expected: Path,
    actual: Path,
    layers: tuple[str, ...],
    tolerated_nullability: frozenset[tuple[str, str]] = frozenset(),
) -> list[str]:
    """Differences between the tables of two lakes: tables, columns, types, rows.

    ``tolerated_nullability`` lists (table, column) pairs whose nullable flag may differ.
    """
    problems = []
    want, got = delta_tables(expected, layers), delta_tables(actual, layers)
    if set(want) != set(got):
        problems.append(f"tables differ: expected {sorted(want)}, got {sorted(got)}")
    for name in sorted(set(want) & set(got)):
        a, b = table_schema(want[name]), table_schema(got[name])
        if list(a) != list(b):
            problems.append(f"{name}: columns {list(a)} != {list(b)}")
            continue
        for column, (a_type, a_null) in a.items():
            b_type, b_null = b[column]
            if a_type != b_type:
                problems.append(f"{name}.{column}: type {a_type} != {b_type}")
            if a_null != b_null and (name, column) not in tolerated_nullability:
                problems.append(f"{name}.{column}: nullable {a_null} != {b_null}")
        rows_a, rows_b = table_rows(want[name]), table_rows(got[name])
        if rows_a != rows_b:
            missing = [r for r in rows_a if r not in rows_b][:3]
            extra = [r for r in rows_b if r not in rows_a][:3]
            problems.append(
                f"{name}: {len(rows_a)} vs {len(rows_b)} rows; only expected: {missing}; "
                f"only actual: {extra}"
            )
    return problems


def nullability_differences(expected: Path, actual: Path, layers: tuple[str, ...]) -> set:
    want, got = delta_tables(expected, layers), delta_tables(actual, layers)
    found = set()
    for name in set(want) & set(got):
        a, b = table_schema(want[name]), table_schema(got[name])
        found |= {(name, c) for c in a if c in b and a[c][1] != b[c][1]}
    return found


# --- the shared local-mode reference run ---------------------------------------------------

START, END = date(2024, 1, 30), date(2024, 2, 1)  # three days across a month boundary
GOLD_AND_SILVER = ("gold", "silver", "quarantine")
_reference: dict[str, Path] = {}


def reference_run(tmp_path_factory) -> tuple[Path, Path]:
    """One small landing and its local-mode lake, made once per test process.

    The local run happens in this process, on the test session's shared local Spark.
    """
    if not _reference:
        from finance_assets.cli import materialize
        from finance_assets.landing.generate import GenerateConfig, generate

        root = tmp_path_factory.mktemp("spark-modes-reference")
        landing, lake = root / "landing", root / "lake"
        generate(
            str(landing),
            GenerateConfig(start=START, end=END, orders_per_day=5, dirty_rate=0.15),
        )
        started = time.monotonic()
        outcome = materialize(str(landing), str(lake), START, END)
        print(f"local-mode reference materialize: {time.monotonic() - started:.0f} s")
        assert outcome.succeeded, outcome
        assert not [c for c in outcome.failed_checks if c.endswith("(ERROR)")], outcome
        _reference.update(landing=landing, lake=lake)
    return _reference["landing"], _reference["lake"]
