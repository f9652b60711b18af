"""Latency of the browse catalog's listing and search on a synthetic catalog of 100,000 snapshots.

Generates clean records straight into SQLite through the catalog's own insert path
(:meth:`Catalog.insert_records`): 10 feeds x 60 days of runs, plus one busy feed-day of 10,000 snapshots so a
deep page is really deep; texts of 60-160 words drawn from a Zipf-distributed vocabulary of 20,000 words in
two languages. Then measures, with a warm page cache (the app's normal state):

* list: the articles of a feed/day, page 1 and a deep page (page 500 of the busy day), and a feed's days;
* search: frequent, mid-frequency and rare words, two words, a phrase, a prefix; without and with filters
  (feed, date range, language), page 1 and page 5.

Prints, against their targets: the build (seconds in ``insert_records`` only, the records' generation timed
apart; target <= 120 s for 1M on SQLite), the size of each table and index, what one run publishes to S3 (its
piece on SQLite, nothing on PostgreSQL), p50 and p95 per operation (target p95 <= 50 ms for every one), and the
rate of ``reindex`` from a local archive of ``--reindex`` snapshots (clean segments and manifests as runs leave
them). Exits 1 if a target is missed. ``--backend postgresql`` measures the PostgreSQL catalog
instead: on ``--dsn URI`` (an empty database), or on a throw-away server started for the run (the Debian
``postgresql`` binaries, as the tests start them).
``--reuse`` measures a catalog an earlier run built and kept (``--keep PATH`` or ``--dsn URI``), as it is (opened,
so an older schema is migrated first): no build figure.
Usage: ``python bench/catalog_latency.py [-n 100000] [--repeat 30] [--keep PATH] [--backend sqlite|postgresql]``.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import itertools
import json
import random
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from feedvault import keys  # noqa: E402
from feedvault.archive.clean_segments import dumps_line, encode_member  # noqa: E402
from feedvault.catalog import Catalog, MaintainedCatalog  # noqa: E402
from feedvault.catalog.interface import RunRow, RunRows, SnapshotRow  # noqa: E402
from feedvault.catalog.pieces import write_piece  # noqa: E402
from feedvault.catalog.sqlite_file import remove_db  # noqa: E402
from feedvault.permission.usage import usage_field  # noqa: E402
from feedvault.store.backends import FileStore  # noqa: E402

TARGET_P95_MS = 50.0
BUILD_TARGET_S = 120.0  # 1M snapshots on SQLite
FEEDS = [f"bench-{i:02d}" for i in range(10)]
DAYS = 60
BUSY_DAY_SNAPSHOTS = 10_000
START = dt.datetime(2026, 1, 1, 2, 0, tzinfo=dt.UTC)
VOCABULARY = 20_000


def vocabulary(rng: random.Random) -> list[str]:
    syllables = ["ka", "ba", "ru", "ne", "si", "to", "la", "me", "pu", "di", "an", "or", "el", "is", "tra", "ng"]
    words: set[str] = set()
    while len(words) < VOCABULARY:
        words.add("".join(rng.choice(syllables) for _ in range(rng.randint(2, 4))))
    ordered = sorted(words)
    rng.shuffle(ordered)  # frequency rank independent of spelling; deterministic (no set order)
    return ordered


def records(n: int, seed: int = 7) -> Iterator[tuple[str, dict[str, Any]]]:
    """``n`` synthetic clean records (as the pipeline writes them) with their clean keys."""
    rng = random.Random(seed)
    words = vocabulary(rng)
    weights = [1 / (rank + 1) for rank in range(len(words))]  # Zipf
    cumulative = list(_accumulate(weights))
    usage = usage_field([], [], None)  # what the pipeline records for a page without usage signals
    busy = keys.RunId.new(START, label="bench")
    regular = n - BUSY_DAY_SNAPSHOTS
    for i in range(n):
        if i < BUSY_DAY_SNAPSHOTS:
            feed, run = FEEDS[0], busy
        else:
            j = i - BUSY_DAY_SNAPSHOTS
            feed = FEEDS[j % len(FEEDS)]
            run = keys.RunId.new(START + dt.timedelta(days=1 + (j * DAYS) // max(regular, 1)), label="bench")
        text_words = rng.choices(words, cum_weights=cumulative, k=rng.randint(60, 160))
        text = "\n".join(" ".join(text_words[k : k + 20]).capitalize() + "." for k in range(0, len(text_words), 20))
        title = " ".join(rng.choices(words, cum_weights=cumulative, k=8)).capitalize()
        url = f"https://{feed}.example/news/{i}.html"
        fetched = run.started + dt.timedelta(seconds=i % 3600)
        yield (
            keys.clean_key(feed, run, url),
            {
                "url": url,
                "feed": feed,
                "run_id": run.value,
                "fetched_at": fetched.isoformat(),
                "entry": {"link": url, "title": title, "published": fetched.isoformat()},
                "text": text,
                "metadata": {"title": title, "language": "id" if i % 3 else "en", "word_count": len(text_words)},
                "removed": [],
                "permission": {"decision": "archive", "basis": "own-content"},
                "usage": usage,
                "raw": {"sha256": f"{i:064x}", "warc_key": None},
            },
        )


def _accumulate(values: list[float]) -> Iterator[float]:
    total = 0.0
    for value in values:
        total += value
        yield total


BATCH = 5000


def build(catalog: MaintainedCatalog, n: int) -> tuple[float, float]:
    """Insert ``n`` generated records in batches through the real insert path, as a reindex does (on SQLite, a
    bulk build: ``Catalog.building``); returns the seconds spent in ``insert_records`` (rows built from records,
    then written) plus finishing the build, and the seconds generating the records."""
    inserting = generating = 0.0
    generated = records(n)
    started = time.perf_counter()
    with catalog.building() if isinstance(catalog, Catalog) else contextlib.nullcontext():
        inserting += time.perf_counter() - started
        while True:
            started = time.perf_counter()
            batch = list(itertools.islice(generated, BATCH))
            generating += time.perf_counter() - started
            if not batch:
                break
            started = time.perf_counter()
            catalog.insert_records(batch)
            inserting += time.perf_counter() - started
        started = time.perf_counter()
    return inserting + time.perf_counter() - started, generating


def sizes(catalog: MaintainedCatalog) -> list[tuple[str, int]]:
    """Bytes per table and index, largest first."""
    if isinstance(catalog, Catalog):
        rows = catalog._all("SELECT name, sum(pgsize) AS bytes FROM dbstat GROUP BY name ORDER BY bytes DESC")
        return [(r["name"], r["bytes"]) for r in rows]
    rows = catalog._all(  # type: ignore[attr-defined]  # a table with its TOAST, an index alone
        "SELECT c.relname AS name, CASE c.relkind WHEN 'r' THEN pg_table_size(c.oid) ELSE pg_relation_size(c.oid) END"
        " AS bytes FROM pg_class c"
        " JOIN pg_namespace ns ON ns.oid = c.relnamespace WHERE ns.nspname = 'public' AND c.relkind IN ('r', 'i')"
        " ORDER BY bytes DESC"
    )
    return [(r["name"], r["bytes"]) for r in rows if r["bytes"] > 64 * 1024]


class Backend:
    """The catalog under test and how to get a fresh, empty one of the same kind (for the reindex)."""

    def __init__(self, catalog: MaintainedCatalog, fresh: Callable[[], MaintainedCatalog | None]) -> None:
        self.catalog, self.fresh = catalog, fresh


@contextlib.contextmanager
def open_backend(args: argparse.Namespace, tmp: str) -> Iterator[Backend]:
    if args.backend == "sqlite":
        path = args.keep or Path(tmp) / "bench.sqlite"
        if not args.reuse:
            remove_db(path)
        with Catalog(path) as catalog:
            yield Backend(catalog, lambda: Catalog(Path(tmp) / "reindexed" / "catalog.sqlite"))
        return
    from feedvault.catalog.postgres_catalog import PostgresCatalog

    if args.dsn:
        with PostgresCatalog(args.dsn) as catalog:
            yield Backend(catalog, lambda: None)  # no second database to reindex into
        return
    from tests.support.services import postgres_server

    with postgres_server(Path(tmp)) as server, PostgresCatalog(server.create_database("bench")) as catalog:
        yield Backend(catalog, lambda: PostgresCatalog(server.create_database("reindexed")))


def write_archive(store: FileStore, n: int) -> None:
    """``n`` generated records committed the way runs leave them: clean segments (one gzip member per record),
    feed manifests pointing into them, run manifests."""
    by_run: dict[str, dict[str, list[dict[str, Any]]]] = defaultdict(lambda: defaultdict(list))
    for _key, record in records(n, seed=11):
        by_run[record["run_id"]][record["feed"]].append(record)
    for run_id, feeds in by_run.items():
        run, summaries = keys.RunId(run_id), []
        for feed, feed_records in feeds.items():
            segment, data, urls = keys.clean_segment_key(feed, run, 1), bytearray(), []
            for record in feed_records:
                member = encode_member(dumps_line(record))
                urls.append(
                    {
                        "url": record["url"],
                        "outcome": "new",
                        "clean_key": keys.clean_pointer(segment, len(data), len(member)),
                    }
                )
                data += member
            store.put_bytes(segment, bytes(data))
            feed_key = keys.feed_manifest_key(run, feed)
            store.put_bytes(feed_key, json.dumps({"feed": feed, "urls": urls}).encode())
            summaries.append({"feed": feed, "status": "ok", "manifest_key": feed_key, "counts": {"new": len(urls)}})
        manifest = {"run_id": run_id, "status": "ok", "feeds": summaries}
        store.put_bytes(keys.run_manifest_key(run), json.dumps(manifest).encode())


def reindex_rate(backend: Backend, n: int, tmp: str) -> str:
    """``feedvault reindex``'s rate on an archive of ``n`` snapshots in a local store."""
    if not n:
        return "reindex: not measured (--reindex 0)"
    catalog = backend.fresh()
    if catalog is None:
        return "reindex: not measured (--dsn: no second database to rebuild into)"
    store = FileStore(Path(tmp) / "archive")
    write_archive(store, n)
    with catalog:
        started = time.perf_counter()
        indexed = catalog.reindex(store)
        seconds = time.perf_counter() - started
    return (
        f"reindex: {indexed:,} snapshots from a local archive (clean segments, manifests) in {seconds:.1f} s:"
        f" {indexed / seconds:,.0f} snapshots/s (1M: about {1_000_000 / (indexed / seconds) / 60:,.0f} min)"
    )


