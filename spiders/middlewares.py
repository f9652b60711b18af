"""Downloader middlewares that make a crawl safe and polite.

Order (lower runs first on the way out, last on the way back)::

    40  NetworkGuardMiddleware   every request, redirects and robots.txt included, passes the SSRF guard
    100 RobotsPolicyMiddleware   robots.txt as RFC 9309 says (replaces Scrapy's RobotsTxtMiddleware)
    110 TdmRepMiddleware         the host's /.well-known/tdmrep.json, matched against each article URL
    550 RetryAfterMiddleware     Scrapy's retries, plus waiting out Retry-After on 429/503 (capped)
    580 HeadMetaRefreshMiddleware Scrapy's meta-refresh redirects, reading only the page's head (replaces Scrapy's)
    650 RedirectGuardMiddleware  a redirect to a non-http(s) URL or past the limit fails with a typed reason
    950 RawCaptureMiddleware     keeps the response exactly as transferred (before decompression) for WARC
"""

from __future__ import annotations

import asyncio
import codecs
import datetime as dt
import email.utils
import hashlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, TypeVar
from urllib.parse import urljoin, urlsplit

from protego import Protego
from scrapy import Request
from scrapy.downloadermiddlewares.redirect import MetaRefreshMiddleware
from scrapy.downloadermiddlewares.retry import RetryMiddleware
from scrapy.exceptions import IgnoreRequest
from scrapy.http import HtmlResponse, Response
from scrapy.http.request import NO_CALLBACK
from scrapy.resolver import dnscache
from scrapy.utils.httpobj import urlparse_cached
from w3lib import html as w3html
from w3lib.encoding import html_to_unicode
from w3lib.url import safe_url_string

from feedvault.archive.manifest import FeedRunLog
from feedvault.config import PermissionRecord, Signal
from feedvault.crawl.context import CrawlServices, FeedCrawl
from feedvault.crawl.netguard import NetworkPolicy, RefusedURL, Resolver
from feedvault.permission import aipref, tdmrep
from feedvault.permission.decisions import Decision, signal_decision
from feedvault.permission.signals import ROBOTS_TOKEN
from spiders.download import ResponseTooLarge
from spiders.scrapy_private import raise_slot_delay

if TYPE_CHECKING:
    from scrapy.crawler import Crawler

logger = logging.getLogger(__name__)

RAW_META = "feedvault_raw"
ROBOTS_META = "feedvault_robots"
TDMREP_META = "feedvault_tdmrep"
USAGE_META = "feedvault_robots_usage"  # the robots.txt Content-Usage / Content-Signal statements for the URL
T = TypeVar("T")


class RefusedRequest(IgnoreRequest):
    """A request we must not make; becomes a ``refused`` outcome with its reason and evidence."""

    def __init__(self, reason: str, detail: str = "", evidence: dict[str, Any] | None = None) -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail
        self.evidence = evidence or {}


class RetryAfterTooLong(IgnoreRequest):
    """The server asked us to come back later than the feed's ``retry_after_cap_seconds``."""


class TooManyRedirects(IgnoreRequest):
    """A redirect chain longer than ``max_redirects`` (a loop, usually)."""


class NetworkGuardMiddleware:
    """Every request, redirects and robots.txt included, passes the feed's SSRF policy."""

    def __init__(
        self,
        allow_private_network: bool | list[str] | tuple[str, ...],
        addresses: PerHost[list[str]],
        resolver: Resolver | None = None,  # None: the system's (getaddrinfo)
    ) -> None:
        self.policy = NetworkPolicy.from_setting(allow_private_network, resolver)
        self.addresses = addresses  # host:port -> resolved addresses, shared by every feed of the run

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> NetworkGuardMiddleware:
        crawl = FeedCrawl.of(crawler)
        return cls(crawl.config.feed.allow_private_network, shared_per_host(crawl.services, "dns"))

    async def process_request(self, request: Request) -> None:
        """Judge the request's addresses by this feed's policy. A name is resolved once per host and run (shared
        by every feed of the run), in a thread: a slow or hung DNS answer never blocks the reactor."""
        policy, url = self.policy, request.url
        try:
            host, port, literal = policy.locate(url)
            addresses = literal
            if addresses is None:
                addresses = await self.addresses.get(
                    f"{host}:{port}", lambda: asyncio.to_thread(policy.resolve, url, host, port)
                )
            judged = policy.judge(url, addresses)
        except RefusedURL as exc:
            raise RefusedRequest(exc.reason, exc.detail, {"url": url}) from None
        if literal is None:
            _pin(host, judged)
        request.meta.setdefault("feedvault_addresses", judged)


