"""The browse catalog over a real archive of the demo publisher (two runs, one article changed)."""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path

import pytest

from feedvault import keys
from feedvault.archive.clean_segments import read_clean_record
from feedvault.catalog import (
    MAX_PAGE,
    MAX_PER_PAGE,
    MAX_QUERY_CHARS,
    SCHEMA_VERSION,
    Catalog,
    fts_query,
    open_catalog,
    snapshot_id,
)
from feedvault.store.backends import FileStore
from tests.support.archive import CHANGED_SENTENCE, ArchivedDemo, copy_archive


@pytest.fixture
def archive_copy(archived_demo: ArchivedDemo, tmp_path: Path) -> FileStore:
    """A private FileStore copy of the demo archive, free to change."""
    store = FileStore(tmp_path / "archive")
    copy_archive(archived_demo.store, store)
    return store


def run_keys(store) -> list[str]:
    return sorted(o.key for o in store.list("runs/") if o.key.endswith("/manifest.json"))


def test_feeds_days_and_articles(archived_demo: ArchivedDemo, demo_catalog):
    catalog = demo_catalog
    feeds = {f.id: f for f in catalog.feeds()}
    assert set(feeds) == {"demo-id", "demo-en", "demo-news"}
    run_1, run_2 = archived_demo.run_ids
    for feed in feeds.values():
        assert feed.last_run_id == run_2 and feed.last_status == "ok"
        assert feed.permission_status == "valid" and feed.permission["basis"] == "own-content"
        assert feed.snapshot_count > 0
    assert feeds["demo-id"].last_counts["changed"] == 1

    days = catalog.days("demo-id")
    assert [d.day for d in days.items] == ["2026-11-27", "2026-11-26"]
    assert days.items[0].run_ids == [run_2] and days.items[0].snapshot_count == 1

    first = catalog.articles("demo-id", "2026-11-26", per_page=2)
    assert first.total == feeds["demo-id"].snapshot_count - 1 and len(first.items) == 2 and first.has_next
    rest = catalog.articles("demo-id", "2026-11-26", page=2, per_page=100)
    assert {a.id for a in first.items}.isdisjoint({a.id for a in rest.items})
    assert all(a.feed == "demo-id" and a.run_id == run_1 and a.title for a in first.items + rest.items)
    assert catalog.articles("demo-id", "2020-01-01").total == 0


def test_snapshot_ids_are_stable_and_records_complete(archived_demo: ArchivedDemo, demo_catalog):
    catalog = demo_catalog
    summary = catalog.articles("demo-en", "2026-11-26").items[0]
    snap = catalog.snapshot(summary.id)
    assert snap is not None and snap.summary == summary
    assert snap.id == hashlib.sha256(snap.clean_key.encode()).hexdigest()[:16] == snapshot_id(snap.clean_key)
    stored = read_clean_record(archived_demo.store, snap.clean_key)
    assert snap.text == stored["text"] and archived_demo.sentinels[snap.url] in snap.text
    assert snap.raw["warc_key"] and snap.raw["sha256"] == stored["raw"]["sha256"]
    assert snap.permission["decision"] == "archive" and snap.removed
    assert catalog.snapshot("0" * 16) is None and catalog.snapshot("not-an-id") is None


def test_history_oldest_first(archived_demo: ArchivedDemo, demo_catalog):
    history = [s for s in demo_catalog.history(archived_demo.changed_url) if s.feed == "demo-id"]
    assert [s.run_id for s in history] == list(archived_demo.run_ids)
    assert history[0].sha256 != history[1].sha256
    old, new = (demo_catalog.snapshot(s.id) for s in history)
    assert archived_demo.original_sentence in old.text and CHANGED_SENTENCE in new.text
    assert demo_catalog.history("http://127.0.0.1:1/never-archived") == []


def test_search_ranks_highlights_and_filters(archived_demo: ArchivedDemo, demo_catalog):
    catalog = demo_catalog
    hits = catalog.search("koreksi baru")
    assert hits.total >= 1 and all(h.snapshot.run_id == archived_demo.run_ids[1] for h in hits.items)
    hit = hits.items[0]
    assert "\x02koreksi\x03" in hit.snippet.lower() and "<mark>koreksi</mark>" in hit.snippet_html.lower()
    assert "\x02" not in hit.snippet_text
    # the sentence the change removed only matches the first snapshot
    phrase = f'"{archived_demo.original_sentence}"'
    assert {h.snapshot.run_id for h in catalog.search(phrase).items} == {archived_demo.run_ids[0]}

    assert catalog.search("koreksi", feed="demo-en").total == 0
    assert catalog.search("koreksi", feed="demo-id").total == 1
    assert catalog.search("koreksi", date_from="2026-11-28").total == 0
    assert catalog.search("koreksi", date_from="2026-11-27", date_to="2026-11-27").total == hits.total
    assert catalog.search("koreksi", language="en").total == 0
    assert catalog.search("koreksi", language="id").total == hits.total
    with pytest.raises(ValueError, match="after"):
        catalog.search("koreksi", date_from="2026-11-28", date_to="2026-11-01")
    with pytest.raises(ValueError, match="not a valid date"):
        catalog.search("koreksi", date_from="2026-02-30")


def test_search_prefix_and_newest_first(archived_demo: ArchivedDemo, demo_catalog):
    catalog = demo_catalog
    assert catalog.search("korek*").total == catalog.search("koreksi").total
    hits = catalog.search("festival", per_page=100).items
    runs = [h.snapshot.run_id for h in hits]
    assert set(runs) == set(archived_demo.run_ids) and runs == sorted(runs, reverse=True)  # the later run first


@pytest.mark.parametrize(
    "query",
    ['"', "AND", "OR NOT", "title:festival", "festival)", "NEAR(a b)", "*", "a\x00b", "^festival", "'; DROP TABLE x"],
)
def test_search_input_never_raises_fts_errors(demo_catalog, query: str):
    try:
        demo_catalog.search(query)
    except ValueError as exc:  # only our own, clear refusal of queries without words
        assert "empty query" in str(exc)


def test_fts_query_sanitises():
    assert fts_query('festival "angin kencang" korek* -x') == '"festival" "angin kencang" "korek"* "x"'
    assert fts_query("title:foo") == '"title foo"'
    with pytest.raises(ValueError, match="too long"):
        fts_query("x" * (MAX_QUERY_CHARS + 1))
    with pytest.raises(ValueError, match="too many terms"):
        fts_query(" ".join(["w"] * 40))
    with pytest.raises(ValueError, match="empty"):
        fts_query("  ()  ")


def test_paging_is_validated(demo_catalog):
    catalog = demo_catalog
    assert catalog.runs(per_page=10_000).per_page == MAX_PER_PAGE
    for page, per_page in ((0, 10), (MAX_PAGE + 1, 10), (1, 0), (10**30, 10)):
        with pytest.raises(ValueError):
            catalog.runs(page, per_page)
    with pytest.raises(ValueError):
        catalog.articles("demo-id", "26-11-2026")
    assert catalog.runs(page=MAX_PAGE).items == []


def test_runs_listing(archived_demo: ArchivedDemo, demo_catalog):
    runs = demo_catalog.runs()
    assert [r.run_id for r in runs.items] == list(reversed(archived_demo.run_ids)) and runs.total == 2
    assert runs.items[0].totals["changed"] >= 1 and set(runs.items[0].feeds) == {"demo-id", "demo-en", "demo-news"}