def published_per_run(catalog: MaintainedCatalog, tmp: str) -> str:
    """What one run's catalog update writes to S3: its piece (SQLite), nothing (PostgreSQL)."""
    if not isinstance(catalog, Catalog):
        return "S3 bytes per run: 0 (the run writes the database; nothing is published)"
    run_id = catalog._one("SELECT run_id FROM snapshots ORDER BY n DESC LIMIT 1")["run_id"]  # type: ignore[index]
    columns = ", ".join(f"s.{name}" for name in SnapshotRow._fields[:-1])
    rows = [
        SnapshotRow(*r)
        for r in catalog._all(
            f"SELECT {columns}, t.text FROM snapshots s JOIN snapshot_text t ON t.rowid = s.n WHERE s.run_id = ?",
            (run_id,),
        )
    ]
    day = keys.RunId(run_id).started.date().isoformat()
    run = RunRow(run_id, day, None, None, None, "ok", "bench", "{}", "[]", 0, "")
    path = Path(tmp) / "piece.sqlite"
    write_piece(path, [(RunRows(run, [], rows), "bench")])
    per_snapshot = path.stat().st_size / len(rows)
    return (
        f"S3 bytes per run: its piece, {per_snapshot / 1024:.1f} KiB per snapshot (a run of {len(rows):,}:"
        f" {path.stat().st_size / 2**20:,.1f} MiB; 2,000 snapshots: {2000 * per_snapshot / 2**20:,.1f} MiB),"
        " whatever the catalog's size (bench/catalog_pieces.py)"
    )


