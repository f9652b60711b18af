"""The embedded SeaweedFS: persistence across restarts, discovery by a second process, clean failures."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import stat
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest

from feedvault.config import StorageSettings
from feedvault.store.backends import S3Store, open_store
from feedvault.store.seaweed import SERVICES, EmbeddedS3, EmbeddedS3Error, _pick_base


def store_on(server: EmbeddedS3, bucket: str = "persist") -> S3Store:
    settings = server.storage_settings(StorageSettings(uri=f"s3://{bucket}/archive", max_attempts=2))
    store = open_store(settings, server.credentials)
    assert isinstance(store, S3Store)
    return store


def test_restart_keeps_data_and_credentials(tmp_path: Path) -> None:
    data_dir = tmp_path / "fv"
    with EmbeddedS3(data_dir) as server:
        creds = server.credentials
        first_endpoint = server.endpoint_url
        store = store_on(server)
        store.ensure_bucket()
        store.put_bytes("raw/one.warc.gz", b"payload")

        creds_file = data_dir / "s3-credentials.json"
        assert stat.S_IMODE(creds_file.stat().st_mode) == 0o600
        assert stat.S_IMODE((data_dir / "s3-config.json").stat().st_mode) == 0o600
        assert (data_dir / "s3").is_dir()
        assert any((data_dir / "logs").iterdir())

        running = EmbeddedS3.running(data_dir)
        assert running is not None
        assert (running.endpoint_url, running.credentials, running.pid) == (first_endpoint, creds, server.pid)
        with pytest.raises(EmbeddedS3Error, match="already runs"):
            EmbeddedS3(data_dir).start()

    assert EmbeddedS3.running(data_dir) is None
    assert not (data_dir / "s3" / "endpoint.json").exists()

    with EmbeddedS3(data_dir) as again:
        assert again.credentials == creds
        assert store_on(again).get_bytes("raw/one.warc.gz") == b"payload"


def test_max_volumes_sets_the_slots_the_master_offers(tmp_path: Path) -> None:
    with EmbeddedS3(tmp_path / "store", max_volumes=7) as server:
        host, s3_port = server.endpoint_url.rsplit(":", 1)
        master = f"{host}:{int(s3_port) + SERVICES.index('master')}"
        with urllib.request.urlopen(f"{master}/dir/status", timeout=10) as answer:
            assert json.load(answer)["Topology"]["Max"] == 7


def test_running_needs_a_live_pid_and_a_live_endpoint(seaweed: EmbeddedS3, tmp_path: Path) -> None:
    endpoint_file = tmp_path / "s3" / "endpoint.json"
    endpoint_file.parent.mkdir(parents=True)
    (tmp_path / "s3-credentials.json").write_text(json.dumps({"access_key_id": "a", "secret_access_key": "b"}))
    exited = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)

    def found(pid: int, endpoint: str) -> bool:
        endpoint_file.write_text(json.dumps({"pid": pid, "endpoint_url": endpoint}))
        return EmbeddedS3.running(tmp_path) is not None

    assert found(os.getpid(), seaweed.endpoint_url)
    assert not found(int(exited.stdout), seaweed.endpoint_url)
    assert not found(os.getpid(), f"http://127.0.0.1:{closed_port()}")


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_busy_port_is_reported_before_launch(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        started = time.monotonic()
        with pytest.raises(EmbeddedS3Error, match=f"ports {port}-"):
            EmbeddedS3(tmp_path, port=port, port_wait=0.5).start()
        assert time.monotonic() - started < 5


def test_env_lets_a_subprocess_use_the_server(seaweed: EmbeddedS3, s3_store: S3Store) -> None:
    s3_store.put_bytes("shared/hello.txt", b"hi from the parent")
    script = (
        "import boto3, sys\n"
        "body = boto3.client('s3').get_object(Bucket=sys.argv[1], Key=sys.argv[2])['Body'].read()\n"
        "sys.stdout.write(body.decode())\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")} | seaweed.env()
    out = subprocess.run(
        [sys.executable, "-c", script, s3_store.bucket, f"{s3_store.prefix}shared/hello.txt"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert out.stdout == "hi from the parent"


@pytest.mark.parametrize(
    ("script", "expected"),
    [
        ("echo 'fatal: cannot open volume'; exit 3", r"exited with status 3.*\n.*fatal: cannot open volume"),
        ("echo 'still thinking'; exec sleep 30", r"not ready after 1s.*\n.*still thinking"),
    ],
)
def test_start_failure_shows_the_log_tail(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, script: str, expected: str
) -> None:
    fake = tmp_path / "weed"
    fake.write_text(f"#!/bin/sh\n{script}\n")
    fake.chmod(0o755)
    monkeypatch.setattr("feedvault.store.seaweed.weed_binary", lambda: fake)
    server = EmbeddedS3(tmp_path / "data", ready_timeout=1)
    with pytest.raises(EmbeddedS3Error, match=expected):
        server.start()
    assert server.pid is None  # nothing left running
    assert EmbeddedS3.running(tmp_path / "data") is None


def crash(server: EmbeddedS3) -> None:
    """SIGKILL weed's whole process group, as a crash would: no clean shutdown, endpoint.json left behind."""
    assert server._proc is not None
    os.killpg(server._proc.pid, signal.SIGKILL)
    server._proc.wait()
    server._proc = None


