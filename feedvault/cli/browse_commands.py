"""The browsing subcommands of ``feedvault``: ls, show, history, diff, search, export, reindex, cdxj, browse.

They read the local catalog (``<data_dir>/catalog.sqlite``, synced from ``catalog/catalog.sqlite`` when that
changed) and fetch records from the archive. Exit codes as the rest of the CLI, plus 4: no such snapshot,
URL, feed or day.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import socket
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any

from rich.markup import escape
from rich.table import Table

from feedvault.catalog import (
    HIGHLIGHT_END,
    HIGHLIGHT_START,
    BrowseCatalog,
    Page,
    local_catalog_errors,
    parse_day,
)
from feedvault.catalog.opener import empty_catalog, open_browse_catalog
from feedvault.cli.console import EXIT_CONFIG, EXIT_NOT_FOUND, EXIT_OK, EXIT_UNAVAILABLE, console, out
from feedvault.cli.listing import Listing, add_format_options, emit, resolve_format
from feedvault.config import load_registry
from feedvault.permission.usage import describe as describe_usage
from feedvault.permission.usage import usage_of
from feedvault.store.backends import Store
from feedvault.web.service import EXPORT_PURPOSES, ArchiveService, ExportTally, NotFoundError

BROWSE_PORT = 8078  # not 8080: Airflow's UI listens there, and people run both side by side
TOKEN_ENV, BASIC_ENV = "FEEDVAULT_BROWSE_TOKEN", "FEEDVAULT_BROWSE_BASIC_AUTH"
Handler = Callable[[argparse.Namespace], int]


def _day_arg(text: str) -> str:
    try:
        return parse_day(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{exc} (e.g. 2026-11-26)") from None


def add_parser(sub: Any) -> None:
    """Add the browsing subcommands to ``feedvault``'s subparsers, each with its handler."""
    _add_reading_parsers(sub)
    _add_archive_parsers(sub)
    _add_browse_parser(sub)
    handlers: dict[str, Handler] = {
        "ls": cmd_ls,
        "show": cmd_show,
        "history": cmd_history,
        "diff": cmd_diff,
        "search": cmd_search,
        "export": cmd_export,
        "reindex": cmd_reindex,
        "cdxj": cmd_cdxj,
        "browse": cmd_browse,
    }
    for name, handler in handlers.items():
        sub.choices[name].set_defaults(handler=handler)


def _add_reading_parsers(sub: Any) -> None:
    """ls, show, history, diff, search: reading the archive through the catalog."""
    ls = sub.add_parser("ls", help="list feeds; a feed's days (--feed); a day's articles (--feed --day)")
    ls.add_argument("--feed", metavar="ID")
    ls.add_argument("--day", type=_day_arg, metavar="DATE", help="capture day YYYY-MM-DD (needs --feed)")
    ls.add_argument("--published", type=_day_arg, metavar="DATE", help="publication day YYYY-MM-DD (needs --feed)")
    _paging(ls)
    add_format_options(ls)

    show = sub.add_parser("show", help="print a snapshot's clean text and metadata (a URL: its latest snapshot)")
    show.add_argument("target", metavar="URL|ID")
    mode = show.add_mutually_exclusive_group()
    mode.add_argument("--raw", action="store_true", help="write the raw captured payload to stdout instead")
    mode.add_argument("--json", action="store_true", help="print the clean JSON record as archived")

    history = sub.add_parser("history", help="list every snapshot of a URL, oldest first")
    history.add_argument("url")
    add_format_options(history)

    diff = sub.add_parser("diff", help="diff the clean text of two snapshots of a URL (default: the last two)")
    diff.add_argument("url")
    diff.add_argument("ids", nargs="*", metavar="A B", help="two snapshot ids (from `feedvault history URL`)")

    search = sub.add_parser("search", help="full-text search of the archive")
    search.add_argument("query")
    search.add_argument("--feed", metavar="ID")
    search.add_argument("--from", dest="date_from", type=_day_arg, metavar="DATE", help="captured on or after")
    search.add_argument("--to", dest="date_to", type=_day_arg, metavar="DATE", help="captured on or before")
    search.add_argument("--published-from", type=_day_arg, metavar="DATE", help="published on or after")
    search.add_argument("--published-to", type=_day_arg, metavar="DATE", help="published on or before")
    search.add_argument("--lang", metavar="CODE", help="language, e.g. id or en")
    _paging(search, per_page=20)
    add_format_options(search)


