"""The Delta logs this process has read, shared by every lake in it.

Each step of a run gets a lake of its own, and opening a table reads its checkpoint and every
commit after it: a year's tables cost each step tens of milliseconds per table before it read
a row. A log opened once is brought up to date instead (only newer commits are read), and an
older version, which never changes, is opened once. A table removed and written anew (its
versions are other commits now) is noticed by its commit file no longer being the one read.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from pathlib import Path

MAX_OPEN_LOGS = 256
"""Logs kept open: a run reads a few dozen tables."""


@dataclass
class _OpenLog:
    table: object  # deltalake.DeltaTable
    commit: tuple | None  # the identity of the commit file of the version it holds


_lock = threading.Lock()
_open: dict[tuple[str, int | None], _OpenLog] = {}


def _commit_identity(uri: str, version: int) -> tuple | None:
    try:
        found = os.stat(Path(uri, "_delta_log", f"{version:020d}.json"))
    except FileNotFoundError:
        return None
    return found.st_ino, found.st_mtime_ns, found.st_size


def delta_log(uri: str, version: int | None = None):
    """The Delta log (a ``deltalake.DeltaTable``) of the table at ``uri``, at ``version``
    (default: the latest, as committed by anyone until now)."""
    from deltalake import DeltaTable

    key = (uri, version)
    with _lock:
        known = _open.get(key)
        if known is not None and _commit_identity(uri, known.table.version()) != known.commit:
            for stale in [k for k in _open if k[0] == uri]:
                del _open[stale]
            known = None
        if known is None:
            if len(_open) >= MAX_OPEN_LOGS:
                _open.clear()
            table = DeltaTable(uri, version=version)
            known = _open[key] = _OpenLog(table, _commit_identity(uri, table.version()))
        elif version is None:
            known.table.update_incremental()
            known.commit = _commit_identity(uri, known.table.version())
        return known.table