def measure(fn: Callable[[], Any], repeat: int) -> list[float]:
    fn()  # warm
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - started) * 1000)
    return samples


def p95(samples: list[float]) -> float:
    return statistics.quantiles(samples, n=20, method="inclusive")[18]


def verdict(ok: bool) -> str:
    return "OK" if ok else "MISSED"


def report_build(args: argparse.Namespace, catalog: MaintainedCatalog, seconds: float, generating: float) -> bool:
    """Prints the build and sizes; whether the build target is met (it applies to SQLite at 1M and above)."""
    counts = catalog.counts()
    scaled = seconds * 1_000_000 / counts["snapshots"]
    applies = args.backend == "sqlite" and counts["snapshots"] >= 1_000_000
    ok = not applies or seconds <= BUILD_TARGET_S
    target = (
        f"target <= {BUILD_TARGET_S:.0f} s -> {verdict(ok)}"
        if applies
        else f"the target, <= {BUILD_TARGET_S:.0f} s, is for 1M on SQLite; at this rate 1M would take {scaled:.0f} s"
    )
    print(
        f"{args.backend}: built {counts['snapshots']:,} snapshots through insert_records (batches of {BATCH:,}) in"
        f" {seconds:.1f} s, {counts['snapshots'] / seconds:,.0f} snapshots/s ({target}); generating the records"
        f" took {generating:.1f} s more"
    )
    table = sizes(catalog)
    print(
        f"size {sum(b for _, b in table) / 2**20:,.0f} MiB ({sum(b for _, b in table) / counts['snapshots'] / 1024:.1f}"
        " KiB per snapshot): " + ", ".join(f"{n} {b / 2**20:,.0f}" for n, b in table)
    )
    return ok


