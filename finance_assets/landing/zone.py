"""The landing zone: list and open raw drops in a local folder or under ``s3://bucket/prefix``.

Listing happens on the driver (keys only, never contents). Opening happens wherever the
bytes are parsed, usually inside Spark tasks, so every function here is importable and
picklable without a Dagster context. How S3 is reached (endpoint, region, profile, TLS,
retries, credentials) travels with the work as :class:`S3Options`; transient S3 errors are
retried by botocore with exponential backoff.
"""

from __future__ import annotations

import io
import logging
import os
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import BinaryIO
from urllib.parse import unquote, urlparse

log = logging.getLogger(__name__)

DATE_FOLDER = r"\d{4}-\d{2}-\d{2}"
"""A drop folder's name: its business date, YYYY-MM-DD."""
_DATE_FOLDER = re.compile(f"^{DATE_FOLDER}$")
S3_RETRY_ATTEMPTS = 8


@dataclass(frozen=True)
class S3Options:
    """How to reach S3-compatible storage: every setting of dagster-aws's ``S3Resource`` the
    landing zone uses, carried into the Spark tasks that open the files (pickled with them).

    Credentials left unset come from boto3's usual chain (environment, profile, instance
    role); given ones are never shown by ``repr``.
    """

    endpoint_url: str | None = None
    region: str | None = None
    profile_name: str | None = None
    use_ssl: bool = True
    verify: bool | None = None
    max_attempts: int = S3_RETRY_ATTEMPTS
    retry_mode: str = "standard"
    unsigned: bool = False
    access_key_id: str | None = field(default=None, repr=False)
    secret_access_key: str | None = field(default=None, repr=False)
    session_token: str | None = field(default=None, repr=False)

    def client(self):
        import boto3
        from botocore import UNSIGNED
        from botocore.config import Config

        session = boto3.session.Session(
            profile_name=self.profile_name,
            aws_access_key_id=self.access_key_id,
            aws_secret_access_key=self.secret_access_key,
            aws_session_token=self.session_token,
        )
        # Attempts in all, the first included (as AWS_MAX_ATTEMPTS and S3Resource mean it).
        retries = {"total_max_attempts": self.max_attempts, "mode": self.retry_mode}
        config = Config(retries=retries)
        if self.unsigned:
            config = config.merge(Config(signature_version=UNSIGNED))
        return session.client(
            "s3",
            endpoint_url=self.endpoint_url,
            region_name=self.region,
            use_ssl=self.use_ssl,
            verify=self.verify,
            config=config,
        )


@dataclass(frozen=True)
class LandingFile:
    """One CSV file in a drop folder. ``version`` changes whenever the file's content does."""

    uri: str
    dataset: str
    partition_date: date
    size: int
    version: str


def is_s3(uri: str) -> bool:
    return uri.startswith(("s3://", "s3a://"))


def split_s3(uri: str) -> tuple[str, str]:
    parsed = urlparse(uri)
    return parsed.netloc, parsed.path.lstrip("/")


def local_path(uri: str) -> Path:
    """A local path from a plain path or a ``file://`` URI."""
    if uri.startswith("file://"):
        return Path(unquote(urlparse(uri).path))
    return Path(uri)


def normalize_uri(uri: str) -> str:
    """An absolute URI: ``s3://...`` as given, local folders as absolute ``file://`` URIs."""
    if is_s3(uri):
        return "s3://" + uri.split("://", 1)[1].rstrip("/")
    return local_path(uri).resolve().as_uri()


def join_uri(base: str, *parts: str) -> str:
    return "/".join([base.rstrip("/"), *(p.strip("/") for p in parts)])


def parse_partition_folder(name: str) -> date | None:
    """The business date a drop folder stands for, or None when the name is not a date."""
    if not _DATE_FOLDER.match(name):
        return None
    try:
        return date.fromisoformat(name)
    except ValueError:
        return None


class LandingMissing(FileNotFoundError):
    """The landing root or a dataset's folder is not there.

    Never the same as "no files": a mistyped path or an unmounted share must stop a run before
    it writes anything, instead of replacing good partitions with empty ones.
    """


def _is_drop_file(name: str) -> bool:
    return name.lower().endswith(".csv") and not name.startswith((".", "_"))


