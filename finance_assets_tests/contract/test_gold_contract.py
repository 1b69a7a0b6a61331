"""Black-box contract tests for the gold tables, the layer identity, idempotency and the CLI.

One small landing folder is written by hand below and materialized for
2024-01-27..2024-02-01 (so January and February are both touched); every expected value
is worked out by hand from those rows, in the comments next to the assertions, straight
from /work/shared/spec/CONTRACT.md. Nothing here calls the product's transformation code:
the only product entry point used is the CLI's ``main``.

The landing folder (ids are chosen so each row tells one story; the materialize is run
twice, the second time through the env vars, to check idempotency):

orders (order_id, date, customer, category, amount, status)
  01-27: 1 C1 Electronics 100.00 COMPLETED   paid 40 on 01-28 + 60 on 01-31 (late, 2 SUCCESS)
         2 C2 Books        50    PENDING     FAILED 50 on 01-27, then SUCCESS 50 on 01-28
         3 C1 Books        30.00 cancelled   CANCELLED but paid 20 on 01-29
         9 C9 Toys         $50   COMPLETED   -> quarantine invalid_amount
  01-28: 4 C2 Toys         80.00 COMPLETED   paid 100 on 01-28 -> overpaid 20
         5 c3 Garden      200.00 PENDING     (date 2024/01/28) REFUNDED 200 on 01-29
         4 C2 Toys        999.00 COMPLETED   second file -> quarantine duplicate
  01-29: 6 C1 Electronics  10.00 COMPLETED   FAILED 10 on 01-31, never paid
  01-30: (empty folder, no data at all that day)
  01-31: 7 C4 Books        25.5  COMPLETED   paid 25.50 on 02-01 (late, next month)
  02-01: 8 C1 Electronics 174.50 COMPLETED   paid 174.50 on 02-01
payments: P7 (order 99, no such order) SUCCESS 15 on 01-29, P10 (order 9, quarantined)
  FAILED 5 on 01-31 are unmatched; P13 (method CASH) -> quarantine invalid_method.
expenses: 01-27 IT 100; 01-28 Sales 50, marketing 20 (+ id 8 dated 01-29 -> quarantine
  date_outside_partition); 01-29 IT 100, Operations 40 (+ Legal -> quarantine
  invalid_department); 02-01 Finance 2.01.
budgets: 2024-01: IT 300, Sales 150, HR 100, Operations 30 (+ "it,2024-01" -> quarantine
  duplicate); 2024-02: Finance 200, Operations 100.
"""

from __future__ import annotations

from collections import Counter
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace

import pyarrow as pa
import pytest
from deltalake import DeltaTable

from finance_assets.cli import main
from finance_assets.lake.arrow import read_table

D = Decimal
START, END = date(2024, 1, 27), date(2024, 2, 1)
LINEAGE_NOISE = {"_ingested_at", "_run_id"}
DATASETS = ("orders", "payments", "expenses", "budgets")
GOLD_TABLES = (
    "daily_kpi",
    "financial_summary",
    "monthly_financial_report",
    "budget_vs_actual",
    "sales_performance",
    "customer_360",
    "unmatched_payments",
)

ORDERS_HEADER = "order_id,order_date,customer_id,product_category,order_amount,order_status"
PAYMENTS_HEADER = "payment_id,order_id,payment_date,paid_amount,payment_status,payment_method"
EXPENSES_HEADER = "expense_id,department,expense_date,expense_category,expense_amount"
BUDGETS_HEADER = "month,department,budget_amount"  # column order is free (section 1)

