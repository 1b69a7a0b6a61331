"""Payments matched once to the day of their order, and which earlier matches an order change
can move."""

from datetime import date
from decimal import Decimal

from finance_assets.silver.matching import order_index, payment_orders, rematch_keys

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


def test_orders_that_arrive_or_vanish_are_the_ones_to_match_again(spark):
    added = spark.createDataFrame([(1, J1), (5, J2)], ORDERS)  # day 1 rewritten, day 2 new
    removed = spark.createDataFrame([(1, J1), (2, J1)], ORDERS)  # order 2 dropped from day 1
    keys = sorted(r.order_id for r in rematch_keys(added, removed).collect())
    assert keys == [2, 5]  # order 1 was written again on the same day: its match holds
