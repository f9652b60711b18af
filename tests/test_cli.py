"""The `feedvault` command as a person uses it: run, clean, feeds, runs; exit codes and messages."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from feedvault.config import StorageSettings
from feedvault.demo import BOILERPLATE_MARKERS, DEMO_SITE
from feedvault.store.s3_client import Credentials
from tests.support.crawl import PERMISSION, REPO, crawl_env, feed, write_registry

ID_ARTICLE = next(DEMO_SITE.glob("id/berita/**/*.html"))


def feedvault(*args: str, env: dict[str, str], stdin: bytes | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "feedvault.cli", *args],
        input=stdin.decode() if stdin is not None else None,
        env={**env, "COLUMNS": "200"},
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.fixture
def setup(tmp_path, site_server, s3_storage):
    storage, credentials = s3_storage
    duplicate, malformed = site_server("duplicate-guids"), site_server("malformed-feed")
    feeds = [
        feed("dups", duplicate.url("/feed.xml")),
        feed("broken", malformed.url("/feed.xml")),
        {k: v for k, v in feed("unpermitted", duplicate.url("/feed.xml")).items() if k != "permission"},
    ]
    registry = write_registry(tmp_path / "feeds.yaml", storage, feeds)
    return registry, crawl_env(credentials), duplicate


def test_run_archives_reports_and_exits_by_outcome(setup):
    registry, env, server = setup
    ok = feedvault("--registry", str(registry), "run", "--feed", "dups", "--feed", "unpermitted", env=env)
    assert ok.returncode == 0, ok.stderr
    assert "dups" in ok.stdout and "run manifest: s3://" in ok.stdout
    assert "DEBUG" not in ok.stderr and "Scraped from" not in ok.stderr  # no per-article log lines by default
    assert "unpermitted" in ok.stdout and "no permission record" in ok.stdout  # not crawled, and said so
    agents = {r.headers.get("User-Agent") for r in server.requests}
    assert agents == {"feedvault/0.1.0 (+https://feedvault.test/contact)"}  # honest, with the contact URL

    failed = feedvault("--registry", str(registry), "run", "--feed", "broken", env=env)
    assert failed.returncode == 1
    assert "broken failed" in failed.stdout and "unparseable feed" in failed.stdout
    assert "--run-id" in failed.stdout  # says what to do next


def test_dry_run_and_since(setup):
    registry, env, _server = setup
    dry = feedvault("--registry", str(registry), "run", "--feed", "dups", "--dry-run", "--json", env=env)
    assert dry.returncode == 0 and "dry run: nothing written" in dry.stdout
    runs = feedvault("--registry", str(registry), "runs", env=env)
    assert "no runs yet" in runs.stderr and runs.stdout.splitlines()[1:] == []  # the dry run wrote no manifest

    # The fixture's entries are dated 2026-11-24 08:00 .. 2026-11-25 12:10: --since keeps only the last ones.
    since = feedvault("--registry", str(registry), "run", "--feed", "dups", "--since", "2026-11-25T07:00", env=env)
    assert since.returncode == 0, since.stderr
    runs = feedvault("--registry", str(registry), "runs", env=env)
    run_id = next(line.split("\t")[0] for line in runs.stdout.splitlines() if "Z-cli" in line)
    shown = feedvault("--registry", str(registry), "runs", "--show", run_id, env=env)
    manifest = json.loads(shown.stdout)
    assert manifest["options"]["since"].startswith("2026-11-25T07:00")
    assert manifest["totals"]["skipped"] >= 1 and manifest["totals"]["new"] >= 1


def test_outside_window_entries_are_skipped(tmp_path, s3_storage):
    from feedvault.demo.server import SiteServer
    from tests.test_robots import make_site

    storage, credentials = s3_storage
    make_site(tmp_path / "site", "User-agent: *\nAllow: /\n", ["/a/old.html"])
    feed_xml = tmp_path / "site" / "feed.xml"
    feed_xml.write_text(feed_xml.read_text().replace("Wed, 25 Nov 2026", "Wed, 25 Nov 2020"))
    with SiteServer(tmp_path / "site") as server:
        registry = write_registry(
            tmp_path / "feeds.yaml", storage, [feed("old", server.url("/feed.xml"))], entry_window_days=7
        )
        run = feedvault("--registry", str(registry), "run", "--json", env=crawl_env(credentials))
        article_requests = [r for r in server.requests if r.path.startswith("/a/")]
    assert run.returncode == 0, run.stderr
    totals = json.loads(run.stdout[: run.stdout.rindex("}") + 1])["totals"]
    assert totals["new"] == 0 and totals["skipped"] == 1
    assert not article_requests


def test_bad_registry_and_unknown_run_are_clear_errors(tmp_path, s3_storage):
    _storage, credentials = s3_storage
    bad = tmp_path / "bad.yaml"
    bad.write_text("feeds:\n  - id: Not Valid\n    publisher: P\n    urls: [ftp://x]\n")
    result = feedvault("--registry", str(bad), "run", env=crawl_env(credentials))
    assert result.returncode == 2
    assert str(bad) in result.stderr and "feeds.0.id" in result.stderr and "feeds.0.urls" in result.stderr

    unknown = feedvault("--registry", str(bad.with_name("missing.yaml")), "feeds", env=crawl_env(credentials))
    assert unknown.returncode == 2 and "cannot read registry" in unknown.stderr


def test_unreachable_storage_exits_3_with_what_to_check(tmp_path):
    storage = StorageSettings(uri="s3://nowhere/archive", endpoint_url="http://127.0.0.1:9", max_attempts=1)
    registry = write_registry(tmp_path / "feeds.yaml", storage, [feed("f", "http://127.0.0.1:9/feed.xml")])
    result = feedvault("--registry", str(registry), "runs", env=crawl_env(Credentials("KEY", "SECRET")))
    assert result.returncode == 3
    assert "storage error" in result.stderr and "endpoint" in result.stderr


def test_clean_command_prints_text_or_the_record():
    page = ID_ARTICLE.read_bytes()
    text = feedvault("clean", "--url", "http://127.0.0.1/a.html", env=crawl_env(None), stdin=page)
    assert text.returncode == 0 and len(text.stdout) > 200
    for marker in BOILERPLATE_MARKERS:
        assert marker not in text.stdout
    record = json.loads(feedvault("clean", "--json", env=crawl_env(None), stdin=page).stdout)
    assert record["text"].strip() == text.stdout.strip()
    assert {r["rule"] for r in record["removed"]} >= {"id.read-also", "id.credits"}
    assert any(r["kind"] == "ai-reservation" for r in record["rights_reservations"])
    explained = feedvault("clean", "--explain", env=crawl_env(None), stdin=page).stdout
    text_part, _, listing = explained.partition("\n-- removed ")
    assert text_part.strip() == text.stdout.strip()
    for removed in record["removed"]:
        assert f"{removed['family']} | {removed['rule']} | {removed['reason']} | {removed['line']}" in listing
    assert listing.startswith(f"{len(record['removed'])} lines (family | rule | reason | line)")
    empty = feedvault("clean", env=crawl_env(None), stdin=b"")
    assert empty.returncode == 2 and "pipe an HTML page" in empty.stderr


def test_feeds_lists_permission_status(tmp_path, s3_storage):
    storage, credentials = s3_storage
    expired = {**PERMISSION, "expires_on": "2026-01-31"}
    registry = write_registry(
        tmp_path / "feeds.yaml",
        storage,
        [
            feed("current", "http://127.0.0.1:9/a.xml"),
            feed("lapsed", "http://127.0.0.1:9/b.xml", permission=expired),
        ],
    )
    out = feedvault("--registry", str(registry), "feeds", env=crawl_env(credentials)).stdout
    rows = {line.split("\t")[0]: line.split("\t") for line in out.splitlines()[1:]}  # piped: TSV
    assert rows["current"][4] == "valid" and rows["lapsed"][4] == "permission-expired"


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--run-id", "20261201T05600Z-x"], "invalid run id '20261201T05600Z-x'"),
        (["--run-id", "20261399T000000Z"], "invalid run id '20261399T000000Z'"),
        (["--run-id", "20261201T050600Z-Bad_Label"], "invalid run id"),
        (["--since", "2026-13-01"], "not an ISO date"),
        (["--since", "2999-01-01"], "is in the future"),
        (["--feed", "no-such-feed"], "--feed 'no-such-feed': no such feed in the registry (it has: known)"),
        (["--no-such-option"], "unrecognized arguments: --no-such-option"),
    ],
)
def test_bad_run_arguments_exit_2_with_one_line_saying_what_is_wrong(tmp_path, args, says):
    storage = StorageSettings(uri=(tmp_path / "archive").as_uri())
    registry = write_registry(tmp_path / "feeds.yaml", storage, [feed("known", "http://127.0.0.1:9/feed.xml")])
    result = feedvault("--registry", str(registry), "run", *args, env=crawl_env(None))
    assert result.returncode == 2, result.stderr
    assert says in result.stderr
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert not (tmp_path / "archive").exists()  # nothing was started, nothing written


def test_every_subcommand_is_registered_with_its_handler():
    """One registration style: every subcommand's parser carries the handler that runs it (``args.handler``),
    whichever module adds it, so ``main`` has no table of its own to keep in step."""
    import argparse

    from feedvault.cli import build_parser

    parser = build_parser()
    (commands,) = [action for action in parser._actions if isinstance(action, argparse._SubParsersAction)]
    missing = [name for name, sub in commands.choices.items() if not callable(sub.get_default("handler"))]
    assert not missing, f"subcommands without a handler: {missing}"
    assert {"run", "clean", "feeds", "runs", "takedown", "reclean", "ls", "browse"} <= set(commands.choices)
