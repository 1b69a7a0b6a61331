"""A generated range across a month end: every row accounted for, and a rerun changes nothing."""

from collections import Counter
from datetime import date
from pathlib import Path

import pytest

from finance_assets.cli import materialize
from finance_assets.contract import DATASETS
from finance_assets.lake.arrow import read_table
from finance_assets.landing.generate import GenerateConfig, generate

START, END = date(2024, 1, 22), date(2024, 2, 8)
VOLATILE = {"_ingested_at", "_run_id"}


def _table(lake: Path, path: str) -> list[tuple]:
    rows = read_table(str(lake / path)).to_pylist()
    return sorted(
        tuple(sorted((k, repr(v)) for k, v in r.items() if k not in VOLATILE)) for r in rows
    )


def _per_partition(lake: Path, path: str) -> Counter:
    table = read_table(str(lake / path), columns=["partition_date"])
    return Counter(table.column("partition_date").to_pylist())


def _all_tables(lake: Path) -> dict[str, list[tuple]]:
    return {
        f"{layer}/{name}": _table(lake, f"{layer}/{name}")
        for layer in ("bronze", "silver", "quarantine", "gold")
        for name in ([p.name for p in (lake / "gold").iterdir()] if layer == "gold" else DATASETS)
    }


@pytest.fixture(scope="module")
def generated(spark, tmp_path_factory):
    root = tmp_path_factory.mktemp("generated")
    landing, lake = root / "landing", root / "lake"
    written = generate(
        str(landing), GenerateConfig(start=START, end=END, orders_per_day=8, dirty_rate=0.08)
    )
    first = materialize(str(landing), str(lake), START, END)
    snapshot = _all_tables(lake)
    second = materialize(str(landing), str(lake), START, END)
    return written, lake, first, second, snapshot


def test_materialize_succeeds_with_every_blocking_check_passing(generated):
    _, _, first, second, _ = generated
    assert first.succeeded and second.succeeded
    assert not [c for c in first.failed_checks + second.failed_checks if c.endswith("(ERROR)")]


def test_every_bronze_row_is_in_silver_or_quarantine_per_partition(generated):
    written, lake, *_ = generated
    for name in DATASETS:
        bronze = _per_partition(lake, f"bronze/{name}")
        assert sum(bronze.values()) == written[name], name
        accounted = _per_partition(lake, f"silver/{name}") + _per_partition(
            lake, f"quarantine/{name}"
        )
        assert bronze == accounted, name


def test_dirty_rows_were_quarantined(generated):
    _, lake, *_ = generated
    reasons = Counter(read_table(str(lake / "quarantine/orders")).column("_reason").to_pylist())
    assert {"malformed_row", "duplicate", "invalid_amount"} <= set(reasons)


def test_rerunning_the_range_changes_no_table(generated):
    _, lake, _, _, snapshot = generated
    assert _all_tables(lake) == snapshot
