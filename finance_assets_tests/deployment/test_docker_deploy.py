"""The Docker deployment of docker/, built and run for real: a day dropped into S3 becomes gold.

Builds the product image (docker/Dockerfile) and the two test stand-ins of
docker/test/ on one base, starts docker/compose.yaml with docker/test/compose.test.yaml
(Postgres from Debian's packages, moto's S3 server in place of MinIO), and then, only
through the deployment's own interfaces:

1. waits for the code location to load and for the landing sensor's first tick, which
   records the (empty) landing zone as seen;
2. drops one generated day into the S3 landing zone (`finance-assets generate` in the
   user_code container, with that container's S3 settings);
3. waits, through the webserver's GraphQL API, for the landing sensor to request the run
   and for the daemon to run the whole chain (the day, then its month), and checks that
   every run succeeded, every blocking (ERROR) check passed and every gold asset has the
   day's or the month's partition;
4. stops and removes every container, starts the stack again on the same volumes and
   checks that the runs and materializations are still there (Postgres storage);
5. removes everything, volumes included, whatever happened.

Needs a Docker engine. Without one (and none can be installed and started: not root, not
Debian), the test is skipped, unless CI is set: then it fails. See docker/README.md.
"""

from __future__ import annotations

import os
import time
from datetime import date

import pytest

from finance_assets_tests.support import docker_deploy as dd

DAY = date(2024, 3, 14)  # a partition of the deployment (partitions start 2024-01-01)
MONTH = DAY.replace(day=1)
ORDERS_PER_DAY = 60

LOCATION = "finance_assets"
LANDING_SENSOR = "landing_sensor"
TRIGGER_TAG, BATCH_TAG, CHAIN_TAG = "finance/trigger", "finance/batch", "finance/chain"
AUTOMATION_TAG = "dagster/from_automation_condition"

STACK_START_TIMEOUT_S = 300
FIRST_TICK_TIMEOUT_S = 120
RUN_REQUEST_TIMEOUT_S = 120
CHAIN_TIMEOUT_S = 600

pytestmark = [pytest.mark.slow, pytest.mark.docker]


def _unavailable(reason: str):
    if os.environ.get("CI"):
        pytest.fail(f"CI is set and the Docker deployment cannot be tested: {reason}")
    pytest.skip(f"no Docker engine: {reason}")


@pytest.fixture(scope="module")
def engine():
    try:
        engine = dd.Engine().start()
    except dd.EngineUnavailable as exc:
        _unavailable(str(exc))
    try:
        yield engine
    finally:
        engine.stop()


@pytest.fixture(scope="module")
def images(engine):
    started = time.monotonic()
    images = dd.build_images(engine)
    dd.log(f"images ready in {time.monotonic() - started:.0f}s on base {images.base}")
    return images


@pytest.fixture(scope="module")
def stack(request, engine, images):
    dd.remove_abandoned_stacks(engine)
    stack = dd.Stack(engine)
    failed_before = request.session.testsfailed
    try:
        yield stack
    finally:
        if request.session.testsfailed > failed_before:
            dd.log(f"a test failed; the stack as it was:\n--- compose ps\n{stack.ps()}")
            dd.log(f"--- compose logs (last lines of each service)\n{stack.logs()}")
        dd.log("tearing the stack down (containers, network, volumes)")
        stack.close()


# --------------------------------------------------------------------------- the override


def test_the_test_override_keeps_the_production_wiring(stack):
    """Only the images of postgres, minio and minio-init differ from docker/compose.yaml."""
    services = stack.config()["services"]
    user_code = services["user_code"]["environment"]
    bucket = user_code["FINANCE_LANDING_URI"].removeprefix("s3://").split("/")[0]
    assert user_code["AWS_ENDPOINT_URL_S3"] == "http://minio:9000"
    init = services["minio-init"]
    assert init["environment"]["LANDING_BUCKET"] == bucket
    # The S3 server and the bucket creation get the pipeline's credentials, as MinIO does,
    # and every Dagster process gets the database's password. Compared by name, so that a
    # failure names the variables and never prints a value.
    same = [
        (("minio-init", "MINIO_ROOT_USER"), ("user_code", "AWS_ACCESS_KEY_ID")),
        (("minio-init", "MINIO_ROOT_PASSWORD"), ("user_code", "AWS_SECRET_ACCESS_KEY")),
        (("minio", "MINIO_ROOT_USER"), ("user_code", "AWS_ACCESS_KEY_ID")),
        (("minio", "MINIO_ROOT_PASSWORD"), ("user_code", "AWS_SECRET_ACCESS_KEY")),
    ]
    for name in ("user_code", "webserver", "daemon"):
        same.append(((name, "DAGSTER_POSTGRES_PASSWORD"), ("postgres", "POSTGRES_PASSWORD")))
        assert services[name]["image"] == dd.PRODUCT_IMAGE

    def value(service_and_variable):
        service, variable = service_and_variable
        return services[service]["environment"].get(variable)

    mismatched = [(a, b) for a, b in same if not value(a) or value(a) != value(b)]
    assert not mismatched, f"these should be equal and are not: {mismatched}"
    postgres = services["postgres"]["environment"]
    generated = set(stack.secret_values())
    uses_generated = {
        user_code["AWS_SECRET_ACCESS_KEY"],
        postgres["POSTGRES_PASSWORD"],
    } <= generated
    assert uses_generated, "the stack does not use the secrets generated for it"
    assert services["postgres"]["image"] == dd.POSTGRES_IMAGE
    assert services["minio"]["image"] == services["minio-init"]["image"] == dd.S3_IMAGE


