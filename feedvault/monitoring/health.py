"""Feed health: is each feed still archiving what it should? Computed from the archive alone, incrementally.

Every committed run adds its feed summaries (counts, status, and the small ``health_figures`` each feed manifest
carries: cleaning yield, permission facts, robots.txt verdicts, permission expiry) to one small object,
``health/feeds.json``: per feed a bounded window of recent runs plus a few counters. Adding a run costs the same
whatever the archive's age (bench/health.py measures it); ``feedvault health --rebuild`` recomputes the object
from every run manifest, oldest first.

A feed is ``ok``, ``warning`` or ``failing``. Each check compares the feed with its *own* trailing baseline
(settings.health, documented in README "Watching it"):

- failure streak and last success; a feed not crawled for lack of a valid permission record;
- days since the last new article against the feed's usual gap between new articles;
- articles archived per run against the median of the feed's recent runs;
- cleaning yield (share of near-empty texts, median text length, share of lines the rules removed) of the latest
  run with enough articles against the runs before it: a redesigned page shows on the first night;
- articles failing (the publisher answering errors);
- permission changes: a robots.txt verdict, or any publisher signal in the pages' permission evidence (TDMRep,
  robots directives, notices, and whatever new signal the evidence carries) that differs from earlier runs;
  a permission record expiring soon.

A feed's state is recorded with each run, so a change of state (ok -> warning -> failing and back) is reported
once, by the run that caused it (:class:`Change`, posted by the Airflow alert webhook).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
import json
import logging
import statistics
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from feedvault import keys
from feedvault.config import HealthSettings
from feedvault.store.backends import NotFound, Store, VersionConflict

logger = logging.getLogger(__name__)

HEALTH_SCHEMA = "feedvault.health/1"
NEW_ARTICLE_HISTORY = 30  # timestamps of recent runs with new articles kept per feed (the feed's rhythm)
FACT_MEMORY_DAYS = 60  # a publisher signal not seen for this long is forgotten (seen again later: new again)

# Keys of a page's permission evidence that describe the feed's permission record or the page's decision, not a
# publisher signal. Every other key is a signal and is compared between runs (so new kinds show up unasked).
_RECORD_KEYS = frozenset(
    {"basis", "reference", "granted_by", "granted_on", "expires_on", "licence", "scope", "overrides"}
    | {"decision", "reason", "detail", "warning", "stored", "signals"}
)
# Per-fetch or per-decision details that differ between runs without the publisher changing anything.
_VOLATILE = frozenset({"fetched_at", "sha256", "error", "row", "decision", "overridden", "match", "pages"})
_MAX_VALUE = 300


def _informational_signals() -> frozenset[str]:
    """Signals the decision table never lets restrict anything. Found in a page's *text* (a copyright line) they are
    page text, not a statement to the crawler: next year's copyright line is no permission change. (Directives and
    usage statements that never restrict, noindex or no-ai-training, are still compared.)"""
    from feedvault.permission.decisions import DECISION_TABLE, Decision

    return frozenset(str(s) for s, row in DECISION_TABLE.items() if all(d is Decision.ARCHIVE for d in row.values()))


_INFORMATIONAL = _informational_signals()


class Level(StrEnum):
    OK = "ok"
    WARNING = "warning"
    FAILING = "failing"

    @property
    def rank(self) -> int:
        return {"ok": 0, "warning": 1, "failing": 2}[self.value]


@dataclass(frozen=True)
class Problem:
    """One thing about a feed that needs attention: which check, how bad, what is wrong and what to do."""

    check: str
    level: Level
    message: str
    action: str

    def to_dict(self) -> dict[str, str]:
        return {"check": self.check, "level": str(self.level), "message": self.message, "action": self.action}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Problem:
        return cls(data["check"], Level(data["level"]), data["message"], data["action"])


@dataclass(frozen=True)
class Change:
    """A feed's health state changed with a run: alerted once, by that run."""

    feed: str
    before: Level | None
    after: Level
    run_id: str
    problems: tuple[Problem, ...]
    resolved: tuple[str, ...] = ()  # messages of the problems the run cleared

    def to_dict(self) -> dict[str, Any]:
        return {
            "feed": self.feed,
            "from": str(self.before) if self.before else None,
            "to": str(self.after),
            "run_id": self.run_id,
            "problems": [p.to_dict() for p in self.problems],
            "resolved": list(self.resolved),
        }

    def describe(self) -> str:
        what = "; ".join(p.message for p in self.problems) or "no problem left"
        return f"feed {self.feed}: {self.before or 'new'} -> {self.after} in run {self.run_id}: {what}"


