"""The archive checker: does what is in the store keep the archive's promises? (``feedvault check``)

It reads the whole archive (one listing, every manifest, every clean record, every WARC and CDXJ) and reports
each thing that breaks a promise as a :class:`Problem`, with what to run about it:

- every clean record's pointer resolves with one ranged GET to the response record of that URL (the URL fetched,
  ``fetched_url``, where the page is archived under its same-site canonical URL) whose payload has that sha256;
  every record of a committed clean segment is named by an entry of its feed's manifest, and every archived
  entry's clean pointer lands on a whole record;
- every object under ``raw/``, ``clean/`` and ``runs/`` belongs to a committed run (one with a run manifest);
- every manifest entry matches objects: an archived outcome (new/changed) has its clean record and WARC, a
  run manifest's feeds have their manifests, and every record in a committed WARC is named by an entry of its
  feed's manifest (a record no entry names is an orphan: neither the catalog nor a takedown's pointers find it);
- every WARC has its CDXJ index, and the index matches the WARC; no CDXJ without its WARC;
- seen state points only at snapshots of committed runs that exist;
- nothing of a taken-down URL is left but its tombstone (under the URL archived or the URL fetched), and no
  takedown stopped half-way.

Tests call :func:`check_archive` after fault injection (``tests/support/checks.assert_archive_consistent``).
It is a full read of the archive: run it as an audit, not on every request.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import Any

from feedvault import keys
from feedvault.archive.clean_segments import iter_records as iter_segment_records
from feedvault.archive.warc import RecordLocation, iter_records, read_record
from feedvault.permission.takedown import MARKER
from feedvault.store.backends import NotFound, ObjectInfo, StorageError, Store, read_many

ARCHIVED = ("new", "changed")
READERS = 8

FIX_GC = "`feedvault gc` removes what uncommitted runs left (`--dry-run` lists it first)"
FIX_CDXJ = "`feedvault cdxj --force` rewrites the indexes from the WARCs"
FIX_TAKEDOWN = "run the same `feedvault takedown` again: it completes what is left"
FIX_ORPHAN = "`feedvault takedown --url URL` removes them if the URL must go; otherwise they only waste space"
FIX_REPORT = "the archive lost or changed an object it had committed: restore it from a backup, or report it"


@dataclass(frozen=True)
class Problem:
    """One broken promise: what kind, which object, what is wrong, what to run."""

    kind: str
    key: str
    detail: str
    fix: str

    def to_dict(self) -> dict[str, str]:
        return asdict(self)

    def __str__(self) -> str:
        return f"{self.kind}: {self.key}: {self.detail}"


@dataclass
class _Run:
    run_id: str
    committed: bool = False
    objects: list[str] = field(default_factory=list)  # partition objects but its run manifest


@dataclass
class _Archive:
    """The listing, indexed by what each key says about itself."""

    keys: set[str]
    runs: dict[str, _Run]
    warcs: list[str]
    cdxjs: list[str]
    cleans: list[str]
    segments: list[str]
    feed_manifests: list[str]
    run_manifests: list[str]
    states: list[str]
    tombstones: list[str]
    catalog_markers: list[str]

    def committed(self, run_id: str) -> bool:
        run = self.runs.get(run_id)
        return run is not None and run.committed


def _index(listing: Iterable[ObjectInfo]) -> _Archive:
    archive = _Archive(set(), {}, [], [], [], [], [], [], [], [], [])
    buckets = {
        "warc": archive.warcs,
        "cdxj": archive.cdxjs,
        "clean": archive.cleans,
        "clean-segment": archive.segments,
        "feed-manifest": archive.feed_manifests,
        "run-manifest": archive.run_manifests,
        "shard-manifest": [],  # a sharded feed's part, merged into its feed manifest at commit: only counted below
    }
    for obj in listing:
        archive.keys.add(obj.key)
        parsed = keys.parse_partition_key(obj.key)
        if parsed is not None:
            buckets[parsed.kind].append(obj.key)
            run = archive.runs.setdefault(parsed.run_id, _Run(parsed.run_id))
            if parsed.kind == "run-manifest":
                run.committed = True
            else:
                run.objects.append(obj.key)
        elif obj.key.startswith("state/") and obj.key.endswith(".json"):
            archive.states.append(obj.key)
        elif obj.key.startswith("tombstones/"):
            archive.tombstones.append(obj.key)
        elif obj.key.startswith(keys.CATALOG_RUNS_PREFIX):
            archive.catalog_markers.append(obj.key)
    return archive


class Checker:
    def __init__(self, store: Store) -> None:
        self.store = store
        self.problems: list[Problem] = []

    def report(self, kind: str, key: str, detail: str, fix: str) -> None:
        self.problems.append(Problem(kind, key, detail, fix))

    def _read(self, object_keys: list[str]) -> Iterator[tuple[str, bytes | None]]:
        return read_many(self.store, object_keys, readers=READERS)

    def _json(self, key: str, data: bytes | None) -> Any:
        if data is None:
            self.report("vanished", key, "listed, then gone while it was read", "run the check again")
            return None
        try:
            return json.loads(data)
        except ValueError as exc:
            self.report("unreadable", key, f"not JSON ({exc})", FIX_REPORT)
            return None

    def run(self) -> list[Problem]:
        archive = _index(self.store.list(""))
        self._uncommitted(archive)
        named, listed = self._manifests(archive)
        tombstoned = self._tombstones(archive)
        self._cleans(archive, listed, tombstoned)
        self._segments(archive, listed, tombstoned)
        self._warcs(archive, named, tombstoned)
        self._states(archive)
        self._catalog_markers(archive)
        return self.problems

    # -- commit ----------------------------------------------------------------------------------------
    def _uncommitted(self, archive: _Archive) -> None:
        for run in archive.runs.values():
            if not run.committed:
                for key in run.objects:
                    self.report("uncommitted", key, f"run {run.run_id} has no run manifest", FIX_GC)

    def _manifests(self, archive: _Archive) -> tuple[dict[tuple[str, str], dict[str, set[str]]], set[str]]:
        """Check committed manifests against the objects. Returns (run, feed) -> warc key -> URL keys named
        there by an entry (archived, or a failed one whose raw record stayed in the WARC), and the clean pointers
        named by entries: archived ones (True), or failed ones whose record stayed in its segment (False)."""
        named: dict[tuple[str, str], dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
        listed: dict[str, bool] = {}
        for key, data in self._read(archive.run_manifests):
            manifest = self._json(key, data)
            if not isinstance(manifest, dict):
                continue
            for feed in manifest.get("feeds", []):
                feed_key = feed.get("manifest_key")
                if feed_key and feed_key not in archive.keys:
                    self.report("missing-object", key, f"names feed manifest {feed_key}, which is missing", FIX_REPORT)
        committed_feeds = [k for k in archive.feed_manifests if archive.committed(_run_of(k))]
        for key, data in self._read(committed_feeds):
            manifest = self._json(key, data)
            if not isinstance(manifest, dict):
                continue
            run_feed = (_run_of(key), str(manifest.get("feed", "")))
            for entry in manifest.get("urls", []):
                if entry.get("url") == MARKER:  # a taken-down URL's entry: its objects are gone on purpose
                    continue
                url_key = _url_key(entry.get("fetched_url") or entry.get("url", ""))  # its WARC records' URL
                warc_key, clean_key = entry.get("warc_key"), entry.get("clean_key")
                if warc_key and url_key:
                    named[run_feed][warc_key].add(url_key)
                if clean_key and entry.get("outcome") not in ARCHIVED:
                    listed.setdefault(clean_key, False)
                if entry.get("outcome") not in ARCHIVED:
                    continue
                if clean_key:
                    listed[clean_key] = True
                for what, object_key in (("clean record", _object_of(clean_key)), ("WARC", warc_key)):
                    if object_key and object_key not in archive.keys:
                        self.report(
                            "missing-object",
                            key,
                            f"archived entry {entry.get('url')} points at {what} {object_key}, which is missing",
                            FIX_REPORT,
                        )
                if not clean_key and not warc_key:
                    self.report("missing-object", key, f"archived entry {entry.get('url')} names no object", FIX_REPORT)
        return named, listed

    # -- clean records ---------------------------------------------------------------------------------
    def _cleans(self, archive: _Archive, listed: dict[str, bool], tombstoned: set[str]) -> None:
        committed = [k for k in archive.cleans if archive.committed(_run_of(k))]

        def check(key: str) -> list[Problem]:
            found: list[Problem] = []
            try:
                record = json.loads(self.store.get_bytes(key))
            except NotFound:
                record = None
            except ValueError as exc:
                return [Problem("unreadable", key, f"not JSON ({exc})", FIX_REPORT)]
            if not isinstance(record, dict):
                return [Problem("vanished", key, "listed, then gone while it was read", "run the check again")]
            url = str(record.get("url", ""))
            url_key = _url_key(url)
            if url_key != key.rsplit("/", 1)[-1].removesuffix(".json"):
                found.append(Problem("misnamed", key, f"holds a record of {url!r}, another URL's key", FIX_REPORT))
            fetched = str(record.get("fetched_url") or url)  # archived under its canonical URL: the URL fetched
            if url_key in tombstoned or _url_key(fetched) in tombstoned:
                found.append(Problem("takedown-leftover", key, f"a clean record of taken-down {url}", FIX_TAKEDOWN))
            raw = record.get("raw") or {}
            if raw.get("warc_key"):
                found += _pointer_problems(self.store, key, fetched, raw)
            if not listed.get(key):
                found.append(
                    Problem(
                        "unlisted", key, f"no archived entry of its run's feed manifest names it ({url})", FIX_ORPHAN
                    )
                )
            return found

        with ThreadPoolExecutor(max_workers=READERS) as pool:
            for found in pool.map(check, committed):
                self.problems += found

    def _segments(self, archive: _Archive, listed: dict[str, bool], tombstoned: set[str]) -> None:
        """Every record of a committed clean segment: named by an entry, pointing at its raw record, not of a
        taken-down URL; and every pointer into the segment lands on a whole record."""
        pointed: dict[str, set[str]] = defaultdict(set)  # segment -> pointers named into it
        for pointer in listed:
            where = keys.parse_clean_pointer(pointer)
            if where.offset is not None:
                pointed[where.key].add(pointer)
        committed = [k for k in archive.segments if archive.committed(_run_of(k))]
        with ThreadPoolExecutor(max_workers=READERS) as pool:
            for found in pool.map(lambda key: self._segment(key, listed, pointed[key], tombstoned), committed):
                self.problems += found

    def _segment(self, key: str, listed: dict[str, bool], pointed: set[str], tombstoned: set[str]) -> list[Problem]:
        try:
            records = [
                (keys.clean_pointer(key, offset, length), record)
                for offset, length, record in iter_segment_records(self.store.get_bytes(key))
            ]
        except NotFound:
            return [Problem("vanished", key, "listed, then gone while it was read", "run the check again")]
        except ValueError as exc:
            return [Problem("unreadable", key, f"not a clean segment ({exc})", FIX_REPORT)]
        found: list[Problem] = []
        for pointer, record in records:
            url = str(record.get("url", ""))
            fetched = str(record.get("fetched_url") or url)  # archived under its canonical URL: the URL fetched
            if _url_key(url) in tombstoned or _url_key(fetched) in tombstoned:
                found.append(Problem("takedown-leftover", pointer, f"a clean record of taken-down {url}", FIX_TAKEDOWN))
            raw = record.get("raw") or {}
            if raw.get("warc_key") and listed.get(pointer):  # a withdrawn record's WARC may be the file that was lost
                found += _pointer_problems(self.store, pointer, fetched, raw)
            if pointer not in listed:
                found.append(
                    Problem("unlisted", pointer, f"no entry of its run's feed manifest names it ({url})", FIX_ORPHAN)
                )
        for pointer in sorted(pointed - {p for p, _r in records}):
            if listed.get(pointer):
                found.append(Problem("bad-pointer", pointer, "an archived entry points at no whole record", FIX_REPORT))
        return found

    # -- WARCs and CDXJ --------------------------------------------------------------------------------
    def _warcs(
        self, archive: _Archive, named: dict[tuple[str, str], dict[str, set[str]]], tombstoned: set[str]
    ) -> None:
        from feedvault.archive.cdxj import cdxj_key, index_warc

        warcs = set(archive.warcs)
        for key in archive.cdxjs:
            if key.removesuffix(".cdxj") + ".warc.gz" not in warcs:
                self.report("orphan-cdxj", key, "a CDXJ index whose WARC is missing", FIX_GC)
        for key in archive.warcs:
            if not archive.committed(_run_of(key)):
                continue
            try:
                data = self.store.get_bytes(key)
                records = [
                    (view.rec_type, view.warc_headers.get("WARC-Target-URI", "")) for _o, _n, view in iter_records(data)
                ]
            except NotFound:
                self.report("vanished", key, "listed, then gone while it was read", "run the check again")
                continue
            except Exception as exc:  # warcio raises several types on a damaged file
                self.report("unreadable", key, f"not a readable WARC ({type(exc).__name__}: {exc})", FIX_REPORT)
                continue
            parsed = keys.parse_partition_key(key)
            assert parsed is not None
            expected = named[(parsed.run_id, parsed.feed_id or "")].get(key, set())
            orphans: dict[str, int] = defaultdict(int)
            for rec_type, uri in records:
                if rec_type == "warcinfo":
                    continue
                url_key = _url_key(uri)
                if url_key in tombstoned:
                    self.report(
                        "takedown-leftover", key, f"holds a {rec_type} record of taken-down {uri}", FIX_TAKEDOWN
                    )
                elif url_key not in expected:
                    orphans[uri] += 1
            for uri, count in orphans.items():
                self.report(
                    "orphan-record", key, f"{count} record(s) of {uri} that no manifest entry names", FIX_ORPHAN
                )
            index = cdxj_key(key)
            if index not in archive.keys:
                self.report("missing-cdxj", key, f"no CDXJ index ({index}): pywb cannot replay it", FIX_CDXJ)
                continue
            try:
                stale = self.store.get_bytes(index) != index_warc(data, key)
            except NotFound:
                continue
            if stale:
                self.report("stale-cdxj", index, "does not match its WARC", FIX_CDXJ)

    # -- seen state, tombstones, catalog ---------------------------------------------------------------
    def _states(self, archive: _Archive) -> None:
        for key, data in self._read(archive.states):
            state = self._json(key, data)
            if not isinstance(state, dict):
                continue
            for entry in (state.get("urls") or {}).values():
                for snap in entry.get("snapshots", []):
                    run_id = snap.get("run_id", "")
                    if not archive.committed(run_id):
                        self.report(
                            "state-uncommitted",
                            key,
                            f"{entry.get('url')}: baseline snapshot of run {run_id}, which has no run manifest",
                            FIX_GC,
                        )
                        continue
                    for object_key in (_object_of(snap.get("clean_key")), snap.get("warc_key")):
                        if object_key and object_key not in archive.keys:
                            self.report(
                                "state-dangling",
                                key,
                                f"{entry.get('url')}: snapshot points at {object_key}, which is missing",
                                FIX_REPORT,
                            )

    def _tombstones(self, archive: _Archive) -> set[str]:
        tombstoned = set()
        for key, data in self._read(archive.tombstones):
            tombstone = self._json(key, data)
            if not isinstance(tombstone, dict):
                continue
            tombstoned.add(key.rsplit("/", 1)[-1].removesuffix(".json"))
            if tombstone.get("status") != "complete":
                self.report("takedown-incomplete", key, f"status {tombstone.get('status')!r}", FIX_TAKEDOWN)
        return tombstoned

    def _catalog_markers(self, archive: _Archive) -> None:
        for key in archive.catalog_markers:
            run_id = key.removeprefix(keys.CATALOG_RUNS_PREFIX)
            if not archive.committed(run_id):
                self.report("orphan-marker", key, f"lists run {run_id}, which has no run manifest", FIX_GC)


def _pointer_problems(store: Store, key: str, url: str, raw: dict[str, Any]) -> list[Problem]:
    """The clean record's raw pointer, resolved with one ranged GET (:func:`feedvault.archive.warc.read_record`)."""
    try:
        location = RecordLocation(
            raw["warc_key"], int(raw["offset"]), int(raw["length"]), raw.get("record_id") or "", raw["sha256"]
        )
        view = read_record(store, location)
    except NotFound:
        return [Problem("bad-pointer", key, f"points into {raw.get('warc_key')}, which is missing", FIX_REPORT)]
    except (StorageError, KeyError, TypeError, ValueError) as exc:
        return [Problem("bad-pointer", key, f"its raw pointer does not resolve: {exc}", FIX_REPORT)]
    except Exception as exc:  # warcio on bytes that are not a record
        return [
            Problem("bad-pointer", key, f"its raw pointer does not resolve: {type(exc).__name__}: {exc}", FIX_REPORT)
        ]
    target = view.warc_headers.get("WARC-Target-URI", "")
    if target != url:
        return [Problem("bad-pointer", key, f"points at a record of {target!r}, not of {url!r}", FIX_REPORT)]
    return []


