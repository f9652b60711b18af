"""The browse catalog: an SQLite (FTS5) index of committed snapshots, derived from the S3 archive.

S3 stays the source of truth. The catalog indexes what committed runs (those with a run manifest) archived:
one row per clean snapshot, the per-feed and run manifests, and the takedown tombstones. It is updated by each
run (:func:`update_after_run`), synced to and from ``catalog/catalog.sqlite`` (:func:`open_catalog`,
:meth:`Catalog.publish`; uploaded every few runs, readers index the runs listed under ``catalog/runs/`` since)
and rebuilt from the archive alone by :meth:`Catalog.reindex`. Listing and search read the catalog, never S3
listings.

A snapshot's id is stable: the first 16 hex chars of sha256 of its clean key. A tombstoned URL is never
listed: its rows are dropped when the tombstone is seen and never inserted again.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import hashlib
import html
import json
import logging
import os
import re
import sqlite3
import tempfile
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, TypeVar

from feedvault import keys
from feedvault.permission.usage import usage_of
from feedvault.store.backends import NotFound, ObjectInfo, StorageError, Store

logger = logging.getLogger(__name__)

SCHEMA_VERSION = 3  # 3: snapshots.usage (the publisher's usage preferences); a version-2 catalog is migrated
MAX_PER_PAGE = 100
MAX_PAGE = 10_000
MAX_QUERY_CHARS = 256
MAX_QUERY_TERMS = 16
HIGHLIGHT_START, HIGHLIGHT_END = "\x02", "\x03"
"""Markers around matched terms in :attr:`SearchHit.snippet` (control chars: never in cleaned text)."""
FETCH_WORKERS = 8
ARCHIVED = ("new", "changed")

T = TypeVar("T")
Progress = Callable[[int, int, str], None]
"""``progress(done, total, what)`` during :meth:`Catalog.reindex`."""


class CatalogError(StorageError):
    """The catalog cannot be used or updated (corrupt file, wrong schema, missing run manifest)."""


# -- results ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of results; ``total`` counts all matches."""

    items: list[T]
    page: int
    per_page: int
    total: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))

    @property
    def has_next(self) -> bool:
        return self.page < self.pages


@dataclass(frozen=True)
class FeedSummary:
    id: str
    last_run_id: str
    last_run_at: str | None
    last_status: str
    last_counts: dict[str, int]
    snapshot_count: int
    permission_status: str  # valid | expiring | refused:<reason> | unknown
    permission: dict[str, Any] | None


@dataclass(frozen=True)
class DaySummary:
    feed: str
    day: str  # YYYY-MM-DD: the partition day of the runs that archived these snapshots
    snapshot_count: int
    run_ids: list[str]


@dataclass(frozen=True)
class SnapshotSummary:
    id: str
    url: str
    feed: str
    run_id: str
    day: str
    fetched_at: str
    title: str | None
    published: str | None
    language: str | None
    word_count: int | None
    sha256: str | None
    usage: dict[str, Any]  # the publisher's usage preferences at capture time (feedvault.permission.usage)


@dataclass(frozen=True)
class Snapshot(SnapshotSummary):
    """A snapshot with its clean text and everything the clean record says about it."""

    clean_key: str
    text: str
    metadata: dict[str, Any]
    entry: dict[str, Any]
    permission: dict[str, Any]
    raw: dict[str, Any]
    removed: list[dict[str, Any]]
    rights_reservations: list[Any]
    error: str | None

    @property
    def summary(self) -> SnapshotSummary:
        return SnapshotSummary(**{f.name: getattr(self, f.name) for f in dataclasses.fields(SnapshotSummary)})


@dataclass(frozen=True)
class SearchHit:
    snapshot: SnapshotSummary
    snippet: str  # matched terms between HIGHLIGHT_START and HIGHLIGHT_END
    score: float

    @property
    def snippet_text(self) -> str:
        return self.snippet.replace(HIGHLIGHT_START, "").replace(HIGHLIGHT_END, "")

    @property
    def snippet_html(self) -> str:
        """The snippet HTML-escaped, matches in ``<mark>``: safe to insert into a page as is."""
        return html.escape(self.snippet).replace(HIGHLIGHT_START, "<mark>").replace(HIGHLIGHT_END, "</mark>")


@dataclass(frozen=True)
class RunSummary:
    run_id: str
    day: str
    started_at: str | None
    finished_at: str | None
    seconds: float | None
    status: str
    trigger: str | None
    totals: dict[str, int]
    feeds: list[str]
    bytes_written: int
    manifest_key: str


