"""Reading the catalog: listings, snapshots, runs and tombstones in SQL both backends speak (:class:`SqlQueries`),
and the SQLite catalog's full-text search (FTS5, newest first: :class:`SqliteQueries`)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import sqlite3
from collections.abc import Sequence
from typing import Any, NamedTuple

from feedvault import keys
from feedvault.catalog.results import (
    HIGHLIGHT_END,
    HIGHLIGHT_START,
    SUMMARY_FIELDS,
    DaySummary,
    FeedSummary,
    Page,
    RunSummary,
    SearchFilters,
    SearchHit,
    Snapshot,
    SnapshotSummary,
    Tombstone,
    check_paging,
    counted_page,
    is_snapshot_id,
    loads,
    parse_day,
    permission_status,
    query_terms,
    search_count_limit,
)
from feedvault.catalog.sqlite_file import SqliteFile

Row = Any  # sqlite3.Row or a psycopg dict row: both index by column name

_SUMMARY_COLUMNS = ", ".join(SUMMARY_FIELDS)
_S_COLUMNS = ", ".join(f"s.{name}" for name in SUMMARY_FIELDS)  # the same, joined with FTS


def fts_query(query: str) -> str:
    """User input as a safe FTS5 query: terms AND-ed, ``"quoted phrases"``, trailing ``*`` = prefix.

    Every term is emitted as an FTS5 string, so operators, column filters and stray quotes in the input
    cannot raise. ValueError for empty or oversized queries.
    """
    return " ".join('"' + " ".join(t.words) + '"' + ("*" if t.prefix else "") for t in query_terms(query))


def summary_of(row: Row) -> SnapshotSummary:
    """A snapshot summary from a row (SQLite's or PostgreSQL's) with the summary columns."""
    fields = {name: row[name] for name in SUMMARY_FIELDS}
    fields["usage"] = loads(fields["usage"], {})
    return SnapshotSummary(**fields)


def _run_summary(row: Row) -> RunSummary:
    fields = {f.name: row[f.name] for f in dataclasses.fields(RunSummary)}
    return RunSummary(**{**fields, "totals": loads(row["totals"], {}), "feeds": loads(row["feeds"], [])})


def _tombstone(row: Row) -> Tombstone:
    fields = {f.name: row[f.name] for f in dataclasses.fields(Tombstone)}
    return Tombstone(**{**fields, "removed": loads(row["removed"], [])})


def _feed_summary(row: Row) -> FeedSummary:
    permission = loads(row["permission"], None)
    return FeedSummary(
        id=row["feed"],
        last_run_id=row["run_id"],
        last_run_at=row["finished_at"],
        last_status=row["status"],
        last_counts=loads(row["counts"], {}),
        snapshot_count=row["snapshot_count"],
        permission_status=permission_status(permission),
        permission=permission,
    )


def search_filters(filters: SearchFilters) -> tuple[list[str], list[Any]]:
    """SQL conditions on the snapshot row ``s`` for a search's filters."""
    conditions = (
        ("s.feed = ?", filters.feed),
        ("s.day >= ?", filters.day_from),
        ("s.day <= ?", filters.day_to),
        ("substr(s.published, 1, 10) >= ?", filters.published_from),
        ("substr(s.published, 1, 10) <= ?", filters.published_to),
        ("s.language = ?", filters.language),
    )
    where = [sql for sql, value in conditions if value is not None]
    return where, [value for _, value in conditions if value is not None]


class SearchPlan(NamedTuple):
    """What a search reads, whatever the backend: its filters as conditions on the snapshot row ``s`` and, when
    capture days bound it, the range of ``n`` holding those days (``None``: every row)."""

    where: list[str]
    params: list[Any]
    n_range: tuple[int, int] | None


def count_limit_sql(select: str, mark: str = "?") -> str:
    """``select`` counted up to a limit (its last parameter): a search's total stops at
    :func:`~feedvault.catalog.results.search_count_limit`."""
    return f"SELECT count(*) AS count FROM ({select} LIMIT {mark}) counted"


