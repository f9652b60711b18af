"""Alerts: a JSON POST to ``$FEEDVAULT_ALERT_WEBHOOK``, or a clear log line when none is configured.

Two events: ``feedvault.task_failed`` (a task's ``on_failure_callback``) and ``feedvault.health_changed`` (a feed's
health state changed with this run: ok -> warning -> failing and back; sent once per change, so a quiet night
sends nothing).
"""

from __future__ import annotations

import json
import logging
import os
import urllib.request
from typing import Any

logger = logging.getLogger("feedvault.airflow.alerts")
WEBHOOK_ENV = "FEEDVAULT_ALERT_WEBHOOK"


def failure_payload(context: Any) -> dict[str, Any]:
    ti = context.get("ti") or context.get("task_instance")
    dag_run = context.get("dag_run")
    logical = getattr(dag_run, "logical_date", None)
    return {
        "event": "feedvault.task_failed",
        "dag_id": getattr(ti, "dag_id", None),
        "run_id": getattr(ti, "run_id", None),
        "task_id": getattr(ti, "task_id", None),
        "map_index": getattr(ti, "map_index", None),
        "feed": context.get("feed_id"),
        "try_number": getattr(ti, "try_number", None),
        "logical_date": logical.isoformat() if logical else None,
        "error": str(context.get("exception") or "")[:2000],
    }


def notify_failure(context: Any) -> None:
    """``on_failure_callback``: never raises (an alert that fails must not hide the task's own failure)."""
    payload = failure_payload(context)
    what = f"{payload['dag_id']}.{payload['task_id']}" + (f"[{payload['feed']}]" if payload["feed"] else "")
    post_alert(payload, f"{what} failed in run {payload['run_id']}: {payload['error']}")


def health_payload(change: dict[str, Any], dag_run_id: str | None = None) -> dict[str, Any]:
    """A feed's health change: from, to, what is wrong now (each problem with what to do) and what cleared."""
    return {
        "event": "feedvault.health_changed",
        "dag_run_id": dag_run_id,
        **change,
        "summary": f"feed {change['feed']}: {change['from'] or 'new'} -> {change['to']} in run {change['run_id']}",
        "what_changed": [p["message"] for p in change["problems"]] or ["every problem cleared"],
        "what_to_do": [p["action"] for p in change["problems"]],
    }


def notify_health_changes(changes: list[dict[str, Any]], dag_run_id: str | None = None) -> int:
    """POST one alert per feed whose health state changed (``feedvault.monitoring.health.Change.to_dict()``); never raises.
    Returns how many were sent (or logged)."""
    for change in changes:
        payload = health_payload(change, dag_run_id)
        post_alert(payload, f"{payload['summary']}: {'; '.join(payload['what_changed'])}")
    return len(changes)


def post_alert(payload: dict[str, Any], what: str) -> None:
    """POST ``payload`` to the webhook, or log ``what`` when none is set; a failing webhook is logged, not raised."""
    url = os.environ.get(WEBHOOK_ENV, "").strip()
    if not url:
        logger.error("feedvault ALERT: %s (set %s to POST alerts)", what, WEBHOOK_ENV)
        return
    request = urllib.request.Request(
        url, data=json.dumps(payload).encode(), headers={"Content-Type": "application/json"}, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            logger.info("alert %s posted to the webhook (HTTP %s)", payload["event"], response.status)
    except OSError as exc:
        logger.error("feedvault ALERT: %s; posting to the webhook failed too: %s", what, exc)
