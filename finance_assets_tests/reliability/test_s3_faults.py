"""An S3 landing zone that fails: transient faults are retried, permanent ones fail clearly.

moto's S3 server (a real HTTP endpoint on 127.0.0.1) sits behind a small faulty proxy,
also on 127.0.0.1, that the product reaches through ``AWS_ENDPOINT_URL_S3``. The proxy
forwards every request to moto, except those its policy picks to fail: a 503 SlowDown, a
connection reset before any answer, a 403, or a body cut off halfway.

- Transient faults (every third GET answered 503 or reset) must be retried and the run
  must produce exactly what the same files produce from a local folder.
- Permanent faults (403 on everything, 403 on reading objects, a missing bucket) must fail
  the run with a message naming what failed, and leave the lake exactly as it was.
"""

from __future__ import annotations

import contextlib
import http.client
import io
import shutil
import socket
import struct
import threading
from collections import Counter
from collections.abc import Callable
from datetime import date
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlparse

import boto3
import dagster
import pytest

from finance_assets.cli import main
from finance_assets.landing.generate import GenerateConfig, generate
from finance_assets_tests.support import lake_snapshot
from finance_assets_tests.support.s3_server import HOST, moto_s3_server, reset

BUCKET = "landing-bucket"
PREFIX = "drops"
START, END = "2024-01-01", "2024-01-02"
HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "te", "trailer"}

Policy = Callable[[int, str, str], "str | None"]


