"""The README's tour works: every `feedvault` command in its "Look at the result" block runs on a fresh demo archive
(made like `make run`: the bundled feeds, a run id of today) and prints what its comment promises.

The block is read from README.md itself, so a command added there is walked too; `browse` (a server) is left to
tests/test_browse_cli.py. The demo publisher's fixed address in the README is swapped for this test's server.
"""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from feedvault.config import BUNDLED_REGISTRY, load_registry
from feedvault.demo import ARTICLE_SENTINELS, DEMO_SITE
from feedvault.demo.server import SiteServer
from tests.support.crawl import REPO, crawl_env, run_crawl, write_registry
from tests.support.s3 import fresh_archive

README_DEMO_URL = "http://127.0.0.1:8765"
FESTIVAL = "/id/berita/2026/11/24/festival-layang-layang-pantai-padang-ditunda.html"


def readme_tour() -> list[str]:
    """The commands of the README block that follows "Look at the result", without their comments."""
    text = (REPO / "README.md").read_text()
    block = text[text.index("Look at the result") :]
    block = block[block.index("```sh\n") + 6 :]
    block = block[: block.index("```")]
    return [re.split(r"\s{2,}# ", line)[0].strip() for line in block.splitlines() if line.strip()]


@pytest.fixture(scope="module")
def fresh_demo(seaweed, tmp_path_factory):
    root = tmp_path_factory.mktemp("readme")
    storage, _store = fresh_archive(seaweed, data_dir=root / "data")
    with SiteServer(DEMO_SITE) as server, pytest.MonkeyPatch.context() as env:
        env.setenv("FEEDVAULT_DEMO_URL", server.base_url)
        feeds = [f.model_dump(mode="json", exclude_defaults=True) for f in load_registry(BUNDLED_REGISTRY).feeds]
        registry = write_registry(root / "feeds.yaml", storage, feeds)
        summary = run_crawl(registry, seaweed.credentials)  # no --run-id: today's, as `make run`
        assert summary["status"] == "ok" and summary["totals"]["new"] > 0, summary["feeds"]
        yield registry, server.base_url, summary["run_id"], seaweed.credentials, root


def test_the_readme_tour_is_walked_whole():
    commands = readme_tour()
    assert len(commands) >= 10 and all(c.startswith(".venv/bin/feedvault ") for c in commands), commands


@pytest.mark.parametrize("command", [c for c in readme_tour() if not c.startswith(".venv/bin/feedvault browse")])
def test_readme_command_prints_what_it_promises(command, fresh_demo, tmp_path):
    registry, base_url, run_id, credentials, _root = fresh_demo
    cli = f"{shlex.quote(sys.executable)} -m feedvault.cli --registry {shlex.quote(str(registry))}"
    shell = command.replace(".venv/bin/feedvault", cli).replace(README_DEMO_URL, base_url)
    proc = subprocess.run(
        ["bash", "-c", shell], cwd=tmp_path, env=crawl_env(credentials), capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, f"{command}\nexit {proc.returncode}\n{proc.stderr[-2000:]}"
    out = proc.stdout
    festival = base_url + FESTIVAL
    args = command.split()[1:]
    if args[:1] == ["runs"]:
        assert run_id in out and "not_due" in out.splitlines()[0]
    elif args == ["ls"]:
        assert {"demo-id", "demo-en", "demo-news"} <= {line.split("\t")[0] for line in out.splitlines()[1:]}
    elif args == ["ls", "--feed", "demo-id"]:
        assert run_id[:4] + "-" + run_id[4:6] + "-" + run_id[6:8] in out  # today's capture day
    elif ("--day" in args and args[0] == "ls") or "--published" in args:
        rows = [line.split("\t") for line in out.splitlines()[1:]]
        assert festival in {r[2] for r in rows}, out
    elif args[0] == "search":
        assert festival in out
    elif args[0] == "show":
        assert f"url: {festival}" in out and ARTICLE_SENTINELS[FESTIVAL] in out
    elif args[0] == "history":
        assert len(out.splitlines()) >= 2 and run_id in out  # one snapshot per feed that lists the article
    elif "jsonl" in args:
        records = [json.loads(line) for line in (tmp_path / "demo-en.jsonl").read_text().splitlines()]
        assert records and {r["feed"] for r in records} == {"demo-en"}
    elif "wacz" in args:
        with zipfile.ZipFile(tmp_path / "demo-en.wacz") as wacz:
            assert "datapackage.json" in wacz.namelist()
    else:
        pytest.fail(f"the README shows a command this test does not know what to expect of: {command}")


def test_readme_points_at_the_demo_address_the_tour_uses():
    assert README_DEMO_URL in (REPO / "README.md").read_text()
    assert Path(BUNDLED_REGISTRY).read_text().count("127.0.0.1:8765") >= 1
