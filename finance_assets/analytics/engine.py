"""Query the lake with DuckDB: Delta tables are opened with delta-rs and scanned as Arrow.

Why this engine:
- DuckDB's own ``delta`` extension is downloaded on first use, which an offline machine (or
  a locked-down production host) cannot do. delta-rs (the ``deltalake`` package, already the
  product's Delta committer) reads the Delta log itself, so readers see exactly the files of
  the table's current version (replaced partitions are gone), and hands DuckDB a lazy Arrow
  dataset: DuckDB pushes column projections and filters into the Parquet scan.
- Spark SQL would need a JVM (seconds to start on a laptop) and the Delta jars, which this
  product does not use; the gold tables are small enough for one process.
- DuckDB's ``DECIMAL`` arithmetic is exact, so money stays ``DECIMAL(18,2)`` end to end.
  Its ``/`` on decimals returns ``DOUBLE``, so percentages use the ``pct_half_up`` macro
  defined here (integer hundredths, half-up, like the gold tables).

Tables are exposed as ``gold.<table>`` (also plain ``<table>``) and ``silver.<dataset>``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from dagster_deltalake import DeltaTableResource, LocalConfig
from deltalake import DeltaTable

from finance_assets.contract import DATASETS
from finance_assets.gold.tables import gold_tables
from finance_assets.lake.arrow import dataset as delta_dataset
from finance_assets.settings import Settings

SILVER_TABLES = tuple(DATASETS)

# 100 * numerator / denominator, rounded half-up (away from zero) to 2 places, exactly:
# round_half_up(10000 * |n| / |d|) == (20000 * |n| + |d|) // (2 * |d|) in integer hundredths.
# Null when the denominator is 0 or null (contract section 4).
MACROS = (
    """
    CREATE OR REPLACE MACRO hundredths(x) AS CAST(CAST(x AS DECIMAL(38, 2)) * 100 AS HUGEINT)
    """,
    """
    CREATE OR REPLACE MACRO pct_half_up(numerator, denominator) AS (
        CASE
            WHEN denominator IS NULL OR hundredths(denominator) = 0 OR numerator IS NULL
                THEN NULL
            ELSE CAST(
                CAST(
                    sign(hundredths(numerator)) * sign(hundredths(denominator))
                    * ((20000 * abs(hundredths(numerator)) + abs(hundredths(denominator)))
                       // (2 * abs(hundredths(denominator))))
                    AS DECIMAL(38, 0)
                ) * CAST(0.01 AS DECIMAL(3, 2))
                AS DECIMAL(18, 2)
            )
        END
    )
    """,
)


def open_table(location: str) -> DeltaTable:
    """A Delta table of the lake, opened through dagster-deltalake's resource (local storage)."""
    return DeltaTableResource(url=location, storage_options=LocalConfig()).load()


class AnalyticsError(Exception):
    """A problem the user can fix (unknown analysis, bad parameter, missing table...)."""


class MissingTableError(AnalyticsError):
    def __init__(self, layer: str, table: str, location: str):
        self.layer, self.table, self.location = layer, table, location
        super().__init__(
            f"table {layer}.{table} does not exist at {location}: materialize it first "
            f"(finance-assets materialize --lake ... --start ... --end ...) or point --lake "
            f"(FINANCE_LAKE_URI) at a lake that has it"
        )


def default_lake() -> str:
    """``FINANCE_LAKE_URI``, else ``data/lake``."""
    return Settings.load().lake_uri


def lake_exists(lake: str) -> bool:
    """Whether a local lake folder is there (a remote lake is taken on trust)."""
    if "://" in lake and not lake.startswith("file://"):
        return True
    return Path(lake.removeprefix("file://")).is_dir()


class LakeNotFoundError(AnalyticsError):
    def __init__(self, lake: str):
        super().__init__(
            f"lake {lake} does not exist (--lake or FINANCE_LAKE_URI); materialize into it "
            "first or point at an existing lake"
        )


def require_lake(lake: str) -> str:
    if not lake_exists(lake):
        raise LakeNotFoundError(lake)
    return lake


def table_location(lake: str, layer: str, table: str) -> str:
    if "://" in lake and not lake.startswith("file://"):
        return f"{lake.rstrip('/')}/{layer}/{table}"
    root = lake[len("file://") :] if lake.startswith("file://") else lake
    return str(Path(root, layer, table).resolve())


def known_tables() -> list[tuple[str, str]]:
    return [("gold", t.name) for t in gold_tables()] + [("silver", t) for t in SILVER_TABLES]


@dataclass
class QueryResult:
    columns: list[str]
    types: list[str]
    rows: list[tuple]

    def records(self) -> list[dict]:
        return [dict(zip(self.columns, row, strict=True)) for row in self.rows]


class LakeQuery:
    """One DuckDB connection with the lake's Delta tables registered as views."""

    def __init__(self, lake: str | None = None):
        import duckdb

        self.lake = lake or default_lake()
        self.connection = duckdb.connect(":memory:")
        for statement in MACROS:
            self.connection.execute(statement)
        self.connection.execute("CREATE SCHEMA gold")
        self.connection.execute("CREATE SCHEMA silver")
        self._registered: set[tuple[str, str]] = set()

    def close(self) -> None:
        self.connection.close()

    def __enter__(self) -> LakeQuery:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def exists(self, layer: str, table: str) -> bool:
        from deltalake import DeltaTable

        return DeltaTable.is_deltatable(table_location(self.lake, layer, table))

    def register(self, layer: str, table: str, required: bool = True) -> bool:
        """Expose ``layer.table`` (and plain ``table`` for gold). False if it does not exist."""
        if (layer, table) in self._registered:
            return True
        from deltalake import DeltaTable

        location = table_location(self.lake, layer, table)
        if not DeltaTable.is_deltatable(location):
            if required:
                raise MissingTableError(layer, table, location)
            return False
        dataset = delta_dataset(open_table(location))
        arrow_name = f"__delta_{layer}_{table}"
        self.connection.register(arrow_name, dataset)
        self.connection.execute(f"CREATE VIEW {layer}.{table} AS SELECT * FROM {arrow_name}")
        if layer == "gold":
            self.connection.execute(f"CREATE VIEW main.{table} AS SELECT * FROM {arrow_name}")
        self._registered.add((layer, table))
        return True

    def register_all(self) -> list[str]:
        """Register every table that exists; returns their qualified names."""
        return [f"{layer}.{t}" for layer, t in known_tables() if self.register(layer, t, False)]

    def run(self, sql: str, params: dict | None = None) -> QueryResult:
        import duckdb

        try:
            cursor = self.connection.execute(sql, params or None)
        except duckdb.CatalogException as exc:
            raise self._explain_missing(exc) from exc
        except duckdb.Error as exc:
            raise AnalyticsError(f"query failed: {exc}") from exc
        if cursor.description is None:
            return QueryResult([], [], [])
        columns = [d[0] for d in cursor.description]
        types = [str(d[1]) for d in cursor.description]
        return QueryResult(columns, types, cursor.fetchall())

    def _explain_missing(self, exc: Exception) -> AnalyticsError:
        match = re.search(r"Table with name (\S+) does not exist", str(exc))
        if match:
            name = match.group(1).strip('"').split(".")[-1]
            for layer, table in known_tables():
                if name == table and (layer, table) in self._registered:
                    return AnalyticsError(
                        f"{match.group(1)} is not a table here; use {layer}.{table}"
                    )
                if name == table:
                    return MissingTableError(layer, table, table_location(self.lake, layer, table))
            tables = ", ".join(f"{layer}.{t}" for layer, t in known_tables())
            return AnalyticsError(f"unknown table {match.group(1)}; the lake has: {tables}")
        return AnalyticsError(f"query failed: {exc}")
