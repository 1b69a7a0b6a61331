"""Peak memory of a process tree (a Python driver, its JVM, Spark's Python workers) from /proc.

Linux only, standard library only. ``TreeMonitor`` samples every process descended from a
root pid a few times a second and keeps, per process, the kernel's own high-water mark of
resident memory (``VmHWM``, exact even between samples), and the largest sum over the whole
tree at one moment (sampled) of proportional set sizes (PSS: shared pages counted once).
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field

MB = 1024 * 1024


def _children_map() -> dict[int, list[int]]:
    children: dict[int, list[int]] = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue
        # pid (comm) state ppid ...: comm may hold spaces and parentheses.
        rest = stat[stat.rfind(b")") + 2 :].split()
        children.setdefault(int(rest[1]), []).append(int(name))
    return children


def descendants(root: int) -> list[int]:
    """``root`` and every process below it."""
    children = _children_map()
    found, stack = [], [root]
    while stack:
        pid = stack.pop()
        found.append(pid)
        stack.extend(children.get(pid, ()))
    return found


def memory(pid: int) -> tuple[int, int] | None:
    """(resident bytes now, resident high-water mark) of a live process."""
    try:
        with open(f"/proc/{pid}/status") as f:
            lines = f.read().splitlines()
    except OSError:
        return None
    values = {}
    for line in lines:
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            values[key] = int(rest.split()[0]) * 1024
    if "VmRSS" not in values:  # a zombie
        return None
    return values["VmRSS"], values.get("VmHWM", values["VmRSS"])


def proportional(pid: int) -> int | None:
    """Proportional set size: resident memory with shared pages divided among their users.

    Spark's Python workers are forked from one daemon and share most of their pages, so
    summing their resident sizes would count those pages many times; summing PSS does not.
    """
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def kind(pid: int, root: int) -> str:
    """driver (the root), jvm, or python-worker / other for the rest."""
    if pid == root:
        return "driver"
    try:
        with open(f"/proc/{pid}/comm") as f:
            comm = f.read().strip()
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            cmdline = f.read().replace(b"\0", b" ")
    except OSError:
        return "other"
    program = cmdline.split(b" ", 1)[0].rsplit(b"/", 1)[-1]
    if comm == "java" or program == b"java":
        return "jvm"
    if comm.startswith("python") or program.startswith(b"python"):
        return "python-worker"
    return "other"


def command(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace").strip()[:120]
    except OSError:
        return ""


@dataclass
class TreeSnapshot:
    """Peak memory of a process tree, in bytes."""

    peak_by_pid: dict[int, int] = field(default_factory=dict)
    kind_by_pid: dict[int, str] = field(default_factory=dict)
    command_by_pid: dict[int, str] = field(default_factory=dict)
    tree_peak: int = 0
    samples: int = 0
    load: list[float] = field(default_factory=list)

    def observe(self, root: int) -> None:
        total = 0
        for pid in descendants(root):
            mem = memory(pid)
            if mem is None:
                continue
            rss, hwm = mem
            pss = proportional(pid)
            total += rss if pss is None else pss
            # Re-read every time: a forked child is "python" until it execs java, and its
            # peak until then was the parent's copy, which exec discards.
            now = kind(pid, root)
            if self.kind_by_pid.get(pid, now) != now:
                self.peak_by_pid[pid] = 0
            self.kind_by_pid[pid] = now
            self.command_by_pid[pid] = command(pid)
            self.peak_by_pid[pid] = max(self.peak_by_pid.get(pid, 0), hwm)
        self.tree_peak = max(self.tree_peak, total)
        if self.samples % 25 == 0:  # every few seconds: how busy the machine was meanwhile
            self.load.append(os.getloadavg()[0])
        self.samples += 1

    def merge_peaks(self, peaks: dict[int, int], kinds: dict[int, str]) -> None:
        for pid, peak in peaks.items():
            self.peak_by_pid[pid] = max(self.peak_by_pid.get(pid, 0), peak)
            if pid in kinds or pid not in self.kind_by_pid:
                self.kind_by_pid[pid] = kinds.get(pid, "other")

    def summary(self) -> dict[str, float]:
        """Peaks in MB: the driver, the JVM, the largest Python worker, and the tree."""
        by_kind: dict[str, list[int]] = {}
        for pid, peak in self.peak_by_pid.items():
            by_kind.setdefault(self.kind_by_pid.get(pid, "other"), []).append(peak)
        workers = by_kind.get("python-worker", [])
        return {
            "driver_peak_mb": round(max(by_kind.get("driver", [0])) / MB, 1),
            # The largest JVM: Spark's launcher JVM exits before the driver JVM grows.
            "jvm_peak_mb": round(max(by_kind.get("jvm", [0])) / MB, 1),
            "python_worker_peak_mb": round(max(workers, default=0) / MB, 1),
            "python_workers": len(workers),
            "tree_peak_mb": round(self.tree_peak / MB, 1),
            "samples": self.samples,
            "load_1min_mean": round(sum(self.load) / len(self.load), 2) if self.load else None,
            "load_1min_max": round(max(self.load), 2) if self.load else None,
            "largest_processes": [
                {
                    "pid": pid,
                    "kind": self.kind_by_pid.get(pid, "other"),
                    "peak_mb": round(peak / MB, 1),
                    "command": self.command_by_pid.get(pid, ""),
                }
                for pid, peak in sorted(self.peak_by_pid.items(), key=lambda x: -x[1])[:6]
            ],
        }


class TreeMonitor(threading.Thread):
    """Samples the tree under ``root`` every ``interval`` seconds until stopped."""

    def __init__(self, root: int, interval: float = 0.2):
        super().__init__(daemon=True, name=f"tree-monitor-{root}")
        self.root = root
        self.interval = interval
        self.snapshot = TreeSnapshot()
        self._stop_event = threading.Event()

    def run(self) -> None:
        while not self._stop_event.is_set():
            self.snapshot.observe(self.root)
            self._stop_event.wait(self.interval)

    def stop(self) -> TreeSnapshot:
        self._stop_event.set()
        self.join(timeout=5)
        return self.snapshot


def own_tree_peaks() -> tuple[dict[int, int], dict[int, str]]:
    """This process's tree high-water marks, read from inside (call it before exiting).

    ``VmHWM`` only: ``getrusage``'s ``ru_maxrss`` survives ``execve`` and would report the
    parent's size at ``fork`` (the benchmark's own process) as the child's peak.
    """
    root = os.getpid()
    peaks: dict[int, int] = {}
    kinds: dict[int, str] = {}
    for pid in descendants(root):
        mem = memory(pid)
        if mem is not None:
            peaks[pid] = mem[1]
            kinds[pid] = kind(pid, root)
    return peaks, kinds
