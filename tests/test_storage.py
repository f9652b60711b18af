"""The Store contract, run against a real SeaweedFS (S3Store) and a directory (FileStore)."""

from __future__ import annotations

import io
import math
import os
import random
import socket
import threading
import time
import tracemalloc
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from feedvault.config import StorageSettings
from feedvault.store.backends import (
    MIN_PART_SIZE,
    BucketNotFound,
    FileStore,
    NotFound,
    S3Store,
    StorageError,
    Store,
    VersionConflict,
    open_store,
)
from feedvault.store.s3_client import Credentials, make_s3_client


def ops(store: Store) -> dict[str, int]:
    return dict(store.stats.by_operation)


# ---------------------------------------------------------------------------------------------- contract


def test_put_get_and_ranged_get(any_store: Store) -> None:
    data = bytes(range(256)) * 4
    any_store.put_bytes("a/b/c.bin", data, "application/octet-stream", {"feed": "x"})
    assert any_store.get_bytes("a/b/c.bin") == data
    assert any_store.get_bytes("a/b/c.bin", start=10, length=5) == data[10:15]
    assert any_store.get_bytes("a/b/c.bin", start=1000) == data[1000:]
    assert any_store.get_bytes("a/b/c.bin", length=3) == data[:3]
    assert ops(any_store)["GetObject"] == 4  # one request per read, ranged or not
    any_store.put_bytes("a/b/c.bin", b"replaced")
    assert any_store.get_bytes("a/b/c.bin") == b"replaced"
    with pytest.raises(NotFound):
        any_store.get_bytes("a/b/missing")
    with pytest.raises(ValueError, match="outside"):
        any_store.get_bytes("a/b/c.bin", start=100, length=5)


def test_head(any_store: Store) -> None:
    any_store.put_bytes("x/y.json", b"{}")
    info = any_store.head("x/y.json")
    assert info is not None and (info.key, info.size) == ("x/y.json", 2)
    assert info.last_modified
    assert any_store.head("x/nope.json") is None
    assert any_store.head("x") is None  # a "directory" is not an object


def test_list_is_recursive_sorted_and_paged(any_store: Store) -> None:
    keys = [f"p/{a}/{b}.txt" for a in ("b", "a", "c") for b in range(8)] + ["p/a.txt", "q/other", "p/ab/z"]
    random.Random(1).shuffle(keys)
    for key in keys:
        any_store.put_bytes(key, key.encode())
    any_store.page_size = 7  # type: ignore[attr-defined]
    before = ops(any_store).get("ListObjectsV2", 0)

    under_p = sorted(k for k in keys if k.startswith("p/"))
    listed = list(any_store.list("p/"))
    assert [o.key for o in listed] == under_p
    assert all(o.size == len(o.key) for o in listed)
    assert ops(any_store)["ListObjectsV2"] - before == math.ceil(len(under_p) / 7)

    assert [o.key for o in any_store.list("p/a")] == sorted(k for k in keys if k.startswith("p/a"))
    assert [o.key for o in any_store.list("")] == sorted(keys)
    assert list(any_store.list("nothing/")) == []


def test_more_than_1000_keys_from_threads(any_store: Store) -> None:
    """Paging and DeleteObjects batching past S3's 1000 limit; stats stay exact under concurrency."""
    keys = [f"many/{i:05d}" for i in range(1050)]
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda k: any_store.put_bytes(k, b"x"), keys))
    assert any_store.stats.write_requests == 1050
    assert any_store.stats.bytes_written == 1050
    assert [o.key for o in any_store.list("many/")] == keys
    assert ops(any_store)["ListObjectsV2"] == 2

    assert any_store.delete([*keys, "many/never-existed"]) == 1051
    assert ops(any_store)["DeleteObjects"] == 2
    assert list(any_store.list("many/")) == []


