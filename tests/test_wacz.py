"""WACZ export: the archive opens in the ecosystem's tools (py-wacz validates it, pywb replays it).

Both tools live in the separate tool venv (``make pywb``: pywb and wacz, pinned in requirements-pywb.lock).
"""

from __future__ import annotations

import html
import io
import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from feedvault.archive.warc import iter_records
from feedvault.web.app import create_app
from tests.support.archive import CHANGED_SENTENCE, ArchivedDemo
from tests.support.crawl import REPO, crawl_env, write_registry
from tests.test_pywb_replay import PYWB_BIN, fetch, wayback


@pytest.fixture(scope="module")
def registry(archived_demo: ArchivedDemo, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("wacz-cli")
    storage = archived_demo.storage.model_copy(update={"data_dir": str(root / "data")})
    return write_registry(root / "feeds.yaml", storage, [])


def export(registry: Path, archived: ArchivedDemo, *args: str, expect: int = 0) -> subprocess.CompletedProcess:
    proc = subprocess.run(
        [sys.executable, "-m", "feedvault.cli", "--registry", str(registry), "export", "--format", "wacz", *args],
        env=crawl_env(archived.credentials),
        cwd=REPO,
        capture_output=True,
        timeout=120,
    )
    assert proc.returncode == expect, f"exit {proc.returncode}\n{proc.stderr.decode()}"
    return proc


def validate(path: Path) -> subprocess.CompletedProcess:
    if not (PYWB_BIN / "wacz").exists():
        pytest.fail("py-wacz is not installed: run `make pywb` (the tool venv under .feedvault/tools/pywb)")
    return subprocess.run([PYWB_BIN / "wacz", "validate", "-f", str(path)], capture_output=True, timeout=120)


def test_a_days_wacz_passes_the_wacz_validator_and_holds_every_capture(registry, archived_demo, tmp_path):
    day = "2026-11-26"
    target = tmp_path / "day.wacz"
    proc = export(registry, archived_demo, "--feed", "demo-en", "--day", day, "-o", str(target))
    checked = validate(target)
    assert checked.returncode == 0, checked.stdout.decode() + checked.stderr.decode()

    expected = archived_demo.catalog.articles("demo-en", day, per_page=100).items
    with zipfile.ZipFile(target) as wacz:
        names = set(wacz.namelist())
        assert {"archive/data.warc.gz", "indexes/index.cdx", "pages/pages.jsonl", "datapackage.json"} <= names
        pages = [json.loads(line) for line in wacz.read("pages/pages.jsonl").decode().splitlines()]
        warc = wacz.read("archive/data.warc.gz")
    assert pages[0]["format"] == "json-pages-1.0"
    assert sorted(p["url"] for p in pages[1:]) == sorted(s.url for s in expected)
    records = [view for _o, _n, view in iter_records(warc)]
    kinds = [r.rec_type for r in records]
    assert kinds[0] == "warcinfo" and kinds.count("response") == len(expected)
    assert kinds.count("request") == kinds.count("metadata") == len(expected)  # the whole exchange, each time
    archived_ids = {archived_demo.catalog.snapshot(s.id).raw["record_id"] for s in expected}
    assert {r.warc_headers["WARC-Record-ID"] for r in records if r.rec_type == "response"} == archived_ids
    assert f"{len(expected)} captures".encode() in proc.stderr


def test_a_urls_history_as_wacz_replays_in_pywb(registry, archived_demo, tmp_path):
    target = tmp_path / "history.wacz"
    export(registry, archived_demo, "--url", archived_demo.changed_url, "-o", str(target))
    assert validate(target).returncode == 0
    root = tmp_path / "pywb"
    root.mkdir()
    subprocess.run([PYWB_BIN / "wb-manager", "init", "w"], cwd=root, check=True, capture_output=True)
    added = subprocess.run(
        [PYWB_BIN / "wb-manager", "add", "--unpack-wacz", "w", str(target)], cwd=root, capture_output=True
    )
    assert added.returncode == 0, added.stderr.decode()
    with wayback(root) as base:
        old, new = (s for s in archived_demo.catalog.history(archived_demo.changed_url) if s.feed == "demo-id")
        for snapshot, sentence in ((old, archived_demo.original_sentence), (new, CHANGED_SENTENCE)):
            timestamp = "".join(ch for ch in snapshot.fetched_at[:19] if ch.isdigit())  # the capture's own time
            status, body = fetch(f"{base}/w/{timestamp}id_/{archived_demo.changed_url}")
            assert status == 200 and sentence in html.unescape(body), (timestamp, body[:500])


def test_wacz_export_says_what_is_wrong(registry, archived_demo, tmp_path):
    missing = export(registry, archived_demo, expect=2)
    assert b"--feed ID --day DATE" in missing.stderr
    none = export(registry, archived_demo, "--day", "2020-01-01", "-o", str(tmp_path / "x.wacz"), expect=4)
    assert b"no snapshots match" in none.stderr
    export(registry, archived_demo, "--url", "http://127.0.0.1:1/never", "-o", str(tmp_path / "y.wacz"), expect=4)


def test_each_snapshot_page_links_its_wacz_download(archived_demo):
    snapshot = archived_demo.catalog.articles("demo-en", "2026-11-26").items[0]
    with TestClient(create_app(archived_demo.store, archived_demo.catalog)) as client:
        page = client.get(f"/snapshots/{snapshot.id}")
        link = f"/api/v1/snapshots/{snapshot.id}/capture.wacz"
        assert page.status_code == 200 and link in page.text
        download = client.get(link)
    assert download.status_code == 200 and download.headers["content-type"] == "application/wacz"
    with zipfile.ZipFile(io.BytesIO(download.content)) as wacz:
        pages = wacz.read("pages/pages.jsonl").decode().splitlines()
    assert [json.loads(p)["url"] for p in pages[1:]] == [snapshot.url]
