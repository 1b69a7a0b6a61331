"""``finance-assets bench``: generate a dataset, run every engine on it, print the figures.

One command measures, on the same landing files:

1. the product (``finance-assets materialize`` for the whole range: one backfill), with
   per-layer rows, wall seconds and rows per second from Dagster's step events;
2. the idiomatic PySpark baseline (``benchmarks.idiomatic_pyspark``): the script a user
   would write instead, Spark's CSV reader and the contract's rules as DataFrame
   expressions;
3. the same-parser PySpark baseline (the product's own bronze parsing, no Dagster): the
   orchestration overhead;
4. the DuckDB baseline (same silver rules and gold tables in SQL): the single-machine
   reference;
5. one incremental day (the next day's drop) on lakes holding several history lengths at
   the same daily volume, the same calendar day on each, in a fresh process (time before
   the first step apart from step time) and then again in the same, warm process;
6. an empty partition: the day after, on the longest history, with no drop of one dataset
   (``empty_dataset``; its folder is there, empty): its bronze and silver steps, and the day;
7. the product at 1x, 4x, 16x of a small scale, to show peak memory stays bounded.

Every engine runs in its own process (``benchmarks.child``), started fresh so
that its start-up (Python imports, the JVM) counts and its peak memory (driver, JVM,
Spark's Python workers) is measured alone. Results go to JSON and, with ``--markdown``,
into the Performance block of the given Markdown files.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

from benchmarks import machine, report
from benchmarks.procmon import TreeMonitor

ENGINES = ("product", "idiomatic", "pyspark", "duckdb")
CHILD_TIMEOUT_S = 6 * 3600
CHECKOUT = Path(__file__).resolve().parent.parent


@dataclass
class BenchConfig:
    days: int = 365
    orders_per_day: int = 50_000
    start: date = date(2024, 1, 1)
    scales: tuple[int, ...] = (1, 4, 16)
    scale_days: int = 7
    scale_orders_per_day: int = 2_000
    history_days: tuple[int, ...] = (30, 182)
    warm_repeats: int = 1
    work_dir: Path = Path("data/bench")
    out: Path = Path("data/bench/bench.json")
    skip_baselines: bool = False
    skip_incremental: bool = False
    markdown: list[Path] = field(default_factory=list)
    seed: int = 7
    dirty_rate: float = 0.02
    files_per_folder: int = 2
    empty_dataset: str = "expenses"
    command: str = ""

    @property
    def end(self) -> date:
        return self.start + timedelta(days=self.days - 1)

    @property
    def incremental_day(self) -> date:
        return self.end + timedelta(days=1)

    @property
    def empty_day(self) -> date:
        """The day after the incremental day: no ``empty_dataset`` drop lands on it."""
        return self.incremental_day + timedelta(days=1)


def _log(message: str) -> None:
    print(f"[bench {datetime.now():%H:%M:%S}] {message}", file=sys.stderr, flush=True)


# --- data ------------------------------------------------------------------------------


def prepare_landing(
    folder: Path,
    start: date,
    end: date,
    orders_per_day: int,
    cfg: BenchConfig,
    empty_folders: frozenset[tuple[str, date]] = frozenset(),
) -> dict:
    """Generate drops for [start, end] into ``folder`` unless the same ones are already there;
    ``empty_folders``: (dataset, day) folders left without files."""
    from finance_assets.landing.generate import GenerateConfig, generate

    wanted = {
        "start": start.isoformat(),
        "end": end.isoformat(),
        "orders_per_day": orders_per_day,
        "dirty_rate": cfg.dirty_rate,
        "files_per_folder": cfg.files_per_folder,
        "seed": cfg.seed,
        "empty_folders": sorted([name, day.isoformat()] for name, day in empty_folders),
    }
    marker = folder / "_bench_landing.json"
    if marker.exists():
        recorded = json.loads(marker.read_text())
        if recorded.get("config") == wanted:
            return {**recorded, "reused": True}
    shutil.rmtree(folder, ignore_errors=True)
    _log(f"generating {start}..{end} at {orders_per_day:,} orders/day into {folder}")
    t0 = time.perf_counter()
    rows = generate(
        str(folder),
        GenerateConfig(
            start=start,
            end=end,
            orders_per_day=orders_per_day,
            dirty_rate=cfg.dirty_rate,
            files_per_folder=cfg.files_per_folder,
            seed=cfg.seed,
            empty_folders=frozenset(empty_folders),
        ),
    )
    seconds = time.perf_counter() - t0
    size = sum(p.stat().st_size for p in folder.rglob("*.csv"))
    files = sum(1 for _ in folder.rglob("*.csv"))
    info = {"config": wanted, "rows": rows, "bytes": size, "files": files, "seconds": seconds}
    marker.write_text(json.dumps(info, indent=1))
    return {**info, "reused": False}


# --- one engine in its own process ----------------------------------------------------


def child_env() -> dict[str, str]:
    """The caller's environment minus what would change what is measured."""
    env = dict(os.environ)
    for name in ("DAGSTER_HOME", "FINANCE_LANDING_URI", "FINANCE_LAKE_URI"):
        env.pop(name, None)  # CLI runs use an ephemeral instance, as without DAGSTER_HOME
    env["PYTHONUNBUFFERED"] = "1"
    # The benchmarks live in the source checkout, not in the installed package.
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(CHECKOUT), env.get("PYTHONPATH")]))
    return env


