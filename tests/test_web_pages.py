"""The server-rendered pages (feedvault.web.pages) over the archived demo publisher, with FastAPI's TestClient.

Every page renders; links follow from page to page; pagination, friendly 404/400 pages, escaping of archived
text, the raw capture's sandbox headers, and links under a root path or mount prefix.
"""

from __future__ import annotations

import html
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import yaml
from fastapi import FastAPI
from fastapi.testclient import TestClient
from markupsafe import escape

from feedvault.catalog import Catalog, snapshot_id
from feedvault.store.backends import FileStore
from feedvault.web import airflow_plugin
from feedvault.web.app import create_app
from feedvault.web.pages import RAW_CSP
from tests.support.archive import CHANGED_SENTENCE, ArchivedDemo
from tests.support.crawl import REPO

HREF = re.compile(r'href="([^"]+)"')
TOKEN = "plugin-test-token"
HOSTILE_TITLE = '<script>alert("title")</script> Harbour & "quay" news'


@pytest.fixture(scope="module")
def client(archived_demo: ArchivedDemo) -> Iterator[TestClient]:
    with TestClient(create_app(archived_demo.store, archived_demo.catalog)) as test_client:
        yield test_client


def links(page: str, pattern: str = "") -> list[str]:
    """Every href of a page (unescaped) containing ``pattern``."""
    return [html.unescape(h) for h in HREF.findall(page) if pattern in html.unescape(h)]


def get_ok(client: TestClient, url: str) -> str:
    response = client.get(url)
    assert response.status_code == 200, (url, response.status_code, response.text[:2000])
    assert response.headers["content-type"].startswith("text/html")
    return response.text


def article_id(demo: ArchivedDemo, url: str, newest: bool = True) -> str:
    history = demo.catalog.history(url)
    return history[-1 if newest else 0].id


# -- click-through -------------------------------------------------------------------------------------------
def test_feeds_overview_lists_feeds_with_last_run_counts_and_permission(
    client: TestClient, archived_demo: ArchivedDemo
) -> None:
    page = get_ok(client, "/")
    for feed in ("demo-en", "demo-id", "demo-news"):
        assert f'href="/feeds/{feed}"' in page
    assert "valid" in page and "own-content" in page  # permission status and basis
    assert archived_demo.run_ids[1] in page  # the last run
    assert "Page 1 of 1" in page
    assert 'href="/static/feedvault.css"' in page
    css = client.get("/static/feedvault.css")
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")


def test_feed_day_article_click_through(client: TestClient, archived_demo: ArchivedDemo) -> None:
    days_page = get_ok(client, "/feeds/demo-en")
    day_links = links(days_page, "/feeds/demo-en/20")
    assert day_links, days_page
    assert links(days_page, "/api/v1/feeds/demo-en/days/")  # JSONL download per day
    day_page = get_ok(client, day_links[-1])
    article_links = links(day_page, "/snapshots/")
    assert article_links
    article = get_ok(client, article_links[0])
    url = html.unescape(re.search(r'<a href="([^"]+)" rel="noopener noreferrer nofollow"', article).group(1))
    assert archived_demo.sentinels[url] in html.unescape(article)


def test_article_shows_text_metadata_permission_provenance_and_downloads(
    client: TestClient, archived_demo: ArchivedDemo
) -> None:
    url = next(u for u in archived_demo.sentinels if "/en/" in u)
    snap = archived_demo.catalog.snapshot(article_id(archived_demo, url))
    assert snap is not None
    page = html.unescape(get_ok(client, f"/snapshots/{snap.id}"))
    assert archived_demo.sentinels[url] in page
    for expected in (snap.raw["warc_key"], str(snap.raw["offset"]), snap.raw["sha256"], snap.clean_key, "own-content"):
        assert expected in page
    downloads = {h.rsplit("/", 1)[-1]: h for h in links(page, "/api/v1/")}
    assert set(downloads) >= {"clean.json", "record.warc.gz", "export.jsonl"}
    assert client.get(downloads["clean.json"]).json()["url"] == url
    assert client.get(downloads["record.warc.gz"]).content[:2] == b"\x1f\x8b"
    jsonl = client.get(downloads["export.jsonl"]).text.splitlines()
    assert any(f'"url":"{url}"' in line for line in jsonl)


