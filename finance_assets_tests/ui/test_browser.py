"""The quick start in a real browser: ``make demo`` then ``make dev`` shows a green, populated UI.

1. ``finance-assets demo`` (the quick start's own code path, with a few orders a day) fills a
   fresh ``DAGSTER_HOME`` and data folder: sample drops ending yesterday, materialized, the
   freshness checks evaluated once.
2. ``make dev`` serves that instance on a free loopback port.
3. Debian's headless Chromium, driven by Playwright, looks at what a new user sees: the
   lineage of the six groups (landing, bronze, silver, quarantine, gold, analytics) without
   errors; every gold table materialized with its checks passed; the freshness check passed
   for the partition due (yesterday once the 06:00 deadline has passed, the day before until
   then); the demo's runs, green, on the Runs page; then one partition of
   ``silver/orders`` launched from its asset page (the partition picker is the first dialog)
   and finishing green.

Counts the UI only summarizes (materialized partitions per table, every check's status) are
read over the same webserver's GraphQL API. Screenshots go to ``artifacts/ui/`` and, with
``FINANCE_UPDATE_SCREENSHOTS=1``, the README's to ``docs/images/``. The test installs
nothing: it needs ``/usr/bin/chromium`` (``.ci/run`` installs it) and skips without it, except
under ``CI`` where it fails. Finally, the server's output must hold no Python warning raised by
finance_assets code.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pytest

from finance_assets.automation.schedules import DAILY_SCHEDULE
from finance_assets.gold.tables import gold_tables
from finance_assets.settings import Settings
from finance_assets_tests.support.dagster_dev import (
    LOCATION,
    REPO,
    VENV,
    DevServer,
    clean_environment,
    make_dev_command,
    wait_for,
)

ARTIFACTS = REPO / "artifacts" / "ui"
DOCS_IMAGES = REPO / "docs" / "images"
# The screenshots the README shows, by artifact name.
README_SHOTS = {
    "01-asset-groups.png": "ui-asset-groups.png",
    "02-gold-lineage.png": "ui-gold-lineage.png",
    "03-checks-passed.png": "ui-checks-passed.png",
    "05-launch-partition.png": "ui-launch-partition.png",
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
ORDERS_PER_DAY = 3
DEMO_TIMEOUT_S = 900
RUN_TIMEOUT_S = 600
UI_TIMEOUT_MS = 90_000
# The freshness deadline a quick start runs with (clean_environment drops FINANCE_* settings).
DEFAULT_DEADLINE = Settings.model_fields["freshness_deadline"].default
GROUPS = ("landing", "bronze", "silver", "quarantine", "gold", "analytics")
LAUNCHED = ("silver", "orders")
DEMO_JOBS = ("daily_assets", "monthly_assets", "gold_freshness_checks")
RUN_ROW = "[class*=RunsFeedRow_rowGrid]"  # a row of the Runs page (a grid of divs, no role)
# A Python warning as printed by the warnings module: "<file>.py:<line>: <Category>: <text>".
PY_WARNING = re.compile(r"(?P<path>\S+\.py):\d+: (?P<category>\w*Warning): (?P<message>.*)")

pytestmark = [pytest.mark.slow, pytest.mark.browser]

SCHEDULE = """
query Schedule($selector: ScheduleSelector!) { scheduleOrError(scheduleSelector: $selector) {
    __typename ... on Schedule { scheduleState { status } futureTicks(limit: 1) { results {
        timestamp evaluationResult { skipReason runRequests { tags { key value } } } } } } } }
"""
GOLD = """
query Gold($keys: [AssetKeyInput!]) { assetNodes(assetKeys: $keys) { assetKey { path }
    partitionStats { numMaterialized numFailed }
    assetChecksOrError { ... on AssetChecks { checks { name
        executionForLatestMaterialization { status } } } } } }
"""


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


def _due_day(at: datetime, last: date) -> date:
    """The daily partition a freshness check evaluated at ``at`` expects: the demo's last day
    (yesterday) once today's deadline has passed, the day before until then."""
    deadline = datetime.combine(at.date(), DEFAULT_DEADLINE, tzinfo=timezone.utc)
    return last if at >= deadline else last - timedelta(days=1)


def _run_demo(home: Path, data: Path) -> tuple[date, date, set[date]]:
    """``finance-assets demo`` into ``data`` and the instance ``home``: its first and last day,
    and the day (or, across a deadline, the days) its freshness checks expected."""
    started = datetime.now(timezone.utc)
    result = subprocess.run(
        [
            str(VENV / "bin" / "finance-assets"),
            "demo",
            "--data-dir",
            str(data),
            "--orders-per-day",
            str(ORDERS_PER_DAY),
        ],
        cwd=REPO,
        env=clean_environment(DAGSTER_HOME=str(home)),
        capture_output=True,
        text=True,
        timeout=DEMO_TIMEOUT_S,
    )
    ended = datetime.now(timezone.utc)
    (ARTIFACTS / "demo.log").write_text(result.stdout + result.stderr)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "Freshness: all gold fresh" in result.stdout, result.stdout[-3000:]
    days = sorted(p.name for p in (data / "landing" / "orders").iterdir())
    first, last = date.fromisoformat(days[0]), date.fromisoformat(days[-1])
    yesterday = datetime.now(timezone.utc).date() - timedelta(days=1)
    assert last == yesterday, days  # the demo ends yesterday (FINANCE_TIMEZONE is UTC here)
    return first, last, {_due_day(started, last), _due_day(ended, last)}


