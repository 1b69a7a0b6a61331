"""Lake maintenance: compaction rewrites small files without changing a row, what incremental
gold reads from the Delta log, or data skipping; a vacuum deletes only files no version within
the retention references; time travel past it fails in one line; and a compaction racing a data
write loses nothing and duplicates nothing."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pytest
from deltalake import DeltaTable
from deltalake.table import TableOptimizer

from finance_assets.analytics.engine import LakeQuery, TimeTravel, VacuumedVersionError
from finance_assets.cli import main
from finance_assets.lake.delta import (
    DeltaRsLake,
    PartitionRange,
    PartitionSet,
    VacuumedFilesError,
)
from finance_assets.lake.maintenance import maintain
from finance_assets.settings import ConfigError, Settings

TABLE = "silver/orders"
SCHEMA = "order_id long, amount decimal(18,2), partition_date date"
ARROW = pa.schema(
    [
        pa.field("order_id", pa.int64()),
        pa.field("amount", pa.decimal128(18, 2)),
        pa.field("partition_date", pa.date32()),
    ]
)
DAYS = [date(2024, 1, d) for d in (1, 2, 3)]


def _days(first: date, last: date) -> PartitionRange:
    return PartitionRange("partition_date", first, last)


def _spark_rows(day: date, count: int = 3) -> list[tuple]:
    """Rows of one day; each day's order ids lie in their own range (100 * day...)."""
    base = day.day * 100
    return [(base + i, Decimal(f"{base + i}.{i:02d}"), day) for i in range(count)]


def _late_row(day: date) -> pa.Table:
    """One more row of ``day``, appended by delta-rs: a second, small file in the partition."""
    return pa.Table.from_pylist(
        [{"order_id": day.day * 100 + 50, "amount": Decimal("0.05"), "partition_date": day}],
        schema=ARROW,
    )


def _small_files_lake(spark, root: Path) -> DeltaRsLake:
    """Three daily partitions of two files each: one written by Spark (stats from the
    Parquet footers), one appended by delta-rs."""
    lake = DeltaRsLake(str(root))
    rows = [row for day in DAYS for row in _spark_rows(day)]
    lake.replace_partitions(
        spark.createDataFrame(rows, SCHEMA), TABLE, _days(DAYS[0], DAYS[-1]), inputs={"x": 1}
    )
    for day in DAYS:
        lake.append_rows(_late_row(day), TABLE, ["partition_date"])
    return lake


def _spark_read(spark, lake: DeltaRsLake, **kwargs) -> list[tuple]:
    return sorted(tuple(r) for r in lake.read(spark, TABLE, **kwargs).collect())


def _duckdb_read(lake: DeltaRsLake, travel: TimeTravel | None = None) -> list[tuple]:
    with LakeQuery(lake.root, travel) as query:
        query.register("silver", "orders")
        sql = "SELECT order_id, amount, partition_date FROM silver.orders ORDER BY order_id"
        return query.run(sql).rows


def _live_files(lake: DeltaRsLake) -> set[str]:
    return {f.path for f in lake.files(TABLE)}


def _on_disk(lake: DeltaRsLake) -> set[str]:
    return {str(p) for p in Path(lake.table_uri(TABLE)).rglob("*.parquet")}


def test_compaction_and_vacuum_keep_every_row_for_both_readers(spark, tmp_path):
    lake = _small_files_lake(spark, tmp_path)
    spark_before, duck_before = _spark_read(spark, lake), _duckdb_read(lake)
    assert len(spark_before) == 12 and len(_live_files(lake)) == 6
    assert Decimal("101.01") in {r[1] for r in spark_before}  # decimals, exactly

    done = lake.compact(TABLE)
    assert (done.files_removed, done.files_added) == (6, 3)
    assert done.bytes_removed > 0 and done.bytes_added > 0
    assert len(_live_files(lake)) == 3
    assert _spark_read(spark, lake) == spark_before
    assert _duckdb_read(lake) == duck_before == [tuple(r) for r in spark_before]

    vacuum = lake.vacuum(TABLE, retention_hours=0)
    assert vacuum.files_deleted == 6
    assert _on_disk(lake) == _live_files(lake)
    assert _spark_read(spark, lake) == spark_before
    assert _duckdb_read(lake) == duck_before


