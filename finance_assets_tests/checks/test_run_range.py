"""A check step judges the partitions its run wrote: the run's range, and the partitions the
writing step brought up to date beyond it (late data), and none that another run wrote."""

from datetime import date, timedelta

import dagster as dg
import pytest

from finance_assets.checks import factory
from finance_assets.lake.delta import PartitionRange, PartitionSet
from finance_assets.lake.partitions import log_extra_partitions

DAILY = dg.DailyPartitionsDefinition(start_date="2024-01-01", end_date="2024-02-01")
KEY = dg.AssetKey(["silver", "things"])
EXTRA = [date(2024, 1, 1), date(2024, 1, 3), date(2024, 1, 4)]
"""Days before the range that the range run's step also wrote."""


@dg.asset(
    key=KEY,
    partitions_def=DAILY,
    backfill_policy=dg.BackfillPolicy.single_run(),
    config_schema={"extra": [str]},
)
def things(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
    extra = [date.fromisoformat(d) for d in context.op_execution_context.op_config["extra"]]
    log_extra_partitions(context, KEY, DAILY, extra, "late rows")
    return dg.MaterializeResult()


judged: list = []


@dg.asset_check(asset=KEY, name="judges_what_the_run_wrote")
def judges(context: dg.AssetCheckExecutionContext) -> dg.AssetCheckResult:
    judged.append(factory.run_range(context, KEY, DAILY, "day"))
    return dg.AssetCheckResult(passed=True)


def _run(instance, first: str, last: str, extra: list[date]) -> None:
    job = dg.define_asset_job("things_job", selection=dg.AssetSelection.assets(things))
    defs = dg.Definitions(assets=[things], asset_checks=[judges], jobs=[job])
    result = defs.resolve_job_def("things_job").execute_in_process(
        instance=instance,
        tags={
            "dagster/asset_partition_range_start": first,
            "dagster/asset_partition_range_end": last,
        },
        run_config={
            "ops": {"silver__things": {"config": {"extra": [d.isoformat() for d in extra]}}}
        },
    )
    assert result.success


@pytest.mark.parametrize("page", [factory.EVENTS_PER_PAGE, 2])
def test_a_check_step_judges_the_run_range_and_what_its_step_wrote_beyond_it(monkeypatch, page):
    monkeypatch.setattr(factory, "EVENTS_PER_PAGE", page)
    judged.clear()
    with dg.instance_for_test() as instance:
        # Another run wrote 2024-01-02 (and 2024-01-10) before: not this run's partitions.
        _run(instance, "2024-01-10", "2024-01-10", [date(2024, 1, 2)])
        _run(instance, "2024-01-20", "2024-01-22", EXTRA)
    first, second = judged
    assert first == PartitionSet.of("day", [date(2024, 1, 10), date(2024, 1, 2)])
    run_days = [date(2024, 1, 20) + timedelta(days=i) for i in range(3)]
    assert second == PartitionSet.of("day", [*run_days, *EXTRA])


def test_a_run_that_wrote_only_its_range_is_judged_on_its_range():
    judged.clear()
    with dg.instance_for_test() as instance:
        _run(instance, "2024-01-05", "2024-01-06", [])
    assert judged == [PartitionRange("day", date(2024, 1, 5), date(2024, 1, 6))]
