"""The dashboard links its figures to static drill-down pages (the figure's silver rows, as
``finance-assets explain`` lists them) and shows the latest restatements."""

from __future__ import annotations

import re
from datetime import date
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


def test_the_daily_table_lists_and_explains_only_the_latest_days(audit_lake, tmp_path):
    """The chart keeps every day; the table, and so the pages written, only the latest ones:
    a day's dashboard build does not grow with the history."""
    from finance_assets.analytics.dashboard import write_dashboard

    path, data = write_dashboard(audit_lake.uri, tmp_path / "index.html", daily_days=2)
    every_day = [r["date"] for r in data.sections["payment_success"].rows]
    assert len(every_day) > 2, every_day
    latest = every_day[-2:]
    html = path.read_text()
    daily_pages = {p.name for p in (tmp_path / "explain").glob("daily_kpi-*.html")}
    assert daily_pages == {
        f"daily_kpi-{day}-{column}.html"
        for day in latest
        for column in ("payment_attempts", "successful_payments")
    }
    daily_links = set(re.findall(r'href="explain/(daily_kpi-[^"]+\.html)"', html))
    assert daily_links == daily_pages
    chart = re.search(r'<svg[^>]*data-chart="payment_success".*?</svg>', html, re.S)
    assert chart and all(day in chart.group(0) for day in every_day)
    assert f"latest 2 of {len(every_day)} days" in _text(html)
    assert any(
        p.name.startswith("monthly_financial_report-") for p in (tmp_path / "explain").iterdir()
    )


def test_a_page_lists_its_first_rows_and_still_adds_up_every_row(audit_lake):
    """A month's revenue can be millions of payments (a customer's lifetime, thousands of
    orders): the page lists the first rows and groups, counts and subtotals every row, and
    names the command that lists them all."""
    from finance_assets.analytics.drilldown import render_page
    from finance_assets.analytics.explain import explain, figure_for

    figure = figure_for("monthly_financial_report", "revenue", "2024-01")
    explanation = explain(audit_lake.uri, figure)
    assert len(explanation.rows) > 1 and explanation.ties
    page = render_page(explanation, limit=1)
    listed = re.search(r"<h2>Rows \(([\d,]+)\)</h2>(.*?)</table>", page, re.S)
    assert listed and int(listed[1].replace(",", "")) == len(explanation.rows)
    assert listed[2].count("<tr>") == 1 + 1  # the header and one row
    text = _text(page)
    assert f"Showing the first 1 of {len(explanation.rows):,} rows" in text
    february = explain(audit_lake.uri, figure_for("monthly_financial_report", "revenue", "2024-02"))
    assert len(february.groups) > 1 and february.ties  # its days
    page_of_days = render_page(february, limit=1)
    assert f"Showing the first 1 of {len(february.groups):,} groups" in _text(page_of_days)
    by_group = re.search(r"<h2>By group</h2>(.*?)</table>", page_of_days, re.S)
    assert by_group and by_group[1].count("<tr>") == 1 + 1
    assert "finance-assets explain monthly_financial_report --partition 2024-01 " in text
    assert "exactly the published value" in text  # the verdict counts every row
    whole = render_page(explanation)
    assert "Showing the first" not in _text(whole)
    assert re.search(r"<h2>Rows.*?</table>", whole, re.S)[0].count("<tr>") == 1 + len(
        explanation.rows
    )


def test_a_connection_that_reuses_results_answers_a_repeated_query_once(audit_lake):
    from finance_assets.analytics.engine import LakeQuery

    for reuse, expected in ((True, [(1,)]), (False, [(1,), (2,)])):
        with LakeQuery(audit_lake.uri, reuse_results=reuse) as query:
            query.connection.execute("CREATE TABLE t AS SELECT 1 AS n")
            first = query.run("SELECT n FROM t ORDER BY n")
            first.rows.append((99,))  # a caller's change stays its own
            query.connection.execute("INSERT INTO t VALUES (2)")
            assert query.run("SELECT n FROM t ORDER BY n").rows == expected, reuse
            # another question, or the same one with other parameters, is asked anew
            assert query.run("SELECT n FROM t WHERE n > $m", {"m": 1}).rows == [(2,)]
            assert query.run("SELECT n FROM t WHERE n > $m", {"m": 0}).rows == [(1,), (2,)]


