"""The CLI in pipes and scripts: complete machine-readable output, valid diffs, one table of exit codes.

Run as a user would (a subprocess whose stdout is a pipe, on a narrow terminal width), against the archived demo.
"""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from feedvault.cli.exitcodes import ExitCode, markdown_table
from tests.support.archive import ArchivedDemo
from tests.support.crawl import REPO, crawl_env, feed, write_registry


@pytest.fixture(scope="module")
def registry(archived_demo: ArchivedDemo, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("cli-output")
    storage = archived_demo.storage.model_copy(update={"data_dir": str(root / "data")})
    return write_registry(root / "feeds.yaml", storage, [])


def feedvault(registry: Path, archived: ArchivedDemo, *args: str, expect: int = 0) -> subprocess.CompletedProcess:
    proc = subprocess.run(
        [sys.executable, "-m", "feedvault.cli", "--registry", str(registry), *args],
        env=crawl_env(archived.credentials, COLUMNS="40"),  # a narrow terminal: piped output must not care
        cwd=REPO,
        capture_output=True,
        timeout=120,
    )
    assert proc.returncode == expect, f"exit {proc.returncode}\n{proc.stdout.decode()}\n{proc.stderr.decode()}"
    return proc


def tsv(proc: subprocess.CompletedProcess) -> list[dict[str, str]]:
    header, *rows = proc.stdout.decode().splitlines()
    columns = header.split("\t")
    return [dict(zip(columns, row.split("\t"), strict=True)) for row in rows]


def test_piped_listings_are_complete_tsv_and_json_on_request(registry, archived_demo):
    articles = archived_demo.catalog.articles("demo-en", "2026-11-26", per_page=100).items
    rows = tsv(feedvault(registry, archived_demo, "ls", "--feed", "demo-en", "--day", "2026-11-26"))
    assert [(r["id"], r["url"]) for r in rows] == [(a.id, a.url) for a in articles]  # nothing cut, nothing "…"
    as_json = json.loads(
        feedvault(registry, archived_demo, "ls", "--feed", "demo-en", "--day", "2026-11-26", "--json").stdout
    )
    assert [r["id"] for r in as_json] == [a.id for a in articles] and as_json[0]["url"] == articles[0].url

    feeds = tsv(feedvault(registry, archived_demo, "ls"))
    assert {r["feed"] for r in feeds} == {"demo-id", "demo-en", "demo-news"}
    assert all(r["last_run"] in archived_demo.run_ids for r in feeds)  # whole run ids

    history = tsv(feedvault(registry, archived_demo, "history", archived_demo.changed_url))
    assert [r["id"] for r in history] == [s.id for s in archived_demo.catalog.history(archived_demo.changed_url)]
    assert all(len(r["sha256"]) == 64 for r in history)

    runs = tsv(feedvault(registry, archived_demo, "runs"))
    assert [r["run"] for r in runs] == sorted(archived_demo.run_ids, reverse=True)
    table = feedvault(registry, archived_demo, "runs", "--format", "table")
    assert "recent runs" in table.stdout.decode()  # a table when asked for one, even in a pipe


def test_second_run_reports_not_due_apart_from_unchanged(seaweed, tmp_path):
    """With a one-day revisit window the demo's second run fetches nothing: every article is `not due`, and the
    summary, the manifest and `feedvault runs` say so instead of calling them fetched-and-unchanged."""
    from feedvault.demo import DEMO_SITE
    from feedvault.demo.server import SiteServer
    from tests.support.s3 import fresh_archive

    storage, _store = fresh_archive(seaweed, data_dir=tmp_path / "data")
    with SiteServer(DEMO_SITE) as server:
        feeds = [feed("demo-en", server.url("/en/atom.xml"), language="en")]
        registry = write_registry(tmp_path / "feeds.yaml", storage, feeds, revisit_days=1)
        env = crawl_env(seaweed.credentials, COLUMNS="200")
        cli = [sys.executable, "-m", "feedvault.cli", "--registry", str(registry)]
        first = subprocess.run([*cli, "run", "--run-id", "20261201T010000Z"], env=env, cwd=REPO, capture_output=True)
        assert first.returncode == 0, first.stderr.decode()
        second = subprocess.run([*cli, "run", "--run-id", "20261201T020000Z"], env=env, cwd=REPO, capture_output=True)
        assert second.returncode == 0, second.stderr.decode()
        runs = subprocess.run([*cli, "runs", "--json"], env=env, cwd=REPO, capture_output=True)
    header = next(line for line in second.stdout.decode().splitlines() if "not due" in line)
    row = next(line for line in second.stdout.decode().splitlines() if "demo-en" in line)
    cells = dict(zip(re.split(r"\s*[│┃]\s*", header.strip("│┃ ")), re.split(r"\s*│\s*", row.strip("│ ")), strict=True))
    newest, oldest = json.loads(runs.stdout)
    assert int(cells["not due"]) == oldest["new"] > 0 and cells["unchanged"] == "0"
    assert newest["not_due"] == oldest["new"] and newest["unchanged"] == 0


def test_piped_show_prints_the_whole_text_unwrapped(registry, archived_demo):
    snapshot = archived_demo.catalog.history(archived_demo.changed_url)[-1]
    full = archived_demo.catalog.snapshot(snapshot.id)
    out = feedvault(registry, archived_demo, "show", snapshot.id).stdout.decode()
    head, _, body = out.partition("\n\n")
    assert f"url: {full.url}\n" in head + "\n" and f"id: {full.id}" in head
    assert body.rstrip("\n") == full.text


def test_piped_diff_is_a_patch_that_applies(registry, archived_demo, tmp_path):
    old, new = (s for s in archived_demo.catalog.history(archived_demo.changed_url) if s.feed == "demo-id")
    patch_text = feedvault(registry, archived_demo, "diff", archived_demo.changed_url, old.id, new.id).stdout
    assert re.match(rb"--- .*\n\+\+\+ .*\n@@ ", patch_text)
    target = tmp_path / "text.txt"
    target.write_text(archived_demo.catalog.snapshot(old.id).text + "\n")
    applied = subprocess.run(["patch", str(target)], input=patch_text, capture_output=True, timeout=30)
    assert applied.returncode == 0, applied.stdout.decode() + applied.stderr.decode()
    assert target.read_text() == archived_demo.catalog.snapshot(new.id).text + "\n"


def test_filter_by_publication_day_as_well_as_capture_day(registry, archived_demo):
    published = "2026-11-24"  # the demo articles' own dates; they were captured on the runs' days
    rows = tsv(feedvault(registry, archived_demo, "ls", "--feed", "demo-id", "--published", published))
    assert rows and all(r["published"].startswith(published) for r in rows)
    hits = tsv(
        feedvault(
            registry,
            archived_demo,
            "search",
            "angin kencang",
            "--published-from",
            published,
            "--published-to",
            published,
        )
    )
    assert hits and all(h["published"].startswith(published) for h in hits)
    empty = feedvault(registry, archived_demo, "ls", "--feed", "demo-id", "--day", published, expect=4)
    assert b"capture" in empty.stderr and b"--published 2026-11-24" in empty.stderr  # why, and what to try


@pytest.mark.parametrize(
    ("args", "code"),
    [
        (("ls", "--feed", "nope"), ExitCode.NOT_FOUND),
        (("ls", "--feed", "demo-id", "--day", "2020-01-01"), ExitCode.NOT_FOUND),
        (("export", "--day", "2020-01-01", "--format", "jsonl"), ExitCode.NOT_FOUND),
        (("show", "0123456789abcdef"), ExitCode.NOT_FOUND),
        (("history", "http://127.0.0.1:1/never"), ExitCode.NOT_FOUND),
        (("diff", "http://127.0.0.1:1/never"), ExitCode.NOT_FOUND),
        (("search", "zzzyyyxxx"), ExitCode.NOT_FOUND),
        (("runs", "--show", "20200101T000000Z"), ExitCode.NOT_FOUND),
        (("ls", "--day", "2026-11-26"), ExitCode.USAGE),
        (("ls", "--feed", "demo-id", "--day", "2026-02-30"), ExitCode.USAGE),
        (("search", "x", "--from", "someday"), ExitCode.USAGE),
        (("export", "--format", "csv", "--day", "2026-11-26"), ExitCode.USAGE),
        (("runs", "--format", "xml"), ExitCode.USAGE),
    ],
)
def test_exit_codes_follow_one_table(registry, archived_demo, args, code):
    feedvault(registry, archived_demo, *args, expect=int(code))


def test_readme_states_the_exit_code_table():
    assert markdown_table() in (REPO / "README.md").read_text()


def test_browse_on_a_taken_port_says_so_and_exits_5(registry, archived_demo):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        proc = feedvault(registry, archived_demo, "browse", "--port", str(port), expect=int(ExitCode.UNAVAILABLE))
    assert f"cannot listen on 127.0.0.1:{port}".encode() in proc.stderr and b"--port" in proc.stderr


def test_browse_does_not_default_to_airflows_port():
    from feedvault.cli.browse_commands import BROWSE_PORT

    assert BROWSE_PORT != 8080


def test_a_registrys_relative_paths_mean_the_same_archive_from_any_directory(archived_demo, tmp_path):
    home = tmp_path / "newsroom"
    elsewhere = tmp_path / "somewhere-else"
    home.mkdir()
    elsewhere.mkdir()
    storage = archived_demo.storage.model_copy(update={"data_dir": "archive-data"})  # relative, as users write it
    registry = write_registry(home / "feeds.yaml", storage, [])
    proc = subprocess.run(
        [sys.executable, "-m", "feedvault.cli", "--registry", str(registry), "ls", "--json"],
        env=crawl_env(archived_demo.credentials),
        cwd=elsewhere,
        capture_output=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr.decode()
    assert {f["feed"] for f in json.loads(proc.stdout)} == {"demo-id", "demo-en", "demo-news"}
    assert (home / "archive-data" / "catalog.sqlite").exists() and not any(elsewhere.iterdir())
    assert f"local data: {home / 'archive-data'}".encode() in proc.stderr  # says which archive it opened
