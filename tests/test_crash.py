"""A crash leaves nothing half-written behind: a crawler killed mid-run (SIGKILL, SIGTERM) leaves no process
running, its spool directory is swept, its per-URL outcomes are not lost, and the archive is consistent again
after the next run. Real crawls of a synthetic site whose last articles hang, so the kill lands mid-run."""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psutil
import pytest

from feedvault.config import StorageSettings
from feedvault.demo.server import SiteServer
from feedvault.store.backends import FileStore, Store
from feedvault.store.s3_client import Credentials
from tests.support.checks import assert_archive_consistent
from tests.support.crawl import crawl_env, feed, short_tmpdir, start_crawl, write_registry
from tests.support.sites import synthetic_site

CRASHED = "20261126T020000Z-crashed"
SLOW = 4  # articles that hang (answered after HANG seconds): the crawl is mid-run while they wait
HANG = 40


@dataclass
class SlowSite:
    server: SiteServer
    store: Store
    registry: Path
    urls: list[str]
    tmpdir: Path  # the crawler's TMPDIR (its spool directories)
    log: Path
    credentials: Credentials | None = None


# WARCs and clean segments roll (and are uploaded) while the crawl runs, so a crash leaves some in the archive.
SMALL_FILES = {"warc_max_bytes": 65536, "clean_segment_max_bytes": 4096}


@contextlib.contextmanager
def slow_site_into(tmp_path, site_server, storage: StorageSettings, store: Store, credentials=None):
    site = synthetic_site(tmp_path, 12)
    server = site_server(site.root)
    for path in site.article_paths[-SLOW:]:
        server.set_route(path, {"delay": HANG})
    registry = write_registry(
        tmp_path / "feeds.yaml", storage, [feed("synth", server.url(site.feed_path))], uncommitted_grace_hours=0
    )
    urls = [server.url(p) for p in site.article_paths]
    with short_tmpdir() as tmpdir:
        yield SlowSite(server, store, registry, urls, tmpdir, tmp_path / "crawl.log", credentials)


@pytest.fixture
def slow_site(tmp_path, site_server) -> Iterator[SlowSite]:
    root = tmp_path / "archive"
    storage = StorageSettings(uri=root.as_uri(), data_dir=str(tmp_path / "data"), **SMALL_FILES)
    with slow_site_into(tmp_path, site_server, storage, FileStore(root)) as site:
        yield site


def run_crawl(site: SlowSite, *args: str) -> dict:
    """A crawl to its end with the same spool directory ($TMPDIR) as the killed one (its summary, from its report)."""
    from tests.support.crawl import crawl_summary

    return crawl_summary(site.registry, site.credentials, *args, expect_exit=None, TMPDIR=str(site.tmpdir))


