"""Console logging for feedvault's entry points (the CLI and ``python -m feedvault.crawl``)."""

from __future__ import annotations

import logging
import sys

from feedvault.redact import redact

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class RedactingFormatter(logging.Formatter):
    """The usual format, then credentials inside URLs hidden (``http://***@host``), tracebacks included."""

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


def console_logging(level: str | int) -> None:
    """Log to stderr at ``level``. The handler carries the level too: Scrapy sets its own loggers to DEBUG."""
    root = logging.getLogger()
    if not root.handlers:  # what logging.basicConfig would do, with a redacting formatter
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(RedactingFormatter(FORMAT))
        root.addHandler(handler)
        root.setLevel(level)
    for handler in root.handlers:
        handler.setLevel(level)
