"""The landing contract as data: datasets, their columns, field rules and reason codes.

Silver's Spark rules (``silver/rules.py``), the Pandera schemas (``checks/schemas.py``) and the
sample generator (``landing/generate.py``) all read this one table, so a change to the contract
(``CONTRACT.md`` sections 1 to 3) is a change in one place.

A dataset's fields are listed in the contract's column order, which is also the order its rules
are applied in: a rejected row's ``_reason`` is the first rule it fails.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Cadence = Literal["daily", "monthly"]
FieldKind = Literal["positive_id", "prefixed_id", "date", "month", "amount", "text", "enum"]

ORDER_STATUSES = ("COMPLETED", "PENDING", "CANCELLED")
PAYMENT_STATUSES = ("SUCCESS", "FAILED", "REFUNDED")
PAYMENT_METHODS = ("CARD", "UPI", "BANK_TRANSFER")
DEPARTMENTS = ("IT", "Sales", "HR", "Marketing", "Operations", "Finance")

MONEY = "decimal(18,2)"
"""Every amount in silver and gold: exact, two places, never a float."""
MAX_AMOUNT = "10000000.00"
PARTITION_COLUMN = "partition_date"
"""The drop folder's date on bronze, silver and quarantine rows (first of month for budgets)."""

MALFORMED_ROW = "malformed_row"
MISSING_COLUMN = "missing_column"
DATE_OUTSIDE_PARTITION = "date_outside_partition"
DUPLICATE = "duplicate"
LINEAGE_COLUMNS = ("_source_file", "_source_row", PARTITION_COLUMN)


@dataclass(frozen=True)
class Field:
    """One required column and the rule its value must pass.

    - ``positive_id``: 1 to 18 ASCII digits, value > 0, stored as bigint;
    - ``prefixed_id``: ``prefix`` plus digits (at most ``max_digits``), any case, stored upper;
    - ``date``: ``YYYY-MM-DD`` or ``YYYY/MM/DD``, a real calendar date;
    - ``month``: ``YYYY-MM`` or ``YYYY-MM-01``, stored as the first day of the month;
    - ``amount``: optional ``-``, digits, optional 1-2 decimals; > 0 and <= ``MAX_AMOUNT``;
    - ``text``: non-empty after trimming;
    - ``enum``: one of ``allowed``, case-insensitive, stored as written there.
    """

    column: str
    kind: FieldKind
    reason: str
    prefix: str = ""
    max_digits: int | None = None
    allowed: tuple[str, ...] = ()


@dataclass(frozen=True)
class Dataset:
    """One kind of raw drop: folder name, fields in contract order, key and cadence."""

    name: str
    fields: tuple[Field, ...]
    key: tuple[str, ...]
    date_column: str
    cadence: Cadence = "daily"

    @property
    def columns(self) -> tuple[str, ...]:
        """The required columns, in contract order."""
        return tuple(f.column for f in self.fields)

    @property
    def is_monthly(self) -> bool:
        return self.cadence == "monthly"

    def field(self, column: str) -> Field:
        return next(f for f in self.fields if f.column == column)

    def rule_reasons(self) -> tuple[tuple[str, str], ...]:
        """(reason, column) of the dataset's own rules, in the order they are applied."""
        rules = []
        for f in self.fields:
            rules.append((f.reason, f.column))
            if f.column == self.date_column:
                rules.append((DATE_OUTSIDE_PARTITION, f.column))
        return tuple(rules)

    def reason_codes(self) -> tuple[str, ...]:
        """Every reason a row can be rejected for, in the order rules are applied."""
        own = dict.fromkeys(reason for reason, _ in self.rule_reasons())
        return (MALFORMED_ROW, MISSING_COLUMN, *own, DUPLICATE)


def _id(column: str, reason: str) -> Field:
    return Field(column, "positive_id", reason)


def _enum(column: str, allowed: tuple[str, ...], reason: str) -> Field:
    return Field(column, "enum", reason, allowed=allowed)


ORDERS = Dataset(
    name="orders",
    fields=(
        _id("order_id", "invalid_order_id"),
        Field("order_date", "date", "invalid_date"),
        Field("customer_id", "prefixed_id", "invalid_customer_id", prefix="C"),
        Field("product_category", "text", "invalid_category"),
        Field("order_amount", "amount", "invalid_amount"),
        _enum("order_status", ORDER_STATUSES, "invalid_status"),
    ),
    key=("order_id",),
    date_column="order_date",
)
PAYMENTS = Dataset(
    name="payments",
    fields=(
        Field("payment_id", "prefixed_id", "invalid_payment_id", prefix="P", max_digits=18),
        _id("order_id", "invalid_order_id"),
        Field("payment_date", "date", "invalid_date"),
        Field("paid_amount", "amount", "invalid_amount"),
        _enum("payment_status", PAYMENT_STATUSES, "invalid_status"),
        _enum("payment_method", PAYMENT_METHODS, "invalid_method"),
    ),
    key=("payment_id",),
    date_column="payment_date",
)
EXPENSES = Dataset(
    name="expenses",
    fields=(
        _id("expense_id", "invalid_expense_id"),
        _enum("department", DEPARTMENTS, "invalid_department"),
        Field("expense_date", "date", "invalid_date"),
        Field("expense_category", "text", "invalid_category"),
        Field("expense_amount", "amount", "invalid_amount"),
    ),
    key=("expense_id",),
    date_column="expense_date",
)
BUDGETS = Dataset(
    name="budgets",
    fields=(
        _enum("department", DEPARTMENTS, "invalid_department"),
        Field("month", "month", "invalid_date"),
        Field("budget_amount", "amount", "invalid_amount"),
    ),
    key=("department", "month"),
    date_column="month",
    cadence="monthly",
)

DATASETS: dict[str, Dataset] = {d.name: d for d in (ORDERS, PAYMENTS, EXPENSES, BUDGETS)}
