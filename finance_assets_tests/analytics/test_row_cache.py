"""The dashboard keeps what its pages read across the history per partition
(``explain/.cache``), and reads again only the partitions whose files, or the question asked
of them, changed; what it keeps equals what the lake holds."""

from __future__ import annotations

import shutil
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from finance_assets_tests.support.audit_lake import END, START


def _payments_reader(lake: str, asked_days: list):
    """Reads silver/payments through a RowCache, noting the days each fetch read."""
    from finance_assets.analytics.engine import LakeQuery

    def read(cache, asked=lambda day, files: "every payment"):
        with LakeQuery(lake) as query:
            query.register("silver", "payments")

            def fetch(days: list[date]) -> list[dict]:
                asked_days.append(days)
                listed = ", ".join(f"DATE '{d}'" for d in days)
                return query.run(
                    "SELECT payment_id, paid_amount, payment_date, partition_date "
                    f"FROM silver.payments WHERE partition_date IN ({listed}) "
                    "ORDER BY partition_date, payment_id"
                ).records()

            return cache.rows(query, "payments", ("silver", "payments"), asked, fetch)

    return read


def _delete_a_payment(lake, day: date) -> None:
    from deltalake import DeltaTable

    from finance_assets.lake.arrow import read_table

    rows = read_table(lake / "silver/payments", [("partition_date", "=", day.isoformat())])
    gone = rows.to_pylist()[0]["payment_id"]
    DeltaTable(str(lake / "silver/payments")).delete(
        f"partition_date = '{day}' AND payment_id = '{gone}'"
    )


def test_a_partition_is_read_again_only_when_its_files_or_the_question_change(audit_lake, tmp_path):
    from finance_assets.analytics.row_cache import RowCache

    lake = tmp_path / "lake"
    shutil.copytree(audit_lake.lake, lake)
    read_days: list[list[date]] = []
    read = _payments_reader(str(lake), read_days)
    cache = RowCache(tmp_path / "cache", code="release 1")

    first = read(cache)
    every_day = read_days[0]
    assert START in every_day and END in every_day and len(every_day) > 2
    assert first == read(RowCache(None))  # what is kept is what the lake holds
    assert all(type(r["paid_amount"]) is Decimal and type(r["payment_date"]) is date for r in first)

    read_days.clear()
    assert read(cache) == first
    assert read_days == []  # nothing changed: nothing read

    _delete_a_payment(lake, START)  # one of its payments
    changed = read(cache)
    assert read_days == [[START]]
    assert len(changed) == len(first) - 1
    assert changed == read(RowCache(None))

    read_days.clear()
    skipped = read(cache, asked=lambda day, files: None if day == START else "every payment")
    assert read_days == [] and skipped == [r for r in changed if r["partition_date"] != START]
    assert read(cache) == changed and read_days == []  # START's answer was kept

    read_days.clear()
    other_question = read(
        cache, asked=lambda day, files: "other" if day == END else "every payment"
    )
    assert read_days == [[END]] and other_question == changed

    _delete_a_payment(lake, END)  # its only payment: the partition is gone
    read_days.clear()
    assert read(cache) == [r for r in changed if r["partition_date"] != END]
    assert read_days == []

    read_days.clear()
    read(RowCache(cache.folder, code="release 2"))
    assert read_days == [[d for d in every_day if d != END]]  # a release keeps nothing


@pytest.mark.parametrize("damage", [b"", b"not an arrow file"])
def test_an_unreadable_cache_is_read_again_from_the_lake(audit_lake, tmp_path, damage):
    from finance_assets.analytics.row_cache import RowCache

    read_days: list[list[date]] = []
    read = _payments_reader(audit_lake.uri, read_days)
    cache = RowCache(tmp_path / "cache")
    first = read(cache)
    (tmp_path / "cache" / "payments.arrow").write_bytes(damage)
    read_days.clear()
    assert read(cache) == first
    assert len(read_days) == 1 and len(read_days[0]) > 2
    read_days.clear()
    assert read(cache) == first and read_days == []  # and kept again


