"""The Dagster UI in a real browser, the way a user works with it.

Starts ``dagster dev -w workspace.yaml`` (webserver and daemon) on 127.0.0.1 with a fresh
``DAGSTER_HOME`` and a tiny generated landing zone, then drives Debian's headless Chromium
with Playwright:

1. opens the asset graph;
2. materializes one partition (January) of ``bronze/budgets`` from its asset page;
3. launches a two-day backfill of the ``daily_assets`` job from the job's partition dialog;
4. waits (GraphQL) until both succeed, checks that the backfill was ONE run (single-run
   backfill policy) and that every ``bronze_rows_reconcile`` check passed, and looks at
   the checks tab of ``silver/orders``.

Screenshots go to ``artifacts/ui/`` (and, with ``FINANCE_UPDATE_SCREENSHOTS=1``, the README
ones to ``docs/images/``). The test installs nothing: it needs ``/usr/bin/chromium``
(``.ci/run`` installs it) and skips without it, except under ``CI`` where it fails.
Finally, ``dagster dev``'s output must hold no Python warning raised by finance_assets code.
"""

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from datetime import date
from pathlib import Path

import pytest

from finance_assets.landing.generate import GenerateConfig, generate
from finance_assets_tests.support.s3_server import HOST, free_port

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "artifacts" / "ui"
DOCS_IMAGES = REPO / "docs" / "images"
# The screenshots the README shows (docs/operating.md), by artifact name.
README_SHOTS = {
    "03-backfill-dialog.png": "ui-backfill-dialog.png",
    "05-checks-passed.png": "ui-checks-passed.png",
    "06-gold-lineage.png": "ui-gold-lineage.png",
}
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
START, END = date(2024, 1, 1), date(2024, 1, 5)
# One partition of an asset the backfill does not touch (budgets are monthly), so the two
# runs never write the same table at the same time.
SINGLE_ASSET, SINGLE_PARTITION = "bronze/budgets", "2024-01-01"
BACKFILL = ("2024-01-01", "2024-01-02")  # from the first day: no late-payment follow-up runs
DAILY_SILVER = ("orders", "payments", "expenses")
SERVER_START_TIMEOUT_S = 240
RUN_TIMEOUT_S = 1200
UI_TIMEOUT_MS = 90_000
# A Python warning as printed by the warnings module: "<file>.py:<line>: <Category>: <text>".
PY_WARNING = re.compile(r"(?P<path>\S+\.py):\d+: (?P<category>\w*Warning): (?P<message>.*)")

pytestmark = [pytest.mark.slow, pytest.mark.browser]

# Loopback only: never through a proxy configured in the environment.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _require_chromium() -> None:
    if os.access(CHROMIUM, os.X_OK):
        return
    reason = (
        f"{CHROMIUM} is missing: install Debian's chromium package "
        "(apt-get install chromium; .ci/run does this)"
    )
    if os.environ.get("CI"):
        pytest.fail(f"CI is set and {reason}")
    pytest.skip(reason)


def _descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (from /proc), children first."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


