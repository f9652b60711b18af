"""The extraction process pool: cleaning is the pipeline's CPU cost, so it runs on every core, off the reactor.

Kept in its own module (not the runner, which may run as ``__main__``) so workers can unpickle its functions.
"""

from __future__ import annotations

import multiprocessing
import os
import threading
from collections.abc import Callable
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from typing import Any

from feedvault.archive.warc import Capture, build_exchange
from feedvault.cleaning import CleanOptions
from feedvault.cleaning.fingerprints import observe_lines
from feedvault.crawl.heap import bound_heap, settle_collector
from feedvault.crawl.lifeline import die_with_parent
from feedvault.permission.signals import examine_payload


class ExtractorPool(Executor):
    """Process pool for cleaning, started on first use: a run with nothing new never pays for workers.

    forkserver: never fork a process that runs a reactor and threads. The forkserver and the workers die with
    the process that started them (:mod:`feedvault.crawl.lifeline`): no orphans after a SIGKILL.
    """

    def __init__(self, workers: int) -> None:
        self._workers = workers or os.cpu_count() or 1
        self._pool: ProcessPoolExecutor | None = None
        self._lock = threading.Lock()

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        with self._lock:
            if self._pool is None:
                context = multiprocessing.get_context("forkserver")
                # The forkserver and every worker die with this process, even SIGKILLed (feedvault.crawl.lifeline).
                context.set_forkserver_preload(["__main__", "feedvault.crawl.forkserver_lifeline"])
                self._pool = ProcessPoolExecutor(
                    max_workers=self._workers, mp_context=context, initializer=_warm_worker
                )
        return self._pool.submit(fn, *args, **kwargs)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=wait, cancel_futures=cancel_futures)


def _warm_worker() -> None:
    die_with_parent()
    bound_heap()
    import trafilatura  # noqa: F401  (import once per worker, not per page)

    settle_collector()


def examine_capture(
    body: bytes, declared_encoding: str | None, options: CleanOptions, capture: Capture, gzip_level: int
) -> dict[str, Any]:
    """One page's whole CPU step, in a worker: clean and scan it, and serialise its WARC request and response.

    The records are built before the permission decision (which needs the scan): a refused page's records
    are simply dropped by the reactor, never written. ``line_fingerprints`` are the page's candidate lines for
    the feed's learned boilerplate (feedvault.cleaning.fingerprints).
    """
    examined = examine_payload(body, capture.url, declared_encoding, options)
    return examined | {
        "exchange": build_exchange(capture, gzip_level),
        "line_fingerprints": observe_lines(examined["cleaned"], options.learned),
    }
