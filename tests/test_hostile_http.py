"""Servers that misbehave at the HTTP level: every entry ends with an outcome whose reason says what happened.

One real Scrapy crawl of ``tests/fixtures/sites/hostile-http`` (a trickling body, a hung response, an endless
chunked body, one 1 MiB header, 20,000 headers of 500 bytes, redirects to ``file:``, ``gopher:`` and a private
address) into real SeaweedFS. The registry sets 1 MiB responses, no retries and, for the slow cases only, a 1 s
timeout, so it stays fast.
"""

from __future__ import annotations

import json

import pytest

from tests.support.checks import stored_clean_records
from tests.support.crawl import feed, run_crawl, write_registry
from tests.support.s3 import fresh_archive
from tests.support.sites import FIXTURE_SITES

CASES = ("trickle", "hung", "endless", "huge-header", "many-headers", "to-file", "to-gopher", "to-private")


@pytest.fixture(scope="module")
def crawled(tmp_path_factory, seaweed):
    """One run of two feeds of the site: the slow cases under a 1 s timeout, the others under the default."""
    from feedvault.demo.server import SiteServer

    storage, store = fresh_archive(seaweed)
    with SiteServer(FIXTURE_SITES / "hostile-http") as site:
        politeness = {"max_response_bytes": 1024 * 1024, "retry_times": 0}
        feeds = [
            feed("hostile-http", site.url("/feed.xml"), politeness=politeness),
            feed("hostile-slow", site.url("/slow.xml"), politeness={**politeness, "timeout_seconds": 1}),
        ]
        registry = write_registry(tmp_path_factory.mktemp("hostile-http") / "feeds.yaml", storage, feeds)
        summary = run_crawl(registry, seaweed.credentials, "--run-id", "20261126T040000Z-hostile")
        outcomes = {}
        for feed_summary in summary["feeds"]:
            manifest = json.loads(store.get_bytes(feed_summary["manifest_key"]))
            outcomes.update({u["url"].removeprefix(site.base_url): u for u in manifest["urls"]})
        yield outcomes, store, site


def outcome(outcomes, case):
    return outcomes[f"/articles/{case}.html"]


def test_every_entry_of_a_hostile_server_has_an_outcome_under_its_feed_url(crawled):
    outcomes, store, _site = crawled
    assert set(outcomes) == {f"/articles/{case}.html" for case in (*CASES, "fine")}
    assert outcome(outcomes, "fine")["outcome"] == "new"  # the well-behaved article is archived all the same
    (clean,) = stored_clean_records(store, "clean/hostile-http/").values()
    assert clean["url"].endswith("/articles/fine.html")


@pytest.mark.parametrize("case", ["trickle", "hung"])
def test_slow_or_hung_responses_fail_as_timeout(crawled, case):
    got = outcome(crawled[0], case)
    assert (got["outcome"], got["reason"]) == ("failed", "timeout"), got


def test_an_endless_chunked_body_fails_as_too_large(crawled):
    got = outcome(crawled[0], "endless")
    assert (got["outcome"], got["reason"]) == ("failed", "too-large"), got


@pytest.mark.parametrize("case", ["huge-header", "many-headers"])
def test_oversized_header_sections_fail_as_header_too_large(crawled, case):
    """One 1 MiB header and 20,000 headers of 500 bytes alike exceed max_header_bytes (256 KiB by default)."""
    got = outcome(crawled[0], case)
    assert (got["outcome"], got["reason"]) == ("failed", "header-too-large"), got


@pytest.mark.parametrize(("case", "scheme"), [("to-file", "file"), ("to-gopher", "gopher")])
def test_redirects_to_other_schemes_are_refused_as_unsupported_scheme(crawled, case, scheme):
    got = outcome(crawled[0], case)
    assert (got["outcome"], got["reason"]) == ("refused", "unsupported-scheme"), got
    assert got["evidence"]["location"].startswith(f"{scheme}://") and got["evidence"]["status"] == 302


def test_a_refusal_after_a_redirect_is_the_entrys_outcome_and_names_the_target(crawled):
    got = outcome(crawled[0], "to-private")
    assert (got["outcome"], got["reason"]) == ("refused", "private-address"), got
    assert got["redirected_to"] == "http://127.0.0.2:9/articles/fine.html"


def test_the_archive_is_consistent_after_a_hostile_server(crawled):
    from tests.support.checks import assert_archive_consistent

    _outcomes, store, _site = crawled
    assert_archive_consistent(store)