def level_of(problems: Iterable[Problem]) -> Level:
    return max((p.level for p in problems), key=lambda level: level.rank, default=Level.OK)


# -- permission facts -------------------------------------------------------------------------------------------
def _scalars(data: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in data.items():
        if key in _VOLATILE:
            continue
        if isinstance(value, str):
            out[key] = value[:_MAX_VALUE]
        elif value is None or isinstance(value, int | float | bool):
            out[key] = value
        elif isinstance(value, list | tuple) and all(isinstance(v, str | int | float) for v in value):
            out[key] = ", ".join(str(v) for v in value)[:_MAX_VALUE]
    return out


def evidence_facts(evidence: Mapping[str, Any] | None) -> list[str]:
    """The publisher-side facts of one page's permission evidence, as canonical JSON strings.

    Generic over the evidence: every finding in ``signals`` (whatever its signal; but not a notice in the page text
    that never restricts, such as a copyright line), and every other top-level key
    that is not about the permission record or the decision (robots, tdmrep, and any signal added later) becomes
    a fact of its scalar fields, without per-fetch details (times, hashes, which rule row applied).
    """
    if not evidence:
        return []
    facts = []
    for finding in evidence.get("signals") or ():
        if not isinstance(finding, Mapping):
            continue
        if finding.get("signal") in _INFORMATIONAL and finding.get("source") == "notice":
            continue  # page text that never restricts (a copyright line)
        facts.append(_scalars(finding))
    for key, value in evidence.items():
        if key in _RECORD_KEYS or value is None:
            continue
        if isinstance(value, Mapping):
            fact = _scalars(value)
            if key == "tdmrep" and fact.get("reservation") is None:
                continue  # no TDMRep layer says anything: the protocol is unset on this page
        else:
            fact = _scalars({"value": value})
        if fact:
            facts.append({"evidence": key, **fact})
    return sorted({json.dumps(f, sort_keys=True, ensure_ascii=False) for f in facts})


def fact_text(fact: Mapping[str, Any]) -> str:
    """A fact in words, e.g. ``tdmrep in tdm-reservation header (1)``."""
    fact = {k: v for k, v in fact.items() if k != "pages"}
    if "signal" in fact:
        text = f"{fact['signal']} in {fact.get('where') or fact.get('source') or 'the page'}"
        return text + (f" ({fact['value']})" if fact.get("value") not in (None, "") else "")
    name = fact.pop("evidence", "evidence")
    return f"{name}: " + ", ".join(f"{k}={v}" for k, v in fact.items())


def _canonical(fact: Mapping[str, Any]) -> str:
    return json.dumps({k: v for k, v in fact.items() if k != "pages"}, sort_keys=True, ensure_ascii=False)


# -- applying a run ---------------------------------------------------------------------------------------------
def _iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).isoformat()


def _at(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text)


_YIELD_KEYS = ("articles", "short", "short_below_chars", "short_share", "median_text_chars", "removed_share")


def _run_record(summary: Mapping[str, Any], run_id: str) -> dict[str, Any]:
    """What health keeps of one run of a feed (small: a window of these is kept per feed)."""
    counts = summary.get("counts") or {}
    figures = summary.get("health_figures") or {}
    record = {
        "run_id": run_id,
        "status": summary.get("status"),
        **{k: int(counts.get(k, 0)) for k in ("new", "changed", "unchanged", "refused", "failed")},
        "entries": sum(int(n) for n in counts.values()),  # every entry listed has one outcome (shard planning)
    }
    cleaning = figures.get("cleaning_yield") or {}
    if cleaning.get("articles"):
        record["yield"] = {k: cleaning.get(k) for k in _YIELD_KEYS}
    if figures.get("failed_reasons"):
        record["failed_reasons"] = figures["failed_reasons"]
    return record


def _entries(record: Mapping[str, Any]) -> int:
    """The entries a run record counts (records written before ``entries`` was kept: the outcomes they keep)."""
    if "entries" in record:
        return int(record["entries"])
    return sum(int(record.get(k, 0)) for k in ("new", "changed", "unchanged", "refused", "failed"))


