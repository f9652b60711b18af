"""The crawl processes' malloc settings (glibc, through ctypes; nothing elsewhere).

A crawl moves 100-400 KB bodies, WARC records and clean records through several threads (the reactor, the pool's
feeder and result threads, S3 uploads). glibc's defaults let that memory stay with the process: a freed large
buffer raises the mmap threshold, so the next ones come from the heap, and every thread gets an arena of its own
that fragments. The crawl's peak RSS then grew with the number of articles (``bench/throughput.py
--rss-growth-to``). A fixed threshold serves every buffer over it with its own mapping, returned to the system when
freed, and two arenas bound the fragmentation.

The cyclic garbage collector is tuned too (:func:`settle_collector`): start-up leaves a few hundred thousand
long-lived objects (Scrapy, Twisted, lxml, trafilatura and their modules) that every full collection walked again,
while each article allocates thousands of short-lived containers that triggered a young collection every 700.
Measured on the shared real pages: collections took ~0.4 ms per article in the reactor and ~0.25 ms per page in a
worker; frozen start-up objects and a young threshold of 20,000 leave ~0.1 ms each.
"""

from __future__ import annotations

import ctypes
import gc
import sys

M_MMAP_THRESHOLD = -3  # glibc's mallopt parameters (malloc.h)
M_ARENA_MAX = -8
MMAP_THRESHOLD_BYTES = 128 * 1024  # glibc's own initial threshold, kept fixed instead of rising
ARENA_MAX = 2
GC_YOUNG_THRESHOLD = 20_000  # allocations between young collections (CPython's default: 700)


def bound_heap() -> bool:
    """Set the threshold and the arena limit; returns whether glibc took both. Call it before threads start."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None)
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # not glibc (musl has no mallopt)
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES)) and bool(mallopt(M_ARENA_MAX, ARENA_MAX))


def settle_collector() -> None:
    """Once start-up is over: keep what exists now out of later collections, and collect young objects less often.

    Cycles still get collected (the older generations keep CPython's ratios); only start-up's objects, which live
    as long as the process, are never scanned again.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(GC_YOUNG_THRESHOLD, *gc.get_threshold()[1:])