def test_a_file_outside_a_partition_folder_is_refused():
    from finance_assets.analytics.row_cache import files_by_partition

    found = files_by_partition(
        [
            "/lake/silver/payment_orders/partition_date=2024-01-02/order_date=2024-01-01/b.parquet",
            "/lake/silver/payment_orders/partition_date=2024-01-02/a.parquet",
            "/lake/silver/payment_orders/partition_date=2024-01-01/c.parquet",
        ]
    )
    assert found == {
        date(2024, 1, 1): ["c.parquet"],
        date(2024, 1, 2): ["a.parquet", "order_date=2024-01-01/b.parquet"],
    }
    with pytest.raises(ValueError, match="not in a partition_date= folder"):
        files_by_partition(["/lake/silver/orders/part-0.parquet"])


def test_a_release_that_changes_only_the_cache_s_code_reads_everything_again(tmp_path, monkeypatch):
    from finance_assets.analytics import drilldown, row_cache

    before = drilldown._code.__wrapped__()
    changed = tmp_path / "row_cache.py"
    changed.write_bytes(Path(row_cache.__file__).read_bytes() + b"# another release\n")
    monkeypatch.setattr(row_cache, "__file__", str(changed))
    assert drilldown._code.__wrapped__() != before


def test_an_unchanged_lake_s_dashboard_reads_no_partition_but_its_pages_own_days(
    audit_lake, tmp_path, monkeypatch
):
    """The second build of an unchanged lake's dashboard rewrites the customer and order
    pages (they read across the whole history) from the cache: no question to silver or the
    quarantine reaches beyond one day's partition."""
    from finance_assets.analytics import engine
    from finance_assets.analytics.dashboard import write_dashboard

    lake = tmp_path / "lake"
    shutil.copytree(audit_lake.lake, lake)
    write_dashboard(str(lake))
    asked: list[str] = []
    run = engine.LakeQuery._run

    def noted(self, sql, params=None):
        asked.append(sql)
        return run(self, sql, params)

    monkeypatch.setattr(engine.LakeQuery, "_run", noted)
    write_dashboard(str(lake))
    assert asked and any("gold.customer_360" in q for q in asked)
    below_gold = [q for q in asked if "silver." in q or "quarantine." in q]
    across_history = [q for q in below_gold if "WHERE partition_date = DATE '" not in q]
    assert not across_history  # an order page still reads its own day's order
    pages = sorted(p.name for p in (lake / "dashboard" / "explain").glob("customer_360-*.html"))
    assert pages


def test_the_quarantine_kept_for_some_orders_answers_for_other_orders(audit_lake, tmp_path):
    """The orders a dashboard shows change every day; the quarantined payments that would
    have counted for them are kept per partition whatever the orders, so other orders read
    no partition again, and find what a read of the lake finds."""
    from finance_assets.analytics import engine
    from finance_assets.analytics.explain import SUCCESS_RAW, _quarantined_by
    from finance_assets.analytics.row_cache import RowCache

    with engine.LakeQuery(audit_lake.uri) as query:
        query.register("quarantine", "payments")
        held = query.run(
            "SELECT DISTINCT upper(trim(order_id)) AS id FROM quarantine.payments "
            f"WHERE trim(coalesce(order_id, '')) <> '' AND {SUCCESS_RAW} ORDER BY id"
        ).records()
        ids = [r["id"] for r in held]
        assert ids, "the audit lake quarantines a SUCCESS payment of an order"
        cache = RowCache(tmp_path / "cache")

        def quarantined(values, keep=cache):
            return _quarantined_by(query, keep, "payments", "order_id", values, SUCCESS_RAW)

        assert quarantined(["no such order"]) == {"no such order": []}
        asked: list[str] = []
        run = query._run
        query._run = lambda sql, params=None: asked.append(sql) or run(sql, params)
        shown = quarantined([*ids, "no such order"])
        assert asked == []  # every partition's answer was kept
        assert shown == quarantined([*ids, "no such order"], RowCache(None))
        assert shown["no such order"] == [] and all(shown[i] for i in ids)
