"""Replicating the SQLite catalog through S3 as immutable pieces (:mod:`~feedvault.catalog.pieces`).

The writer (``finalize_run``) uploads each committed run's rows once as a piece, built from the rows its crawl
staged, and lists the run under ``catalog/runs/`` (:func:`update_after_run`); it keeps no local copy up to date
(its machine's copy catches up like any reader's). Small pieces of a month are merged on a schedule. Readers
start from the pieces (:func:`open_catalog`) and then fetch only those holding runs they lack
(:meth:`Catalog.sync`); runs listed but in no piece yet are indexed from their manifests. A takedown rewrites the
pieces holding what it removed (:func:`update_after_takedown`). An archive published before pieces existed has
one whole file, ``catalog/catalog.sqlite``: a reader without pieces to start from still downloads it.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from feedvault import keys
from feedvault.catalog import pieces
from feedvault.catalog.index import fetch_records, read_run, snapshot_row
from feedvault.catalog.interface import RunRows, SnapshotRow
from feedvault.catalog.results import CatalogError, Progress
from feedvault.catalog.sqlite_catalog import SqliteCatalog
from feedvault.catalog.sqlite_file import local_catalog_errors, remove_db
from feedvault.crawl.tombstones import Tombstones
from feedvault.store.backends import NotFound, ObjectInfo, Store

logger = logging.getLogger(__name__)

CATALOG_FILE = "catalog.sqlite"
REPUBLISH_EVERY_RUNS = 14  # a month's run pieces are merged into one once there are this many


class Catalog(SqliteCatalog):
    """A local SQLite catalog replicated through the archive's ``catalog/`` prefix."""

    def run_versions(self) -> dict[str, str]:
        """The version of each run's rows this copy holds, as the published pieces name them."""
        return {row["run_id"]: row["version"] for row in self._all("SELECT run_id, version FROM run_versions")}

    def set_run_versions(self, versions: dict[str, str]) -> None:
        with self._tx() as conn:
            conn.executemany("INSERT OR REPLACE INTO run_versions VALUES (?, ?)", versions.items())

    def sync(self, store: Store) -> bool:
        """Bring this copy up to date with the archive, in place, so a long-running reader (the browse app) sees
        the runs committed since it opened the catalog; returns whether anything changed.

        Fetches the pieces holding runs this copy lacks or holds at an older version (after a takedown), then
        indexes the runs listed under ``catalog/runs/`` that no piece holds yet. When nothing changed: one HEAD
        and one LIST.
        """
        fetched = self.fetch_pieces(store)
        return self.apply_new_runs(store) > 0 or fetched

    def fetch_pieces(self, store: Store) -> bool:
        """Apply the published pieces this copy lacks (one HEAD of the index when it has not changed)."""
        head = _version(store.head(keys.CATALOG_INDEX_KEY))
        if not head or self.get_meta("index_version") == head:
            return False
        index, _cas = self._known_index(store, head)
        applied = pieces.fetch_lacking(store, self, index, self.run_versions(), self.path.parent)
        self.set_run_versions(applied)
        if applied:
            self.sync_tombstones(store)
        self.set_meta("store_uri", store.uri)
        self.set_meta("index_version", head)
        return bool(applied)

    def _known_index(self, store: Store, head: str | None = None) -> pieces.Known:
        """The published index as this copy last read or wrote it, read again only when it changed since."""
        head = _version(store.head(keys.CATALOG_INDEX_KEY)) if head is None else head
        if not head:
            return pieces.PieceIndex(), None
        cached = self.get_meta("index_cache")
        if cached is not None and self.get_meta("index_cache_head") == head:
            return pieces.PieceIndex.parse(cached.encode()), self.get_meta("index_cache_cas") or None
        known = pieces.load_index(store)
        self._remember_index(known, head)
        return known

    def _remember_index(self, known: pieces.Known, head: str) -> None:
        index, cas = known
        with self._tx() as conn:
            for key, value in (
                ("index_cache", index.dumps().decode()),
                ("index_cache_cas", cas or ""),
                ("index_cache_head", head),
            ):
                conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))

    def _upload(self, store: Store, name: str, runs: Iterable[tuple[RunRows | None, str]]) -> None:
        """One piece uploaded and indexed (from the index as this copy knows it: no read when it wrote it last)."""
        present = ((rows, version) for rows, version in runs if rows is not None)
        versions, written = pieces.upload_piece(store, self.path.parent, name, present, self._known_index(store))
        self.set_run_versions(versions)
        if written is not None:
            self._remember_index(written, _version(store.head(keys.CATALOG_INDEX_KEY)))

    def publish(self, store: Store, *, compact: bool = False) -> None:
        """Publish everything this copy holds (after a reindex or a local change): one piece per month, new
        versions for every run, so every reader fetches it again. Old pieces are deleted once nothing points at
        them; pieces are written afresh, so no byte of deleted rows survives (``compact`` is implied)."""
        months: dict[str, list[str]] = {}
        for run_id in sorted(self.run_ids()):
            months.setdefault(pieces.month_of(run_id), []).append(run_id)
        for month, run_ids in months.items():
            self._upload(store, f"month-{month}", ((self.run_rows(r), pieces.new_version()) for r in run_ids))
        self.set_meta("store_uri", store.uri)

    def rewrite_runs(self, store: Store, run_ids: set[str]) -> int:
        """Rewrite the published pieces holding these runs (after a takedown changed their rows): the changed
        runs get new versions, the others in those pieces keep theirs. Returns the pieces rewritten."""
        index = self._known_index(store)[0]
        touched = {index.runs[r]["piece"] for r in run_ids & set(index.runs)}
        held = self.run_versions()
        for key in sorted(touched):
            members = sorted(r for r, entry in index.runs.items() if entry["piece"] == key)
            kept = {
                r: index.runs[r]["version"]
                for r in members
                if r not in run_ids and held.get(r) == index.runs[r]["version"]
            }
            runs = ((self.run_rows(r), kept.get(r) or pieces.new_version()) for r in members)
            self._upload(store, pieces.piece_name(key), runs)
        return len(touched)


