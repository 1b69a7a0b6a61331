"""The Dagster instance CLI runs are recorded in, shared with ``make dev``'s UI.

``DAGSTER_HOME`` when set, else ``.dagster_home`` in the current folder (the checkout's, which
git ignores). A new instance folder gets a ``dagster.yaml`` that turns telemetry off and lets
one run at a time write a given table (concurrency pools).
"""

from __future__ import annotations

from pathlib import Path

import dagster as dg

DAGSTER_YAML = """\
# The Dagster instance of this deployment: `make demo`, `finance-assets materialize` and
# `make dev` (the UI) record their runs here.
telemetry:
  enabled: false
concurrency:
  runs:
    max_concurrent_runs: 4
  pools:
    # Every step that writes a lake table holds that table's pool (lake/<layer>/<table>):
    # two runs never write the same table at the same time.
    default_limit: 1
"""


def ensure_home(home: Path) -> Path:
    """Create the instance folder and its ``dagster.yaml`` if they are missing."""
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    if not config.exists():
        config.write_text(DAGSTER_YAML)
    return home


def open_instance(home: Path) -> dg.DagsterInstance:
    return dg.DagsterInstance.from_config(str(ensure_home(home)))
