"""Reconciliation rules beyond schemas: every row accounted for, gold ties to silver."""

import functools
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

import dagster as dg
import pyarrow as pa
import pyarrow.compute as pc
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from finance_assets.checks.factory import CheckScope
from finance_assets.checks.landing_records import landing_record_counts
from finance_assets.contract import PARTITION_COLUMN, Dataset
from finance_assets.lake import tables
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
        bounds = {k: scope.lake.bounds(table, k, scope.where) for k in keys} if scope.where else {}
        within = {k: b for k, b in bounds.items() if b is not None}
        search_elsewhere = scope.where and (not within or _files_elsewhere(scope, table, within))
        if table in scope.collected and not search_elsewhere:
            return _repeated_keys_result(*_repeated_in_arrow(scope.collected[table], keys))
        written = scope.read(table).select(*keys)
        # Silver holds a key once per partition, so a repeat inside the range spans partitions.
        repeated = written.groupBy(*keys).count().where(F.col("count") > 1).select(*keys)
        if search_elsewhere:
            # Judging some partitions: also look in the others whose files may hold these keys.
            outside = scope.lake.read(scope.spark, table, within=within or None).where(
                ~scope.where.spark_filter()
            )
            elsewhere = outside.select(*keys).join(written.distinct(), keys, "left_semi")
            repeated = repeated.unionByName(elsewhere).distinct()
        sample = [r.asDict() for r in repeated.limit(MAX_MISMATCHES_SHOWN + 1).collect()]
        count = repeated.count() if len(sample) > MAX_MISMATCHES_SHOWN else len(sample)
        return _repeated_keys_result(count, sample)

    return body


def _repeated_in_arrow(rows: pa.Table, keys: list[str]) -> tuple[int, list[dict]]:
    """Keys held by more than one of the rows a step just wrote (and brought back), and the
    first of them: the range's own repeats, judged without a Spark job."""
    counted = rows.select(keys).group_by(keys).aggregate([(keys[0], "count")])
    repeated = counted.filter(pc.greater(counted[f"{keys[0]}_count"], 1)).select(keys)
    return repeated.num_rows, repeated.slice(0, MAX_MISMATCHES_SHOWN + 1).to_pylist()


def _repeated_keys_result(count: int, sample: list[dict]) -> dg.AssetCheckResult:
    return _result(
        count == 0,
        dg.AssetCheckSeverity.WARN,
        f"{count} key(s) accepted in more than one partition",
        repeated_keys=count,
        sample=[{k: str(v) for k, v in r.items()} for r in sample[:MAX_MISMATCHES_SHOWN]],
    )


def _files_elsewhere(scope: CheckScope, table: str, within: dict) -> bool:
    """Whether a file outside the judged partitions has key statistics overlapping ``within``
    (a new day's fresh ids usually overlap none, and nothing else is read)."""
    where = scope.where
    return any(
        not where.contains(f.partition_values.get(where.column))
        for f in scope.lake.files(table, within=within)
    )


ARROW_CHECK_ROWS = 500_000
"""A reconciliation whose tables hold at most this many rows in the judged partitions (from
the Delta log) reads its few columns with PyArrow on this machine: a day's or a month's
rows, summed without a Spark job. More (a backfill's range) is summed by Spark."""
CENTS = Decimal("0.00")
DAY_FIGURES = (("revenue", "revenue"), ("expenses", "expenses"))
"""daily_kpi's figures a tie compares, (name, column)."""


@dataclass(frozen=True)
class Totals:
    """Figures of a table summed per day (``key``), or per month of it: one side of a tie.

    ``figures`` are (name, column summed); ``only`` keeps the rows whose column holds a value
    (e.g. SUCCESS payments)."""

    table: str
    key: str
    figures: tuple[tuple[str, str], ...]
    per_month: bool = False
    only: tuple[str, str] | None = None

    @property
    def columns(self) -> list[str]:
        wanted = [self.key, *(column for _, column in self.figures)]
        return list(dict.fromkeys(wanted + ([self.only[0]] if self.only else [])))


Side = tuple[Totals, Where | None]
"""Totals, and the partitions of its table they add up."""


def _in_arrow(scope: CheckScope, reads: list[tuple[str, Where | None]]) -> bool:
    """Whether the rows these reads cover are few enough to sum on this machine."""
    rows = 0
    for table, where in reads:
        if table in scope.written:
            return False
        if where is None:
            rows += scope.lake.row_count(table)
        else:
            rows += sum(scope.lake.partition_row_counts(table, where).values())
    return rows <= ARROW_CHECK_ROWS


