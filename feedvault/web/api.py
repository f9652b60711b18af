"""The JSON API (mounted under ``/api/v1``): the same data as the pages, plus downloads.

Parameters are validated strictly (422 with the failing parameter named); bad values the catalog rejects
(an empty search, a date range upside down) are 400; unknown ids are 404.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass
from typing import IO, Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request, Response
from fastapi.responses import JSONResponse, StreamingResponse
from fastapi.routing import APIRoute

from feedvault.catalog import (
    MAX_PAGE,
    MAX_PER_PAGE,
    MAX_QUERY_CHARS,
    DaySummary,
    FeedSummary,
    Page,
    RunSummary,
    Snapshot,
    SnapshotSummary,
    Tombstone,
    parse_day,
)
from feedvault.config import FEED_ID_RE
from feedvault.keys import RUN_ID_RE
from feedvault.web.deps import get_service
from feedvault.web.diffing import DiffRow
from feedvault.web.service import ArchiveService, ExportTally, NotFoundError

SNAPSHOT_ID = r"^[0-9a-f]{16}$"
DAY = r"^\d{4}-\d{2}-\d{2}$"
MAX_URL_CHARS = 4096


class ApiRoute(APIRoute):
    """Maps service errors to JSON: NotFoundError -> 404, ValueError -> 400 (API routes only)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            try:
                return await handler(request)
            except NotFoundError as exc:
                return JSONResponse({"detail": str(exc)}, status_code=404)
            except ValueError as exc:
                return JSONResponse({"detail": str(exc)}, status_code=400)

        return route


router = APIRouter(route_class=ApiRoute, tags=["archive"])
Service = Annotated[ArchiveService, Depends(get_service)]
FeedId = Annotated[str, Path(pattern=FEED_ID_RE, description="feed id")]
DayParam = Annotated[str, Path(pattern=DAY, description="day of the runs, YYYY-MM-DD")]
SnapshotId = Annotated[str, Path(pattern=SNAPSHOT_ID, description="snapshot id (16 hex chars)")]
PageNo = Annotated[int, Query(ge=1, le=MAX_PAGE, description="page number, from 1")]
PerPage = Annotated[int, Query(ge=1, le=MAX_PER_PAGE, description="items per page")]
OptionalDay = Annotated[str | None, Query(pattern=DAY, description="YYYY-MM-DD")]
ExportFor = Annotated[
    Literal["ai-training"] | None,
    Query(alias="for", description="leave out snapshots whose publisher reserved this use (ai-training)"),
]


@dataclass(frozen=True)
class SearchResult:
    snapshot: SnapshotSummary
    snippet: str
    snippet_html: str


@dataclass(frozen=True)
class DiffResult:
    a: SnapshotSummary
    b: SnapshotSummary
    added: int
    removed: int
    changed: bool
    rows: list[DiffRow]


@dataclass(frozen=True)
class RawInfo:
    snapshot_id: str
    url: str
    status: int | None
    content_type: str
    payload_bytes: int
    warc_headers: dict[str, str]
    http_headers: list[tuple[str, str]]
    warc_key: str
    offset: int
    length: int


def _day(value: str) -> str:
    """A day that matched the pattern but may still be impossible (2026-02-30): 422."""
    try:
        return parse_day(value)
    except ValueError as exc:
        raise HTTPException(status_code=422, detail=str(exc)) from None


def _known_feed(service: ArchiveService, feed: str) -> None:
    if service.catalog.feed(feed) is None:
        raise NotFoundError(f"no feed {feed!r} in the archive")


def _download(data: bytes, filename: str, media_type: str) -> Response:
    return Response(data, media_type=media_type, headers={"Content-Disposition": f'attachment; filename="{filename}"'})


@router.get("/feeds", summary="Feeds with their last run, counts and permission status")
def feeds(service: Service) -> list[FeedSummary]:
    return service.catalog.feeds()


