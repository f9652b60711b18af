"""Big feeds are sharded: a feed with ``shards: K`` is crawled as K crawls (any worker, concurrently), each taking
the entries whose normalised URL hashes to it, with its own WARCs (a serial block of its own) and clean records;
the commit merges the shard manifests into the feed manifest. Every entry ends with exactly one outcome, no URL
is archived twice, and the seen state keeps every shard's snapshots although the shards save it concurrently."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from feedvault import keys
from feedvault.archive.check import ARCHIVED
from feedvault.config import load_registry
from feedvault.crawl.plan import RunPlan, Shard
from feedvault.crawl.runner import finalize_run, merge_shards
from feedvault.crawl.seen_state import SeenState
from feedvault.demo.server import SiteServer
from feedvault.store.backends import Store
from tests.support.checks import assert_archive_consistent
from tests.support.crawl import REPO, crawl_env, feed, short_tmpdir, write_registry
from tests.support.s3 import fresh_archive

RUN = "20261126T020000Z-sharded"
PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Harbour note {i}</title></head>
<body><header><nav><a href="/">Home</a></nav></header><main><article><h1>Harbour note {i}</h1>
<p>The harbour board met on day {i} to discuss the mooring fees for small fishing boats and the new pontoon.</p>
<p>Members agreed that note {i} would be published in full so residents can follow the decision closely.</p>
<p>A second reading is planned once the survey of the eastern quay, item {i} on the agenda, has finished.</p>
</article></main><footer>Harbour Gazette</footer></body></html>"""


def big_site(root: Path, entries: int) -> list[str]:
    """A site whose sitemap lists ``entries`` small article pages; returns their paths."""
    paths = [f"/notes/{i // 1000}/note-{i}.html" for i in range(entries)]
    for i, path in enumerate(paths):
        file = root / path.lstrip("/")
        file.parent.mkdir(parents=True, exist_ok=True)
        file.write_text(PAGE.format(i=i))
    urls = "".join(f"<url><loc>{{{{BASE_URL}}}}{p}</loc><lastmod>2026-11-25</lastmod></url>" for p in paths)
    (root / "sitemap.xml").write_text(
        f'<?xml version="1.0" encoding="UTF-8"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{urls}</urlset>'
    )
    (root / "robots.txt").write_text("User-agent: *\nAllow: /\n")
    return paths


def crawl_shards(registry: Path, credentials, tmpdir: Path, shards: list[int], count: int, workers: int) -> list[int]:
    """Crawl the given shards of feed ``big`` as separate processes, ``workers`` at a time; their exit codes."""
    plans = [RunPlan.build(run_id=RUN, feeds=["big"], write_run_manifest=False, shard=Shard(index=i, count=count))
             for i in shards]  # fmt: skip
    pending, running, codes = list(plans), [], []
    try:
        while pending or running:
            while pending and len(running) < workers:
                running.append(_start_shard(registry, credentials, tmpdir, pending.pop(0)))
            running[0].wait(timeout=3600)
            codes.append(running.pop(0).returncode)
    finally:
        for proc in running:  # a failed or timed-out test leaves no crawl behind
            proc.kill()
            proc.wait()
    return codes


def _start_shard(registry: Path, credentials, tmpdir: Path, plan: RunPlan) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "feedvault.crawl", "--registry", str(registry), "--log-level", "WARNING"]
    with (tmpdir / f"shard-{plan.shard.index}.log").open("a") as log:
        return subprocess.Popen(
            [*cmd, "--plan-json", plan.model_dump_json()],
            cwd=REPO,
            stdout=log,
            stderr=log,
            env=crawl_env(credentials, TMPDIR=str(tmpdir)),
        )


def commit(store: Store, registry: Path, count: int) -> dict:
    """What the run's finalize task does for a sharded feed: merge, then write the run manifest."""
    summary = merge_shards(store, keys.RunId(RUN), "big", count)
    finalize_run(
        store,
        load_registry(registry),
        run_id=keys.RunId(RUN),
        started_at=keys.RunId(RUN).started,
        feed_summaries=[summary],
        trigger="test",
        options={"feeds": ["big"]},
    )
    return json.loads(store.get_bytes(keys.feed_manifest_key(keys.RunId(RUN), "big")))


