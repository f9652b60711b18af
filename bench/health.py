"""Feed health costs O(new runs), not O(archive): adding one run costs the same after 14 or 365 nights.

Builds the health of 1,000 feeds over 365 nightly runs (synthetic run manifests: counts, cleaning yield, permission
facts, robots verdicts; some feeds fail, go quiet or change layout on the way), then measures what one more run
costs at several history lengths, the way ``finalize_run`` pays it: read ``health/feeds.json`` from an archive
(a local folder store here), apply the run, write it back (CPU time of this process, median of 5). Prints the
cost per history length and the ratio of the longest to the shortest (1.0 = independent of history).

    .venv/bin/python bench/health.py [--feeds 1000] [--runs 365]
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from feedvault.config import HealthSettings
from feedvault.keys import RunId
from feedvault.monitoring.health import HealthBook, record_run
from feedvault.store.backends import FileStore

START = dt.datetime(2025, 1, 1, 2, tzinfo=dt.UTC)
CHECKPOINTS = (14, 30, 90, 180, 365)


def feed_summary(rng: random.Random, feed: str, night: int) -> dict[str, Any]:
    failing = rng.random() < 0.02
    new = 0 if failing else max(0, int(rng.gauss(12, 4)))
    short = rng.randint(0, 1) if night % 97 else new  # now and then a "redesign": every text short
    return {
        "feed": feed,
        "status": "failed" if failing else "ok",
        "error": "no feed document could be read: HTTP 500" if failing else None,
        "counts": {"new": new, "changed": rng.randint(0, 3), "unchanged": 40, "refused": 0, "failed": 0, "skipped": 2},
        "bytes_written": new * 60_000,
        "seconds": round(rng.uniform(5, 60), 3),
        "warnings": [],
        "health_figures": {
            "cleaning_yield": {
                "articles": new,
                "short": min(short, new),
                "short_below_chars": 200,
                "short_share": round(min(short, new) / new, 4) if new else None,
                "median_text_chars": rng.randint(1500, 4000) if new else None,
                "lines_removed": new * 3,
                "removed_share": round(rng.uniform(0.05, 0.15), 4) if new else None,
            },
            "failed_reasons": {},
            "judged_pages": new,
            "permission_facts": [
                {
                    "signal": "copyright-notice",
                    "source": "notice",
                    "where": "page text",
                    "value": "© Publisher",
                    "pages": new,
                }
            ]
            if new
            else [],
            "robots": {f"https://{feed}.example/robots.txt": "rules"},
            "permission_expires_on": "2027-06-30",
        },
    }


def run_manifest(rng: random.Random, feeds: list[str], night: int) -> dict[str, Any]:
    run_id = RunId.new(at=START + dt.timedelta(days=night), label="bench").value
    return {"run_id": run_id, "feeds": [feed_summary(rng, f, night) for f in feeds]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--feeds", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=365)
    parser.add_argument("--repeat", type=int, default=5, help="timed additions per checkpoint (median reported)")
    args = parser.parse_args()
    rng = random.Random(16)
    feeds = [f"feed-{i:04d}" for i in range(args.feeds)]
    settings = HealthSettings()
    book = HealthBook()
    results: list[tuple[int, float, int]] = []
    with tempfile.TemporaryDirectory(prefix="feedvault-bench-health-") as tmp:
        store = FileStore(Path(tmp) / "archive")
        built = time.perf_counter()
        night = 0
        for checkpoint in (c for c in CHECKPOINTS if c <= args.runs):
            while night < checkpoint:  # history, untimed (applied in memory)
                book.apply(run_manifest(rng, feeds, night), settings)
                night += 1
            store.put_bytes("health/feeds.json", book.to_json())
            timings = []
            for _ in range(args.repeat):  # one more run each, as finalize_run adds it: GET, apply, PUT
                manifest = run_manifest(rng, feeds, night)
                started = time.process_time()  # CPU time: this box is shared, wall time would measure the others
                record_run(store, settings, manifest)
                timings.append(time.process_time() - started)
                book = HealthBook.load(store)
                night += 1
            size = len(store.get_bytes("health/feeds.json"))
            results.append((checkpoint, statistics.median(timings), size))
            print(
                f"history {checkpoint:4d} runs x {args.feeds} feeds: adding one run {statistics.median(timings) * 1000:8.1f} ms CPU"
                f"   health/feeds.json {size / 1e6:6.2f} MB",
                flush=True,
            )
        print(f"(built {night} runs of history in {time.perf_counter() - built:.0f} s)")
    first, last = results[0], results[-1]
    full = next((r for r in results if r[0] >= 90), first)  # every bounded window is full by then
    print(
        f"cost of adding one run at {last[0]} runs of history / at {full[0]} runs: {last[1] / full[1]:.2f} "
        f"(object size {last[2] / full[2]:.2f}); / at {first[0]} runs: {last[1] / first[1]:.2f} "
        f"(object size {last[2] / first[2]:.2f}). Target: independent of history, about 1.0 once the per-feed "
        "windows (15 runs, 30 new-article dates, 60 days of signals) are full"
    )


if __name__ == "__main__":
    main()
