"""Reconciliation checks: tables that must agree with each other, as check steps of their own.

(Schemas, and silver's reconciliation with bronze, are judged by the steps that write the
tables: ``checks/catalog.py``.) Blocking (ERROR) checks stop everything downstream of their
asset in the same run; warnings (WARN) are recorded and alerted on, never block.
"""

from __future__ import annotations

import dagster as dg

from finance_assets.checks import names, reconcile
from finance_assets.checks.factory import table_check
from finance_assets.contract import EXPENSES, PARTITION_COLUMN, PAYMENTS
from finance_assets.gold.tables import (
    BUDGET_VS_ACTUAL,
    CUSTOMER_360,
    DAILY_KPI,
    FINANCIAL_SUMMARY,
    MONTHLY_FINANCIAL_REPORT,
    SALES_PERFORMANCE,
)
from finance_assets.lake import tables
from finance_assets.lake.partitions import Partitioning, current_partitioning


def build_checks(partitions: Partitioning) -> list[dg.AssetChecksDefinition]:
    return [
        *_payment_checks(partitions),
        *_gold_tie_checks(partitions),
    ]


def _payment_checks(partitions: Partitioning) -> list:
    return [
        table_check(
            tables.PAYMENT_ORDERS.key,
            names.PAYMENTS_HAVE_ORDERS,
            "Valid payments whose order_id matches no valid order (count and amount).",
            reconcile.payments_have_orders,
            blocking=False,
            partitions_def=partitions.daily,
            partition_column=PARTITION_COLUMN,
        )
    ]


def _gold_tie_checks(partitions: Partitioning) -> list:
    daily = {"partitions_def": partitions.daily, "partition_column": "date"}
    monthly = {"partitions_def": partitions.monthly, "partition_column": "month"}
    silver_payments, silver_expenses = tables.silver(PAYMENTS).key, tables.silver(EXPENSES).key
    return [
        table_check(
            DAILY_KPI.table.key,
            names.REVENUE_TIES_TO_PAYMENTS,
            "Each day's revenue equals its SUCCESS payments and its expenses its expenses.",
            reconcile.revenue_ties_to_payments,
            additional_deps=[silver_payments, silver_expenses],
            **daily,
        ),
        *[
            table_check(
                table.table.key,
                names.MONTHS_TIE_TO_DAYS,
                "Monthly revenue and expenses equal the sum of their days in daily_kpi.",
                reconcile.months_tie_to_days(table.name, revenue, expenses),
                blocking=False,
                additional_deps=[DAILY_KPI.table.key],
                **monthly,
            )
            for table, revenue, expenses in (
                (MONTHLY_FINANCIAL_REPORT, "revenue", "expenses"),
                (FINANCIAL_SUMMARY, "total_revenue", "total_expenses"),
            )
        ],
        table_check(
            BUDGET_VS_ACTUAL.table.key,
            names.ACTUAL_TIES_TO_EXPENSES,
            "Each month's actual spend equals that month's silver expenses.",
            reconcile.actual_ties_to_expenses,
            additional_deps=[silver_expenses],
            **monthly,
        ),
        table_check(
            CUSTOMER_360.table.key,
            names.CUSTOMERS_TIE_TO_ORDERS,
            "Customer totals equal sales_performance totals.",
            reconcile.customers_tie_to_orders,
            additional_deps=[SALES_PERFORMANCE.table.key],
        ),
    ]


@dg.definitions
def defs() -> dg.Definitions:
    return dg.Definitions(asset_checks=build_checks(current_partitioning()))
