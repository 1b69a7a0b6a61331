"""Column lineage: every gold asset publishes ``dagster/column_lineage``, and for every money
column it names exactly the input columns the transform really reads.

"Really reads" is measured, not copied from the declaration: each gold transform runs on tiny
frames, then again with one input column changed (ids shifted, statuses rotated, dates moved
40 days, amounts less a cent, a nullable date flipped to or from null); an input column feeds
a gold column when changing it changes that column's values. Rows are matched by the table's
key; when the changed input column is the key itself, rows are matched through the change.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import date, timedelta
from decimal import Decimal

import dagster as dg
import pytest
from pyspark.sql import functions as F

from finance_assets.contract import DEPARTMENTS, ORDER_STATUSES, PAYMENT_METHODS, PAYMENT_STATUSES
from finance_assets.gold import transforms
from finance_assets.gold.tables import GoldTable, gold_tables

D = Decimal
J1, J2, J3, F1 = date(2024, 1, 1), date(2024, 1, 2), date(2024, 1, 3), date(2024, 2, 1)
SOURCE = "_source_file string, _source_row bigint, partition_date date"
SCHEMAS = {
    "orders": "order_id bigint, order_date date, customer_id string, product_category string, "
    f"order_amount decimal(18,2), order_status string, {SOURCE}",
    "payments": "payment_id string, order_id bigint, payment_date date, "
    f"paid_amount decimal(18,2), payment_status string, payment_method string, {SOURCE}",
    "expenses": "expense_id bigint, department string, expense_date date, "
    f"expense_category string, expense_amount decimal(18,2), {SOURCE}",
    "budgets": f"department string, month date, budget_amount decimal(18,2), {SOURCE}",
    "links": "payment_id string, order_id bigint, payment_date date, paid_amount decimal(18,2), "
    "payment_status string, payment_method string, order_date date, partition_date date",
    "earlier": "month date, revenue decimal(18,2)",
}
# Columns that only say where a row came from: never read by a transform, not perturbed.
PROVENANCE = {"_source_file", "_source_row"}
ENUMS = [ORDER_STATUSES, PAYMENT_STATUSES, PAYMENT_METHODS, DEPARTMENTS]
VARIANT = "_variant"

ORDERS = [  # order, day, customer, category, amount, status; what its payments make of it
    (1, J1, "C1", "Books", "100.00", "COMPLETED"),  # paid exactly, in two payments
    (2, J1, "C2", "Toys", "50.00", "PENDING"),  # part paid, one payment in February
    (3, J2, "C1", "Toys", "30.00", "CANCELLED"),  # cancelled, yet paid 10
    (4, J2, "C3", "Garden", "80.00", "COMPLETED"),  # overpaid by 20
    (5, J3, "C2", "Books", "200.00", "COMPLETED"),  # a FAILED and a REFUNDED attempt
]
PAYMENTS = [  # payment, order, day, amount, status, method
    ("P1", 1, J1, "60.00", "SUCCESS", "CARD"),
    ("P2", 1, J2, "40.00", "SUCCESS", "UPI"),
    ("P3", 2, J1, "20.00", "SUCCESS", "CARD"),
    ("P4", 3, J2, "10.00", "SUCCESS", "CARD"),
    ("P5", 4, J2, "100.00", "SUCCESS", "BANK_TRANSFER"),
    ("P6", 5, J3, "200.00", "FAILED", "CARD"),
    ("P7", 5, J3, "50.00", "REFUNDED", "UPI"),
    ("P8", 99, J3, "15.00", "SUCCESS", "CARD"),  # no such order
    ("P9", 2, F1, "5.00", "SUCCESS", "CARD"),
]


def _frames() -> dict[str, list[tuple]]:
    day_of = {o[0]: o[1] for o in ORDERS}
    source = ("file:///drop.csv", 1)
    expenses, budgets = [], []
    for i, department in enumerate(DEPARTMENTS):  # every department spends and has a budget
        for month, days in ((J1, (J1, J2, J3)), (F1, (F1,))):
            day = days[i % len(days)]
            expenses.append(
                (len(expenses) + 1, department, day, "Supplies", D(f"{11 + i * 7}.25"))
                + source
                + (day,)
            )
            budgets.append((department, month, D(f"{40 + i * 9}.00"), *source, month))
    return {
        "orders": [(o, d, c, k, D(a), s, *source, d) for o, d, c, k, a, s in ORDERS],
        "payments": [(p, o, d, D(a), s, m, *source, d) for p, o, d, a, s, m in PAYMENTS],
        "links": [(p, o, d, D(a), s, m, day_of.get(o), d) for p, o, d, a, s, m in PAYMENTS],
        "expenses": expenses,
        "budgets": budgets,
        "earlier": [(date(2023, 12, 1), D("500.00"))],
    }


def _changes(value) -> list[Callable]:
    """Ways to change one value (each a bijection on the values it meets)."""
    if isinstance(value, bool):
        return [lambda v: None if v is None else not v]
    if isinstance(value, int):
        return [lambda v: None if v is None else v + 1000]
    if isinstance(value, Decimal):
        return [lambda v: None if v is None else v - D("0.01")]
    if isinstance(value, date):
        return [lambda v: None if v is None else v + timedelta(days=40)]
    for values in ENUMS:
        if value in values:
            return [lambda v, vs=values: None if v is None else vs[(vs.index(v) + 1) % len(vs)]]
    return [lambda v: None if v is None else f"{v}~"]


def _flip_null(value):
    return J1 if value is None else None


class Lab:
    """Runs a gold table's transform on the tiny frames, as given or with one column changed."""

    def __init__(self, spark, table: GoldTable):
        self.spark, self.table = spark, table
        self.rows = _frames()
        self.schemas: dict = dict(SCHEMAS)
        # customer_360 reads sales_performance: the gold rows of the same tiny frames.
        sales = transforms.sales_performance(self.frame("orders"), self.frame("links"))
        self.schemas["sales"] = sales.schema
        self.rows["sales"] = [tuple(r) for r in sales.collect()]

    def frame(self, name: str, rows: list[tuple] | None = None):
        data = rows if rows is not None else self.rows[name]
        return self.spark.createDataFrame(data, self.schemas[name])

    def params(self) -> dict[str, str]:
        """Transform parameter -> the frame it gets (payments of sales_performance are the
        matched payments, the links)."""
        names = {"payments": "links"} if self.table.name == "sales_performance" else {}
        return {i.param: names.get(i.param, i.param) for i in self.table.inputs}

    def output(self, changed: str | None = None, rows: list[tuple] | None = None):
        frames = {
            param: self.frame(name, rows if name == changed else None)
            for param, name in self.params().items()
        }
        if self.table.calendar == "days":
            frames["days"] = transforms.day_frame(self.spark, J1, J3)
        if self.table.calendar == "months":
            frames["months"] = transforms.month_frame(self.spark, J1, F1)
        return self.table.transform(**frames)

    def run_all(self, variants: list[tuple[str | None, list[tuple] | None]]) -> list[list[dict]]:
        """The transform's rows for each (changed frame, its rows), in one Spark job."""
        outputs = [
            self.output(name, rows).withColumn(VARIANT, F.lit(i))
            for i, (name, rows) in enumerate(variants)
        ]
        union = functools.reduce(lambda a, b: a.unionByName(b), outputs)
        found: list[list[dict]] = [[] for _ in variants]
        for row in union.collect():
            values = row.asDict()
            found[values.pop(VARIANT)].append(values)
        return found


