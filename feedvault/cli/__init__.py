"""The ``feedvault`` command line. Exit codes: :mod:`feedvault.cli.exitcodes` (one table for every command)."""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import logging
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any, NoReturn

from rich.table import Table

from feedvault.cli.console import (  # noqa: F401 (re-exported for the subcommand modules' callers)
    EXIT_CONFIG,
    EXIT_FAILED_FEED,
    EXIT_INTERRUPTED,
    EXIT_NOT_FOUND,
    EXIT_OK,
    EXIT_STORAGE,
    EXIT_UNAVAILABLE,
    console,
    out,
)
from feedvault.cli.listing import Listing, add_format_options, emit
from feedvault.config import ConfigError, Registry, load_registry
from feedvault.crawl.plan import RunPlan, add_run_arguments
from feedvault.logs import console_logging
from feedvault.store.backends import StorageError


class _Parser(argparse.ArgumentParser):
    """argparse, but a bad argument is one line on stderr (what is wrong, where the help is) and exit 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_CONFIG, f"{self.prog}: {message} (see `{self.prog} --help`)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="feedvault", description="Archive permitted news feeds to S3.")
    parser.add_argument("--registry", help="registry YAML (default: $FEEDVAULT_REGISTRY or the bundled demo)")
    parser.add_argument("-v", "--verbose", action="store_true", help="show crawler logs")
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="crawl feeds and archive what changed")
    add_run_arguments(run)  # the run plan's options (feedvault.crawl.plan), shared with the runner
    run.add_argument("--demo", action="store_true", help="serve the bundled demo publisher on 127.0.0.1 meanwhile")
    run.add_argument("--json", action="store_true", help="print the run manifest as JSON on stdout")
    run.set_defaults(handler=cmd_run)

    _add_clean_parser(sub)

    feeds = sub.add_parser("feeds", help="list feeds with their permission status")
    add_format_options(feeds)
    feeds.set_defaults(handler=cmd_feeds)

    runs = sub.add_parser("runs", help="list recent runs from their manifests")
    runs.add_argument("--limit", type=int, default=10)
    runs.add_argument("--show", metavar="RUN_ID", help="print one run manifest as JSON")
    add_format_options(runs)
    runs.set_defaults(handler=cmd_runs)

    for add_parser in _command_modules():
        add_parser(sub)
    return parser


def _add_clean_parser(sub: Any) -> None:
    clean = sub.add_parser("clean", help="clean an HTML page from stdin and print its text")
    clean.add_argument("--url", help="the page's URL (helps metadata and relative links)")
    clean.add_argument("--feed", metavar="ID", help="apply this feed's cleaning rules from the registry")
    clean.add_argument("--json", action="store_true", help="print the whole clean record as JSON")
    clean.add_argument(
        "--explain", action="store_true", help="after the text, list every removed line: family, rule, reason, line"
    )
    clean.add_argument(
        "--learned",
        action="store_true",
        help="with --feed: also remove the feed's learned boilerplate (reads fingerprints/<feed>.json from the archive)",
    )
    clean.set_defaults(handler=cmd_clean)


def _command_modules() -> list[Callable[[Any], None]]:
    """The other subcommands, one registration style: each module's ``add_parser(sub)`` adds its subcommand(s),
    each with its handler (``args.handler``). Imported here, not at the top: they import the CLI's console."""
    from feedvault.archive import check, gc, reclean
    from feedvault.cli import browse_commands, health_commands, store_commands
    from feedvault.permission import takedown

    return [
        takedown.add_parser,
        reclean.add_parser,
        check.add_parser,  # verifies the archive
        health_commands.add_parser,
        gc.add_parser,  # removes what crashed runs left
        store_commands.add_parser,  # start|stop|status: the embedded S3 store kept running between commands
        browse_commands.add_parser,  # ls, show, history, diff, search, export, reindex, cdxj, browse
    ]


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    console_logging(logging.INFO if args.verbose else logging.WARNING)
    try:
        return args.handler(args)
    except ConfigError as exc:
        console.print(f"[red]configuration error[/red]: {exc}")
        console.print("Fix the registry file named above; `feedvault feeds` checks it without crawling.")
        return EXIT_CONFIG
    except StorageError as exc:
        console.print(f"[red]storage error[/red]: {exc}")
        return EXIT_STORAGE
    except KeyboardInterrupt:
        console.print("interrupted; nothing of an unfinished run is published (no run manifest). Re-run it.")
        return EXIT_INTERRUPTED


# -- run -------------------------------------------------------------------------------------------------
DEMO_URL = "http://127.0.0.1:8765"  # fixed, so that URLs (and so the archive's identities) are stable


