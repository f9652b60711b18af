"""Re-clean from raw: rebuild clean records from the archived WARC records with today's rules and fingerprints.

The raw capture is the source of truth. ``feedvault reclean [--feed ID] [--from DAY --to DAY] [--dry-run]``:

1. **sources**: the committed runs' feed manifests name every archived capture (URL, clean record, WARC); for
   each capture the newest clean version is taken (an earlier reclean's, if any). ``--from/--to`` select
   captures by the day of the run that fetched them (the day in their WARC's key);
2. **re-clean**: per capture, its clean record (one GET) gives the raw pointer; the response record is one
   ranged GET (checked against its sha256); the page is cleaned and scanned again in the extraction pool with
   the feed's rules and learned boilerplate as they are today;
3. **re-decide**: the permission decision is taken again from the signals found in the page now, plus those
   judged at fetch time outside the page (robots.txt, the host's tdmrep.json), under the feed's permission
   record as it is today;
4. **write**: an identical result writes nothing (``unchanged``); a different one is written as a new version
   (``changed``, reason ``reclean``: key scheme in feedvault/keys.py); a page the decision now refuses keeps
   no copy: it is taken down (raw and clean, every version; feedvault.permission.takedown) with the finding as reason;
5. **commit**: feed manifests and a run manifest like any run (``finalize_run``), which updates the catalog.

It is a run of its own (run id ``...-reclean``), so a retry with the same run id replaces its partition. It
neither learns fingerprints nor touches the seen state (the raw payloads did not change).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from feedvault import keys
from feedvault.archive.clean_records import build_clean_record
from feedvault.archive.clean_segments import CleanSegmentRoller, CleanSegmentSpoolError, read_clean_record
from feedvault.archive.manifest import FeedRunLog, Outcome, utcnow
from feedvault.archive.warc import RecordLocation, read_record
from feedvault.cleaning import CleanOptions
from feedvault.cleaning.fingerprints import FeedFingerprints
from feedvault.cli.exitcodes import ExitCode
from feedvault.config import FeedConfig, Registry, Signal
from feedvault.crawl.extraction_pool import ExtractorPool
from feedvault.crawl.plan import RecleanOptions
from feedvault.crawl.runner import finalize_run, select_feeds, write_feed_manifests
from feedvault.keys import RunId
from feedvault.permission.decisions import Finding, PageDecision, decide, feed_permission
from feedvault.permission.signals import examine_payload, page_findings
from feedvault.store.backends import NotFound, Store, batches, read_many
from feedvault.versions import versions

logger = logging.getLogger(__name__)

REASON = "reclean"
ARCHIVED = ("new", "changed")
BATCH = 64  # captures fetched and cleaned at a time
FETCHERS = 8
READERS, PROGRESS_EVERY = 16, 1000  # parallel manifest reads; a progress line every so many
# Signals judged at fetch time from outside the page: carried forward, since reclean cannot fetch them again.
_FETCH_TIME_SOURCES = ("robots", "file")
# What makes two clean records the same for a reader (their run, keys and timing aside).
_COMPARED = ("text", "metadata", "removed", "rights_reservations")

Echo = Callable[[str], None]


@dataclass(frozen=True)
class Source:
    """One archived capture and the newest clean version of it."""

    url: str
    clean_key: str
    warc_key: str


@dataclass
class RecleanResult:
    run_id: RunId
    manifest: dict[str, Any]
    manifest_key: str | None
    taken_down: list[str] = field(default_factory=list)  # URLs refused now: every copy removed

    @property
    def exit_code(self) -> int:
        failed = any(f["status"] == "failed" for f in self.manifest["feeds"])
        return ExitCode.FAILED if failed else ExitCode.OK


# -- sources --------------------------------------------------------------------------------------------
def _in_range(day: dt.date, options: RecleanOptions) -> bool:
    return (options.day_from is None or day >= options.day_from) and (options.day_to is None or day <= options.day_to)


def find_sources(
    store: Store, feed_ids: Iterable[str], options: RecleanOptions, echo: Echo | None = None
) -> dict[str, list[Source]]:
    """Per feed, the captures to re-clean with their newest clean version (from the committed manifests).

    Committed crawl runs are read only when their day is in range, reclean runs from ``--from`` on (they hold
    newer versions of captures in range): one GET per run and feed (the feed manifest), 16 at a time, in run
    order. Captures without a raw record (clean-only decisions) cannot be re-cleaned: they come back with an
    empty ``warc_key`` (reported as skipped).
    """
    wanted = sorted(set(feed_ids))
    runs = []
    for obj in store.list("runs/"):
        parsed = keys.parse_partition_key(obj.key)
        if parsed is None or parsed.kind != "run-manifest":  # only committed runs have one
            continue
        day = RunId(parsed.run_id).started.date()
        reclean_run = keys.is_reclean_run(parsed.run_id)
        if (reclean_run and (options.day_from is None or day >= options.day_from)) or (
            not reclean_run and _in_range(day, options)
        ):
            runs.append(RunId(parsed.run_id))
    manifest_keys = [keys.feed_manifest_key(run, feed_id) for run in sorted(runs, key=str) for feed_id in wanted]
    found: dict[str, dict[tuple[str, str], Source]] = {feed_id: {} for feed_id in wanted}
    # read_many keeps run order: a newer version replaces an older one
    for n, (_key, data) in enumerate(read_many(store, manifest_keys, readers=READERS), 1):
        manifest = json.loads(data) if data is not None else None
        if echo is not None and n % PROGRESS_EVERY == 0:
            echo(f"read {n}/{len(manifest_keys)} feed manifests")
        if not manifest or manifest.get("feed") not in found:
            continue
        for entry in manifest.get("urls", []):
            warc_key = entry.get("warc_key")
            if entry.get("outcome") not in ARCHIVED or not entry.get("clean_key"):
                continue
            if not warc_key:  # kept clean-only: no raw record to re-clean from
                found[manifest["feed"]][(keys.url_key(entry["url"]), "")] = Source(entry["url"], entry["clean_key"], "")
                continue
            fetched_by = keys.parse_partition_key(warc_key)
            if fetched_by is None or not _in_range(RunId(fetched_by.run_id).started.date(), options):
                continue
            found[manifest["feed"]][(keys.url_key(entry["url"]), warc_key)] = Source(
                entry["url"], entry["clean_key"], warc_key
            )
    return {feed_id: list(captures.values()) for feed_id, captures in found.items()}


# -- one capture ----------------------------------------------------------------------------------------
def _fetch(store: Store, source: Source) -> tuple[dict[str, Any], Any]:
    """The capture's newest clean record and its response record (one GET, one ranged GET)."""
    record = read_clean_record(store, source.clean_key)
    raw = record.get("raw") or {}
    location = RecordLocation(raw["warc_key"], raw["offset"], raw["length"], raw.get("record_id") or "", raw["sha256"])
    return record, read_record(store, location)