def test_runner_published_the_catalog(archived_demo: ArchivedDemo, tmp_path: Path):
    """finalize_run published each run's piece, from the rows its crawl staged: a reader's catalog (filled from
    the pieces) holds what a reindex of the archive finds, row for row. The writer indexed nothing locally."""
    from feedvault.catalog.pieces import load_index

    assert set(load_index(archived_demo.store)[0].runs) == set(archived_demo.run_ids)
    reindexed_catalog = Catalog(tmp_path / "reindexed.sqlite")
    reindexed_catalog.reindex(archived_demo.store)
    for run_id in archived_demo.run_ids:
        from_pieces = archived_demo.catalog.run_rows(run_id)
        reindexed = reindexed_catalog.run_rows(run_id)
        assert from_pieces is not None and reindexed is not None
        assert sorted(from_pieces.snapshots) == sorted(reindexed.snapshots) and from_pieces.feeds == reindexed.feeds
    assert archived_demo.catalog.counts() == reindexed_catalog.counts() and reindexed_catalog.counts()["runs"] == 2
    reindexed_catalog.close()
    assert not (Path(archived_demo.storage.data_dir) / "catalog.sqlite").exists()


def test_reindex_rebuilds_the_same_catalog(archived_demo: ArchivedDemo, empty_catalog):
    progress = []
    fresh = empty_catalog
    count = fresh.reindex(archived_demo.store, lambda done, total, run: progress.append((done, total, run)))
    assert count == fresh.counts()["snapshots"] == archived_demo.catalog.counts()["snapshots"]
    assert progress == [(1, 2, archived_demo.run_ids[0]), (2, 2, archived_demo.run_ids[1])]
    ids = {a.id for a in fresh.articles("demo-news", "2026-11-26", per_page=100).items}
    assert ids == {a.id for a in archived_demo.catalog.articles("demo-news", "2026-11-26", per_page=100).items}
    # add_run is idempotent
    before = fresh.counts()
    for key in run_keys(archived_demo.store):
        fresh.add_run(archived_demo.store, key)
    assert fresh.counts() == before


def test_uncommitted_runs_are_not_indexed(archive_copy: FileStore, archived_demo: ArchivedDemo, empty_catalog):
    second = run_keys(archive_copy)[-1]
    archive_copy.delete([second])  # run 2 without its commit marker
    with empty_catalog as catalog:
        catalog.reindex(archive_copy)
        assert [r.run_id for r in catalog.runs().items] == [archived_demo.run_ids[0]]
        assert catalog.search("koreksi").total == 0


def test_tombstoned_urls_are_never_listed(archive_copy: FileStore, archived_demo: ArchivedDemo, empty_catalog):
    url = archived_demo.changed_url
    with empty_catalog as catalog:
        catalog.reindex(archive_copy)
        assert catalog.history(url)
        tombstone = {"url": url, "feed": "demo-id", "reason": "publisher request", "date": "2026-11-28", "removed": []}
        archive_copy.put_bytes(keys.tombstone_key(url), json.dumps(tombstone).encode())
        for key in run_keys(archive_copy):  # an update drops it...
            catalog.add_run(archive_copy, key)
        assert catalog.history(url) == [] and catalog.search("koreksi").total == 0
        assert catalog.is_tombstoned(url)
        [listed] = catalog.tombstones().items
        assert listed.url == url and listed.reason == "publisher request"
        catalog.reindex(archive_copy)  # ...and so does a rebuild
        assert catalog.history(url) == [] and catalog.tombstones().total == 1
        other = catalog.articles("demo-en", "2026-11-26").items[0].url
        assert catalog.forget_url(other) >= 1 and catalog.history(other) == []


def test_open_catalog_syncs_with_the_published_copy(archive_copy: FileStore, tmp_path: Path):
    published = archive_copy.head(keys.CATALOG_INDEX_KEY)
    assert published is not None
    with open_catalog(archive_copy, tmp_path / "a") as a:  # downloaded
        assert a.counts()["runs"] == 2 and a.get_meta("store_uri") == archive_copy.uri
        a.forget_url(a.articles("demo-en", "2026-11-26").items[0].url)
        changed = a.counts()
    with open_catalog(archive_copy, tmp_path / "a") as a:  # unchanged remote: the local copy is kept
        assert a.counts() == changed
        a.publish(archive_copy)
    with open_catalog(archive_copy, tmp_path / "b") as b:  # another machine gets the new version
        assert b.counts() == changed

    other = FileStore(tmp_path / "other")  # same data dir, another archive: never mixed up
    with open_catalog(other, tmp_path / "a") as c:
        assert c.counts()["runs"] == 0 and c.get_meta("store_uri") == other.uri


def test_a_new_reader_fills_its_catalog_from_the_pieces_beside_the_live_file(archive_copy: FileStore, tmp_path: Path):
    """A reader without a usable local copy fills a new one from the published pieces in a file of its own and
    swaps it in when complete: while the pieces arrive, another process opening ``catalog.sqlite`` finds what was
    there before (here an unusable file), never a catalog holding some of the runs."""
    from feedvault.catalog.replication import CATALOG_FILE, update_after_run

    archive_copy.delete([obj.key for obj in archive_copy.list("catalog/")])
    for key in run_keys(archive_copy):
        update_after_run(archive_copy, tmp_path / "writer", key)  # a piece per run: the reader fetches several
    assert len(json.loads(archive_copy.get_bytes(keys.CATALOG_INDEX_KEY))["pieces"]) == 2
    live = tmp_path / "reader" / CATALOG_FILE
    live.parent.mkdir()
    live.write_bytes(b"a copy that cannot be opened")
    seen_while_fetching: list[bytes] = []
    get_bytes = archive_copy.get_bytes

    def watched(key: str, *args, **kwargs) -> bytes:
        if key.startswith(keys.CATALOG_PIECES_PREFIX):
            seen_while_fetching.append(live.read_bytes())
        return get_bytes(key, *args, **kwargs)

    archive_copy.get_bytes = watched  # type: ignore[method-assign]
    with open_catalog(archive_copy, live.parent) as reader:
        assert seen_while_fetching == [b"a copy that cannot be opened"] * 2
        assert reader.counts()["runs"] == 2 and reader.get_meta("building") is None
        assert reader.search("koreksi").total == writer_search_total(archive_copy, tmp_path)
        assert reader.sync(archive_copy) is False  # in step: nothing to fetch
    assert sorted(p.name for p in live.parent.iterdir()) == [CATALOG_FILE]  # no side file left


def writer_search_total(store: FileStore, tmp_path: Path) -> int:
    with open_catalog(store, tmp_path / "writer") as writer:
        return writer.search("koreksi").total


def test_a_running_browser_sees_what_is_published_after_it_started(archive_copy: FileStore, tmp_path: Path):
    """The browse app syncs its catalog in place, periodically: no restart needed to see new runs or takedowns."""
    from fastapi.testclient import TestClient

    from feedvault.web.app import create_app

    def history(client: TestClient, url: str) -> list:
        response = client.get("/api/v1/history", params={"url": url})
        return response.json() if response.status_code == 200 else []

    with (
        open_catalog(archive_copy, tmp_path / "browse") as served,
        open_catalog(archive_copy, tmp_path / "browse-stale") as stale,
    ):
        fresh = TestClient(create_app(archive_copy, served, catalog_refresh_seconds=0))
        not_due = TestClient(create_app(archive_copy, stale, catalog_refresh_seconds=3600))
        url = served.articles("demo-en", "2026-11-26").items[0].url
        assert history(fresh, url) and history(not_due, url)
        heads = archive_copy.stats.snapshot()["by_operation"].get("HeadObject", 0)
        history(fresh, url)  # nothing new published: one HEAD, no download
        after = archive_copy.stats.snapshot()["by_operation"]
        assert after.get("HeadObject", 0) == heads + 1

        with open_catalog(archive_copy, tmp_path / "crawler") as writer:  # e.g. a crawl or takedown elsewhere
            writer.forget_url(url)
            writer.publish(archive_copy)
        assert history(fresh, url) == []  # synced on this request, through the same Catalog object
        assert served.get_meta("index_version") == writer_version(archive_copy)
        assert history(not_due, url)  # not due yet: still the copy it had

    # An archive that cannot be reached: the local copy keeps serving.
    from feedvault.config import StorageSettings
    from feedvault.store.backends import open_store
    from feedvault.store.s3_client import Credentials

    dead = open_store(
        StorageSettings(uri="s3://gone/archive", endpoint_url="http://127.0.0.1:9", max_attempts=1),
        Credentials("x", "y"),
    )
    with open_catalog(archive_copy, tmp_path / "browse") as served:
        client = TestClient(create_app(dead, served, catalog_refresh_seconds=0))
        assert client.get("/api/v1/feeds").status_code == 200


