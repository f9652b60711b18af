"""Feed health: a publisher that changes between runs shows up as the right state, alert and metric.

Real crawls (the runner in a subprocess) of a synthetic publisher into SeaweedFS; health is read back from the
archive; alerts go to a real HTTP listener and metrics through Airflow's StatsD client to a real UDP listener,
all on 127.0.0.1. The pure health rules (quiet feeds, expiry, transitions) are tested without crawling.
"""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from feedvault.airflow.alerts import notify_health_changes
from feedvault.catalog import open_catalog
from feedvault.config import HealthSettings
from feedvault.demo.server import SiteServer
from feedvault.keys import RunId
from feedvault.monitoring import health
from feedvault.monitoring.health import Level
from feedvault.monitoring.metrics import emit, run_metrics
from feedvault.store.backends import S3Store
from feedvault.web.app import create_app
from tests.support.crawl import REPO, crawl_env, feed, run_crawl, write_registry
from tests.support.listeners import airflow_statsd_env, reset_airflow_stats, statsd_listener, webhook_listener
from tests.support.publisher import ChangingPublisher
from tests.support.s3 import fresh_archive

FEED = "gazette"
HEALTH = {"min_baseline_runs": 2}  # two quiet nights make a baseline here (default 3)
PUBLIC_TERMS = {
    "basis": "public-feed-terms",
    "reference": "https://publisher.test/terms",
    "granted_by": "feedvault tests",
    "granted_on": "2026-01-01",
}


def nights(n: int) -> list[RunId]:
    """Run ids for the last ``n`` nights, oldest first (health reads time from the run ids)."""
    today = dt.datetime.now(dt.UTC).replace(hour=2, minute=0, second=0, microsecond=0)
    return [RunId.new(at=today - dt.timedelta(days=n - 1 - i), label="health") for i in range(n)]


@dataclass
class Publisher:
    site: ChangingPublisher
    server: SiteServer
    store: S3Store
    registry: Path
    credentials: Any
    runs: list[RunId]

    def night(self, i: int, publish: int = 4, expect_exit: int = 0) -> dict[str, Any]:
        if publish:
            self.site.publish(publish, self.runs[i].started)
        return run_crawl(self.registry, self.credentials, "--run-id", self.runs[i].value, expect_exit=expect_exit)

    def clean_keys(self) -> set[str]:
        return {o.key for o in self.store.list(f"clean/{FEED}/")}

    def report(self) -> dict[str, Any]:
        [report] = health.report(self.store, HealthSettings(**HEALTH), feed_ids=[FEED])
        return report


@pytest.fixture
def publisher(tmp_path: Path, seaweed: Any, request: pytest.FixtureRequest) -> Any:
    """Two normal nights of a fresh publisher (4 articles each), archived; the test then changes it."""
    site = ChangingPublisher(tmp_path / "site")
    server = SiteServer(site.root).start()
    _storage, store = fresh_archive(seaweed)
    permission = getattr(request, "param", None)
    overrides = {"permission": permission} if permission else {}
    registry = write_registry(
        tmp_path / "feeds.yaml", _storage, [feed(FEED, f"{server.base_url}/feed.xml", **overrides)], health=HEALTH
    )
    pub = Publisher(site, server, store, registry, seaweed.credentials, nights(4))
    try:
        for i in (0, 1):
            summary = pub.night(i)
            assert summary["feeds"][0]["counts"]["new"] == 4, summary["feeds"]
            assert summary["health_changes"] == [], "a quiet night changes no feed's health"
        assert pub.report()["state"] == "ok", pub.report()
        yield pub
    finally:
        server.stop()


def watch(summary: dict[str, Any], report: dict[str, Any]) -> tuple[list[dict[str, Any]], dict[str, list[str]]]:
    """What an operator receives for a run: the webhook alerts and the StatsD metrics (real listeners)."""
    with webhook_listener() as (url, received), statsd_listener() as statsd, pytest.MonkeyPatch.context() as env:
        env.setenv("FEEDVAULT_ALERT_WEBHOOK", url)
        for name, value in airflow_statsd_env(statsd.port).items():
            env.setenv(name, value)
        reset_airflow_stats()
        notify_health_changes(summary["health_changes"], dag_run_id="test")
        sent = emit(run_metrics(summary, [report]))
        metrics = statsd.metrics(wait_for=f"airflow.feedvault.feed.{FEED}.failure_streak")
    assert sent > 0
    return received, metrics


