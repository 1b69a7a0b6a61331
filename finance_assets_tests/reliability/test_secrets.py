"""Secrets in the environment never reach a log, metadata or any file a run writes.

A ``finance-assets materialize`` process runs with unique secrets in every variable that
may carry one (AWS credentials, a Databricks token, alerting credentials), reading its
landing zone from S3 (moto on 127.0.0.1, checking every signature against the temporary
credentials it issued) so the AWS key, secret and session token are really used, on the
driver and in Spark's Python workers, where they reach the S3 clients as the landing
resource's settings (``dg.EnvVar``), and recording the run in a Dagster instance
(DAGSTER_HOME). Afterwards no secret may appear in its output or in any file
under the lake, the landing folder, DAGSTER_HOME or the working directory.
"""

from __future__ import annotations

import base64
import os
import subprocess
import sys
import uuid
from datetime import date
from pathlib import Path
from urllib.parse import quote

import boto3
import pytest

from finance_assets.landing.generate import GenerateConfig, generate
from finance_assets_tests.support.s3_server import moto_s3_server, temporary_credentials

BUCKET = "secret-test"


def _variants(secret: str) -> list[bytes]:
    raw = secret.encode()
    return [raw, quote(secret, safe="").encode(), base64.b64encode(raw), raw.hex().encode()]


@pytest.mark.slow
def test_no_secret_in_output_metadata_or_files(spark, tmp_path: Path) -> None:
    token = uuid.uuid4().hex
    hook = f"hook-{token}"
    landing, lake, home, work = (tmp_path / n for n in ("landing", "lake", "dagster_home", "work"))
    for folder in (home, work):
        folder.mkdir()
    generate(str(landing), GenerateConfig(date(2024, 1, 1), date(2024, 1, 1), orders_per_day=15))

    # The S3 endpoint checks every signature: only these temporary credentials (key, secret
    # and session token) open the landing zone, so the run must really use all three.
    with moto_s3_server(authenticate=True) as endpoint:
        aws = temporary_credentials(endpoint)
        secrets = {
            **aws,
            "DATABRICKS_TOKEN": f"dapi-{token}",
            "FINANCE_ALERT_SMTP_PASSWORD": f"smtp-password-{token}",
        }
        client = boto3.client(
            "s3",
            endpoint_url=endpoint,
            region_name="us-east-1",
            aws_access_key_id=aws["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=aws["AWS_SECRET_ACCESS_KEY"],
            aws_session_token=aws["AWS_SESSION_TOKEN"],
        )
        client.create_bucket(Bucket=BUCKET)
        for path in sorted(landing.rglob("*.csv")):
            client.put_object(
                Bucket=BUCKET,
                Key=f"in/{path.relative_to(landing).as_posix()}",
                Body=path.read_bytes(),
            )
        env = {k: v for k, v in os.environ.items() if not k.startswith(("FINANCE_", "AWS_"))}
        env.update(secrets)
        env.update(
            AWS_DEFAULT_REGION="us-east-1",
            AWS_ENDPOINT_URL_S3=endpoint,
            DAGSTER_HOME=str(home),
            DATABRICKS_HOST="https://example.invalid",
            FINANCE_ALERT_WEBHOOK_URL=f"http://127.0.0.1:9/hooks/{hook}",
            FINANCE_SPARK_SHUFFLE_PARTITIONS="2",
            FINANCE_SPARK_DRIVER_MEMORY="1g",
        )
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "finance_assets.cli",
                "materialize",
                "--verbose",
                "--landing",
                f"s3://{BUCKET}/in",
                "--lake",
                str(lake),
                "--start",
                "2024-01-01",
                "--end",
                "2024-01-01",
            ],
            cwd=work,
            env=env,
            capture_output=True,
            timeout=900,
        )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output.decode(errors="replace")[-3000:]
    assert (lake / "gold" / "daily_kpi" / "_delta_log").is_dir()
    assert any(home.rglob("*")), "the run must have been recorded in DAGSTER_HOME"

    needles = {name: _variants(value) for name, value in secrets.items()}
    needles["FINANCE_ALERT_WEBHOOK_URL"] = _variants(hook)
    leaks = []
    for name, variants in needles.items():
        if any(v in output for v in variants):
            leaks.append(f"{name} in the command's output")
    scanned = 0
    control = f"s3://{BUCKET}/in".encode()  # metadata the run does record: proves the scan works
    control_found = []
    for root in (lake, landing, home, work):
        for path in root.rglob("*"):
            if not path.is_file():
                continue
            data = path.read_bytes()
            scanned += 1
            if root == home and control in data:
                control_found.append(path)
            for name, variants in needles.items():
                if any(v in data for v in variants):
                    leaks.append(f"{name} in {path}")
    assert scanned > 20
    assert control_found, "the Dagster instance should hold the run's metadata (landing_uri)"
    assert not leaks, leaks
