"""A hostile landing corpus: nothing is lost, nothing crashes, every problem is named.

One day's drop folders hold every reason code of every dataset, a binary file named .csv,
a 0-byte file, a header-only file, 1 MB fields, bytes that are not UTF-8, a row with
10,000 columns and a file whose header lacks a required column. After ``materialize``:
every bronze row is in exactly one of silver and quarantine, each quarantined row carries
its file, row and one reason, the run log names every file with rejected rows and its
first bad row, and the CLI exits 0 (bad rows are data, not failures).
"""

from __future__ import annotations

import contextlib
import io
import random
from pathlib import Path

import pytest

from finance_assets.cli import main
from finance_assets.contract import DATASETS
from finance_assets.lake.arrow import read_table

DAY = "2024-01-02"
OTHER_DAY = "2024-01-03"
MB = 1_000_000

ORDERS_HEADER = "order_id,order_date,customer_id,product_category,order_amount,order_status"


def _orders_every_reason() -> tuple[str, dict[int, str | None]]:
    rows = [
        (f"1,{DAY},C1,Books,10.00,COMPLETED", None),
        (f"2,{DAY},C2,Books,20.00,PENDING", None),
        (f"3,{DAY},C3,Toys,30.00,CANCELLED", None),
        (f"4,{DAY},C4,Books,10.00", "malformed_row"),
        (f"abc,{DAY},C5,Books,10.00,COMPLETED", "invalid_order_id"),
        ("5,2024-02-30,C5,Books,10.00,COMPLETED", "invalid_date"),
        (f"6,{OTHER_DAY},C6,Books,10.00,COMPLETED", "date_outside_partition"),
        (f"7,{DAY},X7,Books,10.00,COMPLETED", "invalid_customer_id"),
        (f"8,{DAY},C8,   ,10.00,COMPLETED", "invalid_category"),
        (f"9,{DAY},C9,Books,$5,COMPLETED", "invalid_amount"),
        (f"10,{DAY},C10,Books,10.00,SHIPPED", "invalid_status"),
        (f"1,{DAY},C1,Books,10.00,COMPLETED", "duplicate"),
    ]
    text = ORDERS_HEADER + "\n" + "\n".join(r for r, _ in rows) + "\n"
    return text, {i: reason for i, (_, reason) in enumerate(rows, start=1)}


PAYMENTS = (
    "payment_id,order_id,payment_date,paid_amount,payment_status,payment_method",
    [
        (f"P1,1,{DAY},10.00,SUCCESS,CARD", None),
        (f"P2,1,{DAY},10.00", "malformed_row"),
        (f"PAY-3,1,{DAY},10.00,SUCCESS,CARD", "invalid_payment_id"),
        (f"P4,x,{DAY},10.00,SUCCESS,CARD", "invalid_order_id"),
        ("P5,1,2024-13-01,10.00,SUCCESS,CARD", "invalid_date"),
        (f"P6,1,{OTHER_DAY},10.00,SUCCESS,CARD", "date_outside_partition"),
        (f"P7,1,{DAY},1e3,SUCCESS,CARD", "invalid_amount"),
        (f"P8,1,{DAY},10.00,PAID,CARD", "invalid_status"),
        (f"P9,1,{DAY},10.00,SUCCESS,CASH", "invalid_method"),
        (f"p1,1,{DAY},10.00,SUCCESS,CARD", "duplicate"),
    ],
)
EXPENSES = (
    "expense_id,department,expense_date,expense_category,expense_amount",
    [
        (f"1,IT,{DAY},Software,4.00", None),
        (f"2,IT,{DAY},Software", "malformed_row"),
        (f"0,IT,{DAY},Software,4.00", "invalid_expense_id"),
        (f"3,Legal,{DAY},Software,4.00", "invalid_department"),
        ("4,IT,01/02/2024,Software,4.00", "invalid_date"),
        (f"5,IT,{OTHER_DAY},Software,4.00", "date_outside_partition"),
        (f"6,IT,{DAY},,4.00", "invalid_category"),
        (f"7,IT,{DAY},Software,0.00", "invalid_amount"),
        (f"1,IT,{DAY},Software,4.00", "duplicate"),
    ],
)
BUDGETS = (
    "department,month,budget_amount",
    [
        ("IT,2024-01,100.00", None),
        ("Sales,2024-01", "malformed_row"),
        ("R&D,2024-01,100.00", "invalid_department"),
        ("HR,Jan 2024,100.00", "invalid_date"),
        ("HR,2024-02,100.00", "date_outside_partition"),
        ("HR,2024-01,12,50", "malformed_row"),
        ("Finance,2024-01,-5", "invalid_amount"),
        ("it,2024-01-01,100.00", "duplicate"),
    ],
)