def open_catalog(store: Store, local_dir: str | Path, progress: Progress | None = None) -> Catalog:
    """The local catalog of ``store`` in ``local_dir``, brought up to date with the published one.

    A usable local copy of this archive catches up (:meth:`Catalog.sync`); otherwise a new one is filled from the
    published pieces, or from the whole published file of an archive without pieces, or by a reindex.
    """
    path = Path(local_dir) / CATALOG_FILE
    catalog: Catalog | None = None
    if path.exists():
        try:
            catalog = Catalog(path)
        except CatalogError as exc:
            logger.warning("%s; replacing it", exc)
    if catalog is not None and catalog.get_meta("store_uri") not in (None, store.uri):
        catalog.close()
        catalog = None  # a catalog of another archive (e.g. a different bucket with the same data dir)
    if catalog is None and store.head(keys.CATALOG_INDEX_KEY) is not None:
        catalog = _from_pieces(store, path)
    if catalog is None:
        catalog = _from_whole_file(store, path, progress)
    catalog.sync(store)
    return catalog


def _from_pieces(store: Store, path: Path) -> Catalog:
    """A new local copy filled from the published pieces in a file of its own beside ``path``, in bulk
    (:meth:`~feedvault.catalog.sqlite_file.SqliteFile.building`), then swapped in whole: another process opening
    ``path`` meanwhile finds what was there before, never a catalog half filled. Interrupted, the side file is
    removed (the next open starts again)."""
    with local_catalog_errors(path.parent):  # a read-only or full data directory: what to do, no traceback
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(dir=path.parent, prefix=".pieces-", suffix=".sqlite")
    os.close(fd)
    side = Path(name)
    try:
        remove_db(side)
        with Catalog(side) as fresh:
            fresh.set_meta("store_uri", store.uri)
            with fresh.building():
                fresh.fetch_pieces(store)
            fresh.checkpoint()
        remove_db(path)
        os.replace(side, path)
    finally:
        remove_db(side)
    catalog = Catalog(path)
    catalog.touched_runs.update(fresh.touched_runs)  # runs whose rows a tombstone dropped: a takedown rewrites them
    return catalog


