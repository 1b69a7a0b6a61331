"""Reconciliation rules beyond schemas: every row accounted for, gold ties to silver."""

import functools
from dataclasses import dataclass
from datetime import date

import dagster as dg
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from finance_assets.checks.factory import CheckScope
from finance_assets.checks.landing_records import landing_record_counts
from finance_assets.contract import PARTITION_COLUMN, Dataset
from finance_assets.lake.delta import PartitionRange, Where

MAX_MISMATCHES_SHOWN = 10
MAX_FILES_SHOWN = 1000
LANDING_FILES, ROWS_PER_FILE, S3, NATIVE_READS = "landing_files", "rows_per_file", "s3", "native"
IN_PROCESS = "in_process"
"""The facts the bronze step hands its checks (``CheckScope.facts``)."""
EVERYTHING = (date(1, 1, 1), date(9999, 12, 31))


def _partitions(scope: CheckScope) -> Where:
    return scope.where or PartitionRange(PARTITION_COLUMN, *EVERYTHING)


def _silver_range(scope: CheckScope) -> Where | None:
    """The silver partitions holding the days of the run's range."""
    return scope.where.on(PARTITION_COLUMN) if scope.where else None


def _result(passed: bool, severity, description: str, **metadata) -> dg.AssetCheckResult:
    return dg.AssetCheckResult(
        passed=passed,
        severity=severity,
        description=None if passed else description,
        metadata={k: _meta(v) for k, v in metadata.items()},
    )


def _meta(value):
    return dg.MetadataValue.json(value) if isinstance(value, (dict, list)) else value


def bronze_reconciles(dataset: Dataset):
    """bronze rows = silver rows + quarantine rows, for every partition the run wrote."""

    def body(scope: CheckScope) -> dg.AssetCheckResult:
        where = _partitions(scope)
        counts = {
            layer: scope.lake.partition_row_counts(f"{layer}/{dataset.name}", where)
            for layer in ("bronze", "silver", "quarantine")
        }
        days = sorted(set().union(*counts.values()))
        mismatches = {
            d.isoformat(): {layer: counts[layer].get(d, 0) for layer in counts}
            for d in days
            if counts["bronze"].get(d, 0)
            != counts["silver"].get(d, 0) + counts["quarantine"].get(d, 0)
        }
        return _result(
            not mismatches,
            dg.AssetCheckSeverity.ERROR,
            f"{len(mismatches)} partition(s) where bronze != silver + quarantine",
            bronze_rows=sum(counts["bronze"].values()),
            silver_rows=sum(counts["silver"].values()),
            quarantine_rows=sum(counts["quarantine"].values()),
            partitions_checked=len(days),
            mismatched_partitions=mismatches,
        )

    return body


def landing_records_reconcile(scope: CheckScope) -> dg.AssetCheckResult:
    """Bronze holds exactly one row per non-blank data record of each landing file of the
    partitions just written: the records are counted again where bronze parsed them (Spark
    tasks, or this process for a small drop), independently of the parsers, and compared
    per file with the rows bronze wrote from it."""
    files = scope.facts[LANDING_FILES]
    rows = scope.facts[ROWS_PER_FILE]
    records = (
        landing_record_counts(
            scope.spark,
            files,
            scope.facts[S3],
            scope.facts[NATIVE_READS],
            scope.facts.get(IN_PROCESS, False),
        )
        if files
        else {}
    )
    per_file = {
        uri: {"landing_records": records.get(uri, 0), "bronze_rows": rows.get(uri, 0)}
        for uri in sorted(set(records) | set(rows))
    }
    mismatched = {uri: n for uri, n in per_file.items() if n["landing_records"] != n["bronze_rows"]}
    shown = dict(list(per_file.items())[:MAX_FILES_SHOWN])
    return _result(
        not mismatched,
        dg.AssetCheckSeverity.ERROR,
        f"{len(mismatched)} landing file(s) whose data records and bronze rows differ: "
        + ", ".join(
            f"{uri} ({n['landing_records']} records, {n['bronze_rows']} rows)"
            for uri, n in list(mismatched.items())[:MAX_MISMATCHES_SHOWN]
        ),
        files_checked=len(files),
        landing_records=sum(records.values()),
        bronze_rows=sum(rows.values()),
        mismatched_files=mismatched,
        per_file=shown,
        files_not_shown=len(per_file) - len(shown),
    )


