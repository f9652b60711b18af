"""The browse app: the JSON API (``/api/v1``, OpenAPI at ``/docs``) and the pages, behind one access control.

Access control: a bearer token (``Authorization: Bearer <token>``, ``?token=<token>`` which also sets an
HttpOnly cookie, or that cookie) or HTTP basic auth. It is required whenever the app listens beyond loopback
(:func:`check_listen` refuses otherwise) and for the Airflow plugin, since Airflow does not authenticate plugin
apps. Every response carries security headers; raw captures set their own, stricter sandboxing policy.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import http
import ipaddress
import logging
import os
import socket
from collections.abc import Awaitable, Callable, Mapping, MutableMapping, Sequence
from http.cookies import CookieError, SimpleCookie
from typing import Any
from urllib.parse import parse_qs

from fastapi import Depends, FastAPI
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import Response

from feedvault.catalog import BrowseCatalog
from feedvault.store.backends import StorageError, Store
from feedvault.web.deps import refresh_catalog
from feedvault.web.service import ArchiveService

logger = logging.getLogger(__name__)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

TOKEN_COOKIE = "feedvault_token"
API_PREFIX = "/api/v1"
CATALOG_REFRESH_SECONDS = 60.0  # a browser left running sees new runs within a minute
APP_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; frame-src 'self'; "
    "frame-ancestors 'self'; base-uri 'none'; form-action 'self'; object-src 'none'"
)
DOCS_CSP = (  # Swagger UI, served from the package (feedvault.web.docs): no inline script, nothing from elsewhere
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'self'; object-src 'none'"
)
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "[::1]")
"""Host names a loopback browse app always answers to."""
ALLOWED_HOSTS_ENV = "FEEDVAULT_BROWSE_ALLOWED_HOSTS"
"""More host names the app answers to, comma-separated (its name behind a proxy, a LAN name...; ``*``: any)."""
SECURITY_HEADERS = {
    b"x-content-type-options": b"nosniff",
    b"referrer-policy": b"no-referrer",
    b"x-frame-options": b"SAMEORIGIN",
    b"cross-origin-opener-policy": b"same-origin",
    b"cross-origin-resource-policy": b"same-origin",
    b"permissions-policy": b"camera=(), microphone=(), geolocation=(), payment=(), usb=()",
}


class InsecureListenError(ValueError):
    """The app would listen beyond loopback without access control."""


def is_loopback(host: str) -> bool:
    """Whether ``host`` (a name or address to bind) is loopback only."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        try:
            return all(ipaddress.ip_address(info[4][0]).is_loopback for info in socket.getaddrinfo(host, None))
        except (OSError, ValueError):
            return False


def check_listen(host: str, *, auth_token: str | None, basic_auth: tuple[str, str] | None) -> None:
    """Refuse to serve beyond loopback without a token or basic auth."""
    if not is_loopback(host) and not (auth_token or basic_auth):
        raise InsecureListenError(
            f"refusing to listen on {host} without access control: give a token (--token or "
            "$FEEDVAULT_BROWSE_TOKEN) or basic auth, or listen on 127.0.0.1"
        )


def host_name(host: str) -> str:
    """``host`` as it appears in a ``Host`` header: IPv6 addresses in brackets, lower case."""
    host = host.strip().lower()
    return f"[{host.strip('[]')}]" if ":" in host else host


def allowed_hosts(bind_host: str | None, extra: Sequence[str] = (), env: Mapping[str, str] = os.environ) -> list[str]:
    """The ``Host`` names the app answers to: loopback names, the address it binds, ``extra`` and ``$ALLOWED_HOSTS_ENV``.

    Any other ``Host`` gets a 400: a web page whose name an attacker re-points at 127.0.0.1 (DNS rebinding) cannot
    read the archive through the user's browser.
    """
    configured = [h for h in env.get(ALLOWED_HOSTS_ENV, "").split(",") if h.strip()]
    wildcard = {"0.0.0.0", "::", "[::]", ""}
    names = [*LOOPBACK_HOSTS, *([] if (bind_host or "") in wildcard else [bind_host or ""]), *extra, *configured]
    return list(dict.fromkeys(host_name(h) for h in names))


