"""Where an Airflow task's crawl writes: S3 settings resolved once per task, credentials passed by environment.

Order: the Airflow connection (``feedvault_s3``, type ``aws``: login/password = key id/secret, ``endpoint_url``
in its extra) when it exists; else the registry's own storage with boto3's standard AWS environment; else, for
a registry with ``storage.embedded``, the embedded SeaweedFS in ``storage.data_dir``. Secrets are registered
with Airflow's log masker and reach the crawler subprocess through its environment only (never its argv).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal
from urllib.parse import urlsplit

from feedvault.config import ConfigError, StorageSettings
from feedvault.redact import redact
from feedvault.store.s3_client import Credentials
from feedvault.store.target import ensure_embedded, stop_embedded

if TYPE_CHECKING:
    from feedvault.store.backends import Store

logger = logging.getLogger(__name__)

Source = Literal["connection", "environment", "embedded"]
# Variables the crawler must not inherit: other connections and variables, and credentials we replace.
_AWS_IDENTITY = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE")


@dataclass(frozen=True)
class S3Target:
    source: Source
    endpoint_url: str | None = None
    credentials: Credentials | None = None  # None: boto3's standard chain in the worker's environment

    def __repr__(self) -> str:
        endpoint = redact(self.endpoint_url) if self.endpoint_url else None
        return f"S3Target(source={self.source!r}, endpoint_url={endpoint!r}, credentials={self.credentials!r})"

    def runner_env(self, base: Mapping[str, str]) -> dict[str, str]:
        """The crawler subprocess's environment: ``base`` minus Airflow secrets, plus this target's keys and endpoint.

        The endpoint travels here too, never in the argv: a URL may carry credentials (``http://user:pass@host``).
        """
        from feedvault.store.target import ENDPOINT_URL_ENV

        env = {
            k: v
            for k, v in base.items()
            if not k.startswith(("AIRFLOW_CONN_", "AIRFLOW_VAR_")) and k != ENDPOINT_URL_ENV
        }
        if self.endpoint_url:
            env[ENDPOINT_URL_ENV] = self.endpoint_url
        if self.credentials is not None:
            for name in _AWS_IDENTITY:
                env.pop(name, None)
            env.update(self.credentials.env())
        return env

    @contextlib.contextmanager
    def open(self, storage: StorageSettings) -> Iterator[Store]:
        """The Store in this process (the final task writes the run manifest through it)."""
        from feedvault.store.target import open_archive

        with open_archive(storage, self.credentials, self.endpoint_url) as store:
            yield store


def resolve_target(storage: StorageSettings, conn_id: str) -> S3Target:
    target = connection_target(storage, conn_id)
    if target is not None:
        return target
    if not storage.embedded:
        return S3Target("environment")
    running = ensure_embedded(Path(storage.data_dir))
    _mask(running.credentials.secret_access_key)
    return S3Target("embedded", running.endpoint_url, running.credentials)


def connection_target(storage: StorageSettings, conn_id: str) -> S3Target | None:
    """The target the Airflow connection ``conn_id`` describes, if it exists (tasks and the browse plugin)."""
    conn = _connection(conn_id)
    return _from_connection(conn, storage, conn_id) if conn is not None else None


def _connection(conn_id: str):  # -> airflow.sdk.Connection | None
    from airflow.sdk import BaseHook
    from airflow.sdk.exceptions import AirflowNotFoundException

    try:
        return BaseHook.get_connection(conn_id)
    except AirflowNotFoundException:
        return None


def _from_connection(conn, storage: StorageSettings, conn_id: str) -> S3Target:  # conn: airflow.sdk.Connection
    extra = conn.extra_dejson
    endpoint = extra.get("endpoint_url") or extra.get("service_config", {}).get("s3", {}).get("endpoint_url")
    if storage.embedded and not endpoint:
        raise ConfigError(
            f"connection {conn_id!r} has no endpoint_url in its extra, but the registry's storage is the embedded "
            "store: give the connection an endpoint_url, or set storage.embedded: false for AWS"
        )
    if endpoint:
        _mask(urlsplit(endpoint).password)  # a password inside the endpoint URL is a secret too
    credentials = None
    if conn.login:
        _mask(conn.password)
        _mask(extra.get("aws_session_token"))
        credentials = Credentials(conn.login, conn.password or "", extra.get("aws_session_token"))
    return S3Target("connection", endpoint, credentials)


def _mask(secret: str | None) -> None:
    if secret:
        from airflow.sdk.log import mask_secret

        mask_secret(secret)


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(prog="python -m feedvault.airflow.connection")
    parser.add_argument("--stop-embedded", metavar="DATA_DIR", required=True, help="stop the embedded S3 store")
    args = parser.parse_args()
    print("stopped the embedded S3 store" if stop_embedded(Path(args.stop_embedded)) else "no embedded S3 store ran")
