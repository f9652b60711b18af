"""The SQLite catalog file: schema, migrations, one locked connection (WAL), transactions and the meta table.

A local catalog whose directory cannot be used (read-only, full) raises one :class:`CatalogError` that says what
to do (:func:`local_catalog_errors`), never a traceback.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from feedvault.catalog.results import CatalogError, dumps
from feedvault.permission.usage import usage_of

SCHEMA_VERSION = 4
# 3: snapshots.usage (the publisher's usage preferences); 4: day_counts (snapshots per feed, day and run, kept by
# triggers). Older catalogs are migrated when opened (_MIGRATIONS).

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY, day TEXT NOT NULL, started_at TEXT, finished_at TEXT, seconds REAL,
    status TEXT NOT NULL, trigger TEXT, totals TEXT NOT NULL, feeds TEXT NOT NULL,
    bytes_written INTEGER NOT NULL, manifest_key TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS feed_runs (
    feed TEXT NOT NULL, run_id TEXT NOT NULL, status TEXT NOT NULL, finished_at TEXT,
    counts TEXT NOT NULL, permission TEXT, manifest_key TEXT,
    PRIMARY KEY (feed, run_id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS snapshots (
    n INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE, clean_key TEXT NOT NULL, url TEXT NOT NULL, url_key TEXT NOT NULL,
    feed TEXT NOT NULL, run_id TEXT NOT NULL, day TEXT NOT NULL, fetched_at TEXT NOT NULL,
    title TEXT, published TEXT, language TEXT, word_count INTEGER, sha256 TEXT,
    details TEXT NOT NULL, usage TEXT
);
CREATE INDEX IF NOT EXISTS snapshots_run ON snapshots (run_id);
CREATE VIRTUAL TABLE IF NOT EXISTS snapshot_text USING fts5 (
    title, text, tokenize = 'unicode61 remove_diacritics 2', prefix = '2 3', columnsize = 0
);
-- columnsize = 0: searches list newest first, no bm25, so no column sizes are stored
CREATE TABLE IF NOT EXISTS tombstones (
    url_key TEXT PRIMARY KEY, url TEXT NOT NULL, feed TEXT, reason TEXT, date TEXT, removed TEXT NOT NULL
);
"""

_BUILT_LAST = (
    "CREATE INDEX IF NOT EXISTS snapshots_feed_day ON snapshots (feed, day, fetched_at DESC, n)",
    "CREATE INDEX IF NOT EXISTS snapshots_url ON snapshots (url_key, fetched_at)",
    "CREATE INDEX IF NOT EXISTS snapshots_day ON snapshots (day)",
    "CREATE INDEX IF NOT EXISTS snapshots_filter ON snapshots (n, feed, day, language)",  # search filters, narrow
)
"""The secondary indexes a build (:meth:`SqliteFile.building`) creates once its rows are in, sorting each once,
instead of updating them row by row. The unique ``id`` and ``snapshots_run`` stay: writes look rows up by them."""

_SCHEMA += ";\n".join(_BUILT_LAST) + ";\n"

_DAY_COUNTS = (
    """CREATE TABLE IF NOT EXISTS day_counts (
        feed TEXT NOT NULL, day TEXT NOT NULL, run_id TEXT NOT NULL, snapshots INTEGER NOT NULL,
        first_n INTEGER NOT NULL, last_n INTEGER NOT NULL, PRIMARY KEY (feed, day, run_id)
    ) WITHOUT ROWID""",
    "CREATE INDEX IF NOT EXISTS day_counts_day ON day_counts (day, feed)",
    """CREATE TRIGGER IF NOT EXISTS snapshots_counted AFTER INSERT ON snapshots BEGIN
        INSERT INTO day_counts VALUES (new.feed, new.day, new.run_id, 1, new.n, new.n)
        ON CONFLICT (feed, day, run_id) DO UPDATE SET snapshots = snapshots + 1,
            first_n = min(first_n, excluded.first_n), last_n = max(last_n, excluded.last_n);
    END""",
    """CREATE TRIGGER IF NOT EXISTS snapshots_uncounted AFTER DELETE ON snapshots BEGIN
        UPDATE day_counts SET snapshots = snapshots - 1
        WHERE feed = old.feed AND day = old.day AND run_id = old.run_id;
        DELETE FROM day_counts WHERE feed = old.feed AND day = old.day AND run_id = old.run_id AND snapshots <= 0;
    END""",
)
"""Snapshots per feed, capture day and run, kept by triggers: a feed's days and snapshot count without counting
its rows, and the range of ``n`` (a superset: deletes leave the bounds) that a search bounded by capture days
reads from the full-text index."""

