"""AIPREF Content-Usage and Content-Signal end to end: the `aipref` fixture publisher crawled by Scrapy into real
SeaweedFS under three permission bases, then crawled again after the publisher changed its robots.txt.

The site (tests/fixtures/sites/README.md): our robots.txt group carries the CDN-style ``Content-Signal:
search=yes, ai-train=no`` for every page plus per-path rules (search only, no automated processing, a
Content-Usage that allows training but loses to the signal), a ``*`` group that must not apply, a disallowed
path, and a ``Content-Usage`` header on some pages only (one conflicting with robots.txt, one malformed).
"""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from feedvault.archive.clean_segments import read_clean_record
from feedvault.archive.warc import iter_records
from feedvault.permission.usage import compact
from tests.support.crawl import REPO, crawl_env, feed, run_crawl, write_registry

PUBLIC = {
    "basis": "public-feed-terms",
    "reference": "https://fixture.test/feed-terms",
    "granted_by": "Fixture Gazette feed terms",
    "granted_on": "2026-01-01",
}
LICENCE = {**PUBLIC, "basis": "licence", "licence": "CC-BY-4.0", "reference": "https://fixture.test/licence"}
WRITTEN = {
    **PUBLIC,
    "basis": "written-permission",
    "reference": "letter FG-2026-11",
    "overrides": ["no-automated-processing"],
}
FEEDS = {"aipref-public": PUBLIC, "aipref-licence": LICENCE, "aipref-written": WRITTEN}
RAW_CLEAN, CLEAN = "raw+clean", "clean"
SEARCH, ANALYSIS = "search/index-note.html", "analysis/tide-model.html"
EXPECTED = {
    "aipref-public": {
        "plain.html": RAW_CLEAN,  # no AI training: recorded, archived
        ANALYSIS: ("no-automated-processing", "robots"),
        SEARCH: ("search-only", "robots"),
        "open/open-data.html": RAW_CLEAN,
        "header-only.html": RAW_CLEAN,
        "header-conflict.html": ("no-automated-processing", "header"),
        "header-malformed.html": RAW_CLEAN,
        "private/members.html": ("robots-txt", None),
    },
    "aipref-licence": {
        "plain.html": RAW_CLEAN,
        ANALYSIS: ("no-automated-processing", "robots"),
        SEARCH: CLEAN,  # search only, under a licence: the clean text, no page copy
        "open/open-data.html": RAW_CLEAN,
        "header-only.html": RAW_CLEAN,
        "header-conflict.html": ("no-automated-processing", "header"),
        "header-malformed.html": RAW_CLEAN,
        "private/members.html": ("robots-txt", None),
    },
    "aipref-written": {  # names no-automated-processing, not search-only
        "plain.html": RAW_CLEAN,
        ANALYSIS: RAW_CLEAN,
        SEARCH: CLEAN,
        "open/open-data.html": RAW_CLEAN,
        "header-only.html": RAW_CLEAN,
        "header-conflict.html": RAW_CLEAN,
        "header-malformed.html": RAW_CLEAN,
        "private/members.html": ("robots-txt", None),
    },
}
# article -> the usage field's stated categories at capture time (same on every basis)
USAGE = {
    "plain.html": {"train-ai": "n", "train-genai": "n", "search": "y"},
    ANALYSIS: {"automated-processing": "n", "train-ai": "n", "train-genai": "n", "search": "n", "ai-input": "n"},
    SEARCH: {"train-ai": "n", "train-genai": "n", "search": "y", "ai-input": "n"},
    # Content-Usage train-ai=y (its longest path) and Content-Signal ai-train=no: the disallow wins
    "open/open-data.html": {"train-ai": "n", "train-genai": "n", "search": "y"},
    "header-only.html": {"train-ai": "n", "train-genai": "n", "search": "y"},
    "header-conflict.html": {
        "automated-processing": "n",
        "train-ai": "n",
        "train-genai": "n",
        "search": "n",
        "ai-input": "n",
    },
    "header-malformed.html": {"train-ai": "n", "train-genai": "n", "search": "y"},
}


