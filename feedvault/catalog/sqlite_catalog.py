"""The SQLite catalog: the file (:mod:`~feedvault.catalog.sqlite_file`), its reads
(:mod:`~feedvault.catalog.queries`), the shared write logic (:mod:`~feedvault.catalog.index`) and the write
primitives that store rows in SQLite (the FTS5 table's rowid is the snapshot row's ``n``)."""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterable, Iterator
from pathlib import Path

from feedvault.catalog.index import WRITE_BATCH, CatalogIndex
from feedvault.catalog.interface import FeedRunRow, RunRow, RunRows, SnapshotRow, TombstoneRow
from feedvault.catalog.queries import SqliteQueries
from feedvault.catalog.results import CatalogError, Progress
from feedvault.catalog.sqlite_file import connect, remove_db
from feedvault.store.backends import Store, batches

_INSERT_SNAPSHOT = (
    "INSERT INTO snapshots (n, id, clean_key, url, url_key, feed, run_id, day, fetched_at, title,"
    " published, language, word_count, sha256, details, usage) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)"
)
_CHUNK = 500  # ids per IN (...) list


def _insert(conn: sqlite3.Connection, rows: Iterable[SnapshotRow]) -> int:
    """Insert snapshot rows (replacing one of the same id), skipping tombstoned URLs; how many were written.

    One statement per table for the whole batch: rows get the next ``n`` in order (the full-text index is read
    newest first by ``n``), the same id twice keeps the last."""
    gone = {row[0] for row in conn.execute("SELECT url_key FROM tombstones")}
    fresh = {row.id: row for row in rows if row.url_key not in gone}
    if not fresh:
        return 0
    ids = list(fresh)
    for start in range(0, len(ids), _CHUNK):
        chunk = ids[start : start + _CHUNK]
        _delete(conn, f"id IN ({','.join('?' * len(chunk))})", *chunk)
    first = conn.execute("SELECT coalesce(max(n), 0) + 1 FROM snapshots").fetchone()[0]
    numbered = list(enumerate(fresh.values(), first))
    conn.executemany(_INSERT_SNAPSHOT, ((n, *row[:-1]) for n, row in numbered))
    conn.executemany(
        "INSERT INTO snapshot_text (rowid, title, text) VALUES (?, ?, ?)",
        ((n, row.title or "", row.text) for n, row in numbered),
    )
    return len(numbered)


def _delete(conn: sqlite3.Connection, where: str, *values: object) -> int:
    """Delete the snapshots matching ``where`` (its ``?`` bound to ``values``), with their text; how many.

    The full-text rows go by rowid, and only when there are some: a DELETE on the FTS5 table while inserts are
    pending costs even when it deletes nothing (one per 500 ids inserted was about 15% of a build)."""
    numbers = [(row[0],) for row in conn.execute(f"SELECT n FROM snapshots WHERE {where}", values)]
    if not numbers:
        return 0
    conn.executemany("DELETE FROM snapshot_text WHERE rowid = ?", numbers)
    return conn.execute(f"DELETE FROM snapshots WHERE {where}", values).rowcount


