"""The one configuration model: settings plus the feed registry, loaded from one YAML file.

Strings may reference the environment as ``${NAME}`` or ``${NAME:-default}`` so that one registry
works on a laptop, in CI and in production (endpoints, demo ports) without copies.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import ipaddress
import json
import os
import re
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from feedvault.redact import redact

FEED_ID_RE = r"^[a-z0-9][a-z0-9_-]{0,62}$"
MAX_SHARDS = 10  # shards of one feed: their WARC serial blocks (feedvault.keys.SHARD_SERIALS) fit five digits
BUNDLED_REGISTRY = Path(__file__).parent / "demo" / "feeds.yaml"
_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


class ConfigError(Exception):
    """The registry file is unreadable or invalid; the message names the file, field and problem."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FeedKind(StrEnum):
    AUTO = "auto"
    RSS = "rss"  # RSS 0.9x / 2.0
    RDF = "rdf"  # RSS 1.0
    ATOM = "atom"
    JSON_FEED = "jsonfeed"
    SITEMAP = "sitemap"
    NEWS_SITEMAP = "news-sitemap"


class PermissionBasis(StrEnum):
    WRITTEN_PERMISSION = "written-permission"
    LICENCE = "licence"
    PUBLIC_FEED_TERMS = "public-feed-terms"
    OWN_CONTENT = "own-content"


class Signal(StrEnum):
    """Publisher signals the permission decision looks at; a written permission may explicitly override them.

    What each one means and what it does to a capture is in ``feedvault.permission.decisions.DECISION_TABLE``.
    """

    ROBOTS_TXT = "robots-txt"  # robots.txt disallows the URL for our token (or 5xx/unreachable: all)
    TDMREP = "tdmrep"  # TDMRep tdm-reservation: 1 (file, header or meta)
    NOARCHIVE = "noarchive"  # robots directive noarchive (or Bing's nocache)
    NOAI = "noai"  # robots directive noai
    NOIMAGEAI = "noimageai"  # robots directive noimageai
    NOINDEX = "noindex"  # robots directive noindex (or none = noindex, nofollow)
    RIGHTS_NOTICE = "rights-notice"  # plain-language reservation against crawling/AI/TDM
    COPYRIGHT_NOTICE = "copyright-notice"  # plain-language copyright line ("(c) 2026", "All rights reserved")
    # Usage preferences (IETF AIPREF Content-Usage in robots.txt or the response header, robots.txt Content-Signal)
    NO_AI_TRAINING = "no-ai-training"  # AI training (or generative AI training) disallowed
    NO_AUTOMATED_PROCESSING = "no-automated-processing"  # automated processing (TDM, analysis) disallowed
    SEARCH_ONLY = "search-only"  # search allowed, every AI use stated disallowed
    UNSCANNABLE = "unscannable"  # the page scan could not see the whole page (truncated tree, parse error, crash)


class PermissionRecord(_Model):
    basis: PermissionBasis
    reference: str = Field(min_length=1, description="Where the permission is documented (URL, letter id, ...)")
    granted_by: str = Field(min_length=1)
    granted_on: dt.date
    expires_on: dt.date | None = None
    scope: frozenset[Literal["raw", "clean"]] = frozenset({"raw", "clean"})
    licence: str | None = Field(default=None, description="SPDX or other licence id; required for basis=licence")
    overrides: frozenset[Signal] = Field(
        default=frozenset(), description="Signals this written permission explicitly covers (needs a reference)"
    )

    @model_validator(mode="after")
    def _coherent(self) -> PermissionRecord:
        if self.basis is PermissionBasis.LICENCE and not self.licence:
            raise ValueError("basis 'licence' needs the licence id in 'licence'")
        if self.expires_on and self.expires_on < self.granted_on:
            raise ValueError("expires_on is before granted_on")
        if self.overrides and self.basis is not PermissionBasis.WRITTEN_PERMISSION:
            raise ValueError("only basis 'written-permission' may override publisher signals")
        return self

    def status(self, today: dt.date) -> Literal["valid", "expired", "not-yet-valid"]:
        if today < self.granted_on:
            return "not-yet-valid"
        if self.expires_on is not None and today > self.expires_on:
            return "expired"
        return "valid"


class Politeness(_Model):
    """Crawl manners. Registry-level defaults; a feed may override any field."""

    download_delay: float = Field(default=1.0, ge=0)
    concurrency_per_domain: int = Field(default=2, ge=1, le=16)
    autothrottle: bool = True
    timeout_seconds: float = Field(default=30, gt=0)
    max_response_bytes: int = Field(default=10 * 1024 * 1024, gt=0)
    max_header_bytes: int = Field(default=256 * 1024, ge=1024)  # status line and headers of one response
    retry_times: int = Field(default=2, ge=0)
    retry_after_cap_seconds: float = Field(default=300, ge=0)
    crawl_delay_cap_seconds: float = Field(default=30, ge=0)
    max_redirects: int = Field(default=5, ge=0)