LANDING_FILES: dict[str, list[str]] = {
    "orders/2024-01-27/orders_a.csv": [
        ORDERS_HEADER,
        "1,2024-01-27,C1,Electronics,100.00,COMPLETED",
        "2,2024-01-27,C2,Books,50,PENDING",
        "3,2024-01-27,C1,Books,30.00,cancelled",
        "9,2024-01-27,C9,Toys,$50,COMPLETED",
    ],
    "orders/2024-01-28/orders_a.csv": [
        ORDERS_HEADER,
        "4,2024-01-28,C2,Toys,80.00,COMPLETED",
        "5,2024/01/28,c3,Garden,200.00,PENDING",
    ],
    "orders/2024-01-28/orders_b.csv": [
        ORDERS_HEADER,
        "4,2024-01-28,C2,Toys,999.00,COMPLETED",
    ],
    "orders/2024-01-29/orders.csv": [ORDERS_HEADER, "6,2024-01-29,C1,Electronics,10.00,COMPLETED"],
    "orders/2024-01-31/orders.csv": [ORDERS_HEADER, "7,2024-01-31,C4,Books,25.5,COMPLETED"],
    "orders/2024-02-01/orders.csv": [ORDERS_HEADER, "8,2024-02-01,C1,Electronics,174.50,COMPLETED"],
    "payments/2024-01-27/payments.csv": [PAYMENTS_HEADER, "P1,2,2024-01-27,50.00,FAILED,CARD"],
    "payments/2024-01-28/payments.csv": [
        PAYMENTS_HEADER,
        "P2,1,2024-01-28,40.00,SUCCESS,UPI",
        "P3,2,2024-01-28,50.00,SUCCESS,CARD",
        "p4,4,2024-01-28,100.00,success,bank_transfer",
    ],
    "payments/2024-01-29/payments.csv": [
        PAYMENTS_HEADER,
        "P5,3,2024-01-29,20.00,SUCCESS,CARD",
        "P6,5,2024-01-29,200.00,REFUNDED,CARD",
        "P7,99,2024-01-29,15.00,SUCCESS,UPI",
    ],
    "payments/2024-01-31/payments.csv": [
        PAYMENTS_HEADER,
        "P8,1,2024-01-31,60.00,SUCCESS,CARD",
        "P9,6,2024-01-31,10.00,FAILED,UPI",
        "P10,9,2024-01-31,5.00,FAILED,CARD",
    ],
    "payments/2024-02-01/payments.csv": [
        PAYMENTS_HEADER,
        "P11,7,2024-02-01,25.50,SUCCESS,UPI",
        "P12,8,2024-02-01,174.50,SUCCESS,CARD",
        "P13,8,2024-02-01,1.00,SUCCESS,CASH",
    ],
    "expenses/2024-01-27/expenses.csv": [EXPENSES_HEADER, "1,IT,2024-01-27,Software,100.00"],
    "expenses/2024-01-28/expenses.csv": [
        EXPENSES_HEADER,
        "2,Sales,2024-01-28,Travel,50.00",
        "3,marketing,2024/01/28,Ads,20.00",
        "8,IT,2024-01-29,Hardware,7.00",
    ],
    "expenses/2024-01-29/expenses.csv": [
        EXPENSES_HEADER,
        "4,IT,2024-01-29,Hardware,100.00",
        "5,Operations,2024-01-29,Rent,40.00",
        "6,Legal,2024-01-29,Fees,9.00",
    ],
    "expenses/2024-02-01/expenses.csv": [EXPENSES_HEADER, "7,Finance,2024-02-01,Audit,2.01"],
    "budgets/2024-01-01/budgets.csv": [
        BUDGETS_HEADER,
        "2024-01-01,IT,300.00",
        "2024-01,Sales,150.00",
        "2024-01-01,HR,100.00",
        "2024-01-01,Operations,30.00",
        "2024-01,it,999.00",
    ],
    "budgets/2024-02-01/budgets.csv": [
        BUDGETS_HEADER,
        "2024-02,Finance,200.00",
        "2024-02-01,Operations,100.00",
    ],
}
EMPTY_FOLDERS = ("orders/2024-01-30",)


def write_landing(landing: Path) -> None:
    for relative, lines in LANDING_FILES.items():
        path = landing / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    for relative in EMPTY_FOLDERS:
        (landing / relative).mkdir(parents=True, exist_ok=True)


def materialize_args(landing: Path | None, lake: Path | None, start=START, end=END) -> list[str]:
    args = ["materialize"]
    if landing is not None:
        args += ["--landing", str(landing)]
    if lake is not None:
        args += ["--lake", str(lake)]
    return args + ["--start", start.isoformat(), "--end", end.isoformat()]


def run_cli(argv: list[str]) -> int:
    try:
        return main(argv)
    except SystemExit as exc:  # argparse errors
        return exc.code if isinstance(exc.code, int) else 1


def delta_tables(lake: Path) -> list[str]:
    return sorted(
        f"{layer.name}/{table.name}"
        for layer in lake.iterdir()
        if layer.is_dir()
        for table in layer.iterdir()
        if (table / "_delta_log").is_dir()
    )


def read_rows(lake: Path, table: str) -> list[dict]:
    return read_table(str(lake / table)).to_pylist()