def test_compacted_files_carry_statistics_so_reads_still_skip_files(spark, tmp_path):
    lake = _small_files_lake(spark, tmp_path)
    lake.compact(TABLE)
    # An order id of day 2 can only be in day 2's file: the others are skipped unopened.
    chosen = lake.files(TABLE, within={"order_id": (201, 201)})
    assert [f.partition_values["partition_date"] for f in chosen] == [date(2024, 1, 2)]
    assert lake.bounds(TABLE, "order_id", _days(DAYS[1], DAYS[1])) == (200, 250)
    assert lake.bounds(TABLE, "order_id") == (100, 350)
    assert lake.row_count(TABLE) == 12
    found = lake.read(spark, TABLE, within={"order_id": (201, 201)}).collect()
    assert [(r["order_id"], r["amount"]) for r in found] == [(201, Decimal("201.01"))]


def test_vacuum_with_the_default_retention_deletes_nothing_young(spark, tmp_path):
    lake = _small_files_lake(spark, tmp_path)
    lake.replace_partitions(
        spark.createDataFrame(_spark_rows(DAYS[0], 1), SCHEMA), TABLE, _days(DAYS[0], DAYS[0])
    )
    lake.compact(TABLE)
    files = _on_disk(lake)
    done = maintain(lake, TABLE, Settings.load().vacuum_retention_hours)
    assert done.vacuum.files_deleted == 0 and not done.warnings
    assert _on_disk(lake) == files


def test_vacuum_with_retention_zero_deletes_replaced_files_and_keeps_the_current_ones(
    spark, tmp_path
):
    lake = _small_files_lake(spark, tmp_path)
    replaced = {f.path for f in lake.files(TABLE, _days(DAYS[0], DAYS[0]))}
    lake.replace_partitions(
        spark.createDataFrame(_spark_rows(DAYS[0], 1), SCHEMA), TABLE, _days(DAYS[0], DAYS[0])
    )
    current = _spark_read(spark, lake)

    dry = maintain(lake, TABLE, 0, dry_run=True)
    assert dry.compaction is None and {Path(f).name for f in dry.vacuum.files} == {
        Path(f).name for f in replaced
    }
    assert replaced <= _on_disk(lake)  # a dry run deletes nothing

    done = maintain(lake, TABLE, 0)
    assert done.warnings and "time travel" in done.warnings[0]
    assert not replaced & _on_disk(lake)
    assert _on_disk(lake) == _live_files(lake)
    assert _spark_read(spark, lake) == current


def test_orphan_files_of_a_crashed_write_go_only_once_older_than_an_hour(spark, tmp_path):
    import os
    import time

    lake = _small_files_lake(spark, tmp_path)
    folder = Path(lake.table_uri(TABLE), "partition_date=2024-01-01")
    old, fresh = folder / "part-crashed-old.parquet", folder / "part-crashed-new.parquet"
    for stray in (old, fresh):
        stray.write_bytes(next(folder.glob("*.parquet")).read_bytes())
    two_hours_ago = time.time() - 2 * 3600
    os.utime(old, (two_hours_ago, two_hours_ago))

    lake.vacuum(TABLE, retention_hours=0)  # under an hour: committed history only
    assert old.exists() and fresh.exists()
    lake.vacuum(TABLE, retention_hours=1)
    assert not old.exists() and fresh.exists()


