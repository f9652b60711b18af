"""Learned boilerplate (feedvault.cleaning.fingerprints): lines recurring across a feed's articles are removed
with reason repeated-in-feed; the guards keep real text; the set is bounded and updated with compare-and-swap;
end to end over two real crawls into SeaweedFS."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from feedvault import keys
from feedvault.archive.clean_segments import read_clean_record
from feedvault.cleaning import CleanOptions, clean_html
from feedvault.cleaning.fingerprints import (
    FeedFingerprints,
    Observation,
    RepeatedLines,
    fingerprint,
    guard,
    observe_lines,
)
from feedvault.config import LearnedBoilerplate
from feedvault.store.backends import FileStore
from tests.support.crawl import feed, feed_summary, run_crawl, write_registry
from tests.support.portal import PROMO, QUOTE, _page, article, write_portal

DAY = dt.datetime(2026, 11, 24, 8, tzinfo=dt.UTC)
TODAY = dt.date(2026, 11, 30)
SETTINGS = LearnedBoilerplate()  # the defaults: 5 articles, 2 runs, 2 days, 3 words
URL = "http://127.0.0.1:9/berita/{}.html"


def cleaned(n: int, learned: RepeatedLines | None = None, extra: tuple[str, ...] = (PROMO, QUOTE)) -> dict:
    item = article(n, DAY + dt.timedelta(days=n % 3), extra)
    return clean_html(_page(item), URL.format(item.slug), CleanOptions(learned=learned)).to_dict()


def observations(numbers: range, run_id: str, days: int = 3, extra: tuple[str, ...] = (PROMO, QUOTE)) -> list:
    """What a run that archived articles ``numbers`` observed (article days spread over ``days`` days)."""
    found = []
    for n in numbers:
        lines = observe_lines(cleaned(n, extra=extra), RepeatedLines())
        day = (DAY + dt.timedelta(days=n % days)).date().isoformat()
        found.append(Observation(URL.format(n), run_id, day, lines))
    return found


def learned_after(*runs: list[Observation], settings: LearnedBoilerplate = SETTINGS) -> RepeatedLines | None:
    prints = FeedFingerprints("warta")
    for run in runs:
        prints.merge(run, TODAY)
    return prints.repeated_lines(settings)


def test_a_line_recurring_across_articles_runs_and_days_is_removed_with_reason_repeated_in_feed():
    learned = learned_after(
        observations(range(0, 4), "20261125T020000Z"), observations(range(4, 8), "20261126T020000Z")
    )
    result = cleaned(20, learned)
    assert PROMO not in result["text"]
    assert {"line": PROMO, "rule": "learned.repeated-line", "family": "learned", "reason": "repeated-in-feed"} in (
        result["removed"]
    )
    assert "Rapat ke-20" in result["text"]  # the article's own text stays
    assert result["extractor"]["learned_lines"] == len(learned.active)


def test_a_recurring_short_quote_is_never_learned():
    learned = learned_after(*(observations(range(r * 10, r * 10 + 10), f"2026112{r}T020000Z") for r in range(1, 5)))
    result = cleaned(99, learned)
    assert QUOTE in result["text"]
    assert fingerprint(QUOTE) not in learned.active
    assert guard(QUOTE, SETTINGS.min_words) == "quote"
    assert guard("“Kita lihat nanti,” ujarnya.", 3) == "quote"


@pytest.mark.parametrize(
    "line",
    [
        "JAKARTA, KOMPAS - Pemerintah kota mengumumkan",
        "LONDON (Reuters) - Shares rose on Monday",
        "Selasa, 1/12/2026 14:05 WIB",
        "Diperbarui 2026-11-30 pukul 09.30",
    ],
)
def test_datelines_and_dated_lines_are_never_learned(line):
    assert guard(line, SETTINGS.min_words) == "dateline"
    learned = learned_after(
        *(observations(range(r * 10, r * 10 + 10), f"2026112{r}T020000Z", extra=(line,)) for r in range(1, 4))
    )
    assert fingerprint(line) not in learned.active
    assert line in cleaned(99, learned, extra=(line,))["text"]


def test_one_word_and_short_lines_are_never_learned():
    for line in ("ADVERTISEMENT", "Bagikan artikel"):
        assert guard(line, SETTINGS.min_words) == "short"
        learned = learned_after(
            *(observations(range(r * 10, r * 10 + 10), f"2026112{r}T020000Z", extra=(line,)) for r in range(1, 4))
        )
        assert fingerprint(line) not in learned.active


def test_a_line_in_too_few_articles_is_not_learned():
    runs = [observations(range(0, 2), "20261125T020000Z"), observations(range(2, 4), "20261126T020000Z")]
    learned = learned_after(*runs)  # 4 articles < 5
    assert fingerprint(PROMO) not in learned.active
    assert PROMO in cleaned(20, learned)["text"]
    assert fingerprint(PROMO) in learned_after(*runs, observations(range(4, 5), "20261127T020000Z")).active


def test_a_line_seen_only_within_one_day_is_not_learned():
    runs = [
        observations(range(0, 10), "20261125T020000Z", days=1),
        observations(range(10, 20), "20261126T020000Z", days=1),
    ]
    assert fingerprint(PROMO) not in learned_after(*runs).active  # 20 articles, 2 runs, all of one day


def test_a_line_seen_in_one_run_only_is_not_learned_by_default():
    one_run = observations(range(0, 10), "20261125T020000Z")  # 10 articles over 3 days, but one run
    assert fingerprint(PROMO) not in learned_after(one_run).active
    assert fingerprint(PROMO) in learned_after(one_run, settings=SETTINGS.model_copy(update={"min_runs": 1})).active


def test_learning_switched_off_removes_nothing():
    runs = [observations(range(0, 10), "20261125T020000Z"), observations(range(10, 20), "20261126T020000Z")]
    assert learned_after(*runs, settings=SETTINGS.model_copy(update={"enabled": False})) is None


def test_the_set_is_bounded_keeping_active_lines_and_forgetting_lines_not_seen_for_long():
    prints = FeedFingerprints("warta")
    for r in range(1, 3):
        prints.merge(observations(range(0, 8), f"2026112{r}T020000Z"), TODAY)
    singles = [
        Observation(URL.format(f"x{i}"), "20261127T020000Z", "2026-11-27", {f"{i:016x}": f"line {i}"})
        for i in range(100)
    ]
    prints.merge(singles, TODAY)
    small = SETTINGS.model_copy(update={"max_lines": 10})
    assert len(prints.lines) > 10
    prints.prune(small, TODAY)
    assert len(prints.lines) == 10
    assert fingerprint(PROMO) in prints.active(small)  # active lines are kept first
    prints.prune(small, TODAY + dt.timedelta(days=SETTINGS.forget_after_days + 1))
    assert prints.lines == {}


def test_concurrent_updates_of_one_feed_merge_instead_of_overwriting(s3_store):
    first, second = FeedFingerprints.load(s3_store, "warta"), FeedFingerprints.load(s3_store, "warta")
    first.update(s3_store, observations(range(0, 3), "20261125T020000Z"), SETTINGS, TODAY)
    second.update(s3_store, observations(range(3, 6), "20261126T020000Z"), SETTINGS, TODAY)  # read before first saved
    stored = FeedFingerprints.load(s3_store, "warta")
    promo = stored.lines[fingerprint(PROMO)]
    assert len(promo.articles) == 6 and promo.runs == ["20261125T020000Z", "20261126T020000Z"]
    assert fingerprint(PROMO) in stored.active(SETTINGS)


def test_an_unreadable_fingerprint_set_is_named(tmp_path):
    store = FileStore(tmp_path)
    store.put_bytes(keys.fingerprints_key("warta"), json.dumps({"schema": "other/9"}).encode())
    with pytest.raises(ValueError, match=r"fingerprints/warta\.json"):
        FeedFingerprints.load(store, "warta")


def test_two_crawls_learn_a_promo_and_remove_it_on_the_second_keeping_the_recurring_quote(
    tmp_path, site_server, s3_storage, s3_store
):
    site = tmp_path / "site"
    first_articles = [article(n, DAY + dt.timedelta(days=n % 3)) for n in range(6)]
    feed_path = write_portal(site, first_articles)
    server = site_server(site)
    storage, credentials = s3_storage
    registry = write_registry(
        tmp_path / "feeds.yaml",
        storage,
        [feed("warta", server.url(feed_path), language="id")],
        learned_boilerplate={"min_runs": 1},  # a first run of a week of articles may teach: shown with 1 run here
    )
    first = run_crawl(registry, credentials, "--run-id", "20261127T020000Z-first")
    assert feed_summary(first, "warta")["counts"]["new"] == 6, first["feeds"]
    stored = json.loads(s3_store.get_bytes(keys.fingerprints_key("warta")))
    assert stored["lines"][fingerprint(PROMO)]["sample"] == PROMO
    assert fingerprint(QUOTE) not in stored["lines"]
    own = first_articles[0].paragraphs[0]  # an article's own sentence: counted, its text never stored
    assert stored["lines"][fingerprint(own)]["sample"] == ""
    first_record = read_clean_record(s3_store, feed_summary_clean_key(s3_store, first, first_articles[0].path))
    assert PROMO in first_record["text"]  # nothing was learned before the first run

    later = article(50, DAY + dt.timedelta(days=4))
    write_portal(site, [*first_articles, later])
    second = run_crawl(registry, credentials, "--run-id", "20261128T020000Z-second")
    assert feed_summary(second, "warta")["counts"]["new"] == 1, second["feeds"]
    record = read_clean_record(s3_store, feed_summary_clean_key(s3_store, second, later.path))
    assert PROMO not in record["text"]
    assert QUOTE in record["text"]
    learned = [r for r in record["removed"] if r["reason"] == "repeated-in-feed"]
    assert learned == [
        {"line": PROMO, "rule": "learned.repeated-line", "family": "learned", "reason": "repeated-in-feed"}
    ]
    after = json.loads(s3_store.get_bytes(keys.fingerprints_key("warta")))
    assert len(after["lines"][fingerprint(PROMO)]["runs"]) == 2  # a removed line keeps being counted


def feed_summary_clean_key(store, summary: dict, path: str) -> str:
    manifest = json.loads(store.get_bytes(feed_summary(summary, "warta")["manifest_key"]))
    return next(u["clean_key"] for u in manifest["urls"] if u["url"].endswith(path) and u.get("clean_key"))


def test_a_run_s_observations_wait_in_its_spool_not_in_memory_and_read_back_whole(tmp_path):
    """A crawl's observed lines go to a file as articles are archived (its memory does not grow with them) and
    are read back whole, as often as a compare-and-swap retry merges them; a full disk only stops learning."""
    from feedvault.cleaning.fingerprints import ObservationLog

    seen = [Observation(URL.format(n), "20261127T020000Z", "2026-11-27", {f"{n:016x}": f"línea {n}"}) for n in range(3)]
    log = ObservationLog(tmp_path / "observations" / "f.jsonl")
    for observation in seen:
        log.append(observation)
    assert log._kept == [] and (tmp_path / "observations" / "f.jsonl").exists()
    assert len(log) == 3 and list(log) == seen and list(log) == seen
    full = ObservationLog(Path("/dev/full"))
    full.append(seen[0])
    full.append(seen[1])
    assert full.lost and list(full) == []