def report_reused(args: argparse.Namespace, catalog: MaintainedCatalog) -> bool:
    """Prints the reused catalog's size (no build figure); whether it holds the ``-n`` snapshots asked for."""
    held = catalog.counts()["snapshots"]
    print(f"{args.backend}: reused a catalog of {held:,} snapshots built earlier (no build figure)")
    table = sizes(catalog)
    print(
        f"size {sum(b for _, b in table) / 2**20:,.0f} MiB ({sum(b for _, b in table) / held / 1024:.1f}"
        " KiB per snapshot): " + ", ".join(f"{n} {b / 2**20:,.0f}" for n, b in table)
    )
    if held != args.n:
        print(f"MISSED: -n {args.n:,} asked for, the catalog holds {held:,}")
    return held == args.n


def operations(catalog: MaintainedCatalog) -> dict[str, dict[str, Callable[[], Any]]]:
    busy_day = START.date().isoformat()
    day = (START + dt.timedelta(days=30)).date().isoformat()
    frequent, mid, rare = _words_by_rank(catalog, (20, 500, 5000))
    deep = BUSY_DAY_SNAPSHOTS // 20
    return {
        "list": {
            f"articles {FEEDS[3]}/{day} page 1": lambda: catalog.articles(FEEDS[3], day, 1, 20),
            f"articles {FEEDS[0]}/{busy_day} page 1": lambda: catalog.articles(FEEDS[0], busy_day, 1, 20),
            f"articles {FEEDS[0]}/{busy_day} page {deep}": lambda: catalog.articles(FEEDS[0], busy_day, deep, 20),
            f"days of {FEEDS[5]}": lambda: catalog.days(FEEDS[5], 1, 31),
        },
        "search": {
            f"frequent word {frequent!r}": lambda: catalog.search(frequent),
            "frequent word, page 5": lambda: catalog.search(frequent, page=5),
            f"mid word {mid!r}": lambda: catalog.search(mid),
            f"rare word {rare!r}": lambda: catalog.search(rare),
            "two words": lambda: catalog.search(f"{frequent} {mid}"),
            "phrase": lambda: catalog.search(f'"{frequent} {frequent}"'),
            "prefix": lambda: catalog.search(mid[:3] + "*"),
            "mid word + feed": lambda: catalog.search(mid, feed=FEEDS[2]),
            "frequent word + feed + dates": lambda: catalog.search(
                frequent, feed=FEEDS[2], date_from="2026-01-10", date_to="2026-01-20"
            ),
            "mid word + language": lambda: catalog.search(mid, language="en"),
        },
    }


def report_latency(catalog: MaintainedCatalog, repeat: int) -> bool:
    """Prints p50 / p95 per operation and overall per kind against the target; whether every p95 is met."""
    met = True
    for kind, ops in operations(catalog).items():
        print(f"\n{kind}: p50 / p95 ms (target p95 <= {TARGET_P95_MS:.0f} for every operation)")
        everything: list[float] = []
        for name, fn in ops.items():
            samples = measure(fn, repeat)
            everything += samples
            ok = p95(samples) <= TARGET_P95_MS
            met &= ok
            print(f"  {name:<48} {statistics.median(samples):7.2f} / {p95(samples):7.2f}  {verdict(ok)}")
        print(f"  {kind} overall: p50 {statistics.median(everything):.2f} ms, p95 {p95(everything):.2f} ms")
    return met


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--keep", type=Path, help="SQLite: build the catalog at this path and keep it")
    parser.add_argument("--backend", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--dsn", help="PostgreSQL: an empty database to use (default: a throw-away server)")
    parser.add_argument("--reindex", type=int, default=20_000, help="snapshots in the archive reindexed (0: skip)")
    parser.add_argument("--reuse", action="store_true", help="measure the catalog at --keep / --dsn as it is")
    args = parser.parse_args()
    if args.reuse and not (args.keep or args.dsn):
        parser.error("--reuse measures a kept catalog: give --keep PATH or --dsn URI")

    with tempfile.TemporaryDirectory() as tmp, open_backend(args, tmp) as backend:
        catalog = backend.catalog
        if args.reuse:
            met = report_reused(args, catalog)
        else:
            seconds, generating = build(catalog, args.n)
            if args.backend == "postgresql":  # the state autovacuum leaves a table in: statistics, visibility map
                catalog._conn.execute("VACUUM ANALYZE")  # type: ignore[attr-defined]
            met = report_build(args, catalog, seconds, generating)
        print(published_per_run(catalog, tmp))
        met &= report_latency(catalog, args.repeat)
        print("\n" + reindex_rate(backend, args.reindex, tmp))
    print("every target met" if met else "a target was MISSED")
    return 0 if met else 1


def _words_by_rank(catalog: MaintainedCatalog, ranks: tuple[int, ...]) -> list[str]:
    """Words of the generated vocabulary at the given frequency ranks (the same seed as the data)."""
    words = vocabulary(random.Random(7))
    return [words[r] for r in ranks]


if __name__ == "__main__":
    raise SystemExit(main())
