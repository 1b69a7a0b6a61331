"""Silver validation rules: every bronze row is either typed into silver or quarantined.

Each dataset's fields and their rules come from ``finance_assets.contract``; here each rule
kind becomes a Spark SQL expression giving the typed value, or null when the rule fails. A row's
``_reason`` is the first rule it fails, in the contract's order, so each rejected row has
exactly one reason. All rules are evaluated together in one pass over the data.
"""

from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from finance_assets.contract import (
    DATE_OUTSIDE_PARTITION,
    DUPLICATE,
    LINEAGE_COLUMNS,
    MALFORMED_ROW,
    MAX_AMOUNT,
    MISSING_COLUMN,
    MONEY,
    PARTITION_COLUMN,
    Dataset,
    Field,
)
from finance_assets.lake.frames import select_columns, select_expressions

REASON = "_reason"

# \z, not $: in Java regex $ also matches before a final line terminator.
_ID = r"^[0-9]{1,18}\z"
_AMOUNT = r"^-?[0-9]+(\.[0-9]{1,2})?\z"
_DATE = r"^([0-9]{4}-[0-9]{2}-[0-9]{2}|[0-9]{4}/[0-9]{2}/[0-9]{2})\z"
_MONTH = r"^[0-9]{4}-[0-9]{2}(-01)?\z"
# Unicode whitespace, as Python's str.strip() sees it (Java's \s alone is ASCII only).
_SPACE = r"[\s\p{Z}\x1c-\x1f\x85]"
_EDGE_SPACE = rf"(?U)^{_SPACE}+|{_SPACE}+\z"


def _name(column: str) -> str:
    return "`" + column.replace("`", "``") + "`"


def _text(value: str) -> str:
    """A Spark SQL string literal of ``value`` (backslashes kept for the regex engine)."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def trimmed(name: str) -> str:
    """The field with leading and trailing whitespace removed."""
    return f"regexp_replace({_name(name)}, {_text(_EDGE_SPACE)}, '')"


def positive_id(name: str) -> str:
    text = trimmed(name)
    value = f"try_cast({text} AS BIGINT)"
    return f"CASE WHEN {text} RLIKE {_text(_ID)} AND {value} > 0 THEN {value} END"


def prefixed_id(name: str, prefix: str, max_digits: int | None = None) -> str:
    digits = "+" if max_digits is None else f"{{1,{max_digits}}}"
    text = f"upper({trimmed(name)})"
    pattern = _text(rf"^{prefix}[0-9]{digits}\z")
    return f"CASE WHEN {text} RLIKE {pattern} THEN {text} END"


def _real_date(iso: str) -> str:
    """The calendar date ``iso`` (yyyy-MM-dd) spells, else null. Year 0000 is not one,
    although Spark's proleptic calendar would parse it as 1 BC."""
    value = f"try_to_date({iso}, 'yyyy-MM-dd')"
    return f"CASE WHEN year({value}) >= 1 THEN {value} END"


def calendar_date(name: str) -> str:
    text = trimmed(name)
    iso = f"regexp_replace({text}, '/', '-')"
    return f"CASE WHEN {text} RLIKE {_text(_DATE)} THEN {_real_date(iso)} END"


def first_of_month(name: str) -> str:
    text = trimmed(name)
    iso = f"CASE WHEN length({text}) = 7 THEN concat({text}, '-01') ELSE {text} END"
    return f"CASE WHEN {text} RLIKE {_text(_MONTH)} THEN {_real_date(iso)} END"


def amount(name: str) -> str:
    """Exact decimal of the text, or null unless it is in (0, 10,000,000.00]."""
    text = trimmed(name)
    value = f"(CASE WHEN {text} RLIKE {_text(_AMOUNT)} THEN try_cast({text} AS DECIMAL(38,2)) END)"
    limit = f"CAST({_text(MAX_AMOUNT)} AS DECIMAL(38,2))"
    return f"CASE WHEN {value} > 0 AND {value} <= {limit} THEN CAST({value} AS {MONEY}) END"


