"""The PostgreSQL catalog's schema: tables, indexes and one text search configuration per language.

Each snapshot is indexed with the configuration of its language (``snapshots.ts_config``, the weighted
``tsv`` column is generated from it): PostgreSQL's Snowball stemmer for the language where it has one, with
``unaccent`` in front (as the SQLite catalog, matching ignores diacritics). A language it has no stemmer for
(Malay, or none detected) gets ``feedvault_simple``: ``simple`` (lower-cased words, no stemming, no stop words)
plus ``unaccent``. The configurations are created with the schema, for the languages the server has.
"""

from __future__ import annotations

import re

import psycopg

SCHEMA_VERSION = "5"  # 2: day_counts (snapshots per feed, day and run, kept by triggers); 3: tsv kept in the row;
# 4: word pairs (phrases narrowed by an index), tsv and pairs kept by a trigger, a (feed, n) index; 5: the words'
# GIN index holds the feed too (btree_gin)
FALLBACK_CONFIG = "feedvault_simple"

#: ISO 639-1 code -> PostgreSQL's Snowball configuration of that language.
LANGUAGES = {
    "ar": "arabic",
    "hy": "armenian",
    "eu": "basque",
    "ca": "catalan",
    "da": "danish",
    "nl": "dutch",
    "en": "english",
    "fi": "finnish",
    "fr": "french",
    "de": "german",
    "el": "greek",
    "hi": "hindi",
    "hu": "hungarian",
    "id": "indonesian",
    "ga": "irish",
    "it": "italian",
    "lt": "lithuanian",
    "ne": "nepali",
    "no": "norwegian",
    "nb": "norwegian",
    "pt": "portuguese",
    "ro": "romanian",
    "ru": "russian",
    "sr": "serbian",
    "es": "spanish",
    "sv": "swedish",
    "ta": "tamil",
    "tr": "turkish",
    "yi": "yiddish",
}

_TABLES = """
CREATE EXTENSION IF NOT EXISTS unaccent;
CREATE TABLE IF NOT EXISTS meta (key text PRIMARY KEY, value text NOT NULL);
CREATE TABLE IF NOT EXISTS runs (
    run_id text PRIMARY KEY, day text NOT NULL, started_at text, finished_at text, seconds double precision,
    status text NOT NULL, trigger text, totals text NOT NULL, feeds text NOT NULL,
    bytes_written bigint NOT NULL, manifest_key text NOT NULL
);
CREATE TABLE IF NOT EXISTS feed_runs (
    feed text NOT NULL, run_id text NOT NULL, status text NOT NULL, finished_at text,
    counts text NOT NULL, permission text, manifest_key text,
    PRIMARY KEY (feed, run_id)
);
CREATE TABLE IF NOT EXISTS snapshots (
    n bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id text NOT NULL UNIQUE, clean_key text NOT NULL, url text NOT NULL, url_key text NOT NULL,
    feed text NOT NULL, run_id text NOT NULL, day text NOT NULL, fetched_at text NOT NULL,
    title text, published text, language text, word_count integer, sha256 text,
    details text NOT NULL, usage text, body text NOT NULL, ts_config regconfig NOT NULL,
    tsv tsvector GENERATED ALWAYS AS (
        setweight(to_tsvector(ts_config, coalesce(title, '')), 'A') || setweight(to_tsvector(ts_config, body), 'B')
    ) STORED
);
CREATE INDEX IF NOT EXISTS snapshots_feed_day ON snapshots (feed, day, fetched_at DESC, n);
CREATE INDEX IF NOT EXISTS snapshots_url ON snapshots (url_key, fetched_at);
CREATE INDEX IF NOT EXISTS snapshots_run ON snapshots (run_id);
CREATE INDEX IF NOT EXISTS snapshots_day ON snapshots (day);
CREATE INDEX IF NOT EXISTS snapshots_clean_key ON snapshots (clean_key);
CREATE TABLE IF NOT EXISTS tombstones (
    url_key text PRIMARY KEY, url text NOT NULL, feed text, reason text, date text, removed text NOT NULL
);
"""

