"""The archive checker (``feedvault check``): finds nothing on a sound archive and names every broken promise
on a damaged copy of it. The damage is done to a real archive of the demo publisher (crawled into SeaweedFS,
copied to a folder), one object at a time."""

from __future__ import annotations

import json

import pytest

from feedvault import cli, keys
from feedvault.archive.check import check_archive
from feedvault.archive.clean_segments import dumps_line, refit_member
from feedvault.config import StorageSettings
from feedvault.store.backends import FileStore
from tests.support.archive import copy_archive
from tests.support.checks import assert_archive_consistent, stored_clean_records
from tests.support.crawl import write_registry

UNCOMMITTED_RUN = keys.RunId("20261128T020000Z-crashed")


def test_a_sound_archive_has_no_problems(archived_demo):
    assert_archive_consistent(archived_demo.store)


@pytest.fixture
def damaged(archived_demo, tmp_path):
    store = FileStore(tmp_path / "archive")
    copy_archive(archived_demo.store, store)
    registry = write_registry(
        tmp_path / "feeds.yaml",
        StorageSettings(uri=store.root.as_uri(), data_dir=str(tmp_path / "data")),
        [],
    )
    assert check_archive(store) == []
    return store, registry


def kinds(store) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for problem in check_archive(store):
        found.setdefault(problem.kind, set()).add(problem.key)
    return found


def rewrite_records(store, changed: dict[str, dict]) -> None:
    """Replace records of a segment in place (same length, so no clean pointer moves), as a takedown would."""
    for pointer, record in changed.items():
        where = keys.parse_clean_pointer(pointer)
        data = bytearray(store.get_bytes(where.key))
        data[where.offset : where.offset + where.length] = refit_member(dumps_line(record), where.length)
        store.put_bytes(where.key, bytes(data))


def test_check_names_a_clean_record_whose_pointer_does_not_resolve(damaged):
    store, _ = damaged
    (first, moved), (second, wrong_url) = list(stored_clean_records(store).items())[:2]
    moved["raw"]["offset"] += 1
    pointing = ("warc_key", "offset", "length", "record_id", "sha256")
    wrong_url["raw"] |= {k: moved["raw"][k] for k in pointing} | {"offset": moved["raw"]["offset"] - 1}  # another's
    rewrite_records(store, {first: moved, second: wrong_url})
    assert kinds(store) == {"bad-pointer": {first, second}}


def test_check_names_an_archived_entry_whose_clean_pointer_lands_on_no_record(damaged):
    store, _ = damaged
    feed_manifest = next(o.key for o in store.list("runs/") if o.key.endswith("/feeds/demo-en.json"))
    manifest = json.loads(store.get_bytes(feed_manifest))
    entry = manifest["urls"][0]
    where = keys.parse_clean_pointer(entry["clean_key"])
    entry["clean_key"] = keys.clean_pointer(where.key, where.offset + 1, where.length)  # a stale pointer
    store.put_bytes(feed_manifest, json.dumps(manifest).encode())
    found = kinds(store)
    assert found["bad-pointer"] == {entry["clean_key"]}
    assert found["unlisted"] == {keys.clean_pointer(where.key, where.offset, where.length)}


def test_check_names_objects_of_uncommitted_runs_and_state_pointing_at_them(damaged):
    store, _ = damaged
    url = "http://127.0.0.1:1/crashed.html"
    clean_key = keys.clean_key("demo-en", UNCOMMITTED_RUN, url)
    warc_key = keys.raw_warc_key("demo-en", UNCOMMITTED_RUN, 0)
    store.put_bytes(clean_key, b"{}")
    store.put_bytes(warc_key, b"")
    state = json.loads(store.get_bytes(keys.state_key("demo-en")))
    entry = next(iter(state["urls"].values()))
    entry["snapshots"].append(
        {"run_id": UNCOMMITTED_RUN.value, "sha256": "0" * 64, "clean_key": clean_key, "warc_key": warc_key}
        | {"fetched_at": "", "etag": None, "last_modified": None}
    )
    store.put_bytes(keys.state_key("demo-en"), json.dumps(state).encode())
    found = kinds(store)
    assert found == {"uncommitted": {clean_key, warc_key}, "state-uncommitted": {keys.state_key("demo-en")}}


def test_check_names_missing_objects_orphan_records_and_indexes(damaged, archived_demo):
    store, _ = damaged
    changed = next(
        o.key for o in store.list("runs/") if o.key.endswith(f"{archived_demo.run_ids[1]}/feeds/demo-id.json")
    )
    gone = next(u for u in json.loads(store.get_bytes(changed))["urls"] if u.get("clean_key"))
    store.delete([keys.parse_clean_pointer(gone["clean_key"]).key])  # the archive lost a committed segment
    feed_manifest = next(o.key for o in store.list("runs/") if o.key.endswith("/feeds/demo-en.json"))
    manifest = json.loads(store.get_bytes(feed_manifest))
    dropped = manifest["urls"][1]
    manifest["urls"].remove(dropped)  # records and a clean record no entry names
    store.put_bytes(feed_manifest, json.dumps(manifest).encode())
    other_warc = next(o.key for o in store.list("raw/demo-id/") if o.key.endswith(".warc.gz"))
    store.delete([other_warc])  # its CDXJ stays behind; the clean records pointing into it break
    found = kinds(store)
    assert found["missing-object"] >= {changed}
    assert found["state-dangling"] == {keys.state_key("demo-id")}  # its seen state points at the lost segment
    assert found["orphan-record"] == {dropped["warc_key"]}
    assert found["unlisted"] == {dropped["clean_key"]}
    assert found["orphan-cdxj"] == {other_warc.removesuffix(".warc.gz") + ".cdxj"}
    assert found["bad-pointer"] and all(k.startswith("clean/demo-id/") for k in found["bad-pointer"])


def test_check_command_exits_1_and_lists_problems_as_json(damaged, capsys):
    store, registry = damaged
    assert cli.main(["--registry", str(registry), "check"]) == 0
    assert "no problems" in capsys.readouterr().out
    cdxj = next(o.key for o in store.list("raw/") if o.key.endswith(".cdxj"))
    store.put_bytes(cdxj, b"")
    assert cli.main(["--registry", str(registry), "check", "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert [(p["kind"], p["key"]) for p in report["problems"]] == [("stale-cdxj", cdxj)]
    assert "feedvault cdxj" in report["problems"][0]["fix"]
