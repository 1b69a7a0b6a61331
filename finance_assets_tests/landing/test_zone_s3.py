"""The landing zone on S3 (contract section 1), against moto's standalone S3 server.

The server is a real HTTP endpoint on 127.0.0.1, found through ``AWS_ENDPOINT_URL_S3``
exactly as a deployment would find MinIO or AWS. The Spark session is started *before*
that variable is set, so Spark's Python workers do not inherit it: the end-to-end test
passes only if the product hands the endpoint to the code that opens files in tasks.
"""

from __future__ import annotations

import io
import time
from datetime import date
from decimal import Decimal
from pathlib import Path

import boto3
import dagster as dg
import pytest
from botocore.exceptions import ClientError
from dagster_aws.s3 import S3Resource

from finance_assets.cli import main
from finance_assets.lake.arrow import read_table
from finance_assets.landing.resource import CARRIED, CREDENTIALS, LandingResource
from finance_assets.landing.zone import (
    LandingMissing,
    S3Options,
    list_files,
    open_binary,
    write_bytes,
)
from finance_assets_tests.support.s3_server import moto_s3_server, reset, temporary_credentials

BUCKET = "bucket"
D1, D2 = date(2024, 1, 1), date(2024, 1, 2)


@pytest.fixture(scope="module")
def s3_endpoint(spark):
    """moto's S3 server for this module, announced through ``AWS_ENDPOINT_URL_S3``."""
    with pytest.MonkeyPatch.context() as mp, moto_s3_server() as endpoint:
        mp.setenv("AWS_ENDPOINT_URL_S3", endpoint)
        mp.delenv("AWS_ENDPOINT_URL", raising=False)
        yield endpoint


@pytest.fixture
def s3(s3_endpoint):
    """A client on an empty server holding one empty bucket."""
    reset(s3_endpoint)
    client = boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1")
    client.create_bucket(Bucket=BUCKET)
    return client


@pytest.fixture
def options(s3_endpoint) -> S3Options:
    return S3Options(endpoint_url=s3_endpoint, region="us-east-1")


def _put(s3, key: str, body: bytes | str = b"h\n") -> None:
    s3.put_object(Bucket=BUCKET, Key=key, Body=body.encode() if isinstance(body, str) else body)


def _uris(files) -> list[str]:
    return [f.uri for f in files]


# --- listing -----------------------------------------------------------------------------


LISTING_KEYS = [
    "landing/orders/2023-12-31/z.csv",
    "landing/orders/2024-01-01/a.csv",
    "landing/orders/2024-01-01/b.csv",
    "landing/orders/2024-01-01/notes.txt",
    "landing/orders/2024-01-01/.a.csv.tmp-1.csv",
    "landing/orders/2024-01-01/_SUCCESS",
    "landing/orders/2024-01-02/C.CSV",
    "landing/orders/2024-01-03/nested/d.csv",
    "landing/orders/2024-01-05/e.csv",
    "landing/orders/2024-13-01/bad-date.csv",
    "landing/orders/2024-01-01-old/f.csv",
    "landing/orders/archive/g.csv",
    "landing/orders/top-level.csv",
    "landing/orders-old/2024-01-01/h.csv",
    "landing/payments/2024-01-01/p.csv",
    "landing2/orders/2024-01-01/i.csv",
    "other/orders/2024-01-01/j.csv",
]


@pytest.fixture
def listing_bucket(s3):
    for key in LISTING_KEYS:
        _put(s3, key)
    return s3


def test_listing_keeps_dated_csv_files_only(listing_bucket, options) -> None:
    files = list_files(
        "s3://bucket/landing", "orders", date(2023, 1, 1), date(2024, 12, 31), options
    )

    assert [(f.uri, f.partition_date, f.dataset, f.size) for f in files] == [
        ("s3://bucket/landing/orders/2023-12-31/z.csv", date(2023, 12, 31), "orders", 2),
        ("s3://bucket/landing/orders/2024-01-01/a.csv", D1, "orders", 2),
        ("s3://bucket/landing/orders/2024-01-01/b.csv", D1, "orders", 2),
        ("s3://bucket/landing/orders/2024-01-02/C.CSV", D2, "orders", 2),
        ("s3://bucket/landing/orders/2024-01-05/e.csv", date(2024, 1, 5), "orders", 2),
    ]
    assert all(f.version for f in files)


