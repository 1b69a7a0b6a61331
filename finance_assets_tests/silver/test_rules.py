"""Silver rules (contract section 3): every bronze row is typed into silver or quarantined
with exactly one ``_reason``, the first rule it fails in contract order.

Every case below is a hand-built bronze row with the reason worked out by hand from the
contract text. Each dataset's cases go through a single ``classify`` call (module-scoped
fixture) to keep the Spark cost to a couple of jobs per dataset.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

import pytest
from pyspark.sql import functions as F
from pyspark.sql import types as T

from finance_assets.bronze.transforms import parsed_schema
from finance_assets.contract import BUDGETS, EXPENSES, ORDERS, PAYMENTS, Dataset
from finance_assets.silver.rules import classify, quarantine_rows, silver_rows

# The contract's reason codes, in rule order (section 3: malformed_row, missing_column, the
# dataset's table row, duplicate).
CONTRACT_REASONS = {
    "orders": [
        "malformed_row",
        "missing_column",
        "invalid_order_id",
        "invalid_date",
        "date_outside_partition",
        "invalid_customer_id",
        "invalid_category",
        "invalid_amount",
        "invalid_status",
        "duplicate",
    ],
    "payments": [
        "malformed_row",
        "missing_column",
        "invalid_payment_id",
        "invalid_order_id",
        "invalid_date",
        "date_outside_partition",
        "invalid_amount",
        "invalid_status",
        "invalid_method",
        "duplicate",
    ],
    "expenses": [
        "malformed_row",
        "missing_column",
        "invalid_expense_id",
        "invalid_department",
        "invalid_date",
        "date_outside_partition",
        "invalid_category",
        "invalid_amount",
        "duplicate",
    ],
    "budgets": [
        "malformed_row",
        "missing_column",
        "invalid_department",
        "invalid_date",
        "date_outside_partition",
        "invalid_amount",
        "duplicate",
    ],
}

D0105 = date(2024, 1, 5)
D0106 = date(2024, 1, 6)
JAN = date(2024, 1, 1)
FEB = date(2024, 2, 1)
MISSING = object()  # marks a column the file lacks (None in bronze)


@dataclass
class Case:
    """One bronze row and what the contract says happens to it."""

    label: str
    values: dict  # column -> raw string (or None); unspecified columns take the base row
    reason: str | None  # expected _reason, None for silver
    typed: dict | None = None  # expected silver values for some columns (checked when given)
    file: str = "a.csv"
    row: int | None = None  # _source_row; auto-numbered per file when None
    partition: date | None = None
    corrupt: str | None = None
    # Also acceptable: the row passes with these silver values (for ambiguous readings).
    or_silver: dict | None = None


def _uri(dataset: Dataset, partition: date, file: str) -> str:
    return f"file:///landing/{dataset.name}/{partition.isoformat()}/{file}"


@dataclass
class Classified:
    cases: list[Case]
    inputs: dict  # (file uri, row) -> (case, bronze tuple)
    silver: dict  # (file uri, row) -> silver Row
    quarantine: dict  # (file uri, row) -> quarantine Row
    silver_schema: T.StructType
    silver_count: int
    quarantine_count: int


def run_cases(spark, dataset: Dataset, cases: list[Case], base, default_partition: date):
    """Build one bronze DataFrame from the cases, classify it once, collect both outputs."""
    next_row: dict[str, int] = {}
    rows, inputs = [], {}
    for i, case in enumerate(cases):
        partition = case.partition or default_partition
        uri = _uri(dataset, partition, case.file)
        if case.row is None:
            next_row[uri] = next_row.get(uri, 1000) + 1
            row_number = next_row[uri]
        else:
            row_number = case.row
        values = base(i) if case.corrupt is None else dict.fromkeys(dataset.columns)
        values.update(case.values)
        values = {c: (None if v is MISSING else v) for c, v in values.items()}
        bronze = (
            *(values[c] for c in dataset.columns),
            uri,
            row_number,
            None,
            case.corrupt,
            partition,
        )
        key = (uri, row_number)
        assert key not in inputs, f"test bug: {case.label} reuses {key}"
        inputs[key] = (case, bronze)
        rows.append(bronze)

    df = spark.createDataFrame(rows, parsed_schema(dataset))
    classified = classify(df, dataset)
    silver_df = silver_rows(classified, dataset)
    quarantine_df = quarantine_rows(classified, dataset)
    # One Spark job for both outputs: each side is a struct column, the other side null.
    s_type = T.StructType(silver_df.schema.fields)
    q_type = T.StructType(quarantine_df.schema.fields)
    both = silver_df.select(
        F.struct(*silver_df.columns).alias("s"), F.lit(None).cast(q_type).alias("q")
    ).unionByName(
        quarantine_df.select(
            F.lit(None).cast(s_type).alias("s"), F.struct(*quarantine_df.columns).alias("q")
        )
    )
    collected = both.collect()
    silver = [r["s"] for r in collected if r["s"] is not None]
    quarantine = [r["q"] for r in collected if r["q"] is not None]
    schema = silver_df.schema
    return Classified(
        cases=cases,
        inputs=inputs,
        silver={(r["_source_file"], r["_source_row"]): r for r in silver},
        quarantine={(r["_source_file"], r["_source_row"]): r for r in quarantine},
        silver_schema=schema,
        silver_count=len(silver),
        quarantine_count=len(quarantine),
    )


def reason_of(result: Classified, key) -> str | None:
    if key in result.silver:
        return None
    return result.quarantine[key]["_reason"]


def check_reasons(result: Classified) -> None:
    wrong = []
    for key, (case, _) in result.inputs.items():
        found = key in result.silver or key in result.quarantine
        actual = reason_of(result, key) if found else "<lost>"
        if actual is None and case.or_silver is not None:
            row = result.silver[key]
            if all(row[c] == v for c, v in case.or_silver.items()):
                continue
        if actual != case.reason:
            expected, got = repr(case.reason), repr(actual)
            if actual is None and case.or_silver is not None:
                expected += f" or silver {case.or_silver}"
                got += f" with {[result.silver[key][c] for c in case.or_silver]!r}"
            wrong.append(f"{case.label}: expected {expected}, got {got}")
    assert not wrong, "\n".join(wrong)


def check_typed(result: Classified) -> None:
    wrong = []
    for key, (case, _) in result.inputs.items():
        if case.typed is None or key not in result.silver:
            continue
        row = result.silver[key]
        for column, expected in case.typed.items():
            actual = row[column]
            if actual != expected or type(actual) is not type(expected):
                wrong.append(f"{case.label}.{column}: expected {expected!r}, got {actual!r}")
    assert not wrong, "\n".join(wrong)


def check_partitioned_exactly_once(result: Classified, dataset: Dataset) -> None:
    # bronze rows = silver rows + quarantine rows, and each row lands in exactly one place
    assert result.silver_count + result.quarantine_count == len(result.inputs)
    assert len(result.silver) == result.silver_count
    assert len(result.quarantine) == result.quarantine_count
    assert not set(result.silver) & set(result.quarantine)
    assert set(result.silver) | set(result.quarantine) == set(result.inputs)
    for key, row in {**result.silver, **result.quarantine}.items():
        assert row["partition_date"] == result.inputs[key][1][-1]


def check_quarantine_keeps_raw(result: Classified, dataset: Dataset) -> None:
    width = len(dataset.columns)
    for key, row in result.quarantine.items():
        _, bronze = result.inputs[key]
        assert tuple(row[c] for c in dataset.columns) == bronze[:width], key
        assert row["_corrupt_record"] == bronze[width + 3]


# ===========================================================================================
# orders (partition 2024-01-05)
# ===========================================================================================


def order_base(i: int) -> dict:
    return {
        "order_id": str(100_000 + i),
        "order_date": "2024-01-05",
        "customer_id": "C1",
        "product_category": "Books",
        "order_amount": "10.00",
        "order_status": "COMPLETED",
    }


def amount_cases(column: str, valid_typed: bool = True) -> list[tuple[str, str | None, dict]]:
    """(raw amount, expected reason, typed) per the contract's amount rule."""
    bad = "invalid_amount"
    return [
        ("0", bad, {}),
        ("-5", bad, {}),
        ("-0", bad, {}),
        ("0.00", bad, {}),
        ("-0.01", bad, {}),
        ("0.01", None, {column: Decimal("0.01")}),
        ("10000000.00", None, {column: Decimal("10000000.00")}),
        ("10000000", None, {column: Decimal("10000000.00")}),
        ("10000000.01", bad, {}),
        ("99999999999999999999", bad, {}),
        ("1.234", bad, {}),
        ("1e3", bad, {}),
        ("1E3", bad, {}),
        ("$5", bad, {}),
        ("5$", bad, {}),
        ("1,000.00", bad, {}),
        ("1 000", bad, {}),
        (" 12.5 ", None, {column: Decimal("12.50")}),
        ("\t7.25\t", None, {column: Decimal("7.25")}),
        (".5", bad, {}),
        ("5.", bad, {}),
        ("+5", bad, {}),
        ("5.5", None, {column: Decimal("5.50")}),
        ("4758.5", None, {column: Decimal("4758.50")}),
        ("00012.30", None, {column: Decimal("12.30")}),
        # "digits" has no length limit: the value, not the text, must be <= 10000000.00
        ("0" * 40 + "12.50", None, {column: Decimal("12.50")}),
        ("12.5.1", bad, {}),
        ("-", bad, {}),
        ("", bad, {}),
        ("   ", bad, {}),
        ("abc", bad, {}),
        ("NaN", bad, {}),
        ("Infinity", bad, {}),
        ("1_000", bad, {}),
        ("٣", bad, {}),  # non-ASCII digit
    ]


