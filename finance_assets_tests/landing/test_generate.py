"""The landing generator: deterministic, contract-shaped drops with every kind of dirt.

The tests re-read the generated files with the csv module and judge each row with a small
reference reading of contract section 3, independent of the silver implementation.
"""

from __future__ import annotations

import csv
import io
import re
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from finance_assets.landing.generate import GenerateConfig, generate

# The contract's columns and keys as the benchmark baselines read them, not the product.
from finance_assets_tests.support.oracle import COLUMNS as REQUIRED
from finance_assets_tests.support.oracle import KEYS

ORDER_STATUSES = {"COMPLETED", "PENDING", "CANCELLED"}
PAYMENT_STATUSES = {"SUCCESS", "FAILED", "REFUNDED"}
PAYMENT_METHODS = {"CARD", "UPI", "BANK_TRANSFER"}
DEPARTMENTS = {"IT", "SALES", "HR", "MARKETING", "OPERATIONS", "FINANCE"}

_ID = re.compile(r"^\d{1,18}$")
_PAYMENT_ID = re.compile(r"^[Pp]\d{1,18}$")
_CUSTOMER_ID = re.compile(r"^[Cc]\d+$")
_DAY = re.compile(r"^(\d{4})([-/])(\d{2})\2(\d{2})$")
_MONTH = re.compile(r"^(\d{4})-(\d{2})(?:-01)?$")
_AMOUNT = re.compile(r"^-?\d+(\.\d{1,2})?$")


def _day(value: str) -> date | None:
    match = _DAY.match(value)
    try:
        return date(int(match[1]), int(match[3]), int(match[4])) if match else None
    except ValueError:
        return None


def _month(value: str) -> date | None:
    match = _MONTH.match(value)
    try:
        return date(int(match[1]), int(match[2]), 1) if match else None
    except ValueError:
        return None


def _id_ok(value: str) -> bool:
    return bool(_ID.match(value)) and int(value) > 0


def _amount_ok(value: str) -> bool:
    return bool(_AMOUNT.match(value)) and Decimal(0) < Decimal(value) <= Decimal("10000000.00")


Rule = tuple[str, str, Callable[[str, date], bool]]

RULES: dict[str, tuple[Rule, ...]] = {
    "orders": (
        ("invalid_order_id", "order_id", lambda v, d: _id_ok(v)),
        ("invalid_date", "order_date", lambda v, d: _day(v) is not None),
        ("date_outside_partition", "order_date", lambda v, d: _day(v) == d),
        ("invalid_customer_id", "customer_id", lambda v, d: bool(_CUSTOMER_ID.match(v))),
        ("invalid_category", "product_category", lambda v, d: v != ""),
        ("invalid_amount", "order_amount", lambda v, d: _amount_ok(v)),
        ("invalid_status", "order_status", lambda v, d: v.upper() in ORDER_STATUSES),
    ),
    "payments": (
        ("invalid_payment_id", "payment_id", lambda v, d: bool(_PAYMENT_ID.match(v))),
        ("invalid_order_id", "order_id", lambda v, d: _id_ok(v)),
        ("invalid_date", "payment_date", lambda v, d: _day(v) is not None),
        ("date_outside_partition", "payment_date", lambda v, d: _day(v) == d),
        ("invalid_amount", "paid_amount", lambda v, d: _amount_ok(v)),
        ("invalid_status", "payment_status", lambda v, d: v.upper() in PAYMENT_STATUSES),
        ("invalid_method", "payment_method", lambda v, d: v.upper() in PAYMENT_METHODS),
    ),
    "expenses": (
        ("invalid_expense_id", "expense_id", lambda v, d: _id_ok(v)),
        ("invalid_department", "department", lambda v, d: v.upper() in DEPARTMENTS),
        ("invalid_date", "expense_date", lambda v, d: _day(v) is not None),
        ("date_outside_partition", "expense_date", lambda v, d: _day(v) == d),
        ("invalid_category", "expense_category", lambda v, d: v != ""),
        ("invalid_amount", "expense_amount", lambda v, d: _amount_ok(v)),
    ),
    "budgets": (
        ("invalid_department", "department", lambda v, d: v.upper() in DEPARTMENTS),
        ("invalid_date", "month", lambda v, d: _month(v) is not None),
        ("date_outside_partition", "month", lambda v, d: _month(v) == d),
        ("invalid_amount", "budget_amount", lambda v, d: _amount_ok(v)),
    ),
}
REASONS = {
    name: {"malformed_row", "missing_column", "duplicate", *(r[0] for r in rules)}
    for name, rules in RULES.items()
}


