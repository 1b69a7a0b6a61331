"""Explain a gold figure: the silver rows that make it up, each with the file and row it came
from, and proof that they add up to the published value.

One rule per gold figure (:data:`RULES`), written from the contract (section 4), not from the
Spark transforms, so an explanation is an independent recomputation: when it does not add up
to the published value, one of the two is wrong, and the difference is reported.

- ``daily_kpi`` (a day): revenue = SUCCESS payments with that payment date; expenses = that
  day's expenses; profit = both (expenses counted negative); order_value = the day's orders
  that are not CANCELLED; the counts are the rows counted.
- ``financial_summary`` and ``monthly_financial_report`` (a month): the same rules over the
  days of the month, broken down by day, then rows; orders_paid = distinct valid orders with a
  SUCCESS payment dated that month.
- ``budget_vs_actual`` (a month, key department): the budget row; the department's expenses
  of the month by day; variance = expenses less the budget.
- ``sales_performance`` (an order day, key order_id): the order row; total_paid = the SUCCESS
  payments matched to that order day (``silver/payment_orders``, whatever their payment day);
  pending and overpaid = the order less its payments (or the reverse), floored at zero, zero
  for a CANCELLED order.
- ``customer_360`` (key customer_id, as of the latest day): the customer's orders, by order
  day and order, and their payments; outstanding and overpaid are floored order by order.
- ``unmatched_payments`` (a payment day, key payment_id): the payment row, and the
  quarantined orders it would have matched.

Quarantined rows that would have counted had they been valid (same drop folders, matching
the rule's filters where the raw text can be read) are listed apart, with their reasons.
Tables are read with DuckDB over delta-rs, like ``finance-assets sql``, optionally as they
were at an instant or a version (:class:`TimeTravel`).
"""

from __future__ import annotations

import calendar
import hashlib
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from pathlib import PurePosixPath

from finance_assets.analytics.engine import (
    QUARANTINE_TABLES,
    SILVER_TABLES,
    AnalyticsError,
    LakeQuery,
    Snapshot,
    TimeTravel,
)
from finance_assets.analytics.row_cache import RowCache
from finance_assets.contract import DEPARTMENTS
from finance_assets.gold.tables import GoldTable, gold_tables

ZERO = Decimal("0.00")
UNREADABLE = ("malformed_row", "missing_column")
"""Reasons that leave a row's fields unreadable: such a row may have counted."""


class ExplainError(AnalyticsError):
    """Unknown table, column, partition or key: a usage error (exit 2)."""


@dataclass(frozen=True)
class Figure:
    """One published gold value: table, partition (a day, a month's first day, or None for
    ``customer_360``), row key (None when the partition has one row) and column."""

    table: str
    column: str
    partition: date | None = None
    key: str | None = None

    @property
    def partition_text(self) -> str | None:
        """The partition as a user writes it: ``2024-01-05``, or ``2024-01`` for a month."""
        if self.partition is None:
            return None
        monthly = table_spec(self.table).cadence == "monthly"
        return f"{self.partition:%Y-%m}" if monthly else self.partition.isoformat()

    def describe(self) -> str:
        spec = table_spec(self.table)
        parts = [f"gold/{self.table}.{self.column}"]
        if self.partition is not None:
            parts.append(f"{spec.partition_column} {self.partition_text}")
        if self.key is not None:
            parts.append(f"{'/'.join(spec.row_key)} {self.key}")
        return ", ".join(parts)


@dataclass(frozen=True)
class SourceRow:
    """A silver row in a figure: how it counts (``sign``) and where it came from."""

    group: str
    source: str
    row_id: str
    row_date: date | None
    detail: str
    amount: Decimal | None
    sign: int
    source_file: str
    source_row: int

    @property
    def contribution(self) -> Decimal | int:
        """What the row adds to the figure: its signed amount, or 1 for a counted row."""
        return self.sign if self.amount is None else self.sign * self.amount


@dataclass(frozen=True)
class GroupTotal:
    """A day, an order or a customer's order inside a figure: the sum of its rows and the
    value it contributes (the same, unless the rule floors it at zero)."""

    group: str
    rows: int
    rows_sum: Decimal | int
    value: Decimal | int
    how: str = ""


@dataclass(frozen=True)
class QuarantinedRow:
    """A rejected row that would have counted had it been valid (raw text as dropped)."""

    source: str
    reason: str
    row_id: str | None
    row_date: str | None
    detail: str | None
    amount: str | None
    partition: date | None
    source_file: str
    source_row: int


@dataclass
class Explanation:
    figure: Figure
    rule: str
    published: Decimal | int | None
    computed: Decimal | int
    rows: list[SourceRow]
    groups: list[GroupTotal] = field(default_factory=list)
    quarantined: list[QuarantinedRow] = field(default_factory=list)
    snapshots: list[Snapshot] = field(default_factory=list)
    travel: str = "latest"

    @property
    def difference(self) -> Decimal | int | None:
        """Published less computed: 0 when the figure is explained exactly."""
        return None if self.published is None else self.published - self.computed

    @property
    def ties(self) -> bool:
        return self.difference == 0 or (self.published is None and not self.rows)


@dataclass(frozen=True)
class Breakdown:
    """What a rule found: the rows, the groups and the value they make."""

    rows: list[SourceRow]
    groups: list[GroupTotal]
    computed: Decimal | int


@dataclass(frozen=True)
class Rule:
    """How one gold figure is made of silver rows."""

    describe: Callable[[Figure], str]
    rows: Callable[[LakeQuery, Figure], Breakdown]
    quarantined: Callable[[LakeQuery, Figure], list[QuarantinedRow]]
    reads_only_its_days: bool = False
    """Reads only the silver and quarantine partitions of the figure's days (its day, or
    every day of its month): see :func:`inputs_of`."""


# --- reading silver ------------------------------------------------------------------


@dataclass(frozen=True)
class Source:
    """A silver dataset as it appears in explanations: which columns name, date, describe
    and measure a row."""

    dataset: str
    id: str
    day: str
    detail: str
    amount: str


PAYMENTS = Source(
    "payments",
    "payment_id",
    "payment_date",
    "payment_status || ' ' || payment_method",
    "paid_amount",
)
ORDERS = Source(
    "orders", "order_id", "order_date", "order_status || ' ' || customer_id", "order_amount"
)
EXPENSES = Source(
    "expenses",
    "expense_id",
    "expense_date",
    "department || ' ' || expense_category",
    "expense_amount",
)
BUDGETS = Source("budgets", "department", "month", "'budget'", "budget_amount")


def _literal_dates(days: list[date]) -> str:
    return ", ".join(f"DATE '{d.isoformat()}'" for d in days) or "NULL"