def snapshot(lake: Path) -> dict[str, list[str]]:
    """Every table's rows without the per-run lineage columns, order-independent."""
    out = {}
    for table in delta_tables(lake):
        rows = [
            repr(sorted((k, v) for k, v in row.items() if k not in LINEAGE_NOISE))
            for row in read_rows(lake, table)
        ]
        out[table] = sorted(rows)
    return out


def as_date(value) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value)[:10])


def pct(value):
    """A percentage as a Decimal (tolerates a float column, whose repr must be the 2dp value)."""
    if value is None:
        return None
    return value if isinstance(value, Decimal) else Decimal(repr(value))


@pytest.fixture(scope="module", autouse=True)
def _shared_spark(spark):
    """Start the one shared Spark session before any CLI run in this module."""
    yield spark


@pytest.fixture(scope="module")
def pipeline(_shared_spark, tmp_path_factory):
    root = tmp_path_factory.mktemp("contract_gold")
    landing, lake = root / "landing", root / "lake"
    write_landing(landing)

    rc_first = run_cli(materialize_args(landing, lake))
    first = snapshot(lake)
    versions = {t: DeltaTable(str(lake / t)).version() for t in delta_tables(lake)}

    # Second run of the very same range, with the env vars standing in for the flags.
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("FINANCE_LANDING_URI", str(landing))
        mp.setenv("FINANCE_LAKE_URI", str(lake))
        rc_second = run_cli(materialize_args(None, None))
    second = snapshot(lake)
    versions_after = {t: DeltaTable(str(lake / t)).version() for t in delta_tables(lake)}
    return SimpleNamespace(
        landing=landing,
        lake=lake,
        rc_first=rc_first,
        rc_second=rc_second,
        first=first,
        second=second,
        versions=versions,
        versions_after=versions_after,
    )


def gold(pipeline, table: str) -> list[dict]:
    return read_rows(pipeline.lake, f"gold/{table}")


# --------------------------------------------------------------------------- CLI exit codes


def test_materialize_exits_zero_on_good_data(pipeline):
    assert pipeline.rc_first == 0


def test_env_vars_stand_in_for_landing_and_lake_flags(pipeline):
    # The second run passed neither --landing nor --lake: only the env vars.
    assert pipeline.rc_second == 0
    # ... and it really wrote into our lake (every gold table got a new Delta version).
    for table in GOLD_TABLES:
        key = f"gold/{table}"
        assert pipeline.versions_after[key] > pipeline.versions[key], key


def test_end_before_start_is_rejected(tmp_path, capsys):
    lake = tmp_path / "lake"
    rc = run_cli(materialize_args(tmp_path / "landing", lake, date(2024, 1, 31), date(2024, 1, 27)))
    err = capsys.readouterr().err
    assert rc != 0
    assert "before" in err and "2024-01-27" in err and "2024-01-31" in err, err
    assert not lake.exists()


