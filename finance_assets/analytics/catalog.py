"""Named, versioned SQL analyses: ``finance_assets/analytics/sql/<name>.sql``.

Each file starts with a header of ``--`` comment lines::

    -- name: overspending
    -- version: 1
    -- description: Department-months whose actual spend exceeded the budget.
    -- reads: gold.budget_vs_actual
    -- param: threshold_pct decimal = 0 -- only rows with variance_pct at least this

``param`` lines declare ``name type [= default]`` (types: integer, decimal, date, text;
no default or ``= null`` means optional and null). The query refers to a parameter as
``$name``; values are bound by DuckDB, never pasted into the SQL text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation
from functools import cache
from importlib import resources

from finance_assets.analytics.engine import (
    AnalyticsError,
    LakeQuery,
    QueryResult,
    TimeTravel,
    default_lake,
    require_lake,
)

SQL_PACKAGE = "finance_assets.analytics"
SQL_FOLDER = "sql"
PARAM_TYPES = ("integer", "decimal", "date", "text")
HEADER_KEYS = ("name", "version", "description", "reads", "param")

_HEADER = re.compile(r"^--\s*(\w+)\s*:\s*(.*?)\s*$")
_PARAM = re.compile(
    r"^(?P<name>[a-z_][a-z0-9_]*)\s+(?P<type>\w+)(?:\s*=\s*(?P<default>\S+))?"
    r"(?:\s+--\s*(?P<help>.*))?$"
)


@dataclass(frozen=True)
class Param:
    name: str
    type: str
    default: str | None
    help: str = ""

    def convert(self, text: str | None):
        """The typed value for ``text`` (None stays None)."""
        if text is None or text.lower() == "null":
            return None
        try:
            if self.type == "integer":
                return int(text)
            if self.type == "decimal":
                value = Decimal(text)
                if not value.is_finite():
                    raise InvalidOperation
                return value
            if self.type == "date":
                return date.fromisoformat(text)
        except (ValueError, InvalidOperation) as exc:
            raise AnalyticsError(
                f"parameter {self.name}={text!r} is not a valid {self.type}"
                + (" (YYYY-MM-DD)" if self.type == "date" else "")
            ) from exc
        return text

    def describe(self) -> str:
        default = "null" if self.default is None else self.default
        return f"{self.name} ({self.type}, default {default})" + (
            f": {self.help}" if self.help else ""
        )


@dataclass(frozen=True)
class Analysis:
    name: str
    version: int
    description: str
    reads: tuple[str, ...]
    params: tuple[Param, ...]
    sql: str = field(repr=False)

    def bind(self, given: dict[str, str] | None = None) -> dict[str, object]:
        """Typed values for every declared parameter, from ``given`` strings or defaults."""
        given = dict(given or {})
        known = {p.name for p in self.params}
        unknown = sorted(set(given) - known)
        if unknown:
            accepted = ", ".join(sorted(known)) or "none"
            raise AnalyticsError(
                f"analysis {self.name} has no parameter {', '.join(unknown)} "
                f"(parameters: {accepted})"
            )
        values = {p.name: p.convert(given.get(p.name, p.default)) for p in self.params}
        limit = values.get("limit")
        if limit is not None and limit <= 0:
            raise AnalyticsError("parameter limit must be a positive integer")
        return values

    def run(self, query: LakeQuery, params: dict[str, str] | None = None) -> QueryResult:
        values = self.bind(params)
        for qualified in self.reads:
            layer, table = qualified.split(".", 1)
            query.register(layer, table)
        return query.run(self.sql, values)


def parse(text: str, source: str = "<sql>") -> Analysis:
    """An analysis from its SQL text (header comment, then the query)."""
    meta: dict[str, str] = {}
    params: list[Param] = []
    for line in text.splitlines():
        if not line.strip():
            continue
        if not line.startswith("--"):
            break
        match = _HEADER.match(line)
        if not match or match.group(1).lower() not in HEADER_KEYS:
            continue
        key, value = match.group(1).lower(), match.group(2)
        if key == "param":
            params.append(_param(value, source))
        else:
            meta[key] = value
    missing = [k for k in ("name", "version", "description", "reads") if k not in meta]
    if missing:
        raise ValueError(f"{source}: header lacks {', '.join(missing)}")
    reads = tuple(r.strip() for r in meta["reads"].split(",") if r.strip())
    for qualified in reads:
        if qualified.count(".") != 1:
            raise ValueError(f"{source}: reads entry {qualified!r} is not layer.table")
    return Analysis(
        name=meta["name"],
        version=int(meta["version"]),
        description=meta["description"],
        reads=reads,
        params=tuple(params),
        sql=text,
    )


def _param(value: str, source: str) -> Param:
    match = _PARAM.match(value)
    if not match or match.group("type").lower() not in PARAM_TYPES:
        raise ValueError(f"{source}: bad param line {value!r} (name type [= default] [-- help])")
    default = match.group("default")
    return Param(
        name=match.group("name"),
        type=match.group("type").lower(),
        default=None if default in (None, "null") else default,
        help=(match.group("help") or "").strip(),
    )


@cache
def analyses() -> dict[str, Analysis]:
    """Every packaged analysis by name, loaded with ``importlib.resources``."""
    folder = resources.files(SQL_PACKAGE).joinpath(SQL_FOLDER)
    found: dict[str, Analysis] = {}
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if not entry.name.endswith(".sql"):
            continue
        analysis = parse(entry.read_text(encoding="utf-8"), entry.name)
        if analysis.name != entry.name[: -len(".sql")]:
            raise ValueError(f"{entry.name}: header name {analysis.name!r} differs from file")
        found[analysis.name] = analysis
    return found


def get(name: str) -> Analysis:
    catalog = analyses()
    if name not in catalog:
        raise AnalyticsError(
            f"unknown analysis {name!r}; available: {', '.join(sorted(catalog))} "
            "(see finance-assets sql --list)"
        )
    return catalog[name]


def run_analysis(
    name: str,
    lake: str | None = None,
    params: dict[str, str] | None = None,
    travel: TimeTravel | None = None,
) -> QueryResult:
    """Run one named analysis against ``lake`` (default: FINANCE_LAKE_URI, then data/lake),
    as it is now or as ``travel`` says."""
    analysis = get(name)
    with LakeQuery(require_lake(lake or default_lake()), travel) as query:
        return analysis.run(query, params)


def run_query(sql: str, lake: str | None = None, travel: TimeTravel | None = None) -> QueryResult:
    """Run free SQL with every existing table of the lake registered."""
    with LakeQuery(require_lake(lake or default_lake()), travel) as query:
        query.register_all()
        return query.run(sql)
