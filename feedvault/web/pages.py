"""Server-rendered pages of the archive browser (Jinja2, no JavaScript needed).

Feeds → a feed's days → a day's articles → an article → its raw capture (sandboxed) → the URL's history →
a side-by-side diff of two snapshots; full-text search; run manifests; takedown tombstones.

Every link is built from the request (``path_for``), so the pages work under any ``root_path`` or mount
prefix (``/feedvault`` inside Airflow). Raw captures are served from a separate route with a sandboxing
Content-Security-Policy and shown in an ``<iframe sandbox>``: archived scripts never run on our origin.
"""

from __future__ import annotations

import datetime as dt
import difflib
import re
from collections.abc import Callable, Coroutine, Sequence
from email.message import Message
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar
from urllib.parse import urlencode

import jinja2
from fastapi import APIRouter, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse
from fastapi.routing import APIRoute
from markupsafe import Markup, escape

from feedvault.catalog import MAX_PAGE, MAX_PER_PAGE, MAX_QUERY_CHARS, BrowseCatalog, FeedSummary, Page, SnapshotSummary
from feedvault.web.deps import get_service
from feedvault.web.diffing import DiffRow
from feedvault.web.service import ArchiveService, NotFoundError

T = TypeVar("T")

HERE = Path(__file__).resolve().parent
STATIC_DIR = HERE / "static"
STATIC_TYPES = {
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
}
STATIC_FILES = {p.name: p for p in STATIC_DIR.iterdir() if p.is_file() and p.suffix in STATIC_TYPES}
"""The files ``/static/<name>`` serves, looked up by name: a request's name never reaches the file system."""

RAW_CSP = "sandbox; default-src 'none'; img-src data:; style-src 'unsafe-inline'; frame-ancestors 'self'"
"""Policy of the raw capture: an opaque origin, no scripts, nothing fetched from anywhere."""
RAW_TYPES = ("text/html", "application/xhtml+xml", "text/plain")
"""Archived content types served as such in the raw view; anything else is shown as text."""
SOURCE_LIMIT = 2 * 1024 * 1024
"""View-source shows at most this many bytes of a payload."""

PageNumber = Annotated[int, Query(ge=1, le=MAX_PAGE, description="page number, from 1")]
PerPage = Annotated[int | None, Query(ge=1, le=MAX_PER_PAGE, description="items per page (default per listing)")]


class BadRequest(ValueError):
    """A parameter the page cannot use; rendered as a friendly 400 page."""


# -- small helpers ---------------------------------------------------------------------------------------
def catalog_of(request: Request) -> BrowseCatalog:
    """The catalog of the app serving this request."""
    return get_service(request).catalog


def paginate(items: Sequence[T], page: int, per_page: int) -> Page[T]:
    """A :class:`Page` of an in-memory list (for the few listings the catalog does not page)."""
    start = (page - 1) * per_page
    return Page(list(items[start : start + per_page]), page, per_page, len(items))


def optional_day(value: str | None, name: str) -> str | None:
    """``YYYY-MM-DD`` or nothing (an empty form field is nothing)."""
    if not value:
        return None
    try:
        return dt.date.fromisoformat(value).isoformat()
    except ValueError:
        raise BadRequest(f"{name}: not a date (YYYY-MM-DD): {value!r}") from None


