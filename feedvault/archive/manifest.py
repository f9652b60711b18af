"""What a run did: one outcome per URL seen, per-feed manifests and the run manifest (the commit marker)."""

from __future__ import annotations

import datetime as dt
import json
import statistics
import threading
from collections import Counter
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from feedvault import keys

FEED_MANIFEST_SCHEMA = "feedvault.feed-run/1"
RUN_MANIFEST_SCHEMA = "feedvault.run/1"


class Outcome(StrEnum):
    NEW = "new"  # first snapshot of this URL archived
    CHANGED = "changed"  # payload differs from the baseline: a new snapshot archived
    UNCHANGED = "unchanged"  # same payload, 304, or not due for a revisit: nothing written
    REFUSED = "refused"  # not permitted (robots.txt, opt-out, private address, scheme...): nothing stored
    FAILED = "failed"  # could not be fetched or processed
    SKIPPED = "skipped"  # not attempted: entry too old, duplicate entry, dry run


COUNTED = tuple(Outcome)
NOT_DUE = "not-due"  # the reason of an unchanged article that was not fetched at all


def display_counts(counts: dict[str, int], not_due: int) -> dict[str, int]:
    """Counts for people: ``unchanged`` (fetched, same payload or 304) apart from ``not due`` (not fetched)."""
    shown = {k: counts.get(k, 0) for k in ("new", "changed", "unchanged", "refused", "failed", "skipped")}
    shown["unchanged"] -= not_due
    shown["not due"] = not_due
    return {k: shown[k] for k in DISPLAY_COLUMNS}


DISPLAY_COLUMNS = ("new", "changed", "unchanged", "not due", "refused", "failed", "skipped")
MAX_FACTS = 50  # distinct permission facts kept per feed and run (signals repeat across a site's pages)


@dataclass
class UrlOutcome:
    url: str
    outcome: Outcome
    reason: str | None = None
    detail: str | None = None
    role: str = "article"  # article | feed | robots
    http_status: int | None = None
    sha256: str | None = None
    clean_key: str | None = None
    warc_key: str | None = None
    bytes_written: int = 0
    evidence: dict[str, Any] | None = None
    cleaning: dict[str, int] | None = None  # archived articles: text_chars, text_lines, lines_removed (health)
    usage: dict[str, str] | None = None  # stated usage preferences of an archived snapshot (usage.compact)
    redirected_to: str | None = None  # a failure or refusal after redirects: where the entry's URL led
    fetched_url: str | None = (
        None  # archived under its same-site canonical ``url``: the URL fetched (its WARC records')
    )
    canonical: dict[str, str] | None = None  # a canonical link the page declared but that was not used, and why

    def to_dict(self) -> dict[str, Any]:
        # vars(), not asdict(): no deep copy per URL (manifests list thousands); evidence is JSON-ready already
        data = {k: v for k, v in vars(self).items() if v not in (None, 0) or k in ("url", "outcome")}
        data["outcome"] = str(self.outcome)
        return data


def _segment_of(clean_key: str | None) -> str | None:
    """The clean segment a pointer names (None for an old-layout key, which is its own object)."""
    if not clean_key:
        return None
    try:
        where = keys.parse_clean_pointer(clean_key)
    except ValueError:
        return None
    return where.key if where.offset is not None else None


