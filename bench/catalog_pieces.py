"""What publishing the browse catalog costs per run, and what a reader downloads to catch up, at two archive sizes.

For each size N: a catalog of N synthetic snapshots (bench/catalog_latency.py's generator, 10 feeds x 60 days)
is built in bulk and published as pieces (what ``feedvault reindex`` leaves) into a local FileStore (S3's requests and
bytes, counted). A reader in step is a copy of it. Then one run of ``--run-size`` new snapshots is committed the
real way (clean records, feed and run manifests in the store; ``update_after_run`` publishes its piece),
and the reader syncs (``Catalog.sync``). Prints the bytes the run wrote to ``catalog/`` and the bytes the reader
downloaded, per size, and their ratio between the sizes: target 1.00 +- 0.10 (independent of archive size).
Usage: ``python bench/catalog_pieces.py [-n 100000 300000] [--run-size 2000]``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import itertools
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from catalog_latency import records  # noqa: E402

from feedvault import keys  # noqa: E402
from feedvault.catalog.index import snapshot_row  # noqa: E402
from feedvault.catalog.interface import RunRow  # noqa: E402
from feedvault.catalog.replication import CATALOG_FILE, Catalog, update_after_run  # noqa: E402
from feedvault.store.backends import FileStore  # noqa: E402

TOLERANCE = 0.10


class CountingStore(FileStore):
    """A FileStore that also counts the bytes it returns (GETs) and writes under ``catalog/``."""

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.read_bytes = 0
        self.catalog_written = 0

    def get_bytes(self, key: str, start: int | None = None, length: int | None = None) -> bytes:
        data = super().get_bytes(key, start, length)
        self.read_bytes += len(data)
        return data

    def get_versioned(self, key: str) -> tuple[bytes, str]:
        data, version = super().get_versioned(key)
        self.read_bytes += len(data)
        return data, version

    def put_bytes(self, key: str, data: bytes, *args: Any, **kwargs: Any) -> None:
        self.catalog_written += len(data) if key.startswith("catalog/") else 0
        super().put_bytes(key, data, *args, **kwargs)

    def put_file(self, key: str, path: Path, *args: Any, **kwargs: Any) -> None:
        self.catalog_written += path.stat().st_size if key.startswith("catalog/") else 0
        super().put_file(key, path, *args, **kwargs)

    def put_if(self, key: str, data: bytes, version: str | None, *args: Any, **kwargs: Any) -> str:
        self.catalog_written += len(data) if key.startswith("catalog/") else 0
        return super().put_if(key, data, version, *args, **kwargs)


def build(catalog: Catalog, n: int) -> None:
    """N snapshots, each run with its run row, through the backend's write primitive, in bulk as ``feedvault
    reindex`` builds a catalog (:meth:`~feedvault.catalog.sqlite_file.SqliteFile.building`); streamed run by run
    (the generator yields each run's records together)."""
    seen: set[str] = set()
    with catalog.building():
        for run_id, run_records in itertools.groupby(records(n), key=lambda item: item[1]["run_id"]):
            assert run_id not in seen, f"{run_id}: its records are not together (write_run would replace them)"
            seen.add(run_id)
            day = keys.RunId(run_id).started.date().isoformat()
            run = RunRow(
                run_id, day, None, None, None, "ok", "bench", "{}", "[]", 0, keys.run_manifest_key(keys.RunId(run_id))
            )
            catalog.write_run(run, [], (snapshot_row(key, record) for key, record in run_records))


def commit_run(store: FileStore, run_size: int, seed: int) -> str:
    """One committed run of ``run_size`` new snapshots, as the pipeline and finalize leave it; its manifest key."""
    run = keys.RunId.new(dt.datetime(2026, 4, 1, 2, 0, tzinfo=dt.UTC), label=f"bench-{seed}")
    urls = []
    for i, (_key, record) in enumerate(records(run_size, seed=seed)):
        record = {**record, "url": f"https://new-{seed}.example/a/{i}.html", "feed": "bench-new", "run_id": run.value}
        key = keys.clean_key("bench-new", run, record["url"])
        store.put_bytes(key, json.dumps(record).encode())
        urls.append({"url": record["url"], "outcome": "new", "clean_key": key})
    feed_key = keys.feed_manifest_key(run, "bench-new")
    store.put_bytes(feed_key, json.dumps({"feed": "bench-new", "urls": urls}).encode())
    manifest = {
        "run_id": run.value,
        "status": "ok",
        "feeds": [{"feed": "bench-new", "status": "ok", "manifest_key": feed_key, "counts": {"new": run_size}}],
    }
    store.put_bytes(keys.run_manifest_key(run), json.dumps(manifest).encode())
    return keys.run_manifest_key(run)


def measure(n: int, run_size: int, tmp: Path) -> dict[str, float]:
    store = CountingStore(tmp / "archive")
    writer_dir, reader_dir = tmp / "writer", tmp / "reader"
    started = time.perf_counter()
    with Catalog(writer_dir / CATALOG_FILE) as writer:
        build(writer, n)
        built = time.perf_counter() - started
        writer.set_meta("store_uri", store.uri)
        writer.publish(store)
    published_in = time.perf_counter() - started - built
    published = store.catalog_written
    shutil.copytree(writer_dir, reader_dir)  # a reader in step
    manifest_key = commit_run(store, run_size, seed=n % 1000 + 11)
    store.catalog_written = 0
    update_after_run(store, writer_dir, manifest_key)
    written = store.catalog_written
    with Catalog(reader_dir / CATALOG_FILE) as reader:
        store.read_bytes = 0
        reader.sync(store)
        downloaded = store.read_bytes
        assert reader.counts()["snapshots"] == n + run_size, reader.counts()
    print(
        f"N={n:>9,}: built in {built:6.1f} s, published in {published_in:6.1f} s ({published / 2**20:,.0f} MiB of"
        f" pieces); one run of "
        f"{run_size:,} snapshots wrote {written / 2**10:,.0f} KiB to catalog/, a reader in step downloaded "
        f"{downloaded / 2**10:,.0f} KiB"
    )
    return {"written": written, "downloaded": downloaded}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", type=int, nargs="+", default=[100_000, 300_000])
    parser.add_argument("--run-size", type=int, default=2000)
    args = parser.parse_args()
    results = []
    for n in args.n:
        with tempfile.TemporaryDirectory() as tmp:
            results.append(measure(n, args.run_size, Path(tmp)))
    ok = True
    for what in ("written", "downloaded"):
        ratio = results[-1][what] / results[0][what]
        good = abs(ratio - 1) <= TOLERANCE
        ok &= good
        print(f"{what} per run at N={args.n[-1]:,} / at N={args.n[0]:,}: {ratio:.3f} -> {'OK' if good else 'MISSED'}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
