"""Where the archive is (:func:`resolve_target`) and the one place that opens it (:func:`open_archive`).

**Which endpoint and credentials.** One function, :func:`resolve_target`, takes the first source that names an
endpoint:

1. the Airflow connection (``conn_id``, when one is given and exists), read by the Amazon provider's own
   ``AwsConnectionWrapper``: ``service_config.s3.endpoint_url``, then ``endpoint_url``, exactly as ``S3Hook``
   would; its credentials (login/password, else the extra's keys) and ``region_name``;
2. the registry: ``storage.embedded`` means the embedded SeaweedFS in ``data_dir``; else ``storage.endpoint_url``;
3. the environment: ``AWS_ENDPOINT_URL_S3``, then ``AWS_ENDPOINT_URL`` (boto3's own order);
4. none: AWS itself.

Credentials: the connection's when it has them, else the embedded store's for the embedded store, else boto3's
standard chain. A connection without an endpoint for an embedded registry is a configuration error (it means AWS).
A parent that resolved the target hands it to a child process by environment (:meth:`StorageTarget.child_env`:
``FEEDVAULT_S3_ENDPOINT_URL`` and the standard AWS keys), which the crawl runner takes as given (source ``parent``).

**The embedded store's lifetime** (one rule, kept here only, :func:`embedded_lease`): the embedded store runs
while someone uses it. Every user (a command, an Airflow task, the browse app) holds a shared lock on
``<data_dir>/s3-users.lock`` for as long as it uses the store, starting the store if none runs; the last user
to leave stops it, unless ``feedvault store start`` pinned it (``<data_dir>/s3-pinned``; ``feedvault store
stop`` unpins and stops). A crawl subprocess uses the store its parent leased. SIGTERM and SIGHUP unwind a
user like Ctrl-C (:func:`unwind_on_termination`), so ``kill`` stops a store it was the last user of too.
"""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import json
import logging
import os
import signal
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any, Literal

from feedvault.config import ConfigError, StorageSettings
from feedvault.redact import redact
from feedvault.store.s3_client import Credentials

if TYPE_CHECKING:
    from feedvault.store.backends import Store
    from feedvault.store.seaweed import RunningS3

logger = logging.getLogger(__name__)

ENDPOINT_URL_ENV = "FEEDVAULT_S3_ENDPOINT_URL"
"""How a parent hands a child process its resolved endpoint: the environment, since the URL may hold credentials."""
ENV_ENDPOINTS = ("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL")  # boto3's order for the S3 service
USERS_LOCK = "s3-users.lock"
PINNED = "s3-pinned"

Source = Literal["connection", "registry", "environment", "embedded", "parent", "aws"]
# Variables a child must not inherit: other connections and variables, and the credentials we replace.
_AWS_IDENTITY = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE")


@dataclass(frozen=True)
class StorageTarget:
    """The resolved target: the storage settings with their endpoint, the credentials (None: boto3's chain)."""

    source: Source
    storage: StorageSettings
    credentials: Credentials | None = None

    @property
    def endpoint_url(self) -> str | None:
        return self.storage.endpoint_url

    def __repr__(self) -> str:
        endpoint = redact(self.endpoint_url) if self.endpoint_url else None
        return f"StorageTarget(source={self.source!r}, endpoint_url={endpoint!r}, credentials={self.credentials!r})"

    def child_env(self, base: Mapping[str, str]) -> dict[str, str]:
        """A child process's environment: ``base`` minus Airflow's secrets, plus this target's endpoint and keys.

        The endpoint travels here, never in the argv: a URL may carry credentials (``http://user:pass@host``).
        """
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


def resolve_target(
    storage: StorageSettings,
    *,
    conn_id: str | None = None,
    environ: Mapping[str, str] | None = None,
) -> StorageTarget:
    """The target ``storage`` means here (see the module's precedence); the embedded store is not started:
    :func:`open_archive` / :func:`live_target` lease it."""
    environ = os.environ if environ is None else environ
    wrapper = _connection(conn_id) if conn_id else None
    if wrapper is not None:
        return _from_connection(wrapper, storage)
    if storage.embedded:
        return StorageTarget("embedded", storage.model_copy(update={"endpoint_url": None}))
    if storage.endpoint_url:
        return StorageTarget("registry", storage)
    for name in ENV_ENDPOINTS:
        if environ.get(name):
            return StorageTarget("environment", storage.model_copy(update={"endpoint_url": environ[name]}))
    return StorageTarget("aws", storage)


def _connection(conn_id: str) -> Any:  # -> AwsConnectionWrapper | None
    """The Airflow connection ``conn_id`` as the Amazon provider reads it, or None when it does not exist."""
    from airflow.providers.amazon.aws.utils.connection_wrapper import AwsConnectionWrapper
    from airflow.sdk import BaseHook
    from airflow.sdk.exceptions import AirflowNotFoundException

    try:
        conn = BaseHook.get_connection(conn_id)
    except AirflowNotFoundException:
        return None
    return AwsConnectionWrapper(conn=conn)


def _from_connection(wrapper: Any, storage: StorageSettings) -> StorageTarget:
    endpoint = wrapper.get_service_endpoint_url("s3")  # the provider's order: service_config.s3, then endpoint_url
    if storage.embedded and not endpoint:
        raise ConfigError(
            f"connection {wrapper.conn_id!r} has no endpoint_url in its extra, but the registry's storage is the "
            "embedded store: give the connection an endpoint_url, or set storage.embedded: false for AWS"
        )
    update: dict[str, Any] = {"embedded": False} if endpoint else {}
    if endpoint:
        update["endpoint_url"] = endpoint
    if wrapper.region_name:
        update["region"] = wrapper.region_name
    credentials = None
    if wrapper.aws_access_key_id:
        credentials = Credentials(
            wrapper.aws_access_key_id, wrapper.aws_secret_access_key or "", wrapper.aws_session_token
        )
    return StorageTarget("connection", storage.model_copy(update=update), credentials)


