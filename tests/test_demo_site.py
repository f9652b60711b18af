"""The fixture server, the demo publisher, the bundled registry, the bad-input sites and the bench generator."""

from __future__ import annotations

import datetime as dt
import hashlib
import http.client
import json
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import zlib
from concurrent.futures import ThreadPoolExecutor
from email.utils import format_datetime
from pathlib import Path
from urllib.parse import urlsplit

import feedparser
import pytest
from lxml import etree, html
from protego import Protego

from feedvault.config import BUNDLED_REGISTRY, PermissionBasis, load_registry
from feedvault.demo import ARTICLE_SENTINELS, BOILERPLATE_MARKERS, DEMO_REGISTRY, DEMO_SITE
from feedvault.demo.server import MIB, RouteError, SiteServer
from feedvault.demo.synth import DEMO_ARTICLES, demo_site_files
from tests.support.sites import BAD_INPUT_CASES, FIXTURE_CASES, FIXTURE_SITES, synthetic_site

NS = {"sm": "http://www.sitemaps.org/schemas/sitemap/0.9", "news": "http://www.google.com/schemas/sitemap-news/0.9"}
DEMO_DAYS = {dt.date(2026, 11, 24), dt.date(2026, 11, 25), dt.date(2026, 11, 26)}
EXPECTED_CASES = {*BAD_INPUT_CASES, "changing-article"}


class Reply:
    """A raw HTTP answer: no redirects followed, no content decoding."""

    def __init__(self, status: int, headers: http.client.HTTPMessage, body: bytes) -> None:
        self.status, self.headers, self.body = status, headers, body

    @property
    def text(self) -> str:
        return self.body.decode("utf-8")


def fetch(server: SiteServer, path: str, method: str = "GET", headers: dict[str, str] | None = None) -> Reply:
    connection = http.client.HTTPConnection(server.host, server.port, timeout=30)
    try:
        connection.request(method, path, headers=headers or {})
        response = connection.getresponse()
        return Reply(response.status, response.headers, response.read())
    finally:
        connection.close()


def make_site(root: Path, files: dict[str, str | bytes], routes: dict | None = None) -> Path:
    for name, content in files.items():
        target = root / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content if isinstance(content, bytes) else content.encode())
    if routes is not None:
        (root / "_routes.json").write_text(json.dumps(routes))
    return root


def served_path(url: str, server: SiteServer) -> str:
    assert url.startswith(server.base_url + "/"), url
    return url[len(server.base_url) :]


# -- the server ----------------------------------------------------------------------------------------------


def test_text_files_get_the_base_url_and_other_files_do_not(tmp_path):
    root = make_site(
        tmp_path,
        {"a.xml": "<a href='{{BASE_URL}}/x'/>", "b.txt": "{{BASE_URL}}", "c.css": "/* {{BASE_URL}} */"},
    )
    with SiteServer(root) as server:
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+", server.base_url) and server.port != 0
        assert fetch(server, "/a.xml").text == f"<a href='{server.base_url}/x'/>"
        assert fetch(server, "/b.txt").text == server.base_url
        assert fetch(server, "/c.css").text == "/* {{BASE_URL}} */"


def test_content_types_by_extension(tmp_path):
    names = ["p.html", "f.xml", "d.json", "r.txt", "s.css", "i.svg", "blob.bin"]
    root = make_site(tmp_path, dict.fromkeys(names, "x"))
    with SiteServer(root) as server:
        types = {name: fetch(server, "/" + name).headers["Content-Type"] for name in names}
    assert types == {
        "p.html": "text/html; charset=utf-8",
        "f.xml": "application/xml; charset=utf-8",
        "d.json": "application/json",
        "r.txt": "text/plain; charset=utf-8",
        "s.css": "text/css; charset=utf-8",
        "i.svg": "image/svg+xml",
        "blob.bin": "application/octet-stream",
    }