class CleaningRules(_Model):
    """Extra per-feed line rules applied after trafilatura; built-in rules always apply unless disabled."""

    drop_patterns: tuple[str, ...] = ()  # regexes; a matching line is removed
    rights_patterns: tuple[str, ...] = ()  # regexes; a matching line is removed and recorded as a reservation
    builtin: bool = True

    @field_validator("drop_patterns", "rights_patterns")
    @classmethod
    def _compiles(cls, patterns: tuple[str, ...]) -> tuple[str, ...]:
        for pattern in patterns:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"invalid regular expression {pattern!r}: {exc}") from exc
        return patterns


class FeedConfig(_Model):
    id: Annotated[str, Field(pattern=FEED_ID_RE)]
    publisher: str = Field(min_length=1)
    urls: tuple[str, ...] = Field(min_length=1)
    kind: FeedKind = FeedKind.AUTO
    language: str | None = None
    permission: PermissionRecord | None = None
    politeness: dict[str, Any] = Field(default_factory=dict)  # overrides of Settings.politeness fields
    cleaning: CleaningRules = CleaningRules()
    allow_private_network: bool | tuple[str, ...] = Field(
        default=False,
        description="Allow loopback/private addresses (local demos and tests): true, or a list of CIDR networks",
    )
    max_new_entries_per_run: int | None = Field(
        default=None,
        ge=1,
        description="This feed's cap on entries fetched for the first time per run (default: settings')",
    )
    shards: int = Field(
        default=1,
        ge=1,
        le=MAX_SHARDS,
        description="Crawl this feed as at least K shards, each its own task (any worker), split by a stable hash "
        "of the normalised article URL (more when it lists more entries than entries_per_shard; docs/SCALING.md)",
    )
    entries_per_shard: int | None = Field(
        default=None,
        ge=1,
        description="This feed's shard threshold (default: settings'): entries one crawl task takes",
    )
    enabled: bool = True

    @field_validator("urls")
    @classmethod
    def _http_only(cls, urls: tuple[str, ...]) -> tuple[str, ...]:
        for url in urls:
            if not re.match(r"^https?://[^/\s]+", url):
                raise ValueError(f"feed URL must be http(s): {url!r}")
        return urls

    @field_validator("allow_private_network")
    @classmethod
    def _networks(cls, value: bool | tuple[str, ...]) -> bool | tuple[str, ...]:
        if isinstance(value, tuple):
            for network in value:
                try:
                    ipaddress.ip_network(network, strict=False)
                except ValueError as exc:
                    raise ValueError(f"not an IP network: {network!r}") from exc
        return value

    @field_validator("politeness")
    @classmethod
    def _known_politeness(cls, overrides: dict[str, Any]) -> dict[str, Any]:
        Politeness(**overrides)  # raises with the field name on unknown keys or bad values
        return overrides

    def effective_politeness(self, defaults: Politeness) -> Politeness:
        return defaults.model_copy(update=Politeness(**self.politeness).model_dump(include=set(self.politeness)))


class StorageSettings(_Model):
    """Where the archive lives. ``s3://bucket/prefix`` or ``file:///path``.

    ``embedded: true`` starts a local SeaweedFS (``weed mini``) in ``data_dir`` and points the S3 client at it.
    Credentials come from the standard AWS environment (or Airflow's connection), never from this file.
    """

    uri: str = "s3://feedvault/archive"
    endpoint_url: str | None = None
    region: str = "us-east-1"
    embedded: bool = False
    data_dir: str = ".feedvault"
    max_attempts: int = Field(default=5, ge=1)
    warc_max_bytes: int = Field(default=100 * 1024 * 1024, ge=64 * 1024)
    warc_gzip_level: int = Field(default=6, ge=1, le=9, description="zlib level of each WARC record's gzip member")
    clean_segment_max_bytes: int = Field(
        default=64 * 1024 * 1024,
        ge=1,
        description="A clean segment is uploaded once it holds this many bytes (1: one record per segment and PUT)",
    )
    clean_gzip_level: int = Field(default=6, ge=1, le=9, description="zlib level of each clean record's gzip member")

    @field_validator("uri")
    @classmethod
    def _scheme(cls, uri: str) -> str:
        if not re.match(r"^(s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](/.*)?|file:///.*)$", uri):
            raise ValueError(f"storage uri must be s3://bucket[/prefix] or file:///path, got {uri!r}")
        return uri.rstrip("/") if uri.startswith("s3://") else uri