# --------------------------------------------------------------------------- GraphQL

WORKSPACE = """
query {
  workspaceOrError {
    __typename
    ... on Workspace {
      locationEntries {
        name
        loadStatus
        locationOrLoadError {
          __typename
          ... on PythonError { message }
          ... on RepositoryLocation { repositories { name } }
        }
      }
    }
    ... on PythonError { message }
  }
}
"""

SENSOR = """
query($selector: SensorSelector!) {
  sensorOrError(sensorSelector: $selector) {
    __typename
    ... on Sensor {
      sensorState {
        status
        ticks(limit: 20) { status skipReason cursor timestamp error { message } }
      }
    }
    ... on PythonError { message }
  }
}
"""

RUNS = """
query($filter: RunsFilter!) {
  runsOrError(filter: $filter) {
    __typename
    ... on Runs {
      results {
        runId
        status
        creationTime
        startTime
        endTime
        tags { key value }
      }
    }
    ... on PythonError { message }
  }
}
"""

RUN_EVENTS = """
query($runId: ID!, $after: String) {
  logsForRun(runId: $runId, afterCursor: $after, limit: 1000) {
    __typename
    ... on EventConnection {
      cursor
      hasMore
      events {
        __typename
        ... on MessageEvent { message level stepKey }
        ... on AssetCheckEvaluationEvent {
          evaluation {
            checkName
            success
            severity
            assetKey { path }
            partition
          }
        }
        ... on MaterializationEvent { assetKey { path } partition }
        ... on ExecutionStepFailureEvent { error { message } }
      }
    }
    ... on PythonError { message }
  }
}
"""

ASSET_NODES = """
query {
  assetNodes { assetKey { path } isPartitioned isMaterializable }
}
"""

MATERIALIZATIONS = """
query($key: AssetKeyInput!, $partitions: [String!]) {
  assetOrError(assetKey: $key) {
    __typename
    ... on Asset { assetMaterializations(partitions: $partitions) { partition runId } }
  }
}
"""


def _location_loaded(dagster: dd.Dagster) -> str | None:
    """The repository name once the finance_assets location is loaded, else None."""
    data = dagster.query(WORKSPACE)["workspaceOrError"]
    if data["__typename"] != "Workspace":
        raise dd.GraphQLError(data.get("message", data["__typename"]))
    for entry in data["locationEntries"]:
        if entry["name"] != LOCATION:
            continue
        location = entry["locationOrLoadError"] or {}
        if location.get("__typename") == "PythonError":
            # The code server may not answer yet; the webserver reloads it when it does.
            raise dd.GraphQLError(location["message"][:500])
        if entry["loadStatus"] == "LOADED" and location.get("repositories"):
            return location["repositories"][0]["name"]
    return None


def _sensor_ticks(dagster: dd.Dagster, repository: str) -> list[dict]:
    selector = {
        "repositoryLocationName": LOCATION,
        "repositoryName": repository,
        "sensorName": LANDING_SENSOR,
    }
    data = dagster.query(SENSOR, {"selector": selector})["sensorOrError"]
    if data["__typename"] != "Sensor":
        raise dd.GraphQLError(data.get("message", data["__typename"]))
    state = data["sensorState"]
    assert state["status"] == "RUNNING", f"{LANDING_SENSOR} is {state['status']}"
    return state["ticks"]


def _runs(dagster: dd.Dagster, tags: dict[str, str]) -> list[dict]:
    run_filter = {"tags": [{"key": k, "value": v} for k, v in tags.items()]}
    data = dagster.query(RUNS, {"filter": run_filter})["runsOrError"]
    if data["__typename"] != "Runs":
        raise dd.GraphQLError(data.get("message", data["__typename"]))
    runs = data["results"]
    for run in runs:
        run["tags"] = {t["key"]: t["value"] for t in run["tags"]}
    return sorted(runs, key=lambda r: r["creationTime"])


