"""Item pipeline: archive each fetched article as a raw WARC capture and a clean JSON snapshot, if permitted.

Per capture: hash the payload; if it equals the baseline snapshot's, write nothing. Otherwise, in the
extraction process pool (never on the reactor thread: trafilatura, gzip and digests are the pipeline's CPU
cost), clean the page, scan it for publisher signals and serialise its WARC request and response records.
Then decide with the permission decision table (feedvault.permission.decisions) before anything is written: refused
pages are only logged (reason and evidence in the manifest) and their records dropped; permitted ones get
those records and a metadata record appended to the rolling WARC (if the decision keeps the raw page) and
their clean JSON PUT from a worker thread (if it keeps the clean text). Both carry the decision and
its evidence. Finished WARC files are uploaded in the background; ``close_spider`` waits for them and saves
the feed's seen state.

Clean records are uncommitted until the run manifest lists them. If a WARC upload fails, every snapshot with
a record in that WARC is withdrawn before the manifest is written (outcome failed, clean record deleted, seen
state put back), so nothing committed ever points at a record the archive does not hold.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import http
import logging
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from feedvault import keys
from feedvault.archive.cdxj import cdxj_key, index_warc_file
from feedvault.archive.clean_records import build_clean_record, dumps_record
from feedvault.archive.manifest import Outcome
from feedvault.archive.warc import Capture, ExchangeRecords, RecordLocation, WarcRoller, WarcSpoolError
from feedvault.cleaning import CleanOptions
from feedvault.cleaning.fingerprints import Observation, RepeatedLines
from feedvault.config import Signal
from feedvault.crawl.context import FeedCrawl
from feedvault.crawl.extraction_pool import examine_capture
from feedvault.crawl.seen_state import SeenState, Snapshot
from feedvault.permission import aipref
from feedvault.permission.decisions import Finding, PageDecision, decide
from feedvault.permission.signals import outside_signals_digest, page_findings
from feedvault.permission.usage import compact, usage_field, usage_findings
from feedvault.versions import versions
from spiders.feeds import ArticleCapture, takedown_evidence

if TYPE_CHECKING:
    from scrapy.crawler import Crawler

logger = logging.getLogger(__name__)


def cleaning_figures(cleaned: dict[str, Any] | None) -> dict[str, int]:
    """What feed health needs of one cleaned page: text length, lines kept, lines the rules removed."""
    text = (cleaned or {}).get("text") or ""
    return {
        "text_chars": len(text),
        "text_lines": sum(1 for line in text.splitlines() if line.strip()),
        "lines_removed": len((cleaned or {}).get("removed") or ()),
    }


def _header(headers: list[tuple[str, str]], name: str) -> str | None:
    lowered = name.lower()
    return next((value for key, value in headers if key.lower() == lowered), None)


def _no_text_detail(cleaned: dict[str, Any] | None, clean_error: str | None, fetch_reason: str) -> str | None:
    """Why an archived page has no clean text (the extractor failed or found none), or None if it has text."""
    if cleaned is not None and cleaned.get("text", "").strip():
        return None
    why = f"the cleaner failed: {clean_error}" if clean_error else "the cleaner found no article text"
    return f"no text extracted ({why}); the clean record's text is empty (fetched: {fetch_reason})"


class ArchivePipeline:
    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler
        self._uploads: set[asyncio.Task[None]] = set()
        self._failed_warcs: dict[str, tuple[str, str]] = {}  # WARC key -> (reason, why it never reached the archive)
        self._failed_cleans = 0
        self._failed_items: dict[str, int] = {}  # reason -> articles whose processing raised
        self._raw_written: dict[int, str] = {}  # id(item) -> WARC key its records went to, while it is processed
        self._stage_warned = False

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> ArchivePipeline:
        return cls(crawler)

    def open_spider(self) -> None:
        self.crawl: FeedCrawl = self.crawler.spider.crawl  # type: ignore[union-attr]
        crawl = self.crawl
        spool = crawl.spool_dir / crawl.feed.id
        spool.mkdir(parents=True, exist_ok=True)
        self.roller = WarcRoller(
            key_for_serial=partial(keys.raw_warc_key, crawl.feed.id, crawl.run_id),
            spool_dir=spool,
            max_bytes=crawl.settings.storage.warc_max_bytes,
            on_complete=self._warc_complete,
            gzip_level=crawl.settings.storage.warc_gzip_level,
            warcinfo={
                "software": f"feedvault/{versions()['feedvault']} (scrapy/{versions()['scrapy']})",
                "format": "WARC File Format 1.1",
                "conformsTo": "https://iipc.github.io/warc-specifications/specifications/warc-format/warc-1.1/",
                "isPartOf": f"{crawl.feed.id}/{crawl.run_id}",
                "description": f"feedvault capture of feed {crawl.feed.id} ({crawl.feed.publisher})",
            },
        )
        # language is metadata, not a filter
        self.clean_options = CleanOptions(rules=crawl.feed.cleaning, learned=self._learned_lines())

    async def process_item(self, item: ArticleCapture) -> dict[str, Any]:
        """Archive one capture; whatever goes wrong, the article ends with an outcome and a failure fails the feed
        (an exception that escaped to Scrapy would only be logged, and the run would report ok)."""
        try:
            return await self._archive_item(item)
        except Exception as exc:
            return self._item_failed(item, exc)
        finally:
            self._raw_written.pop(id(item), None)

    def _item_failed(self, item: ArticleCapture, exc: Exception) -> dict[str, Any]:
        """The outcome of an article whose processing raised: failed, with the reason, and counted for the feed.
        A WARC file that failed in the spool is withdrawn at close with every snapshot in it."""
        if isinstance(exc, WarcSpoolError):
            reason = "warc-write-failed"
            if exc.key is not None:
                self._failed_warcs[exc.key] = ("warc-write-failed", str(exc))
        else:
            reason = "pipeline-error"
            logger.error("archiving %s failed", item.url, exc_info=exc)
        self._failed_items[reason] = self._failed_items.get(reason, 0) + 1
        self.crawl.log.add(
            item.url,
            Outcome.FAILED,
            reason=reason,
            detail=f"{type(exc).__name__}: {exc}"[:500],
            http_status=item.raw.get("status"),
            warc_key=self._raw_written.get(id(item)),  # its raw records, if appended, are named
        )
        return {"url": item.url, "outcome": "failed"}

    async def _archive_item(self, item: ArticleCapture) -> dict[str, Any]:
        crawl, log = self.crawl, self.crawl.log
        raw = item.raw
        if self.crawler.spider.taken_down(item.url):  # type: ignore[union-attr]  (redirected to a tombstone)
            log.add(
                item.url, Outcome.REFUSED, reason="takedown", detail="taken down", evidence=takedown_evidence(item.url)
            )
            return {"url": item.url, "outcome": "refused"}
        payload_sha256 = hashlib.sha256(raw["body"]).hexdigest()
        signals = self._outside_signals(item)
        baseline = item.plan.baseline
        same_payload = baseline is not None and baseline.sha256 == payload_sha256
        # A baseline from before signals were digested (None) is taken as unchanged, as it always was.
        if same_payload and baseline.signals in (None, signals):  # type: ignore[union-attr]
            # Nothing is written for an unchanged page (also under --force), so it is not judged again.
            log.add(
                item.url, Outcome.UNCHANGED, reason="same-payload", http_status=raw["status"], sha256=payload_sha256
            )
            crawl.state.record(
                item.url, now=crawl.now, entry_updated=item.entry.updated, published=item.entry.published
            )
            return {"url": item.url, "outcome": "unchanged"}

        try:
            examined = await asyncio.wrap_future(
                crawl.extractor.submit(
                    examine_capture,
                    item.body,
                    item.declared_encoding,
                    self.clean_options,
                    self._capture(item),
                    crawl.settings.storage.warc_gzip_level,
                )
            )
        except Exception as exc:  # without the page's signals there is no decision: nothing is written
            logger.warning("examining %s failed: %s", item.url, exc)
            log.add(item.url, Outcome.FAILED, reason="examine-failed", detail=f"{type(exc).__name__}: {exc}")
            return {"url": item.url, "outcome": "failed"}
        cleaned, clean_error = examined["cleaned"], examined["clean_error"]
        verdict, permission, usage = self._decide(item, examined)
        log.note_evidence(permission)  # feed health compares these facts with the previous run's
        if verdict.refused:  # under the URL the feed gave, like the spider's refusals (nothing is kept by URL)
            log.add(
                item.requested_url,
                Outcome.REFUSED,
                reason=verdict.reason,
                detail=verdict.detail,
                http_status=raw["status"],
                sha256=payload_sha256,
                evidence=permission,
                redirected_to=item.url if item.url != item.requested_url else None,
            )
            return {"url": item.url, "outcome": "refused"}

        location = self._write_raw(item, examined["exchange"], permission, usage) if "raw" in verdict.stored else None
        if location is not None:
            self._raw_written[id(item)] = location.warc_key
        record = build_clean_record(
            url=item.url,
            feed_id=crawl.feed.id,
            run_id=crawl.run_id.value,
            fetched_at=item.fetched_at.isoformat(),
            entry=item.entry.to_dict(),
            cleaned=cleaned,
            clean_error=clean_error,
            permission=permission,
            usage=usage,
            raw={
                "sha256": payload_sha256,
                "status": raw["status"],
                "content_type": _header(raw["headers"], "Content-Type"),
                "warc_key": location.warc_key if location else None,
                "offset": location.offset if location else None,
                "length": location.length if location else None,
                "record_id": location.record_id if location else None,
                "requested_url": item.requested_url,
                "redirects": item.redirects,
            },
            versions=versions(),
        )
        stores_clean = "clean" in verdict.stored
        clean_key = keys.clean_key(crawl.feed.id, crawl.run_id, item.url) if stores_clean else None
        data = dumps_record(record) if stores_clean else b""
        if clean_key and not crawl.plan.dry_run:
            try:
                await asyncio.to_thread(self._put_clean, clean_key, data)
            except Exception as exc:  # no state recorded: the next run fetches it again
                logger.error("writing the clean record of %s failed: %s", item.url, exc)
                self._failed_cleans += 1
                log.add(
                    item.url,
                    Outcome.FAILED,
                    reason="clean-write-failed",
                    detail=f"{type(exc).__name__}: {exc}",
                    http_status=raw["status"],
                    sha256=payload_sha256,
                    warc_key=location.warc_key if location else None,  # its raw record stayed there: named
                )
                return {"url": item.url, "outcome": "failed"}
        self._observe_lines(item, examined)
        crawl.state.record(
            item.url,
            now=crawl.now,
            entry_updated=item.entry.updated,
            published=item.entry.published,
            snapshot=Snapshot(
                run_id=crawl.run_id.value,
                sha256=payload_sha256,
                clean_key=clean_key,
                warc_key=location.warc_key if location else None,
                fetched_at=item.fetched_at.isoformat(),
                etag=_header(raw["headers"], "ETag"),
                last_modified=_header(raw["headers"], "Last-Modified"),
                signals=signals,
            ),
        )
        no_text = _no_text_detail(cleaned, clean_error, item.plan.reason)
        log.add(
            item.url,
            Outcome.CHANGED if baseline is not None else Outcome.NEW,
            reason="no-text" if no_text else "signals-changed" if same_payload else item.plan.reason,
            detail=no_text,
            http_status=raw["status"],
            sha256=payload_sha256,
            clean_key=clean_key,
            warc_key=location.warc_key if location else None,
            bytes_written=len(data) + (location.length if location else 0),
            cleaning=cleaning_figures(cleaned),
            usage=compact(usage) or None,
        )
        return {"url": item.url, "outcome": "archived"}

    def _learned_lines(self) -> RepeatedLines | None:
        """The feed's learned boilerplate lines, for the workers to remove (None: learning is off)."""
        learned = self.crawl.fingerprints
        return learned.repeated_lines(self.crawl.settings.learned_boilerplate) if learned is not None else None

    def _observe_lines(self, item: ArticleCapture, examined: dict[str, Any]) -> None:
        """Keep an archived article's candidate lines; the runner merges them into the feed's set at the end."""
        if examined.get("line_fingerprints"):
            day = (item.entry.published or item.fetched_at).astimezone(dt.UTC).date().isoformat()
            self.crawl.line_observations.append(
                Observation(item.url, self.crawl.run_id.value, day, examined["line_fingerprints"])
            )

    def _put_clean(self, key: str, data: bytes) -> None:
        self.crawl.store.put_bytes(key, data, "application/json")
        if self.crawl.stage is not None:  # the catalog update reads it back from here, not from S3
            try:
                self.crawl.stage.put_bytes(key, data, "application/json")
            except Exception as exc:  # scratch (written atomically): the catalog reads a missing copy from S3
                if not self._stage_warned:
                    self._stage_warned = True
                    self.crawl.log.warn(f"local copies of clean records not kept ({exc}); the catalog reads them back")

    def _decide(
        self, item: ArticleCapture, examined: dict[str, Any]
    ) -> tuple[PageDecision, dict[str, Any], dict[str, Any]]:
        """The page's decision, the permission evidence every snapshot (or refusal) carries, and its usage field."""
        findings, tdm = page_findings(
            headers=item.raw["headers"],
            page=examined["page"],
            article_notices=(examined["cleaned"] or {}).get("rights_reservations", []),
            tdmrep_file=item.tdmrep,
        )
        if item.robots and item.robots.get("disallowed"):  # fetched only because a written permission overrides
            findings.insert(
                0, Finding(Signal.ROBOTS_TXT, "robots", item.robots["robots_url"], item.robots.get("verdict"))
            )
        statements = self._usage_statements(item)
        findings += usage_findings(statements)
        record = self.crawl.feed.permission
        assert record is not None  # feeds without a valid record are never crawled
        verdict = decide(record, findings)
        permission = {**self.crawl.permission, **verdict.to_dict(), "robots": item.robots, "tdmrep": tdm}
        return verdict, permission, usage_field(statements, permission["signals"], tdm)

    def _outside_signals(self, item: ArticleCapture) -> str:
        """What the publisher says about the page outside its payload, as the digest its snapshot keeps."""
        return outside_signals_digest(
            headers=item.raw["headers"],
            tdmrep_file=item.tdmrep,
            robots=item.robots,
            statements=self._usage_statements(item),
        )

    @staticmethod
    def _usage_statements(item: ArticleCapture) -> list[aipref.Statement]:
        """AIPREF / Content Signals statements for the page: robots.txt rules for its URL, its Content-Usage header."""
        header = aipref.header_statement([v for k, v in item.raw["headers"] if k.lower() == "content-usage"])
        return [*item.robots_usage, *([header] if header else [])]

    @staticmethod
    def _capture(item: ArticleCapture) -> Capture:
        """The exchange as transferred, for the workers to serialise as WARC request and response records."""
        raw = item.raw
        try:
            reason = http.HTTPStatus(raw["status"]).phrase
        except ValueError:
            reason = ""
        return Capture(
            url=item.url,
            request_method="GET",
            request_headers=[("Host", urlsplit(item.url).netloc), *raw["request_headers"]],
            status=raw["status"],
            reason=reason,
            protocol=raw["protocol"],
            response_headers=raw["headers"],
            body=raw["body"],
            fetched_at=item.fetched_at,
            ip_address=raw["ip_address"],
        )

    def _write_raw(
        self, item: ArticleCapture, exchange: ExchangeRecords, permission: dict[str, Any], usage: dict[str, Any]
    ) -> RecordLocation:
        metadata = {
            "feed": self.crawl.feed.id,
            "run_id": self.crawl.run_id.value,
            "entry": item.entry.to_dict(),
            "fetch_reason": item.plan.reason,
            "requested_url": item.requested_url,
            "redirects": item.redirects,
            "robots": item.robots,
            "permission": permission,
            "usage": usage,
        }
        return self.roller.append(exchange, metadata)

    def _warc_complete(self, key: str, path: Path) -> None:
        if self.crawl.plan.dry_run:
            path.unlink(missing_ok=True)
            return
        task = asyncio.get_running_loop().create_task(self._upload_warc(key, path))
        self._uploads.add(task)
        task.add_done_callback(self._uploads.discard)

    async def _upload_warc(self, key: str, path: Path) -> None:
        try:
            await asyncio.to_thread(self.crawl.store.put_file, key, path, "application/warc")
        except Exception as exc:
            logger.error("uploading %s failed: %s", key, exc)
            self._failed_warcs[key] = ("warc-upload-failed", f"upload failed: {type(exc).__name__}: {exc}")
        else:
            await self._index_warc(key, path)
            path.unlink(missing_ok=True)

    async def _index_warc(self, key: str, path: Path) -> None:
        """Its CDXJ next to the uploaded WARC, so pywb replays every run as it lands. Built in an extraction
        worker (cdxj-indexer parses the whole file); derived data, so a failure only warns."""
        try:
            lines = await asyncio.wrap_future(self.crawl.extractor.submit(index_warc_file, path, key))
            await asyncio.to_thread(self.crawl.store.put_bytes, cdxj_key(key), lines, "text/plain; charset=utf-8")
        except Exception as exc:
            logger.warning("CDXJ index of %s not written: %s", key, exc)
            self.crawl.log.warn(f"CDXJ index of {key} not written ({exc}); `feedvault cdxj` writes it")

    async def close_spider(self) -> None:
        try:
            await self._close()
        except Exception as exc:  # Scrapy would only log it, and the feed would look ok
            logger.error("closing the archive of feed %s failed", self.crawl.feed.id, exc_info=exc)
            error = f"closing the feed's archive failed ({type(exc).__name__}: {exc}); run the feed again"
            self.crawl.log.error = f"{self.crawl.log.error}; {error}" if self.crawl.log.error else error

    async def _close(self) -> None:
        """Finish the last WARC, wait for uploads, withdraw what never reached the archive, save the seen state."""
        try:
            self.roller.close()
        except WarcSpoolError as exc:  # its snapshots are withdrawn below
            if exc.key is not None:
                self._failed_warcs[exc.key] = ("warc-write-failed", str(exc))
        self.crawl.state.prune(self.crawl.now - self.crawl.settings.state_retention)
        while self._uploads:
            await asyncio.gather(*list(self._uploads))
        errors = []  # the archive refused writes: the feed fails, so the operator hears of it
        for reason, count in self._failed_items.items():
            errors.append(f"{count} articles failed while being archived (outcome {reason} in the manifest)")
        if self._failed_cleans:
            errors.append(
                f"{self._failed_cleans} clean records not written (outcome clean-write-failed in the manifest); "
                "the next run fetches them again"
            )
        if self._failed_warcs:
            errors.insert(0, await asyncio.to_thread(self._withdraw_unbacked))
        elif not self.crawl.plan.dry_run:
            try:
                await asyncio.to_thread(self.crawl.state.save, self.crawl.store)
            except Exception as exc:  # what was archived stays (the manifest lists it); only dedup is lost
                errors.append(f"seen state not saved ({exc}): the next run fetches and archives these articles again")
        if errors:
            self.crawl.log.error = "; ".join(errors)

    def _withdraw_unbacked(self) -> str:
        """Some WARC never reached the archive: withdraw every snapshot whose raw record was in it; say so.

        Their outcomes become failures (so the manifest never points at a missing record and the catalog never
        lists them), their clean records are deleted, and their seen state is put back as it was before this run,
        so the next run fetches exactly those articles again.
        """
        crawl, failed = self.crawl, self._failed_warcs
        withdrawn = []
        for reason in sorted({reason for reason, _why in failed.values()}):
            lost = [key for key, (why, _detail) in failed.items() if why == reason]
            withdrawn += crawl.log.fail_archived(
                lost, reason=reason, detail="its WARC record never reached the archive; not archived"
            )
        try:
            crawl.store.delete([o.clean_key for o in withdrawn if o.clean_key])
        except Exception as exc:  # unreferenced by any manifest, so never listed; only storage is wasted
            crawl.log.warn(f"withdrawn clean records not deleted ({exc}); no manifest points at them")
        try:
            before = SeenState.load(crawl.store, crawl.feed.id)
        except Exception as exc:  # keep the whole old state: the next run fetches the feed's articles again
            crawl.log.warn(f"seen state not saved ({exc}): the next run fetches this feed's articles again")
        else:
            crawl.state.revert([o.url for o in withdrawn], before)
            try:
                crawl.state.save(crawl.store)
            except Exception as exc:
                crawl.log.warn(f"seen state not saved ({exc}): the next run fetches this feed's articles again")
        lost = "; ".join(why if why.startswith(key) else f"{key}: {why}" for key, (_reason, why) in failed.items())
        return f"WARC not archived ({lost}); {len(withdrawn)} articles not archived: the next run fetches them again"
