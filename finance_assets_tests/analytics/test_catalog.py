"""Every SQL analysis against figures worked out by hand on a tiny lake.

The lake is written directly with ``deltalake.write_deltalake`` from hand-made Arrow tables
that follow the contract's columns (money ``decimal(18,2)``, dates ``date32``), partitioned
like the pipeline's tables. No Spark. The expected values in each test are computed by hand
in the comments, never by running the same SQL.
"""

from __future__ import annotations

import csv
import io
import json
from datetime import date
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pytest

MONEY = pa.decimal128(18, 2)


def D(text: str | None) -> Decimal | None:
    return None if text is None else Decimal(text)


def d(text: str | None) -> date | None:
    return None if text is None else date.fromisoformat(text)


def _table(columns: list[tuple[str, pa.DataType]], rows: list[tuple]) -> pa.Table:
    arrays = []
    for i, (_, kind) in enumerate(columns):
        values = [r[i] for r in rows]
        if kind == MONEY:
            values = [D(v) for v in values]
        elif kind == pa.date32():
            values = [d(v) for v in values]
        arrays.append(pa.array(values, type=kind))
    return pa.Table.from_arrays(arrays, schema=pa.schema(columns))


MONTHS = ("month", pa.date32())
I32, I64 = pa.int32(), pa.int64()

# month, year, month_number, total_revenue, total_expenses, net_profit, expense_ratio_pct,
# orders_paid. 2025-04..2025-10 were never materialized.
FINANCIAL_SUMMARY = [
    ("2024-11-01", 2024, 11, "1000.00", "400.00", "600.00", "40.00", 3),
    ("2024-12-01", 2024, 12, "1500.00", "1650.00", "-150.00", "110.00", 4),
    ("2025-01-01", 2025, 1, "0.00", "200.00", "-200.00", None, 0),
    ("2025-02-01", 2025, 2, "200.00", "0.00", "200.00", "0.00", 2),
    ("2025-03-01", 2025, 3, "199.99", "50.00", "149.99", "25.00", 1),
    ("2025-11-01", 2025, 11, "800.00", "799.00", "1.00", "99.88", 5),
]
# month, year, month_number, revenue, expenses, profit, mom_revenue_growth_pct
MONTHLY_REPORT = [
    ("2024-11-01", 2024, 11, "1000.00", "400.00", "600.00", None),
    ("2024-12-01", 2024, 12, "1500.00", "1650.00", "-150.00", "50.00"),
    ("2025-01-01", 2025, 1, "0.00", "200.00", "-200.00", "-100.00"),
    ("2025-02-01", 2025, 2, "200.00", "0.00", "200.00", None),
    ("2025-03-01", 2025, 3, "199.99", "50.00", "149.99", "-0.01"),
    ("2025-11-01", 2025, 11, "800.00", "799.00", "1.00", None),
]
# date, revenue, expenses, profit, orders_count, order_value, payment_attempts,
# successful_payments, failed_payments, refunded_payments, payment_success_rate_pct
DAILY_KPI = [
    ("2025-10-28", "100.00", "10.00", "90.00", 2, "150.00", 3, 2, 1, 0, "66.67"),
    ("2025-10-30", "50.50", "0.00", "50.50", 1, "60.00", 2, 1, 0, 1, "50.00"),
    ("2025-10-31", "0.00", "20.00", "-20.00", 0, "0.00", 0, 0, 0, 0, None),
    ("2025-11-01", "200.00", "0.00", "200.00", 3, "300.00", 8, 7, 1, 0, "87.50"),
    ("2025-11-03", "25.25", "5.00", "20.25", 1, "25.25", 3, 1, 1, 1, "33.33"),
    ("2025-11-04", "10.00", "0.00", "10.00", 1, "10.00", 32, 1, 30, 1, "3.13"),
]
# department, month, budget_amount, actual_amount, variance, variance_pct, is_overspent
BUDGET_VS_ACTUAL = [
    ("IT", "2025-10-01", "1000.00", "1200.00", "200.00", "20.00", True),
    ("HR", "2025-10-01", "500.00", "500.00", "0.00", "0.00", False),
    ("Sales", "2025-10-01", "800.00", "808.00", "8.00", "1.00", True),
    ("Marketing", "2025-10-01", "0.00", "300.00", "300.00", None, True),
    ("IT", "2025-11-01", "1000.00", "900.00", "-100.00", "-10.00", False),
    ("Finance", "2025-11-01", "2000.00", "2000.01", "0.01", "0.00", True),
    ("Operations", "2025-11-01", "400.00", "0.00", "-400.00", "-100.00", False),
    ("Sales", "2025-11-01", "800.00", "1000.00", "200.00", "25.00", True),
]
# customer_id, total_orders, total_order_value, total_paid, outstanding_amount,
# overpaid_amount, first_order_date, last_order_date
CUSTOMER_360 = [
    ("C1", 3, "1000.00", "899.99", "100.01", "0.00", "2025-08-31", "2025-11-30"),
    ("C2", 1, "500.00", "500.00", "0.00", "0.00", "2025-08-31", "2025-08-31"),
    ("C3", 1, "300.00", "0.00", "300.00", "0.00", "2025-10-31", "2025-10-31"),
    ("C4", 1, "899.99", "899.99", "0.00", "0.00", "2025-11-15", "2025-11-15"),
    ("C5", 2, "1200.00", "50.00", "1150.00", "0.00", "2025-09-01", "2025-10-30"),
    ("C6", 1, "0.00", "0.00", "0.00", "0.00", "2025-08-31", "2025-08-31"),
]
# order_id, customer_id, order_date, product_category, order_status, order_amount,
# total_paid, successful_payment_count, last_payment_date, pending_amount, overpaid_amount,
# is_fully_paid. The latest order date is 2025-11-30.
SALES = [
    (1, "C1", "2025-11-30", "Electronics", "COMPLETED", "100.00", "0.00", 0, None, "100.00"),
    (2, "C1", "2025-10-31", "Books", "PENDING", "400.00", "400.00", 2, "2025-11-02", "0.00"),
    (3, "C3", "2025-10-31", "Toys", "PENDING", "300.00", "0.00", 0, None, "300.00"),
    (4, "C5", "2025-10-30", "Home", "COMPLETED", "1000.00", "50.00", 1, "2025-11-01", "950.00"),
    (5, "C5", "2025-09-01", "Home", "PENDING", "200.00", "0.00", 0, None, "200.00"),
    (6, "C6", "2025-08-31", "Misc", "CANCELLED", "250.00", "0.00", 0, None, "0.00"),
    (7, "C2", "2025-08-31", "Books", "COMPLETED", "500.00", "500.00", 1, "2025-08-31", "0.00"),
    (8, "C1", "2025-08-31", "Toys", "COMPLETED", "500.00", "499.99", 1, "2025-09-01", "0.01"),
    (
        9,
        "C4",
        "2025-11-15",
        "Electronics",
        "COMPLETED",
        "899.99",
        "899.99",
        1,
        "2025-11-15",
        "0.00",
    ),
]
# payment_id, order_id, payment_date, paid_amount, payment_status, payment_method
PAYMENTS = [
    ("P1", 2, "2025-10-31", "200.00", "SUCCESS", "CARD"),
    ("P2", 2, "2025-11-02", "200.00", "SUCCESS", "UPI"),
    ("P3", 4, "2025-11-01", "50.00", "SUCCESS", "UPI"),
    ("P4", 4, "2025-11-01", "950.00", "FAILED", "CARD"),
    ("P5", 8, "2025-09-01", "499.99", "SUCCESS", "BANK_TRANSFER"),
    ("P6", 7, "2025-08-31", "500.00", "SUCCESS", "CARD"),
    ("P7", 99, "2025-11-03", "100.00", "SUCCESS", "UPI"),
    ("P8", 9, "2025-11-15", "899.99", "SUCCESS", "BANK_TRANSFER"),
    ("P9", 1, "2025-11-30", "100.00", "REFUNDED", "CARD"),
    ("P10", 3, "2025-11-05", "300.00", "FAILED", "UPI"),
    ("P11", 3, "2025-11-06", "300.00", "FAILED", "UPI"),
    ("P12", 5, "2025-11-07", "200.00", "FAILED", "BANK_TRANSFER"),
]


