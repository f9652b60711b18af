"""feedvault.cleaning.pruning: each replacement selects exactly what trafilatura's own expression selects."""

from __future__ import annotations

import gzip
import random
from collections.abc import Iterator
from copy import copy
from pathlib import Path
from typing import Any

import pytest
from lxml import etree
from trafilatura import xpaths
from trafilatura.htmlprocessing import convert_tags, tree_cleaning
from trafilatura.settings import Extractor

from bench.eval_pages import PAGES as EVAL_PAGES
from bench.eval_pages import render
from bench.throughput import DEFAULT_PAGES
from feedvault.cleaning import CleanOptions, clean_html, pruning
from feedvault.cleaning.parsing import load_html

FIXTURE_PAGES = Path(__file__).parent / "fixtures" / "pages"
REAL_PAGES = DEFAULT_PAGES  # the shared real pages (../shared, read only; absent beside a clone elsewhere)

# Attribute values built from the words the expressions test, their near misses and their cases: at the start,
# inside and at the end of a value, alone or among other classes.
WORDS = str.split("""
    comment Comment comments commentary comment-list article-comments post-comments comol disqus_thread
    dsq-comments share Share share- sharing social viral newsletter cookie tags tag-list sidebar banner breadcrumb
    bread-crumb button author byline footer Footer nav Nav navbar subnav menu related elated premium ad- ad -ad-
    dfpAd outbrain widget meta slide overlay reply- hidden hide- -hide- noprint message akismet reader-comments
    mvp-post-add-box mvp-post-add-wrap infinite-scroll infinitescroll jp- premium-box content article main text x
    author-name AuthorName Author Byline username byl BBL writer screenname zuozhe posted-by title date commentlist
    quote print category meta-date ProductReviews is-hidden post-info postinfo post-meta entry-meta entry-info
    entry-utility postpath postmeta entry-categories filedunder entry-footer post-category postcategory
    entry-category cat-links entry-header row jp-relatedposts tag topics tags-links entry-tags
""")
LINK_CONTAINER_TAGS = ["div", "p", "footer", "header", "li", "span"]
LINK_CONTAINER_CLASSES = str.split("""
    post-info postinfo post-meta meta entry-meta entry-info entry-utility postmeta entry-categories entry-footer
    post-category postcategory entry-category cat-links entry-header row tags jp-relatedposts tag topics tags-links
    entry-tags x
""")
STYLES = ["display:none", "display: none", "color: red", "visibility:hidden", "border: 0"]
TAGS = ["div", "p", "span", "section", "item", "list", "aside", "details", "ol", "ul", "li", "h1", "a", "article"]
TAGS += ["author", "address", "link", "strong", "h3", "h4", "rel", "footer", "header", "a", "a", "a"]
ATTRIBUTES = ["id", "class", "style", "role", "aria-hidden", "data-component", "data-lp-replacement-content"]
ATTRIBUTES += ["rel", "itemprop", "data-testid", "href", "href"]


def _value(rng: random.Random, name: str) -> str:
    if name == "style":
        return rng.choice(STYLES)
    if name == "role":
        return rng.choice(["navigation", "Navigation", "main", "NAV", "banner"])
    if name == "aria-hidden":
        return rng.choice(["true", "false", "True"])
    if name == "data-component":
        return rng.choice(["MostPopularStories", "Story", "x MostPopularStories y", "Byline", "Figure"])
    if name == "href":
        return rng.choice(["/category/x", "", "/tags/y"])
    if name in ("rel", "itemprop", "data-testid"):
        return rng.choice(["author", "me", "author name", "AuthorCard", "AuthorURL", "name", "authorship"])
    words = rng.choices(WORDS, k=rng.choice([1, 1, 1, 2, 3]))
    return rng.choice([" ", "-", "", " "]).join(words) if rng.random() < 0.8 else ""


def _element(rng: random.Random, depth: int) -> str:
    tag = rng.choice(TAGS)
    names = rng.sample(ATTRIBUTES, k=rng.choice([0, 1, 1, 2, 2, 3]))  # in a random order: @id|@class is order-bound
    attributes = "".join(f' {name}="{_value(rng, name)}"' for name in names)
    children = "".join(_element(rng, depth + 1) for _ in range(rng.randint(0, 4 if depth < 4 else 0)))
    children += '<a href="/tag/z">link</a>' if rng.random() < 0.3 else ""
    text = "me" if tag == "rel" and rng.random() < 0.5 else f"text {rng.randint(0, 99)}"
    return f"<{tag}{attributes}>{text}{children}</{tag}>tail"