def order_cases() -> list[Case]:
    c: list[Case] = []
    add = c.append
    add(
        Case(
            "plain valid",
            {"order_id": "1"},
            None,
            {
                "order_id": 1,
                "order_date": D0105,
                "customer_id": "C1",
                "product_category": "Books",
                "order_amount": Decimal("10.00"),
                "order_status": "COMPLETED",
            },
        )
    )
    # --- malformed_row / missing_column ---
    add(Case("corrupt", {}, "malformed_row", corrupt="1,2024-01-05,C1"))
    add(Case("missing amount", {"order_amount": MISSING}, "missing_column", file="m.csv"))
    add(
        Case(
            "missing col beats bad id",
            {"order_amount": MISSING, "order_id": "x"},
            "missing_column",
            file="m.csv",
        )
    )
    add(
        Case(
            "missing col beats bad everything",
            {"order_status": MISSING, "order_id": "0", "order_date": "x", "order_amount": "$"},
            "missing_column",
            file="m.csv",
        )
    )
    # --- order_id ---
    for raw, reason, typed in [
        ("0", "invalid_order_id", None),
        ("000", "invalid_order_id", None),
        ("007", None, {"order_id": 7}),
        (" 42 ", None, {"order_id": 42}),
        ("999999999999999999", None, {"order_id": 999999999999999999}),
        ("1234567890123456789", "invalid_order_id", None),  # 19 digits
        ("0000000000000000001", "invalid_order_id", None),  # 19 digits, value 1
        ("-5", "invalid_order_id", None),
        ("+5", "invalid_order_id", None),
        ("5.0", "invalid_order_id", None),
        ("1e3", "invalid_order_id", None),
        ("12 34", "invalid_order_id", None),
        ("O12", "invalid_order_id", None),
        ("", "invalid_order_id", None),
        ("   ", "invalid_order_id", None),
        ("١٢", "invalid_order_id", None),  # not ASCII digits
    ]:
        add(Case(f"order_id {raw!r}", {"order_id": raw}, reason, typed))
    # --- order_date ---
    for raw, reason, typed in [
        ("2024/01/05", None, {"order_date": D0105}),
        (" 2024-01-05 ", None, {"order_date": D0105}),
        ("2024-02-30", "invalid_date", None),
        ("2024-1-5", "invalid_date", None),
        ("2024-01-5", "invalid_date", None),
        # The contract allows `YYYY-MM-DD` or `YYYY/MM/DD`: two whole formats, so a date
        # mixing the separators matches neither and is invalid.
        ("2024/01-05", "invalid_date", None),
        ("2024-01/05", "invalid_date", None),
        ("2024-13-05", "invalid_date", None),
        ("2024-00-05", "invalid_date", None),
        ("2024-01-32", "invalid_date", None),
        ("2024-01-00", "invalid_date", None),
        ("05-01-2024", "invalid_date", None),
        ("20240105", "invalid_date", None),
        ("2024.01.05", "invalid_date", None),
        ("2024-01-05T00:00:00", "invalid_date", None),
        ("2024-01-05 10:00", "invalid_date", None),
        ("Jan 5 2024", "invalid_date", None),
        ("", "invalid_date", None),
        ("2024-01-06", "date_outside_partition", None),
        ("2024/01/04", "date_outside_partition", None),
        ("2023-01-05", "date_outside_partition", None),
    ]:
        add(Case(f"order_date {raw!r}", {"order_date": raw}, reason, typed))
    add(
        Case(
            "leap day",
            {"order_date": "2024-02-29"},
            None,
            {"order_date": date(2024, 2, 29)},
            partition=date(2024, 2, 29),
        )
    )
    add(
        Case(
            "not a leap day",
            {"order_date": "2023-02-29"},
            "invalid_date",
            partition=date(2023, 3, 1),
        )
    )
    # --- customer_id ---
    for raw, reason, typed in [
        ("c12", None, {"customer_id": "C12"}),
        (" C8270 ", None, {"customer_id": "C8270"}),
        ("C007", None, {"customer_id": "C007"}),
        ("C", "invalid_customer_id", None),
        ("12", "invalid_customer_id", None),
        ("CUST12", "invalid_customer_id", None),
        ("C-12", "invalid_customer_id", None),
        ("C 12", "invalid_customer_id", None),
        ("C12A", "invalid_customer_id", None),
        ("D12", "invalid_customer_id", None),
        ("", "invalid_customer_id", None),
    ]:
        add(Case(f"customer_id {raw!r}", {"customer_id": raw}, reason, typed))
    # Same `$`-before-line-terminator trap as for payment ids (see payment_cases).
    add(
        Case(
            "customer_id with U+2028",
            {"customer_id": "C12\u2028"},
            "invalid_customer_id",
            or_silver={"customer_id": "C12"},
        )
    )
    # --- product_category ---
    for raw, reason, typed in [
        (" Home, Garden ", None, {"product_category": "Home, Garden"}),
        ("x", None, {"product_category": "x"}),
        ("", "invalid_category", None),
        ("   ", "invalid_category", None),
        ("\t \t", "invalid_category", None),
    ]:
        add(Case(f"category {raw!r}", {"product_category": raw}, reason, typed))
    # --- order_amount ---
    for raw, reason, typed in amount_cases("order_amount"):
        add(Case(f"order_amount {raw!r}", {"order_amount": raw}, reason, typed))
    # --- order_status: case-insensitive, stored as written in the contract ---
    for raw, reason, typed in [
        ("completed", None, {"order_status": "COMPLETED"}),
        (" Pending ", None, {"order_status": "PENDING"}),
        ("cAnCeLlEd", None, {"order_status": "CANCELLED"}),
        ("CANCELED", "invalid_status", None),
        ("DONE", "invalid_status", None),
        ("", "invalid_status", None),
    ]:
        add(Case(f"order_status {raw!r}", {"order_status": raw}, reason, typed))
    # --- several failures: the first rule in contract order wins ---
    for label, values, reason in [
        ("bad id + bad amount", {"order_id": "x", "order_amount": "$5"}, "invalid_order_id"),
        (
            "bad date + bad amount",
            {"order_date": "2024-02-30", "order_amount": "-5"},
            "invalid_date",
        ),
        (
            "outside + bad customer",
            {"order_date": "2024-01-06", "customer_id": "X"},
            "date_outside_partition",
        ),
        (
            "outside + bad amount",
            {"order_date": "2024-01-04", "order_amount": "0"},
            "date_outside_partition",
        ),
        (
            "bad customer + empty category",
            {"customer_id": "9", "product_category": " "},
            "invalid_customer_id",
        ),
        (
            "empty category + bad amount",
            {"product_category": "", "order_amount": "1e3"},
            "invalid_category",
        ),
        ("bad amount + bad status", {"order_amount": ".5", "order_status": "?"}, "invalid_amount"),
        (
            "everything bad",
            {
                "order_id": "0",
                "order_date": "x",
                "customer_id": "x",
                "product_category": "",
                "order_amount": "x",
                "order_status": "x",
            },
            "invalid_order_id",
        ),
        ("corrupt with values", {"order_id": "1"}, "malformed_row"),
    ]:
        corrupt = "raw text" if label == "corrupt with values" else None
        add(Case(label, values, reason, corrupt=corrupt))
    # --- duplicates: ordered by source file name, then _source_row (numerically) ---
    # key 500: rows inserted out of order; row 9 wins over row 10 (and over row 100)
    add(Case("dup 500 row 100", {"order_id": "500"}, "duplicate", file="d.csv", row=100))
    add(Case("dup 500 row 10", {"order_id": "500"}, "duplicate", file="d.csv", row=10))
    add(
        Case(
            "dup 500 row 9",
            {"order_id": "500", "order_amount": "9"},
            None,
            {"order_amount": Decimal("9.00")},
            file="d.csv",
            row=9,
        )
    )
    # key 501: the file name orders first: f_a.csv row 50 comes before f_b.csv row 1
    add(Case("dup 501 f_b row 1", {"order_id": "501"}, "duplicate", file="f_b.csv", row=1))
    add(Case("dup 501 f_a row 50", {"order_id": "501"}, None, file="f_a.csv", row=50))
    # key 502: a failing earlier row never makes a later valid row a duplicate
    add(
        Case(
            "dup 502 bad amount first",
            {"order_id": "502", "order_amount": "0"},
            "invalid_amount",
            file="d.csv",
            row=1,
        )
    )
    add(
        Case(
            "dup 502 outside first",
            {"order_id": "502", "order_date": "2024-01-06"},
            "date_outside_partition",
            file="d.csv",
            row=2,
        )
    )
    add(
        Case(
            "dup 502 corrupt first",
            {"order_id": "502"},
            "malformed_row",
            file="d.csv",
            row=3,
            corrupt="502,x",
        )
    )
    add(
        Case(
            "dup 502 missing col first",
            {"order_id": "502", "order_status": MISSING},
            "missing_column",
            file="c.csv",
            row=1,
        )
    )
    add(Case("dup 502 valid", {"order_id": "502"}, None, file="d.csv", row=4))
    add(Case("dup 502 second valid", {"order_id": "502"}, "duplicate", file="d.csv", row=5))
    add(
        Case(
            "dup 502 later bad",
            {"order_id": "502", "order_status": "x"},
            "invalid_status",
            file="d.csv",
            row=6,
        )
    )
    # key 503: the key is the typed id, so "0503" and " 503" repeat "503"
    add(Case("dup 503 first", {"order_id": "0503"}, None, {"order_id": 503}, file="d.csv", row=20))
    add(Case("dup 503 padded", {"order_id": " 503 "}, "duplicate", file="d.csv", row=21))
    # key 504: the same key in another partition is not a duplicate
    add(Case("dup 504 jan 5", {"order_id": "504"}, None, file="d.csv", row=30))
    add(
        Case(
            "dup 504 jan 6",
            {"order_id": "504", "order_date": "2024-01-06"},
            None,
            {"order_date": D0106},
            file="d.csv",
            row=30,
            partition=D0106,
        )
    )
    return c


