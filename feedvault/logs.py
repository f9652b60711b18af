"""Console logging for feedvault's entry points (the CLI and ``python -m feedvault.runner``)."""

from __future__ import annotations

import logging
import sys


def console_logging(level: str | int) -> None:
    """Log to stderr at ``level``. The handler carries the level too: Scrapy sets its own loggers to DEBUG."""
    logging.basicConfig(level=level, stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for handler in logging.root.handlers:
        handler.setLevel(level)
