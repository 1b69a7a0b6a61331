"""The data contract (silver rules, gold tables) as SQL, for the two benchmark baselines.

Written from ``/work/shared/spec/CONTRACT.md`` independently of the product's Spark code
(``finance_assets.silver.rules``, ``finance_assets.gold.transforms``), so that the
baselines double as a second implementation: ``test_bench_baselines`` checks that all
three engines produce the same gold tables from the same files.

Two dialects are rendered from one description: Spark SQL (plain PySpark baseline) and
DuckDB. Every expression works on *trimmed* string columns named ``t_<column>``.
Regular expressions avoid backslashes so one pattern serves Java (``rlike``) and RE2
(``regexp_full_match``): after trimming, ``^...$`` cannot meet a line terminator.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

# Python's str.strip() whitespace: the contract's "strings are trimmed first".
WHITESPACE = "".join(chr(c) for c in range(0x110000) if chr(c).isspace())

COLUMNS: dict[str, tuple[str, ...]] = {
    "orders": (
        "order_id",
        "order_date",
        "customer_id",
        "product_category",
        "order_amount",
        "order_status",
    ),
    "payments": (
        "payment_id",
        "order_id",
        "payment_date",
        "paid_amount",
        "payment_status",
        "payment_method",
    ),
    "expenses": ("expense_id", "department", "expense_date", "expense_category", "expense_amount"),
    "budgets": ("department", "month", "budget_amount"),
}
DAILY = ("orders", "payments", "expenses")
MONTHLY = ("budgets",)

ENUMS = {
    "order_status": ("COMPLETED", "PENDING", "CANCELLED"),
    "payment_status": ("SUCCESS", "FAILED", "REFUNDED"),
    "payment_method": ("CARD", "UPI", "BANK_TRANSFER"),
    "department": ("IT", "Sales", "HR", "Marketing", "Operations", "Finance"),
}


@dataclass(frozen=True)
class Rule:
    column: str
    kind: str  # id | prefixed | date | month | amount | text | enum
    reason: str
    prefix: str = ""
    max_digits: int | None = None


RULES: dict[str, tuple[Rule, ...]] = {
    "orders": (
        Rule("order_id", "id", "invalid_order_id"),
        Rule("order_date", "date", "invalid_date"),
        Rule("customer_id", "prefixed", "invalid_customer_id", prefix="C"),
        Rule("product_category", "text", "invalid_category"),
        Rule("order_amount", "amount", "invalid_amount"),
        Rule("order_status", "enum", "invalid_status"),
    ),
    "payments": (
        Rule("payment_id", "prefixed", "invalid_payment_id", prefix="P", max_digits=18),
        Rule("order_id", "id", "invalid_order_id"),
        Rule("payment_date", "date", "invalid_date"),
        Rule("paid_amount", "amount", "invalid_amount"),
        Rule("payment_status", "enum", "invalid_status"),
        Rule("payment_method", "enum", "invalid_method"),
    ),
    "expenses": (
        Rule("expense_id", "id", "invalid_expense_id"),
        Rule("department", "enum", "invalid_department"),
        Rule("expense_date", "date", "invalid_date"),
        Rule("expense_category", "text", "invalid_category"),
        Rule("expense_amount", "amount", "invalid_amount"),
    ),
    "budgets": (
        Rule("department", "enum", "invalid_department"),
        Rule("month", "month", "invalid_date"),
        Rule("budget_amount", "amount", "invalid_amount"),
    ),
}
DATE_COLUMN = {
    "orders": "order_date",
    "payments": "payment_date",
    "expenses": "expense_date",
    "budgets": "month",
}
KEYS = {
    "orders": ("order_id",),
    "payments": ("payment_id",),
    "expenses": ("expense_id",),
    "budgets": ("department", "month"),
}
GOLD_TABLES = (
    "daily_kpi",
    "sales_performance",
    "customer_360",
    "unmatched_payments",
    "financial_summary",
    "monthly_financial_report",
    "budget_vs_actual",
)


@dataclass(frozen=True)
class Dialect:
    name: str
    int_type: str  # exact integer type for percent arithmetic
    int_div: str  # integer division operator

    def full_match(self, expr: str, pattern: str) -> str:
        if self.name == "spark":
            return f"({expr} RLIKE '^({pattern})$')"
        return f"regexp_full_match({expr}, '{pattern}')"

    def to_date(self, expr: str) -> str:
        if self.name == "spark":
            return f"try_to_date({expr}, 'yyyy-MM-dd')"
        return f"CAST(try_strptime({expr}, '%Y-%m-%d') AS DATE)"

    def month_of(self, expr: str) -> str:
        if self.name == "spark":
            return f"trunc({expr}, 'MM')"
        return f"CAST(date_trunc('month', {expr}) AS DATE)"

    def iso_week(self, expr: str) -> str:
        return f"weekofyear({expr})"

    def days(self, start: date, end: date) -> str:
        if self.name == "spark":
            return f"SELECT explode(sequence(DATE'{start}', DATE'{end}', INTERVAL 1 DAY)) AS date"
        return (
            f"SELECT CAST(range AS DATE) AS date FROM range(DATE '{start}', "
            f"DATE '{end}' + INTERVAL 1 DAY, INTERVAL 1 DAY)"
        )

    def months(self, start: date, end: date) -> str:
        first, last = start.replace(day=1), end.replace(day=1)
        if self.name == "spark":
            return (
                f"SELECT explode(sequence(DATE'{first}', DATE'{last}', INTERVAL 1 MONTH)) AS month"
            )
        return (
            f"SELECT CAST(range AS DATE) AS month FROM range(DATE '{first}', "
            f"DATE '{last}' + INTERVAL 1 DAY, INTERVAL 1 MONTH)"
        )

    def money_to_decimal(self, expr: str) -> str:
        return f"CAST({expr} AS DECIMAL(18,2))"

    def hundredths_to_pct(self, expr: str) -> str:
        if self.name == "spark":
            return f"CAST(CAST({expr} AS DECIMAL(38,0)) / 100 AS DECIMAL(18,2))"
        return f"CAST(CAST({expr} AS DECIMAL(18,2)) * CAST(0.01 AS DECIMAL(3,2)) AS DECIMAL(18,2))"


SPARK = Dialect("spark", "DECIMAL(38,0)", "div")
DUCKDB = Dialect("duckdb", "HUGEINT", "//")

MONEY = "DECIMAL(18,2)"
_ID = "[0-9]{1,18}"
_DATE = "[0-9]{4}-[0-9]{2}-[0-9]{2}|[0-9]{4}/[0-9]{2}/[0-9]{2}"
_MONTH = "[0-9]{4}-[0-9]{2}(-01)?"
_AMOUNT = "-?[0-9]+([.][0-9]{1,2})?"


def _real_date(iso: str, d: Dialect) -> str:
    """A yyyy-MM-dd text as a date when it is a calendar date (year 0000 is not)."""
    return f"CASE WHEN year({d.to_date(iso)}) >= 1 THEN {d.to_date(iso)} END"


def typed(rule: Rule, d: Dialect) -> str:
    """SQL for the typed value of ``rule.column`` (null when the rule fails)."""
    t = f"t_{rule.column}"
    if rule.kind == "id":
        value = f"TRY_CAST({t} AS BIGINT)"
        return f"CASE WHEN {d.full_match(t, _ID)} AND {value} > 0 THEN {value} END"
    if rule.kind == "prefixed":
        digits = "+" if rule.max_digits is None else f"{{1,{rule.max_digits}}}"
        upper = f"upper({t})"
        return f"CASE WHEN {d.full_match(upper, f'{rule.prefix}[0-9]{digits}')} THEN {upper} END"
    if rule.kind == "date":
        iso = f"replace({t}, '/', '-')"
        return f"CASE WHEN {d.full_match(t, _DATE)} THEN {_real_date(iso, d)} END"
    if rule.kind == "month":
        iso = f"CASE WHEN length({t}) = 7 THEN concat({t}, '-01') ELSE {t} END"
        return f"CASE WHEN {d.full_match(t, _MONTH)} THEN {_real_date(iso, d)} END"
    if rule.kind == "amount":
        value = f"TRY_CAST({t} AS DECIMAL(38,2))"
        return (
            f"CASE WHEN {d.full_match(t, _AMOUNT)} AND {value} > 0 "
            f"AND {value} <= CAST('10000000.00' AS DECIMAL(38,2)) THEN CAST({value} AS {MONEY}) END"
        )
    if rule.kind == "text":
        return f"CASE WHEN length({t}) > 0 THEN {t} END"
    if rule.kind == "enum":
        whens = " ".join(f"WHEN '{v.upper()}' THEN '{v}'" for v in ENUMS[rule.column])
        return f"CASE upper({t}) {whens} END"
    raise ValueError(rule.kind)


def reason(dataset: str, malformed: str) -> str:
    """SQL for the first rule a row fails (before ``duplicate``), null when it passes.

    Works on a relation holding the raw columns, the ``v_<column>`` typed values and
    ``partition_date``; ``malformed`` is true for rows that could not be parsed.
    """
    parts = [f"WHEN {malformed} THEN 'malformed_row'"]
    missing = " OR ".join(f"{c} IS NULL" for c in COLUMNS[dataset])
    parts.append(f"WHEN {missing} THEN 'missing_column'")
    for rule in RULES[dataset]:
        parts.append(f"WHEN v_{rule.column} IS NULL THEN '{rule.reason}'")
        if rule.column == DATE_COLUMN[dataset]:
            parts.append(f"WHEN v_{rule.column} <> partition_date THEN 'date_outside_partition'")
    return "CASE " + " ".join(parts) + " END"


def percent(numerator: str, denominator: str, d: Dialect) -> str:
    """100 * n / d rounded half-up to 2 places, exactly (integer hundredths); null if d is 0."""
    n = f"CAST(({numerator}) * 100 AS {d.int_type})"
    den = f"CAST(({denominator}) * 100 AS {d.int_type})"
    h = f"((abs({n}) * 20000 + abs({den})) {d.int_div} (abs({den}) * 2))"
    signed = f"(CASE WHEN ({n} < 0) <> ({den} < 0) THEN -{h} ELSE {h} END)"
    return f"(CASE WHEN COALESCE({den}, 0) <> 0 THEN {d.hundredths_to_pct(signed)} END)"


def _zero(expr: str) -> str:
    return f"CAST(COALESCE({expr}, 0) AS {MONEY})"


def gold_sql(table: str, d: Dialect, start: date, end: date) -> str:
    """One gold table over the views silver_orders, silver_payments, silver_expenses,
    silver_budgets (the range's silver) and, for customer_360, gold_sales_performance."""
    month = d.month_of
    if table == "daily_kpi":
        rate = percent("successful_payments", "payment_attempts", d)
        return f"""
        WITH days AS ({d.days(start, end)}),
        pay AS (
          SELECT payment_date AS date,
                 SUM(CASE WHEN payment_status = 'SUCCESS' THEN paid_amount END) AS revenue,
                 COUNT(*) AS payment_attempts,
                 COUNT(CASE WHEN payment_status = 'SUCCESS' THEN 1 END) AS successful_payments,
                 COUNT(CASE WHEN payment_status = 'FAILED' THEN 1 END) AS failed_payments,
                 COUNT(CASE WHEN payment_status = 'REFUNDED' THEN 1 END) AS refunded_payments
          FROM silver_payments GROUP BY payment_date),
        spent AS (SELECT expense_date AS date, SUM(expense_amount) AS expenses
                  FROM silver_expenses GROUP BY expense_date),
        ord AS (SELECT order_date AS date, COUNT(*) AS orders_count,
                       SUM(CASE WHEN order_status <> 'CANCELLED' THEN order_amount END)
                         AS order_value
                FROM silver_orders GROUP BY order_date),
        j AS (
          SELECT days.date, {_zero("pay.revenue")} AS revenue,
                 {_zero("spent.expenses")} AS expenses,
                 COALESCE(ord.orders_count, 0) AS orders_count,
                 {_zero("ord.order_value")} AS order_value,
                 COALESCE(pay.payment_attempts, 0) AS payment_attempts,
                 COALESCE(pay.successful_payments, 0) AS successful_payments,
                 COALESCE(pay.failed_payments, 0) AS failed_payments,
                 COALESCE(pay.refunded_payments, 0) AS refunded_payments
          FROM days LEFT JOIN pay ON pay.date = days.date
          LEFT JOIN spent ON spent.date = days.date
          LEFT JOIN ord ON ord.date = days.date)
        SELECT date, revenue, expenses, CAST(revenue - expenses AS {MONEY}) AS profit,
               orders_count, order_value, payment_attempts, successful_payments,
               failed_payments, refunded_payments, {rate} AS payment_success_rate_pct
        FROM j"""
    if table == "sales_performance":
        paid = "COALESCE(p.total_paid, CAST(0 AS DECIMAL(18,2)))"
        return f"""
        WITH p AS (
          SELECT order_id, SUM(paid_amount) AS total_paid, COUNT(*) AS successful_payment_count,
                 MAX(payment_date) AS last_payment_date
          FROM silver_payments WHERE payment_status = 'SUCCESS' GROUP BY order_id)
        SELECT o.order_id, o.customer_id, o.order_date, o.product_category, o.order_status,
               o.order_amount, CAST({paid} AS {MONEY}) AS total_paid,
               COALESCE(p.successful_payment_count, 0) AS successful_payment_count,
               p.last_payment_date,
               CASE WHEN o.order_status = 'CANCELLED' THEN CAST(0 AS {MONEY})
                    ELSE CAST(GREATEST(o.order_amount - {paid}, 0) AS {MONEY})
               END AS pending_amount,
               CAST(GREATEST({paid} - o.order_amount, 0) AS {MONEY}) AS overpaid_amount,
               (o.order_status <> 'CANCELLED' AND {paid} >= o.order_amount) AS is_fully_paid,
               year(o.order_date) AS order_year, month(o.order_date) AS order_month,
               quarter(o.order_date) AS order_quarter, {d.iso_week("o.order_date")} AS order_week
        FROM silver_orders o LEFT JOIN p ON p.order_id = o.order_id"""
    if table == "customer_360":
        return f"""
        SELECT customer_id, COUNT(*) AS total_orders,
               {_zero("SUM(CASE WHEN order_status <> 'CANCELLED' THEN order_amount END)")}
                 AS total_order_value,
               {_zero("SUM(total_paid)")} AS total_paid,
               {_zero("SUM(pending_amount)")} AS outstanding_amount,
               {_zero("SUM(overpaid_amount)")} AS overpaid_amount,
               MIN(order_date) AS first_order_date, MAX(order_date) AS last_order_date
        FROM gold_sales_performance GROUP BY customer_id"""
    if table == "unmatched_payments":
        return """
        SELECT p.payment_id, p.order_id, p.payment_date, p.paid_amount, p.payment_status,
               p.payment_method
        FROM silver_payments p
        LEFT JOIN (SELECT DISTINCT order_id FROM silver_orders) o ON o.order_id = p.order_id
        WHERE o.order_id IS NULL"""
    monthly = f"""
        months AS ({d.months(start, end)}),
        rev AS (SELECT {month("payment_date")} AS month,
                       SUM(CASE WHEN payment_status = 'SUCCESS' THEN paid_amount END) AS revenue
                FROM silver_payments GROUP BY {month("payment_date")}),
        spent AS (SELECT {month("expense_date")} AS month, SUM(expense_amount) AS expenses
                  FROM silver_expenses GROUP BY {month("expense_date")}),
        base AS (SELECT months.month, {_zero("rev.revenue")} AS revenue,
                        {_zero("spent.expenses")} AS expenses
                 FROM months LEFT JOIN rev ON rev.month = months.month
                 LEFT JOIN spent ON spent.month = months.month)"""
    if table == "financial_summary":
        return f"""
        WITH {monthly},
        paid AS (SELECT {month("payment_date")} AS month, COUNT(DISTINCT order_id) AS orders_paid
                 FROM silver_payments
                 WHERE payment_status = 'SUCCESS'
                   AND order_id IN (SELECT order_id FROM silver_orders)
                 GROUP BY {month("payment_date")})
        SELECT base.month, year(base.month) AS year, month(base.month) AS month_number,
               revenue AS total_revenue, expenses AS total_expenses,
               CAST(revenue - expenses AS {MONEY}) AS net_profit,
               {percent("expenses", "revenue", d)} AS expense_ratio_pct,
               COALESCE(paid.orders_paid, 0) AS orders_paid
        FROM base LEFT JOIN paid ON paid.month = base.month"""
    if table == "monthly_financial_report":
        return f"""
        WITH {monthly},
        prev AS (SELECT *, LAG(revenue) OVER (ORDER BY month) AS previous_revenue FROM base)
        SELECT month, year(month) AS year, month(month) AS month_number, revenue, expenses,
               CAST(revenue - expenses AS {MONEY}) AS profit,
               {percent("revenue - previous_revenue", "previous_revenue", d)}
                 AS mom_revenue_growth_pct
        FROM prev"""
    if table == "budget_vs_actual":
        budget = "COALESCE(b.budget_amount, CAST(0 AS DECIMAL(18,2)))"
        actual = "COALESCE(a.actual_amount, CAST(0 AS DECIMAL(18,2)))"
        variance = f"CAST({actual} - {budget} AS {MONEY})"
        return f"""
        WITH a AS (SELECT department, {month("expense_date")} AS month,
                          SUM(expense_amount) AS actual_amount
                   FROM silver_expenses GROUP BY department, {month("expense_date")}),
        b AS (SELECT department, month, budget_amount FROM silver_budgets)
        SELECT COALESCE(b.department, a.department) AS department,
               COALESCE(b.month, a.month) AS month,
               CAST({budget} AS {MONEY}) AS budget_amount,
               CAST({actual} AS {MONEY}) AS actual_amount,
               {variance} AS variance,
               {percent(variance, budget, d)} AS variance_pct,
               ({variance} > 0) AS is_overspent
        FROM b FULL OUTER JOIN a ON a.department = b.department AND a.month = b.month"""
    raise ValueError(table)