def _sales_rows() -> list[tuple]:
    rows = []
    for r in SALES:
        order_date, amount, paid, status = d(r[2]), D(r[5]), D(r[6]), r[4]
        overpaid = max(paid - amount, Decimal("0.00"))
        fully_paid = status != "CANCELLED" and paid >= amount
        iso = order_date.isocalendar()
        quarter = (order_date.month - 1) // 3 + 1
        rows.append(
            (*r, str(overpaid), fully_paid, order_date.year, order_date.month, quarter, iso[1])
        )
    return rows


def build_tiny_lake(lake: Path) -> Path:
    """Write the tiny gold (and silver/payments) Delta tables under ``lake``; return it."""
    from deltalake import write_deltalake

    monthly = [
        MONTHS,
        ("year", I32),
        ("month_number", I32),
    ]
    tables = {
        "gold/financial_summary": (
            _table(
                [
                    *monthly,
                    ("total_revenue", MONEY),
                    ("total_expenses", MONEY),
                    ("net_profit", MONEY),
                    ("expense_ratio_pct", MONEY),
                    ("orders_paid", I64),
                ],
                FINANCIAL_SUMMARY,
            ),
            "month",
        ),
        "gold/monthly_financial_report": (
            _table(
                [
                    *monthly,
                    ("revenue", MONEY),
                    ("expenses", MONEY),
                    ("profit", MONEY),
                    ("mom_revenue_growth_pct", MONEY),
                ],
                MONTHLY_REPORT,
            ),
            "month",
        ),
        "gold/daily_kpi": (
            _table(
                [
                    ("date", pa.date32()),
                    ("revenue", MONEY),
                    ("expenses", MONEY),
                    ("profit", MONEY),
                    ("orders_count", I64),
                    ("order_value", MONEY),
                    ("payment_attempts", I64),
                    ("successful_payments", I64),
                    ("failed_payments", I64),
                    ("refunded_payments", I64),
                    ("payment_success_rate_pct", MONEY),
                ],
                DAILY_KPI,
            ),
            "date",
        ),
        "gold/budget_vs_actual": (
            _table(
                [
                    ("department", pa.string()),
                    MONTHS,
                    ("budget_amount", MONEY),
                    ("actual_amount", MONEY),
                    ("variance", MONEY),
                    ("variance_pct", MONEY),
                    ("is_overspent", pa.bool_()),
                ],
                BUDGET_VS_ACTUAL,
            ),
            "month",
        ),
        "gold/customer_360": (
            _table(
                [
                    ("customer_id", pa.string()),
                    ("total_orders", I64),
                    ("total_order_value", MONEY),
                    ("total_paid", MONEY),
                    ("outstanding_amount", MONEY),
                    ("overpaid_amount", MONEY),
                    ("first_order_date", pa.date32()),
                    ("last_order_date", pa.date32()),
                ],
                CUSTOMER_360,
            ),
            None,
        ),
        "gold/sales_performance": (
            _table(
                [
                    ("order_id", I64),
                    ("customer_id", pa.string()),
                    ("order_date", pa.date32()),
                    ("product_category", pa.string()),
                    ("order_status", pa.string()),
                    ("order_amount", MONEY),
                    ("total_paid", MONEY),
                    ("successful_payment_count", I64),
                    ("last_payment_date", pa.date32()),
                    ("pending_amount", MONEY),
                    ("overpaid_amount", MONEY),
                    ("is_fully_paid", pa.bool_()),
                    ("order_year", I32),
                    ("order_month", I32),
                    ("order_quarter", I32),
                    ("order_week", I32),
                ],
                _sales_rows(),
            ),
            "order_date",
        ),
        "gold/unmatched_payments": (
            _table(
                [
                    ("payment_id", pa.string()),
                    ("order_id", I64),
                    ("payment_date", pa.date32()),
                    ("paid_amount", MONEY),
                    ("payment_status", pa.string()),
                    ("payment_method", pa.string()),
                ],
                [p for p in PAYMENTS if p[1] == 99],
            ),
            "payment_date",
        ),
        "silver/payments": (
            _table(
                [
                    ("payment_id", pa.string()),
                    ("order_id", I64),
                    ("payment_date", pa.date32()),
                    ("paid_amount", MONEY),
                    ("payment_status", pa.string()),
                    ("payment_method", pa.string()),
                    ("partition_date", pa.date32()),
                    ("_source_file", pa.string()),
                    ("_source_row", I64),
                ],
                [
                    (*p, p[2], f"file:///landing/payments/{p[2]}/p.csv", i + 1)
                    for i, p in enumerate(PAYMENTS)
                ],
            ),
            "partition_date",
        ),
    }
    for name, (table, partition) in tables.items():
        write_deltalake(str(lake / name), table, partition_by=[partition] if partition else None)
    return lake