def apply_run(
    entry: dict[str, Any] | None,
    summary: Mapping[str, Any],
    run_id: str,
    at: dt.datetime,
    settings: HealthSettings,
) -> dict[str, Any]:
    """The feed's health entry after one more run (a pure function of the entry and the run's summary).

    Re-applying the feed's latest run id (a retried run) first undoes that run; an older run than the latest
    (a backfill) only joins the window of recent runs.
    """
    if entry and entry.get("last_run_id") == run_id:
        undo = entry.get("undo")
        entry = {**undo, "runs": [r for r in entry["runs"] if r["run_id"] != run_id]} if undo else None
    record = _run_record(summary, run_id)
    if entry and run_id < entry.get("last_run_id", ""):
        runs = sorted([*entry["runs"], record], key=lambda r: r["run_id"])
        return {**entry, "runs": runs[-(settings.baseline_runs + 1) :]}
    # Shallow copies: every list or dict changed below is replaced, never mutated (the undo shares the rest).
    new = dict(entry) if entry else {"feed": summary["feed"], "first_run_at": _iso(at)}
    new["undo"] = {k: v for k, v in entry.items() if k not in ("undo", "runs")} if entry else None
    new["runs"] = [*new.get("runs", []), record][-(settings.baseline_runs + 1) :]
    status = summary.get("status")
    error = summary.get("error") or next(iter(summary.get("warnings") or []), None)
    new.update(last_run_id=run_id, last_run_at=_iso(at), last_status=status, last_error=error)
    if status == "ok":
        new.update(last_success_at=_iso(at), last_success_run=run_id, failure_streak=0, failing_since=None)
    elif status == "failed":
        new["failure_streak"] = int(new.get("failure_streak") or 0) + 1
        new["failing_since"] = new.get("failing_since") or _iso(at)
    if record["new"] > 0:
        new["new_at"] = [*new.get("new_at", []), _iso(at)][-NEW_ARTICLE_HISTORY:]
    figures = summary.get("health_figures") or {}
    if figures.get("permission_expires_on") is not None or "permission_expires_on" in figures:
        new["expires_on"] = figures.get("permission_expires_on")
    events = _permission_events(new, figures, run_id, at)
    horizon = at - dt.timedelta(days=settings.permission_change_days)
    new["permission_events"] = [
        e for e in [*new.get("permission_events", []), *events] if _at(e["at"]) > horizon or e["run_id"] == run_id
    ][-20:]
    problems = assess(new, at, settings)
    level = level_of(problems)
    if new.get("level") != str(level):
        new["level_since"] = _iso(at)
    new["level"], new["problems"] = str(level), [p.to_dict() for p in problems]
    return new


def _permission_events(
    entry: dict[str, Any], figures: Mapping[str, Any], run_id: str, at: dt.datetime
) -> list[dict[str, str]]:
    """What the publisher changed since the feed's earlier runs: robots.txt verdicts, and signals in the pages'
    evidence that are new, or site-wide ones (on every page judged) that are gone. Updates the entry's memory."""
    events: list[str] = []
    robots = dict(entry.get("robots") or {})
    for url, verdict in (figures.get("robots") or {}).items():
        if verdict == "unreachable":  # the publisher is down (the feed's failure says so): compare once it is back
            continue
        if url in robots and robots[url] != verdict:
            events.append(f"robots.txt {url} was {robots[url]}, now {verdict}")
        robots[url] = verdict
    entry["robots"] = robots
    judged = int(figures.get("judged_pages") or 0)
    if judged:
        memory: dict[str, dict[str, Any]] = dict(entry.get("facts") or {})
        had_history = bool(entry.get("facts_run"))
        now_facts = {_canonical(f): f for f in figures.get("permission_facts") or ()}
        for key, fact in now_facts.items():
            pages = int(fact.get("pages") or 0)
            if key not in memory and had_history:
                events.append(f"new publisher signal: {fact_text(json.loads(key))} (on {pages} of {judged} pages)")
            memory[key] = {"last_seen": _iso(at), "sitewide": pages >= judged, "last_run": run_id}
        for key, seen in list(memory.items()):
            if key in now_facts:
                continue
            if seen.get("sitewide") and seen.get("last_run") == entry.get("facts_run"):
                events.append(f"publisher signal gone: {fact_text(json.loads(key))} (was on every page)")
                seen = {**seen, "sitewide": False}
            if at - _at(seen["last_seen"]) > dt.timedelta(days=FACT_MEMORY_DAYS):
                memory.pop(key)
            else:
                memory[key] = seen
        entry["facts"], entry["facts_run"] = memory, run_id
    return [{"at": _iso(at), "run_id": run_id, "message": e} for e in events]


