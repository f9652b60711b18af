"""Item pipeline: archive each fetched article as a raw WARC capture and a clean record, if permitted.

Per capture: hash the payload; if it equals the baseline snapshot's, write nothing. Otherwise, in the
extraction process pool (never on the reactor thread: trafilatura, gzip and digests are the pipeline's CPU
cost), clean the page, scan it for publisher signals and serialise its WARC request and response records.
Then decide with the permission decision table (feedvault.permission.decisions) before anything is written: refused
pages are only logged (reason and evidence in the manifest) and their records dropped; permitted ones get
those records and a metadata record appended to the rolling WARC (if the decision keeps the raw page) and
their clean record appended to the rolling clean segment (if it keeps the clean text). Both carry the decision
and its evidence. Finished WARCs and segments are uploaded in the background; ``close_spider`` waits for them
and saves the feed's seen state.

Everything is uncommitted until the run manifest lists it. If a WARC or segment upload fails, every snapshot
with a record in that file is withdrawn before the manifest is written (outcome failed, seen state put back),
so nothing committed ever points at a record the archive does not hold.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import http
import logging
from collections import Counter
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from feedvault import keys
from feedvault.archive.cdxj import cdxj_key
from feedvault.archive.clean_records import build_clean_record
from feedvault.archive.clean_segments import CleanSegmentRoller, dumps_line, encode_member
from feedvault.archive.rolling import SpoolFileError
from feedvault.archive.warc import Capture, RecordLocation, WarcRoller, WarcSpoolError
from feedvault.catalog.index import snapshot_row
from feedvault.cleaning import CleanOptions
from feedvault.cleaning.fingerprints import Observation, RepeatedLines
from feedvault.config import Signal
from feedvault.crawl.context import FeedCrawl
from feedvault.crawl.extraction_pool import examine_capture
from feedvault.crawl.items import ArticleCapture
from feedvault.crawl.outcomes import Archived, ArticleFailed, ArticleOutcomes, PassedOn
from feedvault.crawl.seen_state import SeenSnapshot, SeenState
from feedvault.permission import aipref
from feedvault.permission.decisions import Finding, PageDecision, decide
from feedvault.permission.signals import outside_signals_digest, page_findings
from feedvault.permission.usage import usage_field, usage_findings
from feedvault.versions import versions

if TYPE_CHECKING:
    from scrapy.crawler import Crawler

logger = logging.getLogger(__name__)

#: Failures that fail the feed, with what the feed's error says of them (the others only fail their article).
FEED_FAILING = {
    "pipeline-error": "{n} articles failed while being archived (outcome pipeline-error in the manifest)",
    "warc-write-failed": "{n} articles failed while being archived (outcome warc-write-failed in the manifest)",
    "clean-write-failed": "{n} articles failed while being archived (outcome clean-write-failed in the manifest)",
}


def _header(headers: list[tuple[str, str]], name: str) -> str | None:
    lowered = name.lower()
    return next((value for key, value in headers if key.lower() == lowered), None)


@dataclass(frozen=True)
class Judgement:
    """The page's decision, the permission evidence its snapshot (or refusal) carries, and its usage field."""

    verdict: PageDecision
    permission: dict[str, Any]
    usage: dict[str, Any]