def test_maintenance_commits_are_not_changes_and_inputs_and_notes_survive_them(spark, tmp_path):
    lake = _small_files_lake(spark, tmp_path)
    notes = {"finance.finished_months": "2024-01"}
    lake.replace_partitions(
        spark.createDataFrame(_spark_rows(DAYS[1]), SCHEMA),
        TABLE,
        _days(DAYS[1], DAYS[1]),
        inputs={"silver/payments": 8},
        notes=notes,
    )
    written = lake.version(TABLE)
    changed = lake.changes(TABLE, 0).partition_values("partition_date")
    assert changed == set(DAYS)

    done = maintain(lake, TABLE, 0)
    assert done.compaction.files_removed == 4  # days 1 and 3: two files each
    assert done.vacuum.files_deleted == 6  # those four, and day 2's two replaced ones
    assert lake.version(TABLE) > written
    # Not a change for incremental gold, before or across the last data write...
    assert lake.changes(TABLE, written).empty
    assert lake.changes(TABLE, 0).partition_values("partition_date") == changed
    # ...and what that write recorded is still what the table says it was built from.
    assert lake.inputs(TABLE) == {"silver/payments": 8}
    assert lake.notes(TABLE) == notes
    assert lake.inputs(TABLE, lake.version(TABLE) - 1) == {"silver/payments": 8}
    assert lake.inputs(TABLE, 0) == {"x": 1}


def test_changes_across_a_compaction_add_up_to_what_data_changes_did(spark, tmp_path):
    """A compaction merges a file added since ``since`` with older ones, then a run replaces
    that partition: what changes reports as added less what it reports as removed is still
    exactly what the data changes did (the merged file counts as the rows it replaced)."""
    lake = _small_files_lake(spark, tmp_path)
    since = lake.version(TABLE)
    before = _spark_read(spark, lake, where=_days(DAYS[1], DAYS[1]))
    arrived = pa.Table.from_pylist(
        [{"order_id": 299, "amount": Decimal("2.99"), "partition_date": DAYS[1]}], schema=ARROW
    )
    lake.append_rows(arrived, TABLE, ["partition_date"])
    lake.compact(TABLE)
    assert _net(spark, lake, since) == ([(299, Decimal("2.99"), DAYS[1])], [])

    replacement = [(900, Decimal("9.00"), DAYS[1])]
    lake.replace_partitions(
        spark.createDataFrame(replacement, SCHEMA), TABLE, _days(DAYS[1], DAYS[1])
    )
    assert _net(spark, lake, since) == (replacement, before)
    assert lake.changes(TABLE, since).partition_values("partition_date") == {DAYS[1]}


def _net(spark, lake: DeltaRsLake, since: int) -> tuple[list, list]:
    """Rows added and rows removed since ``since``, net of each other (as multisets)."""
    changes = lake.changes(TABLE, since)
    added = _spark_rows_of(spark, lake, changes.added)
    removed = _spark_rows_of(spark, lake, changes.removed)
    for row in list(added):
        if row in removed:
            added.remove(row)
            removed.remove(row)
    return added, removed


def _spark_rows_of(spark, lake, files) -> list[tuple]:
    return sorted(tuple(r) for r in lake.read_files(spark, TABLE, files).collect())


def test_a_data_write_that_races_a_compaction_is_retried_not_duplicated(
    spark, tmp_path, monkeypatch
):
    """delta-rs would commit the write on top of the compaction keeping the compacted copy
    of the replaced partition (every row twice); the lake retries it from a fresh snapshot."""
    lake = _small_files_lake(spark, tmp_path)
    original = DeltaTable.create_write_transaction
    raced = []

    def compaction_commits_first(self, *args, **kwargs):
        if not raced:  # another process compacts between the snapshot and the commit
            raced.append(DeltaTable(lake.table_uri(TABLE)).optimize.compact())
        return original(self, *args, **kwargs)

    monkeypatch.setattr(DeltaTable, "create_write_transaction", compaction_commits_first)
    new = [(900, Decimal("9.00"), DAYS[1])]
    lake.replace_partitions(spark.createDataFrame(new, SCHEMA), TABLE, _days(DAYS[1], DAYS[1]))

    assert raced and raced[0]["numFilesRemoved"] == 6
    day2 = lake.read(spark, TABLE, _days(DAYS[1], DAYS[1])).collect()
    assert [tuple(r) for r in day2] == new
    assert lake.row_count(TABLE) == 9


