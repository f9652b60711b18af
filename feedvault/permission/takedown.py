"""Takedown: remove every raw and clean object of a URL (or of a whole feed), leave a tombstone, audit it.

For each taken-down URL:

1. its tombstone (``tombstones/<url-key>.json``: URL, reason, date, what is removed) is written *first*, so
   later runs refuse the URL (reason ``takedown``) even if the rest is interrupted; a re-run completes it;
2. every WARC holding a record of it is rewritten without that URL's records (every record is its own
   gzip member, so the others are copied byte for byte) and its CDXJ index rewritten; a WARC left with nothing
   but its ``warcinfo`` is deleted with its index. WARCs are found through manifests, seen state and clean
   records, and by scanning every WARC's CDXJ index (the WARC itself where it has none), committed or not: a
   record whose clean JSON was never written, or whose run never committed, is named by nothing else; the clean JSONs of the remaining captures (same feed and run partition) get their new offsets,
   found by response record id, so one ranged GET still returns their record;
3. its clean records are removed: a clean segment is rewritten in place, the record left as padding of the same
   length and the raw pointers of the segment's other records repaired the same way, so no clean pointer moves
   (feedvault.archive.clean_segments); an old-layout clean JSON is deleted. Its entry is removed from every feed's
   seen state (``state/<feed>.json``);
4. its article is taken out of every feed's learned boilerplate (``fingerprints/<feed>.json``), and lines seen
   in no other article go with it;
5. run and feed manifests keep their outcome entries but with the URL replaced by ``[removed: takedown]``
   (every other field of the entry dropped), and any other mention of the URL replaced the same way;
6. the tombstone is rewritten with what was removed, and an audit entry (``audit/...-takedown.json``) lists
   what was removed per URL key and names the tombstones, never the URL itself.

A feed takedown tombstones every URL the feed ever saw (its state and manifests), does the above for each,
and deletes the feed's whole ``raw/<feed>/``, ``clean/<feed>/`` prefixes, ``state/<feed>.json`` and
``fingerprints/<feed>.json``.

Run it while no crawl of the affected feeds is running (a crawl saves the seen state it loaded at its start);
it is idempotent, so running it again afterwards is always safe.
"""

from __future__ import annotations

import datetime as dt
import getpass
import json
import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from feedvault import keys
from feedvault.archive.cdxj import WARC_SUFFIX, cdxj_key, index_warc
from feedvault.archive.clean_segments import blank_members, dumps_line, read_clean_record, refit_member
from feedvault.archive.clean_segments import iter_records as iter_segment_records
from feedvault.archive.manifest import dumps
from feedvault.archive.warc import iter_records
from feedvault.keys import RunId, UnsafeKeyError
from feedvault.store.backends import NotFound, Store, VersionConflict, read_many

MARKER = "[removed: takedown]"
TOMBSTONE_SCHEMA = "feedvault.tombstone/1"
AUDIT_SCHEMA = "feedvault.audit/1"
_RAW_KEY = re.compile(r"^raw/(?P<feed>[^/]+)/\d{4}/\d{2}/\d{2}/(?P<run>.+)-\d{5}\.warc\.gz$")

Echo = Callable[[str], None]
READERS, READ_BATCH = 16, 256  # parallel GETs of manifests, and how many are held at once
PROGRESS_EVERY = 1000


class TakedownError(ValueError):
    """The takedown request cannot be carried out as given (bad URL, unknown feed)."""


def _url_key(url: str) -> str | None:
    try:
        return keys.url_key(url) if re.match(r"(?i)^https?://", url) else None
    except (UnsafeKeyError, ValueError):
        return None


@dataclass
class Target:
    """One URL being taken down: every form it was seen in, and what of it was found."""

    url: str
    feeds: set[str] = field(default_factory=set)
    forms: set[str] = field(default_factory=set)  # the URL as written in manifests and state
    clean_keys: set[str] = field(default_factory=set)
    warc_keys: set[str] = field(default_factory=set)
    removed: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Plan:
    targets: dict[str, Target]  # url key -> target
    feed: str | None = None  # a feed takedown: its prefixes go entirely
    manifests: list[str] = field(default_factory=list)
    state_keys: set[str] = field(default_factory=set)
    prefix_keys: list[str] = field(default_factory=list)  # every object under the feed's prefixes

    def warc_keys(self) -> set[str]:
        own = set(self.prefix_keys)
        return {k for t in self.targets.values() for k in t.warc_keys} - own

    def clean_keys(self) -> set[str]:
        own = set(self.prefix_keys)
        return {k for t in self.targets.values() for k in t.clean_keys} - own


