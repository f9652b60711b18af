"""End-to-end throughput of the archive pipeline against its extraction ceiling.

Generates a synthetic site of N articles (default 2,000; realistic 50-90 KB portal pages), serves it on
127.0.0.1 without politeness delays, and archives it into an embedded SeaweedFS over HTTP. Prints, in one run:

* end-to-end articles/s of the first run (fetch, WARC, clean, S3), wall clock of the runner process;
* the ceiling: the extraction step alone on the same pages, one process per core, and the ratio of the two
  (target >= 0.75). The step is what the workers run per page, ``examine_payload``: trafilatura with metadata,
  our line rules and the whole-page scan for rights notices and robots/TDM meta. Plain
  ``trafilatura.extract`` is shown for context;
* the second, unchanged run's wall time as a fraction of the first (target <= 0.05);
* S3 write requests per new article (target <= 2), counted by the store itself;
* peak RSS of the runner's process tree (runner plus extraction workers), sampled from /proc;
* CPU per article of the first run by component (runner, extraction workers, SeaweedFS, the site server);
* the floor: fixed costs any pipeline on this stack pays on this machine, measured apart from the pipeline.
  A bare Scrapy crawl of the same pages (``bench/bare_fetch.py``: the runner's Scrapy settings and reactor,
  none of our middlewares or pipelines, a callback that does nothing), CPU per page; SeaweedFS CPU per write
  request of the first run; the boto3 client CPU of one ~10 KB JSON PUT through our store (500 PUTs, timed
  in this process). From these: fixed costs per article (fetch + site server + S3 server and client per PUT
  x PUTs per article), the best ratio possible here, ``E / (E + fixed)`` with E the extraction step's CPU per
  page, and the pipeline's own overhead (runner - bare fetch - boto3 client PUTs + workers - E, per article).

Usage: ``python bench/throughput.py [-n 2000] [--workers 0] [--keep DIR]``. Exits 1 if a target is missed.
Run it on a quiet machine: the ratios compare CPU-bound phases.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any, NamedTuple, cast

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from feedvault.cleaning import CleanOptions  # noqa: E402
from feedvault.config import StorageSettings  # noqa: E402
from feedvault.demo.server import SiteServer  # noqa: E402
from feedvault.demo.synth import generate_site  # noqa: E402
from feedvault.permission.signals import examine_payload  # noqa: E402
from feedvault.store.backends import Store, open_store  # noqa: E402
from feedvault.store.seaweed import EmbeddedS3  # noqa: E402

if TYPE_CHECKING:
    from feedvault.crawl.context import CrawlConfig

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def _process_tree(root: int) -> dict[int, tuple[int, float]]:
    """``{pid: (rss KiB, cpu seconds)}`` for ``root`` and its descendants, read from /proc."""
    info: dict[int, tuple[int, int, float]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        # fields[1] = ppid, [11]/[12] = utime/stime in ticks, [21] = rss in pages
        cpu = (int(fields[11]) + int(fields[12])) / CLOCK_TICKS
        info[int(entry)] = (int(fields[1]), int(fields[21]) * os.sysconf("SC_PAGE_SIZE") // 1024, cpu)
    tree, stack = {}, [root]
    while stack:
        pid = stack.pop()
        if pid in info:
            tree[pid] = info[pid][1:]
            stack.extend(child for child, (parent, _r, _c) in info.items() if parent == pid)
    return tree


def cpu_seconds(pid: int) -> float:
    return sum(cpu for _rss, cpu in _process_tree(pid).values())


class Watched(NamedTuple):
    pid: int
    stdout: str
    stderr: str
    returncode: int
    wall: float  # seconds, start-up included
    peak_rss: int  # KiB, the whole process tree
    cpu: dict[int, float]  # last CPU seconds seen per pid of the tree
    sampler_cpu: float  # CPU seconds the /proc sampling cost this (the bench) process


def run_watched(cmd: list[str], env: dict[str, str] | None = None) -> Watched:
    """Run ``cmd`` to completion, sampling its process tree from /proc every 0.1 s."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    peak, sampler_cpu = 0, 0.0
    last_cpu: dict[int, float] = {}
    done = threading.Event()

    def sample() -> None:
        nonlocal peak, sampler_cpu
        while not done.is_set():
            tree = _process_tree(proc.pid)
            peak = max(peak, sum(rss for rss, _cpu in tree.values()))
            last_cpu.update({pid: cpu for pid, (_rss, cpu) in tree.items()})
            sampler_cpu = time.thread_time()
            done.wait(0.1)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    stdout, stderr = proc.communicate()
    wall = time.perf_counter() - start
    done.set()
    sampler.join()
    return Watched(proc.pid, stdout, stderr, proc.returncode, wall, peak, last_cpu, sampler_cpu)


