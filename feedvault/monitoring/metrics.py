"""Per-feed metrics of a run, sent through Airflow's own metrics client (StatsD, Datadog or OpenTelemetry, as
configured in Airflow's ``[metrics]`` section); nothing is sent when Airflow has no metrics backend on.

Names (after Airflow's ``statsd_prefix``, default ``airflow``), one set per feed, ``<feed>`` being the feed id;
every metric also carries the tag ``feed=<feed>`` for backends with tags (OpenTelemetry, Datadog, InfluxDB):

| name | type | meaning |
| --- | --- | --- |
| ``feedvault.feed.<feed>.new`` / ``changed`` / ``unchanged`` / ``refused`` / ``failed`` / ``skipped`` | counter | articles with that outcome in the run |
| ``feedvault.feed.<feed>.bytes_written`` | counter | bytes written to the archive (WARC + clean JSON) |
| ``feedvault.feed.<feed>.crawl_time`` | timer (ms) | the feed's crawl |
| ``feedvault.feed.<feed>.clean.short_share`` | gauge, 0..1 | share of the run's archived articles with (almost) no text |
| ``feedvault.feed.<feed>.clean.median_text_chars`` | gauge | median clean text length |
| ``feedvault.feed.<feed>.clean.removed_share`` | gauge, 0..1 | share of text lines the cleaning rules removed |
| ``feedvault.feed.<feed>.health`` | gauge | 0 ok, 1 warning, 2 failing |
| ``feedvault.feed.<feed>.failure_streak`` | gauge | consecutive failed runs |
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

logger = logging.getLogger(__name__)

PREFIX = "feedvault.feed"
COUNTED = ("new", "changed", "unchanged", "refused", "failed", "skipped")
HEALTH_VALUE = {"ok": 0, "warning": 1, "failing": 2}


@dataclass(frozen=True)
class Metric:
    kind: str  # incr | gauge | timing
    name: str
    value: float
    feed: str


def run_metrics(run_manifest: Mapping[str, Any], reports: Iterable[Mapping[str, Any]] = ()) -> list[Metric]:
    """The metrics of one run: per feed, its counts, bytes, crawl time and cleaning yield, and its health."""
    metrics: list[Metric] = []
    for summary in run_manifest.get("feeds") or ():
        feed = summary["feed"]
        base = f"{PREFIX}.{feed}"
        counts = summary.get("counts") or {}
        metrics += [Metric("incr", f"{base}.{k}", int(counts.get(k, 0)), feed) for k in COUNTED]
        metrics.append(Metric("incr", f"{base}.bytes_written", int(summary.get("bytes_written") or 0), feed))
        metrics.append(Metric("timing", f"{base}.crawl_time", float(summary.get("seconds") or 0) * 1000, feed))
        cleaning = (summary.get("health_figures") or {}).get("cleaning_yield") or {}
        for key, name in (
            ("short_share", "short_share"),
            ("median_text_chars", "median_text_chars"),
            ("removed_share", "removed_share"),
        ):
            if cleaning.get(key) is not None:
                metrics.append(Metric("gauge", f"{base}.clean.{name}", float(cleaning[key]), feed))
    for report in reports:
        base = f"{PREFIX}.{report['feed']}"
        metrics.append(Metric("gauge", f"{base}.health", HEALTH_VALUE[report["state"]], report["feed"]))
        metrics.append(Metric("gauge", f"{base}.failure_streak", int(report["failure_streak"]), report["feed"]))
    return metrics


def _airflow_stats() -> Any:
    """Airflow's metrics module, initialised from Airflow's configuration if this process has not done it yet
    (task processes started by Airflow have; ``dag.test()`` runs tasks in its own process, which has not)."""
    from airflow.sdk._shared.observability.metrics import stats as shared_stats
    from airflow.sdk.configuration import conf
    from airflow.sdk.observability import stats
    from airflow.sdk.observability.metrics import stats_utils

    if getattr(shared_stats, "_factory", None) is None:
        stats.initialize(
            factory=stats_utils.get_stats_factory(),
            export_legacy_names=conf.getboolean("metrics", "legacy_names_on", fallback=True),
        )
    return stats


def emit(metrics: Iterable[Metric]) -> int:
    """Send ``metrics`` through Airflow's metrics client; never raises (metrics must not fail a run)."""
    sent = 0
    try:
        stats = _airflow_stats()
        for metric in metrics:
            tags = {"feed": metric.feed}
            if metric.kind == "incr":
                stats.incr(metric.name, int(metric.value), tags=tags)
            elif metric.kind == "gauge":
                stats.gauge(metric.name, metric.value, tags=tags)
            else:
                stats.timing(metric.name, dt.timedelta(milliseconds=metric.value), tags=tags)
            sent += 1
    except Exception as exc:
        logger.warning("feed metrics not sent (%s): %s", type(exc).__name__, exc)
    return sent
