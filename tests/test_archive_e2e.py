"""End to end: crawl the demo publisher into a real SeaweedFS over HTTP and check every object."""

from __future__ import annotations

import hashlib
import io
import json
import urllib.request
from urllib.parse import urlsplit

import pytest
from warcio.archiveiterator import ArchiveIterator

from feedvault.cdxj import cdxj_key, index_warc
from feedvault.config import BUNDLED_REGISTRY, load_registry
from feedvault.demo import ARTICLE_SENTINELS, BOILERPLATE_MARKERS
from tests.support.crawl import feed_summary, run_crawl, write_registry

RUN_1, RUN_2, RUN_3 = "20261126T020000Z-first", "20261127T020000Z-second", "20261128T020000Z-third"


@pytest.fixture
def demo_registry(tmp_path, site_server, s3_storage, monkeypatch):
    server = site_server("demo")
    monkeypatch.setenv("FEEDVAULT_DEMO_URL", server.base_url)
    feeds = [f.model_dump(mode="json", exclude_defaults=True) for f in load_registry(BUNDLED_REGISTRY).feeds]
    storage, credentials = s3_storage
    return server, write_registry(tmp_path / "feeds.yaml", storage, feeds), credentials


def keys_under(store, *prefixes):
    return {obj.key for prefix in prefixes for obj in store.list(prefix)}


def served(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=10) as response:  # loopback fixture server only
        return response.read()