@pytest.fixture(scope="module")
def orders(spark):
    return run_cases(spark, ORDERS, order_cases(), order_base, D0105)


# ===========================================================================================
# payments (partition 2024-01-05)
# ===========================================================================================


def payment_base(i: int) -> dict:
    return {
        "payment_id": f"P{900_000 + i}",
        "order_id": "1",
        "payment_date": "2024-01-05",
        "paid_amount": "10.00",
        "payment_status": "SUCCESS",
        "payment_method": "CARD",
    }


def payment_cases() -> list[Case]:
    c: list[Case] = []
    add = c.append
    add(
        Case(
            "plain valid",
            {"payment_id": "P1"},
            None,
            {
                "payment_id": "P1",
                "order_id": 1,
                "payment_date": D0105,
                "paid_amount": Decimal("10.00"),
                "payment_status": "SUCCESS",
                "payment_method": "CARD",
            },
        )
    )
    add(Case("corrupt", {}, "malformed_row", corrupt="P1,1"))
    add(Case("missing method", {"payment_method": MISSING}, "missing_column", file="m.csv"))
    add(
        Case(
            "missing col beats bad payment id",
            {"payment_method": MISSING, "payment_id": "1"},
            "missing_column",
            file="m.csv",
        )
    )
    # --- payment_id: P + 1..18 digits, any case, stored upper-case ---
    for raw, reason, typed in [
        ("p12", None, {"payment_id": "P12"}),
        ("P0012", None, {"payment_id": "P0012"}),  # digits kept: a different key from P12
        (" p13 ", None, {"payment_id": "P13"}),
        ("P0", None, {"payment_id": "P0"}),  # no "> 0" rule for payment ids
        ("P" + "9" * 18, None, {"payment_id": "P" + "9" * 18}),
        ("P" + "1" * 19, "invalid_payment_id", None),
        ("P", "invalid_payment_id", None),
        ("12", "invalid_payment_id", None),
        ("PX12", "invalid_payment_id", None),
        ("P-12", "invalid_payment_id", None),
        ("P 12", "invalid_payment_id", None),
        ("PP12", "invalid_payment_id", None),
        ("C12", "invalid_payment_id", None),
        ("", "invalid_payment_id", None),
    ]:
        add(Case(f"payment_id {raw!r}", {"payment_id": raw}, reason, typed))
    # Java regex `$` also matches before a final line terminator (U+2028, U+2029, U+0085).
    # Whether or not "strings are trimmed" removes such a character, the stored id must be
    # `P` plus digits and nothing else: either trimmed to "P5n" or rejected.
    for n, tail in enumerate(["\u2028", "\u2029", "\u0085"], start=1):
        add(
            Case(
                f"payment_id with line separator {tail!r}",
                {"payment_id": f"P5{n}{tail}"},
                "invalid_payment_id",
                or_silver={"payment_id": f"P5{n}"},
            )
        )
    # --- order_id ---
    for raw, reason, typed in [
        ("007", None, {"order_id": 7}),
        ("0", "invalid_order_id", None),
        ("1" * 19, "invalid_order_id", None),
        ("abc", "invalid_order_id", None),
        ("", "invalid_order_id", None),
    ]:
        add(Case(f"order_id {raw!r}", {"order_id": raw}, reason, typed))
    # --- payment_date ---
    for raw, reason, typed in [
        ("2024/01/05", None, {"payment_date": D0105}),
        ("2024-02-30", "invalid_date", None),
        ("2024-1-5", "invalid_date", None),
        ("2024/01-05", "invalid_date", None),
        ("2024-01-04", "date_outside_partition", None),
    ]:
        add(Case(f"payment_date {raw!r}", {"payment_date": raw}, reason, typed))
    # --- paid_amount ---
    for raw, reason, typed in amount_cases("paid_amount"):
        add(Case(f"paid_amount {raw!r}", {"paid_amount": raw}, reason, typed))
    # --- payment_status / payment_method ---
    for raw, reason, typed in [
        ("success", None, {"payment_status": "SUCCESS"}),
        ("Failed", None, {"payment_status": "FAILED"}),
        (" refunded ", None, {"payment_status": "REFUNDED"}),
        ("PAID", "invalid_status", None),
        ("", "invalid_status", None),
    ]:
        add(Case(f"payment_status {raw!r}", {"payment_status": raw}, reason, typed))
    for raw, reason, typed in [
        ("bank_transfer", None, {"payment_method": "BANK_TRANSFER"}),
        ("upi", None, {"payment_method": "UPI"}),
        (" Card ", None, {"payment_method": "CARD"}),
        ("BANK TRANSFER", "invalid_method", None),
        ("BANK-TRANSFER", "invalid_method", None),
        ("CASH", "invalid_method", None),
        ("", "invalid_method", None),
    ]:
        add(Case(f"payment_method {raw!r}", {"payment_method": raw}, reason, typed))
    # --- first failing rule wins ---
    for label, values, reason in [
        (
            "bad payment id + bad order id",
            {"payment_id": "X", "order_id": "0"},
            "invalid_payment_id",
        ),
        ("bad order id + bad date", {"order_id": "-1", "payment_date": "x"}, "invalid_order_id"),
        (
            "bad date + bad amount",
            {"payment_date": "2024-02-30", "paid_amount": "$5"},
            "invalid_date",
        ),
        (
            "outside + bad amount",
            {"payment_date": "2024-01-06", "paid_amount": "0"},
            "date_outside_partition",
        ),
        (
            "bad amount + bad status",
            {"paid_amount": "1,000.00", "payment_status": "x"},
            "invalid_amount",
        ),
        (
            "bad status + bad method",
            {"payment_status": "x", "payment_method": "x"},
            "invalid_status",
        ),
    ]:
        add(Case(label, values, reason))
    # --- duplicates: key is the stored (upper-case) payment_id ---
    add(
        Case(
            "dup P77 first", {"payment_id": "p77"}, None, {"payment_id": "P77"}, file="d.csv", row=1
        )
    )
    add(Case("dup P77 upper", {"payment_id": "P77"}, "duplicate", file="d.csv", row=2))
    add(Case("dup P077 distinct", {"payment_id": "P077"}, None, file="d.csv", row=3))
    add(
        Case(
            "dup P78 bad first",
            {"payment_id": "P78", "payment_method": "x"},
            "invalid_method",
            file="d.csv",
            row=4,
        )
    )
    add(Case("dup P78 valid", {"payment_id": "P78"}, None, file="d.csv", row=5))
    add(Case("dup P78 again", {"payment_id": "p78"}, "duplicate", file="d.csv", row=6))
    return c