def _add_archive_parsers(sub: Any) -> None:
    """export, reindex, cdxj: what is derived from the archive."""
    export = sub.add_parser("export", help="export clean records (jsonl) or raw captures for replay tools (wacz)")
    export.add_argument("--format", choices=["jsonl", "wacz"], required=True)
    export.add_argument("--day", type=_day_arg, metavar="DATE", help="capture day (jsonl: required)")
    export.add_argument("--feed", metavar="ID", help="only this feed (default: every feed)")
    export.add_argument("--run", metavar="RUN_ID", help="wacz: one run's captures")
    export.add_argument("--url", help="wacz: every capture of one URL (its history)")
    export.add_argument("-o", "--output", metavar="FILE", help="write here instead of stdout")
    export.add_argument(
        "--for",
        dest="purpose",
        choices=sorted(EXPORT_PURPOSES),
        help="leave out snapshots whose publisher reserved this use (their usage field), and say how many and why",
    )

    reindex = sub.add_parser("reindex", help="rebuild the browse catalog from the archive and publish it")
    reindex.add_argument("--cdxj", action="store_true", help="also write missing CDXJ indexes of the WARCs")

    cdxj = sub.add_parser("cdxj", help="write CDXJ indexes next to the WARCs of committed runs (for pywb)")
    cdxj.add_argument("--run", metavar="RUN_ID", help="only this run's WARCs")
    cdxj.add_argument("--force", action="store_true", help="rewrite existing indexes")


def _add_browse_parser(sub: Any) -> None:
    """browse: the web UI and JSON API."""
    browse = sub.add_parser("browse", help="serve the archive browser and JSON API (127.0.0.1 by default)")
    browse.add_argument("--host", default="127.0.0.1")
    browse.add_argument("--port", type=int, default=BROWSE_PORT, help=f"default {BROWSE_PORT} (Airflow's UI has 8080)")
    browse.add_argument("--token", nargs="?", const="generate", help=f"require this token (default ${TOKEN_ENV})")
    browse.add_argument("--basic-auth", metavar="USER:PASSWORD", help=f"require basic auth (default ${BASIC_ENV})")
    browse.add_argument("--root-path", default="", help="URL prefix when served behind a proxy")
    browse.add_argument(
        "--allowed-host",
        action="append",
        default=[],
        metavar="NAME",
        help="also answer requests for this Host name (loopback names and --host always; "
        "default $FEEDVAULT_BROWSE_ALLOWED_HOSTS, comma-separated)",
    )


def _paging(parser: argparse.ArgumentParser, per_page: int = 50) -> None:
    parser.add_argument("--page", type=int, default=1)
    parser.add_argument("--per-page", type=int, default=per_page)


@contextlib.contextmanager
def _archive(args: argparse.Namespace) -> Iterator[tuple[Store, BrowseCatalog]]:
    """The archive's store and its (synced) local catalog."""
    from feedvault.store.target import open_archive

    registry = load_registry(args.registry)
    storage = registry.settings.storage
    with open_archive(storage) as store, contextlib.ExitStack() as stack:
        console.print(f"archive: {store.uri} (local data: {storage.data_dir})", style="dim", highlight=False)
        with local_catalog_errors(storage.data_dir):
            catalog = stack.enter_context(open_browse_catalog(store, registry.settings, progress=_reindex_progress()))
        yield store, catalog


def _not_found(exc: Exception) -> int:
    console.print(f"[red]not found[/red]: {exc}")
    return EXIT_NOT_FOUND


def _bad(message: str) -> int:
    console.print(f"[red]error[/red]: {message}")
    return EXIT_CONFIG


# -- ls --
def _empty_hint(what: str, hint: str) -> int:
    """An empty answer: say why and what to try, and exit 4 like every other "nothing there" answer."""
    console.print(f"{what}; {hint}")
    return EXIT_NOT_FOUND


