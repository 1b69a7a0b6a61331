"""A table column as data: its Spark type, nullability and the values it may hold.

Table specs (gold tables, silver from the contract) declare their columns with these helpers;
``checks/schemas.py`` turns them into Pandera schemas, and the asset metadata shows them in the
UI. ``sources`` names the input columns a value is computed from (column lineage), as
``"<layer>/<table>.<column>"``.
"""

from __future__ import annotations

from dataclasses import dataclass

from finance_assets.contract import MAX_AMOUNT, MONEY


@dataclass(frozen=True)
class Column:
    """One column: type, nullability, value rules and where its values come from."""

    dtype: str
    nullable: bool = False
    ge: float | None = None
    gt: float | None = None
    le: float | None = None
    isin: tuple[str, ...] = ()
    pattern: str | None = None
    min_length: int | None = None
    sources: tuple[str, ...] = ()
    measure: bool = False
    """A figure (an amount, a count, a percentage), as opposed to an id, a date or a label."""

    def fed_by(self, *sources: str) -> Column:
        """The same column, computed from these input columns."""
        return Column(**{**self.__dict__, "sources": sources})


def money(*, ge: float | None = None, nullable: bool = False) -> Column:
    return Column(MONEY, nullable=nullable, ge=ge, measure=True)


def amount() -> Column:
    """A contract amount: > 0 and at most ``MAX_AMOUNT``."""
    return Column(MONEY, gt=0, le=float(MAX_AMOUNT), measure=True)


def percent(*, ge: float | None = None, le: float | None = None) -> Column:
    """A ``_pct`` column: rounded to 2 places, null where its denominator is 0 or missing."""
    return Column(MONEY, nullable=True, ge=ge, le=le, measure=True)


def count(*, ge: float = 0) -> Column:
    return Column("bigint", ge=ge, measure=True)


def day(*, nullable: bool = False) -> Column:
    return Column("date", nullable=nullable)


def integer(low: int, high: int | None = None) -> Column:
    return Column("int", ge=low, le=high)


def identifier() -> Column:
    return Column("bigint", gt=0)


def text(*, pattern: str | None = None, min_length: int | None = None) -> Column:
    return Column("string", pattern=pattern, min_length=min_length)


def one_of(values: tuple[str, ...]) -> Column:
    return Column("string", isin=values)


def flag() -> Column:
    return Column("boolean")
