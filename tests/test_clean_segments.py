"""Clean records in segments: JSON Lines for tools, one ranged GET per record, rewritten in place by takedowns."""

from __future__ import annotations

import errno
import gzip
import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from feedvault import keys
from feedvault.archive.clean_segments import (
    CleanSegmentRoller,
    CleanSegmentSpoolError,
    blank_members,
    dumps_line,
    iter_records,
    read_clean_record,
    read_clean_records,
    refit_member,
)
from feedvault.keys import RunId
from feedvault.store.backends import FileStore, NotFound, StorageError, Store

pytest_plugins = ["tests.support.s3"]

RUN = RunId("20261201T020000Z")


def _record(n: int) -> dict[str, object]:
    return {
        "schema": "feedvault.clean/1",
        "url": f"https://news.example/{n}.html",
        "text": f"Paragraph {n}. " * (5 + n % 7),
        "raw": {"warc_key": "raw/f/2026/12/01/20261201T020000Z-00000.warc.gz", "offset": 1000 * n, "length": 90},
    }


def _write(store: Store, tmp_path: Path, n: int, max_bytes: int = 1 << 20) -> tuple[list[str], list[str]]:
    """Append ``n`` records; upload every finished segment. Returns (pointers, segment keys)."""
    done: list[str] = []

    def upload(key: str, path: Path) -> None:
        store.put_file(key, path, "application/gzip")
        done.append(key)

    roller = CleanSegmentRoller(
        lambda serial: keys.clean_segment_key("f", RUN, serial), tmp_path / "spool", max_bytes, upload
    )
    with roller:
        pointers = [roller.append(_record(i)) for i in range(n)]
    return pointers, done


def test_a_segment_is_json_lines_and_each_record_is_one_ranged_get(any_store: Store, tmp_path: Path) -> None:
    pointers, segments = _write(any_store, tmp_path, 40)
    assert segments == ["clean/f/2026/12/01/20261201T020000Z-00000.jsonl.gz"]
    assert all(p.startswith(segments[0] + "#") for p in pointers)
    lines = gzip.decompress(any_store.get_bytes(segments[0])).splitlines()
    assert [json.loads(line) for line in lines] == [_record(i) for i in range(40)]  # zcat | jq
    before = any_store.stats.read_requests
    assert read_clean_record(any_store, pointers[17]) == _record(17)
    assert any_store.stats.read_requests == before + 1


def test_zcat_reads_a_segment_as_json_lines(tmp_path: Path) -> None:
    pointers, _ = _write(FileStore(tmp_path / "store"), tmp_path, 5)
    path = tmp_path / "store" / keys.parse_clean_pointer(pointers[0]).key
    out = subprocess.run(["zcat", str(path)], capture_output=True, check=True).stdout
    assert [json.loads(line)["url"] for line in out.splitlines()] == [_record(i)["url"] for i in range(5)]


def test_segments_roll_by_size_and_pointers_name_their_segment(any_store: Store, tmp_path: Path) -> None:
    pointers, segments = _write(any_store, tmp_path, 30, max_bytes=2048)
    assert len(segments) > 2
    assert {keys.parse_clean_pointer(p).key for p in pointers} == set(segments)
    assert [r for _p, r in read_clean_records(any_store, pointers)] == [_record(i) for i in range(30)]


def test_many_records_of_one_segment_are_read_with_one_get(any_store: Store, tmp_path: Path) -> None:
    pointers, _ = _write(any_store, tmp_path, 50)
    before = any_store.stats.read_requests
    assert [r for _p, r in read_clean_records(any_store, pointers)] == [_record(i) for i in range(50)]
    assert any_store.stats.read_requests == before + 1


def test_a_removed_record_leaves_padding_and_no_pointer_moves(any_store: Store, tmp_path: Path) -> None:
    pointers, (segment,) = _write(any_store, tmp_path, 12)
    data = bytearray(any_store.get_bytes(segment))
    gone = keys.parse_clean_pointer(pointers[3])
    moved = keys.parse_clean_pointer(pointers[4])
    assert gone.offset is not None and gone.length is not None
    assert moved.offset is not None and moved.length is not None
    data[gone.offset : gone.offset + gone.length] = blank_members(gone.length)
    changed = _record(4) | {"raw": {**_record(4)["raw"], "offset": 7}}  # type: ignore[dict-item]
    data[moved.offset : moved.offset + moved.length] = refit_member(dumps_line(changed), moved.length)
    any_store.put_bytes(segment, bytes(data))

    with pytest.raises(NotFound):
        read_clean_record(any_store, pointers[3])
    assert read_clean_record(any_store, pointers[4]) == changed
    assert [read_clean_record(any_store, p) for p in pointers[5:]] == [_record(i) for i in range(5, 12)]
    urls = [json.loads(line)["url"] for line in gzip.decompress(bytes(data)).splitlines()]
    assert _record(3)["url"] not in urls and len(urls) == 11
    assert [r["url"] for _o, _n, r in iter_records(bytes(data))] == urls