def _pin(host: str, addresses: list[str]) -> None:
    """Make Scrapy connect to the address the guard judged, not to a second DNS answer (DNS rebinding).

    Scrapy's resolver (``CachingThreadedResolver``, IPv4; the runner's ``DNS_RESOLVER``) answers from
    ``scrapy.resolver.dnscache`` before it asks DNS, so the guard's answer goes there.
    """
    ipv4 = next((address for address in addresses if ":" not in address), None)
    if ipv4 is not None:
        dnscache[host] = ipv4


class PerHost(Generic[T]):
    """A value computed once per host; concurrent requests for the host wait for the first one.

    One instance per kind of value is shared by every feed crawled in the same process (all crawlers of a run
    share one reactor), so a host's robots.txt is fetched once per run, whichever feeds it serves.
    """

    def __init__(self) -> None:
        self._values: dict[str, asyncio.Future[T]] = {}

    async def get(self, netloc: str, compute: Callable[[], Awaitable[T]]) -> T:
        if netloc not in self._values:
            future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
            self._values[netloc] = future
            try:
                future.set_result(await compute())
            except BaseException as exc:
                future.set_exception(exc)
                raise
        return await asyncio.shield(self._values[netloc])


def shared_per_host(services: CrawlServices, kind: str) -> PerHost[Any]:
    """The run-wide :class:`PerHost` cache of ``kind`` (``services.shared`` is one dict for the whole run)."""
    return services.shared.setdefault(kind, PerHost())


async def fetch_policy_file(
    crawler: Crawler, url: str, max_bytes: int | None = None
) -> tuple[Response | None, dict[str, Any]]:
    """GET a site policy file (robots.txt, tdmrep.json) once, no retries; (response or None, evidence).

    ``max_bytes`` caps the body below the feed's ``max_response_bytes``; a larger file is ``too_large``.
    """
    meta: dict[str, Any] = {"dont_obey_robotstxt": True, "dont_retry": True, "handle_httpstatus_all": True}
    if max_bytes is not None:
        meta["download_maxsize"] = max_bytes
    request = Request(url, callback=NO_CALLBACK, priority=1000, dont_filter=True, meta=meta)
    evidence: dict[str, Any] = {"fetched_at": dt.datetime.now(dt.UTC).isoformat()}
    try:
        response = await crawler.engine.download_async(request)  # type: ignore[union-attr]
    except Exception as exc:
        evidence.update(status=None, error=f"{type(exc).__name__}: {exc}")
        if isinstance(exc, ResponseTooLarge):
            evidence["too_large"] = True
        return None, evidence
    evidence.update(status=response.status, sha256=hashlib.sha256(response.body).hexdigest())
    return response, evidence


@dataclass
class RobotsVerdict:
    """What robots.txt says for a host, with the evidence kept in manifests and clean records."""

    rule: str  # rules | allow-all | disallow-all
    evidence: dict[str, Any]
    parser: Protego | None = None
    crawl_delay: float | None = None
    usage: aipref.RobotsUsage | None = None  # Content-Usage / Content-Signal rules of our group

    def usage_statements(self, url: str) -> list[aipref.Statement]:
        """robots.txt usage preferences for ``url``; none for a disallowed URL (attach draft: no preferences
        are implied for resources that cannot be crawled)."""
        if self.usage is None or not self.allowed(url):
            return []
        return self.usage.statements_for(url)

    def allowed(self, url: str) -> bool:
        if self.rule == "rules" and self.parser is not None:
            return self.parser.can_fetch(url, ROBOTS_TOKEN)
        return self.rule == "allow-all"


