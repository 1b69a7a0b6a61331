"""Delta writes replace exactly their partitions, atomically, and read back exactly."""

import shutil
from datetime import date, timedelta
from decimal import Decimal

import pytest

from finance_assets.lake.arrow import read_table
from finance_assets.lake.delta import DeltaRsLake, PartitionRange

SCHEMA = "id long, amount decimal(18,2), partition_date date"


def _frame(spark, rows):
    return spark.createDataFrame(rows, SCHEMA)


def _days(first: int, last: int) -> PartitionRange:
    return PartitionRange("partition_date", date(2024, 1, first), date(2024, 1, last))


def test_replacing_a_partition_leaves_the_others_and_never_duplicates(spark, tmp_path):
    lake = DeltaRsLake(str(tmp_path))
    rows = [(i, Decimal(f"{i}.10"), date(2024, 1, 1 + i % 3)) for i in range(9)]
    lake.replace_partitions(_frame(spark, rows), "t", _days(1, 3))
    again = lake.replace_partitions(_frame(spark, rows), "t", _days(1, 3))
    assert again.rows == 9 and again.version == 1
    assert read_table(lake.table_uri("t")).num_rows == 9

    lake.replace_partitions(
        _frame(spark, [(100, Decimal("1.00"), date(2024, 1, 2))]), "t", _days(2, 2)
    )
    read = {r["id"]: r for r in lake.read(spark, "t").collect()}
    assert sorted(read) == [0, 2, 3, 5, 6, 8, 100]
    assert read[100]["amount"] == Decimal("1.00")
    assert lake.partition_row_counts("t", _days(1, 3)) == {
        date(2024, 1, 1): 3,
        date(2024, 1, 2): 1,
        date(2024, 1, 3): 3,
    }
    assert lake.bounds("t", "id", _days(2, 3)) == (2, 100)
    assert (lake.files("t", _days(9, 9)), lake.bounds("t", "id", _days(9, 9))) == ([], None)


def test_an_empty_range_removes_the_partitions(spark, tmp_path):
    lake = DeltaRsLake(str(tmp_path))
    lake.replace_partitions(
        _frame(spark, [(1, Decimal("1.00"), date(2024, 1, 1))]), "t", _days(1, 1)
    )
    lake.replace_partitions(_frame(spark, []), "t", _days(1, 1))
    assert lake.read(spark, "t").count() == 0


def test_files_written_but_never_committed_are_invisible(spark, tmp_path):
    """What a crash between the Parquet write and the Delta commit leaves behind."""
    lake = DeltaRsLake(str(tmp_path))
    lake.replace_partitions(
        _frame(spark, [(1, Decimal("1.00"), date(2024, 1, 1))]), "t", _days(1, 1)
    )
    stray = tmp_path / "t" / "partition_date=2024-01-01" / "part-crashed.parquet"
    _frame(spark, [(2, Decimal("2.00"), date(2024, 1, 1))]).drop(
        "partition_date"
    ).toPandas().to_parquet(stray)
    assert [r["id"] for r in lake.read(spark, "t").collect()] == [1]
    assert read_table(lake.table_uri("t")).num_rows == 1


def test_reading_a_table_that_was_never_written_names_it(spark, tmp_path):
    with pytest.raises(FileNotFoundError, match="silver/orders"):
        DeltaRsLake(str(tmp_path)).read(spark, "silver/orders")


def test_an_s3_lake_needs_an_engine_that_writes_s3():
    with pytest.raises(ValueError, match="FINANCE_LAKE_URI"):
        DeltaRsLake("s3://bucket/lake")


def _last_job_id(spark) -> int:
    jobs = spark.sparkContext._jsc.sc().statusStore().jobsList(None)
    return max((jobs.apply(i).jobId() for i in range(jobs.size())), default=-1)


def test_a_frame_over_many_files_is_made_without_a_spark_job(spark, tmp_path):
    """Spark would list more than 32 paths in a job of its own each time a frame is made
    over them (a month of payment-order files); the lake's files are known from its log."""
    lake = DeltaRsLake(str(tmp_path))
    days = [date(2024, 1, 1) + timedelta(days=i) for i in range(40)]
    rows = [(i, Decimal(f"{i}.01"), day) for i, day in enumerate(days)]
    where = PartitionRange("partition_date", days[0], days[-1])
    lake.replace_partitions(_frame(spark, rows), "t", where)
    assert len(lake.files("t")) == 40
    before = _last_job_id(spark)
    frame = lake.read(spark, "t")
    assert _last_job_id(spark) == before
    assert sorted(r["id"] for r in frame.collect()) == list(range(40))


