"""Full and read-only local disks: the spool a run writes WARCs into, the local browse catalog.

Each test mounts a real small tmpfs (tests/support/fs.py); nothing is mocked.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import yaml

from feedvault import keys
from feedvault.catalog import open_catalog
from feedvault.keys import RunId
from tests.support.checks import assert_archive_consistent
from tests.support.crawl import REPO, crawl_env, crawl_summary, feed_summary, run_crawl, write_registry
from tests.support.fs import fill, remount, small_filesystem
from tests.test_archive_e2e import folder_archive

RUN_1, RUN_2, RUN_3 = "20261126T020000Z-first", "20261127T020000Z-second", "20261128T020000Z-third"


def feedvault(registry, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "feedvault.cli", "--registry", str(registry), *args],
        env=crawl_env(None, COLUMNS="200"),
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )


def crawl_with_tmpdir(registry, tmpdir, *args: str) -> tuple[int, dict]:
    """The runner with its spool (``TMPDIR``) in ``tmpdir``: its exit code and summary (from its report)."""
    summary = crawl_summary(registry, None, *args, expect_exit=None, TMPDIR=str(tmpdir))
    return summary["_exit"], summary


def test_a_full_spool_fails_the_feed_and_the_run_and_leaves_nothing_pointing_at_a_lost_warc(tmp_path, site_server):
    """TMPDIR on a 256 KiB filesystem: the run's WARC cannot be written. Every article still ends with an outcome,
    no committed snapshot points into the WARC that was lost, and the run says failed (exit 1)."""
    archive = folder_archive(tmp_path, site_server, 40)
    with small_filesystem(tmp_path / "spool", size="256k") as spool:
        code, summary = crawl_with_tmpdir(archive.registry, spool, "--run-id", RUN_1)
        assert not any(spool.iterdir()), "the run left its spool behind"
    assert code == 1 and summary["status"] == "failed", summary
    feed = feed_summary(summary, "synth")
    assert feed["status"] == "failed" and "not archived" in feed["error"], feed
    manifest = json.loads(archive.store.get_bytes(feed["manifest_key"]))
    entries = sum(doc["entries"] for doc in manifest["feed_documents"].values())
    assert len(manifest["urls"]) == entries == 40  # every entry ends with an outcome
    by_outcome = {o["url"]: o for o in manifest["urls"]}
    failed = {url for url, o in by_outcome.items() if o["outcome"] == "failed"}
    # The spool holds the WARC and the clean segment: whichever write meets the full disk loses its file.
    assert failed and {by_outcome[url]["reason"] for url in failed} <= {"warc-write-failed", "clean-write-failed"}
    assert {o["outcome"] for o in manifest["urls"]} <= {"new", "failed"}
    assert_archive_consistent(archive.store)  # nothing committed points at a record the archive lacks

    # With room again, the next run archives exactly what failed, and nothing twice.
    again = run_crawl(archive.registry, None, "--run-id", RUN_2)
    outcomes = {
        o["url"]: o["outcome"]
        for o in json.loads(archive.store.get_bytes(feed_summary(again, "synth")["manifest_key"]))["urls"]
    }
    assert {url for url, outcome in outcomes.items() if outcome == "new"} == failed
    assert_archive_consistent(archive.store)


def with_data_dir(archive, path, name="broken.yaml"):
    """The archive's registry, but with the local catalog (storage.data_dir) in ``path``."""
    storage = archive.storage.model_copy(update={"data_dir": str(path)})
    data = yaml.safe_load(archive.registry.read_text())
    return write_registry(archive.registry.with_name(name), storage, data["feeds"])


def test_a_run_whose_catalog_directory_is_read_only_still_reaches_readers(tmp_path, site_server):
    """The writer indexes nothing locally, so a read-only data directory does not stop a run's piece; when the
    catalog update does fail (here a month merge, which needs that directory as scratch), the run is still
    committed and its ``catalog/runs/<run>`` marker written: readers index it from its manifests."""
    archive = folder_archive(tmp_path, site_server, 3)
    run_crawl(archive.registry, None, "--run-id", RUN_1)  # publishes run 1's piece
    with small_filesystem(tmp_path / "ro-data") as data_dir:
        remount(data_dir, read_only=True)
        registry = with_data_dir(archive, data_dir)
        archive.revise_articles("second edition")  # so each run archives every article again, as changed
        summary = run_crawl(registry, None, "--run-id", RUN_2, "--force")
        assert summary["status"] == "ok" and "browse catalog not updated" not in summary["_stderr"]
        archive.revise_articles("third edition")
        summary = run_crawl(registry, None, "--run-id", RUN_3, "--force")  # a closed month of 2 pieces: merged
    assert summary["status"] == "ok" and feed_summary(summary, "synth")["counts"]["changed"] == 3
    assert "browse catalog not updated" in summary["_stderr"] and "feedvault reindex" in summary["_stderr"]
    index = json.loads(archive.store.get_bytes(keys.CATALOG_INDEX_KEY))
    assert set(index["runs"]) == {RUN_1, RUN_2}  # run 3 has no piece
    assert archive.store.head(keys.catalog_run_key(RunId(RUN_3))) is not None
    with open_catalog(archive.store, tmp_path / "reader") as reader:
        assert [s.run_id for s in reader.history(archive.urls[0])] == [RUN_1, RUN_2, RUN_3]
    assert_archive_consistent(archive.store)


@pytest.mark.parametrize("fault", ["read-only", "full"])
def test_a_broken_local_catalog_says_what_to_do_and_reindex_is_the_way_out(tmp_path, site_server, fault):
    archive = folder_archive(tmp_path, site_server, 3)
    run_crawl(archive.registry, None, "--run-id", RUN_1)
    with small_filesystem(tmp_path / "data-dir", size="4m") as data_dir:
        registry = with_data_dir(archive, data_dir)
        (data_dir / "catalog.sqlite").write_bytes(b"not a catalog: a disk error left this")
        if fault == "read-only":
            remount(data_dir, read_only=True)
        else:
            filler = fill(data_dir)
        for command in (["ls"], ["ls", "--feed", "synth"], ["reindex"]):
            broken = feedvault(registry, *command)
            assert broken.returncode == 3, (command, broken.stdout, broken.stderr)
            said = " ".join((broken.stdout + broken.stderr).split())  # rich wraps long lines
            assert "Traceback" not in said, (command, broken.stderr)
            assert "cannot be used" in said and "then run `feedvault reindex`" in said and str(data_dir) in said

        if fault == "read-only":
            remount(data_dir, read_only=False)
        else:
            filler.unlink()
        fixed = feedvault(registry, "reindex")  # rebuilds over the unreadable file
        assert fixed.returncode == 0 and "3 snapshots" in fixed.stderr, fixed.stdout + fixed.stderr
        listed = feedvault(registry, "ls", "--feed", "synth")
        assert listed.returncode == 0 and "2026-11-26" in listed.stdout, listed.stdout + listed.stderr
    assert_archive_consistent(archive.store)
