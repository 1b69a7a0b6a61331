"""Analytics: named SQL analyses over the lake, the offline dashboard and the gold summary.

- ``catalog.py``: named, versioned SQL files (``analytics/sql/*.sql``) run by DuckDB over the
  lake's Delta tables (``engine.py`` says why this engine);
- ``dashboard.py`` (with ``charts.py``): a self-contained HTML dashboard,
  ``<lake>/dashboard/index.html``;
- ``summary.py``: the short gold summary the demo prints.

Spark is never needed here.
"""
