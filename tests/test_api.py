"""The JSON API over the archived demo publisher: every endpoint, bad parameters, access control, headers."""

from __future__ import annotations

import base64
import hashlib
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from fastapi.testclient import TestClient
from warcio.archiveiterator import ArchiveIterator

from feedvault.archive.clean_segments import read_clean_record
from feedvault.catalog import MAX_PAGE, MAX_QUERY_CHARS, open_catalog
from feedvault.store.seaweed import EmbeddedS3
from feedvault.web.app import InsecureListenError, check_listen, create_app
from tests.support.archive import CHANGED_SENTENCE, ArchivedDemo, copy_archive
from tests.support.s3 import fresh_archive

API = "/api/v1"
UNKNOWN_ID = "0123456789abcdef"


@pytest.fixture(scope="module")
def client(archived_demo: ArchivedDemo) -> TestClient:
    return TestClient(create_app(archived_demo.store, archived_demo.catalog))


@pytest.fixture(scope="module")
def changed(archived_demo: ArchivedDemo, client: TestClient) -> list[dict]:
    """The two snapshots of the changed article in feed demo-id, oldest first."""
    history = client.get(f"{API}/history", params={"url": archived_demo.changed_url}).json()
    return [s for s in history if s["feed"] == "demo-id"]


def get_ok(client: TestClient, path: str, **params) -> dict | list:
    response = client.get(path, params=params)
    assert response.status_code == 200, response.text
    return response.json()


def test_feeds(client, archived_demo):
    feeds = {f["id"]: f for f in get_ok(client, f"{API}/feeds")}
    assert set(feeds) == {"demo-id", "demo-en", "demo-news"}
    assert feeds["demo-id"]["permission_status"] == "valid"
    assert feeds["demo-id"]["last_run_id"] == archived_demo.run_ids[1]


def test_days_and_articles(client):
    days = get_ok(client, f"{API}/feeds/demo-id/days")
    assert [d["day"] for d in days["items"]] == ["2026-11-27", "2026-11-26"] and days["total"] == 2
    page = get_ok(client, f"{API}/feeds/demo-id/days/2026-11-26/articles", per_page=2, page=2)
    assert page["page"] == 2 and page["per_page"] == 2 and len(page["items"]) == 2 and page["total"] > 4
    assert all(a["day"] == "2026-11-26" and len(a["id"]) == 16 for a in page["items"])


def test_snapshot_and_downloads(client, archived_demo):
    article = get_ok(client, f"{API}/feeds/demo-en/days/2026-11-26/articles")["items"][0]
    snap = get_ok(client, f"{API}/snapshots/{article['id']}")
    assert snap["url"] == article["url"] and archived_demo.sentinels[snap["url"]] in snap["text"]
    assert snap["permission"]["decision"] == "archive" and snap["raw"]["warc_key"].endswith(".warc.gz")

    clean = client.get(f"{API}/snapshots/{article['id']}/clean.json")
    assert clean.status_code == 200 and "attachment" in clean.headers["content-disposition"]
    assert json.loads(clean.content) == read_clean_record(archived_demo.store, snap["clean_key"])

    warc = client.get(f"{API}/snapshots/{article['id']}/record.warc.gz")
    assert warc.status_code == 200 and warc.headers["content-type"] == "application/warc"
    [record] = [(r.rec_type, r.content_stream().read()) for r in ArchiveIterator(io.BytesIO(warc.content))]
    assert record[0] == "response" and hashlib.sha256(record[1]).hexdigest() == snap["raw"]["sha256"]

    raw = get_ok(client, f"{API}/snapshots/{article['id']}/raw")
    assert raw["status"] == 200 and raw["content_type"].startswith("text/html")
    assert raw["warc_headers"]["WARC-Target-URI"] == snap["url"] and raw["offset"] == snap["raw"]["offset"]


def test_raw_record_is_one_ranged_get(archived_demo, client):
    from feedvault.web.service import ArchiveService

    article = get_ok(client, f"{API}/feeds/demo-id/days/2026-11-26/articles")["items"][0]
    service = ArchiveService(archived_demo.store, archived_demo.catalog)
    before = archived_demo.store.stats.snapshot()["by_operation"].get("GetObject", 0)
    raw = service.raw_record(article["id"])
    after = archived_demo.store.stats.snapshot()["by_operation"].get("GetObject", 0)
    assert after - before == 1
    assert raw.status == 200 and b"<html" in raw.payload.lower() and raw.location.warc_key.endswith(".warc.gz")