def _columns(lab: Lab, name: str) -> list[str]:
    return [c for c in lab.frame(name).columns if c not in PROVENANCE]


def _keyed(rows: list[dict], key: tuple[str, ...], change=None, column=None) -> dict:
    def k(row):
        return tuple(change(row[c]) if change is not None and c == column else row[c] for c in key)

    return {k(r): r for r in rows}


def _differs(base: list[dict], out: list[dict], key, column: str, change, target: str) -> bool:
    """Whether ``target``'s values differ, rows matched by key (through ``change`` when the
    changed input column is a key column of the same name)."""
    before = _keyed(base, key)
    after = _keyed(out, key)
    if set(after) != set(before) and column in key and change is not None:
        through = _keyed(base, key, change, column)
        if set(through) == set(after):
            return any(through[k][target] != after[k][target] for k in after)
    common = set(before) & set(after)
    if any(before[k][target] != after[k][target] for k in common):
        return True
    one_sided = [before[k] for k in set(before) - common] + [after[k] for k in set(after) - common]
    return any(r[target] not in (None, 0, False) for r in one_sided)


def measured_lineage(spark, table: GoldTable, targets: list[str]) -> dict[str, set]:
    """For each target column, the (input table asset key, column) pairs that feed it."""
    lab = Lab(spark, table)
    changes: list[tuple] = []  # (input table key, column, change)
    variants: list[tuple] = [(None, None)]
    for source in table.inputs:
        name = lab.params()[source.param]
        for column in _columns(lab, name):
            index = lab.frame(name).columns.index(column)
            sample = next(r[index] for r in lab.rows[name] if r[index] is not None)
            nullable = any(r[index] is None for r in lab.rows[name])
            for change in _changes(sample) + ([_flip_null] if nullable else []):
                rows = [r[:index] + (change(r[index]),) + r[index + 1 :] for r in lab.rows[name]]
                changes.append((source.table.key, column, change))
                variants.append((name, rows))
    base, *outs = lab.run_all(variants)
    assert base, f"{table.name}: the tiny frames make no rows"
    found: dict[str, set] = {t: set() for t in targets}
    for (key, column, change), out in zip(changes, outs, strict=True):
        for target in targets:
            if _differs(base, out, table.key, column, change, target):
                found[target].add((key, column))
    return found


