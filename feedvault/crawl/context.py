"""Everything one feed's crawl needs, in one object handed to the spider and its components."""

from __future__ import annotations

import datetime as dt
from concurrent.futures import Executor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from feedvault.archive.manifest import FeedRunLog
from feedvault.cleaning.fingerprints import FeedFingerprints, Observation
from feedvault.config import FeedConfig, Politeness, Settings
from feedvault.crawl.plan import RunPlan
from feedvault.crawl.seen_state import SeenState
from feedvault.keys import RunId
from feedvault.store.backends import Store


@dataclass
class FeedCrawl:
    feed: FeedConfig
    settings: Settings
    run_id: RunId
    store: Store
    state: SeenState
    log: FeedRunLog
    extractor: Executor
    spool_dir: Path
    permission: dict[str, Any]
    now: dt.datetime
    plan: RunPlan  # the run's options (dry run, force, since): read from here, never copied
    finished: bool = False  # set when the spider closed normally
    stage: Store | None = None  # local copies of uploaded clean records, read back by the catalog update
    shared: dict[str, Any] = field(default_factory=dict)  # one dict for every feed of the run: per-host caches
    fingerprints: FeedFingerprints | None = None  # the feed's learned boilerplate as read at the start (None: off)
    line_observations: list[Observation] = field(default_factory=list)  # merged into it at the end of the run

    @property
    def politeness(self) -> Politeness:
        return self.feed.effective_politeness(self.settings.politeness)

    @property
    def oldest_entry(self) -> dt.datetime:
        window_start = self.now - dt.timedelta(days=self.settings.entry_window_days)
        return self.plan.since or window_start  # --since replaces the window

    @property
    def entry_cap(self) -> int:
        """How many entries this feed may fetch for the first time in this run (see ``EntryCap``)."""
        return self.feed.max_new_entries_per_run or self.settings.max_new_entries_per_run

    @property
    def revisit(self) -> dt.timedelta:
        return dt.timedelta(days=self.settings.revisit_days)
