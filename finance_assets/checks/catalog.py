"""Which checks each table has, evaluated by the step that writes it.

The schema of every bronze, silver, quarantine and gold table, the landing record count of
bronze and the cross-partition key check of silver judge the rows a step just wrote (a
schema's rules are judged by Spark as a day's rows are written, and come back with them; a
larger write is judged in one more pass while it is still cached); silver's reconciliation
with bronze and its quarantine rate are judged by the step that classified bronze into
silver and quarantine (from the Delta log: no Spark job). The checks that compare gold with
silver, and payments with orders, are check steps of their own (``defs/checks``).
"""

from __future__ import annotations

import dagster as dg

from finance_assets.checks import names, reconcile
from finance_assets.checks.factory import CheckScope, InStepCheck, schema_check
from finance_assets.checks.schemas import (
    BRONZE,
    PARTITION_IS_DROP_FOLDER,
    QUARANTINE,
    SILVER,
    gold_schema,
)
from finance_assets.contract import Dataset
from finance_assets.gold.audit import WritePlan
from finance_assets.gold.tables import GoldTable
from finance_assets.lake import tables


def bronze_checks(dataset: Dataset) -> dict[dg.AssetKey, list[InStepCheck]]:
    bronze = tables.bronze(dataset)
    return {
        bronze.key: [
            schema_check(bronze, BRONZE[dataset.name], rules=[PARTITION_IS_DROP_FOLDER]),
            InStepCheck(
                names.LANDING_RECORDS_RECONCILE,
                "Per landing file: bronze holds exactly one row per non-blank data record, "
                "the records counted again, independently of the bronze parsers.",
                reconcile.landing_records_reconcile,
            ),
        ]
    }


def silver_checks(
    dataset: Dataset, thresholds: reconcile.QuarantineThresholds
) -> dict[dg.AssetKey, list[InStepCheck]]:
    silver, rejected = tables.silver(dataset), tables.quarantine(dataset)
    return {
        silver.key: [
            schema_check(silver, SILVER[dataset.name]),
            InStepCheck(
                names.BRONZE_RECONCILES,
                "For every partition: bronze rows = silver rows + quarantine rows.",
                reconcile.bronze_reconciles(dataset),
            ),
            InStepCheck(
                names.QUARANTINE_RATE,
                "Share of each partition's rows quarantined: WARN above the warn threshold, "
                "ERROR (blocking gold) above the error threshold.",
                reconcile.quarantine_rate(dataset, thresholds),
            ),
            InStepCheck(
                names.KEY_UNIQUE_ACROSS_PARTITIONS,
                "Keys accepted in these partitions that were also accepted in another one.",
                reconcile.key_unique_across_partitions(dataset),
                blocking=False,
            ),
        ],
        rejected.key: [schema_check(rejected, QUARANTINE[dataset.name], blocking=False)],
    }


WRITE_PLAN = "write_plan"
"""The key under which a gold step hands its :class:`WritePlan` to its checks."""


def gold_checks(table: GoldTable) -> list[InStepCheck]:
    checks = [schema_check(table.table, gold_schema(table))]
    if table.partition_column is not None:
        checks.append(closed_months_unchanged(table))
    return checks


def closed_months_unchanged(table: GoldTable) -> InStepCheck:
    """Blocking: the run left every value of a closed month as it was published."""

    def body(scope: CheckScope) -> dg.AssetCheckResult:
        plan: WritePlan | None = scope.facts.get(WRITE_PLAN)
        waiting = plan.waiting if plan else []
        column = table.partition_column or ""
        return dg.AssetCheckResult(
            passed=not waiting,
            severity=dg.AssetCheckSeverity.ERROR,
            description=plan.waiting_message() if waiting else None,
            metadata={
                "closed_months_touched": dg.MetadataValue.json(
                    [a.describe() for a in (plan.closed.values() if plan else [])]
                ),
                "values_waiting_for_reopen": len(waiting),
                "waiting": dg.MetadataValue.json([c.describe(column) for c in waiting[:100]]),
            },
        )

    return InStepCheck(
        names.CLOSED_MONTHS_UNCHANGED,
        "No value of a closed month changed: its partitions are left as published, and new "
        "values for them wait in silver until the month is reopened (finance-assets reopen).",
        body,
    )
