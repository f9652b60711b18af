"""WARC/1.1 capture files (warcio), each record its own gzip member so any record can be read with one
ranged GET.

Every capture becomes three records: ``request``, ``response`` and ``metadata`` (JSON fetch context), the
request and metadata records pointing at the response with ``WARC-Concurrent-To``. Files roll over by size;
each starts with a ``warcinfo`` record.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import surt
from warcio.archiveiterator import ArchiveIterator
from warcio.bufferedreaders import BufferedReader, ChunkedDataReader
from warcio.statusandheaders import StatusAndHeaders, StatusAndHeadersParser
from warcio.timeutils import datetime_to_iso_date, iso_date_to_timestamp
from warcio.warcwriter import WARCWriter
from zlib_ng import zlib_ng

from feedvault.archive.rolling import RollingSpool, SpoolFileError

if TYPE_CHECKING:  # the extraction workers import this module: not boto3 with it (~35 MB each)
    from feedvault.store.backends import Store

WARC_VERSION = "1.1"
DEFAULT_GZIP_LEVEL = 6
Headers = Sequence[tuple[str, str]]
_NO_BODY_STATUSES = {204, 304}
_MIME_END = re.compile(r"[;\s]")  # cdxj-indexer's: the mime is the content type up to a parameter


@dataclass(frozen=True, kw_only=True)
class Capture:
    """One HTTP exchange as fetched. ``body`` is the payload as transferred (Content-Encoding intact)."""

    url: str
    request_method: str
    request_headers: Headers
    status: int
    reason: str
    protocol: str = "HTTP/1.1"
    response_headers: Headers
    body: bytes
    fetched_at: dt.datetime
    ip_address: str | None = None
    metadata: Mapping[str, Any] = field(default_factory=dict)  # JSON-serialisable fetch context

    def __post_init__(self) -> None:
        if self.fetched_at.tzinfo is None:
            raise ValueError("Capture.fetched_at must be timezone-aware")


@dataclass(frozen=True)
class RecordLocation:
    """Where a response record lives: its gzip member is ``length`` bytes at ``offset`` of ``warc_key``."""

    warc_key: str
    offset: int
    length: int
    record_id: str
    payload_sha256: str


@dataclass(frozen=True)
class IndexEntry:
    """The response record's CDXJ line as cdxj-indexer writes it, but for where the record lands in its file.

    Built with the record, so a finished WARC's index costs no second parse of the file; ``feedvault check``
    compares every stored index with cdxj-indexer's own output.
    """

    url_key: str  # SURT of the URL
    timestamp: str  # 14 digits
    fields: dict[str, str]  # url, mime, status, digest: cdxj-indexer's fields and order before length

    def line(self, warc_key: str, offset: int, length: int) -> str:
        index = {**self.fields, "length": str(length), "offset": str(offset), "filename": warc_key}
        return f"{self.url_key} {self.timestamp} {json.dumps(index)}\n"


def _index_entry(response: Any) -> IndexEntry:
    """cdxj-indexer's fields of a warcio response record (its ``CDXJIndexer`` with ``records="response"``)."""
    url = response.rec_headers.get_header("WARC-Target-URI")
    fields = {"url": url}
    mime = response.http_headers.get_header("content-type")
    if mime is not None:  # kept even when empty, as cdxj-indexer keeps it
        fields["mime"] = _MIME_END.split(mime, 1)[0].strip()
    fields["status"] = response.http_headers.get_statuscode()
    digest = response.rec_headers.get_header("WARC-Payload-Digest")
    if digest:
        fields["digest"] = digest
    try:
        url_key = surt.surt(url)
    except Exception:  # cdxj-indexer falls back to the URL itself
        url_key = url
    timestamp = iso_date_to_timestamp(response.rec_headers.get_header("WARC-Date"))
    return IndexEntry(url_key, timestamp, fields)


@dataclass(frozen=True)
class ExchangeRecords:
    """A capture's request and response records, serialised (one gzip member each) and ready to append.

    Built off the reactor (:func:`build_exchange`); the ``metadata`` record, which carries the permission
    decision, is added when the exchange is appended (:meth:`WarcRoller.append`).
    """

    data: bytes
    url: str
    date: str
    response_id: str
    response_offset: int  # within ``data``
    response_length: int
    payload_sha256: str
    changed_headers: list[list[str]]  # served headers dropped or rewritten for the stored body
    index_entry: IndexEntry


@dataclass(frozen=True)
class WarcRecordView:
    """A parsed record. ``payload`` is decoded of Content-Encoding; ``raw_payload`` is as stored."""

    rec_type: str
    warc_headers: dict[str, str]
    status: int | None
    http_headers: list[tuple[str, str]]
    payload: bytes
    raw_payload: bytes


def _warc_date(when: dt.datetime) -> str:
    return datetime_to_iso_date(when.astimezone(dt.UTC).replace(tzinfo=None), use_micros=True)


def _request_target(url: str) -> str:
    parts = urlsplit(url)
    return (parts.path or "/") + (f"?{parts.query}" if parts.query else "")


