"""AIPREF Content-Usage and Content-Signal: the syntax edges, the vocabulary's hierarchy and combination, robots.txt
groups and paths, what they raise in the decision table, and the normalised usage field (no network)."""

from __future__ import annotations

import pytest

from feedvault.config import PermissionRecord, Signal
from feedvault.permission.aipref import (
    CATEGORIES,
    combine,
    header_statement,
    parse_content_signal,
    parse_content_usage,
    parse_robots,
)
from feedvault.permission.decisions import decide
from feedvault.permission.usage import compact, training_reserved_by, usage_field, usage_findings, usage_of


def prefs(value: str) -> dict[str, str]:
    return dict(parse_content_usage(value, "header").prefs)


# -- Content-Usage: the Structured Field Dictionary ----------------------------------------------------
@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("train-ai=n", {"train-ai": "n"}),
        ("train-ai=y, train-genai=n", {"train-ai": "y", "train-genai": "n"}),
        ("all=n, search=y", {"automated-processing": "n", "search": "y"}),
        ("bots=n", {"automated-processing": "n"}),  # the later drafts' label for automated processing
        ('train-ai=n;why="licence"', {"train-ai": "n"}),  # parameters are ignored
        ("train-ai=y, train-ai=n", {"train-ai": "n"}),  # a repeated key: the last value counts
        ("  train-ai=n  ", {"train-ai": "n"}),
        ("", {}),
    ],
)
def test_content_usage_values(value, expected):
    assert prefs(value) == expected


@pytest.mark.parametrize(
    ("value", "ignored"),
    [
        ('train-ai="n"', ['train-ai="n": not the token y or n']),  # a string, not a token
        ("train-ai", ["train-ai=?1: not the token y or n"]),  # a bare key is the boolean true
        ("train-ai=maybe", ["train-ai=maybe: not the token y or n"]),
        ("train-ai=(n)", ["train-ai=(n): not the token y or n"]),  # an inner list
        ("ai-input=n, train-ai=n", ["ai-input: unknown category"]),
    ],
)
def test_content_usage_values_that_express_nothing_are_recorded_and_ignored(value, ignored):
    statement = parse_content_usage(value, "header")
    assert list(statement.ignored) == ignored
    assert statement.prefs == ({"train-ai": "n"} if value.startswith("ai-input") else {})


@pytest.mark.parametrize("value", ["Train-AI=n", "train-ai=n,", "train-ai=n;", "train_ai=n x", "train-ai=n, é=y"])
def test_an_unparseable_content_usage_expresses_nothing_at_all(value):
    statement = parse_content_usage(value, "header")
    assert statement.prefs == {}
    assert statement.ignored and statement.ignored[0].startswith("not a Structured Field Dictionary")


def test_several_header_lines_are_one_dictionary():
    statement = header_statement(["train-ai=y", "train-ai=n, search=y"])
    assert statement is not None and dict(statement.prefs) == {"train-ai": "n", "search": "y"}
    assert header_statement([]) is None


# -- Content-Signal -----------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("value", "expected", "ignored"),
    [
        ("search=yes, ai-input=no, ai-train=no", {"search": "y", "ai-input": "n", "train-ai": "n"}, []),
        ("ai-train=no", {"train-ai": "n"}, []),  # a missing signal grants nothing and denies nothing
        ("Search=Yes , AI-Train = NO", {"search": "y", "train-ai": "n"}, []),
        ("ai-train=n", {}, ["ai-train=n: not yes or no"]),
        ("ai-train", {}, ["ai-train: not key=value"]),
        ("ai-summaries=no, search=yes", {"search": "y"}, ["ai-summaries: unknown signal"]),
        ("", {}, []),
    ],
)
def test_content_signal_values(value, expected, ignored):
    statement = parse_content_signal(value, "robots")
    assert dict(statement.prefs) == expected
    assert list(statement.ignored) == ignored


# -- the vocabulary: hierarchy and combination ------------------------------------------------------------
def test_a_category_without_a_preference_takes_its_parents():
    statement = parse_content_usage("all=n, search=y", "header")
    assert {c: statement.resolve(c) for c in CATEGORIES} == {
        "automated-processing": "n",
        "train-ai": "n",
        "train-genai": "n",
        "search": "y",
        "ai-input": "n",
    }


def test_a_more_specific_preference_overrides_the_broader_one():
    statement = parse_content_usage("train-ai=n, train-genai=y", "header")
    assert statement.resolve("train-genai") == "y"
    assert statement.resolve("train-ai") == "n"
    assert statement.resolve("search") is None  # not under AI training: unknown