class SqlQueries:
    """The reads of :class:`~feedvault.catalog.interface.BrowseCatalog` but ``search`` and ``sync``, over the
    backend's ``_all``/``_one``/``_page`` (``?`` placeholders) and its spelling of three expressions."""

    _RUN_IDS = "group_concat(DISTINCT run_id)"  # a day's run ids, comma-separated
    _WARC_KEY = "json_extract(details, '$.raw.warc_key')"
    _SNAPSHOT_TEXT = "t.text FROM snapshots s JOIN snapshot_text t ON t.rowid = s.n"  # a snapshot's clean text

    def _all(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        raise NotImplementedError

    def _one(self, sql: str, params: Sequence[Any] = ()) -> Row | None:
        raise NotImplementedError

    def _page(self, sql: str, count_sql: str, params: Sequence[Any], page: int, per_page: int) -> tuple[list[Row], int]:
        raise NotImplementedError

    def feeds(self) -> list[FeedSummary]:
        """Every feed the archive has runs of, with its last run and permission status."""
        rows = self._all(
            "SELECT fr.*, (SELECT coalesce(sum(snapshots), 0) FROM day_counts d WHERE d.feed = fr.feed)"
            " AS snapshot_count"
            " FROM feed_runs fr WHERE fr.run_id = (SELECT max(run_id) FROM feed_runs WHERE feed = fr.feed)"
            " ORDER BY fr.feed"
        )
        return [_feed_summary(row) for row in rows]

    def _search_plan(self, filters: SearchFilters) -> SearchPlan | None:
        """The search's conditions and the range of ``n`` its capture days (and feed) span, from ``day_counts``;
        None when no snapshot lies in those days."""
        where, params = search_filters(filters)
        if filters.day_from is None and filters.day_to is None:
            return SearchPlan(where, params, None)
        bounds = self._one(
            "SELECT min(first_n) AS lo, max(last_n) AS hi FROM day_counts WHERE day >= ? AND day <= ?"
            " AND (CAST(? AS TEXT) IS NULL OR feed = ?)",
            (filters.day_from or "0000-00-00", filters.day_to or "9999-99-99", filters.feed, filters.feed),
        )
        if bounds is None or bounds["lo"] is None:
            return None
        if filters.feed is not None and not self._other_days_within(filters, bounds["lo"], bounds["hi"]):
            # the n range holds this feed's rows of those days only: the day conditions say nothing more, and
            # without them PostgreSQL's planner estimates the rows left right (it would take the days and the n
            # range for independent, expect a few matches and read a frequent word's whole list in the GIN index)
            where, params = search_filters(dataclasses.replace(filters, day_from=None, day_to=None))
        return SearchPlan(where, params, (bounds["lo"], bounds["hi"]))

    def _other_days_within(self, filters: SearchFilters, lo: int, hi: int) -> bool:
        """Whether the feed may have rows of days outside the filter's within ``lo``..``hi`` (day_counts' bounds
        are supersets, so False is certain)."""
        row = self._one(
            "SELECT 1 AS found FROM day_counts WHERE feed = ? AND (day < ? OR day > ?) AND first_n <= ? AND last_n >= ?"
            " LIMIT 1",
            (filters.feed, filters.day_from or "0000-00-00", filters.day_to or "9999-99-99", hi, lo),
        )
        return row is not None

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
            "SELECT id FROM snapshots WHERE (CAST(? AS TEXT) IS NULL OR feed = ?)"
            " AND (CAST(? AS TEXT) IS NULL OR day = ?) AND (CAST(? AS TEXT) IS NULL OR run_id = ?)"
            " ORDER BY fetched_at, n",
            [value for value in (feed, parse_day(day) if day is not None else None, run_id) for _ in range(2)],
        )
        return [r["id"] for r in rows]

    def warc_keys(self, run_id: str | None = None) -> list[str]:
        """The WARCs holding indexed snapshots (of one run, or all): committed runs only."""
        rows = self._all(
            f"SELECT DISTINCT k FROM (SELECT {self._WARC_KEY} AS k, run_id FROM snapshots) w"
            " WHERE k IS NOT NULL AND (CAST(? AS TEXT) IS NULL OR run_id = ?) ORDER BY k",
            (run_id, run_id),
        )
        return [r["k"] for r in rows]

    def days(self, feed: str, page: int = 1, per_page: int = 31) -> Page[DaySummary]:
        """The days a feed has snapshots on, newest first."""
        page, per_page = check_paging(page, per_page)
        rows, total = self._page(
            f"SELECT day, sum(snapshots) AS n, {self._RUN_IDS} AS run_ids FROM day_counts WHERE feed = ?"
            " GROUP BY day ORDER BY day DESC",
            "SELECT count(DISTINCT day) FROM day_counts WHERE feed = ?",
            (feed,),
            page,
            per_page,
        )
        items = [DaySummary(feed, r["day"], r["n"], sorted(r["run_ids"].split(","))) for r in rows]
        return Page(items, page, per_page, total)

    def articles(self, feed: str, day: str | dt.date, page: int = 1, per_page: int = 50) -> Page[SnapshotSummary]:
        """Snapshots a feed archived on ``day``, newest fetch first."""
        return self._articles("day = ?", feed, day, page, per_page)

    def articles_published(
        self, feed: str, day: str | dt.date, page: int = 1, per_page: int = 50
    ) -> Page[SnapshotSummary]:
        """Snapshots of a feed whose article was published on ``day`` (the publisher's date), newest fetch first."""
        return self._articles("substr(published, 1, 10) = ?", feed, day, page, per_page)

    def _articles(self, on_day: str, feed: str, day: str | dt.date, page: int, per_page: int) -> Page[SnapshotSummary]:
        page, per_page = check_paging(page, per_page)
        where = f"WHERE feed = ? AND {on_day}"
        # The page's n first, from the (feed, day, fetched_at, n) index alone: a deep page skips index entries,
        # not rows; then its rows. A capture day's count is in day_counts.
        counted = (
            "SELECT coalesce(sum(snapshots), 0) AS count FROM day_counts"
            if on_day == "day = ?"
            else "SELECT count(*) FROM snapshots"
        )
        numbers, total = self._page(
            f"SELECT n FROM snapshots {where} ORDER BY fetched_at DESC, n",
            f"{counted} {where}",
            (feed, parse_day(day)),
            page,
            per_page,
        )
        if not numbers:
            return Page([], page, per_page, total)
        rows = self._all(
            f"SELECT {_SUMMARY_COLUMNS} FROM snapshots WHERE n IN ({', '.join('?' * len(numbers))})"
            " ORDER BY fetched_at DESC, n",
            [r["n"] for r in numbers],
        )
        return Page([summary_of(r) for r in rows], page, per_page, total)

    def snapshot(self, snapshot_id: str) -> Snapshot | None:
        if not isinstance(snapshot_id, str) or not is_snapshot_id(snapshot_id):
            return None
        row = self._one(
            f"SELECT {_S_COLUMNS}, s.clean_key, s.details, {self._SNAPSHOT_TEXT} WHERE s.id = ?",
            (snapshot_id,),
        )
        return None if row is None else snapshot_of(summary_of(row), row["clean_key"], row["details"], row["text"])

    def history(self, url: str) -> list[SnapshotSummary]:
        """Every snapshot of ``url`` (in its normalised form), oldest first."""
        try:
            ukey = keys.url_key(url)
        except (ValueError, keys.UnsafeKeyError):
            return []
        rows = self._all(
            f"SELECT {_SUMMARY_COLUMNS} FROM snapshots WHERE url_key = ? ORDER BY fetched_at, run_id", (ukey,)
        )
        return [summary_of(r) for r in rows]

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
            table: self._one(f"SELECT count(*) AS n FROM {table}")["n"]  # type: ignore[index]
            for table in ("snapshots", "runs", "tombstones")
        }


