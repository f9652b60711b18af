"""Clean records in segments: rolled ``.jsonl.gz`` files beside the WARCs, one gzip member per record.

A segment (``clean/<feed>/<yyyy>/<mm>/<dd>/<run-id>-<nnnnn>.jsonl.gz``) is plain JSON Lines once decompressed
(``zcat seg.jsonl.gz | jq``, DuckDB's ``read_json``), and each record is its own gzip member, so a record is one
ranged GET: its clean pointer (:func:`feedvault.keys.clean_pointer`) is ``<segment key>#<offset>+<length>``. A run
writes them like WARCs (:class:`CleanSegmentRoller`, rolled by size in the spool, uploaded when full) under the
same commit rules: the run manifest commits them, and a failed upload withdraws the snapshots in that segment.

Pointers never move. Each member carries a little padding in its gzip header (an ``FEXTRA`` field), so a
takedown rewrites a segment in place: a removed record becomes empty members of exactly its length (nothing is
left of it, and ``zcat`` prints nothing for it), and a record whose raw pointer moved (its WARC was rewritten) is
re-encoded into exactly its old length (:func:`refit_member`). Manifests, seen state and the catalog keep their
pointers, and snapshot ids stay stable.

Archives written before segments hold one JSON object per record (``.../<run-id>/<url-key>.json``); its key is
its pointer and :func:`read_clean_record` reads both.
"""

from __future__ import annotations

import json
import struct
import zlib
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from feedvault import keys
from feedvault.archive.rolling import RollingSpool, SpoolFileError
from feedvault.store.backends import NotFound, StorageError, Store, batches

DEFAULT_GZIP_LEVEL = 6
SLACK = 16  # header padding per member: room for a rewrite whose compressed size grows a little
_SUBFIELD = b"FV"  # RFC 1952 FEXTRA subfield id of the padding
_MEMBER_OVERHEAD = 10 + 2 + 4 + 8  # header, XLEN, subfield header, trailer
_EMPTY_DEFLATE = b"\x03\x00"
_MAX_PAD = 0xFFFF - 4
WHOLE_SEGMENT_FROM = 8  # read a whole segment, not ranges, when at least this many of its records are wanted
READERS = 16
_CHUNK = 1 << 16


class CleanSegmentSpoolError(SpoolFileError):
    """A clean segment could not be written to (or closed in) the spool: its records are lost with it."""


def _member(body: bytes, crc: int, size: int, pad: int) -> bytes:
    extra = _SUBFIELD + struct.pack("<H", pad) + b"\0" * pad
    header = b"\x1f\x8b\x08\x04\0\0\0\0\0\xff" + struct.pack("<H", len(extra)) + extra
    return header + body + struct.pack("<II", crc & 0xFFFFFFFF, size & 0xFFFFFFFF)


def _deflate(data: bytes, level: int) -> bytes:
    deflate = zlib.compressobj(level, zlib.DEFLATED, -zlib.MAX_WBITS)
    return deflate.compress(data) + deflate.flush()


def encode_member(line: bytes, level: int = DEFAULT_GZIP_LEVEL) -> bytes:
    """One gzip member holding ``line`` (a JSON line, newline included), with :data:`SLACK` bytes of padding."""
    return _member(_deflate(line, level), zlib.crc32(line), len(line), SLACK)


def refit_member(line: bytes, length: int) -> bytes:
    """``line`` as one gzip member of exactly ``length`` bytes (a rewrite in place). ValueError if it cannot fit."""
    for level in (9, 6, 1):
        body = _deflate(line, level)
        pad = length - _MEMBER_OVERHEAD - len(body)
        if 0 <= pad <= _MAX_PAD:
            return _member(body, zlib.crc32(line), len(line), pad)
    raise ValueError(f"a record of {len(line)} bytes does not fit in place ({length} bytes); rewrite the segment")


def blank_members(length: int) -> bytes:
    """Empty gzip members (no payload) filling exactly ``length`` bytes: what a removed record leaves."""
    smallest, largest = _MEMBER_OVERHEAD + len(_EMPTY_DEFLATE), _MEMBER_OVERHEAD + len(_EMPTY_DEFLATE) + _MAX_PAD
    if length < smallest:
        raise ValueError(f"{length} bytes cannot hold an empty gzip member")
    members, left = [], length
    while left:
        take = min(left, largest)
        if 0 < left - take < smallest:
            take = left - smallest
        members.append(_member(_EMPTY_DEFLATE, 0, 0, take - smallest))
        left -= take
    return b"".join(members)


def _member_at(data: memoryview, offset: int) -> tuple[int, bytes]:
    """(length, payload) of the gzip member at ``offset``, fed in chunks so nothing copies the rest of a segment."""
    inflate = zlib.decompressobj(zlib.MAX_WBITS | 16)
    out, pos = [], offset
    try:
        while not inflate.eof and pos < len(data):
            chunk = data[pos : pos + _CHUNK]
            out.append(inflate.decompress(chunk))
            pos += len(chunk)
    except zlib.error as exc:
        raise ValueError(f"not a gzip member at {offset} ({exc})") from None
    if not inflate.eof:
        raise ValueError(f"a truncated gzip member at {offset}")
    return pos - len(inflate.unused_data) - offset, b"".join(out)


