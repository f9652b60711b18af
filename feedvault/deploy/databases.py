"""Real PostgreSQL and Redis servers on 127.0.0.1, each in its own directory, stopped by PID.

Debian's ``postgresql`` and ``redis-server`` packages (``.ci/run`` installs them). The one-machine process recipe
(``feedvault.deploy.topology``, ``make cluster``) and the tests (``tests/support/services.py``) run them:

- :func:`postgres_server`: ``initdb`` into a fresh directory, the server on a free loopback port with its Unix
  socket in that directory, password authentication over TCP; yields a :class:`PostgresServer`
  (``.dsn(dbname)``, ``.create_database(name)``, ``.sql(query)``). PostgreSQL refuses to run as root: under root
  it runs as an unprivileged user (``postgres`` if the package created it, else ``nobody``) in a directory that
  user owns (under ``/tmp`` when the given one is out of its reach).
- :func:`redis_server`: ``redis-server`` with a generated password, no persistence; yields a
  :class:`RedisServer` (``.url``, ``.url_for(db)``, ``.ping()``).

On exit each server is stopped by PID (fast shutdown, then SIGKILL), and every process it started must be gone
(:func:`process_tree`, :func:`alive`).
"""

from __future__ import annotations

import contextlib
import os
import pwd
import re
import secrets
import shutil
import signal
import socket
import stat
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

HOST = "127.0.0.1"
START_ATTEMPTS = 3  # a free port may be taken between choosing it and the server binding it: try another
READY_TIMEOUT = 90.0  # generous: the machine is shared; no test asserts on time
STOP_TIMEOUT = 30.0
UNPRIVILEGED_USERS = ("postgres", "nobody")  # the first that exists runs PostgreSQL when we are root
PG_ROLE = "feedvault"
DB_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


class ServiceError(RuntimeError):
    """A server could not be started or stopped; the message includes the tail of its log."""


# -- processes


def alive(pid: int) -> bool:
    """Whether ``pid`` is a running process (a zombie waiting to be reaped counts as gone)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False
    return state not in ("Z", "X")


def process_tree(pid: int) -> set[int]:
    """``pid`` and all its live descendants (from /proc)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(entry.name))
    tree, todo = set(), [pid]
    while todo:
        current = todo.pop()
        if current in tree or not alive(current):
            continue
        tree.add(current)
        todo.extend(children.get(current, []))
    return tree


def stop_process(proc: subprocess.Popen[bytes], stop_signal: int, name: str) -> None:
    """Stop ``proc`` by its PID with ``stop_signal``, SIGKILL it (and what it started) if it does not exit."""
    tree = process_tree(proc.pid)
    if proc.poll() is None:
        proc.send_signal(stop_signal)
        try:
            proc.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=STOP_TIMEOUT)
    deadline = time.monotonic() + STOP_TIMEOUT
    while (left := {pid for pid in tree if alive(pid)}) and time.monotonic() < deadline:
        time.sleep(0.1)
    for pid in left:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    if left:
        raise ServiceError(f"{name}: processes {sorted(left)} outlived the server and were killed")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def log_tail(path: Path, chars: int = 3000) -> str:
    try:
        return path.read_text(errors="replace")[-chars:]
    except OSError:
        return "(no log)"


# -- PostgreSQL


def postgres_bin_dir() -> Path:
    """The newest PostgreSQL server binaries installed (``$FEEDVAULT_PG_BIN`` overrides)."""
    if override := os.environ.get("FEEDVAULT_PG_BIN"):
        return Path(override)
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/postgres"), key=lambda p: int(p.parent.parent.name))
    if not found:
        raise ServiceError("PostgreSQL is not installed: apt-get install postgresql (.ci/run does)")
    return found[-1].parent


def unprivileged_user() -> pwd.struct_passwd | None:
    """Who runs PostgreSQL: ``None`` (ourselves) unless we are root, which initdb and postgres refuse."""
    if os.geteuid() != 0:
        return None
    for name in UNPRIVILEGED_USERS:
        with contextlib.suppress(KeyError):
            return pwd.getpwnam(name)
    raise ServiceError(f"running as root and none of the users {UNPRIVILEGED_USERS} exists to run PostgreSQL")


def world_traversable(path: Path) -> bool:
    """Whether any user can reach ``path`` (every directory on the way has o+x)."""
    path = path.resolve()
    return all(p.stat().st_mode & stat.S_IXOTH for p in (path, *path.parents))


def server_dir(base_dir: Path, prefix: str, user: pwd.struct_passwd | None) -> Path:
    """A fresh directory under ``base_dir`` (or /tmp when ``user`` could not reach it) owned by ``user``."""
    parent = base_dir if user is None or world_traversable(base_dir) else Path("/tmp")
    path = Path(tempfile.mkdtemp(prefix=prefix, dir=parent))
    if user is not None:
        os.chown(path, user.pw_uid, user.pw_gid)
    return path


