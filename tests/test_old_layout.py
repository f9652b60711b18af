"""Archives written before clean segments (one JSON object per clean record) stay readable: browse, export,
re-clean, check and takedown work on them as on a segment archive."""

from __future__ import annotations

import json

import pytest

from feedvault import keys
from feedvault.archive.check import check_archive
from feedvault.archive.clean_segments import read_clean_record
from feedvault.catalog import open_catalog
from feedvault.permission.takedown import run_takedown
from feedvault.store.backends import FileStore
from feedvault.web.service import ArchiveService
from tests.support.archive import copy_archive
from tests.support.checks import assert_archive_consistent, stored_clean_records
from tests.support.old_layout import rewrite_to_old_layout

pytest_plugins = ["tests.support.archive"]


@pytest.fixture
def old_archive(archived_demo, tmp_path):
    store = FileStore(tmp_path / "archive")
    copy_archive(archived_demo.store, store)
    moved = rewrite_to_old_layout(store)
    assert moved and not [o.key for o in store.list("clean/") if o.key.endswith(keys.CLEAN_SEGMENT_SUFFIX)]
    return store, moved


def test_an_old_layout_archive_is_consistent_and_browsable(old_archive, archived_demo, tmp_path):
    store, moved = old_archive
    assert check_archive(store) == []
    with open_catalog(store, tmp_path / "catalog") as catalog:  # nothing published: rebuilt from the archive
        service = ArchiveService(store, catalog)
        url = archived_demo.changed_url
        snapshot = service.resolve(url)
        assert snapshot.clean_key in moved.values() and snapshot.clean_key.endswith(".json")
        record = service.clean_record(snapshot.id)
        assert record["url"] == url and record == json.loads(store.get_bytes(snapshot.clean_key))
        assert service.raw_record(snapshot.id).status == 200
        lines = list(service.day_jsonl(snapshot.feed, "-".join(snapshot.clean_key.split("/")[2:5])))
        assert any(json.loads(line)["url"] == url for line in lines)


def test_an_old_layout_record_is_taken_down_and_the_others_keep_their_raw_pointers(old_archive, archived_demo):
    store, _moved = old_archive
    url = archived_demo.changed_url
    summary = run_takedown(store, reason="publisher request", url=url, echo=lambda *_: None)
    assert summary["clean_deleted"] >= 2 and summary["warcs_rewritten"]
    records = stored_clean_records(store)
    assert url not in {r["url"] for r in records.values()} and all(k.endswith(".json") for k in records)
    assert all(read_clean_record(store, key) == record for key, record in records.items())
    assert_archive_consistent(store)
