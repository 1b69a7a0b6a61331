"""The dashboard asset on the tiny lake, then in headless Chromium.

The browser test needs Debian's chromium at /usr/bin/chromium (``apt-get install
chromium``); without it the test is skipped, unless CI is set, where it fails. It never
downloads a browser.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
from decimal import Decimal
from pathlib import Path

import pytest

from finance_assets_tests.analytics.test_catalog import build_tiny_lake

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
REPO = Path(__file__).resolve().parents[2]
SCREENSHOT = REPO / "docs" / "images" / "dashboard.png"
# A fixed build time so the page (and the README screenshot) is the same on every run.
BUILD_EPOCH = "1764547200"  # 2025-12-01 00:00 UTC


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """Materialize the dashboard asset from the tiny lake; returns (html path, metadata)."""
    import dagster as dg

    from finance_assets.defs.analytics.assets import DASHBOARD_KEY, build_dashboard
    from finance_assets.lake.resources import LakeResource

    root = tmp_path_factory.mktemp("dashboard")
    build_tiny_lake(root / "lake")
    previous = Path.cwd()
    os.chdir(root)  # a relative lake URI keeps the page (and screenshot) free of tmp paths
    os.environ["SOURCE_DATE_EPOCH"] = BUILD_EPOCH
    try:
        result = dg.materialize([build_dashboard()], resources={"lake": LakeResource(uri="lake")})
    finally:
        os.chdir(previous)
        os.environ.pop("SOURCE_DATE_EPOCH", None)
    assert result.success
    (event,) = result.get_asset_materialization_events()
    assert event.materialization.asset_key == DASHBOARD_KEY
    metadata = event.materialization.metadata
    path = Path(metadata["path"].value)
    assert path == root / "lake" / "dashboard" / "index.html"
    return path, metadata


def _embedded(html: str) -> dict:
    match = re.search(
        r'<script type="application/json" id="dashboard-data">(.*?)</script>', html, re.S
    )
    assert match
    return json.loads(match.group(1), parse_float=Decimal)


def test_dashboard_file_is_self_contained(built):
    path, _ = built
    html = path.read_text(encoding="utf-8")
    # nothing is fetched at view time: no external scripts, styles, fonts or images
    assert not re.search(r"""(src|href)\s*=\s*["'](https?:)?//""", html)
    assert "@import" not in html and "url(" not in html
    assert "default-src 'none'" in html
    data = _embedded(html)
    assert data["generated_at"] == "2025-12-01 00:00 UTC"
    assert data["missing_tables"] == []
    # 1000 + 1500 + 0 + 200 + 199.99 + 800 = 3699.99 revenue;
    # 400 + 1650 + 200 + 0 + 50 + 799 = 3099.00 expenses
    assert data["kpis"]["total_revenue"] == "3699.99"
    assert data["kpis"]["total_expenses"] == "3099.00"
    assert data["kpis"]["net_profit"] == "600.99"
    # pending 0.01 + 200 + 950 + 300 + 100; success 12 of 48 attempts; 5 overspent rows
    assert data["kpis"]["outstanding_balance"] == "1550.01"
    assert data["kpis"]["payment_success_rate_pct"] == "25.00"
    assert data["kpis"]["overspent_department_months"] == "5"
    assert data["as_of"] == "2025-11-30"


def test_dashboard_metadata_has_charts_for_the_dagster_ui(built):
    _, metadata = built
    assert metadata["url"].value.startswith("file://")
    assert metadata["months"].value == 6
    assert "| revenue (all months) | 3,699.99 |" in metadata["key_figures"].value
    for key, title in (
        ("revenue_vs_expenses", "Revenue vs expenses by month"),
        ("budget_vs_actual", "Budget vs actual by department, 2025-11"),
    ):
        markdown = metadata[key].value
        match = re.fullmatch(
            re.escape(f"![{title}](data:image/svg+xml;base64,") + r"([A-Za-z0-9+/=]+)\)",
            markdown,
        )
        assert match, markdown[:120]
        svg = base64.b64decode(match.group(1)).decode("utf-8")
        assert svg.startswith("<svg ") and 'xmlns="http://www.w3.org/2000/svg"' in svg
    svg = base64.b64decode(metadata["revenue_vs_expenses"].value.split(",", 1)[1][:-1]).decode()
    assert 'data-series="revenue" data-category="2024-11" data-value="1000.00"' in svg


def test_dashboard_without_gold_says_what_to_materialize(tmp_path):
    from finance_assets.analytics.dashboard import write_dashboard

    path, data = write_dashboard(str(tmp_path / "lake"))
    html = path.read_text(encoding="utf-8")
    assert "gold.monthly_financial_report" in data.missing
    assert "has not been materialized" in html and "finance-assets materialize" in html


def _need_chromium() -> None:
    if CHROMIUM.exists():
        return
    reason = f"{CHROMIUM} is missing (install Debian's chromium: apt-get install chromium)"
    if os.environ.get("CI"):
        pytest.fail(reason)
    pytest.skip(reason)


def _values(page, selector: str) -> dict[str, str]:
    return page.eval_on_selector_all(
        selector,
        "els => Object.fromEntries(els.map(e => "
        "[e.getAttribute('data-category'), e.getAttribute('data-value')]))",
    )