def test_history_and_diff(client, changed, archived_demo):
    assert [s["run_id"] for s in changed] == list(archived_demo.run_ids)
    diff = get_ok(client, f"{API}/diff", a=changed[0]["id"], b=changed[1]["id"])
    assert diff["changed"] and diff["added"] >= 1 and diff["removed"] >= 1
    assert diff["a"]["id"] == changed[0]["id"] and diff["b"]["id"] == changed[1]["id"]
    ops = {row["op"] for row in diff["rows"]}
    assert "equal" in ops and ops & {"replace", "insert", "delete"}
    right = " ".join(r["b_text"] or "" for r in diff["rows"] if r["op"] != "equal")
    left = " ".join(r["a_text"] or "" for r in diff["rows"] if r["op"] != "equal")
    assert CHANGED_SENTENCE in right and archived_demo.original_sentence in left
    same = get_ok(client, f"{API}/diff", a=changed[0]["id"], b=changed[0]["id"])
    assert not same["changed"] and all(r["op"] == "equal" for r in same["rows"])


def test_search(client):
    result = get_ok(client, f"{API}/search", q="koreksi", feed="demo-id", **{"from": "2026-11-01", "to": "2026-11-30"})
    assert result["total"] == 1
    hit = result["items"][0]
    assert "<mark>koreksi</mark>" in hit["snippet_html"].lower() and "\x02" not in hit["snippet"]
    assert get_ok(client, f"{API}/search", q="koreksi", lang="en")["total"] == 0
    assert get_ok(client, f"{API}/search", q='"a" OR title:x NEAR(')["total"] >= 0


def test_runs_and_manifest(client, archived_demo):
    runs = get_ok(client, f"{API}/runs")
    assert [r["run_id"] for r in runs["items"]] == list(reversed(archived_demo.run_ids))
    manifest = get_ok(client, f"{API}/runs/{archived_demo.run_ids[0]}")
    assert manifest["run_id"] == archived_demo.run_ids[0] and manifest["schema"] == "feedvault.run/1"


def test_tombstones(client):
    page = get_ok(client, f"{API}/tombstones")
    assert page == {"items": [], "page": 1, "per_page": 50, "total": 0, "total_exact": True}


def test_day_export_jsonl(client, archived_demo):
    response = client.get(f"{API}/feeds/demo-id/days/2026-11-26/export.jsonl")
    assert response.status_code == 200 and response.headers["content-type"].startswith("application/x-ndjson")
    assert int(response.headers["content-length"]) == len(response.content)  # read in full before sending
    lines = response.content.decode().splitlines()
    records = [json.loads(line) for line in lines]
    assert len(records) == get_ok(client, f"{API}/feeds/demo-id/days/2026-11-26/articles")["total"]
    assert all(r["feed"] == "demo-id" and r["run_id"] == archived_demo.run_ids[0] for r in records)


@pytest.mark.parametrize(
    ("path", "params", "status"),
    [
        (f"/snapshots/{UNKNOWN_ID}", {}, 404),
        (f"/snapshots/{UNKNOWN_ID}/clean.json", {}, 404),
        (f"/snapshots/{UNKNOWN_ID}/record.warc.gz", {}, 404),
        (f"/snapshots/{UNKNOWN_ID}/raw", {}, 404),
        ("/snapshots/NOT-AN-ID", {}, 422),
        ("/feeds/no-such-feed/days", {}, 404),
        ("/feeds/no-such-feed/days/2026-11-26/articles", {}, 404),
        ("/feeds/Bad Feed!/days", {}, 422),
        ("/feeds/demo-id/days/2026-02-30/articles", {}, 422),
        ("/feeds/demo-id/days/26-11-2026/articles", {}, 422),
        ("/feeds/demo-id/days/2020-01-01/export.jsonl", {}, 404),
        ("/feeds/demo-id/days/2026-13-01/export.jsonl", {}, 422),
        ("/feeds/demo-id/days", {"page": MAX_PAGE + 1}, 422),
        ("/feeds/demo-id/days", {"page": 10**40}, 422),
        ("/feeds/demo-id/days", {"page": 0}, 422),
        ("/feeds/demo-id/days", {"page": "two"}, 422),
        ("/feeds/demo-id/days", {"per_page": 1000}, 422),
        ("/runs", {"page": 10**40}, 422),
        ("/tombstones", {"per_page": -1}, 422),
        ("/runs/20990101T000000Z", {}, 404),
        ("/runs/not-a-run", {}, 422),
        ("/history", {"url": "http://127.0.0.1:1/never"}, 404),
        ("/history", {}, 422),
        ("/history", {"url": "http://x/" + "a" * 5000}, 422),
        ("/diff", {"a": UNKNOWN_ID, "b": UNKNOWN_ID}, 404),
        ("/diff", {"a": "zz", "b": UNKNOWN_ID}, 422),
        ("/search", {"q": "x" * (MAX_QUERY_CHARS + 1)}, 422),
        ("/search", {"q": ""}, 422),
        ("/search", {"q": "(( ))"}, 400),
        ("/search", {"q": " ".join(["w"] * 40)}, 400),
        ("/search", {"q": "festival", "from": "2026-02-30"}, 422),
        ("/search", {"q": "festival", "from": "yesterday"}, 422),
        ("/search", {"q": "festival", "from": "2026-12-01", "to": "2026-11-01"}, 400),
        ("/search", {"q": "festival", "page": MAX_PAGE + 1}, 422),
        ("/search", {"q": "festival", "lang": "not a language"}, 422),
    ],
)
def test_bad_parameters(client, path, params, status):
    response = client.get(API + path, params=params)
    assert response.status_code == status, response.text
    assert response.json()["detail"]