_FILL_DAY_COUNTS = """
INSERT INTO day_counts SELECT feed, day, run_id, count(*), min(n), max(n) FROM snapshots GROUP BY feed, day, run_id;
"""


_RUN_VERSIONS = """
CREATE TABLE IF NOT EXISTS run_versions (run_id TEXT PRIMARY KEY, version TEXT NOT NULL) WITHOUT ROWID;
"""  # the version of each run's rows this copy holds (feedvault.catalog.pieces): added to schema 3 in place


def _add_usage_column(conn: sqlite3.Connection) -> None:
    """Schema 2 -> 3: the usage column, filled from each row's permission evidence (what was known then)."""
    conn.execute("ALTER TABLE snapshots ADD COLUMN usage TEXT")
    for n, details in conn.execute("SELECT n, details FROM snapshots").fetchall():
        usage = usage_of({"permission": json.loads(details).get("permission")})
        conn.execute("UPDATE snapshots SET usage = ? WHERE n = ?", (dumps(usage), n))


def _add_day_counts(conn: sqlite3.Connection) -> None:
    """Schema 3 -> 4: the day_counts table and its triggers, filled from the rows."""
    for statement in _DAY_COUNTS:
        conn.execute(statement)
    conn.execute("DELETE FROM day_counts")
    conn.execute(_FILL_DAY_COUNTS)


_MIGRATIONS = {2: _add_usage_column, 3: _add_day_counts}
"""Schema version -> the step to the next one; an older catalog is migrated in one transaction when opened."""


def _migrate(conn: sqlite3.Connection, version: int) -> None:
    conn.execute("BEGIN IMMEDIATE")
    while version < SCHEMA_VERSION:
        _MIGRATIONS[version](conn)
        version += 1
    conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
    conn.execute("COMMIT")


FTS_HASH_BYTES = 16 * 2**20
"""What FTS5 holds of a write in memory before flushing it as a segment (its default: 1 MiB, a tenth of a batch
of 5,000 snapshots): fewer, larger segments, so less merging (a 300,000-snapshot build 16% faster, searches as
fast). Stored in the file; set when a catalog is created (a reindex creates a new one)."""
BUILD_FTS_HASH_BYTES = 64 * 2**20  # during a build: its transactions are large (BUILD_COMMIT_CHANGES)
BUILD_JOURNAL = "DELETE"
"""A build writes its file through a rollback journal instead of the WAL: the pages it adds (nearly all) are
written once, not to the WAL and again to the file; back to WAL when it ends."""
FTS_AUTOMERGE = 4  # FTS5's default
BUILD_FTS_AUTOMERGE = 16
"""During a build FTS5 merges 16 segments of a level at once (its default: 4): each indexed word is rewritten on
fewer levels (a 200,000-snapshot build: 0.88x its CPU, interleaved pairs); the built catalog's searches stay
as fast (1M: every p95 within 17 ms)."""
BUILD_COMMIT_CHANGES = 50_000
"""Row changes (``total_changes``) a build makes before it commits, about 20,000 snapshots: FTS5 flushes a segment at
every commit, so large transactions leave fewer, larger segments to merge (about 0.7x the full-text work of
5,000-snapshot commits). An interrupted build keeps what it committed and resumes from there."""
CACHE_KIB = 64 * 1024  # page cache per connection: B-tree inserts at a million rows stay in memory
MMAP_BYTES = 2**31 - 2**16  # reads map the file (SQLite's default ceiling) instead of copying pages


