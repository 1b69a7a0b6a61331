"""Gold transforms on tiny frames: percentages exact to the cent, and every table's rules."""

import random
from datetime import date
from decimal import ROUND_HALF_UP, Decimal

from pyspark.sql import functions as F

from finance_assets.gold import transforms
from finance_assets.gold.transforms import percent

EDGES = [
    ("1.00", "3.00"),  # 33.33
    ("2.00", "3.00"),  # 66.67
    ("0.01", "8.00"),  # 0.125 -> 0.13
    ("-0.01", "8.00"),  # -0.125 -> -0.13 (half away from zero)
    ("2.01", "200.00"),  # 1.005 -> 1.01, where binary floating point gives 1.00
    ("-197.99", "200.00"),  # -98.995 -> -99.00
    ("5.00", "0.00"),  # no denominator -> null
    ("99999999.99", "0.01"),
]


def _expected(n: Decimal, d: Decimal) -> Decimal | None:
    if d == 0:
        return None
    return (100 * n / d).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def test_percent_matches_decimal_half_up(spark):
    rng = random.Random(20241125)
    cases = [(Decimal(n), Decimal(d)) for n, d in EDGES]
    for _ in range(3000):
        n = Decimal(rng.randint(-(10**10), 10**10)) / 100
        d = Decimal(rng.choice([rng.randint(-(10**10), 10**10), rng.randint(1, 999)])) / 100
        cases.append((n, d))
    frame = spark.createDataFrame(cases, "n decimal(18,2), d decimal(18,2)")
    rows = frame.select("n", "d", percent(F.col("n"), F.col("d")).alias("p")).collect()
    wrong = [(r.n, r.d, r.p) for r in rows if r.p != _expected(r.n, r.d)]
    assert not wrong, wrong[:5]


def test_null_inputs_give_null(spark):
    frame = spark.createDataFrame([(None, Decimal("1.00"))], "n decimal(18,2), d decimal(18,2)")
    assert frame.select(percent(F.col("n"), F.col("d"))).first()[0] is None


# --- every gold transform on tiny frames, expectations worked out by hand -----------------

D = Decimal
ORDER = "order_id bigint, customer_id string, order_date date, product_category string, order_status string, order_amount decimal(18,2)"  # noqa: E501
PAYMENT = "payment_id string, order_id bigint, payment_date date, paid_amount decimal(18,2), payment_status string, payment_method string"  # noqa: E501
LINK = PAYMENT + ", order_date date"
EXPENSE = "expense_id bigint, department string, expense_date date, expense_category string, expense_amount decimal(18,2)"  # noqa: E501
J1, J2, J3 = date(2024, 1, 1), date(2024, 1, 2), date(2024, 1, 3)


def _orders(spark, *rows):
    return spark.createDataFrame([(i, c, d, "Books", s, D(a)) for i, c, d, s, a in rows], ORDER)


def _payments(spark, *rows):
    return spark.createDataFrame(
        [(f"P{i}", o, d, D(a), s, "CARD") for i, o, d, a, s in rows], PAYMENT
    )


def _links(spark, *rows):
    return spark.createDataFrame(
        [(f"P{i}", o, d, D(a), s, "CARD", od) for i, o, d, a, s, od in rows], LINK
    )


def _by(rows, key):
    return {r[key]: r.asDict() for r in rows}


def test_daily_kpi_counts_revenue_by_payment_date_and_fills_empty_days(spark):
    orders = _orders(
        spark, (1, "C1", J1, "COMPLETED", "100.00"), (2, "C1", J1, "CANCELLED", "40.00")
    )
    payments = _payments(
        spark,
        (1, 1, J1, "60.00", "SUCCESS"),
        (2, 1, J1, "10.00", "FAILED"),
        (3, 9, J2, "5.50", "SUCCESS"),  # an order nobody knows: still revenue
        (4, 1, J2, "1.00", "REFUNDED"),
    )
    expenses = spark.createDataFrame([(1, "IT", J1, "Cloud", D("25.25"))], EXPENSE)
    rows = _by(
        transforms.daily_kpi(
            transforms.day_frame(spark, J1, J3), orders, payments, expenses
        ).collect(),
        "date",
    )
    assert rows[J1] == {
        "date": J1,
        "revenue": D("60.00"),
        "expenses": D("25.25"),
        "profit": D("34.75"),
        "orders_count": 2,
        "order_value": D("100.00"),  # the cancelled order is not order value
        "payment_attempts": 2,
        "successful_payments": 1,
        "failed_payments": 1,
        "refunded_payments": 0,
        "payment_success_rate_pct": D("50.00"),
    }
    assert (rows[J2]["revenue"], rows[J2]["payment_success_rate_pct"]) == (D("5.50"), D("50.00"))
    assert rows[J3]["revenue"] == D("0.00") and rows[J3]["payment_success_rate_pct"] is None