def _object_of(pointer: str | None) -> str | None:
    """The object a clean pointer points into (the pointer itself for an old-layout record)."""
    if not pointer:
        return None
    try:
        return keys.parse_clean_pointer(pointer).key
    except ValueError:
        return pointer  # reported missing: no such object


def _run_of(key: str) -> str:
    parsed = keys.parse_partition_key(key)
    return parsed.run_id if parsed else ""


def _url_key(url: str) -> str | None:
    try:
        return keys.url_key(url) if url.lower().startswith(("http://", "https://")) else None
    except ValueError:
        return None


def check_archive(store: Store) -> list[Problem]:
    """Every broken promise found in ``store`` (empty: the archive is consistent)."""
    return Checker(store).run()


# -- command line (``feedvault check``) ------------------------------------------------------------------
def add_parser(sub: Any) -> None:
    parser = sub.add_parser(
        "check", help="verify the archive: pointers, commits, manifests, indexes (exit 1 on any problem)"
    )
    parser.add_argument("--json", action="store_true", help="print the problems as JSON on stdout")
    parser.set_defaults(handler=cmd_check)


def cmd_check(args: Any) -> int:
    import sys

    from feedvault.config import load_registry
    from feedvault.store.target import open_archive

    registry = load_registry(args.registry)
    with open_archive(registry.settings.storage) as store:
        print(f"checking {store.uri} ...", file=sys.stderr, flush=True)
        problems = check_archive(store)
    if args.json:
        print(json.dumps({"archive": store.uri, "problems": [p.to_dict() for p in problems]}, indent=1))
    else:
        by_fix: dict[str, list[Problem]] = defaultdict(list)
        for problem in problems:
            by_fix[problem.fix].append(problem)
        for fix, found in by_fix.items():
            for problem in found:
                print(problem)
            print(f"  -> {fix}")
        print(f"{len(problems)} problem(s) in {store.uri}" if problems else f"no problems in {store.uri}")
    return 1 if problems else 0
