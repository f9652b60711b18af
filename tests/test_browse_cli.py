"""The browsing commands of the CLI, run as a user would, against the archived demo publisher."""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from feedvault.cli.browse_commands import TOKEN_ENV
from feedvault.config import StorageSettings
from tests.support.archive import CHANGED_SENTENCE, ArchivedDemo
from tests.support.crawl import REPO, crawl_env, write_registry


@pytest.fixture(scope="module")
def registry(archived_demo: ArchivedDemo, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo archive's registry with its own data dir: the CLI syncs its own local catalog."""
    root = tmp_path_factory.mktemp("browse-cli")
    storage = archived_demo.storage.model_copy(update={"data_dir": str(root / "data")})
    return write_registry(root / "feeds.yaml", storage, [])


def feedvault(registry: Path, archived: ArchivedDemo, *args: str, expect: int = 0) -> subprocess.CompletedProcess:
    proc = subprocess.run(
        [sys.executable, "-m", "feedvault.cli", "--registry", str(registry), *args],
        env=crawl_env(archived.credentials, COLUMNS="250"),
        cwd=REPO,
        capture_output=True,
        timeout=120,
    )
    assert proc.returncode == expect, f"exit {proc.returncode}\n{proc.stdout.decode()}\n{proc.stderr.decode()}"
    return proc


def text(proc: subprocess.CompletedProcess) -> str:
    return proc.stdout.decode()


def demo_id_history(archived: ArchivedDemo) -> list:
    return [s for s in archived.catalog.history(archived.changed_url) if s.feed == "demo-id"]


def test_ls(registry, archived_demo):
    listing = text(feedvault(registry, archived_demo, "ls"))
    assert all(f in listing for f in ("demo-id", "demo-en", "demo-news")) and "valid" in listing
    days = text(feedvault(registry, archived_demo, "ls", "--feed", "demo-id"))
    assert "2026-11-26" in days and "2026-11-27" in days
    articles = text(feedvault(registry, archived_demo, "ls", "--feed", "demo-en", "--day", "2026-11-26"))
    first = archived_demo.catalog.articles("demo-en", "2026-11-26").items[0]
    assert first.id in articles
    feedvault(registry, archived_demo, "ls", "--day", "2026-11-26", expect=2)
    feedvault(registry, archived_demo, "ls", "--feed", "nope", expect=4)
    bad = feedvault(registry, archived_demo, "ls", "--feed", "demo-id", "--day", "2026-02-30", expect=2)
    assert b"not a valid date" in bad.stderr


def test_show(registry, archived_demo):
    new = demo_id_history(archived_demo)[-1]
    by_url = text(feedvault(registry, archived_demo, "show", archived_demo.changed_url))
    assert CHANGED_SENTENCE in by_url
    by_id = text(feedvault(registry, archived_demo, "show", new.id))
    assert CHANGED_SENTENCE in by_id
    record = json.loads(feedvault(registry, archived_demo, "show", new.id, "--json").stdout)
    assert record["url"] == archived_demo.changed_url and record["schema"] == "feedvault.clean/1"
    raw = feedvault(registry, archived_demo, "show", new.id, "--raw")
    assert b"<html" in raw.stdout.lower() and b"HTTP 200" in raw.stderr
    feedvault(registry, archived_demo, "show", "0123456789abcdef", expect=4)
    feedvault(registry, archived_demo, "show", "http://127.0.0.1:1/never", expect=4)


def test_history_and_diff(registry, archived_demo):
    old, new = demo_id_history(archived_demo)
    history = text(feedvault(registry, archived_demo, "history", archived_demo.changed_url))
    assert history.index(old.id) < history.index(new.id)
    default = text(feedvault(registry, archived_demo, "diff", archived_demo.changed_url))
    assert f"+{CHANGED_SENTENCE}" in default.replace("\n", "") or CHANGED_SENTENCE in default
    assert any(line.startswith("-") and archived_demo.original_sentence[:30] in line for line in default.splitlines())
    explicit = text(feedvault(registry, archived_demo, "diff", archived_demo.changed_url, old.id, new.id))
    assert explicit.splitlines()[2:] == default.splitlines()[2:]  # the default may pick the other feed's copy
    feedvault(registry, archived_demo, "diff", archived_demo.changed_url, old.id, expect=2)
    feedvault(registry, archived_demo, "diff", "http://127.0.0.1:1/never", expect=4)
    unchanged = archived_demo.catalog.articles("demo-en", "2026-11-26").items[0].url
    assert b"only one version" in feedvault(registry, archived_demo, "diff", unchanged).stderr


def test_search(registry, archived_demo):
    found = feedvault(registry, archived_demo, "search", "koreksi", "--feed", "demo-id", "--lang", "id")
    assert b"1 match for" in found.stderr
    rows = [line.split("\t") for line in text(found).splitlines()]
    assert rows[0][:2] == ["id", "day"] and [r[0] for r in rows[1:]] == [demo_id_history(archived_demo)[-1].id]
    none = feedvault(registry, archived_demo, "search", "koreksi", "--from", "2026-11-28", expect=4)
    assert b"0 matches" in none.stderr and b"--published-from" in none.stderr
    feedvault(registry, archived_demo, "search", "x" * 300, expect=2)
    feedvault(registry, archived_demo, "search", "festival", "--from", "someday", expect=2)


def test_export_jsonl(registry, archived_demo):
    out = feedvault(registry, archived_demo, "export", "--day", "2026-11-27", "--format", "jsonl").stdout
    records = [json.loads(line) for line in out.decode().splitlines()]
    assert records and all(r["run_id"] == archived_demo.run_ids[1] for r in records)
    assert {r["feed"] for r in records} == {"demo-id", "demo-news"}
    only = feedvault(registry, archived_demo, "export", "--day", "2026-11-27", "--feed", "demo-id", "--format", "jsonl")
    assert len(only.stdout.decode().splitlines()) == 1
    feedvault(registry, archived_demo, "export", "--day", "2020-01-01", "--format", "jsonl", expect=4)
    feedvault(registry, archived_demo, "export", "--day", "2026-11-27", "--format", "csv", expect=2)


def test_reindex(registry, archived_demo):
    proc = feedvault(registry, archived_demo, "reindex")
    assert b"catalog rebuilt" in proc.stderr and b"2 runs" in proc.stderr


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_browse_serves_and_refuses_open_binds(registry, archived_demo):
    refused = feedvault(registry, archived_demo, "browse", "--host", "0.0.0.0", expect=2)
    assert b"refusing to listen on 0.0.0.0" in refused.stderr
    port = free_port()
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "feedvault.cli",
            "--registry",
            str(registry),
            "browse",
            "--port",
            str(port),
            "--token",
            "tkn",
        ],
        env=crawl_env(archived_demo.credentials),
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        url = f"http://127.0.0.1:{port}/api/v1/feeds"
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(url, timeout=2)
            except urllib.error.HTTPError as exc:
                assert exc.code == 401
                break
            except OSError:
                assert server.poll() is None and time.monotonic() < deadline, server.stderr.read()  # type: ignore[union-attr]
                time.sleep(0.3)
        request = urllib.request.Request(url, headers={"Authorization": "Bearer tkn"})
        with urllib.request.urlopen(request, timeout=10) as response:
            assert {f["id"] for f in json.load(response)} == {"demo-id", "demo-en", "demo-news"}
    finally:
        server.terminate()
        server.wait(timeout=20)


