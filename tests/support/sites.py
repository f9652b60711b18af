"""Pytest plugin: HTTP fixture sites on 127.0.0.1.

Register with ``pytest_plugins = ["tests.support.sites"]``. Fixtures and helpers:

- ``site_server``: a factory; ``site_server("gzip-bomb")`` serves ``tests/fixtures/sites/gzip-bomb``,
  ``site_server("demo")`` the demo publisher, ``site_server(path)`` any directory. Each call starts a
  :class:`SiteServer` on a free port; all are stopped at teardown.
- ``demo_site``: the demo publisher, served.
- :func:`synthetic_site`: generate a small bench site under a temporary directory.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from feedvault.demo import DEMO_SITE
from feedvault.demo.server import SiteServer
from feedvault.demo.synth import SiteInfo, generate_site

FIXTURE_SITES = Path(__file__).resolve().parents[1] / "fixtures" / "sites"
FIXTURE_CASES = tuple(sorted(p.name for p in FIXTURE_SITES.iterdir() if p.is_dir())) if FIXTURE_SITES.is_dir() else ()
SYNTH_PUBLISHED = dt.datetime(2026, 11, 26, tzinfo=dt.UTC)
# The bad input a crawl must survive (tests/fixtures/sites/README.md says what each serves).
BAD_INPUT_CASES = (
    "malformed-feed",
    "truncated-feed",
    "entity-bomb",
    "gzip-bomb",
    "oversized-page",
    "wrong-charset",
    "redirect-loop",
    "http-errors",
    "retry-after",
    "robots-disallow",
    "robots-5xx",
    "duplicate-guids",
    "bad-links",
    "private-address",
)

SiteServerFactory = Callable[[str | Path], SiteServer]


def site_root(site: str | Path) -> Path:
    """The directory of a fixture site name, ``"demo"``, or a path."""
    if isinstance(site, Path):
        return site
    if site == "demo":
        return DEMO_SITE
    root = FIXTURE_SITES / site
    if not root.is_dir():
        raise LookupError(f"no fixture site {site!r}; known: demo, {', '.join(FIXTURE_CASES)}")
    return root


@pytest.fixture
def site_server() -> Iterator[SiteServerFactory]:
    """Factory starting a :class:`SiteServer` per call; every server is stopped at teardown."""
    servers: list[SiteServer] = []

    def start(site: str | Path) -> SiteServer:
        server = SiteServer(site_root(site)).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def demo_site(site_server: SiteServerFactory) -> SiteServer:
    """The demo publisher (both portals, feeds, news sitemap) on a free port."""
    return site_server("demo")


def synthetic_site(tmp_path: Path, n: int = 50, seed: int = 0, published: dt.datetime | None = None) -> SiteInfo:
    """Generate a bench site of ``n`` articles under ``tmp_path/synth`` (fixed date unless given)."""
    return generate_site(tmp_path / "synth", n_articles=n, seed=seed, published=published or SYNTH_PUBLISHED)
