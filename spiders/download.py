"""The http(s) download handler: Scrapy's HTTP/1.1 handler with a bound on response headers and typed failures.

Scrapy bounds the body (``DOWNLOAD_MAXSIZE``) but not the header section: Twisted reads header lines of up to
16 KiB each, as many as the server sends, and a longer line just drops the connection (``ConnectionDone``,
indistinguishable from a server hanging up). This handler's parser counts the header section as it arrives and
gives up with :class:`HeaderTooLarge` once it exceeds ``FEEDVAULT_MAX_HEADER_BYTES`` (one huge header or
thousands of small ones alike), before the rest is read. A body over ``DOWNLOAD_MAXSIZE`` fails as
:class:`ResponseTooLarge` instead of Scrapy's generic ``DownloadCancelledError``.

It extends Scrapy's private HTTP/1.1 client classes and swaps the parser class the same way Scrapy does; they are
named in ``spiders/scrapy_private.py`` only, pinned by tests/test_scrapy_private.py (and tests/test_hostile_http.py
checks the behaviour end to end).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from scrapy.core.downloader.handlers.http11 import HTTP11DownloadHandler
from scrapy.exceptions import DownloadCancelledError, DownloadFailedError
from twisted.web.client import ResponseFailed

from spiders.scrapy_private import (
    HEADER_SECTION_STATES,
    HTTP11ClientFactory,
    HTTP11ClientProtocol,
    HTTPClientParser,
    response_parser,
    use_protocol_factory,
)

if TYPE_CHECKING:
    from scrapy import Request
    from scrapy.crawler import Crawler
    from scrapy.http import Response
    from twisted.internet.interfaces import IAddress

MAX_HEADER_BYTES_SETTING = "FEEDVAULT_MAX_HEADER_BYTES"


class HeaderTooLarge(Exception):
    """The response's header section (status line and headers) exceeded the limit."""


class ResponseTooLarge(Exception):
    """The response body exceeded ``DOWNLOAD_MAXSIZE`` (announced or as received)."""


class _BoundedParser(HTTPClientParser):
    """Counts the status line and header lines; raising here makes the protocol give up on the response
    (``HTTP11ClientProtocol.dataReceived`` turns the exception into ``ResponseFailed([HeaderTooLarge])``)."""

    max_header_bytes: int
    header_bytes: int

    def lineReceived(self, line: bytes) -> None:
        if self.state in HEADER_SECTION_STATES:
            self.header_bytes += len(line) + 1
            if self.header_bytes > self.max_header_bytes:
                raise HeaderTooLarge(f"response headers exceed {self.max_header_bytes} bytes")
        super().lineReceived(line)

    def lineLengthExceeded(self, line: bytes) -> None:
        raise HeaderTooLarge(f"a response header line exceeds {self.max_header_bytes} bytes")


class _BoundedProtocol(HTTP11ClientProtocol):
    max_header_bytes = 256 * 1024

    def request(self, request: Any) -> Any:
        deferred = super().request(request)
        parser = response_parser(self)
        parser.__class__ = _BoundedParser  # as Scrapy does: the class only adds the counters set here
        parser.max_header_bytes = self.max_header_bytes
        parser.header_bytes = 0
        parser.MAX_LENGTH = self.max_header_bytes  # LineReceiver's per-line cap: one line may use the whole budget
        return deferred


class _BoundedFactory(HTTP11ClientFactory):
    max_header_bytes = _BoundedProtocol.max_header_bytes

    def buildProtocol(self, addr: IAddress | None) -> _BoundedProtocol:
        protocol = _BoundedProtocol(self._quiescentCallback)  # type: ignore[no-untyped-call]
        protocol.max_header_bytes = self.max_header_bytes
        return protocol


class BoundedHTTP11DownloadHandler(HTTP11DownloadHandler):
    def __init__(self, crawler: Crawler) -> None:
        super().__init__(crawler)
        limit = crawler.settings.getint(MAX_HEADER_BYTES_SETTING, _BoundedProtocol.max_header_bytes)
        use_protocol_factory(self, type("_Factory", (_BoundedFactory,), {"max_header_bytes": limit}))
        self.max_response_bytes = crawler.settings.getint("DOWNLOAD_MAXSIZE")

    async def download_request(self, request: Request) -> Response:
        try:
            return await super().download_request(request)
        except DownloadCancelledError as exc:
            # In this handler a download is cancelled only by the size cap: an announced Content-Length over it,
            # or a body that grew past it (a timeout is DownloadTimeoutError).
            maxsize = request.meta.get("download_maxsize", self.max_response_bytes)
            raise ResponseTooLarge(f"response body exceeds {maxsize} bytes (max_response_bytes)") from exc
        except DownloadFailedError as exc:
            cause = exc.__cause__
            reasons = cause.reasons if isinstance(cause, ResponseFailed) else []
            too_large = next((r.value for r in reasons if isinstance(r.value, HeaderTooLarge)), None)
            if too_large is not None:
                raise too_large from exc
            raise