class DagsterDev:
    """``dagster dev`` in its own process group, always stopped (interrupt, then kill)."""

    def __init__(self, env: dict[str, str], logs: Path):
        self.port = free_port()
        self.base = f"http://{HOST}:{self.port}"
        self.env = env
        self.out_path, self.err_path = logs / "dagster-dev.out.log", logs / "dagster-dev.err.log"
        self.process: subprocess.Popen | None = None

    def __enter__(self):
        dagster = Path(sys.executable).with_name("dagster")
        self._out, self._err = open(self.out_path, "wb"), open(self.err_path, "wb")  # noqa: SIM115
        self.process = subprocess.Popen(
            [
                str(dagster),
                "dev",
                "-w",
                str(REPO / "workspace.yaml"),
                "-h",
                HOST,
                "-p",
                str(self.port),
            ],
            cwd=REPO,
            env=self.env,
            stdout=self._out,
            stderr=self._err,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        try:
            self._wait_until_loaded()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc):
        self.stop()

    def graphql(self, query: str, variables: dict | None = None) -> dict:
        body = json.dumps({"query": query, "variables": variables or {}}).encode()
        request = urllib.request.Request(
            f"{self.base}/graphql", data=body, headers={"Content-Type": "application/json"}
        )
        with _OPENER.open(request, timeout=60) as response:
            answer = json.loads(response.read())
        assert "errors" not in answer, answer["errors"]
        return answer["data"]

    def _wait_until_loaded(self) -> None:
        deadline = time.monotonic() + SERVER_START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"dagster dev exited with {self.process.returncode}:\n{self.tail()}"
                )
            try:
                entries = self.graphql(WORKSPACE)["workspaceOrError"]["locationEntries"]
            except (OSError, urllib.error.URLError, AssertionError, KeyError):
                time.sleep(1)
                continue
            if entries and all(e["loadStatus"] == "LOADED" for e in entries):
                errors = [
                    e["locationOrLoadError"]
                    for e in entries
                    if e["locationOrLoadError"]["__typename"] != "RepositoryLocation"
                ]
                assert not errors, errors
                return
            time.sleep(1)
        raise RuntimeError(
            f"dagster dev did not load in {SERVER_START_TIMEOUT_S} s:\n{self.tail()}"
        )

    def stop(self) -> None:
        if self.process is None:
            return
        pgid = self.process.pid
        family = _descendants(pgid)
        for sig, wait_s in ((signal.SIGINT, 20), (signal.SIGKILL, 10)):
            if self.process.poll() is not None and not _alive(family):
                break
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pgid, sig)
            deadline = time.monotonic() + wait_s
            while time.monotonic() < deadline and (self.process.poll() is None or _alive(family)):
                time.sleep(0.5)
        for pid in _alive(family):  # anything that left the process group
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self.process.wait(timeout=10)
        self._out.close()
        self._err.close()
        self.process = None

    def output(self) -> str:
        return self.out_path.read_text(errors="replace") + self.err_path.read_text(errors="replace")

    def tail(self, chars: int = 6000) -> str:
        return self.output()[-chars:]


def _alive(pids: list[int]) -> list[int]:
    alive = []
    for pid in pids:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z":
            alive.append(pid)
    return alive


WORKSPACE = """
{ workspaceOrError { ... on Workspace { locationEntries {
    name loadStatus locationOrLoadError { __typename ... on PythonError { message } } } } } }
"""
RUNS = """
query Runs($tags: [ExecutionTag!]) { runsOrError(filter: {tags: $tags}) { ... on Runs {
    results { runId status jobName tags { key value } } } } }
"""
BACKFILLS = """
{ partitionBackfillsOrError(limit: 5) { ... on PartitionBackfills { results {
    id status numPartitions runs(limit: 20) { runId status tags { key value } } } } } }
"""
CHECKS = """
query Checks($keys: [AssetKeyInput!]) { assetNodes(assetKeys: $keys) { assetKey { path }
    assetChecksOrError { ... on AssetChecks { checks { name
        executionForLatestMaterialization { status runId evaluation { severity } } } } } } }
"""
FINISHED = {"SUCCESS", "FAILURE", "CANCELED"}


