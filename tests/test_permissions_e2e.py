"""Collect only what is permitted: every fixture publisher (tests/fixtures/sites/perm-*) crawled in one run.

Each feed has its own server and a permission basis chosen to exercise a row of the decision table; the
expected outcome of every article is listed below. Refused content must be absent from the bucket.
"""

from __future__ import annotations

import datetime as dt
import gzip
import io
import json

import pytest
from warcio.archiveiterator import ArchiveIterator

from feedvault.archive.clean_segments import read_clean_record
from tests.support.checks import stored_clean_records
from tests.support.crawl import PERMISSION, feed, run_crawl, write_registry

TODAY = dt.datetime.now(dt.UTC).date()
PUBLIC = {
    "basis": "public-feed-terms",
    "reference": "https://fixture.test/feed-terms",
    "granted_by": "Fixture Gazette feed terms",
    "granted_on": "2026-01-01",
}
LICENCE = {**PUBLIC, "basis": "licence", "licence": "CC-BY-4.0", "reference": "https://fixture.test/licence"}


def written(*overrides: str) -> dict:
    return {**PUBLIC, "basis": "written-permission", "reference": "letter FG-2026-07", "overrides": list(overrides)}


EXPIRED = {**PUBLIC, "granted_on": "2025-01-01", "expires_on": "2025-12-31"}
EXPIRING = {**PUBLIC, "granted_on": "2025-01-01", "expires_on": (TODAY + dt.timedelta(days=10)).isoformat()}

# feed id -> (fixture site, permission record)
FEEDS = {
    "perm-robots": ("perm-robots", PUBLIC),
    "perm-robots-override": ("perm-robots", written("robots-txt")),
    "perm-robots-5xx": ("perm-robots-5xx", PUBLIC),
    "perm-robots-5xx-override": ("perm-robots-5xx", written("robots-txt")),
    "perm-tdmrep-file": ("perm-tdmrep-file", LICENCE),
    "perm-tdmrep-header": ("perm-tdmrep-header", PUBLIC),
    "perm-meta": ("perm-meta", PUBLIC),
    "perm-meta-licensed": ("perm-meta", LICENCE),
    "perm-x-robots": ("perm-x-robots", PUBLIC),
    "perm-x-robots-written": ("perm-x-robots", written("noarchive")),
    "perm-notice": ("perm-notice", PUBLIC),
    "perm-notice-own": ("perm-notice", PERMISSION),
    "perm-expired": ("perm-expired", EXPIRED),
    "perm-expiring": ("perm-expired", EXPIRING),
}
RAW_CLEAN, CLEAN = "raw+clean", "clean"


def refused(reason: str, source: str | None = None) -> tuple[str, str, str | None]:
    return ("refused", reason, source)


# feed id -> article path -> what must happen to it
EXPECTED = {
    "perm-robots": {"members-briefing.html": refused("robots-txt"), "open-letter.html": RAW_CLEAN},
    "perm-robots-override": {"members-briefing.html": RAW_CLEAN, "open-letter.html": RAW_CLEAN},
    "perm-robots-5xx": {},  # not even the feed is fetched
    "perm-robots-5xx-override": {"quay-lights.html": RAW_CLEAN},
    "perm-tdmrep-file": {"reserved/dataset-notes.html": refused("tdmrep", "file"), "ferry-times.html": RAW_CLEAN},
    "perm-tdmrep-header": {
        "licensed.html": RAW_CLEAN,  # the file reserves everything; the header says 0 and supersedes it
        "plain.html": refused("tdmrep", "file"),
        "meta-reserved.html": refused("tdmrep", "meta"),  # header 0, meta 1: meta supersedes the header
    },
    "perm-meta": {
        "meta-noarchive.html": refused("noarchive", "meta"),
        "meta-noai.html": refused("noai", "meta"),
        "meta-feedvault.html": refused("noarchive", "meta"),
        "meta-googlebot.html": RAW_CLEAN,  # addressed to another crawler
        "meta-noindex.html": RAW_CLEAN,
    },
    "perm-meta-licensed": {
        "meta-noarchive.html": CLEAN,
        "meta-noai.html": refused("noai", "meta"),
        "meta-feedvault.html": CLEAN,
        "meta-googlebot.html": RAW_CLEAN,
        "meta-noindex.html": RAW_CLEAN,
    },
    "perm-x-robots": {
        "xrt-noarchive.html": refused("noarchive", "header"),
        "xrt-scoped.html": refused("noai", "header"),
        "xrt-other-bot.html": RAW_CLEAN,
        "xrt-none.html": RAW_CLEAN,
        "xrt-noimageai.html": RAW_CLEAN,
    },
    "perm-x-robots-written": {
        "xrt-noarchive.html": RAW_CLEAN,  # the written permission overrides noarchive
        "xrt-scoped.html": refused("noai", "header"),  # ... but not noai
        "xrt-other-bot.html": RAW_CLEAN,
        "xrt-none.html": RAW_CLEAN,
        "xrt-noimageai.html": RAW_CLEAN,
    },
    "perm-notice": {"notice-footer.html": refused("rights-notice", "notice"), "copyright-footer.html": RAW_CLEAN},
    "perm-notice-own": {"notice-footer.html": RAW_CLEAN, "copyright-footer.html": RAW_CLEAN},
    "perm-expired": {},
    "perm-expiring": {"tug-race.html": RAW_CLEAN},
}


