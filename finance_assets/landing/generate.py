"""Synthetic landing drops that look like the seed system's raw files, dirt included.

The generator plays the part of the upstream systems: a shop that sells orders, a payment
provider that reports collection attempts days later, and finance teams that file expenses
and monthly budgets. Its output follows the landing contract (section 1) and deliberately
breaks a small share of rows in every way the silver rules (section 3) name, so every layer
can be exercised end to end, from a few orders a day up to hundreds of thousands.

Business behaviour:

* Orders: most COMPLETED, some PENDING, some CANCELLED; customers re-order (a few loyal
  customers place many orders); order ids grow with the order date.
* Payments arrive 0 to 10 days after their order, so many land in a later day folder than
  the order. An order may be paid once, in installments, after a FAILED attempt, twice by
  mistake (overpaid), refunded, or never. A small share of payments reference orders that
  were never sent (orphans). Payments dated after the range end are not written; payments
  in the range are only generated for orders inside the range.
* Expenses: a handful a day across departments, their amounts growing with the order
  volume (up to a ceiling) so that most months make a profit; budgets: one per department
  per month, sized so that some departments overspend and others do not.
* Untidy but valid spellings the contract accepts (``2024/01/05``, ``completed``, ``p123``,
  ``4758.5``, padded values, budget months as ``2024-01``) appear in a small share of rows.
* Files vary the way real exports do: CRLF or LF, a UTF-8 BOM or not, shuffled columns,
  an extra column (``note``, ``channel``, ``approved_by``), header spellings such as
  ``Order Amount``, ``ORDER_ID`` or ``order-id``, quoted commas, quotes and newlines, blank lines.
* Dirt: at ``dirty_rate``, rows are broken so that each fails exactly one silver rule,
  cycling through every reason code of the dataset (see ``DIRTY_KINDS``); rows for
  ``missing_column`` go to an extra, last file whose header lacks one required column, and
  duplicates are exact copies placed after the original.
* Missing drops: ``empty_folders`` names (dataset, day) folders into which nothing landed
  (e.g. no expenses filed that day); every other folder is unchanged.

Every id is derived from its business date (``days since 1999-12-31 * 10,000,000 + n``),
so ids never collide when ranges are generated separately, and the orders, expenses and
budgets of a given day are byte-identical whatever range they were generated in. Every
random choice comes from ``random.Random`` seeded by (seed, dataset, day, purpose), so the
output never depends on the order of generation. Only one drop folder's rows are held in
memory at a time.
"""

from __future__ import annotations

import bisect
import calendar
import csv
import io
import itertools
import math
import random
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, timedelta

from finance_assets.contract import (
    BUDGETS,
    DATASETS,
    DEPARTMENTS,
    EXPENSES,
    ORDERS,
    PAYMENTS,
    Dataset,
)
from finance_assets.landing.zone import (
    S3Options,
    is_s3,
    join_uri,
    local_path,
    normalize_uri,
    write_bytes,
)

ID_EPOCH = date(1999, 12, 31)
ID_BLOCK = 10_000_000
ORPHAN_ORDER_OFFSET = 9_000_000
MAX_ORDERS_PER_DAY = 5_000_000
MAX_PAYMENT_DELAY_DAYS = 10
ORPHAN_PAYMENT_SHARE = 0.015
ORPHAN_LOOKBACK_DAYS = 30
EXPENSES_PER_DAY = (2, 8)
MAX_EXPENSE_SCALE_PCT = 2500
PAYMENTS_PER_ORDER = 1.05

DIRTY_KINDS: dict[str, tuple[str, ...]] = {
    name: dataset.reason_codes() for name, dataset in DATASETS.items()
}
"""Every silver reason code the generator produces for each dataset, in contract order."""

_COLUMN_KIND = {f.column: f.kind for d in DATASETS.values() for f in d.fields}