def test_delete_is_batched_and_ignores_missing(any_store: Store) -> None:
    for i in range(5):
        any_store.put_bytes(f"d/{i}", b"1")
    any_store.put_bytes("keep", b"1")
    any_store.delete_batch = 2  # type: ignore[attr-defined]
    assert any_store.delete(f"d/{i}" for i in range(6)) == 6
    assert ops(any_store)["DeleteObjects"] == 3
    assert [o.key for o in any_store.list("")] == ["keep"]
    assert any_store.delete([]) == 0
    assert ops(any_store)["DeleteObjects"] == 3


UNSAFE_KEYS = [
    "",
    "/abs",
    "a//b",
    "a/./b",
    "a/../b",
    "..",
    "trailing/",
    "x" * 256,
    "a/" + "y" * 256,
    "tab\there",
    "new\nline",
    "caf\u00e9",
    "https://example.com/a",  # contains '//'
]


@pytest.mark.parametrize("key", UNSAFE_KEYS)
def test_unsafe_keys_are_rejected_before_any_request(any_store: Store, key: str) -> None:
    calls = [
        lambda: any_store.put_bytes(key, b"x"),
        lambda: any_store.get_bytes(key),
        lambda: any_store.head(key),
        lambda: any_store.delete(["ok", key]),
    ]
    for call in calls:
        with pytest.raises(ValueError, match="unsafe storage key") as err:
            call()
        assert repr(key) in str(err.value)
    assert any_store.stats.write_requests == any_store.stats.read_requests == 0


def test_longest_safe_segment_is_accepted(any_store: Store) -> None:
    key = "seg/" + "z" * 255
    any_store.put_bytes(key, b"ok")
    assert any_store.get_bytes(key) == b"ok"


def test_conditional_write_lets_exactly_one_of_two_writers_win(any_store: Store) -> None:
    """Compare-and-swap, for objects read, changed and written back by concurrent runs (a feed's seen state)."""
    key = "state/cas.json"
    created = any_store.put_if(key, b"v1", None)
    with pytest.raises(VersionConflict):
        any_store.put_if(key, b"again", None)  # create-only: it exists now
    data, version = any_store.get_versioned(key)
    assert (data, version) == (b"v1", created)

    second = any_store.put_if(key, b"v2", version)  # writer A read v1 and wins
    assert second != version and any_store.get_versioned(key) == (b"v2", second)
    with pytest.raises(VersionConflict):
        any_store.put_if(key, b"v2-from-b", version)  # writer B read v1 too: it loses, nothing is overwritten
    assert any_store.get_bytes(key) == b"v2"

    any_store.delete([key])
    with pytest.raises(VersionConflict):
        any_store.put_if(key, b"v3", second)  # deleted since it was read
    with pytest.raises(NotFound):
        any_store.get_versioned(key)


def test_conditional_writes_from_threads_lose_no_update(any_store: Store) -> None:
    """Read-modify-write loops racing on one key: every increment lands (the check and the write are atomic)."""
    key = "state/counter.json"
    any_store.put_if(key, b"0", None)
    first_reads = threading.Barrier(4)  # the first four increments all read "0": three of them must lose

    def increment(n: int) -> int:
        for attempt in range(200):
            data, version = any_store.get_versioned(key)
            if n < 4 and attempt == 0:
                first_reads.wait(timeout=30)
            try:
                any_store.put_if(key, str(int(data) + 1).encode(), version)
                return attempt
            except VersionConflict:
                continue
        raise AssertionError("never won")

    with ThreadPoolExecutor(max_workers=4) as pool:
        retries = list(pool.map(increment, range(24)))
    assert any_store.get_bytes(key) == b"24"
    assert sum(retries) >= 3  # the writers really raced


def test_put_file_round_trip(any_store: Store, tmp_path: Path) -> None:
    source = tmp_path / "src.bin"
    source.write_bytes(os.urandom(50_000))
    any_store.put_file("files/src.bin", source)
    assert any_store.get_bytes("files/src.bin") == source.read_bytes()
    assert any_store.stats.bytes_written == 50_000


