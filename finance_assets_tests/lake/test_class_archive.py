"""Local Spark's JVM class archive: used when it is there, never what Spark computes, and
nothing of it reaches stdout (``finance-assets materialize --json`` prints only JSON)."""

from __future__ import annotations

import subprocess

import pytest

from finance_assets.lake import class_archive
from finance_assets.lake.java import java_executable
from finance_assets.lake.spark import QUICK_COMPILER, spark_config
from finance_assets.settings import Settings

DRIVER_OPTIONS = "spark.driver.extraJavaOptions"


def _settings(archive: str) -> Settings:
    return Settings.load(landing_uri="landing", lake_uri="lake", spark_class_archive=archive)


def test_a_local_session_maps_the_archive_when_it_is_there(tmp_path):
    archive = tmp_path / "classes.jsa"
    assert "SharedArchiveFile" not in spark_config(_settings(str(archive)))[DRIVER_OPTIONS]
    archive.write_bytes(b"\0" * 64)
    options = spark_config(_settings(str(archive)))[DRIVER_OPTIONS]
    assert f"-XX:SharedArchiveFile={archive}" in options
    assert "-Xlog:cds=off" in options
    assert "SharedArchiveFile" not in spark_config(_settings("off"))[DRIVER_OPTIONS]
    assert class_archive.build(_settings("off")) == "spark class archive: off"


def test_the_users_driver_options_come_after_the_products_so_that_theirs_win(tmp_path):
    """The JVM takes the last of a repeated flag: a user's FINANCE_SPARK_CONF driver options
    are appended to the archive's and the quick compiler's, not put in their place."""
    archive = tmp_path / "classes.jsa"
    archive.write_bytes(b"\0" * 64)
    mine = "-XX:TieredStopAtLevel=4 -Downer=me"
    settings = Settings.load(
        landing_uri="l",
        lake_uri="l",
        spark_class_archive=str(archive),
        extra_spark_conf={DRIVER_OPTIONS: mine},
    )
    options = spark_config(settings)[DRIVER_OPTIONS]
    assert options.startswith(f"-XX:SharedArchiveFile={archive}")
    assert options.endswith(mine)
    assert options.index(QUICK_COMPILER) < options.index(mine)


def test_the_default_archive_lives_in_the_environment_and_names_its_versions():
    import sys

    import pyspark

    path = class_archive.archive_path(Settings.load(landing_uri="l", lake_uri="l"))
    assert path is not None and path.is_relative_to(sys.prefix)
    assert path.name.startswith(f"spark-classes-{pyspark.__version__}-")


def test_a_file_that_is_no_archive_is_skipped():
    """What the JVM does with an archive it cannot read: starts anyway."""
    java = java_executable()
    if java is None:
        pytest.skip("no java")
    with open(__file__, "rb") as source:  # any file that is not an archive
        options = f"-XX:SharedArchiveFile={source.name} {class_archive.QUIET}".split()
    done = subprocess.run([java, *options, "-version"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout == ""


@pytest.mark.slow
def test_build_writes_the_archive_once(tmp_path, monkeypatch):
    archive = tmp_path / "classes.jsa"
    monkeypatch.setenv("FINANCE_SPARK_CLASS_ARCHIVE", str(archive))
    first = class_archive.build()
    assert first.startswith("spark class archive: built in ") and archive.stat().st_size > 10**6
    assert class_archive.build() == f"spark class archive: {archive}"
    assert [p.name for p in tmp_path.iterdir()] == ["classes.jsa"]  # no partial file left
    # A JVM with another class path cannot use it: it starts anyway, and says so on stdout
    # unless the archive's messages are off.
    java = java_executable()
    assert java is not None
    shared = f"-XX:SharedArchiveFile={archive}"
    loud = subprocess.run([java, shared, "-version"], capture_output=True, text=True)
    assert loud.returncode == 0 and "shared archive" in loud.stdout
    quiet = [java, shared, *class_archive.QUIET.split(), "-version"]
    done = subprocess.run(quiet, capture_output=True, text=True)
    assert done.returncode == 0 and done.stdout == ""


def test_the_local_driver_runs_with_the_quick_compiler_only(spark):
    """The options reach the driver JVM the session runs in (a flag it would reject would
    stop it from starting), and its code cache keeps the tiered size, not C1's 48 MB."""
    jvm = spark.sparkContext._jvm
    runtime = jvm.java.lang.management.ManagementFactory.getRuntimeMXBean()
    assert set(QUICK_COMPILER.split()) <= set(runtime.getInputArguments())
    hotspot = jvm.java.lang.management.ManagementFactory.getPlatformMXBean(
        jvm.java.lang.Class.forName("com.sun.management.HotSpotDiagnosticMXBean")
    )
    assert hotspot.getVMOption("TieredStopAtLevel").getValue() == "1"
    assert int(hotspot.getVMOption("ReservedCodeCacheSize").getValue()) == 240 * 2**20
