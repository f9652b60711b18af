"""Page-level publisher signals: robots directives, TDMRep headers and meta, plain-language notices.

Two halves. :func:`examine_payload` runs in the extraction process pool: it cleans the page and scans the
whole HTML (meta elements, and the text of the entire page, footer included, for rights notices; trafilatura
drops footers before the cleaner's rules see them). :func:`page_findings` runs on the reactor: it combines
that scan with the response headers and the host's tdmrep.json into :class:`~feedvault.permission.decisions.Finding`
objects for :func:`~feedvault.permission.decisions.decide`.

Robots directives (``X-Robots-Tag`` header, ``<meta name="robots">`` and ``<meta name="feedvault">``) apply
when unscoped or scoped to our token (``X-Robots-Tag: feedvault: noarchive``); directives scoped to other
crawlers (``googlebot: noarchive``) are ignored.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Sequence
from functools import lru_cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from lxml.etree import XSLT
    from lxml.html import HtmlElement

    from feedvault.permission.aipref import Statement

from feedvault.cleaning import CleanOptions, PageHead, clean_tree, decode_html
from feedvault.cleaning.parsing import load_html, page_parser
from feedvault.cleaning.rules import Rule, apply_rules, compile_rules
from feedvault.config import CleaningRules, Signal
from feedvault.permission import tdmrep
from feedvault.permission.decisions import Finding

ROBOTS_TOKEN = "feedvault"
ROBOTS_META_NAMES = ("robots", ROBOTS_TOKEN)
TDM_META_NAMES = ("tdm-reservation", "tdm-policy")

#: robots directive -> signal. ``nocache`` is Bing's synonym of noarchive; ``none`` means noindex, nofollow.
DIRECTIVE_SIGNALS = {
    "noarchive": Signal.NOARCHIVE,
    "nocache": Signal.NOARCHIVE,
    "noai": Signal.NOAI,
    "noimageai": Signal.NOIMAGEAI,
    "noindex": Signal.NOINDEX,
    "none": Signal.NOINDEX,
}
# Notice kinds (the cleaner's rule files) -> signal: an AI/crawling reservation restricts; copyright lines do not.
NOTICE_SIGNALS = {
    "ai-reservation": Signal.RIGHTS_NOTICE,
    "rights-notice": Signal.COPYRIGHT_NOTICE,
    "copyright": Signal.COPYRIGHT_NOTICE,
}
_VALUED_DIRECTIVES = frozenset({"unavailable_after", "max-snippet", "max-image-preview", "max-video-preview"})
_BOT_NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]*$")
_SKIPPED = ("script", "style", "noscript", "template", "svg")
_BLOCKS = (
    "p", "div", "br", "li", "ul", "ol", "dd", "dt", "tr", "td", "th", "table", "section", "article", "aside",
    "header", "footer", "nav", "main", "blockquote", "pre", "address", "figure", "figcaption", "form",
    "h1", "h2", "h3", "h4", "h5", "h6", "hr",
)  # fmt: skip


# -- robots directives ----------------------------------------------------------------------------------
def robots_directives(value: str, token: str = ROBOTS_TOKEN) -> list[str]:
    """Directives of one X-Robots-Tag value (or meta content) that apply to ``token``, lower-cased.

    A ``<bot>:`` prefix scopes the directives after it (until the next prefix) to that crawler.
    """
    scope: str | None = None
    found = []
    for part in value.split(","):
        text = part.strip()
        name, colon, rest = text.partition(":")
        name = name.strip().lower()
        if colon and name not in _VALUED_DIRECTIVES and _BOT_NAME.match(name):
            scope, text = name, rest.strip()
        if text and scope in (None, token):
            found.append(text.split(":", 1)[0].strip().lower())
    return found


def _directive_findings(values: Iterable[str], source: str, where: str) -> list[Finding]:
    findings = []
    for value in values:
        for directive in dict.fromkeys(robots_directives(value)):
            if directive in DIRECTIVE_SIGNALS:
                findings.append(Finding(DIRECTIVE_SIGNALS[directive], source, where, value, {"directive": directive}))
    return findings


# -- the worker half ------------------------------------------------------------------------------------
@lru_cache(maxsize=1)
def _block_text() -> XSLT:
    """XSLT giving an element's text with a line break around each block element, skipped elements left out.

    The same text as dropping the skipped elements, prefixing each block element's text and tail with a line
    break and calling ``text_content()``, in one pass in C and without modifying the tree. (libxslt raises
    beyond 3000 nested elements; the HTML parser nests at most 255 deep, 2047 with ``huge_tree``.)
    """
    from lxml import etree

    newline = "<xsl:text>&#10;</xsl:text>"
    return etree.XSLT(
        etree.XML(
            '<xsl:stylesheet version="1.0" xmlns:xsl="http://www.w3.org/1999/XSL/Transform">'
            '<xsl:output method="text" encoding="UTF-8"/>'
            f'<xsl:template match="{"|".join(_SKIPPED)}"/>'
            f'<xsl:template match="{"|".join(_BLOCKS)}">{newline}<xsl:apply-templates/>{newline}</xsl:template>'
            "</xsl:stylesheet>"
        )
    )


def _page_lines(tree: HtmlElement) -> list[str]:
    """The visible text of the whole page, one line per block element (header, nav and footer included)."""
    body = next(tree.getroottree().getroot().iter("body"), tree)  # the document's first <body>, as "//body"
    text = str(_block_text()(body))
    return [" ".join(line.split()) for line in text.splitlines() if line and not line.isspace()]


def scan_page(html: str, rules: CleaningRules) -> dict[str, Any]:
    """Meta elements and rights notices of a decoded page (JSON-ready, for the process pool); ``unscannable``
    says why the scan could not see the whole page, if it could not."""
    tree, problem = load_page(html)
    return checked_scan(tree, rules, problem)


def load_page(html: str) -> tuple[HtmlElement | None, str | None]:
    """Parse a decoded page as trafilatura does (:mod:`feedvault.cleaning.parsing`): (tree, why the tree is not the
    whole page, or None).

    libxml2 does not fail on what it cannot hold: past 255 nested elements (2047 with ``huge_tree``) it stops,
    records a FATAL error (``ERR_RESOURCE_LIMIT``) and returns the tree built so far, so everything after that
    point, a rights notice included, is silently missing. Any FATAL parser error means the parser gave up
    early, so the tree is not the page. Content that does not parse as HTML at all cannot be scanned either.
    """
    from lxml import etree

    if not html.strip():
        return None, None
    tree = load_html(html)
    if tree is None:
        return None, "the page does not parse as HTML"
    fatal = next((e for e in page_parser().error_log if e.level == etree.ErrorLevels.FATAL), None)
    if fatal is not None:
        return tree, f"the HTML parser stopped at line {fatal.line} ({fatal.type_name}: {fatal.message.strip()})"
    return tree, None


def checked_scan(
    tree: HtmlElement | None, rules: CleaningRules, problem: str | None, head: PageHead | None = None
) -> dict[str, Any]:
    """:func:`scan_tree`, failing closed: a scan that raises, or a tree that is not the whole page, adds
    ``unscannable`` (which the decision table refuses); what was found in the partial tree stays as evidence."""
    try:
        page = scan_tree(tree, rules, head)
    except Exception as exc:  # RecursionError, MemoryError from libxslt...: no verdict on what we could not read
        page = scan_tree(None, rules)
        problem = problem or f"the page scan failed ({type(exc).__name__}: {exc})"
    return page | {"unscannable": problem} if problem else page


@lru_cache(maxsize=64)
def _rights_rules(rules: CleaningRules) -> tuple[Rule, ...]:
    """The rules that record rights lines (one tuple per configuration, so its needle index is built once)."""
    return tuple(rule for rule in compile_rules(rules) if rule.action == "rights")


def scan_tree(tree: HtmlElement | None, rules: CleaningRules, head: PageHead | None = None) -> dict[str, Any]:
    """:func:`scan_page` on a parsed page (the tree is not modified; ``head``: its PageHead, if the caller has
    it)."""
    meta: dict[str, list[str]] = {name: [] for name in (*ROBOTS_META_NAMES, *TDM_META_NAMES)}
    if tree is None:
        return {"meta": meta, "notices": [], "canonical": []}
    head = head or PageHead.of(tree)
    for element in head.metas:
        name = (element.get("name") or "").strip().lower()
        if name in meta:
            meta[name].append(element.get("content") or "")
    lines = _page_lines(tree)
    _, _, reservations = apply_rules("\n".join(lines), _rights_rules(rules))
    notices = [{"kind": r.kind, "text": r.text, "rule": r.rule} for r in reservations]
    return {"meta": meta, "notices": notices + page_notices(lines), "canonical": canonical_links(tree, head)}


def canonical_links(tree: HtmlElement, head: PageHead | None = None) -> list[str]:
    """The ``href`` of every ``<link rel="canonical">`` in the page's head, as written (RFC 6596; one in the body
    is ignored, as search engines ignore it). ``head``: the tree's PageHead, if the caller has it."""
    return [
        (link.get("href") or "").strip()
        for link in (head or PageHead.of(tree)).links
        if link.get("rel") is not None
        and link.get("href") is not None
        and "canonical" in (link.get("rel") or "").lower().split()
        and any(ancestor.tag == "head" for ancestor in link.iterancestors())
    ]


