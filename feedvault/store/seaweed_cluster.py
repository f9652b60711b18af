"""SeaweedFS as a cluster of separate servers on one machine: the object store of a multi-machine deployment.

``weed mini`` (feedvault/store/seaweed.py) runs every component in one process on one disk. A deployment
that must survive a lost disk runs them apart: one ``weed master`` (volume locations, replication policy), N
``weed volume`` servers (the data, each object on ``1 + last digit of the replication`` of them), one ``weed
filer`` (names to chunks) and one ``weed s3`` gateway, the endpoint feedvault talks to like any external S3.

:class:`SeaweedCluster` starts exactly that on 127.0.0.1 (free ports, telemetry off, each server its own
process, stopped by PID), with ``-defaultReplication=001`` by default: every object on two volume servers, so
losing one loses nothing (while one of two is down, writes fail until it is back: a write needs both copies).
The tests use it; ``python -m feedvault.store.seaweed_cluster --data-dir DIR`` (infra/seaweedfs-cluster/) runs
it in the foreground. On several machines, run the same commands (``SeaweedCluster.commands()``) with each
host's address instead of 127.0.0.1.

Layout of ``data_dir``::

    s3-credentials.json   generated once (mode 0600); s3-config.json: the identity file the gateway reads
    cluster.lock          flock held while it runs: one cluster per directory
    cluster.json          endpoint, ports and PIDs of the running cluster
    master/ volume-1/ ... filer/   each server's data
    logs/<name>.out       each server's log
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import fcntl
import json
import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import IO, Any

from feedvault.config import StorageSettings
from feedvault.store.s3_client import Credentials
from feedvault.store.seaweed import (
    GRPC_OFFSET,
    HOST,
    EmbeddedS3Error,
    _block_free,
    _pick_base,
    _write_private,
    load_or_create_credentials,
    wait_writable,
    weed_binary,
    write_identity_config,
)

DEFAULT_REPLICATION = "001"  # xyz: copies in other data centres, other racks, other servers of the same rack
VOLUME_SIZE_LIMIT_MB = 1024  # weed's default is 30 GB a volume; each bucket grows 6 volumes at once
VOLUMES_PER_SERVER = 100


@dataclass
class Server:
    """One ``weed`` process of the cluster: its name (``master``, ``volume-1``, ``filer``, ``s3``) and argv."""

    name: str
    port: int
    args: list[str]
    proc: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None and self.proc.poll() is None else None


def replica_count(replication: str) -> int:
    """How many copies of each object a SeaweedFS replication string asks for ("001" -> 2)."""
    if not re.fullmatch(r"[0-9]{3}", replication):
        raise ValueError(f"replication {replication!r} is not three digits (xyz, e.g. 001)")
    return 1 + sum(int(d) for d in replication)


class SeaweedCluster:
    """Start/stop a master, ``volume_servers`` volume servers, a filer and an S3 gateway on 127.0.0.1."""

    def __init__(
        self,
        data_dir: Path,
        *,
        volume_servers: int = 2,
        replication: str = DEFAULT_REPLICATION,
        port: int | None = None,
        ready_timeout: float = 90.0,
    ) -> None:
        copies = replica_count(replication)
        if replication[:2] != "00":
            raise ValueError(f"replication {replication!r} spans racks or data centres: one machine has one rack")
        if volume_servers < copies:
            raise ValueError(
                f"replication {replication} keeps {copies} copies: "
                f"it needs at least that many volume servers, not {volume_servers}"
            )
        self.data_dir = Path(data_dir).absolute()
        self.volume_servers = volume_servers
        self.replication = replication
        self.port = port
        self.ready_timeout = ready_timeout
        self.servers: dict[str, Server] = {}
        self._lock: IO[str] | None = None

    # -- what it is

    @property
    def log_dir(self) -> Path:
        return self.data_dir / "logs"

    @property
    def credentials(self) -> Credentials:
        return load_or_create_credentials(self.data_dir / "s3-credentials.json")

    @property
    def endpoint_url(self) -> str:
        if "s3" not in self.servers:
            raise EmbeddedS3Error("the SeaweedFS cluster is not started")
        return f"http://{HOST}:{self.servers['s3'].port}"

    @property
    def master_url(self) -> str:
        return f"http://{HOST}:{self.servers['master'].port}"

    @property
    def volume_names(self) -> list[str]:
        return [f"volume-{i}" for i in range(1, self.volume_servers + 1)]

    def pids(self) -> dict[str, int]:
        """The PID of every server that runs now, by name."""
        return {name: server.pid for name, server in self.servers.items() if server.pid is not None}

    def env(self) -> dict[str, str]:
        """Environment for a subprocess to use the cluster through boto3's standard configuration."""
        return {**self.credentials.env(), "AWS_ENDPOINT_URL_S3": self.endpoint_url, "AWS_DEFAULT_REGION": "us-east-1"}

    def storage_settings(self, storage: StorageSettings) -> StorageSettings:
        """``storage`` pointed at the cluster's S3 gateway."""
        return storage.model_copy(update={"endpoint_url": self.endpoint_url})

    def commands(self, base: int) -> list[Server]:
        """The servers in start order with their command lines; ports from ``base``: master, volumes, filer, s3."""
        d, master, filer = self.data_dir, base, base + 1 + self.volume_servers
        flags = {
            "master": [
                f"-mdir={d / 'master'}",
                "-peers=none",
                f"-defaultReplication={self.replication}",
                f"-volumeSizeLimitMB={VOLUME_SIZE_LIMIT_MB}",
                "-telemetry=false",
            ],
            **{
                name: [
                    f"-dir={d / name}",
                    f"-master={HOST}:{master}",
                    f"-max={VOLUMES_PER_SERVER}",
                    "-preStopSeconds=0",
                ]
                for name in self.volume_names
            },
            "filer": [f"-master={HOST}:{master}", f"-defaultStoreDir={d / 'filer'}"],
            "s3": [
                f"-filer={HOST}:{filer}",
                f"-config={d / 's3-config.json'}",
                "-autoCreateBucket=false",
                "-port.iceberg=0",
                "-port.lance=0",
            ],
        }
        common = [str(weed_binary()), "-logtostderr"]  # one log per server: logs/<name>.out
        return [
            Server(name, base + i, [*common, name.split("-")[0], *_listen(base + i), *extra])
            for i, (name, extra) in enumerate(flags.items())
        ]

    # -- life cycle

    def start(self) -> SeaweedCluster:
        """Start every server, then wait until a first PUT through the gateway succeeds."""
        if self.servers:
            return self
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._take_lock()
        try:
            base = self._base()
            write_identity_config(self.data_dir / "s3-config.json", self.credentials)
            self.log_dir.mkdir(exist_ok=True)
            for name in ("master", *self.volume_names, "filer"):
                (self.data_dir / name).mkdir(exist_ok=True)
            for server in self.commands(base):
                self.servers[server.name] = server
                self._launch(server)
            wait_writable(self.endpoint_url, self.credentials, self.ready_timeout, self._exited, self.log_tail)
            _write_private(self.data_dir / "cluster.json", self._describe())
        except BaseException:
            self.stop()
            raise
        atexit.register(self.stop)
        return self

    def stop(self, timeout: float = 15.0) -> None:
        """Stop each server by its PID (gateway first, master last): SIGTERM, SIGKILL after ``timeout`` s."""
        for server in reversed(list(self.servers.values())):
            _terminate(server, timeout)
        self.servers = {}
        (self.data_dir / "cluster.json").unlink(missing_ok=True)
        if self._lock is not None:
            self._lock.close()  # releases the flock
            self._lock = None
        atexit.unregister(self.stop)

    def kill(self, name: str, sig: int = signal.SIGKILL) -> int:
        """Send ``sig`` to one server (a crash, for tests) and reap it; returns its PID."""
        server = self.servers[name]
        pid = server.pid
        if pid is None or server.proc is None:
            raise EmbeddedS3Error(f"{name} is not running")
        os.kill(pid, sig)
        server.proc.wait()
        return pid

    def restart(self, name: str) -> int:
        """Start one stopped server again with its own data and port (a replaced machine); returns its PID."""
        server = self.servers[name]
        if server.pid is not None:
            raise EmbeddedS3Error(f"{name} still runs (pid {server.pid})")
        self._launch(server)
        _write_private(self.data_dir / "cluster.json", self._describe())
        assert server.proc is not None
        return server.proc.pid

    def __enter__(self) -> SeaweedCluster:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def log_tail(self, lines: int = 10) -> str:
        """The last lines of each server's output (a fatal error first: weed prints a stack trace after it)."""
        parts = []
        for name in self.servers:
            with contextlib.suppress(OSError):
                text = (self.log_dir / f"{name}.out").read_text(errors="replace").splitlines()
                fatal = [line for line in text if line.startswith("F")][:1]
                parts.append(f"--- {name} ({self.log_dir / name}.out)\n" + "\n".join(fatal + text[-lines:]))
        return "\n".join(parts) or "(no log)"

    # -- internals

    def _take_lock(self) -> None:
        lock = open(self.data_dir / "cluster.lock", "a")  # noqa: SIM115 (held for the cluster's life)
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock.close()
            raise EmbeddedS3Error(
                f"a SeaweedFS cluster already runs on {self.data_dir} (see its cluster.json); stop it first"
            ) from None
        self._lock = lock

    def _base(self) -> int:
        count = 3 + self.volume_servers
        if self.port is None:
            return _pick_base(count)
        if not _block_free(self.port, count):
            raise EmbeddedS3Error(
                f"ports {self.port}-{self.port + count - 1} (and +{GRPC_OFFSET}) on {HOST} are not all free; "
                "stop whatever listens there (`ss -ltnp`) or start without a fixed port"
            )
        return self.port

    def _launch(self, server: Server) -> None:
        # weed reads AWS_* from its environment as an extra identity: keep the parent's out of it.
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        with open(self.log_dir / f"{server.name}.out", "ab") as log:
            server.proc = subprocess.Popen(
                server.args,
                cwd=self.data_dir,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # a Ctrl-C in the terminal reaches us, and we stop each server in order
            )

    def _exited(self) -> str | None:
        for server in self.servers.values():
            if server.proc is not None and server.proc.poll() is not None:
                return f"{server.name} exited with status {server.proc.returncode} during start-up;\n{self.log_tail()}"
        return None

    def _describe(self) -> dict[str, Any]:
        return {
            "endpoint_url": self.endpoint_url,
            "master_url": self.master_url,
            "replication": self.replication,
            "servers": {n: {"port": s.port, "pid": s.pid} for n, s in self.servers.items()},
            "credentials_file": str(self.data_dir / "s3-credentials.json"),
            "started_at": time.time(),
        }