@router.get("/feeds/{feed}/days", summary="Days a feed has snapshots on, newest first")
def days(service: Service, feed: FeedId, page: PageNo = 1, per_page: PerPage = 31) -> Page[DaySummary]:
    _known_feed(service, feed)
    return service.catalog.days(feed, page, per_page)


@router.get("/feeds/{feed}/days/{day}/articles", summary="Snapshots a feed archived on a day")
def articles(
    service: Service, feed: FeedId, day: DayParam, page: PageNo = 1, per_page: PerPage = 50
) -> Page[SnapshotSummary]:
    _known_feed(service, feed)
    return service.catalog.articles(feed, _day(day), page, per_page)


@router.get(
    "/feeds/{feed}/days/{day}/export.jsonl",
    summary="Download a feed's day as JSON Lines (one clean record per line)",
    response_class=StreamingResponse,
)
def export_day(service: Service, feed: FeedId, day: DayParam, purpose: ExportFor = None) -> StreamingResponse:
    """Read in full before the first byte is sent: an archive failing mid-read is a 503, never a truncated 200.

    Every record carries its ``usage`` field. With ``for=ai-training``, snapshots whose publisher reserved AI
    training are left out; the ``X-Feedvault-Left-Out`` headers say how many and which signals reserved it.
    """
    _known_feed(service, feed)
    tally = ExportTally(purpose)
    body, size = service.day_jsonl_file(feed, _day(day), tally)
    return StreamingResponse(
        _chunks(body),
        media_type="application/x-ndjson",
        headers={
            "Content-Disposition": f'attachment; filename="{feed}-{day}.jsonl"',
            "Content-Length": str(size),
            **_tally_headers(tally),
        },
    )


def _tally_headers(tally: ExportTally) -> dict[str, str]:
    """What an export for a purpose left out, as response headers (the body stays plain JSON Lines)."""
    if not tally.purpose:
        return {}
    return {
        "X-Feedvault-Export-For": tally.purpose,
        "X-Feedvault-Left-Out": str(tally.left_out),
        "X-Feedvault-Left-Out-Reasons": ", ".join(f"{k}={v}" for k, v in sorted(tally.reasons.items())),
    }


def _chunks(body: IO[bytes], size: int = 64 * 1024) -> Iterator[bytes]:
    """The file's bytes in pieces; closes it when done (or when the client went away)."""
    with body:
        while chunk := body.read(size):
            yield chunk


@router.get("/snapshots/{snapshot_id}", summary="A snapshot: metadata, permission, provenance and clean text")
def snapshot(service: Service, snapshot_id: SnapshotId) -> Snapshot:
    return service.snapshot(snapshot_id)


@router.get("/snapshots/{snapshot_id}/clean.json", summary="Download the clean JSON record as archived")
def clean_json(service: Service, snapshot_id: SnapshotId) -> Response:
    return _download(service.clean_record_bytes(snapshot_id), f"{snapshot_id}.json", "application/json")


@router.get("/snapshots/{snapshot_id}/record.warc.gz", summary="Download the raw capture's WARC response record")
def warc_record(service: Service, snapshot_id: SnapshotId) -> Response:
    return _download(service.warc_record_bytes(snapshot_id), f"{snapshot_id}.warc.gz", "application/warc")


@router.get(
    "/snapshots/{snapshot_id}/capture.wacz",
    summary="Download the capture as a WACZ (request, response and metadata records; opens in ReplayWeb.page)",
)
def capture_wacz(service: Service, snapshot_id: SnapshotId) -> Response:
    return _download(service.snapshot_wacz(snapshot_id), f"{snapshot_id}.wacz", "application/wacz")


@router.get("/snapshots/{snapshot_id}/raw", summary="The raw capture's WARC and HTTP headers (one ranged GET)")
def raw_info(service: Service, snapshot_id: SnapshotId) -> RawInfo:
    raw = service.raw_record(snapshot_id)
    loc = raw.location
    return RawInfo(
        raw.snapshot_id,
        raw.url,
        raw.status,
        raw.content_type,
        len(raw.payload),
        raw.warc_headers,
        raw.http_headers,
        loc.warc_key,
        loc.offset,
        loc.length,
    )