@pytest.fixture(scope="module")
def tiny_lake(tmp_path_factory) -> str:
    return str(build_tiny_lake(tmp_path_factory.mktemp("analytics") / "lake"))


def run(lake: str, name: str, **params) -> list[dict]:
    from finance_assets.analytics.catalog import run_analysis

    result = run_analysis(name, lake, {k: str(v) for k, v in params.items()})
    return result.records()


def column(rows: list[dict], key: str) -> list:
    return [r[key] for r in rows]


# ------------------------------------------------------------------ the catalog


def test_every_analysis_has_a_header_and_uses_its_parameters():
    from finance_assets.analytics.catalog import analyses

    catalog = analyses()
    assert set(catalog) == {
        "monthly_pnl",
        "mom_revenue_growth",
        "overspending",
        "top_customers_by_paid",
        "top_customers_by_outstanding",
        "orders_pending_balance",
        "outstanding_by_age",
        "daily_kpi_trend",
        "collections_by_payment_method",
        "payment_success_rate_by_day",
        "payment_success_rate_by_method",
    }
    for analysis in catalog.values():
        assert analysis.version >= 1 and analysis.description
        assert analysis.sql.startswith(f"-- name: {analysis.name}\n")
        for param in analysis.params:
            assert f"${param.name}" in analysis.sql, (analysis.name, param.name)
        for layer_table in analysis.reads:
            assert layer_table in analysis.sql
        assert "DOUBLE" not in analysis.sql.upper() and "FLOAT" not in analysis.sql.upper()
    assert catalog["collections_by_payment_method"].reads == ("silver.payments",)
    assert catalog["payment_success_rate_by_method"].reads == ("silver.payments",)