def sentinel(site: str, path: str) -> str:
    """The unique reference code the fixture generator put in every article."""
    stem = path.rsplit("/", 1)[-1].removesuffix(".html")
    return f"QX-{site.removeprefix('perm-').upper()}-{stem.upper()}"


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
    servers = {feed_id: SiteServer(FIXTURE_SITES / site).start() for feed_id, (site, _) in FEEDS.items()}
    try:
        feeds = [
            feed(feed_id, servers[feed_id].url("/feed.xml"), permission=permission)
            for feed_id, (_site, permission) in FEEDS.items()
        ]
        data_dir = tmp_path_factory.mktemp("perm-data")
        storage = storage.model_copy(update={"data_dir": str(data_dir)})
        registry = write_registry(tmp_path_factory.mktemp("perm") / "feeds.yaml", storage, feeds)
        summary = run_crawl(registry, seaweed.credentials, "--run-id", "20261126T040000Z-perm", expect_exit=1)
        manifests = {
            f["feed"]: json.loads(store.get_bytes(f["manifest_key"])) for f in summary["feeds"] if f["manifest_key"]
        }
        yield summary, manifests, store, servers
    finally:
        for server in servers.values():
            server.stop()


def article_path(server, url: str) -> str:
    return url.removeprefix(server.base_url).removeprefix("/articles/")


def outcomes(manifest, server) -> dict[str, dict]:
    return {article_path(server, u["url"]): u for u in manifest["urls"] if u.get("role", "article") == "article"}


def object_text(store, key: str) -> str:
    data = store.get_bytes(key)
    if key.endswith(".gz"):
        data = gzip.decompress(data)  # every WARC record is its own member: decompresses them all
    return data.decode("utf-8", errors="replace")


def warc_target_uris(store) -> set[str]:
    uris = set()
    for obj in store.list("raw/"):
        for record in ArchiveIterator(io.BytesIO(store.get_bytes(obj.key))):
            uris.add(record.rec_headers.get_header("WARC-Target-URI") or "")
    return uris


@pytest.mark.parametrize("feed_id", [f for f in FEEDS if EXPECTED[f]])
def test_each_article_gets_its_decision(crawled, feed_id):
    _summary, manifests, store, servers = crawled
    got = outcomes(manifests[feed_id], servers[feed_id])
    assert set(got) == set(EXPECTED[feed_id]), got
    for path, expected in EXPECTED[feed_id].items():
        entry = got[path]
        if isinstance(expected, tuple):
            _, reason, source = expected
            assert (entry["outcome"], entry["reason"]) == ("refused", reason), entry
            assert not entry.get("clean_key") and not entry.get("warc_key")
            if source:  # the manifest says which signal decided, and where it was found
                deciding = [s for s in entry["evidence"]["signals"] if s["decision"] == "refuse"]
                assert deciding and deciding[0]["signal"] == reason and deciding[0]["source"] == source, entry
        else:
            assert entry["outcome"] == "new", entry
            assert bool(entry.get("warc_key")) == (expected == RAW_CLEAN), entry
            record = read_clean_record(store, entry["clean_key"])
            decision = "archive" if expected == RAW_CLEAN else "clean-only"
            assert record["permission"]["decision"] == decision
            assert record["permission"]["stored"] == (["clean", "raw"] if expected == RAW_CLEAN else ["clean"])
            assert (record["raw"]["warc_key"] is None) == (expected == CLEAN)