def run_engine(
    engine: str,
    landing: Path,
    out: Path,
    start: date,
    end: date,
    work_dir: Path,
    label: str,
    timeout: float = CHILD_TIMEOUT_S,
    extra_args: tuple[str, ...] = (),
) -> dict:
    """Run one engine in a fresh process; its result plus wall time and peak memory."""
    logs = work_dir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    result_path, log_path = logs / f"{label}.json", logs / f"{label}.log"
    result_path.unlink(missing_ok=True)
    argv = [sys.executable, "-m", "benchmarks.child", engine]
    argv += ["--landing", str(landing.resolve()), "--out", str(out.resolve())]
    argv += ["--start", start.isoformat(), "--end", end.isoformat(), "--result", str(result_path)]
    argv += list(extra_args)
    _log(f"{label}: {engine} {start}..{end} (log: {log_path})")
    with open(log_path, "wb") as log:
        started_at, t0 = time.time(), time.perf_counter()
        process = subprocess.Popen(
            argv,
            cwd=work_dir,
            env=child_env(),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # its own process group: stopped as one on interrupt
        )
        monitor = TreeMonitor(process.pid)
        monitor.start()
        try:
            returncode = process.wait(timeout=timeout)
        except BaseException:
            _stop_group(process)
            raise
        finally:
            snapshot = monitor.stop()
        wall = time.perf_counter() - t0
    result = json.loads(result_path.read_text()) if result_path.exists() else {"ok": False}
    own_peaks = {int(k): v for k, v in result.pop("own_peaks", {}).items()}
    own_kinds = {int(k): v for k, v in result.pop("own_kinds", {}).items()}
    snapshot.merge_peaks(own_peaks, own_kinds)
    result.update(
        engine=engine,
        label=label,
        start=start.isoformat(),
        end=end.isoformat(),
        wall_seconds=wall,
        returncode=returncode,
        memory=snapshot.summary(),
    )
    result["ok"] = bool(result.get("ok")) and returncode == 0
    if result.get("first_step_at"):  # process start to first step: imports, JVM, definitions
        result["fresh_before_first_step_seconds"] = result["first_step_at"] - started_at
    if result.get("dagster_imported"):  # the plain baseline would not measure what it says
        result["ok"] = False
        result["error"] = f"the {engine} baseline imported Dagster"
    for layer in result.get("layers", {}).values():
        seconds = layer.get("seconds") or 0.0
        rows = layer.get("rows_in")
        layer["rows_per_second"] = rows / seconds if rows is not None and seconds > 0 else None
    if not result["ok"]:
        result["log_tail"] = log_path.read_text(errors="replace")[-3000:]
        _log(f"{label} FAILED (exit {returncode}); see {log_path}")
    else:
        _log(f"{label}: {wall:.1f} s, tree peak {result['memory']['tree_peak_mb']:.0f} MB")
    return result


def _stop_group(process: subprocess.Popen) -> None:
    """Stop the child and everything it started (its own process group)."""
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=20)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=20)


# --- the benchmark --------------------------------------------------------------------


def ratio(a: dict | None, b: dict | None, key: str = "wall_seconds") -> float | None:
    if not a or not b or not a.get("ok") or not b.get("ok") or not b.get(key):
        return None
    return a[key] / b[key]


def _without_start(result: dict | None) -> dict | None:
    if not result or not result.get("ok"):
        return result
    start = result.get("spark_start_seconds") or 0.0
    return {**result, "wall_seconds": result["wall_seconds"] - start}


