"""Feed-level permission: may this feed be crawled at all, and on what basis.

A feed is crawled only with a valid, unexpired permission record. The decision travels with every snapshot.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from feedvault.config import FeedConfig

EXPIRY_WARNING_DAYS = 30


def feed_permission(feed: FeedConfig, today: dt.date) -> dict[str, Any]:
    """The permission decision for a feed as a JSON-ready dict; ``decision`` is ``archive`` or ``refused``."""
    record = feed.permission
    if record is None:
        return {
            "decision": "refused",
            "reason": "no-permission-record",
            "detail": f"feed {feed.id!r} has no permission record in the registry",
        }
    status = record.status(today)
    base = {
        "basis": str(record.basis),
        "reference": record.reference,
        "granted_by": record.granted_by,
        "granted_on": record.granted_on.isoformat(),
        "expires_on": record.expires_on.isoformat() if record.expires_on else None,
        "licence": record.licence,
        "scope": sorted(record.scope),
        "overrides": sorted(str(s) for s in record.overrides),
    }
    if status != "valid":
        when = record.expires_on if status == "expired" else record.granted_on
        return {
            **base,
            "decision": "refused",
            "reason": f"permission-{status}",
            "detail": f"permission for {feed.id!r} is {status} ({when})",
        }
    warning = None
    if record.expires_on and (record.expires_on - today).days <= EXPIRY_WARNING_DAYS:
        warning = f"permission for {feed.id!r} expires on {record.expires_on} ({(record.expires_on - today).days} days)"
    return {**base, "decision": "archive", "warning": warning}