def filesize(size: int | None) -> str:
    """A byte count for people: ``3.4 KB``."""
    if size is None:
        return ""
    value = float(size)
    for unit in ("bytes", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{int(value)} {unit}" if unit == "bytes" else f"{value:.1f} {unit}"
        value /= 1024
    return str(size)


def when(value: str | None) -> str:
    """An ISO timestamp shortened for tables: ``2026-11-25 07:45 UTC``."""
    if not value:
        return ""
    try:
        moment = dt.datetime.fromisoformat(value)
    except ValueError:
        return value
    if moment.tzinfo is None:
        return moment.strftime("%Y-%m-%d %H:%M")
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


PERMISSION_FIELDS = (
    ("Decision", "decision"),
    ("Basis", "basis"),
    ("Reference", "reference"),
    ("Granted by", "granted_by"),
    ("Granted on", "granted_on"),
    ("Expires on", "expires_on"),
    ("Licence", "licence"),
    ("Scope", "scope"),
    ("Overrides", "overrides"),
    ("Reason", "reason"),
    ("Detail", "detail"),
    ("Warning", "warning"),
)


def permission_pairs(permission: dict[str, Any] | None) -> list[tuple[str, Any]]:
    """A permission decision as (label, value) rows; lists joined, absent fields left out."""
    permission = permission or {}
    pairs = []
    for label, key in PERMISSION_FIELDS:
        value = permission.get(key)
        if isinstance(value, list):
            value = ", ".join(str(v) for v in value)
        pairs.append((label, value))
    return pairs


USAGE_LABELS = (
    ("AI training", "train-ai"),
    ("Generative AI training", "train-genai"),
    ("AI input", "ai-input"),
    ("Search", "search"),
    ("Automated processing", "automated-processing"),
)


def usage_pairs(usage: dict[str, Any] | None) -> list[tuple[str, Any]]:
    """The publisher's usage preferences at capture time as (label, value) rows: stated categories only."""
    usage = usage or {}
    words = {"y": "allowed", "n": "not allowed"}
    pairs = [(label, words.get(usage.get(key) or "")) for label, key in USAGE_LABELS]
    tdm = usage.get("tdm")
    pairs.append(("Text and data mining", tdm.replace("-", " ") if tdm else None))
    stated = dict.fromkeys(f"{s.get('signal')} ({s.get('source')})" for s in usage.get("source") or [])
    pairs.append(("Stated by", ", ".join(stated)))
    ignored = [f"{i.get('value')}: {i.get('why')}" for i in usage.get("ignored") or []]
    pairs.append(("Ignored", "; ".join(ignored)))
    return pairs


def content_type_parts(value: str | None) -> tuple[str, str | None]:
    """``(media type, charset)`` of a Content-Type header value."""
    message = Message()
    message["content-type"] = value or "application/octet-stream"
    return message.get_content_type(), message.get_content_charset()


def decode_payload(payload: bytes, charset: str | None) -> str:
    """Text of a payload: its declared charset, else UTF-8, else windows-1252 (never fails)."""
    for candidate in (charset, "utf-8"):
        if candidate:
            try:
                return payload.decode(candidate)
            except (LookupError, UnicodeDecodeError):
                continue
    return payload.decode("windows-1252", errors="replace")


# -- diff ------------------------------------------------------------------------------------------------
_TOKEN = re.compile(r"\w+\s*|[^\w\s]\s*|\s+", re.UNICODE)
"""Words and punctuation with their trailing space: runs of changed words read as one mark."""


def inline_diff(old: str, new: str) -> tuple[Markup, Markup]:
    """Word-level changes inside a changed line, escaped, as ``<del>``/``<ins>``."""
    a, b = _TOKEN.findall(old), _TOKEN.findall(new)
    left, right = [], []
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        old_part, new_part = escape("".join(a[i1:i2])), escape("".join(b[j1:j2]))
        if tag == "equal":
            left.append(old_part)
            right.append(new_part)
            continue
        if old_part:
            left.append(Markup("<del>%s</del>") % old_part)
        if new_part:
            right.append(Markup("<ins>%s</ins>") % new_part)
    return Markup("").join(left), Markup("").join(right)


def diff_cells(row: DiffRow) -> tuple[Markup | None, Markup | None]:
    """The two cells of a side-by-side row, escaped; replaced lines get word-level marks."""
    if row.op == "replace" and row.a_text is not None and row.b_text is not None:
        return inline_diff(row.a_text, row.b_text)
    return (
        None if row.a_text is None else escape(row.a_text),
        None if row.b_text is None else escape(row.b_text),
    )


# -- rendering -------------------------------------------------------------------------------------------
def path_for(request: Request, route: str, query: dict[str, Any] | None = None, /, **path_params: Any) -> str:
    """Root-relative path of a named route of this app, plus an optional query.

    Resolved by the app's own router under the request's ``root_path`` (a mount prefix or a proxy's root path),
    so it works however the app is mounted, even behind a wrapper such as the Airflow plugin's lazy app.
    """
    path = request.scope.get("root_path", "").rstrip("/") + request.app.url_path_for(route, **path_params)
    pairs = {k: v for k, v in (query or {}).items() if v not in (None, "")}
    return f"{path}?{urlencode(pairs)}" if pairs else path


def page_href(request: Request, page: int) -> str:
    """A link to another page of the current listing: same path and filters, another ``page``."""
    params = [(k, v) for k, v in request.query_params.multi_items() if k != "page"]
    return "?" + urlencode([*params, ("page", str(page))])


def status_kind(value: str | None) -> str:
    """Badge colour of a status word (run status, permission status, HTTP status...)."""
    text = str(value or "")
    if text in ("ok", "valid", "archive", "new") or text.startswith("2"):
        return "ok"
    if text in ("partial", "expiring", "changed", "unchanged", "skipped", "warning") or text.startswith("3"):
        return "warn"
    if text.startswith(("refused", "failed", "failing")) or text[:1] in ("4", "5"):
        return "bad"
    return "info"


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(HERE / "templates"),
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
        undefined=jinja2.StrictUndefined,
    )
    env.globals.update(status_kind=status_kind, permission_pairs=permission_pairs, min=min, max_query=MAX_QUERY_CHARS)
    env.globals.update(usage_pairs=usage_pairs)
    env.filters["filesize"] = filesize
    env.filters["when"] = when
    return env


