"""What may be archived, and why: the feed-level permission and the one decision table for publisher signals.

A feed is crawled only with a valid, unexpired permission record (:func:`feed_permission`). Each fetched page
is then judged by :func:`decide` against the signals found for it (robots.txt, TDMRep, robots directives,
plain-language notices), using :data:`DECISION_TABLE` and nothing else. docs/PERMISSIONS.md explains every
cell; tests/test_permissions.py has a test per cell. The decision and its evidence travel with every snapshot.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType
from typing import Any

from feedvault.config import FeedConfig, PermissionBasis, PermissionRecord, Signal

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


# -- the decision table ---------------------------------------------------------------------------------
class Decision(StrEnum):
    """What a signal allows, most permissive first."""

    ARCHIVE = "archive"  # raw (WARC) and clean (JSON), as far as the record's scope allows
    CLEAN_ONLY = "clean-only"  # the clean text only: no raw copy of the page
    REFUSE = "refuse"  # nothing is written


ALLOWED_PARTS: Mapping[Decision, frozenset[str]] = MappingProxyType(
    {
        Decision.ARCHIVE: frozenset({"raw", "clean"}),
        Decision.CLEAN_ONLY: frozenset({"clean"}),
        Decision.REFUSE: frozenset(),
    }
)
_STRICTNESS = {Decision.ARCHIVE: 0, Decision.CLEAN_ONLY: 1, Decision.REFUSE: 2}

# Rows: the four permission bases, plus a written permission whose ``overrides`` names the signal.
OVERRIDE_ROW = "written-permission+override"
ROWS: tuple[str, ...] = ("own-content", "licence", "public-feed-terms", "written-permission", OVERRIDE_ROW)


def _row(
    own: Decision, licence: Decision, public: Decision, written: Decision, override: Decision = Decision.ARCHIVE
) -> Mapping[str, Decision]:
    return MappingProxyType(
        {
            PermissionBasis.OWN_CONTENT: own,
            PermissionBasis.LICENCE: licence,
            PermissionBasis.PUBLIC_FEED_TERMS: public,
            PermissionBasis.WRITTEN_PERMISSION: written,
            OVERRIDE_ROW: override,
        }
    )


_A, _C, _R = Decision.ARCHIVE, Decision.CLEAN_ONLY, Decision.REFUSE

#: (signal x permission basis) -> decision, when the signal is present for a page. The single source of truth.
#: - robots.txt is the crawl contract itself: refused on every basis; only an explicit override (with the
#:   record's reference) lifts it.
#: - TDMRep, noai and plain-language reservations reserve the rightsholder's TDM/AI rights against third
#:   parties: they bind every basis except own-content (we are the rightsholder).
#: - noarchive asks that no cached copy of the page be kept: with public feed terms only, nothing is kept; where
#:   we hold rights to the text itself (licence, written permission) the text is kept, the page copy is not.
#: - noimageai (we archive no images), noindex/none (search indexing, not archiving) and copyright lines
#:   (copyright is what the permission record is for) are recorded as evidence and never restrict.
#: - Usage preferences (AIPREF Content-Usage, Content-Signal) say how fetched content may be used, not whether
#:   it may be fetched. feedvault trains nothing: "no AI training" is recorded, travels with the snapshot and
#:   keeps it out of AI-training exports. "No automated processing" reserves analysis (TDM) like TDMRep. "Search
#:   only" allows indexing that points readers to the page: with only public feed terms nothing is kept; where
#:   we hold rights to the text, the clean text (linked to its source) is kept but no replayable page copy.
#: - unscannable (the scan could not see the whole page, so any signal in it may be missed) fails closed: refused
#:   on every basis, like robots.txt; only an explicit override (with the record's reference) lifts it.
DECISION_TABLE: Mapping[Signal, Mapping[str, Decision]] = MappingProxyType(
    {
        Signal.ROBOTS_TXT: _row(own=_R, licence=_R, public=_R, written=_R),
        Signal.TDMREP: _row(own=_A, licence=_R, public=_R, written=_R),
        Signal.NOARCHIVE: _row(own=_A, licence=_C, public=_R, written=_C),
        Signal.NOAI: _row(own=_A, licence=_R, public=_R, written=_R),
        Signal.NOIMAGEAI: _row(own=_A, licence=_A, public=_A, written=_A),
        Signal.NOINDEX: _row(own=_A, licence=_A, public=_A, written=_A),
        Signal.RIGHTS_NOTICE: _row(own=_A, licence=_R, public=_R, written=_R),
        Signal.COPYRIGHT_NOTICE: _row(own=_A, licence=_A, public=_A, written=_A),
        Signal.NO_AI_TRAINING: _row(own=_A, licence=_A, public=_A, written=_A),
        Signal.NO_AUTOMATED_PROCESSING: _row(own=_A, licence=_R, public=_R, written=_R),
        Signal.SEARCH_ONLY: _row(own=_A, licence=_C, public=_R, written=_C),
        Signal.UNSCANNABLE: _row(own=_R, licence=_R, public=_R, written=_R),
    }
)


def table_row(record: PermissionRecord, signal: Signal) -> str:
    """The table row that applies to ``signal`` under ``record``: an override needs a written permission that
    names the signal in ``overrides`` and says where it is documented (``reference``)."""
    overrides = signal in record.overrides and bool(record.reference.strip())
    if record.basis is PermissionBasis.WRITTEN_PERMISSION and overrides:
        return OVERRIDE_ROW
    return str(record.basis)


def signal_decision(record: PermissionRecord, signal: Signal) -> Decision:
    return DECISION_TABLE[signal][table_row(record, signal)]


# -- page decisions -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Finding:
    """One signal found for one URL: which, where (``source``: robots, file, header, meta, notice) and how."""

    signal: Signal
    source: str
    where: str  # human-readable location, e.g. "X-Robots-Tag header" or "<meta name=robots>"
    value: str | None = None  # the directive, header value, rule location or notice text as found
    details: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"signal": str(self.signal), "source": self.source, "where": self.where}
        if self.value is not None:
            data["value"] = self.value
        return data | dict(self.details)


@dataclass(frozen=True)
class PageDecision:
    """The decision for one page: what is stored, which finding decided, and every finding with its cell."""

    decision: Decision
    stored: frozenset[str]
    findings: tuple[dict[str, Any], ...]
    deciding: dict[str, Any] | None

    @property
    def refused(self) -> bool:
        return not self.stored

    @property
    def reason(self) -> str:
        return self.deciding["signal"] if self.deciding else "scope"

    @property
    def detail(self) -> str:
        if self.deciding is None:
            return "the permission record's scope allows nothing to be stored"
        d = self.deciding
        found = f"{d['signal']} in {d['where']}" + (f" ({d['value']})" if d.get("value") else "")
        return f"{found}: {d['decision']} under {d['row']}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "decision": str(Decision.REFUSE if self.refused else self.decision),
            "stored": sorted(self.stored),
            "signals": list(self.findings),
        }


def decide(record: PermissionRecord, findings: Iterable[Finding]) -> PageDecision:
    """Judge one page: each finding gets its cell of the table; the strictest one wins, within the scope."""
    stored = frozenset(record.scope)
    decision, deciding = Decision.ARCHIVE, None
    judged = []
    for finding in findings:
        row = table_row(record, finding.signal)
        cell = DECISION_TABLE[finding.signal][row]
        entry = finding.to_dict() | {"row": row, "decision": str(cell), "overridden": row == OVERRIDE_ROW}
        judged.append(entry)
        stored &= ALLOWED_PARTS[cell]
        if _STRICTNESS[cell] > _STRICTNESS[decision]:
            decision, deciding = cell, entry
    if not stored and deciding is None:
        decision = Decision.REFUSE
    return PageDecision(decision, stored, tuple(judged), deciding)


def decision_table_markdown() -> str:
    """The table as Markdown, as docs/PERMISSIONS.md shows it (a test keeps the two identical)."""
    lines = [
        "| signal | " + " | ".join(ROWS) + " |",
        "|---|" + "---|" * len(ROWS),
    ]
    for signal, cells in DECISION_TABLE.items():
        lines.append(f"| `{signal}` | " + " | ".join(str(cells[row]) for row in ROWS) + " |")
    return "\n".join(lines)


# -- plain-language notices -----------------------------------------------------------------------------
@dataclass(frozen=True)
class NoticeTerms:
    """What one sentence contains, by meaning (feedvault.permission.notices finds these with a language's lexicon)."""

    use: bool = False  # an AI / TDM / machine-learning / crawling / scraping use
    use_leads: bool = False  # ... within the sentence's first two words ("Scraping is prohibited ...")
    reproduction: bool = False  # reproduce, republish, copy, broadcast ...
    reproduction_leads: bool = False
    prohibition: bool = False  # may not, prohibited, dilarang, untersagt ...
    reservation: bool = False  # rights reserved, expressly reserves, opt-out, Art. 4(3) DSM ...
    condition: bool = False  # without (written) permission, tanpa izin, ohne Zustimmung ...
    subject: bool = False  # the content, article, site, publication, publisher ...
    label: bool = False  # a short label made of a prohibition and a use ("No AI training.")
    attributed: bool = False  # reported speech: said, told, confirmed, kata, ujar, menurut, selon ...


def notice_kind(terms: NoticeTerms) -> str | None:
    """Whether a sentence is a rights notice, and which kind: ``ai-reservation`` (restricts: signal
    ``rights-notice``), ``rights-notice`` (a reproduction ban: signal ``copyright-notice``) or None.

    A notice reserves or forbids a use of *the content*: so a prohibition must name the content (or lead with
    the use and state a permission condition), and attributed speech (quotations are masked before) is news,
    never a notice.
    """
    if terms.attributed:
        return None
    if terms.use and (
        terms.label
        or terms.reservation
        or (terms.prohibition and (terms.subject or (terms.use_leads and terms.condition)))
    ):
        return "ai-reservation"
    if terms.reproduction and terms.prohibition and (terms.subject or (terms.reproduction_leads and terms.condition)):
        return "rights-notice"
    return None
