"""A dry run's store: reads go to the archive, writes are recorded and discarded.

A dry run (``RunPlan.dry_run``) crawls, cleans and decides like any run; the runner hands every part of it this
store instead of the archive, so no writer needs to know it is a dry run and nothing reaches the archive. What
would have been written stays listed (:attr:`DiscardingStore.discarded`) for the run's report.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from feedvault.store.backends import ObjectInfo, Store, StoreStats, validate_key

DISCARDED_VERSION = "dry-run"  # what a discarded compare-and-swap write returns as the object's new version


@dataclass(frozen=True)
class DiscardedWrite:
    operation: str  # put, put_file, put_if, delete
    key: str
    size: int = 0


class DiscardingStore:
    """``inner`` for reads; every write is checked like a real one (key safety), recorded, and dropped."""

    def __init__(self, inner: Store) -> None:
        self.inner = inner
        self.uri = inner.uri
        self.stats: StoreStats = inner.stats  # the reads it makes; a discarded write is no request
        self.discarded: list[DiscardedWrite] = []
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"DiscardingStore({self.inner!r})"

    def _record(self, operation: str, key: str, size: int = 0) -> None:
        validate_key(key)  # a write the archive would refuse is refused here too
        with self._lock:
            self.discarded.append(DiscardedWrite(operation, key, size))

    # -- writes: recorded, not made ------------------------------------------------------------------------
    def put_bytes(
        self,
        key: str,
        data: bytes,
        content_type: str = "application/octet-stream",
        metadata: dict[str, str] | None = None,
    ) -> None:
        self._record("put", key, len(data))

    def put_file(self, key: str, path: Path, content_type: str = "application/octet-stream") -> None:
        self._record("put_file", key, path.stat().st_size)

    def put_if(self, key: str, data: bytes, version: str | None, content_type: str = "application/json") -> str:
        self._record("put_if", key, len(data))
        return DISCARDED_VERSION

    def delete(self, keys: Iterable[str]) -> int:
        requested = list(keys)
        for key in requested:
            self._record("delete", key)
        return len(requested)

    # -- reads: the archive's -------------------------------------------------------------------------------
    def get_bytes(self, key: str, start: int | None = None, length: int | None = None) -> bytes:
        return self.inner.get_bytes(key, start, length)

    def head(self, key: str) -> ObjectInfo | None:
        return self.inner.head(key)

    def get_versioned(self, key: str) -> tuple[bytes, str]:
        return self.inner.get_versioned(key)

    def list(self, prefix: str) -> Iterator[ObjectInfo]:
        return self.inner.list(prefix)

    def would_write(self) -> dict[str, Any]:
        """What the run would have written: the objects (each key once, its last size), their bytes, the objects
        by top-level folder (``clean``, ``raw``, ``state``...), and the deletes."""
        with self._lock:
            writes = list(self.discarded)
        last = {w.key: w.size for w in writes if w.operation != "delete"}
        by_folder = Counter(key.split("/", 1)[0] for key in last)
        deletes = {w.key for w in writes if w.operation == "delete"}
        return {
            "objects": len(last),
            "bytes": sum(last.values()),
            "by_folder": dict(by_folder),
            "deletes": len(deletes),
        }
