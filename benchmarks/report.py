"""Benchmark results as a console table and as the Markdown of the Performance section."""

from __future__ import annotations

import re
from pathlib import Path

START = "<!-- bench:results:start -->"
END = "<!-- bench:results:end -->"
LAYERS = ("bronze", "silver", "gold", "checks", "other")


def _n(value) -> str:
    return "-" if value is None else f"{value:,.0f}"


def _s(value) -> str:
    return "-" if value is None else f"{value:,.1f}"


def _x(value) -> str:
    return "-" if value is None else f"{value:.2f}x"


def _mb(value) -> str:
    return "-" if value is None else f"{value:,.0f}"


def _layer_rows(results: dict) -> list[list[str]]:
    rows = []
    for engine, run in results.get("backfill", {}).items():
        for layer in LAYERS:
            info = run.get("layers", {}).get(layer)
            if info is None:
                continue
            rows.append(
                [
                    engine,
                    layer,
                    _n(info.get("rows_in")),
                    _n(info.get("rows_out")),
                    _s(info.get("seconds")),
                    _n(info.get("rows_per_second")),
                ]
            )
    return rows


ENGINE_NAMES = {
    "product": "product",
    "idiomatic": "idiomatic PySpark",
    "pyspark": "same-parser PySpark",
    "duckdb": "DuckDB",
}


def _engine_rows(results: dict) -> list[list[str]]:
    rows = []
    for name, run in results.get("backfill", {}).items():
        memory = run.get("memory", {})
        total = run.get("input_rows")
        wall = run.get("wall_seconds")
        rows.append(
            [
                ENGINE_NAMES.get(name, name),
                "ok" if run.get("ok") else "FAILED",
                _n(total),
                _s(wall),
                _n(total / wall if total and wall else None),
                _s(run.get("spark_start_seconds")),
                _s(run.get("orchestration_seconds")),
                _mb(memory.get("driver_peak_mb")),
                _mb(memory.get("jvm_peak_mb")),
                _mb(memory.get("python_worker_peak_mb")),
                _mb(memory.get("tree_peak_mb")),
                _load(memory),
            ]
        )
    return rows


DAY_HEADER = [
    "history days",
    "day",
    "status",
    "input rows",
    "fresh: wall s",
    "fresh: before first step s",
    "of which imports s",
    "Spark start s",
    "fresh: step s",
    "fresh: check steps s",
    "warm: wall s",
    "warm: before first step s",
    "warm: step s",
    "tree peak MB",
]


def _day_rows(results: dict) -> list[list[str]]:
    rows = []
    for run in results.get("incremental") or []:
        warm = run.get("warm") or {}
        rows.append(
            [
                _n(run.get("history_days")),
                str(run.get("day")),
                "ok" if run.get("ok") else "FAILED",
                _n(run.get("input_rows")),
                _s(fresh_seconds(run)),
                _s(run.get("fresh_before_first_step_seconds")),
                _s(run.get("import_seconds")),
                _s(run.get("spark_start_seconds")),
                _s(run.get("step_seconds")),
                _s((run.get("layers") or {}).get("checks", {}).get("seconds")),
                _s(warm.get("materialize_seconds")),
                _s(warm.get("before_first_step_seconds")),
                _s(warm.get("step_seconds")),
                _mb((run.get("memory") or {}).get("tree_peak_mb")),
            ]
        )
    return rows


def fresh_seconds(run: dict) -> float | None:
    """A day's first materialization in its fresh process, end to end: from the start of
    the process to the end of that materialization (warm repeats after it not counted)."""
    if not run.get("warm"):
        return run.get("wall_seconds")
    before, since_call = (
        run.get("fresh_before_first_step_seconds"),
        run.get("before_first_step_seconds"),
    )
    if before is None or since_call is None or run.get("materialize_seconds") is None:
        return None
    return before + run["materialize_seconds"] - since_call


def empty_steps(run: dict, dataset: str) -> dict | None:
    """Step seconds of the bronze and silver steps of ``dataset`` (the one without a drop)
    in a run's figures, and the whole day's; None when the run has no step times."""
    steps = run.get("steps") or {}
    bronze, silver = steps.get(f"bronze__{dataset}_raw"), steps.get(f"validate_{dataset}")
    if bronze is None or silver is None:
        return None
    return {
        "bronze": bronze,
        "silver": silver,
        "total": bronze + silver,
        "day_steps": run.get("step_seconds"),
        "day_materialize": run.get("materialize_seconds"),
    }


EMPTY_HEADER = [
    "day",
    "status",
    "fresh: bronze step s",
    "fresh: silver step s",
    "fresh: bronze + silver s",
    "fresh: day step s",
    "warm: bronze + silver s",
    "warm: day step s",
    "warm: day wall s",
]


