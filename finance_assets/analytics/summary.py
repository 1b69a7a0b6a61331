"""A short plain-text summary of the gold tables, read straight from Delta."""

from __future__ import annotations

from pathlib import Path

from finance_assets.analytics.engine import open_table
from finance_assets.lake.arrow import read_table


def _rows(lake: str, table: str) -> list[dict]:
    path = Path(lake, "gold", table)
    if not (path / "_delta_log").is_dir():
        return []
    return read_table(open_table(str(path))).to_pylist()


def print_gold_summary(lake: str) -> None:
    months = sorted(_rows(lake, "monthly_financial_report"), key=lambda r: r["month"])
    print("\nMonthly P&L (gold/monthly_financial_report)")
    print(f"  {'month':<8} {'revenue':>14} {'expenses':>14} {'profit':>14} {'MoM %':>8}")
    for r in months:
        growth = "" if r["mom_revenue_growth_pct"] is None else f"{r['mom_revenue_growth_pct']}"
        print(
            f"  {r['month']:%Y-%m} {r['revenue']:>14,} {r['expenses']:>14,} "
            f"{r['profit']:>14,} {growth:>8}"
        )
    overspent = [r for r in _rows(lake, "budget_vs_actual") if r["is_overspent"]]
    customers = _rows(lake, "customer_360")
    unmatched = _rows(lake, "unmatched_payments")
    outstanding = sum((r["outstanding_amount"] for r in customers), start=0)
    print(f"\n  departments over budget (department-months): {len(overspent)}")
    print(f"  customers: {len(customers):,}; outstanding balance: {outstanding:,}")
    print(f"  payments with no matching order: {len(unmatched):,}")