def test_raw_view_frames_the_capture_in_a_sandbox(client: TestClient, archived_demo: ArchivedDemo) -> None:
    url = next(iter(archived_demo.sentinels))
    sid = article_id(archived_demo, url)
    page = get_ok(client, f"/snapshots/{sid}/raw")
    frame = re.search(r"<iframe[^>]*>", page).group(0)
    assert re.search(r"\ssandbox[\s>]", frame) and "allow-" not in frame
    assert f'src="/snapshots/{sid}/capture"' in frame
    assert "Content-Type" in page or "content-type" in page.lower()  # the HTTP headers
    assert "WARC-Target-URI" in page

    capture = client.get(f"/snapshots/{sid}/capture")
    assert capture.status_code == 200
    assert capture.headers["content-security-policy"] == RAW_CSP
    assert capture.headers["x-content-type-options"] == "nosniff"
    assert capture.headers["content-type"].startswith("text/html")
    assert archived_demo.sentinels[url].encode() in capture.content or b"<html" in capture.content.lower()


def test_view_source_shows_escaped_html_and_headers(client: TestClient, archived_demo: ArchivedDemo) -> None:
    sid = article_id(archived_demo, next(iter(archived_demo.sentinels)))
    page = get_ok(client, f"/snapshots/{sid}/raw?view=source")
    assert "<iframe" not in page
    source = re.search(r'<pre class="source"><code>(.*?)</code></pre>', page, re.S).group(1)
    assert "&lt;html" in source.lower() and "<html" not in source.lower()
    assert "HTTP response headers" in page


def test_history_and_diff_of_the_changed_article(client: TestClient, archived_demo: ArchivedDemo) -> None:
    url = archived_demo.changed_url  # archived by two feeds (demo-id, demo-news), changed in run 2
    snapshots = archived_demo.catalog.history(url)
    first, second = (s.id for s in snapshots if s.feed == "demo-id")
    article = get_ok(client, f"/snapshots/{second}")
    history_link = next(h for h in links(article, "/history?"))
    assert parse_qs(urlsplit(history_link).query)["url"] == [url]
    (previous,) = (parse_qs(urlsplit(h).query)["a"][0] for h in links(article, "/diff?"))
    assert previous in {s.id for s in snapshots[:2]}  # the latest snapshot with the old payload

    history = get_ok(client, history_link)
    assert f"{len(snapshots)} snapshots" in history
    for snap in snapshots:
        assert f'name="a" value="{snap.id}"' in history and f'name="b" value="{snap.id}"' in history
    checked = dict(re.findall(r'name="(a|b)" value="(\w+)"[^>]*checked', history))
    assert checked == {"a": snapshots[1].id, "b": snapshots[-1].id}  # newest vs the newest different version

    diff = get_ok(client, f"/diff?a={first}&b={second}")
    deleted = "".join(re.findall(r"<del>(.*?)</del>", diff))
    inserted = "".join(re.findall(r"<ins>(.*?)</ins>", diff))
    assert "koreksi" in html.unescape(inserted)
    assert set(CHANGED_SENTENCE.split()) - set(html.unescape(deleted).split())
    assert "line removed" in diff or "lines removed" in diff
    same = get_ok(client, f"/diff?a={second}&b={second}")
    assert "identical" in same


