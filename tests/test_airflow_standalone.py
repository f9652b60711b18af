"""A real ``airflow standalone`` (scheduler, DAG processor, triggerer, API server; SQLite, LocalExecutor): the
DAG is unpaused and triggered through the REST API, and its run archives the demo publisher into SeaweedFS."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
import warnings
from pathlib import Path
from typing import Any

import pytest

from tests.support.airflow import (
    SQLITE_BUSY_SECONDS,
    VENV_BIN,
    airflow_config_env,
    connection_env,
    prepare_airflow_home,
)
from tests.support.crawl import write_registry
from tests.support.terminal import sigint_as_in_a_terminal
from tests.test_airflow_dags import UNREACHABLE, bucket_store, demo_feeds, keys

pytestmark = pytest.mark.slow
BROWSE_TOKEN = "browse-token-for-the-standalone-test"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Api:
    """Just enough of Airflow's REST API v2, authenticated with a token from the simple auth manager."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.token: str | None = None

    def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        headers = {"Content-Type": "application/json"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.base_url + path, data=data, headers=headers, method=method)
        # Longer than a metadata DB write may wait for SQLite's lock: the server answers, even if with a 5xx.
        with urllib.request.urlopen(request, timeout=SQLITE_BUSY_SECONDS + 30) as response:  # loopback only
            return json.loads(response.read() or b"null")

    def login(self) -> None:
        # simple_auth_manager_all_admins: a token without credentials.
        self.token = self.call("GET", "/auth/token")["access_token"]


def wait_for(what: str, probe: Any, timeout: float, log: Path) -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = probe()
            if last:
                return last
        except (OSError, urllib.error.URLError, KeyError) as exc:
            last = exc
        time.sleep(1)
    raise AssertionError(f"timed out waiting for {what} (last: {last!r})\n{log_tail(log)}")


def log_tail(log: Path) -> str:
    tail = log.read_text(errors="replace")[-5000:] if log.exists() else "(no log)"
    return f"--- standalone log tail ---\n{tail}"


def trigger(api: Api, dag_path: str, conf: dict[str, Any], log: Path) -> Any:
    """POST a manual run. Once, a 5xx (or no answer in time) that created no run is retried: a busy SQLite
    metadata DB is Airflow's transient state, not the DAG's; what the server said is kept as a warning (and in
    the failure, if it recurs)."""
    body = {"logical_date": None, "conf": conf}
    try:
        return api.call("POST", f"{dag_path}/dagRuns", body)
    except (urllib.error.URLError, TimeoutError) as exc:
        if isinstance(exc, urllib.error.HTTPError):
            said, transient = f"the trigger answered {exc.code}: {exc.read()[:2000]!r}", exc.code >= 500
        else:
            said, transient = f"the trigger got no answer in time: {exc!r}", True
        manual = api.call("GET", f"{dag_path}/dagRuns?run_type=manual")["dag_runs"]
        if not transient or manual:
            raise AssertionError(f"{said}; manual runs: {manual}\n{log_tail(log)}") from exc
    warnings.warn(said, stacklevel=1)
    time.sleep(5)
    try:
        return api.call("POST", f"{dag_path}/dagRuns", body)
    except urllib.error.HTTPError as exc:
        raise AssertionError(f"{said}, and again {exc.code}: {exc.read()[:2000]!r}\n{log_tail(log)}") from exc


