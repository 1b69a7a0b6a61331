"""``finance-assets explain``: every gold money figure of a generated lake breaks down into
silver rows (each traced to its file and row) that add up to exactly the published value;
quarantined rows that would have counted are listed apart, with their reasons."""

from __future__ import annotations

import csv
import io
import json
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

from finance_assets.analytics.engine import LakeQuery
from finance_assets.analytics.explain import explain_in, figures_of
from finance_assets.gold.tables import gold_tables
from finance_assets_tests.support.audit_lake import ORDER_DAY, PAID


def _data_line(source_file: str, source_row: int) -> str:
    """The ``source_row``-th data line (1 = first after the header) of a landing file."""
    lines = Path(source_file.removeprefix("file://")).read_text().splitlines()
    return lines[source_row]


def test_every_gold_money_figure_explains_to_exactly_its_value(audit_lake):
    explained, quarantined = {}, 0
    with LakeQuery(audit_lake.uri) as query:
        for table in gold_tables():
            figures = figures_of(query, table.name, list(table.money_columns))
            for figure in figures:
                explanation = explain_in(query, figure)
                assert explanation.ties, (
                    f"{figure.describe()}: published {explanation.published}, rows add up to "
                    f"{explanation.computed}"
                )
                assert explanation.published == explanation.computed
                quarantined += len(explanation.quarantined)
                for row in explanation.rows:
                    assert row.source_file and row.source_row >= 1, figure.describe()
            explained[table.name] = len(figures)
    covered = {name for name, count in explained.items() if count}
    assert covered >= {
        "daily_kpi",
        "sales_performance",
        "customer_360",
        "financial_summary",
        "monthly_financial_report",
        "budget_vs_actual",
    }, explained
    assert quarantined > 0, "the generated dirt should show in some explanation"


def test_customer_figures_read_together_explain_as_each_alone(audit_lake):
    """The dashboard reads every shown customer's orders, their payments and their
    quarantined orders in one scan each (``prefetch``); each figure's explanation, the tables
    it names included, is the one it gets alone."""
    from finance_assets.analytics import explain as rules

    with LakeQuery(audit_lake.uri, reuse_results=True) as query:
        figures = figures_of(query, "customer_360")
        rules.prefetch(query, figures)
        prefetched = {
            rules.CUSTOMER_ORDERS,
            rules.MATCHES,
            rules.PAYMENT_RECORDS,
            rules.CUSTOMER_QUARANTINE,
        }
        assert query.memo and prefetched <= query.memo.keys()
        together = [explain_in(query, figure) for figure in figures]
    assert len(together) > 10
    assert any(r.source == "silver/payments" for e in together for r in e.rows)
    assert together == [rules.explain(audit_lake.uri, figure) for figure in figures]


def test_customers_quarantined_orders_read_together_are_each_ones_own(audit_lake):
    """The quarantined orders ``prefetch`` reads for all shown customers at once are, for
    each customer, those the customer rule finds alone."""
    from finance_assets.analytics.explain import RULES, Figure, prefetch
    from finance_assets.lake.arrow import read_table

    held = read_table(str(audit_lake.lake / "quarantine/orders")).to_pylist()
    customers = sorted({r["customer_id"].strip().upper() for r in held if r["customer_id"]})
    assert customers, "the audit lake has no quarantined order with a customer"
    figures = [Figure("customer_360", "total_orders", None, c) for c in [*customers, "C0"]]
    rule = RULES[("customer_360", "total_orders")]
    with LakeQuery(audit_lake.uri, reuse_results=True) as query:
        prefetch(query, figures)
        together = [rule.quarantined(query, figure) for figure in figures]
    with LakeQuery(audit_lake.uri) as query:
        alone = [rule.quarantined(query, figure) for figure in figures]
    assert together == alone and all(together[: len(customers)]) and not together[-1]


def _explain(audit_lake, name: str, *argv: str):
    return audit_lake.cli(name, "explain", *argv, "--lake", audit_lake.uri)


def test_explain_json_lists_source_rows_that_add_up(audit_lake):
    step = _explain(
        audit_lake,
        "json",
        "daily_kpi",
        "--partition",
        "2024-01-31",
        "--column",
        "revenue",
        "--format",
        "json",
    )
    assert step.code == 0, step.err
    found = json.loads(step.out, parse_float=Decimal)
    assert found["ties"] is True and found["difference"] == 0
    assert sum(r["amount"] for r in found["rows"]) == found["published_value"]
    for row in found["rows"]:
        line = _data_line(row["_source_file"], row["_source_row"])
        fields = [f.strip().upper() for f in next(csv.reader([line]))]
        assert row["id"] in fields, line  # the drops' columns come in any order
        assert row["source"] == "silver/payments" and row["date"] == "2024-01-31"


