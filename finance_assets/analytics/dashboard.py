"""The executive dashboard: one self-contained HTML file built from the gold tables.

Data comes from the same DuckDB-over-delta-rs engine as ``finance-assets sql`` (mostly the
named analyses themselves), so the dashboard and the SQL never disagree. Charts are SVG
generated here; the page has a little inline JavaScript (tooltips, month picker) and loads
nothing from the network, so it works offline and from a file:// URL. Every figure shown is
also embedded, exact, in ``<script type="application/json" id="dashboard-data">``.

Each gold figure in the dashboard's tables links to a static drill-down page next to it
(``dashboard/explain/``, see ``drilldown.py``): the silver rows it is made of, as
``finance-assets explain`` prints them. The audit trail card shows the latest restatements
(``gold/restatements``) and the closed months.
"""

from __future__ import annotations

import base64
import json
import os
import tempfile
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from html import escape
from pathlib import Path

from finance_assets.analytics import charts
from finance_assets.analytics.catalog import get
from finance_assets.analytics.charts import (
    AMBER,
    BLUE,
    GREEN,
    GREY,
    RED,
    Series,
    money,
    percent,
)
from finance_assets.analytics.drilldown import write_pages
from finance_assets.analytics.engine import (
    AnalyticsError,
    LakeQuery,
    MissingTableError,
    QueryResult,
    table_location,
)
from finance_assets.analytics.explain import RULES, Figure
from finance_assets.settings import Settings

# Nothing may be loaded from anywhere: inline styles and script, data: images only.
CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'; script-src 'unsafe-inline'"
DASHBOARD_FOLDER = "dashboard"
DASHBOARD_FILE = "index.html"
TOP_CUSTOMERS = 10
LATEST_RESTATEMENTS = 20
# The payment success table lists the latest month of days, each linked to its drill-down
# pages; the chart shows every day. Older days are explained with ``finance-assets explain``.
# This keeps a day's dashboard build from growing with the history.
DAILY_TABLE_DAYS = 31


def dashboard_path(lake: str) -> Path:
    """``<lake>/dashboard/index.html`` for a local (or mounted) lake folder."""
    if "://" in lake and not lake.startswith("file://"):
        raise AnalyticsError(
            f"the dashboard is written into a local or mounted lake folder, not {lake!r}"
        )
    root = lake[len("file://") :] if lake.startswith("file://") else lake
    return Path(root, DASHBOARD_FOLDER, DASHBOARD_FILE).resolve()


def _month_label(day: date) -> str:
    return f"{day:%Y-%m}"


def _month_date(label: str) -> date:
    """``2024-01`` -> 2024-01-01."""
    return date.fromisoformat(label + "-01")


