"""The bodies of the feedvault DAG's tasks. The DAG file wires them; each function gets the task context.

plan -> archive_feed (mapped: one crawl subprocess per feed) -> finalize (all_done: run manifest, table)
-> publish (asset event) and verdict (fails the run naming failed feeds). A run with ``reclean`` set maps no
crawl; its ``reclean`` task re-cleans from raw (feedvault.archive.reclean) and finalize passes that run's result on.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Sequence
from typing import Any

from feedvault.airflow.settings import conn_id

logger = logging.getLogger("feedvault.airflow")

RUN_KEY = "run"  # XCom key of the run's plan (run id, options); the return value is the feed list to map over
SUMMARY_KEY = "summary"  # XCom key of a feed's summary (pushed by successful and failed attempts alike)
RUN_LABEL = "airflow"  # run id = logical date + this label: every run of one logical date owns one partition
EXIT_CONFIG = 2
_LEVEL = re.compile(r"^\S+ \S+ (DEBUG|INFO|WARNING|ERROR|CRITICAL) ")  # the runner's log format
_LOUD = ("WARNING", "ERROR", "CRITICAL")


class FeedFailed(Exception):
    """A feed's crawl failed; retried with backoff (the cause may be transient), then reported by the run."""


def _fail(message: str) -> Exception:
    from airflow.sdk.exceptions import AirflowFailException

    return AirflowFailException(message)


def _registry():  # -> feedvault.config.Registry
    from feedvault.config import ConfigError, load_registry

    try:
        return load_registry()
    except ConfigError as exc:
        raise _fail(f"feedvault registry: {exc}") from None


# -- plan ---------------------------------------------------------------------------------------------------
def plan(context: Any) -> list[str]:
    """Validate the run's params against the registry, fix the run id (pushed as ``run``); return the feeds."""
    from feedvault.keys import RunId

    params, dag_run = context["params"], context["dag_run"]
    registry = _registry()
    requested = [str(f).strip() for f in params.get("feeds") or [] if str(f).strip()]
    known = {f.id for f in registry.feeds}
    unknown = sorted(set(requested) - known)
    if unknown:
        raise _fail(
            f"unknown feed id(s): {', '.join(unknown)}; the registry has: {', '.join(sorted(known)) or '(none)'}"
        )
    feeds = list(dict.fromkeys(requested)) or [f.id for f in registry.feeds if f.enabled]
    since = params.get("since")
    if since:
        try:
            since = dt.date.fromisoformat(str(since)).isoformat()
        except ValueError:
            raise _fail(f"since: not a date (YYYY-MM-DD): {since!r}") from None
    at = dag_run.logical_date or dag_run.run_after
    if params.get("reclean"):
        return _plan_reclean(context, registry, requested, at)
    run = {
        "run_id": RunId.new(at=at, label=RUN_LABEL).value,
        "feeds": feeds,
        "requested": requested or None,
        "since": since or None,
        "dry_run": bool(params.get("dry_run")),
        "force": bool(params.get("force")),
        "trigger": f"airflow-{getattr(dag_run.run_type, 'value', dag_run.run_type)}",
        "started_at": (dag_run.start_date or dt.datetime.now(dt.UTC)).isoformat(),
    }
    logger.info(
        "run %s: %d feed(s) %s%s", run["run_id"], len(feeds), ", ".join(feeds), " (dry run)" if run["dry_run"] else ""
    )
    context["ti"].xcom_push(key=RUN_KEY, value=run)
    return feeds