def list_files(
    landing_uri: str,
    dataset: str,
    start: date,
    end: date,
    s3: S3Options | None = None,
) -> list[LandingFile]:
    """Every drop file of ``dataset`` whose folder date lies in ``[start, end]``, sorted.

    Raises :class:`LandingMissing` when the landing root or the dataset's folder (on S3: any
    object under ``<prefix>/<dataset>/``) does not exist; an existing folder with no files in
    the range is simply an empty list.
    """
    root = normalize_uri(landing_uri)
    if is_s3(root):
        found = _list_s3(root, dataset, start, end, s3 or S3Options())
    else:
        found = _list_local(root, dataset, start, end)
    return sorted(found, key=lambda f: (f.partition_date, f.uri))


def require_dataset_folders(
    landing_uri: str, datasets: Iterable[str], s3: S3Options | None = None
) -> None:
    """Raise :class:`LandingMissing` unless the landing root and every dataset folder exist."""
    from botocore.exceptions import ClientError

    root = normalize_uri(landing_uri)
    for dataset in datasets:
        if is_s3(root):
            bucket, prefix = split_s3(root)
            dataset_prefix = f"{prefix}/{dataset}/" if prefix else f"{dataset}/"
            options = s3 or S3Options()
            client = options.client()
            endpoint = options.endpoint_url or "AWS S3"
            try:
                _require_prefix(client, bucket, dataset_prefix, endpoint)
            except client.exceptions.NoSuchBucket as exc:
                raise LandingMissing(
                    f"Landing bucket {bucket!r} does not exist at {endpoint}"
                ) from exc
            except ClientError as exc:
                where = f"Cannot list s3://{bucket}/{dataset_prefix} at {endpoint}"
                raise permanent_s3_error(exc, where) or exc from exc
        else:
            _require_local_folder(root, dataset)


def _require_local_folder(root: str, dataset: str) -> Path:
    base = local_path(root)
    if not base.is_dir():
        raise LandingMissing(f"Landing folder {base} does not exist")
    folder = base / dataset
    if not folder.is_dir():
        raise LandingMissing(f"Landing folder {base} has no {dataset}/ folder ({folder})")
    return folder


def _list_local(root: str, dataset: str, start: date, end: date) -> Iterator[LandingFile]:
    folder = _require_local_folder(root, dataset)
    for day_dir in folder.iterdir():
        day = parse_partition_folder(day_dir.name)
        if day is None:
            if day_dir.is_dir():
                log.warning("Ignoring landing folder %s: not a YYYY-MM-DD date", day_dir)
            continue
        if not (start <= day <= end) or not day_dir.is_dir():
            continue
        for file in day_dir.iterdir():
            if file.is_file() and _is_drop_file(file.name):
                stat = file.stat()
                yield LandingFile(
                    uri=file.resolve().as_uri(),
                    dataset=dataset,
                    partition_date=day,
                    size=stat.st_size,
                    version=f"{stat.st_mtime_ns}-{stat.st_size}",
                )


def _list_s3(
    root: str, dataset: str, start: date, end: date, s3: S3Options
) -> Iterator[LandingFile]:
    from botocore.exceptions import ClientError

    bucket, prefix = split_s3(root)
    dataset_prefix = f"{prefix}/{dataset}/" if prefix else f"{dataset}/"
    endpoint = s3.endpoint_url or "AWS S3"
    client = s3.client()
    paginator = client.get_paginator("list_objects_v2")
    # Keys sort by folder date, so the listing can start just before the range.
    pages = paginator.paginate(
        Bucket=bucket, Prefix=dataset_prefix, StartAfter=f"{dataset_prefix}{start.isoformat()}"
    )
    try:
        found = 0
        for landing_file in _dated_objects(pages, bucket, dataset, dataset_prefix, start, end):
            found += 1
            yield landing_file
        if not found:
            _require_prefix(client, bucket, dataset_prefix, endpoint)
    except client.exceptions.NoSuchBucket as exc:
        raise LandingMissing(f"Landing bucket {bucket!r} does not exist at {endpoint}") from exc
    except ClientError as exc:
        where = f"Cannot list s3://{bucket}/{dataset_prefix} at {endpoint}"
        raise permanent_s3_error(exc, where) or exc from exc


def _require_prefix(client, bucket: str, dataset_prefix: str, endpoint: str) -> None:
    """An S3 "folder" exists when some object lives under it."""
    listed = client.list_objects_v2(Bucket=bucket, Prefix=dataset_prefix, MaxKeys=1)
    if not listed.get("KeyCount"):
        raise LandingMissing(
            f"Landing zone s3://{bucket}/{dataset_prefix} at {endpoint} holds no objects: "
            "no such dataset folder"
        )