def test_replacing_a_whole_table_is_not_failed_by_a_compaction(spark, tmp_path, monkeypatch):
    lake = DeltaRsLake(str(tmp_path))
    rows = [row for day in DAYS for row in _spark_rows(day)]
    lake.replace_table(spark.createDataFrame(rows, SCHEMA).repartition(3), "gold/customer_360")
    original = DeltaTable.create_write_transaction
    raced = []

    def compaction_commits_first(self, *args, **kwargs):
        if not raced:
            raced.append(DeltaTable(lake.table_uri("gold/customer_360")).optimize.compact())
        return original(self, *args, **kwargs)

    monkeypatch.setattr(DeltaTable, "create_write_transaction", compaction_commits_first)
    lake.replace_table(spark.createDataFrame(rows[:2], SCHEMA), "gold/customer_360")
    assert raced and raced[0]["numFilesRemoved"] == 3
    assert sorted(tuple(r) for r in lake.read(spark, "gold/customer_360").collect()) == rows[:2]


def test_a_compaction_that_loses_to_a_data_write_loses_nothing(spark, tmp_path, monkeypatch):
    lake = _small_files_lake(spark, tmp_path)
    original = TableOptimizer.compact
    writes = []

    def data_write_commits_first(self, *args, **kwargs):
        if not writes:  # a run replaces day 2 after the compaction read its snapshot
            frame = spark.createDataFrame([(900, Decimal("9.00"), DAYS[1])], SCHEMA)
            writes.append(lake.replace_partitions(frame, TABLE, _days(DAYS[1], DAYS[1])))
        return original(self, *args, **kwargs)

    monkeypatch.setattr(TableOptimizer, "compact", data_write_commits_first)
    done = lake.compact(TABLE)

    assert writes and done.files_removed == 4  # retried on the new version: days 1 and 3
    day2 = lake.read(spark, TABLE, _days(DAYS[1], DAYS[1])).collect()
    assert [tuple(r) for r in day2] == [(900, Decimal("9.00"), DAYS[1])]
    assert lake.row_count(TABLE) == 9
    assert lake.changes(TABLE, writes[0].version).empty


def test_compaction_can_be_limited_to_some_partitions(spark, tmp_path):
    lake = _small_files_lake(spark, tmp_path)
    done = lake.compact(TABLE, PartitionSet.of("partition_date", [DAYS[0], DAYS[2]]))
    assert (done.files_removed, done.files_added) == (4, 2)
    assert len(lake.files(TABLE, _days(DAYS[1], DAYS[1]))) == 2


def test_time_travel_to_a_vacuumed_version_fails_in_one_line(spark, tmp_path, capsys):
    lake = _small_files_lake(spark, tmp_path)
    lake.replace_partitions(
        spark.createDataFrame(_spark_rows(DAYS[0], 1), SCHEMA), TABLE, _days(DAYS[0], DAYS[0])
    )
    assert len(_spark_read(spark, lake, version=0)) == 9  # readable until vacuumed
    maintain(lake, TABLE, 0)

    with pytest.raises(VacuumedFilesError, match=r"version 0 of silver/orders can no longer"):
        lake.read(spark, TABLE, version=0)
    with pytest.raises(VacuumedVersionError, match=r"silver\.orders version 0 can no longer"):
        _duckdb_read(lake, TimeTravel(version=0, table=("silver", "orders")))
    assert _duckdb_read(lake) == [tuple(r) for r in _spark_read(spark, lake)]

    query = "SELECT count(*) FROM silver.orders"
    code = main(["sql", "--lake", lake.root, "--version", "silver.orders=0", "--query", query])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and "silver.orders version 0 can no longer be read" in err
    assert "FINANCE_VACUUM_RETENTION_HOURS" in err and "Traceback" not in err


def test_the_retention_setting_is_validated_in_one_line(monkeypatch):
    assert Settings.load().vacuum_retention_hours == 168
    monkeypatch.setenv("FINANCE_VACUUM_RETENTION_HOURS", "24")
    assert Settings.load().vacuum_retention_hours == 24
    monkeypatch.setenv("FINANCE_VACUUM_RETENTION_HOURS", "-1")
    with pytest.raises(ConfigError, match=r"^FINANCE_VACUUM_RETENTION_HOURS='-1': .*0"):
        Settings.load()
    monkeypatch.setenv("FINANCE_VACUUM_RETENTION_HOURS", "a week")
    with pytest.raises(ConfigError, match=r"^FINANCE_VACUUM_RETENTION_HOURS='a week'"):
        Settings.load()