@dataclass(frozen=True)
class Tombstone:
    url: str
    url_key: str
    feed: str | None
    reason: str | None
    date: str | None
    removed: list[Any] = field(default_factory=list)


# -- helpers ---------------------------------------------------------------------------------------------
def snapshot_id(clean_key: str) -> str:
    """The stable id of the snapshot stored at ``clean_key``."""
    return hashlib.sha256(clean_key.encode("utf-8")).hexdigest()[:16]


_SNAPSHOT_ID = re.compile(r"^[0-9a-f]{16}$")


def is_snapshot_id(value: str) -> bool:
    return bool(_SNAPSHOT_ID.match(value))


def check_paging(page: int, per_page: int) -> tuple[int, int]:
    """Validate ``page`` (1..MAX_PAGE) and clamp ``per_page`` to 1..MAX_PER_PAGE; ValueError otherwise."""
    if not isinstance(page, int) or not isinstance(per_page, int):
        raise ValueError("page and per_page must be integers")
    if page < 1 or page > MAX_PAGE:
        raise ValueError(f"page must be between 1 and {MAX_PAGE}, got {page}")
    if per_page < 1:
        raise ValueError(f"per_page must be at least 1, got {per_page}")
    return page, min(per_page, MAX_PER_PAGE)


def parse_day(value: str | dt.date) -> str:
    """``YYYY-MM-DD`` (a date, or text in that form); ValueError otherwise."""
    if isinstance(value, dt.datetime):
        value = value.date()
    if isinstance(value, dt.date):
        return value.isoformat()
    if not isinstance(value, str) or not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        raise ValueError(f"not a day (YYYY-MM-DD): {value!r}")
    try:
        return dt.date.fromisoformat(value).isoformat()
    except ValueError:
        raise ValueError(f"not a valid date: {value!r}") from None


_TERM = re.compile(r'"([^"]*)"?|(\S+)')
_WORD = re.compile(r"\w+", re.UNICODE)


def fts_query(query: str) -> str:
    """Turn user input into a safe FTS5 query: terms AND-ed, ``"quoted phrases"``, trailing ``*`` = prefix.

    Every term is emitted as an FTS5 string, so operators, column filters and stray quotes in the input
    cannot raise. ValueError for empty or oversized queries.
    """
    if not isinstance(query, str):
        raise ValueError("query must be text")
    if len(query) > MAX_QUERY_CHARS:
        raise ValueError(f"query too long ({len(query)} characters; at most {MAX_QUERY_CHARS})")
    parts: list[str] = []
    for match in _TERM.finditer(query):
        phrase, bare = match.group(1), match.group(2)
        words = _WORD.findall(phrase if phrase is not None else bare)
        if not words:
            continue
        prefix = bare is not None and bare.endswith("*") and len(words) == 1
        parts.append('"' + " ".join(words) + '"' + ("*" if prefix else ""))
    if not parts:
        raise ValueError("empty query: give at least one word")
    if len(parts) > MAX_QUERY_TERMS:
        raise ValueError(f"too many terms ({len(parts)}; at most {MAX_QUERY_TERMS})")
    return " ".join(parts)


def _run_day(run_id: str) -> str:
    return keys.RunId(run_id).started.date().isoformat()


def _permission_status(permission: dict[str, Any] | None) -> str:
    if not permission:
        return "unknown"
    if permission.get("decision") != "archive":
        return f"refused:{permission.get('reason') or 'unknown'}"
    return "expiring" if permission.get("warning") else "valid"


