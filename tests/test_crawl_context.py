"""Scrapy components get their feed crawl from the crawler it is attached to, and say so when it is not."""

from __future__ import annotations

import pytest
from scrapy.crawler import Crawler

from feedvault.crawl.context import CrawlNotAttached, FeedCrawl
from pipelines.archiving import ArchivePipeline
from spiders.feeds import FeedSpider
from spiders.middlewares import NetworkGuardMiddleware, RobotsPolicyMiddleware


@pytest.mark.parametrize("component", [ArchivePipeline, NetworkGuardMiddleware, RobotsPolicyMiddleware, FeedSpider])
def test_a_component_in_a_crawler_without_a_feed_crawl_says_how_to_attach_one(component) -> None:
    crawler = Crawler(FeedSpider, {})
    with pytest.raises(CrawlNotAttached, match=r"FeedCrawl\.attach\(crawler\)"):
        component.from_crawler(crawler)


def test_a_crawl_is_found_only_through_the_crawler_it_was_attached_to() -> None:
    attached, other = Crawler(FeedSpider, {}), Crawler(FeedSpider, {})
    crawl = FeedCrawl(config=None, services=None, tally=None)  # type: ignore[arg-type]  (identity only)
    crawl.attach(attached)
    assert FeedCrawl.of(attached) is crawl
    with pytest.raises(CrawlNotAttached):
        FeedCrawl.of(other)


def test_the_shards_of_a_feed_share_its_request_rate() -> None:
    """Each of K shards waits K times the feed's download delay: the publisher sees one crawl's rate."""
    import datetime as dt

    from feedvault.config import FeedConfig, Settings
    from feedvault.crawl.context import CrawlConfig
    from feedvault.crawl.plan import RunPlan, Shard
    from feedvault.crawl.runner import scrapy_settings
    from feedvault.keys import RunId

    feed = FeedConfig(id="big", publisher="P", urls=("http://127.0.0.1:9/f.xml",), politeness={"download_delay": 0.5})
    whole = RunPlan.build(run_id="20261126T020000Z", feeds=["big"], write_run_manifest=False)

    def delay(plan: RunPlan) -> float:
        config = CrawlConfig(feed, Settings(), RunId(plan.run_id), {}, dt.datetime.now(dt.UTC), plan)
        return scrapy_settings(config, "INFO")["DOWNLOAD_DELAY"]

    assert delay(whole) == 0.5
    assert delay(whole.model_copy(update={"shard": Shard(index=1, count=4)})) == 2.0