def test_a_lake_sees_what_others_committed_since_it_read_the_log(spark, tmp_path):
    """The process keeps the Delta logs it opened and brings them up to date: another run's
    commit, and a table removed and written anew, are seen as at a first opening."""
    mine, other = DeltaRsLake(str(tmp_path)), DeltaRsLake(str(tmp_path))
    mine.replace_partitions(
        _frame(spark, [(1, Decimal("1.00"), date(2024, 1, 1))]), "t", _days(1, 1)
    )
    assert (mine.version("t"), mine.row_count("t")) == (0, 1)
    other.replace_partitions(
        _frame(spark, [(2, Decimal("2.00"), date(2024, 1, 2))]), "t", _days(2, 2)
    )
    assert (mine.version("t"), mine.row_count("t")) == (1, 2)
    assert sorted(r["id"] for r in mine.read(spark, "t").collect()) == [1, 2]
    assert mine.row_count("t", version=0) == 1
    shutil.rmtree(tmp_path / "t")
    other.replace_partitions(
        _frame(spark, [(3, Decimal("3.00"), date(2024, 1, 3))]), "t", _days(3, 3)
    )
    assert (mine.version("t"), mine.row_count("t")) == (0, 1)
    assert [r["id"] for r in mine.read(spark, "t").collect()] == [3]
    assert [r["id"] for r in mine.read(spark, "t", version=0).collect()] == [3]
    shutil.rmtree(tmp_path / "t")  # and again, to the very version the process holds
    other.replace_partitions(
        _frame(spark, [(4, Decimal("4.00"), date(2024, 1, 4))]), "t", _days(4, 4)
    )
    assert (mine.version("t"), [r["id"] for r in mine.read(spark, "t").collect()]) == (0, [4])


def test_the_lakes_of_a_process_read_a_tables_log_once(spark, tmp_path, monkeypatch):
    """Each step of a run has a lake of its own; opening a year's table reads its whole log.
    A later lake of the same process, and its commits, only read the commits made since."""
    import deltalake

    lake = DeltaRsLake(str(tmp_path))
    lake.replace_partitions(
        _frame(spark, [(1, Decimal("1.00"), date(2024, 1, 1))]), "t", _days(1, 1)
    )
    lake.row_count("t")
    opened = []
    original = deltalake.DeltaTable.__init__

    def counted(self, *args, **kwargs):
        opened.append(args)
        original(self, *args, **kwargs)

    monkeypatch.setattr(deltalake.DeltaTable, "__init__", counted)
    step = DeltaRsLake(str(tmp_path))
    assert (step.version("t"), step.row_count("t"), step.bounds("t", "id")) == (0, 1, (1, 1))
    assert opened == []
    step.replace_partitions(  # a commit starts from the log as the process holds it
        _frame(spark, [(2, Decimal("2.00"), date(2024, 1, 2))]), "t", _days(2, 2)
    )
    assert (DeltaRsLake(str(tmp_path)).version("t"), lake.row_count("t")) == (1, 2)
    assert opened == []


class _Py4jCommands:
    """Counts the py4j commands this thread sends to the JVM while in the block. Releases of
    Java objects Python's garbage collector freed are not counted: when they run depends on
    what earlier tests left behind, not on the code in the block."""

    def __enter__(self):
        import gc
        import threading

        from py4j import clientserver, protocol

        release = protocol.MEMORY_COMMAND_NAME + protocol.MEMORY_DEL_SUBCOMMAND_NAME
        gc.collect()
        self.count, cls = 0, clientserver.ClientServerConnection
        self._cls, self._original = cls, cls.send_command
        thread = threading.get_ident()

        def counted(connection, command, *args, **kwargs):
            if threading.get_ident() == thread and not command.startswith(release):
                self.count += 1
            return self._original(connection, command, *args, **kwargs)

        cls.send_command = counted
        return self

    def __exit__(self, *exc):
        self._cls.send_command = self._original