@dataclass(frozen=True)
class QuarantineThresholds:
    """Share of a partition's rows quarantined before warning, and before blocking gold.

    The error threshold applies only to partitions with at least ``min_rows`` rows: on a
    handful of rows a rate says little.
    """

    warn: float = 0.05
    error: float = 0.5
    min_rows: int = 100


def quarantine_rate(dataset: Dataset, thresholds: QuarantineThresholds):
    def body(scope: CheckScope) -> dg.AssetCheckResult:
        where = _partitions(scope)
        bronze = scope.lake.partition_row_counts(f"bronze/{dataset.name}", where)
        rejected = scope.lake.partition_row_counts(f"quarantine/{dataset.name}", where)
        rates = {d: rejected.get(d, 0) / n for d, n in bronze.items() if n}
        warned = {d.isoformat(): round(r, 4) for d, r in rates.items() if r > thresholds.warn}
        errors = {
            d.isoformat(): round(r, 4)
            for d, r in rates.items()
            if r > thresholds.error and bronze[d] >= thresholds.min_rows
        }
        severity = dg.AssetCheckSeverity.ERROR if errors else dg.AssetCheckSeverity.WARN
        return _result(
            not warned,
            severity,
            f"{len(warned)} partition(s) above {thresholds.warn:.0%} quarantined"
            + (f", {len(errors)} above {thresholds.error:.0%}" if errors else ""),
            overall_rate=round(sum(rejected.values()) / max(sum(bronze.values()), 1), 4),
            partitions_above_warn=warned,
            partitions_above_error=errors,
            warn_threshold=thresholds.warn,
            error_threshold=thresholds.error,
        )

    return body


def key_unique_across_partitions(dataset: Dataset):
    """A key accepted in the partitions just written must not also live in another one.

    Other partitions are searched only where their files' key statistics overlap the keys
    just written, so the check costs what the new partitions add, not what history holds."""
    keys = list(dataset.key)

    def body(scope: CheckScope) -> dg.AssetCheckResult:
        table = f"silver/{dataset.name}"
        if table in scope.empty:  # no key accepted in these partitions: none can repeat
            return _result(True, dg.AssetCheckSeverity.WARN, "", repeated_keys=0, sample=[])
        written = scope.read(table).select(*keys)
        # Silver holds a key once per partition, so a repeat inside the range spans partitions.
        repeated = written.groupBy(*keys).count().where(F.col("count") > 1).select(*keys)
        bounds = {k: scope.lake.bounds(table, k, scope.where) for k in keys} if scope.where else {}
        within = {k: b for k, b in bounds.items() if b is not None}
        if scope.where and (not within or _files_elsewhere(scope, table, within)):
            # Judging some partitions: also look in the others whose files may hold these keys.
            outside = scope.lake.read(scope.spark, table, within=within or None).where(
                ~scope.where.spark_filter()
            )
            elsewhere = outside.select(*keys).join(written.distinct(), keys, "left_semi")
            repeated = repeated.unionByName(elsewhere).distinct()
        sample = repeated.limit(MAX_MISMATCHES_SHOWN + 1).collect()
        count = repeated.count() if len(sample) > MAX_MISMATCHES_SHOWN else len(sample)
        return _result(
            count == 0,
            dg.AssetCheckSeverity.WARN,
            f"{count} key(s) accepted in more than one partition",
            repeated_keys=count,
            sample=[
                {k: str(v) for k, v in r.asDict().items()} for r in sample[:MAX_MISMATCHES_SHOWN]
            ],
        )

    return body


def _files_elsewhere(scope: CheckScope, table: str, within: dict) -> bool:
    """Whether a file outside the judged partitions has key statistics overlapping ``within``
    (a new day's fresh ids usually overlap none, and nothing else is read)."""
    where = scope.where
    return any(
        not where.contains(f.partition_values.get(where.column))
        for f in scope.lake.files(table, within=within)
    )