def test_openapi_documents_every_endpoint(client):
    spec = get_ok(client, "/openapi.json")
    paths = {p for p in spec["paths"] if p.startswith(API)}
    routes = {r.path for r in client.app.routes if getattr(r, "path", "").startswith(API)}
    assert paths == routes and len(paths) >= 15, sorted(routes ^ paths)
    assert client.get("/docs").status_code == 200


def test_docs_load_swagger_ui_from_the_app_itself_not_a_cdn(archived_demo):
    """/docs works offline: every asset it references is served by the app, and its CSP allows no other origin."""
    import re

    client = TestClient(create_app(archived_demo.store, archived_demo.catalog, root_path="/fv"))
    docs = client.get("/fv/docs")
    assert docs.status_code == 200 and docs.headers["content-type"].startswith("text/html")
    csp = docs.headers["content-security-policy"]
    assert "http" not in csp and "unsafe-inline" not in csp.split("script-src")[1].split(";")[0], csp
    assert "<script>" not in docs.text  # no inline script: the CSP would block it
    assets = re.findall(r'(?:src|href)="([^"]+)"', docs.text)
    assert len(assets) == 3 and all(a.startswith("/fv/") for a in assets), assets
    types = {}
    for asset in assets:
        response = client.get(asset)
        assert response.status_code == 200 and len(response.content) > 100, asset
        types[asset.rsplit("/", 1)[1]] = response.headers["content-type"].split(";")[0]
    assert types == {
        "swagger-ui.css": "text/css",
        "swagger-ui-bundle.js": "text/javascript",
        "docs.js": "text/javascript",
    }
    assert b"SwaggerUIBundle" in client.get(assets[1]).content
    assert 'data-openapi-url="/fv/openapi.json"' in docs.text
    assert client.get("/fv/openapi.json").status_code == 200
    assert client.get("/fv/docs/assets/package.json").status_code == 404  # only the files the page needs


def test_security_headers_on_every_response(client):
    for path in (f"{API}/feeds", f"{API}/snapshots/{UNKNOWN_ID}", f"{API}/search?q="):
        headers = client.get(path).headers
        assert headers["x-content-type-options"] == "nosniff"
        assert headers["referrer-policy"] == "no-referrer"
        assert "default-src 'self'" in headers["content-security-policy"]
        assert "frame-ancestors" in headers["content-security-policy"]


def test_token_auth(archived_demo):
    client = TestClient(create_app(archived_demo.store, archived_demo.catalog, auth_token="s3cret-token"))
    denied = client.get(f"{API}/feeds")
    assert denied.status_code == 401 and denied.headers["www-authenticate"].startswith("Bearer")
    assert denied.headers["x-content-type-options"] == "nosniff"
    assert client.get(f"{API}/feeds", headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert client.get(f"{API}/feeds", headers={"Authorization": "Bearer s3cret-token"}).status_code == 200
    via_query = client.get(f"{API}/feeds", params={"token": "s3cret-token"})
    assert via_query.status_code == 200 and "HttpOnly" in via_query.headers["set-cookie"]
    assert client.get(f"{API}/feeds").status_code == 200  # the cookie now
    client.cookies.clear()
    assert client.get(f"{API}/feeds").status_code == 401


def test_basic_auth(archived_demo):
    client = TestClient(create_app(archived_demo.store, archived_demo.catalog, basic_auth=("ops", "pw:with:colons")))

    def basic(user: str, password: str) -> dict[str, str]:
        return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}

    denied = client.get(f"{API}/feeds")
    assert denied.status_code == 401 and denied.headers["www-authenticate"].startswith("Basic")
    assert client.get(f"{API}/feeds", headers=basic("ops", "nope")).status_code == 401
    assert client.get(f"{API}/feeds", headers={"Authorization": "Basic !!!"}).status_code == 401
    assert client.get(f"{API}/feeds", headers=basic("ops", "pw:with:colons")).status_code == 200