def _events(dagster: dd.Dagster, run_id: str) -> list[dict]:
    events, cursor = [], None
    while True:
        data = dagster.query(RUN_EVENTS, {"runId": run_id, "after": cursor})["logsForRun"]
        if data["__typename"] != "EventConnection":
            raise dd.GraphQLError(data.get("message", data["__typename"]))
        events += data["events"]
        cursor = data["cursor"]
        if not data["hasMore"]:
            return events


def _failure_report(dagster: dd.Dagster, run: dict) -> str:
    lines = [f"run {run['runId']} {run['status']} tags={run['tags']}"]
    for event in _events(dagster, run["runId"]):
        if event["__typename"] in ("ExecutionStepFailureEvent", "RunFailureEvent"):
            message = (event.get("error") or {}).get("message") or event.get("message")
            lines.append(f"  {event['__typename']} {event.get('stepKey')}: {message}"[:1500])
        check = event.get("evaluation")
        if check and not check["success"]:
            lines.append(f"  failed check {check['checkName']} on {check['assetKey']['path']}")
    return "\n".join(lines)


TERMINAL = {"SUCCESS", "FAILURE", "CANCELED"}


def _drop_done(dagster: dd.Dagster) -> list[dict] | None:
    """The landing sensor's runs once the day's and the month's partitions have run to the end.

    The generator writes the drop's folders one after the other, so a sensor tick between two
    of them sees part of the drop: its folders then come in two batches, and both count.
    """
    runs = _runs(dagster, {TRIGGER_TAG: "landing"})
    for run in runs:
        if run["status"] in ("FAILURE", "CANCELED"):
            report = _failure_report(dagster, run)
            pytest.fail(f"a run of the landing sensor did not succeed:\n{report}")
    partitions = {r["tags"].get("dagster/partition") for r in runs}
    done = all(r["status"] in TERMINAL for r in runs) and CHAIN_TAG not in runs[-1]["tags"]
    if runs and done and {DAY.isoformat(), MONTH.isoformat()} <= partitions:
        return runs
    return None


# --------------------------------------------------------------------------- the run