def wait_for(condition, what: str, timeout: float = 120):
    """Poll until ``condition()`` is truthy (a generous bound on a loaded machine; not a timing assertion)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"gave up waiting for {what}")


def crawl_mid_run(site: SlowSite, *args: str) -> tuple[psutil.Popen, list[psutil.Process]]:
    """Start a crawl and wait until it archived articles (so its extraction workers run) and waits on the rest."""
    log = (site.log).open("a")  # not a pipe: nobody reads it while the crawl runs
    proc = start_crawl(
        site.registry,
        None,
        "--run-id",
        CRASHED,
        *args,
        env=crawl_env(site.credentials, TMPDIR=str(site.tmpdir)),
        stdout=log,
        stderr=log,
    )
    done = len(site.urls) - SLOW
    wait_for(lambda: len(journaled_new(site)) >= done or proc.poll() is not None, "articles archived")
    assert proc.poll() is None, (site.log).read_text()[-3000:]
    children = wait_for(lambda: len(c := psutil.Process(proc.pid).children(recursive=True)) >= 3 and c, "workers")
    return proc, children


def test_the_crawl_s_extraction_workers_load_no_crawler_code(slow_site):
    """The crawl process (``python -m feedvault.crawl``) has Scrapy and Twisted loaded; its extraction workers must
    not: multiprocessing imports a process's main module in every worker unless it is a package ``__main__``.
    (Seen in each process's memory map: the cryptography extension comes only with Twisted and Scrapy.)"""
    proc, children = crawl_mid_run(slow_site)
    try:
        forkserver = next(c for c in children if "forkserver" in " ".join(c.cmdline()) and c.ppid() == proc.pid)
        workers = [c for c in children if c.ppid() == forkserver.pid]

        def loads_crawler(pid: int) -> bool:
            return "cryptography/hazmat/bindings/_rust" in Path(f"/proc/{pid}/maps").read_text()

        assert workers and loads_crawler(proc.pid)
        assert not any(loads_crawler(w.pid) for w in workers)
    finally:
        os.kill(proc.pid, signal.SIGTERM)
        proc.wait(timeout=120)


def journaled_new(site: SlowSite) -> set[str]:
    """The URLs the crawl in progress archived so far, from its outcome journal (its segments and WARCs are still
    in its spool)."""
    from feedvault.crawl.spool import read_journal

    journals = list(site.tmpdir.glob(f"feedvault-{CRASHED}-*/journal/synth.jsonl"))
    return {o["url"] for path in journals for o in read_journal(path) if o["outcome"] == "new"}


def test_a_sigkilled_crawl_leaves_no_process_behind(slow_site):
    proc, children = crawl_mid_run(slow_site)
    names = {" ".join(c.cmdline()) for c in children}
    assert any("forkserver" in n for n in names) and any("resource_tracker" in n for n in names), names
    try:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        _gone, alive = psutil.wait_procs(children, timeout=60)
        assert alive == [], [" ".join(p.cmdline()) for p in alive]
    finally:
        for child in children:
            if child.is_running():
                child.kill()


def feed_manifest(store, run_id: str) -> dict:
    import json

    from feedvault import keys

    return json.loads(store.get_bytes(keys.feed_manifest_key(keys.RunId(run_id), "synth")))


def unhang(site: SlowSite) -> None:
    for url in site.urls[-SLOW:]:
        site.server.set_route(url.removeprefix(site.server.base_url), None)


def test_a_sigkilled_run_is_recovered_by_the_next_run_its_outcomes_kept_and_its_spool_swept(slow_site):
    """SIGKILL leaves no manifest and an uncommitted partition. The next run commits the killed run as
    ``interrupted`` with the outcomes its journal kept (the archived ones withdrawn: its objects were never
    committed), removes its partition and spool directory, and archives those articles itself."""
    site = slow_site
    proc, children = crawl_mid_run(site)
    archived = journaled_new(site)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    psutil.wait_procs(children, timeout=60)
    (spool,) = list(site.tmpdir.glob(f"feedvault-{CRASHED}-*"))
    assert archived and not list(site.store.list("runs/"))

    unhang(site)
    next_run = "20261127T020000Z-next"
    summary = run_crawl(site, "--run-id", next_run)
    assert not spool.exists()
    manifest = feed_manifest(site.store, CRASHED)
    assert manifest["status"] == "interrupted" and "recovered" in manifest["error"]
    withdrawn = {o["url"] for o in manifest["urls"] if o.get("reason") == "interrupted"}
    assert len(withdrawn) == len(archived) and all(o["outcome"] == "failed" for o in manifest["urls"])
    assert not [o.key for o in site.store.list("") if CRASHED in o.key and "/runs/" not in "/" + o.key]
    new = {o["url"] for o in feed_manifest(site.store, next_run)["urls"] if o["outcome"] == "new"}
    assert new == set(site.urls) and summary["status"] == "ok"
    assert_archive_consistent(site.store)


def test_a_sigterm_commits_what_was_done_and_says_interrupted(slow_site):
    site = slow_site
    proc, _children = crawl_mid_run(site)
    os.kill(proc.pid, signal.SIGTERM)
    assert proc.wait(timeout=120) == 1
    manifest = feed_manifest(site.store, CRASHED)
    assert manifest["status"] == "interrupted" and "SIGTERM" in manifest["error"]
    archived = {o["url"] for o in manifest["urls"] if o["outcome"] == "new"}
    assert len(archived) >= len(site.urls) - SLOW
    assert not list(site.tmpdir.glob("feedvault-*"))
    assert_archive_consistent(site.store)


def test_seaweedfs_killed_mid_run_leaves_nothing_the_next_run_does_not_put_right(tmp_path, site_server):
    """The archive's SeaweedFS is SIGKILLed mid-run and started again: the run fails without committing; the
    next run commits it as interrupted from its journal, removes what it left, and the checker finds nothing."""
    from feedvault.archive.check import check_archive
    from feedvault.store.backends import open_store
    from feedvault.store.seaweed import EmbeddedS3, _pick_base

    port = _pick_base()
    server = EmbeddedS3(tmp_path / "fv", port=port).start()
    try:
        storage = server.storage_settings(
            StorageSettings(uri="s3://crash/archive", max_attempts=2, data_dir=str(tmp_path / "data"), **SMALL_FILES)
        )
        store = open_store(storage, server.credentials)
        store.ensure_bucket()
        with slow_site_into(tmp_path, site_server, storage, store, server.credentials) as site:
            proc, _children = crawl_mid_run(site)
            # Uploads are asynchronous: kill the store once some of the run's files have reached it.
            wait_for(lambda: any(store.list("raw/")) or any(store.list("clean/")), "files uploaded")
            os.killpg(server._proc.pid, signal.SIGKILL)  # weed's whole process group, as a crash would
            server._proc.wait()
            server._proc = None
            assert proc.wait(timeout=300) != 0
            server = EmbeddedS3(tmp_path / "fv", port=port).start()
            store = open_store(storage, server.credentials)
            assert {p.kind for p in check_archive(store)} >= {"uncommitted"}

            unhang(site)
            site.store = store
            next_run = "20261127T020000Z-next"
            assert run_crawl(site, "--run-id", next_run)["status"] == "ok"
            assert feed_manifest(store, CRASHED)["status"] == "interrupted"
            new = {o["url"] for o in feed_manifest(store, next_run)["urls"] if o["outcome"] == "new"}
            assert new == set(site.urls)
            assert_archive_consistent(store)
    finally:
        server.stop()


def test_a_spool_is_stale_only_once_its_owner_process_is_gone(tmp_path):
    """The owner lock, not age, tells a live run's spool from a dead one's (a long run is never swept)."""
    import subprocess
    import sys

    from feedvault.crawl.spool import Spool, stale_spools

    live = Spool("20261126T020000Z-live", {"store": "file:///x"}, parent=str(tmp_path))
    dead = subprocess.run(
        [
            sys.executable,
            "-c",
            "import os, sys; from feedvault.crawl.spool import Spool; "
            "s = Spool('20261126T020000Z-dead', {'store': 'file:///x'}, parent=sys.argv[1]); "
            "s.journal('f')(0, {'url': 'http://a/', 'outcome': 'new'}); os._exit(9)",
            str(tmp_path),
        ],
        check=False,
    )
    assert dead.returncode == 9
    found = list(stale_spools(str(tmp_path)))
    try:
        assert [s.meta["run_id"] for s in found] == ["20261126T020000Z-dead"]
        assert found[0].journals() == {"f": [{"url": "http://a/", "outcome": "new"}]}
    finally:
        for stale in found:
            stale.remove()
        live.remove()
    assert list(tmp_path.iterdir()) == []


def test_a_journal_the_spool_cannot_take_never_fails_the_outcomes_or_a_withdrawal():
    """The outcome journal is a recovery aid: on a full spool (/dev/full answers every write with ENOSPC) it stops,
    and recording outcomes, and withdrawing the snapshots of a lost WARC, still complete."""
    from feedvault.archive.manifest import FeedRunLog, Outcome
    from feedvault.crawl.spool import Journal

    journal = Journal(Path("/dev/full"))
    log = FeedRunLog("f", "20261201T000000Z", journal=journal)
    for n in range(3):
        log.add(f"http://127.0.0.1:9/{n}.html", Outcome.NEW, warc_key="raw/lost.warc.gz", clean_key=f"clean/{n}.json")
    assert isinstance(journal.failed, OSError)
    withdrawn = log.fail_archived(["raw/lost.warc.gz"], reason="warc-write-failed", detail="not archived")
    assert len(withdrawn) == 3 and {o.outcome for o in log.outcomes} == {Outcome.FAILED}