def _write(path: Path, data: bytes | str) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    return path.resolve().as_uri()


def _simple(header: str, rows) -> tuple[str, dict[int, str | None]]:
    text = header + "\n" + "\n".join(r for r, _ in rows) + "\n"
    return text, {i: reason for i, (_, reason) in enumerate(rows, start=1)}


def _binary() -> bytes:
    rng = random.Random(42)
    noise = bytes(rng.randrange(256) for _ in range(3000))
    return b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + noise.replace(b"\x00", b"\n\x00")


@pytest.fixture(scope="module")
def hostile(spark, tmp_path_factory):
    """The corpus, one materialization of it, and what each file should produce."""
    root = tmp_path_factory.mktemp("hostile")
    landing, lake = root / "landing", root / "lake"
    expected: dict[str, dict[int, str | None]] = {}  # file URI -> row -> reason
    files: dict[str, str] = {}

    text, reasons = _orders_every_reason()
    files["every_reason"] = _write(landing / f"orders/{DAY}/01_every_reason.csv", text)
    expected[files["every_reason"]] = reasons
    no_status = ",".join(ORDERS_HEADER.split(",")[:-1])
    files["no_status"] = _write(
        landing / f"orders/{DAY}/02_no_status.csv",
        f"{no_status}\n20,{DAY},C1,Books,1.00\n21,{DAY},C1,Books,2.00\n",
    )
    expected[files["no_status"]] = {1: "missing_column", 2: "missing_column"}
    files["binary"] = _write(landing / f"orders/{DAY}/03_binary.csv", _binary())
    files["empty"] = _write(landing / f"orders/{DAY}/04_empty.csv", b"")
    files["header_only"] = _write(
        landing / f"orders/{DAY}/05_header_only.csv", ORDERS_HEADER + "\r\n"
    )
    big = "x" * MB
    files["big"] = _write(
        landing / f"orders/{DAY}/06_big_field.csv",
        f'{ORDERS_HEADER}\n30,{DAY},C1,"{big}",1.00,COMPLETED\n'
        f"31,{DAY},C1,Books,{'9' * MB},PENDING\n",
    )
    expected[files["big"]] = {1: None, 2: "invalid_amount"}
    files["latin1"] = _write(
        landing / f"orders/{DAY}/07_latin1.csv",
        (f"{ORDERS_HEADER}\n40,{DAY},C1,Books,1.00,COMPLETED\n").encode()
        + f"41,{DAY},C1,Caf\xe9,1.00,COMPLETED\n".encode("latin-1")
        + f"42,{DAY},C1,Books,1.00,COMPLETED\n".encode(),
    )
    expected[files["latin1"]] = {1: None, 2: "malformed_row", 3: None}
    wide = ",".join(["1"] * 10_000)
    files["wide"] = _write(
        landing / f"orders/{DAY}/08_wide.csv",
        f"{ORDERS_HEADER}\n50,{DAY},C1,Books,1.00,COMPLETED\n{wide}\n51,{DAY},C1,Books,1.00,PENDING\n",
    )
    expected[files["wide"]] = {1: None, 2: "malformed_row", 3: None}
    for name, (header, rows), folder in (
        ("payments", PAYMENTS, DAY),
        ("expenses", EXPENSES, DAY),
        ("budgets", BUDGETS, "2024-01-01"),
    ):
        text, reasons = _simple(header, rows)
        uri = _write(landing / f"{name}/{folder}/every_reason.csv", text)
        files[name] = uri
        expected[uri] = reasons
        # The same valid first row, in a file whose header lacks the last required column.
        first_row = rows[0][0].rsplit(",", 1)[0]
        short = _write(
            landing / f"{name}/{folder}/lacks_a_column.csv",
            header.rsplit(",", 1)[0] + "\n" + first_row + "\n",
        )
        expected[short] = {1: "missing_column"}

    log = io.StringIO()
    argv = ["materialize", "--landing", str(landing), "--lake", str(lake)]
    argv += ["--start", DAY, "--end", DAY, "--verbose"]
    with contextlib.redirect_stdout(log), contextlib.redirect_stderr(log):
        code = main(argv)
    return {"code": code, "lake": lake, "files": files, "expected": expected, "log": log.getvalue()}


def _rows(lake: Path, table: str, columns: list[str]) -> list[dict]:
    path = lake / table
    if not (path / "_delta_log").is_dir():
        return []
    return read_table(path, columns=columns).to_pylist()


