"""The feed spider: reads a feed's documents, decides per entry, fetches due articles, yields captures.

Every URL it meets ends as exactly one outcome in the feed's run log: refused, skipped and unchanged here;
failed in the errback; new/changed/unchanged in the archive pipeline.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import AsyncIterator, Iterator
from typing import Any, Self

import scrapy
from scrapy import signals
from scrapy.crawler import Crawler
from scrapy.exceptions import (
    CannotResolveHostError,
    DownloadConnectionRefusedError,
    DownloadFailedError,
    DownloadTimeoutError,
    ResponseDataLossError,
)
from scrapy.http import Request, Response
from scrapy.spidermiddlewares.httperror import HttpError
from twisted.internet.error import ConnectionRefusedError as TxConnectionRefusedError
from twisted.internet.error import DNSLookupError, TCPTimedOutError, TimeoutError
from twisted.python.failure import Failure

from feedvault.archive.manifest import Outcome
from feedvault.crawl.context import FeedCrawl
from feedvault.crawl.feed_documents import FeedEntry, FeedParseError, parse_feed
from feedvault.crawl.items import ArticleCapture
from feedvault.crawl.outcomes import ArticleOutcomes
from feedvault.crawl.seen_state import FetchPlan
from feedvault.crawl.tombstones import Tombstones
from feedvault.keys import UnsafeKeyError, normalize_url
from feedvault.permission import aipref
from feedvault.permission.decisions import Decision, Finding, decide
from feedvault.permission.signals import page_findings
from feedvault.permission.usage import usage_findings
from spiders.download import HeaderTooLarge, ResponseTooLarge
from spiders.middlewares import (
    RAW_META,
    ROBOTS_META,
    TDMREP_META,
    USAGE_META,
    RefusedRequest,
    RetryAfterTooLong,
    TooManyRedirects,
)
from spiders.scrapy_private import DecompressionTooLarge

logger = logging.getLogger(__name__)

MAX_SITEMAP_DEPTH = 2


class EntryCap:
    """Bounds a feed's work per run: at most ``limit`` entries fetched for the first time, taken in feed order.

    Only first fetches count: entries archived before are re-fetched (when due) conditionally and their number is
    bounded by what earlier runs archived, so the next run spends its budget on the entries after the ones this
    run took, and a feed of any length is worked through in order. With ``--force`` every fetch counts.
    """

    def __init__(self, limit: int, *, counts_every_fetch: bool = False) -> None:
        self.limit = limit
        self.taken = 0
        self.counts_every_fetch = counts_every_fetch
        self.detail = f"over this run's cap of {limit} new entries (max_new_entries_per_run); the next run takes it"

    def admits(self, plan: FetchPlan) -> bool:
        if plan.baseline is not None and not self.counts_every_fetch:
            return True
        if self.taken >= self.limit:
            return False
        self.taken += 1
        return True


class FeedSpider(scrapy.Spider):
    name = "feedvault"

    def __init__(self, crawl: FeedCrawl, **kwargs: Any) -> None:
        super().__init__(name=f"feed-{crawl.config.feed.id}", **kwargs)
        self.config, self.services, self.tally = crawl.config, crawl.services, crawl.tally
        self.outcomes = ArticleOutcomes(crawl.tally.log)
        self._seen_guids: set[str] = set()
        self._seen_links: set[str] = set()
        self._feeds_ok = 0
        self._feeds_failed: list[str] = []
        self.entry_cap = EntryCap(crawl.config.entry_cap, counts_every_fetch=crawl.config.plan.force)
        self._callback_errors: dict[str, int] = {}  # exception type -> articles whose callback raised

    @classmethod
    def from_crawler(cls, crawler: Crawler, *args: Any, **kwargs: Any) -> Self:
        """The spider of the feed crawl the runner attached to ``crawler``."""
        spider = super().from_crawler(crawler, *args, crawl=FeedCrawl.of(crawler), **kwargs)
        crawler.signals.connect(spider.callback_failed, signal=signals.spider_error)  # a bound method: kept alive
        return spider

    async def start(self) -> AsyncIterator[Request]:
        self.services.tombstones = await asyncio.to_thread(Tombstones.load, self.services.store)
        for url in self.config.feed.urls:
            yield self._feed_request(url, depth=0)

    def _feed_request(self, url: str, depth: int) -> Request:
        return Request(
            url,
            callback=self.parse_feed,
            errback=self.feed_failed,
            dont_filter=True,
            meta={"feedvault_role": "feed", "sitemap_depth": depth},
        )

    # -- feed documents ---------------------------------------------------------------------------------
    def parse_feed(self, response: Response) -> Iterator[Request]:
        log = self.tally.log
        try:
            parsed = parse_feed(response.body, response.url, self.config.feed.kind)
        except FeedParseError as exc:
            self._feed_error(response.url, f"unparseable feed: {exc}")
            return
        self._feeds_ok += 1
        for warning in parsed.warnings:
            log.warn(f"{response.url}: {warning}")
        log.feeds[response.url] = {"status": response.status, "kind": str(parsed.kind), "entries": len(parsed.entries)}
        depth = response.meta.get("sitemap_depth", 0)
        for child in parsed.child_sitemaps:
            if depth < MAX_SITEMAP_DEPTH:
                yield self._feed_request(response.urljoin(child), depth + 1)
        for entry in parsed.entries:
            request = self._entry_request(response, entry)
            if request is not None:
                yield request

    def _entry_request(self, response: Response, entry: FeedEntry) -> Request | None:
        """The entry's article request, or None when it is not fetched (its outcome is recorded, unless another
        shard of the run owns it)."""
        link = self._article_url(response, entry)
        plan = self._fetch_plan(link, entry) if link is not None else None
        if link is None or plan is None:
            return None
        self.tally.requested.add(link)
        return Request(
            link,
            callback=self.parse_article,
            errback=self.article_failed,
            headers=plan.headers,
            dont_filter=True,
            meta={"feedvault_role": "article", "entry": entry, "plan": plan, "handle_httpstatus_list": [304]},
        )

    def _article_url(self, response: Response, entry: FeedEntry) -> str | None:
        """The entry's link in its one normalised form (URL variants of an article are one snapshot), or None:
        no link, not http(s), unsafe, another shard's, taken down, or a duplicate of an earlier entry."""
        log, shard = self.tally.log, self.config.plan.shard
        records_unowned = not shard or shard.index == 0  # entries without a usable URL are shard 0's to record
        if not entry.link:
            if records_unowned:
                log.add(entry.guid or response.url, Outcome.SKIPPED, reason="no-link", detail=entry.title)
            return None
        link = entry.link if ":" in entry.link.split("/")[0] else response.urljoin(entry.link)
        scheme = link.split(":", 1)[0].lower()
        if scheme not in ("http", "https"):
            if records_unowned:
                log.add(link[:200], Outcome.REFUSED, reason="unsupported-scheme", detail=scheme)
            return None
        try:
            identity = normalize_url(link)
        except UnsafeKeyError as exc:
            if records_unowned:
                log.add(link, Outcome.REFUSED, reason="unsafe-url", detail=str(exc))
            return None
        if shard and not shard.owns(identity):
            return None
        if self.services.tombstones.taken_down(link):
            self.outcomes.taken_down(link)
            return None
        if identity in self._seen_links or (entry.guid and entry.guid in self._seen_guids):
            log.add(link, Outcome.SKIPPED, reason="duplicate-entry", detail=entry.guid)  # the variant as listed
            return None
        self._seen_links.add(identity)
        if entry.guid:
            self._seen_guids.add(entry.guid)
        return identity

    def _fetch_plan(self, link: str, entry: FeedEntry) -> FetchPlan | None:
        """How to fetch the article (conditional headers, baseline), or None with its outcome recorded: outside
        the entry window, not due for a revisit, or over this run's entry cap."""
        config, log = self.config, self.tally.log
        dated = entry.published or entry.updated
        if dated is not None and dated < config.oldest_entry:
            log.add(link, Outcome.SKIPPED, reason="outside-window", detail=dated.isoformat())
            return None
        plan = self.tally.state.plan(
            link,
            run_id=config.run_id.value,
            now=config.now,
            entry_updated=entry.updated,
            published=entry.published,
            revisit=config.revisit,
            force=config.plan.force,
        )
        if not plan.fetch:
            log.add(link, Outcome.UNCHANGED, reason="not-due", sha256=plan.baseline.sha256 if plan.baseline else None)
            return None
        if not self.entry_cap.admits(plan):
            log.add(link, Outcome.SKIPPED, reason="entry-cap", detail=self.entry_cap.detail)
            return None
        return plan

    def feed_failed(self, failure: Failure) -> None:
        request = failure.request  # type: ignore[attr-defined]
        reason, detail, _evidence = describe_failure(failure)
        self._feed_error(request.url, f"{reason}: {detail}" if detail else reason)

    def _feed_error(self, url: str, message: str) -> None:
        self._feeds_failed.append(url)
        self.tally.log.feeds[url] = {"error": message}
        self.tally.log.warn(f"feed {url}: {message}")

    # -- articles -------------------------------------------------------------------------------------
    def parse_article(self, response: Response) -> Iterator[ArticleCapture]:
        entry: FeedEntry = response.meta["entry"]
        plan: FetchPlan = response.meta["plan"]
        if response.status == 304:
            evidence = self._not_modified_evidence(response)
            self.tally.state.record(
                response.url, now=self.config.now, entry_updated=entry.updated, published=entry.published
            )
            self.tally.log.add(  # last: a callback that raises has recorded no outcome (callback_failed does)
                response.url,
                Outcome.UNCHANGED,
                reason="not-modified",
                http_status=304,
                sha256=plan.baseline.sha256 if plan.baseline else None,
                evidence=evidence,
            )
            return
        raw = response.meta[RAW_META]
        yield ArticleCapture(
            url=response.url,
            requested_url=response.request.meta.get("redirect_urls", [response.url])[0],
            entry=entry,
            plan=plan,
            raw=raw,
            body=response.body,
            declared_encoding=_declared_charset(response),
            fetched_at=dt.datetime.now(dt.UTC),
            redirects=list(response.meta.get("redirect_urls", [])),
            robots=response.meta.get(ROBOTS_META),
            tdmrep=response.meta.get(TDMREP_META),
            robots_usage=response.meta.get(USAGE_META) or [],
        )

    def _not_modified_evidence(self, response: Response) -> dict[str, Any] | None:
        """Signals a 304 carries (its headers, the host's tdmrep.json), judged by the table; a warning if they
        would restrict the page. Nothing is written on a 304, so the last snapshot stays (takedown removes it)."""
        findings, tdm = page_findings(
            headers=response.meta[RAW_META]["headers"], page=None, tdmrep_file=response.meta.get(TDMREP_META)
        )
        findings += _usage_findings_of(response)
        if not findings:
            return None
        record = self.config.feed.permission
        assert record is not None  # feeds without a valid record are never crawled
        verdict = decide(record, findings)
        if verdict.refused or verdict.decision is not Decision.ARCHIVE:
            message = (
                f"{response.url}: answered 304 Not Modified with {verdict.detail}; its archived snapshot stays "
                f"(`feedvault takedown --url {response.url}` removes it)"
            )
            self.tally.log.warn(message)
            logger.warning(message)
        return {"on": "304 Not Modified", **verdict.to_dict(), "tdmrep": tdm}

    def article_failed(self, failure: Failure) -> None:
        """The entry's outcome, under the URL the feed gave (a redirect's target is ``redirected_to``)."""
        request = failure.request  # type: ignore[attr-defined]
        reason, detail, evidence = describe_failure(failure)
        outcome = Outcome.REFUSED if failure.check(RefusedRequest) else Outcome.FAILED
        status = failure.value.response.status if failure.check(HttpError) else None
        entry_url = request.meta.get("redirect_urls", [request.url])[0]
        self.tally.log.add(
            entry_url,
            outcome,
            reason=reason,
            detail=detail,
            http_status=status,
            evidence=evidence,
            redirected_to=request.url if request.url != entry_url else None,
        )

    def callback_failed(self, failure: Failure, response: Response | Failure, spider: scrapy.Spider) -> None:
        """Scrapy's ``spider_error``: a callback or errback raised. Scrapy only logs it, so an article would end
        with no outcome: it gets a ``failed`` one whose reason is the exception's type, and fails the feed."""
        if spider is not self:
            return
        request = response.request if isinstance(response, Response) else getattr(response, "request", None)
        kind = type(failure.value).__name__
        detail = f"the spider's callback raised {kind}: {failure.value}"[:500]
        self._callback_errors[kind] = self._callback_errors.get(kind, 0) + 1
        if request is None or request.meta.get("feedvault_role") != "article":  # a feed document's callback
            self._feed_error(request.url if request is not None else "?", detail)
            return
        entry_url = request.meta.get("redirect_urls", [request.url])[0]
        self.tally.log.add(
            entry_url,
            Outcome.FAILED,
            reason=kind,
            detail=detail,
            http_status=response.status if isinstance(response, Response) else None,
            redirected_to=request.url if request.url != entry_url else None,
        )

    def closed(self, reason: str) -> None:
        tally = self.tally
        tally.finished = reason == "finished"
        if self._callback_errors:  # after the pipeline closed: its errors stay, this one is added
            kinds = ", ".join(f"{kind} {n}" for kind, n in sorted(self._callback_errors.items()))
            error = f"the spider's callback raised for {sum(self._callback_errors.values())} requests ({kinds}); see the log"
            tally.log.error = f"{tally.log.error}; {error}" if tally.log.error else error
        if reason == "shutdown":  # SIGTERM / SIGINT: what was done is committed, the rest waits for the next run
            tally.log.interrupted = True
            tally.log.error = tally.log.error or (
                "interrupted (SIGTERM or SIGINT): the manifest lists what was done; entries it does not list were not "
                "tried and the next run takes them"
            )
        if not tally.finished and not tally.log.error:
            tally.log.error = f"crawl ended early: {reason}"
        if self._feeds_ok == 0 and self._feeds_failed:
            tally.log.error = "no feed document could be read: " + "; ".join(
                str(tally.log.feeds[u].get("error")) for u in self._feeds_failed
            )


