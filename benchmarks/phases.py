"""What both baselines share: which drop files a range reads, and how a phase is reported."""

from __future__ import annotations

import time
from datetime import date

from finance_assets.landing.zone import LandingFile, list_files
from finance_assets_tests.support import oracle as C


def drop_files(landing: str, dataset: str, start: date, end: date) -> list[LandingFile]:
    """The range's drop files; for monthly datasets, only first-of-month folders."""
    if dataset in C.MONTHLY:
        found = list_files(landing, dataset, start.replace(day=1), end)
        return [f for f in found if f.partition_date.day == 1]
    return list_files(landing, dataset, start, end)


def phase(t0: float, rows_in: int, rows_out: int, **extra) -> dict:
    """One layer's figures: seconds since ``t0`` and the rows it read and wrote."""
    return {"seconds": time.perf_counter() - t0, "rows_in": rows_in, "rows_out": rows_out, **extra}


def silver_phase(t0: float, bronze_rows: int, silver_rows: int, quarantine_rows: int) -> dict:
    return phase(
        t0,
        bronze_rows,
        silver_rows + quarantine_rows,
        silver=silver_rows,
        quarantine=quarantine_rows,
    )