def _silver(
    query: LakeQuery,
    source: Source,
    where: str,
    params: dict | None = None,
    sign: int = 1,
    group: Callable[[dict], str] = lambda row: "",
    counted: bool = False,
) -> list[SourceRow]:
    """Rows of ``silver.<dataset>`` matching ``where``, in date, file and row order."""
    records = _silver_records(query, source, where, params)
    return [_source_row(r, source, sign, group, counted) for r in records]


def _silver_records(
    query: LakeQuery, source: Source, where: str, params: dict | None = None, also: str = ""
) -> list[dict]:
    """The records :func:`_silver` makes rows of (``also``: one more column to select)."""
    query.register("silver", source.dataset)
    extra = f", {also}" if also else ""
    return query.run(
        f"SELECT CAST({source.id} AS VARCHAR) AS row_id, {source.day} AS row_date, "
        f"{source.detail} AS detail, {source.amount} AS amount, _source_file, _source_row"
        f"{extra} FROM silver.{source.dataset} WHERE {where} "
        f"ORDER BY {source.day}, _source_file, _source_row",
        params,
    ).records()


def _source_row(
    r: dict, source: Source, sign: int, group: Callable[[dict], str], counted: bool
) -> SourceRow:
    return SourceRow(
        group=group(r),
        source=f"silver/{source.dataset}",
        row_id=r["row_id"],
        row_date=r["row_date"],
        detail=r["detail"],
        amount=None if counted else r["amount"],
        sign=sign,
        source_file=r["_source_file"],
        source_row=r["_source_row"],
    )


def _on_days(source: Source, days: list[date], extra: str = "") -> str:
    """Rows dated on ``days`` (their drop folders are those days: silver's rules say so)."""
    listed = _literal_dates(days)
    where = f"partition_date IN ({listed}) AND {source.day} IN ({listed})"
    return f"{where} AND {extra}" if extra else where


def _by_day(row: dict) -> str:
    return str(row["row_date"])


@dataclass(frozen=True)
class Match:
    """A payment matched to an order day (``silver/payment_orders``)."""

    order_id: int
    order_date: date
    payment_id: str
    payment_day: date


def _matched(query: LakeQuery, orders: list[tuple[int, date]], success: bool = True) -> list[Match]:
    """The payments matched to these (order_id, order_day) pairs."""
    if not orders:
        return []
    prefetched = _memo(query, MATCHES)
    if success and prefetched is not None and all(o in prefetched for o in orders):
        query.register("silver", "payment_orders")  # read (by prefetch): named on the page
        return [m for o in dict.fromkeys(orders) for m in prefetched[o]]
    query.register("silver", "payment_orders")
    return [_match(r) for r in _match_records(query, orders, success)]


def _match_records(
    query: LakeQuery,
    orders: list[tuple[int, date]],
    success: bool = True,
    folders: list[date] | None = None,
) -> list[dict]:
    """The ``silver/payment_orders`` rows of these (order_id, order_day) pairs (``folders``:
    only those of these payment days' drop folders)."""
    conditions = [
        f"order_date IN ({_literal_dates(sorted({d for _, d in orders}))})",
        f"order_id IN ({', '.join(str(int(o)) for o, _ in orders)})",
    ]
    if folders is not None:
        conditions.insert(0, _in_folders(folders))
    if success:
        conditions.append("payment_status = 'SUCCESS'")
    result = query.run(
        "SELECT order_id, order_date, payment_id, partition_date FROM silver.payment_orders "
        f"WHERE {' AND '.join(conditions)} ORDER BY order_date, order_id, payment_id"
    )
    wanted = set(orders)
    return [r for r in result.records() if (r["order_id"], r["order_date"]) in wanted]


def _match(record: dict) -> Match:
    return Match(
        record["order_id"], record["order_date"], record["payment_id"], record["partition_date"]
    )


def _payment_rows(
    query: LakeQuery, matches: list[Match], sign: int, group: Callable[[Match], str]
) -> list[SourceRow]:
    """The silver payment rows of ``matches`` (with their source file and row)."""
    if not matches:
        return []
    query.register("silver", "payments")
    found = _memo(query, PAYMENT_RECORDS)
    if found is None or not all((m.payment_id, m.payment_day) in found for m in matches):
        found = _payment_records(query, matches)
    rows = []
    in_order = sorted(
        matches, key=lambda m: (m.order_date, m.order_id, m.payment_day, m.payment_id)
    )
    for match in in_order:
        r = found.get((match.payment_id, match.payment_day))
        if r is None:
            raise AnalyticsError(
                f"silver/payment_orders lists payment {match.payment_id} of "
                f"{match.payment_day} but silver/payments has no such row"
            )
        rows.append(
            SourceRow(
                group=group(match),
                source="silver/payments",
                row_id=r["payment_id"],
                row_date=r["payment_date"],
                detail=r["detail"],
                amount=r["paid_amount"],
                sign=sign,
                source_file=r["_source_file"],
                source_row=r["_source_row"],
            )
        )
    return rows


def _payment_records(query: LakeQuery, matches: list[Match]) -> dict[tuple[str, date], dict]:
    """The silver payment records of ``matches`` by (payment_id, payment day)."""
    days = sorted({m.payment_day for m in matches})
    found = _payment_records_on(query, days, sorted({m.payment_id for m in matches}))
    return {(r["payment_id"], r["partition_date"]): r for r in found}


def _payment_records_on(query: LakeQuery, days: list[date], ids: list[str]) -> list[dict]:
    """The silver payment records of ``ids`` in the drop folders of ``days``."""
    return query.run(
        "SELECT payment_id, payment_date, payment_status || ' ' || payment_method AS detail, "
        "paid_amount, partition_date, _source_file, _source_row FROM silver.payments "
        f"WHERE {_in_folders(days)} AND list_contains($ids, payment_id) "
        "ORDER BY partition_date, payment_id, _source_file, _source_row",
        {"ids": ids},
    ).records()


# --- quarantine ----------------------------------------------------------------------

QUARANTINE_FIELDS = {
    "payments": ("payment_id", "payment_date", "payment_status || ' ' || payment_method"),
    "orders": ("order_id", "order_date", "order_status || ' ' || customer_id"),
    "expenses": ("expense_id", "expense_date", "department || ' ' || expense_category"),
    "budgets": ("department", "month", "'budget'"),
}
QUARANTINE_AMOUNT = {
    "payments": "paid_amount",
    "orders": "order_amount",
    "expenses": "expense_amount",
    "budgets": "budget_amount",
}


def _quarantined(
    query: LakeQuery, dataset: str, where: str, params: dict | None = None
) -> list[QuarantinedRow]:
    if not query.register("quarantine", dataset, required=False):
        return []
    return [
        _quarantined_row(r, dataset) for r in _quarantined_records(query, dataset, where, params)
    ]


