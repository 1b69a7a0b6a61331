"""Evaluate a Pandera schema on a Spark DataFrame in one pass.

Pandera's Spark backend runs one Spark job per check, which dominates run time on large
partitions. This evaluator reads the same schema objects (dtype, nullable, built-in
checks, unique), plus any :class:`RowRule` relating columns to each other, and counts every
rule's failing rows, and the repeated keys, in a single aggregation; a second, small query
fetches sample rows only when something failed. Null values are ignored by value checks, as
in Pandera. A write that brings its rows back to the driver (a day's) needs no pass of its
own: :func:`with_rule_flags` adds each rule's verdict to the rows as they are computed, and
:func:`evaluate_collected` reads the same report off them.
"""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal

import pandera.pyspark as pa
import pyarrow
import pyarrow.compute as pc
from pyspark.sql import DataFrame
from pyspark.sql import types as T

from finance_assets.lake.frames import in_one_partition, select_expressions

SAMPLE_ROWS = 5
FLAG_PREFIX = "__breaks_rule_"
"""Columns :func:`with_rule_flags` adds: one per rule, true on the rows that break it."""


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
    ``holds`` is the Spark SQL expression true where a row keeps the rule; null breaks it."""

    name: str
    columns: tuple[str, ...]
    holds: str


def sql_name(column: str) -> str:
    """A column name quoted for Spark SQL."""
    return "`" + column.replace("`", "``") + "`"


def sql_literal(value: object) -> str:
    """``value`` as a Spark SQL literal of the type the DataFrame API gives it (a float stays a
    double, a date a date), so a rule in SQL compares as ``F.lit(value)`` would."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return f"CAST('{value!r}' AS DOUBLE)"
    if isinstance(value, Decimal):
        return f"{value}BD"
    if isinstance(value, datetime.datetime):
        return f"TIMESTAMP'{value.isoformat(sep=' ')}'"
    if isinstance(value, datetime.date):
        return f"DATE'{value.isoformat()}'"
    if isinstance(value, str):
        return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
    raise ValueError(f"no Spark SQL literal for {value!r}")


def check_expression(column: str, check: pa.Check) -> str:
    """The Spark SQL expression that is true where ``check`` holds on ``column``."""
    s, c = check.statistics, sql_name(column)
    builders = {
        "greater_than": lambda: f"{c} > {sql_literal(s['min_value'])}",
        "greater_than_or_equal_to": lambda: f"{c} >= {sql_literal(s['min_value'])}",
        "less_than": lambda: f"{c} < {sql_literal(s['max_value'])}",
        "less_than_or_equal_to": lambda: f"{c} <= {sql_literal(s['max_value'])}",
        "equal_to": lambda: f"{c} = {sql_literal(s['value'])}",
        "not_equal_to": lambda: f"{c} != {sql_literal(s['value'])}",
        "isin": lambda: f"{c} IN ({_listed(s['allowed_values'])})",
        "notin": lambda: f"NOT {c} IN ({_listed(s['forbidden_values'])})",
        "str_matches": lambda: f"{c} RLIKE {sql_literal(_pattern(s['pattern']))}",
        "str_length": lambda: _length_between(c, s),
        "in_range": lambda: _in_range(c, s),
    }
    if check.name not in builders:
        raise ValueError(f"Check {check.name!r} has no Spark translation")
    return builders[check.name]()


def _listed(values) -> str:
    return ", ".join(sql_literal(v) for v in values)


def _pattern(pattern) -> str:
    return pattern if isinstance(pattern, str) else pattern.pattern


def _length_between(c: str, s: dict) -> str:
    if s.get("exact_value") is not None:
        return f"length({c}) = {sql_literal(s['exact_value'])}"
    bounds = [
        f"length({c}) {op} {sql_literal(s[bound])}"
        for bound, op in (("min_value", ">="), ("max_value", "<="))
        if s.get(bound) is not None
    ]
    return " AND ".join(bounds) or "true"


def _in_range(c: str, s: dict) -> str:
    low = ">=" if s.get("include_min", True) else ">"
    high = "<=" if s.get("include_max", True) else "<"
    return f"{c} {low} {sql_literal(s['min_value'])} AND {c} {high} {sql_literal(s['max_value'])}"


def rule_failures(schema: pa.DataFrameSchema, present: set[str]) -> dict[str, str]:
    """Rule name -> Spark SQL expression true on rows that break the rule."""
    failing: dict[str, str] = {}
    for name, column_schema in schema.columns.items():
        if name not in present:
            continue
        column = sql_name(name)
        if not column_schema.nullable:
            failing[f"{name}:not_null"] = f"{column} IS NULL"
        for check in column_schema.checks:
            failing[f"{name}:{check.name}"] = (
                f"{column} IS NOT NULL AND NOT ({check_expression(name, check)})"
            )
    return failing


def failing_rules(
    schema: pa.DataFrameSchema, present: set[str], rules: Sequence[RowRule] = ()
) -> dict[str, str]:
    """Rule name -> Spark SQL expression true on rows that break it: the schema's rules on the
    ``present`` columns, then the row ``rules`` whose columns are all present."""
    failing = rule_failures(schema, present)
    for rule in rules:
        if set(rule.columns) <= present:
            failing[rule.name] = f"NOT coalesce(({rule.holds}), false)"
    return failing


