"""The one place the JSON API, the pages and the CLI get archive data from: the catalog plus S3 reads.

Listings, search and snapshot text come from the :class:`~feedvault.catalog.BrowseCatalog`; clean JSON, raw captures
and manifests come from the store (a raw capture with exactly one ranged GET). Unknown ids raise
:class:`NotFoundError`, which the web layer maps to 404; a failing store raises ``StorageError`` (503 there).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import logging
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import IO, Any

from feedvault import keys
from feedvault.archive.clean_segments import dumps_line, read_clean_record, read_clean_records
from feedvault.archive.warc import RecordLocation, WarcRecordView, iter_records
from feedvault.catalog import BrowseCatalog, Snapshot, SnapshotSummary, is_snapshot_id
from feedvault.config import HealthSettings
from feedvault.permission.usage import training_reserved_by, usage_of
from feedvault.store.backends import NotFound, Store
from feedvault.web.diffing import TextDiff, diff_lines

logger = logging.getLogger(__name__)

EXPORT_SPOOL_BYTES = 8 * 1024 * 1024
"""A day's export is held in memory up to this size while it is read, then in a temporary file."""


class NotFoundError(LookupError):
    """No such snapshot, URL, feed, day or run in the archive (or it was taken down)."""


#: Export purposes a publisher's usage preferences can rule snapshots out of: purpose -> who reserved it.
EXPORT_PURPOSES: dict[str, Callable[[Mapping[str, Any]], list[str]]] = {"ai-training": training_reserved_by}


@dataclass
class ExportTally:
    """What an export for a purpose (``--for ai-training``) wrote and left out, and why (reserving signals)."""

    purpose: str | None = None
    written: int = 0
    left_out: int = 0
    reasons: Counter[str] = field(default_factory=Counter)  # signal -> snapshots it ruled out

    def admit(self, usage: Mapping[str, Any]) -> bool:
        """Whether a snapshot with this usage field may go into the export; counts it either way."""
        reserved = EXPORT_PURPOSES[self.purpose](usage) if self.purpose else []
        if reserved:
            self.left_out += 1
            self.reasons.update(reserved)
            return False
        self.written += 1
        return True

    def note(self) -> str:
        """One line for people: how many were left out and which publisher signals reserved the use."""
        if not self.purpose:
            return ""
        why = ", ".join(f"{signal} {count}" for signal, count in sorted(self.reasons.items()))
        return (
            f"{self.left_out} snapshots left out for {self.purpose}: the publisher reserved it ({why})"
            if self.left_out
            else f"no snapshot left out for {self.purpose}"
        )


@dataclass(frozen=True)
class RawCapture:
    """A raw capture as archived: the WARC response record's headers, the HTTP response, the payload."""

    snapshot_id: str
    url: str
    warc_headers: dict[str, str]
    status: int | None
    http_headers: list[tuple[str, str]]
    payload: bytes  # decoded of Content-Encoding
    location: RecordLocation

    @property
    def content_type(self) -> str:
        value = next((v for n, v in self.http_headers if n.lower() == "content-type"), "")
        return value or "application/octet-stream"


@dataclass(frozen=True)
class SnapshotDiff:
    a: SnapshotSummary
    b: SnapshotSummary
    diff: TextDiff


