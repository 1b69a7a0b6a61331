"""``finance-assets close`` and ``reopen``: a run that would change a closed month fails its
blocking check with a message naming the month and the values, and leaves the month as
published; the late data waits in silver (reported, alerted) until an explicit, recorded
reopen lets the next run apply it."""

from __future__ import annotations

import json

from finance_assets.cli import main
from finance_assets_tests.support.audit_lake import (
    ORDER_DAY,
    PAID,
    WAITING_DAY,
    WAITING_PAYMENT,
)


def test_a_run_that_would_change_a_closed_month_fails_naming_the_month_and_values(audit_lake):
    assert audit_lake.steps["close"].code == 0
    assert audit_lake.steps["close"].out.startswith("Closed: 2024-01 closed on ")
    step = audit_lake.steps["closed"]
    assert step.code == 1
    assert "gold/sales_performance:closed_months_unchanged (ERROR)" in step.err
    before = audit_lake.sales["late"][audit_lake.order_id]
    assert "Closed month 2024-01: this run would change" in step.err
    wanted = (
        f"order_date {ORDER_DAY} key {audit_lake.order_id} total_paid: "
        f"{before['total_paid']} -> {before['total_paid'] + PAID}"
    )
    assert wanted in step.err


def test_nothing_of_the_closed_month_is_overwritten(audit_lake):
    assert audit_lake.sales["closed"] == audit_lake.sales["late"]


def test_the_late_data_lands_in_silver_and_is_reported_as_waiting(audit_lake):
    links = audit_lake.table("silver/payment_orders")
    assert [r["order_date"] for r in links if r["payment_id"] == WAITING_PAYMENT] == [ORDER_DAY]
    alerts = [
        json.loads(line)
        for line in (audit_lake.root / "alerts.log").read_text().splitlines()
        if line.strip()
    ]
    waiting = [a for a in alerts if a["kind"] == "closed_month"]
    assert len(waiting) == 1
    assert "Closed month 2024-01" in waiting[0]["title"]
    assert f"key {audit_lake.order_id} total_paid" in waiting[0]["lines"][0]


def test_reopen_is_recorded_and_the_next_run_applies_what_waited(audit_lake):
    assert audit_lake.steps["reopen"].code == 0
    listed = audit_lake.cli("list", "close", "--list", "--lake", audit_lake.uri)
    lines = listed.out.splitlines()
    assert lines[0].startswith("2024-01 closed on ") and "(January reported)" in lines[0]
    assert lines[1].startswith("2024-01 reopened on ") and "(late payment)" in lines[1]
    assert lines[2] == "Closed now: none"

    assert audit_lake.steps["reopened"].code == 0, audit_lake.steps["reopened"].err
    before = audit_lake.sales["late"][audit_lake.order_id]
    after = audit_lake.sales["reopened"][audit_lake.order_id]
    assert after["total_paid"] == before["total_paid"] + PAID
    last_run = max(audit_lake.table("gold/restatements"), key=lambda r: r["restated_at"])
    assert last_run["key_value"] == str(audit_lake.order_id)
    assert last_run["restated_on"] >= WAITING_DAY  # restated today, not on a business day


def test_close_and_reopen_refuse_what_cannot_be_done(tmp_path, capsys):
    lake = tmp_path / "lake"
    lake.mkdir()
    assert main(["close", "2024-13", "--lake", str(lake)]) == 2
    assert "'2024-13' is not a month YYYY-MM" in capsys.readouterr().err
    assert main(["reopen", "2024-02", "--lake", str(lake)]) == 2
    assert "2024-02 is not closed, so it cannot be reopened" in capsys.readouterr().err
    assert main(["close", "2024-02", "--lake", str(lake)]) == 0
    assert main(["close", "2024-02", "--lake", str(lake)]) == 2
    assert "2024-02 is already closed" in capsys.readouterr().err
    assert main(["close", "2024-02", "--lake", str(tmp_path / "nowhere")]) == 2
    assert "no lake at" in capsys.readouterr().err