_BAD_VALUES: dict[str, tuple[str, ...]] = {
    "positive_id": ("", "abc", "0", "-17", "12.5", "1e5", "#1001", "1234567890123456789"),
    "expense_id": ("", "EXP-1001", "abc", "0", "-3", "7.5"),
    "payment_id": ("", "PAY-1001", "1001", "P", "P-1001", "Q1001", "P10O1"),
    "customer_id": ("", "8270", "CUST-8270", "C", "C82a0", "X8270"),
    "date": ("2024-02-30", "2023-02-29", "2024-13-01", "01/05/2024", "20240105", "N/A", ""),
    "month": ("2024-13", "Jan 2024", "2024-02-15", "202402", "2024-00-01", ""),
    "text": ("", "   "),
    "amount": (
        "12,50",
        "$5.00",
        "1,234.56",
        "-20.00",
        "0.00",
        "0",
        "1e3",
        "12.345",
        "N/A",
        "",
        "10000000.01",
        "EUR 15.00",
    ),
    "order_status": ("SHIPPED", "DONE", "complete", "UNKNOWN", ""),
    "payment_status": ("PENDING", "DECLINED", "PAID", "OK", ""),
    "payment_method": ("CASH", "PAYPAL", "CHEQUE", "credit card", ""),
    "department": ("Legal", "R&D", "Engineering", "I.T.", ""),
}

_PRODUCT_CATEGORIES: tuple[tuple[str, int, int, int], ...] = (
    ("Electronics", 22, 2_000, 250_000),
    ("Furniture", 12, 5_000, 500_000),
    ("Clothing", 22, 1_000, 30_000),
    ("Grocery", 20, 300, 25_000),
    ("Books", 12, 500, 8_000),
    ("Home, Garden", 7, 1_500, 120_000),
    ("Toys & Games", 5, 800, 20_000),
)
_CATEGORY_NAMES = tuple(c[0] for c in _PRODUCT_CATEGORIES)
_CATEGORY_BOUNDS = tuple((c[2], c[3] - c[2] + 1) for c in _PRODUCT_CATEGORIES)
_CATEGORY_CUMULATIVE = tuple(itertools.accumulate(c[1] for c in _PRODUCT_CATEGORIES))

_DEPARTMENT_SPEND: dict[str, tuple[int, tuple[tuple[str, int, int], ...]]] = {
    "IT": (
        20,
        (
            ("Software", 20_000, 800_000),
            ("Hardware", 50_000, 1_500_000),
            ("Cloud Services", 100_000, 1_200_000),
        ),
    ),
    "Sales": (
        20,
        (
            ("Travel", 10_000, 400_000),
            ("Travel, Meals", 5_000, 150_000),
            ("Commissions", 100_000, 1_000_000),
        ),
    ),
    "HR": (
        10,
        (
            ("Recruitment", 50_000, 800_000),
            ("Training", 30_000, 500_000),
            ("Benefits", 100_000, 900_000),
        ),
    ),
    "Marketing": (
        20,
        (
            ("Advertising", 100_000, 2_000_000),
            ("Events", 200_000, 1_500_000),
            ("Print, Media", 20_000, 600_000),
        ),
    ),
    "Operations": (
        20,
        (
            ("Logistics", 50_000, 1_200_000),
            ("Utilities", 20_000, 300_000),
            ("Office Supplies", 5_000, 120_000),
            ("Rent", 500_000, 2_000_000),
        ),
    ),
    "Finance": (
        10,
        (
            ("Audit", 200_000, 1_500_000),
            ("Bank Fees", 2_000, 80_000),
            ("Consulting", 100_000, 1_000_000),
        ),
    ),
}
_DEPARTMENT_WEIGHTS = tuple(_DEPARTMENT_SPEND[d][0] for d in DEPARTMENTS)

_CHANNELS = ("web", "app", "store", "phone", "marketplace")

_EXTRA_COLUMNS: dict[str, tuple[str, ...]] = {
    "orders": ("note", "channel"),
    "payments": ("note", "channel"),
    "expenses": ("note", "approved_by"),
    "budgets": ("note",),
}
_EXTRA_VALUES: dict[str, tuple[float, tuple[str, ...]]] = {
    "note": (
        0.05,
        (
            'customer asked for "gift wrap"',
            "split delivery, 2 boxes",
            "call back\nafter 5 pm",
            "VIP, priority",
            "re-sent by ops",
        ),
    ),
    "channel": (1.0, _CHANNELS),
    "approved_by": (0.9, ("J. Smith", "Lee, Anna", "M. O'Brien", 'R. "Bob" Patel')),
}

_MESSY_SHARE = {"orders": 0.02, "payments": 0.02, "expenses": 0.05, "budgets": 0.2}
_HEADER_STYLES = ("snake", "title", "upper", "kebab", "padded")
_HEADER_STYLE_WEIGHTS = (60, 15, 10, 8, 7)


