"""Versions of the software that produced an archive, recorded in WARC info, clean records and manifests."""

from __future__ import annotations

import functools
import platform
from importlib.metadata import PackageNotFoundError, version


@functools.cache
def versions() -> dict[str, str]:
    found = {"python": platform.python_version()}
    for package in ("feedvault", "scrapy", "trafilatura", "warcio", "boto3"):
        try:
            found[package] = version(package)
        except PackageNotFoundError:
            found[package] = "unknown"
    return found
