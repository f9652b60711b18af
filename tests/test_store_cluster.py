"""The object store as a cluster (feedvault/store/seaweed_cluster.py): SeaweedFS as separate servers (master,
two volume servers, filer, S3 gateway) on 127.0.0.1 with every object on both volume servers, and feedvault
pointed at its S3 endpoint like any external S3. A volume server SIGKILLed mid-run loses nothing committed,
and the run either completes or leaves nothing half-committed; once the server is back, the next run puts
the archive right and the checker finds nothing."""

from __future__ import annotations

import json
import signal
import subprocess
import urllib.request
from pathlib import Path
from typing import Any

import psutil
import pytest

from feedvault import keys
from feedvault.archive.check import ARCHIVED, check_archive
from feedvault.archive.clean_segments import read_clean_record
from feedvault.config import StorageSettings
from feedvault.store.backends import S3Store, Store, open_store, read_many
from feedvault.store.seaweed_cluster import SeaweedCluster
from tests.support.checks import assert_archive_consistent
from tests.support.crawl import crawl_env, feed, short_tmpdir, start_crawl, write_registry
from tests.support.sites import SiteServerFactory, synthetic_site

SERVERS = {"master", "volume-1", "volume-2", "filer", "s3"}
BEFORE, DURING, AFTER = "20261126T020000Z-before", "20261127T020000Z-during", "20261128T020000Z-after"
SLOW = 4  # articles of the "during" feed that hang, so the crawl is mid-run when the volume server dies
HANG = 20  # under the crawler's 30 s download timeout: they are archived, after the kill


def _open_archive(cluster: SeaweedCluster, bucket: str, data_dir: Path) -> tuple[StorageSettings, S3Store]:
    storage = cluster.storage_settings(
        # One attempt per request: a write the degraded cluster cannot take fails after ~30 s (its own retries).
        # One clean record per segment: records reach the store as they are archived, so a kill mid-run
        # meets objects already written (with the default size they would wait in the spool until the end).
        StorageSettings(uri=f"s3://{bucket}/archive", max_attempts=1, data_dir=str(data_dir), clean_segment_max_bytes=1)
    )
    store = open_store(storage, cluster.credentials)
    assert isinstance(store, S3Store)
    store.ensure_bucket()
    return storage, store


def _volume_ids(cluster: SeaweedCluster) -> dict[str, set[int]]:
    """Per volume server, the ids of the volumes it holds (from the master's topology)."""
    with urllib.request.urlopen(f"{cluster.master_url}/vol/status", timeout=10) as response:  # loopback
        topology = json.load(response)["Volumes"]
    held: dict[str, set[int]] = {}
    for data_center in topology["DataCenters"].values():
        for rack in data_center.values():
            for node, volumes in rack.items():
                held[node] = {int(v["Id"]) for v in volumes or []}
    return held


def test_a_store_cluster_runs_each_server_as_its_own_process_on_loopback_with_every_volume_on_two_servers(tmp_path):
    with SeaweedCluster(tmp_path / "cluster") as cluster:
        pids = cluster.pids()
        assert set(pids) == SERVERS and len(set(pids.values())) == len(SERVERS)
        for name, pid in pids.items():
            listening = {c.laddr.ip for c in psutil.Process(pid).net_connections() if c.status == psutil.CONN_LISTEN}
            assert listening == {"127.0.0.1"}, name

        _storage, store = _open_archive(cluster, "cluster-probe", tmp_path / "data")
        store.put_bytes("probe/object", b"written once, kept twice")
        assert store.get_bytes("probe/object") == b"written once, kept twice"
        held = _volume_ids(cluster)
        assert len(held) == 2 and all(held.values())
        first, second = held.values()
        assert first == second, "with replication 001 every volume lives on both volume servers"
    assert not [pid for pid in pids.values() if psutil.pid_exists(pid) and psutil.Process(pid).status() != "zombie"]


def test_with_one_more_volume_server_than_copies_writes_go_on_after_a_loss(tmp_path):
    """Three volume servers, two copies: one SIGKILLed, the master grows volumes on the two left, so writes
    keep succeeding at once and everything written before reads back."""
    with SeaweedCluster(tmp_path / "cluster", volume_servers=3) as cluster:
        _storage, store = _open_archive(cluster, "cluster-three", tmp_path / "data")
        for i in range(30):
            store.put_bytes(f"before/{i}", f"object {i}".encode())
        cluster.kill("volume-2", signal.SIGKILL)
        for i in range(30):
            store.put_bytes(f"after/{i}", f"object {i}".encode())  # one attempt each: a refusal fails here
        for phase in ("before", "after"):
            assert [store.get_bytes(f"{phase}/{i}") for i in range(30)] == [f"object {i}".encode() for i in range(30)]


def test_a_cluster_needs_as_many_volume_servers_as_copies(tmp_path):
    with pytest.raises(ValueError, match="at least that many volume servers"):
        SeaweedCluster(tmp_path, volume_servers=1, replication="001")
    with pytest.raises(ValueError, match="three digits"):
        SeaweedCluster(tmp_path, replication="1")