_DAY_COUNTS = """
CREATE TABLE IF NOT EXISTS day_counts (
    feed text NOT NULL, day text NOT NULL, run_id text NOT NULL, snapshots integer NOT NULL,
    first_n bigint NOT NULL, last_n bigint NOT NULL, PRIMARY KEY (feed, day, run_id)
);
CREATE INDEX IF NOT EXISTS day_counts_day ON day_counts (day, feed);
CREATE OR REPLACE FUNCTION feedvault_count_snapshots() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO day_counts
        SELECT feed, day, run_id, count(*), min(n), max(n) FROM new_rows GROUP BY feed, day, run_id
        ON CONFLICT (feed, day, run_id) DO UPDATE SET snapshots = day_counts.snapshots + EXCLUDED.snapshots,
            first_n = least(day_counts.first_n, EXCLUDED.first_n), last_n = greatest(day_counts.last_n, EXCLUDED.last_n);
    ELSE
        UPDATE day_counts d SET snapshots = d.snapshots - o.gone
        FROM (SELECT feed, day, run_id, count(*) AS gone FROM old_rows GROUP BY feed, day, run_id) o
        WHERE d.feed = o.feed AND d.day = o.day AND d.run_id = o.run_id;
        DELETE FROM day_counts WHERE snapshots <= 0;
    END IF;
    RETURN NULL;
END $$;
CREATE OR REPLACE TRIGGER snapshots_counted AFTER INSERT ON snapshots REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION feedvault_count_snapshots();
CREATE OR REPLACE TRIGGER snapshots_uncounted AFTER DELETE ON snapshots REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION feedvault_count_snapshots();
"""
"""Snapshots per feed, capture day and run, kept by statement triggers (one upsert per COPY or DELETE, not per
row): a feed's days and snapshot count without counting its rows, and the range of ``n`` (a superset: deletes
leave the bounds) a search bounded by capture days reads."""

_SCHEMA_LOCK = 0x66656564  # pg_advisory_xact_lock key: one process creates the schema at a time


def config_name(language: str) -> str:
    """Our text search configuration for a PostgreSQL language configuration (``english`` ->
    ``feedvault_english``)."""
    return f"feedvault_{language}"


def _create_configs(conn: psycopg.Connection) -> None:
    """``feedvault_simple`` and ``feedvault_<language>`` for each Snowball language the server has."""
    existing = {row["cfgname"] for row in conn.execute("SELECT cfgname FROM pg_ts_config").fetchall()}
    wanted = {FALLBACK_CONFIG: ("simple", "simple")}
    for language in sorted(set(LANGUAGES.values()) & existing):
        wanted[config_name(language)] = (language, f"{language}_stem")
    for name, (source, dictionary) in wanted.items():
        if name in existing:
            continue
        conn.execute(f"CREATE TEXT SEARCH CONFIGURATION {name} (COPY = {source})")
        conn.execute(
            f"ALTER TEXT SEARCH CONFIGURATION {name}"
            f" ALTER MAPPING FOR hword, hword_part, word WITH unaccent, {dictionary}"
        )


def _add_day_counts(conn: psycopg.Connection) -> None:
    """1 -> 2: the day_counts table and its triggers, filled from the rows."""
    conn.execute(_DAY_COUNTS)
    conn.execute("TRUNCATE day_counts")
    conn.execute(
        "INSERT INTO day_counts SELECT feed, day, run_id, count(*), min(n), max(n) FROM snapshots"
        " GROUP BY feed, day, run_id"
    )


def _keep_tsv_inline(conn: psycopg.Connection) -> None:
    """2 -> 3: the tsvector kept in the row (compressed; the body goes out of line first), so checking a row
    against a query (a phrase's positions, a frequent word walked newest first) reads no TOAST. Rows written
    before keep theirs until rewritten (``VACUUM FULL snapshots``)."""
    conn.execute("ALTER TABLE snapshots ALTER COLUMN tsv SET STORAGE MAIN")


_PAIRS = """
CREATE OR REPLACE FUNCTION feedvault_pairs(v tsvector) RETURNS tsvector LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
AS $$
    WITH at AS (SELECT u.lexeme, p FROM unnest(v) u, unnest(u.positions) p),
    pairs AS (SELECT a.lexeme || ' ' || b.lexeme AS pair FROM at a JOIN at b ON b.p = a.p + 1)
    SELECT CASE WHEN count(*) > %(most)s THEN '%(every)s'::tsvector
        ELSE array_to_tsvector(coalesce(array_agg(DISTINCT left(md5(pair), %(hex)s)), '{}')) END FROM pairs
$$;
CREATE OR REPLACE FUNCTION feedvault_index_text() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.tsv := setweight(to_tsvector(NEW.ts_config, coalesce(NEW.title, '')), 'A')
        || setweight(to_tsvector(NEW.ts_config, NEW.body), 'B');
    NEW.pairs := feedvault_pairs(NEW.tsv);
    RETURN NEW;
END $$;
"""
"""The word pairs of a ``tsvector``: for every two lexemes at adjacent positions (``a`` at p, ``b`` at p + 1), one
lexeme naming the pair, ``left(md5('a b'), PAIR_HEX)``: 2^20 buckets, so the GIN index has a bounded number of keys
while a bucket holds few documents beside those with the pair. Derived from the stored ``tsvector`` itself (its
stemming, its position limits), so a row matching ``a <-> b`` always holds the pair's lexeme; a row with more
than ``MOST_PAIRS`` pairs holds ``EVERY_PAIR`` instead (a ``tsvector`` is at most 1 MB), which every narrowed
query accepts."""
PAIR_HEX = 5
MOST_PAIRS = 40_000
EVERY_PAIR = "*"


