"""The dry run's store (feedvault.store.discard): the archive's reads, every write recorded and dropped."""

from __future__ import annotations

from pathlib import Path

import pytest

from feedvault.crawl.seen_state import SeenState
from feedvault.store.backends import Store
from feedvault.store.discard import DISCARDED_VERSION, DiscardingStore


def test_a_discarding_store_reads_the_archive_and_writes_nothing(any_store: Store, tmp_path: Path) -> None:
    any_store.put_bytes("state/f.json", b'{"kept": true}')
    dry = DiscardingStore(any_store)
    assert isinstance(dry, Store) and dry.uri == any_store.uri
    assert dry.get_bytes("state/f.json") == b'{"kept": true}' and dry.head("state/f.json") is not None
    _data, version = dry.get_versioned("state/f.json")

    page = tmp_path / "a.warc.gz"
    page.write_bytes(b"x" * 300)
    dry.put_bytes("clean/f/a.json", b"{}")
    dry.put_file("raw/f/a.warc.gz", page)
    assert dry.put_if("state/f.json", b'{"kept": false}', version) == DISCARDED_VERSION
    assert dry.delete(["state/f.json"]) == 1

    assert [o.key for o in any_store.list("")] == ["state/f.json"]
    assert any_store.get_bytes("state/f.json") == b'{"kept": true}'
    assert dry.would_write() == {
        "objects": 3,
        "bytes": 2 + 300 + 15,
        "by_folder": {"clean": 1, "raw": 1, "state": 1},
        "deletes": 1,
    }
    with pytest.raises(ValueError):
        dry.put_bytes("clean/../escape.json", b"{}")  # a write the archive would refuse is refused here too


def test_a_writer_unaware_of_the_dry_run_changes_nothing(any_store: Store) -> None:
    """The seen state saves with compare-and-swap, as in a real run; the archive keeps what it had."""
    state = SeenState("f")
    state.save(DiscardingStore(any_store))
    assert list(any_store.list("")) == []
