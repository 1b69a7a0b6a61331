"""``finance-assets maintain``: one progress line per table, a total, exit 0; bad input is one
line and exit 2 with nothing done."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from finance_assets.cli import main
from finance_assets.lake.delta import DeltaRsLake, PartitionRange

ORDERS = "silver/orders"
SCHEMA = "order_id long, amount decimal(18,2), partition_date date"


@pytest.fixture
def lake(spark, tmp_path) -> DeltaRsLake:
    """silver/orders written twice: the first write's two files are replaced."""
    lake = DeltaRsLake(str(tmp_path / "lake"))
    days = PartitionRange("partition_date", date(2024, 1, 1), date(2024, 1, 2))
    rows = [(i, Decimal(f"{i}.25"), date(2024, 1, 1 + i % 2)) for i in range(4)]
    for _ in range(2):
        lake.replace_partitions(spark.createDataFrame(rows, SCHEMA), ORDERS, days)
    return lake


def _parquet(lake: DeltaRsLake) -> set[Path]:
    return set(Path(lake.table_uri(ORDERS)).rglob("*.parquet"))


def test_maintain_reports_each_table_and_deletes_replaced_files(lake, capsys):
    assert len(_parquet(lake)) == 4
    assert main(["maintain", "--lake", lake.root, "--retention-hours", "0", "--dry-run"]) == 0
    dry = capsys.readouterr().out
    assert "retention 0 h, dry run: nothing is changed" in dry.splitlines()[0]
    assert "] silver/orders: would delete 2 files (" in dry
    assert dry.rstrip().endswith("nothing changed.") and len(_parquet(lake)) == 4

    assert main(["maintain", "--lake", lake.root, "--retention-hours", "0"]) == 0
    captured = capsys.readouterr()
    lines = captured.out.splitlines()
    assert lines[0] == f"Maintaining 21 tables of {lake.root} (retention 0 h)"
    assert lines[1] == "lake_maintenance: 21 steps"
    steps = [line for line in lines if line.startswith("  [")]
    assert len(steps) == 21
    assert any("silver/orders: nothing to compact; deleted 2 files (" in s for s in steps)
    assert any("gold/daily_kpi: skipped (no such table yet)" in s for s in steps)
    assert lines[-1].startswith("Compacted 0 files into 0 and deleted 2 files (")
    assert "retention 0 h is below Delta's default of 168 h" in captured.err
    assert len(_parquet(lake)) == 2


@pytest.mark.parametrize(
    ("argv", "env", "message"),
    [
        (["--retention-hours", "-1"], None, "'-1' is not a whole number of hours"),
        (["--retention-hours", "soon"], None, "'soon' is not a whole number of hours"),
        ([], "-5", "FINANCE_VACUUM_RETENTION_HOURS='-5': "),
        (["--lake", "/nonexistent/lake"], None, "no lake at '/nonexistent/lake'"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(argv, env, message, tmp_path, monkeypatch, capsys):
    if env is not None:
        monkeypatch.setenv("FINANCE_VACUUM_RETENTION_HOURS", env)
    lake = ["--lake", str(tmp_path)] if "--lake" not in argv else []
    code = _exit_code(["maintain", *lake, *argv])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and message in err, err


def _exit_code(argv: list[str]) -> int:
    """What the command exits with, argparse's errors (SystemExit) included."""
    try:
        return main(argv)
    except SystemExit as exit:
        return int(exit.code)
