"""Automation: what starts runs and what watches them.

- ``landing_sensor.py``: new or changed landing files re-materialize exactly their partitions;
- ``schedules.py``: yesterday's partitions every night;
- ``conditions.py``: Dagster automation conditions that bring monthly gold and the dashboard up
  to date once the days they read were updated;
- ``freshness.py``: the gold freshness checks and their schedule;
- ``alerts.py``: failed runs, failed checks and stale tables, once per incident, to log,
  webhook and email sinks;
- ``jobs.py``: the daily and monthly jobs;
- ``slots.py``: free pool slots handed to the steps queued for them (a missed hand-over).
"""
