"""The permission decision table, cell by cell, and the signal parsers behind it (no network)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
import yaml

from feedvault.config import PermissionRecord, Signal
from feedvault.permission import tdmrep
from feedvault.permission.decisions import (
    DECISION_TABLE,
    OVERRIDE_ROW,
    ROWS,
    Decision,
    Finding,
    decide,
    decision_table_markdown,
    feed_permission,
    table_row,
)
from feedvault.permission.signals import page_findings, robots_directives

DOCS = Path(__file__).resolve().parents[1] / "docs" / "PERMISSIONS.md"
A, C, R = "archive", "clean-only", "refuse"
#: The table as specified (docs/PERMISSIONS.md), written out independently of the code: one entry per cell.
#: Columns: own-content, licence, public-feed-terms, written-permission, written-permission+override.
SPECIFIED = {
    "robots-txt": (R, R, R, R, A),
    "tdmrep": (A, R, R, R, A),
    "noarchive": (A, C, R, C, A),
    "noai": (A, R, R, R, A),
    "noimageai": (A, A, A, A, A),
    "noindex": (A, A, A, A, A),
    "rights-notice": (A, R, R, R, A),
    "copyright-notice": (A, A, A, A, A),
    "no-ai-training": (A, A, A, A, A),
    "no-automated-processing": (A, R, R, R, A),
    "search-only": (A, C, R, C, A),
    "unscannable": (R, R, R, R, A),
}
SPEC_ROWS = ("own-content", "licence", "public-feed-terms", "written-permission", OVERRIDE_ROW)
CELLS = [(signal, row) for signal, cells in DECISION_TABLE.items() for row in cells]


def record_for(row: str, signal: Signal | None = None, **extra) -> PermissionRecord:
    basis = "written-permission" if row == OVERRIDE_ROW else row
    data = {"basis": basis, "reference": "letter 7", "granted_by": "Publisher", "granted_on": "2026-01-01", **extra}
    if basis == "licence":
        data["licence"] = "CC-BY-4.0"
    if row == OVERRIDE_ROW:
        data["overrides"] = [str(signal)]
    return PermissionRecord.model_validate(data)


def test_the_table_has_every_signal_and_row_and_nothing_else():
    assert set(DECISION_TABLE) == set(Signal)
    assert all(tuple(cells) == ROWS for cells in DECISION_TABLE.values())
    assert set(ROWS) == set(SPEC_ROWS)
    assert {(s, r) for s, r in CELLS} == {(Signal(s), r) for s in SPECIFIED for r in SPEC_ROWS}


@pytest.mark.parametrize(("signal", "row"), CELLS, ids=[f"{s}-{r}" for s, r in CELLS])
def test_cell(signal, row):
    """Every cell of the table: its value is the specified one, and deciding a page with that signal gives it."""
    expected = SPECIFIED[str(signal)][SPEC_ROWS.index(row)]
    assert DECISION_TABLE[signal][row] == expected
    record = record_for(row, signal)
    assert table_row(record, signal) == row
    verdict = decide(record, [Finding(signal, "meta", '<meta name="robots">', "test")])
    assert verdict.to_dict()["decision"] == expected
    assert sorted(verdict.stored) == {A: ["clean", "raw"], C: ["clean"], R: []}[expected]
    (judged,) = verdict.findings
    assert judged["row"] == row and judged["decision"] == expected and judged["overridden"] == (row == OVERRIDE_ROW)
    if expected != A:
        assert verdict.reason == str(signal) and str(signal) in verdict.detail


def test_docs_show_the_table_from_the_code():
    assert decision_table_markdown() in DOCS.read_text(encoding="utf-8")


def test_override_needs_the_signal_named_and_a_reference():
    other = record_for(OVERRIDE_ROW, Signal.NOARCHIVE)
    assert table_row(other, Signal.ROBOTS_TXT) == "written-permission"  # overrides noarchive, not robots.txt
    blank = record_for(OVERRIDE_ROW, Signal.ROBOTS_TXT, reference=" ")
    assert table_row(blank, Signal.ROBOTS_TXT) == "written-permission"
    assert decide(blank, [Finding(Signal.ROBOTS_TXT, "robots", "robots.txt")]).refused


def test_strictest_signal_wins_within_the_scope():
    licence = record_for("licence")
    noarchive = Finding(Signal.NOARCHIVE, "header", "X-Robots-Tag header", "noarchive")
    noai = Finding(Signal.NOAI, "meta", '<meta name="robots">', "noai")
    verdict = decide(licence, [noarchive, noai])
    assert verdict.refused and verdict.reason == "noai" and len(verdict.findings) == 2
    assert decide(licence, [noarchive]).stored == {"clean"}
    raw_only = record_for("licence", scope=["raw"])
    assert decide(raw_only, [noarchive]).refused  # clean-only, but the scope allows no clean copy
    assert decide(raw_only, []).stored == {"raw"}
    assert decide(record_for("public-feed-terms"), []).to_dict() == {
        "decision": "archive",
        "stored": ["clean", "raw"],
        "signals": [],
    }


# -- robots directives ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("noarchive", ["noarchive"]),
        ("NoIndex, NoFollow", ["noindex", "nofollow"]),
        ("feedvault: noarchive", ["noarchive"]),
        ("googlebot: noarchive, noai", []),
        ("noindex, googlebot: noarchive", ["noindex"]),
        ("googlebot: noindex, feedvault: noai", ["noai"]),
        ("unavailable_after: Friday, 25-Jun-2010 15:00:00 PST, noai", ["unavailable_after", "25-jun-2010 15", "noai"]),
        ("max-snippet: 20, none", ["max-snippet", "none"]),
    ],
)
def test_robots_directives(value, expected):
    assert robots_directives(value) == expected


def test_header_and_meta_directives_become_findings():
    page = {
        "meta": {"robots": ["noindex"], "feedvault": ["noimageai"], "tdm-reservation": [], "tdm-policy": []},
        "notices": [],
    }
    findings, evaluation = page_findings(
        headers=[("x-robots-tag", "none"), ("X-Robots-Tag", "otherbot: noai"), ("X-Robots-Tag", "nocache")],
        page=page,
    )
    got = [(str(f.signal), f.source, f.where) for f in findings]
    assert got == [
        ("noindex", "header", "X-Robots-Tag header"),
        ("noarchive", "header", "X-Robots-Tag header"),
        ("noindex", "meta", '<meta name="robots">'),
        ("noimageai", "meta", '<meta name="feedvault">'),
    ]
    assert evaluation["reservation"] is None


# -- TDMRep ---------------------------------------------------------------------------------------------
TDM_FILE = b"""[
  {"location": "/news/reserved/", "tdm-reservation": 1, "tdm-policy": "https://p.example/policy.json"},
  {"location": "/news/*.pdf$", "tdm-reservation": 1},
  {"location": "/news/", "tdm-reservation": 0},
  {"location": "/odd/", "tdm-reservation": "yes"},
  {"tdm-reservation": 1},
  "not a rule"
]"""


@pytest.mark.parametrize(
    ("url", "location", "reservation"),
    [
        ("https://p.example/news/reserved/a.html", "/news/reserved/", 1),
        ("https://p.example/news/%72eserved/a.html", "/news/reserved/", 1),  # unreserved %-escapes decoded
        ("https://p.example/news/Reserved/a.html", "/news/", 0),  # case-sensitive
        ("https://p.example/news/report.pdf", "/news/*.pdf$", 1),
        ("https://p.example/news/report.pdf?page=2", "/news/", 0),  # $ anchors the end
        ("https://p.example/news/a.html", "/news/", 0),  # first match in sequence
        ("https://p.example/odd/a.html", "/odd/", None),  # protocol error: unset
        ("https://p.example/about", None, None),  # no match: unset
    ],
)
def test_tdmrep_file_patterns(url, location, reservation):
    rules = tdmrep.parse_file(TDM_FILE)
    assert len(rules) == 4  # a rule without a location and a non-object are skipped
    rule = tdmrep.match(rules, url)
    assert (rule.location if rule else None) == location
    assert (rule.reservation if rule else None) == reservation


@pytest.mark.parametrize("body", [b"{}", b"not json", b"\xff\xfe", b'"x"'])
def test_tdmrep_invalid_file_is_an_error(body):
    with pytest.raises(ValueError):
        tdmrep.parse_file(body)


@pytest.mark.parametrize(
    ("file_value", "headers", "meta", "expected"),
    [
        (1, [], [], (1, "file")),
        (1, ["0"], [], (0, "header")),  # the header supersedes the file
        (0, ["1"], [], (1, "header")),
        (1, ["0"], ["1"], (1, "meta")),  # meta supersedes both
        (1, ["0"], ["0"], (0, "meta")),
        (1, ["2"], [], (1, "file")),  # an invalid value is unset: the next layer decides
        (None, ["0", "1"], [], (1, "header")),  # repeated: the strictest valid value
        (None, [], [], (None, None)),
    ],
)
def test_tdmrep_precedence(file_value, headers, meta, expected):
    file_rule = None if file_value is None else {"location": "/", "tdm-reservation": file_value, "tdm-policy": "P"}
    result = tdmrep.resolve(file_rule, headers, "H", meta, "M")
    assert (result["reservation"], result["source"]) == expected
    if result["reservation"] == 1:
        assert result["policy"] == {"file": "P", "header": "H", "meta": "M"}[result["source"]]
    else:
        assert result["policy"] is None  # a policy is not processed when rights are not reserved


# -- expiry -----------------------------------------------------------------------------------------------
def _registry(tmp_path: Path, today: dt.date) -> Path:
    permission = {"basis": "public-feed-terms", "reference": "terms", "granted_by": "P", "granted_on": "2025-01-01"}
    expiry = {"soon": 30, "later": 31, "gone": -1}  # days from today
    data = {
        "feeds": [
            {
                "id": feed_id,
                "publisher": "P",
                "urls": ["https://p.example/rss"],
                "permission": {**permission, "expires_on": (today + dt.timedelta(days=days)).isoformat()},
            }
            for feed_id, days in expiry.items()
        ]
    }
    path = tmp_path / "feeds.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_feed_permission_warns_within_30_days(tmp_path):
    from feedvault.config import load_registry

    today = dt.datetime.now(dt.UTC).date()
    registry = load_registry(_registry(tmp_path, today))
    soon, later, gone = (feed_permission(registry.feed(f), today) for f in ("soon", "later", "gone"))
    assert soon["decision"] == "archive" and "expires on" in soon["warning"] and "(30 days)" in soon["warning"]
    assert later["decision"] == "archive" and later["warning"] is None
    assert gone["decision"] == "refused" and gone["reason"] == "permission-expired"


def test_feeds_command_flags_expiring_permissions(tmp_path, capsys):
    from feedvault import cli

    today = dt.datetime.now(dt.UTC).date()
    assert cli.main(["--registry", str(_registry(tmp_path, today)), "feeds", "--json"]) == 0
    rows = {row["id"]: row for row in json.loads(capsys.readouterr().out)}
    assert rows["soon"]["permission"] == "expiring soon"
    assert rows["soon"]["expires"] == (today + dt.timedelta(days=30)).isoformat()
    assert rows["later"]["permission"] == "valid"
    assert rows["gone"]["permission"] == "permission-expired"


def test_decision_values_are_the_documented_ones():
    assert [str(d) for d in Decision] == [A, C, R]