@dataclass(frozen=True)
class GenerateConfig:
    """What to generate: the business-date range (inclusive), the volume and the dirt."""

    start: date
    end: date
    orders_per_day: int = 40
    dirty_rate: float = 0.02
    files_per_folder: int = 2
    seed: int = 7
    customers: int | None = None
    empty_folders: frozenset[tuple[str, date]] = frozenset()
    """(dataset, folder date) drops that did not land: the folder holds no file (locally it
    exists, empty). Every other folder is written as without them."""

    def __post_init__(self) -> None:
        if self.start > self.end:
            raise ValueError(f"start {self.start} is after end {self.end}")
        if self.start <= ID_EPOCH:
            raise ValueError(f"start must be after {ID_EPOCH}, got {self.start}")
        if not 1 <= self.orders_per_day <= MAX_ORDERS_PER_DAY:
            raise ValueError(f"orders_per_day must be 1..{MAX_ORDERS_PER_DAY}")
        if not 0.0 <= self.dirty_rate <= 1.0:
            raise ValueError("dirty_rate must be between 0 and 1")
        if not 1 <= self.files_per_folder <= 999:
            raise ValueError("files_per_folder must be 1..999")
        if self.customers is not None and self.customers < 1:
            raise ValueError("customers must be at least 1")
        unknown = sorted({name for name, _ in self.empty_folders} - set(DATASETS))
        if unknown:
            raise ValueError(f"empty_folders names unknown dataset(s): {', '.join(unknown)}")

    @property
    def customer_count(self) -> int:
        """Size of the customer base: given, or about a month of orders' worth."""
        if self.customers is not None:
            return self.customers
        return max(50, self.orders_per_day * 25)

    def days(self) -> Iterator[date]:
        day = self.start
        while day <= self.end:
            yield day
            day += timedelta(days=1)

    def months(self) -> list[date]:
        """First day of every month the range touches."""
        months = []
        month = self.start.replace(day=1)
        while month <= self.end:
            months.append(month)
            month = _add_months(month, 1)
        return months


def generate(
    landing_uri: str, config: GenerateConfig, s3: S3Options | None = None
) -> dict[str, int]:
    """Write every drop folder of the range; return data rows written per dataset."""
    root = normalize_uri(str(landing_uri))
    counts = {ORDERS.name: 0, PAYMENTS.name: 0, EXPENSES.name: 0, BUDGETS.name: 0}
    for day in config.days():
        counts[ORDERS.name] += _write_folder(
            root, ORDERS, day, _order_rows(config, day), config, s3
        )
        counts[PAYMENTS.name] += _write_folder(
            root, PAYMENTS, day, _payment_rows(config, day), config, s3
        )
        counts[EXPENSES.name] += _write_folder(
            root, EXPENSES, day, _expense_rows(config, day), config, s3
        )
    for month in config.months():
        counts[BUDGETS.name] += _write_folder(
            root, BUDGETS, month, _budget_rows(config, month), config, s3
        )
    return counts


# --- shared helpers -------------------------------------------------------------------


def _rng(config: GenerateConfig, dataset: str, day: date, purpose: str) -> random.Random:
    """The random stream for one purpose of one dataset's day; independent of all others."""
    return random.Random(f"finance-assets:{config.seed}:{dataset}:{day.isoformat()}:{purpose}")


def _id_block(day: date) -> int:
    """First id of a business day: ids of later days are always larger."""
    return (day - ID_EPOCH).days * ID_BLOCK


def _money(cents: int) -> str:
    """Money as the upstream systems write it: plain digits, a dot, two decimals."""
    sign = "-" if cents < 0 else ""
    cents = abs(cents)
    return f"{sign}{cents // 100}.{cents % 100:02d}"


