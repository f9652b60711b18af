"""Learned boilerplate: lines that recur across many articles of one feed are removed whatever their words.

Rules (``feedvault/rules/``) know boilerplate by its words; a publisher's own promos, sign-offs and widgets
are known by recurring. Each feed keeps a fingerprint set in the archive (``fingerprints/<feed>.json``,
:func:`feedvault.keys.fingerprints_key`): per normalised line, the distinct articles, runs and article days
it was seen in. Three steps:

- **apply** (in the extraction worker, :func:`drop_repeated_lines` from ``clean_tree``): a kept line whose
  fingerprint is *active* is removed and recorded with reason ``repeated-in-feed`` (family ``learned``);
- **observe** (in the worker too, :func:`observe_lines`): the fingerprints of the page's candidate lines (kept
  lines and lines just removed as repeated, so an active line keeps being counted);
- **update** (once per feed at the end of a run, :meth:`FeedFingerprints.update`): the run's observations are
  merged into the stored set with compare-and-swap (a concurrent run's update is re-read and merged, as with
  the seen state), then the set is pruned and bounded.

Guards against removing real text: a line is never a candidate when it is short (fewer than ``min_words``
words: labels, one-word lines), holds a quotation (a recurring short quote is article text), or looks like a
dateline or carries a date or time. A candidate becomes active only once it was seen in ``min_articles``
distinct articles, in ``min_runs`` distinct runs and on ``min_days`` distinct article days (a line repeated by
one day's stories about one event is not boilerplate).

Only fingerprints are stored for lines not (yet) active; the text of a line (``sample``) is kept once it is
active, i.e. shared by many articles: no article's own sentences are kept, so a takedown leaves none behind.

Eviction (the set is bounded): a line not seen for ``forget_after_days`` is forgotten; beyond ``max_lines``,
the lines kept are the active ones first, then those seen in the most articles, then the most recently seen.
Per line, at most :data:`MAX_IDS` article ids, runs and days are kept (enough to pass any threshold).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import logging
import re
import unicodedata
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from feedvault import keys
from feedvault.cleaning.rules import RemovedLine
from feedvault.config import LearnedBoilerplate

if TYPE_CHECKING:  # the workers import this module: no boto3 there
    from feedvault.store.backends import Store

logger = logging.getLogger(__name__)

FINGERPRINTS_SCHEMA = "feedvault.fingerprints/1"
REASON = "repeated-in-feed"
FAMILY = "learned"
RULE = "learned.repeated-line"
MAX_IDS = 32  # per line: article ids, runs and days kept (thresholds above this are capped to it)
SAMPLE_CHARS = 200

# A quotation: straight or typographic double quotes, guillemets, low-9 quotes, or a line opening with a quote.
_QUOTE = re.compile(r"[\"“”„«»‹›]|^['‘’‚]")
# Datelines ("JAKARTA, KOMPAS -", "LONDON (Reuters) -") and dates or times anywhere in the line.
_DATELINE = re.compile(r"^[A-Z][A-Z.'’ -]{2,}(?:,|\s*\(|\s+[-–—])")
_DATE_OR_TIME = re.compile(
    r"\b\d{1,4}[/.-]\d{1,2}[/.-]\d{1,4}\b"  # 1/12/2026, 2026-12-01, 01.12.26
    r"|\b\d{1,2}[:.]\d{2}(?:\s*(?:[ap]\.?m\.?|WIB|WITA|WIT|UTC|GMT))?\b"  # 14:05, 9.30 WIB
)


@dataclass(frozen=True)
class RepeatedLines:
    """What a worker needs to apply and observe learned lines: the feed's active fingerprints and the guard."""

    active: frozenset[str] = frozenset()
    min_words: int = LearnedBoilerplate().min_words
    observe: bool = True


def normalize_line(line: str) -> str:
    """The form a line is recognised by: NFKC, case-folded, whitespace collapsed."""
    return " ".join(unicodedata.normalize("NFKC", line).casefold().split())


def fingerprint(line: str) -> str:
    return hashlib.sha256(normalize_line(line).encode("utf-8")).hexdigest()[:16]


def guard(line: str, min_words: int) -> str | None:
    """Why ``line`` may never be learned (``short``, ``quote``, ``dateline``), or None when it may."""
    text = line.strip()
    if len(text.split()) < min_words:
        return "short"
    if _QUOTE.search(text):
        return "quote"
    if _DATELINE.match(text) or _DATE_OR_TIME.search(text):
        return "dateline"
    return None


