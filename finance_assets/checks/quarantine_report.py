"""Read the quarantine tables: which rows were rejected, from which file and row, and why."""

from __future__ import annotations

import csv
import json
import sys
from datetime import date
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from finance_assets.contract import DATASETS, PARTITION_COLUMN
from finance_assets.lake.arrow import read_table

COLUMNS = ("dataset", PARTITION_COLUMN, "_source_file", "_source_row", "_reason", "raw")


def _raw_text(row: dict, dataset: str) -> str:
    if row.get("_corrupt_record") is not None:
        return row["_corrupt_record"]
    return ",".join("" if row[c] is None else str(row[c]) for c in DATASETS[dataset].columns)


def rejected_rows(
    lake: str,
    datasets: list[str],
    start: date | None = None,
    end: date | None = None,
    reason: str | None = None,
) -> list[dict]:
    """Quarantined rows, oldest partition first, each with the file, row and reason."""
    found = []
    for dataset in datasets:
        path = Path(lake, "quarantine", dataset)
        if not (path / "_delta_log").is_dir():
            continue
        filters = []
        if start:
            filters.append((PARTITION_COLUMN, ">=", start.isoformat()))
        if end:
            filters.append((PARTITION_COLUMN, "<=", end.isoformat()))
        table: pa.Table = read_table(path, filters or None)
        if reason:
            table = table.filter(pc.equal(table.column("_reason"), reason))
        for row in table.to_pylist():
            found.append(
                {
                    "dataset": dataset,
                    PARTITION_COLUMN: row[PARTITION_COLUMN].isoformat(),
                    "_source_file": row["_source_file"],
                    "_source_row": row["_source_row"],
                    "_reason": row["_reason"],
                    "raw": _raw_text(row, dataset),
                }
            )
    return sorted(found, key=lambda r: (r[PARTITION_COLUMN], r["_source_file"], r["_source_row"]))


def summarize(rows: list[dict]) -> list[dict]:
    """Counts by dataset, partition and reason."""
    counts: dict[tuple, int] = {}
    for r in rows:
        key = (r["dataset"], r[PARTITION_COLUMN], r["_reason"])
        counts[key] = counts.get(key, 0) + 1
    return [
        {"dataset": d, PARTITION_COLUMN: p, "_reason": reason, "rows": n}
        for (d, p, reason), n in sorted(counts.items())
    ]


def write(rows: list[dict], columns: tuple[str, ...], fmt: str, out=None) -> None:
    out = out or sys.stdout  # looked up at call time: the stream may have been replaced
    if fmt == "json":
        json.dump(rows, out, indent=2, default=str)
        out.write("\n")
    elif fmt == "csv":
        writer = csv.DictWriter(out, fieldnames=list(columns))
        writer.writeheader()
        writer.writerows(rows)
    else:
        widths = {c: max([len(c)] + [len(_cell(r.get(c))) for r in rows]) for c in columns}
        out.write("  ".join(c.ljust(widths[c]) for c in columns).rstrip() + "\n")
        for r in rows:
            out.write("  ".join(_cell(r.get(c)).ljust(widths[c]) for c in columns).rstrip() + "\n")


def _cell(value) -> str:
    return ("" if value is None else str(value)).replace("\n", "\\n")[:120]
