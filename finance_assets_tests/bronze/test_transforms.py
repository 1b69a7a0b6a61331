"""Spark-native landing reads (binaryFile, as on Databricks) give the same bronze rows."""

from datetime import date

from finance_assets.bronze.transforms import read_landing
from finance_assets.contract import ORDERS
from finance_assets.landing.zone import list_files

DROP = (
    "\ufeffOrder ID,order_date,customer_id,product_category,order_amount,order_status,note\r\n"
    '1,2024-01-01,C1,"Home, Garden",10.00,COMPLETED,"two\r\nlines"\r\n'
    "\r\n"
    "2,2024-01-01,C2,Books\r\n"
)


def test_native_and_python_reads_agree(spark, tmp_path):
    for day in ("2024-01-01", "2024-01-02"):
        folder = tmp_path / "orders" / day
        folder.mkdir(parents=True)
        (folder / "a.csv").write_bytes(DROP.replace("2024-01-01", day).encode())
    files = list_files(str(tmp_path), "orders", date(2024, 1, 1), date(2024, 1, 2))

    def rows(native: bool) -> list:
        frame = read_landing(spark, files, ORDERS, native=native)
        return sorted((tuple(r) for r in frame.collect()), key=repr)

    python_rows, native_rows = rows(False), rows(True)
    assert native_rows == python_rows
    assert len(native_rows) == 4
    sources = {r[6] for r in native_rows}
    assert sources == {f.uri for f in files} and all(s.startswith("file:///") for s in sources)
    corrupt = [r for r in native_rows if r[9] is not None]
    assert [r[9] for r in corrupt] == ["2,2024-01-01,C2,Books", "2,2024-01-02,C2,Books"]
