"""Archive storage behind one small protocol, chosen by URI scheme (like Scrapy's ``STORE_SCHEMES``).

``s3://bucket/prefix`` -> :class:`S3Store` (boto3, explicit retries); ``file:///path`` -> :class:`FileStore`.
Every write is all-or-nothing: an object is either absent or complete (S3 PUT / completed multipart upload;
a local temp file renamed into place).

Both stores count requests in :attr:`Store.stats`. :class:`FileStore` counts the requests S3 would need for
the same calls (one per put/get/head, one per list page, one per delete batch) so numbers compare across
backends.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import hashlib
import os
import tempfile
import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from itertools import islice
from pathlib import Path
from typing import IO, Any, ClassVar, Protocol, TypeVar, runtime_checkable
from urllib.parse import unquote, urlsplit

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionError,
    NoCredentialsError,
    PartialCredentialsError,
)
from s3transfer.utils import ReadFileChunk

from feedvault.config import StorageSettings
from feedvault.redact import redact
from feedvault.store.s3_client import Credentials, make_s3_client

T = TypeVar("T")

MULTIPART_THRESHOLD = 16 * 1024 * 1024
PART_SIZE = 16 * 1024 * 1024
MIN_PART_SIZE = 5 * 1024 * 1024  # S3 (and SeaweedFS) refuse smaller parts except the last: EntityTooSmall
MAX_PARTS = 10_000
PAGE_SIZE = 1000  # S3's maximum for ListObjectsV2 and DeleteObjects
MAX_SEGMENT_BYTES = 255
COPY_CHUNK = 1024 * 1024


@dataclass(frozen=True)
class ObjectInfo:
    key: str
    size: int
    etag: str | None = None
    last_modified: str | None = None


@dataclass
class StoreStats:
    """Request counters, for benchmarks and run summaries (thread-safe through :meth:`count`)."""

    write_requests: int = 0  # PUT, multipart create/part/complete/abort, copy, delete
    read_requests: int = 0  # GET, HEAD, LIST
    bytes_written: int = 0
    by_operation: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()  # not a field: asdict()/copy of the counters stay possible

    def count(self, operation: str, *, write: bool, nbytes: int = 0) -> None:
        with self._lock:
            if write:
                self.write_requests += 1
            else:
                self.read_requests += 1
            self.bytes_written += nbytes
            self.by_operation[operation] = self.by_operation.get(operation, 0) + 1

    def snapshot(self) -> dict[str, Any]:
        """A consistent copy of the counters (for summaries written while requests may still run)."""
        with self._lock:
            return asdict(self)


@runtime_checkable
class Store(Protocol):
    uri: str
    stats: StoreStats

    def put_bytes(
        self,
        key: str,
        data: bytes,
        content_type: str = "application/octet-stream",
        metadata: dict[str, str] | None = None,
    ) -> None: ...

    def put_file(self, key: str, path: Path, content_type: str = "application/octet-stream") -> None:
        """Upload a local file (multipart above a threshold; aborted on failure, never half-visible)."""

    def get_bytes(self, key: str, start: int | None = None, length: int | None = None) -> bytes:
        """Whole object, or ``length`` bytes from ``start`` (one ranged GET). Raises ``NotFound``."""

    def head(self, key: str) -> ObjectInfo | None: ...

    def get_versioned(self, key: str) -> tuple[bytes, str]:
        """The object and its version (ETag), for a later :meth:`put_if`. Raises ``NotFound``."""

    def put_if(self, key: str, data: bytes, version: str | None, content_type: str = "application/json") -> str:
        """Write only if the object is still at ``version`` (None: only if it does not exist); returns the new
        version. Raises ``VersionConflict`` when another writer got there first (read again, merge, retry)."""

    def list(self, prefix: str) -> Iterator[ObjectInfo]:
        """Every object under ``prefix``, recursively, in key order."""

    def delete(self, keys: Iterable[str]) -> int:
        """Delete keys (batched); returns how many were requested. Missing keys are not an error."""


class NotFound(KeyError):
    pass


class StorageError(RuntimeError):
    """A storage operation failed after retries; the message says what to check."""


class BucketNotFound(StorageError):
    """The store's bucket does not exist."""