def _empty_rows(results: dict) -> list[list[str]]:
    run = results.get("empty_partition")
    if not run:
        return []
    fresh = run.get("empty_steps") or {}
    warm = (run.get("warm") or {}).get("empty_steps") or {}
    return [
        [
            str(run.get("day")),
            "ok" if run.get("ok") else "FAILED",
            _s(fresh.get("bronze")),
            _s(fresh.get("silver")),
            _s(fresh.get("total")),
            _s(fresh.get("day_steps")),
            _s(warm.get("total")),
            _s(warm.get("day_steps")),
            _s(warm.get("day_materialize")),
        ]
    ]


def _slowest_steps(results: dict, count: int = 10) -> tuple[list[str], list[list[str]]]:
    """The slowest steps of the day on the longest history, with their seconds at every
    history length (fresh process)."""
    days = [d for d in results.get("incremental") or [] if d.get("steps")]
    if not days:
        return [], []
    steps = days[-1]["steps"]
    slowest = sorted(steps, key=lambda k: -steps[k])[:count]
    header = ["step", *[f"s after {d['history_days']} days" for d in days]]
    rows = [[key, *[_s(d["steps"].get(key)) for d in days]] for key in slowest]
    return header, rows


GOAL_HEADER = ["target", "goal", "measured", "met"]


def _value(value, unit: str) -> str:
    if value is None:
        return "-"
    if unit == "x":
        return _x(value)
    if unit == "s":
        return f"{value:,.1f} s"
    if unit == "rows/s":
        return f"{value:,.0f} rows/s"
    return f"{value:.1%}"


def _goal_rows(results: dict) -> list[list[str]]:
    rows = []
    for g in results.get("goals") or []:
        sign = "<=" if g["at_most"] else ">="
        met = {True: "met", False: "NOT met", None: "not measured"}[g["met"]]
        rows.append(
            [
                g["name"],
                f"{sign} {_value(g['target'], g['unit'])}",
                _value(g["measured"], g["unit"]),
                met,
            ]
        )
    return rows


def _load(memory: dict) -> str:
    mean, peak = memory.get("load_1min_mean"), memory.get("load_1min_max")
    return "-" if mean is None else f"{mean:.1f} / {peak:.1f}"


ENGINE_HEADER = [
    "run",
    "status",
    "input rows",
    "wall s (end to end)",
    "rows/s",
    "Spark start s",
    "Dagster between steps s",
    "driver peak MB",
    "JVM peak MB",
    "largest Python worker MB",
    "tree peak MB",
    "load 1 min mean / max",
]
LAYER_HEADER = ["engine", "layer", "rows in", "rows out", "seconds", "rows in/s"]
SCALE_HEADER = [
    "scale",
    "orders/day",
    "input rows",
    "wall s",
    "driver peak MB",
    "JVM peak MB",
    "largest Python worker MB",
    "tree peak MB",
]


def _scale_rows(results: dict) -> list[list[str]]:
    rows = []
    for item in results.get("memory_scaling", []):
        memory = item.get("memory") or {}
        rows.append(
            [
                f"{item['scale']}x",
                _n(item["orders_per_day"]),
                _n(item["input_rows"]),
                _s(item.get("wall_seconds")) if item.get("ok") else "FAILED",
                _mb(memory.get("driver_peak_mb")),
                _mb(memory.get("jvm_peak_mb")),
                _mb(memory.get("python_worker_peak_mb")),
                _mb(memory.get("tree_peak_mb")),
            ]
        )
    return rows


def growth(results: dict) -> dict[str, float | None]:
    """Peak memory at the largest scale divided by peak memory at the smallest."""
    items = [i for i in results.get("memory_scaling", []) if i.get("ok") and i.get("memory")]
    if len(items) < 2:
        return {}
    first, last = items[0]["memory"], items[-1]["memory"]
    out = {"data": items[-1]["input_rows"] / max(items[0]["input_rows"], 1)}
    for key in ("driver_peak_mb", "jvm_peak_mb", "python_worker_peak_mb", "tree_peak_mb"):
        out[key] = last[key] / first[key] if first.get(key) else None
    return out


def _verification_line(results: dict) -> str:
    checked = results.get("verification") or {}
    if not checked:
        return ""
    parts = [
        f"{engine} identical"
        if v["gold_equal"]
        else f"{engine} DIFFERENT: {', '.join(v['differences'])}"
        for engine, v in checked.items()
    ]
    return "Gold tables compared with the product's, row for row: " + "; ".join(parts) + "."


def _ratio_lines(results: dict) -> list[str]:
    r = results.get("ratios", {})
    return [
        f"product / idiomatic PySpark: {_x(r.get('product_vs_idiomatic'))}",
        f"product / same-parser PySpark (orchestration overhead): "
        f"{_x(r.get('product_vs_pyspark'))}; without Spark start-up: "
        f"{_x(r.get('product_vs_pyspark_without_spark_start'))}",
        f"product / DuckDB: {_x(r.get('product_vs_duckdb'))}",
        f"idiomatic PySpark / DuckDB: {_x(r.get('idiomatic_vs_duckdb'))}",
    ]


