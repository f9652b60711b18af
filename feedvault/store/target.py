"""Open the archive a registry points at: the one place that turns StorageSettings into a live Store.

With ``storage.embedded`` it reuses a running embedded SeaweedFS for ``data_dir`` or starts one (and stops
it again on exit if it started it, on SIGTERM, SIGHUP and SIGINT too: :func:`unwind_on_termination`).
Otherwise credentials come from the standard AWS chain, or from the caller (Airflow passes the ones from its
connection).
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING

from feedvault.config import StorageSettings
from feedvault.store.backends import S3Store, Store, open_store
from feedvault.store.s3_client import Credentials

if TYPE_CHECKING:
    from feedvault.store.seaweed import RunningS3

logger = logging.getLogger(__name__)

ENDPOINT_URL_ENV = "FEEDVAULT_S3_ENDPOINT_URL"
"""How a parent hands a subprocess its S3 endpoint: an environment variable, since the URL may hold credentials."""


@contextlib.contextmanager
def open_archive(
    storage: StorageSettings,
    credentials: Credentials | None = None,
    endpoint_url: str | None = None,
) -> Iterator[Store]:
    """Yield the Store for ``storage``; ``endpoint_url``/``credentials`` override the settings' own."""
    with contextlib.ExitStack() as stack:
        if storage.embedded and not endpoint_url:
            endpoint_url, credentials = stack.enter_context(embedded_s3(Path(storage.data_dir)))
        if endpoint_url:
            storage = storage.model_copy(update={"endpoint_url": endpoint_url})
        store = open_store(storage, credentials)
        if storage.embedded and isinstance(store, S3Store):
            store.ensure_bucket()
        yield store


@contextlib.contextmanager
def embedded_s3(data_dir: Path) -> Iterator[tuple[str, Credentials]]:
    """(endpoint, credentials) of the embedded SeaweedFS in ``data_dir``: reuse a running one or start one."""
    from feedvault.store.seaweed import EmbeddedS3

    running = EmbeddedS3.running(data_dir)
    if running is not None:
        yield running.endpoint_url, running.credentials
        return
    server = EmbeddedS3(data_dir)
    logger.info("starting embedded S3 (SeaweedFS) in %s (`feedvault store start` keeps one running)", data_dir)
    with unwind_on_termination():
        try:
            server.start()
            yield server.endpoint_url, server.credentials
        finally:
            server.stop()


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


# -- an embedded store that outlives its starter (Airflow tasks, `feedvault store start`) --------------------
def ensure_embedded(data_dir: Path) -> RunningS3:
    """The embedded SeaweedFS for ``data_dir``, started if needed and left running after this task.

    Feed tasks run in parallel in separate processes: a server owned by one task would vanish under the
    others when that task ends, so it outlives its starter (``stop_embedded`` ends it).
    """
    from feedvault.store.seaweed import EmbeddedS3, EmbeddedS3Error, RunningS3

    running = EmbeddedS3.running(data_dir)
    if running is not None:
        return running
    server = EmbeddedS3(data_dir)
    try:
        server.start()
    except EmbeddedS3Error:
        running = EmbeddedS3.running(data_dir)  # another task started it meanwhile
        if running is None:
            raise
        return running
    atexit.unregister(server.stop)
    logger.info("started the embedded S3 store (SeaweedFS) in %s at %s", data_dir, server.endpoint_url)
    assert server.pid is not None
    return RunningS3(server.endpoint_url, server.credentials, server.pid)


def stop_embedded(data_dir: Path, timeout: float = 15.0) -> bool:
    """Stop the embedded SeaweedFS running on ``data_dir`` (its own process group); False if none ran."""
    from feedvault.store.seaweed import EmbeddedS3

    running = EmbeddedS3.running(data_dir)
    if running is None:
        return False
    for sig in (signal.SIGTERM, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(running.pid, sig)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not _alive(running.pid):
                return True
            time.sleep(0.2)
    return not _alive(running.pid)


def _alive(pid: int) -> bool:
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)  # reap it if we started it
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True
