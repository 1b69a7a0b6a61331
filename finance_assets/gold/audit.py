"""What a gold write changes in what was already published: restatements, and the values of
closed months it must not change.

A gold asset replaces whole partitions. Before it does, the rows it is about to replace (the
current files of exactly those partitions) are compared with the new rows by the table's key,
figure by figure (money, counts, percentages: :attr:`GoldTable.measures`). The cost is one
join of the partitions being replaced, whatever the lake's history; a first publication (no
rows in the partition yet) costs nothing.

- A changed figure in a partition that already had rows is a **restatement**: recorded in
  ``gold/restatements`` (table, partition, key, column, old and new value, run, time). A row
  that appears or disappears in such a partition restates each of its figures from or to
  null. ``customer_360`` is a running roll-up as of the latest day, not a period's figure,
  so its changes are not restatements.
- A month in progress is not a published month: its figures grow every day as its days
  arrive. A monthly figure is restated only when its month was **finished** when it was last
  written (the daily books, ``daily_kpi``, held the month's last day). Each monthly write
  records the finished months it has written in its Delta commit (``finance.finished_months``),
  carried from the previous commit, so this is known without reading history.
- A partition of a **closed month** (daily tables: the days of that month; monthly tables:
  the month) is never rewritten. When the new rows differ from what is there (or would add
  rows to it), the values are reported as waiting for a reopen, and the writer fails a
  blocking check that names them.
"""

from __future__ import annotations

import calendar
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from decimal import Decimal

import pyarrow as pa
import pyarrow.compute as pc
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from finance_assets.gold.tables import DAILY_KPI, GoldTable
from finance_assets.lake.closing import MonthAction, month_of
from finance_assets.lake.delta import (
    ARROW_WRITE_PARTITIONS,
    ARROW_WRITE_ROWS,
    Lake,
    PartitionRange,
    PartitionSet,
    Where,
)
from finance_assets.lake.frames import empty_frame, in_one_partition, select_columns

FIGURE = "decimal(18,2)"
"""Old and new values are compared and recorded as exact decimals (counts fit too)."""
CENT = Decimal("0.01")
ARROW_COMPARE_PARTITIONS = 31
"""At most this many partitions, holding at most ``ARROW_WRITE_ROWS`` published rows, are
compared in Arrow: the days a day's late payments re-write (up to 10 days back)."""
SHOWN = 20
"""How many values a message or a metadata table lists before saying how many more."""
FINISHED_MONTHS = "finance.finished_months"
"""Commit note of monthly gold tables: the months written while their last day was in."""

RESTATEMENT_SCHEMA = pa.schema(
    [
        pa.field("gold_table", pa.string(), nullable=False),
        pa.field("partition_value", pa.date32(), nullable=False),
        pa.field("key_value", pa.string()),
        pa.field("column_name", pa.string(), nullable=False),
        pa.field("old_value", pa.decimal128(18, 2)),
        pa.field("new_value", pa.decimal128(18, 2)),
        pa.field("change", pa.decimal128(18, 2), nullable=False),
        pa.field("is_money", pa.bool_(), nullable=False),
        pa.field("run_id", pa.string(), nullable=False),
        pa.field("restated_at", pa.timestamp("us", tz="UTC"), nullable=False),
        pa.field("restated_on", pa.date32(), nullable=False),
    ]
)
RESTATEMENTS_PARTITION = "restated_on"
"""Partitioned by the day of the restatement: each run appends to one partition, and "the
latest restatements" read only the newest ones, however long the history."""


@dataclass(frozen=True)
class Change:
    """One figure of one gold row whose new value differs from the published one."""

    table: str
    partition: date
    key: str | None
    column: str
    old: Decimal | None
    new: Decimal | None
    is_money: bool

    @property
    def change(self) -> Decimal:
        return (self.new or Decimal("0.00")) - (self.old or Decimal("0.00"))

    def describe(self, partition_column: str) -> str:
        where = f"{partition_column} {self.partition}" + (f" key {self.key}" if self.key else "")
        return f"{where} {self.column}: {_text(self.old)} -> {_text(self.new)}"


