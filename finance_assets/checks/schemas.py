"""Pandera schemas: the single source of truth for every silver, quarantine and gold table.

Column names, Spark types (money is ``decimal(18,2)``), nullability, ranges and
enumerations live here. ``checks/evaluate.py`` turns a schema into one Spark aggregation,
and ``checks/factory.py`` turns that into Dagster asset checks.
"""

from __future__ import annotations

import pandera.pyspark as pa
from pyspark.sql import types as T

from finance_assets.datasets import (
    DATASETS,
    DEPARTMENTS,
    MAX_AMOUNT,
    ORDER_STATUSES,
    PARTITION_COLUMN,
    PAYMENT_METHODS,
    PAYMENT_STATUSES,
)
from finance_assets.silver.rules import reason_codes

MONEY = T.DecimalType(18, 2)
AMOUNT_CHECKS = [pa.Check.gt(0), pa.Check.le(float(MAX_AMOUNT))]


def _col(dtype, *checks, nullable: bool = False) -> pa.Column:
    return pa.Column(dtype, checks=list(checks), nullable=nullable)


def _money(*checks, nullable: bool = False) -> pa.Column:
    return _col(MONEY, *checks, nullable=nullable)


def _count() -> pa.Column:
    return _col(T.LongType(), pa.Check.ge(0))


def _pct() -> pa.Column:
    return _money(nullable=True)


def _lineage() -> dict[str, pa.Column]:
    return {
        "_source_file": _col(T.StringType(), pa.Check.str_length(1, None)),
        "_source_row": _col(T.LongType(), pa.Check.ge(1)),
        PARTITION_COLUMN: _col(T.DateType()),
    }


def _positive_id() -> pa.Column:
    return _col(T.LongType(), pa.Check.gt(0))


def _order_columns() -> dict[str, pa.Column]:
    return {
        "order_id": _positive_id(),
        "order_date": _col(T.DateType()),
        "customer_id": _col(T.StringType(), pa.Check.str_matches(r"^C[0-9]+$")),
        "product_category": _col(T.StringType(), pa.Check.str_length(1, None)),
        "order_amount": _money(*AMOUNT_CHECKS),
        "order_status": _col(T.StringType(), pa.Check.isin(list(ORDER_STATUSES))),
    }


def _payment_columns() -> dict[str, pa.Column]:
    return {
        "payment_id": _col(T.StringType(), pa.Check.str_matches(r"^P[0-9]{1,18}$")),
        "order_id": _positive_id(),
        "payment_date": _col(T.DateType()),
        "paid_amount": _money(*AMOUNT_CHECKS),
        "payment_status": _col(T.StringType(), pa.Check.isin(list(PAYMENT_STATUSES))),
        "payment_method": _col(T.StringType(), pa.Check.isin(list(PAYMENT_METHODS))),
    }


SILVER: dict[str, pa.DataFrameSchema] = {
    "orders": pa.DataFrameSchema(
        {**_order_columns(), **_lineage()},
        name="silver/orders",
    ),
    "payments": pa.DataFrameSchema(
        {**_payment_columns(), **_lineage()},
        name="silver/payments",
    ),
    "expenses": pa.DataFrameSchema(
        {
            "expense_id": _positive_id(),
            "department": _col(T.StringType(), pa.Check.isin(list(DEPARTMENTS))),
            "expense_date": _col(T.DateType()),
            "expense_category": _col(T.StringType(), pa.Check.str_length(1, None)),
            "expense_amount": _money(*AMOUNT_CHECKS),
            **_lineage(),
        },
        name="silver/expenses",
    ),
    "budgets": pa.DataFrameSchema(
        {
            "department": _col(T.StringType(), pa.Check.isin(list(DEPARTMENTS))),
            "month": _col(T.DateType()),
            "budget_amount": _money(*AMOUNT_CHECKS),
            **_lineage(),
        },
        name="silver/budgets",
    ),
}


def _quarantine(dataset: str) -> pa.DataFrameSchema:
    raw = {c: _col(T.StringType(), nullable=True) for c in DATASETS[dataset].columns}
    return pa.DataFrameSchema(
        {
            **raw,
            "_reason": _col(T.StringType(), pa.Check.isin(reason_codes(DATASETS[dataset]))),
            "_corrupt_record": _col(T.StringType(), nullable=True),
            "_rescued_data": _col(T.StringType(), nullable=True),
            **_lineage(),
        },
        name=f"quarantine/{dataset}",
    )