def test_the_paths_of_a_read_cross_to_the_jvm_together(spark, tmp_path):
    """py4j fills a Java list one round trip per element: a read of history's files spent
    seconds passing their paths one by one. A read of 40 files costs what a read of 2 does."""
    lake = DeltaRsLake(str(tmp_path))
    days = [date(2024, 1, 1) + timedelta(days=i) for i in range(40)]
    rows = [(i, Decimal(f"{i}.01"), day) for i, day in enumerate(days)]
    lake.replace_partitions(_frame(spark, rows), "t", PartitionRange("partition_date", *days[::39]))
    two = PartitionRange("partition_date", days[0], days[1])
    lake.read(spark, "t", two)  # the first read of a schema converts it once
    with _Py4jCommands() as of_two:
        lake.read(spark, "t", two)
    with _Py4jCommands() as of_forty:
        frame = lake.read(spark, "t")
    assert of_forty.count - of_two.count < 10, (of_two.count, of_forty.count)
    assert sorted(r["id"] for r in frame.collect()) == list(range(40))
    assert frame.columns == ["id", "amount", "partition_date"]


def test_a_small_read_runs_a_whole_query_in_one_job_and_a_large_one_keeps_its_partitions(
    spark, tmp_path, monkeypatch
):
    """A read whose rows the log counts at most ONE_PARTITION_ROWS comes in one partition:
    groupings and windows over it need no shuffle, so Spark runs the query as one job (under
    adaptive execution each shuffle stage is a job of its own). Beyond it nothing changes."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    import finance_assets.lake.frames as frames

    lake = DeltaRsLake(str(tmp_path))
    days = [date(2024, 1, 1) + timedelta(days=i) for i in range(4)]
    rows = [(i, Decimal(f"{i}.01"), days[i % 4]) for i in range(40)]
    lake.replace_partitions(_frame(spark, rows), "t", PartitionRange("partition_date", *days[::3]))
    assert sum(f.rows for f in lake.files("t")) == 40

    def jobs_of_query(frame) -> tuple[int, list]:
        ranked = frame.withColumn(
            "rank", F.row_number().over(Window.partitionBy("partition_date").orderBy("id"))
        )
        totals = ranked.groupBy("partition_date").agg(
            F.sum("amount").alias("total"), F.max("rank").alias("rows")
        )
        before = _last_job_id(spark)
        result = sorted(tuple(r) for r in totals.collect())
        return _last_job_id(spark) - before, result

    small = lake.read(spark, "t")
    assert small.rdd.getNumPartitions() == 1
    jobs, expected = jobs_of_query(small)
    assert jobs == 1 and len(expected) == 4

    monkeypatch.setattr(frames, "ONE_PARTITION_ROWS", 39)
    large = lake.read(spark, "t")
    assert large.rdd.getNumPartitions() > 1
    jobs, result = jobs_of_query(large)
    assert jobs > 1 and result == expected


def test_the_rows_of_changed_files_come_from_the_log(spark, tmp_path):
    lake = DeltaRsLake(str(tmp_path))
    day = PartitionRange("partition_date", date(2024, 1, 1), date(2024, 1, 1))
    lake.replace_partitions(_frame(spark, [(1, Decimal("1.00"), date(2024, 1, 1))]), "t", day)
    rows = [(i, Decimal("2.00"), date(2024, 1, 1)) for i in range(3)]
    lake.replace_partitions(_frame(spark, rows), "t", day)
    changes = lake.changes("t", 0)
    assert [f.rows for f in changes.added] == [3]
    assert [f.rows for f in changes.removed] == [None]  # a remove action carries no statistics


WIDE = (
    "id long, amount decimal(18,2), note string, paid boolean, count int, "
    "at timestamp, payment_date date, order_date date"
)


def _log_entries(lake: DeltaRsLake, table: str) -> list[dict]:
    """Each data file's partition values and statistics, as the Delta log holds them."""
    actions = lake._add_actions(table).to_pylist()
    kept = [
        {k: v for k, v in a.items() if k not in ("path", "size_bytes", "modification_time")}
        for a in actions
    ]
    return sorted(
        kept, key=lambda a: (str(a["partition.payment_date"]), str(a["partition.order_date"]))
    )


