"""Writing the catalog: what committed runs archived, turned into rows, whatever the backend.

:class:`CatalogIndex` reads run manifests, feed manifests, clean records and tombstones from the archive and
hands rows to the backend's few write primitives (:class:`~feedvault.catalog.interface.CatalogTables`); the
SQLite file and PostgreSQL store them their own way. A tombstoned URL is never indexed: its rows are dropped
when the tombstone is seen and never inserted again.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, NamedTuple

from feedvault import keys
from feedvault.archive.clean_segments import read_clean_records
from feedvault.catalog.interface import CatalogTables, FeedRunRow, RunRow, SnapshotRow, TombstoneRow
from feedvault.catalog.pieces import staged_snapshot_rows
from feedvault.catalog.results import CatalogError, Progress, dumps, run_day, snapshot_id
from feedvault.permission.usage import usage_of
from feedvault.store.backends import NotFound, Store

logger = logging.getLogger(__name__)

FETCH_WORKERS = 8
WRITE_BATCH = 500  # snapshot rows a run's write holds at once: its memory, whatever the run's size


ARCHIVED = ("new", "changed")
DETAIL_FIELDS = ("metadata", "entry", "permission", "raw", "removed", "rights_reservations", "error", "fetched_url")


def snapshot_row(clean_key: str, record: dict[str, Any]) -> SnapshotRow:
    """The row of the clean record stored at ``clean_key``."""
    meta = record.get("metadata") or {}
    entry = record.get("entry") or {}
    title = meta.get("title") or entry.get("title")
    return SnapshotRow(
        id=snapshot_id(clean_key),
        clean_key=clean_key,
        url=record["url"],
        url_key=keys.url_key(record["url"]),
        feed=record["feed"],
        run_id=record["run_id"],
        day=run_day(record["run_id"]),
        fetched_at=record.get("fetched_at") or "",
        title=title,
        published=entry.get("published") or meta.get("date"),
        language=meta.get("language"),
        word_count=meta.get("word_count"),
        sha256=(record.get("raw") or {}).get("sha256"),
        details=dumps({k: record.get(k) for k in DETAIL_FIELDS}),
        usage=dumps(usage_of(record)),
        text=record.get("text") or "",
    )


def tombstone_row(tombstone: dict[str, Any]) -> TombstoneRow:
    url = tombstone["url"]
    return TombstoneRow(
        keys.url_key(url),
        url,
        tombstone.get("feed"),
        tombstone.get("reason"),
        tombstone.get("date"),
        json.dumps(tombstone.get("removed", [])),
    )


class RunContent(NamedTuple):
    """What one committed run adds to the catalog."""

    run: RunRow
    feeds: list[FeedRunRow]
    clean_keys: list[str]


def read_run(store: Store, run_manifest_key: str) -> RunContent:
    """A committed run's rows and the clean records it archived; CatalogError if it has no run manifest."""
    try:
        manifest = json.loads(store.get_bytes(run_manifest_key))
    except NotFound:
        raise CatalogError(f"no run manifest at {run_manifest_key}: the run is not committed") from None
    run_id = manifest["run_id"]
    feed_rows, clean_keys = [], []
    for summary in manifest.get("feeds", []):
        feed_manifest: dict[str, Any] = {}
        if summary.get("manifest_key"):
            with contextlib.suppress(NotFound):
                feed_manifest = json.loads(store.get_bytes(summary["manifest_key"]))
        permission = feed_manifest.get("permission")
        finished = feed_manifest.get("finished_at") or manifest.get("finished_at")
        counts = json.dumps(summary.get("counts", {}))
        feed_rows.append(
            FeedRunRow(
                summary["feed"],
                run_id,
                summary["status"],
                finished,
                counts,
                json.dumps(permission) if permission else None,
                summary.get("manifest_key"),
            )
        )
        clean_keys += [
            u["clean_key"] for u in feed_manifest.get("urls", []) if u.get("clean_key") and u.get("outcome") in ARCHIVED
        ]
    return RunContent(_run_row(manifest, run_manifest_key), feed_rows, clean_keys)


def _run_row(manifest: dict[str, Any], manifest_key: str) -> RunRow:
    return RunRow(
        run_id=manifest["run_id"],
        day=run_day(manifest["run_id"]),
        started_at=manifest.get("started_at"),
        finished_at=manifest.get("finished_at"),
        seconds=manifest.get("seconds"),
        status=manifest.get("status", "unknown"),
        trigger=manifest.get("trigger"),
        totals=json.dumps(manifest.get("totals", {})),
        feeds=json.dumps([f["feed"] for f in manifest.get("feeds", [])]),
        bytes_written=manifest.get("bytes_written", 0),
        manifest_key=manifest_key,
    )


def fetch_records(store: Store, clean_keys: list[str]) -> Iterator[tuple[str, dict[str, Any]]]:
    """Clean records by pointer (feedvault.archive.clean_segments), fetched in parallel; those gone are skipped."""
    for key, record in read_clean_records(store, clean_keys, readers=FETCH_WORKERS):
        if record is None:
            logger.warning("catalog: %s is listed in a feed manifest but missing", key)
        else:
            yield key, record