@dataclass
class RobotsPolicyMiddleware:
    """robots.txt per RFC 9309: 2xx rules apply; 4xx allows all; 5xx or unreachable disallows all.

    Fetched once per host per run (no retries: a 5xx is tried again next run). Crawl-delay is honoured up to
    the feed's cap by raising the host's download-slot delay in every crawler that reaches the host. A disallowed URL is refused unless the decision
    table says otherwise for the feed's permission (a written permission that overrides ``robots-txt``, with
    its reference); then it is fetched and the override is part of its evidence.
    """

    crawler: Crawler  # fetches robots.txt through its engine; its downloader's slots get the Crawl-delay
    permission: PermissionRecord | None
    crawl_delay_cap: float
    rate_share: int  # crawls sharing the feed's request rate (its shards): each waits that many Crawl-delays
    log: FeedRunLog  # the feed's run log: its robots.txt evidence
    verdicts: PerHost[RobotsVerdict]  # netloc -> verdict, shared by every feed of the run
    _seen: dict[str, dict[str, Any]] = field(default_factory=dict)  # netloc -> this crawl's evidence

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> RobotsPolicyMiddleware:
        crawl = FeedCrawl.of(crawler)
        return cls(
            crawler,
            permission=crawl.config.feed.permission,
            crawl_delay_cap=crawl.config.politeness.crawl_delay_cap_seconds,
            rate_share=crawl.config.rate_share,
            log=crawl.tally.log,
            verdicts=shared_per_host(crawl.services, "robots"),
        )

    async def process_request(self, request: Request) -> None:
        if request.meta.get("dont_obey_robotstxt"):
            return
        verdict = await self.verdict(request)
        evidence = self._evidence_for_this_crawl(request, verdict)
        if not verdict.allowed(request.url):
            record = self.permission
            if record is None or signal_decision(record, Signal.ROBOTS_TXT) is Decision.REFUSE:
                raise RefusedRequest("robots-txt", f"robots.txt {verdict.rule}", evidence)
            evidence = {**evidence, "disallowed": True, "overridden_by": record.reference}
            logger.warning(
                "robots.txt disallows %s; fetched under written permission %s", request.url, record.reference
            )
        request.meta[ROBOTS_META] = evidence
        request.meta[USAGE_META] = verdict.usage_statements(request.url)

    async def verdict(self, request: Request) -> RobotsVerdict:
        parts = urlparse_cached(request)
        robots_url = f"{parts.scheme}://{parts.netloc}/robots.txt"
        return await self.verdicts.get(parts.netloc, lambda: self._fetch(robots_url))

    def _evidence_for_this_crawl(self, request: Request, verdict: RobotsVerdict) -> dict[str, Any]:
        """On this crawl's first request to the host: apply Crawl-delay to its slot, record the evidence."""
        netloc = urlparse_cached(request).netloc
        if netloc not in self._seen:
            evidence = dict(verdict.evidence)
            if verdict.crawl_delay:
                evidence["crawl_delay_applied"] = self._apply_crawl_delay(request, verdict.crawl_delay)
            self._seen[netloc] = evidence
            self.log.robots[evidence["robots_url"]] = evidence
        return self._seen[netloc]

    async def _fetch(self, robots_url: str) -> RobotsVerdict:
        response, evidence = await fetch_policy_file(self.crawler, robots_url)
        evidence = {"robots_url": robots_url, **evidence}
        if response is None:  # unreachable: RFC 9309 section 2.3.1.4
            verdict = RobotsVerdict("disallow-all", evidence)
        elif 200 <= response.status < 300:
            text = response.body.decode("utf-8", errors="replace")
            parser = Protego.parse(text)
            delay = parser.crawl_delay(ROBOTS_TOKEN)
            verdict = RobotsVerdict("rules", evidence, parser, float(delay) if delay else None)
            verdict.usage = _robots_usage(text, evidence)
        elif 400 <= response.status < 500:
            verdict = RobotsVerdict("allow-all", evidence)
        else:
            verdict = RobotsVerdict("disallow-all", evidence)
        evidence["verdict"] = verdict.rule
        return verdict

    def _apply_crawl_delay(self, request: Request, crawl_delay: float) -> float:
        cap = self.crawl_delay_cap
        delay = min(crawl_delay, cap) * self.rate_share
        raise_slot_delay(self.crawler.engine.downloader, request, delay)  # type: ignore[union-attr]
        shared = f", shared by {self.rate_share} shards" if self.rate_share > 1 else ""
        logger.info("robots.txt Crawl-delay %.1fs applied to %s (cap %.1fs%s)", delay, request.url, cap, shared)
        return delay


def _robots_usage(text: str, evidence: dict[str, Any]) -> aipref.RobotsUsage:
    """Our group's Content-Usage / Content-Signal rules; kept in the robots.txt evidence (``usage``) when the file
    has any, so each run's manifest says which usage rules it crawled under and two runs can be compared."""
    usage = aipref.parse_robots(text, ROBOTS_TOKEN)
    if usage.rules or usage.ignored:
        evidence["usage"] = usage.to_evidence()
    return usage


@dataclass
class TdmRepSite:
    """A host's tdmrep.json: its rules (none when absent or invalid: the protocol is then *unset*) and evidence."""

    rules: tuple[tdmrep.TdmRule, ...]
    evidence: dict[str, Any]


