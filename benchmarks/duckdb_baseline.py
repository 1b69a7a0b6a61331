"""DuckDB baseline: the contract's bronze, silver and gold on one machine, in SQL.

The single-machine reference for the benchmark. It reads the same landing files with
DuckDB's own CSV reader (``read_csv``, every column as text), applies the silver rules and
computes the gold tables in SQL rendered from ``contract_sql`` and writes every layer as
Parquet under ``<out>``. No Spark, no Dagster.

Landing files may differ in column order, header spelling and extra columns (contract
section 1), so files are grouped by their field count: each group is read positionally
(``c0``, ``c1``, ...) in one ``read_csv`` scan, and a small per-file map (read from each
file's header line in Python) says which position holds which required column. Rows with
the wrong number of fields become ``malformed_row``: each scan declares one column more
than the header, pads short rows with nulls and stores longer ones as CSV rejects.

Known differences from the product (none affects gold on generated data): DuckDB has no
per-row line number for CSV, so the duplicate rule orders rows by file, then by scan
order (which is file order: ``preserve_insertion_order``); a malformed row's
``_corrupt_record`` is its fields joined by commas rather than its exact raw text;
whitespace-only lines are blank lines, as in the product. Files
are scanned one thread per file (``parallel=false``, required by ``null_padding`` with
quoted newlines); a year of drops has hundreds of files, so every core stays busy.
"""

from __future__ import annotations

import csv
import io
import os
import shutil
import time
from datetime import date
from pathlib import Path

from benchmarks.phases import drop_files, phase, silver_phase
from finance_assets.bronze.csv_parser import normalize_header
from finance_assets.landing.zone import local_path
from finance_assets_tests.support import oracle as C

csv.field_size_limit(1 << 30)

# No field's text reads as SQL NULL (an empty field stays "").
NEVER_NULL = "\x01\x02never-null\x02\x01"


def _header(path: str) -> list[str] | None:
    with open(path, "rb") as raw:
        text = io.TextIOWrapper(raw, encoding="utf-8-sig", errors="replace", newline="")
        for fields in csv.reader(text):
            if any(f.strip() for f in fields):
                return fields
    return None


def _sql_list(items) -> str:
    return "[" + ", ".join("'" + str(i).replace("'", "''") + "'" for i in items) + "]"


def _load_bronze(con, landing: str, dataset: str, start: date, end: date) -> tuple[list, int]:
    """Scan the dataset's files into raw tables; return the SELECTs whose union is its
    bronze (raw strings, lineage, ``_corrupt_record``) and the number of files read."""
    import pyarrow as pa

    columns = C.COLUMNS[dataset]
    rows = []  # per file: filename, partition_date, width, position of each required column
    for f in drop_files(landing, dataset, start, end):
        path = str(local_path(f.uri))
        header = _header(path)
        if header is None:
            continue
        names = [normalize_header(h) for h in header]
        positions = [names.index(c) if c in names else None for c in columns]
        rows.append((path, f.partition_date, len(header), *positions))
    fmap = pa.table(
        list(zip(*rows, strict=True)) if rows else [[] for _ in range(3 + len(columns))],
        schema=pa.schema(
            [("filename", pa.string()), ("partition_date", pa.date32()), ("width", pa.int32())]
            + [(f"p_{c}", pa.int32()) for c in columns]
        ),
    )
    con.register(f"fmap_{dataset}", fmap)
    con.execute(f"CREATE OR REPLACE TABLE files_{dataset} AS SELECT * FROM fmap_{dataset}")
    con.unregister(f"fmap_{dataset}")

    selects = []
    for width in sorted({r[2] for r in rows}):
        group = [r[0] for r in rows if r[2] == width]
        # One column more than the header: a row with a field too many fills it, a row
        # with a field too few leaves the header's last column null (null_padding, and
        # no text reads as null). DuckDB would otherwise drop a trailing empty field.
        names = [f"c{i}" for i in range(width + 1)]
        spec = "{" + ", ".join(f"'{n}': 'VARCHAR'" for n in names) + "}"
        con.execute(
            f"""CREATE OR REPLACE TABLE raw_{dataset}_{width} AS
            SELECT * FROM read_csv({_sql_list(group)}, header = true, columns = {spec},
                auto_detect = false, delim = ',', quote = '"', escape = '"',
                nullstr = '{NEVER_NULL}', null_padding = true, parallel = false,
                store_rejects = true, filename = true, strict_mode = true)"""
        )
        bad = f"(r.c{width - 1} IS NULL OR r.c{width} IS NOT NULL)"
        picks = ", ".join(
            f"CASE WHEN {bad} THEN NULL ELSE CASE m.p_{c} "
            + " ".join(f"WHEN {i} THEN r.c{i}" for i in range(width))
            + f" END END AS {c}"
            for c in columns
        )
        raw_text = "concat_ws(',', " + ", ".join(f"r.c{i}" for i in range(width + 1)) + ")"
        selects.append(
            f"""SELECT {picks}, r.filename AS _source_file, r.rowid AS _ord,
                   CASE WHEN {bad} THEN {raw_text} END AS _corrupt_record, m.partition_date
            FROM raw_{dataset}_{width} r JOIN files_{dataset} m ON m.filename = r.filename
            WHERE NOT (r.c1 IS NULL AND trim(r.c0, '{C.WHITESPACE}') = '')"""
        )
    nulls = ", ".join(f"CAST(NULL AS VARCHAR) AS {c}" for c in columns)
    selects.append(
        f"""SELECT {nulls}, x.filename AS _source_file, x.line AS _ord,
               x.csv_line AS _corrupt_record, m.partition_date
        FROM rejected x JOIN files_{dataset} m ON m.filename = x.filename"""
    )
    return selects, len(rows)