def the_alert(received: list[dict[str, Any]]) -> dict[str, Any]:
    [alert] = received
    assert alert["event"] == "feedvault.health_changed" and alert["feed"] == FEED
    return alert


def checks(report: dict[str, Any]) -> set[str]:
    return {p["check"] for p in report["problems"]}


# -- a publisher that changes ------------------------------------------------------------------------------------
def test_redesigned_article_pages_warn_about_cleaning_yield_on_the_first_night(publisher: Publisher):
    before = publisher.clean_keys()
    publisher.site.redesign()
    summary = publisher.night(2)
    assert summary["feeds"][0]["counts"]["new"] == 4  # still archived: only the clean text is poor
    report = publisher.report()
    assert report["state"] == "warning" and "cleaning-yield" in checks(report), report
    received, metrics = watch(summary, report)
    alert = the_alert(received)
    assert (alert["from"], alert["to"]) == ("ok", "warning")
    assert any("characters of text" in m for m in alert["what_changed"])
    assert any("cleaning rules" in a for a in alert["what_to_do"])
    assert metrics[f"airflow.feedvault.feed.{FEED}.clean.short_share"] == ["1.0|g"]
    assert metrics[f"airflow.feedvault.feed.{FEED}.health"] == ["1|g"]
    assert before < publisher.clean_keys()  # nothing archived is lost


def test_a_feed_that_stops_publishing_warns_about_articles_per_run(publisher: Publisher):
    before = publisher.clean_keys()
    summary = publisher.night(2, publish=0)
    report = publisher.report()
    assert report["state"] == "warning" and "articles-per-run" in checks(report), report
    assert report["articles_last_run"] == 0 and report["articles_median"] == 4
    received, metrics = watch(summary, report)
    alert = the_alert(received)
    assert alert["to"] == "warning" and "usually 4 per run" in alert["what_changed"][0]
    assert metrics[f"airflow.feedvault.feed.{FEED}.new"] == ["0|c"]
    assert metrics[f"airflow.feedvault.feed.{FEED}.unchanged"] == ["8|c"]
    assert publisher.clean_keys() == before


@pytest.mark.parametrize("publisher", [PUBLIC_TERMS], indirect=True)
def test_a_new_tdmrep_reservation_is_a_permission_change(publisher: Publisher):
    before = publisher.clean_keys()
    publisher.site.reserve_tdm()
    summary = publisher.night(2)
    assert summary["feeds"][0]["counts"]["refused"] == 4, summary["feeds"]
    report = publisher.report()
    assert report["state"] == "warning" and "permission-change" in checks(report), report
    assert "articles-per-run" in checks(report)  # every new page refused: none archived
    received, metrics = watch(summary, report)
    alert = the_alert(received)
    assert any("new publisher signal: tdmrep" in m and "tdmrep.json" in m for m in alert["what_changed"])
    assert any("permission record" in a for a in alert["what_to_do"])
    assert metrics[f"airflow.feedvault.feed.{FEED}.refused"] == ["4|c"]
    assert publisher.clean_keys() == before


def test_a_publisher_answering_500_makes_the_feed_failing_and_its_return_makes_it_ok(publisher: Publisher):
    before = publisher.clean_keys()
    publisher.site.answer_500(publisher.server)
    summary = publisher.night(2, publish=0, expect_exit=1)
    report = publisher.report()
    assert report["state"] == "failing" and report["failure_streak"] == 1, report
    assert checks(report) == {"failure-streak"}  # robots.txt answering 500 is the outage, not a new rule
    assert health.summary_lines([report])[0].startswith(f"health: {FEED} failing: failed 1 run(s) in a row")
    received, metrics = watch(summary, report)
    alert = the_alert(received)
    assert (alert["from"], alert["to"]) == ("ok", "failing")
    assert any("feedvault runs --show" in a for a in alert["what_to_do"])
    assert metrics[f"airflow.feedvault.feed.{FEED}.health"] == ["2|g"]
    assert metrics[f"airflow.feedvault.feed.{FEED}.failure_streak"] == ["1|g"]
    assert publisher.clean_keys() == before  # the failed run removed nothing

    publisher.site.recover(publisher.server)
    back = publisher.night(3)
    assert publisher.report()["state"] == "ok", publisher.report()
    received, _metrics = watch(back, publisher.report())
    alert = the_alert(received)
    assert (alert["from"], alert["to"]) == ("failing", "ok") and alert["resolved"]
    assert before < publisher.clean_keys()