def _loads(value: str | None, default: Any) -> Any:
    return json.loads(value) if value else default


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
CREATE INDEX IF NOT EXISTS snapshots_feed_day ON snapshots (feed, day, fetched_at DESC, n);
CREATE INDEX IF NOT EXISTS snapshots_url ON snapshots (url_key, fetched_at);
CREATE INDEX IF NOT EXISTS snapshots_run ON snapshots (run_id);
CREATE INDEX IF NOT EXISTS snapshots_day ON snapshots (day);
CREATE INDEX IF NOT EXISTS snapshots_filter ON snapshots (n, feed, day, language);  -- search filters, narrow
CREATE VIRTUAL TABLE IF NOT EXISTS snapshot_text USING fts5 (
    title, text, tokenize = 'unicode61 remove_diacritics 2', prefix = '2 3'
);
CREATE TABLE IF NOT EXISTS tombstones (
    url_key TEXT PRIMARY KEY, url TEXT NOT NULL, feed TEXT, reason TEXT, date TEXT, removed TEXT NOT NULL
);
"""

_SUMMARY_COLUMNS = "id, url, feed, run_id, day, fetched_at, title, published, language, word_count, sha256, usage"
_S_COLUMNS = ", ".join(f"s.{name}" for name in _SUMMARY_COLUMNS.split(", "))  # the same, joined with FTS


def _summary(row: sqlite3.Row) -> SnapshotSummary:
    fields = {name: row[name] for name in _SUMMARY_COLUMNS.split(", ")}
    fields["usage"] = _loads(fields["usage"], {})
    return SnapshotSummary(**fields)


def _add_usage_column(conn: sqlite3.Connection) -> None:
    """Schema 2 -> 3: the usage column, filled from each row's permission evidence (what was known then)."""
    conn.execute("BEGIN IMMEDIATE")
    conn.execute("ALTER TABLE snapshots ADD COLUMN usage TEXT")
    for n, details in conn.execute("SELECT n, details FROM snapshots").fetchall():
        usage = usage_of({"permission": json.loads(details).get("permission")})
        conn.execute("UPDATE snapshots SET usage = ? WHERE n = ?", (_usage_json(usage), n))
    conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
    conn.execute("COMMIT")


def _usage_json(usage: dict[str, Any]) -> str:
    return json.dumps(usage, ensure_ascii=False, separators=(",", ":"))


def _run_summary(row: sqlite3.Row) -> RunSummary:
    return RunSummary(
        run_id=row["run_id"],
        day=row["day"],
        started_at=row["started_at"],
        finished_at=row["finished_at"],
        seconds=row["seconds"],
        status=row["status"],
        trigger=row["trigger"],
        totals=_loads(row["totals"], {}),
        feeds=_loads(row["feeds"], []),
        bytes_written=row["bytes_written"],
        manifest_key=row["manifest_key"],
    )


def _tombstone(row: sqlite3.Row) -> Tombstone:
    return Tombstone(
        url=row["url"],
        url_key=row["url_key"],
        feed=row["feed"],
        reason=row["reason"],
        date=row["date"],
        removed=_loads(row["removed"], []),
    )


