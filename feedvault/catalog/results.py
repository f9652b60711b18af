"""What the catalog answers, whatever its backend: result types, limits, ids and input validation.

Nothing here knows SQL: both backends and every reader (the web app, the CLI) share these types.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import hashlib
import html
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Generic, NamedTuple, TypeVar

import msgspec

from feedvault import keys
from feedvault.store.backends import StorageError

MAX_PER_PAGE = 100
MAX_PAGE = 10_000
MAX_QUERY_CHARS = 256
MAX_QUERY_TERMS = 16
SEARCH_COUNT_LIMIT = 1_000
"""A search counts its matches up to this many (or to the end of the page asked for): beyond it, ``total`` is a
lower bound (``Page.total_exact`` is False). Counting every match of a frequent word costs what ranking them
all did."""
HIGHLIGHT_START, HIGHLIGHT_END = "\x02", "\x03"
"""Markers around matched terms in :attr:`SearchHit.snippet` (control chars: never in cleaned text)."""

T = TypeVar("T")
Progress = Callable[[int, int, str], None]
"""``progress(done, total, what)`` during a reindex."""


class CatalogError(StorageError):
    """The catalog cannot be used or updated (corrupt file, wrong schema, missing run manifest)."""


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of results; ``total`` counts all matches, or at least that many when ``total_exact`` is False
    (a search stops counting at :data:`SEARCH_COUNT_LIMIT`)."""

    items: list[T]
    page: int
    per_page: int
    total: int
    total_exact: bool = True

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))

    @property
    def has_next(self) -> bool:
        return self.page < self.pages or (not self.total_exact and len(self.items) == self.per_page)

    @property
    def total_text(self) -> str:
        """``total`` for people: ``"1,000+"`` when it is a lower bound."""
        return f"{self.total:,}" + ("" if self.total_exact else "+")


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


SUMMARY_FIELDS = tuple(f.name for f in dataclasses.fields(SnapshotSummary))


@dataclass(frozen=True)
class Snapshot(SnapshotSummary):
    """A snapshot with its clean text and everything the clean record says about it."""

    clean_key: str  # the pointer to the clean record: opaque to the catalog (stored and returned as is)
    text: str
    metadata: dict[str, Any]
    entry: dict[str, Any]
    permission: dict[str, Any]
    raw: dict[str, Any]
    removed: list[dict[str, Any]]
    rights_reservations: list[Any]
    error: str | None
    fetched_url: str | None = None  # the URL fetched when it differs from its canonical ``url`` (its WARC records')

    @property
    def summary(self) -> SnapshotSummary:
        return SnapshotSummary(**{name: getattr(self, name) for name in SUMMARY_FIELDS})


@dataclass(frozen=True)
class SearchHit:
    snapshot: SnapshotSummary
    snippet: str  # matched terms between HIGHLIGHT_START and HIGHLIGHT_END

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


# -- ids and input -----------------------------------------------------------------------------------------
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


class QueryTerm(NamedTuple):
    """One term of a search: its words (several for a quoted phrase), and whether it is a prefix (``word*``)."""

    words: tuple[str, ...]
    prefix: bool


_TERM = re.compile(r'"([^"]*)"?|(\S+)')
_WORD = re.compile(r"\w+", re.UNICODE)


def search_count_limit(page: int, per_page: int) -> int:
    """How many matches a search counts at most (one more than it reports): :data:`SEARCH_COUNT_LIMIT`, or past
    the end of the page asked for, so there is always a next page while ``total_exact`` is False."""
    return max(SEARCH_COUNT_LIMIT, page * per_page) + 1


def counted_page(items: list[T], page: int, per_page: int, counted: int) -> Page[T]:
    """A search's page from ``counted`` matches, counted up to :func:`search_count_limit`."""
    limit = search_count_limit(page, per_page)
    return Page(items, page, per_page, min(counted, limit - 1), counted < limit)


def query_terms(query: str) -> list[QueryTerm]:
    """User input as search terms, AND-ed: words, ``"quoted phrases"``, a trailing ``*`` for a prefix.

    Only word characters survive, so no backend's query syntax (operators, column filters, stray quotes) can be
    injected. ValueError for empty or oversized queries.
    """
    if not isinstance(query, str):
        raise ValueError("query must be text")
    if len(query) > MAX_QUERY_CHARS:
        raise ValueError(f"query too long ({len(query)} characters; at most {MAX_QUERY_CHARS})")
    terms: list[QueryTerm] = []
    for match in _TERM.finditer(query):
        phrase, bare = match.group(1), match.group(2)
        words = _WORD.findall(phrase if phrase is not None else bare)
        if words:
            terms.append(QueryTerm(tuple(words), bare is not None and bare.endswith("*") and len(words) == 1))
    if not terms:
        raise ValueError("empty query: give at least one word")
    if len(terms) > MAX_QUERY_TERMS:
        raise ValueError(f"too many terms ({len(terms)}; at most {MAX_QUERY_TERMS})")
    return terms


@dataclass(frozen=True)
class SearchFilters:
    """A search's filters, validated: capture days and publication days are inclusive ``YYYY-MM-DD`` bounds."""

    feed: str | None = None
    day_from: str | None = None
    day_to: str | None = None
    published_from: str | None = None
    published_to: str | None = None
    language: str | None = None

    @classmethod
    def of(
        cls,
        feed: str | None,
        date_from: str | dt.date | None,
        date_to: str | dt.date | None,
        language: str | None,
        published_from: str | dt.date | None,
        published_to: str | dt.date | None,
    ) -> SearchFilters:
        """ValueError for a bad day or a range that ends before it starts."""
        days = [parse_day(d) if d is not None else None for d in (date_from, date_to, published_from, published_to)]
        if days[0] and days[1] and days[0] > days[1]:
            raise ValueError("date_from is after date_to")
        if days[2] and days[3] and days[2] > days[3]:
            raise ValueError("published_from is after published_to")
        return cls(feed or None, days[0], days[1], days[2], days[3], language or None)

    @property
    def any(self) -> bool:
        return any(dataclasses.astuple(self))


# -- shared conversions -----------------------------------------------------------------------------------
@functools.lru_cache(maxsize=4096)
def run_day(run_id: str) -> str:
    """The partition day of a run (its id's timestamp); cached: every snapshot of a run asks."""
    return keys.RunId(run_id).started.date().isoformat()


def permission_status(permission: dict[str, Any] | None) -> str:
    if not permission:
        return "unknown"
    if permission.get("decision") != "archive":
        return f"refused:{permission.get('reason') or 'unknown'}"
    return "expiring" if permission.get("warning") else "valid"


def loads(value: str | None, default: Any) -> Any:
    """A JSON column's value (``default`` when empty)."""
    return json.loads(value) if value else default


_ENCODE = msgspec.json.Encoder().encode


def dumps(value: Any) -> str:
    """Compact JSON for a column (UTF-8, keys in their order). msgspec: two per snapshot indexed, at about a
    tenth of ``json.dumps``'s cost (half of turning a clean record into its row); what it cannot encode (an
    integer beyond 64 bits) goes through ``json``."""
    try:
        return _ENCODE(value).decode()
    except OverflowError:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
