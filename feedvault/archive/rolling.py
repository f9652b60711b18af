"""Files rolled by size in a local spool, each handed on (uploaded) when it is full or closed.

The one pattern behind WARC files (:class:`feedvault.archive.warc.WarcRoller`) and clean segments
(:class:`feedvault.archive.clean_segments.CleanSegmentRoller`): append whole entries, never half of one; roll past
``max_bytes``; a file the spool cannot write (a full disk) is abandoned and never uploaded, and the error names
it so that every entry already appended to it can be withdrawn.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import IO


class SpoolFileError(Exception):
    """A rolled file could not be written to (or closed in) the local spool, e.g. the disk is full. The file is
    abandoned: it is never uploaded, so every entry already appended to it is lost with it."""

    def __init__(self, key: str | None, cause: BaseException) -> None:
        self.key = key
        self.cause = cause
        reason = cause.strerror if isinstance(cause, OSError) and cause.strerror else str(cause)
        super().__init__(f"{key or 'a new file'}: not written to the spool ({type(cause).__name__}: {reason})")


class RollingSpool:
    """Size-limited files spooled locally under keys ``key_for_serial(0)``, ``(1)``...; ``on_complete(key, path)``
    gets each finished file (it uploads it, then deletes or keeps the path). Used from one thread only.

    Subclasses may write a header when a file opens (:meth:`_header`) and set :attr:`error` to their own
    :class:`SpoolFileError` subclass.
    """

    error: type[SpoolFileError] = SpoolFileError
    suffix = ".part"

    def __init__(
        self,
        key_for_serial: Callable[[int], str],
        spool_dir: Path,
        max_bytes: int,
        on_complete: Callable[[str, Path], None],
    ) -> None:
        self.key_for_serial = key_for_serial
        self.spool_dir = Path(spool_dir)
        self.max_bytes = max_bytes
        self.on_complete = on_complete
        self._serial = 0
        self._file: IO[bytes] | None = None
        self._path: Path | None = None
        self._key: str | None = None
        self.completed: list[str] = []
        self.abandoned: list[str] = []  # keys of files that failed in the spool: never uploaded

    def _header(self, key: str) -> bytes:
        """Bytes every file starts with (none by default)."""
        return b""

    def _open(self) -> None:
        self._key = self.key_for_serial(self._serial)
        self._serial += 1
        self.spool_dir.mkdir(parents=True, exist_ok=True)
        # Unique names: two rollers (feeds) of one run share a spool dir and a key basename.
        fd, name = tempfile.mkstemp(dir=self.spool_dir, prefix="spool-", suffix=self.suffix)
        self._file, self._path = os.fdopen(fd, "wb"), Path(name)
        self._file.write(self._header(self._key))

    def _write(self, *chunks: bytes) -> tuple[str, int]:
        """Append ``chunks`` to the current file (opening one if needed); returns (its key, where they start).
        Prepare everything before calling: a failure never leaves half an entry in a file that is kept."""
        try:
            if self._file is None:
                self._open()
            assert self._file is not None and self._key is not None
            base = self._file.tell()
            for chunk in chunks:
                self._file.write(chunk)
        except OSError as exc:  # the spool is full or gone: this file may have lost any entry appended to it
            raise self._abandon(exc) from exc
        return self._key, base

    def _roll_if_full(self) -> None:
        if self._file is not None and self._file.tell() >= self.max_bytes:
            self._finish()

    def _finish(self) -> None:
        assert self._file is not None and self._key is not None and self._path is not None
        try:
            self._file.close()  # flushes what is buffered: may fail on a full disk
        except OSError as exc:
            raise self._abandon(exc) from exc
        key, path = self._key, self._path
        self._file = self._path = self._key = None
        self.on_complete(key, path)
        self.completed.append(key)

    def _abandon(self, cause: BaseException) -> SpoolFileError:
        """Drop the current file (it cannot be trusted to hold what was appended); the next append starts a new
        one. Returns the error to raise, naming the abandoned key."""
        key, fh, path = self._key, self._file, self._path
        self._file = self._path = self._key = None
        if fh is not None:
            with contextlib.suppress(OSError):  # the buffer that failed to flush is discarded with the file
                fh.close()
        if path is not None:
            path.unlink(missing_ok=True)
        if key is not None:
            self.abandoned.append(key)
        return self.error(key, cause)

    def close(self) -> None:
        """Finish the current file, if any (no file at all when nothing was written)."""
        if self._file is not None:
            self._finish()

    def __enter__(self) -> RollingSpool:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