def test_missing_lake_is_rejected(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("FINANCE_LAKE_URI", raising=False)
    landing = tmp_path / "landing"
    write_landing(landing)
    rc = run_cli(materialize_args(landing, None, date(2024, 1, 27), date(2024, 1, 27)))
    err = capsys.readouterr().err
    assert rc != 0
    assert "--lake" in err, err


# --------------------------------------------------------------------------- layers


# (dataset, partition) -> (bronze, silver, quarantine), counted from LANDING_FILES by hand.
EXPECTED_LAYER_COUNTS = {
    ("orders", "2024-01-27"): (4, 3, 1),  # order 9 "$50" -> invalid_amount
    ("orders", "2024-01-28"): (3, 2, 1),  # order 4 again in orders_b.csv -> duplicate
    ("orders", "2024-01-29"): (1, 1, 0),
    ("orders", "2024-01-31"): (1, 1, 0),
    ("orders", "2024-02-01"): (1, 1, 0),
    ("payments", "2024-01-27"): (1, 1, 0),
    ("payments", "2024-01-28"): (3, 3, 0),
    ("payments", "2024-01-29"): (3, 3, 0),
    ("payments", "2024-01-31"): (3, 3, 0),
    ("payments", "2024-02-01"): (3, 2, 1),  # P13 CASH -> invalid_method
    ("expenses", "2024-01-27"): (1, 1, 0),
    ("expenses", "2024-01-28"): (3, 2, 1),  # id 8 dated 01-29 -> date_outside_partition
    ("expenses", "2024-01-29"): (3, 2, 1),  # Legal -> invalid_department
    ("expenses", "2024-02-01"): (1, 1, 0),
    ("budgets", "2024-01-01"): (5, 4, 1),  # "it,2024-01" -> duplicate of IT/2024-01
    ("budgets", "2024-02-01"): (2, 2, 0),
}


def _partition_counts(lake: Path, layer: str, dataset: str) -> Counter:
    return Counter(str(as_date(r["partition_date"])) for r in read_rows(lake, f"{layer}/{dataset}"))


def test_bronze_equals_silver_plus_quarantine_for_every_dataset_and_partition(pipeline):
    for dataset in DATASETS:
        bronze = _partition_counts(pipeline.lake, "bronze", dataset)
        silver = _partition_counts(pipeline.lake, "silver", dataset)
        quarantine = _partition_counts(pipeline.lake, "quarantine", dataset)
        for partition in sorted(set(bronze) | set(silver) | set(quarantine)):
            assert bronze[partition] == silver[partition] + quarantine[partition], (
                dataset,
                partition,
                bronze[partition],
                silver[partition],
                quarantine[partition],
            )
        # and the counts are the hand-counted ones (so the identity is not a trivial 0 = 0)
        expected = {p: c for (d, p), c in EXPECTED_LAYER_COUNTS.items() if d == dataset}
        actual = {
            p: (bronze[p], silver[p], quarantine[p])
            for p in set(bronze) | set(silver) | set(quarantine)
        }
        assert actual == expected, dataset


def test_quarantine_reasons(pipeline):
    id_column = {
        "orders": "order_id",
        "payments": "payment_id",
        "expenses": "expense_id",
        "budgets": "department",
    }
    actual = set()
    for dataset in DATASETS:
        for row in read_rows(pipeline.lake, f"quarantine/{dataset}"):
            partition = str(as_date(row["partition_date"]))
            actual.add((dataset, partition, str(row[id_column[dataset]]).strip(), row["_reason"]))
    assert actual == {
        ("orders", "2024-01-27", "9", "invalid_amount"),
        ("orders", "2024-01-28", "4", "duplicate"),
        ("payments", "2024-02-01", "P13", "invalid_method"),
        ("expenses", "2024-01-28", "8", "date_outside_partition"),
        ("expenses", "2024-01-29", "6", "invalid_department"),
        ("budgets", "2024-01-01", "it", "duplicate"),
    }


def test_rematerializing_is_idempotent(pipeline):
    assert set(pipeline.first) >= {f"gold/{t}" for t in GOLD_TABLES}
    assert set(pipeline.second) == set(pipeline.first)
    for table in pipeline.first:
        assert len(pipeline.second[table]) == len(pipeline.first[table]), table
        assert pipeline.second[table] == pipeline.first[table], table


# --------------------------------------------------------------------------- gold types

MONEY_COLUMNS = {
    "daily_kpi": ("revenue", "expenses", "profit", "order_value"),
    "financial_summary": ("total_revenue", "total_expenses", "net_profit"),
    "monthly_financial_report": ("revenue", "expenses", "profit"),
    "budget_vs_actual": ("budget_amount", "actual_amount", "variance"),
    "sales_performance": ("order_amount", "total_paid", "pending_amount", "overpaid_amount"),
    "customer_360": ("total_order_value", "total_paid", "outstanding_amount", "overpaid_amount"),
    "unmatched_payments": ("paid_amount",),
}
DATE_COLUMNS = {
    "daily_kpi": ("date",),
    "financial_summary": ("month",),
    "monthly_financial_report": ("month",),
    "budget_vs_actual": ("month",),
    "sales_performance": ("order_date", "last_payment_date"),
    "customer_360": ("first_order_date", "last_order_date"),
    "unmatched_payments": ("payment_date",),
}


def test_gold_money_is_decimal_18_2_and_dates_are_dates(pipeline):
    for table in GOLD_TABLES:
        schema = read_table(str(pipeline.lake / "gold" / table)).schema
        for column in MONEY_COLUMNS[table]:
            assert schema.field(column).type == pa.decimal128(18, 2), (table, column)
        for column in DATE_COLUMNS[table]:
            assert schema.field(column).type == pa.date32(), (table, column)


# --------------------------------------------------------------------------- daily_kpi


def _zero_day(day: date) -> dict:
    return {
        "date": day,
        "revenue": D("0.00"),
        "expenses": D("0.00"),
        "profit": D("0.00"),
        "orders_count": 0,
        "order_value": D("0.00"),
        "payment_attempts": 0,
        "successful_payments": 0,
        "failed_payments": 0,
        "refunded_payments": 0,
        "payment_success_rate_pct": None,  # 0 attempts -> denominator 0 -> null
    }


def _expected_daily_kpi() -> dict[date, dict]:
    days = {}
    day = START
    while day <= END:
        days[day] = _zero_day(day)
        day += timedelta(days=1)
    # 01-27: orders 1 (100, COMPLETED), 2 (50, PENDING), 3 (30, CANCELLED) -> 3 valid orders,
    #        order_value 100 + 50 = 150.00 (cancelled excluded); order 9 is quarantined.
    #        payments: P1 FAILED -> 1 attempt, 0 success, rate 100*0/1 = 0.00, revenue 0.00.
    #        expenses: IT 100.00 -> profit 0 - 100 = -100.00.
    days[date(2024, 1, 27)].update(
        expenses=D("100.00"), profit=D("-100.00"), orders_count=3, order_value=D("150.00"),
        payment_attempts=1, failed_payments=1, payment_success_rate_pct=D("0.00"),
    )  # fmt: skip
    # 01-28: orders 4 (80), 5 (200) -> 2, 280.00 (duplicate of 4 quarantined).
    #        payments P2 40 + P3 50 + P4 100 all SUCCESS -> revenue 190.00, 3/3 = 100.00.
    #        expenses Sales 50 + Marketing 20 = 70.00 (id 8 quarantined) -> profit 120.00.
    days[date(2024, 1, 28)].update(
        revenue=D("190.00"), expenses=D("70.00"), profit=D("120.00"), orders_count=2,
        order_value=D("280.00"), payment_attempts=3, successful_payments=3,
        payment_success_rate_pct=D("100.00"),
    )  # fmt: skip
    # 01-29: order 6 (10) -> 1, 10.00.
    #        payments P5 SUCCESS 20, P6 REFUNDED 200, P7 SUCCESS 15 (orphan, still revenue)
    #        -> revenue 35.00, 3 attempts, 2 success, 1 refunded, 100*2/3 = 66.666.. -> 66.67.
    #        expenses IT 100 + Operations 40 = 140.00 (Legal quarantined) -> profit -105.00.
    days[date(2024, 1, 29)].update(
        revenue=D("35.00"), expenses=D("140.00"), profit=D("-105.00"), orders_count=1,
        order_value=D("10.00"), payment_attempts=3, successful_payments=2, refunded_payments=1,
        payment_success_rate_pct=D("66.67"),
    )  # fmt: skip
    # 01-30: nothing at all -> the zero row (success rate null).
    # 01-31: order 7 (25.50) -> 1, 25.50.
    #        payments P8 SUCCESS 60, P9 FAILED 10, P10 FAILED 5 (orphan) -> revenue 60.00,
    #        3 attempts, 1 success, 2 failed, 100*1/3 = 33.333.. -> 33.33. No expenses.
    days[date(2024, 1, 31)].update(
        revenue=D("60.00"), profit=D("60.00"), orders_count=1, order_value=D("25.50"),
        payment_attempts=3, successful_payments=1, failed_payments=2,
        payment_success_rate_pct=D("33.33"),
    )  # fmt: skip
    # 02-01: order 8 (174.50) -> 1, 174.50.
    #        payments P11 25.50 + P12 174.50 SUCCESS (P13 quarantined) -> revenue 200.00,
    #        2/2 = 100.00. expenses Finance 2.01 -> profit 197.99.
    days[date(2024, 2, 1)].update(
        revenue=D("200.00"), expenses=D("2.01"), profit=D("197.99"), orders_count=1,
        order_value=D("174.50"), payment_attempts=2, successful_payments=2,
        payment_success_rate_pct=D("100.00"),
    )  # fmt: skip
    return days


def test_daily_kpi(pipeline):
    rows = gold(pipeline, "daily_kpi")
    expected = _expected_daily_kpi()
    # one row per day materialized: 2024-01-27..2024-01-31 and 2024-02-01
    assert len(rows) == 6
    actual = {}
    for row in rows:
        row = {k: row[k] for k in _zero_day(START)}
        row["date"] = as_date(row["date"])
        row["payment_success_rate_pct"] = pct(row["payment_success_rate_pct"])
        actual[row["date"]] = row
    assert sorted(actual) == sorted(expected)
    for day in sorted(expected):
        assert actual[day] == expected[day], day


def test_daily_kpi_day_without_data_is_zero_with_null_rate(pipeline):
    row = next(r for r in gold(pipeline, "daily_kpi") if as_date(r["date"]) == date(2024, 1, 30))
    assert row["revenue"] == D("0.00") and row["expenses"] == D("0.00")
    assert row["profit"] == D("0.00") and row["order_value"] == D("0.00")
    assert row["orders_count"] == 0 and row["payment_attempts"] == 0
    assert row["payment_success_rate_pct"] is None


# --------------------------------------------------------------------------- monthly tables


def test_financial_summary(pipeline):
    rows = sorted(gold(pipeline, "financial_summary"), key=lambda r: as_date(r["month"]))
    columns = (
        "month", "year", "month_number", "total_revenue", "total_expenses", "net_profit",
        "expense_ratio_pct", "orders_paid",
    )  # fmt: skip
    actual = [
        {**{c: r[c] for c in columns}, "month": as_date(r["month"]),
         "expense_ratio_pct": pct(r["expense_ratio_pct"])}
        for r in rows
    ]  # fmt: skip
    assert actual == [
        {
            "month": date(2024, 1, 1),
            "year": 2024,
            "month_number": 1,
            # SUCCESS by payment date in January: 40 + 50 + 100 + 20 + 15 (orphan P7) + 60
            "total_revenue": D("285.00"),
            # 100 (IT) + 50 (Sales) + 20 (Marketing) + 100 (IT) + 40 (Operations)
            "total_expenses": D("310.00"),
            "net_profit": D("-25.00"),  # 285 - 310
            # 100 * 310 / 285 = 108.7719.. -> 108.77
            "expense_ratio_pct": D("108.77"),
            # valid orders with a SUCCESS payment dated January: 1 (P2, P8), 2 (P3), 4 (P4),
            # 3 (P5, cancelled but still a valid order); P7's order 99 is not valid -> 4
            "orders_paid": 4,
        },
        {
            "month": date(2024, 2, 1),
            "year": 2024,
            "month_number": 2,
            "total_revenue": D("200.00"),  # 25.50 + 174.50
            "total_expenses": D("2.01"),
            "net_profit": D("197.99"),
            # 100 * 2.01 / 200 = 1.005 exactly -> half-up 1.01 (a float gives 1.00499.. -> 1.00)
            "expense_ratio_pct": D("1.01"),
            "orders_paid": 2,  # orders 7 (P11, late payment for a January order) and 8 (P12)
        },
    ]


def test_monthly_financial_report_and_mom_growth(pipeline):
    rows = sorted(gold(pipeline, "monthly_financial_report"), key=lambda r: as_date(r["month"]))
    columns = (
        "month", "year", "month_number", "revenue", "expenses", "profit",
        "mom_revenue_growth_pct",
    )  # fmt: skip
    actual = [
        {**{c: r[c] for c in columns}, "month": as_date(r["month"]),
         "mom_revenue_growth_pct": pct(r["mom_revenue_growth_pct"])}
        for r in rows
    ]  # fmt: skip
    assert actual == [
        {
            "month": date(2024, 1, 1), "year": 2024, "month_number": 1,
            "revenue": D("285.00"), "expenses": D("310.00"), "profit": D("-25.00"),
            "mom_revenue_growth_pct": None,  # first month: no previous month materialized
        },
        {
            "month": date(2024, 2, 1), "year": 2024, "month_number": 2,
            "revenue": D("200.00"), "expenses": D("2.01"), "profit": D("197.99"),
            # 100 * (200 - 285) / 285 = -29.8245.. -> -29.82
            "mom_revenue_growth_pct": D("-29.82"),
        },
    ]  # fmt: skip


def test_budget_vs_actual(pipeline):
    columns = (
        "department", "month", "budget_amount", "actual_amount", "variance", "variance_pct",
        "is_overspent",
    )  # fmt: skip
    actual = sorted(
        (
            {**{c: r[c] for c in columns}, "month": as_date(r["month"]),
             "variance_pct": pct(r["variance_pct"])}
            for r in gold(pipeline, "budget_vs_actual")
        ),
        key=lambda r: (r["month"], r["department"]),
    )  # fmt: skip
    jan, feb = date(2024, 1, 1), date(2024, 2, 1)

    def row(dept, month, budget, actual_amount, variance, variance_pct, overspent):
        return {
            "department": dept, "month": month, "budget_amount": D(budget),
            "actual_amount": D(actual_amount), "variance": D(variance),
            "variance_pct": None if variance_pct is None else D(variance_pct),
            "is_overspent": overspent,
        }  # fmt: skip

    assert actual == [
        # HR: budget, no expense -> actual 0, variance -100, 100*-100/100 = -100.00
        row("HR", jan, "100.00", "0.00", "-100.00", "-100.00", False),
        # IT: 300 budget (the duplicate "it" 999 is quarantined), 100 + 100 spent
        #     -> variance -100, 100*-100/300 = -33.333.. -> -33.33
        row("IT", jan, "300.00", "200.00", "-100.00", "-33.33", False),
        # Marketing: expense 20, no budget -> budget 0, variance 20, pct null, overspent
        row("Marketing", jan, "0.00", "20.00", "20.00", None, True),
        # Operations: 40 spent on a 30 budget -> variance 10, 100*10/30 = 33.333.. -> 33.33
        row("Operations", jan, "30.00", "40.00", "10.00", "33.33", True),
        # Sales: 50 spent on 150 -> variance -100, 100*-100/150 = -66.666.. -> -66.67
        row("Sales", jan, "150.00", "50.00", "-100.00", "-66.67", False),
        # Finance: 2.01 spent on 200 -> variance -197.99, 100*-197.99/200 = -98.995 exactly
        #          -> half-up (away from zero) -99.00
        row("Finance", feb, "200.00", "2.01", "-197.99", "-99.00", False),
        # Operations: budget 100, no February expense -> actual 0, -100.00
        row("Operations", feb, "100.00", "0.00", "-100.00", "-100.00", False),
    ]


# --------------------------------------------------------------------------- sales_performance

SALES_COLUMNS = (
    "order_id", "customer_id", "order_date", "product_category", "order_status", "order_amount",
    "total_paid", "successful_payment_count", "last_payment_date", "pending_amount",
    "overpaid_amount", "is_fully_paid", "order_year", "order_month", "order_quarter",
    "order_week",
)  # fmt: skip


def _sale(order_id, customer, order_date, category, status, amount, paid, count, last,
          pending, overpaid, fully, week, month=1):  # fmt: skip
    return dict(
        zip(
            SALES_COLUMNS,
            (
                order_id, customer, order_date, category, status, D(amount), D(paid), count,
                last, D(pending), D(overpaid), fully, 2024, month, 1, week,
            ),
            strict=True,
        )
    )  # fmt: skip


def _expected_sales() -> list[dict]:
    d = date
    return [
        # 1: 100.00, SUCCESS 40 (01-28) + 60 (01-31, later folder) = 100 -> pending 0,
        #    overpaid 0, fully paid, last payment 01-31.
        #    2024-01-27 is a Saturday: ISO week 4, Q1.
        _sale(1, "C1", d(2024, 1, 27), "Electronics", "COMPLETED", "100.00", "100.00", 2,
              d(2024, 1, 31), "0.00", "0.00", True, 4),
        # 2: 50, FAILED 50 (01-27) does not count, SUCCESS 50 (01-28) -> paid 50, 1 success.
        _sale(2, "C2", d(2024, 1, 27), "Books", "PENDING", "50.00", "50.00", 1,
              d(2024, 1, 28), "0.00", "0.00", True, 4),
        # 3: CANCELLED (written "cancelled"), 30, SUCCESS 20 -> pending 0 (cancelled owes
        #    nothing), overpaid max(20 - 30, 0) = 0, not fully paid (cancelled).
        _sale(3, "C1", d(2024, 1, 27), "Books", "CANCELLED", "30.00", "20.00", 1,
              d(2024, 1, 29), "0.00", "0.00", False, 4),
        # 4: 80, SUCCESS 100 -> overpaid 20, pending 0, fully paid.
        _sale(4, "C2", d(2024, 1, 28), "Toys", "COMPLETED", "80.00", "100.00", 1,
              d(2024, 1, 28), "0.00", "20.00", True, 4),
        # 5: 200 ("c3" stored upper-case), only a REFUNDED payment -> paid 0, no SUCCESS,
        #    last_payment_date null, pending 200. 2024-01-28 is a Sunday: still ISO week 4.
        _sale(5, "C3", d(2024, 1, 28), "Garden", "PENDING", "200.00", "0.00", 0,
              None, "200.00", "0.00", False, 4),
        # 6: 10, only a FAILED payment -> pending 10. 2024-01-29 is a Monday: ISO week 5.
        _sale(6, "C1", d(2024, 1, 29), "Electronics", "COMPLETED", "10.00", "0.00", 0,
              None, "10.00", "0.00", False, 5),
        # 7: 25.50 ("25.5"), paid on 02-01 (next month's folder) -> fully paid. ISO week 5.
        _sale(7, "C4", d(2024, 1, 31), "Books", "COMPLETED", "25.50", "25.50", 1,
              d(2024, 2, 1), "0.00", "0.00", True, 5),
        # 8: 174.50 paid the same day; 2024-02-01 is a Thursday of ISO week 5, month 2, Q1.
        _sale(8, "C1", d(2024, 2, 1), "Electronics", "COMPLETED", "174.50", "174.50", 1,
              d(2024, 2, 1), "0.00", "0.00", True, 5, month=2),
    ]  # fmt: skip


def test_sales_performance(pipeline):
    rows = gold(pipeline, "sales_performance")
    actual = []
    for r in sorted(rows, key=lambda r: r["order_id"]):
        row = {c: r[c] for c in SALES_COLUMNS}
        row["order_date"] = as_date(row["order_date"])
        if row["last_payment_date"] is not None:
            row["last_payment_date"] = as_date(row["last_payment_date"])
        actual.append(row)
    expected = _expected_sales()
    assert [r["order_id"] for r in actual] == [1, 2, 3, 4, 5, 6, 7, 8]  # 9 is not valid
    for got, want in zip(actual, expected, strict=True):
        assert got == want, want["order_id"]


# --------------------------------------------------------------------------- customer_360

C360_COLUMNS = (
    "customer_id", "total_orders", "total_order_value", "total_paid", "outstanding_amount",
    "overpaid_amount", "first_order_date", "last_order_date",
)  # fmt: skip


def test_customer_360(pipeline):
    actual = sorted(
        (
            {**{c: r[c] for c in C360_COLUMNS},
             "first_order_date": as_date(r["first_order_date"]),
             "last_order_date": as_date(r["last_order_date"])}
            for r in gold(pipeline, "customer_360")
        ),
        key=lambda r: r["customer_id"],
    )  # fmt: skip

    def c(cid, n, value, paid, outstanding, overpaid, first, last):
        return dict(
            zip(C360_COLUMNS, (cid, n, D(value), D(paid), D(outstanding), D(overpaid), first, last),
                strict=True)
        )  # fmt: skip

    assert actual == [
        # C1: orders 1 (100), 3 (30, cancelled), 6 (10), 8 (174.50) -> 4 orders,
        #     value 100 + 10 + 174.50 = 284.50; paid 100 + 20 + 0 + 174.50 = 294.50;
        #     outstanding = pending 0 + 0 + 10 + 0 = 10.00; overpaid 0;
        #     first 01-27, last 02-01.
        c("C1", 4, "284.50", "294.50", "10.00", "0.00", date(2024, 1, 27), date(2024, 2, 1)),
        # C2: orders 2 (50), 4 (80) -> 130.00; paid 50 + 100 = 150.00; pending 0;
        #     overpaid 20 (order 4).
        c("C2", 2, "130.00", "150.00", "0.00", "20.00", date(2024, 1, 27), date(2024, 1, 28)),
        # C3: order 5 (200), only refunded -> paid 0, outstanding 200.
        c("C3", 1, "200.00", "0.00", "200.00", "0.00", date(2024, 1, 28), date(2024, 1, 28)),
        # C4: order 7 (25.50), paid in February.
        c("C4", 1, "25.50", "25.50", "0.00", "0.00", date(2024, 1, 31), date(2024, 1, 31)),
        # C9 only had the quarantined order 9 -> no row.
    ]


# --------------------------------------------------------------------------- unmatched_payments


def test_unmatched_payments(pipeline):
    columns = (
        "payment_id", "order_id", "payment_date", "paid_amount", "payment_status",
        "payment_method",
    )  # fmt: skip
    actual = sorted(
        (
            {**{c: r[c] for c in columns}, "payment_date": as_date(r["payment_date"])}
            for r in gold(pipeline, "unmatched_payments")
        ),
        key=lambda r: r["payment_date"],
    )
    assert actual == [
        # P7: order 99 was never landed; SUCCESS, so it is also in 01-29 revenue (35.00).
        {"payment_id": "P7", "order_id": 99, "payment_date": date(2024, 1, 29),
         "paid_amount": D("15.00"), "payment_status": "SUCCESS", "payment_method": "UPI"},
        # P10: order 9 exists only in quarantine (invalid amount) -> not a valid order.
        {"payment_id": "P10", "order_id": 9, "payment_date": date(2024, 1, 31),
         "paid_amount": D("5.00"), "payment_status": "FAILED", "payment_method": "CARD"},
    ]  # fmt: skip