def iter_members(data: bytes) -> Iterator[tuple[int, int, bytes]]:
    """``(offset, length, payload)`` of every gzip member of a segment (payload ``b""`` for padding left by a
    takedown). ValueError on bytes that are not whole members."""
    view, offset = memoryview(data), 0
    while offset < len(view):
        length, payload = _member_at(view, offset)
        yield offset, length, payload
        offset += length


def decode_members(data: bytes) -> bytes:
    """The concatenated payload of the whole gzip members in ``data``. ValueError if they are not that."""
    return b"".join(payload for _offset, _length, payload in iter_members(data))


def iter_records(data: bytes) -> Iterator[tuple[int, int, dict[str, Any]]]:
    """``(offset, length, record)`` of every record of a segment (removed records skipped)."""
    for offset, length, payload in iter_members(data):
        if payload.strip():
            yield offset, length, json.loads(payload)


def dumps_line(record: dict[str, Any]) -> bytes:
    """A record as one JSON line, as segments hold it."""
    return json.dumps(record, ensure_ascii=False, separators=(",", ":")).encode("utf-8") + b"\n"


def _parse(pointer: str, data: bytes) -> dict[str, Any]:
    try:
        payload = decode_members(data)
    except ValueError as exc:
        raise StorageError(
            f"{pointer}: not a clean record ({exc}); the pointer is stale or the segment damaged"
        ) from None
    if not payload.strip():
        raise NotFound(pointer)  # removed by a takedown: only padding is left
    return json.loads(payload)


def read_clean_record(store: Store, pointer: str) -> dict[str, Any]:
    """The clean record a pointer names: one ranged GET (one GET of an old-layout object). NotFound if it is gone."""
    where = keys.parse_clean_pointer(pointer)
    if where.offset is None:
        return json.loads(store.get_bytes(where.key))
    assert where.length is not None
    data = store.get_bytes(where.key, start=where.offset, length=where.length)
    if len(data) != where.length:
        raise StorageError(f"{pointer}: {len(data)} bytes where the pointer says {where.length}")
    return _parse(pointer, data)


def read_clean_records(
    store: Store, pointers: Iterable[str], *, readers: int = READERS, batch: int = 512
) -> Iterator[tuple[str, dict[str, Any] | None]]:
    """``(pointer, record)`` for each pointer, in order; None for a record that is gone. Fetched in parallel,
    ``batch`` at a time (memory: one batch); within a batch, a segment many of whose records are wanted is read
    whole, once, instead of by ranges."""
    with ThreadPoolExecutor(max_workers=readers) as pool:
        for wanted in batches(pointers, batch):
            yield from _read_batch(store, pool, wanted)


def _read_batch(
    store: Store, pool: ThreadPoolExecutor, wanted: list[str]
) -> Iterator[tuple[str, dict[str, Any] | None]]:
    per_segment: dict[str, int] = defaultdict(int)
    for pointer in wanted:
        per_segment[keys.parse_clean_pointer(pointer).key] += 1
    whole = [k for k, n in per_segment.items() if n >= WHOLE_SEGMENT_FROM and k.endswith(keys.CLEAN_SEGMENT_SUFFIX)]

    def segment(key: str) -> bytes | None:
        try:
            return store.get_bytes(key)
        except NotFound:
            return None

    segments = dict(zip(whole, pool.map(segment, whole), strict=True))

    def read(pointer: str) -> dict[str, Any] | None:
        where = keys.parse_clean_pointer(pointer)
        try:
            if where.key not in segments:
                return read_clean_record(store, pointer)
            data = segments[where.key]
            if data is None or where.offset is None or where.length is None:
                return None
            return _parse(pointer, data[where.offset : where.offset + where.length])
        except NotFound:
            return None

    yield from zip(wanted, pool.map(read, wanted), strict=True)


class CleanSegmentRoller(RollingSpool):
    """Clean records appended as gzip members to size-limited segments spooled locally (the WARC pattern:
    :class:`feedvault.archive.rolling.RollingSpool`); ``on_complete(key, path)`` uploads each finished one."""

    error = CleanSegmentSpoolError
    suffix = ".jsonl.gz"

    def __init__(
        self,
        key_for_serial: Callable[[int], str],
        spool_dir: Path,
        max_bytes: int,
        on_complete: Callable[[str, Path], None],
        gzip_level: int = DEFAULT_GZIP_LEVEL,
    ) -> None:
        super().__init__(key_for_serial, spool_dir, max_bytes, on_complete)
        self.gzip_level = gzip_level

    def append_member(self, member: bytes) -> str:
        """Append one encoded record (:func:`encode_member`, e.g. built in a worker); returns its clean pointer.
        Rolls past ``max_bytes``."""
        key, offset = self._write(member)
        self._roll_if_full()
        return keys.clean_pointer(key, offset, len(member))

    def append(self, record: dict[str, Any]) -> str:
        return self.append_member(encode_member(dumps_line(record), self.gzip_level))
