"""An explanation as text, CSV or JSON, money exact (Decimal digits, never floats).

- ``table``: the figure, its rule and published value, the rows (source file and row each),
  the subtotals by day or order, whether they add up, the quarantined rows apart, and the
  table versions read;
- ``csv``: one line per listed row (``record`` = ``row`` or ``quarantined``), each with the
  figure, its published value, and the row's ``_source_file`` and ``_source_row``;
- ``json``: one object with everything (decimals as exact JSON numbers).
"""

from __future__ import annotations

import csv
import io
import json
from decimal import Decimal

from finance_assets.analytics.explain import Explanation, QuarantinedRow, SourceRow
from finance_assets.analytics.output import json_value, plain_text

CSV_COLUMNS = (
    "record",
    "table",
    "partition",
    "key",
    "column",
    "published_value",
    "computed_value",
    "group",
    "source",
    "id",
    "date",
    "detail",
    "amount",
    "counts_as",
    "reason",
    "_source_file",
    "_source_row",
)


def quarantined_cells(q: QuarantinedRow) -> list[str]:
    """A quarantined row as table cells: source, reason, id, date, detail, amount, file, row."""
    return [
        q.source,
        q.reason,
        q.row_id or "",
        q.row_date or "",
        q.detail or "",
        q.amount or "",
        q.source_file,
        str(q.source_row),
    ]


def value_text(value: Decimal | int | None) -> str:
    """``1,234.50`` for money, ``12`` for a count, ``n/a`` for none."""
    if value is None:
        return "n/a"
    return f"{value:,}"


def counts_as(row: SourceRow) -> str:
    """How a row counts: ``+``/``-`` its amount, or ``+1`` for a counted row."""
    if row.amount is None:
        return f"{row.sign:+d}"
    return "+" if row.sign > 0 else "-"


def verdict(explanation: Explanation) -> str:
    """One sentence: the rows add up to the published value, or by how much they do not."""
    e = explanation
    what = "number of rows counted" if _counted(e) else "sum of the rows"
    if e.groups and any(g.how for g in e.groups):
        what = "sum of the values by group"
    if e.ties:
        return (
            f"The {what} is {value_text(e.computed)}, exactly the published value "
            f"{value_text(e.published)}."
        )
    return (
        f"DEFECT: the {what} is {value_text(e.computed)} but the published value is "
        f"{value_text(e.published)}: they differ by {value_text(e.difference)}."
    )


def _counted(e: Explanation) -> bool:
    return isinstance(e.computed, int) and not isinstance(e.computed, bool)


def _aligned(header: list[str], rows: list[list[str]], right: set[int]) -> list[str]:
    widths = [max([len(h), *(len(r[i]) for r in rows)]) for i, h in enumerate(header)]

    def line(values: list[str]) -> str:
        cells = [
            v.rjust(w) if i in right else v.ljust(w)
            for i, (v, w) in enumerate(zip(values, widths, strict=True))
        ]
        return "  ".join(cells).rstrip()

    return [line(header), "  ".join("-" * w for w in widths), *(line(r) for r in rows)]


def to_text(explanation: Explanation) -> str:
    e = explanation
    out = [
        e.figure.describe(),
        f"Published value: {value_text(e.published)}",
        f"Rule: {e.rule}",
        "",
    ]
    grouped = any(r.group for r in e.rows)
    header = ["group"] if grouped else []
    header += ["source", "id", "date", "detail", "amount", "counts", "_source_file", "_source_row"]
    body = []
    for r in e.rows:
        cells = [r.group] if grouped else []
        cells += [
            r.source,
            r.row_id,
            str(r.row_date or ""),
            r.detail,
            value_text(r.amount) if r.amount is not None else "",
            counts_as(r),
            r.source_file,
            str(r.source_row),
        ]
        body.append(cells)
    offset = 1 if grouped else 0
    out += _aligned(header, body, {offset + 4, offset + 5, offset + 7})
    out.append(f"({len(e.rows)} row{'s' if len(e.rows) != 1 else ''})")
    if e.groups:
        out.append("")
        out += _aligned(
            ["group", "rows", "rows add up to", "counts as", "how"],
            [
                [g.group, str(g.rows), value_text(g.rows_sum), value_text(g.value), g.how]
                for g in e.groups
            ],
            {1, 2, 3},
        )
    out += ["", verdict(e)]
    if e.quarantined:
        out += [
            "",
            f"Quarantined rows that would have counted had they been valid "
            f"(not in the figure): {len(e.quarantined)}",
        ]
        out += _aligned(
            ["source", "reason", "id", "date", "detail", "amount", "_source_file", "_source_row"],
            [quarantined_cells(q) for q in e.quarantined],
            {7},
        )
    else:
        out += ["", "No quarantined row would have counted."]
    out += ["", f"Read ({e.travel}): " + ", ".join(s.describe() for s in e.snapshots)]
    return "\n".join(out)