@pytest.fixture
def standalone(tmp_path: Path, site_server: Any, seaweed: Any):
    """A running ``airflow standalone`` in its own home and ports; stopped by its process group."""
    demo = site_server("demo")
    storage, store = bucket_store(seaweed, UNREACHABLE)
    registry = write_registry(tmp_path / "feeds.yaml", storage, demo_feeds(demo.base_url))
    home = tmp_path / "airflow"
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW_", "AIRFLOW__"))}
    env.update(
        airflow_config_env(home, parallelism=4),
        AIRFLOW__API__HOST="127.0.0.1",
        AIRFLOW__API__PORT=str(port),
        AIRFLOW__API__BASE_URL=f"http://127.0.0.1:{port}",
        AIRFLOW__CORE__EXECUTION_API_SERVER_URL=f"http://127.0.0.1:{port}/execution/",
        AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS="True",
        AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT=str(free_port()),
        AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT=str(free_port()),
        AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL="5",
        AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC="2",
        FEEDVAULT_REGISTRY=str(registry),
        FEEDVAULT_DEMO_URL=demo.base_url,
        FEEDVAULT_LOOPBACK_ONLY="1",
        FEEDVAULT_BROWSE_TOKEN=BROWSE_TOKEN,
        FEEDVAULT_BROWSE_CATALOG_DIR=str(tmp_path / "browse-catalog"),
        **connection_env(seaweed.credentials, seaweed.endpoint_url),
    )
    home.mkdir()
    prepare_airflow_home(env)
    log = tmp_path / "standalone.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [str(VENV_BIN / "airflow"), "standalone"],
            env=env,
            cwd=tmp_path,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # setsid: its own process group, so one signal reaches all ~12 processes
        )
    api = Api(f"http://127.0.0.1:{port}")
    try:
        # generous: on a busy 2-core machine the API server alone has taken over 120 s to start (a wait, not a speed check)
        wait_for("the API server", lambda: api.call("GET", "/api/v2/monitor/health"), 420, log)
        api.login()
        yield api, store, home, log, seaweed.credentials.secret_access_key
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def test_standalone_runs_the_dag_triggered_through_the_rest_api(standalone):
    api, store, home, log, secret = standalone
    dag_path = "/api/v2/dags/feedvault_nightly"
    wait_for("the DAG to be parsed", lambda: api.call("GET", dag_path)["dag_id"], 300, log)
    # As documented: the local recipe ships the DAG unpaused, so a REST trigger runs without unpausing it first.
    assert api.call("GET", dag_path)["is_paused"] is False
    run = trigger(api, dag_path, {"feeds": ["demo-en", "demo-id"], "force": True}, log)
    run_path = f"{dag_path}/dagRuns/{run['dag_run_id']}"

    def finished() -> str | None:
        state = api.call("GET", run_path)["state"]
        return state if state in ("success", "failed") else None

    state = wait_for("the DAG run to finish", finished, 300, log)
    tasks = api.call("GET", f"{run_path}/taskInstances")["task_instances"]
    states = {(t["task_id"], t["map_index"], t.get("rendered_map_index")): t["state"] for t in tasks}
    assert state == "success", states
    assert {k[2] for k in states if k[0] == "archive_feed"} == {"demo-en", "demo-id"}  # mapped tasks named by feed

    # The run's asset event names its feedvault run; that run's partition holds exactly the requested feeds.
    # (Unpausing also starts the latest nightly run, catchup=False; max_active_runs=1 queues ours behind it, and
    # force makes ours fetch every article again, due or not: what that run archived is now `unchanged`.)
    events = api.call("GET", "/api/v2/assets/events?source_dag_id=feedvault_nightly")["asset_events"]
    [extra] = [e["extra"] for e in events if e["source_run_id"] == run["dag_run_id"]]
    run_id = extra["run_id"]
    assert extra["status"] == "ok" and extra["feeds"] == ["demo-en", "demo-id"]
    assert extra["manifest_key"] in keys(store, "runs/")
    feed_manifests = [k for k in keys(store, "runs/") if f"/{run_id}/feeds/" in k]
    assert {k.rsplit("/", 1)[1].removesuffix(".json") for k in feed_manifests} == {"demo-en", "demo-id"}
    for key in feed_manifests:  # every article fetched (force): none `not-due`; identical ones not `changed`
        outcomes = json.loads(store.get_bytes(key))["urls"]
        wrong = [o for o in outcomes if o["outcome"] in ("changed", "failed") or o.get("reason") == "not-due"]
        assert outcomes and not wrong, wrong
    clean = [k for k in keys(store, "clean/") if f"/{run_id}-" in k]  # the run's clean segments
    assert {k.split("/")[1] for k in clean} <= {"demo-en", "demo-id"}

    # Real task logs are files here: Scrapy's output is in them at INFO, and the secret is not.
    logs = "".join(p.read_text(errors="replace") for p in (home / "logs").rglob("*") if p.is_file())
    assert '"event":"crawler: ' in logs and "Spider closed" in logs
    assert '"level":"error","event":"crawler:' not in logs
    assert secret not in logs


def test_archive_browser_in_airflow_takes_its_token_and_is_in_the_menu(standalone):
    api, _store, _home, log, _secret = standalone
    plugins = api.call("GET", "/api/v2/plugins")["plugins"]
    views = [v for p in plugins if p["name"] == "feedvault_browse" for v in p.get("external_views", [])]
    assert [(v["href"], v["destination"]) for v in views] == [("/feedvault/", "nav")], plugins

    def feeds(authorization: str) -> int:
        request = urllib.request.Request(
            api.base_url + "/feedvault/api/v1/feeds", headers={"Authorization": authorization}
        )
        try:
            with urllib.request.urlopen(request, timeout=60) as response:  # loopback only
                return response.status
        except urllib.error.HTTPError as exc:
            return exc.code

    assert wait_for("the archive browser", lambda: feeds(f"Bearer {BROWSE_TOKEN}") == 200, 120, log)
    assert feeds("Bearer not-the-token") == 401


# -- `make airflow` itself: infra/airflow-standalone.sh ---------------------------------------------------------
SCRIPT = Path(__file__).resolve().parents[1] / "infra" / "airflow-standalone.sh"
SCRIPT_SAYS = (  # every line the script means to print, in order; nothing of Airflow's own log
    "Airflow is starting (its log: ",
    "Airflow UI:       ",
    "Run it now:       ",
    "Archive browser:  ",
    "Demo publisher:   ",
    "Ctrl-C stops everything.",
)
SCRIPT_STOPPING = "stopping Airflow, the demo publisher and the embedded S3 store..."