@pytest.fixture(scope="module")
def payments(spark):
    return run_cases(spark, PAYMENTS, payment_cases(), payment_base, D0105)


# ===========================================================================================
# expenses (partition 2024-01-05)
# ===========================================================================================


def expense_base(i: int) -> dict:
    return {
        "expense_id": str(200_000 + i),
        "department": "IT",
        "expense_date": "2024-01-05",
        "expense_category": "Travel",
        "expense_amount": "10.00",
    }


def expense_cases() -> list[Case]:
    c: list[Case] = []
    add = c.append
    add(
        Case(
            "plain valid",
            {"expense_id": "1"},
            None,
            {
                "expense_id": 1,
                "department": "IT",
                "expense_date": D0105,
                "expense_category": "Travel",
                "expense_amount": Decimal("10.00"),
            },
        )
    )
    add(Case("corrupt", {}, "malformed_row", corrupt='1,IT,"2024'))
    add(Case("missing category", {"expense_category": MISSING}, "missing_column", file="m.csv"))
    add(
        Case(
            "missing col beats bad id",
            {"expense_category": MISSING, "expense_id": "0"},
            "missing_column",
            file="m.csv",
        )
    )
    for raw, reason, typed in [
        ("007", None, {"expense_id": 7}),
        ("0", "invalid_expense_id", None),
        ("1" * 19, "invalid_expense_id", None),
        ("E12", "invalid_expense_id", None),
        ("", "invalid_expense_id", None),
    ]:
        add(Case(f"expense_id {raw!r}", {"expense_id": raw}, reason, typed))
    for raw, reason, typed in [
        ("sales", None, {"department": "Sales"}),
        ("it", None, {"department": "IT"}),
        (" hr ", None, {"department": "HR"}),
        ("MARKETING", None, {"department": "Marketing"}),
        ("operations", None, {"department": "Operations"}),
        ("fInAnCe", None, {"department": "Finance"}),
        ("Legal", "invalid_department", None),
        ("Human Resources", "invalid_department", None),
        ("Sale", "invalid_department", None),
        ("", "invalid_department", None),
    ]:
        add(Case(f"department {raw!r}", {"department": raw}, reason, typed))
    for raw, reason, typed in [
        ("2024/01/05", None, {"expense_date": D0105}),
        ("2024-02-30", "invalid_date", None),
        ("2024-1-5", "invalid_date", None),
        ("2024/01-05", "invalid_date", None),
        ("2024-01-06", "date_outside_partition", None),
    ]:
        add(Case(f"expense_date {raw!r}", {"expense_date": raw}, reason, typed))
    for raw, reason, typed in [
        (" Office supplies ", None, {"expense_category": "Office supplies"}),
        ("", "invalid_category", None),
        ("   ", "invalid_category", None),
        ("\t", "invalid_category", None),
    ]:
        add(Case(f"category {raw!r}", {"expense_category": raw}, reason, typed))
    for raw, reason, typed in amount_cases("expense_amount"):
        add(Case(f"expense_amount {raw!r}", {"expense_amount": raw}, reason, typed))
    for label, values, reason in [
        ("bad id + bad department", {"expense_id": "x", "department": "x"}, "invalid_expense_id"),
        (
            "bad department + bad date",
            {"department": "Legal", "expense_date": "x"},
            "invalid_department",
        ),
        (
            "bad date + bad amount",
            {"expense_date": "2024-02-30", "expense_amount": "-5"},
            "invalid_date",
        ),
        (
            "outside + empty category",
            {"expense_date": "2024-01-04", "expense_category": " "},
            "date_outside_partition",
        ),
        (
            "empty category + bad amount",
            {"expense_category": "  ", "expense_amount": "$5"},
            "invalid_category",
        ),
    ]:
        add(Case(label, values, reason))
    add(
        Case(
            "dup 600 bad first",
            {"expense_id": "600", "department": "x"},
            "invalid_department",
            file="d.csv",
            row=1,
        )
    )
    add(Case("dup 600 valid", {"expense_id": "600"}, None, file="d.csv", row=2))
    add(Case("dup 600 second", {"expense_id": "0600"}, "duplicate", file="d.csv", row=3))
    add(Case("dup 601 other file later", {"expense_id": "601"}, "duplicate", file="e.csv", row=1))
    add(Case("dup 601 this file first", {"expense_id": "601"}, None, file="d.csv", row=99))
    return c