READ_LINE = re.compile(r'<p class="muted">Read: .*?</p>', re.S)


def _pages(folder) -> dict[str, str]:
    return {p.name: p.read_text() for p in sorted((folder / "explain").glob("*.html"))}


def _without_versions(page: str) -> str:
    """A page less the table versions it names (a kept page names those it was made from)."""
    return READ_LINE.sub("", page)


def test_pages_kept_across_the_audit_story_equal_pages_written_at_once(audit_lake, tmp_path):
    """The lake's dashboard was rebuilt by each run of the story, keeping the pages whose
    inputs had not changed; every page equals the page one build writes from scratch."""
    from finance_assets.analytics.dashboard import write_dashboard

    write_dashboard(audit_lake.uri, tmp_path / "index.html")
    kept, fresh = _pages(audit_lake.lake / "dashboard"), _pages(tmp_path)
    assert kept.keys() == fresh.keys()
    assert {n: _without_versions(p) for n, p in kept.items()} == {
        n: _without_versions(p) for n, p in fresh.items()
    }
    older = [n for n in kept if kept[n] != fresh[n]]
    assert any(n.startswith("monthly_financial_report-2024-01-") for n in older), older


def test_a_page_is_written_anew_when_a_partition_it_reads_changes(audit_lake, tmp_path):
    """Deleting a payment of 2024-02-01 from silver (gold left as it was) rewrites the pages
    of that day and its month, which now show the difference; other pages are kept."""
    import shutil

    from deltalake import DeltaTable

    from finance_assets.analytics.dashboard import write_dashboard
    from finance_assets.lake.arrow import read_table

    lake = tmp_path / "lake"
    shutil.copytree(audit_lake.lake, lake)
    dashboard = lake / "dashboard"
    write_dashboard(str(lake))
    before = {p.name: p.stat().st_ino for p in (dashboard / "explain").glob("*.html")}

    day = date(2024, 2, 1)
    rows = read_table(lake / "silver/payments", [("partition_date", "=", day.isoformat())])
    gone = next(
        p["payment_id"]
        for p in rows.to_pylist()
        if p["payment_status"] == "SUCCESS" and p["payment_date"] == day
    )
    DeltaTable(str(lake / "silver/payments")).delete(
        f"partition_date = '{day}' AND payment_id = '{gone}'"
    )
    write_dashboard(str(lake))

    after = {p.name: p.stat().st_ino for p in (dashboard / "explain").glob("*.html")}
    rewritten = {n for n in after if before.get(n) != after[n]}
    changed = {
        "daily_kpi-2024-02-01-payment_attempts.html",
        "daily_kpi-2024-02-01-successful_payments.html",
        "monthly_financial_report-2024-02-revenue.html",
        "monthly_financial_report-2024-02-profit.html",
    }
    assert changed <= rewritten
    assert "daily_kpi-2024-01-31-successful_payments.html" not in rewritten
    assert "monthly_financial_report-2024-01-revenue.html" not in rewritten
    for name in changed:
        page = _text((dashboard / "explain" / name).read_text())
        assert "exactly the published value" not in page, name
    fresh = tmp_path / "fresh"
    write_dashboard(str(lake), fresh / "index.html")
    assert {n: _without_versions(p) for n, p in _pages(dashboard).items()} == {
        n: _without_versions(p) for n, p in _pages(fresh).items()
    }


def test_a_lake_copied_elsewhere_keeps_its_pages(audit_lake, tmp_path):
    """A page's fingerprint names the files it reads, not where the lake is: the first build
    of a copied lake keeps every page of a day or a month, and writes only the pages that
    always are (a customer's whole history)."""
    import shutil

    from finance_assets.analytics.dashboard import write_dashboard

    lake = tmp_path / "copy"
    shutil.copytree(audit_lake.lake, lake)
    explain = lake / "dashboard" / "explain"
    before = {p.name: p.stat().st_ino for p in explain.glob("*.html")}
    write_dashboard(str(lake))
    after = {p.name: p.stat().st_ino for p in explain.glob("*.html")}
    assert after.keys() == before.keys()
    rewritten = {n for n in after if before[n] != after[n]}
    of_days = {n for n in after if n.startswith(("daily_kpi-", "monthly_financial_report-"))}
    assert of_days, sorted(after)
    assert not rewritten & of_days, sorted(rewritten & of_days)
