"""The archived WARCs plus their CDXJ indexes replay in pywb (a standard tool, run from its own venv).

pywb's pins conflict with Airflow's, so it lives in ``.feedvault/tools/pywb`` (``make pywb``, from the hashed
``requirements-pywb.lock``). The collection gets the WARCs as copied from the archive (same relative keys) and
the CDXJ indexes feedvault wrote next to them; pywb's own indexer is not used.
"""

from __future__ import annotations

import contextlib
import html
import json
import os
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from feedvault.archive.cdxj import CDXJ_SUFFIX, cdxj_key, write_cdxj
from feedvault.store.backends import FileStore
from tests.support.archive import ArchivedDemo, copy_archive
from tests.support.crawl import REPO

PYWB_BIN = REPO / ".feedvault" / "tools" / "pywb" / "bin"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def fetch(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=15) as response:  # loopback pywb only
            return response.status, response.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode("utf-8", "replace")


@pytest.fixture
def collection(archived_demo: ArchivedDemo, tmp_path: Path) -> tuple[Path, FileStore]:
    """A pywb root with collection ``demo``: the archive's WARCs and feedvault's CDXJ indexes."""
    if not (PYWB_BIN / "wayback").exists():
        pytest.fail("pywb is not installed: run `make pywb` (a separate venv under .feedvault/tools/pywb)")
    store = FileStore(tmp_path / "archive")
    copy_archive(archived_demo.store, store, "raw/")
    warcs = archived_demo.catalog.warc_keys()
    assert write_cdxj(store, warcs) == []  # the runs indexed each WARC as they uploaded it: not rewritten
    written_by_the_runs = {k: store.get_bytes(cdxj_key(k)) for k in warcs}
    assert write_cdxj(store, warcs, force=True) == [cdxj_key(k) for k in warcs]
    assert {k: store.get_bytes(cdxj_key(k)) for k in warcs} == written_by_the_runs

    root = tmp_path / "pywb"
    root.mkdir()
    subprocess.run([PYWB_BIN / "wb-manager", "init", "demo"], cwd=root, check=True, capture_output=True)
    archive_dir, index_dir = root / "collections/demo/archive", root / "collections/demo/indexes"
    for n, key in enumerate(warcs):
        target = archive_dir / key  # the CDXJ filename field is the key relative to the archive root
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(tmp_path / "archive" / key, target)
        (index_dir / f"feedvault-{n:03d}{CDXJ_SUFFIX}").write_bytes(store.get_bytes(cdxj_key(key)))
    return root, store


def test_cdxj_lines_point_at_response_records(collection, archived_demo: ArchivedDemo):
    _root, store = collection
    for warc in archived_demo.catalog.warc_keys():
        lines = store.get_bytes(cdxj_key(warc)).decode().splitlines()
        assert lines == sorted(lines) and lines
        for line in lines:
            _surt, timestamp, block = line.split(" ", 2)
            fields = json.loads(block)
            assert fields["filename"] == warc and len(timestamp) == 14 and fields["status"] == "200"
            snapshot = next(s for s in archived_demo.catalog.history(fields["url"]) if s.sha256)
            assert snapshot  # every indexed URL is a catalogued snapshot


@contextlib.contextmanager
def wayback(root: Path) -> Iterator[str]:
    """pywb's ``wayback`` serving the collections under ``root`` on a free 127.0.0.1 port; yields its base URL."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.lower().startswith(("http_proxy", "https_proxy"))}
    server = subprocess.Popen(
        [PYWB_BIN / "wayback", "--bind", "127.0.0.1", "--port", str(port), "--threads", "2"],
        cwd=root,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(base + "/", timeout=2).close()
                break
            except OSError:
                assert server.poll() is None, server.stdout.read().decode()  # type: ignore[union-attr]
                assert time.monotonic() < deadline, "pywb did not start"
                time.sleep(0.3)
        yield base
    finally:
        server.terminate()
        server.wait(timeout=20)


def test_archived_page_replays_in_pywb(collection, archived_demo: ArchivedDemo):
    root, _store = collection
    url, sentence = next((u, s) for u, s in archived_demo.sentinels.items() if "/en/" in u)
    with wayback(root) as base:
        status, body = fetch(f"{base}/demo/2026id_/{url}")  # identity: the payload as archived
        assert status == 200, body[:2000]
        assert sentence in html.unescape(body)

        status, frame = fetch(f"{base}/demo/2026/{url}")  # the replay page: pywb's frame around the capture
        assert status == 200 and "replay_iframe" in frame
        status, body = fetch(f"{base}/demo/2026mp_/{url}")  # the capture as replayed in it (links rewritten)
        assert status == 200 and sentence in html.unescape(body) and "/demo/2026" in body

        status, index = fetch(f"{base}/demo/cdx?url={url}&output=json")
        records = [json.loads(line) for line in index.splitlines()]
        assert status == 200 and records and all(r["filename"].startswith("raw/") for r in records)

        status, _ = fetch(f"{base}/demo/2026id_/http://127.0.0.1:1/never-archived.html")
        assert status == 404
