"""The archive browser in real headless Chromium (Debian's ``chromium``, driven by Playwright's Python package).

One test clicks through feeds → day → article → raw → source → history → diff → search on the archived demo
publisher; another archives a hostile page (``tests/fixtures/sites/hostile-page``) whose scripts try to set a
cookie, rename and navigate the parent page and call a beacon, and proves none of that happens in the raw view.
The helpers (:func:`serve_app`, :func:`chromium`) are shared with ``docs/screenshots/take_screenshots.py``.
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import uvicorn
from fastapi import FastAPI

from feedvault.catalog import Catalog, open_catalog
from feedvault.demo.server import SiteServer
from feedvault.store.backends import S3Store
from feedvault.store.seaweed import EmbeddedS3
from feedvault.web.app import create_app
from feedvault.web.pages import RAW_CSP
from tests.support.archive import CHANGED_SENTENCE, ArchivedDemo
from tests.support.crawl import feed, run_crawl, write_registry
from tests.support.s3 import fresh_archive
from tests.support.sites import FIXTURE_SITES

playwright_api = pytest.importorskip("playwright.sync_api")

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
TIMEOUT_MS = 15_000

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs Debian's chromium (apt-get install -y chromium)"),
]


# -- helpers (also used by docs/screenshots/take_screenshots.py) ---------------------------------------------
@contextlib.contextmanager
def serve_app(app: FastAPI) -> Iterator[str]:
    """Serve ``app`` with uvicorn on a free 127.0.0.1 port in a thread; yields its base URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=15)
        sock.close()


@contextlib.contextmanager
def chromium() -> Iterator[playwright_api.Browser]:
    """Headless Debian Chromium under Playwright (never Playwright's own browser download)."""
    with playwright_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[playwright_api.Browser]:
    with chromium() as launched:
        yield launched