class Takedown:
    def __init__(
        self,
        store: Store,
        *,
        reason: str,
        at: dt.datetime | None = None,
        echo: Echo = print,
        progress_every: int = PROGRESS_EVERY,
        also_repair: Iterable[str] = (),
    ) -> None:
        """``also_repair``: clean segments no committed run names yet (a reclean in progress) whose raw pointers
        must follow the WARCs this takedown rewrites."""
        if not reason.strip():
            raise TakedownError("a takedown needs a reason (--reason)")
        self.store = store
        self.reason = reason.strip()
        self.at = (at or dt.datetime.now(dt.UTC)).astimezone(dt.UTC)
        self.echo = echo
        self.progress_every = progress_every  # manifests read between two progress lines
        self._reclean_runs: set[tuple[str, RunId]] = set()  # (feed, run) of committed reclean runs (discovered)
        self._moved: dict[str, dict[str, tuple[int, int]]] = {}  # rewritten WARC -> record id -> new location
        self._also_repair = tuple(also_repair)

    # -- discovery -------------------------------------------------------------------------------------
    def plan_url(self, url: str) -> Plan:
        key = _url_key(url)
        if key is None:
            raise TakedownError(f"not an http(s) URL that can be archived: {url!r}")
        plan = Plan({key: Target(keys.normalize_url(url), forms={url, keys.normalize_url(url)})})
        self._discover(plan)
        return plan

    def plan_feed(self, feed_id: str) -> Plan:
        keys.check_feed_id(feed_id)
        plan = Plan({}, feed=feed_id)
        state = self._json(keys.state_key(feed_id))
        for entry in (state or {}).get("urls", {}).values():
            self._target(plan, entry.get("url", ""))
        for manifest_key in self._feed_manifests(feed_id):
            for entry in (self._json(manifest_key) or {}).get("urls", []):
                if entry.get("role", "article") == "article":
                    self._target(plan, entry.get("url", ""))
        prefixes = [f"raw/{feed_id}/", f"clean/{feed_id}/"]
        plan.prefix_keys = [obj.key for prefix in prefixes for obj in self.store.list(prefix)]
        if state is not None:
            plan.prefix_keys.append(keys.state_key(feed_id))
        if self.store.head(keys.fingerprints_key(feed_id)) is not None:  # learned from the feed's articles
            plan.prefix_keys.append(keys.fingerprints_key(feed_id))
        if not plan.targets and not plan.prefix_keys:
            raise TakedownError(f"nothing of feed {feed_id!r} is in {self.store.uri}")
        self._discover(plan)
        return plan

    def _target(self, plan: Plan, url: str) -> None:
        key = _url_key(url)
        if key is not None:
            plan.targets.setdefault(key, Target(keys.normalize_url(url))).forms.add(url)

    def _feed_manifests(self, feed_id: str) -> list[str]:
        return [o.key for o in self.store.list("runs/") if o.key.endswith(f"/feeds/{feed_id}.json")]

    def _json(self, key: str) -> Any:
        try:
            return json.loads(self.store.get_bytes(key))
        except NotFound:
            return None

    def _clean(self, pointer: str) -> dict[str, Any] | None:
        try:
            return read_clean_record(self.store, pointer)
        except NotFound:
            return None

    def _discover(self, plan: Plan) -> None:
        """Find every manifest, state entry, clean JSON and WARC that holds one of the plan's URLs.

        A page archived under its same-site canonical URL has its WARC records under the URL fetched: both URLs
        (and every other URL fetched for that page) are taken down together, whichever was given. Manifests and
        seen state name these pairs; they are read again while that finds more URLs (twice at most, usually).
        """
        targets = plan.targets
        self.echo(f"looking for {len(targets)} URL(s) in manifests, seen state and clean snapshots ...")
        manifest_keys = [obj.key for obj in self.store.list("runs/")]
        self._reclean_runs |= _reclean_runs(manifest_keys)
        while True:
            known = len(targets)
            plan.manifests, plan.state_keys = [], set()
            self._scan_manifests(plan, manifest_keys)
            self._scan_states(plan)
            if len(targets) == known:
                break
            self.echo(f"  {len(targets) - known} more URL(s) of the same page(s) (canonical links): looking again")
        self._scan_rest(plan, manifest_keys)

    def _scan_manifests(self, plan: Plan, manifest_keys: list[str]) -> None:
        targets = plan.targets
        for n, (key, data) in enumerate(read_many(self.store, manifest_keys, readers=READERS, batch=READ_BATCH), 1):
            if n % self.progress_every == 0:
                self.echo(f"  read {n}/{len(manifest_keys)} run manifests")
            if data is None:
                continue
            manifest = json.loads(data)
            if not isinstance(manifest, dict):
                continue
            mentions = False
            for entry in manifest.get("urls", []):
                urls = _entry_urls(entry)
                if not any(_url_key(u) in targets for u in urls):
                    continue
                for url in urls:  # the URL archived, the URL fetched, a duplicate's canonical: one page
                    self._target(plan, url)
                target = targets.get(_url_key(entry.get("url", "")) or "")
                if target is None:
                    continue
                mentions = True
                target.forms.add(entry["url"])
                target.feeds.add(manifest.get("feed", ""))
                target.clean_keys.update(k for k in [entry.get("clean_key")] if k)
                target.warc_keys.update(k for k in [entry.get("warc_key")] if k)
            if mentions or _mentions(data, plan):
                plan.manifests.append(key)

    def _scan_states(self, plan: Plan) -> None:
        targets = plan.targets
        for obj in self.store.list("state/"):
            state = self._json(obj.key) or {}
            for url_key, entry in state.get("urls", {}).items():
                canonical = entry.get("canonical")  # this URL's page is archived under that one
                if url_key not in targets and _url_key(canonical or "") not in targets:
                    continue
                self._target(plan, entry.get("url", ""))
                self._target(plan, canonical or "")
                if url_key in targets:
                    target = targets[url_key]
                    target.forms.add(entry.get("url", target.url))
                    target.feeds.add(state.get("feed", ""))
                    plan.state_keys.add(obj.key)
                    for snap in entry.get("snapshots", []):
                        target.clean_keys.update(k for k in [snap.get("clean_key")] if k)
                        target.warc_keys.update(k for k in [snap.get("warc_key")] if k)
                        self._target(plan, snap.get("fetched_url") or "")  # its WARC records are under that URL

    def _scan_rest(self, plan: Plan, manifest_keys: list[str]) -> None:
        targets = plan.targets
        own = set(plan.prefix_keys)
        segments = []
        for obj in self.store.list("clean/"):  # every feed and run, committed or not: the key names the URL
            name = obj.key.rsplit("/", 1)[-1].removesuffix(".json")
            if name in targets and obj.key not in own:
                targets[name].clean_keys.add(obj.key)
            elif obj.key.endswith(keys.CLEAN_SEGMENT_SUFFIX) and obj.key not in own:
                segments.append(obj.key)
        self._scan_uncommitted_segments(plan, segments, manifest_keys)
        for target in list(targets.values()):  # raw pointers of clean snapshots no manifest names
            for clean_key in target.clean_keys - own:
                record = self._clean(clean_key) or {}
                target.warc_keys.update(k for k in [(record.get("raw") or {}).get("warc_key")] if k)
                self._target(plan, str(record.get("fetched_url") or ""))  # its WARC records are under that URL
        self._scan_raw(plan)
        for target in targets.values():
            target.forms.discard("")

    def _scan_uncommitted_segments(self, plan: Plan, segments: list[str], manifest_keys: list[str]) -> None:
        """Records of the plan's URLs in clean segments of runs that never committed: no manifest names them (in a
        committed run's segments every record is named by an entry, withdrawn ones by their failed entry)."""
        committed = {p.run_id for p in map(keys.parse_partition_key, manifest_keys) if p and p.kind == "run-manifest"}
        uncommitted = [k for k in segments if (p := keys.parse_partition_key(k)) and p.run_id not in committed]
        for segment, data in read_many(self.store, uncommitted, readers=READERS, batch=READ_BATCH):
            for offset, length, record in iter_segment_records(data or b""):
                urls = (str(record.get("url", "")), str(record.get("fetched_url") or ""))
                target = next((plan.targets[k] for k in map(_url_key, urls) if k in plan.targets), None)
                if target is not None:
                    target.clean_keys.add(keys.clean_pointer(segment, offset, length))

    def _scan_raw(self, plan: Plan) -> None:
        """Find the WARCs holding records of the plan's URLs by what they hold, not by pointers: a record whose
        clean JSON was never written (or whose run never committed) is named by nothing else. Reads each WARC's
        CDXJ index (one line per response record), or the WARC itself where it has none."""
        listing = [obj.key for obj in self.store.list("raw/") if obj.key not in set(plan.prefix_keys)]
        present = set(listing)
        warcs = [k for k in listing if k.endswith(WARC_SUFFIX)]
        self.echo(f"scanning the indexes of {len(warcs)} WARC(s) for records of the URL(s) ...")

        def holds(warc_key: str) -> set[str]:
            index = cdxj_key(warc_key)
            try:
                if index in present:
                    return {k for k in map(_cdxj_url_key, self.store.get_bytes(index).splitlines()) if k}
                uris = (
                    v.warc_headers.get("WARC-Target-URI", "")
                    for _o, _n, v in iter_records(self.store.get_bytes(warc_key))
                )
                return {k for k in map(_url_key, uris) if k}
            except NotFound:  # deleted meanwhile, or an index without its WARC (`feedvault gc` drops those)
                return set()

        with ThreadPoolExecutor(max_workers=READERS) as pool:
            for n, (warc_key, url_keys) in enumerate(zip(warcs, pool.map(holds, warcs), strict=True), 1):
                if n % self.progress_every == 0:
                    self.echo(f"  scanned {n}/{len(warcs)} WARCs")
                for url_key in url_keys & plan.targets.keys():
                    plan.targets[url_key].warc_keys.add(warc_key)

    # -- execution -------------------------------------------------------------------------------------
    def execute(self, plan: Plan, *, dry_run: bool = False) -> dict[str, Any]:
        summary: dict[str, Any] = {
            "tombstones": sorted(keys.tombstone_key(t.url) for t in plan.targets.values()),
            "warcs_rewritten": [],
            "warcs_deleted": [],
            "warc_records_removed": 0,
            "clean_pointers_updated": 0,
            "clean_deleted": 0,
            "state_entries_removed": 0,
            "manifests_scrubbed": 0,
            "fingerprint_lines_removed": 0,
            "objects_deleted": 0,
        }
        verb = "would remove" if dry_run else "removing"
        if not dry_run:
            self._write_tombstones(plan, status="in-progress")
        for warc_key in sorted(plan.warc_keys()):
            self._warc(plan, warc_key, summary, dry_run)
        own = set(plan.prefix_keys)
        clean = sorted(k for k in plan.clean_keys() if keys.parse_clean_pointer(k).key not in own)
        self.echo(f"{verb} {len(clean)} clean snapshot(s)")
        for key in clean:
            self.echo(f"  {key}")
        whole = [k for k in clean if keys.parse_clean_pointer(k).offset is None]  # the layout before segments
        if not dry_run and whole:
            self.store.delete(whole)
        if not dry_run:
            summary["clean_pointers_updated"] += self._rewrite_segments(plan, set(clean) - set(whole))
        summary["clean_deleted"] = len(clean)
        for target in plan.targets.values():
            target.removed += [{"kind": "clean", "key": k} for k in sorted(target.clean_keys) if k in clean]
        self._states(plan, summary, dry_run)
        self._manifests(plan, summary, dry_run)
        self._fingerprints(plan, summary, dry_run)
        if plan.prefix_keys:
            self.echo(f"{verb} feed {plan.feed}: {len(plan.prefix_keys)} object(s) under raw/, clean/ and state/")
            if not dry_run:
                self.store.delete(plan.prefix_keys)
            summary["objects_deleted"] = len(plan.prefix_keys)
            for target in plan.targets.values():
                target.removed.append({"kind": "feed", "feed": plan.feed, "objects": len(plan.prefix_keys)})
        if not dry_run:
            self._write_tombstones(plan, status="complete")
            summary["audit"] = self._audit(plan, summary)
        return summary

    def _warc(self, plan: Plan, warc_key: str, summary: dict[str, Any], dry_run: bool) -> None:
        try:
            data = self.store.get_bytes(warc_key)
        except NotFound:
            return
        kept: list[tuple[int, int, dict[str, str]]] = []
        removed: dict[str, int] = defaultdict(int)
        for offset, length, view in iter_records(data):
            target_key = _url_key(view.warc_headers.get("WARC-Target-URI", ""))
            if target_key in plan.targets:
                removed[target_key] += 1
            else:
                kept.append((offset, length, view.warc_headers))
        if not removed:
            if not dry_run:
                summary["clean_pointers_updated"] += self._repair_pointers(warc_key, _locations(kept), plan)
            return
        count = sum(removed.values())
        summary["warc_records_removed"] += count
        for target_key, n in removed.items():
            plan.targets[target_key].removed.append({"kind": "warc-records", "key": warc_key, "records": n})
        only_info = all(h.get("WARC-Type") == "warcinfo" for _, _, h in kept)
        action = "delete" if only_info else "rewrite"
        self.echo(f"{'would ' if dry_run else ''}{action} {warc_key}: {count} record(s) removed, {len(kept)} kept")
        summary["warcs_deleted" if only_info else "warcs_rewritten"].append(warc_key)
        if dry_run:
            return
        index = cdxj_key(warc_key)
        if only_info:
            self.store.delete([warc_key, index])  # pywb must not find the records through a stale index
            return
        rewritten = b"".join(data[o : o + n] for o, n, _ in kept)
        self.store.put_bytes(warc_key, rewritten, "application/warc")
        self.store.put_bytes(index, index_warc(rewritten, warc_key), "text/plain; charset=utf-8")
        summary["clean_pointers_updated"] += self._repair_pointers(warc_key, _locations(kept), plan)

    def _repair_pointers(self, warc_key: str, locations: dict[str, tuple[int, int]], plan: Plan) -> int:
        """Point the clean JSONs of the WARC's other captures at their records' new offsets (by record id)."""
        match = _RAW_KEY.match(warc_key)
        if match is None:
            return 0
        self._moved[warc_key] = locations  # for the clean segments' records (see _rewrite_segments)
        # The run that fetched them, and the reclean runs of the feed (new clean versions keep the raw pointer).
        runs = [RunId(match["run"]), *self._reclean_runs_of(match["feed"])]
        prefixes = [keys.clean_prefix(match["feed"], run) for run in runs]
        gone = plan.clean_keys() | set(plan.prefix_keys)
        updated = 0
        for obj in (o for prefix in prefixes for o in self.store.list(prefix)):
            if obj.key in gone:
                continue
            record = self._json(obj.key) or {}
            raw = record.get("raw") or {}
            where = locations.get(raw.get("record_id", ""))
            if raw.get("warc_key") != warc_key or where is None or (raw.get("offset"), raw.get("length")) == where:
                continue
            raw["offset"], raw["length"] = where
            self.store.put_bytes(obj.key, json.dumps(record, ensure_ascii=False, separators=(",", ":")).encode())
            updated += 1
        if updated:
            self.echo(f"  updated {updated} clean pointer(s) into {warc_key}")
        return updated

    def _reclean_runs_of(self, feed_id: str) -> list[RunId]:
        return sorted((run for feed, run in self._reclean_runs if feed == feed_id), key=lambda r: r.value)

    def _rewrite_segments(self, plan: Plan, removed: set[str]) -> int:
        """Rewrite in place the clean segments holding removed records (left as padding of the same length) or
        records whose raw record moved in a rewritten WARC (re-encoded into the same length): no clean pointer
        moves. Returns the raw pointers repaired."""
        affected: dict[str, set[str]] = defaultdict(set)
        for pointer in removed:
            affected[keys.parse_clean_pointer(pointer).key].add(pointer)
        for warc_key in self._moved:
            match = _RAW_KEY.match(warc_key)
            assert match is not None
            feed = match["feed"]
            for run in (RunId(match["run"]), *self._reclean_runs_of(feed)):  # reclean runs keep its raw pointers
                listing = (o.key for o in self.store.list(keys.clean_segment_prefix(feed, run)))
                for segment in keys.partition_keys(listing, feed, run):
                    affected.setdefault(segment, set())
        if self._moved:
            for segment in self._also_repair:
                affected.setdefault(segment, set())
        own, updated = set(plan.prefix_keys), 0
        for segment, gone in sorted(affected.items()):
            if segment in own:
                continue
            try:
                data = self.store.get_bytes(segment)
            except NotFound:
                continue
            rewritten, repaired = _rewrite_segment(data, segment, gone, self._moved)
            if rewritten != data:
                self.store.put_bytes(segment, rewritten, "application/gzip")
                self.echo(f"  rewrote {segment}: {len(gone)} record(s) removed, {repaired} raw pointer(s) updated")
            updated += repaired
        return updated

    def _states(self, plan: Plan, summary: dict[str, Any], dry_run: bool) -> None:
        for key in sorted(plan.state_keys - set(plan.prefix_keys)):
            gone = self._scrub_state(key, plan, dry_run)
            for url_key in gone:
                plan.targets[url_key].removed.append({"kind": "state", "key": key})
            summary["state_entries_removed"] += len(gone)
            self.echo(f"{'would remove' if dry_run else 'removing'} {len(gone)} entry(ies) from {key}")

    def _scrub_state(self, key: str, plan: Plan, dry_run: bool, attempts: int = 5) -> list[str]:
        """Remove the plan's URLs from one seen state, by conditional write: a crawl saving the same state
        meanwhile is neither overwritten nor allowed to bring the entries back unnoticed (read again, retry)."""
        for _attempt in range(attempts):
            try:
                raw, version = self.store.get_versioned(key)
            except NotFound:
                return []
            state = json.loads(raw)
            gone = [k for k in state.get("urls", {}) if k in plan.targets]
            if not gone or dry_run:
                return gone
            for url_key in gone:
                del state["urls"][url_key]
            body = json.dumps(state, separators=(",", ":"), sort_keys=True).encode()
            try:
                self.store.put_if(key, body, version)
            except VersionConflict:
                continue
            return gone
        raise TakedownError(f"{key} kept changing during the takedown (a crawl of the feed is saving it); run it again")

    def _fingerprints(self, plan: Plan, summary: dict[str, Any], dry_run: bool) -> None:
        """Learned-boilerplate sets keep a sample of each line with the articles it was seen in: the plan's
        articles are taken out of every line, and a line seen in no other article goes (its sample is their
        text)."""
        own = set(plan.prefix_keys)
        for obj in self.store.list("fingerprints/"):
            if obj.key in own:
                continue
            gone = self._scrub_fingerprints(obj.key, plan, dry_run)
            for url_key, lines in gone.items():
                plan.targets[url_key].removed.append({"kind": "fingerprint-lines", "key": obj.key, "lines": lines})
            if gone:
                summary["fingerprint_lines_removed"] += sum(gone.values())
                self.echo(f"{'would remove' if dry_run else 'removing'} {sum(gone.values())} line(s) from {obj.key}")

    def _scrub_fingerprints(self, key: str, plan: Plan, dry_run: bool, attempts: int = 5) -> dict[str, int]:
        """URL key -> lines of ``key`` that named that article; written back by compare-and-swap (a run
        updating the set meanwhile is merged, as with the seen state)."""
        articles = {url_key[:12]: url_key for url_key in plan.targets}  # how fingerprint sets name articles
        for _attempt in range(attempts):
            try:
                raw, version = self.store.get_versioned(key)
            except NotFound:
                return {}
            data = json.loads(raw)
            gone: dict[str, int] = defaultdict(int)
            lines = data.get("lines", {})
            for fp in list(lines):
                named = [a for a in lines[fp].get("articles", []) if a in articles]
                for article in named:
                    gone[articles[article]] += 1
                    lines[fp]["articles"].remove(article)
                if named and not lines[fp]["articles"]:
                    del lines[fp]
            if not gone or dry_run:
                return dict(gone)
            body = json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
            try:
                self.store.put_if(key, body, version)
            except VersionConflict:
                continue
            return dict(gone)
        raise TakedownError(f"{key} kept changing during the takedown (a crawl of the feed is saving it); run it again")

    def _manifests(self, plan: Plan, summary: dict[str, Any], dry_run: bool) -> None:
        forms = _form_pattern(f for t in plan.targets.values() for f in t.forms | {t.url})
        for key in plan.manifests:
            manifest = self._json(key)
            if manifest is None:
                continue
            scrubbed = _scrub(manifest, plan.targets, forms)
            if scrubbed == manifest:
                continue
            summary["manifests_scrubbed"] += 1
            self.echo(f"{'would scrub' if dry_run else 'scrubbing'} {key}")
            if not dry_run:
                self.store.put_bytes(key, dumps(scrubbed), content_type="application/json")
        for target in plan.targets.values():
            target.removed.append({"kind": "manifest-mentions", "manifests": len(plan.manifests)})

    def _write_tombstones(self, plan: Plan, status: str) -> None:
        for url_key, target in plan.targets.items():
            feeds = sorted(target.feeds - {""}) or ([plan.feed] if plan.feed else [])
            tombstone = {
                "schema": TOMBSTONE_SCHEMA,
                "url": target.url,
                "url_key": url_key,
                "feed": feeds[0] if len(feeds) == 1 else (",".join(feeds) or None),
                "feeds": feeds,
                "reason": self.reason,
                "date": self.at.date().isoformat(),
                "at": self.at.isoformat(),
                "scope": f"feed {plan.feed}" if plan.feed else "url",
                "status": status,
                "removed": target.removed,
            }
            self.store.put_bytes(keys.tombstone_key(target.url), dumps(tombstone), content_type="application/json")

    def _audit(self, plan: Plan, summary: dict[str, Any]) -> str:
        key = keys.audit_key(self.at, "takedown")
        entry = {
            "schema": AUDIT_SCHEMA,
            "action": "takedown",
            "at": self.at.isoformat(),
            "by": _operator(),
            "reason": self.reason,
            "scope": "feed" if plan.feed else "url",
            "feed": plan.feed,
            "url_keys": sorted(plan.targets),  # the URLs themselves live only in their tombstones
            **summary,
            "removed": {url_key: target.removed for url_key, target in sorted(plan.targets.items())},
        }
        self.store.put_bytes(key, dumps(entry), content_type="application/json")
        return key


