"""``feedvault health``: every feed's health from the archive; exit non-zero when a feed needs attention."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from typing import Any

from feedvault.cli.exitcodes import ExitCode

EXIT_WARNING, EXIT_FAILING = ExitCode.HEALTH_WARNING, ExitCode.HEALTH_FAILING


def add_parser(sub: Any) -> None:
    parser = sub.add_parser("health", help="feed health: failures, silence, cleaning yield, permission changes")
    parser.add_argument("--feed", action="append", dest="feeds", metavar="ID", help="only this feed (repeatable)")
    parser.add_argument("--json", action="store_true", help="print the reports as JSON on stdout")
    parser.add_argument("--rebuild", action="store_true", help="recompute health from every run manifest first")
    parser.set_defaults(handler=cmd_health)


def registry_expiries(registry: Any) -> dict[str, str | None]:
    """The registry's current permission expiry per feed (a renewed record counts before the next run)."""
    return {
        f.id: f.permission.expires_on.isoformat() if f.permission and f.permission.expires_on else None
        for f in registry.feeds
    }


def exit_code(reports: list[dict[str, Any]]) -> int:
    states = {r["state"] for r in reports}
    return EXIT_FAILING if "failing" in states else EXIT_WARNING if "warning" in states else 0


def cmd_health(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table

    from feedvault.config import load_registry
    from feedvault.monitoring.health import rebuild, report
    from feedvault.store.target import open_archive

    registry = load_registry(args.registry)
    for feed_id in args.feeds or ():
        registry.feed(feed_id)  # ConfigError names an unknown id
    settings = registry.settings.health
    with open_archive(registry.settings.storage) as store:
        if args.rebuild:
            rebuild(store, settings)
        reports = report(store, settings, feed_ids=args.feeds, expiries=registry_expiries(registry))
    if args.json:
        sys.stdout.write(json.dumps({"as_of": dt.datetime.now(dt.UTC).isoformat(), "feeds": reports}, indent=1) + "\n")
        return exit_code(reports)
    out = Console()
    if not reports:
        out.print("no health yet: it is recorded by every committed run (`feedvault run`)")
        return 0
    table = Table(title="feed health")
    for column in ("feed", "state", "last run", "last success", "failures", "days quiet", "articles", "short text"):
        table.add_column(column, justify="left" if column in ("feed", "state", "last run", "last success") else "right")
    style = {"ok": "green", "warning": "yellow", "failing": "red"}
    for r in reports:
        cy = r.get("cleaning_yield") or {}
        median = r.get("articles_median")
        table.add_row(
            r["feed"],
            f"[{style[r['state']]}]{r['state']}[/{style[r['state']]}]",
            f"{r['last_run']} ({r['last_status']})",
            (r.get("last_success") or "never")[:16],
            str(r["failure_streak"]),
            "-" if r.get("days_since_new_article") is None else f"{r['days_since_new_article']:g}",
            f"{r.get('articles_last_run')}" + ("" if median is None else f" (median {median:g})"),
            "-" if cy.get("short_share") is None else f"{cy['short_share']:.0%}",
        )
    out.print(table)
    for r in reports:
        for p in r["problems"]:
            out.print(
                f"[{style[p['level']]}]{r['feed']} {p['level']}[/{style[p['level']]}]: {p['message']}", soft_wrap=True
            )
            out.print(f"  what to do: {p['action']}", soft_wrap=True)
    return exit_code(reports)