def _charset(headers: Sequence[tuple[str, str]]) -> str | None:
    content_type = next((v for k, v in headers if k.lower() == "content-type"), "").lower()
    for part in content_type.split(";")[1:]:
        name, _, value = part.strip().partition("=")
        if name == "charset" and value:
            return value.strip("\"' ")
    return None


def _carried_findings(permission: dict[str, Any]) -> list[Finding]:
    """The old decision's findings from outside the page (robots.txt, tdmrep.json), as found at fetch time."""
    carried = []
    for signal in permission.get("signals") or []:
        if signal.get("source") in _FETCH_TIME_SOURCES:
            details = {
                k: v
                for k, v in signal.items()
                if k not in ("signal", "source", "where", "value", "row", "decision", "overridden")
            }
            carried.append(
                Finding(Signal(signal["signal"]), signal["source"], signal["where"], signal.get("value"), details)
            )
    return carried


def redecide(
    feed: FeedConfig,
    feed_decision: dict[str, Any],
    old: dict[str, Any],
    headers: Sequence[tuple[str, str]],
    examined: dict[str, Any],
) -> tuple[PageDecision, dict[str, Any]]:
    """The page's decision today, and the permission evidence its record carries (as the pipeline builds it)."""
    from feedvault.permission import aipref
    from feedvault.permission.usage import usage_findings

    previous = old.get("permission") or {}
    findings, tdm = page_findings(
        headers=headers,
        page=examined["page"],
        article_notices=(examined["cleaned"] or {}).get("rights_reservations", []),
    )
    header = aipref.header_statement([v for k, v in headers if k.lower() == "content-usage"])
    findings = _carried_findings(previous) + findings + usage_findings([header] if header else [])
    assert feed.permission is not None  # feeds without a valid record are not re-cleaned
    verdict = decide(feed.permission, findings)
    evidence = {
        **feed_decision,
        **verdict.to_dict(),
        "robots": previous.get("robots"),
        "tdmrep": previous.get("tdmrep") or tdm,
    }
    return verdict, evidence