@pytest.fixture
def page(browser: playwright_api.Browser) -> Iterator[playwright_api.Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(TIMEOUT_MS)
    yield context.new_page()
    context.close()


# -- click-through on the archived demo publisher ------------------------------------------------------------
@pytest.fixture(scope="module")
def demo_url(archived_demo: ArchivedDemo) -> Iterator[str]:
    with serve_app(create_app(archived_demo.store, archived_demo.catalog)) as base_url:
        yield base_url


def test_click_through_feeds_day_article_raw_history_diff_search(
    page: playwright_api.Page, demo_url: str, archived_demo: ArchivedDemo
) -> None:
    expect = playwright_api.expect
    page.goto(demo_url + "/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Archived feeds")
    expect(page.locator("table")).to_contain_text("valid")

    # feeds -> a feed's days -> the day of the second run -> the changed article
    page.get_by_role("link", name="demo-id", exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("demo-id")
    day = archived_demo.catalog.history(archived_demo.changed_url)[-1].day
    page.get_by_role("link", name=day, exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(f"demo-id on {day}")
    page.locator("table a[href*='/snapshots/']").first.click()
    expect(page.locator("article.clean")).to_contain_text(CHANGED_SENTENCE)
    expect(page.locator("aside")).to_contain_text(".warc.gz")  # provenance
    article_url = page.url

    # -> the raw capture, rendered in the sandboxed frame
    page.get_by_role("link", name="Raw capture").click()
    frame = page.frame_locator("iframe.capture")
    expect(frame.locator("body")).to_contain_text(CHANGED_SENTENCE)
    assert page.locator("iframe.capture").get_attribute("sandbox") == ""

    # -> view source: escaped HTML and the HTTP headers
    page.get_by_role("link", name="View source").click()
    expect(page.locator("pre.source")).to_contain_text("<html")
    expect(page.locator("table.headers").first).to_contain_text("Content-Type")

    # -> history: pick the two demo-id snapshots as A and B -> diff
    page.goto(article_url)
    page.get_by_role("link", name="History (").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Snapshot history")
    first, second = (s for s in archived_demo.catalog.history(archived_demo.changed_url) if s.feed == "demo-id")
    page.locator(f"input[name=a][value='{first.id}']").check()
    page.locator(f"input[name=b][value='{second.id}']").check()
    page.get_by_role("button", name="Compare A and B").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("What changed")
    assert f"a={first.id}" in page.url and f"b={second.id}" in page.url
    expect(page.locator("table.diff ins").first).to_be_visible()
    assert "koreksi" in " ".join(page.locator("table.diff ins").all_inner_texts())
    assert page.locator("table.diff del").count() > 0

    # -> search from the header box, then narrow with the feed filter
    word = "koreksi"
    page.get_by_role("searchbox", name="Search the archive").fill(word)
    page.get_by_role("button", name="Search").first.click()
    expect(page.locator("ol.results mark").first).to_have_text(word, ignore_case=True)
    page.locator("select[name=feed]").select_option("demo-en")
    page.locator("form.filters input[type=submit]").click()
    expect(page.locator(".subtitle")).to_contain_text("0 results")
    page.locator("select[name=feed]").select_option("demo-id")
    page.locator("form.filters input[type=submit]").click()
    expect(page.locator("ol.results li")).to_have_count(1)
    page.locator("ol.results .title a").click()
    expect(page.locator("article.clean")).to_contain_text(CHANGED_SENTENCE)


# -- a hostile archived page ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class HostileArchive:
    store: S3Store
    catalog: Catalog
    site: SiteServer  # still serving: its request log shows any beacon call
    article_url: str


@pytest.fixture(scope="module")
def hostile_archive(seaweed: EmbeddedS3, tmp_path_factory: pytest.TempPathFactory) -> Iterator[HostileArchive]:
    """The hostile-page fixture site crawled into a fresh bucket, with its catalog."""
    root = tmp_path_factory.mktemp("hostile")
    storage, store = fresh_archive(seaweed, data_dir=root / "data")
    with SiteServer(FIXTURE_SITES / "hostile-page") as site:
        registry = write_registry(root / "feeds.yaml", storage, [feed("hostile", site.url("/feed.xml"))])
        summary = run_crawl(registry, seaweed.credentials)
        assert summary["totals"]["new"] == 1, summary["feeds"]
        assert not [r for r in site.requests if "/beacon/" in r.path]  # the crawler fetched no subresources
        with open_catalog(store, root / "catalog") as catalog:
            yield HostileArchive(store, catalog, site, site.url("/articles/festival.html"))


def beacon_requests(site: SiteServer) -> list[str]:
    return [r.path for r in site.requests if "/beacon/" in r.path]


def test_scripts_in_an_archived_page_never_run(
    browser: playwright_api.Browser, hostile_archive: HostileArchive
) -> None:
    expect = playwright_api.expect
    (snap,) = hostile_archive.catalog.history(hostile_archive.article_url)
    context = browser.new_context()
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    with serve_app(create_app(hostile_archive.store, hostile_archive.catalog)) as base_url:
        raw_url = f"{base_url}/snapshots/{snap.id}/raw"
        with page.expect_response(lambda r: r.url.endswith("/capture")) as captured:
            page.goto(raw_url)
        capture = captured.value
        assert capture.status == 200
        assert capture.headers["content-security-policy"] == RAW_CSP
        assert capture.headers["x-content-type-options"] == "nosniff"

        title = page.title()
        assert title == "Raw capture · Harbour festival returns · feedvault"
        frame = page.frame_locator("iframe.capture")
        expect(frame.locator("h1")).to_have_text("Harbour festival returns")  # the capture did render
        page.wait_for_timeout(1500)  # time for any script, timer or load handler to have run

        assert page.title() == title
        assert page.url == raw_url  # no top-level navigation
        assert context.cookies() == []
        assert frame.locator("body").get_attribute("data-pwned") is None
        assert beacon_requests(hostile_archive.site) == []

        # The feed entry's title, <script> and all, is shown as text on the article page.
        page.goto(f"{base_url}/snapshots/{snap.id}")
        expect(page.locator("aside")).to_contain_text('Harbour <script>alert("feed title")</script> festival returns')
        assert page.title() == "Harbour festival returns · feedvault"

        # Opened directly (not framed), the capture is still sandboxed by its CSP header.
        page.goto(capture.url)
        expect(page.locator("h1")).to_have_text("Harbour festival returns")
        page.wait_for_timeout(1000)
        assert page.url == capture.url
        assert context.cookies() == []
        assert page.locator("body").get_attribute("data-pwned") is None
        assert beacon_requests(hostile_archive.site) == []
    context.close()

    # Control: served by its own site, the same page's scripts do run, so the checks above can fail.
    control = browser.new_context()
    control_page = control.new_page()
    with control_page.expect_request(lambda r: "/beacon/" in r.url, timeout=TIMEOUT_MS):
        control_page.goto(hostile_archive.article_url)
    assert any(c["name"] == "hostile" for c in control.cookies())
    assert beacon_requests(hostile_archive.site)
    control.close()


# -- API docs ------------------------------------------------------------------------------------------------
def test_api_docs_render_offline_under_their_csp(page: playwright_api.Page, demo_url: str) -> None:
    """Swagger UI at /docs renders from the app's own assets: nothing is fetched elsewhere, no CSP violation."""
    expect = playwright_api.expect
    elsewhere: list[str] = []
    problems: list[str] = []
    page.route(
        lambda url: not url.startswith(demo_url + "/"),
        lambda route: (elsewhere.append(route.request.url), route.abort()),
    )
    page.on("console", lambda message: problems.append(message.text) if message.type == "error" else None)
    page.goto(demo_url + "/docs")
    expect(page.locator(".swagger-ui .title")).to_contain_text("feedvault archive")
    expect(page.locator(".opblock-summary-path").first).to_be_visible()
    assert page.locator(".opblock").count() >= 14
    assert elsewhere == [] and problems == [], (elsewhere, problems)


def test_diff_page_fits_a_phone_screen(
    browser: playwright_api.Browser, demo_url: str, archived_demo: ArchivedDemo, tmp_path: Path
) -> None:
    """On a 390 px wide phone the diff page needs no sideways scrolling: long lines wrap, both sides stay readable."""
    first, second = (s for s in archived_demo.catalog.history(archived_demo.changed_url) if s.feed == "demo-id")
    context = browser.new_context(viewport={"width": 390, "height": 844}, device_scale_factor=2, is_mobile=True)
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    try:
        page.goto(f"{demo_url}/diff?a={first.id}&b={second.id}")
        playwright_api.expect(page.get_by_role("heading", level=1)).to_have_text("What changed")
        playwright_api.expect(page.locator("table.diff ins").first).to_be_visible()
        widths = page.evaluate(
            "() => [document.documentElement.scrollWidth, document.documentElement.clientWidth,"
            " Math.max(...[...document.querySelectorAll('body *')].map(e => e.getBoundingClientRect().right))]"
        )
        page.screenshot(path=str(tmp_path / "diff-390.png"), full_page=True)
        widest = page.evaluate(
            "() => [...document.querySelectorAll('body *')].filter(e => e.getBoundingClientRect().right > 391)"
            ".slice(0, 5).map(e => e.tagName + '.' + e.className + ' ' + Math.round(e.getBoundingClientRect().right))"
        )
    finally:
        context.close()
    scroll_width, client_width, rightmost = widths
    assert client_width == 390 and scroll_width <= client_width, (widths, widest)  # no horizontal scroll
    assert rightmost <= client_width + 1, widths  # nothing drawn past the right edge