@pytest.fixture(scope="module")
def expenses(spark):
    return run_cases(spark, EXPENSES, expense_cases(), expense_base, D0105)


# ===========================================================================================
# budgets (partition 2024-01-01; key (department, month))
# ===========================================================================================


def budget_base(i: int) -> dict:
    # Invalid rows never take part in duplicate detection, so they may share this key.
    return {"department": "IT", "month": "2024-01", "budget_amount": "100.00"}


def budget_cases() -> list[Case]:
    c: list[Case] = []
    add = c.append
    # Valid rows: at most one per (department, month); the month must be the partition's.
    add(
        Case(
            "sales lower-case, YYYY-MM",
            {"department": "sales", "month": "2024-01"},
            None,
            {"department": "Sales", "month": JAN, "budget_amount": Decimal("100.00")},
            file="a.csv",
            row=1,
        )
    )
    add(
        Case(
            "IT, YYYY-MM-01, max amount",
            {"department": "IT", "month": "2024-01-01", "budget_amount": "10000000.00"},
            None,
            {"department": "IT", "month": JAN, "budget_amount": Decimal("10000000.00")},
            file="a.csv",
            row=2,
        )
    )
    add(
        Case(
            "padded everything",
            {"department": " hr ", "month": " 2024-01 ", "budget_amount": " 12.5 "},
            None,
            {"department": "HR", "month": JAN, "budget_amount": Decimal("12.50")},
            file="a.csv",
            row=3,
        )
    )
    add(
        Case(
            "marketing",
            {"department": "MARKETING", "budget_amount": "0.01"},
            None,
            {"department": "Marketing", "budget_amount": Decimal("0.01")},
            file="a.csv",
            row=4,
        )
    )
    add(
        Case(
            "finance feb",
            {"department": "finance", "month": "2024-02"},
            None,
            {"department": "Finance", "month": FEB},
            file="a.csv",
            row=1,
            partition=FEB,
        )
    )
    # Duplicates: "2024-01" and "2024-01-01" are the same month, "sales" and "Sales" the same
    # department, so the key repeats.
    add(
        Case(
            "dup Sales 2024-01-01",
            {"department": "Sales", "month": "2024-01-01"},
            "duplicate",
            file="a.csv",
            row=5,
        )
    )
    add(
        Case(
            "dup Sales in later file",
            {"department": "SALES", "month": "2024-01"},
            "duplicate",
            file="b.csv",
            row=1,
        )
    )
    add(
        Case(
            "ops bad amount first",
            {"department": "operations", "budget_amount": "0"},
            "invalid_amount",
            file="c.csv",
            row=1,
        )
    )
    add(
        Case(
            "ops outside first",
            {"department": "Operations", "month": "2024-02"},
            "date_outside_partition",
            file="c.csv",
            row=2,
        )
    )
    add(
        Case(
            "ops valid",
            {"department": "Operations"},
            None,
            {"department": "Operations"},
            file="c.csv",
            row=3,
        )
    )
    add(
        Case(
            "ops duplicate",
            {"department": "OPERATIONS", "month": "2024-01-01"},
            "duplicate",
            file="c.csv",
            row=4,
        )
    )
    add(Case("finance jan (feb key differs)", {"department": "Finance"}, None, file="c.csv", row=5))
    # Invalid rows (auto-numbered in i.csv).
    add(Case("corrupt", {}, "malformed_row", corrupt="IT,2024-01", file="i.csv"))
    add(Case("missing amount", {"budget_amount": MISSING}, "missing_column", file="m.csv"))
    add(
        Case(
            "missing col beats bad department",
            {"budget_amount": MISSING, "department": "x"},
            "missing_column",
            file="m.csv",
        )
    )
    for raw in ("Legal", "Sale", "", "  "):
        add(Case(f"department {raw!r}", {"department": raw}, "invalid_department", file="i.csv"))
    for raw, reason in [
        # The budget month must be `YYYY-MM` or `YYYY-MM-01`. "2024-01-15" is a real date in
        # the partition's month but is in neither format, so it fails the format rule
        # (invalid_date) before date_outside_partition is ever considered.
        ("2024-01-15", "invalid_date"),
        ("2024-01-31", "invalid_date"),
        ("2024-1", "invalid_date"),
        ("2024-13", "invalid_date"),
        ("2024-00", "invalid_date"),
        ("2024-13-01", "invalid_date"),
        ("202401", "invalid_date"),
        # Only the hyphen forms are listed for budget months (the `/` form is for dates).
        ("2024/01", "invalid_date"),
        ("2024/01/01", "invalid_date"),
        ("01-2024", "invalid_date"),
        ("", "invalid_date"),
        ("2024-02", "date_outside_partition"),
        ("2024-02-01", "date_outside_partition"),
        ("2023-12", "date_outside_partition"),
    ]:
        add(Case(f"month {raw!r}", {"month": raw}, reason, file="i.csv"))
    for raw, reason, _ in amount_cases("budget_amount"):
        if reason is not None:
            add(Case(f"budget_amount {raw!r}", {"budget_amount": raw}, reason, file="i.csv"))
    for label, values, reason in [
        (
            "bad department + bad month",
            {"department": "x", "month": "2024-01-15"},
            "invalid_department",
        ),
        ("bad month + bad amount", {"month": "2024-13", "budget_amount": "-5"}, "invalid_date"),
        (
            "outside + bad amount",
            {"month": "2024-02", "budget_amount": "$5"},
            "date_outside_partition",
        ),
    ]:
        add(Case(label, values, reason, file="i.csv"))
    return c