def process_tree(root: int) -> set[int]:
    """``root`` and every process descending from it (by parent pid), as /proc shows them now."""
    children: dict[int, set[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            ppid = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, set()).add(int(stat.parent.name))
    found, todo = {root}, [root]
    while todo:
        for child in children.get(todo.pop(), ()):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def running(pid: int) -> bool:
    """Whether ``pid`` still runs (a zombie has finished: only its exit status waits to be collected)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def command_line(pid: int) -> str:
    with contextlib.suppress(OSError):
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")[:200]
    return "?"


class Lines:
    """The lines a process prints, read in a thread (a silent script must not hang the test)."""

    def __init__(self, stream: Any) -> None:
        import queue
        import threading

        self._got: queue.Queue[str | None] = queue.Queue()
        self._ended = False
        threading.Thread(target=self._pump, args=(stream,), daemon=True).start()

    def _pump(self, stream: Any) -> None:
        for line in stream:
            self._got.put(line.rstrip("\n"))
        self._got.put(None)

    def until(self, last: str, timeout: float) -> list[str]:
        """Lines up to the one starting with ``last``."""
        import queue

        lines: list[str] = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self._got.get(timeout=1)
            except queue.Empty:
                continue
            if line is None:
                raise AssertionError(f"the output ended before {last!r}: {lines}")
            lines.append(line)
            if line.startswith(last):
                return lines
        raise AssertionError(f"no {last!r} in {timeout:.0f} s: {lines}")

    def rest(self, timeout: float = 30) -> list[str]:
        """Every further line, once the stream has ended."""
        lines = []
        while (line := self._got.get(timeout=timeout)) is not None:
            lines.append(line)
        return lines


def test_make_airflow_is_quiet_prints_the_browse_link_and_ctrl_c_stops_everything(tmp_path: Path):
    """`make airflow` runs infra/airflow-standalone.sh: its output is its own few lines (Airflow's log goes to a
    file), it prints the archive browser's link with a generated token, and Ctrl-C (SIGINT to its process group,
    as a terminal sends it) exits 0 and leaves no process behind: Airflow's, the demo publisher, the S3 store."""
    home = tmp_path / "feedvault-home"
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "FEEDVAULT_"))}
    env.update(
        FEEDVAULT_HOME=str(home),
        FEEDVAULT_DEMO_URL=f"http://127.0.0.1:{free_port()}",
        FEEDVAULT_LOOPBACK_ONLY="1",
        AIRFLOW__API__PORT=str(port),
        AIRFLOW__API__BASE_URL=f"http://127.0.0.1:{port}",
        AIRFLOW__CORE__EXECUTION_API_SERVER_URL=f"http://127.0.0.1:{port}/execution/",
        AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT=str(free_port()),
        AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT=str(free_port()),
        AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION="True",  # no nightly crawl while this test looks at the script
    )
    proc = subprocess.Popen(
        ["bash", str(SCRIPT)],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
        start_new_session=True,  # its own process group, like a job in a terminal: Ctrl-C reaches all of it
        preexec_fn=sigint_as_in_a_terminal,
    )
    seen: set[int] = set()
    out, err = Lines(proc.stdout), Lines(proc.stderr)
    try:
        said = out.until(SCRIPT_SAYS[-1], 480)  # a loaded 2-core machine starts Airflow slowly
        assert [line[: len(p)] for line, p in zip(said, SCRIPT_SAYS, strict=False)] == list(SCRIPT_SAYS), said
        assert len(said) == len(SCRIPT_SAYS), said  # and nothing else

        [link] = [line.split()[2] for line in said if line.startswith("Archive browser:")]
        token = (home / "browse-token").read_text().strip()
        assert link == f"http://127.0.0.1:{port}/feedvault/?token={token}" and len(token) >= 24
        assert (home / "browse-token").stat().st_mode & 0o077 == 0  # kept private

        def opens() -> bool:  # the link works: the app takes the token (and opens the archive: the S3 store starts)
            with urllib.request.urlopen(link, timeout=60) as response:  # loopback only
                return response.status == 200 and b"feedvault" in response.read()

        wait_for("the archive browser link", opens, 180, home / "airflow" / "standalone.log")
        seen = process_tree(proc.pid)
        # the embedded S3 store, started for the browser in a session of its own: its pid is in its endpoint file
        seen.add(int(json.loads((home / "s3" / "endpoint.json").read_text())["pid"]))
        assert len(seen) > 5, [command_line(p) for p in seen]  # Airflow's components, the demo publisher, ...

        os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C
        assert proc.wait(120) == 0
        assert out.rest() == [SCRIPT_STOPPING]
        assert err.rest() == []  # nothing on stderr either, from start to end

        deadline = time.monotonic() + 60  # processes are told to stop; give them time to finish exiting
        while any(running(pid) for pid in seen) and time.monotonic() < deadline:
            time.sleep(1)
        left = {pid: command_line(pid) for pid in seen if running(pid)}
        assert not left, f"processes left behind: {left}"
    finally:
        for pid in [proc.pid, *sorted(seen)]:  # only what this test started
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(10)