def writer_version(store: FileStore) -> str:
    from feedvault.catalog.replication import _version

    return _version(store.head(keys.CATALOG_INDEX_KEY))


def test_open_catalog_reindexes_without_a_usable_published_copy(archive_copy: FileStore, tmp_path: Path):
    archive_copy.put_bytes(keys.CATALOG_INDEX_KEY, b"not an index")
    with open_catalog(archive_copy, tmp_path / "x") as catalog:  # the runs listed, from their manifests
        assert catalog.counts()["runs"] == 2
    archive_copy.delete([keys.CATALOG_INDEX_KEY])
    archive_copy.put_bytes(keys.CATALOG_KEY, b"not a database")  # a whole file as published before pieces
    with open_catalog(archive_copy, tmp_path / "y") as catalog:
        assert catalog.counts()["runs"] == 2
    archive_copy.delete([keys.CATALOG_KEY])
    with open_catalog(archive_copy, tmp_path / "z") as catalog:
        assert catalog.counts()["runs"] == 2


def test_catalog_failure_does_not_fail_the_run(archive_copy: FileStore, tmp_path: Path, caplog):
    from feedvault.config import Registry, Settings, StorageSettings
    from feedvault.crawl.runner import _update_catalog

    registry = Registry(settings=Settings(storage=StorageSettings(data_dir=str(tmp_path / "data"))))
    with caplog.at_level(logging.WARNING, logger="feedvault.crawl.runner"):
        _update_catalog(archive_copy, registry, "runs/2026/01/01/20260101T000000Z/manifest.json", None)
    assert "feedvault reindex" in caplog.text


def test_schema_version_is_checked(tmp_path: Path):
    import sqlite3

    from feedvault.catalog import CatalogError

    path = tmp_path / "c.sqlite"
    Catalog(path).close()
    sqlite3.connect(path).execute("PRAGMA user_version=99").connection.close()
    with pytest.raises(CatalogError, match="schema 99"):
        Catalog(path)


def test_a_schema_2_catalog_gains_the_usage_column_from_its_permission_evidence(tmp_path: Path):
    import sqlite3

    path = tmp_path / "c.sqlite"
    record = {
        "url": "https://publisher.test/a.html",
        "feed": "f",
        "run_id": "20261126T020000Z",
        "text": "t",
        "permission": {"signals": [{"signal": "noai", "source": "meta", "value": "noai"}]},
    }
    with Catalog(path) as catalog:
        catalog.insert_records([("clean/f/a.json", record)])
    conn = sqlite3.connect(path)  # what a catalog written before the column looks like
    conn.execute("ALTER TABLE snapshots DROP COLUMN usage")
    conn.execute("PRAGMA user_version=2")
    conn.close()
    with Catalog(path) as catalog:
        (summary,) = catalog.history(record["url"])
        assert (summary.usage["train-ai"], summary.usage["ai-input"], summary.usage["search"]) == ("n", "n", None)
        assert catalog.snapshot(summary.id).usage == summary.usage
    assert sqlite3.connect(path).execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION


def test_takedown_keeps_catalog_service_and_cdxj_consistent(archive_copy: FileStore, tmp_path: Path):
    from feedvault.archive.cdxj import cdxj_key, write_cdxj
    from feedvault.catalog import update_after_takedown
    from feedvault.permission.takedown import run_takedown
    from feedvault.web.service import ArchiveService

    local = tmp_path / "local"
    with open_catalog(archive_copy, local) as catalog:
        write_cdxj(archive_copy, catalog.warc_keys())
        items = catalog.articles("demo-en", "2026-11-26", per_page=100).items
        raw = {i.id: catalog.snapshot(i.id).raw for i in items}
        by_warc: dict[str, list] = {}
        for item in items:
            by_warc.setdefault(raw[item.id]["warc_key"], []).append(item)
        # A WARC holding several captures; take down its first one, so every capture after it moves.
        warc, members = max(by_warc.items(), key=lambda kv: len(kv[1]))
        assert len(members) > 1, "the demo puts a feed's run in one WARC"
        victim = min(members, key=lambda i: raw[i.id]["offset"])
        neighbours = [m for m in members if m.id != victim.id]
    from feedvault.catalog.pieces import load_index

    before = load_index(archive_copy)[0]
    summary = run_takedown(archive_copy, reason="test", url=victim.url, echo=lambda *_: None)
    assert warc in summary["warcs_rewritten"]

    with Catalog(local / "catalog.sqlite") as stale:  # not updated yet: its pointers into the WARC moved
        service = ArchiveService(archive_copy, stale)
        moved = [
            n
            for n in neighbours
            if stale.snapshot(n.id).raw["offset"]
            != read_clean_record(archive_copy, stale.snapshot(n.id).clean_key)["raw"]["offset"]
        ]
        assert moved, "no capture moved in the rewritten WARC"
        neighbour = moved[0]
        assert service.raw_record(neighbour.id).status == 200  # falls back to the clean record's pointer
        assert service.warc_record_bytes(neighbour.id).startswith(b"\x1f\x8b")

    update_after_takedown(archive_copy, local, summary)
    with Catalog(local / "catalog.sqlite") as catalog:
        assert catalog.history(victim.url) == [] and catalog.is_tombstoned(victim.url)
        for n in neighbours:
            record = read_clean_record(archive_copy, catalog.snapshot(n.id).clean_key)
            assert catalog.snapshot(n.id).raw["offset"] == record["raw"]["offset"]
    index = archive_copy.get_bytes(cdxj_key(warc)).decode()
    assert victim.url not in index and all(n.url in index for n in neighbours)

    # Only the published piece holding the victim's run was rewritten (a new version); runs in other pieces stay.
    # (Earlier tests may have merged the shared archive's runs into one month piece: then there is none.)
    after = load_index(archive_copy)[0]
    victim_run = victim.run_id
    victim_piece = before.runs[victim_run]["piece"]
    other_runs = [r for r in before.runs if before.runs[r]["piece"] != victim_piece]
    assert after.runs[victim_run]["version"] != before.runs[victim_run]["version"]
    assert all(after.runs[r] == before.runs[r] for r in other_runs)
    assert before.runs[victim_run]["piece"] not in after.pieces
    assert {o.key for o in archive_copy.list(keys.CATALOG_PIECES_PREFIX)} == set(after.pieces)
    with open_catalog(archive_copy, tmp_path / "reader") as reader:  # a new reader never sees the victim
        assert reader.history(victim.url) == [] and len(reader.history(neighbours[0].url)) >= 1


# -- the catalog's shape: three parts behind one interface -------------------------------------------------
CATALOG_READERS = [
    "feedvault/web/service.py",
    "feedvault/web/app.py",
    "feedvault/web/pages.py",
    "feedvault/web/api.py",
    "feedvault/cli/browse_commands.py",
]


def _imported_names(path: Path) -> set[str]:
    import ast

    tree = ast.parse(path.read_text())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("feedvault.catalog"):
            names |= {f"{node.module}.{alias.name}" for alias in node.names}
        elif isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
    return names


@pytest.mark.parametrize("reader", CATALOG_READERS)
def test_browse_code_uses_the_catalog_interface_not_a_backend(reader: str):
    """A second backend is added without touching the readers: they name the interface, never SQLite or a
    backend class (the openers are the one place a backend is chosen)."""
    names = _imported_names(Path(__file__).resolve().parents[1] / reader)
    assert "sqlite3" not in names
    backend = {
        n for n in names if n.startswith("feedvault.catalog") and n.rsplit(".", 1)[-1] in {"Catalog", "SqliteCatalog"}
    }
    assert not backend, backend
    assert not {n for n in names if n.startswith(("feedvault.catalog.sqlite", "feedvault.catalog.queries"))}


