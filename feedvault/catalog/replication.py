"""Replicating the SQLite catalog through S3: publish the file, sync copies of it, index what runs added since.

The writer (``finalize_run``) indexes each committed run into its local copy and lists the run under
``catalog/runs/``; the whole file is uploaded to ``catalog/catalog.sqlite`` only when due
(:func:`update_after_run`). Readers download the published file when its ETag changed and index the listed runs
their copy lacks (:func:`open_catalog`, :meth:`Catalog.sync`).
"""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from feedvault import keys
from feedvault.catalog.results import CatalogError, Progress
from feedvault.catalog.sqlite_catalog import SqliteCatalog
from feedvault.catalog.sqlite_file import remove_db
from feedvault.store.backends import NotFound, ObjectInfo, Store

logger = logging.getLogger(__name__)

CATALOG_FILE = "catalog.sqlite"
REPUBLISH_EVERY_RUNS = 14  # runs between uploads of the whole catalog; readers index the runs since themselves


class Catalog(SqliteCatalog):
    """A local SQLite catalog replicated through the archive's ``catalog/`` prefix."""

    def sync(self, store: Store) -> bool:
        """Bring this copy up to date with the archive, in place, so a long-running reader (the browse app) sees
        the runs committed since it opened the catalog; returns whether anything changed.

        A newer published copy replaces this one's content (SQLite's backup API, under the connection lock):
        readers keep their ``Catalog`` object and never see a half-copied file; an unusable published copy
        leaves this one as it was. Then the runs committed since are indexed (:meth:`apply_new_runs`). When
        nothing changed: one HEAD and one LIST.
        """
        remote = store.head(keys.CATALOG_KEY)
        replaced = False
        if remote is not None and self.get_meta("synced_etag") != _version(remote):
            with _published_copy(store, self.path.parent) as copy:
                source = sqlite3.connect(copy)
                try:
                    with self._lock:
                        source.backup(self._conn)
                finally:
                    source.close()
            self.set_meta("store_uri", store.uri)
            self.set_meta("synced_etag", _version(remote))
            replaced = True
        return self.apply_new_runs(store) > 0 or replaced

    def publish(self, store: Store, *, compact: bool = False) -> None:
        """Upload a consistent copy of the catalog to ``catalog/catalog.sqlite``.

        ``compact`` (after a takedown) rewrites the copy so no byte of deleted rows survives in free pages or
        old full-text segments.
        """
        fd, name = tempfile.mkstemp(dir=self.path.parent, prefix=".publish-", suffix=".sqlite")
        os.close(fd)
        try:
            target = sqlite3.connect(name)
            with self._lock:
                self._conn.backup(target)
            runs = str(target.execute("SELECT count(*) FROM runs").fetchone()[0])
            target.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('published_runs', ?)", (runs,))
            target.commit()
            if compact:
                target.execute("INSERT INTO snapshot_text(snapshot_text) VALUES ('optimize')")
                target.commit()
                target.execute("VACUUM")
            target.execute("PRAGMA journal_mode=DELETE")
            target.close()
            store.put_file(keys.CATALOG_KEY, Path(name), content_type="application/vnd.sqlite3")
        finally:
            Path(name).unlink(missing_ok=True)
        info = store.head(keys.CATALOG_KEY)
        self.set_meta("store_uri", store.uri)
        self.set_meta("synced_etag", _version(info))
        self.set_meta("published_runs", runs)

    def runs_since_publish(self) -> int:
        """Runs this copy holds that the published catalog it was synced from (or last published) lacks."""
        return self.counts()["runs"] - int(self.get_meta("published_runs") or 0)


def open_catalog(store: Store, local_dir: str | Path, progress: Progress | None = None) -> Catalog:
    """The local catalog of ``store`` in ``local_dir``, brought up to date with the published one.

    Downloads ``catalog/catalog.sqlite`` when it changed since the local copy was last synced (or the local copy
    belongs to another archive or is unusable); with nothing published and no usable local copy, reindexes.
    """
    path = Path(local_dir) / CATALOG_FILE
    remote = store.head(keys.CATALOG_KEY)
    catalog: Catalog | None = None
    if path.exists():
        try:
            catalog = Catalog(path)
        except CatalogError as exc:
            logger.warning("%s; replacing it", exc)
    if catalog is not None and catalog.get_meta("store_uri") not in (None, store.uri):
        catalog.close()
        catalog = None  # a catalog of another archive (e.g. a different bucket with the same data dir)
    if remote is not None and (catalog is None or catalog.get_meta("synced_etag") != _version(remote)):
        if catalog is not None:
            catalog.close()
        catalog = _download(store, path, _version(remote))
    if catalog is None:
        catalog = new_catalog(store, local_dir)
        catalog.reindex(store, progress)
    else:
        catalog.apply_new_runs(store)
    return catalog