def assert_each_entry_once(store: Store, manifest: dict, urls: list[str]) -> None:
    articles = [o for o in manifest["urls"] if o.get("role", "article") == "article"]
    assert Counter(o["url"] for o in articles) == Counter(urls), "every entry has exactly one outcome"
    archived = [o for o in articles if o["outcome"] in ARCHIVED]
    assert not [o for o in articles if o["outcome"] not in ARCHIVED]
    assert len(archived) == len(urls) and len({o["clean_key"] for o in archived}) == len(urls)
    assert not list(store.list(keys.run_prefix(keys.RunId(RUN)) + "shards/")), "shard manifests merged away"
    state = SeenState.load(store, "big")
    snapshots = Counter(s.run_id for entry in state.urls.values() for s in entry.snapshots)
    assert snapshots == {RUN: len(urls)}, "every shard's snapshots survive the others' concurrent saves"


def setup_feed(
    tmp_path: Path, seaweed, entries: int, count: int, **feed_options
) -> tuple[SiteServer, Path, Store, list[str]]:
    paths = big_site(tmp_path / "site", entries)
    server = SiteServer(tmp_path / "site").start()
    storage, store = fresh_archive(seaweed, tmp_path / "data")
    registry = write_registry(
        tmp_path / "feeds.yaml",
        storage,
        [feed("big", server.url("/sitemap.xml"), shards=count, **feed_options)],
        max_new_entries_per_run=2 * entries,  # a shard takes its share of the cap; hash shares are not exact
        extract_workers=1,
    )
    return server, registry, store, [server.url(p) for p in paths]


def test_a_retried_shard_replaces_only_its_own_part_and_the_commit_merges_every_entry_once(tmp_path, seaweed):
    server, registry, store, urls = setup_feed(tmp_path, seaweed, 120, 2)
    try:
        with short_tmpdir() as tmpdir:
            assert crawl_shards(registry, seaweed.credentials, tmpdir, [0, 1, 0], 2, workers=1) == [0, 0, 0]
        warcs = [o.key for o in store.list("raw/big/") if o.key.endswith(".warc.gz")]
        assert {keys.shard_of_warc(k) for k in warcs} == {0, 1}, "each shard writes its own serial block"
        assert_each_entry_once(store, commit(store, registry, 2), urls)
        assert_archive_consistent(store)
    finally:
        server.stop()


@pytest.mark.slow
@pytest.mark.timeout(3600)
def test_a_sitemap_of_20k_entries_in_4_shards_over_2_workers_archives_each_entry_once(tmp_path, seaweed):
    server, registry, store, urls = setup_feed(tmp_path, seaweed, 20_000, 4)
    try:
        with short_tmpdir() as tmpdir:
            assert crawl_shards(registry, seaweed.credentials, tmpdir, [0, 1, 2, 3], 4, workers=2) == [0, 0, 0, 0]
        assert_each_entry_once(store, commit(store, registry, 4), urls)
    finally:
        server.stop()


def test_the_nightly_dag_maps_a_task_per_shard_and_commits_the_feed_once(tmp_path, seaweed, airflow_env):
    """Under Airflow each shard is a mapped task of its own (any worker); finalize merges them into one feed."""
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session

    from tests.support.airflow import load_dag

    server, registry, store, urls = setup_feed(tmp_path, seaweed, 60, 2)
    try:
        airflow_env(registry)
        dag_run = load_dag().test(logical_date=dt.datetime(2026, 11, 26, 2, 0, tzinfo=dt.UTC))
        with create_session() as session:
            tis = session.query(TaskInstance).filter_by(dag_id=dag_run.dag_id, run_id=dag_run.run_id).all()
            crawls = {
                ti.map_index: (str(ti.state), ti.rendered_map_index) for ti in tis if ti.task_id == "archive_feed"
            }
        assert dag_run.state == "success"
        assert crawls == {0: ("success", "big@0/2"), 1: ("success", "big@1/2")}
        run = keys.RunId("20261126T020000Z-airflow")
        manifest = json.loads(store.get_bytes(keys.run_manifest_key(run)))
        assert [(f["feed"], f["counts"]["new"]) for f in manifest["feeds"]] == [("big", 60)]
        feed_manifest = json.loads(store.get_bytes(keys.feed_manifest_key(run, "big")))
        articles = [o["url"] for o in feed_manifest["urls"] if o.get("role", "article") == "article"]
        assert Counter(articles) == Counter(urls)
        assert_archive_consistent(store)
    finally:
        server.stop()