@pytest.fixture(scope="module")
def crawled(tmp_path_factory, seaweed):
    from feedvault.config import StorageSettings
    from feedvault.demo.server import SiteServer
    from feedvault.store.backends import open_store
    from tests.support.s3 import fresh_bucket
    from tests.support.sites import FIXTURE_SITES

    storage = StorageSettings(uri=f"s3://{fresh_bucket()}/archive", endpoint_url=seaweed.endpoint_url, max_attempts=2)
    store = open_store(storage, seaweed.credentials)
    store.ensure_bucket()
    server = SiteServer(FIXTURE_SITES / "aipref").start()
    try:
        feeds = [feed(feed_id, server.url("/feed.xml"), permission=p) for feed_id, p in FEEDS.items()]
        storage = storage.model_copy(update={"data_dir": str(tmp_path_factory.mktemp("aipref-data"))})
        registry = write_registry(tmp_path_factory.mktemp("aipref") / "feeds.yaml", storage, feeds)
        first = run_crawl(registry, seaweed.credentials, "--run-id", "20261126T040000Z-aipref")
        server.set_route("/robots.txt", {"file": "robots-v2.txt"})  # the publisher now allows training
        # --force fetches every page again (none is due); their payloads are the same, their signals are not
        second = run_crawl(registry, seaweed.credentials, "--run-id", "20261127T040000Z-aipref", "--force")
        manifests = [
            {f["feed"]: json.loads(store.get_bytes(f["manifest_key"])) for f in run["feeds"]} for run in (first, second)
        ]
        yield Crawled(manifests, store, server, storage, seaweed.credentials, tmp_path_factory.mktemp("aipref-use"))
    finally:
        server.stop()


@dataclass
class Crawled:
    manifests: list[dict[str, dict]]  # per run: feed -> feed manifest
    store: Any
    server: Any
    storage: Any
    credentials: Any
    scratch: Path

    def __iter__(self):  # (manifests, store, server)
        return iter((self.manifests, self.store, self.server))


def outcomes(manifest, server) -> dict[str, dict]:
    prefix = server.url("/articles/")
    return {u["url"].removeprefix(prefix): u for u in manifest["urls"] if u.get("role", "article") == "article"}


@pytest.mark.parametrize("feed_id", list(FEEDS))
def test_each_article_gets_its_decision_and_evidence(crawled, feed_id):
    (first, _second), store, server = crawled
    got = outcomes(first[feed_id], server)
    assert set(got) == set(EXPECTED[feed_id])
    for path, expected in EXPECTED[feed_id].items():
        entry = got[path]
        if isinstance(expected, tuple):
            reason, source = expected
            assert (entry["outcome"], entry["reason"]) == ("refused", reason), entry
            if source:  # the deciding finding says which signal, from where
                deciding = [s for s in entry["evidence"]["signals"] if s["decision"] == "refuse"]
                assert (deciding[0]["signal"], deciding[0]["source"]) == (reason, source), entry
            continue
        assert entry["outcome"] == "new", entry
        assert bool(entry.get("warc_key")) == (expected == RAW_CLEAN), entry
        record = read_clean_record(store, entry["clean_key"])
        assert record["permission"]["stored"] == (["clean", "raw"] if expected == RAW_CLEAN else ["clean"])
        assert record["usage"]["schema"] == "feedvault.usage/1"
        assert compact(record["usage"]) == USAGE[path]
        assert entry["usage"] == USAGE[path]  # the manifest says it too, per snapshot


def test_every_snapshot_carries_its_usage_in_the_warc_metadata_record(crawled):
    (first, _second), store, server = crawled
    entry = outcomes(first["aipref-public"], server)["plain.html"]
    records = [view for _offset, _length, view in iter_records(store.get_bytes(entry["warc_key"]))]
    # The WARC holds the feed's other pages too, in crawl completion order: pick this page's metadata record.
    [metadata] = [
        json.loads(r.payload)
        for r in records
        if r.rec_type == "metadata" and r.warc_headers.get("WARC-Target-URI") == entry["url"]
    ]
    assert {k: metadata["usage"][k] for k in USAGE["plain.html"]} == USAGE["plain.html"]
    assert metadata["usage"]["source"][0]["value"] == "search=yes, ai-train=no"


def test_usage_sources_name_each_form_and_ignored_values_are_recorded(crawled):
    (first, _second), store, server = crawled
    got = outcomes(first["aipref-public"], server)

    def usage(path: str) -> dict:
        return read_clean_record(store, got[path]["clean_key"])["usage"]

    open_data = usage("open/open-data.html")
    assert [(s["signal"], s["source"], s.get("path")) for s in open_data["source"]] == [
        ("content-usage", "robots", "/articles/open/"),
        ("content-signal", "robots", None),
    ]
    assert [i["why"] for i in open_data["ignored"]] == [
        "bogus-category: unknown category",
        "train-genai=maybe: not the token y or n",
    ]
    header = usage("header-only.html")
    assert header["source"][-1] == {
        "source": "header",
        "value": "train-genai=n, search=y",
        "prefs": {"train-genai": "n", "search": "y"},
        "signal": "content-usage",
    }
    malformed = usage("header-malformed.html")
    assert malformed["ignored"][0]["value"] == "Train-AI=n"
    assert malformed["ignored"][0]["why"].startswith("not a Structured Field Dictionary")


