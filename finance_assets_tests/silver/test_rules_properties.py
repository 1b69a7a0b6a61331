"""Property-based tests of the silver rules (contract section 3) with Hypothesis.

For any bronze rows of any dataset, ``classify`` must put every row either in silver or in
quarantine, never both and never neither; a quarantined row has exactly one reason, one of
the dataset's reason codes, and it is the *first* rule the row fails, as an independent
pure-Python reading of the contract says; an accepted amount equals ``Decimal(text.strip())``
exactly. Each example is a batch of rows classified in one Spark job, so the number of
examples stays modest.
"""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal, InvalidOperation

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from pyspark.sql import functions as F

from finance_assets.bronze.transforms import parsed_schema
from finance_assets.contract import (
    DATASETS,
    DEPARTMENTS,
    ORDER_STATUSES,
    PAYMENT_METHODS,
    PAYMENT_STATUSES,
)
from finance_assets.silver.rules import classify, quarantine_rows, silver_rows

EXAMPLES = 20
DAILY_PARTITIONS = (date(2024, 1, 15), date(2024, 1, 16))
MONTHLY_PARTITIONS = (date(2024, 1, 1), date(2024, 2, 1))
FILES = ("file:///landing/a.csv", "file:///landing/b.csv")

# Whitespace the contract's trim must remove (str.strip()), and look-alikes it must keep.
SPACES = [" ", "\t", "\r\n", "\u00a0", "\u2003", "\u3000", "\x1c", "\x85", "\u2028", "\u202f"]
NOT_SPACES = ["\u200b", "\ufeff", "\u180e"]

# --- strategies ---------------------------------------------------------------------------

pads = st.lists(st.sampled_from(SPACES), max_size=2).map("".join)
junk = st.text(
    alphabet=st.sampled_from(list("0123456789-/.,$eEPpCc +aZ") + NOT_SPACES + ["\u0663", "\uff11"]),
    max_size=8,
)


def padded(values: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    return st.tuples(pads, values, pads).map("".join)


def id_text() -> st.SearchStrategy[str]:
    return st.one_of(
        st.integers(0, 10**19).map(str),
        st.integers(1, 3).map(str),  # a small pool, so keys collide (duplicate)
        st.sampled_from(["", "0", "-1", "1.0", "1e3", "+5", "00012", "\u0663", "9" * 18, "9" * 19]),
        junk,
    )


def prefixed_text(prefix: str) -> st.SearchStrategy[str]:
    return st.one_of(
        st.tuples(st.sampled_from([prefix, prefix.lower()]), st.integers(0, 10**20)).map(
            lambda t: f"{t[0]}{t[1]}"
        ),
        st.sampled_from([f"{prefix}1", f"{prefix}2", prefix, f"{prefix}-1", "X1", f"{prefix}1a"]),
        st.sampled_from([f"{prefix}\uff11", f"{prefix}{'1' * 18}", f"{prefix}{'1' * 19}"]),
        junk,
    )


def date_text(partitions) -> st.SearchStrategy[str]:
    near = st.sampled_from(partitions).flatmap(
        lambda d: st.sampled_from([d.isoformat(), d.isoformat().replace("-", "/")])
    )
    return st.one_of(
        near,
        near,
        st.dates(date(1, 1, 1), date(9999, 12, 31)).map(date.isoformat),
        st.sampled_from(
            [
                "2024-02-30",
                "2023-02-29",
                "2024-02-29",
                "2024-13-01",
                "2024-1-5",
                "2024/01-15",
                "20240115",
                "2024-01-15T00:00",
                "",
            ]
        ),
        junk,
    )


def month_text() -> st.SearchStrategy[str]:
    return st.one_of(
        st.sampled_from(MONTHLY_PARTITIONS).flatmap(
            lambda d: st.sampled_from([d.isoformat()[:7], d.isoformat()])
        ),
        st.sampled_from(["2024-01-15", "2024-13", "2024/01", "2024-1", "202401", "2024-00-01", ""]),
        junk,
    )


def amount_text() -> st.SearchStrategy[str]:
    return st.one_of(
        st.decimals(-20_000_000, 20_000_000, places=2, allow_nan=False).map(str),
        st.decimals(0, 100, places=1, allow_nan=False).map(str),
        st.integers(-5, 10**12).map(str),
        st.sampled_from(
            [
                "0",
                "0.00",
                "-0.01",
                "0.001",
                "0.01",
                "10000000.00",
                "10000000.01",
                "10000000",
                "1,000.00",
                "$5",
                "1e3",
                ".5",
                "5.",
                "+5",
                "0012.50",
                "9" * 40,
                "\u0661\u0662",
                "--1",
            ]
        ),
        junk,
    )


def text_value() -> st.SearchStrategy[str]:
    return st.one_of(
        st.sampled_from(["", "Books", "Home, Garden", "\u3000", "\u200b"]), st.text(max_size=6)
    )


def enum_text(values) -> st.SearchStrategy[str]:
    return st.one_of(
        st.sampled_from(values),
        st.sampled_from(values).map(str.lower),
        st.sampled_from(values).map(str.title),
        st.sampled_from(["", "unknown", "\ufb01nance", "F\u0131nance", "cash"]),
        junk,
    )


KINDS = {
    "order_id": id_text,
    "expense_id": id_text,
    "payment_id": lambda: prefixed_text("P"),
    "customer_id": lambda: prefixed_text("C"),
    "order_date": lambda: date_text(DAILY_PARTITIONS),
    "payment_date": lambda: date_text(DAILY_PARTITIONS),
    "expense_date": lambda: date_text(DAILY_PARTITIONS),
    "month": month_text,
    "product_category": text_value,
    "expense_category": text_value,
    "order_amount": amount_text,
    "paid_amount": amount_text,
    "expense_amount": amount_text,
    "budget_amount": amount_text,
    "order_status": lambda: enum_text(ORDER_STATUSES),
    "payment_status": lambda: enum_text(PAYMENT_STATUSES),
    "payment_method": lambda: enum_text(PAYMENT_METHODS),
    "department": lambda: enum_text(DEPARTMENTS),
}


@st.composite
def bronze_rows(draw, dataset):
    """A batch of parsed bronze rows (as dicts), some corrupt, some lacking a column."""
    partitions = MONTHLY_PARTITIONS if dataset.is_monthly else DAILY_PARTITIONS
    count = draw(st.integers(1, 14))
    rows = []
    for number in range(1, count + 1):
        shape = draw(st.sampled_from(["ok"] * 8 + ["corrupt", "missing"]))
        values = {c: draw(padded(KINDS[c]())) for c in dataset.columns}
        corrupt = None
        if shape == "corrupt":
            values = dict.fromkeys(dataset.columns)
            corrupt = draw(st.text(min_size=1, max_size=10))
        elif shape == "missing":
            values[draw(st.sampled_from(dataset.columns))] = None
        rows.append(
            {
                **values,
                "_source_file": draw(st.sampled_from(FILES)),
                "_source_row": number,
                "_rescued_data": None,
                "_corrupt_record": corrupt,
                "partition_date": draw(st.sampled_from(partitions)),
            }
        )
    return rows


# --- an independent reading of the contract ------------------------------------------------


def _id(text: str):
    return int(text) if re.fullmatch(r"[0-9]{1,18}", text) and int(text) > 0 else None


def _prefixed(text: str, prefix: str, max_digits: int | None):
    digits = "+" if max_digits is None else f"{{1,{max_digits}}}"
    upper = text.upper()
    return upper if re.fullmatch(f"{prefix}[0-9]{digits}", upper) else None


def _date(text: str):
    if not re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}|[0-9]{4}/[0-9]{2}/[0-9]{2}", text):
        return None
    try:
        return date(int(text[:4]), int(text[5:7]), int(text[8:10]))
    except ValueError:
        return None


