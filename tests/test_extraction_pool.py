"""The extraction workers load only what cleaning needs: every worker costs its own copy of what it imports."""

from __future__ import annotations

import subprocess
import sys

from tests.support.crawl import REPO

CRAWLER_ONLY = ("scrapy", "twisted", "boto3", "botocore")


def test_the_cleaning_workers_import_neither_the_crawler_nor_the_s3_client() -> None:
    """What a worker imports: the pool's module (its task function) and what it warms up (trafilatura)."""
    probe = (
        "import sys\n"
        "import feedvault.crawl.extraction_pool as pool\n"
        "pool._warm_worker()\n"
        f"print(sorted({{m.split('.')[0] for m in sys.modules}} & set({CRAWLER_ONLY!r})))\n"
    )
    proc = subprocess.run([sys.executable, "-c", probe], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip() == "[]"