def run_runner(registry: Path, env: dict[str, str], run_id: str) -> tuple[dict, Watched, dict[str, float]]:
    """Run the pipeline in a fresh process.

    Returns (summary, the watched run, CPU seconds of the runner process and of its descendants, i.e. the
    extraction workers).
    """
    cmd = [sys.executable, "-m", "feedvault.crawl.runner", "--registry", str(registry), "--run-id", run_id]
    run = run_watched([*cmd, "--log-level", "WARNING"], env)
    lines = [line for line in run.stdout.splitlines() if line.startswith("{")]
    if run.returncode != 0 or not lines:
        sys.exit(f"runner failed (exit {run.returncode}):\n{run.stderr[-4000:]}")
    runner = run.cpu.get(run.pid, 0.0)
    cpu = {"runner": runner, "workers": sum(run.cpu.values()) - runner}
    return json.loads(lines[-1]), run, cpu


def bare_fetch_settings(registry: Path) -> dict[str, Any]:
    """The runner's Scrapy settings for the bench feed without our middlewares and item pipeline.

    Scrapy's own middlewares that the runner switches off (robots.txt, retry) stay off.
    """
    from feedvault.config import load_registry
    from feedvault.crawl.runner import scrapy_settings

    parsed = load_registry(registry)
    polite = parsed.feeds[0].effective_politeness(parsed.settings.politeness)
    crawl = SimpleNamespace(politeness=polite, settings=parsed.settings)  # all scrapy_settings reads
    settings = scrapy_settings(cast("CrawlConfig", crawl), "WARNING")
    settings["DOWNLOADER_MIDDLEWARES"] = {k: v for k, v in settings["DOWNLOADER_MIDDLEWARES"].items() if v is None}
    settings["ITEM_PIPELINES"] = {}
    return settings


def run_bare_fetch(urls: list[str], settings: dict[str, Any], work: Path) -> tuple[dict, Watched]:
    """Fetch ``urls`` with ``bench/bare_fetch.py`` in a fresh process; (its JSON report, the watched run)."""
    job = work / "bare-fetch.json"
    job.write_text(json.dumps({"urls": urls, "settings": settings}))
    run = run_watched([sys.executable, str(REPO / "bench" / "bare_fetch.py"), str(job)])
    lines = [line for line in run.stdout.splitlines() if line.startswith("{")]
    if run.returncode != 0 or not lines:
        sys.exit(f"bare fetch failed (exit {run.returncode}):\n{run.stderr[-4000:]}")
    return json.loads(lines[-1]), run


PUT_WARM_UP, PUT_COUNT = 5, 500


def put_floor(store: Store, n: int = PUT_COUNT) -> float:
    """CPU seconds of this process per ``put_bytes`` of a ~10 KB JSON record (client side: boto3, our store)."""
    record = json.dumps({"url": "http://127.0.0.1/a", "text": "Lorem ipsum dolor sit amet. " * 360}).encode()
    for i in range(PUT_WARM_UP):  # warm the client (connection, credentials, endpoint resolution)
        store.put_bytes(f"bench-floor/warm-{i}.json", record, "application/json")
    start = time.process_time()
    for i in range(n):
        store.put_bytes(f"bench-floor/{i:04d}.json", record, "application/json")
    return (time.process_time() - start) / n


def _plain_trafilatura(args: tuple[bytes, str]) -> int:
    import trafilatura

    return len(trafilatura.extract(args[0], url=args[1], favor_precision=True, include_comments=False) or "")


def _pipeline_extraction(args: tuple[bytes, str]) -> int:
    return len((examine_payload(args[0], args[1], "utf-8", CleanOptions())["cleaned"] or {}).get("text", ""))