class ArchiveService:
    """Read access to the archive for the API, the pages and the CLI."""

    def __init__(self, store: Store, catalog: BrowseCatalog, refresh_seconds: float | None = None) -> None:
        """``refresh_seconds``: how often :meth:`refresh_if_due` looks for a newer published catalog (None: never)."""
        self.store = store
        self.catalog = catalog
        self.refresh_seconds = refresh_seconds
        self._checked_at = time.monotonic()  # the catalog was just opened, which synced it
        self._refreshing = threading.Lock()
        self.health_settings: HealthSettings | None = None  # the registry's, when the app has one; else defaults

    def health(self, feed_ids: list[str] | None = None) -> list[dict[str, Any]]:
        """Every feed's health (or the named feeds'), worst first: one GET of ``health/feeds.json``."""
        from feedvault.monitoring.health import report

        return report(self.store, self.health_settings or HealthSettings(), feed_ids=feed_ids)

    def refresh_if_due(self) -> None:
        """Sync the catalog with the published one when ``refresh_seconds`` have passed since the last look.

        A long-running browser otherwise shows the archive as it was when it started. One HEAD per period; one
        thread looks while the others go on with the copy they have. If the archive cannot be reached, the
        local copy keeps serving and the next period tries again.
        """
        if self.refresh_seconds is None or time.monotonic() - self._checked_at < self.refresh_seconds:
            return
        if not self._refreshing.acquire(blocking=False):
            return
        try:
            self._checked_at = time.monotonic()
            if self.catalog.sync(self.store):
                logger.info("browse catalog synced with the published one")
        except Exception as exc:
            logger.warning("browse catalog not synced (serving the local copy; retried later): %s", exc)
        finally:
            self._refreshing.release()

    def snapshot(self, snapshot_id: str) -> Snapshot:
        found = self.catalog.snapshot(snapshot_id)
        if found is None:
            raise NotFoundError(f"no snapshot {snapshot_id!r}")
        return found

    def resolve(self, url_or_id: str) -> Snapshot:
        """A snapshot by id, or the latest snapshot of a URL."""
        if is_snapshot_id(url_or_id):
            return self.snapshot(url_or_id)
        history = self.history(url_or_id)
        return self.snapshot(history[-1].id)

    def history(self, url: str) -> list[SnapshotSummary]:
        """Every snapshot of ``url``, oldest first; NotFoundError if there is none."""
        found = self.catalog.history(url)
        if not found:
            raise NotFoundError(f"no snapshot of {url!r}")
        return found

    def clean_record(self, snapshot_id: str) -> dict[str, Any]:
        pointer = self.snapshot(snapshot_id).clean_key
        try:
            return read_clean_record(self.store, pointer)
        except NotFound:
            raise NotFoundError(f"{pointer} is missing from the archive (reindex the catalog)") from None

    def clean_record_bytes(self, snapshot_id: str) -> bytes:
        """The clean record as JSON (one line of its segment; an old-layout object as stored)."""
        pointer = self.snapshot(snapshot_id).clean_key
        if keys.parse_clean_pointer(pointer).offset is None:
            return self._get(pointer)
        return dumps_line(self.clean_record(snapshot_id)).rstrip(b"\n")

    def _location(self, snapshot: Snapshot) -> RecordLocation:
        raw = snapshot.raw
        if not raw.get("warc_key") or raw.get("offset") is None or not raw.get("length"):
            raise NotFoundError(f"snapshot {snapshot.id} has no raw capture (the permission scope excluded it)")
        return RecordLocation(raw["warc_key"], raw["offset"], raw["length"], raw.get("record_id") or "", raw["sha256"])

    def raw_record(self, snapshot_id: str) -> RawCapture:
        """The raw capture of a snapshot, read with one ranged GET of its WARC response record."""
        snapshot = self.snapshot(snapshot_id)
        location, _data, view = self._fetch_record(snapshot)
        return RawCapture(
            snapshot_id, snapshot.url, view.warc_headers, view.status, view.http_headers, view.payload, location
        )

    def warc_record_bytes(self, snapshot_id: str) -> bytes:
        """The response record's gzip member as stored (a valid one-record ``.warc.gz``)."""
        return self._fetch_record(self.snapshot(snapshot_id))[1]

    def snapshot_wacz(self, snapshot_id: str) -> bytes:
        """One capture as a WACZ file (its request, response and metadata records, index, page list)."""
        import io

        from feedvault.archive.wacz import write_wacz

        snapshot = self.snapshot(snapshot_id)
        self._location(snapshot)  # NotFoundError when the permission kept no raw capture
        buffer = io.BytesIO()
        summary = write_wacz(
            self.store, [snapshot], buffer, title=f"feedvault: {snapshot.url} at {snapshot.fetched_at}"
        )
        if not summary.pages:
            raise NotFoundError(f"the raw capture of snapshot {snapshot.id} is not where the archive says it is")
        return buffer.getvalue()

    def _fetch_record(self, snapshot: Snapshot) -> tuple[RecordLocation, bytes, WarcRecordView]:
        """One ranged GET at the catalog's pointer, checked (one response record, the payload's sha256).

        Should the pointer be stale (a takedown rewrote the WARC since the catalog was built), the clean record
        in the archive, which is always current, gives the location and the read is tried once more.
        """
        for current in (False, True):
            if current:
                snapshot = dataclasses.replace(snapshot, raw=self.clean_record(snapshot.id).get("raw") or {})
            location = self._location(snapshot)
            try:
                data = self.store.get_bytes(location.warc_key, start=location.offset, length=location.length)
            except (NotFound, ValueError):  # gone, or the range is past the end of a shorter WARC
                continue  # (a StorageError, the archive unreachable, is not "elsewhere": it propagates)
            view = _response_view(data, location)
            if view is not None:
                return location, data, view
        raise NotFoundError(f"the raw capture of snapshot {snapshot.id} is not where the archive says it is")

    def diff(self, snapshot_a: str, snapshot_b: str) -> SnapshotDiff:
        """Line diff of the clean text of two snapshots (any two, usually of one URL)."""
        a, b = self.snapshot(snapshot_a), self.snapshot(snapshot_b)
        return SnapshotDiff(a.summary, b.summary, diff_lines(a.text, b.text))

    def day_jsonl(self, feed: str, day: str | dt.date, tally: ExportTally | None = None) -> Iterator[bytes]:
        """A feed's day as JSON Lines: each clean record as stored, one per line, with its ``usage`` field (derived
        for records archived before it existed). With a ``tally`` for a purpose (``ai-training``), records whose
        publisher reserved that use are left out and counted there. NotFoundError if the day has no snapshots."""
        entries = self.catalog.day_snapshots(feed, day)
        if not entries:
            raise NotFoundError(f"no snapshots of feed {feed!r} on {day}")
        return self._jsonl(entries, tally or ExportTally())

    def day_jsonl_file(self, feed: str, day: str | dt.date, tally: ExportTally | None = None) -> tuple[IO[bytes], int]:
        """A feed's day as JSON Lines, read in full before anything is sent: (file at offset 0, size in bytes).

        A download must not answer 200 and then stop half-way when the archive fails mid-read (a client such as
        ``curl --fail`` would keep a truncated file as a success): every record is fetched into a spooled
        temporary file first (memory up to ``EXPORT_SPOOL_BYTES``, then disk), so a failure is an error status.
        """
        lines = self.day_jsonl(feed, day, tally)
        spool = tempfile.SpooledTemporaryFile(max_size=EXPORT_SPOOL_BYTES)  # noqa: SIM115 (the caller closes it)
        try:
            for line in lines:
                spool.write(line)
            size = spool.tell()
            spool.seek(0)
        except BaseException:
            spool.close()
            raise
        return spool, size

    def _jsonl(self, entries: list[tuple[str, str]], tally: ExportTally) -> Iterator[bytes]:
        for _clean_key, record in read_clean_records(self.store, [clean_key for _sid, clean_key in entries]):
            if record is None:
                continue  # taken down since the listing was read
            record["usage"] = usage_of(record)
            if not tally.admit(record["usage"]):
                continue
            yield json.dumps(record, ensure_ascii=False, separators=(",", ":")).encode("utf-8") + b"\n"

    def run_manifest(self, run_id: str) -> dict[str, Any]:
        run = self.catalog.run(run_id) if keys.RUN_ID_RE.match(run_id) else None
        if run is None:
            raise NotFoundError(f"no committed run {run_id!r}")
        return json.loads(self._get(run.manifest_key))

    def _get(self, key: str, start: int | None = None, length: int | None = None) -> bytes:
        try:
            return self.store.get_bytes(key, start=start, length=length)
        except NotFound:
            raise NotFoundError(f"{key} is missing from the archive (reindex the catalog)") from None


def _response_view(data: bytes, location: RecordLocation) -> WarcRecordView | None:
    """``data`` parsed if it is exactly the response record ``location`` describes, else None."""
    if len(data) != location.length:
        return None
    try:
        records = list(iter_records(data))
    except Exception:  # bytes from a stale offset: any parse error of warcio/gzip means "not here"
        return None
    view = records[0][2] if len(records) == 1 else None
    if view is None or view.rec_type != "response":
        return None
    return view if hashlib.sha256(view.raw_payload).hexdigest() == location.payload_sha256 else None