def drop_repeated_lines(text: str, learned: RepeatedLines | None) -> tuple[str, list[RemovedLine]]:
    """Remove the lines of ``text`` whose fingerprint is active; each is recorded with reason repeated-in-feed."""
    if learned is None or not learned.active:
        return text, []
    kept, removed = [], []
    for line in text.splitlines():
        stripped = line.strip()
        if stripped and guard(stripped, learned.min_words) is None and fingerprint(stripped) in learned.active:
            removed.append(removal(stripped))
        else:
            kept.append(line)
    return "\n".join(kept), removed


def removal(line: str) -> RemovedLine:
    """The removal record of a learned line (the one place its family, rule and reason are set)."""
    return RemovedLine(line, RULE, FAMILY, REASON)


def observe_lines(cleaned: Mapping[str, Any] | None, learned: RepeatedLines | None) -> dict[str, str]:
    """Fingerprint -> sample of one cleaned page's candidate lines: its kept lines and those just removed as
    repeated (JSON-ready, from the worker). Empty when learning is off or the page has no text."""
    if learned is None or not learned.observe or not cleaned:
        return {}
    lines = [*cleaned.get("text", "").splitlines()]
    lines += [r["line"] for r in cleaned.get("removed", ()) if r.get("reason") == REASON]
    found: dict[str, str] = {}
    for line in lines:
        stripped = line.strip()
        if stripped and guard(stripped, learned.min_words) is None:
            found.setdefault(fingerprint(stripped), stripped[:SAMPLE_CHARS])
    return found


@dataclass(frozen=True)
class Observation:
    """One archived article's candidate lines, as the run saw them."""

    url: str
    run_id: str
    day: str  # the article's day: published, else fetched (ISO date)
    lines: Mapping[str, str]  # fingerprint -> sample