class CatalogSettings(_Model):
    """Where the browse catalog lives. Unset ``uri``: an SQLite file in ``storage.data_dir``, replicated through
    the archive (zero setup). ``postgresql://user:password@host:port/database``: one shared PostgreSQL database
    that runs write and every browse instance reads directly (put the password in the environment:
    ``${FEEDVAULT_CATALOG_PASSWORD}``)."""

    uri: str | None = None

    @field_validator("uri")
    @classmethod
    def _scheme(cls, uri: str | None) -> str | None:
        if uri is None or not uri.strip():
            return None
        if not re.match(r"^postgres(ql)?://[^/\s]+/[^/\s?]+", uri.strip()):
            raise ValueError(
                "catalog uri must be postgresql://user:password@host:port/database (or left out for the embedded "
                f"SQLite catalog), got {redact(uri)!r}"
            )
        return uri.strip()


class LearnedBoilerplate(_Model):
    """Per-feed learned boilerplate (feedvault.cleaning.fingerprints): when a line recurring across a feed's
    articles counts as boilerplate, and how big the per-feed fingerprint set may grow."""

    enabled: bool = True
    min_articles: int = Field(default=5, ge=2, description="distinct articles a line must occur in")
    min_runs: int = Field(default=2, ge=1, description="distinct runs it must have been seen in")
    min_days: int = Field(default=2, ge=1, description="distinct article days (published, else fetched)")
    min_words: int = Field(default=3, ge=2, description="shorter lines are never learned")
    max_lines: int = Field(default=2000, ge=10, description="fingerprints kept per feed (see the eviction rule)")
    forget_after_days: int = Field(default=60, ge=1, description="a line not seen for this long is forgotten")


class HealthSettings(_Model):
    """When a feed needs attention (``feedvault health``, the Health page, alerts). Each check compares a run with
    the feed's own trailing baseline (the median of its last ``baseline_runs`` runs), never with a fixed figure
    for all feeds; README "Watching it" lists them."""

    baseline_runs: int = Field(default=14, ge=3, le=60, description="Runs in a feed's trailing baseline")
    min_baseline_runs: int = Field(default=3, ge=1, description="Runs needed before a baseline is trusted")
    min_articles: int = Field(default=3, ge=1, description="Articles a run needs for its cleaning yield to count")
    short_text_chars: int = Field(default=200, ge=1, description="A clean text shorter than this counts as short")
    short_share_rise: float = Field(
        default=0.3, gt=0, le=1, description="Warn when the share of short texts rises this much over the baseline"
    )
    text_length_drop: float = Field(
        default=0.5, gt=0, lt=1, description="Warn when the median text length falls below this fraction of baseline"
    )
    removed_share_rise: float = Field(
        default=0.2, gt=0, le=1, description="Warn when the share of lines the rules remove rises this much"
    )
    articles_drop: float = Field(
        default=0.25, ge=0, lt=1, description="Warn when articles per run fall below this fraction of the median"
    )
    min_median_articles: float = Field(
        default=2, ge=0, description="Article-count drops are judged only for feeds whose median is at least this"
    )
    quiet_factor: float = Field(
        default=3.0, ge=1, description="Warn when no new article for this many times the feed's usual gap"
    )
    quiet_min_days: float = Field(default=2.0, ge=0, description="... and for at least this many days")
    failed_share: float = Field(
        default=0.5, gt=0, le=1, description="Warn when this share of a run's articles failed (publisher errors)"
    )
    failing_after_failures: int = Field(default=1, ge=1, description="Consecutive failed runs that make a feed failing")
    permission_change_days: float = Field(
        default=7.0, ge=0, description="Days a permission change stays flagged after the run that saw it"
    )
    expiry_warning_days: int = Field(default=30, ge=0, description="Warn this many days before a permission expires")


