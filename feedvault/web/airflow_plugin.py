"""The archive browser inside Airflow's API server: an ``AirflowPlugin`` with one FastAPI app at ``/feedvault``.

Airflow mounts ``fastapi_apps`` without authenticating them, so the app's own token check is always on: the
token comes from ``$FEEDVAULT_BROWSE_TOKEN`` and without it the app refuses to build (every request answers
503). The archive is the one the registry names (``$FEEDVAULT_REGISTRY``); S3 endpoint and credentials come
from the crawl tasks' Airflow connection (``feedvault_s3``) when it exists, else from the API server's standard
AWS environment (or the registry's embedded store). Importing this module is cheap: the store and catalog are
opened on the first request, in a worker thread.

Load it with ``plugins_folder = infra/plugins`` (``infra/plugins/feedvault_browse.py`` imports the class).
Operators open ``<airflow>/feedvault/?token=<token>`` once; an HttpOnly cookie carries the token afterwards.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from pathlib import Path
from typing import Any

import anyio.to_thread
from airflow.plugins_manager import AirflowPlugin
from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Receive, Scope, Send

logger = logging.getLogger(__name__)

TOKEN_ENV = "FEEDVAULT_BROWSE_TOKEN"
CATALOG_DIR_ENV = "FEEDVAULT_BROWSE_CATALOG_DIR"
URL_PREFIX = "/feedvault"
APP_NAME = "feedvault archive"


class BrowseConfigError(RuntimeError):
    """The plugin app cannot be built (no token, bad registry, archive unreachable)."""


def build_app() -> ASGIApp:
    """The browse app over the registry's archive, with token access control; BrowseConfigError without a token.

    The local catalog copy lives in ``$FEEDVAULT_BROWSE_CATALOG_DIR`` (default ``<data_dir>/airflow-browse``), apart
    from the copy crawl tasks update; it is synced from the published catalog when the app is built and then
    every minute (``create_app``'s ``catalog_refresh_seconds``), so runs appear without restarting the API server.
    """
    token = os.environ.get(TOKEN_ENV, "").strip()
    if not token:
        raise BrowseConfigError(
            f"refusing to serve the archive inside Airflow without access control: set {TOKEN_ENV} in the "
            "API server's environment (Airflow does not authenticate plugin apps)"
        )
    from feedvault.airflow.settings import conn_id
    from feedvault.catalog.opener import open_browse_catalog
    from feedvault.config import load_registry
    from feedvault.store.target import open_archive
    from feedvault.web.app import ALLOWED_HOSTS_ENV, allowed_hosts, create_app

    settings = load_registry().settings
    storage = settings.storage
    catalog_dir = Path(os.environ.get(CATALOG_DIR_ENV) or Path(storage.data_dir) / "airflow-browse")
    resources = contextlib.ExitStack()  # open for the life of the API server process
    try:
        # The crawl tasks' target (feedvault.store.target: connection, registry, environment, embedded store);
        # an embedded store is leased for the life of the API server.
        store = resources.enter_context(open_archive(storage, conn_id=conn_id()))
        catalog = resources.enter_context(open_browse_catalog(store, settings, local_dir=catalog_dir))
    except BaseException:
        resources.close()
        raise
    # Its own token already stops a DNS-rebinding page (it cannot send another origin's cookie); with
    # $FEEDVAULT_BROWSE_ALLOWED_HOSTS set, other Host names are refused as well.
    hosts = allowed_hosts(None) if os.environ.get(ALLOWED_HOSTS_ENV, "").strip() else None
    app = create_app(store, catalog, auth_token=token, hosts=hosts)
    app.state.service.health_settings = settings.health  # the Health page's thresholds
    app.state.resources = resources
    logger.info("feedvault archive browser ready for %s at %s", store.uri, URL_PREFIX)
    return app


class LazyApp:
    """ASGI app that builds the real one (``factory``) on its first request, off the event loop.

    If building fails, the request answers 503 with the reason (no secrets in it) and the next request tries
    again; the details go to the log.
    """

    def __init__(self, factory: Any = build_app) -> None:
        self.factory = factory
        self.app: ASGIApp | None = None
        self._lock = threading.Lock()

    def build(self) -> ASGIApp:
        with self._lock:
            if self.app is None:
                self.app = self.factory()
            return self.app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        app = self.app
        if app is None:
            try:
                app = await anyio.to_thread.run_sync(self.build)
            except BrowseConfigError as exc:
                logger.error("%s", exc)
                await PlainTextResponse(str(exc), status_code=503)(scope, receive, send)
                return
            except Exception:
                logger.exception("feedvault archive browser could not open the archive")
                message = "the feedvault archive is unavailable; see the Airflow API server log"
                await PlainTextResponse(message, status_code=503)(scope, receive, send)
                return
        await app(scope, receive, send)


app = LazyApp()


class FeedvaultBrowsePlugin(AirflowPlugin):
    """Serves the feedvault archive browser (pages and JSON API) at ``/feedvault`` in the Airflow API server."""

    name = "feedvault_browse"
    fastapi_apps = [{"app": app, "url_prefix": URL_PREFIX, "name": APP_NAME}]
    # A link in Airflow's navigation (Airflow 3.1+ external views); the app asks for its token on first use.
    external_views = [{"name": "Archive (feedvault)", "href": f"{URL_PREFIX}/", "destination": "nav"}]
