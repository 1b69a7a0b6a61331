"""Render query results as an aligned text table, CSV or JSON, keeping money exact.

Decimals are never turned into floats: the table shows them with thousands separators
(``1,234,567.89``), CSV and JSON carry their exact digits (JSON as numbers).
"""

from __future__ import annotations

import csv
import io
import json
from datetime import date, datetime
from decimal import Decimal

from finance_assets.analytics.engine import QueryResult

FORMATS = ("table", "csv", "json")
NULL_IN_TABLE = "n/a"


def money(value: Decimal | None, places: int = 2) -> str:
    """``1234567.891`` -> ``1,234,567.89`` (half-up); None -> ``n/a``."""
    if value is None:
        return NULL_IN_TABLE
    from decimal import ROUND_HALF_UP

    quantum = Decimal(1).scaleb(-places)
    return f"{Decimal(value).quantize(quantum, rounding=ROUND_HALF_UP):,}"


def plain_text(value) -> str:
    """Exact text of a value for CSV (empty for null)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    return str(value)


def json_value(value) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, Decimal):
        return str(value) if value.is_finite() else json.dumps(str(value))
    if isinstance(value, float):
        return json.dumps(value)
    if isinstance(value, (date, datetime)):
        return json.dumps(value.isoformat())
    return json.dumps(str(value), ensure_ascii=False)


def to_json(result: QueryResult) -> str:
    """A JSON array of objects; decimals are written as exact JSON numbers."""
    lines = []
    for row in result.rows:
        fields = ", ".join(
            f"{json.dumps(c)}: {json_value(v)}" for c, v in zip(result.columns, row, strict=True)
        )
        lines.append("  {" + fields + "}")
    return "[\n" + ",\n".join(lines) + "\n]" if lines else "[]"


def to_csv(result: QueryResult) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(result.columns)
    for row in result.rows:
        writer.writerow([plain_text(v) for v in row])
    return buffer.getvalue().rstrip("\n")


def _table_cell(value) -> str:
    if value is None:
        return NULL_IN_TABLE
    if isinstance(value, Decimal):
        return f"{value:,}"
    if isinstance(value, bool):
        return "true" if value else "false"
    return plain_text(value)


def _numeric(type_name: str) -> bool:
    upper = type_name.upper()
    return upper.startswith(("DECIMAL", "BIGINT", "INTEGER", "HUGEINT", "SMALLINT", "DOUBLE"))


def to_table(result: QueryResult) -> str:
    """Aligned columns, numbers right-aligned, money with thousands separators."""
    cells = [[_table_cell(v) for v in row] for row in result.rows]
    widths = [max([len(c), *(len(r[i]) for r in cells)]) for i, c in enumerate(result.columns)]
    right = [_numeric(t) for t in result.types]

    def line(values: list[str]) -> str:
        return "  ".join(
            v.rjust(w) if r else v.ljust(w) for v, w, r in zip(values, widths, right, strict=True)
        ).rstrip()

    out = [line(result.columns), "  ".join("-" * w for w in widths)]
    out += [line(r) for r in cells]
    count = len(result.rows)
    out.append(f"({count} row{'s' if count != 1 else ''})")
    return "\n".join(out)


def render(result: QueryResult, fmt: str) -> str:
    if fmt == "csv":
        return to_csv(result)
    if fmt == "json":
        return to_json(result)
    return to_table(result)
