"""Archive storage behind one small protocol, chosen by URI scheme (like Scrapy's ``STORE_SCHEMES``).

``s3://bucket/prefix`` -> :class:`S3Store` (boto3, explicit retries); ``file:///path`` -> :class:`FileStore`.
Every write is all-or-nothing: an object is either absent or complete (S3 PUT / completed multipart upload;
a local temp file renamed into place).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, runtime_checkable


@dataclass(frozen=True)
class ObjectInfo:
    key: str
    size: int
    etag: str | None = None
    last_modified: str | None = None


@dataclass
class StoreStats:
    """Request counters, for benchmarks and run summaries."""

    write_requests: int = 0  # PUT, multipart create/part/complete, copy, delete
    read_requests: int = 0  # GET, HEAD, LIST
    bytes_written: int = 0
    by_operation: dict[str, int] = field(default_factory=dict)


@runtime_checkable
class Store(Protocol):
    uri: str
    stats: StoreStats

    def put_bytes(
        self, key: str, data: bytes, content_type: str = "application/octet-stream",
        metadata: dict[str, str] | None = None,
    ) -> None: ...

    def put_file(self, key: str, path: Path, content_type: str = "application/octet-stream") -> None:
        """Upload a local file (multipart above a threshold; aborted on failure, never half-visible)."""

    def get_bytes(self, key: str, start: int | None = None, length: int | None = None) -> bytes:
        """Whole object, or ``length`` bytes from ``start`` (one ranged GET). Raises ``NotFound``."""

    def head(self, key: str) -> ObjectInfo | None: ...

    def list(self, prefix: str) -> Iterator[ObjectInfo]:
        """Every object under ``prefix``, recursively, in key order."""

    def delete(self, keys: Iterable[str]) -> int:
        """Delete keys (batched); returns how many were requested. Missing keys are not an error."""


class NotFound(KeyError):
    pass


class StorageError(RuntimeError):
    """A storage operation failed after retries; the message says what to check."""