ENV = _environment()


def render(request: Request, template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    """Render a page; templates get ``path_for``, ``static_url``, ``page_href`` bound to this request."""
    helpers = {
        "request": request,
        "path_for": lambda route, query=None, /, **params: path_for(request, route, query, **params),
        "static_url": lambda filename: path_for(request, "page_static", filename=filename),
        "page_href": lambda page: page_href(request, page),
        "page_count": lambda page: page.pages,
        # Downloads are served by the JSON API (feedvault.web.api), by route name.
        "clean_json_url": lambda sid: path_for(request, "clean_json", snapshot_id=sid),
        "warc_record_url": lambda sid: path_for(request, "warc_record", snapshot_id=sid),
        "wacz_url": lambda sid: path_for(request, "capture_wacz", snapshot_id=sid),
        "day_jsonl_url": lambda feed, day: path_for(request, "export_day", feed=feed, day=day),
    }
    html = ENV.get_template(template).render({"nav": None, "wide": False, **helpers, **context})
    return HTMLResponse(html, status_code=status_code)


def error_page(request: Request, status_code: int, title: str, problems: Sequence[str]) -> HTMLResponse:
    return render(request, "error.html", status_code, code=status_code, title=title, problems=list(problems))


def _describe(error: dict[str, Any]) -> str:
    where = ".".join(str(part) for part in error.get("loc", ())[1:]) or "request"
    return f"{where}: {error.get('msg', 'invalid value')}"


class PageRoute(APIRoute):
    """Routes that answer bad parameters with a 400 page and unknown things with a 404 page (HTML, not JSON)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def guarded(request: Request) -> Response:
            try:
                return await handler(request)
            except RequestValidationError as exc:
                return error_page(request, 400, "Bad request", [_describe(e) for e in exc.errors()])
            except BadRequest as exc:
                return error_page(request, 400, "Bad request", [str(exc)])
            except NotFoundError as exc:
                return error_page(request, 404, "Not found", [str(exc)])

        return guarded


router = APIRouter(route_class=PageRoute, include_in_schema=False)


# -- pages -----------------------------------------------------------------------------------------------
@router.get("/static/{filename}", name="page_static")
def static_file(filename: str) -> Response:
    """The stylesheet (and any other file of ``web/static``), never anything outside it; anything else is a 404."""
    path = STATIC_FILES.get(filename)
    if path is None:
        raise NotFoundError(f"no static file {filename[:80]!r}")
    return Response(
        path.read_bytes(), media_type=STATIC_TYPES[path.suffix], headers={"Cache-Control": "public, max-age=3600"}
    )


@router.get("/", name="page_feeds")
def feeds_page(request: Request, page: PageNumber = 1, per_page: PerPage = None) -> HTMLResponse:
    catalog = catalog_of(request)
    feeds = paginate(catalog.feeds(), page, per_page or 50)
    runs = catalog.runs(1, 1).items
    return render(request, "feeds.html", nav="feeds", feeds=feeds, last_run=runs[0] if runs else None)


def feed_summary(catalog: BrowseCatalog, feed: str) -> FeedSummary:
    found = catalog.feed(feed)
    if found is None:
        raise NotFoundError(f"no feed {feed!r} in the archive")
    return found


@router.get("/feeds/{feed}", name="page_feed")
def feed_page(request: Request, feed: str, page: PageNumber = 1, per_page: PerPage = None) -> HTMLResponse:
    catalog = catalog_of(request)
    summary = feed_summary(catalog, feed)
    return render(request, "days.html", nav="feeds", feed=summary, days=catalog.days(feed, page, per_page or 31))


@router.get("/feeds/{feed}/{day}", name="page_day")
def day_page(request: Request, feed: str, day: str, page: PageNumber = 1, per_page: PerPage = None) -> HTMLResponse:
    catalog = catalog_of(request)
    day = optional_day(day, "day") or ""
    summary = feed_summary(catalog, feed)
    articles = catalog.articles(feed, day, page, per_page or 50)
    if not articles.total:
        raise NotFoundError(f"feed {feed!r} has no snapshots on {day}")
    return render(request, "day.html", nav="feeds", feed=summary, day=day, articles=articles)


def previous_version(history: Sequence[SnapshotSummary], index: int) -> SnapshotSummary | None:
    """The latest snapshot before ``history[index]`` whose payload differs (the one worth comparing with)."""
    current = history[index]
    return next((s for s in reversed(history[:index]) if s.sha256 != current.sha256), None)


def snapshot_context(service: ArchiveService, snapshot_id: str) -> dict[str, Any]:
    """What every snapshot page shows: the snapshot, its URL's history and the previous different version."""
    snapshot = service.snapshot(snapshot_id)
    history = service.catalog.history(snapshot.url)
    index = next((i for i, s in enumerate(history) if s.id == snapshot.id), 0)
    return {"snap": snapshot, "history": history, "previous": previous_version(history, index) if history else None}


@router.get("/snapshots/{snapshot_id}", name="page_article")
def article_page(request: Request, snapshot_id: str) -> HTMLResponse:
    """An article: clean text, metadata, permission decision, provenance and downloads."""
    context = snapshot_context(get_service(request), snapshot_id)
    paragraphs = [p for p in context["snap"].text.split("\n") if p.strip()]
    return render(request, "article.html", nav="feeds", paragraphs=paragraphs, **context)


@router.get("/snapshots/{snapshot_id}/raw", name="page_raw")
def raw_page(request: Request, snapshot_id: str, view: Literal["page", "source"] = "page") -> HTMLResponse:
    """The raw capture: rendered in a sandboxed frame, or as escaped source; with the HTTP and WARC headers."""
    service = get_service(request)
    context = snapshot_context(service, snapshot_id)
    raw = service.raw_record(snapshot_id)
    source = None
    if view == "source":
        _, charset = content_type_parts(raw.content_type)
        source = decode_payload(raw.payload[:SOURCE_LIMIT], charset)
    return render(
        request,
        "raw.html",
        nav="feeds",
        wide=view == "page",
        raw=raw,
        view=view,
        source=source,
        truncated=len(raw.payload) > SOURCE_LIMIT,
        source_limit=SOURCE_LIMIT,
        **context,
    )


@router.get("/snapshots/{snapshot_id}/capture", name="page_capture")
def capture(request: Request, snapshot_id: str) -> Response:
    """The archived payload itself, for the raw view's frame: sandboxed by CSP, never sniffed, never cached."""
    raw = get_service(request).raw_record(snapshot_id)
    media_type, charset = content_type_parts(raw.content_type)
    if media_type not in RAW_TYPES:
        media_type = "text/plain"
    headers = {
        "Content-Type": f"{media_type}; charset={charset}" if charset else media_type,
        "Content-Security-Policy": RAW_CSP,
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        "X-Frame-Options": "SAMEORIGIN",
        "Cross-Origin-Resource-Policy": "same-origin",
        "Cache-Control": "private, no-store",
    }
    return Response(raw.payload, headers=headers)


@router.get("/history", name="page_history")
def history_page(
    request: Request,
    url: str = Query(..., min_length=1, max_length=4096),
    page: PageNumber = 1,
    per_page: PerPage = None,
) -> HTMLResponse:
    """Every snapshot of a URL; pick two to compare."""
    snapshots = get_service(request).history(url)
    listing = paginate(snapshots[::-1], page, per_page or 50)
    newest = snapshots[-1]
    older = previous_version(snapshots, len(snapshots) - 1) or snapshots[max(0, len(snapshots) - 2)]
    return render(request, "history.html", nav="feeds", url=url, snapshots=listing, a=older.id, b=newest.id)


@router.get("/diff", name="page_diff")
def diff_page(
    request: Request,
    a: str = Query(..., min_length=1, max_length=64),
    b: str = Query(..., min_length=1, max_length=64),
) -> HTMLResponse:
    """Side-by-side diff of the clean text of two snapshots (usually of the same URL)."""
    service = get_service(request)
    compared = service.diff(a, b)
    choices = service.catalog.history(compared.b.url)[::-1]
    if all(s.id != compared.a.id for s in choices):
        choices.append(compared.a)
    rows = [(row, *diff_cells(row)) for row in compared.diff.rows]
    return render(
        request,
        "diff.html",
        nav="feeds",
        wide=True,
        a=compared.a,
        b=compared.b,
        diff=compared.diff,
        rows=rows,
        choices=choices,
    )


@router.get("/search", name="page_search")
def search_page(
    request: Request,
    q: str = Query("", max_length=MAX_QUERY_CHARS),
    feed: str = Query("", max_length=64),
    date_from: str = Query("", alias="from", max_length=10),
    date_to: str = Query("", alias="to", max_length=10),
    lang: str = Query("", max_length=16),
    language: str = Query("", max_length=16),  # the old name of ``lang``: links made before still work
    published_from: str = Query("", max_length=10),
    published_to: str = Query("", max_length=10),
    page: PageNumber = 1,
    per_page: PerPage = None,
) -> HTMLResponse:
    """Full-text search with feed, date range and language filters; snippets highlight the matches.

    Parameters are named as in the API's ``/search`` (``q``, ``feed``, ``from``, ``to``, ``lang``).
    """
    catalog = catalog_of(request)
    language = lang or language
    filters = {
        "feed": feed or None,
        "date_from": optional_day(date_from, "from"),
        "date_to": optional_day(date_to, "to"),
        "language": language or None,
        "published_from": optional_day(published_from, "published_from"),
        "published_to": optional_day(published_to, "published_to"),
    }
    hits = None
    if q.strip():
        try:
            hits = catalog.search(q, **filters, page=page, per_page=per_page or 20)
        except ValueError as exc:
            raise BadRequest(str(exc)) from None
    form = {
        "q": q,
        "feed": feed,
        "from": date_from,
        "to": date_to,
        "lang": language,
        "published_from": published_from,
        "published_to": published_to,
    }
    feeds = [f.id for f in catalog.feeds()]
    return render(request, "search.html", nav="search", form=form, feeds=feeds, hits=hits)


@router.get("/runs", name="page_runs")
def runs_page(request: Request, page: PageNumber = 1, per_page: PerPage = None) -> HTMLResponse:
    catalog = catalog_of(request)
    return render(request, "runs.html", nav="runs", runs=catalog.runs(page, per_page or 20))


@router.get("/runs/{run_id}", name="page_run")
def run_page(request: Request, run_id: str) -> HTMLResponse:
    manifest = get_service(request).run_manifest(run_id)
    return render(request, "run.html", nav="runs", run=manifest)


@router.get("/health", name="page_health")
def health_page(request: Request) -> HTMLResponse:
    reports = get_service(request).health()
    counts = {state: sum(1 for r in reports if r["state"] == state) for state in ("failing", "warning", "ok")}
    return render(request, "health.html", nav="health", reports=reports, counts=counts)


@router.get("/tombstones", name="page_tombstones")
def tombstones_page(request: Request, page: PageNumber = 1, per_page: PerPage = None) -> HTMLResponse:
    catalog = catalog_of(request)
    return render(request, "tombstones.html", nav="tombstones", tombstones=catalog.tombstones(page, per_page or 50))