class FailingReader(io.BytesIO):
    """A source that breaks after ``fail_after`` read calls (a disk error mid-upload)."""

    def __init__(self, data: bytes, fail_after: int) -> None:
        super().__init__(data)
        self.calls = 0
        self.fail_after = fail_after

    def read(self, size: int | None = -1) -> bytes:
        self.calls += 1
        if self.calls > self.fail_after:
            raise OSError("simulated read failure")
        return super().read(size)


def test_failed_upload_leaves_nothing(any_store: Store, tmp_path: Path) -> None:
    if isinstance(any_store, S3Store):
        any_store.multipart_threshold, any_store.part_size = 64 * 1024, MIN_PART_SIZE
    data = os.urandom(12 * 1024 * 1024)  # S3: three 5 MiB parts; file: 1 MiB copy chunks
    with pytest.raises(StorageError, match="simulated"):
        any_store.put_fileobj("half/obj", FailingReader(data, fail_after=2), len(data))  # type: ignore[attr-defined]
    assert any_store.head("half/obj") is None
    assert list(any_store.list("")) == []
    if isinstance(any_store, S3Store):
        uploads = any_store.client.list_multipart_uploads(Bucket=any_store.bucket).get("Uploads", [])
        assert uploads == []
        assert ops(any_store)["UploadPart"] == 2
        assert ops(any_store)["AbortMultipartUpload"] == 1
    else:
        assert [p for p in (tmp_path / "store").rglob("*") if p.is_file()] == []


def test_s3_multipart_upload_is_counted_exactly(s3_store: S3Store, tmp_path: Path) -> None:
    s3_store.multipart_threshold = 64 * 1024
    s3_store.part_size = 1  # raised to S3's 5 MiB minimum
    source = tmp_path / "big.bin"
    source.write_bytes(os.urandom(3 * MIN_PART_SIZE + 1000))
    s3_store.put_file("big/big.bin", source)
    assert s3_store.get_bytes("big/big.bin") == source.read_bytes()
    assert ops(s3_store) == {
        "CreateMultipartUpload": 1,
        "UploadPart": 4,
        "CompleteMultipartUpload": 1,
        "GetObject": 1,
    }
    assert s3_store.stats.write_requests == 6
    assert s3_store.stats.bytes_written == source.stat().st_size
    head = s3_store.head("big/big.bin")
    assert head is not None and head.size == source.stat().st_size


def test_s3_file_uploads_never_hold_a_part_in_memory(s3_store: S3Store, tmp_path: Path) -> None:
    """A rolled WARC or segment is uploaded streamed from its file (the crawl's peak memory must not grow with
    the uploads it makes): Python allocates under half a part (botocore hashes it in 1 MiB reads) while a multipart and a single PUT run."""
    s3_store.multipart_threshold, s3_store.part_size = 6 * 1024 * 1024, MIN_PART_SIZE
    for name, size in (("multipart", 3 * MIN_PART_SIZE + 1000), ("single", 6 * 1024 * 1024)):
        source = tmp_path / f"{name}.bin"
        source.write_bytes(os.urandom(size))
        s3_store.put_file("warm/up", tmp_path / "multipart.bin")  # botocore's lazily built parts are not the upload
        tracemalloc.start()
        try:
            s3_store.put_file(f"big/{name}.bin", source)
            _current, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert peak < MIN_PART_SIZE // 2, f"{name}: {peak} bytes allocated during the upload"
        assert s3_store.get_bytes(f"big/{name}.bin") == source.read_bytes()


def test_stats_are_exact(any_store: Store) -> None:
    any_store.page_size = 2  # type: ignore[attr-defined]
    for i in range(5):
        any_store.put_bytes(f"s/{i}", b"abc")
    any_store.get_bytes("s/0")
    any_store.get_bytes("s/1", start=1, length=1)
    any_store.head("s/2")
    any_store.head("s/none")
    assert len(list(any_store.list("s/"))) == 5
    any_store.delete([f"s/{i}" for i in range(5)])
    stats = any_store.stats.snapshot()
    assert (stats["write_requests"], stats["read_requests"], stats["bytes_written"]) == (6, 7, 15)
    assert stats["by_operation"] == {
        "PutObject": 5,
        "GetObject": 2,
        "HeadObject": 2,
        "ListObjectsV2": 3,
        "DeleteObjects": 1,
    }


