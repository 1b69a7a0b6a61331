"""The progress printer on its own: a long step is never silent, a step waiting for another
run's table says which table, and a finished step's line has its place, asset, rows, range
and seconds. (The lines of real runs are tested in ``test_runs.py``.)"""

from __future__ import annotations

import threading
from types import SimpleNamespace

from finance_assets.cli.progress import Progress, duration


class Lines:
    """An output that records lines and wakes the test when one starts with ``wanted``."""

    def __init__(self, wanted: str):
        self.text = ""
        self.wanted = wanted
        self.seen = threading.Event()

    def write(self, text: str) -> None:
        self.text += text
        if any(line.strip().startswith(self.wanted) for line in self.text.splitlines()):
            self.seen.set()

    def flush(self) -> None:
        pass


def event(kind: str, step: str, **fields):
    return SimpleNamespace(event_type_value=kind, step_key=step, **fields)


def test_a_long_step_gets_a_still_running_line():
    out = Lines("... still running:")
    progress = Progress(out, heartbeat_seconds=0.2)
    progress.start_run("daily_assets", 3, "2024-01-01..2024-01-31", 31)
    progress.on_event(event("STEP_START", "bronze__orders_raw"))
    try:
        assert out.seen.wait(timeout=30), out.text
    finally:
        progress.end_run("daily_assets", True, 1.0)
    assert "daily_assets 2024-01-01..2024-01-31 (31 partitions): 3 steps" in out.text
    assert "still running: bronze__orders_raw (" in out.text and "0/3 done" in out.text


def test_a_step_blocked_by_a_pool_names_the_table():
    out = Lines("waiting:")
    progress = Progress(out)
    message = "Step blocked by limit for pool lake:gold/daily_kpi"
    progress.on_event(event("ENGINE_EVENT", "gold__daily_kpi", message=message))
    assert out.seen.is_set()
    assert "waiting: gold__daily_kpi (another run is writing lake:gold/daily_kpi)" in out.text


def test_durations_read_well():
    assert duration(3.21) == "3.2 s"
    assert duration(65) == "1m 05s"
    assert duration(3600) == "60m 00s"
