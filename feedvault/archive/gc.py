"""Garbage of crashed runs: find and remove what runs that never committed left (``feedvault gc``).

A run is committed by its run manifest (``runs/<day>/<run>/manifest.json``). A run killed before it (the
crawler SIGKILLed, the machine lost, the archive down at the end) leaves its partition behind: clean JSONs
(some pointing into WARCs never uploaded), WARCs, CDXJ indexes, feed manifests, and possibly seen-state
snapshots of that run (the state is saved at the end of a feed's crawl, before the manifests). Readers never
see any of it (they only index committed runs), but it wastes space, a takedown must search it, and a state
snapshot of such a run would be a baseline pointing at nothing.

Who removes it:

- every run, before crawling a feed, removes the uncommitted partitions of that feed from the last
  ``uncommitted_lookback_days`` days (by partition date, counted back from today and from the run's own
  date), and forgets their snapshots in the feed's state;
- ``feedvault gc [--dry-run]`` does the same for every feed and every day, removes CDXJ indexes whose WARC is
  gone, and reports orphan records (WARC records of a committed run no manifest entry names).

A run still in progress is also uncommitted. It is told apart by age (no lease): a partition whose newest
object is younger than ``uncommitted_grace_hours`` (default 6) is left alone, so set it above your longest run
(an Airflow run's feed tasks and its finalize task included). A run's own partition is never touched by itself.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from feedvault import keys
from feedvault.crawl.seen_state import SeenState
from feedvault.keys import RunId
from feedvault.store.backends import NotFound, ObjectInfo, Store

Echo = Callable[[str], None]


@dataclass
class Partition:
    """What one run left for one feed (``feed`` is None for a run directory holding no feed's objects)."""

    run_id: str
    feed: str | None
    keys: list[str] = field(default_factory=list)
    newest: str = ""  # ISO time of its newest object


@dataclass
class Garbage:
    uncommitted: list[Partition] = field(default_factory=list)  # old enough: removed
    in_progress: list[Partition] = field(default_factory=list)  # younger than the grace period: left alone
    orphan_cdxj: list[str] = field(default_factory=list)
    orphan_records: list[str] = field(default_factory=list)  # report lines (gc does not rewrite WARCs)

    @property
    def keys(self) -> list[str]:
        return [k for p in self.uncommitted for k in p.keys] + self.orphan_cdxj

    def summary(self) -> dict[str, Any]:
        return {
            "uncommitted_partitions": [
                {"run_id": p.run_id, "feed": p.feed, "objects": len(p.keys)} for p in self.uncommitted
            ],
            "in_progress_partitions": [
                {"run_id": p.run_id, "feed": p.feed, "objects": len(p.keys), "newest": p.newest}
                for p in self.in_progress
            ],
            "orphan_cdxj": self.orphan_cdxj,
            "orphan_records": self.orphan_records,
            "objects": len(self.keys),
        }


def find_uncommitted(
    listing: Iterable[ObjectInfo],
    committed: set[str],
    *,
    now: dt.datetime,
    grace: dt.timedelta,
    exclude_run: str | None = None,
) -> tuple[list[Partition], list[Partition]]:
    """Split the partitions of uncommitted runs in ``listing`` into (old enough to remove, maybe in progress)."""
    partitions: dict[tuple[str, str | None], Partition] = {}
    for obj in listing:
        parsed = keys.parse_partition_key(obj.key)
        if parsed is None or parsed.run_id in committed or parsed.run_id == exclude_run:
            continue
        part = partitions.setdefault((parsed.run_id, parsed.feed_id), Partition(parsed.run_id, parsed.feed_id))
        part.keys.append(obj.key)
        part.newest = max(part.newest, obj.last_modified or "")
    horizon = (now - grace).astimezone(dt.UTC)
    old, young = [], []
    for part in partitions.values():
        newest = dt.datetime.fromisoformat(part.newest) if part.newest else None
        (old if newest is None or newest <= horizon else young).append(part)
    return old, young


def _committed_runs(store: Store, days: Iterable[str] | None = None) -> tuple[set[str], list[ObjectInfo]]:
    """Run ids with a run manifest (under ``runs/`` or only the given ``yyyy/mm/dd`` days) and the listing."""
    listing = [o for day in (days or [""]) for o in store.list(f"runs/{day}/" if day else "runs/")]
    committed = set()
    for obj in listing:
        parsed = keys.parse_partition_key(obj.key)
        if parsed is not None and parsed.kind == "run-manifest":
            committed.add(parsed.run_id)
    return committed, listing


def forget_runs(store: Store, feed_id: str, run_ids: set[str]) -> int:
    """Drop the state's snapshots of ``run_ids`` (compare-and-swap); returns how many were dropped."""
    state = SeenState.load(store, feed_id)
    before = state.stats()["snapshots"]
    for run_id in run_ids:
        state.forget_run(run_id)
    state.save(store)
    return before - state.stats()["snapshots"]


def collect_for_feed(
    store: Store,
    feed_id: str,
    *,
    now: dt.datetime,
    grace: dt.timedelta,
    lookback_days: int,
    current_run: RunId,
    state: SeenState | None = None,
) -> list[Partition]:
    """What a run does before crawling a feed: remove the feed's uncommitted partitions of the last
    ``lookback_days`` days before now and before the current run's date, forgetting their snapshots in ``state``
    (in memory: the crawl saves it). Returns the partitions removed."""
    days = sorted(
        {
            (since - dt.timedelta(days=n)).strftime("%Y/%m/%d")
            for since in {now, current_run.started}  # a backfill of an old date cleans around that date too
            for n in range(lookback_days + 1)
        }
    )
    committed, runs_listing = _committed_runs(store, days)
    listing = [o for o in runs_listing if o.key.endswith(f"/feeds/{feed_id}.json")]
    for day in days:
        listing += store.list(f"raw/{feed_id}/{day}/")
        listing += store.list(f"clean/{feed_id}/{day}/")
    old, _young = find_uncommitted(listing, committed, now=now, grace=grace, exclude_run=current_run.value)
    if old:
        store.delete([k for p in old for k in p.keys])
        if state is not None:
            for part in old:
                state.forget_run(part.run_id)
    return old


def find_garbage(store: Store, *, now: dt.datetime, grace: dt.timedelta, echo: Echo = print) -> Garbage:
    """Everything ``feedvault gc`` removes or reports, found with one listing of the archive and a read of the
    committed feed manifests and CDXJ indexes (orphan records)."""
    listing = list(store.list(""))
    committed = {
        p.run_id for p in map(keys.parse_partition_key, (o.key for o in listing)) if p and p.kind == "run-manifest"
    }
    old, young = find_uncommitted(listing, committed, now=now, grace=grace)
    garbage = Garbage(uncommitted=old, in_progress=young)
    present = {o.key for o in listing}
    warcs = [o.key for o in listing if o.key.endswith(".warc.gz")]
    in_partitions = {k for p in old + young for k in p.keys}  # they go (or stay) with their partition
    garbage.orphan_cdxj = [
        o.key
        for o in listing
        if o.key.endswith(".cdxj")
        and o.key.removesuffix(".cdxj") + ".warc.gz" not in present
        and o.key not in in_partitions
    ]
    garbage.orphan_records = _orphan_records(store, listing, committed, warcs, present, echo)
    return garbage


def _orphan_records(
    store: Store, listing: list[ObjectInfo], committed: set[str], warcs: list[str], present: set[str], echo: Echo
) -> list[str]:
    """Response records (by CDXJ) of committed WARCs that no entry of their feed manifest names."""
    from feedvault.permission.takedown import MARKER, _cdxj_url_key, _url_key

    named: dict[str, set[str]] = defaultdict(set)  # warc key -> URL keys named there
    feed_manifests = [
        o.key
        for o in listing
        if (p := keys.parse_partition_key(o.key)) and p.kind == "feed-manifest" and p.run_id in committed
    ]
    echo(f"reading {len(feed_manifests)} committed feed manifest(s) ...")
    for key in feed_manifests:
        try:
            manifest = json.loads(store.get_bytes(key))
        except (NotFound, ValueError):
            continue
        for entry in manifest.get("urls", []):
            if entry.get("warc_key") and entry.get("url") != MARKER and (k := _url_key(entry.get("url", ""))):
                named[entry["warc_key"]].add(k)
    found = []
    for warc in warcs:
        parsed = keys.parse_partition_key(warc)
        index = warc.removesuffix(".warc.gz") + ".cdxj"
        if parsed is None or parsed.run_id not in committed or index not in present:
            continue
        try:
            lines = store.get_bytes(index).splitlines()
        except NotFound:
            continue
        orphans = sum(1 for line in lines if (k := _cdxj_url_key(line)) and k not in named[warc])
        if orphans:
            found.append(f"{warc}: {orphans} response record(s) no manifest entry names")
    return found


def collect(store: Store, garbage: Garbage, *, dry_run: bool, echo: Echo = print) -> dict[str, Any]:
    """Remove what ``garbage`` lists (nothing with ``dry_run``) and forget the removed runs' state snapshots."""
    verb = "would remove" if dry_run else "removing"
    for part in garbage.uncommitted:
        echo(f"{verb} run {part.run_id}, feed {part.feed or '-'}: {len(part.keys)} uncommitted object(s)")
    for part in garbage.in_progress:
        echo(f"left alone (maybe in progress, newest object {part.newest}): run {part.run_id}, feed {part.feed}")
    for key in garbage.orphan_cdxj:
        echo(f"{verb} {key}: its WARC is gone")
    for line in garbage.orphan_records:
        echo(f"orphan records: {line} (kept; `feedvault takedown --url` removes a URL's)")
    summary = garbage.summary() | {"dry_run": dry_run, "state_snapshots_forgotten": 0}
    if dry_run or not garbage.keys:
        return summary
    store.delete(garbage.keys)
    runs_by_feed: dict[str, set[str]] = defaultdict(set)
    for part in garbage.uncommitted:
        if part.feed:
            runs_by_feed[part.feed].add(part.run_id)
    for feed_id, run_ids in sorted(runs_by_feed.items()):
        summary["state_snapshots_forgotten"] += forget_runs(store, feed_id, run_ids)
    return summary


# -- command line (``feedvault gc``) ---------------------------------------------------------------------
def add_parser(sub: Any) -> None:
    parser = sub.add_parser(
        "gc", help="remove what crashed (uncommitted) runs left and CDXJ without a WARC; report orphan records"
    )
    parser.add_argument("--dry-run", action="store_true", help="list what would be removed; change nothing")
    parser.add_argument(
        "--grace-hours",
        type=float,
        help="leave partitions younger than this alone (default: the registry's uncommitted_grace_hours)",
    )
    parser.add_argument("--json", action="store_true", help="print the summary as JSON on stdout")
    parser.set_defaults(handler=cmd_gc)


def cmd_gc(args: Any) -> int:
    import sys

    from feedvault.config import load_registry
    from feedvault.store.target import open_archive

    registry = load_registry(args.registry)
    hours = args.grace_hours if args.grace_hours is not None else registry.settings.uncommitted_grace_hours
    if hours < 0:
        print("gc refused: --grace-hours must be 0 or more", file=sys.stderr)
        return 2

    def echo(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    with open_archive(registry.settings.storage) as store:
        echo(f"gc in {store.uri}{' (dry run)' if args.dry_run else ''}")
        garbage = find_garbage(store, now=dt.datetime.now(dt.UTC), grace=dt.timedelta(hours=hours), echo=echo)
        summary = collect(store, garbage, dry_run=args.dry_run, echo=echo)
    if args.json:
        print(json.dumps(summary, indent=1))
    else:
        verb = "would remove" if args.dry_run else "removed"
        print(
            f"{verb} {summary['objects']} object(s): {len(summary['uncommitted_partitions'])} uncommitted "
            f"partition(s), {len(summary['orphan_cdxj'])} CDXJ without a WARC; "
            f"{len(summary['in_progress_partitions'])} partition(s) younger than {hours:g} h left alone; "
            f"{len(summary['orphan_records'])} WARC(s) with orphan records reported"
        )
    return 0