def test_quick_start_shows_a_green_populated_ui(tmp_path):
    _require_chromium()
    if ARTIFACTS.exists():
        shutil.rmtree(ARTIFACTS)
    ARTIFACTS.mkdir(parents=True)
    home, data = tmp_path / "dagster_home", tmp_path / "data"
    first, last, due = _run_demo(home, data)
    env = clean_environment(
        DAGSTER_HOME=str(home),
        FINANCE_LANDING_URI=str(data / "landing"),
        FINANCE_LAKE_URI=str(data / "lake"),
    )
    with DevServer(make_dev_command, env, ARTIFACTS) as dev:
        _assert_gold_materialized_and_checked(dev, first, last)
        _assert_next_scheduled_day_follows_the_demo(dev, last)
        _drive_the_ui(dev, last, due)
    _assert_no_warnings_from_our_code(dev)
    _publish_readme_screenshots()


def _drive_the_ui(dev: DevServer, last: date, due: set[date]) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1440, "height": 900})
            page.set_default_timeout(UI_TIMEOUT_MS)
            errors: list[str] = []
            page.on("pageerror", lambda error: errors.append(str(error)))
            # Dagster asks a new user once to join its community; answer Skip, as a user does.
            page.add_locator_handler(
                page.get_by_role("button", name="Skip", exact=True),
                lambda button: button.dispatch_event("click"),
            )
            try:
                _look_around(page, dev, due)
                _launch_one_partition(page, dev, last)
            except BaseException:
                page.screenshot(path=str(ARTIFACTS / "failure.png"))
                raise
            assert not errors, f"the UI raised errors: {errors}"
        finally:
            browser.close()


def _assert_gold_materialized_and_checked(dev: DevServer, first: date, last: date) -> None:
    """Every demo day (month) of every daily (monthly) gold table is materialized, none
    failed, and every check of every gold table passed, the freshness check included."""
    days = (last - first).days + 1
    months = (last.year - first.year) * 12 + last.month - first.month + 1
    expected = {
        t.table.key.path[-1]: months if t.cadence == "monthly" else days for t in gold_tables()
    }
    keys = [{"path": ["gold", name]} for name in expected]
    nodes = dev.graphql(GOLD, {"keys": keys})["assetNodes"]
    assert len(nodes) == len(expected)
    for node in nodes:
        name = node["assetKey"]["path"][-1]
        stats = node["partitionStats"]
        assert stats == {"numMaterialized": expected[name], "numFailed": 0}, (name, stats)
        checks = {
            c["name"]: (c["executionForLatestMaterialization"] or {}).get("status")
            for c in node["assetChecksOrError"]["checks"]
        }
        assert "fresh_by_deadline" in checks, (name, checks)
        assert set(checks.values()) == {"SUCCEEDED"}, (name, checks)


def _assert_next_scheduled_day_follows_the_demo(dev: DevServer, last: date) -> None:
    """The daily schedule is running; its next tick, within a day, asks for the day before the
    tick's (it runs at 02:00 for yesterday): the day after the demo's last one, or, before
    02:00, the demo's last day again."""
    selector = {
        "repositoryLocationName": LOCATION,
        "repositoryName": "__repository__",
        "scheduleName": DAILY_SCHEDULE,
    }
    schedule = dev.graphql(SCHEDULE, {"selector": selector})["scheduleOrError"]
    assert schedule["scheduleState"]["status"] == "RUNNING", schedule
    (tick,) = schedule["futureTicks"]["results"]
    at = datetime.fromtimestamp(tick["timestamp"], timezone.utc)
    assert timedelta(0) < at - datetime.now(timezone.utc) <= timedelta(days=1), at
    (request,) = tick["evaluationResult"]["runRequests"]
    tags = {t["key"]: t["value"] for t in request["tags"]}
    asked = at.date() - timedelta(days=1)
    assert tags["dagster/partition"] == asked.isoformat(), (at, tags)
    assert asked in (last, last + timedelta(days=1)), (at, last)