def test_listing_root_spellings_and_env_endpoint(listing_bucket) -> None:
    """Trailing slash and ``s3a://`` name the same root; the endpoint may come from the env."""
    expected = ["s3://bucket/landing/orders/2024-01-02/C.CSV"]
    for root in ("s3://bucket/landing/", "s3a://bucket/landing", "s3://bucket/landing//"):
        assert _uris(list_files(root, "orders", D2, D2)) == expected, root


def test_listing_at_bucket_root(s3, options) -> None:
    _put(s3, "orders/2024-01-01/a.csv")
    _put(s3, "landing/orders/2024-01-01/b.csv")

    files = list_files("s3://bucket", "orders", D1, D1, options)

    assert _uris(files) == ["s3://bucket/orders/2024-01-01/a.csv"]


@pytest.mark.parametrize(
    ("start", "end", "expected"),
    [
        (D1, D1, ["2024-01-01/a.csv", "2024-01-01/b.csv"]),
        (D2, date(2024, 1, 4), ["2024-01-02/C.CSV"]),
        (date(2024, 1, 3), date(2024, 1, 4), []),
        (date(2024, 1, 5), date(2024, 1, 5), ["2024-01-05/e.csv"]),
        (
            date(2023, 12, 31),
            D2,
            ["2023-12-31/z.csv", "2024-01-01/a.csv", "2024-01-01/b.csv", "2024-01-02/C.CSV"],
        ),
        (date(2024, 2, 1), date(2024, 2, 29), []),
    ],
)
def test_listing_filters_by_folder_date(listing_bucket, options, start, end, expected) -> None:
    files = list_files("s3://bucket/landing", "orders", start, end, options)

    assert _uris(files) == [f"s3://bucket/landing/orders/{e}" for e in expected]
    assert all(start <= f.partition_date <= end for f in files)


def test_listing_starts_after_the_range_start(listing_bucket, options, monkeypatch) -> None:
    """The server is asked for keys after the start folder, so older drops are never paged."""
    requests: list[dict] = []
    returned: list[str] = []
    make_client = S3Options.client

    def recording_client(self):
        client = make_client(self)
        client.meta.events.register(
            "provide-client-params.s3.ListObjectsV2", lambda params, **_: requests.append(params)
        )
        client.meta.events.register(
            "after-call.s3.ListObjectsV2",
            lambda parsed, **_: returned.extend(o["Key"] for o in parsed.get("Contents", [])),
        )
        return client

    monkeypatch.setattr(S3Options, "client", recording_client)

    files = list_files("s3://bucket/landing", "orders", D2, D2, options)

    assert _uris(files) == ["s3://bucket/landing/orders/2024-01-02/C.CSV"]
    assert requests, "list_files did not call ListObjectsV2"
    assert requests[0]["Prefix"] == "landing/orders/"
    assert requests[0]["StartAfter"] == "landing/orders/2024-01-02"
    assert not [k for k in returned if k < "landing/orders/2024-01-02/"]


def test_version_changes_when_content_changes(s3, options) -> None:
    key = "landing/orders/2024-01-01/a.csv"

    def listed():
        (only,) = list_files("s3://bucket/landing", "orders", D1, D1, options)
        return only

    _put(s3, key, "order_id\n1\n")
    first = listed()
    _put(s3, key, "order_id\n2\n")
    second = listed()
    _put(s3, key, "order_id\n2\n")
    third = listed()
    _put(s3, key, "order_id\n22\n")
    fourth = listed()

    assert first.version != second.version
    assert second.version == third.version, "same bytes re-uploaded: same ETag"
    assert fourth.version not in (first.version, second.version)
    assert fourth.size == len("order_id\n22\n")


def test_a_missing_dataset_folder_is_an_error_and_a_pruned_one_lists_nothing(s3, options):
    with pytest.raises(LandingMissing, match="s3://bucket/landing/budgets/"):
        list_files("s3://bucket/landing", "budgets", D1, D2, options)
    _put(s3, "landing/budgets/2023-12-01/budgets.csv")  # the folder exists, outside the range
    assert list_files("s3://bucket/landing", "budgets", D1, D2, options) == []


# --- open and write ----------------------------------------------------------------------