class VersionConflict(StorageError):
    """A conditional write lost: the object changed (or appeared) since it was read."""


def validate_key(key: str) -> str:
    """Return ``key`` if it is safe on S3 and on a file system alike, else raise ``ValueError`` naming it."""
    problem = None
    if not isinstance(key, str) or not key:
        problem = "is empty"
    elif any(not (" " <= ch <= "~") for ch in key):
        problem = "has characters outside printable ASCII"
    elif key.startswith("/"):
        problem = "starts with '/'"
    elif key.endswith("/"):
        problem = "ends with '/'"
    elif "//" in key:
        problem = "contains '//'"
    else:
        for segment in key.split("/"):
            if segment in (".", ".."):
                problem = f"has a {segment!r} segment"
            elif len(segment) > MAX_SEGMENT_BYTES:
                problem = f"has a segment longer than {MAX_SEGMENT_BYTES} bytes"
    if problem:
        raise ValueError(f"unsafe storage key {key!r}: it {problem}")
    return key


def validate_prefix(prefix: str) -> str:
    """A list prefix: empty, a valid key, or a valid key followed by ``/``."""
    if prefix:
        validate_key(prefix[:-1] if prefix.endswith("/") else prefix)
    return prefix


def _check_range(start: int | None, length: int | None) -> tuple[int, int | None]:
    start = start or 0
    if start < 0 or (length is not None and length < 0):
        raise ValueError(f"invalid range start={start} length={length}")
    return start, length


def read_many(
    store: Store, object_keys: Iterable[str], *, readers: int = 16, batch: int = 256
) -> Iterator[tuple[str, bytes | None]]:
    """``(key, bytes)`` for each key, in order, fetched by ``readers`` parallel GETs a ``batch`` at a time (memory:
    one batch); None for an object that is gone. For reading many manifests or state objects at once."""

    def read(key: str) -> bytes | None:
        try:
            return store.get_bytes(key)
        except NotFound:
            return None

    with ThreadPoolExecutor(max_workers=readers) as pool:
        for keys_now in batches(object_keys, batch):
            yield from zip(keys_now, pool.map(read, keys_now), strict=True)


def batches(items: Iterable[T], size: int) -> Iterator[list[T]]:
    """``items`` as lists of at most ``size``, taken as they are needed (memory: one list)."""
    it = iter(items)
    while batch := list(islice(it, size)):
        yield batch


# --------------------------------------------------------------------------------------------------------- S3