def test_listening_beyond_loopback_needs_auth():
    for host in ("127.0.0.1", "::1", "localhost"):
        check_listen(host, auth_token=None, basic_auth=None)
    for host in ("0.0.0.0", "::", "192.0.2.10"):
        with pytest.raises(InsecureListenError, match="access control"):
            check_listen(host, auth_token=None, basic_auth=None)
        check_listen(host, auth_token="t", basic_auth=None)
        check_listen(host, auth_token=None, basic_auth=("u", "p"))


def test_root_path(archived_demo):
    client = TestClient(create_app(archived_demo.store, archived_demo.catalog, root_path="/feedvault"))
    assert client.get(f"/feedvault{API}/feeds").status_code == 200


# -- the archive's storage failing while browsing ------------------------------------------------------------
@dataclass
class StoppedArchive:
    client: TestClient
    snapshot_id: str
    run_id: str


@pytest.fixture(scope="module")
def stopped_archive(archived_demo, tmp_path_factory) -> Iterator[StoppedArchive]:
    """The demo archive copied to a SeaweedFS of its own, browsed, then that SeaweedFS stopped under the app."""
    root = tmp_path_factory.mktemp("stopped-archive")
    with EmbeddedS3(root / "s3") as server:
        _settings, store = fresh_archive(server)
        copy_archive(archived_demo.store, store)
        with open_catalog(store, root / "catalog") as catalog:
            app = create_app(store, catalog, catalog_refresh_seconds=None)
            with TestClient(app) as client:
                snap = catalog.articles("demo-id", "2026-11-26").items[0].id
                up = StoppedArchive(client, snap, archived_demo.run_ids[0])
                for path in unavailable_paths(up):  # while the store is up, every one of them answers
                    assert client.get(path).status_code == 200, path
                server.stop()
                yield up


def unavailable_paths(archive: StoppedArchive) -> list[str]:
    """Every route that reads the store itself (the others answer from the catalog)."""
    sid, run = archive.snapshot_id, archive.run_id
    return [
        f"{API}/snapshots/{sid}/raw",
        f"{API}/snapshots/{sid}/clean.json",
        f"{API}/snapshots/{sid}/record.warc.gz",
        f"{API}/runs/{run}",
        f"{API}/feeds/demo-id/days/2026-11-26/export.jsonl",
        f"{API}/health",
        f"/snapshots/{sid}/raw",
        f"/snapshots/{sid}/capture",
        f"/runs/{run}",
        "/health",
    ]


def test_an_unreachable_archive_is_a_503_with_what_to_do_never_a_500_or_a_truncated_200(stopped_archive):
    client = stopped_archive.client
    for path in unavailable_paths(stopped_archive):
        response = client.get(path)
        assert response.status_code == 503, (path, response.status_code, response.text[:300])
        assert response.headers["retry-after"] and response.headers["x-content-type-options"] == "nosniff"
        if path.startswith(API):
            detail = response.json()["detail"]
            assert "try again shortly" in detail and "endpoint not reachable" in detail, detail
        else:
            assert response.headers["content-type"].startswith("text/html")
            assert "Archive unavailable" in response.text and "try again shortly" in response.text
    # What the catalog alone answers keeps working.
    assert client.get(f"{API}/feeds").status_code == 200
    assert client.get(f"/snapshots/{stopped_archive.snapshot_id}").status_code == 200


def test_token_is_accepted_beside_a_proxys_own_authorization_header(archived_demo):
    """Airflow's API server adds its own Authorization header to plugin requests: ours must still count."""
    client = TestClient(create_app(archived_demo.store, archived_demo.catalog, auth_token="s3cret-token"))
    ours, theirs = ("authorization", "Bearer s3cret-token"), ("authorization", "Bearer airflow-issued-jwt")
    assert client.get(f"{API}/feeds", headers=[ours, theirs]).status_code == 200
    assert client.get(f"{API}/feeds", headers=[theirs, ours]).status_code == 200
    assert client.get(f"{API}/feeds", headers=[theirs]).status_code == 401