class SqliteCatalog(CatalogIndex, SqliteQueries):
    """The snapshot index in one SQLite file (FTS5 full-text search)."""

    # -- write primitives (feedvault.catalog.interface.CatalogTables) --
    def write_snapshots(self, rows: Iterable[SnapshotRow]) -> int:
        with self._tx() as conn:
            return _insert(conn, rows)

    def write_run(self, run: RunRow, feeds: list[FeedRunRow], snapshots: Iterable[SnapshotRow]) -> int:
        with self._tx() as conn:
            _delete(conn, "run_id = ?", run.run_id)
            conn.execute("DELETE FROM feed_runs WHERE run_id = ?", (run.run_id,))
            conn.execute("DELETE FROM run_versions WHERE run_id = ?", (run.run_id,))  # its piece's: set by the caller
            conn.execute("INSERT OR REPLACE INTO runs VALUES (?,?,?,?,?,?,?,?,?,?,?)", run)
            conn.executemany("INSERT INTO feed_runs VALUES (?,?,?,?,?,?,?)", feeds)
            return sum(_insert(conn, batch) for batch in batches(snapshots, WRITE_BATCH))

    def replace_snapshots(self, drop_clean_keys: list[str], rows: list[SnapshotRow]) -> int:
        with self._tx() as conn:
            for key in drop_clean_keys:
                _delete(conn, "clean_key = ?", key)
            return _insert(conn, rows)

    def write_tombstone(self, row: TombstoneRow) -> int:
        with self._tx() as conn:
            conn.execute("INSERT OR REPLACE INTO tombstones VALUES (?,?,?,?,?,?)", row)
            return _delete(conn, "url_key = ?", row.url_key)

    def delete_url(self, url_key: str) -> int:
        with self._tx() as conn:
            return _delete(conn, "url_key = ?", url_key)

    def runs_holding(self, url_keys: list[str], clean_keys: list[str]) -> set[str]:
        found: set[str] = set()
        for column, values in (("url_key", url_keys), ("clean_key", clean_keys)):
            for start in range(0, len(values), 500):
                chunk = values[start : start + 500]
                rows = self._all(
                    f"SELECT DISTINCT run_id FROM snapshots WHERE {column} IN ({','.join('?' * len(chunk))})", chunk
                )
                found |= {row["run_id"] for row in rows}
        return found

    def run_ids(self) -> set[str]:
        return {row[0] for row in self._all("SELECT run_id FROM runs")}

    def tombstoned_url_keys(self) -> set[str]:
        return {row[0] for row in self._all("SELECT url_key FROM tombstones")}

    def clean_keys_in_warcs(self, warc_keys: set[str]) -> list[str]:
        rows = self._all("SELECT clean_key, json_extract(details, '$.raw.warc_key') AS w FROM snapshots")
        return [r["clean_key"] for r in rows if r["w"] in warc_keys]

    def run_rows(self, run_id: str) -> RunRows | None:
        """Everything this catalog holds of one run (what a catalog piece carries)."""
        run = self._one("SELECT * FROM runs WHERE run_id = ?", (run_id,))
        if run is None:
            return None
        feeds = self._all("SELECT * FROM feed_runs WHERE run_id = ? ORDER BY feed", (run_id,))
        return RunRows(RunRow(*run), [FeedRunRow(*r) for r in feeds], self._run_snapshots(run_id))

    def _run_snapshots(self, run_id: str) -> Iterator[SnapshotRow]:
        """A run's snapshot rows with their text, oldest first, read :data:`WRITE_BATCH` at a time."""
        columns = ", ".join(f"s.{name}" for name in SnapshotRow._fields[:-1])
        after = 0
        while rows := self._all(
            f"SELECT {columns}, t.text, s.n FROM snapshots s JOIN snapshot_text t ON t.rowid = s.n"
            " WHERE s.run_id = ? AND s.n > ? ORDER BY s.n LIMIT ?",
            (run_id, after, WRITE_BATCH),
        ):
            after = rows[-1]["n"]
            yield from (SnapshotRow(*tuple(r)[:-1]) for r in rows)

    # -- rebuilding --
    def reindex(self, store: Store, progress: Progress | None = None) -> int:
        """Rebuild the whole catalog from the archive (committed runs only) in a file beside it, built in bulk
        (:meth:`~feedvault.catalog.sqlite_file.SqliteFile.building`), then swap it in atomically; returns the
        snapshots it holds. Interrupted, that file keeps the runs it committed (all those indexed, when stopped
        between runs), and the next reindex of the same archive resumes from it."""
        partial = self.path.parent / REINDEX_FILE
        fresh = _resumable(partial, store.uri)
        try:
            with fresh.building():
                fresh.index_archive(store, progress)
            for meta in self._all(
                "SELECT key, value FROM meta WHERE key NOT IN ('synced_etag', 'reindex_of', 'building')"
            ):
                fresh.set_meta(meta["key"], meta["value"])
            with fresh._tx() as conn:
                conn.execute("DELETE FROM meta WHERE key = 'reindex_of'")
            fresh.checkpoint()
            total = fresh.counts()["snapshots"]
        finally:
            fresh.close()
        with self._lock:
            self._conn.close()
            remove_db(self.path)
            os.replace(partial, self.path)
            remove_db(partial)  # its -wal/-shm, if any
            self._conn = connect(self.path)
        return total


REINDEX_FILE = ".reindex.sqlite"


def _resumable(path: Path, store_uri: str) -> SqliteCatalog:
    """The partial catalog an interrupted reindex of this archive left at ``path``, or a new, empty one."""
    if path.exists():
        try:
            partial = SqliteCatalog(path)
        except CatalogError:
            remove_db(path)
        else:
            if partial.get_meta("reindex_of") == store_uri and partial.get_meta("building"):
                return partial
            partial.close()
            remove_db(path)
    fresh = SqliteCatalog(path)
    fresh.set_meta("reindex_of", store_uri)
    return fresh