def payments_have_orders(scope: CheckScope) -> dg.AssetCheckResult:
    """Valid payments whose order is missing: counted as revenue, flagged here (WARN). Read
    from the matching of the run's payment days (no order is searched again)."""
    where = _silver_range(scope)
    if _in_arrow(scope, [(tables.PAYMENT_ORDERS.path, where)]):
        payments, amount, collected = _orphans_in_arrow(scope, where)
    else:
        payments, amount, collected = _orphans_in_spark(scope, where)
    return _result(
        payments == 0,
        dg.AssetCheckSeverity.WARN,
        f"{payments} payment(s) reference no valid order",
        orphan_payments=payments,
        orphan_amount=str(amount),
        orphan_amount_collected=str(collected),
    )


def _orphans_in_spark(scope: CheckScope, where: Where | None) -> tuple[int, Decimal, Decimal]:
    """Payments matched to no order (``order_date`` missing), their amount and the amount of
    the SUCCESS ones."""
    links = scope.lake.read(scope.spark, tables.PAYMENT_ORDERS.path, where)
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
    return int(row["payments"]), row["amount"], row["collected"]


def _orphans_in_arrow(scope: CheckScope, where: Where | None) -> tuple[int, Decimal, Decimal]:
    """:func:`_orphans_in_spark`, read and summed by PyArrow."""
    links = scope.lake.read_arrow(
        tables.PAYMENT_ORDERS.path, where, ["order_date", "paid_amount", "payment_status"]
    )
    if links.num_columns == 0:  # no table yet
        return 0, CENTS, CENTS
    orphans = links.filter(pc.is_null(links["order_date"]))
    success = orphans.filter(pc.equal(orphans["payment_status"], "SUCCESS"))
    return orphans.num_rows, _sum(orphans["paid_amount"]), _sum(success["paid_amount"])


def _sum(values) -> Decimal:
    total = pc.sum(values).as_py()
    return CENTS if total is None else total.quantize(CENTS)


def ties(
    scope: CheckScope,
    key: str,
    figures: list[str],
    actual: list[Side],
    expected: list[Side],
    label: str,
    severity,
) -> dg.AssetCheckResult:
    """Compare two sets of totals per ``key`` (a day or a month), figure by figure; a figure
    missing on either side counts as zero. Each side's totals are joined on the key."""
    reads = [(totals.table, where) for totals, where in [*actual, *expected]]
    if _in_arrow(scope, reads):
        rows = _mismatches_in_arrow(scope, key, figures, actual, expected)
    else:
        rows = _mismatches_in_spark(scope, key, figures, actual, expected)
    return _result(
        not rows,
        severity,
        f"{label}: {len(rows)}{'+' if len(rows) > MAX_MISMATCHES_SHOWN else ''} mismatch(es)",
        mismatches=rows[:MAX_MISMATCHES_SHOWN],
    )


def _mismatches_in_spark(
    scope: CheckScope, key: str, figures: list[str], actual: list[Side], expected: list[Side]
) -> list[dict]:
    """Up to ``MAX_MISMATCHES_SHOWN`` + 1 keys whose figures differ, by key. Both sides hold
    a row per key, so each is put in one partition: one Spark job, without a shuffle on each
    side of the join."""

    def side(sides: list[Side], alias: str) -> DataFrame:
        summed = [_summed_in_spark(scope, totals, where, key) for totals, where in sides]
        joined = functools.reduce(lambda a, b: a.join(b, key, "full_outer"), summed)
        return joined.coalesce(1).alias(alias)

    joined = side(actual, "l").join(side(expected, "r"), key, "full_outer")
    differs = [
        F.coalesce(F.col(f"l.{c}"), F.lit(0)) != F.coalesce(F.col(f"r.{c}"), F.lit(0))
        for c in figures
    ]
    mismatched = joined.where(functools.reduce(lambda a, b: a | b, differs)).select(
        key,
        *[F.col(f"l.{c}").alias(c) for c in figures],
        *[F.col(f"r.{c}").alias(f"expected_{c}") for c in figures],
    )
    rows = mismatched.limit(MAX_MISMATCHES_SHOWN + 1).collect()
    found = [{k: str(v) for k, v in r.asDict().items()} for r in rows]
    return sorted(found, key=lambda r: r[key])