def _quarantined_records(
    query: LakeQuery, dataset: str, where: str, params: dict | None = None, also: str = ""
) -> list[dict]:
    """The records :func:`_quarantined` makes rows of (``also``: one more column to select)."""
    row_id, day, detail = QUARANTINE_FIELDS[dataset]
    extra = f", {also}" if also else ""
    return query.run(
        f"SELECT _reason, {row_id} AS row_id, {day} AS row_date, {detail} AS detail, "
        f"{QUARANTINE_AMOUNT[dataset]} AS amount, partition_date, _source_file, _source_row"
        f"{extra} FROM quarantine.{dataset} WHERE {where} "
        "ORDER BY partition_date, _source_file, _source_row",
        params,
    ).records()


def _quarantined_row(r: dict, dataset: str) -> QuarantinedRow:
    return QuarantinedRow(
        source=f"quarantine/{dataset}",
        reason=r["_reason"],
        row_id=r["row_id"],
        row_date=r["row_date"],
        detail=r["detail"],
        amount=r["amount"],
        partition=r["partition_date"],
        source_file=r["_source_file"],
        source_row=r["_source_row"],
    )


def _raw_is(column: str, value: str, reason: str) -> str:
    """A raw text field reads as ``value``, or cannot be read at all (then it might)."""
    unreadable = ", ".join(f"'{r}'" for r in (*UNREADABLE, reason))
    return f"(upper(trim(coalesce({column}, ''))) = '{value}' OR _reason IN ({unreadable}))"


def _raw_is_not(column: str, value: str, reason: str) -> str:
    unreadable = ", ".join(f"'{r}'" for r in (*UNREADABLE, reason))
    return f"(upper(trim(coalesce({column}, ''))) <> '{value}' OR _reason IN ({unreadable}))"


def _in_folders(days: list[date]) -> str:
    return f"partition_date IN ({_literal_dates(days)})"


SUCCESS_RAW = _raw_is("payment_status", "SUCCESS", "invalid_status")
NOT_CANCELLED_RAW = _raw_is_not("order_status", "CANCELLED", "invalid_status")


def _raw_id(column: str) -> str:
    """A raw id as silver would store it: trimmed, upper-case."""
    return f"upper(trim(coalesce({column}, '')))"


# --- the figures' days ---------------------------------------------------------------


def _days(figure: Figure) -> list[date]:
    """The days a figure covers: its day, or every day of its month."""
    spec = table_spec(figure.table)
    assert figure.partition is not None
    if spec.cadence == "daily":
        return [figure.partition]
    count = calendar.monthrange(figure.partition.year, figure.partition.month)[1]
    return [figure.partition + timedelta(days=i) for i in range(count)]


def _monthly(figure: Figure) -> bool:
    return table_spec(figure.table).cadence == "monthly"


def _day_group(figure: Figure) -> Callable[[dict], str]:
    return _by_day if _monthly(figure) else (lambda row: "")


# --- combining rows ------------------------------------------------------------------


def _sum(rows: list[SourceRow], counted: bool = False) -> Breakdown:
    """The figure is the sum of its rows (or their number); groups are subtotals."""
    totals: dict[str, list[SourceRow]] = {}
    for row in rows:
        totals.setdefault(row.group, []).append(row)
    groups = []
    for name, members in totals.items():
        if not name:
            continue
        subtotal = _total(members, counted)
        groups.append(GroupTotal(name, len(members), subtotal, subtotal))
    in_groups = sorted(rows, key=lambda r: r.group)  # by day (or order), then as listed
    return Breakdown(in_groups, sorted(groups, key=lambda g: g.group), _total(rows, counted))


def _total(rows: list[SourceRow], counted: bool = False) -> Decimal | int:
    if counted:
        return sum(r.sign for r in rows)
    return sum((r.contribution for r in rows), ZERO)


def _floored(rows: list[SourceRow], cancelled: set[str], order_groups: list[str]) -> Breakdown:
    """Per order: its rows' sum floored at zero, zero for a CANCELLED order; the figure is
    the sum of the orders' values."""
    by_group: dict[str, list[SourceRow]] = {}
    for row in rows:
        by_group.setdefault(row.group, []).append(row)
    groups = []
    for name in order_groups:
        members = by_group.get(name, [])
        subtotal = _total(members)
        if name in cancelled:
            groups.append(GroupTotal(name, len(members), subtotal, ZERO, "CANCELLED: owes 0"))
        else:
            value = max(subtotal, ZERO)
            how = "floored at 0" if value != subtotal else ""
            groups.append(GroupTotal(name, len(members), subtotal, value, how))
    return Breakdown(rows, groups, sum((g.value for g in groups), ZERO))


# --- rules by table ------------------------------------------------------------------


def _payments_on_days(query: LakeQuery, figure: Figure, status: str | None, sign: int = 1):
    extra = f"payment_status = '{status}'" if status else ""
    where = _on_days(PAYMENTS, _days(figure), extra)
    return _silver(query, PAYMENTS, where, sign=sign, group=_day_group(figure), counted=False)


def _expenses_on_days(query: LakeQuery, figure: Figure, sign: int = 1, department=None):
    extra = "department = $department" if department else ""
    params = {"department": department} if department else None
    where = _on_days(EXPENSES, _days(figure), extra)
    return _silver(query, EXPENSES, where, params, sign=sign, group=_day_group(figure))


def revenue_rule() -> Rule:
    def rows(query: LakeQuery, figure: Figure) -> Breakdown:
        return _sum(_payments_on_days(query, figure, "SUCCESS"))

    def describe(figure: Figure) -> str:
        return f"SUCCESS payments with payment_date {_period(figure)}: sum of paid_amount"

    def quarantined(query: LakeQuery, figure: Figure) -> list[QuarantinedRow]:
        return _quarantined(query, "payments", f"{_in_folders(_days(figure))} AND {SUCCESS_RAW}")

    return Rule(describe, rows, quarantined, reads_only_its_days=True)


def expenses_rule() -> Rule:
    def rows(query: LakeQuery, figure: Figure) -> Breakdown:
        return _sum(_expenses_on_days(query, figure))

    def describe(figure: Figure) -> str:
        return f"Expenses with expense_date {_period(figure)}: sum of expense_amount"

    def quarantined(query: LakeQuery, figure: Figure) -> list[QuarantinedRow]:
        return _quarantined(query, "expenses", _in_folders(_days(figure)))

    return Rule(describe, rows, quarantined, reads_only_its_days=True)


def profit_rule() -> Rule:
    def rows(query: LakeQuery, figure: Figure) -> Breakdown:
        paid = _payments_on_days(query, figure, "SUCCESS")
        spent = _expenses_on_days(query, figure, sign=-1)
        return _sum(paid + spent)

    def describe(figure: Figure) -> str:
        return (
            f"SUCCESS payments with payment_date {_period(figure)} (+ paid_amount) less the "
            "expenses of the same days (- expense_amount)"
        )

    def quarantined(query: LakeQuery, figure: Figure) -> list[QuarantinedRow]:
        days = _days(figure)
        paid = _quarantined(query, "payments", f"{_in_folders(days)} AND {SUCCESS_RAW}")
        return paid + _quarantined(query, "expenses", _in_folders(days))

    return Rule(describe, rows, quarantined, reads_only_its_days=True)