@dataclass
class TdmRepMiddleware:
    """Fetch ``/.well-known/tdmrep.json`` once per host per run; attach the rule matching each article URL.

    Only the evidence travels (``request.meta["feedvault_tdmrep"]``): the file is the lowest-precedence layer,
    superseded by the page's headers and meta, so the archive pipeline decides once the page is fetched.
    """

    crawler: Crawler  # fetches tdmrep.json through its engine
    sites: PerHost[TdmRepSite]  # netloc -> the host's file, shared by every feed of the run

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> TdmRepMiddleware:
        return cls(crawler, shared_per_host(FeedCrawl.of(crawler).services, "tdmrep"))

    async def process_request(self, request: Request) -> None:
        if request.meta.get("dont_obey_robotstxt") or request.meta.get("feedvault_role") != "article":
            return
        parts = urlparse_cached(request)
        origin = f"{parts.scheme}://{parts.netloc}"
        site = await self.sites.get(parts.netloc, lambda: self._fetch(origin))
        rule = tdmrep.match(site.rules, request.url)
        request.meta[TDMREP_META] = {**site.evidence, "match": rule.to_dict() if rule else None}

    async def _fetch(self, origin: str) -> TdmRepSite:
        url = origin + tdmrep.WELL_KNOWN_PATH
        response, evidence = await fetch_policy_file(self.crawler, url, max_bytes=tdmrep.MAX_FILE_BYTES)
        evidence = {"tdmrep_url": url, **evidence}
        rules: tuple[tdmrep.TdmRule, ...] = ()
        if response is not None and 200 <= response.status < 300:
            rules = _tdmrep_rules(response.body, evidence)
        elif evidence.get("too_large"):
            _record_invalid_tdmrep(
                evidence, tdmrep.InvalidTdmRepFile("too-large", f"over {tdmrep.MAX_FILE_BYTES} bytes")
            )
        evidence["rules"] = len(rules)
        return TdmRepSite(rules, evidence)


def _tdmrep_rules(body: bytes, evidence: dict[str, Any]) -> tuple[tdmrep.TdmRule, ...]:
    """The file's rules; an invalid file (any way) is *unset* as TDMRep says, with why in the evidence."""
    try:
        return tdmrep.parse_file(body)
    except tdmrep.InvalidTdmRepFile as exc:
        _record_invalid_tdmrep(evidence, exc)
        return ()


def _record_invalid_tdmrep(evidence: dict[str, Any], exc: tdmrep.InvalidTdmRepFile) -> None:
    evidence.update(valid=False, invalid=exc.kind, error=f"invalid tdmrep.json ({exc}): treated as unset")
    logger.warning("%s: %s", evidence["tdmrep_url"], evidence["error"])


def retry_after_seconds(value: bytes | str | None, now: dt.datetime | None = None) -> float | None:
    """Parse Retry-After: delta-seconds or an HTTP-date. None when absent or unparseable."""
    if not value:
        return None
    text = value.decode("latin-1") if isinstance(value, bytes) else value
    text = text.strip()
    if text.isdigit():
        return float(text)
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return max(0.0, (when - (now or dt.datetime.now(dt.UTC))).total_seconds())


class RetryAfterMiddleware(RetryMiddleware):
    """Scrapy's RetryMiddleware, but a 429/503 with Retry-After waits that long (up to a cap) first.

    A Retry-After beyond the cap gives up on the request for this run (it fails with the reason) rather than
    hammering the server sooner than asked.
    """

    retry_after_cap: float  # the feed's retry_after_cap_seconds

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> RetryAfterMiddleware:
        middleware = super().from_crawler(crawler)
        middleware.retry_after_cap = FeedCrawl.of(crawler).config.politeness.retry_after_cap_seconds
        return middleware

    async def process_response(self, request: Request, response: Response) -> Request | Response:  # type: ignore[override]
        if response.status in (429, 503) and not request.meta.get("dont_retry"):
            delay = retry_after_seconds(response.headers.get(b"Retry-After"))
            if delay is not None:
                cap = self.retry_after_cap
                if delay > cap:
                    raise RetryAfterTooLong(f"retry-after {delay:.0f}s exceeds the cap of {cap:.0f}s")
                retry = self._retry(request, f"{response.status} Retry-After {delay:g}s")
                if retry is None:
                    return response
                logger.info("%s answered %s; waiting %.1fs as asked", request.url, response.status, delay)
                await asyncio.sleep(delay)
                return retry
        return super().process_response(request, response)


_REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})


