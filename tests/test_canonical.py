"""A page's same-site `<link rel=canonical>` is its identity: URL variants of one article (an AMP view, a print
view, an extra query parameter) are one history, while its WARC records stay under the URL actually fetched.
Real crawls of the `canonical` fixture site (tests/fixtures/sites/README.md) into a plain-folder archive."""

from __future__ import annotations

import io
import json
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest

from feedvault import keys
from feedvault.archive.clean_segments import iter_records as iter_clean
from feedvault.archive.clean_segments import read_clean_record
from feedvault.archive.wacz import write_wacz
from feedvault.archive.warc import iter_records
from feedvault.catalog import open_catalog
from feedvault.config import StorageSettings
from feedvault.demo.server import SiteServer
from feedvault.store.backends import FileStore
from tests.support.checks import assert_archive_consistent
from tests.support.crawl import feed, feed_summary, run_crawl, write_registry

RUN_1, RUN_2, RUN_3, RUN_4 = (
    "20261126T020000Z-first",
    "20261127T020000Z-second",
    "20261128T020000Z-third",
    "20261129T020000Z-fourth",
)
CANONICAL = "/articles/lighthouse.html"
VARIANTS = ("/amp/articles/lighthouse.html", "/articles/lighthouse.html?view=full", "/print/lighthouse.html")


@dataclass
class Archive:
    server: SiteServer
    store: FileStore
    registry: Path
    data: Path

    def crawl(self, run_id: str, *args: str) -> dict:
        """The feed manifest of one run of the one feed."""
        summary = feed_summary(run_crawl(self.registry, None, "--run-id", run_id, *args), "canon")
        return json.loads(self.store.get_bytes(summary["manifest_key"]))

    def history(self, url: str) -> list[str]:
        with open_catalog(self.store, self.data / f"reader-{len(list(self.data.iterdir()))}") as catalog:
            return [s.run_id for s in catalog.history(url)]

    def warc_uris(self) -> set[str]:
        return {
            view.warc_headers.get("WARC-Target-URI")
            for obj in self.store.list("raw/")
            if obj.key.endswith(".warc.gz")
            for _o, _n, view in iter_records(self.store.get_bytes(obj.key))
            if view.rec_type != "warcinfo"
        }


@pytest.fixture
def canonical_site(tmp_path, site_server):
    def start(feed_path: str) -> Archive:
        server = site_server("canonical")
        root = tmp_path / "archive"
        storage = StorageSettings(uri=root.as_uri(), data_dir=str(tmp_path / "data"))
        registry = write_registry(tmp_path / "feeds.yaml", storage, [feed("canon", server.url(feed_path))])
        (tmp_path / "data").mkdir()
        return Archive(server, FileStore(root), registry, tmp_path / "data")

    return start


def clean_records(store: FileStore) -> list[dict]:
    """Every clean record left in the archive's segments (a taken-down record is blanked in place)."""
    return [record for obj in store.list("clean/") for _o, _n, record in iter_clean(store.get_bytes(obj.key))]


def by_path(manifest: dict, server: SiteServer) -> dict[str, dict]:
    return {o["url"].removeprefix(server.base_url): o for o in manifest["urls"]}


def test_url_variants_declaring_one_canonical_are_one_history(canonical_site):
    archive = canonical_site("/feed.xml")
    canonical = archive.server.url(CANONICAL)

    first = by_path(archive.crawl(RUN_1), archive.server)
    assert first[CANONICAL]["outcome"] == "new" and "fetched_url" not in first[CANONICAL]
    for variant in VARIANTS:  # the feed lists the canonical URL itself: its capture stands for the article
        assert (first[variant]["outcome"], first[variant]["reason"]) == ("skipped", "duplicate-canonical")
        assert first[variant]["canonical"] == {"href": canonical}
    records = clean_records(archive.store)
    assert len(records) == 3  # the lighthouse once, the ferry and the bridge
    assert read_clean_record(archive.store, first[CANONICAL]["clean_key"])["url"] == canonical

    second = by_path(archive.crawl(RUN_2, "--force"), archive.server)
    assert second[CANONICAL]["outcome"] == "unchanged"
    assert {second[v]["outcome"] for v in VARIANTS} == {"skipped"}

    archive.server.set_route(CANONICAL, {"file": "articles/lighthouse-v2.html"})  # the publisher corrects it
    third = by_path(archive.crawl(RUN_3), archive.server)
    assert (third[CANONICAL]["outcome"], third[CANONICAL]["reason"]) == ("changed", "revisit")
    assert archive.history(canonical) == [RUN_1, RUN_3]
    for variant in VARIANTS:
        assert archive.history(archive.server.url(variant)) == []  # no history of their own
    assert_archive_consistent(archive.store)