def same_clean(old: dict[str, Any], new: dict[str, Any]) -> bool:
    old_permission, new_permission = old.get("permission") or {}, new.get("permission") or {}
    return all(old.get(k) == new.get(k) for k in _COMPARED) and all(
        old_permission.get(k) == new_permission.get(k) for k in ("decision", "stored")
    )


# -- the run --------------------------------------------------------------------------------------------


class _FeedReclean:
    """Re-clean one feed's captures into the reclean run's partition; outcomes go to ``log``."""

    def __init__(
        self,
        store: Store,
        registry: Registry,
        feed: FeedConfig,
        run_id: RunId,
        log: FeedRunLog,
        dry_run: bool,
        echo: Echo,
        spool_dir: Path,
    ) -> None:
        self.store, self.registry, self.feed, self.run_id = store, registry, feed, run_id
        self.log, self.dry_run, self.echo = log, dry_run, echo
        storage = registry.settings.storage
        self.segments = CleanSegmentRoller(  # new versions go into segments, like a crawl's clean records
            key_for_serial=partial(keys.clean_segment_key, feed.id, run_id),
            spool_dir=spool_dir,
            max_bytes=storage.clean_segment_max_bytes,
            on_complete=self._upload,
            gzip_level=storage.clean_gzip_level,
        )
        self.lost: dict[str, str] = {}  # segment key -> why it never reached the archive
        learned = None
        if registry.settings.learned_boilerplate.enabled:
            learned = FeedFingerprints.load(store, feed.id).repeated_lines(registry.settings.learned_boilerplate)
        self.options = CleanOptions(rules=feed.cleaning, learned=learned)
        self.refused: dict[str, str] = {}  # URL -> why the decision now refuses it

    def run(self, sources: list[Source], pool: ExtractorPool, fetchers: ThreadPoolExecutor) -> None:
        for source in (s for s in sources if not s.warc_key):
            self.log.add(
                source.url,
                Outcome.SKIPPED,
                reason="no-raw-record",
                detail=f"{source.clean_key} was kept without its page",
            )
        sources = [s for s in sources if s.warc_key]
        done = 0
        for batch in batches(sources, BATCH):
            fetched = list(fetchers.map(self._try_fetch, batch))
            futures = [
                (
                    source,
                    got,
                    pool.submit(
                        examine_payload, got[1].payload, source.url, _charset(got[1].http_headers), self.options
                    ),
                )
                for source, got in zip(batch, fetched, strict=True)
                if got is not None
            ]
            for source, (old, view), future in futures:
                try:
                    examined = future.result()
                except Exception as exc:
                    self.log.add(
                        source.url, Outcome.FAILED, reason="reclean-failed", detail=f"{type(exc).__name__}: {exc}"
                    )
                    continue
                self._one(source, old, view, examined)
            done += len(batch)
            self.echo(f"{self.feed.id}: {done}/{len(sources)} captures re-cleaned")
        self._close()

    def _upload(self, key: str, path: Path) -> None:
        try:
            self.store.put_file(key, path, "application/gzip")
        except Exception as exc:  # its versions are withdrawn at close (their outcomes fail)
            logger.error("uploading %s failed: %s", key, exc)
            self.lost[key] = f"upload failed: {type(exc).__name__}: {exc}"
        finally:
            path.unlink(missing_ok=True)

    def _close(self) -> None:
        """Upload the last segment; the versions in a segment that never reached the archive fail."""
        try:
            self.segments.close()
        except CleanSegmentSpoolError as exc:
            self.lost[exc.key or ""] = str(exc)
        for key in self.segments.abandoned:
            self.lost.setdefault(key, "not written to the spool")
        failed = 0
        for key, why in self.lost.items():
            failed += len(self.log.fail_archived([key], reason="clean-upload-failed", detail=f"{key}: {why}"))
        if self.lost:  # the feed fails, so the operator hears of it; a retry of the run replaces its partition
            first = next(iter(self.lost.values()))
            self.log.error = (
                f"{len(self.lost)} clean segment(s) never reached the archive ({first}): {failed} new version(s) "
                "failed; run the reclean again"
            )

    def _try_fetch(self, source: Source) -> tuple[dict[str, Any], Any] | None:
        try:
            return _fetch(self.store, source)
        except Exception as exc:  # gone since (a takedown), or the archive refused: say which and go on
            reason = "missing" if isinstance(exc, NotFound) else "reclean-failed"
            self.log.add(
                source.url, Outcome.FAILED, reason=reason, detail=f"{source.clean_key}: {type(exc).__name__}: {exc}"
            )
            return None

    def _one(self, source: Source, old: dict[str, Any], view: Any, examined: dict[str, Any]) -> None:
        verdict, permission = redecide(self.feed, self.log.permission or {}, old, view.http_headers, examined)
        if "clean" not in verdict.stored:
            self.refused[source.url] = verdict.detail
            self.log.add(
                source.url,
                Outcome.REFUSED,
                reason=verdict.reason,
                detail=f"{verdict.detail}; every copy of the URL is taken down",
                sha256=old["raw"].get("sha256"),
                evidence=permission,
            )
            return
        record = build_clean_record(
            url=old["url"],
            feed_id=self.feed.id,
            run_id=self.run_id.value,
            fetched_at=old["fetched_at"],
            entry=old.get("entry") or {},
            cleaned=examined["cleaned"],
            clean_error=examined["clean_error"],
            permission=permission,
            raw=old["raw"],
            usage=old.get("usage"),  # the page's stated usage preferences, as found at fetch time
            versions=versions(),
            fetched_url=old.get("fetched_url"),  # the capture's URL, where the page is archived under its canonical
            canonical=old.get("canonical"),
        )
        if same_clean(old, record):
            self.log.add(
                source.url, Outcome.UNCHANGED, reason=REASON, detail="same clean record", clean_key=source.clean_key
            )
            return
        record["recleaned_from"] = {"clean_key": source.clean_key, "run_id": old.get("run_id")}
        key = None
        if not self.dry_run:
            try:
                key = self.segments.append(record)
            except CleanSegmentSpoolError as exc:  # the spool failed: this version (and its segment's) are lost
                self.log.add(source.url, Outcome.FAILED, reason="spool-failed", detail=str(exc))
                return
        warning = None if "raw" in verdict.stored else f"{verdict.detail}: its raw record is no longer permitted"
        self.log.add(
            source.url,
            Outcome.CHANGED,
            reason=REASON,
            detail=warning or f"new version of {source.clean_key}",
            sha256=old["raw"].get("sha256"),
            clean_key=key,
            warc_key=source.warc_key,
            bytes_written=keys.parse_clean_pointer(key).length or 0 if key else 0,
        )
        if warning:
            self.log.warn(f"{old['url']}: {warning}; `feedvault takedown --url URL` removes it")


