"""Drill-down pages: one static HTML page per dashboard figure, next to the dashboard
(``<lake>/dashboard/explain/<table>-<partition>[-<key>]-<column>.html``), holding the same
breakdown as ``finance-assets explain``: the silver rows with their source file and row, the
subtotals, whether they add up to the published value, and the quarantined rows apart.

The pages are written with the dashboard, from the same snapshot of the lake, so a figure and
its breakdown never disagree; like the dashboard they load nothing from anywhere. A page of a
day or a month whose published value and silver and quarantine partitions are unchanged since
it was written is kept as it is (its fingerprint, :func:`~finance_assets.analytics.explain.
inputs_of`, is in the page): a day's build explains what changed, not every month again.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Iterable
from functools import cache
from hashlib import sha256
from html import escape
from pathlib import Path

from finance_assets.analytics import explain, explain_output, row_cache
from finance_assets.analytics.charts import FONT
from finance_assets.analytics.engine import AnalyticsError, LakeQuery
from finance_assets.analytics.explain import Explanation, Figure, explain_in, inputs_of, prefetch
from finance_assets.analytics.explain_output import (
    counts_as,
    quarantined_cells,
    value_text,
    verdict,
)
from finance_assets.analytics.row_cache import RowCache

FOLDER = "explain"
CACHE_FOLDER = ".cache"
# Rows listed on a page: a month's revenue can be millions of payments. Every row counts in
# the subtotals and the verdict; the page lists the first ones and names the command that
# lists them all.
PAGE_ROWS = 1000
CSP = "default-src 'none'; style-src 'unsafe-inline'"
CSS = f"""
body {{ margin:0; font-family:{FONT}; color:#1f2937; background:#f3f4f6; font-size:14px; }}
main {{ padding:20px 28px 32px; max-width:1480px; margin:0 auto; }}
h1 {{ font-size:20px; margin:0 0 6px; }} h2 {{ font-size:16px; margin:22px 0 4px; }}
p {{ margin:4px 0; }} .muted {{ color:#6b7280; font-size:12px; }}
.value {{ font-size:22px; font-weight:650; font-variant-numeric:tabular-nums; }}
.ok {{ color:#166534; background:#dcfce7; padding:6px 10px; border-radius:6px; }}
.defect {{ color:#991b1b; background:#fee2e2; padding:6px 10px; border-radius:6px; }}
table {{ border-collapse:collapse; margin-top:6px; background:#fff;
        font-variant-numeric:tabular-nums; }}
th, td {{ padding:3px 10px; border-bottom:1px solid #e5e7eb; text-align:left;
         white-space:nowrap; }}
td.num, th.num {{ text-align:right; }}
.scroll {{ overflow-x:auto; }}
code {{ background:#e5e7eb; padding:1px 4px; border-radius:4px; }}
"""


def page_name(figure: Figure) -> str:
    """``daily_kpi-2024-01-05-revenue.html``, ``sales_performance-2024-01-05-1042-total_paid
    .html``; ``customer_360-C1042-total_paid.html`` (not partitioned)."""
    parts = [figure.table]
    if figure.partition_text is not None:
        parts.append(figure.partition_text)
    if figure.key is not None:
        parts.append(re.sub(r"[^A-Za-z0-9_.]", "_", figure.key))
    parts.append(figure.column)
    return "-".join(parts) + ".html"


def command(figure: Figure) -> str:
    """The ``finance-assets explain`` command that prints the same breakdown."""
    words = ["finance-assets explain", figure.table]
    if figure.partition_text is not None:
        words.append(f"--partition {figure.partition_text}")
    if figure.key is not None:
        words.append(f"--key {figure.key}")
    words.append(f"--column {figure.column}")
    return " ".join(words)


# html.escape's replacements in one pass: a year's customer pages have 250,000 cells.
_CELL_ESCAPES = str.maketrans(
    {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#x27;"}
)


def _table(header: list[tuple[str, bool]], rows: list[list[str]]) -> str:
    head = "".join(f'<th class="{"num" if n else ""}">{escape(h)}</th>' for h, n in header)
    opens = [f'<td class="{"num" if numeric else ""}">' for _, numeric in header]
    body = "".join(
        "<tr>"
        + "".join(
            f"{td}{c.translate(_CELL_ESCAPES)}</td>" for td, c in zip(opens, row, strict=True)
        )
        + "</tr>"
        for row in rows
    )
    return (
        f'<div class="scroll"><table><thead><tr>{head}</tr></thead>'
        f"<tbody>{body}</tbody></table></div>"
    )


def _first_rows(listed: list, what: str, figure: Figure, limit: int) -> tuple[list, str]:
    """The first ``limit`` of ``listed``, and a line saying where the rest are."""
    if len(listed) <= limit:
        return listed, ""
    rest = (
        f"Showing the first {limit:,} of {len(listed):,} {what}; every one of them: "
        f"<code>{escape(command(figure))} --format csv</code>"
    )
    return listed[:limit], f'<p class="muted">{rest}</p>'


def render_page(
    explanation: Explanation,
    dashboard: str = "../index.html",
    limit: int = PAGE_ROWS,
    inputs: str | None = None,
) -> str:
    """The page of one figure; at most ``limit`` rows (groups, quarantined rows) are listed.
    ``inputs``: the fingerprint of what it was made of, kept in the page."""
    e = explanation
    listed, more_rows = _first_rows(e.rows, "rows", e.figure, limit)
    held, more_held = _first_rows(e.quarantined, "quarantined rows", e.figure, limit)
    grouped, more_groups = _first_rows(e.groups, "groups", e.figure, limit)
    rows = _table(
        [
            ("group", False),
            ("source", False),
            ("id", False),
            ("date", False),
            ("detail", False),
            ("amount", True),
            ("counts", True),
            ("_source_file", False),
            ("_source_row", True),
        ],
        [
            [
                r.group,
                r.source,
                r.row_id,
                str(r.row_date or ""),
                r.detail,
                value_text(r.amount) if r.amount is not None else "",
                counts_as(r),
                r.source_file,
                str(r.source_row),
            ]
            for r in listed
        ],
    )
    groups = ""
    if e.groups:
        groups = (
            "<h2>By group</h2>"
            + _table(
                [("group", False), ("rows", True), ("rows add up to", True), ("counts as", True)]
                + [("how", False)],
                [
                    [g.group, str(g.rows), value_text(g.rows_sum), value_text(g.value), g.how]
                    for g in grouped
                ],
            )
            + more_groups
        )
    quarantined = "<h2>Quarantined rows</h2><p>No quarantined row would have counted.</p>"
    if e.quarantined:
        quarantined = (
            f"<h2>Quarantined rows that would have counted had they been valid "
            f"({len(e.quarantined)}, not in the figure)</h2>"
            + _table(
                [
                    ("source", False),
                    ("reason", False),
                    ("id", False),
                    ("date", False),
                    ("detail", False),
                    ("amount", True),
                    ("_source_file", False),
                    ("_source_row", True),
                ],
                [quarantined_cells(q) for q in held],
            )
            + more_held
        )
    css = "ok" if e.ties else "defect"
    versions = ", ".join(s.describe() for s in e.snapshots)
    title = e.figure.describe()
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="{CSP}">
{_inputs_meta(inputs)}<title>{escape(title)}</title>
<style>{CSS}</style>
</head>
<body>
<main>
<p class="muted"><a href="{escape(dashboard)}">Dashboard</a> / where this figure comes from</p>
<h1>{escape(title)}</h1>
<p>Published value: <span class="value" data-published="{e.published}">\
{escape(value_text(e.published))}</span></p>
<p>Rule: {escape(e.rule)}</p>
<p class="{css}" data-ties="{str(e.ties).lower()}">{escape(verdict(e))}</p>
<h2>Rows ({len(e.rows):,})</h2>
{rows}
{more_rows}
{groups}
{quarantined}
<p class="muted">Read: {escape(versions)}. The same breakdown on the command line:
<code>{escape(command(e.figure))}</code></p>
</main>
</body>
</html>
"""


def write_pages(query: LakeQuery, figures: Iterable[Figure], dashboard_dir: Path) -> dict:
    """Explain each figure on ``query`` and write its page; returns {figure: relative link}
    for those that could be explained (a figure whose silver tables are missing gets none).
    A page whose fingerprint is unchanged is kept; pages of figures no longer shown are
    removed. What the pages read across the history is kept per partition in
    ``explain/.cache`` (:class:`RowCache`), so a run reads only the partitions that changed."""
    folder = dashboard_dir / FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    links: dict[Figure, str] = {}
    shown = list(dict.fromkeys(figures))
    prefetch(query, shown, RowCache(folder / CACHE_FOLDER, _code()))
    for figure in shown:
        target = folder / page_name(figure)
        try:
            inputs = inputs_of(query, figure, _code())
            if inputs is None or _inputs_in(target) != inputs:
                _write(target, render_page(explain_in(query, figure), inputs=inputs))
        except AnalyticsError:
            continue
        links[figure] = f"{FOLDER}/{target.name}"
    written = {Path(link).name for link in links.values()}
    for old in folder.glob("*.html"):
        if old.name not in written:
            old.unlink(missing_ok=True)
    return links


INPUTS_META = "finance-assets-inputs"
_INPUTS = re.compile(rf'<meta name="{INPUTS_META}" content="([0-9a-f]+)">')


def _inputs_meta(inputs: str | None) -> str:
    return f'<meta name="{INPUTS_META}" content="{inputs}">\n' if inputs else ""


def _inputs_in(page: Path) -> str | None:
    """The fingerprint a page was written with (None: none, or no such page)."""
    try:
        with page.open(encoding="utf-8") as text:
            head = text.read(2048)
    except OSError:
        return None
    found = _INPUTS.search(head)
    return found[1] if found else None


@cache
def _code() -> str:
    """The code a page and the row cache are made by: a new release's pages and cached rows
    are written anew."""
    digest = sha256()
    for module in (explain, explain_output, row_cache):
        digest.update(Path(module.__file__).read_bytes())
    digest.update(Path(__file__).read_bytes())
    return digest.hexdigest()


def _write(target: Path, text: str) -> None:
    handle, temporary = tempfile.mkstemp(prefix=".page-", suffix=".html", dir=target.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
        os.chmod(temporary, 0o644)
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
