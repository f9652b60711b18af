"""The takedown check of a crawl: URLs with a tombstone are never fetched or archived again."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from feedvault.keys import tombstone_key, url_key
from feedvault.store.backends import Store


@dataclass(frozen=True)
class Tombstones:
    """The URL keys of every taken-down URL, listed once when a crawl starts (empty until then)."""

    url_keys: frozenset[str] = frozenset()

    @classmethod
    def load(cls, store: Store) -> Tombstones:
        """One listing of ``tombstones/``."""
        return cls(frozenset(obj.key.rsplit("/", 1)[-1].removesuffix(".json") for obj in store.list("tombstones/")))

    def taken_down(self, url: str) -> bool:
        return url_key(url) in self.url_keys

    @staticmethod
    def evidence(url: str) -> dict[str, Any]:
        """The evidence of a ``takedown`` refusal: the tombstone that refused it."""
        return {"signal": "takedown", "source": "tombstone", "where": tombstone_key(url)}
