"""The command's two consoles (messages on stderr, results on stdout) and its exit codes by name.

Apart from :mod:`feedvault.cli` so that subcommand modules import them without importing the command itself.
"""

from __future__ import annotations

from rich.console import Console

from feedvault.cli.exitcodes import ExitCode

console = Console(stderr=True, soft_wrap=True)  # messages are never hard-wrapped (logs, pipes, copy-paste)
out = Console(soft_wrap=True)

EXIT_OK, EXIT_FAILED_FEED, EXIT_CONFIG, EXIT_STORAGE = ExitCode.OK, ExitCode.FAILED, ExitCode.USAGE, ExitCode.STORAGE
EXIT_NOT_FOUND, EXIT_UNAVAILABLE, EXIT_INTERRUPTED = ExitCode.NOT_FOUND, ExitCode.UNAVAILABLE, ExitCode.INTERRUPTED