def test_money_and_percentages_stay_decimal(tiny_lake):
    from finance_assets.analytics.catalog import analyses, run_analysis

    for name in analyses():
        result = run_analysis(name, tiny_lake)
        assert result.rows, name
        for column_name, kind in zip(result.columns, result.types, strict=True):
            assert "DOUBLE" not in kind and "FLOAT" not in kind, (name, column_name, kind)
            if column_name.endswith(("_pct", "_amount", "revenue", "expenses", "profit")):
                assert kind == "DECIMAL(18,2)", (name, column_name, kind)


def test_pct_half_up_is_exact_and_rounds_away_from_zero():
    from finance_assets.analytics.engine import LakeQuery

    with LakeQuery("/nonexistent") as query:
        row = query.run(
            "SELECT pct_half_up(1, 8), pct_half_up(1, 800), pct_half_up(-1, 800), "
            "pct_half_up(799.00, 800.00), pct_half_up(1, 3), pct_half_up(2, 3), "
            "pct_half_up(5, 0), pct_half_up(NULL, 5), pct_half_up(0.01, 200.00)"
        ).rows[0]
    # 12.5 exactly; 0.125 -> 0.13 (half-up, not banker's 0.12); -0.125 -> -0.13;
    # 99.875 -> 99.88; 33.33..; 66.66.. -> 66.67; denominator 0 -> null; null -> null;
    # 0.005 -> 0.01
    assert row == (
        Decimal("12.50"),
        Decimal("0.13"),
        Decimal("-0.13"),
        Decimal("99.88"),
        Decimal("33.33"),
        Decimal("66.67"),
        None,
        None,
        Decimal("0.01"),
    )


# ------------------------------------------------------------------ each analysis


def test_monthly_pnl(tiny_lake):
    rows = run(tiny_lake, "monthly_pnl")
    # Months are year+month: 2024-11 and 2025-11 stay two rows.
    assert column(rows, "month") == [
        "2024-11",
        "2024-12",
        "2025-01",
        "2025-02",
        "2025-03",
        "2025-11",
    ]
    assert column(rows, "revenue") == [
        D("1000.00"),
        D("1500.00"),
        D("0.00"),
        D("200.00"),
        D("199.99"),
        D("800.00"),
    ]
    assert column(rows, "net_profit") == [
        D("600.00"),
        D("-150.00"),
        D("-200.00"),
        D("200.00"),
        D("149.99"),
        D("1.00"),
    ]
    # expense ratio = 100 * expenses / revenue: 400/1000 = 40; 1650/1500 = 110; revenue 0
    # -> null; 0/200 = 0; 50/199.99 = 25.00125 -> 25.00; 799/800 = 99.875 -> 99.88.
    assert column(rows, "expense_ratio_pct") == [
        D("40.00"),
        D("110.00"),
        None,
        D("0.00"),
        D("25.00"),
        D("99.88"),
    ]
    # profit margin = 100 * profit / revenue: 60; -10; null; 100; 149.99/199.99 =
    # 74.99875 -> 75.00; 1/800 = 0.125 -> 0.13 (half-up).
    assert column(rows, "profit_margin_pct") == [
        D("60.00"),
        D("-10.00"),
        None,
        D("100.00"),
        D("75.00"),
        D("0.13"),
    ]
    assert column(rows, "orders_paid") == [3, 4, 0, 2, 1, 5]
    only_2025 = run(tiny_lake, "monthly_pnl", year=2025)
    assert column(only_2025, "month") == ["2025-01", "2025-02", "2025-03", "2025-11"]