def test_a_feed_that_outgrew_its_threshold_is_sharded_from_the_next_nightly_run(tmp_path, seaweed, airflow_env):
    """No shard count in the registry: the first run of a feed is one task; it listed more entries than its
    ``entries_per_shard``, so the next run's plan maps it over ceil(entries / threshold) shards."""
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session

    from tests.support.airflow import load_dag

    server, registry, store, urls = setup_feed(tmp_path, seaweed, 50, 1, entries_per_shard=20)
    try:
        airflow_env(registry)
        dag = load_dag()
        crawls = []
        for day in (26, 27):
            dag_run = dag.test(logical_date=dt.datetime(2026, 11, day, 2, 0, tzinfo=dt.UTC))
            assert dag_run.state == "success"
            with create_session() as session:
                tis = session.query(TaskInstance).filter_by(dag_id=dag_run.dag_id, run_id=dag_run.run_id).all()
                crawls.append(sorted(ti.rendered_map_index or "" for ti in tis if ti.task_id == "archive_feed"))
        assert crawls == [["big"], ["big@0/3", "big@1/3", "big@2/3"]]
        second = json.loads(store.get_bytes(keys.feed_manifest_key(keys.RunId("20261127T020000Z-airflow"), "big")))
        articles = [o["url"] for o in second["urls"] if o.get("role", "article") == "article"]
        assert Counter(articles) == Counter(urls), "the shards together gave every entry one outcome"
        assert_archive_consistent(store)
    finally:
        server.stop()


def test_a_shard_waits_its_share_of_the_robots_crawl_delay(tmp_path, seaweed):
    server, registry, store, _urls = setup_feed(tmp_path, seaweed, 12, 3)
    (tmp_path / "site" / "robots.txt").write_text("User-agent: *\nAllow: /\nCrawl-delay: 0.05\n")
    try:
        with short_tmpdir() as tmpdir:
            assert crawl_shards(registry, seaweed.credentials, tmpdir, [1], 3, workers=1) == [0]
        shard = json.loads(store.get_bytes(keys.shard_manifest_key(keys.RunId(RUN), "big", 1)))
        (evidence,) = shard["robots"].values()
        assert evidence["crawl_delay_applied"] == pytest.approx(0.15), "three shards share the feed's rate"
    finally:
        server.stop()


def test_a_canonical_url_another_shard_owns_is_not_archived_by_two_shards(tmp_path, seaweed):
    """A page may name another URL as its canonical one; when another shard owns that URL (and archives it),
    the page keeps its own URL: no URL is written by two shards."""
    server, registry, store, urls = setup_feed(tmp_path, seaweed, 40, 2)
    try:
        owner = {u: Shard(index=0, count=2).owns(u) for u in urls}
        target = next(u for u in urls if owner[u])  # in shard 0
        variant = next(u for u in urls if not owner[u])  # in shard 1, declaring the shard-0 page canonical
        page = (tmp_path / "site" / variant.removeprefix(server.base_url).lstrip("/")).read_text()
        server.set_route(
            variant.removeprefix(server.base_url),
            {"body": page.replace("</head>", f'<link rel="canonical" href="{target}"></head>')},
        )
        with short_tmpdir() as tmpdir:
            assert crawl_shards(registry, seaweed.credentials, tmpdir, [0, 1], 2, workers=2) == [0, 0]
        assert_each_entry_once(store, commit(store, registry, 2), urls)
        assert_archive_consistent(store)
    finally:
        server.stop()