def test_sales_performance_adds_up_successful_payments_per_order(spark):
    orders = _orders(
        spark,
        (1, "C1", J1, "COMPLETED", "100.00"),  # paid 40 + 70: overpaid 10
        (2, "C2", J1, "PENDING", "50.00"),  # paid nothing: pending 50
        (3, "C1", J1, "CANCELLED", "30.00"),  # cancelled: owes nothing although unpaid
    )
    links = _links(
        spark,
        (1, 1, J1, "40.00", "SUCCESS", J1),
        (2, 1, J3, "70.00", "SUCCESS", J1),
        (3, 2, J2, "50.00", "FAILED", J1),
    )
    rows = _by(transforms.sales_performance(orders, links).collect(), "order_id")
    one, two, three = rows[1], rows[2], rows[3]
    assert (one["total_paid"], one["successful_payment_count"], one["last_payment_date"]) == (
        D("110.00"),
        2,
        J3,
    )
    assert (one["pending_amount"], one["overpaid_amount"], one["is_fully_paid"]) == (
        D("0.00"),
        D("10.00"),
        True,
    )
    assert (two["total_paid"], two["pending_amount"], two["is_fully_paid"]) == (
        D("0.00"),
        D("50.00"),
        False,
    )
    assert (three["pending_amount"], three["is_fully_paid"]) == (D("0.00"), False)
    assert (one["order_year"], one["order_month"], one["order_quarter"], one["order_week"]) == (
        2024,
        1,
        1,
        1,
    )


def _sales(spark, *rows):
    orders = _orders(spark, *[(i, c, d, s, a) for i, c, d, s, a, _ in rows])
    links = _links(
        spark,
        *[(i, i, d, paid, "SUCCESS", d) for i, c, d, s, a, paid in rows if paid != "0"],
    )
    return transforms.sales_performance(orders, links)


def test_customer_360_sums_a_customers_orders(spark):
    sales = _sales(
        spark,
        (1, "C1", J1, "COMPLETED", "100.00", "100.00"),
        (2, "C1", J3, "PENDING", "40.00", "0"),
        (3, "C1", J2, "CANCELLED", "20.00", "0"),
        (4, "C2", J2, "COMPLETED", "10.00", "15.00"),
    )
    rows = _by(transforms.customer_360(sales).collect(), "customer_id")
    assert rows["C1"] == {
        "customer_id": "C1",
        "total_orders": 3,
        "total_order_value": D("140.00"),  # the cancelled order is not order value
        "total_paid": D("100.00"),
        "outstanding_amount": D("40.00"),
        "overpaid_amount": D("0.00"),
        "first_order_date": J1,
        "last_order_date": J3,
    }
    assert (rows["C2"]["overpaid_amount"], rows["C2"]["outstanding_amount"]) == (
        D("5.00"),
        D("0.00"),
    )


def test_customer_changes_applied_to_customer_360_equal_a_rebuild(spark):
    before = _sales(
        spark,
        (1, "C1", J1, "COMPLETED", "100.00", "0"),
        (2, "C2", J1, "COMPLETED", "10.00", "0"),
    )
    after = _sales(  # a late payment for order 1, and a new customer's order
        spark,
        (1, "C1", J1, "COMPLETED", "100.00", "100.00"),
        (2, "C2", J1, "COMPLETED", "10.00", "0"),
        (3, "C3", J2, "PENDING", "7.00", "0"),
    )
    changes = transforms.customer_changes(after, before)
    merged = transforms.apply_customer_changes(transforms.customer_360(before), changes)
    assert sorted(merged.collect()) == sorted(transforms.customer_360(after).collect())
    assert transforms.customers_losing_order_days(after, before).count() == 0
    gone = transforms.customers_losing_order_days(before.where("order_id = 1"), before)
    assert [r[0] for r in gone.collect()] == ["C2"]  # C2's only order day disappeared
    days = ["customer_id", "order_date"]
    in_arrow = transforms.customers_losing_order_days_in_arrow
    assert in_arrow(after.select(days).toArrow(), before.select(days).toArrow()) == []
    assert in_arrow(
        before.where("order_id = 1").select(days).toArrow(), before.select(days).toArrow()
    ) == ["C2"]


