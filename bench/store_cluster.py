"""What one archived article costs a replicated object store: the crawl into a SeaweedFS cluster.

Generates a synthetic site of N articles (default 500; the same 50-90 KB portal pages as ``bench/throughput.py``),
serves it on 127.0.0.1 without politeness delays, and archives it through the S3 gateway of a
:class:`~feedvault.store.seaweed_cluster.SeaweedCluster` (master, two volume servers, filer, S3 gateway, every
object on both volume servers). Prints, per new article:

* S3 requests by operation and bytes sent, as the crawler's store counted them (the run summary);
* bytes on the volume servers' disks (both copies) and in the filer's metadata store, measured with ``du``;
* CPU of each SeaweedFS server, and of the crawler (runner + extraction workers);
* end-to-end articles/s (everything on this machine: site, crawler, five SeaweedFS servers).

These are the figures docs/SCALING.md sizes store nodes from. Sizes and counts are what matter here;
times depend on what else the machine runs.

Usage: ``python bench/store_cluster.py [-n 500] [--keep DIR]``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from throughput import cpu_seconds, run_runner  # noqa: E402

from feedvault.config import StorageSettings  # noqa: E402
from feedvault.demo.server import SiteServer  # noqa: E402
from feedvault.demo.synth import generate_site  # noqa: E402
from feedvault.store.backends import open_store  # noqa: E402
from feedvault.store.seaweed_cluster import SeaweedCluster  # noqa: E402


def disk_bytes(path: Path) -> int:
    """Bytes allocated under ``path`` (what ``du`` counts)."""
    return sum(p.stat().st_blocks * 512 for p in path.rglob("*") if p.is_file())


def registry_for(site_registry: Path, base_url: str, storage: StorageSettings, articles: int) -> dict:
    registry = yaml.safe_load(site_registry.read_text())
    registry["settings"].update(
        entry_window_days=30,
        max_new_entries_per_run=max(articles, 1000),
        storage=storage.model_dump(mode="json"),
    )
    for feed in registry["feeds"]:
        feed["urls"] = [u.replace("${FEEDVAULT_BENCH_URL:-http://127.0.0.1:8766}", base_url) for u in feed["urls"]]
    return registry


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("-n", "--articles", type=int, default=500)
    parser.add_argument("--keep", type=Path, help="keep the generated site and the cluster's data here")
    args = parser.parse_args()
    work = args.keep or Path(tempfile.mkdtemp(prefix="feedvault-bench-cluster-"))
    now = dt.datetime.now(dt.UTC)
    site = generate_site(work / "gen", n_articles=args.articles, seed=0, published=now - dt.timedelta(days=2))
    html = site.total_bytes / site.n_articles

    with SiteServer(site.root) as server, SeaweedCluster(work / "cluster") as cluster:
        storage = StorageSettings(uri="s3://bench/archive", endpoint_url=cluster.endpoint_url)
        open_store(storage, cluster.credentials).ensure_bucket()
        registry_path = work / "bench-feeds.yaml"
        registry_path.write_text(yaml.safe_dump(registry_for(site.registry, server.base_url, storage, args.articles)))
        env = {**os.environ, **cluster.env(), "FEEDVAULT_BENCH_URL": server.base_url, "PYTHONPATH": str(REPO)}
        dirs = {name: work / "cluster" / name for name in ("volume-1", "volume-2", "filer")}
        disk_before = {name: disk_bytes(path) for name, path in dirs.items()}
        cpu_before = {name: cpu_seconds(pid) for name, pid in cluster.pids().items()}
        started = time.perf_counter()
        summary, _run, crawler_cpu = run_runner(registry_path, env, now.strftime("%Y%m%dT%H%M%SZ") + "-cluster")
        wall = time.perf_counter() - started
        time.sleep(2)  # let the filer flush its metadata log before measuring the disks
        cpu = {name: cpu_seconds(pid) - cpu_before[name] for name, pid in cluster.pids().items()}
        disk = {name: disk_bytes(path) - disk_before[name] for name, path in dirs.items()}

    new = max(summary["totals"]["new"], 1)
    requests = summary["storage_requests"]
    rows = [
        (
            "articles archived",
            f"{summary['totals']['new']}",
            f"in {wall:.1f} s: {new / wall:.1f} articles/s end to end",
        ),
        ("HTML served per article", f"{html / 1024:.1f} KiB", "synthetic portal pages"),
        ("S3 write requests per article", f"{requests['write_requests'] / new:.3f}", ""),
        ("S3 read requests per article", f"{requests['read_requests'] / new:.3f}", ""),
    ]
    rows += [
        (f"  {op}", f"{count / new:.3f}", f"{count} in all") for op, count in sorted(requests["by_operation"].items())
    ]
    rows += [
        (
            "S3 bytes written per article",
            f"{requests['bytes_written'] / new / 1024:.1f} KiB",
            "WARC + clean + manifests",
        ),
        ("volume disks per article", f"{(disk['volume-1'] + disk['volume-2']) / new / 1024:.1f} KiB", "both copies"),
        ("filer metadata per article", f"{disk['filer'] / new / 1024:.2f} KiB", "leveldb"),
        ("crawler CPU per article", f"{sum(crawler_cpu.values()) / new * 1000:.1f} ms", "runner + extraction workers"),
    ]
    rows += [(f"  {name} CPU per article", f"{seconds / new * 1000:.2f} ms", "") for name, seconds in cpu.items()]
    width = max(len(r[0]) for r in rows)
    for name, value, note in rows:
        print(f"{name:<{width}}  {value:>14}  {note}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