def test_etag_last_modified_and_conditional_get(tmp_path):
    root = make_site(tmp_path, {"page.html": "<p>{{BASE_URL}}</p>"})
    with SiteServer(root) as server:
        first = fetch(server, "/page.html")
        etag, modified = first.headers["ETag"], first.headers["Last-Modified"]
        assert etag == '"' + hashlib.sha256(first.body).hexdigest()[:32] + '"'  # hash of the *served* bytes
        mtime = dt.datetime.fromtimestamp((root / "page.html").stat().st_mtime, dt.UTC)
        assert modified == format_datetime(mtime, usegmt=True)

        for headers in (
            {"If-None-Match": etag},
            {"If-None-Match": f'"other", W/{etag}'},
            {"If-Modified-Since": modified},
        ):
            again = fetch(server, "/page.html", headers=headers)
            assert (again.status, again.body, again.headers["ETag"]) == (304, b"", etag), headers
        earlier = format_datetime(mtime - dt.timedelta(hours=1), usegmt=True)
        assert fetch(server, "/page.html", headers={"If-Modified-Since": earlier}).status == 200
        assert fetch(server, "/page.html", headers={"If-None-Match": '"stale"'}).status == 200

        (root / "page.html").write_text("<p>changed</p>")
        changed = fetch(server, "/page.html", headers={"If-None-Match": etag})
        assert changed.status == 200 and changed.headers["ETag"] != etag


def test_head_has_the_headers_of_get_and_no_body(demo_site):
    get = fetch(demo_site, "/id/rss.xml")
    head = fetch(demo_site, "/id/rss.xml", method="HEAD")
    assert head.status == 200 and head.body == b""
    for name in ("Content-Type", "Content-Length", "ETag", "Last-Modified"):
        assert head.headers[name] == get.headers[name], name
    assert int(head.headers["Content-Length"]) == len(get.body)
    with socket.create_connection((demo_site.host, demo_site.port), timeout=10) as raw:
        raw.sendall(b"HEAD /id/rss.xml HTTP/1.1\r\nHost: demo\r\nConnection: close\r\n\r\n")
        answer = b"".join(iter(lambda: raw.recv(65536), b""))
    assert answer.startswith(b"HTTP/1.1 200") and answer.endswith(b"\r\n\r\n")  # nothing after the headers


def test_missing_files_traversal_and_routes_file_are_404(tmp_path):
    site = tmp_path / "site"
    make_site(site, {"index.html": "home", "sub/index.html": "sub"}, routes={})
    (tmp_path / "secret.txt").write_text("outside the root")
    with SiteServer(site) as server:
        assert fetch(server, "/").text == "home" and fetch(server, "/sub/").text == "sub"
        for path in ("/nope.html", "/../secret.txt", "/sub/../../secret.txt", "/%2e%2e/secret.txt", "/_routes.json"):
            reply = fetch(server, path)
            assert reply.status == 404 and b"outside" not in reply.body, path


def test_request_log_and_hits(tmp_path):
    root = make_site(tmp_path, {"a.html": "a"})
    with SiteServer(root) as server:
        fetch(server, "/a.html", headers={"User-Agent": "probe/1"})
        fetch(server, "/a.html?x=1", method="HEAD")
        with ThreadPoolExecutor(8) as pool:
            assert all(r.status == 200 for r in pool.map(lambda _: fetch(server, "/a.html"), range(20)))
        records = server.requests
        assert (records[0].method, records[0].path, records[0].headers["User-Agent"]) == ("GET", "/a.html", "probe/1")
        assert records[1].method == "HEAD" and records[1].time >= records[0].time
        assert server.hits("/a.html") == 22 and server.hits("/a.html?x=1") == 1 and server.hits("/b.html") == 0
        server.clear_requests()
        assert server.requests == [] and server.hits("/a.html") == 0


def test_status_route_and_times(site_server):
    errors = site_server("http-errors")
    for path, status in (
        ("/articles/missing.html", 404),
        ("/articles/withdrawn.html", 410),
        ("/articles/broken.html", 500),
    ):
        assert fetch(errors, path).status == status, path
    assert fetch(errors, "/articles/withdrawn.html").status == 410  # no "times": every request
    assert fetch(errors, "/articles/fine.html").status == 200

    busy = site_server("retry-after")
    first = fetch(busy, "/articles/busy.html")
    assert first.status == 429 and first.headers["Retry-After"] == "1"
    second = fetch(busy, "/articles/busy.html")
    assert second.status == 200 and "Retry-After" not in second.headers and b"<h1>" in second.body
    assert busy.hits("/articles/busy.html") == 2

    busy.set_route("/articles/busy.html", {"status": 503, "times": 2})  # set_route resets the counter
    assert [fetch(busy, "/articles/busy.html").status for _ in range(3)] == [503, 503, 200]


