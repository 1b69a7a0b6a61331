"""The dashboard links its figures to static drill-down pages (the figure's silver rows, as
``finance-assets explain`` lists them) and shows the latest restatements."""

from __future__ import annotations

import re
from html import unescape

from finance_assets_tests.support.audit_lake import ORDER_DAY


def _text(html: str) -> str:
    return unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)))


def test_every_drill_down_link_opens_a_page_that_adds_up(audit_lake):
    dashboard = audit_lake.lake / "dashboard" / "index.html"
    html = dashboard.read_text()
    links = set(re.findall(r'href="(explain/[^"]+\.html)"', html))
    assert any(link.startswith("explain/monthly_financial_report-") for link in links)
    assert any(link.startswith("explain/daily_kpi-") for link in links)
    for link in links:
        page = _text((dashboard.parent / link).read_text())
        assert "Published value:" in page, link
        assert "exactly the published value" in page, link
        assert "finance-assets explain " in page, link


def test_the_dashboard_shows_the_latest_restatements(audit_lake):
    html = (audit_lake.lake / "dashboard" / "index.html").read_text()
    text = _text(html)
    assert "sales_performance" in text and str(audit_lake.order_id) in text
    page = f"explain/sales_performance-{ORDER_DAY}-{audit_lake.order_id}-total_paid.html"
    assert f'href="{page}"' in html
    assert (audit_lake.lake / "dashboard" / page).is_file()
