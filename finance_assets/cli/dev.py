"""``finance-assets dev``: the Dagster UI, daemon and code server on this checkout's instance.

It runs ``dg dev`` (the project's code location, from ``[tool.dg]`` in pyproject.toml) with
``DAGSTER_HOME`` set to the instance the CLI records its runs in, so ``make demo`` then
``make dev`` shows the demo's runs, partitions and checks.

On Ctrl-C or SIGTERM it stops everything it started within a few seconds, run workers and
their Spark JVMs included: SIGTERM to every process of the tree, then SIGKILL to whatever is
left after :data:`GRACE_SECONDS`. ``dg dev`` alone takes up to a minute (it waits for its
services one after the other, and a run worker in the middle of a Spark job waits for it).
The tree is found two ways, so a process is found even when its parent died first: every
process started below carries :data:`TREE_VARIABLE` in its environment (read back from
``/proc/<pid>/environ``), and this process is the "child subreaper" of its descendants (an
orphan is re-parented to it, not to init).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

from finance_assets.cli.instance import ensure_home
from finance_assets.settings import Settings

GRACE_SECONDS = 5.0
TREE_VARIABLE = "FINANCE_ASSETS_DEV_TREE"
"""Set in the environment of ``dg dev``, inherited by every process it starts."""
_PR_SET_CHILD_SUBREAPER = 36
_POLL_SECONDS = 0.1


class _Stop(Exception):
    def __init__(self, signum: int):
        self.signum = signum


def _parents() -> dict[int, list[int]]:
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
    return children


def descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (from /proc), parents before their children."""
    children = _parents()
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def tagged(tag: str) -> list[int]:
    """Every process of this user whose environment holds ``TREE_VARIABLE=tag``."""
    marker = f"{TREE_VARIABLE}={tag}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            environ = (entry / "environ").read_bytes()
        except OSError:  # gone, or another user's
            continue
        if marker in environ.split(b"\0"):
            found.append(int(entry.name))
    return found


def alive(pid: int) -> bool:
    """The process exists and is not a zombie waiting to be reaped."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def become_subreaper() -> None:
    """Orphans below this process are re-parented to it, so they stay in its tree."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)


def _reap_zombies() -> None:
    """Collect exited children (re-parented orphans included) so they leave the table."""
    with contextlib.suppress(ChildProcessError):
        while os.waitpid(-1, os.WNOHANG)[0]:
            pass


class ProcessTree:
    """``dg dev`` and every process it starts, however deep or re-parented."""

    def __init__(self, tag: str):
        self.tag = tag
        self.process: subprocess.Popen | None = None

    def start(self, command: list[str], env: dict[str, str]) -> subprocess.Popen:
        # Its own session: a terminal's Ctrl-C reaches this process only, which then stops
        # the whole tree at once instead of letting dg dev wind its services down one by one.
        self.process = subprocess.Popen(
            command, env={**env, TREE_VARIABLE: self.tag}, start_new_session=True
        )
        return self.process

    def members(self) -> list[int]:
        pids = {*descendants(os.getpid()), *tagged(self.tag)}
        return sorted(pid for pid in pids if alive(pid))

    def stop(self, grace: float = GRACE_SECONDS) -> None:
        """SIGTERM every member; SIGKILL those still there after ``grace`` seconds."""
        self._signal(signal.SIGTERM)
        deadline = time.monotonic() + grace
        while self._wait_step() and time.monotonic() < deadline:
            time.sleep(_POLL_SECONDS)
        if self._signal(signal.SIGKILL):
            deadline = time.monotonic() + grace
            while self._wait_step() and time.monotonic() < deadline:
                time.sleep(_POLL_SECONDS)
        if self.process is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=grace)
        _reap_zombies()

    def _signal(self, sig: signal.Signals) -> list[int]:
        members = self.members()
        for pid in members:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, sig)
        return members

    def _wait_step(self) -> bool:
        """Reap what exited; True while a member is still running."""
        if self.process is not None:
            self.process.poll()
        _reap_zombies()
        return bool(self.members())


def dev_command(dg_args: list[str]) -> list[str]:
    """``dg dev`` of this virtualenv, with the options given (a leading ``--`` dropped)."""
    dg = Path(sys.executable).with_name("dg")
    extra = dg_args[1:] if dg_args[:1] == ["--"] else dg_args
    return [str(dg), "dev", *extra]


def webserver_options(host: str | None, port: int | None) -> list[str]:
    return [*(["--host", host] if host else []), *(["--port", str(port)] if port else [])]


def cmd_dev(args) -> int:
    settings = Settings.load()
    home = ensure_home(settings.instance_home)
    env = {**os.environ, "DAGSTER_HOME": str(home)}
    command = dev_command([*webserver_options(args.host, args.port), *args.dg_args])
    print(f"Starting the Dagster UI (dg dev) on instance {home}; Ctrl-C stops it.", flush=True)
    tree = ProcessTree(tag=f"{os.getpid()}-{uuid.uuid4().hex}")

    def interrupt(signum, _frame):
        raise _Stop(signum)

    handled = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
    previous = {sig: signal.signal(sig, interrupt) for sig in handled}
    become_subreaper()
    try:
        status = tree.start(command, env).wait()
    except _Stop as stop:
        status = 128 + stop.signum
    finally:
        for sig in handled:  # a second Ctrl-C must not interrupt the clean-up
            signal.signal(sig, signal.SIG_IGN)
        tree.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return status
