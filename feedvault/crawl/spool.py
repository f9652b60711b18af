"""A run's spool directory (local scratch: WARCs being written, staged catalog rows), its owner lock and its
journal of per-URL outcomes.

``$TMPDIR/feedvault-<run-id>-<random>/`` holds:

- ``.owner.lock``: flocked by the running process for its whole life; the kernel releases it when the process
  dies, however it dies. A spool whose lock can be taken has no owner left: it is stale.
- ``run.json``: which run and which archive it belongs to;
- ``journal/<feed>.jsonl``: every outcome as it is recorded (``{"i": index, ...outcome}``; a later line with the
  same index replaces an earlier one), written through to the kernel at once, so a SIGKILL loses none.

A run removes its spool when it commits; one that fails to commit (the archive refused its manifests) keeps
only the journal. The next run (of any feed, on the same machine and ``$TMPDIR``) sweeps
stale spools; for one of a run that never committed into the same archive, it first recovers the journal: see
:func:`feedvault.crawl.runner.recover_interrupted_runs`.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import json
import logging
import os
import re
import shutil
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

LOCK_NAME, META_NAME, JOURNAL_DIR = ".owner.lock", "run.json", "journal"
SPOOL_RE = re.compile(r"^feedvault-(\d{8}T\d{6}Z(?:-[a-z0-9][a-z0-9-]{0,40})?)-[A-Za-z0-9_]{6,}$")
UNLOCKED_SPOOL_AGE = dt.timedelta(days=1)  # a spool from before owner locks: swept once this old
FOREIGN_SPOOL_AGE = dt.timedelta(days=7)  # a stale spool of another archive: left to its runs this long

logger = logging.getLogger(__name__)


class Spool:
    """This run's spool directory, locked for as long as the process lives (until :meth:`remove`)."""

    def __init__(self, run_id: str, meta: dict[str, Any], parent: str | None = None) -> None:
        self.path = Path(tempfile.mkdtemp(prefix=f"feedvault-{run_id}-", dir=parent))
        self._lock_fd = os.open(self.path / LOCK_NAME, os.O_CREAT | os.O_RDWR | os.O_CLOEXEC, 0o600)
        fcntl.flock(self._lock_fd, fcntl.LOCK_EX)
        (self.path / META_NAME).write_text(json.dumps({"run_id": run_id, **meta}))
        (self.path / JOURNAL_DIR).mkdir()

    def journal(self, feed_id: str) -> Journal:
        return Journal(self.path / JOURNAL_DIR / f"{feed_id}.jsonl")

    def remove(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)
        with contextlib.suppress(OSError):
            os.close(self._lock_fd)

    def keep_journal(self) -> None:
        """The run did not commit: drop the scratch (WARCs, staged catalog rows), keep the journal for the next run
        to recover, and release the lock (the spool is stale from now on)."""
        for entry in self.path.iterdir():
            if entry.name not in (LOCK_NAME, META_NAME, JOURNAL_DIR):
                if entry.is_dir():
                    shutil.rmtree(entry, ignore_errors=True)
                else:
                    entry.unlink(missing_ok=True)
        with contextlib.suppress(OSError):
            os.close(self._lock_fd)


class Journal:
    """Append-only outcome log of one feed (thread-safe; each line one ``write`` syscall, unbuffered)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd = os.open(path, os.O_CREAT | os.O_WRONLY | os.O_APPEND | os.O_CLOEXEC, 0o600)
        self._lock = threading.Lock()
        self.failed: OSError | None = None  # the journal stopped here (e.g. a full spool)

    def __call__(self, index: int, outcome: dict[str, Any]) -> None:
        """Append one outcome. Never raises: the journal only helps recover a killed run, so a spool that cannot
        take it (full, gone) must not fail the article or the withdrawal in progress; it stops, warned once."""
        line = json.dumps({"i": index, **outcome}, ensure_ascii=False, separators=(",", ":")) + "\n"
        with self._lock:
            if self.failed is not None:
                return
            try:
                os.write(self._fd, line.encode("utf-8"))
            except OSError as exc:
                self.failed = exc
                logger.warning(
                    "outcome journal %s stopped (%s): a killed run's outcomes after this are lost", self, exc
                )


def read_journal(path: Path) -> list[dict[str, Any]]:
    """The outcomes of a journal, in order, later lines replacing earlier ones of the same index; a torn last
    line (the process died mid-write) is dropped."""
    entries: dict[int, dict[str, Any]] = {}
    for line in path.read_bytes().splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        entries[int(entry.pop("i"))] = entry
    return [entries[i] for i in sorted(entries)]


@dataclass
class StaleSpool:
    """A spool whose owner is gone, locked by us while we look at it (``release`` when done)."""

    path: Path
    meta: dict[str, Any]
    _fd: int | None

    def journals(self) -> dict[str, list[dict[str, Any]]]:
        directory = self.path / JOURNAL_DIR
        if not directory.is_dir():
            return {}
        return {p.stem: read_journal(p) for p in sorted(directory.glob("*.jsonl"))}

    def age(self) -> dt.timedelta:
        try:
            return dt.datetime.now(dt.UTC) - dt.datetime.fromtimestamp(self.path.stat().st_mtime, dt.UTC)
        except OSError:
            return dt.timedelta(0)

    def remove(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)
        self.release()

    def release(self) -> None:
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._fd)
            self._fd = None


def stale_spools(parent: str | None = None, now: dt.datetime | None = None) -> Iterator[StaleSpool]:
    """Spools under ``parent`` (default ``$TMPDIR``) whose owner process is gone, each locked while yielded."""
    now = now or dt.datetime.now(dt.UTC)
    root = Path(parent or tempfile.gettempdir())
    for path in sorted(root.glob("feedvault-*")):
        if not SPOOL_RE.match(path.name) or not path.is_dir():
            continue
        lock = path / LOCK_NAME
        if not lock.exists():  # an older spool without a lock: judged by age
            try:
                age = now - dt.datetime.fromtimestamp(path.stat().st_mtime, dt.UTC)
            except OSError:
                continue
            if age > UNLOCKED_SPOOL_AGE:
                yield StaleSpool(path, {}, None)
            continue
        try:
            fd = os.open(lock, os.O_RDWR | os.O_CLOEXEC)
        except OSError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:  # its owner is alive (or another run is sweeping it)
            os.close(fd)
            continue
        try:
            meta = json.loads((path / META_NAME).read_text())
        except (OSError, ValueError):
            meta = {}
        yield StaleSpool(path, meta, fd)