def test_the_star_group_does_not_apply_to_us(crawled):
    (first, _second), _store, _server = crawled
    (evidence,) = first["aipref-public"]["robots"].values()
    assert evidence["usage"]["group"] == "feedvault"
    assert "train-ai=y" not in [r["value"] for r in evidence["usage"]["rules"] if "path" not in r]


def test_a_changed_signal_between_runs_is_in_the_evidence_and_the_manifests(crawled):
    (first, second), store, server = crawled
    before, after = (next(iter(m["aipref-public"]["robots"].values())) for m in (first, second))
    assert before["sha256"] != after["sha256"]
    assert next(r["value"] for r in before["usage"]["rules"]) == "search=yes, ai-train=no"
    assert [r["value"] for r in after["usage"]["rules"]] == ["search=yes, ai-train=yes"]
    old, new = (outcomes(m["aipref-public"], server) for m in (first, second))
    assert old["plain.html"]["usage"] == {"train-ai": "n", "train-genai": "n", "search": "y"}
    assert new["plain.html"]["usage"] == {"train-ai": "y", "train-genai": "y", "search": "y"}
    assert (old[ANALYSIS]["outcome"], new[ANALYSIS]["outcome"]) == ("refused", "new")  # the path rule is gone
    # The same payload with different signals is not `unchanged`: judged again, and recorded as a new snapshot.
    assert new["plain.html"]["sha256"] == old["plain.html"]["sha256"]
    assert (new["plain.html"]["outcome"], new["plain.html"]["reason"]) == ("changed", "signals-changed")
    record = read_clean_record(store, new["plain.html"]["clean_key"])
    assert record["usage"]["train-ai"] == "y" and record["run_id"] == "20261127T040000Z-aipref"


def test_a_changed_usage_rule_shows_in_feed_health_as_a_permission_change(crawled):
    from feedvault.config import HealthSettings
    from feedvault.keys import RunId
    from feedvault.monitoring import health

    _manifests, store, _server = crawled
    at = RunId("20261127T040000Z-aipref").started  # as of the second run (the flag lasts permission_change_days)
    [report] = health.report(store, HealthSettings(), now=at, feed_ids=["aipref-public"])
    changes = [p["message"] for p in report["problems"] if p["check"] == "permission-change"]
    assert any(m.startswith("robots.txt ") and "ai-train=no" in m and "ai-train=yes" in m for m in changes), changes
    assert report["state"] == "warning"


# -- the usage field downstream: catalog, CLI, API, exports --------------------------------------------------
DAY2 = "2026-11-27"  # the second run: training allowed by robots.txt; header-only.html still says train-genai=n
DAY2_ARCHIVED = {"plain.html", ANALYSIS, SEARCH, "open/open-data.html", "header-only.html", "header-malformed.html"}


def feedvault(crawled: Crawled, *args: str, expect: int = 0) -> subprocess.CompletedProcess:
    root = crawled.scratch
    storage = crawled.storage.model_copy(update={"data_dir": str(root / "data")})
    registry = write_registry(root / "feeds.yaml", storage, [])
    proc = subprocess.run(
        [sys.executable, "-m", "feedvault.cli", "--registry", str(registry), *args],
        env=crawl_env(crawled.credentials, COLUMNS="250"),
        cwd=REPO,
        capture_output=True,
        timeout=120,
    )
    assert proc.returncode == expect, f"exit {proc.returncode}\n{proc.stdout.decode()}\n{proc.stderr.decode()}"
    return proc


def exported(proc: subprocess.CompletedProcess, server) -> dict[str, dict]:
    records = [json.loads(line) for line in proc.stdout.decode().splitlines()]
    return {r["url"].removeprefix(server.url("/articles/")): r for r in records}


