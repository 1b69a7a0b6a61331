"""Evaluate a Pandera schema on a Spark DataFrame in one pass.

Pandera's Spark backend runs one Spark job per check, which dominates run time on large
partitions. This evaluator reads the same schema objects (dtype, nullable, built-in
checks, unique), plus any :class:`RowRule` relating columns to each other, and counts every
rule's failing rows, and the repeated keys, in a single aggregation; a second, small query
fetches sample rows only when something failed. Null values are ignored by value checks, as
in Pandera.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import reduce

import pandera.pyspark as pa
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

SAMPLE_ROWS = 5


@dataclass
class SchemaReport:
    """What a schema found wrong with a table (or partition range)."""

    rows: int
    missing_columns: list[str] = field(default_factory=list)
    wrong_types: dict[str, str] = field(default_factory=dict)
    failures: dict[str, int] = field(default_factory=dict)
    samples: list[dict] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not (self.missing_columns or self.wrong_types or self.failures)

    @property
    def failing_rows(self) -> int:
        return max(self.failures.values(), default=0)


@dataclass(frozen=True)
class RowRule:
    """A rule on each row that relates columns to each other, which a column schema cannot
    say (e.g. a row's partition date is the date of the folder its file was dropped in).
    ``holds`` builds the expression true where a row keeps the rule; null breaks it."""

    name: str
    columns: tuple[str, ...]
    holds: Callable[[], Column]


def check_expression(column: Column, check: pa.Check) -> Column:
    """The Spark expression that is true where ``check`` holds."""
    s = check.statistics
    builders = {
        "greater_than": lambda: column > s["min_value"],
        "greater_than_or_equal_to": lambda: column >= s["min_value"],
        "less_than": lambda: column < s["max_value"],
        "less_than_or_equal_to": lambda: column <= s["max_value"],
        "equal_to": lambda: column == s["value"],
        "not_equal_to": lambda: column != s["value"],
        "isin": lambda: column.isin(list(s["allowed_values"])),
        "notin": lambda: ~column.isin(list(s["forbidden_values"])),
        "str_matches": lambda: column.rlike(s["pattern"]),
        "str_length": lambda: _length_between(column, s),
        "in_range": lambda: _in_range(column, s),
    }
    if check.name not in builders:
        raise ValueError(f"Check {check.name!r} has no Spark translation")
    return builders[check.name]()


def _length_between(column: Column, s: dict) -> Column:
    length = F.length(column)
    if s.get("exact_value") is not None:
        return length == s["exact_value"]
    low = length >= s["min_value"] if s.get("min_value") is not None else F.lit(True)
    high = length <= s["max_value"] if s.get("max_value") is not None else F.lit(True)
    return low & high


def _in_range(column: Column, s: dict) -> Column:
    low = column >= s["min_value"] if s.get("include_min", True) else column > s["min_value"]
    high = column <= s["max_value"] if s.get("include_max", True) else column < s["max_value"]
    return low & high


def rule_failures(schema: pa.DataFrameSchema, present: set[str]) -> dict[str, Column]:
    """Rule name -> expression true on rows that break the rule."""
    failing: dict[str, Column] = {}
    for name, column_schema in schema.columns.items():
        if name not in present:
            continue
        column = F.col(name)
        if not column_schema.nullable:
            failing[f"{name}:not_null"] = column.isNull()
        for check in column_schema.checks:
            failing[f"{name}:{check.name}"] = column.isNotNull() & ~check_expression(column, check)
    return failing


def evaluate(
    frame: DataFrame, schema: pa.DataFrameSchema, rules: Sequence[RowRule] = ()
) -> SchemaReport:
    """Check ``frame`` against ``schema`` and the row ``rules``: types from the plan, every
    rule in one pass."""
    written = frame.schema
    actual = {f.name: f.dataType for f in written.fields}
    report = evaluate_empty(written, schema)  # the columns and types; rows follow
    failing = rule_failures(schema, set(actual))
    for rule in rules:
        if set(rule.columns) <= set(actual):
            failing[rule.name] = ~F.coalesce(rule.holds(), F.lit(False))
    keys = list(schema.unique or [])
    unique = bool(keys) and set(keys) <= set(actual)
    # One job: every rule's failing rows, and the rows beyond the first of each key.
    counts = frame.agg(
        F.count(F.lit(1)).alias("__rows"),
        *[F.count(F.when(expr, 1)).alias(f"__rule{i}") for i, expr in enumerate(failing.values())],
        *(_key_counts(keys) if unique else []),
    ).first()
    report.rows = int(counts["__rows"])
    for i, rule in enumerate(failing):
        if counts[f"__rule{i}"]:
            report.failures[rule] = int(counts[f"__rule{i}"])
    if unique and counts["__keyed"] > counts["__keys"]:
        report.failures[f"{'+'.join(keys)}:unique"] = int(counts["__keyed"] - counts["__keys"])
    if report.failures:
        report.samples = _samples(frame, [failing[r] for r in report.failures if r in failing])
    return report


def evaluate_empty(written: T.StructType, schema: pa.DataFrameSchema) -> SchemaReport:
    """Check a write of no rows against ``schema``: its columns and types are judged from the
    written schema alone (no Spark job); no row can break a rule or repeat a key."""
    actual = {f.name: f.dataType for f in written.fields}
    return SchemaReport(
        rows=0,
        missing_columns=[c for c in schema.columns if c not in actual],
        wrong_types={
            c: f"{actual[c].simpleString()} (expected {s.dtype.type.simpleString()})"
            for c, s in schema.columns.items()
            if c in actual and actual[c] != s.dtype.type
        },
    )


def _key_counts(keys: list[str]) -> list[Column]:
    """Rows with a whole key, and distinct keys among them: the difference repeats a key."""
    whole = reduce(operator.and_, [F.col(k).isNotNull() for k in keys])
    return [
        F.count(F.when(whole, 1)).alias("__keyed"),
        F.count_distinct(*[F.col(k) for k in keys]).alias("__keys"),
    ]


def _samples(frame: DataFrame, conditions: list[Column]) -> list[dict]:
    if not conditions:
        return []
    any_failing = conditions[0]
    for condition in conditions[1:]:
        any_failing = any_failing | condition
    rows = frame.where(any_failing).limit(SAMPLE_ROWS).collect()
    return [{k: _plain(v) for k, v in row.asDict().items()} for row in rows]


def _plain(value):
    return value if isinstance(value, (int, bool, type(None))) else str(value)