def _index_word_pairs(conn: psycopg.Connection) -> None:
    """3 -> 4: ``tsv`` and ``pairs`` kept by a trigger (a generated column cannot feed another), the pairs of the
    rows already there computed (a rewrite of the table: minutes at a million rows), their GIN index, and a
    (feed, n) index (a feed's matches newest first without reading other feeds' rows)."""
    conn.execute(_PAIRS % {"most": MOST_PAIRS, "every": EVERY_PAIR, "hex": PAIR_HEX})
    conn.execute("SET LOCAL maintenance_work_mem = '256MB'")  # this transaction only: the index built in fewer passes
    conn.execute("ALTER TABLE snapshots ALTER COLUMN tsv DROP EXPRESSION IF EXISTS")
    conn.execute("ALTER TABLE snapshots ADD COLUMN IF NOT EXISTS pairs tsvector")
    conn.execute("UPDATE snapshots SET pairs = feedvault_pairs(tsv) WHERE pairs IS NULL")
    conn.execute(
        "CREATE OR REPLACE TRIGGER snapshots_indexed BEFORE INSERT OR UPDATE OF title, body, ts_config ON snapshots"
        " FOR EACH ROW EXECUTE FUNCTION feedvault_index_text()"
    )
    conn.execute("CREATE INDEX IF NOT EXISTS snapshots_pairs ON snapshots USING gin (pairs)")
    conn.execute("CREATE INDEX IF NOT EXISTS snapshots_feed_n ON snapshots (feed, n)")


def _index_words_with_feed(conn: psycopg.Connection) -> None:
    """4 -> 5: the words' GIN index on (tsv, feed) (``btree_gin``): a search filtered by feed intersects the
    word's and the feed's lists inside the index, instead of reading every row of the feed from a B-tree
    (100,000 entries at a million snapshots) to intersect them. It serves searches without a feed alike."""
    conn.execute("CREATE EXTENSION IF NOT EXISTS btree_gin")
    conn.execute("SET LOCAL maintenance_work_mem = '256MB'")  # this transaction only: the index built in fewer passes
    conn.execute("CREATE INDEX IF NOT EXISTS snapshots_words ON snapshots USING gin (tsv, feed)")
    conn.execute("DROP INDEX IF EXISTS snapshots_tsv")


_MIGRATIONS = {"1": _add_day_counts, "2": _keep_tsv_inline, "3": _index_word_pairs, "4": _index_words_with_feed}
"""Schema version -> the step to the next; a new database starts at 1 (the tables of ``_TABLES``)."""


def create_schema(conn: psycopg.Connection) -> None:
    """Create what is missing and migrate an older schema (idempotent, serialised between processes by an advisory
    lock)."""
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (_SCHEMA_LOCK,))
        conn.execute(_TABLES)
        _create_configs(conn)
        row = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        version = row["value"] if row else "1"
        if version != SCHEMA_VERSION and version not in _MIGRATIONS:
            raise psycopg.DataError(f"catalog schema {version}, expected {SCHEMA_VERSION}: reindex into a new database")
        while version != SCHEMA_VERSION:
            _MIGRATIONS[version](conn)
            version = str(int(version) + 1)
        conn.execute(
            "INSERT INTO meta (key, value) VALUES ('schema_version', %s)"
            " ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
            (SCHEMA_VERSION,),
        )


def language_configs(conn: psycopg.Connection) -> dict[str, str]:
    """Language code -> the text search configuration its snapshots are indexed with (those the server has)."""
    existing = {row["cfgname"] for row in conn.execute("SELECT cfgname FROM pg_ts_config").fetchall()}
    return {code: config_name(lang) for code, lang in LANGUAGES.items() if config_name(lang) in existing}


_CONFIG_NAME = re.compile(r"^feedvault_[a-z]+$")


def is_config_name(name: str) -> bool:
    """Whether ``name`` is one of our configuration names (safe to put into SQL as a literal)."""
    return bool(_CONFIG_NAME.match(name))
