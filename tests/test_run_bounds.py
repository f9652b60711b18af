"""Bounded, duplicate-free runs: the baseline whatever the run ids' order, entry caps, one snapshot per article."""

from __future__ import annotations

import json

from tests.support.checks import assert_archive_consistent
from tests.support.crawl import feed_summary, run_crawl
from tests.test_archive_e2e import folder_archive, keys_under

MANUAL, SCHEDULED, BACKFILL = "20261126T143000Z-manual", "20261126T020000Z-scheduled", "20261101T020000Z-backfill"


def outcomes(archive, summary, feed_id="synth"):
    manifest = json.loads(archive.store.get_bytes(feed_summary(summary, feed_id)["manifest_key"]))
    return {o["url"]: o for o in manifest["urls"]}


def test_a_run_whose_id_sorts_first_does_not_archive_unchanged_articles_again(tmp_path, site_server):
    """The scheduled 02:00 run after manual runs of the same day, and a backfill of an old logical date, compare
    with the newest snapshot whatever its run id: unchanged articles stay one snapshot."""
    archive = folder_archive(tmp_path, site_server, 6)
    first = run_crawl(archive.registry, None, "--run-id", MANUAL)
    assert first["totals"]["new"] == 6
    archived = keys_under(archive.store, "raw/", "clean/")

    for run_id in (SCHEDULED, BACKFILL):
        summary = run_crawl(archive.registry, None, "--run-id", run_id)
        assert summary["totals"]["new"] == summary["totals"]["changed"] == 0, summary["feeds"]
        assert {o["outcome"] for o in outcomes(archive, summary).values()} == {"unchanged"}
        assert keys_under(archive.store, "raw/", "clean/") == archived
    assert_archive_consistent(archive.store)