def _stored_response_headers(capture: Capture) -> tuple[list[tuple[str, str]], list[list[str]]]:
    """Headers to store with the de-chunked body, plus the served headers that were dropped or rewritten.

    The HTTP client already removed the transfer coding, so ``Transfer-Encoding`` would lie about the stored
    bytes; ``Content-Length`` must match them for replay tools to find the end of the payload.
    """
    headers: list[tuple[str, str]] = []
    changed: list[list[str]] = []
    for name, value in capture.response_headers:
        if name.lower() == "transfer-encoding":
            changed.append([name, value])
        else:
            headers.append((name, value))
    if capture.status in _NO_BODY_STATUSES or capture.request_method.upper() == "HEAD":
        return headers, changed  # Content-Length describes an entity that was not sent
    actual = str(len(capture.body))
    lengths = [(n, v) for n, v in headers if n.lower() == "content-length"]
    if [v.strip() for _, v in lengths] != [actual]:
        changed.extend([n, v] for n, v in lengths)
        headers = [(n, v) for n, v in headers if n.lower() != "content-length"]
        headers.append(("Content-Length", actual))
    return headers, changed


class _Writer:
    """warcio record building, serialised into a buffer with each record its own gzip member.

    warcio's own gzip output is fixed at level 9; records are written uncompressed and deflated here at
    ``gzip_level`` (6 by default: on HTML about 15% less CPU than 9 for about 2% more bytes) with zlib-ng, which
    writes the same standard gzip as zlib, as small, at about half its CPU on real pages (``bench/throughput.py``
    prints both).
    """

    def __init__(self, gzip_level: int = DEFAULT_GZIP_LEVEL) -> None:
        self.gzip_level = gzip_level
        self.buffer = io.BytesIO()
        self._plain = io.BytesIO()
        self.writer = WARCWriter(self._plain, gzip=False, warc_version=WARC_VERSION)

    def write(self, record: Any) -> tuple[int, int]:
        self._plain.seek(0)
        self._plain.truncate()
        self.writer.write_record(record)
        deflate = zlib_ng.compressobj(self.gzip_level, zlib_ng.DEFLATED, zlib_ng.MAX_WBITS | 16)
        member = deflate.compress(self._plain.getbuffer()) + deflate.flush()
        start = self.buffer.tell()
        self.buffer.write(member)
        return start, len(member)

    def exchange_records(self, capture: Capture) -> ExchangeRecords:
        """Request and response records of ``capture`` (the costly part: digests and gzip of the body)."""
        w = self.writer
        headers, changed = _stored_response_headers(capture)
        response_id = StatusAndHeadersParser.make_warc_id()
        date = _warc_date(capture.fetched_at)
        request_http = StatusAndHeaders(
            f"{_request_target(capture.url)} {capture.protocol}",
            list(capture.request_headers),
            protocol=capture.request_method.upper(),
        )
        self.write(
            w.create_warc_record(
                capture.url,
                "request",
                http_headers=request_http,
                warc_headers_dict={"WARC-Date": date, "WARC-Concurrent-To": response_id},
            )
        )
        response_headers = {"WARC-Record-ID": response_id, "WARC-Date": date}
        if capture.ip_address:
            response_headers["WARC-IP-Address"] = capture.ip_address
        response = w.create_warc_record(
            capture.url,
            "response",
            payload=io.BytesIO(capture.body),
            length=len(capture.body),
            http_headers=StatusAndHeaders(f"{capture.status} {capture.reason}".strip(), headers, capture.protocol),
            warc_headers_dict=response_headers,
        )
        offset, length = self.write(response)
        return ExchangeRecords(
            data=self.take(),
            url=capture.url,
            date=date,
            response_id=response_id,
            response_offset=offset,
            response_length=length,
            payload_sha256=hashlib.sha256(capture.body).hexdigest(),
            changed_headers=changed,
            index_entry=_index_entry(response),
        )

    def metadata_record(self, exchange: ExchangeRecords, metadata: Mapping[str, Any]) -> bytes:
        """The ``metadata`` record (JSON fetch context) that follows ``exchange``'s response."""
        context = dict(metadata)
        if exchange.changed_headers:
            context["original_response_headers"] = exchange.changed_headers
        body = json.dumps(context, sort_keys=True, ensure_ascii=False).encode("utf-8")
        self.write(
            self.writer.create_warc_record(
                exchange.url,
                "metadata",
                payload=io.BytesIO(body),
                length=len(body),
                warc_content_type="application/json",
                warc_headers_dict={"WARC-Date": exchange.date, "WARC-Concurrent-To": exchange.response_id},
            )
        )
        return self.take()

    def take(self) -> bytes:
        data = self.buffer.getvalue()
        self.buffer.seek(0)
        self.buffer.truncate()
        return data


def build_exchange(capture: Capture, gzip_level: int = DEFAULT_GZIP_LEVEL) -> ExchangeRecords:
    """Serialise a capture's request and response records; a pure function, run in the extraction workers."""
    return _Writer(gzip_level).exchange_records(capture)