def connect(path: Path) -> sqlite3.Connection:
    """A connection to the catalog file at ``path``, its schema created or migrated; CatalogError if unusable."""
    try:
        conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=30)
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA foreign_keys=ON")
        conn.execute(f"PRAGMA cache_size=-{CACHE_KIB}")
        conn.execute(f"PRAGMA mmap_size={MMAP_BYTES}")
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version in _MIGRATIONS:
            _migrate(conn, version)
            version = SCHEMA_VERSION
        if version not in (0, SCHEMA_VERSION):
            conn.close()
            raise CatalogError(f"{path}: catalog schema {version}, expected {SCHEMA_VERSION}; reindex it")
        if version == 0:
            conn.executescript(_SCHEMA + ";\n".join(_DAY_COUNTS) + f";\nPRAGMA user_version={SCHEMA_VERSION};")
            conn.execute("INSERT INTO snapshot_text (snapshot_text, rank) VALUES ('hashsize', ?)", (FTS_HASH_BYTES,))
        conn.executescript(_RUN_VERSIONS)
    except sqlite3.OperationalError as exc:  # the directory, not the file: cannot open, read-only, full
        raise local_catalog_unusable(path.parent, exc) from exc
    except sqlite3.DatabaseError as exc:
        raise CatalogError(f"{path}: not a usable catalog ({exc}); `feedvault reindex` rebuilds it") from exc
    return conn


def _start_build(conn: sqlite3.Connection) -> None:
    """Drop what a build maintains at its end instead of per row: the secondary indexes and the day counts'
    triggers (idempotent: a resumed build has none of them)."""
    for statement in _BUILT_LAST:
        conn.execute("DROP INDEX IF EXISTS " + statement.split(" EXISTS ", 1)[1].split()[0])
    for trigger in ("snapshots_counted", "snapshots_uncounted"):
        conn.execute(f"DROP TRIGGER IF EXISTS {trigger}")
    conn.execute("INSERT INTO snapshot_text (snapshot_text, rank) VALUES ('hashsize', ?)", (BUILD_FTS_HASH_BYTES,))
    conn.execute("INSERT INTO snapshot_text (snapshot_text, rank) VALUES ('automerge', ?)", (BUILD_FTS_AUTOMERGE,))
    conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('building', '1')")


def _finish_build(conn: sqlite3.Connection) -> None:
    """A built catalog as an incrementally written one: its secondary indexes (each sorted once), day counts
    counted from the rows, the triggers that keep them, FTS5's usual write buffer."""
    for statement in _BUILT_LAST:
        conn.execute(statement)
    conn.execute("DELETE FROM day_counts")
    conn.execute(_FILL_DAY_COUNTS)
    for statement in _DAY_COUNTS:
        conn.execute(statement)
    conn.execute("INSERT INTO snapshot_text (snapshot_text, rank) VALUES ('hashsize', ?)", (FTS_HASH_BYTES,))
    conn.execute("INSERT INTO snapshot_text (snapshot_text, rank) VALUES ('automerge', ?)", (FTS_AUTOMERGE,))
    conn.execute("DELETE FROM meta WHERE key = 'building'")


def remove_db(path: Path) -> None:
    """Remove a catalog file with its WAL, shared-memory and rollback-journal files (a build's hot journal must
    never meet a new file of the same name)."""
    for suffix in ("", "-wal", "-shm", "-journal"):
        Path(str(path) + suffix).unlink(missing_ok=True)