# -- the catalog -----------------------------------------------------------------------------------------
class Catalog:
    """The snapshot index in one SQLite file (WAL). Thread-safe: one connection behind a lock."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self._conn = self._connect(self.path)

    @staticmethod
    def _connect(path: Path) -> sqlite3.Connection:
        try:
            conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=30)
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA foreign_keys=ON")
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            if version == 2:
                _add_usage_column(conn)
                version = SCHEMA_VERSION
            if version not in (0, SCHEMA_VERSION):
                conn.close()
                raise CatalogError(f"{path}: catalog schema {version}, expected {SCHEMA_VERSION}; reindex it")
            if version == 0:
                conn.executescript(_SCHEMA + f"PRAGMA user_version={SCHEMA_VERSION};")
        except sqlite3.OperationalError as exc:  # the directory, not the file: cannot open, read-only, full
            raise local_catalog_unusable(path.parent, exc) from exc
        except sqlite3.DatabaseError as exc:
            raise CatalogError(f"{path}: not a usable catalog ({exc}); `feedvault reindex` rebuilds it") from exc
        return conn

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def __enter__(self) -> Catalog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextlib.contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    def _all(self, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        with self._lock:
            return self._conn.execute(sql, params).fetchall()

    def _one(self, sql: str, params: Sequence[Any] = ()) -> sqlite3.Row | None:
        with self._lock:
            return self._conn.execute(sql, params).fetchone()

    # -- meta --
    def get_meta(self, key: str) -> str | None:
        row = self._one("SELECT value FROM meta WHERE key = ?", (key,))
        return row["value"] if row else None

    def set_meta(self, key: str, value: str) -> None:
        with self._tx() as conn:
            conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))

    # -- writing --
    def insert_records(self, records: Iterable[tuple[str, dict[str, Any]]]) -> int:
        """Insert (or replace) clean records given as ``(clean_key, record)``; tombstoned URLs are skipped.

        The one insert path: :meth:`add_run` and the benchmark use it. Returns how many rows were written.
        """
        with self._tx() as conn:
            return self._insert(conn, records)

    def _insert(self, conn: sqlite3.Connection, records: Iterable[tuple[str, dict[str, Any]]]) -> int:
        gone = {row[0] for row in conn.execute("SELECT url_key FROM tombstones")}
        written = 0
        for clean_key, record in records:
            url = record["url"]
            ukey = keys.url_key(url)
            if ukey in gone:
                continue
            sid = snapshot_id(clean_key)
            old = conn.execute("SELECT n FROM snapshots WHERE id = ?", (sid,)).fetchone()
            if old:
                conn.execute("DELETE FROM snapshot_text WHERE rowid = ?", (old[0],))
                conn.execute("DELETE FROM snapshots WHERE n = ?", (old[0],))
            meta = record.get("metadata") or {}
            entry = record.get("entry") or {}
            title = meta.get("title") or entry.get("title")
            details = {
                k: record.get(k)
                for k in ("metadata", "entry", "permission", "raw", "removed", "rights_reservations", "error")
            }
            cursor = conn.execute(
                "INSERT INTO snapshots (id, clean_key, url, url_key, feed, run_id, day, fetched_at, title,"
                " published, language, word_count, sha256, details, usage) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (
                    sid,
                    clean_key,
                    url,
                    ukey,
                    record["feed"],
                    record["run_id"],
                    _run_day(record["run_id"]),
                    record.get("fetched_at") or "",
                    title,
                    entry.get("published") or meta.get("date"),
                    meta.get("language"),
                    meta.get("word_count"),
                    (record.get("raw") or {}).get("sha256"),
                    json.dumps(details, ensure_ascii=False, separators=(",", ":")),
                    _usage_json(usage_of(record)),
                ),
            )
            conn.execute(
                "INSERT INTO snapshot_text (rowid, title, text) VALUES (?, ?, ?)",
                (cursor.lastrowid, title or "", record.get("text") or ""),
            )
            written += 1
        return written

    def add_run(self, store: Store, run_manifest_key: str, *, sync_tombstones: bool = True) -> int:
        """Index one committed run: its manifest, feed manifests and clean records. Idempotent.

        Returns the number of snapshots indexed. Tombstones are synced first, so none is indexed.
        """
        try:
            manifest = json.loads(store.get_bytes(run_manifest_key))
        except NotFound:
            raise CatalogError(f"no run manifest at {run_manifest_key}: the run is not committed") from None
        if sync_tombstones:
            self.sync_tombstones(store)
        run_id = manifest["run_id"]
        feed_rows, clean_keys = [], []
        for summary in manifest.get("feeds", []):
            feed_manifest: dict[str, Any] = {}
            if summary.get("manifest_key"):
                with contextlib.suppress(NotFound):
                    feed_manifest = json.loads(store.get_bytes(summary["manifest_key"]))
            feed_rows.append(
                (
                    summary["feed"],
                    run_id,
                    summary["status"],
                    feed_manifest.get("finished_at") or manifest.get("finished_at"),
                    json.dumps(summary.get("counts", {})),
                    json.dumps(feed_manifest.get("permission")) if feed_manifest.get("permission") else None,
                    summary.get("manifest_key"),
                )
            )
            clean_keys += [
                u["clean_key"]
                for u in feed_manifest.get("urls", [])
                if u.get("clean_key") and u.get("outcome") in ARCHIVED
            ]
        records = list(_fetch_records(store, clean_keys))
        with self._tx() as conn:
            conn.execute(
                "DELETE FROM snapshot_text WHERE rowid IN (SELECT n FROM snapshots WHERE run_id = ?)", (run_id,)
            )
            conn.execute("DELETE FROM snapshots WHERE run_id = ?", (run_id,))
            conn.execute("DELETE FROM feed_runs WHERE run_id = ?", (run_id,))
            conn.execute(
                "INSERT OR REPLACE INTO runs (run_id, day, started_at, finished_at, seconds, status, trigger,"
                " totals, feeds, bytes_written, manifest_key) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                (
                    run_id,
                    _run_day(run_id),
                    manifest.get("started_at"),
                    manifest.get("finished_at"),
                    manifest.get("seconds"),
                    manifest.get("status", "unknown"),
                    manifest.get("trigger"),
                    json.dumps(manifest.get("totals", {})),
                    json.dumps([f["feed"] for f in manifest.get("feeds", [])]),
                    manifest.get("bytes_written", 0),
                    run_manifest_key,
                ),
            )
            conn.executemany("INSERT INTO feed_runs VALUES (?,?,?,?,?,?,?)", feed_rows)
            return self._insert(conn, records)

    def reindex(self, store: Store, progress: Progress | None = None) -> int:
        """Rebuild the whole catalog from the archive (committed runs only); swaps the file in atomically."""
        manifests = sorted(
            (obj.key for obj in store.list("runs/") if obj.key.endswith("/manifest.json")),
            key=lambda key: key.split("/")[-2],
        )
        fd, name = tempfile.mkstemp(dir=self.path.parent, prefix=".reindex-", suffix=".sqlite")
        os.close(fd)
        os.unlink(name)
        fresh = Catalog(name)
        total = 0
        try:
            fresh.sync_tombstones(store)
            for done, key in enumerate(manifests, 1):
                total += fresh.add_run(store, key, sync_tombstones=False)
                if progress:
                    progress(done, len(manifests), key.split("/")[-2])
            for meta in self._all("SELECT key, value FROM meta WHERE key != 'synced_etag'"):
                fresh.set_meta(meta["key"], meta["value"])
            fresh.checkpoint()
        except BaseException:
            fresh.close()
            _remove_db(Path(name))
            raise
        fresh.close()
        with self._lock:
            self._conn.close()
            _remove_db(self.path)
            os.replace(name, self.path)
            _remove_db(Path(name))  # its -wal/-shm, if any
            self._conn = self._connect(self.path)
        return total

    def apply_new_runs(self, store: Store) -> int:
        """Index the committed runs this copy lacks, from their manifests; returns how many were added.

        The published catalog is not re-uploaded after every run (see :func:`update_after_run`); each run leaves
        an entry under ``catalog/runs/`` instead, and the runs listed there that this copy lacks are indexed from
        the archive (one LIST per 1,000 runs, then each new run's manifests and clean records).
        """
        known = {row[0] for row in self._all("SELECT run_id FROM runs")}
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

    def runs_since_publish(self) -> int:
        """Runs this copy holds that the published catalog it was synced from (or last published) lacks."""
        return self.counts()["runs"] - int(self.get_meta("published_runs") or 0)

    def refresh_warcs(self, store: Store, warc_keys: Iterable[str]) -> int:
        """Re-read the clean records of the snapshots in these WARCs (after a takedown rewrote or deleted them:
        their raw offsets moved); snapshots whose clean record is gone are dropped. Returns rows refreshed."""
        wanted = set(warc_keys)
        rows = self._all("SELECT n, clean_key, json_extract(details, '$.raw.warc_key') AS w FROM snapshots")
        stale = [(r["n"], r["clean_key"]) for r in rows if r["w"] in wanted]
        found = dict(_fetch_records(store, [key for _, key in stale]))
        with self._tx() as conn:
            for n, key in stale:
                if key not in found:
                    conn.execute("DELETE FROM snapshot_text WHERE rowid = ?", (n,))
                    conn.execute("DELETE FROM snapshots WHERE n = ?", (n,))
            return self._insert(conn, found.items())

    # -- tombstones --
    def sync_tombstones(self, store: Store) -> int:
        """Record every tombstone in the archive and drop its URL's snapshots; returns how many were new."""
        known = {row["url_key"] for row in self._all("SELECT url_key FROM tombstones")}
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
        url = tombstone["url"]
        with self._tx() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO tombstones (url_key, url, feed, reason, date, removed) VALUES (?,?,?,?,?,?)",
                (
                    keys.url_key(url),
                    url,
                    tombstone.get("feed"),
                    tombstone.get("reason"),
                    tombstone.get("date"),
                    json.dumps(tombstone.get("removed", [])),
                ),
            )
            return self._forget(conn, url)

    def forget_url(self, url: str) -> int:
        """Drop every snapshot of ``url`` from the catalog; returns how many."""
        with self._tx() as conn:
            return self._forget(conn, url)

    @staticmethod
    def _forget(conn: sqlite3.Connection, url: str) -> int:
        ukey = keys.url_key(url)
        conn.execute("DELETE FROM snapshot_text WHERE rowid IN (SELECT n FROM snapshots WHERE url_key = ?)", (ukey,))
        return conn.execute("DELETE FROM snapshots WHERE url_key = ?", (ukey,)).rowcount

    # -- reading --
    def _page(
        self, sql: str, count_sql: str, params: Sequence[Any], page: int, per_page: int
    ) -> tuple[list[sqlite3.Row], int]:
        """Rows of one page (``page``/``per_page`` already checked) and the total count."""
        with self._lock:
            total = self._conn.execute(count_sql, params).fetchone()[0]
            rows = self._conn.execute(f"{sql} LIMIT ? OFFSET ?", (*params, per_page, (page - 1) * per_page)).fetchall()
        return rows, total

    def feeds(self) -> list[FeedSummary]:
        """Every feed the archive has runs of, with its last run and permission status."""
        rows = self._all(
            "SELECT fr.*, (SELECT count(*) FROM snapshots s WHERE s.feed = fr.feed) AS snapshot_count"
            " FROM feed_runs fr WHERE fr.run_id = (SELECT max(run_id) FROM feed_runs WHERE feed = fr.feed)"
            " ORDER BY fr.feed"
        )
        return [
            FeedSummary(
                id=row["feed"],
                last_run_id=row["run_id"],
                last_run_at=row["finished_at"],
                last_status=row["status"],
                last_counts=_loads(row["counts"], {}),
                snapshot_count=row["snapshot_count"],
                permission_status=_permission_status(_loads(row["permission"], None)),
                permission=_loads(row["permission"], None),
            )
            for row in rows
        ]

    def feed(self, feed_id: str) -> FeedSummary | None:
        """One feed's summary, or None if the archive has no run of it."""
        return next((f for f in self.feeds() if f.id == feed_id), None)

    def day_snapshots(self, feed: str, day: str | dt.date) -> list[tuple[str, str]]:
        """``(id, clean_key)`` of every snapshot of a feed's day, in listing order (for exports)."""
        rows = self._all(
            "SELECT id, clean_key FROM snapshots WHERE feed = ? AND day = ? ORDER BY fetched_at DESC, n",
            (feed, parse_day(day)),
        )
        return [(r["id"], r["clean_key"]) for r in rows]

    def snapshot_ids(
        self, *, feed: str | None = None, day: str | dt.date | None = None, run_id: str | None = None
    ) -> list[str]:
        """Ids of the snapshots matching every given filter, oldest fetch first (for exports)."""
        rows = self._all(
            "SELECT id FROM snapshots WHERE (?1 IS NULL OR feed = ?1) AND (?2 IS NULL OR day = ?2)"
            " AND (?3 IS NULL OR run_id = ?3) ORDER BY fetched_at, n",
            (feed, parse_day(day) if day is not None else None, run_id),
        )
        return [r["id"] for r in rows]

    def warc_keys(self, run_id: str | None = None) -> list[str]:
        """The WARCs holding indexed snapshots (of one run, or all): committed runs only."""
        rows = self._all(
            "SELECT DISTINCT json_extract(details, '$.raw.warc_key') AS k FROM snapshots"
            " WHERE k IS NOT NULL AND (?1 IS NULL OR run_id = ?1) ORDER BY k",
            (run_id,),
        )
        return [r["k"] for r in rows]

    def days(self, feed: str, page: int = 1, per_page: int = 31) -> Page[DaySummary]:
        """The days a feed has snapshots on, newest first."""
        page, per_page = check_paging(page, per_page)
        rows, total = self._page(
            "SELECT day, count(*) AS n, group_concat(DISTINCT run_id) AS run_ids FROM snapshots WHERE feed = ?"
            " GROUP BY day ORDER BY day DESC",
            "SELECT count(DISTINCT day) FROM snapshots WHERE feed = ?",
            (feed,),
            page,
            per_page,
        )
        items = [DaySummary(feed, r["day"], r["n"], sorted(r["run_ids"].split(","))) for r in rows]
        return Page(items, page, per_page, total)

    def articles(self, feed: str, day: str | dt.date, page: int = 1, per_page: int = 50) -> Page[SnapshotSummary]:
        """Snapshots a feed archived on ``day``, newest fetch first."""
        page, per_page = check_paging(page, per_page)
        rows, total = self._page(
            f"SELECT {_SUMMARY_COLUMNS} FROM snapshots WHERE feed = ? AND day = ? ORDER BY fetched_at DESC, n",
            "SELECT count(*) FROM snapshots WHERE feed = ? AND day = ?",
            (feed, parse_day(day)),
            page,
            per_page,
        )
        return Page([_summary(r) for r in rows], page, per_page, total)

    def articles_published(
        self, feed: str, day: str | dt.date, page: int = 1, per_page: int = 50
    ) -> Page[SnapshotSummary]:
        """Snapshots of a feed whose article was published on ``day`` (the publisher's date), newest fetch first."""
        page, per_page = check_paging(page, per_page)
        rows, total = self._page(
            f"SELECT {_SUMMARY_COLUMNS} FROM snapshots WHERE feed = ? AND substr(published, 1, 10) = ?"
            " ORDER BY fetched_at DESC, n",
            "SELECT count(*) FROM snapshots WHERE feed = ? AND substr(published, 1, 10) = ?",
            (feed, parse_day(day)),
            page,
            per_page,
        )
        return Page([_summary(r) for r in rows], page, per_page, total)

    def snapshot(self, snapshot_id: str) -> Snapshot | None:
        if not isinstance(snapshot_id, str) or not is_snapshot_id(snapshot_id):
            return None
        row = self._one(
            f"SELECT {_S_COLUMNS}, s.clean_key, s.details, t.text FROM snapshots s"
            " JOIN snapshot_text t ON t.rowid = s.n WHERE s.id = ?",
            (snapshot_id,),
        )
        if row is None:
            return None
        details = json.loads(row["details"])
        return Snapshot(
            **dataclasses.asdict(_summary(row)),
            clean_key=row["clean_key"],
            text=row["text"],
            metadata=details.get("metadata") or {},
            entry=details.get("entry") or {},
            permission=details.get("permission") or {},
            raw=details.get("raw") or {},
            removed=details.get("removed") or [],
            rights_reservations=details.get("rights_reservations") or [],
            error=details.get("error"),
        )

    def history(self, url: str) -> list[SnapshotSummary]:
        """Every snapshot of ``url`` (in its normalised form), oldest first."""
        try:
            ukey = keys.url_key(url)
        except (ValueError, keys.UnsafeKeyError):
            return []
        rows = self._all(
            f"SELECT {_SUMMARY_COLUMNS} FROM snapshots WHERE url_key = ? ORDER BY fetched_at, run_id", (ukey,)
        )
        return [_summary(r) for r in rows]

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
    ) -> Page[SearchHit]:
        """Full-text search over titles and clean text, best match (bm25) first.

        ``date_from``/``date_to`` bound the snapshot's capture day, ``published_from``/``published_to`` its
        publication day as the publisher stated it (inclusive). ValueError for bad input.
        """
        page, per_page = check_paging(page, per_page)
        match = fts_query(query)
        where, params = ["snapshot_text MATCH ?"], [match]
        if feed:
            where.append("s.feed = ?")
            params.append(feed)
        if date_from is not None:
            where.append("s.day >= ?")
            params.append(parse_day(date_from))
        if date_to is not None:
            where.append("s.day <= ?")
            params.append(parse_day(date_to))
        if date_from is not None and date_to is not None and parse_day(date_from) > parse_day(date_to):
            raise ValueError("date_from is after date_to")
        for bound, op in ((published_from, ">="), (published_to, "<=")):
            if bound is not None:
                where.append(f"substr(s.published, 1, 10) {op} ?")
                params.append(parse_day(bound))
        if (
            published_from is not None
            and published_to is not None
            and parse_day(published_from) > parse_day(published_to)
        ):
            raise ValueError("published_from is after published_to")
        if language:
            where.append("s.language = ?")
            params.append(language)
        # FTS first (CROSS JOIN fixes the join order), rank and page on rowids, then snippets for one page only:
        # snippet() re-reads the text, so it must not run for every match.
        filtered = " CROSS JOIN snapshots s INDEXED BY snapshots_filter ON s.n = t.rowid" if len(where) > 1 else ""
        joined = " FROM snapshot_text t" + filtered
        joined += " WHERE " + " AND ".join(where)
        ranked, total = self._page(
            "SELECT t.rowid AS n, bm25(snapshot_text, 4.0, 1.0) AS score" + joined + " ORDER BY score, t.rowid",
            "SELECT count(*)" + joined,
            params,
            page,
            per_page,
        )
        rows = self._all(
            f"SELECT {_S_COLUMNS}, s.n,"
            f" snippet(snapshot_text, -1, '{HIGHLIGHT_START}', '{HIGHLIGHT_END}', '…', 24) AS snip"
            " FROM snapshot_text t CROSS JOIN snapshots s ON s.n = t.rowid"
            f" WHERE snapshot_text MATCH ? AND t.rowid IN ({','.join('?' * len(ranked))})",
            (match, *(r["n"] for r in ranked)),
        )
        found = {r["n"]: r for r in rows}
        items = [
            SearchHit(_summary(found[r["n"]]), found[r["n"]]["snip"], r["score"]) for r in ranked if r["n"] in found
        ]
        return Page(items, page, per_page, total)

    def runs(self, page: int = 1, per_page: int = 20) -> Page[RunSummary]:
        """Committed runs, newest first."""
        page, per_page = check_paging(page, per_page)
        rows, total = self._page(
            "SELECT * FROM runs ORDER BY run_id DESC", "SELECT count(*) FROM runs", (), page, per_page
        )
        return Page([_run_summary(r) for r in rows], page, per_page, total)

    def run(self, run_id: str) -> RunSummary | None:
        row = self._one("SELECT * FROM runs WHERE run_id = ?", (run_id,))
        return _run_summary(row) if row else None

    def tombstones(self, page: int = 1, per_page: int = 50) -> Page[Tombstone]:
        """Taken-down URLs, most recent first."""
        page, per_page = check_paging(page, per_page)
        rows, total = self._page(
            "SELECT * FROM tombstones ORDER BY date DESC, url", "SELECT count(*) FROM tombstones", (), page, per_page
        )
        return Page([_tombstone(r) for r in rows], page, per_page, total)

    def is_tombstoned(self, url: str) -> bool:
        return self._one("SELECT 1 FROM tombstones WHERE url_key = ?", (keys.url_key(url),)) is not None

    def counts(self) -> dict[str, int]:
        """Row counts (snapshots, runs, tombstones), for status lines."""
        return {
            table: self._one(f"SELECT count(*) FROM {table}")[0]  # type: ignore[index]
            for table in ("snapshots", "runs", "tombstones")
        }

    # -- sync --
    def checkpoint(self) -> None:
        with self._lock:
            self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")

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