class WarcSpoolError(SpoolFileError):
    """A WARC file could not be written to (or closed in) the local spool, e.g. the disk is full. The file is
    abandoned: it is never uploaded, so every record already appended to it is lost with it."""


class WarcRoller(RollingSpool):
    """Write captures into size-limited WARC files spooled locally; hand each finished file to ``on_complete``.

    Captures come whole (:meth:`write_capture`) or as records prebuilt in another process (:meth:`append`).

    ``on_complete(key, path)`` uploads the file (and then deletes it). Used from one thread only.
    """

    error = WarcSpoolError
    suffix = ".warc.gz"

    def __init__(
        self,
        key_for_serial: Callable[[int], str],
        spool_dir: Path,
        max_bytes: int,
        on_complete: Callable[[str, Path], None],
        warcinfo: Mapping[str, Any],
        gzip_level: int = DEFAULT_GZIP_LEVEL,
    ) -> None:
        super().__init__(key_for_serial, spool_dir, max_bytes, on_complete)
        self.warcinfo = {
            "software": "feedvault (warcio)",
            "format": f"WARC File Format {WARC_VERSION}",
            "conformsTo": "https://iipc.github.io/warc-specifications/specifications/warc-format/warc-1.1/",
            **warcinfo,
        }
        self._records = _Writer(gzip_level)
        self._index: dict[str, list[str]] = {}  # WARC key -> the CDXJ lines of its response records

    def _header(self, key: str) -> bytes:
        info = self._records.writer.create_warcinfo_record(Path(key).name, self.warcinfo)
        self._records.write(info)
        return self._records.take()

    def write_capture(self, capture: Capture) -> RecordLocation:
        """Build and append one capture (request, response, metadata); returns where its response record is."""
        return self.append(build_exchange(capture, self._records.gzip_level), capture.metadata)

    def append(self, exchange: ExchangeRecords, metadata: Mapping[str, Any]) -> RecordLocation:
        """Append prebuilt request and response records plus their metadata record. Rolls past ``max_bytes``."""
        # Everything is serialised before the file is touched: a failure never leaves half a capture in it.
        data = self._records.metadata_record(exchange, metadata)
        key, base = self._write(exchange.data, data)
        location = RecordLocation(
            key,
            base + exchange.response_offset,
            exchange.response_length,
            exchange.response_id,
            exchange.payload_sha256,
        )
        self._index.setdefault(key, []).append(exchange.index_entry.line(key, location.offset, location.length))
        self._roll_if_full()
        return location

    def take_index(self, key: str) -> bytes:
        """The CDXJ of the finished file ``key`` (sorted, as cdxj-indexer writes it); forgotten once taken."""
        return "".join(sorted(self._index.pop(key, []))).encode("utf-8")

    def _abandon(self, cause: BaseException) -> SpoolFileError:
        if self._key is not None:
            self._index.pop(self._key, None)
        return super()._abandon(cause)


def _view(record: Any) -> WarcRecordView:
    """Materialise a warcio record (its stream is only valid until the iterator moves on)."""
    raw = record.raw_stream.read()
    http = record.http_headers
    payload = raw
    if http is not None:
        encoding = (http.get_header("content-encoding") or "").strip().lower()
        if encoding not in BufferedReader.get_supported_decompressors():
            encoding = None
        if (http.get_header("transfer-encoding") or "").lower() == "chunked":
            payload = ChunkedDataReader(io.BytesIO(raw), decomp_type=encoding).read()
        elif encoding:
            payload = BufferedReader(io.BytesIO(raw), decomp_type=encoding).read()
    status = None
    if http is not None and record.rec_type in ("response", "revisit"):
        status = int(http.get_statuscode())
    return WarcRecordView(
        rec_type=record.rec_type,
        warc_headers=dict(record.rec_headers.headers),
        status=status,
        http_headers=list(http.headers) if http is not None else [],
        payload=payload,
        raw_payload=raw,
    )


def iter_records(source: Path | str | bytes) -> Iterator[tuple[int, int, WarcRecordView]]:
    """Every record of a WARC file (path or bytes) as ``(offset, length, view)``."""
    with io.BytesIO(source) if isinstance(source, bytes) else open(source, "rb") as fh:
        it = ArchiveIterator(fh)
        for record in it:
            view = _view(record)
            yield it.get_record_offset(), it.get_record_length(), view


def read_record(store: Store, location: RecordLocation) -> WarcRecordView:
    """The response record at ``location``, fetched with exactly one ranged GET."""
    from feedvault.store.backends import StorageError

    data = store.get_bytes(location.warc_key, start=location.offset, length=location.length)
    if len(data) != location.length:
        raise StorageError(f"{location.warc_key}: expected {location.length} bytes at {location.offset}")
    records = list(iter_records(data))
    if len(records) != 1 or records[0][2].rec_type != "response":
        raise StorageError(f"{location.warc_key}@{location.offset}: not a single response record")
    view = records[0][2]
    if hashlib.sha256(view.raw_payload).hexdigest() != location.payload_sha256:
        raise StorageError(f"{location.warc_key}@{location.offset}: payload sha256 does not match the location")
    return view