@pytest.fixture(scope="module")
def budgets(spark):
    return run_cases(spark, BUDGETS, budget_cases(), budget_base, JAN)


# ===========================================================================================
# the tests
# ===========================================================================================

ALL = [
    ("orders", ORDERS, order_cases),
    ("payments", PAYMENTS, payment_cases),
    ("expenses", EXPENSES, expense_cases),
    ("budgets", BUDGETS, budget_cases),
]
MONEY_COLUMN = {
    "orders": "order_amount",
    "payments": "paid_amount",
    "expenses": "expense_amount",
    "budgets": "budget_amount",
}
EXPECTED_TYPES = {
    "orders": {
        "order_id": T.LongType(),
        "order_date": T.DateType(),
        "customer_id": T.StringType(),
        "product_category": T.StringType(),
        "order_amount": T.DecimalType(18, 2),
        "order_status": T.StringType(),
    },
    "payments": {
        "payment_id": T.StringType(),
        "order_id": T.LongType(),
        "payment_date": T.DateType(),
        "paid_amount": T.DecimalType(18, 2),
        "payment_status": T.StringType(),
        "payment_method": T.StringType(),
    },
    "expenses": {
        "expense_id": T.LongType(),
        "department": T.StringType(),
        "expense_date": T.DateType(),
        "expense_category": T.StringType(),
        "expense_amount": T.DecimalType(18, 2),
    },
    "budgets": {
        "department": T.StringType(),
        "month": T.DateType(),
        "budget_amount": T.DecimalType(18, 2),
    },
}