class Settings(_Model):
    contact_url: str = "https://github.com/feedvault/feedvault#contact"
    user_agent: str = "feedvault/{version} (+{contact_url})"
    storage: StorageSettings = StorageSettings()
    politeness: Politeness = Politeness()
    entry_window_days: int = Field(default=7, ge=1, description="Feed entries older than this are skipped")
    revisit_days: float = Field(
        default=2, ge=0, description="Seen articles younger than this are re-fetched (conditionally)"
    )
    state_retention_days: int = Field(
        default=90,
        ge=1,
        description="The seen state forgets URLs whose entry date is older than this (never less than the entry window)",
    )
    catalog: CatalogSettings = CatalogSettings()
    catalog_republish_every_runs: int = Field(
        default=14,
        ge=1,
        description="A month's catalog pieces (one per run) are merged into one once it holds this many (and once it closes)",
    )
    health: HealthSettings = HealthSettings()
    extract_workers: int = Field(default=0, ge=0, description="Extraction processes; 0 = one per core")
    uncommitted_grace_hours: float = Field(
        default=6,
        ge=0,
        description="An uncommitted partition younger than this may be a run in progress: runs and gc leave it alone",
    )
    uncommitted_lookback_days: int = Field(
        default=3, ge=0, description="Days back each run removes its feeds' uncommitted partitions (gc: all days)"
    )
    max_new_entries_per_run: int = Field(
        default=1000,
        ge=1,
        description="Entries a feed fetches for the first time per run; the rest wait for the next run, in feed order",
    )
    entries_per_shard: int = Field(
        default=5000,
        ge=1,
        description="A feed that listed more entries than this in its recent runs is crawled as "
        "ceil(entries / this) shards (at most 10), each its own task; together they keep the feed's request rate",
    )
    learned_boilerplate: LearnedBoilerplate = LearnedBoilerplate()
    spider_class: str = Field(
        default="spiders.feeds.FeedSpider",
        description="The Scrapy spider (import path): spiders.feeds.FeedSpider or a subclass of it",
    )
    schedule: str = "0 2 * * *"
    timezone: str = "UTC"

    @property
    def state_retention(self) -> dt.timedelta:
        """How long the seen state remembers a dated URL: an entry older than the window is never fetched again
        (without ``--since``), so remembering it longer only grows ``state/<feed>.json`` every night."""
        return dt.timedelta(days=max(self.state_retention_days, self.entry_window_days))


class Registry(_Model):
    settings: Settings = Settings()
    feeds: tuple[FeedConfig, ...] = ()

    @field_validator("feeds")
    @classmethod
    def _unique_ids(cls, feeds: tuple[FeedConfig, ...]) -> tuple[FeedConfig, ...]:
        seen: set[str] = set()
        for feed in feeds:
            if feed.id in seen:
                raise ValueError(f"duplicate feed id {feed.id!r}")
            seen.add(feed.id)
        return feeds

    def feed(self, feed_id: str) -> FeedConfig:
        for feed in self.feeds:
            if feed.id == feed_id:
                return feed
        known = ", ".join(f.id for f in self.feeds) or "(none)"
        raise ConfigError(f"unknown feed {feed_id!r}; the registry has: {known}")

    def config_hash(self) -> str:
        canonical = json.dumps(self.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()


def _expand_env(value: Any, env: dict[str, str]) -> Any:
    if isinstance(value, str):
        return _ENV_REF.sub(lambda m: env.get(m.group(1), m.group(2) if m.group(2) is not None else ""), value)
    if isinstance(value, list):
        return [_expand_env(v, env) for v in value]
    if isinstance(value, dict):
        return {k: _expand_env(v, env) for k, v in value.items()}
    return value


def _describe(exc: ValidationError) -> str:
    lines = []
    for err in exc.errors():
        where = ".".join(str(part) for part in err["loc"]) or "(top level)"
        lines.append(f"  {where}: {err['msg']}")
    return "\n".join(lines)


def parse_registry(data: Any, source: str = "<registry>", env: dict[str, str] | None = None) -> Registry:
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: expected a mapping with 'settings' and 'feeds', got {type(data).__name__}")
    try:
        return Registry.model_validate(_expand_env(data, dict(os.environ) if env is None else env))
    except ValidationError as exc:
        raise ConfigError(f"{source}: invalid configuration\n{_describe(exc)}") from None


def load_registry(path: str | os.PathLike[str] | None = None) -> Registry:
    """Load and validate a registry file; ``None`` means $FEEDVAULT_REGISTRY or the bundled demo registry."""
    path = Path(path or os.environ.get("FEEDVAULT_REGISTRY") or BUNDLED_REGISTRY)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read registry: {exc.strerror or exc}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    return anchor_paths(parse_registry(data, source=str(path)), path.resolve().parent)


def anchor_paths(registry: Registry, base: Path) -> Registry:
    """Relative paths in a registry mean relative to the registry file, not to wherever a command runs: the same
    registry opens the same archive from any directory."""
    storage = registry.settings.storage
    if Path(storage.data_dir).is_absolute():
        return registry
    anchored = storage.model_copy(update={"data_dir": str((base / storage.data_dir).resolve())})
    return registry.model_copy(update={"settings": registry.settings.model_copy(update={"storage": anchored})})
