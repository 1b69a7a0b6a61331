"""``make dev`` / ``finance-assets dev`` as a test starts it: a real webserver, daemon and code
server on a free loopback port, queried over GraphQL, and every process it started found again.

Each server is started with a marker variable of its own in its environment
(:data:`MARK_VARIABLE`); every process below it inherits it, so the test finds them all in
``/proc/<pid>/environ`` (web server, daemon, code server, run workers, Spark JVMs, Python
workers), whatever session they started or parent they were re-parented to. Nothing here
relies on the product's own clean-up to clean up after a test.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from finance_assets_tests.support.s3_server import HOST, free_port

REPO = Path(__file__).resolve().parents[2]
VENV = Path(sys.executable).parent.parent
MARK_VARIABLE = "FINANCE_ASSETS_TEST_DEV_MARK"
LOCATION = "finance_assets"
LOAD_TIMEOUT_S = 240
POLL_S = 0.5

# Loopback only: never through a proxy configured in the environment.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))

T = TypeVar("T")

WORKSPACE = """
{ workspaceOrError { ... on Workspace { locationEntries {
    name loadStatus locationOrLoadError { __typename ... on PythonError { message } } } } } }
"""
RUN = """
query Run($id: ID!) { runOrError(runId: $id) { __typename
    ... on Run { runId status jobName tags { key value } assetSelection { path } } } }
"""
RUN_IDS = "{ runsOrError { ... on Runs { results { runId } } } }"
LAUNCH = """
mutation Launch($params: ExecutionParams!) { launchRun(executionParams: $params) { __typename
    ... on LaunchRunSuccess { run { runId } }
    ... on PythonError { message }
    ... on InvalidSubsetError { message }
    ... on RunConfigValidationInvalid { errors { message } } } }
"""
FINISHED = {"SUCCESS", "FAILURE", "CANCELED"}


def make_dev_command(port: int) -> list[str]:
    """``make dev`` as a user types it, with this virtualenv and the webserver on ``port``.
    (``-o``: the virtualenv is used as it is, never re-installed by the test.)"""
    return [
        "make",
        "--no-print-directory",
        "-C",
        str(REPO),
        f"VENV={VENV}",
        "-o",
        f"{VENV}/bin/.installed",
        "dev",
        f"DEV_ARGS=--host {HOST} --port {port}",
    ]


def finance_assets_dev_command(port: int) -> list[str]:
    return [str(VENV / "bin" / "finance-assets"), "dev", "--host", HOST, "--port", str(port)]


def clean_environment(**values: str) -> dict[str, str]:
    """This process's environment without settings of its own (``FINANCE_*``, S3 endpoints),
    plus ``values``."""
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("AWS_ENDPOINT_URL", "FINANCE_"))
    }
    env.update(
        FINANCE_SPARK_DRIVER_MEMORY="1g", FINANCE_SPARK_SHUFFLE_PARTITIONS="2", PYTHONUNBUFFERED="1"
    )
    env.update(values)
    return env


def wait_for(what: str, probe: Callable[[], T], timeout: float, context=lambda: "") -> T:
    """Poll ``probe()`` until it returns something truthy, or fail naming ``what``."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(
                f"Timed out after {timeout:.0f} s waiting for {what}.\n{context()}"
            )
        time.sleep(POLL_S)


def _environ(pid: int) -> list[bytes]:
    try:
        return Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    except OSError:
        return []


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
    except OSError:
        return ""


def is_jvm(pid: int) -> bool:
    try:
        exe = os.readlink(f"/proc/{pid}/exe")
    except OSError:
        return False
    return Path(exe).name == "java"