@dataclass
class Row:
    """One data row as bronze would see it, with the reason silver would give it."""

    file: str
    folder: date
    number: int
    values: dict[str, str]
    reason: str | None = None


@dataclass
class DropFile:
    path: Path
    folder: date
    raw: bytes
    header: list[str]
    rows: list[list[str]]


def _normalize(name: str) -> str:
    return re.sub(r"[ \-]", "_", name.strip().lower())


def read_files(root: Path, dataset: str) -> list[DropFile]:
    """Every drop file of a dataset in (folder, file name) order, parsed by the csv module."""
    files = []
    for path in sorted((root / dataset).glob("*/*.csv")):
        raw = path.read_bytes()
        text = raw.decode("utf-8-sig")
        parsed = [row for row in csv.reader(io.StringIO(text, newline="")) if row]
        files.append(
            DropFile(path, date.fromisoformat(path.parent.name), raw, parsed[0], parsed[1:])
        )
    return files


def judge(root: Path, dataset: str) -> list[Row]:
    """Every row of a dataset with its silver reason (None when it would be accepted)."""
    judged: list[Row] = []
    accepted: dict[date, set[tuple[str, ...]]] = defaultdict(set)
    for drop in read_files(root, dataset):
        header = [_normalize(name) for name in drop.header]
        missing = set(REQUIRED[dataset]) - set(header)
        for number, fields in enumerate(drop.rows, start=1):
            row = Row(drop.path.name, drop.folder, number, {})
            judged.append(row)
            if len(fields) != len(header):
                row.reason = "malformed_row"
                continue
            row.values = {name: value.strip() for name, value in zip(header, fields, strict=True)}
            if missing:
                row.reason = "missing_column"
                continue
            row.reason = next(
                (
                    reason
                    for reason, column, ok in RULES[dataset]
                    if not ok(row.values[column], drop.folder)
                ),
                None,
            )
            if row.reason is None:
                key = _key(dataset, row.values)
                if key in accepted[drop.folder]:
                    row.reason = "duplicate"
                else:
                    accepted[drop.folder].add(key)
    return judged


def _key(dataset: str, values: dict[str, str]) -> tuple[str, ...]:
    if dataset == "budgets":
        return (values["department"].upper(), str(_month(values["month"])))
    if dataset == "payments":
        return (values["payment_id"].upper(),)
    return (str(int(values[KEYS[dataset][0]])),)


def _config(**overrides) -> GenerateConfig:
    settings = {"start": date(2024, 1, 1), "end": date(2024, 1, 5), "orders_per_day": 30}
    return GenerateConfig(**(settings | overrides))


