"""Re-clean from raw (feedvault.archive.reclean): a real crawl into SeaweedFS, then `feedvault reclean` with today's rules
and fingerprints: new versions beside the old ones, the catalog's history, the decision taken again."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from feedvault import cli, keys
from feedvault.archive.clean_segments import read_clean_record
from feedvault.archive.warc import RecordLocation, read_record
from feedvault.catalog import open_catalog
from feedvault.cleaning.fingerprints import REASON
from feedvault.permission.takedown import MARKER
from tests.support.checks import assert_archive_consistent, stored_clean_records
from tests.support.crawl import PERMISSION, feed, feed_summary, run_crawl, write_registry
from tests.support.portal import PROMO, QUOTE, article, write_portal

DAY = dt.datetime(2026, 11, 24, 8, tzinfo=dt.UTC)
RUN = "20261127T020000Z-first"
NOTICE = "Kode lisensi WP-AI-7"  # no built-in rule knows it; a per-feed rights pattern added later does
PUBLIC = {**PERMISSION, "basis": "public-feed-terms"}


def keys_under(store, prefix=""):
    return {obj.key for obj in store.list(prefix)}


@pytest.fixture
def archived(tmp_path, site_server, s3_storage, s3_store, monkeypatch):
    """One crawl of a six-article portal (one article ends with NOTICE), fingerprints learned from it."""
    site = tmp_path / "site"
    articles = [article(n, DAY + dt.timedelta(days=n % 3)) for n in range(5)]
    articles.append(article(5, DAY, (PROMO, QUOTE, NOTICE)))
    feed_path = write_portal(site, articles)
    server = site_server(site)
    storage, credentials = s3_storage
    storage = storage.model_copy(update={"data_dir": str(tmp_path / "data")})
    registry_path = tmp_path / "feeds.yaml"

    def registry(segment_bytes: int | None = None, **cleaning):
        entry = feed("warta", server.url(feed_path), language="id", permission=PUBLIC, cleaning=cleaning)
        rolled = storage.model_copy(update={"clean_segment_max_bytes": segment_bytes}) if segment_bytes else storage
        return write_registry(registry_path, rolled, [entry], learned_boilerplate={"min_runs": 1})

    first = run_crawl(registry(), credentials, "--run-id", RUN)
    assert feed_summary(first, "warta")["counts"]["new"] == 6, first["feeds"]
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", credentials.access_key_id)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", credentials.secret_access_key)
    manifest = json.loads(s3_store.get_bytes(feed_summary(first, "warta")["manifest_key"]))
    old = {u["url"]: u["clean_key"] for u in manifest["urls"] if u.get("clean_key")}
    return registry, old, {a.path: server.url(a.path) for a in articles}, tmp_path


def reclean(registry_path, capsys, *args):
    code = cli.main(["--registry", str(registry_path), "reclean", "--feed", "warta", *args])
    return code, capsys.readouterr().out


def test_reclean_writes_new_versions_with_todays_fingerprints_and_keeps_the_old_ones(archived, s3_store, capsys):
    registry, old, urls, tmp_path = archived
    code, out = reclean(registry(), capsys)
    assert code == 0, out
    run_manifests = [k for k in keys_under(s3_store, "runs/") if k.endswith("-reclean/manifest.json")]
    assert len(run_manifests) == 1
    manifest = json.loads(s3_store.get_bytes(run_manifests[0]))
    assert manifest["trigger"] == "reclean" and manifest["totals"]["changed"] == 6, manifest
    assert "warta: ok; 6 changed" in out and out.count("changed   http") == 6

    feed_manifest = json.loads(s3_store.get_bytes(manifest["feeds"][0]["manifest_key"]))
    for entry in feed_manifest["urls"]:
        assert entry["outcome"] == "changed" and entry["reason"] == "reclean"
        segment = keys.parse_clean_pointer(entry["clean_key"]).key  # new versions sit in the run's clean segments
        assert f"{manifest['run_id']}-" in segment and segment.endswith(keys.CLEAN_SEGMENT_SUFFIX)
        record = read_clean_record(s3_store, entry["clean_key"])
        assert PROMO not in record["text"] and QUOTE in record["text"]
        assert any(r["reason"] == REASON and r["line"] == PROMO for r in record["removed"])
        assert record["recleaned_from"] == {"clean_key": old[entry["url"]], "run_id": RUN}
        assert PROMO in read_clean_record(s3_store, old[entry["url"]])["text"]  # the old version stays
        raw = record["raw"]
        view = read_record(
            s3_store, RecordLocation(raw["warc_key"], raw["offset"], raw["length"], raw["record_id"], raw["sha256"])
        )
        assert b"Warta Pesisir" in view.payload  # one ranged GET still returns the raw page

    url = urls[article(1, DAY).path]
    with open_catalog(s3_store, tmp_path / "reader") as catalog:
        history = catalog.history(url)
        assert [h.run_id for h in history] == [RUN, manifest["run_id"]]  # both versions, newest last
        assert PROMO not in catalog.snapshot(history[-1].id).text
    assert_archive_consistent(s3_store)


def test_reclean_again_finds_nothing_changed_and_a_dry_run_writes_nothing(archived, s3_store, capsys):
    registry, _old, _urls, _tmp = archived
    assert reclean(registry(), capsys)[0] == 0
    before = keys_under(s3_store)
    code, out = reclean(registry(), capsys, "--dry-run")
    assert code == 0 and "0 changed" in out and "6 unchanged" in out, out
    assert keys_under(s3_store) == before


def test_reclean_selects_captures_by_the_day_they_were_fetched(archived, s3_store, capsys):
    registry, _old, _urls, _tmp = archived
    code, out = reclean(registry(), capsys, "--dry-run", "--from", "2026-11-28")
    assert code == 0 and "0 changed" in out and "0 unchanged" in out, out
    code, out = reclean(registry(), capsys, "--dry-run", "--from", "2026-11-27", "--to", "2026-11-27")
    assert code == 0 and "6 changed (would write new versions)" in out, out


def test_a_page_now_found_to_carry_a_notice_keeps_no_copy(archived, s3_store, capsys):
    registry, _old, urls, tmp_path = archived
    noticed = urls[article(5, DAY).path]
    before = keys_under(s3_store)
    code, out = reclean(registry(rights_patterns=[f"^{NOTICE}$"]), capsys, "--dry-run", "--json")
    dry = json.loads(out)["url_outcomes"]["warta"]
    [refused] = [u for u in dry if u["outcome"] == "refused"]
    assert refused["url"] == noticed and refused["evidence"]["decision"] == "refuse"
    assert any(s.get("value") == NOTICE for s in refused["evidence"]["signals"])
    assert keys_under(s3_store) == before  # a dry run takes nothing down

    code, out = reclean(registry(rights_patterns=[f"^{NOTICE}$"]), capsys)
    assert code == 0, out
    assert (
        "5 changed" in out and "1 refused now" in out and f"taken down (the decision now refuses it): {noticed}" in out
    )
    run_manifest = next(k for k in keys_under(s3_store, "runs/") if k.endswith("-reclean/manifest.json"))
    feed_manifest = json.loads(
        s3_store.get_bytes(json.loads(s3_store.get_bytes(run_manifest))["feeds"][0]["manifest_key"])
    )
    refused = [u for u in feed_manifest["urls"] if u["outcome"] == "refused"]
    assert refused == [
        {
            "url": MARKER,
            "outcome": "refused",
            "reason": "rights-notice",
            "detail": "taken down: see its tombstone",
            "role": "article",
        }
    ]
    tombstone = json.loads(s3_store.get_bytes(keys.tombstone_key(noticed)))
    assert tombstone["reason"].startswith("reclean: rights-notice") and NOTICE in tombstone["reason"]
    # No copy is kept: its clean record is gone, its URL tombstoned, and the catalog lists nothing of it.
    assert noticed not in {record["url"] for record in stored_clean_records(s3_store).values()}
    # The other captures of the rewritten WARC still point at their records.
    for entry in feed_manifest["urls"]:
        if entry["outcome"] == "changed":
            raw = read_clean_record(s3_store, entry["clean_key"])["raw"]
            location = RecordLocation(raw["warc_key"], raw["offset"], raw["length"], raw["record_id"], raw["sha256"])
            assert read_record(s3_store, location).payload
    with open_catalog(s3_store, tmp_path / "reader") as catalog:
        assert catalog.history(noticed) == []
        assert len(catalog.history(urls[article(1, DAY).path])) == 2
    assert_archive_consistent(s3_store)


def test_a_later_takedown_repairs_the_raw_pointers_of_recleaned_versions(archived, s3_store, capsys):
    registry, _old, urls, _tmp = archived
    assert reclean(registry(segment_bytes=1), capsys)[0] == 0  # a segment per version: most hold no taken-down URL
    recleaned = {p: r for p, r in stored_clean_records(s3_store).items() if "-reclean-" in p}
    assert len({keys.parse_clean_pointer(p).key for p in recleaned}) == 6, "one reclean segment per new version"
    taken_down = {urls[article(0, DAY).path], urls[article(2, DAY).path]}
    for url in sorted(taken_down):
        args = ["--registry", str(registry()), "takedown", "--url", url, "--reason", "publisher request"]
        assert cli.main(args) == 0, capsys.readouterr()
    after = stored_clean_records(s3_store)
    assert {r["url"] for r in after.values()}.isdisjoint(taken_down), "every version of a taken-down URL is gone"
    moved = [p for p, r in recleaned.items() if r["url"] not in taken_down and after[p]["raw"] != r["raw"]]
    assert moved, "the takedown rewrote a WARC the recleaned versions point into"
    for record in after.values():  # the reclean's versions and the crawl's own records: every raw pointer repaired
        raw = record["raw"]
        location = RecordLocation(raw["warc_key"], raw["offset"], raw["length"], raw["record_id"], raw["sha256"])
        assert read_record(s3_store, location).payload
    assert_archive_consistent(s3_store)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--from", "2026-11-28", "--to", "2026-11-27"], "--from 2026-11-28 is after --to 2026-11-27"),
        (["--run-id", "20261201T020000Z-nightly"], "a reclean run id ends with -reclean"),
        (["--run-id", "yesterday"], "invalid run id"),
    ],
)
def test_bad_reclean_arguments_exit_2_with_one_line_and_touch_nothing(args, message, tmp_path, capsys):
    registry = tmp_path / "absent.yaml"  # never opened: the arguments are refused first
    assert cli.main(["--registry", str(registry), "reclean", *args]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1, err


def test_clean_explain_with_the_feeds_learned_lines_names_repeated_in_feed(archived, capsys, monkeypatch):
    import io
    import sys

    from tests.support.portal import _page

    registry, _old, _urls, _tmp = archived
    page = _page(article(77, DAY)).encode()
    command = ["--registry", str(registry()), "clean", "--feed", "warta", "--explain"]
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(page)))
    assert cli.main(command) == 0
    assert PROMO in capsys.readouterr().out.split("-- removed")[0]  # without --learned: the rules alone
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(page)))
    assert cli.main([*command, "--learned"]) == 0
    text, explained = capsys.readouterr().out.split("-- removed")
    assert PROMO not in text and QUOTE in text
    assert f"learned | learned.repeated-line | repeated-in-feed | {PROMO}" in explained


def test_sources_are_the_newest_version_of_each_capture_in_range_and_clean_only_ones_are_named(tmp_path):
    from feedvault.archive.reclean import RecleanOptions, Source, find_sources
    from feedvault.keys import RunId
    from feedvault.store.backends import FileStore

    store = FileStore(tmp_path)
    first, recleaned, later = (
        RunId("20261120T020000Z-airflow"),
        RunId("20261125T020000Z-reclean"),
        RunId("20261126T020000Z-airflow"),
    )
    warc_first, warc_later = keys.raw_warc_key("f", first, 0), keys.raw_warc_key("f", later, 0)
    one, two = "http://127.0.0.1:9/one.html", "http://127.0.0.1:9/two.html"
    entries = {
        first: [
            {"url": one, "outcome": "new", "clean_key": "c/first-one", "warc_key": warc_first},
            {"url": two, "outcome": "new", "clean_key": "c/first-two"},  # kept clean-only
        ],
        recleaned: [{"url": one, "outcome": "changed", "clean_key": "c/reclean-one", "warc_key": warc_first}],
        later: [
            {"url": one, "outcome": "changed", "clean_key": "c/later-one", "warc_key": warc_later},
            {"url": two, "outcome": "refused"},
        ],
    }
    for run, urls in entries.items():
        store.put_bytes(keys.run_manifest_key(run), b"{}")
        store.put_bytes(keys.feed_manifest_key(run, "f"), json.dumps({"feed": "f", "urls": urls}).encode())
    store.put_bytes(
        keys.feed_manifest_key(RunId("20261121T020000Z-airflow"), "f"), b"{}"
    )  # uncommitted: no run manifest

    day = dt.date(2026, 11, 20)
    assert find_sources(store, ["f"], RecleanOptions(day_from=day, day_to=day)) == {
        "f": [Source(one, "c/reclean-one", warc_first), Source(two, "c/first-two", "")]
    }
    assert find_sources(store, ["f"], RecleanOptions(day_from=day + dt.timedelta(days=1))) == {
        "f": [Source(one, "c/later-one", warc_later)]
    }


def test_a_reclean_segment_that_fails_to_upload_fails_its_versions_and_leaves_the_old_ones(
    archived, s3_store, monkeypatch
):
    """The archive refuses the second of three segments: its versions' entries fail (reason
    clean-upload-failed) and name no pointer; the other versions commit; every old version stays readable."""
    from feedvault.archive.reclean import reclean as reclean_archive
    from feedvault.config import load_registry
    from feedvault.crawl.plan import RecleanOptions
    from feedvault.store.backends import StorageError

    registry, old, _urls, _tmp = archived
    real_put_file, uploads = type(s3_store).put_file, []

    def put_file(self, key, path, content_type="application/octet-stream"):
        uploads.append(key)
        if key.endswith(keys.CLEAN_SEGMENT_SUFFIX) and len(uploads) == 2:
            raise StorageError(f"S3 PutObject on {key} failed: InternalError (injected)")
        return real_put_file(self, key, path, content_type)

    monkeypatch.setattr(type(s3_store), "put_file", put_file)
    # Three versions per segment (the members of this portal's pages are about 1.5 KB): 6 versions, 2 segments.
    result = reclean_archive(load_registry(registry(segment_bytes=3000)), s3_store, RecleanOptions(feed_ids=("warta",)))
    monkeypatch.undo()
    entries = json.loads(s3_store.get_bytes(result.manifest["feeds"][0]["manifest_key"]))["urls"]
    failed = [e for e in entries if e["outcome"] == "failed"]
    changed = [e for e in entries if e["outcome"] == "changed"]
    assert failed and changed and len(failed) + len(changed) == 6, entries
    assert {e["reason"] for e in failed} == {"clean-upload-failed"} and not any(e.get("clean_key") for e in failed)
    assert result.manifest["feeds"][0]["status"] == "failed" and result.exit_code != 0  # the operator hears of it
    assert "never reached the archive" in result.manifest["feeds"][0]["error"]
    for entry in changed:
        assert read_clean_record(s3_store, entry["clean_key"])["recleaned_from"]["clean_key"] == old[entry["url"]]
    for pointer in old.values():
        assert read_clean_record(s3_store, pointer)["url"]
    assert_archive_consistent(s3_store)