def test_variants_without_their_canonical_listed_are_archived_under_it_from_the_url_fetched(canonical_site):
    archive = canonical_site("/variants.xml")
    canonical = archive.server.url(CANONICAL)

    first = archive.crawl(RUN_1)
    [archived] = [o for o in first["urls"] if o["outcome"] == "new"]
    assert archived["url"] == canonical and archived["fetched_url"] in {archive.server.url(v) for v in VARIANTS}
    skipped = [o for o in first["urls"] if o["outcome"] == "skipped"]
    assert len(skipped) == 2 and {o["reason"] for o in skipped} == {"duplicate-canonical"}
    record = read_clean_record(archive.store, archived["clean_key"])
    assert (record["url"], record["fetched_url"]) == (canonical, archived["fetched_url"])
    assert record["canonical"] == {"href": canonical}
    assert archive.warc_uris() == {archived["fetched_url"]}  # what was served, under the URL it was served at
    assert_archive_consistent(archive.store)  # the pointer resolves to a record of the URL fetched

    # The variant archived last time keeps standing for the article: the others do not take turns.
    for run_id, args in ((RUN_2, ()), (RUN_3, ("--force",))):
        again = archive.crawl(run_id, *args)
        outcomes = {o.get("fetched_url") or o["url"]: o["outcome"] for o in again["urls"]}
        assert outcomes.pop(archived["fetched_url"]) == "unchanged", again["urls"]
        assert set(outcomes.values()) <= {"skipped", "unchanged"}, again["urls"]
    assert archive.history(canonical) == [RUN_1]
    assert_archive_consistent(archive.store)


def test_a_wacz_page_of_a_variant_capture_is_the_url_its_records_are_under(canonical_site):
    """Replay finds a page by the URL of its records: the one fetched, not the canonical identity."""
    archive = canonical_site("/variants.xml")
    [archived] = [o for o in archive.crawl(RUN_1)["urls"] if o["outcome"] == "new"]
    with open_catalog(archive.store, archive.data / "reader") as catalog:
        snapshots = [catalog.snapshot(s.id) for s in catalog.history(archive.server.url(CANONICAL))]
    out = io.BytesIO()
    summary = write_wacz(archive.store, snapshots, out, title="canonical")
    assert summary.pages == 1 and not summary.skipped
    with zipfile.ZipFile(out) as wacz:
        pages = [json.loads(line) for line in wacz.read("pages/pages.jsonl").splitlines()[1:]]
    assert [page["url"] for page in pages] == [archived["fetched_url"]]


def test_a_canonical_on_another_site_or_not_http_is_ignored_and_says_why(canonical_site):
    archive = canonical_site("/feed.xml")
    outcomes = by_path(archive.crawl(RUN_1), archive.server)
    for path, href, why in (
        ("/articles/ferry.html", "https://wire.example/stories/ferry-timetable", "cross-site"),
        ("/articles/bridge.html", "ftp://files.fixture.test/bridge.txt", "not-http"),
    ):
        entry = outcomes[path]
        assert entry["outcome"] == "new" and entry["url"] == archive.server.url(path)  # its own identity
        assert entry["canonical"] == {"href": href, "ignored": why}
        record = read_clean_record(archive.store, entry["clean_key"])
        assert record["url"] == archive.server.url(path) and "fetched_url" not in record
        assert record["canonical"] == {"href": href, "ignored": why}
    assert archive.history("https://wire.example/stories/ferry-timetable") == []
    assert_archive_consistent(archive.store)


@pytest.mark.parametrize("given", ["canonical", "fetched"])
def test_takedown_by_the_canonical_or_the_fetched_url_leaves_nothing(canonical_site, capsys, given):
    from feedvault import cli

    archive = canonical_site("/variants.xml")
    [archived] = [o for o in archive.crawl(RUN_1)["urls"] if o["outcome"] == "new"]
    archive.crawl(RUN_2)  # a second run: the other variants point at the canonical URL in the seen state
    url = archive.server.url(CANONICAL) if given == "canonical" else archived["fetched_url"]

    assert cli.main(["--registry", str(archive.registry), "takedown", "--url", url, "--reason", "publisher"]) == 0
    capsys.readouterr()
    assert not archive.warc_uris()  # no record of the URL fetched is left
    assert not clean_records(archive.store)
    every = {archive.server.url(CANONICAL), *(archive.server.url(v) for v in VARIANTS)}
    for gone in every:
        assert archive.store.head(keys.tombstone_key(gone)) is not None, gone
    assert archive.history(archive.server.url(CANONICAL)) == []
    assert_archive_consistent(archive.store)

    hits = {path: archive.server.hits(path.split("?")[0]) for path in VARIANTS}
    later = archive.crawl(RUN_4)
    assert {(o["outcome"], o["reason"]) for o in later["urls"]} == {("refused", "takedown")}
    assert {path: archive.server.hits(path.split("?")[0]) for path in VARIANTS} == hits  # not even fetched
    assert_archive_consistent(archive.store)