def test_the_default_export_states_the_restrictions_of_every_record(crawled):
    proc = feedvault(crawled, "export", "--day", DAY2, "--feed", "aipref-public", "--format", "jsonl")
    records = exported(proc, crawled.server)
    assert set(records) == DAY2_ARCHIVED
    assert compact(records["header-only.html"]["usage"]) == {"train-ai": "y", "train-genai": "n", "search": "y"}
    assert compact(records["plain.html"]["usage"]) == {"train-ai": "y", "train-genai": "y", "search": "y"}
    assert b"6 records, each with its usage field" in proc.stderr


def test_export_for_ai_training_leaves_out_reserved_snapshots_and_says_why(crawled):
    args = ("export", "--feed", "aipref-public", "--format", "jsonl", "--for", "ai-training")
    proc = feedvault(crawled, *args, "--day", DAY2)
    assert set(exported(proc, crawled.server)) == DAY2_ARCHIVED - {"header-only.html"}
    assert b"1 snapshots left out for ai-training: the publisher reserved it (content-usage 1)" in proc.stderr
    # the first run: Content-Signal ai-train=no on every page, so nothing is left to export, and that is no error
    first = feedvault(crawled, *args, "--day", "2026-11-26")
    assert first.stdout == b""
    assert b"0 records" in first.stderr and b"4 snapshots left out for ai-training" in first.stderr
    assert b"content-signal 4, content-usage 1" in first.stderr  # header-only.html: both reserved it


def test_the_api_export_for_ai_training_says_how_many_and_why_in_headers(crawled):
    from fastapi.testclient import TestClient

    from feedvault.catalog import open_catalog
    from feedvault.web.app import create_app

    catalog = open_catalog(crawled.store, crawled.scratch / "api-catalog")
    client = TestClient(create_app(crawled.store, catalog))
    url = f"/api/v1/feeds/aipref-public/days/{DAY2}/export.jsonl"
    plain = client.get(url)
    assert plain.status_code == 200 and "x-feedvault-left-out" not in plain.headers
    assert len(plain.content.splitlines()) == 6
    response = client.get(url, params={"for": "ai-training"})
    assert response.status_code == 200
    assert len(response.content.splitlines()) == 5
    assert response.headers["x-feedvault-export-for"] == "ai-training"
    assert response.headers["x-feedvault-left-out"] == "1"
    assert response.headers["x-feedvault-left-out-reasons"] == "content-usage=1"
    assert client.get(url, params={"for": "fun"}).status_code == 422
    articles = client.get(f"/api/v1/feeds/aipref-public/days/{DAY2}/articles").json()["items"]
    by_path = {a["url"].removeprefix(crawled.server.url("/articles/")): a for a in articles}
    assert by_path["header-only.html"]["usage"]["train-genai"] == "n"  # the catalog's usage column
    snapshot = client.get(f"/api/v1/snapshots/{by_path['header-only.html']['id']}").json()
    assert snapshot["usage"]["source"][-1]["source"] == "header"
    page = client.get(f"/snapshots/{by_path['header-only.html']['id']}").text  # the article page shows it too
    assert "<dt>Generative AI training</dt><dd>not allowed</dd>" in page
    assert "<dt>Stated by</dt><dd>content-signal (robots), content-usage (header)</dd>" in page


def test_show_json_and_show_print_the_usage_field(crawled):
    proc = feedvault(crawled, "export", "--day", DAY2, "--feed", "aipref-public", "--format", "jsonl")
    url = exported(proc, crawled.server)["header-only.html"]["url"]
    record = json.loads(feedvault(crawled, "show", url, "--json").stdout)
    assert compact(record["usage"]) == {"train-ai": "y", "train-genai": "n", "search": "y"}
    shown = feedvault(crawled, "show", url).stdout.decode()
    assert "usage: train-ai y, train-genai n, search y (content-signal robots, content-usage header)" in shown


def test_the_wacz_export_carries_usage_and_honours_for(crawled):
    out = crawled.scratch / "day2.wacz"
    args = ("export", "--format", "wacz", "--feed", "aipref-public", "--day", DAY2, "-o", str(out))
    proc = feedvault(crawled, *args, "--for", "ai-training")
    assert b"1 snapshots left out for ai-training" in proc.stderr
    with zipfile.ZipFile(out) as wacz:
        pages = [json.loads(line) for line in wacz.read("pages/pages.jsonl").splitlines()[1:]]
    assert len(pages) == 5 and all(p["usage"]["schema"] == "feedvault.usage/1" for p in pages)
    assert all(p["usage"]["train-ai"] == "y" for p in pages)
