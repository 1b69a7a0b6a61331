"""A lake's medallion tables as sorted rows, to compare two lakes or one lake over time."""

from __future__ import annotations

from pathlib import Path

from finance_assets.lake.arrow import read_table
from finance_assets.lake.tables import RESTATEMENTS

LAYERS = ("bronze", "silver", "quarantine", "gold")
# Columns that differ between two runs of the same data by design.
RUN_COLUMNS = frozenset({"_ingested_at", "_run_id"})
# The log of published values that changed: what it holds depends on the order the values
# were published in (two runs at once, or day by day, restate what one run never showed).
AUDIT_LOGS = frozenset({RESTATEMENTS.path})


def tables(lake: Path) -> list[str]:
    """The medallion tables in the lake, as ``layer/name``."""
    found = (str(p.parent.relative_to(lake)) for p in lake.glob("*/*/_delta_log"))
    return sorted(n for n in found if n.split("/")[0] in LAYERS and n not in AUDIT_LOGS)


def snapshot(lake: Path, ignore: frozenset[str] = RUN_COLUMNS) -> dict[str, list[tuple]]:
    """Every table's rows in its current Delta snapshot, without ``ignore`` columns, sorted."""
    out = {}
    for name in tables(lake):
        table = read_table(lake / name)
        table = table.drop_columns([c for c in table.column_names if c in ignore])
        columns = sorted(table.column_names)
        out[name] = sorted(tuple(str(r[c]) for c in columns) for r in table.to_pylist())
    return out
