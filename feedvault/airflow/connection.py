"""The archive from an Airflow task: the target resolved once per task, its secrets masked in the task's log.

Resolution (connection ``feedvault_s3`` read by the Amazon provider, registry, environment, embedded store) and
the embedded store's lifetime are :mod:`feedvault.store.target`'s; this adds what only Airflow has: the
connection id and the log masker. Secrets reach a crawl subprocess through its environment only (never its argv).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

from feedvault.airflow.settings import conn_id
from feedvault.config import StorageSettings
from feedvault.store.target import StorageTarget, live_target, resolve_target, stop_embedded


@contextlib.contextmanager
def task_target(storage: StorageSettings) -> Iterator[StorageTarget]:
    """The task's storage target, live for the block (an embedded store is leased: see feedvault.store.target)."""
    with live_target(resolve_target(storage, conn_id=conn_id())) as target:
        _mask_secrets(target)
        yield target


def _mask_secrets(target: StorageTarget) -> None:
    from airflow.sdk.log import mask_secret

    secrets = [urlsplit(target.endpoint_url).password if target.endpoint_url else None]
    if target.credentials is not None:
        secrets += [target.credentials.secret_access_key, target.credentials.session_token]
    for secret in secrets:
        if secret:
            mask_secret(secret)


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(prog="python -m feedvault.airflow.connection")
    parser.add_argument("--stop-embedded", metavar="DATA_DIR", required=True, help="stop the embedded S3 store")
    args = parser.parse_args()
    print("stopped the embedded S3 store" if stop_embedded(Path(args.stop_embedded)) else "no embedded S3 store ran")
