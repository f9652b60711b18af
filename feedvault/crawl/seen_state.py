"""Seen state of a feed: which URLs were archived, with what payload, so unchanged pages cost nothing.

It lives in the archive (``state/<feed>.json``), so any worker can run any feed. It is read once at the start
of a feed's crawl and written once at the end, only if something changed.

Decisions are made against the *baseline*: the newest snapshot (by fetch time) taken by any other run. So a
retried or re-run partition ignores what it wrote itself and produces the same partition again, and a run whose
id sorts before others (a scheduled run after manual runs of the same day, a backfill of an old logical date)
still sees what they archived and does not archive it again.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

from feedvault import keys
from feedvault.store.backends import NotFound, Store, VersionConflict

STATE_SCHEMA = "feedvault.state/1"
SNAPSHOTS_KEPT = 5


@dataclass
class SeenSnapshot:
    """A snapshot as the seen state remembers it (a baseline for later runs); the browse view of a snapshot is
    ``feedvault.catalog.Snapshot``."""

    run_id: str
    sha256: str
    clean_key: str | None
    warc_key: str | None
    fetched_at: str
    etag: str | None = None
    last_modified: str | None = None
    signals: str | None = None  # digest of the page's signals outside its payload (signals.outside_signals_digest)
    fetched_url: str | None = None  # taken of a URL declaring this one canonical: the URL fetched


@dataclass
class UrlState:
    url: str
    entry_updated: str | None = None
    published: str | None = None
    last_seen: str | None = None
    snapshots: list[SeenSnapshot] = field(default_factory=list)
    canonical: str | None = None  # its page declared this same-site canonical URL: the snapshots are under it


@dataclass(frozen=True)
class FetchPlan:
    fetch: bool
    reason: str  # new | entry-updated | revisit | force | fresh-enough
    baseline: SeenSnapshot | None = None
    headers: dict[str, str] = field(default_factory=dict)


def _iso(value: dt.datetime | None) -> str | None:
    return value.astimezone(dt.UTC).isoformat() if value else None


def _fetched(snapshot: SeenSnapshot) -> tuple[dt.datetime, str]:
    """Sort key putting snapshots in the order they were taken: run ids need not sort that way (a scheduled
    run's id can sort before manual runs of the same day; a backfill's sorts before everything)."""
    try:
        when = dt.datetime.fromisoformat(snapshot.fetched_at)
    except ValueError:
        when = dt.datetime.min
    return (when if when.tzinfo else when.replace(tzinfo=dt.UTC)), snapshot.run_id


def _newest_kept(snapshots: Iterable[SeenSnapshot]) -> list[SeenSnapshot]:
    """The ``SNAPSHOTS_KEPT`` most recently taken, oldest first."""
    return sorted(snapshots, key=_fetched)[-SNAPSHOTS_KEPT:]


class SeenState:
    def __init__(self, feed_id: str, urls: dict[str, UrlState] | None = None, version: str | None = None) -> None:
        self.feed_id = feed_id
        self.urls: dict[str, UrlState] = urls or {}
        self.dirty = False
        self.version = version  # of the stored object this state was read from; None: there was none
        self._touched: set[str] = set()  # URL keys this process changed: what it re-applies on a conflict
        self._forgotten_runs: set[str] = set()
        self._owns: Callable[[str], bool] = _everything  # the URL keys this process's forgotten runs apply to

    @classmethod
    def load(cls, store: Store, feed_id: str) -> SeenState:
        try:
            raw, version = store.get_versioned(keys.state_key(feed_id))
        except NotFound:
            return cls(feed_id)
        data = json.loads(raw)
        if data.get("schema") != STATE_SCHEMA:
            raise ValueError(f"state/{feed_id}.json has schema {data.get('schema')!r}, expected {STATE_SCHEMA}")
        urls = {}
        for key, entry in data["urls"].items():
            snaps = [SeenSnapshot(**s) for s in entry.pop("snapshots", [])]
            urls[key] = UrlState(**entry, snapshots=snaps)
        return cls(feed_id, urls, version)

    def to_json(self) -> bytes:
        body = {"schema": STATE_SCHEMA, "feed": self.feed_id, "urls": {k: asdict(v) for k, v in self.urls.items()}}
        return json.dumps(body, separators=(",", ":"), sort_keys=True).encode()

    def save(self, store: Store, attempts: int = 5) -> bool:
        """Write the state if it changed; returns whether a write happened.

        The write is conditional on the stored object still being the one this state was read from. If another
        run of the feed (a manual run beside the nightly one, another worker) saved in between, nothing of
        theirs is overwritten: their state is read again, this run's changes are applied on top (per URL it
        touched: its fields, the union of both runs' snapshots), and the write is tried again.
        """
        if not self.dirty:
            return False
        key = keys.state_key(self.feed_id)
        for _attempt in range(attempts):
            try:
                self.version = store.put_if(key, self.to_json(), self.version)
            except VersionConflict:
                self._rebase(SeenState.load(store, self.feed_id))
                continue
            self.dirty = False
            return True
        raise VersionConflict(
            f"{key}: {attempts} conflicting writes in a row (runs of feed {self.feed_id!r} keep saving); "
            "its articles are fetched again by the next run"
        )

    def _rebase(self, theirs: SeenState) -> None:
        """Become ``theirs`` plus this process's changes (see :meth:`save`)."""
        forgotten = self._forgotten_runs  # a retried run's earlier attempt stays forgotten
        merged = theirs.urls
        for key, entry in merged.items():
            if key not in self._touched and self._owns(key) and any(s.run_id in forgotten for s in entry.snapshots):
                entry.snapshots = [s for s in entry.snapshots if s.run_id not in forgotten]
        for key in self._touched:
            mine, other = self.urls.get(key), merged.get(key)
            if mine is None:  # pruned, or put back to absent by revert
                merged.pop(key, None)
                continue
            if other is not None:
                by_run = {s.run_id: s for s in other.snapshots if s.run_id not in forgotten}
                by_run.update({s.run_id: s for s in mine.snapshots})
                mine.snapshots = _newest_kept(by_run.values())
                mine.last_seen = max(filter(None, (mine.last_seen, other.last_seen)), default=None)
            merged[key] = mine
        self.urls = merged
        self.version = theirs.version

    def identity(self, url: str) -> str:
        """The URL ``url``'s snapshots are archived under: the canonical its page declared, else itself."""
        entry = self.urls.get(keys.url_key(url))
        return entry.canonical if entry is not None and entry.canonical else url

    def baseline(self, url: str, run_id: str) -> SeenSnapshot | None:
        """The newest snapshot of ``url`` (of its canonical URL, if its page declared one) taken by another run
        than ``run_id``, whatever the ids' order."""
        entry = self.urls.get(keys.url_key(self.identity(url)))
        if entry is None:
            return None
        others = [s for s in entry.snapshots if s.run_id != run_id]
        return max(others, key=_fetched) if others else None

    def plan(
        self,
        url: str,
        *,
        run_id: str,
        now: dt.datetime,
        entry_updated: dt.datetime | None,
        published: dt.datetime | None,
        revisit: dt.timedelta,
        force: bool = False,
    ) -> FetchPlan:
        baseline = self.baseline(url, run_id)
        if force:
            return FetchPlan(True, "force", baseline)
        if baseline is None:
            return FetchPlan(True, "new")
        entry = self.urls[keys.url_key(url)]
        headers = {}
        if baseline.etag:
            headers["If-None-Match"] = baseline.etag
        if baseline.last_modified:
            headers["If-Modified-Since"] = baseline.last_modified
        if entry_updated is not None and _iso(entry_updated) != entry.entry_updated:
            return FetchPlan(True, "entry-updated", baseline, headers)
        born = published or dt.datetime.fromisoformat(baseline.fetched_at)
        if now - born < revisit:
            return FetchPlan(True, "revisit", baseline, headers)
        return FetchPlan(False, "fresh-enough", baseline)

    def record(
        self,
        url: str,
        *,
        now: dt.datetime,
        entry_updated: dt.datetime | None,
        published: dt.datetime | None,
        snapshot: SeenSnapshot | None = None,
        identity: str | None = None,
    ) -> None:
        """Remember a URL after a run looked at it; ``snapshot`` when a new one was archived. ``identity``: the
        same-site canonical URL its page declared, under which ``snapshot`` is kept (``url`` points there)."""
        key = keys.url_key(url)
        entry = self.urls.setdefault(key, UrlState(url=url))
        updated = _iso(entry_updated)
        if entry.entry_updated != updated or entry.published != _iso(published):
            entry.entry_updated, entry.published = updated, _iso(published)
            self._changed(key)
        alias = identity if identity is not None and keys.url_key(identity) != key else None
        if entry.canonical != alias and (identity is not None or snapshot is not None):
            entry.canonical = alias
            self._changed(key)
        if snapshot is not None:
            self._add_snapshot(alias or url, snapshot, now, published)

    def _add_snapshot(self, url: str, snapshot: SeenSnapshot, now: dt.datetime, published: dt.datetime | None) -> None:
        key = keys.url_key(url)
        entry = self.urls.setdefault(key, UrlState(url=url, published=_iso(published)))
        entry.snapshots = _newest_kept([s for s in entry.snapshots if s.run_id != snapshot.run_id] + [snapshot])
        entry.last_seen = _iso(now)
        self._changed(key)

    def _changed(self, key: str) -> None:
        self._touched.add(key)
        self.dirty = True

    def revert(self, urls: Iterable[str], before: SeenState) -> None:
        """Put ``urls`` back as ``before`` had them: what this run recorded for them never reached the archive,
        so the next run must plan them exactly as this one did."""
        for url in urls:
            key = keys.url_key(url)
            previous = before.urls.get(key)
            if previous is None:
                self.urls.pop(key, None)
            else:
                self.urls[key] = previous
            self._changed(key)

    def prune(self, older_than: dt.datetime) -> int:
        """Forget URLs whose entry date (published, else updated) is before ``older_than``; returns how many.

        Such entries are outside the feed window, so no run fetches them again (unless ``--since`` reaches back
        that far, when they would be archived once more). Undated entries are kept: nothing says they are old.
        """
        expired = [
            key
            for key, entry in self.urls.items()
            if (dated := entry.published or entry.entry_updated) and dt.datetime.fromisoformat(dated) < older_than
        ]
        for key in expired:
            del self.urls[key]
            self._changed(key)
        return len(expired)

    def forget_run(self, run_id: str, owns: Callable[[str], bool] | None = None) -> None:
        """Drop snapshots of ``run_id`` (its partition is being rewritten); with ``owns`` (a shard's test of a URL
        key), only those of the URLs it owns: the run's other shards keep theirs, also when saves meet."""
        if owns is not None:
            self._owns = owns
        self._forgotten_runs.add(run_id)
        for key, entry in self.urls.items():
            if not self._owns(key):
                continue
            kept = [s for s in entry.snapshots if s.run_id != run_id]
            if len(kept) != len(entry.snapshots):
                entry.snapshots = kept
                self._changed(key)

    def stats(self) -> dict[str, Any]:
        return {"urls": len(self.urls), "snapshots": sum(len(e.snapshots) for e in self.urls.values())}


def _everything(_key: str) -> bool:
    return True