def _machine_line(results: dict) -> str:
    m = results.get("machine", {})
    v = m.get("versions", {})
    return (
        f"{m.get('cpus')} CPUs ({m.get('cpu_model')}), {m.get('memory_gib')} GiB RAM, "
        f"{m.get('os')}, Python {m.get('python')}, {m.get('java')}, "
        + ", ".join(f"{k} {val}" for k, val in v.items())
    )


def _title(results: dict) -> str:
    c = results.get("config", {})
    landing = results.get("landing", {})
    return (
        f"Backfill {c.get('start')} + {c.get('days')} days at {_n(c.get('orders_per_day'))} "
        f"orders/day: {_n(sum((landing.get('rows') or {}).values()))} rows generated in "
        f"{_n(landing.get('files'))} files ({(landing.get('bytes') or 0) / 1e6:,.1f} MB of CSV"
        + ("" if c.get("skip_incremental") else ", including the incremental and empty days")
        + ")"
    )


def _table_text(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows, strict=False)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(c.rjust(w) for c, w in zip(row, widths, strict=True)) for row in rows]
    return "\n".join(lines)


def _table_md(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def _scaling_line(results: dict) -> str:
    g = growth(results)
    if not g:
        return ""
    return (
        f"Data grew {g['data']:.1f}x; peak memory grew: driver {_x(g.get('driver_peak_mb'))}, "
        f"JVM {_x(g.get('jvm_peak_mb'))}, largest Python worker "
        f"{_x(g.get('python_worker_peak_mb'))}, whole tree {_x(g.get('tree_peak_mb'))}."
    )


def _load_line(results: dict) -> str:
    return (
        f"Load average (1, 5, 15 min) before: {results.get('load_average_before')}, "
        f"after: {results.get('load_average_after')}"
    )


DAY_TITLE = (
    "The same next day on lakes of each history length (the days just before it), same daily "
    "volume (fresh: a new process "
    "from its start, imports, JVM and definitions included; warm: the same day again in that "
    "process):"
)
BACKFILL_TITLE = "Backfill, end to end (each run is a fresh process; peak resident memory in MB):"
LAYER_TITLE = (
    "Backfill per layer (product: Dagster step time; baselines: their own phases; the "
    "idiomatic script has no bronze table, its silver phase includes reading the CSV):"
)


def _sections(results: dict) -> list[tuple[str, list[str], list[list[str]]]]:
    """(title, header, rows) of every table, in reading order."""
    sections = [
        ("Targets:", GOAL_HEADER, _goal_rows(results)),
        (BACKFILL_TITLE, ENGINE_HEADER, _engine_rows(results)),
        (LAYER_TITLE, LAYER_HEADER, _layer_rows(results)),
    ]
    if results.get("incremental"):
        sections.append((DAY_TITLE, DAY_HEADER, _day_rows(results)))
        header, rows = _slowest_steps(results)
        if rows:
            title = "Slowest steps of the day on the longest history (fresh process):"
            sections.append((title, header, rows))
    if results.get("empty_partition"):
        run = results["empty_partition"]
        title = (
            f"An empty partition: the day after on the {_n(run.get('history_days'))}-day lake, "
            f"its {run.get('dataset')} folder empty (bronze and silver steps of "
            f"{run.get('dataset')}, and the whole day):"
        )
        sections.append((title, EMPTY_HEADER, _empty_rows(results)))
    if results.get("memory_scaling"):
        sections.append(
            ("Peak memory as the data grows (product):", SCALE_HEADER, _scale_rows(results))
        )
    return sections


def _notes(results: dict) -> list[str]:
    return [
        line
        for line in [*_ratio_lines(results), _verification_line(results), _scaling_line(results)]
        if line
    ]


def text(results: dict) -> str:
    parts = [_title(results), "Machine: " + _machine_line(results), _load_line(results)]
    for title, header, rows in _sections(results):
        parts += ["", title, _table_text(header, rows)]
    return "\n".join([*parts, "", *_notes(results)])


def markdown(results: dict) -> str:
    parts = [
        f"Measured {results.get('started_at')} with `{results.get('command')}`.",
        "",
        f"- Machine: {_machine_line(results)}",
        f"- {_load_line(results)}",
        f"- {_title(results)}",
    ]
    for title, header, rows in _sections(results):
        parts += ["", title, "", _table_md(header, rows)]
    return "\n".join([*parts, "", *[f"- {line}" for line in _notes(results)]])


def update_markdown(path: Path, body: str) -> None:
    """Replace the block between the bench markers (each alone on its line); append a
    Performance section holding the block if the file has none."""
    path = Path(path)
    text_ = path.read_text() if path.exists() else ""
    block = f"{START}\n{body}\n{END}"
    pattern = re.compile(rf"^{re.escape(START)}$.*?^{re.escape(END)}$", re.M | re.S)
    if pattern.search(text_):
        path.write_text(pattern.sub(lambda _: block, text_, count=1))
        return
    sep = "" if not text_ or text_.endswith("\n\n") else ("\n" if text_.endswith("\n") else "\n\n")
    path.write_text(f"{text_}{sep}## Performance\n\n{block}\n")