def feedvault_cli(pub: Publisher, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "feedvault.cli", "--registry", str(pub.registry), *args],
        env=crawl_env(pub.credentials),
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_health_shows_in_the_cli_with_its_exit_code_and_on_the_web_page_and_api(publisher: Publisher, tmp_path: Path):
    quiet = feedvault_cli(publisher, "health")
    assert quiet.returncode == 0 and "ok" in quiet.stdout, quiet.stderr
    publisher.site.answer_500(publisher.server)
    publisher.night(2, publish=0, expect_exit=1)
    as_json = feedvault_cli(publisher, "health", "--feed", FEED, "--json")
    assert as_json.returncode == 7, as_json.stderr
    [report] = json.loads(as_json.stdout)["feeds"]
    assert report["state"] == "failing" and report["last_success"]
    table = feedvault_cli(publisher, "health", "--rebuild")  # the same verdict, recomputed from the manifests
    assert table.returncode == 7 and "what to do: read `feedvault runs --show" in table.stdout, table.stdout

    with open_catalog(publisher.store, tmp_path / "catalog") as catalog:
        client = TestClient(create_app(publisher.store, catalog))
        page = client.get("/health")
        api = client.get("/api/v1/health", params={"feed": FEED})
        unknown = client.get("/api/v1/health", params={"feed": "nope"})
    assert page.status_code == 200 and "Feed health" in page.text and "1 failing" in page.text
    assert "What to do: read <code>" not in page.text and "feedvault runs --show" in page.text
    assert api.status_code == 200 and api.json()["state"] == "failing"
    assert api.json()["feeds"][0]["problems"][0]["check"] == "failure-streak"
    assert unknown.status_code == 404


# -- the rules, without crawling ----------------------------------------------------------------------------------
SETTINGS = HealthSettings(min_baseline_runs=3)
T0 = dt.datetime(2026, 11, 1, 2, tzinfo=dt.UTC)


def summary(status: str = "ok", new: int = 5, **figures: Any) -> dict[str, Any]:
    counts = {"new": new, "changed": 0, "unchanged": 10, "refused": 0, "failed": 0, "skipped": 0}
    return {"feed": FEED, "status": status, "error": "boom" if status == "failed" else None, "counts": counts}


def run_manifest(day: int, *feeds: dict[str, Any]) -> dict[str, Any]:
    return {"run_id": RunId.new(at=T0 + dt.timedelta(days=day), label="t").value, "feeds": list(feeds)}


def test_state_changes_are_reported_once_each_way_and_quiet_nights_report_nothing():
    book = health.HealthBook()
    seen = [book.apply(run_manifest(d, summary()), SETTINGS) for d in range(3)]
    assert seen == [[], [], []]
    [down] = book.apply(run_manifest(3, summary("failed", new=0)), SETTINGS)
    assert (down.before, down.after) == (Level.OK, Level.FAILING)
    assert book.apply(run_manifest(4, summary("failed", new=0)), SETTINGS) == []  # still failing: no new alert
    assert book.feeds[FEED]["failure_streak"] == 2
    [up] = book.apply(run_manifest(5, summary()), SETTINGS)
    assert (up.before, up.after) == (Level.FAILING, Level.OK) and up.resolved


def test_a_retried_run_replaces_itself_instead_of_counting_twice():
    book = health.HealthBook()
    for d in range(3):
        book.apply(run_manifest(d, summary()), SETTINGS)
    failed = run_manifest(3, summary("failed", new=0))
    book.apply(failed, SETTINGS)
    assert book.apply(failed, SETTINGS)[0].after == Level.FAILING  # the retry compares with the state before it
    assert book.feeds[FEED]["failure_streak"] == 1
    assert [r["run_id"] for r in book.feeds[FEED]["runs"]].count(failed["run_id"]) == 1


