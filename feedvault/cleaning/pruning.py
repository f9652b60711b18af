"""trafilatura's costliest XPath expressions, evaluated with the same selections and without regex callbacks.

trafilatura prunes every page's whole tree, and searches it for authors, categories and tags, with XPath
expressions that test ``id``/``class`` values with EXSLT ``re:test``. lxml runs each ``re:test`` as a Python
callback from inside libxml2, once per candidate element and attribute, and each ``//`` walks the whole
document: on real news pages of 100-400 KB these 19 expressions were about a quarter of the cleaner's CPU.
Each :class:`PruningExpression` here selects what one of them selects, in document order: lxml walks the
candidate elements (by name, in C), then the same tests run on their attribute values in Python, the regular
expressions built from the same tokens as ``trafilatura.xpaths``, with XPath's string semantics: a missing
attribute is the empty string, and ``@id|@class`` is the value of whichever of the two comes first in the
element's attributes.

:func:`install` puts them in place of the originals in ``trafilatura.xpaths``'s lists (which trafilatura's
modules share), only where the original's source text is the one they were written from (trafilatura 2.3.1): a
trafilatura whose expressions changed keeps its own, so the extraction never differs, only its speed.
``tests/test_pruning.py`` compares every replacement with its original on real and generated trees.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from lxml.html import HtmlElement

Test = Callable[[Any], bool]  # an element -> whether the expression selects it

logger = logging.getLogger(__name__)


def first_of(element: Any, a: str, a_value: str | None, b: str, b_value: str | None) -> str:
    """XPath's string value of ``@a|@b`` given both values (None: absent): the one of those attributes that comes
    first in the element's attributes, else ''."""
    if a_value is None:
        return b_value or ""
    if b_value is None:
        return a_value
    for name, value in element.items():
        if name in (a, b):
            return value
    return ""  # unreachable: both are present


class PruningExpression:
    """Callable like ``lxml.etree.XPath`` for an element context: the elements it selects, in document order.

    The candidates are the context's descendant elements named ``tags`` (all of them for None), or with
    ``whole_document`` (``//*``) every such element of its document, root included, walked by lxml in C; ``test``
    decides on each. ``also``: for a condition on children, the set of elements of a root it holds for."""

    def __init__(
        self,
        name: str,
        tags: tuple[str, ...] | None,
        test: Test,
        *,
        whole_document: bool = False,
        also: Callable[[Any], set[Any]] | None = None,
    ) -> None:
        from lxml import etree

        self.name = name
        self.tags = tags or (etree.Element,)  # etree.Element: elements only, not comments or entities
        self.test = test
        self.whole_document = whole_document
        self.also = also

    def __call__(self, tree: HtmlElement) -> list[HtmlElement]:
        if not hasattr(tree, "iterdescendants"):  # an ElementTree: lxml's XPath takes its root element as context
            tree = tree.getroot()
        root = tree.getroottree().getroot() if self.whole_document else tree
        candidates = root.iter(*self.tags) if self.whole_document else root.iterdescendants(*self.tags)
        if self.also is None:
            return list(filter(self.test, candidates))
        also, test = self.also(root), self.test
        return [element for element in candidates if element in also or test(element)]

    def __repr__(self) -> str:
        return f"PruningExpression({self.name})"


def _overall_discard_blocks() -> PruningExpression:
    from trafilatura import xpaths as x

    consent = re.compile(x._alt(x._CONSENT_ID_CLASS_TOKENS)).search
    by_id = re.compile(x._alt(x._OVERALL_DISCARD_BOTH_TOKENS + x._OVERALL_DISCARD_ID_TOKENS)).search
    by_class = re.compile(x._alt(x._OVERALL_DISCARD_BOTH_TOKENS + x._OVERALL_DISCARD_CLASS_TOKENS)).search

    def test(e: Any) -> bool:
        get = e.get
        identifier, classes = get("id"), get("class")
        return bool(
            (identifier is not None and by_id(identifier))
            or (classes is not None and by_class(classes))
            or (
                (identifier is not None or classes is not None)
                and consent(first_of(e, "id", identifier, "class", classes))
            )
            or get("data-lp-replacement-content") is not None
            or "nav" in (get("role") or "").replace("N", "n")
            or "MostPopularStories" in (get("data-component") or "")
        )

    tags = ("div", "item", "list", "p", "section", "span")
    return PruningExpression("OVERALL_DISCARD_XPATH[0]", tags, test)


