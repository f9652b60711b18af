"""One storage target (feedvault.store.target): which of the Airflow connection (read by the Amazon provider's
AwsConnectionWrapper), the registry, the environment and the embedded store names the archive, and the embedded
store's one lifetime rule, against real connections (``AIRFLOW_CONN_*``) and a real SeaweedFS."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from itertools import combinations
from pathlib import Path
from typing import Any

import pytest

from feedvault.config import StorageSettings
from feedvault.store.seaweed import EmbeddedS3
from feedvault.store.target import open_archive, resolve_target, stop_embedded
from tests.support.crawl import REPO, crawl_env, write_registry
from tests.support.s3 import fresh_archive

UNREACHABLE = "http://127.0.0.1:9"
CONN_ID = "feedvault_s3"
SOURCES = ("connection", "registry", "environment", "embedded")
PRECEDENCE = (
    "connection",
    "embedded",
    "registry",
    "environment",
)  # the first present wins (registry: embedded, then its endpoint)
CASES = [(s,) for s in SOURCES] + list(combinations(SOURCES, 2))


def connection(credentials: Any, extra: dict[str, Any], **fields: Any) -> str:
    conn = {"conn_type": "aws", "login": credentials.access_key_id, "password": credentials.secret_access_key}
    return json.dumps({**conn, **fields, "extra": extra})


def configure(present, winner, seaweed, tmp_path, monkeypatch) -> StorageSettings:
    """Each present source names an endpoint: the winner's is the real SeaweedFS, the others' answer nothing."""
    storage, _store = fresh_archive(seaweed)
    monkeypatch.delenv("FEEDVAULT_S3_ENDPOINT_URL", raising=False)
    for name in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", f"AIRFLOW_CONN_{CONN_ID.upper()}"):
        monkeypatch.delenv(name, raising=False)
    for name, value in seaweed.credentials.env().items():  # boto3's chain, for the registry and environment
        monkeypatch.setenv(name, value)

    def endpoint(source: str) -> str:
        return seaweed.endpoint_url if source == winner else UNREACHABLE

    if "connection" in present:
        extra = {"endpoint_url": endpoint("connection")}
        monkeypatch.setenv(f"AIRFLOW_CONN_{CONN_ID.upper()}", connection(seaweed.credentials, extra))
    if "environment" in present:
        monkeypatch.setenv("AWS_ENDPOINT_URL_S3", endpoint("environment"))
    update: dict[str, Any] = {"endpoint_url": endpoint("registry") if "registry" in present else None}
    if "embedded" in present:
        update |= {"embedded": True, "data_dir": str(tmp_path / "embedded")}
    return storage.model_copy(update=update)


@pytest.mark.parametrize("present", CASES, ids=["+".join(case) for case in CASES])
def test_each_source_alone_and_each_pair_resolves_to_the_first_in_precedence(
    present, seaweed, tmp_path, monkeypatch, airflow_db
):
    winner = next(source for source in PRECEDENCE if source in present)
    storage = configure(present, winner, seaweed, tmp_path, monkeypatch)
    assert resolve_target(storage, conn_id=CONN_ID).source == winner
    try:
        with open_archive(storage, conn_id=CONN_ID) as store:  # only the winner's endpoint answers
            store.put_bytes("probe.txt", b"ok")
            assert store.get_bytes("probe.txt") == b"ok"
    finally:
        stop_embedded(tmp_path / "embedded")
    assert EmbeddedS3.running(tmp_path / "embedded") is None


def test_no_source_is_aws_and_no_connection_id_ignores_the_connection(seaweed, tmp_path, monkeypatch, airflow_db):
    storage = configure((), None, seaweed, tmp_path, monkeypatch)
    target = resolve_target(storage, conn_id=CONN_ID)
    assert (target.source, target.endpoint_url, target.credentials) == ("aws", None, None)
    monkeypatch.setenv(f"AIRFLOW_CONN_{CONN_ID.upper()}", connection(seaweed.credentials, {"endpoint_url": "x"}))
    assert resolve_target(storage).source == "aws"  # the CLI names no connection


def test_the_connection_is_read_as_the_amazon_provider_reads_it(seaweed, monkeypatch, airflow_db):
    """service_config.s3.endpoint_url before endpoint_url (the provider's order, the opposite of our old parser);
    keys from the extra when login/password are empty; region_name from the extra."""
    storage, _store = fresh_archive(seaweed)
    creds = seaweed.credentials
    extra = {
        "endpoint_url": UNREACHABLE,
        "service_config": {"s3": {"endpoint_url": seaweed.endpoint_url}},
        "aws_access_key_id": creds.access_key_id,
        "aws_secret_access_key": creds.secret_access_key,
        "region_name": "eu-west-1",
    }
    conn = json.dumps({"conn_type": "aws", "extra": extra})
    monkeypatch.setenv(f"AIRFLOW_CONN_{CONN_ID.upper()}", conn)
    monkeypatch.delenv("AWS_ACCESS_KEY_ID", raising=False)
    target = resolve_target(storage.model_copy(update={"endpoint_url": None}), conn_id=CONN_ID)
    assert (target.source, target.endpoint_url, target.storage.region) == (
        "connection",
        seaweed.endpoint_url,
        "eu-west-1",
    )
    assert target.credentials is not None and target.credentials.access_key_id == creds.access_key_id
    assert creds.secret_access_key not in repr(target)
    with open_archive(storage, target=target) as store:
        store.put_bytes("probe.txt", b"ok")


def test_a_connection_without_endpoint_cannot_serve_an_embedded_registry(seaweed, tmp_path, monkeypatch, airflow_db):
    from feedvault.config import ConfigError

    embedded = StorageSettings(uri="s3://feedvault/archive", embedded=True, data_dir=str(tmp_path / "store"))
    monkeypatch.setenv(f"AIRFLOW_CONN_{CONN_ID.upper()}", connection(seaweed.credentials, {}))
    with pytest.raises(ConfigError, match="no endpoint_url"):
        resolve_target(embedded, conn_id=CONN_ID)


def test_a_child_gets_the_resolved_target_by_environment_only(seaweed, monkeypatch, airflow_db):
    """The connection's keys replace the worker's, the endpoint travels in the environment (never the argv), other
    Airflow secrets are dropped (the crawl runner takes it as given: test_airflow_dags checks it end to end)."""
    storage, _store = fresh_archive(seaweed)
    extra = {"endpoint_url": seaweed.endpoint_url}
    monkeypatch.setenv(f"AIRFLOW_CONN_{CONN_ID.upper()}", connection(seaweed.credentials, extra))
    target = resolve_target(storage.model_copy(update={"endpoint_url": UNREACHABLE}), conn_id=CONN_ID)
    base = {"PATH": "/bin", "AWS_ACCESS_KEY_ID": "worker-key", "AIRFLOW_CONN_OTHER": "x", "AIRFLOW_VAR_TOKEN": "y"}
    child = target.child_env(base)
    assert child["FEEDVAULT_S3_ENDPOINT_URL"] == seaweed.endpoint_url
    assert child["AWS_ACCESS_KEY_ID"] == seaweed.credentials.access_key_id
    assert "AIRFLOW_CONN_OTHER" not in child and "AIRFLOW_VAR_TOKEN" not in child


# -- the embedded store's lifetime ----------------------------------------------------------------------------
HOLDER = """
import sys
from pathlib import Path
from feedvault.store.target import embedded_lease
with embedded_lease(Path(sys.argv[1])) as running:
    print(running.pid, flush=True)
    sys.stdin.readline()
"""


def user(data_dir: Path) -> tuple[subprocess.Popen[str], int]:
    """A process using the embedded store until its stdin closes; (the process, the store's pid it got)."""
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(data_dir)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=crawl_env(None),
        cwd=REPO,
    )
    assert proc.stdout is not None
    return proc, int(proc.stdout.readline())


def leave(proc: subprocess.Popen[str]) -> None:
    assert proc.stdin is not None
    proc.stdin.close()
    assert proc.wait(timeout=60) == 0


def test_the_embedded_store_runs_while_anyone_uses_it_and_the_last_user_stops_it(tmp_path):
    data_dir = tmp_path / "data"
    try:
        first, pid = user(data_dir)  # starts it
        second, again = user(data_dir)  # reuses it
        assert again == pid
        leave(first)  # its starter leaves: the other user still has it
        running = EmbeddedS3.running(data_dir)
        assert running is not None and running.pid == pid
        leave(second)  # the last user out stops it
        assert EmbeddedS3.running(data_dir) is None
    finally:
        stop_embedded(data_dir)


def test_a_cli_command_stops_the_store_it_started_but_not_a_pinned_one(tmp_path):
    data_dir = tmp_path / "data"
    storage = StorageSettings(uri="s3://feedvault/archive", embedded=True, data_dir=str(data_dir))
    registry = write_registry(tmp_path / "feeds.yaml", storage, [])

    def feedvault(*args: str) -> None:
        command = [sys.executable, "-m", "feedvault.cli", "--registry", str(registry), *args]
        proc = subprocess.run(command, env=crawl_env(None), cwd=REPO, capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, proc.stderr[-2000:]

    try:
        feedvault("runs")
        assert EmbeddedS3.running(data_dir) is None
        feedvault("store", "start")
        feedvault("runs")
        assert EmbeddedS3.running(data_dir) is not None
    finally:
        stop_embedded(data_dir)


def test_an_airflow_run_leases_the_embedded_store_and_leaves_it_stopped(tmp_path, site_server, airflow_db, monkeypatch):
    """Without a connection, an embedded registry's tasks share the embedded store (each holds it while it runs,
    its crawl subprocess included) and the run leaves no store running: the last task out stopped it."""
    from tests.support.airflow import load_dag
    from tests.test_airflow_dags import demo_feeds

    server = site_server("demo")
    data_dir = tmp_path / "data"
    storage = StorageSettings(uri=f"s3://t{uuid.uuid4().hex[:12]}/archive", embedded=True, data_dir=str(data_dir))
    registry = write_registry(tmp_path / "feeds.yaml", storage, demo_feeds(server.base_url)[:1])
    monkeypatch.setenv("FEEDVAULT_REGISTRY", str(registry))
    monkeypatch.setenv("FEEDVAULT_LOOPBACK_ONLY", "1")
    monkeypatch.delenv(f"AIRFLOW_CONN_{CONN_ID.upper()}", raising=False)
    for name in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "FEEDVAULT_S3_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)
    try:
        dag_run = load_dag().test(run_conf=None)
        assert dag_run.state == "success"
        assert EmbeddedS3.running(data_dir) is None
        with open_archive(storage) as store:  # what the run archived is there
            assert [o.key for o in store.list("runs/") if o.key.endswith("/manifest.json")]
        assert EmbeddedS3.running(data_dir) is None
    finally:
        stop_embedded(data_dir)


def test_an_airflow_task_loads_the_registry_once(tmp_path, monkeypatch, airflow_db):
    """The task's process parses the DAG file (which reads the registry) and then runs the task body: both get
    the same loaded registry while its file is unchanged; a changed file is read again."""
    from feedvault.airflow import tasks
    from tests.support.airflow import load_dag

    registry = write_registry(tmp_path / "feeds.yaml", StorageSettings(uri="s3://bucket/archive"), [])
    monkeypatch.setenv("FEEDVAULT_REGISTRY", str(registry))
    from feedvault.airflow.settings import _LOADED

    load_dag()
    [(_source, parsed)] = [entry for path, entry in _LOADED.items() if path == str(registry)]  # the parse's
    assert tasks._registry() is parsed
    assert tasks._registry() is parsed
    write_registry(registry, StorageSettings(uri="s3://other-bucket/archive"), [])
    assert tasks._registry().settings.storage.uri == "s3://other-bucket/archive"