def _take_down(store: Store, feeds: list[_FeedReclean], echo: Echo) -> list[str]:
    """Remove every copy of the URLs whose decision is now a refusal (each takedown also repairs this run's raw
    pointers into the WARCs it rewrites)."""
    from feedvault.catalog.opener import record_takedown
    from feedvault.permission.takedown import Takedown

    removed = []
    for feed in feeds:
        for url, why in feed.refused.items():
            # This run's segments are not committed yet: the takedown blanks the URL's new versions in them (it
            # scans uncommitted segments) and repairs the others' raw pointers into the WARCs it rewrites.
            takedown = Takedown(store, reason=f"reclean: {why}", echo=echo, also_repair=feed.segments.completed)
            summary = takedown.execute(takedown.plan_url(url))
            removed.append(url)
            _scrub_outcomes(feed.log, url)
            try:
                record_takedown(store, feed.registry.settings, summary)
            except Exception as exc:  # derived: `feedvault reindex` rebuilds it
                feed.log.warn(f"browse catalog not updated after taking down {url} ({exc}); `feedvault reindex`")
    return removed


def _scrub_outcomes(log: FeedRunLog, url: str) -> None:
    """This run's manifest names a taken-down URL no more than the takedown left the others (its tombstone keeps
    the reason and the finding)."""
    from feedvault.archive.manifest import UrlOutcome
    from feedvault.permission.takedown import MARKER

    for i, outcome in enumerate(log.outcomes):
        if outcome.url == url:
            log.outcomes[i] = UrlOutcome(
                url=MARKER, outcome=outcome.outcome, reason=outcome.reason, detail="taken down: see its tombstone"
            )


