"""The code location loads, and every table is a partitioned, single-run-backfill asset."""

import subprocess
import sys
from pathlib import Path

import dagster as dg
import tomlkit
import yaml

from finance_assets.automation.jobs import DAILY_JOB, MONTHLY_JOB
from finance_assets.checks.names import BRONZE_RECONCILES, LANDING_RECORDS_RECONCILE, SCHEMA
from finance_assets.contract import DATASETS
from finance_assets.definitions import load_definitions
from finance_assets.gold.tables import gold_tables
from finance_assets.lake import tables
from finance_assets.lake.tables import DASHBOARD
from finance_assets.settings import Settings

DASHBOARD_KEY = DASHBOARD.key
LAYERS = (tables.bronze, tables.silver, tables.quarantine)


def _defs() -> dg.Definitions:
    return load_definitions(Settings(landing_uri="landing", lake_uri="lake"))


def test_every_table_is_a_partitioned_asset_with_single_run_backfills():
    graph = _defs().resolve_asset_graph()
    keys = [layer(d).key for layer in LAYERS for d in DATASETS.values()]
    for key in keys + [t.table.key for t in gold_tables()]:
        node = graph.get(key)
        assert node.is_materializable, key
        assert node.partitions_def is not None, key
        assert node.backfill_policy == dg.BackfillPolicy.single_run(), key


def test_budgets_and_monthly_gold_are_monthly_the_rest_daily():
    graph = _defs().resolve_asset_graph()
    monthly = {"budgets", "financial_summary", "monthly_financial_report", "budget_vs_actual"}
    for key in graph.materializable_asset_keys - {DASHBOARD_KEY}:
        partitions = graph.get(key).partitions_def
        expected = (
            dg.MonthlyPartitionsDefinition
            if key.path[-1].removesuffix("_raw").removesuffix("_rejected") in monthly
            else dg.DailyPartitionsDefinition
        )
        assert isinstance(partitions, expected), key


def test_partitions_start_is_configurable():
    settings = Settings(landing_uri="l", lake_uri="k").with_overrides(
        partitions_start=__import__("datetime").date(2023, 6, 15)
    )
    graph = load_definitions(settings).resolve_asset_graph()
    orders = tables.bronze(DATASETS["orders"]).key
    first = graph.get(orders).partitions_def.get_first_partition_key()
    assert first == "2023-06-15"


def test_reconciliation_check_is_blocking_on_every_silver_asset():
    graph = _defs().resolve_asset_graph()
    for name in DATASETS:
        key = dg.AssetCheckKey(tables.silver(DATASETS[name]).key, BRONZE_RECONCILES)
        assert graph.get_check_spec(key).blocking


def test_bronze_has_blocking_schema_and_landing_record_checks():
    graph = _defs().resolve_asset_graph()
    for dataset in DATASETS.values():
        for name in (SCHEMA, LANDING_RECORDS_RECONCILE):
            key = dg.AssetCheckKey(tables.bronze(dataset).key, name)
            assert graph.get_check_spec(key).blocking, key


def test_every_step_that_writes_a_table_holds_that_tables_pool():
    """One pool per lake table (``lake:<layer>/<name>``); a step writing two tables (silver
    and its quarantine) holds the silver table's."""
    defs = _defs()
    pools = {}
    for assets_def in defs.assets:
        if isinstance(assets_def, dg.AssetsDefinition) and assets_def.is_executable:
            pools.update(dict.fromkeys(assets_def.keys, assets_def.op.pool))
    expected = {
        **{tables.bronze(d).key: tables.bronze(d).pool for d in DATASETS.values()},
        **{tables.silver(d).key: tables.silver(d).pool for d in DATASETS.values()},
        **{tables.quarantine(d).key: tables.silver(d).pool for d in DATASETS.values()},
        tables.PAYMENT_ORDERS.key: "lake:silver/payment_orders",
        **{t.table.key: f"lake:gold/{t.name}" for t in gold_tables()},
        DASHBOARD_KEY: "lake:analytics/dashboard",
    }
    assert {k: v for k, v in pools.items() if k in expected} == expected
    assert tables.bronze(DATASETS["orders"]).pool == "lake:bronze/orders"


def test_a_new_instance_lets_one_run_at_a_time_write_a_table(tmp_path):
    from finance_assets.cli.instance import open_instance

    instance = open_instance(tmp_path / "home")
    config = instance.event_log_storage.get_pool_config()
    assert config.default_pool_limit == 1
    assert config.pool_granularity == dg._core.instance.config.PoolGranularity.OP


def test_jobs_cover_every_materializable_asset_once():
    defs = _defs()
    daily = set(defs.resolve_job_def(DAILY_JOB).asset_layer.selected_asset_keys)
    monthly = set(defs.resolve_job_def(MONTHLY_JOB).asset_layer.selected_asset_keys)
    assert not daily & monthly
    tables = set(defs.resolve_asset_graph().materializable_asset_keys) - {DASHBOARD_KEY}
    assert daily | monthly == tables


def test_code_location_imports_without_warnings():
    result = subprocess.run(
        [sys.executable, "-W", "error", "-c", "import finance_assets.definitions"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]


def test_ui_names_stay_distinct_where_only_the_last_part_of_a_key_shows():
    graph = _defs().resolve_asset_graph()
    names = [key.path[-1] for key in graph.get_all_asset_keys()]
    assert len(names) == len(set(names)), sorted(names)


def test_every_layer_has_its_own_group():
    graph = _defs().resolve_asset_graph()
    groups = {key.path[0]: graph.get(key).group_name for key in graph.get_all_asset_keys()}
    assert groups == {layer: layer for layer in groups}
    assert set(groups) == {"landing", "bronze", "silver", "quarantine", "gold", "analytics"}


def test_workspace_yaml_serves_the_code_location_dg_dev_serves():
    """``dagster dev -w workspace.yaml`` and ``dg dev`` (make dev) show the same location."""
    root = Path(__file__).resolve().parents[2]
    dg_config = tomlkit.parse((root / "pyproject.toml").read_text())["tool"]["dg"]
    # dg reads nothing (dg dev, dg check defs fail) when [tool.dg.*] tables are scattered.
    assert isinstance(dg_config, tomlkit.items.Table), "keep the [tool.dg.*] tables together"
    project = dg_config.unwrap()
    (entry,) = yaml.safe_load((root / "workspace.yaml").read_text())["load_from"]
    module = entry["python_module"]
    assert module["module_name"] == project["project"]["code_location_target_module"]
    assert module["location_name"] == project["project"]["code_location_name"]