def cmd_ls(args: argparse.Namespace) -> int:
    if (args.day or args.published) and not args.feed:
        return _bad("--day/--published need --feed (`feedvault ls` lists the feeds)")
    if args.day and args.published:
        return _bad("give --day (capture day) or --published (publication day), not both")
    with _archive(args) as (_store, catalog):
        try:
            if not args.feed:
                return _ls_feeds(catalog, args.output_format)
            if catalog.feed(args.feed) is None:
                return _not_found(LookupError(f"no feed {args.feed!r} in the archive; `feedvault ls` lists them"))
            if args.published:
                articles = catalog.articles_published(args.feed, args.published, args.page, args.per_page)
                day_kind, day = "published", args.published
            elif args.day:
                articles = catalog.articles(args.feed, args.day, args.page, args.per_page)
                day_kind, day = "captured", args.day
            else:
                return _ls_days(catalog, args)
        except ValueError as exc:
            return _bad(str(exc))
    if not articles.total:
        other = "--published" if day_kind == "captured" else "--day"
        return _empty_hint(
            f"no snapshots of {args.feed} {day_kind} on {day}",
            f"`feedvault ls --feed {args.feed}` lists the capture days; {other} {day} filters by "
            f"{'publication' if other == '--published' else 'capture'} day instead",
        )
    listing = Listing(f"{args.feed}, {day_kind} on {day}: {articles.total} snapshots", _ARTICLE_COLUMNS)
    for a in articles.items:
        listing.add(a.id, a.title or "", a.url, a.fetched_at[:19], (a.published or "")[:19])
    listing.notes.extend(_page_notes(articles, "snapshots"))
    emit(listing, args.output_format, out, console)
    return EXIT_OK


_ARTICLE_COLUMNS = ("id", "title", "url", "fetched", "published")


def _ls_days(catalog: BrowseCatalog, args: argparse.Namespace) -> int:
    days = catalog.days(args.feed, args.page, args.per_page)
    listing = Listing(f"capture days of {args.feed}", ("day", "snapshots", "runs"))
    for d in days.items:
        listing.add(d.day, d.snapshot_count, ",".join(d.run_ids))
    listing.notes.extend(_page_notes(days, "days"))
    emit(listing, args.output_format, out, console)
    return EXIT_OK


def _ls_feeds(catalog: BrowseCatalog, output_format: str | None) -> int:
    feeds = catalog.feeds()
    columns = ("feed", "last_run", "status", "new", "changed", "unchanged", "failed", "snapshots", "permission")
    listing = Listing(f"{len(feeds)} feeds in the archive", columns)
    for f in feeds:
        c = f.last_counts
        listing.add(
            f.id,
            f.last_run_id,
            f.last_status,
            *(c.get(k, 0) for k in ("new", "changed", "unchanged", "failed")),
            f.snapshot_count,
            f.permission_status,
        )
    if not feeds:
        listing.notes.append("nothing archived yet: `feedvault run` archives the registry's feeds")
    emit(listing, output_format, out, console)
    return EXIT_OK


def _page_notes(page: Page[Any], what: str) -> list[str]:
    if page.total > len(page.items) or page.has_next:
        pages = f"{page.pages}" + ("" if page.total_exact else "+")
        return [f"{what}: page {page.page} of {pages} ({page.total_text} in all); --page N for more"]
    return []


# -- show / history / diff --
def cmd_show(args: argparse.Namespace) -> int:
    with _archive(args) as (store, catalog):
        service = ArchiveService(store, catalog)
        try:
            snapshot = service.resolve(args.target)
            if args.raw:
                raw = service.raw_record(snapshot.id)
                console.print(
                    f"HTTP {raw.status} {raw.content_type} from {raw.location.warc_key}@{raw.location.offset}"
                )
                sys.stdout.buffer.write(raw.payload)
                sys.stdout.flush()
                return EXIT_OK
            if args.json:
                sys.stdout.buffer.write(_record_with_usage(service.clean_record_bytes(snapshot.id)) + b"\n")
                sys.stdout.flush()
                return EXIT_OK
        except NotFoundError as exc:
            return _not_found(exc)
    meta = snapshot.metadata
    rows = [
        ("id", snapshot.id),
        ("url", snapshot.url),
        ("title", snapshot.title or "-"),
        ("feed / run", f"{snapshot.feed} / {snapshot.run_id}"),
        ("fetched", snapshot.fetched_at),
        ("published", snapshot.published or "-"),
        ("author", meta.get("author") or "-"),
        ("language", snapshot.language or "-"),
        ("permission", f"{snapshot.permission.get('decision')} ({snapshot.permission.get('basis')})"),
        ("usage", describe_usage(snapshot.usage)),
        ("raw", f"{snapshot.raw.get('warc_key')} @ {snapshot.raw.get('offset')} (+{snapshot.raw.get('length')})"),
        ("sha256", snapshot.sha256 or "-"),
    ]
    if not out.is_terminal:  # a file or a pipe: the whole text, unwrapped, metadata as "name: value" lines
        sys.stdout.write("".join(f"{name}: {value}\n" for name, value in rows) + "\n" + snapshot.text + "\n")
        sys.stdout.flush()
        return EXIT_OK
    header = Table.grid(padding=(0, 2))
    for name, value in rows:
        header.add_row(f"[bold]{name}[/bold]", escape(str(value)))
    console.print(header)
    out.print(escape(snapshot.text), highlight=False)
    return EXIT_OK