def test_writes_lay_out_files_as_sparks_writer_does(spark, tmp_path):
    """A day's write is collected as Arrow and written by PyArrow (Spark's committer costs
    more than a day's rows); a backfill's is written by PyArrow in Spark's tasks (Spark's
    writer costs about 10 ms a file, and a backfill's files are many and small). Both give
    the rows, partition folders (a null order day included) and Parquet types Spark's own
    writer gives, and the same Delta statistics."""
    from datetime import datetime, timezone

    import pyarrow.parquet as pq

    from finance_assets.lake.delta import ARROW_WRITE_PARTITIONS, PartitionSet, _arrow_sized

    at = datetime(2024, 1, 2, 13, 5, 7, 123456, tzinfo=timezone.utc)
    rows = [
        (1, Decimal("10.10"), "café ☕", True, 3, at, date(2024, 1, 2), date(2024, 1, 1)),
        (2, None, None, None, None, None, date(2024, 1, 2), None),
        (3, Decimal("-0.01"), "x" * 100, False, -1, at, date(2024, 1, 3), date(2024, 1, 3)),
        (4, Decimal("99999999.99"), "b", False, 0, at, date(2024, 1, 2), date(2024, 1, 1)),
        *[
            (10 + i, Decimal(i), "d", True, i, at, date(2024, 2, 1), date(2024, 1, 1))
            for i in range(9)
        ],
    ]
    frame = spark.createDataFrame(rows, WIDE)
    few = PartitionSet.of("payment_date", [date(2024, 1, 2), date(2024, 1, 3), date(2024, 2, 1)])
    many = PartitionRange("payment_date", date(2024, 1, 1), date(2024, 1, 1) + timedelta(days=40))
    assert _arrow_sized(frame.schema, ["payment_date", "order_date"], few)
    assert not _arrow_sized(frame.schema, ["payment_date", "order_date"], many)
    assert many.size > ARROW_WRITE_PARTITIONS

    lake = DeltaRsLake(str(tmp_path / "lake"))
    partition_by = ["payment_date", "order_date"]
    lake.replace_partitions(frame.repartition(3), "arrow", few, partition_by=partition_by)
    lake.replace_partitions(frame.repartition(3), "tasks", many, partition_by=partition_by)
    spark_files = tmp_path / "spark"
    frame.repartition(*partition_by).write.partitionBy(*partition_by).parquet(str(spark_files))

    def rows_of(table):
        return sorted(tuple(r) for r in lake.read(spark, table).select(*frame.columns).collect())

    written = sorted(
        tuple(r) for r in spark.read.parquet(str(spark_files)).select(*frame.columns).collect()
    )
    assert (
        rows_of("arrow") == rows_of("tasks") == written == sorted(tuple(r) for r in frame.collect())
    )
    assert _log_entries(lake, "arrow") == _log_entries(lake, "tasks")

    def folders(table):
        return {f.path.split(f"/{table}/")[1].rsplit("/", 1)[0] for f in lake.files(table)}

    by_spark = {
        p.parent.relative_to(spark_files).as_posix() for p in spark_files.rglob("*.parquet")
    }
    assert folders("arrow") == folders("tasks") == by_spark
    assert "payment_date=2024-01-02/order_date=__HIVE_DEFAULT_PARTITION__" in by_spark
    assert len(lake.files("tasks")) == len(by_spark)  # one file per partition, as Spark's

    def physical(path):
        schema = pq.read_metadata(path).schema
        return {schema.column(i).name: schema.column(i).physical_type for i in range(len(schema))}

    spark_file = next(spark_files.rglob("*.parquet"))
    assert physical(lake.files("arrow")[0].path) == physical(lake.files("tasks")[0].path)
    assert physical(lake.files("tasks")[0].path) == physical(spark_file)