class ObservationLog:
    """A run's observations, appended to a JSON Lines file in its spool as articles are archived and read back
    (each time) when they are merged: a crawl's memory does not grow with its articles' lines. Without a path (a
    test, a tool), kept in memory. Learning is optional: a spool that refuses a line (a full disk) stops the
    log with a warning, and what it holds is merged."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path
        self.lost = False
        self._kept: list[Observation] = []
        self._count = 0
        self._file: IO[str] | None = None

    def append(self, seen: Observation) -> None:
        if self.lost:
            return
        if self.path is None:
            self._kept.append(seen)
        else:
            try:
                if self._file is None:
                    self.path.parent.mkdir(parents=True, exist_ok=True)
                    self._file = self.path.open("a", encoding="utf-8", buffering=1)  # a line at a time
                self._file.write(json.dumps([seen.url, seen.run_id, seen.day, seen.lines], ensure_ascii=False) + "\n")
            except OSError as exc:
                self.lost = True
                self._close()
                logger.warning(
                    "learned boilerplate: %s not written (%s); this run learns from fewer pages", self.path, exc
                )
                return
        self._count += 1

    def __len__(self) -> int:
        return self._count

    def _close(self) -> None:
        file, self._file = self._file, None
        if file is not None:
            with contextlib.suppress(OSError):  # what it could not write is dropped with it
                file.close()

    def __iter__(self) -> Iterator[Observation]:
        if self.path is None:
            yield from self._kept
            return
        if self._count == 0:  # the file holds every line counted: each was flushed as written
            return
        with self.path.open(encoding="utf-8") as fh:
            for line in fh:
                with contextlib.suppress(ValueError):  # a line cut short by a full disk
                    url, run_id, day, lines = json.loads(line)
                    yield Observation(url, run_id, day, lines)


@dataclass
class LineStats:
    sample: str
    articles: list[str] = field(default_factory=list)  # url-key prefixes (distinct articles)
    runs: list[str] = field(default_factory=list)
    days: list[str] = field(default_factory=list)
    last_seen: str = ""  # ISO date of the last run that saw it (what eviction goes by)

    def add(self, article: str, run_id: str, day: str, seen_on: str) -> None:
        if article not in self.articles and len(self.articles) < MAX_IDS:
            self.articles.append(article)
        self.runs = _newest(self.runs, run_id)
        self.days = _newest(self.days, day)
        self.last_seen = max(self.last_seen, seen_on)

    def active(self, settings: LearnedBoilerplate) -> bool:
        return (
            len(self.articles) >= min(settings.min_articles, MAX_IDS)
            and len(self.runs) >= min(settings.min_runs, MAX_IDS)
            and len(self.days) >= min(settings.min_days, MAX_IDS)
        )


def _newest(values: list[str], value: str) -> list[str]:
    return values if value in values else sorted([*values, value])[-MAX_IDS:]


class FeedFingerprints:
    """A feed's fingerprint set as stored (``fingerprints/<feed>.json``), with the version it was read at."""

    def __init__(self, feed_id: str, lines: dict[str, LineStats] | None = None, version: str | None = None) -> None:
        self.feed_id = feed_id
        self.lines: dict[str, LineStats] = lines or {}
        self.version = version

    @classmethod
    def load(cls, store: Store, feed_id: str) -> FeedFingerprints:
        from feedvault.store.backends import NotFound

        try:
            raw, version = store.get_versioned(keys.fingerprints_key(feed_id))
        except NotFound:
            return cls(feed_id)
        data = json.loads(raw)
        if data.get("schema") != FINGERPRINTS_SCHEMA:
            raise ValueError(
                f"{keys.fingerprints_key(feed_id)} has schema {data.get('schema')!r}, expected {FINGERPRINTS_SCHEMA}"
            )
        return cls(feed_id, {fp: LineStats(**stats) for fp, stats in data["lines"].items()}, version)

    def to_json(self) -> bytes:
        body = {
            "schema": FINGERPRINTS_SCHEMA,
            "feed": self.feed_id,
            "lines": {fp: vars(stats) for fp, stats in sorted(self.lines.items())},
        }
        return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")

    def active(self, settings: LearnedBoilerplate) -> frozenset[str]:
        if not settings.enabled:
            return frozenset()
        return frozenset(fp for fp, stats in self.lines.items() if stats.active(settings))

    def repeated_lines(self, settings: LearnedBoilerplate) -> RepeatedLines | None:
        """What the extraction workers get for this feed (None: learning is off)."""
        if not settings.enabled:
            return None
        return RepeatedLines(self.active(settings), settings.min_words)

    def merge(self, observations: Iterable[Observation], today: dt.date) -> None:
        seen_on = today.isoformat()
        for seen in observations:
            article = keys.url_key(seen.url)[:12]
            for fp, sample in seen.lines.items():
                stats = self.lines.setdefault(fp, LineStats(sample))
                stats.sample = stats.sample or sample
                stats.add(article, seen.run_id, seen.day, seen_on)

    def prune(self, settings: LearnedBoilerplate, today: dt.date) -> int:
        """Apply the eviction rule (module docstring) and drop the samples of inactive lines; returns how many lines
        were dropped."""
        before = len(self.lines)
        horizon = (today - dt.timedelta(days=settings.forget_after_days)).isoformat()
        kept = {fp: s for fp, s in self.lines.items() if s.last_seen >= horizon}
        if len(kept) > settings.max_lines:
            ranked = sorted(
                kept.items(),
                key=lambda item: (item[1].active(settings), len(item[1].articles), item[1].last_seen, item[0]),
                reverse=True,
            )
            kept = dict(ranked[: settings.max_lines])
        for stats in kept.values():  # no article's own text is kept: a takedown leaves none behind
            if not stats.active(settings):
                stats.sample = ""
        self.lines = kept
        return before - len(kept)

    def update(
        self,
        store: Store,
        observations: Iterable[Observation],
        settings: LearnedBoilerplate,
        today: dt.date,
        attempts: int = 5,
    ) -> bool:
        """Merge a run's observations and write the set back with compare-and-swap; returns whether it wrote.

        On a conflict (another run of the feed updated it since it was read) the stored set is read again and
        the observations merged into that; merging is idempotent, so a retried run counts nothing twice.
        """
        from feedvault.store.backends import VersionConflict

        if not observations:
            return False
        key = keys.fingerprints_key(self.feed_id)
        current = self
        for _attempt in range(attempts):
            current.merge(observations, today)
            current.prune(settings, today)
            try:
                self.version = store.put_if(key, current.to_json(), current.version)
            except VersionConflict:
                current = FeedFingerprints.load(store, self.feed_id)
                continue
            self.lines = current.lines
            return True
        raise VersionConflict(
            f"{key}: {attempts} conflicting writes in a row (runs of feed {self.feed_id!r} keep saving); "
            "this run's lines are not learned, later runs learn them"
        )
