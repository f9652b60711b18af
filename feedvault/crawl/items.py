"""The item a feed crawl yields: one fetched article, as transferred and as decoded."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from feedvault.crawl.feed_documents import FeedEntry
from feedvault.crawl.seen_state import FetchPlan
from feedvault.keys import Identity


@dataclass
class ArticleCapture:
    """One fetched article: the exchange as transferred (for WARC) and the decoded body (for cleaning)."""

    url: str
    requested_url: str
    entry: FeedEntry
    plan: FetchPlan
    raw: dict[str, Any]
    body: bytes
    declared_encoding: str | None
    fetched_at: dt.datetime
    redirects: list[str] = field(default_factory=list)
    robots: dict[str, Any] | None = None
    tdmrep: dict[str, Any] | None = None  # the host's tdmrep.json and the rule matching this URL
    robots_usage: list[Any] = field(default_factory=list)  # aipref.Statement: robots.txt usage rules for the URL
    # The URL it is archived under: what its seen state points at, until the examined page's same-site
    # <link rel=canonical> says (keys.canonical_identity); its WARC records stay under ``url``.
    identity: Identity | None = None

    @property
    def archived_url(self) -> str:
        return self.identity.url if self.identity is not None else self.url

    @property
    def fetched_url(self) -> str | None:
        """``url`` when it is archived under another URL (its canonical one), else None."""
        return self.url if self.archived_url != self.url else None