def test_a_feed_quiet_for_longer_than_its_rhythm_warns_and_expiry_warns_within_the_window():
    book = health.HealthBook()
    for d in range(0, 8, 2):  # a new article every second day
        book.apply(run_manifest(d, summary()), SETTINGS)
    entry = book.feeds[FEED]
    assert health.assess(entry, T0 + dt.timedelta(days=8), SETTINGS) == []
    quiet = health.assess(entry, T0 + dt.timedelta(days=14), SETTINGS)
    assert [p.check for p in quiet] == ["no-new-articles"] and "usually one every 2.0 days" in quiet[0].message
    expiring = health.assess(entry, T0 + dt.timedelta(days=7), SETTINGS, expires_on="2026-11-20")
    assert [(p.check, p.level) for p in expiring] == [("permission-expiry", Level.WARNING)]
    expired = health.assess(entry, T0 + dt.timedelta(days=7), SETTINGS, expires_on="2026-11-05")
    assert [(p.check, p.level) for p in expired] == [("permission-expiry", Level.FAILING)]


def test_permission_facts_are_generic_over_the_evidence():
    evidence = {
        "basis": "licence",
        "decision": "archive",
        "signals": [
            {"signal": "noai", "source": "header", "where": "X-Robots-Tag header", "row": "licence"},
            {"signal": "copyright-notice", "source": "notice", "where": "page text", "value": "© 2026 Gazette"},
            {
                "signal": "no-ai-training",
                "source": "robots",
                "where": "robots.txt Content-Usage",
                "value": "train-ai=n",
            },
        ],
        "robots": {"robots_url": "http://x/robots.txt", "verdict": "rules", "fetched_at": "2026-11-01T00:00:00"},
        "tdmrep": {"reservation": None, "source": None, "layers": {}},
        "content_usage": {"value": "train-ai=n", "source": "header"},  # a signal this module has never heard of
    }
    facts = [json.loads(f) for f in health.evidence_facts(evidence)]
    assert {"signal": "noai", "source": "header", "where": "X-Robots-Tag header"} in facts
    assert {"evidence": "content_usage", "value": "train-ai=n", "source": "header"} in facts
    assert {"evidence": "robots", "robots_url": "http://x/robots.txt", "verdict": "rules"} in facts
    assert not any(f.get("evidence") == "tdmrep" for f in facts)  # unset protocol: nothing to compare
    assert all("fetched_at" not in f and "row" not in f for f in facts)
    assert not any(f.get("signal") == "copyright-notice" for f in facts)  # page text: next year's is no change
    assert any(f.get("signal") == "no-ai-training" for f in facts)  # a usage statement is compared


def test_the_web_app_judges_with_the_registrys_health_settings(tmp_path: Path):
    from feedvault.store.backends import FileStore

    store = FileStore(tmp_path / "archive")
    now = dt.datetime.now(dt.UTC)
    expiring = (now + dt.timedelta(days=100)).date().isoformat()
    figures = {"permission_expires_on": expiring}
    manifest = {"run_id": RunId.new(at=now, label="t").value, "feeds": [{**summary(), "health_figures": figures}]}
    health.record_run(store, HealthSettings(), manifest)
    with open_catalog(store, tmp_path / "catalog") as catalog:
        app = create_app(store, catalog)
        client = TestClient(app)
        assert client.get("/api/v1/health").json()["state"] == "ok"  # defaults: warn 30 days ahead
        app.state.service.health_settings = HealthSettings(expiry_warning_days=120)  # what browse sets
        assert client.get("/api/v1/health").json()["state"] == "warning"


def test_an_interrupted_run_warns_and_the_next_complete_one_clears_it():
    book = health.HealthBook()
    book.apply(run_manifest(0, summary()), SETTINGS)
    [stopped] = book.apply(run_manifest(1, summary("interrupted", new=1)), SETTINGS)
    assert stopped.after == Level.WARNING and stopped.problems[0].check == "interrupted"
    [back] = book.apply(run_manifest(2, summary()), SETTINGS)
    assert back.after == Level.OK


def test_the_entries_a_feed_listed_are_its_biggest_recent_run_so_a_failed_night_does_not_shrink_its_shards():
    book = health.HealthBook()
    book.apply(run_manifest(0, summary(new=30)), SETTINGS)  # 30 new + 10 unchanged listed
    book.apply(run_manifest(1, summary(new=5)), SETTINGS)
    assert book.listed_entries() == {FEED: 40}
    book.apply(run_manifest(2, summary("failed", new=0)), SETTINGS)
    assert book.listed_entries() == {FEED: 40}
    old_record = {k: v for k, v in book.feeds[FEED]["runs"][0].items() if k != "entries"}  # kept before entries
    book.feeds[FEED]["runs"] = [old_record]
    assert book.listed_entries() == {FEED: 40}