def _add_months(month: date, count: int) -> date:
    index = month.year * 12 + month.month - 1 + count
    return date(index // 12, index % 12 + 1, 1)


def _uniform_int(rng: random.Random, low: int, high: int) -> int:
    """A uniform integer in ``[low, high]``; cheaper than ``randint`` on hot paths."""
    return low + int(rng.random() * (high - low + 1))


def _stochastic_round(value: float, rng: random.Random) -> int:
    """An integer whose expected value is ``value``, so small shares still show up."""
    whole = int(value)
    return whole + (1 if rng.random() < value - whole else 0)


def _insert_at(rows: list, inserts: Iterable[tuple[int, object]]) -> list:
    """``rows`` with each item placed before the row at its position (stable)."""
    result: list = []
    previous = 0
    for position, item in sorted(inserts, key=lambda pair: pair[0]):
        result.extend(rows[previous:position])
        result.append(item)
        previous = position
    result.extend(rows[previous:])
    return result


# --- orders ---------------------------------------------------------------------------


@dataclass
class _OrderDay:
    """The business facts of one day's orders, enough to derive their payments."""

    day: date
    first_id: int
    categories: list[int]
    cents: list[int]
    statuses: list[str]


def _order_count(config: GenerateConfig, day: date) -> int:
    """Orders placed that day: the configured volume, quieter at weekends, with noise."""
    rng = _rng(config, ORDERS.name, day, "volume")
    weekday_factor = (1.05, 1.05, 1.05, 1.05, 1.05, 0.9, 0.8)[day.weekday()]
    return max(1, round(config.orders_per_day * weekday_factor * rng.uniform(0.85, 1.15)))


def _order_day(config: GenerateConfig, day: date) -> _OrderDay:
    """Category, amount and status of every order of the day."""
    rng = _rng(config, ORDERS.name, day, "core")
    random_ = rng.random
    total_weight = _CATEGORY_CUMULATIVE[-1]
    categories, cents, statuses = [], [], []
    for _ in range(_order_count(config, day)):
        category = bisect.bisect_right(_CATEGORY_CUMULATIVE, random_() * total_weight)
        low, span = _CATEGORY_BOUNDS[category]
        amount = low + int(random_() * span)
        if random_() < 0.3:
            amount = max(low, amount - amount % 100 + 99)
        roll = random_()
        categories.append(category)
        cents.append(amount)
        statuses.append("COMPLETED" if roll < 0.8 else "PENDING" if roll < 0.92 else "CANCELLED")
    return _OrderDay(day, _id_block(day) + 1, categories, cents, statuses)


def _order_rows(config: GenerateConfig, day: date) -> list[list[str]]:
    """Clean order rows of the day, in id order."""
    orders = _order_day(config, day)
    rng = _rng(config, ORDERS.name, day, "customers")
    random_ = rng.random
    customers = config.customer_count
    iso = day.isoformat()
    return [
        [
            str(orders.first_id + index),
            iso,
            f"C{1000 + int(customers * random_() ** 2)}",
            _CATEGORY_NAMES[category],
            _money(amount),
            status,
        ]
        for index, (category, amount, status) in enumerate(
            zip(orders.categories, orders.cents, orders.statuses, strict=True)
        )
    ]


# --- payments -------------------------------------------------------------------------


def _pick_method(rng: random.Random) -> str:
    """Half of payments by card, a third by UPI, the rest by bank transfer."""
    roll = rng.random()
    return "CARD" if roll < 0.5 else "UPI" if roll < 0.85 else "BANK_TRANSFER"


def _first_delay(rng: random.Random) -> int:
    """Days between the order and its first payment attempt."""
    roll = rng.random()
    if roll < 0.45:
        return 0
    if roll < 0.65:
        return 1
    if roll < 0.75:
        return 2
    return _uniform_int(rng, 3, MAX_PAYMENT_DELAY_DAYS)


def _later(delay: int, rng: random.Random, most: int = 3) -> int:
    return min(MAX_PAYMENT_DELAY_DAYS, delay + _uniform_int(rng, 0, most))


def _payment_plan(rng: random.Random, status: str, cents: int) -> list[tuple[int, str, int, str]]:
    """How one order gets paid: (delay in days, payment status, cents, method) per payment."""
    roll = rng.random()
    if status == "CANCELLED":
        if roll < 0.88:
            return []
        return [(_first_delay(rng), "REFUNDED", cents, _pick_method(rng))]
    if status == "PENDING":
        if roll < 0.5:
            return []
        if roll < 0.85:
            part = max(1, cents * _uniform_int(rng, 20, 80) // 100)
            return [(_first_delay(rng), "SUCCESS", part, _pick_method(rng))]
        return [(_first_delay(rng), "FAILED", cents, _pick_method(rng))]
    return _completed_plan(rng, roll, cents)


def _completed_plan(rng: random.Random, roll: float, cents: int) -> list[tuple[int, str, int, str]]:
    """Payments of a completed order: usually one success, sometimes messier."""
    delay = _first_delay(rng)
    method = _pick_method(rng)
    if roll < 0.05:
        return []
    if roll < 0.15:
        return [(delay, "FAILED", cents, method), (_later(delay, rng, 2), "SUCCESS", cents, method)]
    if roll < 0.25:
        return _installments(rng, delay, cents)
    if roll < 0.27:
        return [(delay, "REFUNDED", cents, method)]
    if roll < 0.28:
        return [(delay, "SUCCESS", cents, method), (delay, "SUCCESS", cents, method)]
    return [(delay, "SUCCESS", cents, method)]


def _installments(rng: random.Random, delay: int, cents: int) -> list[tuple[int, str, int, str]]:
    """The order amount split into 2 or 3 successful payments on successive dates."""
    parts = min(rng.randint(2, 3), cents)
    cuts = sorted(rng.sample(range(1, cents), parts - 1))
    bounds = [0, *cuts, cents]
    plan = []
    for index in range(parts):
        plan.append((delay, "SUCCESS", bounds[index + 1] - bounds[index], "BANK_TRANSFER"))
        delay = _later(delay, rng, 4)
    return plan


def _payments_due(
    config: GenerateConfig, order_day: date, payment_day: date
) -> Iterator[tuple[int, int, str, str]]:
    """(order id, cents, status, method) of payments on ``payment_day`` for one day's orders."""
    orders = _order_day(config, order_day)
    rng = _rng(config, PAYMENTS.name, order_day, "plan")
    delay = (payment_day - order_day).days
    for index, (status, cents) in enumerate(zip(orders.statuses, orders.cents, strict=True)):
        for payment_delay, payment_status, amount, method in _payment_plan(rng, status, cents):
            if payment_delay == delay:
                yield orders.first_id + index, amount, payment_status, method


def _orphan_payment(rng: random.Random, day: date) -> tuple[int, int, str, str]:
    """A payment for an order id that no order drop will ever contain."""
    order_day = day - timedelta(days=rng.randint(0, ORPHAN_LOOKBACK_DAYS))
    order_id = (
        _id_block(order_day) + ORPHAN_ORDER_OFFSET + rng.randrange(ID_BLOCK - ORPHAN_ORDER_OFFSET)
    )
    roll = rng.random()
    status = "SUCCESS" if roll < 0.85 else "FAILED" if roll < 0.95 else "REFUNDED"
    return order_id, rng.randint(500, 200_000), status, _pick_method(rng)


def _payment_rows(config: GenerateConfig, day: date) -> list[list[str]]:
    """Clean payment rows dated ``day``: those due for the last ten days' orders, plus orphans."""
    first_order_day = max(config.start, day - timedelta(days=MAX_PAYMENT_DELAY_DAYS))
    records: list[tuple[int, int, str, str]] = []
    order_day = first_order_day
    while order_day <= day:
        records.extend(_payments_due(config, order_day, day))
        order_day += timedelta(days=1)
    rng = _rng(config, PAYMENTS.name, day, "orphans")
    orphans = _stochastic_round(max(len(records), 1) * ORPHAN_PAYMENT_SHARE, rng)
    records = _insert_at(
        records, [(rng.randint(0, len(records)), _orphan_payment(rng, day)) for _ in range(orphans)]
    )
    first_id = _id_block(day) + 1
    iso = day.isoformat()
    return [
        [f"P{first_id + index}", str(order_id), iso, _money(cents), status, method]
        for index, (order_id, cents, status, method) in enumerate(records)
    ]


# --- expenses and budgets -------------------------------------------------------------


def _expense_scale_pct(config: GenerateConfig) -> int:
    """Expense amounts in percent of the reference table, growing with the order volume.

    At 40 orders a day costs run at roughly three quarters of collected revenue, so most
    months make a profit and some do not. The growth stops where a department's monthly
    budget would approach the contract's 10,000,000.00 ceiling.
    """
    return max(1, min(MAX_EXPENSE_SCALE_PCT, config.orders_per_day * 3 // 2))


def _expense_rows(config: GenerateConfig, day: date) -> list[list[str]]:
    """A handful of expenses filed that day across departments."""
    rng = _rng(config, EXPENSES.name, day, "rows")
    scale_pct = _expense_scale_pct(config)
    first_id = _id_block(day) + 1
    iso = day.isoformat()
    rows = []
    for index in range(rng.randint(*EXPENSES_PER_DAY)):
        department = rng.choices(DEPARTMENTS, _DEPARTMENT_WEIGHTS)[0]
        category, low, high = rng.choice(_DEPARTMENT_SPEND[department][1])
        cents = max(1, rng.randint(low, high) * scale_pct // 100)
        rows.append([str(first_id + index), department, iso, category, _money(cents)])
    return rows


def _expected_monthly_spend(department: str, month: date, scale_pct: int) -> int:
    """Cents a department is expected to spend in a month, given the expense mix."""
    weight, categories = _DEPARTMENT_SPEND[department]
    mean_cents = sum((low + high) // 2 for _, low, high in categories) // len(categories)
    days = calendar.monthrange(month.year, month.month)[1]
    expenses_twice = days * sum(EXPENSES_PER_DAY)
    return expenses_twice * weight * mean_cents * scale_pct // (2 * sum(_DEPARTMENT_WEIGHTS) * 100)


def _budget_rows(config: GenerateConfig, month: date) -> list[list[str]]:
    """One budget per department for the month, 25% below to 35% above expected spend."""
    rng = _rng(config, BUDGETS.name, month, "rows")
    scale_pct = _expense_scale_pct(config)
    iso = month.isoformat()
    rows = []
    for department in DEPARTMENTS:
        expected = _expected_monthly_spend(department, month, scale_pct)
        rows.append([department, iso, _money(max(1, expected * rng.randint(75, 135) // 100))])
    return rows


# --- valid but untidy values ----------------------------------------------------------


def _untidy_value(column: str, value: str, rng: random.Random) -> str:
    """A different spelling of a valid value that the contract still accepts."""
    kind = _COLUMN_KIND[column]
    if kind == "date":
        return value.replace("-", "/")
    if kind == "month":
        return value[:7]
    if kind == "prefixed_id":
        return value.lower()
    if kind == "enum":
        return value.lower() if rng.random() < 0.5 else value.title()
    if kind == "amount":
        if value.endswith(".00"):
            return value[:-3]
        if value.endswith("0"):
            return value[:-1]
    return f" {value} "


def _add_untidy_values(rows: list[list[str]], dataset: Dataset, rng: random.Random) -> None:
    """Respell one field in a small share of rows, as real exports do."""
    if not rows:
        return
    count = min(len(rows), _stochastic_round(len(rows) * _MESSY_SHARE[dataset.name], rng))
    for index in rng.sample(range(len(rows)), count):
        column = rng.randrange(len(dataset.columns))
        row = rows[index]
        row[column] = _untidy_value(dataset.columns[column], row[column], rng)


# --- deliberately broken rows ---------------------------------------------------------


class _MalformedRow(list):
    """A row that reaches the file with one field too many or one too few."""

    extra_field: bool = True


@dataclass
class _DirtyFolder:
    """A folder's rows after breaking some: the main rows and the rows of the partial file."""

    rows: list[list[str]]
    partial_rows: list[list[str]]
    dropped_column: int


def _bad_value(dataset: Dataset, reason: str, column: str, day: date, rng: random.Random) -> str:
    """A value of ``column`` that fails exactly the rule ``reason``."""
    if reason == "date_outside_partition":
        if dataset.is_monthly:
            return _add_months(day, rng.choice((-1, 1))).isoformat()
        return (day + timedelta(days=rng.choice((-3, -2, -1, 1, 2)))).isoformat()
    choices = _BAD_VALUES.get(column) or _BAD_VALUES[_COLUMN_KIND[column]]
    return rng.choice(choices)


def _nominal_rows(dataset: Dataset, config: GenerateConfig) -> float:
    """Rows a typical folder of the dataset holds, used to pace the dirt across folders."""
    if dataset is ORDERS:
        return float(config.orders_per_day)
    if dataset is PAYMENTS:
        return config.orders_per_day * PAYMENTS_PER_ORDER
    if dataset is EXPENSES:
        return sum(EXPENSES_PER_DAY) / 2
    return float(len(DEPARTMENTS))


def _period_index(dataset: Dataset, day: date) -> int:
    """Days (months for budgets) since the id epoch: the folder's place in the dirt cycle."""
    if dataset.is_monthly:
        return (day.year - ID_EPOCH.year) * 12 + day.month - ID_EPOCH.month
    return (day - ID_EPOCH).days


def _dirty_kinds(dataset: Dataset, day: date, per_folder: float, available: int) -> list[str]:
    """The reason codes illustrated by this folder's broken rows.

    All folders share one endless cycle through the dataset's reason codes, paced by the
    expected number of broken rows per folder. Any run of folders whose broken rows add up
    to the number of codes therefore shows every code, even when a single folder gets less
    than one broken row on average.
    """
    index = _period_index(dataset, day)
    first = math.floor(index * per_folder)
    count = min(available, math.floor((index + 1) * per_folder) - first)
    kinds = DIRTY_KINDS[dataset.name]
    return [kinds[(first + i) % len(kinds)] for i in range(count)]


def _break_rows(
    rows: list[list[str]], dataset: Dataset, day: date, kinds: list[str], rng: random.Random
) -> _DirtyFolder:
    """Break rows in place, one per reason code in ``kinds``, and add the duplicates."""
    dropped_column = rng.randrange(len(dataset.columns))
    if not rows or not kinds:
        return _DirtyFolder(rows, [], dropped_column)
    to_break = [kind for kind in kinds if kind != "duplicate"]
    broken = rng.sample(range(len(rows)), min(len(to_break), len(rows)))
    partial_indexes = set()
    for index, kind in zip(broken, to_break, strict=False):
        if kind == "missing_column":
            partial_indexes.add(index)
        else:
            rows[index] = _broken_row(rows[index], dataset, day, kind, rng)
    duplicates = _duplicates(rows, set(broken), kinds.count("duplicate"), rng)
    if not partial_indexes:
        return _DirtyFolder(_insert_at(rows, duplicates), [], dropped_column)
    partial = [rows[i] for i in sorted(partial_indexes)]
    kept = [row for i, row in enumerate(rows) if i not in partial_indexes]
    shift = _removed_before(partial_indexes)
    moved = [(position - shift(position), row) for position, row in duplicates]
    return _DirtyFolder(_insert_at(kept, moved), partial, dropped_column)


def _broken_row(
    row: list[str], dataset: Dataset, day: date, kind: str, rng: random.Random
) -> list[str]:
    """``row`` broken so that silver rejects it with reason ``kind``."""
    if kind == "malformed_row":
        malformed = _MalformedRow(row)
        malformed.extra_field = rng.random() < 0.5
        return malformed
    column = dict(dataset.rule_reasons())[kind]
    row[dataset.columns.index(column)] = _bad_value(dataset, kind, column, day, rng)
    return row


def _duplicates(
    rows: list[list[str]], broken: set[int], count: int, rng: random.Random
) -> list[tuple[int, list[str]]]:
    """Copies of valid rows, each to be placed somewhere after its original."""
    candidates = len(rows) - len(broken)
    copies = []
    for _ in range(min(count, candidates)):
        source = rng.randrange(len(rows))
        while source in broken:
            source = rng.randrange(len(rows))
        copies.append((rng.randint(source + 1, len(rows)), list(rows[source])))
    return copies


def _removed_before(removed: set[int]) -> Callable[[int], int]:
    """How many removed positions precede a position, for re-aiming insertions."""
    ordered = sorted(removed)
    return lambda position: bisect.bisect_left(ordered, position)


# --- files ----------------------------------------------------------------------------


@dataclass(frozen=True)
class _FileFormat:
    """How one upstream export writes its file. ``-1`` in ``order`` is the extra column."""

    order: tuple[int, ...]
    header_style: str
    extra: str | None
    line_end: str
    bom: bool
    quote_all: bool
    blank_lines: int


def _pick_format(
    rng: random.Random, dataset: Dataset, dropped_column: int | None = None
) -> _FileFormat:
    order = [i for i in range(len(dataset.columns)) if i != dropped_column]
    if rng.random() < 0.25:
        rng.shuffle(order)
    extra = rng.choice(_EXTRA_COLUMNS[dataset.name]) if rng.random() < 0.3 else None
    if extra:
        order.insert(rng.randint(0, len(order)), -1)
    return _FileFormat(
        order=tuple(order),
        header_style=rng.choices(_HEADER_STYLES, _HEADER_STYLE_WEIGHTS)[0],
        extra=extra,
        line_end="\r\n" if rng.random() < 0.3 else "\n",
        bom=rng.random() < 0.2,
        quote_all=rng.random() < 0.15,
        blank_lines=rng.randint(1, 3) if rng.random() < 0.15 else 0,
    )


def _header_name(name: str, style: str) -> str:
    if style == "title":
        return name.replace("_", " ").title()
    if style == "upper":
        return name.upper()
    if style == "kebab":
        return name.replace("_", "-")
    if style == "padded":
        return f" {name} "
    return name


def _header(dataset: Dataset, fmt: _FileFormat) -> list[str]:
    names = [dataset.columns[i] if i >= 0 else str(fmt.extra) for i in fmt.order]
    return [_header_name(name, fmt.header_style) for name in names]


def _shaped_rows(
    rows: Sequence[list[str]], fmt: _FileFormat, rng: random.Random
) -> Iterator[list[str]]:
    """Rows in the file's column order, with its extra column, malformed rows mangled."""
    order = fmt.order
    fill, values = _EXTRA_VALUES[fmt.extra] if fmt.extra else (0.0, ("",))
    random_ = rng.random
    choice = rng.choice
    for row in rows:
        shaped = [row[i] if i >= 0 else (choice(values) if random_() < fill else "") for i in order]
        if type(row) is _MalformedRow:
            if row.extra_field:
                shaped.append("")
            else:
                shaped.pop()
        yield shaped


def _render(
    dataset: Dataset, fmt: _FileFormat, rows: Sequence[list[str]], rng: random.Random
) -> bytes:
    """The bytes of one CSV file as the upstream export would write them."""
    buffer = io.StringIO()
    quoting = csv.QUOTE_ALL if fmt.quote_all else csv.QUOTE_MINIMAL
    writer = csv.writer(buffer, lineterminator=fmt.line_end, quoting=quoting)
    writer.writerow(_header(dataset, fmt))
    shaped = _shaped_rows(rows, fmt, rng)
    if fmt.blank_lines and len(rows) > 1:
        cuts = sorted(rng.sample(range(1, len(rows)), min(fmt.blank_lines, len(rows) - 1)))
        previous = 0
        for cut in cuts:
            writer.writerows(itertools.islice(shaped, cut - previous))
            buffer.write(fmt.line_end)
            previous = cut
    writer.writerows(shaped)
    text = buffer.getvalue()
    return (("\ufeff" + text) if fmt.bom else text).encode("utf-8")


def _split(rows: list[list[str]], parts: int, rng: random.Random) -> list[list[list[str]]]:
    """Rows cut into ``parts`` contiguous, unevenly sized files."""
    parts = min(parts, len(rows))
    if parts <= 1:
        return [rows] if rows else []
    cuts = sorted(rng.sample(range(1, len(rows)), parts - 1))
    bounds = [0, *cuts, len(rows)]
    return [rows[bounds[i] : bounds[i + 1]] for i in range(parts)]


def _write_folder(
    root: str,
    dataset: Dataset,
    day: date,
    rows: list[list[str]],
    config: GenerateConfig,
    s3: S3Options | None,
) -> int:
    """Untidy, break and split one folder's rows into files and write them; return rows written."""
    if (dataset.name, day) in config.empty_folders:
        return _write_empty_folder(root, dataset, day)
    rng = _rng(config, dataset.name, day, "files")
    _add_untidy_values(rows, dataset, rng)
    per_folder = _nominal_rows(dataset, config) * config.dirty_rate
    kinds = _dirty_kinds(dataset, day, per_folder, len(rows))
    folder = _break_rows(rows, dataset, day, kinds, rng)
    files = [
        (chunk, _pick_format(rng, dataset))
        for chunk in _split(folder.rows, config.files_per_folder, rng)
    ]
    if folder.partial_rows:
        files.append((folder.partial_rows, _pick_format(rng, dataset, folder.dropped_column)))
    stamp = day.strftime("%Y%m%d")
    for number, (chunk, fmt) in enumerate(files, start=1):
        uri = join_uri(
            root, dataset.name, day.isoformat(), f"{dataset.name}_{stamp}_{number:03d}.csv"
        )
        write_bytes(uri, _render(dataset, fmt, chunk, rng), s3)
    return sum(len(chunk) for chunk, _ in files)


def _write_empty_folder(root: str, dataset: Dataset, day: date) -> int:
    """A drop folder without files (on S3 there is no folder without an object: nothing)."""
    if not is_s3(root):
        local_path(join_uri(root, dataset.name, day.isoformat())).mkdir(parents=True, exist_ok=True)
    return 0
