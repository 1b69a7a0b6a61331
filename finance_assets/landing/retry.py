"""Retry with exponential backoff for transient errors (landing-zone listing, alert delivery).

This module imports nothing from the package, so any layer can use it without import cycles.
"""

from __future__ import annotations

import errno
import logging
import random
import socket
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

log = logging.getLogger(__name__)

# OS errors that say "try again", as opposed to "this is wrong" (missing file, permissions).
TRANSIENT_ERRNOS = frozenset(
    code
    for code in (
        getattr(errno, name, None)
        for name in (
            "EAGAIN",
            "EBUSY",
            "EINTR",
            "EIO",
            "ESTALE",
            "ETIMEDOUT",
            "ECONNRESET",
            "ECONNREFUSED",
            "ECONNABORTED",
            "ENETUNREACH",
            "ENETDOWN",
            "EHOSTUNREACH",
            "EHOSTDOWN",
            "EPIPE",
            "ENOLCK",
            "ENOBUFS",
            "EREMOTEIO",
        )
    )
    if code is not None
)


def is_transient(exc: BaseException) -> bool:
    """True for errors worth retrying: timeouts, dropped connections, busy or stale mounts.

    Missing files, permission errors and programming errors are not transient: retrying
    them only delays the real error message.
    """
    if isinstance(exc, (TimeoutError, socket.timeout, ConnectionError)):
        return True
    if isinstance(exc, (FileNotFoundError, NotADirectoryError, PermissionError)):
        return False
    if isinstance(exc, OSError):
        return exc.errno in TRANSIENT_ERRNOS or exc.errno is None
    name = type(exc).__name__
    # botocore's connection errors, without importing botocore.
    return name in {
        "EndpointConnectionError",
        "ConnectTimeoutError",
        "ReadTimeoutError",
        "ConnectionClosedError",
    }


def backoff_delays(
    attempts: int, base_delay: float, max_delay: float, jitter: float = 0.1
) -> list[float]:
    """The waits between ``attempts`` tries: base, 2*base, 4*base, ... capped, +-jitter."""
    delays = []
    for i in range(max(attempts - 1, 0)):
        delay = min(base_delay * (2**i), max_delay)
        delays.append(max(0.0, delay * (1 + random.uniform(-jitter, jitter))))
    return delays


def with_retries(
    fn: Callable[[], T],
    *,
    attempts: int = 4,
    base_delay: float = 1.0,
    max_delay: float = 30.0,
    retry_if: Callable[[BaseException], bool] = is_transient,
    what: str = "operation",
    sleep: Callable[[float], None] | None = None,
    logger: logging.Logger | None = None,
) -> T:
    """Call ``fn``; on a transient error wait (exponential backoff) and try again.

    Raises the last error after ``attempts`` tries, or at once for an error ``retry_if``
    rejects. ``what`` names the operation in log lines (never put secrets in it).
    """
    logger = logger or log
    sleep = sleep or time.sleep
    delays = backoff_delays(attempts, base_delay, max_delay)
    for attempt in range(1, attempts + 1):
        try:
            return fn()
        except Exception as exc:
            if attempt >= attempts or not retry_if(exc):
                raise
            delay = delays[attempt - 1]
            logger.warning(
                "%s failed (attempt %d of %d): %s: %s; retrying in %.1f s",
                what,
                attempt,
                attempts,
                type(exc).__name__,
                exc,
                delay,
            )
            sleep(delay)
    raise AssertionError("unreachable")  # pragma: no cover
