"""The browse catalog: an index of committed snapshots, derived from the S3 archive.

S3 stays the source of truth. The catalog indexes what committed runs (those with a run manifest) archived:
one row per clean snapshot, the per-feed and run manifests, and the takedown tombstones. Listing and search read
the catalog, never S3 listings. A snapshot's id is stable: the first 16 hex chars of sha256 of its clean key.

Three parts, one module each:

* writes (:mod:`~feedvault.catalog.index`): runs, clean records and tombstones to rows, for any backend;
* reads (:mod:`~feedvault.catalog.queries`): listings and full-text search;
* replication (:mod:`~feedvault.catalog.replication`): the SQLite file published to and synced from S3.

Readers (the web app, the API, the CLI) depend only on :class:`~feedvault.catalog.interface.BrowseCatalog`.
"""

from feedvault.catalog.interface import BrowseCatalog, CatalogTables, MaintainedCatalog
from feedvault.catalog.queries import fts_query
from feedvault.catalog.replication import (
    CATALOG_FILE,
    REPUBLISH_EVERY_RUNS,
    Catalog,
    list_committed_run,
    new_catalog,
    open_catalog,
    update_after_run,
    update_after_takedown,
)
from feedvault.catalog.results import (
    HIGHLIGHT_END,
    HIGHLIGHT_START,
    MAX_PAGE,
    MAX_PER_PAGE,
    MAX_QUERY_CHARS,
    MAX_QUERY_TERMS,
    CatalogError,
    DaySummary,
    FeedSummary,
    Page,
    Progress,
    RunSummary,
    SearchHit,
    Snapshot,
    SnapshotSummary,
    Tombstone,
    check_paging,
    is_snapshot_id,
    parse_day,
    snapshot_id,
)
from feedvault.catalog.sqlite_file import SCHEMA_VERSION, local_catalog_errors, local_catalog_unusable

__all__ = [
    "CATALOG_FILE",
    "HIGHLIGHT_END",
    "HIGHLIGHT_START",
    "MAX_PAGE",
    "MAX_PER_PAGE",
    "MAX_QUERY_CHARS",
    "MAX_QUERY_TERMS",
    "REPUBLISH_EVERY_RUNS",
    "SCHEMA_VERSION",
    "BrowseCatalog",
    "Catalog",
    "CatalogError",
    "CatalogTables",
    "DaySummary",
    "FeedSummary",
    "MaintainedCatalog",
    "Page",
    "Progress",
    "RunSummary",
    "SearchHit",
    "Snapshot",
    "SnapshotSummary",
    "Tombstone",
    "check_paging",
    "fts_query",
    "is_snapshot_id",
    "list_committed_run",
    "local_catalog_errors",
    "local_catalog_unusable",
    "new_catalog",
    "open_catalog",
    "parse_day",
    "snapshot_id",
    "update_after_run",
    "update_after_takedown",
]
