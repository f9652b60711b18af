"""The published SQLite catalog as immutable pieces: publishing costs what the run added, readers fetch what they lack.

Each committed run is uploaded once as a small SQLite file of its rows (``catalog/pieces/<run-id>/<version>.sqlite``:
its run, feed-run and snapshot rows with their text). ``catalog/index.json`` maps every run id to the piece that
holds it and the version of its rows; it is updated with compare-and-swap and grows by one short entry per run.
A reader reads the index, downloads only the pieces holding runs it lacks (or holds at an older version) and
applies those runs through the backend's write primitives. Pieces of closed months are merged into one month
piece (:func:`compact`); a takedown rewrites only the pieces holding the URL's runs (:func:`rewrite_runs`), with
new versions for the runs it changed. So a run costs one piece and one index write, and a reader catching up
after a run downloads the index and that piece, whatever the size of the archive.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import logging
import os
import sqlite3
import tempfile
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from feedvault import keys
from feedvault.catalog.interface import CatalogTables, FeedRunRow, RunRow, RunRows, SnapshotRow
from feedvault.store.backends import NotFound, Store, VersionConflict

logger = logging.getLogger(__name__)

INDEX_FORMAT = 1
CAS_ATTEMPTS = 8

_PIECE_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS piece_runs (run_id TEXT PRIMARY KEY, version TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS runs ({", ".join(RunRow._fields)});
CREATE TABLE IF NOT EXISTS feed_runs ({", ".join(FeedRunRow._fields)});
CREATE TABLE IF NOT EXISTS snapshots ({", ".join(SnapshotRow._fields)});
"""


@dataclass
class PieceIndex:
    """``catalog/index.json``: run id -> ``{"piece": key, "version": v}``, and each piece's size."""

    runs: dict[str, dict[str, str]] = field(default_factory=dict)
    pieces: dict[str, int] = field(default_factory=dict)

    @classmethod
    def parse(cls, data: bytes) -> PieceIndex:
        doc = json.loads(data)
        if doc.get("format") != INDEX_FORMAT:
            raise ValueError(f"catalog index format {doc.get('format')!r}, expected {INDEX_FORMAT}")
        return cls(runs=doc.get("runs", {}), pieces=doc.get("pieces", {}))

    def dumps(self) -> bytes:
        doc = {"format": INDEX_FORMAT, "runs": self.runs, "pieces": self.pieces}
        return json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()

    def place(self, key: str, size: int, versions: dict[str, str]) -> list[str]:
        """Point these runs at piece ``key``; returns the pieces no run points at any more (to delete)."""
        self.pieces[key] = size
        for run_id, version in versions.items():
            self.runs[run_id] = {"piece": key, "version": version}
        used = {entry["piece"] for entry in self.runs.values()}
        orphans = [piece for piece in self.pieces if piece not in used]
        for piece in orphans:
            del self.pieces[piece]
        return orphans


def load_index(store: Store) -> tuple[PieceIndex, str | None]:
    """The index and its version (None: none published yet)."""
    try:
        data, version = store.get_versioned(keys.CATALOG_INDEX_KEY)
    except NotFound:
        return PieceIndex(), None
    try:
        return PieceIndex.parse(data), version
    except (ValueError, AttributeError) as exc:  # unreadable: readers index from run manifests; writers replace it
        logger.warning("%s is unusable (%s); `feedvault reindex` republishes the catalog", keys.CATALOG_INDEX_KEY, exc)
        return PieceIndex(), version


Known = tuple[PieceIndex, str | None]
"""The index and its compare-and-swap version as a writer last saw it (its own write, or a read)."""


def update_index(store: Store, key: str, size: int, versions: dict[str, str], known: Known | None = None) -> Known:
    """Record a piece in the index (compare-and-swap from ``known`` without reading it; re-read on conflict),
    then delete pieces it orphaned. Returns the index as written and its new version."""
    for attempt in range(CAS_ATTEMPTS):
        index, version = known if known is not None and attempt == 0 else load_index(store)
        index = PieceIndex(dict(index.runs), dict(index.pieces))
        orphans = index.place(key, size, versions)
        try:
            written = store.put_if(keys.CATALOG_INDEX_KEY, index.dumps(), version)
        except VersionConflict:
            continue
        store.delete(orphans)
        return index, written
    raise VersionConflict(f"{keys.CATALOG_INDEX_KEY}: {CAS_ATTEMPTS} concurrent updates in a row; run again")


# -- piece files --
def write_piece(path: Path, runs: Iterable[tuple[RunRows, str]]) -> dict[str, str]:
    """A piece file holding these runs' rows (read one run at a time), each with its version; returns the
    versions by run id."""
    versions: dict[str, str] = {}
    conn = sqlite3.connect(path)
    try:
        conn.executescript(_PIECE_SCHEMA)
        for rows, version in runs:
            versions[rows.run.run_id] = version
            conn.execute("INSERT INTO piece_runs VALUES (?, ?)", (rows.run.run_id, version))
            conn.execute(f"INSERT INTO runs VALUES ({_marks(RunRow)})", rows.run)
            conn.executemany(f"INSERT INTO feed_runs VALUES ({_marks(FeedRunRow)})", rows.feeds)
            conn.executemany(f"INSERT INTO snapshots VALUES ({_marks(SnapshotRow)})", rows.snapshots)
        conn.commit()
    finally:
        conn.close()
    return versions