@pytest.fixture(scope="module", autouse=True)
def one_shuffle_partition(spark):
    """The frames are tiny: one shuffle partition halves the tasks of the many variants."""
    before = spark.conf.get("spark.sql.shuffle.partitions")
    spark.conf.set("spark.sql.shuffle.partitions", "1")
    yield
    spark.conf.set("spark.sql.shuffle.partitions", before)


@pytest.fixture(scope="module")
def graph():
    """The asset graph of the definitions, as the UI loads them."""
    from finance_assets.definitions import load_definitions
    from finance_assets.settings import Settings

    defs = load_definitions(Settings.load(landing_uri="landing", lake_uri="lake"))
    return defs.resolve_asset_graph()


def declared_lineage(graph, table: GoldTable) -> dict[str, set]:
    lineage = graph.get(table.table.key).metadata["dagster/column_lineage"]
    assert isinstance(lineage, dg.TableColumnLineage)
    return {
        column: {(dep.asset_key, dep.column_name) for dep in deps}
        for column, deps in lineage.deps_by_column.items()
    }


def test_every_gold_asset_publishes_column_lineage_for_its_columns(graph):
    for table in gold_tables():
        lineage = graph.get(table.table.key).metadata["dagster/column_lineage"]
        fed = set(lineage.deps_by_column)
        assert set(table.money_columns) <= fed, table.name
        for deps in lineage.deps_by_column.values():
            for dep in deps:
                assert graph.has(dep.asset_key), (table.name, dep.asset_key)
    restatements = dg.AssetKey(["gold", "restatements"])
    assert graph.get(restatements).group_name == "gold"
    assert dg.AssetKey(["gold", "daily_kpi"]) in graph.get(restatements).parent_keys


@pytest.mark.parametrize("table", gold_tables(), ids=lambda t: t.name)
def test_money_lineage_is_what_the_transform_reads(spark, graph, table):
    targets = list(table.money_columns)
    measured = measured_lineage(spark, table, targets)
    declared = declared_lineage(graph, table)
    for column in targets:
        assert measured[column], f"{table.name}.{column}: no input changes it (test data?)"
        assert declared[column] == measured[column], (
            f"{table.name}.{column}: declared lineage differs from what the transform reads; "
            f"declared only {sorted(map(str, declared[column] - measured[column]))}, "
            f"read but not declared {sorted(map(str, measured[column] - declared[column]))}"
        )
