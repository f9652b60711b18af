"""Child processes that die with their parent: Linux ``PR_SET_PDEATHSIG`` (through ctypes), nothing elsewhere.

The extraction pool's forkserver and workers would otherwise outlive a crawler killed with SIGKILL (the workers
block forever on a queue whose other end they hold themselves). The forkserver imports
:mod:`feedvault.crawl.forkserver_lifeline` as a preload module, which calls :func:`die_with_parent`; each worker calls
it in its initializer. The multiprocessing resource tracker then sees its pipe close and exits too.

The signal comes when the *thread* that started the child exits: the pool is started from the reactor (main)
thread, which lives as long as the crawler.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys

PR_SET_PDEATHSIG = 1


def die_with_parent() -> bool:
    """Ask the kernel to SIGKILL this process when its parent dies; returns whether it could."""
    if not sys.platform.startswith("linux"):
        return False
    parent = os.getppid()
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
            return False
    except (OSError, AttributeError):
        return False
    if os.getppid() != parent or parent == 1:  # the parent died before the request: too late to be told
        os._exit(1)
    return True
