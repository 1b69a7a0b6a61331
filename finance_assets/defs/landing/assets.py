"""The landing zone's drop folders as external assets: where the asset graph begins."""

from __future__ import annotations

import dagster as dg

from finance_assets.contract import DATASETS, Dataset
from finance_assets.lake import tables
from finance_assets.lake.partitions import Partitioning, current_partitioning


def landing_spec(dataset: Dataset, partitions: Partitioning) -> dg.AssetSpec:
    folder = "YYYY-MM-01" if dataset.is_monthly else "YYYY-MM-DD"
    return dg.AssetSpec(
        tables.landing(dataset).key,
        group_name="landing",
        description=f"Raw {dataset.name} CSV drops in <landing>/{dataset.name}/{folder}/*.csv.",
        partitions_def=partitions.of(dataset.cadence),
        kinds={"csv"},
    )


@dg.definitions
def defs() -> dg.Definitions:
    partitions = current_partitioning()
    return dg.Definitions(assets=[landing_spec(d, partitions) for d in DATASETS.values()])