def _from_whole_file(store: Store, path: Path, progress: Progress | None) -> Catalog:
    """A new local copy from ``catalog/catalog.sqlite`` (published before pieces existed), else by a reindex."""
    remote = store.head(keys.CATALOG_KEY)
    catalog = _download(store, path, _version(remote)) if remote is not None else None
    if catalog is None:
        catalog = new_catalog(store, path.parent)
        catalog.reindex(store, progress)
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
    """Bring the catalog in line with a takedown's summary: tombstoned URLs dropped, pointers into rewritten WARCs
    refreshed (the takedown itself rewrote the WARCs' CDXJ indexes), and the published pieces holding the runs
    that changed rewritten (only those)."""
    touched = [*summary.get("warcs_rewritten", []), *summary.get("warcs_deleted", [])]
    with open_catalog(store, local_dir) as catalog:
        catalog.sync_tombstones(store)
        catalog.refresh_warcs(store, touched)
        catalog.rewrite_runs(store, catalog.touched_runs)


def update_after_run(
    store: Store,
    local_dir: str | Path,
    run_manifest_key: str,
    *,
    republish_every: int = REPUBLISH_EVERY_RUNS,
    staged: Path | None = None,
) -> bool:
    """Publish a just-committed run's rows as one piece (what ``finalize_run`` calls before it lists the run
    under ``catalog/runs/``: :func:`list_committed_run`); returns True.

    The writer indexes nothing locally: the rows its crawl staged (``staged``; any others are read back from
    their clean records) go straight into the piece, and ``local_dir`` is only its scratch. A local copy there
    catches up when it is next opened, like every reader's. A run costs one piece of its own size and one small
    index update, whatever the size of the archive; a retried run id gets a new version, so readers holding the
    old one fetch it again. Before the piece, a month's pieces are merged into one once the month is closed or
    holds ``republish_every`` pieces (:func:`~feedvault.catalog.pieces.compact`): readers in step then fetch only
    this run's piece. A run that archived nothing costs no upload (readers index its manifests), unless it
    replaces a published one (a retry).
    """
    scratch = Path(local_dir)
    content = read_run(store, run_manifest_key)
    known = pieces.compact(store, scratch, republish_every, pieces.load_index(store))
    run_id = content.run.run_id
    if not content.clean_keys and run_id not in known[0].runs:
        return True
    gone = set(Tombstones.load(store).url_keys)  # taken down while the run crawled: never published

    def read_back(clean_keys: list[str]) -> Iterator[SnapshotRow]:
        return (snapshot_row(key, record) for key, record in fetch_records(store, clean_keys))

    with _stage_or_scratch(staged, scratch) as path:
        versions = pieces.finish_stage(
            path, content.run, content.feeds, content.clean_keys, gone=gone, read_back=read_back
        )
        pieces.publish_piece_file(store, path, run_id, versions, known)
    return True


@contextlib.contextmanager
def _stage_or_scratch(staged: Path | None, scratch: Path) -> Iterator[Path]:
    """The run's stage, when its crawl left a usable one; else a new file in ``scratch`` (removed after)."""
    if staged is not None and staged.exists():
        try:
            with contextlib.closing(sqlite3.connect(f"file:{staged}?mode=ro", uri=True)) as conn:
                conn.execute("SELECT count(*) FROM snapshots").fetchone()
        except sqlite3.DatabaseError as exc:
            logger.warning("the run's staged catalog rows are unusable (%s); reading its records back", exc)
        else:
            yield staged
            return
    with pieces.scratch_file(scratch) as path:
        yield path
