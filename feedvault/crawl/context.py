"""One feed's crawl, in three parts a component asks for by what it needs.

* :class:`CrawlConfig`: what the crawl is (the feed, the settings, the run and its options); frozen.
* :class:`CrawlServices`: what the crawl uses (the store, the extraction pool, run-wide caches, the feed's
  learned boilerplate and the tombstones listed at its start).
* :class:`CrawlTally`: what the crawl changes as it goes (outcomes, seen state, the lines it observed).

The runner attaches a :class:`FeedCrawl` to its Scrapy crawler (:meth:`FeedCrawl.attach`) before the crawl
starts; the spider, the middlewares and the pipeline get it with :meth:`FeedCrawl.of` in ``from_crawler``.
"""

from __future__ import annotations

import datetime as dt
from concurrent.futures import Executor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from weakref import WeakKeyDictionary

from feedvault.archive.manifest import FeedRunLog
from feedvault.cleaning.fingerprints import FeedFingerprints, ObservationLog
from feedvault.config import FeedConfig, Politeness, Settings
from feedvault.crawl.plan import RunPlan
from feedvault.crawl.seen_state import SeenState
from feedvault.crawl.tombstones import Tombstones
from feedvault.keys import RunId
from feedvault.store.backends import Store

if TYPE_CHECKING:
    from scrapy.crawler import Crawler

    from feedvault.catalog.pieces import RowStage


@dataclass(frozen=True)
class CrawlConfig:
    """What one feed's crawl is: its feed, the run's settings, id, start time and options. Never changes."""

    feed: FeedConfig
    settings: Settings
    run_id: RunId
    permission: dict[str, Any]  # the feed's permission decision, part of every snapshot's evidence
    now: dt.datetime
    plan: RunPlan  # the run's options (dry run, force, since): read from here, never copied

    @property
    def rate_share(self) -> int:
        """How many crawls share this feed's request rate this run: its shards, which each wait that many times
        the feed's delays, so a publisher sees one crawl's rate however the feed is split."""
        return self.plan.shard.count if self.plan.shard else 1

    @property
    def politeness(self) -> Politeness:
        polite = self.feed.effective_politeness(self.settings.politeness)
        if self.rate_share == 1:
            return polite
        return polite.model_copy(update={"download_delay": polite.download_delay * self.rate_share})

    @property
    def oldest_entry(self) -> dt.datetime:
        window_start = self.now - dt.timedelta(days=self.settings.entry_window_days)
        return self.plan.since or window_start  # --since replaces the window

    @property
    def entry_cap(self) -> int:
        """How many entries this feed (a shard: its share) may fetch for the first time in this run (``EntryCap``)."""
        cap = self.feed.max_new_entries_per_run or self.settings.max_new_entries_per_run
        return -(-cap // self.plan.shard.count) if self.plan.shard else cap

    @property
    def revisit(self) -> dt.timedelta:
        return dt.timedelta(days=self.settings.revisit_days)


@dataclass
class CrawlServices:
    """What one feed's crawl uses: storage, the extraction pool, run-wide caches and what it reads at its start."""

    store: Store
    extractor: Executor
    spool_dir: Path
    catalog_rows: RowStage | None = None  # where it stages the catalog rows of what it archives (the run's piece)
    shared: dict[str, Any] = field(default_factory=dict)  # one dict for every feed of the run: per-host caches
    fingerprints: FeedFingerprints | None = None  # the feed's learned boilerplate as read at the start (None: off)
    tombstones: Tombstones = field(default_factory=Tombstones)  # listed by the spider when the crawl starts


@dataclass
class CrawlTally:
    """What one feed's crawl changes as it goes; the runner reads it when the crawl is over."""

    log: FeedRunLog
    state: SeenState
    finished: bool = False  # set when the spider closed normally
    line_observations: ObservationLog = field(default_factory=ObservationLog)  # merged into the fingerprints at the end
    requested: set[str] = field(default_factory=set)  # article URLs the spider requests (normalised), as it goes


class CrawlNotAttached(LookupError):
    """A Scrapy component ran in a crawler that no :class:`FeedCrawl` was attached to."""


_ATTACHED: WeakKeyDictionary[Crawler, FeedCrawl] = WeakKeyDictionary()


@dataclass
class FeedCrawl:
    """One feed's crawl: its configuration, its services and its tally."""

    config: CrawlConfig
    services: CrawlServices
    tally: CrawlTally

    def attach(self, crawler: Crawler) -> None:
        """Make this the crawl :meth:`of` returns for ``crawler`` (before ``crawler.crawl()`` builds components)."""
        _ATTACHED[crawler] = self

    @classmethod
    def of(cls, crawler: Crawler) -> FeedCrawl:
        """The feed crawl attached to ``crawler``; :class:`CrawlNotAttached` says how to attach one."""
        try:
            return _ATTACHED[crawler]
        except KeyError:
            raise CrawlNotAttached(
                f"no feed crawl is attached to {crawler!r}: feedvault's spider, middlewares and pipeline run only "
                "in crawlers built by feedvault.crawl.runner (or call FeedCrawl.attach(crawler) before crawling)"
            ) from None