# --- incremental gold across maintenance ----------------------------------------------------

ORDERS_CSV = "order_id,order_date,customer_id,product_category,order_amount,order_status\n"
PAYMENTS_CSV = "payment_id,order_id,payment_date,paid_amount,payment_status,payment_method\n"
LATE_ORDER = 21  # ordered on day 2, its last payment lands on day 4


def _drops(landing: Path) -> None:
    """Four days of five orders, each half paid the same day; on day 4 order 21 of day 2
    gets the rest of its money (a late payment)."""
    for dataset in ("expenses", "budgets"):
        (landing / dataset).mkdir(parents=True)
    for day in range(1, 5):
        stamp = f"2024-01-{day:02d}"
        orders, payments = [ORDERS_CSV], [PAYMENTS_CSV]
        for i in range(5):
            order = day * 10 + i
            orders.append(f"{order},{stamp},C{i},Books,{100 + i}.00,COMPLETED\n")
            payments.append(f"P{order},{order},{stamp},50.00,SUCCESS,CARD\n")
        if day == 4:
            payments.append(f"P9{LATE_ORDER},{LATE_ORDER},{stamp},51.00,SUCCESS,UPI\n")
        for dataset, lines in (("orders", orders), ("payments", payments)):
            folder = landing / dataset / stamp
            folder.mkdir(parents=True)
            (folder / f"{dataset}.csv").write_text("".join(lines))


def _gold_versions(lake: DeltaRsLake) -> dict[str, tuple]:
    """Each gold table (by name) with its current version."""
    from finance_assets.gold.tables import gold_tables

    return {t.name: (t, lake.version(t.table.path)) for t in gold_tables()}


@pytest.mark.slow
def test_a_compacted_lake_stays_incremental_and_equals_a_full_recompute(spark, tmp_path):
    """Days 1-3 written in many small files, compacted and vacuumed; then day 4. The day-4
    run rebuilds only day 4 and the order day its late payment belongs to (not the compacted
    history), and every table equals the same four days computed at once on a fresh lake."""
    from finance_assets.cli import materialize
    from finance_assets_tests.support.lake_snapshot import snapshot

    landing, root, fresh = tmp_path / "landing", tmp_path / "lake", tmp_path / "fresh"
    _drops(landing)
    spark.conf.set("spark.sql.files.maxRecordsPerFile", "2")  # small files, as years make
    try:
        assert materialize(str(landing), str(root), date(2024, 1, 1), date(2024, 1, 3)).succeeded
    finally:
        spark.conf.unset("spark.sql.files.maxRecordsPerFile")
    lake = DeltaRsLake(str(root))
    day1 = _days(date(2024, 1, 1), date(2024, 1, 1))
    assert len(lake.files(TABLE, day1)) == 3

    assert main(["maintain", "--lake", str(root), "--retention-hours", "0"]) == 0
    assert len(lake.files(TABLE, day1)) == 1  # five orders: one file, not three
    assert len(lake.files("gold/sales_performance")) == 3
    compacted = _gold_versions(lake)

    outcome = materialize(str(landing), str(root), date(2024, 1, 4), date(2024, 1, 4))
    assert outcome.succeeded
    assert outcome.brought_up_to_date == {"gold/sales_performance": ["2024-01-02"]}
    for name, (table, version) in compacted.items():
        if table.partition_column is None:
            continue
        # The partitions the day-4 run's data changes touched: none of the compacted history.
        rebuilt = lake.changes(table.table.path, version).partition_values(table.partition_column)
        if name == "sales_performance":
            assert rebuilt == {date(2024, 1, 2), date(2024, 1, 4)}
        else:
            month = table.cadence == "monthly"
            assert rebuilt <= {date(2024, 1, 1) if month else date(2024, 1, 4)}, name

    assert materialize(str(landing), str(fresh), date(2024, 1, 1), date(2024, 1, 4)).succeeded
    assert snapshot(root) == snapshot(fresh)
