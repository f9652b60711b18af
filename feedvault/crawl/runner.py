"""Run feeds: the one entry point the CLI, Airflow and the benchmarks share.

``run_feeds`` crawls the selected feeds in this process (one Twisted reactor, so once per process).
``python -m feedvault.crawl`` runs it in a fresh process, which is how Airflow tasks call it (Scrapy's
reactor cannot be restarted inside one process): the run plan goes in as JSON (``--plan-json``), the
:class:`~feedvault.crawl.plan.CrawlReport` comes back in the file ``--result-file`` names (without it, the
summary is printed on stdout, for people and scripts).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from feedvault import keys
from feedvault.archive.manifest import FeedRunLog, build_run_manifest, dumps, summarize_feed, utcnow
from feedvault.cleaning.fingerprints import FeedFingerprints, ObservationLog
from feedvault.config import ConfigError, FeedConfig, Registry, load_registry
from feedvault.crawl.context import CrawlConfig, CrawlServices, CrawlTally, FeedCrawl
from feedvault.crawl.extraction_pool import ExtractorPool
from feedvault.crawl.heap import settle_collector
from feedvault.crawl.plan import CrawlReport, RunPlan, Shard, add_run_arguments
from feedvault.crawl.seen_state import SeenState
from feedvault.crawl.spool import Spool
from feedvault.keys import RunId
from feedvault.logs import console_logging
from feedvault.permission.decisions import feed_permission
from feedvault.store.backends import NotFound, StorageError, Store, read_many
from feedvault.store.discard import DiscardingStore
from feedvault.versions import versions

if TYPE_CHECKING:
    from feedvault.catalog.pieces import RowStage

logger = logging.getLogger(__name__)


@dataclass
class RunResult:
    run_id: RunId
    manifest: dict[str, Any]
    manifest_key: str | None
    feed_manifests: dict[str, dict[str, Any]] = field(default_factory=dict)
    health_changes: list[Any] = field(
        default_factory=list
    )  # feedvault.monitoring.health.Change: feeds whose state changed
    would_write: dict[str, Any] | None = None  # a dry run: what it would have written (DiscardingStore.would_write)

    @property
    def failed_feeds(self) -> list[str]:
        return [f["feed"] for f in self.manifest["feeds"] if f["status"] == "failed"]

    @property
    def exit_code(self) -> int:
        interrupted = any(f["status"] == "interrupted" for f in self.manifest["feeds"])
        return 1 if self.failed_feeds or interrupted else 0


def select_feeds(registry: Registry, feed_ids: Sequence[str] | None) -> list[FeedConfig]:
    if not feed_ids:
        return [f for f in registry.feeds if f.enabled]
    return [registry.feed(feed_id) for feed_id in feed_ids]  # ConfigError names unknown ids


def _extensions_base() -> dict[str, int]:
    from scrapy.settings import default_settings

    listening = ("scrapy.extensions.remote_control.RemoteControl", "scrapy.extensions.telnet.TelnetConsole")
    return {name: order for name, order in default_settings.EXTENSIONS_BASE.items() if name not in listening}


# Scrapy's robots.txt, retry and meta-refresh middlewares are replaced by ours (spiders/middlewares.py says why).
DOWNLOADER_MIDDLEWARES = {
    "scrapy.downloadermiddlewares.robotstxt.RobotsTxtMiddleware": None,
    "scrapy.downloadermiddlewares.retry.RetryMiddleware": None,
    "scrapy.downloadermiddlewares.redirect.MetaRefreshMiddleware": None,
    "spiders.middlewares.NetworkGuardMiddleware": 40,
    "spiders.middlewares.RobotsPolicyMiddleware": 100,
    "spiders.middlewares.TdmRepMiddleware": 110,
    "spiders.middlewares.RetryAfterMiddleware": 550,
    "spiders.middlewares.HeadMetaRefreshMiddleware": 580,
    "spiders.middlewares.RedirectGuardMiddleware": 650,
    "spiders.middlewares.RawCaptureMiddleware": 950,
}


def scrapy_settings(crawl: CrawlConfig, log_level: str) -> dict[str, Any]:
    polite = crawl.politeness
    settings = crawl.settings
    return {
        "BOT_NAME": "feedvault",
        "USER_AGENT": settings.user_agent.format(version=versions()["feedvault"], contact_url=settings.contact_url),
        "ROBOTSTXT_OBEY": False,  # RobotsPolicyMiddleware implements RFC 9309 instead
        "DOWNLOADER_MIDDLEWARES": dict(DOWNLOADER_MIDDLEWARES),
        "ITEM_PIPELINES": {"pipelines.archiving.ArchivePipeline": 300},
        # Only http(s) is ever fetched (the SSRF guard refuses other schemes): no other handler is even loaded.
        "DOWNLOAD_HANDLERS": {
            "data": None,
            "file": None,
            "s3": None,
            "ftp": None,
            "http": "spiders.download.BoundedHTTP11DownloadHandler",  # bounds the header section too
            "https": "spiders.download.BoundedHTTP11DownloadHandler",
        },
        "FEEDVAULT_MAX_HEADER_BYTES": polite.max_header_bytes,
        "DOWNLOAD_DELAY": polite.download_delay,
        "DOWNLOAD_DELAY_JITTER": 0.5 if polite.download_delay > 0 else 0.0,  # delays vary by ±50%
        "CONCURRENT_REQUESTS": max(16, polite.concurrency_per_domain),
        "CONCURRENT_REQUESTS_PER_DOMAIN": polite.concurrency_per_domain,
        "AUTOTHROTTLE_ENABLED": polite.autothrottle,
        "AUTOTHROTTLE_TARGET_CONCURRENCY": float(polite.concurrency_per_domain),
        "DOWNLOAD_TIMEOUT": polite.timeout_seconds,
        "DOWNLOAD_MAXSIZE": polite.max_response_bytes,
        "DOWNLOAD_WARNSIZE": 0,
        "RETRY_TIMES": polite.retry_times,
        "RETRY_HTTP_CODES": [500, 502, 503, 504, 522, 524, 408, 429],
        "REDIRECT_MAX_TIMES": polite.max_redirects,
        "COOKIES_ENABLED": False,
        # The SSRF guard pins each host to the address it judged in this resolver's cache (no DNS rebinding).
        "DNS_RESOLVER": "scrapy.resolver.CachingThreadedResolver",
        "DNSCACHE_ENABLED": True,
        "TELNETCONSOLE_ENABLED": False,
        "REMOTE_CONTROL_ENABLED": False,  # no listening sockets in a crawler
        # Not even imported: Scrapy imports every extension named in EXTENSIONS_BASE, even disabled ones, and
        # the remote-control one pulls in aiohttp (~0.1 s of every run's start-up).
        "EXTENSIONS_BASE": _extensions_base(),
        "LOG_LEVEL": log_level,
        "LOG_ENABLED": True,
        "LOGSTATS_INTERVAL": 30.0,
        # Bytes of responses the scraper holds before the engine stops downloading (Scrapy's default, stated): pages
        # waiting for the workers are most of peak memory; 32 MB bought no throughput on the bench, ~75 MiB more RSS.
        "SCRAPER_SLOT_MAX_ACTIVE_SIZE": 5_000_000,
        # Outputs of one response handled in parallel; an article yields one item, so a few suffice (Scrapy
        # starts this many asyncio workers per response: the default 100 costs more than the item itself).
        "CONCURRENT_ITEMS": 4,
        "WARN_ON_GENERATOR_RETURN_VALUE": False,  # re-parses callbacks per response (~1 ms); a test checks ours
    }


def _crawl_all(crawls: list[FeedCrawl], log_level: str) -> None:
    from scrapy.crawler import Crawler, CrawlerProcess
    from scrapy.utils.reactor import install_reactor

    install_reactor("twisted.internet.asyncioreactor.AsyncioSelectorReactor")
    process = CrawlerProcess(settings={"LOG_LEVEL": log_level, "LOG_INSTALL_ROOT_HANDLER": False})
    # Scrapy's logging set-up puts its loggers at DEBUG; without its root handler nothing filters them, and two
    # DEBUG lines per article ("Crawled", "Scraped from") cost real reactor time and flood task logs.
    logging.getLogger("scrapy").setLevel(log_level)
    for crawl in crawls:
        crawler = Crawler(spider_class(crawl.config.settings.spider_class), scrapy_settings(crawl.config, log_level))
        crawl.attach(crawler)  # the spider, middlewares and pipeline get it with FeedCrawl.of(crawler)
        done = process.crawl(crawler)
        done.addErrback(_record_crawl_failure, crawl)
    settle_collector()  # the crawlers are built: what lives as long as the process exists now
    process.start(stop_after_crawl=True, install_signal_handlers=True)
    for crawl in crawls:
        if not crawl.tally.finished and not crawl.tally.log.error:
            crawl.tally.log.error = "the crawl did not finish (see the log above)"


def spider_class(path: str) -> type:
    """The spider ``settings.spider_class`` names: FeedSpider or a subclass (anything else is a config error)."""
    from scrapy.utils.misc import load_object

    from spiders.feeds import FeedSpider

    try:
        found = load_object(path)
    except (ImportError, NameError, ValueError) as exc:
        raise ValueError(f"settings.spider_class {path!r} cannot be loaded: {exc}") from exc
    if not (isinstance(found, type) and issubclass(found, FeedSpider)):
        raise ValueError(f"settings.spider_class {path!r} is not spiders.feeds.FeedSpider or a subclass of it")
    return found


def _record_crawl_failure(failure: Any, crawl: FeedCrawl) -> None:
    logger.error("crawl of %s failed: %s", crawl.config.feed.id, failure.getTraceback())
    crawl.tally.log.error = f"crawl failed: {failure.getErrorMessage()}"


def _clear_partition(store: Store, feed_id: str, run_id: RunId, shard: Shard | None = None) -> int:
    """Delete what an earlier attempt of this run left for this feed (the run owns its partition); a shard
    deletes only its own part (its WARC serial block, its URLs' clean records, its shard manifest)."""
    listing = [obj.key for prefix in keys.partition_prefixes(feed_id, run_id) for obj in store.list(prefix)]
    if shard is None:
        stale = keys.partition_keys(listing, feed_id, run_id)
    else:
        stale = keys.shard_partition_keys(listing, feed_id, run_id, shard.index, shard.count)
    return store.delete(stale) if stale else 0


def _remove_crashed_partitions(
    store: Store, registry: Registry, feed_id: str, run_id: RunId, state: SeenState, log: FeedRunLog
) -> None:
    """Remove what runs of this feed that never committed left (recent days only; `feedvault gc` does all),
    and forget their snapshots in ``state``. Only warns on failure: the crawl itself does not need it."""
    from feedvault.archive.gc import collect_for_feed

    settings = registry.settings
    try:
        removed = collect_for_feed(
            store,
            feed_id,
            now=utcnow(),
            grace=dt.timedelta(hours=settings.uncommitted_grace_hours),
            lookback_days=settings.uncommitted_lookback_days,
            current_run=run_id,
            state=state,
        )
    except Exception as exc:
        log.warn(
            f"uncommitted partitions of crashed runs not removed ({type(exc).__name__}: {exc}); `feedvault gc` does"
        )
        return
    for part in removed:
        log.warn(f"removed {len(part.keys)} objects run {part.run_id} left uncommitted (it never finished)")


def run_feeds(
    registry: Registry,
    store: Store,
    plan: RunPlan,
    *,
    log_level: str = "WARNING",
    on_progress: Callable[[FeedRunLog], None] | None = None,
) -> RunResult:
    """Crawl the plan's feeds in this process and commit the run (its manifests; the run manifest unless the
    plan says another task commits it)."""
    feeds = select_feeds(registry, plan.feeds)
    spider_class(registry.settings.spider_class)  # a wrong one stops the run before anything happens
    if not plan.dry_run:
        recover_interrupted_runs(store, registry, current=plan.run)
    spool_dir = Spool(plan.run_id, _spool_meta(store, plan))
    run = _Run(
        registry,
        DiscardingStore(store) if plan.dry_run else store,  # a dry run's writes are recorded and dropped
        plan,
        spool_dir,
        stage=spool_dir.path / "catalog-rows.sqlite" if plan.write_run_manifest and not plan.dry_run else None,
        on_progress=on_progress,
    )
    try:
        _crawl_feeds(run, feeds, log_level)
        result = _commit(run)
    except BaseException:  # not committed: keep the journal for the next run to recover (the rest is scratch)
        spool_dir.keep_journal()
        raise
    spool_dir.remove()
    return result


def _spool_meta(store: Store, plan: RunPlan) -> dict[str, Any]:
    """What ``recover_interrupted_runs`` needs to commit this run if the process dies before it does."""
    return {
        "store": store.uri,
        "started_at": plan.started_at.isoformat(),
        "trigger": plan.trigger,
        "options": plan.manifest_options(),
        "dry_run": plan.dry_run,
        "write_run_manifest": plan.write_run_manifest,
    }


@dataclass
class _Run:
    """One run of ``run_feeds`` in progress: what every feed's crawl shares."""

    registry: Registry
    store: Store
    plan: RunPlan
    spool_dir: Spool
    stage: Path | None  # where the crawl stages the run's catalog rows (None unless this process commits the run)
    on_progress: Callable[[FeedRunLog], None] | None = None
    now: dt.datetime = field(default_factory=utcnow)
    logs: list[FeedRunLog] = field(default_factory=list)
    shared: dict[str, Any] = field(default_factory=dict)  # per-host caches (robots.txt, tdmrep.json) of every feed


def _crawl_feeds(run: _Run, feeds: list[FeedConfig], log_level: str) -> None:
    """Prepare each permitted feed, crawl them all on one reactor, then merge what they learned."""
    from feedvault.catalog.pieces import RowStage  # the catalog package, only once feeds are crawled

    extractor = ExtractorPool(run.registry.settings.extract_workers)
    catalog_rows = None if run.stage is None else RowStage(run.stage)  # every feed's, in one file
    crawls = []
    try:
        for feed in feeds:
            log = FeedRunLog(
                feed.id,
                run.plan.run_id,
                short_text_chars=run.registry.settings.health.short_text_chars,
                on_change=run.on_progress,
                journal=None if run.plan.dry_run else run.spool_dir.journal(feed.id),
            )
            run.logs.append(log)
            crawl = _prepare_feed(run, feed, log, extractor, catalog_rows)
            if crawl is not None:
                crawls.append(crawl)
        if crawls:
            _crawl_all(crawls, log_level)
    finally:
        extractor.shutdown(wait=True, cancel_futures=True)
        if catalog_rows is not None:
            catalog_rows.close()
    for crawl in crawls:
        _update_fingerprints(crawl, run.now.date())


def _prepare_feed(
    run: _Run, feed: FeedConfig, log: FeedRunLog, extractor: ExtractorPool, catalog_rows: RowStage | None
) -> FeedCrawl | None:
    """The feed's crawl, or None when it is not crawled (no valid permission, or its state is unreadable)."""
    store, run_id = run.store, run.plan.run
    log.permission = feed_permission(feed, run.now.date())
    if log.permission["decision"] != "archive":
        log.warn(log.permission["detail"] + "; not crawled")
        logger.warning("feed %s skipped: %s", feed.id, log.permission["detail"])  # Airflow's task log
        return None
    if log.permission.get("warning"):
        log.warn(log.permission["warning"])
        logger.warning("feed %s: %s", feed.id, log.permission["warning"])
    try:
        state = SeenState.load(store, feed.id)
        if not run.plan.dry_run:
            shard = run.plan.shard
            removed = _clear_partition(store, feed.id, run_id, shard)
            if removed:
                log.warn(f"re-running {run_id}: replaced {removed} objects of an earlier attempt")
            state.forget_run(run_id.value, None if shard is None else partial(_owned_key, shard))
            _remove_crashed_partitions(store, run.registry, feed.id, run_id, state, log)
    except Exception as exc:  # this feed fails; the others still run
        log.error = (
            f"not crawled: {type(exc).__name__}: {exc} (reading {keys.state_key(feed.id)} or clearing "
            "this run's partition); fix or remove the state object (without it the next run archives "
            "every article of the feed again)"
        )
        logger.error("feed %s: %s", feed.id, log.error)
        return None
    return FeedCrawl(
        CrawlConfig(
            feed=feed,
            settings=run.registry.settings,
            run_id=run_id,
            permission=log.permission,
            now=run.now,
            plan=run.plan,
        ),
        CrawlServices(
            store=store,
            extractor=extractor,
            spool_dir=run.spool_dir.path,
            catalog_rows=catalog_rows,
            shared=run.shared,
            fingerprints=_load_fingerprints(store, run.registry, feed.id, log),
        ),
        CrawlTally(
            log, state, line_observations=ObservationLog(run.spool_dir.path / "observations" / f"{feed.id}.jsonl")
        ),
    )


def _owned_key(shard: Shard, url_key: str) -> bool:
    return keys.shard_of_key(url_key, shard.count) == shard.index


def recover_interrupted_runs(store: Store, registry: Registry, *, current: RunId) -> list[str]:
    """Sweep the spool directories whose run died or failed to commit (``feedvault.crawl.spool``) and, for a CLI run
    into this archive that never committed, commit what its journal says it did: its partition is removed (its objects were
    never committed) and its run manifest written with each feed ``interrupted``, the archived articles turned
    into ``failed`` (``interrupted``: the next run fetches them again). Returns the run ids recovered.

    Airflow's crawls (``--no-run-manifest``) are only swept: the task's retry replaces their partition."""
    from feedvault.crawl.spool import FOREIGN_SPOOL_AGE, stale_spools

    recovered = []
    for stale in stale_spools():
        meta = stale.meta
        if meta and meta.get("store") != store.uri:  # another archive's run: its own next run recovers it
            if stale.age() > FOREIGN_SPOOL_AGE:
                stale.remove()
            else:
                stale.release()
            continue
        try:
            recoverable = meta.get("write_run_manifest") and not meta.get("dry_run")
            if (
                recoverable
                and meta.get("run_id") != current.value
                and _recover_run(store, registry, meta, stale.journals(), current)
            ):
                recovered.append(meta["run_id"])
        except Exception as exc:  # the spool stays for the next run to try again
            logger.warning("interrupted run in %s not recovered: %s: %s", stale.path, type(exc).__name__, exc)
            stale.release()
            continue
        stale.remove()
    return recovered


def _recover_run(
    store: Store, registry: Registry, meta: dict[str, Any], journals: dict[str, list[dict[str, Any]]], current: RunId
) -> bool:
    from feedvault.archive.gc import forget_runs
    from feedvault.archive.manifest import Outcome, UrlOutcome

    run_id = RunId(meta["run_id"])
    if store.head(keys.run_manifest_key(run_id)) is not None:  # it committed; only its spool was left
        return False
    started = dt.datetime.fromisoformat(meta["started_at"])
    fields = set(UrlOutcome.__dataclass_fields__)
    summaries = []
    for feed_id, entries in journals.items():
        _clear_partition(store, feed_id, run_id)
        forget_runs(store, feed_id, {run_id.value})
        log = FeedRunLog(feed_id, run_id.value, started_at=started, interrupted=True)
        withdrawn = 0
        for entry in entries:
            entry = {k: v for k, v in entry.items() if k in fields}
            outcome = Outcome(entry.pop("outcome"))
            if outcome in (Outcome.NEW, Outcome.CHANGED):
                withdrawn += 1
                outcome = Outcome.FAILED
                entry = {k: v for k, v in entry.items() if k not in ("clean_key", "warc_key", "bytes_written")}
                entry["reason"] = "interrupted"
                entry["detail"] = "archived, but the run ended before it committed: withdrawn"
            log.outcomes.append(
                UrlOutcome(outcome=outcome, **{k: v for k, v in entry.items() if k != "url"}, url=entry["url"])
            )
        log.error = (
            f"the run ended before it committed (killed, or the archive refused its manifests); run {current} "
            f"recovered its {len(entries)} outcomes from its journal and withdrew its {withdrawn} archived articles: "
            "the next run fetches them again"
        )
        manifest = log.to_manifest()
        key = keys.feed_manifest_key(run_id, feed_id)
        store.put_bytes(key, dumps(manifest), content_type="application/json")
        summaries.append(summarize_feed(manifest, key))
        logger.warning("feed %s of run %s: %s", feed_id, run_id, log.error)
    finalize_run(
        store,
        registry,
        run_id=run_id,
        started_at=started,
        feed_summaries=summaries,
        trigger=meta.get("trigger", "manual"),
        options={**meta.get("options", {}), "recovered_by": current.value},
    )
    return True


def _load_fingerprints(store: Store, registry: Registry, feed_id: str, log: FeedRunLog) -> FeedFingerprints | None:
    """The feed's learned boilerplate (None when learning is off); an unreadable set only warns: the feed is
    cleaned by its rules alone and nothing is learned this run (the set is not overwritten)."""
    if not registry.settings.learned_boilerplate.enabled:
        return None
    try:
        return FeedFingerprints.load(store, feed_id)
    except Exception as exc:
        log.warn(
            f"learned boilerplate not applied: {keys.fingerprints_key(feed_id)} unreadable ({type(exc).__name__}: "
            f"{exc}); delete it to start learning again"
        )
        return None


def _update_fingerprints(crawl: FeedCrawl, today: dt.date) -> None:
    """Merge the lines this run saw into the feed's fingerprint set (compare-and-swap); a failure only warns."""
    learned, seen, log = crawl.services.fingerprints, crawl.tally.line_observations, crawl.tally.log
    if learned is None or not seen or log.error:
        return
    try:
        learned.update(crawl.services.store, seen, crawl.config.settings.learned_boilerplate, today=today)
    except Exception as exc:  # the articles are archived; only learning from them is lost
        log.warn(f"learned boilerplate not updated ({type(exc).__name__}: {exc}); later runs learn it")


def write_feed_manifests(
    store: Store, run_id: RunId, logs: list[FeedRunLog], *, dry_run: bool, shard: Shard | None = None
) -> tuple[list[dict[str, Any]], dict[str, dict[str, Any]]]:
    """Close each feed's log and write its manifest (not in a dry run; a shard's: its shard manifest, which
    :func:`merge_shards` merges): the summaries ``finalize_run`` takes, and the manifests by feed id. Crawls and
    re-cleans commit the same way."""
    summaries, feed_manifests = [], {}
    for log in logs:
        log.finished_at = utcnow()
        manifest = log.to_manifest()
        feed_manifests[log.feed_id] = manifest
        if dry_run:
            key = None
        elif shard is not None:
            key = keys.shard_manifest_key(run_id, log.feed_id, shard.index)
        else:
            key = keys.feed_manifest_key(run_id, log.feed_id)
        if key:
            store.put_bytes(key, dumps(manifest), content_type="application/json")
        summaries.append(summarize_feed(manifest, key))
    return summaries, feed_manifests


def _commit(run: _Run) -> RunResult:
    """Write the feed manifests, then the run manifest (via ``finalize_run``)."""
    plan = run.plan
    summaries, feed_manifests = write_feed_manifests(
        run.store, plan.run, run.logs, dry_run=plan.dry_run, shard=plan.shard
    )
    changes: list[Any] = []
    run_manifest, manifest_key = finalize_run(
        run.store,
        run.registry,
        run_id=plan.run,
        started_at=plan.started_at,
        feed_summaries=summaries,
        trigger=plan.trigger,
        options=plan.manifest_options(),
        write=plan.write_run_manifest and not plan.dry_run,
        staged=run.stage,
        on_health=changes.extend,
    )
    would_write = run.store.would_write() if isinstance(run.store, DiscardingStore) else None
    return RunResult(plan.run, run_manifest, manifest_key, feed_manifests, changes, would_write)


def merge_shards(store: Store, run_id: RunId, feed_id: str, count: int) -> dict[str, Any]:
    """Commit a sharded feed's crawl: merge its ``count`` shard manifests into the feed manifest (every entry's
    outcome, once), delete them, and return the feed's summary for ``finalize_run``. A shard without a manifest
    (it never finished) fails the feed, naming it; a merge done before (a retried commit) is read back."""
    key = keys.feed_manifest_key(run_id, feed_id)
    shard_keys = [keys.shard_manifest_key(run_id, feed_id, i) for i in range(count)]
    found = dict(read_many(store, shard_keys))
    if not any(found.values()):
        with contextlib.suppress(NotFound):
            return summarize_feed(json.loads(store.get_bytes(key)), key)
    parts = [json.loads(data) for data in found.values() if data is not None]
    log = FeedRunLog.from_manifests(feed_id, run_id.value, parts)
    missing = [f"{i}/{count}" for i, k in enumerate(shard_keys) if found[k] is None]
    if missing:
        log.error = f"shard(s) {', '.join(missing)} never finished: their entries have no outcome this run"
    manifest = log.to_manifest()
    store.put_bytes(key, dumps(manifest), content_type="application/json")
    store.delete([k for k in shard_keys if found[k] is not None])
    return summarize_feed(manifest, key)


def finalize_run(
    store: Store,
    registry: Registry,
    *,
    run_id: RunId,
    started_at: dt.datetime,
    feed_summaries: list[dict[str, Any]],
    trigger: str,
    options: dict[str, Any],
    write: bool = True,
    staged: Path | None = None,
    on_health: Callable[[list[Any]], None] | None = None,
) -> tuple[dict[str, Any], str | None]:
    """Write the run manifest (the run's commit marker) from per-feed summaries; the one way a run ends.

    The CLI calls it at the end of ``run_feeds``; Airflow calls it in its final task with the summaries the
    mapped per-feed tasks returned through XCom. ``staged`` holds the catalog rows the run's crawl staged, so
    the catalog update need not read the clean records back. The run is then added to the feeds' health;
    ``on_health`` gets the feeds whose health state changed with it (:class:`feedvault.monitoring.health.Change`).
    """
    run_manifest = build_run_manifest(
        run_id=run_id.value,
        started_at=started_at,
        feeds=feed_summaries,
        config_hash=registry.config_hash(),
        versions=versions(),
        trigger=trigger,
        options=options,
    )
    if not write:
        return run_manifest, None
    manifest_key = keys.run_manifest_key(run_id)
    store.put_bytes(manifest_key, dumps(run_manifest), content_type="application/json")
    _update_catalog(store, registry, manifest_key, staged)
    _list_committed_run(store, run_id)  # after the run's piece: readers find the run in it, not by its manifests
    changes = _update_health(store, registry, run_manifest)
    if on_health is not None:
        on_health(changes)
    return run_manifest, manifest_key


def _list_committed_run(store: Store, run_id: RunId) -> None:
    """The ``catalog/runs/<run>`` marker readers index from: part of the commit, written whatever became of the
    local catalog (its update only warns)."""
    from feedvault.catalog import list_committed_run

    list_committed_run(store, run_id)


def _update_health(store: Store, registry: Registry, run_manifest: dict[str, Any]) -> list[Any]:
    """Add the committed run to the feeds' health (derived: a failure only warns, `feedvault health --rebuild`
    recomputes it); returns the feeds whose state changed."""
    from feedvault.monitoring.health import record_run

    try:
        changes = record_run(
            store, registry.settings.health, run_manifest, cache_dir=registry.settings.storage.data_dir
        )
    except Exception as exc:
        logger.warning(
            "feed health not updated (the run is committed; `feedvault health --rebuild` repairs it): %s", exc
        )
        return []
    for change in changes:
        logger.warning("health changed: %s", change.describe())
    return changes


def _update_catalog(store: Store, registry: Registry, manifest_key: str, staged: Path | None) -> None:
    """Add the committed run to the browse catalog (its piece published, or the shared database written); the
    catalog is derived, so a failure only warns (`feedvault reindex` rebuilds it from the archive)."""
    from feedvault.catalog.opener import record_run

    try:
        record_run(store, registry.settings, manifest_key, staged=staged)
    except Exception as exc:
        logger.warning("browse catalog not updated (the run is committed; `feedvault reindex` repairs it): %s", exc)


def main(argv: Sequence[str] | None = None) -> int:
    """Subprocess entry: run a plan; its :class:`CrawlReport` goes to ``--result-file`` (else its summary to stdout)."""
    from feedvault.store.target import ENDPOINT_URL_ENV

    parser = argparse.ArgumentParser(prog="python -m feedvault.crawl")
    parser.add_argument("--registry")
    parser.add_argument("--plan-json", help="the run plan (feedvault.crawl.plan.RunPlan) as JSON; replaces the options")
    add_run_arguments(parser)
    parser.add_argument("--trigger", default="manual")
    parser.add_argument("--no-run-manifest", action="store_true", help="another process commits the run")
    parser.add_argument(
        "--shard",
        type=Shard.parse,
        metavar="I/K",
        help="crawl only shard I of K of the one feed (needs --no-run-manifest)",
    )
    parser.add_argument("--result-file", type=Path, help="write the run's report here (JSON), not to stdout")
    parser.add_argument("--log-level", default="INFO")
    parser.add_argument(
        "--endpoint-url",
        default=os.environ.get(ENDPOINT_URL_ENV) or None,
        help=f"S3 endpoint overriding the registry's (default ${ENDPOINT_URL_ENV}, how Airflow passes its connection's)",
    )
    args = parser.parse_args(argv)
    console_logging(args.log_level)
    report = _run_from_args(args)
    if args.result_file:
        report.write(args.result_file)
    else:
        print(json.dumps(report.summary()), flush=True)
    return report.exit_code


def _run_from_args(args: argparse.Namespace) -> CrawlReport:
    from feedvault.store.target import StorageTarget, open_archive

    try:
        registry = load_registry(args.registry)
        plan = RunPlan.from_json(args.plan_json) if args.plan_json else RunPlan.from_cli(args, trigger=args.trigger)
        storage = registry.settings.storage
        given = storage.model_copy(update={"endpoint_url": args.endpoint_url}) if args.endpoint_url else None
        with open_archive(storage, target=StorageTarget("parent", given) if given else None) as store:
            result = run_feeds(registry, store, plan, log_level=args.log_level)
            requests = store.stats.snapshot()
    except (ConfigError, ValueError) as exc:
        return CrawlReport(exit_code=2, error=str(exc))
    except StorageError as exc:  # one line (credentials in the endpoint redacted), not a traceback quoting the URL
        return CrawlReport(exit_code=3, error=str(exc))  # the CLI's exit code for a storage failure
    return CrawlReport(
        exit_code=result.exit_code,
        run_id=result.run_id.value,
        manifest_key=result.manifest_key,
        manifest=result.manifest,
        health_changes=[change.to_dict() for change in result.health_changes],
        storage_requests=requests,
        would_write=result.would_write,
    )