def test_redirect_loop(site_server):
    server = site_server("redirect-loop")
    a = fetch(server, "/articles/loop-a.html")
    assert a.status == 302 and a.headers["Location"] == "/articles/loop-b.html"
    b = fetch(server, "/articles/loop-b.html")
    assert b.status == 302 and b.headers["Location"] == server.url("/articles/loop-a.html")
    with pytest.raises(urllib.error.HTTPError, match="infinite loop"):
        urllib.request.urlopen(server.url("/articles/loop-a.html"), timeout=10)
    assert fetch(server, "/articles/steady.html").status == 200


def test_header_override_lies_about_the_charset(site_server):
    server = site_server("wrong-charset")
    reply = fetch(server, "/articles/cafe.html")
    assert reply.headers["Content-Type"] == "text/html; charset=utf-8"
    assert [k for k in reply.headers if k.lower() == "content-type"] == ["Content-Type"]
    with pytest.raises(UnicodeDecodeError):
        reply.body.decode("utf-8")
    text = reply.body.decode("cp1252")
    assert "café" in text and "“new”" in text and "–" in text and "owner’s" in text
    assert "<meta charset" in text  # the page claims UTF-8 too, like the header: only the bytes tell the truth


def test_gzip_bomb(site_server):
    server = site_server("gzip-bomb")
    reply = fetch(server, "/articles/bomb.html")
    assert reply.status == 200 and reply.headers["Content-Encoding"] == "gzip"
    assert len(reply.body) == int(reply.headers["Content-Length"]) < 1 * MIB
    inflater, expanded, head = zlib.decompressobj(16 + zlib.MAX_WBITS), 0, b""
    data = reply.body
    while data:
        chunk = inflater.decompress(data, 4 * MIB)
        head = head or chunk[:15]
        expanded += len(chunk)
        data = inflater.unconsumed_tail
    assert expanded == 200 * MIB and head == b"<!DOCTYPE html>"
    assert fetch(server, "/articles/bomb.html").body == reply.body  # built once, served identically
    assert fetch(server, "/articles/bomb.html", headers={"If-None-Match": reply.headers["ETag"]}).status == 304


def test_repeat_body_is_generated_on_the_fly(site_server):
    server = site_server("oversized-page")
    reply = fetch(server, "/articles/huge.html")
    assert reply.status == 200 and reply.headers["Content-Type"].startswith("text/html")
    assert int(reply.headers["Content-Length"]) == len(reply.body) == 12 * MIB
    assert reply.body.startswith(b"<!DOCTYPE html>") and reply.body.endswith(b"</html>\n")
    assert reply.headers["ETag"] and reply.headers["Last-Modified"]
    server.set_route("/small.txt", {"repeat_mb": 0.01, "content_type": "text/plain"})
    assert len(fetch(server, "/small.txt").body) == int(0.01 * MIB)


def test_delay(tmp_path):
    root = make_site(tmp_path, {"slow.html": "slow", "fast.html": "fast"}, routes={"/slow.html": {"delay": 0.4}})
    with SiteServer(root) as server:
        started = time.monotonic()
        assert fetch(server, "/slow.html").text == "slow"
        assert time.monotonic() - started >= 0.4
        started = time.monotonic()
        fetch(server, "/fast.html")
        assert time.monotonic() - started < 0.4