def _month(text: str):
    if not re.fullmatch(r"[0-9]{4}-[0-9]{2}(-01)?", text):
        return None
    try:
        return date(int(text[:4]), int(text[5:7]), 1)
    except ValueError:
        return None


def _amount(text: str):
    if not re.fullmatch(r"-?[0-9]+(\.[0-9]{1,2})?", text):
        return None
    value = Decimal(text)
    return value if Decimal(0) < value <= Decimal("10000000.00") else None


def _enum(text: str, allowed):
    return {v.upper(): v for v in allowed}.get(text.upper())


ORACLE = {
    "id": _id,
    "payment_id": lambda t: _prefixed(t, "P", 18),
    "customer_id": lambda t: _prefixed(t, "C", None),
    "date": _date,
    "month": _month,
    "amount": _amount,
    "text": lambda t: t or None,
}
FIELD_KIND = {
    "order_id": "id",
    "expense_id": "id",
    "payment_id": "payment_id",
    "customer_id": "customer_id",
    "order_date": "date",
    "payment_date": "date",
    "expense_date": "date",
    "month": "month",
    "product_category": "text",
    "expense_category": "text",
    "order_amount": "amount",
    "paid_amount": "amount",
    "expense_amount": "amount",
    "budget_amount": "amount",
}
ENUMS = {
    "order_status": ORDER_STATUSES,
    "payment_status": PAYMENT_STATUSES,
    "payment_method": PAYMENT_METHODS,
    "department": DEPARTMENTS,
}


def typed_value(column: str, raw: str):
    text = raw.strip()
    if column in ENUMS:
        return _enum(text, ENUMS[column])
    return ORACLE[FIELD_KIND[column]](text)