class ArchivePipeline:
    def __init__(self, crawl: FeedCrawl) -> None:
        self.config, self.services, self.tally = crawl.config, crawl.services, crawl.tally
        self.outcomes = ArticleOutcomes(crawl.tally.log)
        self._uploads: set[asyncio.Task[None]] = set()
        self._failed_files: dict[str, tuple[str, str]] = {}  # WARC or segment -> (reason, why it never got there)
        self._feed_failing: Counter[str] = Counter()  # reason -> articles whose failure fails the feed
        self._raw_written: dict[int, str] = {}  # id(item) -> WARC key its records went to, while it is processed
        self._identities: dict[str, str] = {}  # URL archived under -> the feed entry whose capture stands for it

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> ArchivePipeline:
        return cls(FeedCrawl.of(crawler))

    def open_spider(self) -> None:
        config = self.config
        spool = self.services.spool_dir / config.feed.id
        spool.mkdir(parents=True, exist_ok=True)
        shard = config.plan.shard.index if config.plan.shard else None  # a shard writes its own serial block
        self.roller = WarcRoller(
            key_for_serial=partial(keys.raw_warc_key, config.feed.id, config.run_id, shard=shard),
            spool_dir=spool,
            max_bytes=config.settings.storage.warc_max_bytes,
            on_complete=self._warc_complete,
            gzip_level=config.settings.storage.warc_gzip_level,
            warcinfo={
                "software": f"feedvault/{versions()['feedvault']} (scrapy/{versions()['scrapy']})",
                "format": "WARC File Format 1.1",
                "conformsTo": "https://iipc.github.io/warc-specifications/specifications/warc-format/warc-1.1/",
                "isPartOf": f"{config.feed.id}/{config.run_id}",
                "description": f"feedvault capture of feed {config.feed.id} ({config.feed.publisher})",
            },
        )
        self.cleans = CleanSegmentRoller(
            key_for_serial=partial(keys.clean_segment_key, config.feed.id, config.run_id, shard=shard),
            spool_dir=spool,
            max_bytes=config.settings.storage.clean_segment_max_bytes,
            on_complete=self._segment_complete,
            gzip_level=config.settings.storage.clean_gzip_level,
        )
        # language is metadata, not a filter
        self.clean_options = CleanOptions(rules=config.feed.cleaning, learned=self._learned_lines())

    async def process_item(self, item: ArticleCapture) -> PassedOn:
        """Archive one capture; whatever goes wrong, the article ends with an outcome and a failure fails the feed
        (an exception that escaped to Scrapy would only be logged, and the run would report ok)."""
        try:
            return await self._archive_item(item)
        except Exception as exc:
            return self.outcomes.failed(item, self._failure(item, exc))
        finally:
            self._raw_written.pop(id(item), None)

    async def _archive_item(self, item: ArticleCapture) -> PassedOn:
        """Taken down? unchanged? examine, identify, judge, refuse or write raw and clean, remember, record."""
        if self.services.tombstones.taken_down(item.url):  # redirected to a tombstone
            return self.outcomes.taken_down(item.url)
        sha256 = hashlib.sha256(item.raw["body"]).hexdigest()
        signals = self._outside_signals(item)
        item.identity = keys.Identity(self.tally.state.identity(item.url))  # until the page says otherwise
        if self._unchanged(item, sha256, signals):
            return self._pass_unchanged(item, sha256)
        examined = await self._examine(item)
        settled = self._identify(item, examined, sha256, signals)
        if settled is not None:
            return settled
        judged = self._judge(item, examined)
        if judged.verdict.refused:
            return self.outcomes.refused(item, judged.verdict, judged.permission, sha256)
        location = self._append_raw(item, examined, judged)
        clean_key, clean_bytes = await self._write_clean(item, examined, judged, sha256, location)
        archived = Archived(sha256, clean_key, clean_bytes, location)
        self._observe_lines(item, examined)
        self._remember(item, self._snapshot(item, archived, signals))
        return self.outcomes.archived(item, archived, examined, judged.usage)

    def _failure(self, item: ArticleCapture, exc: Exception) -> ArticleFailed:
        """What an exception while archiving means for the article; counted when it fails the feed.
        A WARC or clean segment that failed in the spool is withdrawn at close with every snapshot in it."""
        if isinstance(exc, ArticleFailed):
            failure = exc
        elif isinstance(exc, SpoolFileError):  # a WARC or clean segment the spool could not take
            reason = "warc-write-failed" if isinstance(exc, WarcSpoolError) else "clean-write-failed"
            if exc.key is not None:
                self._failed_files[exc.key] = (reason, str(exc))
            failure = ArticleFailed(reason, f"{type(exc).__name__}: {exc}")
        else:
            logger.error("archiving %s failed", item.url, exc_info=exc)
            failure = ArticleFailed("pipeline-error", f"{type(exc).__name__}: {exc}")
        if failure.warc_key is None:
            failure.warc_key = self._raw_written.get(id(item))  # its raw records, if appended, are named
        if failure.reason in FEED_FAILING:
            self._feed_failing[failure.reason] += 1
        return failure

    def _unchanged(self, item: ArticleCapture, sha256: str, signals: str) -> bool:
        """The payload and the publisher's outside signals are the baseline's (also under --force): nothing is
        written, so the page is not judged again. A baseline from before signals were digested (None) counts as
        the same signals, as it always did."""
        baseline = item.plan.baseline
        return baseline is not None and baseline.sha256 == sha256 and baseline.signals in (None, signals)

    def _remember(self, item: ArticleCapture, snapshot: SeenSnapshot | None = None) -> None:
        """Record the URL in the seen state, with its new snapshot if one was archived, pointing at the URL it is
        archived under (so the next run plans it against that URL's snapshots)."""
        self.tally.state.record(
            item.url,
            now=self.config.now,
            entry_updated=item.entry.updated,
            published=item.entry.published,
            snapshot=snapshot,
            identity=item.archived_url,
        )

    def _identify(self, item: ArticleCapture, examined: dict[str, Any], sha256: str, signals: str) -> PassedOn | None:
        """Archive the page under its same-site canonical URL, if it declares one (keys.canonical_identity): then
        it is compared with that URL's baseline, and one capture per URL stands for it in a run. The outcome,
        when that settles it (the canonical URL taken down, unchanged, another capture stands for it)."""
        planned = item.archived_url
        item.identity = keys.canonical_identity(item.url, examined["page"].get("canonical") or [])
        shard = self.config.plan.shard
        if shard is not None and not shard.owns(item.archived_url):  # another shard owns that URL (and may archive
            # it): every URL is written by one shard only, so this capture keeps its own URL
            item.identity = keys.Identity(item.url, {"href": item.archived_url, "ignored": "other-shard"})
        if item.archived_url != item.url and self.services.tombstones.taken_down(item.archived_url):
            return self.outcomes.taken_down(item.url, tombstoned=item.archived_url)
        if item.archived_url != planned:  # the plan's baseline is another URL's: this one's instead
            baseline = self.tally.state.baseline(item.archived_url, self.config.run_id.value)
            item.plan = replace(item.plan, baseline=baseline)
            if self._unchanged(item, sha256, signals):
                return self._pass_unchanged(item, sha256)
        if not self._claim(item):
            return self._duplicate(item)
        return None

    def _pass_unchanged(self, item: ArticleCapture, sha256: str) -> PassedOn:
        if not self._claim(item):
            return self._duplicate(item)
        self._remember(item)
        return self.outcomes.unchanged(item, sha256)

    def _claim(self, item: ArticleCapture) -> bool:
        """Whether this capture stands for the URL it is archived under in this run: a run keeps one snapshot per
        URL. A variant gives way to the URL this run prefers (:meth:`_preferred_source`); otherwise the first
        capture to get here takes it."""
        identity = item.archived_url
        if identity != item.url and self._preferred_source(identity) not in (None, item.url):
            return False
        return self._identities.setdefault(identity, item.requested_url) == item.requested_url

    def _preferred_source(self, identity: str) -> str | None:
        """Which fetch stands for ``identity`` whenever this run requests it: the canonical URL itself, else the
        URL its last snapshot was fetched from. So variants of one page that differ a little (AMP, print view)
        do not take turns as the new snapshot run after run."""
        requested = self.tally.requested
        if identity in requested:
            return identity
        baseline = self.tally.state.baseline(identity, self.config.run_id.value)
        source = baseline.fetched_url if baseline is not None else None
        return source if source in requested else None

    def _duplicate(self, item: ArticleCapture) -> PassedOn:
        self._remember(item)
        first = self._identities.get(item.archived_url) or self._preferred_source(item.archived_url)
        return self.outcomes.duplicate(item, first)

    async def _examine(self, item: ArticleCapture) -> dict[str, Any]:
        """Clean, scan and serialise the WARC records in an extraction worker (never on the reactor thread)."""
        try:
            return await asyncio.wrap_future(
                self.services.extractor.submit(
                    examine_capture,
                    item.body,
                    item.declared_encoding,
                    self.clean_options,
                    self._capture(item),
                    self.config.settings.storage.warc_gzip_level,
                )
            )
        except Exception as exc:  # without the page's signals there is no decision: nothing is written
            logger.warning("examining %s failed: %s", item.url, exc)
            raise ArticleFailed("examine-failed", f"{type(exc).__name__}: {exc}") from exc

    def _append_raw(self, item: ArticleCapture, examined: dict[str, Any], judged: Judgement) -> RecordLocation | None:
        """Append the WARC request, response and metadata records, if the decision keeps the raw page."""
        if "raw" not in judged.verdict.stored:
            return None
        metadata = {
            **({"archived_as": item.archived_url} if item.fetched_url else {}),
            **({"canonical": item.identity.canonical} if item.identity and item.identity.canonical else {}),
            "feed": self.config.feed.id,
            "run_id": self.config.run_id.value,
            "entry": item.entry.to_dict(),
            "fetch_reason": item.plan.reason,
            "requested_url": item.requested_url,
            "redirects": item.redirects,
            "robots": item.robots,
            "permission": judged.permission,
            "usage": judged.usage,
        }
        location = self.roller.append(examined["exchange"], metadata)
        self._raw_written[id(item)] = location.warc_key
        return location

    async def _write_clean(
        self,
        item: ArticleCapture,
        examined: dict[str, Any],
        judged: Judgement,
        sha256: str,
        location: RecordLocation | None,
    ) -> tuple[str | None, int]:
        """Append the clean record to the rolling clean segment, if the decision keeps the clean text; (its
        pointer, its size). The segment is uploaded when it rolls, like a WARC (a dry run's store discards it)."""
        if "clean" not in judged.verdict.stored:
            return None, 0
        record = self._clean_record(item, examined, judged, sha256, location)
        member = encode_member(dumps_line(record), self.config.settings.storage.clean_gzip_level)
        clean_key = self.cleans.append_member(member)
        self._stage_catalog_row(clean_key, record)
        return clean_key, len(member)

    def _stage_catalog_row(self, clean_key: str, record: dict[str, Any]) -> None:
        """Stage the record's catalog row for the run's catalog piece (scratch: one that cannot be staged is read
        back from the archive at commit)."""
        stage = self.services.catalog_rows
        if stage is not None and not stage.add(snapshot_row(clean_key, record)):
            self.tally.log.warn(f"catalog rows not staged ({stage.failed}); the catalog update reads the records back")

    def _clean_record(
        self,
        item: ArticleCapture,
        examined: dict[str, Any],
        judged: Judgement,
        sha256: str,
        location: RecordLocation | None,
    ) -> dict[str, Any]:
        raw = item.raw
        return build_clean_record(
            url=item.archived_url,
            fetched_url=item.url,
            canonical=item.identity.canonical if item.identity else None,
            feed_id=self.config.feed.id,
            run_id=self.config.run_id.value,
            fetched_at=item.fetched_at.isoformat(),
            entry=item.entry.to_dict(),
            cleaned=examined["cleaned"],
            clean_error=examined["clean_error"],
            permission=judged.permission,
            usage=judged.usage,
            raw={
                "sha256": sha256,
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

    def _snapshot(self, item: ArticleCapture, archived: Archived, signals: str) -> SeenSnapshot:
        """The seen state's baseline for the next run: this snapshot, with the validators for a conditional GET."""
        headers = item.raw["headers"]
        return SeenSnapshot(
            run_id=self.config.run_id.value,
            sha256=archived.sha256,
            clean_key=archived.clean_key,
            warc_key=archived.warc_key,
            fetched_at=item.fetched_at.isoformat(),
            etag=_header(headers, "ETag"),
            last_modified=_header(headers, "Last-Modified"),
            signals=signals,
            fetched_url=item.fetched_url,
        )

    def _learned_lines(self) -> RepeatedLines | None:
        """The feed's learned boilerplate lines, for the workers to remove (None: learning is off)."""
        learned = self.services.fingerprints
        return learned.repeated_lines(self.config.settings.learned_boilerplate) if learned is not None else None

    def _observe_lines(self, item: ArticleCapture, examined: dict[str, Any]) -> None:
        """Keep an archived article's candidate lines; the runner merges them into the feed's set at the end."""
        if examined.get("line_fingerprints"):
            day = (item.entry.published or item.fetched_at).astimezone(dt.UTC).date().isoformat()
            self.tally.line_observations.append(
                Observation(item.archived_url, self.config.run_id.value, day, examined["line_fingerprints"])
            )

    def _judge(self, item: ArticleCapture, examined: dict[str, Any]) -> Judgement:
        """Decide with the decision table before anything is written; the feed notes the page's evidence (feed
        health compares these facts with the previous run's)."""
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
        record = self.config.feed.permission
        assert record is not None  # feeds without a valid record are never crawled
        verdict = decide(record, findings)
        permission = {**self.config.permission, **verdict.to_dict(), "robots": item.robots, "tdmrep": tdm}
        self.tally.log.note_evidence(permission)
        return Judgement(verdict, permission, usage_field(statements, permission["signals"], tdm))

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

    def _warc_complete(self, key: str, path: Path) -> None:
        index = self.roller.take_index(key)  # its lines were built with its records, in the workers
        task = asyncio.get_running_loop().create_task(self._upload_warc(key, path, index))
        self._uploads.add(task)
        task.add_done_callback(self._uploads.discard)

    async def _upload_warc(self, key: str, path: Path, index: bytes) -> None:
        try:
            await asyncio.to_thread(self.services.store.put_file, key, path, "application/warc")
        except Exception as exc:
            logger.error("uploading %s failed: %s", key, exc)
            self._failed_files[key] = ("warc-upload-failed", f"upload failed: {type(exc).__name__}: {exc}")
        else:
            path.unlink(missing_ok=True)
            await self._upload_index(key, index)

    def _segment_complete(self, key: str, path: Path) -> None:
        task = asyncio.get_running_loop().create_task(self._upload_segment(key, path))
        self._uploads.add(task)
        task.add_done_callback(self._uploads.discard)

    async def _upload_segment(self, key: str, path: Path) -> None:
        """Upload a finished clean segment. A failed upload withdraws its snapshots at close, like a WARC's."""
        try:
            await asyncio.to_thread(self.services.store.put_file, key, path, "application/gzip")
        except Exception as exc:
            logger.error("uploading %s failed: %s", key, exc)
            self._failed_files[key] = ("clean-upload-failed", f"upload failed: {type(exc).__name__}: {exc}")
        finally:
            path.unlink(missing_ok=True)

    async def _upload_index(self, key: str, index: bytes) -> None:
        """Its CDXJ next to the uploaded WARC, so pywb replays every run as it lands. Derived data, so a failure
        only warns."""
        try:
            await asyncio.to_thread(self.services.store.put_bytes, cdxj_key(key), index, "text/plain; charset=utf-8")
        except Exception as exc:
            logger.warning("CDXJ index of %s not written: %s", key, exc)
            self.tally.log.warn(f"CDXJ index of {key} not written ({exc}); `feedvault cdxj` writes it")

    async def close_spider(self) -> None:
        try:
            await self._close()
        except Exception as exc:  # Scrapy would only log it, and the feed would look ok
            logger.error("closing the archive of feed %s failed", self.config.feed.id, exc_info=exc)
            error = f"closing the feed's archive failed ({type(exc).__name__}: {exc}); run the feed again"
            log = self.tally.log
            log.error = f"{log.error}; {error}" if log.error else error

    async def _close(self) -> None:
        """Finish the last WARC and segment, wait for uploads, withdraw what never reached the archive, save the
        seen state."""
        for roller, reason in ((self.roller, "warc-write-failed"), (self.cleans, "clean-write-failed")):
            try:
                roller.close()
            except SpoolFileError as exc:  # its snapshots are withdrawn below
                if exc.key is not None:
                    self._failed_files[exc.key] = (reason, str(exc))
        self.tally.state.prune(self.config.now - self.config.settings.state_retention)
        while self._uploads:
            await asyncio.gather(*list(self._uploads))
        errors = []  # the archive refused writes: the feed fails, so the operator hears of it
        errors += [
            said.format(n=self._feed_failing[reason])
            for reason, said in FEED_FAILING.items()
            if reason in self._feed_failing
        ]
        if self._failed_files:
            errors.insert(0, await asyncio.to_thread(self._withdraw_unbacked))
        else:
            try:
                await asyncio.to_thread(self.tally.state.save, self.services.store)
            except Exception as exc:  # what was archived stays (the manifest lists it); only dedup is lost
                errors.append(f"seen state not saved ({exc}): the next run fetches and archives these articles again")
        if errors:
            self.tally.log.error = "; ".join(errors)

    def _withdraw_unbacked(self) -> str:
        """Some WARC or clean segment never reached the archive: withdraw every snapshot with a record in it; say so.

        Their outcomes become failures (so the manifest never points at a missing record and the catalog never
        lists them; a failed entry still names the file its other record stayed in), and their seen state is put
        back as it was before this run, so the next run fetches exactly those articles again.
        """
        log, state, store, failed = self.tally.log, self.tally.state, self.services.store, self._failed_files
        withdrawn = []
        for reason in sorted({reason for reason, _why in failed.values()}):
            lost = [key for key, (why, _detail) in failed.items() if why == reason]
            withdrawn += log.fail_archived(
                lost, reason=reason, detail="its WARC or clean segment never reached the archive; not archived"
            )
        try:
            before = SeenState.load(store, self.config.feed.id)
        except Exception as exc:  # keep the whole old state: the next run fetches the feed's articles again
            log.warn(f"seen state not saved ({exc}): the next run fetches this feed's articles again")
        else:
            state.revert([o.url for o in withdrawn], before)
            try:
                state.save(store)
            except Exception as exc:
                log.warn(f"seen state not saved ({exc}): the next run fetches this feed's articles again")
        lost = "; ".join(why if why.startswith(key) else f"{key}: {why}" for key, (_reason, why) in failed.items())
        return f"not archived ({lost}); {len(withdrawn)} articles not archived: the next run fetches them again"