def test_mom_revenue_growth(tiny_lake):
    rows = run(tiny_lake, "mom_revenue_growth")
    by_month = {r["month"]: r for r in rows}
    assert list(by_month) == ["2024-11", "2024-12", "2025-01", "2025-02", "2025-03", "2025-11"]
    # first month: nothing before it
    assert by_month["2024-11"]["mom_growth_pct"] is None
    # (1500 - 1000) / 1000 = 50.00
    assert by_month["2024-12"]["previous_month"] == "2024-11"
    assert by_month["2024-12"]["revenue_change"] == D("500.00")
    assert by_month["2024-12"]["mom_growth_pct"] == D("50.00")
    # across the year boundary: 2025-01 against 2024-12: (0 - 1500) / 1500 = -100.00
    assert by_month["2025-01"]["previous_month"] == "2024-12"
    assert by_month["2025-01"]["mom_growth_pct"] == D("-100.00")
    # previous revenue 0: null, not infinity
    assert by_month["2025-02"]["previous_revenue"] == D("0.00")
    assert by_month["2025-02"]["mom_growth_pct"] is None
    # (199.99 - 200) / 200 = -0.005% -> -0.01 (half-up away from zero)
    assert by_month["2025-03"]["mom_growth_pct"] == D("-0.01")
    # 2025-10 was never materialized: null, and never compared with 2025-03 or 2024-11
    assert by_month["2025-11"]["previous_month"] is None
    assert by_month["2025-11"]["mom_growth_pct"] is None
    # the same as the gold column for every month
    expected = {r[0][:7]: D(r[6]) for r in MONTHLY_REPORT}
    assert {m: r["mom_growth_pct"] for m, r in by_month.items()} == expected
    # year filter keeps growth against December of the previous year
    only_2025 = run(tiny_lake, "mom_revenue_growth", year=2025)
    assert only_2025[0]["month"] == "2025-01"
    assert only_2025[0]["mom_growth_pct"] == D("-100.00")


def test_overspending(tiny_lake):
    rows = run(tiny_lake, "overspending")
    # variance > 0 only, by month then largest variance: Marketing had no budget (variance
    # 300, pct null), IT +200 (20%), Sales +8 (1%); in November Sales +200 (25%) and
    # Finance +0.01 (0.0005% -> 0.00, still overspent).
    assert [(r["month"], r["department"], r["variance"], r["variance_pct"]) for r in rows] == [
        ("2025-10", "Marketing", D("300.00"), None),
        ("2025-10", "IT", D("200.00"), D("20.00")),
        ("2025-10", "Sales", D("8.00"), D("1.00")),
        ("2025-11", "Sales", D("200.00"), D("25.00")),
        ("2025-11", "Finance", D("0.01"), D("0.00")),
    ]
    assert rows[1]["budget_amount"] == D("1000.00") and rows[1]["actual_amount"] == D("1200.00")
    # threshold 20: at least 20% (IT's 20.00 included), no-budget rows always
    at_20 = run(tiny_lake, "overspending", threshold_pct="20")
    assert [(r["month"], r["department"]) for r in at_20] == [
        ("2025-10", "Marketing"),
        ("2025-10", "IT"),
        ("2025-11", "Sales"),
    ]
    above_20 = run(tiny_lake, "overspending", threshold_pct="20.01")
    assert [r["department"] for r in above_20] == ["Marketing", "Sales"]


def test_top_customers_by_paid(tiny_lake):
    rows = run(tiny_lake, "top_customers_by_paid")
    # C1 and C4 both paid 899.99: ties broken by customer id; C3 and C6 paid nothing.
    assert [(r["rank"], r["customer_id"], r["total_paid"]) for r in rows] == [
        (1, "C1", D("899.99")),
        (2, "C4", D("899.99")),
        (3, "C2", D("500.00")),
        (4, "C5", D("50.00")),
    ]
    assert rows[0]["outstanding_amount"] == D("100.01")
    assert column(run(tiny_lake, "top_customers_by_paid", limit=2), "customer_id") == ["C1", "C4"]


def test_top_customers_by_outstanding(tiny_lake):
    rows = run(tiny_lake, "top_customers_by_outstanding")
    # C5 owes 950 + 200, C3 owes 300, C1 owes 100 + 0.01; the others owe nothing.
    assert [(r["rank"], r["customer_id"], r["outstanding_amount"]) for r in rows] == [
        (1, "C5", D("1150.00")),
        (2, "C3", D("300.00")),
        (3, "C1", D("100.01")),
    ]
    assert column(run(tiny_lake, "top_customers_by_outstanding", limit=1), "customer_id") == ["C5"]


def test_orders_pending_balance(tiny_lake):
    rows = run(tiny_lake, "orders_pending_balance")
    # One row per order owing money; fully paid (2, 7, 9) and cancelled (6) orders are out.
    # Ages to the latest order date 2025-11-30: 2025-08-31 -> 91 days, 2025-09-01 -> 90,
    # 2025-10-30 -> 31, 2025-10-31 -> 30, 2025-11-30 -> 0 (bucket edges 30/31, 90/91).
    assert [(r["order_id"], r["pending_amount"], r["age_days"], r["age_bucket"]) for r in rows] == [
        (8, D("0.01"), 91, "90+"),
        (5, D("200.00"), 90, "61-90"),
        (4, D("950.00"), 31, "31-60"),
        (3, D("300.00"), 30, "0-30"),
        (1, D("100.00"), 0, "0-30"),
    ]
    assert len({r["order_id"] for r in rows}) == len(rows)
    # 0.01 + 200 + 950 + 300 + 100 = 1550.01 = the customers' outstanding total
    assert sum(column(rows, "pending_amount")) == D("1550.01")
    assert sum(D(r[4]) for r in CUSTOMER_360) == D("1550.01")
    assert rows[2]["order_amount"] == D("1000.00") and rows[2]["total_paid"] == D("50.00")
    # min_pending 100: the 0.01 order drops out, 100.00 stays
    assert column(run(tiny_lake, "orders_pending_balance", min_pending="100"), "order_id") == [
        5,
        4,
        3,
        1,
    ]
    # as of 2025-11-15: order 1 (2025-11-30) is not yet placed; ages 15 days less
    as_of = run(tiny_lake, "orders_pending_balance", as_of="2025-11-15")
    assert [(r["order_id"], r["age_days"], r["age_bucket"]) for r in as_of] == [
        (8, 76, "61-90"),
        (5, 75, "61-90"),
        (4, 16, "0-30"),
        (3, 15, "0-30"),
    ]