def evaluate(
    frame: DataFrame, schema: pa.DataFrameSchema, rules: Sequence[RowRule] = ()
) -> SchemaReport:
    """Check ``frame`` against ``schema`` and the row ``rules``: types from the plan, every
    rule in one pass. The rules are Spark SQL text, so the whole aggregation crosses to the
    JVM in a handful of calls however many rules there are."""
    written = frame.schema
    actual = {f.name: f.dataType for f in written.fields}
    report = evaluate_empty(written, schema)  # the columns and types; rows follow
    failing = failing_rules(schema, set(actual), rules)
    keys = list(schema.unique or [])
    unique = bool(keys) and set(keys) <= set(actual)
    # One job: every rule's failing rows, and the rows beyond the first of each key.
    counts = (
        in_one_partition(frame)
        .selectExpr(
            "count(1) AS __rows",
            *[
                f"count(CASE WHEN {expr} THEN 1 END) AS __rule{i}"
                for i, expr in enumerate(failing.values())
            ],
            *(_key_counts(keys) if unique else []),
        )
        .first()
    )
    report.rows = int(counts["__rows"])
    for i, rule in enumerate(failing):
        if counts[f"__rule{i}"]:
            report.failures[rule] = int(counts[f"__rule{i}"])
    if unique and counts["__keyed"] > counts["__keys"]:
        report.failures[f"{'+'.join(keys)}:unique"] = int(counts["__keyed"] - counts["__keys"])
    if report.failures:
        report.samples = _samples(frame, [failing[r] for r in report.failures if r in failing])
    return report


def with_rule_flags(
    frame: DataFrame, schema: pa.DataFrameSchema, rules: Sequence[RowRule] = ()
) -> tuple[DataFrame, tuple[str, ...]]:
    """``frame`` with a boolean column per rule (see :func:`failing_rules`), true on the rows
    that break it, and those columns' names. A write that collects its rows (a day's) brings
    the rules' verdicts back with them in the same Spark job, and :func:`evaluate_collected`
    judges them there: no second job over the rows just written."""
    failing = failing_rules(schema, set(frame.columns), rules)
    flags = tuple(f"{FLAG_PREFIX}{i}" for i in range(len(failing)))
    verdicts = [
        f"coalesce(({expr}), false) AS {flag}"
        for flag, expr in zip(flags, failing.values(), strict=True)
    ]
    return (select_expressions(frame, ["*", *verdicts]) if verdicts else frame), flags


def evaluate_collected(
    rows: pyarrow.Table,
    written: T.StructType,
    schema: pa.DataFrameSchema,
    rules: Sequence[RowRule] = (),
) -> SchemaReport:
    """The report :func:`evaluate` gives for the rows written (``written`` their schema), from
    those rows collected with :func:`with_rule_flags`'s columns: the rules were judged by
    Spark as they were computed; counts, repeated keys and samples are read here."""
    actual = {f.name for f in written.fields}
    report = evaluate_empty(written, schema)
    report.rows = rows.num_rows
    failing = failing_rules(schema, actual, rules)
    broken = {}
    for i, rule in enumerate(failing):
        flag = rows.column(f"{FLAG_PREFIX}{i}")
        count = pc.sum(pc.cast(flag, pyarrow.int64())).as_py() or 0
        if count:
            report.failures[rule], broken[rule] = count, flag
    keys = list(schema.unique or [])
    if keys and set(keys) <= actual:
        keyed = rows.select(keys).drop_null()
        repeated = keyed.num_rows - keyed.group_by(keys).aggregate([]).num_rows
        if repeated:
            report.failures[f"{'+'.join(keys)}:unique"] = repeated
    if broken:
        any_broken = broken.popitem()[1]
        for flag in broken.values():
            any_broken = pc.or_(any_broken, flag)
        shown = rows.filter(any_broken).slice(0, SAMPLE_ROWS).select([f.name for f in written])
        report.samples = [
            {k: _plain(_naive(v)) for k, v in row.items()} for row in shown.to_pylist()
        ]
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


def _key_counts(keys: list[str]) -> list[str]:
    """Rows with a whole key, and distinct keys among them: the difference repeats a key."""
    names = [sql_name(k) for k in keys]
    whole = " AND ".join(f"{n} IS NOT NULL" for n in names)
    return [
        f"count(CASE WHEN {whole} THEN 1 END) AS __keyed",
        f"count(DISTINCT {', '.join(names)}) AS __keys",
    ]


def _samples(frame: DataFrame, conditions: list[str]) -> list[dict]:
    if not conditions:
        return []
    any_failing = " OR ".join(f"({condition})" for condition in conditions)
    rows = frame.where(any_failing).limit(SAMPLE_ROWS).collect()
    return [{k: _plain(v) for k, v in row.asDict().items()} for row in rows]


def _naive(value):
    """A timestamp as Spark hands it to Python (UTC, without a zone), from Arrow's."""
    if isinstance(value, datetime.datetime) and value.tzinfo is not None:
        return value.astimezone(datetime.timezone.utc).replace(tzinfo=None)
    return value


def _plain(value):
    return value if isinstance(value, (int, bool, type(None))) else str(value)
