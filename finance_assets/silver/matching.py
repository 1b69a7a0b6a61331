"""Match payments to their orders once, so gold never has to search history for them.

``silver/payment_orders`` holds every valid payment with the date of the valid order it pays
(``order_date``, null while no such order is known). It is partitioned by payment day and,
inside, by order day: ``sales_performance`` for an order day reads exactly the payments of
that day's orders, and a late payment touches only its order's day.

A payment is matched when its day is materialized, by looking its order id up in silver orders
(data skipping on ``order_id`` statistics: only the files whose id range holds it are read).
An order that lands after its payment, or an order that disappears from a re-materialized day,
changes the match of earlier payments; :func:`payment_days_to_rematch` finds their payment days
from the orders that changed, so they are matched again in the same run.
"""

from __future__ import annotations

from datetime import date

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from finance_assets.contract import ORDERS, PARTITION_COLUMN
from finance_assets.lake import tables
from finance_assets.lake.delta import Changes, Lake
from finance_assets.lake.frames import select_columns

SILVER_ORDERS = tables.silver(ORDERS).path
PAYMENT_ORDERS = tables.PAYMENT_ORDERS.path

ORDER_DATE = "order_date"
PAYMENT_ORDER_COLUMNS = (
    "payment_id",
    "order_id",
    "payment_date",
    "paid_amount",
    "payment_status",
    "payment_method",
    ORDER_DATE,
    PARTITION_COLUMN,
)
PARTITION_BY = (PARTITION_COLUMN, ORDER_DATE)


def order_index(orders: DataFrame) -> DataFrame:
    """(order_id, order_date) of valid orders: silver orders' day is their order date."""
    return orders.select("order_id", F.col(PARTITION_COLUMN).alias(ORDER_DATE)).distinct()


def payment_orders(payments: DataFrame, index: DataFrame) -> DataFrame:
    """Every payment with the date of each valid order it matches (null when none does).

    An order id accepted on two days matches both, as it does in ``sales_performance``.
    """
    matched = payments.join(index, "order_id", "left")
    return select_columns(matched, PAYMENT_ORDER_COLUMNS)


def rematch_keys(added_orders: pa.Table, removed_orders: pa.Table) -> pa.Array:
    """Order ids whose match may have changed: an order that now exists on a day where it did
    not (it arrived), or no longer exists on a day where it did (it was dropped). Orders
    written again unchanged (a day re-materialized) change nothing."""
    pairs = ["order_id", PARTITION_COLUMN]
    now = added_orders.select(pairs).group_by(pairs).aggregate([])
    before = removed_orders.select(pairs).group_by(pairs).aggregate([])
    arrived = now.join(before, pairs, join_type="left anti")
    dropped = before.join(now, pairs, join_type="left anti")
    ids = pa.chunked_array(
        [*arrived.column("order_id").chunks, *dropped.column("order_id").chunks], pa.int64()
    )
    return pc.unique(ids)


def payment_days_to_rematch(lake: Lake, orders: Changes) -> set[date] | None:
    """Payment days holding a payment whose match ``orders`` (changes of silver orders) may
    have changed; None when the rows those changes removed can no longer be read (vacuumed),
    so every payment day must be matched again.

    Only order ids and partition values are read, from the changed files and the
    payment-order files whose id statistics can hold them, with PyArrow on this machine: a
    day's changes are a few files, not worth a Spark job each."""
    try:
        added = _order_days(orders.added)
        removed = _order_days(orders.removed)
    except FileNotFoundError:  # a removed file that was vacuumed
        return None
    keys = rematch_keys(added, removed)
    if len(keys) == 0 or not lake.exists(PAYMENT_ORDERS):
        return set()
    bounds = pc.min_max(keys).as_py()
    days = set()
    for file in lake.files(PAYMENT_ORDERS, within={"order_id": (bounds["min"], bounds["max"])}):
        day = file.partition_values.get(PARTITION_COLUMN)
        if day in days:
            continue
        ids = pq.read_table(file.path, columns=["order_id"]).column("order_id")
        if pc.any(pc.is_in(ids, value_set=keys)).as_py():
            days.add(day)
    return days


def _order_days(files) -> pa.Table:
    """(order_id, partition date) of every row of these silver order files."""
    tables = []
    for f in files:
        ids = pq.read_table(f.path, columns=["order_id"]).column("order_id").cast(pa.int64())
        day = pa.scalar(f.partition_values.get(PARTITION_COLUMN), pa.date32())
        tables.append(pa.table({"order_id": ids, PARTITION_COLUMN: pa.repeat(day, len(ids))}))
    schema = pa.schema([("order_id", pa.int64()), (PARTITION_COLUMN, pa.date32())])
    return pa.concat_tables(tables) if tables else schema.empty_table()
