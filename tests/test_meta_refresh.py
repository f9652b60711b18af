"""A ``<meta http-equiv=refresh>`` redirect is followed as Scrapy's MetaRefreshMiddleware would follow it, but only
the page's head is decoded to find it (spiders.middlewares.HeadMetaRefreshMiddleware). A real crawl of the
``meta-refresh`` fixture site into a plain-folder archive, and the same decisions as Scrapy's on the same bytes."""

from __future__ import annotations

import json

import pytest
from scrapy import Request
from scrapy.http import HtmlResponse
from scrapy.utils.response import get_meta_refresh
from scrapy.utils.test import get_crawler

from feedvault.config import StorageSettings
from feedvault.store.backends import FileStore
from spiders.middlewares import HeadMetaRefreshMiddleware, head_meta_refresh
from tests.support.crawl import feed, feed_summary, run_crawl, write_registry
from tests.support.sites import FIXTURE_SITES

SITE = FIXTURE_SITES / "meta-refresh"
IGNORE = ["script", "noscript"]  # Scrapy's default METAREFRESH_IGNORE_TAGS
BASE = "http://news.fixture.test/articles/"


def response(body: bytes, content_type: str = "text/html", url: str = BASE + "page.html") -> HtmlResponse:
    return HtmlResponse(url, body=body, headers={"Content-Type": content_type})


def fixture_pages() -> list[bytes]:
    return [path.read_bytes() for path in sorted((SITE / "articles").glob("*.html"))]


# Families Scrapy's middleware decides on: refresh at the start, after multi-byte text, past the 4,096th character,
# inside <noscript> or <script>, relative to a <base href>, in a declared legacy charset, behind a UTF-16 BOM, none.
CRAFTED = [
    b'<html><head><meta http-equiv="refresh" content="0;URL=\'/next.html\'"></head><body>x</body></html>',
    ("<html><head><title>" + "é" * 2100 + '</title><meta http-equiv="refresh" content="1; url=kö.html">').encode(),
    ("<html><head><title>" + "é" * 4100 + '</title><meta http-equiv="refresh" content="1; url=/far.html">').encode(),
    b'<html><head><base href="http://other.fixture.test/sub/"><meta http-equiv=refresh content="5;url=rel.html">',
    b'<html><body><script>var s = \'<meta http-equiv="refresh" content="0;url=/x">\';</script></body></html>',
    '<html><head><meta charset="windows-1251"><meta http-equiv="refresh" content="0; url=/новости.html">'.encode(
        "cp1251"
    ),
    ('<html><head><meta http-equiv="refresh" content="0; url=/utf16.html"></head>' + "ü" * 9000).encode("utf-16"),
    b"<html><head><title>no refresh here</title></head><body>" + b"plain " * 20000 + b"</body></html>",
]


@pytest.mark.parametrize("body", [*fixture_pages(), *CRAFTED])
@pytest.mark.parametrize("content_type", ["text/html", "text/html; charset=utf-8", "text/html; charset=cp1251"])
def test_the_head_gives_scrapys_meta_refresh_decision_without_decoding_the_page(body, content_type):
    ours = response(body, content_type)
    assert head_meta_refresh(ours, IGNORE) == get_meta_refresh(response(body, content_type), ignore_tags=IGNORE)
    assert ours._cached_ubody is None  # the whole body was never decoded


def test_the_middleware_redirects_as_scrapys_and_leaves_the_body_undecoded():
    middleware = HeadMetaRefreshMiddleware.from_crawler(get_crawler(settings_dict={"METAREFRESH_MAXDELAY": 100}))
    page = response(b'<html><head><meta http-equiv="refresh" content="0; url=/next.html"></head>' + b"x" * 300_000)
    redirected = middleware.process_response(Request(page.url), page)
    assert isinstance(redirected, Request) and redirected.url == "http://news.fixture.test/next.html"
    assert redirected.meta["redirect_reasons"] == ["meta refresh"] and page._cached_ubody is None
    slow = response(b'<html><head><meta http-equiv="refresh" content="300; url=/next.html"></head>')
    assert middleware.process_response(Request(slow.url), slow) is slow  # past METAREFRESH_MAXDELAY
    kept = response(b'<html><head><meta http-equiv="refresh" content="0; url=/next.html"></head>')
    assert middleware.process_response(Request(kept.url, meta={"dont_redirect": True}), kept) is kept


def test_a_crawl_follows_a_meta_refresh_and_archives_what_it_leads_to(tmp_path, site_server):
    server = site_server("meta-refresh")
    root = tmp_path / "archive"
    storage = StorageSettings(uri=root.as_uri(), data_dir=str(tmp_path / "data"))
    registry = write_registry(tmp_path / "feeds.yaml", storage, [feed("refresh", server.url("/feed.xml"))])
    summary = feed_summary(run_crawl(registry, None, "--run-id", "20261126T050000Z-refresh"), "refresh")
    manifest = json.loads(FileStore(root).get_bytes(summary["manifest_key"]))
    got = {o["url"].removeprefix(server.base_url): o for o in manifest["urls"]}
    # The page the refresh leads to (in no feed) is archived as an article is after a 3xx: under its own URL.
    assert got["/articles/winter-timetable.html"]["outcome"] == "new"
    assert "/articles/moved.html" not in got  # the refreshing page itself is not what is kept
    for path in ("/articles/slow-refresh.html", "/articles/noscript-refresh.html", "/articles/late-refresh.html"):
        assert got[path]["outcome"] == "new" and "redirected_to" not in got[path], got[path]


def test_the_crawl_uses_the_head_reading_middleware_in_place_of_scrapys():
    import types

    from feedvault.config import BUNDLED_REGISTRY, load_registry
    from feedvault.crawl.runner import scrapy_settings

    registry = load_registry(BUNDLED_REGISTRY)
    politeness = registry.feeds[0].effective_politeness(registry.settings.politeness)
    crawl = types.SimpleNamespace(settings=registry.settings, politeness=politeness)
    middlewares = scrapy_settings(crawl, "WARNING")["DOWNLOADER_MIDDLEWARES"]  # type: ignore[arg-type]
    assert middlewares["scrapy.downloadermiddlewares.redirect.MetaRefreshMiddleware"] is None
    assert middlewares["spiders.middlewares.HeadMetaRefreshMiddleware"] == 580  # Scrapy's place in the chain
