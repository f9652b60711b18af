"""What a catalog backend offers: :class:`BrowseCatalog` to its readers, :class:`CatalogTables` to the indexer.

The web app, the API, the CLI and :class:`~feedvault.web.service.ArchiveService` use only
:class:`BrowseCatalog` (plus :class:`MaintainedCatalog` for `reindex`/`cdxj`), so a backend is added by
implementing these two protocols, without touching them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any, NamedTuple, Protocol, runtime_checkable

from feedvault.catalog.results import (
    DaySummary,
    FeedSummary,
    Page,
    Progress,
    RunSummary,
    SearchHit,
    Snapshot,
    SnapshotSummary,
    Tombstone,
)
from feedvault.store.backends import Store


class SnapshotRow(NamedTuple):
    """One clean snapshot as the catalog stores it (``text`` goes to the full-text index)."""

    id: str
    clean_key: str
    url: str
    url_key: str
    feed: str
    run_id: str
    day: str
    fetched_at: str
    title: str | None
    published: str | None
    language: str | None
    word_count: int | None
    sha256: str | None
    details: str  # JSON: DETAIL_FIELDS of the clean record
    usage: str  # JSON: the usage field
    text: str


class RunRow(NamedTuple):
    run_id: str
    day: str
    started_at: str | None
    finished_at: str | None
    seconds: float | None
    status: str
    trigger: str | None
    totals: str  # JSON
    feeds: str  # JSON list of feed ids
    bytes_written: int
    manifest_key: str


class FeedRunRow(NamedTuple):
    feed: str
    run_id: str
    status: str
    finished_at: str | None
    counts: str  # JSON
    permission: str | None  # JSON
    manifest_key: str | None


class RunRows(NamedTuple):
    """Everything the catalog holds of one run."""

    run: RunRow
    feeds: list[FeedRunRow]
    snapshots: Iterable[SnapshotRow]  # from a catalog, a stream read in batches: iterate it once


class TombstoneRow(NamedTuple):
    url_key: str
    url: str
    feed: str | None
    reason: str | None
    date: str | None
    removed: str  # JSON


@runtime_checkable
class BrowseCatalog(Protocol):
    """Reading the catalog: listings, search, snapshots, runs and tombstones. Bad input raises ValueError."""

    def feeds(self) -> list[FeedSummary]: ...
    def feed(self, feed_id: str) -> FeedSummary | None: ...
    def days(self, feed: str, page: int = 1, per_page: int = 31) -> Page[DaySummary]: ...
    def articles(self, feed: str, day: str | dt.date, page: int = 1, per_page: int = 50) -> Page[SnapshotSummary]: ...
    def articles_published(
        self, feed: str, day: str | dt.date, page: int = 1, per_page: int = 50
    ) -> Page[SnapshotSummary]: ...
    def day_snapshots(self, feed: str, day: str | dt.date) -> list[tuple[str, str]]: ...
    def snapshot_ids(
        self, *, feed: str | None = None, day: str | dt.date | None = None, run_id: str | None = None
    ) -> list[str]: ...
    def snapshot(self, snapshot_id: str) -> Snapshot | None: ...
    def history(self, url: str) -> list[SnapshotSummary]: ...
    def search(
        self,
        query: str,
        feed: str | None = None,
        date_from: str | dt.date | None = None,
        date_to: str | dt.date | None = None,
        language: str | None = None,
        page: int = 1,
        per_page: int = 20,
        published_from: str | dt.date | None = None,
        published_to: str | dt.date | None = None,
    ) -> Page[SearchHit]: ...
    def runs(self, page: int = 1, per_page: int = 20) -> Page[RunSummary]: ...
    def run(self, run_id: str) -> RunSummary | None: ...
    def tombstones(self, page: int = 1, per_page: int = 50) -> Page[Tombstone]: ...
    def is_tombstoned(self, url: str) -> bool: ...
    def counts(self) -> dict[str, int]: ...
    def warc_keys(self, run_id: str | None = None) -> list[str]: ...

    def sync(self, store: Store) -> bool:
        """Catch up with runs committed since it was opened; whether anything changed (a shared database: no-op)."""
        ...

    def close(self) -> None: ...
    def __enter__(self) -> Any: ...
    def __exit__(self, *exc: object) -> None: ...


@runtime_checkable
class MaintainedCatalog(BrowseCatalog, Protocol):
    """A catalog that is written (runs, takedowns), rebuilt from the archive and made visible to other readers."""

    def reindex(self, store: Store, progress: Progress | None = None) -> int:
        """Rebuild from the archive's committed runs; the number of snapshots indexed."""
        ...

    def publish(self, store: Store, *, compact: bool = False) -> None:
        """Make this catalog's content what readers see (a file catalog uploads itself; a shared one: no-op)."""
        ...

    def add_run(self, store: Store, run_manifest_key: str, *, sync_tombstones: bool = True) -> int: ...
    def sync_tombstones(self, store: Store) -> int: ...
    def refresh_warcs(self, store: Store, warc_keys: Iterable[str]) -> int: ...


class CatalogTables(Protocol):
    """The write primitives a backend gives :class:`~feedvault.catalog.index.CatalogIndex`; each is atomic.

    Every primitive that inserts snapshots skips those whose URL is tombstoned and replaces a snapshot of the same id.
    """

    def write_snapshots(self, rows: Iterable[SnapshotRow]) -> int: ...
    def write_run(self, run: RunRow, feeds: list[FeedRunRow], snapshots: Iterable[SnapshotRow]) -> int:
        """Replace everything of ``run.run_id`` (its run row, feed rows and snapshots) with these, in one transaction;
        ``snapshots`` is consumed in batches (:data:`~feedvault.catalog.index.WRITE_BATCH`), never held whole."""
        ...

    def replace_snapshots(self, drop_clean_keys: list[str], rows: list[SnapshotRow]) -> int: ...
    def write_tombstone(self, row: TombstoneRow) -> int:
        """Record it and drop its URL's snapshots; how many were dropped."""
        ...

    def delete_url(self, url_key: str) -> int: ...
    def runs_holding(self, url_keys: list[str], clean_keys: list[str]) -> set[str]:
        """The runs with a snapshot of one of these URLs or at one of these clean keys."""
        ...

    def run_ids(self) -> set[str]: ...
    def tombstoned_url_keys(self) -> set[str]: ...
    def clean_keys_in_warcs(self, warc_keys: set[str]) -> list[str]: ...