def payments_have_orders(scope: CheckScope) -> dg.AssetCheckResult:
    """Valid payments whose order is missing: counted as revenue, flagged here (WARN). Read
    from the matching of the run's payment days (no order is searched again)."""
    links = scope.lake.read(scope.spark, "silver/payment_orders", _silver_range(scope))
    orphans = links.where(F.col("order_date").isNull()).agg(
        F.count(F.lit(1)).alias("payments"),
        F.coalesce(F.sum("paid_amount"), F.lit(0)).cast("decimal(18,2)").alias("amount"),
        F.coalesce(
            F.sum(F.when(F.col("payment_status") == "SUCCESS", F.col("paid_amount"))), F.lit(0)
        )
        .cast("decimal(18,2)")
        .alias("collected"),
    )
    row = orphans.first()
    return _result(
        row["payments"] == 0,
        dg.AssetCheckSeverity.WARN,
        f"{row['payments']} payment(s) reference no valid order",
        orphan_payments=int(row["payments"]),
        orphan_amount=str(row["amount"]),
        orphan_amount_collected=str(row["collected"]),
    )


def ties(
    left: DataFrame, right: DataFrame, key: str, columns: list[str], label: str, severity
) -> dg.AssetCheckResult:
    """Compare two tables keyed by ``key`` column by column; nulls count as zero.

    Both sides hold a row per key (a day or a month), so each is put in one partition: the
    comparison is one Spark job, without a shuffle on each side of the join."""
    joined = left.coalesce(1).alias("l").join(right.coalesce(1).alias("r"), key, "full_outer")
    differs = [
        F.coalesce(F.col(f"l.{c}"), F.lit(0)) != F.coalesce(F.col(f"r.{c}"), F.lit(0))
        for c in columns
    ]
    condition = differs[0]
    for d in differs[1:]:
        condition = condition | d
    mismatched = joined.where(condition).select(
        key,
        *[F.col(f"l.{c}").alias(f"{c}") for c in columns],
        *[F.col(f"r.{c}").alias(f"expected_{c}") for c in columns],
    )
    rows = mismatched.limit(MAX_MISMATCHES_SHOWN + 1).collect()
    sample = [{k: str(v) for k, v in r.asDict().items()} for r in rows[:MAX_MISMATCHES_SHOWN]]
    return _result(
        not rows,
        severity,
        f"{label}: {len(rows)}{'+' if len(rows) > MAX_MISMATCHES_SHOWN else ''} mismatch(es)",
        mismatches=sample,
    )


def revenue_ties_to_payments(scope: CheckScope) -> dg.AssetCheckResult:
    """daily_kpi revenue = that day's SUCCESS payments; expenses = that day's expenses."""
    days = scope.read("gold/daily_kpi").select("date", "revenue", "expenses")
    silver = _silver_range(scope)
    revenue = (
        scope.read("silver/payments", silver)
        .where(F.col("payment_status") == "SUCCESS")
        .groupBy(F.col("payment_date").alias("date"))
        .agg(F.sum("paid_amount").alias("revenue"))
    )
    spent = (
        scope.read("silver/expenses", silver)
        .groupBy(F.col("expense_date").alias("date"))
        .agg(F.sum("expense_amount").alias("expenses"))
    )
    expected = revenue.join(spent, "date", "full_outer")
    return ties(
        days,
        expected,
        "date",
        ["revenue", "expenses"],
        "daily_kpi vs silver",
        dg.AssetCheckSeverity.ERROR,
    )


def months_tie_to_days(table: str, revenue: str, expenses: str):
    """Monthly revenue and expenses = the sum of their days in daily_kpi (WARN: a day may
    not have been materialized in daily_kpi)."""

    def body(scope: CheckScope) -> dg.AssetCheckResult:
        months = scope.read(f"gold/{table}").select(
            "month", F.col(revenue).alias("revenue"), F.col(expenses).alias("expenses")
        )
        days = scope.where.on("date") if scope.where else None
        summed = (
            scope.lake.read(scope.spark, "gold/daily_kpi", days)
            .groupBy(F.trunc("date", "month").alias("month"))
            .agg(F.sum("revenue").alias("revenue"), F.sum("expenses").alias("expenses"))
        )
        return ties(
            months,
            summed,
            "month",
            ["revenue", "expenses"],
            f"{table} vs daily_kpi",
            dg.AssetCheckSeverity.WARN,
        )

    return body


def actual_ties_to_expenses(scope: CheckScope) -> dg.AssetCheckResult:
    """budget_vs_actual's actual per month = that month's silver expenses."""
    actual = (
        scope.read("gold/budget_vs_actual")
        .groupBy("month")
        .agg(F.sum("actual_amount").alias("actual_amount"))
    )
    silver = _silver_range(scope)
    expected = (
        scope.read("silver/expenses", silver)
        .groupBy(F.trunc("expense_date", "month").alias("month"))
        .agg(F.sum("expense_amount").alias("actual_amount"))
    )
    return ties(
        actual,
        expected,
        "month",
        ["actual_amount"],
        "budget_vs_actual vs silver expenses",
        dg.AssetCheckSeverity.ERROR,
    )


