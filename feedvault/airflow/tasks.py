"""The bodies of the feedvault DAG's tasks. The DAG file wires them; each function gets the task context.

plan -> archive_feed (mapped: one crawl subprocess per feed) -> finalize (all_done: run manifest, table)
-> publish (asset event) and verdict (fails the run naming failed feeds). A run with ``reclean`` set maps no
crawl; its ``reclean`` task re-cleans from raw (feedvault.archive.reclean) and finalize passes that run's result on.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import signal
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

logger = logging.getLogger("feedvault.airflow")

RUN_KEY = "run"  # XCom key of the run's plan (feedvault.crawl.plan.RunPlan as JSON); the return value: the feeds to map
SUMMARY_KEY = "summary"  # XCom key of a feed's summary (pushed by successful and failed attempts alike)
EXIT_CONFIG = 2
_LEVEL = re.compile(r"^\S+ \S+ (DEBUG|INFO|WARNING|ERROR|CRITICAL) ")  # the runner's log format
_LOUD = ("WARNING", "ERROR", "CRITICAL")


class FeedFailed(Exception):
    """A feed's crawl failed; retried with backoff (the cause may be transient), then reported by the run."""


def _fail(message: str) -> Exception:
    from airflow.sdk.exceptions import AirflowFailException

    return AirflowFailException(message)


def _registry():  # -> feedvault.config.Registry
    """The registry, loaded once per task: the one the DAG file's parse loaded, while its file is unchanged."""
    from feedvault.airflow.settings import task_registry
    from feedvault.config import ConfigError

    try:
        return task_registry()
    except ConfigError as exc:
        raise _fail(f"feedvault registry: {exc}") from None


# -- plan ---------------------------------------------------------------------------------------------------
def plan(context: Any) -> list[str]:
    """The run's plan from its params (checked against the registry), pushed as ``run``; return the feeds to crawl
    (none for a reclean run: its ``reclean`` task does the work)."""
    from feedvault.config import ConfigError
    from feedvault.crawl.plan import PlanError, RunPlan

    params, dag_run = context["params"], context["dag_run"]
    registry = _registry()
    try:
        run = RunPlan.from_dag_params(
            params,
            at=dag_run.logical_date or dag_run.run_after,
            started_at=dag_run.start_date,
            run_type=str(getattr(dag_run.run_type, "value", dag_run.run_type)),
        )
        feeds = run.selected_feeds(registry)
    except (PlanError, ConfigError) as exc:
        raise _fail(str(exc)) from None
    context["ti"].xcom_push(key=RUN_KEY, value=run.model_dump(mode="json"))
    if run.reclean:
        days = f"captures from {run.reclean_from} to {run.reclean_to}"
        logger.info("reclean %s: feed(s) %s, %s", run.run_id, ", ".join(feeds), days)
        return []
    dry = " (dry run)" if run.dry_run else ""
    items = run.crawl_items(registry, _listed_entries(registry))
    logger.info("run %s: %d feed(s) %s in %d task(s)%s", run.run_id, len(feeds), ", ".join(feeds), len(items), dry)
    return items


def _listed_entries(registry: Any) -> dict[str, int]:
    """The entries each feed listed lately (feed health), which size its shards. Health is derived: when it
    cannot be read the shards are planned from the registry alone, with a warning."""
    from feedvault.airflow.connection import task_target
    from feedvault.monitoring.health import HealthBook
    from feedvault.store.target import open_archive

    storage = registry.settings.storage
    try:
        with task_target(storage) as target, open_archive(storage, target=target) as store:
            return HealthBook.load(store).listed_entries()
    except Exception as exc:
        logger.warning("shards planned from the registry alone, feed health not read (%s)", exc)
        return {}


def _plan_of(run: dict[str, Any]):  # -> feedvault.crawl.plan.RunPlan
    """The plan the ``plan`` task pushed (XCom carries its JSON form)."""
    from feedvault.crawl.plan import RunPlan

    return RunPlan.model_validate(run)


