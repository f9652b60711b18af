import datetime as dt

from feedvault.crawl.seen_state import SeenSnapshot, SeenState
from feedvault.store.backends import FileStore

NOW = dt.datetime(2026, 11, 26, 2, 0, tzinfo=dt.UTC)
URL = "http://127.0.0.1/a.html"


def snap(run_id, sha="s1", etag='"e1"', fetched=NOW):
    return SeenSnapshot(
        run_id=run_id,
        sha256=sha,
        clean_key="c",
        warc_key="w",
        fetched_at=fetched.isoformat(),
        etag=etag,
        last_modified="Wed, 25 Nov 2026 10:00:00 GMT",
    )


def plan(state, run_id, **kw):
    args = {
        "run_id": run_id,
        "now": NOW,
        "entry_updated": None,
        "published": NOW - dt.timedelta(days=10),
        "revisit": dt.timedelta(days=2),
    }
    return state.plan(URL, **{**args, **kw})


def test_new_url_is_fetched_unconditionally():
    p = plan(SeenState("f"), "20261126T020000Z")
    assert p.fetch and p.reason == "new" and not p.headers


def test_old_unchanged_entry_is_not_fetched_and_young_one_is_revisited_conditionally():
    state = SeenState("f")
    state.record(URL, now=NOW, entry_updated=None, published=None, snapshot=snap("20261125T020000Z"))
    assert plan(state, "20261126T020000Z").reason == "fresh-enough"
    young = plan(state, "20261126T020000Z", published=NOW - dt.timedelta(hours=5))
    assert young.fetch and young.reason == "revisit"
    assert young.headers == {"If-None-Match": '"e1"', "If-Modified-Since": "Wed, 25 Nov 2026 10:00:00 GMT"}
    updated = plan(state, "20261126T020000Z", entry_updated=NOW)
    assert updated.fetch and updated.reason == "entry-updated"
    assert plan(state, "20261126T020000Z", force=True).reason == "force"


def test_a_rerun_ignores_only_its_own_snapshots():
    state = SeenState("f")
    hours = [NOW - dt.timedelta(hours=h) for h in (3, 2, 1)]
    state.record(
        URL, now=NOW, entry_updated=None, published=None, snapshot=snap("20261124T020000Z", "old", fetched=hours[0])
    )
    state.record(
        URL, now=NOW, entry_updated=None, published=None, snapshot=snap("20261125T020000Z", "mine", fetched=hours[1])
    )
    state.record(
        URL, now=NOW, entry_updated=None, published=None, snapshot=snap("20261126T020000Z", "later", fetched=hours[2])
    )
    assert state.baseline(URL, "20261125T020000Z").sha256 == "later"
    assert state.baseline(URL, "20261126T020000Z").sha256 == "mine"
    state.forget_run("20261125T020000Z")
    assert [s.sha256 for s in state.urls[next(iter(state.urls))].snapshots] == ["old", "later"]


def test_the_baseline_is_the_newest_snapshot_whatever_the_run_ids_order():
    """A scheduled run's id (02:00) sorts before manual runs of the same day, a backfill's before everything:
    they still compare against what was archived last, so an unchanged article is not archived again."""
    state = SeenState("f")
    manual = snap("20261126T143000Z-manual", "today", fetched=NOW + dt.timedelta(hours=12))
    state.record(URL, now=NOW, entry_updated=None, published=None, snapshot=snap("20261120T020000Z", "older"))
    state.record(URL, now=NOW, entry_updated=None, published=None, snapshot=manual)
    for run_id in ("20261126T020000Z-scheduled", "20261101T020000Z-backfill"):
        p = plan(state, run_id, published=NOW)  # young: re-fetched conditionally against the newest snapshot
        assert p.baseline.sha256 == "today" and p.headers["If-None-Match"] == '"e1"'
    # Kept in the order taken, so the newest survives the cap on kept snapshots.
    for day in range(1, 10):
        early = snap(f"202611{day:02d}T020000Z-backfill", f"b{day}", fetched=NOW - dt.timedelta(days=30 - day))
        state.record(URL, now=NOW, entry_updated=None, published=None, snapshot=early)
    assert state.baseline(URL, "20261127T020000Z").sha256 == "today"


def test_state_round_trips_through_a_store_and_saves_only_when_dirty(tmp_path):
    store = FileStore(tmp_path)
    state = SeenState("f")
    assert not state.save(store)
    state.record(URL, now=NOW, entry_updated=NOW, published=NOW, snapshot=snap("20261125T020000Z"))
    assert state.save(store) and not state.save(store)
    loaded = SeenState.load(store, "f")
    assert loaded.baseline(URL, "20261126T000000Z").sha256 == "s1"
    assert loaded.to_json() == state.to_json()


