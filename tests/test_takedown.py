"""Takedown: after it, nothing of the URL can be read from the archive but its tombstone, the other captures
still resolve, and later runs refuse the URL. Real crawls of the demo publisher into SeaweedFS."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import urllib.request

import pytest
from warcio.archiveiterator import ArchiveIterator

from feedvault import keys
from feedvault.config import BUNDLED_REGISTRY, load_registry
from feedvault.demo import ARTICLE_SENTINELS
from tests.support.checks import assert_archive_consistent as assert_checker_finds_nothing
from tests.support.checks import stored_clean_records
from tests.support.crawl import run_crawl, write_registry

RUN_1, RUN_2, RUN_3 = "20261126T020000Z-td-first", "20261127T020000Z-td-second", "20261128T020000Z-td-third"
# In both the English feed and the news sitemap, so two feeds hold it.
PATH = "/en/news/2026/11/26/council-approves-night-time-quiet-zone-around-marina.html"
CORRECTION = "A correction was added to this synthetic article after publication."


@pytest.fixture
def demo(tmp_path, site_server, s3_storage, s3_store, monkeypatch):
    server = site_server("demo")
    monkeypatch.setenv("FEEDVAULT_DEMO_URL", server.base_url)
    feeds = [f.model_dump(mode="json", exclude_defaults=True) for f in load_registry(BUNDLED_REGISTRY).feeds]
    storage, credentials = s3_storage
    storage = storage.model_copy(update={"data_dir": str(tmp_path / "data")})
    registry = write_registry(tmp_path / "feeds.yaml", storage, feeds)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", credentials.access_key_id)  # for the in-process CLI
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", credentials.secret_access_key)
    return server, registry, credentials, s3_store


def takedown(registry, capsys, *args: str) -> str:
    from feedvault import cli

    capsys.readouterr()
    assert cli.main(["--registry", str(registry), "takedown", *args]) == 0
    captured = capsys.readouterr()
    return captured.out + captured.err


def snapshot(store) -> dict[str, str | None]:
    return {obj.key: obj.etag for obj in store.list("")}


def readable(store, key: str) -> str:
    data = store.get_bytes(key)
    if key.endswith(".gz"):
        data = gzip.decompress(data)  # all members: every WARC record
    return data.decode("utf-8", errors="replace")


def warc_text_but_pages(store, key: str) -> str:
    """A WARC's headers and records, without the response payloads (other pages may link to the URL)."""
    parts = []
    for record in ArchiveIterator(io.BytesIO(store.get_bytes(key))):
        parts.append(str(record.rec_headers.headers) + str(record.http_headers.headers if record.http_headers else ""))
        body = record.content_stream().read()
        if record.rec_type != "response":
            parts.append(body.decode("utf-8", errors="replace"))
    return "\n".join(parts)


