"""The landing sensor: new or changed drop files re-materialize exactly their partitions.

Every tick lists each dataset's drop files (local folder or S3; keys and versions only,
never contents) and compares them with the cursor. The cursor holds, per drop folder
(``orders/2024-01-03``), a digest of its files' keys and versions: modification time and
size for local files, the ETag on S3. A folder whose digest changed (a file added, replaced
or removed) is an affected partition.

For the affected partitions the sensor requests the dataset's bronze asset and everything
downstream of it with the same partitions: consecutive days with the same assets are one range
run (single-run backfill policy), separate days are separate runs, so no untouched day is ever
re-materialized; a changed budgets folder is one run for its month. Monthly gold and the
dashboard follow on their own (``conditions.py``) once the days they read were updated.

First tick (no cursor): ``FINANCE_SENSOR_BOOTSTRAP=skip`` (default) records the files
already there as seen and requests nothing (materialize history with a backfill);
``all`` treats every existing file as new.

Why a sensor of our own: Dagster's automation conditions react to assets it materialized or
observed, not to files appearing in a folder or bucket; what changed in the landing zone (a
file added, replaced or removed in an old day's folder) has to be found by listing it.
"""

import base64
import hashlib
import json
import zlib
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta

import dagster as dg

from finance_assets.automation.tags import BATCH_TAG, TRIGGER_TAG
from finance_assets.contract import DATASETS, Dataset
from finance_assets.lake import tables
from finance_assets.lake.partitions import (
    RANGE_END_TAG,
    RANGE_START_TAG,
    Partitioning,
    next_day,
    next_month,
)
from finance_assets.landing.resource import LandingResource
from finance_assets.landing.retry import with_retries
from finance_assets.landing.zone import LandingFile, LandingMissing
from finance_assets.settings import Settings

LANDING_SENSOR = "landing_sensor"
LANDING = "landing"
CURSOR_VERSION = 2
DIGEST_BYTES = 6  # 48 bits: a changed folder goes unnoticed with odds of 1 in 2**48
MAX_FOLDERS_LOGGED = 20


@dataclass(frozen=True)
class Step:
    """One run: these assets over the inclusive partition range [start, end]."""

    assets: tuple[str, ...]
    start: str
    end: str

    @property
    def asset_keys(self) -> list[dg.AssetKey]:
        return [dg.AssetKey.from_user_string(a) for a in self.assets]

    def describe(self) -> str:
        where = self.start + (f"..{self.end}" if self.end != self.start else "")
        return f"{len(self.assets)} asset(s) {where}"

    def run_request(self, run_key: str, tags: Mapping[str, str]) -> dg.RunRequest:
        if self.start == self.end:
            return dg.RunRequest(
                run_key=run_key,
                asset_selection=self.asset_keys,
                partition_key=self.start,
                tags=dict(tags),
            )
        return dg.RunRequest(
            run_key=run_key,
            asset_selection=self.asset_keys,
            tags={**tags, RANGE_START_TAG: self.start, RANGE_END_TAG: self.end},
        )


def consecutive_steps(
    needs: Mapping[date, frozenset[str]], next_key: Callable[[date], date]
) -> list[Step]:
    """Group partitions into steps: consecutive partitions with the same assets share a run.

    ``needs`` maps a partition's start date to the assets it needs; ``next_key(d)`` is the
    partition after ``d``. Partitions that are not consecutive never share a step.
    """
    steps: list[Step] = []
    run: list = []  # [start, end, assets]
    for day in sorted(needs):
        if run and run[2] == needs[day] and next_key(run[1]) == day:
            run[1] = day
            continue
        if run:
            steps.append(Step(tuple(sorted(run[2])), run[0].isoformat(), run[1].isoformat()))
        run = [day, day, needs[day]]
    if run:
        steps.append(Step(tuple(sorted(run[2])), run[0].isoformat(), run[1].isoformat()))
    return steps


def user_strings(keys: Iterable[dg.AssetKey]) -> frozenset[str]:
    return frozenset(k.to_user_string() for k in keys)


def folder_key(dataset: str, day: date) -> str:
    return f"{dataset}/{day.isoformat()}"


def parse_folder_key(key: str) -> tuple[str, date]:
    dataset, _, day = key.partition("/")
    return dataset, date.fromisoformat(day)


def folder_digests(files: Iterable[LandingFile]) -> dict[str, str]:
    """Per drop folder, a digest of its files' keys and versions (mtime+size or ETag)."""
    by_folder: dict[str, list[str]] = defaultdict(list)
    for f in files:
        by_folder[folder_key(f.dataset, f.partition_date)].append(f"{f.uri}\t{f.version}")
    return {
        key: hashlib.sha256("\n".join(sorted(entries)).encode()).hexdigest()[: DIGEST_BYTES * 2]
        for key, entries in by_folder.items()
    }


