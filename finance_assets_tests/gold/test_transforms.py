"""Percentages are exact: 100 * n / d rounded half-up to 2 places, like Python's Decimal."""

import random
from decimal import ROUND_HALF_UP, Decimal

from pyspark.sql import functions as F

from finance_assets.gold.transforms import percent

EDGES = [
    ("1.00", "3.00"),  # 33.33
    ("2.00", "3.00"),  # 66.67
    ("0.01", "8.00"),  # 0.125 -> 0.13
    ("-0.01", "8.00"),  # -0.125 -> -0.13 (half away from zero)
    ("2.01", "200.00"),  # 1.005 -> 1.01, where binary floating point gives 1.00
    ("-197.99", "200.00"),  # -98.995 -> -99.00
    ("5.00", "0.00"),  # no denominator -> null
    ("99999999.99", "0.01"),
]


def _expected(n: Decimal, d: Decimal) -> Decimal | None:
    if d == 0:
        return None
    return (100 * n / d).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def test_percent_matches_decimal_half_up(spark):
    rng = random.Random(20241125)
    cases = [(Decimal(n), Decimal(d)) for n, d in EDGES]
    for _ in range(3000):
        n = Decimal(rng.randint(-(10**10), 10**10)) / 100
        d = Decimal(rng.choice([rng.randint(-(10**10), 10**10), rng.randint(1, 999)])) / 100
        cases.append((n, d))
    frame = spark.createDataFrame(cases, "n decimal(18,2), d decimal(18,2)")
    rows = frame.select("n", "d", percent(F.col("n"), F.col("d")).alias("p")).collect()
    wrong = [(r.n, r.d, r.p) for r in rows if r.p != _expected(r.n, r.d)]
    assert not wrong, wrong[:5]


def test_null_inputs_give_null(spark):
    frame = spark.createDataFrame([(None, Decimal("1.00"))], "n decimal(18,2), d decimal(18,2)")
    assert frame.select(percent(F.col("n"), F.col("d"))).first()[0] is None