def test_set_route_body_file_and_removal(site_server):
    server = site_server("changing-article")
    original = fetch(server, "/articles/story.html")
    assert b"next summer" in original.body

    server.set_route("/articles/story.html", {"file": "articles/story-v2.html"})
    corrected = fetch(server, "/articles/story.html", headers={"If-None-Match": original.headers["ETag"]})
    assert corrected.status == 200 and b"in the autumn" in corrected.body
    assert corrected.headers["ETag"] != original.headers["ETag"]

    server.set_route("/articles/story.html", {"body": "<p>{{BASE_URL}} rewrote this</p>"})
    rewritten = fetch(server, "/articles/story.html")
    assert rewritten.text == f"<p>{server.base_url} rewrote this</p>"
    assert rewritten.headers["Content-Type"] == "text/html; charset=utf-8"
    assert fetch(server, "/articles/story.html", headers={"If-None-Match": rewritten.headers["ETag"]}).status == 304

    server.set_route("/articles/story.html", None)
    assert fetch(server, "/articles/story.html").body == original.body


def test_last_modified_override(tmp_path):
    root = make_site(tmp_path, {"a.html": "a"}, routes={"/a.html": {"last_modified": "2026-11-25T08:00:00Z"}})
    with SiteServer(root) as server:
        assert fetch(server, "/a.html").headers["Last-Modified"] == "Wed, 25 Nov 2026 08:00:00 GMT"
        since = {"If-Modified-Since": "Wed, 25 Nov 2026 09:00:00 GMT"}
        assert fetch(server, "/a.html", headers=since).status == 304


@pytest.mark.parametrize(
    ("spec", "problem"),
    [
        ({"stauts": 500}, "unknown key"),
        ({"status": "500"}, "wrong type"),
        ({"times": True}, "wrong type"),
        ({"headers": {"Retry-After": 2}}, "strings"),
        ({"body": "x", "file": "y.html"}, "at most one"),
        ({"status": 99}, "out of range"),
        ({"delay": -1}, "negative"),
        ({"last_modified": "yesterday"}, "last_modified"),
        ("not an object", "object"),
    ],
)
def test_invalid_route_specs_are_rejected(tmp_path, spec, problem):
    root = make_site(tmp_path, {"a.html": "a"}, routes={"/a.html": spec})
    server = SiteServer(root)
    with pytest.raises(RouteError, match=problem):
        server.start()
    (root / "_routes.json").unlink()
    with server:
        with pytest.raises(RouteError, match=problem):
            server.set_route("/a.html", spec)  # type: ignore[arg-type]
        assert fetch(server, "/a.html").status == 200


def test_stop_releases_the_port_and_start_twice_is_refused(tmp_path):
    server = SiteServer(make_site(tmp_path, {"a.html": "a"})).start()
    with pytest.raises(RuntimeError):
        server.start()
    with server:  # entering a started server keeps it
        url = server.url("/a.html")
        assert fetch(server, "/a.html").status == 200
    with pytest.raises(OSError):
        urllib.request.urlopen(url, timeout=2)
    server.stop()  # idempotent
    with pytest.raises(RuntimeError):
        server.base_url  # noqa: B018


