"""The one place a catalog backend is chosen, from the registry's ``catalog.uri``.

Unset: the embedded SQLite catalog in ``storage.data_dir``, replicated through the archive
(:mod:`~feedvault.catalog.replication`). ``postgresql://...``: the shared database
(:mod:`~feedvault.catalog.postgres_catalog`), written by each run and read directly by every browse instance.
The web app, the CLI and the run's finalize step open catalogs only through these functions.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from feedvault.catalog import replication
from feedvault.catalog.interface import MaintainedCatalog
from feedvault.catalog.results import Progress
from feedvault.config import Settings
from feedvault.store.backends import Store


def _shared(settings: Settings) -> MaintainedCatalog | None:
    """The shared database catalog, when the registry names one."""
    if not settings.catalog.uri:
        return None
    from feedvault.catalog.postgres_catalog import PostgresCatalog  # psycopg only where it is used

    return PostgresCatalog(settings.catalog.uri)


def open_browse_catalog(
    store: Store, settings: Settings, *, local_dir: str | Path | None = None, progress: Progress | None = None
) -> MaintainedCatalog:
    """The catalog of ``store`` to browse, up to date. SQLite: the local copy in ``local_dir`` (default
    ``storage.data_dir``) synced with the published one (reindexed when there is none)."""
    shared = _shared(settings)
    if shared is not None:
        return shared
    return replication.open_catalog(store, local_dir or settings.storage.data_dir, progress)


def empty_catalog(store: Store, settings: Settings) -> MaintainedCatalog:
    """The catalog a `feedvault reindex` fills: a new SQLite file, or the shared database (emptied by reindex)."""
    shared = _shared(settings)
    if shared is not None:
        return shared
    return replication.new_catalog(store, settings.storage.data_dir)


def record_run(store: Store, settings: Settings, run_manifest_key: str, *, staged: Path | None = None) -> bool:
    """Catalog a just-committed run (``finalize_run``), from the rows its crawl staged in ``staged`` where it
    staged them; returns whether a catalog piece was published (SQLite) rather than the database written."""
    shared = _shared(settings)
    if shared is None:
        return replication.update_after_run(
            store,
            settings.storage.data_dir,
            run_manifest_key,
            republish_every=settings.catalog_republish_every_runs,
            staged=staged,
        )
    with shared:
        shared.add_run(store, run_manifest_key, staged=staged)
    return False


def record_takedown(store: Store, settings: Settings, summary: dict[str, Any]) -> None:
    """Bring the catalog in line with a takedown: tombstoned URLs dropped, moved pointers refreshed."""
    shared = _shared(settings)
    if shared is None:
        replication.update_after_takedown(store, settings.storage.data_dir, summary)
        return
    with shared:
        shared.sync_tombstones(store)
        shared.refresh_warcs(store, [*summary.get("warcs_rewritten", []), *summary.get("warcs_deleted", [])])