def test_the_sqlite_catalog_implements_the_interface(tmp_path: Path):
    from feedvault.catalog import BrowseCatalog, MaintainedCatalog

    with Catalog(tmp_path / "c.sqlite") as catalog:
        assert isinstance(catalog, BrowseCatalog) and isinstance(catalog, MaintainedCatalog)


def test_catalog_functions_fit_in_one_screen():
    """No function of the catalog package is over 60 lines (the three parts stay small enough to read)."""
    import ast

    package = Path(__file__).resolve().parents[1] / "feedvault" / "catalog"
    long = [
        f"{path.name}:{node.name} ({node.end_lineno - node.lineno + 1} lines)"
        for path in package.glob("*.py")
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.end_lineno - node.lineno + 1 > 60
    ]
    assert not long, long


# -- the same catalog on PostgreSQL ---------------------------------------------------------------------------
def _record(url: str, language: str, text: str, title: str = "t") -> tuple[str, dict]:
    return (
        f"clean/f/2026/11/26/20261126T020000Z/{keys.url_key(url)}.json",
        {
            "url": url,
            "feed": "f",
            "run_id": "20261126T020000Z",
            "text": text,
            "metadata": {"title": title, "language": language},
        },
    )


def test_search_ignores_diacritics_on_every_backend(empty_catalog):
    empty_catalog.insert_records([_record("https://p.test/a", "fr", "Rendez-vous au café de la gare à midi.")])
    assert empty_catalog.search("cafe").total == 1 and empty_catalog.search("gare").total == 1
    assert empty_catalog.search("a midi").total == 1


def test_postgresql_search_uses_each_languages_configuration(request):
    """English and Indonesian get PostgreSQL's stemmers (matching inflected forms); Malay, which PostgreSQL has
    no configuration for, gets simple words plus unaccent."""
    from feedvault.catalog.postgres_catalog import PostgresCatalog
    from tests.support.catalogs import new_database

    with PostgresCatalog(new_database(request)) as catalog:
        catalog.insert_records(
            [
                _record("https://p.test/en", "en", "The runners were running along the festivals' routes."),
                _record("https://p.test/id", "id", "Pemerintah mengumumkan kebijakannya kemarin."),
                _record("https://p.test/ms", "ms", "Kerajaan mengumumkan dasar baharu semalam."),
            ]
        )
        assert [h.snapshot.url for h in catalog.search("run festival").items] == ["https://p.test/en"]
        assert [h.snapshot.url for h in catalog.search("kebijakan").items] == ["https://p.test/id"]
        assert [h.snapshot.url for h in catalog.search("baharu").items] == ["https://p.test/ms"]
        assert catalog.search("baharu", language="ms").total == 1 and catalog.search("baharu", language="en").total == 0


def test_a_shared_catalog_is_written_by_runs_and_read_directly(archive_copy: FileStore, request, tmp_path: Path):
    """With catalog.uri: postgresql://..., finalize's catalog step writes the database and publishes no file;
    every browse instance opens the same database (no download, no local copy)."""
    from feedvault.catalog.opener import open_browse_catalog, record_run
    from feedvault.config import CatalogSettings, Settings, StorageSettings
    from tests.support.catalogs import new_database

    archive_copy.delete([o.key for o in archive_copy.list("catalog/")])
    settings = Settings(
        storage=StorageSettings(data_dir=str(tmp_path / "data")), catalog=CatalogSettings(uri=new_database(request))
    )
    for key in run_keys(archive_copy):
        assert record_run(archive_copy, settings, key) is False
    assert not list(archive_copy.list("catalog/")) and not (tmp_path / "data").exists()
    with open_browse_catalog(archive_copy, settings) as a, open_browse_catalog(archive_copy, settings) as b:
        phrase = f'"{CHANGED_SENTENCE}"'
        assert a.counts()["runs"] == b.counts()["runs"] == 2 and a.search(phrase).total >= 1
        a.forget_url(a.search(phrase).items[0].snapshot.url)
        assert b.search(phrase).total == 0  # the other reader sees the change at once


def test_catalog_uri_must_be_postgresql():
    from feedvault.config import CatalogSettings, ConfigError, parse_registry

    assert CatalogSettings(uri="").uri is None and CatalogSettings().uri is None
    assert CatalogSettings(uri="postgresql://u:p@127.0.0.1:5432/feedvault").uri
    with pytest.raises(ConfigError, match=r"catalog\.uri: .*postgresql://") as caught:
        parse_registry({"settings": {"catalog": {"uri": "mysql://user:secret@db/feedvault"}}})
    assert "secret" not in str(caught.value)


def test_the_browse_app_serves_every_backend(archived_demo: ArchivedDemo, demo_catalog):
    from fastapi.testclient import TestClient

    from feedvault.web.app import create_app

    client = TestClient(create_app(archived_demo.store, demo_catalog))
    found = client.get("/api/v1/search", params={"q": f'"{CHANGED_SENTENCE}"', "feed": "demo-id"}).json()
    assert found["total"] == 1
    page = client.get(f"/snapshots/{found['items'][0]['snapshot']['id']}")
    assert page.status_code == 200 and CHANGED_SENTENCE in page.text


def test_takedown_updates_a_shared_catalog(archive_copy: FileStore, request, tmp_path: Path):
    from feedvault.catalog.opener import open_browse_catalog, record_takedown
    from feedvault.config import CatalogSettings, Settings, StorageSettings
    from feedvault.permission.takedown import run_takedown
    from tests.support.catalogs import new_database

    settings = Settings(
        storage=StorageSettings(data_dir=str(tmp_path / "data")), catalog=CatalogSettings(uri=new_database(request))
    )
    with open_browse_catalog(archive_copy, settings) as catalog:
        catalog.reindex(archive_copy)
        items = catalog.articles("demo-en", "2026-11-26", per_page=100).items
        victim = items[0]
        summary = run_takedown(archive_copy, reason="test", url=victim.url, echo=lambda *_: None)
        record_takedown(archive_copy, settings, summary)
        assert catalog.history(victim.url) == [] and catalog.is_tombstoned(victim.url)
        for item in items[1:]:
            snapshot = catalog.snapshot(item.id)
            assert snapshot.raw == read_clean_record(archive_copy, snapshot.clean_key)["raw"]


def test_an_interrupted_reindex_resumes_where_it_stopped(archived_demo: ArchivedDemo, empty_catalog):
    """Every run is committed as it is indexed: run again, a reindex skips the runs it already holds."""
    store, (run_1, run_2) = archived_demo.store, archived_demo.run_ids

    def gets() -> int:
        return store.stats.snapshot()["by_operation"].get("GetObject", 0)

    def stop_after_the_first_run(done: int, total: int, run: str) -> None:
        if done == 1:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        empty_catalog.reindex(store, stop_after_the_first_run)
    before, progress = gets(), []
    count = empty_catalog.reindex(store, lambda done, total, run: progress.append((done, total, run)))
    resumed = gets() - before
    assert progress == [(1, 2, run_1), (2, 2, run_2)]
    assert count == empty_catalog.counts()["snapshots"] == archived_demo.catalog.counts()["snapshots"]
    before = gets()
    assert empty_catalog.reindex(store) == count  # finished: the next reindex starts afresh, reading every run
    assert gets() - before > resumed