def reclean(registry: Registry, store: Store, options: RecleanOptions, *, echo: Echo = logger.info) -> RecleanResult:
    """Re-clean the selected feeds' captures (see the module docstring); returns the committed reclean run."""
    run_id = options.run_id or RunId.new(label=keys.RECLEAN_LABEL)
    if not keys.is_reclean_run(run_id.value):
        raise ValueError(f"a reclean run id must end with -{keys.RECLEAN_LABEL}: {run_id}")
    started = utcnow()
    feeds = select_feeds(registry, options.feed_ids)
    if not options.dry_run:  # the run owns its partition: a retry replaces what an earlier attempt left
        stale = [
            key
            for f in feeds
            for key in keys.partition_keys(
                (obj.key for prefix in keys.partition_prefixes(f.id, run_id) for obj in store.list(prefix)),
                f.id,
                run_id,
            )
        ]
        if stale:
            store.delete(stale)
    echo(f"reclean {run_id}: reading the manifests of committed runs ...")
    sources = find_sources(store, [f.id for f in feeds], options, echo)
    logs, jobs = [], []
    with (
        ExtractorPool(registry.settings.extract_workers) as pool,
        ThreadPoolExecutor(FETCHERS) as fetchers,
        tempfile.TemporaryDirectory(prefix="feedvault-reclean-") as spool,
    ):
        for feed in feeds:
            log = FeedRunLog(feed.id, run_id.value)
            logs.append(log)
            log.permission = feed_permission(feed, started.date())
            if log.permission["decision"] != "archive":
                log.warn(log.permission["detail"] + "; not re-cleaned")
                continue
            echo(f"{feed.id}: {len(sources[feed.id])} captures to re-clean")
            try:
                job = _FeedReclean(store, registry, feed, run_id, log, options.dry_run, echo, Path(spool))
                jobs.append(job)
                job.run(sources[feed.id], pool, fetchers)
            except Exception as exc:  # this feed fails; what it wrote is replaced by a retry of the run
                log.error = f"reclean failed: {type(exc).__name__}: {exc}"
                logger.exception("reclean of %s failed", feed.id)
    taken_down = [] if options.dry_run else _take_down(store, jobs, echo)
    summaries, _manifests = write_feed_manifests(store, run_id, logs, dry_run=options.dry_run)
    run_manifest, manifest_key = finalize_run(
        store,
        registry,
        run_id=run_id,
        started_at=started,
        feed_summaries=summaries,
        trigger=options.trigger,
        options=options.to_dict(),
        write=not options.dry_run,
    )
    run_manifest["url_outcomes"] = {log.feed_id: [o.to_dict() for o in log.outcomes] for log in logs}
    return RecleanResult(run_id, run_manifest, manifest_key, taken_down)