def _in_segment(clean_key: str | None) -> bool:
    return _segment_of(clean_key) is not None


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass
class FeedRunLog:
    """Collects outcomes during one feed's crawl; thread-safe (pipelines finish work in worker threads)."""

    feed_id: str
    run_id: str
    started_at: dt.datetime = field(default_factory=utcnow)
    finished_at: dt.datetime | None = None
    outcomes: list[UrlOutcome] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    robots: dict[str, dict[str, Any]] = field(default_factory=dict)  # robots.txt URL -> evidence
    feeds: dict[str, dict[str, Any]] = field(default_factory=dict)  # feed document URL -> status, entries
    error: str | None = None
    permission: dict[str, Any] | None = None
    short_text_chars: int = 200  # a clean text shorter than this counts as short (settings.health)
    permission_facts: Counter[str] = field(default_factory=Counter)  # canonical fact JSON -> pages it was found on
    judged_pages: int = 0  # pages whose permission was decided this run (their facts are in permission_facts)
    on_change: Callable[[FeedRunLog], None] | None = None
    # Each outcome as it is recorded, (index, outcome dict): the run's journal (feedvault.crawl.spool), so outcomes
    # survive a crawler killed before it writes its manifest.
    journal: Callable[[int, dict[str, Any]], None] | None = None
    interrupted: bool = False  # the crawl was stopped (SIGTERM/SIGINT, or killed and recovered): not all was tried
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, url: str, outcome: Outcome, **details: Any) -> UrlOutcome:
        record = UrlOutcome(url=url, outcome=outcome, **details)
        with self._lock:
            self.outcomes.append(record)
            if self.journal:
                self.journal(len(self.outcomes) - 1, record.to_dict())
        if self.on_change:
            self.on_change(self)
        return record

    def fail_archived(self, lost: Collection[str], *, reason: str, detail: str) -> list[UrlOutcome]:
        """Turn the archived outcomes with a record in one of the ``lost`` files (WARC keys or clean segment keys:
        files that never reached the archive) into failures; returns them as they were, so what they wrote can be
        withdrawn. A failed entry keeps naming the file its other record stayed in (its raw records in an uploaded
        WARC, its clean record in an uploaded segment), so the checker and takedowns find them."""
        gone = set(lost)
        withdrawn = []
        with self._lock:
            for i, was in enumerate(self.outcomes):
                raw_lost, clean_lost = was.warc_key in gone, _segment_of(was.clean_key) in gone
                if not (raw_lost or clean_lost):
                    continue
                if was.outcome is Outcome.FAILED:  # its records went down with that file: nothing to name
                    was.warc_key = None if raw_lost else was.warc_key
                    was.clean_key = None if clean_lost else was.clean_key
                elif was.outcome in (Outcome.NEW, Outcome.CHANGED):
                    withdrawn.append(was)
                    self.outcomes[i] = UrlOutcome(
                        url=was.url,
                        outcome=Outcome.FAILED,
                        reason=reason,
                        detail=detail,
                        http_status=was.http_status,
                        sha256=was.sha256,
                        evidence=was.evidence,
                        fetched_url=was.fetched_url,
                        warc_key=None if raw_lost else was.warc_key,
                        clean_key=None if clean_lost or not _in_segment(was.clean_key) else was.clean_key,
                    )
                    if self.journal:
                        self.journal(i, self.outcomes[i].to_dict())
        if withdrawn and self.on_change:
            self.on_change(self)
        return withdrawn

    def note_evidence(self, evidence: dict[str, Any] | None) -> None:
        """Remember the permission facts of one judged page (feedvault.monitoring.health compares them between runs)."""
        from feedvault.monitoring.health import evidence_facts

        facts = evidence_facts(evidence)
        with self._lock:
            self.permission_facts.update(facts)
            self.judged_pages += 1

    def warn(self, message: str) -> None:
        with self._lock:
            self.warnings.append(message)

    def counts(self) -> dict[str, int]:
        tally = Counter(str(o.outcome) for o in self.outcomes if o.role == "article")
        return {str(k): tally.get(str(k), 0) for k in COUNTED}

    def not_due(self) -> int:
        """Unchanged articles that were not even fetched (seen before, not due for a revisit)."""
        return sum(1 for o in self.outcomes if o.role == "article" and o.reason == NOT_DUE)

    def bytes_written(self) -> int:
        return sum(o.bytes_written for o in self.outcomes)

    def cleaning_yield(self) -> dict[str, Any]:
        """How well the cleaner did on this run's archived articles: a layout change shows here first."""
        figures = [o.cleaning for o in self.outcomes if o.cleaning is not None and o.role == "article"]
        chars = sorted(f.get("text_chars", 0) for f in figures)
        kept = sum(f.get("text_lines", 0) for f in figures)
        removed = sum(f.get("lines_removed", 0) for f in figures)
        short = sum(1 for c in chars if c < self.short_text_chars)
        return {
            "articles": len(chars),
            "short": short,
            "short_below_chars": self.short_text_chars,
            "short_share": round(short / len(chars), 4) if chars else None,
            "median_text_chars": statistics.median(chars) if chars else None,
            "lines_removed": removed,
            "removed_share": round(removed / (kept + removed), 4) if kept + removed else None,
        }

    def failed_reasons(self) -> dict[str, int]:
        return dict(Counter(o.reason or "unknown" for o in self.outcomes if o.outcome is Outcome.FAILED).most_common(5))

    @property
    def status(self) -> str:
        if self.interrupted:
            return "interrupted"
        if self.error:
            return "failed"
        if self.permission and self.permission.get("decision") == "refused":
            return "refused"
        return "ok"

    def to_manifest(self) -> dict[str, Any]:
        finished = self.finished_at or utcnow()
        return {
            "schema": FEED_MANIFEST_SCHEMA,
            "run_id": self.run_id,
            "feed": self.feed_id,
            "status": self.status,
            "error": self.error,
            "permission": self.permission,
            "started_at": self.started_at.isoformat(),
            "finished_at": finished.isoformat(),
            "seconds": round((finished - self.started_at).total_seconds(), 3),
            "counts": self.counts(),
            "not_due": self.not_due(),
            "bytes_written": self.bytes_written(),
            "warnings": self.warnings,
            "feed_documents": self.feeds,
            "robots": self.robots,
            "health_figures": self.health_figures(),
            "urls": [o.to_dict() for o in self.outcomes],
        }

    @classmethod
    def from_manifests(cls, feed_id: str, run_id: str, parts: list[dict[str, Any]]) -> FeedRunLog:
        """One feed's log from the manifests of its shards (each crawled a disjoint set of entries): every
        article outcome once, the feed documents' and robots.txt outcomes once (every shard fetched them), the
        counters summed, the errors and warnings of all shards."""
        fields = set(UrlOutcome.__dataclass_fields__)
        log = cls(feed_id, run_id, started_at=min((_when(p["started_at"]) for p in parts), default=utcnow()))
        log.finished_at = max((_when(p["finished_at"]) for p in parts), default=None)
        seen_other: set[tuple[str, str]] = set()
        for part in parts:
            for entry in part.get("urls", []):
                role = entry.get("role", "article")
                if role != "article" and (entry["url"], role) in seen_other:
                    continue
                seen_other.add((entry["url"], role))
                values = {k: v for k, v in entry.items() if k in fields}
                values["outcome"] = Outcome(values["outcome"])
                log.outcomes.append(UrlOutcome(**values))
            log.warnings += [w for w in part.get("warnings", []) if w not in log.warnings]
            log.feeds.update(part.get("feed_documents") or {})
            log.robots.update(part.get("robots") or {})
            log.permission = log.permission or part.get("permission")
            log.interrupted = log.interrupted or part.get("status") == "interrupted"
            figures = part.get("health_figures") or {}
            log.judged_pages += figures.get("judged_pages", 0)
            for fact in figures.get("permission_facts", []):
                pages = fact.get("pages", 0)
                key = json.dumps({k: v for k, v in fact.items() if k != "pages"}, sort_keys=True, ensure_ascii=False)
                log.permission_facts[key] += pages
        errors = [f"{p['feed']} shard: {p['error']}" for p in parts if p.get("error")]
        log.error = "; ".join(errors) or None
        return log

    def health_figures(self) -> dict[str, Any]:
        """The small per-run figures feed health is computed from (they travel in the run manifest's summary)."""
        with self._lock:
            facts = sorted(self.permission_facts.items())
        return {
            "cleaning_yield": self.cleaning_yield(),
            "failed_reasons": self.failed_reasons(),
            "judged_pages": self.judged_pages,
            "permission_facts": [{**json.loads(fact), "pages": n} for fact, n in facts[:MAX_FACTS]],
            "robots": {url: robots_verdict(ev) for url, ev in self.robots.items()},
            "permission_expires_on": (self.permission or {}).get("expires_on"),
        }