def _wait(what: str, probe, dev: DagsterDev, timeout: float = RUN_TIMEOUT_S):
    """Poll ``probe()`` until it returns something truthy; fail with the server's log tail."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = probe()
        if value:
            return value
        time.sleep(3)
    pytest.fail(f"Timed out after {timeout:.0f} s waiting for {what}.\n{dev.tail()}")


def _runs_tagged(dev: DagsterDev, key: str, value: str) -> list[dict]:
    data = dev.graphql(RUNS, {"tags": [{"key": key, "value": value}]})
    return data["runsOrError"]["results"]


def _finished_run(dev: DagsterDev, key: str, value: str):
    runs = _runs_tagged(dev, key, value)
    if runs and all(r["status"] in FINISHED for r in runs):
        return runs
    return None


def _finished_backfill(dev: DagsterDev):
    backfills = dev.graphql(BACKFILLS)["partitionBackfillsOrError"]["results"]
    if backfills and backfills[0]["status"] not in ("REQUESTED", "CANCELING"):
        return backfills[0]
    return None


def _environment(tmp_path: Path) -> dict[str, str]:
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    # The UI's one-time "join the community" dialog is remembered here; seen already.
    (home / ".nux").mkdir()
    (home / ".nux" / "nux.yaml").write_text("seen: 1\n")
    landing, lake = tmp_path / "landing", tmp_path / "lake"
    generate(str(landing), GenerateConfig(start=START, end=END, orders_per_day=5))
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("AWS_ENDPOINT_URL", "FINANCE_"))
    }
    env.update(
        DAGSTER_HOME=str(home),
        FINANCE_LANDING_URI=str(landing),
        FINANCE_LAKE_URI=str(lake),
        FINANCE_PARTITIONS_START=START.isoformat(),
        FINANCE_PARTITIONS_END=END.isoformat(),
        FINANCE_SPARK_DRIVER_MEMORY="1g",
        FINANCE_SPARK_SHUFFLE_PARTITIONS="2",
        FINANCE_ALERT_LOG=str(tmp_path / "alerts.log"),
        PYTHONUNBUFFERED="1",
    )
    return env


def _screenshot(page, name: str) -> None:
    page.screenshot(path=str(ARTIFACTS / name))


def _publish_readme_screenshots() -> None:
    if os.environ.get("FINANCE_UPDATE_SCREENSHOTS") != "1":
        return
    DOCS_IMAGES.mkdir(parents=True, exist_ok=True)
    for artifact, name in README_SHOTS.items():
        shutil.copyfile(ARTIFACTS / artifact, DOCS_IMAGES / name)


def _partition_dialog_launch(page, partitions: str, button: str, shot: str) -> None:
    dialog = page.get_by_role("dialog")
    field = dialog.get_by_placeholder("ex: 2024-01-01", exact=False)
    field.fill(partitions)
    field.press("Enter")
    launch = dialog.get_by_role("button", name=button)
    launch.wait_for()
    _screenshot(page, shot)
    launch.click()
    dialog.wait_for(state="detached")


def test_materialize_and_backfill_in_the_ui(tmp_path):
    _require_chromium()
    from playwright.sync_api import sync_playwright

    if ARTIFACTS.exists():
        shutil.rmtree(ARTIFACTS)
    ARTIFACTS.mkdir(parents=True)
    env = _environment(tmp_path)
    dev = DagsterDev(env, ARTIFACTS)  # its output goes to artifacts/ui/dagster-dev.*.log
    with dev, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1440, "height": 900})
            page.set_default_timeout(UI_TIMEOUT_MS)
            # Should Dagster still ask to join its community, skip it whenever it shows
            # (a DOM click: another dialog may be on top of it).
            page.add_locator_handler(
                page.get_by_role("button", name="Skip", exact=True),
                lambda button: button.dispatch_event("click"),
            )
            try:
                _drive_the_ui(page, dev)
            except BaseException:
                _screenshot(page, "failure.png")
                raise
        finally:
            browser.close()
    _assert_no_warnings_from_our_code(dev)
    _publish_readme_screenshots()


def _drive_the_ui(page, dev: DagsterDev) -> None:
    # 1. The asset graph: landing -> bronze -> silver -> gold (-> analytics).
    page.goto(f"{dev.base}/asset-groups")
    graph = page.locator("foreignObject")
    for group in ("landing", "bronze", "silver", "gold"):
        graph.get_by_text(group, exact=True).first.wait_for()
    _screenshot(page, "01-asset-graph.png")

    # 2. One partition of one asset, from its page.
    page.goto(f"{dev.base}/assets/{SINGLE_ASSET}")
    page.get_by_role("button", name="Materialize…").first.click()
    _partition_dialog_launch(
        page, SINGLE_PARTITION, "Launch 1 run", "02-materialize-one-partition.png"
    )

    # 3. A small backfill of the daily job, from its partition dialog.
    page.goto(f"{dev.base}/locations/finance_assets.definitions/jobs/daily_assets")
    page.get_by_role("button", name="Materialize all…").first.click()
    _partition_dialog_launch(
        page, f"[{BACKFILL[0]}...{BACKFILL[1]}]", "Launch backfill", "03-backfill-dialog.png"
    )

    # 4. Both succeed.
    (single,) = _wait(
        "the single-partition run",
        lambda: _finished_run(dev, "dagster/partition", SINGLE_PARTITION),
        dev,
    )
    assert single["status"] == "SUCCESS", dev.tail()
    backfill = _wait("the backfill", lambda: _finished_backfill(dev), dev)
    assert backfill["status"] == "COMPLETED_SUCCESS", (backfill, dev.tail())
    assert backfill["numPartitions"] == 2
    # Single-run backfill policy: two partitions, one run over the range.
    (run,) = backfill["runs"]
    tags = {t["key"]: t["value"] for t in run["tags"]}
    assert run["status"] == "SUCCESS"
    assert tags["dagster/asset_partition_range_start"] == BACKFILL[0]
    assert tags["dagster/asset_partition_range_end"] == BACKFILL[1]

    page.goto(f"{dev.base}/runs/b/{backfill['id']}")
    page.get_by_text("Succeeded").first.wait_for()
    _screenshot(page, "04-backfill-succeeded.png")

    # 5. The blocking reconciliation checks passed, and no ERROR check failed.
    keys = [{"path": ["silver", name]} for name in DAILY_SILVER]
    nodes = dev.graphql(CHECKS, {"keys": keys})["assetNodes"]
    assert len(nodes) == len(DAILY_SILVER)
    for node in nodes:
        checks = {
            c["name"]: c["executionForLatestMaterialization"]
            for c in node["assetChecksOrError"]["checks"]
        }
        reconcile = checks["bronze_rows_reconcile"]
        assert reconcile["status"] == "SUCCEEDED" and reconcile["runId"] == run["runId"], node
        failed_errors = [
            name
            for name, execution in checks.items()
            if execution
            and execution["status"] == "FAILED"
            and execution["evaluation"]["severity"] == "ERROR"
        ]
        assert not failed_errors, (node["assetKey"], failed_errors)

    page.goto(f"{dev.base}/assets/silver/orders?view=checks")
    row = page.get_by_text("bronze_rows_reconcile").first
    row.wait_for()
    page.get_by_text("Passed").first.wait_for()
    _screenshot(page, "05-checks-passed.png")

    # 6. The gold tables with their checks, partitions and automation (sensors, schedules).
    page.set_viewport_size({"width": 1440, "height": 1300})
    page.goto(f"{dev.base}/locations/finance_assets.definitions/asset-groups/gold/lineage")
    page.get_by_text("daily_kpi").first.wait_for()
    page.get_by_text("Asset checks").first.wait_for()
    page.wait_for_timeout(1500)  # let the graph settle
    _screenshot(page, "06-gold-lineage.png")


def _assert_no_warnings_from_our_code(dev: DagsterDev) -> None:
    output = dev.output()
    warnings = [m for m in PY_WARNING.finditer(output)]
    (ARTIFACTS / "warnings.txt").write_text("\n".join(m.group(0) for m in warnings) + "\n")
    ours = [
        m.group(0)
        for m in warnings
        if "/finance_assets/" in m["path"] or "finance_assets" in m["message"]
    ]
    assert not ours, "dagster dev printed warnings from finance_assets:\n" + "\n".join(ours)
