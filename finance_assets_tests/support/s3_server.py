"""A throwaway S3 endpoint for tests: moto's standalone server on 127.0.0.1.

The server runs in its own process (not moto's in-process mock) so that every S3 client
the product creates, on the driver and inside Spark's Python workers, talks real HTTP to a
real endpoint, exactly as it would to MinIO or AWS.

    with moto_s3_server() as endpoint_url:
        boto3.client("s3", endpoint_url=endpoint_url, ...)
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator

HOST = "127.0.0.1"
START_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 5.0


def free_port(host: str = HOST) -> int:
    """A TCP port on ``host`` that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


# Loopback only: never route through a proxy configured in the environment.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _answers(url: str) -> bool:
    try:
        with _OPENER.open(url, timeout=1) as response:
            return response.status < 500
    except urllib.error.HTTPError as exc:  # any HTTP answer means the server is up
        return exc.code < 500
    except OSError:
        return False


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=STOP_TIMEOUT_S)


def _start(log, env: dict[str, str], timeout: float) -> tuple[subprocess.Popen, str]:
    """One server on a fresh free port, answering; raises (server stopped) if it does not."""
    port = free_port()
    endpoint = f"http://{HOST}:{port}"
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", HOST, "-p", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        env=env,
    )
    try:
        deadline = time.monotonic() + timeout
        while not _answers(f"{endpoint}/moto-api/"):
            if process.poll() is not None:
                raise _Exited(f"moto server on {endpoint} exited with {process.returncode}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"moto server on {endpoint} did not answer in {timeout:.0f} s")
            time.sleep(0.1)
    except BaseException:
        _stop(process)
        raise
    return process, endpoint


class _Exited(RuntimeError):
    """The server process ended while starting (e.g. another process took the port)."""


# With authentication on, moto accepts this many requests unsigned: what
# ``temporary_credentials`` needs to create the user and the role.
_SETUP_REQUESTS = 5


@contextlib.contextmanager
def moto_s3_server(
    timeout: float = START_TIMEOUT_S, attempts: int = 3, authenticate: bool = False
) -> Iterator[str]:
    """Start ``python -m moto.server`` on 127.0.0.1:<free port>; yield its endpoint URL.

    ``authenticate``: the server checks every request's signature against the credentials
    it issued (call :func:`temporary_credentials` first), as AWS does; otherwise it accepts
    any. The server is always stopped on exit (terminated, then killed if it does not stop).
    A server that exits while starting is retried on another port; its output is shown in
    the error when it never comes up.
    """
    # The server must not pick up an endpoint meant for the product's clients.
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_ENDPOINT_URL")}
    if authenticate:
        env["INITIAL_NO_AUTH_ACTION_COUNT"] = str(_SETUP_REQUESTS)
    with tempfile.TemporaryFile(mode="w+b") as log:
        for attempt in range(1, attempts + 1):
            try:
                process, endpoint = _start(log, env, timeout)
                break
            except RuntimeError as exc:
                if isinstance(exc, _Exited) and attempt < attempts:
                    continue
                log.seek(0)
                output = log.read().decode("utf-8", "replace")[-4000:]
                raise RuntimeError(f"{exc}:\n{output}") from None
        try:
            yield endpoint
        finally:
            _stop(process)


def reset(endpoint: str) -> None:
    """Forget every bucket and object the server holds."""
    request = urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST")
    with _OPENER.open(request, timeout=5):
        pass


def temporary_credentials(endpoint: str) -> dict[str, str]:
    """Temporary credentials (key, secret and session token, all three required) of a role
    allowed everything on S3, from a server started with ``authenticate=True``; as the
    ``AWS_*`` variables that carry them. Call it before any other request to the server."""
    import json

    import boto3

    allow = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Resource": "*"}]}
    anyone = {"AWS": "*"}
    iam = boto3.client(
        "iam",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="setup",
        aws_secret_access_key="setup",
    )
    iam.create_user(UserName="operator")
    everything = {"Statement": [{**allow["Statement"][0], "Action": "*"}]}
    iam.put_user_policy(
        UserName="operator",
        PolicyName="all",
        PolicyDocument=json.dumps({**allow, **everything}),
    )
    key = iam.create_access_key(UserName="operator")["AccessKey"]
    trust = {"Statement": [{"Effect": "Allow", "Principal": anyone, "Action": "sts:AssumeRole"}]}
    iam.create_role(RoleName="landing-reader", AssumeRolePolicyDocument=json.dumps(trust))
    s3_only = {"Statement": [{**allow["Statement"][0], "Action": "s3:*"}]}
    iam.put_role_policy(
        RoleName="landing-reader", PolicyName="s3", PolicyDocument=json.dumps({**allow, **s3_only})
    )
    sts = boto3.client(
        "sts",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id=key["AccessKeyId"],
        aws_secret_access_key=key["SecretAccessKey"],
    )
    role = "arn:aws:iam::123456789012:role/landing-reader"
    issued = sts.assume_role(RoleArn=role, RoleSessionName="landing")["Credentials"]
    return {
        "AWS_ACCESS_KEY_ID": issued["AccessKeyId"],
        "AWS_SECRET_ACCESS_KEY": issued["SecretAccessKey"],
        "AWS_SESSION_TOKEN": issued["SessionToken"],
    }