def test_search_highlights_and_filters(client: TestClient, archived_demo: ArchivedDemo) -> None:
    assert "<form" in get_ok(client, "/search")  # no query: just the form
    url = next(u for u in archived_demo.sentinels if "/en/" in u)
    word = max(re.findall(r"\w+", archived_demo.sentinels[url]), key=len)
    page = get_ok(client, f"/search?q={word}")
    assert re.search(rf"<mark>{re.escape(word)}</mark>", page, re.I)
    assert "result" in page

    assert "0 results" in get_ok(client, f"/search?q={word}&feed=demo-id")
    assert "0 results" in get_ok(client, f"/search?q={word}&lang=id")
    assert "0 results" in get_ok(client, f"/search?q={word}&language=id")  # the old name still works
    day = archived_demo.catalog.history(url)[0].day
    assert "<mark>" in get_ok(client, f"/search?q={word}&from={day}&to={day}&feed=demo-en&lang=en")
    assert "0 results" in get_ok(client, f"/search?q={word}&from=2001-01-01&to=2001-01-02")
    assert "<mark>" in get_ok(client, f"/search?q={word}&from=&to=&feed=&lang=")  # empty form fields


def test_a_search_counted_to_its_limit_says_so_and_pages_on(
    client: TestClient, archived_demo: ArchivedDemo, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past SEARCH_COUNT_LIMIT the total is a lower bound ("1+ results", "Page 1 of 1+"), and Next still leads on."""
    from feedvault.catalog import results

    monkeypatch.setattr(results, "SEARCH_COUNT_LIMIT", 1)
    word = "festival"
    assert archived_demo.catalog.search(word).total > 2
    page = get_ok(client, f"/search?q={word}&per_page=1")
    assert "1+ results" in page and "Page 1 of 1+" in page and links(page, "page=2")
    assert "results for" in get_ok(client, f"/search?q={word}&per_page=1&page=2")


def test_runs_and_one_run(client: TestClient, archived_demo: ArchivedDemo) -> None:
    page = get_ok(client, "/runs")
    first, second = archived_demo.run_ids
    assert page.index(second) < page.index(first)  # newest first
    run = get_ok(client, f"/runs/{first}")
    assert "demo-en" in run and "demo-id" in run and "config_hash" in run


def test_tombstones_page_empty(client: TestClient) -> None:
    assert "No tombstones yet" in get_ok(client, "/tombstones")


# -- pagination ----------------------------------------------------------------------------------------------
def test_pagination_prev_next_and_page_n_of_m(client: TestClient, archived_demo: ArchivedDemo) -> None:
    page1 = get_ok(client, "/runs?per_page=1")
    assert "Page 1 of 2" in page1
    assert links(page1, "page=2") == ["?per_page=1&page=2"]
    page2 = get_ok(client, "/runs?per_page=1&page=2")
    assert "Page 2 of 2" in page2 and "?per_page=1&page=1" in links(page2)
    assert archived_demo.run_ids[0] in page2 and archived_demo.run_ids[1] not in page2

    word = "the"
    hits = get_ok(client, f"/search?q={word}&feed=demo-en&per_page=1")
    assert "Page 1 of " in hits
    assert f"?q={word}&feed=demo-en&per_page=1&page=2" in links(hits)

    beyond = get_ok(client, "/runs?page=50")
    assert "There is no page 50" in beyond and "?page=1" in links(beyond)


# -- errors --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "url",
    [
        "/snapshots/0123456789abcdef",
        "/snapshots/not-an-id",
        "/snapshots/0123456789abcdef/raw",
        "/snapshots/0123456789abcdef/capture",
        "/feeds/no-such-feed",
        "/feeds/demo-en/2001-01-01",
        "/history?url=https://example.invalid/nothing",
        "/diff?a=0123456789abcdef&b=fedcba9876543210",
        "/runs/20010101T000000Z",
        "/runs/not-a-run",
        "/static/.hidden.css",
        "/static/missing.css",
        "/static/" + "a" * 5000 + ".css",  # longer than a file name may be: still a 404, not an OSError's 500
        "/static/%2e%2e%2fapp.py",
        "/no-such-page",
        "/feeds/demo-en/2026-11-26/extra/segments",
    ],
)
def test_unknown_things_are_friendly_404_pages(client: TestClient, url: str) -> None:
    response = client.get(url)
    assert response.status_code == 404, response.text[:500]
    assert response.headers["content-type"].startswith("text/html")
    assert "Not found" in response.text and 'href="/"' in response.text


def test_unknown_api_paths_stay_json_and_other_errors_keep_their_status(client: TestClient) -> None:
    response = client.get("/api/v1/no-such-endpoint")
    assert response.status_code == 404 and response.json() == {"detail": "Not Found"}
    response = client.post("/runs")  # a page route, wrong method: an HTML page, the status and Allow kept
    assert response.status_code == 405 and response.headers["content-type"].startswith("text/html")
    assert "Method not allowed" in response.text and response.headers["allow"] == "GET"


@pytest.mark.parametrize(
    "url",
    [
        "/runs?page=0",
        "/runs?page=abc",
        "/runs?page=99999999",
        "/runs?per_page=1000",
        "/feeds/demo-en/2026-02-30",
        "/feeds/demo-en/yesterday",
        "/search?q=harbour&from=26-11-2026",
        "/search?q=harbour&from=2026-11-27&to=2026-11-01",
        "/search?q=" + "x" * 300,
        "/search?q=%22%22",
        "/snapshots/0123456789abcdef/raw?view=javascript",
        "/history",
        "/diff?a=0123456789abcdef",
    ],
)
def test_bad_parameters_are_friendly_400_pages(client: TestClient, url: str) -> None:
    response = client.get(url)
    assert response.status_code == 400, response.text[:500]
    assert response.headers["content-type"].startswith("text/html")
    assert "Bad request" in response.text


# -- escaping ------------------------------------------------------------------------------------------------
@pytest.fixture
def hostile_client(tmp_path: Path) -> Iterator[TestClient]:
    """An app over a catalog holding one snapshot whose title and text carry markup, and one tombstone."""
    catalog = Catalog(tmp_path / "catalog.sqlite")
    record = {
        "url": "https://news.example/hostile",
        "feed": "hostile",
        "run_id": "20261125T020000Z",
        "fetched_at": "2026-11-25T02:00:00+00:00",
        "text": 'Harbour news <img src=x onerror="alert(1)"> & more quay news\nSecond <b>paragraph</b>',
        "metadata": {"title": HOSTILE_TITLE, "language": "en", "word_count": 9},
        "entry": {"title": HOSTILE_TITLE},
        "permission": {"decision": "archive", "basis": "<i>own-content</i>"},
        "raw": {},
    }
    catalog.insert_records([("clean/hostile/2026/11/25/20261125T020000Z/x.json", record)])
    catalog.add_tombstone(
        {
            "url": "https://news.example/<script>gone",
            "feed": "hostile",
            "reason": "<b>request</b>",
            "date": "2026-11-26",
        }
    )
    with TestClient(create_app(FileStore(tmp_path / "store"), catalog)) as test_client:
        yield test_client
    catalog.close()


def test_archived_markup_is_escaped_everywhere(hostile_client: TestClient) -> None:
    sid = snapshot_id("clean/hostile/2026/11/25/20261125T020000Z/x.json")
    for url in (f"/snapshots/{sid}", "/search?q=harbour", "/search?q=onerror", "/tombstones"):
        page = get_ok(hostile_client, url)
        assert "<script>" not in page and "<img src=x" not in page and "<b>" not in page and "<i>" not in page, url
    article = get_ok(hostile_client, f"/snapshots/{sid}")
    assert str(escape(HOSTILE_TITLE)) in article
    assert "&lt;img src=x onerror=" in article
    assert "<mark>quay</mark>" in get_ok(hostile_client, "/search?q=quay")
    search = get_ok(hostile_client, "/search?q=onerror")
    assert "<mark>onerror</mark>" in search and "&lt;img src=x" in search
    tombstones = get_ok(hostile_client, "/tombstones")
    assert "&lt;script&gt;gone" in tombstones and "&lt;b&gt;request&lt;/b&gt;" in tombstones
    # no raw capture recorded: no raw links, and the raw view is a 404
    assert f"/snapshots/{sid}/raw" not in article
    assert hostile_client.get(f"/snapshots/{sid}/raw").status_code == 404


# -- root path and mounting ----------------------------------------------------------------------------------
def assert_links_under(page: str, prefix: str) -> None:
    local = [h for h in links(page) if h.startswith("/")]
    assert local, page[:500]
    assert all(h.startswith(prefix + "/") for h in local), [h for h in local if not h.startswith(prefix + "/")]


def test_links_respect_root_path(archived_demo: ArchivedDemo) -> None:
    app = create_app(archived_demo.store, archived_demo.catalog, root_path="/feedvault")
    with TestClient(app) as prefixed:
        sid = article_id(archived_demo, archived_demo.changed_url)
        for url in ("/feedvault/", f"/feedvault/snapshots/{sid}", f"/feedvault/snapshots/{sid}/raw"):
            assert_links_under(get_ok(prefixed, url), "/feedvault")


def test_links_respect_a_mount_prefix(archived_demo: ArchivedDemo) -> None:
    host = FastAPI()
    host.mount("/feedvault", create_app(archived_demo.store, archived_demo.catalog))
    with TestClient(host) as mounted:
        sid = article_id(archived_demo, archived_demo.changed_url)
        for url in ("/feedvault/", f"/feedvault/snapshots/{sid}", "/feedvault/runs"):
            assert_links_under(get_ok(mounted, url), "/feedvault")
        raw = get_ok(mounted, f"/feedvault/snapshots/{sid}/raw")
        assert f'src="/feedvault/snapshots/{sid}/capture"' in raw
        assert mounted.get(f"/feedvault/snapshots/{sid}/capture").headers["content-security-policy"] == RAW_CSP


def test_token_cookie_lets_the_frame_load_the_capture(archived_demo: ArchivedDemo) -> None:
    app = create_app(archived_demo.store, archived_demo.catalog, auth_token="s3cret-token")
    with TestClient(app) as guarded:
        sid = article_id(archived_demo, archived_demo.changed_url)
        assert guarded.get("/").status_code == 401
        assert guarded.get(f"/snapshots/{sid}/capture").status_code == 401
        assert guarded.get("/?token=s3cret-token").status_code == 200  # sets the HttpOnly cookie
        assert guarded.get(f"/snapshots/{sid}/capture").status_code == 200


# -- the Airflow plugin --------------------------------------------------------------------------------------
@pytest.fixture
def plugin_env(archived_demo: ArchivedDemo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The API server's environment for the plugin: token, registry, S3 credentials, catalog directory."""
    env = {
        airflow_plugin.TOKEN_ENV: TOKEN,
        "FEEDVAULT_REGISTRY": str(archived_demo.registry),
        airflow_plugin.CATALOG_DIR_ENV: str(tmp_path / "catalog"),
        **archived_demo.credentials.env(),
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return env


def test_plugin_exposes_the_app_at_its_prefix_without_building_it() -> None:
    plugin = airflow_plugin.FeedvaultBrowsePlugin
    assert issubclass(plugin, airflow_plugin.AirflowPlugin) and plugin.name == "feedvault_browse"
    (entry,) = plugin.fastapi_apps
    assert entry["url_prefix"] == "/feedvault" and entry["name"] == "feedvault archive"
    assert isinstance(entry["app"], airflow_plugin.LazyApp)
    assert entry["app"].app is None  # importing opened nothing
    loader = (REPO / "infra/plugins/feedvault_browse.py").read_text()
    assert "from feedvault.web.airflow_plugin import FeedvaultBrowsePlugin" in loader


def test_plugin_refuses_to_build_without_a_token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(airflow_plugin.TOKEN_ENV, raising=False)
    with pytest.raises(airflow_plugin.BrowseConfigError, match="FEEDVAULT_BROWSE_TOKEN"):
        airflow_plugin.build_app()
    host = FastAPI()
    host.mount("/feedvault", airflow_plugin.LazyApp())
    with TestClient(host) as client:
        response = client.get("/feedvault/")
    assert response.status_code == 503 and "FEEDVAULT_BROWSE_TOKEN" in response.text


def test_plugin_reaches_the_archive_through_the_crawl_tasks_s3_connection(
    archived_demo: ArchivedDemo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Credentials kept in the ``feedvault_s3`` connection, as the crawl tasks use them: the API server needs
    no AWS environment of its own (here the registry even names a dead endpoint)."""
    registry = yaml.safe_load(archived_demo.registry.read_text())
    registry["settings"]["storage"]["endpoint_url"] = "http://127.0.0.1:9"
    dead = tmp_path / "feeds.yaml"
    dead.write_text(yaml.safe_dump(registry))
    connection = {
        "conn_type": "aws",
        "login": archived_demo.credentials.access_key_id,
        "password": archived_demo.credentials.secret_access_key,
        "extra": {"endpoint_url": archived_demo.store.client.meta.endpoint_url},
    }
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv(airflow_plugin.TOKEN_ENV, TOKEN)
    monkeypatch.setenv("FEEDVAULT_REGISTRY", str(dead))
    monkeypatch.setenv(airflow_plugin.CATALOG_DIR_ENV, str(tmp_path / "catalog"))
    monkeypatch.setenv("AIRFLOW_CONN_FEEDVAULT_S3", json.dumps(connection))

    host = FastAPI()
    host.mount("/feedvault", airflow_plugin.LazyApp())
    with TestClient(host) as client:
        assert "demo-en" in get_ok(client, f"/feedvault/?token={TOKEN}")


def test_plugin_app_serves_the_registry_archive_behind_its_token(plugin_env: dict[str, str]) -> None:
    lazy = airflow_plugin.LazyApp()
    host = FastAPI()
    host.mount("/feedvault", lazy)  # what Airflow's API server does with fastapi_apps
    try:
        with TestClient(host) as client:
            assert client.get("/feedvault/").status_code == 401
            assert client.get("/feedvault/api/v1/feeds").status_code == 401
            page = get_ok(client, f"/feedvault/?token={TOKEN}")
            assert "demo-en" in page
            assert_links_under(page, "/feedvault")
            assert client.get("/feedvault/feeds/demo-en").status_code == 200  # the cookie carries the token
    finally:
        if lazy.app is not None:
            lazy.app.state.resources.close()


def test_plugin_answers_only_the_configured_host_names(plugin_env: dict[str, str], monkeypatch) -> None:
    from feedvault.web.app import ALLOWED_HOSTS_ENV

    monkeypatch.setenv(ALLOWED_HOSTS_ENV, "airflow.example.org, ops.example.org")
    lazy = airflow_plugin.LazyApp()
    host = FastAPI()
    host.mount("/feedvault", lazy)
    try:
        with TestClient(host, base_url="http://airflow.example.org") as client:
            assert client.get(f"/feedvault/?token={TOKEN}").status_code == 200
        with TestClient(host, base_url="http://localhost:8080") as client:
            assert client.get(f"/feedvault/?token={TOKEN}").status_code == 200
        with TestClient(host, base_url="http://attacker.example") as client:
            assert client.get(f"/feedvault/?token={TOKEN}").status_code == 400
    finally:
        if lazy.app is not None:
            lazy.app.state.resources.close()


def test_airflow_loads_the_plugin_from_infra_plugins(plugin_env: dict[str, str], tmp_path: Path) -> None:
    """Airflow's own plugin manager finds the loader file and mounts the app (no API server needed)."""
    script = f"""
import json
from fastapi import FastAPI
from fastapi.testclient import TestClient
from airflow.api_fastapi.app import init_plugins

host = FastAPI()
init_plugins(host)
with TestClient(host) as client:
    print(json.dumps([client.get(url).status_code for url in ("/feedvault/", "/feedvault/?token={TOKEN}")]))
"""
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(tmp_path / "airflow"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO / "infra/plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "PYTHONPATH": str(REPO),
    }
    proc = subprocess.run(
        [sys.executable, "-c", script], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == [401, 200], proc.stderr[-3000:]