def order_value_rule() -> Rule:
    def rows(query: LakeQuery, figure: Figure) -> Breakdown:
        where = _on_days(ORDERS, _days(figure), "order_status <> 'CANCELLED'")
        return _sum(_silver(query, ORDERS, where, group=_day_group(figure)))

    def describe(figure: Figure) -> str:
        return f"Orders dated {_period(figure)} that are not CANCELLED: sum of order_amount"

    def quarantined(query: LakeQuery, figure: Figure) -> list[QuarantinedRow]:
        return _quarantined(
            query, "orders", f"{_in_folders(_days(figure))} AND {NOT_CANCELLED_RAW}"
        )

    return Rule(describe, rows, quarantined, reads_only_its_days=True)


def count_rule(source: Source, what: str, extra: str = "", raw: str = "") -> Rule:
    """A count of the silver rows of the figure's days (``extra``: which ones)."""

    def rows(query: LakeQuery, figure: Figure) -> Breakdown:
        where = _on_days(source, _days(figure), extra)
        counted = _silver(query, source, where, group=_day_group(figure), counted=True)
        return _sum(counted, counted=True)

    def describe(figure: Figure) -> str:
        return f"{what} dated {_period(figure)}: number of rows"

    def quarantined(query: LakeQuery, figure: Figure) -> list[QuarantinedRow]:
        where = _in_folders(_days(figure)) + (f" AND {raw}" if raw else "")
        return _quarantined(query, source.dataset, where)

    return Rule(describe, rows, quarantined, reads_only_its_days=True)


def _status_count(status: str) -> Rule:
    return count_rule(
        PAYMENTS,
        f"{status} payments",
        f"payment_status = '{status}'",
        _raw_is("payment_status", status, "invalid_status"),
    )


def orders_paid_rule() -> Rule:
    """Distinct valid orders with a SUCCESS payment dated in the month."""

    def rows(query: LakeQuery, figure: Figure) -> Breakdown:
        query.register("silver", "payment_orders")
        days = _literal_dates(_days(figure))
        result = query.run(
            "SELECT order_id, order_date, payment_id, partition_date FROM silver.payment_orders "
            f"WHERE partition_date IN ({days}) AND payment_date IN ({days}) "
            "AND payment_status = 'SUCCESS' AND order_date IS NOT NULL"
        )
        matches = [
            Match(r["order_id"], r["order_date"], r["payment_id"], r["partition_date"])
            for r in result.records()
        ]
        # An order id accepted on two days counts once, as in the gold table.
        listed = _payment_rows(query, matches, 1, lambda m: f"order {m.order_id}")
        rows_of = Counter(r.group for r in listed)
        groups = sorted(rows_of)
        counted = [GroupTotal(g, rows_of[g], 1, 1, "counted once") for g in groups]
        return Breakdown(listed, counted, len(groups))

    def describe(figure: Figure) -> str:
        return (
            f"Distinct valid orders with a SUCCESS payment dated {_period(figure)} "
            "(silver/payment_orders): number of orders"
        )

    def quarantined(query: LakeQuery, figure: Figure) -> list[QuarantinedRow]:
        return _quarantined(query, "payments", f"{_in_folders(_days(figure))} AND {SUCCESS_RAW}")

    return Rule(describe, rows, quarantined, reads_only_its_days=True)


def _order_group(match: Match) -> str:
    return f"{match.order_date} order {match.order_id}"


def _period(figure: Figure) -> str:
    if _monthly(figure):
        assert figure.partition is not None
        return f"in {figure.partition:%Y-%m}"
    return f"= {figure.partition}"


# sales_performance ---------------------------------------------------------------------


def _order(query: LakeQuery, figure: Figure) -> list[SourceRow]:
    """The silver order row(s) of the figure's key and order day."""
    where = f"partition_date = DATE '{figure.partition}' AND order_id = {int(figure.key)}"
    name = f"{figure.partition} order {figure.key}"
    return _silver(query, ORDERS, where, group=lambda row: name)


def _order_rows(query: LakeQuery, figure: Figure, sign: int) -> list[SourceRow]:
    name = f"{figure.partition} order {figure.key}"
    return [_regroup(r, name, sign) for r in _order(query, figure)]


def _regroup(row: SourceRow, group: str, sign: int) -> SourceRow:
    return SourceRow(
        group,
        row.source,
        row.row_id,
        row.row_date,
        row.detail,
        row.amount,
        sign,
        row.source_file,
        row.source_row,
    )


def _order_payments(query: LakeQuery, figure: Figure, sign: int) -> list[SourceRow]:
    assert figure.partition is not None and figure.key is not None
    matches = _matched(query, [(int(figure.key), figure.partition)])
    return _payment_rows(query, matches, sign, _order_group)


def _order_quarantine(query: LakeQuery, figure: Figure, payments: bool, orders: bool):
    found = []
    params = {"key": str(int(figure.key))}
    if orders:
        where = f"partition_date = DATE '{figure.partition}' AND {_raw_id('order_id')} = $key"
        found += _quarantined(query, "orders", where, params)
    if payments:
        prefetched = _memo(query, ORDER_PAYMENT_QUARANTINE)
        if prefetched is not None and params["key"] in prefetched:
            query.register("quarantine", "payments", required=False)  # read (by prefetch)
            found += prefetched[params["key"]]
        else:
            where = f"{_raw_id('order_id')} = $key AND {SUCCESS_RAW}"
            found += _quarantined(query, "payments", where, params)
    return found


def order_amount_rule() -> Rule:
    def rows(query: LakeQuery, figure: Figure) -> Breakdown:
        return _sum(_order_rows(query, figure, 1))

    def describe(figure: Figure) -> str:
        return f"The valid order {figure.key} dated {figure.partition}: its order_amount"

    def quarantined(query: LakeQuery, figure: Figure) -> list[QuarantinedRow]:
        return _order_quarantine(query, figure, payments=False, orders=True)

    return Rule(describe, rows, quarantined)


def total_paid_rule() -> Rule:
    def rows(query: LakeQuery, figure: Figure) -> Breakdown:
        return _sum(_order_payments(query, figure, 1))

    def describe(figure: Figure) -> str:
        return (
            f"SUCCESS payments of any day matched to order {figure.key} of {figure.partition} "
            "(silver/payment_orders): sum of paid_amount"
        )

    def quarantined(query: LakeQuery, figure: Figure) -> list[QuarantinedRow]:
        return _order_quarantine(query, figure, payments=True, orders=False)

    return Rule(describe, rows, quarantined)