# -- reclean ------------------------------------------------------------------------------------------------
def reclean(run: dict[str, Any], context: Any) -> dict[str, Any]:
    """Re-clean from raw (feedvault.archive.reclean) when the run asks for it; skipped otherwise. Its own run manifest
    is its commit; the result has finalize's shape, so publish and verdict treat both runs alike."""
    from airflow.sdk.exceptions import AirflowSkipException

    plan = _plan_of(run)
    if not plan.reclean:
        raise AirflowSkipException("not a reclean run")
    from feedvault.airflow.connection import task_target
    from feedvault.archive.reclean import reclean as reclean_archive
    from feedvault.archive.reclean import report_lines
    from feedvault.store.target import open_archive

    registry = _registry()
    storage = registry.settings.storage
    with task_target(storage) as target, open_archive(storage, target=target) as store:
        result = reclean_archive(registry, store, plan.reclean_options(), echo=logger.info)
        archive = store.uri
    for line in report_lines(result, dry_run=plan.dry_run):
        logger.info("%s", line)
    manifest = result.manifest
    return {
        "run_id": plan.run_id,
        "status": manifest["status"],
        "dry_run": plan.dry_run,
        "archive": archive,
        "manifest_key": result.manifest_key,
        "feeds": [s["feed"] for s in manifest["feeds"]],
        "failed": {s["feed"]: s["error"] for s in manifest["feeds"] if s["status"] == "failed"},
        "totals": manifest["totals"],
        "bytes_written": manifest["bytes_written"],
        "taken_down": result.taken_down,
    }


# -- archive_feed -------------------------------------------------------------------------------------------
def runner_command(plan: Any, result_file: Path) -> list[str]:
    """The crawl subprocess of one plan (feedvault.crawl.plan.RunPlan): the plan in, its report to ``result_file``."""
    cmd = [sys.executable, "-m", "feedvault.crawl", "--plan-json", plan.model_dump_json()]
    cmd += ["--result-file", str(result_file), "--log-level", "INFO"]
    if os.environ.get("FEEDVAULT_REGISTRY"):
        cmd += ["--registry", os.environ["FEEDVAULT_REGISTRY"]]
    return cmd


def archive_feed(run: dict[str, Any], feed_id: str, context: Any) -> None:
    """Crawl one feed in a subprocess (Scrapy's reactor runs once per process); push its small summary."""
    from feedvault.airflow.connection import task_target
    from feedvault.config import ConfigError

    context["feed_id"] = feed_id  # map_index_template renders it as this mapped task's name
    plan = _plan_of(run).for_item(feed_id)  # a feed id, or <feed>@<i>/<K>: one shard of a sharded feed
    with contextlib.ExitStack() as stack:
        try:
            target = stack.enter_context(task_target(_registry().settings.storage))  # held while the crawl runs
        except ConfigError as exc:
            raise _fail(str(exc)) from None
        logger.info("archiving feed %s into run %s (S3 settings from the %s)", feed_id, plan.run_id, target.source)
        code, report = crawl(plan, target.child_env(os.environ))
    if code == EXIT_CONFIG:
        raise _fail(f"feed {feed_id}: configuration error: {report.error if report else 'see the log above'}")
    if report is None or not report.manifest or not report.manifest.get("feeds"):
        error = (report.error if report else None) or "see the log above"
        raise RuntimeError(f"feed {feed_id}: the crawler exited with status {code} without a summary: {error}")
    summary = report.manifest["feeds"][0]
    context["ti"].xcom_push(key=SUMMARY_KEY, value=summary)
    counts = ", ".join(f"{n} {k}" for k, n in summary["counts"].items() if n) or "nothing"
    logger.info("feed %s: %s; %s; %s bytes written", feed_id, summary["status"], counts, summary["bytes_written"])
    if summary["status"] == "failed":
        raise FeedFailed(f"feed {feed_id} failed: {summary['error']}")


def crawl(plan: Any, env: dict[str, str]) -> tuple[int, Any]:
    """Run ``plan`` in a crawl subprocess: (exit code, its CrawlReport, None if it wrote none)."""
    from feedvault.crawl.plan import CrawlReport

    with tempfile.TemporaryDirectory(prefix="feedvault-report-") as tmp:
        result_file = Path(tmp) / "report.json"
        code = run_subprocess(runner_command(plan, result_file), env)
        return code, CrawlReport.read(result_file)