def _plan_reclean(context: Any, registry: Any, requested: list[str], at: dt.datetime) -> list[str]:
    """A reclean run: nothing is crawled (no feed to map over); the ``reclean`` task does the work."""
    from feedvault.keys import RECLEAN_LABEL, RunId

    params, dag_run = context["params"], context["dag_run"]
    days = {}
    for name in ("reclean_from", "reclean_to"):
        value = params.get(name)
        try:
            days[name] = dt.date.fromisoformat(str(value)).isoformat() if value else None
        except ValueError:
            raise _fail(f"{name}: not a date (YYYY-MM-DD): {value!r}") from None
    if days["reclean_from"] and days["reclean_to"] and days["reclean_from"] > days["reclean_to"]:
        raise _fail(f"reclean_from {days['reclean_from']} is after reclean_to {days['reclean_to']}")
    run = {
        "run_id": RunId.new(at=at, label=RECLEAN_LABEL).value,
        "reclean": True,
        "feeds": list(dict.fromkeys(requested)) or [f.id for f in registry.feeds if f.enabled],
        "requested": requested or None,
        "from": days["reclean_from"],
        "to": days["reclean_to"],
        "dry_run": bool(params.get("dry_run")),
        "trigger": f"airflow-reclean-{getattr(dag_run.run_type, 'value', dag_run.run_type)}",
    }
    logger.info(
        "reclean %s: feed(s) %s, captures from %s to %s", run["run_id"], ", ".join(run["feeds"]), run["from"], run["to"]
    )
    context["ti"].xcom_push(key=RUN_KEY, value=run)
    return []


# -- reclean ------------------------------------------------------------------------------------------------
def reclean(run: dict[str, Any], context: Any) -> dict[str, Any]:
    """Re-clean from raw (feedvault.archive.reclean) when the run asks for it; skipped otherwise. Its own run manifest
    is its commit; the result has finalize's shape, so publish and verdict treat both runs alike."""
    from airflow.sdk.exceptions import AirflowSkipException

    if not run.get("reclean"):
        raise AirflowSkipException("not a reclean run")
    from feedvault.airflow.connection import resolve_target
    from feedvault.archive.reclean import RecleanOptions, report_lines
    from feedvault.archive.reclean import reclean as reclean_archive
    from feedvault.keys import RunId

    registry = _registry()
    options = RecleanOptions(
        feed_ids=tuple(run["requested"]) if run.get("requested") else None,
        day_from=dt.date.fromisoformat(run["from"]) if run.get("from") else None,
        day_to=dt.date.fromisoformat(run["to"]) if run.get("to") else None,
        dry_run=run["dry_run"],
        run_id=RunId(run["run_id"]),
        trigger=run["trigger"],
    )
    target = resolve_target(registry.settings.storage, conn_id())
    with target.open(registry.settings.storage) as store:
        result = reclean_archive(registry, store, options, echo=logger.info)
        archive = store.uri
    for line in report_lines(result, dry_run=run["dry_run"]):
        logger.info("%s", line)
    manifest = result.manifest
    return {
        "run_id": run["run_id"],
        "status": manifest["status"],
        "dry_run": run["dry_run"],
        "archive": archive,
        "manifest_key": result.manifest_key,
        "feeds": [s["feed"] for s in manifest["feeds"]],
        "failed": {s["feed"]: s["error"] for s in manifest["feeds"] if s["status"] == "failed"},
        "totals": manifest["totals"],
        "bytes_written": manifest["bytes_written"],
        "taken_down": result.taken_down,
    }


# -- archive_feed -------------------------------------------------------------------------------------------
def runner_command(run: dict[str, Any], feed_id: str, extra: Sequence[str] = ()) -> list[str]:
    cmd = [sys.executable, "-m", "feedvault.crawl.runner", "--feed", feed_id, "--run-id", run["run_id"]]
    cmd += ["--trigger", run["trigger"], "--no-run-manifest", "--log-level", "INFO", *extra]
    if os.environ.get("FEEDVAULT_REGISTRY"):
        cmd += ["--registry", os.environ["FEEDVAULT_REGISTRY"]]
    if run.get("since"):
        cmd += ["--since", run["since"]]
    if run.get("dry_run"):
        cmd.append("--dry-run")
    if run.get("force"):
        cmd.append("--force")
    return cmd


