"""The one table of the ``feedvault`` command's exit codes (README's table is tested against it)."""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0  # success
    FAILED = 1  # the work finished but part of it failed (a feed, a check); details on stderr and in manifests
    USAGE = 2  # bad arguments or configuration: nothing was done
    STORAGE = 3  # the archive's storage is unreachable or refusing
    NOT_FOUND = 4  # no such snapshot, URL, feed, run or day; nothing matched
    UNAVAILABLE = 5  # a local resource is taken (e.g. the port to listen on)
    HEALTH_WARNING = 6  # `health`: a feed needs attention
    HEALTH_FAILING = 7  # `health`: a feed is failing
    INTERRUPTED = 130  # Ctrl-C / SIGINT: nothing of an unfinished run is published


MEANINGS = {
    ExitCode.OK: "success",
    ExitCode.FAILED: "finished, but part of the work failed (a feed of a run, a problem found by a check)",
    ExitCode.USAGE: "bad arguments or configuration; nothing was done",
    ExitCode.STORAGE: "the archive's storage is unreachable or refusing",
    ExitCode.NOT_FOUND: "no such snapshot, URL, feed, run or day, or nothing matched (browsing commands)",
    ExitCode.UNAVAILABLE: "a local resource is taken, e.g. the port `browse` should listen on",
    ExitCode.HEALTH_WARNING: "`health`: a feed needs attention (warning)",
    ExitCode.HEALTH_FAILING: "`health`: a feed is failing",
    ExitCode.INTERRUPTED: "interrupted (Ctrl-C); an unfinished run publishes nothing",
}


def markdown_table() -> str:
    """The README's exit-code table."""
    rows = ["| exit | meaning |", "|---|---|", *(f"| {int(code)} | {MEANINGS[code]} |" for code in ExitCode)]
    return "\n".join(rows)