def test_write_bytes_then_open_binary_round_trip(s3, options) -> None:
    data = '\ufefforder_id,note\r\n1,"caf\u00e9, ""x"""\r\n'.encode() + bytes(range(256))
    uri = "s3://bucket/landing/orders/2024-01-01/round trip.csv"

    write_bytes(uri, data, options)

    with open_binary(uri, options) as stream:
        assert stream.read() == data
    with open_binary("s3a://bucket/landing/orders/2024-01-01/round trip.csv", options) as stream:
        assert stream.read() == data
    stored = s3.get_object(Bucket=BUCKET, Key="landing/orders/2024-01-01/round trip.csv")
    assert stored["Body"].read() == data
    (listed,) = list_files("s3://bucket/landing", "orders", D1, D1, options)
    assert (listed.uri, listed.size) == (uri, len(data))

    write_bytes(uri, b"replaced", options)
    with open_binary(uri) as stream:  # endpoint from AWS_ENDPOINT_URL_S3
        assert stream.read() == b"replaced"


@pytest.mark.parametrize("lines", [3, 50_000], ids=["small", "several-chunks"])
def test_open_binary_as_context_manager_reads_text_lines(s3, options, lines) -> None:
    """How bronze reads a file: ``with open_binary(...)`` wrapped in a TextIOWrapper.

    The stream must stay usable until the caller has consumed every buffered line, and
    ``with`` must hand back the stream itself (botocore's ``StreamingBody.__enter__``
    returns the raw urllib3 response instead, which reports itself closed at EOF).
    """
    text = "order_id,note\r\n" + "".join(f'{i},"a, ""b"""\r\n' for i in range(lines))
    uri = "s3://bucket/landing/orders/2024-01-01/lines.csv"
    _put(s3, "landing/orders/2024-01-01/lines.csv", text.encode())

    with open_binary(uri, options) as stream:
        read = list(io.TextIOWrapper(stream, encoding="utf-8-sig", newline=""))
        assert stream.readable()

    assert len(read) == lines + 1
    assert "".join(read) == text


def test_open_binary_of_a_missing_key_raises(s3, options) -> None:
    uri = "s3://bucket/landing/orders/2024-01-01/missing.csv"
    with pytest.raises(FileNotFoundError, match=f"Cannot read {uri}: not found") as info:
        open_binary(uri, options)
    assert isinstance(info.value.__cause__, ClientError)
    assert info.value.__cause__.response["Error"]["Code"] in ("NoSuchKey", "404")


# --- end to end --------------------------------------------------------------------------

LANDING = {
    "orders/2024-01-01/orders.csv": (
        "order_id,order_date,customer_id,product_category,order_amount,order_status\n"
        "1,2024-01-01,C1,Books,100.00,COMPLETED\n"
        "2,2024-01-01,c2,Toys,50.50,CANCELLED\n"
        "3,2024-01-01,C1,Books,$5,COMPLETED\n"  # the bad row: invalid_amount
    ),
    "orders/2024-01-02/orders.csv": (
        "Order ID,Order Date,Customer ID,Product Category,Order Amount,Order Status\r\n"
        '4,2024/01/02,C3,"Garden, Tools",200,pending\r\n'
    ),
    "payments/2024-01-01/payments.csv": (
        "payment_id,order_id,payment_date,paid_amount,payment_status,payment_method\n"
        "P1,1,2024-01-01,60.00,SUCCESS,CARD\n"
        "P2,2,2024-01-01,50.50,REFUNDED,UPI\n"
    ),
    "payments/2024-01-02/payments.csv": (
        "payment_id,order_id,payment_date,paid_amount,payment_status,payment_method\n"
        "P3,1,2024-01-02,40.00,SUCCESS,BANK_TRANSFER\n"
        "P4,4,2024-01-02,200.00,FAILED,CARD\n"
        "P5,99,2024-01-02,10.00,SUCCESS,UPI\n"
    ),
    "expenses/2024-01-01/expenses.csv": (
        "expense_id,department,expense_date,expense_category,expense_amount\n"
        "1,IT,2024-01-01,Software,30.00\n"
    ),
    "expenses/2024-01-02/expenses.csv": (
        "expense_id,department,expense_date,expense_category,expense_amount\n"
        "2,Sales,2024-01-02,Travel,20.25\n"
    ),
    "budgets/2024-01-01/budgets.csv": (
        "department,month,budget_amount\nIT,2024-01,1000.00\nSales,2024-01,10\n"
    ),
}
BRONZE_ROWS = {"orders": 4, "payments": 5, "expenses": 2, "budgets": 2}
SILVER_ROWS = {"orders": 3, "payments": 5, "expenses": 2, "budgets": 2}
TABLES = [
    *(f"silver/{d}" for d in BRONZE_ROWS),
    *(f"quarantine/{d}" for d in BRONZE_ROWS),
    "gold/daily_kpi",
    "gold/sales_performance",
    "gold/customer_360",
    "gold/unmatched_payments",
    "gold/financial_summary",
    "gold/monthly_financial_report",
    "gold/budget_vs_actual",
]
RUN_COLUMNS = {"_source_file", "_ingested_at", "_run_id"}


