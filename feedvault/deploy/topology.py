"""The one-machine process recipe (``infra/cluster/processes.yaml``) run as real processes on 127.0.0.1.

:class:`LocalCluster` starts what the recipe lists, in its order: PostgreSQL and Redis
(:mod:`feedvault.deploy.databases`), the S3 store (unless the caller gives one), ``airflow db migrate`` and the
pool, then the Airflow api-server, scheduler, dag-processor, triggerer, N Celery workers (each with its own
``--celery-hostname``, ``FEEDVAULT_WORKER_HOSTNAME``, log server port and ``TMPDIR``, as separate machines would
have) and the browse app. Each process runs in its own session with its log in ``home/logs/``; :meth:`stop`
stops them in reverse order by PID and kills whatever they started. :meth:`kill` SIGKILLs one service and
every process under it at once: a machine that dies.

``python -m feedvault.deploy.topology`` (``make cluster``) runs it in the foreground with the demo registry
and prints where to look; Ctrl-C stops everything.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

import yaml

from feedvault.deploy.databases import (
    HOST,
    PostgresServer,
    RedisServer,
    ServiceError,
    alive,
    free_port,
    log_tail,
    postgres_server,
    process_tree,
    redis_server,
)
from feedvault.store.s3_client import Credentials

REPO = Path(__file__).resolve().parents[2]
RECIPE = REPO / "infra" / "cluster" / "processes.yaml"
PLACEHOLDER = re.compile(r"\$\{([A-Z_][A-Z0-9_]*)\}")
SECRET_ENV = "FEEDVAULT_CLUSTER_"  # FEEDVAULT_CLUSTER_JWT_SECRET etc.: secrets from the environment
SECRETS = ("FERNET_KEY", "JWT_SECRET", "API_SECRET_KEY", "BROWSE_TOKEN")
READY_TIMEOUT = 300.0
STOP_TIMEOUT = 30.0


@dataclass(frozen=True)
class Recipe:
    """The parsed process recipe: settings every Airflow process gets, services in start order."""

    settings: dict[str, str]
    services: dict[str, dict[str, Any]]

    @classmethod
    def load(cls, path: Path = RECIPE) -> Recipe:
        data = yaml.safe_load(path.read_text())
        return cls(settings={k: str(v) for k, v in data["settings"].items()}, services=data["services"])


def fill(template: str, values: Mapping[str, str]) -> str:
    """Replace every ``${NAME}``; a name without a value is an error naming it."""

    def value(match: re.Match[str]) -> str:
        if match.group(1) not in values:
            raise ServiceError(f"process recipe: no value for ${{{match.group(1)}}}")
        return str(values[match.group(1)])

    return PLACEHOLDER.sub(value, template)


def fernet_key() -> str:
    from cryptography.fernet import Fernet

    return Fernet.generate_key().decode()


@dataclass
class S3Endpoint:
    """The S3 store the workers write to (the ``feedvault_s3`` connection)."""

    endpoint_url: str
    credentials: Credentials

    def connection(self) -> str:
        import json

        return json.dumps(
            {
                "conn_type": "aws",
                "login": self.credentials.access_key_id,
                "password": self.credentials.secret_access_key,
                "extra": {"endpoint_url": self.endpoint_url},
            }
        )


@dataclass
class Process:
    name: str
    popen: subprocess.Popen[bytes]
    log: Path
    spec: dict[str, Any]
    values: Mapping[str, str]
    extra: Mapping[str, str]


@dataclass
class LocalCluster:
    """The recipe's services on this machine. ``s3`` given: use it instead of starting SeaweedFS."""

    home: Path
    registry: Path
    s3: S3Endpoint | None = None
    workers: int = 2
    worker_concurrency: int = 1
    pool_slots: int = 2
    skip: tuple[str, ...] = ()  # services not to start (the tests skip the triggerer and the browse app)
    overrides: dict[str, str] = field(default_factory=dict)  # extra settings (tests: faster heartbeats)
    recipe: Recipe = field(default_factory=Recipe.load)
    processes: list[Process] = field(default_factory=list)
    values: dict[str, str] = field(default_factory=dict)
    postgres: PostgresServer | None = None
    redis: RedisServer | None = None
    _stack: contextlib.ExitStack = field(default_factory=contextlib.ExitStack)

    # -- values

    def _base_values(self) -> dict[str, str]:
        api_port, browse_port = free_port(), free_port()
        values = {
            "BIND_HOST": HOST,
            "API_PORT": str(api_port),
            "API_URL": f"http://{HOST}:{api_port}",
            "BROWSE_PORT": str(browse_port),
            "BROWSE_URL": f"http://{HOST}:{browse_port}",
            "WORKERS": str(self.workers),
            "WORKER_CONCURRENCY": str(self.worker_concurrency),
            "PARALLELISM": str(max(4, self.workers * self.worker_concurrency + 2)),
            "POOL_SLOTS": str(self.pool_slots),
            "DAGS_FOLDER": str(REPO / "dags"),
            "PLUGINS_FOLDER": str(REPO / "infra" / "plugins"),
            "LOG_FOLDER": str(self.home / "airflow-logs"),
            "REGISTRY": str(self.registry),
            "ALL_ADMINS": "True",  # loopback only: every user of this UI is admin
            "HEARTBEAT_TIMEOUT": "300",
        }
        for name in SECRETS:
            values[name] = os.environ.get(SECRET_ENV + name) or (
                fernet_key() if name == "FERNET_KEY" else secrets.token_urlsafe(24)
            )
        return values

    def airflow_env(self, extra: Mapping[str, str] = ()) -> dict[str, str]:
        """The environment of an Airflow process: the recipe's settings filled in, plus ``overrides``."""
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW_", "AIRFLOW__"))}
        env.update({k: fill(v, self.values) for k, v in self.recipe.settings.items()})
        env.update(self.overrides)
        env.update(extra)
        env["AIRFLOW_HOME"] = str(self.home / "airflow")
        env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
        return env

    # -- lifecycle

    def start(self) -> LocalCluster:
        self.home.mkdir(parents=True, exist_ok=True)
        (self.home / "logs").mkdir(exist_ok=True)
        self.values = self._base_values()
        try:
            for name, spec in self.recipe.services.items():
                if name not in self.skip:
                    self._start_service(name, spec)
        except BaseException:
            self.stop()
            raise
        return self

    def _start_service(self, name: str, spec: dict[str, Any]) -> None:
        if "builtin" in spec:
            self._start_builtin(spec["builtin"])
        elif "once" in spec:
            for command in spec["once"]:
                self._run_once(name, [fill(str(part), self.values) for part in command])
        elif "replicas" in spec:
            for index in range(1, int(fill(str(spec["replicas"]), self.values)) + 1):
                self._start_replica(name, spec, index)
        else:
            self._launch(
                name, spec, self.values, {k: fill(str(v), self.values) for k, v in spec.get("settings", {}).items()}
            )

    def _start_builtin(self, kind: str) -> None:
        base = self.home / "servers"
        base.mkdir(exist_ok=True)
        if kind == "postgres":
            self.postgres = self._stack.enter_context(postgres_server(base))
            self.postgres.create_database("airflow")
            self.postgres.create_database("feedvault_catalog")
            self.values.update(
                POSTGRES_PASSWORD=self.postgres.password, POSTGRES_ADDRESS=f"{HOST}:{self.postgres.port}"
            )
        elif kind == "redis":
            self.redis = self._stack.enter_context(redis_server(base))
            self.values.update(REDIS_PASSWORD=self.redis.password, REDIS_ADDRESS=f"{HOST}:{self.redis.port}")
        elif kind == "seaweedfs":
            if self.s3 is None:
                self.s3 = self._stack.enter_context(_seaweedfs(self.home / "s3", self.registry))
            self.values.update(
                S3_CONNECTION=self.s3.connection(),
                S3_ENDPOINT_URL=self.s3.endpoint_url,
                S3_ACCESS_KEY_ID=self.s3.credentials.access_key_id,
                S3_SECRET_ACCESS_KEY=self.s3.credentials.secret_access_key,
            )
        else:
            raise ServiceError(f"process recipe: unknown builtin service {kind!r}")

    def _start_replica(self, name: str, spec: dict[str, Any], index: int) -> None:
        values = {
            **self.values,
            "WORKER_NAME": f"{name}-{index}",
            "WORKER_LOG_PORT": str(free_port()),
        }
        tmpdir = self.home / "tmp" / f"{name}-{index}"  # short: the forkserver's socket lives in it
        tmpdir.mkdir(parents=True, exist_ok=True)
        own = {**spec.get("settings", {}), **spec.get("one_machine_settings", {})}
        extra = {k: fill(str(v), values) for k, v in own.items()}
        self._launch(f"{name}-{index}", spec, values, {**extra, "TMPDIR": str(tmpdir)})

    def _run_once(self, name: str, command: list[str]) -> None:
        log = self.home / "logs" / f"{name}.log"
        with open(log, "ab") as out:
            code = subprocess.run(command, env=self.airflow_env(), stdout=out, stderr=subprocess.STDOUT).returncode
        if code != 0:
            raise ServiceError(f"{name}: {' '.join(command[:3])} exited with {code}:\n{log_tail(log)}")

    def _launch(
        self,
        name: str,
        spec: dict[str, Any],
        values: Mapping[str, str],
        extra: Mapping[str, str],
        settings: Mapping[str, str] | None = None,
    ) -> None:
        """Start one long-running process; ``extra``: its own settings, ``settings``: this start's only."""
        command = [fill(str(part), values) for part in spec["command"]]
        log = self.home / "logs" / f"{name}.log"
        with open(log, "ab") as out:
            popen = subprocess.Popen(
                command,
                env=self.airflow_env({**extra, **(settings or {})}),
                cwd=self.home,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        self.processes.append(Process(name, popen, log, spec, values, extra))
        if "ready" in spec:
            self._wait_ready(self.processes[-1], fill(str(spec["ready"]), values))

    def _wait_ready(self, process: Process, url: str) -> None:
        deadline = time.monotonic() + READY_TIMEOUT
        while time.monotonic() < deadline:
            if process.popen.poll() is not None:
                raise ServiceError(f"{process.name} exited with {process.popen.returncode}:\n{log_tail(process.log)}")
            if _answers(url):
                return
            time.sleep(1)
        raise ServiceError(f"{process.name} did not answer {url} in {READY_TIMEOUT:.0f} s:\n{log_tail(process.log)}")

    def process(self, name: str) -> Process:
        [found] = [p for p in self.processes if p.name == name]
        return found

    def kill(self, name: str) -> set[int]:
        """SIGKILL service ``name`` and everything under it at once (frozen first, so nothing escapes)."""
        return freeze_and_kill(self.process(name).popen.pid)

    def restart(self, name: str, **settings: str) -> Process:
        """Stop service ``name`` and start it again, with ``settings`` on top of its own (none: as it was)."""
        old = self.process(name)
        _terminate(old)
        self.processes.remove(old)
        self._launch(name, old.spec, old.values, old.extra, settings)
        return self.process(name)

    def stop(self) -> None:
        """Stop every process in reverse start order by PID (SIGTERM, then SIGKILL), then the servers."""
        for process in reversed(self.processes):
            _terminate(process)
        self.processes.clear()
        self._stack.close()

    def __enter__(self) -> LocalCluster:
        return self.start()

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.stop()


def _answers(url: str) -> bool:
    """Any HTTP answer (even 401) means the server is up."""
    try:
        with urllib.request.urlopen(url, timeout=5):  # loopback only
            return True
    except urllib.error.HTTPError:
        return True
    except OSError:
        return False


def freeze_and_kill(pid: int) -> set[int]:
    """SIGSTOP ``pid``'s whole tree until it stops changing (no process can fork away), then SIGKILL it all."""
    frozen: set[int] = set()
    while new := process_tree(pid) - frozen if alive(pid) else set():
        for each in new:
            with contextlib.suppress(ProcessLookupError):
                os.kill(each, signal.SIGSTOP)
        frozen |= new
    for each in frozen:
        with contextlib.suppress(ProcessLookupError):
            os.kill(each, signal.SIGKILL)
    deadline = time.monotonic() + STOP_TIMEOUT  # SIGKILL is delivered asynchronously: wait until they are gone
    while any(alive(each) for each in frozen) and time.monotonic() < deadline:
        time.sleep(0.1)
    return frozen


def _terminate(process: Process) -> None:
    tree = process_tree(process.popen.pid)
    if process.popen.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.popen.pid, signal.SIGTERM)  # its session: Celery's pool, uvicorn's workers
        try:
            process.popen.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            freeze_and_kill(process.popen.pid)
            process.popen.wait(timeout=STOP_TIMEOUT)
    deadline = time.monotonic() + STOP_TIMEOUT
    while (left := {p for p in tree if alive(p)}) and time.monotonic() < deadline:
        time.sleep(0.2)
    for pid in left:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