def _text(value: Decimal | None) -> str:
    return "none" if value is None else str(value)


@dataclass
class WritePlan:
    """What a gold write may do: where it writes, what it restates, what must wait."""

    table: GoldTable
    where: Where | None
    """The partitions to write (those of closed months taken out); None: nothing to write."""
    restated: list[Change] = field(default_factory=list)
    waiting: list[Change] = field(default_factory=list)
    """Changes to closed months, not written: they wait for a reopen."""
    closed: dict[date, MonthAction] = field(default_factory=dict)
    """The closed months this write touches, with who closed them."""
    kept: tuple[date, ...] = ()
    """Partition values of closed months left as they are."""
    notes: dict[str, str] = field(default_factory=dict)
    """Commit notes for the write (the finished months of a monthly table)."""
    few_rows: bool = False
    """Whether the rows written are few enough to come back here and be written through
    Arrow: at most ``ARROW_WRITE_ROWS`` published rows replaced and a few new partitions."""

    @property
    def waiting_months(self) -> list[date]:
        return sorted({month_of(c.partition) for c in self.waiting})

    @property
    def restated_money(self) -> Decimal:
        """How much money moved, summed in absolute value over the money figures restated."""
        return sum((abs(c.change) for c in self.restated if c.is_money), Decimal("0.00"))

    def waiting_message(self) -> str:
        """One paragraph naming the closed months and the values waiting."""
        if not self.waiting:
            return ""
        column = self.table.partition_column or ""
        months = ", ".join(f"{m:%Y-%m}" for m in self.waiting_months)
        values = "; ".join(c.describe(column) for c in self.waiting[:SHOWN])
        more = len(self.waiting) - SHOWN
        return (
            f"Closed month {months}: this run would change {len(self.waiting)} value(s) of "
            f"gold/{self.table.name}, left as published until the month is reopened "
            f"(finance-assets reopen): {values}" + (f"; and {more} more" if more > 0 else "")
        )


def plan_write(
    spark: SparkSession,
    lake: Lake,
    table: GoldTable,
    frame: DataFrame,
    where: Where | None,
    closed: Mapping[date, MonthAction],
) -> WritePlan:
    """Compare ``frame`` with the rows of ``where`` it replaces; take closed months out."""
    if where is None or table.partition_column is None:
        return WritePlan(table, where)
    path = table.table.path
    counts = lake.partition_row_counts(path, where) if lake.exists(path) else {}
    published = set(counts)
    kept = tuple(sorted(v for v in _values(table, where) if month_of(v) in closed))
    touched = {month_of(v): closed[month_of(v)] for v in kept}
    writing = _without(table, where, kept)
    notes, settled = {}, published
    if table.cadence == "monthly":
        finished = _finished_before(lake, table)
        settled = published & finished
        written = set(_values(table, writing)) if writing is not None else set()
        now = finished | _finished_now(lake, written)
        notes = {FINISHED_MONTHS: json.dumps(sorted(m.isoformat() for m in now))}
    # Only changes to settled or closed partitions are recorded: a month in progress, however
    # often it was written, is not compared at all.
    compared = settled | set(kept)
    changes = _changes(spark, lake, table, frame, compared, counts) if compared else []
    return WritePlan(
        table=table,
        where=writing,
        restated=[c for c in changes if c.partition in settled and c.partition not in kept],
        waiting=[c for c in changes if c.partition in kept],
        closed=touched,
        kept=kept,
        notes=notes,
        few_rows=writing is not None and _few_rows(table, writing, counts),
    )


def _few_rows(table: GoldTable, writing: Where, published: Mapping[date, int]) -> bool:
    values = _values(table, writing)
    new = [v for v in values if v not in published]
    replaced = sum(published.get(v, 0) for v in values)
    return len(new) <= ARROW_WRITE_PARTITIONS and replaced <= ARROW_WRITE_ROWS


