"""Failure alerts: a JSON POST to ``$FEEDVAULT_ALERT_WEBHOOK``, or a clear log line when none is configured."""

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
    url = os.environ.get(WEBHOOK_ENV, "").strip()
    what = f"{payload['dag_id']}.{payload['task_id']}" + (f"[{payload['feed']}]" if payload["feed"] else "")
    if not url:
        logger.error(
            "feedvault ALERT: %s failed in run %s: %s (set %s to POST alerts)",
            what,
            payload["run_id"],
            payload["error"],
            WEBHOOK_ENV,
        )
        return
    request = urllib.request.Request(
        url, data=json.dumps(payload).encode(), headers={"Content-Type": "application/json"}, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            logger.info("failure alert for %s posted to the webhook (HTTP %s)", what, response.status)
    except OSError as exc:
        logger.error(
            "feedvault ALERT: %s failed (%s); posting to the webhook failed too: %s", what, payload["error"], exc
        )