# -- assessing --------------------------------------------------------------------------------------------------
def _median(values: Iterable[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return statistics.median(present) if present else None


def _pct(share: float | None) -> str:
    return "-" if share is None else f"{share:.0%}"


def assess(
    entry: Mapping[str, Any], now: dt.datetime, settings: HealthSettings, expires_on: str | None = None
) -> list[Problem]:
    """Every problem of one feed's health entry as of ``now`` (``expires_on`` overrides the archived expiry,
    e.g. with the registry's renewed record)."""
    problems: list[Problem] = []
    runs: list[dict[str, Any]] = list(entry.get("runs") or [])
    if not runs:
        return problems
    last = next((r for r in reversed(runs) if r["run_id"] == entry.get("last_run_id")), runs[-1])
    status = entry.get("last_status")
    problems += _status_problems(entry, status, settings)
    problems += _expiry(entry, now, settings, expires_on)
    if status == "ok":
        problems += _failed_articles(last, settings)
        problems += _article_drop(runs, last, settings)
    problems += _quiet(entry, now, settings)
    problems += _cleaning_yield(runs, settings)
    problems += _permission_changes(entry, now, settings)
    return problems


def _status_problems(entry: Mapping[str, Any], status: str | None, settings: HealthSettings) -> list[Problem]:
    """What the last run's status says: a failure streak, a feed not crawled, a run stopped early."""
    since_success = entry.get("last_success_at") or "never"
    if status == "failed":
        streak = int(entry.get("failure_streak") or 1)
        level = Level.FAILING if streak >= settings.failing_after_failures else Level.WARNING
        return [
            Problem(
                "failure-streak",
                level,
                f"failed {streak} run(s) in a row (last success: {since_success}): {entry.get('last_error')}",
                f"read `feedvault runs --show {entry.get('last_run_id')}`, fix the cause (publisher, network or "
                "archive); the next run retries, nothing archived is lost",
            )
        ]
    if status == "refused":
        return [
            Problem(
                "not-crawled",
                Level.FAILING,
                f"not crawled: {entry.get('last_error') or 'no valid permission record'}",
                "renew or fix the feed's permission record in the registry (`feedvault feeds` shows its status)",
            )
        ]
    if status == "interrupted":
        return [
            Problem(
                "interrupted",
                Level.WARNING,
                f"run {entry.get('last_run_id')} was stopped before it tried every article "
                f"(last success: {since_success})",
                "nothing to do if it was stopped on purpose; the next run fetches what this one did not try",
            )
        ]
    return []


def _permission_changes(entry: Mapping[str, Any], now: dt.datetime, settings: HealthSettings) -> list[Problem]:
    """The publisher's permission signals that changed within ``permission_change_days``."""
    feed = entry.get("feed", "?")
    return [
        Problem(
            "permission-change",
            Level.WARNING,
            f"{event['message']} (run {event['run_id']})",
            f"review it against {feed}'s permission record (docs/PERMISSIONS.md); pages it refuses are "
            "listed with their evidence in the run manifest",
        )
        for event in entry.get("permission_events") or ()
        if now - _at(event["at"]) <= dt.timedelta(days=settings.permission_change_days)
    ]


def _expiry(
    entry: Mapping[str, Any], now: dt.datetime, settings: HealthSettings, override: str | None
) -> list[Problem]:
    expires = override or entry.get("expires_on")
    if not expires or entry.get("last_status") == "refused":
        return []
    days = (dt.date.fromisoformat(expires) - now.date()).days
    action = "renew the permission with the publisher and update permission.expires_on in the registry"
    if days < 0:
        return [Problem("permission-expiry", Level.FAILING, f"permission expired on {expires}", action)]
    if days <= settings.expiry_warning_days:
        return [Problem("permission-expiry", Level.WARNING, f"permission expires on {expires} ({days} days)", action)]
    return []


def _failed_articles(last: Mapping[str, Any], settings: HealthSettings) -> list[Problem]:
    attempted = sum(last.get(k, 0) for k in ("new", "changed", "unchanged", "refused", "failed"))
    failed = last.get("failed", 0)
    if not failed or failed / attempted < settings.failed_share:
        return []
    reasons = ", ".join(f"{k} x{n}" for k, n in (last.get("failed_reasons") or {}).items())
    return [
        Problem(
            "failed-articles",
            Level.WARNING,
            f"{failed} of {attempted} articles failed in run {last['run_id']}" + (f" ({reasons})" if reasons else ""),
            "the publisher answered errors or timed out: check a failed URL of the run manifest; the next run "
            "fetches them again",
        )
    ]


def _article_drop(runs: list[dict[str, Any]], last: Mapping[str, Any], settings: HealthSettings) -> list[Problem]:
    earlier = [r["new"] + r["changed"] for r in runs if r["run_id"] < last["run_id"] and r["status"] == "ok"]
    earlier = earlier[-settings.baseline_runs :]
    if len(earlier) < settings.min_baseline_runs:
        return []
    usual = statistics.median(earlier)
    now = last["new"] + last["changed"]
    if usual < settings.min_median_articles or now >= settings.articles_drop * usual:
        return []
    return [
        Problem(
            "articles-per-run",
            Level.WARNING,
            f"{now} articles archived in run {last['run_id']}, usually {usual:g} per run",
            "check that the feed still lists new entries (moved or renamed feed URL, entries older than the "
            "entry window?) and that its pages are not refused (run manifest)",
        )
    ]


def _quiet(entry: Mapping[str, Any], now: dt.datetime, settings: HealthSettings) -> list[Problem]:
    stamps = [_at(s) for s in entry.get("new_at") or ()]
    if len(stamps) < settings.min_baseline_runs + 1:
        return []
    gaps = [(b - a).total_seconds() / 86400 for a, b in itertools.pairwise(stamps)]
    usual = statistics.median(gaps[-settings.baseline_runs :])
    quiet = (now - stamps[-1]).total_seconds() / 86400
    if quiet <= max(settings.quiet_min_days, settings.quiet_factor * usual):
        return []
    return [
        Problem(
            "no-new-articles",
            Level.WARNING,
            f"no new article for {quiet:.1f} days (usually one every {usual:.1f} days; last {stamps[-1]:%Y-%m-%d})",
            "check that the publisher still publishes to this feed URL (`feedvault runs --show` lists the feed "
            "documents read)",
        )
    ]


def _cleaning_yield(runs: list[dict[str, Any]], settings: HealthSettings) -> list[Problem]:
    judged = [r for r in runs if (r.get("yield") or {}).get("articles", 0) >= settings.min_articles]
    if len(judged) < settings.min_baseline_runs + 1:
        return []
    latest, earlier = judged[-1], judged[:-1][-settings.baseline_runs :]
    now, base = latest["yield"], [r["yield"] for r in earlier]
    findings = []
    short, usual_short = now.get("short_share"), _median(y.get("short_share") for y in base)
    if short is not None and usual_short is not None and short - usual_short >= settings.short_share_rise:
        findings.append(
            f"{now['short']} of {now['articles']} articles have under {now.get('short_below_chars')} characters of "
            f"text ({_pct(short)}, usually {_pct(usual_short)})"
        )
    chars, usual_chars = now.get("median_text_chars"), _median(y.get("median_text_chars") for y in base)
    if chars is not None and usual_chars and chars < settings.text_length_drop * usual_chars:
        findings.append(f"median text length {chars:g} characters (usually {usual_chars:g})")
    removed, usual_removed = now.get("removed_share"), _median(y.get("removed_share") for y in base)
    if removed is not None and usual_removed is not None and removed - usual_removed >= settings.removed_share_rise:
        findings.append(f"the cleaning rules removed {_pct(removed)} of lines (usually {_pct(usual_removed)})")
    if not findings:
        return []
    return [
        Problem(
            "cleaning-yield",
            Level.WARNING,
            f"run {latest['run_id']}: " + "; ".join(findings),
            "the publisher may have changed its page layout: compare `feedvault show URL --raw` with the clean "
            "text, then adjust the feed's cleaning rules (`feedvault clean --feed ID < page.html` tries them)",
        )
    ]


# -- the stored object ------------------------------------------------------------------------------------------
@dataclass
class HealthBook:
    """Every feed's health entry: the ``health/feeds.json`` object (derived; rebuildable)."""

    feeds: dict[str, dict[str, Any]] = field(default_factory=dict)
    version: str | None = None  # of the stored object it was read from (compare-and-swap writes)

    @classmethod
    def load(cls, store: Store) -> HealthBook:
        try:
            raw, version = store.get_versioned(keys.HEALTH_KEY)
        except NotFound:
            return cls()
        data = json.loads(raw)
        if data.get("schema") != HEALTH_SCHEMA:
            raise ValueError(
                f"{keys.HEALTH_KEY} has schema {data.get('schema')!r}, expected {HEALTH_SCHEMA}; "
                "`feedvault health --rebuild` rewrites it from the run manifests"
            )
        return cls(data.get("feeds") or {}, version)

    def to_json(self) -> bytes:
        return json.dumps({"schema": HEALTH_SCHEMA, "feeds": self.feeds}, separators=(",", ":")).encode()

    def apply(self, run_manifest: Mapping[str, Any], settings: HealthSettings) -> list[Change]:
        """Add one committed run; returns the feeds whose state changed with it."""
        run_id = run_manifest["run_id"]
        at = keys.RunId(run_id).started
        changes = []
        for summary in run_manifest.get("feeds") or ():
            feed = summary["feed"]
            old = self.feeds.get(feed)
            if old and old.get("last_run_id") == run_id:  # a retried run: compare with the state before it
                old = old.get("undo")
            before = Level(old["level"]) if old and old.get("level") else None
            entry = apply_run(self.feeds.get(feed), summary, run_id, at, settings)
            self.feeds[feed] = entry
            after = Level(entry.get("level", "ok"))
            if entry.get("last_run_id") == run_id and after != (before or Level.OK):
                resolved = {p["message"] for p in (old or {}).get("problems", [])} - {
                    p["message"] for p in entry["problems"]
                }
                problems = tuple(Problem.from_dict(p) for p in entry["problems"])
                changes.append(Change(feed, before, after, run_id, problems, tuple(sorted(resolved))))
        return changes

    def save(self, store: Store) -> None:
        self.version = store.put_if(keys.HEALTH_KEY, self.to_json(), self.version)

    def listed_entries(self) -> dict[str, int]:
        """The most entries each feed listed in its recent runs (the window kept): what plans its shards, so one
        failed run (no entries) does not shrink a big feed's crawl to one task."""
        return {feed: max(map(_entries, entry.get("runs") or ()), default=0) for feed, entry in self.feeds.items()}

    @classmethod
    def from_cache(cls, path: Path | None) -> HealthBook:
        """The last object this machine wrote, with its version (empty, version None: assume no object yet)."""
        try:
            data = json.loads(path.read_text()) if path else {}
            return cls(data["feeds"], data["version"]) if data.get("schema") == HEALTH_SCHEMA else cls()
        except (OSError, ValueError, KeyError):
            return cls()

    def to_cache(self, path: Path | None) -> None:
        if path is None:
            return
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            body = {"schema": HEALTH_SCHEMA, "version": self.version, "feeds": self.feeds}
            tmp = path.with_suffix(".tmp")
            tmp.write_text(json.dumps(body, separators=(",", ":")))
            tmp.replace(path)
        except OSError as exc:  # only a cache: the next run reads the object instead
            logger.warning("health cache %s not written: %s", path, exc)


def record_run(
    store: Store,
    settings: HealthSettings,
    run_manifest: Mapping[str, Any],
    *,
    cache_dir: str | Path | None = None,
    attempts: int = 5,
) -> list[Change]:
    """Add a committed run to the stored health; returns the feeds whose state changed.

    Writes are compare-and-swap, so a concurrent writer's runs are kept. The last object written is cached in
    ``cache_dir`` (the registry's data dir): the next run on this machine writes against that version without
    reading it first. Without a cache the write first assumes there is no object yet (a new archive); if there
    is one, it is read and the run applied to it.
    """
    book = HealthBook.from_cache(_cache_file(store, cache_dir))
    for _attempt in range(attempts):
        changes = book.apply(run_manifest, settings)
        try:
            book.save(store)
        except VersionConflict:
            book = HealthBook.load(store)
            continue
        book.to_cache(_cache_file(store, cache_dir))
        return changes
    raise VersionConflict(f"{keys.HEALTH_KEY}: {attempts} conflicting writes in a row; `feedvault health --rebuild`")


def _cache_file(store: Store, cache_dir: str | Path | None) -> Path | None:
    if cache_dir is None:
        return None
    name = hashlib.sha256(str(getattr(store, "uri", store)).encode()).hexdigest()[:16]
    return Path(cache_dir) / "health" / f"{name}.json"


def rebuild(store: Store, settings: HealthSettings, *, save: bool = True) -> HealthBook:
    """Recompute every feed's health from the run manifests, oldest first (and store it, unless ``save`` is
    false: readers without write access compute it in memory)."""
    manifests = sorted(
        (o.key for o in store.list(keys.RUNS_PREFIX) if o.key.endswith("/manifest.json")),
        key=lambda k: k.split("/")[-2],
    )
    book = HealthBook()
    for key in manifests:
        book.apply(json.loads(store.get_bytes(key)), settings)
    if save:
        store.put_bytes(keys.HEALTH_KEY, book.to_json(), content_type="application/json")  # the rebuild wins
    return book


# -- reports (CLI, web, API, Airflow summary) -------------------------------------------------------------------
def feed_report(
    entry: Mapping[str, Any], now: dt.datetime, settings: HealthSettings, expires_on: str | None = None
) -> dict[str, Any]:
    """One feed's health as of ``now``: state, problems (each with what to do) and the figures behind them."""
    problems = assess(entry, now, settings, expires_on)
    runs = entry.get("runs") or []
    last = runs[-1] if runs else {}
    stamps = entry.get("new_at") or []
    return {
        "feed": entry.get("feed"),
        "state": str(level_of(problems)),
        "problems": [p.to_dict() for p in problems],
        "last_run": entry.get("last_run_id"),
        "last_status": entry.get("last_status"),
        "last_success": entry.get("last_success_at"),
        "failure_streak": int(entry.get("failure_streak") or 0),
        "last_new_article": stamps[-1] if stamps else None,
        "days_since_new_article": round((now - _at(stamps[-1])).total_seconds() / 86400, 1) if stamps else None,
        "articles_last_run": (last.get("new", 0) + last.get("changed", 0)) if last else None,
        "articles_median": _median(r["new"] + r["changed"] for r in runs[:-1] if r.get("status") == "ok"),
        "cleaning_yield": next((r["yield"] for r in reversed(runs) if r.get("yield")), None),  # latest with articles
        "permission_expires_on": expires_on or entry.get("expires_on"),
        "robots": entry.get("robots") or {},
    }


def report(
    store: Store,
    settings: HealthSettings,
    *,
    now: dt.datetime | None = None,
    feed_ids: Iterable[str] | None = None,
    expiries: Mapping[str, str | None] | None = None,
) -> list[dict[str, Any]]:
    """Every feed's (or the named feeds') health report, worst first; rebuilt from the runs if never stored."""
    now = now or dt.datetime.now(dt.UTC)
    try:
        book = HealthBook.load(store)
    except ValueError:
        book = rebuild(store, settings, save=False)
    if not book.feeds and next(iter(store.list(keys.RUNS_PREFIX)), None) is not None:
        book = rebuild(store, settings, save=False)  # runs from before feed health: computed, not written
    wanted = set(feed_ids) if feed_ids else None
    reports = [
        feed_report(entry, now, settings, (expiries or {}).get(feed))
        for feed, entry in sorted(book.feeds.items())
        if wanted is None or feed in wanted
    ]
    return sorted(reports, key=lambda r: (-Level(r["state"]).rank, r["feed"]))


def summary_lines(reports: Iterable[Mapping[str, Any]]) -> list[str]:
    """A line per problem (for the Airflow run summary and logs): ``health: FEED STATE: message -> action``."""
    return [
        f"health: {r['feed']} {p['level']}: {p['message']} -> {p['action']}" for r in reports for p in r["problems"]
    ]
