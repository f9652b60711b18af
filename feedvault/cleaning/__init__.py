"""HTML -> clean article text and metadata: trafilatura, then line rules for the boilerplate it keeps.

Functional API, no global state besides caches of compiled rules::

    result = clean_html(html, url, CleanOptions(rules=feed.cleaning))
    payload = clean_payload(body, url, "utf-8", options)  # picklable, for a process pool
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from functools import cache, lru_cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from lxml.html import HtmlElement

from feedvault.cleaning.encoding import decode_html
from feedvault.cleaning.fingerprints import RepeatedLines, drop_repeated_lines
from feedvault.cleaning.parsing import load_html
from feedvault.cleaning.rules import (
    RemovedLine,
    RightsKind,
    RightsReservation,
    apply_notices,
    apply_rules,
    compile_rules,
    drop_headline,
    labelled_links,
)
from feedvault.config import CleaningRules

__all__ = [
    "RECALL_FALLBACK_WORDS",
    "CleanOptions",
    "CleanResult",
    "PageHead",
    "RemovedLine",
    "RightsKind",
    "RightsReservation",
    "clean_html",
    "clean_payload",
    "decode_html",
]

_MODIFIED_KEYS = frozenset({"article:modified_time", "og:updated_time", "datemodified", "last-modified", "modified"})
_ISO_DATE = re.compile(r"^\s*(\d{4}-\d{2}-\d{2})")
_LANG_CODE = re.compile(r"^\s*([A-Za-z]{2,3})(?:[-_]|\s*$)")
# A precision extraction this short may have kept the wrong block (a reprint notice, a caption, a teaser) instead
# of the article: such pages are extracted again favouring recall, and that text wins if it is at least twice as
# long. Shorter than a news brief; only these few pages pay for a second extraction.
RECALL_FALLBACK_WORDS = 50


@dataclass(frozen=True)
class CleanOptions:
    favor_precision: bool = True
    include_comments: bool = False
    rules: CleaningRules = field(default_factory=CleaningRules)  # no feed rules, built-ins on
    target_language: str | None = None  # ISO 639-1; pages in another language give an empty text
    learned: RepeatedLines | None = None  # the feed's learned boilerplate lines (cleaning.fingerprints)


@dataclass
class CleanResult:
    text: str
    metadata: dict[str, Any]
    removed: list[RemovedLine] = field(default_factory=list)
    rights_reservations: list[RightsReservation] = field(default_factory=list)
    extractor: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """``dataclasses.asdict(self)``, written out: it runs for every page and asdict's generic copy is slow."""
        return {
            "text": self.text,
            "metadata": _copy(self.metadata),
            "removed": [r.to_dict() for r in self.removed],
            "rights_reservations": [{"kind": r.kind, "text": r.text, "rule": r.rule} for r in self.rights_reservations],
            "extractor": _copy(self.extractor),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CleanResult:
        return cls(
            text=data["text"],
            metadata=dict(data["metadata"]),
            removed=[RemovedLine(**item) for item in data.get("removed", ())],
            rights_reservations=[RightsReservation(**item) for item in data.get("rights_reservations", ())],
            extractor=dict(data.get("extractor", {})),
        )


def _copy(value: Any) -> Any:
    """Copy of nested dicts and lists (JSON-like values), so a result's dict shares no mutable state with it."""
    if isinstance(value, dict):
        return {key: _copy(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_copy(item) for item in value]
    return value


@lru_cache(maxsize=256)
def _rules_digest(rules: CleaningRules) -> str:
    """Identifies the exact rule set (built-ins included) a result was cleaned with."""
    spec = [(rule.id, rule.pattern.pattern) for rule in compile_rules(rules)]
    return hashlib.sha256(json.dumps(spec).encode()).hexdigest()[:16]


def _extractor_info(options: CleanOptions) -> dict[str, Any]:
    import trafilatura

    return {
        "name": "trafilatura",
        "version": trafilatura.__version__,
        "options": {
            "favor_precision": options.favor_precision,
            "include_comments": options.include_comments,
            "with_metadata": True,
            "target_language": options.target_language,
        },
        "rules": {
            "builtin": options.rules.builtin,
            "feed_patterns": len(options.rules.drop_patterns) + len(options.rules.rights_patterns),
            "digest": _rules_digest(options.rules),
        },
        "learned_lines": len(options.learned.active) if options.learned is not None else None,
    }


def _first_date(values: list[Any]) -> str | None:
    for value in values:
        if isinstance(value, str) and (match := _ISO_DATE.match(value)):
            return match.group(1)
    return None


def _json_ld_values(node: Any, key: str) -> list[Any]:
    if isinstance(node, list):
        return [v for item in node for v in _json_ld_values(item, key)]
    if not isinstance(node, dict):
        return []
    found = [node[key]] if key in node else []
    return found + [v for child in node.values() if isinstance(child, list | dict) for v in _json_ld_values(child, key)]


@dataclass(frozen=True)
class PageHead:
    """A page's ``<meta>``, ``<script>``, ``<h1>`` and ``<link>`` elements in document order, found in one walk of
    its tree: the cleaner's metadata (language, modified date), its headline rule and the signal scan (robots and
    TDM meta, canonical links) all read them."""

    metas: tuple[HtmlElement, ...]
    scripts: tuple[HtmlElement, ...]
    h1: tuple[HtmlElement, ...]
    links: tuple[HtmlElement, ...]

    @classmethod
    def of(cls, tree: HtmlElement) -> PageHead:
        found = list(tree.iter("meta", "script", "h1", "link"))
        return cls(*(tuple(e for e in found if e.tag == tag) for tag in ("meta", "script", "h1", "link")))


def _modified_date(head: PageHead) -> str | None:
    """Last-modified date from meta tags or JSON-LD (trafilatura only reports the publication date)."""
    metas = [
        meta.get("content")
        for meta in head.metas
        if (meta.get("property") or meta.get("name") or meta.get("itemprop") or "").lower() in _MODIFIED_KEYS
    ]
    if date := _first_date(metas):
        return date
    for script in head.scripts:
        if script.get("type") != "application/ld+json":
            continue
        try:
            data = json.loads(script.text or "")
        except ValueError:
            continue
        if date := _first_date(_json_ld_values(data, "dateModified")):
            return date
    return None


# XPath's translate(@http-equiv, 'CONTENT-LANGUAGE', 'content-language'): those capitals lowered, nothing else
_HTTP_EQUIV_CASE = str.maketrans("CONTENT-LANGUAGE", "content-language")


def _page_language(tree: HtmlElement, head: PageHead) -> str | None:
    """Primary language subtag declared by the page (<html lang>, Content-Language, og:locale)."""
    declared = [tree.get("lang"), tree.get("xml:lang")]
    declared += [
        content
        for meta in head.metas
        if (
            (meta.get("http-equiv") or "").translate(_HTTP_EQUIV_CASE) == "content-language"
            or meta.get("property") == "og:locale"
        )
        and (content := meta.get("content")) is not None
    ]
    for value in declared:
        if value and (match := _LANG_CODE.match(value)):
            return match.group(1).lower()
    return None


def _terms(values: list[str] | None) -> list[str]:
    """Tags/categories split on commas, '#' stripped, duplicates removed."""
    terms = (t.strip().lstrip("#").strip() for value in values or () for t in value.split(","))
    return list(dict.fromkeys(t for t in terms if t))


def _metadata(
    doc: Any, head: PageHead | None, text: str, url: str | None, language: str | None = None
) -> dict[str, Any]:
    def get(name: str) -> Any:
        return getattr(doc, name, None) if doc is not None else None

    return {
        "title": get("title"),
        "author": get("author"),
        "date": get("date"),
        "modified": _modified_date(head) if head is not None else None,
        "sitename": get("sitename"),
        "language": get("language") or language,
        "tags": _terms(get("tags")),
        "categories": _terms(get("categories")),
        "canonical_url": get("url") or url,
        "hostname": get("hostname"),
        "description": get("description"),
        "image": get("image"),
        "pagetype": get("pagetype"),
        "license": get("license"),
        "word_count": len(text.split()),
    }


def clean_html(html: str | bytes, url: str | None = None, options: CleanOptions | None = None) -> CleanResult:
    """Extract the article text and metadata of one page and apply the cleaning rules.

    Input that is empty, not HTML or has no article gives a result with empty text (never an exception),
    and so does a page that declares a language other than ``options.target_language``. (trafilatura's own
    language filter needs py3langid, which is not installed, and ignores ``<html lang>`` without it.)
    """
    if isinstance(html, bytes):
        html, _ = decode_html(html, None)
    return clean_tree(load_html(html) if html.strip() else None, url, options)


def clean_tree(
    tree: HtmlElement | None,
    url: str | None = None,
    options: CleanOptions | None = None,
    head: PageHead | None = None,
) -> CleanResult:
    """:func:`clean_html` on a page already parsed (:func:`feedvault.cleaning.parsing.load_html`, or
    ``trafilatura.load_html``; the tree is not modified);
    ``head``: its :class:`PageHead`, if the caller has it."""
    import trafilatura

    _prune_faster()
    options = options or CleanOptions()
    if tree is None:
        return CleanResult(text="", metadata=_metadata(None, None, "", url), extractor=_extractor_info(options))
    head = head or PageHead.of(tree)
    language = _page_language(tree, head)
    wanted = options.target_language
    doc = None
    if not (wanted and language and language != wanted.lower()):
        doc = trafilatura.bare_extraction(  # works on a copy of the tree
            tree,
            url=url,
            favor_precision=options.favor_precision,
            include_comments=options.include_comments,
            with_metadata=True,
        )
    raw_text = (doc.text or "") if doc is not None else ""
    recall_fallback = False
    if options.favor_precision and doc is not None and len(raw_text.split()) < RECALL_FALLBACK_WORDS:
        wider = _recall_fallback(tree, url, options, raw_text)
        raw_text, recall_fallback = wider, wider is not raw_text
    if doc is None:  # no article text, but the page may still describe itself
        doc = trafilatura.extract_metadata(tree, default_url=url)
    rules = compile_rules(options.rules, language)
    text, removed, reservations = apply_rules(raw_text.strip(), rules, lambda: labelled_links(tree, rules))
    if options.rules.builtin:  # then notices found by meaning, in any language with a lexicon
        text, cut, notices = apply_notices(text)
        text, headline = drop_headline(text, getattr(doc, "title", None), tree, head.h1)
        removed, reservations = headline + removed + cut, reservations + notices
    text, repeated = drop_repeated_lines(text, options.learned)
    return CleanResult(
        text=text,
        metadata=_metadata(doc, head, text, url, language),
        removed=removed + repeated,
        rights_reservations=reservations,
        extractor=_extractor_info(options) | {"recall_fallback": recall_fallback},
    )


@cache
def _prune_faster() -> None:
    """trafilatura's costliest XPath expressions (pruning, authors, categories, tags) with the same selections at
    a third of the cost (:mod:`feedvault.cleaning.pruning`); once per process (``install`` is idempotent, but it
    would check 19 entries on every page)."""
    from feedvault.cleaning.pruning import install

    install()


def _recall_fallback(tree: HtmlElement, url: str | None, options: CleanOptions, precise: str) -> str:
    """The page's text extracted again favouring recall, if that finds at least twice the precision run's words."""
    import trafilatura

    wider = trafilatura.bare_extraction(
        tree, url=url, favor_recall=True, include_comments=options.include_comments, with_metadata=False
    )
    # its lines can keep the indentation of wrappers it dropped around them
    text = "\n".join(line.strip() for line in (wider.text or "").splitlines()) if wider is not None else ""
    return text if len(text.split()) >= 2 * len(precise.split()) else precise


def clean_payload(body: bytes, url: str, declared_encoding: str | None, options: CleanOptions) -> dict[str, Any]:
    """Decode and clean one fetched page; top-level and self-contained so it can run in a process pool."""
    html, encoding = decode_html(body, declared_encoding)
    return clean_html(html, url, options).to_dict() | {"encoding": encoding}