def _marks(row_type: type) -> str:
    return ", ".join("?" * len(row_type._fields))  # type: ignore[attr-defined]


def read_piece(path: Path, run_ids: set[str]) -> Iterator[tuple[RunRows, str]]:
    """The rows of these runs from a piece file, with their versions."""
    conn = sqlite3.connect(path)
    try:
        versions = dict(conn.execute("SELECT run_id, version FROM piece_runs").fetchall())
        for run_id in sorted(run_ids & set(versions)):
            run = RunRow(*conn.execute("SELECT * FROM runs WHERE run_id = ?", (run_id,)).fetchone())
            feeds = [FeedRunRow(*r) for r in conn.execute("SELECT * FROM feed_runs WHERE run_id = ?", (run_id,))]
            snaps = [SnapshotRow(*r) for r in conn.execute("SELECT * FROM snapshots WHERE run_id = ?", (run_id,))]
            yield RunRows(run, feeds, snaps), versions[run_id]
    finally:
        conn.close()


@contextlib.contextmanager
def scratch_file(directory: Path) -> Iterator[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=directory, prefix=".piece-", suffix=".sqlite")
    os.close(fd)
    os.unlink(name)
    try:
        yield Path(name)
    finally:
        Path(name).unlink(missing_ok=True)


def upload_piece(
    store: Store, scratch: Path, name: str, runs: Iterable[tuple[RunRows, str]], known: Known | None = None
) -> tuple[dict[str, str], Known | None]:
    """Write and upload one piece (``name``: a run id or ``month-YYYY-MM``) and index it; returns the versions
    of the runs it holds and the index as written (None when there was nothing to upload)."""
    with scratch_file(scratch) as path:
        versions = write_piece(path, runs)
        if not versions:
            return {}, None
        return versions, publish_piece_file(store, path, name, versions, known)


def publish_piece_file(store: Store, path: Path, name: str, versions: dict[str, str], known: Known | None) -> Known:
    """Upload a piece file under a key naming its content, and index the runs it holds at these versions."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    key = keys.catalog_piece_key(name, digest.hexdigest()[:16])
    store.put_file(key, path, content_type="application/vnd.sqlite3")
    return update_index(store, key, path.stat().st_size, versions, known)


class RowStage:
    """A run's snapshot rows, staged in its spool as its pipelines archive each clean record: at commit the file
    becomes the run's piece (:func:`finish_stage`), so no record is read back and no row is written twice.

    Scratch: a row that cannot be staged (a full disk) is read back from its record at commit instead, so after
    the first failure :meth:`add` stages nothing more and returns False, once, for the caller to say so."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.failed: str | None = None
        self._conn: sqlite3.Connection | None = None

    def add(self, row: SnapshotRow) -> bool:
        """Stage one row; False the first time staging fails (the rows after it are not staged either)."""
        if self.failed is not None:
            return True
        try:
            if self._conn is None:
                self._conn = _open_stage(self.path)
            self._conn.execute(_INSERT_SNAPSHOT, row)
        except (OSError, sqlite3.Error) as exc:
            self.failed = f"{type(exc).__name__}: {exc}"
            self.close()
            return False
        return True

    def close(self) -> None:
        """Commit what was staged (the rows staged before a failure stay usable)."""
        if self._conn is not None:
            with contextlib.suppress(sqlite3.Error):
                self._conn.commit()
            self._conn.close()
            self._conn = None


_INSERT_SNAPSHOT = f"INSERT INTO snapshots VALUES ({_marks(SnapshotRow)})"


def _open_stage(path: Path) -> sqlite3.Connection:
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=MEMORY")  # scratch, never read by another process while written
    conn.execute("PRAGMA synchronous=OFF")
    conn.executescript(_PIECE_SCHEMA)
    return conn


def staged_snapshot_rows(stage: Path | None, wanted: set[str]) -> Iterator[SnapshotRow]:
    """The rows staged in ``stage`` (a :class:`RowStage` file) whose clean keys are in ``wanted``, in the order
    they were staged; the keys found are removed from ``wanted`` (what is left was not staged)."""
    if stage is None or not stage.exists():
        return
    key_at = SnapshotRow._fields.index("clean_key")
    conn = sqlite3.connect(f"file:{stage}?mode=ro", uri=True)
    try:
        for row in conn.execute("SELECT * FROM snapshots ORDER BY rowid"):
            if row[key_at] in wanted:
                wanted.discard(row[key_at])
                yield SnapshotRow(*row)
    finally:
        conn.close()