def _record_with_usage(data: bytes) -> bytes:
    """The clean record as stored, with its usage field (derived for records archived before it existed)."""
    record = json.loads(data)
    if "usage" in record:
        return data
    record["usage"] = usage_of(record)
    return json.dumps(record, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def cmd_history(args: argparse.Namespace) -> int:
    with _archive(args) as (store, catalog):
        try:
            snapshots = ArchiveService(store, catalog).history(args.url)
        except NotFoundError as exc:
            return _not_found(exc)
    listing = Listing(
        f"{len(snapshots)} snapshots of {args.url}", ("id", "run", "feed", "fetched", "sha256", "words", "title")
    )
    for s in snapshots:
        listing.add(s.id, s.run_id, s.feed, s.fetched_at[:19], s.sha256 or "", s.word_count or "", s.title or "")
    emit(listing, args.output_format, out, console)
    return EXIT_OK


def cmd_diff(args: argparse.Namespace) -> int:
    from feedvault.web.diffing import unified

    if len(args.ids) not in (0, 2):
        return _bad("give two snapshot ids, or none for the last two snapshots of the URL")
    with _archive(args) as (store, catalog):
        service = ArchiveService(store, catalog)
        try:
            if args.ids:
                a, b = (service.snapshot(i) for i in args.ids)
            else:
                history = service.history(args.url)
                distinct = _last_two_distinct(history)
                if distinct is None:
                    console.print(f"only one version of {args.url} is archived: nothing to diff")
                    return EXIT_OK
                a, b = (service.snapshot(i) for i in distinct)
        except NotFoundError as exc:
            return _not_found(exc)
    text = unified(a.text, b.text, f"{a.id} ({a.run_id})", f"{b.id} ({b.run_id})")
    if not text:
        console.print(f"{a.id} and {b.id}: the clean text is identical")
        return EXIT_OK
    if not out.is_terminal:  # a valid unified diff, byte for byte (`feedvault diff URL > change.patch`)
        sys.stdout.write(text)
        sys.stdout.flush()
        return EXIT_OK
    for line in text.splitlines():
        style = (
            "green" if line.startswith("+") else "red" if line.startswith("-") else "cyan" if line[:2] == "@@" else ""
        )
        out.print(f"[{style}]{escape(line)}[/{style}]" if style else escape(line), highlight=False, soft_wrap=True)
    return EXIT_OK


def _last_two_distinct(history: list[Any]) -> tuple[str, str] | None:
    """The ids of the newest snapshot and the newest one before it with a different payload."""
    newest = history[-1]
    older = next((s for s in reversed(history[:-1]) if s.sha256 != newest.sha256), None)
    return (older.id, newest.id) if older else None


# -- search / export --
def cmd_search(args: argparse.Namespace) -> int:
    with _archive(args) as (_store, catalog):
        try:
            hits = catalog.search(
                args.query,
                feed=args.feed,
                date_from=args.date_from,
                date_to=args.date_to,
                published_from=args.published_from,
                published_to=args.published_to,
                language=args.lang,
                page=args.page,
                per_page=args.per_page,
            )
        except ValueError as exc:
            return _bad(str(exc))
    fmt = resolve_format(args.output_format, out)
    if not hits.total:
        console.print(f"0 matches for {args.query!r}")
        if args.date_from or args.date_to:
            console.print(
                "--from/--to bound the capture day; --published-from/--published-to bound the publication day"
            )
        if fmt != "table":
            emit(Listing("", _HIT_COLUMNS), fmt, out, console)
        return EXIT_NOT_FOUND
    if fmt == "table":
        table = Table(title=f"{_matches(hits)} for {escape(args.query)!r}")
        for column in ("id", "day", "feed", "title / snippet"):
            table.add_column(column, overflow="fold")
        for hit in hits.items:
            snippet = (
                escape(hit.snippet).replace(HIGHLIGHT_START, "[bold yellow]").replace(HIGHLIGHT_END, "[/bold yellow]")
            )
            s = hit.snapshot
            table.add_row(s.id, s.day, s.feed, f"[bold]{escape(s.title or s.url)}[/bold]\n{snippet}")
        out.print(table)
        for note in _page_notes(hits, "matches"):
            console.print(note)
        return EXIT_OK
    listing = Listing(f"{_matches(hits)} for {args.query!r}", _HIT_COLUMNS, notes=_page_notes(hits, "matches"))
    for hit in hits.items:
        s = hit.snapshot
        snippet = hit.snippet.replace(HIGHLIGHT_START, "").replace(HIGHLIGHT_END, "")
        listing.add(s.id, s.day, s.feed, s.url, s.title or "", (s.published or "")[:19], snippet)
    emit(listing, fmt, out, console)
    return EXIT_OK


def _matches(hits: Page[Any]) -> str:
    return f"{hits.total_text} match" + ("" if hits.total == 1 and hits.total_exact else "es")


_HIT_COLUMNS = ("id", "day", "feed", "url", "title", "published", "snippet")


def cmd_export(args: argparse.Namespace) -> int:
    if args.format == "wacz":
        return _export_wacz(args)
    if not args.day or args.run or args.url:
        return _bad("--format jsonl exports a capture day: give --day DATE (and optionally --feed ID)")
    tally = ExportTally(args.purpose)
    with _archive(args) as (store, catalog), _output(args) as stream:
        service = ArchiveService(store, catalog)
        feeds = [args.feed] if args.feed else [f.id for f in catalog.feeds()]
        for feed in feeds:
            with contextlib.suppress(NotFoundError):
                for line in service.day_jsonl(feed, args.day, tally):
                    stream.write(line)
    if not tally.written and not tally.left_out:
        return _not_found(LookupError(f"no snapshots on {args.day}" + (f" in feed {args.feed!r}" if args.feed else "")))
    console.print(f"{tally.written} records, each with its usage field" + (f"; {tally.note()}" if args.purpose else ""))
    return EXIT_OK


@contextlib.contextmanager
def _output(args: argparse.Namespace) -> Iterator[Any]:
    if args.output:
        with open(args.output, "wb") as fh:
            yield fh
    else:
        yield sys.stdout.buffer
        sys.stdout.flush()


def _export_wacz(args: argparse.Namespace) -> int:
    import io

    from feedvault.archive.wacz import write_wacz

    if not (args.day or args.run or args.url):
        return _bad("--format wacz needs what to export: --feed ID --day DATE, --run RUN_ID or --url URL")
    if not args.output and sys.stdout.isatty():
        return _bad("a WACZ is a binary file: give -o FILE.wacz (or redirect stdout)")
    with _archive(args) as (store, catalog):
        service = ArchiveService(store, catalog)
        if args.url:
            try:
                ids = [s.id for s in service.history(args.url)]
            except NotFoundError as exc:
                return _not_found(exc)
            title = f"feedvault: every capture of {args.url}"
        else:
            ids = catalog.snapshot_ids(feed=args.feed, day=args.day, run_id=args.run)
            title = "feedvault: " + ", ".join(
                f"{name} {value}"
                for name, value in (("feed", args.feed), ("day", args.day), ("run", args.run))
                if value
            )
        if not ids:
            return _not_found(LookupError("no snapshots match; `feedvault ls` lists feeds, days and runs"))
        tally = ExportTally(args.purpose)
        snapshots = [s for s in (service.snapshot(i) for i in ids) if tally.admit(s.usage)]
        if args.purpose:
            console.print(tally.note())
        if not snapshots:
            return EXIT_OK
        buffer = io.BytesIO()
        summary = write_wacz(store, snapshots, buffer, title=title)
    if not summary.pages:
        return _not_found(LookupError(f"none of the {len(ids)} snapshots has a raw capture (clean-only permission)"))
    with _output(args) as stream:
        stream.write(buffer.getvalue())
    skipped = f"; {len(summary.skipped)} without a raw capture left out" if summary.skipped else ""
    console.print(f"WACZ: {summary.pages} captures, {summary.records} WARC records, {summary.bytes:,} bytes{skipped}")
    return EXIT_OK


# -- reindex / cdxj --
def _reindex_progress() -> Callable[[int, int, str], None]:
    from rich.progress import Progress

    state: dict[str, Any] = {}

    def update(done: int, total: int, run_id: str) -> None:
        if "bar" not in state:
            bar = Progress(console=console, transient=False)
            bar.start()
            state["bar"], state["task"] = bar, bar.add_task("indexing runs", total=total)
        state["bar"].update(state["task"], completed=done, description=f"indexed {run_id}")
        if done >= total:
            state.pop("bar").stop()

    return update


def cmd_reindex(args: argparse.Namespace) -> int:
    from feedvault.store.target import open_archive

    registry = load_registry(args.registry)
    storage = registry.settings.storage
    with open_archive(storage) as store, contextlib.ExitStack() as stack:
        console.print(f"archive: {store.uri} (local data: {storage.data_dir})", style="dim", highlight=False)
        with local_catalog_errors(storage.data_dir):  # whatever was there, even unreadable, is rebuilt
            catalog = stack.enter_context(empty_catalog(store, registry.settings))
            started = time.monotonic()
            count = catalog.reindex(store, _reindex_progress())  # interrupted: the next reindex resumes
            seconds = max(time.monotonic() - started, 1e-6)
            catalog.publish(store)
        console.print(
            f"catalog rebuilt from {store.uri}: {count:,} snapshots, {catalog.counts()['runs']} runs in {seconds:.1f} s"
            f" ({count / seconds:,.0f} snapshots/s); published"
        )
        if args.cdxj:
            _write_cdxj(store, catalog, None, force=False)
    return EXIT_OK


def cmd_cdxj(args: argparse.Namespace) -> int:
    with _archive(args) as (store, catalog):
        return _write_cdxj(store, catalog, args.run, force=args.force)


def _write_cdxj(store: Store, catalog: BrowseCatalog, run_id: str | None, *, force: bool) -> int:
    from feedvault.archive.cdxj import write_cdxj

    warcs = catalog.warc_keys(run_id)
    if run_id and not warcs:
        return _not_found(LookupError(f"no WARCs of a committed run {run_id!r}"))
    written = write_cdxj(store, warcs, force=force, progress=lambda key: console.print(f"wrote {key}"))
    console.print(f"{len(written)} CDXJ indexes written, {len(warcs) - len(written)} already there")
    return EXIT_OK


# -- browse --
def cmd_browse(args: argparse.Namespace) -> int:
    import uvicorn

    from feedvault.web.app import InsecureListenError, allowed_hosts, check_listen, create_app, host_name

    token = (args.token if args.token != "generate" else None) or os.environ.get(TOKEN_ENV) or None
    generated = args.token == "generate" and not token
    if generated:
        token = secrets.token_urlsafe(24)
    basic = args.basic_auth or os.environ.get(BASIC_ENV) or None
    basic_auth = None
    if basic:
        user, sep, password = basic.partition(":")
        if not (sep and user and password):
            return _bad("--basic-auth needs USER:PASSWORD")
        basic_auth = (user, password)
    try:
        check_listen(args.host, auth_token=token, basic_auth=basic_auth)
    except InsecureListenError as exc:
        return _bad(str(exc))
    hosts = allowed_hosts(args.host, args.allowed_host)
    try:
        listener = _listen(args.host, args.port)
    except OSError as exc:
        console.print(
            f"[red]cannot listen on {args.host}:{args.port}[/red]: {exc.strerror or exc}; "
            "pick another port with --port N (Airflow's UI uses 8080)"
        )
        return EXIT_UNAVAILABLE
    with listener, _archive(args) as (store, catalog):
        app = create_app(store, catalog, auth_token=token, basic_auth=basic_auth, root_path=args.root_path, hosts=hosts)
        app.state.service.health_settings = load_registry(args.registry).settings.health  # the Health page's thresholds
        host = host_name(args.host)
        url = f"http://{host}:{listener.getsockname()[1]}{args.root_path}/"
        # A token only appears on the console when this command made it up: one from the environment or the
        # command line is known already, and stdout often ends up in a service's log.
        note = f"?token={token}" if generated else " (token required)" if token else ""
        console.print(f"browsing {store.uri} at {url}{note}")
        console.print(f"answering requests for host {', '.join(hosts)} (--allowed-host NAME adds one)")
        config = uvicorn.Config(app, log_level="warning", proxy_headers=False)
        uvicorn.Server(config).run(sockets=[listener])
    return EXIT_OK


def _listen(host: str, port: int) -> socket.socket:
    """The bound, listening socket, before anything is started: a taken port is a clear error, not a traceback."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(2048)
    except OSError:
        sock.close()
        raise
    return sock