@pytest.fixture(params=[name for name, _, _ in ALL])
def result(request):
    return request.param, request.getfixturevalue(request.param)


def _dataset(name: str) -> Dataset:
    return {n: d for n, d, _ in ALL}[name]


@pytest.mark.parametrize("name, dataset, make_cases", ALL, ids=[n for n, _, _ in ALL])
def test_reason_codes_are_the_contract_list_in_order(name, dataset, make_cases):
    assert list(dataset.reason_codes()) == CONTRACT_REASONS[name]


@pytest.mark.parametrize("name, dataset, make_cases", ALL, ids=[n for n, _, _ in ALL])
def test_every_reason_code_has_a_hand_built_case(name, dataset, make_cases):
    covered = {case.reason for case in make_cases()} - {None}
    assert covered == set(CONTRACT_REASONS[name])


def test_each_row_gets_the_first_rule_it_fails(result):
    _, classified = result
    check_reasons(classified)


def test_every_row_lands_in_exactly_one_of_silver_or_quarantine(result):
    name, classified = result
    check_partitioned_exactly_once(classified, _dataset(name))


def test_quarantine_keeps_the_raw_untrimmed_strings_and_lineage(result):
    name, classified = result
    dataset = _dataset(name)
    check_quarantine_keeps_raw(classified, dataset)
    assert classified.quarantine  # the check above is not vacuous
    some_padded = [
        k
        for k, (case, _) in classified.inputs.items()
        if k in classified.quarantine
        and any(isinstance(v, str) and v != v.strip() for v in case.values.values())
    ]
    assert some_padded, "no quarantined case with padded raw values"


