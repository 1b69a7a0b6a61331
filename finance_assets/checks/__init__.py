"""Data quality: Pandera schemas and reconciliation rules as Dagster asset checks.

Blocking (ERROR) checks sit on silver and gold: when one fails, nothing downstream of
that asset runs in the same run. Warnings (WARN) are recorded and alerted on, never block.
"""

from __future__ import annotations

import dagster as dg

from finance_assets.bronze.assets import bronze_key
from finance_assets.checks import names, reconcile
from finance_assets.checks.factory import schema_check, table_check
from finance_assets.checks.schemas import GOLD, QUARANTINE, SILVER
from finance_assets.datasets import DATASETS, PARTITION_COLUMN, PAYMENTS
from finance_assets.gold.assets import (
    BUDGET_VS_ACTUAL,
    CUSTOMER_360,
    DAILY_KPI,
    FINANCIAL_SUMMARY,
    MONTHLY_FINANCIAL_REPORT,
    SALES_PERFORMANCE,
)
from finance_assets.partitions import Partitioning
from finance_assets.settings import Settings
from finance_assets.silver.assets import quarantine_key, silver_key

GOLD_PARTITION_COLUMNS = {
    "daily_kpi": "date",
    "sales_performance": "order_date",
    "unmatched_payments": "payment_date",
    "customer_360": None,
    "financial_summary": "month",
    "monthly_financial_report": "month",
    "budget_vs_actual": "month",
}
MONTHLY_GOLD = {"financial_summary", "monthly_financial_report", "budget_vs_actual"}


def build_checks(partitions: Partitioning, settings: Settings) -> list[dg.AssetChecksDefinition]:
    return [
        *_dataset_checks(partitions, settings),
        *_gold_schema_checks(partitions),
        *_gold_tie_checks(partitions),
    ]


def _dataset_checks(partitions: Partitioning, settings: Settings) -> list:
    checks = []
    thresholds = reconcile.QuarantineThresholds(
        warn=settings.quarantine_warn_rate,
        error=settings.quarantine_error_rate,
        min_rows=settings.quarantine_min_rows,
    )
    for name, dataset in DATASETS.items():
        daily_or_monthly = partitions.monthly if dataset.is_monthly else partitions.daily
        scope = {"partitions_def": daily_or_monthly, "partition_column": PARTITION_COLUMN}
        silver = silver_key(dataset)
        checks += [
            schema_check(silver, SILVER[name], **scope),
            schema_check(quarantine_key(dataset), QUARANTINE[name], blocking=False, **scope),
            table_check(
                silver,
                names.BRONZE_RECONCILES,
                "For every partition: bronze rows = silver rows + quarantine rows.",
                reconcile.bronze_reconciles(dataset),
                additional_deps=[bronze_key(dataset), quarantine_key(dataset)],
                **scope,
            ),
            table_check(
                silver,
                names.QUARANTINE_RATE,
                "Share of each partition's rows quarantined: WARN above the warn threshold, "
                "ERROR (blocking gold) above the error threshold.",
                reconcile.quarantine_rate(dataset, thresholds),
                additional_deps=[bronze_key(dataset), quarantine_key(dataset)],
                **scope,
            ),
            table_check(
                silver,
                names.KEY_UNIQUE_ACROSS_PARTITIONS,
                "Keys accepted in these partitions that were also accepted in another one.",
                reconcile.key_unique_across_partitions(dataset),
                blocking=False,
                **scope,
            ),
        ]
    checks.append(
        table_check(
            silver_key(PAYMENTS),
            names.PAYMENTS_HAVE_ORDERS,
            "Valid payments whose order_id matches no valid order (count and amount).",
            reconcile.payments_have_orders,
            blocking=False,
            additional_deps=[silver_key(DATASETS["orders"])],
            partitions_def=partitions.daily,
            partition_column=PARTITION_COLUMN,
        )
    )
    return checks


def _gold_schema_checks(partitions: Partitioning) -> list:
    checks = []
    for name, schema in GOLD.items():
        column = GOLD_PARTITION_COLUMNS[name]
        daily_or_monthly = partitions.monthly if name in MONTHLY_GOLD else partitions.daily
        checks.append(
            schema_check(
                dg.AssetKey(["gold", name]),
                schema,
                partitions_def=daily_or_monthly if column else None,
                partition_column=column,
            )
        )
    return checks


def _gold_tie_checks(partitions: Partitioning) -> list:
    daily = {"partitions_def": partitions.daily, "partition_column": "date"}
    monthly = {"partitions_def": partitions.monthly, "partition_column": "month"}
    silver_payments, silver_expenses = silver_key(PAYMENTS), silver_key(DATASETS["expenses"])
    return [
        table_check(
            DAILY_KPI,
            names.REVENUE_TIES_TO_PAYMENTS,
            "Each day's revenue equals its SUCCESS payments and its expenses its expenses.",
            reconcile.revenue_ties_to_payments,
            additional_deps=[silver_payments, silver_expenses],
            **daily,
        ),
        *[
            table_check(
                key,
                names.MONTHS_TIE_TO_DAYS,
                "Monthly revenue and expenses equal the sum of their days in daily_kpi.",
                reconcile.months_tie_to_days(key.path[-1], revenue, expenses),
                blocking=False,
                additional_deps=[DAILY_KPI],
                **monthly,
            )
            for key, revenue, expenses in (
                (MONTHLY_FINANCIAL_REPORT, "revenue", "expenses"),
                (FINANCIAL_SUMMARY, "total_revenue", "total_expenses"),
            )
        ],
        table_check(
            BUDGET_VS_ACTUAL,
            names.ACTUAL_TIES_TO_EXPENSES,
            "Each month's actual spend equals that month's silver expenses.",
            reconcile.actual_ties_to_expenses,
            additional_deps=[silver_expenses],
            **monthly,
        ),
        table_check(
            CUSTOMER_360,
            names.CUSTOMERS_TIE_TO_ORDERS,
            "Customer totals equal sales_performance totals.",
            reconcile.customers_tie_to_orders,
            additional_deps=[SALES_PERFORMANCE],
        ),
    ]