QUARANTINE: dict[str, pa.DataFrameSchema] = {name: _quarantine(name) for name in DATASETS}

GOLD: dict[str, pa.DataFrameSchema] = {
    "daily_kpi": pa.DataFrameSchema(
        {
            "date": _col(T.DateType()),
            "revenue": _money(pa.Check.ge(0)),
            "expenses": _money(pa.Check.ge(0)),
            "profit": _money(),
            "orders_count": _count(),
            "order_value": _money(pa.Check.ge(0)),
            "payment_attempts": _count(),
            "successful_payments": _count(),
            "failed_payments": _count(),
            "refunded_payments": _count(),
            "payment_success_rate_pct": _money(pa.Check.in_range(0, 100), nullable=True),
        },
        name="gold/daily_kpi",
        unique=["date"],
    ),
    "sales_performance": pa.DataFrameSchema(
        {
            **_order_columns(),
            "total_paid": _money(pa.Check.ge(0)),
            "successful_payment_count": _count(),
            "last_payment_date": _col(T.DateType(), nullable=True),
            "pending_amount": _money(pa.Check.ge(0)),
            "overpaid_amount": _money(pa.Check.ge(0)),
            "is_fully_paid": _col(T.BooleanType()),
            "order_year": _col(T.IntegerType(), pa.Check.ge(1)),
            "order_month": _col(T.IntegerType(), pa.Check.in_range(1, 12)),
            "order_quarter": _col(T.IntegerType(), pa.Check.in_range(1, 4)),
            "order_week": _col(T.IntegerType(), pa.Check.in_range(1, 53)),
        },
        name="gold/sales_performance",
    ),
    "customer_360": pa.DataFrameSchema(
        {
            "customer_id": _col(T.StringType(), pa.Check.str_matches(r"^C[0-9]+$")),
            "total_orders": _col(T.LongType(), pa.Check.ge(1)),
            "total_order_value": _money(pa.Check.ge(0)),
            "total_paid": _money(pa.Check.ge(0)),
            "outstanding_amount": _money(pa.Check.ge(0)),
            "overpaid_amount": _money(pa.Check.ge(0)),
            "first_order_date": _col(T.DateType()),
            "last_order_date": _col(T.DateType()),
        },
        name="gold/customer_360",
        unique=["customer_id"],
    ),
    "unmatched_payments": pa.DataFrameSchema(
        _payment_columns(),
        name="gold/unmatched_payments",
    ),
    "financial_summary": pa.DataFrameSchema(
        {
            "month": _col(T.DateType()),
            "year": _col(T.IntegerType(), pa.Check.ge(1)),
            "month_number": _col(T.IntegerType(), pa.Check.in_range(1, 12)),
            "total_revenue": _money(pa.Check.ge(0)),
            "total_expenses": _money(pa.Check.ge(0)),
            "net_profit": _money(),
            "expense_ratio_pct": _pct(),
            "orders_paid": _count(),
        },
        name="gold/financial_summary",
        unique=["month"],
    ),
    "monthly_financial_report": pa.DataFrameSchema(
        {
            "month": _col(T.DateType()),
            "year": _col(T.IntegerType(), pa.Check.ge(1)),
            "month_number": _col(T.IntegerType(), pa.Check.in_range(1, 12)),
            "revenue": _money(pa.Check.ge(0)),
            "expenses": _money(pa.Check.ge(0)),
            "profit": _money(),
            "mom_revenue_growth_pct": _pct(),
        },
        name="gold/monthly_financial_report",
        unique=["month"],
    ),
    "budget_vs_actual": pa.DataFrameSchema(
        {
            "department": _col(T.StringType(), pa.Check.isin(list(DEPARTMENTS))),
            "month": _col(T.DateType()),
            "budget_amount": _money(pa.Check.ge(0)),
            "actual_amount": _money(pa.Check.ge(0)),
            "variance": _money(),
            "variance_pct": _pct(),
            "is_overspent": _col(T.BooleanType()),
        },
        name="gold/budget_vs_actual",
        unique=["department", "month"],
    ),
}