def _figure_cells(e: Explanation) -> list[str]:
    f = e.figure
    return [
        f.table,
        plain_text(f.partition),
        f.key or "",
        f.column,
        plain_text(e.published),
        plain_text(e.computed),
    ]


def to_csv(explanation: Explanation) -> str:
    e = explanation
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    figure = _figure_cells(e)
    for r in e.rows:
        writer.writerow(
            [
                "row",
                *figure,
                r.group,
                r.source,
                r.row_id,
                plain_text(r.row_date),
                r.detail,
                plain_text(r.amount),
                counts_as(r),
                "",
                r.source_file,
                r.source_row,
            ]
        )
    for q in e.quarantined:
        writer.writerow(
            [
                "quarantined",
                *figure,
                "",
                q.source,
                q.row_id or "",
                q.row_date or "",
                q.detail or "",
                q.amount or "",
                "",
                q.reason,
                q.source_file,
                q.source_row,
            ]
        )
    return buffer.getvalue().rstrip("\n")


def _json_object(fields: dict) -> str:
    return "{" + ", ".join(f"{json.dumps(k)}: {json_value(v)}" for k, v in fields.items()) + "}"


def to_json(explanation: Explanation) -> str:
    e = explanation
    f = e.figure
    head = {
        "table": f.table,
        "partition": f.partition,
        "key": f.key,
        "column": f.column,
        "rule": e.rule,
        "published_value": e.published,
        "computed_value": e.computed,
        "difference": e.difference,
        "ties": e.ties,
        "read": e.travel,
    }
    rows = [
        _json_object(
            {
                "group": r.group or None,
                "source": r.source,
                "id": r.row_id,
                "date": r.row_date,
                "detail": r.detail,
                "amount": r.amount,
                "counts_as": counts_as(r),
                "_source_file": r.source_file,
                "_source_row": r.source_row,
            }
        )
        for r in e.rows
    ]
    groups = [
        _json_object(
            {
                "group": g.group,
                "rows": g.rows,
                "rows_sum": g.rows_sum,
                "value": g.value,
                "how": g.how,
            }
        )
        for g in e.groups
    ]
    quarantined = [
        _json_object(
            {
                "source": q.source,
                "reason": q.reason,
                "id": q.row_id,
                "date": q.row_date,
                "detail": q.detail,
                "amount": q.amount,
                "partition": q.partition,
                "_source_file": q.source_file,
                "_source_row": q.source_row,
            }
        )
        for q in e.quarantined
    ]
    snapshots = [
        _json_object(
            {
                "table": f"{s.layer}/{s.table}",
                "version": s.version,
                "committed_at": s.committed_at,
            }
        )
        for s in e.snapshots
    ]
    lines = [f"  {json.dumps(k)}: {json_value(v)}" for k, v in head.items()]
    for name, items in (
        ("rows", rows),
        ("groups", groups),
        ("quarantined", quarantined),
        ("versions", snapshots),
    ):
        inner = ",\n".join(f"    {item}" for item in items)
        lines.append(f'  "{name}": [\n{inner}\n  ]' if items else f'  "{name}": []')
    return "{\n" + ",\n".join(lines) + "\n}"


def render(explanation: Explanation, fmt: str) -> str:
    if fmt == "csv":
        return to_csv(explanation)
    if fmt == "json":
        return to_json(explanation)
    return to_text(explanation)