def test_outstanding_by_age(tiny_lake):
    rows = run(tiny_lake, "outstanding_by_age")
    # 0-30: orders 3 and 1 (300 + 100); 31-60: order 4 (950); 61-90: order 5 (200);
    # 90+: order 8 (0.01). Total 1550.01. Shares: 400/1550.01 = 25.806% -> 25.81,
    # 950/1550.01 = 61.2899% -> 61.29, 200/1550.01 = 12.903% -> 12.90, 0.01 -> 0.00.
    assert [(r["age_bucket"], r["orders"], r["pending_amount"], r["share_pct"]) for r in rows] == [
        ("0-30", 2, D("400.00"), D("25.81")),
        ("31-60", 1, D("950.00"), D("61.29")),
        ("61-90", 1, D("200.00"), D("12.90")),
        ("90+", 1, D("0.01"), D("0.00")),
    ]
    assert {r["as_of"] for r in rows} == {date(2025, 11, 30)}
    # as of 2025-10-31: orders 1 and 9 are later; 3 is 0 days old, 4 is 1, 5 is 60, 8 is 61
    earlier = run(tiny_lake, "outstanding_by_age", as_of="2025-10-31")
    assert [(r["age_bucket"], r["orders"], r["pending_amount"]) for r in earlier] == [
        ("0-30", 2, D("1250.00")),
        ("31-60", 1, D("200.00")),
        ("61-90", 1, D("0.01")),
        ("90+", 0, D("0.00")),
    ]


def test_daily_kpi_trend(tiny_lake):
    rows = run(tiny_lake, "daily_kpi_trend")
    assert column(rows, "date") == [d(r[0]) for r in DAILY_KPI]
    assert column(rows, "profit") == [D(r[3]) for r in DAILY_KPI]
    # 7 calendar days ending each day (days absent count as nothing):
    # 10-28: 100; 10-30: 100 + 50.50; 10-31: same + 0; 11-01: 150.50 + 200 = 350.50;
    # 11-03 (10-28..11-03): 350.50 + 25.25 = 375.75; 11-04 (10-29..): 375.75 - 100 + 10.
    assert column(rows, "revenue_7d") == [
        D("100.00"),
        D("150.50"),
        D("150.50"),
        D("350.50"),
        D("375.75"),
        D("285.75"),
    ]
    # month to date restarts on 11-01: 200, 225.25, 235.25
    assert column(rows, "revenue_mtd") == [
        D("100.00"),
        D("150.50"),
        D("150.50"),
        D("200.00"),
        D("225.25"),
        D("235.25"),
    ]
    window = run(tiny_lake, "daily_kpi_trend", start="2025-11-03", end="2025-11-03")
    # the rolling sum still sees the days before the filtered range
    assert [(r["date"], r["revenue_7d"]) for r in window] == [(date(2025, 11, 3), D("375.75"))]


def test_collections_by_payment_method(tiny_lake):
    rows = run(tiny_lake, "collections_by_payment_method")
    # BANK_TRANSFER: P5 499.99 + P8 899.99 = 1399.98 (P12 200 failed)
    # CARD: P1 200 + P6 500 = 700 (P4 950 failed, P9 100 refunded)
    # UPI: P2 200 + P3 50 + P7 100 = 350 (P7's order is unknown: still collected;
    #      P10 and P11, 300 each, failed)
    # total 2449.98: shares 57.1425% -> 57.14, 28.5717% -> 28.57, 14.2858% -> 14.29
    assert [
        (
            r["payment_method"],
            r["successful_payments"],
            r["collected_amount"],
            r["share_of_collections_pct"],
            r["failed_payments"],
            r["failed_amount"],
            r["refunded_payments"],
            r["refunded_amount"],
        )
        for r in rows
    ] == [
        ("BANK_TRANSFER", 2, D("1399.98"), D("57.14"), 1, D("200.00"), 0, D("0.00")),
        ("CARD", 2, D("700.00"), D("28.57"), 1, D("950.00"), 1, D("100.00")),
        ("UPI", 3, D("350.00"), D("14.29"), 2, D("600.00"), 0, D("0.00")),
    ]
    november = run(tiny_lake, "collections_by_payment_method", start="2025-11-01", end="2025-11-30")
    # BANK P8 899.99; UPI P2 + P3 + P7 = 350; CARD nothing collected (P4 failed, P9 refunded)
    # total 1249.99: 899.99/1249.99 = 71.9998% -> 72.00, 350/1249.99 = 28.0002% -> 28.00
    assert [
        (r["payment_method"], r["collected_amount"], r["share_of_collections_pct"])
        for r in november
    ] == [
        ("BANK_TRANSFER", D("899.99"), D("72.00")),
        ("UPI", D("350.00"), D("28.00")),
        ("CARD", D("0.00"), D("0.00")),
    ]


