"""One small lake that has lived through an audit story, built once per test session through
the real CLI entry point (``finance_assets.cli.main``) on the shared local Spark session:

1. generated drops for 2024-01-31 and 2024-02-01 are materialized (January's last day is in,
   so January is a finished month);
2. a late payment of 1.00 for an open order of 2024-01-31 lands on 2024-02-02, and that day
   is materialized: the order's figures are restated;
3. ``finance-assets close 2024-01``; a second late payment for the same order lands on
   2024-02-03, and that day's run must fail the closed-month check, leaving January alone;
4. ``finance-assets reopen 2024-01``, and 2024-02-03 is materialized again: the payment that
   waited reaches the order.

Tests read what each step printed and the lake as it was between steps.
"""

from __future__ import annotations

import contextlib
import io
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from decimal import Decimal
from pathlib import Path

from finance_assets.cli import main
from finance_assets.lake.arrow import read_table
from finance_assets.landing.generate import GenerateConfig, generate

START, END = date(2024, 1, 31), date(2024, 2, 1)
ORDER_DAY = date(2024, 1, 31)
LATE_DAY, WAITING_DAY = date(2024, 2, 2), date(2024, 2, 3)
LATE_PAYMENT, WAITING_PAYMENT = "P9000000001", "P9000000002"
PAID = Decimal("1.00")
PAYMENTS_HEADER = "payment_id,order_id,payment_date,paid_amount,payment_status,payment_method\n"


@dataclass
class Step:
    """What one CLI call returned and printed."""

    code: int
    out: str
    err: str


@dataclass
class AuditLake:
    root: Path
    landing: Path
    lake: Path
    order_id: int = 0
    steps: dict[str, Step] = field(default_factory=dict)
    sales: dict[str, dict[int, dict]] = field(default_factory=dict)
    """gold/sales_performance rows of ORDER_DAY by order id, after each step."""
    before_late: datetime | None = None
    """An instant after the first run and before the late-payment run."""
    sales_version_before_late: int = -1

    @property
    def uri(self) -> str:
        return str(self.lake)

    def cli(self, name: str, *argv: str) -> Step:
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(list(argv))
        step = Step(code, out.getvalue(), err.getvalue())
        self.steps[name] = step
        return step

    def materialize(self, name: str, start: date, end: date) -> Step:
        argv = ["materialize", "--landing", str(self.landing), "--lake", self.uri]
        return self.cli(name, *argv, "--start", start.isoformat(), "--end", end.isoformat())

    def table(self, path: str) -> list[dict]:
        return read_table(str(self.lake / path)).to_pylist()

    def order_day_sales(self) -> dict[int, dict]:
        rows = self.table("gold/sales_performance")
        return {r["order_id"]: r for r in rows if r["order_date"] == ORDER_DAY}

    def pay(self, day: date, payment_id: str) -> None:
        folder = self.landing / "payments" / day.isoformat()
        folder.mkdir(parents=True, exist_ok=True)
        line = f"{payment_id},{self.order_id},{day},{PAID},SUCCESS,CARD\n"
        (folder / "payments.csv").write_text(PAYMENTS_HEADER + line, encoding="utf-8")


def _open_order(sales: dict[int, dict]) -> int:
    """An order of ORDER_DAY that still owes at least PAID."""
    owing = [o for o, r in sorted(sales.items()) if r["pending_amount"] >= PAID]
    assert owing, f"no open order on {ORDER_DAY} in the generated data: {sales}"
    return owing[0]


def build(root: Path) -> AuditLake:
    from deltalake import DeltaTable

    audit = AuditLake(root, root / "landing", root / "lake")
    config = GenerateConfig(start=START, end=END, orders_per_day=5, dirty_rate=0.1)
    generate(str(audit.landing), config)
    audit.materialize("first", START, END)
    audit.sales["first"] = audit.order_day_sales()
    audit.order_id = _open_order(audit.sales["first"])

    audit.sales_version_before_late = DeltaTable(
        str(audit.lake / "gold/sales_performance")
    ).version()
    audit.before_late = datetime.now(timezone.utc)
    audit.pay(LATE_DAY, LATE_PAYMENT)
    audit.materialize("late", LATE_DAY, LATE_DAY)
    audit.sales["late"] = audit.order_day_sales()

    audit.cli("close", "close", "2024-01", "--lake", audit.uri, "--note", "January reported")
    audit.pay(WAITING_DAY, WAITING_PAYMENT)
    audit.materialize("closed", WAITING_DAY, WAITING_DAY)
    audit.sales["closed"] = audit.order_day_sales()

    audit.cli("reopen", "reopen", "2024-01", "--lake", audit.uri, "--note", "late payment")
    audit.materialize("reopened", WAITING_DAY, WAITING_DAY)
    audit.sales["reopened"] = audit.order_day_sales()
    return audit