def _customer_totals() -> dict:
    """Per-customer totals, expressed over sales_performance rows."""
    return {
        "total_orders": F.count(F.lit(1)),
        "total_order_value": F.sum(
            F.when(F.col("order_status") != "CANCELLED", F.col("order_amount"))
        ),
        "total_paid": F.sum("total_paid"),
        "outstanding_amount": F.sum("pending_amount"),
        "overpaid_amount": F.sum("overpaid_amount"),
    }


def customers_tie_to_orders(scope: CheckScope) -> dg.AssetCheckResult:
    """customer_360 agrees with sales_performance, without reading its history.

    - Every order is counted once: the customers' ``total_orders`` add up to the rows of
      sales_performance (from the Delta log's statistics).
    - Every change was applied: the customers' totals moved since customer_360's previous
      version by exactly what the sales_performance rows added and removed in between add up
      to. (When customer_360 has no previous version, it is compared with all of
      sales_performance.)"""
    c360, sales = "gold/customer_360", "gold/sales_performance"
    lake = scope.lake
    totals = _customer_totals()
    reflected = lake.inputs(c360).get(sales)
    expected_orders = lake.row_count(sales, reflected)
    previous, before = _previous_build(lake, c360, sales)
    known = previous is not None and reflected is not None
    changes = lake.changes(sales, before, reflected) if known else None
    customers = {"now": lake.read(scope.spark, c360)}
    orders: dict[str, DataFrame] = {}
    if changes is not None:
        try:
            customers["then"] = lake.read(scope.spark, c360, version=previous)
            orders["added"] = lake.read_files(scope.spark, sales, changes.added)
            orders["removed"] = lake.read_files(scope.spark, sales, changes.removed)
            compared = f"changes of sales_performance versions {before}..{reflected}"
        except FileNotFoundError:  # those versions' files were vacuumed: compare with all
            customers.pop("then")
            orders.clear()
    if not orders:
        orders["all"] = lake.read(scope.spark, sales, version=reflected)
        compared = "whole table"
    sums = _sums(customers, orders, totals)
    now = sums["now"]
    if "all" in sums:
        expected = sums["all"]
    else:
        then, added, removed = sums["then"], sums["added"], sums["removed"]
        expected = {k: then[k] + added[k] - removed[k] for k in totals}
    mismatches = {
        k: {"customer_360": str(now[k]), "expected": str(expected[k])}
        for k in totals
        if now[k] != expected[k]
    }
    if now["total_orders"] != expected_orders:
        mismatches["sales_performance rows"] = {
            "customer_360": str(now["total_orders"]),
            "expected": str(expected_orders),
        }
    return _result(
        not mismatches,
        dg.AssetCheckSeverity.ERROR,
        f"customer_360 vs sales_performance: {len(mismatches)} total(s) differ",
        compared=compared,
        mismatches=mismatches,
    )


def _previous_build(lake, c360: str, sales: str) -> tuple[int | None, int | None]:
    """customer_360's previous version and the sales_performance version it reflected."""
    version = lake.version(c360)
    if not version:
        return None, None
    before = lake.inputs(c360, version - 1).get(sales)
    return (version - 1, before) if before is not None else (None, None)


def _sums(customers: dict[str, DataFrame], orders: dict[str, DataFrame], totals: dict) -> dict:
    """Column totals of each frame of customer rows and of sales_performance rows, by name,
    in one Spark job (one small aggregate per frame, their rows collected together)."""
    of_customers = [F.coalesce(F.sum(k), F.lit(0)).alias(k) for k in totals]
    of_orders = [F.coalesce(e, F.lit(0)).alias(k) for k, e in totals.items()]
    frames = [(n, f, of_customers) for n, f in customers.items()]
    frames += [(n, f, of_orders) for n, f in orders.items()]
    sums = [frame.agg(*exprs).withColumn("frame", F.lit(name)) for name, frame, exprs in frames]
    rows = functools.reduce(lambda a, b: a.unionByName(b), sums).collect()
    return {row["frame"]: {k: row[k] for k in totals} for row in rows}
