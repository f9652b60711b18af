"""The PostgreSQL catalog: one shared database every run writes and every browse instance reads directly.

Same interface and behaviour as the SQLite catalog, without a file to replicate: ``finalize_run`` indexes the
run into the database, readers see it at once (``sync`` and ``publish`` have nothing to do). Full-text search
uses each snapshot's language configuration (:mod:`~feedvault.catalog.postgres_schema`), lists newest first (as
the SQLite catalog: a page never ranks every match) and highlights with ``ts_headline``.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import re
import threading
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import psycopg
from psycopg.rows import dict_row

from feedvault.catalog.index import WRITE_BATCH, CatalogIndex
from feedvault.catalog.interface import FeedRunRow, RunRow, SnapshotRow, TombstoneRow
from feedvault.catalog.postgres_schema import (
    EVERY_PAIR,
    FALLBACK_CONFIG,
    PAIR_HEX,
    create_schema,
    is_config_name,
    language_configs,
)
from feedvault.catalog.queries import SqlQueries, count_limit_sql, summary_of
from feedvault.catalog.results import (
    HIGHLIGHT_END,
    HIGHLIGHT_START,
    SUMMARY_FIELDS,
    CatalogError,
    Page,
    Progress,
    SearchFilters,
    SearchHit,
    check_paging,
    counted_page,
    query_terms,
    search_count_limit,
)
from feedvault.redact import redact
from feedvault.store.backends import Store, batches

_SNAPSHOT_COLUMNS = [*SnapshotRow._fields[:-1], "body", "ts_config"]
_HEADLINE = f"StartSel={HIGHLIGHT_START}, StopSel={HIGHLIGHT_END}, MaxWords=24, MinWords=12, ShortWord=0"
_S_COLUMNS = ", ".join(f"s.{name}" for name in SUMMARY_FIELDS)


def tsquery_text(query: str) -> str:
    """User input (:func:`~feedvault.catalog.results.query_terms`) as ``to_tsquery`` text: terms AND-ed, a phrase's
    words followed by one another, a prefix ``:*``. Only word characters reach it, each quoted."""
    parts = []
    for term in query_terms(query):
        words = [f"'{word}'" for word in term.words]
        parts.append(" <-> ".join(words) + (":*" if term.prefix else ""))
    return " & ".join(f"({part})" for part in parts)


_TSQUERY_TOKEN = re.compile(r"\s*(?:'((?:[^'\\]|''|\\.)*)'(:[*A-D]+)?|(<->|<\d+>)|([&|!()]))")


def adjacent_pairs(tsquery: str) -> list[tuple[str, str]] | None:
    """The lexeme pairs a ``tsquery`` (PostgreSQL's text of it) requires at adjacent positions: ``'a' <-> 'b'``,
    both bare lexemes (no prefix, no weight). None when it has ``|`` or ``!`` (a pair could then be required in one
    branch only) or cannot be read; an empty list when it requires no adjacent pair."""
    tokens, at = [], 0
    while at < len(tsquery.rstrip()):
        match = _TSQUERY_TOKEN.match(tsquery, at)
        if match is None:
            return None
        lexeme, suffix, phrase, operator = match.groups()
        if operator in ("|", "!"):
            return None
        if lexeme is not None:
            bare = suffix is None
            tokens.append(("lexeme", lexeme.replace("''", "'").replace("\\\\", "\\") if bare else None))
        else:
            tokens.append(("op", phrase or operator))
        at = match.end()
    return [
        (left[1], right[1])
        for left, op, right in zip(tokens, tokens[1:], tokens[2:], strict=False)
        if left[1] and right[1] and left[0] == right[0] == "lexeme" and op[1] in ("<->", "<1>")
    ]


def pairs_tsquery(pairs: list[tuple[str, str]]) -> str | None:
    """The query on ``snapshots.pairs`` every row holding these adjacent pairs matches (their buckets, or the
    marker of rows with too many pairs to list); None without pairs."""
    if not pairs:
        return None
    # the buckets as the server computes them (left(md5(pair), PAIR_HEX)), from UTF-8 bytes
    buckets = sorted({hashlib.md5(f"{a} {b}".encode()).hexdigest()[:PAIR_HEX] for a, b in pairs})
    return "(" + " & ".join(f"'{bucket}'" for bucket in buckets) + f") | '{EVERY_PAIR}'"


ROW_PER_ENTRY = 16
"""What checking one row walked by ``n`` costs, in entries of a GIN index's list read (measured at 300,000
snapshots on a busy box: 5 to 10 us per row read and checked, about 0.3 us per entry read into a bitmap)."""


def walk_rows(estimate: tuple[float, float], limit: int) -> int | None:
    """How many filtered rows a search should walk newest first (checking each) at most, or None when reading its
    words' lists in the GIN index is cheaper. When the words match ``M`` of ``N`` rows (``estimate``), a walk
    checks about ``limit * N / M`` rows to count ``limit`` matches, the index reads ``M`` entries: the walk wins
    when ``M * M > limit * N * ROW_PER_ENTRY``; it stops at 4 times the rows expected (filters rarer than
    estimated). The estimate is the planner's for the words alone: with the filters it takes the capture days'
    range of ``n`` for independent of the feed and days, underestimates the matches and reads the index."""
    matches, total = estimate
    if total <= 0 or matches * matches <= limit * total * ROW_PER_ENTRY:
        return None
    return int(4 * limit * total / matches) + 1


def one_pass(estimate: tuple[float, float], limit: int, rows: int) -> bool:
    """Whether reading all ``M`` matches (``estimate``: ``M`` of ``N`` rows) from the index in one pass costs less
    than counting up to ``limit`` of them and then walking the table newest first to the page's last of ``rows``
    (about ``rows * N / M`` rows read): ``M < limit + min(M, rows * N / M)``."""
    matches, total = estimate
    return matches <= 0 or matches < limit + min(matches, rows * total / matches)


class PostgresCatalog(CatalogIndex, SqlQueries):
    """The catalog in a PostgreSQL database (``catalog.uri: postgresql://...``). Thread-safe: one connection
    behind a lock."""

    _RUN_IDS = "string_agg(DISTINCT run_id, ',')"
    _WARC_KEY = "(details::jsonb -> 'raw' ->> 'warc_key')"
    _SNAPSHOT_TEXT = "s.body AS text FROM snapshots s"

    def __init__(self, uri: str) -> None:
        self.uri = uri
        self._lock = threading.RLock()
        try:
            # prepare_threshold=None: every statement planned for its values. A prepared search would switch to a
            # generic plan after five runs, one plan for every word, and a prefix or a frequent word then walks
            # the wrong index (measured: 7 ms, then 150-200 ms from the tenth identical search on).
            self._conn = psycopg.connect(
                uri, autocommit=True, row_factory=dict_row, connect_timeout=10, prepare_threshold=None
            )
            self._conn.execute("SET random_page_cost = 1.1")
            create_schema(self._conn)
            self._configs = language_configs(self._conn)
            # the pairs' md5 is of the server's bytes: the query's buckets are computed here, from UTF-8
            self._utf8 = self._conn.execute("SHOW server_encoding").fetchone()["server_encoding"] == "UTF8"
        except psycopg.Error as exc:
            raise CatalogError(
                f"the catalog database {redact(uri)} cannot be used ({redact(str(exc)).strip()}); check catalog.uri "
                "and that the server is up, then `feedvault reindex` fills an empty database from the archive"
            ) from exc

    # -- connection --
    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def __enter__(self) -> Any:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextlib.contextmanager
    def _tx(self) -> Iterator[psycopg.Connection]:
        with self._lock, self._conn.transaction():
            yield self._conn

    def _all(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        with self._lock:
            return self._conn.execute(sql.replace("?", "%s"), params).fetchall()

    def _one(self, sql: str, params: Sequence[Any] = ()) -> dict[str, Any] | None:
        with self._lock:
            return self._conn.execute(sql.replace("?", "%s"), params).fetchone()

    def _page(
        self, sql: str, count_sql: str, params: Sequence[Any], page: int, per_page: int, head: Sequence[Any] = ()
    ) -> tuple[list[dict[str, Any]], int]:
        """Rows of one page and the total count; ``head``: parameters that come before ``params`` in ``sql`` only
        (its select list)."""
        with self._lock:
            with self._conn.pipeline():  # both statements in one round trip
                counted = self._conn.execute(count_sql.replace("?", "%s"), params)
                paged = self._conn.execute(
                    f"{sql} LIMIT %s OFFSET %s".replace("?", "%s"), (*head, *params, per_page, (page - 1) * per_page)
                )
            return paged.fetchall(), counted.fetchone()["count"]

    def get_meta(self, key: str) -> str | None:
        row = self._one("SELECT value FROM meta WHERE key = ?", (key,))
        return row["value"] if row else None

    def set_meta(self, key: str, value: str) -> None:
        with self._tx() as conn:
            conn.execute(
                "INSERT INTO meta (key, value) VALUES (%s, %s) ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
                (key, value),
            )

    # -- write primitives (feedvault.catalog.interface.CatalogTables) --
    def _config(self, language: str | None) -> str:
        code = (language or "").lower().replace("_", "-").split("-")[0]
        return self._configs.get(code, FALLBACK_CONFIG)

    def _insert(self, conn: psycopg.Connection, rows: Iterable[SnapshotRow]) -> int:
        gone = {r["url_key"] for r in conn.execute("SELECT url_key FROM tombstones").fetchall()}
        fresh = {row.id: row for row in rows if row.url_key not in gone}  # the last of one id wins, as in SQLite
        if not fresh:
            return 0
        conn.execute("DELETE FROM snapshots WHERE id = ANY(%s)", (list(fresh),))
        with conn.cursor().copy(f"COPY snapshots ({', '.join(_SNAPSHOT_COLUMNS)}) FROM STDIN") as copy:
            for row in fresh.values():
                copy.write_row((*row[:-1], row.text, self._config(row.language)))
        return len(fresh)

    def _merge_pending(self, written: int) -> int:
        """Move what a write added to the GIN index's pending list into the index proper, in bulk: inserts stay
        batched (``fastupdate``), and no search has to scan an unsorted pending list of up to 4 MB meanwhile."""
        if written:
            with self._lock:
                for index in ("snapshots_words", "snapshots_pairs"):
                    self._conn.execute("SELECT gin_clean_pending_list(CAST(%s AS regclass))", (index,))
        return written

    def write_snapshots(self, rows: Iterable[SnapshotRow]) -> int:
        with self._tx() as conn:
            written = self._insert(conn, rows)
        return self._merge_pending(written)

    def write_run(self, run: RunRow, feeds: list[FeedRunRow], snapshots: Iterable[SnapshotRow]) -> int:
        with self._tx() as conn:
            conn.execute("DELETE FROM snapshots WHERE run_id = %s", (run.run_id,))
            conn.execute("DELETE FROM feed_runs WHERE run_id = %s", (run.run_id,))
            conn.execute("DELETE FROM runs WHERE run_id = %s", (run.run_id,))
            conn.execute(f"INSERT INTO runs VALUES ({', '.join(['%s'] * len(run))})", run)
            with conn.cursor() as cursor:
                cursor.executemany("INSERT INTO feed_runs VALUES (%s, %s, %s, %s, %s, %s, %s)", feeds)
            written = sum(self._insert(conn, batch) for batch in batches(snapshots, WRITE_BATCH))
        return self._merge_pending(written)

    def replace_snapshots(self, drop_clean_keys: list[str], rows: list[SnapshotRow]) -> int:
        with self._tx() as conn:
            conn.execute("DELETE FROM snapshots WHERE clean_key = ANY(%s)", (drop_clean_keys,))
            written = self._insert(conn, rows)
        return self._merge_pending(written)

    def write_tombstone(self, row: TombstoneRow) -> int:
        with self._tx() as conn:
            conn.execute(
                "INSERT INTO tombstones VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (url_key) DO UPDATE SET"
                " url = EXCLUDED.url, feed = EXCLUDED.feed, reason = EXCLUDED.reason, date = EXCLUDED.date,"
                " removed = EXCLUDED.removed",
                row,
            )
            return conn.execute("DELETE FROM snapshots WHERE url_key = %s", (row.url_key,)).rowcount

    def delete_url(self, url_key: str) -> int:
        with self._tx() as conn:
            return conn.execute("DELETE FROM snapshots WHERE url_key = %s", (url_key,)).rowcount

    def runs_holding(self, url_keys: list[str], clean_keys: list[str]) -> set[str]:
        rows = self._all(
            "SELECT DISTINCT run_id FROM snapshots WHERE url_key = ANY(?) OR clean_key = ANY(?)", (url_keys, clean_keys)
        )
        return {row["run_id"] for row in rows}

    def run_ids(self) -> set[str]:
        return {row["run_id"] for row in self._all("SELECT run_id FROM runs")}

    def tombstoned_url_keys(self) -> set[str]:
        return {row["url_key"] for row in self._all("SELECT url_key FROM tombstones")}

    def clean_keys_in_warcs(self, warc_keys: set[str]) -> list[str]:
        rows = self._all(f"SELECT clean_key FROM snapshots WHERE {self._WARC_KEY} = ANY(?)", (sorted(warc_keys),))
        return [row["clean_key"] for row in rows]

    # -- search --
    def _tsqueries(self, query: str, language: str | None) -> list[tuple[list[str], str]]:
        """``(configurations, tsquery)`` pairs: the query as each configuration in use reads it (configurations
        that read it alike share one); a query of stop words only in a configuration matches nothing there."""
        text = tsquery_text(query)
        configs = [self._config(language)] if language else sorted({*self._configs.values(), FALLBACK_CONFIG})
        assert all(is_config_name(c) for c in configs)
        rows = self._all(
            "SELECT c::text AS config, to_tsquery(c, ?)::text AS q FROM unnest(CAST(? AS regconfig[])) AS c",
            (text, configs),
        )
        by_query: dict[str, list[str]] = {}
        for row in rows:
            if row["q"]:
                by_query.setdefault(row["q"], []).append(row["config"])
        return [(names, q) for q, names in by_query.items()]

    def _match(self, queries: list[tuple[list[str], str]], *, indexed: bool = True) -> tuple[str, list[Any]]:
        """The condition on ``s`` matching any of the queries, and its parameters. A query requiring adjacent
        words is narrowed by the pairs index first, then checked on the row's positions (``ts_match_vq``, the
        function form: a filter on those few rows, not a second scan of the words' long lists in the GIN index).
        ``indexed=False``: every query in the function form, a filter on rows found otherwise (walked by ``n``)."""
        branches, params = [], []
        for names, q in queries:
            pairs = pairs_tsquery(adjacent_pairs(q) or []) if self._utf8 and indexed else None
            if not indexed:
                branches.append(
                    "(s.ts_config = ANY(CAST(%s AS regconfig[])) AND ts_match_vq(s.tsv, CAST(%s AS tsquery)))"
                )
                params += [names, q]
            elif pairs is None:
                branches.append("(s.ts_config = ANY(CAST(%s AS regconfig[])) AND s.tsv @@ CAST(%s AS tsquery))")
                params += [names, q]
            else:
                branches.append(
                    "(s.ts_config = ANY(CAST(%s AS regconfig[])) AND s.pairs @@ CAST(%s AS tsquery)"
                    " AND ts_match_vq(s.tsv, CAST(%s AS tsquery)))"
                )
                params += [names, pairs, q]
        return "(" + " OR ".join(branches) + ")", params

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
        """Full-text search over titles and clean text, newest first; filters and errors as the SQLite catalog's."""
        page, per_page = check_paging(page, per_page)
        filters = SearchFilters.of(feed, date_from, date_to, language, published_from, published_to)
        queries = self._tsqueries(query, filters.language)
        plan = self._search_plan(filters)
        if not queries or plan is None:
            return counted_page([], page, per_page, 0)
        filtered = [w.replace("?", "%s") for w in plan.where]
        filter_params = list(plan.params)
        if plan.n_range:
            filtered.append("s.n BETWEEN %s AND %s")
            filter_params += plan.n_range
        limit = search_count_limit(page, per_page)
        match, match_params = self._match(queries)
        walkable = filtered and filters.published_from is None and filters.published_to is None
        estimate = self._estimated_matches(match, match_params) if walkable else None
        walk = walk_rows(estimate, limit) if estimate else None
        if walk is not None:
            walked = self._walk_page(queries, filtered, filter_params, walk, (page, per_page, limit))
            if walked is not None:
                return counted_page(self._hits(walked, queries), page, per_page, limit)
        matching = "FROM snapshots s WHERE " + " AND ".join([match, *filtered])
        params = [*match_params, *filter_params]
        if one_pass(estimate or self._estimated_matches(match, match_params), limit, page * per_page):
            # Few matches expected (a rare word; a phrase, whose words most rows hold apart): the newest `limit`
            # from the GIN index, sorted, in one pass for the count and the page (OFFSET 0 keeps the planner from
            # walking n backwards instead).
            newest = self._all(
                f"SELECT n FROM (SELECT s.n {matching} OFFSET 0) m ORDER BY n DESC LIMIT %s", (*params, limit)
            )
            shown = newest[(page - 1) * per_page : page * per_page]
            return counted_page(self._hits(shown, queries), page, per_page, len(newest))
        counted = self._one(count_limit_sql(f"SELECT 1 {matching}", "%s"), (*params, limit))["count"]  # type: ignore[index]
        # Fewer than expected (counted them all): fetch them from the GIN index and sort. Many: let the planner
        # walk n backwards, they are dense enough to stop soon.
        select = f"SELECT n FROM (SELECT s.n {matching} OFFSET 0) m" if counted < limit else f"SELECT s.n {matching}"
        newest = self._all(f"{select} ORDER BY n DESC LIMIT %s OFFSET %s", (*params, per_page, (page - 1) * per_page))
        return counted_page(self._hits(newest, queries), page, per_page, counted)

    def _estimated_matches(self, match: str, params: list[Any]) -> tuple[float, float]:
        """The planner's estimate of the rows the words match (from the column's statistics: right for frequent
        words), and the rows of the table."""
        with self._lock:
            plan = self._conn.execute(
                f"EXPLAIN (FORMAT JSON) SELECT 1 FROM snapshots s WHERE {match}", params
            ).fetchone()
            rows = self._conn.execute("SELECT reltuples FROM pg_class WHERE oid = 'snapshots'::regclass").fetchone()
        return plan["QUERY PLAN"][0]["Plan"]["Plan Rows"], rows["reltuples"]

    def _walk_page(
        self,
        queries: list[tuple[list[str], str]],
        filtered: list[str],
        params: list[Any],
        most: int,
        paging: tuple[int, int, int],
    ) -> list[dict[str, Any]] | None:
        """The page's newest matches (``paging``: page, per page, count limit), found by walking at most ``most``
        filtered rows by ``n`` backwards (the words checked on each row, no GIN index), when ``limit`` matches
        turn up among them (the total is then "at least"); None when fewer do: count from the index instead."""
        page, per_page, limit = paging
        match, match_params = self._match(queries, indexed=False)
        newest = (  # the filters find the rows (by an index on n), the words are checked on them
            "SELECT s.n FROM (SELECT s.n, s.ts_config, s.tsv FROM snapshots s WHERE "
            + " AND ".join(filtered)
            + f" ORDER BY s.n DESC LIMIT %s) s WHERE {match}"
        )
        params = [*params, most, *match_params]
        counted = self._one(f"SELECT count(*) AS count FROM ({newest} LIMIT %s) c", (*params, limit))
        if counted is None or counted["count"] < limit:
            return None
        return self._all(f"{newest} ORDER BY s.n DESC LIMIT %s OFFSET %s", (*params, per_page, (page - 1) * per_page))

    def _hits(self, newest: list[dict[str, Any]], queries: list[tuple[list[str], str]]) -> list[SearchHit]:
        if not newest:
            return []
        combined = " | ".join(f"({q})" for _, q in queries)
        rows = self._all(
            f"SELECT {_S_COLUMNS}, s.n, ts_headline(s.ts_config, s.body, CAST(? AS tsquery), ?) AS snip FROM snapshots s WHERE s.n = ANY(?)",
            (combined, _HEADLINE, [r["n"] for r in newest]),
        )
        found = {r["n"]: r for r in rows}
        return [SearchHit(summary_of(hit), hit["snip"]) for r in newest if (hit := found.get(r["n"]))]

    # -- rebuilding, replication --
    def reindex(self, store: Store, progress: Progress | None = None) -> int:
        """Rebuild the whole catalog from the archive, run by run, each committed on its own: readers see it fill
        up, and an interrupted reindex of the same archive resumes where it stopped. Returns the snapshots held."""
        if self.get_meta("reindex_of") != store.uri:
            with self._tx() as conn:
                conn.execute("TRUNCATE snapshots, day_counts, feed_runs, runs, tombstones")
                conn.execute(
                    "INSERT INTO meta (key, value) VALUES ('reindex_of', %s)"
                    " ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
                    (store.uri,),
                )
        self.index_archive(store, progress)
        with self._tx() as conn:
            conn.execute("DELETE FROM meta WHERE key = 'reindex_of'")
        return self.counts()["snapshots"]

    def sync(self, store: Store) -> bool:
        """Nothing to do: every run writes to the shared database and readers read it directly."""
        return False

    def publish(self, store: Store, *, compact: bool = False) -> None:
        """Nothing to publish: the database is what every reader reads."""