@pytest.mark.parametrize("length", [26, 27, 1000, 65561, 65562, 65563, 65584, 200_000])
def test_padding_fills_any_length_with_nothing(length: int) -> None:
    padding = blank_members(length)
    assert len(padding) == length and gzip.decompress(padding) == b""


def test_a_stale_pointer_is_an_error_not_another_record(any_store: Store, tmp_path: Path) -> None:
    pointers, (segment,) = _write(any_store, tmp_path, 3)
    where = keys.parse_clean_pointer(pointers[1])
    assert where.offset is not None and where.length is not None
    with pytest.raises(StorageError, match="not a clean record"):
        read_clean_record(any_store, keys.clean_pointer(segment, where.offset + 3, where.length))


def test_an_old_layout_record_is_its_own_pointer(any_store: Store) -> None:
    key = keys.clean_key("f", RUN, "https://news.example/1.html")
    any_store.put_bytes(key, json.dumps(_record(1)).encode())
    assert keys.parse_clean_pointer(key) == keys.CleanPointer(key)
    assert read_clean_record(any_store, key) == _record(1)
    assert dict(read_clean_records(any_store, [key])) == {key: _record(1)}


def test_clean_pointers_parse_back_and_bad_ones_are_refused() -> None:
    pointer = keys.clean_pointer("clean/f/2026/12/01/20261201T020000Z-00003.jsonl.gz", 120, 456)
    assert keys.parse_clean_pointer(pointer) == keys.CleanPointer(
        "clean/f/2026/12/01/20261201T020000Z-00003.jsonl.gz", 120, 456
    )
    assert str(keys.parse_clean_pointer(pointer)) == pointer
    for bad in ("clean/f/x.jsonl.gz#1", "clean/f/x.json#1+2", "clean/f/x.jsonl.gz#1+0", "clean/f/x.jsonl.gz#-1+2"):
        with pytest.raises(ValueError, match="not a clean pointer"):
            keys.parse_clean_pointer(bad)


def test_segments_belong_to_their_run_partition() -> None:
    segment = keys.clean_segment_key("f", RUN, 2)
    assert keys.parse_partition_key(segment) == keys.PartitionObject("clean-segment", RUN.value, "f")
    labelled = keys.clean_segment_key("f", RunId("20261201T020000Z-manual"), 0)
    assert segment.startswith(keys.clean_segment_prefix("f", RUN)) and labelled.startswith(
        keys.clean_segment_prefix("f", RUN)
    )
    assert keys.partition_keys([segment, labelled], "f", RUN) == [segment]  # a same-second labelled run is not it


def test_a_full_spool_abandons_the_segment_and_names_it(tmp_path: Path) -> None:
    completed: list[str] = []
    roller = CleanSegmentRoller(
        lambda serial: keys.clean_segment_key("f", RUN, serial),
        tmp_path / "spool",
        1 << 20,
        lambda key, _path: completed.append(key),
    )
    roller.append(_record(0))
    roller._file = _FullDisk(roller._file)
    with pytest.raises(CleanSegmentSpoolError) as failed:
        roller.append(_record(1))
    assert failed.value.key == keys.clean_segment_key("f", RUN, 0)
    assert roller.abandoned == [failed.value.key] and not list((tmp_path / "spool").iterdir())
    roller.append(_record(2))
    roller.close()
    assert completed == [keys.clean_segment_key("f", RUN, 1)]


class _FullDisk:
    """A spool file on a disk that just filled up: every write fails with ENOSPC."""

    def __init__(self, file: Any) -> None:
        self.file = file

    def write(self, data: bytes) -> int:
        raise OSError(errno.ENOSPC, "No space left on device")

    def __getattr__(self, name: str) -> Any:
        return getattr(self.file, name)


def test_a_shards_segments_take_its_serial_block_like_its_warcs() -> None:
    """Concurrent shards of one feed never name the same segment, and a shard's retry clears only its own."""
    mine, other = keys.clean_segment_key("f", RUN, 0, shard=2), keys.clean_segment_key("f", RUN, 0, shard=3)
    assert mine != other and mine.endswith("-20000.jsonl.gz") and keys.shard_of_warc(mine) == 2
    assert keys.shard_partition_keys([mine, other], "f", RUN, 2, 4) == [mine]
