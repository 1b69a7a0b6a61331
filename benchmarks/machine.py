"""What the benchmark ran on: cores, memory, CPU model, Java and library versions, load."""

from __future__ import annotations

import os
import platform
import re
import subprocess
from importlib import metadata


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _memory_gib() -> float | None:
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    return round(int(line.split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    return None


def _java() -> str:
    try:
        from finance_assets.lake.java import java_executable

        java = java_executable()
        if not java:
            return "not found"
        out = subprocess.run([java, "-version"], capture_output=True, text=True, timeout=30)
        first = (out.stderr or out.stdout).splitlines()[0]
        match = re.search(r'"([^"]+)"', first)
        return f"{first.split()[0]} {match.group(1)}" if match else first
    except Exception as exc:  # the description must never fail the benchmark
        return f"unknown ({exc.__class__.__name__})"


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def load_average() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def describe() -> dict:
    return {
        "cpus": os.cpu_count(),
        "cpu_model": _cpu_model(),
        "memory_gib": _memory_gib(),
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "java": _java(),
        "versions": {
            p: _version(p) for p in ("pyspark", "duckdb", "dagster", "deltalake", "pyarrow")
        },
    }
