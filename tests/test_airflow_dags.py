"""The feedvault Airflow DAG: parsing, and real runs with ``dag.test()`` against the demo publisher and SeaweedFS.

Every run uses the ``feedvault_s3`` connection (an ``AIRFLOW_CONN_*`` variable) while the registry names an
unreachable endpoint, so a run that succeeds proves the connection was used.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from feedvault.config import BUNDLED_REGISTRY, StorageSettings, parse_registry
from feedvault.store.backends import S3Store, open_store
from tests.support.airflow import DAGS, load_dag
from tests.support.checks import stored_clean_records
from tests.support.crawl import REPO, feed, run_crawl, write_registry
from tests.support.listeners import (
    StatsdListener,
    airflow_statsd_env,
    reset_airflow_stats,
    statsd_listener,
    webhook_listener,
)
from tests.support.s3 import fresh_bucket

NIGHT = dt.datetime(2026, 11, 26, 2, 0, tzinfo=dt.UTC)
NIGHT_RUN = "20261126T020000Z-airflow"
UNREACHABLE = "http://127.0.0.1:9"  # the registry's own endpoint: only the connection's works


# -- helpers ------------------------------------------------------------------------------------------------
def demo_feeds(base_url: str) -> list[dict[str, Any]]:
    """The bundled registry's feeds, pointing at a demo publisher served on ``base_url``."""
    bundled = parse_registry(yaml.safe_load(BUNDLED_REGISTRY.read_text()), env={"FEEDVAULT_DEMO_URL": base_url})
    return [f.model_dump(mode="json", exclude_defaults=True) for f in bundled.feeds]


def bucket_store(seaweed: Any, endpoint_url: str | None = None) -> tuple[StorageSettings, S3Store]:
    """A fresh bucket; the returned settings point at ``endpoint_url`` (default: the real server)."""
    real = StorageSettings(uri=f"s3://{fresh_bucket()}/archive", endpoint_url=seaweed.endpoint_url, max_attempts=2)
    store = open_store(real, seaweed.credentials)
    assert isinstance(store, S3Store)
    store.ensure_bucket()
    return real.model_copy(update={"endpoint_url": endpoint_url or seaweed.endpoint_url}), store


PIECE_VERSION = re.compile(r"^(catalog/pieces/[^/]+/)[0-9a-f]+(\.sqlite)$")


def keys(store: S3Store, prefix: str = "") -> set[str]:
    return {obj.key for obj in store.list(prefix)}


def comparable_keys(store: S3Store) -> set[str]:
    """The store's keys, a catalog piece's content-hash version left out (its rows carry run times)."""
    return {PIECE_VERSION.sub(r"\1<version>\2", key) for key in keys(store)}


def piece_count(store: S3Store) -> int:
    return sum(1 for obj in store.list("catalog/pieces/"))


def run_dag(logical_date: dt.datetime | None = NIGHT, **conf: Any) -> Any:
    """``dag.test()`` of a freshly parsed nightly DAG; returns the finished DagRun."""
    dag = load_dag()
    return dag.test(logical_date=logical_date, run_conf=conf or None)


def task_states(dag_run: Any) -> dict[str, str]:
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session

    with create_session() as session:
        tis = session.query(TaskInstance).filter_by(dag_id=dag_run.dag_id, run_id=dag_run.run_id).all()
        return {ti.task_id + (f"[{ti.map_index}]" if ti.map_index >= 0 else ""): str(ti.state) for ti in tis}


def xcoms(dag_run: Any) -> list[tuple[str, int, str, Any]]:
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        rows = session.query(XComModel).filter_by(dag_id=dag_run.dag_id, run_id=dag_run.run_id).all()
        return [(r.task_id, r.map_index, r.key, r.value) for r in rows]


def summaries(dag_run: Any) -> dict[str, dict[str, Any]]:
    found = [json.loads(v) if isinstance(v, str) else v for t, _i, k, v in xcoms(dag_run) if k == "summary"]
    return {s["feed"]: s for s in found}