@pytest.mark.browser
def test_dashboard_in_headless_chromium(built, tmp_path):
    _need_chromium()
    from playwright.sync_api import sync_playwright

    path, _ = built
    errors: list[str] = []
    requests: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1440, "height": 900})
            page.on(
                "console",
                lambda m: errors.append(f"{m.type}: {m.text}") if m.type == "error" else None,
            )
            page.on("pageerror", lambda e: errors.append(f"page error: {e}"))
            page.on("requestfailed", lambda r: errors.append(f"request failed: {r.url}"))
            page.on("request", lambda r: requests.append(r.url))
            page.goto(path.as_uri(), wait_until="load")

            # KPI tiles, formatted as money
            assert page.inner_text("[data-kpi=total_revenue] .value") == "3,699.99"
            assert page.inner_text("[data-kpi=outstanding_balance] .value") == "1,550.01"
            assert page.inner_text("[data-kpi=payment_success_rate_pct] .value") == "25.00%"

            # revenue vs expenses: every month YYYY-MM, 2024-11 and 2025-11 apart, the
            # never-materialized months 2025-04..2025-10 shown as gaps
            chart = "svg[data-chart=revenue_expenses]"
            revenue = _values(page, f"{chart} rect[data-series=revenue]")
            expenses = _values(page, f"{chart} rect[data-series=expenses]")
            assert revenue == {
                "2024-11": "1000.00",
                "2024-12": "1500.00",
                "2025-01": "0.00",
                "2025-02": "200.00",
                "2025-03": "199.99",
                "2025-11": "800.00",
            }
            assert expenses["2024-12"] == "1650.00" and expenses["2025-11"] == "799.00"
            assert page.eval_on_selector_all(
                f"{chart} [data-band]", "els => els.map(e => e.getAttribute('data-band'))"
            ) == ["2024", "2025"]
            assert page.locator(f"{chart} text", has_text="no data").count() == 7
            assert page.locator(f"{chart} text", has_text="Month (YYYY-MM)").count() == 1

            # MoM growth: 50.00, -100.00, -0.01; null where there is no previous month
            growth = _values(page, "svg[data-chart=mom_growth] rect[data-series]")
            assert growth == {"2024-12": "50.00", "2025-01": "-100.00", "2025-03": "-0.01"}

            # budget vs actual for the latest month, overspent actuals in red
            latest = "svg[data-chart=budget_vs_actual_2025-11]"
            assert page.is_visible(latest)
            actual = page.eval_on_selector_all(
                f"{latest} rect[data-series=actual]",
                "els => els.map(e => [e.getAttribute('data-category'), "
                "e.getAttribute('data-value'), e.getAttribute('fill')])",
            )
            assert actual == [
                ["Finance", "2000.01", "#dc2626"],
                ["IT", "900.00", "#2563eb"],
                ["Operations", "0.00", "#2563eb"],
                ["Sales", "1000.00", "#dc2626"],
            ]
            assert page.text_content(f"{latest} [data-note=Sales]") == "▲ over by 200.00 (+25.00%)"
            # the month picker shows October instead (JavaScript works)
            page.select_option("#budget-month", "2025-10")
            october = "svg[data-chart=budget_vs_actual_2025-10]"
            assert page.is_visible(october) and not page.is_visible(latest)
            assert page.text_content(f"{october} [data-note=Marketing]") == (
                "▲ over by 300.00 (no budget)"
            )
            page.select_option("#budget-month", "2025-11")
            overspent = page.eval_on_selector_all(
                "td.over", "els => els.map(e => e.dataset.department + ' ' + e.dataset.month)"
            )
            assert sorted(overspent) == [
                "Finance 2025-11",
                "IT 2025-10",
                "Marketing 2025-10",
                "Sales 2025-10",
                "Sales 2025-11",
            ]

            # top customers, largest first
            customers = page.eval_on_selector_all(
                "svg[data-chart=top_customers] rect[data-series]",
                "els => els.map(e => [e.getAttribute('data-category'), "
                "e.getAttribute('data-value')])",
            )
            assert customers == [
                ["C1", "899.99"],
                ["C4", "899.99"],
                ["C2", "500.00"],
                ["C5", "50.00"],
            ]

            # payment success trend (no point on the day without attempts)
            success = _values(page, "svg[data-chart=payment_success] circle")
            assert success == {
                "2025-10-28": "66.67",
                "2025-10-30": "50.00",
                "2025-11-01": "87.50",
                "2025-11-03": "33.33",
                "2025-11-04": "3.13",
            }

            # outstanding balances by age of order
            aging = _values(page, "svg[data-chart=outstanding_by_age] rect[data-series]")
            assert aging == {
                "0-30 days": "400.00",
                "31-60 days": "950.00",
                "61-90 days": "200.00",
                "90+ days": "0.01",
            }
            assert (
                page.locator("svg[data-chart=outstanding_by_age] text", has_text="950.00").count()
                == 1
            )

            # the embedded data agrees with the DOM
            embedded = json.loads(page.inner_text("#dashboard-data"))
            assert embedded["charts"]["top_customers"]["rows"][0]["total_paid"] == "899.99"

            # a tooltip shows the exact figure on hover
            page.hover(f"{chart} rect[data-series=revenue][data-category='2024-12']")
            assert page.inner_text("#tip") == "Revenue 2024-12: 1,500.00"
            page.mouse.move(0, 0)

            shot = tmp_path / "dashboard.png"
            page.screenshot(path=str(shot), full_page=True)
        finally:
            browser.close()
    assert errors == []
    assert all(url.startswith(("file:", "data:")) for url in requests), requests
    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(shot, SCREENSHOT)
    artifacts = os.environ.get("FINANCE_TEST_ARTIFACTS")
    if artifacts:
        Path(artifacts).mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shot, Path(artifacts, "dashboard.png"))