@contextlib.contextmanager
def live_target(target: StorageTarget) -> Iterator[StorageTarget]:
    """``target`` usable for the block: for the embedded store, its endpoint and keys under a lease."""
    if target.source != "embedded" or target.endpoint_url:  # not the embedded store, or leased already
        yield target
        return
    with embedded_lease(Path(target.storage.data_dir)) as running:
        storage = target.storage.model_copy(update={"endpoint_url": running.endpoint_url})
        yield replace(target, storage=storage, credentials=running.credentials)


@contextlib.contextmanager
def open_archive(
    storage: StorageSettings, *, conn_id: str | None = None, target: StorageTarget | None = None
) -> Iterator[Store]:
    """The Store ``storage`` means (or ``target``, resolved already), for the block."""
    from feedvault.store.backends import S3Store, open_store

    with live_target(target or resolve_target(storage, conn_id=conn_id)) as live:
        store = open_store(live.storage, live.credentials)
        if storage.embedded and isinstance(store, S3Store):
            store.ensure_bucket()
        yield store


# -- the embedded store: one lifetime rule ------------------------------------------------------------------
@contextlib.contextmanager
def embedded_lease(data_dir: Path) -> Iterator[RunningS3]:
    """The embedded SeaweedFS for ``data_dir`` while the block runs: started if none runs; stopped on the way
    out when no other user holds it and it is not pinned (the module's lifetime rule)."""
    data_dir = Path(data_dir).absolute()
    data_dir.mkdir(parents=True, exist_ok=True)
    with open(data_dir / USERS_LOCK, "a") as users, unwind_on_termination():
        fcntl.flock(users, fcntl.LOCK_SH)  # waits while a last user is stopping it
        try:
            yield _running_or_started(data_dir)
        finally:
            _leave(users, data_dir)


def _leave(users: Any, data_dir: Path) -> None:
    try:
        fcntl.flock(users, fcntl.LOCK_EX | fcntl.LOCK_NB)  # only when no other user holds it
    except BlockingIOError:
        return
    if not (data_dir / PINNED).exists() and stop_embedded(data_dir):
        logger.info("stopped the embedded S3 store in %s (its last user left)", data_dir)


def _running_or_started(data_dir: Path) -> RunningS3:
    from feedvault.store.seaweed import EmbeddedS3, EmbeddedS3Error, RunningS3

    running = EmbeddedS3.running(data_dir)
    if running is not None:
        return running
    server = EmbeddedS3(data_dir)
    logger.info("starting embedded S3 (SeaweedFS) in %s (`feedvault store start` keeps one running)", data_dir)
    try:
        server.start()
    except EmbeddedS3Error:
        running = EmbeddedS3.running(data_dir)  # another user started it meanwhile
        if running is None:
            raise
        return running
    atexit.unregister(server.stop)  # its users stop it (the last one out), not this process's exit
    assert server.pid is not None
    return RunningS3(server.endpoint_url, server.credentials, server.pid)


def pin_embedded(data_dir: Path) -> RunningS3:
    """Start the embedded store (if needed) and keep it running after every user left (``feedvault store start``)."""
    with embedded_lease(data_dir) as running:
        (Path(data_dir) / PINNED).touch()
        return running


TERMINATING_SIGNALS = (signal.SIGTERM, signal.SIGHUP)


def _exit_on_signal(signum: int, _frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)


@contextlib.contextmanager
def unwind_on_termination() -> Iterator[None]:
    """Inside, SIGTERM and SIGHUP raise ``SystemExit`` instead of ending the process on the spot.

    Python's default for them kills the process without unwinding, so ``finally`` blocks never run and a store
    this process started (in its own process group) would outlive it: ``kill <pid>`` of ``feedvault browse`` left
    SeaweedFS running. SIGINT already raises ``KeyboardInterrupt``. Servers that catch the signal themselves
    (uvicorn re-raises it once it has shut down; Scrapy stops the crawl) still do: only default handlers are
    replaced, and they are put back on the way out. Signals reach the main thread only; elsewhere this does nothing.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    replaced = [sig for sig in TERMINATING_SIGNALS if signal.getsignal(sig) == signal.SIG_DFL]
    for sig in replaced:
        signal.signal(sig, _exit_on_signal)
    try:
        yield
    finally:
        for sig in replaced:
            signal.signal(sig, signal.SIG_DFL)


def stop_embedded(data_dir: Path, timeout: float = 15.0) -> bool:
    """Unpin and stop the embedded SeaweedFS running on ``data_dir`` (its own process group); False if none ran."""
    from feedvault.store.seaweed import EmbeddedS3

    (Path(data_dir) / PINNED).unlink(missing_ok=True)
    running = EmbeddedS3.running(data_dir)
    if running is None:
        return False
    for sig in (signal.SIGTERM, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(running.pid, sig)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and _alive(running.pid):
            time.sleep(0.2)
        if not _alive(running.pid):
            break
    else:
        return False
    _forget_endpoint(Path(data_dir), running.pid)
    return True


def _forget_endpoint(data_dir: Path, pid: int) -> None:
    """Remove the stopped instance's ``endpoint.json`` (a later one may have written its own: kept)."""
    endpoint_file = data_dir / "s3" / "endpoint.json"
    with contextlib.suppress(OSError, ValueError):
        if json.loads(endpoint_file.read_text()).get("pid") == pid:
            endpoint_file.unlink()


def _alive(pid: int) -> bool:
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)  # reap it if we started it
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True