@pytest.mark.parametrize(
    ("robots", "header", "train_ai"),
    [
        ("train-ai=n", "train-ai=y", "n"),  # neither layer overrides the other: the most restrictive wins
        ("train-ai=y", "train-ai=n", "n"),
        ("train-ai=y", "train-ai=y", "y"),
        ("train-ai=y", "", "y"),
        ("", "", None),
        ("all=n", "train-ai=y", "n"),  # all=n in one statement is train-ai=n there
    ],
)
def test_robots_and_header_combine_most_restrictively(robots, header, train_ai):
    statements = [parse_content_usage(robots, "robots"), parse_content_usage(header, "header")]
    assert combine(statements)["train-ai"] == train_ai


# -- robots.txt groups and paths --------------------------------------------------------------------------
ROBOTS = """\
Content-Usage: train-ai=y
User-Agent: *
Allow: /
Content-Usage: train-ai=n   # every other crawler

User-Agent: otherbot
User-Agent: FeedVault
Allow: /
Disallow: /private/
Sitemap: https://publisher.test/sitemap.xml
Content-Usage: search=y
Content-Usage: /ai-ok/ train-ai=y
Content-Usage: /ai-ok/ train-ai=n, train-genai=y
Content-Usage: /ai-ok/deep/ train-ai=y
content-signal : search=yes, ai-train=no
Content-Signal: /open/ ai-train=yes
Content-Usage: /only-a-path/
Crawl-delay: 1

User-agent: feedvault
Content-Usage: /merged/ all=n
"""


def test_our_groups_are_selected_and_merged_and_lines_outside_groups_ignored():
    usage = parse_robots(ROBOTS, "feedvault")
    assert usage.group == "feedvault"
    assert [r.statement.line for r in usage.rules] == [11, 12, 13, 14, 15, 16, 21]
    assert usage.ignored == (
        "line 1: content-usage outside any user-agent group",
        "line 17: content-usage '/only-a-path/' has a path but no preferences",
    )


def test_without_a_group_for_our_token_the_star_group_applies():
    usage = parse_robots(ROBOTS, "anotherbot")
    assert usage.group == "*"
    assert [dict(s.prefs) for s in usage.statements_for("https://p.test/x")] == [{"train-ai": "n"}]
    assert parse_robots("User-agent: otherbot\nContent-Usage: train-ai=n\n", "feedvault").group is None


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/news/a.html", {"automated-processing": None, "train-ai": "n", "search": "y"}),
        ("/ai-ok/a.html", {"automated-processing": None, "train-ai": "n", "search": "y"}),  # same path: combined
        ("/ai-ok/deep/a.html", {"automated-processing": None, "train-ai": "n", "search": "y"}),  # signal says no
        ("/open/a.html", {"automated-processing": None, "train-ai": "y", "search": "y"}),  # longest path per form
        # from the later group; its all=n disallows search too, and a disallow beats the signal's search=yes
        ("/merged/a.html", {"automated-processing": "n", "train-ai": "n", "search": "n"}),
    ],
)
def test_rules_match_paths_like_allow_and_disallow(path, expected):
    usage = parse_robots(ROBOTS, "feedvault")
    effective = combine(usage.statements_for(f"https://p.test{path}"))
    assert {k: effective[k] for k in expected} == expected


def test_the_longest_content_usage_path_wins_within_its_form():
    usage = parse_robots(ROBOTS, "feedvault")
    (content_usage, _signal) = usage.statements_for("https://p.test/ai-ok/deep/x")
    assert content_usage.path == "/ai-ok/deep/" and dict(content_usage.prefs) == {"train-ai": "y"}


def test_evidence_lists_the_groups_rules_as_written():
    evidence = parse_robots(ROBOTS, "feedvault").to_evidence()
    assert evidence["rules"][1] == {
        "form": "content-usage",
        "source": "robots",
        "value": "train-ai=y",
        "path": "/ai-ok/",
        "line": 12,
        "prefs": {"train-ai": "y"},
    }
    assert evidence == parse_robots(ROBOTS, "feedvault").to_evidence()  # stable: two runs compare equal


# -- what the statements raise in the decision table ------------------------------------------------------
def signals_of(*values: str) -> list[str]:
    return [str(f.signal) for f in usage_findings([parse_content_usage(v, "header") for v in values])]


