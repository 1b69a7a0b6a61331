"""The landing contract as data: which datasets exist, their columns, keys and enumerations.

Every layer reads these specs instead of repeating column lists, so a change to the
contract is a change in one place.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Cadence = Literal["daily", "monthly"]

ORDER_STATUSES = ("COMPLETED", "PENDING", "CANCELLED")
PAYMENT_STATUSES = ("SUCCESS", "FAILED", "REFUNDED")
PAYMENT_METHODS = ("CARD", "UPI", "BANK_TRANSFER")
DEPARTMENTS = ("IT", "Sales", "HR", "Marketing", "Operations", "Finance")

MAX_AMOUNT = "10000000.00"
PARTITION_COLUMN = "partition_date"


@dataclass(frozen=True)
class Dataset:
    """One kind of raw drop: its folder name, required columns, key and partition cadence."""

    name: str
    columns: tuple[str, ...]
    key: tuple[str, ...]
    date_column: str
    cadence: Cadence = "daily"

    @property
    def is_monthly(self) -> bool:
        return self.cadence == "monthly"


ORDERS = Dataset(
    name="orders",
    columns=(
        "order_id",
        "order_date",
        "customer_id",
        "product_category",
        "order_amount",
        "order_status",
    ),
    key=("order_id",),
    date_column="order_date",
)
PAYMENTS = Dataset(
    name="payments",
    columns=(
        "payment_id",
        "order_id",
        "payment_date",
        "paid_amount",
        "payment_status",
        "payment_method",
    ),
    key=("payment_id",),
    date_column="payment_date",
)
EXPENSES = Dataset(
    name="expenses",
    columns=("expense_id", "department", "expense_date", "expense_category", "expense_amount"),
    key=("expense_id",),
    date_column="expense_date",
)
BUDGETS = Dataset(
    name="budgets",
    columns=("department", "month", "budget_amount"),
    key=("department", "month"),
    date_column="month",
    cadence="monthly",
)

DATASETS: dict[str, Dataset] = {d.name: d for d in (ORDERS, PAYMENTS, EXPENSES, BUDGETS)}