def page_notices(lines: Sequence[str]) -> list[dict[str, Any]]:
    """Rights notices found by meaning (feedvault.permission.notices) in the page's lines, each with its sentence. They are
    looked for whatever the feed's cleaning rules say: a reservation binds even where cleaning is switched off."""
    from feedvault.permission.notices import scan_lines

    return [{"kind": n.kind, "text": n.sentence, "rule": n.rule} for n in scan_lines(list(lines))]


def examine_payload(body: bytes, url: str, declared_encoding: str | None, options: CleanOptions) -> dict[str, Any]:
    """Decode once; clean the page and scan it for signals. Top-level and self-contained for a process pool.

    A page that breaks the cleaner still gets scanned (``clean_error`` says why it has no text).
    """
    html, encoding = decode_html(body, declared_encoding)
    tree, problem = load_page(html)  # parsed once for both
    cleaned, clean_error, head = None, None, None
    try:
        head = PageHead.of(tree) if tree is not None else None  # its meta elements: walked once for both
        cleaned = clean_tree(tree, url, options, head).to_dict() | {"encoding": encoding}
    except Exception as exc:  # a page that breaks the extractor must not stop the crawl
        clean_error = f"{type(exc).__name__}: {exc}"
    return {"cleaned": cleaned, "clean_error": clean_error, "page": checked_scan(tree, options.rules, problem, head)}


