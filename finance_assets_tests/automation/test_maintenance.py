"""The ``lake_maintenance`` job through Dagster: every lake table, each step under the pool of
the step that writes the table, reporting what it did; its weekly schedule starts stopped."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import dagster as dg
import pyarrow as pa

from finance_assets.automation.maintenance import (
    MAINTENANCE_CRON,
    MAINTENANCE_JOB,
    MAINTENANCE_SCHEDULE,
    SUMMARY,
    maintained_tables,
    step_name,
)
from finance_assets.definitions import load_definitions
from finance_assets.lake.delta import DeltaRsLake, PartitionRange
from finance_assets.lake.tables import RESTATEMENTS
from finance_assets.settings import Settings

ORDERS = "silver/orders"
SCHEMA = "order_id long, amount decimal(18,2), partition_date date"


def _writer_pools(defs: dg.Definitions) -> dict[dg.AssetKey, str | None]:
    """The pool of the step that materializes each asset."""
    pools = {}
    for assets_def in defs.resolve_asset_graph().assets_defs:
        for key in assets_def.keys:
            if assets_def.is_executable:
                pools[key] = assets_def.node_def.pool
    return pools


def test_each_table_is_maintained_under_the_pool_of_the_step_that_writes_it(tmp_path):
    defs = load_definitions(Settings(lake_uri=str(tmp_path)))
    job = defs.resolve_job_def(MAINTENANCE_JOB)
    steps = {node.name: node.definition.pool for node in job.graph.nodes}
    writers = _writer_pools(defs)
    tables = maintained_tables()
    assert len(steps) == len(tables) == len({t.path for t in tables})
    for table in tables:
        if table == RESTATEMENTS:  # appended to by every gold step: a pool of its own
            assert table.key not in writers
            continue
        assert steps[step_name(table)] == writers[table.key], table.path
    assert {t.layer for t in tables} == {"bronze", "silver", "quarantine", "gold"}

    schedule = defs.resolve_schedule_def(MAINTENANCE_SCHEDULE)
    assert schedule.default_status == dg.DefaultScheduleStatus.STOPPED
    assert schedule.cron_schedule == MAINTENANCE_CRON and schedule.job_name == MAINTENANCE_JOB


def test_the_job_compacts_and_vacuums_and_reports_each_table(spark, tmp_path):
    lake = DeltaRsLake(str(tmp_path / "lake"))
    days = PartitionRange("partition_date", date(2024, 1, 1), date(2024, 1, 2))
    rows = [(i, Decimal(f"{i}.50"), date(2024, 1, 1 + i % 2)) for i in range(6)]
    lake.replace_partitions(spark.createDataFrame(rows, SCHEMA), ORDERS, days)
    late = pa.Table.from_pylist(
        [{"order_id": 99, "amount": Decimal("0.99"), "partition_date": date(2024, 1, 1)}],
        schema=lake.read_arrow(ORDERS).schema,
    )
    lake.append_rows(late, ORDERS, ["partition_date"])
    lake.replace_partitions(spark.createDataFrame(rows[:2], SCHEMA), ORDERS, days)
    lake.append_rows(late, ORDERS, ["partition_date"])  # day 1: two files again
    before = sorted(tuple(r) for r in lake.read(spark, ORDERS).collect())

    defs = load_definitions(Settings(lake_uri=lake.root, vacuum_retention_hours=0))
    with dg.instance_for_test(temp_dir=str(tmp_path)) as instance:
        result = defs.resolve_job_def(MAINTENANCE_JOB).execute_in_process(instance=instance)
    assert result.success

    orders = result.output_for_node("maintain__silver__orders")
    assert (orders["files_compacted"], orders["files_written"]) == (2, 1)
    assert orders["files_vacuumed"] == 5  # the three replaced and the two compacted
    assert orders["retention_hours"] == 0 and orders["dry_run"] is False
    assert result.output_for_node("maintain__gold__daily_kpi") == {
        "table": "gold/daily_kpi",
        "skipped": "no such table yet",
    }
    [output] = [
        e for e in result.events_for_node("maintain__silver__orders") if e.is_successful_output
    ]
    summary = output.event_specific_data.metadata[SUMMARY].value
    assert summary.startswith("silver/orders: compacted 2 files into 1 (")
    assert "; deleted 5 files (" in summary
    assert sorted(tuple(r) for r in lake.read(spark, ORDERS).collect()) == before