def test_a_snapshot_keeps_the_url_it_was_fetched_at(empty_catalog):
    """A page archived under its canonical URL keeps the URL fetched (its WARC records' URL) for exports."""
    key, record = _record("https://p.test/story", "en", "Text of the story.")
    empty_catalog.insert_records([(key, {**record, "fetched_url": "https://p.test/story?amp=1"})])
    (summary,) = empty_catalog.history("https://p.test/story")
    assert empty_catalog.snapshot(summary.id).fetched_url == "https://p.test/story?amp=1"
    other_key, other = _record("https://p.test/plain", "en", "Plain.")
    empty_catalog.insert_records([(other_key, other)])
    (plain,) = empty_catalog.history("https://p.test/plain")
    assert empty_catalog.snapshot(plain.id).fetched_url is None


# -- a catalog that stays fast at a million snapshots (issue 15) ---------------------------------------------------
def _on(run_id: str, url: str, text: str, title: str = "t", feed: str = "f") -> tuple[str, dict]:
    key, record = _record(url, "en", text, title)
    return key, {**record, "run_id": run_id, "feed": feed}


def test_a_phrase_matches_its_words_adjacent_and_in_order(empty_catalog):
    """A phrase finds every snapshot holding its words next to one another in its order, and no other: the same
    words reversed, apart, or the word once where the phrase repeats it do not match."""
    texts = {
        "a": "kaba rune tolasi meda",
        "b": "rune kaba tolasi meda",
        "c": "kaba tolasi rune meda",
        "d": "kaba kaba rune",
        "e": "kaba rune kaba",
    }
    empty_catalog.insert_records([_on("20261101T020000Z", f"https://p.test/{k}", t) for k, t in texts.items()])

    def found(phrase: str) -> set[str]:
        return {h.snapshot.url.rsplit("/", 1)[1] for h in empty_catalog.search(phrase).items}

    assert found('"kaba rune"') == {"a", "d", "e"}
    assert found('"rune kaba"') == {"b", "e"}
    assert found('"kaba rune tolasi"') == {"a"}
    assert found('"kaba tolasi"') == {"b", "c"}
    assert found('"kaba kaba"') == {"d"}
    assert found('"kaba kaba rune"') == {"d"}
    assert found('"rune kaba" meda') == {"b"}
    assert found('"tolasi kaba"') == set()


def test_postgresql_phrases_narrowed_by_word_pairs_find_what_positions_match(request):
    """On PostgreSQL a phrase is looked up in the word-pairs index first, then checked on the row's positions:
    what it finds is exactly what the positions alone match (``tsv @@ query`` on every row), across stemming,
    accents, stop words, the title running into the text, positions past PostgreSQL's last one, and a snapshot
    with more pairs than a row lists (it holds the every-pair marker)."""
    from feedvault.catalog.postgres_catalog import PostgresCatalog, adjacent_pairs, tsquery_text
    from tests.support.catalogs import new_database

    consonants, vowels = "bcdfghjklmnprstvwz", "aeiou"
    many = " ".join(
        f"{a}{b}{c}{d}{e}"
        for a in consonants[:10]
        for b in vowels
        for c in consonants
        for d in vowels
        for e in consonants[:10]
    )
    docs = {
        "stems": ("en", "Harbour", "The runners were running quickly through the old harbours."),
        "title": ("en", "Harbour news", "Old harbour reopens after the storm."),
        "accents": ("fr", "Port", "Le café crème du port est servi à midi."),
        "plain": ("ms", "Pelabuhan", "Kerajaan buka pelabuhan lama semalam."),
        "far": ("ms", "Jauh", " ".join(f"isi{i}" for i in range(16381)) + " hujung akhir"),
        "many": ("ms", "Banyak", "awal kata " + many),
    }
    with PostgresCatalog(new_database(request)) as catalog:
        catalog.insert_records(
            [_record(f"https://p.test/{key}", lang, text, title) for key, (lang, title, text) in docs.items()]
        )
        marked = catalog._one("SELECT pairs::text AS p FROM snapshots WHERE url = ?", ("https://p.test/many",))
        assert marked["p"] == "'*'"  # more pairs than a row lists: it matches every narrowed query
        phrases = {
            '"running quickly"': {"stems"},
            '"runs quick"': {"stems"},
            '"quickly running"': set(),
            '"through the old harbour"': {"stems", "title"},  # leading stop words drop out
            '"news old harbour"': {"title"},  # the title's last word, then the text's first
            '"cafe creme"': {"accents"},
            '"buka pelabuhan lama"': {"plain"},
            '"pelabuhan buka"': set(),
            '"isi16380 hujung"': {"far"},
            '"isi16380 akhir"': {"far"},  # positions past 16383 are all 16383: the positions say these are adjacent
            '"awal kata"': {"many"},
            '"kata awal"': set(),
        }
        for phrase, expected in phrases.items():
            plain = catalog._all(
                "SELECT url FROM snapshots WHERE tsv @@ to_tsquery(ts_config, ?)", (tsquery_text(phrase),)
            )
            assert {r["url"].rsplit("/", 1)[1] for r in plain} == expected, phrase
            hits = catalog.search(phrase).items
            assert {h.snapshot.url.rsplit("/", 1)[1] for h in hits} == expected, phrase
        assert adjacent_pairs("'run' <-> 'quick' & 'harbour'") == [("run", "quick")]
        assert adjacent_pairs("'old' <2> 'harbour' <-> 'news':*") == []
        assert adjacent_pairs("'a' <-> 'b' | 'c'") is None


def test_postgresql_searches_are_planned_for_their_words(request):
    """No search runs as a prepared statement: PostgreSQL would switch it to one generic plan for every word after
    five runs (a prefix search went from 7 to 150-200 ms at 300,000 snapshots)."""
    from feedvault.catalog.postgres_catalog import PostgresCatalog
    from tests.support.catalogs import new_database

    with PostgresCatalog(new_database(request)) as catalog:
        catalog.insert_records([_on("20261101T020000Z", "https://p.test/a", "kaba rune tolasi")])
        for _ in range(10):
            assert catalog.search("kab*", feed="f").total == 1
        assert catalog._one("SELECT count(*) AS n FROM pg_prepared_statements")["n"] == 0
        assert catalog._one("SHOW random_page_cost")["random_page_cost"] == "1.1"  # pages are read from memory


def test_search_lists_the_newest_snapshots_first_whatever_their_score(empty_catalog):
    """Results come newest first (indexing order), so a page never ranks every match: an older snapshot that
    matches better still comes after a newer one."""
    empty_catalog.insert_records([_on("20261101T020000Z", "https://p.test/old", "harbour harbour", "harbour")])
    empty_catalog.insert_records([_on("20261102T020000Z", "https://p.test/new", "one harbour among other words")])
    hits = empty_catalog.search("harbour").items
    assert [h.snapshot.url for h in hits] == ["https://p.test/new", "https://p.test/old"]


def test_search_counts_matches_up_to_a_limit(empty_catalog, monkeypatch: pytest.MonkeyPatch):
    """A search stops counting at SEARCH_COUNT_LIMIT (or the end of the page asked for): the total is then a lower
    bound, and there is still a next page."""
    from feedvault.catalog import results

    monkeypatch.setattr(results, "SEARCH_COUNT_LIMIT", 5)
    empty_catalog.insert_records([_on("20261101T020000Z", f"https://p.test/{i}", "storm") for i in range(12)])
    first = empty_catalog.search("storm", per_page=2)
    assert (first.total, first.total_exact, first.total_text, first.has_next) == (5, False, "5+", True)
    assert len(first.items) == 2
    deep = empty_catalog.search("storm", page=4, per_page=2)  # past the limit: counted to the end of the page
    assert (deep.total, deep.total_exact, deep.has_next) == (8, False, True)
    last = empty_catalog.search("storm", page=6, per_page=2)
    assert (last.total, last.total_exact, last.has_next, len(last.items)) == (12, True, False, 2)
    assert empty_catalog.search("storm", feed="other").total_exact