def test_command_line_serves_a_site(tmp_path):
    root = make_site(tmp_path, {"r.txt": "{{BASE_URL}}/ok"})
    process = subprocess.Popen(
        [sys.executable, "-m", "feedvault.demo.server", str(root), "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = process.stdout.readline()
        base_url = re.search(r"http://127\.0\.0\.1:\d+", line).group(0)
        with urllib.request.urlopen(base_url + "/r.txt", timeout=10) as response:
            assert response.read().decode() == base_url + "/ok"
    finally:
        process.terminate()
        _, stderr = process.communicate(timeout=10)
    assert "r.txt" not in stderr  # no per-request log on stderr


# -- the bad-input fixture sites ----------------------------------------------------------------------------


def test_every_fixture_case_exists_and_is_documented():
    assert set(FIXTURE_CASES) >= EXPECTED_CASES
    readme = (FIXTURE_SITES / "README.md").read_text()
    for case in FIXTURE_CASES:  # every fixture site, the bad-input ones and any added later
        assert f"| `{case}` |" in readme, f"{case} is not described in tests/fixtures/sites/README.md"
        assert (FIXTURE_SITES / case / "robots.txt").is_file() and (FIXTURE_SITES / case / "feed.xml").is_file()


@pytest.mark.parametrize("case", sorted(EXPECTED_CASES))
def test_fixture_feed_is_rss_with_late_november_dates(site_server, case):
    server = site_server(case)  # also validates the case's _routes.json
    reply = fetch(server, "/feed.xml")
    assert reply.status == 200 and b"{{BASE_URL}}" not in reply.body
    parsed = feedparser.parse(reply.body)
    if case == "malformed-feed":
        assert parsed.bozo and parsed.entries == []
        return
    assert parsed.version.startswith("rss") or case == "truncated-feed"
    dated = [e for e in parsed.entries if e.get("published_parsed")]
    assert dated and all(dt.date(*e.published_parsed[:3]) in DEMO_DAYS for e in dated)
    assert parsed.bozo == (case in {"truncated-feed", "entity-bomb"})


def test_truncated_feed_keeps_the_complete_items(site_server):
    server = site_server("truncated-feed")
    body = fetch(server, "/feed.xml").body
    assert not body.rstrip().endswith(b"</rss>")
    links = [e.get("link") for e in feedparser.parse(body).entries]
    complete = [link for link in links if link]
    assert len(complete) == 3
    assert all(fetch(server, served_path(link, server)).status == 200 for link in complete)


def test_entity_bomb_declares_a_billion_laughs(site_server):
    body = fetch(site_server("entity-bomb"), "/feed.xml").text
    declared = dict(re.findall(r'<!ENTITY (lol\d?) "([^"]*)">', body))
    assert declared["lol"] == "lol" and all(declared[f"lol{n}"].count("&lol") == 10 for n in range(1, 10))
    assert "&lol9;" in body.split("]>", 1)[1]
    entries = feedparser.parse(body.encode()).entries
    assert len(entries) == 2 and "lollollol" not in json.dumps(entries, default=str)


def test_robots_fixtures(site_server):
    disallow = site_server("robots-disallow")
    robots = Protego.parse(fetch(disallow, "/robots.txt").text)
    links = [e.link for e in feedparser.parse(fetch(disallow, "/feed.xml").body).entries]
    allowed = {urlsplit(link).path: robots.can_fetch(link, "feedvault") for link in links}
    assert allowed == {
        "/articles/secret-plan.html": False,
        "/articles/secret-budget.html": False,
        "/articles/open-day.html": True,
    }
    assert all(fetch(disallow, path).status == 200 for path in allowed)  # only robots.txt protects them

    unavailable = site_server("robots-5xx")
    assert fetch(unavailable, "/robots.txt").status == 503
    assert fetch(unavailable, "/robots.txt").status == 503  # not a one-off


def test_entry_level_fixtures(site_server):
    def entries(case: str) -> tuple[SiteServer, list]:
        server = site_server(case)
        return server, feedparser.parse(fetch(server, "/feed.xml").body).entries

    _, dup = entries("duplicate-guids")
    assert [e.id for e in dup] == ["dup-guid-1", "dup-guid-1", "dup-guid-3", "dup-guid-4"]
    assert len({e.link for e in dup}) == 3 and dup[2].link == dup[3].link

    server, bad = entries("bad-links")
    schemes = sorted(urlsplit(e.link).scheme for e in bad)
    assert schemes == ["data", "http", "javascript"]
    good = next(e.link for e in bad if e.link.startswith("http"))
    assert fetch(server, served_path(good, server)).status == 200

    server, private = entries("private-address")
    hosts = sorted(urlsplit(e.link).netloc for e in private)
    assert hosts == sorted(["127.0.0.2:9", f"127.0.0.1:{server.port}"])


# -- the demo publisher -------------------------------------------------------------------------------------


def test_demo_rss_feed(demo_site):
    parsed = feedparser.parse(fetch(demo_site, "/id/rss.xml").body)
    assert not parsed.bozo and parsed.version == "rss20" and parsed.feed.language == "id"
    assert len(parsed.entries) == 6 and len({e.id for e in parsed.entries}) == 6
    for entry in parsed.entries:
        assert entry.author and entry.title and entry.id
        assert dt.datetime(*entry.published_parsed[:6], tzinfo=dt.UTC).date() in DEMO_DAYS
        page = fetch(demo_site, served_path(entry.link, demo_site))
        assert page.status == 200 and page.headers["Content-Type"].startswith("text/html")
        assert served_path(entry.link, demo_site) in ARTICLE_SENTINELS


def test_demo_atom_feed(demo_site):
    parsed = feedparser.parse(fetch(demo_site, "/en/atom.xml").body)
    assert not parsed.bozo and parsed.version == "atom10"
    assert len(parsed.entries) == 6 and len({e.id for e in parsed.entries}) == 6
    for entry in parsed.entries:
        assert entry.id.startswith("urn:uuid:") and entry.published_parsed and entry.updated_parsed
        assert dt.date(*entry.published_parsed[:3]) in DEMO_DAYS
        assert fetch(demo_site, served_path(entry.link, demo_site)).status == 200


def test_demo_news_sitemap_and_robots(demo_site):
    root = etree.fromstring(fetch(demo_site, "/news-sitemap.xml").body)
    urls = root.findall("sm:url", NS)
    assert len(urls) == 12
    languages = set()
    for url in urls:
        loc = url.findtext("sm:loc", namespaces=NS)
        news = url.find("news:news", NS)
        published = dt.datetime.fromisoformat(news.findtext("news:publication_date", namespaces=NS))
        assert published.tzinfo and published.astimezone(dt.UTC).date() in DEMO_DAYS
        assert news.findtext("news:title", namespaces=NS)
        languages.add(news.findtext("news:publication/news:language", namespaces=NS))
        assert served_path(loc, demo_site) in ARTICLE_SENTINELS
    assert languages == {"id", "en"}

    robots_txt = fetch(demo_site, "/robots.txt").text
    robots = Protego.parse(robots_txt)
    assert list(robots.sitemaps) == [demo_site.url("/news-sitemap.xml")]
    assert not robots.can_fetch(demo_site.url("/private/"), "feedvault")
    assert all(robots.can_fetch(demo_site.url(path), "feedvault") for path in ARTICLE_SENTINELS)


@pytest.mark.parametrize("article", DEMO_ARTICLES, ids=lambda a: a.slug)
def test_demo_article_page_layout(demo_site, article):
    page = fetch(demo_site, article.path)
    doc = html.fromstring(page.body)
    url = demo_site.url(article.path)
    assert doc.get("lang") == article.portal
    assert doc.xpath("//link[@rel='canonical']/@href") == [url]
    assert doc.xpath("//meta[@property='og:url']/@content") == [url]
    assert doc.xpath("//meta[@property='og:title']/@content") == [article.title]
    assert doc.xpath("//meta[@name='description']/@content") == [article.summary]
    published = dt.datetime.fromisoformat(doc.xpath("//meta[@property='article:published_time']/@content")[0])
    assert published == article.published and published.astimezone(dt.UTC).date() in DEMO_DAYS
    assert [h.text_content() for h in doc.xpath("//h1")] == [article.title]
    assert doc.xpath("//header//nav//a") and doc.xpath("//nav[@aria-label='breadcrumb']//a")
    assert doc.xpath("//section[@class='related']//a") and doc.xpath("//section[@id='comments']")
    assert doc.xpath("//footer") and doc.xpath("//div[@class='post__tags']/a")

    body = [p.text_content() for p in doc.xpath("//div[@class='post__body']/p")]
    prose = [p.text_content() for p in doc.xpath("//div[@class='post__body']/p[not(@class)]")]
    assert 4 <= len(prose) <= 8
    caption = doc.xpath("//figure/figcaption")[0].text_content()
    text = page.text
    if article.portal == "id":
        assert prose[0].startswith(f"{article.dateline} (KABAR) - ")
        assert caption.startswith("Arsip foto - ")
        assert sum(p.startswith("Baca juga: ") for p in body) == 2
        assert "Pewarta : " in text and "Editor: " in text and "COPYRIGHT © KABAR 2026" in text
        assert (f"Sumber: {article.source}" in body) == bool(article.source)
        assert "Dilarang keras mengambil konten, melakukan crawling atau pengindeksan otomatis untuk AI" in text
    else:
        assert prose[0].startswith(f"{article.dateline.upper()} — ")
        assert sum(p.startswith("Read more: ") for p in body) == 2
        assert f"By {article.author}" in text and f"Reporter: {article.author} / Editor: {article.editor}" in text
        assert "© 2026 Harbour Courier. All rights reserved." in text
        assert "No part of this article may be reproduced or used to train artificial intelligence" in text
    # Inline links point at other demo articles that exist.
    for href in doc.xpath("//p[@class='read-also']/a/@href"):
        assert served_path(href, demo_site) in ARTICLE_SENTINELS and served_path(href, demo_site) != article.path


def test_markers_and_sentinels_fit_the_demo_pages():
    files = demo_site_files()
    pages = {path: files[path] for path in ARTICLE_SENTINELS}
    assert len(pages) == 12 and {a.path for a in DEMO_ARTICLES} == set(pages)
    for marker in BOILERPLATE_MARKERS:
        assert any(marker in page for page in pages.values()), marker
    for article in DEMO_ARTICLES:
        assert any(article.sentinel in p for p in article.paragraphs[1:]), article.slug  # body, not the lead
        prose = " ".join(article.paragraphs)
        for marker in BOILERPLATE_MARKERS:
            assert marker not in prose and marker not in article.title, (article.slug, marker)
        doc = html.fromstring(pages[article.path])
        body = [p.text_content() for p in doc.xpath("//div[@class='post__body']/p[not(@class)]")]
        assert any(ARTICLE_SENTINELS[article.path] in p for p in body), article.slug
    assert len(set(ARTICLE_SENTINELS.values())) == 12


def test_committed_demo_site_is_up_to_date():
    generated = demo_site_files()
    committed = {"/" + p.relative_to(DEMO_SITE).as_posix() for p in DEMO_SITE.rglob("*") if p.is_file()} - {
        "/README.md"
    }
    assert committed == set(generated), "run: python -m feedvault.demo.synth demo"
    for path, text in generated.items():
        assert (DEMO_SITE / path.lstrip("/")).read_text(encoding="utf-8") == text, path


def test_bundled_registry_validates(monkeypatch):
    assert DEMO_REGISTRY == BUNDLED_REGISTRY
    monkeypatch.delenv("FEEDVAULT_DEMO_URL", raising=False)
    monkeypatch.delenv("FEEDVAULT_HOME", raising=False)
    registry = load_registry(BUNDLED_REGISTRY)
    assert [(f.id, f.kind.value, f.language) for f in registry.feeds] == [
        ("demo-id", "rss", "id"),
        ("demo-en", "atom", "en"),
        ("demo-news", "news-sitemap", None),
    ]
    assert registry.feed("demo-id").urls == ("http://127.0.0.1:8765/id/rss.xml",)
    storage = registry.settings.storage
    # data_dir is relative to the registry file: the checkout's .feedvault/, from whatever directory a command runs
    checkout = BUNDLED_REGISTRY.resolve().parents[2]
    assert (storage.uri, storage.embedded, storage.data_dir) == (
        "s3://feedvault/archive",
        True,
        str(checkout / ".feedvault"),
    )
    for feed in registry.feeds:
        assert feed.allow_private_network and feed.permission is not None
        assert feed.permission.basis is PermissionBasis.OWN_CONTENT and feed.permission.expires_on is None
        assert feed.permission.granted_on == dt.date(2026, 1, 1) and feed.permission.granted_by == "feedvault demo"
        assert feed.permission.status(dt.date(2026, 11, 26)) == "valid"
        assert (Path(__file__).parents[1] / feed.permission.reference).is_file()

    monkeypatch.setenv("FEEDVAULT_DEMO_URL", "http://127.0.0.1:41234")
    monkeypatch.setenv("FEEDVAULT_HOME", "/tmp/fv-home")
    moved = load_registry(BUNDLED_REGISTRY)
    assert moved.feed("demo-en").urls == ("http://127.0.0.1:41234/en/atom.xml",)
    assert moved.settings.storage.data_dir == "/tmp/fv-home"


def test_demo_registry_urls_match_the_served_feeds(demo_site, monkeypatch):
    monkeypatch.setenv("FEEDVAULT_DEMO_URL", demo_site.base_url)
    for feed in load_registry(BUNDLED_REGISTRY).feeds:
        (url,) = feed.urls
        assert fetch(demo_site, served_path(url, demo_site)).status == 200, feed.id


# -- the synthetic bench site -------------------------------------------------------------------------------


def test_synthetic_site(tmp_path, site_server, monkeypatch):
    info = synthetic_site(tmp_path, 30)
    assert info.n_articles == 30 and len(set(info.article_paths)) == 30
    sizes = [(info.root / path.lstrip("/")).stat().st_size for path in info.article_paths]
    assert all(40_000 <= size <= 90_000 for size in sizes), (min(sizes), max(sizes))
    assert {path.split("/")[1] for path in info.article_paths} == {"id", "en"}

    server = site_server(info.root)
    parsed = feedparser.parse(fetch(server, info.feed_path).body)
    assert not parsed.bozo and len(parsed.entries) == 30
    assert {served_path(e.link, server) for e in parsed.entries} == set(info.article_paths)
    sitemap = etree.fromstring(fetch(server, info.sitemap_path).body)
    assert len(sitemap.findall("sm:url/sm:loc", NS)) == 30
    page = fetch(server, info.article_paths[0])
    assert page.status == 200 and b"{{BASE_URL}}" not in page.body
    doc = html.fromstring(page.body)
    assert doc.get("lang") == "id" and doc.xpath("//h1") and "Arsip foto - " in page.text
    assert 4 <= len(doc.xpath("//div[@class='post__body']/p[not(@class)]")) <= 8
    assert "Disallow: /private/" in fetch(server, "/robots.txt").text

    monkeypatch.setenv("FEEDVAULT_BENCH_URL", server.base_url)
    registry = load_registry(info.registry)
    (feed,) = registry.feeds
    assert feed.urls == (server.url(info.feed_path),) and feed.allow_private_network
    assert feed.permission is not None and feed.permission.basis is PermissionBasis.OWN_CONTENT
    politeness = feed.effective_politeness(registry.settings.politeness)
    assert politeness.download_delay == 0 and not politeness.autothrottle and politeness.concurrency_per_domain == 16


def test_synthetic_site_is_deterministic_per_seed(tmp_path):
    def snapshot(info) -> dict[str, bytes]:
        return {p.relative_to(info.root).as_posix(): p.read_bytes() for p in info.root.rglob("*") if p.is_file()}

    first = synthetic_site(tmp_path / "a", 12, seed=7)
    second = synthetic_site(tmp_path / "b", 12, seed=7)
    other = synthetic_site(tmp_path / "c", 12, seed=8)
    assert snapshot(first) == snapshot(second)
    assert first.registry.read_text() == second.registry.read_text()
    different = snapshot(other)
    assert set(different) != set(snapshot(first))  # slugs come from the seeded titles
    pages = snapshot(first)
    texts = [
        html.fromstring(pages[p.lstrip("/")]).xpath("string(//div[@class='post__body'])") for p in first.article_paths
    ]
    assert len(set(texts)) == len(texts) == 12  # varied


def test_synthetic_site_dates_and_speed(tmp_path):
    published = dt.datetime(2026, 11, 26, 6, 0, tzinfo=dt.UTC)
    started = time.monotonic()
    info = synthetic_site(tmp_path, 300, published=published)
    assert time.monotonic() - started < 10  # ~0.3 s here; 2,000 pages take about 2 s
    entries = feedparser.parse((info.root / "rss.xml").read_bytes()).entries
    stamps = [dt.datetime(*e.published_parsed[:6], tzinfo=dt.UTC) for e in entries]
    assert max(stamps) == published and min(stamps) > published - dt.timedelta(days=2)
    with pytest.raises(ValueError):
        synthetic_site(tmp_path / "naive", 3, published=dt.datetime(2026, 11, 26))


def test_route_headers_override_case_insensitively(tmp_path):
    routes = {"/a.html": {"headers": {"content-type": "text/plain; charset=iso-8859-1", "X-Fixture": "yes"}}}
    root = make_site(tmp_path, {"a.html": "<p>a</p>"}, routes=routes)
    with SiteServer(root) as server:
        reply = fetch(server, "/a.html")
    assert reply.headers.get_all("Content-Type") == ["text/plain; charset=iso-8859-1"]
    assert reply.headers["X-Fixture"] == "yes" and reply.body == b"<p>a</p>" and reply.headers["ETag"]
