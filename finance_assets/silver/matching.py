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

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from finance_assets.contract import ORDERS, PARTITION_COLUMN
from finance_assets.lake import tables
from finance_assets.lake.delta import Changes, Lake

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
    return matched.select(*PAYMENT_ORDER_COLUMNS)


def rematch_keys(added_orders: DataFrame, removed_orders: DataFrame) -> DataFrame:
    """Order ids whose match may have changed: an order that now exists on a day where it did
    not (it arrived), or no longer exists on a day where it did (it was dropped). Orders
    written again unchanged (a day re-materialized) change nothing."""
    pairs = ["order_id", PARTITION_COLUMN]
    now = added_orders.select(*pairs).distinct()
    before = removed_orders.select(*pairs).distinct()
    arrived = now.join(before, pairs, "left_anti")
    dropped = before.join(now, pairs, "left_anti")
    return arrived.unionByName(dropped).select("order_id").distinct()


def payment_days_to_rematch(spark: SparkSession, lake: Lake, orders: Changes) -> set[date] | None:
    """Payment days holding a payment whose match ``orders`` (changes of silver orders) may
    have changed; None when the rows those changes removed can no longer be read (vacuumed),
    so every payment day must be matched again."""
    try:
        added = lake.read_files(spark, SILVER_ORDERS, orders.added)
        removed = lake.read_files(spark, SILVER_ORDERS, orders.removed)
        keys = rematch_keys(added, removed).cache()
        bounds = keys.agg(F.min("order_id"), F.max("order_id")).first()
    except Exception as exc:  # a removed file that is gone: Spark says "path does not exist"
        if "does not exist" not in str(exc) and not isinstance(exc, FileNotFoundError):
            raise
        return None
    if bounds[0] is None or not lake.exists(PAYMENT_ORDERS):
        return set()
    links = lake.read(spark, PAYMENT_ORDERS, within={"order_id": (bounds[0], bounds[1])})
    days = links.join(keys, "order_id", "left_semi").select(PARTITION_COLUMN).distinct()
    found = {row[0] for row in days.collect()}
    keys.unpersist()
    return found