def test_payment_success_rate_by_day(tiny_lake):
    rows = run(tiny_lake, "payment_success_rate_by_day")
    # successful / attempts: 2/3 = 66.67, 1/2 = 50, no attempts -> null, 7/8 = 87.5,
    # 1/3 = 33.33, 1/32 = 3.125 -> 3.13 (half-up)
    assert [(r["date"], r["success_rate_pct"]) for r in rows] == [
        (date(2025, 10, 28), D("66.67")),
        (date(2025, 10, 30), D("50.00")),
        (date(2025, 10, 31), None),
        (date(2025, 11, 1), D("87.50")),
        (date(2025, 11, 3), D("33.33")),
        (date(2025, 11, 4), D("3.13")),
    ]
    assert column(rows, "payment_attempts") == [3, 2, 0, 8, 3, 32]
    october = run(tiny_lake, "payment_success_rate_by_day", end="2025-10-31")
    assert len(october) == 3


def test_payment_success_rate_by_method(tiny_lake):
    rows = run(tiny_lake, "payment_success_rate_by_method")
    # One attempt per payment row (order 2 has two SUCCESS payments: two attempts, not an
    # order x payment product). BANK_TRANSFER 2 of 3 -> 66.67; CARD 2 of 4 -> 50.00;
    # UPI 3 of 5 -> 60.00.
    assert [
        (
            r["payment_method"],
            r["payment_attempts"],
            r["successful_payments"],
            r["failed_payments"],
            r["refunded_payments"],
            r["success_rate_pct"],
        )
        for r in rows
    ] == [
        ("BANK_TRANSFER", 3, 2, 1, 0, D("66.67")),
        ("CARD", 4, 2, 1, 1, D("50.00")),
        ("UPI", 5, 3, 2, 0, D("60.00")),
    ]
    # only November: BANK P8 ok, P12 failed -> 50.00; CARD P4 failed, P9 refunded -> 0.00;
    # UPI P2, P3, P7 ok, P10, P11 failed -> 60.00
    november = run(tiny_lake, "payment_success_rate_by_method", start="2025-11-01")
    assert [(r["payment_method"], r["success_rate_pct"]) for r in november] == [
        ("BANK_TRANSFER", D("50.00")),
        ("CARD", D("0.00")),
        ("UPI", D("60.00")),
    ]


# ------------------------------------------------------------------ errors


def test_unknown_analysis_and_bad_parameters(tiny_lake):
    from finance_assets.analytics.catalog import run_analysis
    from finance_assets.analytics.engine import AnalyticsError

    with pytest.raises(AnalyticsError, match="unknown analysis 'nope'.*monthly_pnl"):
        run_analysis("nope", tiny_lake)
    with pytest.raises(AnalyticsError, match="no parameter threshold"):
        run_analysis("monthly_pnl", tiny_lake, {"threshold": "1"})
    with pytest.raises(AnalyticsError, match="not a valid decimal"):
        run_analysis("overspending", tiny_lake, {"threshold_pct": "ten"})
    with pytest.raises(AnalyticsError, match="limit must be a positive"):
        run_analysis("top_customers_by_paid", tiny_lake, {"limit": "0"})


def test_missing_table_is_named(tmp_path):
    from finance_assets.analytics.catalog import run_analysis, run_query
    from finance_assets.analytics.engine import MissingTableError

    with pytest.raises(MissingTableError, match=r"gold\.budget_vs_actual.*materialize"):
        run_analysis("overspending", str(tmp_path))
    with pytest.raises(MissingTableError, match=r"gold\.customer_360.*materialize"):
        run_query("SELECT * FROM customer_360", str(tmp_path))


# ------------------------------------------------------------------ command line