def _finished_before(lake: Lake, table: GoldTable) -> set[date]:
    """The months this monthly table last wrote while they were finished."""
    if not lake.exists(table.table.path):
        return set()
    noted = lake.notes(table.table.path).get(FINISHED_MONTHS)
    return {date.fromisoformat(m) for m in json.loads(noted)} if noted else set()


def _finished_now(lake: Lake, months: set[date]) -> set[date]:
    """Those of ``months`` whose last day the daily books hold (from the Delta log)."""
    if not months or not lake.exists(DAILY_KPI.table.path):
        return set()
    last = {m.replace(day=calendar.monthrange(m.year, m.month)[1]): m for m in months}
    where = PartitionSet.of(DAILY_KPI.partition_column, last)
    held = lake.partition_row_counts(DAILY_KPI.table.path, where)
    return {last[d] for d in held}


def _values(table: GoldTable, where: Where) -> list[date]:
    """The partition values ``where`` covers: days, or the first days of months."""
    days = where.days()
    return [d for d in days if d.day == 1] if table.cadence == "monthly" else days


def _without(table: GoldTable, where: Where, kept: tuple[date, ...]) -> Where | None:
    """``where`` less the partitions ``kept``; None when nothing is left to write."""
    if not kept:
        return where
    if isinstance(where, PartitionRange):
        remaining = replace(where, keep=(*where.keep, *kept))
    else:
        remaining = PartitionSet.of(where.column, [v for v in where.values if v not in kept])
    return remaining if remaining.size and _values(table, remaining) else None


def frame_to_write(plan: WritePlan, frame: DataFrame) -> DataFrame:
    """``frame`` without the rows of closed months."""
    if not plan.kept:
        return frame
    return frame.where(~F.col(plan.table.partition_column).isin(list(plan.kept)))


def _changes(
    spark: SparkSession,
    lake: Lake,
    table: GoldTable,
    frame: DataFrame,
    partitions: set[date],
    published: Mapping[date, int],
) -> list[Change]:
    """Figures that differ between the rows now in ``partitions`` (``published`` rows per
    partition, from the Delta log) and ``frame``'s rows there, ordered by partition, key and
    column. A day's run re-writes the days its late rows belong to: a few of them are
    compared here in Arrow, more in Spark."""
    few = (
        len(partitions) <= ARROW_COMPARE_PARTITIONS
        and sum(published.get(p, 0) for p in partitions) <= ARROW_WRITE_ROWS
    )
    if few:
        changes = _changes_in_arrow(lake, table, frame, partitions)
    else:
        changes = _changes_in_spark(spark, lake, table, frame, partitions, published)
    return sorted(changes, key=lambda c: (c.partition, c.key or "", c.column))


def _changes_in_arrow(
    lake: Lake, table: GoldTable, frame: DataFrame, partitions: set[date]
) -> list[Change]:
    """:func:`_changes` with the published rows read from their files and ``frame``'s rows
    collected: one Spark job, no join planned."""
    part, row_key, measures = table.partition_column, table.row_key, list(table.measures)
    keys = [part, *row_key]
    chosen = PartitionSet.of(part, partitions)
    new = select_columns(frame.where(chosen.spark_filter()), [*keys, *measures]).toArrow()
    schema = pa.schema([f.with_nullable(True) for f in new.schema])
    new = new.cast(schema)
    path = table.table.path
    old = (
        lake.read_arrow(path, chosen, keys + measures).cast(schema)
        if lake.exists(path)
        else new.slice(0, 0)
    )

    def side(rows: pa.Table, prefix: str) -> pa.Table:
        return rows.rename_columns([*keys, *(f"{prefix}{m}" for m in measures)])

    joined = side(old, "old_").join(side(new, "new_"), keys, join_type="full outer")
    return [change for m in measures for change in _changed(table, joined, m)]


