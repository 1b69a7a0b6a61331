"""Closed months: once finance has reported a month, no run may change a gold value of it
until the month is reopened.

The state lives in the lake, in a small append-only Delta table ``_control/closed_months``
(one row per close or reopen: month, action, when, by whom, note), so every writer and every
reader of the lake sees the same books, and the history of closes and reopens is itself the
record of who did what. A month's state is its latest row. Rows are appended by delta-rs,
without Spark: ``finance-assets close 2024-01`` takes a fraction of a second.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timezone

import pyarrow as pa

from finance_assets.lake.delta import Lake
from finance_assets.lake.tables import CLOSED_MONTHS

CLOSED, REOPENED = "closed", "reopened"
SCHEMA = pa.schema(
    [
        pa.field("month", pa.date32(), nullable=False),
        pa.field("action", pa.string(), nullable=False),
        pa.field("changed_at", pa.timestamp("us", tz="UTC"), nullable=False),
        pa.field("changed_by", pa.string(), nullable=False),
        pa.field("note", pa.string()),
    ]
)
_MONTH = re.compile(r"^(\d{4})-(\d{2})(?:-01)?$")


class ClosingError(ValueError):
    """A close or reopen that cannot be done (bad month, already closed, not closed)."""


def parse_month(text: str) -> date:
    """``YYYY-MM`` (or ``YYYY-MM-01``) as the first day of that month."""
    match = _MONTH.match(text.strip())
    if not match:
        raise ClosingError(f"{text!r} is not a month YYYY-MM")
    try:
        return date(int(match.group(1)), int(match.group(2)), 1)
    except ValueError:
        raise ClosingError(f"{text!r} is not a month YYYY-MM") from None


def month_of(day: date) -> date:
    return day.replace(day=1)


@dataclass(frozen=True)
class MonthAction:
    """One close or reopen of a month."""

    month: date
    action: str
    changed_at: datetime
    changed_by: str
    note: str | None = None

    @property
    def closed(self) -> bool:
        return self.action == CLOSED

    def describe(self) -> str:
        when = self.changed_at.strftime("%Y-%m-%d %H:%M:%S UTC")
        note = f" ({self.note})" if self.note else ""
        return f"{self.month:%Y-%m} {self.action} on {when} by {self.changed_by}{note}"


def history(lake: Lake) -> list[MonthAction]:
    """Every close and reopen, oldest first."""
    rows = lake.read_arrow(CLOSED_MONTHS.path)
    if rows.num_rows == 0:
        return []
    actions = [MonthAction(**row) for row in rows.select(SCHEMA.names).to_pylist()]
    return sorted(actions, key=lambda a: (a.changed_at, a.month))


def states(lake: Lake) -> dict[date, MonthAction]:
    """Each month's latest action."""
    latest: dict[date, MonthAction] = {}
    for action in history(lake):
        latest[action.month] = action
    return latest


def closed_months(lake: Lake) -> dict[date, MonthAction]:
    """The months closed now, with the close that closed them."""
    return {month: action for month, action in states(lake).items() if action.closed}


def close(lake: Lake, month: date, by: str, note: str | None = None) -> MonthAction:
    """Close ``month``; ClosingError if it is closed already."""
    current = states(lake).get(month)
    if current is not None and current.closed:
        raise ClosingError(f"{month:%Y-%m} is already closed: {current.describe()}")
    return _record(lake, MonthAction(month, CLOSED, _now(), by, note))


def reopen(lake: Lake, month: date, by: str, note: str | None = None) -> MonthAction:
    """Reopen a closed ``month``; ClosingError if it is not closed."""
    current = states(lake).get(month)
    if current is None or not current.closed:
        raise ClosingError(f"{month:%Y-%m} is not closed, so it cannot be reopened")
    return _record(lake, MonthAction(month, REOPENED, _now(), by, note))


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _record(lake: Lake, action: MonthAction) -> MonthAction:
    row = {
        "month": action.month,
        "action": action.action,
        "changed_at": action.changed_at,
        "changed_by": action.changed_by,
        "note": action.note,
    }
    lake.append_rows(pa.Table.from_pylist([row], schema=SCHEMA), CLOSED_MONTHS.path)
    return action