_ROBOTS_FETCH_KEYS = frozenset(
    {"robots_url", "fetched_at", "sha256", "status", "error", "verdict", "crawl_delay_applied"}
    | {"disallowed", "overridden_by"}
)


def robots_verdict(evidence: dict[str, Any]) -> str | None:
    """A robots.txt verdict for health, with any further rules the evidence records (e.g. its usage rules), so a
    change of either shows. ``unreachable`` when the server erred: RFC 9309 then disallows all, but that is the
    publisher being down, not a new rule (the failing feed reports it)."""
    status = evidence.get("status")
    if status is None or status >= 500:
        return "unreachable"
    rules = {k: v for k, v in evidence.items() if k not in _ROBOTS_FETCH_KEYS}
    verdict = str(evidence.get("verdict"))
    return f"{verdict} {json.dumps(rules, sort_keys=True, ensure_ascii=False)}" if rules else verdict


def summarize_feed(manifest: dict[str, Any], manifest_key: str | None) -> dict[str, Any]:
    """The small per-feed summary that goes into the run manifest, XCom and the CLI table."""
    return {
        "feed": manifest["feed"],
        "status": manifest["status"],
        "error": manifest.get("error"),
        "counts": manifest["counts"],
        "not_due": manifest.get("not_due", 0),
        "bytes_written": manifest["bytes_written"],
        "seconds": manifest["seconds"],
        "warnings": manifest.get("warnings", [])[:20],
        "manifest_key": manifest_key,
        "health_figures": manifest.get("health_figures"),
    }