def _driver_memory() -> str:
    """FINANCE_SPARK_DRIVER_MEMORY (e.g. ``4g``) in DuckDB's spelling (``4GB``)."""
    from finance_assets.settings import Settings

    text = Settings.load().spark_driver_memory.strip().lower()
    unit = {"k": "KB", "m": "MB", "g": "GB", "t": "TB"}.get(text[-1:])
    return f"{text[:-1]}{unit}" if unit else f"{text}B"


def run(
    landing: str,
    out: str,
    start: date,
    end: date,
    threads: int | None = None,
    memory_limit: str | None = None,
) -> dict:
    """Bronze, silver, quarantine and gold for [start, end]; timings and row counts."""
    import duckdb

    out_dir = Path(out)
    shutil.rmtree(out_dir, ignore_errors=True)
    out_dir.mkdir(parents=True)
    # In memory, spilling to disk beyond the same memory the product's Spark driver gets.
    con = duckdb.connect(":memory:")
    con.execute(f"SET memory_limit = '{memory_limit or _driver_memory()}'")
    con.execute(f"SET threads = {threads or os.cpu_count() or 1}")
    con.execute("SET preserve_insertion_order = true")
    con.execute(f"SET temp_directory = '{out_dir / 'tmp'}'")
    layers: dict[str, dict] = {}
    ws = C.WHITESPACE

    t0 = time.perf_counter()
    selects = {}
    files = 0
    for dataset in C.COLUMNS:
        selects[dataset], n = _load_bronze(con, landing, dataset, start, end)
        files += n
    raw_tables = [
        r[0]
        for r in con.execute(
            "SELECT table_name FROM duckdb_tables() WHERE table_name LIKE 'raw_%'"
        ).fetchall()
    ]
    con.execute(
        f"""CREATE OR REPLACE TABLE rejected AS
        SELECT DISTINCT s.file_path AS filename, e.line, e.csv_line
        FROM reject_errors e JOIN reject_scans s ON s.scan_id = e.scan_id AND s.file_id = e.file_id
        WHERE trim(e.csv_line, '{ws}') <> ''"""
    )
    bronze_rows = 0
    for dataset in C.COLUMNS:
        con.execute(
            f"CREATE OR REPLACE TABLE bronze_{dataset} AS " + " UNION ALL ".join(selects[dataset])
        )
        _copy(con, f"bronze_{dataset}", out_dir / "bronze" / dataset, partitioned=True)
        bronze_rows += _count(con, f"bronze_{dataset}")
    for table in raw_tables:  # bronze holds the rows now; keep memory for what is left
        con.execute(f"DROP TABLE {table}")
    layers["bronze"] = phase(t0, bronze_rows, bronze_rows, files=files)

    t0 = time.perf_counter()
    silver_rows = quarantine_rows = 0
    for dataset, columns in C.COLUMNS.items():
        rules = C.RULES[dataset]
        trims = ", ".join(f"{_trimmed(c)} AS t_{c}" for c in columns)
        values = ", ".join(f"{C.typed(r, C.DUCKDB)} AS v_{r.column}" for r in rules)
        keys = ", ".join(f"v_{k}" for k in C.KEYS[dataset])
        con.execute(
            f"""CREATE OR REPLACE TABLE classified_{dataset} AS
            WITH t AS (SELECT *, {trims} FROM bronze_{dataset}),
            v AS (SELECT *, {values} FROM t),
            r AS (SELECT *, {C.reason(dataset, "_corrupt_record IS NOT NULL")} AS first_reason
                  FROM v)
            SELECT *, CASE WHEN first_reason IS NULL AND row_number() OVER (
                        PARTITION BY partition_date, first_reason IS NULL, {keys}
                        ORDER BY _source_file, _ord) > 1
                      THEN 'duplicate' ELSE first_reason END AS _reason
            FROM r"""
        )
        con.execute(f"DROP TABLE bronze_{dataset}")
        typed = ", ".join(f"v_{r.column} AS {r.column}" for r in rules)
        con.execute(
            f"""CREATE OR REPLACE VIEW silver_{dataset} AS
            SELECT {typed}, _source_file, partition_date FROM classified_{dataset}
            WHERE _reason IS NULL"""
        )
        con.execute(
            f"""CREATE OR REPLACE VIEW quarantine_{dataset} AS
            SELECT {", ".join(columns)}, _reason, _corrupt_record, _source_file, partition_date
            FROM classified_{dataset} WHERE _reason IS NOT NULL"""
        )
        _copy(con, f"silver_{dataset}", out_dir / "silver" / dataset, partitioned=True)
        _copy(con, f"quarantine_{dataset}", out_dir / "quarantine" / dataset, partitioned=True)
        silver_rows += _count(con, f"silver_{dataset}")
        quarantine_rows += _count(con, f"quarantine_{dataset}")
    layers["silver"] = silver_phase(t0, bronze_rows, silver_rows, quarantine_rows)

    t0 = time.perf_counter()
    gold_rows = {}
    for table in C.GOLD_TABLES:
        con.execute(
            f"CREATE OR REPLACE TABLE gold_{table} AS {C.gold_sql(table, C.DUCKDB, start, end)}"
        )
        _copy(con, f"gold_{table}", out_dir / "gold" / table, partitioned=False)
        gold_rows[table] = _count(con, f"gold_{table}")
    layers["gold"] = phase(t0, silver_rows, sum(gold_rows.values()), tables=gold_rows)
    con.close()
    return {"engine": "duckdb", "layers": layers, "input_rows": bronze_rows}


def _trimmed(column: str) -> str:
    """The field without leading and trailing whitespace (Python's str.strip() set).

    Trimming a set of 30 characters is slow in DuckDB, so it only runs on the few values
    that start or end with one of them.
    """
    ws = C.WHITESPACE
    edge = f"contains('{ws}', left({column}, 1)) OR contains('{ws}', right({column}, 1))"
    return f"CASE WHEN {edge} THEN trim({column}, '{ws}') ELSE {column} END"


def _copy(con, relation: str, target: Path, partitioned: bool) -> None:
    target.mkdir(parents=True, exist_ok=True)
    if partitioned:
        con.execute(
            f"COPY (SELECT * FROM {relation}) TO '{target}' "
            "(FORMAT parquet, PARTITION_BY (partition_date), OVERWRITE_OR_IGNORE)"
        )
    else:
        con.execute(f"COPY {relation} TO '{target / 'part-0.parquet'}' (FORMAT parquet)")


def _count(con, relation: str) -> int:
    return int(con.execute(f"SELECT COUNT(*) FROM {relation}").fetchall()[0][0])
