"""Analytics: named SQL analyses over gold and the dashboard asset."""

from __future__ import annotations

from finance_assets.partitions import Partitioning
from finance_assets.settings import Settings


def build_analytics(partitions: Partitioning, settings: Settings) -> list:
    """Assets built from gold (the dashboard)."""
    return []


def register_commands(commands) -> None:
    """Add analytics subcommands (``sql``) to the CLI's subparsers."""
