"""feedvault on Airflow's distributed engine: the CeleryExecutor deployment (infra/cluster/processes.yaml) run for
real on 127.0.0.1: metadata DB and Celery results on PostgreSQL, the broker on Redis, two Celery workers in
separate processes with their own host names, the api-server, scheduler and dag-processor; S3 on SeaweedFS.

One cluster serves the module (starting it is the expensive part); each test writes the registry it needs into
the file the workers read (tasks load it per run), on a fresh bucket.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from feedvault.catalog import open_catalog
from feedvault.catalog.postgres_catalog import PostgresCatalog
from feedvault.deploy.topology import LocalCluster, S3Endpoint
from feedvault.store.backends import S3Store
from tests.support.checks import assert_archive_consistent
from tests.support.crawl import feed, write_registry
from tests.support.services import alive
from tests.support.sites import synthetic_site
from tests.test_airflow_dags import bucket_store, demo_feeds, keys
from tests.test_airflow_standalone import Api, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]  # a cluster start and two DAG runs, on a shared box
DAG = "/api/v2/dags/feedvault_nightly"
NIGHT = dt.datetime(2026, 11, 26, 2, 0, tzinfo=dt.UTC)
FEEDS = ["demo-id", "demo-en"]
RUN_TIMEOUT = 900  # a busy shared machine; no assertion is about time
TEST_SETTINGS = {
    "AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": "False",  # only our triggered runs: no nightly run on unpause
    "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "2",
    "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": "60",  # a dead worker's task is failed (and retried)
    "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
    "FEEDVAULT_RETRY_DELAY_SECONDS": "1",
    "FEEDVAULT_LOOPBACK_ONLY": "1",
}


@dataclasses.dataclass
class Deployment:
    cluster: LocalCluster
    api: Api
    registry: Path  # the registry file every worker reads; tests rewrite it

    def sql(self, query: str) -> list[list[str]]:
        assert self.cluster.postgres is not None
        out = self.cluster.postgres.sql(query, "airflow")
        return [line.split("|") for line in out.splitlines() if line]

    def trigger(self, logical_date: dt.datetime, **conf: Any) -> str:
        run = self.api.call("POST", f"{DAG}/dagRuns", {"logical_date": logical_date.isoformat(), "conf": conf})
        return run["dag_run_id"]

    def wait_finished(self, run_id: str) -> str:
        def finished() -> str | None:
            state = self.api.call("GET", f"{DAG}/dagRuns/{run_id}")["state"]
            return state if state in ("success", "failed") else None

        return wait_for(f"DAG run {run_id}", finished, RUN_TIMEOUT, self.cluster.process("scheduler").log)

    def task_instances(self, run_id: str, task_id: str = "archive_feed") -> list[dict[str, str]]:
        """Each try of ``task_id`` in ``run_id`` from the metadata DB (earlier tries are in the history table)."""
        rows = []
        for table in ("task_instance_history", "task_instance"):
            rows += self.sql(
                f"SELECT map_index, try_number, hostname, pool, state, rendered_map_index FROM {table} "
                f"WHERE dag_id = 'feedvault_nightly' AND run_id = '{run_id}' AND task_id = '{task_id}'"
            )
        names = ("map_index", "try_number", "hostname", "pool", "state", "feed")
        return sorted((dict(zip(names, row, strict=True)) for row in rows), key=lambda r: (r["feed"], r["try_number"]))

    def asset_extra(self, run_id: str) -> dict[str, Any]:
        events = self.api.call("GET", "/api/v2/assets/events?source_dag_id=feedvault_nightly")["asset_events"]
        [extra] = [e["extra"] for e in events if e["source_run_id"] == run_id]
        return extra


def workers_online(cluster: LocalCluster) -> set[str]:
    """Names of the Celery workers answering a ping through the broker."""
    from celery import Celery

    assert cluster.redis is not None
    app = Celery(broker=cluster.redis.url)
    try:
        return {name.split("@", 1)[1] for reply in app.control.ping(timeout=3) for name in reply}
    finally:
        app.close()


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory, seaweed: Any) -> Iterator[Deployment]:
    home = tmp_path_factory.mktemp("cluster")
    registry = home / "feeds.yaml"
    registry.write_text("feeds: []\n")
    cluster = LocalCluster(
        home=home,
        registry=registry,
        s3=S3Endpoint(seaweed.endpoint_url, seaweed.credentials),
        workers=2,
        worker_concurrency=1,
        skip=("triggerer", "browse"),  # not used here; the topology test keeps them in the recipe
        overrides=TEST_SETTINGS,
    )
    with cluster:
        api = Api(cluster.values["API_URL"])
        api.login()
        wait_for(
            "both Celery workers",
            lambda: workers_online(cluster) == {"worker-1", "worker-2"},
            300,
            home / "logs/worker-1.log",
        )
        wait_for("the DAG to be parsed", lambda: api.call("GET", DAG)["dag_id"], 300, home / "logs/dag-processor.log")
        yield Deployment(cluster, api, registry)


def point_registry(
    deployment: Deployment,
    seaweed: Any,
    feeds: list[dict[str, Any]],
    storage_settings: dict[str, Any] | None = None,
    **settings: Any,
) -> S3Store:
    """Write the workers' registry: ``feeds`` archived into a fresh bucket; return that bucket's store."""
    storage, store = bucket_store(seaweed)
    data_dir = deployment.registry.parent / f"data-{store.uri.split('/')[2]}"
    storage = storage.model_copy(update={"data_dir": str(data_dir), **(storage_settings or {})})
    write_registry(deployment.registry, storage, feeds, **settings)
    return store


# -- comparing two runs modulo ids and timestamps --------------------------------------------------------------
# Timestamps, and what they change: the byte counts (timestamps inside the records, then gzip) and the registry's
# hash (each run's registry names its own bucket).
VOLATILE = {"last_run_at", "started_at", "finished_at", "seconds", "fetched_at", "date", "last_modified"}
VOLATILE |= {"duration_seconds", "bytes_written", "config_hash"}


def normalised(value: Any, replace: dict[str, str]) -> Any:
    if isinstance(value, dict):
        return {k: normalised(v, replace) for k, v in value.items() if k not in VOLATILE}
    if isinstance(value, list):
        return [normalised(v, replace) for v in value]
    if isinstance(value, str):
        for old, new in replace.items():
            value = value.replace(old, new)
    return value


def manifest(store: S3Store, run_id: str) -> dict[str, Any]:
    [key] = [k for k in keys(store, "runs/") if k.endswith(f"/{run_id}/manifest.json")]
    return json.loads(store.get_bytes(key))


def catalog_view(catalog: Any) -> dict[str, Any]:
    """What a catalog (any backend) lists: feeds, their days and the articles of each day."""
    try:
        view: dict[str, Any] = {"feeds": [dataclasses.asdict(f) for f in catalog.feeds()]}
        for summary in catalog.feeds():
            for day in catalog.days(summary.id).items:
                articles = catalog.articles(summary.id, day.day, per_page=500).items
                rows = [{k: v for k, v in dataclasses.asdict(a).items() if k != "id"} for a in articles]  # key hash
                view[f"{summary.id}/{day.day}"] = sorted(rows, key=str)
        return view
    finally:
        catalog.close()


# -- tests -----------------------------------------------------------------------------------------------------
def test_celery_workers_share_the_feeds_and_archive_what_the_local_executor_archives(
    deployment: Deployment, seaweed: Any, site_server: Any, tmp_path: Path
) -> None:
    demo = site_server("demo")
    # Crawls that outlast the reclean task's skip (it holds a pool slot and a worker for a few seconds), so the
    # second crawl is never queued only after the first has finished and freed its worker.
    feeds = [{**f, "politeness": {"download_delay": 1.5, "autothrottle": False}} for f in demo_feeds(demo.base_url)]
    # The Celery run indexes into the cluster's shared PostgreSQL catalog, as a deployment would.
    shared_catalog = {"uri": "${FEEDVAULT_CATALOG_URI}"}
    celery_store = point_registry(deployment, seaweed, feeds, catalog=shared_catalog)
    celery_run = deployment.trigger(NIGHT, feeds=FEEDS)
    assert deployment.wait_finished(celery_run) == "success", deployment.task_instances(celery_run)

    # Every feed's task ran in the feedvault pool, and the two workers both took some.
    tries = deployment.task_instances(celery_run)
    assert sorted(t["feed"] for t in tries) == sorted(FEEDS) and {t["pool"] for t in tries} == {"feedvault"}
    assert {t["hostname"] for t in tries} == {"worker-1", "worker-2"}, tries

    # The same feeds under the LocalExecutor: the scheduler runs the tasks itself (the workers stay idle), and the
    # run indexes into the embedded SQLite catalog (published to the archive).
    local_store = point_registry(deployment, seaweed, feeds)
    deployment.cluster.restart("scheduler", AIRFLOW__CORE__EXECUTOR="LocalExecutor")
    try:
        local_run = deployment.trigger(NIGHT + dt.timedelta(minutes=1), feeds=FEEDS)
        assert deployment.wait_finished(local_run) == "success", deployment.task_instances(local_run)
    finally:
        deployment.cluster.restart("scheduler")
    assert not {t["hostname"] for t in deployment.task_instances(local_run)} & {"worker-1", "worker-2"}

    # Identical results, modulo run ids, buckets and timestamps: manifest, asset event, catalog.
    celery_id = deployment.asset_extra(celery_run)["run_id"]
    local_id = deployment.asset_extra(local_run)["run_id"]
    ids = {
        celery_id: "RUN",
        local_id: "RUN",
        celery_store.uri.split("/")[2]: "BUCKET",
        local_store.uri.split("/")[2]: "BUCKET",
    }
    assert normalised(manifest(celery_store, celery_id), ids) == normalised(manifest(local_store, local_id), ids)
    assert normalised(deployment.asset_extra(celery_run), ids) == normalised(deployment.asset_extra(local_run), ids)
    assert deployment.cluster.postgres is not None
    shared = PostgresCatalog(deployment.cluster.postgres.dsn("feedvault_catalog"))
    celery_catalog = normalised(catalog_view(shared), ids)
    assert celery_catalog == normalised(catalog_view(open_catalog(local_store, tmp_path / "local-catalog")), ids)
    assert sum(f["snapshot_count"] for f in celery_catalog["feeds"]) > 0
    # The same objects, but for the published SQLite catalog (catalog/): the shared catalog lives in PostgreSQL.
    archived = [
        {normalised(k, ids) for k in keys(s) if not k.startswith("catalog/")} for s in (celery_store, local_store)
    ]
    assert archived[0] == archived[1]


def test_a_worker_killed_mid_crawl_is_retried_on_the_other_worker_and_the_archive_stays_whole(
    deployment: Deployment, seaweed: Any, site_server: Any, tmp_path: Path
) -> None:
    site = synthetic_site(tmp_path, n=8)
    server = site_server(site.root)
    # The last articles hang until the worker is gone: the crawl is caught mid-way however slow the machine is.
    stalled = site.article_paths[3:]
    for path in stalled:
        server.set_route(path, {"delay": 300})
    politeness = {"download_delay": 0, "autothrottle": False, "concurrency_per_domain": 8, "timeout_seconds": 600}
    # One clean record per segment: the attempt that is killed has uploaded what it archived before it stalled
    # (with the default size its records would wait in the spool, and the kill would leave nothing to replace).
    store = point_registry(
        deployment,
        seaweed,
        [feed("slow", server.base_url + site.feed_path)],
        storage_settings={"clean_segment_max_bytes": 1},
        politeness=politeness,
    )
    dag_run = deployment.trigger(NIGHT + dt.timedelta(minutes=2), feeds=["slow"])

    def crawling() -> tuple[str, dict[str, bytes]] | None:
        running = [t for t in deployment.task_instances(dag_run) if t["state"] == "running" and t["hostname"]]
        partial = {k: store.get_bytes(k) for k in keys(store, "clean/slow/")}
        return (running[0]["hostname"], partial) if running and partial else None

    victim, partial = wait_for(
        "the crawl to archive its first articles", crawling, RUN_TIMEOUT, deployment.cluster.process("scheduler").log
    )
    killed = deployment.cluster.kill(victim)  # the worker, its task, the crawl and its cleaning processes
    assert len(killed) > 3 and not [pid for pid in killed if alive(pid)]
    for path in stalled:
        server.set_route(path, None)
    try:
        assert deployment.wait_finished(dag_run) == "success", deployment.task_instances(dag_run)
        tries = deployment.task_instances(dag_run)
    finally:
        deployment.cluster.restart(victim)

    # Airflow noticed the dead worker's task (no heartbeat) and retried it on the other worker.
    [survivor] = {"worker-1", "worker-2"} - {victim}
    assert [(t["try_number"], t["hostname"]) for t in tries] == [("1", victim), ("2", survivor)], tries
    assert tries[0]["state"] in ("failed", "up_for_retry") and tries[1]["state"] == "success", tries
    # The retry replaced the partial partition: every article once, the killed attempt's records rewritten.
    run_id = deployment.asset_extra(dag_run)["run_id"]
    [summary] = manifest(store, run_id)["feeds"]
    assert summary["status"] == "ok" and summary["counts"]["new"] == site.n_articles, summary
    clean = keys(store, "clean/slow/")
    assert len(clean) == site.n_articles and set(partial) <= clean
    assert all(store.get_bytes(key) != before for key, before in partial.items())
    assert_archive_consistent(store)
