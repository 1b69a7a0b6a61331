"""Payments matched once to the day of their order, and which earlier matches an order change
can move."""

from datetime import date
from decimal import Decimal

import pyarrow as pa

from finance_assets.lake.delta import DeltaRsLake, PartitionRange
from finance_assets.silver.matching import (
    order_index,
    payment_days_to_rematch,
    payment_orders,
    rematch_keys,
)

PAYMENTS = "payment_id string, order_id bigint, payment_date date, paid_amount decimal(18,2), payment_status string, payment_method string, partition_date date"  # noqa: E501
ORDERS = "order_id bigint, partition_date date"
J1, J2, J3 = date(2024, 1, 1), date(2024, 1, 2), date(2024, 1, 3)


def test_each_payment_gets_the_day_of_every_valid_order_it_pays(spark):
    payments = spark.createDataFrame(
        [
            ("P1", 1, J2, Decimal("5.00"), "SUCCESS", "UPI", J2),
            ("P2", 9, J2, Decimal("6.00"), "FAILED", "CARD", J2),  # no such order
            ("P3", 7, J3, Decimal("7.00"), "SUCCESS", "CARD", J3),  # order 7 on two days
        ],
        PAYMENTS,
    )
    orders = spark.createDataFrame([(1, J1), (7, J1), (7, J2), (8, J3)], ORDERS)
    rows = payment_orders(payments, order_index(orders)).collect()
    matched = sorted((r.payment_id, r.order_date) for r in rows)
    assert matched == [("P1", J1), ("P2", None), ("P3", J1), ("P3", J2)]
    assert {r.partition_date for r in rows if r.payment_id == "P3"} == {J3}


def _order_days(*pairs) -> pa.Table:
    return pa.table(
        {
            "order_id": pa.array([p[0] for p in pairs], pa.int64()),
            "partition_date": pa.array([p[1] for p in pairs], pa.date32()),
        }
    )


def test_orders_that_arrive_or_vanish_are_the_ones_to_match_again():
    added = _order_days((1, J1), (5, J2))  # day 1 rewritten, day 2 new
    removed = _order_days((1, J1), (2, J1))  # order 2 dropped from day 1
    assert sorted(rematch_keys(added, removed).to_pylist()) == [2, 5]  # order 1 holds


def test_an_order_moved_to_another_day_is_matched_again():
    assert rematch_keys(_order_days((3, J2)), _order_days((3, J1))).to_pylist() == [3]


def _silver_orders(spark, lake, rows, where):
    frame = spark.createDataFrame(rows, "order_id bigint, partition_date date")
    return lake.replace_partitions(frame, "silver/orders", where)


def test_payment_days_to_rematch_finds_the_days_of_the_payments_of_changed_orders(spark, lake_dir):
    lake = DeltaRsLake(str(lake_dir))
    first = _silver_orders(
        spark, lake, [(1, J1), (2, J1)], PartitionRange("partition_date", J1, J1)
    )
    links = spark.createDataFrame(
        [
            ("P1", 1, J2, Decimal("5.00"), "SUCCESS", "UPI", J1, J2),
            ("P2", 4, J3, Decimal("6.00"), "SUCCESS", "UPI", None, J3),  # order 4 not yet there
            ("P3", 2, J3, Decimal("7.00"), "SUCCESS", "UPI", J1, J3),
        ],
        PAYMENTS.replace(", partition_date", ", order_date date, partition_date"),
    )
    lake.replace_partitions(
        links,
        "silver/payment_orders",
        PartitionRange("partition_date", J2, J3),
        partition_by=["partition_date", "order_date"],
    )
    # Day 1 again without order 2, and order 4 arrives on day 2.
    _silver_orders(spark, lake, [(1, J1)], PartitionRange("partition_date", J1, J1))
    _silver_orders(spark, lake, [(4, J2)], PartitionRange("partition_date", J2, J2))
    changes = lake.changes("silver/orders", first.version)
    assert payment_days_to_rematch(lake, changes) == {J3}  # P2 (order 4) and P3 (order 2)
    unchanged = lake.changes("silver/orders", lake.version("silver/orders"))
    assert payment_days_to_rematch(lake, unchanged) == set()
