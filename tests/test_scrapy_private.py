"""The private Scrapy and Twisted APIs feedvault relies on, pinned against the locked versions.

Every one is named in ``spiders/scrapy_private.py`` only. Each check here runs what feedvault needs of it in a
fresh interpreter (Scrapy's reactor is installed once per process), so a Scrapy upgrade that changes any of
them fails here, by name, instead of quietly changing how the crawl behaves.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from typing import Any

import pytest
import scrapy

from spiders.scrapy_private import SCRAPY_VERSION
from tests.support.crawl import REPO

PROBE = r"""
import gzip, json, sys
from scrapy import Request
from scrapy.http import Response
from scrapy.utils.reactor import install_reactor
from scrapy.utils.test import get_crawler

install_reactor("twisted.internet.asyncioreactor.AsyncioSelectorReactor")

results = {}

def check(name):
    def wrap(fn):
        try:
            results[name] = fn()
        except Exception as exc:
            results[name] = f"raised {type(exc).__name__}: {exc}"
        return fn
    return wrap

@check("slot_delay")
def _():
    from scrapy.core.downloader import Downloader
    from spiders.scrapy_private import raise_slot_delay
    crawler = get_crawler(settings_dict={"DOWNLOAD_DELAY": 0.25})
    downloader = Downloader(crawler)
    new, old = Request("http://new.test/a"), Request("http://old.test/a")
    _key, existing = downloader._get_slot(old)  # a slot that exists before the delay is raised
    raise_slot_delay(downloader, old, 3.0)
    raise_slot_delay(downloader, new, 2.0)
    raise_slot_delay(downloader, new, 1.0)  # never lowers it
    _key, created = downloader._get_slot(new)  # the slot Scrapy creates for the first request to the host
    downloader.slots.clear()  # Scrapy's slot GC drops idle slots; a new one keeps the delay
    _key, recreated = downloader._get_slot(old)
    return [existing.delay, created.delay, recreated.delay, created.concurrency]

@check("decompression")
def _():
    from scrapy.downloadermiddlewares.httpcompression import HttpCompressionMiddleware
    from scrapy.exceptions import IgnoreRequest
    from spiders.scrapy_private import DecompressionTooLarge
    crawler = get_crawler(settings_dict={"DOWNLOAD_MAXSIZE": 10_000})
    middleware = HttpCompressionMiddleware.from_crawler(crawler)
    body = gzip.compress(b"a" * 1_000_000)
    request = Request("http://bomb.test/")
    response = Response(request.url, body=body, headers={"Content-Encoding": "gzip"}, request=request)
    try:
        middleware.process_response(request, response)
    except IgnoreRequest as exc:
        return type(exc.__cause__).__name__ if isinstance(exc.__cause__, DecompressionTooLarge) else repr(exc.__cause__)
    return "not refused"


@check("header_bound")
def _():
    from twisted.internet.testing import StringTransport
    from twisted.web.client import ResponseFailed
    from twisted.web.http_headers import Headers
    from twisted.web._newclient import Request as TxRequest
    from spiders.download import BoundedHTTP11DownloadHandler, HeaderTooLarge
    crawler = get_crawler(settings_dict={"FEEDVAULT_MAX_HEADER_BYTES": 1000})
    handler = BoundedHTTP11DownloadHandler(crawler)
    protocol = handler._pool._factory(lambda p: None, None).buildProtocol(None)
    protocol.makeConnection(StringTransport())
    failures = []
    deferred = protocol.request(TxRequest(b"GET", b"/", Headers({b"Host": [b"x.test"]}), None))
    deferred.addErrback(failures.append)
    protocol.dataReceived(b"HTTP/1.1 200 OK\r\n" + b"X-Filler: " + b"a" * 600 + b"\r\n" + b"X-More: " + b"b" * 600 + b"\r\n")
    reasons = failures[0].value.reasons if failures and isinstance(failures[0].value, ResponseFailed) else []
    return [type(protocol).__name__, [type(r.value).__name__ for r in reasons]]

print(json.dumps(results))
"""


@pytest.fixture(scope="module")
def probed() -> dict[str, Any]:
    proc = subprocess.run([sys.executable, "-c", PROBE], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.splitlines()[-1])


def test_scrapy_is_the_version_its_private_apis_were_checked_against() -> None:
    assert scrapy.__version__ == SCRAPY_VERSION, (
        f"Scrapy {scrapy.__version__} is installed; spiders/scrapy_private.py was checked against {SCRAPY_VERSION}: "
        "re-check each private name there against the new version, then update SCRAPY_VERSION"
    )


def test_a_crawl_delay_reaches_the_download_slot_whether_scrapy_made_it_yet_or_not(probed) -> None:
    """An existing slot is raised; a slot Scrapy creates later (or again, after its idle-slot GC) starts with the
    delay; a smaller delay never lowers it; the slot keeps Scrapy's concurrency."""
    assert probed["slot_delay"] == [3.0, 2.0, 3.0, 8]


def test_a_decompression_bomb_is_refused_from_the_exception_named_in_the_wrapper(probed) -> None:
    """HttpCompressionMiddleware raises IgnoreRequest from its size-cap exception: the ``too-large`` reason."""
    assert probed["decompression"] == "_DecompressionMaxSizeExceeded"


def test_the_bounded_handler_gives_up_on_a_header_section_over_its_limit(probed) -> None:
    """The pool builds our protocol; its parser (swapped in as Scrapy does) fails the response with HeaderTooLarge
    once the status line and headers exceed FEEDVAULT_MAX_HEADER_BYTES."""
    assert probed["header_bound"] == ["_BoundedProtocol", ["HeaderTooLarge"]]


def _private_imports(tree: ast.AST) -> list[str]:
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] in ("scrapy", "twisted"):
            module_private = any(part.startswith("_") for part in (node.module or "").split("."))
            names = [alias.name for alias in node.names if alias.name.startswith("_")]
            if module_private or names:
                found.append(f"from {node.module} import {', '.join(a.name for a in node.names)}")
        elif isinstance(node, ast.Import):
            found += [
                alias.name
                for alias in node.names
                if alias.name.split(".")[0] in ("scrapy", "twisted")
                and any(part.startswith("_") for part in alias.name.split("."))
            ]
    return found


def test_no_other_module_imports_a_private_scrapy_or_twisted_name() -> None:
    wrapper = REPO / "spiders" / "scrapy_private.py"
    offenders = {
        str(path.relative_to(REPO)): found
        for home in ("feedvault", "spiders", "pipelines", "dags")
        for path in sorted((REPO / home).rglob("*.py"))
        if path != wrapper and (found := _private_imports(ast.parse(path.read_text(encoding="utf-8"))))
    }
    assert not offenders, f"private Scrapy/Twisted names belong in spiders/scrapy_private.py only: {offenders}"
    assert _private_imports(ast.parse(wrapper.read_text(encoding="utf-8")))  # the scan sees them where they are