def test_a_write_of_a_few_days_keeps_sparks_limit_of_rows_per_file(spark, tmp_path):
    """``spark.sql.files.maxRecordsPerFile`` bounds the files of a day's write and of a
    backfill's."""
    lake = DeltaRsLake(str(tmp_path))
    rows = [(i, Decimal(f"{i}.00"), date(2024, 1, 1 + i % 2)) for i in range(5)]
    spark.conf.set("spark.sql.files.maxRecordsPerFile", "2")
    try:
        lake.replace_partitions(_frame(spark, rows), "arrow", _days(1, 2))
        backfill = PartitionRange("partition_date", date(2024, 1, 1), date(2024, 2, 9))
        lake.replace_partitions(_frame(spark, rows), "tasks", backfill)
    finally:
        spark.conf.unset("spark.sql.files.maxRecordsPerFile")

    def rows_per_file(table):
        return sorted((f.partition_values["partition_date"], f.rows) for f in lake.files(table))

    assert rows_per_file("arrow") == rows_per_file("tasks")
    assert len(lake.files("arrow")) == 3  # 2 + 1 rows on the 1st, 2 on the 2nd
    assert sorted(r["id"] for r in lake.read(spark, "arrow").collect()) == list(range(5))


def test_unstored_columns_come_back_with_a_days_rows_and_are_never_written(spark, tmp_path):
    """A check's verdicts computed with the rows: a day's write hands them back with the rows
    it collected; no write, of a day or a backfill, stores them."""
    lake = DeltaRsLake(str(tmp_path))
    rows = [(i, Decimal(f"{i}.00"), date(2024, 1, 1 + i % 2)) for i in range(5)]
    flagged = _frame(spark, rows).selectExpr("*", "id > 2 AS __verdict")

    day = lake.replace_partitions(flagged, "day", _days(1, 2), unstored=["__verdict"])
    backfill = PartitionRange("partition_date", date(2024, 1, 1), date(2024, 2, 9))
    wide = lake.replace_partitions(flagged, "backfill", backfill, unstored=["__verdict"])

    assert sorted(day.collected.column("__verdict").to_pylist()) == [False] * 3 + [True] * 2
    assert day.collected.num_rows == day.rows == 5
    assert wide.collected is None and wide.rows == 5
    for table in ("day", "backfill"):
        assert "__verdict" not in lake.schema(table).fieldNames()
        assert sorted(r["id"] for r in lake.read(spark, table).collect()) == list(range(5))
        assert "__verdict" not in read_table(lake.table_uri(table)).column_names


def test_a_monthly_tables_range_counts_its_months(spark, tmp_path):
    """A month of a monthly table is one partition: written through Arrow, as a day is; a
    year of days is not, nor is a daily range of the same month."""
    from finance_assets.lake.delta import _arrow_sized

    month = PartitionRange("month", date(2024, 1, 1), date(2024, 1, 31), monthly=True)
    year = PartitionRange("month", date(2024, 1, 1), date(2024, 12, 31), monthly=True)
    schema = spark.createDataFrame([(date(2024, 1, 1), 1)], "month date, n int").schema
    assert (month.size, year.size, month.on("partition_date").size) == (1, 12, 1)
    assert _arrow_sized(schema, ["month"], month)
    assert not _arrow_sized(schema, ["month"], year)
    assert not _arrow_sized(schema, ["month"], PartitionRange("month", month.start, month.end))


def test_a_small_table_replaced_whole_is_written_through_arrow(spark, tmp_path, monkeypatch):
    """customer_360 of a small business: once the table exists and holds few rows, its next
    version is collected and written by PyArrow, the same rows as Spark's writer gives; a
    table of more rows, or a new one, goes through Spark's writer."""
    from finance_assets.lake import delta

    lake = DeltaRsLake(str(tmp_path))
    rows = [(i, Decimal(f"{i}.00"), date(2024, 1, 1 + i % 2)) for i in range(5)]
    flagged = _frame(spark, rows).selectExpr("*", "id > 3 AS __verdict")

    first = lake.replace_table(flagged, "small", unstored=["__verdict"])
    again = lake.replace_table(flagged, "small", unstored=["__verdict"])
    monkeypatch.setattr(delta, "ARROW_WRITE_ROWS", 4)
    larger = lake.replace_table(flagged, "small", unstored=["__verdict"])

    assert first.collected is None and larger.collected is None
    assert again.collected.column("__verdict").to_pylist().count(True) == 1
    assert lake.version("small") == 2 and "__verdict" not in lake.schema("small").fieldNames()
    for version in (0, 1, 2):
        written = lake.read(spark, "small", version=version).collect()
        assert sorted(tuple(r) for r in written) == sorted(rows)