def _overall_discard_hidden() -> PruningExpression:
    by_id = re.compile("reader-comments|akismet").search
    by_class = re.compile(
        "^hide-|comments-title|nocomments|-reply-|message|akismet|suggest-links|-hide-|hide-print| hidden| hide|"
        "noprint|notloaded"
    ).search
    hidden = re.compile("hidden").search

    def test(e: Any) -> bool:
        get = e.get
        identifier, classes, style = get("id"), get("class"), get("style")
        if identifier is None and classes is None and style is None:
            return get("aria-hidden") == "true"
        return bool(
            (classes is not None and (classes == "comments-title" or by_class(classes)))
            or (identifier is not None and by_id(identifier))
            or first_of(e, "id", identifier, "class", classes).startswith("reply-")
            or hidden(first_of(e, "id", identifier, "style", style))
            or (style is not None and ("display:none" in style or "display: none" in style))
            or get("aria-hidden") == "true"
        )

    return PruningExpression("OVERALL_DISCARD_XPATH[1]", None, test)


def _comment_patterns() -> tuple[Callable[[str], Any], Callable[[str], Any], Callable[[str], Any]]:
    from trafilatura import xpaths as x

    return (
        re.compile(f"^(?:{x._COMMENTS_ID}|disqus_thread|dsq-comments)").search,
        re.compile(x._COMMENTS_CLASS).search,
        re.compile(f"^(?:{x._COMMENTS_ID})").search,
    )


def _remove_comments() -> PruningExpression:
    by_id, by_class, _ = _comment_patterns()

    def test(e: Any) -> bool:
        return bool(by_id(e.get("id") or "") or by_class(e.get("class") or ""))

    tags = ("div", "list", "section", "details")
    return PruningExpression("REMOVE_COMMENTS_XPATH[0]", tags, test)


def _remove_comments_and_lists() -> PruningExpression:
    by_id, by_class, comment_id = _comment_patterns()

    def test(e: Any) -> bool:
        identifier, classes = e.get("id") or "", e.get("class") or ""
        if not (by_id(identifier) or by_class(classes)):
            return False
        return e.tag not in ("ol", "ul") or bool(comment_id(identifier) or by_class(classes))

    tags = ("div", "list", "section", "details", "ol", "ul")
    return PruningExpression("REMOVE_COMMENTS_AND_LISTS_XPATH[0]", tags, test)


def _raw_tree_infinite_scroll() -> PruningExpression:
    container = re.compile("mvp-post-add-(?:box|wrap)|infinite-?scroll").search
    appended = re.compile("mvp-post-add-(?:box|wrap)").search

    def test(e: Any) -> bool:
        identifier, classes = e.get("id") or "", e.get("class") or ""
        if not (container(identifier) or container(classes)):
            return False
        return next(e.iterdescendants("h1"), None) is None or bool(appended(identifier) or appended(classes))

    tags = ("div", "section", "aside")
    return PruningExpression("RAW_TREE_PRUNE_XPATH[0]", tags, test)


def _parents_of(child: str, value: str) -> Callable[[Any], set[Any]]:
    """XPath ``child='value'`` as ``also``: the elements of a root with a child element named ``child`` whose
    string value (all its text) is ``value``."""

    def parents(root: Any) -> set[Any]:
        return {c.getparent() for c in root.iter(child) if "".join(c.itertext()) == value}

    return parents


def _author_specific() -> PruningExpression:
    author_name = re.compile("author-?name|AuthorName|authorName").search
    tags = ("a", "address", "div", "link", "p", "span", "strong")

    def test(e: Any) -> bool:
        if e.tag == "author":  # "|//author"
            return True
        get = e.get
        classes = get("class")
        return bool(
            get("rel") == "author"
            or get("id") == "author"
            or classes == "author"
            or get("itemprop") == "author name"
            or get("data-testid") in ("AuthorCard", "AuthorURL")
            or (classes is not None and author_name(classes))
        )

    also = _parents_of("rel", "me")  # "rel='me'": a child element, not the attribute
    return PruningExpression("AUTHOR_XPATHS[0]", (*tags, "author"), test, whole_document=True, also=also)


def _author_generic() -> PruningExpression:
    by_id = re.compile("author|zuozhe|bianji|xiaobian").search
    by_class = re.compile("author|channel-name|zuozhe|bianji|xiaobian|submitted-by|posted-by|journalist-name").search

    def test(e: Any) -> bool:
        get = e.get
        identifier, classes = get("id"), get("class")
        return bool(
            classes in ("byline", "username", "byl", "BBL")
            or "author" in (get("itemprop") or "")
            or (identifier is not None and by_id(identifier))
            or (classes is not None and by_class(classes))
        )

    return PruningExpression("AUTHOR_XPATHS[1]", ("a", "div", "h3", "h4", "p", "span"), test, whole_document=True)


def _author_last_resort() -> PruningExpression:
    by_id = re.compile("[Aa]uthor").search
    by_class = re.compile("[Aa]uthor|screenname|writer|[Bb]yline").search

    def test(e: Any) -> bool:
        get = e.get
        identifier, classes = get("id"), get("class")
        return bool(
            "Byline" in (get("data-component") or "")
            or "author" in (get("itemprop") or "")
            or (identifier is not None and by_id(identifier))
            or (classes is not None and by_class(classes))
        )

    return PruningExpression("AUTHOR_XPATHS[2]", None, test, whole_document=True)