def run_subprocess(cmd: list[str], env: dict[str, str]) -> int:
    """Run the crawler; relay its output (Scrapy's log) line by line at INFO; return its exit code.

    The child gets its own process group, so a task killed by a timeout or a user takes the crawl down too.
    """
    proc = subprocess.Popen(
        cmd,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        errors="replace",
        start_new_session=True,
    )
    try:
        level = logging.INFO
        for line in proc.stdout or ():
            level = _relay(line.rstrip("\n"), level)
        return proc.wait()
    except BaseException:
        _kill_group(proc)
        raise


def _relay(line: str, previous: int) -> int:
    """Log one crawler line: INFO, or WARNING for warnings and errors; continuation lines keep their record's."""
    match = _LEVEL.match(line)
    level = previous if not match else logging.WARNING if match.group(1) in _LOUD else logging.INFO
    if line:
        logger.log(level, "crawler: %s", line)
    return level


def _kill_group(proc: subprocess.Popen[str]) -> None:
    for sig, wait in ((signal.SIGTERM, 20), (signal.SIGKILL, 10)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(wait)
            return
        except subprocess.TimeoutExpired:
            continue


# -- finalize -----------------------------------------------------------------------------------------------
def collect_summaries(ti: Any, feeds: list[str]) -> list[dict[str, Any]]:
    """One summary per planned feed, in plan order; a feed whose task left none is reported as failed."""
    pulled = ti.xcom_pull(task_ids="archive_feed", key=SUMMARY_KEY, map_indexes=list(range(len(feeds))))
    pulled = pulled if isinstance(pulled, list) else [pulled]
    summaries = []
    for feed_id, summary in zip(feeds, pulled + [None] * (len(feeds) - len(pulled)), strict=True):
        summaries.append(summary or _missing(feed_id))
    return summaries


def _missing(feed_id: str) -> dict[str, Any]:
    from feedvault.archive.manifest import COUNTED

    return {
        "feed": feed_id,
        "status": "failed",
        "error": "its archive_feed task ended without a summary (see that task's log)",
        "counts": {str(k): 0 for k in COUNTED},
        "bytes_written": 0,
        "seconds": 0,
        "warnings": [],
        "manifest_key": None,
    }


def finalize(context: Any) -> dict[str, Any]:
    """Write the run manifest (the run's commit marker) from the feed summaries; log the run's table."""
    from feedvault.airflow.connection import task_target
    from feedvault.airflow.report import summary_table
    from feedvault.crawl.runner import finalize_run
    from feedvault.store.target import open_archive

    ti = context["ti"]
    run = ti.xcom_pull(task_ids="plan", key=RUN_KEY)
    if not run:
        raise _fail("nothing to finalize: the plan task failed (see its log)")
    plan = _plan_of(run)
    if plan.reclean:  # committed by the reclean task itself
        result = ti.xcom_pull(task_ids="reclean")
        if not result:
            raise _fail("the reclean task ended without a result (see its log); nothing is committed")
        return result
    items = ti.xcom_pull(task_ids="plan") or []  # the plan task's return value: the feeds (shards) it mapped
    shard_summaries = collect_summaries(ti, items)
    feeds = list(dict.fromkeys(item.partition("@")[0] for item in items))
    registry = _registry()
    storage = registry.settings.storage
    changes: list[Any] = []
    with task_target(storage) as target, open_archive(storage, target=target) as store:
        summaries = merge_shard_summaries(store, plan, items, shard_summaries)
        manifest, manifest_key = finalize_run(
            store,
            registry,
            run_id=plan.run,
            started_at=plan.started_at,
            feed_summaries=summaries,
            trigger=plan.trigger,
            options=plan.manifest_options(),
            write=not plan.dry_run,
            on_health=changes.extend,
        )
        archive = store.uri
        reports = _health_reports(store, registry, feeds) if manifest_key else []
    logger.info("\n%s", "\n".join([summary_table(manifest, dry_run=plan.dry_run), *health_lines(reports)]))
    if manifest_key:
        _watch(manifest, reports, changes, context)
        logger.info("run manifest: %s/%s", archive, manifest_key)
        logger.info("look at it: `feedvault runs`, `feedvault runs --show %s`", plan.run_id)
    return {
        "run_id": plan.run_id,
        "status": manifest["status"],
        "dry_run": plan.dry_run,
        "archive": archive,
        "manifest_key": manifest_key,
        "feeds": [s["feed"] for s in summaries],
        "failed": {s["feed"]: s["error"] for s in summaries if s["status"] == "failed"},
        "totals": manifest["totals"],
        "bytes_written": manifest["bytes_written"],
    }


def merge_shard_summaries(
    store: Any, plan: Any, items: list[str], summaries: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """One summary per feed: a sharded feed's shard manifests merged into its feed manifest
    (feedvault.crawl.runner.merge_shards); in a dry run, which writes none, its shards' summaries added up."""
    from feedvault.crawl.runner import merge_shards

    by_feed: dict[str, list[tuple[str, dict[str, Any]]]] = {}
    for item, summary in zip(items, summaries, strict=True):
        by_feed.setdefault(item.partition("@")[0], []).append((item, summary))
    merged = []
    for feed_id, parts in by_feed.items():
        if len(parts) == 1 and "@" not in parts[0][0]:
            merged.append(parts[0][1])
        elif plan.dry_run:
            merged.append(_added_up(feed_id, [summary for _item, summary in parts]))
        else:
            merged.append(merge_shards(store, plan.run, feed_id, len(parts)))
    return merged


def _added_up(feed_id: str, parts: list[dict[str, Any]]) -> dict[str, Any]:
    errors = [p["error"] for p in parts if p.get("error")]
    return {
        **parts[0],
        "feed": feed_id,
        "status": "failed" if errors else parts[0]["status"],
        "error": "; ".join(errors) or None,
        "counts": {k: sum(p["counts"].get(k, 0) for p in parts) for k in parts[0]["counts"]},
        "bytes_written": sum(p.get("bytes_written", 0) for p in parts),
        "seconds": max(p.get("seconds", 0) for p in parts),
    }


def _health_reports(store: Any, registry: Any, feeds: list[str]) -> list[dict[str, Any]]:
    """The run's feeds' health after this run (derived: a failure only warns)."""
    from feedvault.cli.health_commands import registry_expiries
    from feedvault.monitoring.health import report

    try:
        return report(store, registry.settings.health, feed_ids=feeds, expiries=registry_expiries(registry))
    except Exception as exc:
        logger.warning("feed health not read (`feedvault health --rebuild` repairs it): %s", exc)
        return []


def health_lines(reports: list[dict[str, Any]]) -> list[str]:
    from feedvault.monitoring.health import summary_lines

    return summary_lines(reports)


def _watch(manifest: dict[str, Any], reports: list[dict[str, Any]], changes: list[Any], context: Any) -> None:
    """What an operator watches: feed metrics through Airflow's metrics client, an alert per health change."""
    from feedvault.airflow.alerts import notify_health_changes
    from feedvault.monitoring.metrics import emit, run_metrics

    emit(run_metrics(manifest, reports))
    dag_run = context.get("dag_run")
    notify_health_changes([c.to_dict() for c in changes], getattr(dag_run, "run_id", None))


# -- publish / verdict --------------------------------------------------------------------------------------
def asset_extra(result: dict[str, Any]) -> dict[str, Any]:
    """What downstream DAGs read from the archive's asset event: which run, where its manifest is."""
    keys = ("run_id", "status", "archive", "manifest_key", "feeds", "totals", "bytes_written")
    return {**{k: result[k] for k in keys}, "failed_feeds": sorted(result["failed"])}


def publish_or_skip(result: dict[str, Any]) -> dict[str, Any]:
    """The asset event's extra; a dry run (or a run that wrote nothing) skips: no new archive, no event."""
    from airflow.sdk.exceptions import AirflowSkipException

    if result["dry_run"] or not result["manifest_key"]:
        raise AirflowSkipException("dry run: nothing was written, so no archive asset event")
    return asset_extra(result)


def verdict(result: dict[str, Any]) -> str:
    """Fail the DAG run if any feed failed, naming them; the other feeds' results stay archived."""
    failed = result["failed"]
    if failed:
        detail = "; ".join(f"{feed}: {error}" for feed, error in sorted(failed.items()))
        raise _fail(
            f"{len(failed)} of {len(result['feeds'])} feed(s) failed in run {result['run_id']}: {detail}. "
            "The other feeds are archived; fix the cause and clear the failed archive_feed task(s)."
        )
    return f"run {result['run_id']}: all {len(result['feeds'])} feed(s) ok"