@dataclass
class PostgresServer:
    """A running PostgreSQL server: role ``feedvault`` (superuser) with ``password``, on ``HOST:port``."""

    root: Path
    port: int
    password: str
    process: subprocess.Popen[bytes]
    bin_dir: Path
    user: str = PG_ROLE
    databases: list[str] = field(default_factory=list)

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def socket_dir(self) -> Path:
        return self.root

    @property
    def log_file(self) -> Path:
        return self.root / "postgres.log"

    def dsn(self, dbname: str = "postgres", scheme: str = "postgresql") -> str:
        """A URL for ``dbname``; ``scheme`` as the client wants it (``postgresql+psycopg2``, ``db+postgresql``)."""
        return f"{scheme}://{self.user}:{self.password}@{HOST}:{self.port}/{dbname}"

    def client_env(self) -> dict[str, str]:
        return {**os.environ, "PGPASSWORD": self.password, "PGCONNECT_TIMEOUT": "10"}

    def sql(self, query: str, dbname: str = "postgres") -> str:
        """Run ``query`` with psql over TCP; its unaligned, tuples-only output."""
        proc = subprocess.run(
            [str(self.bin_dir / "psql"), "-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-c", query, self.dsn(dbname)],
            capture_output=True,
            text=True,
            env=self.client_env(),
            timeout=60,
        )
        if proc.returncode != 0:
            raise ServiceError(f"psql failed: {proc.stderr.strip()}")
        return proc.stdout.strip()

    def create_database(self, name: str) -> str:
        """Create database ``name`` (lower-case identifier) and return its DSN."""
        if not DB_NAME.match(name):
            raise ValueError(f"database name {name!r}: use lower-case letters, digits and _ (at most 63)")
        self.sql(f'CREATE DATABASE "{name}"')
        self.databases.append(name)
        return self.dsn(name)

    def ready(self) -> bool:
        proc = subprocess.run(
            [str(self.bin_dir / "pg_isready"), "-q", "-h", HOST, "-p", str(self.port), "-U", self.user],
            env=self.client_env(),
            timeout=30,
        )
        return proc.returncode == 0


def _demote(user: pwd.struct_passwd | None) -> dict[str, object]:
    """Popen arguments running the child as ``user`` (no supplementary groups), or nothing."""
    if user is None:
        return {}
    return {"user": user.pw_uid, "group": user.pw_gid, "extra_groups": []}


def _initdb(bin_dir: Path, root: Path, password: str, user: pwd.struct_passwd | None) -> None:
    pwfile = root / "pwfile"
    pwfile.write_text(password + "\n")
    pwfile.chmod(0o600)
    if user is not None:
        os.chown(pwfile, user.pw_uid, user.pw_gid)
    proc = subprocess.run(
        [
            str(bin_dir / "initdb"),
            "-D",
            str(root / "data"),
            "-U",
            PG_ROLE,
            f"--pwfile={pwfile}",
            "--auth-local=trust",
            "--auth-host=scram-sha-256",
            "--encoding=UTF8",
            "--locale=C.UTF-8",
            "--no-sync",
        ],
        capture_output=True,
        text=True,
        cwd=root,
        timeout=300,
        **_demote(user),
    )
    pwfile.unlink()
    if proc.returncode != 0:
        raise ServiceError(f"initdb failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")


def _start_postgres(bin_dir: Path, root: Path, password: str, user: pwd.struct_passwd | None) -> PostgresServer:
    for _attempt in range(START_ATTEMPTS):
        port = free_port()
        log = root / "postgres.log"
        with open(log, "ab") as log_fh:
            if user is not None:
                os.chown(log, user.pw_uid, user.pw_gid)
            process = subprocess.Popen(
                [
                    str(bin_dir / "postgres"),
                    "-D",
                    str(root / "data"),
                    "-p",
                    str(port),
                    "-k",
                    str(root),
                    "-c",
                    f"listen_addresses={HOST}",
                    # test servers: durability is not what is under test, speed on a shared box is
                    "-c",
                    "fsync=off",
                    "-c",
                    "synchronous_commit=off",
                    "-c",
                    "full_page_writes=off",
                    "-c",
                    "max_connections=200",
                ],
                stdout=log_fh,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=root,
                start_new_session=True,
                **_demote(user),
            )
        server = PostgresServer(root=root, port=port, password=password, process=process, bin_dir=bin_dir)
        deadline = time.monotonic() + READY_TIMEOUT
        while process.poll() is None and time.monotonic() < deadline:
            if server.ready():
                return server
            time.sleep(0.2)
        if process.poll() is None:
            stop_process(process, signal.SIGKILL, "postgres")
            raise ServiceError(f"postgres did not accept connections in {READY_TIMEOUT:.0f} s:\n{log_tail(log)}")
        if "could not bind" not in log_tail(log) and "Address already in use" not in log_tail(log):
            raise ServiceError(f"postgres exited with {process.returncode}:\n{log_tail(log)}")
    raise ServiceError(f"postgres could not bind a free port in {START_ATTEMPTS} attempts:\n{log_tail(log)}")


