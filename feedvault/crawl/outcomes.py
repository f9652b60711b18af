"""The outcomes a fetched article can end with, each built in one place.

One method per kind records the outcome in the feed's run log and returns what the item pipeline hands on to
Scrapy (``{"url", "outcome"}``). The spider's own outcomes for entries it never fetches stay with the spider,
except a takedown refusal, which both the spider (the feed's link) and the pipeline (a redirect's target) make.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from feedvault.archive.manifest import FeedRunLog, Outcome
from feedvault.archive.warc import RecordLocation
from feedvault.crawl.items import ArticleCapture
from feedvault.crawl.tombstones import Tombstones
from feedvault.permission.decisions import PageDecision
from feedvault.permission.usage import compact

PassedOn = dict[str, Any]  # what the pipeline returns to Scrapy for an article: its URL and how it ended


class ArticleFailed(Exception):
    """Archiving an article failed in a known way; becomes its ``failed`` outcome with ``reason``."""

    def __init__(self, reason: str, detail: str, *, sha256: str | None = None, warc_key: str | None = None) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail
        self.sha256 = sha256
        self.warc_key = warc_key  # its raw records were appended there: the outcome names them


@dataclass(frozen=True)
class Archived:
    """What archiving one article wrote: its payload hash, its clean record and its raw records, if kept."""

    sha256: str
    clean_key: str | None
    clean_bytes: int
    location: RecordLocation | None

    @property
    def warc_key(self) -> str | None:
        return self.location.warc_key if self.location else None

    @property
    def bytes_written(self) -> int:
        return self.clean_bytes + (self.location.length if self.location else 0)


def cleaning_figures(cleaned: dict[str, Any] | None) -> dict[str, int]:
    """What feed health needs of one cleaned page: text length, lines kept, lines the rules removed."""
    text = (cleaned or {}).get("text") or ""
    return {
        "text_chars": len(text),
        "text_lines": sum(1 for line in text.splitlines() if line.strip()),
        "lines_removed": len((cleaned or {}).get("removed") or ()),
    }


def no_text_detail(cleaned: dict[str, Any] | None, clean_error: str | None, fetch_reason: str) -> str | None:
    """Why an archived page has no clean text (the extractor failed or found none), or None if it has text."""
    if cleaned is not None and cleaned.get("text", "").strip():
        return None
    why = f"the cleaner failed: {clean_error}" if clean_error else "the cleaner found no article text"
    return f"no text extracted ({why}); the clean record's text is empty (fetched: {fetch_reason})"


class ArticleOutcomes:
    """Records the outcome of each fetched article in the feed's run log: one method per kind of outcome."""

    def __init__(self, log: FeedRunLog) -> None:
        self.log = log

    def taken_down(self, url: str, tombstoned: str | None = None) -> PassedOn:
        """``url`` has a tombstone (or the canonical URL it declares, ``tombstoned``): refused, with the tombstone
        as evidence."""
        evidence = Tombstones.evidence(tombstoned or url)
        detail = "its canonical URL is taken down" if tombstoned else "taken down"
        self.log.add(url, Outcome.REFUSED, reason="takedown", detail=detail, evidence=evidence)
        return {"url": url, "outcome": "refused"}

    def unchanged(self, item: ArticleCapture, sha256: str) -> PassedOn:
        """The payload is the baseline's: nothing written, so the page is not judged again."""
        self.log.add(
            item.archived_url,
            Outcome.UNCHANGED,
            reason="same-payload",
            http_status=item.raw["status"],
            sha256=sha256,
            fetched_url=item.fetched_url,
        )
        return {"url": item.url, "outcome": "unchanged"}

    def duplicate(self, item: ArticleCapture, first: str | None) -> PassedOn:
        """Another capture of this run stands for the URL this one is archived under (URL variants declaring one
        canonical URL, or entries redirected to one URL): nothing written."""
        self.log.add(
            item.url,
            Outcome.SKIPPED,
            reason="duplicate-canonical",
            detail=f"the same article as {first}: both are {item.archived_url} (their canonical link, or a redirect)",
            http_status=item.raw["status"],
            canonical={"href": item.archived_url},
        )
        return {"url": item.url, "outcome": "skipped"}

    def refused(self, item: ArticleCapture, verdict: PageDecision, permission: dict[str, Any], sha256: str) -> PassedOn:
        """The decision table refused the page: under the URL the feed gave, like the spider's refusals."""
        self.log.add(
            item.requested_url,
            Outcome.REFUSED,
            reason=verdict.reason,
            detail=verdict.detail,
            http_status=item.raw["status"],
            sha256=sha256,
            evidence=permission,
            redirected_to=item.url if item.url != item.requested_url else None,
        )
        return {"url": item.url, "outcome": "refused"}

    def failed(self, item: ArticleCapture, failure: ArticleFailed) -> PassedOn:
        """Archiving the article failed; its raw records, if they were appended to a WARC, are named."""
        self.log.add(
            item.archived_url,
            Outcome.FAILED,
            reason=failure.reason,
            detail=failure.detail[:500],
            http_status=item.raw.get("status"),
            sha256=failure.sha256,
            warc_key=failure.warc_key,
            fetched_url=item.fetched_url,
        )
        return {"url": item.url, "outcome": "failed"}

    def archived(
        self,
        item: ArticleCapture,
        archived: Archived,
        examined: dict[str, Any],
        usage: dict[str, Any],
    ) -> PassedOn:
        """A new snapshot: ``new`` for a URL without a baseline, else ``changed`` (``signals-changed`` when only the
        publisher's outside signals did); ``no-text`` if no text was found."""
        cleaned, baseline = examined["cleaned"], item.plan.baseline
        no_text = no_text_detail(cleaned, examined["clean_error"], item.plan.reason)
        same_payload = baseline is not None and baseline.sha256 == archived.sha256
        ignored = item.identity.canonical if item.identity is not None else None
        self.log.add(
            item.archived_url,
            Outcome.CHANGED if baseline is not None else Outcome.NEW,
            reason="no-text" if no_text else "signals-changed" if same_payload else item.plan.reason,
            detail=no_text,
            http_status=item.raw["status"],
            sha256=archived.sha256,
            clean_key=archived.clean_key,
            warc_key=archived.warc_key,
            bytes_written=archived.bytes_written,
            cleaning=cleaning_figures(cleaned),
            usage=compact(usage) or None,
            fetched_url=item.fetched_url,
            canonical=ignored if ignored and "ignored" in ignored else None,  # a canonical link not used, and why
        )
        return {"url": item.url, "outcome": "archived"}