def test_postgresql_filtered_searches_find_the_same_walking_rows_or_reading_the_index(
    request, monkeypatch: pytest.MonkeyPatch
):
    """A filtered search of a frequent word walks the filtered rows newest first instead of reading the word's
    list in the GIN index: pages, totals and their exactness are the same either way, for feeds, capture days (one
    day indexed after a later one), languages and phrases."""
    from feedvault.catalog import postgres_catalog, results
    from feedvault.catalog.postgres_catalog import PostgresCatalog
    from tests.support.catalogs import new_database

    monkeypatch.setattr(results, "SEARCH_COUNT_LIMIT", 5)
    words = ["storm tide rising", "storm over the tide", "calm sea", "storm tide"]
    batches = [
        ("20261102T020000Z", "f"),
        ("20261102T020000Z", "g"),
        ("20261101T020000Z", "f"),
        ("20261103T020000Z", "g"),
    ]
    cases = [
        ("storm", {"feed": "f"}),
        ("storm", {"feed": "g", "date_from": "2026-11-02", "date_to": "2026-11-02"}),
        ("storm", {"feed": "f", "date_to": "2026-11-01"}),  # the older day, indexed after the later one
        ("storm", {"feed": "f", "date_to": "2026-11-01", "page": 3, "per_page": 2}),
        ("storm", {"language": "en", "date_from": "2026-11-02"}),
        ('"storm tide"', {"feed": "g"}),
        ("calm", {"feed": "f"}),
        ("storm", {"feed": "nobody"}),
        ("storm", {"feed": "h", "date_to": "2026-11-04", "per_page": 10}),
    ]
    with PostgresCatalog(new_database(request)) as catalog:
        for run_id, feed in batches:
            records = [_on(run_id, f"https://p.test/{feed}{run_id}/{i}", words[i % 4], feed=feed) for i in range(9)]
            catalog.insert_records(records)
        mixed = ["20261104T020000Z", "20261105T020000Z"]  # one batch of two days: their n interleave
        catalog.insert_records([_on(mixed[i % 2], f"https://p.test/h/{i}", "storm", feed="h") for i in range(12)])
        catalog._conn.execute("ANALYZE snapshots")
        walked = []
        walk_page = catalog._walk_page
        monkeypatch.setattr(catalog, "_walk_page", lambda *a: walked.append(walk_page(*a)) or walked[-1])

        def found(query: str, options: dict) -> tuple:
            hits = catalog.search(query, **{"per_page": 2, **options})
            return [h.snapshot.url for h in hits.items], hits.total, hits.total_exact

        monkeypatch.setattr(postgres_catalog, "ROW_PER_ENTRY", 10**9)  # never walk
        from_index = [found(query, options) for query, options in cases]
        assert not walked
        monkeypatch.setattr(postgres_catalog, "ROW_PER_ENTRY", 0)  # walk whenever the words match anything
        assert [found(query, options) for query, options in cases] == from_index
        assert any(page for page in walked) and None in walked  # walked, and fell back where too few matched
        assert from_index[2][1:] == (5, False) and len(from_index[3][0]) == 2  # the older day's 7 storms of f
        assert from_index[8][1:] == (6, True) and all("/h/" in url for url in from_index[8][0])
        assert from_index[6][1:] == (4, True) and from_index[7][1:] == (0, True)


def test_days_and_capture_day_searches_follow_inserts_and_deletes(empty_catalog):
    """A feed's days and counts come from day_counts, kept as rows come and go; a search bounded by capture days
    finds a snapshot indexed after later days (its n is above theirs)."""
    empty_catalog.insert_records([_on("20261102T020000Z", f"https://p.test/b{i}", "tide") for i in range(2)])
    empty_catalog.insert_records([_on("20261101T020000Z", "https://p.test/a", "tide")])  # an older day, indexed last
    empty_catalog.insert_records([_on("20261101T020000Z", "https://p.test/g", "tide", feed="g")])
    assert [(d.day, d.snapshot_count) for d in empty_catalog.days("f").items] == [("2026-11-02", 2), ("2026-11-01", 1)]
    early = empty_catalog.search("tide", date_to="2026-11-01")
    assert sorted(h.snapshot.url for h in early.items) == ["https://p.test/a", "https://p.test/g"]
    assert [h.snapshot.url for h in empty_catalog.search("tide", feed="f", date_to="2026-11-01").items] == [
        "https://p.test/a"
    ]
    assert empty_catalog.search("tide", date_from="2026-11-03").total == 0
    assert empty_catalog.articles("f", "2026-11-01").total == 1
    assert empty_catalog.forget_url("https://p.test/a") == 1
    assert [(d.day, d.snapshot_count) for d in empty_catalog.days("f").items] == [("2026-11-02", 2)]
    assert (empty_catalog.articles("f", "2026-11-01").total, empty_catalog.articles("f", "2026-11-01").items) == (0, [])
    second = empty_catalog.articles("f", "2026-11-02", page=2, per_page=1)
    assert (second.total, [s.url for s in second.items]) == (2, ["https://p.test/b1"])
    assert empty_catalog.search("tide", feed="f", date_to="2026-11-01").total == 0
    empty_catalog.insert_records([_on("20261102T020000Z", "https://p.test/b0", "tide again")])  # replaced, not added
    assert [(d.day, d.snapshot_count) for d in empty_catalog.days("f").items] == [("2026-11-02", 2)]


def test_a_new_sqlite_catalog_flushes_its_full_text_index_in_large_segments(tmp_path: Path):
    """FTS5 holds up to 16 MiB of a write before flushing it (its default, 1 MiB, is a tenth of a batch of 5,000
    snapshots): fewer segments to merge. The setting lives in the file, so every later connection writes alike."""
    from feedvault.catalog.sqlite_file import FTS_HASH_BYTES

    with Catalog(tmp_path / "c.sqlite") as catalog:
        catalog.insert_records([_on("20261101T020000Z", "https://p.test/a", "tide")])
    with Catalog(tmp_path / "c.sqlite") as catalog:
        config = dict(catalog._all("SELECT k, v FROM snapshot_text_config"))
        assert config["hashsize"] == FTS_HASH_BYTES == 16 * 2**20
        assert catalog.search("tide").total == 1


def _schema(catalog: Catalog) -> set[tuple[str, str]]:
    return {(r["name"], r["sql"]) for r in catalog._all("SELECT name, sql FROM sqlite_master WHERE sql IS NOT NULL")}


def _bulk_records() -> list[tuple[str, dict]]:
    return [
        _on(f"202611{day:02d}T020000Z", f"https://p.test/{day}/{i}", f"tide {day} {i}", feed=f"f{i % 2}")
        for day in (1, 2, 3)
        for i in range(5)
    ]


def test_a_bulk_build_ends_as_the_catalog_written_row_by_row(tmp_path: Path):
    """A build (what reindex fills its new file with) leaves the secondary indexes and day counts for its end,
    lets FTS5 merge 16 segments at once and writes through a rollback journal: meanwhile the indexes are absent;
    at the end the schema, the rows and their text, the day counts, listings and search are those of a catalog
    written the usual way, FTS5 merges as usual, and later writes keep the day counts again."""
    with Catalog(tmp_path / "usual.sqlite") as usual, Catalog(tmp_path / "built.sqlite") as built:
        usual.insert_records(_bulk_records())
        with built.building():
            built.insert_records(_bulk_records()[:8])
            built.insert_records(_bulk_records()[8:])
            indexes = {r["name"] for r in built._all("SELECT name FROM sqlite_master WHERE type = 'index'")}
            assert "snapshots_feed_day" not in indexes and "snapshots_url" not in indexes
            assert built._all("SELECT * FROM day_counts") == []
            assert dict(built._all("SELECT k, v FROM snapshot_text_config"))["automerge"] == 16
            assert built._one("PRAGMA journal_mode")[0] == "delete"  # the pages it adds are written once
        assert _schema(built) == _schema(usual) and built._one("PRAGMA journal_mode")[0] == "wal"
        assert dict(built._all("SELECT k, v FROM snapshot_text_config"))["automerge"] == 4  # FTS5's default
        counts = "SELECT feed, day, run_id, snapshots, first_n, last_n FROM day_counts ORDER BY 1, 2, 3"
        assert [tuple(r) for r in built._all(counts)] == [tuple(r) for r in usual._all(counts)]
        assert built.days("f0").items == usual.days("f0").items
        assert built.search("tide").total == usual.search("tide").total == 15
        for table in ("snapshots", "snapshot_text"):  # the same rows and text, numbered alike
            everything = f"SELECT rowid, * FROM {table} ORDER BY rowid"
            assert [tuple(r) for r in built._all(everything)] == [tuple(r) for r in usual._all(everything)]
        built.forget_url("https://p.test/1/0")
        assert [(d.day, d.snapshot_count) for d in built.days("f0").items][-1] == ("2026-11-01", 2)
        assert built.get_meta("building") is None


