"""Parse-time settings of the feedvault DAG: read once per DAG parse, so they stay cheap.

Everything operational comes from the registry (schedule, timezone, feed ids, storage URI) or from the worker's
environment (pool, connection id, retries); the DAG file holds no configuration of its own.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from feedvault.config import Registry

logger = logging.getLogger(__name__)

DAG_ID = "feedvault_nightly"
# Stable across storage changes: downstream DAGs schedule on it; each event's extra names the archive URI.
ASSET_NAME = "feedvault_archive"
ASSET_URI = "feedvault://archive/"
DEFAULT_POOL = "feedvault"
DEFAULT_CONN_ID = "feedvault_s3"


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name, "").strip()
    return int(value) if value else default


@dataclass(frozen=True)
class DagSettings:
    schedule: str
    timezone: str
    feed_ids: tuple[str, ...]
    archive_uri: str
    pool: str
    conn_id: str
    retries: int
    retry_delay: dt.timedelta
    max_retry_delay: dt.timedelta
    task_timeout: dt.timedelta
    registry_error: str | None = None  # the DAG still loads; the run's first task reports the error

    @property
    def description(self) -> str:
        return f"Archive permitted feeds to {self.archive_uri} ({self.schedule}, {self.timezone})"


def conn_id() -> str:
    """The Airflow connection holding S3 credentials (type ``aws``; ``endpoint_url`` in its extra)."""
    return os.environ.get("FEEDVAULT_S3_CONN_ID") or DEFAULT_CONN_ID


_LOADED: dict[str, tuple[tuple[Any, ...], Registry]] = {}  # registry path -> (what it was loaded from, registry)


def task_registry() -> Registry:
    """The registry ($FEEDVAULT_REGISTRY or the bundled one), loaded once per process while its file (and the
    environment it interpolates) is unchanged: a task's process parses the DAG file, then runs the task body,
    and both read it through here. A ConfigError says what is wrong with it."""
    from feedvault.config import BUNDLED_REGISTRY, load_registry

    path = Path(os.environ.get("FEEDVAULT_REGISTRY") or BUNDLED_REGISTRY)
    try:
        stat = path.stat()
    except OSError:
        return load_registry(path)  # the ConfigError names the path
    source = (stat.st_mtime_ns, stat.st_size, stat.st_ino, hash(frozenset(os.environ.items())))
    cached = _LOADED.get(str(path))
    if cached is not None and cached[0] == source:
        return cached[1]
    registry = load_registry(path)
    _LOADED[str(path)] = (source, registry)
    return registry


def load_dag_settings() -> DagSettings:
    """Settings for the DAG; a broken registry falls back to defaults and the run's first task fails on it."""
    from feedvault.config import ConfigError, Registry

    error = None
    try:
        registry = task_registry()
    except ConfigError as exc:
        logger.warning("feedvault registry not loaded at parse time: %s", exc)
        registry, error = Registry(), str(exc)
    settings = registry.settings
    return DagSettings(
        schedule=settings.schedule,
        timezone=settings.timezone,
        feed_ids=tuple(f.id for f in registry.feeds if f.enabled),
        archive_uri=settings.storage.uri,
        pool=os.environ.get("FEEDVAULT_AIRFLOW_POOL") or DEFAULT_POOL,
        conn_id=conn_id(),
        retries=_env_int("FEEDVAULT_TASK_RETRIES", 2),
        retry_delay=dt.timedelta(seconds=_env_int("FEEDVAULT_RETRY_DELAY_SECONDS", 300)),
        max_retry_delay=dt.timedelta(hours=1),
        task_timeout=dt.timedelta(minutes=_env_int("FEEDVAULT_TASK_TIMEOUT_MINUTES", 180)),
        registry_error=error,
    )