@pytest.mark.parametrize(
    ("values", "signals"),
    [
        (["train-ai=n"], ["no-ai-training"]),
        (["train-genai=n"], ["no-ai-training"]),
        (["all=n"], ["no-automated-processing", "no-ai-training"]),
        (["all=n, search=y"], ["no-automated-processing", "no-ai-training", "search-only"]),
        (["train-ai=n, search=y"], ["no-ai-training"]),  # AI input is not denied: not search-only
        (["search=y", "train-ai=y"], []),
        (["all=y"], []),
        ([], []),
    ],
)
def test_statements_raise_the_usage_signals(values, signals):
    assert signals_of(*values) == signals


def test_content_signal_search_only_is_search_only():
    statement = parse_content_signal("search=yes, ai-input=no, ai-train=no", "robots", line=3)
    findings = usage_findings([statement])
    assert [str(f.signal) for f in findings] == ["no-ai-training", "search-only"]
    assert findings[1].where == "robots.txt line 3 (Content-Signal)"


def written(*overrides: str) -> PermissionRecord:
    return PermissionRecord.model_validate(
        {
            "basis": "written-permission",
            "reference": "letter 7",
            "granted_by": "Publisher",
            "granted_on": "2026-01-01",
            "overrides": list(overrides),
        }
    )


def test_a_written_permission_overrides_usage_signals_only_when_it_names_them():
    findings = usage_findings([parse_content_usage("all=n, search=y", "header")])
    assert decide(written(), findings).reason == "no-automated-processing"
    named = decide(written("no-automated-processing"), findings)
    assert (named.decision, sorted(named.stored)) == ("clean-only", ["clean"])  # search-only still applies
    assert named.reason == "search-only"
    both = decide(written("no-automated-processing", "search-only"), findings)
    assert sorted(both.stored) == ["clean", "raw"]
    assert {f["signal"] for f in both.findings if f["overridden"]} == {"no-automated-processing", "search-only"}


# -- the usage field ----------------------------------------------------------------------------------------
def test_usage_field_combines_every_source_into_one_normalised_field():
    statements = [parse_content_signal("search=yes, ai-train=no", "robots", line=4), header_statement(["x=1"])]
    signals = [
        {"signal": "noai", "source": "meta", "value": "noai"},
        {"signal": "noarchive", "source": "meta", "value": "noarchive"},  # not a usage preference
    ]
    tdm = {"reservation": 1, "source": "header"}
    usage = usage_field([s for s in statements if s], signals, tdm)
    assert compact(usage) == {
        "train-ai": "n",
        "train-genai": "n",
        "search": "y",  # a TDM reservation is not read as disallowing search
        "ai-input": "n",
        "tdm": "reserved",
    }
    assert [(s["signal"], s["source"]) for s in usage["source"]] == [
        ("content-signal", "robots"),
        ("content-usage", "header"),
        ("noai", "meta"),
        ("tdmrep", "header"),
    ]
    assert usage["ignored"] == [
        {"signal": "content-usage", "source": "header", "value": "x=1", "why": "x: unknown category"}
    ]
    assert training_reserved_by(usage) == ["content-signal", "noai", "tdmrep"]


def test_nothing_stated_is_unknown_everywhere_and_reserves_nothing():
    usage = usage_field([], [], {"reservation": 0, "source": "header"})
    assert compact(usage) == {"tdm": "not-reserved"}
    assert training_reserved_by(usage) == []


def test_records_from_before_the_field_get_it_from_their_permission_evidence():
    record = {"permission": {"signals": [{"signal": "rights-notice", "source": "notice", "value": "No AI"}]}}
    assert compact(usage_of(record)) == {"train-ai": "n", "train-genai": "n", "ai-input": "n"}
    stored = {"usage": {"train-ai": "y"}}
    assert usage_of(stored) is stored["usage"]


def test_every_usage_signal_is_in_the_signal_enum():
    assert {"no-ai-training", "no-automated-processing", "search-only"} <= {str(s) for s in Signal}


def test_a_disallowed_url_has_no_usage_preferences():
    from protego import Protego

    from spiders.middlewares import RobotsVerdict

    text = "User-agent: feedvault\nDisallow: /private/\nContent-Usage: train-ai=n\n"
    verdict = RobotsVerdict("rules", {}, Protego.parse(text), None, parse_robots(text, "feedvault"))
    assert [dict(s.prefs) for s in verdict.usage_statements("https://p.test/news/a")] == [{"train-ai": "n"}]
    assert verdict.usage_statements("https://p.test/private/a") == []  # fetched only under an override
