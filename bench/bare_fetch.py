"""Bare Scrapy fetch: the cost floor of crawling, for ``bench/throughput.py``.

Fetches the URLs of a JSON job file (``{"urls": [...], "settings": {...}}``) with a minimal spider: the Scrapy
settings the bench passes (the runner's, without our middlewares and item pipeline), the runner's asyncio
reactor, and a callback that does nothing. Prints one JSON line: responses received, wall seconds and this
process's CPU seconds before and after the crawl (the difference excludes interpreter and Scrapy start-up).

Usage: ``python bench/bare_fetch.py JOB.json``.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import scrapy
from scrapy.crawler import Crawler, CrawlerProcess
from scrapy.http import Response
from scrapy.utils.reactor import install_reactor


class BareSpider(scrapy.Spider):
    name = "bare"

    def __init__(self, urls: list[str], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.urls = urls

    async def start(self) -> AsyncIterator[scrapy.Request]:
        for url in self.urls:
            yield scrapy.Request(url, callback=self.parse, dont_filter=True)

    def parse(self, response: Response, **kwargs: Any) -> None:
        return None


def main() -> int:
    job = json.loads(Path(sys.argv[1]).read_text())
    settings: dict[str, Any] = job["settings"]
    install_reactor("twisted.internet.asyncioreactor.AsyncioSelectorReactor")
    process = CrawlerProcess(settings={"LOG_LEVEL": settings["LOG_LEVEL"], "LOG_INSTALL_ROOT_HANDLER": False})
    logging.getLogger("scrapy").setLevel(settings["LOG_LEVEL"])
    crawler = Crawler(BareSpider, settings)
    process.crawl(crawler, urls=job["urls"])
    cpu_start, wall_start = time.process_time(), time.perf_counter()
    process.start(stop_after_crawl=True, install_signal_handlers=False)
    stats = crawler.stats.get_stats() if crawler.stats else {}
    print(
        json.dumps(
            {
                "responses": stats.get("response_received_count", 0),
                "crawl_wall": time.perf_counter() - wall_start,
                "cpu_start": cpu_start,
                "cpu_end": time.process_time(),
            }
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