_NOT_FOUND_CODES = {"404", "NoSuchKey", "NotFound"}
# A conditional PUT lost (412), or raced another conditional PUT of the same key (409, AWS).
_CONFLICT_CODES = {"PreconditionFailed", "ConditionalRequestConflict"}
_AUTH_CODES = {"403", "AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "InvalidToken"}


class S3Store:
    """A bucket (and key prefix) of an S3-compatible server. Thread-safe."""

    scheme: ClassVar[str] = "s3"

    def __init__(
        self,
        client: Any,
        bucket: str,
        prefix: str = "",
        *,
        multipart_threshold: int = MULTIPART_THRESHOLD,
        part_size: int = PART_SIZE,
        page_size: int = PAGE_SIZE,
        delete_batch: int = PAGE_SIZE,
    ) -> None:
        self.client = client
        self.bucket = bucket
        prefix = prefix.strip("/")
        if prefix:
            validate_key(prefix)
        self.prefix = f"{prefix}/" if prefix else ""
        self.uri = f"s3://{bucket}/{prefix}" if prefix else f"s3://{bucket}"
        self.multipart_threshold = multipart_threshold
        self.part_size = part_size
        self.page_size = min(page_size, PAGE_SIZE)
        self.delete_batch = min(delete_batch, PAGE_SIZE)
        self.stats = StoreStats()

    @classmethod
    def from_settings(
        cls, storage: StorageSettings, credentials: Credentials | None = None, client: Any = None
    ) -> S3Store:
        parts = urlsplit(storage.uri)
        return cls(client or make_s3_client(storage, credentials), parts.netloc, parts.path)

    def __repr__(self) -> str:
        return f"S3Store({self.uri!r}, endpoint={redact(str(self.client.meta.endpoint_url))!r})"

    # -- helpers

    def _full(self, key: str) -> str:
        return self.prefix + validate_key(key)

    def _call(
        self,
        operation: str,
        key: str | None = None,
        *,
        write: bool,
        nbytes: int = 0,
        tolerate: tuple[str, ...] = (),
        **kwargs: Any,
    ) -> Any:
        """One counted S3 request, with botocore errors turned into ``NotFound``/``StorageError``.

        Error codes in ``tolerate`` return ``None`` instead of raising.
        """
        self.stats.count(operation, write=write, nbytes=nbytes)
        method = getattr(self.client, _snake(operation))
        try:
            return method(Bucket=self.bucket, **kwargs)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in tolerate:
                return None
            raise self._error(exc, operation, key) from exc
        except (BotoCoreError, ConnectionError) as exc:
            raise self._error(exc, operation, key) from exc

    def _error(self, exc: Exception, operation: str, key: str | None) -> Exception:
        endpoint = redact(str(self.client.meta.endpoint_url))
        what = f"S3 {operation} on s3://{self.bucket}/{self.prefix}{key or ''} at {endpoint} failed"
        if isinstance(exc, ClientError):
            error = exc.response.get("Error", {})
            code = str(error.get("Code", ""))
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            if code == "NoSuchBucket" or (key is None and status == 404):
                return BucketNotFound(f"{what}: bucket {self.bucket!r} does not exist (create it or fix the uri)")
            if code in _NOT_FOUND_CODES or status == 404:
                return NotFound(key)
            if code in _CONFLICT_CODES or status in (409, 412):
                return VersionConflict(f"{what}: {code or status}: another writer changed it first")
            if code == "InvalidRange":
                return ValueError(f"{what}: the requested range is outside the object")
            if code in _AUTH_CODES or status == 403:
                return StorageError(
                    f"{what}: access refused ({code or status}); check the credentials "
                    "(AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY) and the bucket policy"
                )
            return StorageError(f"{what}: {code or status}: {redact(str(error.get('Message', '')))}")
        if isinstance(exc, NoCredentialsError | PartialCredentialsError):
            return StorageError(f"{what}: no usable credentials (set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY)")
        if isinstance(exc, ConnectionError):
            return StorageError(f"{what}: endpoint not reachable (is the server running? is endpoint_url right?)")
        return StorageError(f"{what}: {redact(str(exc))}")

    # -- Store protocol

    def put_bytes(
        self,
        key: str,
        data: bytes,
        content_type: str = "application/octet-stream",
        metadata: dict[str, str] | None = None,
    ) -> None:
        full = self._full(key)
        extra = {"Metadata": metadata} if metadata else {}
        self._call(
            "PutObject", key, write=True, nbytes=len(data), Key=full, Body=data, ContentType=content_type, **extra
        )

    def put_file(self, key: str, path: Path, content_type: str = "application/octet-stream") -> None:
        """Upload a local file, each request's body streamed from the file: no part is ever held in memory (a
        rolled WARC's 16 MiB parts were, read whole and copied again by the HTTP client: the crawl's peak memory
        grew with the uploads a run makes while it crawls)."""
        with open(path, "rb") as fh:
            size = os.fstat(fh.fileno()).st_size

            def streamed(offset: int, length: int) -> ReadFileChunk:
                fh.seek(offset)
                return ReadFileChunk(fh, length, size, enable_callbacks=False)

            self._put_parts(key, size, content_type, streamed)

    def put_fileobj(
        self, key: str, fileobj: IO[bytes], size: int, content_type: str = "application/octet-stream"
    ) -> None:
        """Upload ``size`` bytes from ``fileobj`` (read a part at a time): one PUT, or multipart above the
        threshold."""
        self._put_parts(key, size, content_type, lambda _offset, length: _read_exactly(fileobj, length))

    def _put_parts(
        self, key: str, size: int, content_type: str, body: Callable[[int, int], bytes | ReadFileChunk]
    ) -> None:
        """One PUT of ``body(0, size)``, or a multipart upload of ``body(offset, length)`` parts (aborted on
        any failure, so nothing half-written stays)."""
        if size <= self.multipart_threshold:
            self._call(
                "PutObject",
                key,
                write=True,
                nbytes=size,
                Key=self._full(key),
                Body=body(0, size),
                ContentType=content_type,
            )
            return
        full = self._full(key)
        upload = self._call("CreateMultipartUpload", key, write=True, Key=full, ContentType=content_type)
        upload_id = upload["UploadId"]
        try:
            parts = []
            part_size = max(self.part_size, MIN_PART_SIZE, -(-size // MAX_PARTS))
            for offset in range(0, size, part_size):
                length = min(part_size, size - offset)
                number = len(parts) + 1
                done = self._call(
                    "UploadPart",
                    key,
                    write=True,
                    nbytes=length,
                    Key=full,
                    UploadId=upload_id,
                    PartNumber=number,
                    Body=body(offset, length),
                )
                parts.append({"PartNumber": number, "ETag": done["ETag"]})
            self._call(
                "CompleteMultipartUpload",
                key,
                write=True,
                Key=full,
                UploadId=upload_id,
                MultipartUpload={"Parts": parts},
            )
        except BaseException:
            with contextlib.suppress(StorageError, NotFound):
                self._call("AbortMultipartUpload", key, write=True, Key=full, UploadId=upload_id)
            raise

    def get_bytes(self, key: str, start: int | None = None, length: int | None = None) -> bytes:
        full = self._full(key)
        first, length = _check_range(start, length)
        if length == 0:
            return b""
        extra = {}
        if start is not None or length is not None:
            last = "" if length is None else str(first + length - 1)
            extra["Range"] = f"bytes={first}-{last}"
        return self._body(self._call("GetObject", key, write=False, Key=full, **extra), key)

    def _body(self, response: dict[str, Any], key: str) -> bytes:
        try:
            return response["Body"].read()
        except (BotoCoreError, ConnectionError) as exc:  # the connection broke while streaming the body
            raise self._error(exc, "GetObject", key) from exc

    def head(self, key: str) -> ObjectInfo | None:
        try:
            response = self._call("HeadObject", key, write=False, Key=self._full(key))
        except NotFound:
            return None
        return ObjectInfo(key, response["ContentLength"], response.get("ETag"), _iso(response.get("LastModified")))

    def get_versioned(self, key: str) -> tuple[bytes, str]:
        response = self._call("GetObject", key, write=False, Key=self._full(key))
        return self._body(response, key), response["ETag"]

    def put_if(self, key: str, data: bytes, version: str | None, content_type: str = "application/json") -> str:
        """A conditional PUT (``If-Match``, or ``If-None-Match: *`` to create). AWS S3, SeaweedFS, MinIO and R2
        honour them; a server that ignores the headers makes this a plain PUT (last writer wins)."""
        condition = {"IfMatch": version} if version is not None else {"IfNoneMatch": "*"}
        try:
            response = self._call(
                "PutObject",
                key,
                write=True,
                nbytes=len(data),
                Key=self._full(key),
                Body=data,
                ContentType=content_type,
                **condition,
            )
        except NotFound:  # If-Match on an object deleted since it was read
            raise VersionConflict(f"{self.uri}/{key} was deleted since it was read") from None
        return str(response["ETag"])

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        """All pages are fetched before the first item: SeaweedFS lists directory by directory (``a/0``
        before ``a.txt``), not in S3's byte order, so the listing is sorted here."""
        full = self.prefix + validate_prefix(prefix)
        found: list[ObjectInfo] = []
        token: dict[str, str] = {}
        while True:
            page = self._call("ListObjectsV2", prefix, write=False, Prefix=full, MaxKeys=self.page_size, **token)
            found.extend(
                ObjectInfo(
                    item["Key"][len(self.prefix) :], item["Size"], item.get("ETag"), _iso(item.get("LastModified"))
                )
                for item in page.get("Contents", [])
            )
            if not page.get("IsTruncated"):
                break
            token = {"ContinuationToken": page["NextContinuationToken"]}
        found.sort(key=lambda info: info.key)
        yield from found

    def delete(self, keys: Iterable[str]) -> int:
        keys = [validate_key(k) for k in keys]
        for batch in batches(keys, self.delete_batch):
            response = self._call(
                "DeleteObjects",
                write=True,
                Delete={"Objects": [{"Key": self.prefix + k} for k in batch], "Quiet": True},
            )
            if errors := response.get("Errors"):
                shown = ", ".join(f"{e.get('Key')}: {e.get('Code')}" for e in errors[:5])
                raise StorageError(f"S3 DeleteObjects in s3://{self.bucket} failed for {len(errors)} keys: {shown}")
        return len(keys)

    def ensure_bucket(self) -> None:
        """Create the bucket if it does not exist (embedded store and tests)."""
        try:
            self._call("HeadBucket", write=False)
            return
        except BucketNotFound:
            pass
        region = self.client.meta.region_name
        extra = {} if region in (None, "us-east-1") else {"CreateBucketConfiguration": {"LocationConstraint": region}}
        self._call("CreateBucket", write=True, tolerate=("BucketAlreadyOwnedByYou",), **extra)


def _snake(operation: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in operation).lstrip("_")


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value else None


def _read_exactly(fileobj: IO[bytes], size: int) -> bytes:
    try:
        data = fileobj.read(size)
    except OSError as exc:
        raise StorageError(f"cannot read the upload source: {exc}") from exc
    if len(data) != size:
        raise StorageError(f"upload source ended early: expected {size} bytes, got {len(data)} (file changed?)")
    return data


# ------------------------------------------------------------------------------------------------------ files


class FileStore:
    """A directory tree with the same contract as :class:`S3Store` (local runs, tests, air-gapped use).

    Content type and metadata are not kept. Temp files carry a non-ASCII marker so they can never be
    mistaken for (or listed as) keys, which are printable ASCII only.
    """

    scheme: ClassVar[str] = "file"
    _TMP_MARK = ".tmp\u00b7"

    def __init__(self, root: Path, *, page_size: int = PAGE_SIZE, delete_batch: int = PAGE_SIZE) -> None:
        self.root = Path(root).absolute()
        self.uri = self.root.as_uri()
        self.page_size = page_size
        self.delete_batch = delete_batch
        self.stats = StoreStats()

    @classmethod
    def from_settings(
        cls, storage: StorageSettings, credentials: Credentials | None = None, client: Any = None
    ) -> FileStore:
        return cls(Path(unquote(urlsplit(storage.uri).path)))

    def __repr__(self) -> str:
        return f"FileStore({self.uri!r})"

    def _path(self, key: str) -> Path:
        return self.root / validate_key(key)

    def _write(self, key: str, source: IO[bytes] | bytes, size: int) -> None:
        target = self._path(key)
        for attempt in range(3):  # a concurrent delete may prune the directory between mkdir and mkstemp
            try:
                target.parent.mkdir(parents=True, exist_ok=True)
                fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=self._TMP_MARK)
                break
            except FileNotFoundError:
                if attempt == 2:
                    raise StorageError(f"cannot create {target.parent}") from None
            except OSError as exc:
                raise StorageError(f"cannot write {target}: {exc} (is the directory writable?)") from exc
        try:
            with os.fdopen(fd, "wb") as out:
                if isinstance(source, bytes):
                    out.write(source)
                else:
                    for start in range(0, size, COPY_CHUNK):
                        out.write(_read_exactly(source, min(COPY_CHUNK, size - start)))
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, target)
        except BaseException as exc:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            if isinstance(exc, OSError):
                raise StorageError(f"cannot write {target}: {exc}") from exc
            raise

    def put_bytes(
        self,
        key: str,
        data: bytes,
        content_type: str = "application/octet-stream",
        metadata: dict[str, str] | None = None,
    ) -> None:
        self._path(key)
        self.stats.count("PutObject", write=True, nbytes=len(data))
        self._write(key, data, len(data))

    def put_file(self, key: str, path: Path, content_type: str = "application/octet-stream") -> None:
        with open(path, "rb") as fh:
            self.put_fileobj(key, fh, os.fstat(fh.fileno()).st_size, content_type)

    def put_fileobj(
        self, key: str, fileobj: IO[bytes], size: int, content_type: str = "application/octet-stream"
    ) -> None:
        self._path(key)
        self.stats.count("PutObject", write=True, nbytes=size)
        self._write(key, fileobj, size)

    def get_bytes(self, key: str, start: int | None = None, length: int | None = None) -> bytes:
        path = self._path(key)
        first, length = _check_range(start, length)
        if length == 0:
            return b""
        self.stats.count("GetObject", write=False)
        try:
            with open(path, "rb") as fh:
                if first and first >= os.fstat(fh.fileno()).st_size:
                    raise ValueError(f"range start={first} length={length} is outside {key!r}")
                fh.seek(first)
                return fh.read() if length is None else fh.read(length)
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            raise NotFound(key) from None
        except OSError as exc:
            raise StorageError(f"cannot read {path}: {exc}") from exc

    def head(self, key: str) -> ObjectInfo | None:
        path = self._path(key)
        self.stats.count("HeadObject", write=False)
        try:
            st = path.stat()
        except (FileNotFoundError, NotADirectoryError):
            return None
        if not path.is_file():
            return None
        return ObjectInfo(key, st.st_size, None, _iso(dt.datetime.fromtimestamp(st.st_mtime, dt.UTC)))

    def get_versioned(self, key: str) -> tuple[bytes, str]:
        data = self.get_bytes(key)
        return data, hashlib.sha256(data).hexdigest()

    def put_if(self, key: str, data: bytes, version: str | None, content_type: str = "application/json") -> str:
        """Compare and write under an exclusive ``flock`` of the key's directory (no lock files in the archive)."""
        target = self._path(key)
        self.stats.count("PutObject", write=True, nbytes=len(data))
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            directory = os.open(target.parent, os.O_RDONLY | os.O_DIRECTORY)
        except OSError as exc:
            raise StorageError(f"cannot write {target}: {exc} (is the directory writable?)") from exc
        try:
            fcntl.flock(directory, fcntl.LOCK_EX)
            try:
                current: str | None = hashlib.sha256(target.read_bytes()).hexdigest()
            except FileNotFoundError:
                current = None
            except OSError as exc:
                raise StorageError(f"cannot write {target}: {exc}") from exc
            if current != version:
                raise VersionConflict(f"{target} changed since it was read: another writer got there first")
            self._write(key, data, len(data))
        finally:
            os.close(directory)  # releases the lock
        return hashlib.sha256(data).hexdigest()

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        validate_prefix(prefix)
        base = self.root / prefix.rpartition("/")[0]
        keys = []
        for dirpath, _dirs, files in os.walk(base):
            rel = Path(dirpath).relative_to(self.root).as_posix()
            for name in files:
                key = name if rel == "." else f"{rel}/{name}"
                if key.startswith(prefix) and name.isascii():
                    keys.append(key)
        keys.sort()
        self.stats.count("ListObjectsV2", write=False)
        for n, key in enumerate(keys):
            if n and n % self.page_size == 0:
                self.stats.count("ListObjectsV2", write=False)
            try:
                st = (self.root / key).stat()
            except FileNotFoundError:  # deleted meanwhile
                continue
            yield ObjectInfo(key, st.st_size, None, _iso(dt.datetime.fromtimestamp(st.st_mtime, dt.UTC)))

    def delete(self, keys: Iterable[str]) -> int:
        keys = [validate_key(k) for k in keys]
        for batch in batches(keys, self.delete_batch):
            self.stats.count("DeleteObjects", write=True)
            for key in batch:
                path = self.root / key
                try:
                    path.unlink()
                except FileNotFoundError:
                    continue
                except OSError as exc:
                    raise StorageError(f"cannot delete {path}: {exc}") from exc
                self._prune(path.parent)
        return len(keys)

    def _prune(self, directory: Path) -> None:
        """Remove now-empty parent directories (a concurrent writer recreates what it needs)."""
        while directory != self.root and self.root in directory.parents:
            try:
                directory.rmdir()
            except OSError:
                return
            directory = directory.parent


STORE_SCHEMES: dict[str, type[S3Store] | type[FileStore]] = {"s3": S3Store, "file": FileStore}


def open_store(storage: StorageSettings, credentials: Credentials | None = None, client: Any = None) -> Store:
    """The store for ``storage.uri`` (``client`` overrides the S3 client, e.g. a shared one)."""
    scheme = urlsplit(storage.uri).scheme
    try:
        factory = STORE_SCHEMES[scheme]
    except KeyError:
        raise ValueError(f"unsupported storage scheme {scheme!r} in {storage.uri!r}") from None
    return factory.from_settings(storage, credentials=credentials, client=client)