class SqliteQueries(SqliteFile, SqlQueries):
    """The read side of the SQLite catalog: :class:`SqlQueries` on the file, plus FTS5 search."""

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
        """Full-text search over titles and clean text, newest first (the order snapshots were indexed in, which is
        capture order). No score: bm25 reads every match of each term (its IDF), what a
        page must not cost.

        ``date_from``/``date_to`` bound the snapshot's capture day, ``published_from``/``published_to`` its
        publication day as the publisher stated it (inclusive). ValueError for bad input.
        """
        page, per_page = check_paging(page, per_page)
        match = fts_query(query)
        plan = self._search_plan(SearchFilters.of(feed, date_from, date_to, language, published_from, published_to))
        if plan is None:
            return counted_page([], page, per_page, 0)
        # FTS first (CROSS JOIN fixes the join order), newest first: FTS5 reads its index in rowid (= n) order, so
        # a page stops after its rows and the count after search_count_limit, however many rows match; snippets
        # for one page only (snippet() re-reads the text).
        joined = " FROM snapshot_text t"
        if plan.where:
            joined += " CROSS JOIN snapshots s INDEXED BY snapshots_filter ON s.n = t.rowid"
        conditions, params = ["snapshot_text MATCH ?", *plan.where], [match, *plan.params]
        if plan.n_range:
            conditions.append("t.rowid BETWEEN ? AND ?")
            params += plan.n_range
        joined += " WHERE " + " AND ".join(conditions)
        newest = self._all(
            "SELECT t.rowid AS n" + joined + " ORDER BY t.rowid DESC LIMIT ? OFFSET ?",
            (*params, per_page, (page - 1) * per_page),
        )
        counted = self._one(count_limit_sql("SELECT 1" + joined), (*params, search_count_limit(page, per_page)))
        return counted_page(self._hits(match, newest), page, per_page, counted["count"])

    def _hits(self, match: str, ranked: list[sqlite3.Row]) -> list[SearchHit]:
        """The search hits of one page of rowids, with their snippets. The rowid range bounds what FTS5 reads (an
        ``IN`` list alone would make it match every row, then filter)."""
        if not ranked:
            return []
        numbers = [r["n"] for r in ranked]
        rows = self._all(
            f"SELECT {_S_COLUMNS}, s.n,"
            f" snippet(snapshot_text, -1, '{HIGHLIGHT_START}', '{HIGHLIGHT_END}', '…', 24) AS snip"
            " FROM snapshot_text t CROSS JOIN snapshots s ON s.n = t.rowid"
            f" WHERE snapshot_text MATCH ? AND t.rowid BETWEEN ? AND ? AND t.rowid IN ({','.join('?' * len(numbers))})",
            (match, min(numbers), max(numbers), *numbers),
        )
        found = {r["n"]: r for r in rows}
        return [SearchHit(summary_of(hit), hit["snip"]) for r in ranked if (hit := found.get(r["n"]))]


def snapshot_of(summary: SnapshotSummary, clean_key: str, details_json: str, text: str) -> Snapshot:
    """A :class:`Snapshot` from its summary, clean key, details column and text."""
    details = loads(details_json, {})
    return Snapshot(
        **dataclasses.asdict(summary),
        clean_key=clean_key,
        text=text,
        metadata=details.get("metadata") or {},
        entry=details.get("entry") or {},
        permission=details.get("permission") or {},
        raw=details.get("raw") or {},
        removed=details.get("removed") or [],
        rights_reservations=details.get("rights_reservations") or [],
        error=details.get("error"),
        fetched_url=details.get("fetched_url"),
    )