def _table(lake: Path, name: str):

    return read_table(str(lake / name))


def _rows(lake: Path, name: str) -> list[dict]:
    table = _table(lake, name)
    table = table.drop_columns([c for c in table.column_names if c in RUN_COLUMNS])
    rows = table.to_pylist()
    return sorted(rows, key=lambda r: [(v is None, str(v)) for v in r.values()])


def _by(rows: list[dict], column: str) -> dict:
    return {r[column]: r for r in rows}


def _materialize(landing: str, lake: Path, capsys) -> tuple[int, str]:
    code = main(
        [
            "materialize",
            "--landing",
            landing,
            "--lake",
            str(lake),
            "--start",
            "2024-01-01",
            "--end",
            "2024-01-02",
        ]
    )
    out = capsys.readouterr()
    return code, out.out + out.err


@pytest.mark.slow
def test_materialize_from_s3_matches_local_landing(spark, s3, tmp_path, capsys) -> None:
    local = tmp_path / "landing"
    for key, text in LANDING.items():
        _put(s3, f"landing/{key}", text)
        (local / key).parent.mkdir(parents=True, exist_ok=True)
        (local / key).write_bytes(text.encode())
    s3_lake, local_lake = tmp_path / "lake_s3", tmp_path / "lake_local"

    code, output = _materialize("s3://bucket/landing", s3_lake, capsys)
    assert code == 0, output

    for dataset, rows in BRONZE_ROWS.items():
        bronze = _table(s3_lake, f"bronze/{dataset}")
        assert bronze.num_rows == rows, dataset
        expected = {f"s3://bucket/landing/{k}" for k in LANDING if k.startswith(f"{dataset}/")}
        assert set(bronze.column("_source_file").to_pylist()) == expected
        assert _table(s3_lake, f"silver/{dataset}").num_rows == SILVER_ROWS[dataset], dataset
        assert set(_table(s3_lake, f"silver/{dataset}").column("_source_file").to_pylist()) <= (
            expected
        )
    (bad,) = _rows(s3_lake, "quarantine/orders")
    assert (bad["order_id"], bad["order_amount"], bad["_reason"]) == ("3", "$5", "invalid_amount")
    assert bad["_source_row"] == 3

    kpi = _by(_rows(s3_lake, "gold/daily_kpi"), "date")
    assert set(kpi) == {D1, D2}
    assert (kpi[D1]["revenue"], kpi[D1]["expenses"], kpi[D1]["profit"]) == (
        Decimal("60.00"),
        Decimal("30.00"),
        Decimal("30.00"),
    )
    assert (kpi[D2]["revenue"], kpi[D2]["expenses"], kpi[D2]["profit"]) == (
        Decimal("50.00"),
        Decimal("20.25"),
        Decimal("29.75"),
    )
    assert (kpi[D1]["orders_count"], kpi[D1]["order_value"]) == (2, Decimal("100.00"))
    assert (kpi[D2]["payment_attempts"], kpi[D2]["successful_payments"]) == (3, 2)
    assert kpi[D2]["failed_payments"] == 1 and kpi[D1]["refunded_payments"] == 1
    assert float(kpi[D2]["payment_success_rate_pct"]) == 66.67

    (summary,) = _rows(s3_lake, "gold/financial_summary")
    assert (summary["total_revenue"], summary["total_expenses"], summary["net_profit"]) == (
        Decimal("110.00"),
        Decimal("50.25"),
        Decimal("59.75"),
    )
    assert float(summary["expense_ratio_pct"]) == 45.68
    assert summary["orders_paid"] == 1

    budget = _by(_rows(s3_lake, "gold/budget_vs_actual"), "department")
    assert (budget["Sales"]["variance"], budget["Sales"]["is_overspent"]) == (
        Decimal("10.25"),
        True,
    )
    assert float(budget["Sales"]["variance_pct"]) == 102.5
    assert (budget["IT"]["actual_amount"], budget["IT"]["is_overspent"]) == (
        Decimal("30.00"),
        False,
    )

    sales = _by(_rows(s3_lake, "gold/sales_performance"), "order_id")
    assert (sales[1]["total_paid"], sales[1]["is_fully_paid"], sales[1]["last_payment_date"]) == (
        Decimal("100.00"),
        True,
        D2,
    )
    assert sales[4]["pending_amount"] == Decimal("200.00")
    assert sales[2]["pending_amount"] == Decimal("0.00")
    (unmatched,) = _rows(s3_lake, "gold/unmatched_payments")
    assert (unmatched["payment_id"], unmatched["paid_amount"]) == ("P5", Decimal("10.00"))

    code, output = _materialize(str(local), local_lake, capsys)
    assert code == 0, output
    for name in TABLES:
        assert _rows(s3_lake, name) == _rows(local_lake, name), name