def test_refused_content_is_absent_from_the_bucket(crawled):
    _summary, _manifests, store, servers = crawled
    refused_urls, sentinels, archived = set(), set(), set()
    for feed_id, expected in EXPECTED.items():
        for path, outcome in expected.items():
            text = sentinel(FEEDS[feed_id][0], path)
            if isinstance(outcome, tuple):
                refused_urls.add(servers[feed_id].url(f"/articles/{path}"))
                sentinels.add(text)
            else:
                archived.add(text)
    sentinels -= archived  # a page refused for one feed may be archived for another (same site, other basis)
    assert len(sentinels) >= 5
    content_keys = [o.key for o in store.list("raw/")] + [o.key for o in store.list("clean/")]
    assert content_keys
    for key in content_keys:
        text = object_text(store, key)
        assert not any(url in text for url in refused_urls), key
    for obj in store.list(""):  # manifests name refused URLs (with the evidence) but hold none of their text
        text = object_text(store, obj.key)
        assert not any(s in text for s in sentinels), obj.key
    uris = warc_target_uris(store)
    assert not uris & refused_urls
    assert not [o.key for o in store.list("raw/perm-robots-5xx/")] + [
        o.key for o in store.list("clean/perm-robots-5xx/")
    ]


def test_clean_only_keeps_no_raw_copy(crawled):
    _summary, manifests, store, servers = crawled
    url = servers["perm-meta-licensed"].url("/articles/meta-noarchive.html")
    entry = outcomes(manifests["perm-meta-licensed"], servers["perm-meta-licensed"])["meta-noarchive.html"]
    record = read_clean_record(store, entry["clean_key"])
    assert sentinel("perm-meta", "meta-noarchive.html") in record["text"]
    (noarchive,) = [s for s in record["permission"]["signals"] if s["signal"] == "noarchive"]
    assert noarchive["decision"] == "clean-only" and noarchive["row"] == "licence"
    assert url not in warc_target_uris(store)


def test_overrides_are_explicit_and_recorded(crawled):
    _summary, manifests, store, servers = crawled
    robots = outcomes(manifests["perm-robots-override"], servers["perm-robots-override"])["members-briefing.html"]
    record = read_clean_record(store, robots["clean_key"])
    (signal,) = [s for s in record["permission"]["signals"] if s["signal"] == "robots-txt"]
    assert signal["overridden"] and signal["row"] == "written-permission+override" and signal["source"] == "robots"
    assert record["permission"]["robots"]["overridden_by"] == "letter FG-2026-07"
    xrt = outcomes(manifests["perm-x-robots-written"], servers["perm-x-robots-written"])["xrt-noarchive.html"]
    record = read_clean_record(store, xrt["clean_key"])
    (signal,) = [s for s in record["permission"]["signals"] if s["signal"] == "noarchive"]
    assert signal["overridden"] and signal["source"] == "header" and signal["value"] == "noarchive"


def test_every_snapshot_carries_its_decision_in_clean_json_and_warc(crawled):
    _summary, _manifests, store, _servers = crawled
    clean = {}
    for record in stored_clean_records(store).values():
        assert record["permission"]["decision"] in ("archive", "clean-only")
        assert {"basis", "reference", "stored", "signals", "robots", "tdmrep"} <= set(record["permission"])
        clean[record["url"], record["feed"]] = record["permission"]
    seen = 0
    for obj in store.list("raw/"):
        for rec in ArchiveIterator(io.BytesIO(store.get_bytes(obj.key))):
            if rec.rec_type == "metadata":
                meta = json.loads(rec.content_stream().read())
                url = rec.rec_headers.get_header("WARC-Target-URI")
                assert meta["permission"] == clean[url, meta["feed"]]
                seen += 1
    assert seen