def _author_discard() -> PruningExpression:
    by_id = re.compile("^comments|comment-?list|ProductReviews").search
    by_class = re.compile(
        "^[Cc]omments|commentlist|comments-list|sidebar|is-hidden|quote|embedly-instagram|article-(?:share|support)|"
        "print|category|meta-date|meta-reviewer"
    ).search

    def test(e: Any) -> bool:
        get = e.get
        identifier, classes = get("id"), get("class")
        return bool(
            identifier == "comments"
            or classes in ("comments", "title", "date")
            or (identifier is not None and by_id(identifier))
            or (classes is not None and by_class(classes))
            or "Figure" in (get("data-component") or "")
        )

    return PruningExpression("AUTHOR_DISCARD_XPATHS[0]", ("a", "div", "section", "span"), test)


class LinksInside(PruningExpression):
    """``//TAGS[test]//a[@href]``: the links (``<a>`` with an ``href``) inside any element of the context's document
    that ``test`` selects, each once, in document order."""

    def __init__(self, name: str, tags: tuple[str, ...] | None, test: Test) -> None:
        super().__init__(name, tags, test, whole_document=True)

    def __call__(self, tree: HtmlElement) -> list[HtmlElement]:
        containers = set(super().__call__(tree))
        if not containers:
            return []
        root = (tree if hasattr(tree, "getroot") else tree.getroottree()).getroot()
        return [
            link
            for link in root.iter("a")
            if link.get("href") is not None and not containers.isdisjoint(link.iterancestors())
        ]


def _class_is(*values: str) -> Test:
    return lambda e: e.get("class") in values


def _starts_with(attribute: str, *prefixes: str) -> Test:
    return lambda e: (e.get(attribute) or "").startswith(prefixes) if prefixes else False


def _categories() -> list[Callable[[], PruningExpression]]:
    post_meta = re.compile("^(?:post-?info|post-?meta|meta|entry-meta|entry-info|entry-utility)").search
    post_class = _starts_with("class", "postmeta", "entry-categories")
    entry_footer = _starts_with("class", "entry-meta", "entry-footer")
    category = _class_is("post-category", "postcategory", "entry-category")
    return [
        lambda: LinksInside(
            "CATEGORIES_XPATHS[0]",
            ("div",),
            lambda e: bool(post_meta(e.get("class") or "")) or (e.get("id") or "").startswith("postpath"),
        ),
        lambda: LinksInside(
            "CATEGORIES_XPATHS[1]",
            ("p",),
            lambda e: post_class(e) or e.get("class") == "postinfo" or e.get("id") == "filedunder",
        ),
        lambda: LinksInside("CATEGORIES_XPATHS[2]", ("footer",), entry_footer),
        lambda: LinksInside(
            "CATEGORIES_XPATHS[3]",
            ("li", "span"),
            lambda e: category(e) or "cat-links" in (e.get("class") or ""),
        ),
        lambda: LinksInside("CATEGORIES_XPATHS[4]", ("header",), _class_is("entry-header")),
        lambda: LinksInside("CATEGORIES_XPATHS[5]", ("div",), _class_is("row", "tags")),
    ]


def _tags() -> list[Callable[[], PruningExpression]]:
    tag_meta = re.compile("^(?:tag|postmeta|meta)").search
    rows = _class_is("row", "jp-relatedposts", "entry-utility")
    return [
        lambda: LinksInside("TAGS_XPATHS[0]", ("div",), _class_is("tags")),
        lambda: LinksInside("TAGS_XPATHS[1]", ("p",), _starts_with("class", "entry-tags")),
        lambda: LinksInside("TAGS_XPATHS[2]", ("div",), lambda e: rows(e) or bool(tag_meta(e.get("class") or ""))),
        lambda: LinksInside(
            "TAGS_XPATHS[3]",
            None,
            lambda e: (c := e.get("class")) is not None and (c == "entry-meta" or "topics" in c or "tags-links" in c),
        ),
    ]