# --- failures ----------------------------------------------------------------------------


def test_listing_a_missing_bucket_fails_fast(s3_endpoint, options) -> None:
    started = time.monotonic()
    with pytest.raises(FileNotFoundError, match="'no-such-bucket' does not exist") as info:
        list_files("s3://no-such-bucket/landing", "orders", D1, D2, options)
    assert isinstance(info.value.__cause__, ClientError)
    assert info.value.__cause__.response["Error"]["Code"] == "NoSuchBucket"
    assert time.monotonic() - started < 10


def test_materialize_from_a_missing_bucket_fails_clearly(spark, s3, tmp_path, capsys) -> None:
    started = time.monotonic()
    code, output = _materialize("s3://no-such-bucket/landing", tmp_path / "lake", capsys)
    elapsed = time.monotonic() - started

    assert code != 0
    summary = output.split("Failed steps:", 1)[-1].split("Not run because", 1)[0]
    assert "NoSuchBucket" in summary or "no-such-bucket" in summary, output
    assert elapsed < 20, f"a missing bucket took {elapsed:.1f} s to report"
    assert not (tmp_path / "lake" / "silver").exists()


# --- every S3 setting reaches the clients, credentials included ------------------------------


EVERY_SETTING = S3Resource(
    endpoint_url="http://127.0.0.1:9",
    region_name="eu-west-3",
    profile_name="operations",
    use_ssl=False,
    verify=False,
    max_attempts=3,
    use_unsigned_session=True,
    aws_access_key_id="AKIAEXAMPLEKEY",
    aws_secret_access_key="example-secret-value",
    aws_session_token="example-session-token",
)
EXPECTED_OPTIONS = S3Options(
    endpoint_url="http://127.0.0.1:9",
    region="eu-west-3",
    profile_name="operations",
    use_ssl=False,
    verify=False,
    max_attempts=3,
    retry_mode="adaptive",
    unsigned=True,
    access_key_id="AKIAEXAMPLEKEY",
    secret_access_key="example-secret-value",
    session_token="example-session-token",
)


def test_every_s3_resource_field_reaches_the_landing_options() -> None:
    assert set(S3Resource.model_fields) <= set(CARRIED), "a field would be dropped silently"
    landing = LandingResource(uri="s3://b/p", s3=EVERY_SETTING, s3_retry_mode="adaptive")
    assert landing.s3_options == EXPECTED_OPTIONS
    shown = repr(landing.s3_options)
    assert "example-secret-value" not in shown and "example-session-token" not in shown


@pytest.mark.parametrize(
    "field", ["endpoint_url", "use_ssl", "verify", "use_unsigned_session"], ids=str
)
def test_settings_native_reads_cannot_use_are_refused(field) -> None:
    value = {"endpoint_url": "http://h:1", "use_ssl": False, "verify": False}.get(field, True)
    with pytest.raises(Exception, match=field):
        LandingResource(uri="s3://b/p", s3=S3Resource(**{field: value}), native_reads=True)
    # Listing settings are fine there: the engine reads, the driver lists.
    LandingResource(uri="s3://b/p", s3=S3Resource(region_name="eu-west-3"), native_reads=True)


