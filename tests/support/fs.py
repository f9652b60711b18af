"""Real small or read-only filesystems for fault tests: a tmpfs mounted on a test directory.

Mounting needs root (or CAP_SYS_ADMIN); where it is not permitted the test is skipped with that reason. A full
or read-only directory cannot be faked with file modes here: root ignores them.
"""

from __future__ import annotations

import contextlib
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest


@contextlib.contextmanager
def small_filesystem(path: Path, size: str = "256k") -> Iterator[Path]:
    """``path`` as the mount point of a fresh tmpfs of ``size`` (``mount -t tmpfs``), unmounted afterwards."""
    path.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs", str(path)], capture_output=True, text=True
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a {size} tmpfs for this fault test ({mounted.stderr.strip()}); needs root")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], capture_output=True, check=False)


def remount(path: Path, *, read_only: bool) -> None:
    """Make a :func:`small_filesystem` read-only, or writable again."""
    mode = "ro" if read_only else "rw"
    subprocess.run(["mount", "-o", f"remount,{mode}", str(path)], capture_output=True, text=True, check=True)


def fill(path: Path) -> Path:
    """Fill the filesystem holding ``path`` with one file (writes stop at ENOSPC); returns it, to free it later."""
    filler = path / ".filler"
    with open(filler, "wb", buffering=0) as fh, contextlib.suppress(OSError):
        while True:
            fh.write(b"\0" * 4096)
    return filler
