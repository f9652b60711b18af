"""The one redaction helper: credentials inside URLs never reach a log line, an error message or an argv.

Secrets travel in environments only (``AWS_*``, ``FEEDVAULT_BROWSE_TOKEN``, ``FEEDVAULT_S3_ENDPOINT_URL``); anything
that prints a URL or an exception that may quote one passes it through :func:`redact` first.
"""

from __future__ import annotations

import re

REDACTED = "***"
_USERINFO = re.compile(r"(?P<scheme>\b[a-zA-Z][a-zA-Z0-9+.-]*://)(?P<userinfo>[^/?#\s]*)@")


def redact(text: str) -> str:
    """``text`` with the user info of every URL in it (``http://user:pass@host``) replaced by ``***``."""
    return _USERINFO.sub(lambda m: f"{m['scheme']}{REDACTED}@", text)
