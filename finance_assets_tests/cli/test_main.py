"""The installed ``finance-assets`` console script works end to end in a fresh process, and
its ``--json`` output can be parsed (nothing else on standard output)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from datetime import date
from decimal import Decimal
from pathlib import Path

from finance_assets.lake.arrow import read_table

DAY = "2024-01-01"
FILES = {
    f"orders/{DAY}/orders.csv": (
        "order_id,order_date,customer_id,product_category,order_amount,order_status\n"
        f"1,{DAY},C1,Books,10.00,COMPLETED\n"
    ),
    f"payments/{DAY}/payments.csv": (
        "payment_id,order_id,payment_date,paid_amount,payment_status,payment_method\n"
        f"P1,1,{DAY},10.00,SUCCESS,CARD\n"
    ),
    f"expenses/{DAY}/expenses.csv": (
        "expense_id,department,expense_date,expense_category,expense_amount\n"
        f"1,IT,{DAY},Software,4.00\n"
    ),
    f"budgets/{DAY}/budgets.csv": "department,month,budget_amount\nIT,2024-01,100.00\n",
}


def _console_script() -> str:
    beside_python = Path(sys.executable).parent / "finance-assets"
    if beside_python.exists():
        return str(beside_python)
    found = shutil.which("finance-assets")
    assert found, "the finance-assets console script is not installed"
    return found


def test_console_script_materializes_one_day(tmp_path: Path) -> None:
    landing, lake = tmp_path / "landing", tmp_path / "lake"
    for relative, text in FILES.items():
        path = landing / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("FINANCE_")}
    env.setdefault("FINANCE_SPARK_SHUFFLE_PARTITIONS", "2")
    env.setdefault("FINANCE_SPARK_DRIVER_MEMORY", "1g")

    argv = [_console_script(), "materialize", "--landing", str(landing), "--lake", str(lake)]
    argv += ["--start", DAY, "--end", DAY, "--json"]
    result = subprocess.run(
        argv,
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )

    assert result.returncode == 0, f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    # Standard output is the JSON summary alone: the JVM the process starts logs to stderr.
    assert json.loads(result.stdout)["status"] == "succeeded", result.stdout
    table = lake / "gold" / "daily_kpi"
    assert (table / "_delta_log").is_dir()
    rows = read_table(str(table)).to_pylist()
    assert len(rows) == 1
    row = rows[0]
    assert row["date"] == date(2024, 1, 1)
    assert row["revenue"] == Decimal("10.00")  # P1 SUCCESS 10.00
    assert row["expenses"] == Decimal("4.00")
    assert row["profit"] == Decimal("6.00")  # 10.00 - 4.00
