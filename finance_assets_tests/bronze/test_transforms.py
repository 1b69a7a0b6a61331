"""Every way bronze reads landing files gives the same rows: in Spark tasks that open the
files, Spark's own reads (binaryFile, as on Databricks), and a small drop parsed in this
process."""

from datetime import date
from pathlib import Path

from finance_assets.bronze.transforms import parsed_schema, read_landing
from finance_assets.checks.landing_records import landing_record_counts
from finance_assets.contract import DATASETS, ORDERS
from finance_assets.landing.generate import GenerateConfig, generate
from finance_assets.landing.resource import LandingResource
from finance_assets.landing.zone import LandingFile, list_files
from finance_assets_tests.bronze.test_arrow_parser import CORPUS, LARGE
from finance_assets_tests.lake.test_frames import reads_python_rows

DAY = date(2024, 1, 31)

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


def _landing_with_hostile_and_dirty_drops(root: Path) -> None:
    """Generated dirty drops of every dataset, plus every hostile input of the parser tests
    written as a file of the dataset whose columns it has."""
    generate(str(root), GenerateConfig(start=DAY, end=DAY, orders_per_day=300, dirty_rate=0.3))
    by_columns = {d.columns: d.name for d in DATASETS.values()}
    for i, (name, (data, columns)) in enumerate(sorted(CORPUS.items())):
        if columns in by_columns and name not in LARGE:
            folder = root / by_columns[columns] / DAY.isoformat()
            folder.mkdir(parents=True, exist_ok=True)
            (folder / f"hostile_{i:03d}.csv").write_bytes(data)


def _rows(spark, files, dataset, in_process: bool) -> list:
    frame = read_landing(spark, files, dataset, in_process=in_process)
    assert frame.schema == parsed_schema(dataset)
    return sorted((tuple(r) for r in frame.collect()), key=repr)


def test_a_drop_parsed_in_this_process_gives_the_rows_spark_tasks_give(spark, tmp_path):
    _landing_with_hostile_and_dirty_drops(tmp_path)
    for dataset in DATASETS.values():
        files = list_files(str(tmp_path), dataset.name, DAY, DAY)
        assert files, dataset.name

        here = _rows(spark, files, dataset, in_process=True)
        in_tasks = _rows(spark, files, dataset, in_process=False)
        assert here == in_tasks, dataset.name
        assert {r[len(dataset.columns)] for r in here} <= {f.uri for f in files}
        counted_here = landing_record_counts(spark, files, None, in_process=True)
        assert counted_here == landing_record_counts(spark, files, None)
        assert sum(counted_here.values()) == len(here)


def _file(name: str, size: int) -> LandingFile:
    return LandingFile(f"file:///{name}.csv", "orders", DAY, size, "1")


def test_only_a_small_drop_is_read_in_this_process():
    landing = LandingResource(uri="data/landing", in_process_bytes=1000)
    small = [_file("a", 600), _file("b", 400)]
    assert landing.reads_in_process(small)
    assert not landing.reads_in_process([*small, _file("c", 1)])
    assert not LandingResource(uri="data/landing", in_process_bytes=0).reads_in_process(small)
    native = LandingResource(uri="s3://b/p", native_reads=True, in_process_bytes=1000)
    assert not native.reads_in_process(small)


def test_a_drop_parsed_in_this_process_runs_no_python_in_spark_tasks(spark, tmp_path):
    generate(str(tmp_path), GenerateConfig(start=DAY, end=DAY, orders_per_day=50))
    files = list_files(str(tmp_path), "orders", DAY, DAY)
    assert not reads_python_rows(read_landing(spark, files, ORDERS, in_process=True))
    assert reads_python_rows(read_landing(spark, files, ORDERS))
