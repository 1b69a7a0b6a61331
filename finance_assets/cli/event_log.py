"""The embedded instance's storage: Dagster's SQLite storage, writing a batch of asset events
at once.

A run over a range of partitions records, before its first step, a "planned" event for each
asset and partition (for a year of the daily job, about 5,000), and each of its steps one
materialization per partition. Dagster hands such events to the event log in batches when
``DAGSTER_EVENT_BATCH_SIZE`` is set, but its SQLite event log stores a batch one event at a
time, opening two database files and committing twice per event (about 10 ms): a year's
backfill spent a minute recording its plan before its first step. The event log here writes a
batch's asset events in one transaction per database file; the rows it writes, and their
order, are those Dagster's own would write. Every other event is stored by Dagster's code.

The files are Dagster's SQLite files, unchanged: the UI and the daemon, which open the same
instance with Dagster's default storage, read and write them as before.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from itertools import groupby

from dagster._core.events import ASSET_EVENTS
from dagster._core.events.log import EventLogEntry
from dagster._core.storage.event_log import SqlEventLogStorageTable, SqliteEventLogStorage
from dagster._core.storage.sqlite_storage import DagsterSqliteStorage, _event_logs_directory

BATCH_SIZE_VARIABLE = "DAGSTER_EVENT_BATCH_SIZE"
"""Dagster buffers events sent as a batch only while this is above 0."""
BATCH_SIZE = 10_000


def enable_event_batches() -> None:
    """Let this process's runs hand their batches of events to the storage whole (unless the
    environment chose a batch size)."""
    os.environ.setdefault(BATCH_SIZE_VARIABLE, str(BATCH_SIZE))


def storage_override(home: str) -> dict:
    """Instance config storing the instance in ``home`` with :class:`BatchingSqliteStorage`."""
    return {
        "storage": {
            "custom": {
                "module": __name__,
                "class": BatchingSqliteStorage.__name__,
                "config": {"base_dir": home},
            }
        }
    }


class BatchingSqliteEventLogStorage(SqliteEventLogStorage):
    """Dagster's SQLite event log; a batch's asset events go in one transaction per file."""

    def store_event_batch(self, events: Sequence[EventLogEntry]) -> None:
        pending: list[EventLogEntry] = []
        for event in events:
            if _indexed_asset_event(event):
                pending.append(event)
                continue
            self._store_asset_events(pending)
            pending = []
            self.store_event(event)
        self._store_asset_events(pending)

    def _store_asset_events(self, events: list[EventLogEntry]) -> None:
        """What :meth:`store_event` does for each asset event, for all of them at once: the
        event in its run's file, then mirrored in the index file with its asset's record."""
        if not events:
            return
        for run_id, of_run in groupby(events, key=lambda event: event.run_id):
            rows = [self._event_to_row(event) for event in of_run]
            with self.run_connection(run_id) as conn:
                conn.execute(SqlEventLogStorageTable.insert(), rows)
        with self.index_transaction() as conn:
            ids = [
                conn.execute(self.prepare_insert_event(event)).inserted_primary_key[0]
                for event in events
            ]
            self._store_asset_event_tags(conn, events, ids)
            for event, event_id in zip(events, ids, strict=True):
                self._store_asset_event(conn, event, event_id)


class BatchingSqliteStorage(DagsterSqliteStorage):
    """Dagster's default SQLite storage with :class:`BatchingSqliteEventLogStorage`."""

    def __init__(self, base_dir: str, inst_data=None):
        super().__init__(base_dir, inst_data)
        self._event_log_storage = BatchingSqliteEventLogStorage(_event_logs_directory(base_dir))

    @classmethod
    def from_config_value(cls, inst_data, config_value) -> BatchingSqliteStorage:
        return cls.from_local(inst_data=inst_data, **config_value)


def _indexed_asset_event(event: EventLogEntry) -> bool:
    return bool(
        event.is_dagster_event
        and event.dagster_event_type in ASSET_EVENTS
        and event.get_dagster_event().asset_key
    )
