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

SCHEMA_VERSION = "1"
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
CREATE INDEX IF NOT EXISTS snapshots_tsv ON snapshots USING gin (tsv);
CREATE TABLE IF NOT EXISTS tombstones (
    url_key text PRIMARY KEY, url text NOT NULL, feed text, reason text, date text, removed text NOT NULL
);
"""

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


def create_schema(conn: psycopg.Connection) -> None:
    """Create what is missing (idempotent, serialised between processes by an advisory lock)."""
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (_SCHEMA_LOCK,))
        conn.execute(_TABLES)
        _create_configs(conn)
        conn.execute(
            "INSERT INTO meta (key, value) VALUES ('schema_version', %s) ON CONFLICT (key) DO NOTHING",
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
