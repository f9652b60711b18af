"""Bad input the crawl must survive: every case becomes an outcome, the run goes on, nothing archived is lost.

All fixture sites are crawled in one run (one feed per site, each site on its own port), into real SeaweedFS.
"""

from __future__ import annotations

import io
import json
from collections import Counter

import pytest
from warcio.archiveiterator import ArchiveIterator

from tests.support.checks import stored_clean_records
from tests.support.crawl import feed, run_crawl, write_registry
from tests.support.sites import BAD_INPUT_CASES

CASES = BAD_INPUT_CASES


@pytest.fixture(scope="module")
def crawled(tmp_path_factory, seaweed):
    """One run over every fixture site, plus the store it wrote to."""
    from feedvault.demo.server import SiteServer
    from tests.support.s3 import fresh_archive
    from tests.support.sites import FIXTURE_SITES

    storage, store = fresh_archive(seaweed)
    servers = {case: SiteServer(FIXTURE_SITES / case).start() for case in CASES}
    try:
        feeds = [
            feed(case, servers[case].url("/feed.xml"), politeness={"max_response_bytes": 5 * 1024 * 1024})
            for case in CASES
        ]
        registry = write_registry(tmp_path_factory.mktemp("bad") / "feeds.yaml", storage, feeds)
        summary = run_crawl(registry, seaweed.credentials, "--run-id", "20261126T030000Z-bad", expect_exit=1)
        manifests = {f["feed"]: json.loads(store.get_bytes(f["manifest_key"])) for f in summary["feeds"]}
        yield summary, manifests, store, servers
    finally:
        for server in servers.values():
            server.stop()


def reasons(manifest, outcome=None):
    return Counter(u.get("reason") for u in manifest["urls"] if outcome is None or u["outcome"] == outcome)


def clean_records(store, feed_id):
    return list(stored_clean_records(store, f"clean/{feed_id}/").values())


def test_run_goes_on_and_names_the_failed_feeds(crawled):
    summary, manifests, _store, _servers = crawled
    assert summary["status"] == "partial"
    failed = {f["feed"] for f in summary["feeds"] if f["status"] == "failed"}
    assert failed == {"malformed-feed", "robots-5xx"}
    assert set(manifests) == set(CASES)
    assert manifests["truncated-feed"]["counts"]["new"] >= 1  # others archived despite the failures


def test_malformed_and_truncated_feeds(crawled):
    _summary, manifests, store, _ = crawled
    assert "unparseable feed" in manifests["malformed-feed"]["error"]
    truncated = manifests["truncated-feed"]
    assert truncated["counts"]["new"] >= 1 and any("not well-formed" in w for w in truncated["warnings"])
    assert clean_records(store, "truncated-feed")


def test_entity_bomb_is_not_expanded(crawled):
    _summary, manifests, store, _ = crawled
    bomb = manifests["entity-bomb"]
    assert bomb["status"] == "ok"
    for record in clean_records(store, "entity-bomb"):
        assert "lollollol" not in json.dumps(record)


@pytest.mark.parametrize("case", ["gzip-bomb", "oversized-page"])
def test_size_cap_stops_bombs_and_huge_pages(crawled, case):
    _summary, manifests, store, _ = crawled
    assert reasons(manifests[case], "failed")["too-large"] >= 1, manifests[case]["urls"]
    assert all(len(r["text"]) < 1_000_000 for r in clean_records(store, case))


def test_wrong_charset_is_decoded_right(crawled):
    _summary, manifests, store, _ = crawled
    assert manifests["wrong-charset"]["counts"]["new"] == 1
    (record,) = clean_records(store, "wrong-charset")
    assert "café" in record["text"] and "\ufffd" not in record["text"]
    assert record["encoding"].lower() in ("cp1252", "windows-1252")


def test_redirect_loop_and_http_errors_fail_cleanly(crawled):
    _summary, manifests, _store, _ = crawled
    assert reasons(manifests["redirect-loop"], "failed")["redirect-loop"] == 1
    assert {"http-404", "http-410", "http-500"} <= set(reasons(manifests["http-errors"], "failed"))


def test_retry_after_is_waited_out(crawled):
    _summary, manifests, _store, servers = crawled
    (outcome,) = [u for u in manifests["retry-after"]["urls"]]
    assert outcome["outcome"] == "new", outcome
    assert servers["retry-after"].hits(outcome["url"].split(servers["retry-after"].base_url, 1)[1]) == 2
    ours = [r for r in servers["retry-after"].requests if r.path != "/robots.txt"]
    assert all("feedvault/" in r.headers.get("User-Agent", "") for r in ours)


def test_robots_disallow_refuses_and_stores_nothing(crawled):
    _summary, manifests, store, _ = crawled
    robots = manifests["robots-disallow"]
    refused = [u for u in robots["urls"] if u["outcome"] == "refused"]
    assert refused and all(u["reason"] == "robots-txt" and u["evidence"]["sha256"] for u in refused)
    assert robots["counts"]["new"] >= 1
    stored = " ".join(o.key for o in store.list("")) + " ".join(
        r["url"] for r in clean_records(store, "robots-disallow")
    )
    for key in (o.key for o in store.list("raw/robots-disallow/")):
        for record in ArchiveIterator(io.BytesIO(store.get_bytes(key))):
            stored += " " + (record.rec_headers.get_header("WARC-Target-URI") or "")
    for u in refused:
        assert u["url"] not in stored


def test_robots_5xx_disallows_everything(crawled):
    _summary, manifests, store, servers = crawled
    manifest = manifests["robots-5xx"]
    assert "robots-txt" in manifest["error"]
    (evidence,) = manifest["robots"].values()
    assert evidence["verdict"] == "disallow-all" and evidence["status"] == 503
    assert not list(store.list("clean/robots-5xx/")) and not list(store.list("raw/robots-5xx/"))
    assert {r.path for r in servers["robots-5xx"].requests} == {"/robots.txt"}


def test_duplicates_and_bad_links(crawled):
    _summary, manifests, _store, _ = crawled
    dup = manifests["duplicate-guids"]
    assert reasons(dup, "skipped")["duplicate-entry"] == 2 and dup["counts"]["new"] >= 1
    bad = manifests["bad-links"]
    assert reasons(bad, "refused")["unsupported-scheme"] == 2 and bad["counts"]["new"] == 1


def test_private_address_is_refused_before_any_connection(crawled):
    _summary, manifests, store, _ = crawled
    manifest = manifests["private-address"]
    refused = [u for u in manifest["urls"] if u["outcome"] == "refused"]
    assert [u["reason"] for u in refused] == ["private-address"] and "127.0.0.2" in refused[0]["detail"]
    assert all("127.0.0.2" not in r["url"] for r in clean_records(store, "private-address"))


def test_the_archive_is_consistent_after_every_bad_input(crawled):
    from tests.support.checks import assert_archive_consistent

    _summary, _manifests, store, _ = crawled
    assert_archive_consistent(store)
