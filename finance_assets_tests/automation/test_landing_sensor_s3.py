"""The landing sensor on S3 (moto's S3 server on 127.0.0.1): new and changed objects, by ETag."""

from datetime import date

import boto3
import dagster as dg
import pytest
from dagster_aws.s3 import S3Resource

from finance_assets.automation.landing_sensor import LANDING_SENSOR, decode_cursor
from finance_assets.automation.tags import BATCH_TAG, TRIGGER_TAG
from finance_assets.contract import ORDERS as ORDERS_DATASET
from finance_assets.definitions import load_definitions
from finance_assets.gold.tables import gold_tables
from finance_assets.lake import tables
from finance_assets.lake.partitions import RANGE_END_TAG, RANGE_START_TAG
from finance_assets.landing.resource import LandingResource
from finance_assets.settings import Settings
from finance_assets_tests.support.s3_server import moto_s3_server

BUCKET, PREFIX = "drops", "finance/landing"
ORDERS = "order_id,order_date,customer_id,product_category,order_amount,order_status\n"
ORDERS_LAYERS = {
    tables.bronze(ORDERS_DATASET).key,
    tables.silver(ORDERS_DATASET).key,
    tables.quarantine(ORDERS_DATASET).key,
}
DAILY_GOLD = {t.table.key for t in gold_tables() if t.cadence == "daily"}
MONTHLY_GOLD = {t.table.key for t in gold_tables() if t.cadence == "monthly"}


def _assert_one_orders_day(request: dg.RunRequest, day: str) -> None:
    """A run of one day: orders' layers and the daily gold they feed (the exact selection is
    test_landing_sensor.py's); monthly gold follows by its automation condition, not here."""
    selected = set(request.asset_selection)
    assert request.partition_key == day
    assert RANGE_START_TAG not in request.tags and RANGE_END_TAG not in request.tags
    assert selected >= ORDERS_LAYERS | DAILY_GOLD
    assert not selected & MONTHLY_GOLD
    assert {k for k in selected if k.path[0] == "bronze"} == {tables.bronze(ORDERS_DATASET).key}
    assert request.tags[TRIGGER_TAG] == "landing"


@pytest.fixture(scope="module")
def endpoint():
    with moto_s3_server() as url:
        yield url


@pytest.fixture
def s3(endpoint):
    client = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
    client.create_bucket(Bucket=BUCKET)
    yield client
    for obj in client.list_objects_v2(Bucket=BUCKET).get("Contents", []):
        client.delete_object(Bucket=BUCKET, Key=obj["Key"])
    client.delete_bucket(Bucket=BUCKET)


def _put(s3, dataset: str, day: str, name: str, body: str) -> None:
    s3.put_object(Bucket=BUCKET, Key=f"{PREFIX}/{dataset}/{day}/{name}", Body=body.encode())


def test_sensor_sees_new_and_changed_s3_objects_by_etag(s3, endpoint, tmp_path, monkeypatch):
    monkeypatch.delenv("FINANCE_SENSOR_BOOTSTRAP", raising=False)
    _put(s3, "orders", "2024-01-01", "a.csv", ORDERS + "1,2024-01-01,C1,Books,1.00,PENDING\n")
    _put(s3, "orders", "2024-01-02", "a.csv", ORDERS + "2,2024-01-02,C1,Books,1.00,PENDING\n")
    uri = f"s3://{BUCKET}/{PREFIX}"
    defs = load_definitions(
        Settings(
            landing_uri=uri,
            lake_uri=str(tmp_path / "lake"),
            partitions_start=date(2024, 1, 1),
            partitions_end=date(2024, 1, 31),
        )
    )
    landing = LandingResource(
        uri=uri, s3=S3Resource(endpoint_url=endpoint, region_name="us-east-1")
    )
    sensor = defs.resolve_sensor_def(LANDING_SENSOR)
    cursor = None

    def tick():
        nonlocal cursor
        with dg.build_sensor_context(
            instance=instance, definitions=defs, cursor=cursor, resources={"landing": landing}
        ) as context:
            result = sensor(context)
        cursor = result.cursor
        return result

    with dg.instance_for_test() as instance:
        first = tick()
        assert not first.run_requests
        assert set(decode_cursor(first.cursor)) == {"orders/2024-01-01", "orders/2024-01-02"}

        # Same key, new content: the ETag changes, so does that day.
        _put(s3, "orders", "2024-01-01", "a.csv", ORDERS + "1,2024-01-01,C1,Books,2.00,PENDING\n")
        (request,) = tick().run_requests
        _assert_one_orders_day(request, "2024-01-01")

        # Rewritten with identical bytes: same ETag, nothing to do.
        _put(s3, "orders", "2024-01-01", "a.csv", ORDERS + "1,2024-01-01,C1,Books,2.00,PENDING\n")
        assert not tick().run_requests

        # A late file for an old day, and a new day: two separate runs, never a range.
        _put(s3, "orders", "2024-01-02", "late.csv", ORDERS + "3,2024-01-02,C2,Toys,5.00,PENDING\n")
        _put(s3, "orders", "2024-01-04", "a.csv", ORDERS + "4,2024-01-04,C2,Toys,5.00,PENDING\n")
        late, new = tick().run_requests
        _assert_one_orders_day(late, "2024-01-02")
        _assert_one_orders_day(new, "2024-01-04")
        # One batch (one set of changes), one run key each.
        assert late.tags[BATCH_TAG] == new.tags[BATCH_TAG]
        assert late.run_key != new.run_key
        assert set(decode_cursor(cursor)) == {
            "orders/2024-01-01",
            "orders/2024-01-02",
            "orders/2024-01-04",
        }
