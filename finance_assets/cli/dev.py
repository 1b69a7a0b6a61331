"""``finance-assets dev``: the Dagster UI, daemon and code server on this checkout's instance.

It runs ``dg dev`` with ``DAGSTER_HOME`` set to the same instance the CLI records its runs in,
so ``make demo`` then ``make dev`` shows the demo's runs, partitions and checks. On Ctrl-C or
SIGTERM it stops everything it started, run workers and their Spark JVMs included, within a
few seconds: a polite SIGTERM to the process tree, then SIGKILL to whatever is left.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from finance_assets.cli.instance import ensure_home
from finance_assets.settings import Settings

GRACE_SECONDS = 5.0


def descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (from /proc), children first."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(parent, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def _signal_all(pids: list[int], sig: signal.Signals) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, sig)


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def stop_tree(process: subprocess.Popen, grace: float = GRACE_SECONDS) -> None:
    """SIGTERM the process and everything below it; SIGKILL what is still there after
    ``grace`` seconds. Processes that started sessions of their own are found through /proc."""
    if process.poll() is not None and not descendants(process.pid):
        return
    tree = [process.pid, *descendants(process.pid)]
    _signal_all(tree, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        tree = [p for p in {*tree, *descendants(process.pid)} if _alive(p)]
        if not tree:
            break
        time.sleep(0.1)
    _signal_all([p for p in {*tree, *descendants(process.pid)} if _alive(p)], signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=grace)


def dev_command(extra: list[str]) -> list[str]:
    dg = Path(sys.executable).with_name("dg")
    return [str(dg), "dev", *extra]


def cmd_dev(args) -> int:
    settings = Settings.load()
    home = ensure_home(settings.instance_home)
    env = {**os.environ, "DAGSTER_HOME": str(home)}
    print(f"Dagster UI on this checkout's instance ({home}); Ctrl-C stops everything.")
    process = subprocess.Popen(dev_command(args.dg_args), env=env, start_new_session=True)

    def stop(signum, _frame):
        stop_tree(process)
        raise SystemExit(128 + signum)

    previous = {s: signal.signal(s, stop) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        return process.wait()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        stop_tree(process)