# -- command line ---------------------------------------------------------------------------------------
def _day(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a day (YYYY-MM-DD): {text!r}") from None


def add_parser(sub: Any) -> None:
    parser = sub.add_parser(
        "reclean", help="rebuild clean records from the archived raw records with today's rules and fingerprints"
    )
    parser.add_argument("--feed", action="append", dest="feeds", metavar="ID", help="only this feed (repeatable)")
    parser.add_argument("--from", type=_day, dest="day_from", metavar="DAY", help="captures fetched on or after DAY")
    parser.add_argument("--to", type=_day, dest="day_to", metavar="DAY", help="captures fetched on or before DAY")
    parser.add_argument("--dry-run", action="store_true", help="re-clean and compare, write nothing")
    parser.add_argument("--run-id", help="YYYYMMDDTHHMMSSZ-reclean; re-using one replaces that reclean's partition")
    parser.add_argument("--json", action="store_true", help="print the reclean's manifest (with every URL) as JSON")
    parser.set_defaults(handler=cmd_reclean)


def cmd_reclean(args: argparse.Namespace) -> int:
    from feedvault.cli.console import console, out
    from feedvault.config import load_registry
    from feedvault.store.target import open_archive

    if args.day_from and args.day_to and args.day_from > args.day_to:
        console.print(f"--from {args.day_from} is after --to {args.day_to}: nothing to re-clean")
        return ExitCode.USAGE
    try:
        run_id = RunId(args.run_id) if args.run_id else None
        if run_id is not None and not keys.is_reclean_run(run_id.value):
            raise ValueError(f"a reclean run id ends with -{keys.RECLEAN_LABEL}, e.g. 20261201T020000Z-reclean")
    except ValueError as exc:
        console.print(f"--run-id: {exc}")
        return ExitCode.USAGE
    registry = load_registry(args.registry)
    options = RecleanOptions(
        feed_ids=tuple(args.feeds) if args.feeds else None,
        day_from=args.day_from,
        day_to=args.day_to,
        dry_run=args.dry_run,
        run_id=run_id,
    )
    with open_archive(registry.settings.storage) as store:
        result = reclean(registry, store, options, echo=lambda line: console.print(line, highlight=False))
    if args.json:
        out.print_json(data=result.manifest)
        return result.exit_code
    for line in report_lines(result, dry_run=args.dry_run):
        out.print(line, highlight=False, soft_wrap=True)
    return result.exit_code


def report_lines(result: RecleanResult, *, dry_run: bool) -> Iterator[str]:
    """What changed, per feed and per URL (the report of the CLI and of the Airflow task)."""
    verb = "would write" if dry_run else "wrote"
    for feed in result.manifest["feeds"]:
        counts = feed["counts"]
        yield (
            f"{feed['feed']}: {feed['status']}; {counts['changed']} changed ({verb} new versions), "
            f"{counts['unchanged']} unchanged, {counts['refused']} refused now, {counts['failed']} failed, "
            f"{counts['skipped']} skipped (kept without a raw record)"
        )
        for outcome in result.manifest.get("url_outcomes", {}).get(feed["feed"], []):
            yield f"  {outcome['outcome']:9} {outcome['url']}" + (
                f"  ({outcome['detail']})" if outcome["outcome"] != "unchanged" and outcome.get("detail") else ""
            )
        if feed.get("error"):
            yield f"{feed['feed']} failed: {feed['error']}"
    for url in result.taken_down:
        yield f"taken down (the decision now refuses it): {url}"
    if result.manifest_key:
        yield f"reclean manifest: {result.manifest_key} (`feedvault runs --show {result.run_id}`)"
    elif dry_run:
        yield "dry run: nothing was written"