def used_store(server: EmbeddedS3) -> S3Store:
    """A store with traffic on it, so the crashed instance leaves connections in TIME_WAIT on its ports."""
    store = store_on(server)
    store.ensure_bucket()
    for i in range(10):
        store.put_bytes(f"k/{i}", b"before the crash")
    return store


def test_a_crashed_store_restarts_at_once_on_its_fixed_port(tmp_path: Path) -> None:
    port = _pick_base()
    server = EmbeddedS3(tmp_path / "fv", port=port).start()
    used_store(server)
    crash(server)

    with EmbeddedS3(tmp_path / "fv", port=port, port_wait=0) as again:  # no waiting: the ports are free to listen
        assert again.endpoint_url == f"http://127.0.0.1:{port}"
        assert store_on(again).get_bytes("k/9") == b"before the crash"


def test_a_crashed_store_comes_back_on_the_same_endpoint(tmp_path: Path) -> None:
    server = EmbeddedS3(tmp_path / "fv").start()
    endpoint = server.endpoint_url
    used_store(server)
    crash(server)

    with EmbeddedS3(tmp_path / "fv") as again:
        assert again.endpoint_url == endpoint and again.start_notes == []
        assert store_on(again).get_bytes("k/0") == b"before the crash"


def test_a_restart_whose_old_ports_are_taken_moves_and_says_so(tmp_path: Path, caplog) -> None:
    server = EmbeddedS3(tmp_path / "fv").start()
    old_port = int(server.endpoint_url.rsplit(":", 1)[1])
    crash(server)

    with socket.socket() as squatter:
        squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # its start-up probe left TIME_WAITs
        squatter.bind(("127.0.0.1", old_port))
        squatter.listen()
        with EmbeddedS3(tmp_path / "fv") as again:
            assert again.endpoint_url != server.endpoint_url
            assert EmbeddedS3.running(tmp_path / "fv").endpoint_url == again.endpoint_url
            (note,) = again.start_notes
            assert f"ports {old_port}-" in note and f"instead (endpoint {again.endpoint_url})" in note
            assert note in caplog.text


def test_a_fixed_port_still_held_is_waited_for_and_the_wait_is_said(tmp_path: Path) -> None:
    port = _pick_base()
    holder = socket.socket()
    holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    holder.bind(("127.0.0.1", port))
    holder.listen()
    releaser = threading.Timer(1.0, holder.close)  # the crashed process finally lets go of its port
    releaser.start()
    try:
        with EmbeddedS3(tmp_path / "fv", port=port, port_wait=60) as server:
            assert server.endpoint_url == f"http://127.0.0.1:{port}"
            (note,) = server.start_notes
            assert note.startswith("waited ") and f"for ports {port}-" in note
    finally:
        releaser.cancel()
        holder.close()


def _weed_of_a_killed_owner(data_dir: Path, dies_with_parent: bool) -> int:
    """Start a server from a child process, SIGKILL that child (no atexit, no cleanup) and return weed's pid."""
    script = (
        "import sys, time; from pathlib import Path; from feedvault.store.seaweed import EmbeddedS3\n"
        f"server = EmbeddedS3(Path({str(data_dir)!r}), dies_with_parent={dies_with_parent}).start()\n"
        "print(server.pid, flush=True); time.sleep(600)\n"
    )
    owner = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        weed = int(owner.stdout.readline())  # type: ignore[union-attr]
    finally:
        owner.kill()
        owner.wait()
    return weed


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
def test_a_server_that_dies_with_its_parent_does_not_outlive_a_killed_owner(tmp_path: Path) -> None:
    bound = _weed_of_a_killed_owner(tmp_path / "bound", dies_with_parent=True)
    unbound = _weed_of_a_killed_owner(tmp_path / "unbound", dies_with_parent=False)
    try:
        deadline = time.monotonic() + 30  # the kernel's signal is immediate; a wait, not a speed check
        while _alive(bound) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not _alive(bound)
        assert _alive(unbound)  # the default (the shared embedded store's lifetime rule): it lives on for its users
    finally:
        for pid in (bound, unbound):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)  # weed leads its own process group
