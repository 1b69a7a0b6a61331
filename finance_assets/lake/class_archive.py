"""A class-data-sharing archive of the JVM classes local Spark loads: a new process starts its
Spark session and runs its first jobs sooner.

A fresh ``finance-assets materialize`` spends seconds loading and verifying the same few
thousand Spark classes before its steps do anything: starting the session, then the first job
that calls Python, the first Parquet write, the first shuffle. Java 13 and newer can archive
the classes one run loaded (``-XX:ArchiveClassesAtExit``) and map them into later JVMs
(``-XX:SharedArchiveFile``). ``python -m finance_assets.lake.class_archive`` (run by
``make demo`` and ``make test``) builds the archive once, from a small local Spark workload in
a child process; local sessions use it when it is there.

The archive changes how fast the JVM starts, never what Spark computes: a missing, stale or
foreign archive is skipped by the JVM (sharing is best effort), and its messages are turned
off so they never reach stdout. It lives in the virtualenv (``<sys.prefix>/var/finance-assets``),
next to the pyspark jars it was made from, and its name carries the pyspark version and the
Java installation: an upgrade of either builds a new one. ``FINANCE_SPARK_CLASS_ARCHIVE``
names another file, or ``off``.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from finance_assets.lake.java import java_executable
from finance_assets.settings import Settings

OFF = "off"
QUIET = "-Xlog:cds=off -Xlog:cds+dynamic=off"
"""The JVM reports on the archive through unified logging, on stdout by default."""
BUILD_TIMEOUT_S = 600
WORKLOAD = "finance_assets.lake.class_archive_workload"
"""The module run in a child process to build the archive."""


def archive_path(settings: Settings | None = None) -> Path | None:
    """Where the archive is (or would be) kept; None when switched off or without Java."""
    chosen = (settings or Settings.load()).spark_class_archive
    if chosen and chosen.strip().lower() == OFF:
        return None
    if chosen:
        return Path(chosen).expanduser()
    java = java_executable()
    if java is None:
        return None
    return Path(sys.prefix, "var", "finance-assets", f"spark-classes-{_fingerprint(java)}.jsa")


def _fingerprint(java: str) -> str:
    """pyspark's version and the Java installation (its real path and when it changed)."""
    import pyspark

    real = Path(java).resolve()
    stat = real.stat()
    text = f"{pyspark.__version__}|{real}|{stat.st_size}|{stat.st_mtime_ns}"
    return f"{pyspark.__version__}-{hashlib.sha256(text.encode()).hexdigest()[:12]}"


def java_options(settings: Settings | None = None) -> str | None:
    """The driver's Java options that use the archive; None when there is none to use."""
    path = archive_path(settings)
    if path is None or not path.is_file():
        return None
    return f"-XX:SharedArchiveFile={path} {QUIET}"


def build(settings: Settings | None = None) -> str:
    """Build the archive unless it is there; returns what happened, in one line. Never
    raises for a failed build: the archive only saves time."""
    path = archive_path(settings)
    if path is None:
        return "spark class archive: off"
    if path.is_file():
        return f"spark class archive: {path}"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        return f"spark class archive: not built ({path.parent} is not writable: {exc})"
    handle, partial = tempfile.mkstemp(prefix=".spark-classes-", suffix=".jsa", dir=path.parent)
    os.close(handle)
    os.unlink(partial)  # the JVM writes it at exit
    started = time.perf_counter()
    try:
        done = subprocess.run(
            [sys.executable, "-m", WORKLOAD, partial],
            capture_output=True,
            text=True,
            timeout=BUILD_TIMEOUT_S,
        )
        if done.returncode != 0 or not Path(partial).is_file():
            tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no archive"]
            return f"spark class archive: not built ({tail[0]})"
        os.replace(partial, path)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"spark class archive: not built ({exc})"
    finally:
        Path(partial).unlink(missing_ok=True)
    return f"spark class archive: built in {time.perf_counter() - started:.0f} s: {path}"


if __name__ == "__main__":
    print(build())
