"""Turn a feed document (RSS 0.9x/1.0/2.0, Atom, JSON Feed, sitemap, Google News sitemap) into entries.

RSS and Atom go through feedparser (tolerant of truncated and malformed XML; expat refuses entity bombs).
Sitemaps are parsed with lxml with entity resolution and network access off. JSON Feed is plain JSON.
"""

from __future__ import annotations

import calendar
import datetime as dt
import json
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urljoin

import feedparser
from lxml import etree

from feedvault.config import FeedKind

SITEMAP_NS = "http://www.sitemaps.org/schemas/sitemap/0.9"
NEWS_NS = "http://www.google.com/schemas/sitemap-news/0.9"
_SAFE_XML = etree.XMLParser(
    resolve_entities=False, no_network=True, huge_tree=False, recover=True, remove_comments=True, remove_pis=True
)


class FeedParseError(ValueError):
    """The document is not a feed we can read at all (not merely slightly broken)."""


@dataclass(frozen=True)
class FeedEntry:
    link: str
    guid: str | None = None
    title: str | None = None
    published: dt.datetime | None = None
    updated: dt.datetime | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "link": self.link,
            "guid": self.guid,
            "title": self.title,
            "published": self.published.isoformat() if self.published else None,
            "updated": self.updated.isoformat() if self.updated else None,
        }


@dataclass
class ParsedFeed:
    kind: FeedKind
    entries: list[FeedEntry]
    warnings: list[str] = field(default_factory=list)
    child_sitemaps: list[str] = field(default_factory=list)


def _struct_to_datetime(value: Any) -> dt.datetime | None:
    if not value:
        return None
    return dt.datetime.fromtimestamp(calendar.timegm(value), dt.UTC)


def parse_datetime(text: str | None) -> dt.datetime | None:
    """ISO 8601 (sitemaps, JSON Feed) or RFC 822 dates; naive values are taken as UTC."""
    if not text:
        return None
    text = text.strip()
    try:
        value = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        parsed = feedparser.datetimes._parse_date(text)  # RFC 822 and friends; returns UTC struct_time
        return _struct_to_datetime(parsed)
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def _sniff(body: bytes) -> FeedKind:
    head = body[:2048].lstrip().lower()
    if head.startswith(b"{"):
        return FeedKind.JSON_FEED
    if b"<urlset" in head or b"<sitemapindex" in head:
        return FeedKind.NEWS_SITEMAP if NEWS_NS.encode() in head else FeedKind.SITEMAP
    if b"<rdf:rdf" in head:
        return FeedKind.RDF
    if b"<feed" in head:
        return FeedKind.ATOM
    return FeedKind.RSS


def parse_feed(body: bytes, url: str, kind: FeedKind = FeedKind.AUTO) -> ParsedFeed:
    if not body.strip():
        raise FeedParseError("empty feed document")
    detected = _sniff(body)
    kind = detected if kind is FeedKind.AUTO else kind
    if kind is FeedKind.JSON_FEED:
        return _parse_json_feed(body)
    if kind in (FeedKind.SITEMAP, FeedKind.NEWS_SITEMAP):
        return _parse_sitemap(body, kind)
    return _parse_syndication(body, url, kind)


def _parse_syndication(body: bytes, url: str, kind: FeedKind) -> ParsedFeed:
    parsed = feedparser.parse(body, sanitize_html=False, resolve_relative_uris=False)
    warnings = []
    if parsed.bozo:
        warnings.append(f"feed is not well-formed: {parsed.get('bozo_exception')}")
    if not parsed.entries and (parsed.bozo or not parsed.version):
        # nothing recoverable: broken beyond repair, or not a feed at all (an empty, well-formed feed is fine)
        raise FeedParseError(f"not a readable RSS or Atom feed ({parsed.get('bozo_exception') or 'unknown format'})")
    entries = []
    for raw in parsed.entries:
        link = raw.get("link") or ""
        if not link and raw.get("id", "").startswith(("http://", "https://")):
            link = raw["id"]
        entries.append(
            FeedEntry(
                link=urljoin(url, link.strip()) if link.strip() else "",
                guid=raw.get("id") or None,
                title=raw.get("title") or None,
                # dict.get: FeedParserDict.get maps a missing updated_parsed to published_parsed
                published=_struct_to_datetime(dict.get(raw, "published_parsed")),
                updated=_struct_to_datetime(dict.get(raw, "updated_parsed")),
            )
        )
    return ParsedFeed(kind=kind, entries=entries, warnings=warnings)


def _parse_json_feed(body: bytes) -> ParsedFeed:
    try:
        data = json.loads(body)
    except ValueError as exc:
        raise FeedParseError(f"JSON Feed is not valid JSON: {exc}") from None
    if not isinstance(data, dict) or not str(data.get("version", "")).startswith("https://jsonfeed.org/version/"):
        raise FeedParseError("not a JSON Feed (missing https://jsonfeed.org/version/ marker)")
    entries = []
    for item in data.get("items") or []:
        if not isinstance(item, dict):
            continue
        entries.append(
            FeedEntry(
                link=str(item.get("url") or item.get("external_url") or "").strip(),
                guid=str(item["id"]) if item.get("id") is not None else None,
                title=item.get("title"),
                published=parse_datetime(item.get("date_published")),
                updated=parse_datetime(item.get("date_modified")),
            )
        )
    return ParsedFeed(kind=FeedKind.JSON_FEED, entries=entries)


def _parse_sitemap(body: bytes, kind: FeedKind) -> ParsedFeed:
    try:
        root = etree.fromstring(body, parser=_SAFE_XML)
    except etree.XMLSyntaxError as exc:
        raise FeedParseError(f"sitemap is not XML: {exc}") from None
    if root is None:
        raise FeedParseError("sitemap is not XML")
    warnings = [f"sitemap is not well-formed: {e.message}" for e in _SAFE_XML.error_log][:5]
    local = etree.QName(root).localname
    if local == "sitemapindex":
        children = [loc.strip() for loc in root.xpath("//*[local-name()='sitemap']/*[local-name()='loc']/text()")]
        return ParsedFeed(kind=kind, entries=[], warnings=warnings, child_sitemaps=children)
    if local != "urlset":
        raise FeedParseError(f"not a sitemap (root element <{local}>)")
    entries = []
    for node in root.iterfind(f"{{{SITEMAP_NS}}}url"):
        loc = (node.findtext(f"{{{SITEMAP_NS}}}loc") or "").strip()
        lastmod = parse_datetime(node.findtext(f"{{{SITEMAP_NS}}}lastmod"))
        news = node.find(f"{{{NEWS_NS}}}news")
        title = published = None
        if news is not None:
            title = news.findtext(f"{{{NEWS_NS}}}title")
            published = parse_datetime(news.findtext(f"{{{NEWS_NS}}}publication_date"))
        entries.append(FeedEntry(link=loc, guid=None, title=title, published=published or lastmod, updated=lastmod))
    return ParsedFeed(kind=kind, entries=entries, warnings=warnings)
