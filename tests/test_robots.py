"""robots.txt as RFC 9309 says, end to end: Crawl-delay honoured up to the cap, fetched once per host per
run, 4xx allows everything, the most specific user-agent group applies, and the evidence is kept."""

from __future__ import annotations

import hashlib
import itertools
import json

import pytest

from feedvault.demo.server import SiteServer
from tests.support.crawl import feed, run_crawl, write_registry

ARTICLE = """<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{title}</title></head><body>
<article><h1>{title}</h1>
<p>The harbour board met on Tuesday to discuss the winter dredging schedule for the inner basin and its moorings.</p>
<p>Members agreed that the work on {title} would start after the last ferry of the season had left the quay.</p>
<p>A public meeting about the plan is due in the town hall next month, the board's secretary said afterwards.</p>
</article></body></html>"""


def make_site(root, robots: str | None, paths: list[str]) -> None:
    root.mkdir(parents=True)
    if robots is not None:
        (root / "robots.txt").write_text(robots)
    items = "".join(
        f"<item><title>{p}</title><link>{{{{BASE_URL}}}}{p}</link><guid>{p}</guid>"
        f"<pubDate>Wed, 25 Nov 2026 10:00:00 +0000</pubDate></item>"
        for p in paths
    )
    (root / "feed.xml").write_text(
        f'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title>{items}</channel></rss>'
    )
    for path in paths:
        target = root / path.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(ARTICLE.format(title=path.rsplit("/", 1)[-1]))


SITES = {
    # Crawl-delay far above the cap: the cap (1 s) applies.
    "crawl-delay": ("User-agent: *\nCrawl-delay: 30\nAllow: /\n", ["/a/one.html", "/a/two.html", "/a/three.html"]),
    # No robots.txt at all (404): everything is allowed.
    "robots-404": (None, ["/a/open.html"]),
    # A group for our token beats the catch-all group that disallows everything.
    "ua-groups": (
        "User-agent: *\nDisallow: /\n\nUser-agent: feedvault\nDisallow: /private/\n",
        ["/a/public.html", "/private/closed.html"],
    ),
}


@pytest.fixture(scope="module")
def crawled(tmp_path_factory, seaweed):
    from tests.support.s3 import fresh_archive

    base = tmp_path_factory.mktemp("robots")
    storage, store = fresh_archive(seaweed)
    servers = {}
    for name, (robots, paths) in SITES.items():
        make_site(base / name, robots, paths)
        servers[name] = SiteServer(base / name).start()
    try:
        feeds = [
            feed(name, servers[name].url("/feed.xml"), politeness={"crawl_delay_cap_seconds": 1}) for name in SITES
        ]
        feeds.append(feed("ua-groups-again", servers["ua-groups"].url("/feed.xml")))  # a second feed, same host
        registry = write_registry(base / "feeds.yaml", storage, feeds)
        summary = run_crawl(registry, seaweed.credentials, "--run-id", "20261126T040000Z-robots")
        manifests = {f["feed"]: json.loads(store.get_bytes(f["manifest_key"])) for f in summary["feeds"]}
        yield manifests, servers
    finally:
        for server in servers.values():
            server.stop()


def test_crawl_delay_is_honoured_up_to_the_cap(crawled):
    manifests, servers = crawled
    manifest = manifests["crawl-delay"]
    assert manifest["counts"]["new"] == 3
    (evidence,) = manifest["robots"].values()
    assert evidence["crawl_delay_applied"] == 1.0  # 30 s asked, capped at 1 s
    times = sorted(r.time for r in servers["crawl-delay"].requests if r.path.startswith("/a/"))
    assert len(times) == 3
    gaps = [later - earlier for earlier, later in itertools.pairwise(times)]
    assert all(gap >= 0.9 for gap in gaps), gaps  # one request per delay, not all at once


def test_robots_is_fetched_once_per_host_with_its_evidence(crawled):
    manifests, servers = crawled
    for name, server in servers.items():
        assert server.hits("/robots.txt") == 1, name  # once per run, even for two feeds on one host
    assert manifests["ua-groups-again"]["robots"] == manifests["ua-groups"]["robots"]
    assert manifests["ua-groups-again"]["counts"]["refused"] == 1
    (evidence,) = manifests["crawl-delay"]["robots"].values()
    served = SITES["crawl-delay"][0].encode()
    assert evidence["status"] == 200 and evidence["sha256"] == hashlib.sha256(served).hexdigest()
    assert evidence["fetched_at"].startswith("20") and evidence["verdict"] == "rules"


def test_robots_4xx_allows_everything(crawled):
    manifests, _servers = crawled
    manifest = manifests["robots-404"]
    (evidence,) = manifest["robots"].values()
    assert evidence["status"] == 404 and evidence["verdict"] == "allow-all"
    assert manifest["counts"]["new"] == 1


def test_the_group_for_our_token_applies(crawled):
    manifests, servers = crawled
    outcomes = {u["url"].rsplit("/", 1)[-1]: (u["outcome"], u.get("reason")) for u in manifests["ua-groups"]["urls"]}
    assert outcomes == {"public.html": ("new", "new"), "closed.html": ("refused", "robots-txt")}
    assert servers["ua-groups"].hits("/private/closed.html") == 0