@contextlib.contextmanager
def _demo_publisher() -> Iterator[str]:
    from urllib.parse import urlsplit

    from feedvault.demo import DEMO_SITE
    from feedvault.demo.server import SiteServer

    port = urlsplit(os.environ.get("FEEDVAULT_DEMO_URL", DEMO_URL)).port or 8765
    try:
        server = SiteServer(DEMO_SITE, port=port).start()
    except OSError as exc:
        raise ConfigError(
            f"cannot serve the demo publisher on 127.0.0.1:{port} ({exc.strerror}); "
            "set FEEDVAULT_DEMO_URL=http://127.0.0.1:<free port>"
        ) from None
    with server:
        os.environ["FEEDVAULT_DEMO_URL"] = server.base_url
        console.print(f"demo publisher serving on {server.base_url}")
        yield server.base_url


def cmd_run(args: argparse.Namespace) -> int:
    from feedvault.crawl.runner import run_feeds
    from feedvault.store.target import open_archive

    with contextlib.ExitStack() as stack:
        if args.demo:
            stack.enter_context(_demo_publisher())
        registry = load_registry(args.registry)
        unknown = [feed_id for feed_id in args.feeds or () if feed_id not in {f.id for f in registry.feeds}]
        if unknown:
            known = ", ".join(f.id for f in registry.feeds) or "(none)"
            sys.stderr.write(f"feedvault run: --feed {unknown[0]!r}: no such feed in the registry (it has: {known})\n")
            return EXIT_CONFIG
        plan = RunPlan.from_cli(args, trigger="cli")
        store = stack.enter_context(open_archive(registry.settings.storage))
        console.print(f"archive: {store.uri} (local data: {registry.settings.storage.data_dir})", highlight=False)
        with _Progress() as progress:
            result = run_feeds(
                registry, store, plan, log_level="INFO" if args.verbose else "WARNING", on_progress=progress.update
            )
    if args.json:
        out.print_json(data=result.manifest)
    _print_summary(result, store.uri, dry_run=plan.dry_run)
    return result.exit_code


class _Progress:
    """One live line per feed with its counts so far; updated from the crawler thread, redrawn at 4 Hz."""

    def __init__(self) -> None:
        from rich.live import Live

        self._lines: dict[str, str] = {}
        self._lock = threading.Lock()
        self._live = Live(console=console, refresh_per_second=4, transient=True, get_renderable=self._render)
        self._last = 0.0

    def __enter__(self) -> _Progress:
        if console.is_terminal:
            self._live.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if console.is_terminal:
            self._live.stop()

    def update(self, log: Any) -> None:
        counts = log.counts()
        line = ", ".join(f"{n} {k}" for k, n in counts.items() if n) or "starting"
        with self._lock:
            self._lines[log.feed_id] = line
        now = time.monotonic()
        if not console.is_terminal and now - self._last > 10:  # logs and CI: a line every 10 s
            self._last = now
            console.print(f"progress: {log.feed_id}: {line}")

    def _render(self) -> Table:
        table = Table.grid(padding=(0, 2))
        with self._lock:
            for feed_id, line in self._lines.items():
                table.add_row(f"[bold]{feed_id}[/bold]", line)
        return table


def _print_summary(result: Any, uri: str, dry_run: bool) -> None:
    from feedvault.archive.manifest import DISPLAY_COLUMNS, display_counts

    manifest = result.manifest
    table = Table(title=f"run {result.run_id}" + (" (dry run: nothing written)" if dry_run else ""))
    for column in ("feed", "status", *DISPLAY_COLUMNS, "bytes"):
        table.add_column(column, justify="left" if column in ("feed", "status") else "right")
    for feed in manifest["feeds"]:
        style = {"ok": "green", "failed": "red", "refused": "yellow"}.get(feed["status"], "")
        table.add_row(
            feed["feed"],
            f"[{style}]{feed['status']}[/{style}]" if style else feed["status"],
            *(str(n) for n in display_counts(feed["counts"], feed.get("not_due", 0)).values()),
            f"{feed['bytes_written']:,}",
        )
    out.print(table)
    for feed in manifest["feeds"]:
        if feed.get("error"):
            out.print(f"[red]{feed['feed']} failed[/red]: {feed['error']}")
        for warning in feed.get("warnings", [])[:5]:
            out.print(f"[yellow]{feed['feed']}[/yellow]: {warning}")
    if result.would_write is not None:  # a dry run: its writes were discarded (feedvault.store.discard)
        folders = ", ".join(f"{n} {folder}/" for folder, n in sorted(result.would_write["by_folder"].items()))
        out.print(
            f"dry run: would write {result.would_write['objects']} objects "
            f"({result.would_write['bytes']:,} bytes{': ' + folders if folders else ''})"
        )
    for change in result.health_changes:  # a feed's health state changed with this run: `feedvault health`
        out.print(f"[yellow]health[/yellow]: {change.describe()}", soft_wrap=True)
    if result.manifest_key:
        out.print(f"run manifest: {uri}/{result.manifest_key}")
        out.print("look at it: `feedvault runs`, `feedvault runs --show " + result.run_id.value + "`")
    if result.failed_feeds:
        out.print(
            "some feeds failed: see their manifests above; fix the cause and re-run with the same "
            f"--run-id {result.run_id} to replace this run's partition."
        )


