"""``feedvault store start|stop|status``: keep the embedded S3 store running between commands.

Every command that needs the embedded store uses it under a lease (``feedvault.store.target.embedded_lease``):
it starts one if none runs, and the last user to leave stops it, which costs seconds per command. ``store start``
pins one for the registry's ``data_dir``, so browsing commands answer at once; ``store stop`` unpins and ends it.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from feedvault.config import load_registry


def add_parser(sub: Any) -> None:
    store = sub.add_parser("store", help="start, stop or show the embedded S3 store (kept running between commands)")
    store.add_argument("action", choices=["start", "stop", "status"])
    store.set_defaults(handler=cmd_store)


def cmd_store(args: argparse.Namespace) -> int:
    from feedvault.cli.console import EXIT_CONFIG, EXIT_NOT_FOUND, EXIT_OK, console, out
    from feedvault.store.seaweed import EmbeddedS3
    from feedvault.store.target import pin_embedded, stop_embedded

    storage = load_registry(args.registry).settings.storage
    if not storage.embedded:
        console.print(f"this registry's storage ({storage.uri}) is not the embedded store: nothing to {args.action}")
        return EXIT_CONFIG
    data_dir = Path(storage.data_dir)
    if args.action == "start":
        running = EmbeddedS3.running(data_dir)
        verb = "already running" if running else "started"
        running = pin_embedded(data_dir)  # started if needed; kept after this command
        out.print(f"embedded S3 store {verb}: {running.endpoint_url} (pid {running.pid}, data in {data_dir})")
        console.print("commands reuse it until `feedvault store stop`")
        return EXIT_OK
    if args.action == "stop":
        stopped = stop_embedded(data_dir)
        out.print(f"embedded S3 store in {data_dir} " + ("stopped" if stopped else "was not running"))
        return EXIT_OK
    running = EmbeddedS3.running(data_dir)
    if running is None:
        out.print(f"not running (data in {data_dir}); `feedvault store start` starts it")
        return EXIT_NOT_FOUND
    out.print(f"running: {running.endpoint_url} (pid {running.pid}, data in {data_dir})")
    return EXIT_OK