def _summed_in_spark(scope: CheckScope, totals: Totals, where: Where | None, key: str):
    rows = scope.read(totals.table, where)
    if totals.only:
        rows = rows.where(F.col(totals.only[0]) == totals.only[1])
    grouped = F.trunc(totals.key, "month") if totals.per_month else F.col(totals.key)
    return rows.groupBy(grouped.alias(key)).agg(
        *[F.sum(column).alias(name) for name, column in totals.figures]
    )


def _mismatches_in_arrow(
    scope: CheckScope, key: str, figures: list[str], actual: list[Side], expected: list[Side]
) -> list[dict]:
    """:func:`_mismatches_in_spark`, read and summed by PyArrow, every key in order."""
    left, right = _summed_in_arrow(scope, actual), _summed_in_arrow(scope, expected)
    found = []
    for day in sorted(left.keys() | right.keys()):
        mine, theirs = left.get(day, {}), right.get(day, {})
        if any((mine.get(f) or 0) != (theirs.get(f) or 0) for f in figures):
            found.append(
                {
                    key: str(day),
                    **{f: str(mine.get(f)) for f in figures},
                    **{f"expected_{f}": str(theirs.get(f)) for f in figures},
                }
            )
            if len(found) > MAX_MISMATCHES_SHOWN:
                break
    return found


def _summed_in_arrow(scope: CheckScope, sides: list[Side]) -> dict[date, dict]:
    """{key: {figure: total}} of ``sides`` together."""
    summed: dict[date, dict] = {}
    for totals, where in sides:
        rows = scope.lake.read_arrow(totals.table, where, totals.columns)
        if rows.num_columns == 0:  # no table yet
            continue
        if totals.only:
            rows = rows.filter(pc.equal(rows[totals.only[0]], totals.only[1]))
        keys = rows[totals.key]
        if totals.per_month:
            keys = pc.floor_temporal(keys, unit="month")
        names = [name for name, _ in totals.figures]
        grouped = (
            pa.table({"key": keys, **{name: rows[column] for name, column in totals.figures}})
            .group_by("key")
            .aggregate([(name, "sum") for name in names])
        )
        for row in grouped.to_pylist():
            summed.setdefault(row["key"], {}).update({n: row[f"{n}_sum"] for n in names})
    return summed


def revenue_ties_to_payments(scope: CheckScope) -> dg.AssetCheckResult:
    """daily_kpi revenue = that day's SUCCESS payments; expenses = that day's expenses."""
    silver = _silver_range(scope)
    return ties(
        scope,
        "date",
        ["revenue", "expenses"],
        actual=[(Totals("gold/daily_kpi", "date", DAY_FIGURES), scope.where)],
        expected=[
            (
                Totals(
                    "silver/payments",
                    "payment_date",
                    (("revenue", "paid_amount"),),
                    only=("payment_status", "SUCCESS"),
                ),
                silver,
            ),
            (Totals("silver/expenses", "expense_date", (("expenses", "expense_amount"),)), silver),
        ],
        label="daily_kpi vs silver",
        severity=dg.AssetCheckSeverity.ERROR,
    )


def months_tie_to_days(table: str, revenue: str, expenses: str):
    """Monthly revenue and expenses = the sum of their days in daily_kpi (WARN: a day may
    not have been materialized in daily_kpi)."""
    month_figures = (("revenue", revenue), ("expenses", expenses))

    def body(scope: CheckScope) -> dg.AssetCheckResult:
        days = scope.where.on("date") if scope.where else None
        return ties(
            scope,
            "month",
            ["revenue", "expenses"],
            actual=[(Totals(f"gold/{table}", "month", month_figures), scope.where)],
            expected=[(Totals("gold/daily_kpi", "date", DAY_FIGURES, per_month=True), days)],
            label=f"{table} vs daily_kpi",
            severity=dg.AssetCheckSeverity.WARN,
        )

    return body


def actual_ties_to_expenses(scope: CheckScope) -> dg.AssetCheckResult:
    """budget_vs_actual's actual per month = that month's silver expenses."""
    spent = (("actual_amount", "expense_amount"),)
    return ties(
        scope,
        "month",
        ["actual_amount"],
        actual=[
            (
                Totals("gold/budget_vs_actual", "month", (("actual_amount", "actual_amount"),)),
                scope.where,
            )
        ],
        expected=[
            (Totals("silver/expenses", "expense_date", spent, per_month=True), _silver_range(scope))
        ],
        label="budget_vs_actual vs silver expenses",
        severity=dg.AssetCheckSeverity.ERROR,
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