def _snapshot(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


@pytest.fixture(scope="module")
def clean_landing(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three weeks of drops without deliberate dirt."""
    root = tmp_path_factory.mktemp("clean")
    generate(str(root), _config(end=date(2024, 1, 21), dirty_rate=0.0, files_per_folder=3))
    return root


@pytest.fixture(scope="module")
def dirty_landing(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Four months of small drops with half of the rows broken."""
    root = tmp_path_factory.mktemp("dirty")
    generate(str(root), _config(end=date(2024, 4, 30), orders_per_day=6, dirty_rate=0.5))
    return root


def test_same_config_gives_identical_bytes(tmp_path: Path) -> None:
    generate(str(tmp_path / "a"), _config())
    generate(str(tmp_path / "b"), _config())
    generate(str(tmp_path / "c"), _config(seed=8))

    first = _snapshot(tmp_path / "a")
    assert first == _snapshot(tmp_path / "b")
    other = _snapshot(tmp_path / "c")
    assert first != other
    assert first["orders/2024-01-01/orders_20240101_001.csv"] != other.get(
        "orders/2024-01-01/orders_20240101_001.csv"
    )


def test_a_day_is_identical_whatever_range_it_was_generated_in(tmp_path: Path) -> None:
    generate(str(tmp_path / "long"), _config(start=date(2024, 1, 1), end=date(2024, 1, 20)))
    generate(str(tmp_path / "short"), _config(start=date(2024, 1, 15), end=date(2024, 1, 16)))

    long, short = _snapshot(tmp_path / "long"), _snapshot(tmp_path / "short")
    for path, data in short.items():
        if not path.startswith("payments/"):
            assert long[path] == data, path


def test_an_empty_folder_leaves_every_other_folder_as_it_was(tmp_path: Path) -> None:
    """A day whose expenses did not land: an empty expenses folder, no rows counted for it,
    and every other file byte for byte as without the gap."""
    gap = date(2024, 1, 3)
    generate(str(tmp_path / "full"), _config())
    counts = generate(str(tmp_path / "gap"), _config(empty_folders={("expenses", gap)}))

    full, with_gap = _snapshot(tmp_path / "full"), _snapshot(tmp_path / "gap")
    missing = {path for path in full if path.startswith(f"expenses/{gap}/")}
    assert missing and set(with_gap) == set(full) - missing
    assert all(full[path] == data for path, data in with_gap.items())
    folder = tmp_path / "gap" / "expenses" / gap.isoformat()
    assert folder.is_dir() and not any(folder.iterdir())
    assert counts["expenses"] == sum(len(f.rows) for f in read_files(tmp_path / "gap", "expenses"))
    assert counts["expenses"] < sum(len(f.rows) for f in read_files(tmp_path / "full", "expenses"))


def test_layout_follows_the_contract(tmp_path: Path) -> None:
    config = _config(start=date(2024, 1, 30), end=date(2024, 3, 2), files_per_folder=3)
    counts = generate(str(tmp_path), config)

    days = {(config.start + timedelta(days=n)).isoformat() for n in range(33)}
    for dataset in ("orders", "payments", "expenses"):
        folders = {p.name for p in (tmp_path / dataset).iterdir()}
        assert folders <= days
        assert dataset == "payments" or folders == days
    assert {p.name for p in (tmp_path / "budgets").iterdir()} == {
        "2024-01-01",
        "2024-02-01",
        "2024-03-01",
    }
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert path.suffix == ".csv"
            assert path.parent.parent.parent == tmp_path
            assert len(list(path.parent.iterdir())) <= config.files_per_folder + 1
    for dataset, rows in counts.items():
        assert rows == sum(len(f.rows) for f in read_files(tmp_path, dataset)), dataset


def test_clean_generation_has_only_valid_rows(clean_landing: Path) -> None:
    for dataset in REQUIRED:
        rows = judge(clean_landing, dataset)
        assert rows, dataset
        rejected = Counter(row.reason for row in rows if row.reason)
        assert not rejected, (dataset, rejected)


def test_every_reason_code_appears(dirty_landing: Path) -> None:
    for dataset in REQUIRED:
        found = {row.reason for row in judge(dirty_landing, dataset)} - {None}
        assert found == REASONS[dataset], dataset


def test_dirty_share_follows_the_rate(tmp_path: Path) -> None:
    generate(str(tmp_path), _config(end=date(2024, 1, 10), orders_per_day=200, dirty_rate=0.1))
    rows = judge(tmp_path, "orders")
    share = sum(1 for row in rows if row.reason) / len(rows)
    assert 0.07 < share < 0.13
    broken = [row for row in rows if row.reason]
    assert {"12,50", "$5.00", "-20.00"} & {row.values.get("order_amount") for row in broken}


def test_missing_column_rows_sit_in_their_own_file(dirty_landing: Path) -> None:
    for dataset in REQUIRED:
        for drop in read_files(dirty_landing, dataset):
            header = {_normalize(name) for name in drop.header}
            if not set(REQUIRED[dataset]) <= header:
                assert len(set(REQUIRED[dataset]) - header) == 1
                assert drop.path.name == sorted(p.name for p in drop.path.parent.iterdir())[-1]


def test_orders_look_like_the_seed(clean_landing: Path) -> None:
    rows = judge(clean_landing, "orders")
    categories = Counter(row.values["product_category"] for row in rows)
    assert {"Electronics", "Furniture", "Clothing", "Grocery", "Books", "Home, Garden"} <= set(
        categories
    )
    statuses = Counter(row.values["order_status"].upper() for row in rows)
    assert statuses["COMPLETED"] > statuses["PENDING"] > 0
    assert statuses["CANCELLED"] > 0
    assert all(re.fullmatch(r"\d+(\.\d{1,2})?", row.values["order_amount"]) for row in rows)
    two_decimals = sum(bool(re.fullmatch(r"\d+\.\d\d", row.values["order_amount"])) for row in rows)
    assert two_decimals / len(rows) > 0.97
    customers = Counter(row.values["customer_id"].upper() for row in rows)
    assert max(customers.values()) > 1


def test_order_ids_are_unique_and_grow_with_the_date(clean_landing: Path) -> None:
    by_day: dict[date, list[int]] = defaultdict(list)
    for row in judge(clean_landing, "orders"):
        by_day[row.folder].append(int(row.values["order_id"]))
    ids = [order_id for day in sorted(by_day) for order_id in sorted(by_day[day])]
    assert len(ids) == len(set(ids))
    days = sorted(by_day)
    assert all(max(by_day[a]) < min(by_day[b]) for a, b in zip(days, days[1:], strict=False))


def test_payments_arrive_later_and_vary(clean_landing: Path) -> None:
    orders = {int(row.values["order_id"]): row.folder for row in judge(clean_landing, "orders")}
    payments = judge(clean_landing, "payments")
    assert len({row.values["payment_id"].upper() for row in payments}) == len(payments)

    delays = Counter()
    per_order: dict[int, list[str]] = defaultdict(list)
    orphans = 0
    for row in payments:
        order_id = int(row.values["order_id"])
        if order_id not in orders:
            orphans += 1
            continue
        delays[(row.folder - orders[order_id]).days] += 1
        per_order[order_id].append(row.values["payment_status"].upper())

    assert orphans > 0
    assert min(delays) == 0
    assert max(delays) <= 10
    assert sum(count for delay, count in delays.items() if delay > 0) > 0
    assert any(statuses.count("SUCCESS") >= 2 for statuses in per_order.values())
    assert any(statuses[:2] == ["FAILED", "SUCCESS"] for statuses in per_order.values())
    assert any("REFUNDED" in statuses for statuses in per_order.values())
    assert len(per_order) < len(orders)
    methods = {row.values["payment_method"].upper() for row in payments}
    assert methods == PAYMENT_METHODS


def test_no_payment_is_dated_after_the_range(clean_landing: Path) -> None:
    folders = {p.name for p in (clean_landing / "payments").iterdir()}
    assert max(folders) <= "2024-01-21"


def test_expenses_and_budgets_cover_departments(clean_landing: Path) -> None:
    expenses = judge(clean_landing, "expenses")
    assert 2 * 21 <= len(expenses) <= 8 * 21
    assert {row.values["department"].upper() for row in expenses} == DEPARTMENTS
    budgets = judge(clean_landing, "budgets")
    assert sorted(row.values["department"].upper() for row in budgets) == sorted(DEPARTMENTS)


def test_files_vary_in_format(clean_landing: Path) -> None:
    drops = [drop for dataset in REQUIRED for drop in read_files(clean_landing, dataset)]
    raw = [drop.raw for drop in drops]
    assert any(data.startswith(b"\xef\xbb\xbf") for data in raw)
    assert any(b"\r\n" in data for data in raw)
    assert any(b"\r\n" not in data for data in raw)
    assert any(b"\n\n" in data or b"\r\n\r\n" in data for data in raw)
    assert any(b'"Home, Garden"' in data for data in raw)
    assert any(b'""' in data for data in raw)
    assert any(b'"call back\nafter 5 pm"' in data for data in raw)
    headers = [drop.header for drop in drops]
    assert any("Order Amount" in header for header in headers)
    assert any(header[0] != _normalize(header[0]) for header in headers)
    assert any({"note", "channel"} & {_normalize(h) for h in header} for header in headers)
    orders_orders = {
        tuple(_normalize(h) for h in d.header) for d in read_files(clean_landing, "orders")
    }
    assert len(orders_orders) > 2


def test_split_across_several_files(clean_landing: Path) -> None:
    sizes = Counter(len(list(folder.iterdir())) for folder in (clean_landing / "orders").iterdir())
    assert sizes == {3: 21}


def test_large_day_is_generated(tmp_path: Path) -> None:
    counts = generate(str(tmp_path), _config(end=date(2024, 1, 1), orders_per_day=20_000))
    assert 15_000 < counts["orders"] < 26_000
    assert counts["payments"] > 5_000


@pytest.mark.parametrize(
    "overrides",
    [
        {"start": date(2024, 1, 2), "end": date(2024, 1, 1)},
        {"orders_per_day": 0},
        {"dirty_rate": 1.5},
        {"files_per_folder": 0},
        {"customers": 0},
        {"empty_folders": {("refunds", date(2024, 1, 1))}},
    ],
)
def test_invalid_config_is_refused(overrides: dict) -> None:
    with pytest.raises(ValueError):
        _config(**overrides)


def test_generates_to_s3(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    boto3 = pytest.importorskip("boto3")
    moto = pytest.importorskip("moto")
    from finance_assets.landing.zone import S3Options

    for name in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    config = _config(end=date(2024, 1, 2), orders_per_day=5)
    local = generate(str(tmp_path), config)
    with moto.mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket="landing-test")
        counts = generate("s3://landing-test/drops/", config, S3Options(region="us-east-1"))
        objects = client.list_objects_v2(Bucket="landing-test")["Contents"]
        remote = {
            obj["Key"].removeprefix("drops/"): client.get_object(
                Bucket="landing-test", Key=obj["Key"]
            )["Body"].read()
            for obj in objects
        }
    assert counts == local
    assert remote == _snapshot(tmp_path)
