"""What indexing one run costs the SQLite catalog: ``write_run`` of 2,000 snapshots of real article text.

The fixed cost every crawl pays at its end (``Catalog.write_run`` in the finalize step, issue 11): clean records
made from the shared benchmark's real articles (``../shared/eval/extraction/ground-truth.json``: their text, title
and URL, read from there, never copied; cycled, each URL made unique), turned into rows (``snapshot_row``) and
written as one run into a catalog that already holds ``--prefill`` snapshots of the same kind. Prints the
milliseconds per snapshot (median of ``--repeat`` runs, each a new run id) and the CPU seconds of the process
per snapshot. Compare before and after a change by running it on both checkouts, interleaved.
Usage: ``python bench/catalog_write_run.py [--data DIR] [--snapshots 2000] [--prefill 20000] [--repeat 5]``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from feedvault import keys  # noqa: E402
from feedvault.catalog import Catalog  # noqa: E402
from feedvault.catalog.index import snapshot_row  # noqa: E402
from feedvault.catalog.interface import FeedRunRow, RunRow  # noqa: E402
from feedvault.permission.usage import usage_field  # noqa: E402

DEFAULT_DATA = REPO.parent / "shared" / "eval" / "extraction"
START = dt.datetime(2026, 1, 1, 2, 0, tzinfo=dt.UTC)


def articles(data: Path) -> list[dict[str, str]]:
    truth = json.loads((data / "ground-truth.json").read_text(encoding="utf-8"))
    return [
        {"url": page["url"], "text": page["articleBody"], "title": page["articleBody"][:60].rsplit(" ", 1)[0]}
        for page in truth.values()
        if page.get("articleBody") and page.get("url")
    ]


def records(pages: list[dict[str, str]], run: keys.RunId, count: int, serial: int) -> Iterator[tuple[str, dict]]:
    """``count`` clean records of one run, as the pipeline writes them (the pages cycled, URLs made unique)."""
    usage = usage_field([], [], None)
    for i in range(count):
        page = pages[i % len(pages)]
        base, _, query = page["url"].partition("?")
        url = f"{base.rstrip('/')}-{serial}-{i}" + (f"?{query}" if query else "")
        record: dict[str, Any] = {
            "url": url,
            "feed": "bench",
            "run_id": run.value,
            "fetched_at": run.started.isoformat(),
            "entry": {"link": url, "title": page["title"], "published": run.started.isoformat()},
            "text": page["text"],
            "metadata": {"title": page["title"], "language": "en", "word_count": len(page["text"].split())},
            "removed": [],
            "permission": {"decision": "archive", "basis": "own-content"},
            "usage": usage,
            "raw": {"sha256": f"{serial:032x}{i:032x}", "warc_key": None},
        }
        yield keys.clean_key("bench", run, url), record


def write_run(catalog: Catalog, pages: list[dict[str, str]], day: int, count: int) -> int:
    run = keys.RunId.new(START + dt.timedelta(days=day), label="bench")
    row = RunRow(run.value, run.started.date().isoformat(), None, None, None, "ok", "bench", "{}", '["bench"]', 0, "")
    feeds = [FeedRunRow("bench", run.value, "ok", None, "{}", None, None)]
    rows = (snapshot_row(key, record) for key, record in records(pages, run, count, day))
    return catalog.write_run(row, feeds, rows)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="benchmark directory (ground-truth.json)")
    parser.add_argument("--snapshots", type=int, default=2000)
    parser.add_argument("--prefill", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    if not (args.data / "ground-truth.json").exists():
        print(f"no benchmark at {args.data} (ground-truth.json); pass --data DIR", file=sys.stderr)
        return 2
    pages = articles(args.data)
    with tempfile.TemporaryDirectory() as tmp, Catalog(Path(tmp) / "catalog.sqlite") as catalog:
        for day in range(0, args.prefill // args.snapshots):
            write_run(catalog, pages, day, args.snapshots)
        wall, cpu = [], []
        for repeat in range(args.repeat):
            started, cpu_started = time.perf_counter(), time.process_time()
            written = write_run(catalog, pages, 1000 + repeat, args.snapshots)
            wall.append((time.perf_counter() - started) * 1000 / written)
            cpu.append((time.process_time() - cpu_started) * 1000 / written)
        held = catalog.counts()["snapshots"]
    print(
        f"write_run of {args.snapshots:,} snapshots of real article text ({len(pages)} pages cycled) into a catalog"
        f" of {held - args.snapshots * args.repeat:,}+: {statistics.median(wall):.3f} ms per snapshot (median of"
        f" {args.repeat}; min {min(wall):.3f}), CPU {statistics.median(cpu):.3f} ms per snapshot"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