def test_inserting_new_snapshots_leaves_the_full_text_index_alone_until_it_replaces_one(tmp_path: Path):
    """A DELETE on the FTS5 table while inserts are pending is costly even when it deletes nothing: an insert
    issues one only for the snapshots it replaces."""
    statements: list[str] = []
    with Catalog(tmp_path / "c.sqlite") as catalog:
        catalog._conn.set_trace_callback(statements.append)
        catalog.insert_records(_bulk_records())
        assert not [s for s in statements if s.startswith("DELETE FROM snapshot_text")]
        catalog.insert_records(_bulk_records()[:1])
        assert [s for s in statements if s.startswith("DELETE FROM snapshot_text")]
        assert catalog.search("tide").total == 15 and catalog.counts()["snapshots"] == 15


def test_removing_a_catalog_file_removes_its_rollback_journal_too(tmp_path: Path):
    """A build writes through a rollback journal: a hot one left by a killed build must go with its file, or
    SQLite would play it back into the next file of that name."""
    from feedvault.catalog.sqlite_file import remove_db

    path = tmp_path / ".reindex.sqlite"
    for suffix in ("", "-wal", "-shm", "-journal"):
        Path(f"{path}{suffix}").write_bytes(b"x")
    remove_db(path)
    assert list(tmp_path.iterdir()) == []


def test_a_bulk_build_is_only_for_a_new_file(tmp_path: Path):
    """A catalog readers may use (it holds snapshots, and is no interrupted build) is never built in bulk: its
    readers would see it without indexes and day counts."""
    from feedvault.catalog import CatalogError

    with Catalog(tmp_path / "c.sqlite") as catalog:
        catalog.insert_records(_bulk_records()[:1])
        with pytest.raises(CatalogError, match="new file"), catalog.building():
            pass
        assert catalog.search("tide").total == 1


def test_an_interrupted_bulk_build_keeps_its_writes_and_resumes(tmp_path: Path):
    """Stopped between writes, a build commits what it wrote and stays a build, which the next one resumes; a
    write that fails rolls back the build's uncommitted writes and ends it (no later write stands on them)."""
    from feedvault.catalog import CatalogError

    path = tmp_path / "c.sqlite"
    with Catalog(path) as catalog, pytest.raises(KeyboardInterrupt), catalog.building():
        catalog.insert_records(_bulk_records()[:5])
        raise KeyboardInterrupt
    with Catalog(path) as catalog:
        assert catalog.counts()["snapshots"] == 5 and catalog.get_meta("building") == "1"
        with pytest.raises(CatalogError, match="failed"), catalog.building():
            catalog.insert_records(_bulk_records()[5:10])
            with pytest.raises(KeyError):
                catalog.insert_records([("clean/f/x.json", {"feed": "f"})])  # no url: the write fails
            catalog.insert_records(_bulk_records()[10:])
        assert catalog.counts()["snapshots"] == 5
        with catalog.building():
            catalog.insert_records(_bulk_records()[5:])
        assert catalog.counts()["snapshots"] == 15 and catalog.search("tide").total == 15


def test_a_schema_3_catalog_gains_its_day_counts_when_opened(tmp_path: Path):
    import sqlite3

    path = tmp_path / "c.sqlite"
    with Catalog(path) as catalog:
        catalog.insert_records([_on("20261101T020000Z", f"https://p.test/{i}", "tide") for i in range(3)])
    conn = sqlite3.connect(path)  # what a catalog written before day_counts looks like
    for trigger in ("snapshots_counted", "snapshots_uncounted"):
        conn.execute(f"DROP TRIGGER {trigger}")
    conn.execute("DROP TABLE day_counts")
    conn.execute("PRAGMA user_version=3")
    conn.close()
    with Catalog(path) as catalog:
        assert [(d.day, d.snapshot_count) for d in catalog.days("f").items] == [("2026-11-01", 3)]
        catalog.forget_url("https://p.test/0")
        assert [(d.day, d.snapshot_count) for d in catalog.days("f").items] == [("2026-11-01", 2)]
    assert sqlite3.connect(path).execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION


def test_a_schema_1_postgresql_catalog_is_migrated_when_opened(request):
    from feedvault.catalog.postgres_catalog import PostgresCatalog
    from tests.support.catalogs import new_database

    uri = new_database(request)
    with PostgresCatalog(uri) as catalog:
        catalog.insert_records([_on("20261101T020000Z", f"https://p.test/{i}", "tide") for i in range(3)])
        catalog._conn.execute(  # what a database written before day_counts looks like
            "DROP TRIGGER snapshots_counted ON snapshots; DROP TRIGGER snapshots_uncounted ON snapshots;"
            " DROP TABLE day_counts; UPDATE meta SET value = '1' WHERE key = 'schema_version'"
        )
    with PostgresCatalog(uri) as catalog:
        assert [(d.day, d.snapshot_count) for d in catalog.days("f").items] == [("2026-11-01", 3)]
        catalog.forget_url("https://p.test/0")
        assert [(d.day, d.snapshot_count) for d in catalog.days("f").items] == [("2026-11-01", 2)]
        assert catalog.get_meta("schema_version") == "5"
        storage = catalog._one(
            "SELECT attstorage FROM pg_attribute WHERE attrelid = 'snapshots'::regclass AND attname = 'tsv'"
        )
        assert storage["attstorage"] == "m"  # schema 3: the tsvector stays in the row


class CountingStore(FileStore):
    """A FileStore counting the reads of each key."""

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        from collections import Counter

        self.reads: Counter[str] = Counter()

    def get_bytes(self, key: str, start: int | None = None, length: int | None = None) -> bytes:
        self.reads[key] += 1
        return super().get_bytes(key, start=start, length=length)

    def clean_reads(self) -> dict[str, int]:
        return {key: n for key, n in self.reads.items() if key.startswith("clean/")}


def stage_rows(store: FileStore, manifest_key: str, path: Path, keep=lambda key: True) -> list:
    """Stage a committed run's catalog rows in ``path`` as its crawl would (:class:`RowStage`); returns them."""
    from feedvault.catalog.index import fetch_records, read_run, snapshot_row
    from feedvault.catalog.pieces import RowStage

    stage = RowStage(path)
    rows = [snapshot_row(k, r) for k, r in fetch_records(store, read_run(store, manifest_key).clean_keys) if keep(k)]
    assert all(stage.add(row) for row in rows)
    stage.close()
    return rows


def published_rows(store: FileStore, run_id: str, tmp_path: Path) -> list:
    from feedvault.catalog.pieces import load_index, published_rows

    index = load_index(store)[0]
    return [row for rows, _ in published_rows(store, tmp_path / "scratch", index, [run_id]) for row in rows.snapshots]


