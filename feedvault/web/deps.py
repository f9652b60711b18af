"""FastAPI dependencies of the browse app, apart from :mod:`feedvault.web.service`, which the CLI imports too
(so that a browsing command never loads a web framework)."""

from __future__ import annotations

from starlette.requests import Request

from feedvault.web.service import ArchiveService


def get_service(request: Request) -> ArchiveService:
    """FastAPI dependency: the app's :class:`ArchiveService` (``Depends(get_service)``)."""
    service: ArchiveService = request.app.state.service
    return service


def refresh_catalog(request: Request) -> None:
    """Router dependency (sync, so FastAPI runs it in its thread pool): the catalog's periodic sync."""
    get_service(request).refresh_if_due()