def _cdxj_url_key(line: bytes) -> str | None:
    """The URL key of one CDXJ line (``<surt> <timestamp> {json}``), None for a line that names no URL."""
    fields = line.split(b" ", 2)
    try:
        return _url_key(str(json.loads(fields[2]).get("url", ""))) if len(fields) == 3 else None
    except (ValueError, AttributeError):
        return None


def _reclean_runs(manifest_keys: Iterable[str]) -> set[tuple[str, RunId]]:
    """(feed, run) of the reclean runs among these manifest keys: their new clean versions keep the raw pointers
    of captures made by other runs (see feedvault.archive.reclean)."""
    found = set()
    for key in manifest_keys:
        parsed = keys.parse_partition_key(key)
        if parsed and parsed.kind == "feed-manifest" and parsed.feed_id and keys.is_reclean_run(parsed.run_id):
            found.add((parsed.feed_id, RunId(parsed.run_id)))
    return found


def _rewrite_segment(
    data: bytes, segment: str, gone: set[str], moved: dict[str, dict[str, tuple[int, int]]]
) -> tuple[bytes, int]:
    """A segment with the ``gone`` records blanked and raw pointers into ``moved`` WARCs repaired, every record
    at its offset and length; and how many raw pointers were repaired."""
    out, repaired = bytearray(data), 0
    for offset, length, record in iter_segment_records(data):
        if keys.clean_pointer(segment, offset, length) in gone:
            out[offset : offset + length] = blank_members(length)
            continue
        raw = record.get("raw") or {}
        where = moved.get(raw.get("warc_key") or "", {}).get(raw.get("record_id") or "")
        if where is None or (raw.get("offset"), raw.get("length")) == where:
            continue
        raw["offset"], raw["length"] = where
        out[offset : offset + length] = refit_member(dumps_line(record), length)
        repaired += 1
    return bytes(out), repaired


