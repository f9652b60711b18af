"""The Scrapy settings the runner builds, checked against Scrapy itself in a fresh interpreter."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.support.crawl import REPO

PROBE = """
import json, sys, types
import scrapy
from scrapy.crawler import Crawler, CrawlerProcess
from scrapy.utils.reactor import install_reactor
from feedvault.config import BUNDLED_REGISTRY, load_registry
from feedvault.runner import scrapy_settings

class Idle(scrapy.Spider):
    name = "idle"

    async def start(self):
        return
        yield

install_reactor("twisted.internet.asyncioreactor.AsyncioSelectorReactor")
registry = load_registry(BUNDLED_REGISTRY)
feed = registry.feeds[0]
politeness = feed.effective_politeness(registry.settings.politeness)
crawl = types.SimpleNamespace(settings=registry.settings, politeness=politeness)
crawler = Crawler(Idle, {**scrapy_settings(crawl, "WARNING"), "ITEM_PIPELINES": {}, "DOWNLOADER_MIDDLEWARES": {}})
process = CrawlerProcess({"LOG_LEVEL": "WARNING"})
process.crawl(crawler)
process.start()
modules = ("aiohttp", "scrapy.extensions.remote_control", "twisted.conch.telnet")
print(json.dumps({
    "extensions": [type(e).__name__ for e in crawler.extensions.middlewares],
    "imported": [m for m in modules if m in sys.modules],
}))
"""


def test_listening_extensions_are_not_even_imported() -> None:
    """A crawler opens no sockets to listen on, and does not pay start-up time for modules that would."""
    proc = subprocess.run([sys.executable, "-c", PROBE], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout.splitlines()[-1])
    assert result["imported"] == []
    assert {"CoreStats", "LogStats"} <= set(result["extensions"])  # the crawl really ran its extensions