def _listen(port: int) -> list[str]:
    return [f"-ip={HOST}", f"-ip.bind={HOST}", f"-port={port}", f"-port.grpc={port + GRPC_OFFSET}"]


def _terminate(server: Server, timeout: float) -> None:
    proc, server.proc = server.proc, None
    if proc is None or proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:  # a filer whose master is gone may not exit on SIGTERM
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, signal.SIGKILL)
        proc.wait()


def main(argv: list[str] | None = None) -> int:
    """Run a cluster in the foreground until Ctrl-C or SIGTERM; print where it listens."""
    parser = argparse.ArgumentParser(
        prog="python -m feedvault.store.seaweed_cluster", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--data-dir", type=Path, default=Path(".feedvault/seaweedfs-cluster"))
    parser.add_argument("--volume-servers", type=int, default=2)
    parser.add_argument("--replication", default=DEFAULT_REPLICATION)
    parser.add_argument("--port", type=int, help="first port of the block (default: a free block)")
    args = parser.parse_args(argv)
    try:
        cluster = SeaweedCluster(
            args.data_dir, volume_servers=args.volume_servers, replication=args.replication, port=args.port
        )
    except ValueError as exc:
        parser.error(str(exc))
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        with cluster:
            print(json.dumps({**cluster._describe(), "logs": str(cluster.log_dir)}, indent=2), flush=True)
            signal.pause()
    except EmbeddedS3Error as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