def test_a_monthly_figure_breaks_down_into_days_then_rows(audit_lake):
    step = _explain(
        audit_lake,
        "month",
        "monthly_financial_report",
        "--partition",
        "2024-01",
        "--column",
        "profit",
        "--format",
        "json",
    )
    assert step.code == 0, step.err
    found = json.loads(step.out, parse_float=Decimal)
    days = {g["group"]: g["value"] for g in found["groups"]}
    assert set(days) == {"2024-01-31"}
    assert sum(days.values()) == found["published_value"]
    signed = sum(r["amount"] * (1 if r["counts_as"] == "+" else -1) for r in found["rows"])
    assert signed == found["published_value"]
    assert {r["source"] for r in found["rows"]} == {"silver/payments", "silver/expenses"}


def test_explain_csv_and_table_state_the_published_value(audit_lake):
    argv = (
        "sales_performance",
        "--partition",
        ORDER_DAY.isoformat(),
        "--key",
        str(audit_lake.order_id),
        "--column",
        "total_paid",
    )
    table = _explain(audit_lake, "table", *argv)
    assert table.code == 0, table.err
    published = audit_lake.sales["reopened"][audit_lake.order_id]["total_paid"]
    assert f"Published value: {published:,}" in table.out
    assert "exactly the published value" in table.out

    listed = _explain(audit_lake, "csv", *argv, "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(listed.out)))
    counted = [r for r in rows if r["record"] == "row"]
    late = [r for r in counted if r["id"].startswith("P9")]
    assert len(late) == 2 and {Decimal(r["amount"]) for r in late} == {PAID}
    assert all(r["_source_file"] and r["_source_row"] for r in counted)
    assert {Decimal(r["published_value"]) for r in rows} == {published}


def test_explain_as_of_shows_the_figure_as_it_was_published(audit_lake):
    argv = (
        "sales_performance",
        "--partition",
        ORDER_DAY.isoformat(),
        "--key",
        str(audit_lake.order_id),
        "--column",
        "total_paid",
        "--format",
        "json",
    )
    step = _explain(audit_lake, "as_of", *argv, "--as-of", audit_lake.before_late.isoformat())
    assert step.code == 0, step.err
    found = json.loads(step.out, parse_float=Decimal)
    assert found["published_value"] == audit_lake.sales["first"][audit_lake.order_id]["total_paid"]
    assert found["ties"] is True
    assert not [r for r in found["rows"] if r["id"].startswith("P9")]
    # It says which versions it read, each committed before that instant.
    assert {v["table"] for v in found["versions"]} >= {
        "gold/sales_performance",
        "silver/payment_orders",
    }
    for read in found["versions"]:
        assert datetime.fromisoformat(read["committed_at"]) <= audit_lake.before_late, read


def test_quarantined_rows_are_listed_apart_with_their_reasons(audit_lake):
    quarantine = {
        (r["_source_file"], r["_source_row"]): r["_reason"]
        for name in ("orders", "payments", "expenses")
        for r in audit_lake.table(f"quarantine/{name}")
    }
    assert quarantine, "the generated drops should have quarantined rows"
    days = sorted({date.fromisoformat(f.split("/")[-2]) for f, _ in quarantine})
    listed = []
    for day in days:
        for column in ("profit", "order_value"):
            step = _explain(
                audit_lake,
                f"q{day}{column}",
                "daily_kpi",
                "--partition",
                day.isoformat(),
                "--column",
                column,
                "--format",
                "json",
            )
            found = json.loads(step.out, parse_float=Decimal)
            listed += found["quarantined"]
            assert found["ties"] is True
    assert listed
    for row in listed:
        assert quarantine[(row["_source_file"], row["_source_row"])] == row["reason"]


def test_unknown_figures_are_usage_errors(audit_lake):
    step = _explain(
        audit_lake, "bad_column", "daily_kpi", "--partition", "2024-01-31", "--column", "nope"
    )
    assert step.code == 2 and "gold/daily_kpi has no column 'nope'" in step.err
    step = _explain(
        audit_lake, "bad_day", "daily_kpi", "--partition", "2023-01-01", "--column", "revenue"
    )
    assert step.code == 2 and "no row for date 2023-01-01" in step.err