def test_tdmrep_evidence_names_file_header_and_meta(crawled):
    _summary, manifests, store, servers = crawled
    got = outcomes(manifests["perm-tdmrep-header"], servers["perm-tdmrep-header"])
    record = read_clean_record(store, got["licensed.html"]["clean_key"])
    tdm = record["permission"]["tdmrep"]
    assert tdm["reservation"] == 0 and tdm["source"] == "header"
    assert tdm["layers"]["file"]["reservation"] == 1 and tdm["file"]["status"] == 200 and tdm["file"]["sha256"]
    meta = got["meta-reserved.html"]["evidence"]["tdmrep"]
    assert meta["source"] == "meta" and meta["policy"].endswith("/tdm-policy.json")
    reserved = outcomes(manifests["perm-tdmrep-file"], servers["perm-tdmrep-file"])["reserved/dataset-notes.html"]
    (signal,) = reserved["evidence"]["signals"]
    assert signal["where"].endswith("/.well-known/tdmrep.json location '/articles/reserved/'")
    assert signal["tdm-policy"].endswith("/tdm-policy.json")


def test_footer_notice_is_found_in_the_page_text(crawled):
    _summary, manifests, store, servers = crawled
    entry = outcomes(manifests["perm-notice"], servers["perm-notice"])["notice-footer.html"]
    (notice,) = [s for s in entry["evidence"]["signals"] if s["signal"] == "rights-notice"]
    assert notice["where"] == "page text" and notice["value"].startswith("Dilarang")
    assert notice["kind"] == "ai-reservation" and notice["rule"] == "notice.id"
    own = outcomes(manifests["perm-notice-own"], servers["perm-notice-own"])["notice-footer.html"]
    record = read_clean_record(store, own["clean_key"])
    assert any(s["signal"] == "rights-notice" and s["decision"] == "archive" for s in record["permission"]["signals"])
    copyright_only = outcomes(manifests["perm-notice"], servers["perm-notice"])["copyright-footer.html"]
    record = read_clean_record(store, copyright_only["clean_key"])
    assert {s["signal"] for s in record["permission"]["signals"]} == {"copyright-notice"}


def test_robots_5xx_refuses_everything_unless_overridden(crawled):
    summary, manifests, _store, servers = crawled
    failed = {f["feed"] for f in summary["feeds"] if f["status"] == "failed"}
    assert failed == {"perm-robots-5xx"}
    assert {r.path for r in servers["perm-robots-5xx"].requests} == {"/robots.txt"}
    assert manifests["perm-robots-5xx"]["robots"] and "robots-txt" in manifests["perm-robots-5xx"]["error"]
    assert manifests["perm-robots-5xx-override"]["status"] == "ok"


def test_expired_permission_is_skipped_with_a_warning(crawled):
    summary, manifests, _store, servers = crawled
    expired = next(f for f in summary["feeds"] if f["feed"] == "perm-expired")
    assert expired["status"] == "refused" and any("expired" in w for w in expired["warnings"])
    assert manifests["perm-expired"]["permission"]["reason"] == "permission-expired"
    assert servers["perm-expired"].requests == []
    warnings = [line for line in summary["_stderr"].splitlines() if " WARNING " in line]  # Airflow's task log
    assert any("feed perm-expired skipped: permission for 'perm-expired' is expired" in w for w in warnings)
    expiring = next(f for f in summary["feeds"] if f["feed"] == "perm-expiring")
    assert expiring["status"] == "ok" and any("expires on" in w for w in expiring["warnings"])
    assert any("feed perm-expiring: permission for 'perm-expiring' expires on" in w for w in warnings)


def test_the_archive_is_consistent_after_every_permission_decision(crawled):
    from tests.support.checks import assert_archive_consistent

    _summary, _manifests, store, _servers = crawled
    assert_archive_consistent(store)