def successful_count_rule() -> Rule:
    def rows(query: LakeQuery, figure: Figure) -> Breakdown:
        counted = [
            SourceRow(**{**r.__dict__, "amount": None}) for r in _order_payments(query, figure, 1)
        ]
        return _sum(counted, counted=True)

    def describe(figure: Figure) -> str:
        return f"SUCCESS payments matched to order {figure.key} of {figure.partition}: number"

    def quarantined(query: LakeQuery, figure: Figure) -> list[QuarantinedRow]:
        return _order_quarantine(query, figure, payments=True, orders=False)

    return Rule(describe, rows, quarantined)


def balance_rule(owed: bool) -> Rule:
    """pending_amount (``owed``): order less payments; overpaid_amount: payments less order.
    Floored at zero; a CANCELLED order owes nothing."""

    def rows(query: LakeQuery, figure: Figure) -> Breakdown:
        order = _order_rows(query, figure, 1 if owed else -1)
        paid = _order_payments(query, figure, -1 if owed else 1)
        name = f"{figure.partition} order {figure.key}"
        cancelled = {name} if owed and any(_cancelled(r) for r in order) else set()
        return _floored(order + paid, cancelled, [name])

    def describe(figure: Figure) -> str:
        if owed:
            return (
                f"Order {figure.key} of {figure.partition}: order_amount less its SUCCESS "
                "payments, floored at 0 (0 when CANCELLED)"
            )
        return (
            f"Order {figure.key} of {figure.partition}: its SUCCESS payments less "
            "order_amount, floored at 0"
        )

    def quarantined(query: LakeQuery, figure: Figure) -> list[QuarantinedRow]:
        return _order_quarantine(query, figure, payments=True, orders=True)

    return Rule(describe, rows, quarantined)


def _cancelled(row: SourceRow) -> bool:
    return row.detail.startswith("CANCELLED")


# customer_360 --------------------------------------------------------------------------


def _customer_order_group(record: dict) -> str:
    return f"{record['row_date']} order {record['row_id']}"


def _customer_orders(query: LakeQuery, figure: Figure) -> list[SourceRow]:
    prefetched = _memo(query, CUSTOMER_ORDERS)
    if prefetched is not None and figure.key in prefetched:
        query.register("silver", "orders")  # read (by prefetch): named on the page
        return list(prefetched[figure.key])
    where, params = "customer_id = $customer", {"customer": figure.key}
    return _silver(query, ORDERS, where, params, group=_customer_order_group)


def _customer_payments(query: LakeQuery, orders: list[SourceRow], sign: int) -> list[SourceRow]:
    pairs = [(int(r.row_id), r.row_date) for r in orders]
    return _payment_rows(query, _matched(query, pairs), sign, _order_group)


def customer_rule(column: str) -> Rule:
    def rows(query: LakeQuery, figure: Figure) -> Breakdown:
        if column == "total_orders":
            counted = [_uncounted(r) for r in _customer_orders(query, figure)]
            return _sum(counted, counted=True)
        if column == "total_order_value":
            orders = [r for r in _customer_orders(query, figure) if not _cancelled(r)]
            return _sum(orders)
        orders = _customer_orders(query, figure)
        if column == "total_paid":
            return _sum(_customer_payments(query, orders, 1))
        owed = column == "outstanding_amount"
        signed = [_regroup(r, r.group, 1 if owed else -1) for r in orders]
        paid = _customer_payments(query, orders, -1 if owed else 1)
        cancelled = {r.group for r in orders if owed and _cancelled(r)}
        return _floored(signed + paid, cancelled, [r.group for r in orders])

    def describe(figure: Figure) -> str:
        return CUSTOMER_RULES[column].format(customer=figure.key)

    def quarantined(query: LakeQuery, figure: Figure) -> list[QuarantinedRow]:
        prefetched = _memo(query, CUSTOMER_QUARANTINE)
        if prefetched is not None and figure.key in prefetched:
            query.register("quarantine", "orders", required=False)  # read (by prefetch)
            return list(prefetched[figure.key])
        where = f"{_raw_id('customer_id')} = $customer"
        return _quarantined(query, "orders", where, {"customer": figure.key})

    return Rule(describe, rows, quarantined)


def _uncounted(row: SourceRow) -> SourceRow:
    return SourceRow(**{**row.__dict__, "amount": None})


CUSTOMER_RULES = {
    "total_orders": "Valid orders of {customer} (any status, every day): number",
    "total_order_value": "Valid orders of {customer} that are not CANCELLED: sum of order_amount",
    "total_paid": "SUCCESS payments matched to the orders of {customer}: sum of paid_amount",
    "outstanding_amount": (
        "Per order of {customer}: order_amount less its SUCCESS payments, floored at 0 "
        "(0 when CANCELLED); the sum over the orders"
    ),
    "overpaid_amount": (
        "Per order of {customer}: SUCCESS payments less order_amount, floored at 0; the sum "
        "over the orders"
    ),
}


# unmatched_payments --------------------------------------------------------------------


def unmatched_rule() -> Rule:
    def rows(query: LakeQuery, figure: Figure) -> Breakdown:
        query.register("silver", "payment_orders")
        result = query.run(
            "SELECT count(*) AS n FROM silver.payment_orders "
            f"WHERE partition_date = DATE '{figure.partition}' AND payment_id = $key "
            "AND order_date IS NULL",
            {"key": figure.key},
        )
        if not result.rows[0][0]:
            return Breakdown([], [], ZERO)
        where = f"partition_date = DATE '{figure.partition}' AND payment_id = $key"
        return _sum(_silver(query, PAYMENTS, where, {"key": figure.key}))

    def describe(figure: Figure) -> str:
        return (
            f"Payment {figure.key} of {figure.partition}, which matches no valid order "
            "(silver/payment_orders.order_date is null): its paid_amount"
        )

    def quarantined(query: LakeQuery, figure: Figure) -> list[QuarantinedRow]:
        """The rejected orders this payment would have matched, had they been valid."""
        query.register("silver", "payments")
        result = query.run(
            "SELECT order_id FROM silver.payments "
            f"WHERE partition_date = DATE '{figure.partition}' AND payment_id = $key",
            {"key": figure.key},
        )
        ids = sorted({str(r[0]) for r in result.rows})
        if not ids:
            return []
        return _quarantined(
            query, "orders", f"list_contains($ids, {_raw_id('order_id')})", {"ids": ids}
        )

    return Rule(describe, rows, quarantined)


# budget_vs_actual ----------------------------------------------------------------------


def _budget(query: LakeQuery, figure: Figure, sign: int) -> list[SourceRow]:
    where = f"partition_date = DATE '{figure.partition}' AND department = $department"
    return _silver(query, BUDGETS, where, {"department": figure.key}, sign=sign, group=_by_day)