def finish_stage(
    path: Path,
    run: RunRow,
    feeds: list[FeedRunRow],
    clean_keys: list[str],
    *,
    gone: set[str],
    read_back: Callable[[list[str]], Iterable[SnapshotRow]],
) -> dict[str, str]:
    """Make a run's stage (or a new file) its piece, at a new version: the rows of the records its manifests
    committed and nothing else (not those of records withdrawn, nor of URLs in ``gone``, taken down since),
    the rows it lacks from ``read_back``, then its run and feed rows. Returns ``{run_id: version}``."""
    version = new_version()
    conn = sqlite3.connect(path)
    try:
        conn.execute("PRAGMA journal_mode=MEMORY")
        conn.executescript(
            _PIECE_SCHEMA
            + "CREATE TEMP TABLE committed (key TEXT PRIMARY KEY); CREATE TEMP TABLE gone (key TEXT PRIMARY KEY);"
        )
        conn.executemany("INSERT OR IGNORE INTO committed VALUES (?)", ((key,) for key in clean_keys))
        conn.executemany("INSERT OR IGNORE INTO gone VALUES (?)", ((key,) for key in gone))
        conn.execute("DELETE FROM snapshots WHERE clean_key NOT IN (SELECT key FROM committed)")
        present = {key for (key,) in conn.execute("SELECT clean_key FROM snapshots")}
        conn.execute("DELETE FROM snapshots WHERE url_key IN (SELECT key FROM gone)")
        missing = [key for key in clean_keys if key not in present]
        conn.executemany(_INSERT_SNAPSHOT, (row for row in read_back(missing) if row.url_key not in gone))
        for table in ("piece_runs", "runs", "feed_runs"):  # a retried commit finishes the same stage again
            conn.execute(f"DELETE FROM {table}")
        conn.execute("INSERT INTO piece_runs VALUES (?, ?)", (run.run_id, version))
        conn.execute(f"INSERT INTO runs VALUES ({_marks(RunRow)})", run)
        conn.executemany(f"INSERT INTO feed_runs VALUES ({_marks(FeedRunRow)})", feeds)
        conn.commit()
    finally:
        conn.close()
    return {run.run_id: version}


def new_version() -> str:
    """A fresh version for a run's rows (written by a run, or rewritten by a takedown)."""
    return uuid.uuid4().hex[:16]


# -- readers --
def fetch_lacking(
    store: Store, tables: CatalogTables, index: PieceIndex, held: dict[str, str], scratch: Path
) -> dict[str, str]:
    """Download the pieces holding runs this catalog lacks or holds at another version (by ``index``), and
    apply those runs; returns ``{run_id: version}`` of what was applied."""
    wanted: dict[str, set[str]] = {}
    for run_id, entry in index.runs.items():
        if held.get(run_id) != entry["version"]:
            wanted.setdefault(entry["piece"], set()).add(run_id)
    applied: dict[str, str] = {}
    for key, run_ids in sorted(wanted.items()):
        with scratch_file(scratch) as path:
            try:
                path.write_bytes(store.get_bytes(key))
            except NotFound:  # replaced since the index was read: the next sync gets its successor
                logger.warning("catalog piece %s is gone; retried on the next sync", key)
                continue
            for rows, run_version in read_piece(path, run_ids):
                tables.write_run(rows.run, rows.feeds, rows.snapshots)
                applied[rows.run.run_id] = run_version
    return applied


def month_of(run_id: str) -> str:
    return run_id[:4] + "-" + run_id[4:6]


def published_rows(
    store: Store, scratch: Path, index: PieceIndex, run_ids: Iterable[str]
) -> Iterator[tuple[RunRows, str]]:
    """These runs' rows as published, with their versions: each piece holding some of them downloaded once."""
    holding: dict[str, set[str]] = {}
    for run_id in run_ids:
        holding.setdefault(index.runs[run_id]["piece"], set()).add(run_id)
    for key, held in sorted(holding.items()):
        with scratch_file(scratch) as path:
            path.write_bytes(store.get_bytes(key))
            yield from read_piece(path, held)


def compact(store: Store, scratch: Path, every: int, known: Known) -> Known:
    """Merge each month's pieces into one, from the published pieces, once the month is closed or holds ``every``
    pieces (:func:`compactable_months`); runs keep their versions, so readers that hold them download nothing.
    Returns the index as it stands after."""
    month = dt.datetime.now(dt.UTC).strftime("%Y-%m")
    for name, run_ids in compactable_months(known[0], month, every).items():
        rows = published_rows(store, scratch, known[0], run_ids)
        known = upload_piece(store, scratch, f"month-{name}", rows, known)[1] or known
    return known


def compactable_months(index: PieceIndex, current_month: str, every: int) -> dict[str, list[str]]:
    """Months whose runs sit in more than one piece, once closed or once they hold ``every`` pieces: month ->
    its run ids. So small pieces are merged on a schedule and a reader bootstrapping downloads few objects."""
    months: dict[str, set[str]] = {}
    for run_id, entry in index.runs.items():
        months.setdefault(month_of(run_id), set()).add(entry["piece"])
    return {
        month: sorted(r for r in index.runs if month_of(r) == month)
        for month, pieces in months.items()
        if len(pieces) > 1 and (month < current_month or len(pieces) >= every)
    }


def piece_name(key: str) -> str:
    """The name part of a piece's key (a run id or ``month-YYYY-MM``)."""
    return key[len(keys.CATALOG_PIECES_PREFIX) :].split("/", 1)[0]