def expected_reasons(rows, dataset) -> dict[int, str | None]:
    """The contract's verdict for every row: None (accepted) or its one reason."""
    verdict: dict[int, str | None] = {}
    keys: dict[int, tuple] = {}
    for row in rows:
        number = row["_source_row"]
        if row["_corrupt_record"] is not None:
            verdict[number] = "malformed_row"
            continue
        if any(row[c] is None for c in dataset.columns):
            verdict[number] = "missing_column"
            continue
        reason, typed = None, {}
        for field in dataset.fields:
            value = typed_value(field.column, row[field.column])
            typed[field.column] = value
            if value is None:
                reason = field.reason
                break
            if field.column == dataset.date_column and value != row["partition_date"]:
                reason = "date_outside_partition"
                break
        verdict[number] = reason
        if reason is None:
            keys[number] = (row["partition_date"], *(typed[k] for k in dataset.key))
    seen = set()
    for row in sorted(rows, key=lambda r: (r["_source_file"], r["_source_row"])):
        number = row["_source_row"]
        if number in keys:
            if keys[number] in seen:
                verdict[number] = "duplicate"
            seen.add(keys[number])
    return verdict


# --- the property --------------------------------------------------------------------------


def _outcomes(spark, rows, dataset):
    """(source_row, reason or None, amount text or None) for every row, in one Spark job."""
    bronze = spark.createDataFrame(
        [tuple(r[f] for f in parsed_schema(dataset).fieldNames()) for r in rows],
        parsed_schema(dataset),
    )
    classified = classify(bronze, dataset)
    amount = next(c for c in dataset.columns if c.endswith("amount"))
    accepted = silver_rows(classified, dataset).select(
        "_source_row",
        F.lit(None).cast("string").alias("_reason"),
        F.col(amount).cast("string").alias("amount"),
        F.lit("silver").alias("table"),
    )
    rejected = quarantine_rows(classified, dataset).select(
        "_source_row",
        "_reason",
        F.lit(None).cast("string").alias("amount"),
        F.lit("quarantine").alias("table"),
    )
    return accepted.unionByName(rejected).collect(), amount


@pytest.mark.parametrize("name", list(DATASETS))
def test_every_row_is_accepted_or_quarantined_with_one_reason(spark, name) -> None:
    dataset = DATASETS[name]
    codes = set(dataset.reason_codes())

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
        database=None,  # nothing written into the working tree
        # No shrinking: each step is a Spark job, and the failing batch is printed anyway.
        phases=[Phase.explicit, Phase.generate],
    )
    @given(rows=bronze_rows(dataset))
    def check(rows) -> None:
        outcomes, amount = _outcomes(spark, rows, dataset)
        by_row: dict[int, list] = {}
        for outcome in outcomes:
            by_row.setdefault(outcome["_source_row"], []).append(outcome)
        raw = {r["_source_row"]: r for r in rows}
        assert sorted(by_row) == sorted(raw), "a row was lost or invented"
        expected = expected_reasons(rows, dataset)
        for number, found in by_row.items():
            assert len(found) == 1, f"row {number} is in {[f['table'] for f in found]}"
            (outcome,) = found
            row = raw[number]
            if outcome["table"] == "quarantine":
                assert outcome["_reason"] in codes, outcome
            else:
                assert Decimal(outcome["amount"]) == Decimal(row[amount].strip()), (row, outcome)
            assert outcome["_reason"] == expected[number], (
                f"row {number}: product says {outcome['_reason']!r}, contract "
                f"says {expected[number]!r}: {row}"
            )

    check()


def test_oracle_agrees_with_hand_written_cases() -> None:
    """The independent reading above, on cases the contract spells out."""
    assert typed_value("order_id", " 0012 ") == 12
    assert typed_value("order_id", "0") is None
    assert typed_value("payment_id", "p0") == "P0"
    assert typed_value("payment_id", "P" + "1" * 19) is None
    assert typed_value("order_date", "2024/01/05") == date(2024, 1, 5)
    assert typed_value("order_date", "2024-02-30") is None
    assert typed_value("month", "2024-01") == date(2024, 1, 1)
    assert typed_value("month", "2024-01-15") is None
    assert typed_value("order_amount", "10000000.00") == Decimal("10000000.00")
    assert typed_value("order_amount", "10000000.01") is None
    assert typed_value("order_amount", "1e3") is None
    assert typed_value("department", " sales\u3000") == "Sales"
    with pytest.raises(InvalidOperation):
        Decimal("$5")


def test_year_zero_is_not_a_calendar_date(spark) -> None:
    cases = {
        "orders": {"order_date": "0000-01-01"},
        "budgets": {"month": "0000-01"},
    }
    for name, broken in cases.items():
        dataset = DATASETS[name]
        partition = MONTHLY_PARTITIONS[0] if dataset.is_monthly else DAILY_PARTITIONS[0]
        valid = {
            "order_id": "1",
            "order_date": partition.isoformat(),
            "customer_id": "C1",
            "product_category": "Books",
            "order_amount": "1.00",
            "order_status": "COMPLETED",
            "department": "IT",
            "month": partition.isoformat()[:7],
            "budget_amount": "1.00",
        }
        row = {c: broken.get(c, valid[c]) for c in dataset.columns}
        row.update(
            _source_file=FILES[0],
            _source_row=1,
            _rescued_data=None,
            _corrupt_record=None,
            partition_date=partition,
        )
        ((_, reason, _, _),) = _outcomes(spark, [row], dataset)[0]
        assert reason == "invalid_date", f"{name}: {broken} -> {reason}"
