import datetime as dt
import json

import pytest

from feedvault.config import FeedKind
from feedvault.crawl.feed_documents import FeedParseError, parse_datetime, parse_feed

RSS = b"""<?xml version="1.0"?><rss version="2.0"><channel><title>t</title>
<item><title>A</title><link>http://127.0.0.1/a.html</link><guid>g-a</guid><pubDate>Tue, 24 Nov 2026 10:00:00 +0700</pubDate></item>
<item><title>B</title><link>/b.html</link><guid isPermaLink="false">g-b</guid></item>
</channel></rss>"""

ATOM = b"""<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom"><title>t</title><id>urn:x</id>
<updated>2026-11-25T00:00:00Z</updated>
<entry><title>E</title><id>urn:e1</id><link href="http://127.0.0.1/e1"/><published>2026-11-25T08:00:00Z</published>
<updated>2026-11-25T09:30:00Z</updated></entry></feed>"""

RDF = b"""<?xml version="1.0"?><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" xmlns="http://purl.org/rss/1.0/"
 xmlns:dc="http://purl.org/dc/elements/1.1/"><channel rdf:about="http://127.0.0.1/"><title>t</title><link>http://127.0.0.1/</link></channel>
<item rdf:about="http://127.0.0.1/r1"><title>R1</title><link>http://127.0.0.1/r1</link><dc:date>2026-11-23T12:00:00Z</dc:date></item></rdf:RDF>"""

NEWS = b"""<?xml version="1.0" encoding="UTF-8"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"
 xmlns:news="http://www.google.com/schemas/sitemap-news/0.9"><url><loc>http://127.0.0.1/n1</loc>
<news:news><news:publication><news:name>P</news:name><news:language>id</news:language></news:publication>
<news:publication_date>2026-11-25T06:00:00+07:00</news:publication_date><news:title>N1</news:title></news:news></url></urlset>"""


def test_rss2_entries_with_dates_and_guids():
    parsed = parse_feed(RSS, "http://127.0.0.1/rss.xml")
    assert parsed.kind is FeedKind.RSS
    a, b = parsed.entries
    assert (a.link, a.guid, a.title) == ("http://127.0.0.1/a.html", "g-a", "A")
    assert a.published == dt.datetime(2026, 11, 24, 3, 0, tzinfo=dt.UTC)
    assert b.link == "http://127.0.0.1/b.html"  # relative link resolved against the feed


def test_atom_rdf_json_feed_and_news_sitemap():
    atom = parse_feed(ATOM, "http://127.0.0.1/atom").entries[0]
    assert atom.guid == "urn:e1" and atom.updated == dt.datetime(2026, 11, 25, 9, 30, tzinfo=dt.UTC)
    rdf = parse_feed(RDF, "http://127.0.0.1/rdf")
    assert rdf.kind is FeedKind.RDF and rdf.entries[0].link == "http://127.0.0.1/r1"
    jf = json.dumps(
        {
            "version": "https://jsonfeed.org/version/1.1",
            "title": "t",
            "items": [{"id": "1", "url": "http://127.0.0.1/j1", "date_published": "2026-11-25T10:00:00Z"}],
        }
    )
    entry = parse_feed(jf.encode(), "http://127.0.0.1/feed.json").entries[0]
    assert entry.link == "http://127.0.0.1/j1" and entry.published.hour == 10
    news = parse_feed(NEWS, "http://127.0.0.1/news.xml")
    assert news.kind is FeedKind.NEWS_SITEMAP
    assert news.entries[0].title == "N1" and news.entries[0].published == dt.datetime(
        2026, 11, 24, 23, 0, tzinfo=dt.UTC
    )


def test_truncated_feed_keeps_complete_entries_and_warns():
    parsed = parse_feed(RSS[: RSS.index(b"<item><title>B")] + b"<item><title>B</ti", "http://127.0.0.1/rss")
    assert [e.guid for e in parsed.entries][:1] == ["g-a"]
    assert parsed.warnings


def test_entity_bomb_is_not_expanded():
    lol = "".join(f'<!ENTITY l{i} "{f"&l{i - 1};" * 10}">' for i in range(1, 10))
    bomb = (
        f'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY l0 "lol">{lol}]><rss version="2.0"><channel><title>&l9;</title>'
        "<item><title>&l9;</title><link>http://127.0.0.1/a</link></item></channel></rss>"
    )
    parsed = parse_feed(bomb.encode(), "http://127.0.0.1/rss")
    assert all(len(e.title or "") < 1000 for e in parsed.entries)
    bomb_sitemap = bomb.replace("<rss", "<urlset").encode()
    with pytest.raises(FeedParseError):
        parse_feed(b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "x">]><html>&a;</html>', "u", FeedKind.SITEMAP)
    assert bomb_sitemap  # the sitemap parser never resolves entities (resolve_entities=False)


@pytest.mark.parametrize(
    "body", [b"", b"   ", b"<html><body>not a feed</body></html>", b'{"version": 1}', b"{bad json"]
)
def test_not_a_feed_is_a_clear_error(body):
    with pytest.raises(FeedParseError):
        parse_feed(body, "http://127.0.0.1/x")


def test_parse_datetime_variants():
    assert parse_datetime("2026-11-25") == dt.datetime(2026, 11, 25, tzinfo=dt.UTC)
    assert parse_datetime("Wed, 25 Nov 2026 10:00:00 GMT") == dt.datetime(2026, 11, 25, 10, tzinfo=dt.UTC)
    assert parse_datetime("garbage") is None


def _feed_documents():
    from pathlib import Path

    from feedvault.demo import DEMO_SITE

    fixtures = Path(__file__).parent / "fixtures" / "sites"
    docs = [("rss-const", RSS), ("atom-const", ATOM)]
    docs += [(str(p), p.read_bytes()) for p in (DEMO_SITE / "id" / "rss.xml", DEMO_SITE / "en" / "atom.xml")]
    docs += [(str(p), p.read_bytes()) for p in sorted(fixtures.glob("*/feed.xml"))]
    return docs


@pytest.mark.parametrize(("name", "body"), _feed_documents(), ids=lambda v: v if isinstance(v, str) else "")
def test_strict_and_tolerant_paths_agree(name, body):
    from feedvault.crawl import feed_documents as feeds

    strict = feeds._parse_syndication_strict(body, "http://127.0.0.1/feed.xml", FeedKind.RSS)
    if strict is None:  # malformed, truncated, DTD: only the tolerant parser may read it, if anything can
        try:
            tolerant = feeds._parse_syndication_tolerant(body, "http://127.0.0.1/feed.xml", FeedKind.RSS)
        except FeedParseError:
            return
        assert b"<!DOCTYPE" in body or b"<!ENTITY" in body or tolerant.warnings, name
        return
    tolerant = feeds._parse_syndication_tolerant(body, "http://127.0.0.1/feed.xml", FeedKind.RSS)
    assert strict.entries == tolerant.entries, name
    assert strict.kind == tolerant.kind


def test_documents_with_a_dtd_never_take_the_strict_path():
    from feedvault.crawl import feed_documents as feeds

    body = b'<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY a "x">]><rss version="2.0"><channel></channel></rss>'
    assert feeds._parse_syndication_strict(body, "u", FeedKind.AUTO) is None