def run_status(feed_statuses: list[str]) -> str:
    """``ok`` when every feed is; ``interrupted`` when a feed's crawl was stopped before it tried everything;
    ``failed`` when feeds failed and none archived (all failed or refused); else ``partial``."""
    if all(status == "ok" for status in feed_statuses):
        return "ok"
    if "interrupted" in feed_statuses:
        return "interrupted"
    if "failed" in feed_statuses and "ok" not in feed_statuses:
        return "failed"
    return "partial"


def build_run_manifest(
    *,
    run_id: str,
    started_at: dt.datetime,
    feeds: list[dict[str, Any]],
    config_hash: str,
    versions: dict[str, str],
    trigger: str,
    options: dict[str, Any],
) -> dict[str, Any]:
    totals: Counter[str] = Counter()
    for summary in feeds:
        totals.update(summary["counts"])
    finished = utcnow()
    return {
        "schema": RUN_MANIFEST_SCHEMA,
        "run_id": run_id,
        "trigger": trigger,
        "options": options,
        "started_at": started_at.isoformat(),
        "finished_at": finished.isoformat(),
        "seconds": round((finished - started_at).total_seconds(), 3),
        "status": run_status([f["status"] for f in feeds]),
        "config_hash": config_hash,
        "versions": versions,
        "totals": {str(k): totals.get(str(k), 0) for k in COUNTED},
        "not_due": sum(f.get("not_due", 0) for f in feeds),
        "bytes_written": sum(f["bytes_written"] for f in feeds),
        "feeds": feeds,
    }


def dumps(document: dict[str, Any]) -> bytes:
    return json.dumps(document, ensure_ascii=False, indent=1, sort_keys=False).encode("utf-8")


def _when(value: str) -> dt.datetime:
    return dt.datetime.fromisoformat(value)
