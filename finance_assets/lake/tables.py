"""Where every table lives in the lake, and the Dagster asset key that makes it.

The lake path is the contract's (``bronze/orders``, ``gold/daily_kpi``); the asset key keeps
the layer as its first part and ends in a name that stays distinct where the UI shows only
the last part of a key (``bronze/orders_raw`` next to ``silver/orders``).
"""

from __future__ import annotations

from dataclasses import dataclass

import dagster as dg

from finance_assets.contract import DATASETS, Dataset


@dataclass(frozen=True)
class Table:
    """One table of the lake (or, for ``landing``, one dataset's drop folders)."""

    layer: str
    name: str
    asset_name: str

    @property
    def path(self) -> str:
        """The table's folder under the lake root."""
        return f"{self.layer}/{self.name}"

    @property
    def key(self) -> dg.AssetKey:
        return dg.AssetKey([self.layer, self.asset_name])

    @property
    def pool(self) -> str:
        """The Dagster concurrency pool of the step that writes the table: with the instance's
        default pool limit of 1, two runs never write the same table at the same time (nor
        maintain it while it is written). Quarantined rows are written by the step of their
        silver table, so a quarantine table shares that table's pool."""
        layer = "silver" if self.layer == "quarantine" else self.layer
        return f"lake:{layer}/{self.name}"


def landing(dataset: Dataset) -> Table:
    return Table("landing", dataset.name, f"{dataset.name}_csv")


def bronze(dataset: Dataset) -> Table:
    return Table("bronze", dataset.name, f"{dataset.name}_raw")


def silver(dataset: Dataset) -> Table:
    return Table("silver", dataset.name, dataset.name)


def quarantine(dataset: Dataset) -> Table:
    return Table("quarantine", dataset.name, f"{dataset.name}_rejected")


def gold(name: str) -> Table:
    return Table("gold", name, name)


PAYMENT_ORDERS = Table("silver", "payment_orders", "payment_orders")
"""Every valid payment with the date of the order it pays (see ``silver/matching.py``)."""

DASHBOARD = Table("analytics", "dashboard", "dashboard")
"""The offline HTML dashboard (``<lake>/dashboard/index.html``)."""

RESTATEMENTS = Table("gold", "restatements", "restatements")
"""Gold values that changed after they had been published (see ``gold/audit.py``)."""

CLOSED_MONTHS = Table("_control", "closed_months", "closed_months")
"""Months closed (and reopened) by finance: ``finance-assets close`` (see ``lake/closing.py``)."""


def by_path(path: str) -> Table:
    """The table at a lake path (``silver/orders``, ``silver/payment_orders``,
    ``gold/daily_kpi``...), as named in column lineage; ValueError for an unknown one."""
    layer, _, name = path.partition("/")
    if path == PAYMENT_ORDERS.path:
        return PAYMENT_ORDERS
    if path == RESTATEMENTS.path:
        return RESTATEMENTS
    makers = {"bronze": bronze, "silver": silver, "quarantine": quarantine, "landing": landing}
    if layer in makers and name in DATASETS:
        return makers[layer](DATASETS[name])
    if layer == "gold" and name:
        return gold(name)
    raise ValueError(f"{path!r} is not a table of the lake")