def archive_feed(run: dict[str, Any], feed_id: str, context: Any) -> None:
    """Crawl one feed in a subprocess (Scrapy's reactor runs once per process); push its small summary."""
    from feedvault.airflow.connection import resolve_target
    from feedvault.config import ConfigError

    context["feed_id"] = feed_id  # map_index_template renders it as this mapped task's name
    try:
        target = resolve_target(_registry().settings.storage, conn_id())
    except ConfigError as exc:
        raise _fail(str(exc)) from None
    logger.info("archiving feed %s into run %s (S3 settings from the %s)", feed_id, run["run_id"], target.source)
    code, result = run_subprocess(runner_command(run, feed_id), target.runner_env(os.environ))
    if code == EXIT_CONFIG:
        raise _fail(f"feed {feed_id}: configuration error: {(result or {}).get('error', 'see the log above')}")
    if not result or not result.get("feeds"):
        error = (result or {}).get("error") or "see the log above"
        raise RuntimeError(f"feed {feed_id}: the crawler exited with status {code} without a summary: {error}")
    summary = result["feeds"][0]
    context["ti"].xcom_push(key=SUMMARY_KEY, value=summary)
    counts = ", ".join(f"{n} {k}" for k, n in summary["counts"].items() if n) or "nothing"
    logger.info("feed %s: %s; %s; %s bytes written", feed_id, summary["status"], counts, summary["bytes_written"])
    if summary["status"] == "failed":
        raise FeedFailed(f"feed {feed_id} failed: {summary['error']}")


def run_subprocess(cmd: list[str], env: dict[str, str]) -> tuple[int, dict[str, Any] | None]:
    """Run the crawler; relay its stderr (Scrapy's log) line by line at INFO; return (exit code, JSON summary).

    The child gets its own process group, so a task killed by a timeout or a user takes the crawl down too.
    """
    proc = subprocess.Popen(
        cmd,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        errors="replace",
        start_new_session=True,
    )
    stdout: list[str] = []
    reader = threading.Thread(target=lambda: stdout.extend(proc.stdout or ()), daemon=True)
    reader.start()
    try:
        level = logging.INFO
        for line in proc.stderr or ():
            level = _relay(line.rstrip("\n"), level)
        code = proc.wait()
    except BaseException:
        _kill_group(proc)
        raise
    reader.join(timeout=10)
    lines = [line for line in stdout if line.startswith("{")]
    return code, json.loads(lines[-1]) if lines else None


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
    from feedvault.airflow.connection import resolve_target
    from feedvault.airflow.report import summary_table
    from feedvault.crawl.runner import RunOptions, finalize_run
    from feedvault.keys import RunId

    ti = context["ti"]
    run = ti.xcom_pull(task_ids="plan", key=RUN_KEY)
    if not run:
        raise _fail("nothing to finalize: the plan task failed (see its log)")
    if run.get("reclean"):  # committed by the reclean task itself
        result = ti.xcom_pull(task_ids="reclean")
        if not result:
            raise _fail("the reclean task ended without a result (see its log); nothing is committed")
        return result
    summaries = collect_summaries(ti, run["feeds"])
    registry = _registry()
    options = RunOptions(
        feed_ids=tuple(run["requested"]) if run.get("requested") else None,
        since=dt.datetime.fromisoformat(run["since"]).replace(tzinfo=dt.UTC) if run.get("since") else None,
        dry_run=run["dry_run"],
        force=run["force"],
    ).to_dict()
    target = resolve_target(registry.settings.storage, conn_id())
    changes: list[Any] = []
    with target.open(registry.settings.storage) as store:
        manifest, manifest_key = finalize_run(
            store,
            registry,
            run_id=RunId(run["run_id"]),
            started_at=dt.datetime.fromisoformat(run["started_at"]),
            feed_summaries=summaries,
            trigger=run["trigger"],
            options=options,
            write=not run["dry_run"],
            on_health=changes.extend,
        )
        archive = store.uri
        reports = _health_reports(store, registry, run["feeds"]) if manifest_key else []
    logger.info("\n%s", "\n".join([summary_table(manifest, dry_run=run["dry_run"]), *health_lines(reports)]))
    if manifest_key:
        _watch(manifest, reports, changes, context)
    if manifest_key:
        logger.info("run manifest: %s/%s", archive, manifest_key)
        logger.info("look at it: `feedvault runs`, `feedvault runs --show %s`", run["run_id"])
    return {
        "run_id": run["run_id"],
        "status": manifest["status"],
        "dry_run": run["dry_run"],
        "archive": archive,
        "manifest_key": manifest_key,
        "feeds": [s["feed"] for s in summaries],
        "failed": {s["feed"]: s["error"] for s in summaries if s["status"] == "failed"},
        "totals": manifest["totals"],
        "bytes_written": manifest["bytes_written"],
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