class SqliteFile:
    """One SQLite catalog file (WAL). Thread-safe: one connection behind a lock."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self._conn = connect(self.path)
        self._build_mark: int | None = None  # building: total_changes at the last commit
        self._build_failed = False

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def __enter__(self) -> Any:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextlib.contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        """One atomic write: its own transaction, or during a build part of the build's current one (committed
        every :data:`BUILD_COMMIT_CHANGES` rows). A write that fails rolls back what the build has not committed
        yet and ends the build: later writes would otherwise stand on lost ones."""
        with self._lock:
            if self._build_failed:
                raise self._build_failed_error()
            building = self._build_mark is not None
            if not building:
                self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                self._build_failed = building
                raise
            if not building:
                self._conn.execute("COMMIT")
            elif self._conn.total_changes - (self._build_mark or 0) >= BUILD_COMMIT_CHANGES:
                self._conn.execute("COMMIT")
                self._conn.execute("BEGIN IMMEDIATE")
                self._build_mark = self._conn.total_changes

    @contextlib.contextmanager
    def building(self) -> Iterator[None]:
        """Fill a new catalog file in bulk (a reindex into the file it then swaps in, a benchmark): the rows go
        in through the usual writes, in large transactions, while the secondary indexes and day counts wait for
        the end, where each is built once. Only for a file no reader uses: CatalogError if the catalog holds
        snapshots and is not a build resumed. Interrupted (an exception between writes), it commits the writes
        done and stays a build, which the next ``building()`` resumes."""
        with self._lock:
            if self.get_meta("building") is None and self._one("SELECT 1 FROM snapshots LIMIT 1") is not None:
                raise CatalogError(f"{self.path}: holds snapshots; a catalog is built in bulk only into a new file")
            with self._tx() as conn:
                _start_build(conn)
            self._conn.execute(f"PRAGMA journal_mode={BUILD_JOURNAL}")
            self._conn.execute("BEGIN IMMEDIATE")
            self._build_mark = self._conn.total_changes
            try:
                yield
            finally:
                failed, self._build_mark, self._build_failed = self._build_failed, None, False
                if not failed:
                    self._conn.execute("COMMIT")
                self._conn.execute("PRAGMA journal_mode=WAL")
            if failed:
                raise self._build_failed_error()
            with self._tx() as conn:
                _finish_build(conn)

    def _build_failed_error(self) -> CatalogError:
        return CatalogError(f"{self.path}: a write of this build failed; run the build again (it resumes)")

    def _all(self, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        with self._lock:
            return self._conn.execute(sql, params).fetchall()

    def _one(self, sql: str, params: Sequence[Any] = ()) -> sqlite3.Row | None:
        with self._lock:
            return self._conn.execute(sql, params).fetchone()

    def _page(
        self, sql: str, count_sql: str, params: Sequence[Any], page: int, per_page: int
    ) -> tuple[list[sqlite3.Row], int]:
        """Rows of one page (``page``/``per_page`` already checked) and the total count."""
        with self._lock:
            total = self._conn.execute(count_sql, params).fetchone()[0]
            rows = self._conn.execute(f"{sql} LIMIT ? OFFSET ?", (*params, per_page, (page - 1) * per_page)).fetchall()
        return rows, total

    def get_meta(self, key: str) -> str | None:
        row = self._one("SELECT value FROM meta WHERE key = ?", (key,))
        return row["value"] if row else None

    def set_meta(self, key: str, value: str) -> None:
        with self._tx() as conn:
            conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))

    def checkpoint(self) -> None:
        with self._lock:
            self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")


def local_catalog_unusable(directory: str | Path, exc: BaseException) -> CatalogError:
    """What to say when the local catalog's directory cannot be used (read-only, full, not a directory): the
    archive itself is intact, and the way out."""
    reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc) or type(exc).__name__
    return CatalogError(
        f"the local browse catalog in {Path(directory).absolute()} cannot be used ({reason}); the archive itself "
        "is intact. Make that directory writable or free space on it (or set storage.data_dir to another "
        "directory), then run `feedvault reindex` to rebuild the catalog from the archive"
    )


@contextlib.contextmanager
def local_catalog_errors(directory: str | Path) -> Iterator[None]:
    """Turn OS and SQLite errors of the local catalog (a read-only or full ``data_dir``) into one CatalogError
    that says what to do, instead of a traceback."""
    try:
        yield
    except CatalogError:
        raise
    except (OSError, sqlite3.Error) as exc:
        raise local_catalog_unusable(directory, exc) from exc
