"""The embedded SeaweedFS: persistence across restarts, discovery by a second process, clean failures."""

from __future__ import annotations

import json
import os
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from feedvault.config import StorageSettings
from feedvault.seaweed import EmbeddedS3, EmbeddedS3Error
from feedvault.storage import S3Store, open_store


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
            EmbeddedS3(tmp_path, port=port).start()
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
    monkeypatch.setattr("feedvault.seaweed.weed_binary", lambda: fake)
    server = EmbeddedS3(tmp_path / "data", ready_timeout=1)
    with pytest.raises(EmbeddedS3Error, match=expected):
        server.start()
    assert server.pid is None  # nothing left running
    assert EmbeddedS3.running(tmp_path / "data") is None
