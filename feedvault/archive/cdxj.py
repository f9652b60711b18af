"""CDXJ indexes of the raw WARCs (cdxj-indexer), written next to each WARC so standard tools (pywb) replay them.

A run writes each WARC's index from the lines its roller built with the records
(:meth:`feedvault.archive.warc.WarcRoller.take_index`, equal to this module's output); takedown, the checker and
``feedvault cdxj`` (WARCs that lack an index: archives from before, or a run whose index upload failed) run
cdxj-indexer over the file.

``raw/<feed>/<yyyy>/<mm>/<dd>/<run-id>-<nnnnn>.warc.gz`` gets ``...<run-id>-<nnnnn>.cdxj``: sorted, one line per
response record, the ``filename`` field being the WARC's key relative to the archive root. So a pywb collection
whose ``archive_paths`` is the archive root (a directory copy or the bucket's HTTP endpoint) replays them. A
retry of a run deletes its CDXJ together with its WARCs (same key prefix).
"""

from __future__ import annotations

import io
import logging
import warnings
from collections.abc import Callable, Iterable
from typing import IO

from feedvault.store.backends import NotFound, Store

logger = logging.getLogger(__name__)

WARC_SUFFIX = ".warc.gz"
CDXJ_SUFFIX = ".cdxj"


def cdxj_key(warc_key: str) -> str:
    """The CDXJ index key of a WARC key."""
    if not warc_key.endswith(WARC_SUFFIX):
        raise ValueError(f"not a WARC key: {warc_key!r}")
    return warc_key[: -len(WARC_SUFFIX)] + CDXJ_SUFFIX


def index_warc(data: bytes | IO[bytes], filename: str) -> bytes:
    """CDXJ lines (sorted) for the response records of one WARC file (its bytes, or a binary file object).

    ``filename`` is what the lines name: the WARC's key relative to the archive root.
    """
    with warnings.catch_warnings():  # ~0.2 s to import, so only where it is used
        # pyamf (a cdxj-indexer dependency) imports pkg_resources, which warns on every run's stderr and task log.
        warnings.filterwarnings("ignore", message="pkg_resources is deprecated", category=UserWarning)
        from cdxj_indexer.main import CDXJIndexer

    out = io.StringIO()
    source = io.BytesIO(data) if isinstance(data, bytes) else data
    CDXJIndexer(out, [source], filename=filename, sort=True, records="response").process_all()
    return out.getvalue().encode("utf-8")


def write_cdxj(
    store: Store, warc_keys: Iterable[str], *, force: bool = False, progress: Callable[[str], None] | None = None
) -> list[str]:
    """Write the CDXJ of each WARC that lacks one (all with ``force``); returns the CDXJ keys written."""
    written = []
    for warc_key in warc_keys:
        key = cdxj_key(warc_key)
        if not force and store.head(key) is not None:
            continue
        try:
            data = store.get_bytes(warc_key)
        except NotFound:
            logger.warning("cdxj: %s vanished before it was indexed", warc_key)
            continue
        store.put_bytes(key, index_warc(data, warc_key), content_type="text/plain; charset=utf-8")
        written.append(key)
        if progress:
            progress(key)
    return written


def archive_warcs(store: Store, prefix: str = "raw/") -> list[str]:
    """Every WARC key under ``prefix`` (an S3 listing: for the indexing step, never for browsing)."""
    return [obj.key for obj in store.list(prefix) if obj.key.endswith(WARC_SUFFIX)]