def _fetch_records(store: Store, clean_keys: list[str]) -> Iterator[tuple[str, dict[str, Any]]]:
    """Clean records by key, fetched in parallel; keys that are gone are skipped."""

    def fetch(key: str) -> tuple[str, dict[str, Any]] | None:
        try:
            return key, json.loads(store.get_bytes(key))
        except NotFound:
            logger.warning("catalog: %s is listed in a feed manifest but missing", key)
            return None

    if not clean_keys:
        return
    with ThreadPoolExecutor(max_workers=min(FETCH_WORKERS, len(clean_keys))) as pool:
        for item in pool.map(fetch, clean_keys):
            if item is not None:
                yield item


# -- sync with the archive ----------------------------------------------------------------------------------
CATALOG_FILE = "catalog.sqlite"
REPUBLISH_EVERY_RUNS = 14  # runs between uploads of the whole catalog; readers index the runs since themselves


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
    _remove_db(path)
    catalog = Catalog(path)
    catalog.set_meta("store_uri", store.uri)
    return catalog


def _version(info: ObjectInfo | None) -> str:
    """What identifies a published catalog's version: its ETag (or size and time where there is none)."""
    if info is None:
        return ""
    return info.etag or f"{info.size}@{info.last_modified}"


def _remove_db(path: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(str(path) + suffix).unlink(missing_ok=True)


@contextlib.contextmanager
def _published_copy(store: Store, directory: Path) -> Iterator[Path]:
    """The published catalog, downloaded next to the local one and validated (opens, right schema); removed
    afterwards unless the caller moved it. Raises CatalogError or NotFound when it is unusable."""
    directory.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=directory, prefix=".download-", suffix=".sqlite")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(store.get_bytes(keys.CATALOG_KEY))
        Catalog(name).close()
        yield Path(name)
    finally:
        _remove_db(Path(name))