def encode_cursor(folders: Mapping[str, str]) -> str:
    """The folder digests, compactly: per dataset, one 6-byte slot per day since its first folder.

    Dagster stores the cursor with every tick (one a minute), so it is kept small: about
    3 KB per dataset and year of history, instead of a JSON object of every file.
    """
    by_dataset: dict[str, dict[date, bytes]] = defaultdict(dict)
    for key, digest in folders.items():
        dataset, day = parse_folder_key(key)
        by_dataset[dataset][day] = bytes.fromhex(digest)
    encoded = {}
    for dataset, days in sorted(by_dataset.items()):
        first, last = min(days), max(days)
        slots = bytearray(DIGEST_BYTES * ((last - first).days + 1))
        for day, digest in days.items():
            offset = DIGEST_BYTES * (day - first).days
            slots[offset : offset + DIGEST_BYTES] = digest
        packed = base64.b64encode(zlib.compress(bytes(slots), 9)).decode()
        encoded[dataset] = {"first": first.isoformat(), "digests": packed}
    return json.dumps({"v": CURSOR_VERSION, "datasets": encoded}, separators=(",", ":"))


def decode_cursor(cursor: str | None) -> dict[str, str] | None:
    if not cursor:
        return None
    data = json.loads(cursor)
    if data.get("v") != CURSOR_VERSION:
        raise ValueError(f"landing sensor cursor version {data.get('v')!r} is not supported")
    folders = {}
    empty = bytes(DIGEST_BYTES)
    for dataset, packed in data["datasets"].items():
        first = date.fromisoformat(packed["first"])
        slots = zlib.decompress(base64.b64decode(packed["digests"]))
        for i in range(len(slots) // DIGEST_BYTES):
            digest = slots[DIGEST_BYTES * i : DIGEST_BYTES * (i + 1)]
            if digest != empty:
                folders[folder_key(dataset, first + timedelta(days=i))] = digest.hex()
    return folders


def changed_folders(
    previous: Mapping[str, str], current: Mapping[str, str], datasets: Iterable[str]
) -> tuple[set[str], dict[str, str], list[str]]:
    """Folders that are new, changed or gone; the new cursor; warnings.

    A dataset whose listing came back empty while the cursor knew files for it is left as
    it was (warning): an unmounted share or a wrong prefix must not look like "every file
    was deleted" and empty every bronze partition.
    """
    changed: set[str] = set()
    new_cursor: dict[str, str] = {}
    warnings = []
    for dataset in datasets:
        prefix = f"{dataset}/"
        before = {k: v for k, v in previous.items() if k.startswith(prefix)}
        now = {k: v for k, v in current.items() if k.startswith(prefix)}
        if before and not now:
            warnings.append(
                f"No {dataset} files listed although {len(before)} folder(s) were seen before; "
                "leaving them as they were (is the landing zone mounted?)"
            )
            new_cursor.update(before)
            continue
        changed |= {k for k, v in now.items() if before.get(k) != v}
        changed |= {k for k in before if k not in now}
        new_cursor.update(now)
    return changed, new_cursor, warnings


def _downstream_with_same_partitions(
    graph, partitions: Partitioning, dataset: Dataset
) -> frozenset[str]:
    """The dataset's bronze asset and everything downstream of it with its partitions."""
    selected = dg.AssetSelection.assets(tables.bronze(dataset).key).downstream().resolve(graph)
    same = partitions.of(dataset.cadence)
    return user_strings(
        key
        for key in selected
        if graph.get(key).is_materializable and graph.get(key).partitions_def == same
    )


def plan_steps(
    changed: Iterable[str], graph, partitions: Partitioning
) -> tuple[list[Step], list[str]]:
    """The runs for the changed folders, and folders that are not partitions."""
    day_needs: dict[date, set[str]] = defaultdict(set)
    month_needs: dict[date, set[str]] = defaultdict(set)
    ignored = []
    cache: dict[str, frozenset[str]] = {}
    for key in sorted(changed):
        name, day = parse_folder_key(key)
        dataset = DATASETS[name]
        if name not in cache:
            cache[name] = _downstream_with_same_partitions(graph, partitions, dataset)
        if dataset.is_monthly and day.day != 1:
            ignored.append(key)
            continue
        if not partitions.of(dataset.cadence).has_partition_key(day.isoformat()):
            ignored.append(key)
            continue
        (month_needs if dataset.is_monthly else day_needs)[day] |= cache[name]
    steps = consecutive_steps({d: frozenset(a) for d, a in day_needs.items() if a}, next_day)
    steps += consecutive_steps({m: frozenset(a) for m, a in month_needs.items() if a}, next_month)
    return steps, ignored


def _listing_range(partitions: Partitioning, monthly: bool) -> tuple[date, date] | None:
    partitions_def = partitions.monthly if monthly else partitions.daily
    first, last = partitions_def.get_first_partition_key(), partitions_def.get_last_partition_key()
    if first is None or last is None:
        return None
    return date.fromisoformat(first), date.fromisoformat(last)


def list_landing(
    landing: LandingResource, partitions: Partitioning, logger=None
) -> list[LandingFile]:
    """Every drop file of every dataset within the partitions, retrying transient errors."""
    files: list[LandingFile] = []
    for dataset in DATASETS.values():
        window = _listing_range(partitions, dataset.is_monthly)
        if window is None:
            continue
        start, end = window  # for budgets: first days of the first and last months
        try:
            files += with_retries(
                lambda d=dataset, s=start, e=end: landing.list_files(d.name, s, e),
                what=f"listing {dataset.name} landing files",
                logger=logger,
            )
        except LandingMissing as exc:
            # Seen as "nothing listed": changed_folders() leaves what it saw before untouched.
            if logger is not None:
                logger.warning(str(exc))
    return files


def batch_id(previous: Mapping[str, str], current: Mapping[str, str], changed: set[str]) -> str:
    """Deterministic id for this set of changes (same changes, same id, same run keys)."""
    text = json.dumps(
        sorted((k, previous.get(k), current.get(k)) for k in changed), separators=(",", ":")
    )
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def build_landing_sensor(partitions: Partitioning, config: Settings) -> dg.SensorDefinition:
    bronze_keys = [tables.bronze(d).key for d in DATASETS.values()]

    @dg.sensor(
        name=LANDING_SENSOR,
        minimum_interval_seconds=config.landing_sensor_interval_seconds,
        default_status=(
            dg.DefaultSensorStatus.RUNNING
            if config.ops_default_running
            else dg.DefaultSensorStatus.STOPPED
        ),
        asset_selection=dg.AssetSelection.assets(*bronze_keys).downstream(),
        description=(
            "Notices new, changed or removed landing files (local mtime+size, S3 ETag) and "
            "re-materializes exactly the affected partitions: bronze and everything "
            "downstream with the same partitions (monthly gold follows by automation). "
            f"First tick: FINANCE_SENSOR_BOOTSTRAP={config.sensor_bootstrap}."
        ),
    )
    def landing_sensor(context: dg.SensorEvaluationContext, landing: LandingResource):
        previous = decode_cursor(context.cursor)
        files = list_landing(landing, partitions, context.log)
        current = folder_digests(files)
        if previous is None and config.sensor_bootstrap == "skip":
            return dg.SensorResult(
                skip_reason=(
                    f"First tick: recorded {len(current)} existing drop folder(s) as seen "
                    "(FINANCE_SENSOR_BOOTSTRAP=skip); new or changed files will be picked up "
                    "from now on. Materialize history with a backfill."
                ),
                cursor=encode_cursor(current),
            )
        previous = previous or {}
        # Folders outside the partitions (e.g. before a moved start) are simply forgotten.
        changed, new_cursor, warnings = changed_folders(previous, current, DATASETS)
        for warning in warnings:
            context.log.warning(warning)
        if not changed:
            return dg.SensorResult(
                skip_reason="No new or changed landing files.", cursor=encode_cursor(new_cursor)
            )
        graph = context.repository_def.asset_graph
        steps, ignored = plan_steps(changed, graph, partitions)
        shown = sorted(changed)[:MAX_FOLDERS_LOGGED]
        context.log.info(
            f"{len(changed)} changed drop folder(s): {', '.join(shown)}"
            + (" ..." if len(changed) > len(shown) else "")
        )
        if ignored:
            context.log.warning(f"Not partitions of this deployment, ignored: {ignored}")
        if not steps:
            return dg.SensorResult(
                skip_reason="Changed folders are outside the partitions.",
                cursor=encode_cursor(new_cursor),
            )
        batch = batch_id(previous, current, changed)
        context.log.info(
            f"Batch {batch}: {len(steps)} run(s): " + "; ".join(step.describe() for step in steps)
        )
        tags = {TRIGGER_TAG: LANDING, BATCH_TAG: batch}
        requests = [
            step.run_request(f"{LANDING}:{batch}:{i}", tags) for i, step in enumerate(steps)
        ]
        return dg.SensorResult(run_requests=requests, cursor=encode_cursor(new_cursor))

    return landing_sensor