def _locations(kept: Iterable[tuple[int, int, dict[str, str]]]) -> dict[str, tuple[int, int]]:
    """Response record id -> (offset, length) in the rewritten file (records keep their order and bytes)."""
    locations, offset = {}, 0
    for _old, length, headers in kept:
        if headers.get("WARC-Type") == "response":
            locations[headers.get("WARC-Record-ID", "")] = (offset, length)
        offset += length
    return locations


def _entry_urls(entry: dict[str, Any]) -> list[str]:
    """The URLs a manifest entry names as one page: the URL it is archived under, the URL fetched for it, and
    the canonical URL of a capture skipped as its duplicate (a canonical the page declared but that was ignored
    is another site's page: not one of them)."""
    canonical = entry.get("canonical") or {}
    used = canonical.get("href") if isinstance(canonical, dict) and "ignored" not in canonical else None
    return [u for u in (entry.get("url"), entry.get("fetched_url"), used) if isinstance(u, str) and u]


def _mentions(data: bytes, plan: Plan) -> bool:
    text = data.decode("utf-8", errors="replace")
    return any(form and form in text for t in plan.targets.values() for form in t.forms | {t.url})


def _form_pattern(forms: Iterable[str]) -> re.Pattern[str] | None:
    """Matches any of the URL forms where it ends (not a prefix of a longer URL, e.g. /a of /about)."""
    ordered = sorted({f for f in forms if f}, key=len, reverse=True)
    if not ordered:
        return None
    return re.compile("(?:" + "|".join(map(re.escape, ordered)) + r")(?![A-Za-z0-9\-_~/?#%=&+]|\.[A-Za-z0-9])")