# (list in trafilatura.xpaths, index) -> (sha256 of the original's source text in trafilatura 2.3.1, its builder)
REPLACEMENTS: dict[tuple[str, int], tuple[str, Callable[[], PruningExpression]]] = {
    ("OVERALL_DISCARD_XPATH", 0): (
        "a837e58a1b1ea116ce1dada53d856dec093fe9f64b37dc503698e30f96a87dd3",
        _overall_discard_blocks,
    ),
    ("OVERALL_DISCARD_XPATH", 1): (
        "c1d5b70b8cd03783545d6b715c69062ae6967c222b2d8f4e2399762362d426c0",
        _overall_discard_hidden,
    ),
    ("REMOVE_COMMENTS_XPATH", 0): (
        "5d97216ca15d05582de538174e876b27626b7a166810320152081c7e26bb5ca2",
        _remove_comments,
    ),
    ("REMOVE_COMMENTS_AND_LISTS_XPATH", 0): (
        "9cc18d34e6e2d258172b5df02bc44e578c95ef709b8e06722846c7a410c3a46f",
        _remove_comments_and_lists,
    ),
    ("RAW_TREE_PRUNE_XPATH", 0): (
        "01e7c660fd6406f29932819d2dbd7530e2f3bdac11dde83565e977e391303444",
        _raw_tree_infinite_scroll,
    ),
    ("AUTHOR_XPATHS", 0): (
        "4d49fee6aa1c77f41b63f65c014f6b50ea6af77795067d2ff513624f8b9323f7",
        _author_specific,
    ),
    ("AUTHOR_XPATHS", 1): (
        "6120fddc3d75e8ea3141a2627a84df8aed293cac91fc1b45773c0441031df9ef",
        _author_generic,
    ),
    ("AUTHOR_XPATHS", 2): (
        "4ff2ef32ff7c0e5f888a4d654209efe14f0af625af5022a3ff9be3cc31e2b91c",
        _author_last_resort,
    ),
    ("AUTHOR_DISCARD_XPATHS", 0): (
        "82f43e48c571d06b5e8f72043c2295e4342ed07ddec04f10b5836b84c3d98a35",
        _author_discard,
    ),
}
_CATEGORIES_DIGESTS = (
    "f9db28129c98c3ffbc936efec80671e94e17605c4c3f4a08f1533707c9dab4ad",
    "d381fa087dc005959fa8129e8e78861fdc7f7d378cc00712ae1546c2cb1e95d2",
    "eb2a060545340df5b8c535cd107653d5e8f8c2cee709dcd59b49a5058a20d726",
    "f0d05a0c4fd23ebdb5fd5d24c857529505bc4796e2bf3194c78cca4f399e7ec6",
    "c079bcf261c4771f5aa7d753888fdc79fa5358e130c78874420f3cb04258babf",
    "c95ed6677acc0c52c9c9993c3b16b20dca0c9e41ed100e6a71ae5842748f10c8",
)
_TAGS_DIGESTS = (
    "9a3bfd949d077693bc441b11e3d10b8b205b7021a0e37cc6f9dfca094addc3fa",
    "4c324e05b40ea48563bb775663e2c31efda3ef9940bf4afed7f9b24d3a55390c",
    "238771784fb1d0a611c54a7d6751db25b073de9991dac5beca1e8d0bdafc1f52",
    "39ae2c0fc2971d727e55ed1f8af411f4adc109eb897fcb88b1d04ae8700b03c2",
)
for _list_name, _digests, _builders in (
    ("CATEGORIES_XPATHS", _CATEGORIES_DIGESTS, _categories()),
    ("TAGS_XPATHS", _TAGS_DIGESTS, _tags()),
):
    REPLACEMENTS.update({(_list_name, i): pair for i, pair in enumerate(zip(_digests, _builders, strict=True))})

_originals: dict[tuple[str, int], Any] = {}


def source_digest(expression: Any) -> str:
    """sha256 of an XPath's source text (``XPath.path``)."""
    return hashlib.sha256(expression.path.encode("utf-8")).hexdigest()


def install() -> list[str]:
    """Put the replacements in place of the originals they were written from; idempotent. Returns the names of
    the expressions replaced (none if trafilatura's expressions are not those of the version they follow)."""
    from trafilatura import xpaths

    replaced = []
    for (list_name, index), (digest, build) in REPLACEMENTS.items():
        try:  # another trafilatura may lack the list, the entry or the tokens a replacement is built from
            expressions = getattr(xpaths, list_name)
            current = expressions[index]
            if isinstance(current, PruningExpression):
                replaced.append(current.name)
            elif source_digest(current) == digest:
                replacement = build()
                _originals[(list_name, index)] = current
                expressions[index] = replacement
                replaced.append(replacement.name)
        except Exception as exc:  # trafilatura's own expression stays: slower, never different
            logger.warning("trafilatura's %s[%s] is kept (%s: %s)", list_name, index, type(exc).__name__, exc)
    return replaced


def uninstall() -> None:
    """Put trafilatura's own expressions back."""
    from trafilatura import xpaths

    for (list_name, index), original in _originals.items():
        getattr(xpaths, list_name)[index] = original
    _originals.clear()


@contextmanager
def trafilatura_as_shipped() -> Iterator[None]:
    """trafilatura with its own expressions meanwhile (benches measuring it as the peer); reinstalls after, if
    they were installed."""
    was_installed = bool(_originals)
    uninstall()
    try:
        yield
    finally:
        if was_installed:
            install()