def _download(store: Store, path: Path, etag: str) -> Catalog | None:
    """Fetch the published catalog into ``path``; None if it is unusable (then the caller reindexes)."""
    try:
        with _published_copy(store, path.parent) as copy:
            _remove_db(path)
            os.replace(copy, path)
    except (CatalogError, NotFound) as exc:
        logger.warning("published catalog unusable (%s); reindexing", exc)
        return None
    catalog = Catalog(path)
    catalog.set_meta("store_uri", store.uri)
    catalog.set_meta("synced_etag", etag)
    return catalog


def update_after_takedown(store: Store, local_dir: str | Path, summary: dict[str, Any]) -> None:
    """Bring the catalog in line with a takedown's summary, and publish it: tombstoned URLs dropped, pointers
    into rewritten WARCs refreshed (the takedown itself rewrote the WARCs' CDXJ indexes)."""
    touched = [*summary.get("warcs_rewritten", []), *summary.get("warcs_deleted", [])]
    with open_catalog(store, local_dir) as catalog:
        catalog.sync_tombstones(store)
        catalog.refresh_warcs(store, touched)
        catalog.publish(store, compact=True)


def list_committed_run(store: Store, run: keys.RunId) -> None:
    """List a committed run under ``catalog/runs/`` for readers to index: part of the commit (written right after
    the run manifest), so it never depends on the local catalog being usable."""
    store.put_bytes(keys.catalog_run_key(run), b"", content_type="text/plain")


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