def _scrub(value: Any, targets: dict[str, Target], forms: re.Pattern[str] | None) -> Any:
    """A copy of a manifest with every entry of a taken-down URL reduced to a marker, and mentions replaced."""
    if isinstance(value, dict):
        url = value.get("url")
        if isinstance(url, str) and _url_key(url) in targets:
            return {"url": MARKER, "outcome": value.get("outcome"), "role": value.get("role", "article")}
        return {_scrub(k, targets, forms): _scrub(v, targets, forms) for k, v in value.items()}
    if isinstance(value, list):
        return [_scrub(v, targets, forms) for v in value]
    if isinstance(value, str) and forms is not None:
        return forms.sub(MARKER, value)
    return value


def _operator() -> str | None:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return None


def run_takedown(
    store: Store,
    *,
    reason: str,
    url: str | None = None,
    feed: str | None = None,
    dry_run: bool = False,
    echo: Echo = print,
    at: dt.datetime | None = None,
) -> dict[str, Any]:
    """Plan and carry out (or with ``dry_run`` only list) the takedown of a URL or a feed; returns a summary."""
    if (url is None) == (feed is None):
        raise TakedownError("give exactly one of a URL or a feed id")
    takedown = Takedown(store, reason=reason, at=at, echo=echo)
    plan = takedown.plan_url(url) if url is not None else takedown.plan_feed(feed or "")
    summary = takedown.execute(plan, dry_run=dry_run)
    summary |= {"dry_run": dry_run, "urls": len(plan.targets), "feed": plan.feed}
    return summary