class RedirectGuardMiddleware:
    """Sees each redirect before Scrapy's RedirectMiddleware (600) and fails the ones it would mishandle.

    Scrapy hands a redirect to a ``file:``, ``gopher:`` (any non-http(s)) URL back as the 3xx response itself,
    which would fail as ``http-302``: it is refused here as ``unsupported-scheme``, never followed. A chain past
    ``REDIRECT_MAX_TIMES`` fails as :class:`TooManyRedirects` (Scrapy raises a bare IgnoreRequest).
    """

    def __init__(self, max_redirects: int) -> None:
        self.max_redirects = max_redirects

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> RedirectGuardMiddleware:
        return cls(crawler.settings.getint("REDIRECT_MAX_TIMES"))

    def process_response(self, request: Request, response: Response) -> Response:
        location = response.headers.get(b"Location")
        if response.status not in _REDIRECT_STATUSES or not location or _redirects_not_followed(request, response):
            return response
        target = urljoin(request.url, safe_url_string(location.decode("latin-1")))
        scheme = urlsplit(target).scheme.lower()
        if scheme not in ("http", "https"):
            raise RefusedRequest(
                "unsupported-scheme",
                f"redirected ({response.status}) to a {scheme or 'scheme-less'} URL; only http(s) is fetched",
                {"url": request.url, "status": response.status, "location": target[:500]},
            )
        if request.meta.get("redirect_times", 0) >= self.max_redirects:
            raise TooManyRedirects(f"more than {self.max_redirects} redirects (the last to {target[:200]})")
        return response


# Scrapy reads a meta refresh and <base href> from a page's first 4,096 characters: at most 4 bytes each.
_HEAD_CHARS = 4096
_HEAD_BYTES = 4 * _HEAD_CHARS


class HeadMetaRefreshMiddleware(MetaRefreshMiddleware):
    """Scrapy's MetaRefreshMiddleware, same settings and decisions, but it decodes only the head it reads.

    Scrapy's looks at ``response.text[:4096]``, which decodes the whole body first (a 400 KB page: ~0.7 ms of the
    reactor per article, for a text nothing else in the reactor uses: extraction decodes in its own process).
    """

    def process_response(self, request: Request, response: Response) -> Request | Response:  # type: ignore[override]
        if (
            request.meta.get("dont_redirect", False)
            or request.method == "HEAD"
            or not isinstance(response, HtmlResponse)
            or urlparse_cached(request).scheme not in {"http", "https"}
        ):
            return response
        interval, url = head_meta_refresh(response, self._ignore_tags)
        if not url:
            return response
        redirected = self._redirect_request_using_get(request, response, url)
        if urlparse_cached(redirected).scheme not in {"http", "https"}:
            return response
        if interval is not None and interval < self._maxdelay:
            return self._redirect(redirected, request, "meta refresh")
        return response


def head_meta_refresh(response: HtmlResponse, ignore_tags: list[str]) -> tuple[float | None, str | None]:
    """``scrapy.utils.response.get_meta_refresh`` on the page's first 4,096 characters, decoding only those."""
    content_type = response.headers.get(b"Content-Type")
    encoding, text = html_to_unicode(
        content_type.decode("latin-1") if content_type else None, response.body[:_HEAD_BYTES], auto_detect_fun=_sniff
    )
    head = text[:_HEAD_CHARS]
    base = w3html.get_base_url(head, response.url, encoding)
    return w3html.get_meta_refresh(head, base, encoding, ignore_tags=ignore_tags)


def _sniff(head: bytes) -> str:
    """Scrapy's fallback order (ASCII, UTF-8, cp1252), where a head cut inside a UTF-8 sequence is still UTF-8."""
    try:
        codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
    except UnicodeDecodeError:
        return "cp1252"
    return "utf-8"


def _redirects_not_followed(request: Request, response: Response) -> bool:
    """Scrapy's RedirectMiddleware leaves these responses alone (the request handles the status itself)."""
    meta = request.meta
    return bool(
        meta.get("dont_redirect")
        or meta.get("handle_httpstatus_all")
        or response.status in meta.get("handle_httpstatus_list", ())
    )


class RawCaptureMiddleware:
    """Keeps status, headers and body exactly as transferred, before decompression, for the WARC record."""

    def process_response(self, request: Request, response: Response) -> Response:
        headers = [
            (name.decode("latin-1"), value.decode("latin-1"))
            for name, values in response.headers.items()
            for value in values
        ]
        request.meta[RAW_META] = {
            "status": response.status,
            "headers": headers,
            "body": response.body,
            "protocol": response.protocol or "HTTP/1.1",
            "ip_address": str(response.ip_address) if response.ip_address else None,
            "request_headers": [
                (name.decode("latin-1"), value.decode("latin-1"))
                for name, values in request.headers.items()
                for value in values
            ],
        }
        return response