class FaultyProxy:
    """An HTTP proxy on 127.0.0.1 in front of ``upstream`` that fails what ``policy`` says.

    ``policy(n, method, path)`` sees the n-th request (1-based) and returns None (forward
    it), ``"503"``, ``"500"``, ``"403"`` (answer with that S3 error), ``"reset"`` (close the
    connection with a TCP reset before answering) or ``"truncate"`` (forward, but cut the
    body off halfway and reset).
    """

    def __init__(self, upstream: str, policy: Policy):
        self.upstream = urlparse(upstream)
        self.policy = policy
        self.requests = 0
        self.faults: Counter[str] = Counter()
        self._lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:  # quiet
                pass

            def do_GET(self) -> None:
                proxy._handle(self)

            do_PUT = do_POST = do_DELETE = do_HEAD = do_GET

        self.server = ThreadingHTTPServer((HOST, 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://{HOST}:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> FaultyProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(timeout=5)

    def _decide(self, method: str, path: str) -> str | None:
        with self._lock:
            self.requests += 1
            fault = self.policy(self.requests, method, path)
            if fault:
                self.faults[fault] += 1
            return fault

    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length) if length else None
        fault = self._decide(handler.command, handler.path)
        if fault == "reset":
            _reset(handler)
            return
        if fault in ("500", "503", "403"):
            code = {"500": "InternalError", "503": "SlowDown", "403": "AccessDenied"}[fault]
            payload = (
                f'<?xml version="1.0" encoding="UTF-8"?><Error><Code>{code}</Code>'
                f"<Message>injected by the test proxy</Message></Error>"
            ).encode()
            handler.send_response(int(fault))
            handler.send_header("Content-Type", "application/xml")
            handler.send_header("Content-Length", str(len(payload)))
            handler.end_headers()
            if handler.command != "HEAD":
                handler.wfile.write(payload)
            return
        upstream = http.client.HTTPConnection(
            self.upstream.hostname, self.upstream.port, timeout=60
        )
        try:
            headers = {k: v for k, v in handler.headers.items() if k.lower() not in HOP_BY_HOP}
            upstream.request(handler.command, handler.path, body=body, headers=headers)
            response = upstream.getresponse()
            data = response.read()
        finally:
            upstream.close()
        handler.send_response(response.status, response.reason)
        for key, value in response.getheaders():
            if key.lower() not in HOP_BY_HOP:
                handler.send_header(key, value)
        if handler.command == "HEAD":
            handler.send_header("Content-Length", response.getheader("Content-Length", "0"))
        else:
            handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        if handler.command == "HEAD":
            return
        if fault == "truncate" and len(data) > 1:
            handler.wfile.write(data[: len(data) // 2])
            handler.wfile.flush()
            _reset(handler)
            return
        handler.wfile.write(data)


def _reset(handler: BaseHTTPRequestHandler) -> None:
    """Drop the connection with a TCP RST (SO_LINGER 0), as a failing load balancer does."""
    handler.close_connection = True
    with contextlib.suppress(OSError):
        handler.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        handler.connection.close()


def _is_object_get(method: str, path: str) -> bool:
    """A GetObject: a GET on a key (path-style: /bucket/key), not a bucket listing."""
    route = path.split("?", 1)[0].lstrip("/")
    return method == "GET" and "/" in route and not route.endswith("/")


def every_third_get(n_get: list[int]) -> Policy:
    def policy(n: int, method: str, path: str) -> str | None:
        if method != "GET":
            return None
        n_get[0] += 1
        if n_get[0] % 3:
            return None
        return "503" if n_get[0] % 2 else "reset"

    return policy


# --- fixtures ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def moto(spark):
    with moto_s3_server() as endpoint:
        yield endpoint


@pytest.fixture(scope="module")
def drops(moto, tmp_path_factory):
    """Generated drops, in a local folder and uploaded to the bucket (not via the proxy)."""
    root = tmp_path_factory.mktemp("s3faults")
    local = root / "landing"
    generate(str(local), GenerateConfig(date(2024, 1, 1), date(2024, 1, 2), orders_per_day=25))
    reset(moto)
    client = boto3.client("s3", endpoint_url=moto, region_name="us-east-1")
    client.create_bucket(Bucket=BUCKET)
    for path in sorted(local.rglob("*.csv")):
        key = f"{PREFIX}/{path.relative_to(local).as_posix()}"
        client.put_object(Bucket=BUCKET, Key=key, Body=path.read_bytes())
    return {"root": root, "local": local, "objects": sum(1 for _ in local.rglob("*.csv"))}


def _materialize(landing: str, lake: Path) -> tuple[int, str]:
    out = io.StringIO()
    argv = ["materialize", "--landing", landing, "--lake", str(lake), "--start", START]
    argv += ["--end", END]
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
        code = main(argv)
    return code, out.getvalue()


@contextlib.contextmanager
def proxied(moto: str, policy: Policy):
    """A faulty proxy in front of moto, announced to the product via AWS_ENDPOINT_URL_S3.

    Dagster step retries (bronze has a RetryPolicy) keep their count but lose their delay
    (10 s, 20 s, 40 s): the tests judge the outcome, and stay fast.
    """
    real = dagster.RetryPolicy

    def without_delay(*args, **kwargs):
        return real(max_retries=kwargs.get("max_retries", args[0] if args else 1))

    with FaultyProxy(moto, policy) as proxy, pytest.MonkeyPatch.context() as mp:
        mp.setenv("AWS_ENDPOINT_URL_S3", proxy.url)
        mp.delenv("AWS_ENDPOINT_URL", raising=False)
        mp.setattr(dagster, "RetryPolicy", without_delay)
        yield proxy


def snapshot(lake: Path) -> dict[str, list[tuple]]:
    """The lake's rows, without the source URIs (S3 and local differ there by design)."""
    return lake_snapshot.snapshot(lake, lake_snapshot.RUN_COLUMNS | {"_source_file"})


def files_under(lake: Path) -> dict[str, int]:
    return {str(p.relative_to(lake)): p.stat().st_mtime_ns for p in lake.rglob("*") if p.is_file()}


@pytest.fixture(scope="module")
def local_result(drops):
    lake = drops["root"] / "lake-local"
    code, output = _materialize(str(drops["local"]), lake)
    assert code == 0, output
    return snapshot(lake)


@pytest.fixture(scope="module")
def good_lake(drops, moto, local_result):
    """A lake materialized from S3 through a proxy that injects transient faults."""
    counter = [0]
    lake = drops["root"] / "lake-s3"
    with proxied(moto, every_third_get(counter)) as proxy:
        code, output = _materialize(f"s3://{BUCKET}/{PREFIX}", lake)
    return {"lake": lake, "code": code, "output": output, "proxy": proxy}


# --- transient faults ----------------------------------------------------------------------


@pytest.mark.slow
def test_transient_faults_are_retried_and_results_match_local(good_lake, local_result) -> None:
    proxy = good_lake["proxy"]
    assert good_lake["code"] == 0, good_lake["output"]
    assert proxy.faults["503"] >= 2 and proxy.faults["reset"] >= 2, proxy.faults
    assert snapshot(good_lake["lake"]) == local_result


# --- permanent faults ----------------------------------------------------------------------


def _failing_run(drops, moto, good_lake, tmp_path, policy: Policy, landing: str | None = None):
    """Copy the good lake, run against a permanently failing S3, return what happened."""
    lake = tmp_path / "lake"
    shutil.copytree(good_lake["lake"], lake)
    before_files, before = files_under(lake), snapshot(lake)
    with proxied(moto, policy) as proxy:
        code, output = _materialize(landing or f"s3://{BUCKET}/{PREFIX}", lake)
    return {
        "code": code,
        "output": output,
        "proxy": proxy,
        "requests": proxy.requests,
        "unchanged": files_under(lake) == before_files and snapshot(lake) == before,
        "new_files": sorted(set(files_under(lake)) - set(before_files)),
    }


MISSING_BUCKET = f"s3://no-such-bucket/{PREFIX}"


def _forward(n: int, method: str, path: str) -> None:
    return None


def _deny_all(n: int, method: str, path: str) -> str:
    return "403"


def _deny_objects(n: int, method: str, path: str) -> str | None:
    return "403" if _is_object_get(method, path) else None


@pytest.mark.slow
def test_access_denied_everywhere_fails_and_writes_nothing(drops, moto, good_lake, tmp_path):
    run = _failing_run(drops, moto, good_lake, tmp_path, _deny_all)
    assert run["code"] != 0
    assert "AccessDenied" in run["output"] or "Access Denied" in run["output"], run["output"]
    assert run["unchanged"], f"the lake changed: {run['new_files'][:10]}"


@pytest.mark.slow
def test_missing_bucket_fails_and_writes_nothing(drops, moto, good_lake, tmp_path):
    run = _failing_run(drops, moto, good_lake, tmp_path, _forward, landing=MISSING_BUCKET)
    assert run["code"] != 0
    steps = _failed_steps(run["output"])
    assert "NoSuchBucket" in steps or "no-such-bucket" in steps, run["output"]
    assert run["unchanged"], f"the lake changed: {run['new_files'][:10]}"


@pytest.mark.slow
def test_unreadable_objects_fail_and_write_nothing(drops, moto, good_lake, tmp_path):
    run = _failing_run(drops, moto, good_lake, tmp_path, _deny_objects)
    assert run["code"] != 0
    assert "AccessDenied" in run["output"] or "Access Denied" in run["output"], run["output"]
    assert run["unchanged"], f"the lake changed: {run['new_files'][:10]}"


@pytest.mark.slow
def test_permanent_failures_name_the_bucket_and_file(drops, moto, good_lake, tmp_path):
    """The CLI's "Failed steps" lines (not just its banner) must say what could not be read."""
    missing = _failing_run(drops, moto, good_lake, tmp_path / "m", _forward, MISSING_BUCKET)
    denied = _failing_run(drops, moto, good_lake, tmp_path / "a", _deny_all)
    unreadable = _failing_run(drops, moto, good_lake, tmp_path / "b", _deny_objects)
    problems = []
    if "no-such-bucket" not in _failed_steps(missing["output"]):
        problems.append("missing bucket not named")
    if BUCKET not in _failed_steps(denied["output"]):
        problems.append("denied bucket not named")
    if f"s3://{BUCKET}/{PREFIX}/" not in _failed_steps(unreadable["output"]):
        problems.append("unreadable object not named")
    assert not problems, problems


def _failed_steps(output: str) -> str:
    """What the CLI says failed: its "Failed steps" lines, or the error that stopped it before
    any step ran (a landing zone that cannot be listed)."""
    steps = output.split("Failed steps:", 1)[1] if "Failed steps:" in output else ""
    stopped = [line for line in output.splitlines() if line.startswith("finance-assets: error:")]
    return steps + "\n".join(stopped)


@pytest.mark.slow
def test_a_body_cut_off_midway_is_retried(drops, moto, good_lake, local_result, tmp_path):
    """A connection dropped in the middle of an object's body (after a 200) is transient:
    the first read of every object is cut off halfway, and the read resumes from the next
    byte in the same task (one more request per object, no step retried). Bronze's
    landing-records check then reads each object once more, whole."""
    seen: set[str] = set()
    object_gets = [0]

    def policy(n: int, method: str, path: str) -> str | None:
        if not _is_object_get(method, path):
            return None
        object_gets[0] += 1
        if path not in seen:
            seen.add(path)
            return "truncate"
        return None

    lake = tmp_path / "lake"
    with proxied(moto, policy) as proxy:
        code, output = _materialize(f"s3://{BUCKET}/{PREFIX}", lake)
    assert proxy.faults["truncate"] == drops["objects"]
    assert code == 0, output[-3000:]
    assert object_gets[0] == 3 * drops["objects"], (
        "each object: the cut-off read, one resume, one read by the landing-records check"
    )
    assert snapshot(lake) == local_result


@pytest.mark.slow
def test_permanent_errors_are_reported_at_once(drops, moto, good_lake, tmp_path):
    """A landing zone that answers 403 stops the command before any run: one ListObjectsV2,
    not tried again."""
    run = _failing_run(drops, moto, good_lake, tmp_path, _deny_all)
    assert run["code"] == 2, run["output"]
    assert run["requests"] == 1, f"{run['requests']} requests for one listing"