def _read_back_committed(store: Store) -> int:
    """Read every object that a committed run's manifests name (clean records and WARCs of archived entries,
    the feed manifests themselves); fail on any that does not read back. Returns how many were read."""
    listing = {o.key for o in store.list("runs/")}
    committed = {k.rsplit("/", 1)[0] for k in listing if k.endswith("/manifest.json")}
    feed_manifests = sorted(k for k in listing if "/feeds/" in k and k.split("/feeds/")[0] in committed)
    cleans: set[str] = set()  # clean record pointers (<segment>#<offset>+<length>): one ranged GET each
    warcs: set[str] = set()
    for key, data in read_many(store, feed_manifests):
        assert data is not None, key
        for entry in json.loads(data)["urls"]:
            if entry.get("outcome") in ARCHIVED:
                cleans.update([entry["clean_key"]] if entry.get("clean_key") else [])
                warcs.update([entry["warc_key"]] if entry.get("warc_key") else [])
    unreadable = [key for key, data in read_many(store, sorted(warcs)) if not data]
    for pointer in sorted(cleans):
        try:
            read_clean_record(store, pointer)
        except Exception:  # not found, cut short, not JSON: it does not read back
            unreadable.append(pointer)
    assert not unreadable, f"{len(unreadable)} committed object(s) do not read back: {unreadable[:5]}"
    return len(cleans) + len(warcs) + len(feed_manifests)


def _crawl(registry: Path, cluster: SeaweedCluster, tmpdir: Path, log: Path, *args: str) -> subprocess.Popen[str]:
    with log.open("a") as out:  # a file, not a pipe: nobody reads it while the crawl runs
        return start_crawl(
            registry, None, *args, env=crawl_env(cluster.credentials, TMPDIR=str(tmpdir)), stdout=out, stderr=out
        )


def _summary(log: Path) -> dict[str, Any]:
    lines = [line for line in log.read_text().splitlines() if line.startswith("{")]
    assert lines, log.read_text()[-3000:]
    return json.loads(lines[-1])


def _wait_for(condition: Any, what: str, timeout: float = 120) -> Any:
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := condition():
            return value
        time.sleep(0.2)
    raise AssertionError(f"gave up waiting for {what}")


@pytest.mark.slow
def test_a_volume_server_killed_mid_run_loses_nothing_and_leaves_nothing_half_committed(
    tmp_path: Path, site_server: SiteServerFactory
) -> None:
    before = synthetic_site(tmp_path / "before", 6)
    during = synthetic_site(tmp_path / "during", 12, seed=1)
    before_site, during_site = site_server(before.root), site_server(during.root)
    for path in during.article_paths[-SLOW:]:
        during_site.set_route(path, {"delay": HANG})
    with SeaweedCluster(tmp_path / "cluster") as cluster, short_tmpdir() as tmpdir:
        storage, store = _open_archive(cluster, "cluster-archive", tmp_path / "data")
        feeds = [feed("before", before_site.url(before.feed_path)), feed("during", during_site.url(during.feed_path))]
        registry = write_registry(tmp_path / "feeds.yaml", storage, feeds, uncommitted_grace_hours=0)
        log = tmp_path / "crawl.log"

        assert _crawl(registry, cluster, tmpdir, log, "--run-id", BEFORE, "--feed", "before").wait(300) == 0
        committed_before = _read_back_committed(store)

        crawl = _crawl(registry, cluster, tmpdir, log, "--run-id", DURING, "--feed", "during")
        done = len(during.article_paths) - SLOW
        _wait_for(lambda: len(list(store.list("clean/during/"))) >= done or crawl.poll() is not None, "articles")
        assert crawl.poll() is None, log.read_text()[-3000:]  # mid-run: the last articles still hang
        cluster.kill("volume-2", signal.SIGKILL)
        crawl.wait(600)

        # Nothing committed is lost: every object the committed runs name reads back from the surviving copy.
        assert _read_back_committed(store) >= committed_before
        committed = store.head(keys.run_manifest_key(keys.RunId(DURING))) is not None
        problems = check_archive(store)
        if committed:  # the run completed: the checker finds nothing
            assert not problems, "\n".join(map(str, problems))
        else:  # it failed: only uncommitted leftovers, which the next run removes
            assert crawl.returncode != 0
            assert {p.kind for p in problems} <= {"uncommitted"}, "\n".join(map(str, problems))

        cluster.restart("volume-2")
        for path in during.article_paths[-SLOW:]:
            during_site.set_route(path, None)
        after = _crawl(registry, cluster, tmpdir, log, "--run-id", AFTER, "--feed", "during")
        assert after.wait(600) == 0, log.read_text()[-3000:]
        assert _summary(log)["status"] == "ok"
        assert_archive_consistent(store)
        _read_back_committed(store)
        archived = [
            entry["url"]
            for key in store.list("runs/")
            if key.key.endswith("/feeds/during.json")
            for entry in json.loads(store.get_bytes(key.key))["urls"]
            if entry["outcome"] in ARCHIVED
        ]
        assert sorted(archived) == sorted(during_site.url(p) for p in during.article_paths)
