"""The API docs (``/docs``): Swagger UI served from the installed ``swagger-ui-bundle-v2`` package, not a CDN.

Nothing on the page comes from another origin and no inline script runs (the docs' Content-Security-Policy allows
``script-src 'self'`` only): the page loads the bundle and ``static/docs.js``, which reads the OpenAPI URL from a
data attribute, so it works offline and under any root path or mount prefix.
"""

from __future__ import annotations

from html import escape

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse
from swagger_ui_bundle import swagger_ui_path

from feedvault.web.pages import NotFoundError, PageRoute, path_for

ASSETS = {
    "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
    "swagger-ui.css": "text/css; charset=utf-8",
}
"""The files of the Swagger UI distribution the page needs, by name (nothing else of the package is served)."""

router = APIRouter(route_class=PageRoute, include_in_schema=False)


@router.get("/docs", name="api_docs")
def api_docs(request: Request) -> HTMLResponse:
    """Swagger UI over this app's OpenAPI document."""
    root = request.scope.get("root_path", "").rstrip("/")
    openapi_url = root + (request.app.openapi_url or "/openapi.json")
    title = f"{request.app.title} - API docs"
    html = f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<title>{escape(title)}</title>
<link rel="stylesheet" href="{escape(path_for(request, "api_docs_asset", name="swagger-ui.css"))}">
</head>
<body>
<div id="swagger-ui" data-openapi-url="{escape(openapi_url)}"></div>
<script src="{escape(path_for(request, "api_docs_asset", name="swagger-ui-bundle.js"))}"></script>
<script src="{escape(path_for(request, "page_static", filename="docs.js"))}"></script>
</body>
</html>
"""
    return HTMLResponse(html)


@router.get("/docs/assets/{name}", name="api_docs_asset")
def api_docs_asset(name: str) -> Response:
    """One file of the Swagger UI distribution (only those in :data:`ASSETS`)."""
    if name not in ASSETS:
        raise NotFoundError(f"no docs asset {name!r}")
    data = (swagger_ui_path / name).read_bytes()
    return Response(data, media_type=ASSETS[name], headers={"Cache-Control": "public, max-age=86400"})
