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