def generated_trees(count: int, seed: int = 20261202) -> Iterator[Any]:
    rng = random.Random(seed)
    for _ in range(count):
        body = "".join(_element(rng, 0) for _ in range(rng.randint(3, 8)))
        for _ in range(2):  # link containers as category and tag lists are marked, so each of those is exercised
            tag, words = rng.choice(LINK_CONTAINER_TAGS), rng.choices(LINK_CONTAINER_CLASSES, k=rng.choice([1, 1, 2]))
            identifier = rng.choice(["postpath-2", "filedunder", "x"])
            body += f'<{tag} id="{identifier}" class="{" ".join(words)}"><a href="/tag/x">x</a></{tag}>'
        html = rng.choice(["", ' class="footer"', ' id="comments"', ' style="display:none"', ' class="Author"'])
        tree = load_html(f"<html{html}><head><title>t</title></head><body>{body}</body></html>")
        assert tree is not None
        yield tree


def fixture_and_evaluation_pages() -> list[str]:
    """The fixture pages and the cleaner's evaluation pages (synthetic, in the repository)."""
    return [p.read_text(encoding="utf-8") for p in sorted(FIXTURE_PAGES.glob("*.html"))] + [
        render(p) for p in EVAL_PAGES
    ]


def page_trees() -> Iterator[Any]:
    """The fixture pages and the cleaner's evaluation pages, as parsed and after trafilatura's cleaning and
    conversion (the expressions run on both), and the shared real pages when they are beside the repository."""
    htmls = fixture_and_evaluation_pages()
    htmls += [gzip.decompress(p.read_bytes()).decode("utf-8", "replace") for p in sorted(REAL_PAGES.glob("*.html.gz"))]
    options = Extractor(precision=True, comments=False)
    for html in htmls:
        tree = load_html(html)
        if tree is not None:
            yield tree
            yield convert_tags(tree_cleaning(copy(tree), options), options)


def expressions() -> list[tuple[str, Any, Any]]:
    """(name, trafilatura's expression, the replacement) for every replacement."""
    pruning.install()
    replaced = {key: getattr(xpaths, key[0])[key[1]] for key in pruning.REPLACEMENTS}
    with pruning.trafilatura_as_shipped():
        originals = {key: getattr(xpaths, key[0])[key[1]] for key in pruning.REPLACEMENTS}
    return [(f"{k[0]}[{k[1]}]", originals[k], replaced[k]) for k in pruning.REPLACEMENTS]


def test_every_replacement_is_installed_for_the_pinned_trafilatura() -> None:
    installed = pruning.install()
    assert installed == [f"{name}[{index}]" for name, index in pruning.REPLACEMENTS]
    for name, original, replacement in expressions():
        assert isinstance(original, etree.XPath), name
        assert isinstance(replacement, pruning.PruningExpression), name


def test_each_replacement_selects_what_trafilaturas_expression_selects_on_generated_trees() -> None:
    """Random nestings of the elements and attributes the expressions test, in random attribute orders."""
    selected = dict.fromkeys(pruning.REPLACEMENTS, 0)
    for tree in generated_trees(800):
        inner = next(tree.iter("body"))[0]  # a context inside the document: "//" still means all of it
        document = tree.getroottree()  # an ElementTree as the context (lxml takes its root element)
        for (name, original, replacement), key in zip(expressions(), pruning.REPLACEMENTS, strict=True):
            theirs = original(tree)
            assert replacement(tree) == theirs, (name, etree.tostring(tree)[:300])
            assert replacement(inner) == original(inner), (name, etree.tostring(tree)[:300])
            assert replacement(document) == original(document), (name, etree.tostring(tree)[:300])
            selected[key] += len(theirs)
    assert all(selected.values()), {k: n for k, n in selected.items() if not n}  # every expression was exercised