class DevServer:
    """One ``make dev`` (or ``finance-assets dev``) in its own process group, as a terminal
    runs a foreground job, with its output in ``logs``."""

    def __init__(self, command_for_port: Callable[[int], list[str]], env: dict, logs: Path):
        self.port = free_port()
        self.base = f"http://{HOST}:{self.port}"
        self.mark = uuid.uuid4().hex
        self.command = command_for_port(self.port)
        self.env = {**env, MARK_VARIABLE: self.mark}
        logs.mkdir(parents=True, exist_ok=True)
        self.out_path, self.err_path = logs / "dagster-dev.out.log", logs / "dagster-dev.err.log"
        self.process: subprocess.Popen | None = None

    def __enter__(self) -> DevServer:
        self._out, self._err = open(self.out_path, "wb"), open(self.err_path, "wb")  # noqa: SIM115
        self.process = subprocess.Popen(
            self.command,
            cwd=REPO,
            env=self.env,
            stdout=self._out,
            stderr=self._err,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        try:
            self.wait_until_loaded()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    # --- the processes -------------------------------------------------------------------

    def processes(self) -> list[int]:
        """Every live process that carries this server's mark (it and all it started)."""
        marker = f"{MARK_VARIABLE}={self.mark}".encode()
        return [
            int(entry.name)
            for entry in Path("/proc").iterdir()
            if entry.name.isdigit() and marker in _environ(int(entry.name))
            if _alive(int(entry.name))
        ]

    def describe(self, pids: list[int]) -> str:
        return "\n".join(f"  {pid}: {cmdline(pid)[:200]}" for pid in pids)

    def stop(self, grace_s: float = 20) -> None:
        """Ctrl-C to the process group; SIGKILL to every marked process still there after
        ``grace_s``. Always leaves nothing behind."""
        if self.process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGINT)
        deadline = time.monotonic() + grace_s
        while self.processes() and time.monotonic() < deadline:
            time.sleep(POLL_S)
        for pid in self.processes():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=10)
        self._out.close()
        self._err.close()
        self.process = None

    # --- the webserver -------------------------------------------------------------------

    def graphql(self, query: str, variables: dict | None = None) -> dict:
        body = json.dumps({"query": query, "variables": variables or {}}).encode()
        request = urllib.request.Request(
            f"{self.base}/graphql", data=body, headers={"Content-Type": "application/json"}
        )
        with _OPENER.open(request, timeout=60) as response:
            answer = json.loads(response.read())
        assert "errors" not in answer, answer["errors"]
        return answer["data"]

    def _loaded_locations(self) -> list[str] | None:
        if self.process.poll() is not None:
            raise AssertionError(
                f"{self.command} exited with {self.process.returncode}:\n{self.tail()}"
            )
        try:
            entries = self.graphql(WORKSPACE)["workspaceOrError"]["locationEntries"]
        except (OSError, urllib.error.URLError, AssertionError, KeyError):
            return None
        if not entries or any(e["loadStatus"] != "LOADED" for e in entries):
            return None
        errors = [
            e["locationOrLoadError"]
            for e in entries
            if e["locationOrLoadError"]["__typename"] != "RepositoryLocation"
        ]
        assert not errors, errors
        return [e["name"] for e in entries]

    def wait_until_loaded(self) -> None:
        self.locations = wait_for(
            f"{self.base} to serve the code location",
            self._loaded_locations,
            LOAD_TIMEOUT_S,
            self.tail,
        )

    def run_ids(self) -> set[str]:
        return {r["runId"] for r in self.graphql(RUN_IDS)["runsOrError"]["results"]}

    def run(self, run_id: str) -> dict:
        return self.graphql(RUN, {"id": run_id})["runOrError"]

    def finished_run(self, run_id: str) -> dict | None:
        run = self.run(run_id)
        return run if run["status"] in FINISHED else None

    def launch(self, job: str, assets: list[list[str]], partition: str) -> str:
        """Launch one partition of some assets of a job, as the UI does; the run's id."""
        params = {
            "selector": {
                "repositoryLocationName": LOCATION,
                "repositoryName": "__repository__",
                "jobName": job,
                "assetSelection": [{"path": path} for path in assets],
            },
            "executionMetadata": {"tags": [{"key": "dagster/partition", "value": partition}]},
        }
        answer = self.graphql(LAUNCH, {"params": params})["launchRun"]
        assert answer["__typename"] == "LaunchRunSuccess", answer
        return answer["run"]["runId"]

    # --- its output ----------------------------------------------------------------------

    def output(self) -> str:
        return self.out_path.read_text(errors="replace") + self.err_path.read_text(errors="replace")

    def tail(self, chars: int = 6000) -> str:
        return self.output()[-chars:]