def test_a_runs_piece_is_built_from_the_rows_its_crawl_staged(archive_copy: FileStore, tmp_path: Path):
    """The writer publishes the run's piece from the rows its crawl staged: no clean record is read back, and it
    keeps no catalog of its own (readers, its own machine's included, index the piece when they next open).
    Without staged rows it reads each of the run's records once, and the piece holds the same rows."""
    from feedvault.catalog.replication import CATALOG_FILE, update_after_run

    archive_copy.delete(
        [o.key for o in archive_copy.list("catalog/") if not o.key.startswith(keys.CATALOG_RUNS_PREFIX)]
    )
    store = CountingStore(archive_copy.root)
    *_, last = run_keys(store)
    run_id = last.split("/")[-2]
    staged = stage_rows(archive_copy, last, tmp_path / "stage.sqlite")
    assert update_after_run(store, tmp_path / "data", last, staged=tmp_path / "stage.sqlite")
    assert store.clean_reads() == {} and not (tmp_path / "data" / CATALOG_FILE).exists()
    assert published_rows(store, run_id, tmp_path) == staged
    version = json.loads(store.get_bytes(keys.CATALOG_INDEX_KEY))["runs"][run_id]["version"]
    update_after_run(store, tmp_path / "data", last, staged=tmp_path / "stage.sqlite")  # a retried commit
    assert published_rows(store, run_id, tmp_path) == staged and store.clean_reads() == {}
    assert json.loads(store.get_bytes(keys.CATALOG_INDEX_KEY))["runs"][run_id]["version"] != version

    update_after_run(store, tmp_path / "data", last)  # a retry, with nothing staged (e.g. an Airflow finalize)
    assert set(store.clean_reads().values()) == {1} and published_rows(store, run_id, tmp_path) == staged
    with open_catalog(archive_copy, tmp_path / "data") as catalog:  # the writer's machine, browsing later
        assert catalog.counts()["runs"] == 2 and catalog.search("koreksi").total >= 1


def test_a_runs_piece_reads_back_what_was_not_staged_and_leaves_out_what_was_withdrawn(
    archive_copy: FileStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """Rows staged for records the run withdrew (not in its committed manifests) are not published; records the
    crawl could not stage (a full disk) are read back; a URL taken down while the run crawled is left out."""
    from feedvault.catalog import replication
    from feedvault.catalog.index import read_run
    from feedvault.catalog.pieces import RowStage
    from feedvault.catalog.replication import update_after_run

    archive_copy.delete([obj.key for obj in archive_copy.list("catalog/")])
    store = archive_copy
    last = run_keys(store)[0]  # the first run: many records
    run_id = last.split("/")[-2]
    committed = read_run(store, last).clean_keys
    unstaged = set(committed[::2])
    staged = stage_rows(archive_copy, last, tmp_path / "stage.sqlite", keep=lambda key: key not in unstaged)
    withdrawn = staged[0]._replace(id="0" * 16, clean_key=staged[0].clean_key + "-withdrawn", url="https://w.test/")
    more = RowStage(tmp_path / "stage.sqlite")  # a record staged, then withdrawn (its segment failed to upload)
    assert more.add(withdrawn)
    more.close()
    taken_down = staged[-1]
    every_row = stage_rows(archive_copy, last, tmp_path / "every-row.sqlite")
    gone = {r.clean_key for r in every_row if r.url_key == taken_down.url_key}  # the URL in every feed
    archive_copy.put_bytes(f"tombstones/{taken_down.url_key}.json", json.dumps({"url": taken_down.url}).encode())

    read_back: list[str] = []
    fetch_records = replication.fetch_records
    monkeypatch.setattr(
        replication, "fetch_records", lambda store, keys: fetch_records(store, read_back.extend(keys) or keys)
    )
    update_after_run(store, tmp_path / "data", last, staged=tmp_path / "stage.sqlite")
    assert read_back == [key for key in committed if key in unstaged]
    published = published_rows(store, run_id, tmp_path)
    assert {row.clean_key for row in published} == set(committed) - gone and taken_down.clean_key in gone
    assert [row for row in published if row.clean_key not in unstaged] == [r for r in staged if r.clean_key not in gone]


def test_a_shared_catalogs_run_rows_come_from_the_stage_and_the_rest_from_the_records(
    archive_copy: FileStore, tmp_path: Path
):
    """What the PostgreSQL catalog inserts for a run (``run_snapshot_rows``): the staged rows, then the rows of
    the records the crawl did not stage, read back; the same rows as reading every record back."""
    from feedvault.catalog.index import read_run, run_snapshot_rows

    first = run_keys(archive_copy)[0]
    committed = read_run(archive_copy, first).clean_keys
    staged = stage_rows(archive_copy, first, tmp_path / "stage.sqlite", keep=lambda key: key not in committed[:3])
    rows = list(run_snapshot_rows(archive_copy, committed, tmp_path / "stage.sqlite"))
    assert rows[: len(staged)] == staged and [r.clean_key for r in rows[len(staged) :]] == committed[:3]
    assert sorted(rows) == sorted(run_snapshot_rows(archive_copy, committed))


def test_a_row_stage_that_cannot_write_says_so_once_and_stages_nothing_more(tmp_path: Path):
    from feedvault.catalog.pieces import RowStage, staged_snapshot_rows

    (tmp_path / "not-a-directory").write_text("a file where the stage directory should be")
    stage = RowStage(tmp_path / "not-a-directory" / "feed.sqlite")
    row = _row("https://p.test/1")
    assert stage.add(row) is False and stage.failed and "not-a-directory" in stage.failed
    assert stage.add(row) is True  # said once; nothing more is staged
    stage.close()
    wanted = {row.clean_key}
    assert list(staged_snapshot_rows(stage.path, wanted)) == [] and wanted == {row.clean_key}


def _row(url: str):
    from feedvault.catalog.index import snapshot_row

    return snapshot_row(*_on("20261201T020000Z", url, "some text"))


def test_a_run_is_written_a_batch_at_a_time_and_all_or_nothing(empty_catalog):
    """A run's rows reach the catalog as a stream (its memory: one batch, whatever the run's size), still in one
    transaction: a failure half-way leaves nothing of the run; the same URL in two batches keeps the last."""
    import sqlite3

    from feedvault.catalog.index import WRITE_BATCH, snapshot_row
    from feedvault.catalog.interface import FeedRunRow, RunRow

    run_id = "20261201T020000Z"
    run = RunRow(run_id, "2026-12-01", None, None, None, "ok", "manual", "{}", '["f"]', 0, "runs/x/manifest.json")
    feeds = [FeedRunRow("f", run_id, "ok", None, "{}", None, None)]
    total = 2 * WRITE_BATCH + 7
    rows = [snapshot_row(*_on(run_id, f"https://p.test/{i}", f"text number {i}")) for i in range(total)]
    rows.append(snapshot_row(*_on(run_id, "https://p.test/0", "the last text of the first URL")))
    tables = empty_catalog._tables()
    conn = getattr(empty_catalog, "_conn", None)
    written_when_asked: list[int] = []

    def stream(fail_at: int | None = None):
        for i, row in enumerate(rows):
            if i == fail_at:
                raise RuntimeError("the archive went away")
            if i == 2 * WRITE_BATCH and isinstance(conn, sqlite3.Connection):
                written_when_asked.append(conn.total_changes - start)
            yield row

    start = conn.total_changes if isinstance(conn, sqlite3.Connection) else 0
    with pytest.raises(RuntimeError):
        tables.write_run(run, feeds, stream(fail_at=WRITE_BATCH + 3))
    assert empty_catalog.counts()["snapshots"] == 0 and empty_catalog.counts()["runs"] == 0
    start = conn.total_changes if isinstance(conn, sqlite3.Connection) else 0
    assert tables.write_run(run, feeds, stream()) == total + 1
    assert empty_catalog.counts()["snapshots"] == total
    (first,) = empty_catalog.history("https://p.test/0")
    assert "last text" in empty_catalog.snapshot(first.id).text
    if isinstance(conn, sqlite3.Connection):  # the first two batches were in the database before the third was read
        assert written_when_asked and written_when_asked[-1] >= 2 * WRITE_BATCH