def iter_summary(summary: dict[str, Any]) -> Iterator[str]:
    """Human-readable lines of a takedown summary."""
    prefix = "would remove" if summary["dry_run"] else "removed"
    yield f"{summary['urls']} URL(s){' of feed ' + summary['feed'] if summary['feed'] else ''}"
    yield (
        f"{prefix}: {summary['warc_records_removed']} WARC record(s) "
        f"({len(summary['warcs_rewritten'])} WARC(s) rewritten, {len(summary['warcs_deleted'])} deleted), "
        f"{summary['clean_deleted']} clean snapshot(s), {summary['state_entries_removed']} seen-state entry(ies), "
        f"{summary['objects_deleted']} object(s) under the feed's prefixes"
    )
    yield (
        f"manifests scrubbed: {summary['manifests_scrubbed']}; clean pointers updated: "
        f"{summary['clean_pointers_updated']}; learned lines removed: {summary['fingerprint_lines_removed']}"
    )
    if summary["dry_run"]:
        yield f"would write {len(summary['tombstones'])} tombstone(s); nothing was changed (dry run)"
    else:
        yield f"tombstones: {len(summary['tombstones'])} (later runs refuse these URLs: reason 'takedown')"
        yield f"audit entry: {summary['audit']}"


# -- command line (``feedvault takedown``) ----------------------------------------------------------------
def add_parser(sub: Any) -> None:
    """Register ``feedvault takedown`` on the CLI's subparsers (it carries its own handler)."""
    parser = sub.add_parser(
        "takedown", help="remove every raw and clean object of a URL or feed, tombstone it, audit it"
    )
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument("--url", help="the archived URL to take down")
    target.add_argument("--feed", metavar="ID", help="take down every URL of this feed and its whole prefixes")
    parser.add_argument("--reason", required=True, help="why (kept in the tombstone and the audit entry)")
    parser.add_argument("--dry-run", action="store_true", help="list what would be removed; change nothing")
    parser.set_defaults(handler=cmd_takedown)


