"""Every use of a private Scrapy or Twisted API, in one place (Scrapy 2.19.0, Twisted as locked).

Scrapy offers no public hook for these, so they are named here and nowhere else; ``tests/test_scrapy_private.py``
pins each one's behaviour against the locked versions, so an upgrade that changes them fails loudly there, not
as a quiet change of the crawl's behaviour:

* the HTTP/1.1 client's protocol, factory and parser classes and the connection pool's protocol factory,
  for bounding the response's header section (``spiders/download.py``);
* the decompression middleware's size-cap exception, the cause of the ``IgnoreRequest`` it raises, for the
  ``too-large`` failure reason (``spiders/feeds.py``).

A robots.txt Crawl-delay raises a download slot's delay through public names (``raise_slot_delay``: the slot
key, the slots, the per-slot settings new slots are made from), pinned the same way.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from scrapy.core.downloader.handlers.http11 import (
    HTTP11DownloadHandler,
    _LenientHTTP11ClientFactory,
    _LenientHTTP11ClientProtocol,
    _LenientHTTPClientParser,
)
from scrapy.utils._compression import _DecompressionMaxSizeExceeded
from twisted.web._newclient import HEADER, STATUS

if TYPE_CHECKING:
    from scrapy import Request
    from scrapy.core.downloader import Downloader

SCRAPY_VERSION = "2.19.0"  # the version these were checked against (tests/test_scrapy_private.py)

HTTP11ClientFactory = _LenientHTTP11ClientFactory  # builds one protocol per connection
HTTP11ClientProtocol = _LenientHTTP11ClientProtocol  # its request() creates the response parser (``_parser``)
HTTPClientParser = _LenientHTTPClientParser  # LineReceiver of the status line and headers, then the body
HEADER_SECTION_STATES = (STATUS, HEADER)  # the parser's ``state`` while it reads the header section
DecompressionTooLarge = _DecompressionMaxSizeExceeded  # HttpCompressionMiddleware's IgnoreRequest is raised from it


def response_parser(protocol: HTTP11ClientProtocol) -> HTTPClientParser:
    """The parser the protocol created for its current request."""
    parser = protocol._parser
    assert parser is not None, "the protocol has no request in progress"
    return parser  # type: ignore[no-any-return]


def use_protocol_factory(handler: HTTP11DownloadHandler, factory: type[HTTP11ClientFactory]) -> None:
    """Make the handler's connection pool build its connections' protocols with ``factory``."""
    handler._pool._factory = factory


def raise_slot_delay(downloader: Downloader, request: Request, delay: float) -> None:
    """Make the download slot of ``request`` wait at least ``delay`` seconds between requests, whether the slot
    exists yet or not (public names: the slot key, the slots, the per-slot settings new slots start from)."""
    key = downloader.get_slot_key(request)
    slot = downloader.slots.get(key)
    if slot is not None:
        slot.delay = max(slot.delay, delay)
    slot_settings: dict[str, Any] = downloader.per_slot_settings.setdefault(key, {})  # DOWNLOAD_SLOTS, per key
    default = downloader.settings.getfloat("DOWNLOAD_DELAY")
    slot_settings["delay"] = max(slot_settings.get("delay", default), delay)
