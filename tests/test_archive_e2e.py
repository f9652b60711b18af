"""End to end: crawl the demo publisher into a real SeaweedFS over HTTP and check every object."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import re
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from warcio.archiveiterator import ArchiveIterator

from feedvault import keys
from feedvault.archive.cdxj import cdxj_key, index_warc
from feedvault.archive.clean_segments import read_clean_record
from feedvault.catalog import open_catalog
from feedvault.config import BUNDLED_REGISTRY, StorageSettings, load_registry
from feedvault.crawl.seen_state import SeenSnapshot, SeenState
from feedvault.demo import ARTICLE_SENTINELS, BOILERPLATE_MARKERS
from feedvault.keys import RunId
from feedvault.store.backends import FileStore
from tests.support.checks import assert_archive_consistent, stored_clean_records
from tests.support.crawl import feed, feed_summary, run_crawl, write_registry
from tests.support.sites import synthetic_site

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


@dataclass
class FolderArchive:
    """A synthetic site and a plain-folder archive (``file://``) crawled from it. The archive's failures are
    real, no mock: a directory where an object must go makes that one write fail."""

    root: Path  # the archive folder
    store: FileStore
    storage: StorageSettings
    registry: Path
    urls: list[str]  # the site's article URLs
    pages: list[Path] = field(default_factory=list)  # the files the site serves them from

    def block(self, key: str) -> Path:
        (self.root / key).mkdir(parents=True)
        return self.root / key

    def revise_articles(self, note: str | None) -> None:
        """The publisher edits every article (a correction at its end, replacing any earlier one), so each
        payload changes; ``None`` takes the corrections back (the payloads are the originals again)."""
        for page in self.pages:
            html = re.sub(r"<p>Correction: [^<]*</p>", "", page.read_text(encoding="utf-8"))
            if note is not None:
                html = html.replace("</body>", f"<p>Correction: {note}.</p></body>", 1)
            page.write_text(html, encoding="utf-8")


def folder_archive(tmp_path, site_server, articles: int, feed_ids=("synth",), **settings) -> FolderArchive:
    storage_fields = {k: settings.pop(k) for k in list(settings) if k in StorageSettings.model_fields}
    site = synthetic_site(tmp_path, articles)
    server = site_server(site.root)
    root = tmp_path / "archive"
    storage = StorageSettings(uri=root.as_uri(), data_dir=str(tmp_path / "data"), **storage_fields)
    feeds = [feed(feed_id, server.url(site.feed_path)) for feed_id in feed_ids]
    registry = write_registry(tmp_path / "feeds.yaml", storage, feeds, **settings)
    urls, pages = [server.url(p) for p in site.article_paths], [site.root / p.lstrip("/") for p in site.article_paths]
    return FolderArchive(root, FileStore(root), storage, registry, urls, pages)


@dataclass
class RoundTrip:
    """Four runs of the demo publisher into one archive (first, unchanged, one article changed, the third
    retried) and what the archive held after each, captured then: each test checks one promise of it."""

    store: Any
    first: dict[str, Any]
    second: dict[str, Any]
    third: dict[str, Any]
    retry: dict[str, Any]
    raw_after_first: dict[str, bytes]  # every raw/ object (WARCs, CDXJ) after the first run
    served_at_first: dict[str, bytes]  # each archived response's URL -> what the site served at the time
    clean_after_first: dict[str, dict[str, Any]]  # every clean record after the first run
    objects_after_first: set[str]  # raw/, clean/ and state/ keys
    objects_after_second: set[str]
    changed_path: str  # the article revised before the third run
    objects_after_third: set[str]  # raw/ and clean/ keys
    objects_after_retry: set[str]


@pytest.fixture(scope="module")
def round_trip(seaweed, tmp_path_factory) -> Iterator[RoundTrip]:
    """The crawls run once for the module's round-trip tests."""
    from feedvault.demo.server import SiteServer
    from tests.support.s3 import fresh_archive
    from tests.support.sites import site_root

    storage, store = fresh_archive(seaweed)
    server = SiteServer(site_root("demo")).start()
    with pytest.MonkeyPatch.context() as env:
        env.setenv("FEEDVAULT_DEMO_URL", server.base_url)
        feeds = [f.model_dump(mode="json", exclude_defaults=True) for f in load_registry(BUNDLED_REGISTRY).feeds]
        registry = write_registry(tmp_path_factory.mktemp("round-trip") / "feeds.yaml", storage, feeds)
        try:
            first = run_crawl(registry, seaweed.credentials, "--run-id", RUN_1)
            raw = {key: store.get_bytes(key) for key in keys_under(store, "raw/")}
            responses = [
                record.rec_headers.get_header("WARC-Target-URI")
                for key, data in raw.items()
                if key.endswith(".warc.gz")
                for record in ArchiveIterator(io.BytesIO(data))
                if record.rec_type == "response"
            ]
            clean = stored_clean_records(store)  # by pointer, read from the segments' bytes
            after_first = keys_under(store, "raw/", "clean/", "state/")
            second = run_crawl(registry, seaweed.credentials, "--run-id", RUN_2)
            after_second = keys_under(store, "raw/", "clean/", "state/")
            changed_path = next(p for p in ARTICLE_SENTINELS if p.startswith("/id/"))
            original = served(server.url(changed_path)).decode()
            revised = original.replace(ARTICLE_SENTINELS[changed_path], "Kalimat koreksi baru.")
            served_at_first = {url: served(url) for url in responses}
            server.set_route(changed_path, {"body": revised})
            third = run_crawl(registry, seaweed.credentials, "--run-id", RUN_3)
            after_third = keys_under(store, "raw/", "clean/")
            retry = run_crawl(registry, seaweed.credentials, "--run-id", RUN_3)
            yield RoundTrip(
                store=store,
                first=first,
                second=second,
                third=third,
                retry=retry,
                raw_after_first=raw,
                served_at_first=served_at_first,
                clean_after_first=clean,
                objects_after_first=after_first,
                objects_after_second=after_second,
                changed_path=changed_path,
                objects_after_third=after_third,
                objects_after_retry=keys_under(store, "raw/", "clean/"),
            )
        finally:
            server.stop()


def test_the_first_run_archives_every_article_and_reads_back_nothing_it_wrote(round_trip):
    first = round_trip.first
    assert first["status"] == "ok", first["feeds"]
    # The catalog update builds the run's piece from the rows its crawl staged, reading no clean record back
    # from S3 (the reads are the per-feed objects: seen state and learned fingerprints, plus the manifests).
    reads = first["storage_requests"]["by_operation"].get("GetObject", 0)
    assert reads < first["totals"]["new"] / 2 + len(first["feeds"])
    for summary in first["feeds"]:
        counts = summary["counts"]
        assert counts["new"] > 0 and counts["failed"] == 0 and counts["refused"] == 0, summary


def test_every_entry_of_every_feed_document_has_exactly_one_outcome(round_trip):
    """Manifests: the run's and one per feed."""
    store = round_trip.store
    run_manifest = json.loads(store.get_bytes(round_trip.first["manifest_key"]))
    assert run_manifest["run_id"] == RUN_1 and run_manifest["config_hash"]
    assert {"feedvault", "scrapy", "trafilatura"} <= set(run_manifest["versions"])
    for summary in run_manifest["feeds"]:
        manifest = json.loads(store.get_bytes(summary["manifest_key"]))
        entries = sum(doc["entries"] for doc in manifest["feed_documents"].values())
        assert entries == len(manifest["urls"]) == summary["counts"]["new"]
        assert all(o["outcome"] == "new" and o["clean_key"] and o["warc_key"] for o in manifest["urls"])
        assert all(ev["verdict"] == "rules" and ev["sha256"] for ev in manifest["robots"].values())


def test_each_warc_has_its_cdxj_index_next_to_it(round_trip):
    """raw/ holds the WARCs and, next to each, the CDXJ index the run wrote (what pywb replays from)."""
    raw = round_trip.raw_after_first
    warc_keys = {k for k in raw if k.endswith(".warc.gz")}
    assert warc_keys and set(raw) == warc_keys | {cdxj_key(k) for k in warc_keys}
    for key in warc_keys:
        assert raw[cdxj_key(key)] == index_warc(raw[key], key)
        assert len(index_warc(raw[key], key).splitlines()) == sum(
            1 for r in ArchiveIterator(io.BytesIO(raw[key])) if r.rec_type == "response"
        )


def test_every_warc_holds_warcinfo_then_triples_of_the_pages_as_served(round_trip):
    """Every WARC parses; records come as warcinfo, then request/response/metadata triples."""
    warcs = {key: data for key, data in round_trip.raw_after_first.items() if key.endswith(".warc.gz")}
    assert warcs
    for data in warcs.values():
        types = []
        for record in ArchiveIterator(io.BytesIO(data)):  # records stream: read in the loop
            types.append(record.rec_type)
            if record.rec_type == "response":
                url = record.rec_headers.get_header("WARC-Target-URI")
                assert record.content_stream().read() == round_trip.served_at_first[url], url
                assert record.rec_headers.get_header("WARC-IP-Address") == "127.0.0.1"
        assert types[0] == "warcinfo" and types[1:] == ["request", "response", "metadata"] * ((len(types) - 1) // 3)


def test_clean_records_sit_in_one_segment_per_feed_and_each_is_one_ranged_get(round_trip):
    """Clean records are rolled into segments beside the WARCs (one gzip member each): the manifests name exactly
    the records the segments hold, and each pointer reads its record with one ranged GET."""
    store, clean = round_trip.store, round_trip.clean_after_first
    segments = {keys.parse_clean_pointer(pointer).key for pointer in clean}
    assert segments == {k for k in round_trip.objects_after_first if k.startswith("clean/")}
    assert all(k.endswith(f"{RUN_1}-00000.jsonl.gz") for k in segments)
    run_manifest = json.loads(store.get_bytes(round_trip.first["manifest_key"]))
    listed = {
        o["clean_key"] for f in run_manifest["feeds"] for o in json.loads(store.get_bytes(f["manifest_key"]))["urls"]
    }
    assert set(clean) == listed
    before = store.stats.read_requests
    assert all(read_clean_record(store, pointer) == record for pointer, record in clean.items())
    assert store.stats.read_requests == before + len(clean)


def test_each_clean_record_points_at_exactly_its_response_record(round_trip):
    """One ranged GET of a clean record's raw pointer returns that record; the text is the article's, cleaned."""
    store, clean = round_trip.store, round_trip.clean_after_first
    assert len(clean) == round_trip.first["totals"]["new"]
    for record in clean.values():
        raw = record["raw"]
        chunk = store.get_bytes(raw["warc_key"], start=raw["offset"], length=raw["length"])
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


def test_a_second_run_gets_304s_and_writes_nothing_but_its_manifests(round_trip):
    """It fetches conditionally; only its manifests, its catalog entry and the feeds' health are written."""
    second = round_trip.second
    assert second["totals"]["new"] == second["totals"]["changed"] == 0
    assert second["totals"]["unchanged"] == round_trip.first["totals"]["new"]
    assert round_trip.objects_after_second == round_trip.objects_after_first
    assert keys_under(round_trip.store, "runs/2026/11/27/")  # only the new run's manifests
    assert (
        second["storage_requests"]["write_requests"] == len(second["feeds"]) + 3
    )  # feed manifests, run manifest, catalog entry, health/feeds.json


def test_a_changed_article_is_a_second_snapshot_in_the_new_runs_partition_only(round_trip):
    third = round_trip.third
    assert third["totals"]["changed"] >= 1 and third["totals"]["new"] == 0
    new_clean = {k for k in round_trip.objects_after_third if k.startswith("clean/")} - round_trip.objects_after_first
    assert new_clean and all(RUN_3 in k for k in new_clean)
    for key in new_clean:
        for snapshot in stored_clean_records(round_trip.store, key).values():
            assert snapshot["url"].endswith(round_trip.changed_path) and "Kalimat koreksi baru." in snapshot["text"]


def test_retrying_a_run_id_replaces_its_partition(round_trip):
    """Identical object set, no duplicates."""
    assert round_trip.objects_after_retry == round_trip.objects_after_third
    assert round_trip.retry["totals"]["changed"] == round_trip.third["totals"]["changed"]


def test_dry_run_writes_nothing_but_reports(demo_registry, s3_store):
    _server, registry, credentials = demo_registry
    summary = run_crawl(registry, credentials, "--dry-run", "--feed", "demo-en")
    assert summary["manifest_key"] is None
    new = feed_summary(summary, "demo-en")["counts"]["new"]
    assert new > 0
    assert [f["feed"] for f in summary["feeds"]] == ["demo-en"]
    assert keys_under(s3_store, "") == set()
    # Every writer wrote as in a real run, into the dry run's discarding store: what it would write is reported.
    would = summary["would_write"]["by_folder"]
    assert would["clean"] == 1 and would["raw"] >= 1 and would["state"] == 1, summary["would_write"]  # one segment
    assert summary["storage_requests"]["write_requests"] == 0


def test_a_warc_that_never_reaches_the_archive_withdraws_exactly_its_snapshots(tmp_path, site_server):
    """Upload, then publish: a clean record must never point into a WARC the archive does not have.

    The run's second WARC file name is taken, so that one upload fails and the others succeed.
    """
    # Smallest WARC files allowed, so the feed's articles spread over several.
    archive = folder_archive(tmp_path, site_server, 24, warc_max_bytes=65536)
    store, blocked = archive.store, keys.raw_warc_key("synth", RunId(RUN_1), 1)
    in_the_way = archive.block(blocked)

    first = run_crawl(archive.registry, None, "--run-id", RUN_1, expect_exit=1)
    summary = feed_summary(first, "synth")
    assert summary["status"] == "failed" and blocked in summary["error"], summary
    assert "the next run fetches them again" in summary["error"]
    manifest = json.loads(store.get_bytes(summary["manifest_key"]))
    kept = {o["url"]: o for o in manifest["urls"] if o["outcome"] == "new"}
    withdrawn = {o["url"]: o for o in manifest["urls"] if o["outcome"] == "failed"}
    assert kept and withdrawn and len(kept) + len(withdrawn) == len(manifest["urls"]) == 24
    assert {o["reason"] for o in withdrawn.values()} == {"warc-upload-failed"}
    assert not any("warc_key" in o for o in withdrawn.values())
    # What stays points at WARCs that exist. A withdrawn clean record stays in its segment, named by its failed
    # entry (so the checker and takedowns find it), never by an archived one.
    assert blocked not in {o["warc_key"] for o in kept.values()}
    assert all(store.head(o["warc_key"]) is not None for o in kept.values())
    stored = stored_clean_records(store, "clean/synth/")
    assert set(stored) == {o["clean_key"] for o in manifest["urls"]}
    assert {stored[o["clean_key"]]["url"] for o in withdrawn.values()} == set(withdrawn)
    with open_catalog(store, archive.storage.data_dir) as catalog:
        assert blocked not in catalog.warc_keys(RUN_1)
        assert not any(catalog.history(url) for url in withdrawn)
        assert all(catalog.history(url) for url in kept)
    assert_archive_consistent(store)

    # Once the archive takes writes again, the next run fetches exactly the withdrawn articles as new.
    in_the_way.rmdir()
    second = run_crawl(archive.registry, None, "--run-id", RUN_2)
    manifest = json.loads(store.get_bytes(feed_summary(second, "synth")["manifest_key"]))
    outcomes = {o["url"]: o["outcome"] for o in manifest["urls"]}
    assert {url for url, outcome in outcomes.items() if outcome == "new"} == set(withdrawn)
    assert {url for url, outcome in outcomes.items() if outcome == "unchanged"} == set(kept)
    assert_archive_consistent(store)


def test_a_clean_segment_the_archive_refuses_withdraws_its_snapshots_and_fails_the_feed(tmp_path, site_server):
    """A clean segment commits like a WARC: its upload fails, so every snapshot with a record in it is withdrawn
    (failed, seen state put back), and the raw records that did reach the archive stay named by those entries."""
    archive = folder_archive(tmp_path, site_server, 6)
    blocked = archive.block(keys.clean_segment_key("synth", RunId(RUN_1), 0))

    summary = feed_summary(run_crawl(archive.registry, None, "--run-id", RUN_1, expect_exit=1), "synth")
    assert summary["status"] == "failed" and blocked.name in summary["error"], summary
    assert "the next run fetches them again" in summary["error"]
    outcomes = {o["url"]: o for o in json.loads(archive.store.get_bytes(summary["manifest_key"]))["urls"]}
    assert len(outcomes) == 6 and {o["reason"] for o in outcomes.values()} == {"clean-upload-failed"}
    assert all(o["warc_key"] and "clean_key" not in o for o in outcomes.values())
    assert_archive_consistent(archive.store)  # the raw records are named by the failed entries

    blocked.rmdir()
    summary = feed_summary(run_crawl(archive.registry, None, "--run-id", RUN_2), "synth")
    again = {o["url"]: o["outcome"] for o in json.loads(archive.store.get_bytes(summary["manifest_key"]))["urls"]}
    assert set(again.values()) == {"new"} and set(again) == set(outcomes)
    assert_archive_consistent(archive.store)


def test_a_run_prunes_seen_state_past_the_retention(tmp_path, site_server):
    """``state/<feed>.json`` is read and written every night: URLs no run can fetch again are forgotten."""
    archive = folder_archive(tmp_path, site_server, 4)
    old = SeenState("synth")  # entry window (and so retention) in the tests: 36,500 days
    for url, published in (("https://gone.example/1901", "1901-01-01"), ("https://gone.example/1999", "1999-01-01")):
        snapshot = SeenSnapshot(
            run_id="19990101T000000Z", sha256="0" * 64, clean_key=None, warc_key=None, fetched_at=""
        )
        when = dt.datetime.fromisoformat(published).replace(tzinfo=dt.UTC)
        old.record(url, now=when, entry_updated=None, published=when, snapshot=snapshot)
    assert old.save(archive.store)

    run_crawl(archive.registry, None, "--run-id", RUN_1)
    urls = {entry.url for entry in SeenState.load(archive.store, "synth").urls.values()}
    assert "https://gone.example/1901" not in urls and "https://gone.example/1999" in urls
    assert set(archive.urls) <= urls


def test_a_seen_state_the_archive_refuses_fails_the_feed_and_says_what_follows(tmp_path, site_server):
    """What was archived stays committed; the feed fails loudly instead of silently losing its dedup."""
    archive = folder_archive(tmp_path, site_server, 3)
    archive.block(keys.state_key("synth"))

    summary = feed_summary(run_crawl(archive.registry, None, "--run-id", RUN_1, expect_exit=1), "synth")
    assert summary["status"] == "failed" and "seen state not saved" in summary["error"], summary
    assert "the next run fetches and archives these articles again" in summary["error"]
    assert summary["counts"]["new"] == 3
    manifest = json.loads(archive.store.get_bytes(summary["manifest_key"]))
    assert all(o["clean_key"] and o["warc_key"] for o in manifest["urls"])


def test_an_unreadable_seen_state_fails_its_feed_and_the_others_still_run(tmp_path, site_server):
    archive = folder_archive(tmp_path, site_server, 3, feed_ids=("broken", "fine"))
    archive.store.put_bytes(keys.state_key("broken"), b'{"schema": "feedvault.state/1", "urls": {"x": ')

    summary = run_crawl(archive.registry, None, "--run-id", RUN_1, expect_exit=1)
    broken, fine = feed_summary(summary, "broken"), feed_summary(summary, "fine")
    assert broken["status"] == "failed" and "state/broken.json" in broken["error"], broken
    assert "JSONDecodeError" in broken["error"] and "fix or remove the state object" in broken["error"]
    assert fine["status"] == "ok" and fine["counts"]["new"] == 3
    assert summary["manifest_key"]  # the run is committed, with the failure in it


def test_a_run_publishes_one_piece_and_readers_fetch_only_the_pieces_they_lack(tmp_path, site_server):
    """The catalog grows with the archive, a run does not: each run uploads its own rows once (a piece), readers
    in step download the index and that piece; a retried run id gets a new version; a month's pieces are merged
    on a schedule without readers in step downloading the merged piece."""
    from feedvault.catalog.pieces import load_index

    archive = folder_archive(tmp_path, site_server, 3, catalog_republish_every_runs=3)
    store, url = archive.store, archive.urls[0]

    run_crawl(archive.registry, None, "--run-id", RUN_1)
    first = load_index(store)[0]
    assert set(first.runs) == {RUN_1} and store.head(keys.CATALOG_KEY) is None
    running = open_catalog(store, tmp_path / "browser")  # a browser started now
    assert len(running.history(url)) == 1

    archive.revise_articles("second edition")
    run_crawl(archive.registry, None, "--run-id", RUN_2, "--force")  # every article archived again (changed)
    second = load_index(store)[0]
    assert second.runs[RUN_1] == first.runs[RUN_1]  # run 1's piece is not uploaded again
    assert set(second.pieces) - set(first.pieces) == {second.runs[RUN_2]["piece"]}
    gets = store.stats.snapshot()["by_operation"].get("GetObject", 0)
    assert running.sync(store)
    assert store.stats.snapshot()["by_operation"]["GetObject"] - gets == 2  # the index and run 2's piece
    assert [s.run_id for s in running.history(url)] == [RUN_1, RUN_2]
    with open_catalog(store, tmp_path / "fresh") as fresh:  # a new reader: every piece
        assert [s.run_id for s in fresh.history(url)] == [RUN_1, RUN_2]

    # A retry of run 2 replaces its partition: a new version of run 2, which readers fetch again.
    archive.revise_articles(None)  # the correction withdrawn: the retry finds run 1's pages again
    run_crawl(archive.registry, None, "--run-id", RUN_2)  # not forced: everything is unchanged this time
    retried = load_index(store)[0]
    assert retried.runs[RUN_2]["version"] != second.runs[RUN_2]["version"]
    assert running.sync(store)
    assert [s.run_id for s in running.history(url)] == [RUN_1]  # the retry archived nothing new

    # Before run 3 publishes its piece, the month's pieces are merged (the month is closed, or holds 3 pieces).
    archive.revise_articles("third edition")
    run_crawl(archive.registry, None, "--run-id", RUN_3, "--force")
    third = load_index(store)[0]
    assert len({third.runs[r]["piece"] for r in (RUN_1, RUN_2)}) == 1 and "month-" in third.runs[RUN_1]["piece"]
    assert all(third.runs[r]["version"] == retried.runs[r]["version"] for r in (RUN_1, RUN_2))  # merged as they were
    assert len(third.pieces) == 2 and not [o for o in store.list("catalog/pieces/") if o.key not in third.pieces]
    gets = store.stats.snapshot()["by_operation"].get("GetObject", 0)
    assert running.sync(store)
    assert store.stats.snapshot()["by_operation"]["GetObject"] - gets == 2  # the index and run 3's piece only
    assert [s.run_id for s in running.history(url)] == [RUN_1, RUN_3]
    running.close()
    with open_catalog(store, tmp_path / "later") as later:
        assert later.counts()["runs"] == 3 and [s.run_id for s in later.history(url)] == [RUN_1, RUN_3]


def test_force_refetches_an_unchanged_site_and_writes_nothing(tmp_path, site_server):
    """--force means "fetch even if not due": identical payloads stay unchanged; no clean record, no WARC."""
    archive = folder_archive(tmp_path, site_server, 3)
    run_crawl(archive.registry, None, "--run-id", RUN_1)
    before = keys_under(archive.store, "raw/", "clean/")

    summary = feed_summary(run_crawl(archive.registry, None, "--run-id", RUN_2, "--force"), "synth")
    manifest = json.loads(archive.store.get_bytes(summary["manifest_key"]))
    assert {(o["url"], o["outcome"], o["reason"]) for o in manifest["urls"]} == {
        (url, "unchanged", "same-payload") for url in archive.urls
    }  # fetched (not "not-due"), and found identical
    assert summary["counts"]["unchanged"] == 3 and summary["counts"]["changed"] == 0
    assert keys_under(archive.store, "raw/", "clean/") == before
    assert_archive_consistent(archive.store)


def test_an_exception_in_the_article_callback_fails_that_entry_with_its_type_and_the_feed(tmp_path, site_server):
    """Scrapy only logs an exception raised in a spider callback: the entry still gets exactly one outcome."""
    spider = "tests.support.jsonld_spider.JsonLdSpider"  # reads each page's JSON-LD in its article callback
    archive = folder_archive(tmp_path, site_server, 3, spider_class=spider)
    broken = archive.pages[1]  # malformed JSON-LD, as some CMS templates emit: json.loads raises in the callback
    html = broken.read_text(encoding="utf-8")
    broken.write_text(html.replace("</head>", '<script type="application/ld+json">{"@type": </script></head>', 1))

    summary = feed_summary(run_crawl(archive.registry, None, "--run-id", RUN_1, expect_exit=1), "synth")
    manifest = json.loads(archive.store.get_bytes(summary["manifest_key"]))
    assert sorted(o["url"] for o in manifest["urls"]) == sorted(archive.urls)  # each entry exactly once
    by_url = {o["url"]: o for o in manifest["urls"]}
    failed = by_url[archive.urls[1]]
    assert (failed["outcome"], failed["reason"]) == ("failed", "JSONDecodeError"), failed
    assert "callback raised JSONDecodeError" in failed["detail"]
    assert {by_url[url]["outcome"] for url in (archive.urls[0], archive.urls[2])} == {"new"}
    assert summary["status"] == "failed" and "callback raised for 1 requests (JSONDecodeError 1)" in summary["error"]
    assert_archive_consistent(archive.store)


@pytest.mark.parametrize(
    ("spider", "says"),
    [("tests.support.no_such_spider.Spider", "cannot be loaded"), ("feedvault.keys.RunId", "not spiders.feeds")],
)
def test_a_spider_class_that_is_no_feed_spider_stops_the_run_before_anything_with_one_line(
    tmp_path, site_server, spider, says
):
    archive = folder_archive(tmp_path, site_server, 1, spider_class=spider)
    summary = run_crawl(archive.registry, None, "--run-id", RUN_1, expect_exit=2)
    assert summary["error"].startswith(f"settings.spider_class {spider!r}") and says in summary["error"]
    assert "Traceback" not in summary["_stderr"]
    assert not list(archive.store.list(""))  # nothing was crawled or written
