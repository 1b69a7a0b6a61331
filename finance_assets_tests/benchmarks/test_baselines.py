"""The benchmark compares like with like: every baseline produces the product's gold tables.

On the same small, dirty landing drops (3 days x 20 orders, every reason code), the
product (through the benchmark's own product engine, which also reads Dagster's step
events), the same-parser PySpark baseline and the DuckDB baseline must agree on every gold
table, value for value, and on silver and quarantine row counts; the idiomatic PySpark
baseline (Spark's own CSV reader) on silver and quarantine row counts per dataset and
reason, and on the three gold tables it writes. The benchmark harness
itself (child processes, peak memory, report, Markdown block) is exercised on DuckDB,
which starts no JVM.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap
import time
from datetime import date, timedelta

import pytest

from benchmarks import duckdb_baseline, idiomatic_pyspark, pyspark_baseline, report
from benchmarks.compare import compare_gold
from benchmarks.procmon import TreeMonitor
from finance_assets.landing.generate import GenerateConfig, generate
from finance_assets_tests.support.oracle import GOLD_TABLES

START, END = date(2024, 1, 1), date(2024, 1, 3)


@pytest.fixture(scope="module")
def engines(spark, tmp_path_factory):
    from benchmarks import product

    root = tmp_path_factory.mktemp("bench")
    landing = root / "landing"
    generate(str(landing), GenerateConfig(START, END, orders_per_day=20, dirty_rate=0.15))
    lake = root / "lake"
    return {
        "landing": landing,
        "lake": lake,
        "product": product.run(str(landing), str(lake), START, END),
        "pyspark": pyspark_baseline.run(str(landing), str(root / "pyspark"), START, END, spark),
        "duckdb": duckdb_baseline.run(str(landing), str(root / "duckdb"), START, END),
        "idiomatic": idiomatic_pyspark.run(
            str(landing), str(root / "idiomatic"), START, END, spark
        ),
        "root": root,
    }


@pytest.mark.slow
@pytest.mark.parametrize("baseline", ["pyspark", "duckdb"])
def test_baseline_gold_equals_product_gold(engines, baseline) -> None:
    assert engines["product"]["ok"], engines["product"]
    assert compare_gold(engines["lake"], engines["root"] / baseline / "gold") == {}


@pytest.mark.slow
def test_every_engine_reads_and_sorts_the_same_rows(engines) -> None:
    product = engines["product"]["layers"]
    for baseline in ("pyspark", "duckdb"):
        layers = engines[baseline]["layers"]
        assert layers["bronze"]["rows_out"] == product["bronze"]["rows_out"], baseline
        for key in ("silver", "quarantine"):
            assert layers["silver"][key] == product["silver"][key], (baseline, key)
        assert layers["gold"]["tables"].keys() == set(GOLD_TABLES)
    quarantined = product["silver"]["quarantine"]
    assert quarantined > 10, "the drops must be dirty enough to exercise the rules"


def _reasons(folder) -> dict[tuple[str, str], int]:
    """Quarantined rows per (dataset, reason) in a Delta lake or a Parquet output."""
    import duckdb

    from finance_assets.lake.arrow import dataset

    con, counts = duckdb.connect(), {}
    for name in ("orders", "payments", "expenses", "budgets"):
        path = folder / "quarantine" / name
        if (path / "_delta_log").exists():
            con.register("q", dataset(path))
            source = "q"
        else:
            source = f"read_parquet('{path}/**/*.parquet', hive_partitioning = true)"
        query = f"SELECT _reason, count(*) FROM {source} GROUP BY _reason"
        counts.update({(name, r): n for r, n in con.execute(query).fetchall()})
    return counts


@pytest.mark.slow
def test_idiomatic_baseline_sorts_rows_as_the_product_does(engines) -> None:
    product, idiomatic = engines["product"]["layers"], engines["idiomatic"]["layers"]
    for key in ("silver", "quarantine"):
        assert idiomatic["silver"][key] == product["silver"][key], key
    reasons = _reasons(engines["root"] / "idiomatic")
    assert reasons == _reasons(engines["lake"])
    assert {r for _, r in reasons} >= {"malformed_row", "missing_column", "duplicate"}
    gold = engines["root"] / "idiomatic" / "gold"
    assert compare_gold(engines["lake"], gold, tables=idiomatic_pyspark.GOLD) == {}


@pytest.mark.slow
def test_product_engine_reads_layer_times_from_step_events(engines) -> None:
    result = engines["product"]
    steps = result["steps"]
    for key in (
        "bronze__orders_raw",
        "validate_orders",
        "gold__daily_kpi",
        "gold__budget_vs_actual",
    ):
        assert steps.get(key, 0) > 0, key
    layers = result["layers"]
    assert all(layers[name]["seconds"] > 0 for name in ("bronze", "silver", "gold"))
    assert layers["silver"]["rows_out"] == layers["bronze"]["rows_in"] == result["input_rows"]
    assert result["spark_start_seconds"] is not None
    assert sum(layers[n]["seconds"] for n in layers) == pytest.approx(sum(steps.values()))
    assert result["runs"] >= 2 and len(result["runs_seconds"]) == result["runs"]


def test_layer_of_step_keys() -> None:
    from benchmarks.product import layer_of

    assert layer_of("bronze__orders") == "bronze"
    assert layer_of("validate_payments") == "silver"
    assert layer_of("silver__payment_orders") == "silver"
    assert layer_of("gold__daily_kpi") == "gold"
    assert layer_of("gold__daily_kpi_pandera_schema", checks_only=True) == "checks"
    assert layer_of("analytics__dashboard") == "other"


@pytest.mark.slow
def test_compare_detects_a_changed_value(engines, tmp_path) -> None:
    import duckdb

    changed = tmp_path / "gold"
    shutil.copytree(engines["root"] / "duckdb" / "gold", changed)
    source = changed / "daily_kpi" / "part-0.parquet"
    target = changed / "daily_kpi" / "part-1.parquet"
    duckdb.connect().execute(
        f"COPY (SELECT * REPLACE (CASE WHEN date = DATE '{START}' THEN revenue + 0.01 "
        f"ELSE revenue END AS revenue) FROM read_parquet('{source}')) TO '{target}' "
        "(FORMAT parquet)"
    )
    source.unlink()
    problems = compare_gold(engines["lake"], changed)
    assert set(problems) == {"daily_kpi"}, problems


def test_pyspark_baseline_never_imports_dagster() -> None:
    code = textwrap.dedent(
        """
        import sys
        import benchmarks.child
        import benchmarks.pyspark_baseline
        import benchmarks.duckdb_baseline
        import benchmarks.idiomatic_pyspark
        loaded = sorted(m for m in sys.modules if m.split(".")[0] == "dagster")
        assert not loaded, loaded
        """
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def test_tree_monitor_sees_a_child_and_its_children() -> None:
    """Peak memory of a process tree: a parent holding ~40 MB and a child holding ~120 MB."""
    code = textwrap.dedent(
        """
        import subprocess, sys, time
        held = bytearray(40 * 1024 * 1024)
        child = subprocess.Popen([sys.executable, "-c",
            "import time; b = bytearray(120 * 1024 * 1024); time.sleep(1.5)"])
        child.wait()
        """
    )
    process = subprocess.Popen([sys.executable, "-c", code])
    monitor = TreeMonitor(process.pid, interval=0.05)
    monitor.start()
    process.wait(timeout=60)
    summary = monitor.stop().summary()
    assert 40 <= summary["driver_peak_mb"] < 120, summary
    assert summary["python_worker_peak_mb"] >= 120, summary
    assert summary["tree_peak_mb"] >= 150, summary


def test_run_engine_measures_duckdb_in_its_own_process(tmp_path) -> None:
    from benchmarks.run import run_engine

    landing = tmp_path / "landing"
    generate(str(landing), GenerateConfig(START, START, orders_per_day=15))
    ballast = b"x" * (1024 * 1024 * 1024)  # resident in this process, not in the child's
    t0 = time.perf_counter()
    result = run_engine("duckdb", landing, tmp_path / "out", START, START, tmp_path, "duck")
    del ballast
    assert result["ok"], result.get("log_tail")
    assert 0 < result["wall_seconds"] <= time.perf_counter() - t0
    assert 20 < result["memory"]["driver_peak_mb"] < 700, result["memory"]
    assert result["memory"]["jvm_peak_mb"] == 0
    assert result["layers"]["bronze"]["rows_per_second"] > 0
    assert json.loads((tmp_path / "logs" / "duck.json").read_text())["engine"] == "duckdb"


def _day(history: int, step_seconds: float, check_seconds: float) -> dict:
    """A day's figures: a fresh process (15 s to its first step, 2 s of it after the call
    of materialize), then a warm repeat."""
    return {
        "ok": True,
        "history_days": history,
        "day": "2024-02-01",
        "input_rows": 100,
        "wall_seconds": 2 * step_seconds + 40,  # the process, warm repeat included
        "fresh_before_first_step_seconds": 15.0,
        "before_first_step_seconds": 2.0,
        "materialize_seconds": step_seconds + 3,
        "step_seconds": step_seconds,
        "steps": {"gold__sales_performance": step_seconds - check_seconds, "check": check_seconds},
        "layers": {"checks": {"seconds": check_seconds}},
        "warm": {"ok": True, "materialize_seconds": step_seconds + 1, "step_seconds": step_seconds},
    }


def test_report_and_markdown_block(tmp_path) -> None:
    from benchmarks.run import goals, ratios

    run = {
        "ok": True,
        "input_rows": 1000,
        "wall_seconds": 10.0,
        "spark_start_seconds": 2.0,
        "memory": {"driver_peak_mb": 100, "jvm_peak_mb": 900, "tree_peak_mb": 1200},
        "layers": {
            "bronze": {"rows_in": 1000, "rows_out": 1000, "seconds": 4.0, "rows_per_second": 250.0}
        },
    }
    results = {
        "config": {"start": "2024-01-01", "days": 3, "orders_per_day": 20},
        "landing": {"rows": {"orders": 60}, "files": 12, "bytes": 5000},
        "machine": {"cpus": 2, "versions": {}},
        "backfill": {"product": run, "idiomatic": {**run, "wall_seconds": 8.0}},
        "incremental": [_day(30, 10.0, 0.5), _day(365, 13.0, 2.0)],
        "memory_scaling": [
            {
                "scale": 1,
                "orders_per_day": 10,
                "input_rows": 100,
                "ok": True,
                "wall_seconds": 5.0,
                "memory": run["memory"],
            },
            {
                "scale": 4,
                "orders_per_day": 40,
                "input_rows": 400,
                "ok": True,
                "wall_seconds": 6.0,
                "memory": {**run["memory"], "driver_peak_mb": 110},
            },
        ],
    }
    results["ratios"] = ratios(results["backfill"])
    results["goals"] = goals(results)
    verdicts = {g["name"]: g["met"] for g in results["goals"]}
    assert verdicts == {
        "day on the 365-day lake, fresh process, end to end": False,  # 15 + 16 - 2 s > 20 s
        "day on the 365-day lake, step time": False,  # 13 s > 8 s
        "day on the 365-day lake / day on the 30-day lake (step time)": False,  # 1.3x > 1.2x
        "check steps of the day: longest / shortest history": False,  # 4x
        "backfill / idiomatic PySpark": False,  # 1.25x > 1.0x
        "backfill / DuckDB": None,  # not run
        "bronze rows/s (backfill)": False,  # 250 < 300,000
        "checks share of step time (backfill)": None,  # no step times
        "checks share of step time (day on the 365-day lake)": False,  # 2/13 > 10%
        "peak memory (tree) 16x / 1x": True,  # 1.0x
        "an empty partition (a day without its a dataset drop): bronze + silver steps": None,
    }
    text = report.text(results)
    assert "| backfill / idiomatic PySpark  |" not in text  # text tables are not Markdown
    assert any(
        "backfill / idiomatic PySpark" in line and "1.25x" in line and "NOT met" in line
        for line in text.splitlines()
    )
    assert "not measured" in text
    fresh = next(g for g in results["goals"] if "end to end" in g["name"])
    assert fresh["measured"] == pytest.approx(29.0)  # not the process's 66 s
    assert "driver 1.10x" in text
    doc = tmp_path / "perf.md"
    doc.write_text(
        f"# Performance\n\nIntro: the block sits between `{report.START}` and `{report.END}`.\n\n"
        "<!-- bench:results:start -->\nOLD BLOCK\n<!-- bench:results:end -->\n\nMethodology.\n"
    )
    report.update_markdown(doc, report.markdown(results))
    updated = doc.read_text()
    assert "OLD BLOCK" not in updated and "Intro:" in updated and "Methodology." in updated
    assert updated.count(report.START) == 2 and "| product |" in updated
    assert f"`{report.START}` and `{report.END}`" in updated, "prose mentions stay as they are"
    fresh = tmp_path / "README.md"
    fresh.write_text("# Title\n")
    report.update_markdown(fresh, "body")
    assert fresh.read_text().endswith(f"## Performance\n\n{report.START}\nbody\n{report.END}\n")


def _empty_day(bronze: float, silver: float) -> dict:
    """The figures of a day without an expenses drop: a fresh process, then a warm repeat."""
    steps = {"bronze__expenses_raw": bronze, "validate_expenses": silver, "gold__daily_kpi": 3.0}
    warm = {"bronze__expenses_raw": bronze / 2, "validate_expenses": silver / 2}
    return {
        "ok": True,
        "steps": steps,
        "step_seconds": sum(steps.values()),
        "materialize_seconds": 9.0,
        "warm": {"ok": True, "steps": warm, "step_seconds": 4.0, "materialize_seconds": 5.0},
    }


@pytest.mark.parametrize(("bronze", "silver", "met"), [(0.3, 0.5, True), (0.4, 2.1, False)])
def test_empty_partition_goal_adds_the_empty_datasets_steps(bronze, silver, met) -> None:
    from benchmarks.run import BenchConfig, empty_partition_goal, goals

    run = _empty_day(bronze, silver)
    run.update(dataset="expenses", day="2024-01-05", history_days=4)
    run["empty_steps"] = report.empty_steps(run, "expenses")
    run["warm"]["empty_steps"] = report.empty_steps(run["warm"], "expenses")
    goal = empty_partition_goal(run)
    assert goal["measured"] == pytest.approx(bronze + silver)  # gold's 3 s not counted
    assert goal["met"] is met and goal["target"] == 1.0
    assert goal in goals({"empty_partition": run})
    assert empty_partition_goal({**run, "ok": False})["met"] is None
    assert BenchConfig(days=3, start=date(2024, 1, 1)).empty_day == date(2024, 1, 5)
    results = {"empty_partition": run, "goals": [goal], "config": {}, "machine": {}}
    markdown = report.markdown(results)
    assert "An empty partition: the day after on the 4-day lake" in markdown
    row = next(line for line in markdown.splitlines() if line.startswith("| 2024-01-05 |"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells == [
        "2024-01-05",
        "ok",
        f"{bronze:.1f}",
        f"{silver:.1f}",
        f"{bronze + silver:.1f}",
        f"{bronze + silver + 3:.1f}",
        f"{(bronze + silver) / 2:.1f}",
        "4.0",
        "5.0",
    ]
    verdict = "met" if met else "NOT met"
    assert any(
        line.startswith("| an empty partition (a day without its expenses drop)")
        and line.endswith(f"| {verdict} |")
        for line in markdown.splitlines()
    )


@pytest.mark.slow
def test_every_history_ends_the_day_before_the_same_incremental_day() -> None:
    from benchmarks.run import BenchConfig, history_lengths, history_window

    cfg = BenchConfig(days=90, start=date(2024, 1, 1), history_days=(30, 60, 120))
    assert history_lengths(cfg) == [30, 60, 90]
    assert history_window(cfg, 90) == (cfg.start, cfg.end)
    for history in (30, 60):
        first, last = history_window(cfg, history)
        assert last == cfg.end == cfg.incremental_day - timedelta(days=1)
        assert (last - first).days + 1 == history


def test_empty_partition_runs_the_day_without_a_drop(spark, tmp_path) -> None:
    """The bench's empty-partition run on a tiny lake: a fresh product process materializes
    the day whose expenses folder is empty, and its figures name that dataset's steps."""
    from benchmarks import product
    from benchmarks.run import BenchConfig, empty_partition, prepare_landing

    cfg = BenchConfig(days=1, orders_per_day=10, start=START, warm_repeats=1, work_dir=tmp_path)
    landing, lake = tmp_path / "landing", tmp_path / "lake"
    empty = frozenset({(cfg.empty_dataset, cfg.empty_day)})
    prepared = prepare_landing(landing, cfg.start, cfg.empty_day, 10, cfg, empty)
    assert prepared["config"]["empty_folders"] == [["expenses", cfg.empty_day.isoformat()]]
    assert not any((landing / "expenses" / cfg.empty_day.isoformat()).iterdir())
    assert product.run(str(landing), str(lake), cfg.start, cfg.incremental_day)["ok"]

    run = empty_partition(cfg, landing, lake, tmp_path)
    assert run["ok"], run.get("log_tail")
    assert run["row_counts"].get("bronze/expenses_raw", 0) == 0
    assert run["row_counts"]["bronze/orders_raw"] > 0
    figures = run["empty_steps"]
    assert figures["bronze"] > 0 and figures["silver"] > 0
    assert figures["total"] == pytest.approx(
        run["steps"]["bronze__expenses_raw"] + run["steps"]["validate_expenses"]
    )
    assert figures["total"] < figures["day_steps"]
    assert run["warm"]["empty_steps"]["total"] > 0