@router.get("/history", summary="Every snapshot of a URL, oldest first")
def history(
    service: Service, url: Annotated[str, Query(min_length=1, max_length=MAX_URL_CHARS)]
) -> list[SnapshotSummary]:
    return service.history(url)


@router.get("/diff", summary="Line diff of the clean text of two snapshots (side-by-side rows)")
def diff(
    service: Service,
    a: Annotated[str, Query(pattern=SNAPSHOT_ID, description="older snapshot id")],
    b: Annotated[str, Query(pattern=SNAPSHOT_ID, description="newer snapshot id")],
) -> DiffResult:
    result = service.diff(a, b)
    d = result.diff
    return DiffResult(result.a, result.b, d.added, d.removed, d.changed, d.rows)


@router.get("/search", summary="Full-text search, newest first, with feed, date range and language filters")
def search(
    service: Service,
    q: Annotated[str, Query(min_length=1, max_length=MAX_QUERY_CHARS, description='words; "phrases"; prefix*')],
    feed: Annotated[str | None, Query(pattern=FEED_ID_RE)] = None,
    date_from: Annotated[str | None, Query(alias="from", pattern=DAY, description="first day, YYYY-MM-DD")] = None,
    date_to: Annotated[str | None, Query(alias="to", pattern=DAY, description="last day, YYYY-MM-DD")] = None,
    lang: Annotated[str | None, Query(pattern=r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8})?$")] = None,
    page: PageNo = 1,
    per_page: PerPage = 20,
    published_from: Annotated[str | None, Query(pattern=DAY, description="published on or after")] = None,
    published_to: Annotated[str | None, Query(pattern=DAY, description="published on or before")] = None,
) -> Page[SearchResult]:
    """``from``/``to`` bound the capture day; ``published_from``/``published_to`` the publication day."""
    found = service.catalog.search(
        q,
        feed=feed,
        date_from=_day(date_from) if date_from else None,
        date_to=_day(date_to) if date_to else None,
        published_from=_day(published_from) if published_from else None,
        published_to=_day(published_to) if published_to else None,
        language=lang,
        page=page,
        per_page=per_page,
    )
    items = [SearchResult(h.snapshot, h.snippet_text, h.snippet_html) for h in found.items]
    return Page(items, found.page, found.per_page, found.total, found.total_exact)


@router.get("/runs", summary="Committed runs, newest first")
def runs(service: Service, page: PageNo = 1, per_page: PerPage = 20) -> Page[RunSummary]:
    return service.catalog.runs(page, per_page)


@router.get("/runs/{run_id}", summary="A run manifest as archived")
def run_manifest(
    service: Service, run_id: Annotated[str, Path(pattern=RUN_ID_RE.pattern, description="run id")]
) -> dict[str, Any]:
    return service.run_manifest(run_id)


@router.get("/health", summary="Each feed's health (ok, warning, failing), its problems and what to do, worst first")
def feed_health(
    service: Service,
    feed: Annotated[list[str] | None, Query(description="only these feeds (repeatable)")] = None,
) -> dict[str, Any]:
    for feed_id in feed or ():
        _known_feed(service, feed_id)
    reports = service.health(feed)
    states = {r["state"] for r in reports}
    overall = "failing" if "failing" in states else "warning" if "warning" in states else "ok"
    return {"as_of": dt.datetime.now(dt.UTC).isoformat(), "state": overall, "feeds": reports}


@router.get("/tombstones", summary="Taken-down URLs")
def tombstones(service: Service, page: PageNo = 1, per_page: PerPage = 50) -> Page[Tombstone]:
    return service.catalog.tombstones(page, per_page)


__all__ = ["router"]