def ceiling(pages: list[tuple[bytes, str]], workers: int, fn) -> float:
    """Pages per second of ``fn`` alone over ``pages``, one process per core (pool start-up excluded)."""
    with ProcessPoolExecutor(max_workers=workers) as pool:
        list(pool.map(fn, pages[: workers * 2]))  # warm the workers (imports)
        start = time.perf_counter()
        list(pool.map(fn, pages, chunksize=8))
        return len(pages) / (time.perf_counter() - start)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("-n", "--articles", type=int, default=2000)
    parser.add_argument("--workers", type=int, default=0, help="extraction processes (0 = one per core)")
    parser.add_argument("--keep", type=Path, help="keep the generated site and S3 data here")
    args = parser.parse_args()
    workers = args.workers or os.cpu_count() or 1
    work = args.keep or Path(tempfile.mkdtemp(prefix="feedvault-bench-"))
    work.mkdir(parents=True, exist_ok=True)

    now = dt.datetime.now(dt.UTC)
    t0 = time.perf_counter()
    site = generate_site(work / "gen", n_articles=args.articles, seed=0, published=now - dt.timedelta(days=2))
    print(f"generated {site.n_articles} pages ({site.total_bytes / 1e6:.0f} MB) in {time.perf_counter() - t0:.1f}s")

    with SiteServer(site.root) as server, EmbeddedS3(work / "s3") as s3:
        registry = yaml.safe_load(site.registry.read_text())
        registry["settings"].update(
            extract_workers=workers,
            entry_window_days=30,
            revisit_days=1,  # bench articles are 2-4 days old: the second run has nothing due
            max_new_entries_per_run=max(args.articles, 1000),  # the whole site in one run (the default cap is 1000)
            storage=StorageSettings(uri="s3://bench/archive", endpoint_url=s3.endpoint_url).model_dump(mode="json"),
        )
        for feed in registry["feeds"]:
            feed["urls"] = [
                u.replace("${FEEDVAULT_BENCH_URL:-http://127.0.0.1:8766}", server.base_url) for u in feed["urls"]
            ]
        registry_path = work / "bench-feeds.yaml"
        registry_path.write_text(yaml.safe_dump(registry, sort_keys=False))
        env = {**os.environ, **s3.env(), "FEEDVAULT_BENCH_URL": server.base_url, "PYTHONPATH": str(REPO)}
        store = open_store(StorageSettings(uri="s3://bench/archive", endpoint_url=s3.endpoint_url), s3.credentials)
        store.ensure_bucket()

        s3_cpu, bench_cpu = cpu_seconds(s3.pid), time.process_time()
        first, first_run, first_cpu = run_runner(registry_path, env, now.strftime("%Y%m%dT%H%M%SZ") + "-bench1")
        first_wall, first_rss = first_run.wall, first_run.peak_rss
        first_cpu["S3 server (SeaweedFS)"] = s3_server = cpu_seconds(s3.pid) - s3_cpu
        first_cpu["site server (bench process)"] = site_cpu = time.process_time() - bench_cpu - first_run.sampler_cpu
        second, second_run, _ = run_runner(
            registry_path, env, (now + dt.timedelta(seconds=1)).strftime("%Y%m%dT%H%M%SZ") + "-bench2"
        )
        second_wall = second_run.wall

        # Floor: what any pipeline on this stack pays here. Bare Scrapy fetching the same article pages ...
        bench_cpu = time.process_time()
        bare, bare_run = run_bare_fetch(
            [server.url(p) for p in site.article_paths], bare_fetch_settings(registry_path), work
        )
        bare_site_cpu = time.process_time() - bench_cpu - bare_run.sampler_cpu
        # ... and one small S3 PUT, client side (the site server is idle now) and server side.
        s3_cpu = cpu_seconds(s3.pid)
        put_client = put_floor(store)
        put_server_alone = (cpu_seconds(s3.pid) - s3_cpu) / (PUT_WARM_UP + PUT_COUNT)

        pages = [
            ((site.root / p.lstrip("/")).read_bytes().replace(b"{{BASE_URL}}", server.base_url.encode()), server.url(p))
            for p in site.article_paths
        ]

    new = first["totals"]["new"]
    if new != args.articles:
        print(f"warning: {new} of {args.articles} articles archived: {first['totals']}")
    e2e = new / first_wall
    ceiling_pipeline = ceiling(pages, workers, _pipeline_extraction)
    ceiling_plain = ceiling(pages, workers, _plain_trafilatura)
    writes_per_article = first["storage_requests"]["write_requests"] / max(new, 1)
    ratio = e2e / ceiling_pipeline
    fraction = second_wall / first_wall

    def ms(seconds: float, per: int = max(new, 1)) -> float:
        return seconds / per * 1000

    writes = first["storage_requests"]["write_requests"]
    extraction = ms(workers / ceiling_pipeline, 1)  # E: CPU ms of the extraction step per page
    bare_cpu = sum(bare_run.cpu.values())
    bare_fetch = ms(bare_cpu, max(bare["responses"], 1))
    put_server = ms(s3_server, max(writes, 1))
    fixed = bare_fetch + ms(site_cpu) + (put_server + ms(put_client, 1)) * writes_per_article
    best = extraction / (extraction + fixed)
    # The runner's CPU includes the boto3 client side of each PUT, already counted in the fixed costs.
    client_puts = ms(put_client, 1) * writes_per_article
    overhead = ms(first_cpu["runner"]) - bare_fetch - client_puts + ms(first_cpu["workers"]) - extraction

    rows = [
        ("end-to-end (first run)", f"{e2e:.1f} articles/s", f"{new} new in {first_wall:.1f}s"),
        ("ceiling: extraction step alone", f"{ceiling_pipeline:.1f} pages/s", f"{workers} processes, examine_payload"),
        ("context: plain trafilatura.extract", f"{ceiling_plain:.1f} pages/s", f"{workers} processes"),
        ("ratio end-to-end / ceiling", f"{ratio:.2f}", "target >= 0.75 " + ("PASS" if ratio >= 0.75 else "FAIL")),
        (
            "second run / first run (wall)",
            f"{fraction:.3f}",
            f"{second_wall:.2f}s; target <= 0.05 " + ("PASS" if fraction <= 0.05 else "FAIL"),
        ),
        (
            "second run: new / changed / unchanged",
            "{new} / {changed} / {unchanged}".format(**second["totals"]),
            f"{second['storage_requests']['write_requests']} S3 writes",
        ),
        (
            "S3 write requests per new article",
            f"{writes_per_article:.2f}",
            "target <= 2 " + ("PASS" if writes_per_article <= 2 else "FAIL"),
        ),
        ("peak RSS (runner + workers)", f"{first_rss / 1024:.0f} MiB", ""),
    ]
    rows.append(("CPU per article, first run (2 cores)", f"{2 * first_wall / max(new, 1) * 1000:.1f} ms avail.", ""))
    for name, seconds in first_cpu.items():
        rows.append((f"  {name}", f"{seconds / max(new, 1) * 1000:.2f} ms", f"{seconds:.1f} s"))
    rows.append(("  extraction alone would need", f"{workers / ceiling_pipeline * 1000:.2f} ms", "(ceiling)"))
    rows += [
        ("floor: fixed costs on this box", "", "measured apart from the pipeline, per page / PUT"),
        (
            "  bare Scrapy fetch, CPU per page",
            f"{bare_fetch:.2f} ms",
            f"{bare['responses']} pages in {bare_run.wall:.1f}s, {bare_cpu:.1f} s CPU incl. start-up "
            f"({ms(bare['cpu_end'] - bare['cpu_start'], max(bare['responses'], 1)):.2f} ms crawl only); "
            f"site server {ms(bare_site_cpu, max(bare['responses'], 1)):.2f} ms",
        ),
        (
            "  S3 server CPU per write request",
            f"{put_server:.2f} ms",
            f"first run's SeaweedFS CPU / {writes} writes; {put_server_alone * 1000:.2f} ms per 10 KB PUT alone",
        ),
        ("  boto3 client CPU per 10 KB PUT", f"{ms(put_client, 1):.2f} ms", f"S3Store.put_bytes, {PUT_COUNT} PUTs"),
        (
            "fixed costs per article",
            f"{fixed:.2f} ms",
            f"fetch + site server + (S3 server + client) x {writes_per_article:.2f} PUTs",
        ),
        ("best possible ratio here", f"{best:.2f}", f"E / (E + fixed), E = {extraction:.2f} ms extraction"),
        (
            "pipeline's own overhead",
            f"{overhead:.2f} ms",
            "runner - bare fetch - boto3 client PUTs + workers - E, per article",
        ),
    ]
    width = max(len(r[0]) for r in rows)
    print()
    for name, value, note in rows:
        print(f"{name:<{width}}  {value:>18}  {note}")
    return 0 if ratio >= 0.75 and fraction <= 0.05 and writes_per_article <= 2 else 1


if __name__ == "__main__":
    raise SystemExit(main())