@contextlib.contextmanager
def postgres_server(base_dir: Path) -> Iterator[PostgresServer]:
    """A fresh PostgreSQL cluster serving on 127.0.0.1; stopped (by PID) and removed on exit."""
    bin_dir = postgres_bin_dir()
    user = unprivileged_user()
    root = server_dir(Path(base_dir), "pg-", user)
    password = secrets.token_urlsafe(18)
    try:
        _initdb(bin_dir, root, password, user)
        server = _start_postgres(bin_dir, root, password, user)
        try:
            yield server
        finally:
            stop_process(server.process, signal.SIGINT, "postgres")  # SIGINT: fast shutdown
    finally:
        shutil.rmtree(root, ignore_errors=True)


# -- Redis


@dataclass
class RedisServer:
    """A running Redis server on ``HOST:port`` requiring ``password``; no persistence."""

    root: Path
    port: int
    password: str
    process: subprocess.Popen[bytes]

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def url(self) -> str:
        return self.url_for(0)

    @property
    def log_file(self) -> Path:
        return self.root / "redis.log"

    def url_for(self, db: int) -> str:
        """The URL of database number ``db`` (Redis has 16 by default): one per test keeps their keys apart."""
        return f"redis://:{self.password}@{HOST}:{self.port}/{db}"

    def command(self, *args: str) -> bytes:
        """Send one command (after AUTH, followed by QUIT) in RESP; the raw reply to it."""
        commands = [[b"AUTH", self.password.encode()], [a.encode() for a in args], [b"QUIT"]]
        payload = b"".join(
            b"*%d\r\n" % len(cmd) + b"".join(b"$%d\r\n%s\r\n" % (len(p), p) for p in cmd) for cmd in commands
        )
        with socket.create_connection((HOST, self.port), timeout=5) as sock:
            sock.sendall(payload)
            reply = b""
            while chunk := sock.recv(65536):  # QUIT: the server closes the connection after its +OK
                reply += chunk
        auth, _, rest = reply.partition(b"\r\n")
        if auth != b"+OK" or not rest.endswith(b"+OK\r\n"):
            raise ServiceError(f"redis refused the commands: {reply[:200]!r}")
        return rest[: -len(b"+OK\r\n")]

    def ping(self) -> bool:
        try:
            return self.command("PING") == b"+PONG\r\n"
        except (OSError, ServiceError):
            return False


def redis_binary() -> str:
    found = shutil.which("redis-server") or (
        "/usr/bin/redis-server" if Path("/usr/bin/redis-server").exists() else None
    )
    if not found:
        raise ServiceError("redis-server is not installed: apt-get install redis-server (.ci/run does)")
    return found


def _start_redis(binary: str, root: Path, password: str) -> RedisServer:
    for _attempt in range(START_ATTEMPTS):
        port = free_port()
        config = root / "redis.conf"
        config.write_text(
            f"bind {HOST}\nport {port}\nprotected-mode yes\ndaemonize no\ndir {root}\n"
            f"unixsocket {root / 'redis.sock'}\nunixsocketperm 700\nlogfile {root / 'redis.log'}\n"
            f'save ""\nappendonly no\nrequirepass {password}\n'
        )
        config.chmod(0o600)
        process = subprocess.Popen(
            [binary, str(config)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            stdin=subprocess.DEVNULL,
            cwd=root,
            start_new_session=True,
        )
        server = RedisServer(root=root, port=port, password=password, process=process)
        deadline = time.monotonic() + READY_TIMEOUT
        while process.poll() is None and time.monotonic() < deadline:
            if server.ping():
                return server
            time.sleep(0.1)
        if process.poll() is None:
            stop_process(process, signal.SIGKILL, "redis-server")
            raise ServiceError(f"redis-server did not answer in {READY_TIMEOUT:.0f} s:\n{log_tail(server.log_file)}")
        if "Address already in use" not in log_tail(server.log_file):
            raise ServiceError(f"redis-server exited with {process.returncode}:\n{log_tail(server.log_file)}")
    raise ServiceError(f"redis-server could not bind a free port in {START_ATTEMPTS} attempts")


@contextlib.contextmanager
def redis_server(base_dir: Path) -> Iterator[RedisServer]:
    """A fresh Redis serving on 127.0.0.1; stopped (by PID) and removed on exit."""
    root = Path(tempfile.mkdtemp(prefix="redis-", dir=base_dir))
    try:
        server = _start_redis(redis_binary(), root, secrets.token_urlsafe(18))
        try:
            yield server
        finally:
            stop_process(server.process, signal.SIGTERM, "redis-server")
    finally:
        shutil.rmtree(root, ignore_errors=True)
