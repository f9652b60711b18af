"""Run real crawls from tests: a registry file on disk, the runner in a subprocess, its JSON summary back.

Crawls always run in a subprocess: Scrapy's reactor can start only once per process.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from feedvault.config import StorageSettings
from feedvault.store.s3_client import Credentials

REPO = Path(__file__).resolve().parents[2]
PERMISSION = {
    "basis": "own-content",
    "reference": "tests/fixtures/sites/README.md",
    "granted_by": "feedvault tests",
    "granted_on": "2026-01-01",
}
# Fixture sites carry fixed dates: a wide window keeps the tests true in later years.
TEST_SETTINGS = {
    "contact_url": "https://feedvault.test/contact",
    "entry_window_days": 36500,
    "revisit_days": 36500,
    "extract_workers": 2,
    "politeness": {"download_delay": 0, "autothrottle": False, "concurrency_per_domain": 8, "retry_times": 1},
}


def feed(feed_id: str, url: str, **overrides: Any) -> dict[str, Any]:
    return {
        "id": feed_id,
        "publisher": f"Fixture {feed_id}",
        "urls": [url],
        "allow_private_network": ["127.0.0.1/32"],
        "permission": PERMISSION,
        **overrides,
    }


def write_registry(path: Path, storage: StorageSettings, feeds: list[dict[str, Any]], **settings: Any) -> Path:
    data = {
        "settings": {**TEST_SETTINGS, **settings, "storage": storage.model_dump(mode="json")},
        "feeds": feeds,
    }
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def crawl_env(credentials: Credentials | None, **extra: str) -> dict[str, str]:
    env = {**os.environ, "FEEDVAULT_LOOPBACK_ONLY": "1", "PYTHONPATH": str(REPO), **extra}
    if credentials is not None:
        env.update(AWS_ACCESS_KEY_ID=credentials.access_key_id, AWS_SECRET_ACCESS_KEY=credentials.secret_access_key)
    return env


def run_crawl(
    registry: Path, credentials: Credentials | None, *args: str, expect_exit: int | None = 0, timeout: float = 300
) -> dict[str, Any]:
    """Run ``python -m feedvault.crawl`` and return its summary (the run manifest plus keys), read from the
    report it writes to ``--result-file`` (feedvault.crawl.plan.CrawlReport)."""
    return crawl_summary(registry, credentials, *args, expect_exit=expect_exit, timeout=timeout)


def crawl_summary(
    registry: Path,
    credentials: Credentials | None,
    *args: str,
    expect_exit: int | None = 0,
    timeout: float = 300,
    **env: str,
) -> dict[str, Any]:
    """The runner's summary through its result file; ``env``: extra environment (e.g. ``TMPDIR``)."""
    from feedvault.crawl.plan import CrawlReport

    with tempfile.TemporaryDirectory(prefix="fv-report-") as tmp:
        result_file = Path(tmp) / "report.json"
        command = [sys.executable, "-m", "feedvault.crawl", "--registry", str(registry), "--log-level", "INFO"]
        proc = subprocess.run(
            [*command, "--result-file", str(result_file), *args],
            env=crawl_env(credentials, **env),
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        report = CrawlReport.read(result_file)
    context = f"exit {proc.returncode}\nstdout:\n{proc.stdout[-3000:]}\nstderr:\n{proc.stderr[-6000:]}"
    assert report is not None, f"runner wrote no report\n{context}"
    if expect_exit is not None:
        assert proc.returncode == expect_exit, context
    summary = report.summary()
    summary["_stderr"] = proc.stderr
    summary["_exit"] = proc.returncode
    return summary


def start_crawl(registry: Path, credentials: Credentials | None, *args: str, **popen: Any) -> subprocess.Popen[str]:
    """Start ``python -m feedvault.crawl`` without waiting (for tests that kill it, or its archive, mid-run)."""
    options = {"env": crawl_env(credentials), "stdout": subprocess.PIPE, "stderr": subprocess.PIPE} | popen
    return subprocess.Popen(
        [sys.executable, "-m", "feedvault.crawl", "--registry", str(registry), "--log-level", "INFO", *args],
        cwd=REPO,
        text=True,
        **options,
    )


@contextlib.contextmanager
def short_tmpdir() -> Iterator[Path]:
    """A $TMPDIR for a crawler with a short path: the extraction forkserver's socket lives there, and a Unix
    socket path over 107 bytes fails ("AF_UNIX path too long"), as pytest's tmp_path often would."""
    path = Path(tempfile.mkdtemp(prefix="fv-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def crawl_that_cannot_commit(
    registry: Path, store: Any, block: Any, run_id: str, feed_id: str = "synth", **popen: Any
) -> None:
    """A real crawl whose feed manifest the archive refuses (``block(key)`` puts a directory where it must go):
    the run never commits, and everything it uploaded stays uncommitted."""
    from feedvault import keys

    block(keys.feed_manifest_key(keys.RunId(run_id), feed_id))
    proc = start_crawl(registry, None, "--run-id", run_id, **popen)
    _out, err = proc.communicate(timeout=300)
    assert proc.returncode != 0, err[-3000:]
    assert not [o.key for o in store.list("runs/") if o.key.endswith(f"{run_id}/manifest.json")]


def feed_summary(summary: dict[str, Any], feed_id: str) -> dict[str, Any]:
    return next(f for f in summary["feeds"] if f["feed"] == feed_id)