def test_a_day_dropped_into_s3_becomes_gold_through_the_daemon(stack, images):
    test_started = time.monotonic()
    dagster = dd.Dagster(stack.url)

    dd.log(f"starting the stack {stack.project} on {images.base}")
    stack.up()
    repository = dd.wait_for(
        "code location finance_assets loaded in the webserver",
        lambda: _location_loaded(dagster),
        STACK_START_TIMEOUT_S,
    )
    dd.log(f"location loaded ({time.monotonic() - test_started:.0f}s)")

    # The landing sensor's first tick records what is already there (nothing) as seen
    # (FINANCE_SENSOR_BOOTSTRAP=skip); a day dropped before it would never be picked up.
    first = dd.wait_for(
        "the landing sensor's first tick",
        lambda: [t for t in _sensor_ticks(dagster, repository) if t["status"] != "STARTED"],
        FIRST_TICK_TIMEOUT_S,
    )
    assert first[-1]["status"] == "SKIPPED", first[-1]
    assert "First tick" in (first[-1]["skipReason"] or ""), first[-1]
    dd.log(f"landing sensor's first tick: {first[-1]['skipReason']}")

    # One generated day, written to s3://finance-landing/landing by the product's own CLI
    # inside user_code, with that container's S3 endpoint and credentials.
    dropped = stack.exec(
        "user_code",
        "finance-assets",
        "generate",
        "--start",
        DAY.isoformat(),
        "--end",
        DAY.isoformat(),
        "--orders-per-day",
        str(ORDERS_PER_DAY),
        capture=True,
    )
    dd.log("dropped:\n" + dropped.stdout.rstrip())
    dropped_at, dropped_wall = time.monotonic(), time.time()

    first_run = dd.wait_for(
        "a run requested by the landing sensor",
        lambda: _runs(dagster, {TRIGGER_TAG: "landing"}),
        RUN_REQUEST_TIMEOUT_S,
    )[0]
    assert first_run["tags"].get("dagster/partition") == DAY.isoformat(), first_run["tags"]
    dd.log(
        f"landing sensor requested run {first_run['runId']} (batch {first_run['tags'][BATCH_TAG]}, "
        f"{time.monotonic() - dropped_at:.0f}s after the drop)"
    )

    runs = dd.wait_for(
        "the daemon running the drop's day and month to the end",
        lambda: _drop_done(dagster),
        CHAIN_TIMEOUT_S,
        interval=3,
    )
    dd.log(f"{len(runs)} run(s) succeeded, {time.monotonic() - dropped_at:.0f}s after the drop:")
    for run in runs:
        queued = run["startTime"] - run["creationTime"]
        took = run["endTime"] - run["startTime"]
        what = run["tags"].get("dagster/partition") or run["tags"].get(
            "dagster/asset_partition_range_start", "unpartitioned"
        )
        dd.log(f"  {run['runId'][:8]} {what}: queued {queued:.0f}s, ran {took:.0f}s")
    assert len(runs) >= 2, "expected the day's run, then its month's"
    partitions = [r["tags"].get("dagster/partition") for r in runs]
    assert partitions[0] == DAY.isoformat() and MONTH.isoformat() in partitions, partitions

    # Every blocking check that ran passed; and checks did run.
    checks = []
    for run in runs:
        assert run["status"] == "SUCCESS", _failure_report(dagster, run)
        checks += [e["evaluation"] for e in _events(dagster, run["runId"]) if e.get("evaluation")]
    blocking = [c for c in checks if c["severity"] == "ERROR"]
    failed = [c for c in blocking if not c["success"]]
    assert blocking, "no blocking check was evaluated"
    assert not failed, f"blocking checks failed: {failed}"
    dd.log(f"{len(checks)} check evaluations, {len(blocking)} blocking, all blocking passed")

    # Every gold asset gets this day's or this month's partition: from the batch, or (the
    # monthly tables that read the days) from the automation sensor's runs that follow it.
    gold = [
        node["assetKey"]["path"]
        for node in dagster.query(ASSET_NODES)["assetNodes"]
        if node["assetKey"]["path"][0] == "gold" and node["isMaterializable"]
    ]
    assert len(gold) >= 7, gold
    materialized, followers = dd.wait_for(
        "every gold asset written by the batch or the automation runs that follow it",
        lambda: _gold_written_since(dagster, gold, runs, dropped_wall),
        CHAIN_TIMEOUT_S,
        interval=3,
    )
    dd.log(f"{len(followers)} automation run(s) followed the batch")
    shown = ", ".join(f"{k} {sorted({p for p, _ in v})}" for k, v in sorted(materialized.items()))
    dd.log(f"gold partitions: {shown}")

    # Failure alerts would be appended to FINANCE_ALERT_LOG by the alert sensors, which run
    # in user_code as the service user: the file must be writable there.
    stack.exec(
        "user_code", "sh", "-c", 'test -n "$FINANCE_ALERT_LOG" && touch "$FINANCE_ALERT_LOG"'
    )

    # Restart: remove every container, start again on the same volumes. Run history and
    # materializations come back from Postgres.
    stack.down(volumes=False)
    stack.up()
    dd.wait_for(
        "code location loaded after the restart",
        lambda: _location_loaded(dagster),
        STACK_START_TIMEOUT_S,
    )
    after = {r["runId"]: r["status"] for r in _runs(dagster, {TRIGGER_TAG: "landing"})}
    assert after == {r["runId"]: "SUCCESS" for r in runs}, after
    assert _gold_partitions(dagster, gold) == materialized
    dd.log(f"run history survived the restart; test took {time.monotonic() - test_started:.0f}s")


def _gold_written_since(dagster, gold, batch_runs, since: float):
    """(gold partitions, automation run ids) once every gold asset has a materialization of
    DAY or MONTH by a batch run or by a successful automation run created after ``since``."""
    followers = [r for r in _runs(dagster, {AUTOMATION_TAG: "true"}) if r["creationTime"] >= since]
    for run in followers:
        if run["status"] in ("FAILURE", "CANCELED"):
            pytest.fail(f"an automation run did not succeed:\n{_failure_report(dagster, run)}")
    writers = {r["runId"] for r in batch_runs} | {
        r["runId"] for r in followers if r["status"] == "SUCCESS"
    }
    materialized = _gold_partitions(dagster, gold)
    if all({run for _, run in found} & writers for found in materialized.values()):
        return materialized, followers
    return None


def _gold_partitions(dagster: dd.Dagster, gold: list[list[str]]) -> dict[str, set[tuple]]:
    """Per gold asset, (partition, run id) of its materializations of DAY or MONTH."""
    found = {}
    for path in gold:
        data = dagster.query(
            MATERIALIZATIONS,
            {"key": {"path": path}, "partitions": [DAY.isoformat(), MONTH.isoformat()]},
        )["assetOrError"]
        events = data.get("assetMaterializations") or []
        found["/".join(path)] = {(m["partition"], m["runId"]) for m in events}
    return found