def test_unmatched_payments_are_those_without_an_order_day(spark):
    links = _links(spark, (1, 1, J1, "5.00", "SUCCESS", J1), (2, 9, J1, "7.00", "FAILED", None))
    assert [r["payment_id"] for r in transforms.unmatched_payments(links).collect()] == ["P2"]


def test_financial_summary_counts_orders_paid_among_known_orders(spark):
    months = transforms.dates_frame(spark, [J1], "month")
    payments = _payments(
        spark,
        (1, 1, J1, "60.00", "SUCCESS"),
        (2, 1, J2, "40.00", "SUCCESS"),  # the same order twice: counted once
        (3, 9, J2, "5.00", "SUCCESS"),  # no such order: revenue, not an order paid
        (4, 2, J3, "3.00", "FAILED"),
    )
    links = _links(
        spark,
        (1, 1, J1, "60.00", "SUCCESS", J1),
        (2, 1, J2, "40.00", "SUCCESS", J1),
        (3, 9, J2, "5.00", "SUCCESS", None),
        (4, 2, J3, "3.00", "FAILED", J1),
    )
    expenses = spark.createDataFrame([(1, "IT", J1, "Cloud", D("21.00"))], EXPENSE)
    (row,) = transforms.financial_summary(months, payments, expenses, links).collect()
    assert row.asDict() == {
        "month": J1,
        "year": 2024,
        "month_number": 1,
        "total_revenue": D("105.00"),
        "total_expenses": D("21.00"),
        "net_profit": D("84.00"),
        "expense_ratio_pct": D("20.00"),
        "orders_paid": 1,
    }


def test_monthly_report_growth_uses_the_previous_month_in_the_run_or_the_report(spark):
    feb, mar = date(2024, 2, 1), date(2024, 3, 1)
    payments = _payments(
        spark,
        (1, 1, date(2024, 2, 10), "150.00", "SUCCESS"),
        (2, 1, date(2024, 3, 5), "75.00", "SUCCESS"),
    )
    expenses = spark.createDataFrame([], EXPENSE)
    earlier = spark.createDataFrame([(J1, D("100.00"))], "month date, revenue decimal(18,2)")
    months = transforms.month_frame(spark, feb, mar)
    rows = _by(
        transforms.monthly_financial_report(months, payments, expenses, earlier).collect(), "month"
    )
    assert rows[feb]["mom_revenue_growth_pct"] == D("50.00")  # 100 -> 150, from the report
    assert rows[mar]["mom_revenue_growth_pct"] == D("-50.00")  # 150 -> 75, from this run
    none_before = spark.createDataFrame([], "month date, revenue decimal(18,2)")
    (first,) = transforms.monthly_financial_report(
        transforms.month_frame(spark, feb, feb), payments, expenses, none_before
    ).collect()
    assert first["mom_revenue_growth_pct"] is None


def test_budget_vs_actual_keeps_departments_with_only_a_budget_or_only_spend(spark):
    budgets = spark.createDataFrame(
        [("IT", J1, D("100.00")), ("HR", J1, D("50.00"))],
        "department string, month date, budget_amount decimal(18,2)",
    )
    expenses = spark.createDataFrame(
        [
            (1, "IT", J2, "Cloud", D("80.00")),
            (2, "IT", J3, "Cloud", D("30.00")),
            (3, "Sales", J2, "Ads", D("9.99")),
        ],
        EXPENSE,
    )
    rows = _by(transforms.budget_vs_actual(budgets, expenses).collect(), "department")
    assert (rows["IT"]["actual_amount"], rows["IT"]["variance"], rows["IT"]["variance_pct"]) == (
        D("110.00"),
        D("10.00"),
        D("10.00"),
    )
    assert rows["IT"]["is_overspent"] is True
    assert (rows["HR"]["actual_amount"], rows["HR"]["is_overspent"]) == (D("0.00"), False)
    assert (rows["Sales"]["budget_amount"], rows["Sales"]["variance_pct"]) == (D("0.00"), None)