def budget_rule(column: str) -> Rule:
    def rows(query: LakeQuery, figure: Figure) -> Breakdown:
        if column == "budget_amount":
            return _sum(_budget(query, figure, 1))
        spent = _expenses_on_days(query, figure, department=figure.key)
        if column == "actual_amount":
            return _sum(spent)
        return _sum(spent + _budget(query, figure, -1))

    def describe(figure: Figure) -> str:
        period = f"{figure.partition:%Y-%m}"
        return {
            "budget_amount": f"The {figure.key} budget for {period} (0 when none)",
            "actual_amount": f"Expenses of {figure.key} dated in {period}: sum of expense_amount",
            "variance": (
                f"Expenses of {figure.key} dated in {period} (+) less its budget for {period} (-)"
            ),
        }[column]

    def quarantined(query: LakeQuery, figure: Figure) -> list[QuarantinedRow]:
        department = "lower(trim(coalesce(department, ''))) = lower($department)"
        unreadable = f"({department} OR _reason IN ('malformed_row', 'missing_column'))"
        params = {"department": figure.key}
        found = []
        if column != "actual_amount":
            where = f"partition_date = DATE '{figure.partition}' AND {unreadable}"
            found += _quarantined(query, "budgets", where, params)
        if column != "budget_amount":
            where = f"{_in_folders(_days(figure))} AND {unreadable}"
            found += _quarantined(query, "expenses", where, params)
        return found

    return Rule(describe, rows, quarantined, reads_only_its_days=True)


# --- many figures on one connection ------------------------------------------------

CUSTOMER_ORDERS = "explain.customer_orders"
CUSTOMER_QUARANTINE = "explain.customer_quarantine"
MATCHES = "explain.matches"
PAYMENT_RECORDS = "explain.payment_records"
ORDER_PAYMENT_QUARANTINE = "explain.order_payment_quarantine"
PUBLISHED = "explain.published"


def _memo(query: LakeQuery, name: str) -> dict | None:
    return None if query.memo is None else query.memo.get(name)  # type: ignore[return-value]


def prefetch(query: LakeQuery, figures: list[Figure], cache: RowCache | None = None) -> None:
    """Read at once what the figures will ask for, one question per table instead of one per
    figure: their published values (per gold table); for the ``customer_360`` and
    ``sales_performance`` figures, which reach across the whole history, the customers'
    orders, the SUCCESS payments matched to those orders and to the orders shown, those
    payments' rows, and the quarantined rows that would have counted. ``cache`` keeps the
    latter per partition between runs, so a run reads only the partitions that changed. Kept
    in the connection's memo, so only a connection reading one fixed snapshot
    (``reuse_results``) takes it; the explanations themselves are unchanged."""
    if query.memo is not None:
        query.memo[PUBLISHED] = _prefetch_published(query, figures)
    customers = sorted({f.key for f in figures if f.table == "customer_360" and f.key})
    orders = sorted(
        {
            (int(f.key), f.partition)
            for f in figures
            if f.table == "sales_performance" and f.key and f.key.isdigit() and f.partition
        }
    )
    if query.memo is None or not (customers or orders):
        return
    if not all(query.register("silver", t, required=False) for t in ("orders", "payment_orders")):
        return  # each figure will say what it misses
    cache = cache or RowCache(None)
    pairs = list(orders)
    if customers:
        by_customer = _orders_of_customers(query, cache, customers)
        query.memo[CUSTOMER_ORDERS] = by_customer
        pairs += [(int(r.row_id), r.row_date) for found in by_customer.values() for r in found]
    matches: dict[tuple[int, date], list[Match]] = {pair: [] for pair in pairs}
    for match in _matched_by_partition(query, cache, list(matches)):
        matches[(match.order_id, match.order_date)].append(match)
    query.memo[MATCHES] = matches
    every_match = [m for found in matches.values() for m in found]
    if every_match and query.register("silver", "payments", required=False):
        query.memo[PAYMENT_RECORDS] = _payment_records_by_partition(query, cache, every_match)
    if customers and query.register("quarantine", "orders", required=False):
        held = _quarantined_by(query, cache, "orders", "customer_id", customers)
        query.memo[CUSTOMER_QUARANTINE] = held
    # Read even with no order shown, so that a day's restated orders find every older
    # partition's answer kept.
    if query.register("quarantine", "payments", required=False):
        ids = sorted({str(order_id) for order_id, _ in orders})
        held = _quarantined_by(query, cache, "payments", "order_id", ids, SUCCESS_RAW)
        query.memo[ORDER_PAYMENT_QUARANTINE] = held


def _orders_of_customers(
    query: LakeQuery, cache: RowCache, customers: list[str]
) -> dict[str, list[SourceRow]]:
    """Each customer's valid orders, in the order :func:`_silver` lists them."""

    def fetch(days: list[date]) -> list[dict]:
        where = f"{_in_folders(days)} AND list_contains($customers, customer_id)"
        also = "customer_id AS customer, partition_date"
        return _silver_records(query, ORDERS, where, {"customers": customers}, also=also)

    wanted = tuple(customers)
    records = cache.rows(query, "customer_orders", ("silver", "orders"), lambda *_: wanted, fetch)
    records.sort(key=lambda r: (r["row_date"], r["_source_file"], r["_source_row"]))
    orders: dict[str, list[SourceRow]] = {c: [] for c in customers}
    for r in records:
        orders[r["customer"]].append(_source_row(r, ORDERS, 1, _customer_order_group, False))
    return orders


_ORDER_DAY_FOLDER = re.compile(r"^order_date=(\d{4}-\d{2}-\d{2})/")


def _matched_by_partition(
    query: LakeQuery, cache: RowCache, pairs: list[tuple[int, date]]
) -> list[Match]:
    """The SUCCESS payments matched to these (order_id, order day) pairs, as :func:`_matched`
    finds them. ``silver/payment_orders`` is partitioned by payment day, then order day: what
    is asked of a payment day is the pairs of its order-day folders."""
    ids_by_day: dict[date, set[int]] = {}
    for order_id, day in pairs:
        ids_by_day.setdefault(day, set()).add(order_id)

    def asked(_day: date, files: list[str]) -> tuple | None:
        folders = {m[1] for f in files if (m := _ORDER_DAY_FOLDER.match(f))}
        days = sorted(d for d in map(date.fromisoformat, folders) if d in ids_by_day)
        return tuple((d, tuple(sorted(ids_by_day[d]))) for d in days) or None

    def fetch(days: list[date]) -> list[dict]:
        return _match_records(query, pairs, folders=days)

    records = cache.rows(query, "matches", ("silver", "payment_orders"), asked, fetch)
    return [_match(r) for r in records]


