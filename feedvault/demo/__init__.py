"""The demo publisher: a synthetic two-portal news site, its registry, and the fixture server.

``BOILERPLATE_MARKERS`` are literal substrings of the demo pages' boilerplate (inline links, credits, rights
notices, photo captions) that must never survive into cleaned text. ``ARTICLE_SENTINELS`` maps each demo article
path to one body sentence that cleaning must keep (loaded lazily from :mod:`feedvault.demo.synth`).
"""

from __future__ import annotations

from typing import Any

from feedvault.demo.paths import DEMO_REGISTRY, DEMO_SITE

__all__ = ["ARTICLE_SENTINELS", "BOILERPLATE_MARKERS", "DEMO_REGISTRY", "DEMO_SITE"]

BOILERPLATE_MARKERS: list[str] = [
    "Baca juga",
    "Pewarta",
    "Editor:",
    "Sumber:",
    "COPYRIGHT",
    "Dilarang keras",
    "Arsip foto",
    "Read more:",
    "Reporter:",
    "All rights reserved",
    "No part of this article",
]


def __getattr__(name: str) -> Any:
    # Lazy, so that ``python -m feedvault.demo.synth`` does not import synth twice.
    if name == "ARTICLE_SENTINELS":
        from feedvault.demo.synth import DEMO_ARTICLES

        sentinels: dict[str, str] = {article.path: article.sentinel for article in DEMO_ARTICLES}
        globals()[name] = sentinels
        return sentinels
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
