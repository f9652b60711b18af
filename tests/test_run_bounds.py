"""Bounded, duplicate-free runs: the baseline whatever the run ids' order, entry caps, one snapshot per article."""

from __future__ import annotations

import json
import urllib.request
from collections import Counter
from types import SimpleNamespace
from xml.sax.saxutils import escape

import yaml

from feedvault.config import StorageSettings
from feedvault.crawl.feed_documents import parse_feed
from feedvault.store.backends import FileStore
from tests.support.checks import assert_archive_consistent
from tests.support.crawl import feed, feed_summary, run_crawl, write_registry
from tests.support.sites import synthetic_site
from tests.test_archive_e2e import folder_archive, keys_under

MANUAL, SCHEDULED, BACKFILL = "20261126T143000Z-manual", "20261126T020000Z-scheduled", "20261101T020000Z-backfill"


def entries(archive, summary, feed_id="synth"):
    return json.loads(archive.store.get_bytes(feed_summary(summary, feed_id)["manifest_key"]))["urls"]


def outcomes(archive, summary, feed_id="synth"):
    manifest = json.loads(archive.store.get_bytes(feed_summary(summary, feed_id)["manifest_key"]))
    return {o["url"]: o for o in manifest["urls"]}


def test_a_run_whose_id_sorts_first_does_not_archive_unchanged_articles_again(tmp_path, site_server):
    """The scheduled 02:00 run after manual runs of the same day, and a backfill of an old logical date, compare
    with the newest snapshot whatever its run id: unchanged articles stay one snapshot."""
    archive = folder_archive(tmp_path, site_server, 6)
    first = run_crawl(archive.registry, None, "--run-id", MANUAL)
    assert first["totals"]["new"] == 6
    archived = keys_under(archive.store, "raw/", "clean/")

    for run_id in (SCHEDULED, BACKFILL):
        summary = run_crawl(archive.registry, None, "--run-id", run_id)
        assert summary["totals"]["new"] == summary["totals"]["changed"] == 0, summary["feeds"]
        assert {o["outcome"] for o in outcomes(archive, summary).values()} == {"unchanged"}
        assert keys_under(archive.store, "raw/", "clean/") == archived
    assert_archive_consistent(archive.store)


def feed_order(archive) -> list[str]:
    """The article URLs in the order the feed document lists them."""
    url = yaml.safe_load(archive.registry.read_text())["feeds"][0]["urls"][0]
    with urllib.request.urlopen(url, timeout=10) as response:  # the loopback fixture site
        return [entry.link for entry in parse_feed(response.read(), url).entries]


def test_an_entry_cap_bounds_each_run_and_the_next_run_continues_where_it_stopped(tmp_path, site_server):
    archive = folder_archive(tmp_path, site_server, 12, max_new_entries_per_run=5)
    order = feed_order(archive)
    assert len(order) == 12

    archived: list[str] = []
    for run_id, taken in ((MANUAL, 5), ("20261127T020000Z-second", 5), ("20261128T020000Z-third", 2)):
        summary = run_crawl(archive.registry, None, "--run-id", run_id)
        assert summary["status"] == "ok", summary["feeds"]  # a cap is not a failure
        by_url = outcomes(archive, summary)
        assert set(by_url) == set(order)  # every entry has an outcome, also the ones over the cap
        new = [url for url in order if by_url[url]["outcome"] == "new"]
        skipped = [url for url in order if by_url[url].get("reason") == "entry-cap"]
        assert new == order[len(archived) : len(archived) + taken]  # the next ones in feed order
        assert skipped == order[len(archived) + taken :]  # all of the rest, as skipped
        assert all(by_url[url]["outcome"] == "skipped" for url in skipped)
        assert all(by_url[url]["outcome"] == "unchanged" for url in archived)  # re-checked, not capped
        archived += new
    assert archived == order
    assert_archive_consistent(archive.store)


def test_a_feed_can_set_its_own_entry_cap(tmp_path, site_server):
    archive = folder_archive(tmp_path, site_server, 6)
    data = yaml.safe_load(archive.registry.read_text())
    data["feeds"][0]["max_new_entries_per_run"] = 2
    archive.registry.write_text(yaml.safe_dump(data))
    summary = run_crawl(archive.registry, None, "--run-id", MANUAL)
    counts = feed_summary(summary, "synth")["counts"]
    assert counts["new"] == 2 and counts["skipped"] == 4


def test_url_variants_of_one_article_become_one_snapshot(tmp_path, site_server):
    """Relative, escaped, protocol-relative, reordered and tagged links to one article: fetched once, one
    snapshot, and the next run finds it unchanged."""
    site = synthetic_site(tmp_path, 1)
    server = site_server(site.root)
    article = site.article_paths[0]  # e.g. /en/.../slug.html
    folder, name = article.rsplit("/", 1)
    escaped = f"{folder}/%{ord(name[0]):02X}{name[1:]}"  # its first letter percent-escaped
    host = server.base_url.split("://", 1)[1]
    variants = [
        f"{server.base_url}{article}?a=1&b=2",
        f".{article}?b=2&a=1",  # relative to the feed document, query reordered
        f"{server.base_url}{escaped}?a=1&b=2",
        f"//{host}{article}?a=1&b=2",  # protocol-relative
        f"{server.base_url}{article}?a=1&utm_source=newsletter&b=2&utm_medium=email",
        f"{server.base_url}{article}?fbclid=XYZ&a=1&b=2#comments",
        f"{server.base_url}{folder}/./{name}?a=1&b=2",
    ]
    items = "".join(
        f"<item><title>Variant {i}</title><link>{escape(link)}</link><guid>variant-{i}</guid>"
        "<pubDate>Wed, 25 Nov 2026 10:00:00 GMT</pubDate></item>"
        for i, link in enumerate(variants)
    )
    (site.root / "variants.xml").write_text(
        f'<?xml version="1.0"?><rss version="2.0"><channel><title>v</title>{items}</channel></rss>'
    )
    root = tmp_path / "archive"
    storage = StorageSettings(uri=root.as_uri(), data_dir=str(tmp_path / "data"))
    registry = write_registry(tmp_path / "feeds.yaml", storage, [feed("synth", server.url("/variants.xml"))])
    archive = SimpleNamespace(store=FileStore(root))

    first = run_crawl(registry, None, "--run-id", MANUAL)
    listed = entries(archive, first)
    assert Counter(o["outcome"] for o in listed) == {"new": 1, "skipped": len(variants) - 1}, listed
    (snapshot,) = [o for o in listed if o["outcome"] == "new"]
    assert snapshot["fetched_url"] == f"{server.base_url}{article}?a=1&b=2"  # fetched in its one form, untagged
    assert snapshot["url"] == f"{server.base_url}{article}"  # archived under the canonical link the page declares
    assert [r.path for r in server.requests if r.path.startswith(folder)] == [f"{article}?a=1&b=2"]
    assert len(keys_under(archive.store, "clean/")) == 1

    second = run_crawl(registry, None, "--run-id", "20261127T020000Z-second")
    assert [o["outcome"] for o in entries(archive, second) if o["outcome"] != "skipped"] == ["unchanged"]
    assert len(keys_under(archive.store, "clean/")) == 1
    assert_archive_consistent(archive.store)