def _update_catalog(store: Store, settings: Any, summary: dict[str, Any]) -> None:
    """Drop the taken-down URLs from the browse catalog and refresh moved pointers and CDXJ indexes."""
    from feedvault.catalog.opener import record_takedown

    try:
        record_takedown(store, settings, summary)
    except Exception as exc:  # the catalog is derived: the takedown itself is done
        print(f"warning: the browse catalog was not updated ({exc}); run `feedvault reindex`", flush=True)


def cmd_takedown(args: Any) -> int:
    import sys

    from feedvault.config import load_registry
    from feedvault.store.target import open_archive

    registry = load_registry(args.registry)
    with open_archive(registry.settings.storage) as store:
        print(f"takedown in {store.uri}{' (dry run)' if args.dry_run else ''}", file=sys.stderr)
        try:
            summary = run_takedown(
                store,
                reason=args.reason,
                url=args.url,
                feed=args.feed,
                dry_run=args.dry_run,
                echo=lambda line: print(line, file=sys.stderr, flush=True),
            )
        except TakedownError as exc:
            print(f"takedown refused: {exc}", file=sys.stderr)
            return 2
        if not args.dry_run:
            _update_catalog(store, registry.settings, summary)
    for line in iter_summary(summary):
        print(line)
    if summary["feed"] and not summary["dry_run"]:
        print(f"the feed's new articles are still archived unless {summary['feed']!r} is disabled in the registry")
    return 0
