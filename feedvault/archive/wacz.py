"""WACZ export: archived captures packaged for the web-archiving ecosystem (ReplayWeb.page, pywb).

A WACZ (Web Archive Collection Zipped, spec 1.1.1) is a ZIP holding ``archive/*.warc.gz``, an index of them
(``indexes/index.cdx``, CDXJ lines as the spec names it), ``pages/pages.jsonl`` (the entry points, each with the
publisher's ``usage`` preferences at capture time) and ``datapackage.json`` listing every file
with its sha256, plus ``datapackage-digest.json`` (the hash of that). We copy each selected capture's records
(request, response and our metadata record, linked by ``WARC-Concurrent-To``) byte for byte from the archive's
WARCs: the WACZ holds exactly what was served, with the same record ids and digests as the archive.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import tempfile
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from typing import IO

from warcio.warcwriter import WARCWriter

from feedvault.archive.cdxj import index_warc
from feedvault.archive.warc import iter_records
from feedvault.catalog import Snapshot
from feedvault.store.backends import Store
from feedvault.versions import versions

WACZ_VERSION = "1.1.1"
WARC_NAME = "data.warc.gz"
PAGES_HEADER = {"format": "json-pages-1.0", "id": "pages", "title": "All Pages"}


@dataclass(frozen=True)
class WaczSummary:
    pages: int  # captures packaged
    records: int  # WARC records copied (request, response, metadata per capture)
    skipped: list[str]  # snapshot ids without a raw capture (clean-only permission) or whose record is gone
    bytes: int


def _warcinfo(title: str) -> bytes:
    buffer = io.BytesIO()
    writer = WARCWriter(buffer, gzip=True)
    info = {"software": f"feedvault/{versions()['feedvault']}", "format": "WARC File Format 1.1", "title": title}
    writer.write_record(writer.create_warcinfo_record(WARC_NAME, info))
    return buffer.getvalue()


def _capture_records(store: Store, warc_key: str, wanted: dict[int, Snapshot]) -> tuple[list[bytes], dict[int, str]]:
    """The gzip members of the captures whose response records start at the offsets in ``wanted``, in WARC
    order, and the offsets found with the URL their records are under (``WARC-Target-URI``: the URL fetched,
    which differs from the snapshot's identity when the page named a canonical URL). Request and metadata
    records join their response by ``WARC-Concurrent-To``."""
    data = store.get_bytes(warc_key)
    records = list(iter_records(data))
    ids = {view.warc_headers.get("WARC-Record-ID") for offset, _n, view in records if offset in wanted}
    ids.discard(None)
    members = []
    found: dict[int, str] = {}
    for offset, length, view in records:
        headers = view.warc_headers
        if headers.get("WARC-Record-ID") in ids or headers.get("WARC-Concurrent-To") in ids:
            members.append(data[offset : offset + length])
            if offset in wanted and view.rec_type == "response":
                found[offset] = headers.get("WARC-Target-URI") or wanted[offset].url
    return members, found


def write_wacz(store: Store, snapshots: Iterable[Snapshot], out: IO[bytes], *, title: str) -> WaczSummary:
    """Package ``snapshots`` (with their raw captures) as a WACZ written to ``out``."""
    by_warc: dict[str, dict[int, Snapshot]] = {}
    skipped: list[str] = []
    selected: list[Snapshot] = []
    for snapshot in snapshots:
        raw = snapshot.raw
        if not raw.get("warc_key") or raw.get("offset") is None:
            skipped.append(snapshot.id)
            continue
        by_warc.setdefault(raw["warc_key"], {})[int(raw["offset"])] = snapshot
        selected.append(snapshot)
    with tempfile.SpooledTemporaryFile(max_size=64 << 20) as warc:
        warc.write(_warcinfo(title))
        copied = 0
        packaged: dict[str, str] = {}  # snapshot id -> the URL its records are under
        for warc_key in sorted(by_warc):
            members, found = _capture_records(store, warc_key, by_warc[warc_key])
            for member in members:
                warc.write(member)
            copied += len(members)
            packaged.update((by_warc[warc_key][offset].id, url) for offset, url in found.items())
        skipped.extend(s.id for s in selected if s.id not in packaged)
        warc.seek(0)
        warc_bytes = warc.read()
    pages = [s for s in selected if s.id in packaged]
    files = {
        f"archive/{WARC_NAME}": warc_bytes,
        "indexes/index.cdx": index_warc(warc_bytes, WARC_NAME),
        "pages/pages.jsonl": _pages_jsonl(pages, packaged),
    }
    written = _zip(out, files, title)
    return WaczSummary(len(pages), copied, skipped, written)


def _pages_jsonl(pages: list[Snapshot], record_urls: dict[str, str]) -> bytes:
    lines = [json.dumps(PAGES_HEADER)]
    for s in pages:
        url = record_urls[s.id]  # the URL its records are under, so the page replays
        page = {"id": s.id, "url": url, "ts": s.fetched_at, "title": s.title or s.url, "usage": s.usage}
        lines.append(json.dumps(page, ensure_ascii=False))
    return ("\n".join(lines) + "\n").encode("utf-8")


def _zip(out: IO[bytes], files: dict[str, bytes], title: str) -> int:
    resources = [
        {"name": path.rsplit("/", 1)[-1], "path": path, "hash": _sha256(data), "bytes": len(data)}
        for path, data in files.items()
    ]
    package = {
        "profile": "data-package",
        "wacz_version": WACZ_VERSION,
        "title": title,
        "created": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "software": f"feedvault/{versions()['feedvault']}",
        "resources": resources,
    }
    package_bytes = json.dumps(package, indent=2, ensure_ascii=False).encode("utf-8")
    digest = {"path": "datapackage.json", "hash": _sha256(package_bytes)}
    start = out.tell() if out.seekable() else 0
    # STORED, not deflated: readers fetch WARC records and index lines by ranged reads inside the ZIP.
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_STORED) as archive:
        for path, data in files.items():
            archive.writestr(path, data)
        archive.writestr("datapackage.json", package_bytes)
        archive.writestr("datapackage-digest.json", json.dumps(digest, indent=2))
    return (out.tell() - start) if out.seekable() else sum(len(d) for d in files.values())


def _sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()
