"""Analytics: named SQL analyses over gold and the dashboard asset.

- ``finance-assets sql``: named, versioned SQL files (``analytics/sql/*.sql``) run by DuckDB
  over the lake's Delta tables, opened with delta-rs (see ``engine.py`` for why).
- ``analytics/dashboard``: a self-contained HTML dashboard written to
  ``<lake>/dashboard/index.html`` on every materialization.

Spark is never needed here, and heavy imports happen only when something runs.
"""

from __future__ import annotations

from finance_assets.partitions import Partitioning
from finance_assets.settings import Settings


def __getattr__(name: str):
    if name == "DASHBOARD_KEY":
        from finance_assets.analytics.assets import DASHBOARD_KEY

        return DASHBOARD_KEY
    raise AttributeError(name)


def build_analytics(partitions: Partitioning, settings: Settings) -> list:
    """Assets built from gold (the dashboard)."""
    from finance_assets.analytics.assets import build_dashboard

    return [build_dashboard()]


def register_commands(commands) -> None:
    """Add analytics subcommands (``sql``) to the CLI's subparsers."""
    from finance_assets.analytics.command import add_parser

    add_parser(commands)