def new_catalog(store: Store, local_dir: str | Path) -> Catalog:
    """An empty local catalog of ``store`` in ``local_dir``, replacing whatever file was there (even one that
    cannot be opened): what a reindex fills."""
    path = Path(local_dir) / CATALOG_FILE
    remove_db(path)
    catalog = Catalog(path)
    catalog.set_meta("store_uri", store.uri)
    return catalog


def _version(info: ObjectInfo | None) -> str:
    """What identifies a published catalog's version: its ETag (or size and time where there is none)."""
    if info is None:
        return ""
    return info.etag or f"{info.size}@{info.last_modified}"


@contextlib.contextmanager
def _published_copy(store: Store, directory: Path) -> Iterator[Path]:
    """The published catalog, downloaded next to the local one and validated (opens, right schema); removed
    afterwards unless the caller moved it. Raises CatalogError or NotFound when it is unusable."""
    directory.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=directory, prefix=".download-", suffix=".sqlite")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(store.get_bytes(keys.CATALOG_KEY))
        SqliteCatalog(name).close()
        yield Path(name)
    finally:
        remove_db(Path(name))


def _download(store: Store, path: Path, etag: str) -> Catalog | None:
    """Fetch the published catalog into ``path``; None if it is unusable (then the caller reindexes)."""
    try:
        with _published_copy(store, path.parent) as copy:
            remove_db(path)
            os.replace(copy, path)
    except (CatalogError, NotFound) as exc:
        logger.warning("published catalog unusable (%s); reindexing", exc)
        return None
    catalog = Catalog(path)
    catalog.set_meta("store_uri", store.uri)
    catalog.set_meta("synced_etag", etag)
    return catalog


def list_committed_run(store: Store, run: keys.RunId) -> None:
    """List a committed run under ``catalog/runs/`` for readers to index: part of the commit (written right after
    the run manifest), so it never depends on the local catalog being usable."""
    store.put_bytes(keys.catalog_run_key(run), b"", content_type="text/plain")


def update_after_takedown(store: Store, local_dir: str | Path, summary: dict[str, Any]) -> None:
    """Bring the catalog in line with a takedown's summary, and publish it: tombstoned URLs dropped, pointers
    into rewritten WARCs refreshed (the takedown itself rewrote the WARCs' CDXJ indexes)."""
    touched = [*summary.get("warcs_rewritten", []), *summary.get("warcs_deleted", [])]
    with open_catalog(store, local_dir) as catalog:
        catalog.sync_tombstones(store)
        catalog.refresh_warcs(store, touched)
        catalog.publish(store, compact=True)


def update_after_run(
    store: Store, local_dir: str | Path, run_manifest_key: str, *, republish_every: int = REPUBLISH_EVERY_RUNS
) -> bool:
    """Index a just-committed run into the local catalog (what ``finalize_run`` calls before it lists the run under
    ``catalog/runs/``: :func:`list_committed_run`); returns whether the whole catalog was published too.

    The catalog grows with the archive, so it is not uploaded after every run: readers index the runs listed
    since their copy (:meth:`Catalog.apply_new_runs`). It is published when none with a run in it exists, every
    ``republish_every`` runs (so a new reader has few runs to index itself), and when this run id was committed
    before: a retry replaced that run's partition, and readers that hold the old one would not index it again.
    """
    run = keys.RunId(run_manifest_key.split("/")[-2])
    with open_catalog(store, local_dir) as catalog:
        retried = catalog.run(run.value) is not None
        catalog.add_run(store, run_manifest_key)
        due = (
            retried
            or int(catalog.get_meta("published_runs") or 0) == 0
            or catalog.runs_since_publish() >= republish_every
        )
        if due:
            catalog.publish(store)
    return due
