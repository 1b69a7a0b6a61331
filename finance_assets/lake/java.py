"""Java is the one system prerequisite of local Spark; say so clearly when it is missing."""

from __future__ import annotations

import os
import re
import shutil
import subprocess

from finance_assets.settings import Settings

MIN_JAVA = 17


class JavaMissingError(RuntimeError):
    pass


def java_executable() -> str | None:
    """``$JAVA_HOME/bin/java`` when ``JAVA_HOME`` is set (``Settings.java_home``), else the
    ``java`` on ``PATH``."""
    home = Settings.load().java_home
    if home and os.access(os.path.join(home, "bin", "java"), os.X_OK):
        return os.path.join(home, "bin", "java")
    return shutil.which("java")


def java_major_version(java: str) -> int | None:
    output = subprocess.run([java, "-version"], capture_output=True, text=True, timeout=30).stderr
    match = re.search(r'version "(\d+)(?:\.(\d+))?', output)
    if not match:
        return None
    major = int(match.group(1))
    return int(match.group(2)) if major == 1 and match.group(2) else major


def require_java(minimum: int = MIN_JAVA) -> None:
    """Raise a clear error unless Java ``minimum``+ is on PATH or in JAVA_HOME."""
    java = java_executable()
    if java is None:
        raise JavaMissingError(
            f"Local Spark needs Java {minimum} or newer, and no `java` was found on PATH or in "
            "JAVA_HOME. Install one (Debian/Ubuntu: apt-get install openjdk-17-jre-headless; "
            "macOS: brew install openjdk@17) and try again."
        )
    version = java_major_version(java)
    if version is not None and version < minimum:
        raise JavaMissingError(
            f"Local Spark needs Java {minimum} or newer; {java} is Java {version}. "
            "Point JAVA_HOME at a newer JDK."
        )


if __name__ == "__main__":
    try:
        require_java()
    except JavaMissingError as exc:
        raise SystemExit(f"error: {exc}") from None
    print("java: ok")
