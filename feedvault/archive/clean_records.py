"""The clean snapshot record: one JSON document per archived article snapshot (schema ``feedvault.clean/1``).

It carries the cleaned text and metadata, what the rules removed, the permission decision, the publisher's usage
preferences at capture time (``usage``: :mod:`feedvault.permission.usage`, e.g. AI training reserved), and a pointer to
the raw capture (WARC key, offset and length of the response record) so one ranged GET returns the raw page.
A record written by ``feedvault reclean`` is a newer version of an older capture's record: same raw pointer and
``fetched_at``, its own ``run_id`` (``...-reclean``), and ``recleaned_from`` (``{"clean_key", "run_id"}`` of the
version it replaces, which stays in the archive).
"""

from __future__ import annotations

import json
from typing import Any

CLEAN_SCHEMA = "feedvault.clean/1"


def build_clean_record(
    *,
    url: str,
    feed_id: str,
    run_id: str,
    fetched_at: str,
    entry: dict[str, Any],
    cleaned: dict[str, Any] | None,
    clean_error: str | None,
    permission: dict[str, Any],
    raw: dict[str, Any],
    usage: dict[str, Any] | None = None,
    versions: dict[str, str],
    fetched_url: str | None = None,
    canonical: dict[str, str] | None = None,
) -> dict[str, Any]:
    """One clean snapshot. ``url`` is its identity (the page's same-site canonical URL, else the URL fetched);
    ``fetched_url`` is set when they differ: the URL its WARC records are under. ``canonical``: what the page
    declared as its canonical link, and why it was ignored if it was."""
    cleaned = cleaned or {}
    return {
        "schema": CLEAN_SCHEMA,
        "url": url,
        **({"fetched_url": fetched_url} if fetched_url and fetched_url != url else {}),
        **({"canonical": canonical} if canonical else {}),
        "feed": feed_id,
        "run_id": run_id,
        "fetched_at": fetched_at,
        "entry": entry,
        "text": cleaned.get("text", ""),
        "metadata": cleaned.get("metadata", {}),
        "removed": cleaned.get("removed", []),
        "rights_reservations": cleaned.get("rights_reservations", []),
        "extractor": cleaned.get("extractor", {}),
        "encoding": cleaned.get("encoding"),
        "error": clean_error,
        "permission": permission,
        "usage": usage,
        "raw": raw,
        "versions": versions,
    }


def dumps_record(record: dict[str, Any]) -> bytes:
    return json.dumps(record, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