def _look_around(page, dev: DevServer, due: set[date]) -> None:
    # The lineage: six groups, left to right, collapsed into one box each.
    page.goto(f"{dev.base}/asset-groups")
    graph = page.locator("foreignObject")
    for group in GROUPS:
        graph.get_by_text(group, exact=True).first.wait_for()
    page.mouse.move(0, 0)
    page.screenshot(path=str(ARTIFACTS / "01-asset-groups.png"))

    # The gold tables: materialized, every check passed.
    page.set_viewport_size({"width": 1440, "height": 1900})
    page.goto(f"{dev.base}/locations/{LOCATION}/asset-groups/gold/lineage")
    for table in gold_tables():
        name = table.table.key.path[-1]
        node = graph.filter(has=page.get_by_text(name, exact=True)).filter(has_text="Asset checks")
        node.first.get_by_text(re.compile(r"Passed$")).first.wait_for()
        text = node.first.text_content()
        passed = re.search(r"Asset checks\s*(\d+) / (\d+) Passed", text)
        assert passed and passed[1] == passed[2], (name, text)
        assert "Never materialized" not in text and "filled" in text, (name, text)
    page.mouse.move(0, 0)
    page.wait_for_timeout(500)  # edges leave their hover highlight
    bottom = max(box["y"] + box["height"] for box in _boxes(graph))
    page.screenshot(
        path=str(ARTIFACTS / "02-gold-lineage.png"),
        clip={"x": 0, "y": 0, "width": 1440, "height": min(bottom + 80, 1900)},
    )
    page.set_viewport_size({"width": 1440, "height": 900})

    # The freshness check of a daily gold table: the due partition exists, passed.
    page.goto(f"{dev.base}/assets/gold/daily_kpi?view=checks")
    check = page.get_by_title("fresh_by_deadline").first.locator("xpath=..")
    check.get_by_text("Succeeded").wait_for()
    check.click()  # the page opens on the first check by name, which may be another one
    expected = re.compile("^(" + "|".join(d.isoformat() for d in sorted(due)) + ")$")
    page.get_by_text(expected).first.wait_for()  # expected_partition
    page.screenshot(path=str(ARTIFACTS / "03-checks-passed.png"))

    # The demo's runs, green.
    page.goto(f"{dev.base}/runs")
    rows = page.locator(RUN_ROW)
    for job in DEMO_JOBS:
        rows.filter(has_text=job).first.get_by_text("Success", exact=True).wait_for()
    assert rows.filter(has_text="Failure").count() == 0, rows.all_inner_texts()
    page.screenshot(path=str(ARTIFACTS / "04-demo-runs.png"))


def _boxes(locator) -> list[dict]:
    return [box for box in (e.bounding_box() for e in locator.all()) if box]


def _launch_one_partition(page, dev: DevServer, last: date) -> None:
    """Yesterday's partition of silver/orders, from its asset page: the first dialog after
    "Materialize…" is the partition picker."""
    before = dev.run_ids()
    page.goto(f"{dev.base}/assets/{'/'.join(LAUNCHED)}")
    page.locator("button", has_text="Materialize…").first.click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_text("Partition selection").wait_for()
    assert dialog.count() == 1, dialog.all_inner_texts()
    picker = dialog.locator("input[type=text]").first
    picker.fill(last.isoformat())
    picker.press("Enter")
    dialog.get_by_text("1 partition", exact=True).wait_for()
    launch = dialog.get_by_role("button", name="Launch 1 run")
    page.screenshot(path=str(ARTIFACTS / "05-launch-partition.png"))
    launch.click()
    dialog.wait_for(state="detached")

    (run_id,) = wait_for("the launched run", lambda: dev.run_ids() - before, 60, dev.tail)
    run = wait_for("the run to finish", lambda: dev.finished_run(run_id), RUN_TIMEOUT_S, dev.tail)
    tags = {t["key"]: t["value"] for t in run["tags"]}
    assert tags.get("dagster/partition") == last.isoformat(), tags
    assert {tuple(a["path"]) for a in run["assetSelection"]} == {LAUNCHED}, run
    assert run["status"] == "SUCCESS", (run, dev.tail())

    page.goto(f"{dev.base}/runs/{run_id}")
    page.get_by_text("Success", exact=True).first.wait_for()
    page.screenshot(path=str(ARTIFACTS / "06-run-succeeded.png"))


def _publish_readme_screenshots() -> None:
    if os.environ.get("FINANCE_UPDATE_SCREENSHOTS") != "1":
        return
    DOCS_IMAGES.mkdir(parents=True, exist_ok=True)
    for artifact, name in README_SHOTS.items():
        shutil.copyfile(ARTIFACTS / artifact, DOCS_IMAGES / name)


def _assert_no_warnings_from_our_code(dev: DevServer) -> None:
    output = dev.output()
    warnings = list(PY_WARNING.finditer(output))
    (ARTIFACTS / "warnings.txt").write_text("\n".join(m.group(0) for m in warnings) + "\n")
    ours = [
        m.group(0)
        for m in warnings
        if "/finance_assets/" in m["path"] or "finance_assets" in m["message"]
    ]
    assert not ours, "the server printed warnings from finance_assets:\n" + "\n".join(ours)
