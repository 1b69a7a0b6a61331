"""Landing a seed-style monolithic CSV splits it into drop folders by business date."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest

from finance_assets.landing.land import land_file, parse_partition_date

ORDERS_RAW = (
    "\ufeffOrder ID, order-date ,Customer_ID,Product Category,Order Amount,ORDER_STATUS\r\n"
    "1,2024-01-01,C8270,Furniture,4758.5,COMPLETED\r\n"
    '2,2024/01/02,C11,"Home, Garden",12.00,PENDING\r\n'
    "\r\n"
    '3,2024-01-01,C12,"Note ""quoted""",7.25,CANCELLED\r\n'
    '4,2024-01-02,C13,"two\nlines",100,COMPLETED\r\n'
    "5,2024-01-03,C14,Books,$5,completed,extra\r\n"
)


def _read(path: Path) -> list[list[str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.reader(handle))


def test_orders_are_split_by_order_date(tmp_path: Path) -> None:
    source = tmp_path / "orders_raw.csv"
    source.write_bytes(ORDERS_RAW.encode("utf-8"))
    landing = tmp_path / "landing"

    counts = land_file(source, "orders", str(landing))

    assert counts == {"2024-01-01": 2, "2024-01-02": 2, "2024-01-03": 1}
    assert sorted(p.name for p in (landing / "orders").iterdir()) == list(counts)
    header = [
        "Order ID",
        " order-date ",
        "Customer_ID",
        "Product Category",
        "Order Amount",
        "ORDER_STATUS",
    ]
    first = landing / "orders" / "2024-01-01" / "orders_raw.csv"
    assert _read(first) == [
        header,
        ["1", "2024-01-01", "C8270", "Furniture", "4758.5", "COMPLETED"],
        ["3", "2024-01-01", "C12", 'Note "quoted"', "7.25", "CANCELLED"],
    ]
    second = _read(landing / "orders" / "2024-01-02" / "orders_raw.csv")
    assert second[1:] == [
        ["2", "2024/01/02", "C11", "Home, Garden", "12.00", "PENDING"],
        ["4", "2024-01-02", "C13", "two\nlines", "100", "COMPLETED"],
    ]
    third = _read(landing / "orders" / "2024-01-03" / "orders_raw.csv")
    assert third[1] == ["5", "2024-01-03", "C14", "Books", "$5", "completed", "extra"]


def test_output_is_utf8_with_lf_and_no_bom(tmp_path: Path) -> None:
    source = tmp_path / "orders_raw.csv"
    source.write_bytes(ORDERS_RAW.encode("utf-8"))
    land_file(source, "orders", str(tmp_path / "landing"))

    data = (tmp_path / "landing" / "orders" / "2024-01-02" / "orders_raw.csv").read_bytes()
    assert not data.startswith(b"\xef\xbb\xbf")
    assert b"\r" not in data
    assert data.startswith(b"Order ID, order-date ,")


def test_relanding_replaces_instead_of_adding(tmp_path: Path) -> None:
    source = tmp_path / "orders_raw.csv"
    source.write_bytes(ORDERS_RAW.encode("utf-8"))
    landing = tmp_path / "landing"
    land_file(source, "orders", str(landing))
    first = {p: p.read_bytes() for p in landing.rglob("*.csv")}

    land_file(source, "orders", str(landing))

    assert {p: p.read_bytes() for p in landing.rglob("*.csv")} == first


def test_budgets_go_to_first_of_month_folders(tmp_path: Path) -> None:
    source = tmp_path / "budgets_raw.csv"
    source.write_text(
        "Department,Month,Budget Amount\n"
        "IT,2024-01-01,17767.25\n"
        "Sales,2024-01,9000.00\n"
        "HR,2024-02,1200.50\n",
        encoding="utf-8",
    )

    counts = land_file(source, "budgets", tmp_path / "landing")

    assert counts == {"2024-01-01": 2, "2024-02-01": 1}
    january = _read(tmp_path / "landing" / "budgets" / "2024-01-01" / "budgets_raw.csv")
    assert january == [
        ["Department", "Month", "Budget Amount"],
        ["IT", "2024-01-01", "17767.25"],
        ["Sales", "2024-01", "9000.00"],
    ]


@pytest.mark.parametrize(
    ("dataset", "text", "row", "value"),
    [
        (
            "payments",
            "payment_id,order_id,payment_date,paid_amount,payment_status,payment_method\n"
            "P1,2,2024-12-14,279.93,SUCCESS,UPI\n\n"
            "P2,3,2024-12-15,10.00,FAILED,CARD\n"
            "P3,4,14/12/2024,10.00,SUCCESS,CARD\n",
            "data row 3",
            "'14/12/2024'",
        ),
        (
            "expenses",
            "expense_id,department,expense_date,expense_category,expense_amount\n"
            "1,IT,2024-02-30,Software,19856.88\n",
            "data row 1",
            "'2024-02-30'",
        ),
        (
            "budgets",
            "department,month,budget_amount\nIT,2024-01-01,1.00\nHR,2024-01-15,2.00\n",
            "data row 2",
            "'2024-01-15'",
        ),
        (
            "orders",
            "order_id,order_date,customer_id\n1,2024-01-01,C1\n2\n",
            "data row 2",
            "no value",
        ),
    ],
)
def test_unreadable_date_names_file_row_and_value(
    tmp_path: Path, dataset: str, text: str, row: str, value: str
) -> None:
    source = tmp_path / f"{dataset}_raw.csv"
    source.write_text(text, encoding="utf-8")
    landing = tmp_path / "landing"

    with pytest.raises(ValueError) as error:
        land_file(source, dataset, str(landing))

    message = str(error.value)
    assert str(source) in message
    assert row in message
    assert value in message
    assert not landing.exists()


def test_missing_date_column_is_an_error(tmp_path: Path) -> None:
    source = tmp_path / "expenses_raw.csv"
    source.write_text("expense_id,department,amount\n1,IT,5.00\n", encoding="utf-8")
    with pytest.raises(ValueError, match="expense_date"):
        land_file(source, "expenses", str(tmp_path / "landing"))


def test_unknown_dataset_is_an_error(tmp_path: Path) -> None:
    source = tmp_path / "x.csv"
    source.write_text("a\n", encoding="utf-8")
    with pytest.raises(ValueError, match="Unknown dataset"):
        land_file(source, "invoices", str(tmp_path / "landing"))


def test_header_only_file_lands_nothing(tmp_path: Path) -> None:
    source = tmp_path / "budgets_raw.csv"
    source.write_text("department,month,budget_amount\n", encoding="utf-8")
    assert land_file(source, "budgets", str(tmp_path / "landing")) == {}


def test_many_partitions_stream_through_a_bounded_number_of_open_files(tmp_path: Path) -> None:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(
        ["expense_id", "department", "expense_date", "expense_category", "expense_amount"]
    )
    days = [f"2024-{month:02d}-{day:02d}" for month in range(1, 13) for day in range(1, 29)]
    for number in range(1, 3 * len(days) + 1):
        writer.writerow([number, "IT", days[(number * 5) % len(days)], "Software", "1.00"])
    source = tmp_path / "expenses_raw.csv"
    source.write_text(buffer.getvalue(), encoding="utf-8")

    counts = land_file(source, "expenses", str(tmp_path / "landing"))

    assert len(counts) == len(days)
    assert set(counts.values()) == {3}
    assert len(_read(tmp_path / "landing" / "expenses" / "2024-06-15" / "expenses_raw.csv")) == 4


@pytest.mark.parametrize(
    ("value", "monthly", "expected"),
    [
        ("2024-01-31", False, "2024-01-31"),
        (" 2024/02/29 ", False, "2024-02-29"),
        ("2024/02-29", False, None),
        ("2023-02-29", False, None),
        ("2024-1-5", False, None),
        ("2024-03", True, "2024-03-01"),
        ("2024-03-01", True, "2024-03-01"),
        ("2024-03-02", True, None),
        ("2024-13", True, None),
    ],
)
def test_partition_date_formats(value: str, monthly: bool, expected: str | None) -> None:
    parsed = parse_partition_date(value, monthly)
    assert (parsed.isoformat() if parsed else None) == expected


def test_lands_from_and_to_s3(monkeypatch: pytest.MonkeyPatch) -> None:
    boto3 = pytest.importorskip("boto3")
    moto = pytest.importorskip("moto")
    from finance_assets.landing.zone import S3Options

    for name in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with moto.mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket="landing-test")
        client.put_object(
            Bucket="landing-test", Key="raw/orders_raw.csv", Body=ORDERS_RAW.encode("utf-8")
        )

        counts = land_file(
            "s3://landing-test/raw/orders_raw.csv",
            "orders",
            "s3://landing-test/drops",
            S3Options(region="us-east-1"),
        )

        body = client.get_object(
            Bucket="landing-test", Key="drops/orders/2024-01-01/orders_raw.csv"
        )["Body"].read()
    assert counts == {"2024-01-01": 2, "2024-01-02": 2, "2024-01-03": 1}
    assert body.decode("utf-8").splitlines()[1] == "1,2024-01-01,C8270,Furniture,4758.5,COMPLETED"