def _dated_objects(pages, bucket, dataset, dataset_prefix, start, end) -> Iterator[LandingFile]:
    for page in pages:
        for obj in page.get("Contents", []):
            rest = obj["Key"][len(dataset_prefix) :]
            folder, _, name = rest.partition("/")
            day = parse_partition_folder(folder)
            if day is None or "/" in name or not _is_drop_file(name):
                continue
            if day > end:
                return
            if day >= start:
                yield LandingFile(
                    uri=f"s3://{bucket}/{obj['Key']}",
                    dataset=dataset,
                    partition_date=day,
                    size=obj["Size"],
                    version=obj["ETag"].strip('"'),
                )


def open_binary(uri: str, s3: S3Options | None = None) -> BinaryIO:
    """A readable binary stream over a landing file, local or on S3."""
    if is_s3(uri):
        body = _S3Body((s3 or S3Options()).client(), uri)
        return io.BufferedReader(body, buffer_size=1 << 20)
    return open(local_path(uri), "rb")  # noqa: SIM115 - the caller closes it


_DENIED = {"AccessDenied", "AllAccessDisabled", "InvalidAccessKeyId", "SignatureDoesNotMatch"}
_MISSING = {"NoSuchBucket", "NoSuchKey"}


def permanent_s3_error(exc, what: str) -> OSError | None:
    """An S3 error that retrying cannot fix, as the OSError that says so (naming ``what``):
    PermissionError for a denied request, FileNotFoundError for a missing bucket or key.
    None for anything else (throttling, server errors: botocore already retried those)."""
    error = exc.response.get("Error", {})
    code = error.get("Code", "")
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    detail = f"{code or status}: {error.get('Message') or 'no message'}"
    if code in _DENIED or status == 403:
        return PermissionError(f"{what}: access denied ({detail})")
    if code in _MISSING or status == 404:
        return FileNotFoundError(f"{what}: not found ({detail})")
    return None


class _S3Body(io.RawIOBase):
    """An S3 object as a raw stream that resumes where it stopped when a read breaks.

    A connection dropped in the middle of a body is transient: the object is asked for again
    from the next unread byte (a Range request), on condition that it is still the same
    object (``IfMatch`` its ETag), so no byte is read twice or from a newer version.

    (Wrapping botocore's StreamingBody also matters: used directly as a context manager, it
    hands out its urllib3 response, which reports itself closed after the last byte even
    while buffered text is still unread.)
    """

    def __init__(self, client, uri: str):
        self._client, self._uri = client, uri
        self._bucket, self._key = split_s3(uri)
        self._position, self._etag = 0, None
        self._body = self._open()

    def _open(self):
        from botocore.exceptions import ClientError

        extra = {}
        if self._position:
            extra = {"Range": f"bytes={self._position}-", "IfMatch": self._etag}
        try:
            response = self._client.get_object(Bucket=self._bucket, Key=self._key, **extra)
        except ClientError as exc:
            raise permanent_s3_error(exc, f"Cannot read {self._uri}") or exc from exc
        self._etag = self._etag or response.get("ETag")
        return response["Body"]

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        from botocore.exceptions import (
            ConnectionClosedError,
            IncompleteReadError,
            ReadTimeoutError,
            ResponseStreamingError,
        )

        broken = (
            ResponseStreamingError,
            IncompleteReadError,
            ReadTimeoutError,
            ConnectionClosedError,
            ConnectionError,
            TimeoutError,
        )
        for attempt in range(1, S3_RETRY_ATTEMPTS + 1):
            try:
                read = self._body.readinto(buffer)
                self._position += read
                return read
            except broken as exc:
                if attempt == S3_RETRY_ATTEMPTS:
                    raise
                log.warning(
                    "%s: read broke at byte %d (%s); resuming", self._uri, self._position, exc
                )
                self._body.close()
                self._body = self._open()
        raise AssertionError("unreachable")  # pragma: no cover

    def close(self) -> None:
        if not self.closed:
            self._body.close()
        super().close()


def write_bytes(uri: str, data: bytes, s3: S3Options | None = None) -> None:
    """Write one landing file (used by ``generate`` and ``land``)."""
    if is_s3(uri):
        bucket, key = split_s3(uri)
        (s3 or S3Options()).client().put_object(Bucket=bucket, Key=key, Body=data)
        return
    path = local_path(uri)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_bytes(data)
    tmp.replace(path)
