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
from feedvault.crawl.runner import scrapy_settings

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
    assert "ScrapyDeprecationWarning" not in proc.stderr  # no setting Scrapy has deprecated: clean task logs


PINNED_FETCH = """
import json, sys, types
import scrapy
from scrapy.crawler import Crawler, CrawlerProcess
from scrapy.utils.reactor import install_reactor
from feedvault.config import BUNDLED_REGISTRY, load_registry
from feedvault.crawl.runner import scrapy_settings
from spiders.middlewares import NetworkGuardMiddleware, PerHost

url = sys.argv[1]
results = []

class GuardWithItsOwnAnswer(NetworkGuardMiddleware):
    # The runner's guard, whose DNS answer for a name no real DNS knows is the local site's address.
    @classmethod
    def from_crawler(cls, crawler):
        return cls(["127.0.0.1/32"], PerHost(), resolver=lambda host, port: ["127.0.0.1"])

class Fetch(scrapy.Spider):
    name = "fetch"

    async def start(self):
        yield scrapy.Request(url, callback=self.done, errback=self.failed, dont_filter=True)

    def done(self, response):
        results.append(["fetched", response.status])

    def failed(self, failure):
        results.append(["failed", type(failure.value).__name__])

install_reactor("twisted.internet.asyncioreactor.AsyncioSelectorReactor")
registry = load_registry(BUNDLED_REGISTRY)
crawl = types.SimpleNamespace(settings=registry.settings, politeness=registry.settings.politeness)
settings = scrapy_settings(crawl, "WARNING")
others = {k: None for k, v in settings["DOWNLOADER_MIDDLEWARES"].items() if v is None}  # Scrapy's own, off
settings.update(ITEM_PIPELINES={}, DOWNLOADER_MIDDLEWARES={**others, GuardWithItsOwnAnswer: 50})
process = CrawlerProcess({"LOG_LEVEL": "WARNING"})
process.crawl(Crawler(Fetch, settings))
process.start()
print(json.dumps(results))
"""


def test_scrapy_connects_to_the_address_the_guard_judged(site_server) -> None:
    """No second DNS lookup between the SSRF guard's check and the connection (DNS rebinding): the guard's answer
    is the one Scrapy uses. Here the name exists only in the guard's answer, so a fetch that reaches the local
    site proves the connection went where the guard looked."""
    server = site_server("demo")
    url = f"http://feedvault-pinned.test:{server.port}/robots.txt"
    proc = subprocess.run(
        [sys.executable, "-c", PINNED_FETCH, url], cwd=REPO, capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout.splitlines()[-1]) == [["fetched", 200]], proc.stderr[-3000:]


def test_no_spider_callback_returns_a_value_so_scrapy_need_not_parse_them_per_response() -> None:
    """Scrapy's per-response check of callbacks for a generator returning a value is off (it re-parses the
    callback's source on every response): so every generator method of our spiders must pass that check, as
    Scrapy itself would run it."""
    import inspect
    import types

    from scrapy.utils.misc import is_generator_with_return_value

    import spiders.feeds
    from feedvault.config import BUNDLED_REGISTRY, load_registry
    from feedvault.crawl.runner import scrapy_settings

    classes = [c for _n, c in inspect.getmembers(spiders.feeds, inspect.isclass) if c.__module__ == "spiders.feeds"]
    methods = [f for cls in classes for _n, f in inspect.getmembers(cls, inspect.isfunction)]
    generators = [f for f in methods if inspect.isgeneratorfunction(f)]
    assert "parse_article" in {f.__name__ for f in generators}
    assert [f.__qualname__ for f in generators if is_generator_with_return_value(f)] == []
    registry = load_registry(BUNDLED_REGISTRY)
    politeness = registry.feeds[0].effective_politeness(registry.settings.politeness)
    crawl = types.SimpleNamespace(settings=registry.settings, politeness=politeness)
    assert scrapy_settings(crawl, "WARNING")["WARN_ON_GENERATOR_RETURN_VALUE"] is False  # type: ignore[arg-type]
