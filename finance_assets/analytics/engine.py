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

Tables are exposed as ``gold.<table>`` (also plain ``<table>``), ``silver.<dataset>`` (and
``silver.payment_orders``), ``quarantine.<dataset>`` and ``control.closed_months``.

Time travel: a :class:`TimeTravel` opens every table as it was at an instant (``--as-of``), or
one table at a version and every other table as it was when that version was committed
(``--version``), through delta-rs, so a report is reproduced exactly as it was published, as
long as lake maintenance has not deleted that version's files (:class:`VacuumedVersionError`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from dagster_deltalake import DeltaTableResource, LocalConfig
from deltalake import DeltaTable

from finance_assets.contract import DATASETS
from finance_assets.gold.tables import gold_tables
from finance_assets.lake.arrow import dataset as delta_dataset
from finance_assets.lake.delta_logs import delta_log
from finance_assets.settings import Settings

SILVER_TABLES = (*DATASETS, "payment_orders")
QUARANTINE_TABLES = tuple(DATASETS)
AUDIT_TABLES = (("gold", "restatements"), ("control", "closed_months"))
FOLDERS = {"control": "_control"}
"""Schemas whose lake folder has another name (control tables live under ``_control``)."""

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
    def __init__(self, layer: str, table: str, location: str, when: str | None = None):
        self.layer, self.table, self.location = layer, table, location
        if when:
            message = f"table {layer}.{table} did not exist yet {when} (its first version is later)"
        else:
            message = (
                f"table {layer}.{table} does not exist at {location}: materialize it first "
                f"(finance-assets materialize --lake ... --start ... --end ...) or point --lake "
                f"(FINANCE_LAKE_URI) at a lake that has it"
            )
        super().__init__(message)


