"""feedvault_nightly: archive every permitted feed of the registry, nightly and on demand.

Thin by design: schedule, feeds and storage come from the registry ($FEEDVAULT_REGISTRY or the bundled demo),
credentials from the ``feedvault_s3`` connection; task bodies live in ``feedvault.airflow.tasks``.
One DAG serves nightly and manual runs: max_active_runs=1 then also keeps a manual run from racing the
nightly one on a feed's seen-state. A manual run with ``reclean: true`` (and ``feeds``, ``reclean_from``,
``reclean_to``) re-cleans from the archived raw records instead of crawling (``feedvault reclean``).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from airflow.sdk import Asset, CronTriggerTimetable, dag, get_current_context, task

from feedvault.airflow import tasks
from feedvault.airflow.alerts import notify_failure
from feedvault.airflow.settings import ASSET_NAME, ASSET_URI, DAG_ID, load_dag_settings
from feedvault.crawl.plan import dag_params

SETTINGS = load_dag_settings()
ARCHIVE = Asset(name=ASSET_NAME, uri=ASSET_URI)  # where it is (s3://...) travels in each event's extra


@dag(
    dag_id=DAG_ID,
    description=SETTINGS.description,
    schedule=CronTriggerTimetable(SETTINGS.schedule, timezone=SETTINGS.timezone),
    start_date=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
    catchup=False,
    max_active_runs=1,
    tags=["feedvault"],
    doc_md=__doc__,
    default_args={
        "retries": SETTINGS.retries,
        "retry_delay": SETTINGS.retry_delay,
        "retry_exponential_backoff": 2.0,
        "max_retry_delay": SETTINGS.max_retry_delay,
        "on_failure_callback": notify_failure,
    },
    # One param per field of the run plan (feedvault.crawl.plan.RunPlan) marked as a DAG param: add one there.
    params=dag_params(feeds=list(SETTINGS.feed_ids)),  # the form offers the enabled feeds
)
def feedvault_nightly() -> None:
    @task(retries=0)
    def plan() -> list[str]:
        return tasks.plan(get_current_context())

    @task(
        pool=SETTINGS.pool,
        map_index_template="{{ feed_id }}",
        execution_timeout=SETTINGS.task_timeout,
    )
    def archive_feed(run: dict[str, Any], feed_id: str) -> None:
        tasks.archive_feed(run, feed_id, get_current_context())

    @task(pool=SETTINGS.pool, retries=0, execution_timeout=SETTINGS.task_timeout)
    def reclean(run: dict[str, Any]) -> dict[str, Any]:
        return tasks.reclean(run, get_current_context())

    @task(trigger_rule="all_done", multiple_outputs=False)
    def finalize() -> dict[str, Any]:
        return tasks.finalize(get_current_context())

    @task(outlets=[ARCHIVE], retries=0)
    def publish(result: dict[str, Any]) -> None:
        get_current_context()["outlet_events"][ARCHIVE].extra = tasks.publish_or_skip(result)

    @task(retries=0)
    def verdict(result: dict[str, Any]) -> str:
        return tasks.verdict(result)

    feeds = plan()
    crawled = archive_feed.partial(run=feeds[tasks.RUN_KEY]).expand(feed_id=feeds)
    recleaned = reclean(feeds[tasks.RUN_KEY])  # skipped unless the run asks for a reclean (then nothing is crawled)
    result = finalize()
    [crawled, recleaned] >> result
    publish(result)
    verdict(result)


feedvault_nightly()
