"""Crashed runs leave nothing behind for long: `feedvault gc` and the next run of a feed remove what a run that
never committed left (clean JSONs, WARCs, CDXJ, feed manifests, seen-state snapshots), leave a partition that
may belong to a run in progress alone, and the checker then finds nothing. The crash is real: the archive
refuses the run's feed manifest (a directory where it must go), so the run dies before it commits."""

from __future__ import annotations

import json

from feedvault import cli, keys
from feedvault.archive.check import check_archive
from feedvault.crawl.seen_state import SeenState
from feedvault.keys import RunId
from tests.support.checks import assert_archive_consistent
from tests.support.crawl import crawl_env, crawl_that_cannot_commit, feed_summary, run_crawl, short_tmpdir
from tests.test_archive_e2e import folder_archive

CRASHED, NEXT = "20261126T020000Z-crashed", "20261127T020000Z-next"


def gc(registry, capsys, *args: str) -> dict:
    capsys.readouterr()
    assert cli.main(["--registry", str(registry), "gc", "--json", *args]) == 0
    return json.loads(capsys.readouterr().out)


def uncommitted(store) -> set[str]:
    return {o.key for o in store.list("") if CRASHED in o.key}


def test_gc_removes_what_a_crashed_run_left_and_leaves_young_partitions_alone(tmp_path, site_server, capsys):
    archive = folder_archive(tmp_path, site_server, 6)
    store = archive.store
    crawl_that_cannot_commit(archive.registry, store, archive.block, CRASHED)
    left = uncommitted(store)
    assert {k.split("/")[0] for k in left} == {"raw", "clean"} and len(left) >= 3  # a clean segment, a WARC, its CDXJ
    assert any(s.run_id == CRASHED for u in SeenState.load(store, "synth").urls.values() for s in u.snapshots)
    kinds = {p.kind for p in check_archive(store)}
    assert kinds == {"uncommitted", "state-uncommitted"}
    (tmp_path / "archive" / keys.feed_manifest_key(RunId(CRASHED), "synth")).rmdir()  # the archive heals

    summary = gc(archive.registry, capsys, "--dry-run", "--grace-hours", "0")
    assert summary["dry_run"] and summary["objects"] == len(left)
    assert uncommitted(store) == left

    summary = gc(archive.registry, capsys, "--grace-hours", "24")  # as young as a run in progress: kept
    assert summary["objects"] == 0 and [p["run_id"] for p in summary["in_progress_partitions"]] == [CRASHED]
    assert uncommitted(store) == left

    summary = gc(archive.registry, capsys, "--grace-hours", "0")
    assert summary["objects"] == len(left) and summary["state_snapshots_forgotten"] == 6
    assert uncommitted(store) == set()
    assert_archive_consistent(store)
    # The crashed run's articles were never committed: the next run archives them all.
    summary = feed_summary(run_crawl(archive.registry, None, "--run-id", NEXT), "synth")
    assert summary["counts"]["new"] == 6
    assert_archive_consistent(store)
    # An index whose WARC is gone goes too.
    stray = keys.raw_warc_key("synth", RunId(NEXT), 99).removesuffix(".warc.gz") + ".cdxj"
    store.put_bytes(stray, b"")
    assert {p.kind for p in check_archive(store)} == {"orphan-cdxj"}
    summary = gc(archive.registry, capsys, "--grace-hours", "0")
    assert summary["orphan_cdxj"] == [stray] and store.head(stray) is None
    assert_archive_consistent(store)


def test_the_next_run_of_a_feed_removes_what_its_crashed_run_left(tmp_path, site_server):
    archive = folder_archive(tmp_path, site_server, 6, uncommitted_grace_hours=0)
    store = archive.store
    with short_tmpdir() as elsewhere:  # another machine: its spool (and journal) is not where the next run looks
        crawl_that_cannot_commit(
            archive.registry, store, archive.block, CRASHED, env=crawl_env(None, TMPDIR=str(elsewhere))
        )
    assert uncommitted(store)
    (tmp_path / "archive" / keys.feed_manifest_key(RunId(CRASHED), "synth")).rmdir()

    summary = feed_summary(run_crawl(archive.registry, None, "--run-id", NEXT), "synth")
    assert uncommitted(store) == set()
    assert summary["counts"]["new"] == 6  # its snapshots were forgotten with it: no baseline points at nothing
    assert any(CRASHED in w and "never finished" in w for w in summary["warnings"])
    assert_archive_consistent(store)


def test_a_run_that_could_not_commit_is_committed_as_interrupted_by_the_next_run(tmp_path, site_server):
    """Same machine ($TMPDIR): the journal the run kept is recovered, so its outcomes are not lost."""
    archive = folder_archive(tmp_path, site_server, 6)
    store = archive.store
    crawl_that_cannot_commit(archive.registry, store, archive.block, CRASHED)
    (tmp_path / "archive" / keys.feed_manifest_key(RunId(CRASHED), "synth")).rmdir()

    summary = feed_summary(run_crawl(archive.registry, None, "--run-id", NEXT), "synth")
    assert summary["counts"]["new"] == 6
    assert {k for k in uncommitted(store) if not k.startswith(("runs/", "catalog/"))} == set()
    crashed = json.loads(store.get_bytes(keys.feed_manifest_key(RunId(CRASHED), "synth")))
    assert crashed["status"] == "interrupted" and len(crashed["urls"]) == 6
    assert {(o["outcome"], o["reason"]) for o in crashed["urls"]} == {("failed", "interrupted")}
    assert_archive_consistent(store)


def test_gc_reports_records_no_manifest_entry_names_and_keeps_them(tmp_path, site_server, capsys):
    """An archive written before a failed entry named the WARC its raw records stayed in: gc lists those
    records (it does not rewrite WARCs; a takedown of the URL removes them)."""
    archive = folder_archive(tmp_path, site_server, 6)
    store, victim = archive.store, archive.urls[0]
    blocked = archive.block(keys.clean_segment_key("synth", RunId(CRASHED), 0))
    run_crawl(archive.registry, None, "--run-id", CRASHED, expect_exit=1)
    blocked.rmdir()
    key = keys.feed_manifest_key(RunId(CRASHED), "synth")
    manifest = json.loads(store.get_bytes(key))
    (entry,) = [o for o in manifest["urls"] if o["url"] == victim]
    warc = entry.pop("warc_key")
    store.put_bytes(key, json.dumps(manifest).encode())
    before = {o.key: o.etag for o in store.list("")}

    summary = gc(archive.registry, capsys, "--grace-hours", "0")
    assert summary["objects"] == 0 and summary["orphan_records"] == [
        f"{warc}: 1 response record(s) no manifest entry names"
    ]
    assert {o.key for o in store.list("")} == set(before)
    capsys.readouterr()
    assert cli.main(["--registry", str(archive.registry), "gc", "--dry-run"]) == 0
    assert "1 WARC(s) with orphan records reported" in capsys.readouterr().out