class AccessControl:
    """ASGI middleware: authenticate (if configured) and add security headers to every response."""

    def __init__(
        self, app: ASGIApp, *, auth_token: str | None = None, basic_auth: tuple[str, str] | None = None
    ) -> None:
        self.app = app
        self.token = auth_token
        self.basic = basic_auth

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        query_token = parse_qs(scope.get("query_string", b"").decode("latin-1")).get("token", [None])[0]
        set_cookie = None
        if self.token or self.basic:
            # Every Authorization header counts: a proxy in front (Airflow's API server adds its own) may send
            # ours and another, and a dict keeps only the last one.
            authorizations = [v.decode("latin-1") for k, v in scope.get("headers", []) if k.lower() == b"authorization"]
            if not self._allowed(headers, query_token, authorizations):
                await self._deny(scope, send)
                return
            if self.token and query_token and _same(query_token, self.token):
                path = (scope.get("root_path") or "") + "/"
                set_cookie = f"{TOKEN_COOKIE}={self.token}; Path={path}; HttpOnly; SameSite=Strict"
        docs = scope["path"].endswith(("/docs", "/redoc")) or "/docs/" in scope["path"]

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                raw = list(message.get("headers", []))
                present = {name.lower() for name, _ in raw}
                for name, value in SECURITY_HEADERS.items():
                    if name not in present:
                        raw.append((name, value))
                if b"content-security-policy" not in present:
                    raw.append((b"content-security-policy", (DOCS_CSP if docs else APP_CSP).encode()))
                if b"cache-control" not in present:
                    raw.append((b"cache-control", b"no-store" if (self.token or self.basic) else b"no-cache"))
                if set_cookie:
                    raw.append((b"set-cookie", set_cookie.encode("latin-1")))
                message["headers"] = raw
            await send(message)

        await self.app(scope, receive, send_with_headers)

    def _allowed(self, headers: dict[str, str], query_token: str | None, authorizations: list[str]) -> bool:
        return any(self._allowed_with(headers, query_token, a) for a in authorizations or [""])

    def _allowed_with(self, headers: dict[str, str], query_token: str | None, authorization: str) -> bool:
        scheme, _, value = authorization.partition(" ")
        if self.token:
            cookie = SimpleCookie()
            try:
                cookie.load(headers.get("cookie", ""))
            except CookieError:
                cookie = SimpleCookie()
            candidates = [query_token, cookie[TOKEN_COOKIE].value if TOKEN_COOKIE in cookie else None]
            if scheme.lower() == "bearer":
                candidates.append(value.strip())
            if any(c and _same(c, self.token) for c in candidates):
                return True
        if self.basic and scheme.lower() == "basic":
            try:
                user, _, password = base64.b64decode(value.strip(), validate=True).decode("utf-8").partition(":")
            except (binascii.Error, UnicodeDecodeError):
                return False
            return _same(user, self.basic[0]) & _same(password, self.basic[1])
        return False

    async def _deny(self, scope: Scope, send: Send) -> None:
        challenge = 'Basic realm="feedvault", charset="UTF-8"' if self.basic else 'Bearer realm="feedvault"'
        response = JSONResponse(
            {"detail": "authentication required: a token (Bearer, ?token=) or basic auth"},
            status_code=401,
            headers={"WWW-Authenticate": challenge, "Cache-Control": "no-store"},
        )

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *SECURITY_HEADERS.items()]
                message["headers"].append((b"content-security-policy", APP_CSP.encode()))
            await send(message)

        await response(scope, _no_body, send_with_headers)


async def _no_body() -> Message:
    return {"type": "http.request", "body": b"", "more_body": False}


def _same(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode("utf-8"), expected.encode("utf-8"))


async def _http_error(request: Request, exc: Exception) -> Response:
    """Errors raised outside any route (no such path, wrong method): an HTML page, except under the API."""
    from fastapi.exception_handlers import http_exception_handler

    from feedvault.web.pages import error_page

    assert isinstance(exc, StarletteHTTPException)
    path = request.url.path.removeprefix(request.scope.get("root_path", ""))
    if path.startswith(API_PREFIX + "/"):
        return await http_exception_handler(request, exc)
    problems = [f"nothing at {path}"] if exc.status_code == 404 else [str(exc.detail)]
    page = error_page(request, exc.status_code, http.HTTPStatus(exc.status_code).phrase.capitalize(), problems)
    page.headers.update(exc.headers or {})
    return page


UNAVAILABLE_RETRY_SECONDS = 30


async def _storage_unavailable(request: Request, exc: Exception) -> Response:
    """The archive's storage failed (unreachable, refusing, 5xx): 503 with what happened and what to do.

    JSON under the API, a page elsewhere; one log line, no traceback. The message names the store and the
    operation, with any credentials in the endpoint URL redacted (``StorageError`` messages are).
    """
    from feedvault.web.pages import error_page

    path = request.url.path.removeprefix(request.scope.get("root_path", ""))
    logger.warning("archive unavailable while serving %s: %s", path, exc)
    advice = "the archive's storage did not answer; try again shortly (check that the S3 server is running)"
    headers = {"Retry-After": str(UNAVAILABLE_RETRY_SECONDS)}
    if path.startswith(API_PREFIX + "/"):
        return JSONResponse({"detail": f"{advice}: {exc}"}, status_code=503, headers=headers)
    page = error_page(request, 503, "Archive unavailable", [advice, str(exc)])
    page.headers.update(headers)
    return page


def create_app(
    store: Store,
    catalog: BrowseCatalog,
    *,
    auth_token: str | None = None,
    basic_auth: tuple[str, str] | None = None,
    root_path: str = "",
    catalog_refresh_seconds: float | None = CATALOG_REFRESH_SECONDS,
    hosts: Sequence[str] | None = None,
) -> FastAPI:
    """The browse app over ``store`` and ``catalog``: JSON API under ``/api/v1`` and the pages router.

    Every ``catalog_refresh_seconds`` a request first syncs the catalog with the published one (None: never).
    ``hosts``: the only ``Host`` names answered (see :func:`allowed_hosts`); None answers any (tests, mounts).
    """
    from feedvault.web import api, docs, pages

    if basic_auth is not None and not (basic_auth[0] and basic_auth[1]):
        raise ValueError("basic auth needs a user name and a password")
    app = FastAPI(
        title="feedvault archive",
        summary="Browse archived news feeds: feeds, days, snapshots, history, diffs, search, runs, downloads.",
        version="1",
        root_path=root_path,
        docs_url=None,  # feedvault.web.docs serves Swagger UI from the package
        redoc_url=None,
    )
    app.state.store = store
    app.state.catalog = catalog
    app.state.service = ArchiveService(store, catalog, catalog_refresh_seconds)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(StorageError, _storage_unavailable)
    app.include_router(api.router, prefix=API_PREFIX, dependencies=[Depends(refresh_catalog)])
    app.include_router(docs.router)
    app.include_router(pages.router, dependencies=[Depends(refresh_catalog)])
    if hosts is not None:
        app.add_middleware(TrustedHostMiddleware, allowed_hosts=list(hosts), www_redirect=False)
    app.add_middleware(AccessControl, auth_token=auth_token, basic_auth=basic_auth)
    return app
