"""A small threaded HTTP/1.1 server for the demo publisher and the crawler's bad-input fixture sites.

It serves a directory. Text files (``.xml .html .json .txt``) have the placeholder ``{{BASE_URL}}`` replaced by
the server's own base URL, so committed files never hold a port. Every file gets an ``ETag`` (hash of the
served bytes) and ``Last-Modified``; conditional GETs answer 304. (``repeat_mb`` bodies are streamed, never
held: their ETag hashes the spec, and they are always sent in full.)

Per-path behaviours come from ``_routes.json`` in the site root (``{"/path": spec}``) or from
:meth:`SiteServer.set_route` at runtime. Spec keys:

``status``        answer with this status (non-2xx without ``body``/``file``: a small error page)
``headers``       extra or overriding response headers, e.g. a lying ``Content-Type``
``times``         apply the spec to the first N requests only; later requests are served normally
``redirect``      ``Location`` target (``{{BASE_URL}}`` allowed); status defaults to 302
``body``          serve this text instead of the file
``file``          serve another file of the site (path relative to the root)
``content_type``  content type for ``body``, ``repeat_mb`` and ``gzip_bomb_mb``
``gzip_bomb_mb``  a small gzip body (``Content-Encoding: gzip``) that expands to this many MiB
``repeat_mb``     a body of this many MiB generated on the fly
``delay``         seconds to wait before answering (longer than the client's timeout: a hung response)
``trickle_seconds`` send the body one byte at a time, this many seconds apart (a slow-loris response)
``endless_chunk_kb`` a ``Transfer-Encoding: chunked`` body of chunks of this many KiB that never ends
``filler_headers``  add this many headers ``X-Filler-<n>`` of ``filler_header_bytes`` bytes each (default 500)
``last_modified`` ``Last-Modified`` to announce (HTTP date or ISO 8601) instead of the file's mtime

Run ``python -m feedvault.demo.server ROOT --port N`` to serve a site from the command line.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import email.utils
import hashlib
import json
import logging
import threading
import time
import zlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import MappingProxyType, TracebackType
from typing import Any, Self
from urllib.parse import unquote, urlsplit

log = logging.getLogger(__name__)

PLACEHOLDER = "{{BASE_URL}}"
ROUTES_FILE = "_routes.json"
TEXT_SUFFIXES = frozenset({".xml", ".html", ".json", ".txt"})
CONTENT_TYPES: Mapping[str, str] = MappingProxyType(
    {
        ".html": "text/html; charset=utf-8",
        ".xml": "application/xml; charset=utf-8",
        ".json": "application/json",
        ".txt": "text/plain; charset=utf-8",
        ".md": "text/markdown; charset=utf-8",
        ".css": "text/css; charset=utf-8",
        ".js": "text/javascript; charset=utf-8",
        ".svg": "image/svg+xml",
        ".png": "image/png",
        ".jpg": "image/jpeg",
        ".ico": "image/x-icon",
    }
)
DEFAULT_CONTENT_TYPE = "application/octet-stream"
MIB = 1024 * 1024
_CHUNK = 64 * 1024


class RouteError(ValueError):
    """A route spec is invalid (unknown key, wrong type or contradictory keys)."""


def _parse_http_date(value: str) -> dt.datetime:
    try:
        parsed = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        parsed = dt.datetime.fromisoformat(value)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


@dataclass(frozen=True)
class Route:
    """One validated per-path behaviour; see the module docstring for the keys."""

    status: int | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    times: int | None = None
    redirect: str | None = None
    body: str | None = None
    file: str | None = None
    content_type: str | None = None
    gzip_bomb_mb: float | None = None
    repeat_mb: float | None = None
    delay: float = 0.0
    last_modified: dt.datetime | None = None
    trickle_seconds: float = 0.0
    endless_chunk_kb: int | None = None
    filler_headers: int = 0
    filler_header_bytes: int = 500

    _TYPES = MappingProxyType(
        {
            "status": int,
            "headers": dict,
            "times": int,
            "redirect": str,
            "body": str,
            "file": str,
            "content_type": str,
            "gzip_bomb_mb": (int, float),
            "repeat_mb": (int, float),
            "delay": (int, float),
            "last_modified": str,
            "trickle_seconds": (int, float),
            "endless_chunk_kb": int,
            "filler_headers": int,
            "filler_header_bytes": int,
        }
    )
    _PAYLOADS = ("redirect", "body", "file", "gzip_bomb_mb", "repeat_mb", "endless_chunk_kb")

    @classmethod
    def from_spec(cls, path: str, spec: Any) -> Route:
        """Validate a JSON spec; raises :class:`RouteError` naming the path and the problem."""
        if not path.startswith("/"):
            raise RouteError(f"route path must start with '/': {path!r}")
        if not isinstance(spec, dict):
            raise RouteError(f"route {path}: spec must be an object, got {type(spec).__name__}")
        unknown = sorted(set(spec) - set(cls._TYPES))
        if unknown:
            raise RouteError(f"route {path}: unknown key(s) {unknown}; known: {sorted(cls._TYPES)}")
        for key, value in spec.items():
            if isinstance(value, bool) or not isinstance(value, cls._TYPES[key]):
                raise RouteError(f"route {path}: {key!r} has the wrong type ({type(value).__name__})")
        payloads = [key for key in cls._PAYLOADS if key in spec]
        if len(payloads) > 1:
            raise RouteError(f"route {path}: at most one of {list(cls._PAYLOADS)}, got {payloads}")
        status = spec.get("status")
        if status is not None and not 200 <= status <= 599:
            raise RouteError(f"route {path}: status {status} out of range")
        if any(not isinstance(k, str) or not isinstance(v, str) for k, v in spec.get("headers", {}).items()):
            raise RouteError(f"route {path}: headers must map strings to strings")
        for key in ("times", "gzip_bomb_mb", "repeat_mb", "delay", "trickle_seconds", "filler_headers"):
            if key in spec and spec[key] < 0:
                raise RouteError(f"route {path}: {key!r} must not be negative")
        values = dict(spec)
        if spec.get("endless_chunk_kb", 1) < 1 or spec.get("filler_header_bytes", 1) < 1:
            raise RouteError(f"route {path}: endless_chunk_kb and filler_header_bytes must be at least 1")
        if "redirect" in spec and status is None:
            values["status"] = 302
        if "last_modified" in spec:
            try:
                values["last_modified"] = _parse_http_date(spec["last_modified"])
            except ValueError as exc:
                raise RouteError(f"route {path}: bad last_modified {spec['last_modified']!r}") from exc
        return cls(**values)


@dataclass(frozen=True)
class RequestRecord:
    """One request as the server saw it."""

    method: str
    path: str  # the request target, query string included
    headers: dict[str, str]
    time: float  # time.time() on arrival


@dataclass
class _Response:
    status: int
    headers: dict[str, str]
    body: bytes | Iterator[bytes] = b""
    length: int = 0


def load_routes(root: Path) -> dict[str, Route]:
    """Read and validate ``_routes.json`` of a site root (none: no routes)."""
    path = root / ROUTES_FILE
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise RouteError(f"{path}: not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise RouteError(f"{path}: expected an object mapping paths to specs")
    return {route_path: Route.from_spec(route_path, spec) for route_path, spec in data.items()}


_bomb_lock = threading.Lock()
_bomb_cache: dict[int, bytes] = {}
_BOMB_HEAD = b"<!DOCTYPE html><html><head><title>Expanding</title></head><body><p>"


def gzip_bomb(size: int) -> bytes:
    """A gzip stream expanding to ``size`` bytes (an HTML prefix, then spaces); built once per size."""
    with _bomb_lock:
        if size not in _bomb_cache:
            compressor = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
            head = _BOMB_HEAD[:size]
            parts = [compressor.compress(head)]
            spaces = b" " * MIB
            remaining = size - len(head)
            while remaining > 0:
                parts.append(compressor.compress(spaces[: min(MIB, remaining)]))
                remaining -= MIB
            parts.append(compressor.flush())
            _bomb_cache[size] = b"".join(parts)
        return _bomb_cache[size]


def repeated_body(size: int, content_type: str) -> Iterator[bytes]:
    """Exactly ``size`` bytes of filler, streamed: an HTML document of paragraphs, or plain text."""
    if "html" in content_type:
        head = b"<!DOCTYPE html><html><head><title>Oversized page</title></head><body>\n"
        tail = b"</body></html>\n"
        unit = b"<p>This synthetic paragraph repeats to make the page very large.</p>\n"
    else:
        head, tail, unit = b"", b"", b"This synthetic line repeats to make the body very large.\n"
    if size < len(head) + len(tail):
        head, tail = b"", b""
    chunk = unit * (_CHUNK // len(unit))
    yield head
    remaining = size - len(head) - len(tail)
    while remaining >= len(chunk):
        yield chunk
        remaining -= len(chunk)
    whole_units = remaining // len(unit)
    yield unit * whole_units + b" " * (remaining - whole_units * len(unit))
    yield tail


def trickled(body: bytes | Iterator[bytes], seconds: float) -> Iterator[bytes]:
    """The body one byte at a time, ``seconds`` apart."""
    for chunk in [body] if isinstance(body, bytes) else body:
        for i in range(len(chunk)):
            time.sleep(seconds)
            yield chunk[i : i + 1]


def endless_chunks(size: int) -> Iterator[bytes]:
    """Chunked transfer coding of an HTML body that never ends (until the client hangs up)."""
    head = b"<!DOCTYPE html><html><head><title>Endless</title></head><body>\n"
    yield b"%x\r\n%s\r\n" % (len(head), head)
    unit = b"<p>This synthetic paragraph never stops coming.</p>\n"
    data = (unit * (size // len(unit) + 1))[:size]
    chunk = b"%x\r\n%s\r\n" % (len(data), data)
    while True:
        yield chunk


def _http_date(moment: dt.datetime) -> str:
    return email.utils.format_datetime(moment.astimezone(dt.UTC), usegmt=True)


def _etag(data: bytes) -> str:
    return '"' + hashlib.sha256(data).hexdigest()[:32] + '"'


def _not_modified(request_headers: Mapping[str, str], etag: str, last_modified: dt.datetime) -> bool:
    if_none_match = request_headers.get("If-None-Match")
    if if_none_match is not None:
        tags = {tag.strip().removeprefix("W/") for tag in if_none_match.split(",")}
        return "*" in tags or etag in tags
    if_modified_since = request_headers.get("If-Modified-Since")
    if if_modified_since:
        try:
            since = _parse_http_date(if_modified_since)
        except ValueError:
            return False
        return last_modified.replace(microsecond=0) <= since
    return False


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _HTTPServer

    def do_GET(self) -> None:
        self._handle(head_only=False)

    def do_HEAD(self) -> None:
        self._handle(head_only=True)

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s " + format, self.address_string(), *args)

    def _handle(self, head_only: bool) -> None:
        site = self.server.site
        site._record(RequestRecord(self.command, self.path, dict(self.headers.items()), time.time()))
        response = site._respond(unquote(urlsplit(self.path).path), self.headers)
        self.send_response(response.status)
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.end_headers()
        if head_only or response.status == HTTPStatus.NOT_MODIFIED:
            return
        chunks = [response.body] if isinstance(response.body, bytes) else response.body
        for chunk in chunks:
            self.wfile.write(chunk)


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    site: SiteServer

    def handle_error(self, request: Any, client_address: Any) -> None:
        log.debug("error while answering %s", client_address, exc_info=True)


class SiteServer:
    """Serve ``root`` over HTTP/1.1 on ``host``; ``port=0`` picks a free port. Use as a context manager."""

    def __init__(self, root: Path | str, host: str = "127.0.0.1", port: int = 0) -> None:
        self.root = Path(root).resolve()
        if not self.root.is_dir():
            raise FileNotFoundError(f"site root is not a directory: {self.root}")
        self.host = host
        self.port = port
        self._lock = threading.Lock()
        self._requests: list[RequestRecord] = []
        self._routes: dict[str, Route] = {}
        self._applied: dict[str, int] = {}
        self._route_times: dict[str, float] = {}
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------------------------------------------

    def start(self) -> Self:
        """Load ``_routes.json`` (invalid specs raise :class:`RouteError`), bind and serve in a thread."""
        if self._httpd is not None:
            raise RuntimeError("server already started")
        routes = load_routes(self.root)
        with self._lock:
            self._routes = routes
            self._applied = {}
            self._route_times = dict.fromkeys(routes, time.time())
        httpd = _HTTPServer((self.host, self.port), _Handler)
        httpd.site = self
        self.port = httpd.server_address[1]
        self._httpd = httpd
        self._thread = threading.Thread(
            target=httpd.serve_forever, args=(0.05,), name=f"site-server-{self.port}", daemon=True
        )
        self._thread.start()
        log.debug("serving %s at %s", self.root, self.base_url)
        return self

    def stop(self) -> None:
        """Stop serving and release the port; safe to call twice."""
        httpd, self._httpd = self._httpd, None
        if httpd is None:
            return
        httpd.shutdown()
        httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> Self:
        return self if self._httpd is not None else self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        """``http://host:port`` without a trailing slash (available once started)."""
        if self._httpd is None:
            raise RuntimeError("server not started")
        return f"http://{self.host}:{self.port}"

    def url(self, path: str) -> str:
        """Absolute URL of a site path."""
        return self.base_url + (path if path.startswith("/") else "/" + path)

    # -- routes and request log ------------------------------------------------------------------------------

    def set_route(self, path: str, spec: Mapping[str, Any] | None) -> None:
        """Set (or with ``None`` remove) the behaviour of ``path``; resets its ``times`` counter."""
        route = None if spec is None else Route.from_spec(path, dict(spec) if isinstance(spec, Mapping) else spec)
        with self._lock:
            self._applied.pop(path, None)
            if route is None:
                self._routes.pop(path, None)
            else:
                self._routes[path] = route
                self._route_times[path] = time.time()

    @property
    def requests(self) -> list[RequestRecord]:
        """A snapshot of the requests received so far, oldest first."""
        with self._lock:
            return list(self._requests)

    def hits(self, path: str) -> int:
        """How many requests targeted ``path`` (compared without query string unless ``path`` has one)."""
        with self._lock:
            targets = [r.path if "?" in path else r.path.split("?", 1)[0] for r in self._requests]
        return targets.count(path)

    def clear_requests(self) -> None:
        """Forget the request log."""
        with self._lock:
            self._requests.clear()

    def _record(self, record: RequestRecord) -> None:
        with self._lock:
            self._requests.append(record)

    def _take_route(self, path: str) -> tuple[Route | None, float]:
        with self._lock:
            route = self._routes.get(path)
            if route is None:
                return None, 0.0
            applied = self._applied.get(path, 0)
            if route.times is not None and applied >= route.times:
                return None, 0.0
            self._applied[path] = applied + 1
            return route, self._route_times.get(path, 0.0)

    # -- responses -------------------------------------------------------------------------------------------

    def _respond(self, path: str, request_headers: Mapping[str, str]) -> _Response:
        route, route_time = self._take_route(path)
        if route is None:
            return self._file_response(path, request_headers)
        if route.delay:
            time.sleep(route.delay)
        response = self._route_response(path, route, route_time, request_headers)
        for name, value in route.headers.items():
            for existing in [k for k in response.headers if k.lower() == name.lower()]:
                del response.headers[existing]
            response.headers[name] = value
        filler = "f" * route.filler_header_bytes
        for n in range(route.filler_headers):
            response.headers[f"X-Filler-{n:06d}"] = filler
        if route.trickle_seconds:
            response.body = trickled(response.body, route.trickle_seconds)
        return response

    def _route_response(
        self, path: str, route: Route, route_time: float, request_headers: Mapping[str, str]
    ) -> _Response:
        status = route.status or HTTPStatus.OK
        if route.redirect is not None:
            location = route.redirect.replace(PLACEHOLDER, self.base_url)
            return self._error(status, {"Location": location})
        modified = route.last_modified or dt.datetime.fromtimestamp(route_time, dt.UTC)
        if route.gzip_bomb_mb is not None:
            body = gzip_bomb(int(route.gzip_bomb_mb * MIB))
            content_type = route.content_type or "text/html; charset=utf-8"
            if _not_modified(request_headers, _etag(body), modified):
                return self._not_modified_response(body, modified)
            headers = {"Content-Encoding": "gzip", **self._validators(body, modified)}
            return self._content(status, body, content_type, headers)
        if route.repeat_mb is not None:
            size = int(route.repeat_mb * MIB)
            content_type = route.content_type or "text/html; charset=utf-8"
            fingerprint = json.dumps([size, content_type]).encode()
            headers = {"Content-Type": content_type, "Content-Length": str(size)}
            headers.update(self._validators(fingerprint, modified))
            return _Response(status, headers, repeated_body(size, content_type), size)
        if route.endless_chunk_kb is not None:
            headers = {"Content-Type": route.content_type or "text/html; charset=utf-8", "Transfer-Encoding": "chunked"}
            return _Response(status, headers, endless_chunks(route.endless_chunk_kb * 1024))
        if route.body is not None:
            body = route.body.replace(PLACEHOLDER, self.base_url).encode("utf-8")
            content_type = route.content_type or self._content_type(path)
            if _not_modified(request_headers, _etag(body), modified):
                return self._not_modified_response(body, modified)
            return self._content(status, body, content_type, self._validators(body, modified))
        if route.file is not None:
            return self._file_response("/" + route.file.lstrip("/"), request_headers, status, route.last_modified)
        if status >= 300:
            return self._error(status)
        return self._file_response(path, request_headers, status, route.last_modified)

    def _file_response(
        self,
        path: str,
        request_headers: Mapping[str, str],
        status: int = HTTPStatus.OK,
        last_modified: dt.datetime | None = None,
    ) -> _Response:
        file = self._resolve(path)
        if file is None:
            return self._error(HTTPStatus.NOT_FOUND)
        body = file.read_bytes()
        if file.suffix in TEXT_SUFFIXES:
            body = body.replace(PLACEHOLDER.encode(), self.base_url.encode())
        modified = last_modified or dt.datetime.fromtimestamp(file.stat().st_mtime, dt.UTC)
        if _not_modified(request_headers, _etag(body), modified):
            return self._not_modified_response(body, modified)
        return self._content(status, body, self._content_type(file.name), self._validators(body, modified))

    def _resolve(self, path: str) -> Path | None:
        relative = path.lstrip("/")
        if relative == ROUTES_FILE:
            return None
        candidate = (self.root / relative).resolve()
        if not candidate.is_relative_to(self.root):
            return None
        if candidate.is_dir():
            candidate = candidate / "index.html"
        return candidate if candidate.is_file() else None

    @staticmethod
    def _content_type(name: str) -> str:
        return CONTENT_TYPES.get(Path(name).suffix.lower(), DEFAULT_CONTENT_TYPE)

    @staticmethod
    def _validators(data: bytes, modified: dt.datetime) -> dict[str, str]:
        return {"ETag": _etag(data), "Last-Modified": _http_date(modified)}

    def _not_modified_response(self, body: bytes, modified: dt.datetime) -> _Response:
        return _Response(HTTPStatus.NOT_MODIFIED, self._validators(body, modified))

    @staticmethod
    def _content(status: int, body: bytes, content_type: str, headers: dict[str, str]) -> _Response:
        headers = {"Content-Type": content_type, "Content-Length": str(len(body)), **headers}
        return _Response(status, headers, body, len(body))

    def _error(self, status: int, headers: dict[str, str] | None = None) -> _Response:
        try:
            phrase = HTTPStatus(status).phrase
        except ValueError:
            phrase = "Status"
        body = f"<!DOCTYPE html><html><head><title>{status} {phrase}</title></head>"
        body += f"<body><h1>{status} {phrase}</h1></body></html>\n"
        return self._content(status, body.encode(), "text/html; charset=utf-8", headers or {})


def main(argv: list[str] | None = None) -> None:
    """Command line: serve a site directory until interrupted."""
    parser = argparse.ArgumentParser(prog="python -m feedvault.demo.server", description=main.__doc__)
    parser.add_argument("root", type=Path, help="site directory (may contain _routes.json)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("-v", "--verbose", action="store_true", help="log every request")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO, format="%(message)s")
    with SiteServer(args.root, args.host, args.port) as server:
        print(f"serving {server.root} at {server.base_url} (Ctrl-C to stop)", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            threading.Event().wait()


if __name__ == "__main__":
    main()