def test_each_replacement_selects_what_trafilaturas_expression_selects_on_pages() -> None:
    trees = 0
    for tree in page_trees():
        for name, original, replacement in expressions():
            assert replacement(tree) == original(tree), name
        trees += 1
    assert trees > 20


def test_the_cleaner_gives_the_same_result_with_trafilaturas_own_expressions() -> None:
    htmls = fixture_and_evaluation_pages()
    options = CleanOptions()
    ours = [clean_html(html, "https://news.example/a.html", options).to_dict() for html in htmls]
    with pruning.trafilatura_as_shipped():
        theirs = [clean_html(html, "https://news.example/a.html", options).to_dict() for html in htmls]
    assert ours == theirs


def test_an_expression_changed_in_trafilatura_keeps_trafilaturas_own() -> None:
    """Another trafilatura version's expression (another source text) is never replaced: the replacements follow
    the text they were written from, so a version change can only cost speed, never change the extraction."""
    pruning.uninstall()
    shipped = xpaths.OVERALL_DISCARD_XPATH[0]
    changed = etree.XPath(".//*[self::div][contains(@class, 'footer')]")
    xpaths.OVERALL_DISCARD_XPATH[0] = changed
    try:
        installed = pruning.install()
        assert "OVERALL_DISCARD_XPATH[0]" not in installed
        assert xpaths.OVERALL_DISCARD_XPATH[0] is changed
        assert isinstance(xpaths.OVERALL_DISCARD_XPATH[1], pruning.PruningExpression)
        pruning.uninstall()
        assert xpaths.OVERALL_DISCARD_XPATH[0] is changed  # uninstall puts back what was there
    finally:
        pruning.uninstall()
        xpaths.OVERALL_DISCARD_XPATH[0] = shipped
        pruning.install()


def test_a_replacement_that_cannot_be_built_keeps_trafilaturas_own(monkeypatch: pytest.MonkeyPatch) -> None:
    """A trafilatura with the same expression text but renamed private tokens (what a builder reads) must not
    break cleaning: the original stays, with a warning."""
    pruning.uninstall()
    key = ("OVERALL_DISCARD_XPATH", 0)
    digest, _build = pruning.REPLACEMENTS[key]

    def broken() -> pruning.PruningExpression:
        raise AttributeError("module 'trafilatura.xpaths' has no attribute '_CONSENT_ID_CLASS_TOKENS'")

    monkeypatch.setitem(pruning.REPLACEMENTS, key, (digest, broken))
    try:
        installed = pruning.install()
        assert "OVERALL_DISCARD_XPATH[0]" not in installed and "OVERALL_DISCARD_XPATH[1]" in installed
        assert isinstance(xpaths.OVERALL_DISCARD_XPATH[0], etree.XPath)
        assert clean_html("<html><body><p>" + "A sentence of the article. " * 30 + "</p></body></html>").text
    finally:
        pruning.uninstall()
        monkeypatch.undo()
        pruning.install()


def test_trafilatura_as_shipped_restores_its_own_expressions_meanwhile() -> None:
    pruning.install()
    with pruning.trafilatura_as_shipped():
        assert not any(isinstance(getattr(xpaths, n)[i], pruning.PruningExpression) for n, i in pruning.REPLACEMENTS)
    assert all(isinstance(getattr(xpaths, n)[i], pruning.PruningExpression) for n, i in pruning.REPLACEMENTS)


def test_cleaning_a_page_puts_the_replacements_in_place_in_a_fresh_process() -> None:
    """The speed-up is on wherever pages are cleaned (the extraction workers, reclean, the CLI): ``clean_tree``
    installs the replacements; a process that only imports feedvault keeps trafilatura as shipped."""
    import subprocess
    import sys

    script = (
        "from trafilatura import xpaths\n"
        "from feedvault.cleaning import clean_html\n"
        "from feedvault.cleaning.pruning import PruningExpression\n"
        "before = isinstance(xpaths.OVERALL_DISCARD_XPATH[0], PruningExpression)\n"
        "clean_html('<html><body><article><p>' + 'Words of an article. ' * 40 + '</p></article></body></html>')\n"
        "print(before, isinstance(xpaths.OVERALL_DISCARD_XPATH[0], PruningExpression))\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert result.stdout.split() == ["False", "True"]
