"""The archive checker as a test assertion: call it at the end of every fault test."""

from __future__ import annotations

import json
from typing import Any

from feedvault import keys
from feedvault.archive.check import Problem, check_archive
from feedvault.archive.clean_segments import iter_records
from feedvault.store.backends import Store


def assert_archive_consistent(store: Store, *, allow: tuple[str, ...] = ()) -> None:
    """Fail with every problem :func:`feedvault.archive.check.check_archive` finds (but the kinds in ``allow``)."""
    problems: list[Problem] = [p for p in check_archive(store) if p.kind not in allow]
    assert not problems, f"{len(problems)} problem(s) in {store.uri}:\n" + "\n".join(map(str, problems))


def stored_clean_records(store: Store, prefix: str = "clean/") -> dict[str, dict[str, Any]]:
    """Every clean record under ``prefix``, by clean pointer: each record of each segment (and each old-layout
    object), read from the archive's bytes, not through the catalog or manifests."""
    found: dict[str, dict[str, Any]] = {}
    for obj in store.list(prefix):
        if obj.key.endswith(keys.CLEAN_SEGMENT_SUFFIX):
            for offset, length, record in iter_records(store.get_bytes(obj.key)):
                found[keys.clean_pointer(obj.key, offset, length)] = record
        elif obj.key.endswith(".json"):
            found[obj.key] = json.loads(store.get_bytes(obj.key))
    return found
