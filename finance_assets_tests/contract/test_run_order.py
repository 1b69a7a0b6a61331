"""Exact whatever the run order (contract section 4): the same drops materialized in one run,
day by day, and month by month, each run seeing only the drops landed so far, leave the same
lake, value for value: late payments reach their order days, and a payment whose order lands
after it leaves ``unmatched_payments`` once the order is there.

The drops are generated (payments arrive up to ten days after their orders, orphans included)
plus three hand-made payments: one dated before its order (its order lands later), one for
an order of the first day that lands in the second month, and one whose order never comes.

The day-by-day lake also re-runs an old day: two files of the first day land only after the
last day's run (``late.csv``: an order that an orphan payment of the second day was waiting
for, and a payment for an order of the third day), then the first day alone is materialized
again. The orphan must find its order and the payment reach its later order day, exactly as
in the lakes that saw both files from the start.
"""

from __future__ import annotations

import shutil
from datetime import date, timedelta
from pathlib import Path

import pytest

from finance_assets.cli import materialize
from finance_assets.contract import DATASETS
from finance_assets.lake.arrow import read_table
from finance_assets.landing.generate import GenerateConfig, generate

START, END = date(2024, 1, 30), date(2024, 2, 2)
PREPAID_ORDER = 1_000_000_001  # dated 2024-02-02, paid on 2024-01-30
LATE_PAID_ORDER = 1_000_000_002  # dated 2024-01-30, paid on 2024-02-02
LATE_ORDER = (
    1_000_000_003  # dated 2024-01-30 in a late file; paid on 2024-01-31 (an orphan until then)
)
FORWARD_PAID_ORDER = 1_000_000_004  # dated 2024-02-01, paid in a late file of 2024-01-30
LATE_FILE = "late.csv"
ORDERS = "order_id,order_date,customer_id,product_category,order_amount,order_status\n"
PAYMENTS = "payment_id,order_id,payment_date,paid_amount,payment_status,payment_method\n"
INGESTION = {"_ingested_at", "_run_id"}
TABLES = (
    *(f"{layer}/{name}" for layer in ("bronze", "silver", "quarantine") for name in DATASETS),
    "silver/payment_orders",
    "gold/daily_kpi",
    "gold/sales_performance",
    "gold/customer_360",
    "gold/unmatched_payments",
    "gold/financial_summary",
    "gold/monthly_financial_report",
    "gold/budget_vs_actual",
)


def _drops(root: Path) -> Path:
    """Every drop of the range, in a folder the runs' landing zones are filled from."""
    drops = root / "drops"
    generate(
        str(drops),
        GenerateConfig(start=START, end=END, orders_per_day=6, dirty_rate=0.05, seed=11),
    )
    _add(
        drops,
        "orders",
        date(2024, 2, 2),
        ORDERS + f"{PREPAID_ORDER},2024-02-02,C7,Toys,30.00,PENDING\n",
    )
    _add(
        drops,
        "payments",
        date(2024, 1, 30),
        PAYMENTS + f"P900000001,{PREPAID_ORDER},2024-01-30,30.00,SUCCESS,CARD\n",
    )
    _add(
        drops, "orders", START, ORDERS + f"{LATE_PAID_ORDER},2024-01-30,C8,Books,12.50,COMPLETED\n"
    )
    _add(
        drops,
        "payments",
        date(2024, 2, 2),
        PAYMENTS + f"P900000002,{LATE_PAID_ORDER},2024-02-02,12.50,SUCCESS,UPI\n",
    )
    _add(  # an orphan: its order never arrives
        drops,
        "payments",
        date(2024, 1, 31),
        PAYMENTS + "P900000003,1000000099,2024-01-31,4.20,SUCCESS,UPI\n",
    )
    _add(  # an orphan until the late file of the first day brings its order
        drops,
        "payments",
        date(2024, 1, 31),
        PAYMENTS + f"P900000004,{LATE_ORDER},2024-01-31,8.00,SUCCESS,CARD\n",
        "waiting.csv",
    )
    _add(
        drops,
        "orders",
        START,
        ORDERS + f"{LATE_ORDER},2024-01-30,C9,Books,8.00,PENDING\n",
        LATE_FILE,
    )
    _add(
        drops,
        "orders",
        date(2024, 2, 1),
        ORDERS + f"{FORWARD_PAID_ORDER},2024-02-01,C9,Toys,5.00,PENDING\n",
    )
    _add(
        drops,
        "payments",
        START,
        PAYMENTS + f"P900000005,{FORWARD_PAID_ORDER},2024-01-30,5.00,SUCCESS,CARD\n",
        LATE_FILE,
    )
    return drops


def _add(drops: Path, dataset: str, day: date, text: str, name: str = "extra.csv") -> None:
    folder = drops / dataset / day.isoformat()
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(text)


