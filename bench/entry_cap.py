"""Bounded work per run: peak memory of a crawl whose feed grows from 2,000 to 10,000 entries under the entry cap.

Serves a synthetic site on 127.0.0.1 whose RSS feed lists N entries (the first ``--cap`` are real portal pages,
the rest are never fetched: they are over the cap) and archives it into a fresh ``file://`` archive, once per N.
Prints, per N: entries with an outcome, how many were archived and skipped over the cap, and the peak RSS of the
runner's process tree (runner plus extraction workers, sampled from /proc); then the ratio of the two peaks
(target <= 1.25: memory stays flat as entries grow, because only capped work is scheduled).

Usage: ``python bench/entry_cap.py [--cap 100] [--sizes 2000 10000]``. Exits 1 if the target is missed.
"""

from __future__ import annotations

import argparse
import datetime as dt
import email.utils
import json
import os
import sys
import tempfile
from pathlib import Path
from xml.sax.saxutils import escape

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from throughput import run_runner  # noqa: E402

from feedvault.config import StorageSettings  # noqa: E402
from feedvault.demo.server import SiteServer  # noqa: E402
from feedvault.demo.synth import generate_site  # noqa: E402

TARGET_RATIO = 1.25


def write_feed(path: Path, articles: tuple[str, ...], entries: int, published: dt.datetime) -> None:
    """An RSS 2.0 feed of ``entries`` items: the site's articles first, then links that are never fetched."""
    date = email.utils.format_datetime(published)
    items = []
    for i in range(entries):
        link = f"{{{{BASE_URL}}}}{articles[i]}" if i < len(articles) else f"{{{{BASE_URL}}}}/later/{i:06d}.html"
        items.append(
            f"<item><title>Entry {i}</title><link>{escape(link)}</link><guid>{escape(link)}</guid>"
            f"<pubDate>{date}</pubDate><description>Synthetic entry {i}.</description></item>"
        )
    path.write_text(
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>Bench</title>'
        f"<link>{{{{BASE_URL}}}}/</link><description>bench</description>{''.join(items)}</channel></rss>",
        encoding="utf-8",
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cap", type=int, default=100, help="max_new_entries_per_run (also the real articles)")
    parser.add_argument("--sizes", type=int, nargs="+", default=[2000, 10000], help="feed lengths to compare")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="feedvault-bench-cap-"))
    now = dt.datetime.now(dt.UTC)
    site = generate_site(work / "gen", n_articles=args.cap, seed=0, published=now - dt.timedelta(days=1))
    base = yaml.safe_load(site.registry.read_text())
    for size in args.sizes:
        write_feed(site.root / f"feed-{size}.xml", site.article_paths, size, now - dt.timedelta(days=1))

    peaks: dict[int, int] = {}
    with SiteServer(site.root) as server:
        for size in args.sizes:
            feed = {**base["feeds"][0], "id": "bench", "urls": [server.url(f"/feed-{size}.xml")], "kind": "rss"}
            storage = StorageSettings(uri=(work / f"archive-{size}").as_uri(), data_dir=str(work / f"data-{size}"))
            registry = {
                "settings": {
                    **base["settings"],
                    "entry_window_days": 30,
                    "max_new_entries_per_run": args.cap,
                    "storage": storage.model_dump(mode="json"),
                },
                "feeds": [feed],
            }
            path = work / f"feeds-{size}.yaml"
            path.write_text(yaml.safe_dump(registry, sort_keys=False))
            env = {**os.environ, "PYTHONPATH": str(REPO), "FEEDVAULT_LOOPBACK_ONLY": "1"}
            summary, run, _cpu = run_runner(path, env, now.strftime("%Y%m%dT%H%M%SZ") + f"-cap{size}")
            manifest = json.loads((work / f"archive-{size}" / summary["feeds"][0]["manifest_key"]).read_bytes())
            skipped = sum(1 for o in manifest["urls"] if o.get("reason") == "entry-cap")
            peaks[size] = run.peak_rss
            print(
                f"{size:>6} entries: {len(manifest['urls'])} with an outcome, {summary['totals']['new']} archived, "
                f"{skipped} skipped (entry-cap); peak RSS {run.peak_rss / 1024:.0f} MiB, {run.wall:.1f} s"
            )
    small, large = min(args.sizes), max(args.sizes)
    ratio = peaks[large] / peaks[small]
    print(
        f"peak RSS {large} vs {small} entries: ratio {ratio:.2f} (target <= {TARGET_RATIO}: "
        f"{'met' if ratio <= TARGET_RATIO else 'NOT met'})"
    )
    return 0 if ratio <= TARGET_RATIO else 1


if __name__ == "__main__":
    raise SystemExit(main())