class VacuumedVersionError(AnalyticsError):
    """Time travel to a version whose data files lake maintenance has deleted."""

    def __init__(self, layer: str, table: str, version: int, missing: FileNotFoundError):
        name = Path(str(missing.filename or missing)).name
        super().__init__(
            f"{layer}.{table} version {version} can no longer be read: its data files were "
            f"deleted by lake maintenance (e.g. {name}); time travel reaches back only "
            "FINANCE_VACUUM_RETENTION_HOURS (finance-assets maintain): read a later version "
            "or time"
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
    folder = FOLDERS.get(layer, layer)
    if "://" in lake and not lake.startswith("file://"):
        return f"{lake.rstrip('/')}/{folder}/{table}"
    root = lake[len("file://") :] if lake.startswith("file://") else lake
    return str(Path(root, folder, table).resolve())


def known_tables() -> list[tuple[str, str]]:
    return (
        [("gold", t.name) for t in gold_tables()]
        + [("silver", t) for t in SILVER_TABLES]
        + [("quarantine", t) for t in QUARANTINE_TABLES]
        + list(AUDIT_TABLES)
    )


def parse_instant(text: str) -> datetime:
    """An ISO 8601 date or date and time (``2024-05-01``, ``2024-05-01T17:30``,
    ``2024-05-01 17:30:00+02:00``, ``...Z``); without an offset it is local time."""
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise AnalyticsError(
            f"--as-of {text!r} is not a date or time (e.g. 2024-05-01T17:30:00 or "
            "2024-05-01T15:30:00Z)"
        ) from None
    return moment.astimezone(timezone.utc)


def _qualified(name: str) -> tuple[str, str]:
    """``gold.daily_kpi``, ``silver.orders`` or plain ``daily_kpi`` (gold) as (layer, table)."""
    layer, _, table = name.strip().rpartition(".")
    found = (layer or "gold", table)
    if found not in known_tables():
        names = ", ".join(f"{lay}.{t}" for lay, t in known_tables())
        raise AnalyticsError(f"unknown table {name.strip()!r}; the lake has: {names}")
    return found


@dataclass(frozen=True)
class TimeTravel:
    """Which state of the lake to read: every table as of ``as_of``, or ``table`` at
    ``version`` (and every other table as of that version's commit)."""

    as_of: datetime | None = None
    version: int | None = None
    table: tuple[str, str] | None = None

    @classmethod
    def parse(
        cls, as_of: str | None, version: str | None, default_table: tuple[str, str] | None = None
    ) -> TimeTravel | None:
        """From ``--as-of TIMESTAMP`` or ``--version [TABLE=]N`` (``N`` alone: the version of
        ``default_table``); None for the latest state."""
        if as_of and version:
            raise AnalyticsError("give --as-of or --version, not both")
        if as_of:
            return cls(as_of=parse_instant(as_of))
        if not version:
            return None
        name, sep, number = version.rpartition("=")
        if not number.strip().isdigit():
            raise AnalyticsError(f"--version {version!r} is not N or TABLE=N (N a version number)")
        table = _qualified(name) if sep else default_table
        if table is None:
            raise AnalyticsError(
                "--version N needs the table it is a version of: give --version TABLE=N "
                "(e.g. --version daily_kpi=3)"
            )
        return cls(version=int(number), table=table)

    def describe(self) -> str:
        if self.version is not None and self.table is not None:
            return f"at {'.'.join(self.table)} version {self.version}"
        if self.as_of is not None:
            return f"as of {self.as_of.isoformat(timespec='milliseconds')}"
        return "latest"


@dataclass(frozen=True)
class Snapshot:
    """The version of a table a query read, and when it was committed."""

    layer: str
    table: str
    version: int
    committed_at: datetime

    def describe(self) -> str:
        return (
            f"{self.layer}/{self.table} v{self.version} ({self.committed_at:%Y-%m-%d %H:%M:%S} UTC)"
        )


def _from_millis(millis: int) -> datetime:
    return datetime.fromtimestamp(millis / 1000, timezone.utc)


def _version_at(delta: DeltaTable, moment: datetime) -> int | None:
    """The table's latest version committed at or before ``moment`` (None: none was).
    (delta-rs loads the first version for an instant before it, which would be wrong.)"""
    committed = [h["version"] for h in delta.history() if _from_millis(h["timestamp"]) <= moment]
    return max(committed) if committed else None


def _commit_times(delta: DeltaTable) -> dict[int, datetime]:
    """When each version was committed. Read from a table loaded at its latest version:
    once an older version is loaded, delta-rs numbers ``history()`` from that version."""
    return {h["version"]: _from_millis(h["timestamp"]) for h in delta.history()}


@dataclass
class QueryResult:
    columns: list[str]
    types: list[str]
    rows: list[tuple]

    def records(self) -> list[dict]:
        return [dict(zip(self.columns, row, strict=True)) for row in self.rows]


class LakeQuery:
    """One DuckDB connection with the lake's Delta tables registered as views (as they are
    now, or as ``travel`` says).

    ``reuse_results``: a query asked again with the same parameters returns the first
    answer. The views are one fixed snapshot, so only queries whose answer depends on nothing
    else (no ``random()``, no ``now()``) may be asked of such a connection: the dashboard's
    drill-down pages ask the same questions for several figures (a month's revenue is read
    for its revenue, its profit and the next month's growth), and keep in ``memo`` what they
    derived from that snapshot for each other."""

    def __init__(
        self,
        lake: str | None = None,
        travel: TimeTravel | None = None,
        reuse_results: bool = False,
    ):
        import duckdb

        self.lake = lake or default_lake()
        self.travel = travel
        self.connection = duckdb.connect(":memory:")
        for statement in MACROS:
            self.connection.execute(statement)
        for schema in ("gold", "silver", "quarantine", "control"):
            self.connection.execute(f"CREATE SCHEMA {schema}")
        self._registered: set[tuple[str, str]] = set()
        self.snapshots: dict[tuple[str, str], Snapshot] = {}
        self.touched: set[tuple[str, str]] = set()
        """Tables registered or asked for since the caller last cleared it."""
        self._moment: datetime | None = travel.as_of if travel else None
        self._answers: dict[tuple[str, str], QueryResult] | None = {} if reuse_results else None
        self.memo: dict[str, object] | None = {} if reuse_results else None
        self._files: dict[tuple[str, str], list[str]] = {}

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
            self.touched.add((layer, table))
            return True
        from deltalake import DeltaTable

        location = table_location(self.lake, layer, table)
        if not DeltaTable.is_deltatable(location):
            if required:
                raise MissingTableError(layer, table, location)
            return False
        delta = self._open(layer, table, location, required)
        if delta is None:
            return False
        try:
            dataset = delta_dataset(delta)
        except FileNotFoundError as exc:
            raise VacuumedVersionError(layer, table, delta.version(), exc) from None
        self._files[(layer, table)] = list(dataset.files)
        arrow_name = f"__delta_{layer}_{table}"
        self.connection.register(arrow_name, dataset)
        self.connection.execute(f"CREATE VIEW {layer}.{table} AS SELECT * FROM {arrow_name}")
        if layer == "gold":
            self.connection.execute(f"CREATE VIEW main.{table} AS SELECT * FROM {arrow_name}")
        self._registered.add((layer, table))
        self.touched.add((layer, table))
        return True

    def files(self, layer: str, table: str) -> list[str]:
        """The data files a registered table is read from (its snapshot's, deletion vectors
        aside: this product writes none). Delta never rewrites a file in place, so the same
        files hold the same rows."""
        return self._files[(layer, table)]

    def _open(self, layer: str, table: str, location: str, required: bool) -> DeltaTable | None:
        """The table at the state ``travel`` asks for (None: it did not exist then)."""
        travel = self.travel
        if travel is None and "://" not in location:
            # Its latest version, from the log this process already keeps up to date (the
            # dashboard step follows the steps that wrote the tables).
            delta = delta_log(location)
        else:
            delta = open_table(location)
        committed = _commit_times(delta)
        if travel is not None and travel.version is not None and travel.table == (layer, table):
            latest = delta.version()
            if not 0 <= travel.version <= latest:
                raise AnalyticsError(
                    f"{layer}.{table} has no version {travel.version} (versions 0 to {latest})"
                )
            delta.load_as_version(travel.version)
        elif travel is not None:
            version = _version_at(delta, self.moment())
            if version is None:
                if not required:
                    return None
                raise MissingTableError(layer, table, location, travel.describe())
            delta.load_as_version(version)
        version = delta.version()
        self.snapshots[(layer, table)] = Snapshot(layer, table, version, committed[version])
        return delta

    def moment(self) -> datetime:
        """The instant every table is read as of: ``as_of``, or the commit time of the
        version asked for."""
        if self._moment is None:
            assert self.travel is not None and self.travel.table is not None
            layer, table = self.travel.table
            location = table_location(self.lake, layer, table)
            if not DeltaTable.is_deltatable(location):
                raise MissingTableError(layer, table, location)
            delta = open_table(location)
            versions = {h["version"]: h["timestamp"] for h in delta.history()}
            if self.travel.version not in versions:
                raise AnalyticsError(
                    f"{layer}.{table} has no version {self.travel.version} "
                    f"(versions {min(versions)} to {max(versions)})"
                )
            self._moment = _from_millis(versions[self.travel.version])
        return self._moment

    def register_all(self) -> list[str]:
        """Register every table that exists; returns their qualified names."""
        return [f"{layer}.{t}" for layer, t in known_tables() if self.register(layer, t, False)]

    def run(self, sql: str, params: dict | None = None) -> QueryResult:
        if self._answers is None:
            return self._run(sql, params)
        key = (sql, repr(sorted((params or {}).items())))
        if key not in self._answers:
            self._answers[key] = self._run(sql, params)
        answer = self._answers[key]
        return QueryResult(answer.columns, answer.types, list(answer.rows))

    def _run(self, sql: str, params: dict | None) -> QueryResult:
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
                    location = table_location(self.lake, layer, table)
                    when = self.travel.describe() if self.travel else None
                    exists_now = DeltaTable.is_deltatable(location)
                    return MissingTableError(layer, table, location, when if exists_now else None)
            tables = ", ".join(f"{layer}.{t}" for layer, t in known_tables())
            return AnalyticsError(f"unknown table {match.group(1)}; the lake has: {tables}")
        return AnalyticsError(f"query failed: {exc}")
