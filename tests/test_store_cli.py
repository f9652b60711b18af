"""`feedvault store start|stop|status`: the embedded S3 store kept running between commands, stopped on request."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from feedvault.config import StorageSettings
from feedvault.store.seaweed import EmbeddedS3
from tests.support.crawl import REPO, crawl_env, write_registry


def feedvault(registry: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "feedvault.cli", "--registry", str(registry), *args],
        env=crawl_env(None),
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_a_started_store_serves_later_commands_until_stopped(tmp_path):
    data_dir = tmp_path / "data"
    storage = StorageSettings(uri="s3://feedvault/archive", embedded=True, data_dir=str(data_dir))
    registry = write_registry(tmp_path / "feeds.yaml", storage, [])
    try:
        assert feedvault(registry, "store", "status").returncode == 4
        started = feedvault(registry, "store", "start")
        assert started.returncode == 0 and "started" in started.stdout, started.stderr
        running = EmbeddedS3.running(data_dir)
        assert running is not None and alive(running.pid)

        listed = feedvault(registry, "ls")  # reuses the running store and leaves it running
        assert listed.returncode == 0, listed.stderr
        again = EmbeddedS3.running(data_dir)
        assert again is not None and again.pid == running.pid
        assert "already running" in feedvault(registry, "store", "start").stdout
        status = feedvault(registry, "store", "status")
        assert status.returncode == 0 and str(running.pid) in status.stdout

        stopped = feedvault(registry, "store", "stop")
        assert stopped.returncode == 0 and "stopped" in stopped.stdout
        assert not alive(running.pid) and EmbeddedS3.running(data_dir) is None
        assert "was not running" in feedvault(registry, "store", "stop").stdout
    finally:
        from feedvault.store.target import stop_embedded

        stop_embedded(data_dir)


def test_store_refuses_a_registry_without_the_embedded_store(tmp_path):
    storage = StorageSettings(uri=(tmp_path / "archive").as_uri())
    registry = write_registry(tmp_path / "feeds.yaml", storage, [])
    refused = feedvault(registry, "store", "start")
    assert refused.returncode == 2 and "not the embedded store" in refused.stderr