def run_manifest(store: S3Store, run_id: str) -> dict[str, Any]:
    [key] = [k for k in keys(store, "runs/") if k.endswith(f"/{run_id}/manifest.json")]
    return json.loads(store.get_bytes(key))


@pytest.fixture
def demo(tmp_path: Path, site_server: Any, seaweed: Any, airflow_env: Any) -> tuple[Path, S3Store]:
    """The demo publisher served, a registry of its feeds on a fresh bucket, Airflow pointed at both."""
    server = site_server("demo")
    storage, store = bucket_store(seaweed, UNREACHABLE)
    registry = write_registry(tmp_path / "feeds.yaml", storage, demo_feeds(server.base_url))
    airflow_env(registry)
    return registry, store


# -- parsing ------------------------------------------------------------------------------------------------
def test_dag_folder_imports_without_errors_and_light(airflow_db: Path, tmp_path: Path, monkeypatch):
    registry = write_registry(
        tmp_path / "feeds.yaml",
        StorageSettings(uri="s3://nightly-bucket/archive"),
        [feed("alpha", "http://127.0.0.1:1/feed.xml"), feed("beta", "http://127.0.0.1:1/b.xml", enabled=False)],
        schedule="30 3 * * *",
        timezone="Asia/Jakarta",
    )
    monkeypatch.setenv("FEEDVAULT_REGISTRY", str(registry))
    dag = load_dag()
    assert dag.catchup is False and dag.max_active_runs == 1
    assert dag.timetable.expression == "30 3 * * *" and str(dag.timetable.timezone) == "Asia/Jakarta"
    assert set(dag.params) == {"feeds", "since", "force", "dry_run", "reclean", "reclean_from", "reclean_to"}
    assert dag.params.get_param("feeds").schema["examples"] == ["alpha"]  # the form offers enabled feeds
    assert dag.params.get_param("since").schema["format"] == "date"
    crawl = dag.get_task("archive_feed")
    assert crawl.pool == "feedvault" and crawl.retries >= 1 and crawl.retry_exponential_backoff
    assert crawl.on_failure_callback
    assert dag.get_task("finalize").trigger_rule == "all_done"
    [asset] = dag.get_task("publish").outlets
    assert asset.name == "feedvault_archive" and asset.uri == "feedvault://archive/"
    assert "s3://nightly-bucket/archive" in dag.description

    # Parse cost in a fresh interpreter: Airflow itself is paid once per DAG processor; the file must add little
    # and pull in none of feedvault's heavy parts (boto3 is not checked: Airflow's amazon provider loads it for
    # any Asset, and airflow.sdk itself loads twisted).
    probe = (
        "import sys, time, runpy; import airflow.sdk; t = time.perf_counter(); "
        f"runpy.run_path({str(DAGS / 'feedvault_nightly.py')!r}); print(round(time.perf_counter() - t, 3)); "
        "heavy = ('scrapy', 'trafilatura', 'feedvault.crawl.runner', 'feedvault.store.backends', 'feedvault.store.seaweed', 'lxml'); "
        "print(sorted(m for m in heavy if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout.split("\n")
    print(f"DAG file import time (after airflow.sdk): {out[0]} s")
    assert out[1] == "[]", f"heavy modules imported at parse time: {out[1]}"


def test_unparseable_registry_still_loads_the_dag(airflow_db: Path, tmp_path: Path, monkeypatch):
    bad = tmp_path / "bad.yaml"
    bad.write_text("feeds: [{id: 'Not An Id'}]\n")
    monkeypatch.setenv("FEEDVAULT_REGISTRY", str(bad))
    dag = load_dag()
    assert dag.timetable.expression == "0 2 * * *"  # defaults; the run's first task reports the registry error


# -- runs ---------------------------------------------------------------------------------------------------
def asset_events(dag_run: Any) -> list[dict[str, Any]]:
    from airflow.models.asset import AssetEvent
    from airflow.utils.session import create_session

    with create_session() as session:
        events = session.query(AssetEvent).filter_by(source_dag_id=dag_run.dag_id, source_run_id=dag_run.run_id)
        return [dict(e.extra) for e in events]


def test_nightly_run_archives_the_demo_publisher_like_the_cli(demo, seaweed, tmp_path: Path):
    registry, store = demo
    dag_run = run_dag(NIGHT)
    states = task_states(dag_run)
    assert dag_run.state == "success", states
    assert states == {
        "plan": "success",
        **{f"archive_feed[{i}]": "success" for i in range(3)},
        "reclean": "skipped",  # only a run with the reclean param re-cleans
        "finalize": "success",
        "publish": "success",
        "verdict": "success",
    }
    manifest = run_manifest(store, NIGHT_RUN)
    assert manifest["status"] == "ok" and manifest["trigger"] == "airflow-manual"
    assert all(f["counts"]["new"] > 0 for f in manifest["feeds"]), manifest["feeds"]

    # The CLI on the same registry (another bucket, same run id): the same counts and the same objects.
    cli_storage, cli_store = bucket_store(seaweed)
    cli_feeds = yaml.safe_load(registry.read_text())["feeds"]  # the very same feeds
    cli_registry = write_registry(tmp_path / "cli.yaml", cli_storage, cli_feeds)
    cli = run_crawl(cli_registry, seaweed.credentials, "--run-id", NIGHT_RUN)
    assert {f["feed"]: f["counts"] for f in manifest["feeds"]} == {f["feed"]: f["counts"] for f in cli["feeds"]}
    assert comparable_keys(store) == comparable_keys(cli_store)

    # XCom carries small summaries only: no article text, no clean records.
    for task_id, _index, key, value in xcoms(dag_run):
        size = len(json.dumps(value))
        assert size < 4096 and '"text"' not in json.dumps(value), (task_id, key, size)
    assert set(summaries(dag_run)) == {"demo-id", "demo-en", "demo-news"}

    # Data-aware scheduling: one asset event for the archive, naming the run and its manifest.
    [extra] = asset_events(dag_run)
    assert extra["run_id"] == NIGHT_RUN and extra["status"] == "ok" and extra["failed_feeds"] == []
    assert extra["manifest_key"] == f"runs/2026/11/26/{NIGHT_RUN}/manifest.json"
    assert extra["totals"] == manifest["totals"]


def test_rerunning_a_logical_date_replaces_its_partition(demo):
    _registry, store = demo
    first = run_dag(NIGHT, feeds=["demo-en"])
    assert first.state == "success", task_states(first)
    before = comparable_keys(store)
    again = run_dag(NIGHT, feeds=["demo-en"])  # dag.test clears and re-runs the same logical date
    assert again.state == "success", task_states(again)
    after = comparable_keys(store)
    assert after == before, (after - before, before - after)
    assert piece_count(store) == len([k for k in after if k.startswith("catalog/pieces/")])  # old version gone
    assert [k for k in after if k.startswith("clean/")] and all(NIGHT_RUN in k for k in after if "clean/" in k)


def test_manual_params_subset_dry_run_and_force(demo):
    _registry, store = demo
    dry = run_dag(None, feeds=["demo-en"], dry_run=True)
    assert dry.state == "success", task_states(dry)
    assert keys(store) == set(), "a dry run wrote objects"
    assert summaries(dry)["demo-en"]["counts"]["new"] > 0  # it reports what it would have written
    assert task_states(dry)["publish"] == "skipped" and not asset_events(dry)  # no new archive, no event

    subset = run_dag(NIGHT, feeds=["demo-en"])
    assert subset.state == "success", task_states(subset)
    assert {k.split("/")[1] for k in keys(store, "clean/")} == {"demo-en"}
    assert set(summaries(subset)) == {"demo-en"}
    first_clean = keys(store, "clean/")

    later = NIGHT + dt.timedelta(days=1)
    plain = run_dag(later, feeds=["demo-en"])
    assert plain.state == "success" and keys(store, "clean/") == first_clean  # nothing new to write
    articles = summaries(subset)["demo-en"]["counts"]["new"]  # clean records sit in segments: count articles
    forced = run_dag(later + dt.timedelta(hours=1), feeds=["demo-en"], force=True)
    assert forced.state == "success", task_states(forced)
    # force re-fetches what is not due; identical pages stay unchanged and nothing new is written
    forced_summary = summaries(forced)["demo-en"]
    assert forced_summary["counts"]["unchanged"] == articles and forced_summary["not_due"] == 0, forced_summary
    assert keys(store, "clean/") == first_clean and not keys(store, "raw/demo-en/2026/11/27/")
    forced_options = run_manifest(store, "20261127T030000Z-airflow")["options"]
    assert forced_options == {"feeds": ["demo-en"], "since": None, "dry_run": False, "force": True}


def test_since_param_and_unknown_feeds(demo):
    _registry, store = demo
    future = run_dag(NIGHT, feeds=["demo-en"], since="2099-01-01")
    assert future.state == "success", task_states(future)
    counts = summaries(future)["demo-en"]["counts"]
    assert counts["new"] == 0 and counts["skipped"] > 0  # every entry is older than `since`

    unknown = run_dag(NIGHT, feeds=["demo-en", "no-such-feed", "nope"])
    assert unknown.state == "failed"
    states = task_states(unknown)
    assert states["plan"] == "failed" and states["verdict"] == "upstream_failed", states
    assert keys(store, "clean/") == set()


@pytest.fixture
def webhook() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """A local HTTP endpoint recording the JSON bodies posted to it."""
    with webhook_listener() as endpoint:
        yield endpoint


@pytest.fixture
def statsd() -> Iterator[StatsdListener]:
    """A StatsD server on 127.0.0.1 that Airflow's own metrics client sends to (for this test)."""
    with statsd_listener() as listener, pytest.MonkeyPatch.context() as env:
        for name, value in airflow_statsd_env(listener.port).items():
            env.setenv(name, value)
        reset_airflow_stats()
        yield listener
    reset_airflow_stats()


@pytest.fixture
def failing_run(tmp_path: Path, site_server: Any, seaweed: Any, airflow_env: Any, webhook, statsd):
    """One good feed and one malformed feed, with one retry; returns (dag run, store, webhook bodies)."""
    good, bad = site_server("demo"), site_server("malformed-feed")
    storage, store = bucket_store(seaweed, UNREACHABLE)
    registry = write_registry(
        tmp_path / "feeds.yaml",
        storage,
        [feed("good", f"{good.base_url}/en/atom.xml"), feed("broken", f"{bad.base_url}/feed.xml")],
    )
    url, received = webhook
    airflow_env(registry, FEEDVAULT_ALERT_WEBHOOK=url, FEEDVAULT_TASK_RETRIES="1")
    return run_dag(NIGHT), store, received


def test_one_failing_feed_keeps_the_others_and_fails_the_run(failing_run):
    dag_run, store, _ = failing_run
    states = task_states(dag_run)
    assert dag_run.state == "failed", states
    assert states["archive_feed[0]"] == "success" and states["archive_feed[1]"] == "failed", states
    assert states["finalize"] == "success" and states["verdict"] == "failed", states
    assert {k.split("/")[1] for k in keys(store, "clean/")} == {"good"}
    manifest = run_manifest(store, NIGHT_RUN)
    assert manifest["status"] == "partial"
    by_feed = {f["feed"]: f for f in manifest["feeds"]}
    assert by_feed["good"]["status"] == "ok" and by_feed["good"]["counts"]["new"] > 0
    assert by_feed["broken"]["status"] == "failed" and by_feed["broken"]["error"]
    [extra] = asset_events(dag_run)  # the committed partial run is still announced, flagged
    assert extra["status"] == "partial" and extra["failed_feeds"] == ["broken"]


def test_failure_callback_posts_to_the_webhook(failing_run):
    dag_run, _store, received = failing_run
    health = [body for body in received if body["event"] == "feedvault.health_changed"]
    received = [body for body in received if body["event"] == "feedvault.task_failed"]
    [changed] = health  # the good feed's first run is ok: no alert for it
    assert (changed["feed"], changed["from"], changed["to"]) == ("broken", None, "failing")
    assert changed["dag_run_id"] == dag_run.run_id and "feedvault runs --show" in changed["what_to_do"][0]
    by_task = {(body["task_id"], body["feed"]): body for body in received}
    crawl = by_task[("archive_feed", "broken")]  # after its retry: one alert, not one per attempt
    assert crawl["event"] == "feedvault.task_failed" and crawl["run_id"] == dag_run.run_id
    assert "feed broken failed" in crawl["error"] and crawl["try_number"] == 2
    verdict = by_task[("verdict", None)]
    assert "broken" in verdict["error"] and "1 of 2 feed(s) failed" in verdict["error"]
    assert len(received) == 2, received


def test_no_secret_in_dag_code_logs_xcom_or_archive(demo, seaweed, capfd, caplog):
    _registry, store = demo
    secret = seaweed.credentials.secret_access_key
    caplog.set_level(logging.INFO, logger="feedvault")  # whatever an earlier test left the levels at
    dag_run = run_dag(NIGHT, feeds=["demo-en", "demo-id"])
    assert dag_run.state == "success", task_states(dag_run)
    out, err = capfd.readouterr()
    logs = out + err + caplog.text
    assert "crawler:" in logs and "archiving feed demo-en" in logs  # the logs were captured
    assert secret not in logs
    for path in [*DAGS.rglob("*.py"), *(Path(__file__).parents[1] / "feedvault" / "airflow").rglob("*.py")]:
        assert secret not in path.read_text(), path
    assert secret not in json.dumps([row[3] for row in xcoms(dag_run)], default=str)
    assert secret not in json.dumps(asset_events(dag_run))
    objects = keys(store)
    assert any(k.endswith("manifest.json") for k in objects) and any(k.endswith(".warc.gz") for k in objects)
    for key in objects:
        data = store.get_bytes(key)
        if key.endswith(".gz"):
            import gzip

            data = gzip.decompress(data)
        assert secret.encode() not in data, key


# -- S3 settings --------------------------------------------------------------------------------------------
def test_the_crawler_takes_its_endpoint_from_the_environment_and_never_prints_its_credentials(tmp_path: Path):
    """What an Airflow task hands the crawler: the endpoint (which may hold credentials) by environment only.

    The registry names another endpoint, so the error proves the environment's was used; the store is down, so
    the crawler fails, and its one-line error and its log show the endpoint redacted.
    """
    from feedvault.airflow.tasks import runner_command
    from feedvault.crawl.plan import CrawlReport, RunPlan
    from feedvault.store.s3_client import Credentials
    from feedvault.store.target import StorageTarget

    storage = StorageSettings(uri="s3://bucket/archive", endpoint_url="http://127.0.0.1:7", max_attempts=1)
    registry = write_registry(tmp_path / "feeds.yaml", storage, [feed("f1", "http://127.0.0.1:9/feed.xml")])
    endpoint = "http://feedvault:hunter2-secret@127.0.0.1:9"
    given = storage.model_copy(update={"endpoint_url": endpoint})
    target = StorageTarget("connection", given, Credentials("AKIDEXAMPLE", "conn-secret-value"))
    plan = RunPlan.build(run_id="20261201T020000Z-airflow", trigger="airflow-manual").for_feed("f1")
    command = runner_command(plan, tmp_path / "report.json")
    env = target.child_env({"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO), "FEEDVAULT_REGISTRY": str(registry)})
    assert not any("127.0.0.1:9" in part for part in command) and "hunter2" not in repr(target)
    proc = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 3, proc.stderr[-2000:]
    report = CrawlReport.read(tmp_path / "report.json")
    assert report is not None and "at http://***@127.0.0.1:9 failed" in (report.error or ""), report
    assert "hunter2" not in proc.stdout + proc.stderr and "conn-secret-value" not in proc.stdout + proc.stderr


def test_finalize_sends_feed_metrics_through_airflows_statsd(failing_run, statsd):
    _dag_run, store, _received = failing_run
    new = run_manifest(store, NIGHT_RUN)["feeds"][0]["counts"]["new"]
    metrics = statsd.metrics(wait_for="airflow.feedvault.feed.broken.failure_streak")
    assert metrics["airflow.feedvault.feed.good.new"] == [f"{new}|c"] and new > 0
    assert metrics["airflow.feedvault.feed.good.health"] == ["0|g"]
    assert metrics["airflow.feedvault.feed.broken.health"] == ["2|g"]
    assert metrics["airflow.feedvault.feed.broken.failure_streak"] == ["1|g"]
    assert "airflow.feedvault.feed.good.clean.median_text_chars" in metrics
    assert metrics["airflow.feedvault.feed.good.crawl_time"][0].endswith("|ms")


def test_a_manual_reclean_run_rebuilds_clean_records_from_raw_instead_of_crawling(demo):
    import re

    from feedvault.demo import ARTICLE_SENTINELS

    registry, store = demo
    crawl = run_dag(NIGHT, feeds=["demo-en"])
    assert crawl.state == "success", task_states(crawl)
    archived = len(stored_clean_records(store))
    sentence = next(s for p, s in ARTICLE_SENTINELS.items() if p.startswith("/en/"))
    data = yaml.safe_load(registry.read_text())  # today's rules: the feed now drops one article's sentence
    for entry in data["feeds"]:
        if entry["id"] == "demo-en":
            entry["cleaning"] = {"drop_patterns": [re.escape(sentence)]}
    registry.write_text(yaml.safe_dump(data, sort_keys=False))
    fetched = len(keys(store, "raw/"))

    bad = run_dag(None, reclean=True, reclean_from="2026-11-27", reclean_to="2026-11-26")
    assert bad.state == "failed" and task_states(bad)["plan"] == "failed"

    before = keys(store)
    dry = run_dag(None, reclean=True, feeds=["demo-en"], dry_run=True)
    assert dry.state == "success" and keys(store) == before, task_states(dry)  # reports, writes nothing
    assert task_states(dry)["publish"] == "skipped" and not asset_events(dry)

    run = run_dag(None, reclean=True, feeds=["demo-en"], reclean_from="2026-11-26", reclean_to="2026-11-26")
    states = task_states(run)
    assert run.state == "success", states
    assert states["reclean"] == "success" and not any(s == "success" for t, s in states.items() if "archive" in t)
    assert len(keys(store, "raw/")) == fetched  # nothing was fetched
    [manifest_key] = [k for k in keys(store, "runs/") if k.endswith("-reclean/manifest.json")]
    manifest = json.loads(store.get_bytes(manifest_key))
    assert manifest["trigger"] == "airflow-reclean-manual", manifest
    assert manifest["totals"]["changed"] == 1 and manifest["totals"]["unchanged"] == archived - 1, manifest["totals"]
    [new_version] = [r for p, r in stored_clean_records(store).items() if "-reclean-" in p]  # in its segment
    assert sentence not in new_version["text"]
    [extra] = asset_events(run)
    assert extra["run_id"] == manifest["run_id"] and extra["manifest_key"] == manifest_key