@dataclass
class Browsing:
    """A ``feedvault browse`` subprocess; ``output`` (stdout + stderr) is filled in once it ended."""

    proc: subprocess.Popen[bytes]
    port: int
    output: str = ""


def http_status(port: int, path: str = "/api/v1/feeds", host: str | None = None, **headers: str) -> int:
    """The status of one GET to 127.0.0.1:port with the given ``Host`` header (a real socket, no redirects)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("GET", path, headers={"Host": f"127.0.0.1:{port}" if host is None else host, **headers})
        response = conn.getresponse()
        response.read()
        return response.status
    finally:
        conn.close()


@contextlib.contextmanager
def browsing(registry: Path, archived: ArchivedDemo, *args: str, **env: str) -> Iterator[Browsing]:
    """Run ``feedvault browse`` on a free port until it answers; stop it (SIGTERM) afterwards."""
    port = free_port()
    environment = crawl_env(archived.credentials, **env)
    if TOKEN_ENV not in env:
        environment.pop(TOKEN_ENV, None)
    command = [sys.executable, "-m", "feedvault.cli", "--registry", str(registry), "browse", "--port", str(port)]
    proc = subprocess.Popen(
        [*command, *args], env=environment, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    run = Browsing(proc, port)
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                http_status(port, "/")
                break
            except OSError:
                assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()[0].decode()
                time.sleep(0.3)
        yield run
    finally:
        if proc.poll() is None:
            proc.terminate()
        run.output = proc.communicate(timeout=60)[0].decode(errors="replace")


def test_browse_answers_only_the_hosts_it_was_started_for(registry, archived_demo):
    """DNS rebinding: a page whose name an attacker points at 127.0.0.1 gets a 400, not the archive."""
    export = "/api/v1/feeds/demo-id/days/2026-11-26/export.jsonl"
    with browsing(registry, archived_demo, "--allowed-host", "archive.lan") as run:
        port = run.port
        for foreign in ("attacker.example", f"attacker.example:{port}", "127.0.0.1.attacker.example", ""):
            assert http_status(port, host=foreign) == 400, foreign
            assert http_status(port, export, host=foreign) == 400, foreign
        for ours in (f"127.0.0.1:{port}", f"localhost:{port}", "localhost", f"[::1]:{port}", "archive.lan"):
            assert http_status(port, host=ours) == 200, ours
        assert http_status(port, export) == 200
    assert "answering requests for host 127.0.0.1, localhost, [::1], archive.lan" in run.output


def test_browse_prints_a_token_only_when_it_made_one_up(registry, archived_demo):
    """A token from the environment never reaches the console (and so no service log); a generated one must."""
    with browsing(registry, archived_demo, "--token", **{TOKEN_ENV: "env-secret-token"}) as run:
        assert http_status(run.port) == 401
        assert http_status(run.port, Authorization="Bearer env-secret-token") == 200
    assert "env-secret-token" not in run.output and "(token required)" in run.output, run.output
    with browsing(registry, archived_demo, "--token", "argv-secret-token") as run:
        assert http_status(run.port, Authorization="Bearer argv-secret-token") == 200
    assert "argv-secret-token" not in run.output, run.output
    with browsing(registry, archived_demo, "--token") as run:
        pass
    generated = run.output.split("?token=", 1)[1].split()[0]
    assert len(generated) >= 24, run.output


def test_credentials_in_an_endpoint_url_are_never_printed(archived_demo, tmp_path):
    dead = socket.socket()
    dead.bind(("127.0.0.1", 0))  # bound, never listening: connections are refused
    endpoint = f"http://feedvault:hunter2-secret@127.0.0.1:{dead.getsockname()[1]}"
    storage = archived_demo.storage.model_copy(
        update={"endpoint_url": endpoint, "data_dir": str(tmp_path / "data"), "max_attempts": 1}
    )
    local = write_registry(tmp_path / "feeds.yaml", storage, [])
    try:
        for command in (["ls"], ["show", "0123456789abcdef"], ["browse", "--port", str(free_port())]):
            proc = feedvault(local, archived_demo, *command, expect=3)
            output = (proc.stdout + proc.stderr).decode()
            assert "hunter2-secret" not in output and "feedvault:" not in output, output
            assert "http://***@127.0.0.1" in output, output
    finally:
        dead.close()


def process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][:1] != "Z"  # a zombie has exited


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_stopping_browse_stops_the_embedded_store_it_started(tmp_path, sig):
    """``kill <pid>`` (or Ctrl-C) of ``feedvault browse`` leaves no SeaweedFS behind: checked by weed's pid."""
    data_dir = tmp_path / "data"
    storage = StorageSettings(uri="s3://feedvault/archive", embedded=True, data_dir=str(data_dir))
    local = write_registry(tmp_path / "feeds.yaml", storage, [])
    port = free_port()
    env = crawl_env(None)
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"):
        env.pop(name, None)
    command = [sys.executable, "-m", "feedvault.cli", "--registry", str(local), "browse", "--port", str(port)]
    proc = subprocess.Popen(command, env=env, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                assert http_status(port, "/api/v1/feeds") == 200
                break
            except OSError:
                assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()[0].decode()
                time.sleep(0.3)
        weed = json.loads((data_dir / "s3" / "endpoint.json").read_text())["pid"]
        assert process_alive(weed)
        proc.send_signal(sig)
        output = proc.communicate(timeout=60)[0].decode(errors="replace")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    leaked = process_alive(weed)
    if leaked:
        os.killpg(weed, signal.SIGKILL)  # its own process group: leave nothing behind, then fail
    assert not leaked, f"SeaweedFS (pid {weed}) outlived feedvault browse\n{output}"
    assert not (data_dir / "s3" / "endpoint.json").exists()
    assert "Traceback" not in output, output


def test_cdxj_indexes_committed_warcs(archived_demo, tmp_path):
    from feedvault.archive.cdxj import cdxj_key
    from feedvault.config import StorageSettings
    from feedvault.store.backends import FileStore
    from tests.support.archive import copy_archive

    store = FileStore(tmp_path / "archive")
    copy_archive(archived_demo.store, store)
    storage = StorageSettings(uri=store.uri, data_dir=str(tmp_path / "data"))
    local = write_registry(tmp_path / "feeds.yaml", storage, [])
    warcs = archived_demo.catalog.warc_keys()
    written_by_the_runs = {k: store.get_bytes(cdxj_key(k)) for k in warcs}
    store.delete(cdxj_key(k) for k in warcs)  # an archive from before runs indexed their WARCs
    first = feedvault(local, archived_demo, "cdxj")
    assert f"{len(warcs)} CDXJ indexes written".encode() in first.stderr
    assert {k: store.get_bytes(cdxj_key(k)) for k in warcs} == written_by_the_runs
    again = feedvault(local, archived_demo, "cdxj", "--run", archived_demo.run_ids[1])
    assert b"0 CDXJ indexes written" in again.stderr
    feedvault(local, archived_demo, "cdxj", "--run", "20990101T000000Z", expect=4)