def test_revert_puts_back_what_a_failed_run_recorded_so_the_next_run_plans_the_same(tmp_path):
    """An entry whose snapshot never reached the archive: after revert, its updated date and snapshots are the old
    ones (a changed entry is fetched again, not skipped as already seen), and a URL new in the run is forgotten."""
    store = FileStore(tmp_path)
    old_updated, new_updated = NOW - dt.timedelta(days=30), NOW - dt.timedelta(days=1)
    state = SeenState("f")
    state.record(URL, now=NOW, entry_updated=old_updated, published=None, snapshot=snap("20261001T020000Z"))
    state.save(store)
    other = "http://127.0.0.1/b.html"

    run = SeenState.load(store, "f")
    run_id = "20261126T020000Z"
    assert plan(run, run_id, entry_updated=new_updated, revisit=dt.timedelta(0)).reason == "entry-updated"
    run.record(URL, now=NOW, entry_updated=new_updated, published=None, snapshot=snap(run_id, sha="s2"))
    run.record(other, now=NOW, entry_updated=None, published=None, snapshot=snap(run_id))
    run.revert([URL, other], SeenState.load(store, "f"))
    assert run.save(store)

    after = SeenState.load(store, "f")
    assert plan(after, "20261127T020000Z", entry_updated=new_updated, revisit=dt.timedelta(0)).reason == "entry-updated"
    assert after.baseline(URL, "20261127T020000Z").sha256 == "s1"
    assert after.baseline(other, "20261127T020000Z") is None


def test_prune_forgets_dated_urls_older_than_the_retention_and_keeps_undated_ones():
    state = SeenState("f")
    old, fresh, undated = "http://127.0.0.1/old.html", "http://127.0.0.1/fresh.html", "http://127.0.0.1/undated.html"
    state.record(
        old, now=NOW, entry_updated=None, published=NOW - dt.timedelta(days=91), snapshot=snap("20260801T020000Z")
    )
    state.record(
        fresh, now=NOW, entry_updated=None, published=NOW - dt.timedelta(days=89), snapshot=snap("20260901T020000Z")
    )
    state.record(undated, now=NOW, entry_updated=None, published=None, snapshot=snap("20250101T020000Z"))
    state.dirty = False

    assert state.prune(NOW - dt.timedelta(days=90)) == 1 and state.dirty
    assert state.baseline(old, "20261126T020000Z") is None
    assert state.baseline(fresh, "20261126T020000Z") and state.baseline(undated, "20261126T020000Z")
    state.dirty = False
    assert state.prune(NOW - dt.timedelta(days=90)) == 0 and not state.dirty  # nothing to forget: no write


def test_state_retention_is_never_shorter_than_the_entry_window():
    from feedvault.config import Settings

    assert Settings().state_retention == dt.timedelta(days=90)
    assert Settings(entry_window_days=120).state_retention == dt.timedelta(days=120)
    assert Settings(state_retention_days=400).state_retention == dt.timedelta(days=400)


def test_concurrent_runs_of_a_feed_lose_nothing_of_each_other(any_store):
    """A manual run beside the nightly one: both load the state, both archive, both save. The second save
    conflicts (the object changed since it was read), re-reads and applies its own changes on top."""
    base = SeenState("f")
    url0, url1, url2, retried = (f"http://127.0.0.1/{n}.html" for n in ("zero", "one", "two", "retried"))
    base.record(url0, now=NOW, entry_updated=None, published=None, snapshot=snap("20261120T020000Z"))
    base.record(retried, now=NOW, entry_updated=None, published=None, snapshot=snap("20261126T030000Z-b"))
    assert base.save(any_store)

    nightly, manual = SeenState.load(any_store, "f"), SeenState.load(any_store, "f")
    manual.forget_run("20261126T030000Z-b")  # the manual run is a retry: its earlier attempt is replaced
    nightly.record(url1, now=NOW, entry_updated=None, published=None, snapshot=snap("20261126T020000Z", sha="n1"))
    nightly.record(url0, now=NOW, entry_updated=None, published=None, snapshot=snap("20261126T020000Z", sha="n0"))
    assert nightly.save(any_store)
    manual.record(url2, now=NOW, entry_updated=None, published=None, snapshot=snap("20261126T030000Z-b", sha="m2"))
    manual.record(url0, now=NOW, entry_updated=None, published=None, snapshot=snap("20261126T030000Z-b", sha="m0"))
    assert manual.save(any_store)

    final = SeenState.load(any_store, "f")
    runs = {entry.url: [s.run_id for s in entry.snapshots] for entry in final.urls.values()}
    assert runs == {
        url0: ["20261120T020000Z", "20261126T020000Z", "20261126T030000Z-b"],
        url1: ["20261126T020000Z"],
        url2: ["20261126T030000Z-b"],
        retried: [],  # forgotten by the retry, not brought back by the merge
    }
    assert final.baseline(url1, "20261127T020000Z").sha256 == "n1"
    assert final.baseline(url0, "20261127T020000Z").sha256 == "m0"
    assert manual.version == final.version and not manual.dirty
