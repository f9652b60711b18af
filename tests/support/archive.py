"""Pytest plugin: a real archive of the demo publisher in SeaweedFS, built once per session.

Register with ``pytest_plugins = ["tests.support.archive"]``. Fixture ``archived_demo`` (session scope) crawls
the demo publisher twice into a fresh bucket (run 2 after one Indonesian article changed, so that URL has two
snapshots) and returns an :class:`ArchivedDemo`: the store, its storage settings and credentials, the run ids,
the changed URL and a built :class:`~feedvault.catalog.Catalog`. Treat it as read-only: it is shared.
"""

from __future__ import annotations

import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from feedvault.catalog import Catalog, open_catalog
from feedvault.config import BUNDLED_REGISTRY, StorageSettings, load_registry
from feedvault.demo import ARTICLE_SENTINELS, DEMO_SITE
from feedvault.demo.server import SiteServer
from feedvault.store.backends import S3Store, Store
from feedvault.store.s3_client import Credentials
from feedvault.store.seaweed import EmbeddedS3
from tests.support.crawl import run_crawl, write_registry
from tests.support.s3 import fresh_archive

RUN_1, RUN_2 = "20261126T020000Z-browse-first", "20261127T020000Z-browse-second"
CHANGED_SENTENCE = "Kalimat koreksi baru untuk arsip."


@dataclass(frozen=True)
class ArchivedDemo:
    store: S3Store
    storage: StorageSettings  # data_dir points at a session temp dir holding the runner's local catalog
    credentials: Credentials
    run_ids: tuple[str, str]
    catalog: Catalog  # synced from the catalog the runs published (catalog/catalog.sqlite)
    registry: Path
    base_url: str  # the demo publisher (still serving for the whole session)
    changed_url: str  # archived in both runs: its second snapshot has CHANGED_SENTENCE
    original_sentence: str  # the changed URL's sentence in the first snapshot
    sentinels: dict[str, str]  # absolute URL -> a sentence its clean text keeps


@pytest.fixture(scope="session")
def archived_demo(seaweed: EmbeddedS3, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ArchivedDemo]:
    root = tmp_path_factory.mktemp("archived-demo")
    storage, store = fresh_archive(seaweed, data_dir=root / "data")
    server = SiteServer(DEMO_SITE).start()
    try:
        with pytest.MonkeyPatch.context() as env:
            env.setenv("FEEDVAULT_DEMO_URL", server.base_url)
            feeds = [f.model_dump(mode="json", exclude_defaults=True) for f in load_registry(BUNDLED_REGISTRY).feeds]
        registry = write_registry(root / "feeds.yaml", storage, feeds)
        first = run_crawl(registry, seaweed.credentials, "--run-id", RUN_1)
        assert first["status"] == "ok" and first["totals"]["new"] > 0, first["feeds"]

        path = next(p for p in ARTICLE_SENTINELS if p.startswith("/id/"))
        with urllib.request.urlopen(server.url(path), timeout=10) as response:  # loopback fixture server
            original = response.read().decode()
        server.set_route(path, {"body": original.replace(ARTICLE_SENTINELS[path], CHANGED_SENTENCE)})
        second = run_crawl(registry, seaweed.credentials, "--run-id", RUN_2)
        assert second["status"] == "ok" and second["totals"]["changed"] >= 1, second["feeds"]

        catalog = open_catalog(store, root / "catalog")
        yield ArchivedDemo(
            store=store,
            storage=storage,
            credentials=seaweed.credentials,
            run_ids=(RUN_1, RUN_2),
            catalog=catalog,
            registry=registry,
            base_url=server.base_url,
            changed_url=server.url(path),
            original_sentence=ARTICLE_SENTINELS[path],
            sentinels={server.url(p): s for p, s in ARTICLE_SENTINELS.items()},
        )
        catalog.close()
    finally:
        server.stop()


def copy_archive(source: Store, target: Store, prefix: str = "") -> int:
    """Copy every object under ``prefix`` (for tests that change an archive: never touch the shared one)."""
    count = 0
    for obj in source.list(prefix):
        target.put_bytes(obj.key, source.get_bytes(obj.key))
        count += 1
    return count