def test_demo_publisher_archive_round_trip(demo_registry, s3_store):
    server, registry, credentials = demo_registry
    first = run_crawl(registry, credentials, "--run-id", RUN_1)
    assert first["status"] == "ok", first["feeds"]
    # The catalog update reads the run's clean records from local copies, not back from S3.
    assert first["storage_requests"]["by_operation"].get("GetObject", 0) < first["totals"]["new"] / 2
    for summary in first["feeds"]:
        counts = summary["counts"]
        assert counts["new"] > 0 and counts["failed"] == 0 and counts["refused"] == 0, summary

    # Manifests: the run's and one per feed; every entry of every feed document has exactly one outcome.
    run_manifest = json.loads(s3_store.get_bytes(first["manifest_key"]))
    assert run_manifest["run_id"] == RUN_1 and run_manifest["config_hash"]
    assert {"feedvault", "scrapy", "trafilatura"} <= set(run_manifest["versions"])
    for summary in run_manifest["feeds"]:
        manifest = json.loads(s3_store.get_bytes(summary["manifest_key"]))
        entries = sum(doc["entries"] for doc in manifest["feed_documents"].values())
        assert entries == len(manifest["urls"]) == summary["counts"]["new"]
        assert all(o["outcome"] == "new" and o["clean_key"] and o["warc_key"] for o in manifest["urls"])
        assert all(ev["verdict"] == "rules" and ev["sha256"] for ev in manifest["robots"].values())

    # raw/ holds the WARCs and, next to each, the CDXJ index the run wrote (what pywb replays from).
    raw_keys = keys_under(s3_store, "raw/")
    warc_keys = {k for k in raw_keys if k.endswith(".warc.gz")}
    assert warc_keys and raw_keys == warc_keys | {cdxj_key(k) for k in warc_keys}
    for key in warc_keys:
        warc = s3_store.get_bytes(key)
        assert s3_store.get_bytes(cdxj_key(key)) == index_warc(warc, key)
        assert len(index_warc(warc, key).splitlines()) == sum(
            1 for r in ArchiveIterator(io.BytesIO(warc)) if r.rec_type == "response"
        )

    # Every WARC parses; records come as warcinfo, then request/response/metadata triples.
    for key in warc_keys:
        types = []
        for record in ArchiveIterator(io.BytesIO(s3_store.get_bytes(key))):  # records stream: read in the loop
            types.append(record.rec_type)
            if record.rec_type == "response":
                url = record.rec_headers.get_header("WARC-Target-URI")
                assert record.content_stream().read() == served(url), url
                assert record.rec_headers.get_header("WARC-IP-Address") == "127.0.0.1"
        assert types[0] == "warcinfo" and types[1:] == ["request", "response", "metadata"] * ((len(types) - 1) // 3)

    # Each clean JSON points at exactly its response record: one ranged GET returns that record.
    clean_keys = keys_under(s3_store, "clean/")
    assert len(clean_keys) == run_manifest["totals"]["new"]
    for key in clean_keys:
        record = json.loads(s3_store.get_bytes(key))
        raw = record["raw"]
        chunk = s3_store.get_bytes(raw["warc_key"], start=raw["offset"], length=raw["length"])
        in_chunk = [
            (
                r.rec_type,
                r.rec_headers.get_header("WARC-Target-URI"),
                hashlib.sha256(r.content_stream().read()).hexdigest(),
            )
            for r in ArchiveIterator(io.BytesIO(chunk))
        ]
        assert in_chunk == [("response", record["url"], raw["sha256"])]
        assert record["permission"]["decision"] == "archive" and record["permission"]["basis"] == "own-content"
        path = urlsplit(record["url"]).path
        assert ARTICLE_SENTINELS[path] in record["text"], path
        for marker in BOILERPLATE_MARKERS:
            assert marker not in record["text"], (path, marker)
        assert record["removed"], "the rules removed nothing from a demo page"
        assert record["metadata"]["title"]

    # A second run fetches conditionally, gets 304s, and writes nothing but its manifests.
    objects_before = keys_under(s3_store, "raw/", "clean/", "state/")
    second = run_crawl(registry, credentials, "--run-id", RUN_2)
    assert second["totals"]["new"] == second["totals"]["changed"] == 0
    assert second["totals"]["unchanged"] == first["totals"]["new"]
    assert keys_under(s3_store, "raw/", "clean/", "state/") == objects_before
    assert keys_under(s3_store, "runs/2026/11/27/")  # only the new run's manifests
    assert (
        second["storage_requests"]["write_requests"] == len(second["feeds"]) + 2
    )  # feed manifests, run manifest, catalog entry

    # A changed article becomes a second snapshot of the same URL, in the new run's partition only.
    changed_path = next(p for p in ARTICLE_SENTINELS if p.startswith("/id/"))
    original = served(server.url(changed_path)).decode()
    server.set_route(changed_path, {"body": original.replace(ARTICLE_SENTINELS[changed_path], "Kalimat koreksi baru.")})
    third = run_crawl(registry, credentials, "--run-id", RUN_3)
    assert third["totals"]["changed"] >= 1 and third["totals"]["new"] == 0
    new_clean = keys_under(s3_store, "clean/") - objects_before
    assert new_clean and all(RUN_3 in k for k in new_clean)
    for key in new_clean:
        snapshot = json.loads(s3_store.get_bytes(key))
        assert snapshot["url"].endswith(changed_path) and "Kalimat koreksi baru." in snapshot["text"]

    # Retrying the same run id replaces its partition: identical object set, no duplicates.
    after_third = keys_under(s3_store, "raw/", "clean/")
    retry = run_crawl(registry, credentials, "--run-id", RUN_3)
    assert keys_under(s3_store, "raw/", "clean/") == after_third
    assert retry["totals"]["changed"] == third["totals"]["changed"]


def test_dry_run_writes_nothing_but_reports(demo_registry, s3_store):
    _server, registry, credentials = demo_registry
    summary = run_crawl(registry, credentials, "--dry-run", "--feed", "demo-en")
    assert summary["manifest_key"] is None
    assert feed_summary(summary, "demo-en")["counts"]["new"] > 0
    assert [f["feed"] for f in summary["feeds"]] == ["demo-en"]
    assert keys_under(s3_store, "") == set()


def test_a_warc_that_never_reaches_the_archive_withdraws_exactly_its_snapshots(tmp_path, site_server):
    """Upload, then publish: a clean record must never point into a WARC the archive does not have.

    A real failure, no mock: the archive is a plain folder (``file://``) where the run's second WARC file name is
    already taken by a directory, so that one upload fails and the others succeed.
    """
    from feedvault.catalog import open_catalog
    from feedvault.config import StorageSettings
    from feedvault.keys import RunId, raw_warc_key
    from feedvault.storage import FileStore
    from tests.support.crawl import feed
    from tests.support.sites import synthetic_site

    site = synthetic_site(tmp_path, 24)
    server = site_server(site.root)
    # Smallest WARC files allowed, so the feed's articles spread over several.
    storage = StorageSettings(uri=f"file://{tmp_path}/archive", data_dir=str(tmp_path / "data"), warc_max_bytes=65536)
    registry = write_registry(tmp_path / "feeds.yaml", storage, [feed("synth", server.url(site.feed_path))])
    store = FileStore(tmp_path / "archive")
    blocked = raw_warc_key("synth", RunId(RUN_1), 1)
    (tmp_path / "archive" / blocked).mkdir(parents=True)

    first = run_crawl(registry, None, "--run-id", RUN_1, expect_exit=1)
    summary = feed_summary(first, "synth")
    assert summary["status"] == "failed" and blocked in summary["error"], summary
    assert "the next run fetches them again" in summary["error"]
    manifest = json.loads(store.get_bytes(summary["manifest_key"]))
    kept = {o["url"]: o for o in manifest["urls"] if o["outcome"] == "new"}
    withdrawn = {o["url"]: o for o in manifest["urls"] if o["outcome"] == "failed"}
    assert kept and withdrawn and len(kept) + len(withdrawn) == len(manifest["urls"]) == 24
    assert {o["reason"] for o in withdrawn.values()} == {"warc-upload-failed"}
    assert not any("clean_key" in o or "warc_key" in o for o in withdrawn.values())
    # What stays points at WARCs that exist; the withdrawn clean records are gone, not left dangling.
    assert blocked not in {o["warc_key"] for o in kept.values()}
    assert all(store.head(o["warc_key"]) is not None for o in kept.values())
    assert {obj.key for obj in store.list("clean/synth/")} == {o["clean_key"] for o in kept.values()}
    with open_catalog(store, storage.data_dir) as catalog:
        assert blocked not in catalog.warc_keys(RUN_1)
        assert not any(catalog.history(url) for url in withdrawn)
        assert all(catalog.history(url) for url in kept)

    # Once the archive takes writes again, the next run fetches exactly the withdrawn articles as new.
    (tmp_path / "archive" / blocked).rmdir()
    second = run_crawl(registry, None, "--run-id", RUN_2)
    manifest = json.loads(store.get_bytes(feed_summary(second, "synth")["manifest_key"]))
    outcomes = {o["url"]: o["outcome"] for o in manifest["urls"]}
    assert {url for url, outcome in outcomes.items() if outcome == "new"} == set(withdrawn)
    assert {url for url, outcome in outcomes.items() if outcome == "unchanged"} == set(kept)


def test_a_clean_record_the_archive_refuses_fails_that_article_and_the_feed(tmp_path, site_server):
    from feedvault.config import StorageSettings
    from feedvault.keys import RunId, clean_key
    from feedvault.storage import FileStore
    from tests.support.crawl import feed
    from tests.support.sites import synthetic_site

    site = synthetic_site(tmp_path, 6)
    server = site_server(site.root)
    storage = StorageSettings(uri=f"file://{tmp_path}/archive", data_dir=str(tmp_path / "data"))
    registry = write_registry(tmp_path / "feeds.yaml", storage, [feed("synth", server.url(site.feed_path))])
    store = FileStore(tmp_path / "archive")
    victim = server.url(site.article_paths[0])
    (tmp_path / "archive" / clean_key("synth", RunId(RUN_1), victim)).mkdir(parents=True)

    summary = feed_summary(run_crawl(registry, None, "--run-id", RUN_1, expect_exit=1), "synth")
    assert summary["status"] == "failed" and "1 clean records not written" in summary["error"], summary
    outcomes = {o["url"]: o for o in json.loads(store.get_bytes(summary["manifest_key"]))["urls"]}
    assert outcomes.pop(victim)["reason"] == "clean-write-failed"
    assert len(outcomes) == 5 and {o["outcome"] for o in outcomes.values()} == {"new"}

    (tmp_path / "archive" / clean_key("synth", RunId(RUN_1), victim)).rmdir()
    summary = feed_summary(run_crawl(registry, None, "--run-id", RUN_2), "synth")
    again = {o["url"]: o["outcome"] for o in json.loads(store.get_bytes(summary["manifest_key"]))["urls"]}
    assert again.pop(victim) == "new" and set(again.values()) == {"unchanged"}


def test_a_run_prunes_seen_state_past_the_retention(tmp_path, site_server):
    """``state/<feed>.json`` is read and written every night: URLs no run can fetch again are forgotten."""
    import datetime as dt

    from feedvault.config import StorageSettings
    from feedvault.state import SeenState, Snapshot
    from feedvault.storage import FileStore
    from tests.support.crawl import feed
    from tests.support.sites import synthetic_site

    site = synthetic_site(tmp_path, 4)
    server = site_server(site.root)
    storage = StorageSettings(uri=f"file://{tmp_path}/archive", data_dir=str(tmp_path / "data"))
    registry = write_registry(tmp_path / "feeds.yaml", storage, [feed("synth", server.url(site.feed_path))])
    store = FileStore(tmp_path / "archive")
    old = SeenState("synth")  # entry window (and so retention) in the tests: 36,500 days
    for url, published in (("https://gone.example/1901", "1901-01-01"), ("https://gone.example/1999", "1999-01-01")):
        snapshot = Snapshot(run_id="19990101T000000Z", sha256="0" * 64, clean_key=None, warc_key=None, fetched_at="")
        when = dt.datetime.fromisoformat(published).replace(tzinfo=dt.UTC)
        old.record(url, now=when, entry_updated=None, published=when, snapshot=snapshot)
    assert old.save(store)

    run_crawl(registry, None, "--run-id", RUN_1)
    urls = {entry.url for entry in SeenState.load(store, "synth").urls.values()}
    assert "https://gone.example/1901" not in urls and "https://gone.example/1999" in urls
    assert {server.url(path) for path in site.article_paths} <= urls


def test_a_seen_state_the_archive_refuses_fails_the_feed_and_says_what_follows(tmp_path, site_server):
    """What was archived stays committed; the feed fails loudly instead of silently losing its dedup."""
    from feedvault.config import StorageSettings
    from feedvault.storage import FileStore
    from tests.support.crawl import feed
    from tests.support.sites import synthetic_site

    site = synthetic_site(tmp_path, 3)
    server = site_server(site.root)
    storage = StorageSettings(uri=f"file://{tmp_path}/archive", data_dir=str(tmp_path / "data"))
    registry = write_registry(tmp_path / "feeds.yaml", storage, [feed("synth", server.url(site.feed_path))])
    (tmp_path / "archive/state/synth.json").mkdir(parents=True)  # the state key cannot be written

    summary = feed_summary(run_crawl(registry, None, "--run-id", RUN_1, expect_exit=1), "synth")
    assert summary["status"] == "failed" and "seen state not saved" in summary["error"], summary
    assert "the next run fetches and archives these articles again" in summary["error"]
    assert summary["counts"]["new"] == 3
    manifest = json.loads(FileStore(tmp_path / "archive").get_bytes(summary["manifest_key"]))
    assert all(o["clean_key"] and o["warc_key"] for o in manifest["urls"])


def test_an_unreadable_seen_state_fails_its_feed_and_the_others_still_run(tmp_path, site_server):
    from feedvault.config import StorageSettings
    from tests.support.crawl import feed
    from tests.support.sites import synthetic_site

    site = synthetic_site(tmp_path, 3)
    server = site_server(site.root)
    storage = StorageSettings(uri=f"file://{tmp_path}/archive", data_dir=str(tmp_path / "data"))
    feeds = [feed("broken", server.url(site.feed_path)), feed("fine", server.url(site.feed_path))]
    registry = write_registry(tmp_path / "feeds.yaml", storage, feeds)
    (tmp_path / "archive/state").mkdir(parents=True)
    (tmp_path / "archive/state/broken.json").write_text('{"schema": "feedvault.state/1", "urls": {"x": ')

    summary = run_crawl(registry, None, "--run-id", RUN_1, expect_exit=1)
    broken, fine = feed_summary(summary, "broken"), feed_summary(summary, "fine")
    assert broken["status"] == "failed" and "state/broken.json" in broken["error"], broken
    assert "JSONDecodeError" in broken["error"] and "fix or remove the state object" in broken["error"]
    assert fine["status"] == "ok" and fine["counts"]["new"] == 3
    assert summary["manifest_key"]  # the run is committed, with the failure in it


def test_runs_reach_readers_without_uploading_the_whole_catalog_each_time(tmp_path, site_server):
    """The catalog grows with the archive: a run uploads it only every N runs; in between, readers (a fresh one,
    or a running browser) index the runs listed under catalog/runs/ from their manifests."""
    from feedvault import keys
    from feedvault.catalog import open_catalog
    from feedvault.config import StorageSettings
    from feedvault.storage import FileStore
    from tests.support.crawl import feed
    from tests.support.sites import synthetic_site

    site = synthetic_site(tmp_path, 3)
    server = site_server(site.root)
    storage = StorageSettings(uri=f"file://{tmp_path}/archive", data_dir=str(tmp_path / "writer"))
    feeds = [feed("synth", server.url(site.feed_path))]
    registry = write_registry(tmp_path / "feeds.yaml", storage, feeds, catalog_republish_every_runs=2)
    store = FileStore(tmp_path / "archive")
    url = server.url(site.article_paths[0])

    run_crawl(registry, None, "--run-id", RUN_1)
    published = store.get_bytes(keys.CATALOG_KEY)  # the first run publishes it: there was none
    running = open_catalog(store, tmp_path / "browser")  # a browser started now
    assert len(running.history(url)) == 1

    run_crawl(registry, None, "--run-id", RUN_2, "--force")  # every article archived again: new snapshots
    assert store.get_bytes(keys.CATALOG_KEY) == published  # not uploaded again
    assert store.head(keys.catalog_run_key(keys.RunId(RUN_2))) is not None
    with open_catalog(store, tmp_path / "fresh") as fresh:  # a new reader: the published copy + run 2 itself
        assert [s.run_id for s in fresh.history(url)] == [RUN_1, RUN_2]
    assert running.sync(store)  # the running browser: no new published copy, yet run 2 appears
    assert [s.run_id for s in running.history(url)] == [RUN_1, RUN_2]
    running.close()

    run_crawl(registry, None, "--run-id", RUN_3)  # two runs since the published copy: published again
    assert store.get_bytes(keys.CATALOG_KEY) != published
    with open_catalog(store, tmp_path / "later") as later:
        assert later.counts()["runs"] == 3 and later.runs_since_publish() == 0
