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
* peak RSS of the runner's process tree (runner plus extraction workers), sampled from /proc.

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

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from feedvault.cleaning import CleanOptions  # noqa: E402
from feedvault.config import StorageSettings  # noqa: E402
from feedvault.demo.server import SiteServer  # noqa: E402
from feedvault.demo.synth import generate_site  # noqa: E402
from feedvault.seaweed import EmbeddedS3  # noqa: E402
from feedvault.signals import examine_payload  # noqa: E402

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


def run_runner(registry: Path, env: dict[str, str], run_id: str) -> tuple[dict, float, int, dict[str, float]]:
    """Run the pipeline in a fresh process.

    Returns (summary, wall seconds, peak tree RSS in KiB, CPU seconds of the runner process and of its
    descendants, i.e. the extraction workers).
    """
    start = time.perf_counter()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "feedvault.runner",
            "--registry",
            str(registry),
            "--run-id",
            run_id,
            "--log-level",
            "WARNING",
        ],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    peak = 0
    last_cpu: dict[int, float] = {}
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            tree = _process_tree(proc.pid)
            peak = max(peak, sum(rss for rss, _cpu in tree.values()))
            last_cpu.update({pid: cpu for pid, (_rss, cpu) in tree.items()})
            done.wait(0.1)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    stdout, stderr = proc.communicate()
    wall = time.perf_counter() - start
    done.set()
    sampler.join()
    lines = [line for line in stdout.splitlines() if line.startswith("{")]
    if proc.returncode != 0 or not lines:
        sys.exit(f"runner failed (exit {proc.returncode}):\n{stderr[-4000:]}")
    cpu = {"runner": last_cpu.pop(proc.pid, 0.0), "workers": sum(last_cpu.values())}
    return json.loads(lines[-1]), wall, peak, cpu


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
            storage=StorageSettings(uri="s3://bench/archive", endpoint_url=s3.endpoint_url).model_dump(mode="json"),
        )
        for feed in registry["feeds"]:
            feed["urls"] = [
                u.replace("${FEEDVAULT_BENCH_URL:-http://127.0.0.1:8766}", server.base_url) for u in feed["urls"]
            ]
        registry_path = work / "bench-feeds.yaml"
        registry_path.write_text(yaml.safe_dump(registry, sort_keys=False))
        env = {**os.environ, **s3.env(), "FEEDVAULT_BENCH_URL": server.base_url, "PYTHONPATH": str(REPO)}
        from feedvault.storage import open_store

        open_store(
            StorageSettings(uri="s3://bench/archive", endpoint_url=s3.endpoint_url), s3.credentials
        ).ensure_bucket()

        s3_cpu, bench_cpu = cpu_seconds(s3.pid), time.process_time()
        first, first_wall, first_rss, first_cpu = run_runner(
            registry_path, env, now.strftime("%Y%m%dT%H%M%SZ") + "-bench1"
        )
        first_cpu["S3 server (SeaweedFS)"] = cpu_seconds(s3.pid) - s3_cpu
        first_cpu["site server (bench process)"] = time.process_time() - bench_cpu
        second, second_wall, _, _ = run_runner(
            registry_path, env, (now + dt.timedelta(seconds=1)).strftime("%Y%m%dT%H%M%SZ") + "-bench2"
        )

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
    width = max(len(r[0]) for r in rows)
    print()
    for name, value, note in rows:
        print(f"{name:<{width}}  {value:>18}  {note}")
    return 0 if ratio >= 0.75 and fraction <= 0.05 and writes_per_article <= 2 else 1


if __name__ == "__main__":
    raise SystemExit(main())
