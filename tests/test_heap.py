"""The crawl processes' malloc settings take effect (glibc)."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.support.crawl import REPO

PROBE = """
import ctypes, os
from feedvault.crawl.heap import bound_heap, MMAP_THRESHOLD_BYTES

class Mallinfo2(ctypes.Structure):
    _fields_ = [(n, ctypes.c_size_t) for n in ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks",
                                               "fsmblks", "uordblks", "fordblks", "keepcost")]

libc = ctypes.CDLL(None)
libc.mallinfo2.restype = Mallinfo2
libc.malloc.restype = ctypes.c_void_p
libc.free.argtypes = [ctypes.c_void_p]

def mapped_after_free_and_again(size):
    # glibc raises its threshold past a freed mapped chunk: the next one of that size comes from the heap
    libc.free(libc.malloc(size))
    p = libc.malloc(size)
    mapped = libc.mallinfo2().hblks
    libc.free(p)
    return mapped - libc.mallinfo2().hblks  # 1: it was a mapping of its own

size = 4 * MMAP_THRESHOLD_BYTES
taken = bound_heap() if os.environ.get("BOUND") else None
print(taken, mapped_after_free_and_again(size))
"""


def test_a_large_buffer_freed_by_a_crawl_process_goes_back_to_the_system() -> None:
    """By default glibc serves a large buffer from the heap once one of its size was freed (the threshold rises),
    so a crawl's pages stayed in its heap; with the crawl's settings each large buffer is its own mapping."""
    results = []
    for bound in ("", "1"):
        env = {**os.environ, "BOUND": bound}
        proc = subprocess.run([sys.executable, "-c", PROBE], cwd=REPO, env=env, capture_output=True, text=True)
        assert proc.returncode == 0, proc.stderr[-2000:]
        results.append(proc.stdout.split())
    assert results == [["None", "0"], ["True", "1"]]


SETTLE_PROBE = """
import gc, json
from feedvault.crawl.heap import GC_YOUNG_THRESHOLD, settle_collector

class Node:
    pass

started = [Node()]  # an object of start-up, alive for good
before = (gc.get_freeze_count(), gc.get_threshold())
settle_collector()
later = [Node()]  # an object made after start-up
scanned = {id(o) for o in gc.get_objects()}  # what collections still walk (the frozen are left out)
a, b = Node(), Node()
a.other, b.other = b, a  # a cycle made after start-up
del a, b
print(json.dumps({"before": before, "frozen": gc.get_freeze_count(), "threshold": gc.get_threshold(),
                  "young": GC_YOUNG_THRESHOLD, "started_scanned": id(started) in scanned,
                  "later_scanned": id(later) in scanned, "cycle_collected": gc.collect() >= 2}))
"""


def test_after_start_up_the_collector_skips_start_up_objects_and_still_collects_new_cycles() -> None:
    import json

    proc = subprocess.run([sys.executable, "-c", SETTLE_PROBE], cwd=REPO, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
    got = json.loads(proc.stdout)
    assert got["before"][0] == 0 and got["frozen"] > 0
    assert not got["started_scanned"] and got["later_scanned"]  # start-up's objects are frozen, new ones are not
    assert got["threshold"] == [got["young"], *got["before"][1][1:]]  # older generations keep CPython's ratios
    assert got["cycle_collected"]
