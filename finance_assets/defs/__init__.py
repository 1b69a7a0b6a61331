"""The ``dg`` defs folder: one module per layer, each building its definitions for the current
settings (``landing``, ``bronze``, ``silver``, ``gold``, ``checks``, ``automation``,
``analytics``; resources are chosen in ``resources.py``)."""

import dagster as dg

# One process per run: every step shares the run's single Spark session.
defs = dg.Definitions(executor=dg.in_process_executor)
