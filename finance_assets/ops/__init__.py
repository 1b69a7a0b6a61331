"""Operations: schedules, landing sensor, freshness and alerting."""

from __future__ import annotations

from dataclasses import dataclass, field

from finance_assets.partitions import Partitioning
from finance_assets.settings import Settings


@dataclass
class Operations:
    """What operations add to the code location."""

    sensors: list = field(default_factory=list)
    schedules: list = field(default_factory=list)
    asset_checks: list = field(default_factory=list)
    jobs: list = field(default_factory=list)


def build_operations(partitions: Partitioning, settings: Settings) -> Operations:
    return Operations()
