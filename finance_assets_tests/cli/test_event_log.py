"""The CLI's instance writes a batch of asset events at once and records what Dagster's own
SQLite storage records: the same events in the same order, the same materialized, failed and
planned partitions, the same asset records."""

import dagster as dg
import pytest

from finance_assets.cli.event_log import BatchingSqliteEventLogStorage
from finance_assets.cli.instance import ensure_home, open_instance

DAYS = dg.DailyPartitionsDefinition(start_date="2024-01-01", end_date="2024-01-06")
RANGE = {
    "dagster/asset_partition_range_start": "2024-01-01",
    "dagster/asset_partition_range_end": "2024-01-04",
}


@dg.asset(partitions_def=DAYS, backfill_policy=dg.BackfillPolicy.single_run())
def drops(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
    return dg.MaterializeResult(metadata={"days": len(context.partition_keys)})


class BalancesConfig(dg.Config):
    fail: bool = False


@dg.asset(partitions_def=DAYS, backfill_policy=dg.BackfillPolicy.single_run(), deps=[drops])
def balances(context: dg.AssetExecutionContext, config: BalancesConfig) -> None:
    if config.fail:
        raise RuntimeError("balances failed")


@dg.asset_check(asset=drops)
def drops_have_rows() -> dg.AssetCheckResult:
    return dg.AssetCheckResult(passed=True)


JOB = dg.define_asset_job("days")
DEFS = dg.Definitions(assets=[drops, balances], asset_checks=[drops_have_rows], jobs=[JOB])


def _run_story(instance: dg.DagsterInstance) -> list[str]:
    """A range that succeeds, then one whose last asset fails."""
    job = DEFS.resolve_job_def("days")
    run_ids = []
    for fail in (False, True):
        result = job.execute_in_process(
            instance=instance,
            tags=RANGE,
            run_config={"ops": {"balances": {"config": {"fail": fail}}}},
            raise_on_error=False,
        )
        assert result.success is not fail
        run_ids.append(result.run_id)
    return run_ids


def _events(instance: dg.DagsterInstance, run_id: str) -> list[tuple]:
    return [
        (
            entry.dagster_event_type,
            entry.dagster_event.asset_key if entry.dagster_event else None,
            entry.dagster_event.partition if entry.dagster_event else None,
            entry.step_key,
        )
        for entry in instance.all_logs(run_id)
    ]


def _recorded(instance: dg.DagsterInstance, run_ids: list[str]) -> dict:
    """What the UI and the CLI read back, run ids named by their place in the story."""
    named = {run_id: f"run {i}" for i, run_id in enumerate(run_ids)}
    log = instance.event_log_storage
    recorded: dict = {"events": [_events(instance, run_id) for run_id in run_ids]}
    for key in (drops.key, balances.key):
        attempts = log.get_latest_asset_partition_materialization_attempts_without_materializations(
            key
        )
        (record,) = instance.get_asset_records([key])
        recorded[key.to_user_string()] = {
            "materialized": sorted(instance.get_materialized_partitions(key)),
            "not materialized": {p: named[run] for p, (run, _) in attempts.items()},
            "last run": named[record.asset_entry.last_run_id],
            "last materialization": named[record.asset_entry.last_materialization.run_id],
            "materializations": sorted(
                (record.partition_key, named[record.run_id])
                for record in instance.fetch_materializations(key, limit=100).records
            ),
        }
    return recorded


def test_a_batch_records_what_dagsters_storage_records(tmp_path, monkeypatch):
    batching = open_instance(tmp_path / "batching")
    assert isinstance(batching.event_log_storage, BatchingSqliteEventLogStorage)
    stored_one_by_one = []
    store_event = batching.event_log_storage.store_event

    def spy(event):
        stored_one_by_one.append(event.dagster_event_type)
        store_event(event)

    monkeypatch.setattr(batching.event_log_storage, "store_event", spy)

    plain = dg.DagsterInstance.from_config(str(ensure_home(tmp_path / "plain")))
    assert type(plain.event_log_storage).__name__ == "SqliteEventLogStorage"

    batched = _recorded(batching, _run_story(batching))
    assert batched == _recorded(plain, _run_story(plain))
    assert batched["balances"]["not materialized"] == {
        day: "run 1" for day in ["2024-01-01", "2024-01-02", "2024-01-03", "2024-01-04"]
    }
    # the plan and the materializations of a range went in batches, not one by one
    assert dg.DagsterEventType.ASSET_MATERIALIZATION_PLANNED not in stored_one_by_one
    assert dg.DagsterEventType.ASSET_MATERIALIZATION not in stored_one_by_one


@pytest.mark.parametrize("storage", ["storage", "event_log_storage"])
def test_an_instance_that_chooses_its_storage_keeps_it(tmp_path, storage):
    home = tmp_path / "home"
    home.mkdir()
    if storage == "storage":
        text = f"storage:\n  sqlite:\n    base_dir: {tmp_path / 'elsewhere'}\n"
    else:
        text = (
            "event_log_storage:\n  module: dagster._core.storage.event_log\n"
            f"  class: SqliteEventLogStorage\n  config:\n    base_dir: {tmp_path / 'events'}\n"
        )
    (home / "dagster.yaml").write_text(text)
    instance = open_instance(home)
    assert not isinstance(instance.event_log_storage, BatchingSqliteEventLogStorage)
    if storage == "storage":
        assert (tmp_path / "elsewhere").is_dir()