# -- the reactor half -----------------------------------------------------------------------------------
def _unscannable_findings(page: dict[str, Any] | None) -> list[Finding]:
    """The scan could not see the whole page: a finding of its own, so the decision table fails it closed."""
    problem = (page or {}).get("unscannable")
    return [Finding(Signal.UNSCANNABLE, "scan", "page scan", problem)] if problem else []


def _header_values(headers: Sequence[tuple[str, str]], name: str) -> list[str]:
    lowered = name.lower()
    return [value for key, value in headers if key.lower() == lowered]


def _notice_findings(notices: Iterable[dict[str, Any]], where: str) -> list[Finding]:
    return [
        Finding(NOTICE_SIGNALS[n["kind"]], "notice", where, n["text"], {"kind": n["kind"], "rule": n["rule"]})
        for n in notices
        if n.get("kind") in NOTICE_SIGNALS
    ]


def page_findings(
    *,
    headers: Sequence[tuple[str, str]],
    page: dict[str, Any] | None,
    article_notices: Sequence[dict[str, Any]] = (),
    tdmrep_file: dict[str, Any] | None = None,
) -> tuple[list[Finding], dict[str, Any]]:
    """Every signal of one fetched page, and the TDMRep evaluation (file, header and meta layers) as evidence."""
    meta = (page or {}).get("meta", {})
    findings = _directive_findings(_header_values(headers, "X-Robots-Tag"), "header", "X-Robots-Tag header")
    for name in ROBOTS_META_NAMES:
        findings += _directive_findings(meta.get(name, []), "meta", f'<meta name="{name}">')

    policies = _header_values(headers, "tdm-policy")
    meta_policies = meta.get("tdm-policy", [])
    evaluation = tdmrep.resolve(
        (tdmrep_file or {}).get("match"),
        _header_values(headers, "tdm-reservation"),
        policies[0] if policies else None,
        meta.get("tdm-reservation", []),
        meta_policies[0] if meta_policies else None,
    )
    if tdmrep_file is not None:
        evaluation["file"] = {k: v for k, v in tdmrep_file.items() if k != "match"}
    if evaluation["reservation"] == 1:
        source = evaluation["source"]
        if source == "file":
            assert tdmrep_file is not None
            where = f"{tdmrep_file['tdmrep_url']} location {tdmrep_file['match']['location']!r}"
        else:
            where = "tdm-reservation header" if source == "header" else '<meta name="tdm-reservation">'
        findings.append(Finding(Signal.TDMREP, source, where, "1", {"tdm-policy": evaluation["policy"]}))

    findings += _unscannable_findings(page)
    seen: set[tuple[Signal, str]] = set()
    for finding in _notice_findings(article_notices, "article text") + _notice_findings(
        (page or {}).get("notices", []), "page text"
    ):
        if (finding.signal, finding.value or "") not in seen:
            seen.add((finding.signal, finding.value or ""))
            findings.append(finding)
    return findings, evaluation


def outside_signals_digest(
    *,
    headers: Sequence[tuple[str, str]],
    tdmrep_file: dict[str, Any] | None,
    robots: dict[str, Any] | None,
    statements: Iterable[Statement],
) -> str:
    """A digest of what the publisher says about a page outside its payload: header directives, the host's
    tdmrep.json rule for it, a robots.txt disallow lifted by a written permission, and the AIPREF usage statements
    (robots.txt rules for its URL, its ``Content-Usage`` header).

    A snapshot keeps it: a page fetched again with an identical payload is ``unchanged`` only if this digest is
    the same too; otherwise its signals changed and it is judged (and recorded) again. Cheap: no page scan.
    """
    findings, tdm = page_findings(headers=headers, page=None, tdmrep_file=tdmrep_file)
    facts = {
        "findings": [finding.to_dict() for finding in findings],
        "tdmrep": [tdm.get("reservation"), tdm.get("source"), tdm.get("policy")],
        "robots_disallowed": bool(robots and robots.get("disallowed")),
        "usage": [[s.form, s.source, s.value, s.path] for s in statements],
    }
    return hashlib.sha256(json.dumps(facts, sort_keys=True, ensure_ascii=False).encode()).hexdigest()[:32]
