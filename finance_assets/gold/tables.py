"""The gold tables, one spec each: what a table means, its key, cadence, columns and transform.

Gold assets (``defs/gold``), their schema checks (``checks/schemas.py``), the jobs and the
analytics all read this registry. Adding a gold table is adding one :class:`GoldTable` here
and one transform function: a table whose inputs are read for the run's partitions
(``Input``) is built by the generic gold asset; ``custom`` tables have an asset of their own
in ``defs/gold`` because they read more than their partitions (late payments, a running
customer roll-up, the previous month).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from pyspark.sql import DataFrame

from finance_assets.contract import (
    BUDGETS,
    DEPARTMENTS,
    EXPENSES,
    MONEY,
    ORDER_STATUSES,
    ORDERS,
    PAYMENT_METHODS,
    PAYMENT_STATUSES,
    PAYMENTS,
    Cadence,
)
from finance_assets.gold import transforms
from finance_assets.lake import tables
from finance_assets.lake.columns import (
    Column,
    amount,
    count,
    day,
    flag,
    identifier,
    integer,
    money,
    one_of,
    percent,
    text,
)
from finance_assets.lake.tables import Table

RUN = "run"
EVERY = "every"
PERCENT_SUFFIX = "_pct"


@dataclass(frozen=True)
class Input:
    """A table a gold transform reads, passed as the parameter ``param``.

    ``scope`` is ``run`` (the dates of the run's partitions: the same days, or the days of the
    run's months for a monthly table) or ``every`` (the whole table).
    """

    table: Table
    param: str
    scope: str = RUN


@dataclass(frozen=True)
class GoldTable:
    """One gold table."""

    name: str
    description: str
    cadence: Cadence
    partition_column: str | None
    key: tuple[str, ...]
    columns: Mapping[str, Column]
    transform: Callable[..., DataFrame]
    inputs: tuple[Input, ...] = ()
    calendar: str | None = None
    """Parameter receiving one row per day (``date``) or month (``month``) of the run."""
    unique: bool = True
    """Whether ``key`` is unique within the partitions a run writes (checked)."""
    custom: bool = False

    @property
    def table(self) -> Table:
        return tables.gold(self.name)

    @property
    def key_columns_checked(self) -> tuple[str, ...]:
        return self.key if self.unique else ()

    @property
    def row_key(self) -> tuple[str, ...]:
        """What names one row within a partition: the key, less the partition column."""
        return tuple(k for k in self.key if k != self.partition_column)

    @property
    def money_columns(self) -> tuple[str, ...]:
        """Amounts of money (percentages are decimals too, but not money)."""
        return tuple(
            name
            for name, column in self.columns.items()
            if column.dtype == MONEY and not name.endswith(PERCENT_SUFFIX) and name not in self.key
        )

    @property
    def measures(self) -> tuple[str, ...]:
        """Every figure of a row (money, counts, percentages): what a restatement changes."""
        return tuple(name for name, column in self.columns.items() if column.measure)

    @property
    def reads_itself(self) -> bool:
        return any(source.table == self.table for source in self.inputs)


def _order_columns() -> dict[str, Column]:
    orders = "silver/orders"
    return {
        "order_id": identifier().fed_by(f"{orders}.order_id"),
        "customer_id": text(pattern=r"^C[0-9]+$").fed_by(f"{orders}.customer_id"),
        "order_date": day().fed_by(f"{orders}.order_date"),
        "product_category": text(min_length=1).fed_by(f"{orders}.product_category"),
        "order_status": one_of(ORDER_STATUSES).fed_by(f"{orders}.order_status"),
        "order_amount": amount().fed_by(f"{orders}.order_amount"),
    }


def _unmatched_columns() -> dict[str, Column]:
    """A payment's own columns, listed while its order is unknown (null order_date)."""
    links = "silver/payment_orders"
    columns = {
        "payment_id": text(pattern=r"^P[0-9]{1,18}$"),
        "order_id": identifier(),
        "payment_date": day(),
        "paid_amount": amount(),
        "payment_status": one_of(PAYMENT_STATUSES),
        "payment_method": one_of(PAYMENT_METHODS),
    }
    return {
        name: column.fed_by(f"{links}.{name}", f"{links}.order_date")
        for name, column in columns.items()
    }


SILVER_ORDERS = tables.silver(ORDERS)
SILVER_PAYMENTS = tables.silver(PAYMENTS)
SILVER_EXPENSES = tables.silver(EXPENSES)
SILVER_BUDGETS = tables.silver(BUDGETS)

# Column lineage: every input column whose value changes the figure: the amounts, the statuses
# and dates that decide which rows count, and the ids that match rows with each other
# (finance_assets_tests/defs/test_column_lineage.py checks it against the transforms).
PAID_ON_DAY = (
    "silver/payments.paid_amount",
    "silver/payments.payment_status",
    "silver/payments.payment_date",
)
SPENT_ON_DAY = ("silver/expenses.expense_amount", "silver/expenses.expense_date")
ATTEMPTS_ON_DAY = ("silver/payments.payment_date", "silver/payments.payment_status")
ORDERED_ON_DAY = ("silver/orders.order_date",)
# sales_performance: an order's SUCCESS payments, matched by order id.
PAID_FOR_ORDER = (
    "silver/orders.order_id",
    "silver/payment_orders.order_id",
    "silver/payment_orders.payment_status",
)
COLLECTED = (*PAID_FOR_ORDER, "silver/payment_orders.paid_amount")
OWED = ("silver/orders.order_amount", *COLLECTED)
SALES = "gold/sales_performance"
BUDGETED = (
    "silver/budgets.budget_amount",
    "silver/budgets.department",
    "silver/budgets.month",
)
SPENT_BY_DEPARTMENT = (*SPENT_ON_DAY, "silver/expenses.department")

DAILY_KPI = GoldTable(
    name="daily_kpi",
    description=(
        "One row per day: revenue (SUCCESS payments by payment date), expenses, profit, valid "
        "orders and their non-cancelled value, payment attempts by outcome and the payment "
        "success rate."
    ),
    cadence="daily",
    partition_column="date",
    key=("date",),
    columns={
        "date": day(),
        "revenue": money(ge=0).fed_by(*PAID_ON_DAY),
        "expenses": money(ge=0).fed_by(*SPENT_ON_DAY),
        "profit": money().fed_by(*PAID_ON_DAY, *SPENT_ON_DAY),
        "orders_count": count().fed_by("silver/orders.order_id", *ORDERED_ON_DAY),
        "order_value": money(ge=0).fed_by(
            *ORDERED_ON_DAY, "silver/orders.order_amount", "silver/orders.order_status"
        ),
        "payment_attempts": count().fed_by(
            "silver/payments.payment_id", "silver/payments.payment_date"
        ),
        "successful_payments": count().fed_by(*ATTEMPTS_ON_DAY),
        "failed_payments": count().fed_by(*ATTEMPTS_ON_DAY),
        "refunded_payments": count().fed_by(*ATTEMPTS_ON_DAY),
        "payment_success_rate_pct": percent(ge=0, le=100).fed_by(*ATTEMPTS_ON_DAY),
    },
    transform=transforms.daily_kpi,
    inputs=(
        Input(SILVER_ORDERS, "orders"),
        Input(SILVER_PAYMENTS, "payments"),
        Input(SILVER_EXPENSES, "expenses"),
    ),
    calendar="days",
)

SALES_PERFORMANCE = GoldTable(
    name="sales_performance",
    description=(
        "One row per valid order (partitioned by order date) with the money collected for it "
        "from SUCCESS payments of any day, what is still pending and what was overpaid."
    ),
    cadence="daily",
    partition_column="order_date",
    key=("order_id",),
    columns={
        **_order_columns(),
        "total_paid": money(ge=0).fed_by(*COLLECTED),
        "successful_payment_count": count().fed_by(*PAID_FOR_ORDER),
        "last_payment_date": day(nullable=True).fed_by(
            *PAID_FOR_ORDER, "silver/payment_orders.payment_date"
        ),
        "pending_amount": money(ge=0).fed_by(*OWED, "silver/orders.order_status"),
        "overpaid_amount": money(ge=0).fed_by(*OWED),
        "is_fully_paid": flag().fed_by(*OWED, "silver/orders.order_status"),
        "order_year": integer(1).fed_by("silver/orders.order_date"),
        "order_month": integer(1, 12).fed_by("silver/orders.order_date"),
        "order_quarter": integer(1, 4).fed_by("silver/orders.order_date"),
        "order_week": integer(1, 53).fed_by("silver/orders.order_date"),
    },
    transform=transforms.sales_performance,
    # Orders of the run's days; the matched payments of every day (late payments).
    inputs=(Input(SILVER_ORDERS, "orders"), Input(tables.PAYMENT_ORDERS, "payments", EVERY)),
    # An order id accepted on two days (a WARN check on silver) is a row on each day.
    unique=False,
    custom=True,
)

CUSTOMER_360 = GoldTable(
    name="customer_360",
    description=(
        "One row per customer as of the latest day materialized: orders, order value, money "
        "collected, outstanding and overpaid balances, first and last order date."
    ),
    cadence="daily",
    partition_column=None,
    key=("customer_id",),
    columns={
        "customer_id": text(pattern=r"^C[0-9]+$").fed_by(f"{SALES}.customer_id"),
        "total_orders": count(ge=1).fed_by(f"{SALES}.order_id"),
        "total_order_value": money(ge=0).fed_by(f"{SALES}.order_amount", f"{SALES}.order_status"),
        "total_paid": money(ge=0).fed_by(f"{SALES}.total_paid"),
        "outstanding_amount": money(ge=0).fed_by(f"{SALES}.pending_amount"),
        "overpaid_amount": money(ge=0).fed_by(f"{SALES}.overpaid_amount"),
        "first_order_date": day().fed_by(f"{SALES}.order_date"),
        "last_order_date": day().fed_by(f"{SALES}.order_date"),
    },
    transform=transforms.customer_360,
    inputs=(Input(tables.gold("sales_performance"), "sales", EVERY),),
    custom=True,
)

UNMATCHED_PAYMENTS = GoldTable(
    name="unmatched_payments",
    description=(
        "Valid payments (by payment date) whose order_id matches no valid order. They count as "
        "revenue and are listed here so the money is never untraceable."
    ),
    cadence="daily",
    partition_column="payment_date",
    key=("payment_id",),
    columns=_unmatched_columns(),
    transform=transforms.unmatched_payments,
    inputs=(Input(tables.PAYMENT_ORDERS, "links"),),
    unique=False,
    custom=True,
)

FINANCIAL_SUMMARY = GoldTable(
    name="financial_summary",
    description=(
        "One row per month: total revenue, total expenses, net profit, expense ratio and the "
        "number of distinct valid orders with a SUCCESS payment that month."
    ),
    cadence="monthly",
    partition_column="month",
    key=("month",),
    columns={
        "month": day(),
        "year": integer(1),
        "month_number": integer(1, 12),
        "total_revenue": money(ge=0).fed_by(*PAID_ON_DAY),
        "total_expenses": money(ge=0).fed_by(*SPENT_ON_DAY),
        "net_profit": money().fed_by(*PAID_ON_DAY, *SPENT_ON_DAY),
        "expense_ratio_pct": percent().fed_by(*PAID_ON_DAY, *SPENT_ON_DAY),
        "orders_paid": count().fed_by(
            "silver/payment_orders.order_id",
            "silver/payment_orders.order_date",
            "silver/payment_orders.payment_status",
            "silver/payment_orders.payment_date",
        ),
    },
    transform=transforms.financial_summary,
    inputs=(
        Input(SILVER_PAYMENTS, "payments"),
        Input(SILVER_EXPENSES, "expenses"),
        Input(tables.PAYMENT_ORDERS, "links"),
    ),
    calendar="months",
    custom=True,
)

MONTHLY_FINANCIAL_REPORT = GoldTable(
    name="monthly_financial_report",
    description=(
        "One row per month: revenue, expenses, profit and month-over-month revenue growth "
        "(null for the first month or when the previous month was never materialized)."
    ),
    cadence="monthly",
    partition_column="month",
    key=("month",),
    columns={
        "month": day(),
        "year": integer(1),
        "month_number": integer(1, 12),
        "revenue": money(ge=0).fed_by(*PAID_ON_DAY),
        "expenses": money(ge=0).fed_by(*SPENT_ON_DAY),
        "profit": money().fed_by(*PAID_ON_DAY, *SPENT_ON_DAY),
        # The previous month's revenue comes from this run or from the report itself.
        "mom_revenue_growth_pct": percent().fed_by(
            *PAID_ON_DAY,
            "gold/monthly_financial_report.month",
            "gold/monthly_financial_report.revenue",
        ),
    },
    transform=transforms.monthly_financial_report,
    inputs=(
        Input(SILVER_PAYMENTS, "payments"),
        Input(SILVER_EXPENSES, "expenses"),
        Input(tables.gold("monthly_financial_report"), "earlier"),
    ),
    calendar="months",
    custom=True,
)

BUDGET_VS_ACTUAL = GoldTable(
    name="budget_vs_actual",
    description=(
        "One row per department and month with a budget or an expense: budget, actual spend, "
        "variance (actual - budget), variance % and whether it overspent."
    ),
    cadence="monthly",
    partition_column="month",
    key=("department", "month"),
    columns={
        "department": one_of(DEPARTMENTS).fed_by(
            "silver/budgets.department", "silver/expenses.department"
        ),
        "month": day().fed_by("silver/budgets.month", "silver/expenses.expense_date"),
        "budget_amount": money(ge=0).fed_by(*BUDGETED),
        "actual_amount": money(ge=0).fed_by(*SPENT_BY_DEPARTMENT),
        "variance": money().fed_by(*BUDGETED, *SPENT_BY_DEPARTMENT),
        "variance_pct": percent().fed_by(*BUDGETED, *SPENT_BY_DEPARTMENT),
        "is_overspent": flag().fed_by(*BUDGETED, *SPENT_BY_DEPARTMENT),
    },
    transform=transforms.budget_vs_actual,
    inputs=(Input(SILVER_BUDGETS, "budgets"), Input(SILVER_EXPENSES, "expenses")),
)

GOLD_TABLES: tuple[GoldTable, ...] = (
    DAILY_KPI,
    SALES_PERFORMANCE,
    CUSTOMER_360,
    UNMATCHED_PAYMENTS,
    FINANCIAL_SUMMARY,
    MONTHLY_FINANCIAL_REPORT,
    BUDGET_VS_ACTUAL,
)


def gold_tables() -> tuple[GoldTable, ...]:
    """The registry (read through this function so a test can add a table to it)."""
    return GOLD_TABLES


def gold_table(name: str) -> GoldTable:
    return next(t for t in gold_tables() if t.name == name)