def _next_month(day: date) -> date:
    return date(day.year + day.month // 12, day.month % 12 + 1, 1)


def _json_ready(value):
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    return value


def _records(result: QueryResult) -> list[dict]:
    return [{k: _json_ready(v) for k, v in r.items()} for r in result.records()]


@dataclass
class Section:
    """One chart (or table) of the dashboard: its data, and what was missing."""

    key: str
    rows: list[dict] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    extra: dict = field(default_factory=dict)


@dataclass
class DashboardData:
    lake: str
    generated_at: str
    sections: dict[str, Section]
    kpis: dict[str, str | None]
    as_of: str | None
    links: dict[Figure, str] = field(default_factory=dict)
    """Drill-down page of each figure shown (relative to the dashboard), once written."""

    @property
    def missing(self) -> list[str]:
        return sorted({m for s in self.sections.values() for m in s.missing})

    def to_json(self) -> dict:
        return {
            "generated_at": self.generated_at,
            "lake": self.lake,
            "as_of": self.as_of,
            "kpis": self.kpis,
            "missing_tables": self.missing,
            "charts": {
                k: {"rows": s.rows, **s.extra, "missing_tables": s.missing}
                for k, s in self.sections.items()
            },
        }


def _section(key: str, query: LakeQuery, build) -> Section:
    section = Section(key)
    try:
        build(section)
    except MissingTableError as exc:
        section.rows = []
        section.missing.append(f"{exc.layer}.{exc.table}")
    return section


def collect(
    lake: str, query: LakeQuery | None = None, daily_days: int = DAILY_TABLE_DAYS
) -> DashboardData:
    """Read everything the dashboard shows from the lake's gold tables (on ``query`` when
    given, so the drill-down pages read the same snapshot). ``daily_days``: days the daily
    table lists (the latest ones)."""
    if query is None:
        with LakeQuery(lake) as own:
            return collect(lake, own, daily_days)

    def monthly(section: Section) -> None:
        query.register("gold", "monthly_financial_report")
        rows = query.run(
            "SELECT month, revenue, expenses, profit FROM gold.monthly_financial_report "
            "ORDER BY month"
        ).records()
        section.rows = [
            {
                "month": _month_label(r["month"]),
                "revenue": str(r["revenue"]),
                "expenses": str(r["expenses"]),
                "profit": str(r["profit"]),
            }
            for r in rows
        ]

    def growth(section: Section) -> None:
        section.rows = _records(get("mom_revenue_growth").run(query))

    def budget(section: Section) -> None:
        query.register("gold", "budget_vs_actual")
        result = query.run(
            "SELECT strftime(month, '%Y-%m') AS month, department, budget_amount, "
            "actual_amount, variance, variance_pct, is_overspent "
            "FROM gold.budget_vs_actual ORDER BY budget_vs_actual.month, department"
        )
        section.rows = _records(result)
        months = sorted({r["month"] for r in section.rows})
        section.extra = {"months": months, "selected_month": months[-1] if months else None}

    def customers(section: Section) -> None:
        result = get("top_customers_by_paid").run(query, {"limit": str(TOP_CUSTOMERS)})
        section.rows = _records(result)

    def success(section: Section) -> None:
        section.rows = _records(get("payment_success_rate_by_day").run(query))
        section.extra = {"table_days": max(daily_days, 0)}

    def aging(section: Section) -> None:
        section.rows = _records(get("outstanding_by_age").run(query))
        section.extra = {"as_of": section.rows[0]["as_of"] if section.rows else None}

    def audit(section: Section) -> None:
        section.rows = _latest_restatements(query)
        section.extra = {"closed_months": _closed_months(query)}

    sections = {
        "revenue_expenses": _section("revenue_expenses", query, monthly),
        "mom_growth": _section("mom_growth", query, growth),
        "budget_vs_actual": _section("budget_vs_actual", query, budget),
        "top_customers": _section("top_customers", query, customers),
        "payment_success": _section("payment_success", query, success),
        "outstanding_by_age": _section("outstanding_by_age", query, aging),
        "restatements": _section("restatements", query, audit),
    }
    kpis = _kpis(query, sections)
    as_of = sections["outstanding_by_age"].extra.get("as_of")
    return DashboardData(
        lake=str(lake),
        generated_at=_build_time().strftime("%Y-%m-%d %H:%M UTC"),
        sections=sections,
        kpis=kpis,
        as_of=as_of,
    )


def _latest_restatements(query: LakeQuery) -> list[dict]:
    """The newest restatements; only the newest days' partitions are read."""
    if not query.register("gold", "restatements", required=False):
        return []
    since = _newest_days(query.lake, LATEST_RESTATEMENTS)
    result = query.run(
        "SELECT restated_at, gold_table, partition_value, key_value, column_name, old_value, "
        "new_value, change, is_money, run_id FROM gold.restatements "
        f"WHERE restated_on >= DATE '{since}' "
        "ORDER BY restated_at DESC, gold_table, partition_value, key_value, column_name "
        f"LIMIT {LATEST_RESTATEMENTS}"
    )
    return _records(result)


def _newest_days(lake: str, rows: int) -> date:
    """The earliest restatement day needed for the newest ``rows`` rows (Delta log stats)."""
    from deltalake import DeltaTable

    actions = DeltaTable(table_location(lake, "gold", "restatements")).get_add_actions(True)
    counts: dict[date, int] = {}
    for day, records in zip(
        actions.column("partition.restated_on").to_pylist(),
        actions.column("num_records").to_pylist(),
        strict=True,
    ):
        day = day if isinstance(day, date) else date.fromisoformat(str(day))
        counts[day] = counts.get(day, 0) + int(records or 0)
    total, since = 0, date.min
    for day in sorted(counts, reverse=True):
        total, since = total + counts[day], day
        if total >= rows:
            break
    return since


def _closed_months(query: LakeQuery) -> list[dict]:
    """Each closed or reopened month's latest action."""
    if not query.register("control", "closed_months", required=False):
        return []
    result = query.run(
        "SELECT strftime(month, '%Y-%m') AS month, action, changed_at, changed_by, note "
        "FROM control.closed_months "
        "QUALIFY row_number() OVER (PARTITION BY month ORDER BY changed_at DESC) = 1 "
        "ORDER BY month"
    )
    return _records(result)


def _build_time() -> datetime:
    """Now, or SOURCE_DATE_EPOCH when set (reproducible builds, stable screenshots)."""
    epoch = Settings.load().source_date_epoch
    if epoch is not None:
        return datetime.fromtimestamp(epoch, timezone.utc)
    return datetime.now(timezone.utc)


def _kpis(query: LakeQuery, sections: dict[str, Section]) -> dict[str, str | None]:
    months = sections["revenue_expenses"].rows
    revenue = sum((Decimal(r["revenue"]) for r in months), Decimal("0.00"))
    expenses = sum((Decimal(r["expenses"]) for r in months), Decimal("0.00"))
    kpis: dict[str, str | None] = {
        "total_revenue": str(revenue) if months else None,
        "total_expenses": str(expenses) if months else None,
        "net_profit": str(revenue - expenses) if months else None,
        "outstanding_balance": None,
        "payment_success_rate_pct": None,
        "overspent_department_months": None,
        "latest_month": months[-1]["month"] if months else None,
        "latest_mom_growth_pct": None,
    }
    growth = sections["mom_growth"].rows
    if growth:
        kpis["latest_mom_growth_pct"] = growth[-1]["mom_growth_pct"]
    aging = sections["outstanding_by_age"].rows
    if aging:
        kpis["outstanding_balance"] = str(
            sum((Decimal(r["pending_amount"]) for r in aging), Decimal("0.00"))
        )
    if query.register("gold", "daily_kpi", required=False):
        row = query.run(
            "SELECT pct_half_up(sum(successful_payments), sum(payment_attempts)) "
            "FROM gold.daily_kpi"
        ).rows[0]
        kpis["payment_success_rate_pct"] = _json_ready(row[0])
    budget = sections["budget_vs_actual"].rows
    if not sections["budget_vs_actual"].missing:
        kpis["overspent_department_months"] = str(sum(1 for r in budget if r["is_overspent"]))
    return kpis


# ---------------------------------------------------------------- charts


def _dec(value) -> Decimal | None:
    return None if value is None else Decimal(value)


def revenue_expenses_chart(section: Section, width: int = 1160) -> str:
    """Revenue and expenses per month on a continuous YYYY-MM axis, years shaded apart.

    Months between the first and last one that were never materialized are shown as
    "no data" rather than silently skipped.
    """
    by_month = {r["month"]: r for r in section.rows}
    labels: list[str] = []
    if by_month:
        first = date.fromisoformat(min(by_month) + "-01")
        last = date.fromisoformat(max(by_month) + "-01")
        day = first
        while day <= last:
            labels.append(_month_label(day))
            day = _next_month(day)
    bands, start = [], 0
    for i, label in enumerate(labels):
        if i == len(labels) - 1 or labels[i + 1][:4] != label[:4]:
            bands.append((label[:4], start, i))
            start = i + 1
    rows = [by_month.get(m) for m in labels]
    return charts.bar_chart(
        "revenue_expenses",
        "Revenue vs expenses by month",
        labels,
        [
            Series("revenue", "Revenue", [_dec(r["revenue"]) if r else None for r in rows], BLUE),
            Series(
                "expenses", "Expenses", [_dec(r["expenses"]) if r else None for r in rows], AMBER
            ),
        ],
        y_label="Amount",
        x_label="Month (YYYY-MM)",
        width=width,
        height=360,
        bands=bands,
        missing=[r is None for r in rows],
    )


def mom_growth_chart(section: Section, width: int = 660) -> str:
    rows = section.rows
    values = [_dec(r["mom_growth_pct"]) for r in rows]
    return charts.bar_chart(
        "mom_growth",
        "Month-over-month revenue growth",
        [r["month"] for r in rows],
        [
            Series(
                "mom_growth_pct",
                "MoM growth",
                values,
                GREEN,
                colors=[RED if v is not None and v < 0 else None for v in values],
            )
        ],
        y_label="Growth vs previous month (%)",
        x_label="Month (YYYY-MM)",
        tick=charts.tick_percent,
        value_text=percent,
        width=width,
        value_labels=len(rows) <= 12,
    )


def budget_chart(section: Section, month: str, width: int = 660) -> str:
    rows = [r for r in section.rows if r["month"] == month]
    notes, note_colors = [], []
    for r in rows:
        if r["is_overspent"]:
            pct = "no budget" if r["variance_pct"] is None else f"+{r['variance_pct']}%"
            notes.append(f"▲ over by {money(_dec(r['variance']))} ({pct})")
            note_colors.append(RED)
        else:
            notes.append(f"under by {money(-_dec(r['variance']))}")
            note_colors.append(GREEN)
    return charts.hbar_chart(
        f"budget_vs_actual_{month}",
        f"Budget vs actual by department, {month}",
        [r["department"] for r in rows],
        [
            Series("budget", "Budget", [_dec(r["budget_amount"]) for r in rows], GREY),
            Series(
                "actual",
                "Actual",
                [_dec(r["actual_amount"]) for r in rows],
                BLUE,
                colors=[RED if r["is_overspent"] else None for r in rows],
            ),
        ],
        x_label=f"Amount, {month}",
        y_label="Department",
        notes=notes,
        note_colors=note_colors,
        width=width,
    )


def top_customers_chart(section: Section, width: int = 660) -> str:
    rows = section.rows
    return charts.hbar_chart(
        "top_customers",
        "Top customers by amount paid",
        [r["customer_id"] for r in rows],
        [Series("total_paid", "Paid", [_dec(r["total_paid"]) for r in rows], BLUE)],
        x_label="Total paid (SUCCESS payments)",
        y_label="Customer",
        notes=[
            f"owes {money(_dec(r['outstanding_amount']))}"
            if Decimal(r["outstanding_amount"]) > 0
            else ""
            for r in rows
        ],
        note_colors=[AMBER] * len(rows),
        width=width,
        row_height=30,
    )


def payment_success_chart(section: Section, width: int = 1160) -> str:
    rows = section.rows
    return charts.line_chart(
        "payment_success",
        "Payment success rate by day",
        [r["date"] for r in rows],
        [_dec(r["success_rate_pct"]) for r in rows],
        y_label="Successful / all attempts (%)",
        x_label="Payment date",
        series_key="success_rate_pct",
        series_label="Success rate",
        width=width,
    )


def aging_chart(section: Section, width: int = 660) -> str:
    rows = section.rows
    as_of = section.extra.get("as_of") or "latest order date"
    return charts.bar_chart(
        "outstanding_by_age",
        "Outstanding balances by age of order",
        [f"{r['age_bucket']} days" for r in rows],
        [
            Series(
                "pending_amount",
                "Outstanding",
                [_dec(r["pending_amount"]) for r in rows],
                AMBER,
                colors=[None, None, "#ea580c", RED][: len(rows)],
            )
        ],
        y_label="Outstanding amount",
        x_label=f"Age of order in days, as of {as_of}",
        width=width,
        value_labels=True,
    )


# ---------------------------------------------------------------- page

CSS = """
:root { --text:#1f2937; --muted:#6b7280; --line:#e5e7eb; --bg:#f3f4f6; --card:#ffffff; }
* { box-sizing: border-box; }
body { margin:0; font-family:__FONT__; color:var(--text); background:var(--bg);
       font-size:15px; line-height:1.45; }
header { padding:20px 28px 8px; }
header h1 { margin:0; font-size:24px; }
header p { margin:4px 0 0; color:var(--muted); font-size:13px; }
main { padding:8px 28px 32px; max-width:1480px; margin:0 auto; }
.kpis { display:grid; grid-template-columns:repeat(auto-fit, minmax(160px, 1fr)); gap:12px;
        margin:12px 0 18px; }
.kpi { background:var(--card); border:1px solid var(--line); border-radius:10px;
       padding:12px 16px; }
.kpi .label { color:var(--muted); font-size:12px; text-transform:uppercase;
              letter-spacing:.04em; }
.kpi .value { font-size:22px; font-weight:650; font-variant-numeric:tabular-nums;
              margin-top:2px; }
.kpi .value.negative { color:#dc2626; }
.grid { display:grid; grid-template-columns:repeat(auto-fit, minmax(560px, 1fr)); gap:16px; }
.card { background:var(--card); border:1px solid var(--line); border-radius:10px;
        padding:14px 16px 10px; min-width:0; }
.card.wide { grid-column:1 / -1; }
.card h2 { margin:0; font-size:17px; }
.card .sub { margin:2px 0 8px; color:var(--muted); font-size:13px; }
.card svg { width:100%; height:auto; display:block; }
.missing { color:#b45309; background:#fffbeb; border:1px solid #fde68a; border-radius:8px;
           padding:10px 12px; }
details { margin-top:6px; font-size:13px; }
summary { cursor:pointer; color:var(--muted); }
table { border-collapse:collapse; margin-top:6px; font-variant-numeric:tabular-nums; }
th, td { padding:3px 10px; border-bottom:1px solid var(--line); text-align:left;
         white-space:nowrap; }
td.num, th.num { text-align:right; }
.scroll { overflow-x:auto; }
td.over { background:#fee2e2; color:#991b1b; font-weight:600; }
td.under { background:#dcfce7; color:#166534; }
.picker { font-size:13px; color:var(--muted); margin-bottom:4px; }
select { font-size:13px; padding:2px 6px; }
#tip { position:fixed; pointer-events:none; background:#111827; color:#fff; font-size:12px;
       padding:5px 8px; border-radius:6px; display:none; z-index:10; white-space:nowrap; }
footer { color:var(--muted); font-size:12px; padding:0 28px 24px; max-width:1480px;
         margin:0 auto; }
""".replace("__FONT__", charts.FONT)

SCRIPT = """
(function () {
  var tip = document.getElementById('tip');
  document.addEventListener('mousemove', function (event) {
    var target = event.target.closest ? event.target.closest('[data-tip]') : null;
    if (!target) { tip.style.display = 'none'; return; }
    tip.textContent = target.getAttribute('data-tip');
    tip.style.display = 'block';
    tip.style.left = (event.clientX + 12) + 'px';
    tip.style.top = (event.clientY + 12) + 'px';
  });
  var picker = document.getElementById('budget-month');
  if (picker) {
    picker.addEventListener('change', function () {
      var panels = document.querySelectorAll('[data-budget-month]');
      for (var i = 0; i < panels.length; i++) {
        panels[i].hidden = panels[i].getAttribute('data-budget-month') !== picker.value;
      }
    });
  }
})();
"""


def _kpi(label: str, value: str, key: str, negative: bool = False) -> str:
    css = "value negative" if negative else "value"
    return (
        f'<div class="kpi" data-kpi="{key}"><div class="label">{escape(label)}</div>'
        f'<div class="{css}">{escape(value)}</div></div>'
    )


def _kpi_tiles(kpis: dict[str, str | None]) -> str:
    def neg(key: str) -> bool:
        return kpis.get(key) is not None and Decimal(kpis[key]) < 0

    tiles = [
        _kpi("Revenue (all months)", money(_dec(kpis["total_revenue"])), "total_revenue"),
        _kpi("Expenses (all months)", money(_dec(kpis["total_expenses"])), "total_expenses"),
        _kpi("Net profit", money(_dec(kpis["net_profit"])), "net_profit", neg("net_profit")),
        _kpi(
            f"MoM growth, {kpis['latest_month'] or 'latest month'}",
            percent(_dec(kpis["latest_mom_growth_pct"])),
            "latest_mom_growth_pct",
            neg("latest_mom_growth_pct"),
        ),
        _kpi(
            "Outstanding balance", money(_dec(kpis["outstanding_balance"])), "outstanding_balance"
        ),
        _kpi(
            "Payment success rate",
            percent(_dec(kpis["payment_success_rate_pct"])),
            "payment_success_rate_pct",
        ),
        _kpi(
            "Department-months over budget",
            kpis["overspent_department_months"] or "n/a",
            "overspent_department_months",
        ),
    ]
    return '<section class="kpis">' + "".join(tiles) + "</section>"


def _linked(text: str, href: str | None) -> str:
    """``text`` (already escaped), linked to its drill-down page when it has one."""
    return f'<a href="{escape(href)}" data-explain>{text}</a>' if href else text


def _figures_table(rows: list[dict], columns: list[tuple[str, str, str]], link=None) -> str:
    """A <details> table: columns are (key, heading, kind) with kind money|pct|text;
    ``link(row, key)`` gives a cell's drill-down page, if any."""
    if not rows:
        return ""
    head = "".join(
        f'<th class="{"num" if kind != "text" else ""}">{escape(h)}</th>' for _, h, kind in columns
    )
    body = []
    for r in rows:
        cells = []
        for key, _, kind in columns:
            value = r.get(key)
            href = link(r, key) if link else None
            if kind == "money":
                cells.append(f'<td class="num">{_linked(money(_dec(value)), href)}</td>')
            elif kind == "pct":
                cells.append(f'<td class="num">{percent(_dec(value))}</td>')
            elif kind == "int":
                cells.append(f'<td class="num">{_linked(escape(str(value)), href)}</td>')
            else:
                cells.append(f"<td>{escape('' if value is None else str(value))}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return (
        '<details><summary>Show figures</summary><div class="scroll"><table>'
        f"<thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table></div></details>"
    )


def _missing(section: Section) -> str:
    tables = ", ".join(section.missing)
    return (
        f'<p class="missing">No data yet: {escape(tables)} has not been materialized. '
        "Run <code>finance-assets materialize</code> for a date range.</p>"
    )


def _card(section: Section, title: str, subtitle: str, inner: str, wide: bool = False) -> str:
    css = "card wide" if wide else "card"
    if section.missing:
        inner = _missing(section)
    elif not section.rows:
        inner = '<p class="missing">No rows yet.</p>'
    return (
        f'<section class="{css}" id="{section.key}"><h2>{escape(title)}</h2>'
        f'<p class="sub">{escape(subtitle)}</p>{inner}</section>'
    )


def _budget_inner(section: Section, links: dict | None = None) -> str:
    months = section.extra.get("months") or []
    selected = section.extra.get("selected_month")
    if not months:
        return ""
    options = "".join(
        f'<option value="{m}"{" selected" if m == selected else ""}>{m}</option>' for m in months
    )
    panels = "".join(
        f'<div data-budget-month="{m}"{"" if m == selected else " hidden"}>'
        f"{budget_chart(section, m)}</div>"
        for m in months
    )
    picker = (
        f'<div class="picker"><label for="budget-month">Month </label>'
        f'<select id="budget-month">{options}</select></div>'
    )
    return picker + panels + _variance_grid(section, months, links or {})


def _variance_grid(section: Section, months: list[str], links: dict) -> str:
    """Departments x months: variance % of budget, overspent cells in red."""
    departments = sorted({r["department"] for r in section.rows})
    cells = {(r["department"], r["month"]): r for r in section.rows}
    head = "".join(f'<th class="num">{m}</th>' for m in months)
    body = []
    for dept in departments:
        row = [f"<th>{escape(dept)}</th>"]
        for m in months:
            r = cells.get((dept, m))
            if r is None:
                row.append('<td class="num"></td>')
                continue
            css = "over" if r["is_overspent"] else "under"
            text = "no budget" if r["variance_pct"] is None else f"{r['variance_pct']}%"
            tip = (
                f"{dept} {m}: budget {money(_dec(r['budget_amount']))}, actual "
                f"{money(_dec(r['actual_amount']))}, variance {money(_dec(r['variance']))}"
            )
            href = links.get(Figure("budget_vs_actual", "variance", _month_date(m), dept))
            row.append(
                f'<td class="num {css}" data-tip="{escape(tip)}" data-department="{escape(dept)}"'
                f' data-month="{m}" data-variance="{r["variance"]}">'
                f"{_linked(escape(text), href)}</td>"
            )
        body.append("<tr>" + "".join(row) + "</tr>")
    return (
        "<details open><summary>Variance % of budget, every department and month "
        '(red: overspent)</summary><div class="scroll"><table>'
        f"<thead><tr><th>Department</th>{head}</tr></thead><tbody>{''.join(body)}</tbody>"
        "</table></div></details>"
    )


def shown_figures(data: DashboardData) -> list[Figure]:
    """The gold figures the dashboard's tables show, each of which gets a drill-down page."""
    s, figures = data.sections, []
    monthly = ("revenue", "expenses", "profit")
    for r in s["revenue_expenses"].rows:
        figures += [_monthly_figure(c, r["month"]) for c in monthly]
    for r in s["mom_growth"].rows:
        if r.get("previous_revenue") is not None:
            figures.append(_monthly_figure("revenue", _previous_month(r["month"])))
    for r in s["budget_vs_actual"].rows:
        month = _month_date(r["month"])
        figures.append(Figure("budget_vs_actual", "variance", month, r["department"]))
    for r in s["top_customers"].rows:
        for column in ("total_paid", "outstanding_amount"):
            figures.append(Figure("customer_360", column, None, r["customer_id"]))
    for r in _daily_table_rows(s["payment_success"]):
        day = date.fromisoformat(r["date"])
        for column in ("payment_attempts", "successful_payments"):
            figures.append(Figure("daily_kpi", column, day, None))
    for r in s["restatements"].rows:
        figure = restated_figure(r)
        if figure is not None:
            figures.append(figure)
    return figures


def _daily_table_rows(section: Section) -> list[dict]:
    """The latest days of the payment success section: those its table lists and links."""
    days = section.extra.get("table_days", 0)
    return section.rows[-days:] if days else []


def _monthly_figure(column: str, month: str) -> Figure:
    return Figure("monthly_financial_report", column, _month_date(month), None)


def _previous_month(month: str) -> str:
    day = _month_date(month) - timedelta(days=1)
    return _month_label(day)


def restated_figure(row: dict) -> Figure | None:
    """The figure a restatement changed, when it has a rule to explain it."""
    table, column = row["gold_table"], row["column_name"]
    if (table, column) not in RULES:
        return None
    return Figure(table, column, date.fromisoformat(row["partition_value"]), row["key_value"])


def _audit_card(section: Section, links: dict) -> str:
    """The latest restatements (each linked to its figure's breakdown) and closed months."""
    closed = section.extra.get("closed_months") or []
    months = [
        f"{escape(m['month'])} ({escape(m['action'])} {escape(str(m['changed_at'])[:16])} by "
        f"{escape(m['changed_by'])})"
        for m in closed
    ]
    closed_now = [m for m in closed if m["action"] == "closed"]
    intro = (
        "<p>Closed months (no run may change them until reopened): "
        + (", ".join(months[i] for i, m in enumerate(closed) if m in closed_now) or "none")
        + "</p>"
    )
    if not section.rows:
        body = '<p class="sub">No published value has been restated.</p>'
    else:
        head = (
            "<tr><th>When (UTC)</th><th>Table</th><th>Partition</th><th>Key</th>"
            '<th>Column</th><th class="num">Old</th><th class="num">New</th>'
            '<th class="num">Change</th><th>Run</th></tr>'
        )
        rows = []
        for r in section.rows:
            href = links.get(restated_figure(r))
            cells = [
                escape(str(r["restated_at"])[:19].replace("T", " ")),
                escape(r["gold_table"]),
                escape(r["partition_value"]),
                escape(r["key_value"] or ""),
                _linked(escape(r["column_name"]), href),
            ]
            amounts = [_restated_value(r[k], r["is_money"]) for k in ("old_value", "new_value")]
            amounts.append(_restated_value(r["change"], r["is_money"]))
            row = "".join(f"<td>{c}</td>" for c in cells)
            row += "".join(f'<td class="num">{a}</td>' for a in amounts)
            row += f"<td><code>{escape(r['run_id'][:8])}</code></td>"
            rows.append(f'<tr data-restatement="{escape(r["gold_table"])}">{row}</tr>')
        body = (
            '<div class="scroll"><table><thead>'
            f"{head}</thead><tbody>{''.join(rows)}</tbody></table></div>"
        )
    return (
        f'<section class="card wide" id="{section.key}"><h2>Audit trail</h2>'
        '<p class="sub">Published gold values that a later run changed (gold/restatements), '
        "newest first; each figure links to its current breakdown. "
        '<code>finance-assets sql --query "SELECT * FROM gold.restatements"</code> lists them '
        "all.</p>"
        f"{intro}{body}</section>"
    )


def _restated_value(value, is_money: bool) -> str:
    if value is None:
        return "none"
    return money(_dec(value)) if is_money else escape(str(Decimal(value).normalize()))


def render_html(data: DashboardData) -> str:
    s = data.sections
    links = data.links

    def monthly_link(row: dict, key: str) -> str | None:
        return links.get(_monthly_figure(key, row["month"]))

    def growth_link(row: dict, key: str) -> str | None:
        if key == "previous_revenue":
            return links.get(_monthly_figure("revenue", _previous_month(row["month"])))
        return links.get(_monthly_figure(key, row["month"])) if key == "revenue" else None

    def customer_link(row: dict, key: str) -> str | None:
        return links.get(Figure("customer_360", key, None, row["customer_id"]))

    def daily_link(row: dict, key: str) -> str | None:
        return links.get(Figure("daily_kpi", key, date.fromisoformat(row["date"]), None))

    revenue = _card(
        s["revenue_expenses"],
        "Revenue vs expenses by month",
        "Revenue = SUCCESS payments by payment date; each year is shaded separately, so the "
        "same month of different years is never added together.",
        revenue_expenses_chart(s["revenue_expenses"])
        + _figures_table(
            s["revenue_expenses"].rows,
            [
                ("month", "Month", "text"),
                ("revenue", "Revenue", "money"),
                ("expenses", "Expenses", "money"),
                ("profit", "Profit", "money"),
            ],
            monthly_link,
        ),
        wide=True,
    )
    growth = _card(
        s["mom_growth"],
        "Month-over-month revenue growth",
        "Each month against the calendar month before it; n/a when that month has no data "
        "or had no revenue.",
        mom_growth_chart(s["mom_growth"])
        + _figures_table(
            s["mom_growth"].rows,
            [
                ("month", "Month", "text"),
                ("revenue", "Revenue", "money"),
                ("previous_revenue", "Previous month", "money"),
                ("mom_growth_pct", "Growth", "pct"),
            ],
            growth_link,
        ),
    )
    budget = _card(
        s["budget_vs_actual"],
        "Budget vs actual by department",
        "Actual spend in red where it exceeds the budget (overspent).",
        _budget_inner(s["budget_vs_actual"], links),
    )
    customers = _card(
        s["top_customers"],
        f"Top {TOP_CUSTOMERS} customers by amount paid",
        "Money collected (SUCCESS payments) per customer, with what each still owes.",
        top_customers_chart(s["top_customers"])
        + _figures_table(
            s["top_customers"].rows,
            [
                ("rank", "#", "int"),
                ("customer_id", "Customer", "text"),
                ("total_paid", "Paid", "money"),
                ("outstanding_amount", "Outstanding", "money"),
                ("total_orders", "Orders", "int"),
            ],
            customer_link,
        ),
    )
    daily_rows = _daily_table_rows(s["payment_success"])
    listed = (
        f" The table lists the latest {len(daily_rows)} of {len(s['payment_success'].rows)} "
        "days; explain an older one with finance-assets explain."
        if len(daily_rows) < len(s["payment_success"].rows)
        else ""
    )
    success = _card(
        s["payment_success"],
        "Payment success rate by day",
        "Successful payment attempts / all attempts that day (each payment row is one attempt)."
        + listed,
        payment_success_chart(s["payment_success"])
        + _figures_table(
            daily_rows,
            [
                ("date", "Date", "text"),
                ("payment_attempts", "Attempts", "int"),
                ("successful_payments", "Successful", "int"),
                ("success_rate_pct", "Success rate", "pct"),
            ],
            daily_link,
        ),
        wide=True,
    )
    aging = _card(
        s["outstanding_by_age"],
        "Outstanding balances by age of order",
        f"Pending amounts of non-cancelled orders by days since the order, as of "
        f"{data.as_of or 'the latest order date'}.",
        aging_chart(s["outstanding_by_age"])
        + _figures_table(
            s["outstanding_by_age"].rows,
            [
                ("age_bucket", "Age (days)", "text"),
                ("orders", "Orders", "int"),
                ("pending_amount", "Outstanding", "money"),
                ("share_pct", "Share", "pct"),
            ],
        ),
    )
    payload = json.dumps(data.to_json(), indent=None, separators=(",", ":"))
    payload = payload.replace("</", "<\\/")
    missing = (
        f'<p class="missing">Not materialized yet: {escape(", ".join(data.missing))}</p>'
        if data.missing
        else ""
    )
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="{CSP}">
<title>Finance dashboard</title>
<style>{CSS}</style>
</head>
<body>
<header>
<h1>Finance dashboard</h1>
<p>Built from the gold tables of <code>{escape(data.lake)}</code> on {escape(data.generated_at)}.
Amounts in the lake's currency; percentages rounded half-up to 2 places.</p>
</header>
<main>
{missing}
{_kpi_tiles(data.kpis)}
<div class="grid">
{revenue}
{growth}
{budget}
{customers}
{aging}
{success}
{_audit_card(s["restatements"], links)}
</div>
</main>
<footer>finance-assets analytics dashboard. Every figure is also in the JSON block
<code>#dashboard-data</code>; the same numbers come from <code>finance-assets sql</code>. A linked
figure opens its breakdown into silver rows (<code>finance-assets explain</code>).</footer>
<div id="tip" role="tooltip"></div>
<script type="application/json" id="dashboard-data">{payload}</script>
<script>{SCRIPT}</script>
</body>
</html>
"""


def svg_data_uri(svg: str) -> str:
    return "data:image/svg+xml;base64," + base64.b64encode(svg.encode("utf-8")).decode("ascii")


def metadata_markdown(data: DashboardData) -> dict[str, str]:
    """Markdown for the Dagster UI: key figures, and charts as data-URI images."""
    k = data.kpis
    figures = "\n".join(
        [
            "| figure | value |",
            "|---|---:|",
            f"| revenue (all months) | {money(_dec(k['total_revenue']))} |",
            f"| expenses (all months) | {money(_dec(k['total_expenses']))} |",
            f"| net profit | {money(_dec(k['net_profit']))} |",
            f"| MoM growth, {k['latest_month'] or 'latest month'} | "
            f"{percent(_dec(k['latest_mom_growth_pct']))} |",
            f"| outstanding balance | {money(_dec(k['outstanding_balance']))} |",
            f"| payment success rate | {percent(_dec(k['payment_success_rate_pct']))} |",
            f"| department-months over budget | {k['overspent_department_months'] or 'n/a'} |",
        ]
    )
    out = {"key_figures": figures}
    s = data.sections
    if s["revenue_expenses"].rows:
        image = svg_data_uri(revenue_expenses_chart(s["revenue_expenses"], width=900))
        out["revenue_vs_expenses"] = f"![Revenue vs expenses by month]({image})"
    budget = s["budget_vs_actual"]
    if budget.rows and budget.extra.get("selected_month"):
        month = budget.extra["selected_month"]
        out["budget_vs_actual"] = (
            f"![Budget vs actual by department, {month}]"
            f"({svg_data_uri(budget_chart(budget, month))})"
        )
    return out


def write_dashboard(
    lake: str, path: Path | None = None, daily_days: int = DAILY_TABLE_DAYS
) -> tuple[Path, DashboardData]:
    """Build the dashboard from ``lake`` and write it atomically to ``path``, with a
    drill-down page per figure shown next to it (``daily_days``: see :func:`collect`)."""
    target = path or dashboard_path(lake)
    target.parent.mkdir(parents=True, exist_ok=True)
    with LakeQuery(lake, reuse_results=True) as query:
        data = collect(lake, query, daily_days)
        data.links = write_pages(query, shown_figures(data), target.parent)
    handle, temporary = tempfile.mkstemp(prefix=".index-", suffix=".html", dir=target.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(render_html(data))
        os.chmod(temporary, 0o644)
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return target, data
