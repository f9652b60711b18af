"""The permission scan fails closed: what feedvault cannot read whole is refused, never archived.

A page whose tree the HTML parser truncated (a notice nested 300 elements deep, 50,000 nested divs), that is
not HTML at all, or whose scan raised, is refused as ``unscannable``; a page archived without text says so; a
``tdmrep.json`` that is invalid in any way is *unset* (TDMRep's rule for protocol errors), with evidence; a
reservation that appears only on a ``304 Not Modified`` is recorded and warned about. Real Scrapy crawls of
synthetic sites on 127.0.0.1 into real SeaweedFS, under bases where the signals matter.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from bench.throughput import DEFAULT_PAGES
from feedvault.archive.clean_segments import read_clean_record
from feedvault.config import CleaningRules
from feedvault.permission.signals import checked_scan, load_page, scan_page
from tests.support.checks import assert_archive_consistent, stored_clean_records
from tests.support.crawl import PERMISSION, feed, run_crawl, write_registry
from tests.support.s3 import fresh_archive

PUBLIC = {**PERMISSION, "basis": "public-feed-terms", "reference": "https://fixture.test/terms"}
LICENCE = {**PUBLIC, "basis": "licence", "licence": "CC-BY-4.0"}
NOTICE = (
    "Dilarang keras mengambil konten, melakukan crawling atau pengindeksan otomatis untuk AI di situs web ini "
    "tanpa izin tertulis dari redaksi."
)
STORY = (
    "<p>The river ferry will run an extra crossing on Saturdays from next month, the operator said.</p>"
    "<p>Passengers asked for the change at two public meetings held in the town hall this autumn.</p>"
    "<p>The operator will review the timetable again in spring, after counting passengers each weekend.</p>"
)
REAL_PAGES = DEFAULT_PAGES  # the shared real pages (../shared, read only; absent beside a clone elsewhere)


def page(title: str, body: str) -> str:
    return (
        f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{title}</title></head>'
        f"<body><header><nav><a href='/'>Ferry News</a></nav></header><main><article><h1>{title}</h1>{STORY}"
        f"{body}</article></main><footer><p>Ferry News is a synthetic site for feedvault tests.</p></footer>"
        "</body></html>"
    )


def nested(depth: int, inner: str) -> str:
    return "<div>" * depth + inner + "</div>" * depth


PAGES = {
    "/news/notice-shallow.html": page("Notice three deep", nested(3, f"<p>{NOTICE}</p>")),
    "/news/notice-deep.html": page("Notice three hundred deep", nested(300, f"<p>{NOTICE}</p>")),
    "/news/nested-divs.html": page("Fifty thousand divs", nested(50_000, "<p>Deep text.</p>")),
    "/news/not-html.html": "\x00\x01 just bytes, no markup at all \x02",
    "/news/no-text.html": (
        '<!DOCTYPE html><html lang="en"><head><title>Gallery</title></head><body><nav><a href="/">Home</a> '
        '<a href="/news/">News</a></nav><img src="/gallery.jpg" alt=""></body></html>'
    ),
    "/news/plain.html": page("An ordinary story", ""),
}


def write_site(root: Path, pages: dict[str, str], extra: dict[str, bytes] | None = None) -> Path:
    """A site with robots.txt, an RSS feed listing ``pages`` and the pages; ``extra`` files as given."""
    root.mkdir(parents=True)
    (root / "robots.txt").write_text("User-agent: *\nAllow: /\n")
    items = "".join(
        f"<item><title>{path}</title><link>{{{{BASE_URL}}}}{path}</link><guid>{path}</guid>"
        "<pubDate>Wed, 25 Nov 2026 10:00:00 +0000</pubDate></item>"
        for path in pages
    )
    (root / "feed.xml").write_text(
        f'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title>{items}</channel></rss>'
    )
    for path, html in {**pages}.items():
        target = root / path.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(html, encoding="utf-8")
    for path, data in (extra or {}).items():
        target = root / path.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    return root


# -- the scan itself (no network) -----------------------------------------------------------------------
@pytest.mark.parametrize("depth", [300, 3000, 50_000])
def test_a_truncated_tree_is_unscannable(depth):
    tree, problem = load_page(page("Deep", nested(depth, f"<p>{NOTICE}</p>")))
    assert tree is not None and "ERR_RESOURCE_LIMIT" in problem
    assert scan_page(page("Deep", nested(depth, f"<p>{NOTICE}</p>")), CleaningRules())["unscannable"] == problem


def test_a_page_the_parser_keeps_whole_is_scanned():
    scan = scan_page(page("Shallow", nested(200, f"<p>{NOTICE}</p>")), CleaningRules())
    assert "unscannable" not in scan and [n["kind"] for n in scan["notices"]] == ["ai-reservation"]


def test_content_that_is_not_html_is_unscannable():
    assert scan_page(PAGES["/news/not-html.html"], CleaningRules())["unscannable"] == "the page does not parse as HTML"
    assert "unscannable" not in scan_page("", CleaningRules())  # an empty body has nothing to miss


def test_a_scan_that_raises_makes_the_page_unscannable():
    """Whatever breaks the scan (here a tree it cannot walk) gives a verdict of unscannable, never no findings."""
    scan = checked_scan("not a parsed tree", CleaningRules(), None)  # type: ignore[arg-type]
    assert scan["unscannable"].startswith("the page scan failed (AttributeError") and scan["notices"] == []


@pytest.mark.skipif(not REAL_PAGES.is_dir(), reason="the shared benchmark pages are not on this machine")
def test_no_real_page_of_the_benchmark_is_unscannable():
    """The check flags what the parser lost, not ordinary sloppy HTML: none of 181 real news pages trips it."""
    from feedvault.cleaning import decode_html

    pages = sorted(REAL_PAGES.glob("*.html.gz"))
    assert len(pages) > 100
    flagged = [p.name for p in pages if load_page(decode_html(gzip.decompress(p.read_bytes()), None)[0])[1]]
    assert flagged == []


# -- real crawls ----------------------------------------------------------------------------------------
def outcomes_by_path(store, summary, base_url: str) -> dict[str, dict]:
    found = {}
    for feed_summary in summary["feeds"]:
        manifest = json.loads(store.get_bytes(feed_summary["manifest_key"]))
        found.update({u["url"].removeprefix(base_url): u for u in manifest["urls"]})
    return found


@pytest.fixture(scope="module")
def scanned(tmp_path_factory, seaweed):
    from feedvault.demo.server import SiteServer

    root = tmp_path_factory.mktemp("scan")
    storage, store = fresh_archive(seaweed)
    moved = {  # an entry that redirects to a page that refuses itself
        "/_routes.json": json.dumps({"/news/moved.html": {"redirect": "/news/noai-target.html"}}).encode(),
        "/news/noai-target.html": page("Moved", "")
        .replace("<head>", '<head><meta name="robots" content="noai">')
        .encode(),
    }
    with SiteServer(write_site(root / "site", {**PAGES, "/news/moved.html": ""}, moved)) as site:
        registry = write_registry(
            root / "feeds.yaml", storage, [feed("scan", site.url("/feed.xml"), permission=PUBLIC)]
        )
        summary = run_crawl(registry, seaweed.credentials, "--run-id", "20261126T050000Z-scan")
        yield outcomes_by_path(store, summary, site.base_url), store


@pytest.mark.parametrize("path", ["/news/notice-deep.html", "/news/nested-divs.html", "/news/not-html.html"])
def test_a_page_that_cannot_be_fully_scanned_is_refused_as_unscannable(scanned, path):
    outcomes, store = scanned
    got = outcomes[path]
    assert (got["outcome"], got["reason"]) == ("refused", "unscannable"), got
    deciding = [s for s in got["evidence"]["signals"] if s["signal"] == "unscannable"]
    assert deciding and deciding[0]["decision"] == "refuse"
    archived = [record["url"] for record in stored_clean_records(store, "clean/scan/").values()]
    assert not any(url.endswith(path) for url in archived)


def test_the_same_notice_three_levels_deep_is_refused_for_what_it_says(scanned):
    got = scanned[0]["/news/notice-shallow.html"]
    assert (got["outcome"], got["reason"]) == ("refused", "rights-notice"), got


def test_a_page_archived_without_text_says_no_text_was_extracted(scanned):
    outcomes, store = scanned
    got = outcomes["/news/no-text.html"]
    assert (got["outcome"], got["reason"]) == ("new", "no-text"), got
    assert "no text extracted" in got["detail"]
    assert read_clean_record(store, got["clean_key"])["text"] == ""
    plain = outcomes["/news/plain.html"]
    assert plain["outcome"] == "new" and plain["reason"] != "no-text"


def test_a_page_refused_after_a_redirect_is_the_entrys_outcome_and_names_the_target(scanned):
    got = scanned[0]["/news/moved.html"]
    assert (got["outcome"], got["reason"]) == ("refused", "noai"), got
    assert got["redirected_to"].endswith("/news/noai-target.html")


# -- invalid tdmrep.json --------------------------------------------------------------------------------
RESERVE_ALL = [{"location": "/", "tdm-reservation": 1, "tdm-policy": "https://fixture.test/policy.json"}]
TDMREP_FILES = {
    "bad-json": json.dumps(RESERVE_ALL).encode() + b" trailing words",
    "wrong-type": json.dumps(RESERVE_ALL[0]).encode(),  # an object, not an array of rules
    "too-deep": b"[" * 100_000 + b"]" * 100_000,
    "too-large": json.dumps(RESERVE_ALL * 20_000).encode(),  # about 1.5 MiB
    "wrong-encoding": json.dumps(RESERVE_ALL).encode("utf-16"),
}


@pytest.fixture(scope="module")
def tdmrep_crawled(tmp_path_factory, seaweed):
    """One site per kind of invalid file (and one valid file reserving everything), crawled under a licence."""
    from feedvault.demo.server import SiteServer

    root = tmp_path_factory.mktemp("tdmrep")
    storage, store = fresh_archive(seaweed)
    files = {**TDMREP_FILES, "valid": json.dumps(RESERVE_ALL).encode()}
    servers = {
        kind: SiteServer(
            write_site(root / kind, {"/news/plain.html": PAGES["/news/plain.html"]}, {"/.well-known/tdmrep.json": body})
        ).start()
        for kind, body in files.items()
    }
    try:
        feeds = [feed(kind, server.url("/feed.xml"), permission=LICENCE) for kind, server in servers.items()]
        registry = write_registry(root / "feeds.yaml", storage, feeds)
        summary = run_crawl(registry, seaweed.credentials, "--run-id", "20261126T060000Z-tdmrep")
        yield {f["feed"]: json.loads(store.get_bytes(f["manifest_key"]))["urls"][0] for f in summary["feeds"]}, store
    finally:
        for server in servers.values():
            server.stop()


@pytest.mark.parametrize("kind", list(TDMREP_FILES))
def test_an_invalid_tdmrep_file_is_unset_as_the_spec_says_and_recorded(tdmrep_crawled, kind):
    outcomes, store = tdmrep_crawled
    got = outcomes[kind]
    assert got["outcome"] == "new", got  # not a crash, not "too-large": the file is unset, the page judged
    record = read_clean_record(store, got["clean_key"])
    file_evidence = record["permission"]["tdmrep"]["file"]
    assert (file_evidence["valid"], file_evidence["invalid"], file_evidence["rules"]) == (False, kind, 0)
    assert "treated as unset" in file_evidence["error"]
    assert record["permission"]["tdmrep"]["reservation"] is None


def test_the_same_reservation_in_a_valid_file_refuses(tdmrep_crawled):
    got = tdmrep_crawled[0]["valid"]
    assert (got["outcome"], got["reason"]) == ("refused", "tdmrep"), got
    assert_archive_consistent(tdmrep_crawled[1])


# -- signals on a 304 -----------------------------------------------------------------------------------
NOT_MODIFIED_SIGNALS = {
    "/news/noai.html": ("X-Robots-Tag", "noai"),
    "/news/noarchive.html": ("X-Robots-Tag", "noarchive"),
    "/news/reserved.html": ("tdm-reservation", "1"),
    "/news/usage.html": ("Content-Usage", "all=n"),  # AIPREF: no automated processing
}


def test_a_reservation_that_appears_only_on_a_304_is_recorded_and_warned_about(tmp_path, seaweed):
    from feedvault.demo.server import SiteServer

    storage, store = fresh_archive(seaweed)
    pages = {path: page(f"Story {path}", "") for path in NOT_MODIFIED_SIGNALS}
    with SiteServer(write_site(tmp_path / "site", pages)) as site:
        registry = write_registry(
            tmp_path / "feeds.yaml", storage, [feed("revisit", site.url("/feed.xml"), permission=PUBLIC)]
        )
        first = run_crawl(registry, seaweed.credentials, "--run-id", "20261126T070000Z-first")
        assert first["totals"]["new"] == len(NOT_MODIFIED_SIGNALS)
        for path, (header, value) in NOT_MODIFIED_SIGNALS.items():
            site.set_route(path, {"headers": {header: value}})
        second = run_crawl(registry, seaweed.credentials, "--run-id", "20261127T070000Z-second")
        outcomes = outcomes_by_path(store, second, site.base_url)
    (summary,) = second["feeds"]
    for path in NOT_MODIFIED_SIGNALS:
        got = outcomes[path]
        assert (got["outcome"], got["reason"], got["http_status"]) == ("unchanged", "not-modified", 304), got
        evidence = got["evidence"]
        assert evidence["on"] == "304 Not Modified" and evidence["decision"] == "refuse"
        assert any(s["source"] == "header" and s["decision"] == "refuse" for s in evidence["signals"]), evidence
        assert any(path in w and "304 Not Modified" in w and "takedown" in w for w in summary["warnings"]), summary
    assert len(stored_clean_records(store, "clean/revisit/")) == len(
        NOT_MODIFIED_SIGNALS
    )  # the old snapshots stay (documented)
    assert_archive_consistent(store)


def test_the_archive_is_consistent_after_unscannable_pages(scanned):
    _outcomes, store = scanned
    assert_archive_consistent(store)