@contextlib.contextmanager
def _seaweedfs(data_dir: Path, registry: Path) -> Iterator[S3Endpoint]:
    """The recipe's S3 store on this machine: the SeaweedFS cluster of infra/seaweedfs-cluster/ (master, two
    volume servers with replication 001, filer, S3 gateway), with the registry's bucket created."""
    from feedvault.config import load_registry
    from feedvault.store.backends import S3Store, open_store
    from feedvault.store.seaweed_cluster import SeaweedCluster

    with SeaweedCluster(data_dir) as cluster:
        storage = load_registry(registry).settings.storage.model_copy(update={"endpoint_url": cluster.endpoint_url})
        store = open_store(storage, cluster.credentials)
        if isinstance(store, S3Store):
            store.ensure_bucket()
        yield S3Endpoint(cluster.endpoint_url, cluster.credentials)


# -- make cluster ------------------------------------------------------------------------------------------------
def demo_registry(home: Path, demo_url: str) -> Path:
    """The bundled demo registry's feeds, archived into the cluster's S3 store (bucket ``feedvault``)."""
    from feedvault.config import BUNDLED_REGISTRY, parse_registry

    bundled = parse_registry(yaml.safe_load(BUNDLED_REGISTRY.read_text()), env={"FEEDVAULT_DEMO_URL": demo_url})
    settings = bundled.settings.model_dump(mode="json", exclude_defaults=True)
    settings["storage"] = {"uri": "s3://feedvault/archive", "embedded": False, "data_dir": str(home / "data")}
    settings["catalog"] = {"uri": "${FEEDVAULT_CATALOG_URI:-}"}  # the cluster's shared catalog (PostgreSQL)
    feeds = [f.model_dump(mode="json", exclude_defaults=True) for f in bundled.feeds]
    path = home / "feeds.yaml"
    path.write_text(yaml.safe_dump({"settings": settings, "feeds": feeds}, sort_keys=False))
    return path