LINEAGE = ["_source_file", "_source_row"]


@pytest.mark.slow
def test_materialize_succeeds_and_every_row_lands_once(hostile) -> None:
    assert hostile["code"] == 0, "bad rows are quarantined, they must not fail the run"
    lake = hostile["lake"]
    for name in DATASETS:
        bronze = [
            (r["_source_file"], r["_source_row"]) for r in _rows(lake, f"bronze/{name}", LINEAGE)
        ]
        silver = [
            (r["_source_file"], r["_source_row"]) for r in _rows(lake, f"silver/{name}", LINEAGE)
        ]
        rejected = [
            (r["_source_file"], r["_source_row"])
            for r in _rows(lake, f"quarantine/{name}", LINEAGE)
        ]
        assert bronze, name
        assert len(set(bronze)) == len(bronze), f"{name}: a bronze row is duplicated"
        assert not set(silver) & set(rejected), f"{name}: a row is in silver and quarantine"
        assert sorted(silver + rejected) == sorted(bronze), f"{name}: a row was lost or invented"


@pytest.mark.slow
def test_every_reason_code_of_every_dataset_is_reported_with_file_and_row(hostile) -> None:
    lake, expected = hostile["lake"], hostile["expected"]
    for name, dataset in DATASETS.items():
        rows = _rows(lake, f"quarantine/{name}", [*LINEAGE, "_reason"])
        assert {r["_reason"] for r in rows} == set(dataset.reason_codes()), name
        accepted = {
            (r["_source_file"], r["_source_row"]) for r in _rows(lake, f"silver/{name}", LINEAGE)
        }
        found = {(r["_source_file"], r["_source_row"]): r["_reason"] for r in rows}
        for uri, reasons in expected.items():
            if f"/{name}/" not in uri:
                continue
            for row, reason in reasons.items():
                if reason is None:
                    assert (uri, row) in accepted, f"{uri} row {row} should be in silver"
                else:
                    assert found.get((uri, row)) == reason, f"{uri} row {row}"


@pytest.mark.slow
def test_hostile_files_are_quarantined_not_fatal(hostile) -> None:
    lake, files = hostile["lake"], hostile["files"]
    bronze = _rows(lake, "bronze/orders", [*LINEAGE, "_corrupt_record", "product_category"])
    by_file: dict[str, list[dict]] = {}
    for r in bronze:
        by_file.setdefault(r["_source_file"], []).append(r)

    assert files["empty"] not in by_file and files["header_only"] not in by_file
    binary = by_file[files["binary"]]
    assert binary, "the binary file's records must reach bronze"
    rejected = {
        (r["_source_file"], r["_source_row"]): r["_reason"]
        for r in _rows(lake, "quarantine/orders", [*LINEAGE, "_reason"])
    }
    assert {rejected[(files["binary"], r["_source_row"])] for r in binary} <= {
        "malformed_row",
        "missing_column",
    }
    (latin1,) = [r for r in by_file[files["latin1"]] if r["_source_row"] == 2]
    assert "\ufffd" in latin1["_corrupt_record"] and "Caf" in latin1["_corrupt_record"]
    (wide,) = [r for r in by_file[files["wide"]] if r["_source_row"] == 2]
    assert wide["_corrupt_record"].count(",") == 9_999
    silver = _rows(lake, "silver/orders", [*LINEAGE, "product_category"])
    (big,) = [r for r in silver if r["_source_file"] == files["big"]]
    assert big["product_category"] == "x" * MB, "a 1 MB field arrives intact"


@pytest.mark.slow
def test_run_log_names_every_file_with_rejected_rows_and_its_first_row(hostile) -> None:
    log, lake = hostile["log"], hostile["lake"]
    for name in DATASETS:
        first: dict[tuple[str, str], int] = {}
        for r in _rows(lake, f"quarantine/{name}", [*LINEAGE, "_reason"]):
            key = (r["_source_file"], r["_reason"])
            first[key] = min(first.get(key, r["_source_row"]), r["_source_row"])
        for (uri, reason), row in first.items():
            assert (
                f"{uri}: " in log and f"quarantined as {reason} (first at data row {row})" in log
            ), f"the run log does not name {uri} / {reason} / row {row}"
    assert "row(s) quarantined" in log and "finance-assets quarantine" in log


@pytest.mark.slow
def test_run_log_names_empty_and_header_only_files(hostile) -> None:
    log, files = hostile["log"], hostile["files"]
    for key in ("empty", "header_only"):
        path = files[key].removeprefix("file://")
        assert files[key] in log or path in log, f"nothing in the run log names {files[key]}"
