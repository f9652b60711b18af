"""Real listeners on 127.0.0.1 for what feedvault sends out: a webhook (HTTP POST of JSON) and a StatsD server (UDP).

Plain helpers (context managers), usable from any test module.
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@contextlib.contextmanager
def webhook_listener() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """(URL, bodies): every JSON body POSTed to the URL is appended to bodies."""
    received: list[dict[str, Any]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hooks/feedvault", received
    finally:
        server.shutdown()
        server.server_close()


@dataclass
class StatsdListener:
    """A StatsD server on a UDP port of 127.0.0.1 that keeps every line it receives (``name:value|type``)."""

    sock: socket.socket
    lines: list[str] = field(default_factory=list)

    @property
    def port(self) -> int:
        return self.sock.getsockname()[1]

    def _serve(self) -> None:
        while True:
            try:
                data = self.sock.recv(65535)
            except OSError:
                return
            self.lines.extend(line for line in data.decode().splitlines() if line)

    def metrics(self, wait_for: str | None = None, timeout: float = 5.0) -> dict[str, list[str]]:
        """name -> ``value|type`` strings received (waits until ``wait_for`` arrived, UDP being asynchronous)."""
        deadline = time.monotonic() + timeout
        while wait_for and not any(line.startswith(wait_for + ":") for line in self.lines):
            if time.monotonic() > deadline:
                break
            time.sleep(0.05)
        out: dict[str, list[str]] = {}
        for line in list(self.lines):
            name, _, rest = line.partition(":")
            out.setdefault(name, []).append(rest)
        return out


@contextlib.contextmanager
def statsd_listener() -> Iterator[StatsdListener]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    listener = StatsdListener(sock)
    threading.Thread(target=listener._serve, daemon=True).start()
    try:
        yield listener
    finally:
        sock.close()


def airflow_statsd_env(port: int) -> dict[str, str]:
    """Airflow's own configuration turning its StatsD metrics on, pointed at ``port`` on 127.0.0.1."""
    return {
        "AIRFLOW__METRICS__STATSD_ON": "True",
        "AIRFLOW__METRICS__STATSD_HOST": "127.0.0.1",
        "AIRFLOW__METRICS__STATSD_PORT": str(port),
        "AIRFLOW__METRICS__STATSD_PREFIX": "airflow",
    }


def reset_airflow_stats() -> None:
    """Make Airflow's metrics client read its configuration again (as a new task process does)."""
    from airflow.sdk.configuration import conf
    from airflow.sdk.observability import stats
    from airflow.sdk.observability.metrics import stats_utils

    stats.initialize(
        factory=stats_utils.get_stats_factory(),
        export_legacy_names=conf.getboolean("metrics", "legacy_names_on", fallback=True),
    )