# ------------------------------------------------------------------------------------------------- S3 errors


def test_wrong_secret_is_refused_clearly(s3_storage: tuple[StorageSettings, Credentials]) -> None:
    settings, creds = s3_storage
    store = open_store(settings, Credentials(creds.access_key_id, "not-the-secret"))
    with pytest.raises(StorageError, match=r"access refused.*credentials"):
        store.put_bytes("k", b"v")


def test_missing_bucket_is_named(s3_storage: tuple[StorageSettings, Credentials]) -> None:
    settings, creds = s3_storage
    other = settings.model_copy(update={"uri": "s3://no-such-bucket-here/archive"})
    store = open_store(other, creds)
    with pytest.raises(BucketNotFound, match="'no-such-bucket-here' does not exist"):
        store.put_bytes("k", b"v")
    with pytest.raises(BucketNotFound):
        list(store.list(""))


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_server_down_fails_fast_with_a_hint() -> None:
    settings = StorageSettings(
        uri="s3://bucket/archive", endpoint_url=f"http://127.0.0.1:{_closed_port()}", max_attempts=3
    )
    store = open_store(settings, Credentials("k", "s"))
    started = time.monotonic()
    with pytest.raises(StorageError, match=r"not reachable.*server running"):
        store.get_bytes("x")
    assert time.monotonic() - started < 10


# ---------------------------------------------------------------------------------------- factory & schemes


def test_open_store_by_scheme(tmp_path: Path) -> None:
    file_store = open_store(StorageSettings(uri=f"file://{tmp_path}/arch"))
    assert isinstance(file_store, FileStore) and file_store.root == tmp_path / "arch"
    assert isinstance(file_store, Store)

    settings = StorageSettings(uri="s3://my-bucket/some/prefix", endpoint_url="http://127.0.0.1:1", max_attempts=4)
    client = make_s3_client(settings, Credentials("k", "s"))
    s3_store = open_store(settings, client=client)
    assert isinstance(s3_store, S3Store)
    assert (s3_store.bucket, s3_store.prefix, s3_store.uri) == ("my-bucket", "some/prefix/", settings.uri)
    assert s3_store.client is client


def test_client_configuration(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3"):
        monkeypatch.delenv(name, raising=False)
    custom = make_s3_client(StorageSettings(endpoint_url="http://127.0.0.1:9", max_attempts=7), Credentials("k", "s"))
    assert custom.meta.endpoint_url == "http://127.0.0.1:9"
    assert custom.meta.config.retries == {"mode": "standard", "total_max_attempts": 7}
    assert custom.meta.config.s3 == {"addressing_style": "path"}
    assert custom.meta.config.signature_version == "s3v4"

    aws = make_s3_client(StorageSettings(region="eu-west-1"), Credentials("k", "s"))
    assert aws.meta.region_name == "eu-west-1"
    assert not (aws.meta.config.s3 or {}).get("addressing_style")


def test_credentials_repr_hides_secret() -> None:
    creds = Credentials("AKID", "very-secret", "token-value")
    assert "very-secret" not in repr(creds) and "token-value" not in repr(creds)
    assert "AKID" in str(creds)
    assert creds.env()["AWS_SECRET_ACCESS_KEY"] == "very-secret"


def test_file_store_fsyncs_every_object(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An archive on disk is durable: each object is on disk before its key appears."""
    synced: list[int] = []
    real_fsync = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (synced.append(fd), real_fsync(fd))[1])
    store = FileStore(tmp_path / "archive")
    store.put_bytes("a/b.json", b"{}")
    assert len(synced) == 1 and store.get_bytes("a/b.json") == b"{}"