def run_bench(cfg: BenchConfig) -> dict:
    work = cfg.work_dir.resolve()
    work.mkdir(parents=True, exist_ok=True)
    results: dict = {
        "started_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "command": cfg.command,
        "config": {
            k: (str(v) if isinstance(v, (Path, date)) else v) for k, v in asdict(cfg).items()
        },
        "machine": machine.describe(),
        "load_average_before": machine.load_average(),
    }
    last_day = cfg.empty_day if not cfg.skip_incremental else cfg.end
    days = cfg.days + (0 if cfg.skip_incremental else 2)
    empty = frozenset() if cfg.skip_incremental else {(cfg.empty_dataset, cfg.empty_day)}
    landing = work / f"landing-{cfg.start}-{days}d-{cfg.orders_per_day}"
    results["landing"] = prepare_landing(
        landing, cfg.start, last_day, cfg.orders_per_day, cfg, frozenset(empty)
    )

    lake = work / "out" / "product-lake"
    results["backfill"] = backfill(cfg, landing, lake, work)
    results["verification"] = verify(results["backfill"], lake, work)
    # After the comparison: the incremental day changes the product's gold tables.
    if not cfg.skip_incremental and results["backfill"]["product"].get("ok"):
        results["incremental"] = incremental_days(cfg, landing, lake, work)
        if results["incremental"] and results["incremental"][-1].get("ok"):
            results["empty_partition"] = empty_partition(cfg, landing, lake, work)
    results["ratios"] = ratios(results["backfill"])
    results["memory_scaling"] = memory_scaling(cfg, work)
    results["goals"] = goals(results)
    results["load_average_after"] = machine.load_average()
    results["finished_at"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
    return results


def backfill(cfg: BenchConfig, landing: Path, lake: Path, work: Path) -> dict[str, dict]:
    """The whole range by every engine, each in a fresh process."""
    shutil.rmtree(lake, ignore_errors=True)
    runs = {
        "product": run_engine(
            "product", landing, lake, cfg.start, cfg.end, work, "backfill-product"
        )
    }
    if not cfg.skip_baselines:
        for engine in ENGINES[1:]:
            out = work / "out" / engine
            runs[engine] = run_engine(
                engine, landing, out, cfg.start, cfg.end, work, f"backfill-{engine}"
            )
    return runs


def history_lengths(cfg: BenchConfig) -> list[int]:
    """The history lengths (days) the incremental day is measured on: the shorter ones
    asked for, and the whole backfill."""
    return sorted({d for d in cfg.history_days if d < cfg.days} | {cfg.days})


def history_window(cfg: BenchConfig, history: int) -> tuple[date, date]:
    """The first and last day of a lake of ``history`` days: the days just before the
    incremental day (for the whole backfill, its own range)."""
    day = cfg.incremental_day
    return day - timedelta(days=history), day - timedelta(days=1)


def incremental_days(cfg: BenchConfig, landing: Path, lake: Path, work: Path) -> list[dict]:
    """The same next day (``incremental_day``) on lakes of each history length, at the same
    daily volume: a fresh process, then (``warm_repeats``) the same day again in that
    process. The longest history is the backfilled lake; each shorter one holds the days
    just before that day, backfilled first (not timed here). The same calendar day on each,
    so the monthly tables' month to date is the same length on every lake at least a month
    long, and only the history differs."""
    warm = ("--warm-repeats", str(cfg.warm_repeats))
    measured = []
    day = cfg.incremental_day
    for history in history_lengths(cfg):
        history_lake = lake
        if history < cfg.days:
            history_lake = work / "out" / f"history-{history}d-lake"
            shutil.rmtree(history_lake, ignore_errors=True)
            prepared = run_engine(
                "product",
                landing,
                history_lake,
                *history_window(cfg, history),
                work,
                f"history-{history}d-backfill",
            )
            if not prepared.get("ok"):
                measured.append({**prepared, "history_days": history, "day": day.isoformat()})
                continue
        run = run_engine(
            "product",
            landing,
            history_lake,
            day,
            day,
            work,
            f"day-after-{history}d",
            extra_args=warm,
        )
        run.update(history_days=history, day=day.isoformat(), orders_per_day=cfg.orders_per_day)
        if run.get("warm") and not run["warm"].get("ok"):
            run["ok"] = False
        measured.append(run)
    return measured


def empty_partition(cfg: BenchConfig, landing: Path, lake: Path, work: Path) -> dict:
    """The day after the incremental day on the longest history, without an
    ``empty_dataset`` drop: a fresh process, then (``warm_repeats``) the same day again in it."""
    day = cfg.empty_day
    run = run_engine(
        "product",
        landing,
        lake,
        day,
        day,
        work,
        "empty-partition",
        extra_args=("--warm-repeats", str(cfg.warm_repeats)),
    )
    run.update(
        history_days=cfg.days + 1,
        day=day.isoformat(),
        dataset=cfg.empty_dataset,
        empty_steps=report.empty_steps(run, cfg.empty_dataset),
    )
    if run.get("warm"):
        run["warm"]["empty_steps"] = report.empty_steps(run["warm"], cfg.empty_dataset)
        if not run["warm"].get("ok"):
            run["ok"] = False
    return run


def memory_scaling(cfg: BenchConfig, work: Path) -> list[dict]:
    scaling = []
    for scale in cfg.scales:
        opd = cfg.scale_orders_per_day * scale
        end = cfg.start + timedelta(days=cfg.scale_days - 1)
        folder = work / f"landing-scale-{cfg.scale_days}d-{opd}"
        info = prepare_landing(folder, cfg.start, end, opd, cfg)
        scale_lake = work / "out" / f"scale-{scale}x-lake"
        shutil.rmtree(scale_lake, ignore_errors=True)
        run = run_engine("product", folder, scale_lake, cfg.start, end, work, f"scale-{scale}x")
        scaling.append(
            {
                "scale": scale,
                "days": cfg.scale_days,
                "orders_per_day": opd,
                "input_rows": sum(info["rows"].values()),
                "ok": run.get("ok"),
                "wall_seconds": run.get("wall_seconds"),
                "memory": run.get("memory"),
            }
        )
    return scaling


def ratios(runs: dict[str, dict]) -> dict[str, float | None]:
    product = runs.get("product")
    return {
        **{f"product_vs_{e}": ratio(product, runs.get(e)) for e in ENGINES[1:]},
        "product_vs_pyspark_without_spark_start": ratio(
            _without_start(product), _without_start(runs.get("pyspark"))
        ),
        "idiomatic_vs_duckdb": ratio(runs.get("idiomatic"), runs.get("duckdb")),
    }


# Issue targets, each reported as met / not met (never a timed test).
DAY_END_TO_END_S = 20.0
DAY_STEP_S = 8.0
DAY_GROWTH = 1.2
BACKFILL_VS_IDIOMATIC = 1.0
BACKFILL_VS_DUCKDB = 2.5
BRONZE_ROWS_PER_S = 300_000
CHECKS_SHARE = 0.10
MEMORY_GROWTH = 1.2  # "flat": the tree's peak grows at most this much from 1x to 16x
EMPTY_PARTITION_S = 1.0  # bronze + silver steps of a dataset whose drop did not land
EMPTY_GOAL = "an empty partition (a day without its {dataset} drop): bronze + silver steps"


def checks_share(run: dict | None) -> float | None:
    """Seconds of check-only steps over seconds of all steps (in-step checks count as
    asset time: they run inside the writing step)."""
    if not run or not run.get("ok") or not run.get("step_seconds"):
        return None
    return run["layers"].get("checks", {}).get("seconds", 0.0) / run["step_seconds"]


def _goal(name: str, measured, target, at_most: bool = True, unit: str = "") -> dict:
    met = None if measured is None else (measured <= target if at_most else measured >= target)
    return {
        "name": name,
        "target": target,
        "at_most": at_most,
        "unit": unit,
        "measured": measured,
        "met": met,
    }


def goals(results: dict) -> list[dict]:
    """Every target of the benchmark with what this run measured."""
    found = []
    days = [d for d in results.get("incremental") or [] if d.get("ok")]
    if days:
        longest, shortest = days[-1], days[0]
        n = longest["history_days"]
        found += [
            _goal(
                f"day on the {n}-day lake, fresh process, end to end",
                report.fresh_seconds(longest),
                DAY_END_TO_END_S,
                unit="s",
            ),
            _goal(
                f"day on the {n}-day lake, step time", longest["step_seconds"], DAY_STEP_S, unit="s"
            ),
        ]
        if len(days) > 1:
            growth = longest["step_seconds"] / shortest["step_seconds"]
            found.append(
                _goal(
                    f"day on the {n}-day lake / day on the {shortest['history_days']}-day lake "
                    "(step time)",
                    growth,
                    DAY_GROWTH,
                    unit="x",
                )
            )
            checks = [
                d["layers"].get("checks", {}).get("seconds", 0.0) for d in (shortest, longest)
            ]
            found.append(
                _goal(
                    "check steps of the day: longest / shortest history",
                    checks[1] / checks[0] if checks[0] else None,
                    DAY_GROWTH,
                    unit="x",
                )
            )
    r = results.get("ratios", {})
    product = results.get("backfill", {}).get("product")
    bronze = (product or {}).get("layers", {}).get("bronze", {})
    found += [
        _goal(
            "backfill / idiomatic PySpark",
            r.get("product_vs_idiomatic"),
            BACKFILL_VS_IDIOMATIC,
            unit="x",
        ),
        _goal("backfill / DuckDB", r.get("product_vs_duckdb"), BACKFILL_VS_DUCKDB, unit="x"),
        _goal(
            "bronze rows/s (backfill)",
            bronze.get("rows_per_second") if product and product.get("ok") else None,
            BRONZE_ROWS_PER_S,
            at_most=False,
            unit="rows/s",
        ),
        _goal("checks share of step time (backfill)", checks_share(product), CHECKS_SHARE),
    ]
    if days:
        found.append(
            _goal(
                f"checks share of step time (day on the {days[-1]['history_days']}-day lake)",
                checks_share(days[-1]),
                CHECKS_SHARE,
            )
        )
    growth = report.growth(results).get("tree_peak_mb")
    found.append(_goal("peak memory (tree) 16x / 1x", growth, MEMORY_GROWTH, unit="x"))
    found.append(empty_partition_goal(results.get("empty_partition")))
    return found


def empty_partition_goal(run: dict | None) -> dict:
    """The bronze and silver steps of the dataset without a drop, fresh process."""
    if not run or not run.get("ok") or not run.get("empty_steps"):
        return _goal(EMPTY_GOAL.format(dataset="a dataset"), None, EMPTY_PARTITION_S, unit="s")
    return _goal(
        EMPTY_GOAL.format(dataset=run["dataset"]),
        run["empty_steps"]["total"],
        EMPTY_PARTITION_S,
        unit="s",
    )


def verify(backfill: dict, lake: Path, work: Path) -> dict[str, dict]:
    """Whether each baseline wrote the product's gold tables (after the timing, untimed)."""
    from benchmarks.compare import compare_gold
    from benchmarks.idiomatic_pyspark import GOLD

    checked = {}
    for engine in ENGINES[1:]:
        run = backfill.get(engine)
        if not run or not run.get("ok") or not backfill["product"].get("ok"):
            continue
        tables = {"tables": GOLD} if engine == "idiomatic" else {}
        try:
            problems = compare_gold(lake, work / "out" / engine / "gold", **tables)
        except Exception as exc:  # a comparison that cannot run is reported, not fatal
            problems = {"*": f"comparison failed: {exc}"}
        checked[engine] = {"gold_equal": not problems, "differences": problems}
        _log(f"{engine} gold tables {'equal' if not problems else 'DIFFER from'} the product's")
    return checked


def ok(results: dict) -> bool:
    runs = [*results.get("backfill", {}).values(), *(results.get("incremental") or [])]
    runs += [results["empty_partition"]] if results.get("empty_partition") else []
    runs += results.get("memory_scaling", [])
    return all(r.get("ok") for r in runs)


def publish(results: dict, markdown: list[Path]) -> int:
    """Print the results, rewrite the Markdown blocks; 0 when every run succeeded."""
    print(report.text(results))
    for path in markdown:
        report.update_markdown(path, report.markdown(results))
        print(f"Performance section updated in {path}")
    return 0 if ok(results) else 1


def main(cfg: BenchConfig) -> int:
    results = run_bench(cfg)
    cfg.out.parent.mkdir(parents=True, exist_ok=True)
    cfg.out.write_text(json.dumps(results, indent=1, default=str))
    print(f"Results written to {cfg.out}\n")
    return publish(results, cfg.markdown)


def report_saved(path: Path, markdown: list[Path]) -> int:
    """Report a saved run again (targets judged anew from its measurements): no engine
    runs, nothing is measured."""
    results = json.loads(Path(path).read_text())
    results["goals"] = goals(results)
    return publish(results, markdown)