def test_the_environment_gives_every_setting_and_credentials_as_env_vars(monkeypatch) -> None:
    from finance_assets.defs.resources import LANDING, build_resources
    from finance_assets.settings import ConfigError, Settings

    environment = {
        "AWS_ENDPOINT_URL_S3": "http://127.0.0.1:9",
        "AWS_REGION": "eu-west-3",
        "AWS_PROFILE": "operations",
        "FINANCE_S3_USE_SSL": "false",
        "FINANCE_S3_VERIFY": "false",
        "AWS_MAX_ATTEMPTS": "3",
        "AWS_RETRY_MODE": "adaptive",
        "FINANCE_S3_UNSIGNED": "true",
        "AWS_ACCESS_KEY_ID": "AKIAEXAMPLEKEY",
        "AWS_SECRET_ACCESS_KEY": "example-secret-value",
        "AWS_SESSION_TOKEN": "example-session-token",
    }
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    landing = build_resources(Settings.load())[LANDING]
    # Credentials are configured by variable name: the UI and run records never see them.
    for field, variable in CREDENTIALS.items():
        assert getattr(landing.s3, field) == dg.EnvVar(variable)
    with dg.build_resources({"landing": landing}) as resources:
        assert resources.landing.s3_options == EXPECTED_OPTIONS

    monkeypatch.setenv("FINANCE_SPARK_MODE", "databricks")
    monkeypatch.setenv("DATABRICKS_HOST", "https://example.invalid")
    with pytest.raises(ConfigError, match="AWS_ENDPOINT_URL_S3, FINANCE_S3_USE_SSL"):
        build_resources(Settings.load())


def test_the_options_reach_the_clients_in_spark_tasks(spark) -> None:
    """The options travel with the task; a client built there has every setting."""
    import pyarrow as pa

    options = EXPECTED_OPTIONS.__class__(**{**EXPECTED_OPTIONS.__dict__, "profile_name": None})

    def describe(batches):
        from botocore import UNSIGNED

        for _ in batches:
            client = options.client()
            config = client.meta.config
            seen = {
                "options": repr((options, options.secret_access_key, options.session_token)),
                "endpoint": client.meta.endpoint_url,
                "region": client.meta.region_name,
                "retries": repr(sorted(config.retries.items())),
                "unsigned": str(config.signature_version is UNSIGNED),
            }
            yield pa.RecordBatch.from_pylist([seen])

    schema = "options string, endpoint string, region string, retries string, unsigned string"
    (row,) = spark.range(1).mapInArrow(describe, schema).collect()
    assert row["options"] == repr((options, "example-secret-value", "example-session-token"))
    assert row["endpoint"] == "http://127.0.0.1:9" and row["region"] == "eu-west-3"
    assert row["retries"] == repr([("mode", "adaptive"), ("total_max_attempts", 3)])
    assert row["unsigned"] == "True"


def test_a_profile_names_the_credentials(tmp_path, monkeypatch) -> None:
    config = tmp_path / "credentials"
    config.write_text(
        "[operations]\naws_access_key_id = AKIAPROFILE\naws_secret_access_key = from-profile\n"
    )
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(config))
    client = S3Options(profile_name="operations", region="eu-west-3").client()
    assert client._request_signer._credentials.access_key == "AKIAPROFILE"


@pytest.mark.slow
def test_credentials_reach_the_tasks_that_read_the_files(spark, tmp_path, capsys, monkeypatch):
    """An S3 endpoint that checks signatures, credentials only this process's environment
    holds (Spark's Python workers started before they were set and still hold others): the
    run succeeds only if the credentials travel to the tasks with the landing settings. They
    never appear in the output."""
    with moto_s3_server(authenticate=True) as endpoint:
        credentials = temporary_credentials(endpoint)
        client = boto3.client(
            "s3",
            endpoint_url=endpoint,
            region_name="us-east-1",
            aws_access_key_id=credentials["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=credentials["AWS_SECRET_ACCESS_KEY"],
            aws_session_token=credentials["AWS_SESSION_TOKEN"],
        )
        client.create_bucket(Bucket=BUCKET)
        for key, text in LANDING.items():
            client.put_object(Bucket=BUCKET, Key=f"landing/{key}", Body=text.encode())
        monkeypatch.setenv("AWS_ENDPOINT_URL_S3", endpoint)
        for name, value in credentials.items():
            monkeypatch.setenv(name, value)
        code, output = _materialize(f"s3://{BUCKET}/landing", tmp_path / "lake", capsys)

    assert code == 0, output
    for dataset, rows in BRONZE_ROWS.items():
        assert _table(tmp_path / "lake", f"bronze/{dataset}").num_rows == rows, dataset
    for name in ("AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        assert credentials[name] not in output, name