def non_empty(name: str) -> str:
    text = trimmed(name)
    return f"CASE WHEN length({text}) > 0 THEN {text} END"


def canonical(name: str, allowed: tuple[str, ...]) -> str:
    """The allowed spelling of a case-insensitive enumeration value, or null."""
    pairs = ", ".join(f"{_text(v.upper())}, {_text(v)}" for v in allowed)
    return f"map({pairs})[upper({trimmed(name)})]"


def typed_value(field: Field) -> str:
    """The field's typed value as Spark SQL, null when it breaks its rule."""
    name = field.column
    if field.kind == "positive_id":
        return positive_id(name)
    if field.kind == "prefixed_id":
        return prefixed_id(name, field.prefix, field.max_digits)
    if field.kind == "date":
        return calendar_date(name)
    if field.kind == "month":
        return first_of_month(name)
    if field.kind == "amount":
        return amount(name)
    if field.kind == "text":
        return non_empty(name)
    return canonical(name, field.allowed)


def _typed_column(field: Field) -> str:
    return f"__typed_{field.column}"


def _reason(dataset: Dataset) -> str:
    """The first rule a row fails, in the contract's order (null when it passes them all)."""
    missing = " OR ".join(f"{_name(c)} IS NULL" for c in dataset.columns)
    cases = [
        f"WHEN _corrupt_record IS NOT NULL THEN {_text(MALFORMED_ROW)}",
        f"WHEN {missing} THEN {_text(MISSING_COLUMN)}",
    ]
    for field in dataset.fields:
        value = _name(_typed_column(field))
        cases.append(f"WHEN {value} IS NULL THEN {_text(field.reason)}")
        if field.column == dataset.date_column:
            outside = f"{value} != {_name(PARTITION_COLUMN)}"
            cases.append(f"WHEN {outside} THEN {_text(DATE_OUTSIDE_PARTITION)}")
    return "CASE " + " ".join(cases) + " END"


def classify(bronze: DataFrame, dataset: Dataset) -> DataFrame:
    """Bronze rows with their typed values and ``_reason`` (null for rows that pass).

    The rules are Spark SQL text, so the whole classification crosses to the JVM in a handful
    of calls (built as Column objects it took about 1,300 py4j round trips a dataset)."""
    typed = select_expressions(
        bronze,
        ["*", *[f"{typed_value(f)} AS {_name(_typed_column(f))}" for f in dataset.fields]],
    )
    return _mark_duplicates(typed.withColumn(REASON, F.expr(_reason(dataset))), dataset)


def _mark_duplicates(classified: DataFrame, dataset: Dataset) -> DataFrame:
    passing = f"{REASON} IS NULL"
    keys = ", ".join(_name(_typed_column(dataset.field(column))) for column in dataset.key)
    # Rows that already failed a rule take no part: they must not shadow a later valid row.
    first_wins = (
        f"PARTITION BY {_name(PARTITION_COLUMN)}, ({passing}), {keys} "
        "ORDER BY _source_file, _source_row"
    )
    rank = f"CASE WHEN {passing} THEN row_number() OVER ({first_wins}) END"
    marked = f"CASE WHEN {passing} AND {rank} > 1 THEN {_text(DUPLICATE)} ELSE {REASON} END"
    return classified.withColumn(REASON, F.expr(marked))


def silver_rows(classified: DataFrame, dataset: Dataset) -> DataFrame:
    """Rows that passed every rule, with typed columns and lineage."""
    return select_expressions(
        classified.where(F.col(REASON).isNull()),
        [
            *[f"{_name(_typed_column(f))} AS {_name(f.column)}" for f in dataset.fields],
            *[_name(c) for c in LINEAGE_COLUMNS],
        ],
    )


def quarantine_rows(classified: DataFrame, dataset: Dataset) -> DataFrame:
    """Rejected rows with their raw strings, reason and lineage."""
    columns = [*dataset.columns, REASON, "_corrupt_record", "_rescued_data", *LINEAGE_COLUMNS]
    return select_columns(classified.where(F.col(REASON).isNotNull()), columns)