def _land_until(drops: Path, landing: Path, last: date, held: tuple[str, ...] = ()) -> None:
    """The landing zone as it is on ``last``: every drop folder dated up to then, without
    the files named in ``held``."""
    for dataset in DATASETS:
        (landing / dataset).mkdir(parents=True, exist_ok=True)
        for folder in (drops / dataset).iterdir():
            if (
                date.fromisoformat(folder.name) <= last
                and not (landing / dataset / folder.name).exists()
            ):
                shutil.copytree(
                    folder, landing / dataset / folder.name, ignore=shutil.ignore_patterns(*held)
                )


def _land_late_files(drops: Path, landing: Path) -> None:
    for late in drops.glob(f"*/*/{LATE_FILE}"):
        shutil.copy(late, landing / late.relative_to(drops))


def _lake(
    root: Path, name: str, drops: Path, runs: list[tuple[date, date]], late_rerun: bool = False
) -> Path:
    """Materialize ``runs`` in order; with ``late_rerun``, the late files land only after the
    last run, and the first day is then materialized again."""
    landing, lake = root / name / "landing", root / name / "lake"
    held = (LATE_FILE,) if late_rerun else ()
    for first, last in runs:
        _land_until(drops, landing, last, held)
        outcome = materialize(str(landing), str(lake), first, last)
        assert outcome.succeeded, (name, first, last, outcome.failed_steps)
    if late_rerun:
        _land_late_files(drops, landing)
        outcome = materialize(str(landing), str(lake), START, START)
        assert outcome.succeeded, (name, "re-run", outcome.failed_steps)
    return lake


def _rows(lake: Path, table: str) -> list[tuple]:
    rows = read_table(str(lake / table)).to_pylist()
    for row in rows:  # the landing folder differs between the three lakes, the rest must not
        if "_source_file" in row:
            row["_source_file"] = row["_source_file"].split("/landing/", 1)[1]
    return sorted(
        tuple(sorted((k, repr(v)) for k, v in row.items() if k not in INGESTION)) for row in rows
    )


@pytest.fixture(scope="module")
def lakes(spark, tmp_path_factory):
    root = tmp_path_factory.mktemp("run_order")
    drops = _drops(root)
    days = [(START + timedelta(days=i),) * 2 for i in range((END - START).days + 1)]
    return {
        "one run": _lake(root, "one", drops, [(START, END)]),
        "day by day": _lake(root, "daily", drops, days, late_rerun=True),
        "month by month": _lake(
            root, "monthly", drops, [(START, date(2024, 1, 31)), (date(2024, 2, 1), END)]
        ),
    }


@pytest.mark.parametrize("table", TABLES)
def test_every_table_is_the_same_however_the_range_was_run(lakes, table):
    expected = _rows(lakes["one run"], table)
    assert expected or table.startswith("quarantine/budgets"), f"{table} is empty"
    for way in ("day by day", "month by month"):
        assert _rows(lakes[way], table) == expected, f"{table}: {way} differs from one run"


def test_a_payment_before_its_order_leaves_the_unmatched_list_when_the_order_lands(lakes):
    for way, lake in lakes.items():
        unmatched = {
            r["order_id"] for r in read_table(str(lake / "gold/unmatched_payments")).to_pylist()
        }
        assert PREPAID_ORDER not in unmatched, way
        sales = {
            r["order_id"]: r for r in read_table(str(lake / "gold/sales_performance")).to_pylist()
        }
        assert str(sales[PREPAID_ORDER]["total_paid"]) == "30.00", way


def test_a_late_payment_reaches_its_order_day_in_an_earlier_month(lakes):
    for way, lake in lakes.items():
        sales = {
            r["order_id"]: r for r in read_table(str(lake / "gold/sales_performance")).to_pylist()
        }
        order = sales[LATE_PAID_ORDER]
        assert (str(order["total_paid"]), str(order["pending_amount"])) == ("12.50", "0.00"), way
        customers = {
            r["customer_id"]: r for r in read_table(str(lake / "gold/customer_360")).to_pylist()
        }
        assert str(customers["C8"]["outstanding_amount"]) == "0.00", way


def test_a_re_run_old_day_matches_an_orphan_and_reaches_a_later_order_day(lakes):
    for way, lake in lakes.items():
        unmatched = {
            r["payment_id"] for r in read_table(str(lake / "gold/unmatched_payments")).to_pylist()
        }
        assert "P900000004" not in unmatched, way
        sales = {
            r["order_id"]: r for r in read_table(str(lake / "gold/sales_performance")).to_pylist()
        }
        assert str(sales[LATE_ORDER]["total_paid"]) == "8.00", way
        forward = sales[FORWARD_PAID_ORDER]
        assert str(forward["order_date"]) == "2024-02-01", way
        assert (str(forward["total_paid"]), str(forward["pending_amount"])) == ("5.00", "0.00"), way