def _payment_records_by_partition(
    query: LakeQuery, cache: RowCache, matches: list[Match]
) -> dict[tuple[str, date], dict]:
    """:func:`_payment_records`, partition by partition."""
    ids_by_day: dict[date, set[str]] = {}
    for m in matches:
        ids_by_day.setdefault(m.payment_day, set()).add(m.payment_id)

    def asked(day: date, _files: list[str]) -> tuple | None:
        return tuple(sorted(ids_by_day[day])) if day in ids_by_day else None

    def fetch(days: list[date]) -> list[dict]:
        ids = sorted({i for d in days for i in ids_by_day[d]})
        found = _payment_records_on(query, days, ids)
        return [r for r in found if r["payment_id"] in ids_by_day[r["partition_date"]]]

    records = cache.rows(query, "payment_records", ("silver", "payments"), asked, fetch)
    return {(r["payment_id"], r["partition_date"]): r for r in records}


def _quarantined_by(
    query: LakeQuery,
    cache: RowCache,
    dataset: str,
    column: str,
    values: list[str],
    rule: str = "",
) -> dict[str, list[QuarantinedRow]]:
    """The quarantined rows of ``dataset`` whose raw ``column`` reads as one of ``values``
    (and that meet ``rule``, when given), by that value, as :func:`_quarantined` lists them.

    A partition's rows are kept whatever the values (the quarantine is small): the orders
    shown change every day, and asking a partition for other values would read every
    partition again."""
    raw = _raw_id(column)
    extra = f" AND {rule}" if rule else ""

    def fetch(days: list[date]) -> list[dict]:
        where = f"{_in_folders(days)} AND {raw} <> ''{extra}"
        return _quarantined_records(query, dataset, where, also=f"{raw} AS found_by")

    name = f"quarantined_{dataset}_by_{column}"
    held: dict[str, list[QuarantinedRow]] = {v: [] for v in values}
    for r in cache.rows(query, name, ("quarantine", dataset), lambda *_: rule, fetch):
        if r["found_by"] in held:
            held[r["found_by"]].append(_quarantined_row(r, dataset))
    return held


def inputs_of(query: LakeQuery, figure: Figure, code: str = "") -> str | None:
    """A fingerprint of everything the explanation of ``figure`` reads, for a rule that reads
    only the silver and quarantine partitions of the figure's days: the published value and
    the data files of those partitions (``code``: what else the caller's output depends on).
    Equal fingerprints, equal explanations. None for a rule that reads beyond its days (an
    order's payments of any later day, a customer's whole history)."""
    rule = RULES[(figure.table, figure.column)]
    if not rule.reads_only_its_days:
        return None
    digest = hashlib.sha256(repr((code, figure, rule.describe(figure))).encode())
    digest.update(repr(_published(query, figure)).encode())
    folders = [f"partition_date={day.isoformat()}" for day in _days(figure)]
    for layer, tables in (("silver", SILVER_TABLES), ("quarantine", QUARANTINE_TABLES)):
        for table in tables:
            digest.update(f"\n{layer}.{table}:".encode())
            if query.register(layer, table, required=False):
                by_folder = _files_by_folder(query, layer, table)
                for folder in folders:
                    digest.update("\n".join(by_folder.get(folder, ())).encode())
    return digest.hexdigest()


def _files_by_folder(query: LakeQuery, layer: str, table: str) -> dict[str, list[str]]:
    """The names of the table's data files by partition folder (``partition_date=2024-01-05``),
    sorted. Names, not paths: a lake moved or copied elsewhere keeps its fingerprints (a write
    gives every file a name of its own)."""
    name = f"explain.files.{layer}.{table}"
    known = _memo(query, name)
    if known is not None:
        return known
    by_folder: dict[str, list[str]] = {}
    for path in sorted(query.files(layer, table)):
        file = PurePosixPath(path)
        by_folder.setdefault(file.parent.name, []).append(file.name)
    if query.memo is not None:
        query.memo[name] = by_folder
    return by_folder


# --- the registry of rules -----------------------------------------------------------

ORDERS_ON_DAY = count_rule(ORDERS, "Valid orders")
RULES: dict[tuple[str, str], Rule] = {
    ("daily_kpi", "revenue"): revenue_rule(),
    ("daily_kpi", "expenses"): expenses_rule(),
    ("daily_kpi", "profit"): profit_rule(),
    ("daily_kpi", "order_value"): order_value_rule(),
    ("daily_kpi", "orders_count"): ORDERS_ON_DAY,
    ("daily_kpi", "payment_attempts"): count_rule(PAYMENTS, "Payment attempts"),
    ("daily_kpi", "successful_payments"): _status_count("SUCCESS"),
    ("daily_kpi", "failed_payments"): _status_count("FAILED"),
    ("daily_kpi", "refunded_payments"): _status_count("REFUNDED"),
    ("financial_summary", "total_revenue"): revenue_rule(),
    ("financial_summary", "total_expenses"): expenses_rule(),
    ("financial_summary", "net_profit"): profit_rule(),
    ("financial_summary", "orders_paid"): orders_paid_rule(),
    ("monthly_financial_report", "revenue"): revenue_rule(),
    ("monthly_financial_report", "expenses"): expenses_rule(),
    ("monthly_financial_report", "profit"): profit_rule(),
    ("budget_vs_actual", "budget_amount"): budget_rule("budget_amount"),
    ("budget_vs_actual", "actual_amount"): budget_rule("actual_amount"),
    ("budget_vs_actual", "variance"): budget_rule("variance"),
    ("sales_performance", "order_amount"): order_amount_rule(),
    ("sales_performance", "total_paid"): total_paid_rule(),
    ("sales_performance", "successful_payment_count"): successful_count_rule(),
    ("sales_performance", "pending_amount"): balance_rule(owed=True),
    ("sales_performance", "overpaid_amount"): balance_rule(owed=False),
    **{("customer_360", c): customer_rule(c) for c in CUSTOMER_RULES},
    ("unmatched_payments", "paid_amount"): unmatched_rule(),
}


def table_spec(name: str) -> GoldTable:
    for table in gold_tables():
        if table.name == name:
            return table
    names = ", ".join(t.name for t in gold_tables())
    raise ExplainError(f"unknown gold table {name!r}; gold tables: {names}")


def explainable(table: str) -> list[str]:
    """The columns of ``table`` that have a rule, in the table's column order."""
    return [c for c in table_spec(table).columns if (table, c) in RULES]


# --- explaining ----------------------------------------------------------------------


def figure_for(
    table: str, column: str, partition: str | date | None = None, key: str | None = None
) -> Figure:
    """A :class:`Figure` from user input, checked against the registry (ExplainError)."""
    spec = table_spec(table)
    if column not in spec.columns:
        raise ExplainError(
            f"gold/{table} has no column {column!r}; explainable: {', '.join(explainable(table))}"
        )
    if (table, column) not in RULES:
        raise ExplainError(
            f"gold/{table}.{column} is not a figure made of silver rows (an id, a date, a "
            f"flag or a percentage of other figures); explainable: "
            f"{', '.join(explainable(table))}"
        )
    return Figure(table, column, _partition(spec, partition), _key(spec, key))


