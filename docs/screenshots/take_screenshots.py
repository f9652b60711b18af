"""Screenshots of the archive browser for the README, taken from the running app in headless Chromium.

Run ``.venv/bin/python docs/screenshots/take_screenshots.py``: it runs under pytest to reuse the test fixtures
(an embedded SeaweedFS and ``archived_demo``: the demo publisher crawled twice, one article changed), serves the
app with uvicorn on 127.0.0.1, and saves PNGs of the main pages next to this file.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import quote

if TYPE_CHECKING:
    from tests.support.archive import ArchivedDemo

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
VIEWPORT = {"width": 1280, "height": 860}
MAX_BYTES = 300 * 1024


def shots(demo: ArchivedDemo) -> dict[str, str]:
    """File name -> path of the page to capture."""
    changed = [s for s in demo.catalog.history(demo.changed_url) if s.feed == "demo-id"]
    english = sorted(u for u in demo.sentinels if "/en/" in u)[0]
    article = next(s.id for s in demo.catalog.history(english) if s.feed == "demo-en")
    return {
        "feeds.png": "/",
        "article.png": f"/snapshots/{article}",
        "raw.png": f"/snapshots/{article}/raw",
        "history.png": f"/history?url={quote(demo.changed_url, safe='')}",
        "diff.png": f"/diff?a={changed[0].id}&b={changed[-1].id}",
        "search.png": "/search?q=harbour",
        "health.png": "/health",
    }


def test_take_screenshots(archived_demo: ArchivedDemo) -> None:
    from feedvault.web.app import create_app
    from tests.test_browser import chromium, serve_app

    with serve_app(create_app(archived_demo.store, archived_demo.catalog)) as base_url, chromium() as browser:
        page = browser.new_page(viewport=VIEWPORT)
        for name, path in shots(archived_demo).items():
            page.goto(base_url + path, wait_until="load")
            target = HERE / name
            page.screenshot(path=str(target))
            size = target.stat().st_size
            assert size <= MAX_BYTES, f"{name} is {size} bytes"
            print(f"saved {target.relative_to(REPO)} ({size // 1024} KB)")


if __name__ == "__main__":
    import pytest

    sys.path.insert(0, str(REPO))
    os.environ["FEEDVAULT_LOOPBACK_ONLY"] = "1"
    plugins = [arg for name in ("s3", "sites", "archive") for arg in ("-p", f"tests.support.{name}")]
    sys.exit(pytest.main([__file__, "-q", "-s", "--rootdir", str(REPO), "-p", "no:cacheprovider", *plugins]))
