"""A test-only spider (``settings.spider_class``): the feed spider whose article callback also reads the page's
JSON-LD metadata, as spiders that collect structured data do. A page whose JSON-LD is malformed makes ``json.loads``
raise inside the callback: a real exception in Scrapy's callback, for the tests of what the crawl does then."""

from __future__ import annotations

import json
from collections.abc import Iterator

from scrapy.http import Response

from feedvault.crawl.items import ArticleCapture
from spiders.feeds import FeedSpider


class JsonLdSpider(FeedSpider):
    def parse_article(self, response: Response) -> Iterator[ArticleCapture]:
        if response.status != 304:
            for script in response.xpath('//script[@type="application/ld+json"]/text()').getall():
                json.loads(script)  # raises on a malformed block
        yield from super().parse_article(response)