def _partition(spec: GoldTable, text: str | date | None) -> date | None:
    if spec.partition_column is None:
        if text is not None:
            raise ExplainError(
                f"gold/{spec.name} is not partitioned (it is as of the latest day): "
                "leave out --partition"
            )
        return None
    if text is None:
        what = "a month YYYY-MM" if spec.cadence == "monthly" else "a day YYYY-MM-DD"
        raise ExplainError(f"gold/{spec.name} needs --partition ({what})")
    if isinstance(text, date):
        value = text
    else:
        raw = text.strip()
        if spec.cadence == "monthly" and len(raw) == 7:
            raw += "-01"
        try:
            value = date.fromisoformat(raw)
        except ValueError:
            raise ExplainError(f"--partition {text!r} is not a date YYYY-MM-DD") from None
    if spec.cadence == "monthly" and value.day != 1:
        raise ExplainError(
            f"gold/{spec.name} is monthly: give the month (--partition {value:%Y-%m})"
        )
    return value


def _key(spec: GoldTable, text: str | None) -> str | None:
    if not spec.row_key:
        if text is not None:
            raise ExplainError(f"gold/{spec.name} has one row per partition: leave out --key")
        return None
    if text is None:
        raise ExplainError(f"gold/{spec.name} has one row per {spec.row_key[0]}: give --key")
    value = text.strip()
    column = spec.row_key[0]
    if column == "order_id":
        if not value.isdigit() or int(value) <= 0:
            raise ExplainError(f"--key {text!r} is not an order_id (digits)")
        return str(int(value))
    if column == "department":
        for department in DEPARTMENTS:
            if department.lower() == value.lower():
                return department
        raise ExplainError(f"--key {text!r} is not a department ({', '.join(DEPARTMENTS)})")
    return value.upper()


def explain(
    lake: str | None,
    figure: Figure,
    travel: TimeTravel | None = None,
) -> Explanation:
    """The rows that make up ``figure`` in ``lake`` (as of ``travel``), and whether they add
    up to its published value."""
    with LakeQuery(lake, travel) as query:
        return explain_in(query, figure)


def explain_in(query: LakeQuery, figure: Figure) -> Explanation:
    """:func:`explain` on an open query (the dashboard explains many figures on one)."""
    rule = RULES[(figure.table, figure.column)]
    query.touched.clear()
    published = _published(query, figure)
    breakdown = rule.rows(query, figure)
    quarantined = rule.quarantined(query, figure)
    read = [query.snapshots[t] for t in sorted(query.touched) if t in query.snapshots]
    return Explanation(
        figure=figure,
        rule=rule.describe(figure),
        published=published,
        computed=breakdown.computed,
        rows=breakdown.rows,
        groups=breakdown.groups,
        quarantined=quarantined,
        snapshots=read,
        travel=query.travel.describe() if query.travel else "latest",
    )


def _published(query: LakeQuery, figure: Figure) -> Decimal | int:
    spec = table_spec(figure.table)
    query.register("gold", figure.table)
    read = _memo(query, PUBLISHED)
    if read is not None and figure.table in read and _addresses_one_row(spec, figure):
        found = read[figure.table].get((figure.partition, figure.key), [])
        return _one_value(spec, figure, [(r[figure.column],) for r in found])
    conditions, params = [], {}
    if figure.partition is not None:
        conditions.append(f"{spec.partition_column} = DATE '{figure.partition}'")
    if figure.key is not None:
        column = spec.row_key[0]
        conditions.append(f"CAST({column} AS VARCHAR) = $key")
        params["key"] = figure.key
    where = " AND ".join(conditions) or "TRUE"
    result = query.run(f"SELECT {figure.column} FROM gold.{figure.table} WHERE {where}", params)
    return _one_value(spec, figure, result.rows)


def _one_value(spec: GoldTable, figure: Figure, rows: list[tuple]) -> Decimal | int:
    if not rows:
        raise ExplainError(f"gold/{figure.table} has no row for {_row_name(spec, figure)}")
    if len(rows) > 1:
        raise AnalyticsError(
            f"gold/{figure.table} has {len(rows)} rows for {_row_name(spec, figure)}"
        )
    return rows[0][0]


def _addresses_one_row(spec: GoldTable, figure: Figure) -> bool:
    """Whether the figure names a partition exactly when its table has one, and a key
    exactly when its rows have one."""
    has_partition = figure.partition is not None
    has_key = figure.key is not None
    return has_partition == bool(spec.partition_column) and has_key == bool(spec.row_key)


def _prefetch_published(query: LakeQuery, figures: list[Figure]) -> dict[str, dict]:
    """The published values of ``figures``, one question per gold table:
    {table: {(partition, key as text): [rows]}}."""
    read: dict[str, dict] = {}
    for table in sorted({f.table for f in figures}):
        spec = table_spec(table)
        shown = [f for f in figures if f.table == table and _addresses_one_row(spec, f)]
        if not shown or not query.register("gold", table, required=False):
            continue
        columns = sorted({f.column for f in shown})
        where = "TRUE"
        if spec.partition_column:
            columns.append(f"{spec.partition_column} AS __partition")
            days = sorted({f.partition for f in shown if f.partition is not None})
            where = f"{spec.partition_column} IN ({_literal_dates(days)})"
        params = {}
        if spec.row_key:
            key = f"CAST({spec.row_key[0]} AS VARCHAR)"
            columns.append(f"{key} AS __key")
            where += f" AND list_contains($keys, {key})"
            params["keys"] = sorted({f.key for f in shown if f.key is not None})
        rows: dict[tuple, list[dict]] = {}
        sql = f"SELECT {', '.join(columns)} FROM gold.{table} WHERE {where}"
        for r in query.run(sql, params).records():
            rows.setdefault((r.get("__partition"), r.get("__key")), []).append(r)
        read[table] = rows
    return read


def _row_name(spec: GoldTable, figure: Figure) -> str:
    parts = []
    if figure.partition is not None:
        parts.append(f"{spec.partition_column} {figure.partition}")
    if figure.key is not None:
        parts.append(f"{spec.row_key[0]} {figure.key}")
    return " and ".join(parts)


def figures_of(query: LakeQuery, table: str, columns: list[str] | None = None) -> list[Figure]:
    """Every explainable figure of ``table`` (each row, each column with a rule)."""
    spec = table_spec(table)
    query.register("gold", table)
    names = [c for c in (columns or explainable(table)) if (table, c) in RULES]
    keys = [c for c in (spec.partition_column, *spec.row_key) if c]
    rows = query.run(f"SELECT DISTINCT {', '.join(keys)} FROM gold.{table} ORDER BY ALL").rows
    figures = []
    for row in rows:
        values = dict(zip(keys, row, strict=True))
        partition = values.get(spec.partition_column) if spec.partition_column else None
        key = str(values[spec.row_key[0]]) if spec.row_key else None
        figures += [Figure(table, column, partition, key) for column in names]
    return figures