def catalog_text_but_tombstones(store, key: str) -> str:
    """Every row of a published catalog file or piece except its takedown listing (which names the URL, as the
    tombstone does)."""
    import sqlite3
    import tempfile

    with tempfile.NamedTemporaryFile(suffix=".sqlite") as copy:
        copy.write(store.get_bytes(key))
        copy.flush()
        conn = sqlite3.connect(copy.name)
        tables = [row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        rows = [str(conn.execute(f'SELECT * FROM "{t}"').fetchall()) for t in tables if t != "tombstones"]
        conn.close()
    return "\n".join(rows)


def leaks(store, text: list[str], urls: list[str] = ()) -> dict[str, list[str]]:
    """Objects (but tombstones) whose bytes contain one of ``text`` (WARCs decompressed), or one of ``urls``
    anywhere but inside another page's HTML (a link to it). The browse catalog's pieces are checked too: the
    takedown rewrites those that held the URL."""
    found = {}
    for obj in store.list(""):
        if obj.key.startswith("tombstones/"):
            continue
        whole = readable(store, obj.key)
        if obj.key.endswith(".warc.gz"):
            meta = warc_text_but_pages(store, obj.key)
        elif obj.key == keys.CATALOG_KEY or obj.key.startswith(keys.CATALOG_PIECES_PREFIX):
            meta = catalog_text_but_tombstones(store, obj.key)
        else:
            meta = whole
        hits = [n for n in text if n in whole] + [u for u in urls if u in meta or u in obj.key]
        if hits:
            found[obj.key] = hits
    return found


def assert_archive_consistent(store) -> int:
    """Every WARC parses as warcinfo + request/response/metadata triples, and every clean JSON's pointer
    returns exactly its response record with one ranged GET; every CDXJ index matches its (rewritten) WARC.
    Returns how many pointers were checked."""
    from feedvault.archive.cdxj import CDXJ_SUFFIX, cdxj_key, index_warc

    raw_keys = [obj.key for obj in store.list("raw/")]
    warc_keys = [k for k in raw_keys if k.endswith(".warc.gz")]
    assert {k for k in raw_keys if k.endswith(CDXJ_SUFFIX)} == {cdxj_key(k) for k in warc_keys}
    for key in warc_keys:
        assert store.get_bytes(cdxj_key(key)) == index_warc(store.get_bytes(key), key), key
    for obj in (store.head(k) for k in warc_keys):
        types = [r.rec_type for r in ArchiveIterator(io.BytesIO(store.get_bytes(obj.key)))]
        assert types[0] == "warcinfo" and types[1:] == ["request", "response", "metadata"] * ((len(types) - 1) // 3)
        assert len(types) > 1, f"{obj.key} holds no capture but was kept"
    checked = 0
    for pointer, record in stored_clean_records(store).items():
        raw = record["raw"]
        chunk = store.get_bytes(raw["warc_key"], start=raw["offset"], length=raw["length"])
        got = [
            (
                r.rec_type,
                r.rec_headers.get_header("WARC-Target-URI"),
                hashlib.sha256(r.content_stream().read()).hexdigest(),
            )
            for r in ArchiveIterator(io.BytesIO(chunk))
        ]
        assert got == [("response", record["url"], raw["sha256"])], pointer
        checked += 1
    return checked


def target_uris(store) -> list[str]:
    return [
        r.rec_headers.get_header("WARC-Target-URI")
        for obj in store.list("raw/")
        if obj.key.endswith(".warc.gz")
        for r in ArchiveIterator(io.BytesIO(store.get_bytes(obj.key)))
        if r.rec_type == "response"
    ]


def test_takedown_of_a_url(demo, capsys):
    server, registry, credentials, store = demo
    url = server.url(PATH)
    original = ARTICLE_SENTINELS[PATH]
    assert run_crawl(registry, credentials, "--run-id", RUN_1)["status"] == "ok"
    with urllib.request.urlopen(url, timeout=10) as response:  # loopback fixture server
        page = response.read().decode()
    server.set_route(PATH, {"body": page.replace(original, CORRECTION)})
    second = run_crawl(registry, credentials, "--run-id", RUN_2)
    assert second["totals"]["changed"] == 2  # the English feed and the news sitemap
    assert target_uris(store).count(url) == 4 and len(leaks(store, [original, CORRECTION])) >= 4
    warcs_before = {o.key: target_uris_of(store, o.key) for o in store.list("raw/") if o.key.endswith(".warc.gz")}

    # Dry run: lists what would go, changes nothing.
    before = snapshot(store)
    out = takedown(registry, capsys, "--url", url, "--reason", "publisher request", "--dry-run")
    assert snapshot(store) == before
    assert "would rewrite" in out and "would delete" in out and "would remove 4 clean snapshot(s)" in out

    out = takedown(registry, capsys, "--url", url, "--reason", "publisher request FG-12")
    assert "audit entry: audit/" in out

    # Nothing of the URL is readable but its tombstone: no key, no byte of any object (WARCs decompressed).
    assert leaks(store, [original, CORRECTION], [url, PATH]) == {}
    tombstone = json.loads(store.get_bytes(keys.tombstone_key(url)))
    assert tombstone["url"] == url and tombstone["reason"] == "publisher request FG-12"
    assert (
        tombstone["status"] == "complete" and tombstone["date"] and set(tombstone["feeds"]) == {"demo-en", "demo-news"}
    )
    kinds = {item["kind"] for item in tombstone["removed"]}
    assert {"clean", "warc-records", "state", "manifest-mentions"} <= kinds
    (audit_key,) = [o.key for o in store.list("audit/")]
    audit = json.loads(store.get_bytes(audit_key))
    assert audit["action"] == "takedown" and audit["url_keys"] == [keys.url_key(url)]
    assert audit["warc_records_removed"] == 12 and audit["clean_deleted"] == 4 and audit["state_entries_removed"] == 2

    # WARCs that held other captures still parse and hold them; the run-2 WARCs held only this URL: gone.
    after = {o.key: target_uris_of(store, o.key) for o in store.list("raw/") if o.key.endswith(".warc.gz")}
    for key, uris in warcs_before.items():
        others = [u for u in uris if u != url]
        assert after.get(key, []) == others, key
    assert sorted(audit["warcs_deleted"]) == sorted(k for k, uris in warcs_before.items() if set(uris) == {url})
    assert assert_archive_consistent(store) > 0 and audit["clean_pointers_updated"] > 0
    manifest = json.loads(store.get_bytes(keys.feed_manifest_key(keys.RunId(RUN_1), "demo-en")))
    assert {"url": "[removed: takedown]", "outcome": "new", "role": "article"} in manifest["urls"]
    assert manifest["counts"]["new"] == len(manifest["urls"])

    # A second takedown is harmless (idempotent); the next run refuses the URL without fetching it.
    takedown(registry, capsys, "--url", url, "--reason", "publisher request FG-12")
    assert assert_archive_consistent(store) > 0
    hits = server.hits(PATH)
    third = run_crawl(registry, credentials, "--run-id", RUN_3, "--force")
    assert server.hits(PATH) == hits
    for feed_id in ("demo-en", "demo-news"):
        manifest = json.loads(store.get_bytes(keys.feed_manifest_key(keys.RunId(RUN_3), feed_id)))
        (entry,) = [u for u in manifest["urls"] if u["url"] == url]
        assert (entry["outcome"], entry["reason"]) == ("refused", "takedown")
    assert third["totals"]["refused"] == 2
    assert url not in target_uris(store)
    assert url not in {record["url"] for record in stored_clean_records(store).values()}
    assert_checker_finds_nothing(store)


def target_uris_of(store, key: str) -> list[str]:
    return [
        r.rec_headers.get_header("WARC-Target-URI")
        for r in ArchiveIterator(io.BytesIO(store.get_bytes(key)))
        if r.rec_type == "response"
    ]


def test_takedown_of_a_feed(demo, capsys):
    server, registry, credentials, store = demo
    assert run_crawl(registry, credentials, "--run-id", RUN_1)["status"] == "ok"
    id_paths = [p for p in ARTICLE_SENTINELS if p.startswith("/id/")]
    id_urls = [server.url(p) for p in id_paths]
    assert set(id_urls) & set(target_uris(store))

    out = takedown(registry, capsys, "--feed", "demo-id", "--reason", "licence withdrawn")
    assert "6 URL(s) of feed demo-id" in out
    for prefix in ("raw/demo-id/", "clean/demo-id/", "state/demo-id.json"):
        assert not list(store.list(prefix)), prefix
    for url in id_urls:
        tombstone = json.loads(store.get_bytes(keys.tombstone_key(url)))
        assert tombstone["reason"] == "licence withdrawn" and tombstone["scope"] == "feed demo-id"
    # The news sitemap held some of these URLs too: gone from its WARC and clean partition as well.
    assert leaks(store, [ARTICLE_SENTINELS[p] for p in id_paths], id_urls) == {}
    assert assert_archive_consistent(store) > 0
    assert [o.key for o in store.list("clean/demo-en/")]  # other feeds untouched

    third = run_crawl(registry, credentials, "--run-id", RUN_2, "--force")
    summary = next(f for f in third["feeds"] if f["feed"] == "demo-id")
    assert summary["counts"]["refused"] == len(id_urls) and summary["counts"]["new"] == 0
    assert_checker_finds_nothing(store)


@pytest.mark.parametrize("store_kind", ["s3", "file"])
def test_state_scrub_neither_overwrites_nor_is_overwritten_by_a_crawl_saving_meanwhile(store_kind, request, tmp_path):
    """The crawl's save lands between the takedown's read and its write: the takedown's conditional write
    loses, it reads again and scrubs again; the crawl's new entry and the removal both stay."""
    import datetime as dt

    from feedvault.crawl.seen_state import SeenSnapshot, SeenState
    from feedvault.permission.takedown import Plan, Takedown, Target
    from feedvault.store.backends import FileStore

    store = request.getfixturevalue("s3_store") if store_kind == "s3" else FileStore(tmp_path / "archive")
    now = dt.datetime(2026, 11, 26, 2, tzinfo=dt.UTC)
    victim, kept, arriving = "https://news.example/victim", "https://news.example/kept", "https://news.example/new"

    def remember(state: SeenState, url: str) -> None:
        snapshot = SeenSnapshot(
            run_id="20261126T020000Z", sha256="0" * 64, clean_key=None, warc_key=None, fetched_at=""
        )
        state.record(url, now=now, entry_updated=None, published=now, snapshot=snapshot)

    state = SeenState("f")
    remember(state, victim)
    remember(state, kept)
    assert state.save(store)
    crawl = SeenState.load(store, "f")  # a crawl that started before the takedown
    remember(crawl, arriving)

    class CrawlSavesFirst:
        """The real store; the crawl's save happens just before the takedown's first write reaches it."""

        def __init__(self) -> None:
            self.saved = False

        def crawl_saves(self) -> None:
            if not self.saved:
                self.saved = crawl.save(store)

        def put_if(self, *args, **kwargs):
            self.crawl_saves()
            return store.put_if(*args, **kwargs)

        def put_bytes(self, *args, **kwargs):  # a blind write would be interleaved the same way
            self.crawl_saves()
            return store.put_bytes(*args, **kwargs)

        def __getattr__(self, name):
            return getattr(store, name)

    plan = Plan({keys.url_key(victim): Target(victim)})
    interleaved = CrawlSavesFirst()
    gone = Takedown(interleaved, reason="test", echo=lambda _line: None)._scrub_state(keys.state_key("f"), plan, False)
    assert interleaved.saved and gone == [keys.url_key(victim)]
    assert {entry.url for entry in SeenState.load(store, "f").urls.values()} == {kept, arriving}


def test_planning_reads_manifests_in_parallel_batches_in_order_and_shows_progress(archived_demo, tmp_path, monkeypatch):
    """Years of runs mean tens of thousands of manifests: the plan reads them in parallel, a batch at a time,
    says how far it got, and finds exactly what a one-by-one read finds."""
    from feedvault.permission import takedown as module
    from feedvault.permission.takedown import Takedown
    from feedvault.store.backends import FileStore
    from tests.support.archive import copy_archive

    store = FileStore(tmp_path / "archive")
    copy_archive(archived_demo.store, store)
    manifests = [obj.key for obj in store.list("runs/")]
    assert len(manifests) >= 8

    def plan(readers: int, batch: int, **kwargs):
        monkeypatch.setattr(module, "READERS", readers)
        monkeypatch.setattr(module, "READ_BATCH", batch)
        lines: list[str] = []
        found = Takedown(store, reason="check", echo=lines.append, **kwargs).plan_url(archived_demo.changed_url)
        return found, lines

    reference, _ = plan(1, 1)
    found, lines = plan(16, 3, progress_every=3)  # several batches even on this small archive
    assert found.manifests == reference.manifests and found.manifests  # same manifests, same order
    assert {k: (t.clean_keys, t.warc_keys) for k, t in found.targets.items()} == {
        k: (t.clean_keys, t.warc_keys) for k, t in reference.targets.items()
    }
    progress = [line for line in lines if "run manifests" in line]
    assert progress[0] == f"  read 3/{len(manifests)} run manifests" and len(progress) == len(manifests) // 3


def cdxj_text(store) -> str:
    return "".join(store.get_bytes(o.key).decode() for o in store.list("raw/") if o.key.endswith(".cdxj"))


def test_takedown_removes_records_that_no_manifest_or_clean_record_points_at(tmp_path, site_server, capsys):
    """The archive refused the run's manifest: the URL's request, response and metadata records sit in an
    uploaded WARC (and its CDXJ, so pywb replays it) and its clean record in an uploaded segment, and nothing
    names them. The takedown finds them by scanning the WARC indexes and the uncommitted segments, removes them
    from the WARC, the CDXJ and the segment, and its audit entry lists what it removed."""
    from tests.support.crawl import crawl_that_cannot_commit
    from tests.test_archive_e2e import folder_archive

    archive = folder_archive(tmp_path, site_server, 6)
    store, victim = archive.store, archive.urls[0]
    crawl_that_cannot_commit(archive.registry, store, archive.block, RUN_1)
    (warc,) = [o.key for o in store.list("raw/") if o.key.endswith(".warc.gz")]
    assert target_uris(store).count(victim) == 1 and victim in cdxj_text(store)
    assert victim in {record["url"] for record in stored_clean_records(store).values()}

    out = takedown(archive.registry, capsys, "--url", victim, "--reason", "publisher request")
    assert f"rewrite {warc}: 3 record(s) removed" in out
    assert victim not in target_uris(store) and sorted(target_uris(store)) == sorted(archive.urls[1:])
    assert victim not in cdxj_text(store) and all(u in cdxj_text(store) for u in archive.urls[1:])
    clean_urls = sorted(record["url"] for record in stored_clean_records(store).values())
    assert clean_urls == sorted(archive.urls[1:])
    assert leaks(store, [], [victim]) == {}
    (audit_key,) = [o.key for o in store.list("audit/")]
    audit = json.loads(store.get_bytes(audit_key))
    assert audit["warcs_rewritten"] == [warc] and audit["warc_records_removed"] == 3
    assert {"kind": "warc-records", "key": warc, "records": 3} in audit["removed"][keys.url_key(victim)]