def test_silver_columns_are_typed(result):
    name, classified = result
    schema = {f.name: f.dataType for f in classified.silver_schema.fields}
    for column, data_type in EXPECTED_TYPES[name].items():
        assert schema[column] == data_type, column
    assert schema["_source_file"] == T.StringType()
    assert schema["_source_row"] == T.LongType()


def test_silver_values_are_the_typed_trimmed_text(result):
    _, classified = result
    check_typed(classified)


def test_silver_money_is_exactly_the_decimal_of_the_text(result):
    name, classified = result
    dataset = _dataset(name)
    column = MONEY_COLUMN[name]
    position = dataset.columns.index(column)
    assert classified.silver
    for key, row in classified.silver.items():
        raw = classified.inputs[key][1][position]
        value = row[column]
        assert isinstance(value, Decimal)
        assert value.as_tuple().exponent == -2, (raw, value)
        assert value == Decimal(raw.strip()), (raw, value)


def test_silver_ids_and_enumerations_follow_the_text(result):
    name, classified = result
    dataset = _dataset(name)
    index = {c: i for i, c in enumerate(dataset.columns)}
    canonical = {
        "order_status": ("COMPLETED", "PENDING", "CANCELLED"),
        "payment_status": ("SUCCESS", "FAILED", "REFUNDED"),
        "payment_method": ("CARD", "UPI", "BANK_TRANSFER"),
        "department": ("IT", "Sales", "HR", "Marketing", "Operations", "Finance"),
    }
    for key, row in classified.silver.items():
        case, raw = classified.inputs[key]
        if case.or_silver is not None:
            continue  # checked (and reported) by test_each_row_gets_the_first_rule_it_fails
        for column in dataset.columns:
            text = raw[index[column]].strip()
            value = row[column]
            if column in ("order_id", "expense_id"):
                assert value == int(text) and value > 0
            elif column in ("payment_id", "customer_id"):
                assert value == text.upper()
            elif column in canonical:
                assert value in canonical[column] and value.upper() == text.upper()
            elif column in ("product_category", "expense_category"):
                assert value == text != ""


def test_silver_keys_are_unique_per_partition(result):
    name, classified = result
    dataset = _dataset(name)
    keys = [
        (row["partition_date"], *(row[k] for k in dataset.key))
        for row in classified.silver.values()
    ]
    assert len(keys) == len(set(keys))