def where_to_look(cluster: LocalCluster, demo_url: str) -> str:
    v = cluster.values
    workers = ", ".join(p.name for p in cluster.processes if p.name.startswith("worker-"))
    return (
        f"Airflow UI:       {v['API_URL']}   (every user is admin: loopback only)\n"
        f"Run it now:       the Trigger button of feedvault_nightly; the tasks go to the Celery workers {workers}\n"
        f"Archive browser:  {v['BROWSE_URL']}/?token={v['BROWSE_TOKEN']}\n"
        f"Metadata DB:      PostgreSQL on {v['POSTGRES_ADDRESS']} (database airflow), broker: Redis on {v['REDIS_ADDRESS']}\n"
        f"S3 store:         {v['S3_ENDPOINT_URL']} (bucket feedvault); demo publisher: {demo_url}\n"
        f"Logs:             {cluster.home / 'logs'} (one per process), task logs in {v['LOG_FOLDER']}\n"
        "Ctrl-C stops everything."
    )


def main(argv: list[str] | None = None) -> int:
    """``make cluster``: the process recipe in the foreground on the demo publisher; Ctrl-C stops it all."""
    import argparse

    from feedvault.demo import DEMO_SITE
    from feedvault.demo.server import SiteServer

    parser = argparse.ArgumentParser(prog="python -m feedvault.deploy.topology", description=main.__doc__)
    parser.add_argument("--home", type=Path, default=REPO / ".feedvault" / "cluster")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--registry", type=Path, help="your registry instead of the demo publisher's feeds")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    args.home.mkdir(parents=True, exist_ok=True)
    with contextlib.ExitStack() as stack:
        demo = stack.enter_context(SiteServer(DEMO_SITE))
        registry = args.registry or demo_registry(args.home, demo.base_url)
        print(f"starting the cluster in {args.home} (PostgreSQL, Redis, SeaweedFS, Airflow, {args.workers} workers)")
        cluster = stack.enter_context(LocalCluster(home=args.home, registry=registry, workers=args.workers))
        print(where_to_look(cluster, demo.base_url), flush=True)
        try:
            signal.pause()
        except KeyboardInterrupt:
            print("stopping every process of the cluster...")
    return 0


if __name__ == "__main__":
    sys.exit(main())