# -- clean -----------------------------------------------------------------------------------------------
def cmd_clean(args: argparse.Namespace) -> int:
    from feedvault.cleaning import CleanOptions, clean_html

    options = CleanOptions()
    if args.learned and not args.feed:
        console.print("--learned needs --feed ID: learned boilerplate is per feed")
        return EXIT_CONFIG
    if args.feed:
        registry = load_registry(args.registry)
        feed = registry.feed(args.feed)
        options = CleanOptions(rules=feed.cleaning, learned=_learned_lines(registry, feed.id) if args.learned else None)
    html = sys.stdin.buffer.read()
    if not html.strip():
        console.print("no input: pipe an HTML page in, e.g. `feedvault clean --url URL < page.html`")
        return EXIT_CONFIG
    result = clean_html(html, url=args.url, options=options)
    if args.json:
        sys.stdout.write(json.dumps(result.to_dict(), ensure_ascii=False, indent=1) + "\n")
    else:
        sys.stdout.write(result.text + ("\n" if result.text else ""))
    if args.explain and not args.json:  # the JSON record already carries every removal
        sys.stdout.write(explain_removals(result.to_dict()))
    return EXIT_OK


def _learned_lines(registry: Registry, feed_id: str) -> Any:
    """The feed's learned boilerplate as the crawler applies it (feedvault.cleaning.fingerprints)."""
    from feedvault.cleaning.fingerprints import FeedFingerprints
    from feedvault.store.target import open_archive

    with open_archive(registry.settings.storage) as store:
        return FeedFingerprints.load(store, feed_id).repeated_lines(registry.settings.learned_boilerplate)


def explain_removals(record: dict[str, Any]) -> str:
    """The removals and rights notices of a clean record, one per line (plain text: no markup)."""
    removed = record.get("removed", [])
    lines = [f"\n-- removed {len(removed)} line{'' if len(removed) == 1 else 's'} (family | rule | reason | line)"]
    lines += [f"{r.get('family') or '-'} | {r['rule']} | {r.get('reason') or '-'} | {r['line']}" for r in removed]
    notices = record.get("rights_reservations", [])
    lines.append(f"-- rights notices: {len(notices)} (kind | rule | sentence)")
    lines += [f"{n['kind']} | {n['rule']} | {n['text']}" for n in notices]
    return "\n".join(lines) + "\n"


# -- feeds -----------------------------------------------------------------------------------------------
def cmd_feeds(args: argparse.Namespace) -> int:
    from feedvault.permission.decisions import feed_permission

    registry: Registry = load_registry(args.registry)
    today = dt.datetime.now(dt.UTC).date()
    listing = Listing(
        f"{len(registry.feeds)} feeds", ("id", "enabled", "publisher", "kind", "permission", "basis", "expires", "urls")
    )
    for feed in registry.feeds:
        decision = feed_permission(feed, today)
        if decision["decision"] == "archive":
            status = "expiring soon" if decision.get("warning") else "valid"
        else:
            status = decision["reason"]
        listing.add(
            feed.id,
            "yes" if feed.enabled else "no",
            feed.publisher,
            str(feed.kind),
            status,
            decision.get("basis") or "",
            decision.get("expires_on") or "",
            " ".join(feed.urls),
        )
    emit(listing, args.output_format, out, console)
    return EXIT_OK


# -- runs ------------------------------------------------------------------------------------------------
def cmd_runs(args: argparse.Namespace) -> int:
    from feedvault.store.target import open_archive

    registry = load_registry(args.registry)
    with open_archive(registry.settings.storage) as store:
        manifests = sorted(
            (obj.key for obj in store.list("runs/") if obj.key.endswith("/manifest.json")),
            key=lambda key: key.split("/")[-2],
            reverse=True,
        )
        if args.show:
            match = [k for k in manifests if k.split("/")[-2] == args.show]
            if not match:
                console.print(f"no run {args.show!r} in {store.uri}; `feedvault runs` lists them")
                return EXIT_NOT_FOUND
            sys.stdout.write(store.get_bytes(match[0]).decode() + "\n")
            return EXIT_OK
        columns = ("run", "status", "feeds", "new", "changed", "unchanged", "not_due", "refused", "failed", "seconds")
        listing = Listing(f"recent runs in {store.uri}", columns)
        for key in manifests[: args.limit]:
            m = json.loads(store.get_bytes(key))
            t = m["totals"]
            not_due = m.get("not_due", 0)
            listing.add(
                m["run_id"],
                m["status"],
                len(m["feeds"]),
                t["new"],
                t["changed"],
                t["unchanged"] - not_due,
                not_due,
                t["refused"],
                t["failed"],
                m["seconds"],
            )
    if not manifests:
        listing.notes.append("no runs yet: `feedvault run` archives the registry's feeds")
    emit(listing, args.output_format, out, console)
    return EXIT_OK