def _changed(table: GoldTable, joined: pa.Table, measure: str) -> list[Change]:
    """The rows of ``joined`` (keys, ``old_*`` and ``new_*`` figures) where ``measure``
    differs, a missing value differing from any other."""
    part, row_key = table.partition_column, table.row_key
    before, after = joined.column(f"old_{measure}"), joined.column(f"new_{measure}")
    same = pc.or_kleene(
        pc.fill_null(pc.equal(before, after), False),
        pc.and_(pc.is_null(before), pc.is_null(after)),
    )
    differing = joined.filter(pc.invert(same))
    return [
        Change(
            table=table.name,
            partition=row[part],
            key="|".join(str(row[k]) for k in row_key) if row_key else None,
            column=measure,
            old=_as_figure(row[f"old_{measure}"]),
            new=_as_figure(row[f"new_{measure}"]),
            is_money=measure in table.money_columns,
        )
        for row in differing.select(
            [part, *row_key, f"old_{measure}", f"new_{measure}"]
        ).to_pylist()
    ]


def _as_figure(value: Decimal | int | None) -> Decimal | None:
    """A count or an amount as a ``FIGURE``, as Spark's cast makes it."""
    return None if value is None else Decimal(value).quantize(CENT)


def _changes_in_spark(
    spark: SparkSession,
    lake: Lake,
    table: GoldTable,
    frame: DataFrame,
    partitions: set[date],
    published: Mapping[date, int],
) -> list[Change]:
    """:func:`_changes` in Spark. A day's few rows on each side are compared in one
    partition: one Spark job, without a shuffle on either side."""
    part, row_key, measures = table.partition_column, table.row_key, table.measures
    keys = [part, *row_key]
    chosen = PartitionSet.of(part, partitions)
    if lake.exists(table.table.path):
        old = lake.read(spark, table.table.path, chosen)
    else:
        old = empty_frame(spark, frame.schema)
    old = in_one_partition(old, rows=sum(published.get(p, 0) for p in partitions))
    new = in_one_partition(frame.where(chosen.spark_filter()))

    def side(rows: DataFrame, prefix: str) -> DataFrame:
        figures = [F.col(m).cast(FIGURE).alias(f"{prefix}{m}") for m in measures]
        return rows.select(*keys, *figures)

    joined = side(old, "old_").join(side(new, "new_"), keys, "full_outer")
    figures = F.array(
        *[
            F.struct(
                F.lit(m).alias("column"),
                F.col(f"old_{m}").alias("old"),
                F.col(f"new_{m}").alias("new"),
            )
            for m in measures
        ]
    )
    exploded = joined.select(*keys, F.explode(figures).alias("figure"))
    differing = exploded.where(~F.col("figure.old").eqNullSafe(F.col("figure.new")))
    money = set(table.money_columns)
    return [
        Change(
            table=table.name,
            partition=row[part],
            key="|".join(str(row[k]) for k in row_key) if row_key else None,
            column=row["figure"]["column"],
            old=row["figure"]["old"],
            new=row["figure"]["new"],
            is_money=row["figure"]["column"] in money,
        )
        for row in differing.collect()
    ]


def restatement_rows(changes: Iterable[Change], run_id: str, at: datetime) -> pa.Table:
    """``gold/restatements`` rows for ``changes``, made by run ``run_id`` at ``at`` (UTC)."""
    rows = [
        {
            "gold_table": c.table,
            "partition_value": c.partition,
            "key_value": c.key,
            "column_name": c.column,
            "old_value": c.old,
            "new_value": c.new,
            "change": c.change,
            "is_money": c.is_money,
            "run_id": run_id,
            "restated_at": at,
            "restated_on": at.date(),
        }
        for c in changes
    ]
    return pa.Table.from_pylist(rows, schema=RESTATEMENT_SCHEMA)


def changes_markdown(changes: list[Change], partition_column: str) -> str:
    """A small Markdown table of the first changes, for the Dagster UI."""
    lines = [
        f"| {partition_column} | key | column | old | new | change |",
        "|---|---|---|---:|---:|---:|",
    ]
    for c in changes[:SHOWN]:
        lines.append(
            f"| {c.partition} | {c.key or ''} | {c.column} | {_text(c.old)} | {_text(c.new)} "
            f"| {c.change} |"
        )
    if len(changes) > SHOWN:
        lines.append(f"| ... | | {len(changes) - SHOWN} more | | | |")
    return "\n".join(lines)
