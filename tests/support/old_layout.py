"""An archive written the old way: one object per clean record (``clean/<feed>/<day>/<run-id>/<url-key>.json``).

feedvault writes clean records in segments now; archives written before that must stay readable. This turns an
archive a test just wrote into exactly what the old writer left: every segment record becomes its own JSON
object (the bytes the old writer PUT), every pointer to it (feed manifests, seen state) becomes that object's key,
the segments go, and the published catalog goes too (readers rebuild it from the archive).
"""

from __future__ import annotations

import json

from feedvault import keys
from feedvault.archive.clean_records import dumps_record
from feedvault.archive.clean_segments import iter_records
from feedvault.keys import RunId
from feedvault.store.backends import Store


def rewrite_to_old_layout(store: Store) -> dict[str, str]:
    """Rewrite ``store``'s clean segments as old-layout objects; returns segment pointer -> old key."""
    moved: dict[str, str] = {}
    segments = [o.key for o in store.list("clean/") if o.key.endswith(keys.CLEAN_SEGMENT_SUFFIX)]
    for segment in segments:
        for offset, length, record in iter_records(store.get_bytes(segment)):
            old = keys.clean_key(record["feed"], RunId(record["run_id"]), record["url"])
            store.put_bytes(old, dumps_record(record), "application/json")
            moved[keys.clean_pointer(segment, offset, length)] = old
    for obj in list(store.list("runs/")):
        if "/feeds/" in obj.key:
            _repoint(store, obj.key, moved, lambda doc: doc.get("urls", []))
    for obj in list(store.list("state/")):
        _repoint(
            store,
            obj.key,
            moved,
            lambda doc: [s for entry in doc.get("urls", {}).values() for s in entry.get("snapshots", [])],
        )
    store.delete([*segments, *(o.key for o in store.list("catalog/"))])  # the catalog is derived: rebuilt
    return moved


def _repoint(store: Store, key: str, moved: dict[str, str], entries) -> None:  # type: ignore[no-untyped-def]
    doc = json.loads(store.get_bytes(key))
    for entry in entries(doc):
        if entry.get("clean_key") in moved:
            entry["clean_key"] = moved[entry["clean_key"]]
    store.put_bytes(key, json.dumps(doc).encode(), "application/json")