def run_snapshot_rows(store: Store, clean_keys: list[str], staged: Path | None = None) -> Iterator[SnapshotRow]:
    """A committed run's snapshot rows: those its crawl staged in ``staged``
    (:class:`~feedvault.catalog.pieces.RowStage`), then the others read back from their clean records."""
    wanted = set(clean_keys)
    yield from staged_snapshot_rows(staged, wanted)
    missing = [key for key in clean_keys if key in wanted]
    yield from (snapshot_row(key, record) for key, record in fetch_records(store, missing))


class CatalogIndex:
    """The catalog's write operations, over the backend's primitives (a mixin of each backend's catalog class).

    :attr:`touched_runs` collects the runs whose rows a tombstone or a takedown's pointer refresh changed, for
    the published pieces holding them to be rewritten (:mod:`~feedvault.catalog.pieces`).
    """

    @property
    def touched_runs(self) -> set[str]:
        if not hasattr(self, "_touched_runs"):
            self._touched_runs: set[str] = set()
        return self._touched_runs

    def _tables(self) -> CatalogTables:
        return self  # type: ignore[return-value]  # the backend class provides the primitives

    def insert_records(self, records: Iterable[tuple[str, dict[str, Any]]]) -> int:
        """Insert (or replace) clean records given as ``(clean_key, record)``; tombstoned URLs are skipped.

        The one insert path: :meth:`add_run` and the benchmark use it. Returns how many rows were written.
        """
        return self._tables().write_snapshots(snapshot_row(key, record) for key, record in records)

    def add_run(
        self, store: Store, run_manifest_key: str, *, sync_tombstones: bool = True, staged: Path | None = None
    ) -> int:
        """Index one committed run: its manifest, feed manifests and clean records (or the rows its crawl staged
        in ``staged``). Idempotent.

        Returns the number of snapshots indexed. Tombstones are synced first, so none is indexed.
        """
        content = read_run(store, run_manifest_key)
        if sync_tombstones:
            self.sync_tombstones(store)
        rows = run_snapshot_rows(store, content.clean_keys, staged)
        return self._tables().write_run(content.run, content.feeds, rows)  # streamed: one batch in memory

    def index_archive(self, store: Store, progress: Progress | None = None) -> int:
        """Index every committed run of the archive this catalog lacks, oldest first, each in its own transaction:
        what a reindex fills an empty catalog with, and how an interrupted one resumes. Returns the snapshots
        indexed."""
        manifests = sorted(
            (obj.key for obj in store.list("runs/") if obj.key.endswith("/manifest.json")),
            key=lambda key: key.split("/")[-2],
        )
        indexed = self._tables().run_ids()
        self.sync_tombstones(store)
        total = 0
        for done, key in enumerate(manifests, 1):
            run_id = key.split("/")[-2]
            if run_id not in indexed:
                total += self.add_run(store, key, sync_tombstones=False)
            if progress:
                progress(done, len(manifests), run_id)
        return total

    def apply_new_runs(self, store: Store) -> int:
        """Index the committed runs this catalog lacks, from their manifests; returns how many were added.

        Each committed run leaves an entry under ``catalog/runs/``; the runs listed there that this catalog lacks
        are indexed from the archive (one LIST per 1,000 runs, then each new run's manifests and clean records).
        """
        known = self._tables().run_ids()
        listed = [obj.key[len(keys.CATALOG_RUNS_PREFIX) :] for obj in store.list(keys.CATALOG_RUNS_PREFIX)]
        new = [run_id for run_id in listed if run_id not in known and keys.RUN_ID_RE.match(run_id)]
        if new:
            self.sync_tombstones(store)  # once, not once per run
        added = 0
        for run_id in new:
            try:
                self.add_run(store, keys.run_manifest_key(keys.RunId(run_id)), sync_tombstones=False)
            except CatalogError as exc:  # its manifest is gone (a retry is rewriting that run): next time
                logger.warning("catalog: run %s listed but not readable: %s", run_id, exc)
                continue
            added += 1
        return added

    def refresh_warcs(self, store: Store, warc_keys: Iterable[str]) -> int:
        """Re-read the clean records of the snapshots in these WARCs (after a takedown rewrote or deleted them:
        their raw offsets moved); snapshots whose clean record is gone are dropped. Returns rows refreshed."""
        stale = self._tables().clean_keys_in_warcs(set(warc_keys))
        self.touched_runs.update(self._tables().runs_holding([], stale))
        found = dict(fetch_records(store, stale))
        rows = [snapshot_row(key, record) for key, record in found.items()]
        return self._tables().replace_snapshots([key for key in stale if key not in found], rows)

    def sync_tombstones(self, store: Store) -> int:
        """Record every tombstone in the archive and drop its URL's snapshots; returns how many were new."""
        known = self._tables().tombstoned_url_keys()
        new = []
        for obj in store.list("tombstones/"):
            if not obj.key.endswith(".json") or obj.key.rsplit("/", 1)[-1][:-5] in known:
                continue
            with contextlib.suppress(NotFound):
                new.append(json.loads(store.get_bytes(obj.key)))
        for tombstone in new:
            self.add_tombstone(tombstone)
        return len(new)

    def add_tombstone(self, tombstone: dict[str, Any]) -> int:
        """Record a tombstone (``{url, feed, reason, date, removed}``) and forget its URL."""
        row = tombstone_row(tombstone)
        self.touched_runs.update(self._tables().runs_holding([row.url_key], []))
        return self._tables().write_tombstone(row)

    def forget_url(self, url: str) -> int:
        """Drop every snapshot of ``url`` from the catalog; returns how many."""
        return self._tables().delete_url(keys.url_key(url))