def cli(capsys, *argv: str) -> tuple[int, str, str]:
    from finance_assets.cli import main

    code = main(["sql", *argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_cli_table(tiny_lake, capsys):
    code, out, _ = cli(capsys, "monthly_pnl", "--lake", tiny_lake)
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split() == [
        "month",
        "revenue",
        "expenses",
        "net_profit",
        "expense_ratio_pct",
        "profit_margin_pct",
        "orders_paid",
    ]
    # money with thousands separators, right-aligned; null shown as n/a
    assert lines[3].split() == [
        "2024-12",
        "1,500.00",
        "1,650.00",
        "-150.00",
        "110.00",
        "-10.00",
        "4",
    ]
    assert lines[4].split() == ["2025-01", "0.00", "200.00", "-200.00", "n/a", "n/a", "0"]
    assert lines[-1] == "(6 rows)"


def test_cli_csv_with_parameter(tiny_lake, capsys):
    code, out, _ = cli(
        capsys,
        "overspending",
        "--lake",
        tiny_lake,
        "--param",
        "threshold_pct=20",
        "--format",
        "csv",
    )
    assert code == 0
    assert list(csv.reader(io.StringIO(out))) == [
        ["month", "department", "budget_amount", "actual_amount", "variance", "variance_pct"],
        ["2025-10", "Marketing", "0.00", "300.00", "300.00", ""],
        ["2025-10", "IT", "1000.00", "1200.00", "200.00", "20.00"],
        ["2025-11", "Sales", "800.00", "1000.00", "200.00", "25.00"],
    ]


def test_cli_json_is_exact(tiny_lake, capsys, monkeypatch):
    monkeypatch.setenv("FINANCE_LAKE_URI", tiny_lake)  # --lake defaults to it
    code, out, _ = cli(capsys, "top_customers_by_paid", "-p", "limit=2", "-f", "json")
    assert code == 0
    rows = json.loads(out, parse_float=Decimal)
    assert rows == [
        {
            "rank": 1,
            "customer_id": "C1",
            "total_paid": D("899.99"),
            "total_orders": 3,
            "total_order_value": D("1000.00"),
            "outstanding_amount": D("100.01"),
            "first_order_date": "2025-08-31",
            "last_order_date": "2025-11-30",
        },
        {
            "rank": 2,
            "customer_id": "C4",
            "total_paid": D("899.99"),
            "total_orders": 1,
            "total_order_value": D("899.99"),
            "outstanding_amount": D("0.00"),
            "first_order_date": "2025-11-15",
            "last_order_date": "2025-11-15",
        },
    ]
    assert '"total_paid": 899.99' in out and '"outstanding_amount": 0.00' in out


def test_cli_free_query_and_list(tiny_lake, capsys):
    code, out, _ = cli(
        capsys,
        "--lake",
        tiny_lake,
        "--format",
        "json",
        "--query",
        "SELECT count(*) AS payments, sum(paid_amount) AS total FROM silver.payments "
        "UNION ALL SELECT count(*), sum(paid_amount) FROM gold.unmatched_payments",
    )
    assert code == 0
    # 12 payments: 200+200+50+950+499.99+500+100+899.99+100+300+300+200 = 4299.98;
    # one unmatched (P7, 100.00)
    assert json.loads(out, parse_float=Decimal) == [
        {"payments": 12, "total": D("4299.98")},
        {"payments": 1, "total": D("100.00")},
    ]
    code, out, _ = cli(
        capsys,
        "--lake",
        tiny_lake,
        "-q",
        "SELECT month FROM budget_vs_actual GROUP BY month ORDER BY month",
        "-f",
        "csv",
    )
    assert code == 0 and out.splitlines() == ["month", "2025-10-01", "2025-11-01"]
    code, out, _ = cli(capsys, "--list")
    assert code == 0
    assert "overspending (v1) reads gold.budget_vs_actual" in out
    assert "--param threshold_pct (decimal, default 0)" in out
    code, out, _ = cli(capsys, "--list", "--format", "json")
    listed = {a["name"]: a for a in json.loads(out)}
    assert listed["payment_success_rate_by_method"]["reads"] == ["silver.payments"]


def test_cli_errors(tiny_lake, tmp_path, capsys):
    code, _, err = cli(capsys, "nope", "--lake", tiny_lake)
    assert code == 2 and "unknown analysis 'nope'" in err
    code, _, err = cli(capsys, "monthly_pnl", "--lake", tiny_lake, "--param", "year")
    assert code == 2 and "is not KEY=VALUE" in err
    empty = tmp_path / "empty"
    empty.mkdir()
    code, _, err = cli(capsys, "monthly_pnl", "--lake", str(empty))
    assert code == 1
    assert "gold.financial_summary does not exist" in err and "materialize it" in err
    code, _, err = cli(capsys, "monthly_pnl", "--lake", str(tmp_path / "nowhere"))
    assert code == 2 and "nowhere" in err
    code, _, err = cli(capsys, "--lake", tiny_lake, "--query", "SELECT * FROM nowhere")
    assert code == 2 and "unknown table nowhere" in err
    code, _, err = cli(capsys)
    assert code == 2 and "--list" in err
