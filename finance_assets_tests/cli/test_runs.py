"""``finance-assets materialize`` talks while it runs: one line per finished step (asset,
partitions, rows, seconds), nothing with ``--quiet``, one JSON summary with ``--json``; a run
that fails its blocking checks is alerted through the configured sinks like a daemon run."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from finance_assets.automation.jobs import DAILY_JOB, cadence_keys
from finance_assets.cli import main
from finance_assets_tests.automation.test_alerts import Webhook

DAYS = ("2024-01-01", "2024-01-02")
ORDERS = "order_id,order_date,customer_id,product_category,order_amount,order_status\n"
PAYMENTS = "payment_id,order_id,payment_date,paid_amount,payment_status,payment_method\n"
EXPENSES = "expense_id,department,expense_date,expense_category,expense_amount\n"


def write_landing(landing: Path, bad_orders: bool = False) -> None:
    """Two days of drops; with ``bad_orders`` half of the second day's orders are invalid."""
    for n, day in enumerate(DAYS, start=1):
        amount = "$12" if bad_orders and n == 2 else "12.00"
        files = {
            "orders": ORDERS
            + f"{n}1,{day},C1,Books,10.00,COMPLETED\n{n}2,{day},C2,Toys,{amount},PENDING\n",
            "payments": PAYMENTS + f"P{n}1,{n}1,{day},10.00,SUCCESS,CARD\n",
            "expenses": EXPENSES + f"{n}1,IT,{day},Cloud,3.00\n",
        }
        for dataset, text in files.items():
            (landing / dataset / day).mkdir(parents=True, exist_ok=True)
            (landing / dataset / day / "drop.csv").write_text(text)
    (landing / "budgets" / DAYS[0]).mkdir(parents=True, exist_ok=True)
    (landing / "budgets" / DAYS[0] / "drop.csv").write_text(
        "department,month,budget_amount\nIT,2024-01,50.00\n"
    )


@pytest.fixture(scope="module")
def landing(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("cli-runs") / "landing"
    write_landing(folder)
    return folder


def argv(landing: Path, lake: Path, *flags: str) -> list[str]:
    return [
        "materialize",
        "--landing",
        str(landing),
        "--lake",
        str(lake),
        "--start",
        DAYS[0],
        "--end",
        DAYS[1],
        *flags,
    ]


STEP = re.compile(r"^  \[\s*(\d+)/(\d+)\] (.+) \((\d+\.\d s|\d+m \d\ds)\)$")


@pytest.mark.slow
def test_one_line_per_finished_step_then_the_summary(spark, landing, tmp_path, capsys):
    assert main(argv(landing, tmp_path / "lake")) == 0
    out = capsys.readouterr().out.splitlines()

    header = out.index(f"{DAILY_JOB} {DAYS[0]}..{DAYS[1]} (2 partitions): 14 steps")
    steps = [STEP.match(line) for line in out[header + 1 : header + 15]]
    assert all(steps), out[header + 1 : header + 15]
    assert [int(m[1]) for m in steps] == list(range(1, 15))
    assert out[header + 15].startswith(f"{DAILY_JOB} finished in ")
    lines = {m[3] for m in steps}
    for key in cadence_keys("daily"):
        asset = key.to_user_string()
        written = [line for line in lines if line.startswith(asset + " ") or f", {asset} " in line]
        assert written, f"no line for {asset}: {sorted(lines)}"
        assert re.search(rf"{re.escape(asset)} \d+ rows?", written[0]), written[0]
        assert f"{DAYS[0]}..{DAYS[1]}" in written[0], written[0]
    bronze = next(line for line in lines if line.startswith("bronze/orders_raw "))
    assert bronze.startswith("bronze/orders_raw 4 rows ") and "2 checks passed" in bronze
    # Silver's step judges its schemas, keys, reconciliation with bronze and quarantine rate.
    silver = next(line for line in lines if line.startswith("silver/orders "))
    assert "5 checks passed" in silver, silver
    assert any(
        line.startswith("check silver/payment_orders:payments_have_orders") for line in lines
    )
    assert "monthly_assets 2024-01-01: 8 steps" in out
    assert "All blocking checks passed." in out


@pytest.mark.slow
def test_quiet_prints_nothing_and_json_prints_one_summary(spark, landing, tmp_path, capsys):
    lake = tmp_path / "lake"
    assert main(argv(landing, lake, "--quiet")) == 0
    quiet = capsys.readouterr()
    assert quiet.out == ""

    assert main(argv(landing, lake, "--json")) == 0
    summary = json.loads(capsys.readouterr().out)  # the whole of stdout is one JSON object
    assert summary["status"] == "succeeded" and summary["exit_code"] == 0
    assert [r["job"] for r in summary["runs"]] == [
        "daily_assets",
        "monthly_assets",
        "analytics/dashboard",
    ]
    assert summary["runs"][0]["partitions"] == f"{DAYS[0]}..{DAYS[1]}"
    assert all(r["status"] == "succeeded" and r["run_id"] for r in summary["runs"])
    assert summary["rows"]["bronze/orders_raw"] == 4
    assert summary["rows"]["gold/daily_kpi"] == 2
    assert summary["failed_checks"] == [] and summary["failed_steps"] == []
    assert summary["passed_checks"] > 20
    assert summary["late_payment_days"] == [] and summary["alerts"] == {}


@pytest.mark.slow
def test_a_run_failing_its_blocking_checks_is_alerted_like_a_daemon_run(
    spark, tmp_path, capsys, monkeypatch
):
    landing, lake, log = tmp_path / "landing", tmp_path / "lake", tmp_path / "alerts.log"
    write_landing(landing, bad_orders=True)
    monkeypatch.setenv("FINANCE_QUARANTINE_MIN_ROWS", "1")
    monkeypatch.setenv("FINANCE_QUARANTINE_WARN_RATE", "0.1")
    monkeypatch.setenv("FINANCE_QUARANTINE_ERROR_RATE", "0.4")
    monkeypatch.setenv("FINANCE_ALERT_LOG", str(log))
    with Webhook() as webhook:
        monkeypatch.setenv("FINANCE_ALERT_WEBHOOK_URL", webhook.url)
        code = main(argv(landing, lake, "--json"))
    summary = json.loads(capsys.readouterr().out)

    assert code == 1 and summary["exit_code"] == 1 and summary["status"] == "failed"
    (failed,) = [
        c for c in summary["failed_checks"] if c["check"] == "silver/orders:quarantine_rate"
    ]
    assert failed["severity"] == "ERROR" and failed["blocking"] is True
    assert "above 40%" in failed["message"]  # what the check said, as on stderr
    (record,) = [json.loads(line) for line in log.read_text().splitlines()]
    daily = summary["runs"][0]
    assert record["kind"] == "run_failure"
    assert record["incident"] == f"run:{daily['run_id']}"
    assert record["title"] == f"Run failed: {DAILY_JOB} {DAYS[0]}..{DAYS[1]}"
    assert record["lines"][0] == f"Run {daily['run_id']} (started by cli)"
    assert any(
        line.startswith("Failed check silver/orders:quarantine_rate (ERROR)")
        for line in record["lines"]
    ), record["lines"]
    (posted,) = webhook.bodies
    assert posted["text"].startswith(f"[finance-assets] Run failed: {DAILY_JOB} ")
    assert summary["alerts"] == {record["incident"]: {"log": "sent", "webhook": "sent"}}
    assert summary["skipped"] == ["monthly_assets"]