def _usage_findings_of(response: Response) -> list[Finding]:
    """Usage findings of a response without a page to scan (a 304): robots.txt rules for its URL, its header."""
    headers = response.meta[RAW_META]["headers"]
    header = aipref.header_statement([value for name, value in headers if name.lower() == "content-usage"])
    return usage_findings([*(response.meta.get(USAGE_META) or []), *([header] if header else [])])


def _declared_charset(response: Response) -> str | None:
    content_type = response.headers.get(b"Content-Type", b"").decode("latin-1").lower()
    for part in content_type.split(";")[1:]:
        name, _, value = part.strip().partition("=")
        if name == "charset" and value:
            return value.strip("\"' ")
    return None


#: Failure reasons by exception type (the exception or one it was raised from), first match wins.
FAILURE_REASONS: tuple[tuple[type[BaseException] | tuple[type[BaseException], ...], str], ...] = (
    (HeaderTooLarge, "header-too-large"),
    ((ResponseTooLarge, DecompressionTooLarge), "too-large"),
    ((DownloadTimeoutError, TimeoutError, TCPTimedOutError), "timeout"),
    ((CannotResolveHostError, DNSLookupError), "dns"),
    ((DownloadConnectionRefusedError, TxConnectionRefusedError), "connection-refused"),
    (TooManyRedirects, "redirect-loop"),
    (RetryAfterTooLong, "retry-after"),
    (ResponseDataLossError, "incomplete-response"),
    (DownloadFailedError, "connection-failed"),
)


def describe_failure(failure: Failure) -> tuple[str, str, dict[str, Any] | None]:
    """(reason code, human detail, evidence) for a failed or refused request, classified by exception type."""
    exc = failure.value
    if isinstance(exc, RefusedRequest):
        return exc.reason, exc.detail, exc.evidence
    if isinstance(exc, HttpError):
        return f"http-{exc.response.status}", f"HTTP {exc.response.status}", None
    message = (str(exc) or type(exc).__name__)[:500]
    chain: list[BaseException] = []
    cause: BaseException | None = exc
    while cause is not None and cause not in chain:
        chain.append(cause)
        cause = cause.__cause__
    for kinds, reason in FAILURE_REASONS:
        if any(isinstance(link, kinds) for link in chain):
            return reason, message, None
    return type(exc).__name__, message, None
